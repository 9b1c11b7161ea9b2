// ArchiveScan and check_archive: an image tarball read back and checked.
#include "export/archive_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/redact.h"
#include "export/export.h"
#include "reference/reference.h"
#include "export/image_set.h"
#include "store/fs_util.h"

namespace ferry::exporter {

namespace {

constexpr size_t kChunk = 1024 * 1024;
constexpr int kMaxLinkHops = 8;
constexpr uint64_t kMaxJsonSize = 16 << 20;  // manifest.json of a big bundle; still bounded

std::optional<digest::Digest> digest_of_blob_name(const std::string& name) {
  constexpr std::string_view prefix = "blobs/sha256/";
  if (!name.starts_with(prefix)) return std::nullopt;
  auto d = digest::Digest::parse("sha256:" + name.substr(prefix.size()));
  if (!d) return std::nullopt;
  return *d;
}

// "sha256:abcdef123456" for messages of people.
std::string short_name(const digest::Digest& d) { return "sha256:" + std::string(d.short_hex()); }

}  // namespace

namespace {

// Reads the current entry to its end: its sha256 and, for gzip or zstd content
// when `decode`, in the same pass its uncompressed digest. False when the tar
// itself failed (the message is in `problems`).
bool scan_content(TarReader& reader, char* buffer, bool decode, ScannedEntry& e, std::vector<std::string>& problems) {
  digest::Sha256 hasher;
  std::optional<codec::LayerDecoder> decoder;
  bool first = true;
  for (;;) {
    auto n = reader.read(buffer, kChunk);
    if (!n) {
      problems.push_back(n.error().message);
      return false;
    }
    if (*n == 0) break;
    if (first) {
      e.compression = codec::detect(std::string_view(buffer, *n));
      if (decode && e.compression != codec::Compression::None) decoder.emplace();
      first = false;
    }
    hasher.update(buffer, *n);
    if (decoder && e.decode_error.empty()) {
      if (auto st = decoder->update(buffer, *n); !st) e.decode_error = st.error().message;
    }
  }
  e.sha256 = hasher.finish();
  if (e.compression == codec::Compression::None) {
    e.diff_id = e.sha256;
  } else if (decoder && e.decode_error.empty()) {
    auto decoded = decoder->finish();
    if (decoded) e.diff_id = decoded->diff_id;
    if (!decoded) e.decode_error = decoded.error().message;
  }
  return true;
}

}  // namespace

core::Result<ArchiveScan> ArchiveScan::scan(const fs::path& tar, const ScanOptions& opts) {
  ArchiveScan s;
  s.path_ = tar;
  s.decoded_ = opts.decode;
  auto opened = store::open_input_file(tar);  // a FIFO is refused, never waited on
  if (!opened) return core::fail(std::move(opened.error()));
  s.fd_ = opened->release();
  TarReader reader(s.fd_, tar.string());
  auto buffer = std::make_unique<char[]>(kChunk);
  uint64_t name_bytes = 0;
  for (;;) {
    auto next = reader.next();
    if (!next) {
      s.problems_.push_back(next.error().message);
      break;
    }
    if (!*next) break;
    ScannedEntry e;
    e.entry = std::move(**next);
    if (e.entry.type == '0') {
      auto named = digest_of_blob_name(e.entry.name);
      e.named_by_digest = named.has_value();
      if (!scan_content(reader, buffer.get(), opts.decode, e, s.problems_)) break;
      e.matches_name = named && *named == e.sha256;
    } else if (e.entry.type != '2' && e.entry.type != '1') {
      continue;  // directories and the like name no content
    }
    name_bytes += e.entry.name.size() + e.entry.link.size();
    if (s.entries_.size() >= opts.max_entries || name_bytes > opts.max_name_bytes) {
      s.problems_.push_back(fmt::format("more than {} entries or {} bytes of names: not an image archive ferry reads",
                                        opts.max_entries, opts.max_name_bytes));
      break;
    }
    s.entries_[e.entry.name] = std::move(e);
  }
  // Blob entries that are links take the content of what they resolve to (std::map
  // nodes are stable, so the pointers hold).
  for (auto& [name, e] : s.entries_) {
    if (e.entry.type == '0') continue;
    auto named = digest_of_blob_name(name);
    if (!named) continue;
    e.named_by_digest = true;
    e.link_target = s.find(name);
    if (e.link_target) {
      e.sha256 = e.link_target->sha256;
      e.matches_name = *named == e.sha256;
    }
  }
  return s;
}

ArchiveScan::ArchiveScan(ArchiveScan&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(o.fd_),
      entries_(std::move(o.entries_)),
      problems_(std::move(o.problems_)),
      decoded_(o.decoded_) {
  o.fd_ = -1;
}

ArchiveScan::~ArchiveScan() {
  if (fd_ >= 0) ::close(fd_);
}

const ScannedEntry* ArchiveScan::find(const std::string& name) const {
  auto normal = normalise_entry_name(name);
  if (!normal) return nullptr;
  std::string current = *normal;
  for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
    auto it = entries_.find(current);
    if (it == entries_.end()) return nullptr;
    const TarEntry& e = it->second.entry;
    if (e.type == '0') return &it->second;
    std::optional<std::string> next;
    if (e.type == '2') next = resolve_link(current, e.link);
    if (e.type == '1') {
      auto hard = normalise_entry_name(e.link);
      if (hard) next = *hard;
    }
    if (!next) return nullptr;
    current = *next;
  }
  return nullptr;
}

core::Result<std::string> ArchiveScan::read(const ScannedEntry& e, uint64_t limit) const {
  if (e.entry.size > limit) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{} is {} bytes, more than the {} allowed", e.entry.name, e.entry.size, limit));
  }
  std::string out(e.entry.size, '\0');
  auto got = store::pread_full(fd_, out.data(), out.size(), e.entry.offset, path_);
  if (!got) return core::fail(std::move(got.error()));
  if (*got < out.size()) return core::fail(core::errno_error("read", path_.string(), EIO));
  return out;
}

