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
  if (present_.count(b.digest)) return;
  if (!blobs_.find(b.digest) && store_.has_blob(b.digest, b.size)) {
    present_.insert(b.digest);
    ++blobs_present_;
    return;
  }
  const auto need = blobs_.need(i, b.digest, BlobJob{b, img.client, img.out.ref.repository, 0, 0, false, false});
  auto& job = blobs_[need.job];
  switch (need.found) {
    case BlobGraph::Found::Made:
      bytes_planned_ += static_cast<uint64_t>(std::max<int64_t>(b.size, 0));
      return queue_job(need.job);
    case BlobGraph::Found::Failed: return fail_image(i, *job.error);
    case BlobGraph::Found::Done:  // fetched in this run already
    case BlobGraph::Found::Again: return;
    case BlobGraph::Found::Joined:
      if (job.data.desc.size < 0 && b.size >= 0) job.data.desc.size = b.size;  // another image knows its size
      if (job.data.dropped) {  // no image wanted it when its turn came; this one does
        job.data.dropped = false;
        queue_job(need.job);
      }
      return;
  }
}

void Puller::maybe_plan(size_t i) {
  auto& img = *images_[i];
  if (img.pending > 0 || img.settled || sched_.expired()) return;
  settle(i);
  plan_blobs(i);
  if (!img.failed()) {
    spdlog::debug("image planned ref={} blobs_left={}", img.out.ref.str(), blobs_.waiting(i));
    // From the first planned image on, while transfers are queued or in flight; the
    // next image planned starts it again.
    if (opts_.progress) sched_.report_every(opts_.progress_interval, [this] { report_progress(); });
    if (blobs_.waiting(i) == 0) complete_image(i);  // every blob was there already
  }
  sched_.pump();
}

void Puller::plan_blobs(size_t i) {
  auto& img = *images_[i];
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
}

void Puller::queue_job(size_t j, bool first) {
  auto task = [this, j](plan::Release slot) { start_job(j, std::move(slot)); };
  first ? sched_.submit_first(blobs_[j].data.client, task) : sched_.submit(blobs_[j].data.client, task);
}

void Puller::report_progress() {
  core::Progress p;
  p.images.resize(targets_);
  for (size_t i = 0; i < targets_; ++i) p.images[i].reference = images_[i]->out.ref.str();
  for (size_t j = 0; j < blobs_.size(); ++j) {
    const auto& job = blobs_[j];
    const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(job.data.desc.size, 0));
    uint64_t done = job.state == BlobGraph::State::Done ? size : 0;
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
  p.blobs_total = blobs_.size();
  p.blobs_done = blobs_fetched_;
  p.in_flight = static_cast<size_t>(sched_.in_flight());
  opts_.progress(p);
}

bool Puller::job_still_needed(size_t j) const {
  return blobs_.needed(j, [this](size_t i) { return images_[i]->failed(); });
}

void Puller::start_job(size_t j, plan::Release slot) {
  auto& job = blobs_[j].data;
  if (!job_still_needed(j)) {
    job.dropped = true;
    return slot();
  }
  auto opened = std::make_shared<core::Result<std::unique_ptr<store::Ingest>>>(
      core::fail(core::ErrorKind::Internal, "not opened"));
  engine_.offload([&store = store_, desc = job.desc, opened] { *opened = store.begin_ingest(desc.digest, desc.size); },
                  [this, j, opened, slot] { continue_job(j, std::move(*opened), slot); });
}

void Puller::continue_job(size_t j, core::Result<std::unique_ptr<store::Ingest>> ingest, plan::Release slot) {
  auto& job = blobs_[j].data;
  if (!ingest) {
    slot();
    return job_failed(j, ingest.error());
  }
  if (!job_still_needed(j) || sched_.expired()) {
    ingest->reset();  // its partial stays for the next run
    job.dropped = !sched_.expired();
    return slot();
  }
  auto holder = std::make_shared<std::unique_ptr<store::Ingest>>(std::move(*ingest));
  store::Ingest& in = **holder;
  const bool foreign = manifest::is_foreign_layer(job.desc) && !job.desc.urls.empty();
  const bool may_segment = !foreign && opts_.segments > 1 && !job.single_stream && !no_ranges_.count(job.client) &&
                           job.desc.size >= static_cast<int64_t>(opts_.segment_min_size);
  // Spare slots: the job's own and those the queued blobs will not take.
  const int spare = sched_.spare(job.client) + 1;
  if (may_segment && (in.segmented() || spare >= 2)) {
    return start_segmented(j, holder, std::max(1, std::min(opts_.segments, spare)), std::move(slot));
  }
  if (in.segmented()) {
    if (auto st = in.drop_segments(); !st) {
      slot();
      return job_failed(j, st.error());
    }
  }
  if (job.desc.size > 0 && in.size() >= static_cast<uint64_t>(job.desc.size)) {
    // Every byte arrived before the last run stopped, short of the commit: verify and
    // commit it now (a Range past the end would only draw a 416). A mismatch starts
    // the blob over in finish_commit.
    slot();
    return finish_job(j, holder, 0, {});
  }
  const uint64_t resumed_from = in.size();
  active_[j] = &in;
  ingest_start_[j] = resumed_from;
  auto done = [this, j, holder, resumed_from, slot](core::Status st) {
    slot();
    active_.erase(j);
    const uint64_t got = (*holder)->size() - std::min((*holder)->size(), resumed_from);
    finish_job(j, holder, got, std::move(st));
  };
  if (foreign) return fetch_foreign(j, holder, std::move(done));
  job.client->get_blob(job.repository, job.desc.digest, in, std::move(done), job.desc.size);
}

