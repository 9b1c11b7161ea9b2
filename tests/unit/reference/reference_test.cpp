// Unit tests for reference parsing: a table of valid inputs with every normalised
// field and form, a table of invalid inputs with the problem each message must name,
// round trips through str() and familiar(), and the small formatting helpers.
#include "reference/reference.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ferry::core::ErrorKind;
using ferry::reference::parse;
using ferry::reference::Reference;

const std::string kHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const std::string kDigest = "sha256:" + kHex;

struct ValidCase {
  std::string input;
  std::string domain;
  std::string repository;
  std::string tag;
  std::string digest;  // "" when not pinned
  std::string str;
  std::string familiar;
};

std::vector<ValidCase> valid_cases() {
  const std::string tag128 = "t" + std::string(127, 'x');
  // docker.io/ (10) + "a/" + 243 chars = 255.
  const std::string path255 = "a/" + std::string(243, 'b');
  return {
      {"ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest",
       "ubuntu:latest"},
      {"ubuntu:24.04", "docker.io", "library/ubuntu", "24.04", "", "docker.io/library/ubuntu:24.04",
       "ubuntu:24.04"},
      {"a", "docker.io", "library/a", "latest", "", "docker.io/library/a:latest", "a:latest"},
      {"bob/app", "docker.io", "bob/app", "latest", "", "docker.io/bob/app:latest", "bob/app:latest"},
      {"bob/app:1", "docker.io", "bob/app", "1", "", "docker.io/bob/app:1", "bob/app:1"},
      {"library/ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest",
       "ubuntu:latest"},
      {"docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest",
       "ubuntu:latest"},
      {"index.docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", "",
       "docker.io/library/ubuntu:latest", "ubuntu:latest"},
      {"docker.io/library/ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "",
       "docker.io/library/ubuntu:22.04", "ubuntu:22.04"},
      {"index.docker.io/bob/app:v2", "docker.io", "bob/app", "v2", "", "docker.io/bob/app:v2", "bob/app:v2"},
      {"DOCKER.IO/ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest",
       "ubuntu:latest"},
      {"Index.Docker.IO/bob/app", "docker.io", "bob/app", "latest", "", "docker.io/bob/app:latest",
       "bob/app:latest"},
      // library/ is only dropped when one component is left, so familiar() parses back.
      {"library/a/b", "docker.io", "library/a/b", "latest", "", "docker.io/library/a/b:latest",
       "library/a/b:latest"},
      // A docker.io repository whose first component reads as a domain keeps docker.io.
      {"docker.io/localhost/app", "docker.io", "localhost/app", "latest", "",
       "docker.io/localhost/app:latest", "docker.io/localhost/app:latest"},
      {"docker.io/foo.bar/app:1", "docker.io", "foo.bar/app", "1", "", "docker.io/foo.bar/app:1",
       "docker.io/foo.bar/app:1"},
      {"docker.io/library/foo.bar", "docker.io", "library/foo.bar", "latest", "",
       "docker.io/library/foo.bar:latest", "foo.bar:latest"},
      // Without a slash, a dotted name is a repository on docker.io.
      {"ghcr.io", "docker.io", "library/ghcr.io", "latest", "", "docker.io/library/ghcr.io:latest",
       "ghcr.io:latest"},
      {"localhost/foo", "localhost", "foo", "latest", "", "localhost/foo:latest", "localhost/foo:latest"},
      {"localhost:5000/foo/bar:tag", "localhost:5000", "foo/bar", "tag", "", "localhost:5000/foo/bar:tag",
       "localhost:5000/foo/bar:tag"},
      // Without a slash, localhost is a repository and :5000 a tag.
      {"localhost", "docker.io", "library/localhost", "latest", "", "docker.io/library/localhost:latest",
       "localhost:latest"},
      {"localhost:5000", "docker.io", "library/localhost", "5000", "", "docker.io/library/localhost:5000",
       "localhost:5000"},
      {"127.0.0.1:5000/ns/app:v1", "127.0.0.1:5000", "ns/app", "v1", "", "127.0.0.1:5000/ns/app:v1",
       "127.0.0.1:5000/ns/app:v1"},
      {"[::1]:5000/a", "[::1]:5000", "a", "latest", "", "[::1]:5000/a:latest", "[::1]:5000/a:latest"},
      {"[fe80::1]/img:x", "[fe80::1]", "img", "x", "", "[fe80::1]/img:x", "[fe80::1]/img:x"},
      {"[2001:DB8::1]:65535/a/b", "[2001:DB8::1]:65535", "a/b", "latest", "",
       "[2001:DB8::1]:65535/a/b:latest", "[2001:DB8::1]:65535/a/b:latest"},
      {"foo:5000/bar", "foo:5000", "bar", "latest", "", "foo:5000/bar:latest", "foo:5000/bar:latest"},
      {"my-registry.local:1/x", "my-registry.local:1", "x", "latest", "", "my-registry.local:1/x:latest",
       "my-registry.local:1/x:latest"},
      // The domain keeps its case; the tag keeps its case.
      {"Registry.Example.COM/ns/app:Tag_1.0-rc", "Registry.Example.COM", "ns/app", "Tag_1.0-rc", "",
       "Registry.Example.COM/ns/app:Tag_1.0-rc", "Registry.Example.COM/ns/app:Tag_1.0-rc"},
      {"quay.io/a.b/c_d/e__f/g-h/i---j:x", "quay.io", "a.b/c_d/e__f/g-h/i---j", "x", "",
       "quay.io/a.b/c_d/e__f/g-h/i---j:x", "quay.io/a.b/c_d/e__f/g-h/i---j:x"},
      {"ghcr.io/o/r@" + kDigest, "ghcr.io", "o/r", "", kDigest, "ghcr.io/o/r@" + kDigest,
       "ghcr.io/o/r@" + kDigest},
      {"ubuntu@" + kDigest, "docker.io", "library/ubuntu", "", kDigest, "docker.io/library/ubuntu@" + kDigest,
       "ubuntu@" + kDigest},
      {"ubuntu:24.04@" + kDigest, "docker.io", "library/ubuntu", "24.04", kDigest,
       "docker.io/library/ubuntu:24.04@" + kDigest, "ubuntu:24.04"},
      {"localhost:5000/a:t@" + kDigest, "localhost:5000", "a", "t", kDigest, "localhost:5000/a:t@" + kDigest,
       "localhost:5000/a:t"},
      {"x:_under", "docker.io", "library/x", "_under", "", "docker.io/library/x:_under", "x:_under"},
      {"x:" + tag128, "docker.io", "library/x", tag128, "", "docker.io/library/x:" + tag128, "x:" + tag128},
      {path255, "docker.io", path255, "latest", "", "docker.io/" + path255 + ":latest", path255 + ":latest"},
      // A 64-hex component is fine inside a longer name.
      {"bob/" + kHex, "docker.io", "bob/" + kHex, "latest", "", "docker.io/bob/" + kHex + ":latest",
       "bob/" + kHex + ":latest"},
      // ... and an official image named like an image ID keeps library/ in its familiar
      // forms, which would otherwise not parse back (found by fuzz_reference).
      {"library/" + kHex, "docker.io", "library/" + kHex, "latest", "", "docker.io/library/" + kHex + ":latest",
       "library/" + kHex + ":latest"},
      {"docker.io/library/" + kHex + "@" + kDigest, "docker.io", "library/" + kHex, "", kDigest,
       "docker.io/library/" + kHex + "@" + kDigest, "library/" + kHex + "@" + kDigest},
  };
}

