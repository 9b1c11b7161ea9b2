// LayerDecoder over zlib's inflate (gzip) and libzstd's streaming decompressor.
//
// State holds what every format shares (the sha256 of the output, the output
// buffer, the bomb limit, the sink, the sticky error); the per-format loops are
// feed_gzip / feed_zstd. Until four bytes have come, they are kept in `head` so
// that detection does not depend on how the caller cut its chunks.
#include "codec/layer_decoder.h"

#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace ferry::codec {

namespace {

constexpr size_t kOutBuffer = 256 * 1024;  // one fixed output buffer, whatever the layer
constexpr size_t kInBuffer = 256 * 1024;   // decode_fd_to_fd's read size
constexpr int kAutoDetectWindow = 15 + 32;  // max window, gzip or zlib header
constexpr size_t kMagicBytes = 4;           // zstd's magic is the longest

core::Error invalid(std::string message) {
  return core::error(core::ErrorKind::InvalidInput, std::move(message));
}

}  // namespace

std::string_view to_string(Compression c) {
  switch (c) {
    case Compression::None: return "plain";
    case Compression::Gzip: return "gzip";
    case Compression::Zstd: return "zstd";
  }
  return "plain";
}

Compression detect(std::string_view head) {
  if (head.size() >= 2 && head[0] == '\x1f' && head[1] == '\x8b') return Compression::Gzip;
  if (head.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4)) return Compression::Zstd;
  return Compression::None;
}

Compression declared_compression(std::string_view media_type) {
  if (media_type.ends_with("+gzip") || media_type.ends_with(".gzip")) return Compression::Gzip;
  if (media_type.ends_with("+zstd") || media_type.ends_with(".zstd")) return Compression::Zstd;
  return Compression::None;
}

struct LayerDecoder::State {
  Sink sink;
  DecodeLimits limits;
  std::optional<Compression> format;  // unset until detected
  std::string head;                   // the first bytes, until detection
  uint64_t fed = 0;                   // compressed bytes given to update()
  std::optional<core::Error> error;
  std::chrono::steady_clock::duration spent{};         // inside update()/finish() so far
  std::chrono::steady_clock::time_point entered{};     // when the current call began
  std::unique_ptr<unsigned char[]> out = std::make_unique<unsigned char[]>(kOutBuffer);
  digest::Sha256 hasher;
  // gzip
  z_stream zs{};
  bool zs_ready = false;
  bool in_member = true;  // the input may not end here (nor before the first member)
  // zstd
  ZSTD_DStream* zd = nullptr;
  size_t zstd_pending = 1;  // libzstd's last return: 0 only at a frame's end

  ~State() {
    if (zs_ready) inflateEnd(&zs);
    ZSTD_freeDStream(zd);
  }

  core::Status failed(core::Error e) {
    error = std::move(e);
    return core::fail(*error);
  }

  std::chrono::steady_clock::time_point now() const {
    return limits.clock ? limits.clock() : std::chrono::steady_clock::now();
  }
  void enter() { entered = now(); }
  void leave() { spent += now() - entered; }

  // The time bound: grace + fed / min_rate seconds inside this decoder.
  core::Status check_time() {
    if (limits.min_rate == 0) return {};
    const auto used = spent + (now() - entered);
    const auto allowed = std::chrono::duration<double>(limits.grace) +
                         std::chrono::duration<double>(static_cast<double>(fed) / static_cast<double>(limits.min_rate));
    if (used <= allowed) return {};
    return failed(invalid(fmt::format(
        "{} stream still decompressing after {:.0f} s for {} compressed bytes (at most {} s plus 1 s per {} "
        "compressed bytes): refused as a decompression bomb",
        to_string(format.value_or(Compression::None)), std::chrono::duration<double>(used).count(), fed,
        limits.grace.count(), limits.min_rate)));
  }

  // Hashes `n` bytes of output, checks the bomb limits, hands them to the sink.
  core::Status emit(const unsigned char* data, size_t n) {
    if (n == 0) return {};
    if (auto st = check_time(); !st) return st;
    hasher.update(data, n);
    const uint64_t produced = hasher.bytes();
    uint64_t allowed = 0;
    if (__builtin_mul_overflow(fed, limits.ratio, &allowed)) allowed = UINT64_MAX;
    if (produced > limits.floor && produced > allowed) {
      return failed(invalid(fmt::format("{} stream decompresses to more than {} times its {} compressed bytes "
                                        "(past {} bytes): refused as a decompression bomb",
                                        to_string(*format), limits.ratio, fed, limits.floor)));
    }
    if (!sink) return {};
    if (auto st = sink(data, n); !st) return failed(std::move(st.error()));
    return {};
  }

  core::Status start(Compression c);
  core::Status feed(const unsigned char* data, size_t size);
  core::Status feed_gzip(const unsigned char* data, size_t size);
  core::Result<int> inflate_step();
  core::Status feed_zstd(const unsigned char* data, size_t size);
};

core::Status LayerDecoder::State::start(Compression c) {
  format = c;
  if (c == Compression::Gzip) {
    if (inflateInit2(&zs, kAutoDetectWindow) != Z_OK) {
      return failed(core::error(core::ErrorKind::Internal, "zlib inflateInit2 failed"));
    }
    zs_ready = true;
  } else if (c == Compression::Zstd) {
    zd = ZSTD_createDStream();
    if (zd == nullptr || ZSTD_isError(ZSTD_initDStream(zd))) {
      return failed(core::error(core::ErrorKind::Internal, "libzstd: cannot create a decompression context"));
    }
  }
  std::string first = std::move(head);
  head.clear();
  return feed(reinterpret_cast<const unsigned char*>(first.data()), first.size());
}

