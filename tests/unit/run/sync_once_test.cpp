// run::sync_once against a FakeDistribution that is both the source and the
// mirror_to registry: the image pulled, exported and pushed with its bytes
// unchanged, last-run.json and the metrics file written; the next run costs HEADs
// and pushes nothing; a missing image fails the run without losing the last success;
// a store that cannot be opened is an error and nothing is recorded.
#include "run/sync_once.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "digest/digest.h"
#include "manifest/manifest.h"
#include "push/push.h"
#include "store/store.h"
#include "support/fake_distribution.h"
#include "support/fake_registry.h"
#include "support/gzip.h"
#include "support/temp_dir.h"

namespace ferry::run {
namespace {

namespace fs = std::filesystem;
using ferry::testing::FakeDistribution;
using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

manifest::Descriptor put(store::Store& s, const std::string& body, std::string_view media_type) {
  manifest::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = digest::sha256_of(body);
  d.size = static_cast<int64_t>(body.size());
  EXPECT_TRUE(s.put_blob(d.digest, body));
  return d;
}

std::string json(const manifest::Descriptor& d) {
  return fmt::format(R"({{"mediaType":"{}","digest":"{}","size":{}}})", d.media_type, d.digest.str(), d.size);
}

class SyncOnceTest : public ::testing::Test {
 protected:
  SyncOnceTest() : dist_(registry_.url("")) {
    registry_.set_handler([this](const FakeRequest& r) { return dist_.handle(r); });
    seed();
  }

  // One image with a real gzip layer (its diff_id checked by the pull), pushed from a
  // seed store to src/app:1.0.
  void seed() {
    auto seed = store::Store::open(dir_.path() / "seed", true);
    ASSERT_TRUE(seed);
    const std::string layer = "the layer's files";
    auto config = put(*seed,
                      fmt::format(R"({{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}})",
                                  digest::sha256_of(layer).str()),
                      manifest::media::kOciConfig);
    auto blob = put(*seed, ferry::testing::gzip(layer), manifest::media::kOciLayerGzip);
    manifest_ = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":)" +
                json(config) + R"(,"layers":[)" + json(blob) + "]}";
    auto m = put(*seed, manifest_, manifest::media::kOciManifest);
    auto dest = reference::parse(registry_.host() + "/src/app:1.0");
    ASSERT_TRUE(dest);
    auto pushed = push::push(*seed, {push::PushItem{"seed", {m}, *dest, {}}}, {}, engine_);
    ASSERT_TRUE(pushed && pushed->ok());
  }

  config::Watchlist watchlist(const std::string& image) {
    auto w = config::parse(fmt::format("images: [{}/{}]\nmirror_to: {{ registry: {}, prefix: mirror }}\n",
                                       registry_.host(), image, registry_.host()),
                           "test.yaml");
    EXPECT_TRUE(w) << (w ? "" : w.error().message);
    return w ? *w : config::Watchlist{};
  }

  SyncOnceOptions options() {
    SyncOnceOptions o;
    o.store = dir_.path() / "store";
    o.export_dir = dir_.path() / "export";
    o.metrics = dir_.path() / "ferry.prom";
    o.registry_options = [](const std::string&) { return registry::RegistryOptions{}; };
    return o;
  }

  size_t count(const std::string& method, size_t from, const std::string& part = "") const {
    auto seen = registry_.requests();
    size_t n = 0;
    for (size_t i = from; i < seen.size(); ++i) {
      n += seen[i].method == method && seen[i].path.find(part) != std::string::npos;
    }
    return n;
  }

