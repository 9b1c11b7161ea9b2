// push: the run, its deadline and failures, the tag check and progress (see
// push/pusher.h for how the parts fit).
#include "push/push.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "push/pusher.h"

namespace ferry::push::detail {

namespace {

std::string tag_or_digest(const reference::Reference& r) {
  return !r.tag.empty() ? r.tag : (r.digest ? r.digest->str() : std::string("latest"));
}

}  // namespace

core::Result<PushReport> Pusher::run(const std::vector<PushItem>& items) {
  const auto started = engine_.clock().now();
  const uint64_t requests_before = engine_.stats().requests;
  add_images(items);
  // Each image: does the tag already name our digest (then the registry holds all
  // of it)? Else which blobs does its repository lack (HEAD); upload them (a copy
  // into another repository of the same registry mounts); then its manifests,
  // children by digest, and the tag.
  for (size_t i = 0; i < images_.size(); ++i) check_tag(i);
  if (opts_.progress) sched_.report_every(opts_.progress_interval, [this] { report_progress(); });
  if (auto st = sched_.run(opts_.deadline, opts_.deadline_text, [this](const core::Error& e) { on_deadline(e); });
      !st) {
    return core::fail(st.error());
  }
  return report(started, requests_before);
}

void Pusher::add_images(const std::vector<PushItem>& items) {
  for (const auto& item : items) {
    auto st = std::make_unique<ImageState>();
    st->out.source = item.source;
    st->out.destination = item.destination;
    st->client = sched_.client(item.destination);
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
}

PushReport Pusher::report(std::chrono::steady_clock::time_point started, uint64_t requests_before) {
  PushReport report;
  for (size_t i = 0; i < images_.size(); ++i) {
    auto& img = images_[i];
    img->out.seconds = std::chrono::duration<double>(engine_.clock().now() - started).count();
    if (!img->failed() && !img->out.unchanged && !img->top_put) {
      // Never report a push whose tag did not go up (no silent success).
      fail_image(i, core::error(core::ErrorKind::Internal, "the tag's manifest was never sent"));
    }
    if (!img->failed()) log_image(*img);
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

void Pusher::on_deadline(const core::Error& e) {
  spdlog::warn("deadline reached, stopping the push deadline={} in_flight={} queued={}", opts_.deadline_text,
               sched_.in_flight(), sched_.queued());
  for (size_t i = 0; i < images_.size(); ++i) {
    if (!images_[i]->top_put && !images_[i]->out.unchanged) fail_image(i, e);
  }
}

void Pusher::fail_image(size_t i, core::Error e) {
  auto& img = *images_[i];
  if (img.failed()) return;
  e.context(fmt::format("push {} to {}", img.out.source, img.out.destination.str()));
  spdlog::debug("image failed error={}", e.message);  // the report carries it
  img.out.error = std::move(e);
  tag_settled(i);
}

void Pusher::tag_settled(size_t i) {
  auto& img = *images_[i];
  if (img.tag_settled) return;
  img.tag_settled = true;
  for (size_t r : std::exchange(img.referrers_waiting, {})) put_children(r);
}

void Pusher::check_tag(size_t i) {
  if (images_[i]->failed()) return;
  sched_.submit(images_[i]->client, [this, i](plan::Release release) {
    auto& img = *images_[i];
    img.client->get_manifest(img.repository, img.tag_ref, true,
                             [this, i, release](core::Result<registry::ManifestReply> r) {
                               on_tag(i, r);
                               release();
                               auto& im = *images_[i];
                               if (!im.failed() && !im.out.unchanged && !sched_.expired()) plan_image(i);
                             });
  });
  sched_.pump();
}

void Pusher::on_tag(size_t i, const core::Result<registry::ManifestReply>& r) {
  auto& img = *images_[i];
  if (r && !r->digest.empty() && r->digest == present_index(img).desc.digest) {
    use_present_index(img);  // an earlier push had to tag that one
  }
  if (r && r->digest == img.top.desc.digest) {
    img.out.unchanged = true;
    record_holdings(img);
    tag_settled(i);
  } else if (!r && r.error().http_status != 404) {
    fail_image(i, r.error());  // auth or network: no point going on
  }
}

void Pusher::report_progress() {
  core::Progress p;
  for (const auto& img : images_) p.images.push_back({img->out.destination.str(), 0, 0});
  for (size_t j = 0; j < blobs_.size(); ++j) {
    const auto& job = blobs_[j];
    const Blob& blob = job.data;
    if (blob.state == Blob::State::Unknown || blob.state == Blob::State::Present) continue;
    const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(blob.desc.size, 0));
    const bool sent = blob.state == Blob::State::Uploaded || blob.state == Blob::State::Mounted;
    for (size_t i : job.images) {
      p.images[i].bytes_total += size;
      if (sent) p.images[i].bytes_done += size;
    }
    ++p.blobs_total;
    if (sent) ++p.blobs_done;
  }
  p.bytes_total = bytes_total_;
  p.bytes_done = bytes_done_;
  p.in_flight = static_cast<size_t>(sched_.in_flight());
  opts_.progress(p);
}

void Pusher::log_image(const ImageState& img) {
  spdlog::info("image pushed ref={} to={} digest={} unchanged={} uploaded={} mounted={} present={} bytes={}",
               img.out.source, img.out.destination.str(), img.out.digest.short_hex(), img.out.unchanged,
               img.out.blobs_uploaded, img.out.blobs_mounted, img.out.blobs_present, img.out.bytes_uploaded);
}

}  // namespace ferry::push::detail

namespace ferry::push {

bool PushReport::ok() const {
  return std::none_of(images.begin(), images.end(), [](const PushedImage& p) { return p.error.has_value(); });
}

core::Result<PushReport> push(const store::Store& store, const std::vector<PushItem>& items, const PushOptions& opts,
                              http::Engine& engine) {
  detail::Pusher p(store, opts, engine);
  return p.run(items);
}

}  // namespace ferry::push
