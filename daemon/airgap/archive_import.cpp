// import_archive: verified blobs from a tarball into the store.
#include "airgap/archive_import.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "export/image_set.h"
#include "reference/reference.h"
#include "store/fs_util.h"

namespace ferry::airgap {

// Archive formats, readers and checks stay in export; this is the workflow over them.
using namespace ferry::exporter;

namespace {

constexpr size_t kChunk = 1024 * 1024;

// One blob entry of the archive into the store, through ingest + commit.
core::Status ingest_entry(store::Store& store, const ArchiveScan& scan, const ScannedEntry& e) {
  auto ingest = store.begin_ingest(e.sha256, static_cast<int64_t>(e.entry.size));
  if (!ingest) return core::fail(std::move(ingest.error()));
  if ((*ingest)->size() > 0) {
    if (auto st = (*ingest)->restart(); !st) return st;  // a leftover partial: start clean
  }
  auto buffer = std::make_unique<char[]>(kChunk);
  uint64_t done = 0;
  while (done < e.entry.size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, e.entry.size - done));
    auto n = store::pread_full(scan.fd(), buffer.get(), want, e.entry.offset + done, scan.path());
    if (!n) return core::fail(std::move(n.error()));
    if (*n < want) return core::fail(core::errno_error("read", scan.path().string(), EIO));
    if (auto st = (*ingest)->write(buffer.get(), want); !st) return st;
    done += want;
  }
  return store.commit(std::move(*ingest));
}

std::optional<std::string> normalised(const std::string& name) {
  auto r = reference::parse(name);
  if (!r || (r->tag.empty() && !r->digest)) return std::nullopt;
  return r->str();
}

// A docker save layout without index.json (skopeo, Docker before 25): config and
// layers are ingested under the digests of their content, and an OCI manifest is
// written for each image (a new manifest digest: the registry's is not in the tar).
core::Status import_legacy(store::Store& store, const ArchiveScan& scan, const ArchiveReport& report,
                           ImportResult& r) {
  for (const auto& img : report.images) {
    const ScannedEntry* config = scan.find(img.config_entry);
    if (!config) return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: config missing", img.name));
    auto config_bytes = scan.read(*config, manifest::kMaxConfigSize);
    if (!config_bytes) return core::fail(std::move(config_bytes.error()));
    auto parsed = manifest::parse_config(*config_bytes);
    if (!parsed) return core::fail(std::move(parsed.error()));
    std::vector<const ScannedEntry*> blobs{config};
    for (const auto& name : img.layer_entries) {
      const ScannedEntry* e = scan.find(name);
      if (!e) return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: layer {} missing", img.name, name));
      blobs.push_back(e);
    }
    for (const ScannedEntry* e : blobs) {
      if (store.has_blob(e->sha256, static_cast<int64_t>(e->entry.size))) {
        ++r.blobs_present;
        continue;
      }
      if (auto st = ingest_entry(store, scan, *e); !st) return st;
      ++r.blobs_added;
      r.bytes_added += e->entry.size;
    }
    manifest::Descriptor config_desc{std::string(manifest::media::kOciConfig), config->sha256,
                                     static_cast<int64_t>(config->entry.size), std::nullopt, {}, {}};
    std::string body = oci_manifest_json(config_desc, img.layers);
    digest::Digest md = digest::sha256_of(body);
    if (!store.has_blob(md)) {
      if (auto st = store.put_blob(md, body); !st) return st;
      ++r.blobs_added;
      r.bytes_added += body.size();
    }
    manifest::Descriptor d{std::string(manifest::media::kOciManifest), md, static_cast<int64_t>(body.size()),
                           parsed->platform, {}, {}};
    for (const auto& name : img.ref_names) {
      if (auto n = normalised(name)) r.references[*n].push_back(d);
    }
  }
  return {};
}

}  // namespace

std::map<std::string, std::vector<manifest::Descriptor>> archive_references(const ArchiveReport& report) {
  std::map<std::string, std::vector<manifest::Descriptor>> out;
  if (report.bundle) {
    for (const auto& [ref, d] : report.bundle_images) {
      if (auto n = normalised(ref)) out[*n].push_back(d);
    }
    return out;
  }
  for (const auto& img : report.index_images) {
    if (!img.manifest || img.ref_names.empty()) continue;
    // An index named in index.json (all platforms, attestations) stays the entry:
    // its digest is the registry's. Its leaves are reached through it.
    const bool via_index = img.entry && manifest::is_index_type(img.entry->media_type);
    manifest::Descriptor d = via_index ? *img.entry : *img.manifest;
    d.annotations.clear();
    if (via_index) d.platform.reset();
    for (const auto& name : img.ref_names) {
      auto n = normalised(name);
      if (!n) continue;
      auto& list = out[*n];
      if (std::none_of(list.begin(), list.end(), [&](const auto& x) { return x.digest == d.digest; })) list.push_back(d);
    }
  }
  return out;
}

std::vector<std::string> missing_omitted(const store::Store& store, const ArchiveReport& report) {
  std::vector<std::string> out;
  for (const auto& [d, size] : report.omitted) {
    if (!store.has_blob(d, size)) out.push_back(fmt::format("{} ({} bytes)", d.str(), size));
  }
  return out;
}

core::Result<ImportResult> import_archive(store::Store& store, const ArchiveScan& scan, const ArchiveReport& report) {
  const std::string label = scan.path().string();
  if (!report.ok()) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: not imported, it does not verify (run ferry verify {})", label, label));
  }
  if (!scan.find("index.json")) {
    if (report.format != "docker-archive") {
      return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: not an image archive", label));
    }
    ImportResult r;
    if (auto st = import_legacy(store, scan, report, r); !st) return core::fail(std::move(st.error().context(label)));
    return r;
  }
  if (auto missing = missing_omitted(store, report); !missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return core::fail(core::ErrorKind::NotFound,
                      fmt::format("{}: a delta bundle, and {} of the layers it left out {} not in the store {}: {}",
                                  label, missing.size(), missing.size() == 1 ? "is" : "are",
                                  store.root().string(), list));
  }
  ImportResult r;
  for (const auto& [name, entry] : scan.entries()) {
    if (!entry.named_by_digest || !entry.matches_name) continue;
    // A blob stored as a link is ingested from the entry it resolves to (the check
    // above made sure that one hashes to the name).
    const ScannedEntry& e = entry.link_target ? *entry.link_target : entry;
    if (e.entry.type != '0') continue;
    if (store.has_blob(e.sha256, static_cast<int64_t>(e.entry.size))) {
      ++r.blobs_present;
      continue;
    }
    if (auto st = ingest_entry(store, scan, e); !st) {
      return core::fail(std::move(st.error().context(fmt::format("{}: {}", label, name))));
    }
    ++r.blobs_added;
    r.bytes_added += e.entry.size;
  }
  r.references = archive_references(report);
  return r;
}

}  // namespace ferry::airgap
