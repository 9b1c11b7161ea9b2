#!/usr/bin/env bash
# The large figure: a ~300 MB image (5 layers of 60 MB, incompressible, gzip
# level 1 so generating it takes seconds) pulled through
# tests/support/fault_proxy.py while the proxy drops every blob connection
# after 20 MB.  Every drop is resumed with Range, so the bytes downloaded over
# the bytes needed must stay <= 1.01 (the only waste allowed is what a cut
# connection had in flight; the proxy counts bytes written to the socket).
#
#   FIGURE drop20MB fetched/needed=1.0000 drops=N seconds=S
#
# Then segmented downloads: one 100 MB layer, each proxied response capped at
# 10 MB/s, pulled with --segments 1 (one stream) and --segments 4 (four Range
# segments in parallel into one partial); both must verify and read back, and
# the speed-up is printed and must exceed 1.5 (4 is the ideal):
#
#   FIGURE segments4 single_s=S1 segmented_s=S2 speedup=R
#
# Last, a segmented download killed with -9 once 30 MB are in: the store
# verifies, the rerun resumes every segment from the record (no Range from 0)
# and the layer costs <= 1.05 x its size over both runs:
#
#   FIGURE segments-kill9 fetched/needed=R
#
# By hand: FERRY_BIN=build/ferry bash tests/integration/large_test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
jget() { imgtool json "$1" "$2"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

###############################################################################
log "=== set-up: a 300 MB image behind the fault proxy"
t0=$(now)
start_registry none
push_image v2s2 large/img:1 --gzip-level 1 --layer large-1:60000000 --layer large-2:60000000 \
  --layer large-3:60000000 --layer large-4:60000000 --layer large-5:60000000
reg_raw_manifest large/img:1 >"$IT_TMP/manifest.json"
NEEDED=$(jget "$IT_TMP/manifest.json" 'd["config"]["size"] + sum(l["size"] for l in d["layers"])')
NLAYERS=$(jget "$IT_TMP/manifest.json" 'len(d["layers"])')
log "image: $NLAYERS layers, $NEEDED bytes (generated and pushed in $(since "$t0") s)"
fault_proxy_start main "$REG_URL"
REF="$PROXY_ADDR/large/img:1"

###############################################################################
log "=== drop every blob connection after 20 MB"
fault_proxy_rules "$PROXY_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "drop_after_bytes": 20000000, "times": 100000}]'
mark=$(fault_proxy_mark "$PROXY_LOG")
t0=$(now)
ferry_ok pull "$REF" --store "$IT_TMP/store" -o "$IT_TMP/img.tar"
secs=$(since "$t0")
fault_proxy_summary "$PROXY_LOG" "$mark" >"$IT_TMP/drop.sum.json"
FETCHED=$(jget "$IT_TMP/drop.sum.json" 'd["blob_get_bytes"]')
DROPS=$(jget "$IT_TMP/drop.sum.json" 'd["faults"].get("drop_after_bytes", 0)')
want=$(jget "$IT_TMP/manifest.json" 'sum((l["size"] - 1) // 20000000 for l in d["layers"])')
assert_eq "connections dropped" "$want" "$DROPS"
assert_eq "ranged blob GETs (one per drop)" "$DROPS" "$(jget "$IT_TMP/drop.sum.json" 'd["blob_gets_with_range"]')"
ferry_ok verify --store "$IT_TMP/store"
it_skopeo inspect "docker-archive:$IT_TMP/img.tar" >"$IT_TMP/inspect.json" || fail "skopeo cannot read the tarball"
assert_eq "layers in the tarball" "$NLAYERS" "$(jget "$IT_TMP/inspect.json" 'len(d["Layers"])')"
RATIO=$(awk -v a="$FETCHED" -v b="$NEEDED" 'BEGIN { printf "%.4f", a / b }')
echo "FIGURE drop20MB fetched/needed=$RATIO fetched=$FETCHED needed=$NEEDED drops=$DROPS seconds=$secs"
awk -v r="$RATIO" 'BEGIN { exit !(r <= 1.01) }' || fail "fetched/needed $RATIO > 1.01"

###############################################################################
log "=== segmented downloads on a 10 MB/s-per-connection link"
fault_proxy_rules "$PROXY_RULES" '[]'
push_image v2s2 large/one:1 --gzip-level 1 --layer large-one:100000000
reg_raw_manifest large/one:1 >"$IT_TMP/one.json"
ONE_LAYER=$(jget "$IT_TMP/one.json" 'd["layers"][0]["digest"]')
ONE_SIZE=$(jget "$IT_TMP/one.json" 'd["layers"][0]["size"]')
fault_proxy_rules "$PROXY_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "rate_bytes_per_sec": 10000000}]'
declare -A took=()
for n in 1 4; do
  mark=$(fault_proxy_mark "$PROXY_LOG")
  t0=$(now)
  ferry_ok pull "$PROXY_ADDR/large/one:1" --store "$IT_TMP/store-seg$n" -o "$IT_TMP/one-$n.tar" --segments "$n"
  took[$n]=$(since "$t0")
  ferry_ok verify --store "$IT_TMP/store-seg$n"
  it_skopeo inspect "docker-archive:$IT_TMP/one-$n.tar" >/dev/null || fail "skopeo cannot read one-$n.tar"
  [[ -z "$(ls -A "$IT_TMP/store-seg$n/ingest")" ]] || fail "--segments $n: ingest/ not empty after the pull"
  fault_proxy_summary "$PROXY_LOG" "$mark" >"$IT_TMP/seg$n.sum.json"
  gets=$(jget "$IT_TMP/seg$n.sum.json" "d['blobs']['$ONE_LAYER']['gets']")
  bytes=$(jget "$IT_TMP/seg$n.sum.json" "d['blobs']['$ONE_LAYER']['bytes']")
  assert_eq "--segments $n: GETs of the layer" "$n" "$gets"
  assert_eq "--segments $n: layer bytes sent" "$ONE_SIZE" "$bytes"
  log "--segments $n: ${took[$n]} s, ranges $(jget "$IT_TMP/seg$n.sum.json" "sorted(d['blobs']['$ONE_LAYER']['ranges'] or [])")"
done
SPEEDUP=$(awk -v a="${took[1]}" -v b="${took[4]}" 'BEGIN { printf "%.2f", a / b }')
echo "FIGURE segments4 size=$ONE_SIZE cap=10MB/s single_s=${took[1]} segmented_s=${took[4]} speedup=$SPEEDUP"
awk -v r="$SPEEDUP" 'BEGIN { exit !(r > 1.5) }' || fail "4 segments were only ${SPEEDUP}x faster than one stream"

###############################################################################
log "=== segmented download killed (-9) mid-way, then resumed from its record"
SEG_STORE="$IT_TMP/store-segkill"
mark=$(fault_proxy_mark "$PROXY_LOG")
"$FERRY_BIN" pull "$PROXY_ADDR/large/one:1" --store "$SEG_STORE" --segments 4 >"$IT_TMP/segkill1.out" 2>&1 &
pid=$!
seg_partial() { [[ -s "$SEG_STORE/ingest/${ONE_LAYER#sha256:}.segments" ]] &&
  (($(stat -c %s "$SEG_STORE/ingest/${ONE_LAYER#sha256:}.partial") > 30000000)); }
wait_until 30 "a segmented partial past 30 MB" seg_partial || { cat "$IT_TMP/segkill1.out" >&2; fail "no segmented partial"; }
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
ferry_ok verify --store "$SEG_STORE"
log "record after the kill: $(tr '\n' ' ' <"$SEG_STORE/ingest/${ONE_LAYER#sha256:}.segments")"
fault_proxy_rules "$PROXY_RULES" '[]'
# The killed run's responses are logged once the proxy's next write fails.
sleep 1
mark2=$(fault_proxy_mark "$PROXY_LOG")
ferry_ok pull "$PROXY_ADDR/large/one:1" --store "$SEG_STORE" -o "$IT_TMP/segkill.tar" --segments 4
ferry_ok verify --store "$SEG_STORE"
it_skopeo inspect "docker-archive:$IT_TMP/segkill.tar" >/dev/null || fail "skopeo cannot read segkill.tar"
fault_proxy_summary "$PROXY_LOG" "$mark" >"$IT_TMP/segkill.sum.json"
fault_proxy_summary "$PROXY_LOG" "$mark2" >"$IT_TMP/segkill2.sum.json"
all=$(jget "$IT_TMP/segkill.sum.json" "d['blobs']['$ONE_LAYER']['bytes']")
rerun=$(jget "$IT_TMP/segkill2.sum.json" "d['blobs']['$ONE_LAYER']['bytes']")
ranges=$(jget "$IT_TMP/segkill2.sum.json" "' '.join(sorted(d['blobs']['$ONE_LAYER']['ranges'] or []))")
[[ -n "$ranges" && "$ranges" != *"bytes=0-"* ]] || fail "the rerun did not resume the segments: ranges [$ranges]"
RATIO=$(awk -v a="$all" -v b="$ONE_SIZE" 'BEGIN { printf "%.4f", a / b }')
echo "FIGURE segments-kill9 fetched/needed=$RATIO rerun_bytes=$rerun ranges=[$ranges]"
# Lost to the kill: each segment's unwritten buffer (256 KiB), bytes written
# since the record was last saved (< 1 MiB), and what sat in sockets: ~3 MB.
awk -v r="$RATIO" 'BEGIN { exit !(r <= 1.05) }' || fail "kill -9 of a segmented download cost $RATIO x the layer"

log "PASS large"
