// The summary table of a sync run, on stdout.
#include "cli/run_report.h"

#include <algorithm>

#include <fmt/format.h>

namespace ferry::cli {

namespace {
std::string human_bytes(uint64_t b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}
}  // namespace

void print_summary(const run::RunSummary& s) {
  size_t width = 9;
  for (const auto& i : s.images) width = std::max(width, i.reference.size());
  fmt::print("{:<{}}  {:<8}  {:>10}  {:>7}  {}\n", "REFERENCE", width, "STATUS", "FETCHED", "SECONDS", "DETAIL");
  for (const auto& i : s.images) {
    std::string status = !i.error.empty() ? "failed" : i.changed ? "updated" : "current";
    std::string detail = i.digest.substr(0, 19);
    if (!i.error.empty()) {  // the reference is in its own column already
      const std::string prefix = i.reference + ": ";
      detail = i.error.rfind(prefix, 0) == 0 ? i.error.substr(prefix.size()) : i.error;
    }
    if (i.exported) detail += "  -> " + i.export_file;
    if (!i.pushed_to.empty()) {
      detail += fmt::format("  => {} ({})", i.pushed_to, i.push_current ? "current" : human_bytes(i.pushed_bytes));
    }
    fmt::print("{:<{}}  {:<8}  {:>10}  {:>7.1f}  {}\n", i.reference, width, status, human_bytes(i.bytes), i.seconds,
               detail);
  }
  fmt::print("{} images, {} failed, {} fetched{}, {} requests, {:.1f} s\n", s.images.size(), s.failed(),
             human_bytes(s.bytes), s.mirrored ? ", " + human_bytes(s.pushed_bytes) + " pushed" : "", s.requests,
             s.seconds);
}

}  // namespace ferry::cli
