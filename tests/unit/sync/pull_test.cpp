// sync::pull against a scripted FakeRegistry: the run's deadline (transfers stop,
// unfinished images fail with the deadline's reason, finished ones are committed,
// partials stay and the next run resumes them with Range) and the per-registry
// retry budget taken from RegistryOptions.
#include "sync/pull.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "digest/digest.h"
#include "support/fake_registry.h"
#include "support/temp_dir.h"

namespace ferry::sync {
namespace {

using namespace std::chrono_literals;
using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;
using ferry::testing::FakeResponse;

// One image on the fake registry: a config and layers, an OCI manifest over them.
struct TestImage {
  std::string repo, config, manifest;
  std::vector<std::string> layers;
  digest::Digest manifest_digest;

  // `lying_config`: the config names diff_ids the layers do not decompress to.
  TestImage(std::string r, std::vector<std::string> layer_bodies, bool lying_config = false)
      : repo(std::move(r)), layers(std::move(layer_bodies)) {
    // Plain layers: each one's digest is its diff_id, which pull checks.
    std::string diff_ids;
    for (size_t i = 0; i < layers.size(); ++i) {
      diff_ids += (i ? ",\"" : "\"") + digest::sha256_of(layers[i] + (lying_config ? "x" : "")).str() + "\"";
    }
    config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[)" + diff_ids + "]}}";
    manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
               R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
               digest::sha256_of(config).str() + R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[)";
    for (size_t i = 0; i < layers.size(); ++i) {
      manifest += (i ? "," : "") + std::string(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar",)") +
                  R"("digest":")" + digest::sha256_of(layers[i]).str() + R"(","size":)" +
                  std::to_string(layers[i].size()) + "}";
    }
    manifest += "]}";
    manifest_digest = digest::sha256_of(manifest);
  }
};

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + (i * 7919) % 251);
  return s;
}

FakeResponse respond(int status, std::string body = {}, std::vector<std::pair<std::string, std::string>> h = {}) {
  return FakeResponse{status, std::move(h), std::move(body), std::nullopt, 0};
}

// Serves `images`: /v2/ 200, manifests by tag, blobs with Range. `blob_fault` may
// change a blob answer (cut it, delay it) before it goes out.
class Registry {
 public:
  using Fault = std::function<void(const FakeRequest&, const std::string& digest, FakeResponse&)>;
  explicit Registry(std::vector<TestImage> images) : images_(std::move(images)) {
    server_.set_handler([this](const FakeRequest& req) { return handle(req); });
  }
  void set_fault(Fault f) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = std::move(f);
  }
  std::string host() const { return server_.host(); }
  FakeRegistry& server() { return server_; }
  std::vector<FakeRequest> blob_gets(const std::string& digest) const {
    std::vector<FakeRequest> out;
    for (const auto& r : server_.requests()) {
      if (r.path_only().ends_with("/blobs/" + digest)) out.push_back(r);
    }
    return out;
  }

 private:
  FakeResponse handle(const FakeRequest& req) {
    const std::string path = req.path_only();
    if (path == "/v2/") return respond(200, "{}");
    for (const auto& img : images_) {
      const std::string prefix = "/v2/" + img.repo + "/";
      if (!path.starts_with(prefix)) continue;
      if (path == prefix + "manifests/latest" || path == prefix + "manifests/" + img.manifest_digest.str()) {
        return respond(200, img.manifest, {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"},
                                           {"Docker-Content-Digest", img.manifest_digest.str()}});
      }
      std::vector<std::string> blobs = img.layers;
      blobs.push_back(img.config);
      for (const auto& b : blobs) {
        const std::string d = digest::sha256_of(b).str();
        if (path != prefix + "blobs/" + d) continue;
        FakeResponse r = serve(req, b);
        std::lock_guard<std::mutex> lock(mu_);
        if (fault_) fault_(req, d, r);
        return r;
      }
    }
    return respond(404, R"({"errors":[{"code":"NAME_UNKNOWN","message":"no"}]})");
  }

  static FakeResponse serve(const FakeRequest& req, const std::string& body) {
    const std::string range = req.header("range");
    if (!range.starts_with("bytes=")) return respond(200, body);
    const size_t dash = range.find('-');
    size_t from = std::stoul(range.substr(6, dash - 6));
    size_t last = dash + 1 < range.size() ? std::stoul(range.substr(dash + 1)) : body.size() - 1;
    last = std::min(last, body.size() - 1);
    return respond(206, body.substr(from, last + 1 - from),
                   {{"Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(last) + "/" +
                                          std::to_string(body.size())}});
  }

  std::vector<TestImage> images_;
  FakeRegistry server_;
  std::mutex mu_;
  Fault fault_;
};

