// Watchlists that hung or crashed the YAML layer: each must end, quickly, in one
// `w.yaml:LINE:COLUMN: message` error. The first ones made yaml-cpp 0.7's
// YAML::LoadAll loop forever while allocating (jbeder/yaml-cpp#1040: a token that
// cannot start a node, at the top of a document); the rest were found by
// tests/fuzz/config_fuzz.cpp. Each case runs in a child process (a gtest death test)
// under an alarm, so a regression fails the test instead of hanging the suite or
// eating the machine's memory. Last, a mapping with 100k keys, once quadratic.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.h"

namespace ferry::config {
namespace {

constexpr unsigned kSecondsAllowed = 5;  // a parse takes milliseconds; the hang never ends

struct HostileCase {
  std::string name;
  std::string yaml;
  std::string prefix;  // exact start of the message
  std::string what;    // must appear in the message
};

void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

std::vector<HostileCase> hostile_cases() {
  return {
      // jbeder/yaml-cpp#1040 and the inputs the config fuzz target found for it.
      {"comma then mapping", ",a:\n - b\n", "w.yaml:1:1: ", "unexpected ',' where a value should start"},
      {"lone comma", ",", "w.yaml:1:1: ", "unexpected ','"},
      {"comma after tag", "!tag ,\n", "w.yaml:1:6: ", "unexpected ','"},
      {"comma after anchor", "&a ,", "w.yaml:1:4: ", "unexpected ','"},
      {"comma after document start", "---\n,\n", "w.yaml:2:1: ", "unexpected ','"},
      {"comma after document end", "...\n,\n", "w.yaml:2:1: ", "unexpected ','"},
      {"comma after byte order mark", "\xEF\xBB\xBF  ,\n", "w.yaml:1:3: ", "unexpected ','"},
      {"comma in a second document", "images: []\n---\n,\n", "w.yaml:3:1: ", "more than one YAML document"},
      {"comma after a valid watchlist", "images: [a]\n...\n,\n", "w.yaml:3:1: ", "unexpected ','"},
      // Control bytes: refused where they stand, also inside quotes.
      {"NUL in a plain scalar", std::string("images: [busy\0box]\n", 19), "w.yaml:1:14: ", "control byte 0x00"},
      {"NUL in a quoted tag", std::string("images:\n  - \"a:\0\"\n", 19), "w.yaml:2:8: ", "control byte 0x00"},
      {"escape byte", "store: /x\x1b[2J\nimages: [a]\n", "w.yaml:1:10: ", "control byte 0x1b"},
      {"DEL", "images: [a\x7f]\n", "w.yaml:1:11: ", "control byte 0x7f"},
  };
}

class HostileYaml : public ::testing::TestWithParam<HostileCase> {};

// In the child: parse under an alarm, print the message, exit 0 when it was an
// error with the wanted position and words, 1 otherwise.
[[noreturn]] void parse_in_child(const HostileCase& c) {
  alarm(kSecondsAllowed);
  auto result = parse(c.yaml, "w.yaml", "/base");
  if (result) {
    std::fprintf(stderr, "accepted\n");
    std::_Exit(1);
  }
  const std::string& m = result.error().message;
  std::fprintf(stderr, "message: %s\n", m.c_str());
  bool ok = result.error().kind == core::ErrorKind::InvalidInput && m.starts_with(c.prefix) &&
            m.find(c.what) != std::string::npos && m.find('\n') == std::string::npos;
  std::_Exit(ok ? 0 : 1);
}

TEST_P(HostileYaml, EndsInOneLineErrorWithPosition) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const HostileCase& c = GetParam();
  EXPECT_EXIT(parse_in_child(c), ::testing::ExitedWithCode(0), "message: ")
      << "want \"" << c.prefix << "..." << c.what << "...\"";
}

std::string case_name(const ::testing::TestParamInfo<HostileCase>& info) {
  std::string out;
  for (char c : info.param.name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

INSTANTIATE_TEST_SUITE_P(Hangs, HostileYaml, ::testing::ValuesIn(hostile_cases()), case_name);

// A mapping with many keys is read in about linear time: the duplicate-key check
// once searched every earlier key (100k registries took minutes, 200k never ended
// in practice); now it takes a second or two. 40k keys (80k nodes) stays under the
// node cap below.
constexpr int kManyRegistries = 40'000;
constexpr unsigned kManySecondsAllowed = 20;

[[noreturn]] void parse_many_registries_in_child() {
  std::string yaml = "registries:\n";
  for (int i = 0; i < kManyRegistries; ++i) yaml += "  h" + std::to_string(i) + ".example: {}\n";
  yaml += "images: [alpine]\n";
  alarm(kManySecondsAllowed);
  auto result = parse(yaml, "w.yaml", "/base");
  std::fprintf(stderr, "parsed: %s\n", result ? "ok" : result.error().message.c_str());
  std::_Exit(result && result->registries.size() == kManyRegistries ? 0 : 1);
}

TEST(HostileYamlSize, ManyKeysInOneMappingAreReadQuickly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(parse_many_registries_in_child(), ::testing::ExitedWithCode(0), "parsed: ok");
}

// #13 item 7: 520k tags took 501 MB in yaml-cpp's tree. Past 100k nodes the
// watchlist is refused from the scouting pass, before any tree is built.
TEST(HostileYamlSize, MoreThanAHundredThousandNodesAreRefusedBeforeTheTree) {
  std::string yaml = "images:\n  - name: app\n    tags: [";
  for (int i = 0; i < 100'000; ++i) yaml += "t" + std::to_string(i) + ",";
  yaml += "last]\n";
  auto result = parse(yaml, "w.yaml", "/base");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("more than 100000 YAML nodes"), std::string::npos) << result.error().message;
  EXPECT_EQ(result.error().message.rfind("w.yaml:3:", 0), 0u) << result.error().message;
}

}  // namespace
}  // namespace ferry::config
