// Loading the images of an export from the store, verified store-blob copies into a
// tar, and the OCI JSON every layout shares.
#include "export/image_set.h"

#include "store/fs_util.h"
#include "store/image_view.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ferry::exporter {

namespace {

using ordered_json = nlohmann::ordered_json;

core::Status check_layers(const store::Store& store, LoadedImage& image, MissingForeign missing_foreign) {
  const auto& layers = image.manifest.layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    bool present = store.has_blob(layers[i].digest, layers[i].size);
    image.layer_present.push_back(present);
    if (present) continue;
    if (manifest::is_foreign_layer(layers[i])) {
      if (missing_foreign == MissingForeign::kSkip) continue;
      return core::fail(core::ErrorKind::NotFound,
                        fmt::format("foreign layer {} ({} bytes, non-distributable) is not in the store; "
                                    "fetch it from its URLs before exporting a docker archive",
                                    layers[i].digest.str(), layers[i].size));
    }
    if (store.has_blob(layers[i].digest)) {
      return core::fail(core::ErrorKind::SizeMismatch,
                        fmt::format("layer {} in the store is not {} bytes", layers[i].digest.str(), layers[i].size));
    }
    return core::fail(core::ErrorKind::NotFound, fmt::format("layer {} is not in the store", layers[i].digest.str()));
  }
  return {};
}

core::Result<LoadedImage> load_image(const store::Store& store, const ExportImage& request,
                                     MissingForeign missing_foreign) {
  LoadedImage image;
  image.request = &request;
  const manifest::Descriptor& desc = request.descriptor;
  if (manifest::is_index_type(desc.media_type)) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("manifest {} is an index ({}); export needs one platform's image manifest",
                                  desc.digest.str(), desc.media_type));
  }
  auto stored = store::read_manifest(store, desc);
  if (!stored) return core::fail(std::move(stored.error()));
  if (!std::holds_alternative<manifest::ImageManifest>(stored->parsed)) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("manifest {} is an index; export needs an image manifest", desc.digest.str()));
  }
  image.manifest_bytes = std::move(stored->bytes);
  image.manifest = std::get<manifest::ImageManifest>(std::move(stored->parsed));
  auto config = store::read_verified(store, image.manifest.config, manifest::kMaxConfigSize, "config");
  if (!config) return core::fail(std::move(config.error()));
  image.config_bytes = std::move(*config);
  image.artifact_type = manifest::artifact_type_of(image.manifest);
  if (image.artifact_type.empty()) {
    auto parsed_config = manifest::parse_config(image.config_bytes);
    if (!parsed_config) return core::fail(std::move(parsed_config.error()));
    image.config = std::move(*parsed_config);
  }
  if (auto st = check_layers(store, image, missing_foreign); !st) return core::fail(std::move(st.error()));
  return image;
}

ordered_json platform_json(const manifest::Platform& p) {
  ordered_json j;
  j["architecture"] = p.architecture;
  j["os"] = p.os;
  if (!p.os_version.empty()) j["os.version"] = p.os_version;
  if (!p.variant.empty()) j["variant"] = p.variant;
  return j;
}

ordered_json descriptor_object(const manifest::Descriptor& d) {
  ordered_json j;
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest.str();
  j["size"] = d.size;
  if (!d.urls.empty()) j["urls"] = d.urls;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) j["platform"] = platform_json(*d.platform);
  return j;
}

}  // namespace

core::Result<std::vector<LoadedImage>> load_images(const store::Store& store, const std::vector<ExportImage>& images,
                                                   MissingForeign missing_foreign) {
  if (images.empty()) return core::fail(core::ErrorKind::InvalidInput, "nothing to export: no images given");
  std::vector<LoadedImage> out;
  out.reserve(images.size());
  std::set<std::pair<std::string, digest::Digest>> seen;
  for (const ExportImage& request : images) {
    std::string label = request.ref.str();
    if (!seen.emplace(label, request.descriptor.digest).second) continue;  // asked twice
    auto image = load_image(store, request, missing_foreign);
    if (!image) return core::fail(std::move(image.error().context(label)));
    image->label = std::move(label);
    out.push_back(std::move(*image));
  }
  return out;
}

