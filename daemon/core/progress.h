// A snapshot of a run's transfers (a pull's fetches, a push's uploads), for
// progress displays. Plain data: whoever runs the transfers fills it in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ferry::core {

struct ImageProgress {
  std::string reference;
  uint64_t bytes_total = 0;  // its blobs to transfer (a shared blob counts for each image)
  uint64_t bytes_done = 0;
};

struct Progress {
  std::vector<ImageProgress> images;  // in the order asked
  uint64_t bytes_total = 0;  // sum of the sizes of the blobs to transfer
  uint64_t bytes_done = 0;   // transferred in this run, verified or in flight
  size_t blobs_total = 0, blobs_done = 0, in_flight = 0;
};

}  // namespace ferry::core
