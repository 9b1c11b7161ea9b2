// Error kinds, the retry table and errno mapping.
#include "core/error.h"

#include <cerrno>
#include <cstring>

namespace ferry::core {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidInput: return "invalid input";
    case ErrorKind::NotFound: return "not found";
    case ErrorKind::Unauthorized: return "unauthorized";
    case ErrorKind::Denied: return "denied";
    case ErrorKind::RateLimited: return "rate limited";
    case ErrorKind::Unavailable: return "unavailable";
    case ErrorKind::Network: return "network error";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::DigestMismatch: return "digest mismatch";
    case ErrorKind::SizeMismatch: return "size mismatch";
    case ErrorKind::RangeIgnored: return "range ignored";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Io: return "i/o error";
    case ErrorKind::NoSpace: return "no space left";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::Internal: return "internal error";
  }
  return "unknown";
}

bool Error::retryable() const {
  if (http_status == 408 || http_status == 429 || (http_status >= 500 && http_status <= 599)) {
    return true;
  }
  switch (kind) {
    case ErrorKind::RateLimited:
    case ErrorKind::Unavailable:
    case ErrorKind::Network:
    case ErrorKind::Timeout:
      return true;
    default:
      return false;
  }
}

Error& Error::context(std::string_view what) {
  std::string m;
  m.reserve(what.size() + 2 + message.size());
  m.append(what).append(": ").append(message);
  message = std::move(m);
  return *this;
}

Error errno_error(std::string_view what, std::string_view path, int err) {
  Error e;
  e.kind = (err == ENOSPC || err == EDQUOT) ? ErrorKind::NoSpace : ErrorKind::Io;
  e.message = std::string(what) + " " + std::string(path) + ": " + std::strerror(err);
  return e;
}

void check_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "ferry: internal check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace ferry::core
