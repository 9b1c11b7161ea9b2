// push, the blob plan: one job per registry, repository and digest (a HEAD says
// whether the destination has it); per registry one repository uploads a blob while
// the others wait to mount it from there.
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "push/pusher.h"

namespace ferry::push::detail {

void Pusher::plan_image(size_t i) {
  auto& img = *images_[i];
  for (const auto& b : img.blobs) {
    const auto need = blobs_.need(i, BlobKey{img.client, img.repository, b.digest},
                                  Blob{b, img.client, img.repository, Blob::State::Unknown, 0});
    const auto& job = blobs_[need.job];
    switch (need.found) {
      case BlobGraph::Found::Made: head_blob(need.job); break;
      case BlobGraph::Found::Joined:  // its HEAD or upload is under way: wait for it
      case BlobGraph::Found::Again: break;
      case BlobGraph::Found::Failed: return fail_image(i, *job.error);
      case BlobGraph::Found::Done:
        if (job.data.state == Blob::State::Present) {
          ++img.out.blobs_present;
        } else {
          count_sent(img, job.data);
        }
        break;
    }
  }
  if (blobs_.waiting(i) == 0) put_children(i);
}

void Pusher::head_blob(size_t j) {
  sched_.submit(blobs_[j].data.client, [this, j](plan::Release release) {
    if (!still_needed(j)) return release();
    const Blob& blob = blobs_[j].data;
    blob.client->blob_exists(blob.repository, blob.desc.digest, [this, j, release](core::Result<bool> r) {
      release();
      if (!r) return job_failed(j, r.error());
      on_head(j, *r);
    });
  });
  sched_.pump();
}

void Pusher::on_head(size_t j, bool present) {
  Blob& blob = blobs_[j].data;
  auto& group = groups_[{blob.client, blob.desc.digest}];
  if (present) {
    blob.state = Blob::State::Present;
    for (size_t i : blobs_[j].images) ++images_[i]->out.blobs_present;
    if (group.holder.empty()) group.holder = blob.repository;
    mount_waiting(group);
    return job_done(j);
  }
  blob.state = Blob::State::Missing;
  bytes_total_ += static_cast<uint64_t>(std::max<int64_t>(blob.desc.size, 0));
  if (!group.holder.empty()) return start_upload(j, group.holder);
  if (group.uploading) return group.waiting.push_back(j);
  group.uploading = true;  // this repository uploads; the others mount from it
  start_upload(j, {});
}

void Pusher::job_failed(size_t j, core::Error e) {
  e.context(fmt::format("blob {}", blobs_[j].data.desc.digest.str()));
  for (size_t i : blobs_.fail(j, e)) fail_image(i, e);
}

bool Pusher::still_needed(size_t j) const {
  return blobs_.needed(j, [this](size_t i) { return images_[i]->failed(); });
}

void Pusher::job_done(size_t j) {
  for (size_t i : blobs_.done(j)) {
    if (!images_[i]->failed()) put_children(i);
  }
}

void Pusher::start_upload(size_t j, std::string mount_from) {
  sched_.submit(blobs_[j].data.client, [this, j, mount_from](plan::Release release) {
    if (!still_needed(j)) {
      release();
      return upload_over(j, false);
    }
    upload(j, mount_from, std::move(release));
  });
  sched_.pump();
}

void Pusher::upload(size_t j, const std::string& mount_from, plan::Release release) {
  const Blob& blob = blobs_[j].data;
  registry::UploadOptions uo;
  uo.chunk_size = opts_.chunk_size;
  uo.mount_from = mount_from;
  // Opened here through the store's blobs directory: never a link planted there.
  auto opened = store_.open_blob(blob.desc.digest);
  if (!opened) {
    job_failed(j, opened.error());
    release();
    return upload_over(j, false);
  }
  registry::BlobUpload up{blob.desc.digest, blob.desc.size, store_.blob_path(blob.desc.digest).string(),
                          std::make_shared<const core::UniqueFd>(std::move(*opened))};
  blob.client->upload_blob(blob.repository, up, uo, [this, j, release](core::Result<registry::UploadResult> r) {
    Blob& b = blobs_[j].data;
    if (!r) {
      job_failed(j, r.error());
    } else {
      b.state = r->mounted ? Blob::State::Mounted : Blob::State::Uploaded;
      b.bytes_sent = r->bytes_sent;
      bytes_done_ += static_cast<uint64_t>(std::max<int64_t>(b.desc.size, 0));
      for (size_t i : blobs_[j].images) count_sent(*images_[i], b);
      spdlog::debug("blob {} digest={} repo={} bytes={}", r->mounted ? "mounted" : "uploaded", b.desc.digest.short_hex(),
                    b.repository, r->bytes_sent);
    }
    release();
    upload_over(j, r.has_value());
    if (r) job_done(j);
  });
}

void Pusher::count_sent(ImageState& img, const Blob& blob) {
  blob.state == Blob::State::Mounted ? ++img.out.blobs_mounted : ++img.out.blobs_uploaded;
  img.out.bytes_uploaded += blob.bytes_sent;
}

void Pusher::upload_over(size_t j, bool ok) {
  const Blob& blob = blobs_[j].data;
  auto& group = groups_[{blob.client, blob.desc.digest}];
  if (ok && group.holder.empty()) group.holder = blob.repository;
  if (!group.holder.empty()) return mount_waiting(group);
  group.uploading = false;
  if (group.waiting.empty()) return;
  const size_t next = group.waiting.front();
  group.waiting.pop_front();
  group.uploading = true;
  start_upload(next, {});
}

void Pusher::mount_waiting(BlobGroup& group) {
  group.uploading = false;
  while (!group.waiting.empty()) {
    const size_t w = group.waiting.front();
    group.waiting.pop_front();
    start_upload(w, group.holder);
  }
}

}  // namespace ferry::push::detail
