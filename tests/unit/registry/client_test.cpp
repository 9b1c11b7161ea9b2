// registry::Client against scripted FakeRegistry servers: the https-then-http ping on
// loopback, anonymous bearer tokens (scope, single flight, one refresh after a 401),
// Basic credentials, redirects (Authorization only on the registry's own host, at
// most five hops), retries (Retry-After, 5xx, no retry for 404), resuming a cut blob
// with Range, manifest digests, and secrets kept out of error messages.
#include "registry/client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <mutex>

#include <fstream>
#include <sstream>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "digest/digest.h"
#include "support/fake_registry.h"

namespace ferry::registry {
namespace {

using namespace std::chrono_literals;
using ferry::testing::FakeHandler;
using ferry::testing::FakeRegistry;
using ferry::testing::FakeRequest;
using ferry::testing::FakeResponse;

constexpr std::string_view kRepo = "test/img";
constexpr std::string_view kTokenPrefix = "secret-token-";
constexpr std::string_view kManifestType = "application/vnd.oci.image.manifest.v1+json";

const std::string kManifest =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
    R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:)" +
    std::string(64, 'c') + R"(","size":2},"layers":[]})";

std::string blob_body() {
  std::string s;
  for (int i = 0; s.size() < 4000; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

const std::string kManifestPath = "/v2/test/img/manifests/latest";
const std::string kBlobPath = "/v2/test/img/blobs/" + digest::sha256_of(blob_body()).str();

FakeResponse respond(int status, std::string body = {}, std::vector<std::pair<std::string, std::string>> headers = {}) {
  return FakeResponse{status, std::move(headers), std::move(body), std::nullopt, 0};
}

FakeResponse manifest_response() { return respond(200, kManifest, {{"Content-Type", std::string(kManifestType)}}); }

FakeResponse redirect(const std::string& location) { return respond(307, "", {{"Location", location}}); }

// A 206 for `Range: bytes=N-` of `body`, else a 200 with all of it.
FakeResponse serve_range(const FakeRequest& req, const std::string& body) {
  const std::string range = req.header("range");
  if (range.rfind("bytes=", 0) != 0) return respond(200, body);
  size_t from = std::stoul(range.substr(6));
  return respond(206, body.substr(from),
                 {{"Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(body.size() - 1) + "/" +
                                        std::to_string(body.size())}});
}

std::vector<FakeRequest> with_path(const std::vector<FakeRequest>& all, std::string_view path) {
  std::vector<FakeRequest> out;
  for (const auto& r : all) {
    if (r.path_only() == path) out.push_back(r);
  }
  return out;
}

// A sink that remembers how it was used.
class CountingSink final : public core::ByteSink {
 public:
  core::Status write(const char* data, size_t size) override {
    data_.append(data, size);
    return {};
  }
  core::Status restart() override {
    data_.clear();
    ++restarts_;
    return {};
  }
  uint64_t size() const override { return data_.size(); }
  const std::string& data() const { return data_; }
  int restarts() const { return restarts_; }

 private:
  std::string data_;
  int restarts_ = 0;
};

http::EngineOptions engine_options(std::shared_ptr<core::Clock> clock) {
  http::EngineOptions o;
  o.clock = std::move(clock);
  return o;
}

class ClientTest : public ::testing::Test {
 protected:
  // Retry delays are tiny so that only a Retry-After can explain a long wait.
  static RegistryOptions options() {
    RegistryOptions o;
    o.retry.base_delay = 10ms;
    o.retry.max_delay = 40ms;
    return o;
  }

  std::unique_ptr<Client> make_client(RegistryOptions opts = options()) {
    return std::make_unique<Client>(engine_, registry_.host(), std::move(opts), tokens_);
  }

  // A registry that wants bearer tokens. /v2/ answers the challenge; /token issues
  // "secret-token-<n>" (n counts from 1); everything else goes to `serve` when it
  // carries a token numbered first_valid_ or above, else 401.
  FakeHandler bearer(FakeHandler serve) {
    const std::string challenge = "Bearer realm=\"" + registry_.url("/token") + "\",service=\"fake\"";
    return [this, challenge, serve](const FakeRequest& req) {
      auto refuse = [&] {
        return respond(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
                       {{"WWW-Authenticate", challenge}, {"Content-Type", "application/json"}});
      };
      if (req.path == "/v2/") return refuse();
      if (req.path_only() == "/token") {
        return respond(200, R"({"token":")" + std::string(kTokenPrefix) + std::to_string(++issued_) +
                                R"(","expires_in":300})");
      }
      const std::string auth = req.header("authorization");
      const std::string expected = "Bearer " + std::string(kTokenPrefix);
      if (auth.rfind(expected, 0) != 0 || std::atoi(auth.c_str() + expected.size()) < first_valid_) return refuse();
      return serve(req);
    };
  }

  // A registry without auth: /v2/ answers 200.
  static FakeHandler no_auth(FakeHandler serve) {
    return [serve](const FakeRequest& req) { return req.path == "/v2/" ? respond(200, "{}") : serve(req); };
  }

  core::Result<ManifestReply> manifest(Client& c, bool head_only = false, const std::string& repo = "test/img") {
    std::optional<core::Result<ManifestReply>> out;
    c.get_manifest(repo, "latest", head_only, [&out](core::Result<ManifestReply> r) { out = std::move(r); });
    auto st = engine_.run([&out] { return out.has_value(); });
    if (!out) return core::fail(st ? core::error(core::ErrorKind::Internal, "no answer") : st.error());
    return std::move(*out);
  }

  core::Status blob(Client& c, core::ByteSink& sink, int64_t size = -1) {
    std::optional<core::Status> out;
    c.get_blob(std::string(kRepo), digest::sha256_of(blob_body()), sink,
               [&out](core::Status st) { out = std::move(st); }, size);
    auto st = engine_.run([&out] { return out.has_value(); });
    if (!out) return core::fail(st ? core::error(core::ErrorKind::Internal, "no answer") : st.error());
    return std::move(*out);
  }

  size_t token_requests() const { return with_path(registry_.requests(), "/token").size(); }

  std::atomic<int> issued_{0};
  std::atomic<int> first_valid_{1};
  FakeRegistry registry_;
  // Virtual time: retry waits and Retry-After pauses pass without sleeping, and the
  // test reads them off the clock exactly.
  std::shared_ptr<core::ManualClock> clock_ = std::make_shared<core::ManualClock>();
  http::Engine engine_{engine_options(clock_)};
  auth::TokenCache tokens_;
};