http::EngineOptions on(std::shared_ptr<core::Clock> clock) {
  http::EngineOptions o;
  o.clock = std::move(clock);
  return o;
}

class PullTest : public ::testing::Test {
 protected:
  PullTest()
      : registry_({TestImage("quick/img", {pattern(20000, 'a')}), TestImage("slow/img", {pattern(300000, 'b')}),
                   TestImage("big/img", {pattern(kBig, 'c')}), TestImage("lie/img", {pattern(1000, 'd')}, true)}) {
    auto s = store::Store::open(dir_.path() / "store", true);
    FERRY_CHECK(s.has_value());
    store_.emplace(std::move(*s));
  }

  std::vector<PullTarget> targets(std::vector<std::string> repos) {
    std::vector<PullTarget> out;
    for (const auto& repo : repos) {
      auto ref = reference::parse(registry_.host() + "/" + repo + ":latest");
      FERRY_CHECK(ref.has_value());
      out.push_back({*ref, {{"linux", "amd64", "", ""}}, false});
    }
    return out;
  }

  PullOptions options() {
    PullOptions o;
    o.registry_options = [this](const std::string&) {
      registry::RegistryOptions ro = ro_;
      return ro;
    };
    return o;
  }

  std::string big_layer() const { return digest::sha256_of(pattern(kBig, 'c')).str(); }
  static constexpr size_t kBig = 20 << 20;
  std::string slow_layer() const { return digest::sha256_of(pattern(300000, 'b')).str(); }

  ferry::testing::TempDir dir_;
  Registry registry_;
  std::optional<store::Store> store_;
  registry::RegistryOptions ro_;
  http::Engine engine_;
};

