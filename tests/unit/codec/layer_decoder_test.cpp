// LayerDecoder: format detection, gzip members and zstd frames as one stream,
// chunking that does not change the result, truncated and corrupt input, the
// decompression-bomb limit, and a failing sink. Test data is made here with zlib
// and libzstd, so the decoder is checked against the reference encoders.
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "codec/layer_decoder.h"
#include "support/temp_dir.h"
#include "support/gzip.h"

using ferry::codec::Compression;
using ferry::codec::DecodeLimits;
using ferry::codec::LayerDecoder;
using ferry::core::ErrorKind;
using ferry::digest::sha256_of;

namespace {

std::string gzip(std::string_view data) { return ferry::testing::gzip(data, 9); }

std::string zstd(std::string_view data, int level = 3) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

// A skippable frame (magic 0x184D2A50, little-endian length, payload).
std::string skippable(std::string_view payload) {
  std::string f("\x50\x2a\x4d\x18", 4);
  uint32_t n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return f + std::string(payload);
}

struct Out {
  std::string bytes;
  ferry::core::Result<ferry::codec::Decoded> result = ferry::core::fail(ErrorKind::Internal, "not run");
};

// Feeds `in` in chunks of `chunk` bytes, collecting the output.
Out decode(const std::string& in, size_t chunk, DecodeLimits limits = {}) {
  Out o;
  LayerDecoder d(
      [&o](const unsigned char* p, size_t n) {
        o.bytes.append(reinterpret_cast<const char*>(p), n);
        return ferry::core::Status{};
      },
      limits);
  for (size_t at = 0; at < in.size(); at += chunk) {
    auto st = d.update(in.data() + at, std::min(chunk, in.size() - at));
    if (!st) {
      o.result = ferry::core::fail(std::move(st.error()));
      return o;
    }
  }
  o.result = d.finish();
  return o;
}

DecodeLimits ratio_limits(uint64_t floor, uint64_t ratio) {
  DecodeLimits l;
  l.floor = floor;
  l.ratio = ratio;
  return l;
}

// Text that compresses somewhat, but not to nothing.
std::string sample(size_t n, char seed) {
  std::string s;
  s.reserve(n);
  uint32_t x = static_cast<unsigned char>(seed) * 2654435761u;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s.push_back(static_cast<char>('a' + (x >> 16) % 7));
  }
  return s;
}

}  // namespace

TEST(LayerDecoderDetect, ByMagicBytesAndByMediaType) {
  EXPECT_EQ(ferry::codec::detect(std::string("\x1f\x8b\x08\x00", 4)), Compression::Gzip);
  EXPECT_EQ(ferry::codec::detect(std::string("\x28\xb5\x2f\xfd", 4)), Compression::Zstd);
  EXPECT_EQ(ferry::codec::detect("ustar"), Compression::None);
  EXPECT_EQ(ferry::codec::detect(""), Compression::None);
  EXPECT_EQ(ferry::codec::declared_compression("application/vnd.oci.image.layer.v1.tar+zstd"), Compression::Zstd);
  EXPECT_EQ(ferry::codec::declared_compression("application/vnd.oci.image.layer.v1.tar+gzip"), Compression::Gzip);
  EXPECT_EQ(ferry::codec::declared_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Gzip);
  EXPECT_EQ(ferry::codec::declared_compression("application/vnd.oci.image.layer.v1.tar"), Compression::None);
}