// ---- ping ----------------------------------------------------------------------

TEST_F(ClientTest, PingOnLoopbackFallsBackToPlainHttpAfterTheTlsAttemptFails) {
  registry_.set_handler(no_auth([](const FakeRequest& req) {
    return req.path == kManifestPath ? manifest_response() : respond(404);
  }));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->body, kManifest);
  EXPECT_GE(registry_.non_http_connections(), 1u);  // the https ClientHello, refused
  auto seen = registry_.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "/v2/");
  EXPECT_EQ(seen[1].path, kManifestPath);
  EXPECT_FALSE(seen[1].has_header("authorization"));
  EXPECT_NE(seen[1].header("accept").find(std::string(kManifestType)), std::string::npos);
}

TEST_F(ClientTest, APingAnswered404IsNotARegistry) {
  auto client = make_client();  // the default handler answers 404 everywhere
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::NotFound);
  EXPECT_NE(m.error().message.find("not a Docker/OCI v2 registry"), std::string::npos) << m.error().message;
}

// #16: one blip at the first contact lost the whole registry for the run.
TEST_F(ClientTest, APingAnswered503IsRetriedLikeAnyRequest) {
  std::atomic<int> pings{0};
  registry_.set_handler([&pings](const FakeRequest& req) {
    if (req.path == "/v2/") return pings++ < 2 ? respond(503, "busy") : respond(200, "{}");
    return req.path == kManifestPath ? manifest_response() : respond(404);
  });
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(pings.load(), 3);
  EXPECT_EQ(client->stats().retries, 2u);
}

TEST_F(ClientTest, AnUnreachableRegistryIsTriedMaxAttemptsTimesThenNamed) {
  int port = 0;
  {
    FakeRegistry gone;  // a port that nothing listens on once it is destroyed
    port = std::stoi(gone.host().substr(gone.host().rfind(':') + 1));
  }
  RegistryOptions opts = options();
  opts.retry.max_attempts = 3;
  Client client(engine_, "127.0.0.1:" + std::to_string(port), opts, tokens_);
  auto m = manifest(client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::Network);
  EXPECT_NE(m.error().message.find("unreachable"), std::string::npos) << m.error().message;
  EXPECT_EQ(client.stats().retries, 2u);
}

TEST_F(ClientTest, ATokenServerAnswering503IsRetried) {
  std::atomic<int> token_calls{0};
  FakeHandler inner = bearer([](const FakeRequest& req) {
    return req.path == kManifestPath ? manifest_response() : respond(404);
  });
  registry_.set_handler([&token_calls, inner](const FakeRequest& req) {
    if (req.path_only() == "/token" && token_calls++ == 0) return respond(503, "down");
    return inner(req);
  });
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(token_calls.load(), 2);
  EXPECT_EQ(client->stats().retries, 1u);
}

// ---- bearer tokens -------------------------------------------------------------

TEST_F(ClientTest, AnonymousBearerFlowFetchesATokenForTheRepositoryScope) {
  const std::string body = kManifest;
  registry_.set_handler(bearer([body](const FakeRequest& req) {
    if (req.path != kManifestPath) return respond(404);
    return respond(200, body,
                   {{"Content-Type", std::string(kManifestType) + "; charset=utf-8"},
                    {"Docker-Content-Digest", digest::sha256_of(body).str()}});
  }));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->body, kManifest);
  EXPECT_EQ(m->media_type, kManifestType);
  EXPECT_EQ(m->digest, digest::sha256_of(kManifest));
  EXPECT_EQ(m->size, static_cast<int64_t>(kManifest.size()));

  auto seen = registry_.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].path, "/v2/");
  EXPECT_EQ(seen[1].path, "/token?service=fake&scope=" + auth::query_escape("repository:test/img:pull"));
  EXPECT_EQ(seen[1].path, "/token?service=fake&scope=repository%3Atest%2Fimg%3Apull");
  EXPECT_FALSE(seen[1].has_header("authorization"));  // anonymous
  EXPECT_EQ(seen[2].path, kManifestPath);
  EXPECT_EQ(seen[2].header("authorization"), "Bearer secret-token-1");
  EXPECT_EQ(client->stats().token_requests, 1u);
  EXPECT_EQ(client->stats().manifest_gets, 1u);
}

TEST_F(ClientTest, TokensAreCachedPerRepositoryScope) {
  registry_.set_handler(bearer([](const FakeRequest&) { return manifest_response(); }));
  auto client = make_client();
  ASSERT_TRUE(manifest(*client));
  ASSERT_TRUE(manifest(*client));
  EXPECT_EQ(token_requests(), 1u);
  ASSERT_TRUE(manifest(*client, false, "other/repo"));
  auto tokens = with_path(registry_.requests(), "/token");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_NE(tokens[1].path.find(auth::query_escape("repository:other/repo:pull")), std::string::npos)
      << tokens[1].path;
  EXPECT_EQ(client->stats().token_requests, 2u);
}