TEST(ReferenceParse, ValidInputsNormalise) {
  for (const auto& c : valid_cases()) {
    SCOPED_TRACE(c.input);
    auto ref = parse(c.input);
    ASSERT_TRUE(ref) << ref.error().message;
    EXPECT_EQ(ref->domain, c.domain);
    EXPECT_EQ(ref->repository, c.repository);
    EXPECT_EQ(ref->tag, c.tag);
    EXPECT_EQ(ref->digest ? ref->digest->str() : "", c.digest);
    EXPECT_EQ(ref->str(), c.str);
    EXPECT_EQ(ref->familiar(), c.familiar);
    EXPECT_EQ(ref->name(), c.domain + "/" + c.repository);
  }
}

TEST(ReferenceParse, StrParsesBackToTheSameReference) {
  for (const auto& c : valid_cases()) {
    SCOPED_TRACE(c.input);
    auto ref = parse(c.input);
    ASSERT_TRUE(ref) << ref.error().message;
    auto again = parse(ref->str());
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*again, *ref);
  }
}

TEST(ReferenceParse, FamiliarParsesBackToTheSameName) {
  for (const auto& c : valid_cases()) {
    SCOPED_TRACE(c.input);
    auto ref = parse(c.input);
    ASSERT_TRUE(ref) << ref.error().message;
    auto again = parse(ref->familiar());
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->name(), ref->name());
    EXPECT_EQ(again->familiar(), ref->familiar());
    auto by_name = parse(ref->familiar_name());
    ASSERT_TRUE(by_name) << by_name.error().message;
    EXPECT_EQ(by_name->name(), ref->name());
  }
}