std::vector<std::string> ArchiveReport::problem_lines() const {
  std::vector<std::string> out = problems;
  for (const auto& img : images) {
    for (const auto& p : img.problems) out.push_back(fmt::format("{}: {}", img.name, p));
  }
  return out;
}

bool ArchiveReport::ok() const {
  if (!problems.empty()) return false;
  for (const auto& i : images) {
    if (!i.problems.empty()) return false;
  }
  return true;
}

namespace {

// Compares the uncompressed digest of layer entry `e` (`name` in messages) with the
// config's diff_id `want`, counting what was checked.
void check_diff_id(const ScannedEntry& e, const std::string& name, const digest::Digest& want, ArchiveImage& img) {
  if (!e.decode_error.empty()) {
    img.problems.push_back(fmt::format("layer {} does not decompress ({}): {}", name,
                                       codec::to_string(e.compression), e.decode_error));
    return;
  }
  if (!e.diff_id) {
    ++img.diff_ids_unchecked;
    return;
  }
  if (*e.diff_id != want) {
    img.problems.push_back(fmt::format("layer {} has diff_id {} ({}), the config says {}", name, e.diff_id->str(),
                                       codec::to_string(e.compression), want.str()));
    return;
  }
  ++img.diff_ids_checked;
}

std::string_view layer_type_of(codec::Compression c) {
  switch (c) {
    case codec::Compression::None: return manifest::media::kOciLayerTar;
    case codec::Compression::Gzip: return manifest::media::kOciLayerGzip;
    case codec::Compression::Zstd: return manifest::media::kOciLayerZstd;
  }
  return manifest::media::kOciLayerTar;
}

// An image layer media type (OCI or Docker), whose suffix names its compression.
bool is_image_layer_type(std::string_view t) {
  return t.starts_with("application/vnd.oci.image.layer.") || t.starts_with("application/vnd.docker.image.rootfs.");
}

// Checks that `d` is present as blobs/sha256/<hex> with its size and digest.
using Omitted = std::map<digest::Digest, int64_t>;

const ScannedEntry* check_blob(const ArchiveScan& scan, const manifest::Descriptor& d, std::string_view what,
                               std::vector<std::string>& problems, const Omitted& omitted = {}) {
  std::string name = blob_entry(d.digest);
  const ScannedEntry* e = scan.find(name);
  if (!e && omitted.contains(d.digest)) return nullptr;  // a delta bundle left it out
  if (!e) {
    problems.push_back(fmt::format("{} {} is missing", what, d.digest.str()));
    return nullptr;
  }
  if (d.size >= 0 && e->entry.size != static_cast<uint64_t>(d.size)) {
    problems.push_back(fmt::format("{} {} is {} bytes, its descriptor says {}", what, d.digest.str(), e->entry.size, d.size));
    return nullptr;
  }
  if (e->sha256 != d.digest) {
    problems.push_back(fmt::format("{} {} is corrupt: its content hashes to {}", what, d.digest.str(), e->sha256.str()));
    return nullptr;
  }
  return e;
}

// The diff_ids of an image config entry `config` (nullptr: absent or corrupt,
// already reported), one per layer of `m`; nullopt when there is nothing to compare
// with (a problem is added when the config is an image config that does not fit).
std::optional<std::vector<digest::Digest>> config_diff_ids(const ArchiveScan& scan, const ScannedEntry* config,
                                                           const manifest::ImageManifest& m, ArchiveImage& img) {
  if (!config) return std::nullopt;
  const std::string& type = m.config.media_type;
  if (type != manifest::media::kOciConfig && type != manifest::media::kDockerConfig) return std::nullopt;  // an artifact
  auto bytes = scan.read(*config, manifest::kMaxConfigSize);
  if (!bytes) return img.problems.push_back(bytes.error().message), std::nullopt;
  auto parsed = manifest::parse_config(*bytes);
  if (!parsed) {
    img.problems.push_back(fmt::format("config {}: {}", m.config.digest.str(), parsed.error().message));
    return std::nullopt;
  }
  if (parsed->diff_ids.size() != m.layers.size()) {
    img.problems.push_back(fmt::format("manifest {} lists {} layers, its config has {} diff_ids", img.manifest->digest.str(),
                                       m.layers.size(), parsed->diff_ids.size()));
    return std::nullopt;
  }
  return std::move(parsed->diff_ids);
}

// A layer found through a manifest: content of the declared compression, and
// (when the config gave one) the right diff_id.
void check_layer(const ScannedEntry& e, const manifest::Descriptor& layer, const digest::Digest* want,
                 ArchiveImage& img) {
  codec::Compression declared = codec::declared_compression(layer.media_type);
  if (is_image_layer_type(layer.media_type) && declared != e.compression) {
    img.problems.push_back(fmt::format("layer {} is declared {} but its content is {}", layer.digest.str(),
                                       layer.media_type, codec::to_string(e.compression)));
    return;
  }
  if (want) check_diff_id(e, layer.digest.str(), *want, img);
}

void walk_oci(const ArchiveScan& scan, const manifest::Descriptor& d, size_t depth, ArchiveImage base,
              std::vector<ArchiveImage>& out, const Omitted& omitted) {
  if (depth > manifest::kMaxDepth) {
    base.problems.push_back("indexes nested too deep");
    out.push_back(std::move(base));
    return;
  }
  const ScannedEntry* e = check_blob(scan, d, "manifest", base.problems);
  if (!e) return out.push_back(std::move(base));
  auto bytes = scan.read(*e, manifest::kMaxManifestSize);
  if (!bytes) return base.problems.push_back(bytes.error().message), out.push_back(std::move(base));
  auto parsed = manifest::parse(*bytes, d.media_type);
  if (!parsed) {
    base.problems.push_back(fmt::format("manifest {}: {}", d.digest.str(), parsed.error().message));
    return out.push_back(std::move(base));
  }
  if (auto* index = std::get_if<manifest::Index>(&*parsed)) {
    for (const auto& child : index->manifests) {
      if (!manifest::is_image_manifest_type(child.media_type) && !manifest::is_index_type(child.media_type)) continue;
      ArchiveImage img = base;
      if (child.platform) img.name = base.name + " " + child.platform->str();
      if (!scan.find(blob_entry(child.digest)) && !manifest::is_image_entry(child)) continue;
      walk_oci(scan, child, depth + 1, std::move(img), out, omitted);
    }
    return;
  }
  auto& m = std::get<manifest::ImageManifest>(*parsed);
  base.manifest = d;
  base.artifact = manifest::is_artifact(m);
  base.config_digest = m.config.digest;
  base.config_entry = blob_entry(m.config.digest);
  auto diff_ids = config_diff_ids(scan, check_blob(scan, m.config, "config", base.problems), m, base);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto& layer = m.layers[i];
    std::string name = blob_entry(layer.digest);
    if (manifest::is_foreign_layer(layer) && !scan.find(name)) {
      base.layer_entries.push_back("");
    } else {
      bool left_out = !scan.find(name) && omitted.contains(layer.digest);
      const ScannedEntry* blob = check_blob(scan, layer, "layer", base.problems, omitted);
      base.layer_entries.push_back(left_out ? "" : name);
      if (blob) check_layer(*blob, layer, diff_ids ? &(*diff_ids)[i] : nullptr, base);
    }
    base.layers.push_back(layer);
  }
  out.push_back(std::move(base));
}

