// store::verify on synthetic stores: images made of real manifest JSON committed with
// put_blob and named in index.json with upsert_index, then damaged on disk one way
// at a time (a flipped byte, a deleted layer, a bad name, a broken index.json, ...).
#include "store/verify.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "digest/digest.h"
#include "manifest/manifest.h"
#include "store/store.h"
#include "store_test_util.h"

namespace fs = std::filesystem;
using ferry::digest::Digest;
using ferry::digest::sha256_of;
using ferry::manifest::Descriptor;
using ferry::store::IndexEntry;
using ferry::store::Store;
using ferry::store::VerifyProblem;
using ferry::store::VerifyReport;
namespace media = ferry::manifest::media;

namespace {

using ferry::store::testing::descriptor_json;
using ferry::store::testing::put;
using ferry::store::testing::TempDir;

std::string manifest_json(const Descriptor& config, const std::vector<Descriptor>& layers) {
  std::string list;
  for (const auto& l : layers) list += (list.empty() ? "" : ",") + descriptor_json(l);
  return fmt::format(R"({{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}})", media::kDockerManifest,
                     descriptor_json(config), list);
}

struct Image {
  Descriptor manifest, config;
  std::vector<Descriptor> layers;
};

// An image with one layer per entry of `layers` (their contents), committed to `s`.
Image make_image(Store& s, const std::string& name, const std::vector<std::string>& layers) {
  Image img;
  std::vector<Digest> diff_ids;
  for (const auto& content : layers) {
    auto l = ferry::store::testing::put_layer(s, content);
    img.layers.push_back(l.descriptor);
    diff_ids.push_back(l.diff_id);
  }
  img.config = put(s, ferry::store::testing::config_json(R"("architecture":"amd64","os":"linux","name":")" + name + "\"", diff_ids),
                   media::kDockerConfig);
  img.manifest = put(s, manifest_json(img.config, img.layers), media::kDockerManifest);
  return img;
}

void name_it(Store& s, const Descriptor& d, const std::string& ref) {
  ASSERT_TRUE(s.upsert_index({IndexEntry{d, ref}}));
}

fs::path path_of(const Store& s, const Descriptor& d) { return s.blob_path(d.digest); }

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

VerifyReport check(const Store& s) {
  auto r = ferry::store::verify(s);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : VerifyReport{};
}

// The problems of `kind`, one message each.
std::vector<std::string> problems(const VerifyReport& r, VerifyProblem::Kind kind) {
  std::vector<std::string> out;
  for (const auto& p : r.problems) {
    if (p.kind == kind) out.push_back(p.message);
  }
  return out;
}

std::string all_problems(const VerifyReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += p.message + "\n";
  return out;
}

bool mentions(const std::vector<std::string>& messages, const std::string& what) {
  return std::any_of(messages.begin(), messages.end(),
                     [&](const std::string& m) { return m.find(what) != std::string::npos; });
}

struct Fixture {
  TempDir t;
  Store s;
  Image a;
  Fixture() : s(*Store::open(t.path(), true)) {
    a = make_image(s, "a", {"base layer", "top layer of a"});
    name_it(s, a.manifest, "example.com/ns/a:1");
  }
};

}  // namespace

TEST(Verify, ConsistentStoreHasNoProblems) {
  Fixture f;
  make_image(f.s, "orphan", {"orphan layer"});  // unreferenced: counted, not a problem
  auto r = check(f.s);
  EXPECT_TRUE(r.ok()) << all_problems(r);
  EXPECT_EQ(r.index_entries, 1u);
  EXPECT_EQ(r.blobs, 7u);
  EXPECT_EQ(r.reachable, 4u);
  EXPECT_EQ(r.unreferenced, 3u);
}

TEST(Verify, FindsAFlippedByte) {
  Fixture f;
  const fs::path p = path_of(f.s, f.a.layers[1]);
  std::string data = read_all(p);
  data[data.size() - 3] ^= 1;  // inside the gzip trailer's length: same size, other hash
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  auto r = check(f.s);
  auto corrupt = problems(r, VerifyProblem::Kind::Corrupt);
  ASSERT_EQ(corrupt.size(), 1u) << all_problems(r);
  EXPECT_TRUE(mentions(corrupt, f.a.layers[1].digest.str()));
  EXPECT_EQ(r.problems.size(), 1u) << all_problems(r);  // same size: nothing else wrong
}

