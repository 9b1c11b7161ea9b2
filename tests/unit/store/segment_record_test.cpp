// The segment record: what ferry writes parses back; anything doubtful is refused so
// that the blob starts over instead of trusting a wrong map of the partial.
#include "store/segment_record.h"

#include <gtest/gtest.h>

namespace ferry::store {
namespace {

TEST(SegmentRecord, WhatIsWrittenParsesBack) {
  const std::vector<ByteRange> held{{0, 100}, {200, 300}, {900, 1000}};
  const std::string text = format_segment_record(1000, held);
  EXPECT_EQ(text, "ferry-segments 1 1000\n0 100\n200 300\n900 1000\nend\n");
  auto back = parse_segment_record(text, 1000);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, held);
  auto none = parse_segment_record(format_segment_record(5, {}), 5);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(SegmentRecord, BytesAfterEndAreTheTailOfALongerOldRecord) {
  auto r = parse_segment_record("ferry-segments 1 10\n0 5\nend\n6 7\nend\n", 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<ByteRange>{{0, 5}}));
}

TEST(SegmentRecord, DoubtIsRefused) {
  const std::string head = "ferry-segments 1 1000\n";
  for (const std::string& bad : std::vector<std::string>{
           head,                                  // no end
           head + "0 100\n",                      // no end
           head + "0 100\nend",                   // end without its newline
           std::string("ferry-segments 2 1000\nend\n"),  // another version
           std::string("ferry-segments 1 999\nend\n"),   // another blob size
           head + "100 100\nend\n",               // empty range
           head + "200 100\nend\n",               // backwards
           head + "0 1001\nend\n",                // past the blob
           head + "0 100\n50 150\nend\n",         // overlapping
           head + "200 300\n0 100\nend\n",        // out of order
           head + "0  100\nend\n",                // not exactly two numbers
           head + "0 100 \nend\n", head + "-1 100\nend\n", head + "0 1e3\nend\n",
           head + "0 18446744073709551616\nend\n",  // overflow
       }) {
    EXPECT_FALSE(parse_segment_record(bad, 1000)) << bad;
  }
  EXPECT_FALSE(parse_segment_record("ferry-segments 1 -1\nend\n", -1));  // unknown size: never segmented
}

}  // namespace
}  // namespace ferry::store