TEST_F(ClientTest, TenConcurrentBlobGetsShareOneTokenRequest) {
  const std::string body = blob_body();
  registry_.set_handler(bearer([body](const FakeRequest& req) {
    return req.path == kBlobPath ? respond(200, body) : respond(404);
  }));
  auto client = make_client();
  constexpr int kCount = 10;
  std::vector<CountingSink> sinks(kCount);
  std::vector<std::optional<core::Status>> results(kCount);
  for (int i = 0; i < kCount; ++i) {
    client->get_blob(std::string(kRepo), digest::sha256_of(body), sinks[i],
                     [&results, i](core::Status st) { results[i] = std::move(st); });
  }
  auto all_done = [&results] {
    for (const auto& r : results) {
      if (!r) return false;
    }
    return true;
  };
  ASSERT_TRUE(engine_.run(all_done));
  for (int i = 0; i < kCount; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(*results[i]) << results[i]->error().message;
    EXPECT_EQ(sinks[i].data(), body);
  }
  EXPECT_EQ(token_requests(), 1u);
  EXPECT_EQ(client->stats().token_requests, 1u);
  EXPECT_EQ(with_path(registry_.requests(), "/v2/").size(), 1u);  // one ping too
  EXPECT_EQ(client->stats().blob_gets, static_cast<uint64_t>(kCount));
}

TEST_F(ClientTest, ARevokedTokenIsRefreshedOnceAndTheBlobArrives) {
  const std::string body = blob_body();
  registry_.set_handler(bearer([body](const FakeRequest& req) {
    if (req.path == kManifestPath) return manifest_response();
    return req.path == kBlobPath ? respond(200, body) : respond(404);
  }));
  auto client = make_client();
  ASSERT_TRUE(manifest(*client));  // caches secret-token-1
  first_valid_ = 2;                // the registry revokes it
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_EQ(token_requests(), 2u);
  auto blobs = with_path(registry_.requests(), kBlobPath);
  ASSERT_EQ(blobs.size(), 2u);
  EXPECT_EQ(blobs[0].header("authorization"), "Bearer secret-token-1");
  EXPECT_EQ(blobs[1].header("authorization"), "Bearer secret-token-2");
  EXPECT_EQ(client->stats().retries, 0u);  // the refresh is not a retry
}

TEST_F(ClientTest, A401AfterTheRefreshIsUnauthorizedWithoutALoop) {
  first_valid_ = 1000;  // no token is ever good enough
  registry_.set_handler(bearer([](const FakeRequest&) { return respond(200, "never"); }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, core::ErrorKind::Unauthorized);
  EXPECT_EQ(st.error().http_status, 401);
  EXPECT_EQ(token_requests(), 2u);
  EXPECT_EQ(with_path(registry_.requests(), kBlobPath).size(), 2u);
  EXPECT_EQ(st.error().message.find(kTokenPrefix), std::string::npos) << st.error().message;
  EXPECT_EQ(sink.size(), 0u);
}

TEST_F(ClientTest, BearerWithCredentialsSendsBasicToTheTokenEndpointOnly) {
  registry_.set_handler(bearer([](const FakeRequest&) { return manifest_response(); }));
  RegistryOptions opts = options();
  opts.credentials = auth::Credentials{"alice", "s3cret", ""};
  auto client = make_client(opts);
  ASSERT_TRUE(manifest(*client));
  auto tokens = with_path(registry_.requests(), "/token");
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].header("authorization"), "Basic YWxpY2U6czNjcmV0");
  auto manifests = with_path(registry_.requests(), kManifestPath);
  ASSERT_EQ(manifests.size(), 1u);
  EXPECT_EQ(manifests[0].header("authorization"), "Bearer secret-token-1");
}

