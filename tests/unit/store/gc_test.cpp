// store::gc on synthetic stores: two images sharing their base layers (real Docker
// schema2 manifest JSON committed with put_blob, named with upsert_index), one kept
// and one dropped; checks what goes, what stays, and when gc must refuse to run.
#include "store/gc.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "digest/digest.h"
#include "manifest/manifest.h"
#include "store/fs_util.h"
#include "store/store.h"
#include "store_test_util.h"
#include "store/verify.h"

namespace fs = std::filesystem;
using ferry::digest::Digest;
using ferry::digest::sha256_of;
using ferry::manifest::Descriptor;
using ferry::store::GcOptions;
using ferry::store::GcReport;
using ferry::store::IndexEntry;
using ferry::store::Store;
namespace media = ferry::manifest::media;

namespace {

constexpr const char* kRefA = "example.com/ns/a:1";
constexpr const char* kRefB = "example.com/ns/b:1";

using ferry::store::testing::descriptor_json;
using ferry::store::testing::put;
using ferry::store::testing::TempDir;

struct Image {
  Descriptor manifest, config;
  std::vector<Descriptor> layers;
};

Image make_image(Store& s, const std::string& name, const std::vector<std::string>& layers) {
  Image img;
  std::string list;
  std::vector<ferry::digest::Digest> diff_ids;
  for (const auto& content : layers) {
    auto l = ferry::store::testing::put_layer(s, content);
    img.layers.push_back(l.descriptor);
    diff_ids.push_back(l.diff_id);
    list += (list.empty() ? "" : ",") + descriptor_json(img.layers.back());
  }
  img.config = put(s, ferry::store::testing::config_json(R"("architecture":"amd64","os":"linux","name":")" + name + "\"", diff_ids),
                   media::kDockerConfig);
  img.manifest = put(s,
                     fmt::format(R"({{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}})",
                                 media::kDockerManifest, descriptor_json(img.config), list),
                     media::kDockerManifest);
  return img;
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

std::vector<std::string> index_refs(const Store& s) {
  auto entries = s.read_index();
  EXPECT_TRUE(entries);
  std::vector<std::string> out;
  for (const auto& e : entries.value_or(std::vector<IndexEntry>{})) out.push_back(e.ref_name);
  return out;
}

std::vector<Digest> removed(const GcReport& r) {
  std::vector<Digest> out;
  for (const auto& b : r.removed_blobs) out.push_back(b.digest);
  std::sort(out.begin(), out.end());
  return out;
}

// a and b share two base layers; each has its own top layer and config.
struct Fixture {
  TempDir t;
  Store s;
  Image a, b;
  Fixture() : s(*Store::open(t.path(), true)) {
    a = make_image(s, "a", {"shared base 1", "shared base 2", "top of a"});
    b = make_image(s, "b", {"shared base 1", "shared base 2", "top of b"});
    EXPECT_TRUE(s.upsert_index({IndexEntry{a.manifest, kRefA}}));
    EXPECT_TRUE(s.upsert_index({IndexEntry{b.manifest, kRefB}}));
  }
  fs::path blobs() const { return t.path() / "blobs" / "sha256"; }
};

}  // namespace

TEST(Gc, KeepsSharedLayersOfAKeptImageWhenAnotherIsDropped) {
  Fixture f;
  ASSERT_EQ(count_files(f.blobs()), 8u);
  auto r = ferry::store::gc(f.s, {kRefA});
  ASSERT_TRUE(r) << r.error().message;
  std::vector<Digest> want{f.b.manifest.digest, f.b.config.digest, f.b.layers[2].digest};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(removed(*r), want);
  EXPECT_EQ(r->dropped_refs, std::vector<std::string>{kRefB});
  EXPECT_EQ(r->bytes_freed,
            static_cast<uint64_t>(f.b.manifest.size + f.b.config.size + f.b.layers[2].size));
  EXPECT_EQ(r->kept_entries, 1u);
  EXPECT_EQ(r->marked_blobs, 5u);
  EXPECT_EQ(count_files(f.blobs()), 5u);
  for (const auto& l : f.a.layers) EXPECT_TRUE(f.s.has_blob(l.digest, l.size));
  EXPECT_EQ(index_refs(f.s), std::vector<std::string>{kRefA});
  auto v = ferry::store::verify(f.s);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(v->unreferenced, 0u);
}

TEST(Gc, RemovesOnlyUnreferencedBlobs) {
  Fixture f;
  Descriptor orphan = put(f.s, "left over from an old tag", media::kDockerLayerGzip);
  std::ofstream(f.blobs() / "not-a-digest") << "not ours";
  auto r = ferry::store::gc(f.s, {kRefA, kRefB});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(removed(*r), std::vector<Digest>{orphan.digest});
  EXPECT_TRUE(r->dropped_refs.empty());
  EXPECT_TRUE(fs::exists(f.blobs() / "not-a-digest"));
  EXPECT_EQ(count_files(f.blobs()), 9u);
  EXPECT_EQ(index_refs(f.s), (std::vector<std::string>{kRefA, kRefB}));
}

