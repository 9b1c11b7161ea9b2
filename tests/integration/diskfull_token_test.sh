#!/usr/bin/env bash
# Two integration scenarios for `ferry pull`:
#
#   1  disk full: the store lives on a 6 MB tmpfs and the image has a 12 MB
#      layer -> ferry fails fast with ONE "ferry:" line saying "no space",
#      the store stays consistent (`ferry verify` exit 0; partials are fine);
#      after growing the tmpfs to 64 MB the same pull completes.
#   2  short tokens: a token registry whose tokens are really rejected 5 s
#      after issue (FERRY_IT_TOKEN_EXPIRES_IN=5 FERRY_IT_TOKEN_EXP_SKEW=-60),
#      blobs throttled to 1.5 MB/s by the fault proxy (--concurrency 1), so the
#      pull takes ~20 s (>= 15 s asserted) -> the pull completes and the
#      token server saw more than one token request.  (Note: ferry refreshes a
#      token kTokenRefreshMargin = 10 s before expiry, so a 5 s token is never
#      reused: ferry asks for one per request -- see daemon/auth/auth.h.)
#
# Needs root (mount -t tmpfs).  By hand:
#   FERRY_BIN=build/ferry bash tests/integration/diskfull_token_test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) == 0 ]] || fail "needs root (mounts a tmpfs)"

# Private HOME/XDG/DOCKER_CONFIG: anonymous pulls, the user's files untouched.
ferry_env

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
jget() { imgtool json "$1" "$2"; }

# check_tar TAR NLAYERS WHAT: skopeo reads the docker tarball, layer count.
check_tar() {
  local inspect="$1.inspect.json"
  it_skopeo inspect "docker-archive:$1" >"$inspect" || fail "$3: skopeo cannot read $1"
  assert_eq "$3: layers in the tarball" "$2" "$(jget "$inspect" 'len(d["Layers"])')"
}

###############################################################################
log "=== 1. disk full: 12 MB layer, store on a 6 MB tmpfs"
start_registry none
push_image v2s2 ns/fat:1 --layer fat-big:12000000 --layer fat-s1:100000 --layer fat-s2:50000
FAT_REF="$REG/ns/fat:1"

MNT="$IT_TMP/mnt"
mkdir -p "$MNT"
mount -t tmpfs -o size=6m tmpfs "$MNT" || fail "cannot mount a tmpfs on $MNT"
on_cleanup "umount -l '$MNT' 2>/dev/null || true"
STORE="$MNT/store"

rc=0 t0=$(now)
timeout -k 5 60 "$FERRY_BIN" pull "$FAT_REF" --store "$STORE" -o "$IT_TMP/fat1.tar" \
  >"$IT_TMP/fat1.out" 2>"$IT_TMP/fat1.err" || rc=$?
secs=$(since "$t0")
log "disk-full pull: rc=$rc in ${secs}s; stderr:"
sed 's/^/    /' "$IT_TMP/fat1.err" >&2
((rc != 124 && rc != 137)) || fail "disk-full pull hung (timeout)"
((rc != 0)) || fail "disk-full pull exited 0 on a 6 MB store"
nerr=$(grep -c '^ferry:' "$IT_TMP/fat1.err" || true)
assert_eq "disk-full: number of 'ferry:' error lines" 1 "$nerr"
grep '^ferry:' "$IT_TMP/fat1.err" | grep -qi 'no space' ||
  fail "disk-full: the ferry: error line does not say 'no space': $(grep '^ferry:' "$IT_TMP/fat1.err")"
log "tmpfs after the failed pull: $(df -h --output=used,size "$MNT" | tail -1); partials: $(ls "$STORE/ingest" 2>/dev/null | tr '\n' ' ')"
vrc=0
timeout -k 5 60 "$FERRY_BIN" verify --store "$STORE" >"$IT_TMP/verify1.out" 2>&1 || vrc=$?
((vrc == 0)) || { cat "$IT_TMP/verify1.out" >&2; fail "ferry verify after disk full exited $vrc"; }

log "--- growing the tmpfs to 64 MB and pulling again"
mount -o remount,size=64m "$MNT" || fail "cannot remount $MNT"
rc=0 t0=$(now)
timeout -k 5 60 "$FERRY_BIN" pull "$FAT_REF" --store "$STORE" -o "$IT_TMP/fat2.tar" \
  >"$IT_TMP/fat2.out" 2>"$IT_TMP/fat2.err" || rc=$?
secs=$(since "$t0")
((rc == 0)) || { cat "$IT_TMP/fat2.err" >&2; fail "pull after making room exited $rc"; }
log "pull after making room: rc=0 in ${secs}s"
vrc=0
timeout -k 5 60 "$FERRY_BIN" verify --store "$STORE" >"$IT_TMP/verify2.out" 2>&1 || vrc=$?
((vrc == 0)) || { cat "$IT_TMP/verify2.out" >&2; fail "ferry verify after the second pull exited $vrc"; }
check_tar "$IT_TMP/fat2.tar" 3 "disk full, second pull"
umount "$MNT" || umount -l "$MNT" || true
stop_registry

###############################################################################
log "=== 2. short tokens: rejected 5 s after issue, pull throttled to >= 15 s"
export FERRY_IT_TOKEN_EXPIRES_IN=5 FERRY_IT_TOKEN_EXP_SKEW=-60
start_registry token
push_image v2s2 ns/slow:1 --layer slow-1:10000000 --layer slow-2:10000000 --layer slow-3:10000000
fault_proxy_start slow "$REG_URL"
fault_proxy_rules "$PROXY_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "rate_bytes_per_sec": 1500000}]'
SLOW_REF="$PROXY_ADDR/ns/slow:1"

tok_mark=$(wc -l <"$TOKEN_LOG" | tr -d ' ')
rc=0 t0=$(now)
timeout -k 5 90 "$FERRY_BIN" pull "$SLOW_REF" --store "$IT_TMP/store-slow" -o "$IT_TMP/slow.tar" \
  --concurrency 1 >"$IT_TMP/slow.out" 2>"$IT_TMP/slow.err" || rc=$?
secs=$(since "$t0")
ntok=$(tail -n +"$((tok_mark + 1))" "$TOKEN_LOG" | wc -l | tr -d ' ')
nblobget=$(count_requests GET '/v2/ns/slow/blobs/' | tr -d ' ' || true)
log "short-token pull: rc=$rc in ${secs}s; token requests during the run: $ntok"
tail -n +"$((tok_mark + 1))" "$TOKEN_LOG" | sed 's/^/    token: /' >&2
((rc == 0)) || { tail -n 30 "$IT_TMP/slow.err" >&2; fail "short-token pull exited $rc"; }
awk -v s="$secs" 'BEGIN { exit !(s >= 15) }' || fail "the pull took only ${secs}s (< 15 s): the token never had to be refreshed"
((ntok > 1)) || fail "only $ntok token request(s) during a ${secs}s pull with 5 s tokens"
vrc=0
timeout -k 5 60 "$FERRY_BIN" verify --store "$IT_TMP/store-slow" >"$IT_TMP/verify3.out" 2>&1 || vrc=$?
((vrc == 0)) || { cat "$IT_TMP/verify3.out" >&2; fail "ferry verify after the short-token pull exited $vrc"; }
check_tar "$IT_TMP/slow.tar" 3 "short tokens"
log "figures: disk-full ok; short tokens: ${secs}s, $ntok token requests (blob GETs in registry log: $nblobget)"

log "PASS diskfull_token_test"