TEST(LayerDecoder, EveryFormatGivesTheSameDigestWhateverTheChunking) {
  const std::string a = sample(70000, 'a'), b = sample(400000, 'b');
  struct Case {
    const char* name;
    std::string input;
    Compression format;
  };
  const Case cases[] = {
      {"plain", a + b, Compression::None},
      {"one gzip member", gzip(a + b), Compression::Gzip},
      {"two gzip members", gzip(a) + gzip(b), Compression::Gzip},
      {"one zstd frame", zstd(a + b), Compression::Zstd},
      {"two zstd frames", zstd(a) + zstd(b, 19), Compression::Zstd},
      {"zstd frames around a skippable frame", zstd(a) + skippable("ferry") + zstd(b), Compression::Zstd},
  };
  for (const auto& c : cases) {
    for (size_t chunk : {size_t{1}, size_t{3}, size_t{4096}, c.input.size()}) {
      if (chunk == 1 && c.input.size() > 200000) continue;  // byte-at-a-time on the small cases is enough
      SCOPED_TRACE(std::string(c.name) + " chunk=" + std::to_string(chunk));
      auto o = decode(c.input, chunk);
      ASSERT_TRUE(o.result) << o.result.error().message;
      EXPECT_EQ(o.result->compression, c.format);
      EXPECT_EQ(o.result->size, a.size() + b.size());
      EXPECT_EQ(o.result->diff_id, sha256_of(a + b));
      EXPECT_TRUE(o.bytes == a + b);
    }
  }
}

TEST(LayerDecoder, TruncatedOrCorruptInputIsInvalidInputNamingTheFormat) {
  const std::string a = sample(100000, 'c');
  const std::string z = zstd(a), g = gzip(a);
  std::string flipped = z;
  flipped[flipped.size() / 2] ^= 0x55;
  struct Case {
    const char* name;
    std::string input;
    const char* says;
  };
  const Case cases[] = {
      {"zstd cut in its middle", z.substr(0, z.size() / 2), "zstd"},
      {"zstd missing its last byte", z.substr(0, z.size() - 1), "zstd"},
      {"zstd magic only", z.substr(0, 4), "zstd"},
      {"zstd with a flipped byte", flipped, "zstd"},
      {"zstd then junk", z + "trailing junk", "zstd"},
      {"gzip cut", g.substr(0, 40), "gzip"},
      {"gzip then junk", g + "trailing junk", "gzip"},
      {"gzip magic only", g.substr(0, 2), "gzip"},
  };
  for (const auto& c : cases) {
    for (size_t chunk : {size_t{5}, c.input.size()}) {
      SCOPED_TRACE(std::string(c.name) + " chunk=" + std::to_string(chunk));
      auto o = decode(c.input, chunk);
      ASSERT_FALSE(o.result);
      EXPECT_EQ(o.result.error().kind, ErrorKind::InvalidInput);
      EXPECT_NE(o.result.error().message.find(c.says), std::string::npos) << o.result.error().message;
    }
  }
}

TEST(LayerDecoder, RefusesOutputPastTheRatioLimitOnceBeyondTheFloor) {
  const std::string zeros(4 << 20, '\0');  // 4 MiB of zeros: zstd makes a few hundred bytes of it
  const std::string z = zstd(zeros, 19), g = gzip(zeros);
  ASSERT_GT(zeros.size() / z.size(), 1000u);
  for (const std::string* in : {&z, &g}) {
    SCOPED_TRACE(in == &z ? "zstd" : "gzip");
    auto bomb = decode(*in, 4096, ratio_limits(1 << 20, 100));  // past 1 MiB, at most 100:1
    ASSERT_FALSE(bomb.result);
    EXPECT_EQ(bomb.result.error().kind, ErrorKind::InvalidInput);
    EXPECT_NE(bomb.result.error().message.find("decompression bomb"), std::string::npos)
        << bomb.result.error().message;
    EXPECT_LE(bomb.bytes.size(), (1u << 20) + (256u << 10));  // stopped at the floor, within one buffer
    // Under the floor, or within the ratio, the same input is fine.
    auto under = decode(*in, 4096, ratio_limits(8 << 20, 100));
    EXPECT_TRUE(under.result) << under.result.error().message;
    auto fine = decode(*in, 4096, ratio_limits(1 << 20, 1 << 20));
    EXPECT_TRUE(fine.result) << fine.result.error().message;
  }
  // The default limit: gzip can never reach 2048:1, so even zeros pass.
  EXPECT_TRUE(decode(g, g.size()).result);
}

