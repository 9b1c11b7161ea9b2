#!/usr/bin/env bash
# End-to-end test of `ferry sync` against a Docker-Hub-like registry (token
# auth, anonymous pulls).
#
#   FERRY_BIN=build/ferry bash tests/integration/sync_test.sh
#
# CLI under test:
#   ferry sync --once -c FILE [--store DIR] [--export DIR]   one run, exit 0/1/2
#   ferry sync -c FILE [...]                                 daemon on `schedule:`
# State: <store>/state/last-pulls.json (HEAD-skip), <store>/state/last-run.json
# (the report), <store>/state/lock (one ferry per store), <store>/ingest/*.partial
# (resumable downloads).  Tarballs: <export>/<repo>_<tag>[_<os>-<arch>[-<variant>]].tar.
#
# Scenarios, in order, on one watchlist of layer-sharing images:
#   1. first sync: every blob fetched exactly once, tarballs readable, report
#   2. no-op re-sync: one manifest HEAD per image and nothing else; figures logged
#   3. a tag moves: only the new blobs, only that tarball rewritten
#   4. a missing image: exit 1, the others still current, the error reported
#   5. the store lock: a second ferry is refused, naming the holder's pid
#   6. daemon: SIGTERM mid-download keeps the partial, the next run resumes it
#      with a Range request; SIGHUP reloads the watchlist, a bad one is refused
#
# Registry facts relied on (distribution 2.8.2, filesystem storage): blobs are
# served directly (no redirect), a ranged GET is logged with status 206 and the
# bytes actually sent, and every request is logged with its User-Agent, so
# ferry's requests ("ferry/...") are told apart from skopeo's.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env

# sync_once WATCHLIST WANT_RC [ARGS...]: `ferry sync --once`, which must exit WANT_RC.
sync_once() {
  local watchlist=$1 want=$2 rc=0
  shift 2
  ferry sync --once -c "$watchlist" "$@" || rc=$?
  if [[ $rc != "$want" ]]; then
    cat "$IT_TMP/ferry.out" "$IT_TMP/ferry.err" >&2
    fail "ferry sync --once -c $watchlist exited $rc, want $want"
  fi
}

# Failures of the run report (last-run.json) are collected rather than fatal,
# so the transfer checks after them still run; the test fails at the end.
DEFERRED=()
expect_eq() {
  if [[ "$2" != "$3" ]]; then
    log "FAIL (continuing): $1: expected [$2], got [$3]"
    DEFERRED+=("$1: expected [$2], got [$3]")
  fi
}

# ferry_requests MARK: "METHOD PATH STATUS BYTES" for each request ferry made
# to the registry after access-log line MARK.
ferry_requests() {
  tail -n +"$(($1 + 1))" "$REG_LOG" | grep '"ferry/' |
    sed -E -n 's/.*"([A-Z]+) ([^ ]+) HTTP\/[0-9.]+" ([0-9]+) ([0-9-]+) .*/\1 \2 \3 \4/p' || true
}

# blob_gets MARK: the digest of each blob ferry fetched (200/206) after MARK,
# one line per GET.
blob_gets() {
  ferry_requests "$1" | awk '$1 == "GET" && $2 ~ /\/blobs\// && $3 ~ /^(200|206|307)$/ {
    sub(/.*\/blobs\//, "", $2); sub(/\?.*/, "", $2); print $2 }'
}

# expect_fetched_once MARK EXPECTED_DIGESTS: ferry fetched exactly the blobs
# EXPECTED_DIGESTS (newline-separated) after MARK, each exactly once.
expect_fetched_once() {
  local mark=$1 expected=$2 got dups
  got=$(blob_gets "$mark" | sort)
  dups=$(uniq -d <<<"$got")
  [[ -z "$dups" ]] || fail "blobs fetched more than once: $(uniq -c <<<"$got" | awk '$1 > 1' | tr '\n' ' ')"
  assert_eq "set of blobs fetched" "$(sort -u <<<"$expected" | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$got")"
}

# manifest_blobs: config + layer digests of the image manifest on stdin.
manifest_blobs() { imgtool json - '[d["config"]["digest"]] + [l["digest"] for l in d["layers"]]'; }

