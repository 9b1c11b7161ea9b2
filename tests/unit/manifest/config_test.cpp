// Image configs: the real hello-world configs from tests/fixtures/configs (classic
// builder and BuildKit, amd64 and arm64), and malformed configs.
#include <gtest/gtest.h>

#include <string>

#include "digest/digest.h"
#include "fixtures.h"
#include "manifest/manifest.h"

namespace ferry::manifest {
namespace {

using core::ErrorKind;
using digest::sha256_of;
using testing::config_fixture;

std::string hex_of(const std::string& bytes) { return std::string(sha256_of(bytes).hex()); }

TEST(Config, ClassicBuilderConfigWithEmptyLayerHistory) {
  std::string body = config_fixture("dockerhub-hello-world-amd64-2020-config.json");
  EXPECT_EQ(body.size(), 1510u);
  EXPECT_TRUE(hex_of(body).starts_with("bf756fb1"));
  auto config = parse_config(body);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->platform.str(), "linux/amd64");
  ASSERT_EQ(config->diff_ids.size(), 1u);  // two history entries, one empty_layer
  EXPECT_EQ(config->diff_ids[0].str(), "sha256:9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63");
}

TEST(Config, BuildKitOciConfig) {
  std::string body = config_fixture("dockerhub-hello-world-amd64-2023-oci-config-buildkit.json");
  EXPECT_EQ(body.size(), 581u);
  EXPECT_TRUE(hex_of(body).starts_with("d2c94e25"));
  auto config = parse_config(body);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->platform, (Platform{"linux", "amd64", "", ""}));
  ASSERT_EQ(config->diff_ids.size(), 1u);
  EXPECT_TRUE(config->diff_ids[0].hex().starts_with("ac28800e"));
}

TEST(Config, Arm64ConfigAsStoredByDockerSave) {
  std::string body = config_fixture("dockerhub-hello-world-arm64-2023-buildkit-config.json");
  EXPECT_EQ(body.size(), 581u);
  EXPECT_TRUE(hex_of(body).starts_with("ee301c92"));
  auto config = parse_config(body);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->platform.architecture, "arm64");
  EXPECT_TRUE(config->platform.variant.empty());  // the index says v8; the config does not
  ASSERT_EQ(config->diff_ids.size(), 1u);
  EXPECT_TRUE(config->diff_ids[0].hex().starts_with("12660636"));
}

TEST(Config, VariantAndOsVersionAreRead) {
  auto config = parse_config(
      R"({"os":"windows","architecture":"arm64","variant":"v8","os.version":"10.0.20348.473",)"
      R"("rootfs":{"type":"layers","diff_ids":[]}})");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->platform, (Platform{"windows", "arm64", "v8", "10.0.20348.473"}));
  EXPECT_TRUE(config->diff_ids.empty());
}

TEST(Config, MalformedConfigsNameTheField) {
  const std::string good_id = "sha256:9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63";
  struct Case {
    std::string body;
    std::string message_prefix;
  };
  const Case cases[] = {
      {R"({"os":"linux","architecture":"amd64"})", "config: rootfs: missing"},
      {R"({"os":"linux","architecture":"amd64","rootfs":null})", "config: rootfs: missing"},
      {R"({"os":"linux","architecture":"amd64","rootfs":{"type":"layers"}})", "config: rootfs.diff_ids: missing"},
      {R"({"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["sha256:../../x"]}})",
       "config: rootfs.diff_ids[0]: invalid digest \"sha256:../../x\""},
      {R"({"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[")" + good_id + R"(",7]}})",
       "config: rootfs.diff_ids[1]: want a digest string, got number"},
      {R"({"os":"linux","architecture":"amd64","rootfs":{"type":"tarball","diff_ids":[]}})",
       "config: rootfs.type: want \"layers\""},
      {R"({"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}})", "config: os: missing"},
      {R"({"os":"linux","architecture":64,"rootfs":{"type":"layers","diff_ids":[]}})",
       "config: architecture: want a string, got number"},
      {"[]", "config: top level is a JSON array"},
      {"not json", "config: not valid JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto config = parse_config(c.body);
    ASSERT_FALSE(config);
    EXPECT_TRUE(config.error().message.starts_with(c.message_prefix)) << config.error().message;
    EXPECT_EQ(config.error().message.find('\n'), std::string::npos);
  }
}

TEST(Config, OversizedConfigIsRefused) {
  std::string body(kMaxConfigSize + 1, ' ');
  auto config = parse_config(body);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().kind, ErrorKind::InvalidInput);
  EXPECT_NE(config.error().message.find(std::to_string(kMaxConfigSize)), std::string::npos);
}

}  // namespace
}  // namespace ferry::manifest
