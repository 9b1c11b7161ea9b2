// write_oci_layout and write_oci_archive: a plain OCI image layout, as a directory
// or as a tar of that directory (skopeo's oci: and oci-archive: transports).
//
//   oci-layout             {"imageLayoutVersion":"1.0.0"}
//   index.json             one descriptor per image, platform set, annotation
//                          org.opencontainers.image.ref.name = the full reference
//                          (docker.io/library/ubuntu:24.04), as in the store; an
//                          index asked for (all platforms) is one entry itself,
//                          its bytes and digest the registry's, with every index
//                          and manifest below it (attestations too) among the blobs
//   blobs/sha256/<hex>     manifests, configs and layers, each once
// A foreign (non-distributable) layer missing from the store is left out: the
// image-layout spec lets blobs be absent, and its descriptor keeps the URLs.
// With OciOptions::oci_media_types, Docker schema2 manifests are restated as OCI
// manifests (see export.h). The directory gets hard links to the store's layer and
// config blobs when both are on one file system (blobs are never rewritten, so
// sharing the inode is safe as long as nobody edits the exported files in place),
// else verified copies; manifests are written from the bytes already in memory.
#include <fmt/format.h>

#include <memory>
#include <set>

#include "export/export.h"
#include "export/fs_output.h"
#include "export/image_set.h"
#include "store/image_view.h"
#include "export/tar_writer.h"