# image_manifests REPO:TAG: REPO@DIGEST of each image manifest ferry mirrors
# for the tag: the tag itself, or the linux/amd64 and linux/arm64 entries of
# an index.
image_manifests() {
  local ref=$1 repo=${1%%:*} kids
  kids=$(reg_raw_manifest "$ref" | imgtool json - \
    '[m["digest"] for m in d.get("manifests", []) if m["platform"]["os"] == "linux" and m["platform"]["architecture"] in ("amd64", "arm64")]')
  if [[ -z "$kids" ]]; then
    echo "$ref"
  else
    for k in $kids; do echo "$repo@$k"; done
  fi
}

# image_blobs REPO:TAG...: every config and layer digest ferry needs for them.
image_blobs() {
  local r m
  for r in "$@"; do
    for m in $(image_manifests "$r"); do reg_raw_manifest "$m" | manifest_blobs; done
  done | sort -u
}

# config_digest REPO:TAG|REPO@DIGEST: the image's config digest per the registry.
config_digest() { reg_raw_manifest "$1" | imgtool json - 'd["config"]["digest"]'; }

# tar_config TAR: the config digest of the (single) image in a docker-archive, per skopeo.
tar_config() { it_skopeo inspect --raw "docker-archive:$1" | imgtool json - 'd["config"]["digest"]'; }

# stamps DIR: "name inode mtime" of every tarball in DIR (a rewrite changes them).
stamps() { (cd "$1" && stat -c '%n %i %.9Y' -- *.tar); }

# last_run EXPR: evaluate EXPR on <store>/state/last-run.json (d is the document).
last_run() { imgtool json "$STORE/state/last-run.json" "$1"; }

# run_field REF FIELD: FIELD of REF's entry in last-run.json.
run_field() { last_run "[i['$2'] for i in d['images'] if i['reference'] == '$1']"; }

# token_mark / token_requests MARK: token-server requests ferry made after MARK
# (ferry pulls anonymously; skopeo, which the helpers here use, logs in).
token_mark() { wc -l <"$TOKEN_LOG" | tr -d ' '; }
token_requests() { tail -n +"$(($1 + 1))" "$TOKEN_LOG" | grep -c ' user=anonymous ' || true; }

now_ns() { date +%s%N; }

# ferry's log lines are "LEVEL: message", with a timestamp in front when
# stderr is not a terminal: log_lines LEVEL FILE prints the LEVEL lines.
log_lines() { grep -E "^([0-9T:.+-]+ )?$1: " "$2" || true; }

###############################################################################
log "=== setup: token registry (anonymous pulls), layer-sharing images"
start_registry token
push_shared_pair lab/a:1 lab/b:1 # two images on the same two base layers
push_multiarch lab/multi:1       # OCI index: linux/amd64 + linux/arm64/v8
push_schema2 lab/app:1
IMAGES=(lab/a:1 lab/b:1 lab/multi:1 lab/app:1)

STORE="$IT_TMP/store"
EXPORT="$IT_TMP/export"
WATCH="$IT_TMP/watchlist.yaml"
write_watchlist() { # [EXTRA_IMAGE...]
  {
    echo "store: $STORE"
    echo "export: $EXPORT"
    echo "concurrency: 4"
    echo "platforms: [linux/amd64, linux/arm64]"
    echo "registries:"
    echo "  \"$REG\": { insecure: true }"
    echo "images:"
    local i
    for i in "${IMAGES[@]}" "$@"; do echo "  - $REG/$i"; done
  } >"$WATCH"
}
write_watchlist

