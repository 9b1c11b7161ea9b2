// ExportSetBuilder: CONTENTS.json and SHA256SUMS, the symlink switch, a reader
// holding the old generation, pruning, reuse by hard link, and migration of a
// real directory (refused when it holds files ferry did not write).
#include "airgap/export_set.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "digest/digest.h"
#include "unit/export/test_util.h"

namespace fs = std::filesystem;
using ferry::airgap::contents_json;
using ferry::airgap::ExportFileInfo;
using ferry::airgap::ExportSetBuilder;
using ferry::airgap::parse_contents;
using ferry::airgap::sums_text;
using ferry::exporter::testing::read_file;
using ferry::exporter::testing::TempDir;
using ferry::exporter::testing::write_file;

namespace {

ExportFileInfo info(const std::string& file, const std::string& ref) {
  ExportFileInfo i;
  i.file = file;
  i.reference = ref;
  i.format = "docker-archive";
  i.manifests = {"sha256:" + std::string(64, 'a')};
  i.platforms = {"linux/amd64"};
  return i;
}

// One generation with `files` (name -> content).
void write_set(const fs::path& export_dir, const std::map<std::string, std::string>& files) {
  auto set = ExportSetBuilder::begin(export_dir);
  ASSERT_TRUE(set) << set.error().message;
  for (const auto& [name, content] : files) {
    write_file(set->path_for(name), content);
    auto st = set->add(info(name, "example.com/app:" + name));
    ASSERT_TRUE(st) << st.error().message;
  }
  auto st = set->commit();
  ASSERT_TRUE(st) << st.error().message;
}

// `sha256sum -c SHA256SUMS` inside dir: every line's file exists and matches,
// and every file of dir is listed (SHA256SUMS itself excepted).
void expect_sums_ok(const fs::path& dir) {
  std::string sums = read_file((dir / "SHA256SUMS").string());
  std::string cmd = "cd '" + dir.string() + "' && sha256sum --quiet --strict -c SHA256SUMS";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << sums;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name == "SHA256SUMS") continue;
    EXPECT_NE(sums.find("  " + name + "\n"), std::string::npos) << name << " not in SHA256SUMS";
  }
}

}  // namespace

TEST(ExportSetText, SumsAreSha256sumFormatSortedByName) {
  EXPECT_EQ(sums_text({{"b.tar", std::string(64, 'b')}, {"a.tar", std::string(64, 'a')}}),
            std::string(64, 'a') + "  a.tar\n" + std::string(64, 'b') + "  b.tar\n");
}

TEST(ExportSetText, ContentsRoundTrip) {
  auto i = info("app_v1.tar", "example.com/app:v1");
  i.size = 1234;
  i.sha256 = std::string(64, 'c');
  std::string text = contents_json({i}, "2026-11-26T00:00:00Z");
  auto back = parse_contents(text, "CONTENTS.json");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].file, "app_v1.tar");
  EXPECT_EQ((*back)[0].reference, "example.com/app:v1");
  EXPECT_EQ((*back)[0].manifests, i.manifests);
  EXPECT_EQ((*back)[0].platforms, i.platforms);
  EXPECT_EQ((*back)[0].size, 1234u);
  EXPECT_EQ((*back)[0].sha256, i.sha256);
}

TEST(ExportSetText, ContentsWithPathNamesRefused) {
  std::string text = R"({"ferryExport":1,"files":[{"reference":"a","file":"../x.tar","format":"docker-archive",
    "manifests":[],"platforms":[],"size":1,"sha256":"00"}]})";
  auto back = parse_contents(text, "C");
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("../x.tar"), std::string::npos);
}

TEST(ExportSet, FirstCommitMakesSymlinkToCompleteGeneration) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}, {"b.tar", "BBB"}});
  ASSERT_TRUE(fs::is_symlink(exp));
  EXPECT_EQ(fs::read_symlink(exp).parent_path(), fs::path(".export.sets"));
  EXPECT_EQ(read_file((exp / "a.tar").string()), "AAA");
  expect_sums_ok(exp);
  auto contents = parse_contents(read_file((exp / "CONTENTS.json").string()), "C");
  ASSERT_TRUE(contents);
  ASSERT_EQ(contents->size(), 2u);
  EXPECT_EQ((*contents)[0].sha256, ferry::digest::sha256_of("AAA").hex());
  EXPECT_EQ((*contents)[0].size, 3u);
}

