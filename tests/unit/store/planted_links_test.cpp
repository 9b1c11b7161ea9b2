// A store whose files were replaced by links or FIFOs (a shared or group-writable
// store, a compromised service user): ferry refuses them, naming the path, and never
// writes through a link, resumes a foreign file or renames a link into blobs/.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "digest/digest.h"
#include "store/fs_util.h"
#include "store/lock.h"
#include "store/store.h"
#include "support/temp_dir.h"

namespace ferry::store {
namespace {

namespace fs = std::filesystem;
using ferry::testing::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Planted : ::testing::Test {
  TempDir tmp;
  fs::path root = tmp.path() / "store";
  fs::path canary = tmp.path() / "canary";
  void SetUp() override {
    ASSERT_TRUE(Store::open(root, true));
    std::ofstream(canary) << "precious";
  }
};

TEST_F(Planted, APartialThatIsALinkIsRefusedAndItsTargetUntouched) {
  const std::string data = "layer bytes";
  const auto d = digest::sha256_of(data);
  fs::create_symlink(canary, root / "ingest" / (std::string(d.hex()) + ".partial"));
  auto s = Store::open(root, false);
  ASSERT_TRUE(s);
  auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
  ASSERT_FALSE(in);
  EXPECT_NE(in.error().message.find("is a symbolic link"), std::string::npos) << in.error().message;
  EXPECT_NE(in.error().message.find(".partial"), std::string::npos) << in.error().message;
  EXPECT_EQ(slurp(canary), "precious");
  EXPECT_FALSE(s->has_blob(d));
}

TEST_F(Planted, ALockThatIsALinkIsRefusedAndItsTargetKeepsItsContent) {
  fs::create_symlink(canary, root / "state" / "lock");
  auto s = Store::open(root, false);
  ASSERT_TRUE(s);
  auto lock = StoreLock::acquire(*s);
  ASSERT_FALSE(lock);
  EXPECT_NE(lock.error().message.find("state/lock: is a symbolic link"), std::string::npos) << lock.error().message;
  EXPECT_EQ(slurp(canary), "precious");
}

TEST_F(Planted, ALinkInBlobsIsNotABlob) {
  const std::string data = "precious";
  const auto d = digest::sha256_of(data);
  fs::create_symlink(canary, root / "blobs" / "sha256" / std::string(d.hex()));
  auto s = Store::open(root, false);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->has_blob(d));
  EXPECT_FALSE(s->read_blob(d, 100));
}

// The race a path-based check leaves open: a store directory renamed away and
// replaced by a link after the store was opened. Every file goes through the
// descriptors Store::open checked, so the link's target never sees a byte.
TEST_F(Planted, ADirectorySwappedForALinkAfterOpenIsNeverWalkedThrough) {
  auto s = Store::open(root, false);
  ASSERT_TRUE(s);
  const fs::path elsewhere = tmp.path() / "elsewhere";
  fs::create_directories(elsewhere / "sha256");
  for (const char* sub : {"ingest", "state"}) {
    fs::rename(root / sub, root / (std::string(sub) + ".old"));
    fs::create_directory_symlink(elsewhere, root / sub);
  }
  fs::rename(root / "blobs", root / "blobs.old");
  fs::create_directory_symlink(elsewhere, root / "blobs");

  const std::string data = "layer bytes";
  const auto d = digest::sha256_of(data);
  auto in = s->begin_ingest(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(in) << in.error().message;
  ASSERT_TRUE((*in)->write(data.data(), data.size()));
  ASSERT_TRUE(s->commit(std::move(*in)));
  ASSERT_TRUE(s->put_blob(digest::sha256_of("cfg"), "cfg"));
  ASSERT_TRUE(s->write_file(Area::State, "last-pulls.json", "{}"));
  auto lock = StoreLock::acquire(*s);
  ASSERT_TRUE(lock) << lock.error().message;

  EXPECT_TRUE(fs::is_empty(elsewhere / "sha256"));
  EXPECT_EQ(std::distance(fs::directory_iterator(elsewhere), fs::directory_iterator()), 1);  // sha256/ only
  EXPECT_TRUE(fs::is_regular_file(root / "blobs.old" / "sha256" / std::string(d.hex())));
  EXPECT_TRUE(fs::is_regular_file(root / "state.old" / "last-pulls.json"));
  EXPECT_TRUE(s->has_blob(d, static_cast<int64_t>(data.size())));
  auto back = s->read_blob(d, 100);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, data);
  // A store opened afresh refuses the links by name.
  auto again = Store::open(root, false);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("is a symbolic link"), std::string::npos) << again.error().message;
}

TEST_F(Planted, AStoreRootThatIsALinkIsRefused) {
  fs::create_directory_symlink(root, tmp.path() / "via-link");
  auto s = Store::open(tmp.path() / "via-link", false);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("via-link: is a symbolic link"), std::string::npos) << s.error().message;
  auto slash = Store::open(tmp.path() / "via-link/", false);  // a trailing slash would follow it
  ASSERT_FALSE(slash);
  EXPECT_NE(slash.error().message.find("is a symbolic link"), std::string::npos) << slash.error().message;
}

TEST_F(Planted, AStoreDirectoryThatIsALinkIsRefused) {
  fs::remove_all(root / "ingest");
  fs::create_directories(tmp.path() / "elsewhere");
  fs::create_directory_symlink(tmp.path() / "elsewhere", root / "ingest");
  auto s = Store::open(root, false);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("ingest: is a symbolic link"), std::string::npos) << s.error().message;
}

TEST_F(Planted, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((root / "state" / "last-run.json").c_str(), 0600), 0);
  // Without O_NONBLOCK this open would wait for a writer forever.
  auto text = read_file(root / "state" / "last-run.json", 1 << 20);
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().message.find("is not a regular file"), std::string::npos) << text.error().message;
}

TEST_F(Planted, AnAtomicWriteReplacesALinkInsteadOfWritingThroughIt) {
  fs::create_symlink(canary, root / "state" / "last-pulls.json");
  ASSERT_TRUE(write_file_atomic(root / "state" / "last-pulls.json", "{}\n"));
  EXPECT_EQ(slurp(canary), "precious");
  EXPECT_FALSE(fs::is_symlink(root / "state" / "last-pulls.json"));
  EXPECT_EQ(slurp(root / "state" / "last-pulls.json"), "{}\n");
}

}  // namespace
}  // namespace ferry::store

namespace ferry::store {
namespace {

// The store belongs to the user running ferry: a directory of it that others may
// write to (a /tmp-like 1777 ingest/) is refused, naming it and the remedy.
TEST(StorePermissions, ADirectoryOthersMayWriteIsRefused) {
  TempDir tmp;
  const auto root = tmp.path() / "store";
  ASSERT_TRUE(Store::open(root, true));
  ASSERT_EQ(::chmod((root / "ingest").c_str(), 01777), 0);
  auto s = Store::open(root, false);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("ingest: is writable by other users (mode 1777)"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("chmod o-w"), std::string::npos);
}

// Whatever the umask, a new store is not writable by others.
TEST(StorePermissions, ANewStoreIsCreated0755EvenWithUmaskZero) {
  TempDir tmp;
  const mode_t old = ::umask(0);
  auto s = Store::open(tmp.path() / "store", true);
  ::umask(old);
  ASSERT_TRUE(s) << s.error().message;
  for (const char* sub : {"", "blobs", "blobs/sha256", "ingest", "state"}) {
    struct stat sb {};
    ASSERT_EQ(::lstat((tmp.path() / "store" / sub).c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0755u) << sub;
  }
}

}  // namespace
}  // namespace ferry::store
