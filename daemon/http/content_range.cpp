#include "http/content_range.h"

#include <charconv>

namespace ferry::http {

namespace {

// A run of ASCII digits at the front of `s`, consumed; nullopt if none or too large.
std::optional<uint64_t> take_number(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0) return std::nullopt;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + n, v);
  if (ec != std::errc() || ptr != s.data() + n) return std::nullopt;  // out of range
  s.remove_prefix(n);
  return v;
}

bool take(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

}  // namespace

std::optional<ContentRange> parse_content_range(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r' || v.back() == '\n')) {
    v.remove_suffix(1);
  }
  // The unit is case-insensitive; one space follows it.
  if (v.size() < 6) return std::nullopt;
  for (size_t i = 0; i < 5; ++i) {
    const char c = static_cast<char>(v[i] | 0x20);
    if (c != "bytes"[i]) return std::nullopt;
  }
  v.remove_prefix(5);
  if (!take(v, ' ')) return std::nullopt;
  ContentRange r;
  auto first = take_number(v);
  if (!first || !take(v, '-')) return std::nullopt;
  auto last = take_number(v);
  if (!last || !take(v, '/')) return std::nullopt;
  r.first = *first;
  r.last = *last;
  if (r.last < r.first) return std::nullopt;
  if (v == "*") return r;
  auto complete = take_number(v);
  if (!complete || !v.empty() || *complete <= r.last) return std::nullopt;
  r.complete = *complete;
  return r;
}

}  // namespace ferry::http
