#!/usr/bin/env bash
# Build the libFuzzer targets with clang (separate build dir) and run each one for a
# while on a copy of its seed corpus. Exit 1 if any target crashes.
#   FERRY_FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FERRY_FUZZ_SECONDS    seconds per target (default 20)
#   FERRY_FUZZ_TARGETS    space-separated subset (default: all)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FERRY_FUZZ_BUILD_DIR:-build-fuzz}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
seconds="${FERRY_FUZZ_SECONDS:-20}"
targets=(${FERRY_FUZZ_TARGETS:-reference challenge manifest config})

command -v clang++ >/dev/null || { echo "run.sh: clang++ not found (scripts/deps.sh test)" >&2; exit 2; }

# clang may warn where g++ does not: warnings stay visible but are not errors here.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFERRY_FUZZ=ON -DFERRY_SANITIZE=ON -DFERRY_WERROR=OFF >/dev/null || exit 2
cmake --build "$build" --target "${targets[@]/#/fuzz_}" || exit 2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
  corpus="$work/$t/corpus"
  artifacts="$work/$t/artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp "$root/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  log="$work/$t/log"
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
    "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
  rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  if [[ $rc -eq 0 ]]; then
    printf 'fuzz_%-10s ok     %10s execs  %7s/s\n' "$t" "${execs:-?}" "${rate:-?}"
  else
    failed=1
    printf 'fuzz_%-10s CRASH  %10s execs  %7s/s  (exit %d)\n' "$t" "${execs:-?}" "${rate:-?}" "$rc"
    for a in "$artifacts"/*; do
      [[ -e "$a" ]] || continue
      mkdir -p "$build/fuzz-artifacts/$t"
      cp "$a" "$build/fuzz-artifacts/$t/"
      echo "  input kept: $build/fuzz-artifacts/$t/$(basename "$a")"
    done
    grep -E 'ERROR: |SUMMARY: |fuzz invariant failed|runtime error' "$log" | head -5 | sed 's/^/  /'
    grep -E '^ +#[0-9]+ ' "$log" | head -12 | sed 's/^/  /'
  fi
done
exit "$failed"