TEST_F(PullTest, ADeadlineFailsTheUnfinishedImageAndKeepsTheFinishedOne) {
  // On a manual clock: the slow layer's first answer is cut after 100000 bytes; its
  // resume is sent once nothing else is in flight (the retry's backoff is the only
  // timer left), and its arrival moves the clock 2 s, past the 1 s deadline.
  auto clock = std::make_shared<core::ManualClock>();
  http::Engine engine(on(clock));
  registry_.set_fault([&](const FakeRequest& req, const std::string& d, FakeResponse& r) {
    if (d != slow_layer()) return;
    if (req.has_header("range")) {
      clock->advance(2s);
      r.delay_ms = 10000;  // the answer never comes within the run
    } else {
      r.cut_after = 100000;
    }
  });
  PullOptions o = options();
  o.deadline = 1s;
  o.deadline_text = "1s";
  auto report = pull(*store_, targets({"quick/img", "slow/img"}), o, engine);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->images.size(), 2u);
  EXPECT_FALSE(report->images[0].error) << report->images[0].error->message;
  ASSERT_TRUE(report->images[1].error);
  EXPECT_EQ(report->images[1].error->message, registry_.host() + "/slow/img:latest: deadline of 1s exceeded");
  EXPECT_FALSE(report->ok());

  // Only the finished image is in index.json; the slow layer's partial is kept.
  auto index = store_->read_index();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->size(), 1u);
  EXPECT_EQ(index->front().ref_name, registry_.host() + "/quick/img:latest");
  const auto partial = dir_.path() / "store" / "ingest" / (slow_layer().substr(7) + ".partial");
  ASSERT_TRUE(std::filesystem::exists(partial));
  EXPECT_EQ(std::filesystem::file_size(partial), 100000u);
  EXPECT_FALSE(store_->has_blob(*digest::Digest::parse(slow_layer())));

  // The next run, without a deadline and without faults, fetches only the rest.
  registry_.set_fault(nullptr);
  const size_t before = registry_.blob_gets(slow_layer()).size();
  http::Engine engine2;
  auto again = pull(*store_, targets({"quick/img", "slow/img"}), options(), engine2);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->ok());
  auto gets = registry_.blob_gets(slow_layer());
  ASSERT_EQ(gets.size(), before + 1);
  EXPECT_EQ(gets.back().header("range"), "bytes=100000-");
  EXPECT_EQ(again->bytes_fetched, 200000u);
  EXPECT_TRUE(store_->has_blob(*digest::Digest::parse(slow_layer()), 300000));
  // `committed` lists exactly the blobs each run fetched and committed.
  const auto slow = *digest::Digest::parse(slow_layer());
  auto lists = [](const std::vector<digest::Digest>& v, const digest::Digest& d) {
    return std::find(v.begin(), v.end(), d) != v.end();
  };
  EXPECT_EQ(report->committed.size(), report->blobs_fetched);
  EXPECT_FALSE(lists(report->committed, slow));
  EXPECT_EQ(again->committed.size(), again->blobs_fetched);
  EXPECT_TRUE(lists(again->committed, slow));
  for (const auto& d : report->committed) EXPECT_FALSE(lists(again->committed, d)) << d.str();
}

TEST_F(PullTest, AnImageIsReadyAsSoonAsItsOwnBlobsAreIn) {
  // The slow layer's answer is held until the quick image has been handed over
  // (manifests in the store, the blobs this run fetched listed): the quick image
  // must not wait for it. (The hold ends after 30 s so that a failure cannot hang.)
  std::atomic<bool> quick_handed_over{false};
  const auto hold_until = std::chrono::steady_clock::now() + 30s;
  registry_.server().set_hold([&](const std::string& path) {
    return path.ends_with(slow_layer()) && !quick_handed_over && std::chrono::steady_clock::now() < hold_until;
  });
  struct Ready {
    size_t index;
    std::vector<manifest::Descriptor> entries;
    std::vector<digest::Digest> fetched;
    bool manifest_in_store, slow_layer_in_store;
    size_t index_json_entries;
  };
  std::vector<Ready> ready;
  PullOptions o = options();
  o.skip_unchanged = true;
  o.on_image_ready = [&](size_t i, const PulledImage& img, const std::vector<digest::Digest>& fetched) {
    EXPECT_FALSE(img.error);
    if (i == 0) quick_handed_over = true;
    ready.push_back({i, img.entries, fetched,
                     !img.entries.empty() && store_->has_blob(img.entries.front().digest),
                     store_->has_blob(*digest::Digest::parse(slow_layer())), store_->read_index()->size()});
  };
  auto report = pull(*store_, targets({"quick/img", "slow/img", "missing/img"}), o, engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->images[2].error);  // 404: never ready
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].index, 0u);
  EXPECT_EQ(ready[1].index, 1u);
  for (const auto& r : ready) {
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries.front().digest, report->images[r.index].entries.front().digest);
    EXPECT_TRUE(r.manifest_in_store) << "ready before its manifest was stored";
    EXPECT_EQ(r.index_json_entries, 0u) << "index.json is written when the pull ends";
    EXPECT_EQ(r.fetched.size(), 2u);  // config and one layer
  }
  EXPECT_FALSE(ready[0].slow_layer_in_store) << "the quick image waited for the slow one";
  EXPECT_TRUE(ready[1].slow_layer_in_store);
  const auto slow = *digest::Digest::parse(slow_layer());
  EXPECT_NE(std::find(ready[1].fetched.begin(), ready[1].fetched.end(), slow), ready[1].fetched.end());
  EXPECT_EQ(store_->read_index()->size(), 2u);

  // A re-sync finds both tags unchanged: nothing is handed over again.
  ready.clear();
  registry_.server().set_hold(nullptr);
  http::Engine engine2;
  auto again = pull(*store_, targets({"quick/img", "slow/img"}), o, engine2);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->images[0].changed);
  EXPECT_TRUE(ready.empty());
}

