// Terminal progress: one line per image still transferring plus a total line,
// redrawn in place (cursor up + clear line), cleared at the end.
#include "cli/progress.h"

#include "cli/logging.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

namespace ferry::cli {

namespace {

constexpr size_t kMaxImageLines = 8;  // more images than this are summarised in one line
size_t g_lines = 0;                   // lines drawn last time

std::string mb(uint64_t b) { return fmt::format("{:.1f} MB", static_cast<double>(b) / 1e6); }

std::string eta(uint64_t left, double rate) {
  if (rate <= 0) return "--";
  return fmt::format("{:.0f}s", static_cast<double>(left) / rate);
}

void erase_previous() {
  for (size_t k = 0; k < g_lines; ++k) fmt::print(stderr, "\033[1A\r\033[K");
  g_lines = 0;
}

}  // namespace

std::function<void(const core::Progress&)> terminal_progress() {
  if (!::isatty(STDERR_FILENO)) return {};
  const auto start = std::chrono::steady_clock::now();
  set_before_log_hook(erase_previous);
  return [start](const core::Progress& p) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0;
    erase_previous();
    size_t shown = 0, waiting = 0;
    for (const auto& img : p.images) {
      if (img.bytes_total == 0 || img.bytes_done >= img.bytes_total) continue;
      if (shown == kMaxImageLines) {
        ++waiting;
        continue;
      }
      fmt::print(stderr, "  {}  {} / {}\n", img.reference, mb(img.bytes_done), mb(img.bytes_total));
      ++shown;
    }
    if (waiting) fmt::print(stderr, "  ... and {} more images\n", waiting);
    const double pct =
        p.bytes_total ? 100.0 * static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 100.0;
    fmt::print(stderr, "total {} / {}  {:5.1f}%  {}/s  ETA {}  blobs {}/{} ({} active)\n", mb(p.bytes_done),
               mb(p.bytes_total), pct, mb(static_cast<uint64_t>(rate)),
               eta(p.bytes_total - std::min(p.bytes_total, p.bytes_done), rate), p.blobs_done, p.blobs_total,
               p.in_flight);
    std::fflush(stderr);
    g_lines = shown + (waiting ? 1 : 0) + 1;
  };
}

void finish_progress() {
  set_before_log_hook(nullptr);
  erase_previous();
  std::fflush(stderr);
}

}  // namespace ferry::cli
