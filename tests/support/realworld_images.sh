#!/usr/bin/env bash
# shellcheck shell=bash
# Small test images built by the real tools (podman, buildah), once per machine
# and builder version, shared by every integration suite.
#
#   bash tests/support/realworld_images.sh          build if needed, print the dir
#   source tests/support/realworld_images.sh; rw_images_ensure   (sets RW_DIR)
#
# The cache is ${FERRY_IT_SHARED:-/var/tmp/ferry-it-images}/<key>, where <key>
# hashes this script, the podman/buildah versions and the busybox binary, so a
# changed recipe or tool gets a new directory.  An exclusive flock on
# <base>/<key>.lock serialises builders (a second suite waits, then reuses);
# <dir>/complete is written last, so a half-built directory (a killed build) is
# never used: the next caller wipes it and builds again.  Readers take the same
# lock shared (rw_locked) around podman calls on the storage.
#
# Contents of <dir>:
#   storage/ run/ tmp/   containers-storage (vfs) + podman's state; use it only
#                        through rw_podman (or rw_storage_ref for skopeo)
#   oci/                 OCI layout, one tag per image (see RW_IMAGES below), and
#                        tag "multi": the linux/amd64 + linux/arm64 index
#   complete             "ok" + build time; written last
#
# Images (storage name localhost/rw/<name>:1, OCI tag <name>):
#   plain      podman build FROM scratch: COPY of a root with /bin/busybox and
#              /etc/motd; ENV, LABEL, WORKDIR, CMD lines (empty history entries)
#   twolayer   podman build: two COPY lines, so two layers
#   buildah    buildah from scratch; buildah copy; buildah config; buildah commit
#   multi-amd64, multi-arm64
#              podman build --platform (FROM scratch needs no emulation; the
#              arm64 one still carries the amd64 busybox: inspect it, never run it)
#   multi      podman manifest create/add of the two (a manifest list in storage)
# Needs: podman, buildah, skopeo, busybox-static, util-linux (flock).

RW_IMAGES=(plain twolayer buildah multi-amd64 multi-arm64)
RW_BUILDER_SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
RW_BUSYBOX=${RW_BUSYBOX:-/bin/busybox}

# rw_cache_key: a short hash of everything the images depend on.
rw_cache_key() {
  {
    sha256sum "$RW_BUILDER_SCRIPT" "$RW_BUSYBOX" | cut -d' ' -f1
    podman --version
    buildah --version
  } | sha256sum | cut -c1-16
}

# rw_podman ARGS...: podman on the cache's private storage (vfs, no cgroups).
rw_podman() {
  timeout -k 5 300 podman --root "$RW_DIR/storage" --runroot "$RW_DIR/run" \
    --tmpdir "$RW_DIR/tmp" --storage-driver vfs --cgroup-manager cgroupfs \
    --events-backend file "$@"
}

# rw_buildah ARGS...: buildah on the same storage.
rw_buildah() {
  timeout -k 5 300 buildah --root "$RW_DIR/storage" --runroot "$RW_DIR/run" \
    --storage-driver vfs "$@"
}

# rw_storage_ref NAME: the containers-storage reference skopeo needs for NAME.
rw_storage_ref() { echo "containers-storage:[vfs@$RW_DIR/storage+$RW_DIR/run]localhost/rw/$1:1"; }

# rw_locked CMD...: run CMD holding the cache lock shared (no rebuild meanwhile).
rw_locked() { (flock -s -w 600 9 || exit 1; "$@") 9>"$RW_LOCK"; }

# _rw_rootfs DIR: the small real root filesystem every image starts from.
_rw_rootfs() {
  local d=$1
  mkdir -p "$d/rootfs/bin" "$d/rootfs/etc" "$d/extra"
  cp "$RW_BUSYBOX" "$d/rootfs/bin/busybox"
  echo "ferry real-world test image" >"$d/rootfs/etc/motd"
  echo "root:x:0:0:root:/:/bin/busybox" >"$d/rootfs/etc/passwd"
  echo "second layer" >"$d/extra/second.txt"
  cat >"$d/Containerfile.plain" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
LABEL org.opencontainers.image.title=ferry-rw-plain
WORKDIR /
CMD ["/bin/busybox", "sh"]
EOF
  cat >"$d/Containerfile.twolayer" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
COPY extra/ /srv/
LABEL org.opencontainers.image.title=ferry-rw-twolayer
EOF
  printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nLABEL arch=%s\n' amd64 >"$d/Containerfile.amd64"
  printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nLABEL arch=%s\n' arm64 >"$d/Containerfile.arm64"
}

