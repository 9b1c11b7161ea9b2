// Puller: one pull run (sync/pull.h) over one engine loop; private to sync.
//
// The resolve → plan → transfer → commit pipeline, one class whose parts live in
// one file each: pull.cpp (the run, images, referrers, deadline), pull_resolve.cpp
// (manifests and index trees), pull_transfer.cpp (the streaming plan, admission,
// blob transfers, segments, commits) and pull_complete.cpp (an image's manifests
// into the store, schema1 conversion, the diff_id check, index.json).
//
// The plan streams: an image's blobs join the plan as soon as its manifests are in
// (a blob another image already queued or fetched is joined, not fetched again), so
// a slow manifest holds back only its own image. An image is complete (manifests
// put into the store, on_image_ready called) when its last blob commits;
// index.json is written once, when the pull ends. Loop thread only, but for the
// work it offloads to the engine's worker (each offloaded closure owns copies of
// what it reads, or the job's Ingest while the loop leaves it alone).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "plan/job_graph.h"
#include "plan/scheduler.h"
#include "store/store.h"
#include "sync/pull.h"
#include "sync/schema1_convert.h"

namespace ferry::sync::detail {

// What the last successful pull of a reference resolved to (state/last-pulls.json):
// the manifest digest the tag pointed at, and which platforms were taken from it.
struct LastPull {
  digest::Digest digest;
  std::string selection;
};

// The platforms a target takes, as state/last-pulls.json records them ("all", or
// the sorted list).
std::string selection(const PullTarget& t);
// state/last-pulls.json: none, or unreadable, is an empty map (everything is
// resolved in full).
std::map<std::string, LastPull> load_last_pulls(const store::Store& store);
core::Status save_last_pulls(const store::Store& store, const std::map<std::string, LastPull>& last);

// One image being pulled.
struct ImageState {
  PulledImage out;
  PullTarget target;
  std::chrono::steady_clock::time_point started;
  registry::Client* client = nullptr;
  int pending = 0;                                // outstanding manifest requests (0: resolved)
  bool settled = false;                           // planned, failed or unchanged: resolving no more
  std::optional<manifest::Descriptor> index;      // top-level index, when there is one
  std::string index_body;
  std::optional<manifest::Index> top_index;       // index, parsed
  struct Nested {
    manifest::Descriptor desc;
    std::string body;
    manifest::Index index;
  };
  std::vector<Nested> nested;           // indexes below the top one, as they arrived
  std::set<digest::Digest> indexes_asked;  // top and nested indexes asked for (each once)
  int indexes_pending = 0;              // nested index requests outstanding
  bool whole_tree = false;              // every child is pulled: the top index is the entry
  struct Child {
    manifest::Descriptor desc;
    std::string body;
    manifest::ImageManifest manifest;
  };
  std::vector<Child> children;
  std::optional<Schema1Source> schema1;  // a schema1 top manifest, converted at completion
  std::vector<digest::Digest> wanted;  // children asked for, in the order asked
  std::vector<digest::Digest> fetched;  // its blobs committed in this run
  bool completing = false;              // its manifests are being put into the store
  bool complete = false;                // blobs and manifests in the store
  std::optional<size_t> subject;        // a referrer: the image it refers to
  bool referrers_found = false;         // its referrer lookup answered in full
  std::optional<digest::Digest> seen;   // a referrer: the digest its lookup saw
  bool failed() const { return out.error.has_value(); }
};

// A blob to fetch (plan::JobGraph keeps which images need it, and its failure).
struct BlobJob {
  manifest::Descriptor desc;
  registry::Client* client = nullptr;
  std::string repository;
  int integrity_retries = 0;
  size_t foreign_url = 0;      // the desc.urls entry a foreign layer is fetched from
  bool single_stream = false;  // the registry ignored Range: no segments for this blob
  bool dropped = false;        // left the queue unstarted (no image wanted it then)
};
using BlobGraph = plan::JobGraph<digest::Digest, BlobJob>;

class Puller {
 public:
  Puller(store::Store& store, const PullOptions& opts, http::Engine& engine)
      : store_(store), opts_(opts), engine_(engine) {}

  core::Result<PullReport> run(const std::vector<PullTarget>& targets);

 private:
  void add_image(PullTarget target, std::optional<size_t> subject);

  // Image i resolves no more (planned, failed or unchanged): once every image has,
  // the plan is whole.
  void settle(size_t i);

