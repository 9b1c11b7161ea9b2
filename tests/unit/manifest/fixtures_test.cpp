// Real registry documents from tests/fixtures/manifests: each file's quirk (see the
// fixtures README) is exercised, and the digests the README states are checked
// against sha256 of the stored bytes, so a fixture altered by an editor or a
// checkout with newline translation fails here first.
#include <gtest/gtest.h>

#include <string>

#include "digest/digest.h"
#include "fixtures.h"
#include "manifest/manifest.h"

namespace ferry::manifest {
namespace {

using core::ErrorKind;
using digest::sha256_of;
using testing::manifest_fixture;
using testing::parse_image;
using testing::parse_index;
using testing::selected_hex;

constexpr const char* kPostgres = "dockerhub-postgres-17.11-oci-index-attestations.json";
constexpr const char* kHello2024Index = "dockerhub-hello-world-2024-01-oci-index-windows-attestations.json";
constexpr const char* kHello2022List = "dockerhub-hello-world-2022-01-docker-manifest-list-windows.json";
constexpr const char* kHello2020 = "dockerhub-hello-world-amd64-2020-schema2-manifest.json";
constexpr const char* kHello2021 = "dockerhub-hello-world-amd64-2021-schema2-manifest.json";
constexpr const char* kHello2023Oci = "dockerhub-hello-world-amd64-2023-oci-manifest-annotations.json";
constexpr const char* kMcrForeign = "mcr-dotnet-framework-runtime-4.8-ltsc2022-foreign-layers.json";
constexpr const char* kMcrList = "mcr-dotnet-framework-runtime-4.8-windows-list-os-version.json";
constexpr const char* kSchema1 = "redhat-rhosp12-schema1-signed-prettyjws.json";
constexpr const char* kArtifact = "regctl-oci11-artifact-manifest-subject-annotations.json";
constexpr const char* kArtifactIndex = "regctl-oci11-artifact-index-with-subject.json";
constexpr const char* kSubjectNoType = "regctl-oci11-manifest-subject-no-artifacttype.json";
constexpr const char* kBuilderIndex = "regctl-oci-index-buildkit-builder-reference-unknown-platform.json";
constexpr const char* kZstd = "containers-image-testfixture-oci-zstd-layers.json";

std::string hex_of(const std::string& bytes) { return std::string(sha256_of(bytes).hex()); }

// --- Digests and sizes stated in tests/fixtures/README.md -------------------------

TEST(ManifestFixtures, DigestsAndSizesMatchTheReadme) {
  struct Row {
    const char* file;
    const char* digest_prefix;
    size_t size;  // 0 when the README states none
  };
  const Row rows[] = {
      {kPostgres, "f4c66b82", 10237},       {kHello2024Index, "4bd78111", 9125},
      {kHello2022List, "975f4b14", 2562},   {kHello2020, "90659bf8", 525},
      {kHello2021, "f54a58bc", 525},        {kHello2023Oci, "e2fc4e50", 861},
      {kMcrForeign, "5ec4722e", 1523},      {kSchema1, "34ee2c9b", 0},
      {kArtifact, "30cc0c70", 0},           {kArtifactIndex, "d69399e0", 0},
      {kSubjectNoType, "d9104343", 0},      {kBuilderIndex, "7ceb9b6b", 0},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.file);
    std::string body = manifest_fixture(row.file);
    EXPECT_TRUE(hex_of(body).starts_with(row.digest_prefix)) << hex_of(body);
    if (row.size != 0) {
      EXPECT_EQ(body.size(), row.size);
    }
  }
  EXPECT_TRUE(hex_of(manifest_fixture(kPostgres)).ends_with("e91232"));
}

TEST(ManifestFixtures, Schema1DigestIsOverTheSignedPayloadNotTheFile) {
  // formatLength 6813 and formatTail "Cn0" (base64url of "\n}") from the protected header.
  std::string body = manifest_fixture(kSchema1);
  ASSERT_GT(body.size(), 6813u);
  EXPECT_TRUE(hex_of(body.substr(0, 6813) + "\n}").starts_with("5a26403c"));
}

// --- postgres:17.11 OCI index with attestations -----------------------------------

TEST(ManifestFixtures, PostgresIndexUnescapesSlashesAndKeepsAnnotations) {
  Index index = parse_index(manifest_fixture(kPostgres), media::kOciIndex);
  EXPECT_EQ(index.media_type, media::kOciIndex);
  ASSERT_EQ(index.manifests.size(), 16u);
  const Descriptor& first = index.manifests[0];
  EXPECT_EQ(first.media_type, media::kOciManifest);  // served as application\/vnd...
  EXPECT_EQ(first.size, 3628);
  EXPECT_EQ(first.annotations.at("org.opencontainers.image.source"),
            "https://github.com/docker-library/postgres.git#2603e26e245e558218728ee14e0a42dcb020dc7f:17/trixie");
  const Descriptor& attestation = index.manifests[1];
  EXPECT_EQ(attestation.platform->str(), "unknown/unknown");
  EXPECT_EQ(attestation.annotations.at("vnd.docker.reference.type"), "attestation-manifest");
  EXPECT_FALSE(is_image_entry(attestation));
}

TEST(ManifestFixtures, PostgresSelectsEveryPlatformNeverAnAttestation) {
  Index index = parse_index(manifest_fixture(kPostgres), "application/vnd.oci.image.index.v1+json; charset=utf-8");
  EXPECT_TRUE(selected_hex(index, "linux/amd64").starts_with("e31e3d53"));
  EXPECT_TRUE(selected_hex(index, "linux/arm64").starts_with("86fa57b4"));
  EXPECT_TRUE(selected_hex(index, "linux/arm64/v8").starts_with("86fa57b4"));
  EXPECT_TRUE(selected_hex(index, "linux/arm/v5").starts_with("9b6d2e9b"));  // bashbrew says arm32v5
  EXPECT_TRUE(selected_hex(index, "linux/arm/v7").starts_with("b635c790"));
  EXPECT_TRUE(selected_hex(index, "linux/arm").starts_with("b635c790"));  // no variant: v7
  EXPECT_TRUE(selected_hex(index, "linux/386").starts_with("8e617329"));  // bashbrew says i386
  EXPECT_TRUE(selected_hex(index, "linux/s390x").starts_with("33b944ae"));
  EXPECT_TRUE(selected_hex(index, "linux/ppc64le").starts_with("5902b512"));
  EXPECT_TRUE(selected_hex(index, "linux/riscv64").starts_with("cbc6b27f"));

  auto entries = image_entries(index);
  ASSERT_EQ(entries.size(), 8u);
  for (const Descriptor& d : entries) EXPECT_FALSE(d.annotations.contains("vnd.docker.reference.type"));
}

TEST(ManifestFixtures, PostgresUnknownPlatformsAreNotFoundAndListTheRealOnes) {
  Index index = parse_index(manifest_fixture(kPostgres), media::kOciIndex);
  auto unknown = select_platform(index, Platform{"unknown", "unknown", "", ""});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::NotFound);