// A name an archive gives an image must be a reference with a tag or digest
// (what import records); anything else is named as a problem, never dropped.
std::optional<std::string> bad_reference(std::string_view where, std::string_view name) {
  auto r = reference::parse(name);
  if (r && (!r->tag.empty() || r->digest)) return std::nullopt;
  return fmt::format("{}: \"{}\" is not a reference with a tag or digest{}", where, core::printable(name),
                     r ? "" : ": " + r.error().message);
}

void check_oci(const ArchiveScan& scan, const ScannedEntry& index_entry, ArchiveReport& r) {
  auto bytes = scan.read(index_entry, manifest::kMaxManifestSize);
  if (!bytes) return r.problems.push_back("index.json: " + bytes.error().message);
  auto parsed = manifest::parse(*bytes, manifest::media::kOciIndex);
  if (!parsed || !std::holds_alternative<manifest::Index>(*parsed)) {
    return r.problems.push_back("index.json: " + (parsed ? std::string("not an index") : parsed.error().message));
  }
  for (const auto& d : std::get<manifest::Index>(*parsed).manifests) {
    ArchiveImage img;
    for (auto key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
      if (auto it = d.annotations.find(key); it != d.annotations.end() && img.name.empty()) img.name = it->second;
    }
    // A ref.name without ':' is a tag alone (the OCI layout's own use): a display
    // name, not a reference. Anything that looks like a reference must parse.
    std::optional<std::string> bad;
    if (auto it = d.annotations.find("io.containerd.image.name"); it != d.annotations.end()) {
      bad = bad_reference("index.json io.containerd.image.name", it->second);
      if (!bad) img.ref_names.push_back(it->second);
    } else if (auto ref = d.annotations.find("org.opencontainers.image.ref.name"); ref != d.annotations.end() &&
                                                                                 ref->second.find(':') != std::string::npos) {
      bad = bad_reference("index.json org.opencontainers.image.ref.name", ref->second);
      if (!bad) img.ref_names.push_back(ref->second);
    }
    if (bad) r.problems.push_back(*bad);
    if (img.name.empty()) img.name = short_name(d.digest);
    if (d.platform && !d.platform->os.empty()) img.name += " " + d.platform->str();
    img.entry = d;
    walk_oci(scan, d, 0, std::move(img), r.images, r.omitted);
  }
}