namespace ferry::exporter {

namespace {

// What index.json lists for one image, and the manifest bytes behind it.
struct OutManifest {
  manifest::Descriptor descriptor;
  std::string bytes;
};

// Everything one layout holds. An index asked for (all platforms) is written as
// the store holds it, with every index below it and every manifest it names, so
// its digest is the registry's; its leaves keep their bytes (never restated).
struct OciPlan {
  std::vector<ExportImage> direct_requests;  // image manifests asked for, each once
  std::vector<ExportImage> leaf_requests;    // manifests under the indexes asked for
  std::vector<LoadedImage> direct, leaves;
  std::vector<OutManifest> indexes;          // index blobs: asked for and nested, each once
  std::vector<OutManifest> entries;          // index.json, in the order asked
};

OutManifest direct_entry(const LoadedImage& image, const OciOptions& opts) {
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
  return m;
}

// An index asked for: its tree from the store, complete (the caller expands a
// partial one into its platform images instead).
core::Status plan_index(const store::Store& store, const ExportImage& request, std::set<digest::Digest>& seen,
                        OciPlan& plan) {
  auto tree = store::read_index_tree(store, request.descriptor);
  if (!tree) return core::fail(std::move(tree.error().context(request.ref.str())));
  if (!tree->complete) {
    return core::fail(core::ErrorKind::NotFound,
                      fmt::format("{}: the store lacks manifests of index {}", request.ref.str(),
                                  request.descriptor.digest.str()));
  }
  auto add_index = [&](const store::StoredIndex& si) {
    if (seen.insert(si.descriptor.digest).second) plan.indexes.push_back({si.descriptor, si.bytes});
  };
  add_index(tree->top);
  for (const auto& n : tree->nested) add_index(n);
  for (const auto& leaf : tree->leaves) plan.leaf_requests.push_back({request.ref, leaf});
  OutManifest entry;
  entry.descriptor = {request.descriptor.media_type, request.descriptor.digest,
                      static_cast<int64_t>(tree->top.bytes.size()), std::nullopt, {}, {}};
  entry.descriptor.annotations[std::string(store::kRefNameAnnotation)] = request.ref.str();
  plan.entries.push_back(std::move(entry));
  return {};
}

core::Result<std::unique_ptr<OciPlan>> plan_layout(const store::Store& store, const std::vector<ExportImage>& images,
                                                   const OciOptions& opts) {
  if (images.empty()) return core::fail(core::ErrorKind::InvalidInput, "nothing to export: no images given");
  auto plan = std::make_unique<OciPlan>();
  std::set<digest::Digest> seen_indexes;
  std::set<std::pair<std::string, digest::Digest>> asked;
  std::vector<size_t> direct_slot;  // entries index of each direct request
  for (const ExportImage& request : images) {
    if (!asked.emplace(request.ref.str(), request.descriptor.digest).second) continue;
    if (manifest::is_index_type(request.descriptor.media_type)) {
      if (auto st = plan_index(store, request, seen_indexes, *plan); !st) return core::fail(std::move(st.error()));
      continue;
    }
    direct_slot.push_back(plan->entries.size());
    plan->entries.emplace_back();
    plan->direct_requests.push_back(request);
  }
  if (!plan->direct_requests.empty()) {
    auto loaded = load_images(store, plan->direct_requests, MissingForeign::kSkip);
    if (!loaded) return core::fail(std::move(loaded.error()));
    plan->direct = std::move(*loaded);
    for (size_t k = 0; k < plan->direct.size(); ++k) plan->entries[direct_slot[k]] = direct_entry(plan->direct[k], opts);
  }
  if (!plan->leaf_requests.empty()) {
    auto loaded = load_images(store, plan->leaf_requests, MissingForeign::kSkip);
    if (!loaded) return core::fail(std::move(loaded.error()));
    plan->leaves = std::move(*loaded);
  }
  return plan;
}

// Every blob of the layout once: indexes, then per image its manifest, config, layers.
struct BlobRef {
  digest::Digest digest;
  int64_t size = 0;
  const std::string* bytes = nullptr;  // a manifest, in memory
};

std::vector<BlobRef> collect_blobs(const OciPlan& plan) {
  std::vector<BlobRef> out;
  std::set<digest::Digest> seen;
  auto add = [&](const digest::Digest& d, int64_t size, const std::string* bytes) {
    if (seen.insert(d).second) out.push_back(BlobRef{d, size, bytes});
  };
  for (const OutManifest& m : plan.indexes) add(m.descriptor.digest, static_cast<int64_t>(m.bytes.size()), &m.bytes);
  auto add_image = [&](const LoadedImage& image, const digest::Digest& md, const std::string& bytes) {
    add(md, static_cast<int64_t>(bytes.size()), &bytes);
    add(image.manifest.config.digest, image.manifest.config.size, nullptr);
    for (size_t j = 0; j < image.manifest.layers.size(); ++j) {
      if (image.layer_present[j]) add(image.manifest.layers[j].digest, image.manifest.layers[j].size, nullptr);
    }
  };
  for (const LoadedImage& image : plan.leaves) add_image(image, image.request->descriptor.digest, image.manifest_bytes);
  size_t k = 0;
  for (const OutManifest& e : plan.entries) {
    if (manifest::is_index_type(e.descriptor.media_type)) continue;
    add_image(plan.direct[k++], e.descriptor.digest, e.bytes);
  }
  return out;
}

std::string oci_index(const OciPlan& plan) {
  std::vector<manifest::Descriptor> entries;
  for (const OutManifest& m : plan.entries) entries.push_back(m.descriptor);
  return index_json(entries);
}

core::Status write_layout_dir(const store::Store& store, const std::vector<ExportImage>& images,
                              const fs::path& out_dir, const OciOptions& opts) {
  auto plan = plan_layout(store, images, opts);
  if (!plan) return core::fail(std::move(plan.error()));
  auto dir = TempOutputDir::create(out_dir);
  if (!dir) return core::fail(std::move(dir.error()));
  for (const BlobRef& blob : collect_blobs(**plan)) {
    fs::path dst = dir->path() / blob_entry(blob.digest);
    auto st = blob.bytes != nullptr ? write_new_file(dst, *blob.bytes)
                                    : link_or_copy_blob(store, blob.digest, dst);
    if (!st) return st;
  }
  auto st = write_new_file(dir->path() / "index.json", oci_index(**plan)).and_then([&] {
    return write_new_file(dir->path() / "oci-layout", oci_layout_json());
  });
  if (!st) return st;
  return dir->commit();
}

core::Status write_layout_tar(const store::Store& store, const std::vector<ExportImage>& images,
                              const fs::path& out, const OciOptions& opts) {
  auto plan = plan_layout(store, images, opts);
  if (!plan) return core::fail(std::move(plan.error()));
  auto file = TempOutputFile::create(out);
  if (!file) return core::fail(std::move(file.error()));
  TarWriter tar(file->fd(), file->temp_path().string());
  digest::Sha256 hasher;
  if (opts.written) tar.hash_into(&hasher);
  auto st = tar.add_directory("blobs/").and_then([&] { return tar.add_directory("blobs/sha256/"); });
  for (const BlobRef& blob : collect_blobs(**plan)) {
    if (!st) break;
    st = blob.bytes != nullptr ? tar.add_file(blob_entry(blob.digest), *blob.bytes)
                               : add_store_blob(tar, store, blob.digest, blob.size, opts.verified);
  }
  if (st) st = tar.add_file("index.json", oci_index(**plan));
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
