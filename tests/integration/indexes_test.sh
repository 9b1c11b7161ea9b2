#!/usr/bin/env bash
# End-to-end test of nested indexes, attestations and OCI 1.1 artifacts (issue #12)
# against the real docker-registry, podman, skopeo and a private dockerd.
#
#   FERRY_BIN=build/ferry bash tests/integration/indexes_test.sh
#
# What no tool makes is pushed as hand-written JSON with curl (blobs, then
# manifests by digest, then the tag, each with its Content-Type):
#   it/bb:multi     a real two-platform OCI index: podman builds FROM scratch + COPY of
#                   Debian's static busybox for amd64 and arm64, podman manifest push --all
#   it/bb:nested    an OCI index whose only child is that index
#   it/bb:attested  amd64 + a buildx-like attestation manifest (unknown/unknown,
#                   vnd.docker.reference.type: attestation-manifest, in-toto layer)
#   it/bb:sig       an artifact: artifactType, empty config, a cosign-like layer
#   it/bb:onlysig   an index holding nothing but that artifact
# Checks:
#   1. nested -> docker tarball -> docker load; the image is amd64
#   2. nested --all-platforms --format oci-archive: skopeo sees the registry's index
#      digest (it cannot copy nested indexes: that is checked on 3.); containerd (ctr import) lists both
#      platforms under that digest; ferry verify passes; the old silent success
#      (--all-platforms -o X.tar, exit 0, no file) writes a real tarball now
#   3. attested --all-platforms oci-archive keeps the attestation and the digest
#      (skopeo copy --all of the archive to the registry gives the same digest);
#      the docker tarball of it loads one image and holds no attestation
#   4. sig: a docker tarball is refused (exit 1, one line naming the artifact, no
#      file); an oci-archive is written, verifies, imports; verify --store passes
#   5. onlysig --all-platforms -o X.tar: exit 1, no file (was: exit 0, "wrote", no file)
#   6. push of the nested index (and the artifact) to another repository keeps its digest
#   7. export --bundle keeps whole indexes (attestations) and artifacts; it loads in
#      docker, verifies, and an import records the registry's digests
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
command -v podman >/dev/null || fail "podman is needed (Debian package podman)"

STORE="$IT_TMP/store"
OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
size() { stat -c %s "$1"; }

# put_blob REPO FILE: monolithic upload (POST, then PUT ?digest=).
put_blob() {
  local loc
  loc=$(curl -fsS -o /dev/null -D - -X POST "$REG_URL/v2/$1/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [[ -n "$loc" ]] || fail "no upload location for $1"
  [[ "$loc" == http* ]] || loc="$REG_URL$loc"
  local sep='?'
  [[ "$loc" == *'?'* ]] && sep='&'
  curl -fsS -X PUT -H "Content-Type: application/octet-stream" --data-binary "@$2" \
    "$loc${sep}digest=$(sha "$2")" >/dev/null || fail "blob upload of $2 to $1 failed"
}

# put_manifest REPO REF TYPE FILE
put_manifest() {
  curl -fsS -X PUT -H "Content-Type: $3" --data-binary "@$4" "$REG_URL/v2/$1/manifests/$2" >/dev/null ||
    fail "manifest PUT $1:$2 failed: $(curl -sS -X PUT -H "Content-Type: $3" --data-binary "@$4" "$REG_URL/v2/$1/manifests/$2")"
}

# desc TYPE FILE: a descriptor's JSON.
# has_entry TAR NAME: TAR lists NAME (no pipe into grep -q: with pipefail, tar's
# SIGPIPE after an early match would count as a failure).
has_entry() { tar -tf "$1" >"$IT_TMP/.listing" && grep -qx "$2" "$IT_TMP/.listing"; }

desc() { printf '{"mediaType":"%s","digest":"%s","size":%s}' "$1" "$(sha "$2")" "$(size "$2")"; }

###############################################################################
log "=== setup: registry, a real two-platform index built by podman"
start_registry none
PM=(podman --storage-driver vfs --root "$IT_TMP/podman/root" --runroot "$IT_TMP/podman/run")
on_cleanup "rm -rf '$IT_TMP/podman' 2>/dev/null || true"
for arch in amd64 arm64; do
  # One context per platform, each with its own file: the build cache must not
  # hand the amd64 image back for arm64.
  ctx="$IT_TMP/ctx-$arch"
  mkdir -p "$ctx/bin" "$ctx/etc"
  cp /usr/bin/busybox "$ctx/bin/busybox"
  echo "$arch" >"$ctx/etc/platform"
  printf 'FROM scratch\nCOPY bin /bin\nCOPY etc /etc\nCMD ["/bin/busybox","true"]\n' >"$ctx/Containerfile"
  timeout 300 "${PM[@]}" build --no-cache --arch "$arch" -t "localhost/bb:$arch" "$ctx" >"$IT_TMP/build-$arch.log" 2>&1 ||
    { cat "$IT_TMP/build-$arch.log"; fail "podman build --arch $arch failed"; }
done
timeout 60 "${PM[@]}" manifest create localhost/bb:multi >/dev/null
for arch in amd64 arm64; do
  timeout 60 "${PM[@]}" manifest add localhost/bb:multi "containers-storage:localhost/bb:$arch" >/dev/null
done
timeout 120 "${PM[@]}" manifest push --all --format oci --tls-verify=false localhost/bb:multi "docker://$REG/it/bb:multi" \
  >"$IT_TMP/push.log" 2>&1 || { cat "$IT_TMP/push.log"; fail "podman manifest push failed"; }
reg_raw_manifest it/bb:multi >"$IT_TMP/multi.json"
assert_eq "podman pushed an OCI index" "$OCI_INDEX" "$(imgtool json "$IT_TMP/multi.json" 'd["mediaType"]')"
assert_eq "platforms in podman's index" "amd64 arm64" \
  "$(imgtool json "$IT_TMP/multi.json" '" ".join(sorted(m["platform"]["architecture"] for m in d["manifests"]))')"
AMD64=$(imgtool json "$IT_TMP/multi.json" '[m["digest"] for m in d["manifests"] if m["platform"]["architecture"]=="amd64"][0]')
AMD64_SIZE=$(imgtool json "$IT_TMP/multi.json" '[m["size"] for m in d["manifests"] if m["platform"]["architecture"]=="amd64"][0]')

log "=== setup: hand-written nested index, attestation index, artifact"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$OCI_INDEX" "$(desc "$OCI_INDEX" "$IT_TMP/multi.json")" \
  >"$IT_TMP/nested.json"
put_manifest it/bb nested "$OCI_INDEX" "$IT_TMP/nested.json"

printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[]}' \
  >"$IT_TMP/intoto.json"
