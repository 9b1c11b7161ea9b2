# shellcheck shell=bash
# Real-tool images and independent consumers for the integration suites.
# Sourced by lib.sh (needs its _spawn, fail, log, it_skopeo, REG...).
#
# Images (tests/support/realworld_images.sh builds them once, shared):
#   rw_images                      build or reuse the shared cache; sets RW_DIR
#   rw_push IMAGE FORM REPO:TAG    push a cached image into $REG with the real tool:
#       v2s2 | oci      podman push --format FORM
#       zstd            podman push --format oci --compression-format zstd
#       uncompressed    skopeo copy --dest-decompress into dir:, uploaded verbatim
#                       (c/image always compresses toward a registry)
#       v2s1            skopeo copy --format v2s1 (registry from start_registry_schema1)
#       all             podman manifest push --all (IMAGE multi)
#     sets RW_PUSHED_REF=$REG/REPO:TAG and RW_PUSHED_DIGEST
#   rw_push_dir DIR REPO:TAG       upload a skopeo dir: (or hand-written: manifest.json
#                                  + blobs named by hex digest) verbatim with curl
#   reg_put_blob FILE REPO / reg_put_manifest FILE REPO REF
#                                  raw uploads (registry mode none only)
#   start_registry_schema1 [MODE]  start_registry with distribution's schema1
#                                  compatibility enabled (it signs v2s1 pushes)
# Consumers (each fails the test with the tool's own message):
#   check_docker_load_run TAR IMAGE   docker load into start_dockerd's engine, then
#                                     docker run --network none IMAGE busybox echo ok
#   check_docker_load TAR             docker load only (images that cannot run here)
#   check_podman_load TAR [IMAGE]     podman load into a private storage
#   start_containerd                  private containerd (root/state/socket in $IT_TMP)
#   check_ctr_import TAR IMAGE [run|norun [FLAGS]]
#                                     ctr images import; with "run", ctr run ... echo ok
#   check_skopeo_inspect REF [ARCH]   skopeo inspect (docker-archive:/oci-archive:/oci:)
#
# Facts (Debian 12 on this machine, root, cgroup v1): dockerd 20.10 + runc run
# containers with --network none; containerd 1.6 + runc runs them with the
# native snapshotter; `podman run` does not (crun: setrlimit RLIMIT_NOFILE EPERM),
# so podman is only a builder and a loader here.

source "$IT_SUPPORT_DIR/realworld_images.sh"

# rw_images: the shared real-tool image cache (built on first use).
rw_images() {
  rw_images_ensure || fail "real-tool test images could not be built"
  export -f rw_podman
}

# _rw_private_bic CMD...: run CMD with an empty, private c/image blob-info cache.
# For root it lives at the fixed /var/lib/containers/cache; a shared one makes
# podman/skopeo reuse ("mount") a gzip blob pushed earlier to another repository
# of the same registry instead of writing the zstd or plain form asked for.
_rw_private_bic() {
  local bic
  bic=$(mktemp -d "$IT_TMP/blob-info-cache.XXXX")
  mkdir -p /var/lib/containers/cache
  unshare -m --propagation private bash -c \
    'mount --bind "$1" /var/lib/containers/cache && shift && "$@"' _ "$bic" "$@"
}

