// Manifests: the four media types ferry pulls, parsed from the exact bytes served.
//
// Parsing never re-serialises: the digest of a manifest is the sha256 of the bytes
// the registry sent, computed by the caller. Bodies over kMaxManifestSize are
// refused before parsing, and nesting beyond kMaxDepth is refused. Every digest in a
// descriptor is validated (so it is safe as a path) and every size must be >= 0.
// simdjson stays inside this module. Plain values: no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"

namespace ferry::manifest {

inline constexpr uint64_t kMaxManifestSize = 4 * 1024 * 1024;  // issue #2: bodies over 4 MiB refused
inline constexpr size_t kMaxDepth = 64;                       // far beyond any real manifest
inline constexpr uint64_t kMaxConfigSize = 8 * 1024 * 1024;   // image configs carry history; still bounded
inline constexpr size_t kMaxIndexDepth = 4;      // index levels from the top one (itself 1); issue #12
inline constexpr size_t kMaxTreeIndexes = 256;   // nested indexes below one top index; far beyond real ones

namespace media {
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";  // OCI 1.1 artifacts' config
}  // namespace media

// The Accept header value for manifest requests: the four types parse() handles,
// then the two schema1 types (converted by pull, see schema1.h).
std::string accept_header();

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64"
  std::string variant;       // "v8", may be empty
  std::string os_version;    // Windows only, may be empty

  // "linux/amd64" or "linux/arm64/v8".
  std::string str() const;
  friend bool operator==(const Platform&, const Platform&) = default;
};

// "os/arch[/variant]"; error names the bad text.
[[nodiscard]] core::Result<Platform> parse_platform(std::string_view text);

struct Descriptor {
  std::string media_type;
  digest::Digest digest;
  int64_t size = 0;
  std::optional<Platform> platform;            // index entries
  std::map<std::string, std::string> annotations;
  std::vector<std::string> urls;               // foreign layers
};

// Docker schema2 or OCI image manifest.
struct ImageManifest {
  std::string media_type;  // from the body's mediaType, or the Content-Type when absent
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::string artifact_type;
  std::map<std::string, std::string> annotations;
};

// Docker manifest list or OCI index.
struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;             // OCI 1.1: an index can itself be a referrer
  std::string artifact_type;
  std::map<std::string, std::string> annotations;
};

using Parsed = std::variant<ImageManifest, Index>;

bool is_index_type(std::string_view media_type);

// A non-distributable ("foreign") layer: Docker's foreign media type or an OCI
// nondistributable one. Registries need not serve it; pull skips it, verify does not
// require it, export needs it only for docker-load tarballs. One rule for all three.
bool is_foreign_layer(const Descriptor& layer);
bool is_image_manifest_type(std::string_view media_type);

// Parse `body`. `content_type` is the HTTP Content-Type (parameters ignored); the
// body's own mediaType wins when present, and the two must not contradict each
// other (one says index, the other image manifest: InvalidInput). With neither, or
// a generic `application/json`, the shape decides: `manifests` -> OCI index,
// `config` + `layers` -> OCI manifest. Schema1 yields ErrorKind::Unsupported with a
// message that says schema1 (schema1.h reads it); other unknown media types are Unsupported too.
// Errors are one line naming the field: `manifest: layers[2].digest: invalid ...`.
[[nodiscard]] core::Result<Parsed> parse(std::string_view body, std::string_view content_type);

// Pick the entry of `index` for `want`: exact os/architecture; variant must match
// when `want` has one (arm64 with no variant matches "v8" or empty; arm with no
// variant prefers v7); entries with platform unknown/unknown or annotated as
// attestation manifests are never chosen (see is_image_entry). With no variant wanted
// the variant-less entry wins, then arm64 v8 / arm v7, then the first listed. A
// non-empty `want.os_version` (Windows) must match exactly; empty takes the first.
// NotFound lists the platforms available: "no manifest for platform linux/s390x;
// available: linux/amd64, linux/arm/v7".
[[nodiscard]] core::Result<Descriptor> select_platform(const Index& index, const Platform& want);

// True for an index entry that is a runnable image: it has a platform, the platform
// is not unknown/unknown, and it carries no `vnd.docker.reference.type` annotation
// (attestation-manifest, builder, ...).
bool is_image_entry(const Descriptor& entry);

// Every real platform of the index, in index order (attestations, unknown/unknown
// and entries without a platform skipped).
std::vector<Descriptor> image_entries(const Index& index);

// ---- nested indexes ---------------------------------------------------------------
// An index may name other indexes (an OCI index of per-variant indexes). A tree is a
// top index plus every index below it, by digest. `lookup` gives the parsed index
// for a digest, or nullptr when it is not at hand.
using IndexLookup = std::function<const Index*(const digest::Digest&)>;

// The non-index entries reached from `top`, depth first in index order, each digest
// once (a repeated entry, or an index reached twice, is taken the first time only, so
// a cycle ends). A nested index's platform, when its descriptor has one, is given to
// its children that have none. Errors: a nested index `lookup` lacks (NotFound, naming
// it), or more than kMaxIndexDepth levels (InvalidInput: "indexes nested deeper than
// 4 levels at sha256:...").
[[nodiscard]] core::Result<std::vector<Descriptor>> leaf_entries(const Index& top, const IndexLookup& lookup);

// The same entries as one flat index (top's media type), for select_platform and
// image_entries over the whole tree.
[[nodiscard]] core::Result<Index> flatten(const Index& top, const IndexLookup& lookup);

// ---- artifacts ----------------------------------------------------------------------
// An OCI 1.1 artifact (signature, SBOM, attestation...) rather than a runnable image:
// it has an artifactType, or a config that is not an image config (the empty
// descriptor application/vnd.oci.empty.v1+json, cosign's...), or a layer that is
// not a filesystem layer (in-toto statements, cosign signatures). Such a manifest has
// no image config to parse and no rootfs; it is kept and carried as blobs.
bool is_artifact(const ImageManifest& m);
// What kind of artifact: artifactType, else the config's media type when it is not an
// image config, else the first non-layer media type. "" for an image.
std::string artifact_type_of(const ImageManifest& m);
// A filesystem layer media type (Docker or OCI, tar / gzip / zstd, foreign or
// nondistributable).
bool is_layer_type(std::string_view media_type);

// The parts of an image config that export needs. Bodies over kMaxConfigSize are
// refused; os and architecture are required, rootfs.diff_ids validated as digests.
struct ImageConfig {
  Platform platform;                         // os, architecture, variant
  std::vector<digest::Digest> diff_ids;      // rootfs.diff_ids in order
};
[[nodiscard]] core::Result<ImageConfig> parse_config(std::string_view body);

}  // namespace ferry::manifest
