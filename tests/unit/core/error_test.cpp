#include "core/error.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "core/byte_sink.h"

using namespace ferry::core;

TEST(Error, RetryableFollowsStatusThenKind) {
  Error e = error(ErrorKind::NotFound, "x", 404);
  EXPECT_FALSE(e.retryable());
  e.http_status = 429;
  EXPECT_TRUE(e.retryable());
  e.http_status = 503;
  EXPECT_TRUE(e.retryable());
  Error net = error(ErrorKind::Network, "reset");
  EXPECT_TRUE(net.retryable());
  Error digest = error(ErrorKind::DigestMismatch, "bad");
  EXPECT_FALSE(digest.retryable());
}

TEST(Error, ContextPrefixesOutermostLast) {
  Error e = error(ErrorKind::Network, "connection reset");
  e.context("GET /v2/x/blobs/sha256:ab").context("pull x:1");
  EXPECT_EQ(e.message, "pull x:1: GET /v2/x/blobs/sha256:ab: connection reset");
}

TEST(Error, NoSpaceFromErrno) {
  EXPECT_EQ(errno_error("write", "/s/ingest/a", ENOSPC).kind, ErrorKind::NoSpace);
  EXPECT_EQ(errno_error("write", "/s/ingest/a", EIO).kind, ErrorKind::Io);
  EXPECT_NE(errno_error("write", "/s/ingest/a", EIO).message.find("/s/ingest/a"), std::string::npos);
}

TEST(StringSink, EnforcesLimit) {
  StringSink s(4);
  ASSERT_TRUE(s.write("abc", 3));
  EXPECT_FALSE(s.write("de", 2));
  EXPECT_EQ(s.data(), "abc");
  ASSERT_TRUE(s.restart());
  EXPECT_EQ(s.size(), 0u);
}

#include "core/redact.h"

TEST(Printable, EscapesControlBytesAndBytesThatAreNotUtf8) {
  EXPECT_EQ(printable("plain"), "plain");
  EXPECT_EQ(printable("a\x01\n\x7f"), "a\\x01\\x0a\\x7f");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 kept
  EXPECT_EQ(printable("caf\xe9"), "caf\\xe9");                            // Latin-1 escaped
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                       // overlong '/'
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");                       // cut sequence
  EXPECT_EQ(printable("abcdef", 3), "abc...");
  EXPECT_TRUE(is_utf8("caf\xc3\xa9"));
  EXPECT_FALSE(is_utf8("caf\xe9"));
  EXPECT_TRUE(is_utf8("\xf0\x9f\x9a\xa2"));   // U+1F6A2, a ship
  EXPECT_FALSE(is_utf8("\xf5\x80\x80\x80"));  // past U+10FFFF
}

TEST(RedactUrl, KeepsSafeQueryKeysOnly) {
  EXPECT_EQ(redact_url("https://auth.docker.io/token?service=registry.docker.io&scope=repository:a:pull"),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository:a:pull");
  EXPECT_EQ(redact_url("https://cdn.example/data?verify=1700-abcdef&digest=sha256:1"),
            "https://cdn.example/data?verify=REDACTED&digest=sha256:1");
  EXPECT_EQ(redact_url("https://bob:hunter2@host:5000/v2/?x=1#frag"), "https://host:5000/v2/?x=REDACTED");
  EXPECT_EQ(redact_url("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
}