// An https registry (here any registry) whose challenge names a plain-http realm on
// another, non-loopback host never gets the password sent there: the token request
// is not made at all (auth.invalid would not even resolve) and the error says why.
TEST_F(ClientTest, CredentialsAreNeverSentToAPlainHttpRealmOnAnotherHost) {
  registry_.set_handler([](const FakeRequest&) {
    return respond(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
                   {{"WWW-Authenticate", R"(Bearer realm="http://auth.invalid/token",service="fake")"}});
  });
  RegistryOptions opts = options();
  opts.credentials = auth::Credentials{"alice", "s3cret", ""};
  auto client = make_client(opts);
  auto r = manifest(*client);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("plain http: refusing to send the credentials"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos);
  EXPECT_EQ(token_requests(), 0u);
}

// ---- foreign layers ----------------------------------------------------------------

// A foreign layer's URL gets no Authorization, even on the registry's own host with
// credentials configured, and a cut download resumes with Range like any blob.
TEST_F(ClientTest, AForeignLayerIsFetchedFromItsUrlWithoutCredentials) {
  const std::string body = blob_body();
  int calls = 0;
  registry_.set_handler([&](const FakeRequest& req) {
    if (req.path_only() != "/files/layer.tar.gz") return respond(404);
    FakeResponse resp = serve_range(req, body);
    if (calls++ == 0) resp.cut_after = 1000;
    return resp;
  });
  RegistryOptions opts = options();
  opts.credentials = auth::Credentials{"alice", "s3cret", ""};
  auto client = make_client(opts);
  CountingSink sink;
  std::optional<core::Status> out;
  client->get_foreign(registry_.url("/files/layer.tar.gz"), true, sink, [&](core::Status st) { out = std::move(st); });
  ASSERT_TRUE(engine_.run([&] { return out.has_value(); }));
  ASSERT_TRUE(*out) << out->error().message;
  EXPECT_EQ(sink.data(), body);
  auto got = with_path(registry_.requests(), "/files/layer.tar.gz");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].header("range"), "bytes=1000-");
  for (const auto& r : registry_.requests()) EXPECT_FALSE(r.has_header("authorization")) << r.path;
  EXPECT_TRUE(with_path(registry_.requests(), "/v2/").empty());  // not the registry API: no ping
}

TEST_F(ClientTest, AForeignLayerOverPlainHttpIsRefusedUnlessAllowed) {
  auto client = make_client();
  CountingSink sink;
  std::optional<core::Status> out;
  client->get_foreign("http://files.invalid/layer.tar.gz", false, sink, [&](core::Status st) { out = std::move(st); });
  ASSERT_TRUE(out.has_value());  // refused before any request
  ASSERT_FALSE(*out);
  EXPECT_NE(out->error().message.find("only https"), std::string::npos) << out->error().message;
  EXPECT_TRUE(registry_.requests().empty());
}

// ---- Basic ---------------------------------------------------------------------

FakeHandler basic_registry() {
  return [](const FakeRequest& req) {
    if (req.header("authorization") != "Basic YWxpY2U6czNjcmV0") {
      return respond(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
                     {{"WWW-Authenticate", R"(Basic realm="fake registry")"}});
    }
    return req.path == "/v2/" ? respond(200, "{}") : manifest_response();
  };
}

TEST_F(ClientTest, BasicChallengeWithCredentialsSendsBasicAuthorization) {
  registry_.set_handler(basic_registry());
  RegistryOptions opts = options();
  opts.credentials = auth::Credentials{"alice", "s3cret", ""};
  auto client = make_client(opts);
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  auto manifests = with_path(registry_.requests(), kManifestPath);
  ASSERT_EQ(manifests.size(), 1u);
  EXPECT_EQ(manifests[0].header("authorization"), auth::basic_authorization(*opts.credentials));
  EXPECT_EQ(token_requests(), 0u);
}

TEST_F(ClientTest, BasicChallengeWithoutCredentialsIsUnauthorized) {
  registry_.set_handler(basic_registry());
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::Unauthorized);
  EXPECT_NE(m.error().message.find("credentials required"), std::string::npos) << m.error().message;
  auto manifests = with_path(registry_.requests(), kManifestPath);
  ASSERT_EQ(manifests.size(), 1u);  // no refresh without a bearer challenge
  EXPECT_FALSE(manifests[0].has_header("authorization"));
}

// ---- redirects -----------------------------------------------------------------

TEST_F(ClientTest, ARedirectToAnotherHostCarriesNoAuthorization) {
  const std::string body = blob_body();
  FakeRegistry cdn([body](const FakeRequest& req) {
    return req.path_only() == "/data/blob" ? respond(200, body) : respond(404);
  });
  const std::string location = cdn.url("/data/blob?sig=abc&expires=1");
  registry_.set_handler(bearer([location](const FakeRequest&) { return redirect(location); }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  auto blobs = with_path(registry_.requests(), kBlobPath);
  ASSERT_EQ(blobs.size(), 1u);
  EXPECT_EQ(blobs[0].header("authorization"), "Bearer secret-token-1");
  auto fetched = cdn.requests();
  ASSERT_EQ(fetched.size(), 1u);
  EXPECT_EQ(fetched[0].path, "/data/blob?sig=abc&expires=1");
  EXPECT_FALSE(fetched[0].has_header("authorization"));
}

TEST_F(ClientTest, ARedirectOnTheSameHostKeepsAuthorization) {
  const std::string body = blob_body();
  registry_.set_handler(bearer([body](const FakeRequest& req) {
    if (req.path == kBlobPath) return redirect("/storage/blob-data");
    return req.path == "/storage/blob-data" ? respond(200, body) : respond(404);
  }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  auto stored = with_path(registry_.requests(), "/storage/blob-data");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].header("authorization"), "Bearer secret-token-1");
}

TEST_F(ClientTest, ARedirectLoopFailsAfterFiveRedirects) {
  std::atomic<int> hops{0};
  registry_.set_handler(no_auth([&hops](const FakeRequest&) {
    return redirect("/loop/" + std::to_string(++hops));
  }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("too many redirects"), std::string::npos) << st.error().message;
  EXPECT_EQ(hops.load(), 6);  // the first request and five redirects, all answered 307
  EXPECT_EQ(client->stats().retries, 0u);
}

// ---- retries -------------------------------------------------------------------

TEST_F(ClientTest, A429WithRetryAfterWaitsThatLongThenSucceeds) {
  std::atomic<int> calls{0};
  const std::string body = blob_body();
  registry_.set_handler(no_auth([&calls, body](const FakeRequest&) {
    if (calls++ == 0) {
      return respond(429, R"({"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]})", {{"Retry-After", "1"}});
    }
    return respond(200, body);
  }));
  auto client = make_client();
  CountingSink sink;
  const auto start = clock_->now();
  auto st = blob(*client, sink);
  const auto waited = clock_->now() - start;
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(client->stats().retries, 1u);
  // Backoff alone is 10 ms here (the jitter draws its ceiling); the Retry-After
  // second wins, and on the virtual clock nothing else takes time.
  EXPECT_EQ(waited, 1000ms);
}

TEST_F(ClientTest, A429RetryAfterPausesEveryRequestToThatRegistry) {
  const std::string body = blob_body();
  std::atomic<int> blob_calls{0};
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> other_seen;
  registry_.set_handler(no_auth([&](const FakeRequest& req) {
    if (req.path_only() == kBlobPath && blob_calls++ == 0) {
      return respond(429, R"({"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]})", {{"Retry-After", "1"}});
    }
    if (req.path_only() != kBlobPath) {
      std::lock_guard<std::mutex> lock(mu);
      other_seen.push_back(clock_->now());
    }
    return serve_range(req, body);
  }));
  auto client = make_client();
  CountingSink first, second;
  std::optional<core::Status> a, b;
  const auto start = clock_->now();
  const auto blob_digest = digest::sha256_of(body);
  const auto other_digest = digest::sha256_of("another blob");
  client->get_blob("test/img", blob_digest, first, [&a](core::Status st) { a = std::move(st); });
  // A request for another blob that starts while the registry has asked for a pause.
  engine_.schedule(200ms, [&, other_digest] {
    client->get_blob("test/img", other_digest, second, [&b](core::Status st) { b = std::move(st); });
  });
  ASSERT_TRUE(engine_.run([&] { return a.has_value() && b.has_value(); }));
  ASSERT_TRUE(*a);
  ASSERT_TRUE(*b);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(other_seen.size(), 1u);
  EXPECT_EQ(other_seen[0] - start, 1000ms);  // asked at 200 ms, held until the Retry-After was over
}

