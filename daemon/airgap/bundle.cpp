// write_bundle: see bundle.h.
#include "airgap/bundle.h"

#include <fmt/format.h>

#include "export/export.h"
#include "store/image_view.h"

namespace ferry::airgap {

core::Result<BundleReport> write_bundle(const store::Store& store, const std::vector<BundleReference>& refs,
                                        const std::filesystem::path& out, const BundleOptions& opts) {
  exporter::BundleOptions bundle;
  bundle.bundle = true;
  bundle.manifest_platform = exporter::host_platform();
  bundle.omit_layers = opts.omit_layers;
  bundle.since = opts.since;
  BundleReport report;
  report.references = refs.size();
  std::vector<exporter::ExportImage> images;
  for (const auto& r : refs) {
    // A reference whose whole index is in the store keeps it (attestations too).
    if (r.entries.size() == 1 && manifest::is_index_type(r.entries.front().media_type)) {
      auto tree = store::read_index_tree(store, r.entries.front());
      if (tree && tree->complete) {
        bundle.indexes.push_back({r.ref, r.entries.front()});
      } else {
        report.notes.push_back(fmt::format("{}: bundled without the registry's index: {}", r.ref.str(),
                                           tree ? "the store lacks some of its manifests" : tree.error().message));
      }
    }
    auto list = store::platform_images(store, r.entries);
    if (!list) return core::fail(core::Error(list.error()).context(r.ref.str()));
    for (const auto& d : *list) images.push_back({r.ref, d});
  }
  report.images = images.size();
  exporter::DockerArchiveOptions docker;
  docker.keep_zstd = opts.keep_zstd;
  if (auto st = exporter::write_docker_archive(store, images, out, docker, bundle); !st) return core::fail(st.error());
  return report;
}

}  // namespace ferry::airgap
