// push::push from a real store into FakeDistribution: exact manifest bytes and
// digests at the destination, an unchanged image costing one HEAD, blobs the
// destination has skipped, a layer shared by two repositories uploaded once and
// mounted into the other, an index pushed children first, a platform subset tagged
// with a new index, a failing image not stopping the others, and destination mapping.
#include "push/push.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/clock.h"
#include "digest/digest.h"
#include "manifest/manifest.h"
#include "store/store.h"
#include "support/fake_distribution.h"
#include "support/fake_registry.h"
#include "support/temp_dir.h"

namespace ferry::push {
namespace {

using ferry::testing::FakeDistribution;
using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;

manifest::Descriptor put(store::Store& s, const std::string& body, std::string_view media_type) {
  manifest::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = digest::sha256_of(body);
  d.size = static_cast<int64_t>(body.size());
  EXPECT_TRUE(s.put_blob(d.digest, body));
  return d;
}

std::string json(const manifest::Descriptor& d) {
  std::string out = fmt::format(R"({{"mediaType":"{}","digest":"{}","size":{})", d.media_type, d.digest.str(), d.size);
  if (d.platform) out += fmt::format(R"(,"platform":{{"architecture":"{}","os":"{}"}})", d.platform->architecture, d.platform->os);
  return out + "}";
}

class PushTest : public ::testing::Test {
 protected:
  PushTest() : dist_(registry_.url("")), store_(*store::Store::open(dir_.path() / "store", true)) {
    registry_.set_handler([this](const FakeRequest& r) { return dist_.handle(r); });
  }

  // An OCI image: a config and the given layers (bytes), spaced oddly so that
  // re-serialising would change the digest.
  manifest::Descriptor image(const std::vector<std::string>& layers, const std::string& arch = "amd64") {
    auto config = put(store_, R"({"architecture":")" + arch + R"(","os":"linux","rootfs":{"type":"layers"}})",
                      manifest::media::kOciConfig);
    std::string body = R"({"schemaVersion":2,  "mediaType":"application/vnd.oci.image.manifest.v1+json","config":)" +
                       json(config) + R"(,"layers":[)";
    for (size_t i = 0; i < layers.size(); ++i) {
      body += (i ? "," : "") + json(put(store_, layers[i], manifest::media::kOciLayerGzip));
    }
    body += "]}";
    auto d = put(store_, body, manifest::media::kOciManifest);
    d.platform = manifest::Platform{"linux", arch, "", ""};
    return d;
  }

  PushItem item(const std::string& dest, std::vector<manifest::Descriptor> manifests) {
    auto ref = reference::parse(registry_.host() + "/" + dest);
    EXPECT_TRUE(ref);
    return PushItem{"src/" + dest, std::move(manifests), *ref, {}};
  }

  PushReport run(const std::vector<PushItem>& items) {
    PushOptions o;
    o.concurrency = 4;
    auto r = push(store_, items, o, engine_);
    EXPECT_TRUE(r);
    return r ? *r : PushReport{};
  }

  size_t count(const std::string& method, const std::string& part = "") const {
    size_t n = 0;
    for (const auto& r : registry_.requests()) n += r.method == method && r.path.find(part) != std::string::npos;
    return n;
  }

