#!/usr/bin/env bash
# ferry's benchmark: ferry against skopeo and the raw curl bound, same machine,
# same run.  See README.md "Benchmarks" and bench/README.md.
#
#   bench/run.sh            full run (BENCH_SCALE=1: ~2 GB fleet, 3 runs each)
#   bench/run.sh --smoke    tiny fleet, 1 run: checks the script end to end
#
# Knobs (environment):
#   BENCH_SCALE=1           fleet size factor (0.05 for a quick development run)
#   BENCH_RUNS=3            runs per scenario and tool (median, min-max)
#   BENCH_RUNS_B=BENCH_RUNS runs of (b) (skopeo sync takes ~13 min per run there)
#   BENCH_SEED=ferry-bench-1  fleet seed (the fleet is a function of seed+scale)
#   BENCH_CONCURRENCY=16    ferry's transfers in flight, and the raw bound's curls
#   BENCH_SCENARIOS="a b c d e h"  which scenarios to run (c needs a)
#   BENCH_FAR_LATENCY_MS=100  (h): the far registry's added latency per request
#   BENCH_CACHE=/var/tmp/ferry-bench  generated fleets (kept between runs)
#   BENCH_TMP=/var/tmp      where the registry, stores and exports live (needs
#                           ~3x the fleet size free)
#   BENCH_FERRY_BIN=PATH    use this ferry instead of building bench's Release one
#   BENCH_TIMEOUT=3600      cap in seconds on one measured command
#   BENCH_OUT=bench/results where the tables and the chart go
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
SMOKE=0
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
if ((SMOKE)); then
  : "${BENCH_SCALE:=0.002}" "${BENCH_RUNS:=1}" "${BENCH_OUT:=$ROOT/bench/results/smoke}"
