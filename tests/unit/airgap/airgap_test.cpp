// The air-gap workflow against real stores and export sets: a reference's files
// written, then hard-linked when nothing changed, carried when its image failed;
// import of a tarball and of an export directory (references recorded last, the
// problems named), refusals that land nothing.
#include <gtest/gtest.h>

#include <fstream>

#include "airgap/bundle.h"
#include "airgap/export_files.h"
#include "airgap/import.h"
#include "airgap/sync_export.h"
#include "export/archive_check.h"
#include "export/export.h"
#include "unit/export/image_builder.h"
#include "unit/export/test_util.h"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::exporter::testing;

namespace {

class AirgapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store.emplace(open_store("online"));
    base = make_layer(tmp.path() / "l.tar", {{"base", "shared"}});
    app = make_layer(tmp.path() / "l.tar", {{"app", std::string(3000, 'a')}});
    image = build_image(*store, "example.com/app:1", {base, app});
    entries = {image.image.descriptor};
    names = sync::ExportNames({image.image.ref});
  }

  store::Store open_store(const std::string& name) {
    auto s = store::Store::open(tmp.path() / name, true);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }

  // One export-set generation holding this test's image (or carrying it).
  core::Result<airgap::ExportedFiles> export_once(bool carry = false) {
    auto set = airgap::ExportSetBuilder::begin(tmp.path() / "export");
    if (!set) return core::fail(set.error());
    airgap::ExportedFiles files;
    if (carry) {
      auto kept = airgap::carry_reference(*set, image.image.ref.str());
      if (!kept) return core::fail(kept.error());
      files.names = *kept;
    } else {
      auto written = airgap::export_reference(*store, *set, image.image.ref, entries, {}, false, names);
      if (!written) return written;
      files = *written;
    }
    if (auto st = set->commit(); !st) return core::fail(st.error());
    return files;
  }

  TempDir tmp;
  std::optional<store::Store> store;
  Layer base, app;
  BuiltImage image;
  std::vector<manifest::Descriptor> entries;
  sync::ExportNames names;
};

TEST_F(AirgapTest, AReferenceIsWrittenThenReusedThenCarried) {
  auto first = export_once();
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->names.size(), 1u);
  EXPECT_TRUE(first->written);
  const fs::path file = tmp.path() / "export" / first->names[0];
  ASSERT_TRUE(fs::is_regular_file(file)) << file;
  auto scan = exporter::ArchiveScan::scan(file);
  ASSERT_TRUE(scan) << scan.error().message;
  EXPECT_TRUE(exporter::check_archive(*scan).ok());

  auto again = export_once();  // nothing changed: the file is linked, not rewritten
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->names, first->names);
  EXPECT_FALSE(again->written);

  auto carried = export_once(true);  // the image failed this run: its last good file stays
  ASSERT_TRUE(carried) << carried.error().message;
  EXPECT_EQ(carried->names, first->names);
  EXPECT_TRUE(fs::is_regular_file(tmp.path() / "export" / first->names[0]));
}

TEST_F(AirgapTest, AReferenceWhoseManifestIsMissingIsAnErrorNamingIt) {
  manifest::Descriptor ghost = image.image.descriptor;
  ghost.digest = digest::sha256_of("not stored");
  entries = {ghost};
  auto r = export_once();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(ghost.digest.str()), std::string::npos) << r.error().message;
}

