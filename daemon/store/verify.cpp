// verify: hash every blob, walk index.json, and list what does not belong.
//
// Passes: index.json and the walk from it (manifests and configs are small; the
// configs tell which blobs are layers and what their diff_ids must be), then
// blobs/sha256 (names, content hashes, sizes; a layer is decompressed while it is
// hashed, so every blob is read once), then the reached blobs (present, right
// size), then stray files (write-temp leftovers in the store root, state/,
// blobs/sha256 and ingest/). Every finding is one VerifyProblem; a blob shared by
// many images is read once.
#include "store/verify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include <fmt/format.h>

#include "codec/layer_decoder.h"

namespace ferry::store {

namespace {

constexpr size_t kHashBuffer = 1 << 20;  // one read buffer for every blob, whatever its size
constexpr size_t kMaxWalkDepth = 8;      // index -> image -> blobs is depth 2; nesting beyond is absurd
constexpr std::string_view kPartialSuffix = ".partial";
constexpr std::string_view kSegmentsSuffix = ".segments";  // a segmented partial's record

using Kind = VerifyProblem::Kind;

void add_problem(VerifyReport& r, Kind kind, std::string message) {
  r.problems.push_back({kind, std::move(message)});
}

// write_file_atomic's temporaries: "<name>.tmp.<pid>.<n>".
bool is_temp_name(std::string_view name) {
  size_t at = name.rfind(".tmp.");
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view rest = name.substr(at + 5);
  size_t dot = rest.find('.');
  auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return dot != std::string_view::npos && digits(rest.substr(0, dot)) && digits(rest.substr(dot + 1));
}

// The partial a .segments record describes: "<hex>.segments" -> "<hex>.partial".
std::string partial_of(std::string_view record) {
  return std::string(record.substr(0, record.size() - kSegmentsSuffix.size())) + std::string(kPartialSuffix);
}

bool has_name(const std::vector<DirEntry>& entries, std::string_view name) {
  return std::any_of(entries.begin(), entries.end(), [&](const DirEntry& e) { return e.name == name; });
}

// What an image config says one of its layers must be.
struct ExpectedLayer {
  digest::Digest diff_id;
  std::string media_type;
  std::string via;
};
using Expectations = std::map<digest::Digest, std::vector<ExpectedLayer>>;

bool is_image_config_type(std::string_view t) {
  return t == manifest::media::kOciConfig || t == manifest::media::kDockerConfig;
}

bool is_image_layer_type(std::string_view t) {
  return t.starts_with("application/vnd.oci.image.layer.") || t.starts_with("application/vnd.docker.image.rootfs.");
}

// The diff_id of every layer of every reached image, from its config. A config
// that cannot be read or does not fit its manifest is a problem; an absent one is
// reported by check_reached.
void expect_image(const Store& store, const ReachedImage& img, Expectations& out, VerifyReport& r) {
  if (!is_image_config_type(img.config.media_type) || !store.has_blob(img.config.digest)) return;
  auto body = store.read_blob(img.config.digest, manifest::kMaxConfigSize);
  auto parsed = body ? manifest::parse_config(*body) : core::Result<manifest::ImageConfig>(core::fail(body.error()));
  if (!parsed) {
    return add_problem(r, Kind::BadManifest,
                       fmt::format("{}: config {}: {}", img.via, img.config.digest.str(), parsed.error().message));
  }
  if (parsed->diff_ids.size() != img.layers.size()) {
    return add_problem(r, Kind::BadManifest,
                       fmt::format("{}: manifest lists {} layers, its config {} has {} diff_ids", img.via,
                                   img.layers.size(), img.config.digest.str(), parsed->diff_ids.size()));
  }
  for (size_t i = 0; i < img.layers.size(); ++i) {
    auto& list = out[img.layers[i].digest];
    ExpectedLayer e{parsed->diff_ids[i], img.layers[i].media_type, img.via};
    bool repeat = std::any_of(list.begin(), list.end(), [&e](const ExpectedLayer& x) {
      return x.diff_id == e.diff_id && x.media_type == e.media_type;
    });
    if (!repeat) list.push_back(std::move(e));
  }
}

// One read of a blob: its sha256 and, when `decode`, what it decompresses to.
struct BlobRead {
  digest::Digest sha256;
  codec::Compression compression = codec::Compression::None;
  std::optional<digest::Digest> diff_id;
  std::string decode_error;
};

core::Result<BlobRead> read_blob_file(const Store& store, const digest::Digest& d, std::string& buffer,
                                      bool decode) {
  auto opened = store.open_blob(d);
  if (!opened) return core::fail(opened.error());
  const int fd = opened->get();
  const fs::path path = store.blob_path(d);
  BlobRead out;
  digest::Sha256 hasher;
  std::optional<codec::LayerDecoder> decoder;
  for (bool first = true;; first = false) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", path.string(), errno));
    if (n == 0) break;
    if (first) out.compression = codec::detect(std::string_view(buffer.data(), static_cast<size_t>(n)));
    if (first && decode && out.compression != codec::Compression::None) decoder.emplace();
    hasher.update(buffer.data(), static_cast<size_t>(n));
    if (decoder && out.decode_error.empty()) {
      if (auto st = decoder->update(buffer.data(), static_cast<size_t>(n)); !st) out.decode_error = st.error().message;
    }
  }
  out.sha256 = hasher.finish();
  if (decoder && out.decode_error.empty()) {
    auto decoded = decoder->finish();
    if (decoded) out.diff_id = decoded->diff_id;
    if (!decoded) out.decode_error = decoded.error().message;
  }
  if (decode && out.compression == codec::Compression::None) out.diff_id = out.sha256;  // plain: the tar itself
  return out;
}

// A layer blob read whole: against what every config that names it expects.
void check_layer_blob(const digest::Digest& d, const BlobRead& got, const std::vector<ExpectedLayer>& expected,
                      VerifyReport& r) {
  ++r.diff_ids_checked;
  const std::string_view c = codec::to_string(got.compression);
  for (const auto& e : expected) {
    if (is_image_layer_type(e.media_type) && codec::declared_compression(e.media_type) != got.compression) {
      add_problem(r, Kind::BadLayer,
                  fmt::format("{}: layer {} is declared {} but its content is {}", e.via, d.str(), e.media_type, c));
    } else if (!got.decode_error.empty()) {
      add_problem(r, Kind::BadLayer,
                  fmt::format("{}: layer {} does not decompress ({}): {}", e.via, d.str(), c, got.decode_error));
    } else if (got.diff_id && *got.diff_id != e.diff_id) {
      add_problem(r, Kind::BadLayer, fmt::format("{}: layer {} has diff_id {} ({}), the config says {}", e.via,
                                                 d.str(), got.diff_id->str(), c, e.diff_id.str()));
    }
  }
}

// One file in blobs/sha256: name, type, content. Adds it to `present` when named well.
void check_blob_file(const Store& store, const DirEntry& e, const VerifyOptions& opts, const Expectations& layers,
                     std::string& buffer, std::map<digest::Digest, uint64_t>& present, VerifyReport& r) {
  const std::string& name = e.name;
  const std::string rel = "blobs/sha256/" + name;
  if (is_temp_name(name)) {
    return add_problem(r, Kind::StrayFile, fmt::format("{}: temporary file left by an interrupted write", rel));
  }
  auto d = digest::Digest::parse(std::string(digest::Digest::kSha256Prefix) + name);
  if (!d) return add_problem(r, Kind::BadName, fmt::format("{}: not a sha256 digest name", rel));
  if (e.type != DirEntry::Type::Regular) {
    return add_problem(r, Kind::BadName, fmt::format("{}: not a regular file", rel));
  }
  present[*d] = e.size;
  ++r.blobs;
  r.blob_bytes += e.size;
  if (!opts.hash_content) return;
  auto layer = layers.find(*d);
  auto actual = read_blob_file(store, *d, buffer, opts.check_diff_ids && layer != layers.end());
  if (!actual) return add_problem(r, Kind::Io, actual.error().message);
  if (actual->sha256 != *d) {
    return add_problem(r, Kind::Corrupt,
                       fmt::format("blob {}: content hashes to {} ({})", d->str(), actual->sha256.str(), rel));
  }
  if (opts.check_diff_ids && layer != layers.end()) check_layer_blob(*d, *actual, layer->second, r);
}

core::Result<std::map<digest::Digest, uint64_t>> scan_blobs(const Store& store, const VerifyOptions& opts,
                                                           const Expectations& layers, VerifyReport& r) {
  std::map<digest::Digest, uint64_t> present;
  std::string buffer(kHashBuffer, '\0');
  auto entries = store.list(Area::Blobs);
  if (!entries) return core::fail(entries.error());
  for (const auto& e : *entries) check_blob_file(store, e, opts, layers, buffer, present, r);
  return present;
}

// Each reached blob present with its descriptor's size; missing ones named once.
void check_reached(const Reach& reached, const std::map<digest::Digest, uint64_t>& present,
                   std::set<digest::Digest>& reported, VerifyReport& r) {
  for (const auto& m : reached.problems) add_problem(r, Kind::BadManifest, m);
  for (const auto& b : reached.blobs) {
    const auto& d = b.descriptor;
    auto it = present.find(d.digest);
    if (it == present.end()) {
      if (b.required && reported.insert(d.digest).second) {
        add_problem(r, Kind::Missing, fmt::format("{}: {} {} is missing (blobs/sha256/{})", b.via,
                                                  to_string(b.role), d.digest.str(), d.digest.hex()));
      }
      continue;
    }
    if (d.size >= 0 && it->second != static_cast<uint64_t>(d.size) && reported.insert(d.digest).second) {
      add_problem(r, Kind::SizeMismatch, fmt::format("{}: {} {} is {} bytes, its descriptor says {}", b.via,
                                                     to_string(b.role), d.digest.str(), it->second, d.size));
    }
  }
}

// index.json walked: every entry's reach, in order.
std::vector<Reach> walk_index(const Store& store, VerifyReport& r) {
  std::vector<Reach> out;
  auto entries = store.read_index();
  if (!entries) {
    add_problem(r, Kind::BadIndex, entries.error().message);
    return out;
  }
  r.index_entries = entries->size();
  for (const auto& entry : *entries) out.push_back(reach(store, entry));
  return out;
}

void check_index(const std::vector<Reach>& reaches, const std::map<digest::Digest, uint64_t>& present,
                 VerifyReport& r) {
  std::set<digest::Digest> reachable, reported;
  for (const auto& reached : reaches) {
    check_reached(reached, present, reported, r);
    for (const auto& b : reached.blobs) reachable.insert(b.descriptor.digest);
  }
  r.reachable = reachable.size();
  for (const auto& [d, size] : present) {
    if (reachable.contains(d)) continue;
    ++r.unreferenced;
    r.unreferenced_bytes += size;
  }
}

// Write-temp leftovers beside index.json and in state/; anything but partials (and
// their segment records) in ingest/.
void check_stray_files(const Store& store, VerifyReport& r) {
  for (const Area area : {Area::Root, Area::State}) {
    auto entries = store.list(area);
    if (!entries) {
      add_problem(r, Kind::Io, entries.error().message);
      continue;
    }
    for (const auto& e : *entries) {
      if (!is_temp_name(e.name)) continue;
      std::string rel = area == Area::State ? "state/" + e.name : e.name;
      add_problem(r, Kind::StrayFile, fmt::format("{}: temporary file left by an interrupted write", rel));
    }
  }
  auto entries = store.list(Area::Ingest);
  if (!entries) return add_problem(r, Kind::Io, entries.error().message);
  for (const auto& e : *entries) {
    if (e.name.ends_with(kPartialSuffix)) continue;
    if (!e.name.ends_with(kSegmentsSuffix)) {
      add_problem(r, Kind::StrayFile, fmt::format("ingest/{}: not a partial download", e.name));
    } else if (!has_name(*entries, partial_of(e.name))) {
      add_problem(r, Kind::StrayFile,
                  fmt::format("ingest/{}: segment record without its partial download (gc removes it)", e.name));
    }
  }
}

// Adds manifest `m` to `out`; when present and not walked yet, its children too.
void walk(const Store& store, const ReachedBlob& m, size_t depth, std::set<digest::Digest>& walked, Reach& out) {
  out.blobs.push_back(m);
  const digest::Digest& d = m.descriptor.digest;
  if (!store.has_blob(d) || !walked.insert(d).second) return;
  if (depth > kMaxWalkDepth) {
    out.problems.push_back(fmt::format("{}: manifest {}: nested deeper than {} levels", m.via, d.str(), kMaxWalkDepth));
    return;
  }
  auto body = store.read_blob(d, manifest::kMaxManifestSize);
  if (!body) return out.problems.push_back(fmt::format("{}: manifest {}: {}", m.via, d.str(), body.error().message));
  auto parsed = manifest::parse(*body, m.descriptor.media_type);
  if (!parsed) {
    return out.problems.push_back(fmt::format("{}: manifest {}: {}", m.via, d.str(), parsed.error().message));
  }
  if (const auto* image = std::get_if<manifest::ImageManifest>(&*parsed)) {
    out.images.push_back({image->config, image->layers, m.via});
    out.blobs.push_back({image->config, ReachedBlob::Role::Config, m.via, true});
    for (const auto& layer : image->layers) {
      out.blobs.push_back({layer, ReachedBlob::Role::Layer, m.via, !manifest::is_foreign_layer(layer)});
    }
    return;
  }
  // An index: its image entries and nested indexes were pulled; other children
  // (attestations, artifacts) only when present, and then checked like the rest.
  for (const auto& child : std::get<manifest::Index>(*parsed).manifests) {
    const bool required = manifest::is_image_entry(child) || manifest::is_index_type(child.media_type);
    walk(store, {child, ReachedBlob::Role::Manifest, m.via, required}, depth + 1, walked, out);
  }
}

}  // namespace

