// Ingest: a resumable, hashing, buffered write into ingest/<hex>.partial.
//
// The hash is the source of truth for "how many bytes do we have": on open, the bytes
// already in the partial are read back and hashed (sha256 runs far faster than any
// network), so a resumed download continues with a hash that covers every byte.
// A segmented download writes ranges at their offsets (Segment); bytes written at the
// prefix contiguous from byte 0 are hashed from the segment's buffer, the ranges held
// beyond it are recorded in ingest/<hex>.segments so a later run resumes the gaps,
// and catch_up() (a worker's job) re-reads and hashes them once the prefix reaches
// them. mu_ guards the frontier (hasher, buffer, held ranges, record); catch_up()
// reads the partial outside it, so the writer waits at most one chunk's hash.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "store/fs_util.h"
#include "store/store.h"

namespace ferry::store {

namespace {
// Coalesce curl's 16 KiB chunks into 256 KiB writes: few syscalls, and a kill -9
// loses at most this much per blob in flight (the next run fetches it again).
constexpr size_t kIngestBuffer = 256 << 10;
constexpr size_t kSegmentBuffer = 256 << 10;  // per segment: a kill -9 loses at most this much of each
// Rewrite the segment record after this many new bytes (one small pwrite, no
// fsync): bytes written but not yet recorded are fetched again after a kill -9.
constexpr uint64_t kSaveEvery = 1 << 20;
constexpr uint64_t kMaxSegmentRecord = 1 << 20;
}  // namespace

// ---- Segment ----------------------------------------------------------------------

Segment::Segment(Ingest& ingest, ByteRange r) : ingest_(ingest), range_(r) { buffer_.reserve(kSegmentBuffer); }

Segment::~Segment() { (void)flush(); }

core::Status Segment::write(const char* data, size_t size) {
  if (accepted_ + size > range_.size()) {
    return core::fail(core::ErrorKind::SizeMismatch,
                      fmt::format("segment {}-{} of blob {} got more bytes than asked", range_.from, range_.to,
                                  ingest_.expected_.str()));
  }
  buffer_.append(data, size);
  accepted_ += size;
  if (buffer_.size() >= kSegmentBuffer) return write_out();
  return {};
}

core::Status Segment::restart() {
  return core::fail(core::ErrorKind::RangeIgnored,
                    fmt::format("the registry ignored Range for segment {}-{}", range_.from, range_.to));
}

core::Status Segment::flush() {
  auto st = write_out();
  std::string().swap(buffer_);  // a finished segment holds no buffer
  return st;
}

core::Status Segment::write_out() {
  if (buffer_.empty()) return {};
  const uint64_t at = range_.from + flushed_;
  auto st = write_all(ingest_.fd_.get(), buffer_.data(), buffer_.size(), ingest_.partial_, static_cast<int64_t>(at));
  if (!st) return st;
  flushed_ += buffer_.size();
  auto st2 = ingest_.segment_written(at, range_.from + flushed_, buffer_);
  buffer_.clear();
  return st2;
}

// ---- Ingest -----------------------------------------------------------------------

Ingest::Ingest(std::shared_ptr<const StoreDirs> dirs, digest::Digest expected, int64_t size, uint64_t max_unsized,
               fs::path partial, core::UniqueFd fd)
    : dirs_(std::move(dirs)), expected_(std::move(expected)), expected_size_(size), max_unsized_(max_unsized),
      partial_(std::move(partial)), fd_(std::move(fd)) {
  buffer_.reserve(kIngestBuffer);
  partial_name_ = partial_.filename().string();
  segments_path_ = partial_;
  segments_path_.replace_extension(".segments");
  segments_name_ = segments_path_.filename().string();
}

Ingest::~Ingest() {
  std::lock_guard catching(catch_up_mu_);
  std::lock_guard lock(mu_);
  if (fd_) {
    (void)flush_buffer_locked();  // best effort: keep what we have for the next run
    if (segmented_) (void)save_segments_locked();
  }
}

uint64_t Ingest::size() const {
  std::lock_guard lock(mu_);
  return hasher_.bytes();
}

uint64_t Ingest::received() const {
  std::lock_guard lock(mu_);
  uint64_t n = hasher_.bytes();
  for (const auto& [from, to] : held_) n += to - std::max(from, std::min(to, hasher_.bytes()));
  return n;
}

bool Ingest::segmented() const {
  std::lock_guard lock(mu_);
  return segmented_;
}

bool Ingest::catch_up_due() const {
  std::lock_guard lock(mu_);
  return !held_.empty() && held_.begin()->first <= hasher_.bytes();
}

core::Status Ingest::write(const char* data, size_t size) {
  std::lock_guard lock(mu_);
  if (expected_size_ >= 0 && hasher_.bytes() + size > static_cast<uint64_t>(expected_size_)) {
    return core::fail(core::ErrorKind::SizeMismatch,
                      fmt::format("blob {} is longer than its descriptor's {} bytes", expected_.str(),
                                  expected_size_));
  }
  if (expected_size_ < 0 && hasher_.bytes() + size > max_unsized_) {
    return core::fail(core::ErrorKind::SizeMismatch,
                      fmt::format("blob {} of unknown size is longer than the {} byte limit", expected_.str(),
                                  max_unsized_));
  }
  // Flush before hashing: the buffer's offset is the hashed size minus its length.
  if (buffer_.size() + size > kIngestBuffer) {
    if (auto st = flush_buffer_locked(); !st) return st;
  }
  hasher_.update(data, size);
  if (size >= kIngestBuffer) {
    return write_all(fd_.get(), data, size, partial_, static_cast<int64_t>(hasher_.bytes() - size));
  }
  buffer_.append(data, size);
  return {};
}

core::Status Ingest::flush_buffer_locked() {
  if (buffer_.empty()) return {};
  const uint64_t at = hasher_.bytes() - buffer_.size();
  auto st = write_all(fd_.get(), buffer_.data(), buffer_.size(), partial_, static_cast<int64_t>(at));
  buffer_.clear();
  return st;
}

core::Status Ingest::flush() {
  std::lock_guard lock(mu_);
  auto st = flush_buffer_locked();
  std::string().swap(buffer_);  // a finished transfer holds no buffer while it waits for commit
  return st;
}

core::Status Ingest::restart() {
  std::lock_guard catching(catch_up_mu_);
  std::lock_guard lock(mu_);
  return restart_locked();
}

core::Status Ingest::restart_locked() {
  buffer_.clear();
  (void)hasher_.finish();  // resets
  held_.clear();
  // Truncate first: a partial whose record is gone must hold only its prefix.
  if (::ftruncate(fd_.get(), 0) != 0) return core::fail(core::errno_error("truncate", partial_.string(), errno));
  remove_segments_locked();
  return {};
}

core::Status Ingest::hash_prefix_to(uint64_t end) {
  std::string buf(std::min<uint64_t>(kIngestBuffer, std::max<uint64_t>(end - std::min(end, hasher_.bytes()), 1)),
                  '\0');
  while (hasher_.bytes() < end) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - hasher_.bytes()));
    auto n = pread_full(fd_.get(), buf.data(), want, hasher_.bytes(), partial_);
    if (!n) return core::fail(std::move(n.error()));
    if (*n < want) return core::fail(core::ErrorKind::Io, fmt::format("{}: shorter than recorded", partial_.string()));
    hasher_.update(buf.data(), want);
  }
  return {};
}