TEST_F(PullTest, ADeadlineDuringResolveFailsEveryImageAndFetchesNothing) {
  // Each manifest request moves the manual clock 1 s, past the deadline, and its
  // answer never comes within the run.
  auto clock = std::make_shared<core::ManualClock>();
  http::Engine engine(on(clock));
  registry_.server().set_handler([clock](const FakeRequest& req) {
    FakeResponse r = respond(req.path_only() == "/v2/" ? 200 : 404, "{}");
    if (req.path_only() != "/v2/") {
      clock->advance(1s);
      r.delay_ms = 10000;
    }
    return r;
  });
  PullOptions o = options();
  o.deadline = 500ms;
  o.deadline_text = "500ms";
  auto report = pull(*store_, targets({"quick/img", "slow/img"}), o, engine);
  ASSERT_TRUE(report) << report.error().message;
  for (const auto& img : report->images) {
    ASSERT_TRUE(img.error);
    EXPECT_NE(img.error->message.find("deadline of 500ms exceeded"), std::string::npos) << img.error->message;
  }
  EXPECT_EQ(report->blobs_fetched, 0u);
  auto index = store_->read_index();
  ASSERT_TRUE(index);
  EXPECT_TRUE(index->empty());
}

TEST_F(PullTest, TheRegistrysRetryBudgetBoundsTheAttempts) {
  registry_.set_fault([&](const FakeRequest&, const std::string& d, FakeResponse& r) {
    if (d == slow_layer()) r = respond(503, R"({"errors":[{"code":"UNAVAILABLE","message":"busy"}]})");
  });
  ro_.retry.max_attempts = 2;
  ro_.retry.base_delay = 1ms;
  auto report = pull(*store_, targets({"slow/img"}), options(), engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->images[0].error);
  EXPECT_EQ(registry_.blob_gets(slow_layer()).size(), 2u);

  ro_.retry.max_attempts = 4;
  http::Engine engine2;
  auto again = pull(*store_, targets({"slow/img"}), options(), engine2);
  ASSERT_TRUE(again);
  EXPECT_EQ(registry_.blob_gets(slow_layer()).size(), 2u + 4u);
}

// The plan streams: an image whose manifest is in starts its blobs while another
// image's manifest is still on its way. The slow image's manifest answer is held
// until the quick image's layer has been asked for (a barrier before the plan
// would never ask, and the hold would end by its 10 s bound instead).
TEST_F(PullTest, ASlowManifestHoldsBackOnlyItsOwnImage) {
  std::atomic<bool> quick_layer_asked{false}, released_by_bound{false};
  const std::string quick_layer = digest::sha256_of(pattern(20000, 'a')).str();
  registry_.set_fault([&](const FakeRequest&, const std::string& d, FakeResponse&) {
    if (d == quick_layer) quick_layer_asked = true;
  });
  const auto bound = std::chrono::steady_clock::now() + 10s;
  registry_.server().set_hold([&](const std::string& path) {
    if (path != "/v2/slow/img/manifests/latest" || quick_layer_asked) return false;
    if (std::chrono::steady_clock::now() < bound) return true;
    released_by_bound = true;
    return false;
  });
  std::vector<std::string> ready;
  PullOptions o = options();
  o.on_image_ready = [&](size_t, const PulledImage& img, const std::vector<digest::Digest>&) {
    ready.push_back(img.ref.repository);
  };
  auto report = pull(*store_, targets({"slow/img", "quick/img"}), o, engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->ok());
  EXPECT_FALSE(released_by_bound.load()) << "the quick image's blobs waited for the slow manifest";
  EXPECT_EQ(ready, (std::vector<std::string>{"quick/img", "slow/img"}));
}