core::Status LayerDecoder::State::feed(const unsigned char* data, size_t size) {
  if (size == 0) return {};
  switch (*format) {
    case Compression::None: return emit(data, size);
    case Compression::Gzip: return feed_gzip(data, size);
    case Compression::Zstd: return feed_zstd(data, size);
  }
  return {};
}

// One inflate call into the output buffer, its output handed on: zlib's code, or
// the error (corrupt data, a failing sink). A finished member clears in_member.
core::Result<int> LayerDecoder::State::inflate_step() {
  zs.next_out = out.get();
  zs.avail_out = static_cast<uInt>(kOutBuffer);
  int rc = inflate(&zs, Z_NO_FLUSH);
  if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
    return core::fail(failed(invalid(fmt::format("corrupt gzip data: {}", zs.msg != nullptr ? zs.msg : "inflate failed")))
                          .error());
  }
  if (auto st = emit(out.get(), kOutBuffer - zs.avail_out); !st) return core::fail(st.error());
  if (rc == Z_STREAM_END) in_member = false;
  return rc;
}

core::Status LayerDecoder::State::feed_gzip(const unsigned char* data, size_t size) {
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  while (zs.avail_in > 0) {
    if (!in_member) {
      inflateReset(&zs);  // another member follows
      in_member = true;
    }
    auto rc = inflate_step();
    if (!rc) return core::fail(rc.error());
    if (*rc == Z_BUF_ERROR && zs.avail_out != 0) break;  // needs more input
  }
  // Drain output still pending for the input already taken.
  while (in_member) {
    auto rc = inflate_step();
    if (!rc) return core::fail(rc.error());
    if (*rc != Z_OK || zs.avail_out != 0) break;
  }
  return {};
}

core::Status LayerDecoder::State::feed_zstd(const unsigned char* data, size_t size) {
  ZSTD_inBuffer in{data, size, 0};
  for (;;) {
    ZSTD_outBuffer o{out.get(), kOutBuffer, 0};
    size_t rc = ZSTD_decompressStream(zd, &o, &in);
    if (ZSTD_isError(rc)) return failed(invalid(fmt::format("corrupt zstd data: {}", ZSTD_getErrorName(rc))));
    if (auto st = emit(out.get(), o.pos); !st) return st;
    zstd_pending = rc;
    if (in.pos < in.size) continue;
    // The input is taken; libzstd may still hold output for it (a RLE block is a
    // few bytes in, 128 KiB out), so call until a frame ends or nothing comes.
    if (rc == 0 || o.pos == 0) return {};
  }
}

LayerDecoder::LayerDecoder(Sink sink, DecodeLimits limits) : state_(std::make_unique<State>()) {
  state_->sink = std::move(sink);
  state_->limits = limits;
}

LayerDecoder::~LayerDecoder() = default;

Compression LayerDecoder::compression() const { return state_->format.value_or(Compression::None); }

core::Status LayerDecoder::update(const char* data, size_t size) {
  State& s = *state_;
  if (s.error) return core::fail(*s.error);
  s.enter();
  auto st = update_timed(data, size);
  s.leave();
  return st;
}

core::Status LayerDecoder::update_timed(const char* data, size_t size) {
  State& s = *state_;
  s.fed += size;
  auto bytes = reinterpret_cast<const unsigned char*>(data);
  if (!s.format) {
    size_t take = std::min(size, kMagicBytes - s.head.size());
    s.head.append(data, take);
    if (s.head.size() < kMagicBytes) return {};
    if (auto st = s.start(detect(s.head)); !st) return st;
    bytes += take;
    size -= take;
  }
  return s.feed(bytes, size);
}

core::Result<Decoded> LayerDecoder::finish() {
  State& s = *state_;
  if (s.error) return core::fail(*s.error);
  s.enter();
  if (!s.format) {
    if (auto st = s.start(detect(s.head)); !st) return core::fail(std::move(st.error()));
  }
  if (*s.format == Compression::Gzip && s.in_member) return core::fail(invalid("gzip stream truncated"));
  if (*s.format == Compression::Zstd && s.zstd_pending != 0) return core::fail(invalid("zstd stream truncated"));
  uint64_t size = s.hasher.bytes();
  return Decoded{s.hasher.finish(), size, *s.format};
}

namespace {

core::Status write_all(int fd, const unsigned char* data, size_t size, std::string_view path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("write", path, errno));
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

namespace {
core::Result<Decoded> decode_with(LayerDecoder& decoder, int src_fd, std::string_view src) {
  auto named = [src](core::Error e) {  // corrupt input names the file; I/O errors already do
    if (e.kind == core::ErrorKind::InvalidInput) e.context(fmt::format("decompress {}", src));
    return e;
  };
  auto in = std::make_unique<char[]>(kInBuffer);
  for (;;) {
    ssize_t n = ::read(src_fd, in.get(), kInBuffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", src, errno));
    if (n == 0) break;
    if (auto st = decoder.update(in.get(), static_cast<size_t>(n)); !st) return core::fail(named(std::move(st.error())));
  }
  auto r = decoder.finish();
  if (!r) return core::fail(named(std::move(r.error())));
  return r;
}
}  // namespace

core::Result<Decoded> decode_fd_to_fd(int src_fd, std::string_view src, int dst_fd, std::string_view dst,
                                      DecodeLimits limits) {
  LayerDecoder decoder(
      [dst_fd, dst](const unsigned char* data, size_t size) { return write_all(dst_fd, data, size, dst); }, limits);
  return decode_with(decoder, src_fd, src);
}

core::Result<Decoded> decode_fd(int src_fd, std::string_view src, DecodeLimits limits) {
  LayerDecoder decoder({}, limits);
  return decode_with(decoder, src_fd, src);
}

}  // namespace ferry::codec
