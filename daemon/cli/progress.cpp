// Terminal progress line: rewritten in place with \r, cleared at the end.
#include "cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

namespace ferry::cli {

namespace {
bool g_drawn = false;

std::string mb(uint64_t b) { return fmt::format("{:.1f} MB", static_cast<double>(b) / 1e6); }
}  // namespace

std::function<void(const sync::Progress&)> terminal_progress() {
  if (!::isatty(STDERR_FILENO)) return {};
  const auto start = std::chrono::steady_clock::now();
  return [start](const sync::Progress& p) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0;
    const double pct = p.bytes_total ? 100.0 * static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 100.0;
    std::string eta = "--";
    if (rate > 0 && p.bytes_total >= p.bytes_done) {
      eta = fmt::format("{:.0f}s", static_cast<double>(p.bytes_total - p.bytes_done) / rate);
    }
    fmt::print(stderr, "\r\033[K{} / {}  {:5.1f}%  {}/s  ETA {}  blobs {}/{} ({} active)", mb(p.bytes_done),
               mb(p.bytes_total), pct, mb(static_cast<uint64_t>(rate)), eta, p.blobs_done, p.blobs_total,
               p.in_flight);
    std::fflush(stderr);
    g_drawn = true;
  };
}

void finish_progress() {
  if (!g_drawn) return;
  fmt::print(stderr, "\r\033[K");
  std::fflush(stderr);
  g_drawn = false;
}

}  // namespace ferry::cli
