// POSIX helpers behind the store's crash-safety promises.
#include "store/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace ferry::store {

namespace fs = std::filesystem;

core::Status fsync_dir(const fs::path& path) {
  // A bare file name's parent_path() is empty: that is the working directory.
  const fs::path dir = path.empty() ? fs::path(".") : path;
  core::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return core::fail(core::errno_error("open directory", dir.string(), errno));
  return fsync_dir_fd(fd.get(), dir);
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

core::Status fsync_dir_fd(int dir, const fs::path& shown) {
  if (::fsync(dir) != 0) return core::fail(core::errno_error("fsync directory", shown.string(), errno));
  return {};
}

namespace {

// A name that stays inside its directory: one component, never "." or "..".
bool one_component(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

core::Status check_name(std::string_view name, const fs::path& shown) {
  if (one_component(name)) return {};
  return core::fail(core::ErrorKind::InvalidInput,
                    fmt::format("{}: not a plain file name inside its directory", shown.string()));
}

core::Status write_atomic(int dir, const std::string& name, std::string_view content, const fs::path& shown) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", name, ::getpid(), counter++);
  fs::path tmp_shown = shown;
  tmp_shown += tmp.substr(name.size());
  // O_EXCL | O_NOFOLLOW: a file or link planted under the temporary name is never
  // written through.
  core::UniqueFd fd(::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return core::fail(core::errno_error("create", tmp_shown.string(), errno));
  auto st = write_all(fd.get(), content.data(), content.size(), tmp_shown);
  if (st && ::fsync(fd.get()) != 0) st = core::fail(core::errno_error("fsync", tmp_shown.string(), errno));
  fd.reset();
  if (st && ::renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) {
    st = core::fail(core::errno_error("rename to", shown.string(), errno));
  }
  if (!st) {
    ::unlinkat(dir, tmp.c_str(), 0);
    return st;
  }
  return {};
}

}  // namespace

core::Status write_file_atomic(const fs::path& path, std::string_view content) {
  // A bare file name's parent_path() is empty: that is the working directory.
  const fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  core::UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return core::fail(core::errno_error("open directory", parent.string(), errno));
  if (auto st = check_name(path.filename().string(), path); !st) return st;
  if (auto st = write_atomic(dir.get(), path.filename().string(), content, path); !st) return st;
  return fsync_dir_fd(dir.get(), parent);
}

core::Status write_file_atomic_at(int dir, std::string_view name, std::string_view content, const fs::path& shown) {
  if (auto st = check_name(name, shown); !st) return st;
  if (auto st = write_atomic(dir, std::string(name), content, shown); !st) return st;
  return fsync_dir_fd(dir, shown.parent_path());
}

namespace {
core::Result<core::UniqueFd> open_checked(int dir, const char* name, const fs::path& shown, int flags,
                                          unsigned mode) {
  core::UniqueFd fd(::openat(dir, name, flags | O_NONBLOCK | O_CLOEXEC, mode));
  if (!fd) {
    const int err = errno;
    if (err == ELOOP) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{}: is a symbolic link; ferry does not follow links here", shown.string()));
    }
    core::Error e = core::errno_error("open", shown.string(), err);
    if (err == ENOENT) e.kind = core::ErrorKind::NotFound;
    return core::fail(std::move(e));
  }
  struct stat sb {};
  if (::fstat(fd.get(), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: is not a regular file", shown.string()));
  }
  // Back to blocking I/O: O_NONBLOCK only kept open(2) from waiting on a FIFO.
  if (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK) != 0) {
    return core::fail(core::errno_error("fcntl", shown.string(), errno));
  }
  return fd;
}
}  // namespace

core::Result<core::UniqueFd> open_regular(const fs::path& path, int flags, unsigned mode) {
  return open_checked(AT_FDCWD, path.c_str(), path, flags | O_NOFOLLOW, mode);
}

core::Result<core::UniqueFd> open_regular_at(int dir, std::string_view name, int flags, const fs::path& shown,
                                             unsigned mode) {
  if (auto st = check_name(name, shown); !st) return core::fail(st.error());
  return open_checked(dir, std::string(name).c_str(), shown, flags | O_NOFOLLOW, mode);
}

core::Result<core::UniqueFd> open_input_file(const fs::path& path) {
  return open_checked(AT_FDCWD, path.c_str(), path, O_RDONLY, 0);
}

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

// `name` in `parent`: made (mode 0755 whatever the umask) when absent and `create`,
// then opened without following a link and judged through that descriptor.
core::Result<core::UniqueFd> real_dir_at(int parent, const char* name, const fs::path& shown, bool create) {
  bool made = false;
  if (create) {
    if (::mkdirat(parent, name, 0755) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      return core::fail(core::errno_error("create directory", shown.string(), errno));
    }
  }
  core::UniqueFd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    struct stat sb {};
    if ((err == ELOOP || err == ENOTDIR) && ::fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      if (auto st = judge_dir(shown, sb); !st) return core::fail(st.error());
    }
    core::Error e = core::errno_error("open directory", shown.string(), err);
    if (err == ENOENT) e.kind = core::ErrorKind::NotFound;
    return core::fail(std::move(e));
  }
  // A umask of 0 must not make a store others can write: the mode is set on the
  // descriptor of the directory made here, never through a path a link could
  // have replaced since the mkdir.
  if (made && ::fchmod(fd.get(), 0755) != 0) return core::fail(core::errno_error("chmod", shown.string(), errno));
  struct stat sb {};
  if (::fstat(fd.get(), &sb) != 0) return core::fail(core::errno_error("stat", shown.string(), errno));
  if (auto st = judge_dir(shown, sb); !st) return core::fail(st.error());
  return fd;
}

}  // namespace