  ferry::testing::TempDir dir_;
  FakeRegistry registry_;
  FakeDistribution dist_;
  store::Store store_;
  http::Engine engine_;
};

TEST_F(PushTest, AnImageArrivesWithTheSameBytesAndASecondPushSendsNothing) {
  auto m = image({"layer one", "layer two"});
  auto report = run({item("team/app:1.0", {m})});
  ASSERT_EQ(report.images.size(), 1u);
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  EXPECT_EQ(report.images[0].digest, m.digest);
  EXPECT_EQ(report.images[0].blobs_uploaded, 3u);
  EXPECT_EQ(dist_.manifest("team/app", "1.0"), *store_.read_blob(m.digest, 1 << 20));
  EXPECT_TRUE(dist_.has_blob("team/app", digest::sha256_of("layer one").str()));
  EXPECT_EQ(report.images[0].blobs.size(), 4u);  // config, two layers, the manifest

  const size_t before = registry_.request_count();
  auto again = run({item("team/app:1.0", {m})});
  ASSERT_FALSE(again.images[0].error);
  EXPECT_TRUE(again.images[0].unchanged);
  auto seen = registry_.requests();
  ASSERT_EQ(seen.size() - before, 2u);  // the ping of the new client, and one HEAD on the tag
  EXPECT_EQ(seen.back().method, "HEAD");
  EXPECT_EQ(again.images[0].blobs.size(), 4u);
}

TEST_F(PushTest, BlobsTheDestinationHoldsAreNotSent) {
  auto m = image({"base layer", "app layer"});
  dist_.put_blob("team/app", "base layer");
  auto report = run({item("team/app:2", {m})});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  EXPECT_EQ(report.images[0].blobs_present, 1u);
  EXPECT_EQ(report.images[0].blobs_uploaded, 2u);
  EXPECT_EQ(count("PUT", "digest=" + digest::sha256_of("base layer").str()), 0u);
}

TEST_F(PushTest, ALayerSharedByTwoRepositoriesIsUploadedOnceAndMounted) {
  auto a = image({"shared layer", "only a"});
  auto b = image({"shared layer", "only b"}, "arm64");
  auto report = run({item("one/a:1", {a}), item("two/b:1", {b})});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  ASSERT_FALSE(report.images[1].error) << report.images[1].error->message;
  const std::string shared = digest::sha256_of("shared layer").str();
  EXPECT_EQ(count("PUT", "digest=" + shared), 1u);
  EXPECT_EQ(count("POST", "mount=" + shared), 1u);
  EXPECT_EQ(report.blobs_mounted, 1u);
  EXPECT_TRUE(dist_.has_blob("one/a", shared));
  EXPECT_TRUE(dist_.has_blob("two/b", shared));
}

TEST_F(PushTest, AnIndexGoesUpChildrenFirstThenTheTag) {
  auto amd = image({"amd layer"});
  auto arm = image({"arm layer"}, "arm64");
  const std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)" +
                           json(amd) + "," + json(arm) + "]}";
  auto index = put(store_, body, manifest::media::kOciIndex);
  auto report = run({item("multi/img:latest", {index})});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  EXPECT_EQ(report.images[0].digest, index.digest);
  EXPECT_EQ(dist_.manifest("multi/img", "latest"), body);
  EXPECT_FALSE(dist_.manifest("multi/img", amd.digest.str()).empty());
  // The tag PUT is the last request.
  auto seen = registry_.requests();
  EXPECT_EQ(seen.back().method, "PUT");
  EXPECT_EQ(seen.back().path, "/v2/multi/img/manifests/latest");
  EXPECT_EQ(report.images[0].manifests_put, 3u);
}

TEST_F(PushTest, ANestedIndexGoesUpDeepestFirstWithItsDigest) {
  dist_.check_index_children = true;  // an index PUT before its manifests is refused
  auto amd = image({"amd layer"});
  auto arm = image({"arm layer"}, "arm64");
  const std::string inner_body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)"
                                 R"("manifests":[)" + json(amd) + "," + json(arm) + "]}";
  auto inner = put(store_, inner_body, manifest::media::kOciIndex);
  const std::string outer_body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)"
                                 R"("manifests":[)" + json(inner) + "]}";
  auto outer = put(store_, outer_body, manifest::media::kOciIndex);
  auto report = run({item("nested/img:latest", {outer})});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  EXPECT_EQ(report.images[0].digest, outer.digest);
  EXPECT_FALSE(report.images[0].synthesized_index);
  EXPECT_EQ(dist_.manifest("nested/img", "latest"), outer_body);
  EXPECT_EQ(dist_.manifest("nested/img", inner.digest.str()), inner_body);
  EXPECT_EQ(report.images[0].manifests_put, 4u);
  // Order of the manifest PUTs: both images, then the inner index, then the tag.
  std::vector<std::string> puts;
  for (const auto& r : registry_.requests()) {
    if (r.method == "PUT" && r.path.find("/manifests/") != std::string::npos) puts.push_back(r.path);
  }
  ASSERT_EQ(puts.size(), 4u);
  EXPECT_EQ(puts[2], "/v2/nested/img/manifests/" + inner.digest.str());
  EXPECT_EQ(puts[3], "/v2/nested/img/manifests/latest");
}

