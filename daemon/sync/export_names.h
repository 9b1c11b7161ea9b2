// Names of export files: `<repo>_<tag>[_<os>-<arch>[-<variant>]].tar`, from the
// reference, with every character outside [A-Za-z0-9._-] replaced, so a name can
// never leave the export directory or collide with a hidden or temporary file.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "reference/reference.h"

namespace ferry::sync {

// `platform` is appended when the reference is exported as several platforms.
std::string export_file_name(const reference::Reference& ref, const manifest::Platform* platform);

// The names of one export run, decided before anything is written. Sanitising is
// lossy (`a/b_c:1`, `a_b/c:1` and `a/b:c_1` all give `a_b_c_1`), and export
// directories often land on case-insensitive file systems (FAT, exFAT on a USB
// stick), so references whose names would collide, ignoring case, each get a
// suffix of their own: `_` + the first 8 hex digits of sha256(full reference), e.g.
// `a_b_c_1_3f4ff3ca.tar`. A name is also taken as colliding with one that it could
// meet once a platform is appended (`a:1` exported per platform gives
// `a_1_linux-amd64.tar`, which `a:1_linux-amd64` would give too). The suffix
// depends only on the reference and on which others are in the run, not on the
// order they come in; CONTENTS.json maps every file to its reference. Thread-safe
// after construction (const).
class ExportNames {
 public:
  ExportNames() = default;
  explicit ExportNames(const std::vector<reference::Reference>& refs);
  std::string name(const reference::Reference& ref, const manifest::Platform* platform) const;

 private:
  std::set<std::string> suffixed_;  // full references that take the digest suffix
};

}  // namespace ferry::sync
