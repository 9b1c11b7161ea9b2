// sync::pull of nested indexes and OCI 1.1 artifacts from a FakeRegistry, and what
// export then makes of them: a platform chosen inside an inner index, all platforms
// keeping the registry's top index (attestations included) as one OCI index.json
// entry with the same digest, the depth limit, and an artifact that goes into an
// OCI archive but is refused, with its one line, for a docker-load tarball.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "digest/digest.h"
#include "export/archive_check.h"
#include "export/export.h"
#include "store/image_view.h"
#include "store/fs_util.h"
#include "store/verify.h"
#include "support/fake_registry.h"
#include "support/temp_dir.h"
#include "sync/pull.h"

namespace ferry::sync {
namespace {

using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;
using ferry::testing::FakeResponse;
using nlohmann::ordered_json;

constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kSigType = "application/vnd.dev.cosign.artifact.sig.v1+json";

ordered_json desc(std::string_view type, const std::string& body) {
  return {{"mediaType", type}, {"digest", digest::sha256_of(body).str()}, {"size", body.size()}};
}

// One repository on a content-addressed fake: blobs and manifests by digest, tags.
class Repo {
 public:
  Repo() {
    server_.set_handler([this](const FakeRequest& req) { return handle(req); });
  }
  std::string blob(std::string body) {
    std::lock_guard lock(mu_);
    std::string d = digest::sha256_of(body).str();
    blobs_[d] = std::move(body);
    return d;
  }
  // Adds a manifest (by digest and, if given, by tag); returns its body.
  std::string manifest(std::string_view type, const ordered_json& j, const std::string& tag = {}) {
    std::string body = j.dump();
    std::lock_guard lock(mu_);
    manifests_[digest::sha256_of(body).str()] = {std::string(type), body};
    if (!tag.empty()) manifests_[tag] = {std::string(type), body};
    return body;
  }
  // An image: one plain layer (its digest is its diff_id, as verify checks), a config
  // of `arch` (os `os`); `layer_type` in-toto makes an attestation.
  std::string image(const std::string& arch, const std::string& os = "linux",
                    std::string_view layer_type = "application/vnd.oci.image.layer.v1.tar") {
    std::string layer = "layer of " + os + "/" + arch;
    blob(layer);
    std::string config = ordered_json{{"architecture", arch}, {"os", os},
                                      {"rootfs", {{"type", "layers"},
                                                  {"diff_ids", {digest::sha256_of(layer).str()}}}}}
                             .dump();
    blob(config);
    return manifest(kOciManifest, {{"schemaVersion", 2},
                                   {"mediaType", kOciManifest},
                                   {"config", desc("application/vnd.oci.image.config.v1+json", config)},
                                   {"layers", {desc(layer_type, layer)}}});
  }
  std::string host() const { return server_.host(); }

 private:
  FakeResponse handle(const FakeRequest& req) {
    const std::string path = req.path_only();
    auto answer = [](int status, std::string body, std::vector<std::pair<std::string, std::string>> h = {}) {
      return FakeResponse{status, std::move(h), std::move(body), std::nullopt, 0};
    };
    if (path == "/v2/") return answer(200, "{}");
    const std::string m = "/v2/app/manifests/", b = "/v2/app/blobs/";
    std::lock_guard lock(mu_);
    if (path.starts_with(m)) {
      auto it = manifests_.find(path.substr(m.size()));
      if (it != manifests_.end()) {
        return answer(200, it->second.second,
                      {{"Content-Type", it->second.first},
                       {"Docker-Content-Digest", digest::sha256_of(it->second.second).str()}});
      }
    }
    if (path.starts_with(b)) {
      auto it = blobs_.find(path.substr(b.size()));
      if (it != blobs_.end()) return answer(200, it->second);
    }
    return answer(404, R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]})");
  }

  FakeRegistry server_;
  std::mutex mu_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, std::pair<std::string, std::string>> manifests_;
};

ordered_json entry(std::string_view type, const std::string& body, const std::string& os, const std::string& arch,
                   ordered_json annotations = nullptr) {
  ordered_json e = desc(type, body);
  if (!os.empty()) e["platform"] = {{"architecture", arch}, {"os", os}};
  if (!annotations.is_null()) e["annotations"] = std::move(annotations);
  return e;
}

