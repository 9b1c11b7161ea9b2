// Test helper: builds synthetic images in a real store — gzip'd tar layers made with
// zlib, an image config with the matching diff_ids, and a Docker schema2 or OCI
// manifest — and returns the ExportImage that names them.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "digest/digest.h"
#include "export/export.h"
#include "export/tar_writer.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "store/store.h"
#include "test_util.h"
#include "support/gzip.h"

namespace ferry::exporter::testing {

struct Layer {
  std::string tar;   // uncompressed
  std::string gz;    // as stored
  digest::Digest diff_id;
  digest::Digest digest;
  std::string media_type;
  std::vector<std::string> urls;
};

inline std::string gzip(std::string_view data) { return ferry::testing::gzip(data); }

// A layer tar holding `files` (name -> content), written with TarWriter to a file.
inline std::string make_tar(const std::filesystem::path& scratch, const std::map<std::string, std::string>& files) {
  int fd = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TarWriter w(fd, scratch.string());
  for (const auto& [name, content] : files) {
    if (!w.add_file(name, content)) throw std::runtime_error("tar");
  }
  if (!w.finish()) throw std::runtime_error("tar finish");
  ::close(fd);
  return read_file(scratch);
}

inline Layer make_layer(const std::filesystem::path& scratch, const std::map<std::string, std::string>& files,
                        std::string media_type = std::string(manifest::media::kDockerLayerGzip)) {
  Layer l;
  l.tar = make_tar(scratch, files);
  l.gz = gzip(l.tar);
  l.diff_id = digest::sha256_of(l.tar);
  l.digest = digest::sha256_of(l.gz);
  l.media_type = std::move(media_type);
  return l;
}

inline std::string config_json(const std::vector<Layer>& layers, const std::string& arch) {
  std::string ids;
  for (const auto& l : layers) ids += (ids.empty() ? "\"" : ",\"") + l.diff_id.str() + "\"";
  return R"({"architecture":")" + arch + R"(","os":"linux","config":{"Cmd":["/hello"]},)" +
         R"("rootfs":{"type":"layers","diff_ids":[)" + ids + "]}}";
}

inline std::string descriptor(std::string_view media_type, const digest::Digest& d, size_t size,
                              const std::vector<std::string>& urls = {}) {
  std::string s = R"({"mediaType":")" + std::string(media_type) + R"(","size":)" + std::to_string(size) +
                  R"(,"digest":")" + d.str() + "\"";
  if (!urls.empty()) s += R"(,"urls":[")" + urls.front() + "\"]";
  return s + "}";
}

struct BuiltImage {
  ExportImage image;
  std::string config;
  std::string manifest;
  digest::Digest config_digest;
};

// Puts config, manifest and (unless `skip_layer_blobs`) the layers in the store.
inline BuiltImage build_image(store::Store& store, std::string_view ref, const std::vector<Layer>& layers,
                              bool oci = false, const std::string& arch = "amd64", bool put_layers = true) {
  BuiltImage b;
  b.config = config_json(layers, arch);
  b.config_digest = digest::sha256_of(b.config);
  std::string layer_list;
  for (const auto& l : layers) {
    if (!layer_list.empty()) layer_list += ",";
    layer_list += descriptor(l.media_type, l.digest, l.gz.size(), l.urls);
    if (put_layers) {
      EXPECT_TRUE(store.put_blob(l.digest, l.gz));
    }
  }
  auto manifest_type = oci ? manifest::media::kOciManifest : manifest::media::kDockerManifest;
  auto config_type = oci ? manifest::media::kOciConfig : manifest::media::kDockerConfig;
  b.manifest = R"({"schemaVersion":2,"mediaType":")" + std::string(manifest_type) + R"(","config":)" +
               descriptor(config_type, b.config_digest, b.config.size()) + R"(,"layers":[)" + layer_list + "]}";
  digest::Digest md = digest::sha256_of(b.manifest);
  EXPECT_TRUE(store.put_blob(b.config_digest, b.config));
  EXPECT_TRUE(store.put_blob(md, b.manifest));
  auto parsed = reference::parse(ref);
  EXPECT_TRUE(parsed) << parsed.error().message;
  b.image.ref = *parsed;
  b.image.descriptor.media_type = std::string(manifest_type);
  b.image.descriptor.digest = md;
  b.image.descriptor.size = static_cast<int64_t>(b.manifest.size());
  b.image.descriptor.platform = manifest::Platform{"linux", arch, "", ""};
  return b;
}

// Entries of a parsed tar by name.
inline std::map<std::string, TarEntry> by_name(const std::vector<TarEntry>& entries) {
  std::map<std::string, TarEntry> out;
  for (const auto& e : entries) {
    EXPECT_FALSE(out.contains(e.name)) << "duplicate tar entry " << e.name;
    out[e.name] = e;
  }
  return out;
}

inline std::string blob_name(const digest::Digest& d) { return "blobs/sha256/" + std::string(d.hex()); }

// Names in a directory (not recursive).
inline std::vector<std::string> list_dir(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ferry::exporter::testing
