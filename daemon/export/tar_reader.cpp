// TarReader: ustar + pax + GNU long names, bounded memory, hostile input refused.
#include "export/tar_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "core/redact.h"
#include "export/tar_writer.h"
#include "store/fs_util.h"

namespace ferry::exporter {

namespace {

uint64_t round_up(uint64_t n) { return (n + kTarBlock - 1) / kTarBlock * kTarBlock; }

std::string_view field(const char* h, size_t off, size_t len) {
  std::string_view f(h + off, len);
  return f.substr(0, f.find('\0'));
}

// Octal (NUL/space padded) or GNU base-256 (first byte 0x80); nullopt when neither.
std::optional<uint64_t> parse_number(const char* p, size_t len) {
  auto u = [&](size_t i) { return static_cast<unsigned char>(p[i]); };
  if (u(0) == 0x80) {
    uint64_t v = 0;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return std::nullopt;  // beyond 64 bits
      v = (v << 8) | u(i);
    }
    return v;
  }
  size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  uint64_t v = 0;
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return std::nullopt;
    v = v * 8 + static_cast<uint64_t>(p[i] - '0');
    any = true;
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return std::nullopt;
  }
  if (!any) return 0;
  return v;
}

bool checksum_ok(const char* h) {
  auto stored = parse_number(h + 148, 8);
  if (!stored) return false;
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i) {
    char c = (i >= 148 && i < 156) ? ' ' : h[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return *stored == unsigned_sum || static_cast<int64_t>(*stored) == signed_sum;
}

bool all_zero(const char* h) {
  return std::all_of(h, h + kTarBlock, [](char c) { return c == 0; });
}

struct Pax {
  std::optional<std::string> path, linkpath;
  std::optional<uint64_t> size;
};

// Records "len key=value\n"; false when malformed.
bool parse_pax(std::string_view data, Pax& out) {
  while (!data.empty()) {
    size_t sp = data.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp > 20) return false;
    uint64_t len = 0;
    for (char c : data.substr(0, sp)) {
      if (c < '0' || c > '9') return false;
      len = len * 10 + static_cast<uint64_t>(c - '0');
    }
    if (len <= sp + 1 || len > data.size() || data[len - 1] != '\n') return false;
    std::string_view rec = data.substr(sp + 1, len - sp - 2);
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos) return false;
    std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") out.path = std::string(value);
    if (key == "linkpath") out.linkpath = std::string(value);
    if (key == "size") {
      if (value.empty() || value.size() > 19) return false;
      uint64_t v = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      out.size = v;
    }
    data.remove_prefix(len);
  }
  return true;
}

// The name as the archive gives it: pax path, else GNU long name, else ustar
// prefix + name.
std::string raw_name(const char* h, const Pax& pax, const std::optional<std::string>& long_name) {
  if (pax.path) return *pax.path;
  if (long_name) return *long_name;
  std::string_view prefix = std::memcmp(h + 257, "ustar", 5) == 0 ? field(h, 345, 155) : std::string_view{};
  std::string name(field(h, 0, 100));
  return prefix.empty() ? name : std::string(prefix) + "/" + name;
}

}  // namespace

core::Result<std::string> normalise_entry_name(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return core::fail(core::ErrorKind::InvalidInput, fmt::format("entry name \"{}\" {}", core::printable(name), why));
  };
  if (name.find('\0') != std::string_view::npos) return bad("contains NUL");
  // docker save, skopeo and ferry name entries in printable ASCII; a control byte
  // or a name that is not UTF-8 cannot be matched to anything, and is not ignored.
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  }
  if (!core::is_utf8(name)) return bad("is not UTF-8");
  if (!name.empty() && name[0] == '/') return bad("is absolute");
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view part = name.substr(start, slash - start);
    if (part == "..") return bad("leaves the archive (\"..\")");
    if (!part.empty() && part != ".") parts.push_back(part);
    start = slash + 1;
  }
  if (parts.empty()) return bad("is empty");
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

std::optional<std::string> resolve_link(std::string_view name, std::string_view target) {
  if (target.empty() || target[0] == '/') return std::nullopt;
  std::vector<std::string> parts;
  size_t slash = name.rfind('/');
  std::string base = slash == std::string_view::npos ? "" : std::string(name.substr(0, slash));
  std::string joined = base.empty() ? std::string(target) : base + "/" + std::string(target);
  size_t start = 0;
  while (start <= joined.size()) {
    size_t s = joined.find('/', start);
    if (s == std::string::npos) s = joined.size();
    std::string part = joined.substr(start, s - start);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = s + 1;
  }
  if (parts.empty()) return std::nullopt;
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

TarReader::TarReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

core::Status TarReader::bad(std::string_view why) const {
  return core::fail(core::ErrorKind::InvalidInput, fmt::format("tar {}: {}", path_, why));
}

core::Status TarReader::init() {
  struct stat sb {};
  if (::fstat(fd_, &sb) != 0) return core::fail(core::errno_error("stat", path_, errno));
  if (!S_ISREG(sb.st_mode)) return bad("not a regular file");
  file_size_ = static_cast<uint64_t>(sb.st_size);
  initialised_ = true;
  return {};
}

core::Status TarReader::read_exact(char* dst, size_t size, uint64_t at) {
  auto got = store::pread_full(fd_, dst, size, at, path_);
  if (!got) return core::fail(std::move(got.error()));
  if (*got < size) return bad(fmt::format("truncated at byte {}", at + *got));
  return {};
}

core::Status TarReader::check_trailer(uint64_t from) {
  if (from >= file_size_) return {};
  if (file_size_ - from > kMaxTrailer) {
    return bad(fmt::format("{} bytes after the end-of-archive marker at byte {}", file_size_ - from, from - kTarBlock));
  }
  char block[kTarBlock];
  for (uint64_t at = from; at < file_size_; at += kTarBlock) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kTarBlock, file_size_ - at));
    std::memset(block, 0, sizeof block);
    if (auto st = read_exact(block, n, at); !st) return st;
    if (!all_zero(block)) {
      return bad(fmt::format("data after the end-of-archive marker at byte {} (entries there would be ignored)",
                             from - kTarBlock));
    }
  }
  return {};
}

