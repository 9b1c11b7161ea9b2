// Bundles and import: the host platform first in manifest.json, ferry-bundle.json,
// a delta that leaves out the receipt's layers (verify accepts it, import needs
// them in the store), and import_archive landing only verified blobs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "export/archive_check.h"
#include "airgap/archive_import.h"
#include "export/export.h"
#include "unit/export/image_builder.h"
#include "unit/export/test_util.h"

namespace fs = std::filesystem;
using ferry::exporter::ArchiveScan;
using ferry::exporter::BundleOptions;
using ferry::exporter::check_archive;
using ferry::airgap::import_archive;
using ferry::exporter::write_docker_archive;
using namespace ferry::exporter::testing;

namespace {

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ferry::store::Store::open(tmp.path() / "store", true);
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
    base = make_layer(tmp.path() / "l.tar", {{"base", "shared"}});
    amd = make_layer(tmp.path() / "l.tar", {{"amd", "x86"}});
    arm = make_layer(tmp.path() / "l.tar", {{"arm", "aarch64"}});
    app = make_layer(tmp.path() / "l.tar", {{"app", std::string(3000, 'a')}});
    multi_amd = build_image(*store, "example.com/multi:1", {base, amd}, true, "amd64");
    multi_arm = build_image(*store, "example.com/multi:1", {base, arm}, true, "arm64");
    single = build_image(*store, "example.com/app:1", {base, app});
  }

  std::map<std::string, TarEntry> entries(const fs::path& p) { return by_name(parse_tar(read_file(p))); }

  TempDir tmp;
  std::optional<ferry::store::Store> store;
  Layer base, amd, arm, app;
  BuiltImage multi_amd, multi_arm, single;
};

}  // namespace

TEST_F(BundleTest, HostPlatformGoesIntoManifestJsonEveryPlatformIntoIndex) {
  BundleOptions opts;
  opts.bundle = true;
  opts.manifest_platform = ferry::manifest::Platform{"linux", "arm64", "", ""};
  fs::path out = tmp.path() / "bundle.tar";
  // arm64 listed second: the option moves it first for its reference.
  auto st = write_docker_archive(*store, {multi_amd.image, multi_arm.image, single.image}, out, {}, opts);
  ASSERT_TRUE(st) << st.error().message;
  auto e = entries(out);
  auto manifest = nlohmann::json::parse(e.at("manifest.json").content);
  ASSERT_EQ(manifest.size(), 2u);  // one per reference
  EXPECT_EQ(manifest[0]["Config"], blob_name(multi_arm.config_digest));
  EXPECT_EQ(manifest[0]["RepoTags"][0], "example.com/multi:1");
  auto index = nlohmann::json::parse(e.at("index.json").content);
  EXPECT_EQ(index["manifests"].size(), 3u);
  auto bundle = nlohmann::json::parse(e.at("ferry-bundle.json").content);
  EXPECT_EQ(bundle["kind"], "full");
  EXPECT_EQ(bundle["images"].size(), 3u);
  EXPECT_TRUE(bundle["omitted"].empty());
  // Each blob once: the shared base layer is one entry.
  EXPECT_EQ(e.count(blob_name(base.digest)), 1u);
}

TEST_F(BundleTest, DeltaLeavesOutReceiptLayersVerifiesAndImportsOnlyWhereTheyAre) {
  BundleOptions opts;
  opts.bundle = true;
  opts.omit_layers = {base.digest, amd.digest};
  opts.since = "sha256:" + std::string(64, '0');
  fs::path out = tmp.path() / "delta.tar";
  ASSERT_TRUE(write_docker_archive(*store, {multi_amd.image, single.image}, out, {}, opts));
  auto e = entries(out);
  EXPECT_EQ(e.count(blob_name(base.digest)), 0u);
  EXPECT_EQ(e.count(blob_name(amd.digest)), 0u);
  EXPECT_EQ(e.count(blob_name(app.digest)), 1u);
  EXPECT_EQ(e.count(blob_name(single.config_digest)), 1u);  // configs always
  auto bundle = nlohmann::json::parse(e.at("ferry-bundle.json").content);
  EXPECT_EQ(bundle["kind"], "delta");
  EXPECT_EQ(bundle["omitted"].size(), 2u);

  auto scan = ArchiveScan::scan(out);
  ASSERT_TRUE(scan);
  auto report = check_archive(*scan);
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  EXPECT_EQ(report.omitted.size(), 2u);

  // An empty store lacks the omitted layers: refused, nothing lands.
  auto empty = ferry::store::Store::open(tmp.path() / "empty", true);
  ASSERT_TRUE(empty);
  auto refused = import_archive(*empty, *scan, report);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find(base.digest.str()), std::string::npos);
  EXPECT_TRUE(fs::is_empty(tmp.path() / "empty" / "blobs" / "sha256"));

  // A store holding them takes the rest and learns both references.
  auto offline = ferry::store::Store::open(tmp.path() / "offline", true);
  ASSERT_TRUE(offline);
  ASSERT_TRUE(offline->put_blob(base.digest, base.gz));
  ASSERT_TRUE(offline->put_blob(amd.digest, amd.gz));
  auto imported = import_archive(*offline, *scan, report);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_TRUE(offline->has_blob(app.digest));
  EXPECT_TRUE(offline->has_blob(multi_amd.image.descriptor.digest));
  ASSERT_EQ(imported->references.size(), 2u);
  EXPECT_EQ(imported->references.at("example.com/app:1").at(0).digest, single.image.descriptor.digest);
}