// One manifest.json item: Config, RepoTags, Layers.
ArchiveImage check_docker_item(const ArchiveScan& scan, const nlohmann::json& item, const Omitted& omitted) {
  ArchiveImage img;
  auto str_of = [&](const char* key) -> std::string {
    return item.contains(key) && item[key].is_string() ? item[key].get<std::string>() : std::string();
  };
  img.config_entry = str_of("Config");
  // RepoTags may be absent or null (an untagged `docker save IMAGE-ID`); otherwise
  // every entry must be a reference, or the image would land under no name.
  if (item.contains("RepoTags") && !item["RepoTags"].is_null()) {
    if (!item["RepoTags"].is_array()) {
      img.problems.push_back("manifest.json: RepoTags is not a list");
    } else {
      for (const auto& t : item["RepoTags"]) {
        if (!t.is_string()) {
          img.problems.push_back(fmt::format("manifest.json: RepoTags entry {} is not a string", core::printable(t.dump())));
        } else if (auto bad = bad_reference("manifest.json RepoTags", t.get<std::string>())) {
          img.problems.push_back(*bad);
        } else {
          img.ref_names.push_back(t.get<std::string>());
        }
      }
    }
  }
  img.name = img.ref_names.empty() ? img.config_entry : img.ref_names.front();
  const ScannedEntry* config = img.config_entry.empty() ? nullptr : scan.find(img.config_entry);
  if (!config) {
    img.problems.push_back(fmt::format("config {} is missing", img.config_entry.empty() ? "(none named)" : img.config_entry));
    return img;
  }
  img.config_digest = config->sha256;
  if (img.ref_names.empty()) img.name = short_name(config->sha256);
  // A config named by its digest must hash to it: blobs/sha256/<hex> or <hex>.json.
  std::string base = fs::path(config->entry.name).filename().string();
  if (base.ends_with(".json")) base.resize(base.size() - 5);
  auto named = digest::Digest::parse("sha256:" + base);
  if (named && *named != config->sha256) {
    img.problems.push_back(fmt::format("config {} is corrupt: its content hashes to {}", config->entry.name,
                                       config->sha256.str()));
    return img;
  }
  auto bytes = scan.read(*config, manifest::kMaxConfigSize);
  if (!bytes) return img.problems.push_back(bytes.error().message), img;
  auto parsed = manifest::parse_config(*bytes);
  if (!parsed) return img.problems.push_back(fmt::format("config {}: {}", config->entry.name, parsed.error().message)), img;
  std::vector<std::string> layers;
  if (item.contains("Layers") && item["Layers"].is_array()) {
    for (const auto& l : item["Layers"]) layers.push_back(l.is_string() ? l.get<std::string>() : "");
  }
  if (layers.size() != parsed->diff_ids.size()) {
    img.problems.push_back(fmt::format("manifest.json lists {} layers, the config has {} diff_ids", layers.size(),
                                       parsed->diff_ids.size()));
    return img;
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const digest::Digest& want = parsed->diff_ids[i];
    const ScannedEntry* layer = layers[i].empty() ? nullptr : scan.find(layers[i]);
    img.layer_entries.push_back(layers[i]);
    if (auto left_out = digest_of_blob_name(layers[i]); !layer && left_out && omitted.contains(*left_out)) {
      img.layer_entries.back().clear();  // a delta bundle left it out
      img.layers.push_back({"", *left_out, omitted.at(*left_out), std::nullopt, {}, {}});
      continue;
    }
    if (!layer) {
      img.problems.push_back(fmt::format("layer {} (diff_id {}) is missing", layers[i], want.str()));
      continue;
    }
    manifest::Descriptor d{std::string(layer_type_of(layer->compression)), layer->sha256,
                           static_cast<int64_t>(layer->entry.size), std::nullopt, {}, {}};
    if (layer->named_by_digest && !layer->matches_name) {
      img.problems.push_back(fmt::format("layer {} is corrupt: its content hashes to {}", layers[i], layer->sha256.str()));
    } else {
      check_diff_id(*layer, layers[i], want, img);
    }
    img.layers.push_back(std::move(d));
  }
  return img;
}

