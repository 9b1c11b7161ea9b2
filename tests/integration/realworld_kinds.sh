# shellcheck shell=bash
# The kinds of realworld_test.sh made from hand-written JSON or needing extra
# daemons (attestation, foreign-layer, and every PENDING_KINDS one), written
# with their final expected behaviour.  Sourced by realworld_test.sh; uses its
# OUT, RWJSON, pull_both and consumers_amd64.

# extra_setup: the daemons only some kinds need, started in the main shell
# (before start_registry none, so REG stays the main registry): a registry with
# schema1 compatibility that also accepts foreign-layer URLs on 127.0.0.1
# (distribution refuses every URL unless validation.manifests.urls.allow
# matches it): S1_REG, S1_REG_URL; and a file server for those URLs (FILES_DIR
# served at FILES_URL).  Repositories are named rw/caseN so that a refusal
# message can only name the kind by saying what is wrong.
extra_setup() {
  REG_EXTRA_YAML='compatibility:
  schema1:
    enabled: true
validation:
  manifests:
    urls:
      allow:
        - "^http://127[.]0[.]0[.]1:"' start_registry none
  S1_REG=$REG S1_REG_URL=$REG_URL
  FILES_DIR="$IT_TMP/files"
  mkdir -p "$FILES_DIR"
  local port
  port=$(free_port)
  _spawn "$IT_TMP/files.log" "$IT_PYTHON" -m http.server --bind 127.0.0.1 --directory "$FILES_DIR" "$port"
  FILES_URL="http://127.0.0.1:$port"
  echo ok >"$FILES_DIR/ping"
  _wait_service "$_SPAWNED_PID" 20 "file server" "$IT_TMP/files.log" curl -sf "$FILES_URL/ping" ||
    fail "file server did not start"
}

# expect_refused NAME WORD_REGEX OUTPUT [RC]: the last ferry pull exited 1,
# wrote nothing at OUTPUT, and printed one 'ferry: ' error line that names the
# kind (WORD_REGEX, matched case-insensitively with output paths and rw/caseN
# references taken out, so only the reason can match).
expect_refused() {
  local name=$1 word=$2 out=$3 rc=${4:-1}
  local err="$IT_TMP/ferry.err" lines msg
  [[ ! -e "$out" ]] || fail "$name: ferry pull exited $rc but wrote $out"
  lines=$(grep -c '^ferry: ' "$err" || true)
  [[ "$rc" == 1 && "$lines" == 1 ]] ||
    { cat "$err" >&2; fail "$name: want exit 1 and one 'ferry: ' error line, got exit $rc and $lines lines"; }
  msg=$(grep '^ferry: ' "$err")
  sed -E -e "s#$OUT/[^ :]*##g" -e 's#rw/case[0-9]+[^ :]*##g' <<<"$msg" | grep -Ei "$word" >/dev/null ||
    fail "$name: the error does not name /$word/: $msg"
  log "$name: refused: $msg"
}

# expect_runs_or_refused NAME WORD_REGEX REF [pull options]: either ferry's
# outputs load and run in dockerd and containerd (all consumers), or ferry
# refuses before writing anything (expect_refused).
expect_runs_or_refused() {
  local name=$1 word=$2 ref=$3 rc=0
  shift 3
  ferry pull "$ref" "$@" -o "$OUT/$name.tar" || rc=$?
  if ((rc != 0)); then
    expect_refused "$name" "$word" "$OUT/$name.tar" "$rc"
    return
  fi
  ferry_ok verify "$OUT/$name.tar"
  ferry_ok pull "$ref" "$@" --format oci-archive -o "$OUT/$name.oci.tar"
  ferry_ok verify "$OUT/$name.oci.tar"
  consumers_amd64 "$ref" "$name"
}

# _fetch_blob REPO DIGEST FILE: a blob of the current registry into FILE.
_fetch_blob() { curl -sSf --max-time 60 -o "$3" "$REG_URL/v2/$1/blobs/$2" || fail "GET blob $2 of $1 failed"; }

