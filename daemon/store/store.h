// Store: a content-addressed OCI image layout on local disk.
//
//   <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//   <root>/index.json            one entry per mirrored reference (annotation
//                                org.opencontainers.image.ref.name = full reference)
//   <root>/blobs/sha256/<hex>    verified content, never rewritten
//   <root>/ingest/<hex>.partial  bytes received so far for a blob being fetched
//   <root>/ingest/<hex>.segments which ranges of the partial hold data, when it was
//                                fetched as parallel Range segments (a hint: the
//                                digest check at commit is what decides)
//   <root>/state/                lock, run reports
//
// Store::open opens the root and each of blobs/sha256, ingest and state once, as
// real directories (O_DIRECTORY | O_NOFOLLOW, each relative to its parent's
// descriptor, none writable by other users), and every file the store touches
// afterwards is opened, renamed, listed and removed relative to one of those
// descriptors, never following a link: a link planted in the store is refused
// and named, and a directory swapped for a link after open() is never walked
// through (the Store keeps using the directories it checked).
// A blob enters blobs/ only through commit(): size and sha256 checked, file fsynced,
// renamed, directory fsynced. index.json is replaced by write-temp + fsync + rename.
// A crash at any point leaves old or new state plus partials. The store never logs.
// Threads: a Store holds only what open() set and is shared by the loop, the engine
// worker and the export threads. has_blob, read_blob, blob_path, read_index,
// put_blob, begin_ingest and commit may run concurrently from any threads: a blob is written under
// a private temporary name and renamed into place once, never rewritten, so a reader
// sees all of it or none, and two commits of one digest leave one verified file. An
// Ingest (and its Segments) belongs to one thread at a time, but for catch_up()
// (below), and at most one Ingest per digest exists at once (callers deduplicate). upsert_index and replace_index
// read, modify and rename index.json: the caller runs them from one thread (the loop
// at the end of a pull, import's single thread); separate processes are excluded by
// the store lock (store/lock.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_sink.h"
#include "core/error.h"
#include "core/unique_fd.h"
#include "digest/digest.h"
#include "manifest/manifest.h"
#include "store/fs_util.h"
#include "store/segment_record.h"

namespace ferry::store {

namespace fs = std::filesystem;

inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
// On the index.json entry of an image pulled as Docker schema1 and stored converted
// to schema2 (sync/schema1_convert.h): the schema1 digest. blobs/ holds the schema1
// payload under that digest (the bytes it is the sha256 of: the manifest without its
// JWS signatures, itself an unsigned schema1 manifest), so it stays reachable.
inline constexpr std::string_view kSchema1DigestAnnotation = "io.github.ferry.schema1.digest";
// On the index.json entries of a referrer (a signature, SBOM or attestation pulled
// with `referrers: true`, see sync/referrers.h): the full reference of its subject,
// and the subject's digest. gc keeps a referrer while its subject is kept, export
// puts it into bundles with its subject, push uploads it with its subject.
inline constexpr std::string_view kReferrerOfAnnotation = "io.github.ferry.referrer.of";
inline constexpr std::string_view kReferrerSubjectAnnotation = "io.github.ferry.referrer.subject";
// The subject reference an index.json entry is a referrer of, or "" for an image.
std::string referrer_of(const manifest::Descriptor& d);
// A blob fetched without a known size (a schema1 layer: its manifest has no sizes)
// is verified by digest alone and refused past this many bytes. Far above any real
// layer (registries cap single layers around 10 GB) yet keeps a hostile endless body
// from filling the disk.
inline constexpr uint64_t kMaxUnsizedBlob = 32ULL << 30;

class Ingest;

// The store's directories: the root, blobs/sha256, ingest/, state/.
enum class Area { Root, Blobs, Ingest, State };
// Their descriptors, opened once by Store::open and shared by a Store, its copies
// and its Ingests.
struct StoreDirs {
  core::UniqueFd root, blobs, ingest, state;
};

// One segment of a segmented download: bytes [range.from, range.to) of the blob,
// written at their offsets in the partial. size() counts the bytes accepted, so a
// resume asks for from + size(); restart() (the server ignored Range) fails with
// RangeIgnored so the caller can fall back to one stream. Must not outlive its
// Ingest; flush() (also run by the destructor) writes the buffered bytes and
// records them with the Ingest (which hashes them when they are at its prefix).
class Segment final : public core::ByteSink {
 public:
  ~Segment() override;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  core::Status write(const char* data, size_t size) override;
  core::Status restart() override;
  uint64_t size() const override { return accepted_; }
  const ByteRange& range() const { return range_; }
  // Write the buffered bytes and release the buffer (the segment is done).
  core::Status flush();

