// write_docker_archive against a real store of synthetic images: the file set,
// manifest.json, index.json, repositories, blobs hashing to their names, shared
// blobs once, uncompressed layers named by diff_id, and failures that leave no file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "export/export.h"
#include "image_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ferry::core::ErrorKind;
using ferry::digest::sha256_of;
using ferry::exporter::DockerArchiveOptions;
using ferry::exporter::ExportImage;
using ferry::exporter::write_docker_archive;
using namespace ferry::exporter::testing;

namespace {

class DockerArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ferry::store::Store::open(tmp.path() / "store", true);
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
    fs::create_directories(out_dir);
  }
  Layer layer(const std::map<std::string, std::string>& files) { return make_layer(tmp.path() / "l.tar", files); }

  // Exports and parses the result, checking every blob hashes to its name and no
  // temporary file is left next to it.
  std::map<std::string, TarEntry> export_ok(const std::vector<ExportImage>& images, bool uncompressed = false) {
    auto st = write_docker_archive(*store, images, out, DockerArchiveOptions{uncompressed});
    EXPECT_TRUE(st) << st.error().message;
    EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{"images.tar"});
    auto entries = by_name(parse_tar(read_file(out)));
    for (const auto& [name, e] : entries) {
      if (name.rfind("blobs/sha256/", 0) != 0 || e.type != '0') continue;
      EXPECT_EQ(sha256_of(e.content).hex(), name.substr(13)) << name;
    }
    return entries;
  }

  TempDir tmp;
  std::optional<ferry::store::Store> store;
  fs::path out_dir = tmp.path() / "out";
  fs::path out = out_dir / "images.tar";
};

std::set<std::string> names(const std::map<std::string, TarEntry>& entries) {
  std::set<std::string> out;
  for (const auto& [n, e] : entries) out.insert(n);
  return out;
}

}  // namespace

