// WWW-Authenticate parsing: every real header in
// fixtures/auth/www-authenticate-challenges.json, specific parameters of the notable
// ones, grammar corner cases (quoted commas, escapes, token68, whitespace, empty list
// elements) and a table of malformed values with the problem each error must name.
#include <simdjson.h>

#include <string>
#include <vector>

#include "auth/auth.h"
#include "auth_test_util.h"

namespace ferry::auth {
namespace {

struct FixtureChallenge {
  std::string registry;
  std::string context;
  std::string header;
};

std::vector<FixtureChallenge> load_fixture_challenges() {
  std::string text = testing::read_fixture("auth/www-authenticate-challenges.json");
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::array entries;
  EXPECT_EQ(parser.parse(padded).get_array().get(entries), simdjson::SUCCESS);
  std::vector<FixtureChallenge> out;
  for (simdjson::dom::element e : entries) {
    std::string_view registry, context, header;
    EXPECT_EQ(e["registry"].get_string().get(registry), simdjson::SUCCESS);
    EXPECT_EQ(e["context"].get_string().get(context), simdjson::SUCCESS);
    EXPECT_EQ(e["header"].get_string().get(header), simdjson::SUCCESS);
    out.push_back({std::string(registry), std::string(context), std::string(header)});
  }
  return out;
}

// The fixture's parsed challenges at `index`, checking the entry is the expected registry.
std::vector<Challenge> fixture_at(std::size_t index, std::string_view registry) {
  static const auto all = load_fixture_challenges();
  EXPECT_LT(index, all.size());
  if (index >= all.size()) return {};
  EXPECT_EQ(all[index].registry, registry);
  auto parsed = parse_challenges(all[index].header);
  EXPECT_TRUE(parsed.has_value()) << all[index].header;
  return parsed ? *parsed : std::vector<Challenge>{};
}

TEST(ChallengeFixtures, EveryRealHeaderParses) {
  auto all = load_fixture_challenges();
  ASSERT_EQ(all.size(), 22u);
  for (const auto& f : all) {
    SCOPED_TRACE(f.registry + " / " + f.context + ": " + f.header);
    auto parsed = parse_challenges(f.header);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    ASSERT_FALSE(parsed->empty());
    for (const auto& ch : *parsed) {
      EXPECT_TRUE(ch.scheme == "bearer" || ch.scheme == "basic") << ch.scheme;
      EXPECT_FALSE(ch.param("realm").empty());
      EXPECT_TRUE(ch.token68.empty());
    }
  }
}

TEST(ChallengeFixtures, DockerHubPing) {
  auto chs = fixture_at(0, "Docker Hub");
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].scheme, "bearer");
  EXPECT_EQ(chs[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(chs[0].param("service"), "registry.docker.io");
  EXPECT_EQ(chs[0].param("scope"), "");
  EXPECT_EQ(chs[0].params.size(), 2u);
}

TEST(ChallengeFixtures, DockerHubInsufficientScope) {
  auto chs = fixture_at(1, "Docker Hub");
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].param("scope"), "repository:library/this-does-not-exist:pull");
  EXPECT_EQ(chs[0].param("error"), "insufficient_scope");
  EXPECT_EQ(chs[0].params.size(), 4u);
}

TEST(ChallengeFixtures, DockerHubInvalidTokenAndCatalogScope) {
  auto invalid = fixture_at(2, "Docker Hub");
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(invalid[0].param("error"), "invalid_token");
  EXPECT_EQ(invalid[0].param("scope"), "repository:ratelimitpreview/test:pull");
  auto catalog = fixture_at(4, "Docker Hub");
  ASSERT_EQ(catalog.size(), 1u);
  EXPECT_EQ(catalog[0].param("scope"), "registry:catalog:*");
  EXPECT_EQ(catalog[0].param("error"), "insufficient_scope");
}

TEST(ChallengeFixtures, ArtifactRegistryPingHasNoService) {
  auto chs = fixture_at(9, "Artifact Registry (us-docker.pkg.dev)");
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].param("realm"), "https://us-docker.pkg.dev/v2/token");
  EXPECT_EQ(chs[0].params.count("service"), 0u);
  EXPECT_EQ(chs[0].param("service"), "");
}

TEST(ChallengeFixtures, EcrBasicWithRealmUrlAndService) {
  auto chs = fixture_at(11, "Amazon ECR");
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].scheme, "basic");
  EXPECT_EQ(chs[0].param("realm"), "https://123456789.dkr.ecr.eu-central-1.amazonaws.com/");
  EXPECT_EQ(chs[0].param("service"), "ecr.amazonaws.com");
}

