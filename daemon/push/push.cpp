// push: check tag → plan blobs → HEAD → upload/mount → manifests, over one engine
// loop. Each image goes through these steps on its own (no step waits for the other
// images'); blobs are deduplicated across images per repository, and per registry
// one repository uploads a blob while the others wait to mount it from there.
#include "push/push.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "registry/client_pool.h"
#include "store/image_view.h"

namespace ferry::push {

namespace {


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
  int pending = 0;
  size_t blobs_left = 0;                         // its blobs not yet in the destination
  std::optional<size_t> subject;                 // a referrer: its subject's image in this run
  std::vector<size_t> referrers_waiting;         // referrers whose manifests wait for this tag
  bool tag_settled = false;                      // tag up, unchanged or failed: referrers may go
  bool failed() const { return out.error.has_value(); }
};

// A blob in one destination repository.
struct BlobJob {
  manifest::Descriptor desc;
  registry::Client* client = nullptr;
  std::string repository;
  std::vector<size_t> images;
  // Unknown: its HEAD has not answered; Missing: to upload or mount; then one of
  // Present (it was there), Uploaded, Mounted, Failed.
  enum class State { Unknown, Present, Missing, Uploaded, Mounted, Failed } state = State::Unknown;
  uint64_t bytes_sent = 0;
  std::optional<core::Error> error;
};

// One digest on one registry, over its repositories: who holds it (a mount source)
// and whether one of them is uploading it now (the others wait to mount).
struct BlobGroup {
  std::string holder;          // a repository that has it, or ""
  bool uploading = false;
  std::deque<size_t> waiting;  // jobs that mount once the upload is in
};

std::string tag_or_digest(const reference::Reference& r) {
  return !r.tag.empty() ? r.tag : (r.digest ? r.digest->str() : std::string("latest"));
}

class Pusher {
 public:
  Pusher(const store::Store& store, const PushOptions& opts, http::Engine& engine)
      : store_(store), opts_(opts), engine_(engine) {}

