// Bad watchlists: a table of inline YAML texts, each with the exact
// `origin:line:column:` its error must start with and a substring naming the
// problem. Covers malformed YAML, wrong types, unknown and duplicate keys, values out
// of range, invalid references, platforms and schedules, registry and credential
// rules, duplicate images, and yaml-cpp's own failures (which must come back as
// errors, never exceptions). Every message must be a single line.
#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.h"

namespace ferry::config {
namespace {

struct BadCase {
  std::string name;
  std::string yaml;
  std::string prefix;  // exact start of the message
  std::string what;    // must appear in the message
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

const std::string kDigest = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::vector<BadCase> yaml_and_shape_cases() {
  return {
      {"empty file", "", "w.yaml:1:1: ", "empty watchlist"},
      {"only comments", "# nothing\n\n# here\n", "w.yaml:1:1: ", "empty watchlist"},
      {"null document", "~\n", "w.yaml:1:1: ", "empty watchlist"},
      {"unclosed flow sequence", "store: /s\nimages: [a, b\nconcurrency: 2\n", "w.yaml:3:12: ",
       "end of sequence flow not found"},
      {"bad indentation", "images:\n  - a\n   b: 1\n", "w.yaml:3:", "illegal map value"},
      {"tab indentation", "images:\n\t- a\n", "w.yaml:2:2: ", "illegal block entry"},
      {"top level list", "- ubuntu\n", "w.yaml:1:1: ", "must be a mapping"},
      {"top level scalar", "ubuntu\n", "w.yaml:1:1: ", "must be a mapping"},
      {"two documents", "images: []\n---\nimages: []\n", "w.yaml:3:1: ", "more than one YAML document"},
      {"missing images", "store: /s\n", "w.yaml:1:1: ", "missing required key \"images\""},
      {"unknown top key", "images: []\nstorage: /s\n", "w.yaml:2:1: ",
       "unknown key \"storage\" in the watchlist (expected store, export, schedule, concurrency, segments, "
       "foreign_layers, platforms, retry, registries, images, mirror_to)"},
      {"duplicate top key", "images: []\nstore: /a\nstore: /b\n", "w.yaml:3:1: ",
       "duplicate key \"store\" in the watchlist (first on line 2)"},
      {"non-string key", "[a]: 1\nimages: []\n", "w.yaml:1:1: ", "keys must be strings"},
      {"images a mapping", "images: {ubuntu: 1}\n", "w.yaml:1:9: ", "images: must be a list"},
      {"images a string", "images: ubuntu\n", "w.yaml:1:9: ", "got a string"},
      {"store a list", "store: [a]\nimages: []\n", "w.yaml:1:8: ", "store: must be a string, got a list"},
      {"store empty", "store:\nimages: []\n", "w.yaml:1:1: ", "store: must be a string, got nothing"},
      {"store empty string", "store: \"\"\nimages: []\n", "w.yaml:1:8: ", "store: must not be empty"},
      {"export a mapping", "export: {a: b}\nimages: []\n", "w.yaml:1:9: ", "export: must be a string"},
      {"mirror_to a string", "images: []\nmirror_to: reg:5000\n", "w.yaml:2:12: ", "must be a mapping"},
      {"mirror_to without registry", "images: []\nmirror_to:\n  prefix: m\n", "w.yaml:3:3: ",
       "mirror_to: missing required key \"registry\""},
      {"mirror_to registry not a host", "images: []\nmirror_to: {registry: mirror}\n", "w.yaml:2:23: ",
       "registry \"mirror\" is not a registry host"},
      {"mirror_to registry with a path", "images: []\nmirror_to: {registry: reg:5000/x}\n", "w.yaml:2:23: ",
       "is not a registry host"},
      {"mirror_to bad prefix", "images: []\nmirror_to: {registry: reg:5000, prefix: Bad/Prefix}\n", "w.yaml:2:41: ",
       "prefix \"Bad/Prefix\" is not a repository path"},
      {"mirror_to unknown key", "images: []\nmirror_to: {registry: reg:5000, insecure: true}\n", "w.yaml:2:33: ",
       "unknown key \"insecure\" in mirror_to (expected registry, prefix)"},
  };
}

std::vector<BadCase> value_cases() {
  return {
      {"concurrency zero", "images: []\nconcurrency: 0\n", "w.yaml:2:14: ",
       "concurrency: must be an integer between 1 and 256, got \"0\""},
      {"concurrency too big", "concurrency: 257\nimages: []\n", "w.yaml:1:14: ", "got \"257\""},
      {"concurrency negative", "concurrency: -1\nimages: []\n", "w.yaml:1:14: ", "got \"-1\""},
      {"concurrency float", "concurrency: 8.0\nimages: []\n", "w.yaml:1:14: ", "got \"8.0\""},
      {"concurrency hex", "concurrency: 0x10\nimages: []\n", "w.yaml:1:14: ", "got \"0x10\""},
      {"segments zero", "segments: 0\nimages: []\n", "w.yaml:1:11: ",
       "segments: must be an integer between 1 and 16, got \"0\""},
      {"segments too many", "segments: 17\nimages: []\n", "w.yaml:1:11: ", "got \"17\""},
      {"concurrency huge", "concurrency: 99999999999999999999\nimages: []\n", "w.yaml:1:14: ", "between 1 and 256"},
      {"concurrency list", "concurrency: [8]\nimages: []\n", "w.yaml:1:14: ", "got a list"},
      {"schedule bad", "schedule: daily\nimages: []\n", "w.yaml:1:11: ", "schedule: invalid schedule \"daily\""},
      {"schedule hour", "schedule: \"24:00\"\nimages: []\n", "w.yaml:1:11: ", "between 00:00 and 23:59"},
      {"schedule unit", "schedule: every 6w\nimages: []\n", "w.yaml:1:11: ", "unknown unit 'w'"},
      {"schedule zero", "schedule: every 0s\nimages: []\n", "w.yaml:1:11: ", "interval must be between"},
      {"schedule a list", "schedule: [\"02:00\"]\nimages: []\n", "w.yaml:1:11: ", "schedule: must be a string"},
      {"platforms a string", "platforms: linux/amd64\nimages: []\n", "w.yaml:1:12: ", "platforms: must be a list"},
      {"platforms empty", "platforms: []\nimages: []\n", "w.yaml:1:12: ", "at least one platform"},
      {"platform no arch", "platforms: [linux/amd64, linux]\nimages: []\n", "w.yaml:1:26: ",
       "invalid platform \"linux\""},
      {"platform twice", "platforms: [linux/amd64, linux/amd64]\nimages: []\n", "w.yaml:1:26: ",
       "linux/amd64 listed twice"},
      {"retry a number", "retry: 5\nimages: []\n", "w.yaml:1:8: ",
       "retry: must be a mapping (max_attempts, deadline, blob_min_rate), got a string"},
      {"retry unknown key", "retry: {attempts: 3}\nimages: []\n", "w.yaml:1:9: ",
       "unknown key \"attempts\" in retry (expected max_attempts, deadline, blob_min_rate)"},
      {"max_attempts zero", "retry: {max_attempts: 0}\nimages: []\n", "w.yaml:1:23: ",
       "max_attempts: must be an integer between 1 and 100, got \"0\""},
      {"max_attempts too big", "images: []\nretry:\n  max_attempts: 101\n", "w.yaml:3:17: ", "got \"101\""},
      {"deadline no unit", "retry: {deadline: 90}\nimages: []\n", "w.yaml:1:19: ",
       "deadline: invalid duration \"90\": missing unit after the number"},
      {"deadline bad unit", "retry: {deadline: 2w}\nimages: []\n", "w.yaml:1:19: ", "unknown unit 'w'"},
      {"deadline zero", "retry: {deadline: 0s}\nimages: []\n", "w.yaml:1:19: ", "must be between 1s and 365d"},
      {"deadline words", "retry: {deadline: two hours}\nimages: []\n", "w.yaml:1:19: ",
       "invalid duration \"two hours\""},
      {"deadline a list", "retry: {deadline: [1h]}\nimages: []\n", "w.yaml:1:19: ", "deadline: must be a string"},
  };
}

std::vector<BadCase> image_cases() {
  return {
      {"invalid reference", "images:\n  - ubuntu\n  - Ubuntu:24.04\n", "w.yaml:3:5: ",
       "invalid reference \"Ubuntu:24.04\": repository name must be lowercase"},
      {"invalid digest", "images:\n  - app@sha256:abc\n", "w.yaml:2:5: ", "invalid reference \"app@sha256:abc\""},
      {"empty item", "images:\n  - ubuntu\n  - \"\"\n", "w.yaml:3:5: ", "image entry must be a reference"},
      {"list item", "images:\n  - [ubuntu]\n", "w.yaml:2:5: ", "got a list"},
      {"unknown image key", "images:\n  - name: x\n    platfroms: [linux/amd64]\n", "w.yaml:3:5: ",
       "unknown key \"platfroms\" in image entry (expected name, tags, platforms, all_platforms, referrers)"},
      {"missing name", "images:\n  - tags: [a]\n", "w.yaml:2:5: ", "image entry: missing name"},
      {"name a list", "images:\n  - name: [x]\n", "w.yaml:2:11: ", "name: must be a string"},
      {"bad name", "images:\n  - name: a//b\n", "w.yaml:2:11: ", "name: invalid reference \"a//b\""},
      {"name with tag and tags", "images:\n  - name: nginx:1.27\n    tags: [latest]\n", "w.yaml:2:11: ",
       "already has a tag or digest"},
      {"name with digest and tags", "images:\n  - name: nginx@" + kDigest + "\n    tags: [latest]\n",
       "w.yaml:2:11: ", "already has a tag or digest"},
      {"tags a string", "images:\n  - name: nginx\n    tags: latest\n", "w.yaml:3:11: ",
       "tags: must be a list of tags"},
      {"tags empty", "images:\n  - name: nginx\n    tags: []\n", "w.yaml:3:11: ", "at least one tag"},
      {"tag with colon", "images:\n  - name: nginx\n    tags: [ok, \"a:b\"]\n", "w.yaml:3:16: ",
       "tags: invalid tag \"a:b\""},
      {"tag invalid", "images:\n  - name: nginx\n    tags: [\".x\"]\n", "w.yaml:3:12: ", "must start with"},
      {"tag a mapping", "images:\n  - name: nginx\n    tags: [{a: b}]\n", "w.yaml:3:12: ", "tags: must be a string"},
      {"platforms and all", "images:\n  - name: x\n    platforms: [linux/arm64]\n    all_platforms: true\n",
       "w.yaml:4:5: ", "cannot be combined with platforms"},
      {"all_platforms not bool", "images:\n  - name: x\n    all_platforms: sure\n", "w.yaml:3:20: ",
       "all_platforms: must be true or false, got \"sure\""},
      {"image platform bad", "images:\n  - name: x\n    platforms: [linux/amd64/v1/x]\n", "w.yaml:3:17: ",
       "too many parts"},
      {"duplicate image", "images:\n  - ubuntu\n  - alpine\n  - docker.io/library/ubuntu:latest\n", "w.yaml:4:5: ",
       "duplicate image docker.io/library/ubuntu:latest (already listed on line 2)"},
      {"duplicate via tags", "images:\n  - nginx:1.27\n  - name: index.docker.io/nginx\n    tags: [\"1.27\"]\n",
       "w.yaml:4:12: ", "duplicate image docker.io/library/nginx:1.27 (already listed on line 2)"},
      {"duplicate tag", "images:\n  - name: nginx\n    tags: [a, b, a]\n", "w.yaml:3:18: ",
       "duplicate image docker.io/library/nginx:a (already listed on line 3)"},
  };
}

std::vector<BadCase> registry_cases() {
  return {
      {"registries a list", "registries: [docker.io]\nimages: []\n", "w.yaml:1:13: ",
       "registries: must be a mapping"},
      {"registry not a host", "registries:\n  myregistry: {}\nimages: []\n", "w.yaml:2:3: ",
       "invalid registry \"myregistry\": not a host name"},
      {"registry namespace", "registries:\n  library: {}\nimages: []\n", "w.yaml:2:3: ",
       "invalid registry \"library\": not a host name"},
      {"registry with scheme", "registries:\n  \"https://ghcr.io\": {}\nimages: []\n", "w.yaml:2:3: ",
       "without scheme or path"},
      {"registry bad port", "registries:\n  ghcr.io:x: {}\nimages: []\n", "w.yaml:2:3: ", "invalid port \"x\""},
      {"registry alias twice", "registries:\n  docker.io: {}\n  INDEX.docker.io: {}\nimages: []\n", "w.yaml:3:3: ",
       "\"INDEX.docker.io\" is docker.io, already configured on line 2"},
      {"registry a string", "registries:\n  ghcr.io: yes\nimages: []\n", "w.yaml:2:12: ",
       "registry \"ghcr.io\" must be a mapping, got a string"},
      {"registry unknown key", "registries:\n  ghcr.io:\n    insecure: true\n    tls: false\nimages: []\n",
       "w.yaml:4:5: ",
       "unknown key \"tls\" in registry \"ghcr.io\" (expected insecure, ca_file, credentials, concurrency, retry)"},
      {"insecure not bool", "registries:\n  ghcr.io: {insecure: yes}\nimages: []\n", "w.yaml:2:23: ",
       "insecure: must be true or false, got \"yes\""},
      {"registry retry deadline", "registries:\n  ghcr.io: {retry: {deadline: 1h}}\nimages: []\n", "w.yaml:2:21: ",
       "unknown key \"deadline\" in retry (expected max_attempts)"},
      {"registry max_attempts", "registries:\n  ghcr.io:\n    retry: {max_attempts: -2}\nimages: []\n",
       "w.yaml:3:27: ", "max_attempts: must be an integer between 1 and 100, got \"-2\""},
      {"registry retry a list", "registries:\n  ghcr.io: {retry: [3]}\nimages: []\n", "w.yaml:2:20: ",
       "retry: must be a mapping (max_attempts), got a list"},
      {"registry concurrency", "registries:\n  ghcr.io: {concurrency: 0}\nimages: []\n", "w.yaml:2:26: ",
       "concurrency: must be an integer between 1 and 256"},
      {"ca_file empty", "registries:\n  ghcr.io: {ca_file: \"\"}\nimages: []\n", "w.yaml:2:22: ",
       "ca_file: must not be empty"},
      {"credentials a string", "registries:\n  ghcr.io: {credentials: bob}\nimages: []\n", "w.yaml:2:26: ",
       "credentials: must be a mapping"},
      {"credentials unknown key",
       "registries:\n  ghcr.io:\n    credentials:\n      username: bob\n      password_fle: /x\nimages: []\n",
       "w.yaml:5:7: ", "unknown key \"password_fle\" in credentials (expected username, password_file, password_env)"},
      {"credentials no username", "registries:\n  ghcr.io:\n    credentials: {password_env: T}\nimages: []\n",
       "w.yaml:3:5: ", "credentials: missing username"},
      {"credentials neither", "registries:\n  ghcr.io:\n    credentials: {username: bob}\nimages: []\n",
       "w.yaml:3:5: ", "missing password_file or password_env"},
      {"credentials both",
       "registries:\n  ghcr.io:\n    credentials:\n      username: bob\n      password_env: T\n"
       "      password_file: /t\nimages: []\n",
       "w.yaml:6:7: ", "give password_file or password_env, not both"},
      {"credentials bad env name",
       "registries:\n  ghcr.io:\n    credentials: {username: bob, password_env: \"HUB-TOKEN\"}\nimages: []\n",
       "w.yaml:3:48: ", "password_env: not an environment variable name"},
      {"credentials duplicate key",
       "registries:\n  ghcr.io:\n    credentials: {username: a, username: b, password_env: T}\nimages: []\n",
       "w.yaml:3:32: ", "duplicate key \"username\" in credentials (first on line 3)"},
  };
}

class BadWatchlist : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadWatchlist, FailsWithPositionAndMessage) {
  const BadCase& c = GetParam();
  auto result = parse(c.yaml, "w.yaml", "/base");
  ASSERT_FALSE(result.has_value()) << "accepted: " << c.yaml;
  const core::Error& e = result.error();
  EXPECT_EQ(e.kind, core::ErrorKind::InvalidInput);
  EXPECT_TRUE(e.message.starts_with(c.prefix)) << e.message;
  EXPECT_NE(e.message.find(c.what), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find('\n'), std::string::npos) << e.message;
}

std::string case_name(const ::testing::TestParamInfo<BadCase>& info) {
  std::string out;
  for (char c : info.param.name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

INSTANTIATE_TEST_SUITE_P(YamlAndShape, BadWatchlist, ::testing::ValuesIn(yaml_and_shape_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Values, BadWatchlist, ::testing::ValuesIn(value_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Images, BadWatchlist, ::testing::ValuesIn(image_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Registries, BadWatchlist, ::testing::ValuesIn(registry_cases()), case_name);

TEST(BadWatchlistSecrets, InlinePasswordIsRefusedWithoutEchoingIt) {
  auto result = parse(
      "registries:\n  ghcr.io:\n    credentials: {username: bob, password: hunter2-secret}\nimages: []\n", "w.yaml");
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().message.starts_with("w.yaml:3:34: ")) << result.error().message;
  EXPECT_NE(result.error().message.find("use password_file or password_env"), std::string::npos);
  EXPECT_EQ(result.error().message.find("hunter2"), std::string::npos);
}

TEST(BadWatchlistSecrets, SecretPastedAsEnvNameIsNotEchoed) {
  auto result = parse("registries:\n  ghcr.io:\n    credentials: {username: bob, password_env: \"dckr_pat s3cret\"}\n"
                      "images: []\n",
                      "w.yaml");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message.find("s3cret"), std::string::npos) << result.error().message;
}

TEST(BadWatchlistYaml, DeepNestingIsAnErrorNotACrash) {
  std::string yaml = "images: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  auto result = parse(yaml, "w.yaml");
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().message.starts_with("w.yaml:1:")) << result.error().message;
  EXPECT_NE(result.error().message.find("levels deep"), std::string::npos) << result.error().message;
}

TEST(BadWatchlistYaml, ControlBytesInValuesAreNotEchoed) {
  auto result = parse("concurrency: \"1\\e[31m2\"\nimages: []\n", "w.yaml");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message.find('\x1b'), std::string::npos);
  EXPECT_NE(result.error().message.find("got \"1[31m2\""), std::string::npos) << result.error().message;
}

}  // namespace
}  // namespace ferry::config
