// SyncExport: see sync_export.h.
#include "airgap/sync_export.h"

#include "airgap/export_files.h"

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
                       size_t images, core::Executor& executor)
    : store_(store), set_(set), names_(names), executor_(executor), results_(images), done_(images, 0) {}

SyncExport::~SyncExport() { close(); }

void SyncExport::ready(size_t i, const sync::PulledImage& img, const std::vector<digest::Digest>& fetched) {
  FERRY_CHECK(i < results_.size());  // one of the images it was made for
  for (const auto& d : fetched) set_.verified().insert(d);
  lane_.post([this, i, img] {
    results_[i] = export_image(store_, set_, names_, img);
    done_[i] = true;
  });
}

// The lane forgets what it has not started (finish() writes those with the rest)
// and waits for the export running now: results_ and done_ are the caller's after.
void SyncExport::close() { (void)lane_.drop(); }

void SyncExport::abandon() { close(); }

std::vector<ImageExport> SyncExport::finish(const sync::PullReport& report) {
  close();
  for (const auto& d : report.committed) set_.verified().insert(d);
  results_.resize(report.images.size());
  done_.resize(report.images.size(), 0);
  std::vector<size_t> rest;
  for (size_t i = 0; i < report.images.size(); ++i) {
    if (!done_[i]) rest.push_back(i);
  }
  // Each archive is CPU (hashing) and disk waits in turn: several at once.
  executor_.parallel_for(rest.size(), [&](size_t k) {
    results_[rest[k]] = export_image(store_, set_, names_, report.images[rest[k]]);
  });
  return std::move(results_);
}

}  // namespace ferry::airgap