void check_docker(const ArchiveScan& scan, const ScannedEntry& manifest_json, ArchiveReport& r) {
  auto bytes = scan.read(manifest_json, kMaxJsonSize);
  if (!bytes) return r.problems.push_back("manifest.json: " + bytes.error().message);
  auto doc = nlohmann::json::parse(*bytes, nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) return r.problems.push_back("manifest.json: not a JSON list");
  for (const auto& item : doc) {
    if (!item.is_object()) {
      r.problems.push_back("manifest.json: an item is not an object");
      continue;
    }
    r.images.push_back(check_docker_item(scan, item, r.omitted));
  }
}

std::optional<manifest::Descriptor> descriptor_from(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string()) return std::nullopt;
  auto d = digest::Digest::parse(j["digest"].get<std::string>());
  if (!d) return std::nullopt;
  manifest::Descriptor out{j.value("mediaType", ""), *d, j.value("size", int64_t{-1}), std::nullopt, {}, {}};
  if (out.size < 0) return std::nullopt;
  if (!manifest::is_image_manifest_type(out.media_type) && !manifest::is_index_type(out.media_type)) return std::nullopt;
  if (j.contains("platform") && j["platform"].is_object()) {
    const auto& p = j["platform"];
    out.platform = manifest::Platform{p.value("os", ""), p.value("architecture", ""), p.value("variant", ""),
                                      p.value("os.version", "")};
  }
  return out;
}

