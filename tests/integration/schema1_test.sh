#!/usr/bin/env bash
# Docker schema1 images end to end, with real tools only.
#
# A small image is built with podman (FROM scratch + COPY of Debian's static
# busybox, plus ENV and LABEL lines that become throwaway history entries),
# pushed as schema1 by skopeo (--format v2s1) to Debian's docker-registry with
# schema1 compatibility on, which then serves it signed
# (application/vnd.docker.distribution.manifest.v1+prettyjws, digest over the
# JWS payload). ferry must pull it to a docker tarball that the private dockerd
# loads and runs, keep a store that `ferry verify --store` accepts, treat a second sync
# as unchanged (HEAD only), and write an OCI archive skopeo can read.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
_need podman podman
_need skopeo skopeo
dpkg-query -W busybox-static >/dev/null 2>&1 && [[ -x /bin/busybox ]] ||
  fail "no static /bin/busybox: apt-get install busybox-static"

###############################################################################
log "=== setup: registry with schema1, an image built by podman, pushed as v2s1"
# distribution 2.8 refuses schema1 pushes unless compatibility.schema1 is enabled
# (as realworld_lib.sh's start_registry_schema1 does; its image cache is not needed here).
REG_EXTRA_YAML='compatibility:
  schema1:
    enabled: true' start_registry none

# build_schema1_image REPO:TAG: podman build in private vfs storage, skopeo
# copy --format v2s1 into the registry. Sets SCHEMA1_DIGEST (the registry's).
build_schema1_image() {
  local dest=$1 ctx="$IT_TMP/ctx" graph="$IT_TMP/podman-graph" run="$IT_TMP/podman-run"
  mkdir -p "$ctx/root/bin" "$ctx/root/etc"
  cp /bin/busybox "$ctx/root/bin/busybox"
  echo "ferry schema1 test" >"$ctx/root/etc/motd"
  cat >"$ctx/Containerfile" <<'CF'
FROM scratch
COPY root/ /
ENV FERRY_TEST=schema1
LABEL org.example.ferry=schema1
CMD ["/bin/busybox", "cat", "/etc/motd"]
CF
  local -a pm=(podman --storage-driver vfs --root "$graph" --runroot "$run" --cgroup-manager cgroupfs)
  timeout 300 "${pm[@]}" build --format docker -t "localhost/ferry-s1:latest" "$ctx" >"$IT_TMP/build.log" 2>&1 ||
    { cat "$IT_TMP/build.log" >&2; fail "podman build failed"; }
  it_skopeo copy --quiet --format v2s1 --dest-tls-verify=false \
    "containers-storage:[vfs@$graph+$run]localhost/ferry-s1:latest" "docker://$REG/$dest" \
    >"$IT_TMP/copy.log" 2>&1 || { cat "$IT_TMP/copy.log" >&2; fail "skopeo copy --format v2s1 failed"; }
}
build_schema1_image s1/app:v1

# The registry serves it signed, and its digest is not the sha256 of the bytes.
curl -sS --max-time 10 -D "$IT_TMP/m.headers" -o "$IT_TMP/m.json" "$REG_URL/v2/s1/app/manifests/v1"
grep -qi '^content-type: application/vnd.docker.distribution.manifest.v1+prettyjws' "$IT_TMP/m.headers" ||
  fail "registry does not serve prettyjws: $(cat "$IT_TMP/m.headers")"
