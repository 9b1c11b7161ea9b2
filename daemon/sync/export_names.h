// Names of export files: `<repo>_<tag>[_<os>-<arch>[-<variant>]].tar`, from the
// reference, with every character outside [A-Za-z0-9._-] replaced, so a name can
// never leave the export directory or collide with a hidden or temporary file.
#pragma once

#include <string>

#include "manifest/manifest.h"
#include "reference/reference.h"

namespace ferry::sync {

// `platform` is appended when the reference is exported as several platforms.
std::string export_file_name(const reference::Reference& ref, const manifest::Platform* platform);

}  // namespace ferry::sync
