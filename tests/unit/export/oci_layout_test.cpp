// write_oci_layout / write_oci_archive: file set, index.json, hard links into the
// store, Docker->OCI restatement, foreign layers left out, refusal of a non-empty
// target, and the helpers underneath (scratch and temp outputs).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <optional>

#include "export/export.h"
#include "export/fs_output.h"
#include "image_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ferry::core::ErrorKind;
using ferry::digest::sha256_of;
using ferry::exporter::OciOptions;
using namespace ferry::exporter::testing;

namespace {

class OciLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ferry::store::Store::open(tmp.path() / "store", true);
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
    fs::create_directories(out_dir);
    base = make_layer(tmp.path() / "l.tar", {{"etc/os-release", "ID=x\n"}});
    top = make_layer(tmp.path() / "l.tar", {{"bin/app", "app"}});
    ubuntu = build_image(*store, "ubuntu:24.04", {base, top});
    app = build_image(*store, "ghcr.io/ns/app:1", {base}, /*oci=*/true, "arm64");
  }

  TempDir tmp;
  std::optional<ferry::store::Store> store;
  fs::path out_dir = tmp.path() / "out";
  Layer base, top;
  BuiltImage ubuntu, app;
};

ino_t inode(const fs::path& p) {
  struct stat sb {};
  return ::stat(p.c_str(), &sb) == 0 ? sb.st_ino : 0;
}

}  // namespace

