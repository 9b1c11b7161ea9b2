#!/usr/bin/env bash
# Hostile stores, export trees and inputs (issue #13), end to end with the real
# registry: each case must end in a one-line error naming the cause, the right exit
# status, nothing written outside the store (canary files keep their bytes), and
# the store's index as it was.
#
#   FERRY_BIN=build/ferry bash tests/integration/hostile_test.sh
#
#   1. ingest/<hex>.partial planted as a symlink to a file elsewhere: the pull fails
#      naming the partial, the target keeps its bytes, the link never enters blobs/,
#      index.json is unchanged.
#   2. state/lock planted as a symlink: refused, the target keeps its bytes.
#   3. a FIFO given to `ferry verify` and `ferry import`: refused at once (no hang).
#   4. a watchlist with a NUL byte: exit 2 naming file:line:col.
#   5. three references that sanitise to one export file name: the sync succeeds,
#      each gets its own file, CONTENTS.json maps each file to its reference, and
#      every file verifies.
#   6. `--receipt receipt.json`, a bare name: written in the working directory, exit 0.
#   7. a bundle whose ferry-bundle.json points a reference the offline store already
#      has at a manifest whose config and layer are absent: verify and import both
#      fail naming the missing blob; the store is byte-identical afterwards.
#   8. a bundle whose largest blob entry is a symlink: to an entry inside the
#      archive, verify and import take the target's content (the blob lands as a
#      regular file); leading nowhere, both refuse naming the link, store unchanged.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
start_registry none

# one_line_with WHAT: ferry's stderr is one line and contains WHAT.
one_line_with() {
  assert_eq "stderr lines" 1 "$(wc -l <"$IT_TMP/ferry.err")"
  grep -qF -- "$1" "$IT_TMP/ferry.err" || fail "stderr lacks [$1]: $(cat "$IT_TMP/ferry.err")"
}

push_schema2 lab/app:1 --layer 11:20000 --layer 12:30000
APP_REF="$REG/lab/app:1"

log "=== 1. a partial planted as a symlink is refused, its target untouched"
STORE="$IT_TMP/store"
ferry_ok pull "$APP_REF" -o "$IT_TMP/first.tar" --store "$STORE"
# A second image whose first layer the store does not have yet.
push_schema2 lab/other:1 --layer 13:40000
layer=$(reg_raw_manifest lab/other:1 | imgtool json - 'd["layers"][0]["digest"]')
CANARY="$IT_TMP/canary"
printf 'precious\n' >"$CANARY"
ln -s "$CANARY" "$STORE/ingest/${layer#sha256:}.partial"
index_before=$(sha256sum <"$STORE/index.json")
ferry_rc 1 pull "$REG/lab/other:1" -o "$IT_TMP/other.tar" --store "$STORE"
grep -qF "${layer#sha256:}.partial: is a symbolic link" "$IT_TMP/ferry.err" ||
  fail "the error does not name the planted partial: $(cat "$IT_TMP/ferry.err")"
assert_eq "canary after the pull" "precious" "$(cat "$CANARY")"
# Verified blobs of the failed image (its config) may enter the store; the planted
# file never does, and index.json names nothing new.
assert_eq "index.json after the refused pull" "$index_before" "$(sha256sum <"$STORE/index.json")"
[[ ! -e "$STORE/blobs/sha256/${layer#sha256:}" ]] || fail "the planted partial was renamed into blobs/"
assert_eq "links in blobs/" "" "$(find "$STORE/blobs" -type l)"
[[ ! -e "$IT_TMP/other.tar" ]] || fail "a tarball was written for a failed pull"
rm "$STORE/ingest/${layer#sha256:}.partial"

log "=== 2. a lock planted as a symlink is refused, its target untouched"
mv "$STORE/state/lock" "$IT_TMP/lock.saved"
ln -s "$CANARY" "$STORE/state/lock"
ferry_rc 1 pull "$APP_REF" -o "$IT_TMP/again.tar" --store "$STORE"
one_line_with "state/lock: is a symbolic link"
assert_eq "canary after the lock" "precious" "$(cat "$CANARY")"
rm "$STORE/state/lock"
ferry_ok verify --store "$STORE"