  ferry::testing::TempDir dir_;
  FakeRegistry registry_;
  FakeDistribution dist_;
  http::Engine engine_;
  std::string manifest_;
};

TEST_F(SyncOnceTest, AnImageIsPulledExportedAndMirroredThenTheNextRunOnlyLooks) {
  auto run = sync_once(watchlist("src/app:1.0"), options(), engine_);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_TRUE(run->ok());
  EXPECT_TRUE(run->errors.empty());
  ASSERT_EQ(run->summary.images.size(), 1u);
  const auto& o = run->summary.images[0];
  EXPECT_TRUE(o.changed);
  EXPECT_EQ(o.digest, digest::sha256_of(manifest_).str());
  EXPECT_TRUE(o.exported);
  ASSERT_FALSE(o.export_file.empty());
  EXPECT_TRUE(fs::is_regular_file(dir_.path() / "export" / o.export_file)) << o.export_file;
  EXPECT_EQ(o.pushed_to, registry_.host() + "/mirror/src/app:1.0");
  EXPECT_FALSE(o.push_current);
  EXPECT_TRUE(run->summary.mirrored);
  EXPECT_EQ(dist_.manifest("mirror/src/app", "1.0"), manifest_);  // byte for byte

  auto last = nlohmann::json::parse(slurp(dir_.path() / "store" / "state" / "last-run.json"));
  EXPECT_EQ(last["failed"], 0);
  EXPECT_GT(last["last_success"].get<int64_t>(), 0);
  EXPECT_EQ(last["images"][0]["pushed_to"], o.pushed_to);
  EXPECT_NE(slurp(dir_.path() / "ferry.prom").find("ferry_sync_images{result=\"ok\"} 1\n"), std::string::npos);

  const size_t before = registry_.request_count();
  auto again = sync_once(watchlist("src/app:1.0"), options(), engine_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->ok());
  EXPECT_FALSE(again->summary.images[0].changed);
  EXPECT_TRUE(again->summary.images[0].push_current);
  EXPECT_EQ(count("GET", before, "/manifests/"), 0u);  // the source tag: one HEAD
  EXPECT_EQ(count("GET", before, "/blobs/"), 0u);
  EXPECT_EQ(count("HEAD", before, "/v2/src/app/manifests/1.0"), 1u);
  EXPECT_EQ(count("HEAD", before, "/v2/mirror/src/app/manifests/1.0"), 1u);  // already there: nothing sent
  EXPECT_EQ(count("PUT", before), 0u);
  EXPECT_EQ(count("POST", before), 0u);
}

TEST_F(SyncOnceTest, AMissingImageFailsTheRunButKeepsTheLastSuccess) {
  auto first = sync_once(watchlist("src/app:1.0"), options(), engine_);
  ASSERT_TRUE(first && first->ok());
  const auto success = nlohmann::json::parse(slurp(dir_.path() / "store" / "state" / "last-run.json"))["last_success"];

  auto run = sync_once(watchlist("src/gone:1.0"), options(), engine_);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_FALSE(run->ok());
  ASSERT_EQ(run->summary.failed(), 1u);
  ASSERT_EQ(run->errors.size(), 1u);
  EXPECT_NE(run->errors[0].find("src/gone"), std::string::npos) << run->errors[0];
  EXPECT_TRUE(run->summary.images[0].pushed_to.empty());  // a failed image is not mirrored
  auto last = nlohmann::json::parse(slurp(dir_.path() / "store" / "state" / "last-run.json"));
  EXPECT_EQ(last["failed"], 1);
  EXPECT_EQ(last["last_success"], success);
  EXPECT_NE(slurp(dir_.path() / "ferry.prom").find("ferry_sync_images{result=\"failed\"} 1\n"), std::string::npos);
}

TEST_F(SyncOnceTest, AStoreThatCannotBeOpenedIsAnErrorAndNothingIsRecorded) {
  std::ofstream(dir_.path() / "not-a-dir") << "x";
  auto o = options();
  o.store = dir_.path() / "not-a-dir";
  const size_t before = registry_.request_count();
  auto run = sync_once(watchlist("src/app:1.0"), o, engine_);
  ASSERT_FALSE(run);
  EXPECT_EQ(registry_.request_count(), before);
  EXPECT_FALSE(fs::exists(dir_.path() / "ferry.prom"));
  EXPECT_FALSE(fs::exists(dir_.path() / "export"));
}

}  // namespace
}  // namespace ferry::run
