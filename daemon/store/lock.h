// StoreLock: one writer per store, across processes.
//
// flock(2) on <store>/state/lock: released by the kernel when the process dies, so
// a crash never leaves a stale lock. The holder's pid is written into the file so
// the second process can say who holds it.
#pragma once

#include <filesystem>

#include "core/error.h"
#include "core/unique_fd.h"

namespace ferry::store {

class Store;

class StoreLock {
 public:
  // Take the lock without waiting; a held lock is an error naming the holder's pid.
  // state/lock is opened through the store's state directory, never a link.
  [[nodiscard]] static core::Result<StoreLock> acquire(const Store& store);
  StoreLock(StoreLock&&) noexcept = default;
  StoreLock& operator=(StoreLock&&) = delete;
  StoreLock(const StoreLock&) = delete;
  ~StoreLock() = default;  // closing the descriptor releases the flock

 private:
  explicit StoreLock(core::UniqueFd fd) : fd_(std::move(fd)) {}
  core::UniqueFd fd_;
};

}  // namespace ferry::store