TEST(Gc, DryRunRemovesNothing) {
  Fixture f;
  std::string index_before = *ferry::store::read_file(f.t.path() / "index.json", 1 << 20);
  auto r = ferry::store::gc(f.s, {kRefA}, {.dry_run = true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->dry_run);
  EXPECT_EQ(r->removed_blobs.size(), 3u);
  EXPECT_EQ(r->dropped_refs, std::vector<std::string>{kRefB});
  EXPECT_EQ(count_files(f.blobs()), 8u);
  EXPECT_EQ(*ferry::store::read_file(f.t.path() / "index.json", 1 << 20), index_before);
}

TEST(Gc, AbortsWhenAKeptManifestIsMissing) {
  Fixture f;
  fs::remove(f.s.blob_path(f.a.manifest.digest));
  auto r = ferry::store::gc(f.s, {kRefA});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(f.a.manifest.digest.str()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("nothing deleted"), std::string::npos) << r.error().message;
  EXPECT_EQ(count_files(f.blobs()), 7u);
  EXPECT_EQ(index_refs(f.s), (std::vector<std::string>{kRefA, kRefB}));
}

TEST(Gc, AbortsWhenAKeptManifestIsUnparsable) {
  Fixture f;
  Descriptor broken = put(f.s, R"({"schemaVersion":2,"layers":"no"})", media::kDockerManifest);
  ASSERT_TRUE(f.s.upsert_index({IndexEntry{broken, "example.com/ns/broken:1"}}));
  auto r = ferry::store::gc(f.s, {kRefA, "example.com/ns/broken:1"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(broken.digest.str()), std::string::npos) << r.error().message;
  EXPECT_EQ(count_files(f.blobs()), 9u);
}

TEST(Gc, AbortsWhenAnImageOfAKeptIndexIsMissing) {
  Fixture f;
  std::string index = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"{}","manifests":[)"
      R"({{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}},)"
      R"({{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"arm64"}}}}]}})",
      media::kOciIndex, f.a.manifest.media_type, f.a.manifest.digest.str(), f.a.manifest.size,
      f.b.manifest.media_type, f.b.manifest.digest.str(), f.b.manifest.size);
  Descriptor idx = put(f.s, index, media::kOciIndex);
  ASSERT_TRUE(f.s.upsert_index({IndexEntry{idx, "example.com/ns/multi:1"}}));
  auto r = ferry::store::gc(f.s, {"example.com/ns/multi:1"});  // both images reached via the index
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->removed_blobs.empty());
  EXPECT_EQ(r->dropped_refs, (std::vector<std::string>{kRefA, kRefB}));

  fs::remove(f.s.blob_path(f.b.manifest.digest));
  r = ferry::store::gc(f.s, {"example.com/ns/multi:1"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(f.b.manifest.digest.str()), std::string::npos) << r.error().message;
}

TEST(Gc, RemovesOldPartialsButKeepsFreshOnes) {
  Fixture f;
  for (const char* body : {"old download", "fresh download"}) {
    auto in = f.s.begin_ingest(sha256_of(body), 100);
    ASSERT_TRUE(in);
    ASSERT_TRUE((*in)->write(body, 5));
  }
  const fs::path old_partial = f.t.path() / "ingest" / (std::string(sha256_of("old download").hex()) + ".partial");
  const fs::path fresh_partial =
      f.t.path() / "ingest" / (std::string(sha256_of("fresh download").hex()) + ".partial");
  fs::last_write_time(old_partial, fs::file_time_type::clock::now() - std::chrono::hours(25));
  auto r = ferry::store::gc(f.s, {kRefA, kRefB});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->removed_partials.size(), 1u);
  EXPECT_EQ(r->removed_partials[0].path, old_partial);
  EXPECT_EQ(r->partial_bytes_freed, 5u);
  EXPECT_FALSE(fs::exists(old_partial));
  EXPECT_TRUE(fs::exists(fresh_partial));

  // The age limit is the caller's: a clock two days ahead makes the fresh one old.
  GcOptions later;
  later.now = std::chrono::system_clock::now() + std::chrono::hours(48);
  later.dry_run = true;
  r = ferry::store::gc(f.s, {kRefA, kRefB}, later);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->removed_partials.size(), 1u);
  EXPECT_TRUE(fs::exists(fresh_partial));
}

