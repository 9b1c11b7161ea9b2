#include "store/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>
#include <atomic>

#include "digest/digest.h"

namespace fs = std::filesystem;
using ferry::core::ErrorKind;
using ferry::digest::sha256_of;
using ferry::store::Store;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("ferry-store-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string blob(size_t n, int seed) {
  std::string s(n, '\0');
  std::mt19937 gen(seed);
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}
}  // namespace

TEST(Store, CreatesAnOciLayout) {
  TempDir t;
  auto s = Store::open(t.path / "s", true);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(fs::exists(t.path / "s/oci-layout"));
  EXPECT_TRUE(fs::is_directory(t.path / "s/blobs/sha256"));
  auto idx = s->read_index();
  ASSERT_TRUE(idx);
  EXPECT_TRUE(idx->empty());
}

TEST(Store, RefusesNonEmptyForeignDirectoryAndMissingStore) {
  TempDir t;
  std::ofstream(t.path / "precious.txt") << "x";
  auto s = Store::open(t.path, true);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("not an OCI image layout"), std::string::npos);
  EXPECT_FALSE(Store::open(t.path / "nope", false));
}

TEST(Store, PutBlobVerifiesContent) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  auto d = sha256_of("hello");
  auto bad = s->put_blob(d, "hellO");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::DigestMismatch);
  EXPECT_FALSE(s->has_blob(d));
  ASSERT_TRUE(s->put_blob(d, "hello"));
  EXPECT_TRUE(s->has_blob(d, 5));
  EXPECT_FALSE(s->has_blob(d, 6));
  EXPECT_EQ(*s->read_blob(d, 100), "hello");
}

TEST(Store, IngestResumesAcrossObjectsAndCommits) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(3 << 20, 1);
  const auto d = sha256_of(data);
  {
    auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(in);
    ASSERT_TRUE((*in)->write(data.data(), 1234567));
  }  // dropped mid-way: partial kept
  auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(in);
  ASSERT_EQ((*in)->size(), 1234567u);
  ASSERT_TRUE((*in)->write(data.data() + 1234567, data.size() - 1234567));
  ASSERT_TRUE(s->commit(std::move(*in)));
  EXPECT_TRUE(s->has_blob(d, static_cast<int64_t>(data.size())));
  EXPECT_EQ(count_files(t.path / "ingest"), 0u);
}

// The committed file holds exactly the bytes written, whatever the mix of small
// (buffered), buffer-crossing and large (direct) writes, resumed or not.
TEST(Store, IngestFileHoldsTheBytesInOrderForEveryWriteSize) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(9 << 20, 7);
  const auto d = sha256_of(data);
  const size_t sizes[] = {16384, 700000, 3 << 20, 16384, 1 << 20, 999999, 5, 2 << 20};
  size_t at = 0;
  for (int round = 0; at < data.size(); ++round) {
    auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(in);
    ASSERT_EQ((*in)->size(), at);
    for (int k = 0; k < 3 && at < data.size(); ++k) {
      const size_t n = std::min(sizes[(round * 3 + k) % std::size(sizes)], data.size() - at);
      ASSERT_TRUE((*in)->write(data.data() + at, n));
      at += n;
    }
    if (at == data.size()) {
      ASSERT_TRUE(s->commit(std::move(*in)));
    }
  }
  std::ifstream f(s->blob_path(d), std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(back == data) << "the file differs from the bytes written";
}