TEST(Verify, HashingCanBeSkipped) {
  Fixture f;
  std::string data = read_all(path_of(f.s, f.a.layers[0]));
  data[data.size() - 3] ^= 1;
  std::ofstream(path_of(f.s, f.a.layers[0]), std::ios::binary | std::ios::trunc) << data;
  auto r = ferry::store::verify(f.s, {.hash_content = false});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << all_problems(*r);
}

TEST(Verify, FindsAMissingLayer) {
  Fixture f;
  fs::remove(path_of(f.s, f.a.layers[0]));
  auto r = check(f.s);
  auto missing = problems(r, VerifyProblem::Kind::Missing);
  ASSERT_EQ(missing.size(), 1u) << all_problems(r);
  EXPECT_TRUE(mentions(missing, f.a.layers[0].digest.str()));
  EXPECT_TRUE(mentions(missing, "example.com/ns/a:1"));
}

TEST(Verify, FindsAMissingManifestAndConfig) {
  Fixture f;
  fs::remove(path_of(f.s, f.a.config));
  auto r = check(f.s);
  EXPECT_TRUE(mentions(problems(r, VerifyProblem::Kind::Missing), "config " + f.a.config.digest.str()));
  fs::remove(path_of(f.s, f.a.manifest));
  r = check(f.s);
  EXPECT_TRUE(mentions(problems(r, VerifyProblem::Kind::Missing), "manifest " + f.a.manifest.digest.str()));
}

TEST(Verify, FindsABadBlobName) {
  Fixture f;
  std::ofstream(f.t.path() / "blobs/sha256/not-a-digest") << "x";
  std::ofstream(f.t.path() / "blobs/sha256" / std::string(64, 'A')) << "x";
  auto r = check(f.s);
  auto bad = problems(r, VerifyProblem::Kind::BadName);
  EXPECT_EQ(bad.size(), 2u) << all_problems(r);
  EXPECT_TRUE(mentions(bad, "blobs/sha256/not-a-digest"));
  EXPECT_EQ(r.problems.size(), 2u) << all_problems(r);
}

TEST(Verify, FindsABrokenIndexJsonAndStillHashesBlobs) {
  Fixture f;
  std::ofstream(f.t.path() / "index.json", std::ios::trunc) << "{\"manifests\": [";
  std::ofstream(path_of(f.s, f.a.config), std::ios::trunc) << "garbage";
  auto r = check(f.s);
  auto bad = problems(r, VerifyProblem::Kind::BadIndex);
  ASSERT_EQ(bad.size(), 1u) << all_problems(r);
  EXPECT_TRUE(mentions(bad, "index.json"));
  EXPECT_TRUE(mentions(problems(r, VerifyProblem::Kind::Corrupt), f.a.config.digest.str()));
}

TEST(Verify, FindsASizeThatDisagreesWithItsDescriptor) {
  TempDir t;
  auto s = *Store::open(t.path(), true);
  Descriptor layer = put(s, "twelve bytes", media::kDockerLayerGzip);
  Descriptor config = put(s, R"({"os":"linux","architecture":"amd64"})", media::kDockerConfig);
  Descriptor wrong = layer;
  wrong.size = 13;
  Descriptor m = put(s, manifest_json(config, {wrong}), media::kDockerManifest);
  name_it(s, m, "example.com/x:1");
  auto r = check(s);
  auto sizes = problems(r, VerifyProblem::Kind::SizeMismatch);
  ASSERT_EQ(sizes.size(), 1u) << all_problems(r);
  EXPECT_TRUE(mentions(sizes, layer.digest.str()));
}

TEST(Verify, FindsAnUnparsableManifest) {
  TempDir t;
  auto s = *Store::open(t.path(), true);
  Descriptor m = put(s, R"({"schemaVersion":2,"config":42})", media::kOciManifest);
  name_it(s, m, "example.com/x:1");
  auto r = check(s);
  auto bad = problems(r, VerifyProblem::Kind::BadManifest);
  ASSERT_EQ(bad.size(), 1u) << all_problems(r);
  EXPECT_TRUE(mentions(bad, m.digest.str()));
}

