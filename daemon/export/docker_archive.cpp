// write_docker_archive: the tarball `docker save` writes since Docker 25, which is
// an OCI image layout plus Docker's own manifest.json and repositories.
//
//   blobs/ blobs/sha256/ blobs/sha256/<hex>...   every manifest, config and layer once
//   index.json      one descriptor per image (platform, io.containerd.image.name =
//                   docker.io/library/ubuntu:24.04, org.opencontainers.image.ref.name
//                   = 24.04) — what the containerd image store loads
//   manifest.json   [{"Config","RepoTags","Layers"[,"LayerSources"]}] — what the
//                   graph-driver `docker load` reads (Docker 20.10 included: its
//                   paths are relative, so blobs/sha256/<hex> works there too)
//   oci-layout      {"imageLayoutVersion": "1.0.0"}
//   repositories    {"ubuntu":{"24.04":"<hex>"}}
// Entries come in that order, with mtime 0 and modes 0644/0755, so the same images
// give the same bytes. Gzip layers go in as stored (docker load decompresses them);
// zstd layers, which Docker before 23 cannot load ("archive/tar: invalid tar
// header" from Debian 12's 20.10), go in as plain tars named by diff_id under a new
// OCI manifest (the config, hence the image ID, is unchanged) unless
// opts.keep_zstd; with opts.uncompressed every layer goes in that way. The
// compression is read from the blob's magic bytes, as docker load reads it.
//
// `repositories`: docker load reads it only when manifest.json is missing (the
// pre-1.10 format; every version since, 20.10 and 25+ included, goes by
// manifest.json), and the containerd image store's save does not write it at all.
// The graph-driver save of Docker 25+ still does, mapping familiar name -> tag ->
// the hex of the image's top layer diff_id (before 25 it was the top v1 layer ID,
// a directory that no longer exists in the tar). We write it the same way as Docker
// 25+ for tools that still look for the file; it changes nothing for docker load.
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "codec/layer_decoder.h"
#include "export/export.h"
#include "export/fs_output.h"
#include "export/image_set.h"
#include "store/image_view.h"
#include "export/tar_writer.h"
#include "store/fs_util.h"

namespace ferry::exporter {

namespace {

using ordered_json = nlohmann::ordered_json;

// One manifest.json item: a config with the tags that point at it.
struct DockerItem {
  std::string config;
  std::vector<std::string> repo_tags;
  std::vector<std::string> layers;
  ordered_json layer_sources = ordered_json::object();
};

// The compression of a store blob, from its first bytes (pread: the offset stays).
core::Result<codec::Compression> peek_compression(int fd, const fs::path& path) {
  char head[4] = {};
  ssize_t n = ::pread(fd, head, sizeof head, 0);
  if (n < 0) return core::fail(core::errno_error("read", path.string(), errno));
  return codec::detect(std::string_view(head, static_cast<size_t>(n)));
}

core::Result<codec::Compression> blob_compression(const store::Store& store, const digest::Digest& d) {
  auto opened = store.open_blob(d);
  if (!opened) return core::fail(std::move(opened.error()));
  return peek_compression(opened->get(), store.blob_path(d));
}

// A layer kept as stored inside a rewritten (OCI) manifest: Docker types restated.
manifest::Descriptor as_oci_layer(manifest::Descriptor d) {
  if (d.media_type == manifest::media::kDockerLayerGzip) d.media_type = manifest::media::kOciLayerGzip;
  if (d.media_type == manifest::media::kDockerForeignLayerGzip) d.media_type = kOciNondistributableGzip;
  return d;
}

class DockerArchiveWriter {
 public:
  DockerArchiveWriter(const store::Store& store, const DockerArchiveOptions& opts, const BundleOptions& bundle,
                      TarWriter& tar, const fs::path& out)
      : store_(store), opts_(opts), bundle_(bundle), tar_(tar), out_(out) {}

  core::Status add_image(const LoadedImage& image);
  core::Status add_index_tree(const ExportImage& index);
  core::Status finish();

