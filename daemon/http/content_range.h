// Content-Range of a 206 answer (RFC 9110 §14.4): "bytes FIRST-LAST/COMPLETE" or
// "bytes FIRST-LAST/*". Untrusted input: digits only (no sign, no spaces inside a
// number), no overflow, FIRST <= LAST < COMPLETE. Anything else is nullopt, and the
// engine treats the answer as one that ignored the Range.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry::http {

struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;                  // inclusive
  std::optional<uint64_t> complete;   // the whole representation's length, when sent
};

std::optional<ContentRange> parse_content_range(std::string_view value);

}  // namespace ferry::http