TEST(ExportSet, ReaderHoldingOldGenerationSeesCompleteSetAfterSwitch) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "old-a"}, {"b.tar", "old-b"}});
  fs::path held = fs::canonical(exp);  // a copy in progress resolved the link here
  write_set(exp, {{"a.tar", "new-a"}, {"c.tar", "new-c"}});
  // The new set is complete and only new.
  EXPECT_EQ(read_file((exp / "a.tar").string()), "new-a");
  EXPECT_FALSE(fs::exists(exp / "b.tar"));
  expect_sums_ok(exp);
  // The old one is still whole (the previous generation is kept).
  ASSERT_TRUE(fs::exists(held));
  EXPECT_EQ(read_file((held / "a.tar").string()), "old-a");
  EXPECT_EQ(read_file((held / "b.tar").string()), "old-b");
  expect_sums_ok(held);
  // One more switch: the generation two back goes, the previous stays.
  fs::path second = fs::canonical(exp);
  write_set(exp, {{"d.tar", "D"}});
  EXPECT_FALSE(fs::exists(held));
  EXPECT_TRUE(fs::exists(second));
  size_t generations = 0;
  for (const auto& e : fs::directory_iterator(tmp.path() / ".export.sets")) generations += e.is_directory();
  EXPECT_EQ(generations, 2u);
}

TEST(ExportSet, ReuseHardLinksTheCurrentFile) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}});
  struct stat before {};
  ASSERT_EQ(::stat((exp / "a.tar").c_str(), &before), 0);
  auto set = ExportSetBuilder::begin(exp);
  ASSERT_TRUE(set);
  ASSERT_TRUE(set->current("a.tar"));
  EXPECT_FALSE(set->current("zzz.tar"));
  EXPECT_EQ(set->current_of("example.com/app:a.tar").size(), 1u);
  ASSERT_TRUE(set->reuse("a.tar"));
  EXPECT_FALSE(set->reuse("missing.tar"));
  ASSERT_TRUE(set->commit());
  struct stat after {};
  ASSERT_EQ(::stat((exp / "a.tar").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  expect_sums_ok(exp);
}

// A current file cut short (or replaced) no longer has the size CONTENTS.json
// records: it is not current, so it is written again, never relisted.
TEST(ExportSet, ACurrentFileOfAnotherSizeIsNotReused) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}, {"b.tar", "BBB"}});
  fs::resize_file(fs::canonical(exp / "a.tar"), 1);
  auto set = ExportSetBuilder::begin(exp);
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->current("a.tar"));
  EXPECT_FALSE(set->reuse("a.tar"));
  EXPECT_TRUE(set->current("b.tar"));
}

TEST(ExportSet, TwoFilesWithOneNameRefused) {
  TempDir tmp;
  auto set = ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_TRUE(set);
  write_file(set->path_for("a.tar"), "A");
  ASSERT_TRUE(set->add(info("a.tar", "x")));
  auto st = set->add(info("a.tar", "y"));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("a.tar"), std::string::npos);
}

TEST(ExportSet, UncommittedGenerationIsRemovedAndExportUntouched) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}});
  fs::path current = fs::canonical(exp);
  fs::path gen;
  {
    auto set = ExportSetBuilder::begin(exp);
    ASSERT_TRUE(set);
    gen = set->generation();
    write_file(set->path_for("half.tar"), "HALF");
  }
  EXPECT_FALSE(fs::exists(gen));
  EXPECT_EQ(fs::canonical(exp), current);
}

TEST(ExportSet, SecondBuilderOnOneExportIsRefused) {
  TempDir tmp;
  auto first = ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_TRUE(first);
  auto second = ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another ferry"), std::string::npos);
}

TEST(ExportSet, RealDirectoryOfFerryFilesIsMigrated) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  fs::create_directories(exp);
  write_file(exp / "old.tar", "OLD");
  write_file(exp / "SHA256SUMS", "x");
  write_set(exp, {{"new.tar", "NEW"}});
  ASSERT_TRUE(fs::is_symlink(exp));
  EXPECT_FALSE(fs::exists(exp / "old.tar"));
  expect_sums_ok(exp);
  bool migrated_kept = false;  // the old directory is the previous generation now
  for (const auto& e : fs::directory_iterator(tmp.path() / ".export.sets")) {
    migrated_kept |= fs::exists(e.path() / "old.tar");
  }
  EXPECT_TRUE(migrated_kept);
}

