// TarWriter: a streaming POSIX ustar writer onto a file descriptor.
//
// Entries go out in order through one fixed buffer (kBufferSize), so memory stays
// constant whatever the entry sizes. Every header is ustar with uid/gid 0, empty
// user/group names and the writer's fixed mtime (exports use 0, like `docker save`
// does for its metadata files, so the same input gives the same bytes). A name that
// does not fit ustar's name/prefix split, or a size of 8 GiB or more, gets a pax
// extended header ('x') first; GNU tar, Go's archive/tar, Python's tarfile and
// Docker all read those. finish() appends the two zero blocks that end an archive.
// The writer never owns or closes the descriptor; write errors carry errno
// (ENOSPC/EDQUOT become ErrorKind::NoSpace) and the path given for messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "digest/digest.h"

namespace ferry::exporter {

inline constexpr size_t kTarBlock = 512;

class TarWriter {
 public:
  static constexpr size_t kBufferSize = 1024 * 1024;
  static constexpr uint64_t kWriteBehind = 32 << 20;  // see write_behind()
  static constexpr uint32_t kFileMode = 0644;
  static constexpr uint32_t kExecMode = 0755;
  static constexpr uint32_t kDirMode = 0755;

  // Fills `dst` with up to `cap` bytes of an entry's content and returns how many;
  // 0 means the source ended (an error if fewer bytes than announced came).
  using ChunkReader = std::function<core::Result<size_t>(char* dst, size_t cap)>;

  // `path` only names the output in error messages. `mtime` is seconds since the
  // epoch for every entry (negative values are written as 0).
  TarWriter(int fd, std::string path, int64_t mtime = 0);
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  // A directory entry; a trailing '/' is added when missing.
  [[nodiscard]] core::Status add_directory(std::string_view name, uint32_t mode = kDirMode);
  // A regular file with `data` as content.
  [[nodiscard]] core::Status add_file(std::string_view name, std::string_view data,
                                      uint32_t mode = kFileMode);
  // A regular file of exactly `size` bytes pulled from `read`.
  [[nodiscard]] core::Status add_file_streamed(std::string_view name, uint64_t size,
                                               const ChunkReader& read, uint32_t mode = kFileMode);
  // A regular file of `size` bytes read from `src_fd` at its current offset;
  // `src_path` names it in errors. A source shorter than `size` is an error.
  [[nodiscard]] core::Status add_file_from_fd(std::string_view name, int src_fd, uint64_t size,
                                              std::string_view src_path, uint32_t mode = kFileMode);
  // The end-of-archive marker (two zero blocks), then everything is flushed.
  // Nothing may be added afterwards.
  [[nodiscard]] core::Status finish();

  // Bytes handed to the descriptor or still buffered.
  uint64_t bytes_written() const { return flushed_ + used_; }
  // Feed every byte from now on to `hasher` as it goes to the descriptor (for an
  // archive's checksum without reading the file back). Not owned.
  void hash_into(digest::Sha256* hasher) { hasher_ = hasher; }

 private:
  core::Status write_header(std::string_view name, char typeflag, uint64_t size, uint32_t mode);
  core::Status write_pax(std::string_view name, const std::string& records);
  core::Status append(const char* data, size_t size);
  core::Status pad_to_block(uint64_t size);
  core::Status flush();
  void write_behind();

  int fd_;
  std::string path_;
  int64_t mtime_;
  std::unique_ptr<char[]> buffer_;
  size_t used_ = 0;
  uint64_t flushed_ = 0;
  bool finished_ = false;
  digest::Sha256* hasher_ = nullptr;
  off_t file_base_ = -1;  // the file offset where the archive starts; -1: not a regular file
  uint64_t previous_start_ = 0, window_start_ = 0;
};

// The 512-byte ustar header block of one entry. A name that does not fit the
// name/prefix fields is cut to its first 100 bytes (as Go does) and a size of
// 8 GiB or more is written as 0: the caller puts a pax header with the real values
// first.
std::string ustar_header(std::string_view name, char typeflag, uint64_t size, uint32_t mode,
                         int64_t mtime);

// Splits `name` into ustar (prefix, name) fields; false when it cannot fit.
bool split_ustar_name(std::string_view name, std::string_view& prefix, std::string_view& base);

// One pax record "<len> key=value\n" where len counts the whole record.
std::string pax_record(std::string_view key, std::string_view value);

}  // namespace ferry::exporter