TEST_F(DockerArchiveTest, TwoImagesShareABaseLayer) {
  Layer base = layer({{"etc/os-release", "base\n"}});
  Layer a = layer({{"a", "A"}});
  Layer b = layer({{"b", "B"}});
  b.media_type = ferry::manifest::media::kOciLayerGzip;
  auto ubuntu = build_image(*store, "ubuntu:24.04", {base, a});
  auto app = build_image(*store, "ghcr.io/ns/app:1", {base, b}, /*oci=*/true, "arm64");
  auto entries = export_ok({ubuntu.image, app.image});

  std::set<std::string> want = {"blobs/", "blobs/sha256/", "index.json", "manifest.json", "oci-layout",
                                "repositories"};
  for (const auto& d : {ubuntu.image.descriptor.digest, app.image.descriptor.digest, ubuntu.config_digest,
                        app.config_digest, base.digest, a.digest, b.digest}) {
    want.insert(blob_name(d));
  }
  EXPECT_EQ(names(entries), want);  // the shared base layer once (by_name also checks duplicates)
  EXPECT_EQ(entries[blob_name(base.digest)].content, base.gz);
  EXPECT_EQ(entries[blob_name(ubuntu.image.descriptor.digest)].content, ubuntu.manifest);
  EXPECT_EQ(entries["oci-layout"].content, R"({"imageLayoutVersion": "1.0.0"})");
  EXPECT_EQ(entries["blobs/"].mode, 0755u);
  EXPECT_EQ(entries["manifest.json"].mode, 0644u);

  json manifest = json::parse(entries["manifest.json"].content);
  json want_manifest = json::array(
      {{{"Config", blob_name(ubuntu.config_digest)},
        {"RepoTags", {"ubuntu:24.04"}},
        {"Layers", {blob_name(base.digest), blob_name(a.digest)}}},
       {{"Config", blob_name(app.config_digest)},
        {"RepoTags", {"ghcr.io/ns/app:1"}},
        {"Layers", {blob_name(base.digest), blob_name(b.digest)}}}});
  EXPECT_EQ(manifest, want_manifest);
  EXPECT_EQ(entries["manifest.json"].content.back(), '\n');

  json index = json::parse(entries["index.json"].content);
  EXPECT_EQ(index["schemaVersion"], 2);
  EXPECT_EQ(index["mediaType"], "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(index["manifests"].size(), 2u);
  json first = index["manifests"][0];
  EXPECT_EQ(first["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(first["digest"], ubuntu.image.descriptor.digest.str());
  EXPECT_EQ(first["size"], ubuntu.manifest.size());
  EXPECT_EQ(first["annotations"]["io.containerd.image.name"], "docker.io/library/ubuntu:24.04");
  EXPECT_EQ(first["annotations"]["org.opencontainers.image.ref.name"], "24.04");
  EXPECT_EQ(first["platform"], (json{{"architecture", "amd64"}, {"os", "linux"}}));
  EXPECT_EQ(index["manifests"][1]["annotations"]["io.containerd.image.name"], "ghcr.io/ns/app:1");
  EXPECT_EQ(index["manifests"][1]["platform"]["architecture"], "arm64");

  json repos = json::parse(entries["repositories"].content);
  EXPECT_EQ(repos, (json{{"ubuntu", {{"24.04", std::string(a.diff_id.hex())}}},
                         {"ghcr.io/ns/app", {{"1", std::string(b.diff_id.hex())}}}}));
}

TEST_F(DockerArchiveTest, OutputIsReproducibleAndOrdered) {
  auto img = build_image(*store, "busybox:1", {layer({{"bin/sh", "#!"}})});
  auto first = read_file((export_ok({img.image}), out));
  auto st = write_docker_archive(*store, {img.image}, out, {});
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(read_file(out) == first);
  std::vector<std::string> order;
  for (const auto& e : parse_tar(first)) order.push_back(e.name);
  ASSERT_EQ(order.size(), 9u);
  EXPECT_EQ(order[0], "blobs/");
  EXPECT_EQ(std::vector<std::string>(order.end() - 4, order.end()),
            (std::vector<std::string>{"index.json", "manifest.json", "oci-layout", "repositories"}));
  for (const auto& e : parse_tar(first)) EXPECT_EQ(e.mtime, 0) << e.name;
}

TEST_F(DockerArchiveTest, SameImageTwoTagsIsOneManifestItem) {
  auto v1 = build_image(*store, "app:1", {layer({{"x", "x"}})});
  ExportImage latest = v1.image;
  latest.ref.tag = "latest";
  auto entries = export_ok({v1.image, latest, v1.image});  // the repeat is dropped
  json manifest = json::parse(entries["manifest.json"].content);
  ASSERT_EQ(manifest.size(), 1u);
  EXPECT_EQ(manifest[0]["RepoTags"], (json{"app:1", "app:latest"}));
  EXPECT_EQ(json::parse(entries["index.json"].content)["manifests"].size(), 2u);
  EXPECT_EQ(json::parse(entries["repositories"].content)["app"].size(), 2u);
}

TEST_F(DockerArchiveTest, PlatformsUnderOneTagListOnlyTheFirstInManifestJson) {
  Layer base = layer({{"f", "1"}});
  auto amd = build_image(*store, "multi:1", {base, layer({{"amd", "64"}})}, true, "amd64");
  auto arm = build_image(*store, "multi:1", {base, layer({{"arm", "64"}})}, true, "arm64");
  auto entries = export_ok({amd.image, arm.image});
  json manifest = json::parse(entries["manifest.json"].content);
  ASSERT_EQ(manifest.size(), 1u);
  EXPECT_EQ(manifest[0]["Config"], blob_name(amd.config_digest));
  json index = json::parse(entries["index.json"].content);
  ASSERT_EQ(index["manifests"].size(), 2u);
  EXPECT_TRUE(index["manifests"][0].contains("annotations"));
  EXPECT_FALSE(index["manifests"][1].contains("annotations"));
  EXPECT_EQ(index["manifests"][1]["platform"]["architecture"], "arm64");
  EXPECT_TRUE(entries.contains(blob_name(arm.config_digest)));  // all platforms' blobs travel
}

TEST_F(DockerArchiveTest, DigestOnlyReferenceHasNoTags) {
  auto img = build_image(*store, "app:1", {layer({{"x", "y"}})});
  img.image.ref.tag.clear();
  img.image.ref.digest = img.image.descriptor.digest;
  auto entries = export_ok({img.image});
  json manifest = json::parse(entries["manifest.json"].content);
  EXPECT_EQ(manifest[0]["RepoTags"], json::array());
  EXPECT_FALSE(entries.contains("repositories"));  // docker writes it only when something is tagged
  EXPECT_FALSE(json::parse(entries["index.json"].content)["manifests"][0].contains("annotations"));
}

TEST_F(DockerArchiveTest, UncompressedLayersAreNamedByDiffId) {
  Layer base = layer({{"etc/hostname", "h\n"}});
  Layer top = layer({{"app", std::string(300000, 'q')}});
  auto one = build_image(*store, "ubuntu:24.04", {base, top});
  auto two = build_image(*store, "other:2", {base}, true);
  auto entries = export_ok({one.image, two.image}, /*uncompressed=*/true);
  EXPECT_EQ(entries[blob_name(base.diff_id)].content, base.tar);
  EXPECT_EQ(entries[blob_name(top.diff_id)].content, top.tar);
  EXPECT_FALSE(entries.contains(blob_name(base.digest)));
  EXPECT_FALSE(entries.contains(blob_name(top.digest)));
  EXPECT_FALSE(entries.contains(blob_name(one.image.descriptor.digest)));  // replaced by a new manifest

  json manifest = json::parse(entries["manifest.json"].content);
  EXPECT_EQ(manifest[0]["Layers"], (json{blob_name(base.diff_id), blob_name(top.diff_id)}));
  EXPECT_EQ(manifest[1]["Layers"], (json{blob_name(base.diff_id)}));
  EXPECT_EQ(manifest[0]["Config"], blob_name(one.config_digest));
  EXPECT_EQ(entries[blob_name(one.config_digest)].content, one.config);  // config unchanged

  json index = json::parse(entries["index.json"].content);
  json entry = index["manifests"][0];
  EXPECT_EQ(entry["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  std::string body = entries[entry["digest"].get<std::string>().replace(0, 7, "blobs/sha256/")].content;
  ASSERT_FALSE(body.empty());
  EXPECT_EQ(entry["size"], body.size());
  json m = json::parse(body);
  EXPECT_EQ(m["config"]["digest"], one.config_digest.str());
  EXPECT_EQ(m["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
  ASSERT_EQ(m["layers"].size(), 2u);
  EXPECT_EQ(m["layers"][1], (json{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                  {"digest", top.diff_id.str()},
                                  {"size", top.tar.size()}}));
}

TEST_F(DockerArchiveTest, MissingBlobFailsNamingItAndLeavesNothing) {
  Layer l = layer({{"x", "1"}});
  auto img = build_image(*store, "app:1", {l}, false, "amd64", /*put_layers=*/false);
  auto st = write_docker_archive(*store, {img.image}, out, {});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::NotFound);
  EXPECT_NE(st.error().message.find(l.digest.str()), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("docker.io/library/app:1"), std::string::npos) << st.error().message;
  EXPECT_TRUE(list_dir(out_dir).empty());
}

TEST_F(DockerArchiveTest, CorruptStoreBlobFailsMidWayAndLeavesNothing) {
  Layer good = layer({{"a", std::string(5000, 'a')}});
  Layer bad = layer({{"b", std::string(5000, 'b')}});
  auto img = build_image(*store, "app:1", {good, bad});
  fs::path victim = store->blob_path(bad.digest);
  fs::permissions(victim, fs::perms::owner_write, fs::perm_options::add);
  std::string flipped = bad.gz;
  flipped[flipped.size() / 2] ^= 1;
  write_file(victim, flipped);
  auto st = write_docker_archive(*store, {img.image}, out, {});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::DigestMismatch);
  EXPECT_NE(st.error().message.find(bad.digest.str()), std::string::npos) << st.error().message;
  EXPECT_TRUE(list_dir(out_dir).empty());
}

TEST_F(DockerArchiveTest, UncompressedLayerNotMatchingDiffIdFails) {
  Layer l = layer({{"x", "1"}});
  Layer other = layer({{"y", "2"}});
  l.diff_id = other.diff_id;  // the config will claim the wrong diff_id
  auto img = build_image(*store, "app:1", {l});
  auto st = write_docker_archive(*store, {img.image}, out, DockerArchiveOptions{true});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::DigestMismatch);
  EXPECT_NE(st.error().message.find(other.diff_id.str()), std::string::npos) << st.error().message;
  EXPECT_TRUE(list_dir(out_dir).empty());
}

TEST_F(DockerArchiveTest, ForeignLayers) {
  Layer foreign = layer({{"Files/x", "win"}});
  foreign.media_type = ferry::manifest::media::kDockerForeignLayerGzip;
  foreign.urls = {"https://mcr.microsoft.com/v2/windows/servercore/blobs/" + foreign.digest.str()};
  Layer top = layer({{"app", "1"}});
  auto missing = build_image(*store, "win:1", {foreign, top}, false, "amd64", /*put_layers=*/false);
  ASSERT_TRUE(store->put_blob(top.digest, top.gz));
  auto st = write_docker_archive(*store, {missing.image}, out, {});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("foreign layer " + foreign.digest.str()), std::string::npos)
      << st.error().message;
  EXPECT_TRUE(list_dir(out_dir).empty());

  ASSERT_TRUE(store->put_blob(foreign.digest, foreign.gz));
  auto entries = export_ok({missing.image});
  json item = json::parse(entries["manifest.json"].content)[0];
  EXPECT_EQ(item["LayerSources"], (json{{foreign.diff_id.str(),
                                          {{"mediaType", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"},
                                           {"size", foreign.gz.size()},
                                           {"digest", foreign.digest.str()},
                                           {"urls", foreign.urls}}}}));
}

TEST_F(DockerArchiveTest, RefusesAnIndexAndADirectoryTarget) {
  auto img = build_image(*store, "app:1", {layer({{"x", "1"}})});
  ExportImage as_index = img.image;
  as_index.descriptor.media_type = ferry::manifest::media::kOciIndex;
  auto st = write_docker_archive(*store, {as_index}, out, {});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::InvalidInput);
  auto st2 = write_docker_archive(*store, {img.image}, out_dir, {});
  ASSERT_FALSE(st2);
  EXPECT_TRUE(list_dir(out_dir).empty());
  EXPECT_FALSE(write_docker_archive(*store, {}, out, {}));
}

// The checksum handed back is that of the file as it lies on disk, computed
// while writing (export sets list it in SHA256SUMS without reading the file back).
TEST_F(DockerArchiveTest, WrittenChecksumIsThatOfTheFile) {
  auto img = build_image(*store, "app:1", {layer({{"x", std::string(300000, 'x')}})});
  ferry::exporter::WrittenFile written;
  DockerArchiveOptions opts;
  opts.written = &written;
  auto st = write_docker_archive(*store, {img.image}, out, opts);
  ASSERT_TRUE(st) << st.error().message;
  const std::string bytes = read_file(out);
  EXPECT_EQ(written.size, bytes.size());
  EXPECT_EQ(written.sha256, sha256_of(bytes));
}

// With a VerifiedBlobs memo, a blob checked for one archive is copied into the
// next without hashing it again; a blob that fails its check is never recorded.
TEST_F(DockerArchiveTest, VerifiedBlobsAreCheckedOncePerRun) {
  Layer base = layer({{"base", std::string(5000, 'b')}});
  Layer a = layer({{"a", "A"}});
  Layer c = layer({{"c", std::string(5000, 'c')}});
  auto first = build_image(*store, "a:1", {base, a});
  auto second = build_image(*store, "c:1", {base, c});
  ferry::exporter::VerifiedBlobs verified;
  DockerArchiveOptions opts;
  opts.verified = &verified;
  ASSERT_TRUE(write_docker_archive(*store, {first.image}, out, opts));
  EXPECT_TRUE(verified.contains(base.digest));
  EXPECT_TRUE(verified.contains(a.digest));
  EXPECT_FALSE(verified.contains(c.digest));

  auto corrupt = [&](const Layer& l) {
    fs::path victim = store->blob_path(l.digest);
    fs::permissions(victim, fs::perms::owner_write, fs::perm_options::add);
    std::string flipped = l.gz;
    flipped[flipped.size() / 2] ^= 1;
    write_file(victim, flipped);
  };
  corrupt(c);  // not checked yet in this run: caught
  fs::path out2 = out_dir / "c.tar";
  auto st = write_docker_archive(*store, {second.image}, out2, opts);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::DigestMismatch);
  EXPECT_FALSE(verified.contains(c.digest));
  // Without the memo the shared base is hashed again: corrupting it is caught by
  // a fresh run, and skipped (by design) within the run that checked it.
  corrupt(base);
  ferry::exporter::VerifiedBlobs fresh;
  opts.verified = &fresh;
  st = write_docker_archive(*store, {first.image}, out2, opts);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::DigestMismatch);
  EXPECT_NE(st.error().message.find(base.digest.str()), std::string::npos) << st.error().message;
  opts.verified = &verified;  // the run that checked it copies it unhashed (size still checked)
  EXPECT_TRUE(write_docker_archive(*store, {first.image}, out2, opts));
}