  auto mips = select_platform(index, Platform{"linux", "mips64le", "", ""});
  ASSERT_FALSE(mips);
  EXPECT_EQ(mips.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(mips.error().message,
            "no manifest for platform linux/mips64le; available: linux/amd64, linux/arm/v5, linux/arm/v7, "
            "linux/arm64/v8, linux/386, linux/ppc64le, linux/riscv64, linux/s390x");

  auto arm_v6 = select_platform(index, Platform{"linux", "arm", "v6", ""});
  ASSERT_FALSE(arm_v6);
  EXPECT_NE(arm_v6.error().message.find("linux/arm/v6"), std::string::npos);
}

// --- hello-world: 2024 OCI index, 2022 Docker list, and their children -------------

TEST(ManifestFixtures, HelloWorld2024IndexMixesWindowsSchema2Entries) {
  Index index = parse_index(manifest_fixture(kHello2024Index), media::kOciIndex);
  ASSERT_EQ(index.manifests.size(), 20u);
  auto entries = image_entries(index);
  ASSERT_EQ(entries.size(), 11u);  // 9 linux + 2 windows; 9 attestations skipped
  const Descriptor& windows = entries[9];
  EXPECT_EQ(windows.media_type, media::kDockerManifest);
  EXPECT_EQ(windows.platform->os, "windows");
  EXPECT_EQ(windows.platform->os_version, "10.0.20348.2227");
  EXPECT_EQ(entries[10].platform->os_version, "10.0.17763.5329");

  EXPECT_TRUE(selected_hex(index, "windows/amd64").starts_with("06a89fb0"));  // first listed
  auto ltsc2019 = select_platform(index, Platform{"windows", "amd64", "", "10.0.17763.5329"});
  ASSERT_TRUE(ltsc2019) << ltsc2019.error().message;
  EXPECT_TRUE(ltsc2019->digest.hex().starts_with("741e985f"));
  EXPECT_TRUE(selected_hex(index, "linux/arm64").starts_with("2d4e459f"));
  EXPECT_TRUE(selected_hex(index, "linux/arm/v5").starts_with("c2d891e5"));
}

TEST(ManifestFixtures, HelloWorld2024AmdEntryIsThe2023OciManifest) {
  Index index = parse_index(manifest_fixture(kHello2024Index), media::kOciIndex);
  auto amd64 = select_platform(index, Platform{"linux", "amd64", "", ""});
  ASSERT_TRUE(amd64) << amd64.error().message;
  std::string child = manifest_fixture(kHello2023Oci);
  EXPECT_EQ(amd64->digest, sha256_of(child));
  EXPECT_EQ(amd64->size, static_cast<int64_t>(child.size()));
  EXPECT_EQ(amd64->media_type, media::kOciManifest);

  ImageManifest m = parse_image(child, amd64->media_type);
  EXPECT_EQ(m.media_type, media::kOciManifest);
  EXPECT_EQ(m.config.media_type, media::kOciConfig);
  EXPECT_TRUE(m.config.digest.hex().starts_with("d2c94e25"));
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].media_type, media::kOciLayerGzip);
  EXPECT_EQ(m.layers[0].size, 2459);
  ASSERT_EQ(m.annotations.size(), 4u);
  EXPECT_EQ(m.annotations.at("org.opencontainers.image.url"), "https://hub.docker.com/_/hello-world");
}

