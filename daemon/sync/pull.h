// pull: resolve references to manifests, fetch every missing blob once, commit.
//
// One run over many references: manifests are resolved concurrently, the blobs of
// all images form one deduplicated plan (a layer shared by two images is fetched
// once; a blob already in the store is not fetched at all), and transfers run
// together up to `concurrency`. An image's manifests are committed when its last
// blob is, and index.json when the pull ends, so the store never names content it
// does not hold. One failing image does not stop the others; the report says which
// failed and why. A Docker schema1 image is stored converted to schema2
// (schema1_convert.h): its entries name the schema2 manifest, PulledImage::digest is
// the schema1 digest.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "core/error.h"
#include "core/progress.h"
#include "http/engine.h"
#include "manifest/manifest.h"
#include "reference/reference.h"
#include "registry/client.h"
#include "store/store.h"

namespace ferry::sync {

// One reference to pull, with the platforms wanted from a multi-arch image.
struct PullTarget {
  reference::Reference ref;
  std::vector<manifest::Platform> platforms{{"linux", "amd64", "", ""}};
  bool all_platforms = false;
  // Also mirror the image's referrers (signatures, SBOMs, attestations; see
  // referrers.h): found after the reference resolves, pulled in the same run,
  // recorded in index.json as referrers of it. A failed lookup fails the image.
  bool referrers = false;
};

struct PulledImage {
  reference::Reference ref;
  // What index.json records for ref: the index (all platforms) or the chosen image
  // manifest(s), each with its platform.
  std::vector<manifest::Descriptor> entries;
  // The platform image manifests pulled (for export).
  std::vector<manifest::Descriptor> images;
  digest::Digest digest;             // what the reference resolved to (an index or a manifest)
  std::optional<core::Error> error;  // set when this reference failed
  // With PullTarget::referrers: the references its referrers are stored under
  // (<repo>@<digest>, or the fallback and cosign tags), in index.json order.
  std::vector<reference::Reference> referrers;
  bool changed = true;               // false: HEAD showed the last pull is current
  uint64_t bytes_fetched = 0;        // bytes received in this run for this image's blobs
  double seconds = 0;
};

struct PullOptions {
  int concurrency = 8;                                // blob transfers in flight, all registries
  // Connection settings (TLS, credentials, retries) per reference domain.
  std::function<registry::RegistryOptions(const std::string& domain)> registry_options;
  // Ask with HEAD first and skip an image whose manifest digest and platform choice
  // equal the last successful pull (no manifest GET, no blob work).
  bool skip_unchanged = false;
  // Called on the loop thread every progress_interval while blobs transfer.
  std::function<void(const core::Progress&)> progress;
  std::chrono::milliseconds progress_interval{500};
  // Segmented downloads: a blob of at least segment_min_size bytes, started while
  // fewer blobs wait than transfer slots are free, is fetched as up to `segments`
  // parallel Range requests into one partial (1 = never). A registry that answers a
  // Range with 200 gets single streams from then on.
  int segments = 4;
  uint64_t segment_min_size = 64ULL << 20;
  // Foreign (non-distributable) layers that name `urls`: fetched from the first URL
  // into the store like any blob (digest and size verified; never with
  // Authorization; https, or http only to a loopback or insecure host), so their
  // image crosses the gap whole. false (`foreign_layers: refuse`): an image with
  // one fails, naming the layer. A foreign layer without URLs is left out.
  bool fetch_foreign = true;
  // A time limit for the whole pull (resolve and transfers); none = no limit. When it
  // passes, transfers stop (partials stay in ingest/ for the next run), every image
  // not complete by then fails with "deadline of <deadline_text> exceeded", and the
  // images already complete are committed as usual.
  std::optional<std::chrono::milliseconds> deadline;
  std::string deadline_text;  // how the user wrote it, e.g. "2m"
  // Called on the loop thread as soon as an image is complete in the store (its
  // blobs and manifests committed; `entries` and `images` set), while the other
  // images still transfer, with its index among the targets and the blobs of it this
  // run fetched (hashed as they streamed). index.json is written once, at the end of
  // the pull. It must not block: hand the work to another thread.
  std::function<void(size_t index, const PulledImage& image, const std::vector<digest::Digest>& fetched)>
      on_image_ready;
};

struct PullReport {
  std::vector<PulledImage> images;  // in the order asked
  uint64_t blobs_fetched = 0;
  std::vector<digest::Digest> committed;  // the blobs fetched: hashed as they streamed, then committed
  uint64_t blobs_present = 0;       // already in the store
  uint64_t bytes_fetched = 0;
  uint64_t requests = 0;
  double seconds = 0;
  bool ok() const;
};

// Pull `refs` into `store`. Errors of single images are in the report; the Result
// fails only when nothing could run (e.g. cancelled before start).
[[nodiscard]] core::Result<PullReport> pull(store::Store& store, const std::vector<PullTarget>& targets,
                                            const PullOptions& opts, http::Engine& engine);

}  // namespace ferry::sync
