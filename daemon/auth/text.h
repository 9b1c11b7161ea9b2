// Small text helpers shared by the auth sources (internal, not part of the contract):
// ASCII case folding and the sanitiser used before any input is quoted in an Error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ferry::auth::detail {

inline constexpr std::size_t kMaxEchoBytes = 100;

// Up to kMaxEchoBytes of `s` with every byte outside printable ASCII replaced by '?'
// (so hostile input cannot forge log lines), plus "..." when cut.
std::string printable(std::string_view s);

std::string ascii_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

}  // namespace ferry::auth::detail