printf '{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$(sha "$IT_TMP/intoto.json")" >"$IT_TMP/att-config.json"
put_blob it/bb "$IT_TMP/intoto.json"
put_blob it/bb "$IT_TMP/att-config.json"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[{"mediaType":"application/vnd.in-toto+json","digest":"%s","size":%s,"annotations":{"in-toto.io/predicate-type":"https://slsa.dev/provenance/v0.2"}}]}' \
  "$OCI_MANIFEST" "$(desc application/vnd.oci.image.config.v1+json "$IT_TMP/att-config.json")" \
  "$(sha "$IT_TMP/intoto.json")" "$(size "$IT_TMP/intoto.json")" >"$IT_TMP/att.json"
put_manifest it/bb "$(sha "$IT_TMP/att.json")" "$OCI_MANIFEST" "$IT_TMP/att.json"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"%s","digest":"%s","size":%s,"annotations":{"vnd.docker.reference.digest":"%s","vnd.docker.reference.type":"attestation-manifest"},"platform":{"architecture":"unknown","os":"unknown"}}]}' \
  "$OCI_INDEX" "$OCI_MANIFEST" "$AMD64" "$AMD64_SIZE" "$OCI_MANIFEST" "$(sha "$IT_TMP/att.json")" "$(size "$IT_TMP/att.json")" \
  "$AMD64" >"$IT_TMP/attested.json"
put_manifest it/bb attested "$OCI_INDEX" "$IT_TMP/attested.json"

SIG_TYPE=application/vnd.dev.cosign.artifact.sig.v1+json
printf '{}' >"$IT_TMP/empty.json"
printf '{"critical":{"identity":{"docker-reference":"%s/it/bb"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
  "$REG" "$AMD64" >"$IT_TMP/simplesigning.json"
put_blob it/bb "$IT_TMP/empty.json"
put_blob it/bb "$IT_TMP/simplesigning.json"
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":%s,"layers":[%s],"subject":{"mediaType":"%s","digest":"%s","size":%s}}' \
  "$OCI_MANIFEST" "$SIG_TYPE" "$(desc application/vnd.oci.empty.v1+json "$IT_TMP/empty.json")" \
  "$(desc application/vnd.dev.cosign.simplesigning.v1+json "$IT_TMP/simplesigning.json")" \
  "$OCI_MANIFEST" "$AMD64" "$AMD64_SIZE" >"$IT_TMP/sig.json"
put_manifest it/bb sig "$OCI_MANIFEST" "$IT_TMP/sig.json"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$OCI_INDEX" "$(desc "$OCI_MANIFEST" "$IT_TMP/sig.json")" \
  >"$IT_TMP/onlysig.json"
put_manifest it/bb onlysig "$OCI_INDEX" "$IT_TMP/onlysig.json"
assert_eq "the registry serves the nested index as written" "$(sha "$IT_TMP/nested.json")" "$(reg_digest it/bb:nested)"