// Segments written out of order: the prefix hashes in order, the gaps resume after
// a reopen (the record), and the committed file is the blob.
TEST(Store, SegmentsWrittenOutOfOrderResumeAndCommit) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(6 << 20, 9);
  const auto d = sha256_of(data);
  const uint64_t third = 2 << 20;
  {
    auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(in);
    auto a = (*in)->segment({0, third});
    auto c = (*in)->segment({2 * third, 3 * third});
    ASSERT_TRUE(a && c);
    ASSERT_TRUE((*c)->write(data.data() + 2 * third, third));  // last third complete
    ASSERT_TRUE((*a)->write(data.data(), 1000000));            // first third in part
    ASSERT_TRUE((*a)->flush() && (*c)->flush());
    EXPECT_EQ((*in)->size(), 1000000u);  // the contiguous prefix
  }  // dropped: partial and record kept
  EXPECT_TRUE(fs::exists(t.path / "ingest" / (std::string(d.hex()) + ".segments")));
  auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(in);
  EXPECT_TRUE((*in)->segmented());
  EXPECT_EQ((*in)->size(), 1000000u);
  auto gaps = (*in)->missing();
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0], (ferry::store::ByteRange{1000000, 2 * third}));
  {
    auto b = (*in)->segment(gaps[0]);
    ASSERT_TRUE(b);
    ASSERT_TRUE((*b)->write(data.data() + gaps[0].from, gaps[0].size()));
    EXPECT_FALSE((*b)->write("x", 1)) << "a segment took more than its range";
  }
  // b was written at the prefix and hashed as it went; the last third, written
  // before the prefix reached it, waits for catch_up() (commit runs it too).
  EXPECT_EQ((*in)->size(), 2 * third);
  EXPECT_EQ((*in)->received(), data.size());
  EXPECT_TRUE((*in)->catch_up_due());
  ASSERT_TRUE((*in)->catch_up());
  EXPECT_EQ((*in)->size(), data.size());
  EXPECT_FALSE((*in)->catch_up_due());
  ASSERT_TRUE(s->commit(std::move(*in)));
  EXPECT_TRUE(s->has_blob(d, static_cast<int64_t>(data.size())));
  EXPECT_EQ(count_files(t.path / "ingest"), 0u);
}

// catch_up() runs on a worker while the segments keep writing on their thread: the
// prefix hash advances in order and the commit verifies. (Run under TSan too.)
TEST(Store, CatchUpRunsBesideTheSegmentsThatWrite) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(8 << 20, 11);
  const auto d = sha256_of(data);
  auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(in);
  constexpr int kSegments = 4;
  const uint64_t part = data.size() / kSegments;
  std::vector<std::unique_ptr<ferry::store::Segment>> segs;
  for (int k = 0; k < kSegments; ++k) {
    auto seg = (*in)->segment({k * part, (k + 1) * part});
    ASSERT_TRUE(seg);
    segs.push_back(std::move(*seg));
  }
  std::atomic<bool> writing{true};
  std::atomic<int> catch_ups{0};
  std::thread worker([&] {
    while (writing.load()) {
      std::this_thread::yield();
      if ((*in)->catch_up_due()) {
        EXPECT_TRUE((*in)->catch_up());
        ++catch_ups;
      }
    }
  });
  // The last segment first, then the others in 64 KiB turns, as curl's callbacks would.
  constexpr uint64_t kChunk = 64 << 10;
  ASSERT_TRUE(segs[3]->write(data.data() + 3 * part, part) && segs[3]->flush());
  for (uint64_t off = 0; off < part; off += kChunk) {
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(segs[k]->write(data.data() + k * part + off, std::min(kChunk, part - off)));
    }
  }
  for (auto& seg : segs) ASSERT_TRUE(seg->flush());
  writing = false;
  worker.join();
  EXPECT_EQ((*in)->received(), data.size());
  segs.clear();
  ASSERT_TRUE(s->commit(std::move(*in)));
  EXPECT_TRUE(s->has_blob(d, static_cast<int64_t>(data.size())));
}

// A range the prefix has not reached is hashed by the commit; a gap before the end
// is a short blob, refused, and the partial is gone.
TEST(Store, CommitCatchesUpAndRefusesAGap) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(3 << 20, 12);
  const auto d = sha256_of(data);
  const uint64_t third = 1 << 20;
  for (bool with_gap : {true, false}) {
    auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(in);
    {
      auto a = (*in)->segment({0, third});
      auto c = (*in)->segment({2 * third, 3 * third});
      ASSERT_TRUE(a && c);
      ASSERT_TRUE((*c)->write(data.data() + 2 * third, third));
      ASSERT_TRUE((*a)->write(data.data(), third));
      if (!with_gap) {
        auto b = (*in)->segment({third, 2 * third});
        ASSERT_TRUE(b && (*b)->write(data.data() + third, third));
      }
    }
    EXPECT_FALSE((*in)->catch_up_due() && with_gap);
    auto st = s->commit(std::move(*in));
    if (with_gap) {
      ASSERT_FALSE(st);
      EXPECT_EQ(st.error().kind, ErrorKind::SizeMismatch) << st.error().message;
      EXPECT_EQ(count_files(t.path / "ingest"), 0u);
    } else {
      ASSERT_TRUE(st) << st.error().message;
      EXPECT_TRUE(s->has_blob(d, static_cast<int64_t>(data.size())));
    }
  }
}