struct InvalidCase {
  std::string input;
  std::string mentions;
};

std::vector<InvalidCase> invalid_cases() {
  const std::string tag129 = "t" + std::string(128, 'x');
  const std::string path256 = "a/" + std::string(244, 'b');
  return {
      {"", "empty reference"},
      {"a:b:c", "invalid tag \"b:c\""},
      {"UPPER", "repository name must be lowercase"},
      {"ns/Upper", "repository name must be lowercase"},
      {"Upper/x", "repository name must be lowercase"},
      {"ghcr.io/o/R:1", "repository name must be lowercase"},
      {"foo/", "empty path component"},
      {"/foo", "empty path component"},
      {"a//b", "empty path component"},
      {"ghcr.io/a/", "empty path component"},
      {"localhost/", "missing repository path after the domain"},
      {"ghcr.io/:tag", "missing repository path after the domain"},
      {":tag", "missing repository name"},
      {"@" + kDigest, "missing repository name"},
      {"foo@sha256:short", "invalid digest \"sha256:short\": want 64 hex digits, got 5"},
      {"foo@sha256:../../x", "64 hex digits"},
      {"foo@sha256:" + std::string(64, 'A'), "lowercase hex"},
      {"foo@" + kHex, "missing algorithm prefix"},
      {"foo@bar@" + kDigest, "unsupported digest algorithm \"bar@sha256\""},
      {"foo@sha512:abcd", "unsupported digest algorithm \"sha512\""},
      {"foo:", "invalid tag: empty after ':'"},
      {"foo:@" + kDigest, "invalid tag: empty after ':'"},
      {"foo@", "empty digest after '@'"},
      {"foo:-bar", "must start with a letter, digit or '_'"},
      {"foo:.bar", "must start with a letter, digit or '_'"},
      {"foo:ba+r", "'+' not allowed"},
      {"x:" + tag129, "invalid tag: 129 characters, at most 128"},
      {path256, "name too long: 256 characters, at most 255"},
      {"ghcr.io/" + std::string(250, 'a'), "name too long"},
      {"-foo", "invalid repository path component \"-foo\""},
      {"foo-", "invalid repository path component \"foo-\""},
      {"a..b", "invalid repository path component"},
      {"a___b", "invalid repository path component"},
      {"a._b", "invalid repository path component"},
      {"a_-b", "invalid repository path component"},
      {"_a", "invalid repository path component"},
      {"foo bar", "invalid character space"},
      {"foo!bar", "invalid character '!'"},
      {"ns/f~o", "invalid character '~'"},
      {"-bad.com/x", "invalid domain \"-bad.com\""},
      {"bad_host.com/x", "invalid domain \"bad_host.com\""},
      {"example.com./x", "invalid domain"},
      {".example.com/x", "invalid domain"},
      {"a..b.com/x", "invalid domain"},
      {"host:/x", "invalid port \"\""},
      {"host:99999/x", "invalid port \"99999\""},
      {"host:65536/x", "invalid port"},
      {"host:0/x", "invalid port \"0\""},
      {"host:12a/x", "invalid port \"12a\""},
      {"host:1:2/x", "invalid port \"1:2\""},
      {":5000/x", "invalid domain"},
      {"[::1/x", "'[' without ']'"},
      {"[]:5000/x", "invalid IPv6 domain"},
      {"[zz::1]/x", "invalid IPv6 domain"},
      {"[::1]5000/x", "only \":port\" may follow ']'"},
      {"[::1]:/x", "invalid port"},
      {kHex, "image ID"},
      {kHex + ":latest", "image ID"},
  };
}

TEST(ReferenceParse, InvalidInputsNameTheProblem) {
  for (const auto& c : invalid_cases()) {
    SCOPED_TRACE(c.input);
    auto ref = parse(c.input);
    ASSERT_FALSE(ref) << ref->str();
    EXPECT_EQ(ref.error().kind, ErrorKind::InvalidInput);
    const std::string& msg = ref.error().message;
    EXPECT_NE(msg.find(c.mentions), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("invalid reference \"", 0), 0u) << msg;
  }
}

TEST(ReferenceParse, MessageEchoesTheInput) {
  auto ref = parse("Ubuntu");
  ASSERT_FALSE(ref);
  EXPECT_EQ(ref.error().message, "invalid reference \"Ubuntu\": repository name must be lowercase");
}

