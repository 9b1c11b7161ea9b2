// POSIX helpers behind the store's crash-safety promises.
#include "store/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include <fmt/format.h>

namespace ferry::store {

namespace fs = std::filesystem;

core::Status fsync_dir(const fs::path& path) {
  // A bare file name's parent_path() is empty: that is the working directory.
  const fs::path dir = path.empty() ? fs::path(".") : path;
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::fail(core::errno_error("open directory", dir.string(), errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return core::fail(core::errno_error("fsync directory", dir.string(), err));
  return {};
}

core::Status write_all(int fd, const char* data, size_t size, const fs::path& path, int64_t offset) {
  while (size > 0) {
    ssize_t n = offset < 0 ? ::write(fd, data, size) : ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::fail(core::errno_error("write", path.string(), errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
    if (offset >= 0) offset += n;
  }
  return {};
}

core::Result<size_t> pread_full(int fd, char* dst, size_t size, uint64_t offset, const fs::path& path) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, dst + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", path.string(), errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

core::Status write_file_atomic(const fs::path& path, std::string_view content) {
  static std::atomic<unsigned> counter{0};
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}.{}", ::getpid(), counter++);
  // O_EXCL | O_NOFOLLOW: a file or link planted under the temporary name is never
  // written through.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return core::fail(core::errno_error("create", tmp.string(), errno));
  auto st = write_all(fd, content.data(), content.size(), tmp);
  if (st && ::fsync(fd) != 0) st = core::fail(core::errno_error("fsync", tmp.string(), errno));
  ::close(fd);
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = core::fail(core::errno_error("rename to", path.string(), errno));
  }
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  return fsync_dir(path.parent_path());
}

namespace {
core::Result<int> open_checked(const fs::path& path, int flags, unsigned mode) {
  int fd = ::open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{}: is a symbolic link; ferry does not follow links here", path.string()));
    }
    core::Error e = core::errno_error("open", path.string(), err);
    if (err == ENOENT) e.kind = core::ErrorKind::NotFound;
    return core::fail(std::move(e));
  }
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: is not a regular file", path.string()));
  }
  // Back to blocking I/O: O_NONBLOCK only kept open(2) from waiting on a FIFO.
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    const int err = errno;
    ::close(fd);
    return core::fail(core::errno_error("fcntl", path.string(), err));
  }
  return fd;
}
}  // namespace

core::Result<int> open_regular(const fs::path& path, int flags, unsigned mode) {
  return open_checked(path, flags | O_NOFOLLOW, mode);
}

core::Result<int> open_input_file(const fs::path& path) { return open_checked(path, O_RDONLY, 0); }

namespace {

// An entry that exists where a store directory belongs: a real directory that
// others cannot write to, or an error naming it.
core::Status judge_dir(const fs::path& path, const struct stat& sb) {
  if (S_ISLNK(sb.st_mode)) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: is a symbolic link; ferry does not follow links here", path.string()));
  }
  if (!S_ISDIR(sb.st_mode)) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: is not a directory", path.string()));
  }
  if ((sb.st_mode & S_IWOTH) != 0) {
    return core::fail(core::ErrorKind::Denied,
                      fmt::format("{}: is writable by other users (mode {:04o}): anyone could plant files in "
                                  "it; run chmod o-w on it",
                                  path.string(), sb.st_mode & 07777));
  }
  return {};
}

}  // namespace

core::Status ensure_real_dir(const fs::path& path) {
  struct stat sb {};
  if (::lstat(path.c_str(), &sb) == 0) return judge_dir(path, sb);
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) return core::fail(core::errno_error("create directory", path.parent_path().string(), ec.value()));
  if (::mkdir(path.c_str(), 0755) != 0) {
    if (errno != EEXIST) return core::fail(core::errno_error("create directory", path.string(), errno));
    // Someone else made it meanwhile (perhaps as a link): judge what is there now.
    if (::lstat(path.c_str(), &sb) != 0) return core::fail(core::errno_error("stat", path.string(), errno));
    return judge_dir(path, sb);
  }
  // 0755 whatever the umask: a umask of 0 must not make a store others can write.
  // Through a descriptor of the directory made here, never a path a link could
  // have replaced since the mkdir.
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{}: was replaced while ferry created it; ferry does not follow links here",
                                    path.string()));
    }
    return core::fail(core::errno_error("open directory", path.string(), errno));
  }
  const int rc = ::fchmod(fd, 0755);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return core::fail(core::errno_error("chmod", path.string(), saved));
  return {};
}

core::Result<std::string> read_file(const fs::path& path, uint64_t max_size) {
  auto opened = open_regular(path, O_RDONLY);
  if (!opened) return core::fail(opened.error());
  const int fd = *opened;
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || static_cast<uint64_t>(sb.st_size) > max_size) {
    ::close(fd);
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: larger than the {} byte limit", path.string(), max_size));
  }
  std::string out(static_cast<size_t>(sb.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return core::fail(core::errno_error("read", path.string(), n == 0 ? EIO : err));
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

}  // namespace ferry::store
