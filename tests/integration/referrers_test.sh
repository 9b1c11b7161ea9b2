#!/usr/bin/env bash
# Referrers: signatures, SBOMs and attestations mirrored with their image
# (`referrers: true`, `pull --referrers`), against Debian's docker-registry,
# which has no referrers API (it answers 404), so ferry falls back to the
# sha256-<hex> tag schema; cosign's sha256-<hex>.sig tag is found as well. The
# OCI 1.1 referrers API itself is answered by the fault proxy in front of the
# same registry (docker-registry 2.8 cannot). Checked: what index.json records,
# verify --store, a no-op sync (no manifest or blob GET), gc keeping referrers
# with their subject, a bundle carrying them to a new store, push uploading them
# with the image (tags and digests kept), a moved tag dropping the old
# referrers, and a referrers answer that is not an index failing the image.
#
#   FERRY_BIN=build/ferry bash tests/integration/referrers_test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
RWJSON=("$IT_PYTHON" "$IT_SUPPORT_DIR/rwjson.py")
start_registry none

# with_subject FILE DIGEST SIZE MEDIATYPE: add a subject to a manifest file.
with_subject() {
  "$IT_PYTHON" - "$@" <<'PY'
import json, sys
f, dg, size, mt = sys.argv[1:5]
m = json.load(open(f))
m["subject"] = {"mediaType": mt, "digest": dg, "size": int(size)}
open(f, "w").write(json.dumps(m, separators=(",", ":")))
PY
}
# ferry_requests MARK: "METHOD PATH STATUS BYTES" for each request ferry made
# to the registry after access-log line MARK.
ferry_requests() {
  tail -n +"$(($1 + 1))" "$REG_LOG" | grep '"ferry/' |
    sed -E -n 's/.*"([A-Z]+) ([^ ]+) HTTP\/[0-9.]+" ([0-9]+) ([0-9-]+) .*/\1 \2 \3 \4/p' || true
}
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
# index_entries STORE: "ref_name referrer_of" per index.json entry, sorted.
index_entries() {
  imgtool json "$1/index.json" '"\n".join(sorted(m["annotations"]["org.opencontainers.image.ref.name"] + " " + m["annotations"].get("io.github.ferry.referrer.of", "-") for m in d["manifests"]))'
}

# make_referrers REPO:TAG DIR: an SBOM artifact whose subject is the image (PUT by
# digest), the fallback index tag sha256-<hex> listing it, and a cosign-style
# signature under sha256-<hex>.sig. Sets SUBJ, SBOM, SIG.
make_referrers() {
  local ref=$1 d=$2 repo=${1%:*} size
  mkdir -p "$d"
  reg_raw_manifest "$ref" >"$d/subject.json"
  SUBJ=$(sha "$d/subject.json")
  size=$(stat -c %s "$d/subject.json")
  local smt
  smt=$(imgtool json "$d/subject.json" 'd["mediaType"]')
  printf '{}' >"$d/empty"
  printf '{"spdxVersion":"SPDX-2.3","name":"%s"}' "$ref" >"$d/sbom"
  "${RWJSON[@]}" manifest application/vnd.oci.image.manifest.v1+json application/vnd.oci.empty.v1+json \
    "$d/empty" --artifact-type application/spdx+json "application/spdx+json:$d/sbom" >"$d/sbom.json"
  with_subject "$d/sbom.json" "$SUBJ" "$size" "$smt"
  reg_put_blob "$d/empty" "$repo"
  reg_put_blob "$d/sbom" "$repo"
  SBOM=$(sha "$d/sbom.json")
  reg_put_manifest "$d/sbom.json" "$repo" "$SBOM"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"artifactType":"application/spdx+json"}]}' \
    "$SBOM" "$(stat -c %s "$d/sbom.json")" >"$d/fallback.json"
  reg_put_manifest "$d/fallback.json" "$repo" "sha256-${SUBJ#sha256:}"
  printf '{"critical":{"image":{"docker-manifest-digest":"%s"}}}' "$SUBJ" >"$d/payload"
  printf '{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$(sha "$d/payload")" >"$d/sigconfig"
  "${RWJSON[@]}" manifest application/vnd.oci.image.manifest.v1+json application/vnd.oci.image.config.v1+json \
    "$d/sigconfig" "application/vnd.dev.cosign.simplesigning.v1+json:$d/payload" >"$d/sig.json"
  reg_put_blob "$d/sigconfig" "$repo"
  reg_put_blob "$d/payload" "$repo"
  SIG=$(sha "$d/sig.json")
  reg_put_manifest "$d/sig.json" "$repo" "sha256-${SUBJ#sha256:}.sig"
}