core::Status Ingest::segment_written(uint64_t from, uint64_t to, const std::string& data) {
  std::lock_guard lock(mu_);
  unsaved_ += to - from;
  if (from == hasher_.bytes()) {
    // At the prefix: hash from memory. Segments are disjoint, so nothing held starts
    // before `to`; a range held from `to` on is now due for catch_up().
    hasher_.update(data.data(), data.size());
  } else {
    // Merge [from, to) into held_.
    auto it = held_.upper_bound(from);
    if (it != held_.begin() && std::prev(it)->second >= from) {
      --it;
      from = it->first;
      to = std::max(to, it->second);
      it = held_.erase(it);
    }
    while (it != held_.end() && it->first <= to) {
      to = std::max(to, it->second);
      it = held_.erase(it);
    }
    held_.emplace(from, to);
  }
  if (unsaved_ >= kSaveEvery) return save_segments_locked();
  return {};
}

core::Status Ingest::catch_up() {
  std::lock_guard catching(catch_up_mu_);
  std::string buf;
  std::unique_lock lock(mu_);
  for (;;) {
    while (!held_.empty() && held_.begin()->second <= hasher_.bytes()) held_.erase(held_.begin());
    if (held_.empty() || held_.begin()->first > hasher_.bytes()) return {};
    // Read outside the lock: held bytes are on disk and no segment writes them again,
    // and the prefix cannot move meanwhile (nothing but this call hashes inside a
    // held range).
    const uint64_t at = hasher_.bytes();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kIngestBuffer, held_.begin()->second - at));
    lock.unlock();
    buf.resize(want);
    auto n = pread_full(fd_.get(), buf.data(), want, at, partial_);
    lock.lock();
    if (!n) return core::fail(std::move(n.error()));
    if (*n < want) return core::fail(core::ErrorKind::Io, fmt::format("{}: shorter than recorded", partial_.string()));
    FERRY_CHECK(hasher_.bytes() == at);
    hasher_.update(buf.data(), want);
  }
}

