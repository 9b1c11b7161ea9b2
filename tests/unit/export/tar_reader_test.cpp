// TarReader on what TarWriter and GNU tar write (long names through pax and GNU
// 'L'), and on hostile archives: "../" and absolute names, sizes past the end,
// truncation, bad checksums. check_archive on good and damaged docker archives.
#include "export/tar_reader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "export/archive_check.h"
#include "export/tar_writer.h"
#include "image_builder.h"
#include "test_util.h"

namespace fs = std::filesystem;
using ferry::core::ErrorKind;
using ferry::exporter::ArchiveScan;
using ferry::exporter::check_archive;
using ferry::exporter::kTarBlock;
using ferry::exporter::resolve_link;
using EntryHeader = ferry::exporter::TarEntry;
using ferry::exporter::TarReader;
using ferry::exporter::TarWriter;
using ferry::exporter::ustar_header;
using namespace ferry::exporter::testing;

namespace {

struct Read {
  std::vector<std::pair<EntryHeader, std::string>> entries;
  std::string error;  // empty when the archive read to its end
};

Read read_all(const fs::path& path) {
  Read out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  TarReader r(fd, path.string());
  for (;;) {
    auto e = r.next();
    if (!e) {
      out.error = e.error().message;
      EXPECT_EQ(e.error().kind, ErrorKind::InvalidInput);
      break;
    }
    if (!*e) break;
    std::string content;
    char buf[7];  // odd size: chunking is exercised
    for (;;) {
      auto n = r.read(buf, sizeof buf);
      EXPECT_TRUE(n);
      if (!n || *n == 0) break;
      content.append(buf, *n);
    }
    out.entries.emplace_back(std::move(**e), std::move(content));
  }
  ::close(fd);
  return out;
}

template <class Fill>
void write_tar(const fs::path& path, Fill fill) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TarWriter w(fd, path.string());
  fill(w);
  ASSERT_TRUE(w.finish());
  ::close(fd);
}

// A raw archive: one header (with the given name and size) + content, end blocks.
std::string raw_entry(const std::string& name, const std::string& content, char type = '0') {
  std::string h = ustar_header(name, type, content.size(), 0644, 0);
  std::string body = content;
  body.resize((content.size() + kTarBlock - 1) / kTarBlock * kTarBlock, '\0');
  return h + body;
}

std::string end_blocks() { return std::string(2 * kTarBlock, '\0'); }

// Writes a header with a valid checksum after patching `field` at `offset`.
std::string patched_header(std::string h, size_t offset, const std::string& field) {
  h.replace(offset, field.size(), field);
  std::fill(h.begin() + 148, h.begin() + 156, ' ');
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  h.replace(148, 7, std::string(chk, 6) + '\0');
  return h;
}

}  // namespace

TEST(TarReader, ReadsWhatTarWriterWritesIncludingPaxLongNames) {
  TempDir tmp;
  fs::path p = tmp.path() / "a.tar";
  std::string long_name = std::string(150, 'n') + "/" + std::string(120, 'm') + ".txt";
  write_tar(p, [&](TarWriter& w) {
    ASSERT_TRUE(w.add_directory("blobs/"));
    ASSERT_TRUE(w.add_file("manifest.json", "[]"));
    ASSERT_TRUE(w.add_file(long_name, "long"));
    ASSERT_TRUE(w.add_file("empty", ""));
  });
  Read r = read_all(p);
  EXPECT_EQ(r.error, "");
  ASSERT_EQ(r.entries.size(), 4u);
  EXPECT_EQ(r.entries[0].first.name, "blobs");
  EXPECT_EQ(r.entries[0].first.type, '5');
  EXPECT_EQ(r.entries[1].first.name, "manifest.json");
  EXPECT_EQ(r.entries[1].second, "[]");
  EXPECT_EQ(r.entries[2].first.name, long_name);
  EXPECT_EQ(r.entries[2].second, "long");
  EXPECT_EQ(r.entries[3].second, "");
}

TEST(TarReader, ReadsGnuTarLongNamesAndSymlinks) {
  TempDir tmp;
  fs::path src = tmp.path() / "src";
  std::string deep = std::string(110, 'd');
  fs::create_directories(src / deep);
  write_file(src / deep / "file", "content");
  fs::create_symlink(deep + "/file", src / "link");
  fs::path p = tmp.path() / "gnu.tar";
  std::string cmd = "tar --format=gnu -C '" + src.string() + "' -cf '" + p.string() + "' .";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Read r = read_all(p);
  EXPECT_EQ(r.error, "");
  bool file = false, link = false;
  for (const auto& [e, content] : r.entries) {
    if (e.name == deep + "/file") file = (content == "content");
    if (e.name == "link") link = (e.type == '2' && e.link == deep + "/file");
  }
  EXPECT_TRUE(file);
  EXPECT_TRUE(link);
}

