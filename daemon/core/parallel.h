// parallel_for: a fixed number of threads taking indexes from one counter, for
// independent jobs that mix CPU and disk waits (writing export archives).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace ferry::core {

// Runs fn(i) for every i in [0, n) on up to `threads` threads, the caller's among
// them, and returns when all are done. Indexes are taken in increasing order.
// fn must be safe to run concurrently and must not throw.
inline void parallel_for(size_t n, unsigned threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  const size_t extra = std::min<size_t>(n, std::max(threads, 1u)) - (n > 0 ? 1 : 0);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < extra; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// Threads for writing archives: one per core, at most 4 (beyond that the disk,
// not the CPU, is what they wait for).
inline unsigned archive_threads() { return std::clamp(std::thread::hardware_concurrency(), 1u, 4u); }

}  // namespace ferry::core
