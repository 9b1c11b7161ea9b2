// Helpers shared by the store tests: commit a blob and describe it, and the JSON of
// a descriptor for hand-made manifests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "digest/digest.h"
#include "manifest/manifest.h"
#include "store/store.h"
#include "support/temp_dir.h"

namespace ferry::store::testing {

using TempDir = ::ferry::testing::TempDir;

// Commits `body` to the store and returns its descriptor.
inline manifest::Descriptor put(Store& s, const std::string& body, std::string_view media_type) {
  manifest::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = digest::sha256_of(body);
  d.size = static_cast<int64_t>(body.size());
  EXPECT_TRUE(s.put_blob(d.digest, body));
  return d;
}

inline std::string descriptor_json(const manifest::Descriptor& d) {
  return fmt::format(R"({{"mediaType":"{}","digest":"{}","size":{}}})", d.media_type, d.digest.str(), d.size);
}

}  // namespace ferry::store::testing