  // ---- referrers (referrers.h) ------------------------------------------------------
  // The subject's digest is known: look its referrers up and pull each as an image
  // of its own (all platforms), resolved and planned like the targets.
  void discover(size_t i);

  // The report names targets only: a referrer's reference, bytes and failure go to
  // its subject (whose mirror is incomplete without it).
  void fold_referrers();

  size_t root_of(size_t i) const { return images_[i]->subject.value_or(i); }

  void fail_image(size_t i, core::Error e);

  // ---- deadline -------------------------------------------------------------------
  // The deadline has passed: fail every image still resolving and every one with a
  // blob not yet in (the scheduler then drops the queue and stops the transfers in
  // flight; their partials stay for the next run).
  void on_deadline(const core::Error& e);

  // ---- resolve ------------------------------------------------------------------
  void resolve(size_t i);

  // HEAD says the tag still points where the last pull left it: take the entries
  // from the store (when they are all still there) and do nothing else.
  // index.json is read once per run (on the first unchanged image), not once per
  // image: a no-op over many tags stays linear (#15).
  bool reuse_entries(size_t i);

  void get_top(size_t i);

  void on_top_manifest(size_t i, core::Result<registry::ManifestReply> r);

  // Ask for every index below `index` (at `level`; the top is 1), bounded by
  // kMaxIndexDepth and kMaxTreeIndexes; each digest once, so a cycle ends.
  void fetch_nested(size_t i, const manifest::Index& index, size_t level);

  void on_nested_index(size_t i, const manifest::Descriptor& d, size_t level,
                       core::Result<registry::ManifestReply> r);

  // Every index of the tree is here: choose the manifests across all its levels.
  // All platforms (or a platform list that covers every image of the tree) takes
  // every child, attestations and artifacts included, so the registry's own index
  // can be stored as the reference's entry.
  void choose_children(size_t i);

  void fetch_child(size_t i, manifest::Descriptor d);

  void on_child(size_t i, const manifest::Descriptor& d, core::Result<registry::ManifestReply> r);

  // ---- plan -----------------------------------------------------------------------
  // Blob `b` is needed by image i: join the job fetching (or that fetched) it, or
  // count it present, or make a job. A size of -1 (unknown: schema1) is verified by
  // digest alone.
  void plan_blob(size_t i, const manifest::Descriptor& b);

  // Every manifest of image i is in (none pending): its blobs join the plan now and
  // start as slots allow, whatever the other images are still resolving.
  void maybe_plan(size_t i);
  void plan_blobs(size_t i);

  // ---- transfers ------------------------------------------------------------------
  // Job j goes to the scheduler's queue (`first`: before the others, a job that runs
  // again); it starts with a slot of its registry when the scheduler admits it.
  void queue_job(size_t j, bool first = false);

  void report_progress();

  bool job_still_needed(size_t j) const;

  // Opening the partial re-reads and hashes what an earlier run left in it (a
  // resumed GiB is seconds of sha256): that runs on the engine's worker, never on
  // the loop. The job holds its slot meanwhile, so admission counts it.
  void start_job(size_t j, plan::Release slot);

  void continue_job(size_t j, core::Result<std::unique_ptr<store::Ingest>> ingest, plan::Release slot);

  // A foreign layer from its URLs in order: a failed transfer empties the partial
  // and tries the next URL; the last one's failure is the job's. A digest mismatch
  // is found at commit, where finish_commit moves on to the next URL.
  void fetch_foreign(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder,
                     std::function<void(core::Status)> done);

  // A foreign layer's URL may be plain http only on a loopback host or one the
  // registry settings mark insecure, as for registries.
  bool http_allowed(const std::string& url) const;

  // One blob as `n` parallel Range segments into one partial (the gaps of a resumed
  // segmented partial, the biggest split further while there are fewer than n). The
  // first segment takes the job's slot, each other one an extra slot.
  // The prefix hash catches up with finished segments on the engine's worker
  // (Ingest::catch_up) while the others still write: the loop never re-reads.
  struct SegmentedJob {
    std::vector<std::unique_ptr<store::Segment>> segments;
    std::vector<plan::Release> slots;  // one per segment
    int left = 0;
    bool range_ignored = false;
    bool catching_up = false;  // a catch_up() is on the worker: the Ingest stays as it is
    std::optional<core::Error> error;
  };

  void start_segmented(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder, int n,
                       plan::Release slot);

  void on_segment_done(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                       const std::shared_ptr<SegmentedJob>& sj, size_t k, core::Status st);

