// Reading small text files whole, for the watchlist itself and password files.
//
// Internal to the config module. Errors name the file and the reason, never its
// content: a missing file is NotFound, a directory or an over-large file is
// InvalidInput, anything else the errno mapping of core::errno_error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ferry::config::detail {

// The bytes of `path`. `what` starts each message: "watchlist.yaml: cannot open: ...".
core::Result<std::string> read_text_file(const std::string& path, std::string_view what, std::uintmax_t max_bytes);

}  // namespace ferry::config::detail
