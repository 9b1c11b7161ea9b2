// registry::Client uploads against FakeDistribution: HEAD for existing blobs, the
// monolithic POST + PUT ?digest=, chunked PATCHes with Content-Range, a chunk cut
// midway (status query, resume from the registry's Range), an upload the registry
// lost (start over), cross-repository mount (201, and 202 = upload instead),
// relative Locations, a digest the registry disagrees with, a 401 in the middle of
// an upload (one token refresh) and manifest PUT keeping the bytes and digest.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "auth/auth.h"
#include "digest/digest.h"
#include "registry/client.h"
#include "support/fake_distribution.h"
#include "support/fake_registry.h"
#include "support/temp_dir.h"

namespace ferry::registry {
namespace {

using namespace std::chrono_literals;
using ferry::testing::FakeDistribution;
using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;
using ferry::testing::FakeResponse;

std::string blob_bytes(size_t n, int seed = 1) {
  std::string s;
  s.reserve(n);
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u;
  while (s.size() < n) {
    x = x * 1664525u + 1013904223u;
    s.push_back(static_cast<char>(x >> 24));
  }
  return s;
}

class UploadTest : public ::testing::Test {
 protected:
  UploadTest() : dist_(registry_.url("")) {
    registry_.set_handler([this](const FakeRequest& req) { return handler(req); });
  }

  // Anonymous, or bearer tokens when bearer_ is set: "tok-<n>" valid when n >= first_valid_.
  FakeResponse handler(const FakeRequest& req) {
    if (!bearer_) return dist_.handle(req);
    const std::string challenge = "Bearer realm=\"" + registry_.url("/token") + "\",service=\"fake\"";
    if (req.path_only() == "/token") {
      last_token_query_ = req.path;
      return FakeResponse{200, {}, R"({"token":"tok-)" + std::to_string(++issued_) + R"(","expires_in":300})",
                          std::nullopt, 0};
    }
    const std::string auth = req.header("authorization");
    if (req.path == "/v2/" || auth.rfind("Bearer tok-", 0) != 0 || std::atoi(auth.c_str() + 11) < first_valid_) {
      return FakeResponse{401, {{"WWW-Authenticate", challenge}}, R"({"errors":[{"code":"UNAUTHORIZED"}]})",
                          std::nullopt, 0};
    }
    if (on_authorized_) on_authorized_(req);
    return dist_.handle(req);
  }

  std::unique_ptr<Client> client() {
    RegistryOptions o;
    o.retry.base_delay = 5ms;
    o.retry.max_delay = 20ms;
    return std::make_unique<Client>(engine_, registry_.host(), o, tokens_);
  }

  BlobUpload write_blob(const std::string& bytes) {
    const auto path = dir_.path() / ("blob" + std::to_string(files_++));
    std::ofstream(path, std::ios::binary) << bytes;
    return BlobUpload{digest::sha256_of(bytes), static_cast<int64_t>(bytes.size()), path.string(), {}};
  }

  template <class T, class Start>
  core::Result<T> wait(Start start) {
    std::optional<core::Result<T>> out;
    start([&out](core::Result<T> r) { out = std::move(r); });
    auto st = engine_.run([&out] { return out.has_value(); });
    if (!out) return core::fail(st ? core::error(core::ErrorKind::Internal, "no answer") : st.error());
    return std::move(*out);
  }

  core::Result<UploadResult> upload(Client& c, const std::string& repo, const BlobUpload& b, UploadOptions o = {}) {
    return wait<UploadResult>([&](auto done) { c.upload_blob(repo, b, o, done); });
  }

  size_t count(const std::string& method, const std::string& path_part) const {
    size_t n = 0;
    for (const auto& r : registry_.requests()) {
      if (r.method == method && r.path.find(path_part) != std::string::npos) ++n;
    }
    return n;
  }

