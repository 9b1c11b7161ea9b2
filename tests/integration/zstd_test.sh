#!/usr/bin/env bash
# zstd layers with real tools: podman builds a tiny image (FROM scratch, COPY of
# a root holding Debian's static busybox), pushes it to the test registry with
# zstd layers, ferry pulls it into a docker tarball, and Debian 12's dockerd
# (20.10, which cannot read zstd) loads it with the image ID equal to the
# config digest. ferry verify passes on it; a copy whose config names a wrong
# diff_id fails verify (and docker load refuses it too); --quick says it skipped
# the diff_ids; --keep-zstd keeps the zstd blob, which verify decodes and
# dockerd 20.10 indeed cannot load.
#
#   FERRY_BIN=build/ferry bash tests/integration/zstd_test.sh
#
# Needs (scripts/deps.sh test): podman, busybox-static, docker.io, docker-registry.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
PY=/usr/bin/python3
_need podman podman
[[ -x /bin/busybox ]] && file_is_static=$(ldd /bin/busybox 2>&1 || true)
[[ "${file_is_static:-}" == *"not a dynamic"* ]] || fail "/bin/busybox is not Debian's static busybox (apt-get install busybox-static)"

# ---------------------------------------------------------------- build ----
# podman with private storage under $IT_TMP (vfs: no overlay mounts needed);
# a build without RUN needs no container runtime.
PODMAN_DIR="$IT_TMP/podman"
mkdir -p "$PODMAN_DIR/run" "$PODMAN_DIR/ctx/root/bin" "$PODMAN_DIR/ctx/extra/etc"
it_podman() {
  XDG_RUNTIME_DIR="$PODMAN_DIR/run" timeout -k 5 180 podman --root "$PODMAN_DIR/storage" \
    --runroot "$PODMAN_DIR/runroot" --storage-driver vfs --cgroup-manager cgroupfs --events-backend none "$@"
}
on_cleanup "XDG_RUNTIME_DIR='$PODMAN_DIR/run' podman --root '$PODMAN_DIR/storage' --runroot '$PODMAN_DIR/runroot' --storage-driver vfs system reset -f >/dev/null 2>&1 || true"
cp /bin/busybox "$PODMAN_DIR/ctx/root/bin/busybox"
echo "hello from a zstd layer" >"$PODMAN_DIR/ctx/extra/etc/hello"
cat >"$PODMAN_DIR/ctx/Containerfile" <<'EOF'
FROM scratch
COPY root/ /
COPY extra/ /
CMD ["/bin/busybox", "cat", "/etc/hello"]
EOF
it_podman build -q -t localhost/zstd-test:1 "$PODMAN_DIR/ctx" >"$IT_TMP/build.out" 2>&1 ||
  { cat "$IT_TMP/build.out"; fail "podman build failed"; }
log "podman built localhost/zstd-test:1"

# ----------------------------------------------------------------- push ----
start_registry none
IMG="$REG/zt/app:zstd"
it_podman push --tls-verify=false --compression-format zstd --format oci localhost/zstd-test:1 "docker://$IMG" \
  >"$IT_TMP/push.out" 2>&1 || { cat "$IT_TMP/push.out"; fail "podman push failed"; }
reg_raw_manifest zt/app:zstd >"$IT_TMP/manifest.json"
n_zstd=$(imgtool json "$IT_TMP/manifest.json" "sum(1 for l in d['layers'] if l['mediaType'].endswith('+zstd'))")
n_layers=$(imgtool json "$IT_TMP/manifest.json" "len(d['layers'])")
assert_eq "layers pushed" 2 "$n_layers"
assert_eq "zstd layers pushed (podman --compression-format zstd)" 2 "$n_zstd"
CONFIG_DIGEST=$(imgtool json "$IT_TMP/manifest.json" "d['config']['digest']")
MANIFEST_DIGEST=$(reg_digest zt/app:zstd)
log "pushed $IMG with $n_zstd zstd layers, config $CONFIG_DIGEST"