 private:
  core::Status add_artifact(const LoadedImage& image);
  core::Status add_tree_leaf(const LoadedImage& leaf);
  core::Status add_blob_once(const digest::Digest& d, int64_t size);
  core::Status add_bytes_once(const digest::Digest& d, std::string_view bytes);
  core::Result<manifest::Descriptor> add_layer(const LoadedImage& image, size_t i, bool& converted);
  core::Result<manifest::Descriptor> add_inflated(const manifest::Descriptor& layer, const digest::Digest& diff_id);
  core::Result<manifest::Descriptor> add_manifest(const LoadedImage& image,
                                                  const std::vector<manifest::Descriptor>& layers, bool rewrite);
  void record(const LoadedImage& image, const std::vector<manifest::Descriptor>& layers);

  const store::Store& store_;
  const DockerArchiveOptions& opts_;
  const BundleOptions& bundle_;
  TarWriter& tar_;
  fs::path out_;
  std::map<digest::Digest, int64_t> written_;  // blob -> size, each written once
  std::vector<manifest::Descriptor> index_;
  std::vector<DockerItem> items_;
  std::map<digest::Digest, size_t> item_by_config_;
  std::set<std::string> tags_seen_;
  std::map<digest::Digest, int64_t> omitted_;
  ordered_json bundle_images_ = ordered_json::array();
  std::map<std::string, std::map<std::string, std::string>> repositories_;
  std::optional<ScratchFile> scratch_;
};

core::Status DockerArchiveWriter::add_blob_once(const digest::Digest& d, int64_t size) {
  if (written_.contains(d)) return {};
  if (auto st = add_store_blob(tar_, store_, d, size, opts_.verified); !st) return st;
  written_[d] = size;
  return {};
}

core::Status DockerArchiveWriter::add_bytes_once(const digest::Digest& d, std::string_view bytes) {
  if (written_.contains(d)) return {};
  if (auto st = tar_.add_file(blob_entry(d), bytes); !st) return st;
  written_[d] = static_cast<int64_t>(bytes.size());
  return {};
}

// Decompresses `layer` into the scratch file, checks it against `diff_id` and
// adds it as blobs/sha256/<diff_id>.
core::Result<manifest::Descriptor> DockerArchiveWriter::add_inflated(const manifest::Descriptor& layer,
                                                                     const digest::Digest& diff_id) {
  if (!scratch_) {
    auto scratch = ScratchFile::create(out_);
    if (!scratch) return core::fail(std::move(scratch.error()));
    scratch_.emplace(std::move(*scratch));
  }
  if (auto st = scratch_->reset(); !st) return core::fail(std::move(st.error()));
  const fs::path src = store_.blob_path(layer.digest);
  auto opened = store_.open_blob(layer.digest);
  if (!opened) return core::fail(std::move(opened.error()));
  auto inflated = codec::decode_fd_to_fd(opened->get(), src.string(), scratch_->fd(), scratch_->label().string());
  opened->reset();
  if (!inflated) return core::fail(std::move(inflated.error().context(fmt::format("layer {}", layer.digest.str()))));
  if (inflated->compression == codec::Compression::None) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("layer {} ({}) is neither gzip nor zstd, and its digest is not its diff_id {}",
                                  layer.digest.str(), layer.media_type, diff_id.str()));
  }
  if (inflated->diff_id != diff_id) {
    return core::fail(core::ErrorKind::DigestMismatch,
                      fmt::format("layer {} decompresses ({}) to {}, but the config's diff_id is {}",
                                  layer.digest.str(), codec::to_string(inflated->compression),
                                  inflated->diff_id.str(), diff_id.str()));
  }
  if (auto st = scratch_->rewind(); !st) return core::fail(std::move(st.error()));
  auto st = tar_.add_file_from_fd(blob_entry(diff_id), scratch_->fd(), inflated->size, scratch_->label().string());
  if (!st) return core::fail(std::move(st.error()));
  written_[diff_id] = static_cast<int64_t>(inflated->size);
  return manifest::Descriptor{std::string(manifest::media::kOciLayerTar), diff_id,
                              static_cast<int64_t>(inflated->size), std::nullopt, {}, {}};
}

