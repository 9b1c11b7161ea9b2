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
  auto lock = StoreLock::acquire(root);
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
