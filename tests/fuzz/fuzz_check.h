// Shared helpers for the libFuzzer targets: invariant checks that abort loudly.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.h"

// Abort (libFuzzer records a crash) when an invariant does not hold.
#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__,     \
                   __LINE__);                                                          \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace ferry::fuzz {

// Every ferry error is one non-empty line.
inline void check_error(const core::Error& e) {
  if (e.message.empty() || e.message.find('\n') != std::string::npos) {
    std::fprintf(stderr, "fuzz invariant failed: bad error message: \"%s\"\n", e.message.c_str());
    std::abort();
  }
}

inline std::string_view as_view(const unsigned char* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace ferry::fuzz
