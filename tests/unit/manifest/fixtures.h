// Test helpers for the manifest suite: reading fixture files byte-exact, and
// unwrapping parse results into the alternative a test expects.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <variant>

#include "manifest/manifest.h"

namespace ferry::manifest::testing {

// The bytes of tests/fixtures/<relative>, exactly as stored (no newline translation).
inline std::string read_fixture(const std::string& relative) {
  std::ifstream in(std::string(FERRY_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open fixture " << relative;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string manifest_fixture(const std::string& name) { return read_fixture("manifests/" + name); }
inline std::string config_fixture(const std::string& name) { return read_fixture("configs/" + name); }

// Parse and require an index; a failure is reported with the parser's message.
inline Index parse_index(const std::string& body, std::string_view content_type) {
  auto parsed = parse(body, content_type);
  EXPECT_TRUE(parsed) << parsed.error().message;
  if (!parsed) return {};
  EXPECT_TRUE(std::holds_alternative<Index>(*parsed)) << "expected an index";
  if (!std::holds_alternative<Index>(*parsed)) return {};
  return std::get<Index>(std::move(*parsed));
}

inline ImageManifest parse_image(const std::string& body, std::string_view content_type) {
  auto parsed = parse(body, content_type);
  EXPECT_TRUE(parsed) << parsed.error().message;
  if (!parsed) return {};
  EXPECT_TRUE(std::holds_alternative<ImageManifest>(*parsed)) << "expected an image manifest";
  if (!std::holds_alternative<ImageManifest>(*parsed)) return {};
  return std::get<ImageManifest>(std::move(*parsed));
}

// The digest hex of the entry chosen for `platform` ("" and a test failure if none).
inline std::string selected_hex(const Index& index, std::string_view platform) {
  auto want = parse_platform(platform);
  EXPECT_TRUE(want) << want.error().message;
  if (!want) return {};
  auto chosen = select_platform(index, *want);
  EXPECT_TRUE(chosen) << chosen.error().message;
  if (!chosen) return {};
  EXPECT_TRUE(is_image_entry(*chosen)) << "selected a non-image entry for " << platform;
  return std::string(chosen->digest.hex());
}

}  // namespace ferry::manifest::testing