  void catch_up(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                const std::shared_ptr<SegmentedJob>& sj);

  // Every segment of a job has ended and no catch-up runs: commit, fall back to
  // one stream, or fail.
  void segments_over(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                     const std::shared_ptr<SegmentedJob>& sj);

  // A transfer (or all segments of one) is over: commit it on the engine's worker
  // (the fsync there must not stall the other transfers), then finish_commit().
  void finish_job(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder, uint64_t got,
                  core::Status st);

  // Record a committed blob, or fetch it again once after a verification failure,
  // or fail the images that need it.
  void finish_commit(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder, uint64_t got,
                     core::Status st);

  void job_failed(size_t j, core::Error e);

  // ---- commit ---------------------------------------------------------------------
  // Every blob of image i is in the store: put its manifests there too, on the
  // engine's worker (each put fsyncs; the transfers must not wait for that), then
  // tell the caller: an export can start now. index.json waits for the end of the pull.
  struct Completion {
    std::vector<ImageState::Child> children;  // in the index's order
    std::optional<std::pair<manifest::Descriptor, std::string>> index;
    std::vector<std::pair<manifest::Descriptor, std::string>> nested;  // indexes below it (whole tree only)
    bool from_index = false;                  // children came from an index: only image entries are images
    std::optional<core::Error> error;
  };

  void complete_image(size_t i);

  void image_stored(size_t i, const Completion& c);

  // ---- schema1 (see schema1_convert.h) ----------------------------------------------
  // The top manifest is schema1: keep its payload and parsed form; maybe_plan() fetches
  // its layers and complete_schema1() converts it once they are in the store.
  void on_schema1_manifest(size_t i, const registry::ManifestReply& r);

  // Every layer is in the store: convert on the worker (it inflates each layer and
  // fsyncs three blobs), then finish as any image does, with the schema2 manifest.
  void complete_schema1(size_t i);

  // The pull is over: record every complete image in index.json at once.
  // Referrers are recorded only with a subject that is complete (or unchanged), each
  // entry annotated with its subject; the subject's referrers that were not found
  // again (moved tag, deleted signature) leave index.json.
  void commit_manifests();

  static manifest::Descriptor annotated(manifest::Descriptor d, const ImageState& subject);

  core::Status drop_stale_referrers(const std::map<std::string, std::set<std::string>>& found);

  size_t child_rank(const ImageState& img, const digest::Digest& d) const;

  // On the worker: every layer of an image decompresses to the diff_id its config
  // names, as `docker load` will check on the far side, so a registry whose config
  // lies fails the image here instead of in a tarball. A layer checked once in this
  // run is not decoded again (checked_ is the engine lane's alone). Artifacts have no
  // rootfs; foreign layers not in the store are checked where they are fetched.
  core::Status check_diff_ids(const manifest::ImageManifest& m);

  static core::Status diff_id_mismatch(const manifest::Descriptor& layer, const digest::Digest& got,
                                       const digest::Digest& want);

  std::optional<manifest::Platform> platform_from_config(const manifest::ImageManifest& m) const;

  store::Store& store_;
  const PullOptions& opts_;
  http::Engine& engine_;
  plan::Scheduler sched_{engine_, opts_.registry_options, opts_.concurrency};
  std::vector<std::unique_ptr<ImageState>> images_;  // the targets first, then referrers as found
  size_t targets_ = 0;
  std::chrono::steady_clock::time_point started_;
  BlobGraph blobs_;                          // every blob to fetch, and which images need it
  std::set<digest::Digest> present_;         // blobs planned that the store held already
  size_t resolving_ = 0;                                   // images not settled yet
  std::map<std::string, LastPull> last_;
  std::optional<std::multimap<std::string, manifest::Descriptor>> stored_refs_;  // index.json at the first reuse
  std::set<registry::Client*> no_ranges_;     // answered a Range with 200 once
  std::map<size_t, store::Ingest*> active_;   // job -> its ingest while in flight
  std::map<size_t, uint64_t> ingest_start_;   // job -> bytes already there when it started
  std::map<size_t, uint64_t> committing_;     // job -> bytes fetched, while its commit is offloaded
  uint64_t bytes_planned_ = 0, bytes_done_ = 0;
  std::map<digest::Digest, digest::Digest> checked_;  // layer -> its diff_id; the engine lane's only
  uint64_t blobs_fetched_ = 0, blobs_present_ = 0, bytes_fetched_ = 0;
  bool plan_logged_ = false;
};

}  // namespace ferry::sync::detail
