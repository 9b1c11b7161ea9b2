// TarWriter: exact header bytes, checksum, padding, pax for long names and huge
// sizes, end blocks, error reporting, and GNU tar reading what we write.
#include "export/tar_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "test_util.h"

namespace fs = std::filesystem;
using ferry::core::ErrorKind;
using ferry::exporter::kTarBlock;
using ferry::exporter::pax_record;
using ferry::exporter::split_ustar_name;
using ferry::exporter::TarWriter;
using ferry::exporter::ustar_header;
using ferry::exporter::testing::parse_tar;
using ferry::exporter::testing::read_file;
using ferry::exporter::testing::TempDir;

namespace {

// Writes an archive through `fill` into a file and returns its bytes.
template <class Fill>
std::string write_tar(const fs::path& path, Fill fill, int64_t mtime = 0) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  TarWriter w(fd, path.string(), mtime);
  fill(w);
  auto st = w.finish();
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_EQ(w.bytes_written(), fs::file_size(path));
  ::close(fd);
  return read_file(path);
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) out += "\n<exit " + std::to_string(rc) + ">";
  return out;
}

}  // namespace

TEST(UstarHeader, ExactFieldsAndChecksum) {
  std::string h = ustar_header("blobs/sha256/abc", '0', 1234, 0644, 1700000000);
  ASSERT_EQ(h.size(), kTarBlock);
  EXPECT_EQ(h.substr(0, 17), std::string("blobs/sha256/abc\0", 17));
  EXPECT_EQ(h.substr(100, 8), std::string("0000644\0", 8));
  EXPECT_EQ(h.substr(108, 8), std::string("0000000\0", 8));
  EXPECT_EQ(h.substr(116, 8), std::string("0000000\0", 8));
  EXPECT_EQ(h.substr(124, 12), std::string("00000002322\0", 12));  // 1234 octal
  EXPECT_EQ(h.substr(136, 12), std::string("14524770400\0", 12));  // 1700000000 octal
  EXPECT_EQ(h[156], '0');
  EXPECT_EQ(h.substr(157, 100), std::string(100, '\0'));  // linkname
  EXPECT_EQ(h.substr(257, 8), std::string("ustar\0" "00", 8));
  EXPECT_EQ(h.substr(265, 64), std::string(64, '\0'));  // uname, gname
  EXPECT_EQ(h.substr(329, 16), std::string("0000000\0" "0000000\0", 16));
  EXPECT_EQ(h.substr(345, 167), std::string(167, '\0'));  // prefix + pad
  // Checksum: sum of all bytes with the field taken as spaces; "%06o\0 ".
  unsigned sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i) sum += (i >= 148 && i < 156) ? 32u : static_cast<unsigned char>(h[i]);
  char want[8];
  std::snprintf(want, sizeof want, "%06o", sum);
  EXPECT_EQ(h.substr(148, 6), want);
  EXPECT_EQ(h[154], '\0');
  EXPECT_EQ(h[155], ' ');
}

TEST(UstarHeader, NegativeMtimeAndHugeSizeWriteZero) {
  std::string h = ustar_header("f", '0', 8ULL << 30, 0755, -5);
  EXPECT_EQ(h.substr(124, 12), std::string("00000000000\0", 12));
  EXPECT_EQ(h.substr(136, 12), std::string("00000000000\0", 12));
  EXPECT_EQ(h.substr(100, 8), std::string("0000755\0", 8));
  std::string max = ustar_header("f", '0', (8ULL << 30) - 1, 0644, 0);
  EXPECT_EQ(max.substr(124, 12), std::string("77777777777\0", 12));
}

