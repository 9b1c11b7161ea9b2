// One sync run of a watchlist: every entry pulled in one plan (HEAD first: an
// unchanged tag costs one request), a new export set built while the pull goes on
// (airgap::SyncExport) and switched atomically, the mirrored images pushed to
// `mirror_to` with what the run's deadline has left, then state/last-run.json and
// the metrics file written. Prints nothing: the caller prints `errors` and the
// summary; logs through spdlog.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/registry_options.h"
#include "core/error.h"
#include "core/progress.h"
#include "http/engine.h"
#include "run/report.h"

namespace ferry::run {

struct SyncOnceOptions {
  std::filesystem::path store;       // made when missing
  std::filesystem::path export_dir;  // "" = no export set
  std::filesystem::path metrics;     // "" = no metrics file
  config::RegistryResolver registry_options;
  // Live progress of the pull, then of the push to mirror_to; progress_done is
  // called after each of them (the display is cleared).
  std::function<void(const core::Progress&)> progress;
  std::function<void()> progress_done;
};

struct SyncOnce {
  RunSummary summary;
  // One line per problem, in the order they were found (an image's pull, export
  // and push failures; each also in its ImageOutcome::error).
  std::vector<std::string> errors;
  bool export_failed = false;  // the mirror is fine, but the export set was not switched
  bool ok() const { return summary.failed() == 0 && !export_failed; }
};

// Errors: the store cannot be opened or locked, or the pull could not run at all;
// then nothing of the run is recorded.
[[nodiscard]] core::Result<SyncOnce> sync_once(const config::Watchlist& w, const SyncOnceOptions& opts,
                                               http::Engine& engine);

}  // namespace ferry::run