# ------------------------------------------------- pull -> docker tarball ----
ferry_ok pull "$IMG" -o "$IT_TMP/app.tar"
ferry_ok verify "$IT_TMP/app.tar"
grep -q "OK   app.tar: .*2 layers: digest, size and diff_id checked" "$IT_TMP/ferry.out" ||
  fail "verify output does not say the diff_ids were checked: $(cat "$IT_TMP/ferry.out")"
# No zstd blob is carried: every layer is the plain tar named by its diff_id.
"$PY" - "$IT_TMP/app.tar" "$CONFIG_DIGEST" <<'EOF' || fail "app.tar does not hold plain layers under diff_ids"
import hashlib, json, sys, tarfile
t = tarfile.open(sys.argv[1])
def read(name): return t.extractfile(name).read()
item = json.loads(read("manifest.json"))[0]
assert item["Config"] == "blobs/sha256/" + sys.argv[2].split(":")[1], item
config = json.loads(read(item["Config"]))
ids = config["rootfs"]["diff_ids"]
assert [ "blobs/sha256/" + d.split(":")[1] for d in ids] == item["Layers"], (ids, item["Layers"])
for name in item["Layers"]:
    body = read(name)
    assert body[:4] != b"\x28\xb5\x2f\xfd", name + " is still zstd"
    assert body[257:262] == b"ustar", name + " is not a tar"
EOF

ferry_ok verify --quick "$IT_TMP/app.tar"
grep -q "diff_id checked" "$IT_TMP/ferry.out" ||
  fail "--quick on plain layers: their diff_id is their digest, still checked: $(cat "$IT_TMP/ferry.out")"
ferry_ok verify --store "$XDG_DATA_HOME/ferry/store"
grep -q "2 layers: digest, size and diff_id checked" "$IT_TMP/ferry.out" ||
  fail "verify --store does not say it checked the zstd layers' diff_ids: $(cat "$IT_TMP/ferry.out")"
ferry_ok verify --quick --store "$XDG_DATA_HOME/ferry/store"
grep -q "diff_ids not checked (--quick)" "$IT_TMP/ferry.out" || fail "verify --store --quick: $(cat "$IT_TMP/ferry.out")"

# ------------------------------------------------------------ docker load ----
start_dockerd
docker_cli load -i "$IT_TMP/app.tar" >"$IT_TMP/load.out" 2>&1 || { cat "$IT_TMP/load.out"; fail "docker load of app.tar failed"; }
image_id=$(docker_cli image inspect --format '{{.Id}}' "$IMG")
assert_eq "image ID after docker load" "$CONFIG_DIGEST" "$image_id"
log "dockerd $(docker_cli version --format '{{.Server.Version}}') loaded $IMG as $image_id"

# docker run: dockerd here has no network (--bridge=none) and runs under the
# harness without a systemd; try it, and report exactly why when it cannot run.
if docker_cli run --rm --network none "$IMG" /bin/busybox cat /etc/hello >"$IT_TMP/run.out" 2>"$IT_TMP/run.err"; then
  assert_eq "docker run output" "hello from a zstd layer" "$(cat "$IT_TMP/run.out")"
  docker_cli run --rm --network none "$IMG" /bin/busybox echo ok >"$IT_TMP/run.out" 2>"$IT_TMP/run.err" ||
    fail "docker run echo ok: $(cat "$IT_TMP/run.err")"
  assert_eq "docker run echo ok" "ok" "$(cat "$IT_TMP/run.out")"
  log "docker run printed ok"
else
  log "NOT CHECKED: docker run could not start a container here: $(tr '\n' ' ' <"$IT_TMP/run.err")"
fi