// ferry-bundle.json: the images by reference and the layers a delta left out.
void read_bundle(const ArchiveScan& scan, const ScannedEntry& e, ArchiveReport& r) {
  auto bytes = scan.read(e, kMaxJsonSize);
  if (!bytes) return r.problems.push_back(std::string(kBundleFile) + ": " + bytes.error().message);
  auto doc = nlohmann::json::parse(*bytes, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("ferryBundle", 0) != kBundleVersion) {
    return r.problems.push_back(std::string(kBundleFile) + ": not a ferry bundle description (version 1)");
  }
  r.bundle = true;
  r.since = doc.value("since", "");
  for (const auto& img : doc.value("images", nlohmann::json::array())) {
    auto d = img.is_object() ? descriptor_from(img.value("manifest", nlohmann::json())) : std::nullopt;
    std::string ref = img.is_object() && img.contains("reference") && img["reference"].is_string()
                          ? img["reference"].get<std::string>()
                          : "";
    if (!d || ref.empty()) {
      r.problems.push_back(std::string(kBundleFile) + ": an image entry lacks a reference or a manifest descriptor");
      continue;
    }
    if (auto bad = bad_reference(std::string(kBundleFile) + " reference", ref)) {
      r.problems.push_back(*bad);
      continue;
    }
    // A referrer (signature, SBOM) names its subject: import records it as one.
    if (img.contains("referrerOf")) {
      const auto& of = img["referrerOf"];
      if (!of.is_string()) {
        r.problems.push_back(std::string(kBundleFile) + ": referrerOf of " + ref + " is not a string");
        continue;
      }
      if (auto bad = bad_reference(std::string(kBundleFile) + " referrerOf", of.get<std::string>())) {
        r.problems.push_back(*bad);
        continue;
      }
      d->annotations[std::string(store::kReferrerOfAnnotation)] = of.get<std::string>();
      if (img.contains("subject")) {
        const auto& subject = img["subject"];
        auto sd = subject.is_string() ? digest::Digest::parse(subject.get<std::string>())
                                      : core::Result<digest::Digest>(core::fail(core::ErrorKind::InvalidInput, ""));
        if (!sd) {
          r.problems.push_back(std::string(kBundleFile) + ": subject of referrer " + ref + " is not a digest: " +
                               core::printable(subject.dump(), 80));
          continue;
        }
        d->annotations[std::string(store::kReferrerSubjectAnnotation)] = sd->str();
      }
    }
    r.bundle_images.emplace_back(ref, *d);
  }
  for (const auto& o : doc.value("omitted", nlohmann::json::array())) {
    auto d = o.is_object() && o.contains("digest") && o["digest"].is_string()
                 ? digest::Digest::parse(o["digest"].get<std::string>())
                 : core::Result<digest::Digest>(core::fail(core::ErrorKind::InvalidInput, "no digest"));
    int64_t size = o.is_object() ? o.value("size", int64_t{-1}) : -1;
    if (!d || size < 0) {
      r.problems.push_back(std::string(kBundleFile) + ": an omitted entry lacks a valid digest or size");
      continue;
    }
    r.omitted[*d] = size;
  }
}

}  // namespace

