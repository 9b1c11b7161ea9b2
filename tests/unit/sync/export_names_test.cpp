#include "sync/export_names.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "digest/digest.h"

using ferry::manifest::Platform;
using ferry::sync::export_file_name;

TEST(ExportFileName, ReadableAndSafe) {
  struct Case {
    const char* ref;
    const Platform* platform;
    const char* want;
  };
  static const Platform arm{"linux", "arm64", "v8", ""};
  const Case cases[] = {
      {"ubuntu:24.04", nullptr, "ubuntu_24.04.tar"},
      {"bob/app:1", nullptr, "bob_app_1.tar"},
      {"127.0.0.1:5000/ns/app:v1", nullptr, "127.0.0.1_5000_ns_app_v1.tar"},
      {"busybox:latest", &arm, "busybox_latest_linux-arm64-v8.tar"},
      {"alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", nullptr,
       "alpine_sha256-0123456789ab.tar"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.ref);
    auto r = ferry::reference::parse(c.ref);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(export_file_name(*r, c.platform), c.want);
  }
}

namespace {
std::vector<ferry::reference::Reference> refs(std::initializer_list<const char*> texts) {
  std::vector<ferry::reference::Reference> out;
  for (const char* t : texts) out.push_back(*ferry::reference::parse(t));
  return out;
}
std::string hash8(const char* full) { return std::string(ferry::digest::sha256_of(full).hex().substr(0, 8)); }
}  // namespace

// #13 item 8: three references that sanitise to one name each get their own
// suffix, whatever order they come in; the others keep their plain names.
TEST(ExportNames, CollidingReferencesEachGetADigestSuffix) {
  auto list = refs({"a/b_c:1", "a_b/c:1", "a/b:c_1", "ubuntu:24.04"});
  ferry::sync::ExportNames names(list);
  ferry::sync::ExportNames reversed(std::vector<ferry::reference::Reference>(list.rbegin(), list.rend()));
  std::set<std::string> seen;
  for (const auto& r : list) {
    SCOPED_TRACE(r.str());
    const std::string n = names.name(r, nullptr);
    EXPECT_EQ(n, reversed.name(r, nullptr));
    EXPECT_TRUE(seen.insert(n).second) << n;
  }
  EXPECT_EQ(names.name(list[0], nullptr), "a_b_c_1_" + hash8("docker.io/a/b_c:1") + ".tar");
  EXPECT_EQ(names.name(list[3], nullptr), "ubuntu_24.04.tar");
}

// Export directories end up on FAT/exFAT sticks: names equal but for case collide.
TEST(ExportNames, NamesEqualButForCaseCollide) {
  auto list = refs({"app:V1", "app:v1"});
  ferry::sync::ExportNames names(list);
  EXPECT_NE(ferry::sync::export_file_name(list[0], nullptr), names.name(list[0], nullptr));
  EXPECT_NE(names.name(list[0], nullptr), names.name(list[1], nullptr));
}

// `a:1` per platform gives a_1_linux-amd64.tar, which `a:1_linux-amd64` would take.
TEST(ExportNames, APlatformSuffixCannotMeetAnotherReferencesName) {
  static const Platform amd{"linux", "amd64", "", ""};
  auto list = refs({"a:1", "a:1_linux-amd64", "a:1.2"});
  ferry::sync::ExportNames names(list);
  EXPECT_NE(names.name(list[0], &amd), names.name(list[1], nullptr));
  EXPECT_EQ(names.name(list[2], nullptr), "a_1.2.tar");  // no clash: keeps its plain name
}