  core::Result<PushReport> run(const std::vector<PushItem>& items) {
    const auto started = engine_.clock().now();
    const uint64_t requests_before = engine_.stats().requests;
    for (const auto& item : items) {
      auto st = std::make_unique<ImageState>();
      st->out.source = item.source;
      st->out.destination = item.destination;
      st->client = clients_.get(item.destination);
      st->repository = item.destination.repository;
      st->tag_ref = tag_or_digest(item.destination);
      images_.push_back(std::move(st));
      if (auto loaded = load(images_.size() - 1, item); !loaded) fail_image(images_.size() - 1, loaded.error());
    }
    // A referrer's manifests go up after its subject's tag (with_referrers lists it after).
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].referrer_of.empty()) continue;
      for (size_t k = 0; k < i; ++k) {
        if (items[k].source == items[i].referrer_of) images_[i]->subject = k;
      }
    }
    if (opts_.deadline) deadline_at_ = started + *opts_.deadline;
    auto until_idle = [this] {
      check_deadline();
      return engine_.idle();
    };
    // Each image: does the tag already name our digest (then the registry holds all
    // of it)? Else which blobs does its repository lack (HEAD); upload them (a copy
    // into another repository of the same registry mounts); then its manifests,
    // children by digest, and the tag.
    for (size_t i = 0; i < images_.size(); ++i) check_tag(i);
    schedule_progress();
    if (auto st = engine_.run(until_idle); !st) return core::fail(st.error());
    PushReport report;
    for (size_t i = 0; i < images_.size(); ++i) {
      auto& img = images_[i];
      img->out.seconds = std::chrono::duration<double>(engine_.clock().now() - started).count();
      if (!img->failed() && !img->out.unchanged && !img->top_put) {
        // Never report a push whose tag did not go up (no silent success).
        fail_image(i, core::error(core::ErrorKind::Internal, "the tag's manifest was never sent"));
      }
      if (!img->failed()) {
        log_image(*img);
      }
      report.blobs_uploaded += img->out.blobs_uploaded;
      report.blobs_mounted += img->out.blobs_mounted;
      report.blobs_present += img->out.blobs_present;
      report.bytes_uploaded += img->out.bytes_uploaded;
      report.images.push_back(std::move(img->out));
    }
    report.requests = engine_.stats().requests - requests_before;
    report.seconds = std::chrono::duration<double>(engine_.clock().now() - started).count();
    return report;
  }

 private:
  // Called between loop iterations: once the deadline has passed, fail every image
  // whose tag is not up, drop the queue and stop the requests in flight.
  void check_deadline() {
    if (!deadline_at_ || expired_ || engine_.clock().now() < *deadline_at_) return;
    expired_ = true;
    const core::Error e =
        core::error(core::ErrorKind::Cancelled, fmt::format("deadline of {} exceeded", opts_.deadline_text));
    spdlog::warn("deadline reached, stopping the push deadline={} queued={}", opts_.deadline_text, queue_.size());
    for (size_t i = 0; i < images_.size(); ++i) {
      if (!images_[i]->top_put && !images_[i]->out.unchanged) fail_image(i, e);
    }
    queue_.clear();
    engine_.abort(e);
  }

  void fail_image(size_t i, core::Error e) {
    auto& img = *images_[i];
    if (img.failed()) return;
    e.context(fmt::format("push {} to {}", img.out.source, img.out.destination.str()));
    spdlog::debug("image failed error={}", e.message);  // the report carries it
    img.out.error = std::move(e);
    tag_settled(i);
  }

  // Image i's tag is up, was current, or cannot go up: its referrers waiting for it
  // put their manifests now.
  void tag_settled(size_t i) {
    auto& img = *images_[i];
    if (img.tag_settled) return;
    img.tag_settled = true;
    for (size_t r : std::exchange(img.referrers_waiting, {})) put_children(r);
  }

  // A manifest read back from the store, its bytes verified against `d` (what the
  // registry is sent is what was pulled, or nothing).
  core::Result<store::StoredManifest> read_manifest(const manifest::Descriptor& d) {
    return store::read_manifest(store_, d);
  }

  // Blobs of one image manifest (config and layers; foreign layers stay where they are).
  core::Status add_image_blobs(ImageState& img, const store::StoredManifest& m) {
    const auto* im = std::get_if<manifest::ImageManifest>(&m.parsed);
    if (!im) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{} is named as an image manifest but is an index", m.descriptor.digest.str()));
    }
    img.blobs.push_back(im->config);
    for (const auto& l : im->layers) {
      if (!manifest::is_foreign_layer(l)) img.blobs.push_back(l);
    }
    return {};
  }

  core::Status load(size_t i, const PushItem& item) {
    auto& img = *images_[i];
    if (item.manifests.empty()) return core::fail(core::ErrorKind::NotFound, "the store holds no manifest for it");
    std::vector<manifest::Descriptor> tops = item.manifests;
    std::optional<store::StoredManifest> stored_top;  // the one entry, as read back (not a made index)
    if (tops.size() > 1) {
      // A platform subset kept as separate entries: push each, tag a new index of them.
      for (const auto& d : tops) {
        if (manifest::is_index_type(d.media_type)) {
          return core::fail(core::ErrorKind::Unsupported, "several index.json entries for one reference, one an index");
        }
      }
      img.top = make_index(tops);
      img.out.synthesized_index = true;
    } else {
      auto top = read_manifest(tops.front());
      if (!top) return core::fail(top.error());
      stored_top = std::move(*top);
      img.top = ManifestBody{stored_top->descriptor, stored_top->bytes};
    }
    if (item.destination.digest && *item.destination.digest != img.top.desc.digest) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("destination pins {}, the image is {}", item.destination.digest->str(),
                                    img.top.desc.digest.str()));
    }
    img.out.digest = img.top.desc.digest;
    std::vector<manifest::Descriptor> children;
    if (img.out.synthesized_index) {
      children = tops;
    } else if (const auto* index = std::get_if<manifest::Index>(&stored_top->parsed)) {
      children = index->manifests;
    } else {
      if (auto st = add_image_blobs(img, *stored_top); !st) return st;
    }
    std::set<digest::Digest> seen{img.top.desc.digest};
    if (auto st = add_children(img, children, 1, seen); !st) return st;
    for (const auto& b : img.blobs) {
      if (!store_.has_blob(b.digest, b.size)) {
        return core::fail(core::ErrorKind::NotFound, fmt::format("blob {} is not in the store", b.digest.str()));
      }
    }
    return {};
  }

  // The manifests under an index at `depth` (1: under the top): image manifests and
  // artifacts with their blobs, nested indexes after their own children. Each digest once.
  core::Status add_children(ImageState& img, const std::vector<manifest::Descriptor>& children, size_t depth,
                            std::set<digest::Digest>& seen) {
    for (const auto& c : children) {
      if (!seen.insert(c.digest).second) continue;
      if (!store_.has_blob(c.digest, c.size)) {
        img.missing_children.push_back(c.digest);  // the registry may refuse the index; said then
        continue;
      }
      auto child = read_manifest(c);
      if (!child) return core::fail(child.error());
      if (const auto* index = std::get_if<manifest::Index>(&child->parsed)) {
        if (depth + 1 > manifest::kMaxIndexDepth) {
          return core::fail(core::ErrorKind::InvalidInput, fmt::format("indexes nested deeper than {} levels at {}",
                                                                       manifest::kMaxIndexDepth, c.digest.str()));
        }
        if (auto st = add_children(img, index->manifests, depth + 1, seen); !st) return st;
      } else if (auto st = add_image_blobs(img, *child); !st) {
        return st;
      }
      img.children.push_back(ManifestBody{c, std::move(child->bytes)});
      img.child_depth.push_back(depth);
    }
    return {};
  }

  // Every blob and manifest the destination holds once this image is there.
  void record_holdings(ImageState& img) {
    std::set<digest::Digest> all;
    for (const auto& b : img.blobs) all.insert(b.digest);
    for (const auto& c : img.children) all.insert(c.desc.digest);
    all.insert(img.top.desc.digest);
    img.out.blobs.assign(all.begin(), all.end());
  }

  // ---- a small admission queue: every request goes through it -------------------
  // A task gets `release`, which it calls once its request is over. Tasks wait
  // while the global cap, or their registry's own (registries: concurrency), is full.
  struct Task {
    registry::Client* client;
    std::function<void(std::function<void()>)> run;
  };

  void enqueue(registry::Client* client, std::function<void(std::function<void()>)> task) {
    queue_.push_back(Task{client, std::move(task)});
  }

  void pump() {
    auto client_of = [](const Task& t) { return t.client; };
    // From the front each time: the task may have re-entered pump() and changed the queue.
    for (auto it = clients_.first_admissible(queue_.begin(), queue_.end(), client_of); it != queue_.end();
         it = clients_.first_admissible(queue_.begin(), queue_.end(), client_of)) {
      Task task = std::move(*it);
      queue_.erase(it);
      clients_.acquire(task.client);
      task.run([this, client = task.client] {
        clients_.release(client);
        pump();
      });
    }
  }

  // ---- 1. tag ---------------------------------------------------------------------
  void check_tag(size_t i) {
    if (images_[i]->failed()) return;
    enqueue(images_[i]->client, [this, i](std::function<void()> release) {
      auto& img = *images_[i];
      img.client->get_manifest(img.repository, img.tag_ref, true,
                               [this, i, release](core::Result<registry::ManifestReply> r) {
                                 auto& im = *images_[i];
                                 if (r && !r->digest.empty() && r->digest == present_index(im).desc.digest) {
                                   use_present_index(im);  // an earlier push had to tag that one
                                 }
                                 if (r && r->digest == im.top.desc.digest) {
                                   im.out.unchanged = true;
                                   record_holdings(im);
                                   tag_settled(i);
                                 } else if (!r && r.error().http_status != 404) {
                                   fail_image(i, r.error());  // auth or network: no point going on
                                 }
                                 release();
                                 if (!im.failed() && !im.out.unchanged && !expired_) plan_image(i);
                               });
    });
    pump();
  }

  // ---- 2. plan + HEAD ---------------------------------------------------------------
  // The tag does not name our digest: each blob joins the job for its repository
  // (one HEAD per repository and digest in the run), and once all of them are at the
  // destination the manifests go up.
  void plan_image(size_t i) {
    auto& img = *images_[i];
    for (const auto& b : img.blobs) {
      auto key = std::make_tuple(img.client, img.repository, b.digest);
      if (auto it = by_key_.find(key); it != by_key_.end()) {
        join(i, it->second);
        if (img.failed()) return;
        continue;
      }
      const size_t j = jobs_.size();
      by_key_.emplace(key, j);
      jobs_.push_back(BlobJob{b, img.client, img.repository, {i}, BlobJob::State::Unknown, 0, std::nullopt});
      ++img.blobs_left;
      head_blob(j);
    }
    if (img.blobs_left == 0) put_children(i);
  }

  // Image i needs job j, planned by another image: wait for it, or take its outcome.
  void join(size_t i, size_t j) {
    auto& img = *images_[i];
    auto& job = jobs_[j];
    if (std::find(job.images.begin(), job.images.end(), i) != job.images.end()) return;
    job.images.push_back(i);
    switch (job.state) {
      case BlobJob::State::Failed: return fail_image(i, *job.error);
      case BlobJob::State::Present: ++img.out.blobs_present; return;
      case BlobJob::State::Uploaded:
      case BlobJob::State::Mounted: return count_sent(img, job);
      case BlobJob::State::Unknown:
      case BlobJob::State::Missing: ++img.blobs_left; return;
    }
  }

  void head_blob(size_t j) {
    enqueue(jobs_[j].client, [this, j](std::function<void()> release) {
      auto& job = jobs_[j];
      if (!still_needed(job)) return release();
      job.client->blob_exists(job.repository, job.desc.digest, [this, j, release](core::Result<bool> r) {
        release();
        if (!r) return job_failed(j, r.error());
        auto& jb = jobs_[j];
        auto& group = groups_[{jb.client, jb.desc.digest}];
        if (*r) {
          jb.state = BlobJob::State::Present;
          for (size_t i : jb.images) ++images_[i]->out.blobs_present;
          if (group.holder.empty()) group.holder = jb.repository;
          mount_waiting(group);
          return job_done(j);
        }
        jb.state = BlobJob::State::Missing;
        bytes_total_ += static_cast<uint64_t>(std::max<int64_t>(jb.desc.size, 0));
        if (!group.holder.empty()) return start_upload(j, group.holder);
        if (group.uploading) return group.waiting.push_back(j);
        group.uploading = true;  // this repository uploads; the others mount from it
        start_upload(j, {});
      });
    });
    pump();
  }

  void job_failed(size_t j, core::Error e) {
    auto& job = jobs_[j];
    job.state = BlobJob::State::Failed;
    e.context(fmt::format("blob {}", job.desc.digest.str()));
    job.error = e;
    for (size_t i : job.images) fail_image(i, e);
  }

  bool still_needed(const BlobJob& job) const {
    return std::any_of(job.images.begin(), job.images.end(), [this](size_t i) { return !images_[i]->failed(); });
  }

  // A blob is at the destination for its job's images: those with nothing left
  // put their manifests.
  void job_done(size_t j) {
    for (size_t i : jobs_[j].images) {
      auto& img = *images_[i];
      if (img.failed() || img.blobs_left == 0) continue;
      if (--img.blobs_left == 0) put_children(i);
    }
  }

  // ---- 3. uploads -------------------------------------------------------------------
  // `mount_from` "": upload the bytes; else mount from that repository (the registry
  // client falls back to an upload when the mount is refused).
  void start_upload(size_t j, std::string mount_from) {
    enqueue(jobs_[j].client, [this, j, mount_from](std::function<void()> release) {
      auto& job = jobs_[j];
      if (!still_needed(job)) {
        release();
        return upload_over(j, false);
      }
      registry::UploadOptions uo;
      uo.chunk_size = opts_.chunk_size;
      uo.mount_from = mount_from;
      // Opened here through the store's blobs directory: never a link planted there.
      auto opened = store_.open_blob(job.desc.digest);
      if (!opened) {
        job_failed(j, opened.error());
        release();
        return upload_over(j, false);
      }
      registry::BlobUpload blob{job.desc.digest, job.desc.size, store_.blob_path(job.desc.digest).string(),
                                std::make_shared<const core::UniqueFd>(std::move(*opened))};
      job.client->upload_blob(job.repository, blob, uo, [this, j, release](core::Result<registry::UploadResult> r) {
        auto& jb = jobs_[j];
        if (!r) {
          job_failed(j, r.error());
        } else {
          jb.state = r->mounted ? BlobJob::State::Mounted : BlobJob::State::Uploaded;
          jb.bytes_sent = r->bytes_sent;
          bytes_done_ += static_cast<uint64_t>(std::max<int64_t>(jb.desc.size, 0));
          for (size_t i : jb.images) count_sent(*images_[i], jb);
          spdlog::debug("blob {} digest={} repo={} bytes={}", r->mounted ? "mounted" : "uploaded",
                        jb.desc.digest.short_hex(), jb.repository, r->bytes_sent);
        }
        release();
        upload_over(j, r.has_value());
        if (r) job_done(j);
      });
    });
    pump();
  }

  static void count_sent(ImageState& img, const BlobJob& job) {
    job.state == BlobJob::State::Mounted ? ++img.out.blobs_mounted : ++img.out.blobs_uploaded;
    img.out.bytes_uploaded += job.bytes_sent;
  }

  // Job j's upload (or mount) is over: on success its repository holds the blob and
  // the jobs waiting for it mount from there; on failure the next one uploads.
  void upload_over(size_t j, bool ok) {
    auto& job = jobs_[j];
    auto& group = groups_[{job.client, job.desc.digest}];
    if (ok && group.holder.empty()) group.holder = job.repository;
    if (!group.holder.empty()) return mount_waiting(group);
    group.uploading = false;
    if (group.waiting.empty()) return;
    const size_t next = group.waiting.front();
    group.waiting.pop_front();
    group.uploading = true;
    start_upload(next, {});
  }

  void mount_waiting(BlobGroup& group) {
    group.uploading = false;
    while (!group.waiting.empty()) {
      const size_t w = group.waiting.front();
      group.waiting.pop_front();
      start_upload(w, group.holder);
    }
  }

  // ---- progress ---------------------------------------------------------------------
  // Bytes of the blobs a HEAD found missing, and of those uploaded or mounted since
  // (a blob counts when its upload is over: the client reports no partial progress).
  void report_progress() {
    core::Progress p;
    for (const auto& img : images_) p.images.push_back({img->out.destination.str(), 0, 0});
    for (const auto& job : jobs_) {
      if (job.state == BlobJob::State::Unknown || job.state == BlobJob::State::Present) continue;
      const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(job.desc.size, 0));
      const bool sent = job.state == BlobJob::State::Uploaded || job.state == BlobJob::State::Mounted;
      for (size_t i : job.images) {
        p.images[i].bytes_total += size;
        if (sent) p.images[i].bytes_done += size;
      }
      ++p.blobs_total;
      if (sent) ++p.blobs_done;
    }
    p.bytes_total = bytes_total_;
    p.bytes_done = bytes_done_;
    p.in_flight = static_cast<size_t>(clients_.in_flight());
    opts_.progress(p);
  }

  void schedule_progress() {
    if (!opts_.progress) return;
    engine_.schedule(opts_.progress_interval, [this] {
      if (clients_.in_flight() == 0 && queue_.empty()) return;  // the push is over: let run() end
      report_progress();
      schedule_progress();
    });
  }

  // ---- 4. manifests -----------------------------------------------------------------
  // Children go up deepest first, one depth at a time (a registry checks that an
  // index's manifests exist), then the tag.
  void put_children(size_t i) {
    auto& img = *images_[i];
    if (img.failed() || img.out.unchanged || expired_) return;
    if (img.subject && !images_[*img.subject]->tag_settled) {
      return images_[*img.subject]->referrers_waiting.push_back(i);
    }
    img.wave = 0;
    for (size_t d : img.child_depth) img.wave = std::max(img.wave, d);
    put_wave(i);
  }

  void put_wave(size_t i) {
    auto& img = *images_[i];
    if (img.wave == 0) return put_top(i);
    img.pending = static_cast<int>(std::count(img.child_depth.begin(), img.child_depth.end(), img.wave));
    if (img.pending == 0) {
      --img.wave;
      return put_wave(i);
    }
    for (size_t c = 0; c < img.children.size(); ++c) {
      if (img.child_depth[c] != img.wave) continue;
      enqueue(img.client, [this, i, c](std::function<void()> release) {
        auto& im = *images_[i];
        const auto& child = im.children[c];
        // HEAD first: a second push of a changed index re-sends no unchanged child.
        im.client->get_manifest(im.repository, child.desc.digest.str(), true,
                                [this, i, c, release](core::Result<registry::ManifestReply> r) {
                                  auto& img2 = *images_[i];
                                  if (r && r->digest == img2.children[c].desc.digest) {
                                    release();
                                    return child_done(i);
                                  }
                                  put_manifest(i, img2.children[c], img2.children[c].desc.digest.str(), release);
                                });
      });
    }
    pump();  // also when called from a completion, after its release() pumped
  }

  void child_done(size_t i) {
    auto& img = *images_[i];
    if (--img.pending != 0 || img.failed()) return;
    --img.wave;
    put_wave(i);
  }

  void put_manifest(size_t i, const ManifestBody& m, const std::string& ref, std::function<void()> release) {
    auto& img = *images_[i];
    const bool is_top = &m == &img.top;
    img.client->put_manifest(img.repository, ref, m.body, m.desc.media_type,
                             [this, i, is_top, release](core::Result<digest::Digest> r) {
                               auto& im = *images_[i];
                               if (!r && is_top && retry_with_present_children(i, r.error())) {
                                 release();
                                 return;
                               }
                               if (!r) {
                                 core::Error e = r.error();
                                 if (is_top && !im.missing_children.empty()) {
                                   e.message += fmt::format(" (the store lacks {} of the index's manifests, e.g. {})",
                                                            im.missing_children.size(),
                                                            im.missing_children.front().str());
                                 }
                                 fail_image(i, std::move(e));
                               } else {
                                 ++im.out.manifests_put;
                                 if (is_top) im.top_put = true;
                                 if (is_top) tag_settled(i);
                                 if (is_top) record_holdings(im);
                               }
                               release();
                               if (!is_top) child_done(i);
                             });
  }

  // The registry refused an index naming manifests the store lacks (Docker Hub's
  // attestations are never mirrored): tag a new index of the present ones instead.
  // Its digest differs from the source's; the log and report say so.
  bool retry_with_present_children(size_t i, const core::Error& e) {
    auto& img = *images_[i];
    if (img.missing_children.empty() || img.fallback_tried || img.children.empty() || e.http_status != 400) {
      return false;
    }
    const digest::Digest original = img.top.desc.digest;
    use_present_index(img);
    spdlog::warn("index refused: the store lacks {} of its manifests; tagging a new index of the {} present "
                 "ref={} source_digest={} new_digest={}",
                 img.missing_children.size(), img.children.size(), img.out.destination.str(), original.str(),
                 img.top.desc.digest.str());
    put_top(i);
    return true;
  }

  // The index of the children the store holds, when the original names others; else
  // the original.
  ManifestBody present_index(const ImageState& img) const {
    if (img.missing_children.empty() || img.children.empty()) return img.top;
    std::vector<manifest::Descriptor> present;
    for (size_t c = 0; c < img.children.size(); ++c) {
      if (img.child_depth[c] == 1) present.push_back(img.children[c].desc);
    }
    return make_index(present, img.top.desc.media_type);
  }

  void use_present_index(ImageState& img) {
    if (img.missing_children.empty() || img.children.empty() || img.fallback_tried) return;
    img.fallback_tried = true;
    img.top = present_index(img);
    img.out.digest = img.top.desc.digest;
    img.out.synthesized_index = true;
  }

  void put_top(size_t i) {
    enqueue(images_[i]->client, [this, i](std::function<void()> release) {
      auto& img = *images_[i];
      put_manifest(i, img.top, img.tag_ref, std::move(release));
    });
    pump();
  }

  void log_image(const ImageState& img) {
    spdlog::info("image pushed ref={} to={} digest={} unchanged={} uploaded={} mounted={} present={} bytes={}",
                 img.out.source, img.out.destination.str(), img.out.digest.short_hex(), img.out.unchanged,
                 img.out.blobs_uploaded, img.out.blobs_mounted, img.out.blobs_present, img.out.bytes_uploaded);
  }

  const store::Store& store_;
  const PushOptions& opts_;
  http::Engine& engine_;
  auth::TokenCache tokens_;
  registry::ClientPool clients_{engine_, tokens_, opts_.registry_options, opts_.concurrency};
  std::vector<std::unique_ptr<ImageState>> images_;
  std::deque<BlobJob> jobs_;  // grows while jobs run: references into it stay valid
  std::map<std::tuple<registry::Client*, std::string, digest::Digest>, size_t> by_key_;  // registry, repo, blob
  std::map<std::pair<registry::Client*, digest::Digest>, BlobGroup> groups_;
  uint64_t bytes_total_ = 0, bytes_done_ = 0;
  std::deque<Task> queue_;
  std::optional<std::chrono::steady_clock::time_point> deadline_at_;
  bool expired_ = false;
};

}  // namespace

bool PushReport::ok() const {
  return std::none_of(images.begin(), images.end(), [](const PushedImage& p) { return p.error.has_value(); });
}

core::Result<PushReport> push(const store::Store& store, const std::vector<PushItem>& items, const PushOptions& opts,
                              http::Engine& engine) {
  Pusher p(store, opts, engine);
  return p.run(items);
}

}  // namespace ferry::push