 private:
  friend class Ingest;
  Segment(Ingest& ingest, ByteRange r);
  core::Status write_out();  // the buffer to the partial; the buffer stays
  Ingest& ingest_;
  ByteRange range_;
  uint64_t accepted_ = 0, flushed_ = 0;
  std::string buffer_;
};

// A partial blob being received. Resumable: construction reads back the bytes
// already in the partial file and re-hashes them, so size() tells the caller where
// to resume (Range: bytes=size()-).
//
// Segmented: segment() hands out sinks for ranges beyond the hashed prefix that
// write at their offsets; the ranges written are recorded (ingest/<hex>.segments,
// rewritten in place as they grow) so a later run resumes the gaps, and the sha256
// state always advances in order, so size() is the hashed contiguous prefix. Bytes
// a segment writes exactly at the prefix are hashed from its buffer as they go (the
// cost of one stream); a range written further on is hashed only by catch_up(),
// which re-reads it from the partial once the prefix reaches it (catch_up_due()):
// the thread that moves bytes never re-reads them.
// catch_up() is meant for a worker thread: it is the one call that may run while
// the owner's thread keeps writing through the Segments and reading size(),
// received(), catch_up_due(); every other call waits until it has returned. commit()
// catches up itself. A resumed ingest reads the record back (missing() then names
// the gaps); a record that does not parse is doubt: the partial starts over.
class Ingest final : public core::ByteSink {
 public:
  ~Ingest() override;
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  core::Status write(const char* data, size_t size) override;
  core::Status restart() override;  // truncate to 0
  uint64_t size() const override;   // the hashed contiguous prefix

  const digest::Digest& expected() const { return expected_; }
  int64_t expected_size() const { return expected_size_; }
  // Write buffered bytes to the partial file (kept for the next run) and release
  // the buffer's memory: called when the transfer is over, before the commit.
  core::Status flush();

  // A sink for `r` (beyond size(), disjoint from held and other open ranges).
  [[nodiscard]] core::Result<std::unique_ptr<Segment>> segment(ByteRange r);
  // The ranges of [size(), expected_size()) not held yet, in order.
  std::vector<ByteRange> missing() const;
  // Bytes in the partial: the prefix and the ranges held beyond it (progress).
  uint64_t received() const;
  // True when ranges beyond the prefix are recorded (a segmented download to resume).
  bool segmented() const;
  // Forget everything beyond the hashed prefix (truncate there, drop the record):
  // before one stream continues at size().
  [[nodiscard]] core::Status drop_segments();

  // True when a range written beyond the prefix now starts at it: catch_up() has
  // bytes to re-read and hash.
  bool catch_up_due() const;
  // Re-read and hash the ranges contiguous with the prefix, including those the
  // segments extend meanwhile, until the prefix reaches a gap. One at a time.
  [[nodiscard]] core::Status catch_up();

 private:
  friend class Store;
  friend class Segment;
  Ingest(std::shared_ptr<const StoreDirs> dirs, digest::Digest expected, int64_t size, uint64_t max_unsized,
         fs::path partial, core::UniqueFd fd);
  // The *_locked helpers run with mu_ held.
  core::Status flush_buffer_locked();
  core::Status restart_locked();
  core::Status load_segments();
  core::Status segment_written(uint64_t from, uint64_t to, const std::string& data);
  core::Status hash_prefix_to(uint64_t end);  // at open, before the Ingest is shared
  core::Status save_segments_locked();
  void remove_segments_locked();

  std::shared_ptr<const StoreDirs> dirs_;
  digest::Digest expected_;
  int64_t expected_size_;
  uint64_t max_unsized_;  // the bound when expected_size_ < 0
  fs::path partial_;      // for messages; the file is ingest/<partial_name_>
  std::string partial_name_;
  core::UniqueFd fd_;     // pwrite/pread only: the offsets never move, so threads may share it
  fs::path segments_path_;
  std::string segments_name_;
  std::mutex catch_up_mu_;  // held by catch_up() and by every call that must not overlap it
  // The frontier, shared by the writing thread and catch_up():
  mutable std::mutex mu_;
  digest::Sha256 hasher_;
  std::string buffer_;  // coalesces small writes; flushed at kIngestBuffer bytes
  core::UniqueFd segments_fd_;
  bool segmented_ = false;
  std::map<uint64_t, uint64_t> held_;  // written ranges beyond the prefix, from -> to
  uint64_t unsaved_ = 0;               // bytes written since the record was last saved
};

struct IndexEntry {
  manifest::Descriptor descriptor;  // the manifest (image or index) mirrored
  std::string ref_name;             // full reference, e.g. docker.io/library/ubuntu:24.04
};

// The index.json entries of one reference (several when platforms were chosen).
struct ReferenceEntries {
  std::string ref_name;
  std::vector<manifest::Descriptor> descriptors;
  std::string referrer_of;  // the subject's reference when this is a referrer, else ""
};

// `entries` grouped per ref_name, in the order of first appearance.
[[nodiscard]] std::vector<ReferenceEntries> group_by_reference(const std::vector<IndexEntry>& entries);
// The ref_names of the referrers of `subject` (a full reference) among `refs`.
[[nodiscard]] std::vector<std::string> referrers_of(const std::vector<ReferenceEntries>& refs,
                                                    const std::string& subject);

class Store {
 public:
  // Opens (creating when `create`) the layout at `root`. Fails on a directory that
  // is not an OCI layout, or an oci-layout with another version.
  [[nodiscard]] static core::Result<Store> open(const fs::path& root, bool create);