TEST(TarReader, HostileArchivesAreRefusedWithOneClearLine) {
  TempDir tmp;
  struct Case {
    std::string what, bytes, message;
  };
  std::string good = raw_entry("ok", "hello");
  std::string huge = patched_header(ustar_header("big", '0', 5, 0644, 0), 124, "77777777777");
  std::string bad_sum = good;
  bad_sum[0] = 'X';
  std::vector<Case> cases = {
      {"dot-dot name", raw_entry("../evil", "x") + end_blocks(), "leaves the archive"},
      {"nested dot-dot", raw_entry("a/../../evil", "x") + end_blocks(), "leaves the archive"},
      {"absolute name", raw_entry("/etc/passwd", "x") + end_blocks(), "is absolute"},
      {"size past the end", huge + std::string(512, 'a') + end_blocks(), "claims"},
      {"truncated content", good.substr(0, 600), "truncated"},
      {"truncated header", good + good.substr(0, 100), "truncated"},
      {"no end marker", good, "without the end-of-archive marker"},
      {"bad checksum", bad_sum + end_blocks(), "checksum"},
      {"pax path escape",
       raw_entry("PaxHeaders/x", ferry::exporter::pax_record("path", "../../x"), 'x') + raw_entry("x", "y") +
           end_blocks(),
       "leaves the archive"},
      {"pax garbage", raw_entry("PaxHeaders/x", "99999 path=x\n", 'x') + raw_entry("x", "y") + end_blocks(),
       "malformed pax"},
      // #13: what follows the end marker was silently ignored.
      {"entry after a lone zero block", good + std::string(kTarBlock, '\0') + raw_entry("hidden", "x") + end_blocks(),
       "data after the end-of-archive marker"},
      {"garbage after the end", good + end_blocks() + "trailing", "data after the end-of-archive marker"},
      {"megabytes after the end", good + end_blocks() + std::string(2 << 20, '\0'), "bytes after the end-of-archive"},
      // #13: memory grew with names (64 KiB GNU names, 1 MiB pax paths).
      // #13: names no tool writes were read as they came.
      {"control byte in a name", raw_entry("blobs/a\x01-b", "x") + end_blocks(),
       "entry name \"blobs/a\\x01-b\" contains a control character"},
      {"name not UTF-8", raw_entry("caf\xe9.json", "x") + end_blocks(), "entry name \"caf\\xe9.json\" is not UTF-8"},
      {"pax path past PATH_MAX",
       raw_entry("PaxHeaders/x", ferry::exporter::pax_record("path", std::string(5000, 'p')), 'x') +
           raw_entry("x", "y") + end_blocks(),
       "longer than 4096 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    fs::path p = tmp.path() / "h.tar";
    write_file(p, c.bytes);
    Read r = read_all(p);
    EXPECT_NE(r.error.find(c.message), std::string::npos) << r.error;
    EXPECT_NE(r.error.find(p.string()), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find('\n'), std::string::npos);
  }
}

// A lone zero block (GNU tar accepts it) and record padding after the marker, as
// tar and docker save write it, still read to the end without error.
TEST(TarReader, ZeroPaddingAfterTheEndIsFine) {
  TempDir tmp;
  for (const std::string& tail : {std::string(kTarBlock, '\0'), end_blocks() + std::string(9 * kTarBlock, '\0')}) {
    fs::path p = tmp.path() / "pad.tar";
    write_file(p, raw_entry("ok", "hello") + tail);
    Read r = read_all(p);
    EXPECT_EQ(r.error, "");
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].second, "hello");
  }
}

TEST(TarReader, ResolveLinkStaysInside) {
  EXPECT_EQ(resolve_link("abc/layer.tar", "../def/layer.tar"), "def/layer.tar");
  EXPECT_EQ(resolve_link("link", "a/b"), "a/b");
  EXPECT_EQ(resolve_link("abc/layer.tar", "../../etc/passwd"), std::nullopt);
  EXPECT_EQ(resolve_link("x", "/etc/passwd"), std::nullopt);
}

class ArchiveCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ferry::store::Store::open(tmp.path() / "store", true);
    ASSERT_TRUE(s) << s.error().message;
    store.emplace(std::move(*s));
    l1 = make_layer(tmp.path() / "l.tar", {{"a", "one"}});
    l2 = make_layer(tmp.path() / "l.tar", {{"b", std::string(5000, 'b')}});
    img = build_image(*store, "example.com/app:v1", {l1, l2});
    ASSERT_TRUE(ferry::exporter::write_docker_archive(*store, {img.image}, out, {}));
  }

  ferry::exporter::ArchiveReport check(const fs::path& p) {
    auto scan = ArchiveScan::scan(p);
    EXPECT_TRUE(scan);
    return check_archive(*scan);
  }

  // Rewrites `out` through TarReader/TarWriter, changing entries with `edit`
  // (return false to drop one).
  template <class Edit>
  fs::path rewrite(const std::string& name, Edit edit) {
    fs::path dst = tmp.path() / name;
    Read r = read_all(out);
    write_tar(dst, [&](TarWriter& w) {
      for (auto& [e, content] : r.entries) {
        if (!edit(e.name, content)) continue;
        if (e.type == '5') {
          ASSERT_TRUE(w.add_directory(e.name));
        } else {
          ASSERT_TRUE(w.add_file(e.name, content));
        }
      }
    });
    return dst;
  }

  TempDir tmp;
  std::optional<ferry::store::Store> store;
  Layer l1, l2;
  BuiltImage img;
  fs::path out = tmp.path() / "app.tar";
};