TEST_F(BundleTest, ImportOfACorruptArchiveLandsNothing) {
  fs::path out = tmp.path() / "one.tar";
  ASSERT_TRUE(write_docker_archive(*store, {single.image}, out, {}));
  // Flip one byte of the app layer inside the tarball.
  std::string bytes = read_file(out);
  size_t at = bytes.find(app.gz.substr(10, 60));
  ASSERT_NE(at, std::string::npos);
  bytes[at] ^= 0x01;
  write_file(out, bytes);
  auto scan = ArchiveScan::scan(out);
  ASSERT_TRUE(scan);
  auto report = check_archive(*scan);
  EXPECT_FALSE(report.ok());
  auto offline = ferry::store::Store::open(tmp.path() / "offline", true);
  ASSERT_TRUE(offline);
  EXPECT_FALSE(import_archive(*offline, *scan, report));
  EXPECT_TRUE(fs::is_empty(tmp.path() / "offline" / "blobs" / "sha256"));
}

// ferry-bundle.json's references end up in the importing store's index.json: one
// naming a manifest the archive does not hold is a problem, and nothing lands.
TEST_F(BundleTest, ABundleNamingAManifestItDoesNotHoldFailsItsCheck) {
  BundleOptions opts;
  opts.bundle = true;
  fs::path out = tmp.path() / "bundle.tar";
  ASSERT_TRUE(write_docker_archive(*store, {single.image}, out, {}, opts));
  std::string bytes = read_file(out);
  const std::string real(single.image.descriptor.digest.hex());
  const std::string fake(ferry::digest::sha256_of("no such manifest").hex());
  const size_t json_at = bytes.find("\"ferryBundle\"");
  ASSERT_NE(json_at, std::string::npos);
  const size_t at = bytes.find(real, json_at);  // the entry's own bytes; same length keeps the tar valid
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, real.size(), fake);
  write_file(out, bytes);
  auto scan = ArchiveScan::scan(out);
  ASSERT_TRUE(scan);
  auto report = check_archive(*scan);
  ASSERT_FALSE(report.ok());
  bool named = false;
  for (const auto& p : report.problems) named |= p.find(fake) != std::string::npos;
  EXPECT_TRUE(named);
  auto offline = ferry::store::Store::open(tmp.path() / "offline", true);
  ASSERT_TRUE(offline);
  EXPECT_FALSE(import_archive(*offline, *scan, report));
}

// A name in manifest.json or ferry-bundle.json that is not a reference is a
// problem naming it, for verify and import alike, never an image under no name.
TEST_F(BundleTest, AnUnparseableNameIsAProblemNamingIt) {
  for (const std::string key : {"\"RepoTags\"", "\"reference\""}) {
    BundleOptions opts;
    opts.bundle = true;
    fs::path out = tmp.path() / "names.tar";
    ASSERT_TRUE(write_docker_archive(*store, {single.image}, out, {}, opts));
    std::string bytes = read_file(out);
    const size_t key_at = bytes.find(key);
    ASSERT_NE(key_at, std::string::npos) << key;
    const size_t at = bytes.find("example.com/app:1", key_at);
    ASSERT_NE(at, std::string::npos) << key;
    bytes.replace(at, 17, "example.com/APP:1");  // same length: the tar stays valid; uppercase is no repository
    write_file(out, bytes);
    auto scan = ArchiveScan::scan(out);
    ASSERT_TRUE(scan);
    auto report = check_archive(*scan);
    EXPECT_FALSE(report.ok()) << key;
    bool named = false;
    for (const auto& p : report.problems) named |= p.find("example.com/APP:1") != std::string::npos;
    for (const auto& img : report.images) {
      for (const auto& p : img.problems) named |= p.find("example.com/APP:1") != std::string::npos;
    }
    EXPECT_TRUE(named) << key;
    auto offline = ferry::store::Store::open(tmp.path() / ("offline-" + key.substr(1, 4)), true);
    ASSERT_TRUE(offline);
    EXPECT_FALSE(import_archive(*offline, *scan, report)) << key;
  }
}

// The scan keeps at most max_entries entries and max_name_bytes of names: beyond
// either, a problem saying so, and the archive does not verify.
TEST_F(BundleTest, ScanCapsEntriesAndNames) {
  fs::path out = tmp.path() / "caps.tar";
  ASSERT_TRUE(write_docker_archive(*store, {single.image}, out, {}));
  auto whole = ArchiveScan::scan(out);
  ASSERT_TRUE(whole);
  ASSERT_TRUE(check_archive(*whole).ok());
  const size_t n = whole->entries().size();
  ASSERT_GT(n, 2u);
  for (auto opts : {ferry::exporter::ScanOptions{true, n - 1, ferry::exporter::kMaxArchiveNameBytes},
                    ferry::exporter::ScanOptions{true, n, 40}}) {
    auto scan = ArchiveScan::scan(out, opts);
    ASSERT_TRUE(scan);
    auto report = check_archive(*scan);
    EXPECT_FALSE(report.ok());
    bool named = false;
    for (const auto& p : report.problems) named |= p.find("not an image archive ferry reads") != std::string::npos;
    EXPECT_TRUE(named);
  }
  auto exact = ArchiveScan::scan(out, {true, n, ferry::exporter::kMaxArchiveNameBytes});
  ASSERT_TRUE(exact);
  EXPECT_TRUE(check_archive(*exact).ok()) << "exactly at the cap is fine";
}
