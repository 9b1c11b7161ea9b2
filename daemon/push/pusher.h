// Pusher: one push run (push/push.h) over one engine loop; private to push.
//
// check tag → plan blobs → HEAD → upload/mount → manifests, each image on its own
// way (no step waits for the other images'). The parts live in one file each:
// push.cpp (the run, deadline, failures, the tag check, progress), push_load.cpp
// (an item's manifests and blobs read back from the store), push_blobs.cpp (the
// blob plan: HEAD, upload, mount) and push_manifests.cpp (children deepest first,
// then the tag; the index of present children when the registry refuses one).
//
// Admission, deadline and progress ticks are plan::Scheduler's, as for a pull; the
// blob plan is a plan::JobGraph keyed by registry, repository and digest. Loop thread
// only.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "plan/job_graph.h"
#include "plan/scheduler.h"
#include "push/push.h"
#include "store/image_view.h"

namespace ferry::push::detail {

using ManifestBody = BuiltManifest;  // one manifest to PUT: its exact bytes and descriptor

struct ImageState {
  PushedImage out;
  registry::Client* client = nullptr;
  std::string repository;
  std::string tag_ref;                   // tag, or the digest for digest-only destinations
  std::vector<ManifestBody> children;    // manifests under an index, nested indexes too (PUT by digest first)
  std::vector<size_t> child_depth;       // per child: 1 under the top, 2 under a nested index, ...
  size_t wave = 0;                       // the depth being PUT now (deepest first, the tag last)
  ManifestBody top;                      // what the tag names
  std::vector<manifest::Descriptor> blobs;
  std::vector<digest::Digest> missing_children;  // index entries the store lacks
  bool top_put = false;                          // the tag's manifest went up (or was there)
  bool fallback_tried = false;                   // the original index was refused: a new one went up
  int pending = 0;                               // manifests of the current wave not yet up
  std::optional<size_t> subject;                 // a referrer: its subject's image in this run
  std::vector<size_t> referrers_waiting;         // referrers whose manifests wait for this tag
  bool tag_settled = false;                      // tag up, unchanged or failed: referrers may go
  bool failed() const { return out.error.has_value(); }
};

// A blob in one destination repository: what its HEAD and upload found.
struct Blob {
  manifest::Descriptor desc;
  registry::Client* client = nullptr;
  std::string repository;
  // Unknown: its HEAD has not answered; Missing: to upload or mount; then (the job
  // done) Present (it was there), Uploaded or Mounted.
  enum class State { Unknown, Present, Missing, Uploaded, Mounted } state = State::Unknown;
  uint64_t bytes_sent = 0;
};

using BlobKey = std::tuple<registry::Client*, std::string, digest::Digest>;  // registry, repository, digest
using BlobGraph = plan::JobGraph<BlobKey, Blob>;

// One digest on one registry, over its repositories: who holds it (a mount source)
// and whether one of them is uploading it now (the others wait to mount).
struct BlobGroup {
  std::string holder;          // a repository that has it, or ""
  bool uploading = false;
  std::deque<size_t> waiting;  // jobs that mount once the upload is in
};

class Pusher {
 public:
  Pusher(const store::Store& store, const PushOptions& opts, http::Engine& engine)
      : store_(store), opts_(opts), engine_(engine) {}

  core::Result<PushReport> run(const std::vector<PushItem>& items);

 private:
  // ---- the run (push.cpp) -------------------------------------------------------------
  void add_images(const std::vector<PushItem>& items);
  PushReport report(std::chrono::steady_clock::time_point started, uint64_t requests_before);
  // The deadline has passed: every image whose tag is not up fails.
  void on_deadline(const core::Error& e);
  void fail_image(size_t i, core::Error e);
  // Image i's tag is up, was current, or cannot go up: its referrers waiting for it
  // put their manifests now.
  void tag_settled(size_t i);
  // 1. Does the tag already name our digest (then the registry holds all of it)?
  void check_tag(size_t i);
  void on_tag(size_t i, const core::Result<registry::ManifestReply>& r);
  // Bytes of the blobs a HEAD found missing, and of those uploaded or mounted since
  // (a blob counts when its upload is over: the client reports no partial progress).
  void report_progress();
  void log_image(const ImageState& img);

  // ---- the store (push_load.cpp) -----------------------------------------------------
  core::Status load(size_t i, const PushItem& item);
  // Blobs of one image manifest (config and layers; foreign layers stay where they are).
  core::Status add_image_blobs(ImageState& img, const store::StoredManifest& m);
  // The manifests under an index at `depth` (1: under the top): image manifests and
  // artifacts with their blobs, nested indexes after their own children. Each digest once.
  core::Status add_children(ImageState& img, const std::vector<manifest::Descriptor>& children, size_t depth,
                            std::set<digest::Digest>& seen);
  // Every blob and manifest the destination holds once this image is there.
  static void record_holdings(ImageState& img);

  // ---- blobs (push_blobs.cpp) ---------------------------------------------------------
  // 2. The tag does not name our digest: each blob joins the job for its repository
  // (one HEAD per repository and digest in the run); once all of them are at the
  // destination the manifests go up.
  void plan_image(size_t i);
  void head_blob(size_t j);
  void on_head(size_t j, bool present);
  void job_failed(size_t j, core::Error e);
  bool still_needed(size_t j) const;
  // Job j's blob is at the destination: images with nothing left put their manifests.
  void job_done(size_t j);
  // 3. `mount_from` "": upload the bytes; else mount from that repository (the registry
  // client falls back to an upload when the mount is refused).
  void start_upload(size_t j, std::string mount_from);
  void upload(size_t j, const std::string& mount_from, plan::Release release);
  static void count_sent(ImageState& img, const Blob& blob);
  // Job j's upload (or mount) is over: on success its repository holds the blob and
  // the jobs waiting for it mount from there; on failure the next one uploads.
  void upload_over(size_t j, bool ok);
  void mount_waiting(BlobGroup& group);

  // ---- manifests (push_manifests.cpp) -------------------------------------------------
  // 4. Children go up deepest first, one depth at a time (a registry checks that an
  // index's manifests exist), then the tag.
  void put_children(size_t i);
  void put_wave(size_t i);
  void put_child(size_t i, size_t c, plan::Release release);
  void child_done(size_t i);
  void put_manifest(size_t i, const ManifestBody& m, const std::string& ref, plan::Release release);
  void manifest_put(size_t i, bool is_top, core::Result<digest::Digest> r, plan::Release release);
  // The registry refused an index naming manifests the store lacks (Docker Hub's
  // attestations are never mirrored): tag a new index of the present ones instead.
  bool retry_with_present_children(size_t i, const core::Error& e);
  // The index of the children the store holds, when the original names others; else
  // the original.
  ManifestBody present_index(const ImageState& img) const;
  void use_present_index(ImageState& img);
  void put_top(size_t i);

  const store::Store& store_;
  const PushOptions& opts_;
  http::Engine& engine_;
  plan::Scheduler sched_{engine_, opts_.registry_options, opts_.concurrency};
  std::vector<std::unique_ptr<ImageState>> images_;
  BlobGraph blobs_;
  std::map<std::pair<registry::Client*, digest::Digest>, BlobGroup> groups_;
  uint64_t bytes_total_ = 0, bytes_done_ = 0;
};

}  // namespace ferry::push::detail