TEST(SplitUstarName, UsesPrefixWhenPossible) {
  std::string_view prefix, base;
  EXPECT_TRUE(split_ustar_name("short", prefix, base));
  EXPECT_EQ(prefix, "");
  EXPECT_EQ(base, "short");
  std::string dir(120, 'd');
  std::string name = dir + "/file";
  ASSERT_TRUE(split_ustar_name(name, prefix, base));
  EXPECT_EQ(prefix, dir);
  EXPECT_EQ(base, "file");
  EXPECT_FALSE(split_ustar_name(std::string(101, 'n'), prefix, base));           // no slash
  EXPECT_FALSE(split_ustar_name(std::string(160, 'p') + "/f", prefix, base));    // prefix > 155
  EXPECT_FALSE(split_ustar_name("a/" + std::string(101, 'n'), prefix, base));    // name > 100
}

TEST(PaxRecord, LengthCountsItself) {
  EXPECT_EQ(pax_record("path", "a"), "9 path=a\n");
  // Around the 2 -> 3 digit boundary the length must still count its own digits.
  std::string r = pax_record("path", std::string(95, 'x'));
  EXPECT_EQ(r.size(), std::stoul(r.substr(0, r.find(' '))));
  std::string r2 = pax_record("path", std::string(92, 'x'));  // crosses 99 -> 100
  EXPECT_EQ(r2.size(), std::stoul(r2.substr(0, r2.find(' '))));
}

TEST(TarWriter, LayoutPaddingAndEndBlocks) {
  TempDir tmp;
  std::string tar = write_tar(tmp.path() / "a.tar", [](TarWriter& w) {
    ASSERT_TRUE(w.add_directory("blobs"));
    ASSERT_TRUE(w.add_file("blobs/x", "abc"));
    ASSERT_TRUE(w.add_file("empty", ""));
    ASSERT_TRUE(w.add_file("block", std::string(512, 'b'), TarWriter::kExecMode));
  });
  // dir header, file header + 1 padded block, empty header, header + 1 block, 2 end.
  ASSERT_EQ(tar.size(), 512u * (1 + 2 + 1 + 2 + 2));
  EXPECT_EQ(tar.substr(512 * 2, 512), std::string("abc") + std::string(509, '\0'));
  EXPECT_EQ(tar.substr(tar.size() - 1024), std::string(1024, '\0'));
  auto entries = parse_tar(tar);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].name, "blobs/");
  EXPECT_EQ(entries[0].type, '5');
  EXPECT_EQ(entries[0].mode, 0755u);
  EXPECT_EQ(entries[1].content, "abc");
  EXPECT_EQ(entries[1].mode, 0644u);
  EXPECT_EQ(entries[2].size, 0u);
  EXPECT_EQ(entries[3].mode, 0755u);
  EXPECT_EQ(entries[3].mtime, 0);
}

TEST(TarWriter, LongNamesGetPaxHeaders) {
  TempDir tmp;
  std::string unsplittable = "dir/" + std::string(150, 'n');
  std::string split = std::string(120, 'd') + "/file";
  std::string tar = write_tar(tmp.path() / "long.tar", [&](TarWriter& w) {
    ASSERT_TRUE(w.add_file(unsplittable, "long"));
    ASSERT_TRUE(w.add_file(split, "prefixed"));
  });
  // First header is the pax 'x' entry carrying "path=".
  EXPECT_EQ(tar[156], 'x');
  std::string records = pax_record("path", unsplittable);
  EXPECT_EQ(tar.substr(512, records.size()), records);
  auto entries = parse_tar(tar);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, unsplittable);
  EXPECT_EQ(entries[0].content, "long");
  EXPECT_EQ(entries[1].name, split);
  // The split name used the prefix field, not pax: 3 headers + 2 data blocks + end.
  EXPECT_EQ(tar.size(), 512u * (2 + 1 + 1 + 1 + 1 + 2));
}

