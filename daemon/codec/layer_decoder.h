// LayerDecoder: the uncompressed stream of a layer blob — its diff_id and size —
// from chunks of the blob as they are read, with the decompressed bytes handed to
// an optional sink (a file for exports that carry plain tar layers).
//
// The one idea: the first four bytes decide the format, as docker and containerd
// decide it (by magic, not by media type): gzip (1f 8b), zstd (28 b5 2f fd), else
// plain (the bytes are the tar; diff_id == the blob's own digest). The caller
// hashes the compressed bytes itself while feeding them here, so a layer is read
// once. Memory is fixed: one output buffer, zlib's inflate state, and a zstd
// context whose window is libzstd's default limit (2^27 bytes; larger windows are
// refused as corrupt input rather than allocated).
//
// Streams: several concatenated gzip members are one stream (Go's gzip reader,
// which docker uses, does the same), and so are several zstd frames (skippable
// frames included, as the zstd format defines); anything after the last member
// or frame that is not another one is an error. Truncated or corrupt input is
// InvalidInput with a message naming the format. Output and time are bounded by
// DecodeLimits (a decompression bomb is InvalidInput).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "digest/digest.h"

namespace ferry::codec {

enum class Compression { None, Gzip, Zstd };

// "plain", "gzip", "zstd".
std::string_view to_string(Compression c);

// The format of a blob whose first bytes are `head` (four are enough; fewer can
// only be plain or a truncated stream, and are taken as plain).
Compression detect(std::string_view head);

// What a layer's media type says about its compression: the +gzip / .gzip and
// +zstd suffixes of OCI and Docker layer types; None for plain tar types and for
// types that name no compression (docker-archive entries have no media type).
Compression declared_compression(std::string_view media_type);

// How much output a stream may produce: at most `ratio` times its compressed
// size once it is past `floor` bytes. The default lets through every layer a
// real build makes: deflate cannot exceed about 1032:1 even on zeros, so no gzip
// layer ever trips 2048:1; zstd's RLE blocks reach tens of thousands to one, and
// that is where bombs live (a 1 MiB zstd blob that would fill terabytes is
// stopped at 2 GiB). The 1 GiB floor keeps tiny layers out of the ratio test.
//
// Time is bounded too, since a bomb that stays under the ratio can still keep a
// thread busy for hours: the time spent inside update()/finish() (decompressing
// and in the sink, never the caller's own reads between calls) may not exceed
// `grace` plus one second per `min_rate` compressed bytes fed. Real layers
// decompress at tens to hundreds of MiB/s of input, so the default (10 minutes
// plus 1 s per MiB) only stops a stream that is no layer; min_rate 0 turns the
// bound off. `clock` is steady_clock::now unless a test injects one.
struct DecodeLimits {
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  uint64_t floor = uint64_t{1} << 30;
  uint64_t ratio = 2048;
  std::chrono::seconds grace{600};
  uint64_t min_rate = uint64_t{1} << 20;  // compressed bytes per second beyond the grace
  Clock clock;
};

struct Decoded {
  digest::Digest diff_id;   // sha256 of the uncompressed bytes
  uint64_t size = 0;        // uncompressed length
  Compression compression = Compression::None;
};

// Not thread-safe; one per blob. update() any number of times, then finish()
// once. A failed update() (corrupt input: InvalidInput; a failing sink: its
// error) makes every later call return the same error.
class LayerDecoder {
 public:
  using Sink = std::function<core::Status(const unsigned char* data, size_t size)>;
  explicit LayerDecoder(Sink sink = {}, DecodeLimits limits = {});
  ~LayerDecoder();
  LayerDecoder(const LayerDecoder&) = delete;
  LayerDecoder& operator=(const LayerDecoder&) = delete;

  [[nodiscard]] core::Status update(const char* data, size_t size);
  // InvalidInput when the stream is corrupt or ends inside a member or frame.
  [[nodiscard]] core::Result<Decoded> finish();
  // The format seen so far (None until four bytes came, or finish()).
  Compression compression() const;

  struct State;

 private:
  core::Status update_timed(const char* data, size_t size);  // update() inside the time bound's clock
  std::unique_ptr<State> state_;
};

// Reads `src_fd` to its end, writes the decompressed bytes to `dst_fd`. Paths only
// name the files in errors; corrupt input names `src`.
[[nodiscard]] core::Result<Decoded> decode_fd_to_fd(int src_fd, std::string_view src, int dst_fd,
                                                    std::string_view dst, DecodeLimits limits = {});

// The same without an output: what `src_fd` decompresses to (its diff_id and size).
[[nodiscard]] core::Result<Decoded> decode_fd(int src_fd, std::string_view src, DecodeLimits limits = {});

}  // namespace ferry::codec