log "=== setup: an image with an SBOM (fallback tag schema) and a cosign signature"
push_schema2 lab/app:1
make_referrers lab/app:1 "$IT_TMP/r1"
SUBJ1=$SUBJ SBOM1=$SBOM SIG1=$SIG
FB1="$REG/lab/app:sha256-${SUBJ1#sha256:}"

log "=== 1. pull --referrers: the API answers 404, the fallback tag and the .sig tag are mirrored"
S="$IT_TMP/store"
mark=$(reg_log_mark)
ferry_ok pull --referrers "$REG/lab/app:1" --store "$S" -o "$IT_TMP/app.tar"
assert_eq "index.json entries" "$(printf '%s\n' "$REG/lab/app:1 -" "$FB1 $REG/lab/app:1" "$FB1.sig $REG/lab/app:1" | sort)" \
  "$(index_entries "$S")"
ferry_requests "$mark" | grep -q -E "^GET /v2/lab/app/referrers/$SUBJ1 404" ||
  fail "no referrers API request answered 404: $(ferry_requests "$mark" | grep referrers || true)"
for b in "$SBOM1" "$SIG1" "$(sha "$IT_TMP/r1/sbom")" "$(sha "$IT_TMP/r1/payload")" "$(sha "$IT_TMP/r1/sigconfig")"; do
  [[ -f "$S/blobs/sha256/${b#sha256:}" ]] || fail "the store lacks referrer blob $b"
done
ferry_ok verify "$IT_TMP/app.tar"
ferry_ok verify --store "$S"
log "mirrored: $(index_entries "$S" | tr '\n' ';')"

log "=== 2. sync with referrers: true; a no-op re-sync fetches no manifest and no blob"
W="$IT_TMP/watch.yaml"
printf 'store: %s\nexport: %s\nimages:\n  - name: %s/lab/app:1\n    referrers: true\n' "$S" "$IT_TMP/export" "$REG" >"$W"
ferry_ok sync --once -c "$W"
mark=$(reg_log_mark)
ferry_ok sync --once -c "$W"
assert_eq "manifest GETs in a no-op run" 0 "$(ferry_requests "$mark" | grep -c -E '^GET /v2/[^ ]+/manifests/' || true)"
assert_eq "blob GETs in a no-op run" 0 "$(ferry_requests "$mark" | grep -c -E '^GET /v2/[^ ]+/blobs/' || true)"
# The image's HEAD, then the lookups: the API (404), the fallback tag and the
# .sig tag (200: their digests are what was stored, so no second HEAD), .att and
# .sbom (404).
assert_eq "manifest HEADs in a no-op run" 5 "$(ferry_requests "$mark" | grep -c -E '^HEAD /v2/[^ ]+/manifests/' || true)"
assert_eq "referrers API GETs in a no-op run" 1 "$(ferry_requests "$mark" | grep -c -E '^GET /v2/lab/app/referrers/' || true)"
log "no-op: $(ferry_requests "$mark" | awk '{print $1, $3}' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"

log "=== 3. gc keeps the referrers of a kept image"
ferry_ok gc -c "$W"
assert_eq "entries after gc" 3 "$(index_entries "$S" | wc -l)"
ferry_ok verify --store "$S"