log "=== 3. a FIFO given to verify and import is refused at once"
mkfifo "$IT_TMP/pipe.tar"
start=$SECONDS
FERRY_IT_TIMEOUT=20 ferry_rc 1 verify "$IT_TMP/pipe.tar"
grep -qF "pipe.tar: is not a regular file" "$IT_TMP/ferry.out" || fail "verify: $(cat "$IT_TMP/ferry.out")"
FERRY_IT_TIMEOUT=20 ferry_rc 1 import "$IT_TMP/pipe.tar" --store "$STORE"
grep -qF "pipe.tar: is not a regular file" "$IT_TMP/ferry.err" || fail "import: $(cat "$IT_TMP/ferry.err")"
((SECONDS - start < 15)) || fail "verify/import of a FIFO took $((SECONDS - start)) s"

log "=== 4. a watchlist with a NUL byte"
printf 'store: %s\nimages:\n  - "lab/app:\0x"\n' "$IT_TMP/s4" >"$IT_TMP/nul.yaml"
ferry_rc 2 sync --check -c "$IT_TMP/nul.yaml"
one_line_with "nul.yaml:3:14: control byte 0x00"

log "=== 5. references whose export names collide each get their own file"
for r in a/b_c:1 a_b/c:1 a/b:c_1; do
  skopeo_src=$(reg_digest lab/app:1)
  it_skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
    "docker://$REG/lab/app@$skopeo_src" "docker://$REG/$r" >/dev/null
done
cat >"$IT_TMP/collide.yaml" <<EOF
store: $IT_TMP/s5
export: $IT_TMP/e5
registries:
  $REG: { insecure: true }
images:
  - $REG/a/b_c:1
  - $REG/a_b/c:1
  - $REG/a/b:c_1
