#include "sync/export_names.h"

#include <gtest/gtest.h>

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