TEST_F(PushTest, AnIndexWhoseAttestationsWereNotMirroredIsTaggedWithTheManifestsPresent) {
  dist_.check_index_children = true;
  auto amd = image({"amd layer"});
  manifest::Descriptor attestation{std::string(manifest::media::kOciManifest), digest::sha256_of("attestation"), 11,
                                   manifest::Platform{"unknown", "unknown", "", ""}, {}, {}};
  const std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)" +
                           json(amd) + "," + json(attestation) + "]}";
  auto index = put(store_, body, manifest::media::kOciIndex);
  auto report = run({item("hub/img:1", {index})});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  EXPECT_TRUE(report.images[0].synthesized_index);
  EXPECT_NE(report.images[0].digest, index.digest);
  const std::string tagged = dist_.manifest("hub/img", "1");
  EXPECT_EQ(digest::sha256_of(tagged), report.images[0].digest);
  EXPECT_NE(tagged.find(amd.digest.str()), std::string::npos);
  EXPECT_EQ(tagged.find(attestation.digest.str()), std::string::npos);

  // Pushed again: the tag names the index made last time, so nothing is sent.
  const size_t before = registry_.request_count();
  auto again = run({item("hub/img:1", {index})});
  ASSERT_FALSE(again.images[0].error) << again.images[0].error->message;
  EXPECT_TRUE(again.images[0].unchanged);
  EXPECT_EQ(again.images[0].digest, report.images[0].digest);
  EXPECT_EQ(registry_.request_count() - before, 2u);  // ping and the tag HEAD
}

TEST_F(PushTest, APlatformSubsetIsTaggedWithANewIndexOfItsManifests) {
  auto amd = image({"amd layer"});
  auto arm = image({"arm layer"}, "arm64");
  auto report = run({item("multi/sub:1", {amd, arm})});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  EXPECT_TRUE(report.images[0].synthesized_index);
  const std::string tagged = dist_.manifest("multi/sub", "1");
  auto parsed = manifest::parse(tagged, manifest::media::kOciIndex);
  ASSERT_TRUE(parsed);
  auto& idx = std::get<manifest::Index>(*parsed);
  ASSERT_EQ(idx.manifests.size(), 2u);
  EXPECT_EQ(idx.manifests[1].digest, arm.digest);
  EXPECT_EQ(idx.manifests[1].platform->architecture, "arm64");
}

TEST_F(PushTest, OneFailingImageDoesNotStopTheOthers) {
  auto good = image({"fine layer"});
  manifest::Descriptor missing{std::string(manifest::media::kOciManifest), digest::sha256_of("not stored"), 10,
                               std::nullopt, {}, {}};
  auto report = run({item("bad/img:1", {missing}), item("good/img:1", {good})});
  ASSERT_TRUE(report.images[0].error);
  EXPECT_NE(report.images[0].error->message.find("bad/img"), std::string::npos) << report.images[0].error->message;
  ASSERT_FALSE(report.images[1].error) << report.images[1].error->message;
  EXPECT_FALSE(dist_.manifest("good/img", "1").empty());
  EXPECT_FALSE(report.ok());
}