# Export names: <registry>_<repo>_<tag>[_<os>-<arch>[-<variant>]].tar; the
# arm64 entry of mkimage's index carries variant v8.
regkey=${REG//[^A-Za-z0-9._-]/_}
tar_of() { echo "$EXPORT/${regkey}_${1//[^A-Za-z0-9._-]/_}${2:-}.tar"; } # REPO:TAG [_PLATFORM]
# platform_manifest REPO:TAG ARCH: REPO@DIGEST of ARCH's manifest in an index.
platform_manifest() {
  echo "${1%%:*}@$(reg_raw_manifest "$1" | imgtool json - \
    "[m['digest'] for m in d['manifests'] if m['platform']['architecture'] == '$2'][0]")"
}
# Each expected tarball -> the image manifest it must hold.
declare -A TAR_IMAGE=(
  ["$(tar_of lab/a:1)"]=lab/a:1
  ["$(tar_of lab/b:1)"]=lab/b:1
  ["$(tar_of lab/app:1)"]=lab/app:1
  ["$(tar_of lab/multi:1 _linux-amd64)"]=$(platform_manifest lab/multi:1 amd64)
  ["$(tar_of lab/multi:1 _linux-arm64-v8)"]=$(platform_manifest lab/multi:1 arm64)
)
ALL_BLOBS=$(image_blobs "${IMAGES[@]}")
# a+b: 2 shared bases + 2 tops + 2 configs; multi: 2 platforms x (2 layers +
# config); app: 2 layers + config.
assert_eq "distinct blobs in the watchlist" 15 "$(wc -l <<<"$ALL_BLOBS")"

###############################################################################
log "=== 1. first sync: every needed blob exactly once"
mark=$(reg_log_mark)
sync_once "$WATCH" 0
expect_fetched_once "$mark" "$ALL_BLOBS"

assert_eq "exported tarballs" "$(printf '%s\n' "${!TAR_IMAGE[@]}" | xargs -n1 basename | sort | tr '\n' ' ')" \
  "$(cd "$EXPORT" && printf '%s\n' *.tar | sort | tr '\n' ' ')"
for tar in "${!TAR_IMAGE[@]}"; do
  it_skopeo inspect "docker-archive:$tar" >/dev/null || fail "skopeo cannot inspect $tar"
  assert_eq "config in $(basename "$tar")" "$(config_digest "${TAR_IMAGE[$tar]}")" "$(tar_config "$tar")"
done

assert_eq "last-run.json references" "$(printf "$REG/%s\n" "${IMAGES[@]}")" "$(last_run '[i["reference"] for i in d["images"]]')"
assert_eq "last-run.json failed" 0 "$(last_run 'd["failed"]')"
for i in "${IMAGES[@]}"; do
  assert_eq "$i: changed" true "$(run_field "$REG/$i" changed)"
  assert_eq "$i: error" "" "$(run_field "$REG/$i" error)"
  assert_eq "$i: exported" true "$(run_field "$REG/$i" exported)"
  # run_report.h: "top-level manifest digest", i.e. what the tag points at
  # (the index, for lab/multi).
  expect_eq "$i: digest in last-run.json" "$(reg_digest "$i")" "$(run_field "$REG/$i" digest)"
done

###############################################################################
log "=== 2. no-op re-sync: one manifest HEAD per image, nothing else"
before=$(stamps "$EXPORT")
mark=$(reg_log_mark)
tmark=$(token_mark)
t0=$(now_ns)
sync_once "$WATCH" 0
t1=$(now_ns)
# Figures first: the checks below run skopeo against the same registry.
reg_reqs=$(ferry_requests "$mark" | wc -l)
reg_kinds=$(ferry_requests "$mark" | awk '{print $1, $3}' | sort | uniq -c | awk '{printf "%s%s %s x%s", s, $2, $3, $1; s=", "}')
tok_reqs=$(token_requests "$tmark")
assert_eq "blob GETs in a no-op run" 0 "$(ferry_requests "$mark" | grep -c -E '^GET /v2/[^ ]+/blobs/' || true)"
assert_eq "manifest GETs in a no-op run" 0 "$(ferry_requests "$mark" | grep -c -E '^GET /v2/[^ ]+/manifests/' || true)"
for i in "${IMAGES[@]}"; do
  assert_eq "manifest HEADs for $i" 1 "$(ferry_requests "$mark" | grep -c -E "^HEAD /v2/${i%%:*}/manifests/${i#*:} " || true)"
done
assert_eq "tarballs after a no-op run (name inode mtime)" "$before" "$(stamps "$EXPORT")"
for i in "${IMAGES[@]}"; do
  assert_eq "$i: changed in a no-op run" false "$(run_field "$REG/$i" changed)"
  assert_eq "$i: exported in a no-op run" false "$(run_field "$REG/$i" exported)"
  expect_eq "$i: digest in last-run.json (no-op run)" "$(reg_digest "$i")" "$(run_field "$REG/$i" digest)"
done
assert_eq "bytes fetched in a no-op run" 0 "$(last_run 'd["bytes"]')"
NOOP_FIGURES="$(last_run 'd["requests"]') requests by ferry's own count ($reg_reqs in the registry's access log: \
$reg_kinds; $tok_reqs to the token server); \
$(awk -v ns=$((t1 - t0)) 'BEGIN{printf "%.3f", ns / 1e9}') s wall for the whole process, \
$(last_run '"%.3f" % d["seconds"]') s inside the run, for ${#IMAGES[@]} images"
log "no-op re-sync: $NOOP_FIGURES"

###############################################################################
log "=== 3. a tag moves: only the new blobs, only that tarball"
# New top layer on the same two base layers.
push_image v2s2 lab/a:1 --layer shared-base-1:200000 --layer shared-base-2:100000 --layer lab-a-top-v2:20000
NEW_BLOBS=$(comm -13 <(echo "$ALL_BLOBS") <(image_blobs lab/a:1))
assert_eq "new blobs of the moved tag (top layer + config)" 2 "$(wc -l <<<"$NEW_BLOBS")"
new_config=$(config_digest lab/a:1)
grep -q -x "$new_config" <<<"$NEW_BLOBS" || fail "new config $new_config is not among the new blobs"
a_tar=$(tar_of lab/a:1)
before=$(stamps "$EXPORT")
mark=$(reg_log_mark)
sync_once "$WATCH" 0
expect_fetched_once "$mark" "$NEW_BLOBS"
assert_eq "tarballs other than lab/a's (name inode mtime)" "$(grep -v "^$(basename "$a_tar") " <<<"$before")" \
  "$(stamps "$EXPORT" | grep -v "^$(basename "$a_tar") ")"
[[ "$(grep "^$(basename "$a_tar") " <<<"$before")" != "$(stamps "$EXPORT" | grep "^$(basename "$a_tar") ")" ]] ||
  fail "$a_tar was not rewritten"
assert_eq "config in the refreshed $(basename "$a_tar")" "$new_config" "$(tar_config "$a_tar")"
assert_eq "lab/a:1: changed after the move" true "$(run_field "$REG/lab/a:1" changed)"
assert_eq "lab/a:1: exported after the move" true "$(run_field "$REG/lab/a:1" exported)"
expect_eq "lab/a:1: digest after the move" "$(reg_digest lab/a:1)" "$(run_field "$REG/lab/a:1" digest)"
for i in lab/b:1 lab/multi:1 lab/app:1; do
  assert_eq "$i: changed when lab/a moved" false "$(run_field "$REG/$i" changed)"
done
ALL_BLOBS=$(sort -u <<<"$ALL_BLOBS"$'\n'"$NEW_BLOBS")

###############################################################################
log "=== 4. a missing image: exit 1, the others still mirrored"
write_watchlist lab/nope:1
before=$(stamps "$EXPORT")
mark=$(reg_log_mark)
sync_once "$WATCH" 1 --metrics "$IT_TMP/metrics.prom"
assert_eq "last-run.json failed" 1 "$(last_run 'd["failed"]')"
[[ -n "$(run_field "$REG/lab/nope:1" error)" ]] || fail "last-run.json has no error for lab/nope:1"
log "error recorded for lab/nope:1: $(run_field "$REG/lab/nope:1" error)"
for i in "${IMAGES[@]}"; do
  assert_eq "$i: error beside a missing image" "" "$(run_field "$REG/$i" error)"
  assert_eq "$i: changed beside a missing image" false "$(run_field "$REG/$i" changed)"
done
grep -q -E "^ferry: .*$REG/lab/nope:1" "$IT_TMP/ferry.err" ||
  fail "stderr names no error for $REG/lab/nope:1: $(cat "$IT_TMP/ferry.err")"
grep -q -E "^$REG/lab/nope:1 +failed " "$IT_TMP/ferry.out" || fail "summary does not show lab/nope:1 failed: $(cat "$IT_TMP/ferry.out")"
for i in "${IMAGES[@]}"; do
  grep -q -E "^$REG/$i +current " "$IT_TMP/ferry.out" || fail "summary does not show $i current: $(cat "$IT_TMP/ferry.out")"
done
assert_eq "tarballs beside a missing image (name inode mtime)" "$before" "$(stamps "$EXPORT")"
assert_eq "blob GETs beside a missing image" 0 "$(blob_gets "$mark" | wc -l)"
assert_eq "metrics: images by result" $'ferry_sync_images{result="ok"} 4\nferry_sync_images{result="failed"} 1' \
  "$(grep '^ferry_sync_images{' "$IT_TMP/metrics.prom")"
write_watchlist

###############################################################################
log "=== 5. store lock: another holder makes ferry refuse, naming its pid"
LOCK="$STORE/state/lock"
# A holder like a running ferry: flock on the lock file, its pid written inside.
spawn_bg "$IT_TMP/holder.log" bash -c 'exec 9>>"$1"; flock -x 9; echo $$ >"$1"; exec sleep 600' holder "$LOCK"
holder_pid=$SPAWNED_CHILD
wait_until 10 "the lock holder" grep -q -x "$holder_pid" "$LOCK" || fail "the lock holder did not start"
mark=$(reg_log_mark)
rc=0
ferry sync --once -c "$WATCH" || rc=$?
((rc != 0)) || fail "ferry sync succeeded on a locked store"
assert_eq "stderr lines when the store is locked" 1 "$(wc -l <"$IT_TMP/ferry.err")"
grep -q -E "^ferry: .*in use.*\(pid $holder_pid\)$" "$IT_TMP/ferry.err" ||
  fail "lock message does not say 'in use' with the holder's pid $holder_pid: $(cat "$IT_TMP/ferry.err")"
log "refused (exit $rc): $(cat "$IT_TMP/ferry.err")"
assert_eq "requests made on a locked store" 0 "$(ferry_requests "$mark" | wc -l)"
kill -TERM "$holder_pid"
wait_until 10 "the lock holder to exit" pid_gone "$SPAWNED_PID" || fail "lock holder did not exit"
sync_once "$WATCH" 0 # the lock is free again

###############################################################################
log "=== 6a. daemon: SIGTERM during a download keeps the partial; the next run resumes it"
push_image v2s2 lab/big:1 --layer bigseed:150000000
big_layer=$(reg_raw_manifest lab/big:1 | imgtool json - 'd["layers"][0]["digest"]')
big_size=$(reg_raw_manifest lab/big:1 | imgtool json - 'd["layers"][0]["size"]')
# The registry must hold the whole layer, or a failed resume below would blame ferry
# for the registry's short file (a full disk under the registry cuts it silently).
reg_blob="$REG_DIR/storage/docker/registry/v2/blobs/sha256/${big_layer:7:2}/${big_layer#sha256:}/data"
assert_eq "bytes of the big layer in the registry's storage" "$big_size" "$(stat -c %s "$reg_blob" 2>&1)"
BSTORE="$IT_TMP/store-big"
BEXPORT="$IT_TMP/export-big"
BWATCH="$IT_TMP/big.yaml"
printf 'schedule: "every 2s"\nimages:\n  - %s/lab/big:1\n' "$REG" >"$BWATCH"
partial="$BSTORE/ingest/${big_layer#sha256:}.partial"

# One stream per blob (--segments 1): this checks the single-stream resume; a
# segmented download's resume is large_test's.
spawn_bg "$IT_TMP/daemon-big.log" "$FERRY_BIN" sync -c "$BWATCH" --store "$BSTORE" --export "$BEXPORT" --segments 1
daemon=$SPAWNED_PID daemon_pid=$SPAWNED_CHILD
# Poll fast: on loopback the 150 MB layer takes about a second.
end=$((SECONDS + 30))
until [[ -s "$partial" ]]; do
  if [[ -e "$BSTORE/blobs/sha256/${big_layer#sha256:}" ]]; then
    fail "the big layer was fully downloaded before a partial was seen: loopback too fast for this check"
  fi
  pid_gone "$daemon" && { cat "$IT_TMP/daemon-big.log" >&2; fail "daemon exited"; }
  ((SECONDS < end)) || { cat "$IT_TMP/daemon-big.log" >&2; fail "no partial download of the big layer appeared"; }
  sleep 0.02
done
# Freeze the daemon mid-transfer, so the checks below do not race the download.
kill -STOP "$daemon_pid"
log "partial seen: $(stat -c %s "$partial") of $big_size bytes; daemon pid $daemon_pid stopped mid-run"

log "--- a second ferry on the daemon's store is refused while the run holds the lock"
rc=0
ferry sync --once -c "$BWATCH" --store "$BSTORE" --export "$BEXPORT" || rc=$?
((rc != 0)) || fail "a second ferry ran on a store held by the daemon"
assert_eq "stderr lines of the refused second ferry" 1 "$(wc -l <"$IT_TMP/ferry.err")"
grep -q -E "^ferry: .*in use.*\(pid $daemon_pid\)$" "$IT_TMP/ferry.err" ||
  fail "lock message does not name the daemon (pid $daemon_pid): $(cat "$IT_TMP/ferry.err")"
[[ -s "$partial" ]] || fail "the refused second ferry touched the daemon's partial"

log "--- SIGTERM: exit 0 within 5 s, partial kept"
kill -TERM "$daemon_pid"
kill -CONT "$daemon_pid"
t0=$(now_ns)
wait_until 5 "the daemon to exit after SIGTERM" pid_gone "$daemon" || fail "daemon still running 5 s after SIGTERM"
rc=0
wait "$daemon" || rc=$?
log "daemon exited $rc after $(awk -v ns=$(($(now_ns) - t0)) 'BEGIN{printf "%.2f", ns / 1e9}') s"
assert_eq "daemon exit status after SIGTERM" 0 "$rc"
[[ -s "$partial" ]] || fail "SIGTERM lost the partial download ($(ls -la "$BSTORE/ingest" 2>&1))"
kept=$(stat -c %s "$partial")
((kept < big_size)) || fail "partial holds $kept bytes, not less than the layer's $big_size"
log "partial kept: $kept of $big_size bytes"
grep -q -i 'partial downloads are kept' "$IT_TMP/daemon-big.log" || fail "daemon log does not mention the kept partials"

log "--- the next run resumes with a Range request"
mark=$(reg_log_mark)
rc=0
ferry sync --once -c "$BWATCH" --store "$BSTORE" --export "$BEXPORT" --segments 1 || rc=$?
if ((rc != 0)); then
  cat "$IT_TMP/ferry.out" "$IT_TMP/ferry.err" >&2
  log "registry file: $(stat -c %s "$reg_blob") bytes (layer $big_size); partial: $(stat -c %s "$partial" 2>&1); disk: $(df -h "$IT_TMP" | tail -1)"
  tail -n +"$((mark + 1))" "$REG_LOG" | grep -F "${big_layer#sha256:}" | tail -n 8 >&2 || true
  fail "the resuming ferry sync --once exited $rc, want 0"
fi
gets=$(ferry_requests "$mark" | awk -v p="/blobs/$big_layer" '$1 == "GET" && index($2, p) && $3 ~ /^(200|206)$/')
assert_eq "GETs of the big layer when resuming" 1 "$(wc -l <<<"$gets")"
read -r _ _ status sent <<<"$gets"
assert_eq "status of the resuming GET (206 = ranged)" 206 "$status"
assert_eq "bytes sent for the resuming GET" $((big_size - kept)) "$sent"
run_bytes=$(imgtool json "$BSTORE/state/last-run.json" 'd["bytes"]')
((run_bytes < big_size)) || fail "the resuming run fetched $run_bytes bytes, not less than the layer's $big_size"
log "resumed: 206 with $sent bytes; last-run.json bytes=$run_bytes (layer $big_size)"
assert_eq "big layer in the store" "${big_layer#sha256:}" \
  "$(sha256sum "$BSTORE/blobs/sha256/${big_layer#sha256:}" | cut -d' ' -f1)"
[[ -z "$(ls -A "$BSTORE/ingest")" ]] || fail "ingest/ not empty after the resumed run: $(ls "$BSTORE/ingest")"
assert_eq "config in the big tarball" "$(config_digest lab/big:1)" "$(tar_config "$BEXPORT/${regkey}_lab_big_1.tar")"

log "--- a partial holding the whole blob (stopped before its commit) is committed without a GET"
# A Range past the end draws a 416 that this registry (Go 1.19) sends with the blob's
# length and a short body: asking for it would fail the run.
WSTORE="$IT_TMP/store-whole"
big_config=$(config_digest lab/big:1)
ferry_ok pull --store "$WSTORE" "$REG/lab/app:1" # the store exists, with its ingest/
cp "$BSTORE/blobs/sha256/${big_config#sha256:}" "$WSTORE/ingest/${big_config#sha256:}.partial"
mark=$(reg_log_mark)
ferry_ok pull --store "$WSTORE" "$REG/lab/big:1"
assert_eq "GETs of the config whose partial was whole" 0 "$(count_blob_gets lab/big "$big_config" "$mark")"
assert_eq "config committed from its whole partial" "${big_config#sha256:}" \
  "$(sha256sum "$WSTORE/blobs/sha256/${big_config#sha256:}" | cut -d' ' -f1)"

###############################################################################
log "=== 6b. daemon: SIGHUP reloads the watchlist; a broken one is refused and the old one kept"
push_schema2 lab/extra:1
HSTORE="$IT_TMP/store-hup"
HEXPORT="$IT_TMP/export-hup"
HWATCH="$IT_TMP/hup.yaml"
printf 'schedule: "every 2s"\nimages:\n  - %s/lab/app:1\n' "$REG" >"$HWATCH"
spawn_bg "$IT_TMP/daemon-hup.log" "$FERRY_BIN" sync -c "$HWATCH" --store "$HSTORE" --export "$HEXPORT"
daemon=$SPAWNED_PID daemon_pid=$SPAWNED_CHILD
hup_last_run() { imgtool json "$HSTORE/state/last-run.json" "$1"; }
# The SIGHUP handler is installed when the daemon starts; wait for its first run.
wait_until 30 "the daemon's first run" test -s "$HSTORE/state/last-run.json" ||
  { cat "$IT_TMP/daemon-hup.log" >&2; fail "no run from the daemon"; }
grep -q 'info: daemon started' <(log_lines info "$IT_TMP/daemon-hup.log") || fail "daemon log lacks 'daemon started'"

log "--- broken watchlist + SIGHUP: error with file:line:col, daemon keeps running"
cat >"$HWATCH" <<EOF
schedule: "every 2s"
images:
  - $REG/lab/app:1
  - name: $REG/lab/extra: 1
EOF
bad_line=$(grep -n -F -- "- name: $REG/lab/extra: 1" "$HWATCH" | cut -d: -f1)
bad_text=$(sed -n "${bad_line}p" "$HWATCH")
bad_prefix=${bad_text%": 1"}
bad_col=$((${#bad_prefix} + 1)) # the ': ' that makes "lab/extra: 1" a second mapping value
kill -HUP "$daemon_pid"
reload_error() { log_lines error "$IT_TMP/daemon-hup.log" | grep 'reload'; }
wait_until 10 "the reload error in the daemon log" reload_error ||
  { cat "$IT_TMP/daemon-hup.log" >&2; fail "no reload error logged"; }
grep -q -F "$HWATCH:$bad_line:$bad_col:" <(reload_error) ||
  fail "reload error lacks $HWATCH:$bad_line:$bad_col: $(reload_error)"
log "logged: $(reload_error)"
# Still alive, and still running the old watchlist on schedule.
finished=$(hup_last_run 'd["finished"]')
ran_since() { (($(hup_last_run 'd["finished"]') > $1)); } # a run finished after unix time $1
wait_until 15 "a scheduled run after the refused reload" ran_since "$finished" ||
  fail "no scheduled run after the refused reload"
pid_gone "$daemon" && fail "daemon died after a broken reload"
assert_eq "images after the refused reload" "$REG/lab/app:1" "$(hup_last_run '[i["reference"] for i in d["images"]]')"

log "--- good watchlist with an extra image + SIGHUP: the next run mirrors it"
printf 'schedule: "every 2s"\nimages:\n  - %s/lab/app:1\n  - %s/lab/extra:1\n' "$REG" "$REG" >"$HWATCH"
kill -HUP "$daemon_pid"
wait_until 10 "the reload in the daemon log" grep -q 'watchlist reloaded images=2' "$IT_TMP/daemon-hup.log" ||
  { cat "$IT_TMP/daemon-hup.log" >&2; fail "no reload logged"; }
extra_mirrored() {
  [[ "$(hup_last_run "[i['error'] for i in d['images'] if i['reference'] == '$REG/lab/extra:1']")" == "" ]] &&
    [[ -n "$(hup_last_run "[i['reference'] for i in d['images'] if i['reference'] == '$REG/lab/extra:1']")" ]]
}
wait_until 20 "a run mirroring lab/extra:1" extra_mirrored || { cat "$IT_TMP/daemon-hup.log" >&2; fail "lab/extra:1 not mirrored"; }
assert_eq "config in the extra image's tarball" "$(config_digest lab/extra:1)" \
  "$(tar_config "$HEXPORT/${regkey}_lab_extra_1.tar")"
kill -TERM "$daemon_pid"
wait_until 5 "the daemon to exit after SIGTERM" pid_gone "$daemon" || fail "daemon still running 5 s after SIGTERM"
rc=0
wait "$daemon" || rc=$?
assert_eq "daemon exit status after SIGTERM (idle)" 0 "$rc"

###############################################################################
log "no-op re-sync figures: $NOOP_FIGURES"
if ((${#DEFERRED[@]} > 0)); then
  printf '  %s\n' "${DEFERRED[@]}" >&2
  fail "${#DEFERRED[@]} run-report check(s) failed (see above)"
fi
log "PASS"
