// ExportSetBuilder: generation directories behind one symlink, switched atomically.
#include "airgap/export_set.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "digest/digest.h"
#include "export/fs_output.h"
#include "store/fs_util.h"

namespace ferry::airgap {

// Archive formats, readers and checks stay in export; this is the workflow over them.
using namespace ferry::exporter;

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr uint64_t kMaxContentsSize = 64ull << 20;  // ~200k files; a real set has tens
constexpr std::string_view kLockName = "lock";

fs::path parent_of(const fs::path& p) {
  fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

std::string utc_stamp(const char* format) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// Names ferry writes into an export directory (older versions included).
bool is_ferry_file(const std::string& name) {
  if (name == kContentsFile || name == kSumsFile) return true;
  if (name.size() > 4 && name.ends_with(".tar")) return true;
  return name.find(".tar.tmp.") != std::string::npos;  // an interrupted write
}

core::Status check_migratable(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (fs::is_regular_file(it->symlink_status(ec)) && is_ferry_file(name)) continue;  // a link is not ours
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("export directory {} holds {}, which ferry did not write; ferry replaces the "
                                  "export directory by a symlink to a generation of files: move that file away "
                                  "or choose another export directory",
                                  dir.string(), it->path().string()));
  }
  if (ec) return core::fail(core::errno_error("list", dir.string(), ec.value()));
  return {};
}

core::Result<std::map<std::string, ExportFileInfo>> read_current(const fs::path& dir) {
  std::map<std::string, ExportFileInfo> out;
  auto text = store::read_file(dir / kContentsFile, kMaxContentsSize);
  if (!text) {
    if (text.error().kind == core::ErrorKind::NotFound) return out;
    return core::fail(std::move(text.error()));
  }
  auto files = parse_contents(*text, (dir / kContentsFile).string());
  if (!files) return out;  // unreadable: nothing is reused, everything is rewritten
  for (auto& f : *files) out[f.file] = std::move(f);
  return out;
}

// Removes a generation; errors are ignored (the next commit tries again).
void remove_tree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

}  // namespace

std::string contents_json(const std::vector<ExportFileInfo>& files, std::string_view created) {
  ordered_json list = ordered_json::array();
  for (const auto& f : files) {
    ordered_json j;
    j["reference"] = f.reference;
    j["file"] = f.file;
    j["format"] = f.format;
    j["manifests"] = f.manifests;
    j["platforms"] = f.platforms;
    j["size"] = f.size;
    j["sha256"] = f.sha256;
    list.push_back(std::move(j));
  }
  ordered_json doc;
  doc["ferryExport"] = kContentsVersion;
  doc["created"] = created;
  doc["files"] = std::move(list);
  return doc.dump(2) + "\n";
}

core::Result<std::vector<ExportFileInfo>> parse_contents(std::string_view text, std::string_view source) {
  auto bad = [&](std::string_view why) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("{}: {}", source, why));
  };
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  if (!doc.contains("ferryExport") || doc["ferryExport"] != kContentsVersion) return bad("not a ferry CONTENTS.json v1");
  if (!doc.contains("files") || !doc["files"].is_array()) return bad("no \"files\" list");
  std::vector<ExportFileInfo> out;
  try {
    for (const auto& j : doc["files"]) {
      ExportFileInfo f;
      f.reference = j.at("reference").get<std::string>();
      f.file = j.at("file").get<std::string>();
      f.format = j.at("format").get<std::string>();
      f.manifests = j.at("manifests").get<std::vector<std::string>>();
      f.platforms = j.at("platforms").get<std::vector<std::string>>();
      f.size = j.at("size").get<uint64_t>();
      f.sha256 = j.at("sha256").get<std::string>();
      if (f.file.empty() || f.file.find('/') != std::string::npos || f.file[0] == '.') {
        return bad(fmt::format("file name \"{}\" is not a plain name", f.file));
      }
      out.push_back(std::move(f));
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(fmt::format("malformed file entry: {}", e.what()));
  }
  return out;
}

std::string sums_text(const std::map<std::string, std::string>& hex_by_name) {
  std::string out;
  for (const auto& [name, hex] : hex_by_name) out += fmt::format("{}  {}\n", hex, name);
  return out;
}