Reach reach(const Store& store, const IndexEntry& entry) {
  Reach out;
  std::set<digest::Digest> walked;
  std::string via = entry.ref_name.empty() ? "index.json entry " + entry.descriptor.digest.str() : entry.ref_name;
  walk(store, {entry.descriptor, ReachedBlob::Role::Manifest, via, true}, 0, walked, out);
  // A converted schema1 image keeps its original payload: reached, never parsed.
  if (auto it = entry.descriptor.annotations.find(std::string(kSchema1DigestAnnotation));
      it != entry.descriptor.annotations.end()) {
    if (auto d = digest::Digest::parse(it->second)) {
      manifest::Descriptor original{std::string(manifest::media::kDockerSchema1), *d, -1, std::nullopt, {}, {}};
      out.blobs.push_back({std::move(original), ReachedBlob::Role::Manifest, std::move(via), true});
    } else {
      out.problems.push_back(fmt::format("{}: annotation {}: {}", via, kSchema1DigestAnnotation, d.error().message));
    }
  }
  return out;
}

std::string_view to_string(ReachedBlob::Role role) {
  switch (role) {
    case ReachedBlob::Role::Manifest: return "manifest";
    case ReachedBlob::Role::Config: return "config";
    case ReachedBlob::Role::Layer: return "layer";
  }
  return "blob";
}

