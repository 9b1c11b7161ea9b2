// pull: the resolve → plan → transfer → commit pipeline over one engine loop.
// The plan streams: an image's blobs join the plan as soon as its manifests are in
// (a blob another image already queued or fetched is joined, not fetched again), so
// a slow manifest holds back only its own image. An image is complete (manifests
// put into the store, on_image_ready called) when its last blob commits;
// index.json is written once, when the pull ends.
#include "sync/pull.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "codec/layer_decoder.h"
#include "core/redact.h"
#include "registry/client_pool.h"
#include "store/fs_util.h"
#include "store/image_view.h"
#include "sync/referrers.h"
#include "sync/schema1_convert.h"

namespace ferry::sync {

namespace {

// What the last successful pull of a reference resolved to (state/last-pulls.json):
// the manifest digest the tag pointed at, and which platforms were taken from it.
struct LastPull {
  digest::Digest digest;
  std::string selection;
};

std::string selection(const PullTarget& t) {
  if (t.all_platforms) return "all";
  std::vector<std::string> names;
  for (const auto& p : t.platforms) names.push_back(p.str());
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::map<std::string, LastPull> load_last_pulls(const store::Store& store) {
  std::map<std::string, LastPull> out;
  auto text = store.read_file(store::Area::State, "last-pulls.json", 64 << 20);
  if (!text) return out;  // none yet, or unreadable: everything is resolved in full
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return out;
  for (const auto& [ref, v] : j.items()) {
    if (!v.is_object() || !v.contains("digest") || !v["digest"].is_string()) continue;
    auto d = digest::Digest::parse(v["digest"].get<std::string>());
    if (d) out[ref] = {*d, v.value("platforms", "")};
  }
  return out;
}

core::Status save_last_pulls(const store::Store& store, const std::map<std::string, LastPull>& last) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [ref, l] : last) j[ref] = {{"digest", l.digest.str()}, {"platforms", l.selection}};
  return store.write_file(store::Area::State, "last-pulls.json", j.dump(2) + "\n");
}

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
  size_t blobs_left = 0;                // its blobs not yet committed in this run
  std::vector<digest::Digest> fetched;  // its blobs committed in this run
  bool completing = false;              // its manifests are being put into the store
  bool complete = false;                // blobs and manifests in the store
  std::optional<size_t> subject;        // a referrer: the image it refers to
  bool referrers_found = false;         // its referrer lookup answered in full
  std::optional<digest::Digest> seen;   // a referrer: the digest its lookup saw
  bool failed() const { return out.error.has_value(); }
};

struct BlobJob {
  manifest::Descriptor desc;
  registry::Client* client = nullptr;
  std::string repository;
  std::vector<size_t> images;  // indexes into Puller::images_
  int integrity_retries = 0;
  size_t foreign_url = 0;      // the desc.urls entry a foreign layer is fetched from
  bool single_stream = false;  // the registry ignored Range: no segments for this blob
  bool dropped = false;        // left the queue unstarted (no image wanted it then)
  std::optional<core::Error> error;  // it failed: an image planned later fails with it
};

class Puller {
 public:
  Puller(store::Store& store, const PullOptions& opts, http::Engine& engine)
      : store_(store), opts_(opts), engine_(engine) {}

  core::Result<PullReport> run(const std::vector<PullTarget>& targets) {
    const auto started = engine_.clock().now();
    const uint64_t requests_before = engine_.stats().requests;
    if (opts_.skip_unchanged) last_ = load_last_pulls(store_);
    started_ = started;
    targets_ = targets.size();
    for (const auto& target : targets) add_image(target, std::nullopt);
    if (opts_.deadline) deadline_at_ = started + *opts_.deadline;
    auto until_idle = [this] {
      check_deadline();
      return engine_.idle();
    };
    for (size_t i = 0; i < targets_; ++i) resolve(i);  // referrers found meanwhile resolve themselves
    if (auto st = engine_.run(until_idle); !st) return core::fail(st.error());
    fold_referrers();  // first: a subject whose referrer failed records none of them
    commit_manifests();
    PullReport report;
    for (size_t i = 0; i < targets_; ++i) report.images.push_back(std::move(images_[i]->out));
    report.blobs_fetched = blobs_fetched_;
    for (size_t j : done_jobs_) report.committed.push_back(jobs_[j].desc.digest);
    report.blobs_present = blobs_present_;
    report.bytes_fetched = bytes_fetched_;
    report.requests = engine_.stats().requests - requests_before;
    report.seconds = std::chrono::duration<double>(engine_.clock().now() - started).count();
    return report;
  }

 private:
  void add_image(PullTarget target, std::optional<size_t> subject) {
    auto st = std::make_unique<ImageState>();
    st->out.ref = target.ref;
    st->client = clients_.get(target.ref);
    st->target = std::move(target);
    st->started = started_;
    st->subject = subject;
    images_.push_back(std::move(st));
    ++resolving_;
  }

  // Image i resolves no more (planned, failed or unchanged): once every image has,
  // the plan is whole.
  void settle(size_t i) {
    auto& img = *images_[i];
    if (img.settled) return;
    img.settled = true;
    if (--resolving_ == 0 && !plan_logged_) {
      plan_logged_ = true;  // referrers found later join the plan without a second line
      spdlog::info("plan ready images={} blobs_to_fetch={} blobs_present={}", images_.size(), jobs_.size(),
                   blobs_present_);
    }
  }

  // ---- referrers (referrers.h) ------------------------------------------------------
  // The subject's digest is known: look its referrers up and pull each as an image
  // of its own (all platforms), resolved before the plan like the targets.
  void discover(size_t i) {
    auto& img = *images_[i];
    if (!img.target.referrers || img.subject || img.failed()) return;
    // Not counted in `pending`: the image's blobs need not wait for its referrers.
    discover_referrers(*img.client, img.out.ref, img.out.digest,
                       [this, i](core::Result<std::vector<Referrer>> r) {
                         if (!r) return fail_image(i, r.error());
                         images_[i]->referrers_found = true;
                         for (auto& found : *r) {
                           PullTarget t;
                           t.ref = std::move(found.ref);
                           t.all_platforms = true;
                           add_image(std::move(t), i);
                           images_.back()->seen = found.digest;
                           resolve(images_.size() - 1);
                         }
                       });
  }

