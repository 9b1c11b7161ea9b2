// Executor: the process's one pool of threads for blocking work: what the engine
// offloads (commits, diff_id checks, schema1 conversion), a sync's export archives,
// and parallel_for over archives. The threads and how many there are live here.
//
// post() runs a task on some pool thread. A Lane runs its tasks one at a time in
// the order posted (each on whichever pool thread is free): the engine's offload
// order, a sync's one-at-a-time exports while its pull runs. parallel_for runs on
// the pool and the calling thread.
//
// Threads start on the first task. The destructor runs every task still queued,
// then joins; Lanes must be gone before their Executor. Any thread may post.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry::core {

class Executor {
 public:
  explicit Executor(unsigned threads);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  unsigned threads() const { return size_; }
  void post(std::function<void()> task);

  // fn(i) for every i in [0, n), on up to threads() threads at once, the caller's
  // among them; returns when all are done. Indexes are taken in increasing order.
  // fn must be safe to run concurrently and must not throw.
  void parallel_for(size_t n, const std::function<void(size_t)>& fn);

  class Lane {
   public:
    explicit Lane(Executor& ex) : ex_(ex) {}
    ~Lane();  // queued tasks never run; waits for the running one (and the pool's turn)
    Lane(const Lane&) = delete;
    Lane& operator=(const Lane&) = delete;

    void post(std::function<void()> task);
    // Forget the tasks not started and wait for the running one to end. Returns the
    // forgotten tasks, so the caller chooses the thread that destroys them.
    std::deque<std::function<void()>> drop();

   private:
    void run_one();  // the pool task that runs the lane's next task
    Executor& ex_;
    std::mutex mu_;
    std::condition_variable idle_;
    std::deque<std::function<void()>> queue_;
    bool scheduled_ = false;  // a run_one() is queued on the pool or running
    bool running_ = false;    // a task of the lane runs now
  };

 private:
  void work();
  const unsigned size_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> pool_;  // started on the first post
};

// The pool's size for a command: four, whatever the cores. Archive writing mostly
// waits for the disk, and it writes faster with more writes in flight: 3.1 GB of
// tarballs from the bench fleet took 9.3 s with one thread, 6.6 s with two, 5.5 s
// with four and 5.3-6.0 s with eight, on 2 cores.
inline unsigned archive_threads() { return 4; }

}  // namespace ferry::core