// A manifest changed on disk after it was pulled is refused by name: the registry
// is sent nothing for that image (its bytes would tag something never pulled).
TEST_F(PushTest, AManifestChangedInTheStoreIsRefusedAndNothingIsSent) {
  auto m = image({"layer kept"});
  const auto path = store_.blob_path(m.digest);
  std::string body = *store_.read_blob(m.digest, 1 << 20);
  body[body.find("layers")] = 'L';  // same size, other bytes
  std::filesystem::permissions(path, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << body;
  auto report = run({item("team/app:1", {m})});
  ASSERT_EQ(report.images.size(), 1u);
  ASSERT_TRUE(report.images[0].error);
  EXPECT_EQ(report.images[0].error->kind, core::ErrorKind::DigestMismatch);
  EXPECT_NE(report.images[0].error->message.find(m.digest.str() + " (manifest) is corrupt"), std::string::npos)
      << report.images[0].error->message;
  EXPECT_EQ(count("PUT"), 0u);
  EXPECT_EQ(count("POST"), 0u);
  EXPECT_TRUE(dist_.manifest("team/app", "1").empty());
}

// Each image goes its own way: one whose tag check is slow does not hold back
// another's blobs and tag. The slow image's tag HEAD is held until the quick
// image's tag PUT has arrived (bounded: with steps over all images it never would).
TEST_F(PushTest, ASlowTagCheckHoldsBackOnlyItsOwnImage) {
  auto quick = image({"quick layer"});
  auto slow = image({"slow layer"}, "arm64");
  std::atomic<bool> quick_tagged{false}, released_by_bound{false};
  registry_.set_handler([&](const FakeRequest& r) {
    if (r.method == "PUT" && r.path == "/v2/quick/img/manifests/1") quick_tagged = true;
    return dist_.handle(r);
  });
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  registry_.set_hold([&](const std::string& path) {
    if (path != "/v2/slow/img/manifests/1" || quick_tagged) return false;
    if (std::chrono::steady_clock::now() < bound) return true;
    released_by_bound = true;
    return false;
  });
  auto report = run({item("slow/img:1", {slow}), item("quick/img:1", {quick})});
  ASSERT_EQ(report.images.size(), 2u);
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  ASSERT_FALSE(report.images[1].error) << report.images[1].error->message;
  EXPECT_FALSE(released_by_bound.load()) << "the quick image waited for the slow one's tag check";
  EXPECT_FALSE(dist_.manifest("slow/img", "1").empty());
}

// A blob the destination holds in one repository is mounted into another of the
// same registry, not uploaded, also when that repository's HEAD answers first.
TEST_F(PushTest, ABlobHeldInAnotherRepositoryIsMountedFromIt) {
  auto a = image({"common layer", "a layer"});
  auto b = image({"common layer", "b layer"}, "arm64");
  const std::string common = digest::sha256_of("common layer").str();
  dist_.put_blob("one/a", "common layer");
  std::atomic<bool> a_answered{false};
  registry_.set_handler([&](const FakeRequest& r) {
    if (r.method == "HEAD" && r.path == "/v2/one/a/blobs/" + common) a_answered = true;
    return dist_.handle(r);
  });
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  registry_.set_hold([&](const std::string& path) {
    return path == "/v2/two/b/blobs/" + common && !a_answered && std::chrono::steady_clock::now() < bound;
  });
  auto report = run({item("one/a:1", {a}), item("two/b:1", {b})});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  ASSERT_FALSE(report.images[1].error) << report.images[1].error->message;
  EXPECT_EQ(count("POST", "mount=" + common), 1u);
  EXPECT_EQ(count("PUT", "digest=" + common), 0u);
  EXPECT_EQ(report.images[0].blobs_present, 1u);
  EXPECT_EQ(report.images[1].blobs_mounted, 1u);
  EXPECT_TRUE(dist_.has_blob("two/b", common));
}

// Progress names the bytes of the blobs found missing and, once they are sent,
// counts them done. Uploads are held until progress has named every missing blob
// (bounded).
TEST_F(PushTest, ProgressCountsTheBytesFoundMissingAndSent) {
  const std::string big(300000, 'p');
  auto m = image({big, "small layer"});
  std::mutex mu;
  std::vector<core::Progress> seen;
  std::atomic<bool> reported{false};
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  registry_.set_hold([&](const std::string& path) {
    return path.find("/blobs/uploads/") != std::string::npos && !reported && std::chrono::steady_clock::now() < bound;
  });
  PushOptions o;
  o.concurrency = 4;
  o.progress_interval = std::chrono::milliseconds(1);
  o.progress = [&](const core::Progress& p) {
    std::lock_guard lock(mu);
    seen.push_back(p);
    if (p.blobs_total == 3) reported = true;  // every HEAD has answered: config and two layers missing
  };
  auto r = push(store_, {item("prog/img:1", {m})}, o, engine_);
  ASSERT_TRUE(r);
  ASSERT_FALSE(r->images[0].error) << r->images[0].error->message;
  std::lock_guard lock(mu);
  ASSERT_FALSE(seen.empty());
  auto parsed = manifest::parse(*store_.read_blob(m.digest, 1 << 20), m.media_type);
  ASSERT_TRUE(parsed);
  const auto& im = std::get<manifest::ImageManifest>(*parsed);
  uint64_t all = static_cast<uint64_t>(im.config.size);
  for (const auto& l : im.layers) all += static_cast<uint64_t>(l.size);
  auto first = std::find_if(seen.begin(), seen.end(), [](const auto& p) { return p.blobs_total == 3; });
  ASSERT_NE(first, seen.end());
  EXPECT_EQ(first->bytes_total, all);  // every blob was missing
  EXPECT_EQ(first->bytes_done, 0u);    // and none was sent yet
  ASSERT_EQ(first->images.size(), 1u);
  EXPECT_EQ(first->images[0].reference, item("prog/img:1", {m}).destination.str());
  EXPECT_EQ(first->images[0].bytes_total, all);
  for (const auto& p : seen) EXPECT_LE(p.bytes_done, p.bytes_total);
}

// A referrer's manifests go up only once its subject's tag is. The subject's layer
// upload is held until the referrer's blobs are all in, and then until the
// referrer's tag PUT arrives or 200 ms pass: a referrer that does not wait sends
// its tag within that time and is seen first.
TEST_F(PushTest, AReferrerIsTaggedAfterItsSubject) {
  auto subject = image({"subject layer"});
  auto sig = image({"signature payload"}, "arm64");
  auto parsed = manifest::parse(*store_.read_blob(sig.digest, 1 << 20), sig.media_type);
  ASSERT_TRUE(parsed);
  const std::string sig_config = std::get<manifest::ImageManifest>(*parsed).config.digest.str();
  const std::string sig_layer = digest::sha256_of("signature payload").str();
  const std::string subject_layer = digest::sha256_of("subject layer").str();
  std::mutex mu;
  std::set<std::string> sig_blobs_in;
  std::optional<std::chrono::steady_clock::time_point> sig_ready_at;
  bool sig_tagged = false;
  registry_.set_handler([&](const FakeRequest& r) {
    auto resp = dist_.handle(r);
    std::lock_guard lock(mu);
    if (r.method == "PUT" && r.path.find("/blobs/uploads/") != std::string::npos) {
      for (const auto& d : {sig_config, sig_layer}) {
        if (r.path.find(d) != std::string::npos) sig_blobs_in.insert(d);
      }
      if (sig_blobs_in.size() == 2 && !sig_ready_at) sig_ready_at = std::chrono::steady_clock::now();
    }
    if (r.method == "PUT" && r.path == "/v2/app/img/manifests/sha256-abc.sig") sig_tagged = true;
    return resp;
  });
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  registry_.set_hold([&](const std::string& path) {
    if (path.find("digest=" + subject_layer) == std::string::npos) return false;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu);
    if (now >= bound || sig_tagged) return false;
    return !sig_ready_at || now - *sig_ready_at < std::chrono::milliseconds(200);
  });
  auto sub_item = item("app/img:1", {subject});
  auto sig_item = item("app/img:sha256-abc.sig", {sig});
  sig_item.referrer_of = sub_item.source;
  auto report = run({sub_item, sig_item});
  ASSERT_FALSE(report.images[0].error) << report.images[0].error->message;
  ASSERT_FALSE(report.images[1].error) << report.images[1].error->message;
  size_t subject_tag = SIZE_MAX, referrer_tag = SIZE_MAX;
  auto seen = registry_.requests();
  for (size_t k = 0; k < seen.size(); ++k) {
    if (seen[k].method != "PUT") continue;
    if (seen[k].path == "/v2/app/img/manifests/1") subject_tag = k;
    if (seen[k].path == "/v2/app/img/manifests/sha256-abc.sig") referrer_tag = k;
  }
  ASSERT_NE(subject_tag, SIZE_MAX);
  ASSERT_NE(referrer_tag, SIZE_MAX);
  EXPECT_LT(subject_tag, referrer_tag);
}