// What catch_up() hashed is the prefix of the record a dropped ingest leaves.
TEST(Store, ACaughtUpPrefixIsWhatTheNextRunResumesFrom) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(4 << 20, 13);
  const auto d = sha256_of(data);
  const uint64_t q = 1 << 20;
  {
    auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(in);
    auto a = (*in)->segment({0, q});
    auto b = (*in)->segment({q, 2 * q});
    auto c = (*in)->segment({3 * q, 4 * q});
    ASSERT_TRUE(a && b && c);
    ASSERT_TRUE((*b)->write(data.data() + q, q) && (*b)->flush());
    ASSERT_TRUE((*c)->write(data.data() + 3 * q, q) && (*c)->flush());
    ASSERT_TRUE((*a)->write(data.data(), q) && (*a)->flush());
    EXPECT_EQ((*in)->size(), q);
    ASSERT_TRUE((*in)->catch_up());
    EXPECT_EQ((*in)->size(), 2 * q);  // up to the gap
    EXPECT_FALSE((*in)->catch_up_due());
  }
  auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(in);
  EXPECT_EQ((*in)->size(), 2 * q);
  auto gaps = (*in)->missing();
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0], (ferry::store::ByteRange{2 * q, 3 * q}));
}

// A record that does not parse is doubt: the partial starts over.
TEST(Store, AnUnreadableSegmentRecordStartsOver) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(1 << 20, 3);
  const auto d = sha256_of(data);
  {
    auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(in);
    ASSERT_TRUE((*in)->write(data.data(), 5000));
  }
  std::ofstream(t.path / "ingest" / (std::string(d.hex()) + ".segments")) << "ferry-segments 1 garbage\n";
  auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(in);
  EXPECT_EQ((*in)->size(), 0u);
  EXPECT_FALSE((*in)->segmented());
}

TEST(Store, IngestRejectsOverlongAndCorruptBodies) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(10000, 2);
  const auto d = sha256_of(data);
  auto in = s->begin_ingest(d, 10000);
  ASSERT_TRUE(in);
  auto over = (*in)->write(data.data(), 10001 > data.size() ? data.size() : 10001);
  ASSERT_TRUE(over);
  auto too_long = (*in)->write("x", 1);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().kind, ErrorKind::SizeMismatch);

  std::string flipped = data;
  flipped[5000] ^= 1;
  auto in2 = s->begin_ingest(d, 10000);
  ASSERT_TRUE(in2);
  ASSERT_TRUE((*in2)->restart());
  ASSERT_TRUE((*in2)->write(flipped.data(), flipped.size()));
  auto st = s->commit(std::move(*in2));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::DigestMismatch);
  EXPECT_FALSE(s->has_blob(d));
  EXPECT_EQ(count_files(t.path / "ingest"), 0u);
}

TEST(Store, ShortBodyIsASizeMismatchAndNeverCommitted) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(100, 3);
  auto in = s->begin_ingest(sha256_of(data), 100);
  ASSERT_TRUE(in);
  ASSERT_TRUE((*in)->write(data.data(), 99));
  auto st = s->commit(std::move(*in));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::SizeMismatch);
  EXPECT_FALSE(s->has_blob(sha256_of(data)));
}

