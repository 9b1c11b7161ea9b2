// The `registries` section: per-registry TLS, credentials, concurrency and retry
// budget (`retry: {max_attempts: N}`, the same spelling as the top level), keyed by
// host[:port]. Keys are checked with the reference grammar's domain rules and
// normalised (lowercase, docker.io aliases folded), so `index.docker.io` and
// `docker.io` are one registry and writing both is an error. Credentials hold a
// username and the name of a password file or environment variable; an inline
// password is refused without ever being echoed.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "config/sections.h"

namespace ferry::config {

namespace {

constexpr std::array<std::string_view, 3> kDockerHubAliases = {
    "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"};
constexpr std::string_view kProbeRepository = "ferry-probe";

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_env_name(std::string_view name) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto word = [&](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || digit(c) || c == '_'; };
  return !name.empty() && !digit(name.front()) && std::all_of(name.begin(), name.end(), word);
}

// The reference module's problem without its `invalid reference "...": ` prefix.
std::string reference_problem(const core::Error& e, std::string_view text) {
  std::string prefix = fmt::format("invalid reference \"{}\": ", detail::echo(text));
  if (e.message.starts_with(prefix)) return e.message.substr(prefix.size());
  return e.message;
}

// A registry key checked as a reference domain, then normalised.
core::Result<std::string> registry_host(const detail::Source& source, const detail::Field& field) {
  const std::string& key = field.key;
  auto bad = [&](std::string_view why) {
    return detail::fail_at(source, field.key_node.Mark(),
                           fmt::format("registries: invalid registry \"{}\": {}", detail::echo(key), why));
  };
  if (key.empty() || key.find_first_of("/@ ") != std::string::npos) {
    return bad("want host or host:port, without scheme or path (e.g. registry.example.com, 127.0.0.1:5000)");
  }
  std::string probe = fmt::format("{}/{}", key, kProbeRepository);
  auto ref = reference::parse(probe);
  if (!ref) return bad(reference_problem(ref.error(), probe));
  // Without a '.', a ':port' or localhost the key parsed as a docker.io namespace.
  if (ref->domain != key && normalize_host(key) != reference::kDockerHubDomain) {
    return bad("not a host name: a registry has a '.' or a ':port' in its name, or is localhost");
  }
  return normalize_host(ref->domain);
}

// The value is not echoed: a secret pasted here by mistake must not reach a log.
core::Status check_password_env(const detail::Source& source, const detail::Field& field, const std::string& name) {
  if (is_env_name(name)) return {};
  return detail::fail_at(source, field.mark(),
                         "password_env: not an environment variable name (letters, digits and '_', not starting "
                         "with a digit)");
}

core::Result<CredentialSource> read_credentials(const detail::Source& source, const detail::Field& field) {
  if (!field.value.IsMap()) {
    return detail::fail_at(source, field.mark(),
                           fmt::format("credentials: must be a mapping with username and password_file or "
                                       "password_env, got {}", detail::type_name(field.value)));
  }
  for (const auto& kv : field.value) {
    if (kv.first.IsScalar() && kv.first.Scalar() == "password") {
      return detail::fail_at(source, kv.first.Mark(),
                             "credentials: a password does not belong in the watchlist; use password_file or "
                             "password_env");
    }
  }
  auto fields = detail::read_fields(source, field.value, "credentials", {"username", "password_file", "password_env"});
  if (!fields) return core::fail(fields.error());
  const detail::Field* user = fields->find("username");
  const detail::Field* file = fields->find("password_file");
  const detail::Field* env = fields->find("password_env");
  if (!user) return detail::fail_at(source, field.key_node.Mark(), "credentials: missing username");
  if (file && env) {
    const detail::Field* second = file->key_node.Mark().pos > env->key_node.Mark().pos ? file : env;
    return detail::fail_at(source, second->key_node.Mark(),
                           "credentials: give password_file or password_env, not both");
  }
  if (!file && !env) {
    return detail::fail_at(source, field.key_node.Mark(), "credentials: missing password_file or password_env");
  }
  CredentialSource out;
  auto username = detail::read_string(source, *user);
  if (!username) return core::fail(username.error());
  out.username = std::move(*username);
  auto value = file ? detail::read_path(source, *file) : detail::read_string(source, *env);
  if (!value) return core::fail(value.error());
  if (env) {
    if (auto s = check_password_env(source, *env, *value); !s) return core::fail(s.error());
  }
  (file ? out.password_file : out.password_env) = std::move(*value);
  return out;
}

core::Result<RegistrySettings> read_settings(const detail::Source& source, const detail::Field& field,
                                             std::string host) {
  auto fields = detail::read_fields(source, field.value, fmt::format("registry \"{}\"", detail::echo(field.key)),
                                    {"insecure", "ca_file", "credentials", "concurrency", "retry"});
  if (!fields) return core::fail(fields.error());
  RegistrySettings out;
  out.host = std::move(host);
  if (const detail::Field* f = fields->find("insecure")) {
    auto v = detail::read_bool(source, *f);
    if (!v) return core::fail(v.error());
    out.insecure = *v;
  }
  if (const detail::Field* f = fields->find("ca_file")) {
    auto v = detail::read_path(source, *f);
    if (!v) return core::fail(v.error());
    out.ca_file = std::move(*v);
  }
  if (const detail::Field* f = fields->find("credentials")) {
    auto v = read_credentials(source, *f);
    if (!v) return core::fail(v.error());
    out.credentials = std::move(*v);
  }
  if (const detail::Field* f = fields->find("concurrency")) {
    auto v = detail::read_int(source, *f, 1, kMaxConcurrency);
    if (!v) return core::fail(v.error());
    out.concurrency = *v;
  }
  if (const detail::Field* f = fields->find("retry")) {
    auto v = detail::read_retry(source, *f, true);
    if (!v) return core::fail(v.error());
    out.max_attempts = v->max_attempts;
  }
  return out;
}

}  // namespace

