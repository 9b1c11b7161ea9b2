#!/usr/bin/env bash
# Across the air gap, end to end: a token-auth registry on 127.0.0.1, `ferry
# sync` with an export directory, `ferry verify` of directories and tarballs
# (good, a flipped byte, a missing layer), bundles (full and delta), `ferry
# import` into an offline store, copies of the export taken while it is
# being rewritten, and the offline side's registry: `ferry push --from` the
# export directory into a second registry B (digests equal A's), then a delta
# bundle made against B's receipt brings B up to date after A changed.
#
#   FERRY_BIN=build/ferry bash tests/integration/airgap_test.sh
#
# CLI under test:
#   ferry sync --once -c FILE                        export set: EXPORT -> .EXPORT.sets/<gen>
#   ferry export -c FILE | --store DIR -o DIR [REF...]
#   ferry export -c FILE --bundle FILE.tar [--since RECEIPT]
#   ferry verify DIR|TAR [--receipt FILE]; ferry verify --store DIR
#   ferry import BUNDLE|TAR|DIR --store DIR [--receipt FILE]
#   ferry push --from DIR|TAR --store DIR --to REGISTRY/PREFIX [--receipt FILE]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
PY=/usr/bin/python3

# flip_layer_byte TAR: flip one byte in the middle of the largest entry (a layer).
flip_layer_byte() {
  "$PY" - "$1" <<'EOF'
import sys, tarfile
path = sys.argv[1]
with tarfile.open(path) as t:
    m = max((m for m in t.getmembers() if m.isfile()), key=lambda m: m.size)
with open(path, "r+b") as f:
    f.seek(m.offset_data + m.size // 2)
    b = f.read(1)
    f.seek(m.offset_data + m.size // 2)
    f.write(bytes([b[0] ^ 0x01]))
print(m.name)
EOF
}

# drop_largest_layer SRC DST: DST is SRC rebuilt without its largest entry; prints its name.
drop_largest_layer() {
  "$PY" - "$1" "$2" <<'EOF'
import sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as t:
    members = t.getmembers()
    big = max((m for m in members if m.isfile()), key=lambda m: m.size)
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as out:
        for m in members:
            if m.name == big.name:
                continue
            out.addfile(m, t.extractfile(m) if m.isfile() else None)
print(big.name)
EOF
}

# tar_blobs TAR: the blobs/sha256/<hex> entries of a tarball, one digest per line.
tar_blobs() { tar -tf "$1" | sed -n 's|^blobs/sha256/\([0-9a-f]\{64\}\)$|sha256:\1|p' | sort; }

# contents_map DIR: "file manifests" per CONTENTS.json entry, sorted.
contents_map() {
  imgtool json "$1/CONTENTS.json" '["%s %s" % (f["file"], ",".join(f["manifests"])) for f in d["files"]]' | sort
}

###############################################################################
log "=== setup: token registry, layer-sharing images, a multi-arch index"
start_registry token
push_shared_pair lab/a:1 lab/b:1
push_multiarch lab/multi:1
push_schema2 lab/app:1
STORE="$IT_TMP/store"
EXPORT="$IT_TMP/export"
WATCH="$IT_TMP/watchlist.yaml"
cat >"$WATCH" <<EOF
store: $STORE
export: $EXPORT
platforms: [linux/amd64, linux/arm64]
registries:
  "$REG": { insecure: true }
images:
  - $REG/lab/a:1
  - $REG/lab/b:1
  - $REG/lab/multi:1
  - $REG/lab/app:1
EOF

###############################################################################
log "=== 1. sync writes the export as one set: symlink, CONTENTS.json, SHA256SUMS"
ferry_ok sync --once -c "$WATCH"
[[ -L "$EXPORT" ]] || fail "$EXPORT is not a symlink to a generation"
[[ "$(readlink "$EXPORT")" == .export.sets/* ]] || fail "symlink target $(readlink "$EXPORT")"
(cd "$EXPORT" && sha256sum --strict -c SHA256SUMS >/dev/null) || fail "sha256sum -c in the export failed"
assert_eq "tarballs in the set" 5 "$(cd "$EXPORT" && ls -1 -- *.tar | wc -l)"
assert_eq "CONTENTS.json entries" 5 "$(imgtool json "$EXPORT/CONTENTS.json" 'len(d["files"])')"
assert_eq "SHA256SUMS lines (tarballs + CONTENTS.json)" 6 "$(wc -l <"$EXPORT/SHA256SUMS")"
for t in "$EXPORT"/*.tar; do
  it_skopeo inspect "docker-archive:$t" >/dev/null || fail "skopeo cannot read $(basename "$t")"
done
# A no-op sync leaves the set as it is: same generation, CONTENTS.json not re-dated.
gen_before=$(readlink "$EXPORT")
contents_before=$(sha256sum <"$EXPORT/CONTENTS.json")
ferry_ok sync --once -c "$WATCH"
assert_eq "generation after a no-op sync" "$gen_before" "$(readlink "$EXPORT")"
assert_eq "CONTENTS.json after a no-op sync" "$contents_before" "$(sha256sum <"$EXPORT/CONTENTS.json")"
assert_eq "generations kept after a no-op" 1 "$(find "$(dirname "$EXPORT")/.export.sets" -mindepth 1 -maxdepth 1 -type d | wc -l)"

###############################################################################
log "=== 2. ferry verify: the directory, a flipped byte, a missing layer"
ferry_ok verify "$EXPORT" --receipt "$IT_TMP/verify-receipt.json"
grep -q "consistent" "$IT_TMP/ferry.out" || fail "verify summary: $(cat "$IT_TMP/ferry.out")"
# The receipt lists every blob of the set: the distinct blobs/ entries of its tarballs.
assert_eq "blobs in the verify receipt" "$(for t in "$EXPORT"/*.tar; do tar_blobs "$t"; done | sort -u | wc -l)" \
  "$(imgtool json "$IT_TMP/verify-receipt.json" 'len(d["blobs"])')"
assert_eq "OK lines (one per image)" 5 "$(grep -c '^OK ' "$IT_TMP/ferry.out")"

APP_TAR=$(ls "$EXPORT"/*lab_app_1.tar)
cp "$APP_TAR" "$IT_TMP/flipped.tar"
flipped=$(flip_layer_byte "$IT_TMP/flipped.tar")
ferry_rc 1 verify "$IT_TMP/flipped.tar"
grep -q "$flipped.*corrupt" "$IT_TMP/ferry.out" || { cat "$IT_TMP/ferry.out"; fail "verify did not name $flipped"; }
log "flipped byte found: $(grep -m1 corrupt "$IT_TMP/ferry.out")"

cp -rL "$EXPORT" "$IT_TMP/copy-flipped"
flip_layer_byte "$IT_TMP/copy-flipped/$(basename "$APP_TAR")" >/dev/null
ferry_rc 1 verify "$IT_TMP/copy-flipped"
grep -q "$(basename "$APP_TAR"): checksum mismatch" "$IT_TMP/ferry.out" || fail "SHA256SUMS mismatch not named"

dropped=$(drop_largest_layer "$APP_TAR" "$IT_TMP/missing.tar")
ferry_rc 1 verify "$IT_TMP/missing.tar"
grep -q "layer $dropped .* is missing" "$IT_TMP/ferry.out" || { cat "$IT_TMP/ferry.out"; fail "missing $dropped not named"; }
log "missing layer found: $(grep -m1 missing "$IT_TMP/ferry.out")"

###############################################################################
log "=== 3. one bundle of every image: each blob once, loadable"
ferry_ok export -c "$WATCH" --bundle "$IT_TMP/bundle.tar"
ferry_ok verify "$IT_TMP/bundle.tar"
assert_eq "images in the bundle's index.json (multi: 2 platforms)" 5 \
  "$(tar -xOf "$IT_TMP/bundle.tar" index.json | imgtool json - 'len(d["manifests"])')"
assert_eq "manifest.json entries (one per reference, host platform)" 4 \
  "$(tar -xOf "$IT_TMP/bundle.tar" manifest.json | imgtool json - 'len(d)')"
assert_eq "duplicate blobs in the bundle" "" "$(tar -tf "$IT_TMP/bundle.tar" | sort | uniq -d)"
for r in lab/a:1 lab/b:1 lab/multi:1 lab/app:1; do
  it_skopeo inspect "docker-archive:$IT_TMP/bundle.tar:$REG/$r" >/dev/null || fail "skopeo cannot read $r in the bundle"
done
log "full bundle: $(stat -c %s "$IT_TMP/bundle.tar") bytes"
start_dockerd
docker_cli load -i "$IT_TMP/bundle.tar" >"$IT_TMP/docker-load.out" 2>&1 || { cat "$IT_TMP/docker-load.out"; fail "docker load of the bundle failed"; }
for r in lab/a:1 lab/b:1 lab/multi:1 lab/app:1; do
  docker_cli image inspect "$REG/$r" >/dev/null || fail "docker load of the bundle did not name $r"
done
log "docker load of the bundle: 4 references loaded"

###############################################################################
log "=== 4. offline side: import the export directory, receipt"
OFF="$IT_TMP/offline-store"
ferry_ok import "$EXPORT" --store "$OFF" --receipt "$IT_TMP/receipt1.json"
ferry_ok verify --store "$OFF"
assert_eq "references imported" 4 "$(imgtool json "$OFF/index.json" 'len({m["annotations"]["org.opencontainers.image.ref.name"] for m in d["manifests"]})')"

# A tarball skopeo wrote (no index.json, layers named by diff_id) verifies and imports.
it_skopeo copy --quiet --src-tls-verify=false "docker://$REG/lab/a:1" \
  "docker-archive:$IT_TMP/skopeo-a.tar:$REG/lab/a:1" >/dev/null 2>&1 || fail "skopeo could not write a docker-archive"
ferry_ok verify "$IT_TMP/skopeo-a.tar"
ferry_ok import "$IT_TMP/skopeo-a.tar" --store "$IT_TMP/skopeo-store"
ferry_ok verify --store "$IT_TMP/skopeo-store"
ferry_ok export --store "$IT_TMP/skopeo-store" -o "$IT_TMP/skopeo-export"
assert_eq "config of the re-exported skopeo image" "$(tar -xOf "$IT_TMP/skopeo-a.tar" manifest.json | imgtool json - 'd[0]["Config"]' | sed 's/\.json$//')" \
  "$(tar -xOf "$IT_TMP/skopeo-export/"*lab_a_1.tar manifest.json | imgtool json - 'd[0]["Config"]' | sed 's|^blobs/sha256/||')"

###############################################################################
log "=== 5. one image changes; the delta bundle carries only its new blobs"
old_app_blobs=$(tar_blobs "$APP_TAR")
push_image v2s2 lab/app:1 --layer app-v2-l1:120000 --layer app-v2-l2:25000
ferry_ok sync --once -c "$WATCH"
ferry_ok export -c "$WATCH" --bundle "$IT_TMP/delta.tar" --since "$IT_TMP/receipt1.json"
DELTA_SIZE=$(stat -c %s "$IT_TMP/delta.tar")
log "delta bundle after one image changed: $DELTA_SIZE bytes (full bundle $(stat -c %s "$IT_TMP/bundle.tar"))"
new_app_blobs=$(tar_blobs "$(ls "$EXPORT"/*lab_app_1.tar)")
new_only=$(comm -13 <(echo "$old_app_blobs") <(echo "$new_app_blobs"))
receipt_blobs=$(imgtool json "$IT_TMP/receipt1.json" 'd["blobs"]' | sort)
delta_layers=$(comm -23 <(tar_blobs "$IT_TMP/delta.tar") <(echo "$receipt_blobs"))
# A bundle keeps a whole index (lab/multi: the watchlist's platforms cover all of it)
# whose index blob no per-platform tarball holds, so the offline side lacks it too:
# allowed, as long as the full bundle carried it as well.
kept_trees=$(comm -23 <(tar_blobs "$IT_TMP/bundle.tar") <(echo "$receipt_blobs"))
for b in $delta_layers; do
  grep -qx "$b" <<<"$new_only" || grep -qx "$b" <<<"$kept_trees" || fail "delta carries $b, which is not new"
done
for b in $new_only; do tar_blobs "$IT_TMP/delta.tar" | grep -qx "$b" || fail "delta lacks new blob $b"; done
assert_eq "delta kind" delta "$(tar -xOf "$IT_TMP/delta.tar" ferry-bundle.json | imgtool json - 'd["kind"]')"
ferry_ok verify "$IT_TMP/delta.tar"

# Into a store that lacks the omitted layers: refused, naming them, store unchanged.
ferry_rc 1 import "$IT_TMP/delta.tar" --store "$IT_TMP/empty-store"
grep -q "not in the store" "$IT_TMP/ferry.err" || fail "missing omitted layers not named: $(cat "$IT_TMP/ferry.err")"
[[ ! -d "$IT_TMP/empty-store/blobs/sha256" ]] || assert_eq "blobs in the refused store" 0 "$(ls "$IT_TMP/empty-store/blobs/sha256" | wc -l)"

ferry_ok import "$IT_TMP/delta.tar" --store "$OFF" --receipt "$IT_TMP/receipt2.json"
ferry_ok verify --store "$OFF"
ferry_ok export --store "$OFF" -o "$IT_TMP/offline-export"
assert_eq "offline export = online export (file -> manifest digests)" "$(contents_map "$EXPORT")" \
  "$(contents_map "$IT_TMP/offline-export")"

ferry_ok export --store "$OFF" -o "$IT_TMP/offline-both" --format both
assert_eq "OCI archives next to the docker tarballs" 5 "$(cd "$IT_TMP/offline-both" && ls -1 -- *.oci.tar | wc -l)"
ferry_ok verify "$IT_TMP/offline-both"
for t in "$IT_TMP/offline-both"/*.oci.tar; do
  it_skopeo inspect "oci-archive:$t" >/dev/null || fail "skopeo cannot read $(basename "$t")"
done

ferry_ok export -c "$WATCH" --bundle "$IT_TMP/nothing.tar" --since "$IT_TMP/receipt2.json"
NOTHING_SIZE=$(stat -c %s "$IT_TMP/nothing.tar")
log "delta bundle of an unchanged watchlist: $NOTHING_SIZE bytes"
((NOTHING_SIZE < 100000)) || fail "an unchanged watchlist gave a delta of $NOTHING_SIZE bytes"

# A reference that is not in the watchlist is a usage error, named.
ferry_rc 2 export -c "$WATCH" "$REG/lab/nosuch:1"
grep -q "lab/nosuch:1 is not in the watchlist" "$IT_TMP/ferry.err" || fail "unknown REF not named: $(cat "$IT_TMP/ferry.err")"
# With REFs only their files are rewritten; the other references keep theirs.
before=$(stat -c %i "$(ls "$EXPORT"/*lab_b_1.tar)")
ferry_ok export -c "$WATCH" "$REG/lab/a:1"
assert_eq "files after a partial export" 5 "$(cd "$EXPORT" && ls -1 -- *.tar | wc -l)"
assert_eq "lab/b kept (hard link, same inode)" "$before" "$(stat -c %i "$(ls "$EXPORT"/*lab_b_1.tar)")"
(cd "$EXPORT" && sha256sum --strict --quiet -c SHA256SUMS) || fail "partial export set inconsistent"

###############################################################################
log "=== 6. copies taken while the export is rewritten are whole sets"
held=$(readlink -f "$EXPORT")
copies=0
ferry export -c "$WATCH" --format both >/dev/null 2>&1 &  # a changed set (OCI archives added): a switch
export_pid=$!
while kill -0 "$export_pid" 2>/dev/null || ((copies < 3)); do
  rm -rf "$IT_TMP/copy"
  cp -rL "$EXPORT" "$IT_TMP/copy" 2>/dev/null || continue
  (cd "$IT_TMP/copy" && sha256sum --strict --quiet -c SHA256SUMS) || fail "copy $copies is not a consistent set"
  copies=$((copies + 1))
done
wait "$export_pid" || fail "ferry export during the copies failed"
(cd "$held" && sha256sum --strict --quiet -c SHA256SUMS) || fail "the generation held by a reader changed"
[[ "$(readlink -f "$EXPORT")" != "$held" ]] || fail "ferry export did not switch generations"
log "$copies copies during a rewrite, each consistent; the held generation stayed whole"
ferry_ok export -c "$WATCH"  # back to docker tarballs only, for the pushes below
assert_eq "tarballs after the switch back" 5 "$(cd "$EXPORT" && ls -1 -- *.tar | wc -l)"

###############################################################################
log "=== 7. offline registry B: push the export directory, then a delta bundle"
# Registry A's variables, to come back to A after B is started.
A_VARS=(REG REG_URL REG_LOG REG_MODE REG_DIR REG_USER REG_PASS TOKEN_URL TOKEN_LOG TOKEN_CERT TOKEN_PORT)
save_reg() { local v; for v in "${A_VARS[@]}"; do eval "SAVED_$1_$v=\${$v:-}"; done; }
use_reg() { local v; for v in "${A_VARS[@]}"; do eval "export $v=\$SAVED_$1_$v"; done; }
save_reg A
A=$REG
digests_of() { local r; for r in "$@"; do echo "$r $(reg_digest "$r")"; done; }
A_DIGESTS=$(digests_of lab/a:1 lab/b:1 lab/app:1)
A_MULTI_CHILDREN=$(reg_raw_manifest lab/multi:1 | imgtool json - '" ".join(sorted(m["digest"] for m in d["manifests"] if m.get("platform", {}).get("architecture") in ("amd64", "arm64")))')
start_registry basic
save_reg B
B=$REG
PUSH_STORE="$IT_TMP/offline-push-store"
ferry_ok push --from "$EXPORT" --store "$PUSH_STORE" --to "$B/mirror" --username "$IT_USER" --password-stdin \
  --receipt "$IT_TMP/b-receipt.json" <<<"$IT_PASS"
for r in lab/a:1 lab/b:1 lab/app:1; do
  assert_eq "$r on B = on A" "$(echo "$A_DIGESTS" | awk -v r="$r" '$1 == r { print $2 }')" "$(reg_digest "mirror/$r")"
done
# The two platforms of lab/multi travelled as two manifests; B has both, by digest.
for child in $A_MULTI_CHILDREN; do
  reg_raw_manifest "mirror/lab/multi@$child" >/dev/null || fail "platform manifest $child of lab/multi missing on B"
done
ferry_ok verify --store "$PUSH_STORE"

use_reg A
push_image v2s2 lab/app:1 --layer app-v3-l1:90000 --layer app-v3-l2:15000
A_APP3=$PUSHED_DIGEST
ferry_ok sync --once -c "$WATCH"
ferry_ok export -c "$WATCH" --bundle "$IT_TMP/delta-b.tar" --since "$IT_TMP/b-receipt.json"
log "delta bundle for B after lab/app changed: $(stat -c %s "$IT_TMP/delta-b.tar") bytes"
use_reg B
mark=$(reg_log_mark)
ferry_ok push --from "$IT_TMP/delta-b.tar" --store "$PUSH_STORE" --to "$B/mirror" --username "$IT_USER" \
  --password-stdin <<<"$IT_PASS"
assert_eq "lab/app on B after the delta" "$A_APP3" "$(reg_digest "mirror/lab/app:1")"
assert_eq "lab/a on B unchanged" "$(echo "$A_DIGESTS" | awk '$1 == "lab/a:1" { print $2 }')" "$(reg_digest "mirror/lab/a:1")"
uploads=$(count_requests PUT '/v2/mirror/.*/blobs/uploads/' "$mark")
assert_eq "blobs uploaded to B for the delta (2 layers + config)" 3 "$uploads"
log "B complete after the delta: $uploads blobs uploaded"

log "PASS"
