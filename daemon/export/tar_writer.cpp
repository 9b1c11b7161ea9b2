// TarWriter: ustar headers, pax extended headers, block padding and the buffered
// write loop onto the output descriptor.
#include "export/tar_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ferry::exporter {

namespace {

// Largest value an 11-digit octal field holds: 8 GiB - 1.
constexpr uint64_t kMaxOctal11 = 077777777777ULL;
constexpr size_t kNameSize = 100;
constexpr size_t kPrefixSize = 155;

// Field offsets and widths of the ustar header (POSIX.1-1988 / pax).
struct Field {
  size_t offset;
  size_t size;
};
constexpr Field kName{0, 100};
constexpr Field kMode{100, 8};
constexpr Field kUid{108, 8};
constexpr Field kGid{116, 8};
constexpr Field kSize{124, 12};
constexpr Field kMtime{136, 12};
constexpr Field kChecksum{148, 8};
constexpr size_t kTypeflagOffset = 156;
constexpr Field kMagic{257, 6};
constexpr Field kVersion{263, 2};
constexpr Field kDevMajor{329, 8};
constexpr Field kDevMinor{337, 8};
constexpr Field kPrefix{345, 155};

void put_bytes(std::string& block, Field f, std::string_view value) {
  if (value.empty()) return;  // an empty view may carry a null pointer
  std::memcpy(block.data() + f.offset, value.data(), std::min(value.size(), f.size));
}

// Zero-padded octal filling the field but its last byte, which stays NUL.
void put_octal(std::string& block, Field f, uint64_t value) {
  put_bytes(block, f, fmt::format("{:0{}o}", value, f.size - 1));
}

std::string_view base_name(std::string_view name) {
  auto slash = name.rfind('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

std::string pax_header_name(std::string_view name) {
  std::string_view trimmed = name;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.remove_suffix(1);
  std::string base(base_name(trimmed));
  return ("PaxHeaders.0/" + base).substr(0, kNameSize);
}

bool needs_pax_name(std::string_view name) {
  std::string_view prefix;
  std::string_view base;
  return !split_ustar_name(name, prefix, base);
}

}  // namespace

bool split_ustar_name(std::string_view name, std::string_view& prefix, std::string_view& base) {
  if (name.size() <= kNameSize) {
    prefix = {};
    base = name;
    return true;
  }
  // Choose the leftmost '/' that leaves at most 100 bytes of name; the prefix before
  // it must fit 155 bytes and the name part must not be empty.
  size_t start = name.size() - kNameSize - 1;
  for (size_t i = start; i < name.size() && i <= kPrefixSize; ++i) {
    if (name[i] != '/') continue;
    if (i + 1 == name.size()) return false;
    prefix = name.substr(0, i);
    base = name.substr(i + 1);
    return true;
  }
  return false;
}

std::string pax_record(std::string_view key, std::string_view value) {
  // " key=value\n" plus the decimal length, which counts its own digits.
  size_t rest = 1 + key.size() + 1 + value.size() + 1;
  size_t len = rest + 1;
  while (std::to_string(len).size() + rest != len) len = std::to_string(len).size() + rest;
  return fmt::format("{} {}={}\n", len, key, value);
}

std::string ustar_header(std::string_view name, char typeflag, uint64_t size, uint32_t mode,
                         int64_t mtime) {
  std::string block(kTarBlock, '\0');
  std::string_view prefix;
  std::string_view base;
  if (!split_ustar_name(name, prefix, base)) {
    prefix = {};
    base = name.substr(0, kNameSize);
  }
  put_bytes(block, kName, base);
  put_bytes(block, kPrefix, prefix);
  put_octal(block, kMode, mode & 07777);
  put_octal(block, kUid, 0);
  put_octal(block, kGid, 0);
  put_octal(block, kSize, size > kMaxOctal11 ? 0 : size);
  put_octal(block, kMtime, static_cast<uint64_t>(std::max<int64_t>(mtime, 0)));
  block[kTypeflagOffset] = typeflag;
  put_bytes(block, kMagic, std::string_view("ustar\0", 6));
  put_bytes(block, kVersion, "00");
  put_octal(block, kDevMajor, 0);
  put_octal(block, kDevMinor, 0);
  // The checksum is computed with its own field as eight spaces, then written as
  // six octal digits, NUL, space.
  put_bytes(block, kChecksum, "        ");
  unsigned sum = 0;
  for (char c : block) sum += static_cast<unsigned char>(c);
  put_bytes(block, kChecksum, fmt::format("{:06o}", sum));
  block[kChecksum.offset + 6] = '\0';
  block[kChecksum.offset + 7] = ' ';
  return block;
}

TarWriter::TarWriter(int fd, std::string path, int64_t mtime)
    : fd_(fd), path_(std::move(path)), mtime_(mtime), buffer_(new char[kBufferSize]) {
  struct stat sb {};
  const off_t at = ::lseek(fd_, 0, SEEK_CUR);
  if (at >= 0 && ::fstat(fd_, &sb) == 0 && S_ISREG(sb.st_mode)) file_base_ = at;  // else no write-behind
}

// Write-behind on a regular file: once a window of kWriteBehind bytes is written,
// start its writeback, then wait for the window before it and drop that one from
// the page cache. The disk works while the next bytes are produced, the final
// fsync finds little left to do, and a multi-GB export neither piles up dirty
// pages nor evicts from the cache the store blobs the next archive reads. Only
// advice to the kernel: errors are ignored (fsync at commit is what counts).
void TarWriter::write_behind() {
  if (file_base_ < 0 || flushed_ - window_start_ < kWriteBehind) return;
  const off_t base = file_base_;
  ::sync_file_range(fd_, base + static_cast<off_t>(window_start_), static_cast<off_t>(flushed_ - window_start_),
                    SYNC_FILE_RANGE_WRITE);
  if (window_start_ > previous_start_) {
    const off_t from = base + static_cast<off_t>(previous_start_);
    const off_t len = static_cast<off_t>(window_start_ - previous_start_);
    ::sync_file_range(fd_, from, len,
                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    ::posix_fadvise(fd_, from, len, POSIX_FADV_DONTNEED);
  }
  previous_start_ = window_start_;
  window_start_ = flushed_;
}

core::Status TarWriter::add_directory(std::string_view name, uint32_t mode) {
  std::string dir(name);
  if (dir.empty() || dir.back() != '/') dir.push_back('/');
  return write_header(dir, '5', 0, mode);
}

core::Status TarWriter::add_file(std::string_view name, std::string_view data, uint32_t mode) {
  if (auto st = write_header(name, '0', data.size(), mode); !st) return st;
  if (auto st = append(data.data(), data.size()); !st) return st;
  return pad_to_block(data.size());
}

core::Status TarWriter::add_file_streamed(std::string_view name, uint64_t size,
                                          const ChunkReader& read, uint32_t mode) {
  if (auto st = write_header(name, '0', size, mode); !st) return st;
  uint64_t left = size;
  while (left > 0) {
    if (used_ == kBufferSize) {
      if (auto st = flush(); !st) return st;
    }
    size_t cap = static_cast<size_t>(std::min<uint64_t>(left, kBufferSize - used_));
    auto got = read(buffer_.get() + used_, cap);
    if (!got) return core::fail(std::move(got.error()));
    if (*got == 0) {
      return core::fail(core::ErrorKind::SizeMismatch,
                        fmt::format("tar entry {}: source ended {} bytes short of {}", name, left, size));
    }
    FERRY_CHECK(*got <= cap);
    used_ += *got;
    left -= *got;
  }
  return pad_to_block(size);
}

core::Status TarWriter::add_file_from_fd(std::string_view name, int src_fd, uint64_t size,
                                         std::string_view src_path, uint32_t mode) {
  auto read_fd = [&](char* dst, size_t cap) -> core::Result<size_t> {
    for (;;) {
      ssize_t n = ::read(src_fd, dst, cap);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return core::fail(core::errno_error("read", src_path, errno));
    }
  };
  return add_file_streamed(name, size, read_fd, mode);
}

core::Status TarWriter::finish() {
  FERRY_CHECK(!finished_);
  finished_ = true;
  std::string zeros(2 * kTarBlock, '\0');
  if (auto st = append(zeros.data(), zeros.size()); !st) return st;
  return flush();
}

core::Status TarWriter::write_header(std::string_view name, char typeflag, uint64_t size,
                                     uint32_t mode) {
  FERRY_CHECK(!finished_);
  std::string records;
  if (needs_pax_name(name)) records += pax_record("path", name);
  if (size > kMaxOctal11) records += pax_record("size", std::to_string(size));
  if (!records.empty()) {
    if (auto st = write_pax(name, records); !st) return st;
  }
  std::string header = ustar_header(name, typeflag, size, mode, mtime_);
  return append(header.data(), header.size());
}

core::Status TarWriter::write_pax(std::string_view name, const std::string& records) {
  std::string header = ustar_header(pax_header_name(name), 'x', records.size(), 0644, mtime_);
  if (auto st = append(header.data(), header.size()); !st) return st;
  if (auto st = append(records.data(), records.size()); !st) return st;
  return pad_to_block(records.size());
}

core::Status TarWriter::pad_to_block(uint64_t size) {
  static const char kZeros[kTarBlock] = {};
  size_t rem = static_cast<size_t>(size % kTarBlock);
  if (rem == 0) return {};
  return append(kZeros, kTarBlock - rem);
}

core::Status TarWriter::append(const char* data, size_t size) {
  while (size > 0) {
    if (used_ == kBufferSize) {
      if (auto st = flush(); !st) return st;
    }
    size_t n = std::min(size, kBufferSize - used_);
    std::memcpy(buffer_.get() + used_, data, n);
    used_ += n;
    data += n;
    size -= n;
  }
  return {};
}

core::Status TarWriter::flush() {
  if (hasher_) hasher_->update(buffer_.get(), used_);
  size_t done = 0;
  while (done < used_) {
    ssize_t n = ::write(fd_, buffer_.get() + done, used_ - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::fail(core::errno_error("write", path_, errno));
    }
    done += static_cast<size_t>(n);
  }
  flushed_ += used_;
  used_ = 0;
  write_behind();
  return {};
}

}  // namespace ferry::exporter
