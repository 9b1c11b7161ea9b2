// http::parse_content_range: the forms RFC 9110 allows for a 206, and the lies and
// overflows a hostile server may send instead.
#include "http/content_range.h"

#include <gtest/gtest.h>

namespace ferry::http {
namespace {

TEST(ContentRange, ParsesTheCompleteAndTheUnknownLengthForms) {
  auto r = parse_content_range("bytes 100-199/1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 100u);
  EXPECT_EQ(r->last, 199u);
  EXPECT_EQ(r->complete, 1000u);
  auto star = parse_content_range(" Bytes 0-0/*\r\n");
  ASSERT_TRUE(star);
  EXPECT_EQ(star->first, 0u);
  EXPECT_EQ(star->last, 0u);
  EXPECT_FALSE(star->complete);
  auto big = parse_content_range("bytes 18446744073709551614-18446744073709551614/18446744073709551615");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->first, 18446744073709551614u);
}

TEST(ContentRange, RefusesWhatIsNotOneValidRange) {
  for (const char* bad : {"", "bytes", "bytes 100-", "bytes 100-199", "bytes -1-5/10", "bytes 5-4/10",
                          "bytes 0-9/10x", "bytes 0-10/10", "bytes 0-9/9", "items 0-9/10", "bytes  0-9/10",
                          "bytes 0 -9/10", "bytes +0-9/10", "bytes */1000", "bytes 0-9/",
                          // 2^64 + 100 would wrap to 100 without the overflow check
                          "bytes 18446744073709551716-18446744073709551716/18446744073709551717"}) {
    EXPECT_FALSE(parse_content_range(bad)) << bad;
  }
}

}  // namespace
}  // namespace ferry::http
