// The segment record, ingest/<hex>.segments: which byte ranges of a partial hold
// data when a blob is fetched as parallel Range segments.
//
//   ferry-segments 1 SIZE\n      SIZE: the blob's descriptor size
//   FROM TO\n ...                 [FROM, TO), ascending, not overlapping, TO <= SIZE
//   end\n                         anything after "end" is left from a longer record
//
// The record is a hint read back from the disk: anything else is doubt (nullopt),
// and the caller starts the blob over rather than trust it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::store {

// A byte range [from, to) of a blob.
struct ByteRange {
  uint64_t from = 0, to = 0;
  uint64_t size() const { return to - from; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

std::string format_segment_record(int64_t size, const std::vector<ByteRange>& held);
std::optional<std::vector<ByteRange>> parse_segment_record(std::string_view text, int64_t size);

}  // namespace ferry::store
