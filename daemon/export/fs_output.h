// Crash-safe outputs for export: a file or directory built under a temporary name
// next to its destination, fsynced and renamed into place by commit(). Until then
// the destination name is never touched, and destroying an uncommitted output
// removes everything written. Also the unnamed scratch file used to decompress a
// layer, and link-or-copy of store blobs into a directory.
#pragma once

#include <filesystem>
#include <string_view>

#include "core/error.h"
#include "digest/digest.h"
#include "store/store.h"

namespace ferry::exporter {

namespace fs = std::filesystem;

// `<out>.tmp.<pid>`: the temporary sibling every output is written under.
fs::path temp_sibling(const fs::path& out, std::string_view tag = "tmp");

// A regular file being written at temp_sibling(out).
class TempOutputFile {
 public:
  [[nodiscard]] static core::Result<TempOutputFile> create(const fs::path& out);
  TempOutputFile(TempOutputFile&& other) noexcept;
  TempOutputFile& operator=(TempOutputFile&&) = delete;
  TempOutputFile(const TempOutputFile&) = delete;
  ~TempOutputFile();

  int fd() const { return fd_; }
  const fs::path& temp_path() const { return temp_; }
  // fsync, close, rename over `out`, fsync the directory.
  [[nodiscard]] core::Status commit();

 private:
  TempOutputFile(fs::path out, fs::path temp, int fd) : out_(std::move(out)), temp_(std::move(temp)), fd_(fd) {}
  fs::path out_;
  fs::path temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// A directory being filled at temp_sibling(out). `out` must be absent or an empty
// directory (rename(2) replaces an empty directory atomically).
class TempOutputDir {
 public:
  [[nodiscard]] static core::Result<TempOutputDir> create(const fs::path& out);
  TempOutputDir(TempOutputDir&& other) noexcept;
  TempOutputDir& operator=(TempOutputDir&&) = delete;
  TempOutputDir(const TempOutputDir&) = delete;
  ~TempOutputDir();

  const fs::path& path() const { return temp_; }
  // fsync `blobs/sha256`, `blobs` and the root, rename over `out`, fsync the parent.
  // Files inside must already be fsynced by whoever wrote them.
  [[nodiscard]] core::Status commit();

 private:
  TempOutputDir(fs::path out, fs::path temp) : out_(std::move(out)), temp_(std::move(temp)) {}
  fs::path out_;
  fs::path temp_;
  bool committed_ = false;
};

// A scratch file in `dir` that has no name: created and unlinked at once, so it
// vanishes when closed, even after a crash. Truncate and reuse with reset().
class ScratchFile {
 public:
  [[nodiscard]] static core::Result<ScratchFile> create(const fs::path& near);
  ScratchFile(ScratchFile&& other) noexcept;
  ScratchFile& operator=(ScratchFile&&) = delete;
  ScratchFile(const ScratchFile&) = delete;
  ~ScratchFile();

  int fd() const { return fd_; }
  const fs::path& label() const { return label_; }  // the name it had, for messages
  [[nodiscard]] core::Status reset();               // truncate to 0, offset 0
  [[nodiscard]] core::Status rewind();              // offset 0

 private:
  ScratchFile(fs::path label, int fd) : label_(std::move(label)), fd_(fd) {}
  fs::path label_;
  int fd_ = -1;
};

// Write `data` as a new file `path` (O_EXCL), fsynced.
[[nodiscard]] core::Status write_new_file(const fs::path& path, std::string_view data);
// Hard-link store blob `d` to `dst`; when linking is impossible (another file
// system, no permission, too many links) copy it instead, fsynced. The content of
// a copy is checked against `d` while it is copied.
[[nodiscard]] core::Status link_or_copy_blob(const store::Store& store, const digest::Digest& d,
                                             const fs::path& dst);

}  // namespace ferry::exporter