std::string blob_entry(const digest::Digest& d) { return fmt::format("blobs/sha256/{}", d.hex()); }

bool VerifiedBlobs::contains(const digest::Digest& d) const {
  std::lock_guard lock(mu_);
  return digests_.contains(d);
}

void VerifiedBlobs::insert(const digest::Digest& d) {
  std::lock_guard lock(mu_);
  digests_.insert(d);
}

core::Status add_store_blob(TarWriter& tar, const store::Store& store, const digest::Digest& d, int64_t size,
                            VerifiedBlobs* verified) {
  const bool check = verified == nullptr || !verified->contains(d);
  const fs::path path = store.blob_path(d);
  auto opened = store.open_blob(d);  // a link planted in blobs/ is refused
  if (!opened) return core::fail(std::move(opened.error()));
  const int fd = opened->get();
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || sb.st_size != size) {
    return core::fail(core::ErrorKind::SizeMismatch,
                      fmt::format("store blob {} is not {} bytes", d.str(), size));
  }
  digest::Sha256 hasher;
  auto read_hashing = [&](char* dst, size_t cap) -> core::Result<size_t> {
    for (;;) {
      ssize_t n = ::read(fd, dst, cap);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return core::fail(core::errno_error("read", path.string(), errno));
      if (check) hasher.update(dst, static_cast<size_t>(n));
      return static_cast<size_t>(n);
    }
  };
  auto st = tar.add_file_streamed(blob_entry(d), static_cast<uint64_t>(size), read_hashing);
  opened->reset();
  if (!st || !check) return st;
  if (digest::Digest actual = hasher.finish(); actual != d) {
    return core::fail(core::ErrorKind::DigestMismatch,
                      fmt::format("store blob {} is corrupt: its content hashes to {}", d.str(), actual.str()));
  }
  if (verified) verified->insert(d);
  return {};
}

std::optional<manifest::Platform> image_platform(const LoadedImage& image) {
  const auto& desc = image.request->descriptor;
  if (desc.platform && !desc.platform->os.empty()) return *desc.platform;
  if (image.config.platform.os.empty()) return std::nullopt;
  return image.config.platform;
}

core::Status refuse_artifacts(const std::vector<LoadedImage>& images) {
  for (const LoadedImage& image : images) {
    if (image.artifact_type.empty()) continue;
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: is an artifact ({}), not an image: a docker-load tarball cannot carry it; "
                                  "use --format oci-archive",
                                  image.label, image.artifact_type));
  }
  return {};
}

std::string descriptor_json(const manifest::Descriptor& d) { return descriptor_object(d).dump(); }

std::string index_json(const std::vector<manifest::Descriptor>& manifests) {
  ordered_json list = ordered_json::array();
  for (const auto& d : manifests) list.push_back(descriptor_object(d));
  ordered_json j;
  j["schemaVersion"] = 2;
  j["mediaType"] = manifest::media::kOciIndex;
  j["manifests"] = std::move(list);
  return j.dump();
}

std::string oci_manifest_json(const manifest::Descriptor& config, const std::vector<manifest::Descriptor>& layers) {
  ordered_json list = ordered_json::array();
  for (const auto& d : layers) list.push_back(descriptor_object(d));
  ordered_json j;
  j["schemaVersion"] = 2;
  j["mediaType"] = manifest::media::kOciManifest;
  j["config"] = descriptor_object(config);
  j["layers"] = std::move(list);
  return j.dump();
}

std::string docker_to_oci_manifest(const manifest::ImageManifest& m) {
  namespace media = manifest::media;
  manifest::Descriptor config = m.config;
  config.media_type = media::kOciConfig;
  std::vector<manifest::Descriptor> layers = m.layers;
  for (auto& layer : layers) {
    if (layer.media_type == media::kDockerLayerGzip) layer.media_type = media::kOciLayerGzip;
    if (layer.media_type == media::kDockerForeignLayerGzip) layer.media_type = kOciNondistributableGzip;
  }
  return oci_manifest_json(config, layers);
}

std::string docker_oci_layout_json() { return R"({"imageLayoutVersion": "1.0.0"})"; }

std::string oci_layout_json() { return R"({"imageLayoutVersion":"1.0.0"})"; }

}  // namespace ferry::exporter