TEST_F(ArchiveCheckTest, GoodArchiveIsOkWithEveryBlobGood) {
  auto r = check(out);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.format, "docker-archive");
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_EQ(r.images[0].name, "example.com/app:v1");
  EXPECT_EQ(r.images[0].layer_entries.size(), 2u);
  EXPECT_TRUE(r.good_blobs.contains(l1.digest));
  EXPECT_TRUE(r.good_blobs.contains(img.config_digest));
  EXPECT_TRUE(r.good_blobs.contains(img.image.descriptor.digest));
}

TEST_F(ArchiveCheckTest, FlippedLayerByteIsNamed) {
  std::string layer_name = blob_name(l2.digest);
  fs::path bad = rewrite("flipped.tar", [&](const std::string& name, std::string& content) {
    if (name == layer_name) content[content.size() / 2] ^= 0x01;
    return true;
  });
  auto r = check(bad);
  EXPECT_FALSE(r.ok());
  bool named = false;
  for (const auto& p : r.problems) named |= p.find(layer_name) != std::string::npos && p.find("corrupt") != std::string::npos;
  EXPECT_TRUE(named);
  EXPECT_FALSE(r.good_blobs.contains(l2.digest));
}

TEST_F(ArchiveCheckTest, MissingLayerIsNamed) {
  std::string layer_name = blob_name(l1.digest);
  fs::path bad = rewrite("missing.tar", [&](const std::string& name, std::string&) { return name != layer_name; });
  auto r = check(bad);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.images.size(), 1u);
  ASSERT_EQ(r.images[0].problems.size(), 1u);
  EXPECT_NE(r.images[0].problems[0].find(layer_name + " (diff_id " + l1.diff_id.str() + ") is missing"),
            std::string::npos)
      << r.images[0].problems[0];
}

TEST_F(ArchiveCheckTest, LegacyLayoutLayersAreCheckedByDiffId) {
  // docker save before 25: <id>/layer.tar uncompressed, <config-hex>.json.
  fs::path legacy = tmp.path() / "legacy.tar";
  std::string cfg_name = std::string(img.config_digest.hex()) + ".json";
  std::string manifest = R"([{"Config":")" + cfg_name + R"(","RepoTags":["app:v1"],"Layers":["one/layer.tar","two/layer.tar"]}])";
  write_tar(legacy, [&](TarWriter& w) {
    ASSERT_TRUE(w.add_file(cfg_name, img.config));
    ASSERT_TRUE(w.add_file("one/layer.tar", l1.tar));
    ASSERT_TRUE(w.add_file("two/layer.tar", l2.gz));  // gzip'd: decompressed for its diff_id
    ASSERT_TRUE(w.add_file("manifest.json", manifest));
  });
  auto r = check(legacy);
  EXPECT_TRUE(r.ok()) << (r.images.empty() ? "" : r.images[0].problems.empty() ? "" : r.images[0].problems[0]);
  // The wrong layer under a name: its diff_id does not match.
  fs::path swapped = tmp.path() / "swapped.tar";
  write_tar(swapped, [&](TarWriter& w) {
    ASSERT_TRUE(w.add_file(cfg_name, img.config));
    ASSERT_TRUE(w.add_file("one/layer.tar", l2.tar));
    ASSERT_TRUE(w.add_file("two/layer.tar", l2.tar));
    ASSERT_TRUE(w.add_file("manifest.json", manifest));
  });
  auto bad = check(swapped);
  ASSERT_EQ(bad.images.size(), 1u);
  ASSERT_EQ(bad.images[0].problems.size(), 1u);
  EXPECT_NE(bad.images[0].problems[0].find("one/layer.tar has diff_id"), std::string::npos);
}

TEST(TarReader, Utf8NamesAreReadAsTheyAre) {
  TempDir tmp;
  fs::path p = tmp.path() / "u.tar";
  write_file(p, raw_entry("caf\xc3\xa9/\xe2\x82\xac.json", "x") + end_blocks());
  Read r = read_all(p);
  EXPECT_TRUE(r.error.empty()) << r.error;
}

// An archive whose manifest.json lists nothing is no delivery: it fails.
TEST_F(ArchiveCheckTest, AnArchiveWithoutImagesIsAProblem) {
  fs::path p = tmp.path() / "empty.tar";
  write_tar(p, [&](TarWriter& w) { ASSERT_TRUE(w.add_file("manifest.json", "[]")); });
  auto r = check(p);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0], "holds no image: manifest.json lists none");
}

TEST_F(ArchiveCheckTest, NotAnImageArchive) {
  fs::path p = tmp.path() / "plain.tar";
  write_tar(p, [&](TarWriter& w) { ASSERT_TRUE(w.add_file("hello", "x")); });
  auto r = check(p);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("not an image archive"), std::string::npos);
}
