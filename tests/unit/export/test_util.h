// Test helper: a minimal tar reader (ustar + pax path/size) over bytes in memory,
// independent of the writer's code, so the tests check the format and not
// the writer against itself. Also small file helpers shared by the export tests.
#pragma once

#include "support/temp_dir.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::exporter::testing {

struct TarEntry {
  std::string name;
  char type = '0';
  uint64_t size = 0;
  uint32_t mode = 0;
  int64_t mtime = 0;
  std::string content;
};

using TempDir = ::ferry::testing::TempDir;

inline void write_file(const std::filesystem::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline uint64_t parse_octal(std::string_view field) {
  uint64_t v = 0;
  for (char c : field) {
    if (c == '\0' || c == ' ') break;
    if (c < '0' || c > '7') throw std::runtime_error("bad octal field");
    v = v * 8 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

inline std::string cstr(std::string_view field) { return std::string(field.substr(0, field.find('\0'))); }

inline bool header_checksum_ok(std::string_view h) {
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  return sum == parse_octal(h.substr(148, 8));
}

// Pax records "len key=value\n" into a map.
inline std::map<std::string, std::string> parse_pax(std::string_view data) {
  std::map<std::string, std::string> out;
  while (!data.empty()) {
    size_t sp = data.find(' ');
    size_t len = std::stoul(std::string(data.substr(0, sp)));
    std::string_view rec = data.substr(sp + 1, len - sp - 2);  // without trailing '\n'
    size_t eq = rec.find('=');
    out[std::string(rec.substr(0, eq))] = std::string(rec.substr(eq + 1));
    data.remove_prefix(len);
  }
  return out;
}

// Parses a whole archive; throws on a malformed one. Pax 'x' headers are applied to
// the next entry and not returned. Requires the two zero end blocks.
inline std::vector<TarEntry> parse_tar(std::string_view tar) {
  std::vector<TarEntry> entries;
  std::map<std::string, std::string> pax;
  size_t pos = 0;
  for (;;) {
    if (pos + 1024 > tar.size()) throw std::runtime_error("archive truncated");
    std::string_view h = tar.substr(pos, 512);
    if (h.find_first_not_of('\0') == std::string_view::npos) {
      if (tar.substr(pos + 512, 512).find_first_not_of('\0') != std::string_view::npos) {
        throw std::runtime_error("single zero block");
      }
      if (pos + 1024 != tar.size()) throw std::runtime_error("data after end blocks");
      return entries;
    }
    if (!header_checksum_ok(h)) throw std::runtime_error("bad checksum");
    if (h.substr(257, 6) != std::string_view("ustar\0", 6)) throw std::runtime_error("not ustar");
    TarEntry e;
    std::string prefix = cstr(h.substr(345, 155));
    e.name = prefix.empty() ? cstr(h.substr(0, 100)) : prefix + "/" + cstr(h.substr(0, 100));
    e.type = h[156];
    e.size = parse_octal(h.substr(124, 12));
    e.mode = static_cast<uint32_t>(parse_octal(h.substr(100, 8)));
    e.mtime = static_cast<int64_t>(parse_octal(h.substr(136, 12)));
    if (pax.count("path")) e.name = pax["path"];
    if (pax.count("size")) e.size = std::stoull(pax["size"]);
    pax.clear();
    pos += 512;
    if (pos + e.size > tar.size()) throw std::runtime_error("entry truncated");
    e.content = std::string(tar.substr(pos, e.size));
    pos += (e.size + 511) / 512 * 512;
    if (e.type == 'x') {
      pax = parse_pax(e.content);
      continue;
    }
    entries.push_back(std::move(e));
  }
}

}  // namespace ferry::exporter::testing
