#!/usr/bin/env bash
# Build ferry and run every test suite: unit tests and the integration tests that
# start a real registry (token, basic and no auth), skopeo and a private dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
BUILD=${FERRY_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${FERRY_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD"
ctest --test-dir "$BUILD" --output-on-failure -j2