TEST(ExportSet, RealDirectoryWithForeignFilesIsRefusedAndLeftAlone) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  fs::create_directories(exp);
  write_file(exp / "old.tar", "OLD");
  write_file(exp / "notes.txt", "mine");
  auto set = ExportSetBuilder::begin(exp);
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find("notes.txt"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(exp) && !fs::is_symlink(exp));
  EXPECT_EQ(read_file((exp / "notes.txt").string()), "mine");
  EXPECT_EQ(read_file((exp / "old.tar").string()), "OLD");
}

TEST(ExportSet, ForeignSymlinkRefused) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "elsewhere");
  fs::create_directory_symlink(tmp.path() / "elsewhere", tmp.path() / "export");
  auto set = ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find("symlink"), std::string::npos);
}

TEST(ExportSetSums, MissingChangedAndUnlistedFilesAreEachNamed) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}, {"b.tar", "BBB"}, {"c.tar", "CCC"}});
  EXPECT_TRUE(ferry::airgap::check_sums(exp).empty());
  fs::path copy = tmp.path() / "copy";
  fs::copy(fs::canonical(exp), copy);
  fs::remove(copy / "a.tar");
  write_file(copy / "b.tar", "BBx");
  write_file(copy / "extra.tar", "E");
  auto problems = ferry::airgap::check_sums(copy);
  ASSERT_EQ(problems.size(), 3u);
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_NE(all.find("a.tar: missing"), std::string::npos) << all;
  EXPECT_NE(all.find("b.tar: checksum mismatch"), std::string::npos) << all;
  EXPECT_NE(all.find("extra.tar: not listed in SHA256SUMS"), std::string::npos) << all;
}

TEST(ExportSetSums, PathNamesInSumsAreProblemsNeverOpened) {
  TempDir tmp;
  write_file(tmp.path() / "SHA256SUMS", std::string(64, 'a') + "  ../etc/passwd\n" + "garbage\n");
  auto problems = ferry::airgap::check_sums(tmp.path());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("not a plain file name"), std::string::npos);
  EXPECT_NE(problems[1].find("line 2"), std::string::npos);
  EXPECT_FALSE(ferry::airgap::check_sums(tmp.path() / "nowhere").empty());
}

TEST(ExportSetSums, TarballsAreTheTarFilesOfTheDirectorySorted) {
  TempDir tmp;
  write_file(tmp.path() / "b.tar", "b");
  write_file(tmp.path() / "a.tar", "a");
  write_file(tmp.path() / "SHA256SUMS", "");
  fs::create_directory(tmp.path() / "dir.tar");
  auto tars = ferry::airgap::list_tarballs(tmp.path());
  ASSERT_TRUE(tars) << tars.error().message;
  ASSERT_EQ(tars->size(), 2u);
  EXPECT_EQ((*tars)[0].filename(), "a.tar");
  EXPECT_EQ((*tars)[1].filename(), "b.tar");
  auto none = ferry::airgap::list_tarballs(tmp.path() / "nowhere");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("nowhere"), std::string::npos) << none.error().message;
}

TEST(ExportSet, NoChangeLeavesTheSetAsItIs) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}, {"b.tar", "BBB"}});
  const fs::path before = fs::read_symlink(exp);
  const std::string contents = read_file((exp / "CONTENTS.json").string());
  {  // a run where every file is reused: same list, same checksums
    auto set = ExportSetBuilder::begin(exp);
    ASSERT_TRUE(set) << set.error().message;
    ASSERT_TRUE(set->reuse("a.tar"));
    ASSERT_TRUE(set->reuse("b.tar"));
    auto st = set->commit();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_TRUE(set->unchanged());
  }
  EXPECT_EQ(fs::read_symlink(exp), before);
  EXPECT_EQ(read_file((exp / "CONTENTS.json").string()), contents) << "created is not re-dated";
  size_t generations = 0;
  for (const auto& e : fs::directory_iterator(tmp.path() / ".export.sets")) generations += e.is_directory();
  EXPECT_EQ(generations, 1u) << "the unused generation is removed";
  expect_sums_ok(exp);
}

