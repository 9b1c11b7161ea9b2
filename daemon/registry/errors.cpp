// Registry error answers → core::Error.
#include "registry/errors.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/redact.h"

namespace ferry::registry {

namespace {

constexpr size_t kMaxDetail = 200;  // one readable line, never a whole HTML page

// Control bytes (newlines of an HTML page) become spaces, runs of spaces one; then
// core::printable escapes what is not UTF-8 and bounds the length.
std::string one_line(std::string_view s) {
  std::string spaced;
  for (char c : s.substr(0, kMaxDetail + 1)) {
    const auto u = static_cast<unsigned char>(c);
    const char put = u < 0x20 ? ' ' : c;
    if (put == ' ' && (spaced.empty() || spaced.back() == ' ')) continue;
    spaced.push_back(put);
  }
  while (!spaced.empty() && spaced.back() == ' ') spaced.pop_back();
  // Escapes take four bytes: shorten the input until the line fits.
  std::string out;
  for (size_t n = kMaxDetail;; n -= n / 4 + 1) {
    out = core::printable(spaced, n);
    if (out.size() <= kMaxDetail + 3) break;
  }
  if (s.size() > kMaxDetail + 1 && !out.ends_with("...")) out += "...";
  return out;
}

core::ErrorKind kind_for_status(long status) {
  switch (status) {
    case 401: return core::ErrorKind::Unauthorized;
    case 403: return core::ErrorKind::Denied;
    case 404: return core::ErrorKind::NotFound;
    case 408: return core::ErrorKind::Timeout;
    case 429: return core::ErrorKind::RateLimited;
    default: return status >= 500 ? core::ErrorKind::Unavailable : core::ErrorKind::InvalidInput;
  }
}

// code and message from the body, whatever its shape.
std::pair<std::string, std::string> describe_body(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return {"", one_line(body)};
  if (!j.is_object()) return {"", ""};
  auto text = [](const nlohmann::json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number()) return v.dump();
    return {};
  };
  if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() && j["errors"][0].is_object()) {
    const auto& e = j["errors"][0];
    return {one_line(text(e.value("code", nlohmann::json()))), one_line(text(e.value("message", nlohmann::json())))};
  }
  for (const char* key : {"message", "error", "details"}) {
    if (j.contains(key)) return {"", one_line(text(j[key]))};
  }
  return {"", ""};
}

}  // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  bool digits = true;
  int64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9' || n > 100000000) {
      digits = false;
      break;
    }
    n = n * 10 + (c - '0');
  }
  if (digits) return std::chrono::seconds(n);
  std::tm tm{};
  std::string copy(value);
  const char* end = strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  // In whole seconds of time_t: a date far in the future (year 9999) would overflow
  // the system clock's nanoseconds. Past dates mean "now".
  const int64_t when = static_cast<int64_t>(timegm(&tm));
  const int64_t at = static_cast<int64_t>(std::chrono::system_clock::to_time_t(now));
  return std::chrono::seconds(when > at ? when - at : 0);
}

core::Error error_from_response(const http::Response& resp, std::string_view what,
                               std::chrono::system_clock::time_point now) {
  core::Error e;
  e.kind = kind_for_status(resp.status);
  e.http_status = static_cast<int>(resp.status);
  auto [code, message] = describe_body(resp.body);
  e.registry_code = code;
  std::string detail = fmt::format("HTTP {}", resp.status);
  if (!code.empty()) detail += " " + code;
  if (!message.empty()) detail += ": " + message;
  e.message = fmt::format("{}: {}", what, detail);
  if (auto ra = resp.header("retry-after"); !ra.empty()) {
    e.retry_after = parse_retry_after(ra, now);
  }
  return e;
}

}  // namespace ferry::registry
