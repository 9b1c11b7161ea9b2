#!/usr/bin/env bash
# End-to-end test of `ferry push` and registry-to-registry sync (`mirror_to`)
# between two real registries on 127.0.0.1.
#
#   FERRY_BIN=build/ferry bash tests/integration/push_test.sh
#
# Registry A: token auth (the source). Registry B: htpasswd basic auth (the
# destination; ferry authenticates with --username/--password-stdin or the
# watchlist's registries: credentials).
#
# Scenarios, in order:
#   1. A -> `ferry sync --once` -> store -> `ferry push --all --to B/mirror`:
#      skopeo reads the same manifest digests from B as from A for a Docker
#      schema2 image, an OCI image, a multi-arch OCI index and two images sharing
#      two layers; the shared layers are mounted (B's log shows the mount POST
#      answered 201), each blob is uploaded once; the receipt names them
#   2. the same push again uploads nothing: no PUT/PATCH/POST in B's log
#   3. a push through a fault proxy in front of B, chunked (1 MiB) and stalled on
#      its second PATCH, is killed mid-upload; the rerun uploads only what was
#      missing (every blob ends up PUT exactly once)
#   4. a watchlist with `mirror_to: {registry: B, prefix: synced}`: `ferry sync
#      --once` mirrors A to B with the same digests; a second run costs one HEAD
#      per image at B and nothing else
#   5. a podman-built manifest list (shared real-tool images, realworld_lib.sh)
#      pushed to A with `podman manifest push --all` goes through ferry to B with
#      its digest; skopeo picks its arm64 image there
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env

# ---- registry A: the source -------------------------------------------------
start_registry token
A=$REG
push_image v2s2 ns/v2:1
D_V2=$PUSHED_DIGEST
push_image oci ns/oci:1
D_OCI=$PUSHED_DIGEST
push_image index ns/multi:1
D_MULTI=$PUSHED_DIGEST
push_shared_pair ns/s1:1 ns/s2:1 oci
D_S2=$PUSHED_DIGEST
D_S1=$(reg_digest ns/s1:1)
push_image oci ns/big:1 --layer big-layer:3000000 --layer big-top:40000 --layer big-extra:60000
D_BIG=$PUSHED_DIGEST

# ---- registry B: the destination --------------------------------------------
start_registry basic
B=$REG
B_LOG=$REG_LOG

export A_PASS=$IT_PASS B_PASS=$IT_PASS
STORE="$IT_TMP/store"
cat >"$IT_TMP/pull.yaml" <<YAML
store: $STORE
registries:
  $A: { credentials: { username: $IT_USER, password_env: A_PASS } }
images:
  - $A/ns/v2:1
  - $A/ns/oci:1
  - name: $A/ns/multi
    tags: ["1"]
    all_platforms: true
  - $A/ns/s1:1
  - $A/ns/s2:1
  - $A/ns/big:1
YAML
ferry_ok sync --once -c "$IT_TMP/pull.yaml"
log "store filled from A"

# b_digest REF: manifest digest of REF in B, as skopeo reads it.
b_digest() { reg_digest "$1"; }

# ---- 1. push everything -------------------------------------------------------
mark=$(reg_log_mark)
ferry_ok push --store "$STORE" --all --to "$B/mirror" --username "$IT_USER" --password-stdin \
  --receipt "$IT_TMP/receipt.json" <<<"$IT_PASS"
cat "$IT_TMP/ferry.out" >&2
assert_eq "v2s2 digest on B" "$D_V2" "$(b_digest "mirror/ns/v2:1")"
assert_eq "OCI digest on B" "$D_OCI" "$(b_digest "mirror/ns/oci:1")"
assert_eq "index digest on B" "$D_MULTI" "$(b_digest "mirror/ns/multi:1")"
assert_eq "shared pair 1 digest on B" "$D_S1" "$(b_digest "mirror/ns/s1:1")"
assert_eq "shared pair 2 digest on B" "$D_S2" "$(b_digest "mirror/ns/s2:1")"
assert_eq "big image digest on B" "$D_BIG" "$(b_digest "mirror/ns/big:1")"
# The index's platform manifests are in B too, by digest.
reg_raw_manifest "mirror/ns/multi:1" >"$IT_TMP/multi.json"
children=$(imgtool json "$IT_TMP/multi.json" '" ".join(m["digest"] for m in d["manifests"])')
[[ -n "$children" ]] || fail "no children in the index on B"
for child in $children; do
  reg_raw_manifest "mirror/ns/multi@$child" >/dev/null || fail "child $child of the index is missing in B"
