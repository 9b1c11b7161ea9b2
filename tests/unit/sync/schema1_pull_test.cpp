// sync::pull of a Docker schema1 image from an in-process fake registry: the store
// ends up with a schema2 image whose config diff_ids match the layers, the schema1
// payload under its digest, an index.json entry annotated with that digest, and a
// second run that costs one HEAD. Throwaway layers are never fetched; a platform
// the schema1 image is not for, or a layer that is not gzip, fails saying schema1.
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <string>
#include <vector>

#include "digest/digest.h"
#include "manifest/manifest.h"
#include "store/verify.h"
#include "support/fake_registry.h"
#include "support/schema1.h"
#include "support/temp_dir.h"
#include "sync/pull.h"
#include "sync/schema1_convert.h"

namespace ferry::sync {
namespace {

using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;
using ferry::testing::FakeResponse;
using ferry::testing::Schema1Entry;

std::string gzip(std::string_view data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

FakeResponse respond(int status, std::string body = {}, std::vector<std::pair<std::string, std::string>> h = {}) {
  return FakeResponse{status, std::move(h), std::move(body), std::nullopt, 0};
}

class Schema1PullTest : public ::testing::Test {
 protected:
  Schema1PullTest() {
    base_tar_ = std::string(30000, 'b') + "base";
    top_tar_ = std::string(20000, 't') + "top";
    base_gz_ = gzip(base_tar_);
    top_gz_ = gzip(top_tar_);
    set_layers(base_gz_, top_gz_);
    server_.set_handler([this](const FakeRequest& req) { return handle(req); });
    store_.emplace(open_store("store"));
  }

  store::Store open_store(const std::string& name) {
    auto s = store::Store::open(dir_.path() / name, true);
    FERRY_CHECK(s.has_value());
    return std::move(*s);
  }

  // Top first: an ENV (throwaway, its blob never served), the top layer, the base layer.
  void set_layers(std::string base, std::string top) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_ = {base, top};
    const std::vector<Schema1Entry> entries{
        {throwaway_blob_.str(),
         R"({"id":"c3","parent":"b2","created":"2026-01-03T00:00:00Z","throwaway":true,"architecture":"amd64",)"
         R"("os":"linux","config":{"Env":["A=1"]},"container_config":{"Cmd":["/bin/sh","-c","#(nop) ","ENV A=1"]}})"},
        {digest::sha256_of(top).str(), R"({"id":"b2","parent":"a1","created":"2026-01-02T00:00:00Z"})"},
        {digest::sha256_of(base).str(), R"({"id":"a1","created":"2026-01-01T00:00:00Z"})"},
    };
    payload_ = ferry::testing::schema1_unsigned("s1/app", "latest", "amd64", entries);
  }

  FakeResponse handle(const FakeRequest& req) {
    const std::string path = req.path_only();
    if (path == "/v2/") return respond(200, "{}");
    std::lock_guard<std::mutex> lock(mu_);
    if (path == "/v2/s1/app/manifests/latest") {
      // Signed anew on every GET, as registries do: the digest stays the payload's.
      const std::string body = ferry::testing::schema1_sign(payload_, 1 + (gets_++ % 2));
      return respond(200, req.method == "HEAD" ? "" : body,
                     {{"Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"},
                      {"Docker-Content-Digest", digest::sha256_of(payload_).str()}});
    }
    for (const auto& b : blobs_) {
      if (path == "/v2/s1/app/blobs/" + digest::sha256_of(b).str()) return respond(200, b);
    }
    return respond(404, R"({"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]})");
  }

  PullTarget target(std::string platform = "linux/amd64") {
    auto ref = reference::parse(server_.host() + "/s1/app:latest");
    FERRY_CHECK(ref.has_value());
    auto p = manifest::parse_platform(platform);
    FERRY_CHECK(p.has_value());
    return {*ref, {*p}, false};
  }

  PullReport pull_once(store::Store& s, PullTarget t, bool skip_unchanged = false) {
    PullOptions o;
    o.registry_options = [](const std::string&) { return registry::RegistryOptions{}; };
    o.skip_unchanged = skip_unchanged;
    auto r = pull(s, {t}, o, engine_);
    FERRY_CHECK(r.has_value());
    return std::move(*r);
  }

  size_t count(const std::string& method, const std::string& path_part) const {
    size_t n = 0;
    for (const auto& r : server_.requests()) n += r.method == method && r.path.find(path_part) != std::string::npos;
    return n;
  }

  ferry::testing::TempDir dir_;
  FakeRegistry server_;
  http::Engine engine_;
  std::optional<store::Store> store_;
  std::mutex mu_;
  std::vector<std::string> blobs_;
  std::string payload_;
  int gets_ = 0;
  std::string base_tar_, top_tar_, base_gz_, top_gz_;
  const digest::Digest throwaway_blob_ = digest::sha256_of("never served");
};

TEST_F(Schema1PullTest, StoresAConvertedSchema2ImageWhoseDiffIdsMatchTheLayers) {
  PullReport r = pull_once(*store_, target());
  ASSERT_TRUE(r.ok()) << r.images[0].error->message;
  const digest::Digest schema1 = digest::sha256_of(payload_);
  EXPECT_EQ(r.images[0].digest, schema1);
  EXPECT_EQ(count("GET", throwaway_blob_.str()), 0u);  // throwaway: not a layer, never fetched

  auto index = store_->read_index();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->size(), 1u);
  const manifest::Descriptor& entry = (*index)[0].descriptor;
  EXPECT_EQ(entry.media_type, manifest::media::kDockerManifest);
  EXPECT_EQ(entry.annotations.at(std::string(store::kSchema1DigestAnnotation)), schema1.str());
  ASSERT_TRUE(entry.platform);
  EXPECT_EQ(entry.platform->str(), "linux/amd64");
  EXPECT_EQ(*store_->read_blob(schema1, 1 << 20), payload_);  // the original, content-addressed

