// Nested indexes (leaf_entries, flatten, platform choice across levels, depth limit,
// repeats and cycles) and artifact detection, on real registry fixtures.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "fixtures.h"
#include "manifest/manifest.h"

namespace ferry::manifest {
namespace {

using core::ErrorKind;
using testing::manifest_fixture;
using testing::parse_image;
using testing::parse_index;

constexpr const char* kPostgres = "dockerhub-postgres-17.11-oci-index-attestations.json";
constexpr const char* kBuildkit = "regctl-oci-index-buildkit-builder-reference-unknown-platform.json";

Descriptor index_descriptor(const std::string& body) {
  return Descriptor{std::string(media::kOciIndex), digest::sha256_of(body), static_cast<int64_t>(body.size()),
                    std::nullopt, {}, {}};
}

Index index_of(std::vector<Descriptor> entries) {
  Index index;
  index.media_type = std::string(media::kOciIndex);
  index.manifests = std::move(entries);
  return index;
}

// An index of the two real indexes: postgres (8 platforms, 8 attestations) and a
// BuildKit one (amd64, arm64, 2 builder entries).
struct NestedFixture {
  std::map<digest::Digest, Index> by_digest;
  Index top;
  IndexLookup lookup() const {
    return [this](const digest::Digest& d) -> const Index* {
      auto it = by_digest.find(d);
      return it == by_digest.end() ? nullptr : &it->second;
    };
  }
  NestedFixture() {
    for (const char* name : {kPostgres, kBuildkit}) {
      std::string body = manifest_fixture(name);
      by_digest[digest::sha256_of(body)] = parse_index(body, "");
      top.manifests.push_back(index_descriptor(body));
    }
    top.media_type = std::string(media::kOciIndex);
  }
};

TEST(IndexTree, LeavesOfAllLevelsInDepthFirstOrder) {
  NestedFixture f;
  auto leaves = leaf_entries(f.top, f.lookup());
  ASSERT_TRUE(leaves) << leaves.error().message;
  ASSERT_EQ(leaves->size(), 20u);  // 16 postgres entries, then 4 BuildKit ones
  EXPECT_EQ((*leaves)[0].platform->str(), "linux/amd64");
  EXPECT_EQ((*leaves)[1].platform->str(), "unknown/unknown");
  EXPECT_EQ((*leaves)[16].digest, f.by_digest.at(f.top.manifests[1].digest).manifests[0].digest);
  auto flat = flatten(f.top, f.lookup());
  ASSERT_TRUE(flat);
  EXPECT_EQ(image_entries(*flat).size(), 10u);  // attestations and builder entries are no platform
}

TEST(IndexTree, PlatformIsChosenAcrossLevels) {
  NestedFixture f;
  auto flat = flatten(f.top, f.lookup());
  ASSERT_TRUE(flat) << flat.error().message;
  const Index& postgres = f.by_digest.at(f.top.manifests[0].digest);
  const Index& buildkit = f.by_digest.at(f.top.manifests[1].digest);
  auto s390x = select_platform(*flat, {"linux", "s390x", "", ""});
  ASSERT_TRUE(s390x) << s390x.error().message;
  EXPECT_EQ(s390x->digest, postgres.manifests[14].digest);
  // Before this, the nested index made every choice fail with "available: none".
  auto amd64 = select_platform(*flat, {"linux", "amd64", "", ""});
  ASSERT_TRUE(amd64);
  EXPECT_EQ(amd64->digest, postgres.manifests[0].digest);  // first listed wins
  Index only_buildkit = index_of({f.top.manifests[1]});
  auto flat2 = flatten(only_buildkit, f.lookup());
  ASSERT_TRUE(flat2);
  auto arm64 = select_platform(*flat2, {"linux", "arm64", "", ""});
  ASSERT_TRUE(arm64);
  EXPECT_EQ(arm64->digest, buildkit.manifests[1].digest);
  auto none = select_platform(*flat2, {"linux", "s390x", "", ""});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("available: linux/amd64, linux/arm64"), std::string::npos)
      << none.error().message;
}

// A chain of `levels` indexes, the last holding one image entry.
struct Chain {
  std::map<digest::Digest, Index> by_digest;
  Index top;
  explicit Chain(size_t levels) {
    Descriptor leaf{std::string(media::kOciManifest), *digest::Digest::parse("sha256:" + std::string(64, 'a')), 10,
                    Platform{"linux", "amd64", "", ""}, {}, {}};
    Index current = index_of({leaf});
    for (size_t n = 1; n < levels; ++n) {
      Descriptor d{std::string(media::kOciIndex), *digest::Digest::parse("sha256:" + std::string(63, 'b') +
                                                                          std::string(1, static_cast<char>('0' + n))),
                   10, std::nullopt, {}, {}};
      by_digest[d.digest] = current;
      current = index_of({d});
    }
    top = current;
  }
  IndexLookup lookup() const {
    return [this](const digest::Digest& d) -> const Index* {
      auto it = by_digest.find(d);
      return it == by_digest.end() ? nullptr : &it->second;
    };
  }
};

TEST(IndexTree, FourLevelsAreFollowedAFifthIsRefused) {
  Chain four(kMaxIndexDepth);
  auto ok = leaf_entries(four.top, four.lookup());
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ(ok->front().platform->str(), "linux/amd64");

  Chain five(kMaxIndexDepth + 1);
  auto deep = leaf_entries(five.top, five.lookup());
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().kind, ErrorKind::InvalidInput);
  EXPECT_NE(deep.error().message.find("indexes nested deeper than 4 levels at sha256:"), std::string::npos)
      << deep.error().message;
}

