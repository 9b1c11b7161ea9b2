// libFuzzer target: codec::LayerDecoder over arbitrary bytes (gzip, zstd or plain by
// magic, multi-member gzip, concatenated zstd frames, corrupt and truncated streams,
// bombs). The first byte picks the chunk size the input is fed in; the rest is the
// layer. Invariants: the sink sees exactly Decoded.size bytes whose sha256 is the
// diff_id; feeding the same bytes in one piece gives the same verdict and result
// (but for where the bomb limit trips);
// output stays within the limits; errors are one line.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <string>

#include "codec/layer_decoder.h"
#include "digest/digest.h"
#include "fuzz_check.h"

namespace {

using namespace ferry;

codec::DecodeLimits limits_for_fuzzing() {
  codec::DecodeLimits l;
  l.floor = 1 << 20;  // 1 MiB floor, 64:1: bombs stop fast
  l.ratio = 64;
  return l;
}
const codec::DecodeLimits kLimits = limits_for_fuzzing();

struct Run {
  core::Result<codec::Decoded> result = core::fail(core::ErrorKind::Internal, "not run");
  uint64_t seen = 0;
  digest::Sha256 hash;
};

void decode(std::string_view layer, size_t chunk, Run& run) {
  codec::LayerDecoder dec(
      [&run](const unsigned char* data, size_t size) -> core::Status {
        run.seen += size;
        run.hash.update(data, size);
        return {};
      },
      kLimits);
  for (size_t at = 0; at < layer.size(); at += chunk) {
    const std::string_view piece = layer.substr(at, chunk);
    if (auto st = dec.update(piece.data(), piece.size()); !st) {
      fuzz::check_error(st.error());
      run.result = core::fail(st.error());
      auto again = dec.finish();  // a failed decoder keeps failing
      FUZZ_CHECK(!again);
      return;
    }
  }
  run.result = dec.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 64;
  const std::string_view layer = fuzz::as_view(data + 1, size - 1);
  Run pieces, whole;
  decode(layer, chunk, pieces);
  decode(layer, layer.size() + 1, whole);
  // The bomb limit is checked against the compressed bytes fed so far, so where it
  // trips depends on the chunking; every other verdict must not.
  auto bomb = [](const Run& r) {
    return !r.result && r.result.error().message.find("decompression bomb") != std::string::npos;
  };
  if (bomb(pieces) || bomb(whole)) return 0;
  FUZZ_CHECK(pieces.result.has_value() == whole.result.has_value());
  if (!pieces.result) {
    fuzz::check_error(pieces.result.error());
    return 0;
  }
  const codec::Decoded& d = *pieces.result;
  FUZZ_CHECK(d.size == pieces.seen);
  FUZZ_CHECK(d.size <= std::max<uint64_t>(kLimits.floor, kLimits.ratio * layer.size()));
  FUZZ_CHECK(d.diff_id == pieces.hash.finish());
  FUZZ_CHECK(d.diff_id == whole.result->diff_id && d.size == whole.result->size);
  FUZZ_CHECK(d.compression == whole.result->compression);
  return 0;
}