// Adds layer `i` as stored, or as a plain tar named by its diff_id (every layer
// with opts.uncompressed, zstd ones unless opts.keep_zstd); `converted` tells the
// caller the manifest must be rewritten.
core::Result<manifest::Descriptor> DockerArchiveWriter::add_layer(const LoadedImage& image, size_t i, bool& converted) {
  const manifest::Descriptor& layer = image.manifest.layers[i];
  const digest::Digest& diff_id = image.config.diff_ids[i];
  if (bundle_.omit_layers.contains(layer.digest) && !written_.contains(layer.digest)) {
    omitted_[layer.digest] = layer.size;
    return layer;
  }
  bool plain_out = opts_.uncompressed;
  if (!plain_out && !opts_.keep_zstd && layer.digest != diff_id) {
    auto c = blob_compression(store_, layer.digest);
    if (!c) return core::fail(std::move(c.error()));
    plain_out = *c == codec::Compression::Zstd;
  }
  if (!plain_out) {
    if (auto st = add_blob_once(layer.digest, layer.size); !st) return core::fail(std::move(st.error()));
    return layer;
  }
  converted = true;
  manifest::Descriptor plain{std::string(manifest::media::kOciLayerTar), diff_id, 0, std::nullopt, {}, {}};
  if (layer.digest == diff_id) {  // stored uncompressed already
    if (auto st = add_blob_once(layer.digest, layer.size); !st) return core::fail(std::move(st.error()));
    plain.size = layer.size;
    return plain;
  }
  if (auto it = written_.find(diff_id); it != written_.end()) {
    plain.size = it->second;
    return plain;
  }
  return add_inflated(layer, diff_id);
}

core::Result<manifest::Descriptor> DockerArchiveWriter::add_manifest(const LoadedImage& image,
                                                                     const std::vector<manifest::Descriptor>& layers,
                                                                     bool rewrite) {
  const manifest::Descriptor& requested = image.request->descriptor;
  manifest::Descriptor entry{requested.media_type, requested.digest, static_cast<int64_t>(image.manifest_bytes.size()),
                             std::nullopt, {}, {}};
  if (!rewrite) {
    if (auto st = add_bytes_once(requested.digest, image.manifest_bytes); !st) return core::fail(std::move(st.error()));
  } else {
    manifest::Descriptor config{std::string(manifest::media::kOciConfig), image.manifest.config.digest,
                                image.manifest.config.size, std::nullopt, {}, {}};
    std::vector<manifest::Descriptor> oci_layers;
    for (const auto& l : layers) oci_layers.push_back(as_oci_layer(l));
    std::string body = oci_manifest_json(config, oci_layers);
    entry = {std::string(manifest::media::kOciManifest), digest::sha256_of(body), static_cast<int64_t>(body.size()),
             std::nullopt, {}, {}};
    if (auto st = add_bytes_once(entry.digest, body); !st) return core::fail(std::move(st.error()));
  }
  entry.platform = image_platform(image);
  return entry;
}

// ferry-bundle.json: a referrer's entry names its subject, so import records it as one.
static void note_referrer(ordered_json& b, const manifest::Descriptor& source) {
  const std::string of = store::referrer_of(source);
  if (of.empty()) return;
  b["referrerOf"] = of;
  if (auto it = source.annotations.find(std::string(store::kReferrerSubjectAnnotation)); it != source.annotations.end()) {
    b["subject"] = it->second;
  }
}

// An artifact in a bundle: its blobs and manifest as stored, named in
// ferry-bundle.json only (docker load has nothing to do with it, so neither
// manifest.json nor index.json lists it).
core::Status DockerArchiveWriter::add_artifact(const LoadedImage& image) {
  const auto& config = image.manifest.config;
  if (auto st = add_blob_once(config.digest, config.size); !st) return st;
  for (const auto& layer : image.manifest.layers) {
    if (bundle_.omit_layers.contains(layer.digest) && !written_.contains(layer.digest)) {
      omitted_[layer.digest] = layer.size;  // a delta: the other side holds it
      continue;
    }
    if (auto st = add_blob_once(layer.digest, layer.size); !st) return st;
  }
  const manifest::Descriptor& requested = image.request->descriptor;
  if (auto st = add_bytes_once(requested.digest, image.manifest_bytes); !st) return st;
  ordered_json b;
  b["reference"] = image.request->ref.str();
  b["manifest"] = {{"mediaType", requested.media_type},
                   {"digest", requested.digest.str()},
                   {"size", static_cast<int64_t>(image.manifest_bytes.size())}};
  b["artifactType"] = image.artifact_type;
  note_referrer(b, requested);
  bundle_images_.push_back(std::move(b));
  return {};
}

