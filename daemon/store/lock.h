// StoreLock: one writer per store, across processes.
//
// flock(2) on <store>/state/lock: released by the kernel when the process dies, so
// a crash never leaves a stale lock. The holder's pid is written into the file so
// the second process can say who holds it.
#pragma once

#include <filesystem>

#include "core/error.h"

namespace ferry::store {

class StoreLock {
 public:
  // Take the lock without waiting; a held lock is an error naming the holder's pid.
  [[nodiscard]] static core::Result<StoreLock> acquire(const std::filesystem::path& store_root);
  StoreLock(StoreLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  StoreLock& operator=(StoreLock&&) = delete;
  StoreLock(const StoreLock&) = delete;
  ~StoreLock();

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ferry::store