  // The report names targets only: a referrer's reference, bytes and failure go to
  // its subject (whose mirror is incomplete without it).
  void fold_referrers() {
    for (size_t k = targets_; k < images_.size(); ++k) {
      auto& ref_img = *images_[k];
      auto& subject = images_[*ref_img.subject]->out;
      subject.bytes_fetched += ref_img.out.bytes_fetched;
      if (ref_img.failed()) {
        if (!subject.error) {
          core::Error e = *ref_img.out.error;
          subject.error = e.context("referrer");
        }
        continue;
      }
      subject.referrers.push_back(ref_img.out.ref);
    }
  }

  size_t root_of(size_t i) const { return images_[i]->subject.value_or(i); }

  void fail_image(size_t i, core::Error e) {
    auto& img = *images_[i];
    if (img.failed()) return;
    e.context(img.out.ref.str());
    spdlog::debug("image failed ref={} error={}", img.out.ref.str(), e.message);  // the report carries it
    img.out.error = std::move(e);
    settle(i);
  }

  // ---- deadline -------------------------------------------------------------------
  // Called between loop iterations: once the deadline has passed, fail every image
  // that is not complete (before the plan: every image that still needs work), drop
  // the queue and stop the transfers in flight; their partials stay for the next run.
  void check_deadline() {
    if (!deadline_at_ || expired_ || engine_.clock().now() < *deadline_at_) return;
    expired_ = true;
    core::Error e = core::error(core::ErrorKind::Cancelled, fmt::format("deadline of {} exceeded", opts_.deadline_text));
    spdlog::warn("deadline reached, stopping transfers deadline={} in_flight={} queued={}", opts_.deadline_text,
                 clients_.in_flight(), queue_.size());
    for (size_t i = 0; i < images_.size(); ++i) {
      if (!images_[i]->settled && images_[i]->out.changed) fail_image(i, e);  // still resolving
    }
    for (size_t j = 0; j < jobs_.size(); ++j) {
      if (done_jobs_.count(j) || committing_.count(j)) continue;  // a failed commit fails them itself
      for (size_t i : jobs_[j].images) fail_image(i, e);
    }
    queue_.clear();
    engine_.abort(e);
  }

  // ---- resolve ------------------------------------------------------------------
  void resolve(size_t i) {
    auto& img = *images_[i];
    const auto& ref = img.out.ref;
    auto last = last_.find(ref.str());
    if (last == last_.end() || last->second.selection != selection(img.target)) return get_top(i);
    // A digest cannot move, and a referrer's lookup has just seen its digest: when
    // the last pull stored that, no request is needed.
    const std::optional<digest::Digest> known = ref.digest ? ref.digest : img.seen;
    if (known && last->second.digest == *known && reuse_entries(i)) {
      img.out.digest = *known;
      return settle(i);
    }
    img.pending = 1;
    img.client->get_manifest(ref.repository, ref.manifest_ref(), true,
                             [this, i, known = last->second.digest](core::Result<registry::ManifestReply> r) {
                               --images_[i]->pending;
                               if (r && !r->digest.empty() && r->digest == known && reuse_entries(i)) {
                                 images_[i]->out.digest = known;
                                 settle(i);
                                 return discover(i);
                               }
                               get_top(i);  // changed, unknown, or HEAD refused: do the full GET
                             });
  }

  // HEAD says the tag still points where the last pull left it: take the entries
  // from the store (when they are all still there) and do nothing else.
  // index.json is read once per run (on the first unchanged image), not once per
  // image: a no-op over many tags stays linear (#15).
  bool reuse_entries(size_t i) {
    auto& img = *images_[i];
    if (!stored_refs_) {
      auto index = store_.read_index();
      if (!index) return false;
      stored_refs_.emplace();
      for (auto& e : *index) stored_refs_->emplace(e.ref_name, std::move(e.descriptor));
    }
    auto [from, to] = stored_refs_->equal_range(img.out.ref.str());
    for (auto it = from; it != to; ++it) {
      if (!store_.has_blob(it->second.digest, it->second.size)) return false;
      img.out.entries.push_back(it->second);
    }
    if (img.out.entries.empty()) return false;
    img.out.changed = false;
    return true;
  }

  void get_top(size_t i) {
    auto& img = *images_[i];
    ++img.pending;
    const auto& ref = img.out.ref;
    img.client->get_manifest(ref.repository, ref.manifest_ref(), false,
                             [this, i](core::Result<registry::ManifestReply> r) {
                               on_top_manifest(i, std::move(r));
                               maybe_plan(i);
                             });
  }

  void on_top_manifest(size_t i, core::Result<registry::ManifestReply> r) {
    auto& img = *images_[i];
    --img.pending;
    if (!r) return fail_image(i, r.error());
    const auto& ref = img.out.ref;
    if (ref.digest && r->digest != *ref.digest) {
      return fail_image(i, core::error(core::ErrorKind::DigestMismatch,
                                       fmt::format("manifest hashes to {}, reference pins {}", r->digest.str(),
                                                   ref.digest->str())));
    }
    img.out.digest = r->digest;
    discover(i);
    if (manifest::is_schema1(r->body, r->media_type)) return on_schema1_manifest(i, *r);
    auto parsed = manifest::parse(r->body, r->media_type);
    if (!parsed) return fail_image(i, parsed.error());
    manifest::Descriptor top{"", r->digest, r->size, std::nullopt, {}, {}};
    if (auto* m = std::get_if<manifest::ImageManifest>(&*parsed)) {
      top.media_type = m->media_type;
      img.children.push_back({top, std::move(r->body), std::move(*m)});
      return;
    }
    auto& index = std::get<manifest::Index>(*parsed);
    top.media_type = index.media_type;
    img.index = top;
    img.index_body = std::move(r->body);
    img.top_index = std::move(index);
    img.indexes_asked.insert(top.digest);
    ++img.pending;  // held while requests go out: one answering at once must not plan a part
    fetch_nested(i, *img.top_index, 1);
    if (img.indexes_pending == 0 && !img.failed()) choose_children(i);
    --img.pending;
  }