core::Result<std::unique_ptr<Segment>> Ingest::segment(ByteRange r) {
  std::lock_guard catching(catch_up_mu_);
  std::lock_guard lock(mu_);
  FERRY_CHECK(r.from < r.to && r.from >= hasher_.bytes() && buffer_.empty());
  if (!segmented_) {
    segmented_ = true;
    // Recorded before any byte lands beyond the prefix: a partial without a record
    // is always contiguous.
    if (auto st = save_segments_locked(); !st) return core::fail(st.error());
  }
  return std::unique_ptr<Segment>(new Segment(*this, r));
}

std::vector<ByteRange> Ingest::missing() const {
  std::lock_guard lock(mu_);
  std::vector<ByteRange> out;
  const uint64_t end = static_cast<uint64_t>(std::max<int64_t>(expected_size_, 0));
  uint64_t at = hasher_.bytes();
  for (const auto& [from, to] : held_) {
    if (from > at) out.push_back({at, from});
    at = std::max(at, to);
  }
  if (at < end) out.push_back({at, end});
  return out;
}

core::Status Ingest::save_segments_locked() {
  unsaved_ = 0;
  if (!segments_fd_) {
    auto opened = open_regular_at(dirs_->ingest.get(), segments_name_, O_RDWR | O_CREAT, segments_path_);
    if (!opened) return core::fail(opened.error());
    segments_fd_ = std::move(*opened);
  }
  std::vector<ByteRange> held;
  if (hasher_.bytes() > 0) held.push_back({0, hasher_.bytes()});
  for (const auto& [from, to] : held_) {  // catch_up() may have hashed into the first
    if (to > hasher_.bytes()) held.push_back({std::max(from, hasher_.bytes()), to});
  }
  const std::string text = format_segment_record(expected_size_, held);
  // One write in place (a kill cannot tear it); a longer old record's tail stays
  // after "end" until the truncate, and the reader stops at "end".
  if (auto st = write_all(segments_fd_.get(), text.data(), text.size(), segments_path_, 0); !st) return st;
  if (::ftruncate(segments_fd_.get(), static_cast<off_t>(text.size())) != 0) {
    return core::fail(core::errno_error("truncate", segments_path_.string(), errno));
  }
  return {};
}

void Ingest::remove_segments_locked() {
  segments_fd_.reset();
  segmented_ = false;
  ::unlinkat(dirs_->ingest.get(), segments_name_.c_str(), 0);
}

core::Status Ingest::drop_segments() {
  std::lock_guard catching(catch_up_mu_);
  std::lock_guard lock(mu_);
  if (auto st = flush_buffer_locked(); !st) return st;
  held_.clear();
  // Truncate first: a partial whose record is gone must hold only its prefix.
  if (::ftruncate(fd_.get(), static_cast<off_t>(hasher_.bytes())) != 0) {
    return core::fail(core::errno_error("truncate", partial_.string(), errno));
  }
  remove_segments_locked();
  return {};
}