done
mounts=$(tail -n +"$((mark + 1))" "$B_LOG" |
  grep -E -c '"POST /v2/mirror/ns/s[12]/blobs/uploads/\?mount=sha256:[0-9a-f]{64}&from=mirror/ns/s[12] HTTP/[0-9.]+" 201' || true)
assert_eq "shared layers mounted, not uploaded again" 2 "$mounts"
# No blob was uploaded twice into the same repository.
dups=$(tail -n +"$((mark + 1))" "$B_LOG" | grep -E -o '"PUT /v2/[^ ]+/blobs/uploads/[^ ]*digest=sha256:[0-9a-f]{64}' |
  sed -E 's#/blobs/uploads/[^ ]*digest=#@#' | sort | uniq -d | wc -l)
assert_eq "blob PUTs repeated for one repository" 0 "$dups"
for d in "$D_V2" "$D_OCI" "$D_MULTI" "$D_BIG"; do
  grep -q "$d" "$IT_TMP/receipt.json" || fail "receipt lacks manifest $d"
done
log "push 1: digests equal A's, $mounts mounts"

# ---- 2. a second push sends nothing ---------------------------------------------
mark=$(reg_log_mark)
ferry_ok push --store "$STORE" --all --to "$B/mirror" --username "$IT_USER" --password-stdin <<<"$IT_PASS"
writes=0
for m in PUT PATCH POST; do writes=$((writes + $(count_requests "$m" /v2/ "$mark"))); done
assert_eq "uploads on a second push" 0 "$writes"
heads=$(count_requests HEAD /v2/mirror/ "$mark")
assert_eq "manifest HEADs on a second push (one per image)" 6 "$heads"
log "push 2: nothing uploaded, $heads HEADs"

# ---- 3. an interrupted push resumes with what is missing ------------------------
fault_proxy_start cut "http://$B"
# The second PATCH of the chunked big layer never gets an answer.
fault_proxy_rules "$PROXY_RULES" '[{"method": "PATCH", "after": 1, "latency_ms": 600000}]'
mark=$(reg_log_mark)
# Credentials from the docker config this time (ferry_env's private DOCKER_CONFIG).
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$PROXY_ADDR" "$(printf '%s:%s' "$IT_USER" "$IT_PASS" | base64)" \
  >"$DOCKER_CONFIG/config.json"
spawn_bg "$IT_TMP/cut-run.log" "$FERRY_BIN" push --store "$STORE" --chunk-size 1 --all --to "$PROXY_ADDR/cut"
wait_until 60 "a first PATCH through the proxy" \
  bash -c "tail -n +$((mark + 1)) '$B_LOG' | grep -q '\"PATCH /v2/cut/'"
sleep 2
first_puts=$(tail -n +"$((mark + 1))" "$B_LOG" | grep -E -c '"PUT /v2/cut/[^ ]+/blobs/uploads/[^ ]+ HTTP/[0-9.]+" 201' || true)
kill -9 "$SPAWNED_CHILD" 2>/dev/null || true
wait_until 20 "ferry killed" pid_gone "$SPAWNED_CHILD"
(( first_puts > 0 )) || fail "the interrupted push uploaded nothing before the kill"
fault_proxy_rules "$PROXY_RULES" '[]'
mark2=$(reg_log_mark)
ferry_ok push --store "$STORE" --chunk-size 1 --all --to "$PROXY_ADDR/cut"
second_puts=$(tail -n +"$((mark2 + 1))" "$B_LOG" | grep -E -c '"PUT /v2/cut/[^ ]+/blobs/uploads/[^ ]+ HTTP/[0-9.]+" 201' || true)
dups=$(tail -n +"$((mark + 1))" "$B_LOG" | grep -E '" 201 ' | grep -E -o '"PUT /v2/cut/[^ ]+/blobs/uploads/[^ ]*digest=sha256:[0-9a-f]{64}' |
  sed -E 's#/blobs/uploads/[^ ]*digest=#@#' | sort | uniq -d | wc -l)
assert_eq "blobs uploaded twice across the interrupted push and its rerun" 0 "$dups"
(( second_puts > 0 )) || fail "the rerun uploaded nothing (the big layer was cut)"
assert_eq "big image digest on B after the rerun" "$D_BIG" "$(b_digest "cut/ns/big:1")"
assert_eq "index digest on B after the rerun" "$D_MULTI" "$(b_digest "cut/ns/multi:1")"
log "interrupted push: $first_puts blobs before the kill, $second_puts after; none twice"

