// Helpers shared by the store tests: commit a blob and describe it, and the JSON of
// a descriptor for hand-made manifests.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "digest/digest.h"
#include "manifest/manifest.h"
#include "store/store.h"
#include "support/temp_dir.h"
#include "support/gzip.h"

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

inline std::string gzip(std::string_view data) { return ferry::testing::gzip(data); }

// A layer: `content` (standing in for the tar) gzip'd and committed. diff_id is
// the sha256 of `content`, as its config must name it.
struct TestLayer {
  manifest::Descriptor descriptor;
  digest::Digest diff_id;
};

inline TestLayer put_layer(Store& s, std::string_view content,
                           std::string_view media_type = manifest::media::kDockerLayerGzip) {
  return {put(s, gzip(content), media_type), digest::sha256_of(content)};
}

// An image config: `fields` (JSON members, e.g. "\"os\":\"linux\"") and rootfs.diff_ids.
inline std::string config_json(std::string_view fields, const std::vector<digest::Digest>& diff_ids) {
  std::string ids;
  for (const auto& d : diff_ids) ids += (ids.empty() ? "\"" : ",\"") + d.str() + "\"";
  return fmt::format(R"({{{},"rootfs":{{"type":"layers","diff_ids":[{}]}}}})", fields, ids);
}

inline std::string descriptor_json(const manifest::Descriptor& d) {
  return fmt::format(R"({{"mediaType":"{}","digest":"{}","size":{}}})", d.media_type, d.digest.str(), d.size);
}

}  // namespace ferry::store::testing
