// pull, resolve: manifests, index trees and platform choice, each image on its own.
#include "sync/puller.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sync/schema1_convert.h"

namespace ferry::sync::detail {

void Puller::resolve(size_t i) {
  auto& img = *images_[i];
  const auto& ref = img.out.ref;
  auto last = last_.find(ref.str());
  if (last == last_.end() || last->second.selection != selection(img.target)) return get_top(i);
  // A digest cannot move, and a referrer's lookup has just seen its digest: when
  // the last pull stored that, no request is needed.
  const std::optional<digest::Digest> known = ref.digest ? ref.digest : img.seen;
  if (known && last->second.digest == *known && reuse_entries(i)) {
    img.out.digest = *known;
    return settle(i);
  }
  img.pending = 1;
  img.client->get_manifest(ref.repository, ref.manifest_ref(), true,
                           [this, i, known = last->second.digest](core::Result<registry::ManifestReply> r) {
                             --images_[i]->pending;
                             if (r && !r->digest.empty() && r->digest == known && reuse_entries(i)) {
                               images_[i]->out.digest = known;
                               settle(i);
                               return discover(i);
                             }
                             get_top(i);  // changed, unknown, or HEAD refused: do the full GET
                           });
}

bool Puller::reuse_entries(size_t i) {
  auto& img = *images_[i];
  if (!stored_refs_) {
    auto index = store_.read_index();
    if (!index) return false;
    stored_refs_.emplace();
    for (auto& e : *index) stored_refs_->emplace(e.ref_name, std::move(e.descriptor));
  }
  auto [from, to] = stored_refs_->equal_range(img.out.ref.str());
  for (auto it = from; it != to; ++it) {
    if (!store_.has_blob(it->second.digest, it->second.size)) return false;
    img.out.entries.push_back(it->second);
  }
  if (img.out.entries.empty()) return false;
  img.out.changed = false;
  return true;
}

void Puller::get_top(size_t i) {
  auto& img = *images_[i];
  ++img.pending;
  const auto& ref = img.out.ref;
  img.client->get_manifest(ref.repository, ref.manifest_ref(), false,
                           [this, i](core::Result<registry::ManifestReply> r) {
                             on_top_manifest(i, std::move(r));
                             maybe_plan(i);
                           });
}

void Puller::on_top_manifest(size_t i, core::Result<registry::ManifestReply> r) {
  auto& img = *images_[i];
  --img.pending;
  if (!r) return fail_image(i, r.error());
  const auto& ref = img.out.ref;
  if (ref.digest && r->digest != *ref.digest) {
    return fail_image(i, core::error(core::ErrorKind::DigestMismatch,
                                     fmt::format("manifest hashes to {}, reference pins {}", r->digest.str(),
                                                 ref.digest->str())));
  }
  img.out.digest = r->digest;
  discover(i);
  if (manifest::is_schema1(r->body, r->media_type)) return on_schema1_manifest(i, *r);
  auto parsed = manifest::parse(r->body, r->media_type);
  if (!parsed) return fail_image(i, parsed.error());
  manifest::Descriptor top{"", r->digest, r->size, std::nullopt, {}, {}};
  if (auto* m = std::get_if<manifest::ImageManifest>(&*parsed)) {
    top.media_type = m->media_type;
    img.children.push_back({top, std::move(r->body), std::move(*m)});
    return;
  }
  auto& index = std::get<manifest::Index>(*parsed);
  top.media_type = index.media_type;
  img.index = top;
  img.index_body = std::move(r->body);
  img.top_index = std::move(index);
  img.indexes_asked.insert(top.digest);
  ++img.pending;  // held while requests go out: one answering at once must not plan a part
  fetch_nested(i, *img.top_index, 1);
  if (img.indexes_pending == 0 && !img.failed()) choose_children(i);
  --img.pending;
}

void Puller::fetch_nested(size_t i, const manifest::Index& index, size_t level) {
  auto& img = *images_[i];
  for (const auto& d : index.manifests) {
    if (img.failed()) return;
    if (!manifest::is_index_type(d.media_type) || !img.indexes_asked.insert(d.digest).second) continue;
    if (level + 1 > manifest::kMaxIndexDepth || img.indexes_asked.size() > manifest::kMaxTreeIndexes + 1) {
      return fail_image(i, core::error(core::ErrorKind::InvalidInput,
                                       fmt::format("indexes nested deeper than {} levels (or more than {}) at {}",
                                                   manifest::kMaxIndexDepth, manifest::kMaxTreeIndexes,
                                                   d.digest.str())));
    }
    ++img.pending;
    ++img.indexes_pending;
    img.client->get_manifest(img.out.ref.repository, d.digest.str(), false,
                             [this, i, d, level](core::Result<registry::ManifestReply> r) {
                               on_nested_index(i, d, level + 1, std::move(r));
                               maybe_plan(i);
                             });
  }
}

void Puller::on_nested_index(size_t i, const manifest::Descriptor& d, size_t level,
                             core::Result<registry::ManifestReply> r) {
  auto& img = *images_[i];
  --img.pending;
  --img.indexes_pending;
  if (img.failed()) return;
  if (!r) return fail_image(i, r.error());
  if (r->digest != d.digest || r->size != d.size) {
    return fail_image(i, core::error(core::ErrorKind::DigestMismatch,
                                     fmt::format("index {} from the index hashes to {}", d.digest.str(),
                                                 r->digest.str())));
  }
  auto parsed = manifest::parse(r->body, r->media_type);
  if (!parsed) return fail_image(i, parsed.error().context(fmt::format("index {}", d.digest.str())));
  auto* index = std::get_if<manifest::Index>(&*parsed);
  if (!index) {
    return fail_image(i, core::error(core::ErrorKind::InvalidInput,
                                     fmt::format("{} is named as an index ({}) but is an image manifest",
                                                 d.digest.str(), d.media_type)));
  }
  img.nested.push_back({d, std::move(r->body), std::move(*index)});
  // The vector may grow while fetch_nested runs: walk a copy of the entries.
  const manifest::Index copy = img.nested.back().index;
  ++img.pending;
  fetch_nested(i, copy, level);
  if (img.indexes_pending == 0 && !img.failed()) choose_children(i);
  --img.pending;
}

void Puller::choose_children(size_t i) {
  auto& img = *images_[i];
  auto lookup = [&img](const digest::Digest& d) -> const manifest::Index* {
    for (const auto& n : img.nested) {
      if (n.desc.digest == d) return &n.index;
    }
    return nullptr;
  };
  auto flat = manifest::flatten(*img.top_index, lookup);
  if (!flat) return fail_image(i, flat.error());
  std::vector<manifest::Descriptor> wanted;
  if (!img.target.all_platforms) {
    for (const auto& p : img.target.platforms) {
      auto d = manifest::select_platform(*flat, p);
      if (!d) return fail_image(i, d.error());
      bool dup = std::any_of(wanted.begin(), wanted.end(), [&](auto& w) { return w.digest == d->digest; });
      if (!dup) wanted.push_back(*d);
    }
  }
  const auto images = manifest::image_entries(*flat);
  img.whole_tree = img.target.all_platforms || (!images.empty() && wanted.size() == images.size());
  if (img.whole_tree) wanted = flat->manifests;
  spdlog::debug("index resolved ref={} nested_indexes={} children={} whole_tree={}", img.out.ref.str(),
                img.nested.size(), wanted.size(), img.whole_tree);
  for (auto& d : wanted) {
    img.wanted.push_back(d.digest);
    fetch_child(i, d);
  }
}

void Puller::fetch_child(size_t i, manifest::Descriptor d) {
  auto& img = *images_[i];
  ++img.pending;
  img.client->get_manifest(img.out.ref.repository, d.digest.str(), false,
                           [this, i, d](core::Result<registry::ManifestReply> r) {
                             on_child(i, d, std::move(r));
                             maybe_plan(i);
                           });
}

void Puller::on_child(size_t i, const manifest::Descriptor& d, core::Result<registry::ManifestReply> r) {
  auto& im = *images_[i];
  --im.pending;
  if (!r) return fail_image(i, r.error());
  if (r->digest != d.digest || r->size != d.size) {
    return fail_image(i, core::error(core::ErrorKind::DigestMismatch,
                                     fmt::format("manifest {} from the index hashes to {}",
                                                 d.digest.str(), r->digest.str())));
  }
  auto parsed = manifest::parse(r->body, r->media_type);
  if (!parsed) return fail_image(i, parsed.error());
  auto* m = std::get_if<manifest::ImageManifest>(&*parsed);
  if (!m) {
    return fail_image(i, core::error(core::ErrorKind::InvalidInput,
                                     fmt::format("{} is named as an image manifest ({}) "
                                                 "but is an index",
                                                 d.digest.str(), d.media_type)));
  }
  im.children.push_back({d, std::move(r->body), std::move(*m)});
}

void Puller::on_schema1_manifest(size_t i, const registry::ManifestReply& r) {
  auto& img = *images_[i];
  auto src = read_schema1(r.body, r.digest);
  if (!src) return fail_image(i, src.error());
  if (auto st = check_schema1_platform(src->manifest, img.target.platforms, img.target.all_platforms); !st) {
    return fail_image(i, st.error());
  }
  spdlog::debug("schema1 manifest ref={} digest={} layers={}", img.out.ref.str(), r.digest.short_hex(),
                src->manifest.fs_layers.size());
  img.schema1 = std::move(*src);
}

}  // namespace ferry::sync::detail