###############################################################################
log "=== 1. a nested index -> docker tarball -> docker load"
start_dockerd
ferry_ok pull --store "$STORE" "$REG/it/bb:nested" -o "$IT_TMP/nested.tar"
docker_cli load -i "$IT_TMP/nested.tar" >"$IT_TMP/load.out" 2>&1 || { cat "$IT_TMP/load.out"; fail "docker load failed"; }
assert_eq "loaded image architecture" amd64 "$(docker_cli image inspect -f '{{.Architecture}}' "$REG/it/bb:nested")"
ferry_ok verify "$IT_TMP/nested.tar"

###############################################################################
log "=== 2. --all-platforms of the nested index keeps the registry's index digest"
ferry_ok pull --store "$STORE" --all-platforms --format oci-archive "$REG/it/bb:nested" -o "$IT_TMP/nested.oci.tar"
it_skopeo inspect --raw "oci-archive:$IT_TMP/nested.oci.tar" >"$IT_TMP/got-index.json"
assert_eq "index digest across the gap" "$(sha "$IT_TMP/nested.json")" "$(sha "$IT_TMP/got-index.json")"
# containerd (dockerd's own, through ctr) imports the whole tree: both platforms.
CTR_SOCK=$(find "$IT_TMP/docker/exec" -name containerd.sock -print -quit)
[[ -S "$CTR_SOCK" ]] || fail "no containerd socket under $IT_TMP/docker/exec"
CTR=(timeout 120 ctr --address "$CTR_SOCK" -n ferry-it)
"${CTR[@]}" images import --all-platforms --index-name "it/nested" "$IT_TMP/nested.oci.tar" >"$IT_TMP/ctr.out" 2>&1 ||
  { cat "$IT_TMP/ctr.out"; fail "ctr images import failed"; }
"${CTR[@]}" images ls >"$IT_TMP/ctr-ls.out"
grep -q "$(sha "$IT_TMP/nested.json")" "$IT_TMP/ctr-ls.out" || { cat "$IT_TMP/ctr-ls.out"; fail "ctr does not list the index digest"; }
for arch in amd64 arm64; do
  grep -q "linux/$arch" "$IT_TMP/ctr-ls.out" || { cat "$IT_TMP/ctr-ls.out"; fail "ctr sees no linux/$arch"; }
done
ferry_ok verify "$IT_TMP/nested.oci.tar"
# The same pull as a docker tarball: before, exit 0 and "wrote" with no file at all.
ferry_ok pull --store "$STORE" --all-platforms "$REG/it/bb:nested" -o "$IT_TMP/nested-all.tar"
[[ -s "$IT_TMP/nested-all.tar" ]] || fail "--all-platforms -o nested-all.tar exited 0 without the file"
ferry_ok verify "$IT_TMP/nested-all.tar"
docker_cli load -i "$IT_TMP/nested-all.tar" >"$IT_TMP/load2.out" 2>&1 || { cat "$IT_TMP/load2.out"; fail "docker load (all) failed"; }

###############################################################################
log "=== 3. an attestation is kept under its index in an all-platforms OCI archive"
ferry_ok pull --store "$STORE" --all-platforms --format oci-archive "$REG/it/bb:attested" -o "$IT_TMP/att.oci.tar"
it_skopeo inspect --raw "oci-archive:$IT_TMP/att.oci.tar" >"$IT_TMP/got-att.json"
assert_eq "attested index digest" "$(sha "$IT_TMP/attested.json")" "$(sha "$IT_TMP/got-att.json")"
ATT_HEX=$(sha "$IT_TMP/att.json" | cut -d: -f2)
INTOTO_HEX=$(sha "$IT_TMP/intoto.json" | cut -d: -f2)
has_entry "$IT_TMP/att.oci.tar" "blobs/sha256/$ATT_HEX" || fail "attestation manifest missing from the archive"
has_entry "$IT_TMP/att.oci.tar" "blobs/sha256/$INTOTO_HEX" || fail "attestation statement missing from the archive"
ferry_ok verify "$IT_TMP/att.oci.tar"
# skopeo copies the whole archive back to a registry with the same index digest
# (containers/image does not descend nested indexes, so this is the flat one).
it_skopeo copy --all --dest-tls-verify=false "oci-archive:$IT_TMP/att.oci.tar" "docker://$REG/it/copy:attested" \
  >"$IT_TMP/copy.out" 2>&1 || { cat "$IT_TMP/copy.out"; fail "skopeo copy of the archive failed"; }