TEST_F(PushTest, ARegistrysOwnConcurrencyCapHoldsItsRequestsBack) {
  // Each blob HEAD stays in the handler until a second one arrives (the cap is
  // broken: that one sees two active) or 100 ms pass. No duration is asserted: the
  // wait only gives a second request the chance to overlap.
  auto m = image({"l1", "l2", "l3"});
  std::mutex mu;
  std::condition_variable cv;
  int active = 0, most = 0, heads = 0;
  registry_.set_handler([&](const FakeRequest& r) {
    auto resp = dist_.handle(r);
    if (r.method == "HEAD" && r.path.find("/blobs/") != std::string::npos) {
      std::unique_lock lock(mu);
      ++heads;
      most = std::max(most, ++active);
      cv.notify_all();
      cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return active > 1; });
      --active;
    }
    return resp;
  });
  PushOptions o;
  o.concurrency = 8;
  o.registry_options = [](const std::string&) {
    registry::RegistryOptions ro;
    ro.max_concurrency = 1;
    return ro;
  };
  auto r = push(store_, {item("cap/img:1", {m})}, o, engine_);
  ASSERT_TRUE(r);
  ASSERT_FALSE(r->images[0].error) << r->images[0].error->message;
  std::lock_guard lock(mu);
  EXPECT_EQ(heads, 4);  // config and three layers...
  EXPECT_EQ(most, 1);   // ...one at a time
}

