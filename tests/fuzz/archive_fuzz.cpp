// libFuzzer target: reading an image archive from the other side of an air gap.
// The input is a tar file: exporter::ArchiveScan::scan (TarReader: ustar, pax, GNU
// names, links; sha256 and diff_ids of every entry) and exporter::check_archive
// (manifest.json / index.json walk, configs, layers, diff_ids), as `ferry verify TAR`
// and `ferry import` run them. Invariants: no crash or sanitizer report, every error
// and problem is one non-empty line, and an archive called consistent names at least
// one image.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "export/archive_check.h"
#include "fuzz_check.h"

namespace {

void check_lines(const std::vector<std::string>& lines) {
  for (const auto& l : lines) FUZZ_CHECK(!l.empty() && l.find('\n') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;
  int fd = ::memfd_create("archive", 0);
  FUZZ_CHECK(fd >= 0);
  for (size_t done = 0; done < size;) {
    ssize_t n = ::write(fd, data + done, size - done);
    FUZZ_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto scan = exporter::ArchiveScan::scan(path);
  if (!scan) {
    fuzz::check_error(scan.error());
  } else {
    check_lines(scan->problems());
    auto report = exporter::check_archive(*scan);
    check_lines(report.problems);
    for (const auto& img : report.images) check_lines(img.problems);
    if (report.problems.empty() && scan->problems().empty()) {
      bool all_ok = true;
      for (const auto& img : report.images) all_ok = all_ok && img.problems.empty();
      if (all_ok) FUZZ_CHECK(!report.images.empty());
    }
  }
  ::close(fd);
  return 0;
}
