// push: an item's manifests and blobs, read back from the store and verified
// against their digests (what the registry is sent is what was pulled, or nothing).
#include <fmt/format.h>

#include "push/pusher.h"

namespace ferry::push::detail {

core::Status Pusher::add_image_blobs(ImageState& img, const store::StoredManifest& m) {
  const auto* im = std::get_if<manifest::ImageManifest>(&m.parsed);
  if (!im) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{} is named as an image manifest but is an index", m.descriptor.digest.str()));
  }
  img.blobs.push_back(im->config);
  for (const auto& l : im->layers) {
    if (!manifest::is_foreign_layer(l)) img.blobs.push_back(l);
  }
  return {};
}

core::Status Pusher::load(size_t i, const PushItem& item) {
  auto& img = *images_[i];
  if (item.manifests.empty()) return core::fail(core::ErrorKind::NotFound, "the store holds no manifest for it");
  std::vector<manifest::Descriptor> tops = item.manifests;
  std::optional<store::StoredManifest> stored_top;  // the one entry, as read back (not a made index)
  if (tops.size() > 1) {
    // A platform subset kept as separate entries: push each, tag a new index of them.
    for (const auto& d : tops) {
      if (manifest::is_index_type(d.media_type)) {
        return core::fail(core::ErrorKind::Unsupported, "several index.json entries for one reference, one an index");
      }
    }
    img.top = make_index(tops);
    img.out.synthesized_index = true;
  } else {
    auto top = store::read_manifest(store_, tops.front());
    if (!top) return core::fail(top.error());
    stored_top = std::move(*top);
    img.top = ManifestBody{stored_top->descriptor, stored_top->bytes};
  }
  if (item.destination.digest && *item.destination.digest != img.top.desc.digest) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("destination pins {}, the image is {}", item.destination.digest->str(),
                                  img.top.desc.digest.str()));
  }
  img.out.digest = img.top.desc.digest;
  std::vector<manifest::Descriptor> children;
  if (img.out.synthesized_index) {
    children = tops;
  } else if (const auto* index = std::get_if<manifest::Index>(&stored_top->parsed)) {
    children = index->manifests;
  } else {
    if (auto st = add_image_blobs(img, *stored_top); !st) return st;
  }
  std::set<digest::Digest> seen{img.top.desc.digest};
  if (auto st = add_children(img, children, 1, seen); !st) return st;
  for (const auto& b : img.blobs) {
    if (!store_.has_blob(b.digest, b.size)) {
      return core::fail(core::ErrorKind::NotFound, fmt::format("blob {} is not in the store", b.digest.str()));
    }
  }
  return {};
}

core::Status Pusher::add_children(ImageState& img, const std::vector<manifest::Descriptor>& children, size_t depth,
                          std::set<digest::Digest>& seen) {
  for (const auto& c : children) {
    if (!seen.insert(c.digest).second) continue;
    if (!store_.has_blob(c.digest, c.size)) {
      img.missing_children.push_back(c.digest);  // the registry may refuse the index; said then
      continue;
    }
    auto child = store::read_manifest(store_, c);
    if (!child) return core::fail(child.error());
    if (const auto* index = std::get_if<manifest::Index>(&child->parsed)) {
      if (depth + 1 > manifest::kMaxIndexDepth) {
        return core::fail(core::ErrorKind::InvalidInput, fmt::format("indexes nested deeper than {} levels at {}",
                                                                     manifest::kMaxIndexDepth, c.digest.str()));
      }
      if (auto st = add_children(img, index->manifests, depth + 1, seen); !st) return st;
    } else if (auto st = add_image_blobs(img, *child); !st) {
      return st;
    }
    img.children.push_back(ManifestBody{c, std::move(child->bytes)});
    img.child_depth.push_back(depth);
  }
  return {};
}

void Pusher::record_holdings(ImageState& img) {
  std::set<digest::Digest> all;
  for (const auto& b : img.blobs) all.insert(b.digest);
  for (const auto& c : img.children) all.insert(c.desc.digest);
  all.insert(img.top.desc.digest);
  img.out.blobs.assign(all.begin(), all.end());
}

}  // namespace ferry::push::detail
