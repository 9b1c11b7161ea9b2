// The export half of a sync run: each image's files in the new export set.
//
// During the pull, ready() hands over each image as soon as its blobs and
// manifests are in the store, and its tarballs are written one image at a time (a
// Lane of the executor) while the other images still transfer (the disk writes
// during the downloads instead of after them; two or four writers then were no
// faster on the bench fleet, since the pull needs the other core for hashing and
// the network). finish() then exports the images it did not get (failed ones keep
// their last good files, unchanged ones are linked or rewritten, handed-over ones
// not started yet) with the executor's parallel_for, and returns what happened to
// every image. Nothing is printed; the caller reports the errors.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "airgap/export_set.h"
#include "core/executor.h"
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
  // `executor`: the run's pool (http::Engine::executor()); it must outlive this.
  SyncExport(const store::Store& store, ExportSetBuilder& set, const sync::ExportNames& names,
             size_t images, core::Executor& executor);
  ~SyncExport();  // without finish(): abandon()
  SyncExport(const SyncExport&) = delete;
  SyncExport& operator=(const SyncExport&) = delete;

  // On the pull's loop thread (PullOptions::on_image_ready): image i is complete in
  // the store; `fetched` were hashed as they streamed and need no re-check.
  void ready(size_t i, const sync::PulledImage& img, const std::vector<digest::Digest>& fetched);

  // The pull is over: waits for the export running now, then exports every image
  // not exported yet; returns one ImageExport per image of `report`, in its order.
  std::vector<ImageExport> finish(const sync::PullReport& report);

  // The pull failed as a whole: drops what is queued and waits only for the
  // exports already running.
  void abandon();

 private:
  void close();

  const store::Store& store_;
  ExportSetBuilder& set_;
  const sync::ExportNames& names_;
  core::Executor& executor_;
  std::vector<ImageExport> results_;
  std::vector<char> done_;  // written by the lane's tasks; read after close()
  core::Executor::Lane lane_{executor_};  // last: gone (its running export waited for) first
};

}  // namespace ferry::airgap