TEST(Verify, ForeignLayersMayBeAbsent) {
  TempDir t;
  auto s = *Store::open(t.path(), true);
  Descriptor foreign{std::string(media::kDockerForeignLayerGzip), sha256_of("windows base"), 12, {}, {}, {}};
  auto app = ferry::store::testing::put_layer(s, "app layer");
  Descriptor layer = app.descriptor;
  Descriptor config = put(s, ferry::store::testing::config_json(R"("os":"windows","architecture":"amd64")",
                                                                 {sha256_of("windows base tar"), app.diff_id}),
                          media::kDockerConfig);
  Descriptor m = put(s, manifest_json(config, {foreign, layer}), media::kDockerManifest);
  name_it(s, m, "example.com/win:1");
  auto r = check(s);
  EXPECT_TRUE(r.ok()) << all_problems(r);
}

TEST(Verify, IndexNeedsItsImageChildrenButNotItsAttestations) {
  TempDir t;
  auto s = *Store::open(t.path(), true);
  Image amd = make_image(s, "amd64", {"amd64 layer"});
  Image arm = make_image(s, "arm64", {"arm64 layer"});
  Descriptor attestation{std::string(media::kOciManifest), sha256_of("never fetched"), 13, {}, {}, {}};
  std::string index = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"{}","manifests":[)"
      R"({{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}},)"
      R"({{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"arm64"}}}},)"
      R"({{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"unknown","architecture":"unknown"}},)"
      R"("annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}]}})",
      media::kOciIndex, amd.manifest.media_type, amd.manifest.digest.str(), amd.manifest.size,
      arm.manifest.media_type, arm.manifest.digest.str(), arm.manifest.size, attestation.media_type,
      attestation.digest.str(), attestation.size);
  Descriptor idx = put(s, index, media::kOciIndex);
  name_it(s, idx, "example.com/multi:1");
  auto r = check(s);
  EXPECT_TRUE(r.ok()) << all_problems(r);
  EXPECT_EQ(r.unreferenced, 0u);

  fs::remove(s.blob_path(arm.manifest.digest));
  r = check(s);
  EXPECT_TRUE(mentions(problems(r, VerifyProblem::Kind::Missing), arm.manifest.digest.str())) << all_problems(r);
}

TEST(Verify, StrayTempFilesAreProblemsPartialsAreNot) {
  Fixture f;
  {
    auto in = f.s.begin_ingest(sha256_of("resumable"), 9);
    ASSERT_TRUE(in);
    ASSERT_TRUE((*in)->write("resu", 4));
  }
  auto r = check(f.s);
  EXPECT_TRUE(r.ok()) << all_problems(r);
  ASSERT_EQ(r.partials.size(), 1u);
  EXPECT_EQ(r.partials[0].size, 4u);

  std::ofstream(f.t.path() / "index.json.tmp.123.0") << "{";
  std::ofstream(f.t.path() / "blobs/sha256" / (std::string(f.a.config.digest.hex()) + ".tmp.77.3")) << "x";
  r = check(f.s);
  auto stray = problems(r, VerifyProblem::Kind::StrayFile);
  EXPECT_EQ(stray.size(), 2u) << all_problems(r);
  EXPECT_TRUE(mentions(stray, "index.json.tmp.123.0"));
  EXPECT_EQ(r.problems.size(), 2u) << all_problems(r);
}

TEST(Verify, ASegmentRecordIsAProblemOnlyWithoutItsPartial) {
  Fixture f;
  const std::string hex(sha256_of("segmented").hex());
  const fs::path ingest = f.t.path() / "ingest";
  std::ofstream(ingest / (hex + ".partial")) << "seg";
  std::ofstream(ingest / (hex + ".segments")) << "0 3\nend\n";
  auto r = check(f.s);
  EXPECT_TRUE(r.ok()) << all_problems(r);

  fs::remove(ingest / (hex + ".partial"));  // as after a kill between commit's rename and the record's removal
  r = check(f.s);
  auto stray = problems(r, VerifyProblem::Kind::StrayFile);
  ASSERT_EQ(stray.size(), 1u) << all_problems(r);
  EXPECT_TRUE(mentions(stray, hex + ".segments: segment record without its partial download"));
}