# multi-index: --all-platforms --format oci-archive keeps the registry's index
# (one index.json entry, its digest) so a consumer can pick a platform:
# skopeo inspect --override-arch arm64 must see the arm64 image.  Today's ferry
# lists each platform's manifest under the same ref.name instead: skopeo always
# takes the first one, podman load says "more than one image in oci, choose an
# image", and ctr import binds the name to the last one (its unpack of the first
# then races containerd's GC: "content digest ...: not found").
kind_multi_index() {
  rw_push multi all rw/case1:1
  local ref=$RW_PUSHED_REF digest=$RW_PUSHED_DIGEST
  ferry_ok pull "$ref" --all-platforms --format oci-archive -o "$OUT/multi-index.oci.tar"
  ferry_ok verify "$OUT/multi-index.oci.tar"
  assert_eq "multi-index: index digest in the OCI archive" "$digest" "$(archive_top_digest "$OUT/multi-index.oci.tar")"
  check_skopeo_inspect "oci-archive:$OUT/multi-index.oci.tar" arm64
  check_skopeo_inspect "oci-archive:$OUT/multi-index.oci.tar" amd64
  check_podman_load "$OUT/multi-index.oci.tar" "$ref"
  check_ctr_import "$OUT/multi-index.oci.tar" "$ref" run --all-platforms
}

kind_zstd() {
  rw_push plain zstd rw/case2:1
  reg_raw_manifest rw/case2:1 | grep 'tar+zstd' >/dev/null || fail "zstd: podman pushed no zstd layer"
  expect_runs_or_refused zstd 'zstd' "$RW_PUSHED_REF"
}

kind_schema1() {
  REG=$S1_REG REG_URL=$S1_REG_URL
  rw_push plain v2s1 rw/case3:1
  reg_raw_manifest rw/case3:1 | grep '"fsLayers"' >/dev/null || fail "schema1: the registry holds no schema1 manifest"
  expect_runs_or_refused schema1 'schema ?1|schema version 1|v2s1' "$RW_PUSHED_REF"
}

# nested-index: an OCI index whose only entry is podman's manifest list.
kind_nested_index() {
  rw_push multi all rw/case4:inner
  local inner="$IT_TMP/nested-inner.json" outer="$IT_TMP/nested-outer.json"
  reg_raw_manifest rw/case4:inner >"$inner"
  local mt size
  mt=$(imgtool json "$inner" 'd["mediaType"]')
  size=$(wc -c <"$inner")
  "${RWJSON[@]}" index "$mt:$RW_PUSHED_DIGEST:$size" >"$outer"
  reg_put_manifest "$outer" rw/case4 1
  expect_runs_or_refused nested-index 'nested|index' "$REG/rw/case4:1"
}

# artifact: an OCI manifest with artifactType, the empty config and a text layer.
kind_artifact() {
  local d="$IT_TMP/artifact" f
  mkdir -p "$d"
  printf '{}' >"$d/config"
  echo "not a container image" >"$d/layer"
  "${RWJSON[@]}" manifest application/vnd.oci.image.manifest.v1+json application/vnd.oci.empty.v1+json \
    "$d/config" --artifact-type application/vnd.example.ferry.test "text/plain:$d/layer" >"$d/manifest.json"
  for f in config layer; do reg_put_blob "$d/$f" rw/case5; done
  reg_put_manifest "$d/manifest.json" rw/case5 1
  expect_runs_or_refused artifact 'artifact' "$REG/rw/case5:1"
}