TEST(ChallengeFixtures, CodebergTwoChallengesInOneValue) {
  auto chs = fixture_at(13, "Codeberg (Forgejo)");
  ASSERT_EQ(chs.size(), 2u);
  EXPECT_EQ(chs[0].scheme, "bearer");
  EXPECT_EQ(chs[0].param("realm"), "https://codeberg.org/v2/token");
  EXPECT_EQ(chs[0].param("service"), "container_registry");
  EXPECT_EQ(chs[0].param("scope"), "*");
  EXPECT_EQ(chs[1].scheme, "basic");
  EXPECT_EQ(chs[1].param("realm"), "https://codeberg.org/v2");
  EXPECT_EQ(chs[1].param("service"), "container_registry");
  EXPECT_EQ(chs[1].param("scope"), "*");
}

TEST(ChallengeFixtures, HarborHttpRealmOnPort) {
  auto chs = fixture_at(16, "Harbor");
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].param("realm"), "http://192.168.1.11:8090/service/token");
  EXPECT_EQ(chs[0].param("service"), "harbor-registry");
  auto url = token_request_url(chs[0], {"repository:library/nginx:pull"});
  ASSERT_TRUE(url.has_value()) << url.error().message;
  EXPECT_EQ(*url,
            "http://192.168.1.11:8090/service/token?service=harbor-registry"
            "&scope=repository%3Alibrary%2Fnginx%3Apull");
}

TEST(ChallengeFixtures, NexusUpperCaseBasic) {
  auto chs = fixture_at(21, "Sonatype Nexus");
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].scheme, "basic");
  EXPECT_EQ(chs[0].param("realm"), "Sonatype Nexus Repository Manager");
}

TEST(ChallengeFixtures, BasicRealmIsADisplayString) {
  auto artifactory = fixture_at(12, "JFrog Artifactory");
  ASSERT_EQ(artifactory.size(), 1u);
  EXPECT_EQ(artifactory[0].param("realm"), "Artifactory Realm");
  auto github = fixture_at(19, "docker.pkg.github.com");
  ASSERT_EQ(github.size(), 1u);
  EXPECT_EQ(github[0].param("realm"), "GitHub Package Registry");
}

TEST(ParseChallenges, QuotedCommasStayInTheValue) {
  auto chs = parse_challenges(
      R"(Bearer realm="https://auth.example.com/token",service="reg.example.com",)"
      R"(scope="repository:a/b:pull,push")");
  ASSERT_TRUE(chs.has_value()) << chs.error().message;
  ASSERT_EQ(chs->size(), 1u);
  EXPECT_EQ((*chs)[0].param("scope"), "repository:a/b:pull,push");
  EXPECT_EQ((*chs)[0].params.size(), 3u);
}

TEST(ParseChallenges, SeveralChallengesWithQuotedCommaInRealm) {
  auto chs = parse_challenges(R"(Bearer realm="a,b",service="x", Basic realm="y")");
  ASSERT_TRUE(chs.has_value()) << chs.error().message;
  ASSERT_EQ(chs->size(), 2u);
  EXPECT_EQ((*chs)[0].scheme, "bearer");
  EXPECT_EQ((*chs)[0].param("realm"), "a,b");
  EXPECT_EQ((*chs)[0].param("service"), "x");
  EXPECT_EQ((*chs)[1].scheme, "basic");
  EXPECT_EQ((*chs)[1].param("realm"), "y");
  EXPECT_EQ((*chs)[1].params.size(), 1u);
}

TEST(ParseChallenges, BackslashEscapesAreRemoved) {
  auto chs = parse_challenges(R"(Basic realm="say \"hi\" \\ to \a friend")");
  ASSERT_TRUE(chs.has_value()) << chs.error().message;
  EXPECT_EQ((*chs)[0].param("realm"), R"(say "hi" \ to a friend)");
}

