// Text helpers for the auth module: sanitising echoed input and ASCII case folding.
#include "auth/text.h"

namespace ferry::auth::detail {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxEchoBytes)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 || u > 0x7e) ? '?' : c);
  }
  if (s.size() > kMaxEchoBytes) out += "...";
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace ferry::auth::detail
