// pull, complete: an image whose blobs are in gets its manifests into the store
// (schema1 converted, diff_ids checked) and, at the end of the run, index.json.
#include "sync/puller.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "codec/layer_decoder.h"
#include "store/image_view.h"
#include "sync/schema1_convert.h"

namespace ferry::sync::detail {

void Puller::complete_image(size_t i) {
  auto& img = *images_[i];
  if (img.completing || img.complete || img.failed() || !img.out.changed) return;
  img.completing = true;
  if (img.schema1) return complete_schema1(i);
  // Children arrive in network order; keep the index's order so exports are stable.
  std::stable_sort(img.children.begin(), img.children.end(), [&](const auto& a, const auto& b) {
    return child_rank(img, a.desc.digest) < child_rank(img, b.desc.digest);
  });
  auto c = std::make_shared<Completion>();
  c->children = img.children;  // copies: the worker touches nothing the loop uses
  c->from_index = img.index.has_value();
  if (img.index && img.whole_tree) {
    c->index.emplace(*img.index, img.index_body);
    for (const auto& n : img.nested) c->nested.emplace_back(n.desc, n.body);
  }
  engine_.offload(
      [this, c] {
        for (auto& child : c->children) {
          if (auto st = check_diff_ids(child.manifest); !st) return void(c->error = st.error());
          if (!child.desc.platform) child.desc.platform = platform_from_config(child.manifest);
          if (auto st = store_.put_blob(child.desc.digest, child.body); !st) return void(c->error = st.error());
        }
        // Nested indexes before the top one: the store never names what it lacks.
        for (const auto& [desc, body] : c->nested) {
          if (auto st = store_.put_blob(desc.digest, body); !st) return void(c->error = st.error());
        }
        if (c->index) {
          if (auto st = store_.put_blob(c->index->first.digest, c->index->second); !st) c->error = st.error();
        }
      },
      [this, i, c] { image_stored(i, *c); });
}

void Puller::image_stored(size_t i, const Completion& c) {
  auto& img = *images_[i];
  img.completing = false;
  img.out.seconds = std::chrono::duration<double>(engine_.clock().now() - img.started).count();
  if (c.error) return fail_image(i, *c.error);
  if (img.failed()) return;
  // Attestations and other non-image children are in the store (under the index)
  // but are no platform image: export never takes them as one.
  for (const auto& child : c.children) {
    if (!c.from_index || manifest::is_image_entry(child.desc)) img.out.images.push_back(child.desc);
  }
  if (c.index) {
    img.out.entries = {c.index->first};
  } else {
    for (const auto& child : c.children) img.out.entries.push_back(child.desc);
  }
  if (img.out.entries.empty()) {
    return fail_image(i, core::error(core::ErrorKind::NotFound, "the index names no manifest"));
  }
  img.complete = true;
  // What the tag resolved to: the index, the schema1 digest (what HEAD will say), or the manifest.
  const digest::Digest resolved =
      img.index ? img.index->digest : img.schema1 ? img.schema1->digest : img.out.images.front().digest;
  last_[img.out.ref.str()] = {resolved, selection(img.target)};
  spdlog::info("image pulled ref={} digest={} platforms={} bytes={}", img.out.ref.str(),
               img.out.entries.front().digest.short_hex(), img.out.images.size(), img.out.bytes_fetched);
  if (opts_.on_image_ready && i < targets_) opts_.on_image_ready(i, img.out, img.fetched);
}

void Puller::complete_schema1(size_t i) {
  auto src = std::make_shared<Schema1Source>(*images_[i]->schema1);  // the worker's own copy
  auto result = std::make_shared<core::Result<manifest::Descriptor>>();
  engine_.offload([this, src, result] { *result = convert_schema1(store_, *src); },
                  [this, i, result] {
                    Completion c;
                    if (!*result) {
                      c.error = result->error();
                    } else {
                      c.children.push_back({**result, {}, {}});
                      spdlog::info("schema1 image converted ref={} schema1={} manifest={}",
                                   images_[i]->out.ref.str(), images_[i]->schema1->digest.short_hex(),
                                   (*result)->digest.short_hex());
                    }
                    image_stored(i, c);
                  });
}

void Puller::commit_manifests() {
  std::vector<store::IndexEntry> entries;
  std::map<std::string, std::set<std::string>> found;  // subject ref -> its referrers now
  for (size_t i = 0; i < images_.size(); ++i) {
    auto& img = *images_[i];
    if (i < targets_ && img.referrers_found && !img.failed()) found[img.out.ref.str()];
    if (img.subject) {
      auto& subject = *images_[*img.subject];
      if (subject.failed() || img.failed() || (!subject.complete && subject.out.changed)) continue;
      found[subject.out.ref.str()].insert(img.out.ref.str());
      if (!img.complete && !img.out.changed) {
        // Unchanged: rewrite its entries only when they do not name this subject yet.
        bool named = std::all_of(img.out.entries.begin(), img.out.entries.end(), [&](const auto& d) {
          return store::referrer_of(d) == subject.out.ref.str();
        });
        if (!named) {
          for (auto d : img.out.entries) entries.push_back({annotated(d, subject), img.out.ref.str()});
        }
        continue;
      }
    }
    if (!img.complete) {
      img.out.seconds = std::chrono::duration<double>(engine_.clock().now() - img.started).count();
      continue;
    }
    for (const auto& d : img.out.entries) {
      entries.push_back({img.subject ? annotated(d, *images_[*img.subject]) : d, img.out.ref.str()});
    }
  }
  core::Status st;
  if (!entries.empty()) st = store_.upsert_index(entries);
  if (st && !found.empty()) st = drop_stale_referrers(found);
  if (st && !entries.empty()) st = save_last_pulls(store_, last_);
  if (!st) {
    for (size_t i = 0; i < images_.size(); ++i) fail_image(i, st.error());
  }
}

manifest::Descriptor Puller::annotated(manifest::Descriptor d, const ImageState& subject) {
  d.annotations[std::string(store::kReferrerOfAnnotation)] = subject.out.ref.str();
  d.annotations[std::string(store::kReferrerSubjectAnnotation)] = subject.out.digest.str();
  return d;
}

core::Status Puller::drop_stale_referrers(const std::map<std::string, std::set<std::string>>& found) {
  auto index = store_.read_index();
  if (!index) return core::fail(index.error());
  const size_t before = index->size();
  std::erase_if(*index, [&](const store::IndexEntry& e) {
    auto it = found.find(store::referrer_of(e.descriptor));
    return it != found.end() && !it->second.contains(e.ref_name);
  });
  if (index->size() == before) return {};
  spdlog::info("referrers no longer listed dropped from index.json entries={}", before - index->size());
  return store_.replace_index(*index);
}

size_t Puller::child_rank(const ImageState& img, const digest::Digest& d) const {
  for (size_t k = 0; k < img.wanted.size(); ++k) {
    if (img.wanted[k] == d) return k;
  }
  return img.wanted.size();
}

core::Status Puller::check_diff_ids(const manifest::ImageManifest& m) {
  if (manifest::is_artifact(m)) return {};
  auto body = store::read_verified(store_, m.config, manifest::kMaxConfigSize, "config");
  if (!body) return core::fail(body.error());
  auto cfg = manifest::parse_config(*body);
  if (!cfg) return core::fail(cfg.error().context(fmt::format("config {}", m.config.digest.str())));
  if (cfg->diff_ids.size() != m.layers.size()) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("config {} names {} diff_ids for {} layers", m.config.digest.str(),
                                  cfg->diff_ids.size(), m.layers.size()));
  }
  for (size_t k = 0; k < m.layers.size(); ++k) {
    const auto& layer = m.layers[k];
    if (auto it = checked_.find(layer.digest); it != checked_.end()) {
      if (it->second != cfg->diff_ids[k]) return diff_id_mismatch(layer, it->second, cfg->diff_ids[k]);
      continue;
    }
    if (manifest::is_foreign_layer(layer) && !store_.has_blob(layer.digest)) continue;
    auto opened = store_.open_blob(layer.digest);
    if (!opened) return core::fail(opened.error());
    auto decoded = codec::decode_fd(opened->get(), store_.blob_path(layer.digest).string());
    if (!decoded) return core::fail(decoded.error().context(fmt::format("layer {}", layer.digest.str())));
    checked_.emplace(layer.digest, decoded->diff_id);
    if (decoded->diff_id != cfg->diff_ids[k]) return diff_id_mismatch(layer, decoded->diff_id, cfg->diff_ids[k]);
  }
  return {};
}

core::Status Puller::diff_id_mismatch(const manifest::Descriptor& layer, const digest::Digest& got,
                                      const digest::Digest& want) {
  return core::fail(core::ErrorKind::DigestMismatch,
                    fmt::format("layer {} decompresses to {}, but the image config's diff_id is {} "
                                "(docker load would refuse it)",
                                layer.digest.str(), got.str(), want.str()));
}

std::optional<manifest::Platform> Puller::platform_from_config(const manifest::ImageManifest& m) const {
  auto body = store::read_verified(store_, m.config, manifest::kMaxConfigSize, "config");
  if (!body) return std::nullopt;
  auto cfg = manifest::parse_config(*body);
  if (!cfg || cfg->platform.os.empty()) return std::nullopt;
  return cfg->platform;
}

}  // namespace ferry::sync::detail