  // Ask for every index below `index` (at `level`; the top is 1), bounded by
  // kMaxIndexDepth and kMaxTreeIndexes; each digest once, so a cycle ends.
  void fetch_nested(size_t i, const manifest::Index& index, size_t level) {
    auto& img = *images_[i];
    for (const auto& d : index.manifests) {
      if (img.failed()) return;
      if (!manifest::is_index_type(d.media_type) || !img.indexes_asked.insert(d.digest).second) continue;
      if (level + 1 > manifest::kMaxIndexDepth || img.indexes_asked.size() > manifest::kMaxTreeIndexes + 1) {
        return fail_image(i, core::error(core::ErrorKind::InvalidInput,
                                         fmt::format("indexes nested deeper than {} levels (or more than {}) at {}",
                                                     manifest::kMaxIndexDepth, manifest::kMaxTreeIndexes,
                                                     d.digest.str())));
      }
      ++img.pending;
      ++img.indexes_pending;
      img.client->get_manifest(img.out.ref.repository, d.digest.str(), false,
                               [this, i, d, level](core::Result<registry::ManifestReply> r) {
                                 on_nested_index(i, d, level + 1, std::move(r));
                                 maybe_plan(i);
                               });
    }
  }

  void on_nested_index(size_t i, const manifest::Descriptor& d, size_t level,
                       core::Result<registry::ManifestReply> r) {
    auto& img = *images_[i];
    --img.pending;
    --img.indexes_pending;
    if (img.failed()) return;
    if (!r) return fail_image(i, r.error());
    if (r->digest != d.digest || r->size != d.size) {
      return fail_image(i, core::error(core::ErrorKind::DigestMismatch,
                                       fmt::format("index {} from the index hashes to {}", d.digest.str(),
                                                   r->digest.str())));
    }
    auto parsed = manifest::parse(r->body, r->media_type);
    if (!parsed) return fail_image(i, parsed.error().context(fmt::format("index {}", d.digest.str())));
    auto* index = std::get_if<manifest::Index>(&*parsed);
    if (!index) {
      return fail_image(i, core::error(core::ErrorKind::InvalidInput,
                                       fmt::format("{} is named as an index ({}) but is an image manifest",
                                                   d.digest.str(), d.media_type)));
    }
    img.nested.push_back({d, std::move(r->body), std::move(*index)});
    // The vector may grow while fetch_nested runs: walk a copy of the entries.
    const manifest::Index copy = img.nested.back().index;
    ++img.pending;
    fetch_nested(i, copy, level);
    if (img.indexes_pending == 0 && !img.failed()) choose_children(i);
    --img.pending;
  }

  // Every index of the tree is here: choose the manifests across all its levels.
  // All platforms (or a platform list that covers every image of the tree) takes
  // every child, attestations and artifacts included, so the registry's own index
  // can be stored as the reference's entry.
  void choose_children(size_t i) {
    auto& img = *images_[i];
    auto lookup = [&img](const digest::Digest& d) -> const manifest::Index* {
      for (const auto& n : img.nested) {
        if (n.desc.digest == d) return &n.index;
      }
      return nullptr;
    };
    auto flat = manifest::flatten(*img.top_index, lookup);
    if (!flat) return fail_image(i, flat.error());
    std::vector<manifest::Descriptor> wanted;
    if (!img.target.all_platforms) {
      for (const auto& p : img.target.platforms) {
        auto d = manifest::select_platform(*flat, p);
        if (!d) return fail_image(i, d.error());
        bool dup = std::any_of(wanted.begin(), wanted.end(), [&](auto& w) { return w.digest == d->digest; });
        if (!dup) wanted.push_back(*d);
      }
    }
    const auto images = manifest::image_entries(*flat);
    img.whole_tree = img.target.all_platforms || (!images.empty() && wanted.size() == images.size());
    if (img.whole_tree) wanted = flat->manifests;
    spdlog::debug("index resolved ref={} nested_indexes={} children={} whole_tree={}", img.out.ref.str(),
                  img.nested.size(), wanted.size(), img.whole_tree);
    for (auto& d : wanted) {
      img.wanted.push_back(d.digest);
      fetch_child(i, d);
    }
  }

  void fetch_child(size_t i, manifest::Descriptor d) {
    auto& img = *images_[i];
    ++img.pending;
    img.client->get_manifest(img.out.ref.repository, d.digest.str(), false,
                             [this, i, d](core::Result<registry::ManifestReply> r) {
                               on_child(i, d, std::move(r));
                               maybe_plan(i);
                             });
  }

  void on_child(size_t i, const manifest::Descriptor& d, core::Result<registry::ManifestReply> r) {
    auto& im = *images_[i];
    --im.pending;
    if (!r) return fail_image(i, r.error());
    if (r->digest != d.digest || r->size != d.size) {
      return fail_image(i, core::error(core::ErrorKind::DigestMismatch,
                                       fmt::format("manifest {} from the index hashes to {}",
                                                   d.digest.str(), r->digest.str())));
    }
    auto parsed = manifest::parse(r->body, r->media_type);
    if (!parsed) return fail_image(i, parsed.error());
    auto* m = std::get_if<manifest::ImageManifest>(&*parsed);
    if (!m) {
      return fail_image(i, core::error(core::ErrorKind::InvalidInput,
                                       fmt::format("{} is named as an image manifest ({}) "
                                                   "but is an index",
                                                   d.digest.str(), d.media_type)));
    }
    im.children.push_back({d, std::move(r->body), std::move(*m)});
  }

