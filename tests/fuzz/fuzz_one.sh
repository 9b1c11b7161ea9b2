#!/usr/bin/env bash
# Run one libFuzzer target for a fixed time over a scratch copy of its seed corpus
# (new inputs go to the scratch copy, never into the repository), with the dictionary
# SEED_CORPUS_DIR.dict when there is one.
#
#   tests/fuzz/fuzz_one.sh BINARY SEED_CORPUS_DIR [SECONDS]
#     FERRY_FUZZ_SEED       libFuzzer -seed (default 1: the same run every time)
#     FERRY_FUZZ_ARTIFACTS  where a failing input and the log are kept (default:
#                           fuzz-artifacts/NAME beside the binary)
#
# Exit 0 when the whole budget ran clean; 1 on a crash, a leak, an input that takes
# over 10 s, more than 2 GiB of memory, or any sanitizer report, with the summary, the
# top of the stack and the failing input's path printed; 2 on a usage error.
# Used by tests/fuzz/run.sh and by the ctest tests `fuzz_<target>` (label fuzz).
set -uo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: fuzz_one.sh BINARY SEED_CORPUS_DIR [SECONDS]" >&2
  exit 2
fi
binary=$1
seeds=$2
seconds=${3:-30}
name=$(basename "$binary")
[[ -x "$binary" ]] || { echo "fuzz_one.sh: $binary: not an executable (build it first)" >&2; exit 2; }
[[ -d "$seeds" ]] || { echo "fuzz_one.sh: $seeds: no such corpus directory" >&2; exit 2; }
artifacts_keep=${FERRY_FUZZ_ARTIFACTS:-$(dirname "$binary")/fuzz-artifacts/$name}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/" 2>/dev/null || true

dict=()
[[ -f "${seeds%/}.dict" ]] && dict=(-dict="${seeds%/}.dict")

log="$work/log"
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
  "$binary" -seed="${FERRY_FUZZ_SEED:-1}" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" -artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
found=$(find "$work/corpus" -type f | wc -l)
# A sanitizer report that did not stop the run still fails it.
if [[ $rc -eq 0 ]] && grep -q -E 'runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer' "$log"; then rc=1; fi

if [[ $rc -eq 0 ]]; then
  printf '%-16s ok     %9s execs  %6s/s  %4s corpus inputs  %ss\n' "$name" "${execs:-?}" "${rate:-?}" "$found" "$seconds"
  exit 0
fi
printf '%-16s FAILED %9s execs  (libFuzzer exit %d)\n' "$name" "${execs:-?}" "$rc"
grep -E 'ERROR: |SUMMARY: |fuzz invariant failed|runtime error' "$log" | head -5 | sed 's/^/  /'
grep -E '^ +#[0-9]+ ' "$log" | head -15 | sed 's/^/  /'
mkdir -p "$artifacts_keep"
cp "$log" "$artifacts_keep/log"
echo "  libFuzzer log: $artifacts_keep/log"
for a in "$work/artifacts"/*; do
  [[ -e "$a" ]] || continue
  cp "$a" "$artifacts_keep/"
  echo "  input kept: $artifacts_keep/$(basename "$a") (reproduce: $binary $artifacts_keep/$(basename "$a"))"
done
exit 1