core::Result<std::vector<fs::path>> list_tarballs(const fs::path& dir) {
  std::vector<fs::path> tars;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".tar" && fs::is_regular_file(it->symlink_status(ec))) tars.push_back(it->path());
  }
  if (ec) return core::fail(core::errno_error("list", dir.string(), ec.value()));
  std::sort(tars.begin(), tars.end());
  return tars;
}

std::vector<std::string> check_sums(const fs::path& dir) {
  std::vector<std::string> problems;
  auto text = store::read_file(dir / kSumsFile, kMaxContentsSize);
  if (!text) return {fmt::format("{}: {}", (dir / kSumsFile).string(), text.error().message)};
  std::set<std::string> listed;
  size_t line_no = 0;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    std::string_view line(text->data() + start, end - start);
    start = end + 1;
    ++line_no;
    if (line.empty()) continue;
    bool hex_ok = line.size() > 66 && std::all_of(line.begin(), line.begin() + 64, [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    if (!hex_ok || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
      problems.push_back(fmt::format("SHA256SUMS line {}: not \"<sha256>  <name>\"", line_no));
      continue;
    }
    std::string name(line.substr(66));
    std::string want(line.substr(0, 64));
    if (name.find('/') != std::string::npos || name == "." || name == ".." || name.empty()) {
      problems.push_back(fmt::format("SHA256SUMS line {}: \"{}\" is not a plain file name", line_no, name));
      continue;
    }
    listed.insert(name);
    std::error_code ec;
    const auto st = fs::symlink_status(dir / name, ec);
    if (fs::is_symlink(st)) {
      problems.push_back(fmt::format("{}: is a symbolic link; ferry does not follow links here", name));
      continue;
    }
    if (!fs::is_regular_file(st)) {
      problems.push_back(fmt::format("{}: missing (listed in SHA256SUMS)", name));
      continue;
    }
    auto got = hash_file(dir / name);
    if (!got) {
      problems.push_back(fmt::format("{}: {}", name, got.error().message));
    } else if (got->first != want) {
      problems.push_back(fmt::format("{}: checksum mismatch (SHA256SUMS says {}, the file hashes to {})", name,
                                     want.substr(0, 12), got->first.substr(0, 12)));
    }
  }
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), e; !ec && it != e; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name != kSumsFile && !listed.contains(name)) problems.push_back(fmt::format("{}: not listed in SHA256SUMS", name));
  }
  return problems;
}

core::Result<std::pair<std::string, uint64_t>> hash_file(const fs::path& path) {
  std::string buffer;
  auto opened = store::open_regular(path, O_RDONLY);  // a link or FIFO in the set is refused
  if (!opened) return core::fail(std::move(opened.error()));
  auto h = digest::sha256_of_fd(opened->get(), path.string(), buffer);
  if (!h) return core::fail(std::move(h.error()));
  return std::pair{std::string(h->digest.hex()), h->size};
}