void Puller::fetch_foreign(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder,
                           std::function<void(core::Status)> done) {
  auto& job = blobs_[j].data;
  const std::string& url = job.desc.urls[std::min(job.foreign_url, job.desc.urls.size() - 1)];
  job.client->get_foreign(url, http_allowed(url), **holder,
                          [this, j, holder, done = std::move(done)](core::Status st) mutable {
                            auto& jb = blobs_[j].data;
                            if (!st && jb.foreign_url + 1 < jb.desc.urls.size() && !sched_.expired()) {
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

void Puller::start_segmented(size_t j, std::shared_ptr<std::unique_ptr<store::Ingest>> holder, int n,
                             plan::Release slot) {
  constexpr uint64_t kMinSegment = 4 << 20;  // smaller pieces cost a request for little gain
  constexpr uint64_t kAlign = 1 << 20;
  auto& job = blobs_[j].data;
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
  if (ranges.empty()) {
    slot();
    return finish_job(j, holder, 0, {});  // every byte is there: commit
  }
  auto sj = std::make_shared<SegmentedJob>();
  for (const auto& r : ranges) {
    auto seg = in.segment(r);
    if (!seg) {
      slot();
      return job_failed(j, seg.error());
    }
    sj->segments.push_back(std::move(*seg));
  }
  spdlog::debug("segmented download digest={} segments={} from={}", job.desc.digest.str(), ranges.size(),
                in.size());
  active_[j] = &in;
  ingest_start_[j] = in.received();
  sj->left = static_cast<int>(sj->segments.size());
  sj->slots.push_back(std::move(slot));
  while (sj->slots.size() < sj->segments.size()) sj->slots.push_back(sched_.take(job.client));
  for (size_t k = 0; k < sj->segments.size(); ++k) {
    auto& seg = *sj->segments[k];
    job.client->get_blob_range(job.repository, job.desc.digest, seg.range().from, seg.range().to, seg,
                               [this, j, holder, sj, k](core::Status st) {
                                 on_segment_done(j, holder, sj, k, std::move(st));
                               });
  }
}

void Puller::on_segment_done(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                             const std::shared_ptr<SegmentedJob>& sj, size_t k, core::Status st) {
  sj->slots[k]();
  if (st) st = sj->segments[k]->flush();
  if (!st && st.error().kind == core::ErrorKind::RangeIgnored) {
    sj->range_ignored = true;
  } else if (!st && !sj->error) {
    sj->error = st.error();
  }
  if (--sj->left > 0) {
    if (!sj->catching_up && !sj->error && (*holder)->catch_up_due()) catch_up(j, holder, sj);
    return;
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
                    spdlog::debug("prefix hashed to {} digest={}", (*holder)->size(), blobs_[j].data.desc.digest.str());
                    if (!*result && !sj->error) sj->error = result->error();
                    if (sj->left > 0) {
                      if (!sj->error && (*holder)->catch_up_due()) catch_up(j, holder, sj);
                      return;
                    }
                    segments_over(j, holder, sj);
                  });
}

void Puller::segments_over(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder,
                           const std::shared_ptr<SegmentedJob>& sj) {
  auto& job = blobs_[j].data;
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
    queue_job(j, true);
    return sched_.pump();
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
}

void Puller::finish_commit(size_t j, const std::shared_ptr<std::unique_ptr<store::Ingest>>& holder, uint64_t got,
                           core::Status st) {
  auto& jb = blobs_[j].data;
  const bool bad_bytes = !st && (st.error().kind == core::ErrorKind::DigestMismatch ||
                                 st.error().kind == core::ErrorKind::SizeMismatch);
  // A foreign layer whose bytes do not verify at one URL is fetched from the next.
  const bool next_url = bad_bytes && manifest::is_foreign_layer(jb.desc) && jb.foreign_url + 1 < jb.desc.urls.size();
  if (next_url) ++jb.foreign_url;  // not counted against the last URL's one retry
  if (bad_bytes && (next_url || jb.integrity_retries++ < 1) && !sched_.expired()) {
    spdlog::warn("blob failed verification, fetching again digest={} error={}", jb.desc.digest.str(),
                 st.error().message);
    // A failed commit has discarded the partial; a transfer that overran its
    // size has not, and its bytes are doubt: either way the retry starts at zero.
    if (*holder && !(*holder)->restart()) return job_failed(j, st.error());
    holder->reset();
    queue_job(j, true);
    return sched_.pump();
  }
  if (!st) return job_failed(j, st.error());
  ++blobs_fetched_;
  bytes_done_ += got;
  spdlog::debug("blob committed digest={} size={}", jb.desc.digest.str(), jb.desc.size);
  for (size_t i : blobs_[j].images) {
    auto& img = *images_[i];
    img.out.bytes_fetched += got;
    img.fetched.push_back(jb.desc.digest);
  }
  for (size_t i : blobs_.done(j)) complete_image(i);
  sched_.pump();
}

void Puller::job_failed(size_t j, core::Error e) {
  e.context(fmt::format("blob {}", blobs_[j].data.desc.digest.str()));
  for (size_t i : blobs_.fail(j, e)) fail_image(i, e);
}

}  // namespace ferry::sync::detail
