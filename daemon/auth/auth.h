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
inline constexpr std::chrono::seconds kMaxTokenLifetime{365 * 24 * 3600};  // larger expires_in is capped

// One challenge of a WWW-Authenticate header.
struct Challenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lowercased; values unquoted/unescaped
  std::string token68 = {};                   // the token68 form (`Negotiate abc==`); "" otherwise

  std::string param(std::string_view key) const;  // "" when absent; key matched case-insensitively
};

// Parse a WWW-Authenticate value (RFC 7235: several challenges, comma-separated
// auth-params, quoted strings with commas and backslash escapes, token68). Schemes
// are case-insensitive. Extra whitespace and empty list elements are skipped. A
// parameter given twice in one challenge is an error. Malformed input gives
// InvalidInput naming the problem and its offset (at most 100 sanitised bytes of the
// header are quoted).
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
  // As announced (expires_in). Short-lived tokens are refreshed half-way through
  // their life rather than kTokenRefreshMargin before expiry, which for a token of
  // 10 s or less would mean "never reuse it".
  std::chrono::seconds lifetime{0};
};

// Reads a token endpoint reply: `token` or `access_token` (either may be missing, not
// both; `token` wins when both are present), `expires_in` (default
// kDefaultTokenLifetime; values < 1 treated as default, capped at kMaxTokenLifetime),
// `issued_at` (RFC 3339, any offset; when absent or unparsable `now` is used).
// expires_at = issued_at + expires_in, never later than now + expires_in (a server
// clock ahead of ours must not extend a token). Not JSON → InvalidInput; no token →
// Unauthorized. Messages never contain the token.
[[nodiscard]] core::Result<Token> parse_token_response(std::string_view body, Clock::time_point now);

// The GET URL for a bearer challenge: realm?service=S&scope=A&scope=B (query-escaped;
// a realm that already has a query gets '&'). Empty service/scopes are left out.
// InvalidInput when the realm is missing, is not an http(s) URL, or has a fragment.
[[nodiscard]] core::Result<std::string> token_request_url(const Challenge& bearer,
                                                          const std::vector<std::string>& scopes);

// Credentials from a Docker config.json (`auths` → `auth` base64 user:pass, or
// `username`/`password`, `identitytoken`). Lookup by registry host accepts the forms
// docker writes: "host", "https://host", "https://host/v1/", and for docker.io the
// keys "https://index.docker.io/v1/", "index.docker.io", "docker.io",
// "registry-1.docker.io", "registry.hub.docker.com" (see normalize_registry_host).
// `auth` wins over `username`/`password` when both are given; of several keys that
// normalise to one host the first in the file wins; entries with no credentials
// (what docker writes next to credsStore) are skipped. credsStore/credHelpers are
// ignored: nothing is recorded for them and they are not an error.
class CredentialStore {
 public:
  CredentialStore() = default;
  // Loads `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; a missing
  // file (or no HOME) is an empty store, a malformed one an InvalidInput naming the
  // file (its content is never echoed). load_file of a missing file is an Io error.
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
  // Unambiguous for any inputs (each part is length-prefixed). `scope` is the scope
  // list as requested, e.g. space-joined.
  static std::string key(std::string_view realm, std::string_view service, std::string_view scope);
  // A token valid for at least min(kTokenRefreshMargin, lifetime / 2) more, else nullopt.
  std::optional<std::string> get(const std::string& key, Clock::time_point now) const;
  void put(const std::string& key, Token token);
  void invalidate(const std::string& key);

 private:
  mutable std::mutex mu_;
  std::map<std::string, Token> tokens_;
};

// Helpers, public for the registry client and the tests.

// RFC 4648 base64, standard alphabet, padded.
std::string base64_encode(std::string_view bytes);
// Inverse of base64_encode. Padding may be omitted; anything else malformed (a byte
// outside the alphabet, whitespace, misplaced '=', a dangling sextet, non-zero
// trailing bits) gives nullopt.
std::optional<std::string> base64_decode(std::string_view text);

// The key a registry is known by in a CredentialStore: scheme ("https://", "http://")
// and any path ("/v1/") removed, lowercased; Docker Hub's names ("index.docker.io",
// "registry-1.docker.io", "registry.hub.docker.com") become "docker.io". A port stays:
// "http://localhost:5000" → "localhost:5000".
std::string normalize_registry_host(std::string_view key_or_url);

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string query_escape(std::string_view s);

// RFC 3339 date-time ("2024-01-19T20:59:40.042383011Z", "2016-12-13T13:18:39+00:00"):
// 'T'/'t'/' ' separator, optional fraction (digits past nanoseconds ignored), 'Z'/'z'
// or ±hh:mm offset. nullopt when malformed or out of range.
std::optional<Clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace ferry::auth
