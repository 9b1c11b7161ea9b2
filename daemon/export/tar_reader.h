// TarReader: a streaming reader of tar archives in a regular file, for input that
// may be hostile (a tarball carried across an air gap).
//
// Reads POSIX ustar (name + prefix), pax extended headers ('x': path, linkpath,
// size; 'g' global headers are skipped) and GNU long names ('L', 'K'), as docker
// save, skopeo, Go's archive/tar, GNU tar and ferry write them. Memory is bounded:
// one 512-byte header at a time, pax data up to kMaxPaxSize, long names up to
// kMaxNameSize; content is read by the caller in chunks or skipped with a seek.
//
// Refused with InvalidInput, naming the archive and the byte offset: a header
// whose checksum is wrong, an absolute name or one with a `..` component, a size
// that is not a number or runs past the end of the file, malformed pax records,
// and a file that ends before the end-of-archive marker (truncated).
// The reader never owns or closes the descriptor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ferry::exporter {

inline constexpr uint64_t kMaxPaxSize = 1 << 20;    // pax data: a few records in practice
inline constexpr uint64_t kMaxNameSize = 4096;      // any entry or link name: PATH_MAX (#13: memory)
inline constexpr uint64_t kMaxTrailer = 1 << 20;     // zero padding after the end marker (tar pads to 10 KiB)

struct TarEntry {
  std::string name;  // normalised: relative, no "./" prefix, no trailing '/'
  char type = '0';   // '0' regular file ('\0' and '7' are reported as '0'), '5' dir, '1'/'2' links
  uint64_t size = 0;    // content bytes (0 for everything but regular files)
  uint64_t offset = 0;  // where the content starts in the archive
  std::string link;     // target of a hard or symbolic link
};

class TarReader {
 public:
  // `path` names the archive in messages.
  TarReader(int fd, std::string path);
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // The next entry (its unread content is skipped first); nullopt at the end marker.
  [[nodiscard]] core::Result<std::optional<TarEntry>> next();
  // Up to `cap` bytes of the current entry's content; 0 at its end.
  [[nodiscard]] core::Result<size_t> read(char* dst, size_t cap);

  const std::string& path() const { return path_; }

 private:
  core::Status init();
  core::Status read_exact(char* dst, size_t size, uint64_t at);
  // Everything from `from` to the end of the file is zero padding (at most kMaxTrailer).
  core::Status check_trailer(uint64_t from);
  core::Result<std::string> read_meta(uint64_t size, uint64_t limit, std::string_view what);
  core::Status bad(std::string_view why) const;

  int fd_;
  std::string path_;
  uint64_t file_size_ = 0;
  bool initialised_ = false;
  uint64_t pos_ = 0;        // next header offset once the current content is consumed
  uint64_t content_ = 0;    // current entry's content offset
  uint64_t remaining_ = 0;  // unread content bytes of the current entry
  uint64_t padded_end_ = 0; // offset after the current entry's padding
  bool done_ = false;
};

// Validates and normalises an entry name (see TarEntry::name); InvalidInput names
// it when it is absolute, empty or climbs out with "..".
[[nodiscard]] core::Result<std::string> normalise_entry_name(std::string_view name);

// Resolves `target` of a symlink at entry `name` to an entry name inside the
// archive; nullopt when it would leave the archive.
std::optional<std::string> resolve_link(std::string_view name, std::string_view target);

}  // namespace ferry::exporter
