// Turning a registry's non-2xx answer into a core::Error: status first, body second.
//
// Registries send the distribution error envelope {"errors":[{"code","message"}]},
// but also {"error": ...}, {"message": ...}, plain text and HTML; all are reduced to
// one printable line of bounded length. Retry-After (seconds or HTTP date) is kept.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "http/engine.h"

namespace ferry::registry {

// `now` dates an HTTP-date Retry-After (the engine's clock on the loop).
core::Error error_from_response(const http::Response& resp, std::string_view what,
                               std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// "120" or "Wed, 21 Oct 2015 07:28:00 GMT" (relative to `now`); nullopt if malformed.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace ferry::registry
