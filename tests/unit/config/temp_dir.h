// A scratch directory for config tests, removed with everything in it at scope end.
#pragma once

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace ferry::config::testing {

using TempDir = ::ferry::testing::TempDir;

}  // namespace ferry::config::testing
