// Store: opening the layout, blob lookups, small-blob commits and index.json.
#include "store/store.h"

#include <fcntl.h>
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

namespace {
std::string_view area_name(Area a) {
  switch (a) {
    case Area::Root: return "";
    case Area::Blobs: return "blobs/sha256";
    case Area::Ingest: return "ingest";
    case Area::State: return "state";
  }
  return "";
}
}  // namespace

core::Result<Store> Store::open(const fs::path& root_in, bool create) {
  std::error_code ec;
  fs::path root = fs::absolute(root_in, ec);
  if (ec) root = root_in;
  // "store/" -> "store": with a trailing slash, open(2) would follow a link there.
  while (!root.has_filename() && root.has_relative_path()) root = root.parent_path();
  const fs::path layout = root / "oci-layout";
  // The root itself: a link the user named is refused like one planted inside;
  // the directories above it are the user's to choose.
  struct stat sb {};
  const bool exists = ::lstat(root.c_str(), &sb) == 0;
  if (!exists && !create) {
    return core::fail(core::ErrorKind::NotFound, fmt::format("no store at {} (no oci-layout file)", root.string()));
  }
  if (!exists) {
    if (auto st = ensure_real_dir(root); !st) return core::fail(st.error());
  }
  auto root_fd = open_real_dir(root);
  if (!root_fd) return core::fail(root_fd.error());
  auto dirs = std::make_shared<StoreDirs>();
  dirs->root = std::move(*root_fd);
  const int rfd = dirs->root.get();
  auto text = read_file_at(rfd, "oci-layout", 4096, layout);
  if (text) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("imageLayoutVersion", "") != kLayoutVersion) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{}: not an OCI image layout version {}", layout.string(), kLayoutVersion));
    }
  } else if (text.error().kind != core::ErrorKind::NotFound) {
    return core::fail(text.error());
  } else {
    if (!create) {
      return core::fail(core::ErrorKind::NotFound, fmt::format("no store at {} (no oci-layout file)", root.string()));
    }
    auto entries = list_dir(rfd, root);
    if (!entries) return core::fail(entries.error());
    if (!entries->empty()) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{} is not empty and not an OCI image layout; refusing to use it as a store",
                                    root.string()));
    }
  }
  auto blobs = open_real_dir_at(rfd, "blobs", root / "blobs", true);
  if (!blobs) return core::fail(blobs.error());
  auto sha = open_real_dir_at(blobs->get(), "sha256", root / "blobs" / "sha256", true);
  if (!sha) return core::fail(sha.error());
  dirs->blobs = std::move(*sha);
  auto ingest = open_real_dir_at(rfd, "ingest", root / "ingest", true);
  if (!ingest) return core::fail(ingest.error());
  dirs->ingest = std::move(*ingest);
  auto state = open_real_dir_at(rfd, "state", root / "state", true);
  if (!state) return core::fail(state.error());
  dirs->state = std::move(*state);
  Store store(root, std::move(dirs));
  if (::fstatat(rfd, "index.json", &sb, AT_SYMLINK_NOFOLLOW) != 0) {
    if (auto st = store.write_file(Area::Root, "index.json", kEmptyIndex); !st) return core::fail(st.error());
  }
  if (!text) {
    auto st = store.write_file(Area::Root, "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    if (!st) return core::fail(st.error());
  }
  return store;
}

int Store::fd(Area a) const {
  switch (a) {
    case Area::Root: return dirs_->root.get();
    case Area::Blobs: return dirs_->blobs.get();
    case Area::Ingest: return dirs_->ingest.get();
    case Area::State: return dirs_->state.get();
  }
  return -1;
}

fs::path Store::area_path(Area a, std::string_view name) const {
  fs::path p = a == Area::Root ? root_ : root_ / area_name(a);
  if (!name.empty()) p /= name;
  return p;
}

fs::path Store::blob_path(const digest::Digest& d) const { return area_path(Area::Blobs, d.hex()); }

core::Result<core::UniqueFd> Store::open_blob(const digest::Digest& d) const {
  return open_regular_at(fd(Area::Blobs), d.hex(), O_RDONLY, blob_path(d));
}

core::Result<bool> Store::link_blob(const digest::Digest& d, const fs::path& dst) const {
  // The entry must be a regular file: linkat(2) without AT_SYMLINK_FOLLOW would
  // link a planted link as a link, which an export must not carry either.
  struct stat sb {};
  const std::string hex(d.hex());
  if (::fstatat(fd(Area::Blobs), hex.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) {
    return core::fail(core::errno_error("stat", blob_path(d).string(), errno));
  }
  if (!S_ISREG(sb.st_mode)) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: is not a regular file; ferry does not follow links here",
                                  blob_path(d).string()));
  }
  if (::linkat(fd(Area::Blobs), hex.c_str(), AT_FDCWD, dst.c_str(), 0) == 0) return true;
  const int err = errno;
  if (err == EXDEV || err == EPERM || err == EMLINK || err == ENOTSUP || err == EACCES) return false;
  return core::fail(core::errno_error(fmt::format("link {} to", blob_path(d).string()), dst.string(), err));
}

core::Result<core::UniqueFd> Store::open_file(Area a, std::string_view name, int flags) const {
  return open_regular_at(fd(a), name, flags, area_path(a, name));
}

core::Result<std::string> Store::read_file(Area a, std::string_view name, uint64_t max_size) const {
  return read_file_at(fd(a), name, max_size, area_path(a, name));
}

core::Status Store::write_file(Area a, std::string_view name, std::string_view content) const {
  return write_file_atomic_at(fd(a), name, content, area_path(a, name));
}

core::Status Store::remove_file(Area a, std::string_view name) const {
  const std::string n(name);
  if (n.empty() || n.find('/') != std::string::npos) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: not a plain file name inside its directory", area_path(a, name).string()));
  }
  if (::unlinkat(fd(a), n.c_str(), 0) != 0 && errno != ENOENT) {
    return core::fail(core::errno_error("remove", area_path(a, name).string(), errno));
  }
  return {};
}

core::Status Store::sync(Area a) const { return fsync_dir_fd(fd(a), area_path(a)); }

core::Result<std::vector<DirEntry>> Store::list(Area a) const { return list_dir(fd(a), area_path(a)); }

bool Store::has_blob(const digest::Digest& d, int64_t size) const {
  struct stat sb {};
  // No link followed: a link planted in blobs/ is not a blob (verify names it).
  const std::string hex(d.hex());
  if (::fstatat(fd(Area::Blobs), hex.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) return false;
  return size < 0 || sb.st_size == size;
}

core::Result<std::string> Store::read_blob(const digest::Digest& d, uint64_t max_size) const {
  auto data = read_file(Area::Blobs, d.hex(), max_size);
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
  return write_file(Area::Blobs, d.hex(), bytes);
}

core::Result<std::vector<IndexEntry>> Store::read_index() const {
  auto text = read_file(Area::Root, "index.json", kMaxIndexSize);
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
  return write_file(Area::Root, "index.json", index.dump(2) + "\n");
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