TEST(ParseChallenges, SchemeAndParamNamesAreCaseInsensitive) {
  auto chs = parse_challenges(R"(BeArEr REALM="https://a/token", Service=reg)");
  ASSERT_TRUE(chs.has_value()) << chs.error().message;
  EXPECT_EQ((*chs)[0].scheme, "bearer");
  EXPECT_EQ((*chs)[0].params.count("realm"), 1u);
  EXPECT_EQ((*chs)[0].param("Realm"), "https://a/token");
  EXPECT_EQ((*chs)[0].param("SERVICE"), "reg");
}

TEST(ParseChallenges, ToleratesWhitespaceAndEmptyListElements) {
  auto chs = parse_challenges(" ,, Bearer   realm = \"x\" ,, ,\tservice=y ,  , Basic ,, Basic realm=z,  ");
  ASSERT_TRUE(chs.has_value()) << chs.error().message;
  ASSERT_EQ(chs->size(), 3u);
  EXPECT_EQ((*chs)[0].param("realm"), "x");
  EXPECT_EQ((*chs)[0].param("service"), "y");
  EXPECT_EQ((*chs)[1].scheme, "basic");
  EXPECT_TRUE((*chs)[1].params.empty());
  EXPECT_EQ((*chs)[2].param("realm"), "z");
}

TEST(ParseChallenges, Token68) {
  auto chs = parse_challenges("Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MII+/Gn==, Bearer realm=\"r\"");
  ASSERT_TRUE(chs.has_value()) << chs.error().message;
  ASSERT_EQ(chs->size(), 2u);
  EXPECT_EQ((*chs)[0].scheme, "negotiate");
  EXPECT_EQ((*chs)[0].token68, "YIIGhgYJKoZIhvcSAQICAQBuggZ1MII+/Gn==");
  EXPECT_TRUE((*chs)[0].params.empty());
  EXPECT_EQ((*chs)[1].param("realm"), "r");
  auto bare = parse_challenges("Basic dXNlcjpwYXNz");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ((*bare)[0].token68, "dXNlcjpwYXNz");
}

TEST(ParseChallenges, SchemeWithoutParams) {
  auto chs = parse_challenges("Basic");
  ASSERT_TRUE(chs.has_value());
  ASSERT_EQ(chs->size(), 1u);
  EXPECT_EQ((*chs)[0].scheme, "basic");
  EXPECT_TRUE((*chs)[0].params.empty());
  EXPECT_EQ((*chs)[0].param("realm"), "");
}

struct MalformedCase {
  const char* header;
  const char* problem;  // substring the error must contain
};

TEST(ParseChallenges, MalformedValuesNameTheProblem) {
  const MalformedCase cases[] = {
      {R"(Bearer realm="https://auth.docker.io/token)", "unterminated quoted string"},
      {R"(Bearer realm="x\)", "unterminated quoted string"},
      {R"(Bearer realm "x")", "missing '=' after parameter \"realm\""},
      {R"(Bearer realm="x", service "y")", "missing '=' after parameter \"service\""},
      {R"(Bearer realm="x" service="y")", "expected ',' after parameter value"},
      {R"(Bearer realm=""x)", "expected ',' after parameter value"},
      {R"(Bearer realm=https://auth.example/token)", "expected ',' after parameter value"},
      {R"(Bearer realm="x",service=)", "missing value for parameter"},
      {R"(Bearer realm="x", service=,)", "missing value for parameter"},
      {R"(Bearer realm="x", realm="y")", "duplicate parameter"},
      {R"(Bearer realm="x", REALM="y")", "duplicate parameter"},
      {"Bearer realm=\"a\x01z\"", "control character in quoted string"},
      {R"("Bearer")", "expected an auth scheme"},
      {R"(=realm)", "expected an auth scheme"},
      {R"(Bearer "x")", "expected a parameter name"},
      {R"(Bearer realm="x", "y")", "expected a parameter or an auth scheme"},
      {R"(Bearer="x")", "expected a space after the auth scheme"},
      {"", "no challenge"},
      {" , ,\t", "no challenge"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    auto parsed = parse_challenges(c.header);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().kind, core::ErrorKind::InvalidInput);
    EXPECT_NE(parsed.error().message.find(c.problem), std::string::npos) << parsed.error().message;
    EXPECT_NE(parsed.error().message.find("WWW-Authenticate"), std::string::npos);
  }
}

TEST(ParseChallenges, ErrorEchoIsCappedAndSanitised) {
  auto forged = parse_challenges("Bearer\x1b[31m realm=\"x\"\r\nX-Forged: 1");
  ASSERT_FALSE(forged.has_value());
  const std::string& m1 = forged.error().message;
  EXPECT_EQ(m1.find('\x1b'), std::string::npos) << m1;
  EXPECT_EQ(m1.find('\n'), std::string::npos) << m1;
  EXPECT_EQ(m1.find('\r'), std::string::npos) << m1;
  EXPECT_NE(m1.find("Bearer?[31m"), std::string::npos) << m1;
  EXPECT_NE(m1.find("expected a space after the auth scheme at offset 6"), std::string::npos) << m1;

  std::string header = "Bearer realm=\"" + std::string(500, 'A');  // unterminated
  auto longer = parse_challenges(header);
  ASSERT_FALSE(longer.has_value());
  const std::string& m2 = longer.error().message;
  EXPECT_LT(m2.size(), 200u) << m2;
  EXPECT_NE(m2.find(std::string(86, 'A') + "..."), std::string::npos) << m2;
  EXPECT_EQ(m2.find(std::string(87, 'A')), std::string::npos) << m2;
  EXPECT_NE(m2.find("unterminated quoted string at offset 13"), std::string::npos) << m2;
}

}  // namespace
}  // namespace ferry::auth