TEST_F(AirgapTest, ImportOfATarballRecordsItsReferencesAfterItsBlobs) {
  const fs::path tar = tmp.path() / "app.tar";
  ASSERT_TRUE(exporter::write_docker_archive(*store, {image.image}, tar, {}));
  auto offline = open_store("offline");
  std::vector<std::string> problems;
  auto r = airgap::import_source(tar, offline, problems);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(r->tarballs, 1u);
  EXPECT_EQ(r->blobs_added, 4u);  // manifest, config, two layers
  EXPECT_EQ(r->blobs_present, 0u);
  EXPECT_EQ(r->bytes_added, image.manifest.size() + image.config.size() + base.gz.size() + app.gz.size());
  ASSERT_EQ(r->references.size(), 1u);
  EXPECT_EQ(r->references[0].reference, "example.com/app:1");
  EXPECT_EQ(r->references[0].manifests, 1u);
  EXPECT_EQ(r->names(), std::vector<std::string>{"example.com/app:1"});
  auto index = offline.read_index();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->size(), 1u);
  EXPECT_EQ(index->front().descriptor.digest, image.image.descriptor.digest);
  for (const auto& d : {base.digest, app.digest, image.config_digest}) EXPECT_TRUE(offline.has_blob(d)) << d.str();

  auto twice = airgap::import_source(tar, offline, problems);  // everything already there
  ASSERT_TRUE(twice) << twice.error().message;
  EXPECT_EQ(twice->blobs_added, 0u);
  EXPECT_EQ(twice->blobs_present, 4u);
}

TEST_F(AirgapTest, ImportOfAnExportDirectoryChecksItsSumsFirst) {
  auto files = export_once();
  ASSERT_TRUE(files) << files.error().message;
  auto offline = open_store("offline");
  std::vector<std::string> problems;
  auto r = airgap::import_source(tmp.path() / "export", offline, problems);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->names(), std::vector<std::string>{"example.com/app:1"});

  // One byte changed in the tarball: SHA256SUMS no longer holds, nothing lands.
  const fs::path tar = fs::canonical(tmp.path() / "export") / files->names[0];
  {
    std::fstream f(tar, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(700);
    f.put('!');
  }
  auto fresh = open_store("fresh");
  problems.clear();
  auto bad = airgap::import_source(tmp.path() / "export", fresh, problems);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("SHA256SUMS does not hold; nothing imported"), std::string::npos)
      << bad.error().message;
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find(files->names[0]), std::string::npos) << problems[0];
  auto index = fresh.read_index();
  ASSERT_TRUE(index);
  EXPECT_TRUE(index->empty());
  EXPECT_FALSE(fresh.has_blob(base.digest));
}

TEST_F(AirgapTest, ImportOfATarballThatDoesNotVerifyLandsNothingAndSaysWhy) {
  // An image whose config names a diff_id its layer does not have.
  Layer lying = app;
  lying.diff_id = digest::sha256_of("another layer");
  BuiltImage liar = build_image(*store, "example.com/liar:1", {base, lying});
  const fs::path tar = tmp.path() / "liar.tar";
  // The writer copies blobs by digest; the lie is in the config, found by the check.
  ASSERT_TRUE(exporter::write_docker_archive(*store, {liar.image}, tar, {}));
  auto offline = open_store("offline");
  std::vector<std::string> problems;
  auto r = airgap::import_source(tar, offline, problems);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("does not verify; nothing imported"), std::string::npos) << r.error().message;
  EXPECT_FALSE(problems.empty());
  EXPECT_TRUE(offline.read_index()->empty());
}

sync::PulledImage pulled(const BuiltImage& b) {
  sync::PulledImage img;
  img.ref = b.image.ref;
  img.entries = {b.image.descriptor};
  img.images = {b.image.descriptor};
  img.digest = b.image.descriptor.digest;
  return img;
}

TEST_F(AirgapTest, ASyncExportWritesWhatWasHandedOverAndTheRestAfter) {
  BuiltImage other = build_image(*store, "example.com/other:2", {base});
  names = sync::ExportNames({image.image.ref, other.image.ref});
  sync::PullReport report;
  report.images = {pulled(image), pulled(other)};
  std::vector<airgap::ImageExport> results;
  {
    auto set = airgap::ExportSetBuilder::begin(tmp.path() / "export");
    ASSERT_TRUE(set) << set.error().message;
    {
      core::Executor pool(4);
      airgap::SyncExport exports(*store, *set, names, 2, pool);
      exports.ready(0, report.images[0], {base.digest, app.digest});  // during the pull
      results = exports.finish(report);                               // image 1 after it
    }
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) {
      EXPECT_EQ(r.error, "");
      ASSERT_EQ(r.files.size(), 1u);
      EXPECT_TRUE(r.written);
    }
    EXPECT_NE(results[0].files[0], results[1].files[0]);
    ASSERT_TRUE(set->commit());
  }  // the builder, and its lock on the export directory, go
  for (const auto& r : results) EXPECT_TRUE(fs::is_regular_file(tmp.path() / "export" / r.files[0]));

  // Next run: `other` failed to pull, so its last good file is carried; `image` is
  // unchanged, so its file is linked, not written.
  report.images[1].error = core::error(core::ErrorKind::Unavailable, "HTTP 503");
  auto next = airgap::ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_TRUE(next) << next.error().message;
  core::Executor pool(2);
  airgap::SyncExport again(*store, *next, names, 2, pool);
  auto second = again.finish(report);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_FALSE(second[0].written);
  EXPECT_EQ(second[0].files, results[0].files);
  EXPECT_FALSE(second[1].written);
  EXPECT_EQ(second[1].files, results[1].files);
  EXPECT_EQ(second[1].error, "");
}

