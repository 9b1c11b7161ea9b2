#!/usr/bin/env bash
# Profile ferry in scenario (a) of bench/run.sh: the same fleet and registry,
# one cold sync each under
#   heaptrack              where the peak heap comes from
#   perf record -g         where the CPU time goes
#   strace -f -c           which system calls (fsync, write, ...) take the time
# and the same cold sync with the store on tmpfs (/dev/shm) next to the disk, to
# separate the network path from durable writes.
#
#   bench/profile.sh        BENCH_SCALE (default 0.1), BENCH_SEED, BENCH_CONCURRENCY,
#                           BENCH_CACHE, BENCH_TMP, BENCH_FERRY_BIN as in run.sh
# Writes bench/results/profile/ (heaptrack summary, perf report, strace summary).
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
: "${BENCH_SCALE:=0.1}" "${BENCH_SEED:=ferry-bench-1}" "${BENCH_CONCURRENCY:=16}"
: "${BENCH_CACHE:=/var/tmp/ferry-bench}" "${BENCH_TMP:=/var/tmp}"
: "${BENCH_FERRY_BIN:=$ROOT/build-bench/ferry}" "${BENCH_OUT:=$ROOT/bench/results/profile}"
PY=/usr/bin/python3
[[ -x "$BENCH_FERRY_BIN" ]] || { echo "bench/profile.sh: no ferry at $BENCH_FERRY_BIN (run bench/run.sh first or set BENCH_FERRY_BIN)" >&2; exit 2; }
for t in heaptrack heaptrack_print perf strace; do
  command -v "$t" >/dev/null || { echo "bench/profile.sh: '$t' missing (apt-get install heaptrack linux-perf strace)" >&2; exit 2; }
done
mkdir -p "$BENCH_CACHE" "$BENCH_OUT"
BLOBGEN="$BENCH_CACHE/blobgen"
[[ -x "$BLOBGEN" ]] || cc -O2 -o "$BLOBGEN" "$BENCH_DIR/blobgen.c" -lz -lcrypto
FLEET_CACHE="$BENCH_CACHE/fleet-$BENCH_SEED-$BENCH_SCALE"
"$PY" "$BENCH_DIR/fleet.py" gen --cache "$FLEET_CACHE" --seed "$BENCH_SEED" --scale "$BENCH_SCALE" --blobgen "$BLOBGEN"

export FERRY_IT_TMPBASE="$BENCH_TMP" FERRY_IT_LIFETIME=7200 FERRY_BIN="$BENCH_FERRY_BIN"
source "$ROOT/tests/integration/lib.sh"
ferry_env
W="$IT_TMP/profile"
mkdir -p "$W"
start_registry token
"$PY" "$BENCH_DIR/fleet.py" install --cache "$FLEET_CACHE" --storage "$REG_DIR/storage"
"$PY" "$BENCH_DIR/fleet.py" lists --cache "$FLEET_CACHE" --registry "$REG" --out "$W/l" \
  --store "$W/unused" --concurrency "$BENCH_CONCURRENCY"
sync_to() { "$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" --store "$1" >"$W/sync.log" 2>&1; }
timed() { # timed LABEL STORE
  sync
  local s=$SECONDS
  /usr/bin/time -f "$1: %e s wall, %U s user, %S s sys, %M KB peak RSS" -a -o "$BENCH_OUT/times.txt" \
    "$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" --store "$2" >"$W/sync.log" 2>&1
  rm -rf "$2"
  log "$1 done in $((SECONDS - s)) s"
}
: >"$BENCH_OUT/times.txt"
echo "scale $BENCH_SCALE, concurrency $BENCH_CONCURRENCY, load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$BENCH_OUT/times.txt"

timed "disk store ($BENCH_TMP)" "$W/store-disk"
shm=$(mktemp -d /dev/shm/ferry-profile.XXXX)
on_cleanup rm -rf "$shm"
timed "tmpfs store (/dev/shm)" "$shm/store"
timed "disk store again" "$W/store-disk2"

heaptrack -o "$W/heap" "$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" --store "$W/store-heap" \
  >"$W/heaptrack.log" 2>&1 || true
rm -rf "$W/store-heap"
heaptrack_print "$W"/heap*.zst 2>/dev/null | sed -n "/^PEAK MEMORY CONSUMERS/,/^MOST TEMPORARY/p" | head -80 \
  >"$BENCH_OUT/heaptrack-peak.txt" || true
heaptrack_print "$W"/heap*.zst 2>/dev/null | tail -12 >>"$BENCH_OUT/heaptrack-peak.txt" || true

perf record -q -g -o "$W/perf.data" "$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" --store "$W/store-perf" \
  >"$W/perf.log" 2>&1 || true
rm -rf "$W/store-perf"
perf report -i "$W/perf.data" --no-children --stdio --sort dso,sym 2>/dev/null | grep -v '^#' | grep '%' |
  head -40 >"$BENCH_OUT/perf-top.txt" || true

strace -f -c -o "$BENCH_OUT/strace-summary.txt" "$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" \
  --store "$W/store-strace" >"$W/strace.log" 2>&1 || true
rm -rf "$W/store-strace"

# The no-op re-sync (c), with timestamps: where does its second go?
"$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" --store "$W/store-c" >/dev/null 2>&1
strace -f -tt -e trace=connect,sendto,recvfrom,write,openat -o "$W/noop.strace" \
  "$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" --store "$W/store-c" >/dev/null 2>&1 || true
/usr/bin/time -f "no-op re-sync: %e s wall, %U s user, %S s sys" -a -o "$BENCH_OUT/times.txt" \
  "$FERRY_BIN" sync --once -c "$W/l/watchlist.yaml" --store "$W/store-c" >/dev/null 2>&1
{
  echo "first and last syscalls of the no-op re-sync:"
  head -n 3 "$W/noop.strace"
  grep -m 3 'connect(' "$W/noop.strace" || true
  tail -n 3 "$W/noop.strace"
} >"$BENCH_OUT/noop-trace.txt"
cat "$BENCH_OUT/times.txt"