// A record beside the partial: hash its range from 0, keep the others as held; a
// record that does not parse is doubt, and the partial starts over.
core::Status Ingest::load_segments() {
  auto text = read_file_at(dirs_->ingest.get(), segments_name_, kMaxSegmentRecord, segments_path_);
  if (!text) {
    if (text.error().kind == core::ErrorKind::NotFound) return {};
    return restart();
  }
  auto ranges = parse_segment_record(*text, expected_size_);
  struct stat sb {};
  if (!ranges || ::fstat(fd_.get(), &sb) != 0 ||
      (!ranges->empty() && ranges->back().to > static_cast<uint64_t>(sb.st_size))) {
    return restart();
  }
  segmented_ = true;
  for (const auto& r : *ranges) held_.emplace(r.from, r.to);
  while (!held_.empty() && held_.begin()->first <= hasher_.bytes()) {  // on the opening thread
    const uint64_t end = held_.begin()->second;
    held_.erase(held_.begin());
    if (auto st = hash_prefix_to(end); !st) return restart();
  }
  return {};
}

core::Result<std::unique_ptr<Ingest>> Store::begin_ingest(const digest::Digest& d, int64_t size,
                                                          uint64_t max_unsized) {
  const std::string name = std::string(d.hex()) + ".partial";
  // A link planted as the partial is refused: its target is never resumed or renamed.
  auto opened = open_file(Area::Ingest, name, O_RDWR | O_CREAT);
  if (!opened) return core::fail(opened.error());
  const int partial_fd = opened->get();
  std::unique_ptr<Ingest> ingest(
      new Ingest(dirs_, d, size, max_unsized, area_path(Area::Ingest, name), std::move(*opened)));
  const fs::path& partial = ingest->partial_;
  struct stat record {};
  if (::fstatat(fd(Area::Ingest), ingest->segments_name_.c_str(), &record, AT_SYMLINK_NOFOLLOW) == 0) {
    if (auto st = ingest->load_segments(); !st) return core::fail(st.error());
    return ingest;
  }
  // Re-hash what an earlier attempt left behind.
  struct stat sb {};
  if (::fstat(partial_fd, &sb) != 0) return core::fail(core::errno_error("stat", partial.string(), errno));
  if (auto st = ingest->hash_prefix_to(static_cast<uint64_t>(sb.st_size)); !st) return core::fail(st.error());
  if (ingest->size() > (size >= 0 ? static_cast<uint64_t>(size) : max_unsized)) {
    if (auto st = ingest->restart(); !st) return core::fail(st.error());
  }
  return ingest;
}

core::Status Store::commit(std::unique_ptr<Ingest> ingest) {
  // The ranges the prefix has not reached yet are hashed here (on the committing
  // thread); a gap left in them shows as a short size below. The Ingest is ours
  // alone from here on: the *_locked calls need no lock.
  if (auto st = ingest->catch_up(); !st) return st;
  if (auto st = ingest->flush_buffer_locked(); !st) return st;
  const uint64_t got = ingest->size();
  const digest::Digest actual = ingest->hasher_.finish();
  const fs::path partial = ingest->partial_;
  const int in_dir = fd(Area::Ingest);
  auto discard = [&] {
    ingest->fd_.reset();
    ingest->remove_segments_locked();
    ::unlinkat(in_dir, ingest->partial_name_.c_str(), 0);
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
  if (::fsync(ingest->fd_.get()) != 0) {
    return core::fail(core::errno_error("fsync", partial.string(), errno));
  }
  struct stat held {};
  const bool have_id = ::fstat(ingest->fd_.get(), &held) == 0;
  ingest->fd_.reset();
  const std::string hex(ingest->expected_.hex());
  const fs::path final_path = blob_path(ingest->expected_);
  if (::renameat(in_dir, ingest->partial_name_.c_str(), fd(Area::Blobs), hex.c_str()) != 0) {
    return core::fail(core::errno_error("rename to", final_path.string(), errno));
  }
  // What was renamed must be the file we verified: a partial swapped for something
  // else between the check and the rename is taken out again.
  struct stat landed {};
  if (!have_id || ::fstatat(fd(Area::Blobs), hex.c_str(), &landed, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(landed.st_mode) || landed.st_ino != held.st_ino || landed.st_dev != held.st_dev) {
    ::unlinkat(fd(Area::Blobs), hex.c_str(), 0);
    ingest->remove_segments_locked();
    return core::fail(core::ErrorKind::InvalidInput,
                      fmt::format("{}: was replaced while it was being committed; not taken into the store",
                                  partial.string()));
  }
  ingest->remove_segments_locked();
  return sync(Area::Blobs);
}

}  // namespace ferry::store
