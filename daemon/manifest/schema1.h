// Docker schema1 (image manifest v2, schema 1), signed and unsigned: its digest, its
// parsed form, and its conversion into a Docker schema2 config and manifest.
//
// The one idea: a schema1 digest is not the sha256 of the bytes served. A signed
// manifest (`...manifest.v1+prettyjws`) is a JWS whose payload is the manifest
// without its `signatures` key: the first `formatLength` bytes of the body followed
// by the base64url-decoded `formatTail`, both read from each signature's (base64url)
// `protected` header. The digest is the sha256 of that payload, so it stays the same
// when a registry re-signs the manifest on every GET. An unsigned one
// (`...manifest.v1+json`) is hashed whole. The JWS signatures themselves are not
// verified: registries sign with their own throwaway keys, so a valid signature
// proves nothing; the digest (Docker-Content-Digest, a pinned @sha256) is the trust
// anchor, as it is for every other manifest.
//
// Plain values, no I/O. Everything read is validated: blobSums as digests, the
// fsLayers/history lengths equal, counts and sizes bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "digest/digest.h"
#include "manifest/manifest.h"

namespace ferry::manifest {

inline constexpr size_t kMaxSchema1Layers = 1024;     // docker itself stops at 127 layers
inline constexpr size_t kMaxSchema1Signatures = 64;   // one per signer; real ones carry 1
inline constexpr size_t kMaxV1Compatibility = 1 << 20;  // one history entry's JSON string

bool is_schema1_type(std::string_view media_type);

// True when `content_type` names schema1, or (for any other Content-Type that is not
// a schema2/OCI manifest or index type) the body is a JSON object with
// `schemaVersion: 1`. Cheap for schema2/OCI types: the body is not parsed.
bool is_schema1(std::string_view body, std::string_view content_type);

// The bytes a schema1 manifest's digest covers: the JWS payload when the body has
// `signatures` (every signature's protected header must name the same formatLength
// and formatTail, formatLength within the body), else the body itself. Errors are
// one line starting "schema1 manifest: ".
[[nodiscard]] core::Result<std::string> schema1_payload(std::string_view body);

// The digest of any manifest as served: sha256 of the schema1 payload for a schema1
// manifest (is_schema1), sha256 of the body for everything else.
[[nodiscard]] core::Result<digest::Digest> manifest_digest(std::string_view body, std::string_view content_type);

// One history entry's v1Compatibility, the fields conversion needs.
struct V1Compatibility {
  std::string id, parent;
  std::string created;     // as written (RFC 3339), may be empty
  std::string author, comment;
  std::string created_by;  // container_config.Cmd joined with spaces
  bool throwaway = false;  // no filesystem change: its blobSum is not a layer
};

struct Schema1 {
  std::string name, tag, architecture;
  // Top layer first, as in the manifest; fs_layers[k] goes with history[k]. Entries
  // whose v1 id repeats the next one's are folded into one (as docker does).
  std::vector<digest::Digest> fs_layers;
  std::vector<std::string> history;       // the v1Compatibility JSON strings
  std::vector<V1Compatibility> compat;    // history[k] parsed
  Platform platform;                      // from history[0]: os (default linux), architecture, variant
};

// Parse the payload (schema1_payload's result, or an unsigned body): schemaVersion 1,
// at least one and at most kMaxSchema1Layers fsLayers, as many history entries, each
// v1Compatibility a JSON object. Errors start "schema1 manifest: " and name the field.
[[nodiscard]] core::Result<Schema1> parse_schema1(std::string_view payload);

// The layers of the converted image, bottom first: every fsLayer whose history entry
// is not throwaway (a digest may repeat, as in any layer list).
std::vector<digest::Digest> schema1_layers(const Schema1& m);

// The Docker image config for `m` with `diff_ids` (one per schema1_layers entry): the
// top history entry's v1Compatibility without its v1-only fields (id, parent,
// parent_id, layer_id, throwaway, Size), os/architecture/variant from m.platform
// (os defaulted to linux, architecture to the manifest's), plus rootfs {type: layers, diff_ids} and a history entry per
// v1Compatibility, bottom first (created, author, created_by, comment, empty_layer
// for throwaway ones). Keys sorted, compact: the same input gives the same bytes.
[[nodiscard]] core::Result<std::string> schema1_config(const Schema1& m, const std::vector<digest::Digest>& diff_ids);

// A Docker schema2 manifest (compact, fields in a fixed order) naming `config` and
// `layers`; each descriptor's media type, digest and size are written.
std::string schema2_manifest(const Descriptor& config, const std::vector<Descriptor>& layers);

}  // namespace ferry::manifest