// Two images sharing a layer, planned at different times, fetch it once: the second
// joins the first one's job (or finds it fetched), and both complete.
TEST_F(PullTest, ALayerSharedByImagesPlannedApartIsFetchedOnce) {
  Registry shared({TestImage("one/img", {pattern(5000, 'x'), pattern(7000, 'y')}),
                   TestImage("two/img", {pattern(5000, 'x'), pattern(9000, 'z')})});
  std::atomic<bool> one_done{false};
  const std::string common = digest::sha256_of(pattern(5000, 'x')).str();
  shared.set_fault([&](const FakeRequest&, const std::string& d, FakeResponse&) {
    if (d == common) one_done = true;
  });
  const auto bound = std::chrono::steady_clock::now() + 10s;
  shared.server().set_hold([&](const std::string& path) {
    return path == "/v2/two/img/manifests/latest" && !one_done && std::chrono::steady_clock::now() < bound;
  });
  std::vector<PullTarget> ts;
  for (const char* repo : {"one/img", "two/img"}) {
    auto ref = reference::parse(shared.host() + "/" + repo + ":latest");
    ASSERT_TRUE(ref);
    ts.push_back({*ref, {{"linux", "amd64", "", ""}}, false});
  }
  auto report = pull(*store_, ts, options(), engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->ok());
  EXPECT_EQ(shared.blob_gets(common).size(), 1u);
  EXPECT_EQ(report->blobs_fetched, 5u);  // two configs, three distinct layers
  EXPECT_EQ(report->blobs_present, 0u);
  ASSERT_EQ(report->images.size(), 2u);
  EXPECT_EQ(report->images[0].images.size(), 1u);
  EXPECT_EQ(report->images[1].images.size(), 1u);
}

// ---- segmented downloads ----------------------------------------------------------

PullOptions segmented(PullOptions o) {
  o.segments = 4;
  o.segment_min_size = 1 << 20;
  return o;
}

std::vector<std::string> ranges_of(const std::vector<FakeRequest>& gets) {
  std::vector<std::string> out;
  for (const auto& g : gets) out.push_back(g.header("range"));
  std::sort(out.begin(), out.end());
  return out;
}

// A registry whose image config names diff_ids its layers do not have (docker load
// would refuse the tarball on the far side) fails the image at pull time: it is
// never recorded in index.json, and the message says why.
TEST_F(PullTest, AConfigWhoseDiffIdsLieFailsTheImage) {
  auto report = pull(*store_, targets({"lie/img", "quick/img"}), options(), engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->images[0].error);
  EXPECT_NE(report->images[0].error->message.find("but the image config's diff_id is"), std::string::npos)
      << report->images[0].error->message;
  EXPECT_FALSE(report->images[1].error);
  auto index = store_->read_index();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->size(), 1u);
  EXPECT_NE(index->front().ref_name.find("quick/img"), std::string::npos);
}

TEST_F(PullTest, ABigBlobIsFetchedAsParallelRangeSegments) {
  auto report = pull(*store_, targets({"big/img"}), segmented(options()), engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->ok()) << report->images[0].error->message;
  const auto d = *digest::Digest::parse(big_layer());
  EXPECT_TRUE(store_->has_blob(d, kBig));
  // 20 MiB in four 5 MiB segments, each asked once with a bounded Range.
  EXPECT_EQ(ranges_of(registry_.blob_gets(big_layer())),
            (std::vector<std::string>{"bytes=0-5242879", "bytes=10485760-15728639", "bytes=15728640-20971519",
                                      "bytes=5242880-10485759"}));
  EXPECT_EQ(report->bytes_fetched, kBig + TestImage("big/img", {pattern(kBig, 'c')}).config.size());
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "store" / "ingest"));
}

