// The images of one export, read back from the store and checked before any output
// exists: manifest and config bytes (hash and size verified), parsed, and every
// layer blob present. Plus what all export formats share: blob entry names, copying
// a store blob into a tar with its hash verified on the way, and the JSON of OCI
// descriptors, index.json and oci-layout.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "export/export.h"
#include "export/tar_writer.h"
#include "manifest/manifest.h"
#include "store/store.h"

namespace ferry::exporter {

inline constexpr std::string_view kImageNameAnnotation = "io.containerd.image.name";
inline constexpr std::string_view kOciNondistributableGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

struct LoadedImage {
  const ExportImage* request = nullptr;
  std::string label;  // the reference as written in messages
  std::string manifest_bytes;
  manifest::ImageManifest manifest;
  std::string config_bytes;
  manifest::ImageConfig config;      // empty for an artifact (its config is no image config)
  std::string artifact_type;         // non-empty: an OCI artifact (manifest::artifact_type_of), not an image
  // Layers whose blob is in the store; a foreign layer may be missing (kSkip).
  std::vector<bool> layer_present;
};

// What to do with a foreign (non-distributable) layer whose blob is not in the
// store: a docker archive cannot load without it (kFail); an OCI layout may leave
// it out, its descriptor keeps the URLs to fetch it from (kSkip).
enum class MissingForeign { kFail, kSkip };

// Reads and checks every image, dropping exact repeats (same reference and
// manifest). Errors name the image and the digest at fault. An artifact's config is
// read and verified like any blob but not parsed (it has no os, no rootfs).
[[nodiscard]] core::Result<std::vector<LoadedImage>> load_images(const store::Store& store,
                                                                 const std::vector<ExportImage>& images,
                                                                 MissingForeign missing_foreign);

// "blobs/sha256/<hex>", the name of a blob in every layout.
std::string blob_entry(const digest::Digest& d);

// Adds store blob `d` (of `size` bytes) to the tar as blob_entry(d); its size and
// sha256 are checked while it streams (a corrupt store fails the export). A blob
// in `verified` has its size checked only; one checked now is added to it.
[[nodiscard]] core::Status add_store_blob(TarWriter& tar, const store::Store& store, const digest::Digest& d,
                                          int64_t size, VerifiedBlobs* verified = nullptr);

// The platform an index entry gets: the descriptor's, else the config's; nullopt
// for an artifact with neither.
std::optional<manifest::Platform> image_platform(const LoadedImage& image);

// The one-line refusal of a docker-load tarball for an artifact:
// "<ref>: is an artifact (<type>), not an image: a docker-load tarball cannot carry
// it; use --format oci-archive". InvalidInput; {} when every image is an image.
[[nodiscard]] core::Status refuse_artifacts(const std::vector<LoadedImage>& images);

// JSON bodies, compact, keys in the order Go's image-spec types marshal them.
std::string descriptor_json(const manifest::Descriptor& d);
std::string index_json(const std::vector<manifest::Descriptor>& manifests);
// A Docker schema2 manifest restated as an OCI image manifest: OCI config type,
// layer types mapped (gzip -> tar+gzip, foreign -> nondistributable), same blobs.
std::string docker_to_oci_manifest(const manifest::ImageManifest& m);
// An OCI image manifest (schemaVersion 2, OCI media type) with these descriptors.
std::string oci_manifest_json(const manifest::Descriptor& config, const std::vector<manifest::Descriptor>& layers);
// `{"imageLayoutVersion": "1.0.0"}` byte for byte as docker save writes it.
std::string docker_oci_layout_json();
// `{"imageLayoutVersion":"1.0.0"}` as containerd, skopeo and the store write it.
std::string oci_layout_json();

}  // namespace ferry::exporter