ArchiveReport check_archive(const ArchiveScan& scan) {
  ArchiveReport r;
  r.problems = scan.problems();
  for (const auto& [name, e] : scan.entries()) {
    if (!e.named_by_digest) continue;
    if (e.entry.type != '0' && !e.link_target) {
      r.problems.push_back(fmt::format("{} is a link to {}, which is no regular file inside the archive", name,
                                       core::printable(e.entry.link)));
    } else if (e.matches_name) {
      r.good_blobs.insert(e.sha256);
    } else {
      r.problems.push_back(fmt::format("{}{} is corrupt: its content hashes to {}", name,
                                       e.link_target ? " (a link to " + e.link_target->entry.name + ")" : "",
                                       e.sha256.str()));
    }
  }
  if (const ScannedEntry* bundle = scan.find(std::string(kBundleFile))) read_bundle(scan, *bundle, r);
  const ScannedEntry* manifest_json = scan.find("manifest.json");
  const ScannedEntry* index_json = scan.find("index.json");
  if (manifest_json) {
    r.format = "docker-archive";
    check_docker(scan, *manifest_json, r);
    // Docker 25+ and ferry also write index.json; it must hold up too (reported
    // only when manifest.json's images are fine, so a fault is named once).
    if (index_json) {
      bool docker_ok = r.ok();
      ArchiveReport oci;
      oci.omitted = r.omitted;
      check_oci(scan, *index_json, oci);
      for (const auto& p : oci.problems) {
        if (docker_ok) r.problems.push_back("index.json: " + p);
      }
      for (const auto& img : oci.images) {
        for (const auto& p : img.problems) {
          if (docker_ok) r.problems.push_back(fmt::format("index.json {}: {}", img.name, p));
        }
      }
      r.index_images = std::move(oci.images);
    }
  } else if (index_json) {
    r.format = "oci-archive";
    check_oci(scan, *index_json, r);
    r.index_images = r.images;
  } else {
    r.format = "unknown";
    if (scan.problems().empty()) r.problems.push_back("neither manifest.json nor index.json: not an image archive");
  }
  if (r.format != "unknown" && r.images.empty() && r.index_images.empty() && r.bundle_images.empty() &&
      r.problems.empty()) {
    // Nothing to load: "consistent" would tell the far side it got what it asked for.
    const char* list = r.format == "docker-archive" ? "manifest.json" : "index.json";
    r.problems.push_back(fmt::format("holds no image: {} lists none", list));
  }
  // ferry-bundle.json's references become index.json entries of the store that
  // imports it: each must name a manifest the archive holds, intact.
  for (const auto& [ref, d] : r.bundle_images) {
    const ScannedEntry* e = scan.find(blob_entry(d.digest));
    if (!e || !r.good_blobs.contains(d.digest) || d.size < 0 || e->entry.size != static_cast<uint64_t>(d.size)) {
      r.problems.push_back(fmt::format("{}: {} names manifest {} ({} bytes), which the archive does not hold intact",
                                       kBundleFile, ref, d.digest.str(), d.size));
      continue;
    }
    // The whole image behind the reference, as for index.json: its config and every
    // layer present (or left out by the delta), so that import never points a
    // reference at content neither the archive nor the store has.
    ArchiveImage img;
    img.name = ref;
    img.entry = d;
    std::vector<ArchiveImage> walked;
    walk_oci(scan, d, 0, std::move(img), walked, r.omitted);
    for (const auto& w : walked) {
      for (const auto& p : w.problems) r.problems.push_back(fmt::format("{}: {}: {}", kBundleFile, w.name, p));
    }
  }
  return r;
}

}  // namespace ferry::exporter
