// check_output: the last step of a command that names an output file. It exits 0
// only if the file is there and verifies, so no code path can report "wrote X"
// without an X that holds up.
#include <sys/stat.h>

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "export/archive_check.h"
#include "store/fs_util.h"

namespace ferry::cli {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxIndexJson = 64ull << 20;  // index.json of a big layout; still bounded

core::Error bad(const fs::path& out, std::string why) {
  return core::error(core::ErrorKind::Internal, fmt::format("{}: {}", out.string(), std::move(why)));
}

core::Status check_regular_nonempty(const fs::path& p) {
  struct stat sb {};
  if (::stat(p.c_str(), &sb) != 0) return core::fail(bad(p, "was not written"));
  if (!S_ISREG(sb.st_mode)) return core::fail(bad(p, "is not a regular file"));
  if (sb.st_size == 0) return core::fail(bad(p, "is empty"));
  return {};
}

// An OCI layout directory: oci-layout, index.json, and every manifest it names.
core::Status check_layout_dir(const fs::path& dir) {
  struct stat sb {};
  if (::stat(dir.c_str(), &sb) != 0) return core::fail(bad(dir, "was not written"));
  if (!S_ISDIR(sb.st_mode)) return core::fail(bad(dir, "is not a directory"));
  for (const char* name : {"oci-layout", "index.json"}) {
    if (auto st = check_regular_nonempty(dir / name); !st) return st;
  }
  auto text = store::read_file(dir / "index.json", kMaxIndexJson);
  if (!text) return core::fail(bad(dir, text.error().message));
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("manifests") || !j["manifests"].is_array() || j["manifests"].empty()) {
    return core::fail(bad(dir, "index.json names no manifest"));
  }
  for (const auto& m : j["manifests"]) {
    auto d = m.is_object() && m.contains("digest") && m["digest"].is_string()
                 ? digest::Digest::parse(m["digest"].get<std::string>())
                 : core::Result<digest::Digest>(core::fail(core::ErrorKind::InvalidInput, "no digest"));
    if (!d) return core::fail(bad(dir, "index.json has an entry without a valid digest"));
    if (auto st = check_regular_nonempty(dir / "blobs" / "sha256" / std::string(d->hex())); !st) return st;
  }
  return {};
}

}  // namespace

core::Status check_output(const fs::path& out, std::string_view format) {
  if (format == "oci") return check_layout_dir(out);
  if (auto st = check_regular_nonempty(out); !st) return st;
  auto scan = exporter::ArchiveScan::scan(out);
  if (!scan) return core::fail(bad(out, scan.error().message));
  auto report = exporter::check_archive(*scan);
  if (!report.ok()) {
    auto lines = report.problem_lines();
    return core::fail(bad(out, fmt::format("does not verify: {}", lines.empty() ? "?" : lines.front())));
  }
  const std::string_view want = format == "oci-archive" ? "oci-archive" : "docker-archive";
  if (report.format != want) return core::fail(bad(out, fmt::format("is a {}, not a {}", report.format, want)));
  return {};
}

void discard_output(const fs::path& out) {
  std::error_code ec;
  if (fs::is_symlink(out, ec)) return;  // never ours: writers rename regular files into place
  fs::remove_all(out, ec);
}

}  // namespace ferry::cli
