// Store: opening the layout, blob lookups, small-blob commits and index.json.
#include "store/store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/fs_util.h"

namespace ferry::store {

namespace {
constexpr std::string_view kLayoutVersion = "1.0.0";
constexpr uint64_t kMaxIndexSize = 64 << 20;  // index.json of a very large mirror, far beyond real use
constexpr std::string_view kEmptyIndex =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";

nlohmann::json descriptor_json(const manifest::Descriptor& d) {
  nlohmann::json j{{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
  if (d.platform) {
    nlohmann::json p{{"os", d.platform->os}, {"architecture", d.platform->architecture}};
    if (!d.platform->variant.empty()) p["variant"] = d.platform->variant;
    if (!d.platform->os_version.empty()) p["os.version"] = d.platform->os_version;
    j["platform"] = p;
  }
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  return j;
}

core::Result<manifest::Descriptor> descriptor_from_json(const nlohmann::json& j) {
  manifest::Descriptor d;
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string() || !j.contains("size") ||
      !j["size"].is_number_integer()) {
    return core::fail(core::ErrorKind::InvalidInput, "index.json: descriptor without digest or size");
  }
  auto dg = digest::Digest::parse(j["digest"].get<std::string>());
  if (!dg) return core::fail(dg.error().context("index.json"));
  d.digest = *dg;
  d.size = j["size"].get<int64_t>();
  d.media_type = j.value("mediaType", "");
  if (j.contains("platform") && j["platform"].is_object()) {
    const auto& p = j["platform"];
    d.platform = manifest::Platform{p.value("os", ""), p.value("architecture", ""), p.value("variant", ""),
                                    p.value("os.version", "")};
  }
  if (j.contains("annotations") && j["annotations"].is_object()) {
    for (const auto& [k, v] : j["annotations"].items()) {
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
    }
  }
  return d;
}
}  // namespace

core::Result<Store> Store::open(const fs::path& root_in, bool create) {
  std::error_code ec;
  fs::path root = fs::absolute(root_in, ec);
  if (ec) root = root_in;
  const fs::path layout = root / "oci-layout";
  if (fs::exists(layout, ec)) {
    auto text = read_file(layout, 4096);
    if (!text) return core::fail(text.error());
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("imageLayoutVersion", "") != kLayoutVersion) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{}: not an OCI image layout version {}", layout.string(), kLayoutVersion));
    }
  } else {
    if (!create) {
      return core::fail(core::ErrorKind::NotFound, fmt::format("no store at {} (no oci-layout file)", root.string()));
    }
    if (fs::exists(root, ec) && !fs::is_empty(root, ec)) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{} is not empty and not an OCI image layout; refusing to use it as a store",
                                    root.string()));
    }
  }
  for (const char* sub : {"", "blobs", "blobs/sha256", "ingest", "state"}) {
    if (auto st = ensure_real_dir(*sub ? root / sub : root); !st) return core::fail(st.error());
  }
  if (!fs::exists(root / "index.json", ec)) {
    if (auto st = write_file_atomic(root / "index.json", kEmptyIndex); !st) return core::fail(st.error());
  }
  if (!fs::exists(layout, ec)) {
    auto st = write_file_atomic(layout, R"({"imageLayoutVersion":"1.0.0"})");
    if (!st) return core::fail(st.error());
  }
  return Store(root);
}

fs::path Store::blob_path(const digest::Digest& d) const {
  return root_ / "blobs" / "sha256" / std::string(d.hex());
}

bool Store::has_blob(const digest::Digest& d, int64_t size) const {
  struct stat sb {};
  // lstat: a link planted in blobs/ is not a blob (verify names it).
  if (::lstat(blob_path(d).c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
  return size < 0 || sb.st_size == size;
}

core::Result<std::string> Store::read_blob(const digest::Digest& d, uint64_t max_size) const {
  auto data = read_file(blob_path(d), max_size);
  if (!data) return core::fail(data.error().context(fmt::format("blob {}", d.str())));
  return data;
}

core::Status Store::put_blob(const digest::Digest& d, std::string_view bytes) {
  const digest::Digest actual = digest::sha256_of(bytes);
  if (actual != d) {
    return core::fail(core::ErrorKind::DigestMismatch,
                      fmt::format("content for {} hashes to {}", d.str(), actual.str()));
  }
  if (has_blob(d, static_cast<int64_t>(bytes.size()))) return {};
  return write_file_atomic(blob_path(d), bytes);
}

core::Result<std::vector<IndexEntry>> Store::read_index() const {
  auto text = read_file(root_ / "index.json", kMaxIndexSize);
  if (!text) return core::fail(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("manifests") || !j["manifests"].is_array()) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}/index.json: not an OCI index", root_.string()));
  }
  std::vector<IndexEntry> out;
  for (const auto& m : j["manifests"]) {
    auto d = descriptor_from_json(m);
    if (!d) return core::fail(d.error());
    IndexEntry e{*d, {}};
    if (auto it = d->annotations.find(std::string(kRefNameAnnotation)); it != d->annotations.end()) {
      e.ref_name = it->second;
    }
    out.push_back(std::move(e));
  }
  return out;
}

core::Status Store::upsert_index(const std::vector<IndexEntry>& entries) {
  auto current = read_index();
  if (!current) return core::fail(current.error());
  // A reference may map to several entries (one per platform): replace the whole group.
  std::set<std::string_view> replaced;
  for (const auto& e : entries) replaced.insert(e.ref_name);
  std::erase_if(*current, [&](const IndexEntry& c) { return replaced.contains(c.ref_name); });
  current->insert(current->end(), entries.begin(), entries.end());
  return replace_index(*current);
}

core::Status Store::replace_index(const std::vector<IndexEntry>& entries) {
  nlohmann::json manifests = nlohmann::json::array();
  for (IndexEntry e : entries) {
    e.descriptor.annotations[std::string(kRefNameAnnotation)] = e.ref_name;
    manifests.push_back(descriptor_json(e.descriptor));
  }
  nlohmann::json index{{"schemaVersion", 2},
                       {"mediaType", "application/vnd.oci.image.index.v1+json"},
                       {"manifests", manifests}};
  return write_file_atomic(root_ / "index.json", index.dump(2) + "\n");
}

std::string referrer_of(const manifest::Descriptor& d) {
  auto it = d.annotations.find(std::string(kReferrerOfAnnotation));
  return it == d.annotations.end() ? std::string() : it->second;
}

std::vector<ReferenceEntries> group_by_reference(const std::vector<IndexEntry>& entries) {
  std::vector<ReferenceEntries> out;
  std::map<std::string, size_t> at;
  for (const auto& e : entries) {
    auto [it, added] = at.emplace(e.ref_name, out.size());
    if (added) out.push_back({e.ref_name, {}, referrer_of(e.descriptor)});
    out[it->second].descriptors.push_back(e.descriptor);
  }
  return out;
}

std::vector<std::string> referrers_of(const std::vector<ReferenceEntries>& refs, const std::string& subject) {
  std::vector<std::string> out;
  for (const auto& r : refs) {
    if (r.referrer_of == subject) out.push_back(r.ref_name);
  }
  return out;
}

}  // namespace ferry::store