  // ---- plan -----------------------------------------------------------------------
  // Blob `b` is needed by image i: join the job fetching (or that fetched) it, or
  // count it present, or make a job. A size of -1 (unknown: schema1) is verified by
  // digest alone.
  void plan_blob(size_t i, const manifest::Descriptor& b) {
    auto& img = *images_[i];
    if (auto it = by_digest_.find(b.digest); it != by_digest_.end()) {
      if (it->second == kPresent) return;
      const size_t j = it->second;
      auto& job = jobs_[j];
      if (done_jobs_.count(j)) return;  // fetched in this run already
      if (job.error) return fail_image(i, *job.error);
      if (job.desc.size < 0 && b.size >= 0) job.desc.size = b.size;  // another image knows its size
      if (std::find(job.images.begin(), job.images.end(), i) == job.images.end()) {
        job.images.push_back(i);
        ++img.blobs_left;
      }
      if (job.dropped) {  // no image wanted it when its turn came; this one does
        job.dropped = false;
        queue_.push_back(j);
      }
      return;
    }
    if (store_.has_blob(b.digest, b.size)) {
      by_digest_.emplace(b.digest, kPresent);
      ++blobs_present_;
      return;
    }
    by_digest_.emplace(b.digest, jobs_.size());
    queue_.push_back(jobs_.size());
    bytes_planned_ += static_cast<uint64_t>(std::max<int64_t>(b.size, 0));
    jobs_.push_back(BlobJob{b, img.client, img.out.ref.repository, {i}, 0, 0, false, false, std::nullopt});
    ++img.blobs_left;
  }

  // Every manifest of image i is in (none pending): its blobs join the plan now and
  // start as slots allow, whatever the other images are still resolving.
  void maybe_plan(size_t i) {
    auto& img = *images_[i];
    if (img.pending > 0 || img.settled || expired_) return;
    settle(i);
    for (const auto& child : img.children) {
      std::vector<manifest::Descriptor> blobs{child.manifest.config};
      for (const auto& l : child.manifest.layers) {
        if (!manifest::is_foreign_layer(l)) {
          blobs.push_back(l);
        } else if (!opts_.fetch_foreign) {
          return fail_image(i, core::error(core::ErrorKind::Denied,
                                           fmt::format("foreign layer {} refused (foreign_layers: refuse)",
                                                       l.digest.str())));
        } else if (!l.urls.empty()) {
          blobs.push_back(l);
        }
      }
      for (const auto& b : blobs) {
        plan_blob(i, b);
        if (img.failed()) return;
      }
    }
    if (img.schema1) {
      for (const auto& b : schema1_blobs(img.schema1->manifest)) plan_blob(i, b);
    }
    spdlog::debug("image planned ref={} blobs_left={}", img.out.ref.str(), img.blobs_left);
    if (!progress_scheduled_) schedule_progress();
    if (img.blobs_left == 0) complete_image(i);  // every blob was there already
    pump();
  }

  // ---- transfers ------------------------------------------------------------------
  // Start queued jobs while the global limit allows, skipping (not dropping) jobs
  // whose registry is at its own limit so other registries keep going.
  void pump() {
    auto client_of = [this](size_t j) { return jobs_[j].client; };
    // From the front each time: start_job may have re-entered pump() and changed the queue.
    for (auto it = clients_.first_admissible(queue_.begin(), queue_.end(), client_of); it != queue_.end();
         it = clients_.first_admissible(queue_.begin(), queue_.end(), client_of)) {
      size_t j = *it;
      queue_.erase(it);
      start_job(j);
    }
  }