// A leaf of a kept index (image, attestation or artifact): its blobs as stored.
core::Status DockerArchiveWriter::add_tree_leaf(const LoadedImage& leaf) {
  const auto& config = leaf.manifest.config;
  if (auto st = add_blob_once(config.digest, config.size); !st) return st;
  for (size_t j = 0; j < leaf.manifest.layers.size(); ++j) {
    const auto& layer = leaf.manifest.layers[j];
    if (!leaf.layer_present[j]) continue;  // a foreign layer the store lacks
    if (bundle_.omit_layers.contains(layer.digest) && !written_.contains(layer.digest)) {
      omitted_[layer.digest] = layer.size;
      continue;
    }
    if (auto st = add_blob_once(layer.digest, layer.size); !st) return st;
  }
  return add_bytes_once(leaf.request->descriptor.digest, leaf.manifest_bytes);
}

// A kept index: the whole tree, and ferry-bundle.json names the index for its
// reference instead of the platform images listed so far.
core::Status DockerArchiveWriter::add_index_tree(const ExportImage& index) {
  auto tree = store::read_index_tree(store_, index.descriptor);
  if (!tree) return core::fail(std::move(tree.error()));
  if (!tree->complete) {
    return core::fail(core::ErrorKind::NotFound,
                      fmt::format("the store lacks manifests of index {}", index.descriptor.digest.str()));
  }
  std::vector<ExportImage> requests;
  for (const auto& leaf : tree->leaves) requests.push_back({index.ref, leaf});
  auto leaves = load_images(store_, requests, MissingForeign::kSkip);
  if (!leaves) return core::fail(std::move(leaves.error()));
  for (const LoadedImage& leaf : *leaves) {
    if (auto st = add_tree_leaf(leaf); !st) return st;
  }
  for (const auto& n : tree->nested) {
    if (auto st = add_bytes_once(n.descriptor.digest, n.bytes); !st) return st;
  }
  if (auto st = add_bytes_once(index.descriptor.digest, tree->top.bytes); !st) return st;
  const std::string ref = index.ref.str();
  ordered_json kept = ordered_json::array();
  for (auto& b : bundle_images_) {
    if (b["reference"] != ref) kept.push_back(std::move(b));
  }
  ordered_json b;
  b["reference"] = ref;
  b["manifest"] = {{"mediaType", index.descriptor.media_type},
                   {"digest", index.descriptor.digest.str()},
                   {"size", static_cast<int64_t>(tree->top.bytes.size())}};
  note_referrer(b, index.descriptor);
  kept.push_back(std::move(b));
  bundle_images_ = std::move(kept);
  return {};
}

core::Status DockerArchiveWriter::add_image(const LoadedImage& image) {
  if (!image.artifact_type.empty()) return add_artifact(image);
  const auto& config = image.manifest.config;
  if (auto st = add_blob_once(config.digest, config.size); !st) return st;
  std::vector<manifest::Descriptor> layers;
  bool converted = opts_.uncompressed;
  for (size_t i = 0; i < image.manifest.layers.size(); ++i) {
    auto layer = add_layer(image, i, converted);
    if (!layer) return core::fail(std::move(layer.error()));
    layers.push_back(std::move(*layer));
  }
  auto entry = add_manifest(image, layers, converted);
  if (!entry) return core::fail(std::move(entry.error()));
  const reference::Reference& ref = image.request->ref;
  bool first_for_tag = !ref.tag.empty() && tags_seen_.insert(ref.familiar()).second;
  if (first_for_tag) {
    entry->annotations[std::string(kImageNameAnnotation)] = ref.name() + ":" + ref.tag;
    entry->annotations[std::string(store::kRefNameAnnotation)] = ref.tag;
  }
  if (bundle_.bundle) {
    ordered_json b;
    b["reference"] = ref.str();
    b["manifest"] = nlohmann::ordered_json::parse(descriptor_json(*entry));
    b["manifest"].erase("annotations");
    note_referrer(b, image.request->descriptor);
    bundle_images_.push_back(std::move(b));
  }
  index_.push_back(std::move(*entry));
  // Another platform under a tag already listed stays out of manifest.json: docker
  // load would retag to whichever came last, or refuse a foreign OS outright.
  if (ref.tag.empty() || first_for_tag) record(image, layers);
  return {};
}

