#include "config/registry_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace ferry::config {

core::Result<RegistryResolver> registry_resolver(const Watchlist* watchlist, const RegistryFlags& flags) {
  auto creds = auth::CredentialStore::load_default();
  if (!creds) return core::fail(creds.error());
  return registry_resolver(watchlist, flags, std::move(*creds));
}

core::Result<RegistryResolver> registry_resolver(const Watchlist* watchlist, const RegistryFlags& flags,
                                                 auth::CredentialStore creds) {
  if (watchlist) {
    for (const auto& [host, r] : watchlist->registries) {
      if (!r.credentials) continue;
      auto up = resolve_credentials(*r.credentials);
      if (!up) return core::fail(up.error().context(fmt::format("{}: registry {}", watchlist->source.string(), host)));
      creds.set(host, auth::Credentials{up->first, up->second, {}});
    }
  }
  if (flags.login) {
    for (const auto& d : flags.login_domains) creds.set(normalize_host(d), *flags.login);
  }
  std::vector<std::string> insecure;
  for (const auto& h : flags.insecure) insecure.push_back(normalize_host(h));

  std::optional<Watchlist> w;
  if (watchlist) w = *watchlist;
  return RegistryResolver{[w = std::move(w), creds = std::move(creds), insecure = std::move(insecure),
                           max_attempts = flags.max_attempts](const std::string& domain) {
    registry::RegistryOptions ro;
    const std::string key = normalize_host(domain);
    ro.insecure = std::find(insecure.begin(), insecure.end(), key) != insecure.end();
    if (w) {
      ro.retry.max_attempts = w->retry.max_attempts;
      if (w->retry.blob_min_rate) ro.retry.blob_min_rate = *w->retry.blob_min_rate;
      if (const auto* r = find_registry(*w, domain)) {
        ro.insecure = ro.insecure || r->insecure;
        ro.ca_file = r->ca_file;
        ro.max_concurrency = r->concurrency;
        if (r->max_attempts > 0) ro.retry.max_attempts = r->max_attempts;
      }
    }
    if (max_attempts > 0) ro.retry.max_attempts = max_attempts;
    ro.credentials = creds.lookup(domain);
    return ro;
  }};
}

}  // namespace ferry::config