ordered_json index_json(std::vector<ordered_json> entries) {
  return {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", std::move(entries)}};
}

class PullTreeTest : public ::testing::Test {
 protected:
  PullTreeTest() {
    auto s = store::Store::open(dir_.path() / "store", true);
    FERRY_CHECK(s.has_value());
    store_.emplace(std::move(*s));
    amd64_ = repo_.image("amd64");
    arm64_ = repo_.image("arm64");
    attestation_ = repo_.image("unknown", "unknown", "application/vnd.in-toto+json");
    // An index of two platforms and buildx's attestation, inside an outer index.
    inner_ = repo_.manifest(kOciIndex, index_json({entry(kOciManifest, amd64_, "linux", "amd64"),
                                                   entry(kOciManifest, arm64_, "linux", "arm64"),
                                                   entry(kOciManifest, attestation_, "unknown", "unknown",
                                                         {{"vnd.docker.reference.type", "attestation-manifest"},
                                                          {"vnd.docker.reference.digest",
                                                           digest::sha256_of(amd64_).str()}})}));
    outer_ = repo_.manifest(kOciIndex, index_json({entry(kOciIndex, inner_, "", "")}), "nested");
  }

  PullReport run(const std::string& tag, bool all, manifest::Platform p = {"linux", "amd64", "", ""}) {
    auto ref = reference::parse(repo_.host() + "/app:" + tag);
    FERRY_CHECK(ref.has_value());
    PullOptions o;
    o.registry_options = [](const std::string&) { return registry::RegistryOptions{}; };
    auto report = pull(*store_, {PullTarget{*ref, {p}, all}}, o, engine_);
    FERRY_CHECK(report.has_value());
    return std::move(*report);
  }

  std::vector<exporter::ExportImage> exports(const PulledImage& img, bool whole) {
    std::vector<exporter::ExportImage> out;
    if (whole) return {{img.ref, img.entries.front()}};
    for (const auto& d : img.images) out.push_back({img.ref, d});
    return out;
  }

  std::string read(const std::filesystem::path& p) {
    auto s = store::read_file(p, 64 << 20);
    FERRY_CHECK(s.has_value());
    return *s;
  }

  ferry::testing::TempDir dir_;
  Repo repo_;
  std::optional<store::Store> store_;
  http::Engine engine_;
  std::string amd64_, arm64_, attestation_, inner_, outer_;
};

TEST_F(PullTreeTest, APlatformIsChosenInsideANestedIndex) {
  auto report = run("nested", false, {"linux", "arm64", "", ""});
  ASSERT_EQ(report.images.size(), 1u);
  const auto& img = report.images[0];
  ASSERT_FALSE(img.error) << img.error->message;  // was: "no manifest for platform ...; available: none"
  ASSERT_EQ(img.images.size(), 1u);
  EXPECT_EQ(img.images[0].digest, digest::sha256_of(arm64_));
  ASSERT_EQ(img.entries.size(), 1u);
  EXPECT_EQ(img.entries[0].digest, digest::sha256_of(arm64_));  // a subset: the index is not the entry
  EXPECT_EQ(img.digest, digest::sha256_of(outer_));
  EXPECT_FALSE(store_->has_blob(digest::sha256_of(attestation_)));
}

TEST_F(PullTreeTest, AllPlatformsKeepTheTopIndexEveryNestedIndexAndTheAttestations) {
  auto report = run("nested", true);
  const auto& img = report.images.at(0);
  ASSERT_FALSE(img.error) << img.error->message;
  ASSERT_EQ(img.entries.size(), 1u);
  EXPECT_EQ(img.entries[0].digest, digest::sha256_of(outer_));
  ASSERT_EQ(img.images.size(), 2u);  // the attestation is no platform image
  EXPECT_EQ(img.images[0].digest, digest::sha256_of(amd64_));
  EXPECT_EQ(img.images[1].digest, digest::sha256_of(arm64_));
  for (const auto* body : {&outer_, &inner_, &attestation_}) EXPECT_TRUE(store_->has_blob(digest::sha256_of(*body)));
  EXPECT_TRUE(store_->has_blob(digest::sha256_of("layer of unknown/unknown")));  // the attestation's statement
  auto index = store_->read_index();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->size(), 1u);
  EXPECT_EQ(index->front().descriptor.digest, digest::sha256_of(outer_));
  auto platforms = store::platform_images(*store_, img.entries);
  ASSERT_TRUE(platforms) << platforms.error().message;
  EXPECT_EQ(platforms->size(), 2u);
  auto verified = store::verify(*store_);
  ASSERT_TRUE(verified);
  EXPECT_TRUE(verified->ok()) << verified->problems.front().message;
  EXPECT_EQ(verified->unreferenced, 0u);

  // An OCI archive names the registry's own index, byte for byte.
  const auto oci = dir_.path() / "all.oci.tar";
  ASSERT_TRUE(exporter::write_oci_archive(*store_, exports(img, true), oci));
  auto scan = exporter::ArchiveScan::scan(oci);
  ASSERT_TRUE(scan);
  auto checked = exporter::check_archive(*scan);
  EXPECT_TRUE(checked.ok()) << checked.problem_lines().front();
  const auto* index_entry = scan->find("index.json");
  ASSERT_NE(index_entry, nullptr);
  auto layout = nlohmann::json::parse(*scan->read(*index_entry, 1 << 20));
  ASSERT_EQ(layout["manifests"].size(), 1u);
  EXPECT_EQ(layout["manifests"][0]["digest"], digest::sha256_of(outer_).str());
  EXPECT_EQ(layout["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], img.ref.str());
  for (const auto* body : {&outer_, &inner_, &attestation_}) {
    const auto* e = scan->find("blobs/sha256/" + std::string(digest::sha256_of(*body).hex()));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(*scan->read(*e, 1 << 20), *body);
  }
  // The docker-load tarball takes the two platform images only.
  const auto tar = dir_.path() / "all.tar";
  ASSERT_TRUE(exporter::write_docker_archive(*store_, exports(img, false), tar, {}));
  auto docker = exporter::ArchiveScan::scan(tar);
  ASSERT_TRUE(docker);
  EXPECT_TRUE(exporter::check_archive(*docker).ok());
  EXPECT_EQ(docker->find("blobs/sha256/" + std::string(digest::sha256_of(attestation_).hex())), nullptr);
}

TEST_F(PullTreeTest, AnIndexTreeMissingAManifestIsNotComplete) {
  auto report = run("nested", true);
  ASSERT_FALSE(report.images.at(0).error);
  std::filesystem::remove(store_->blob_path(digest::sha256_of(attestation_)));
  auto tree = store::read_index_tree(*store_, report.images[0].entries[0]);
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_FALSE(tree->complete);
  EXPECT_EQ(tree->nested.size(), 1u);
  EXPECT_EQ(tree->images().size(), 2u);
  auto st = exporter::write_oci_archive(*store_, exports(report.images[0], true), dir_.path() / "x.tar");
  ASSERT_FALSE(st);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "x.tar"));
}