rw_push() {
  local img=${1:?usage: rw_push IMAGE FORM REPO:TAG} form=${2:?} dest=${3:?}
  [[ -n "${REG:-}" ]] || fail "rw_push: no registry (call start_registry first)"
  [[ -n "${RW_DIR:-}" ]] || rw_images
  local log="$IT_TMP/rw-push.log" src="localhost/rw/$img:1"
  local -a pod=(--tls-verify=false)
  [[ -z "${REG_USER:-}" ]] || pod+=(--creds "$REG_USER:$REG_PASS")
  local rc=0
  case "$form" in
    v2s2 | oci)
      rw_locked _rw_private_bic rw_podman push -q "${pod[@]}" --format "$form" "$src" "docker://$REG/$dest" ;;
    zstd)
      rw_locked _rw_private_bic rw_podman push -q "${pod[@]}" --format oci --compression-format zstd \
        "$src" "docker://$REG/$dest" ;;
    all)
      rw_locked _rw_private_bic rw_podman manifest push -q --all "${pod[@]}" "$src" "docker://$REG/$dest" ;;
    v2s1)
      local -a creds
      mapfile -t creds < <(_creds_args dest-)
      _rw_private_bic timeout 180 skopeo --insecure-policy copy -q --dest-tls-verify=false "${creds[@]}" \
        --format v2s1 "oci:$RW_DIR/oci:$img" "docker://$REG/$dest" ;;
    uncompressed)
      local dir="$IT_TMP/rw-dir-${dest//[^A-Za-z0-9._-]/_}"
      rm -rf "$dir"
      timeout 180 skopeo --insecure-policy copy -q --format v2s2 --dest-decompress \
        "oci:$RW_DIR/oci:$img" "dir:$dir" && rw_push_dir "$dir" "$dest" ;;
    *) fail "rw_push: unknown form '$form' (v2s2|oci|zstd|uncompressed|v2s1|all)" ;;
  esac >"$log" 2>&1 || rc=$?
  ((rc == 0)) || { cat "$log" >&2; fail "rw_push $img as $form to $dest failed ($rc)"; }
  RW_PUSHED_REF="$REG/$dest"
  RW_PUSHED_DIGEST=$(reg_digest "$dest")
  export RW_PUSHED_REF RW_PUSHED_DIGEST
  log "pushed $img ($form) to $RW_PUSHED_REF ($RW_PUSHED_DIGEST)"
}

