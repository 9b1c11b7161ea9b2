// StoreLock: flock on state/lock with the holder's pid inside.
#include "store/lock.h"

#include "store/fs_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

namespace ferry::store {

core::Result<StoreLock> StoreLock::acquire(const std::filesystem::path& store_root) {
  const auto path = store_root / "state" / "lock";
  auto opened = open_regular(path, O_RDWR | O_CREAT);  // a planted link is refused, never written through
  if (!opened) return core::fail(opened.error());
  const int fd = *opened;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) return core::fail(core::errno_error("lock", path.string(), err));
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return core::fail(core::ErrorKind::Unavailable,
                      fmt::format("store {} is in use by another ferry process (pid {})", store_root.string(), holder));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    int err = errno;
    ::close(fd);
    return core::fail(core::errno_error("write", path.string(), err));
  }
  return StoreLock(fd);
}

StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace ferry::store