namespace {

std::string zstd_frame(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

// One image whose single layer is `blob` (as stored, `media_type`) and whose
// config names `diff_id`.
Descriptor image_of_layer(Store& s, const std::string& blob, std::string_view media_type, const Digest& diff_id) {
  Descriptor layer = put(s, blob, media_type);
  Descriptor config = put(s, ferry::store::testing::config_json(R"("os":"linux","architecture":"amd64")", {diff_id}),
                          media::kOciConfig);
  Descriptor m = put(s, manifest_json(config, {layer}), media::kDockerManifest);
  name_it(s, m, "example.com/layer:1");
  return layer;
}

}  // namespace

TEST(VerifyDiffIds, GzipAndZstdLayersMatchingTheirConfigPassAndAreCounted) {
  TempDir t;
  auto s = *Store::open(t.path(), true);
  const std::string tar = "a tar stream, as far as diff_ids go";
  image_of_layer(s, zstd_frame(tar.substr(0, 5)) + zstd_frame(tar.substr(5)), media::kOciLayerZstd, sha256_of(tar));
  auto r = check(s);
  EXPECT_TRUE(r.ok()) << all_problems(r);
  EXPECT_EQ(r.layers, 1u);
  EXPECT_EQ(r.diff_ids_checked, 1u);
  Fixture f;  // two gzip layers
  auto g = check(f.s);
  EXPECT_TRUE(g.ok()) << all_problems(g);
  EXPECT_EQ(g.diff_ids_checked, 2u);
}

TEST(VerifyDiffIds, AWrongDiffIdIsFoundForGzipAndForZstd) {
  const std::string tar = "layer content";
  const Digest wrong = sha256_of("another layer content");
  struct Case {
    const char* name;
    std::string blob;
    std::string_view media_type;
  };
  const Case cases[] = {{"gzip", ferry::store::testing::gzip(tar), media::kDockerLayerGzip},
                        {"zstd", zstd_frame(tar), media::kOciLayerZstd}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir t;
    auto s = *Store::open(t.path(), true);
    Descriptor layer = image_of_layer(s, c.blob, c.media_type, wrong);
    auto r = check(s);
    auto bad = problems(r, VerifyProblem::Kind::BadLayer);
    ASSERT_EQ(bad.size(), 1u) << all_problems(r);
    EXPECT_TRUE(mentions(bad, layer.digest.str()));
    EXPECT_TRUE(mentions(bad, wrong.str()));
    EXPECT_TRUE(mentions(bad, sha256_of(tar).str()));
    EXPECT_TRUE(mentions(bad, c.name));
    // --quick: hashed but not decompressed, so nothing to see.
    auto quick = ferry::store::verify(s, {.hash_content = true, .check_diff_ids = false});
    ASSERT_TRUE(quick);
    EXPECT_TRUE(quick->ok()) << all_problems(*quick);
    EXPECT_EQ(quick->diff_ids_checked, 0u);
    EXPECT_EQ(quick->layers, 1u);
  }
}

TEST(VerifyDiffIds, ALayerThatIsNotWhatItsMediaTypeSaysOrDoesNotDecompressIsFound) {
  const std::string tar = "plain bytes under a gzip media type";
  struct Case {
    const char* name;
    std::string blob;
    std::string_view media_type;
    const char* says;
  };
  const std::string z = zstd_frame(tar);
  const Case cases[] = {
      {"plain declared gzip", tar, media::kDockerLayerGzip, "its content is plain"},
      {"zstd declared gzip", z, media::kOciLayerGzip, "its content is zstd"},
      {"truncated zstd", z.substr(0, z.size() - 2), media::kOciLayerZstd, "does not decompress (zstd)"},
      {"truncated gzip", ferry::store::testing::gzip(tar).substr(0, 20), media::kOciLayerGzip,
       "does not decompress (gzip)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir t;
    auto s = *Store::open(t.path(), true);
    image_of_layer(s, c.blob, c.media_type, sha256_of(tar));
    auto r = check(s);
    auto bad = problems(r, VerifyProblem::Kind::BadLayer);
    ASSERT_EQ(bad.size(), 1u) << all_problems(r);
    EXPECT_TRUE(mentions(bad, c.says)) << all_problems(r);
  }
}
