// Bearer tokens: the token request URL, the token endpoint's reply (with RFC 3339
// issued_at and the clock-skew guard on expiry) and the in-memory TokenCache.
// Token values never enter an Error message.
#include <simdjson.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "auth/auth.h"
#include "auth/text.h"

namespace ferry::auth {

namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads fixed-width decimal fields and literal characters of a timestamp.
struct TimeReader {
  std::string_view s;
  std::size_t pos = 0;

  bool number(int digits, int& out) {
    if (s.size() - pos < static_cast<std::size_t>(digits)) return false;
    out = 0;
    for (int i = 0; i < digits; ++i, ++pos) {
      if (!is_digit(s[pos])) return false;
      out = out * 10 + (s[pos] - '0');
    }
    return true;
  }
  bool literal(std::string_view options) {
    if (pos >= s.size() || options.find(s[pos]) == std::string_view::npos) return false;
    ++pos;
    return true;
  }
  // ".123456789..." → nanoseconds; digits past the ninth are ignored.
  bool fraction(nanoseconds& out) {
    std::size_t start = pos;
    std::int64_t ns = 0;
    for (; pos < s.size() && is_digit(s[pos]); ++pos) {
      if (pos - start < 9) ns = ns * 10 + (s[pos] - '0');
    }
    std::size_t digits = pos - start;
    if (digits == 0) return false;
    for (std::size_t i = digits; i < 9; ++i) ns *= 10;
    out = nanoseconds(ns);
    return true;
  }
  // "Z" → 0; "+hh:mm" / "-hh:mm" → the offset east of UTC.
  bool offset(std::chrono::minutes& out) {
    if (literal("Zz")) {
      out = std::chrono::minutes(0);
      return true;
    }
    if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return false;
    int sign = s[pos++] == '-' ? -1 : 1;
    int h = 0, m = 0;
    if (!number(2, h) || !literal(":") || !number(2, m) || h > 23 || m > 59) return false;
    out = std::chrono::minutes(sign * (h * 60 + m));
    return true;
  }
};

// A string field; absent, null, empty or non-string is "".
std::string_view string_field(simdjson::dom::object obj, std::string_view key) {
  std::string_view value;
  if (obj[key].get_string().get(value) != simdjson::SUCCESS) return {};
  return value;
}

seconds read_expires_in(simdjson::dom::object obj) {
  double value = 0;
  simdjson::dom::element e;
  if (obj["expires_in"].get(e) != simdjson::SUCCESS) return kDefaultTokenLifetime;
  std::int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) {
    value = static_cast<double>(i);
  } else if (e.get_double().get(value) != simdjson::SUCCESS || !std::isfinite(value)) {
    return kDefaultTokenLifetime;
  }
  if (value < 1) return kDefaultTokenLifetime;
  if (value > static_cast<double>(kMaxTokenLifetime.count())) return kMaxTokenLifetime;
  return seconds(static_cast<std::int64_t>(value));
}

bool has_http_scheme(std::string_view url) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (detail::istarts_with(url, scheme)) {
      std::string_view rest = url.substr(scheme.size());
      return !rest.empty() && rest.front() != '/' && rest.front() != '?';
    }
  }
  return false;
}

}  // namespace

std::optional<Clock::time_point> parse_rfc3339(std::string_view text) {
  TimeReader r{text};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!r.number(4, y) || !r.literal("-") || !r.number(2, mo) || !r.literal("-") || !r.number(2, d) ||
      !r.literal("Tt ") || !r.number(2, h) || !r.literal(":") || !r.number(2, mi) || !r.literal(":") ||
      !r.number(2, s)) {
    return std::nullopt;
  }
  nanoseconds frac{0};
  if (r.literal(".") && !r.fraction(frac)) return std::nullopt;
  std::chrono::minutes offset{0};
  if (!r.offset(offset) || r.pos != text.size()) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                   std::chrono::day(static_cast<unsigned>(d))};
  if (!date.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;  // 60: leap second
  // The nanosecond clock spans about 1678..2262; anything outside is not a real issued_at.
  if (y < 1970 || y > 2200) return std::nullopt;
  auto utc = std::chrono::sys_days(date) + std::chrono::hours(h) + std::chrono::minutes(mi) +
             seconds(s) + frac - offset;
  return std::chrono::time_point_cast<Clock::duration>(utc);
}

core::Result<Token> parse_token_response(std::string_view body, Clock::time_point now) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
    return core::fail(core::ErrorKind::InvalidInput, "token response is not valid JSON");
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    return core::fail(core::ErrorKind::InvalidInput, "token response is not a JSON object");
  }
  // Both fields name the same token (docker/distribution token spec); when a server
  // sends two different values, `token` is the one the registry protocol defines.
  std::string_view value = string_field(obj, "token");
  if (value.empty()) value = string_field(obj, "access_token");
  if (value.empty()) return core::fail(core::ErrorKind::Unauthorized, "token response has no token");

  seconds lifetime = read_expires_in(obj);
  Clock::time_point issued = parse_rfc3339(string_field(obj, "issued_at")).value_or(now);
  return Token{std::string(value), std::min(issued + lifetime, now + lifetime), lifetime};
}

std::string query_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

core::Result<std::string> token_request_url(const Challenge& bearer,
                                            const std::vector<std::string>& scopes) {
  std::string realm = bearer.param("realm");
  if (realm.empty()) return core::fail(core::ErrorKind::InvalidInput, "bearer challenge has no realm");
  if (!has_http_scheme(realm)) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("token realm \"{}\" is not an http(s) URL", detail::printable(realm)));
  }
  bool bad_byte = std::any_of(realm.begin(), realm.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
  if (bad_byte || realm.find('#') != std::string::npos) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("token realm \"{}\" has whitespace, control bytes or a fragment",
                                  detail::printable(realm)));
  }
  std::string url = realm;
  char sep = realm.find('?') == std::string::npos ? '?' : '&';
  if (url.back() == '?' || url.back() == '&') sep = '\0';
  auto append = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    if (sep != '\0') url.push_back(sep);
    url.append(name).append("=").append(query_escape(value));
    sep = '&';
  };
  append("service", bearer.param("service"));
  for (const auto& scope : scopes) append("scope", scope);
  return url;
}

std::string TokenCache::key(std::string_view realm, std::string_view service, std::string_view scope) {
  return fmt::format("{}:{}|{}:{}|{}:{}", realm.size(), realm, service.size(), service, scope.size(),
                     scope);
}

std::optional<std::string> TokenCache::get(const std::string& key, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(key);
  if (it == tokens_.end()) return std::nullopt;
  const auto& t = it->second;
  using std::chrono::milliseconds;
  const milliseconds margin = t.lifetime.count() > 0
                                  ? std::min<milliseconds>(kTokenRefreshMargin, milliseconds(t.lifetime) / 2)
                                  : milliseconds(kTokenRefreshMargin);
  if (t.expires_at - margin <= now) return std::nullopt;
  return it->second.value;
}

void TokenCache::put(const std::string& key, Token token) {
  std::lock_guard lock(mu_);
  tokens_.insert_or_assign(key, std::move(token));
}

void TokenCache::invalidate(const std::string& key) {
  std::lock_guard lock(mu_);
  tokens_.erase(key);
}

}  // namespace ferry::auth