  void report_progress() {
    if (!opts_.progress) return;
    Progress p;
    p.images.resize(targets_);
    for (size_t i = 0; i < targets_; ++i) p.images[i].reference = images_[i]->out.ref.str();
    for (size_t j = 0; j < jobs_.size(); ++j) {
      const auto& job = jobs_[j];
      const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(job.desc.size, 0));
      uint64_t done = done_jobs_.count(j) ? size : 0;
      if (auto it = active_.find(j); it != active_.end()) {
        const uint64_t now = it->second->received();
        done = now - std::min(now, ingest_start_[j]);
        p.bytes_done += done;
      } else if (auto c = committing_.find(j); c != committing_.end()) {
        done = c->second;
        p.bytes_done += done;
      }
      for (size_t i : job.images) {
        p.images[root_of(i)].bytes_total += size;  // a referrer's bytes count for its subject
        p.images[root_of(i)].bytes_done += done;
      }
    }
    p.bytes_total = bytes_planned_;
    p.bytes_done += bytes_done_;
    p.blobs_total = jobs_.size();
    p.blobs_done = blobs_fetched_;
    p.in_flight = static_cast<size_t>(clients_.in_flight());
    opts_.progress(p);
  }

  // From the first planned image on, while transfers are queued or in flight; the
  // next image planned starts it again.
  void schedule_progress() {
    if (!opts_.progress) return;
    progress_scheduled_ = true;
    engine_.schedule(opts_.progress_interval, [this] {
      progress_scheduled_ = false;
      if (clients_.in_flight() == 0 && queue_.empty()) return;  // transfers over: let run() end
      report_progress();
      schedule_progress();
    });
  }

  bool job_still_needed(const BlobJob& job) const {
    return std::any_of(job.images.begin(), job.images.end(), [this](size_t i) { return !images_[i]->failed(); });
  }

  // Opening the partial re-reads and hashes what an earlier run left in it (a
  // resumed GiB is seconds of sha256): that runs on the engine's worker, never on
  // the loop. The job holds a slot of its registry meanwhile, so admission counts it.
  void start_job(size_t j) {
    auto& job = jobs_[j];
    if (!job_still_needed(job)) {
      job.dropped = true;
      return pump();
    }
    clients_.acquire(job.client);
    auto opened = std::make_shared<core::Result<std::unique_ptr<store::Ingest>>>(
        core::fail(core::ErrorKind::Internal, "not opened"));
    engine_.offload([&store = store_, desc = job.desc, opened] { *opened = store.begin_ingest(desc.digest, desc.size); },
                    [this, j, opened] {
                      clients_.release(jobs_[j].client);
                      continue_job(j, std::move(*opened));
                      pump();  // outside pump() now: a failed job's slot must go to the next
                    });
  }

  void continue_job(size_t j, core::Result<std::unique_ptr<store::Ingest>> ingest) {
    auto& job = jobs_[j];
    if (!ingest) return job_failed(j, ingest.error());
    if (!job_still_needed(job) || expired_) {
      ingest->reset();  // its partial stays for the next run
      job.dropped = !expired_;
      return;
    }
    auto holder = std::make_shared<std::unique_ptr<store::Ingest>>(std::move(*ingest));
    store::Ingest& in = **holder;
    const bool foreign = manifest::is_foreign_layer(job.desc) && !job.desc.urls.empty();
    const bool may_segment = !foreign && opts_.segments > 1 && !job.single_stream && !no_ranges_.count(job.client) &&
                             job.desc.size >= static_cast<int64_t>(opts_.segment_min_size);
    // Spare slots: those the queued blobs will not take.
    const int spare = clients_.free_slots(job.client) - static_cast<int>(queue_.size());
    if (may_segment && (in.segmented() || spare >= 2)) return start_segmented(j, holder, std::max(1, std::min(opts_.segments, spare)));
    if (in.segmented()) {
      if (auto st = in.drop_segments(); !st) return job_failed(j, st.error());
    }
    if (job.desc.size > 0 && in.size() >= static_cast<uint64_t>(job.desc.size)) {
      // Every byte arrived before the last run stopped, short of the commit: verify and
      // commit it now (a Range past the end would only draw a 416). A mismatch starts
      // the blob over in finish_commit.
      return finish_job(j, holder, 0, {});
    }
    clients_.acquire(job.client);
    const uint64_t resumed_from = in.size();
    active_[j] = &in;
    ingest_start_[j] = resumed_from;
    auto done = [this, j, holder, resumed_from](core::Status st) {
      clients_.release(jobs_[j].client);
      active_.erase(j);
      const uint64_t got = (*holder)->size() - std::min((*holder)->size(), resumed_from);
      finish_job(j, holder, got, std::move(st));
    };
    if (foreign) return fetch_foreign(j, holder, std::move(done));
    job.client->get_blob(job.repository, job.desc.digest, in, std::move(done), job.desc.size);
  }

  // A foreign layer from its URLs in order: a failed transfer empties the partial
  // and tries the next URL; the last one's failure is the job's. A digest mismatch
  // is found at commit, where finish_commit moves on to the next URL.
  void fetch_foreign(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder,
                     std::function<void(core::Status)> done) {
    auto& job = jobs_[j];
    const std::string& url = job.desc.urls[std::min(job.foreign_url, job.desc.urls.size() - 1)];
    job.client->get_foreign(url, http_allowed(url), **holder,
                            [this, j, holder, done = std::move(done)](core::Status st) mutable {
                              auto& jb = jobs_[j];
                              if (!st && jb.foreign_url + 1 < jb.desc.urls.size() && !expired_) {
                                spdlog::warn("foreign layer URL failed, trying the next digest={} url={} error={}",
                                             jb.desc.digest.str(), core::redact_url(jb.desc.urls[jb.foreign_url]),
                                             st.error().message);
                                if (auto r = (*holder)->restart(); r) {
                                  ++jb.foreign_url;
                                  return fetch_foreign(j, holder, std::move(done));
                                }
                              }
                              done(std::move(st));
                            },
                            job.desc.size);
  }

  // A foreign layer's URL may be plain http only on a loopback host or one the
  // registry settings mark insecure, as for registries.
  bool http_allowed(const std::string& url) const {
    const std::string host = registry::url_host(url);
    if (host.empty()) return false;
    if (registry::is_loopback_host(host)) return true;
    return opts_.registry_options && opts_.registry_options(host).insecure;
  }

  // One blob as `n` parallel Range segments into one partial (the gaps of a resumed
  // segmented partial, the biggest split further while there are fewer than n).
  // The prefix hash catches up with finished segments on the engine's worker
  // (Ingest::catch_up) while the others still write: the loop never re-reads.
  struct SegmentedJob {
    std::vector<std::unique_ptr<store::Segment>> segments;
    int left = 0;
    bool range_ignored = false;
    bool catching_up = false;  // a catch_up() is on the worker: the Ingest stays as it is
    std::optional<core::Error> error;
  };

  void start_segmented(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder, int n) {
    constexpr uint64_t kMinSegment = 4 << 20;  // smaller pieces cost a request for little gain
    constexpr uint64_t kAlign = 1 << 20;
    auto& job = jobs_[j];
    store::Ingest& in = **holder;
    std::vector<store::ByteRange> ranges = in.missing();
    while (static_cast<int>(ranges.size()) < n) {
      auto big = std::max_element(ranges.begin(), ranges.end(), [](auto& a, auto& b) { return a.size() < b.size(); });
      if (big == ranges.end() || big->size() < 2 * kMinSegment) break;
      const uint64_t mid = big->from + (big->size() / 2) / kAlign * kAlign;
      const store::ByteRange second{mid, big->to};
      big->to = mid;
      ranges.insert(big + 1, second);
    }
    if (ranges.empty()) return finish_job(j, holder, 0, {});  // every byte is there: commit
    auto sj = std::make_shared<SegmentedJob>();
    for (const auto& r : ranges) {
      auto seg = in.segment(r);
      if (!seg) return job_failed(j, seg.error());
      sj->segments.push_back(std::move(*seg));
    }
    spdlog::debug("segmented download digest={} segments={} from={}", job.desc.digest.str(), ranges.size(),
                  in.size());
    active_[j] = &in;
    ingest_start_[j] = in.received();
    sj->left = static_cast<int>(sj->segments.size());
    for (auto& seg : sj->segments) {
      clients_.acquire(job.client);
      job.client->get_blob_range(job.repository, job.desc.digest, seg->range().from, seg->range().to, *seg,
                                 [this, j, holder, sj, s = seg.get()](core::Status st) {
                                   on_segment_done(j, holder, sj, *s, std::move(st));
                                 });
    }
  }

  void on_segment_done(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                       const std::shared_ptr<SegmentedJob>& sj, store::Segment& seg, core::Status st) {
    auto& job = jobs_[j];
    clients_.release(job.client);
    if (st) st = seg.flush();
    if (!st && st.error().kind == core::ErrorKind::RangeIgnored) {
      sj->range_ignored = true;
    } else if (!st && !sj->error) {
      sj->error = st.error();
    }
    if (--sj->left > 0) {
      if (!sj->catching_up && !sj->error && (*holder)->catch_up_due()) catch_up(j, holder, sj);
      return pump();
    }
    if (sj->catching_up) return;  // catch_up's end goes on from here
    segments_over(j, holder, sj);
  }

  void catch_up(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                const std::shared_ptr<SegmentedJob>& sj) {
    sj->catching_up = true;
    auto result = std::make_shared<core::Status>();
    engine_.offload([in = holder->get(), result] { *result = in->catch_up(); },
                    [this, j, holder, sj, result] {
                      sj->catching_up = false;
                      spdlog::debug("prefix hashed to {} digest={}", (*holder)->size(), jobs_[j].desc.digest.str());
                      if (!*result && !sj->error) sj->error = result->error();
                      if (sj->left > 0) {
                        if (!sj->error && (*holder)->catch_up_due()) catch_up(j, holder, sj);
                        return;
                      }
                      segments_over(j, holder, sj);
                      pump();
                    });
  }

  // Every segment of a job has ended and no catch-up runs: commit, fall back to
  // one stream, or fail.
  void segments_over(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                     const std::shared_ptr<SegmentedJob>& sj) {
    auto& job = jobs_[j];
    uint64_t got = 0;
    for (const auto& s : sj->segments) got += s->size();
    sj->segments.clear();  // flushed into the partial
    active_.erase(j);
    if (sj->range_ignored && !sj->error) {
      spdlog::warn("registry ignores Range, fetching as one stream host={} digest={}", job.client->host(),
                   job.desc.digest.str());
      no_ranges_.insert(job.client);
      job.single_stream = true;
      bytes_fetched_ += got;
      if (auto d = (*holder)->drop_segments(); !d) return finish_job(j, holder, 0, core::fail(d.error()));
      holder->reset();
      queue_.push_front(j);
      return pump();
    }
    finish_job(j, holder, got, sj->error ? core::Status(core::fail(*sj->error)) : core::Status{});
  }

  // A transfer (or all segments of one) is over: commit it on the engine's worker
  // (the fsync there must not stall the other transfers), then finish_commit().
  void finish_job(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder, uint64_t got,
                  core::Status st) {
    bytes_fetched_ += got;
    if (st) st = (*holder)->flush();  // its buffer is freed now, not when the worker gets to it
    if (!st) return finish_commit(j, holder, got, std::move(st));
    committing_[j] = got;
    auto result = std::make_shared<core::Status>();
    engine_.offload([&store = store_, holder, result] { *result = store.commit(std::move(*holder)); },
                    [this, j, holder, got, result] {
                      committing_.erase(j);
                      finish_commit(j, holder, got, std::move(*result));
                    });
    pump();
  }

  // Record a committed blob, or fetch it again once after a verification failure,
  // or fail the images that need it.
  void finish_commit(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder, uint64_t got,
                     core::Status st) {
    auto& jb = jobs_[j];
    const bool bad_bytes = !st && (st.error().kind == core::ErrorKind::DigestMismatch ||
                                   st.error().kind == core::ErrorKind::SizeMismatch);
    // A foreign layer whose bytes do not verify at one URL is fetched from the next.
    const bool next_url = bad_bytes && manifest::is_foreign_layer(jb.desc) && jb.foreign_url + 1 < jb.desc.urls.size();
    if (next_url) ++jb.foreign_url;  // not counted against the last URL's one retry
    if (bad_bytes && (next_url || jb.integrity_retries++ < 1) && !expired_) {
      spdlog::warn("blob failed verification, fetching again digest={} error={}", jb.desc.digest.str(),
                   st.error().message);
      // A failed commit has discarded the partial; a transfer that overran its
      // size has not, and its bytes are doubt: either way the retry starts at zero.
      if (*holder && !(*holder)->restart()) {
        job_failed(j, st.error());
        return pump();
      }
      holder->reset();
      queue_.push_front(j);
      return pump();
    }
    if (!st) {
      job_failed(j, st.error());
    } else {
      ++blobs_fetched_;
      bytes_done_ += got;
      done_jobs_.insert(j);
      spdlog::debug("blob committed digest={} size={}", jb.desc.digest.str(), jb.desc.size);
      for (size_t i : jb.images) {
        auto& img = *images_[i];
        img.out.bytes_fetched += got;
        img.fetched.push_back(jb.desc.digest);
        if (--img.blobs_left == 0) complete_image(i);
      }
    }
    pump();
  }

  void job_failed(size_t j, core::Error e) {
    auto& job = jobs_[j];
    e.context(fmt::format("blob {}", job.desc.digest.str()));
    job.error = e;
    for (size_t i : job.images) fail_image(i, e);
  }

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

  void complete_image(size_t i) {
    auto& img = *images_[i];
    if (img.completing || img.complete || img.failed() || !img.out.changed) return;
    img.completing = true;
    if (img.schema1) return complete_schema1(i);
    // Children arrive in network order; keep the index's order so exports are stable.
    std::stable_sort(img.children.begin(), img.children.end(), [&](const auto& a, const auto& b) {
      return child_rank(img, a.desc.digest) < child_rank(img, b.desc.digest);
    });
    auto c = std::make_shared<Completion>();
    c->children = img.children;  // copies: the worker touches nothing the loop uses
    c->from_index = img.index.has_value();
    if (img.index && img.whole_tree) {
      c->index.emplace(*img.index, img.index_body);
      for (const auto& n : img.nested) c->nested.emplace_back(n.desc, n.body);
    }
    engine_.offload(
        [this, c] {
          for (auto& child : c->children) {
            if (auto st = check_diff_ids(child.manifest); !st) return void(c->error = st.error());
            if (!child.desc.platform) child.desc.platform = platform_from_config(child.manifest);
            if (auto st = store_.put_blob(child.desc.digest, child.body); !st) return void(c->error = st.error());
          }
          // Nested indexes before the top one: the store never names what it lacks.
          for (const auto& [desc, body] : c->nested) {
            if (auto st = store_.put_blob(desc.digest, body); !st) return void(c->error = st.error());
          }
          if (c->index) {
            if (auto st = store_.put_blob(c->index->first.digest, c->index->second); !st) c->error = st.error();
          }
        },
        [this, i, c] { image_stored(i, *c); });
  }

  void image_stored(size_t i, const Completion& c) {
    auto& img = *images_[i];
    img.completing = false;
    img.out.seconds = std::chrono::duration<double>(engine_.clock().now() - img.started).count();
    if (c.error) return fail_image(i, *c.error);
    if (img.failed()) return;
    // Attestations and other non-image children are in the store (under the index)
    // but are no platform image: export never takes them as one.
    for (const auto& child : c.children) {
      if (!c.from_index || manifest::is_image_entry(child.desc)) img.out.images.push_back(child.desc);
    }
    if (c.index) {
      img.out.entries = {c.index->first};
    } else {
      for (const auto& child : c.children) img.out.entries.push_back(child.desc);
    }
    if (img.out.entries.empty()) {
      return fail_image(i, core::error(core::ErrorKind::NotFound, "the index names no manifest"));
    }
    img.complete = true;
    // What the tag resolved to: the index, the schema1 digest (what HEAD will say), or the manifest.
    const digest::Digest resolved =
        img.index ? img.index->digest : img.schema1 ? img.schema1->digest : img.out.images.front().digest;
    last_[img.out.ref.str()] = {resolved, selection(img.target)};
    spdlog::info("image pulled ref={} digest={} platforms={} bytes={}", img.out.ref.str(),
                 img.out.entries.front().digest.short_hex(), img.out.images.size(), img.out.bytes_fetched);
    if (opts_.on_image_ready && i < targets_) opts_.on_image_ready(i, img.out, img.fetched);
  }

  // ---- schema1 (see schema1_convert.h) ----------------------------------------------
  // The top manifest is schema1: keep its payload and parsed form; plan() fetches its
  // layers and complete_schema1() converts it once they are in the store.
  void on_schema1_manifest(size_t i, const registry::ManifestReply& r) {
    auto& img = *images_[i];
    auto src = read_schema1(r.body, r.digest);
    if (!src) return fail_image(i, src.error());
    if (auto st = check_schema1_platform(src->manifest, img.target.platforms, img.target.all_platforms); !st) {
      return fail_image(i, st.error());
    }
    spdlog::debug("schema1 manifest ref={} digest={} layers={}", img.out.ref.str(), r.digest.short_hex(),
                  src->manifest.fs_layers.size());
    img.schema1 = std::move(*src);
  }

  // Every layer is in the store: convert on the worker (it inflates each layer and
  // fsyncs three blobs), then finish as any image does, with the schema2 manifest.
  void complete_schema1(size_t i) {
    auto src = std::make_shared<Schema1Source>(*images_[i]->schema1);  // the worker's own copy
    auto result = std::make_shared<core::Result<manifest::Descriptor>>();
    engine_.offload([this, src, result] { *result = convert_schema1(store_, *src); },
                    [this, i, result] {
                      Completion c;
                      if (!*result) {
                        c.error = result->error();
                      } else {
                        c.children.push_back({**result, {}, {}});
                        spdlog::info("schema1 image converted ref={} schema1={} manifest={}",
                                     images_[i]->out.ref.str(), images_[i]->schema1->digest.short_hex(),
                                     (*result)->digest.short_hex());
                      }
                      image_stored(i, c);
                    });
  }

  // The pull is over: record every complete image in index.json at once.
  // Referrers are recorded only with a subject that is complete (or unchanged), each
  // entry annotated with its subject; the subject's referrers that were not found
  // again (moved tag, deleted signature) leave index.json.
  void commit_manifests() {
    std::vector<store::IndexEntry> entries;
    std::map<std::string, std::set<std::string>> found;  // subject ref -> its referrers now
    for (size_t i = 0; i < images_.size(); ++i) {
      auto& img = *images_[i];
      if (i < targets_ && img.referrers_found && !img.failed()) found[img.out.ref.str()];
      if (img.subject) {
        auto& subject = *images_[*img.subject];
        if (subject.failed() || img.failed() || (!subject.complete && subject.out.changed)) continue;
        found[subject.out.ref.str()].insert(img.out.ref.str());
        if (!img.complete && !img.out.changed) {
          // Unchanged: rewrite its entries only when they do not name this subject yet.
          bool named = std::all_of(img.out.entries.begin(), img.out.entries.end(), [&](const auto& d) {
            return store::referrer_of(d) == subject.out.ref.str();
          });
          if (!named) {
            for (auto d : img.out.entries) entries.push_back({annotated(d, subject), img.out.ref.str()});
          }
          continue;
        }
      }
      if (!img.complete) {
        img.out.seconds = std::chrono::duration<double>(engine_.clock().now() - img.started).count();
        continue;
      }
      for (const auto& d : img.out.entries) {
        entries.push_back({img.subject ? annotated(d, *images_[*img.subject]) : d, img.out.ref.str()});
      }
    }
    core::Status st;
    if (!entries.empty()) st = store_.upsert_index(entries);
    if (st && !found.empty()) st = drop_stale_referrers(found);
    if (st && !entries.empty()) st = save_last_pulls(store_, last_);
    if (!st) {
      for (size_t i = 0; i < images_.size(); ++i) fail_image(i, st.error());
    }
  }

  static manifest::Descriptor annotated(manifest::Descriptor d, const ImageState& subject) {
    d.annotations[std::string(store::kReferrerOfAnnotation)] = subject.out.ref.str();
    d.annotations[std::string(store::kReferrerSubjectAnnotation)] = subject.out.digest.str();
    return d;
  }

  core::Status drop_stale_referrers(const std::map<std::string, std::set<std::string>>& found) {
    auto index = store_.read_index();
    if (!index) return core::fail(index.error());
    const size_t before = index->size();
    std::erase_if(*index, [&](const store::IndexEntry& e) {
      auto it = found.find(store::referrer_of(e.descriptor));
      return it != found.end() && !it->second.contains(e.ref_name);
    });
    if (index->size() == before) return {};
    spdlog::info("referrers no longer listed dropped from index.json entries={}", before - index->size());
    return store_.replace_index(*index);
  }

  size_t child_rank(const ImageState& img, const digest::Digest& d) const {
    for (size_t k = 0; k < img.wanted.size(); ++k) {
      if (img.wanted[k] == d) return k;
    }
    return img.wanted.size();
  }

  // On the worker: every layer of an image decompresses to the diff_id its config
  // names, as `docker load` will check on the far side, so a registry whose config
  // lies fails the image here instead of in a tarball. A layer checked once in this
  // run is not decoded again (checked_ is the worker's alone). Artifacts have no
  // rootfs; foreign layers not in the store are checked where they are fetched.
  core::Status check_diff_ids(const manifest::ImageManifest& m) {
    if (manifest::is_artifact(m)) return {};
    auto body = store::read_verified(store_, m.config, manifest::kMaxConfigSize, "config");
    if (!body) return core::fail(body.error());
    auto cfg = manifest::parse_config(*body);
    if (!cfg) return core::fail(cfg.error().context(fmt::format("config {}", m.config.digest.str())));
    if (cfg->diff_ids.size() != m.layers.size()) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("config {} names {} diff_ids for {} layers", m.config.digest.str(),
                                    cfg->diff_ids.size(), m.layers.size()));
    }
    for (size_t k = 0; k < m.layers.size(); ++k) {
      const auto& layer = m.layers[k];
      if (auto it = checked_.find(layer.digest); it != checked_.end()) {
        if (it->second != cfg->diff_ids[k]) return diff_id_mismatch(layer, it->second, cfg->diff_ids[k]);
        continue;
      }
      if (manifest::is_foreign_layer(layer) && !store_.has_blob(layer.digest)) continue;
      auto opened = store_.open_blob(layer.digest);
      if (!opened) return core::fail(opened.error());
      auto decoded = codec::decode_fd(opened->get(), store_.blob_path(layer.digest).string());
      if (!decoded) return core::fail(decoded.error().context(fmt::format("layer {}", layer.digest.str())));
      checked_.emplace(layer.digest, decoded->diff_id);
      if (decoded->diff_id != cfg->diff_ids[k]) return diff_id_mismatch(layer, decoded->diff_id, cfg->diff_ids[k]);
    }
    return {};
  }

  static core::Status diff_id_mismatch(const manifest::Descriptor& layer, const digest::Digest& got,
                                       const digest::Digest& want) {
    return core::fail(core::ErrorKind::DigestMismatch,
                      fmt::format("layer {} decompresses to {}, but the image config's diff_id is {} "
                                  "(docker load would refuse it)",
                                  layer.digest.str(), got.str(), want.str()));
  }

  std::optional<manifest::Platform> platform_from_config(const manifest::ImageManifest& m) const {
    auto body = store::read_verified(store_, m.config, manifest::kMaxConfigSize, "config");
    if (!body) return std::nullopt;
    auto cfg = manifest::parse_config(*body);
    if (!cfg || cfg->platform.os.empty()) return std::nullopt;
    return cfg->platform;
  }

  store::Store& store_;
  const PullOptions& opts_;
  http::Engine& engine_;
  auth::TokenCache tokens_;
  registry::ClientPool clients_{engine_, tokens_, opts_.registry_options, opts_.concurrency};
  std::vector<std::unique_ptr<ImageState>> images_;  // the targets first, then referrers as found
  size_t targets_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::deque<BlobJob> jobs_;  // grows while jobs run: references into it stay valid
  static constexpr size_t kPresent = SIZE_MAX;  // in by_digest_: the blob was in the store already
  std::unordered_map<digest::Digest, size_t> by_digest_;  // every blob planned: its job, or kPresent
  size_t resolving_ = 0;                                   // images not settled yet
  std::map<std::string, LastPull> last_;
  std::optional<std::multimap<std::string, manifest::Descriptor>> stored_refs_;  // index.json at the first reuse
  std::deque<size_t> queue_;
  std::set<registry::Client*> no_ranges_;     // answered a Range with 200 once
  std::map<size_t, store::Ingest*> active_;   // job -> its ingest while in flight
  std::map<size_t, uint64_t> ingest_start_;   // job -> bytes already there when it started
  std::map<size_t, uint64_t> committing_;     // job -> bytes fetched, while its commit is offloaded
  uint64_t bytes_planned_ = 0, bytes_done_ = 0;
  std::set<size_t> done_jobs_;
  std::map<digest::Digest, digest::Digest> checked_;  // layer -> its diff_id; the worker thread's only
  uint64_t blobs_fetched_ = 0, blobs_present_ = 0, bytes_fetched_ = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline_at_;
  bool expired_ = false, progress_scheduled_ = false, plan_logged_ = false;
};

}  // namespace

bool PullReport::ok() const {
  return std::none_of(images.begin(), images.end(), [](const PulledImage& p) { return p.error.has_value(); });
}

core::Result<PullReport> pull(store::Store& store, const std::vector<PullTarget>& targets,
                              const PullOptions& opts, http::Engine& engine) {
  Puller p(store, opts, engine);
  return p.run(targets);
}

}  // namespace ferry::sync