fi
: "${BENCH_SCALE:=1}" "${BENCH_RUNS:=3}" "${BENCH_SEED:=ferry-bench-1}" "${BENCH_CONCURRENCY:=16}"
: "${BENCH_SCENARIOS:=a b c d e h}" "${BENCH_CACHE:=/var/tmp/ferry-bench}" "${BENCH_TMP:=/var/tmp}"
: "${BENCH_TIMEOUT:=3600}" "${BENCH_OUT:=$ROOT/bench/results}"
: "${BENCH_PROXY_LATENCY_MS:=20}" "${BENCH_PROXY_RATE:=4194304}" "${BENCH_FAR_LATENCY_MS:=100}"
[[ "$BENCH_SCALE" =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "bench/run.sh: BENCH_SCALE must be a number, got '$BENCH_SCALE'" >&2; exit 2; }
[[ "$BENCH_RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: BENCH_RUNS must be a positive integer, got '$BENCH_RUNS'" >&2; exit 2; }
: "${BENCH_RUNS_B:=$BENCH_RUNS}"
[[ "$BENCH_RUNS_B" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: BENCH_RUNS_B must be a positive integer, got '$BENCH_RUNS_B'" >&2; exit 2; }
PY=/usr/bin/python3

# ---- what it needs: packages, a Release ferry, the blob generator ----------
bash "$ROOT/scripts/deps.sh" bench
if [[ -z "${BENCH_FERRY_BIN:-}" ]]; then
  if [[ -f /work/ccache.env ]]; then source /work/ccache.env; fi
  echo "building ferry (Release) in $ROOT/build-bench" >&2
  # -O2, not CMake's default -O3: GCC 12 at -O3 reports a false -Wrestrict in
  # std::string code (GCC bug 105651) and -Werror stops the build.
  cmake -S "$ROOT" -B "$ROOT/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" ${FERRY_CMAKE_ARGS:-} >/dev/null
  cmake --build "$ROOT/build-bench" --target ferry -j 2 >/dev/null
  BENCH_FERRY_BIN="$ROOT/build-bench/ferry"
fi
export FERRY_BIN="$BENCH_FERRY_BIN"
mkdir -p "$BENCH_CACHE"
BLOBGEN="$BENCH_CACHE/blobgen"
if [[ ! -x "$BLOBGEN" || "$BENCH_DIR/blobgen.c" -nt "$BLOBGEN" ]]; then
  cc -O2 -Wall -Wextra -Werror -o "$BLOBGEN" "$BENCH_DIR/blobgen.c" -lz -lcrypto
fi
FLEET_CACHE="$BENCH_CACHE/fleet-$BENCH_SEED-$BENCH_SCALE"
t0=$SECONDS
"$PY" "$BENCH_DIR/fleet.py" gen --cache "$FLEET_CACHE" --seed "$BENCH_SEED" --scale "$BENCH_SCALE" \
  --blobgen "$BLOBGEN" --jobs 2
echo "fleet ready in $((SECONDS - t0)) s ($FLEET_CACHE)" >&2

# ---- the harness: registry with token auth, proxy, cleanup -------------------
export FERRY_IT_TMPBASE="$BENCH_TMP" FERRY_IT_LIFETIME=21600
# shellcheck source=../tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
ferry_env
W="$IT_TMP/bench"
mkdir -p "$W"
RESULTS="$W/results.jsonl"
: >"$RESULTS"

start_registry token
"$PY" "$BENCH_DIR/fleet.py" install --cache "$FLEET_CACHE" --storage "$REG_DIR/storage"
"$PY" "$BENCH_DIR/fleet.py" lists --cache "$FLEET_CACHE" --registry "$REG" --out "$W/direct" \
  --store "$W/unused-store" --concurrency "$BENCH_CONCURRENCY"
# The registry serves what was written into its storage.
first=$(head -n 1 "$W/direct/images.txt")
it_skopeo inspect --raw --tls-verify=false "docker://$REG/$first" >/dev/null ||
  fail "the registry does not serve $first from the installed fleet"
N_TAGS=$(wc -l <"$W/direct/images.txt")

proxy_up=0
start_proxy() {
  ((proxy_up)) && return 0
  # The same proxy without faults: ferry through it shows whether the Python
  # proxy itself could cap (b) (it must carry 16 x 4 MiB/s).
  fault_proxy_start pass "$REG_URL"
  "$PY" "$BENCH_DIR/fleet.py" lists --cache "$FLEET_CACHE" --registry "$PROXY_ADDR" --out "$W/pass" \
    --store "$W/unused-store" --concurrency "$BENCH_CONCURRENCY"
  fault_proxy_start wan "$REG_URL"
  fault_proxy_rules "$PROXY_RULES" \
    "[{\"latency_ms\": $BENCH_PROXY_LATENCY_MS, \"rate_bytes_per_sec\": $BENCH_PROXY_RATE}]"
  "$PY" "$BENCH_DIR/fleet.py" lists --cache "$FLEET_CACHE" --registry "$PROXY_ADDR" --out "$W/wan" \
    --store "$W/unused-store" --concurrency "$BENCH_CONCURRENCY"
  proxy_up=1
}

# ---- measuring ----------------------------------------------------------------

# measure SCENARIO TOOL RUN CMD...: run CMD under /usr/bin/time (wall, user+sys
# of the whole process tree, peak RSS of its largest process) and count the
# registry's access-log requests it caused, by kind.  One JSON line to $RESULTS.
measure() {
  local scen=$1 tool=$2 run=$3
  shift 3
  local tag="$scen-$tool-$run" rc=0
  local mark tmark
  sync # earlier runs' dirty pages must not be flushed on this one's time
  mark=$(reg_log_mark)
  tmark=$(wc -l <"$TOKEN_LOG")
  /usr/bin/time -f '%e %U %S %M' -o "$W/$tag.time" \
    timeout -k 10 "$BENCH_TIMEOUT" "$@" >"$W/$tag.log" 2>&1 || rc=$?
  sleep 0.3 # the access log is written after the response
  local wall user sys rss
  read -r wall user sys rss < <(tail -n 1 "$W/$tag.time")
  local log="$W/$tag.access"
  tail -n +"$((mark + 1))" "$REG_LOG" | grep -E '"(GET|HEAD|PUT|POST|PATCH|DELETE) /' >"$log" || true
  local hm gm gb other total tokens
  total=$(wc -l <"$log")
  hm=$(grep -E -c '"HEAD /v2/.+/manifests/' "$log" || true)
  gm=$(grep -E -c '"GET /v2/.+/manifests/' "$log" || true)
  gb=$(grep -E -c '"GET /v2/.+/blobs/' "$log" || true)
  other=$((total - hm - gm - gb))
  tokens=$(($(wc -l <"$TOKEN_LOG") - tmark))
  printf '{"scenario":"%s","tool":"%s","run":%d,"rc":%d,"wall":%s,"cpu":%s,"rss_kb":%s,"requests":%d,"head_manifest":%d,"get_manifest":%d,"get_blob":%d,"other":%d,"token":%d}\n' \
    "$scen" "$tool" "$run" "$rc" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" "$rss" "$total" "$hm" "$gm" "$gb" "$other" "$tokens" >>"$RESULTS"
  if ((rc != 0)); then
    log "$scen/$tool run $run FAILED (exit $rc); last lines of $W/$tag.log:"
    tail -n 15 "$W/$tag.log" >&2
  else
    log "$scen/$tool run $run: ${wall}s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')s cpu, $((rss / 1024)) MB rss, $total requests"
  fi
}

# Tools.  Each takes the lists dir (direct or wan) and a fresh output path.
bench_skopeo() { skopeo --insecure-policy "$@"; } # it_skopeo without its 180 s cap
skopeo_sync() { bench_skopeo sync --src yaml --dest dir "$1/skopeo-sync.yaml" "$2"; }
raw_bound() {
  bash "$BENCH_DIR/raw_fetch.sh" "$1/blobs.txt" "http://$(sed -n 's/^  \([^:]*:[0-9]*\): .*/\1/p' "$1/watchlist.yaml")" \
    "$TOKEN_URL" "$IT_SERVICE" "$2" "$BENCH_CONCURRENCY"
}
skopeo_archives() {
  local lists=$1 out=$2 reg ref
  reg=$(sed -n 's/^  \([^:]*:[0-9]*\): .*/\1/p' "$lists/watchlist.yaml")
  mkdir -p "$out"
  while read -r ref; do
    bench_skopeo copy --quiet --src-tls-verify=false "docker://$reg/$ref" \
      "docker-archive:$out/${ref//[\/:]/_}.tar:$ref" || return 1
  done <"$lists/images.txt"
}
skopeo_inspect_all() {
  local reg ref
  reg=$(sed -n 's/^  \([^:]*:[0-9]*\): .*/\1/p' "$1/watchlist.yaml")
  while read -r ref; do
    bench_skopeo inspect --raw --tls-verify=false "docker://$reg/$ref" >/dev/null || return 1
  done <"$1/images.txt"
}
# Exported so `measure` (which runs them through timeout) can reach them.
export -f bench_skopeo skopeo_sync raw_bound skopeo_archives skopeo_inspect_all
export BENCH_DIR TOKEN_URL IT_SERVICE BENCH_CONCURRENCY FERRY_BIN
RUN_FN=(bash -c '"$@"' _) # timeout execs programs: exported functions run in a bash

has() { [[ " $BENCH_SCENARIOS " == *" $1 "* ]]; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench: scale $BENCH_SCALE, $BENCH_RUNS runs, scenarios [$BENCH_SCENARIOS], load $load_start"
for ((run = 1; run <= BENCH_RUNS; run++)); do
  # (a) cold sync on loopback, and (c) the no-op re-sync right after it.
  if has a; then
    measure a ferry "$run" "$FERRY_BIN" sync --once -c "$W/direct/watchlist.yaml" --store "$W/a-ferry"
    if has c; then measure c ferry "$run" "$FERRY_BIN" sync --once -c "$W/direct/watchlist.yaml" --store "$W/a-ferry"; fi
    rm -rf "$W/a-ferry"
    # skopeo sync has no no-op re-sync into a dir: it refuses to overwrite
    # the destination ("Refusing to overwrite destination directory").
    measure a skopeo-sync "$run" "${RUN_FN[@]}" skopeo_sync "$W/direct" "$W/a-skopeo"
    rm -rf "$W/a-skopeo"
    measure a raw-curl "$run" "${RUN_FN[@]}" raw_bound "$W/direct" "$W/a-raw"
    rm -rf "$W/a-raw"
  fi
  # (b) through the WAN proxy: +20 ms per request, 4 MiB/s per connection.
  if has b && ((run <= BENCH_RUNS_B)); then
    start_proxy
    measure b ferry "$run" "$FERRY_BIN" sync --once -c "$W/wan/watchlist.yaml" --store "$W/b-ferry"
    rm -rf "$W/b-ferry"
    measure b skopeo-sync "$run" "${RUN_FN[@]}" skopeo_sync "$W/wan" "$W/b-skopeo"
    rm -rf "$W/b-skopeo"
    measure b raw-curl "$run" "${RUN_FN[@]}" raw_bound "$W/wan" "$W/b-raw"
    rm -rf "$W/b-raw"
    measure p ferry "$run" "$FERRY_BIN" sync --once -c "$W/pass/watchlist.yaml" --store "$W/p-ferry"
    rm -rf "$W/p-ferry"
  fi
  # (d) cold sync plus a docker-load tarball per image.
  if has d; then
    measure d ferry "$run" "$FERRY_BIN" sync --once -c "$W/direct/watchlist.yaml" --store "$W/d-ferry" --export "$W/d-ferry-export"
    # The disk floor: the same number of bytes written with dd and fsynced (ferry
    # fsyncs each store blob and each tarball before it counts as written).
    d_mb=$(du -scmL "$W/d-ferry" "$W/d-ferry-export" | tail -n 1 | cut -f1)
    rm -rf "$W/d-ferry" "$W/d-ferry-export" "$W/.d-ferry-export.sets"
    measure d disk-floor "$run" dd if=/dev/zero of="$W/d-floor" bs=1M count="$d_mb" conv=fsync status=none
    rm -f "$W/d-floor"
    measure d skopeo-archive "$run" "${RUN_FN[@]}" skopeo_archives "$W/direct" "$W/d-skopeo"
    rm -rf "$W/d-skopeo"
  fi
  # (e) one image with a 1 GB layer into a docker-load tarball (cold).
  if has e; then
    read -r big _ <"$W/direct/big.txt"
    measure e ferry "$run" "$FERRY_BIN" pull --store "$W/e-ferry" --concurrency "$BENCH_CONCURRENCY" \
      "$REG/$big" -o "$W/e-ferry.tar"
    rm -rf "$W/e-ferry" "$W/e-ferry.tar"
    measure e skopeo-archive "$run" skopeo --insecure-policy copy --quiet --src-tls-verify=false \
      "docker://$REG/$big" "docker-archive:$W/e-skopeo.tar:$big"
    rm -f "$W/e-skopeo.tar"
  fi
  # (h) a far registry: the WAN proxy with +BENCH_FAR_LATENCY_MS per request
  # (same per-connection cap), cold and no-op; the rules go back to (b)'s after.
  if has h; then
    start_proxy
    fault_proxy_rules "$PROXY_RULES" \
      "[{\"latency_ms\": $BENCH_FAR_LATENCY_MS, \"rate_bytes_per_sec\": $BENCH_PROXY_RATE}]"
    measure h ferry "$run" "$FERRY_BIN" sync --once -c "$W/wan/watchlist.yaml" --store "$W/h-ferry"
    measure hn ferry "$run" "$FERRY_BIN" sync --once -c "$W/wan/watchlist.yaml" --store "$W/h-ferry"
    rm -rf "$W/h-ferry"
    measure h skopeo-sync "$run" "${RUN_FN[@]}" skopeo_sync "$W/wan" "$W/h-skopeo"
    # skopeo's no-op stand-in: an inspect per tag (sync refuses an existing dir).
    measure hn skopeo-sync "$run" "${RUN_FN[@]}" skopeo_inspect_all "$W/wan"
    rm -rf "$W/h-skopeo"
    fault_proxy_rules "$PROXY_RULES" \
      "[{\"latency_ms\": $BENCH_PROXY_LATENCY_MS, \"rate_bytes_per_sec\": $BENCH_PROXY_RATE}]"
  fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the report -----------------------------------------------------------------
mkdir -p "$BENCH_OUT"
cp "$RESULTS" "$BENCH_OUT/latest.jsonl"
"$PY" "$BENCH_DIR/report.py" --results "$RESULTS" --out "$BENCH_OUT" \
  --fleet "$FLEET_CACHE/fleet.json" --tags "$N_TAGS" --big "$W/direct/big.txt" \
  --meta "scale=$BENCH_SCALE" --meta "runs=$BENCH_RUNS$( ((BENCH_RUNS_B != BENCH_RUNS)) && echo " ((b): $BENCH_RUNS_B)")" --meta "seed=$BENCH_SEED" \
  --meta "concurrency=$BENCH_CONCURRENCY" --meta "load_start=$load_start" --meta "load_end=$load_end" \
  --meta "proxy=+${BENCH_PROXY_LATENCY_MS} ms/request, ${BENCH_PROXY_RATE} B/s per connection" \
  --meta "ferry=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
  --meta "skopeo=$(skopeo --version | awk '{print $3}')"