core::Result<std::vector<PartialFile>> list_partials(const Store& store) {
  auto entries = store.list(Area::Ingest);
  if (!entries) return core::fail(entries.error());
  std::vector<PartialFile> out;
  for (const auto& e : *entries) {
    if (!e.name.ends_with(kPartialSuffix) || e.type != DirEntry::Type::Regular) continue;
    out.push_back({store.area_path(Area::Ingest, e.name), e.size, e.mtime});
  }
  std::sort(out.begin(), out.end(), [](const PartialFile& a, const PartialFile& b) { return a.path < b.path; });
  return out;
}

core::Result<std::vector<fs::path>> orphan_segment_records(const Store& store) {
  auto entries = store.list(Area::Ingest);
  if (!entries) return core::fail(entries.error());
  std::vector<fs::path> out;
  for (const auto& e : *entries) {
    if (e.name.ends_with(kSegmentsSuffix) && !has_name(*entries, partial_of(e.name))) {
      out.push_back(store.area_path(Area::Ingest, e.name));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

core::Result<VerifyReport> verify(const Store& store, const VerifyOptions& opts) {
  VerifyReport r;
  std::vector<Reach> reaches = walk_index(store, r);
  Expectations layers;
  for (const auto& reached : reaches) {
    for (const auto& img : reached.images) expect_image(store, img, layers, r);
  }
  r.layers = layers.size();
  auto present = scan_blobs(store, opts, layers, r);
  if (!present) return core::fail(present.error());
  check_index(reaches, *present, r);
  check_stray_files(store, r);
  auto partials = list_partials(store);
  if (!partials) return core::fail(partials.error());
  r.partials = std::move(*partials);
  return r;
}

}  // namespace ferry::store