# ----------------------------------------------------------- --keep-zstd ----
ferry_ok pull --keep-zstd "$IMG" -o "$IT_TMP/keep.tar"
ferry_ok verify "$IT_TMP/keep.tar"
grep -q "2 layers: digest, size and diff_id checked" "$IT_TMP/ferry.out" || fail "verify keep.tar: $(cat "$IT_TMP/ferry.out")"
index_digest=$(tar -xOf "$IT_TMP/keep.tar" index.json | imgtool json - "d['manifests'][0]['digest']")
assert_eq "--keep-zstd keeps the registry's manifest" "$MANIFEST_DIGEST" "$index_digest"
ferry_ok verify --quick "$IT_TMP/keep.tar"
grep -q "diff_ids not checked (--quick)" "$IT_TMP/ferry.out" || fail "verify --quick keep.tar: $(cat "$IT_TMP/ferry.out")"
docker_cli rmi "$IMG" >/dev/null
# The report this fixes: Docker before 23 reads a zstd layer as a tar.
server=$(docker_cli version --format '{{.Server.Version}}')
if docker_cli load -i "$IT_TMP/keep.tar" >"$IT_TMP/load-keep.out" 2>&1; then
  [[ $server != 20.10.* ]] || fail "dockerd $server loaded zstd layers, which 20.10 cannot"
  log "note: dockerd $server loads zstd layers"
else
  grep -q "invalid tar header" "$IT_TMP/load-keep.out" || fail "docker load keep.tar: $(cat "$IT_TMP/load-keep.out")"
  log "as expected, dockerd $server cannot load zstd layers: $(tr '\n' ' ' <"$IT_TMP/load-keep.out")"
fi

# ------------------------------------------------------- tampered copies ----
# tamper IN OUT: the config's first diff_id replaced, the config rewritten under
# its new digest and every name that points at it (manifest.json, the OCI
# manifest, index.json) rewritten to match: a tarball consistent in every hash
# whose layer is not what the config says.
tamper() {
  "$PY" - "$1" "$2" <<'EOF'
import hashlib, io, json, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
t = tarfile.open(src)
files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
def put(body):
    name = "blobs/sha256/" + hashlib.sha256(body).hexdigest()
    files[name] = body
    return name
items = json.loads(files["manifest.json"])
config = json.loads(files[items[0]["Config"]])
config["rootfs"]["diff_ids"][0] = "sha256:" + hashlib.sha256(b"not this layer").hexdigest()
new_config = json.dumps(config).encode()
config_name = put(new_config)
items[0]["Config"] = config_name
files["manifest.json"] = json.dumps(items).encode()
index = json.loads(files["index.json"])
m = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]])
m["config"]["digest"] = "sha256:" + config_name.rsplit("/", 1)[1]
m["config"]["size"] = len(new_config)
body = json.dumps(m).encode()
index["manifests"][0]["digest"] = "sha256:" + put(body).rsplit("/", 1)[1]
index["manifests"][0]["size"] = len(body)
files["index.json"] = json.dumps(index).encode()
with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as out:
    for name, data in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
EOF
}
for base in app keep; do
  tamper "$IT_TMP/$base.tar" "$IT_TMP/$base-tampered.tar"
  ferry_rc 1 verify "$IT_TMP/$base-tampered.tar"
  grep -q "FAIL .*has diff_id sha256:.*the config says sha256:$(printf 'not this layer' | sha256sum | cut -d' ' -f1)" \
    "$IT_TMP/ferry.out" || fail "verify $base-tampered.tar did not name the diff_id: $(cat "$IT_TMP/ferry.out")"
  why=$(grep -m1 FAIL "$IT_TMP/ferry.out")
  ferry_rc 1 import "$IT_TMP/$base-tampered.tar" --store "$IT_TMP/offline-$base"
  grep -q "does not verify" "$IT_TMP/ferry.err" || fail "import $base-tampered.tar: $(cat "$IT_TMP/ferry.err")"
  [[ -z "$(ls -A "$IT_TMP/offline-$base/blobs/sha256")" ]] || fail "import of $base-tampered.tar landed blobs"
  log "$base-tampered.tar: verify and import refuse it: $why"
done
# docker load agrees with verify about the plain-layer copy.
if docker_cli load -i "$IT_TMP/app-tampered.tar" >"$IT_TMP/load-bad.out" 2>&1; then
  fail "docker load accepted a tarball whose diff_id is wrong: $(cat "$IT_TMP/load-bad.out")"
fi
log "docker load refuses app-tampered.tar too: $(tr '\n' ' ' <"$IT_TMP/load-bad.out")"
log "zstd_test: OK"