TEST(ManifestFixtures, HelloWorld2022DockerListResolvesEndToEnd) {
  Index index = parse_index(manifest_fixture(kHello2022List), media::kDockerList);
  EXPECT_EQ(index.media_type, media::kDockerList);
  ASSERT_EQ(index.manifests.size(), 11u);
  EXPECT_EQ(image_entries(index).size(), 11u);
  EXPECT_TRUE(selected_hex(index, "linux/arm/v7").starts_with("f130bd2d"));
  EXPECT_TRUE(selected_hex(index, "linux/arm").starts_with("f130bd2d"));
  EXPECT_TRUE(selected_hex(index, "linux/arm/v5").starts_with("7b8b7289"));
  EXPECT_TRUE(selected_hex(index, "linux/arm64").starts_with("01433e86"));
  EXPECT_TRUE(selected_hex(index, "linux/arm64/v8").starts_with("01433e86"));
  EXPECT_TRUE(selected_hex(index, "linux/riscv64").starts_with("98c97223"));

  auto amd64 = select_platform(index, Platform{"linux", "amd64", "", ""});
  ASSERT_TRUE(amd64) << amd64.error().message;
  std::string child = manifest_fixture(kHello2021);
  EXPECT_EQ(amd64->digest, sha256_of(child));
  EXPECT_EQ(amd64->size, static_cast<int64_t>(child.size()));
  ImageManifest m = parse_image(child, amd64->media_type);
  EXPECT_EQ(m.media_type, media::kDockerManifest);
  EXPECT_TRUE(m.config.digest.hex().starts_with("feb5d9fe"));
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].size, 2479);
}

