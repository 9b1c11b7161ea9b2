// Error and Result: how every recoverable failure in ferry travels.
//
// A failure is a value: `Result<T>` holds either a T or a `core::Error`. The error
// carries a kind (what went wrong, for policy decisions such as retrying), a
// human message (what the user reads, with context added on the way up), and, for
// HTTP failures, the status, the registry's error code and any Retry-After.
// Bugs are not errors: use FERRY_CHECK for invariants.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace ferry::core {

enum class ErrorKind {
  InvalidInput,    // malformed reference, config, manifest, header
  NotFound,        // unknown repository, tag, blob
  Unauthorized,    // 401: credentials missing or rejected
  Denied,          // 403
  RateLimited,     // 429
  Unavailable,     // 5xx
  Network,         // connection refused/reset, DNS, TLS
  Timeout,         // stalled or too slow
  DigestMismatch,  // content does not hash to its name
  SizeMismatch,    // content longer/shorter than its descriptor
  RangeIgnored,    // server answered 200 to a Range request
  Unsupported,     // valid but not handled (schema1, unknown media type)
  Io,              // local file system
  NoSpace,         // ENOSPC / EDQUOT
  Cancelled,       // shutdown requested
  Internal,        // should not happen; a bug surfaced as an error
};

std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
  int http_status = 0;             // 0 when not an HTTP answer
  std::string registry_code;       // e.g. MANIFEST_UNKNOWN, when the body had one
  std::optional<std::chrono::seconds> retry_after;

  // Transient failures worth another attempt: 408, 429, 5xx, network, timeout.
  [[nodiscard]] bool retryable() const;

  // Prefix context: "pull x: " + message. Returns *this for chaining.
  Error& context(std::string_view what);
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

// An error by kind and message (and the HTTP status it came with, if any): the one
// way to make one, so that a field added to Error never shifts a positional list.
inline Error error(ErrorKind kind, std::string message, int http_status = 0) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  e.http_status = http_status;
  return e;
}

inline tl::unexpected<Error> fail(ErrorKind kind, std::string message) {
  return tl::unexpected<Error>(error(kind, std::move(message)));
}
inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

// Error from errno of a failed system call on `path`: ENOSPC/EDQUOT become NoSpace.
Error errno_error(std::string_view what, std::string_view path, int err);

[[noreturn]] void check_failed(const char* expr, const char* file, int line);

}  // namespace ferry::core

// Invariants that must hold in release builds too. Never for network data.
#define FERRY_CHECK(expr) \
  ((expr) ? (void)0 : ::ferry::core::check_failed(#expr, __FILE__, __LINE__))