TEST(TarWriter, StreamsFromFdAndReader) {
  TempDir tmp;
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
  fs::path src = tmp.path() / "src";
  ferry::exporter::testing::write_file(src, data);
  int sfd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(sfd, 0);
  size_t offset = 0;
  std::string tar = write_tar(tmp.path() / "s.tar", [&](TarWriter& w) {
    auto st = w.add_file_from_fd("copy", sfd, data.size(), src.string());
    ASSERT_TRUE(st) << st.error().message;
    auto reader = [&](char* dst, size_t cap) -> ferry::core::Result<size_t> {
      size_t n = std::min<size_t>({cap, data.size() - offset, 1000});  // short chunks
      std::memcpy(dst, data.data() + offset, n);
      offset += n;
      return n;
    };
    ASSERT_TRUE(w.add_file_streamed("streamed", data.size(), reader));
  });
  ::close(sfd);
  auto entries = parse_tar(tar);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_TRUE(entries[0].content == data);
  EXPECT_TRUE(entries[1].content == data);
}

TEST(TarWriter, ShortSourceAndReaderErrorsFail) {
  TempDir tmp;
  fs::path src = tmp.path() / "src";
  ferry::exporter::testing::write_file(src, "12345");
  int sfd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  int fd = ::open((tmp.path() / "o.tar").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  TarWriter w(fd, "o.tar");
  auto st = w.add_file_from_fd("f", sfd, 10, src.string());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::SizeMismatch);
  auto failing = [](char*, size_t) -> ferry::core::Result<size_t> {
    return ferry::core::fail(ErrorKind::Io, "boom");
  };
  auto st2 = w.add_file_streamed("g", 10, failing);
  ASSERT_FALSE(st2);
  EXPECT_EQ(st2.error().message, "boom");
  ::close(sfd);
  ::close(fd);
}

TEST(TarWriter, FullDiskIsNoSpace) {
  int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) FAIL() << "no /dev/full";
  TarWriter w(fd, "/dev/full");
  ASSERT_TRUE(w.add_file("f", "x"));  // buffered
  auto st = w.finish();
  ::close(fd);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::NoSpace);
  EXPECT_NE(st.error().message.find("/dev/full"), std::string::npos);
}

TEST(TarWriter, SizeOf8GiBUsesPax) {
  // Written to /dev/null: the reader hands out the buffer untouched, so 8 GiB cost
  // only write() calls. Layout: pax header + record block, header, data, end.
  int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  TarWriter w(fd, "/dev/null");
  const uint64_t size = (8ULL << 30) + 1;
  auto reader = [](char*, size_t cap) -> ferry::core::Result<size_t> { return cap; };
  ASSERT_TRUE(w.add_file_streamed("huge", size, reader));
  ASSERT_TRUE(w.finish());
  ::close(fd);
  EXPECT_EQ(w.bytes_written(), 512 + 512 + 512 + (size + 511) / 512 * 512 + 1024);
}

TEST(TarWriter, GnuTarListsAndExtractsOurOutput) {
  if (::access("/usr/bin/tar", X_OK) != 0) FAIL() << "no /usr/bin/tar (scripts/deps.sh test installs it)";
  TempDir tmp;
  fs::path out = tmp.path() / "t.tar";
  std::string longname = "blobs/" + std::string(130, 'z');
  write_tar(out, [&](TarWriter& w) {
    ASSERT_TRUE(w.add_directory("blobs/"));
    ASSERT_TRUE(w.add_file("blobs/a", "hello\n"));
    ASSERT_TRUE(w.add_file(longname, "long\n"));
  }, 86400);
  std::string listing = run("LC_ALL=C TZ=UTC /usr/bin/tar --numeric-owner -tvf " + out.string() + " 2>&1");
  EXPECT_NE(listing.find("drwxr-xr-x 0/0"), std::string::npos) << listing;
  EXPECT_NE(listing.find("-rw-r--r-- 0/0               6 1970-01-02 00:00 blobs/a"), std::string::npos)
      << listing;
  EXPECT_NE(listing.find(longname), std::string::npos) << listing;
  EXPECT_EQ(listing.find("<exit"), std::string::npos) << listing;
  EXPECT_EQ(run("/usr/bin/tar -xOf " + out.string() + " " + longname + " 2>&1"), "long\n");
}
