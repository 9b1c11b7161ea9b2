// Export: write images from the store as files that travel (docker load tarballs,
// OCI layouts and archives). Reads the store only; never touches the network.
//
// Every output is streamed (memory does not grow with layer size), written under a
// temporary name in the destination directory, fsynced and renamed into place, so a
// half-written file never carries the final name.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "store/store.h"

namespace ferry::exporter {

namespace fs = std::filesystem;

// One platform image (or artifact) to export. All blobs it names must be in the
// store. OCI layouts and archives also take an index (all platforms): it is written
// with its exact bytes, every index below it and every manifest it names
// (attestations included), and index.json names the index itself, so the
// registry's digest crosses the gap. Such an index must be complete in the store
// (store::read_index_tree(...).complete); docker-load tarballs take no index.
// Artifacts (manifest::is_artifact) go into OCI layouts and into bundles (blobs and
// ferry-bundle.json only); a plain docker-load tarball refuses them.
struct ExportImage {
  reference::Reference ref;            // as asked; RepoTags use ref.familiar() when it has a tag
  manifest::Descriptor descriptor;     // the manifest (digest, size, media type, platform)
};

// ferry-bundle.json: what a bundle holds, for `ferry import` (and people).
inline constexpr std::string_view kBundleFile = "ferry-bundle.json";
inline constexpr int kBundleVersion = 1;

// Store blobs already checked against their digest during one export run, so
// that a layer shared by many archives is hashed once, not once per archive.
// Thread-safe.
class VerifiedBlobs {
 public:
  bool contains(const digest::Digest& d) const;
  void insert(const digest::Digest& d);

 private:
  mutable std::mutex mu_;
  std::set<digest::Digest> digests_;
};

// An archive's checksum, computed over the bytes as they were written (no
// second read of the file).
struct WrittenFile {
  digest::Digest sha256;
  uint64_t size = 0;
};

struct DockerArchiveOptions {
  // Decompress every layer (gzip or zstd) and write plain tar layers named by
  // diff_id (new OCI manifests with tar layer types are written for index.json).
  bool uncompressed = false;
  // Write zstd layers as fetched. Off by default: zstd layers are decompressed as
  // with `uncompressed` (gzip ones stay as they are), because Docker before 23
  // (Debian 12 has 20.10) cannot load them. For engines that load zstd.
  bool keep_zstd = false;
  // Optional: blobs checked earlier in this run (skipped) and now (added).
  VerifiedBlobs* verified = nullptr;
  // Optional: receives the archive's sha256 and size once it is committed.
  WrittenFile* written = nullptr;
};

// Many images in one docker-load tarball (`ferry export --bundle`).
struct BundleOptions {
  // When a reference has several platforms, the one whose image goes into
  // manifest.json (and gets the name annotations in index.json); the others are
  // in index.json only. nullopt, or no image of that platform: the first one.
  std::optional<manifest::Platform> manifest_platform;
  // Write ferry-bundle.json naming every image (reference -> index.json entries).
  bool bundle = false;
  // A delta bundle: these layers are left out (the receiving side holds them);
  // ferry-bundle.json lists each one omitted (digest, size) and `since` (the
  // receipt's digest). Manifests and configs are always included. Such a tarball
  // cannot be docker-loaded. Not with `uncompressed`.
  std::set<digest::Digest> omit_layers;
  std::string since;
  // Indexes kept whole (all platforms in the store): every index and manifest of
  // the tree goes in (attestations and their blobs included) and ferry-bundle.json
  // names the index, not its platform images, for the reference, so `ferry import`
  // records the registry's digest. index.json and manifest.json still list the
  // platform images (from `images`) for docker load. Each must be complete in the
  // store (store::read_index_tree(...).complete).
  std::vector<ExportImage> indexes;
};

// The platform of this machine (linux/amd64, linux/arm64/v8, ...), as Docker names it.
manifest::Platform host_platform();

// A docker-load tarball as `docker save` writes it since Docker 25: oci-layout,
// index.json, blobs/sha256/<hex> (manifests, configs, gzip layers as fetched; zstd
// layers decompressed under a new OCI manifest unless opts.keep_zstd),
// manifest.json (Config, RepoTags, Layers pointing into blobs/sha256/) and
// repositories. Each blob appears once even when images share it. When two images
// carry the same reference (several platforms), manifest.json lists only the first
// and only the first index.json entry carries the name annotations; an image asked
// for by digest only gets RepoTags []. Every entry has mtime 0, uid/gid 0 and mode
// 0644/0755, so the same images give the same bytes. `repositories` maps familiar
// name -> tag -> top diff_id hex, as Docker 25+ writes it (docker load reads it only
// when manifest.json is missing). A foreign layer must be in the store (NotFound
// otherwise); it gets a LayerSources entry. Blobs are re-hashed while copied: a
// corrupt store fails with DigestMismatch. On any error no file is left behind.
[[nodiscard]] core::Status write_docker_archive(const store::Store& store,
                                                const std::vector<ExportImage>& images,
                                                const fs::path& out, const DockerArchiveOptions& opts);
// The same with bundle options: the host platform in manifest.json, a
// ferry-bundle.json naming every image, and for a delta the layers left out.
[[nodiscard]] core::Status write_docker_archive(const store::Store& store,
                                                const std::vector<ExportImage>& images,
                                                const fs::path& out, const DockerArchiveOptions& opts,
                                                const BundleOptions& bundle);

// Whether `images` can go into a plain docker-load tarball: each manifest is read
// back and checked; an artifact fails with refuse_artifacts' line
// ("<ref>: is an artifact (<type>), not an image: ...", InvalidInput).
[[nodiscard]] core::Status check_docker_loadable(const store::Store& store, const std::vector<ExportImage>& images);

struct OciOptions {
  // Rewrite Docker schema2 manifests as OCI image manifests (OCI config and layer
  // media types, the same config and layer blobs, hence a new manifest digest), as
  // `skopeo copy` does when it writes an OCI layout. containers/image (skopeo,
  // podman load) looks names up only among OCI-typed index.json entries, so without
  // this it finds a Docker-typed image only when it is the layout's sole image.
  // Off by default: manifests keep their exact bytes and digests.
  bool oci_media_types = false;
  // As in DockerArchiveOptions (archives only; a layout directory links blobs).
  VerifiedBlobs* verified = nullptr;
  WrittenFile* written = nullptr;
};

// A plain OCI image layout directory at `out_dir` (created; must be empty or absent).
// index.json has one entry per image with org.opencontainers.image.ref.name = the
// full reference; blobs are hard links into the store when on the same file system.
// A foreign layer absent from the store is left out (the layout spec allows it).
[[nodiscard]] core::Status write_oci_layout(const store::Store& store,
                                            const std::vector<ExportImage>& images,
                                            const fs::path& out_dir);
[[nodiscard]] core::Status write_oci_layout(const store::Store& store,
                                            const std::vector<ExportImage>& images,
                                            const fs::path& out_dir, const OciOptions& opts);

// The same layout as a tar file (skopeo's oci-archive:).
[[nodiscard]] core::Status write_oci_archive(const store::Store& store,
                                             const std::vector<ExportImage>& images,
                                             const fs::path& out);
[[nodiscard]] core::Status write_oci_archive(const store::Store& store,
                                             const std::vector<ExportImage>& images,
                                             const fs::path& out, const OciOptions& opts);

}  // namespace ferry::exporter
