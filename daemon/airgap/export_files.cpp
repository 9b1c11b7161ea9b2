// export_reference / carry_reference: see export_files.h.
#include "airgap/export_files.h"

#include <fmt/format.h>

#include "store/image_view.h"

namespace ferry::airgap {

namespace {

std::string platform_text(const manifest::Descriptor& d) {
  return d.platform && !d.platform->os.empty() ? d.platform->str() : "unknown";
}

std::string with_extension(std::string docker_name, std::string_view ext) {
  return docker_name.substr(0, docker_name.size() - 4) + std::string(ext);  // ".tar" off
}

// Writes or reuses one file of the set.
core::Status export_file(const store::Store& store, ExportSetBuilder& set, const reference::Reference& ref,
                         const std::vector<manifest::Descriptor>& images, const std::string& name,
                         std::string_view format, bool keep_zstd, bool rewrite, bool& written) {
  ExportFileInfo info;
  info.file = name;
  info.reference = ref.str();
  info.format = std::string(format);
  for (const auto& d : images) {
    info.manifests.push_back(d.digest.str());
    info.platforms.push_back(platform_text(d));
  }
  if (!rewrite) {
    if (auto cur = set.current(name); cur && cur->manifests == info.manifests && cur->format == info.format &&
                                      cur->reference == info.reference) {
      return set.reuse(name);
    }
  }
  std::vector<exporter::ExportImage> list;
  for (const auto& d : images) list.push_back({ref, d});
  exporter::WrittenFile file;
  core::Status st;
  if (format == "oci-archive") {
    exporter::OciOptions o;
    o.verified = &set.verified();
    o.written = &file;
    st = exporter::write_oci_archive(store, list, set.path_for(name), o);
  } else {
    exporter::DockerArchiveOptions o;
    o.keep_zstd = keep_zstd;
    o.verified = &set.verified();
    o.written = &file;
    st = exporter::write_docker_archive(store, list, set.path_for(name), o);
  }
  if (!st) return st;
  written = true;
  return set.add(std::move(info), file);
}

}  // namespace

core::Result<ExportedFiles> export_reference(const store::Store& store, ExportSetBuilder& set,
                                             const reference::Reference& ref,
                                             const std::vector<manifest::Descriptor>& entries,
                                             const ExportFormats& formats, bool rewrite,
                                             const sync::ExportNames& names) {
  auto images = store::platform_images(store, entries);
  if (!images) return core::fail(std::move(images.error()));
  if (images->empty()) return core::fail(core::ErrorKind::NotFound, fmt::format("{}: no image manifest", ref.str()));
  std::vector<std::pair<std::string, std::vector<manifest::Descriptor>>> files;
  if (images->size() == 1) {
    files.push_back({names.name(ref, nullptr), *images});
  } else {
    for (const auto& d : *images) {
      manifest::Platform p = d.platform.value_or(manifest::Platform{"unknown", "unknown", "", ""});
      files.push_back({names.name(ref, &p), {d}});
    }
  }
  ExportedFiles out;
  for (const auto& [name, list] : files) {
    if (formats.docker) {
      if (auto st = export_file(store, set, ref, list, name, "docker-archive", formats.keep_zstd, rewrite, out.written); !st) {
        return core::fail(std::move(st.error()));
      }
      out.names.push_back(name);
    }
    if (formats.oci_archive) {
      std::string oci = with_extension(name, ".oci.tar");
      if (auto st = export_file(store, set, ref, list, oci, "oci-archive", false, rewrite, out.written); !st) {
        return core::fail(std::move(st.error()));
      }
      out.names.push_back(oci);
    }
  }
  return out;
}

core::Result<std::vector<std::string>> carry_reference(ExportSetBuilder& set, const std::string& reference) {
  std::vector<std::string> names;
  for (const auto& info : set.current_of(reference)) {
    if (auto st = set.reuse(info.file); !st) return core::fail(std::move(st.error()));
    names.push_back(info.file);
  }
  return names;
}

}  // namespace ferry::airgap