core::Result<std::string> TarReader::read_meta(uint64_t size, uint64_t limit, std::string_view what) {
  if (size > limit) {
    return core::fail(bad(fmt::format("{} of {} bytes at byte {} (limit {})", what, size, pos_, limit)).error());
  }
  if (size > file_size_ - pos_) return core::fail(bad(fmt::format("{} at byte {} runs past the end", what, pos_)).error());
  std::string data(size, '\0');
  if (auto st = read_exact(data.data(), size, pos_); !st) return core::fail(std::move(st.error()));
  pos_ += round_up(size);
  return data;
}

core::Result<std::optional<TarEntry>> TarReader::next() {
  if (!initialised_) {
    if (auto st = init(); !st) return core::fail(std::move(st.error()));
  }
  if (done_) return std::optional<TarEntry>{};
  pos_ = std::max(pos_, padded_end_);
  remaining_ = 0;
  Pax pax;
  std::optional<std::string> long_name, long_link;
  for (;;) {
    if (pos_ >= file_size_) {
      return core::fail(bad(fmt::format("truncated: ends at byte {} without the end-of-archive marker", pos_)).error());
    }
    if (file_size_ - pos_ < kTarBlock) return core::fail(bad(fmt::format("truncated header at byte {}", pos_)).error());
    char h[kTarBlock];
    if (auto st = read_exact(h, kTarBlock, pos_); !st) return core::fail(std::move(st.error()));
    if (all_zero(h)) {
      // The end (two zero blocks, or one as GNU tar accepts). What follows must be
      // zero padding: entries hidden after the marker are never silently ignored.
      if (auto st = check_trailer(pos_ + kTarBlock); !st) return core::fail(std::move(st.error()));
      done_ = true;
      return std::optional<TarEntry>{};
    }
    if (!checksum_ok(h)) return core::fail(bad(fmt::format("header checksum wrong at byte {}", pos_)).error());
    auto size = parse_number(h + 124, 12);
    if (!size) return core::fail(bad(fmt::format("size field is not a number at byte {}", pos_)).error());
    char type = h[156];
    uint64_t header_at = pos_;
    pos_ += kTarBlock;
    if (type == 'x' || type == 'g') {
      auto data = read_meta(*size, kMaxPaxSize, "pax header");
      if (!data) return core::fail(std::move(data.error()));
      if (type == 'g') continue;
      if (!parse_pax(*data, pax)) return core::fail(bad(fmt::format("malformed pax header at byte {}", header_at)).error());
      continue;
    }
    if (type == 'L' || type == 'K') {
      auto data = read_meta(*size, kMaxNameSize, "GNU long name");
      if (!data) return core::fail(std::move(data.error()));
      std::string text = data->substr(0, data->find('\0'));
      (type == 'L' ? long_name : long_link) = std::move(text);
      continue;
    }
    TarEntry e;
    std::string raw = raw_name(h, pax, long_name);
    const std::string& link_raw = pax.linkpath ? *pax.linkpath : long_link ? *long_link : raw;
    if (raw.size() > kMaxNameSize || link_raw.size() > kMaxNameSize) {
      return core::fail(bad(fmt::format("entry name or link target longer than {} bytes at byte {}", kMaxNameSize,
                                        header_at))
                            .error());
    }
    if (type == '5' && raw.find_first_not_of("./") == std::string::npos && raw.find("..") == std::string::npos) {
      // The archive's root ("./", as GNU tar -C dir . writes it): nothing to report.
      pax = Pax{};
      long_name.reset();
      long_link.reset();
      continue;
    }
    auto name = normalise_entry_name(raw);
    if (!name) return core::fail(bad(fmt::format("{} at byte {}", name.error().message, header_at)).error());
    e.name = std::move(*name);
    e.type = (type == '\0' || type == '7') ? '0' : type;
    e.link = pax.linkpath ? *pax.linkpath : long_link ? *long_link : std::string(field(h, 157, 100));
    uint64_t content_size = pax.size ? *pax.size : *size;
    // Only regular files (and unknown types, skipped) carry content; links and
    // directories carry none whatever the size field says, as GNU tar reads them.
    if (e.type == '1' || e.type == '2' || e.type == '5' || e.type == '3' || e.type == '4' || e.type == '6') {
      content_size = 0;
    }
    if (content_size > file_size_ - pos_) {
      return core::fail(bad(fmt::format("entry {} claims {} bytes, more than the {} left in the file", e.name,
                                        content_size, file_size_ - pos_)).error());
    }
    e.size = e.type == '0' ? content_size : 0;
    e.offset = pos_;
    content_ = pos_;
    remaining_ = e.type == '0' ? content_size : 0;
    padded_end_ = pos_ + round_up(content_size);
    return std::optional<TarEntry>{std::move(e)};
  }
}

core::Result<size_t> TarReader::read(char* dst, size_t cap) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(cap, remaining_));
  if (n == 0) return size_t{0};
  if (auto st = read_exact(dst, n, content_); !st) return core::fail(std::move(st.error()));
  content_ += n;
  remaining_ -= n;
  return n;
}

}  // namespace ferry::exporter
