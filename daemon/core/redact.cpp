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

namespace {

// Length of the well-formed UTF-8 sequence at the start of `s`, 0 when there is none.
size_t utf8_sequence(std::string_view s) {
  const auto c = static_cast<unsigned char>(s[0]);
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 && c >= 0xc2 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e && c <= 0xf4 ? 4 : 0;
  if (n == 0 || n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

bool is_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_sequence(text.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  const std::string_view shown = text.substr(0, max_bytes);
  for (size_t i = 0; i < shown.size();) {
    const auto c = static_cast<unsigned char>(shown[i]);
    const size_t n = utf8_sequence(shown.substr(i));
    if (c < 0x20 || c == 0x7f || n == 0) {  // a control byte, or a byte that is not UTF-8
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else {
      out.append(shown.substr(i, n));
      i += n;
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

}  // namespace ferry::core