TEST(Gc, RemovesSegmentRecordsWhosePartialIsGoneAtAnyAge) {
  Fixture f;
  const fs::path ingest = f.t.path() / "ingest";
  const std::string kept(sha256_of("still resuming").hex()), orphan(sha256_of("committed").hex());
  std::ofstream(ingest / (kept + ".partial")) << "abc";
  std::ofstream(ingest / (kept + ".segments")) << "0 3\nend\n";
  std::ofstream(ingest / (orphan + ".segments")) << "0 3\nend\n";
  GcOptions dry;
  dry.dry_run = true;
  auto r = ferry::store::gc(f.s, {kRefA, kRefB}, dry);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->removed_records.size(), 1u);
  EXPECT_TRUE(fs::exists(ingest / (orphan + ".segments")));

  r = ferry::store::gc(f.s, {kRefA, kRefB});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->removed_records.size(), 1u);
  EXPECT_EQ(r->removed_records[0], ingest / (orphan + ".segments"));
  EXPECT_FALSE(fs::exists(ingest / (orphan + ".segments")));
  EXPECT_TRUE(fs::exists(ingest / (kept + ".segments")));
  EXPECT_TRUE(fs::exists(ingest / (kept + ".partial")));
  EXPECT_TRUE(r->removed_partials.empty());
}

TEST(Gc, DropsLastPullRecordsOfRemovedReferences) {
  Fixture f;
  const fs::path last = f.t.path() / "state" / "last-pulls.json";
  std::ofstream(last) << fmt::format(R"({{"{}":{{"digest":"{}","platforms":"linux/amd64"}},)"
                                     R"("{}":{{"digest":"{}","platforms":"linux/amd64"}}}})",
                                     kRefA, f.a.manifest.digest.str(), kRefB, f.b.manifest.digest.str());
  auto r = ferry::store::gc(f.s, {kRefA});
  ASSERT_TRUE(r) << r.error().message;
  std::string text = *ferry::store::read_file(last, 1 << 20);
  EXPECT_NE(text.find(kRefA), std::string::npos) << text;
  EXPECT_EQ(text.find(kRefB), std::string::npos) << text;
  EXPECT_NE(text.find(f.a.manifest.digest.str()), std::string::npos) << text;
}

// A converted schema1 image (sync/schema1_convert.h): its entry's annotation names the
// schema1 payload, which gc keeps and verify requires.
TEST(Gc, KeepsTheSchema1PayloadThatAnEntryAnnotates) {
  TempDir t;
  auto s = Store::open(t.path(), true);
  ASSERT_TRUE(s);
  Image img = make_image(*s, "s1", {"layer"});
  Descriptor payload = put(*s, R"({"schemaVersion":1,"fsLayers":[],"history":[]})", media::kDockerSchema1);
  Descriptor entry = img.manifest;
  entry.annotations[std::string(ferry::store::kSchema1DigestAnnotation)] = payload.digest.str();
  ASSERT_TRUE(s->upsert_index({{entry, kRefA}}));
  auto r = ferry::store::gc(*s, {kRefA});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->removed_blobs.empty());
  EXPECT_TRUE(s->has_blob(payload.digest));
  auto v = ferry::store::verify(*s);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(v->unreferenced, 0u);
  // Without it the store names content it lacks.
  fs::remove(s->blob_path(payload.digest));
  v = ferry::store::verify(*s);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->problems.size(), 1u);
  EXPECT_EQ(v->problems[0].kind, ferry::store::VerifyProblem::Kind::Missing);
  EXPECT_NE(v->problems[0].message.find(payload.digest.str()), std::string::npos) << v->problems[0].message;
}

// A referrer (here: image b recorded as a signature of a) is kept with its subject
// and goes with it; one of another subject is not kept by it.
TEST(Gc, KeepsTheReferrersOfAKeptImageAndDropsThemWithIt) {
  Fixture f;
  Descriptor sig = f.b.manifest;
  sig.annotations[std::string(ferry::store::kReferrerOfAnnotation)] = kRefA;
  sig.annotations[std::string(ferry::store::kReferrerSubjectAnnotation)] = f.a.manifest.digest.str();
  const std::string sig_ref = std::string("example.com/ns/a:sha256-") + std::string(f.a.manifest.digest.hex()) + ".sig";
  ASSERT_TRUE(f.s.upsert_index({IndexEntry{sig, sig_ref}}));
  auto kept = ferry::store::gc(f.s, {kRefA});
  ASSERT_TRUE(kept) << kept.error().message;
  std::vector<std::string> want{kRefA, kRefB, sig_ref};
  auto refs = index_refs(f.s);
  std::sort(refs.begin(), refs.end());
  std::erase(want, std::string(kRefB));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(refs, want);
  EXPECT_TRUE(f.s.has_blob(f.b.layers[2].digest));  // the referrer's own blobs stay
  auto dropped = ferry::store::gc(f.s, {kRefB});
  ASSERT_TRUE(dropped) << dropped.error().message;
  EXPECT_TRUE(index_refs(f.s).empty());
}