void DockerArchiveWriter::record(const LoadedImage& image, const std::vector<manifest::Descriptor>& layers) {
  const reference::Reference& ref = image.request->ref;
  const digest::Digest& config = image.manifest.config.digest;
  auto [it, fresh] = item_by_config_.try_emplace(config, items_.size());
  if (fresh) {
    DockerItem item;
    item.config = blob_entry(config);
    for (size_t i = 0; i < layers.size(); ++i) {
      item.layers.push_back(blob_entry(layers[i].digest));
      const manifest::Descriptor& source = image.manifest.layers[i];
      if (!manifest::is_foreign_layer(source)) continue;
      ordered_json d;
      d["mediaType"] = source.media_type;
      d["size"] = source.size;
      d["digest"] = source.digest.str();
      if (!source.urls.empty()) d["urls"] = source.urls;
      item.layer_sources[image.config.diff_ids[i].str()] = std::move(d);
    }
    items_.push_back(std::move(item));
  }
  if (ref.tag.empty()) return;
  items_[it->second].repo_tags.push_back(ref.familiar());
  if (!image.config.diff_ids.empty()) {
    repositories_[ref.familiar_name()][ref.tag] = std::string(image.config.diff_ids.back().hex());
  }
}

core::Status DockerArchiveWriter::finish() {
  ordered_json items = ordered_json::array();
  for (const DockerItem& item : items_) {
    ordered_json j;
    j["Config"] = item.config;
    j["RepoTags"] = item.repo_tags;
    j["Layers"] = item.layers;
    if (!item.layer_sources.empty()) j["LayerSources"] = item.layer_sources;
    items.push_back(std::move(j));
  }
  // Docker's json.Encoder ends manifest.json and repositories with a newline.
  auto st = tar_.add_file("index.json", index_json(index_))
                .and_then([&] { return tar_.add_file("manifest.json", items.dump() + "\n"); })
                .and_then([&] { return tar_.add_file("oci-layout", docker_oci_layout_json()); });
  if (st && !repositories_.empty()) st = tar_.add_file("repositories", ordered_json(repositories_).dump() + "\n");
  if (!st || !bundle_.bundle) return st;
  ordered_json b;
  b["ferryBundle"] = kBundleVersion;
  b["kind"] = bundle_.since.empty() ? "full" : "delta";
  if (!bundle_.since.empty()) {
    b["since"] = bundle_.since;
    b["note"] = "A delta bundle: the layers listed under \"omitted\" are not in this file, so it cannot be "
                "docker-loaded. Import it with `ferry import` into the store that holds them.";
  }
  b["images"] = bundle_images_;
  ordered_json omitted = ordered_json::array();
  for (const auto& [d, size] : omitted_) omitted.push_back({{"digest", d.str()}, {"size", size}});
  b["omitted"] = std::move(omitted);
  return tar_.add_file(kBundleFile, b.dump(2) + "\n");
}

bool platform_matches(const manifest::Platform& have, const manifest::Platform& want) {
  return have.os == want.os && have.architecture == want.architecture &&
         (want.variant.empty() || have.variant == want.variant);
}

// Puts the image of `want` first among the images of each reference, keeping the
// order of references and of the other images.
void prefer_platform(std::vector<LoadedImage>& images, const manifest::Platform& want) {
  std::map<std::string, size_t> first_seen;
  for (size_t i = 0; i < images.size(); ++i) first_seen.try_emplace(images[i].request->ref.str(), i);
  std::stable_sort(images.begin(), images.end(), [&](const LoadedImage& a, const LoadedImage& b) {
    size_t ka = first_seen[a.request->ref.str()], kb = first_seen[b.request->ref.str()];
    if (ka != kb) return ka < kb;
    const manifest::Platform none;
    return platform_matches(image_platform(a).value_or(none), want) &&
           !platform_matches(image_platform(b).value_or(none), want);
  });
}