// Segments answered out of order: the third is in before the second ends, so the
// prefix reaches it while the last still streams, and the worker hashes it then
// (Ingest::catch_up) while the loop goes on; the blob commits verified.
TEST_F(PullTest, SegmentsThatEndOutOfOrderAreHashedInOrder) {
  registry_.set_fault([&](const FakeRequest& req, const std::string& d, FakeResponse& r) {
    if (d != big_layer()) return;
    const size_t from = std::stoul(req.header("range").substr(6));
    if (from == (5u << 20)) r.delay_ms = 100;   // the second segment
    if (from == (15u << 20)) r.delay_ms = 400;  // the last one
  });
  auto report = pull(*store_, targets({"big/img"}), segmented(options()), engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->ok()) << report->images[0].error->message;
  EXPECT_TRUE(store_->has_blob(*digest::Digest::parse(big_layer()), kBig));
  EXPECT_EQ(registry_.blob_gets(big_layer()).size(), 4u);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "store" / "ingest"));
}

TEST_F(PullTest, ARegistryThatIgnoresRangeGetsOneStream) {
  registry_.set_fault([&](const FakeRequest& req, const std::string& d, FakeResponse& r) {
    if (d == big_layer() && req.has_header("range")) r = respond(200, pattern(kBig, 'c'));
  });
  auto report = pull(*store_, targets({"big/img"}), segmented(options()), engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->ok()) << report->images[0].error->message;
  EXPECT_TRUE(store_->has_blob(*digest::Digest::parse(big_layer()), kBig));
  auto gets = registry_.blob_gets(big_layer());
  ASSERT_GE(gets.size(), 2u);
  EXPECT_EQ(gets.back().header("range"), "");  // the fallback: one plain GET
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "store" / "ingest"));
}

TEST_F(PullTest, SegmentsResumeInTheNextRunWhereEachStopped) {
  // On a manual clock: every segment's first answer is cut after 3 MiB; the resumes
  // go out once all four are cut (their backoffs are the only timers left), and
  // each moves the clock 5 s, past the deadline, its answer held beyond the run.
  auto clock = std::make_shared<core::ManualClock>();
  http::Engine engine(on(clock));
  std::atomic<int> cut{0};
  registry_.set_fault([&](const FakeRequest& req, const std::string& d, FakeResponse& r) {
    if (d != big_layer()) return;
    const std::string range = req.header("range");
    const size_t from = std::stoul(range.substr(6));
    if (from % (5 << 20) == 0) {
      r.cut_after = 3 << 20;
      ++cut;
    } else {
      clock->advance(5s);
      r.delay_ms = 15000;
    }
  });
  PullOptions o = segmented(options());
  o.deadline = 4s;
  o.deadline_text = "4s";
  auto first = pull(*store_, targets({"big/img"}), o, engine);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->images[0].error);
  EXPECT_EQ(cut.load(), 4);
  const auto ingest = dir_.path() / "store" / "ingest";
  const std::string hex = big_layer().substr(7);
  ASSERT_TRUE(std::filesystem::exists(ingest / (hex + ".segments")));

  registry_.set_fault(nullptr);
  const size_t before = registry_.blob_gets(big_layer()).size();
  http::Engine engine2;
  auto again = pull(*store_, targets({"big/img"}), segmented(options()), engine2);
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_TRUE(again->ok()) << again->images[0].error->message;
  auto gets = registry_.blob_gets(big_layer());
  std::vector<FakeRequest> resumed(gets.begin() + static_cast<long>(before), gets.end());
  // Each segment continues 3 MiB in: only the 2 MiB left of each is fetched again.
  EXPECT_EQ(ranges_of(resumed),
            (std::vector<std::string>{"bytes=13631488-15728639", "bytes=18874368-20971519", "bytes=3145728-5242879",
                                      "bytes=8388608-10485759"}));
  EXPECT_EQ(again->bytes_fetched, 4u * (2 << 20));
  EXPECT_TRUE(store_->has_blob(*digest::Digest::parse(big_layer()), kBig));
  EXPECT_FALSE(std::filesystem::exists(ingest / (hex + ".segments")));
  EXPECT_FALSE(std::filesystem::exists(ingest / (hex + ".partial")));
}

