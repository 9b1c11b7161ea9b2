#include "digest/digest.h"

#include <gtest/gtest.h>

#include <string>

using ferry::core::ErrorKind;
using ferry::digest::Digest;
using ferry::digest::Sha256;
using ferry::digest::sha256_of;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_of("abc").str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, StreamingEqualsOneShotAndResets) {
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 977) h.update(std::string_view(data).substr(i, 977));
  EXPECT_EQ(h.bytes(), data.size());
  EXPECT_EQ(h.finish(), sha256_of(data));
  EXPECT_EQ(h.bytes(), 0u);
  EXPECT_EQ(h.finish(), sha256_of(""));
}

TEST(DigestParse, AcceptsCanonicalSha256) {
  auto d = Digest::parse("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->hex().size(), 64u);
  EXPECT_EQ(d->short_hex(), "ba7816bf8f01");
}

TEST(DigestParse, RejectsUnsafeOrMalformed) {
  struct Case {
    const char* text;
    ErrorKind kind;
    const char* mentions;
  } cases[] = {
      {"", ErrorKind::InvalidInput, "missing algorithm"},
      {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ErrorKind::InvalidInput,
       "missing algorithm"},
      {"sha256:../../x", ErrorKind::InvalidInput, "64 hex"},
      {"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
       ErrorKind::InvalidInput, "lowercase"},
      {"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a/", ErrorKind::InvalidInput,
       "lowercase"},
      {"sha512:abcd", ErrorKind::Unsupported, "sha512"},
      {"md5:d41d8cd98f00b204e9800998ecf8427e", ErrorKind::Unsupported, "md5"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto d = Digest::parse(c.text);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, c.kind);
    EXPECT_NE(d.error().message.find(c.mentions), std::string::npos) << d.error().message;
  }
}
