// redact_url: keep scheme, host and path; keep only whitelisted query values.
#include "core/redact.h"

#include <fmt/format.h>

#include <array>

namespace ferry::core {

namespace {
constexpr std::array<std::string_view, 5> kSafeKeys = {"scope", "service", "n", "last", "digest"};

bool safe_key(std::string_view key) {
  for (auto k : kSafeKeys) {
    if (k == key) return true;
  }
  return false;
}
}  // namespace

std::string redact_url(std::string_view url) {
  std::string out;
  auto scheme_end = url.find("://");
  size_t host_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  out.append(url.substr(0, host_start));
  auto path_start = url.find_first_of("/?#", host_start);
  std::string_view authority = url.substr(host_start, path_start == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : path_start - host_start);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  out.append(authority);
  if (path_start == std::string_view::npos) return out;
  std::string_view rest = url.substr(path_start);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  auto q = rest.find('?');
  out.append(rest.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view query = rest.substr(q + 1);
  out.push_back('?');
  bool first = true;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (!first) out.push_back('&');
    first = false;
    out.append(key);
    if (eq != std::string_view::npos) out.append(safe_key(key) ? pair.substr(eq) : "=REDACTED");
  }
  return out;
}

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  for (unsigned char c : text.substr(0, max_bytes)) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

}  // namespace ferry::core