TEST_F(PullTest, ASegmentWithAWrongByteIsNeverCommitted) {
  registry_.set_fault([&](const FakeRequest& req, const std::string& d, FakeResponse& r) {
    if (d == big_layer() && req.header("range").starts_with("bytes=10485760-")) r.body[100] ^= 0x5a;
  });
  auto report = pull(*store_, targets({"big/img"}), segmented(options()), engine_);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_TRUE(report->images[0].error);
  EXPECT_NE(report->images[0].error->message.find("hashes to"), std::string::npos)
      << report->images[0].error->message;
  EXPECT_FALSE(store_->has_blob(*digest::Digest::parse(big_layer())));
  EXPECT_EQ(registry_.blob_gets(big_layer()).size(), 8u);  // fetched twice, four segments each
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "store" / "ingest"));
}

}  // namespace
}  // namespace ferry::sync

namespace ferry::sync {
namespace {

// A first answer longer than the descriptor is refused mid-stream; its bytes are
// doubt, so the one retry starts at zero (no Range) and the blob is committed.
TEST_F(PullTest, ABlobLongerThanItsDescriptorIsFetchedAgainFromZero) {
  int answers = 0;
  registry_.set_fault([&](const FakeRequest&, const std::string& d, FakeResponse& r) {
    if (d == slow_layer() && answers++ == 0) r.body += "trailing bytes";
  });
  auto report = pull(*store_, targets({"slow/img"}), options(), engine_);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok()) << report->images[0].error->message;
  auto gets = registry_.blob_gets(slow_layer());
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[1].header("range"), "");
  EXPECT_TRUE(store_->has_blob(*digest::Digest::parse(slow_layer()), 300000));
}

}  // namespace
}  // namespace ferry::sync

namespace ferry::sync {
namespace {

// A run that stopped between the last byte and the commit leaves a partial holding
// the whole blob: the next run commits it without asking for a Range past its end
// (which a registry answers 416), and one whose bytes are wrong is fetched again.
class WholePartialTest : public PullTest {
 protected:
  // Plants the slow layer's partial holding `body`, pulls, and checks the image made it.
  void pull_with_partial(const std::string& body) {
    const auto ingest = dir_.path() / "store" / "ingest";
    std::filesystem::create_directories(ingest);
    {
      std::ofstream out(ingest / (slow_layer().substr(7) + ".partial"), std::ios::binary);
      out << body;
    }
    auto report = pull(*store_, targets({"slow/img"}), options(), engine_);
    ASSERT_TRUE(report) << report.error().message;
    ASSERT_TRUE(report->ok()) << report->images[0].error->message;
    EXPECT_TRUE(store_->has_blob(*digest::Digest::parse(slow_layer()), 300000));
  }
};

TEST_F(WholePartialTest, APartialHoldingTheWholeBlobIsCommittedWithoutARequest) {
  pull_with_partial(pattern(300000, 'b'));
  EXPECT_TRUE(registry_.blob_gets(slow_layer()).empty());
}

TEST_F(WholePartialTest, AWholeSizedPartialWithWrongBytesIsFetchedAgainFromZero) {
  std::string body = pattern(300000, 'b');
  body[1234] ^= 1;
  pull_with_partial(body);
  auto gets = registry_.blob_gets(slow_layer());
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_FALSE(gets[0].has_header("range"));
}

}  // namespace
}  // namespace ferry::sync
