#!/usr/bin/env bash
# End-to-end test of `ferry gc` and `ferry verify` on a store filled by `ferry sync`.
#
#   FERRY_BIN=build/ferry bash tests/integration/gc_verify_test.sh
#
# CLI under test:
#   ferry verify --store DIR                    exit 0 consistent, 1 one line per problem
#   ferry gc -c FILE [--store DIR] [--dry-run]  keep the watchlist's images, free the rest
#
# Scenario, on two images sharing their two base layers (ns/a:1, ns/b:1):
#   1. sync both; verify passes
#   2. ns/b leaves the watchlist: gc --dry-run names b's top layer, config and
#      manifest and deletes nothing; a held store lock makes gc refuse
#   3. gc removes exactly those three blobs and b's index.json entry; a's image
#      still verifies, and a re-sync fetches no blob at all
#   4. a flipped byte in a's layer: verify exits 1 naming the digest
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env

# blob_files: the names in the store's blobs/sha256, sorted, one line.
blob_files() { (cd "$STORE/blobs/sha256" && ls | sort | tr '\n' ' '); }

# image_blobs REPO:TAG: manifest, config and layer digests, one per line.
image_blobs() {
  reg_digest "$1"
  reg_raw_manifest "$1" | imgtool json - '[d["config"]["digest"]] + [l["digest"] for l in d["layers"]]'
}

# index_refs: the ref names of the store's index.json, sorted.
index_refs() {
  imgtool json "$STORE/index.json" \
    'sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in d["manifests"])'
}

STORE="$IT_TMP/store"
WATCH="$IT_TMP/watchlist.yaml"
write_watchlist() { # REPO:TAG...
  {
    echo "store: $STORE"
    echo "registries:"
    echo "  \"$REG\": { insecure: true }"
    echo "images:"
    local i
    for i in "$@"; do echo "  - $REG/$i"; done
  } >"$WATCH"
}

###############################################################################
log "=== setup: registry, two images on the same two base layers"
start_registry none
push_shared_pair ns/a:1 ns/b:1
A_BLOBS=$(image_blobs ns/a:1 | sort)
B_BLOBS=$(image_blobs ns/b:1 | sort)
# What only b uses: its manifest, config and top layer.
B_ONLY=$(comm -13 <(echo "$A_BLOBS") <(echo "$B_BLOBS"))
assert_eq "blobs only b uses" 3 "$(wc -l <<<"$B_ONLY")"

###############################################################################
log "=== 1. sync both images; verify passes"
write_watchlist ns/a:1 ns/b:1
mark=$(reg_log_mark)
ferry_rc 0 sync --once -c "$WATCH"
# The counter the re-sync in 3. relies on: 2 shared layers, 2 tops, 2 configs.
assert_eq "blob GETs of the first sync" 6 "$(count_requests GET '/v2/[^ ]*/blobs/' "$mark")"
ferry_rc 0 verify --store "$STORE"
grep -q 'consistent' "$IT_TMP/ferry.out" || fail "verify summary does not say consistent: $(cat "$IT_TMP/ferry.out")"
ALL_FILES=$(blob_files)
assert_eq "blobs in the store after sync" 8 "$(wc -w <<<"$ALL_FILES")"

###############################################################################
log "=== 2. ns/b leaves the watchlist: dry run deletes nothing; a held lock refuses gc"
write_watchlist ns/a:1
index_before=$(sha256sum "$STORE/index.json")
ferry_rc 0 gc -c "$WATCH" --dry-run
for d in $B_ONLY; do
  grep -q "would remove  $d" "$IT_TMP/ferry.out" || fail "dry run does not name $d: $(cat "$IT_TMP/ferry.out")"
done
grep -q "would drop    $REG/ns/b:1" "$IT_TMP/ferry.out" || fail "dry run does not name ns/b:1: $(cat "$IT_TMP/ferry.out")"
assert_eq "blob removals listed by the dry run" 3 "$(grep -c 'would remove' "$IT_TMP/ferry.out")"
assert_eq "blobs after the dry run" "$ALL_FILES" "$(blob_files)"
assert_eq "index.json after the dry run" "$index_before" "$(sha256sum "$STORE/index.json")"

rc=0
timeout -k 5 60 flock -n "$STORE/state/lock" "$FERRY_BIN" gc -c "$WATCH" >"$IT_TMP/ferry.out" 2>"$IT_TMP/ferry.err" || rc=$?
assert_eq "gc exit code on a locked store" 1 "$rc"
grep -q 'in use' "$IT_TMP/ferry.err" || fail "gc on a locked store does not say 'in use': $(cat "$IT_TMP/ferry.err")"
assert_eq "blobs after gc was refused" "$ALL_FILES" "$(blob_files)"

###############################################################################
log "=== 3. gc removes exactly b's own blobs; a still verifies and re-syncs without fetching"
ferry_rc 0 gc -c "$WATCH"
cat "$IT_TMP/ferry.out" >&2
want_files=$(for f in $ALL_FILES; do grep -q "sha256:$f" <<<"$B_ONLY" || echo "$f"; done | sort | tr '\n' ' ')
assert_eq "blobs left after gc" "$want_files" "$(blob_files)"
assert_eq "index.json references after gc" "$REG/ns/a:1" "$(index_refs)"
if grep -q "ns/b:1" "$STORE/state/last-pulls.json"; then fail "last-pulls.json still records ns/b:1"; fi
for d in $A_BLOBS; do
  [[ -f "$STORE/blobs/sha256/${d#sha256:}" ]] || fail "gc removed $d, which ns/a:1 needs"
done
ferry_rc 0 verify --store "$STORE"

mark=$(reg_log_mark)
ferry_rc 0 sync --once -c "$WATCH"
assert_eq "blob GETs of ns/a by the re-sync" 0 "$(count_blob_gets ns/a "" "$mark")"
assert_eq "blob GETs of any repository by the re-sync" 0 "$(count_requests GET '/v2/[^ ]*/blobs/' "$mark")"
ferry_rc 0 gc -c "$WATCH"
assert_eq "blobs after a second gc" "$want_files" "$(blob_files)"

###############################################################################
log "=== 4. a flipped byte: verify exits 1 naming the digest"
top=$(reg_raw_manifest ns/a:1 | imgtool json - 'd["layers"][-1]["digest"]')
blob="$STORE/blobs/sha256/${top#sha256:}"
"$IT_PYTHON" - "$blob" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100)
    b = f.read(1)
    f.seek(100)
    f.write(bytes([b[0] ^ 0x01]))
EOF
ferry_rc 1 verify --store "$STORE"
cat "$IT_TMP/ferry.out" >&2
grep -q "$top" "$IT_TMP/ferry.out" || fail "verify output does not name $top: $(cat "$IT_TMP/ferry.out")"
assert_eq "problem lines (naming the digest)" 1 "$(grep -c "blob $top: content hashes to" "$IT_TMP/ferry.out")"

log "PASS: gc_verify"