core::Result<core::UniqueFd> open_real_dir_at(int parent, std::string_view name, const fs::path& shown,
                                              bool create) {
  if (auto st = check_name(name, shown); !st) return core::fail(st.error());
  return real_dir_at(parent, std::string(name).c_str(), shown, create);
}

core::Result<core::UniqueFd> open_real_dir(const fs::path& path) {
  return real_dir_at(AT_FDCWD, path.c_str(), path, false);
}

core::Status ensure_real_dir(const fs::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) return core::fail(core::errno_error("create directory", path.parent_path().string(), ec.value()));
  auto fd = real_dir_at(AT_FDCWD, path.c_str(), path, true);
  if (!fd) return core::fail(fd.error());
  return {};
}

namespace {
core::Result<std::string> read_whole(core::UniqueFd fd, const fs::path& shown, uint64_t max_size) {
  struct stat sb {};
  if (::fstat(fd.get(), &sb) != 0 || static_cast<uint64_t>(sb.st_size) > max_size) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: larger than the {} byte limit", shown.string(), max_size));
  }
  std::string out(static_cast<size_t>(sb.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return core::fail(core::errno_error("read", shown.string(), n == 0 ? EIO : errno));
    got += static_cast<size_t>(n);
  }
  return out;
}
}  // namespace

core::Result<std::string> read_file(const fs::path& path, uint64_t max_size) {
  auto opened = open_regular(path, O_RDONLY);
  if (!opened) return core::fail(opened.error());
  return read_whole(std::move(*opened), path, max_size);
}

core::Result<std::string> read_file_at(int dir, std::string_view name, uint64_t max_size, const fs::path& shown) {
  auto opened = open_regular_at(dir, name, O_RDONLY, shown);
  if (!opened) return core::fail(opened.error());
  return read_whole(std::move(*opened), shown, max_size);
}

core::Result<std::vector<DirEntry>> list_dir(int dir, const fs::path& shown) {
  // fdopendir takes its descriptor: give it a fresh one of the same directory.
  core::UniqueFd own(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!own) return core::fail(core::errno_error("list", shown.string(), errno));
  DIR* d = ::fdopendir(own.get());
  if (d == nullptr) return core::fail(core::errno_error("list", shown.string(), errno));
  (void)own.release();
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
  std::vector<DirEntry> out;
  for (;;) {
    errno = 0;
    const struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) return core::fail(core::errno_error("list", shown.string(), errno));
      break;
    }
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    DirEntry entry{std::string(name), DirEntry::Type::Other, 0, {}};
    struct stat sb {};
    if (::fstatat(::dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone meanwhile
      return core::fail(core::errno_error("stat", (shown / entry.name).string(), errno));
    }
    entry.mtime = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::seconds(sb.st_mtim.tv_sec) + std::chrono::nanoseconds(sb.st_mtim.tv_nsec)));
    if (S_ISREG(sb.st_mode)) {
      entry.type = DirEntry::Type::Regular;
      entry.size = static_cast<uint64_t>(sb.st_size);
    } else if (S_ISDIR(sb.st_mode)) {
      entry.type = DirEntry::Type::Directory;
    } else if (S_ISLNK(sb.st_mode)) {
      entry.type = DirEntry::Type::Link;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace ferry::store
