// Registry authentication: challenges, credentials and the token cache.
//
// This module builds token requests and reads replies; it sends nothing itself (the
// registry client does, through http). Secrets never enter an Error message or log:
// functions here only ever mention hosts, realms and scopes.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferry::auth {

using Clock = std::chrono::system_clock;

inline constexpr std::chrono::seconds kDefaultTokenLifetime{60};  // token spec: expires_in absent
inline constexpr std::chrono::seconds kTokenRefreshMargin{10};    // refresh this long before expiry

// One challenge of a WWW-Authenticate header.
struct Challenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lowercased; values unquoted/unescaped

  std::string param(std::string_view key) const;  // "" when absent
};

// Parse a WWW-Authenticate value (RFC 7235: several challenges, comma-separated
// auth-params, quoted strings with commas and backslash escapes, token68). Schemes
// are case-insensitive. Malformed input gives InvalidInput naming the problem.
[[nodiscard]] core::Result<std::vector<Challenge>> parse_challenges(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // docker config "identitytoken": an OAuth2 refresh token
  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

// "Basic base64(user:password)".
std::string basic_authorization(const Credentials& c);

struct Token {
  std::string value;
  Clock::time_point expires_at;
};

// Reads a token endpoint reply: `token` or `access_token` (either may be missing, not
// both), `expires_in` (default kDefaultTokenLifetime; values < 1 treated as default),
// `issued_at` (RFC 3339, any offset; when absent or unparsable `now` is used).
[[nodiscard]] core::Result<Token> parse_token_response(std::string_view body, Clock::time_point now);

// The GET URL for a bearer challenge: realm?service=S&scope=A&scope=B (query-escaped;
// a realm that already has a query gets '&'). Error when the realm is missing or is
// not an http(s) URL.
[[nodiscard]] core::Result<std::string> token_request_url(const Challenge& bearer,
                                                          const std::vector<std::string>& scopes);

// Credentials from a Docker config.json (`auths` → `auth` base64 user:pass, or
// `username`/`password`, `identitytoken`). Lookup by registry host accepts the forms
// docker writes: "host", "https://host", "https://host/v1/", and for docker.io the
// keys "https://index.docker.io/v1/", "index.docker.io", "docker.io",
// "registry-1.docker.io". credsStore/credHelpers are reported as unsupported only
// when a lookup would need them (a debug note, not an error).
class CredentialStore {
 public:
  CredentialStore() = default;
  // Loads `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; a missing file
  // is an empty store, a malformed one an error naming the file.
  [[nodiscard]] static core::Result<CredentialStore> load_default();
  [[nodiscard]] static core::Result<CredentialStore> load_file(const std::filesystem::path& path);
  [[nodiscard]] static core::Result<CredentialStore> parse(std::string_view json, std::string_view origin);

  void set(std::string registry_host, Credentials c);  // explicit (CLI/config) wins
  std::optional<Credentials> lookup(std::string_view registry_host) const;

 private:
  std::map<std::string, Credentials> by_host_;  // normalised host[:port]
};

// Bearer tokens keyed by realm + service + scope. Thread-safe.
class TokenCache {
 public:
  static std::string key(std::string_view realm, std::string_view service, std::string_view scope);
  // A token valid for at least kTokenRefreshMargin more, else nullopt.
  std::optional<std::string> get(const std::string& key, Clock::time_point now) const;
  void put(const std::string& key, Token token);
  void invalidate(const std::string& key);

 private:
  mutable std::mutex mu_;
  std::map<std::string, Token> tokens_;
};

}  // namespace ferry::auth
