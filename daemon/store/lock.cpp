// StoreLock: flock on state/lock with the holder's pid inside.
#include "store/lock.h"

#include "store/fs_util.h"
#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

namespace ferry::store {

core::Result<StoreLock> StoreLock::acquire(const Store& store) {
  const auto path = store.area_path(Area::State, "lock");
  auto opened = store.open_file(Area::State, "lock", O_RDWR | O_CREAT);  // a planted link is refused
  if (!opened) return core::fail(opened.error());
  const int fd = opened->get();
  const fs::path& store_root = store.root();
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    if (err != EWOULDBLOCK) return core::fail(core::errno_error("lock", path.string(), err));
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return core::fail(core::ErrorKind::Unavailable,
                      fmt::format("store {} is in use by another ferry process (pid {})", store_root.string(), holder));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    return core::fail(core::errno_error("write", path.string(), errno));
  }
  return StoreLock(std::move(*opened));
}

}  // namespace ferry::store
