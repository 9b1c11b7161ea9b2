// libFuzzer target: store::parse_segment_record, the ingest/<hex>.segments record a
// later run trusts to resume a partial. The first 8 bytes are the blob size (a
// negative one included); the rest is the record. Accepted ranges must lie in the
// blob, ascending and apart, and write back to a record that parses to the same.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_check.h"
#include "store/segment_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;
  if (size < 8) return 0;
  int64_t blob_size = 0;
  std::memcpy(&blob_size, data, 8);
  const std::string_view text = fuzz::as_view(data + 8, size - 8);
  auto ranges = store::parse_segment_record(text, blob_size);
  if (!ranges) return 0;
  FUZZ_CHECK(blob_size >= 0);
  uint64_t end = 0;
  for (const auto& r : *ranges) {
    FUZZ_CHECK(r.from < r.to);
    FUZZ_CHECK(r.to <= static_cast<uint64_t>(blob_size));
    FUZZ_CHECK(r.from >= end);
    end = r.to;
  }
  auto again = store::parse_segment_record(store::format_segment_record(blob_size, *ranges), blob_size);
  FUZZ_CHECK(again && *again == *ranges);
  return 0;
}