  ferry::testing::TempDir dir_;
  int files_ = 0;
  FakeRegistry registry_;
  FakeDistribution dist_;
  bool bearer_ = false;
  std::atomic<int> issued_{0}, first_valid_{1};
  std::string last_token_query_;
  std::function<void(const FakeRequest&)> on_authorized_;
  http::Engine engine_;
  auth::TokenCache tokens_;
};

TEST_F(UploadTest, BlobExistsAsksWithHeadAndReadsA404AsAbsent) {
  dist_.put_blob("a/b", "hello");
  auto c = client();
  auto yes = wait<bool>([&](auto done) { c->blob_exists("a/b", digest::sha256_of("hello"), done); });
  auto no = wait<bool>([&](auto done) { c->blob_exists("a/b", digest::sha256_of("other"), done); });
  ASSERT_TRUE(yes && no);
  EXPECT_TRUE(*yes);
  EXPECT_FALSE(*no);
  EXPECT_EQ(count("HEAD", "/blobs/"), 2u);
}

TEST_F(UploadTest, ASmallBlobGoesInOnePostAndOnePutWithTheDigest) {
  const std::string bytes = blob_bytes(5000);
  auto c = client();
  auto r = upload(*c, "a/b", write_blob(bytes));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->mounted);
  EXPECT_EQ(r->bytes_sent, bytes.size());
  EXPECT_TRUE(dist_.has_blob("a/b", digest::sha256_of(bytes).str()));
  EXPECT_EQ(count("POST", "/blobs/uploads/"), 1u);
  EXPECT_EQ(count("PATCH", "/blobs/uploads/"), 0u);
  EXPECT_EQ(count("PUT", "digest=" + digest::sha256_of(bytes).str()), 1u);
  for (const auto& req : registry_.requests()) {
    if (req.method == "PUT") {
      EXPECT_EQ(req.header("content-length"), std::to_string(bytes.size()));
      EXPECT_EQ(req.header("content-type"), "application/octet-stream");
      EXPECT_FALSE(req.has_header("expect"));
    }
  }
}

TEST_F(UploadTest, ALargeBlobGoesInChunksFollowingEachLocation) {
  const std::string bytes = blob_bytes(10000);
  auto c = client();
  UploadOptions o;
  o.chunk_size = 4096;
  auto r = upload(*c, "a/b", write_blob(bytes), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(dist_.blob(digest::sha256_of(bytes).str()), bytes);
  std::vector<std::string> ranges;
  for (const auto& req : registry_.requests()) {
    if (req.method == "PATCH") ranges.push_back(req.header("content-range"));
  }
  EXPECT_EQ(ranges, (std::vector<std::string>{"0-4095", "4096-8191", "8192-9999"}));
  EXPECT_EQ(count("PUT", "_state=3&digest="), 1u);  // the last Location, closed with an empty PUT
}

TEST_F(UploadTest, RelativeLocationsAreResolvedAgainstTheRegistry) {
  dist_.relative_locations = true;
  const std::string bytes = blob_bytes(9000);
  auto c = client();
  UploadOptions o;
  o.chunk_size = 4000;
  auto r = upload(*c, "a/b", write_blob(bytes), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(dist_.blob(digest::sha256_of(bytes).str()), bytes);
}

TEST_F(UploadTest, AChunkCutMidwayResumesFromTheRangeTheRegistryHolds) {
  dist_.cut_patches = 1;
  const std::string bytes = blob_bytes(10000);
  auto c = client();
  UploadOptions o;
  o.chunk_size = 4096;
  auto r = upload(*c, "a/b", write_blob(bytes), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(dist_.blob(digest::sha256_of(bytes).str()), bytes);
  EXPECT_EQ(r->restarts, 0);
  EXPECT_EQ(count("GET", "/blobs/uploads/"), 1u);  // one status query
  std::vector<std::string> ranges;
  for (const auto& req : registry_.requests()) {
    if (req.method == "PATCH") ranges.push_back(req.header("content-range"));
  }
  // The first chunk kept 2048 bytes: the next one starts there.
  ASSERT_GE(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "0-4095");
  EXPECT_EQ(ranges[1], "2048-6143");
}

TEST_F(UploadTest, AnUploadTheRegistryLostStartsOver) {
  dist_.cut_patches = 1;
  dist_.forget_uploads_on_status = true;
  const std::string bytes = blob_bytes(10000);
  auto c = client();
  UploadOptions o;
  o.chunk_size = 4096;
  auto r = upload(*c, "a/b", write_blob(bytes), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->restarts, 1);
  EXPECT_EQ(count("POST", "/blobs/uploads/"), 2u);
  EXPECT_EQ(dist_.blob(digest::sha256_of(bytes).str()), bytes);
}

TEST_F(UploadTest, AMountLinksTheBlobWithoutSendingIt) {
  const std::string bytes = blob_bytes(3000);
  dist_.put_blob("src/repo", bytes);
  bearer_ = true;
  auto c = client();
  UploadOptions o;
  o.mount_from = "src/repo";
  auto r = upload(*c, "dst/repo", write_blob(bytes), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->mounted);
  EXPECT_EQ(r->bytes_sent, 0u);
  EXPECT_TRUE(dist_.has_blob("dst/repo", digest::sha256_of(bytes).str()));
  EXPECT_EQ(count("POST", "mount=" + digest::sha256_of(bytes).str() + "&from=src/repo"), 1u);
  EXPECT_EQ(count("PUT", "/blobs/"), 0u);
  // One token for both scopes: push on the target, pull on the source.
  EXPECT_NE(last_token_query_.find("scope=repository%3Adst%2Frepo%3Apull%2Cpush"), std::string::npos)
      << last_token_query_;
  EXPECT_NE(last_token_query_.find("scope=repository%3Asrc%2Frepo%3Apull"), std::string::npos) << last_token_query_;
}

TEST_F(UploadTest, AMountAnsweredWithAnUploadUsesThatUpload) {
  dist_.allow_mounts = false;
  const std::string bytes = blob_bytes(3000);
  dist_.put_blob("src/repo", bytes);
  auto c = client();
  UploadOptions o;
  o.mount_from = "src/repo";
  auto r = upload(*c, "dst/repo", write_blob(bytes), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->mounted);
  EXPECT_EQ(count("POST", "/blobs/uploads/"), 1u);  // the mount POST's 202 was the upload
  EXPECT_TRUE(dist_.has_blob("dst/repo", digest::sha256_of(bytes).str()));
}

TEST_F(UploadTest, ADigestTheRegistryRejectsFailsWithoutRetrying) {
  auto c = client();
  auto b = write_blob(blob_bytes(100));
  b.digest = digest::sha256_of("something else");
  auto r = upload(*c, "a/b", b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::DigestMismatch) << r.error().message;
  EXPECT_NE(r.error().message.find("DIGEST_INVALID"), std::string::npos) << r.error().message;
  EXPECT_EQ(count("PUT", "/blobs/uploads/"), 1u);
}

TEST_F(UploadTest, ARegistryNamingAnotherDigestIsAnError) {
  dist_.lie_about_digest = true;
  auto c = client();
  auto r = upload(*c, "a/b", write_blob(blob_bytes(100)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, core::ErrorKind::DigestMismatch);
  auto m = wait<digest::Digest>([&](auto done) { c->put_manifest("a/b", "v1", "{}", "application/json", done); });
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::DigestMismatch);
}

TEST_F(UploadTest, A401MidUploadRefreshesTheTokenOnceAndGoesOn) {
  bearer_ = true;
  const std::string bytes = blob_bytes(10000);
  std::atomic<int> patches{0};
  on_authorized_ = [&](const FakeRequest& req) {
    if (req.method == "PATCH" && ++patches == 1) first_valid_ = 2;  // tokens up to now are revoked
  };
  auto c = client();
  UploadOptions o;
  o.chunk_size = 4096;
  auto r = upload(*c, "a/b", write_blob(bytes), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(issued_.load(), 2);
  EXPECT_EQ(dist_.blob(digest::sha256_of(bytes).str()), bytes);
}

TEST_F(UploadTest, AnUploadLocationOnAnotherHostGetsNoAuthorization) {
  bearer_ = true;
  FakeRegistry storage([](const FakeRequest& req) {
    if (req.method == "PUT") return FakeResponse{201, {}, "", std::nullopt, 0};
    return FakeResponse{404, {}, "", std::nullopt, 0};
  });
  const std::string elsewhere = storage.url("/upload/session-1");
  registry_.set_handler([this, elsewhere](const FakeRequest& req) {
    auto r = handler(req);  // token checks as usual
    if (req.method != "POST" || r.status != 202) return r;
    return FakeResponse{202, {{"Location", elsewhere}}, "", std::nullopt, 0};  // the upload lives elsewhere
  });
  auto c = client();
  auto r = upload(*c, "a/b", write_blob(blob_bytes(500)));
  ASSERT_TRUE(r) << r.error().message;
  auto puts = storage.requests();
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_FALSE(puts[0].has_header("authorization"));
  EXPECT_EQ(puts[0].path, "/upload/session-1?digest=" + digest::sha256_of(blob_bytes(500)).str());
  EXPECT_EQ(puts[0].body, blob_bytes(500));
}

TEST_F(UploadTest, ManifestPutSendsTheExactBytesAndMediaType) {
  const std::string body = R"({"schemaVersion":2,  "mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  auto c = client();
  auto d = wait<digest::Digest>([&](auto done) {
    c->put_manifest("a/b", "v1", body, "application/vnd.oci.image.manifest.v1+json", done);
  });
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(*d, digest::sha256_of(body));
  EXPECT_EQ(dist_.manifest("a/b", "v1"), body);
  for (const auto& req : registry_.requests()) {
    if (req.method == "PUT") {
      EXPECT_EQ(req.header("content-type"), "application/vnd.oci.image.manifest.v1+json");
    }
  }
}

}  // namespace
}  // namespace ferry::registry
