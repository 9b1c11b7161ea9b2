// Index trees and artifacts: the entries under nested indexes, and telling an OCI
// 1.1 artifact from a runnable image.
//
// A tree is walked depth first in index order with a set of digests seen, so an
// entry named twice (or an index reachable twice) counts once and no cycle loops.
// Depth is counted in index levels: the top index is level 1.
#include <fmt/format.h>

#include <set>

#include "manifest/manifest.h"

namespace ferry::manifest {

namespace {

class TreeWalker {
 public:
  explicit TreeWalker(const IndexLookup& lookup) : lookup_(lookup) {}

  core::Status walk(const Index& index, size_t level, const std::optional<Platform>& inherited) {
    for (const Descriptor& d : index.manifests) {
      if (!seen_.insert(d.digest).second) continue;
      if (!is_index_type(d.media_type)) {
        out_.push_back(d);
        if (!out_.back().platform && inherited) out_.back().platform = inherited;
        continue;
      }
      if (level + 1 > kMaxIndexDepth) {
        return core::fail(core::ErrorKind::InvalidInput,
                          fmt::format("indexes nested deeper than {} levels at {}", kMaxIndexDepth, d.digest.str()));
      }
      const Index* child = lookup_ ? lookup_(d.digest) : nullptr;
      if (child == nullptr) {
        return core::fail(core::ErrorKind::NotFound, fmt::format("nested index {} is not at hand", d.digest.str()));
      }
      if (auto st = walk(*child, level + 1, d.platform ? d.platform : inherited); !st) return st;
    }
    return {};
  }

  std::vector<Descriptor> take() { return std::move(out_); }

 private:
  const IndexLookup& lookup_;
  std::set<digest::Digest> seen_;
  std::vector<Descriptor> out_;
};

bool is_image_config_type(std::string_view type) {
  return type == media::kDockerConfig || type == media::kOciConfig;
}

}  // namespace

core::Result<std::vector<Descriptor>> leaf_entries(const Index& top, const IndexLookup& lookup) {
  TreeWalker walker(lookup);
  if (auto st = walker.walk(top, 1, std::nullopt); !st) return core::fail(std::move(st.error()));
  return walker.take();
}

core::Result<Index> flatten(const Index& top, const IndexLookup& lookup) {
  auto leaves = leaf_entries(top, lookup);
  if (!leaves) return core::fail(std::move(leaves.error()));
  Index flat;
  flat.media_type = top.media_type;
  flat.manifests = std::move(*leaves);
  return flat;
}

bool is_layer_type(std::string_view type) {
  if (type == media::kDockerLayerGzip || type == media::kDockerForeignLayerGzip) return true;
  if (type == "application/vnd.docker.image.rootfs.diff.tar") return true;
  constexpr std::string_view kOciLayers = "application/vnd.oci.image.layer.";
  if (!type.starts_with(kOciLayers)) return false;
  std::string_view rest = type.substr(kOciLayers.size());
  if (rest.starts_with("nondistributable.")) rest.remove_prefix(std::string_view("nondistributable.").size());
  return rest == "v1.tar" || rest == "v1.tar+gzip" || rest == "v1.tar+zstd";
}

std::string artifact_type_of(const ImageManifest& m) {
  if (!m.artifact_type.empty()) return m.artifact_type;
  if (!is_image_config_type(m.config.media_type)) return m.config.media_type;
  for (const Descriptor& layer : m.layers) {
    if (!is_layer_type(layer.media_type)) return layer.media_type;
  }
  return {};
}

bool is_artifact(const ImageManifest& m) { return !artifact_type_of(m).empty(); }

}  // namespace ferry::manifest