log "=== 4. a bundle carries them; import and push keep tags and digests"
ferry_ok export --store "$S" --bundle "$IT_TMP/b.tar"
ferry_ok verify "$IT_TMP/b.tar"
S2="$IT_TMP/store2"
ferry_ok import "$IT_TMP/b.tar" --store "$S2" --receipt "$IT_TMP/receipt.json"
assert_eq "referrers in the imported store" "$(index_entries "$S")" "$(index_entries "$S2")"
ferry_ok push --store "$S2" "$REG/lab/app:1" --to "$REG/mirror"
assert_eq "pushed signature tag" "$SIG1" "$(reg_digest "mirror/lab/app:sha256-${SUBJ1#sha256:}.sig")"
assert_eq "pushed fallback index tag" "$(sha "$IT_TMP/r1/fallback.json")" "$(reg_digest "mirror/lab/app:sha256-${SUBJ1#sha256:}")"
assert_eq "pushed SBOM by digest" "$SBOM1" "$(reg_digest "mirror/lab/app@$SBOM1")"

log "=== 4b. a new attestation of the same image crosses in a delta bundle"
d="$IT_TMP/r1"
printf '{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}' >"$d/att"
printf '{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$(sha "$d/att")" >"$d/attconfig"
"${RWJSON[@]}" manifest application/vnd.oci.image.manifest.v1+json application/vnd.oci.image.config.v1+json \
  "$d/attconfig" "application/vnd.dsse.envelope.v1+json:$d/att" >"$d/att.json"
reg_put_blob "$d/attconfig" lab/app
reg_put_blob "$d/att" lab/app
ATT1=$(sha "$d/att.json")
reg_put_manifest "$d/att.json" lab/app "sha256-${SUBJ1#sha256:}.att"
ferry_ok sync --once -c "$W"
ferry_ok export --store "$S" --bundle "$IT_TMP/delta.tar" --since "$IT_TMP/receipt.json"
tar -tf "$IT_TMP/delta.tar" | grep -q "blobs/sha256/$(sha "$d/payload" | cut -c8-)" &&
  fail "the delta bundle carries the signature payload the receipt lists"
ferry_ok import "$IT_TMP/delta.tar" --store "$S2"
assert_eq "referrers after the delta" "$(index_entries "$S")" "$(index_entries "$S2")"
grep -q "$FB1.att $REG/lab/app:1" <(index_entries "$S2") || fail "the delta did not bring the .att referrer"
[[ -f "$S2/blobs/sha256/${ATT1#sha256:}" ]] || fail "the imported store lacks the attestation manifest"
ferry_ok verify --store "$S2"

log "=== 5. the tag moves: the old image's referrers leave index.json"
push_schema2 lab/app:1 --layer moved:1000
ferry_ok sync --once -c "$W"
assert_eq "entries after the move" "$REG/lab/app:1 -" "$(index_entries "$S")"

log "=== 6. the OCI referrers API (answered by a proxy in front of the registry)"
push_schema2 lab/api:1 --layer api:2000
make_referrers lab/api:1 "$IT_TMP/r2"
fault_proxy_start api "$REG_URL"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"artifactType":"application/spdx+json"}]}' \
  "$SBOM" "$(stat -c %s "$IT_TMP/r2/sbom.json")" >"$IT_TMP/api-answer.json"
fault_proxy_rules "$PROXY_RULES" "$("$IT_PYTHON" -c 'import json,sys; print(json.dumps([{"method":"GET","path":"/v2/lab/api/referrers/","status":200,"content_type":"application/vnd.oci.image.index.v1+json","body":open(sys.argv[1]).read()}]))' "$IT_TMP/api-answer.json")"
S3="$IT_TMP/store3"
pmark=$(fault_proxy_mark "$PROXY_LOG")
ferry_ok pull --referrers "$PROXY_ADDR/lab/api:1" --store "$S3" -o "$IT_TMP/api.tar"
FB2="$PROXY_ADDR/lab/api:sha256-${SUBJ#sha256:}"
assert_eq "entries from the API" "$(printf '%s\n' "$PROXY_ADDR/lab/api:1 -" "$PROXY_ADDR/lab/api@$SBOM $PROXY_ADDR/lab/api:1" "$FB2.sig $PROXY_ADDR/lab/api:1" | sort)" \
  "$(index_entries "$S3")"
tail -n +"$((pmark + 1))" "$PROXY_LOG" | grep -q "manifests/sha256-${SUBJ#sha256:}\"" &&
  fail "the fallback tag was asked although the referrers API answered"
ferry_ok verify --store "$S3"

log "=== 7. a referrers answer that is not an index fails the image, naming it"
fault_proxy_rules "$PROXY_RULES" '[{"method":"GET","path":"/v2/lab/api/referrers/","status":200,"content_type":"application/vnd.oci.image.index.v1+json","body":"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{}}"}]'
ferry_rc 1 pull --referrers "$PROXY_ADDR/lab/api:1" --store "$IT_TMP/store4" -o "$IT_TMP/bad.tar"
grep -q "referrers answer" "$IT_TMP/ferry.err" || fail "error does not name the referrers answer: $(cat "$IT_TMP/ferry.err")"
[[ ! -e "$IT_TMP/bad.tar" ]] || fail "a failed pull left its output"
log "refused: $(tail -1 "$IT_TMP/ferry.err")"

log "PASS referrers"