assert_eq "skopeo copy keeps the index digest" "$(sha "$IT_TMP/attested.json")" "$(reg_digest it/copy:attested)"
ferry_ok pull --store "$STORE" "$REG/it/bb:attested" -o "$IT_TMP/att.tar"
assert_eq "manifest.json images" 1 "$(tar -xOf "$IT_TMP/att.tar" manifest.json | imgtool json - 'len(d)')"
if has_entry "$IT_TMP/att.tar" "blobs/sha256/$ATT_HEX"; then fail "the docker tarball carries the attestation"; fi
docker_cli load -i "$IT_TMP/att.tar" >"$IT_TMP/load3.out" 2>&1 || { cat "$IT_TMP/load3.out"; fail "docker load (attested) failed"; }

###############################################################################
log "=== 4. an artifact: refused for docker tarballs, carried by OCI archives"
ferry_rc 1 pull --store "$STORE" "$REG/it/bb:sig" -o "$IT_TMP/sig.tar"
grep -qF "ferry: pull: $REG/it/bb:sig: is an artifact ($SIG_TYPE), not an image: a docker-load tarball cannot carry it; use --format oci-archive" \
  "$IT_TMP/ferry.err" || { cat "$IT_TMP/ferry.err"; fail "the refusal line is not as documented"; }
[[ ! -e "$IT_TMP/sig.tar" ]] || fail "a refused docker tarball was written"
ferry_ok pull --store "$STORE" --format oci-archive "$REG/it/bb:sig" -o "$IT_TMP/sig.oci.tar"
ferry_ok verify "$IT_TMP/sig.oci.tar"
assert_eq "artifact manifest digest" "$(sha "$IT_TMP/sig.json")" "$(it_skopeo inspect --raw "oci-archive:$IT_TMP/sig.oci.tar" | sha /dev/stdin)"
ferry_ok verify --store "$STORE"
ferry_ok import --store "$IT_TMP/offline" "$IT_TMP/sig.oci.tar"
ferry_ok import --store "$IT_TMP/offline" "$IT_TMP/nested.oci.tar"
ferry_ok verify --store "$IT_TMP/offline"
assert_eq "import keeps the index as the reference's entry" "$(sha "$IT_TMP/nested.json")" \
  "$(imgtool json "$IT_TMP/offline/index.json" \
    '[m["digest"] for m in d["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"].endswith("it/bb:nested")][0]')"

###############################################################################
log "=== 5. nothing to export is a failure, not a silent success"
ferry_rc 1 pull --store "$STORE" --all-platforms "$REG/it/bb:onlysig" -o "$IT_TMP/onlysig.tar"
[[ ! -e "$IT_TMP/onlysig.tar" ]] || fail "onlysig.tar was written"
grep -q "no platform image in it" "$IT_TMP/ferry.err" || { cat "$IT_TMP/ferry.err"; fail "no reason given"; }

###############################################################################
log "=== 6. push of the nested index from the offline store keeps its digest"
ferry_ok push --store "$IT_TMP/offline" "$REG/it/bb:nested" "$REG/it/pushed:nested"
assert_eq "pushed nested index digest" "$(sha "$IT_TMP/nested.json")" "$(reg_digest it/pushed:nested)"
ferry_ok push --store "$IT_TMP/offline" "$REG/it/bb:sig" "$REG/it/pushed:sig"
assert_eq "pushed artifact digest" "$(sha "$IT_TMP/sig.json")" "$(reg_digest it/pushed:sig)"

###############################################################################
log "=== 7. a bundle keeps whole indexes (attestations included) and artifacts"
ferry_ok export --store "$STORE" --bundle "$IT_TMP/bundle.tar"
has_entry "$IT_TMP/bundle.tar" "blobs/sha256/$ATT_HEX" || fail "the bundle lacks the attestation manifest"
has_entry "$IT_TMP/bundle.tar" "blobs/sha256/$INTOTO_HEX" || fail "the bundle lacks the attestation statement"
ferry_ok verify "$IT_TMP/bundle.tar"
docker_cli load -i "$IT_TMP/bundle.tar" >"$IT_TMP/load4.out" 2>&1 || { cat "$IT_TMP/load4.out"; fail "docker load of the bundle failed"; }
ferry_ok import --store "$IT_TMP/offline2" "$IT_TMP/bundle.tar"
ferry_ok verify --store "$IT_TMP/offline2"
entry_of() { # STORE REPO:TAG
  imgtool json "$1/index.json" \
    "[m['digest'] for m in d['manifests'] if m['annotations']['org.opencontainers.image.ref.name'].endswith('$2')]"
}
assert_eq "bundle import: attested index" "$(sha "$IT_TMP/attested.json")" "$(entry_of "$IT_TMP/offline2" it/bb:attested)"
assert_eq "bundle import: nested index" "$(sha "$IT_TMP/nested.json")" "$(entry_of "$IT_TMP/offline2" it/bb:nested)"
assert_eq "bundle import: artifact" "$(sha "$IT_TMP/sig.json")" "$(entry_of "$IT_TMP/offline2" it/bb:sig)"

log "PASS indexes"
