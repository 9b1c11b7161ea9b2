// Whole-file reads with POSIX calls, so each failure keeps its errno: open, fstat
// (refusing directories and files over the limit), then read until end of file.
#include "config/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace ferry::config::detail {

namespace {

constexpr size_t kChunk = 64 * 1024;

core::Error file_error(std::string_view what, std::string_view step, int err) {
  core::ErrorKind kind = core::ErrorKind::Io;
  if (err == ENOENT || err == ENOTDIR) kind = core::ErrorKind::NotFound;
  if (err == ENOSPC || err == EDQUOT) kind = core::ErrorKind::NoSpace;
  return core::error(kind, fmt::format("{}: cannot {}: {}", what, step, std::strerror(err)));
}

// Closes the descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

core::Result<std::string> read_text_file(const std::string& path, std::string_view what, std::uintmax_t max_bytes) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return core::fail(file_error(what, "open", errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return core::fail(file_error(what, "stat", errno));
  if (S_ISDIR(st.st_mode)) return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: is a directory", what));
  if (S_ISREG(st.st_mode) && static_cast<std::uintmax_t>(st.st_size) > max_bytes) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: too large ({} bytes, at most {})", what, st.st_size, max_bytes));
  }
  std::string out;
  char buffer[kChunk];
  while (true) {
    ssize_t n = ::read(file.fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(file_error(what, "read", errno));
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{}: too large (more than {} bytes)", what, max_bytes));
    }
  }
  return out;
}

}  // namespace ferry::config::detail
