// Registry error answers: the real bodies in fixtures/errors/registry-error-bodies.json
// (the distribution envelope, {"error": ...}, plain text) and synthetic awkward ones
// (HTML pages, control bytes, empty bodies) all become one bounded line that names
// the status and, when given, the registry's code; Retry-After in its two forms.
#include "registry/errors.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/redact.h"

namespace ferry::registry {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kWhat = "GET /v2/test/img/manifests/latest";
constexpr size_t kMaxMessage = kWhat.size() + 450;  // what + "HTTP nnn" + code + message, each bounded

http::Response response(long status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

bool is_one_line(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

nlohmann::json load_bodies() {
  std::ifstream in(std::string(FERRY_FIXTURES_DIR) + "/errors/registry-error-bodies.json", std::ios::binary);
  EXPECT_TRUE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  return nlohmann::json::parse(buf.str());
}

TEST(ErrorFromResponse, EveryFixtureBodyBecomesOneBoundedLineWithItsCodeAndMessage) {
  const auto bodies = load_bodies();
  ASSERT_EQ(bodies.size(), 16u);
  for (const auto& entry : bodies) {
    const std::string body = entry["body"].get<std::string>();
    SCOPED_TRACE(entry["registry"].get<std::string>() + ": " + body);
    const long status = entry["status"].is_number() ? entry["status"].get<long>() : 400;
    core::Error e = error_from_response(response(status, body), kWhat);
    EXPECT_EQ(e.http_status, status);
    EXPECT_TRUE(is_one_line(e.message)) << e.message;
    EXPECT_LE(e.message.size(), kMaxMessage);
    EXPECT_EQ(e.message.rfind(std::string(kWhat) + ": HTTP " + std::to_string(status), 0), 0u) << e.message;

    // What the body says, read independently of the code under test.
    std::string code, text;
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) {
      text = body;
    } else if (j.contains("errors")) {
      code = j["errors"][0]["code"].get<std::string>();
      text = j["errors"][0]["message"].get<std::string>();
    } else {
      text = j["error"].get<std::string>();
    }
    EXPECT_EQ(e.registry_code, code);
    if (!code.empty()) {
      EXPECT_NE(e.message.find("HTTP " + std::to_string(status) + " " + code), std::string::npos) << e.message;
    }
    EXPECT_NE(e.message.find(text.substr(0, 150)), std::string::npos) << e.message;
  }
}

TEST(ErrorFromResponse, MapsStatusesToKinds) {
  struct Case {
    long status;
    core::ErrorKind kind;
    bool retryable;
  };
  const Case cases[] = {
      {400, core::ErrorKind::InvalidInput, false}, {401, core::ErrorKind::Unauthorized, false},
      {403, core::ErrorKind::Denied, false},       {404, core::ErrorKind::NotFound, false},
      {408, core::ErrorKind::Timeout, true},       {429, core::ErrorKind::RateLimited, true},
      {500, core::ErrorKind::Unavailable, true},   {502, core::ErrorKind::Unavailable, true},
      {503, core::ErrorKind::Unavailable, true},   {416, core::ErrorKind::InvalidInput, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status);
    core::Error e = error_from_response(response(c.status, ""), kWhat);
    EXPECT_EQ(e.kind, c.kind);
    EXPECT_EQ(e.retryable(), c.retryable);
    EXPECT_EQ(e.message, std::string(kWhat) + ": HTTP " + std::to_string(c.status));
  }
}

TEST(ErrorFromResponse, ReducesAwkwardBodiesToOneShortLine) {
  std::string html = "<!DOCTYPE html>\n<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>";
  while (html.size() < 20000) html += "<p>upstream\tconnect error or disconnect/reset before headers</p>\n";
  struct Case {
    std::string name;
    std::string body;
    std::string expected;  // the whole message after "<what>: "
  };
  const Case cases[] = {
      {"message key", R"({"message":"quota exceeded"})", "HTTP 502: quota exceeded"},
      {"details key", R"({"details":"upstream gone"})", "HTTP 502: upstream gone"},
      {"numeric error", R"({"error":502})", "HTTP 502: 502"},
      {"empty errors array", R"({"errors":[]})", "HTTP 502"},
      {"JSON array", "[1,2,3]", "HTTP 502"},
      {"JSON without known keys", R"({"status":"bad"})", "HTTP 502"},
      {"code without message", R"({"errors":[{"code":"UNKNOWN"}]})", "HTTP 502 UNKNOWN"},
      {"control bytes", "line one\nline two\r\n\x01", "HTTP 502: line one line two"},
      {"empty body", "", "HTTP 502"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    core::Error e = error_from_response(response(502, c.body), kWhat);
    EXPECT_EQ(e.message, std::string(kWhat) + ": " + c.expected);
  }
  SCOPED_TRACE("20 kB HTML page");
  core::Error e = error_from_response(response(502, html), kWhat);
  EXPECT_TRUE(is_one_line(e.message)) << e.message;
  EXPECT_LE(e.message.size(), kMaxMessage);
  EXPECT_NE(e.message.find("<!DOCTYPE html>"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.substr(e.message.size() - 3), "...");
}

TEST(ErrorFromResponse, BytesThatAreNotUtf8AreEscapedAndTheLineStaysBounded) {
  core::Error e = error_from_response(response(500, std::string(1000, '\xff')), kWhat);
  EXPECT_TRUE(core::is_utf8(e.message)) << e.message;
  EXPECT_NE(e.message.find("\\xff"), std::string::npos) << e.message;
  EXPECT_LE(e.message.size(), kMaxMessage);
  core::Error mixed = error_from_response(response(500, R"({"message":"caf\u00e9 \u202e \u0001ok"})"), kWhat);
  EXPECT_EQ(mixed.message, std::string(kWhat) + ": HTTP 500: caf\xc3\xa9 \xe2\x80\xae ok");
}

TEST(ErrorFromResponse, KeepsRetryAfter) {
  core::Error seconds = error_from_response(response(429, "", {{"retry-after", "17"}}), kWhat);
  EXPECT_EQ(seconds.retry_after, std::optional<std::chrono::seconds>(17s));
  core::Error garbage = error_from_response(response(503, "", {{"retry-after", "soon"}}), kWhat);
  EXPECT_FALSE(garbage.retry_after.has_value());
  core::Error none = error_from_response(response(503, ""), kWhat);
  EXPECT_FALSE(none.retry_after.has_value());
}

TEST(ParseRetryAfter, ReadsSecondsHttpDatesAndRejectsGarbage) {
  // "Wed, 21 Oct 2015 07:28:00 GMT" is 1445412480 seconds after the epoch.
  const auto date = std::chrono::system_clock::from_time_t(1445412480);
  struct Case {
    std::string_view value;
    std::chrono::system_clock::time_point now;
    std::optional<std::chrono::seconds> expected;
  };
  const Case cases[] = {
      {"120", date, 120s},
      {"0", date, 0s},
      {" 7 ", date, 7s},
      {"Wed, 21 Oct 2015 07:28:00 GMT", date - 30s, 30s},
      {"Wed, 21 Oct 2015 07:28:00 GMT", date, 0s},
      {"Wed, 21 Oct 2015 07:28:00 GMT", date + 1h, 0s},  // in the past: no wait
      {"", date, std::nullopt},
      {"soon", date, std::nullopt},
      {"-5", date, std::nullopt},
      {"1.5", date, std::nullopt},
      {"12abc", date, std::nullopt},
      {"Wed, 21 Oct 2015 07:28:00", date, std::nullopt},
      {"Wed, 21 Oct 2015 07:28:00 GMT trailing", date, std::nullopt},
      {"99999999999999999999999", date, std::nullopt},
      // Far past the system clock's nanosecond range: counted in seconds, no overflow.
      {"Fri, 31 Dec 9999 23:59:59 GMT", date, std::chrono::seconds(253402300799 - 1445412480)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(parse_retry_after(c.value, c.now), c.expected);
  }
}

}  // namespace
}  // namespace ferry::registry
