// Ingest: a resumable, hashing, buffered append to ingest/<hex>.partial.
//
// The hash is the source of truth for "how many bytes do we have": on open, the bytes
// already in the partial are read back and hashed (sha256 runs far faster than any
// network), so a resumed download continues with a hash that covers every byte.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "store/fs_util.h"
#include "store/store.h"

namespace ferry::store {

namespace {
constexpr size_t kIngestBuffer = 1 << 20;  // coalesce curl's 16 KiB chunks into 1 MiB writes
}

Ingest::Ingest(digest::Digest expected, int64_t size, fs::path partial, int fd)
    : expected_(std::move(expected)), expected_size_(size), partial_(std::move(partial)), fd_(fd) {
  buffer_.reserve(kIngestBuffer);
}

Ingest::~Ingest() {
  if (fd_ >= 0) {
    (void)flush_buffer();  // best effort: keep what we have for the next run
    ::close(fd_);
  }
}

core::Status Ingest::write(const char* data, size_t size) {
  if (expected_size_ >= 0 && hasher_.bytes() + size > static_cast<uint64_t>(expected_size_)) {
    return core::fail(core::ErrorKind::SizeMismatch,
                      fmt::format("blob {} is longer than its descriptor's {} bytes", expected_.str(),
                                  expected_size_));
  }
  hasher_.update(data, size);
  if (buffer_.size() + size > kIngestBuffer) {
    if (auto st = flush_buffer(); !st) return st;
  }
  if (size >= kIngestBuffer) return write_all(fd_, data, size, partial_);
  buffer_.append(data, size);
  return {};
}

core::Status Ingest::flush_buffer() {
  if (buffer_.empty()) return {};
  auto st = write_all(fd_, buffer_.data(), buffer_.size(), partial_);
  buffer_.clear();
  return st;
}

core::Status Ingest::flush() { return flush_buffer(); }

core::Status Ingest::restart() {
  buffer_.clear();
  (void)hasher_.finish();  // resets
  if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) < 0) {
    return core::fail(core::errno_error("truncate", partial_.string(), errno));
  }
  return {};
}

core::Result<std::unique_ptr<Ingest>> Store::begin_ingest(const digest::Digest& d, int64_t size) {
  fs::path partial = root_ / "ingest" / (std::string(d.hex()) + ".partial");
  int fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return core::fail(core::errno_error("open", partial.string(), errno));
  std::unique_ptr<Ingest> ingest(new Ingest(d, size, partial, fd));
  // Re-hash what an earlier attempt left behind.
  std::string buf(kIngestBuffer, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::errno_error("read", partial.string(), errno));
    if (n == 0) break;
    ingest->hasher_.update(buf.data(), static_cast<size_t>(n));
  }
  if (size >= 0 && ingest->size() > static_cast<uint64_t>(size)) {
    if (auto st = ingest->restart(); !st) return core::fail(st.error());
  }
  return ingest;
}

core::Status Store::commit(std::unique_ptr<Ingest> ingest) {
  if (auto st = ingest->flush_buffer(); !st) return st;
  const uint64_t got = ingest->size();
  const digest::Digest actual = ingest->hasher_.finish();
  const fs::path partial = ingest->partial_;
  auto discard = [&] {
    ::close(ingest->fd_);
    ingest->fd_ = -1;
    ::unlink(partial.c_str());
  };
  if (ingest->expected_size_ >= 0 && got != static_cast<uint64_t>(ingest->expected_size_)) {
    discard();
    return core::fail(core::ErrorKind::SizeMismatch,
                      fmt::format("blob {}: got {} bytes, descriptor says {}", ingest->expected_.str(), got,
                                  ingest->expected_size_));
  }
  if (actual != ingest->expected_) {
    discard();
    return core::fail(core::ErrorKind::DigestMismatch,
                      fmt::format("blob {}: content hashes to {}", ingest->expected_.str(), actual.str()));
  }
  if (::fsync(ingest->fd_) != 0) {
    return core::fail(core::errno_error("fsync", partial.string(), errno));
  }
  ::close(ingest->fd_);
  ingest->fd_ = -1;
  const fs::path final_path = blob_path(ingest->expected_);
  if (::rename(partial.c_str(), final_path.c_str()) != 0) {
    return core::fail(core::errno_error("rename to", final_path.string(), errno));
  }
  return fsync_dir(final_path.parent_path());
}

}  // namespace ferry::store
