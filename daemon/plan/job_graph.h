// JobGraph: the jobs of one run and the images waiting on each, shared by pull and
// push (plan/scheduler.h admits the work; this says who needs what).
//
// One job per key (a digest for a pull; registry, repository and digest for a
// push), however many images need it: the first image to need a key makes its
// job, the others join it. An image waits on each open job it needs, counted once;
// when the last one is done the image is whole (done() says which images that
// made whole). A failed job's error goes to every image that needs it, those that
// join it later too. Jobs are never removed: a job index stays valid for the run.
//
// Plain data, no threads: the owner's thread only (the loop thread for pull and push).
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ferry::plan {

template <class Key, class Data>
class JobGraph {
 public:
  enum class State { Open, Done, Failed };

  struct Job {
    Key key;
    Data data;
    std::vector<size_t> images;  // every image that needs it, in the order they came
    State state = State::Open;
    std::optional<core::Error> error;  // State::Failed
  };

  // What need() found for the image.
  enum class Found {
    Made,    // a new job: the image waits on it
    Joined,  // an open job: the image waits on it now
    Again,   // the image needed it before: nothing changes
    Done,    // done already: nothing to wait for
    Failed,  // failed already: its error is the image's
  };
  struct Need {
    size_t job;
    Found found;
  };

  // Image `image` needs `key`: the job for it, made with `data` when there is none.
  Need need(size_t image, const Key& key, Data data) {
    grow(image);
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      Job& job = jobs_[it->second];
      if (std::find(job.images.begin(), job.images.end(), image) != job.images.end()) {
        return {it->second, Found::Again};
      }
      job.images.push_back(image);
      switch (job.state) {
        case State::Done: return {it->second, Found::Done};
        case State::Failed: return {it->second, Found::Failed};
        case State::Open: break;
      }
      ++waiting_[image];
      return {it->second, Found::Joined};
    }
    const size_t j = jobs_.size();
    by_key_.emplace(key, j);
    jobs_.push_back(Job{key, std::move(data), {image}, State::Open, std::nullopt});
    ++waiting_[image];
    return {j, Found::Made};
  }

  std::optional<size_t> find(const Key& key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? std::nullopt : std::optional<size_t>(it->second);
  }

  // Open jobs image `image` waits on.
  size_t waiting(size_t image) const { return image < waiting_.size() ? waiting_[image] : 0; }

  // Job j is done: the images it made whole (they wait on nothing now), in the order
  // they joined. A job done twice changes nothing the second time.
  std::vector<size_t> done(size_t j) {
    Job& job = jobs_[j];
    std::vector<size_t> whole;
    if (job.state != State::Open) return whole;
    job.state = State::Done;
    for (size_t i : job.images) {
      if (waiting_[i] > 0 && --waiting_[i] == 0) whole.push_back(i);
    }
    return whole;
  }

  // Job j failed with `e`: the images that need it (each fails with it). Images that
  // join it later find Found::Failed.
  const std::vector<size_t>& fail(size_t j, core::Error e) {
    Job& job = jobs_[j];
    if (job.state == State::Open) {
      for (size_t i : job.images) {
        if (waiting_[i] > 0) --waiting_[i];
      }
    }
    job.state = State::Failed;
    job.error = std::move(e);
    return job.images;
  }

  // Whether any image that needs job j is still wanted (`gone(i)`: image i failed).
  template <class Gone>
  bool needed(size_t j, Gone gone) const {
    const auto& imgs = jobs_[j].images;
    return std::any_of(imgs.begin(), imgs.end(), [&](size_t i) { return !gone(i); });
  }

  Job& operator[](size_t j) { return jobs_[j]; }
  const Job& operator[](size_t j) const { return jobs_[j]; }
  size_t size() const { return jobs_.size(); }

 private:
  void grow(size_t image) {
    if (image >= waiting_.size()) waiting_.resize(image + 1, 0);
  }

  std::deque<Job> jobs_;  // grows while jobs run: references into it stay valid
  std::map<Key, size_t> by_key_;
  std::vector<size_t> waiting_;  // per image: open jobs it needs
};

}  // namespace ferry::plan
