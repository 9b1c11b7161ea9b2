// What a sync run leaves behind for machines: state/last-run.json and, optionally, a
// Prometheus textfile (the summary table people read is printed by cli).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/store.h"

namespace ferry::run {

struct ImageOutcome {
  std::string reference;
  std::string digest;       // top-level manifest digest, "" when failed
  bool changed = false;
  uint64_t bytes = 0;
  double seconds = 0;
  std::string error;        // "" when ok
  std::string export_file;  // "" when not exported
  bool exported = false;    // written in this run
  std::string pushed_to;    // mirror_to destination, "" when not pushed
  bool push_current = false;  // the destination already had it (one HEAD)
  uint64_t pushed_bytes = 0;
};

struct RunSummary {
  std::vector<ImageOutcome> images;
  uint64_t bytes = 0;
  uint64_t requests = 0;
  uint64_t pushed_bytes = 0;  // uploaded to mirror_to
  bool mirrored = false;      // the run pushed to a mirror_to registry
  double seconds = 0;
  std::chrono::system_clock::time_point finished;
  int64_t last_success = 0;  // unix seconds of the last all-ok run, 0 if none yet
  size_t failed() const;
};

[[nodiscard]] core::Status write_last_run(const store::Store& store, const RunSummary& s);
// last_success of the previous run's last-run.json (0 when there is none or it is not ferry's).
int64_t read_last_success(const store::Store& store);
// Prometheus text format for node_exporter's textfile collector (atomic replace).
[[nodiscard]] core::Status write_metrics(const std::filesystem::path& file, const RunSummary& s);

}  // namespace ferry::run
