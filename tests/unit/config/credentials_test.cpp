// resolve_credentials: passwords from a file (line endings stripped) and from an
// environment variable, and the failures (missing, unreadable, empty, multi-line,
// unset), whose messages name the file or variable and never the secret.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "config/config.h"
#include "temp_dir.h"

namespace ferry::config {
namespace {

constexpr const char* kSecret = "s3cr3t-T0ken";
constexpr const char* kEnvName = "FERRY_CONFIG_TEST_TOKEN";

void expect_no_secret(const core::Error& e) {
  EXPECT_EQ(e.message.find("s3cr3t"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("T0ken"), std::string::npos) << e.message;
}

TEST(ResolveCredentials, FromFileWithLineEndingsStripped) {
  testing::TempDir dir;
  for (const std::string suffix : {"", "\n", "\r\n", "\n\n"}) {
    auto file = dir.write("token", std::string(kSecret) + suffix);
    auto c = resolve_credentials({"bob", file.string(), ""});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->first, "bob");
    EXPECT_EQ(c->second, kSecret);
  }
}

TEST(ResolveCredentials, InnerSpacesAreKept) {
  testing::TempDir dir;
  auto c = resolve_credentials({"bob", dir.write("token", " a b \n").string(), ""});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->second, " a b ");
}

TEST(ResolveCredentials, FromEnvironment) {
  ::setenv(kEnvName, kSecret, 1);
  auto c = resolve_credentials({"alice", "", kEnvName});
  ::unsetenv(kEnvName);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->first, "alice");
  EXPECT_EQ(c->second, kSecret);
}

TEST(ResolveCredentials, MissingFileNamesTheFile) {
  testing::TempDir dir;
  auto path = (dir.path() / "absent").string();
  auto c = resolve_credentials({"bob", path, ""});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, core::ErrorKind::NotFound);
  EXPECT_EQ(c.error().message, "password file " + path + ": cannot open: No such file or directory");
}

TEST(ResolveCredentials, EmptyAndMultiLineFilesAreRefusedWithoutTheSecret) {
  testing::TempDir dir;
  auto empty = dir.write("empty", "\n");
  auto c = resolve_credentials({"bob", empty.string(), ""});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_EQ(c.error().message, "password file " + empty.string() + " is empty");

  auto multi = dir.write("multi", std::string(kSecret) + "\n" + kSecret + "\n");
  c = resolve_credentials({"bob", multi.string(), ""});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("password file " + multi.string() + " holds more than one line"),
            std::string::npos);
  expect_no_secret(c.error());
}

TEST(ResolveCredentials, UnreadableFileIsAnIoErrorWithoutTheSecret) {
  testing::TempDir dir;
  auto file = dir.write("token", kSecret);
  std::filesystem::permissions(file, std::filesystem::perms::none);
  // Root reads any file: check as an unprivileged user in a child process.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && ::setuid(65534) != 0) ::_exit(10);
    auto c = resolve_credentials({"bob", file.string(), ""});
    if (c) ::_exit(11);
    if (c.error().kind != core::ErrorKind::Io) ::_exit(12);
    if (c.error().message.find(file.string()) == std::string::npos) ::_exit(13);
    if (c.error().message.find(kSecret) != std::string::npos) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid, 11 read succeeded, 12 kind, 13 path missing, 14 secret leaked";
}

TEST(ResolveCredentials, DirectoryIsRefused) {
  testing::TempDir dir;
  auto c = resolve_credentials({"bob", dir.path().string(), ""});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("is a directory"), std::string::npos);
}

TEST(ResolveCredentials, EnvironmentFailuresNameTheVariableOnly) {
  ::unsetenv(kEnvName);
  auto c = resolve_credentials({"bob", "", kEnvName});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, core::ErrorKind::NotFound);
  EXPECT_EQ(c.error().message, std::string("environment variable ") + kEnvName + " is not set");

  ::setenv(kEnvName, "", 1);
  c = resolve_credentials({"bob", "", kEnvName});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, std::string("environment variable ") + kEnvName + " is empty");

  ::setenv(kEnvName, (std::string(kSecret) + "\nextra").c_str(), 1);
  c = resolve_credentials({"bob", "", kEnvName});
  ::unsetenv(kEnvName);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("holds more than one line"), std::string::npos);
  expect_no_secret(c.error());
}

TEST(ResolveCredentials, NoSourceIsInvalid) {
  auto c = resolve_credentials({"bob", "", ""});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, core::ErrorKind::InvalidInput);
}

TEST(ResolveCredentials, FromALoadedWatchlist) {
  testing::TempDir dir;
  dir.write("hub-token", std::string(kSecret) + "\n");
  auto file = dir.write("w.yaml",
                        "registries:\n  docker.io:\n    credentials: {username: bob, password_file: hub-token}\n"
                        "images: [alpine]\n");
  auto w = load(file);
  ASSERT_TRUE(w) << w.error().message;
  const RegistrySettings* hub = find_registry(*w, "index.docker.io");
  ASSERT_NE(hub, nullptr);
  ASSERT_TRUE(hub->credentials);
  auto c = resolve_credentials(*hub->credentials);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*c, (std::pair<std::string, std::string>{"bob", kSecret}));
}

}  // namespace
}  // namespace ferry::config
