// The store's image view: verified reads of manifests, indexes and configs.
#include "store/image_view.h"

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>

namespace ferry::store {

core::Result<std::string> read_verified(const Store& store, const manifest::Descriptor& d, uint64_t max_size,
                                        std::string_view what) {
  if (!store.has_blob(d.digest)) {
    return core::fail(core::ErrorKind::NotFound, fmt::format("{} {} is not in the store", what, d.digest.str()));
  }
  auto bytes = store.read_blob(d.digest, max_size);
  if (!bytes) return core::fail(std::move(bytes.error()));
  if (d.size >= 0 && bytes->size() != static_cast<uint64_t>(d.size)) {
    return core::fail(core::ErrorKind::SizeMismatch, fmt::format("{} {} is {} bytes in the store, descriptor says {}",
                                                                 what, d.digest.str(), bytes->size(), d.size));
  }
  if (digest::Digest actual = digest::sha256_of(*bytes); actual != d.digest) {
    return core::fail(core::ErrorKind::DigestMismatch,
                      fmt::format("store blob {} ({}) is corrupt: its content hashes to {}", d.digest.str(), what,
                                  actual.str()));
  }
  return bytes;
}

core::Result<StoredManifest> read_manifest(const Store& store, const manifest::Descriptor& d) {
  const bool index = manifest::is_index_type(d.media_type);
  auto bytes = read_verified(store, d, manifest::kMaxManifestSize, index ? "index" : "manifest");
  if (!bytes) return core::fail(std::move(bytes.error()));
  auto parsed = manifest::parse(*bytes, d.media_type);
  if (!parsed) {
    return core::fail(std::move(parsed.error().context(fmt::format("{} {}", index ? "index" : "manifest",
                                                                   d.digest.str()))));
  }
  return StoredManifest{d, std::move(*bytes), std::move(*parsed)};
}

namespace {

core::Result<StoredIndex> read_stored_index(const Store& store, const manifest::Descriptor& d) {
  auto m = read_manifest(store, d);
  if (!m) return core::fail(std::move(m.error()));
  auto* index = std::get_if<manifest::Index>(&m->parsed);
  if (!index) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{} is named as an index ({}) but is an image manifest", d.digest.str(), d.media_type));
  }
  return StoredIndex{d, std::move(m->bytes), std::move(*index)};
}

// Reads the indexes below `index` (at `level`) into tree.nested.
core::Status read_below(const Store& store, const manifest::Index& index, size_t level, std::set<digest::Digest>& seen,
                        IndexTree& tree) {
  for (const auto& d : index.manifests) {
    if (!manifest::is_index_type(d.media_type) || !seen.insert(d.digest).second) continue;
    if (level + 1 > manifest::kMaxIndexDepth) {
      return core::fail(core::ErrorKind::InvalidInput, fmt::format("indexes nested deeper than {} levels at {}",
                                                                   manifest::kMaxIndexDepth, d.digest.str()));
    }
    auto child = read_stored_index(store, d);
    if (!child) return core::fail(std::move(child.error()));
    tree.nested.push_back(std::move(*child));
    const manifest::Index copy = tree.nested.back().index;  // nested may grow below
    if (auto st = read_below(store, copy, level + 1, seen, tree); !st) return st;
  }
  return {};
}

}  // namespace

std::vector<manifest::Descriptor> IndexTree::images() const {
  manifest::Index flat;
  flat.manifests = leaves;
  return manifest::image_entries(flat);
}

core::Result<IndexTree> read_index_tree(const Store& store, const manifest::Descriptor& d) {
  IndexTree tree;
  auto top = read_stored_index(store, d);
  if (!top) return core::fail(std::move(top.error()));
  tree.top = std::move(*top);
  std::set<digest::Digest> seen{d.digest};
  if (auto st = read_below(store, tree.top.index, 1, seen, tree); !st) return core::fail(std::move(st.error()));
  auto lookup = [&tree](const digest::Digest& want) -> const manifest::Index* {
    for (const auto& n : tree.nested) {
      if (n.descriptor.digest == want) return &n.index;
    }
    return nullptr;
  };
  auto leaves = manifest::leaf_entries(tree.top.index, lookup);
  if (!leaves) return core::fail(std::move(leaves.error()));
  tree.leaves = std::move(*leaves);
  tree.complete = std::all_of(tree.leaves.begin(), tree.leaves.end(),
                              [&](const manifest::Descriptor& leaf) { return store.has_blob(leaf.digest, leaf.size); });
  return tree;
}

core::Result<std::vector<manifest::Descriptor>> platform_images(const Store& store,
                                                                const std::vector<manifest::Descriptor>& entries) {
  std::vector<manifest::Descriptor> out;
  for (const auto& e : entries) {
    if (!manifest::is_index_type(e.media_type)) {
      out.push_back(e);
      continue;
    }
    auto tree = read_index_tree(store, e);  // nested indexes too
    if (!tree) return core::fail(tree.error());
    for (const auto& d : tree->images()) out.push_back(d);
  }
  return out;
}

}  // namespace ferry::store