  auto body = store_->read_blob(entry.digest, 1 << 20);
  ASSERT_TRUE(body);
  auto parsed = manifest::parse(*body, entry.media_type);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& m = std::get<manifest::ImageManifest>(*parsed);
  ASSERT_EQ(m.layers.size(), 2u);  // bottom first, throwaway dropped
  EXPECT_EQ(m.layers[0].digest, digest::sha256_of(base_gz_));
  EXPECT_EQ(m.layers[0].size, static_cast<int64_t>(base_gz_.size()));
  EXPECT_EQ(m.layers[1].digest, digest::sha256_of(top_gz_));
  EXPECT_EQ(m.layers[0].media_type, manifest::media::kDockerLayerGzip);
  auto config = manifest::parse_config(*store_->read_blob(m.config.digest, 1 << 20));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->diff_ids, (std::vector<digest::Digest>{digest::sha256_of(base_tar_), digest::sha256_of(top_tar_)}));
  const std::string config_text = *store_->read_blob(m.config.digest, 1 << 20);
  EXPECT_NE(config_text.find(R"("created_by":"/bin/sh -c #(nop)  ENV A=1","empty_layer":true})"), std::string::npos)
      << config_text;

  auto v = store::verify(*store_);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ok()) << v->problems.front().message;
  EXPECT_EQ(v->unreferenced, 0u);  // the payload is reached through the annotation
}

TEST_F(Schema1PullTest, TheNextSyncIsOneHeadAndTheConversionIsDeterministic) {
  PullReport first = pull_once(*store_, target(), true);
  ASSERT_TRUE(first.ok()) << first.images[0].error->message;
  const size_t requests = server_.request_count();
  PullReport again = pull_once(*store_, target(), true);
  ASSERT_TRUE(again.ok()) << again.images[0].error->message;
  EXPECT_FALSE(again.images[0].changed);
  std::vector<FakeRequest> later;  // besides the new client's ping of /v2/
  const auto all = server_.requests();
  for (size_t k = requests; k < all.size(); ++k) {
    if (all[k].path != "/v2/") later.push_back(all[k]);
  }
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].method, "HEAD");
  EXPECT_EQ(later[0].path, "/v2/s1/app/manifests/latest");
  // Another store, another (re-signed) GET: the same bytes, the same digests.
  store::Store other = open_store("other");
  PullReport fresh = pull_once(other, target());
  ASSERT_TRUE(fresh.ok()) << fresh.images[0].error->message;
  EXPECT_EQ(fresh.images[0].entries.at(0).digest, first.images[0].entries.at(0).digest);
}

TEST_F(Schema1PullTest, APlatformTheImageIsNotForFailsSayingSchema1) {
  PullReport r = pull_once(*store_, target("linux/arm64"));
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.images[0].error->message;
  EXPECT_NE(msg.find("schema1 image: the manifest is for linux/amd64 only"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not linux/arm64"), std::string::npos) << msg;
  EXPECT_EQ(count("GET", "/blobs/"), 0u);
}

TEST_F(Schema1PullTest, ALayerThatIsNotGzipFailsTheConversion) {
  set_layers(base_gz_, "plain tar bytes, not gzip");
  PullReport r = pull_once(*store_, target());
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.images[0].error->message;
  EXPECT_NE(msg.find("schema1 image: layer " + digest::sha256_of("plain tar bytes, not gzip").str() +
                     " is not gzip-compressed"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  auto index = store_->read_index();
  ASSERT_TRUE(index);
  EXPECT_TRUE(index->empty());
}

TEST_F(Schema1PullTest, APinnedSchema1DigestIsChecked) {
  auto ref = reference::parse(server_.host() + "/s1/app@" + digest::sha256_of(payload_ + " ").str());
  ASSERT_TRUE(ref);
  // The registry serves the same payload under the tag; only the path differs.
  server_.set_handler([this](const FakeRequest& req) {
    FakeRequest copy = req;
    if (copy.path.find("/manifests/sha256:") != std::string::npos) copy.path = "/v2/s1/app/manifests/latest";
    return handle(copy);
  });
  PullReport r = pull_once(*store_, {*ref, {{"linux", "amd64", "", ""}}, false});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.images[0].error->message.find("manifest hashes to " + digest::sha256_of(payload_).str()),
            std::string::npos)
      << r.images[0].error->message;
  auto pinned = reference::parse(server_.host() + "/s1/app@" + digest::sha256_of(payload_).str());
  ASSERT_TRUE(pinned);
  PullReport ok = pull_once(*store_, {*pinned, {{"linux", "amd64", "", ""}}, false});
  ASSERT_TRUE(ok.ok()) << ok.images[0].error->message;
  EXPECT_EQ(ok.images[0].digest, digest::sha256_of(payload_));
}

}  // namespace
}  // namespace ferry::sync