// Schema1 layers come without sizes: size -1 commits on the digest alone, within a bound.
TEST(Store, UnknownSizeCommitsByDigestAndIsBounded) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  const std::string data = blob(5000, 4);
  auto in = s->begin_ingest(sha256_of(data), -1, 5000);
  ASSERT_TRUE(in);
  ASSERT_TRUE((*in)->write(data.data(), 3000));
  in->reset();  // interrupted: the next run resumes the partial
  in = s->begin_ingest(sha256_of(data), -1, 5000);
  ASSERT_TRUE(in);
  EXPECT_EQ((*in)->size(), 3000u);
  ASSERT_TRUE((*in)->write(data.data() + 3000, 2000));
  ASSERT_TRUE(s->commit(std::move(*in)));
  EXPECT_TRUE(s->has_blob(sha256_of(data), 5000));

  const std::string big = blob(5001, 5);
  auto over = s->begin_ingest(sha256_of(big), -1, 5000);
  ASSERT_TRUE(over);
  auto st = (*over)->write(big.data(), big.size());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::SizeMismatch);
  EXPECT_NE(st.error().message.find("unknown size"), std::string::npos) << st.error().message;

  std::string flipped = data;
  flipped[10] ^= 1;
  auto bad = s->begin_ingest(sha256_of(blob(5000, 6)), -1, 5000);
  ASSERT_TRUE(bad);
  ASSERT_TRUE((*bad)->write(flipped.data(), flipped.size()));
  auto commit = s->commit(std::move(*bad));
  ASSERT_FALSE(commit);
  EXPECT_EQ(commit.error().kind, ErrorKind::DigestMismatch);
}

TEST(Store, UpsertIndexReplacesByRefName) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  ferry::manifest::Descriptor a{"application/vnd.oci.image.manifest.v1+json", sha256_of("a"), 1, {}, {}, {}};
  ferry::manifest::Descriptor b{"application/vnd.oci.image.manifest.v1+json", sha256_of("b"), 1, {}, {}, {}};
  ASSERT_TRUE(s->upsert_index({{a, "docker.io/library/x:1"}, {a, "docker.io/library/x:2"}}));
  ASSERT_TRUE(s->upsert_index({{b, "docker.io/library/x:1"}}));
  auto idx = s->read_index();
  ASSERT_TRUE(idx);
  ASSERT_EQ(idx->size(), 2u);
  for (const auto& e : *idx) {
    if (e.ref_name == "docker.io/library/x:1") {
      EXPECT_EQ(e.descriptor.digest, sha256_of("b"));
    } else {
      EXPECT_EQ(e.ref_name, "docker.io/library/x:2");
      EXPECT_EQ(e.descriptor.digest, sha256_of("a"));
    }
  }
  // Reopening keeps everything.
  auto s2 = Store::open(t.path, false);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->read_index()->size(), 2u);
}

TEST(Store, IndexEntriesGroupPerReferenceInFirstAppearanceOrder) {
  auto desc = [](const char* body) {
    return ferry::manifest::Descriptor{"application/vnd.oci.image.manifest.v1+json", sha256_of(body), 1, {}, {}, {}};
  };
  auto groups = ferry::store::group_by_reference(
      {{desc("amd64"), "r.io/x:1"}, {desc("y"), "r.io/y:1"}, {desc("arm64"), "r.io/x:1"}});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].ref_name, "r.io/x:1");
  ASSERT_EQ(groups[0].descriptors.size(), 2u);
  EXPECT_EQ(groups[0].descriptors[0].digest, sha256_of("amd64"));
  EXPECT_EQ(groups[0].descriptors[1].digest, sha256_of("arm64"));
  EXPECT_EQ(groups[1].ref_name, "r.io/y:1");
  ASSERT_EQ(groups[1].descriptors.size(), 1u);
  EXPECT_TRUE(ferry::store::group_by_reference({}).empty());
}

#include <sys/wait.h>
#include <unistd.h>

#include "store/lock.h"

TEST(StoreLock, SecondHolderIsRefusedWithThePid) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  auto first = ferry::store::StoreLock::acquire(*s);
  ASSERT_TRUE(first) << first.error().message;
  // flock is per open file description: a second acquire in this process conflicts too,
  // but check across a real process boundary as ferry processes would.
  pid_t child = fork();
  if (child == 0) {
    auto second = ferry::store::StoreLock::acquire(*s);
    bool ok = !second && second.error().message.find(std::to_string(getppid())) != std::string::npos;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(StoreLock, ReleasedWhenTheHolderGoes) {
  TempDir t;
  auto s = Store::open(t.path, true);
  ASSERT_TRUE(s);
  { auto l = ferry::store::StoreLock::acquire(*s); ASSERT_TRUE(l); }
  auto again = ferry::store::StoreLock::acquire(*s);
  EXPECT_TRUE(again);
}