std::string normalize_host(std::string_view domain) {
  std::string host(domain);
  std::transform(host.begin(), host.end(), host.begin(), to_lower);
  if (std::find(kDockerHubAliases.begin(), kDockerHubAliases.end(), host) != kDockerHubAliases.end()) {
    return std::string(reference::kDockerHubDomain);
  }
  return host;
}

const RegistrySettings* find_registry(const Watchlist& watchlist, std::string_view domain) {
  auto it = watchlist.registries.find(normalize_host(domain));
  return it == watchlist.registries.end() ? nullptr : &it->second;
}

namespace detail {

core::Result<RetrySettings> read_retry(const Source& source, const Field& retry, bool registry_level) {
  if (!retry.value.IsMap()) {
    return fail_at(source, retry.mark(),
                   fmt::format("retry: must be a mapping ({}), got {}",
                               registry_level ? "max_attempts" : "max_attempts, deadline, blob_min_rate",
                               type_name(retry.value)));
  }
  auto fields = registry_level ? read_fields(source, retry.value, "retry", {"max_attempts"})
                               : read_fields(source, retry.value, "retry", {"max_attempts", "deadline", "blob_min_rate"});
  if (!fields) return core::fail(fields.error());
  RetrySettings out;
  if (const Field* f = fields->find("max_attempts")) {
    auto v = read_int(source, *f, 1, kMaxMaxAttempts);
    if (!v) return core::fail(v.error());
    out.max_attempts = *v;
  }
  if (const Field* f = fields->find("blob_min_rate")) {
    auto v = read_int(source, *f, 0, 1 << 30);  // bytes per second; 0: no per-blob cap
    if (!v) return core::fail(v.error());
    out.blob_min_rate = static_cast<uint64_t>(*v);
  }
  if (const Field* f = fields->find("deadline")) {
    auto text = read_string(source, *f);
    if (!text) return core::fail(text.error());
    if (*text == "none") {
      out.deadline.reset();
      return out;
    }
    auto d = parse_duration(*text);
    if (!d) return fail_at(source, f->mark(), "deadline: " + d.error().message);
    out.deadline = *d;
  }
  return out;
}

core::Result<std::map<std::string, RegistrySettings>> read_registries(const Source& source, const Field& registries) {
  if (!registries.value.IsNull() && !registries.value.IsMap()) {
    return fail_at(source, registries.mark(),
                   fmt::format("registries: must be a mapping of host to settings, got {}",
                               type_name(registries.value)));
  }
  auto fields = read_fields(source, registries.value, "registries", {});
  if (!fields) return core::fail(fields.error());
  std::map<std::string, RegistrySettings> out;
  std::map<std::string, int> first_line;
  for (const Field& field : fields->all()) {
    auto host = registry_host(source, field);
    if (!host) return core::fail(host.error());
    auto [it, inserted] = first_line.emplace(*host, field.key_node.Mark().line + 1);
    if (!inserted) {
      return fail_at(source, field.key_node.Mark(),
                     fmt::format("registries: \"{}\" is {}, already configured on line {}", echo(field.key),
                                 *host, it->second));
    }
    auto settings = read_settings(source, field, *host);
    if (!settings) return core::fail(settings.error());
    out.emplace(*host, std::move(*settings));
  }
  return out;
}

}  // namespace detail

}  // namespace ferry::config
