// zstd layers in docker tarballs, and diff_ids in verify and import: a zstd layer
// is written as a plain tar under its diff_id (config and image ID unchanged)
// unless keep_zstd; check_archive decodes every layer (gzip, zstd, plain) and
// compares it with the config; import refuses what does not verify.
#include <zstd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "export/archive_check.h"
#include "airgap/archive_import.h"
#include "export/export.h"
#include "unit/export/image_builder.h"
#include "unit/export/test_util.h"

namespace fs = std::filesystem;
using ferry::core::ErrorKind;
using ferry::digest::sha256_of;
using ferry::exporter::ArchiveReport;
using ferry::exporter::ArchiveScan;
using ferry::exporter::check_archive;
using ferry::exporter::DockerArchiveOptions;
using ferry::exporter::ExportImage;
using ferry::airgap::import_archive;
using ferry::exporter::write_docker_archive;
using namespace ferry::exporter::testing;
namespace media = ferry::manifest::media;

namespace {

std::string zstd_frames(std::string_view data) {
  // Two frames, as a parallel compressor writes them: one stream to a reader.
  std::string out;
  for (std::string_view part : {data.substr(0, data.size() / 2), data.substr(data.size() / 2)}) {
    std::string frame(ZSTD_compressBound(part.size()), '\0');
    size_t n = ZSTD_compress(frame.data(), frame.size(), part.data(), part.size(), 3);
    if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
    out += frame.substr(0, n);
  }
  return out;
}

class ZstdExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ferry::store::Store::open(tmp.path() / "store", true);
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
    gz = make_layer(tmp.path() / "l.tar", {{"etc/base", "gzip base"}}, std::string(media::kOciLayerGzip));
    zst = make_layer(tmp.path() / "l.tar", {{"bin/app", std::string(5000, 'z')}}, std::string(media::kOciLayerZstd));
    zst.gz = zstd_frames(zst.tar);
    zst.digest = sha256_of(zst.gz);
  }

  fs::path export_ok(const std::vector<ExportImage>& images, DockerArchiveOptions opts = {}) {
    fs::path out = tmp.path() / "out.tar";
    fs::remove(out);
    auto st = write_docker_archive(*store, images, out, opts);
    EXPECT_TRUE(st) << st.error().message;
    return out;
  }

  ArchiveReport verify(const fs::path& tar, bool decode = true) {
    auto scan = ArchiveScan::scan(tar, {.decode = decode});
    EXPECT_TRUE(scan);
    return check_archive(*scan);
  }

  // Verify fails naming `what`, and import into a fresh store is refused with nothing landing.
  void expect_refused(const fs::path& tar, const std::string& what) {
    auto scan = ArchiveScan::scan(tar);
    ASSERT_TRUE(scan);
    auto report = check_archive(*scan);
    ASSERT_FALSE(report.ok());
    std::string all;
    for (const auto& p : report.problem_lines()) all += p + "\n";
    EXPECT_NE(all.find(what), std::string::npos) << all;
    auto other = ferry::store::Store::open(tmp.path() / "other", true);
    ASSERT_TRUE(other);
    auto imported = import_archive(*other, *scan, report);
    ASSERT_FALSE(imported);
    EXPECT_NE(imported.error().message.find("does not verify"), std::string::npos) << imported.error().message;
    EXPECT_TRUE(fs::is_empty(tmp.path() / "other" / "blobs" / "sha256"));
  }

  TempDir tmp;
  std::optional<ferry::store::Store> store;
  Layer gz, zst;
};

}  // namespace

TEST_F(ZstdExportTest, AZstdLayerBecomesAPlainTarUnderItsDiffIdGzipStaysAsFetched) {
  auto img = build_image(*store, "example.com/zstd:1", {gz, zst}, true);
  fs::path out = export_ok({img.image});
  auto e = by_name(parse_tar(read_file(out)));
  EXPECT_EQ(e.count(blob_name(zst.digest)), 0u);  // the zstd blob is not carried
  ASSERT_EQ(e.count(blob_name(zst.diff_id)), 1u);
  EXPECT_TRUE(e.at(blob_name(zst.diff_id)).content == zst.tar);
  EXPECT_TRUE(e.at(blob_name(gz.digest)).content == gz.gz);
  EXPECT_TRUE(e.at(blob_name(img.config_digest)).content == img.config);  // the image ID is the same

  auto manifest_json = nlohmann::json::parse(e.at("manifest.json").content);
  EXPECT_EQ(manifest_json[0]["Config"], blob_name(img.config_digest));
  EXPECT_EQ(manifest_json[0]["Layers"][0], blob_name(gz.digest));
  EXPECT_EQ(manifest_json[0]["Layers"][1], blob_name(zst.diff_id));
  // index.json names a new OCI manifest: gzip layer as it was, the other as tar.
  auto index = nlohmann::json::parse(e.at("index.json").content);
  std::string digest = index["manifests"][0]["digest"];
  EXPECT_NE(digest, img.image.descriptor.digest.str());
  auto m = nlohmann::json::parse(e.at("blobs/sha256/" + digest.substr(7)).content);
  EXPECT_EQ(m["config"]["digest"], img.config_digest.str());
  EXPECT_EQ(m["layers"][0]["mediaType"], media::kOciLayerGzip);
  EXPECT_EQ(m["layers"][0]["digest"], gz.digest.str());
  EXPECT_EQ(m["layers"][1]["mediaType"], media::kOciLayerTar);
  EXPECT_EQ(m["layers"][1]["digest"], zst.diff_id.str());

  auto report = verify(out);
  ASSERT_TRUE(report.ok()) << report.problem_lines().front();
  ASSERT_EQ(report.images.size(), 1u);
  EXPECT_EQ(report.images[0].diff_ids_checked, 2u);
}

