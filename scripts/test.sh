#!/usr/bin/env bash
# Build ferry and run every test suite: unit tests and the integration tests that
# start a real registry (token, basic and no auth), skopeo and a private dockerd;
# then a short fuzz run: the libFuzzer targets built with clang, ASan and UBSan in a
# second build directory and each fuzzed for FERRY_FUZZ_SECONDS (default 30) with a
# fixed seed (ctest label fuzz); last, ferry alone built as a packager builds it
# (Release, warnings not errors) in build-release. Exits non-zero if anything failed.
#   FERRY_BUILD_DIR       main build directory (default build)
#   FERRY_FUZZ_BUILD_DIR  fuzz build directory (default build-fuzz)
#   FERRY_RELEASE_BUILD_DIR  the Release build of ferry (default build-release)
#   FERRY_FUZZ_SECONDS    seconds per fuzz target; 0 skips the fuzz run
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
BUILD=${FERRY_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON ${FERRY_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD"
status=0
ctest --test-dir "$BUILD" --output-on-failure -j2 || status=1

FUZZ_SECONDS=${FERRY_FUZZ_SECONDS:-30}
if [[ "$FUZZ_SECONDS" != 0 ]]; then
  FUZZ_BUILD=${FERRY_FUZZ_BUILD_DIR:-build-fuzz}
  # clang may warn where g++ does not: warnings stay visible but are not errors here
  # (the fuzz build is clang's; g++ with -Werror above is the gate).
  cmake -S . -B "$FUZZ_BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFERRY_FUZZ=ON -DFERRY_SANITIZE=ON -DFERRY_WERROR=OFF -DFERRY_FUZZ_SECONDS="$FUZZ_SECONDS" \
    ${FERRY_CMAKE_ARGS:-} >/dev/null
  cmake --build "$FUZZ_BUILD" --target fuzz_targets
  ctest --test-dir "$FUZZ_BUILD" -L fuzz --output-on-failure -j2 || status=1
fi
# A user's or packager's build: Release with Debian's compiler, no -Werror, the
# product only. It must build (GCC 12 warns falsely in places at -O3, see
# ARCHITECTURE.md: those stay warnings there).
RELEASE_BUILD=${FERRY_RELEASE_BUILD_DIR:-build-release}
cmake -S . -B "$RELEASE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFERRY_BUILD_TESTS=OFF >/dev/null
cmake --build "$RELEASE_BUILD" --target ferry || status=1
"$RELEASE_BUILD/ferry" --version >/dev/null || status=1
exit "$status"
