// Good watchlists: a file using every feature read into exact values, defaults when
// keys are absent, reference and registry-host normalisation, relative paths
// resolved against the file's directory (load) or the given/current directory
// (parse), find_registry and platforms_for, load()'s file errors, and the example
// watchlists shipped in config/.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "config/config.h"
#include "temp_dir.h"

namespace ferry::config {
namespace {

using manifest::Platform;

const std::string kDigest = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

const std::string kFull = R"(# every feature
store: /var/lib/ferry/store
export: export/out
schedule: "02:00"
concurrency: 16
segments: 6
platforms: [linux/amd64, linux/arm/v7]
registries:
  index.docker.io:
    credentials: { username: bob, password_file: secrets/hub-token }
    concurrency: 4
  127.0.0.1:5000: { insecure: true }
  Registry.Example.com: { ca_file: /etc/ferry/ca.pem }
  ghcr.io:
    credentials:
      username: alice
      password_env: GH_TOKEN
images:
  - ubuntu:24.04
  - name: nginx
    tags: ["1.27", latest]
    platforms: [linux/amd64, linux/arm64]
  - name: busybox
    all_platforms: true
  - ghcr.io/example/app@)" + kDigest + R"(
  - name: 127.0.0.1:5000/lab/tool
  - name: quay.io/org/img:v1
    all_platforms: false
)";

TEST(Watchlist, RetryBudgetAndDeadline) {
  auto w = parse("retry: {max_attempts: 9, deadline: 1h30m}\n"
                 "registries:\n  ghcr.io: {retry: {max_attempts: 2}}\n  quay.io: {}\n"
                 "images: [ubuntu]\n",
                 "r.yaml");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->retry.max_attempts, 9);
  ASSERT_TRUE(w->retry.deadline);
  EXPECT_EQ(*w->retry.deadline, std::chrono::seconds(5400));
  EXPECT_EQ(find_registry(*w, "ghcr.io")->max_attempts, 2);
  EXPECT_EQ(find_registry(*w, "quay.io")->max_attempts, 0);  // the top level's applies

  auto d = parse("images: [ubuntu]\n", "d.yaml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->retry.max_attempts, kDefaultMaxAttempts);
  ASSERT_TRUE(d->retry.deadline);  // a run always ends, unless told `none`
  EXPECT_EQ(*d->retry.deadline, kDefaultSyncDeadline);

  auto none = parse("retry: {deadline: none}\nimages: [ubuntu]\n", "n.yaml");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->retry.deadline);
}

TEST(Watchlist, BlobMinRateIsTheTopLevelsOnlyAndZeroTurnsTheCapOff) {
  auto d = parse("images: [ubuntu]\n", "d.yaml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_FALSE(d->retry.blob_min_rate);  // the client's default applies
  auto r = parse("retry: {blob_min_rate: 1024}\nimages: [ubuntu]\n", "r.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retry.blob_min_rate, 1024u);
  auto off = parse("retry: {blob_min_rate: 0}\nimages: [ubuntu]\n", "o.yaml");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->retry.blob_min_rate, 0u);
  auto per_registry = parse("registries:\n  ghcr.io: {retry: {blob_min_rate: 5}}\nimages: [ubuntu]\n", "p.yaml");
  ASSERT_FALSE(per_registry);
  EXPECT_NE(per_registry.error().message.find("unknown key \"blob_min_rate\""), std::string::npos)
      << per_registry.error().message;
  auto negative = parse("retry: {blob_min_rate: -1}\nimages: [ubuntu]\n", "n.yaml");
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().message.find("n.yaml:1:"), std::string::npos) << negative.error().message;
}

