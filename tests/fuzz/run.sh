#!/usr/bin/env bash
# Build the libFuzzer targets with clang, ASan and UBSan (separate build dir) and run
# each one for a while on a scratch copy of its seed corpus (tests/fuzz/fuzz_one.sh).
# scripts/test.sh runs the same targets for FERRY_FUZZ_SECONDS each through ctest
# (label fuzz); this script is for longer local runs. Exit 1 if any target fails.
#   FERRY_FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FERRY_FUZZ_SECONDS    seconds per target (default 300)
#   FERRY_FUZZ_TARGETS    space-separated subset (default: all)
#   FERRY_FUZZ_SEED       libFuzzer seed (default 1)
# A failing input is kept in BUILD/tests/fuzz/fuzz-artifacts/fuzz_<target>/; add it
# to tests/fuzz/corpus/<target>/ with the fix, and a unit test in the module at fault.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FERRY_FUZZ_BUILD_DIR:-build-fuzz}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
seconds="${FERRY_FUZZ_SECONDS:-300}"
targets=(${FERRY_FUZZ_TARGETS:-reference challenge manifest config})

command -v clang++ >/dev/null || { echo "run.sh: clang++ not found (scripts/deps.sh test)" >&2; exit 2; }

# clang may warn where g++ does not: warnings stay visible but are not errors here.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFERRY_FUZZ=ON -DFERRY_SANITIZE=ON -DFERRY_WERROR=OFF >/dev/null || exit 2
cmake --build "$build" --target "${targets[@]/#/fuzz_}" || exit 2

failed=0
for t in "${targets[@]}"; do
  bash "$root/tests/fuzz/fuzz_one.sh" "$build/tests/fuzz/fuzz_$t" "$root/tests/fuzz/corpus/$t" "$seconds" || failed=1
done
exit "$failed"
