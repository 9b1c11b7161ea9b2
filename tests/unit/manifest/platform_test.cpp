// Platform text, and the selection rules on small synthetic indexes: variant
// defaults (arm64 v8, arm v7), attestation and builder entries, NotFound wording.
#include <gtest/gtest.h>

#include <string>

#include "manifest/manifest.h"

namespace ferry::manifest {
namespace {

using core::ErrorKind;

Descriptor entry(char fill, Platform platform, std::map<std::string, std::string> annotations = {}) {
  Descriptor d;
  d.media_type = std::string(media::kOciManifest);
  d.digest = *digest::Digest::parse("sha256:" + std::string(64, fill));
  d.size = 100;
  d.platform = std::move(platform);
  d.annotations = std::move(annotations);
  return d;
}

Index index_of(std::vector<Descriptor> entries) {
  Index index;
  index.media_type = std::string(media::kOciIndex);
  index.manifests = std::move(entries);
  return index;
}

char chosen_fill(const Index& index, Platform want) {
  auto chosen = select_platform(index, want);
  EXPECT_TRUE(chosen) << chosen.error().message;
  if (!chosen) return '?';
  return chosen->digest.hex()[0];
}

TEST(ParsePlatform, AcceptsTwoOrThreeParts) {
  auto p = parse_platform("linux/arm64/v8");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(*p, (Platform{"linux", "arm64", "v8", ""}));
  EXPECT_EQ(p->str(), "linux/arm64/v8");
  auto q = parse_platform("linux/amd64");
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(*q, (Platform{"linux", "amd64", "", ""}));
  EXPECT_EQ(q->str(), "linux/amd64");
  EXPECT_TRUE(parse_platform("windows/amd64"));
}

TEST(ParsePlatform, RejectsMalformedText) {
  for (std::string_view text : {"", "linux", "linux/", "/amd64", "linux//v8", "linux/arm/", "linux/arm/v7/extra",
                                "a/b/c/d/e", "linux/amd 64", "linux/amd64\n"}) {
    SCOPED_TRACE(text);
    auto p = parse_platform(text);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind, ErrorKind::InvalidInput);
    EXPECT_TRUE(p.error().message.starts_with("invalid platform \"")) << p.error().message;
    EXPECT_EQ(p.error().message.find('\n'), std::string::npos);
  }
}

TEST(SelectPlatform, Arm64VariantLessAndV8AreTheSame) {
  Index only_v8 = index_of({entry('a', {"linux", "arm64", "v8", ""})});
  EXPECT_EQ(chosen_fill(only_v8, {"linux", "arm64", "", ""}), 'a');
  EXPECT_EQ(chosen_fill(only_v8, {"linux", "arm64", "v8", ""}), 'a');
  Index only_plain = index_of({entry('b', {"linux", "arm64", "", ""})});
  EXPECT_EQ(chosen_fill(only_plain, {"linux", "arm64", "v8", ""}), 'b');
  EXPECT_FALSE(select_platform(only_plain, {"linux", "arm64", "v9", ""}));
}

TEST(SelectPlatform, NoVariantPrefersPlainThenUsualThenFirst) {
  Index arm64 = index_of({entry('a', {"linux", "arm64", "v9", ""}), entry('b', {"linux", "arm64", "v8", ""}),
                          entry('c', {"linux", "arm64", "", ""})});
  EXPECT_EQ(chosen_fill(arm64, {"linux", "arm64", "", ""}), 'c');
  Index arm = index_of({entry('a', {"linux", "arm", "v5", ""}), entry('b', {"linux", "arm", "v6", ""}),
                        entry('c', {"linux", "arm", "v7", ""})});
  EXPECT_EQ(chosen_fill(arm, {"linux", "arm", "", ""}), 'c');
  EXPECT_EQ(chosen_fill(arm, {"linux", "arm", "v6", ""}), 'b');
  Index odd = index_of({entry('a', {"linux", "amd64", "v3", ""}), entry('b', {"linux", "amd64", "v2", ""})});
  EXPECT_EQ(chosen_fill(odd, {"linux", "amd64", "", ""}), 'a');
  // A named variant must match: amd64/v2 does not take a variant-less entry.
  Index plain = index_of({entry('a', {"linux", "amd64", "", ""})});
  EXPECT_FALSE(select_platform(plain, {"linux", "amd64", "v2", ""}));
}

TEST(SelectPlatform, OsAndArchitectureMustMatchExactly) {
  Index index = index_of({entry('a', {"linux", "amd64", "", ""}), entry('b', {"windows", "amd64", "", "10.0.1"})});
  EXPECT_EQ(chosen_fill(index, {"windows", "amd64", "", ""}), 'b');
  EXPECT_FALSE(select_platform(index, {"Linux", "amd64", "", ""}));
  EXPECT_FALSE(select_platform(index, {"linux", "arm64", "", ""}));
  EXPECT_FALSE(select_platform(index, {"windows", "amd64", "", "10.0.2"}));
}

TEST(SelectPlatform, NeverPicksAttestationsBuildersOrUnknown) {
  Index index = index_of({
      entry('a', {"unknown", "unknown", "", ""}),
      entry('b', {"linux", "amd64", "", ""}, {{"vnd.docker.reference.type", "attestation-manifest"}}),
      entry('c', {"linux", "amd64", "", ""}, {{"vnd.docker.reference.type", "builder"}}),
      entry('d', {"linux", "amd64", "", ""}, {{"vnd.docker.reference.type", "anything-new"}}),
      entry('e', {"linux", "amd64", "", ""}),
  });
  EXPECT_EQ(chosen_fill(index, {"linux", "amd64", "", ""}), 'e');
  EXPECT_FALSE(select_platform(index, {"unknown", "unknown", "", ""}));
  auto entries = image_entries(index);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].digest.hex()[0], 'e');
}

TEST(SelectPlatform, NotFoundListsDistinctAvailablePlatforms) {
  Index index = index_of({entry('a', {"linux", "amd64", "", ""}), entry('b', {"unknown", "unknown", "", ""}),
                          entry('c', {"linux", "arm", "v7", ""}), entry('d', {"windows", "amd64", "", "1"}),
                          entry('e', {"windows", "amd64", "", "2"})});
  auto chosen = select_platform(index, {"linux", "s390x", "", ""});
  ASSERT_FALSE(chosen);
  EXPECT_EQ(chosen.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(chosen.error().message,
            "no manifest for platform linux/s390x; available: linux/amd64, linux/arm/v7, windows/amd64");
  auto empty = select_platform(Index{}, {"linux", "amd64", "", ""});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "no manifest for platform linux/amd64; available: none");
}

}  // namespace
}  // namespace ferry::manifest