# ---- errors: usage (2), and a refused push (1) with one clear line ------------------
ferry_rc 2 push --store "$STORE" --all
grep -q "needs --to" "$IT_TMP/ferry.err" || fail "usage error not explained: $(cat "$IT_TMP/ferry.err")"
ferry_rc 2 push --store "$STORE" "$A/ns/nothere:1" --to "$B/x"
grep -q "is not in the store" "$IT_TMP/ferry.err" || fail "unknown reference not named: $(cat "$IT_TMP/ferry.err")"
ferry_rc 2 push --store "$STORE" "$A/ns/v2:1" mirror/ns/v2:1
grep -q "must start with a registry host" "$IT_TMP/ferry.err" || fail "bad destination not explained"
mark=$(reg_log_mark)
ferry_rc 1 push --store "$STORE" "$A/ns/v2:1" --to "$B/anon"   # no credentials for B
grep -q "credentials" "$IT_TMP/ferry.err" || fail "refused push does not mention credentials: $(cat "$IT_TMP/ferry.err")"
assert_eq "uploads accepted without credentials" 0 "$(count_requests PUT /v2/anon/ "$mark")"
log "errors: usage exits 2, a refused push exits 1 naming credentials"

# ---- 4. mirror_to: registry to registry ------------------------------------------
cat >"$IT_TMP/mirror.yaml" <<YAML
store: $IT_TMP/store2
mirror_to: { registry: $B, prefix: synced }
registries:
  $A: { credentials: { username: $IT_USER, password_env: A_PASS } }
  $B: { credentials: { username: $IT_USER, password_env: B_PASS } }
images:
  - $A/ns/v2:1
  - name: $A/ns/multi
    tags: ["1"]
    all_platforms: true
YAML
ferry_ok sync --check -c "$IT_TMP/mirror.yaml"
grep -q "mirror to $B/synced" "$IT_TMP/ferry.out" || fail "sync --check does not show mirror_to"
ferry_ok sync --once -c "$IT_TMP/mirror.yaml"
cat "$IT_TMP/ferry.out" >&2
assert_eq "mirror_to v2s2 digest" "$D_V2" "$(b_digest "synced/ns/v2:1")"
assert_eq "mirror_to index digest" "$D_MULTI" "$(b_digest "synced/ns/multi:1")"
grep -q "=> $B/synced/ns/multi:1" "$IT_TMP/ferry.out" || fail "summary does not name the destination"
mark=$(reg_log_mark)
ferry_ok sync --once -c "$IT_TMP/mirror.yaml"
writes=0
for m in PUT PATCH POST GET; do writes=$((writes + $(count_requests "$m" /v2/synced/ "$mark"))); done
assert_eq "requests other than HEAD on an unchanged mirror run" 0 "$writes"
assert_eq "HEADs on an unchanged mirror run" 2 "$(count_requests HEAD /v2/synced/ "$mark")"
grep -q '"pushed_to"' "$IT_TMP/store2/state/last-run.json" || fail "last-run.json lacks pushed_to"
log "mirror_to: A -> B with equal digests; unchanged run = one HEAD per image"

# ---- 5. a real-tool image: podman manifest push --all to A, ferry to B ------------
rw_images
REG=$A REG_URL=http://$A rw_push multi all rt/multi:1
ferry_ok pull "$A/rt/multi:1" --all-platforms --store "$IT_TMP/store3" --username "$IT_USER" \
  --password-stdin <<<"$IT_PASS"
ferry_ok push --store "$IT_TMP/store3" --all --to "$B/rt" --username "$IT_USER" --password-stdin <<<"$IT_PASS"
assert_eq "podman manifest list digest on B" "$RW_PUSHED_DIGEST" "$(b_digest "rt/rt/multi:1")"
arch=$(it_skopeo --override-arch arm64 inspect --tls-verify=false --creds "$IT_USER:$IT_PASS" \
  "docker://$B/rt/rt/multi:1" | imgtool json - 'd["Architecture"]')
assert_eq "arm64 image of the podman list on B" arm64 "$arch"
log "real-tool list: podman manifest push --all -> A -> ferry -> B, digest kept"

log "push_test: all scenarios passed"
