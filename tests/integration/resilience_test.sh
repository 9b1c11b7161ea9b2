#!/usr/bin/env bash
# Resilience of `ferry pull` against injected network faults.
#
# A token-auth registry (Docker Hub-like) sits behind tests/support/fault_proxy.py
# and ferry pulls through the proxy (127.0.0.1:PROXYPORT/ns/big:1; the token
# realm is the token server's own port, not proxied).  The image has three
# ~30 MB layers.  Every scenario uses a fresh store, changes the proxy's rules,
# pulls, and must end with a complete image (store entry with every blob
# hashing to its name, a docker tarball skopeo reads, nothing left in ingest/),
# then prints what happened: faults injected (proxy log), retries (ferry's
# "retrying" warnings), and blob bytes the proxy sent vs the image's blob bytes.
#
#   a  connection cut every 8 MB of every blob GET  -> Range resumes, ratio <= 1.01
#   b  429 + Retry-After: 1 on the first 2 blob GETs -> >= 1 s waits, retried
#   c  503 on the first 3 manifest GETs              -> retried, completes
#   d  a flipped byte in the first blob response and
#      one 20 MB into a layer                        -> never committed, refetched
#   e  blob GETs redirected (307) to a "CDN" proxy    -> no Authorization there
#   e2 ... and the CDN cuts each GET after 20 MB     -> resumed via a fresh redirect
#   f  kill -9 mid-transfer (blobs at 5 MB/s), rerun -> Range resume, ratio <= 1.05
#   g  a 5 MB "manifest"                             -> refused, no blob fetched
#   h  blobs at 5 MB/s, --deadline 3s                -> exit 1 "deadline of 3s exceeded",
#      store verifies, partials kept; rerun without deadline fetches only the rest
#   a2 cut every 4 MB (8 connections per layer)      -> KNOWN BUG: fails today, see
#      FERRY_IT_KNOWN_BUG_RESUME_BUDGET at the end (=0 skips it)
#
# By hand: FERRY_BIN=build/ferry bash tests/integration/resilience_test.sh
# (FERRY_IT_KEEP=1 keeps the proxy logs: $IT_TMP/proxy-*/requests.jsonl).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Private HOME/XDG/DOCKER_CONFIG: anonymous pulls, the user's files untouched.
ferry_env

T_START=$SECONDS
now() { date +%s.%N; }
# ratio A B: A/B with 4 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
# le A B: true when A <= B (decimals).
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
jget() { imgtool json "$1" "$2"; }

###############################################################################
log "=== set-up: a plain 'CDN origin' registry, the token registry, the image, two proxies"
# The CDN origin: a registry without auth holding the same blobs (a CDN serves
# pre-signed URLs, it never sees registry credentials).
start_registry none
CDN_ORIGIN=$REG_URL
CDN_REG=$REG
start_registry token
push_image v2s2 ns/big:1 --layer b1:30000000 --layer b2:30000000 --layer b3:30000000
BIG_DIGEST=$PUSHED_DIGEST
it_skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false --src-creds "$REG_USER:$REG_PASS" \
  "docker://$REG/ns/big:1" "docker://$CDN_REG/ns/big:1" >/dev/null || fail "copy to the CDN origin failed"
# The copy keeps the manifest bytes, so the blobs are the same.
assert_eq "manifest digest on the CDN origin" "$BIG_DIGEST" \
  "$(it_skopeo inspect --raw --tls-verify=false "docker://$CDN_REG/ns/big:1" | sha256sum | sed 's/^/sha256:/; s/ .*//')"

reg_raw_manifest ns/big:1 >"$IT_TMP/big-manifest.json"
NEEDED=$(jget "$IT_TMP/big-manifest.json" 'd["config"]["size"] + sum(l["size"] for l in d["layers"])')
NBLOBS=$(jget "$IT_TMP/big-manifest.json" '1 + len(d["layers"])')
log "image: $NBLOBS blobs, $NEEDED bytes"

fault_proxy_start cdn "$CDN_ORIGIN"
CDN_PORT=$PROXY_PORT CDN_RULES=$PROXY_RULES CDN_LOG=$PROXY_LOG
fault_proxy_start main "$REG_URL"
MAIN_RULES=$PROXY_RULES MAIN_LOG=$PROXY_LOG
REF="$PROXY_ADDR/ns/big:1"