core::Result<ExportSetBuilder> ExportSetBuilder::begin(const fs::path& export_path) {
  ExportSetBuilder b;
  b.export_ = export_path.has_filename() ? export_path : export_path.parent_path();
  if (b.export_.empty()) return core::fail(core::ErrorKind::InvalidInput, "export directory: empty path");
  const fs::path parent = parent_of(b.export_);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return core::fail(core::errno_error("create directory", parent.string(), ec.value()));
  const std::string base = b.export_.filename().string();
  b.sets_ = parent / ("." + base + ".sets");
  // A real directory others cannot write to: a link planted as the sets directory
  // would put every generation wherever it points.
  if (auto made = store::ensure_real_dir(b.sets_); !made) return core::fail(std::move(made.error()));

  fs::path lock = b.sets_ / kLockName;
  auto opened = store::open_regular(lock, O_RDWR | O_CREAT);  // never through a planted link
  if (!opened) return core::fail(std::move(opened.error()));
  b.lock_fd_ = opened->release();
  if (::flock(b.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return core::fail(core::ErrorKind::Unavailable,
                      fmt::format("export directory {} is being written by another ferry ({} is locked)",
                                  b.export_.string(), lock.string()));
  }

  auto st = fs::symlink_status(b.export_, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return core::fail(core::errno_error("stat", b.export_.string(), ec.value()));
  }
  if (fs::is_symlink(st)) {
    fs::path target = fs::read_symlink(b.export_, ec);
    if (ec) return core::fail(core::errno_error("readlink", b.export_.string(), ec.value()));
    if (target.parent_path() != fs::path("." + base + ".sets") || !target.has_filename()) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("export path {} is a symlink to {}, not one of ferry's generations; "
                                    "name the real directory instead",
                                    b.export_.string(), target.string()));
    }
    b.current_dir_ = b.sets_ / target.filename();
    if (auto gen = store::open_real_dir(b.current_dir_); !gen) return core::fail(std::move(gen.error()));
  } else if (fs::is_directory(st)) {
    if (auto chk = check_migratable(b.export_); !chk) return core::fail(std::move(chk.error()));
    b.current_dir_ = b.export_;
    b.migrate_ = true;
  } else if (fs::exists(st)) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("export path {} exists and is not a directory", b.export_.string()));
  }
  if (!b.current_dir_.empty()) {
    auto current = read_current(b.current_dir_);
    if (!current) return core::fail(std::move(current.error()));
    b.current_ = std::move(*current);
  }

  const std::string stamp = utc_stamp("%Y%m%dT%H%M%SZ");
  for (int n = 1;; ++n) {
    fs::path gen = b.sets_ / fmt::format("{}-{}", stamp, n);
    if (::mkdir(gen.c_str(), 0755) == 0) {
      b.gen_ = std::move(gen);
      break;
    }
    if (errno != EEXIST || n > 1000) return core::fail(core::errno_error("create directory", gen.string(), errno));
  }
  return b;
}

ExportSetBuilder::ExportSetBuilder(ExportSetBuilder&& o) noexcept
    : export_(std::move(o.export_)), sets_(std::move(o.sets_)), gen_(std::move(o.gen_)),
      current_dir_(std::move(o.current_dir_)), migrate_(o.migrate_), current_(std::move(o.current_)),
      files_(std::move(o.files_)), verified_(std::move(o.verified_)), files_mu_(std::move(o.files_mu_)),
      lock_fd_(o.lock_fd_),
      committed_(o.committed_) {
  o.lock_fd_ = -1;
  o.gen_.clear();
}

ExportSetBuilder::~ExportSetBuilder() {
  if (!committed_ && !gen_.empty()) remove_tree(gen_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::optional<ExportFileInfo> ExportSetBuilder::current(std::string_view name) const {
  auto it = current_.find(std::string(name));
  if (it == current_.end()) return std::nullopt;
  std::error_code ec;
  const fs::path file = current_dir_ / it->first;
  // A file that is not the size CONTENTS.json records (truncated, replaced) is
  // written again rather than relisted with a checksum it no longer has; so is a
  // link planted in its place (never linked or copied into the new set).
  const auto st = fs::symlink_status(file, ec);
  if (ec || !fs::is_regular_file(st) || fs::file_size(file, ec) != it->second.size || ec) return std::nullopt;
  return it->second;
}

std::vector<ExportFileInfo> ExportSetBuilder::current_of(std::string_view reference) const {
  std::vector<ExportFileInfo> out;
  for (const auto& [name, info] : current_) {
    if (info.reference == reference && current(name)) out.push_back(info);
  }
  return out;
}

core::Status ExportSetBuilder::reuse(std::string_view name) {
  auto info = current(name);
  if (!info) {
    return core::fail(core::ErrorKind::NotFound, fmt::format("{} is not in the current export set", name));
  }
  fs::path src = current_dir_ / info->file;
  fs::path dst = path_for(info->file);
  if (::link(src.c_str(), dst.c_str()) != 0) {
    if (errno != EXDEV && errno != EPERM && errno != EMLINK) {
      return core::fail(core::errno_error("link", dst.string(), errno));
    }
    std::error_code ec;
    fs::copy_file(src, dst, ec);
    if (ec) return core::fail(core::errno_error("copy", dst.string(), ec.value()));
    return add(std::move(*info));  // a copy is hashed again
  }
  std::lock_guard lock(*files_mu_);
  if (std::any_of(files_.begin(), files_.end(), [&](const auto& f) { return f.file == info->file; })) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("{} listed twice in one export", info->file));
  }
  files_.push_back(std::move(*info));
  return {};
}