// The time bound, on an injected clock: the sink moves time forward, as a slow
// decompression would. Time the caller spends between calls is not counted.
TEST(LayerDecoder, RefusesAStreamThatOutlastsItsTimeBound) {
  const std::string g = gzip(sample(2 << 20, 't')), z = zstd(sample(2 << 20, 't'));  // several output buffers
  for (const std::string* in : {&g, &z}) {
    const std::string name = in == &g ? "gzip" : "zstd";
    SCOPED_TRACE(name);
    auto t = std::chrono::steady_clock::time_point{};
    DecodeLimits limits;  // the default bound: 600 s + 1 s per MiB
    limits.clock = [&t] { return t; };
    // 700 s inside the decoder for well under 1 MiB of input: past 600 s + ~0.3 s.
    int chunks = 0;
    LayerDecoder slow(
        [&](const unsigned char*, size_t) {
          if (++chunks == 1) t += std::chrono::seconds(700);
          return ferry::core::Status{};
        },
        limits);
    auto st = slow.update(in->data(), in->size());
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::InvalidInput);
    EXPECT_NE(st.error().message.find(name + " stream still decompressing after 700 s"), std::string::npos)
        << st.error().message;
    EXPECT_NE(st.error().message.find("decompression bomb"), std::string::npos) << st.error().message;
    EXPECT_FALSE(slow.update(in->data(), 1));  // sticky

    // 500 s inside is within the bound.
    t = {};
    chunks = 0;
    LayerDecoder within(
        [&](const unsigned char*, size_t) {
          if (++chunks == 1) t += std::chrono::seconds(500);
          return ferry::core::Status{};
        },
        limits);
    ASSERT_TRUE(within.update(in->data(), in->size()));
    EXPECT_TRUE(within.finish());

    // Hours between calls (a slow source) do not count; min_rate 0 turns it off.
    t = {};
    LayerDecoder waiting({}, limits);
    const size_t half = in->size() / 2;
    ASSERT_TRUE(waiting.update(in->data(), half));
    t += std::chrono::hours(5);
    ASSERT_TRUE(waiting.update(in->data() + half, in->size() - half));
    EXPECT_TRUE(waiting.finish());
    DecodeLimits off = limits;
    off.min_rate = 0;
    chunks = 0;
    LayerDecoder unbounded(
        [&](const unsigned char*, size_t) {
          t += std::chrono::hours(1);
          return ferry::core::Status{};
        },
        off);
    ASSERT_TRUE(unbounded.update(in->data(), in->size()));
    EXPECT_TRUE(unbounded.finish());
  }
}

TEST(LayerDecoder, AFailingSinkStopsItAndTheErrorSticks) {
  const std::string z = zstd(sample(300000, 'd'));
  int calls = 0;
  LayerDecoder failing([&calls](const unsigned char*, size_t) {
    ++calls;
    return ferry::core::Status(ferry::core::fail(ErrorKind::Io, "disk full"));
  });
  auto st = failing.update(z.data(), z.size());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::Io);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(failing.update(z.data(), 1));
  EXPECT_EQ(calls, 1);
  ASSERT_FALSE(failing.finish());
}

TEST(LayerDecoder, DecodesAFileIntoAnotherNamingTheSourceOnCorruption) {
  ferry::testing::TempDir tmp;
  const std::string a = sample(50000, 'e'), b = sample(50000, 'f');
  auto run = [&](const std::string& input) {
    auto in_path = tmp.path() / "in", out_path = tmp.path() / "out";
    {
      int fd = ::open(in_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      EXPECT_EQ(::write(fd, input.data(), input.size()), static_cast<ssize_t>(input.size()));
      ::close(fd);
    }
    int in = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    auto r = ferry::codec::decode_fd_to_fd(in, "layer.zst", out, "out");
    ::close(in);
    ::close(out);
    return r;
  };
  auto ok = run(zstd(a) + zstd(b));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->diff_id, sha256_of(a + b));
  EXPECT_EQ(ok->size, a.size() + b.size());
  auto bad = run(zstd(a).substr(0, 100));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::InvalidInput);
  EXPECT_NE(bad.error().message.find("layer.zst"), std::string::npos) << bad.error().message;
}