TEST_F(AirgapTest, ASyncExportNamesAnImageItCouldNotExport) {
  sync::PulledImage img = pulled(image);
  img.entries.front().digest = digest::sha256_of("not stored");
  sync::PullReport report;
  report.images = {img};
  auto set = airgap::ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_TRUE(set) << set.error().message;
  core::Executor pool(1);
  airgap::SyncExport exports(*store, *set, names, 1, pool);
  auto results = exports.finish(report);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_NE(results[0].error.find(img.entries.front().digest.str()), std::string::npos) << results[0].error;
  EXPECT_TRUE(results[0].files.empty());
}

TEST_F(AirgapTest, ABundleCrossesTheGapAndADeltaNeedsWhatItLeftOut) {
  BuiltImage other = build_image(*store, "example.com/other:2", {base});
  const std::vector<airgap::BundleReference> refs{{image.image.ref, {image.image.descriptor}},
                                                  {other.image.ref, {other.image.descriptor}}};
  const fs::path full = tmp.path() / "full.tar";
  auto written = airgap::write_bundle(*store, refs, full, {});
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(written->references, 2u);
  EXPECT_EQ(written->images, 2u);
  EXPECT_TRUE(written->notes.empty());

  auto offline = open_store("offline");
  std::vector<std::string> problems;
  auto imported = airgap::import_source(full, offline, problems);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->names(), (std::vector<std::string>{"example.com/app:1", "example.com/other:2"}));
  EXPECT_EQ(imported->blobs_added, 6u);  // base once; app; two configs, two manifests

  // A delta that leaves out both layers: a store without them refuses it, naming
  // what is missing; the store that took the full bundle takes it.
  airgap::BundleOptions delta;
  delta.omit_layers = {base.digest, app.digest};
  delta.since = digest::sha256_of("a receipt").str();
  const fs::path small = tmp.path() / "delta.tar";
  ASSERT_TRUE(airgap::write_bundle(*store, refs, small, delta));
  EXPECT_LT(fs::file_size(small), fs::file_size(full));
  auto fresh = open_store("fresh");
  problems.clear();
  auto refused = airgap::import_source(small, fresh, problems);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("2 layers missing"), std::string::npos) << refused.error().message;
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_TRUE(fresh.read_index()->empty());
  problems.clear();
  auto again = airgap::import_source(small, offline, problems);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->blobs_added, 0u);
}

TEST_F(AirgapTest, ABundleOfAReferenceTheStoreLacksIsAnErrorNamingIt) {
  manifest::Descriptor ghost = image.image.descriptor;
  ghost.digest = digest::sha256_of("not stored");
  const fs::path out = tmp.path() / "b.tar";
  auto r = airgap::write_bundle(*store, {{image.image.ref, {ghost}}}, out, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("example.com/app:1: manifest " + ghost.digest.str() + " is not in the store"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(AirgapTest, ImportOfNothingIsNotFound) {
  auto offline = open_store("offline");
  std::vector<std::string> problems;
  auto r = airgap::import_source(tmp.path() / "absent.tar", offline, problems);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::NotFound);
  EXPECT_EQ(r.error().message, (tmp.path() / "absent.tar").string() + ": no such file or directory");
}

}  // namespace