TEST(ManifestFixtures, HelloWorld2020Schema2ThreeSpaceIndentNoTrailingNewline) {
  std::string body = manifest_fixture(kHello2020);
  EXPECT_NE(body.back(), '\n');
  ImageManifest m = parse_image(body, "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(m.media_type, media::kDockerManifest);
  EXPECT_EQ(m.config.media_type, media::kDockerConfig);
  EXPECT_EQ(m.config.size, 1510);
  EXPECT_EQ(m.config.digest, sha256_of(testing::config_fixture("dockerhub-hello-world-amd64-2020-config.json")));
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].media_type, media::kDockerLayerGzip);
  EXPECT_EQ(m.layers[0].digest.str(), "sha256:0e03bdcc26d7a9a57ef3b6f1bf1a210cff6239bff7c8cac72435984032851689");
  EXPECT_FALSE(m.subject);
  EXPECT_TRUE(m.artifact_type.empty());
}

// --- mcr.microsoft.com: Windows list and foreign layers ------------------------------

TEST(ManifestFixtures, McrWindowsListDiffersOnlyByOsVersion) {
  Index index = parse_index(manifest_fixture(kMcrList), "application/vnd.docker.distribution.manifest.list.v2+json");
  ASSERT_EQ(index.manifests.size(), 4u);
  EXPECT_TRUE(selected_hex(index, "windows/amd64").starts_with("9582e7a5"));
  auto ltsc2022 = select_platform(index, Platform{"windows", "amd64", "", "10.0.20348.473"});
  ASSERT_TRUE(ltsc2022) << ltsc2022.error().message;
  std::string child = manifest_fixture(kMcrForeign);
  EXPECT_EQ(ltsc2022->digest, sha256_of(child));
  EXPECT_EQ(ltsc2022->size, static_cast<int64_t>(child.size()));

  auto linux = select_platform(index, Platform{"linux", "amd64", "", ""});
  ASSERT_FALSE(linux);
  EXPECT_EQ(linux.error().message, "no manifest for platform linux/amd64; available: windows/amd64");
}

TEST(ManifestFixtures, McrForeignLayersKeepUrlsAndLargeSizes) {
  ImageManifest m = parse_image(manifest_fixture(kMcrForeign), media::kDockerManifest);
  ASSERT_GE(m.layers.size(), 4u);
  EXPECT_EQ(m.layers[0].media_type, media::kDockerForeignLayerGzip);
  EXPECT_EQ(m.layers[0].size, int64_t{1251699055});
  ASSERT_EQ(m.layers[0].urls.size(), 1u);
  EXPECT_EQ(m.layers[0].urls[0],
            "https://mcr.microsoft.com/v2/windows/servercore/blobs/"
            "sha256:8f616e6e9eec767c425fd9346648807d1b658d20ff6097be1d955aac69c26642");
  EXPECT_EQ(m.layers[1].media_type, media::kDockerForeignLayerGzip);
  EXPECT_EQ(m.layers[1].size, int64_t{955800778});
  EXPECT_EQ(m.layers[2].media_type, media::kDockerLayerGzip);
  EXPECT_TRUE(m.layers[2].urls.empty());
  int64_t total = 0;
  for (const Descriptor& layer : m.layers) total += layer.size;
  EXPECT_GT(total, int64_t{2} * 1000 * 1000 * 1000);  // would overflow a 32-bit size
}

// --- schema1 -----------------------------------------------------------------------

TEST(ManifestFixtures, Schema1PrettyJwsIsUnsupported) {
  std::string body = manifest_fixture(kSchema1);
  for (std::string_view content_type :
       {media::kDockerSchema1Signed, media::kDockerSchema1, std::string_view("application/json"), std::string_view()}) {
    SCOPED_TRACE(content_type);
    auto parsed = parse(body, content_type);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().kind, ErrorKind::Unsupported);
    EXPECT_NE(parsed.error().message.find("schema1"), std::string::npos) << parsed.error().message;
    EXPECT_NE(parsed.error().message.find("not supported"), std::string::npos) << parsed.error().message;
  }
}