# ---------------------------------------------------------------- helpers ----

# pull_via_proxy NAME [ferry options]: ferry pull REF into a fresh store
# ($IT_TMP/store-NAME) and $IT_TMP/NAME.tar; sets S_RC, S_SECS, S_STORE,
# S_OUT, S_ERR, S_MARK (main proxy log line count before the run).
pull_via_proxy() {
  local name=$1
  shift
  S_STORE="$IT_TMP/store-$name" S_OUT="$IT_TMP/$name.tar" S_ERR="$IT_TMP/$name.err"
  S_MARK=$(fault_proxy_mark "$MAIN_LOG")
  local t0
  t0=$(now)
  S_RC=0
  timeout -k 5 150 "$FERRY_BIN" pull "$REF" --store "$S_STORE" -o "$S_OUT" "$@" \
    >"$IT_TMP/$name.out" 2>"$S_ERR" || S_RC=$?
  S_SECS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
}

# retries FILE: ferry's "retrying" warnings in FILE.
retries() { grep -c 'retrying host=' "$1" || true; }

# check_store_blobs STORE: every blob hashes to its name; ingest/ is empty.
check_store_blobs() {
  local store=$1 f n=0
  for f in "$store"/blobs/sha256/*; do
    [[ -f "$f" ]] || continue
    [[ "$(sha256sum "$f" | cut -d' ' -f1)" == "$(basename "$f")" ]] ||
      fail "$f does not hash to its name: a bad body was committed"
    n=$((n + 1))
  done
  ((n >= NBLOBS)) || fail "$store holds $n blobs, want at least $NBLOBS"
  if [[ -d "$store/ingest" && -n "$(ls -A "$store/ingest")" ]]; then
    fail "$store/ingest not empty after a complete pull: $(ls -la "$store/ingest")"
  fi
}

# expect_complete NAME: the last pull succeeded and the image is whole.
expect_complete() {
  if ((S_RC != 0)); then
    tail -n 30 "$S_ERR" >&2
    fail "$1: ferry pull exited with $S_RC (stderr: $S_ERR)"
  fi
  assert_eq "$1: store entry" "$BIG_DIGEST" "$(imgtool oci-check "$S_STORE" "$REF")"
  check_store_blobs "$S_STORE"
  local inspect="$IT_TMP/$1.inspect.json"
  it_skopeo inspect "docker-archive:$S_OUT" >"$inspect" || fail "$1: skopeo cannot read $S_OUT"
  assert_eq "$1: layers in the tarball" 3 "$(jget "$inspect" 'len(d["Layers"])')"
}

# Figures for the final table.
TABLE=()
# record NAME FAULTS RETRIES FETCHED NOTE
record() {
  local r
  r=$(ratio "$4" "$NEEDED")
  TABLE+=("$(printf '%-3s %-34s %7s %11s %11s %7s %6ss  %s' "$1" "$2" "$3" "$4" "$NEEDED" "$r" "$S_SECS" "$5")")
  log "figures $1: faults=[$2] retries=$3 fetched=$4 needed=$NEEDED ratio=$r time=${S_SECS}s $5"
}

# faults_of SUMMARY: "kind=count ..." from a proxy summary.
faults_of() { jget "$1" '" ".join("%s=%d" % kv for kv in sorted(d["faults"].items())) or "none"'; }

###############################################################################
log "=== a. every blob GET is cut after 8 MB: Range resumes, no restarts"
fault_proxy_rules "$MAIN_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "drop_after_bytes": 8000000, "times": 100000}]'
pull_via_proxy a
expect_complete a
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/a.sum.json"
drops=$(jget "$IT_TMP/a.sum.json" 'd["faults"].get("drop_after_bytes", 0)')
# Each layer needs ceil(size / 8 MB) requests; each resumed one starts where the
# previous stopped.
want_drops=$(jget "$IT_TMP/big-manifest.json" 'sum((l["size"] - 1) // 8000000 for l in d["layers"])')
assert_eq "a: connections cut" "$want_drops" "$drops"
assert_eq "a: ranged blob GETs (one per cut)" "$drops" "$(jget "$IT_TMP/a.sum.json" 'd["blob_gets_with_range"]')"
assert_eq "a: Range offsets are multiples of 8 MB" true \
  "$(jget "$IT_TMP/a.sum.json" 'all(int(r[6:-1]) % 8000000 == 0 for r in d["blob_ranges"])')"
fetched=$(jget "$IT_TMP/a.sum.json" 'd["blob_get_bytes"]')
le "$(ratio "$fetched" "$NEEDED")" 1.01 || fail "a: fetched $fetched bytes for $NEEDED: restarts instead of resumes"
n=$(retries "$S_ERR")
((n >= drops)) || fail "a: $n retries logged for $drops cut connections"
record a "$(faults_of "$IT_TMP/a.sum.json")" "$n" "$fetched" "ranged GETs=$drops"

###############################################################################
log "=== b. 429 with Retry-After: 1 on the first 2 blob GETs"
fault_proxy_rules "$MAIN_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "status": 429, "retry_after": "1", "times": 2}]'
pull_via_proxy b
expect_complete b
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/b.sum.json"
assert_eq "b: 429s sent" 2 "$(jget "$IT_TMP/b.sum.json" 'd["faults"].get("status_429", 0)')"
gaps=$(jget "$IT_TMP/b.sum.json" '" ".join(str(g) for g in d["retry_gaps_s"])')
for g in $gaps; do
  [[ "$g" != None ]] || fail "b: a blob answered 429 was never asked for again"
  le 0.99 "$g" || fail "b: ferry came back after ${g}s, before the 1 s Retry-After"
done
n=$(retries "$S_ERR")
((n >= 2)) || fail "b: $n retries logged, want >= 2"
waits=$(grep 'retrying host=.*429' "$S_ERR" | sed -E 's/.* wait=([0-9]+)ms.*/\1/' | tr '\n' ' ')
for w in $waits; do ((w >= 1000)) || fail "b: ferry waited ${w}ms after a 429 with Retry-After: 1"; done
le 1 "$S_SECS" || fail "b: the pull took ${S_SECS}s, less than the 1 s Retry-After"
fetched=$(jget "$IT_TMP/b.sum.json" 'd["blob_get_bytes"]')
record b "$(faults_of "$IT_TMP/b.sum.json")" "$n" "$fetched" "gaps after 429: ${gaps% }s; ferry waits: ${waits% }ms"

###############################################################################
log "=== c. 503 on the first 3 manifest GETs"
fault_proxy_rules "$MAIN_RULES" '[{"method": "GET", "path": "/manifests/", "status": 503, "times": 3}]'
pull_via_proxy c
expect_complete c
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/c.sum.json"
assert_eq "c: 503s sent" 3 "$(jget "$IT_TMP/c.sum.json" 'd["faults"].get("status_503", 0)')"
assert_eq "c: manifest GETs" 4 "$(jget "$IT_TMP/c.sum.json" 'd["manifest_gets"]')"
n=$(retries "$S_ERR")
((n >= 3)) || fail "c: $n retries logged, want >= 3"
gaps=$(jget "$IT_TMP/c.sum.json" '" ".join(str(g) for g in d["retry_gaps_s"])')
fetched=$(jget "$IT_TMP/c.sum.json" 'd["blob_get_bytes"]')
record c "$(faults_of "$IT_TMP/c.sum.json")" "$n" "$fetched" "gaps after 503: ${gaps% }s"

###############################################################################
log "=== d. a flipped byte in the first blob response, and one in the middle of a layer"
# Rule 1: the first blob response (in practice the small config, which is
# asked for first), byte 100.  Rule 2: layer 2 at byte 20,000,000 (after
# 20 MB were written to the partial).  Neither body may be committed; each
# blob is fetched once more, from zero.
L2=$(jget "$IT_TMP/big-manifest.json" 'd["layers"][1]["digest"]')
fault_proxy_rules "$MAIN_RULES" "[{\"method\": \"GET\", \"path\": \"/blobs/$L2\", \"flip_byte_at\": 20000000, \"times\": 1},
  {\"method\": \"GET\", \"path\": \"/blobs/sha256:\", \"flip_byte_at\": 100, \"times\": 1}]"
pull_via_proxy d
expect_complete d # includes: every blob under blobs/ hashes to its name
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/d.sum.json"
assert_eq "d: bytes flipped" 2 "$(jget "$IT_TMP/d.sum.json" 'd["faults"].get("flip_byte_at", 0)')"
bad=$(jget "$IT_TMP/d.sum.json" '" ".join(sorted(k for k, b in d["blobs"].items() if "flip_byte_at" in b["faults"]))')
[[ " $bad " == *" $L2 "* ]] || fail "d: layer 2 ($L2) was not corrupted: $bad"
refetched=0
for b in $bad; do
  assert_eq "d: GETs of the corrupted blob $b" 2 "$(jget "$IT_TMP/d.sum.json" "d['blobs']['$b']['gets']")"
  assert_eq "d: Range headers on GETs of $b (the refetch starts from zero)" "[]" \
    "$(jget "$IT_TMP/d.sum.json" "repr(d['blobs']['$b']['ranges'])")"
  grep -q "blob failed verification, fetching again digest=$b" "$S_ERR" ||
    fail "d: ferry did not report the verification failure of $b"
  refetched=$((refetched + $(jget "$IT_TMP/d.sum.json" "d['blobs']['$b']['bytes'] // 2")))
done
n=$(retries "$S_ERR")
fetched=$(jget "$IT_TMP/d.sum.json" 'd["blob_get_bytes"]')
record d "$(faults_of "$IT_TMP/d.sum.json")" "$n" "$fetched" "2 blobs refetched whole ($refetched B)"

###############################################################################
log "=== e. blob GETs redirected (307) to a CDN on another port"
fault_proxy_rules "$MAIN_RULES" "[{\"method\": \"GET\", \"path\": \"/blobs/sha256:\", \"redirect_to\": \"http://127.0.0.1:$CDN_PORT\"}]"
cdn_mark=$(fault_proxy_mark "$CDN_LOG")
pull_via_proxy e
expect_complete e
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/e.sum.json"
fault_proxy_summary "$CDN_LOG" "$cdn_mark" >"$IT_TMP/e.cdn.json"
main_gets=$(jget "$IT_TMP/e.sum.json" 'd["blob_gets"]')
assert_eq "e: blob GETs at the registry proxy" "$NBLOBS" "$main_gets"
assert_eq "e: redirects sent" "$NBLOBS" "$(jget "$IT_TMP/e.sum.json" 'd["faults"].get("redirect_to", 0)')"
assert_eq "e: registry-proxy blob GETs with Authorization" "$NBLOBS" "$(jget "$IT_TMP/e.sum.json" 'd["blob_gets_with_auth"]')"
assert_eq "e: CDN blob GETs" "$NBLOBS" "$(jget "$IT_TMP/e.cdn.json" 'd["blob_gets"]')"
assert_eq "e: CDN requests carrying Authorization" 0 "$(jget "$IT_TMP/e.cdn.json" 'd["auth_requests"]')"
assert_eq "e: CDN requests" "$NBLOBS" "$(jget "$IT_TMP/e.cdn.json" 'd["requests"]')"
n=$(retries "$S_ERR")
fetched=$(jget "$IT_TMP/e.cdn.json" 'd["blob_get_bytes"]')
record e "$(faults_of "$IT_TMP/e.sum.json")" "$n" "$fetched" "CDN: $NBLOBS GETs, 0 with Authorization"

log "=== e2. the CDN cuts every blob GET after 20 MB: the resume goes through a fresh redirect"
fault_proxy_rules "$CDN_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "drop_after_bytes": 20000000, "times": 100000}]'
cdn_mark=$(fault_proxy_mark "$CDN_LOG")
pull_via_proxy e2
fault_proxy_rules "$CDN_RULES" '[]'
expect_complete e2
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/e2.sum.json"
fault_proxy_summary "$CDN_LOG" "$cdn_mark" >"$IT_TMP/e2.cdn.json"
cuts=$(jget "$IT_TMP/e2.cdn.json" 'd["faults"].get("drop_after_bytes", 0)')
assert_eq "e2: CDN cuts (one per layer)" 3 "$cuts"
assert_eq "e2: ranged CDN GETs" "$cuts" "$(jget "$IT_TMP/e2.cdn.json" 'd["blob_gets_with_range"]')"
assert_eq "e2: CDN requests carrying Authorization" 0 "$(jget "$IT_TMP/e2.cdn.json" 'd["auth_requests"]')"
# ferry goes back to the registry for a fresh (possibly re-signed) redirect.
assert_eq "e2: blob GETs at the registry proxy" "$((NBLOBS + cuts))" "$(jget "$IT_TMP/e2.sum.json" 'd["blob_gets"]')"
assert_eq "e2: ... all with Authorization" "$((NBLOBS + cuts))" "$(jget "$IT_TMP/e2.sum.json" 'd["blob_gets_with_auth"]')"
fetched=$(jget "$IT_TMP/e2.cdn.json" 'd["blob_get_bytes"]')
le "$(ratio "$fetched" "$NEEDED")" 1.01 || fail "e2: fetched $fetched bytes for $NEEDED"
n=$(retries "$S_ERR")
record e2 "cdn: $(faults_of "$IT_TMP/e2.cdn.json")" "$n" "$fetched" "CDN ranged GETs=$cuts, 0 with Authorization"

###############################################################################
log "=== f. kill -9 mid-transfer, then a rerun resumes the partials"
fault_proxy_rules "$MAIN_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "rate_bytes_per_sec": 5000000}]'
S_STORE="$IT_TMP/store-f"
f_mark=$(fault_proxy_mark "$MAIN_LOG")
_spawn "$IT_TMP/f1.err" "$FERRY_BIN" pull "$REF" --store "$S_STORE"
wrapper=$_SPAWNED_PID
ferry_pid=""
for ((i = 0; i < 100; i++)); do
  ferry_pid=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null || true)
  ferry_pid=${ferry_pid// /}
  [[ -n "$ferry_pid" ]] && break
  sleep 0.05
done
[[ -n "$ferry_pid" ]] || fail "f: no ferry process under $wrapper"
# big_partial: some ingest/*.partial holds more than 5 MB.
big_partial() {
  local f
  for f in "$S_STORE"/ingest/*.partial; do
    [[ -f "$f" ]] && (($(stat -c %s "$f") > 5000000)) && return 0
  done
  return 1
}
wait_until 30 "a partial download over 5 MB" big_partial || { cat "$IT_TMP/f1.err" >&2; fail "f: no partial grew past 5 MB"; }
kill -KILL "$ferry_pid"
wait "$wrapper" 2>/dev/null || true # timeout exits as soon as its child is gone
declare -A partial_size=()
for p in "$S_STORE"/ingest/*.partial; do
  [[ -f "$p" ]] || continue
  h=$(basename "$p" .partial)
  partial_size[sha256:$h]=$(stat -c %s "$p")
done
((${#partial_size[@]} > 0)) || fail "f: no partials left after kill -9"
log "f: killed ferry (pid $ferry_pid); partials: $(for k in "${!partial_size[@]}"; do printf '%s=%s ' "${k:7:12}" "${partial_size[$k]}"; done)"
# The proxy logs a request when its response ends: the killed run's ones end
# at the next write into the dead sockets.
run1_logged() { (($(tail -n +"$((f_mark + 1))" "$MAIN_LOG" | grep -c '/blobs/sha256:') >= NBLOBS)); }
wait_until 15 "the proxy to log the killed run's blob transfers" run1_logged || fail "f: killed run's requests not logged"
fault_proxy_summary "$MAIN_LOG" "$f_mark" >"$IT_TMP/f1.sum.json"
fault_proxy_rules "$MAIN_RULES" '[]'
# Rerun into the same store (pull_via_proxy would pick a fresh one).
S_MARK=$(fault_proxy_mark "$MAIN_LOG") S_OUT="$IT_TMP/f.tar" S_ERR="$IT_TMP/f2.err" S_RC=0
t0=$(now)
timeout -k 5 150 "$FERRY_BIN" pull "$REF" --store "$S_STORE" -o "$S_OUT" >"$IT_TMP/f2.out" 2>"$S_ERR" || S_RC=$?
S_SECS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
expect_complete f
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/f2.sum.json"
for d in "${!partial_size[@]}"; do
  sz=${partial_size[$d]}
  if ((sz > 0)); then
    assert_eq "f: Range of the rerun's GET for $d" "['bytes=$sz-']" \
      "$(jget "$IT_TMP/f2.sum.json" "repr(d['blobs'].get('$d', {}).get('ranges'))")"
  fi
done
run1=$(jget "$IT_TMP/f1.sum.json" 'd["blob_get_bytes"]')
run2=$(jget "$IT_TMP/f2.sum.json" 'd["blob_get_bytes"]')
fetched=$((run1 + run2))
le "$(ratio "$fetched" "$NEEDED")" 1.05 || fail "f: $run1 + $run2 bytes over both runs for $NEEDED"
n=$(retries "$S_ERR")
record f "kill -9 + $(faults_of "$IT_TMP/f1.sum.json")" "$n" "$fetched" \
  "run1 $run1 B, rerun $run2 B, ranged rerun GETs=$(jget "$IT_TMP/f2.sum.json" 'd["blob_gets_with_range"]')"

###############################################################################
log "=== g. a manifest body over 4 MiB is refused"
# A valid schema2-typed JSON document padded with whitespace to 5 MB.
fault_proxy_rules "$MAIN_RULES" '[{"method": "GET", "path": "/manifests/", "status": 200, "content_type": "application/vnd.docker.distribution.manifest.v2+json", "body": "{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\"}", "body_pad_to": 5000000}]'
pull_via_proxy g
fault_proxy_rules "$MAIN_RULES" '[]'
((S_RC != 0)) || fail "g: ferry accepted a 5 MB manifest"
((S_RC != 124 && S_RC != 137)) || fail "g: ferry hung on a 5 MB manifest (exit $S_RC)"
grep -q -E 'byte limit|4194304' "$S_ERR" || { cat "$S_ERR" >&2; fail "g: ferry's error does not name the size limit"; }
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/g.sum.json"
assert_eq "g: blob GETs after an oversized manifest" 0 "$(jget "$IT_TMP/g.sum.json" 'd["blob_gets"]')"
assert_eq "g: manifest GETs (a size violation is not retried)" 1 "$(jget "$IT_TMP/g.sum.json" 'd["manifest_gets"]')"
[[ ! -e "$IT_TMP/g.tar" ]] || fail "g: an output was written for a refused image"
if imgtool oci-check "$S_STORE" "$REF" >/dev/null 2>&1; then fail "g: the refused image is in the store"; fi
n=$(retries "$S_ERR")
sent=$(tail -n +"$((S_MARK + 1))" "$MAIN_LOG" | grep -m1 '"path": "/v2/ns/big/manifests/' | imgtool json - 'd["bytes"]' 2>/dev/null || echo '?')
TABLE+=("$(printf '%-3s %-34s %7s %11s %11s %7s %6ss  %s' g "$(faults_of "$IT_TMP/g.sum.json")" "$n" 0 - - "$S_SECS" \
  "refused (exit $S_RC); proxy sent $sent of 5000000 manifest bytes")")
log "figures g: refused with exit $S_RC: $(grep -m1 -E 'byte limit|4194304' "$S_ERR")"

###############################################################################
log "=== h. a deadline hits mid-transfer; the rerun fetches only the missing bytes"
ferry_rc 2 pull "$REF" --store "$IT_TMP/store-h0" --deadline 5x
grep -q -- '--deadline: invalid duration "5x": unknown unit' "$IT_TMP/ferry.err" || fail "h: bad --deadline not named"
ferry_rc 2 pull "$REF" --store "$IT_TMP/store-h0" --max-attempts 0
fault_proxy_rules "$MAIN_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "rate_bytes_per_sec": 5000000}]'
pull_via_proxy h --deadline 3s --max-attempts 3
h1_secs=$S_SECS
fault_proxy_rules "$MAIN_RULES" '[]'
((S_RC == 1)) || { cat "$S_ERR" >&2; fail "h: a pull stopped by its deadline exited $S_RC, want 1"; }
grep -q "^ferry: pull: $REF: deadline of 3s exceeded$" "$S_ERR" || { cat "$S_ERR" >&2; fail "h: no one-line deadline reason"; }
le "$S_SECS" 8 || fail "h: the run took ${S_SECS}s with a 3 s deadline"
[[ ! -e "$S_OUT" ]] || fail "h: an output was written for an image that missed the deadline"
ferry_ok verify --store "$S_STORE"
h_partial=$(find "$S_STORE/ingest" -name '*.partial' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
((h_partial > 0)) || fail "h: no partial bytes kept after the deadline"
# The proxy logs a request when its response ends; wait for the stopped ones.
h_logged() { (($(tail -n +"$((S_MARK + 1))" "$MAIN_LOG" | grep -c '/blobs/sha256:') >= NBLOBS)); }
wait_until 15 "the proxy to log the stopped transfers" h_logged || fail "h: stopped transfers not logged"
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/h1.sum.json"
run1=$(jget "$IT_TMP/h1.sum.json" 'd["blob_get_bytes"]')
S_MARK=$(fault_proxy_mark "$MAIN_LOG") S_ERR="$IT_TMP/h2.err" S_RC=0
t0=$(now)
timeout -k 5 150 "$FERRY_BIN" pull "$REF" --store "$S_STORE" -o "$S_OUT" >"$IT_TMP/h2.out" 2>"$S_ERR" || S_RC=$?
S_SECS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
expect_complete h
fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/h2.sum.json"
run2=$(jget "$IT_TMP/h2.sum.json" 'd["blob_get_bytes"]')
fetched=$((run1 + run2))
le "$(ratio "$fetched" "$NEEDED")" 1.01 || fail "h: $run1 + $run2 bytes over both runs for $NEEDED"
((run1 >= h_partial)) || fail "h: the proxy sent $run1 bytes, less than the $h_partial kept"
record h "deadline 3s + 5 MB/s" "$(retries "$S_ERR")" "$fetched" \
  "run1 ${h1_secs}s $run1 B (kept $h_partial B), rerun $run2 B, ranged=$(jget "$IT_TMP/h2.sum.json" 'd["blob_gets_with_range"]')"

###############################################################################
log "=== figures"
log "$(printf '%-3s %-34s %7s %11s %11s %7s %7s  %s' sc faults retries fetched needed ratio time note)"
for row in "${TABLE[@]}"; do log "$row"; done
log "total run time so far $((SECONDS - T_START)) s"

###############################################################################
# KNOWN BUG (resume budget): every resumed request counts against the 5
# attempts of registry::Client's retry policy, even when the cut transfer made
# progress, so a blob that needs more than 5 connections fails although each
# one delivered megabytes (containerd only counts errors without progress).
# Set FERRY_IT_KNOWN_BUG_RESUME_BUDGET=0 to skip this scenario until fixed.
if [[ "${FERRY_IT_KNOWN_BUG_RESUME_BUDGET:-1}" == 1 ]]; then
  log "=== a2. every blob GET is cut after 4 MB: 8 connections per layer, each one making progress"
  fault_proxy_rules "$MAIN_RULES" '[{"method": "GET", "path": "/blobs/sha256:", "drop_after_bytes": 4000000, "times": 100000}]'
  pull_via_proxy a2
  fault_proxy_rules "$MAIN_RULES" '[]'
  fault_proxy_summary "$MAIN_LOG" "$S_MARK" >"$IT_TMP/a2.sum.json"
  fetched=$(jget "$IT_TMP/a2.sum.json" 'd["blob_get_bytes"]')
  log "a2: exit $S_RC, faults=[$(faults_of "$IT_TMP/a2.sum.json")] retries=$(retries "$S_ERR") fetched=$fetched needed=$NEEDED time=${S_SECS}s"
  if ((S_RC != 0)); then
    grep -m1 '^ferry: ' "$S_ERR" | cut -c1-300 >&2 || true
    fail "a2 (known bug, FERRY_IT_KNOWN_BUG_RESUME_BUDGET): a pull whose every connection made progress gave up after 5 attempts"
  fi
  expect_complete a2
  le "$(ratio "$fetched" "$NEEDED")" 1.01 || fail "a2: fetched $fetched bytes for $NEEDED"
else
  log "=== a2 skipped (FERRY_IT_KNOWN_BUG_RESUME_BUDGET=0)"
fi
log "total run time $((SECONDS - T_START)) s"
log "PASS resilience"