  const fs::path& root() const { return root_; }
  // Where a blob lives, for messages and for tools outside ferry; ferry itself
  // reaches it through open_blob / link_blob.
  fs::path blob_path(const digest::Digest& d) const;
  // The path of an area, or of `name` in it, for messages.
  fs::path area_path(Area a, std::string_view name = {}) const;

  // The blob `d` opened read-only: a link or anything but a regular file in its
  // place is InvalidInput naming it, an absent blob NotFound.
  [[nodiscard]] core::Result<core::UniqueFd> open_blob(const digest::Digest& d) const;
  // A hard link to blob `d` at `dst` (a path outside the store), through the
  // blobs directory's descriptor; anything but a regular file there is refused.
  // False when the file system cannot link it there (another device, no
  // permission, too many links): the caller copies instead.
  [[nodiscard]] core::Result<bool> link_blob(const digest::Digest& d, const fs::path& dst) const;

  // Files of an area by name (one component): what gc, verify, receipts, the lock
  // and the pull records use. All refuse links and non-regular files.
  [[nodiscard]] core::Result<core::UniqueFd> open_file(Area a, std::string_view name, int flags) const;
  [[nodiscard]] core::Result<std::string> read_file(Area a, std::string_view name, uint64_t max_size) const;
  [[nodiscard]] core::Status write_file(Area a, std::string_view name, std::string_view content) const;
  // Removes `name` (absent is fine); the directory is not fsynced: sync() it.
  [[nodiscard]] core::Status remove_file(Area a, std::string_view name) const;
  [[nodiscard]] core::Status sync(Area a) const;
  [[nodiscard]] core::Result<std::vector<DirEntry>> list(Area a) const;

  // True when blobs/ holds `d` (and its size equals `size` when size >= 0).
  bool has_blob(const digest::Digest& d, int64_t size = -1) const;
  // Reads a small blob fully (manifests, configs); refuses blobs over `max_size`.
  [[nodiscard]] core::Result<std::string> read_blob(const digest::Digest& d, uint64_t max_size) const;
  // Verify `bytes` against `d` and commit them (manifests, configs fetched in memory).
  [[nodiscard]] core::Status put_blob(const digest::Digest& d, std::string_view bytes);

  // Start or resume receiving `d` of `size` bytes into ingest/<hex>.partial. A
  // negative `size` means unknown: any length up to `max_unsized` bytes is accepted
  // (more fails with SizeMismatch) and the commit checks the digest only.
  [[nodiscard]] core::Result<std::unique_ptr<Ingest>> begin_ingest(const digest::Digest& d, int64_t size,
                                                                   uint64_t max_unsized = kMaxUnsizedBlob);
  // Verify size and digest of everything received, then move it into blobs/. On a
  // mismatch the partial is deleted and DigestMismatch/SizeMismatch returned.
  [[nodiscard]] core::Status commit(std::unique_ptr<Ingest> ingest);

  // index.json
  [[nodiscard]] core::Result<std::vector<IndexEntry>> read_index() const;
  // Replace every entry whose ref_name appears in `entries` by `entries` (a reference
  // may have one entry per platform); one atomic rewrite.
  [[nodiscard]] core::Status upsert_index(const std::vector<IndexEntry>& entries);
  // Replace the whole of index.json by `entries` (gc drops references this way);
  // one atomic rewrite.
  [[nodiscard]] core::Status replace_index(const std::vector<IndexEntry>& entries);

 private:
  Store(fs::path root, std::shared_ptr<const StoreDirs> dirs) : root_(std::move(root)), dirs_(std::move(dirs)) {}
  int fd(Area a) const;
  fs::path root_;
  std::shared_ptr<const StoreDirs> dirs_;
};

}  // namespace ferry::store
