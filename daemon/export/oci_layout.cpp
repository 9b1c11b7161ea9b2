// write_oci_layout and write_oci_archive: a plain OCI image layout, as a directory
// or as a tar of that directory (skopeo's oci: and oci-archive: transports).
//
//   oci-layout             {"imageLayoutVersion":"1.0.0"}
//   index.json             one descriptor per image, platform set, annotation
//                          org.opencontainers.image.ref.name = the full reference
//                          (docker.io/library/ubuntu:24.04), as in the store
//   blobs/sha256/<hex>     manifests, configs and layers, each once
// A foreign (non-distributable) layer missing from the store is left out: the
// image-layout spec lets blobs be absent, and its descriptor keeps the URLs.
// With OciOptions::oci_media_types, Docker schema2 manifests are restated as OCI
// manifests (see export.h). The directory gets hard links to the store's layer and
// config blobs when both are on one file system (blobs are never rewritten, so
// sharing the inode is safe as long as nobody edits the exported files in place),
// else verified copies; manifests are written from the bytes already in memory.
#include <fmt/format.h>

#include <set>

#include "export/export.h"
#include "export/fs_output.h"
#include "export/image_set.h"
#include "export/tar_writer.h"

namespace ferry::exporter {

namespace {

// What index.json lists for one image, and the manifest bytes behind it.
struct OutManifest {
  manifest::Descriptor descriptor;
  std::string bytes;
};

std::vector<OutManifest> out_manifests(const std::vector<LoadedImage>& images, const OciOptions& opts) {
  std::vector<OutManifest> out;
  for (const LoadedImage& image : images) {
    OutManifest m;
    m.descriptor.media_type = image.request->descriptor.media_type;
    m.bytes = image.manifest_bytes;
    if (opts.oci_media_types && m.descriptor.media_type == manifest::media::kDockerManifest) {
      m.descriptor.media_type = manifest::media::kOciManifest;
      m.bytes = docker_to_oci_manifest(image.manifest);
    }
    m.descriptor.digest = digest::sha256_of(m.bytes);
    m.descriptor.size = static_cast<int64_t>(m.bytes.size());
    m.descriptor.platform = image_platform(image);
    m.descriptor.annotations[std::string(store::kRefNameAnnotation)] = image.request->ref.str();
    out.push_back(std::move(m));
  }
  return out;
}

// Every blob of the images once, in image order: manifest, config, layers.
struct BlobRef {
  digest::Digest digest;
  int64_t size = 0;
  const std::string* bytes = nullptr;  // a manifest, in memory
};

std::vector<BlobRef> collect_blobs(const std::vector<LoadedImage>& images, const std::vector<OutManifest>& manifests) {
  std::vector<BlobRef> out;
  std::set<digest::Digest> seen;
  auto add = [&](const digest::Digest& d, int64_t size, const std::string* bytes) {
    if (seen.insert(d).second) out.push_back(BlobRef{d, size, bytes});
  };
  for (size_t i = 0; i < images.size(); ++i) {
    const LoadedImage& image = images[i];
    add(manifests[i].descriptor.digest, manifests[i].descriptor.size, &manifests[i].bytes);
    add(image.manifest.config.digest, image.manifest.config.size, nullptr);
    for (size_t j = 0; j < image.manifest.layers.size(); ++j) {
      if (image.layer_present[j]) add(image.manifest.layers[j].digest, image.manifest.layers[j].size, nullptr);
    }
  }
  return out;
}

std::string oci_index(const std::vector<OutManifest>& manifests) {
  std::vector<manifest::Descriptor> entries;
  for (const OutManifest& m : manifests) entries.push_back(m.descriptor);
  return index_json(entries);
}

core::Status write_layout_dir(const store::Store& store, const std::vector<ExportImage>& images,
                              const fs::path& out_dir, const OciOptions& opts) {
  auto loaded = load_images(store, images, MissingForeign::kSkip);
  if (!loaded) return core::fail(std::move(loaded.error()));
  auto manifests = out_manifests(*loaded, opts);
  auto dir = TempOutputDir::create(out_dir);
  if (!dir) return core::fail(std::move(dir.error()));
  for (const BlobRef& blob : collect_blobs(*loaded, manifests)) {
    fs::path dst = dir->path() / blob_entry(blob.digest);
    auto st = blob.bytes != nullptr ? write_new_file(dst, *blob.bytes)
                                    : link_or_copy(store.blob_path(blob.digest), dst, blob.digest);
    if (!st) return st;
  }
  auto st = write_new_file(dir->path() / "index.json", oci_index(manifests)).and_then([&] {
    return write_new_file(dir->path() / "oci-layout", oci_layout_json());
  });
  if (!st) return st;
  return dir->commit();
}

core::Status write_layout_tar(const store::Store& store, const std::vector<ExportImage>& images,
                              const fs::path& out, const OciOptions& opts) {
  auto loaded = load_images(store, images, MissingForeign::kSkip);
  if (!loaded) return core::fail(std::move(loaded.error()));
  auto manifests = out_manifests(*loaded, opts);
  auto file = TempOutputFile::create(out);
  if (!file) return core::fail(std::move(file.error()));
  TarWriter tar(file->fd(), file->temp_path().string());
  digest::Sha256 hasher;
  if (opts.written) tar.hash_into(&hasher);
  auto st = tar.add_directory("blobs/").and_then([&] { return tar.add_directory("blobs/sha256/"); });
  for (const BlobRef& blob : collect_blobs(*loaded, manifests)) {
    if (!st) break;
    st = blob.bytes != nullptr ? tar.add_file(blob_entry(blob.digest), *blob.bytes)
                               : add_store_blob(tar, store, blob.digest, blob.size, opts.verified);
  }
  if (st) st = tar.add_file("index.json", oci_index(manifests));
  if (st) st = tar.add_file("oci-layout", oci_layout_json());
  if (st) st = tar.finish();
  if (st) st = file->commit();
  if (st && opts.written) *opts.written = {hasher.finish(), tar.bytes_written()};
  return st;
}

}  // namespace

core::Status write_oci_layout(const store::Store& store, const std::vector<ExportImage>& images,
                              const fs::path& out_dir) {
  return write_oci_layout(store, images, out_dir, OciOptions{});
}

core::Status write_oci_layout(const store::Store& store, const std::vector<ExportImage>& images,
                              const fs::path& out_dir, const OciOptions& opts) {
  auto st = write_layout_dir(store, images, out_dir, opts);
  if (!st) st.error().context(fmt::format("oci layout {}", out_dir.string()));
  return st;
}

core::Status write_oci_archive(const store::Store& store, const std::vector<ExportImage>& images,
                               const fs::path& out) {
  return write_oci_archive(store, images, out, OciOptions{});
}

core::Status write_oci_archive(const store::Store& store, const std::vector<ExportImage>& images,
                               const fs::path& out, const OciOptions& opts) {
  auto st = write_layout_tar(store, images, out, opts);
  if (!st) st.error().context(fmt::format("oci archive {}", out.string()));
  return st;
}

}  // namespace ferry::exporter
