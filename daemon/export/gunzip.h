// Streaming gzip decompression of a layer into a file, hashing what comes out, for
// exports that carry uncompressed layers named by diff_id.
//
// zlib's inflate with automatic gzip/zlib header detection (windowBits 15+32), one
// fixed input and one fixed output buffer, so memory does not depend on the layer.
// Several concatenated gzip members are one stream (as Go's gzip reader, which
// docker uses, treats them); anything after the last member that is not another
// member is an error, as it is for Go.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "digest/digest.h"

namespace ferry::exporter {

struct Inflated {
  digest::Digest digest;  // sha256 of the decompressed bytes
  uint64_t size = 0;      // decompressed length
};

// Reads `src_fd` to its end, writes the decompressed bytes to `dst_fd`. Paths only
// name the files in errors. Corrupt or truncated input: ErrorKind::InvalidInput.
[[nodiscard]] core::Result<Inflated> gunzip_to_fd(int src_fd, const std::filesystem::path& src, int dst_fd,
                                                  const std::filesystem::path& dst);

// The sha256 and size of what a gzip stream decompresses to, fed in chunks (a
// layer read from a tar entry), with the decompressed bytes handed to `sink` when
// one is given (gunzip_to_fd writes them to its file). Same member rules as
// gunzip_to_fd; a failed update() (corrupt input: InvalidInput; a failing sink: its
// error) makes every later call fail too.
class GunzipHasher {
 public:
  using Sink = std::function<core::Status(const unsigned char* data, size_t size)>;
  explicit GunzipHasher(Sink sink = {});
  ~GunzipHasher();
  GunzipHasher(const GunzipHasher&) = delete;
  GunzipHasher& operator=(const GunzipHasher&) = delete;

  [[nodiscard]] core::Status update(const char* data, size_t size);
  // InvalidInput when the stream is corrupt or ends inside a member.
  [[nodiscard]] core::Result<Inflated> finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// True when `head` (the first bytes of a blob) starts with the gzip magic.
bool looks_gzip(std::string_view head);
// True when `head` starts with the zstd frame magic.
bool looks_zstd(std::string_view head);

}  // namespace ferry::exporter