grep -q '"signatures"' "$IT_TMP/m.json" || fail "served manifest has no signatures"
SCHEMA1_DIGEST=$(tr -d '\r' <"$IT_TMP/m.headers" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
[[ "$SCHEMA1_DIGEST" == sha256:* ]] || fail "no Docker-Content-Digest"
[[ "sha256:$(sha256sum <"$IT_TMP/m.json" | cut -d' ' -f1)" != "$SCHEMA1_DIGEST" ]] ||
  fail "the body hashes to the digest: this is not a signed schema1 manifest"
THROWAWAYS=$(imgtool json "$IT_TMP/m.json" \
  'sum(1 for h in d["history"] if __import__("json").loads(h["v1Compatibility"]).get("throwaway"))')
((THROWAWAYS >= 2)) || fail "expected throwaway history entries (ENV, LABEL, CMD), got $THROWAWAYS"
log "schema1 manifest $SCHEMA1_DIGEST with $THROWAWAYS throwaway entries"

###############################################################################
log "=== 1. ferry pull to a docker tarball; docker load; verify --store"
STORE="$IT_TMP/store"
ferry_ok pull --store "$STORE" "$REG/s1/app:v1" -o "$IT_TMP/app.tar"
ENTRY_TYPE=$(imgtool json "$STORE/index.json" 'd["manifests"][0]["mediaType"]')
assert_eq "index.json entry type" application/vnd.docker.distribution.manifest.v2+json "$ENTRY_TYPE"
assert_eq "schema1 annotation" "$SCHEMA1_DIGEST" \
  "$(imgtool json "$STORE/index.json" 'd["manifests"][0]["annotations"]["io.github.ferry.schema1.digest"]')"
[[ -f "$STORE/blobs/sha256/${SCHEMA1_DIGEST#sha256:}" ]] || fail "the schema1 payload is not in the store"
ferry_ok verify --store "$STORE"
ferry_ok verify "$IT_TMP/app.tar"

start_dockerd
docker_cli load -i "$IT_TMP/app.tar" >"$IT_TMP/load.out" 2>&1 || { cat "$IT_TMP/load.out" >&2; fail "docker load failed"; }
docker_cli image inspect "$REG/s1/app:v1" >"$IT_TMP/dinspect.json" || fail "docker has no $REG/s1/app:v1"
imgtool json "$IT_TMP/dinspect.json" '"FERRY_TEST=schema1" in d[0]["Config"]["Env"]' | grep -qx true ||
  fail "loaded image lost its ENV: $(cat "$IT_TMP/dinspect.json")"
assert_eq "loaded image label" schema1 "$(imgtool json "$IT_TMP/dinspect.json" 'd[0]["Config"]["Labels"]["org.example.ferry"]')"
# Runs (dockerd 20.10 + runc with --network none work on this machine).
RUN_OUT=$(docker_cli run --rm --network none "$REG/s1/app:v1" 2>&1) || fail "docker run failed: $RUN_OUT"
assert_eq "docker run output (CMD cat /etc/motd)" "ferry schema1 test" "$RUN_OUT"
assert_eq "loaded image layers" 1 "$(imgtool json "$IT_TMP/dinspect.json" 'len(d[0]["RootFS"]["Layers"])')"
# docker's own diff_id (it decompressed the layer itself) is the one ferry computed.
CONFIG_DIGEST=$(imgtool json "$STORE/blobs/sha256/$(imgtool json "$STORE/index.json" 'd["manifests"][0]["digest"][7:]')" \
  'd["config"]["digest"]')
assert_eq "docker's diff_id = ferry's" \
  "$(imgtool json "$STORE/blobs/sha256/${CONFIG_DIGEST#sha256:}" 'd["rootfs"]["diff_ids"][0]')" \
  "$(imgtool json "$IT_TMP/dinspect.json" 'd[0]["RootFS"]["Layers"][0]')"

###############################################################################
log "=== 2. a second sync is HEAD only, and the conversion is deterministic"
WATCH="$IT_TMP/watch.yaml"
cat >"$WATCH" <<EOF
store: $STORE
export: $IT_TMP/export
images:
  - $REG/s1/app:v1
EOF
ferry_ok sync --once -c "$WATCH"
FIRST=$(imgtool json "$STORE/index.json" 'd["manifests"][0]["digest"]')
mark=$(reg_log_mark)
ferry_ok sync --once -c "$WATCH"
assert_eq "manifest GETs in the second sync" 0 "$(count_requests GET '/v2/s1/app/manifests/' "$mark")"
assert_eq "manifest HEADs in the second sync" 1 "$(count_requests HEAD '/v2/s1/app/manifests/v1' "$mark")"
assert_eq "blob GETs in the second sync" 0 "$(count_requests GET '/v2/s1/app/blobs/' "$mark")"
assert_eq "entry after the second sync" "$FIRST" "$(imgtool json "$STORE/index.json" 'd["manifests"][0]["digest"]')"
# A fresh store converts the (re-fetched) manifest to the very same bytes.
ferry_ok pull --store "$IT_TMP/store2" "$REG/s1/app:v1" -o "$IT_TMP/app2.tar"
assert_eq "schema2 digest in a second store" "$FIRST" \
  "$(imgtool json "$IT_TMP/store2/index.json" 'd["manifests"][0]["digest"]')"

###############################################################################
log "=== 3. an OCI archive export that skopeo reads; a pinned schema1 digest"
ferry_ok pull --store "$STORE" "$REG/s1/app@$SCHEMA1_DIGEST" --format oci-archive -o "$IT_TMP/app.oci.tar"
it_skopeo inspect "oci-archive:$IT_TMP/app.oci.tar" >"$IT_TMP/oci-inspect.json" ||
  fail "skopeo cannot read the OCI archive"
assert_eq "OCI archive architecture" amd64 "$(imgtool json "$IT_TMP/oci-inspect.json" 'd["Architecture"]')"
assert_eq "OCI archive label" schema1 "$(imgtool json "$IT_TMP/oci-inspect.json" 'd["Labels"]["org.example.ferry"]')"
ferry_ok verify --store "$STORE"

###############################################################################
log "=== 4. ferry push sends the converted schema2 image, digests kept"
ferry_ok push --store "$STORE" "$REG/s1/app:v1" --to "$REG/mirror"
PUSHED=$(curl -sS --max-time 10 -D "$IT_TMP/p.headers" -o "$IT_TMP/p.json" \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "$REG_URL/v2/mirror/s1/app/manifests/v1" &&
  tr -d '\r' <"$IT_TMP/p.headers" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
assert_eq "pushed manifest digest" "$FIRST" "$PUSHED"
it_skopeo inspect --tls-verify=false "docker://$REG/mirror/s1/app:v1" >"$IT_TMP/push-inspect.json" ||
  fail "skopeo cannot inspect the pushed image"
assert_eq "pushed image label" schema1 "$(imgtool json "$IT_TMP/push-inspect.json" 'd["Labels"]["org.example.ferry"]')"

###############################################################################
log "=== 5. a platform the schema1 image is not for fails in one line"
ferry_rc 1 pull --store "$STORE" --platform linux/arm64 "$REG/s1/app:v1" -o "$IT_TMP/arm.tar"
grep -q 'schema1 image: the manifest is for linux/amd64 only' "$IT_TMP/ferry.err" ||
  fail "unexpected error: $(cat "$IT_TMP/ferry.err")"
assert_eq "error lines" 1 "$(grep -c 'ferry: pull:' "$IT_TMP/ferry.err")"

log "schema1: all passed"
