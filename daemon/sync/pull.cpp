// pull: one run over its images (see sync/puller.h for how the parts fit).
#include "sync/puller.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sync/referrers.h"

namespace ferry::sync::detail {

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

core::Result<PullReport> Puller::run(const std::vector<PullTarget>& targets) {
  const auto started = engine_.clock().now();
  const uint64_t requests_before = engine_.stats().requests;
  if (opts_.skip_unchanged) last_ = load_last_pulls(store_);
  started_ = started;
  targets_ = targets.size();
  for (const auto& target : targets) add_image(target, std::nullopt);
  for (size_t i = 0; i < targets_; ++i) resolve(i);  // referrers found meanwhile resolve themselves
  if (auto st = sched_.run(opts_.deadline, opts_.deadline_text, [this](const core::Error& e) { on_deadline(e); });
      !st) {
    return core::fail(st.error());
  }
  fold_referrers();  // first: a subject whose referrer failed records none of them
  commit_manifests();
  PullReport report;
  for (size_t i = 0; i < targets_; ++i) report.images.push_back(std::move(images_[i]->out));
  report.blobs_fetched = blobs_fetched_;
  for (size_t j = 0; j < blobs_.size(); ++j) {
    if (blobs_[j].state == BlobGraph::State::Done) report.committed.push_back(blobs_[j].key);
  }
  report.blobs_present = blobs_present_;
  report.bytes_fetched = bytes_fetched_;
  report.requests = engine_.stats().requests - requests_before;
  report.seconds = std::chrono::duration<double>(engine_.clock().now() - started).count();
  return report;
}

void Puller::add_image(PullTarget target, std::optional<size_t> subject) {
  auto st = std::make_unique<ImageState>();
  st->out.ref = target.ref;
  st->client = sched_.client(target.ref);
  st->target = std::move(target);
  st->started = started_;
  st->subject = subject;
  images_.push_back(std::move(st));
  ++resolving_;
}

void Puller::settle(size_t i) {
  auto& img = *images_[i];
  if (img.settled) return;
  img.settled = true;
  if (--resolving_ == 0 && !plan_logged_) {
    plan_logged_ = true;  // referrers found later join the plan without a second line
    spdlog::info("plan ready images={} blobs_to_fetch={} blobs_present={}", images_.size(), blobs_.size(),
                 blobs_present_);
  }
}

void Puller::discover(size_t i) {
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

void Puller::fold_referrers() {
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

void Puller::fail_image(size_t i, core::Error e) {
  auto& img = *images_[i];
  if (img.failed()) return;
  e.context(img.out.ref.str());
  spdlog::debug("image failed ref={} error={}", img.out.ref.str(), e.message);  // the report carries it
  img.out.error = std::move(e);
  settle(i);
}

void Puller::on_deadline(const core::Error& e) {
  spdlog::warn("deadline reached, stopping transfers deadline={} in_flight={} queued={}", opts_.deadline_text,
               sched_.in_flight(), sched_.queued());
  for (size_t i = 0; i < images_.size(); ++i) {
    if (!images_[i]->settled && images_[i]->out.changed) fail_image(i, e);  // still resolving
  }
  for (size_t j = 0; j < blobs_.size(); ++j) {
    if (blobs_[j].state == BlobGraph::State::Done || committing_.count(j)) continue;  // a failed commit fails them itself
    for (size_t i : blobs_[j].images) fail_image(i, e);
  }
}

}  // namespace ferry::sync::detail

namespace ferry::sync {

bool PullReport::ok() const {
  return std::none_of(images.begin(), images.end(), [](const PulledImage& p) { return p.error.has_value(); });
}

core::Result<PullReport> pull(store::Store& store, const std::vector<PullTarget>& targets,
                              const PullOptions& opts, http::Engine& engine) {
  detail::Puller p(store, opts, engine);
  return p.run(targets);
}

}  // namespace ferry::sync
