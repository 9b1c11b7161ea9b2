#include "store/receipt.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "store/store.h"
#include "store/fs_util.h"
#include "support/temp_dir.h"

namespace ferry::store {
namespace {

using ferry::testing::TempDir;

digest::Digest sha(std::string_view s) { return digest::sha256_of(s); }

TEST(Receipt, WriteThenReadGivesTheSameBlobs) {
  TempDir tmp;
  Receipt r;
  r.source = "registry 127.0.0.1:5000/mirror";
  r.blobs = {sha("b"), sha("a"), sha("c")};
  ASSERT_TRUE(write_receipt(tmp.path() / "r.json", r));
  auto back = read_receipt(tmp.path() / "r.json");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->blobs, r.blobs);
  EXPECT_EQ(back->source, r.source);
  EXPECT_EQ(back->created.size(), 20u) << back->created;  // 2026-11-26T23:00:00Z
  // The file's own digest, for a delta bundle to name the receipt it was made against.
  std::ifstream in(tmp.path() / "r.json", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(back->file_sha256);
  EXPECT_EQ(*back->file_sha256, sha(bytes));
  EXPECT_FALSE(r.file_sha256);
}

// `--receipt receipt.json`, as the README writes it: a bare name in the working
// directory, whose parent_path() is empty, is written and synced without error.
TEST(Receipt, ABareFileNameIsWrittenInTheWorkingDirectory) {
  TempDir tmp;
  const auto before = std::filesystem::current_path();
  std::filesystem::current_path(tmp.path());
  Receipt r;
  r.blobs = {sha("a")};
  auto st = write_receipt("receipt.json", r);
  std::filesystem::current_path(before);
  ASSERT_TRUE(st) << st.error().message;
  auto back = read_receipt(tmp.path() / "receipt.json");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->blobs, r.blobs);
}

TEST(Receipt, EqualHoldingsGiveEqualFiles) {
  TempDir tmp;
  Receipt a, b;
  a.created = b.created = "2026-11-26T23:00:00Z";
  a.blobs = {sha("1"), sha("2")};
  b.blobs = {sha("2"), sha("1")};
  ASSERT_TRUE(write_receipt(tmp.path() / "a", a));
  ASSERT_TRUE(write_receipt(tmp.path() / "b", b));
  auto ta = read_file(tmp.path() / "a", 1 << 20), tb = read_file(tmp.path() / "b", 1 << 20);
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(*ta, *tb);
  EXPECT_NE(ta->find(sha("1").str()), std::string::npos);
}

TEST(Receipt, BadFilesAreRefusedNamingTheProblem) {
  TempDir tmp;
  struct Case {
    const char* content;
    const char* want;
  } cases[] = {
      {"not json", "not a JSON object"},
      {"[]", "not a JSON object"},
      {R"({"blobs":[]})", "no \"ferryReceipt\" version"},
      {R"({"ferryReceipt":2,"blobs":[]})", "version 2 is not supported"},
      {R"({"ferryReceipt":1})", "\"blobs\" must be an array"},
      {R"({"ferryReceipt":1,"blobs":[3]})", "blobs[0] is not a string"},
      {R"({"ferryReceipt":1,"blobs":["sha256:../../etc/passwd"]})", "blobs[0]:"},
  };
  for (const auto& c : cases) {
    auto p = tmp.write("bad.json", c.content);
    auto r = read_receipt(p);
    ASSERT_FALSE(r) << c.content;
    EXPECT_EQ(r.error().kind, core::ErrorKind::InvalidInput) << c.content;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(p.string()), std::string::npos) << r.error().message;
  }
  auto missing = read_receipt(tmp.path() / "none.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, core::ErrorKind::NotFound);
}

TEST(Receipt, OfStoreListsCommittedBlobsOnly) {
  TempDir tmp;
  auto store = Store::open(tmp.path() / "s", true);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->put_blob(sha("one"), "one"));
  ASSERT_TRUE(store->put_blob(sha("two"), "two"));
  std::ofstream(tmp.path() / "s" / "blobs" / "sha256" / ".tmp-123") << "x";  // a stray temp file
  auto partial = store->begin_ingest(sha("three"), 5);
  ASSERT_TRUE(partial);
  auto r = receipt_of_store(*store);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->blobs, (std::set<digest::Digest>{sha("one"), sha("two")}));
  EXPECT_EQ(r->source, (tmp.path() / "s").string());
}

}  // namespace
}  // namespace ferry::store
