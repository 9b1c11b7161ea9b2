// push: upload images from the store to a registry, keeping every digest.
//
// An item is what index.json holds for one reference (an index, or one or more
// platform manifests) plus where it goes. One run over many items, each image on
// its own way (none waits for another's step): the destination tag is asked with
// HEAD first (an image already there costs one request); its blobs join one plan
// deduplicated per repository and digest (HEAD skips what the destination holds);
// a blob needed in several repositories of one registry is uploaded once and
// mounted from there into the others (they wait for the upload); uploads run
// together up to `concurrency`; once an image's blobs are in, its manifests go up
// children first (deepest first under nested indexes; artifacts and attestations
// the store holds included) and the tag last, as the exact stored bytes, verified
// against their digests when read back from the store. One failing image does not
// stop the others; the report says which failed and why.
//
// Runs on the engine's loop thread (it drives engine.run() itself).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "digest/digest.h"
#include "http/engine.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "registry/client.h"
#include "store/store.h"

namespace ferry::push {

struct PushItem {
  std::string source;                            // the store's reference, for reports
  std::vector<manifest::Descriptor> manifests;   // its index.json entries
  reference::Reference destination;              // registry, repository, tag (or digest)
  std::string referrer_of;                       // a referrer: its subject's source reference
};

struct PushOptions {
  int concurrency = 8;  // requests in flight, all registries (each registry may cap its own: max_concurrency)
  std::function<registry::RegistryOptions(const std::string& domain)> registry_options;
  uint64_t chunk_size = 32ull << 20;  // blobs above go in PATCH chunks of this size
  // Called on the loop thread every progress_interval while requests are in flight:
  // the bytes of the blobs found missing, and of those sent since.
  std::function<void(const core::Progress&)> progress;
  std::chrono::milliseconds progress_interval{500};
  // The whole push at most this long on the engine's clock: every image whose tag
  // has not gone up by then fails with "deadline of <deadline_text> exceeded", the
  // requests in flight stop and nothing more is sent (blobs already uploaded stay
  // at the destination; the next push finds them with a HEAD).
  std::optional<std::chrono::milliseconds> deadline;
  std::string deadline_text;  // how the user wrote it, e.g. "2m"
};

struct PushedImage {
  std::string source;
  reference::Reference destination;
  digest::Digest digest;             // what the destination tag names now
  std::optional<core::Error> error;  // set when this image failed
  bool unchanged = false;            // the tag already named our digest: nothing sent
  bool synthesized_index = false;    // several platform entries: a new index was made for the tag
  uint64_t blobs_uploaded = 0, blobs_mounted = 0, blobs_present = 0, manifests_put = 0;
  uint64_t bytes_uploaded = 0;
  std::vector<digest::Digest> blobs;  // every blob the destination holds for it (manifests included)
  double seconds = 0;
};

struct PushReport {
  std::vector<PushedImage> images;  // in the order given
  uint64_t blobs_uploaded = 0, blobs_mounted = 0, blobs_present = 0, bytes_uploaded = 0, requests = 0;
  double seconds = 0;
  bool ok() const;
};

// Push `items` from `store`. Errors of single images are in the report; the Result
// fails only when nothing could run (cancelled).
[[nodiscard]] core::Result<PushReport> push(const store::Store& store, const std::vector<PushItem>& items,
                                            const PushOptions& opts, http::Engine& engine);

// The destination of `source` under `registry[/prefix]`: the source's repository
// (with docker.io's library/ kept) under the prefix, same tag and digest.
// "docker.io/library/ubuntu:24.04" to "reg:5000/mirror" → "reg:5000/mirror/library/ubuntu:24.04".
[[nodiscard]] core::Result<reference::Reference> map_destination(const reference::Reference& source,
                                                                 const std::string& registry_and_prefix);

// A manifest made here: its bytes and the descriptor naming them.
struct BuiltManifest {
  manifest::Descriptor desc;
  std::string body;
};

// An index of `entries` (media type, digest, size, platform, annotations), for
// platform manifests the store holds without a usable original index: a platform
// subset kept as separate entries, or an index whose other entries (attestations)
// were never mirrored. `type` "" picks by the entries: a Docker list for Docker
// manifests, else an OCI index.
[[nodiscard]] BuiltManifest make_index(const std::vector<manifest::Descriptor>& entries, std::string type = {});

// index.json entries grouped per reference, in the order of first appearance.
[[nodiscard]] core::Result<std::vector<PushItem>> store_items(const store::Store& store);

// `chosen` followed by the referrers (signatures, SBOMs, attestations) that `all`
// holds for any of them, each once, in `all`'s order: an image is pushed with them.
[[nodiscard]] std::vector<PushItem> with_referrers(const std::vector<PushItem>& all, std::vector<PushItem> chosen);

// Where a referrer of an image pushed to `subject_dest` goes: the same registry and
// repository, under the referrer's own tag or digest (`referrer_source`).
[[nodiscard]] reference::Reference referrer_destination(const reference::Reference& subject_dest,
                                                        const reference::Reference& referrer_source);

}  // namespace ferry::push
