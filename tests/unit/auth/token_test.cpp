// Bearer tokens: the real token endpoint replies in fixtures/auth/, expiry rules
// (defaults, clock-skew guard), RFC 3339 timestamps, the token request URL and its
// escaping, and TokenCache expiry with injected time points.
#include <string>
#include <thread>
#include <vector>

#include "auth/auth.h"
#include "auth_test_util.h"

namespace ferry::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

Clock::time_point at(std::string_view rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(Clock::time_point{});
}

std::int64_t epoch_seconds(Clock::time_point t) {
  return std::chrono::duration_cast<seconds>(t.time_since_epoch()).count();
}

// --- token responses from the fixtures -------------------------------------------

TEST(TokenFixtures, DockerHubAnonymous2024) {
  std::string body = testing::read_fixture("auth/dockerhub-token-response-anonymous-2024.json");
  Clock::time_point issued = at("2024-01-19T20:59:40.042383011Z");
  EXPECT_EQ(epoch_seconds(issued), 1705697980);  // the JWT's iat
  EXPECT_EQ((issued.time_since_epoch() % seconds(1)), nanoseconds(42383011));

  auto token = parse_token_response(body, issued + seconds(2));
  ASSERT_TRUE(token.has_value()) << token.error().message;
  EXPECT_EQ(token->value.substr(0, 20), "eyJhbGciOiJSUzI1NiIs");
  EXPECT_EQ(token->value.size(), 1957u);
  EXPECT_EQ(token->value.find('"'), std::string::npos);
  EXPECT_EQ(token->expires_at, issued + seconds(300));
}

TEST(TokenFixtures, DockerHubUserRedacted2021) {
  std::string body = testing::read_fixture("auth/dockerhub-token-response-user-redacted-2021.json");
  Clock::time_point issued = at("2021-04-28T13:05:30.289632369Z");
  auto token = parse_token_response(body, issued);
  ASSERT_TRUE(token.has_value()) << token.error().message;
  EXPECT_EQ(token->value, "eyJhbGciOiJSUzI1NiIsInR***");
  EXPECT_EQ(token->expires_at, issued + seconds(300));
}

TEST(TokenFixtures, PortusOffsetAndNoAccessToken) {
  std::string body = testing::read_fixture("auth/portus-token-response-issued-at-offset.json");
  Clock::time_point issued = at("2016-12-13T13:18:39Z");
  EXPECT_EQ(epoch_seconds(issued), 1481635119);
  auto token = parse_token_response(body, issued + seconds(10));
  ASSERT_TRUE(token.has_value()) << token.error().message;
  EXPECT_EQ(token->value, "lengthyStringContainingToken");
  EXPECT_EQ(token->expires_at, issued + seconds(300));
}

TEST(TokenFixtures, DockerAuthTokenOnlyGetsDefaultLifetime) {
  std::string body = testing::read_fixture("auth/docker-auth-token-response-token-only.json");
  Clock::time_point now = at("2025-06-01T12:00:00Z");
  auto token = parse_token_response(body, now);
  ASSERT_TRUE(token.has_value()) << token.error().message;
  EXPECT_EQ(token->value, "eyJ0.....yQ");
  EXPECT_EQ(token->expires_at, now + kDefaultTokenLifetime);
  EXPECT_EQ(kDefaultTokenLifetime, seconds(60));
}

// --- token response rules --------------------------------------------------------

