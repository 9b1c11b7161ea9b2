// skopeo (containers/image) as an independent reader of what we write: it must
// open our docker archives and OCI archives/layouts, find each image by name and
// report the expected layers; `skopeo copy` re-verifies every blob it reads.
// Skipped when /usr/bin/skopeo is not installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "export/export.h"
#include "image_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ferry::exporter::DockerArchiveOptions;
using namespace ferry::exporter::testing;

namespace {

constexpr const char* kSkopeo = "/usr/bin/skopeo";

struct Command {
  int status = -1;
  std::string out;
};

Command run(const std::string& cmd) {
  Command r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = ::pclose(p);
  return r;
}

json inspect(const std::string& transport_ref, bool raw = false) {
  Command r = run(std::string(kSkopeo) + " --override-os linux --override-arch amd64 inspect " +
              (raw ? "--raw " : "") + "'" + transport_ref + "'");
  EXPECT_EQ(r.status, 0) << transport_ref << "\n" << r.out;
  if (r.status != 0) return json();
  return json::parse(r.out, nullptr, false);
}

class SkopeoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kSkopeo, X_OK) != 0) FAIL() << "skopeo not installed (scripts/deps.sh test installs it)";
    auto s = ferry::store::Store::open(tmp.path() / "store", true);
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
    base = make_layer(tmp.path() / "l.tar", {{"etc/os-release", "ID=test\n"}});
    top = make_layer(tmp.path() / "l.tar", {{"app/run", std::string(70000, 'r')}});
    other = make_layer(tmp.path() / "l.tar", {{"other", "o"}});
    other.media_type = ferry::manifest::media::kOciLayerGzip;
    ubuntu = build_image(*store, "ubuntu:24.04", {base, top});
    app = build_image(*store, "ghcr.io/ns/app:1", {base, other}, /*oci=*/true);
  }

  TempDir tmp;
  std::optional<ferry::store::Store> store;
  Layer base, top, other;
  BuiltImage ubuntu, app;
};

}  // namespace

TEST_F(SkopeoTest, ReadsDockerArchive) {
  fs::path out = tmp.path() / "d.tar";
  auto st = ferry::exporter::write_docker_archive(*store, {ubuntu.image, app.image}, out, {});
  ASSERT_TRUE(st) << st.error().message;
  json u = inspect("docker-archive:" + out.string() + ":ubuntu:24.04");
  ASSERT_TRUE(u.is_object());
  // The docker-archive source names layers by diff_id (it decompresses them).
  EXPECT_EQ(u["Layers"], (json{base.diff_id.str(), top.diff_id.str()})) << u.dump(2);
  EXPECT_EQ(u["Architecture"], "amd64");
  json a = inspect("docker-archive:" + out.string() + ":ghcr.io/ns/app:1");
  ASSERT_TRUE(a.is_object());
  EXPECT_EQ(a["Layers"], (json{base.diff_id.str(), other.diff_id.str()})) << a.dump(2);
  // copy reads every layer and checks it against what the archive claims.
  Command copied = run(std::string(kSkopeo) + " copy -q docker-archive:" + out.string() + ":ubuntu:24.04 oci:" +
                 (tmp.path() / "copied").string() + ":x");
  EXPECT_EQ(copied.status, 0) << copied.out;
}

TEST_F(SkopeoTest, ReadsUncompressedDockerArchive) {
  fs::path out = tmp.path() / "u.tar";
  auto st = ferry::exporter::write_docker_archive(*store, {ubuntu.image}, out, DockerArchiveOptions{true});
  ASSERT_TRUE(st) << st.error().message;
  json u = inspect("docker-archive:" + out.string());
  ASSERT_TRUE(u.is_object());
  EXPECT_EQ(u["Layers"], (json{base.diff_id.str(), top.diff_id.str()})) << u.dump(2);
  Command copied = run(std::string(kSkopeo) + " copy -q docker-archive:" + out.string() + " dir:" +
                 (tmp.path() / "copied").string());
  EXPECT_EQ(copied.status, 0) << copied.out;
}

TEST_F(SkopeoTest, ReadsOciArchive) {
  // containers/image looks names up only among OCI-typed index entries: the OCI
  // image is found as exported; the Docker one once restated as OCI.
  fs::path archive = tmp.path() / "o.tar";
  auto st = ferry::exporter::write_oci_archive(*store, {ubuntu.image, app.image}, archive);
  ASSERT_TRUE(st) << st.error().message;
  json raw = inspect("oci-archive:" + archive.string() + ":ghcr.io/ns/app:1", /*raw=*/true);
  EXPECT_EQ(raw.dump(), json::parse(app.manifest).dump());

  fs::path converted = tmp.path() / "c.tar";
  st = ferry::exporter::write_oci_archive(*store, {ubuntu.image, app.image}, converted,
                                          ferry::exporter::OciOptions{true});
  ASSERT_TRUE(st) << st.error().message;
  json u = inspect("oci-archive:" + converted.string() + ":docker.io/library/ubuntu:24.04");
  ASSERT_TRUE(u.is_object());
  EXPECT_EQ(u["Layers"], (json{base.digest.str(), top.digest.str()})) << u.dump(2);
  json a = inspect("oci-archive:" + converted.string() + ":ghcr.io/ns/app:1");
  ASSERT_TRUE(a.is_object());
  EXPECT_EQ(a["Digest"], app.image.descriptor.digest.str());  // OCI manifests stay as they are
  Command copied = run(std::string(kSkopeo) + " copy -q oci-archive:" + converted.string() +
                       ":docker.io/library/ubuntu:24.04 dir:" + (tmp.path() / "copied").string());
  EXPECT_EQ(copied.status, 0) << copied.out;
}

TEST_F(SkopeoTest, ReadsOciLayoutWithOneDockerImage) {
  fs::path dir = tmp.path() / "layout";
  auto st = ferry::exporter::write_oci_layout(*store, {ubuntu.image}, dir);
  ASSERT_TRUE(st) << st.error().message;
  json l = inspect("oci:" + dir.string());  // the only image: taken whatever its type
  ASSERT_TRUE(l.is_object());
  EXPECT_EQ(l["Digest"], ubuntu.image.descriptor.digest.str());
  EXPECT_EQ(l["Layers"], (json{base.digest.str(), top.digest.str()})) << l.dump(2);
  Command copied = run(std::string(kSkopeo) + " copy -q oci:" + dir.string() + " dir:" + (tmp.path() / "c").string());
  EXPECT_EQ(copied.status, 0) << copied.out;
}
