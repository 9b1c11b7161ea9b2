// Temporary outputs renamed into place, the unnamed scratch file, fsync helpers and
// link-or-copy of blobs.
#include "export/fs_output.h"

#include "store/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>

namespace ferry::exporter {

using store::fsync_dir;
using store::write_all;

namespace {

constexpr size_t kCopyBuffer = 1024 * 1024;

fs::path parent_of(const fs::path& p) {
  fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

core::Status fsync_fd(int fd, const fs::path& path) {
  if (::fsync(fd) != 0) return core::fail(core::errno_error("fsync", path.string(), errno));
  return {};
}

// Copies all of src_fd into dst_fd, hashing on the way.
core::Status copy_hashing(int src_fd, const fs::path& src, int dst_fd, const fs::path& dst,
                          const digest::Digest& expected) {
  auto buffer = std::make_unique<char[]>(kCopyBuffer);
  digest::Sha256 hasher;
  for (;;) {
    ssize_t n = ::read(src_fd, buffer.get(), kCopyBuffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", src.string(), errno));
    if (n == 0) break;
    hasher.update(buffer.get(), static_cast<size_t>(n));
    if (auto st = write_all(dst_fd, buffer.get(), static_cast<size_t>(n), dst); !st) return st;
  }
  digest::Digest actual = hasher.finish();
  if (actual != expected) {
    return core::fail(core::ErrorKind::DigestMismatch,
                      fmt::format("store blob {} is corrupt: its content hashes to {}", expected.str(), actual.str()));
  }
  return {};
}

core::Status copy_blob(const store::Store& store, const digest::Digest& d, const fs::path& dst) {
  auto in = store.open_blob(d);
  if (!in) return core::fail(std::move(in.error()));
  int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (out < 0) return core::fail(core::errno_error("create", dst.string(), errno));
  auto st = copy_hashing(in->get(), store.blob_path(d), out, dst, d);
  if (st) st = fsync_fd(out, dst);
  if (::close(out) != 0 && st) st = core::fail(core::errno_error("close", dst.string(), errno));
  if (!st) ::unlink(dst.c_str());
  return st;
}

}  // namespace

fs::path temp_sibling(const fs::path& out, std::string_view tag) {
  fs::path p = out;
  p += fmt::format(".{}.{}", tag, ::getpid());
  return p;
}

core::Status write_new_file(const fs::path& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return core::fail(core::errno_error("create", path.string(), errno));
  auto st = write_all(fd, data.data(), data.size(), path);
  if (st) st = fsync_fd(fd, path);
  ::close(fd);
  return st;
}

core::Status link_or_copy_blob(const store::Store& store, const digest::Digest& d, const fs::path& dst) {
  auto linked = store.link_blob(d, dst);
  if (!linked) return core::fail(std::move(linked.error()));
  if (*linked) return {};
  return copy_blob(store, d, dst);
}

// ---- TempOutputFile

core::Result<TempOutputFile> TempOutputFile::create(const fs::path& out) {
  std::error_code ec;
  if (fs::is_directory(out, ec)) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("{} is a directory, not a file name", out.string()));
  }
  fs::path temp = temp_sibling(out);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return core::fail(core::errno_error("create", temp.string(), errno));
  return TempOutputFile(out, temp, fd);
}

TempOutputFile::TempOutputFile(TempOutputFile&& other) noexcept
    : out_(std::move(other.out_)), temp_(std::move(other.temp_)), fd_(other.fd_), committed_(other.committed_) {
  other.fd_ = -1;
  other.committed_ = true;  // nothing left for the moved-from object to clean up
}

TempOutputFile::~TempOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

core::Status TempOutputFile::commit() {
  FERRY_CHECK(fd_ >= 0 && !committed_);
  auto st = fsync_fd(fd_, temp_);
  int rc = ::close(fd_);
  fd_ = -1;
  if (!st) return st;
  if (rc != 0) return core::fail(core::errno_error("close", temp_.string(), errno));
  if (::rename(temp_.c_str(), out_.c_str()) != 0) {
    return core::fail(core::errno_error(fmt::format("rename {} to", temp_.string()), out_.string(), errno));
  }
  committed_ = true;
  return fsync_dir(parent_of(out_));
}

// ---- TempOutputDir

core::Result<TempOutputDir> TempOutputDir::create(const fs::path& out) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec))) {
    if (!fs::is_directory(fs::symlink_status(out, ec)) || !fs::is_empty(out, ec)) {
      return core::fail(core::ErrorKind::InvalidInput,
                        fmt::format("{} exists and is not an empty directory", out.string()));
    }
  }
  fs::path temp = temp_sibling(out);
  fs::remove_all(temp, ec);  // a leftover of a crashed run with our pid
  for (const fs::path& dir : {temp, temp / "blobs", temp / "blobs" / "sha256"}) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
      int err = errno;
      fs::remove_all(temp, ec);
      return core::fail(core::errno_error("create directory", dir.string(), err));
    }
  }
  return TempOutputDir(out, temp);
}

TempOutputDir::TempOutputDir(TempOutputDir&& other) noexcept
    : out_(std::move(other.out_)), temp_(std::move(other.temp_)), committed_(other.committed_) {
  other.committed_ = true;
}

TempOutputDir::~TempOutputDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_, ec);
}

core::Status TempOutputDir::commit() {
  FERRY_CHECK(!committed_);
  for (const fs::path& dir : {temp_ / "blobs" / "sha256", temp_ / "blobs", temp_}) {
    if (auto st = fsync_dir(dir); !st) return st;
  }
  if (::rename(temp_.c_str(), out_.c_str()) != 0) {
    return core::fail(core::errno_error(fmt::format("rename {} to", temp_.string()), out_.string(), errno));
  }
  committed_ = true;
  return fsync_dir(parent_of(out_));
}

// ---- ScratchFile

core::Result<ScratchFile> ScratchFile::create(const fs::path& near) {
  fs::path label = temp_sibling(near, "layer.tmp");
  int fd = ::open(label.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return core::fail(core::errno_error("create", label.string(), errno));
  if (::unlink(label.c_str()) != 0) {
    int err = errno;
    ::close(fd);
    return core::fail(core::errno_error("unlink", label.string(), err));
  }
  return ScratchFile(label, fd);
}

ScratchFile::ScratchFile(ScratchFile&& other) noexcept : label_(std::move(other.label_)), fd_(other.fd_) {
  other.fd_ = -1;
}

ScratchFile::~ScratchFile() {
  if (fd_ >= 0) ::close(fd_);
}

core::Status ScratchFile::reset() {
  if (::ftruncate(fd_, 0) != 0) return core::fail(core::errno_error("truncate", label_.string(), errno));
  return rewind();
}

core::Status ScratchFile::rewind() {
  if (::lseek(fd_, 0, SEEK_SET) != 0) return core::fail(core::errno_error("seek", label_.string(), errno));
  return {};
}

}  // namespace ferry::exporter