TEST_F(ClientTest, ARetryAfterBeyondTheLimitFailsWithoutWaiting) {
  registry_.set_handler(no_auth([](const FakeRequest&) {
    return respond(429, R"({"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]})",
                   {{"Retry-After", "3600"}});
  }));
  RegistryOptions opts = options();
  opts.retry.max_retry_after = 60s;
  auto client = make_client(opts);
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::RateLimited);
  EXPECT_EQ(m.error().retry_after, std::optional<std::chrono::seconds>(3600s));
  EXPECT_EQ(with_path(registry_.requests(), kManifestPath).size(), 1u);
}

TEST_F(ClientTest, Three503sThenSuccessCountsThreeRetries) {
  std::atomic<int> calls{0};
  registry_.set_handler(no_auth([&calls](const FakeRequest&) {
    return calls++ < 3 ? respond(503, "<html>busy</html>") : manifest_response();
  }));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->body, kManifest);
  EXPECT_EQ(calls.load(), 4);
  EXPECT_EQ(client->stats().retries, 3u);
}

TEST_F(ClientTest, A503WithAHugeErrorPageIsStillRetried) {
  std::atomic<int> calls{0};
  const std::string body = blob_body();
  registry_.set_handler(no_auth([&calls, body](const FakeRequest&) {
    if (calls++ == 0) return respond(503, "<html>" + std::string(200000, ' ') + "</html>");
    return respond(200, body);
  }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_EQ(client->stats().retries, 1u);
}

TEST_F(ClientTest, Persistent503sGiveUpAfterMaxAttempts) {
  registry_.set_handler(no_auth([](const FakeRequest&) { return respond(503, "down"); }));
  RegistryOptions opts = options();
  opts.retry.max_attempts = 3;
  auto client = make_client(opts);
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::Unavailable);
  EXPECT_EQ(m.error().http_status, 503);
  EXPECT_EQ(with_path(registry_.requests(), kManifestPath).size(), 3u);
  EXPECT_EQ(client->stats().retries, 2u);
}

TEST_F(ClientTest, A404WithTheErrorEnvelopeIsNotFoundAndNotRetried) {
  registry_.set_handler(no_auth([](const FakeRequest&) {
    return respond(404,
                   R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"latest"}}]})",
                   {{"Content-Type", "application/json"}});
  }));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::NotFound);
  EXPECT_EQ(m.error().registry_code, "MANIFEST_UNKNOWN");
  EXPECT_NE(m.error().message.find("MANIFEST_UNKNOWN"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("test/img"), std::string::npos) << m.error().message;
  EXPECT_EQ(with_path(registry_.requests(), kManifestPath).size(), 1u);
  EXPECT_EQ(client->stats().retries, 0u);
}

// ---- blobs ---------------------------------------------------------------------