# reg_put_blob FILE REPO: monolithic blob upload (POST, then PUT ?digest=).
reg_put_blob() {
  local file=$1 repo=$2 digest loc
  [[ -z "${REG_USER:-}" ]] || fail "reg_put_blob: only for registries started with mode none"
  digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  loc=$(curl -sS -f --max-time 30 -X POST -D - -o /dev/null "$REG_URL/v2/$repo/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [[ -n "$loc" ]] || fail "reg_put_blob: no upload location for $repo"
  [[ "$loc" == http* ]] || loc="$REG_URL$loc"
  [[ "$loc" == *\?* ]] && loc+="&digest=$digest" || loc+="?digest=$digest"
  curl -sS -f --max-time 60 -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@$file" -o /dev/null "$loc" || fail "reg_put_blob: PUT $digest to $repo failed"
}

# reg_put_manifest FILE REPO REF: PUT the file's exact bytes as a manifest,
# Content-Type taken from its mediaType (schema1 when it has none).
reg_put_manifest() {
  local file=$1 repo=$2 ref=$3 mt
  mt=$(imgtool json "$file" 'd.get("mediaType", "application/vnd.docker.distribution.manifest.v1+prettyjws")')
  curl -sS -f --max-time 30 -X PUT -H "Content-Type: $mt" --data-binary "@$file" -o /dev/null \
    "$REG_URL/v2/$repo/manifests/$ref" || fail "reg_put_manifest: PUT $repo:$ref ($mt) failed"
}

# rw_push_dir DIR REPO:TAG: every blob file of DIR (named by hex digest), then
# DIR/manifest.json as the tag.
rw_push_dir() {
  local dir=$1 dest=$2 f
  local repo=${dest%:*} tag=${dest##*:}
  for f in "$dir"/*; do
    [[ $(basename "$f") =~ ^[0-9a-f]{64}$ ]] && reg_put_blob "$f" "$repo"
  done
  reg_put_manifest "$dir/manifest.json" "$repo" "$tag"
}

# start_registry_schema1 [MODE]: a registry that accepts and signs schema1 pushes.
start_registry_schema1() {
  REG_EXTRA_YAML='compatibility:
  schema1:
    enabled: true' start_registry "${1:-none}"
}

# ------------------------------------------------------------- consumers ----

# check_docker_load TAR: docker load into the private engine must succeed.
check_docker_load() {
  [[ -n "${DOCKER_HOST:-}" ]] || fail "check_docker_load: call start_dockerd first"
  local out
  out=$(docker_cli load -i "$1" 2>&1) || fail "docker load $1 failed: $out"
}

# check_docker_load_run TAR IMAGE: docker load, then the image runs busybox.
check_docker_load_run() {
  local tar=$1 image=$2 out
  check_docker_load "$tar"
  out=$(docker_cli run --rm --network none "$image" /bin/busybox echo ok 2>&1) ||
    fail "docker run $image failed: $out"
  assert_eq "docker run $image output" ok "$out"
  docker_cli rmi -f "$image" >/dev/null 2>&1 || true
}

# it_podman ARGS...: podman on a storage private to this test run.
it_podman() {
  timeout -k 5 180 podman --root "$IT_TMP/podman/storage" --runroot "$IT_TMP/podman/run" \
    --tmpdir "$IT_TMP/podman/tmp" --storage-driver vfs --cgroup-manager cgroupfs \
    --events-backend file "$@"
}

# check_podman_load TAR [IMAGE]: podman load succeeds (and IMAGE then exists).
check_podman_load() {
  local tar=$1 image=${2:-} out
  out=$(it_podman load -i "$tar" 2>&1) || fail "podman load $tar failed: $out"
  if [[ -n "$image" ]]; then
    it_podman image exists "$image" || fail "podman load $tar: no image $image (got: $out)"
  fi
}

# start_containerd: containerd with root, state and sockets under $IT_TMP/ctd,
# no CRI plugin.  Exports CTR_SOCK.  Task shims outlive containerd by design
# (they are re-parented), so cleanup also ends every process whose command
# line names our socket.
start_containerd() {
  _need containerd containerd
  local d="$IT_TMP/ctd"
  mkdir -p "$d/root" "$d/state"
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/c.sock"
[ttrpc]
  address = "$d/c.sock.ttrpc"
[debug]
  address = "$d/debug.sock"
EOF
  _spawn "$d/containerd.log" containerd --config "$d/config.toml"
  CTR_PID=$_SPAWNED_PID
  export CTR_SOCK="$d/c.sock" CTR_LOG="$d/containerd.log"
  on_cleanup _kill_shims_of "$CTR_SOCK"
  _wait_service "$CTR_PID" 30 containerd "$CTR_LOG" ctr -a "$CTR_SOCK" version ||
    fail "containerd did not start"
  log "containerd up at $CTR_SOCK"
}

# _kill_shims_of SOCK: KILL processes whose command line names SOCK exactly.
_kill_shims_of() {
  local f pid cmd
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    cmd=$(tr '\0' ' ' <"$f" 2>/dev/null) || continue
    [[ " $cmd " == *" $1 "* ]] && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

it_ctr() { timeout -k 5 120 ctr -a "$CTR_SOCK" -n ferry-it "$@"; }

# check_ctr_import TAR IMAGE [run|norun [IMPORT_FLAGS...]]: ctr images import
# (native snapshotter, plus IMPORT_FLAGS such as --all-platforms) names IMAGE;
# with "run", a linux/amd64 container of it prints ok.
check_ctr_import() {
  local tar=$1 image=$2 mode=${3:-norun} out
  shift $(($# < 3 ? $# : 3))
  [[ -n "${CTR_SOCK:-}" ]] || fail "check_ctr_import: call start_containerd first"
  out=$(it_ctr images import --snapshotter native "$@" "$tar" 2>&1) ||
    fail "ctr images import $tar failed: $out"
  it_ctr images ls -q | grep -xF "$image" >/dev/null ||
    fail "ctr images import $tar: no image $image (has: $(it_ctr images ls -q | tr '\n' ' '))"
  if [[ "$mode" == run ]]; then
    _CTR_RUNS=$((${_CTR_RUNS:-0} + 1))
    # --platform: the image the name points at must be linux/amd64 itself.
    out=$(it_ctr run --rm --platform linux/amd64 --snapshotter native "$image" "rw-$_CTR_RUNS" \
      /bin/busybox echo ok 2>&1) ||
      fail "ctr run $image failed: $out"
    assert_eq "ctr run $image output" ok "$out"
  fi
  # --sync: containerd's GC must be done before the next import reuses content.
  it_ctr images rm --sync "$image" >/dev/null 2>&1 || true
}

# check_skopeo_inspect REF [ARCH]: skopeo inspect REF works and, with ARCH,
# reports ARCH (picked with --override-arch when REF is a multi-arch index).
check_skopeo_inspect() {
  local ref=$1 arch=${2:-} out
  local -a pick=()
  [[ -z "$arch" ]] || pick=(--override-arch "$arch")
  out=$(it_skopeo "${pick[@]}" inspect "$ref" 2>&1) || fail "skopeo inspect $ref failed: $out"
  if [[ -n "$arch" ]]; then
    assert_eq "skopeo inspect $ref architecture" "$arch" "$(imgtool json - 'd["Architecture"]' <<<"$out")"
  fi
}