TEST(Watchlist, ForeignLayersAreFetchedUnlessRefused) {
  auto d = parse("images: [ubuntu]\n", "d.yaml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->fetch_foreign);
  auto r = parse("foreign_layers: refuse\nimages: [ubuntu]\n", "r.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->fetch_foreign);
  auto bad = parse("foreign_layers: maybe\nimages: [ubuntu]\n", "b.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "b.yaml:1:17: foreign_layers: want fetch or refuse, got \"maybe\"");
}

TEST(Watchlist, EveryFeature) {
  auto w = parse(kFull, "full.yaml", "/etc/ferry");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->source, "full.yaml");
  EXPECT_EQ(w->store, "/var/lib/ferry/store");
  EXPECT_EQ(w->export_dir, "/etc/ferry/export/out");
  EXPECT_EQ(w->schedule.kind, Schedule::Kind::Daily);
  EXPECT_EQ(w->schedule.hour, 2);
  EXPECT_EQ(w->schedule.minute, 0);
  EXPECT_EQ(w->concurrency, 16);
  EXPECT_EQ(w->segments, 6);
  EXPECT_EQ(w->platforms, (std::vector<Platform>{{"linux", "amd64", "", ""}, {"linux", "arm", "v7", ""}}));

  ASSERT_EQ(w->registries.size(), 4u);
  const RegistrySettings& hub = w->registries.at("docker.io");
  EXPECT_EQ(hub.host, "docker.io");
  EXPECT_FALSE(hub.insecure);
  EXPECT_EQ(hub.concurrency, 4);
  ASSERT_TRUE(hub.credentials);
  EXPECT_EQ(*hub.credentials, (CredentialSource{"bob", "/etc/ferry/secrets/hub-token", ""}));
  EXPECT_TRUE(w->registries.at("127.0.0.1:5000").insecure);
  EXPECT_EQ(w->registries.at("127.0.0.1:5000").concurrency, 0);
  EXPECT_EQ(w->registries.at("registry.example.com").ca_file, "/etc/ferry/ca.pem");
  EXPECT_EQ(*w->registries.at("ghcr.io").credentials, (CredentialSource{"alice", "", "GH_TOKEN"}));

  ASSERT_EQ(w->images.size(), 7u);
  const std::vector<std::pair<std::string, int>> expected = {
      {"docker.io/library/ubuntu:24.04", 19},        {"docker.io/library/nginx:1.27", 21},
      {"docker.io/library/nginx:latest", 21},        {"docker.io/library/busybox:latest", 23},
      {"ghcr.io/example/app@" + kDigest, 25},        {"127.0.0.1:5000/lab/tool:latest", 26},
      {"quay.io/org/img:v1", 27},
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(w->images[i].ref.str(), expected[i].first);
    EXPECT_EQ(w->images[i].line, expected[i].second);
  }
  const std::vector<Platform> two = {{"linux", "amd64", "", ""}, {"linux", "arm64", "", ""}};
  EXPECT_TRUE(w->images[0].platforms.empty());
  EXPECT_EQ(w->images[1].platforms, two);
  EXPECT_EQ(w->images[2].platforms, two);
  EXPECT_TRUE(w->images[3].all_platforms);
  EXPECT_FALSE(w->images[6].all_platforms);
  EXPECT_FALSE(w->images[4].ref.digest->str().empty());
  EXPECT_TRUE(w->images[4].ref.tag.empty());
}

TEST(Watchlist, DefaultsWhenKeysAreAbsent) {
  auto w = parse("images: [alpine]\n", "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->store, "");
  EXPECT_EQ(w->export_dir, "");
  EXPECT_EQ(w->schedule.kind, Schedule::Kind::None);
  EXPECT_EQ(w->concurrency, kDefaultConcurrency);
  EXPECT_EQ(w->segments, kDefaultSegments);
  EXPECT_EQ(w->platforms, (std::vector<Platform>{{"linux", "amd64", "", ""}}));
  EXPECT_TRUE(w->registries.empty());
  ASSERT_EQ(w->images.size(), 1u);
  EXPECT_EQ(w->images[0].ref.str(), "docker.io/library/alpine:latest");
  EXPECT_EQ(w->images[0].line, 1);
}

TEST(Watchlist, EmptyImageListsAndEmptySectionsAreAccepted) {
  for (const char* yaml : {"images: []\n", "images:\n", "images:\n# - ubuntu\n", "registries:\nimages: []\n",
                           "registries:\n  docker.io:\nimages: []\n"}) {
    SCOPED_TRACE(yaml);
    auto w = parse(yaml, "w.yaml");
    ASSERT_TRUE(w) << w.error().message;
    EXPECT_TRUE(w->images.empty());
  }
}

TEST(Watchlist, ScalarsAreReadAsWritten) {
  // Unquoted 02:00 is sexagesimal in YAML 1.1 and 1.20 a float; ferry keeps the text.
  auto w = parse("schedule: 02:00\nconcurrency: \"12\"\nimages:\n  - name: app\n    tags: [1.20, 2]\n", "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->schedule.str(), "02:00");
  EXPECT_EQ(w->concurrency, 12);
  ASSERT_EQ(w->images.size(), 2u);
  EXPECT_EQ(w->images[0].ref.tag, "1.20");
  EXPECT_EQ(w->images[1].ref.tag, "2");
}

TEST(Watchlist, IntervalScheduleAndBooleanSpellings) {
  auto w = parse("schedule: every 90s\nregistries:\n  localhost:5000: {insecure: True}\n  a.io: {insecure: FALSE}\n"
                 "images: [localhost:5000/x]\n",
                 "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->schedule.kind, Schedule::Kind::Interval);
  EXPECT_EQ(w->schedule.interval, std::chrono::seconds(90));
  EXPECT_TRUE(w->registries.at("localhost:5000").insecure);
  EXPECT_FALSE(w->registries.at("a.io").insecure);
}

TEST(Watchlist, RelativePathsWithoutBaseUseTheCurrentDirectory) {
  auto w = parse("store: s\nexport: ../e\nregistries:\n  a.io: {ca_file: ./ca.pem}\nimages: []\n", "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  auto cwd = std::filesystem::current_path();
  EXPECT_EQ(w->store, (cwd / "s").lexically_normal().string());
  EXPECT_EQ(w->export_dir, (cwd / "../e").lexically_normal().string());
  EXPECT_EQ(w->registries.at("a.io").ca_file, (cwd / "ca.pem").lexically_normal().string());
}

TEST(Watchlist, FindRegistryNormalisesTheDomain) {
  auto w = parse("registries:\n  docker.io: {concurrency: 2}\n  GHCR.io: {}\nimages: []\n", "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  for (const char* domain : {"docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"}) {
    SCOPED_TRACE(domain);
    const RegistrySettings* r = find_registry(*w, domain);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->concurrency, 2);
  }
  ASSERT_NE(find_registry(*w, "ghcr.io"), nullptr);
  EXPECT_EQ(find_registry(*w, "ghcr.io")->host, "ghcr.io");
  EXPECT_EQ(find_registry(*w, "quay.io"), nullptr);
  EXPECT_EQ(normalize_host("Index.Docker.IO"), "docker.io");
  EXPECT_EQ(normalize_host("Localhost:5000"), "localhost:5000");
}

TEST(Watchlist, PlatformsFor) {
  auto w = parse("platforms: [linux/arm64]\nimages:\n  - a\n  - {name: b, platforms: [linux/s390x]}\n"
                 "  - {name: c, all_platforms: true}\n",
                 "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_EQ(w->images.size(), 3u);
  EXPECT_EQ(platforms_for(*w, w->images[0]), (std::vector<Platform>{{"linux", "arm64", "", ""}}));
  EXPECT_EQ(platforms_for(*w, w->images[1]), (std::vector<Platform>{{"linux", "s390x", "", ""}}));
  EXPECT_TRUE(platforms_for(*w, w->images[2]).empty());
}

TEST(Watchlist, ReferrersAreAskedPerEntryAndOffByDefault) {
  auto w = parse("images:\n  - a\n  - {name: b, referrers: true}\n  - name: c\n    tags: ['1', '2']\n"
                 "    referrers: true\n",
                 "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_EQ(w->images.size(), 4u);
  EXPECT_FALSE(w->images[0].referrers);
  EXPECT_TRUE(w->images[1].referrers);
  EXPECT_TRUE(w->images[2].referrers);  // every tag of the entry
  EXPECT_TRUE(w->images[3].referrers);
  auto bad = parse("images:\n  - {name: b, referrers: maybe}\n", "w.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("w.yaml:2:"), std::string::npos) << bad.error().message;
}

TEST(Load, ResolvesRelativePathsAgainstTheFilesDirectory) {
  testing::TempDir dir;
  auto file = dir.write("etc/watch.yaml",
                        "store: store\nexport: ../export\nregistries:\n  a.io:\n    ca_file: ca.pem\n"
                        "    credentials: {username: u, password_file: token}\nimages: [alpine]\n");
  auto w = load(file);
  ASSERT_TRUE(w) << w.error().message;
  auto etc = (dir.path() / "etc").lexically_normal();
  EXPECT_EQ(w->source, file.lexically_normal());
  EXPECT_EQ(w->store, (etc / "store").string());
  EXPECT_EQ(w->export_dir, (dir.path() / "export").lexically_normal().string());
  EXPECT_EQ(w->registries.at("a.io").ca_file, (etc / "ca.pem").string());
  EXPECT_EQ(w->registries.at("a.io").credentials->password_file, (etc / "token").string());
}

TEST(Load, ErrorsNameTheFileAsGiven) {
  testing::TempDir dir;
  auto file = dir.write("bad.yaml", "images:\n  - ok\n  - name: x\n    platfroms: []\n");
  auto w = load(file);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_TRUE(w.error().message.starts_with(file.string() + ":4:5: unknown key \"platfroms\"")) << w.error().message;
}

TEST(Load, MissingFileIsNotFound) {
  testing::TempDir dir;
  auto w = load(dir.path() / "nope.yaml");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, core::ErrorKind::NotFound);
  EXPECT_EQ(w.error().message, (dir.path() / "nope.yaml").string() + ": cannot open: No such file or directory");
}

TEST(Load, DirectoryAndEmptyFileAreInvalid) {
  testing::TempDir dir;
  auto as_dir = load(dir.path());
  ASSERT_FALSE(as_dir);
  EXPECT_EQ(as_dir.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_NE(as_dir.error().message.find("is a directory"), std::string::npos);

  auto empty = load(dir.write("empty.yaml", ""));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_EQ(empty.error().message, (dir.path() / "empty.yaml").string() + ":1:1: empty watchlist: want a mapping "
                                                                          "with at least \"images\"");
}

TEST(Load, OversizedFileIsRefused) {
  testing::TempDir dir;
  auto w = load(dir.write("big.yaml", "images: []\n" + std::string(kMaxWatchlistBytes, '#')));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind, core::ErrorKind::InvalidInput);
  EXPECT_NE(w.error().message.find("too large"), std::string::npos);
}

std::filesystem::path example(const char* name) {
  // Lexically: tests/data need not exist for its ../.. to name the source tree.
  return (std::filesystem::path(FERRY_TEST_DATA_DIR) / ".." / ".." / "config" / name).lexically_normal();
}

TEST(Examples, DockerHubWatchlistLoads) {
  auto w = load(example("dockerhub.yaml"));
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->store, "/var/lib/ferry/store");
  EXPECT_EQ(w->export_dir, "/var/lib/ferry/export");
  EXPECT_EQ(w->schedule.str(), "02:00");
  EXPECT_EQ(w->concurrency, 8);
  std::vector<std::string> refs;
  for (const ImageEntry& e : w->images) refs.push_back(e.ref.familiar());
  EXPECT_EQ(refs, (std::vector<std::string>{"ubuntu:24.04", "debian:bookworm-slim", "alpine:3.20", "busybox:latest",
                                            "nginx:1.27", "nginx:stable"}));
  EXPECT_TRUE(w->images[3].all_platforms);
}

TEST(Examples, LabWatchlistLoads) {
  auto w = load(example("lab.yaml"));
  ASSERT_TRUE(w) << w.error().message;
  const RegistrySettings* lab = find_registry(*w, "127.0.0.1:5000");
  ASSERT_NE(lab, nullptr);
  EXPECT_TRUE(lab->insecure);
  ASSERT_FALSE(w->images.empty());
  for (const ImageEntry& e : w->images) {
    EXPECT_EQ(e.ref.domain, "127.0.0.1:5000");
    EXPECT_TRUE(e.ref.repository.starts_with("lab/")) << e.ref.str();
  }
}

TEST(Watchlist, MirrorToNamesARegistryAndAPrefix) {
  auto w = parse("images: [ubuntu]\nmirror_to: {registry: Reg.Lab:5000, prefix: /mirror/hub/}\n", "w.yaml");
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(w->mirror_to);
  EXPECT_EQ(w->mirror_to->registry, "reg.lab:5000");
  EXPECT_EQ(w->mirror_to->prefix, "mirror/hub");
  EXPECT_EQ(w->mirror_to->str(), "reg.lab:5000/mirror/hub");
  auto bare = parse("images: [ubuntu]\nmirror_to:\n  registry: localhost:5000\n", "w.yaml");
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(bare->mirror_to->str(), "localhost:5000");
  auto none = parse("images: [ubuntu]\n", "w.yaml");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->mirror_to);
}

}  // namespace
}  // namespace ferry::config