TEST_F(ClientTest, ACutBlobBodyIsResumedWithRange) {
  std::atomic<int> calls{0};
  const std::string body = blob_body();
  registry_.set_handler(no_auth([&calls, body](const FakeRequest& req) {
    FakeResponse resp = serve_range(req, body);
    if (calls++ == 0) resp.cut_after = 1500;
    return resp;
  }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_EQ(sink.restarts(), 0);
  auto blobs = with_path(registry_.requests(), kBlobPath);
  ASSERT_EQ(blobs.size(), 2u);
  EXPECT_FALSE(blobs[0].has_header("range"));
  EXPECT_EQ(blobs[1].header("range"), "bytes=1500-");
  EXPECT_EQ(client->stats().retries, 1u);
}

TEST_F(ClientTest, ABlobCutByTheRedirectTargetResumesThroughTheRegistry) {
  std::atomic<int> cdn_calls{0};
  const std::string body = blob_body();
  FakeRegistry cdn([&cdn_calls, body](const FakeRequest& req) {
    FakeResponse resp = serve_range(req, body);
    if (cdn_calls++ == 0) resp.cut_after = 1000;
    return resp;
  });
  const std::string location = cdn.url("/data/blob?sig=abc");
  registry_.set_handler(bearer([location](const FakeRequest&) { return redirect(location); }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_EQ(with_path(registry_.requests(), kBlobPath).size(), 2u);  // a fresh redirect for the retry
  auto fetched = cdn.requests();
  ASSERT_EQ(fetched.size(), 2u);
  EXPECT_EQ(fetched[1].header("range"), "bytes=1000-");
  EXPECT_FALSE(fetched[1].has_header("authorization"));
  EXPECT_EQ(token_requests(), 1u);
}

TEST_F(ClientTest, ResumesThatMakeProgressDoNotUseUpTheRetryBudget) {
  const std::string body = blob_body();
  ASSERT_GT(body.size(), 8 * 300u);  // more cuts than the 5 attempts of the policy
  registry_.set_handler(no_auth([body](const FakeRequest& req) {
    FakeResponse resp = serve_range(req, body);
    resp.cut_after = 300;  // every connection dies after 300 bytes
    return resp;
  }));
  RegistryOptions opts = options();
  opts.retry.min_progress_bytes = 300;  // each cut delivers just enough to count
  auto client = make_client(opts);
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_GT(with_path(registry_.requests(), kBlobPath).size(), 5u);
}

// A registry that honours Range but sends a few bytes per connection (a trickle)
// makes no progress that counts: the request ends after its attempts.
TEST_F(ClientTest, ATrickleOfBytesPerConnectionStillEndsAfterTheRetryBudget) {
  const std::string body = blob_body();
  registry_.set_handler(no_auth([body](const FakeRequest& req) {
    FakeResponse resp = serve_range(req, body);
    resp.cut_after = 16;
    return resp;
  }));
  auto client = make_client();  // min_progress_bytes: the 64 KiB default
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_FALSE(st);
  EXPECT_EQ(with_path(registry_.requests(), kBlobPath).size(), 5u);
  EXPECT_EQ(sink.size(), 5 * 16u);  // each attempt resumed where the last stopped
}

TEST_F(ClientTest, CutsWithoutProgressStillEndAfterTheRetryBudget) {
  const std::string body = blob_body();
  registry_.set_handler(no_auth([body](const FakeRequest&) {
    FakeResponse resp = respond(200, body);  // ignores Range: every try restarts at 0
    resp.cut_after = 300;
    return resp;
  }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_FALSE(st);
  EXPECT_EQ(with_path(registry_.requests(), kBlobPath).size(), 5u);
}

TEST_F(ClientTest, AResumeAnswered200RestartsTheSink) {
  std::atomic<int> calls{0};
  const std::string body = blob_body();
  registry_.set_handler(no_auth([&calls, body](const FakeRequest&) {
    FakeResponse resp = respond(200, body);  // Range is never honoured
    if (calls++ == 0) resp.cut_after = 1500;
    return resp;
  }));
  auto client = make_client();
  CountingSink sink;
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_EQ(sink.restarts(), 1);
  EXPECT_EQ(with_path(registry_.requests(), kBlobPath).at(1).header("range"), "bytes=1500-");
}

// distribution on Go 1.19 answers a Range past the blob's end with a 416 that still
// declares the blob's length, and sends only its short error line: the status is the
// answer, and the resume starts over from byte 0 once.
FakeResponse go_416(const std::string& body) {
  const std::string page = "invalid range: failed to overlap\n";
  FakeResponse r = respond(416, page, {{"Content-Length", std::to_string(body.size())},
                                       {"Content-Range", "bytes */" + std::to_string(body.size())}});
  r.cut_after = page.size();  // and closes the connection there
  return r;
}

TEST_F(ClientTest, AResumeRefusedWith416StartsOverFromZeroOnce) {
  const std::string body = blob_body();
  registry_.set_handler(no_auth([body](const FakeRequest& req) {
    if (req.has_header("range")) return go_416(body);
    return respond(200, body);
  }));
  auto client = make_client();
  CountingSink sink;
  ASSERT_TRUE(sink.write("stale bytes", 11));
  auto st = blob(*client, sink);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(sink.data(), body);
  EXPECT_EQ(sink.restarts(), 1);
  auto blobs = with_path(registry_.requests(), kBlobPath);
  ASSERT_EQ(blobs.size(), 2u);
  EXPECT_EQ(blobs[0].header("range"), "bytes=11-");
  EXPECT_FALSE(blobs[1].has_header("range"));
  EXPECT_EQ(client->stats().retries, 0u);
}

TEST_F(ClientTest, A416AfterStartingOverIsAnErrorNamingTheStatus) {
  const std::string body = blob_body();
  std::atomic<int> calls{0};
  registry_.set_handler(no_auth([body, &calls](const FakeRequest&) {
    // The restart's first answer is cut, then every resume is refused.
    if (calls++ == 1) {
      FakeResponse r = respond(200, body);
      r.cut_after = 100;
      return r;
    }
    return go_416(body);
  }));
  auto client = make_client();
  CountingSink sink;
  ASSERT_TRUE(sink.write("stale bytes", 11));
  auto st = blob(*client, sink);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("416"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("starting over"), std::string::npos) << st.error().message;
  EXPECT_EQ(st.error().message.find("remaining to read"), std::string::npos) << st.error().message;
  EXPECT_EQ(with_path(registry_.requests(), kBlobPath).size(), 3u);
}

// A registry that holds a transfer open just above the stall rate: the blob's time
// cap (base + bytes / blob_min_rate) ends it, once, with a message naming the cap.
TEST_F(ClientTest, ABlobPastItsTimeCapFailsOnceNamingTheCap) {
  const std::string body = blob_body();
  registry_.set_handler(no_auth([this, body](const FakeRequest&) {
    FakeResponse r = respond(200, body);
    clock_->advance(1s);  // far past the cap below on the engine's clock...
    r.delay_ms = 5000;    // ...and the answer comes late in real time too
    return r;
  }));
  RegistryOptions opts = options();
  opts.retry.blob_time_base = 0s;
  opts.retry.blob_min_rate = 20000;  // about 4000 bytes: a cap of 200 ms
  auto client = make_client(opts);
  CountingSink sink;
  auto st = blob(*client, sink, static_cast<int64_t>(body.size()));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, core::ErrorKind::Timeout);
  const std::string cap = fmt::format("time cap of {:.1f} s (0 s + {} bytes at 20000 bytes/s",
                                      static_cast<double>(body.size()) / 20000, body.size());
  EXPECT_NE(st.error().message.find(cap), std::string::npos)
      << st.error().message;
  EXPECT_EQ(with_path(registry_.requests(), kBlobPath).size(), 1u);
  EXPECT_EQ(client->stats().retries, 0u);
}

TEST(BlobTimeCap, IsTheBasePlusTheBytesAtTheMinimumRateAndNoneAtRateZero) {
  RetryPolicy p;
  p.blob_time_base = 600s;
  p.blob_min_rate = 8192;
  EXPECT_EQ(blob_time_cap(p, 0), std::chrono::milliseconds(600000));
  EXPECT_EQ(blob_time_cap(p, 8192 * 100), std::chrono::milliseconds(700000));
  EXPECT_EQ(blob_time_cap(p, 4096), std::chrono::milliseconds(600500));
  EXPECT_EQ(blob_time_cap(p, uint64_t{1} << 40), std::chrono::milliseconds(600000 + (uint64_t{1} << 40) / 8192 * 1000));
  p.blob_min_rate = 0;
  EXPECT_FALSE(blob_time_cap(p, 1 << 30));
}

// ---- manifests -----------------------------------------------------------------

TEST_F(ClientTest, AManifestWhoseDigestHeaderDisagreesIsDigestMismatch) {
  const std::string claimed = "sha256:" + std::string(64, 'e');
  registry_.set_handler(no_auth([claimed](const FakeRequest&) {
    return respond(200, kManifest, {{"Content-Type", std::string(kManifestType)}, {"Docker-Content-Digest", claimed}});
  }));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::DigestMismatch);
  EXPECT_NE(m.error().message.find(claimed), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find(digest::sha256_of(kManifest).str()), std::string::npos) << m.error().message;
}

TEST_F(ClientTest, HeadReadsTheDigestFromDockerContentDigest) {
  const std::string served = "sha256:" + std::string(64, 'd');  // not the body's: HEAD trusts the header
  registry_.set_handler(no_auth([served](const FakeRequest&) {
    return respond(200, kManifest,
                   {{"Content-Type", std::string(kManifestType) + "; charset=utf-8"},
                    {"Docker-Content-Digest", served}});
  }));
  auto client = make_client();
  auto m = manifest(*client, /*head_only=*/true);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->digest.str(), served);
  EXPECT_EQ(m->size, static_cast<int64_t>(kManifest.size()));
  EXPECT_EQ(m->media_type, kManifestType);
  EXPECT_EQ(m->body, "");
  auto manifests = with_path(registry_.requests(), kManifestPath);
  ASSERT_EQ(manifests.size(), 1u);
  EXPECT_EQ(manifests[0].method, "HEAD");
  EXPECT_EQ(client->stats().manifest_heads, 1u);
}

// ---- schema1 -------------------------------------------------------------------
// A signed schema1 manifest is digested over its JWS payload: the registry's
// Docker-Content-Digest names that, not the sha256 of the (re-signed) bytes.

constexpr std::string_view kSchema1Type = "application/vnd.docker.distribution.manifest.v1+prettyjws";
constexpr std::string_view kSchema1Digest = "sha256:5a26403ca5f91c7f04300e397efc83960afbfe2d2b34314383a53e267a604455";

std::string schema1_fixture() {
  std::ifstream in(std::string(FERRY_FIXTURES_DIR) + "/manifests/redhat-rhosp12-schema1-signed-prettyjws.json",
                   std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

FakeHandler serve_schema1(std::string body) {
  return [body](const FakeRequest& req) {
    if (req.path == "/v2/") return respond(200, "{}");
    return respond(200, body, {{"Content-Type", std::string(kSchema1Type)},
                               {"Docker-Content-Digest", std::string(kSchema1Digest)}});
  };
}

TEST_F(ClientTest, ASignedSchema1ManifestIsDigestedOverItsPayload) {
  const std::string body = schema1_fixture();
  ASSERT_GT(body.size(), 7000u);
  registry_.set_handler(serve_schema1(body));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->digest.str(), kSchema1Digest);
  EXPECT_EQ(m->body, body);  // the bytes as served: the caller extracts the payload again
  EXPECT_EQ(m->media_type, kSchema1Type);
}

TEST_F(ClientTest, ARegistryThatResignsKeepsTheSchema1Digest) {
  // Another signature block over the same payload (what a re-signing GET returns).
  std::string body = schema1_fixture();
  const std::string old_sig = "jBBsnocfxw77LzmM_VeN6Nb031BtqPgx-DbppYOEnhZfGLRcyYwGUPW--3JrkeEX6AlEGzPI57R0tlu5bZvrnQ";
  ASSERT_NE(body.find(old_sig), std::string::npos);
  body.replace(body.find(old_sig), old_sig.size(), "c2lnbmVkIGFnYWlu");
  registry_.set_handler(serve_schema1(body));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->digest.str(), kSchema1Digest);
}

TEST_F(ClientTest, AChangedSchema1PayloadIsDigestMismatchSayingSchema1) {
  std::string body = schema1_fixture();
  body.replace(body.find("\"latest\""), 8, "\"lateST\"");
  registry_.set_handler(serve_schema1(body));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::DigestMismatch);
  EXPECT_NE(m.error().message.find("schema1 signed payload hashes to sha256:"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find(std::string(kSchema1Digest)), std::string::npos) << m.error().message;
}

TEST_F(ClientTest, AMalformedSchema1SignatureIsInvalidInput) {
  std::string body = schema1_fixture();
  const std::string prot = "eyJmb3JtYXRMZW5ndGgiOjY4MTMsImZvcm1hdFRhaWwiOiJDbjAiLCJ0aW1lIjoiMjAxOC0wMS0zMFQxOToyNToxMloifQ";
  body.replace(body.find(prot), prot.size(), "!!notbase64!!");
  registry_.set_handler(serve_schema1(body));
  auto client = make_client();
  auto m = manifest(*client);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_EQ(m.error().message,
            "manifest test/img:latest: schema1 manifest: signatures[0].protected: not base64url");
}

// ---- secrets -------------------------------------------------------------------

TEST(ClientSecrets, TheTokenNeverAppearsInErrorMessages) {
  const std::string token = "eyJTOPSECRETtokenVALUE0123456789";
  struct Case {
    std::string name;
    std::function<FakeResponse(const FakeRequest&, const FakeRegistry& cdn)> serve;  // non-ping, non-token
    std::string token_reply;
    core::ErrorKind kind;
  };
  const std::string good_reply = R"({"token":")" + token + R"(","expires_in":300})";
  const std::vector<Case> cases = {
      {"registry refuses the token twice",
       [](const FakeRequest&, const FakeRegistry&) {
         return respond(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"invalid token"}]})");
       },
       good_reply, core::ErrorKind::Unauthorized},
      {"token reply is cut JSON", [](const FakeRequest&, const FakeRegistry&) { return manifest_response(); },
       R"({"token":")" + token + R"(","expires_in":)", core::ErrorKind::InvalidInput},
      {"token reply has the token under an unknown key",
       [](const FakeRequest&, const FakeRegistry&) { return manifest_response(); },
       R"({"tokken":")" + token + R"("})", core::ErrorKind::Unauthorized},
      {"redirect to a host that refuses the signed URL",
       [token](const FakeRequest&, const FakeRegistry& cdn) {
         return redirect(cdn.url("/blob?X-Amz-Security-Token=" + token));
       },
       good_reply, core::ErrorKind::Denied},
      {"digest mismatch",
       [](const FakeRequest&, const FakeRegistry&) {
         return respond(200, kManifest, {{"Docker-Content-Digest", "sha256:" + std::string(64, 'f')}});
       },
       good_reply, core::ErrorKind::DigestMismatch},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FakeRegistry cdn([](const FakeRequest&) { return respond(403, "<html>AccessDenied</html>"); });
    FakeRegistry server;
    const std::string challenge = "Bearer realm=\"" + server.url("/token") + "\",service=\"fake\"";
    const std::string reply = c.token_reply;
    auto serve = c.serve;
    server.set_handler([&cdn, challenge, reply, serve](const FakeRequest& req) {
      if (req.path == "/v2/") return respond(401, "", {{"WWW-Authenticate", challenge}});
      if (req.path_only() == "/token") return respond(200, reply);
      return serve(req, cdn);
    });
    http::Engine engine;
    auth::TokenCache tokens;
    RegistryOptions opts;
    opts.retry.base_delay = 10ms;
    Client client(engine, server.host(), opts, tokens);
    std::optional<core::Result<ManifestReply>> out;
    client.get_manifest("test/img", "latest", false, [&out](core::Result<ManifestReply> r) { out = std::move(r); });
    ASSERT_TRUE(engine.run([&out] { return out.has_value(); }));
    ASSERT_TRUE(out.has_value());
    ASSERT_FALSE(*out);
    EXPECT_EQ(out->error().kind, c.kind) << out->error().message;
    EXPECT_EQ(out->error().message.find(token), std::string::npos) << out->error().message;
    EXPECT_EQ(out->error().message.find("TOPSECRET"), std::string::npos) << out->error().message;
  }
}

// ---- loopback ------------------------------------------------------------------

TEST(IsLoopbackHost, AcceptsLocalhostAnd127Slash8AndIpv6LoopbackOnly) {
  struct Case {
    std::string_view host;
    bool loopback;
  };
  const Case cases[] = {
      {"localhost", true},
      {"localhost:5000", true},
      {"127.0.0.1", true},
      {"127.0.0.1:5000", true},
      {"127.255.3.9:443", true},
      {"[::1]", true},
      {"[::1]:5000", true},
      {"::1", true},
      {"registry-1.docker.io", false},
      {"registry-1.docker.io:443", false},
      {"10.0.0.1:5000", false},
      {"128.0.0.1", false},
      {"0.0.0.0:5000", false},
      {"[::2]:5000", false},
      {"[fe80::1]", false},
      {"localhost.example.com", false},
      {"mylocalhost:5000", false},
      // DNS names that merely look like 127.x: anyone can register them.
      {"127.example.com", false},
      {"127.0.0.1.nip.io:5000", false},
      {"127.0.0.1.evil.example", false},
      {"127.0.0.256", false},
      {"", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.host);
    EXPECT_EQ(is_loopback_host(c.host), c.loopback);
  }
}

}  // namespace
}  // namespace ferry::registry