# attestation: buildx-style index, the image plus an in-toto attestation
# manifest (platform unknown/unknown, vnd.docker.reference.* annotations).
kind_attestation() {
  rw_push plain oci rw/case6:img
  local d="$IT_TMP/attest" img=$RW_PUSHED_DIGEST size
  mkdir -p "$d"
  reg_raw_manifest rw/case6:img >"$d/img.json"
  size=$(wc -c <"$d/img.json")
  printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"rw/case6","digest":{"sha256":"%s"}}],"predicate":{}}' \
    "${img#sha256:}" >"$d/statement"
  printf '{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$(sha256sum "$d/statement" | cut -d' ' -f1)" >"$d/config"
  "${RWJSON[@]}" manifest application/vnd.oci.image.manifest.v1+json application/vnd.oci.image.config.v1+json \
    "$d/config" "application/vnd.in-toto+json:$d/statement" >"$d/att.json"
  reg_put_blob "$d/config" rw/case6
  reg_put_blob "$d/statement" rw/case6
  local att
  att="sha256:$(sha256sum "$d/att.json" | cut -d' ' -f1)"
  reg_put_manifest "$d/att.json" rw/case6 "$att"
  "${RWJSON[@]}" index "application/vnd.oci.image.manifest.v1+json:$img:$size:linux/amd64" \
    "application/vnd.oci.image.manifest.v1+json:$att:$(wc -c <"$d/att.json"):unknown/unknown:{\"vnd.docker.reference.digest\":\"$img\",\"vnd.docker.reference.type\":\"attestation-manifest\"}" \
    >"$d/index.json"
  reg_put_manifest "$d/index.json" rw/case6 1
  expect_runs_or_refused attestation 'attestation' "$REG/rw/case6:1"
  # All platforms: the attestation manifest rides along, consumers still work.
  ferry pull "$REG/rw/case6:1" --all-platforms --format oci-archive -o "$OUT/attest-all.oci.tar" ||
    { expect_refused attestation-all 'attestation' "$OUT/attest-all.oci.tar" $?; return; }
  ferry_ok verify "$OUT/attest-all.oci.tar"
  check_skopeo_inspect "oci-archive:$OUT/attest-all.oci.tar" amd64
  check_ctr_import "$OUT/attest-all.oci.tar" "$REG/rw/case6:1" run
}

# foreign-layer: podman's v2s2 image with its one layer made foreign: the
# registry lacks it, the manifest's urls point at a local file server.
kind_foreign_layer() {
  REG=$S1_REG REG_URL=$S1_REG_URL
  rw_push plain v2s2 rw/case7-src:1
  local d="$IT_TMP/foreign" cfg layer
  mkdir -p "$d"
  reg_raw_manifest rw/case7-src:1 >"$d/src.json"
  cfg=$(imgtool json "$d/src.json" 'd["config"]["digest"]')
  layer=$(imgtool json "$d/src.json" 'd["layers"][0]["digest"]')
  _fetch_blob rw/case7-src "$cfg" "$d/config"
  _fetch_blob rw/case7-src "$layer" "$FILES_DIR/layer.tar.gz"
  "${RWJSON[@]}" manifest application/vnd.docker.distribution.manifest.v2+json \
    application/vnd.docker.container.image.v1+json "$d/config" \
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip:$FILES_DIR/layer.tar.gz:$FILES_URL/layer.tar.gz" \
    >"$d/manifest.json"
  reg_put_blob "$d/config" rw/case7
  reg_put_manifest "$d/manifest.json" rw/case7 1
  # Fetched from its URL into the store (the registry does not have it), so the
  # tarball and the OCI archive carry it: both load and run.
  local before
  before=$(grep -c 'GET /layer.tar.gz' "$IT_TMP/files.log" || true)
  # A store of its own: other kinds' stores hold the same layer as a plain blob.
  ferry_ok pull "$REG/rw/case7:1" --store "$IT_TMP/foreign-store" -o "$OUT/foreign-layer.tar"
  ferry_ok verify "$OUT/foreign-layer.tar"
  ferry_ok pull "$REG/rw/case7:1" --store "$IT_TMP/foreign-store" --format oci-archive -o "$OUT/foreign-layer.oci.tar"
  ferry_ok verify "$OUT/foreign-layer.oci.tar"
  (($(grep -c 'GET /layer.tar.gz' "$IT_TMP/files.log" || true) > before)) ||
    fail "foreign-layer: the layer was not fetched from its URL"
  consumers_amd64 "$REG/rw/case7:1" foreign-layer
  # Several URLs: a 404 and a file with other bytes come first; ferry moves on to
  # the next URL each time and the layer still verifies.
  printf 'not the layer' >"$FILES_DIR/wrong.tar.gz"
  "${RWJSON[@]}" manifest application/vnd.docker.distribution.manifest.v2+json \
    application/vnd.docker.container.image.v1+json "$d/config" \
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip:$FILES_DIR/layer.tar.gz:$FILES_URL/missing.tar.gz|$FILES_URL/wrong.tar.gz|$FILES_URL/layer.tar.gz" \
    >"$d/manifest-urls.json"
  reg_put_manifest "$d/manifest-urls.json" rw/case7 urls
  before=$(grep -c 'GET /layer.tar.gz' "$IT_TMP/files.log" || true)
  ferry_ok pull "$REG/rw/case7:urls" --store "$IT_TMP/foreign-urls" -o "$OUT/foreign-urls.tar"
  ferry_ok verify "$OUT/foreign-urls.tar"
  grep -q 'GET /missing.tar.gz' "$IT_TMP/files.log" || fail "foreign-layer: the first URL was not tried"
  grep -q 'GET /wrong.tar.gz' "$IT_TMP/files.log" || fail "foreign-layer: the second URL was not tried"
  (($(grep -c 'GET /layer.tar.gz' "$IT_TMP/files.log" || true) > before)) ||
    fail "foreign-layer: the third URL was not reached"
  # Refused on request, before anything is written, naming the layer.
  local rc=0
  ferry pull "$REG/rw/case7:1" --store "$IT_TMP/foreign-refuse" --foreign-layers refuse \
    -o "$OUT/foreign-refused.tar" || rc=$?
  expect_refused foreign-refused 'foreign layer .* refused' "$OUT/foreign-refused.tar" "$rc"
}