TEST(ReferenceParse, MessageStripsControlCharacters) {
  auto ref = parse("ubu\x01ntu\n\x1b[31m:x\x7f");
  ASSERT_FALSE(ref);
  const std::string& msg = ref.error().message;
  EXPECT_NE(msg.find("invalid reference \"ubuntu[31m:x\""), std::string::npos) << msg;
  for (char c : msg) {
    auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "byte " << static_cast<int>(u) << " in " << msg;
  }
}

TEST(ReferenceParse, MessageIsAsciiForNonAsciiInput) {
  for (const std::string input : {"ub\xc3\xbcntu", "a/b@sha256:\xff\xfe", "a:t\xe2\x80\xa8"}) {
    SCOPED_TRACE(input);
    auto ref = parse(input);
    ASSERT_FALSE(ref);
    for (char c : ref.error().message) {
      auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE(u >= 0x20 && u < 0x7f) << ref.error().message;
    }
  }
}

TEST(ReferenceParse, MessageCutsLongInputShort) {
  auto ref = parse(std::string(5000, 'A'));
  ASSERT_FALSE(ref);
  EXPECT_LT(ref.error().message.size(), 300u) << ref.error().message;
  EXPECT_NE(ref.error().message.find("...\""), std::string::npos) << ref.error().message;
}

TEST(ReferenceParse, ControlCharactersAreRejected) {
  for (const std::string& input : {std::string("ubuntu\n"), std::string("ubu\tntu"), std::string("a\0b", 3),
                                  std::string("ubuntu:la\ntest"), std::string("ghcr.io\r/a")}) {
    SCOPED_TRACE(input);
    EXPECT_FALSE(parse(input));
  }
}

TEST(ReferenceParse, EqualityComparesAllFields) {
  EXPECT_EQ(*parse("ubuntu"), *parse("docker.io/library/ubuntu:latest"));
  EXPECT_NE(*parse("ubuntu"), *parse("ubuntu:24.04"));
  EXPECT_NE(*parse("ubuntu@" + kDigest), *parse("ubuntu:latest@" + kDigest));
  EXPECT_NE(*parse("localhost/a"), *parse("localhost:5000/a"));
}

TEST(ReferenceApiHost, DockerHubUsesItsApiHost) {
  EXPECT_EQ(parse("ubuntu")->api_host(), "registry-1.docker.io");
  EXPECT_EQ(parse("index.docker.io/bob/app")->api_host(), "registry-1.docker.io");
  EXPECT_EQ(parse("ghcr.io/o/r")->api_host(), "ghcr.io");
  EXPECT_EQ(parse("127.0.0.1:5000/a")->api_host(), "127.0.0.1:5000");
  EXPECT_EQ(parse("[::1]:5000/a")->api_host(), "[::1]:5000");
  EXPECT_EQ(parse("localhost/a")->api_host(), "localhost");
}

TEST(ReferenceManifestRef, DigestWinsOverTag) {
  EXPECT_EQ(parse("ubuntu")->manifest_ref(), "latest");
  EXPECT_EQ(parse("ubuntu:24.04")->manifest_ref(), "24.04");
  EXPECT_EQ(parse("ubuntu@" + kDigest)->manifest_ref(), kDigest);
  EXPECT_EQ(parse("ubuntu:24.04@" + kDigest)->manifest_ref(), kDigest);
}

TEST(ReferenceScope, NamesTheRepositoryAndActions) {
  EXPECT_EQ(parse("ubuntu")->scope(), "repository:library/ubuntu:pull");
  EXPECT_EQ(parse("ghcr.io/o/r:1")->scope("pull,push"), "repository:o/r:pull,push");
  EXPECT_EQ(parse("localhost:5000/a/b")->scope(), "repository:a/b:pull");
}

TEST(ReferenceFamiliar, NameDropsDockerHubParts) {
  EXPECT_EQ(parse("ubuntu:1")->familiar_name(), "ubuntu");
  EXPECT_EQ(parse("bob/app")->familiar_name(), "bob/app");
  EXPECT_EQ(parse("library/a/b")->familiar_name(), "library/a/b");
  EXPECT_EQ(parse("ghcr.io/o/r")->familiar_name(), "ghcr.io/o/r");
}

TEST(ReferenceManifestRef, DefaultConstructedIsEmpty) { EXPECT_EQ(Reference{}.manifest_ref(), ""); }

}  // namespace