core::Status check_layer_counts(const std::vector<LoadedImage>& images) {
  for (const LoadedImage& image : images) {
    if (!image.artifact_type.empty()) continue;  // no rootfs (bundles carry artifacts as blobs)
    if (image.manifest.layers.size() != image.config.diff_ids.size()) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{}: manifest has {} layers but config has {} diff_ids", image.label,
                                    image.manifest.layers.size(), image.config.diff_ids.size()));
    }
  }
  return {};
}

core::Status write_docker_archive_impl(const store::Store& store, const std::vector<ExportImage>& images,
                                       const fs::path& out, const DockerArchiveOptions& opts,
                                       const BundleOptions& bundle) {
  auto loaded = load_images(store, images, MissingForeign::kFail);
  if (!loaded) return core::fail(std::move(loaded.error()));
  if (!bundle.bundle) {
    if (auto st = refuse_artifacts(*loaded); !st) return st;
  }
  if (auto st = check_layer_counts(*loaded); !st) return st;
  if (opts.uncompressed && !bundle.omit_layers.empty()) {
    return core::fail(core::ErrorKind::InvalidInput, "a delta bundle keeps layers as stored (not uncompressed)");
  }
  if (bundle.manifest_platform) prefer_platform(*loaded, *bundle.manifest_platform);
  auto file = TempOutputFile::create(out);
  if (!file) return core::fail(std::move(file.error()));
  TarWriter tar(file->fd(), file->temp_path().string());
  digest::Sha256 hasher;
  if (opts.written) tar.hash_into(&hasher);
  DockerArchiveWriter writer(store, opts, bundle, tar, out);
  auto st = tar.add_directory("blobs/").and_then([&] { return tar.add_directory("blobs/sha256/"); });
  for (size_t i = 0; st && i < loaded->size(); ++i) {
    st = writer.add_image((*loaded)[i]);
    if (!st) st.error().context((*loaded)[i].label);
  }
  for (size_t i = 0; st && i < bundle.indexes.size(); ++i) {
    st = writer.add_index_tree(bundle.indexes[i]);
    if (!st) st.error().context(bundle.indexes[i].ref.str());
  }
  if (st) st = writer.finish();
  if (st) st = tar.finish();
  if (st) st = file->commit();
  if (st && opts.written) *opts.written = {hasher.finish(), tar.bytes_written()};
  return st;
}

}  // namespace

manifest::Platform host_platform() {
  struct utsname u {};
  std::string machine = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (machine == "x86_64") return {"linux", "amd64", "", ""};
  if (machine == "aarch64" || machine == "arm64") return {"linux", "arm64", "", ""};  // matches v8 and variant-less entries
  if (machine.starts_with("armv7")) return {"linux", "arm", "v7", ""};
  if (machine.starts_with("armv6")) return {"linux", "arm", "v6", ""};
  if (machine == "i686" || machine == "i386") return {"linux", "386", "", ""};
  return {"linux", machine, "", ""};  // ppc64le, s390x, riscv64 are named alike
}

core::Status check_docker_loadable(const store::Store& store, const std::vector<ExportImage>& images) {
  auto loaded = load_images(store, images, MissingForeign::kSkip);
  if (!loaded) return core::fail(std::move(loaded.error()));
  return refuse_artifacts(*loaded);
}

core::Status write_docker_archive(const store::Store& store, const std::vector<ExportImage>& images,
                                  const fs::path& out, const DockerArchiveOptions& opts) {
  return write_docker_archive(store, images, out, opts, BundleOptions{});
}

core::Status write_docker_archive(const store::Store& store, const std::vector<ExportImage>& images,
                                  const fs::path& out, const DockerArchiveOptions& opts, const BundleOptions& bundle) {
  auto st = write_docker_archive_impl(store, images, out, opts, bundle);
  if (!st) st.error().context(fmt::format("docker archive {}", out.string()));
  return st;
}

}  // namespace ferry::exporter
