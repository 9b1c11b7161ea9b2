#pragma once
// The one place that decides how ferry talks to a registry domain: TLS trust,
// plain-HTTP permission, credentials, retry attempts and the per-registry cap.
// Every command (pull, push, sync) builds its RegistryOptions here, so a setting
// means the same thing whichever command reads it.
//
// Precedence, highest first:
//   credentials  --username/--password-stdin (for the domains the command names)
//                > the watchlist's `registries: HOST: credentials:`
//                > docker's config.json (`auth::CredentialStore::load_default`)
//   insecure     --insecure-registry HOST or the watchlist's `insecure: true`
//   ca_file      the watchlist's `ca_file` ("" = the system trust store)
//   max_attempts --max-attempts > the registry's `retry:` > the watchlist's `retry:`
//                > the built-in default
// Domains are compared in registry key form (lowercase, Docker Hub aliases folded).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "config/config.h"
#include "core/error.h"
#include "registry/client.h"

namespace ferry::config {

// What a command line says about registries.
struct RegistryFlags {
  std::vector<std::string> insecure;        // --insecure-registry, as typed
  int max_attempts = 0;                      // --max-attempts; 0 = not given
  std::optional<auth::Credentials> login;    // --username with --password-stdin
  std::vector<std::string> login_domains;    // the domains `login` is for
};

using RegistryResolver = std::function<registry::RegistryOptions(const std::string& domain)>;

// Reads the credentials it needs now (docker config, the watchlist's password files
// or variables), so a missing secret is an error before any request is made.
// `watchlist` may be null (pull, push). Errors name the file or registry, never a secret.
[[nodiscard]] core::Result<RegistryResolver> registry_resolver(const Watchlist* watchlist,
                                                               const RegistryFlags& flags);

// As above with an explicit docker credential store (tests; no environment read).
[[nodiscard]] core::Result<RegistryResolver> registry_resolver(const Watchlist* watchlist,
                                                               const RegistryFlags& flags,
                                                               auth::CredentialStore docker_credentials);

}  // namespace ferry::config
