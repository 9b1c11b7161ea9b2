// push, the manifests: an image's children by digest, deepest first one depth at a
// time (a registry checks that an index's manifests exist), then the tag; a
// referrer's after its subject's tag.
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "push/pusher.h"

namespace ferry::push::detail {

void Pusher::put_children(size_t i) {
  auto& img = *images_[i];
  if (img.failed() || img.out.unchanged || sched_.expired()) return;
  if (img.subject && !images_[*img.subject]->tag_settled) {
    return images_[*img.subject]->referrers_waiting.push_back(i);
  }
  img.wave = 0;
  for (size_t d : img.child_depth) img.wave = std::max(img.wave, d);
  put_wave(i);
}

void Pusher::put_wave(size_t i) {
  auto& img = *images_[i];
  if (img.wave == 0) return put_top(i);
  img.pending = static_cast<int>(std::count(img.child_depth.begin(), img.child_depth.end(), img.wave));
  if (img.pending == 0) {
    --img.wave;
    return put_wave(i);
  }
  for (size_t c = 0; c < img.children.size(); ++c) {
    if (img.child_depth[c] != img.wave) continue;
    sched_.submit(img.client, [this, i, c](plan::Release release) { put_child(i, c, std::move(release)); });
  }
  sched_.pump();  // also when called from a completion, after its release() pumped
}

void Pusher::put_child(size_t i, size_t c, plan::Release release) {
  auto& img = *images_[i];
  // HEAD first: a second push of a changed index re-sends no unchanged child.
  img.client->get_manifest(img.repository, img.children[c].desc.digest.str(), true,
                           [this, i, c, release](core::Result<registry::ManifestReply> r) {
                             const auto& child = images_[i]->children[c];
                             if (r && r->digest == child.desc.digest) {
                               release();
                               return child_done(i);
                             }
                             put_manifest(i, child, child.desc.digest.str(), release);
                           });
}

void Pusher::child_done(size_t i) {
  auto& img = *images_[i];
  if (--img.pending != 0 || img.failed()) return;
  --img.wave;
  put_wave(i);
}

void Pusher::put_manifest(size_t i, const ManifestBody& m, const std::string& ref, plan::Release release) {
  auto& img = *images_[i];
  const bool is_top = &m == &img.top;
  img.client->put_manifest(img.repository, ref, m.body, m.desc.media_type,
                           [this, i, is_top, release](core::Result<digest::Digest> r) {
                             manifest_put(i, is_top, std::move(r), release);
                           });
}

void Pusher::manifest_put(size_t i, bool is_top, core::Result<digest::Digest> r, plan::Release release) {
  auto& img = *images_[i];
  if (!r && is_top && retry_with_present_children(i, r.error())) return release();
  if (!r) {
    core::Error e = r.error();
    if (is_top && !img.missing_children.empty()) {
      e.message += fmt::format(" (the store lacks {} of the index's manifests, e.g. {})", img.missing_children.size(),
                               img.missing_children.front().str());
    }
    fail_image(i, std::move(e));
  } else {
    ++img.out.manifests_put;
    if (is_top) {
      img.top_put = true;
      tag_settled(i);
      record_holdings(img);
    }
  }
  release();
  if (!is_top) child_done(i);
}

bool Pusher::retry_with_present_children(size_t i, const core::Error& e) {
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

ManifestBody Pusher::present_index(const ImageState& img) const {
  if (img.missing_children.empty() || img.children.empty()) return img.top;
  std::vector<manifest::Descriptor> present;
  for (size_t c = 0; c < img.children.size(); ++c) {
    if (img.child_depth[c] == 1) present.push_back(img.children[c].desc);
  }
  return make_index(present, img.top.desc.media_type);
}

void Pusher::use_present_index(ImageState& img) {
  if (img.missing_children.empty() || img.children.empty() || img.fallback_tried) return;
  img.fallback_tried = true;
  img.top = present_index(img);
  img.out.digest = img.top.desc.digest;
  img.out.synthesized_index = true;
}

void Pusher::put_top(size_t i) {
  sched_.submit(images_[i]->client, [this, i](plan::Release release) {
    auto& img = *images_[i];
    put_manifest(i, img.top, img.tag_ref, std::move(release));
  });
  sched_.pump();
}

}  // namespace ferry::push::detail