TEST_F(PullTreeTest, IndexesNestedBeyondFourLevelsAreRefused) {
  std::string body = outer_;  // already two levels
  for (int level = 3; level <= 5; ++level) {
    body = repo_.manifest(kOciIndex, index_json({entry(kOciIndex, body, "", "")}), "level" + std::to_string(level));
  }
  auto ok = run("level4", false);
  EXPECT_FALSE(ok.images.at(0).error) << ok.images[0].error->message;
  auto deep = run("level5", true);
  ASSERT_TRUE(deep.images.at(0).error);
  EXPECT_NE(deep.images[0].error->message.find("indexes nested deeper than 4 levels"), std::string::npos)
      << deep.images[0].error->message;
}

TEST_F(PullTreeTest, AnArtifactGoesIntoTheStoreAndOciArchivesButNotADockerTarball) {
  std::string empty = "{}";
  repo_.blob(empty);
  std::string sig = "{\"critical\":{}}";
  repo_.blob(sig);
  std::string body = repo_.manifest(
      kOciManifest,
      {{"schemaVersion", 2},
       {"mediaType", kOciManifest},
       {"artifactType", kSigType},
       {"config", desc("application/vnd.oci.empty.v1+json", empty)},
       {"layers", {desc("application/vnd.dev.cosign.simplesigning.v1+json", sig)}},
       {"subject", desc(kOciManifest, amd64_)}},
      "sig");
  auto report = run("sig", false);
  const auto& img = report.images.at(0);
  ASSERT_FALSE(img.error) << img.error->message;  // was: "config: os: missing"
  EXPECT_TRUE(store_->has_blob(digest::sha256_of(sig)));
  EXPECT_TRUE(store_->has_blob(digest::sha256_of(empty)));
  auto verified = store::verify(*store_);
  ASSERT_TRUE(verified);
  EXPECT_TRUE(verified->ok());

  auto refused = exporter::check_docker_loadable(*store_, exports(img, false));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            img.ref.str() + ": is an artifact (" + std::string(kSigType) +
                "), not an image: a docker-load tarball cannot carry it; use --format oci-archive");
  const auto tar = dir_.path() / "sig.tar";
  EXPECT_FALSE(exporter::write_docker_archive(*store_, exports(img, false), tar, {}));
  EXPECT_FALSE(std::filesystem::exists(tar));

  const auto oci = dir_.path() / "sig.oci.tar";
  ASSERT_TRUE(exporter::write_oci_archive(*store_, exports(img, false), oci));
  auto scan = exporter::ArchiveScan::scan(oci);
  ASSERT_TRUE(scan);
  auto checked = exporter::check_archive(*scan);
  EXPECT_TRUE(checked.ok()) << checked.problem_lines().front();
  ASSERT_EQ(checked.images.size(), 1u);
  EXPECT_TRUE(checked.images[0].artifact);
  EXPECT_EQ(checked.images[0].manifest->digest, digest::sha256_of(body));
}

}  // namespace
}  // namespace ferry::sync