// --- OCI 1.1 artifacts and referrers -----------------------------------------------

TEST(ManifestFixtures, ArtifactManifestHasSubjectAndArtifactType) {
  ImageManifest m = parse_image(manifest_fixture(kArtifact), media::kOciManifest);
  EXPECT_EQ(m.artifact_type, "application/example.sbom");
  EXPECT_EQ(m.config.media_type, "application/vnd.oci.empty.v1+json");
  EXPECT_EQ(m.config.size, 2);
  EXPECT_EQ(m.config.digest.str(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(m.config.digest, sha256_of("{}"));  // the OCI empty descriptor
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].media_type, "application/example.sbom.breakfast");
  ASSERT_TRUE(m.subject);
  EXPECT_EQ(m.subject->media_type, media::kOciIndex);
  EXPECT_TRUE(m.subject->digest.hex().starts_with("dfae8f42"));
  EXPECT_EQ(m.subject->size, 934);
  EXPECT_EQ(m.annotations.at("preference"), "1");
}

TEST(ManifestFixtures, ManifestWithSubjectButNoArtifactType) {
  ImageManifest m = parse_image(manifest_fixture(kSubjectNoType), media::kOciManifest);
  EXPECT_TRUE(m.artifact_type.empty());
  EXPECT_EQ(m.config.media_type, media::kOciConfig);
  ASSERT_TRUE(m.subject);
  EXPECT_TRUE(m.subject->digest.hex().starts_with("7e87ffc9"));
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].media_type, "application/vnd.example.build-type+json");
}

TEST(ManifestFixtures, IndexThatIsItselfAReferrer) {
  Index index = parse_index(manifest_fixture(kArtifactIndex), media::kOciIndex);
  EXPECT_EQ(index.artifact_type, "application/example.loop");
  ASSERT_TRUE(index.subject);
  EXPECT_TRUE(index.subject->digest.hex().starts_with("8e54c675"));
  ASSERT_EQ(index.manifests.size(), 1u);
  EXPECT_FALSE(index.manifests[0].platform);
  EXPECT_TRUE(image_entries(index).empty());  // no platform: nothing to run
  auto chosen = select_platform(index, Platform{"linux", "amd64", "", ""});
  ASSERT_FALSE(chosen);
  EXPECT_EQ(chosen.error().message, "no manifest for platform linux/amd64; available: none");
}

TEST(ManifestFixtures, BuilderReferencesAreSkippedLikeAttestations) {
  Index index = parse_index(manifest_fixture(kBuilderIndex), media::kOciIndex);
  ASSERT_EQ(index.manifests.size(), 4u);
  EXPECT_EQ(index.manifests[2].annotations.at("vnd.docker.reference.type"), "builder");
  EXPECT_EQ(index.annotations.at("org.example.version"), "v1");
  auto entries = image_entries(index);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_TRUE(selected_hex(index, "linux/amd64").starts_with("1effc9d4"));
  EXPECT_TRUE(selected_hex(index, "linux/arm64").starts_with("7e87ffc9"));
  EXPECT_TRUE(selected_hex(index, "linux/arm64/v8").starts_with("7e87ffc9"));  // "" counts as v8
}

TEST(ManifestFixtures, ZstdLayers) {
  ImageManifest m = parse_image(manifest_fixture(kZstd), "");
  EXPECT_EQ(m.media_type, media::kOciManifest);
  ASSERT_EQ(m.layers.size(), 3u);
  for (const Descriptor& layer : m.layers) EXPECT_EQ(layer.media_type, media::kOciLayerZstd);
  EXPECT_EQ(m.layers[2].size, 73109);
  EXPECT_EQ(m.annotations.at("com.example.key2"), "value2");
}

}  // namespace
}  // namespace ferry::manifest
