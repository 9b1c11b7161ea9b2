// ExportSet: the export directory as one atomic set of files.
//
// The path the user names (`EXPORT`) is a symlink to a generation directory
// `.EXPORT.sets/<UTC-timestamp>-<n>/`, a hidden sibling on the same file system.
// A new generation is built beside the current one: unchanged tarballs are hard
// links to the current generation's files, changed ones are written anew. Then
// CONTENTS.json and SHA256SUMS are written and fsynced, and the symlink is
// replaced in one rename(2). A reader that resolved EXPORT before the switch keeps
// a complete old set; one that resolves it after sees the complete new one:
// `cp -rL EXPORT`, `rsync -a EXPORT/` and `cd EXPORT && sha256sum -c SHA256SUMS`
// never see a mix. Older generations are then removed, except the one just
// replaced, which stays until the next switch so a copy in progress can finish.
//
// An EXPORT that is a real directory (older ferry, or made by hand) is migrated
// when it holds only ferry's files (*.tar, CONTENTS.json, SHA256SUMS, temporary
// files of an interrupted write): the directory and the new symlink are exchanged
// atomically (renameat2 RENAME_EXCHANGE) and the old directory becomes the
// previous generation. Anything else in it makes begin() refuse, naming the file:
// ferry never deletes what it did not write.
//
// One builder at a time per EXPORT: begin() takes an flock on `.EXPORT.sets/lock`.
// reuse(), add(), current(), current_of(), path_for() and verified() may be called
// from several threads at once (archives written in parallel); begin(), files() and
// commit() from one thread, with no writer running.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "export/export.h"

namespace ferry::airgap {

namespace fs = std::filesystem;

inline constexpr std::string_view kContentsFile = "CONTENTS.json";
inline constexpr std::string_view kSumsFile = "SHA256SUMS";
inline constexpr int kContentsVersion = 1;

// One file of the set as CONTENTS.json lists it.
struct ExportFileInfo {
  std::string file;                    // name inside the set
  std::string reference;               // full reference it was exported from
  std::string format;                  // "docker-archive" or "oci-archive"
  std::vector<std::string> manifests;  // image manifest digests inside
  std::vector<std::string> platforms;  // "linux/amd64", one per manifest
  uint64_t size = 0;                   // filled by the builder
  std::string sha256;                  // hex, filled by the builder

  friend bool operator==(const ExportFileInfo&, const ExportFileInfo&) = default;
};

// CONTENTS.json of a set, and the SHA256SUMS text for it (sorted by name, the
// exact `sha256sum` format, CONTENTS.json included).
std::string contents_json(const std::vector<ExportFileInfo>& files, std::string_view created);
[[nodiscard]] core::Result<std::vector<ExportFileInfo>> parse_contents(std::string_view text,
                                                                       std::string_view source);
std::string sums_text(const std::map<std::string, std::string>& hex_by_name);

// `sha256sum -c SHA256SUMS` in `dir`, stricter: one problem line per file that is
// missing, differs, or is in `dir` without being listed (SHA256SUMS itself aside).
// A missing or malformed SHA256SUMS is a problem too. Plain names only: a line
// naming a path ("../x", "a/b") is a problem, never opened.
std::vector<std::string> check_sums(const fs::path& dir);

// The *.tar regular files directly in `dir` (an export set's archives), sorted by
// name. A directory that cannot be listed is an error, not an empty set.
[[nodiscard]] core::Result<std::vector<fs::path>> list_tarballs(const fs::path& dir);

// Hex sha256 and size of a file, streamed.
[[nodiscard]] core::Result<std::pair<std::string, uint64_t>> hash_file(const fs::path& path);

class ExportSetBuilder {
 public:
  // Prepares a new generation for `export_path`; migrates or refuses a real
  // directory there (see above). The parent directory is created when missing.
  [[nodiscard]] static core::Result<ExportSetBuilder> begin(const fs::path& export_path);
  ExportSetBuilder(ExportSetBuilder&& other) noexcept;
  ExportSetBuilder& operator=(ExportSetBuilder&&) = delete;
  ExportSetBuilder(const ExportSetBuilder&) = delete;
  // An uncommitted generation is removed.
  ~ExportSetBuilder();

  // Where a new file named `name` must be written (inside the new generation).
  fs::path path_for(std::string_view name) const { return gen_ / std::string(name); }
  const fs::path& generation() const { return gen_; }
  // The current set's entry for `name` when it has one and the file is there.
  std::optional<ExportFileInfo> current(std::string_view name) const;
  // Entries of the current set made from `reference`.
  std::vector<ExportFileInfo> current_of(std::string_view reference) const;

  // Hard-link the current set's file (same name) into the new generation and list
  // it with its current entry. NotFound when the current set has no such file.
  [[nodiscard]] core::Status reuse(std::string_view name);
  // List a file written at path_for(info.file); its size and sha256 are computed.
  [[nodiscard]] core::Status add(ExportFileInfo info);
  // The same for a file whose sha256 and size were computed as it was written.
  [[nodiscard]] core::Status add(ExportFileInfo info, const exporter::WrittenFile& written);
  // Store blobs checked during this run: hand to the archive writers so that a
  // layer in many archives is hashed once.
  exporter::VerifiedBlobs& verified() { return *verified_; }

  // After the writers are done (not synchronised).
  const std::vector<ExportFileInfo>& files() const { return files_; }

  // Write CONTENTS.json and SHA256SUMS, fsync, switch EXPORT to the new generation,
  // then remove generations other than the new and the previous one. When the new
  // generation would list exactly the current set's files (same names, references,
  // manifests, sizes and checksums), EXPORT is left as it is instead, CONTENTS.json
  // and its `created` included, and unchanged() is true: a no-op run is a no-op for
  // whoever copies EXPORT too.
  [[nodiscard]] core::Status commit();
  bool unchanged() const { return unchanged_; }

 private:
  ExportSetBuilder() = default;
  fs::path export_;   // the symlink the user names
  fs::path sets_;     // .<name>.sets
  fs::path gen_;      // the new generation
  fs::path current_dir_;  // what EXPORT resolves to now (may be empty)
  bool migrate_ = false;  // EXPORT is a real directory to exchange
  std::map<std::string, ExportFileInfo> current_;
  std::vector<ExportFileInfo> files_;
  std::unique_ptr<exporter::VerifiedBlobs> verified_ = std::make_unique<exporter::VerifiedBlobs>();
  std::unique_ptr<std::mutex> files_mu_ = std::make_unique<std::mutex>();  // reuse() and add() may run on many threads
  int lock_fd_ = -1;
  bool committed_ = false;
  bool unchanged_ = false;
  bool same_as_current() const;
};

}  // namespace ferry::airgap