EOF
ferry_ok sync --once -c "$IT_TMP/collide.yaml"
mapfile -t tars < <(cd "$IT_TMP/e5" && ls ./*.tar)
assert_eq "tarballs for three colliding references" 3 "${#tars[@]}"
for r in a/b_c:1 a_b/c:1 a/b:c_1; do
  n=$("$IT_PYTHON" -c 'import json,sys; print(sum(1 for f in json.load(open(sys.argv[1]))["files"] if f["reference"]==sys.argv[2]))' \
    "$IT_TMP/e5/CONTENTS.json" "$REG/$r")
  assert_eq "CONTENTS.json files of $r" 1 "$n"
done
ferry_ok verify "$IT_TMP/e5"

log "=== 6. --receipt with a bare file name"
mkdir -p "$IT_TMP/cwd"
(cd "$IT_TMP/cwd" && ferry_ok import "$IT_TMP/first.tar" --store "$IT_TMP/s6" --receipt receipt.json)
[[ -s "$IT_TMP/cwd/receipt.json" ]] || fail "receipt.json was not written in the working directory"

# store_snapshot DIR: every file's path and sha256, and every link, sorted.
store_snapshot() {
  (cd "$1" && find . \( -type f -o -type l \) ! -path './state/*' -printf '%y %p\n' | sort | while read -r t p; do
    if [[ $t == l ]]; then echo "link $p"; else echo "$(sha256sum <"$p" | cut -c1-64) $p"; fi
  done)
}
FORGE=("$IT_PYTHON" "$(dirname "${BASH_SOURCE[0]}")/../support/forge_archive.py")

log "=== 7. a forged ferry-bundle.json: a known reference pointed at a hollow manifest"
ferry_ok export --store "$STORE" --bundle "$IT_TMP/good-bundle.tar" "$APP_REF"
ferry_ok import "$IT_TMP/good-bundle.tar" --store "$IT_TMP/s7"
before=$(store_snapshot "$IT_TMP/s7")
"${FORGE[@]}" bundle-ref-to-hollow "$IT_TMP/good-bundle.tar" "$IT_TMP/forged.tar"
ferry_rc 1 verify "$IT_TMP/forged.tar"
grep -q "ferry-bundle.json: .*config sha256:.* is missing" "$IT_TMP/ferry.out" || fail "verify: $(cat "$IT_TMP/ferry.out")"
ferry_rc 1 import "$IT_TMP/forged.tar" --store "$IT_TMP/s7"
grep -q "ferry-bundle.json: .*lab/app:1: config sha256:.* is missing" "$IT_TMP/ferry.err" || fail "import: $(cat "$IT_TMP/ferry.err")"
grep -q "does not verify; nothing imported" "$IT_TMP/ferry.err" || fail "import: $(cat "$IT_TMP/ferry.err")"
assert_eq "store after the forged import" "$before" "$(store_snapshot "$IT_TMP/s7")"
ferry_ok verify --store "$IT_TMP/s7"

log "=== 8. a blob entry that is a symlink: resolved inside the archive, or refused"
linked=$("${FORGE[@]}" blob-as-link "$IT_TMP/good-bundle.tar" "$IT_TMP/linked.tar" ../../other/data)
ferry_ok verify "$IT_TMP/linked.tar"
ferry_ok import "$IT_TMP/linked.tar" --store "$IT_TMP/s8"
[[ -f "$IT_TMP/s8/blobs/sha256/${linked#sha256:}" && ! -L "$IT_TMP/s8/blobs/sha256/${linked#sha256:}" ]] ||
  fail "the blob stored as a link in the archive did not land as a regular file"
ferry_ok verify --store "$IT_TMP/s8"
"${FORGE[@]}" blob-as-link "$IT_TMP/good-bundle.tar" "$IT_TMP/dangling.tar" ../../../../etc/passwd >/dev/null
ferry_rc 1 verify "$IT_TMP/dangling.tar"
grep -q "blobs/sha256/${linked#sha256:} is a link to ../../../../etc/passwd" "$IT_TMP/ferry.out" ||
  fail "verify did not name the link: $(cat "$IT_TMP/ferry.out")"
before=$(store_snapshot "$IT_TMP/s7")
ferry_rc 1 import "$IT_TMP/dangling.tar" --store "$IT_TMP/s7"
assert_eq "store after the dangling-link import" "$before" "$(store_snapshot "$IT_TMP/s7")"

log "=== 9. a forged referrer entry: a reference or subject that is not one"
before=$(store_snapshot "$IT_TMP/s7")
"${FORGE[@]}" bundle-referrer "$IT_TMP/good-bundle.tar" "$IT_TMP/ref-bad-of.tar" "../../etc/passwd" "sha256:$(printf '%064d' 0)"
ferry_rc 1 verify "$IT_TMP/ref-bad-of.tar"
grep -q "ferry-bundle.json referrerOf.*etc/passwd" "$IT_TMP/ferry.out" || fail "verify: $(cat "$IT_TMP/ferry.out")"
ferry_rc 1 import "$IT_TMP/ref-bad-of.tar" --store "$IT_TMP/s7"
grep -q "nothing imported" "$IT_TMP/ferry.err" || fail "import: $(cat "$IT_TMP/ferry.err")"
"${FORGE[@]}" bundle-referrer "$IT_TMP/good-bundle.tar" "$IT_TMP/ref-bad-subject.tar" "$APP_REF" "sha256:../../x"
ferry_rc 1 verify "$IT_TMP/ref-bad-subject.tar"
grep -q "subject of referrer .* is not a digest" "$IT_TMP/ferry.out" || fail "verify: $(cat "$IT_TMP/ferry.out")"
ferry_rc 1 import "$IT_TMP/ref-bad-subject.tar" --store "$IT_TMP/s7"
assert_eq "store after the forged referrer imports" "$before" "$(store_snapshot "$IT_TMP/s7")"
ferry_ok verify --store "$IT_TMP/s7"

log "PASS hostile"
