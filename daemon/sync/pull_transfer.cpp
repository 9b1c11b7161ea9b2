// pull, plan and transfer: blobs join the plan as images resolve, then stream into
// the store through the registry slots.
#include "sync/puller.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/redact.h"

namespace ferry::sync::detail {

void Puller::plan_blob(size_t i, const manifest::Descriptor& b) {
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

void Puller::maybe_plan(size_t i) {
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

void Puller::pump() {
  auto client_of = [this](size_t j) { return jobs_[j].client; };
  // From the front each time: start_job may have re-entered pump() and changed the queue.
  for (auto it = clients_.first_admissible(queue_.begin(), queue_.end(), client_of); it != queue_.end();
       it = clients_.first_admissible(queue_.begin(), queue_.end(), client_of)) {
    size_t j = *it;
    queue_.erase(it);
    start_job(j);
  }
}

void Puller::report_progress() {
  if (!opts_.progress) return;
  core::Progress p;
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

void Puller::schedule_progress() {
  if (!opts_.progress) return;
  progress_scheduled_ = true;
  engine_.schedule(opts_.progress_interval, [this] {
    progress_scheduled_ = false;
    if (clients_.in_flight() == 0 && queue_.empty()) return;  // transfers over: let run() end
    report_progress();
    schedule_progress();
  });
}

bool Puller::job_still_needed(const BlobJob& job) const {
  return std::any_of(job.images.begin(), job.images.end(), [this](size_t i) { return !images_[i]->failed(); });
}

void Puller::start_job(size_t j) {
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

void Puller::continue_job(size_t j, core::Result<std::unique_ptr<store::Ingest>> ingest) {
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
  if (may_segment && (in.segmented() || spare >= 2)) {
    return start_segmented(j, holder, std::max(1, std::min(opts_.segments, spare)));
  }
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

void Puller::fetch_foreign(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder,
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

bool Puller::http_allowed(const std::string& url) const {
  const std::string host = registry::url_host(url);
  if (host.empty()) return false;
  if (registry::is_loopback_host(host)) return true;
  return opts_.registry_options && opts_.registry_options(host).insecure;
}

void Puller::start_segmented(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder, int n) {
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

void Puller::on_segment_done(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
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

void Puller::catch_up(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
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

void Puller::segments_over(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
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

void Puller::finish_job(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder, uint64_t got,
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

void Puller::finish_commit(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder, uint64_t got,
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

void Puller::job_failed(size_t j, core::Error e) {
  auto& job = jobs_[j];
  e.context(fmt::format("blob {}", job.desc.digest.str()));
  job.error = e;
  for (size_t i : job.images) fail_image(i, e);
}

}  // namespace ferry::sync::detail