core::Status ExportSetBuilder::add(ExportFileInfo info) {
  const fs::path path = path_for(info.file);
  auto opened = store::open_regular(path, O_RDONLY);
  if (!opened) return core::fail(std::move(opened.error()));
  std::string buffer;
  auto hashed = digest::sha256_of_fd(opened->get(), path.string(), buffer);
  if (!hashed) return core::fail(std::move(hashed.error()));
  return add(std::move(info), WrittenFile{hashed->digest, hashed->size});
}

core::Status ExportSetBuilder::add(ExportFileInfo info, const WrittenFile& written) {
  std::lock_guard lock(*files_mu_);
  if (std::any_of(files_.begin(), files_.end(), [&](const auto& f) { return f.file == info.file; })) {
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("two exported files would be named {} (references {}); rename a tag",
                                  info.file, info.reference));
  }
  info.sha256 = std::string(written.sha256.hex());
  info.size = written.size;
  files_.push_back(std::move(info));
  return {};
}

bool ExportSetBuilder::same_as_current() const {
  if (migrate_ || current_dir_.empty() || files_.empty() || files_.size() != current_.size()) return false;
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(current_dir_ / std::string(kSumsFile), ec))) return false;
  return std::all_of(files_.begin(), files_.end(), [&](const ExportFileInfo& f) {
    auto it = current_.find(f.file);
    return it != current_.end() && it->second == f && current(f.file);
  });
}

core::Status ExportSetBuilder::commit() {
  std::sort(files_.begin(), files_.end(), [](const auto& a, const auto& b) { return a.file < b.file; });
  if (same_as_current()) {
    unchanged_ = true;  // the new generation (hard links only) goes with the destructor
    return {};
  }
  std::string contents = contents_json(files_, utc_stamp("%Y-%m-%dT%H:%M:%SZ"));
  std::map<std::string, std::string> sums;
  for (const auto& f : files_) sums[f.file] = f.sha256;
  sums[std::string(kContentsFile)] = std::string(digest::sha256_of(contents).hex());
  auto st = write_new_file(path_for(kContentsFile), contents)
                .and_then([&] { return write_new_file(path_for(kSumsFile), sums_text(sums)); })
                .and_then([&] { return store::fsync_dir(gen_); })
                .and_then([&] { return store::fsync_dir(sets_); });
  if (!st) return st;

  const fs::path parent = parent_of(export_);
  const fs::path link_tmp = temp_sibling(parent / fmt::format(".{}.link", export_.filename().string()));
  const fs::path target = fs::path(sets_.filename()) / gen_.filename();
  ::unlink(link_tmp.c_str());
  if (::symlink(target.c_str(), link_tmp.c_str()) != 0) {
    return core::fail(core::errno_error("symlink", link_tmp.string(), errno));
  }
  fs::path previous = current_dir_;
  if (migrate_) {
    // Exchange the real directory and the symlink in one step, then file the old
    // directory among the generations (it is the previous one now).
    if (::renameat2(AT_FDCWD, link_tmp.c_str(), AT_FDCWD, export_.c_str(), RENAME_EXCHANGE) != 0) {
      int err = errno;
      ::unlink(link_tmp.c_str());
      return core::fail(core::errno_error("exchange", export_.string(), err));
    }
    committed_ = true;  // EXPORT names the new generation now: it must stay
    previous = sets_ / ("migrated-" + utc_stamp("%Y%m%dT%H%M%SZ"));
    if (::rename(link_tmp.c_str(), previous.c_str()) != 0) {
      return core::fail(core::errno_error("rename", link_tmp.string(), errno));
    }
  } else if (::rename(link_tmp.c_str(), export_.c_str()) != 0) {
    int err = errno;
    ::unlink(link_tmp.c_str());
    return core::fail(core::errno_error("rename", export_.string(), err));
  }
  committed_ = true;
  if (auto synced = store::fsync_dir(parent); !synced) return synced;

  // Keep the new and the previous generation; everything else (older sets, sets
  // of interrupted runs) goes.
  std::set<std::string> keep{std::string(kLockName), gen_.filename().string(), previous.filename().string()};
  std::error_code ec;
  for (fs::directory_iterator it(sets_, ec), end; !ec && it != end; it.increment(ec)) {
    if (!keep.contains(it->path().filename().string())) remove_tree(it->path());
  }
  return {};
}

}  // namespace ferry::airgap