# wrong-diff-id: a registry image whose config names a wrong diff_id for its
# (good) layer must be refused before anything is written.
kind_wrong_diff_id() {
  rw_push plain v2s2 rw/case8:src
  local d="$IT_TMP/baddiff" cfg layer
  mkdir -p "$d"
  reg_raw_manifest rw/case8:src >"$d/src.json"
  cfg=$(imgtool json "$d/src.json" 'd["config"]["digest"]')
  layer=$(imgtool json "$d/src.json" 'd["layers"][0]["digest"]')
  _fetch_blob rw/case8 "$cfg" "$d/config.good"
  _fetch_blob rw/case8 "$layer" "$d/layer"
  "${RWJSON[@]}" tamper-config "$d/config.good" "$d/config"
  "${RWJSON[@]}" manifest application/vnd.docker.distribution.manifest.v2+json \
    application/vnd.docker.container.image.v1+json "$d/config" \
    "application/vnd.docker.image.rootfs.diff.tar.gzip:$d/layer" >"$d/manifest.json"
  reg_put_blob "$d/config" rw/case8
  reg_put_manifest "$d/manifest.json" rw/case8 1
  local rc=0
  ferry pull "$REG/rw/case8:1" -o "$OUT/case8.tar" || rc=$?
  expect_refused wrong-diff-id 'diff.?id' "$OUT/case8.tar" "$rc"
}

# tampered-diff-id: ferry verify must fail on ferry's own good outputs (docker
# tarball and OCI archive) once a config's diff_id is changed, with every
# digest in the archive kept consistent (rwjson.py tamper-tar), and name it.
kind_tampered_diff_id() {
  rw_push plain v2s2 rw/case9:1
  pull_both "$RW_PUSHED_REF" case9
  local f rc
  for f in case9.tar case9.oci.tar; do
    "${RWJSON[@]}" tamper-tar "$OUT/$f" "$OUT/tampered-$f" >/dev/null
    rc=0
    ferry verify "$OUT/tampered-$f" || rc=$?
    [[ $rc == 1 ]] || { cat "$IT_TMP/ferry.out" "$IT_TMP/ferry.err" >&2; fail "verify of tampered $f exited $rc, want 1"; }
    grep -Ei 'diff.?id' "$IT_TMP/ferry.out" "$IT_TMP/ferry.err" >/dev/null ||
      { cat "$IT_TMP/ferry.out" "$IT_TMP/ferry.err" >&2; fail "verify of tampered $f does not name the diff_id"; }
  done
}
