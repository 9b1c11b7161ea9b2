#!/usr/bin/env bash
# Smoke test of the integration harness itself, with skopeo and docker only
# (no ferry): proves that registries in every auth mode, the image generator,
# the token server, the access-log counters and a private dockerd all work, so
# a failing ferry test can be blamed on ferry.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# inspect_ok REPO:TAG [skopeo flags...]: skopeo inspect must succeed.
inspect_ok() {
  local ref=$1
  shift
  it_skopeo inspect --tls-verify=false "$@" "docker://$REG/$ref" >"$IT_TMP/inspect.json" 2>"$IT_TMP/inspect.err" ||
    { cat "$IT_TMP/inspect.err" >&2; fail "skopeo inspect $REG/$ref $* failed"; }
}

# inspect_refused REPO:TAG [skopeo flags...]: skopeo inspect must fail.
inspect_refused() {
  local ref=$1
  shift
  if it_skopeo inspect --tls-verify=false "$@" "docker://$REG/$ref" >/dev/null 2>"$IT_TMP/inspect.err"; then
    fail "skopeo inspect $REG/$ref $* should have been refused"
  fi
}

declare -A first_digest=()

for mode in none basic token; do
  log "=== mode $mode"
  start_registry "$mode"
  creds=()
  [[ $mode == basic ]] && creds=(--creds "$REG_USER:$REG_PASS")

  # Seed the five kinds of images ferry must handle.
  push_schema2 ns/app:v1
  app_json=$PUSHED_JSON app_digest=$PUSHED_DIGEST
  push_oci ns/oci:v1
  push_multiarch ns/multi:v1
  multi_json=$PUSHED_JSON
  push_shared_pair ns/base-a:v1 ns/base-b:v1

  # The generator is deterministic: the same image has the same digest in
  # every registry.
  if [[ -z "${first_digest[app]:-}" ]]; then
    first_digest[app]=$app_digest
  else
    assert_eq "ns/app:v1 digest in mode $mode" "${first_digest[app]}" "$app_digest"
  fi

  # Schema2 image: manifest type, config digest and layers as generated.
  reg_raw_manifest ns/app:v1 >"$IT_TMP/app.manifest.json"
  assert_eq "ns/app:v1 mediaType" application/vnd.docker.distribution.manifest.v2+json \
    "$(imgtool json "$IT_TMP/app.manifest.json" 'd["mediaType"]')"
  assert_eq "ns/app:v1 config digest" \
    "$(imgtool json "$app_json" 'd["manifests"][0]["config"]')" \
    "$(imgtool json "$IT_TMP/app.manifest.json" 'd["config"]["digest"]')"
  assert_eq "ns/app:v1 layers" \
    "$(imgtool json "$app_json" '[l["digest"] for l in d["manifests"][0]["layers"]]')" \
    "$(imgtool json "$IT_TMP/app.manifest.json" '[l["digest"] for l in d["layers"]]')"
  inspect_ok ns/app:v1 "${creds[@]}"

  # OCI image.
  inspect_ok ns/oci:v1 "${creds[@]}"
  assert_eq "ns/oci:v1 mediaType" application/vnd.oci.image.manifest.v1+json \
    "$(reg_raw_manifest ns/oci:v1 | imgtool json - 'd["mediaType"]')"

  # Multi-arch index: two platforms, and each resolves to its own config.
  reg_raw_manifest ns/multi:v1 >"$IT_TMP/multi.json"
  assert_eq "ns/multi:v1 mediaType" application/vnd.oci.image.index.v1+json \
    "$(imgtool json "$IT_TMP/multi.json" 'd["mediaType"]')"
  assert_eq "ns/multi:v1 platforms" "amd64 arm64" \
    "$(imgtool json "$IT_TMP/multi.json" '" ".join(m["platform"]["architecture"] for m in d["manifests"])')"
  inspect_ok ns/multi:v1 "${creds[@]}" --override-arch arm64 --override-os linux
  assert_eq "ns/multi:v1 arm64 arch" arm64 "$(imgtool json "$IT_TMP/inspect.json" 'd["Architecture"]')"
  assert_eq "ns/multi:v1 arm64 layers" \
    "$(imgtool json "$multi_json" '[l["digest"] for l in d["manifests"][1]["layers"]]')" \
    "$(imgtool json "$IT_TMP/inspect.json" 'd["Layers"]')"

  # Layer-sharing pair: the two bottom layers are the same blobs, the top differs.
  inspect_ok ns/base-a:v1 "${creds[@]}"
  cp "$IT_TMP/inspect.json" "$IT_TMP/a.json"
  inspect_ok ns/base-b:v1 "${creds[@]}"
  assert_eq "shared base layers" \
    "$(imgtool json "$IT_TMP/a.json" 'd["Layers"][:2]')" \
    "$(imgtool json "$IT_TMP/inspect.json" 'd["Layers"][:2]')"
  [[ "$(imgtool json "$IT_TMP/a.json" 'd["Layers"][2]')" != \
    "$(imgtool json "$IT_TMP/inspect.json" 'd["Layers"][2]')" ]] || fail "top layers should differ"

  # Access-log counting: copying ns/app:v1 GETs its 2 layers + its config once.
  mark=$(reg_log_mark)
  it_skopeo copy --quiet --src-tls-verify=false "${creds[@]/--creds/--src-creds}" \
    "docker://$REG/ns/app:v1" "oci:$IT_TMP/copy-$mode:app" >/dev/null
  assert_eq "blob GETs for one copy of ns/app:v1" 3 "$(count_blob_gets ns/app "" "$mark")"
  assert_eq "manifest GETs for ns/app:v1" 1 "$(count_requests GET /v2/ns/app/manifests/v1 "$mark")"

  case "$mode" in
    basic)
      inspect_refused ns/app:v1
      grep -q 'unauthorized' "$IT_TMP/inspect.err" || fail "anonymous inspect in basic mode: $(cat "$IT_TMP/inspect.err")"
      inspect_refused ns/app:v1 --creds "$REG_USER:wrong"
      assert_eq "GET /v2/ with good basic creds" 200 "$(_http_code "$REG_URL/v2/" -u "$REG_USER:$REG_PASS")"
      ;;
    token)
      # Like Docker Hub: /v2/ without a token is refused with a Bearer challenge...
      assert_eq "GET /v2/ without token" 401 "$(_http_code "$REG_URL/v2/")"
      assert_eq "GET manifest without token" 401 "$(_http_code "$REG_URL/v2/ns/app/manifests/v1")"
      # ...an anonymous token allows pulls (skopeo inspect above had no creds)...
      grep -q 'scope=repository:ns/app:pull user=anonymous granted=repository:ns/app:pull status=200' "$TOKEN_LOG" ||
        fail "no anonymous pull token in $TOKEN_LOG"
      tok=$(curl -sS --max-time 5 "$TOKEN_URL?service=$IT_SERVICE&scope=repository:ns/app:pull" |
        imgtool json - 'd["token"]')
      assert_eq "manifest GET with anonymous token" 200 \
        "$(_http_code "$REG_URL/v2/ns/app/manifests/v1" -H "Authorization: Bearer $tok" \
          -H 'Accept: application/vnd.docker.distribution.manifest.v2+json')"
      # ...but never pushes: an anonymous push asks for pull,push and gets pull only.
      if it_skopeo copy --quiet --dest-tls-verify=false "oci:$IT_TMP/images:ns_app_v1" \
        "docker://$REG/ns/anon:v1" >/dev/null 2>"$IT_TMP/push.err"; then
        fail "anonymous push was accepted in token mode"
      fi
      grep -q 'user=anonymous granted=repository:ns/anon:pull status' "$TOKEN_LOG" ||
        fail "anonymous push token request not logged as pull-only"
      # A wrong password is refused by the token server (401), not downgraded.
      assert_eq "token with wrong password" 401 \
        "$(_http_code "$TOKEN_URL?service=$IT_SERVICE&scope=repository:ns/app:pull" -u "$REG_USER:wrong")"
      inspect_refused ns/app:v1 --creds "$REG_USER:wrong"
      # The token log never contains a password.
      ! grep -q "$REG_PASS" "$TOKEN_LOG" || fail "token log leaks the password"
      ;;
  esac

  # Keep the last (token) registry for the docker part.
  [[ $mode == token ]] || stop_registry
