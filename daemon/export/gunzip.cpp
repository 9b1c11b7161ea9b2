// gzip -> file with sha256 of the output, over zlib's inflate.
#include "export/gunzip.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "store/fs_util.h"

namespace ferry::exporter {

namespace {

constexpr size_t kInBuffer = 256 * 1024;
constexpr size_t kOutBuffer = 256 * 1024;
constexpr int kAutoDetectWindow = 15 + 32;  // max window, gzip or zlib header

}  // namespace

struct GunzipHasher::State {
  z_stream zs{};
  bool initialised = false;
  bool in_member = true;  // inside a member: the input may not end here (nor before the first)
  std::optional<core::Error> error;
  std::unique_ptr<unsigned char[]> out = std::make_unique<unsigned char[]>(kOutBuffer);
  digest::Sha256 hasher;
  Sink sink;
  ~State() {
    if (initialised) inflateEnd(&zs);
  }

  core::Status failed(core::Error e) {
    error = std::move(e);
    return core::fail(*error);
  }
  // Hashes what inflate() produced into `out` and hands it to the sink.
  core::Status emit() {
    const size_t produced = kOutBuffer - zs.avail_out;
    if (produced == 0) return {};
    hasher.update(out.get(), produced);
    if (!sink) return {};
    if (auto st = sink(out.get(), produced); !st) return failed(std::move(st.error()));
    return {};
  }
};

GunzipHasher::GunzipHasher(Sink sink) : state_(std::make_unique<State>()) {
  state_->sink = std::move(sink);
  if (inflateInit2(&state_->zs, kAutoDetectWindow) == Z_OK) {
    state_->initialised = true;
  } else {
    state_->error = core::Error{core::ErrorKind::Internal, "zlib inflateInit2 failed", 0, {}, std::nullopt};
  }
}

GunzipHasher::~GunzipHasher() = default;

core::Status GunzipHasher::update(const char* data, size_t size) {
  State& s = *state_;
  if (s.error) return core::fail(*s.error);
  auto corrupt = [&s] {
    return s.failed(core::Error{core::ErrorKind::InvalidInput, s.zs.msg != nullptr ? s.zs.msg : "corrupt gzip data",
                                0, {}, std::nullopt});
  };
  s.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  s.zs.avail_in = static_cast<uInt>(size);
  while (s.zs.avail_in > 0) {
    if (!s.in_member) {
      inflateReset(&s.zs);  // another member follows
      s.in_member = true;
    }
    s.zs.next_out = s.out.get();
    s.zs.avail_out = static_cast<uInt>(kOutBuffer);
    int rc = inflate(&s.zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return corrupt();
    if (auto st = s.emit(); !st) return st;
    if (rc == Z_STREAM_END) s.in_member = false;
    if (rc == Z_BUF_ERROR && s.zs.avail_out != 0) break;  // needs more input
  }
  // Drain output still pending for the input already taken.
  while (s.in_member) {
    s.zs.next_out = s.out.get();
    s.zs.avail_out = static_cast<uInt>(kOutBuffer);
    int rc = inflate(&s.zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return corrupt();
    if (auto st = s.emit(); !st) return st;
    if (rc == Z_STREAM_END) s.in_member = false;
    if (rc != Z_OK || s.zs.avail_out != 0) break;
  }
  return {};
}

core::Result<Inflated> GunzipHasher::finish() {
  State& s = *state_;
  if (s.error) return core::fail(*s.error);
  if (s.in_member) return core::fail(core::ErrorKind::InvalidInput, "gzip stream truncated");
  uint64_t size = s.hasher.bytes();
  return Inflated{s.hasher.finish(), size};
}

core::Result<Inflated> gunzip_to_fd(int src_fd, const std::filesystem::path& src, int dst_fd,
                                    const std::filesystem::path& dst) {
  GunzipHasher gunzip([dst_fd, &dst](const unsigned char* data, size_t size) {
    return store::write_all(dst_fd, reinterpret_cast<const char*>(data), size, dst);
  });
  auto named = [&src](core::Error e) {  // corrupt input names the file; I/O errors already do
    if (e.kind == core::ErrorKind::InvalidInput) e.context("decompress " + src.string());
    return e;
  };
  auto in = std::make_unique<char[]>(kInBuffer);
  for (;;) {
    ssize_t n = ::read(src_fd, in.get(), kInBuffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", src.string(), errno));
    if (n == 0) break;
    if (auto st = gunzip.update(in.get(), static_cast<size_t>(n)); !st) return core::fail(named(std::move(st.error())));
  }
  auto r = gunzip.finish();
  if (!r) return core::fail(named(std::move(r.error())));
  return r;
}

bool looks_gzip(std::string_view head) { return head.size() >= 2 && head[0] == '\x1f' && head[1] == '\x8b'; }

bool looks_zstd(std::string_view head) { return head.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4); }

}  // namespace ferry::exporter
