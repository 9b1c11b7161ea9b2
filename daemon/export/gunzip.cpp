// gzip -> file with sha256 of the output, over zlib's inflate.
#include "export/gunzip.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <memory>
#include <string_view>

#include <fmt/format.h>

namespace ferry::exporter {

namespace {

constexpr size_t kInBuffer = 256 * 1024;
constexpr size_t kOutBuffer = 256 * 1024;
constexpr int kAutoDetectWindow = 15 + 32;  // max window, gzip or zlib header

class Inflater {
 public:
  Inflater(int src_fd, const std::filesystem::path& src, int dst_fd, const std::filesystem::path& dst)
      : src_fd_(src_fd), src_(src), dst_fd_(dst_fd), dst_(dst),
        in_(std::make_unique<unsigned char[]>(kInBuffer)), out_(std::make_unique<unsigned char[]>(kOutBuffer)) {}
  ~Inflater() {
    if (initialised_) inflateEnd(&zs_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  core::Result<Inflated> run();

 private:
  core::Status fill();
  core::Status drain(size_t produced);
  core::Status corrupt(std::string_view why) const {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("decompress {}: {}", src_.string(), why));
  }

  int src_fd_;
  const std::filesystem::path& src_;
  int dst_fd_;
  const std::filesystem::path& dst_;
  std::unique_ptr<unsigned char[]> in_;
  std::unique_ptr<unsigned char[]> out_;
  z_stream zs_{};
  bool initialised_ = false;
  bool eof_ = false;
  digest::Sha256 hasher_;
};

core::Status Inflater::fill() {
  for (;;) {
    ssize_t n = ::read(src_fd_, in_.get(), kInBuffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", src_.string(), errno));
    zs_.next_in = in_.get();
    zs_.avail_in = static_cast<uInt>(n);
    eof_ = (n == 0);
    return {};
  }
}

core::Status Inflater::drain(size_t produced) {
  hasher_.update(out_.get(), produced);
  const unsigned char* p = out_.get();
  while (produced > 0) {
    ssize_t n = ::write(dst_fd_, p, produced);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("write", dst_.string(), errno));
    p += n;
    produced -= static_cast<size_t>(n);
  }
  return {};
}

core::Result<Inflated> Inflater::run() {
  if (inflateInit2(&zs_, kAutoDetectWindow) != Z_OK) {
    return core::fail(core::ErrorKind::Internal, "zlib inflateInit2 failed");
  }
  initialised_ = true;
  bool in_member = true;  // false between members: input may end cleanly there
  for (;;) {
    if (zs_.avail_in == 0) {
      if (auto st = fill(); !st) return core::fail(std::move(st.error()));
      if (eof_) {
        if (in_member) return core::fail(corrupt("gzip stream truncated").error());
        break;
      }
    }
    if (!in_member) {
      inflateReset(&zs_);  // another member follows
      in_member = true;
    }
    zs_.next_out = out_.get();
    zs_.avail_out = static_cast<uInt>(kOutBuffer);
    int rc = inflate(&zs_, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return core::fail(corrupt(zs_.msg != nullptr ? zs_.msg : "corrupt gzip data").error());
    }
    if (auto st = drain(kOutBuffer - zs_.avail_out); !st) return core::fail(std::move(st.error()));
    if (rc == Z_STREAM_END) in_member = false;
  }
  uint64_t size = hasher_.bytes();
  return Inflated{hasher_.finish(), size};
}

}  // namespace

core::Result<Inflated> gunzip_to_fd(int src_fd, const std::filesystem::path& src, int dst_fd,
                                    const std::filesystem::path& dst) {
  Inflater inflater(src_fd, src, dst_fd, dst);
  return inflater.run();
}

struct GunzipHasher::State {
  z_stream zs{};
  bool initialised = false;
  bool in_member = false;  // inside a member: the input may not end here
  std::string error;
  std::unique_ptr<unsigned char[]> out = std::make_unique<unsigned char[]>(kOutBuffer);
  digest::Sha256 hasher;
  ~State() {
    if (initialised) inflateEnd(&zs);
  }
};

GunzipHasher::GunzipHasher() : state_(std::make_unique<State>()) {
  if (inflateInit2(&state_->zs, kAutoDetectWindow) == Z_OK) {
    state_->initialised = true;
  } else {
    state_->error = "zlib inflateInit2 failed";
  }
}

GunzipHasher::~GunzipHasher() = default;

core::Status GunzipHasher::update(const char* data, size_t size) {
  State& s = *state_;
  if (!s.error.empty()) return core::fail(core::ErrorKind::InvalidInput, s.error);
  s.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  s.zs.avail_in = static_cast<uInt>(size);
  while (s.zs.avail_in > 0) {
    if (!s.in_member) {
      inflateReset(&s.zs);
      s.in_member = true;
    }
    s.zs.next_out = s.out.get();
    s.zs.avail_out = static_cast<uInt>(kOutBuffer);
    int rc = inflate(&s.zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      s.error = s.zs.msg != nullptr ? s.zs.msg : "corrupt gzip data";
      return core::fail(core::ErrorKind::InvalidInput, s.error);
    }
    s.hasher.update(s.out.get(), kOutBuffer - s.zs.avail_out);
    if (rc == Z_STREAM_END) s.in_member = false;
    if (rc == Z_BUF_ERROR && s.zs.avail_out != 0) break;  // needs more input
  }
  // Drain output still pending for the input already taken.
  while (s.in_member) {
    s.zs.next_out = s.out.get();
    s.zs.avail_out = static_cast<uInt>(kOutBuffer);
    int rc = inflate(&s.zs, Z_NO_FLUSH);
    size_t produced = kOutBuffer - s.zs.avail_out;
    s.hasher.update(s.out.get(), produced);
    if (rc == Z_STREAM_END) s.in_member = false;
    if (produced == 0 || rc != Z_OK) break;
  }
  return {};
}

core::Result<Inflated> GunzipHasher::finish() {
  State& s = *state_;
  if (!s.error.empty()) return core::fail(core::ErrorKind::InvalidInput, s.error);
  if (s.in_member) return core::fail(core::ErrorKind::InvalidInput, "gzip stream truncated");
  uint64_t size = s.hasher.bytes();
  return Inflated{s.hasher.finish(), size};
}

bool looks_gzip(std::string_view head) { return head.size() >= 2 && head[0] == '\x1f' && head[1] == '\x8b'; }

bool looks_zstd(std::string_view head) { return head.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4); }

}  // namespace ferry::exporter