TEST_F(ZstdExportTest, KeepZstdCarriesTheBlobAndVerifyDecodesIt) {
  auto img = build_image(*store, "example.com/zstd:1", {gz, zst}, true);
  DockerArchiveOptions opts;
  opts.keep_zstd = true;
  fs::path out = export_ok({img.image}, opts);
  auto e = by_name(parse_tar(read_file(out)));
  EXPECT_TRUE(e.at(blob_name(zst.digest)).content == zst.gz);
  EXPECT_EQ(e.count(blob_name(zst.diff_id)), 0u);
  auto index = nlohmann::json::parse(e.at("index.json").content);
  EXPECT_EQ(index["manifests"][0]["digest"], img.image.descriptor.digest.str());  // the registry's manifest
  auto report = verify(out);
  ASSERT_TRUE(report.ok()) << report.problem_lines().front();
  EXPECT_EQ(report.images[0].diff_ids_checked, 2u);
  // --quick: compressed layers not decoded, and the report says so.
  auto quick = verify(out, false);
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(quick.images[0].diff_ids_checked, 0u);
  EXPECT_EQ(quick.images[0].diff_ids_unchecked, 2u);
}

TEST_F(ZstdExportTest, UncompressedDecompressesZstdToo) {
  auto img = build_image(*store, "example.com/zstd:1", {gz, zst}, true);
  DockerArchiveOptions opts;
  opts.uncompressed = true;
  fs::path out = export_ok({img.image}, opts);
  auto e = by_name(parse_tar(read_file(out)));
  EXPECT_TRUE(e.at(blob_name(zst.diff_id)).content == zst.tar);
  EXPECT_TRUE(e.at(blob_name(gz.diff_id)).content == gz.tar);
  EXPECT_EQ(e.count(blob_name(gz.digest)) + e.count(blob_name(zst.digest)), 0u);
  EXPECT_TRUE(verify(out).ok());
}

TEST_F(ZstdExportTest, ALayerSharedByTwoImagesIsDecodedAndWrittenOnce) {
  auto a = build_image(*store, "example.com/a:1", {zst}, true);
  auto b = build_image(*store, "example.com/b:1", {gz, zst}, true);
  fs::path out = export_ok({a.image, b.image});
  auto entries = parse_tar(read_file(out));
  size_t copies = std::count_if(entries.begin(), entries.end(),
                                [&](const TarEntry& t) { return t.name == blob_name(zst.diff_id); });
  EXPECT_EQ(copies, 1u);
  auto report = verify(out);
  ASSERT_TRUE(report.ok()) << report.problem_lines().front();
  EXPECT_EQ(report.images.size(), 2u);
}

TEST_F(ZstdExportTest, AWrongDiffIdForAGzipLayerFailsVerifyAndImport) {
  Layer lying = gz;
  lying.diff_id = sha256_of("not this layer");
  auto img = build_image(*store, "example.com/lie:1", {lying}, true);
  fs::path out = export_ok({img.image});  // gzip goes in as fetched, unchecked
  expect_refused(out, "the config says " + lying.diff_id.str());
}

TEST_F(ZstdExportTest, AWrongDiffIdForAZstdLayerFailsVerifyImportAndTheDefaultExport) {
  Layer lying = zst;
  lying.diff_id = sha256_of("not this layer");
  auto img = build_image(*store, "example.com/lie:1", {lying}, true);
  auto st = write_docker_archive(*store, {img.image}, tmp.path() / "plain.tar", {});
  ASSERT_FALSE(st);  // decompressing it shows the lie
  EXPECT_EQ(st.error().kind, ErrorKind::DigestMismatch);
  EXPECT_FALSE(fs::exists(tmp.path() / "plain.tar"));
  DockerArchiveOptions keep;
  keep.keep_zstd = true;
  fs::path out = export_ok({img.image}, keep);
  expect_refused(out, "the config says " + lying.diff_id.str());
}

TEST_F(ZstdExportTest, AGzipLayerThatIsNotGzipFailsVerifyAndImport) {
  Layer fake = gz;
  fake.gz = fake.tar;  // a plain tar under a +gzip media type
  fake.digest = sha256_of(fake.gz);
  auto img = build_image(*store, "example.com/fake:1", {fake}, true);
  fs::path out = export_ok({img.image});
  expect_refused(out, "is declared application/vnd.oci.image.layer.v1.tar+gzip but its content is plain");
}

TEST_F(ZstdExportTest, ACorruptZstdLayerFailsVerifyAndExport) {
  Layer broken = zst;
  broken.gz = zst.gz.substr(0, zst.gz.size() - 3);
  broken.digest = sha256_of(broken.gz);
  auto img = build_image(*store, "example.com/broken:1", {broken}, true);
  auto st = write_docker_archive(*store, {img.image}, tmp.path() / "plain.tar", {});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::InvalidInput);
  EXPECT_NE(st.error().message.find("zstd"), std::string::npos) << st.error().message;
  DockerArchiveOptions keep;
  keep.keep_zstd = true;
  fs::path out = export_ok({img.image}, keep);
  expect_refused(out, "does not decompress (zstd)");
}