TEST(ParseTokenResponse, TokenFieldChoice) {
  Clock::time_point now = at("2025-01-01T00:00:00Z");
  struct Case {
    const char* body;
    const char* want;
  } cases[] = {
      {R"({"token":"t1","access_token":"t1"})", "t1"},
      {R"({"token":"t1","access_token":"a1"})", "t1"},
      {R"({"access_token":"a1"})", "a1"},
      {R"({"token":"","access_token":"a1"})", "a1"},
      {R"({"token":null,"access_token":"a1"})", "a1"},
      {R"({"access_token":"a1","token":"t1"})", "t1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto token = parse_token_response(c.body, now);
    ASSERT_TRUE(token.has_value()) << token.error().message;
    EXPECT_EQ(token->value, c.want);
  }
}

TEST(ParseTokenResponse, ExpiresInDefaultsAndCaps) {
  Clock::time_point now = at("2025-01-01T00:00:00Z");
  struct Case {
    const char* body;
    seconds lifetime;
  } cases[] = {
      {R"({"token":"t","expires_in":3600})", seconds(3600)},
      {R"({"token":"t","expires_in":1})", seconds(1)},
      {R"({"token":"t","expires_in":0})", kDefaultTokenLifetime},
      {R"({"token":"t","expires_in":-5})", kDefaultTokenLifetime},
      {R"({"token":"t","expires_in":0.5})", kDefaultTokenLifetime},
      {R"({"token":"t","expires_in":120.9})", seconds(120)},
      {R"({"token":"t","expires_in":"300"})", kDefaultTokenLifetime},
      {R"({"token":"t","expires_in":null})", kDefaultTokenLifetime},
      {R"({"token":"t","expires_in":18446744073709551615})", kMaxTokenLifetime},
      {R"({"token":"t","expires_in":1e300})", kMaxTokenLifetime},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto token = parse_token_response(c.body, now);
    ASSERT_TRUE(token.has_value()) << token.error().message;
    EXPECT_EQ(token->expires_at, now + c.lifetime);
  }
}

TEST(ParseTokenResponse, IssuedAtAndClockSkewGuard) {
  Clock::time_point now = at("2025-01-01T12:00:00Z");
  struct Case {
    const char* body;
    Clock::time_point want;
  } cases[] = {
      // Server clock 100 s behind: the token expires 100 s earlier by our clock.
      {R"({"token":"t","expires_in":300,"issued_at":"2025-01-01T11:58:20Z"})", now + seconds(200)},
      // Server clock an hour ahead: never later than now + expires_in.
      {R"({"token":"t","expires_in":300,"issued_at":"2025-01-01T13:00:00Z"})", now + seconds(300)},
      // Offsets: 13:58:20+02:00 is 11:58:20Z.
      {R"({"token":"t","expires_in":300,"issued_at":"2025-01-01T13:58:20+02:00"})", now + seconds(200)},
      {R"({"token":"t","expires_in":300,"issued_at":"2025-01-01T06:58:20-05:00"})", now + seconds(200)},
      // Unparsable or absent: now.
      {R"({"token":"t","expires_in":300,"issued_at":"yesterday"})", now + seconds(300)},
      {R"({"token":"t","expires_in":300,"issued_at":"2025-01-01T11:58:20"})", now + seconds(300)},
      {R"({"token":"t","expires_in":300,"issued_at":1735732700})", now + seconds(300)},
      {R"({"token":"t","expires_in":300})", now + seconds(300)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto token = parse_token_response(c.body, now);
    ASSERT_TRUE(token.has_value()) << token.error().message;
    EXPECT_EQ(token->expires_at, c.want);
  }
}

TEST(ParseTokenResponse, NoTokenIsUnauthorized) {
  Clock::time_point now = Clock::now();
  for (const char* body : {R"({})", R"({"token":"","access_token":""})", R"({"token":5})",
                           R"({"tokn":"SECRET-abc123","expires_in":300})"}) {
    SCOPED_TRACE(body);
    auto token = parse_token_response(body, now);
    ASSERT_FALSE(token.has_value());
    EXPECT_EQ(token.error().kind, core::ErrorKind::Unauthorized);
    EXPECT_EQ(token.error().message, "token response has no token");
  }
}

TEST(ParseTokenResponse, NotJsonIsInvalidInputWithoutEcho) {
  Clock::time_point now = Clock::now();
  for (const char* body : {"", "<html>401</html>", R"({"token":"SECRET-abc123")", R"(["SECRET-abc123"])",
                           R"("SECRET-abc123")"}) {
    SCOPED_TRACE(body);
    auto token = parse_token_response(body, now);
    ASSERT_FALSE(token.has_value());
    EXPECT_EQ(token.error().kind, core::ErrorKind::InvalidInput);
    EXPECT_EQ(token.error().message.find("SECRET"), std::string::npos) << token.error().message;
    EXPECT_NE(token.error().message.find("token response"), std::string::npos);
  }
}

// --- RFC 3339 ---------------------------------------------------------------------

TEST(ParseRfc3339, ValidForms) {
  struct Case {
    const char* text;
    std::int64_t epoch_s;
    nanoseconds frac;
  } cases[] = {
      {"1970-01-01T00:00:00Z", 0, nanoseconds(0)},
      {"2016-12-13T13:18:39+00:00", 1481635119, nanoseconds(0)},
      {"2016-12-13T15:48:39+02:30", 1481635119, nanoseconds(0)},
      {"2016-12-13T08:18:39-05:00", 1481635119, nanoseconds(0)},
      {"2016-12-13t13:18:39z", 1481635119, nanoseconds(0)},
      {"2016-12-13 13:18:39Z", 1481635119, nanoseconds(0)},
      {"2016-12-13T13:18:39.5Z", 1481635119, milliseconds(500)},
      {"2016-12-13T13:18:39.123456789Z", 1481635119, nanoseconds(123456789)},
      {"2016-12-13T13:18:39.1234567899999Z", 1481635119, nanoseconds(123456789)},
      {"2024-02-29T00:00:00Z", 1709164800, nanoseconds(0)},
      {"2016-12-31T23:59:60Z", 1483228800, nanoseconds(0)},  // leap second
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto t = parse_rfc3339(c.text);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(epoch_seconds(*t), c.epoch_s);
    EXPECT_EQ(t->time_since_epoch() % seconds(1), c.frac);
  }
}

TEST(ParseRfc3339, InvalidForms) {
  for (const char* text :
       {"", "2016-12-13", "2016-12-13T13:18:39", "2016-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2016-12-13T24:00:00Z", "2016-12-13T13:60:00Z", "2016-12-13T13:18:61Z", "2016-12-13T13:18:39+0000",
        "2016-12-13T13:18:39+24:00", "2016-12-13T13:18:39.Z", "2016-12-13T13:18:39Zjunk",
        "16-12-13T13:18:39Z",
        "2016-12-13X13:18:39Z", "2016-1a-13T13:18:39Z"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_rfc3339(text).has_value());
  }
}

// --- token request URL ------------------------------------------------------------

Challenge bearer(std::string realm, std::string service = "") {
  Challenge ch{"bearer", {}};
  if (!realm.empty()) ch.params["realm"] = std::move(realm);
  if (!service.empty()) ch.params["service"] = std::move(service);
  return ch;
}

TEST(TokenRequestUrl, DockerHubScopes) {
  auto url = token_request_url(bearer("https://auth.docker.io/token", "registry.docker.io"),
                               {"repository:library/ubuntu:pull", "repository:ns/app:pull,push"});
  ASSERT_TRUE(url.has_value()) << url.error().message;
  EXPECT_EQ(*url,
            "https://auth.docker.io/token?service=registry.docker.io"
            "&scope=repository%3Alibrary%2Fubuntu%3Apull&scope=repository%3Ans%2Fapp%3Apull%2Cpush");
}

TEST(TokenRequestUrl, QueryJoining) {
  struct Case {
    std::string realm, service;
    std::vector<std::string> scopes;
    std::string want;
  } cases[] = {
      {"https://r.example/token?client=ferry", "svc", {"a"},
       "https://r.example/token?client=ferry&service=svc&scope=a"},
      {"https://r.example/token?", "svc", {"a"}, "https://r.example/token?service=svc&scope=a"},
      {"https://r.example/token?x=1&", "", {"a"}, "https://r.example/token?x=1&scope=a"},
      {"https://us-docker.pkg.dev/v2/token", "", {"repository:p/r:pull"},
       "https://us-docker.pkg.dev/v2/token?scope=repository%3Ap%2Fr%3Apull"},
      {"https://r.example/token", "", {}, "https://r.example/token"},
      {"https://r.example/token", "svc", {"", "b"}, "https://r.example/token?service=svc&scope=b"},
      {"HTTPS://R.example/token", "svc", {}, "HTTPS://R.example/token?service=svc"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.realm);
    auto url = token_request_url(bearer(c.realm, c.service), c.scopes);
    ASSERT_TRUE(url.has_value()) << url.error().message;
    EXPECT_EQ(*url, c.want);
  }
}

TEST(TokenRequestUrl, BadRealms) {
  struct Case {
    std::string realm;
    const char* problem;
  } cases[] = {
      {"", "has no realm"},
      {"Artifactory Realm", "not an http(s) URL"},
      {"ftp://r.example/token", "not an http(s) URL"},
      {"https://", "not an http(s) URL"},
      {"https:///token", "not an http(s) URL"},
      {"/token", "not an http(s) URL"},
      {"https://r.example/token#frag", "fragment"},
      {"https://r.example/to ken", "whitespace"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.realm);
    auto url = token_request_url(bearer(c.realm, "svc"), {"s"});
    ASSERT_FALSE(url.has_value());
    EXPECT_EQ(url.error().kind, core::ErrorKind::InvalidInput);
    EXPECT_NE(url.error().message.find(c.problem), std::string::npos) << url.error().message;
  }
}

TEST(QueryEscape, KeepsOnlyUnreserved) {
  EXPECT_EQ(query_escape("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(query_escape("a b+c&d=e/f:g?h#i,j*"), "a%20b%2Bc%26d%3De%2Ff%3Ag%3Fh%23i%2Cj%2A");
  EXPECT_EQ(query_escape("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(query_escape(std::string("\0\x7f", 2)), "%00%7F");
  EXPECT_EQ(query_escape(""), "");
}

// --- TokenCache -------------------------------------------------------------------

TEST(TokenCache, KeyIsUnambiguous) {
  EXPECT_NE(TokenCache::key("ab", "c", "d"), TokenCache::key("a", "bc", "d"));
  EXPECT_NE(TokenCache::key("a|b", "", ""), TokenCache::key("a", "b", ""));
  EXPECT_EQ(TokenCache::key("r", "s", "x"), TokenCache::key("r", "s", "x"));
}

TEST(TokenCache, ExpiryHonoursRefreshMargin) {
  TokenCache cache;
  Clock::time_point t0 = at("2025-01-01T00:00:00Z");
  std::string key =
      TokenCache::key("https://auth.docker.io/token", "registry.docker.io", "repository:a/b:pull");
  EXPECT_FALSE(cache.get(key, t0).has_value());
  cache.put(key, Token{"tok", t0 + seconds(60)});
  EXPECT_EQ(cache.get(key, t0), "tok");
  EXPECT_EQ(cache.get(key, t0 + seconds(49)), "tok");
  EXPECT_EQ(cache.get(key, t0 + seconds(50) - nanoseconds(1)), "tok");
  EXPECT_FALSE(cache.get(key, t0 + seconds(50)).has_value());  // expires_at - margin == now
  EXPECT_FALSE(cache.get(key, t0 + seconds(61)).has_value());
  EXPECT_FALSE(cache.get(TokenCache::key("other", "", ""), t0).has_value());
}

TEST(TokenCache, ShortLivedTokensAreReusedForHalfTheirLife) {
  TokenCache cache;
  Clock::time_point t0 = at("2025-01-01T00:00:00Z");
  cache.put("k", Token{"short", t0 + seconds(5), seconds(5)});  // a 10 s margin would refuse it at once
  EXPECT_EQ(cache.get("k", t0), "short");
  EXPECT_EQ(cache.get("k", t0 + milliseconds(2400)), "short");
  EXPECT_FALSE(cache.get("k", t0 + milliseconds(2500)).has_value());
  cache.put("k", Token{"long", t0 + seconds(300), seconds(300)});
  EXPECT_EQ(cache.get("k", t0 + seconds(289)), "long");
  EXPECT_FALSE(cache.get("k", t0 + seconds(290)).has_value());
}

TEST(TokenResponse, LifetimeIsTheAnnouncedExpiresIn) {
  Clock::time_point now = at("2025-01-01T00:00:00Z");
  auto t = parse_token_response(R"({"token":"x","expires_in":5})", now);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->lifetime, seconds(5));
}

TEST(TokenCache, PutReplacesAndInvalidateRemoves) {
  TokenCache cache;
  Clock::time_point t0 = at("2025-01-01T00:00:00Z");
  cache.put("k", Token{"old", t0 + seconds(5)});  // already inside the margin
  EXPECT_FALSE(cache.get("k", t0).has_value());
  cache.put("k", Token{"new", t0 + seconds(300)});
  EXPECT_EQ(cache.get("k", t0), "new");
  cache.invalidate("k");
  EXPECT_FALSE(cache.get("k", t0).has_value());
  cache.invalidate("never-there");
}

TEST(TokenCache, ConcurrentUse) {
  TokenCache cache;
  Clock::time_point t0 = at("2025-01-01T00:00:00Z");
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&cache, t0, i] {
      for (int n = 0; n < 1000; ++n) {
        std::string key = "k" + std::to_string((i + n) % 7);
        cache.put(key, Token{"v" + std::to_string(n), t0 + seconds(60)});
        (void)cache.get(key, t0);
        if (n % 10 == 0) cache.invalidate(key);
      }
    });
  }
  for (auto& t : threads) t.join();
  cache.put("final", Token{"v", t0 + seconds(60)});
  EXPECT_EQ(cache.get("final", t0), "v");
}

}  // namespace
}  // namespace ferry::auth
