// registry_resolver: the one place every command gets its RegistryOptions from.
// Precedence of credentials (command line > watchlist > docker config), insecure
// from either the flag or the watchlist, ca_file and concurrency from the watchlist,
// max_attempts (flag > registry > watchlist), Docker Hub aliases folded, and a
// missing watchlist secret failing before any request without naming the secret.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config/registry_options.h"
#include "temp_dir.h"

namespace ferry::config {
namespace {

auth::CredentialStore docker_config(const std::string& host, const std::string& user) {
  auto s = auth::CredentialStore::parse(
      "{\"auths\":{\"" + host + "\":{\"auth\":\"" + auth::base64_encode(user + ":pw-" + user) + "\"}}}", "config.json");
  EXPECT_TRUE(s) << s.error().message;
  return s ? *s : auth::CredentialStore{};
}

Watchlist watchlist(testing::TempDir& dir) {
  dir.write("token", "wl-secret\n");
  auto w = parse(
      "store: s\nexport: e\nretry: {max_attempts: 7, blob_min_rate: 4096}\n"
      "registries:\n"
      "  reg.example.com:\n"
      "    ca_file: /etc/ferry/ca.pem\n"
      "    concurrency: 3\n"
      "    retry: {max_attempts: 2}\n"
      "    credentials: {username: wl, password_file: token}\n"
      "  127.0.0.1:5000: {insecure: true}\n"
      "images: [alpine]\n",
      "w.yaml", dir.path());
  EXPECT_TRUE(w) << w.error().message;
  return *w;
}

TEST(RegistryResolver, NoWatchlistUsesDockerConfigAndFlags) {
  auto r = registry_resolver(nullptr, RegistryFlags{{"Mirror.Local:5000"}, 4, std::nullopt, {}},
                             docker_config("https://index.docker.io/v1/", "hub"));
  ASSERT_TRUE(r) << r.error().message;
  auto hub = (*r)("docker.io");
  ASSERT_TRUE(hub.credentials);
  EXPECT_EQ(hub.credentials->username, "hub");
  EXPECT_FALSE(hub.insecure);
  EXPECT_EQ(hub.retry.max_attempts, 4);
  EXPECT_TRUE((*r)("mirror.local:5000").insecure) << "flags compare in registry key form";
  EXPECT_FALSE((*r)("mirror.local:5001").insecure);
  EXPECT_FALSE((*r)("other.io").credentials);
  EXPECT_EQ((*r)("other.io").ca_file, "");
}

TEST(RegistryResolver, WatchlistSettingsApply) {
  testing::TempDir dir;
  auto w = watchlist(dir);
  auto r = registry_resolver(&w, RegistryFlags{}, docker_config("reg.example.com", "docker"));
  ASSERT_TRUE(r) << r.error().message;
  auto reg = (*r)("Reg.Example.com");
  EXPECT_EQ(reg.ca_file, "/etc/ferry/ca.pem");
  EXPECT_EQ(reg.max_concurrency, 3);
  EXPECT_EQ(reg.retry.max_attempts, 2);
  ASSERT_TRUE(reg.credentials);
  EXPECT_EQ(reg.credentials->username, "wl") << "the watchlist wins over docker config";
  EXPECT_EQ(reg.credentials->password, "wl-secret");
  EXPECT_TRUE((*r)("127.0.0.1:5000").insecure);
  EXPECT_EQ((*r)("elsewhere.io").retry.max_attempts, 7) << "the watchlist's own retry for unlisted hosts";
  EXPECT_EQ(reg.retry.blob_min_rate, 4096u) << "the run-wide blob_min_rate applies to every registry";
}

TEST(RegistryResolver, CommandLineWins) {
  testing::TempDir dir;
  auto w = watchlist(dir);
  RegistryFlags flags{{"reg.example.com"}, 9, auth::Credentials{"cli", "pw", {}}, {"reg.example.com"}};
  auto r = registry_resolver(&w, flags, auth::CredentialStore{});
  ASSERT_TRUE(r) << r.error().message;
  auto reg = (*r)("reg.example.com");
  ASSERT_TRUE(reg.credentials);
  EXPECT_EQ(reg.credentials->username, "cli");
  EXPECT_EQ(reg.retry.max_attempts, 9);
  EXPECT_TRUE(reg.insecure);
  EXPECT_FALSE((*r)("127.0.0.2:5000").credentials) << "a login is only for the domains it names";
}

TEST(RegistryResolver, HubAliasesShareOneLogin) {
  RegistryFlags flags{{}, 0, auth::Credentials{"me", "pw", {}}, {"index.docker.io"}};
  auto r = registry_resolver(nullptr, flags, auth::CredentialStore{});
  ASSERT_TRUE(r) << r.error().message;
  auto hub = (*r)("docker.io");
  ASSERT_TRUE(hub.credentials);
  EXPECT_EQ(hub.credentials->username, "me");
}

TEST(RegistryResolver, MissingWatchlistSecretFailsNamingTheRegistry) {
  testing::TempDir dir;
  auto w = watchlist(dir);
  std::filesystem::remove(dir.path() / "token");
  auto r = registry_resolver(&w, RegistryFlags{}, auth::CredentialStore{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("registry reg.example.com"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("token"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace ferry::config