# _rw_build_all: build every image into $RW_DIR (the caller holds the lock).
_rw_build_all() {
  local ctx="$RW_DIR/context" n
  mkdir -p "$RW_DIR/storage" "$RW_DIR/run" "$RW_DIR/tmp"
  _rw_rootfs "$ctx"
  # --no-cache: the arch-specific builds would otherwise reuse each other.
  rw_podman build -q --no-cache -t localhost/rw/plain:1 -f "$ctx/Containerfile.plain" "$ctx"
  rw_podman build -q --no-cache -t localhost/rw/twolayer:1 -f "$ctx/Containerfile.twolayer" "$ctx"
  rw_podman build -q --no-cache --platform linux/amd64 -t localhost/rw/multi-amd64:1 \
    -f "$ctx/Containerfile.amd64" "$ctx"
  rw_podman build -q --no-cache --platform linux/arm64 -t localhost/rw/multi-arm64:1 \
    -f "$ctx/Containerfile.arm64" "$ctx"
  local c
  c=$(rw_buildah from scratch)
  rw_buildah copy "$c" "$ctx/rootfs/" / >/dev/null
  rw_buildah config --env PATH=/bin --workingdir / --label built-by=buildah \
    --cmd '["/bin/busybox","sh"]' --author ferry-tests "$c"
  rw_buildah commit -q "$c" localhost/rw/buildah:1 >/dev/null
  rw_buildah rm "$c" >/dev/null
  rw_podman manifest create localhost/rw/multi:1 >/dev/null
  for n in amd64 arm64; do
    rw_podman manifest add localhost/rw/multi:1 "containers-storage:localhost/rw/multi-$n:1" >/dev/null
  done
  for n in "${RW_IMAGES[@]}"; do
    timeout 120 skopeo --insecure-policy copy -q "$(rw_storage_ref "$n")" "oci:$RW_DIR/oci:$n"
  done
  rw_podman manifest push -q --all localhost/rw/multi:1 "oci:$RW_DIR/oci:multi"
}

# _rw_prune_other_keys BASE KEY: remove caches of older builder versions that
# nobody is using (their lock can be taken at once).
_rw_prune_other_keys() {
  local base=$1 key=$2 d k
  for d in "$base"/*/; do
    k=$(basename "$d")
    [[ "$k" =~ ^[0-9a-f]{16}$ && "$k" != "$key" ]] || continue
    (flock -n -x 8 && rm -rf "$base/$k" "$base/$k.build.log" "$base/$k.lock") 8>>"$base/$k.lock"
  done
}

# rw_images_ensure: make sure the cache is complete; sets RW_DIR and RW_LOCK.
rw_images_ensure() {
  local base=${FERRY_IT_SHARED:-/var/tmp/ferry-it-images} key
  local t0=$SECONDS
  for t in podman buildah skopeo flock; do
    command -v "$t" >/dev/null || { echo "realworld_images: '$t' not found (scripts/deps.sh test)" >&2; return 1; }
  done
  [[ -x "$RW_BUSYBOX" ]] || { echo "realworld_images: $RW_BUSYBOX missing: apt-get install busybox-static" >&2; return 1; }
  key=$(rw_cache_key)
  mkdir -p "$base"
  RW_DIR="$base/$key" RW_LOCK="$base/$key.lock"
  export RW_DIR RW_LOCK
  [[ -f "$RW_DIR/complete" ]] && return 0
  (
    flock -x -w 900 9 || { echo "realworld_images: lock $RW_LOCK busy for 900 s" >&2; exit 1; }
    [[ -f "$RW_DIR/complete" ]] && exit 0
    rm -rf "$RW_DIR"
    mkdir -p "$RW_DIR"
    _rw_build_all >"$base/$key.build.log" 2>&1 ||
      { tail -n 20 "$base/$key.build.log" >&2; echo "realworld_images: build failed (log $base/$key.build.log)" >&2; exit 1; }
    echo "ok $(date -u +%FT%TZ)" >"$RW_DIR/complete"
    _rw_prune_other_keys "$base" "$key"
  ) 9>"$RW_LOCK" || return 1
  echo "realworld_images: built $RW_DIR in $((SECONDS - t0)) s" >&2
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  rw_images_ensure
  echo "$RW_DIR"
fi
