// SyncExport: see sync_export.h.
#include "airgap/sync_export.h"

#include "airgap/export_files.h"
#include "core/parallel.h"

namespace ferry::airgap {

ImageExport export_image(const store::Store& store, ExportSetBuilder& set, const sync::ExportNames& names,
                         const sync::PulledImage& img) {
  ImageExport out;
  if (img.error) {
    auto kept = carry_reference(set, img.ref.str());
    if (!kept) {
      out.error = kept.error().message;
      return out;
    }
    out.files = std::move(*kept);
    return out;
  }
  auto files = export_reference(store, set, img.ref, img.entries, {}, false, names);
  if (!files) {
    out.error = files.error().message;
    return out;
  }
  out.files = std::move(files->names);
  out.written = files->written;
  return out;
}

SyncExport::SyncExport(const store::Store& store, ExportSetBuilder& set, const sync::ExportNames& names,
                       size_t images)
    : store_(store), set_(set), names_(names), results_(images), done_(images, 0) {
  workers_.emplace_back([this] { work(); });
}

SyncExport::~SyncExport() { close(false); }

void SyncExport::ready(size_t i, const sync::PulledImage& img, const std::vector<digest::Digest>& fetched) {
  FERRY_CHECK(i < results_.size());  // one of the images it was made for
  for (const auto& d : fetched) set_.verified().insert(d);
  {
    std::lock_guard lock(mu_);
    queue_.push_back({i, img});
  }
  cv_.notify_one();
}

void SyncExport::close(bool write_queued) {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
    if (!write_queued) queue_.clear();
  }
  cv_.notify_all();
  while (write_queued && workers_.size() < core::archive_threads()) workers_.emplace_back([this] { work(); });
  for (auto& w : workers_) w.join();
}

void SyncExport::abandon() { close(false); }

std::vector<ImageExport> SyncExport::finish(const sync::PullReport& report, bool write_queued) {
  close(write_queued);  // the workers are joined: results_ and done_ are ours now
  for (const auto& d : report.committed) set_.verified().insert(d);
  results_.resize(report.images.size());
  done_.resize(report.images.size(), 0);
  std::vector<size_t> rest;
  for (size_t i = 0; i < report.images.size(); ++i) {
    if (!done_[i]) rest.push_back(i);
  }
  // Each archive is CPU (hashing) and disk waits in turn: several at once.
  core::parallel_for(rest.size(), core::archive_threads(), [&](size_t k) {
    results_[rest[k]] = export_image(store_, set_, names_, report.images[rest[k]]);
  });
  return std::move(results_);
}

void SyncExport::work() {
  for (;;) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
    if (queue_.empty()) return;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    results_[item.index] = export_image(store_, set_, names_, item.image);
    done_[item.index] = true;
  }
}

}  // namespace ferry::airgap
