// A one-line live progress display for terminals: bytes, rate, ETA, blobs.
// Only used when stderr is a terminal; log lines stay untouched otherwise.
#pragma once

#include <functional>

#include "core/progress.h"

namespace ferry::cli {

// A progress callback for PullOptions, or an empty function when stderr is not a
// terminal. The display is cleared when the returned callback's owner calls
// finish_progress().
std::function<void(const core::Progress&)> terminal_progress();
void finish_progress();

}  // namespace ferry::cli