TEST(ExportSet, OneChangedFileSwitches) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}, {"b.tar", "BBB"}});
  const fs::path before = fs::read_symlink(exp);
  auto set = ExportSetBuilder::begin(exp);
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_TRUE(set->reuse("a.tar"));
  write_file(set->path_for("b.tar"), "BBB2");
  ASSERT_TRUE(set->add(info("b.tar", "example.com/app:b.tar")));
  ASSERT_TRUE(set->commit());
  EXPECT_FALSE(set->unchanged());
  EXPECT_NE(fs::read_symlink(exp), before);
  EXPECT_EQ(read_file((exp / "b.tar").string()), "BBB2");
}

TEST(ExportSet, DroppedReferenceSwitches) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}, {"b.tar", "BBB"}});
  auto set = ExportSetBuilder::begin(exp);
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_TRUE(set->reuse("a.tar"));
  ASSERT_TRUE(set->commit());
  EXPECT_FALSE(set->unchanged());
  EXPECT_FALSE(fs::exists(exp / "b.tar"));
}

// The export tree is as hostile as the store: links planted in it are never
// followed, so nothing lands outside it and nothing outside it is relisted.
TEST(ExportSetLinks, APlantedSetsDirectoryLinkIsRefusedAndItsTargetStaysEmpty) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "elsewhere");
  fs::create_directory_symlink(tmp.path() / "elsewhere", tmp.path() / ".export.sets");
  auto set = ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find(".export.sets"), std::string::npos) << set.error().message;
  EXPECT_TRUE(fs::is_empty(tmp.path() / "elsewhere"));
  EXPECT_FALSE(fs::exists(tmp.path() / "export"));
}

TEST(ExportSetLinks, ASetsDirectoryOthersMayWriteIsRefused) {
  TempDir tmp;
  fs::create_directories(tmp.path() / ".export.sets");
  ASSERT_EQ(::chmod((tmp.path() / ".export.sets").c_str(), 0777), 0);
  auto set = ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find(".export.sets"), std::string::npos) << set.error().message;
}

TEST(ExportSetLinks, ACurrentFileReplacedByALinkIsNeitherCurrentNorReused) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}, {"b.tar", "BBB"}});
  write_file(tmp.path() / "secret", "AAA");  // same size as a.tar: only the link check can refuse it
  const fs::path gen_file = fs::canonical(exp / "a.tar");
  fs::remove(gen_file);
  fs::create_symlink(tmp.path() / "secret", gen_file);
  auto set = ExportSetBuilder::begin(exp);
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_FALSE(set->current("a.tar"));
  EXPECT_FALSE(set->reuse("a.tar"));
  EXPECT_TRUE(set->current("b.tar"));
}

TEST(ExportSetLinks, AFileAddedAsALinkIsRefused) {
  TempDir tmp;
  write_file(tmp.path() / "secret", "S");
  auto set = ExportSetBuilder::begin(tmp.path() / "export");
  ASSERT_TRUE(set) << set.error().message;
  fs::create_symlink(tmp.path() / "secret", set->path_for("a.tar"));
  auto st = set->add(info("a.tar", "example.com/app:a"));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("a.tar"), std::string::npos) << st.error().message;
}

TEST(ExportSetSums, ALinkInTheSetIsAProblemNeverFollowed) {
  TempDir tmp;
  fs::path exp = tmp.path() / "export";
  write_set(exp, {{"a.tar", "AAA"}});
  fs::path copy = tmp.path() / "copy";
  fs::copy(fs::canonical(exp), copy);
  write_file(tmp.path() / "outside", "AAA");
  fs::remove(copy / "a.tar");
  fs::create_symlink(tmp.path() / "outside", copy / "a.tar");
  auto problems = ferry::airgap::check_sums(copy);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("a.tar: is a symbolic link"), std::string::npos) << problems[0];
  auto tars = ferry::airgap::list_tarballs(copy);
  ASSERT_TRUE(tars);
  EXPECT_TRUE(tars->empty());
}
