// The export half of a sync run: each image's files in the new export set.
//
// During the pull, ready() hands over each image as soon as its blobs and
// manifests are in the store, and one export thread writes its tarballs while the
// other images still transfer (the disk writes during the downloads instead of
// after them; two or four writers then were no faster on the bench fleet, since the
// pull needs the other core for hashing and the network). finish() then exports
// the images it did not get (failed ones keep their last good files, unchanged ones
// are linked or rewritten) on core::archive_threads() writers, and returns what
// happened to every image. Nothing is printed; the caller reports the errors.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "airgap/export_set.h"
#include "store/store.h"
#include "sync/export_names.h"
#include "sync/pull.h"

namespace ferry::airgap {

struct ImageExport {
  std::vector<std::string> files;  // the image's files in the new set
  bool written = false;            // at least one written in this run (not linked)
  std::string error;               // "" when its files are in the set
};

// One image's files: written when it changed, linked from the current set when not,
// and an image that failed keeps its last good files.
ImageExport export_image(const store::Store& store, ExportSetBuilder& set, const sync::ExportNames& names,
                         const sync::PulledImage& img);

class SyncExport {
 public:
  SyncExport(const store::Store& store, ExportSetBuilder& set, const sync::ExportNames& names,
             size_t images);
  ~SyncExport();  // without finish(): abandon()
  SyncExport(const SyncExport&) = delete;
  SyncExport& operator=(const SyncExport&) = delete;

  // On the pull's loop thread (PullOptions::on_image_ready): image i is complete in
  // the store; `fetched` were hashed as they streamed and need no re-check.
  void ready(size_t i, const sync::PulledImage& img, const std::vector<digest::Digest>& fetched);

  // The pull is over: waits for the exports handed over (with `write_queued`
  // false, as after a cancel, drops those not started), then exports the images it
  // did not export; returns one ImageExport per image of `report`, in its order.
  std::vector<ImageExport> finish(const sync::PullReport& report, bool write_queued = true);

  // The pull failed as a whole: drops what is queued and waits only for the
  // exports already running.
  void abandon();

 private:
  struct Item {
    size_t index;
    sync::PulledImage image;
  };
  void close(bool write_queued);
  void work();

  const store::Store& store_;
  ExportSetBuilder& set_;
  const sync::ExportNames& names_;
  std::vector<ImageExport> results_;
  std::vector<char> done_;  // each written by one worker; read after close()
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool closing_ = false;
  std::vector<std::thread> workers_;  // last: they start once the members above exist
};

}  // namespace ferry::airgap