TEST(IndexTree, AMissingNestedIndexIsNamed) {
  Chain two(2);
  auto missing = leaf_entries(two.top, [](const digest::Digest&) -> const Index* { return nullptr; });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find(two.top.manifests[0].digest.str()), std::string::npos);
}

TEST(IndexTree, RepeatsCountOnceAndACycleEnds) {
  Descriptor leaf{std::string(media::kOciManifest), *digest::Digest::parse("sha256:" + std::string(64, 'c')), 10,
                  std::nullopt, {}, {}};
  Descriptor a{std::string(media::kOciIndex), *digest::Digest::parse("sha256:" + std::string(64, 'd')), 10,
               Platform{"linux", "arm64", "v8", ""}, {}, {}};
  Descriptor b{std::string(media::kOciIndex), *digest::Digest::parse("sha256:" + std::string(64, 'e')), 10,
               std::nullopt, {}, {}};
  // a names b twice and the leaf; b names a again (a cycle) and the leaf.
  std::map<digest::Digest, Index> m{{a.digest, index_of({b, b, leaf})}, {b.digest, index_of({a, leaf})}};
  Index top = index_of({a, leaf});
  auto leaves = leaf_entries(top, [&](const digest::Digest& d) -> const Index* {
    auto it = m.find(d);
    return it == m.end() ? nullptr : &it->second;
  });
  ASSERT_TRUE(leaves) << leaves.error().message;
  ASSERT_EQ(leaves->size(), 1u);
  // The leaf was first reached under a, whose platform it takes.
  ASSERT_TRUE(leaves->front().platform);
  EXPECT_EQ(leaves->front().platform->str(), "linux/arm64/v8");
}

TEST(Artifact, ToldFromImagesByArtifactTypeConfigOrLayers) {
  struct Case {
    const char* fixture;
    std::string want;  // artifact_type_of; "" for an image
  };
  const Case cases[] = {
      {"regctl-oci11-artifact-manifest-subject-annotations.json", "application/example.sbom"},
      {"regctl-oci11-manifest-subject-no-artifacttype.json", "application/vnd.example.build-type+json"},
      {"dockerhub-hello-world-amd64-2023-oci-manifest-annotations.json", ""},
      {"dockerhub-hello-world-amd64-2021-schema2-manifest.json", ""},
      {"containers-image-testfixture-oci-zstd-layers.json", ""},
      {"mcr-dotnet-framework-runtime-4.8-ltsc2022-foreign-layers.json", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fixture);
    ImageManifest m = parse_image(manifest_fixture(c.fixture), "");
    EXPECT_EQ(artifact_type_of(m), c.want);
    EXPECT_EQ(is_artifact(m), !c.want.empty());
  }
}

TEST(Artifact, ANonImageConfigMakesAnArtifact) {
  ImageManifest m = parse_image(manifest_fixture("dockerhub-hello-world-amd64-2023-oci-manifest-annotations.json"), "");
  m.config.media_type = "application/vnd.dev.cosign.artifact.sig.v1+json";
  EXPECT_EQ(artifact_type_of(m), "application/vnd.dev.cosign.artifact.sig.v1+json");
  m.config.media_type = std::string(media::kOciEmpty);
  EXPECT_TRUE(is_artifact(m));
  for (const char* layer : {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+zstd",
                            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"}) {
    EXPECT_TRUE(is_layer_type(layer)) << layer;
  }
  for (const char* other : {"application/vnd.in-toto+json", "application/vnd.oci.image.layer.v1.tar+bz2",
                            "application/vnd.oci.empty.v1+json"}) {
    EXPECT_FALSE(is_layer_type(other)) << other;
  }
}

}  // namespace
}  // namespace ferry::manifest
