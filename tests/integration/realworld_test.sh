#!/usr/bin/env bash
# Images made by the real tools (podman, buildah, skopeo; hand-written JSON only
# for what no tool makes), pushed into a real registry, pulled by ferry as a
# docker-load tarball and as an OCI archive, and read back by independent
# consumers: dockerd 20.10 (load + run), podman load, containerd (ctr import +
# run), skopeo inspect; ferry verify checks every output.
#
#   REALWORLD_KINDS="podman-v2s2 zstd" bash tests/integration/realworld_test.sh
#
# READY_KINDS run by default.  PENDING_KINDS describe the final behaviour of
# kinds that other branches are building; they are not run (and never count as
# passing) unless named in REALWORLD_KINDS.  A pending kind passes when ferry's
# output loads and runs, or when ferry refuses it before writing anything, with
# a one-line message naming the kind (expect_runs_or_refused).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_KINDS=(podman-v2s2 podman-oci twolayer buildah uncompressed multi-arm64 multi-all attestation
  foreign-layer schema1 zstd tampered-diff-id multi-index nested-index artifact wrong-diff-id)
PENDING_KINDS=()
read -r -a KINDS <<<"${REALWORLD_KINDS:-${READY_KINDS[*]}}"
RWJSON=("$IT_PYTHON" "$IT_SUPPORT_DIR/rwjson.py")
OUT="$IT_TMP/out"
mkdir -p "$OUT"

# pull_both REF NAME [pull options]: ferry pull REF as OUT/NAME.tar and
# OUT/NAME.oci.tar, and ferry verify each.
pull_both() {
  local ref=$1 name=$2
  shift 2
  ferry_ok pull "$ref" "$@" -o "$OUT/$name.tar"
  ferry_ok verify "$OUT/$name.tar"
  ferry_ok pull "$ref" "$@" --format oci-archive -o "$OUT/$name.oci.tar"
  ferry_ok verify "$OUT/$name.oci.tar"
}

# archive_top_digest TAR: the digest of the OCI archive's only index.json entry.
archive_top_digest() {
  tar -xOf "$1" index.json | imgtool json - 'd["manifests"][0]["digest"] if len(d["manifests"]) == 1 else "several"'
}

# consumers_amd64 REF NAME: every consumer on both outputs of an amd64 image.
consumers_amd64() {
  local ref=$1 name=$2
  check_docker_load_run "$OUT/$name.tar" "$ref"
  check_podman_load "$OUT/$name.tar" "$ref"
  check_ctr_import "$OUT/$name.tar" "$ref" run
  check_skopeo_inspect "docker-archive:$OUT/$name.tar" amd64
  check_podman_load "$OUT/$name.oci.tar" "$ref"
  check_ctr_import "$OUT/$name.oci.tar" "$ref" run
  check_skopeo_inspect "oci-archive:$OUT/$name.oci.tar" amd64
}

# image_kind IMAGE FORM NAME: push with the real tool, pull, check everything;
# the OCI archive keeps the registry's manifest digest.
image_kind() {
  local image=$1 form=$2 name=$3
  rw_push "$image" "$form" "rw/$name:1"
  local ref=$RW_PUSHED_REF digest=$RW_PUSHED_DIGEST
  pull_both "$ref" "$name"
  assert_eq "$name: manifest digest in the OCI archive" "$digest" "$(archive_top_digest "$OUT/$name.oci.tar")"
  consumers_amd64 "$ref" "$name"
}

kind_podman_v2s2() { image_kind plain v2s2 podman-v2s2; }
kind_podman_oci() { image_kind plain oci podman-oci; }
kind_twolayer() {
  image_kind twolayer v2s2 twolayer
  local n
  n=$(imgtool docker-tar "$OUT/twolayer.tar" | imgtool json - 'len(d[0]["layers"])')
  assert_eq "twolayer: layers in ferry's tarball" 2 "$n"
}
kind_buildah() { image_kind buildah oci buildah; }
kind_uncompressed() {
  image_kind plain uncompressed uncompressed
  reg_raw_manifest rw/uncompressed:1 | grep '"application/vnd.docker.image.rootfs.diff.tar"' >/dev/null ||
    fail "uncompressed: the registry's manifest has no plain tar layer"
}

# multi-arm64: podman manifest push --all, then ferry pull --platform linux/arm64.
kind_multi_arm64() {
  rw_push multi all rw/multi-arm64:1
  local ref=$RW_PUSHED_REF
  pull_both "$ref" multi-arm64 --platform linux/arm64
  # The arm64 image holds an amd64 busybox (no emulation needed to build it):
  # load and inspect it, never run it.
  check_docker_load "$OUT/multi-arm64.tar"
  assert_eq "multi-arm64: docker sees" arm64 "$(docker_cli image inspect --format '{{.Architecture}}' "$ref")"
  check_podman_load "$OUT/multi-arm64.tar" "$ref"
  check_skopeo_inspect "docker-archive:$OUT/multi-arm64.tar" arm64
  check_skopeo_inspect "oci-archive:$OUT/multi-arm64.oci.tar" arm64
  check_ctr_import "$OUT/multi-arm64.oci.tar" "$ref" norun --platform linux/arm64
}

# multi-all: --all-platforms as an OCI archive: verified, and skopeo reads the
# amd64 image by name.  (Picking arm64, podman load and ctr import need the
# registry's index kept in the archive: pending kind multi-index.)
kind_multi_all() {
  rw_push multi all rw/multi-all:1
  local ref=$RW_PUSHED_REF
  ferry_ok pull "$ref" --all-platforms --format oci-archive -o "$OUT/multi-all.oci.tar"
  ferry_ok verify "$OUT/multi-all.oci.tar"
  check_skopeo_inspect "oci-archive:$OUT/multi-all.oci.tar:$ref" amd64
}

source "$IT_LIB_DIR/realworld_kinds.sh"

# ------------------------------------------------------------------ main ----

ferry_env
rw_images
if [[ " ${KINDS[*]} " == *" schema1 "* || " ${KINDS[*]} " == *" foreign-layer "* ]]; then
  extra_setup
fi
start_registry none
start_dockerd
start_containerd

passed=() failed=()
for k in "${KINDS[@]}"; do
  fn="kind_${k//-/_}"
  declare -F "$fn" >/dev/null || fail "unknown kind '$k' (ready: ${READY_KINDS[*]}; pending: ${PENDING_KINDS[*]})"
  log "=== kind $k"
  t0=$SECONDS
  # A subshell per kind: one failing kind does not hide the others.  Daemons
  # are all started above, in this shell, so cleanup still owns them.
  set +e
  (
    set -e
    "$fn"
  )
  rc=$?
  set -e
  if ((rc == 0)); then passed+=("$k"); log "=== kind $k: ok ($((SECONDS - t0)) s)"; else failed+=("$k"); log "=== kind $k: FAILED"; fi
done
ferry_ok verify
for k in "${PENDING_KINDS[@]}"; do
  [[ " ${KINDS[*]} " == *" $k "* ]] || log "kind $k: pending (not built yet)"
done
echo "realworld: ${#passed[@]} passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
((${#failed[@]} == 0))