TEST_F(OciLayoutTest, DirectoryWithHardLinkedBlobs) {
  fs::path dir = out_dir / "layout";
  auto st = ferry::exporter::write_oci_layout(*store, {ubuntu.image, app.image}, dir);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{"layout"});
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"blobs", "index.json", "oci-layout"}));
  EXPECT_EQ(read_file(dir / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_EQ(list_dir(dir / "blobs/sha256").size(), 6u);  // 2 manifests, 2 configs, 2 layers
  for (const auto& name : list_dir(dir / "blobs/sha256")) {
    EXPECT_EQ(sha256_of(read_file(dir / "blobs/sha256" / name)).hex(), name);
  }
  EXPECT_EQ(inode(dir / blob_name(base.digest)), inode(store->blob_path(base.digest)));  // same file system here

  json index = json::parse(read_file(dir / "index.json"));
  ASSERT_EQ(index["manifests"].size(), 2u);
  EXPECT_EQ(index["manifests"][0], (json{{"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                                         {"digest", ubuntu.image.descriptor.digest.str()},
                                         {"size", ubuntu.manifest.size()},
                                         {"annotations",
                                          {{"org.opencontainers.image.ref.name", "docker.io/library/ubuntu:24.04"}}},
                                         {"platform", {{"architecture", "amd64"}, {"os", "linux"}}}}));
  EXPECT_EQ(index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"], "ghcr.io/ns/app:1");
}

TEST_F(OciLayoutTest, RestatesDockerManifestsAsOciWhenAsked) {
  fs::path dir = out_dir / "layout";
  auto st = ferry::exporter::write_oci_layout(*store, {ubuntu.image, app.image}, dir, OciOptions{true});
  ASSERT_TRUE(st) << st.error().message;
  json index = json::parse(read_file(dir / "index.json"));
  json entry = index["manifests"][0];
  EXPECT_EQ(entry["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_NE(entry["digest"], ubuntu.image.descriptor.digest.str());
  std::string body = read_file(dir / entry["digest"].get<std::string>().replace(0, 7, "blobs/sha256/"));
  EXPECT_EQ(entry["size"], body.size());
  json m = json::parse(body);
  EXPECT_EQ(m["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
  EXPECT_EQ(m["config"]["digest"], ubuntu.config_digest.str());
  EXPECT_EQ(m["layers"][1], (json{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                  {"digest", top.digest.str()},
                                  {"size", top.gz.size()}}));
  EXPECT_FALSE(fs::exists(dir / blob_name(ubuntu.image.descriptor.digest)));
  EXPECT_EQ(index["manifests"][1]["digest"], app.image.descriptor.digest.str());  // OCI ones untouched
}

TEST_F(OciLayoutTest, ArchiveHoldsTheSameLayout) {
  fs::path out = out_dir / "o.tar";
  ferry::exporter::WrittenFile written;
  ferry::exporter::VerifiedBlobs verified;
  ferry::exporter::OciOptions opts;
  opts.written = &written;
  opts.verified = &verified;
  auto st = ferry::exporter::write_oci_archive(*store, {ubuntu.image, app.image}, out, opts);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(written.sha256, sha256_of(read_file(out)));  // hashed as written
  EXPECT_EQ(written.size, fs::file_size(out));
  EXPECT_TRUE(verified.contains(ubuntu.config_digest));
  EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{"o.tar"});
  auto entries = by_name(parse_tar(read_file(out)));
  EXPECT_EQ(entries.size(), 2u + 6u + 2u);  // blobs/ blobs/sha256/, 6 blobs, index.json oci-layout
  for (const auto& [name, e] : entries) {
    if (name.rfind("blobs/sha256/", 0) == 0 && e.type == '0') {
      EXPECT_EQ(sha256_of(e.content).hex(), name.substr(13));
    }
  }
  EXPECT_EQ(entries["oci-layout"].content, R"({"imageLayoutVersion":"1.0.0"})");
  json index = json::parse(entries["index.json"].content);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "docker.io/library/ubuntu:24.04");
}

TEST_F(OciLayoutTest, MissingForeignLayerIsLeftOutButOtherBlobsAreRequired) {
  Layer foreign = make_layer(tmp.path() / "l.tar", {{"Files/w", "w"}});
  foreign.media_type = ferry::manifest::media::kDockerForeignLayerGzip;
  foreign.urls = {"https://example.com/" + foreign.digest.str()};
  auto win = build_image(*store, "win:1", {foreign}, false, "amd64", /*put_layers=*/false);
  fs::path dir = out_dir / "layout";
  auto st = ferry::exporter::write_oci_layout(*store, {win.image}, dir);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_FALSE(fs::exists(dir / blob_name(foreign.digest)));
  EXPECT_TRUE(fs::exists(dir / blob_name(win.config_digest)));

  Layer lost = make_layer(tmp.path() / "l.tar", {{"lost", "1"}});
  auto broken = build_image(*store, "broken:1", {lost}, true, "amd64", /*put_layers=*/false);
  auto st2 = ferry::exporter::write_oci_archive(*store, {broken.image}, out_dir / "b.tar");
  ASSERT_FALSE(st2);
  EXPECT_EQ(st2.error().kind, ErrorKind::NotFound);
  EXPECT_NE(st2.error().message.find(lost.digest.str()), std::string::npos) << st2.error().message;
  EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{"layout"});
}

TEST_F(OciLayoutTest, TargetMustBeAbsentOrEmpty) {
  fs::path dir = out_dir / "layout";
  fs::create_directories(dir);
  ASSERT_TRUE(ferry::exporter::write_oci_layout(*store, {app.image}, dir));  // empty dir is replaced
  auto st = ferry::exporter::write_oci_layout(*store, {app.image}, dir);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("not an empty directory"), std::string::npos) << st.error().message;
  EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{"layout"});
}

TEST(FsOutput, UncommittedOutputsVanish) {
  TempDir tmp;
  fs::path out = tmp.path() / "x.tar";
  {
    auto f = ferry::exporter::TempOutputFile::create(out);
    ASSERT_TRUE(f);
    EXPECT_TRUE(fs::exists(f->temp_path()));
    auto scratch = ferry::exporter::ScratchFile::create(out);
    ASSERT_TRUE(scratch);
    EXPECT_GE(scratch->fd(), 0);
    auto d = ferry::exporter::TempOutputDir::create(tmp.path() / "dir");
    ASSERT_TRUE(d);
    EXPECT_TRUE(fs::is_directory(d->path() / "blobs/sha256"));
  }
  EXPECT_TRUE(list_dir(tmp.path()).empty());
  auto f = ferry::exporter::TempOutputFile::create(out);
  ASSERT_TRUE(f);
  ASSERT_EQ(::write(f->fd(), "hi", 2), 2);
  ASSERT_TRUE(f->commit());
  EXPECT_EQ(read_file(out), "hi");
  EXPECT_EQ(list_dir(tmp.path()), std::vector<std::string>{"x.tar"});
}