done

log "=== docker load"
start_dockerd
archive="$IT_TMP/app.tar"
it_skopeo copy --quiet --src-tls-verify=false "docker://$REG/ns/app:v1" "docker-archive:$archive:app:v1" >/dev/null
docker_cli load -i "$archive" >"$IT_TMP/load.out"
grep -q 'Loaded image: app:v1' "$IT_TMP/load.out" || fail "docker load said: $(cat "$IT_TMP/load.out")"
docker_cli image inspect app:v1 >"$IT_TMP/docker-inspect.json"
assert_eq "docker image Id" "$(imgtool json "$app_json" 'd["manifests"][0]["config"]')" \
  "$(imgtool json "$IT_TMP/docker-inspect.json" 'd[0]["Id"]')"
assert_eq "docker RootFS.Layers" "$(imgtool json "$app_json" 'd["manifests"][0]["diff_ids"]')" \
  "$(imgtool json "$IT_TMP/docker-inspect.json" 'd[0]["RootFS"]["Layers"]')"
assert_eq "docker RepoTags" app:v1 "$(imgtool json "$IT_TMP/docker-inspect.json" 'd[0]["RepoTags"]')"
# imgtool's docker-tar reader agrees with docker about the same tarball.
assert_eq "imgtool docker-tar config digest" "$(imgtool json "$app_json" 'd["manifests"][0]["config"]')" \
  "$(imgtool docker-tar "$archive" | imgtool json - 'd[0]["config_digest"]')"

log "=== cleanup leaves nothing behind"
# A child harness starts a token registry and a dockerd, then exits; every
# process it started (dockerd's containerd included) and its temp dir must go.
child_out="$IT_TMP/child.out"
# shellcheck disable=SC2016 # expanded by the child shell
timeout 120 bash -c '
  set -euo pipefail
  source "$1"
  start_registry token >/dev/null 2>&1
  start_dockerd >/dev/null 2>&1
  echo "$IT_TMP"
  echo "${_IT_PIDS[@]}" $(_descendants "$DOCKERD_PID")
' _ "$IT_LIB_DIR/lib.sh" >"$child_out"
child_tmp=$(sed -n 1p "$child_out")
child_pids=$(sed -n 2p "$child_out")
[[ -n "$child_tmp" && -n "$child_pids" ]] || fail "child harness printed nothing"
[[ ! -e "$child_tmp" ]] || fail "child temp dir $child_tmp survived"
for pid in $child_pids; do
  ! kill -0 "$pid" 2>/dev/null || fail "child process $pid ($(cat /proc/"$pid"/comm 2>/dev/null)) survived"
done
log "child cleaned up $(wc -w <<<"$child_pids") processes"

log "PASS"