TEST_F(PushTest, ADeadlineFailsTheImagesWhoseTagIsNotUpAndSendsNothingMore) {
  // On a manual clock: the first blob upload of "slow/img" moves the clock past the
  // 1 s deadline, and its answer is held beyond the run. "fast/img" was already
  // current at the destination (one HEAD), so it does not fail.
  auto fast = image({"fast layer"});
  auto slow = image({"slow layer one", "slow layer two"});
  ASSERT_FALSE(run({item("fast/img:1", {fast})}).images[0].error);
  auto clock = std::make_shared<core::ManualClock>();
  http::EngineOptions eo;
  eo.clock = clock;
  http::Engine engine(eo);
  registry_.set_handler([&](const FakeRequest& r) {
    auto resp = dist_.handle(r);
    if (r.path.find("/slow/img/blobs/uploads") != std::string::npos && r.method == "POST") {
      clock->advance(std::chrono::seconds(2));
      resp.delay_ms = 10000;
    }
    return resp;
  });
  PushOptions o;
  o.concurrency = 4;
  o.deadline = std::chrono::seconds(1);
  o.deadline_text = "1s";
  auto report = push(store_, {item("fast/img:1", {fast}), item("slow/img:1", {slow})}, o, engine);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->images.size(), 2u);
  EXPECT_FALSE(report->images[0].error) << report->images[0].error->message;
  EXPECT_TRUE(report->images[0].unchanged);
  ASSERT_TRUE(report->images[1].error);
  EXPECT_NE(report->images[1].error->message.find("deadline of 1s exceeded"), std::string::npos)
      << report->images[1].error->message;
  EXPECT_FALSE(report->ok());
  EXPECT_TRUE(dist_.manifest("slow/img", "1").empty());  // the tag never went up
  EXPECT_EQ(count("PUT", "/slow/img/manifests/"), 0u);    // nor anything after the deadline
}

TEST(MapDestination, KeepsRepositoryAndTagUnderThePrefix) {
  auto src = reference::parse("ubuntu:24.04");
  ASSERT_TRUE(src);
  auto d = map_destination(*src, "reg.lab:5000/mirror/");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->str(), "reg.lab:5000/mirror/library/ubuntu:24.04");
  auto bare = map_destination(*src, "localhost:5000");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->str(), "localhost:5000/library/ubuntu:24.04");
  auto pinned = reference::parse("127.0.0.1:5000/ns/app@sha256:" + std::string(64, 'a'));
  ASSERT_TRUE(pinned);
  auto dp = map_destination(*pinned, "10.0.0.5:5000");
  ASSERT_TRUE(dp);
  EXPECT_EQ(dp->manifest_ref(), "sha256:" + std::string(64, 'a'));
  EXPECT_FALSE(map_destination(*src, "mirror"));  // not a registry host
}

}  // namespace
}  // namespace ferry::push

TEST(PushReferrers, PushTakesAnImagesReferrersAlongUnderTheirOwnTagOrDigest) {
  using ferry::push::PushItem;
  std::vector<PushItem> all{{"reg.example/ns/app:1", {}, {}, ""},
                            {"reg.example/ns/app:sha256-x.sig", {}, {}, "reg.example/ns/app:1"},
                            {"reg.example/ns/other:1", {}, {}, ""},
                            {"reg.example/ns/other@" + std::string("sha256:") + std::string(64, 'b'), {}, {}, "reg.example/ns/other:1"}};
  auto items = ferry::push::with_referrers(all, {all[0]});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].source, "reg.example/ns/app:sha256-x.sig");
  auto again = ferry::push::with_referrers(all, {all[0], all[1]});  // already chosen: once
  EXPECT_EQ(again.size(), 2u);

  const auto dest = *ferry::reference::parse("mirror.example/m/app:renamed");
  auto tagged = ferry::push::referrer_destination(dest, *ferry::reference::parse("reg.example/ns/app:sha256-x.sig"));
  EXPECT_EQ(tagged.str(), "mirror.example/m/app:sha256-x.sig");
  auto by_digest = ferry::push::referrer_destination(dest, *ferry::reference::parse("reg.example/ns/other@" + std::string("sha256:") + std::string(64, 'b')));
  EXPECT_EQ(by_digest.str(), "mirror.example/m/app@" + std::string("sha256:") + std::string(64, 'b'));
}
