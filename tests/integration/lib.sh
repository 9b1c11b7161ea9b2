# shellcheck shell=bash
# Integration-test harness for ferry.  Source it from a *_test.sh script:
#
#     #!/usr/bin/env bash
#     set -euo pipefail
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#     start_registry token
#     push_image v2s2 ns/app:v1
#     ...
#
# Everything is hermetic: one private temp dir ($IT_TMP), free ports on
# 127.0.0.1 only, and an EXIT trap (cleanup) that kills every process started
# here and removes the temp dir.  Every wait is bounded in time.
#
# Functions (see each one's comment for details):
#   free_port                      print a free TCP port on 127.0.0.1
#   start_registry none|basic|token
#                                  exports REG, REG_URL, REG_LOG, REG_MODE, REG_DIR,
#                                  REG_USER, REG_PASS; token mode also TOKEN_URL,
#                                  TOKEN_LOG, TOKEN_CERT
#   stop_registry                  stop the current registry (and its token server)
#   push_image FORMAT REPO:TAG [mkimage.py options]
#                                  FORMAT: v2s2 | oci | index | list; sets PUSHED_JSON,
#                                  PUSHED_DIGEST, PUSHED_REF
#   push_schema2 / push_oci / push_multiarch REPO:TAG [mkimage.py options]
#   push_shared_pair REPO1:TAG REPO2:TAG [FORMAT]
#                                  two images sharing their two base layers
#   reg_raw_manifest REPO:TAG|REPO@DIGEST   print the manifest as stored
#   reg_digest REPO:TAG            print the manifest digest (sha256:...)
#   reg_log_mark                   print the current access-log line count
#   count_requests METHOD PATH_REGEX [MARK]
#                                  count access-log requests (after MARK)
#   count_blob_gets REPO [DIGEST] [MARK]
#   start_dockerd                  private Docker engine; exports DOCKER_HOST
#   docker_cli ARGS...             the docker client matching dockerd, bounded
#   it_skopeo ARGS...              skopeo, bounded, no signature policy, no auth file
#   imgtool json FILE|- EXPR | oci-diff-ids DIR REF | oci-check DIR REF | docker-tar TAR
#                                  tests/support/imgtool.py (no jq needed)
#   wait_until SECS WHAT CMD...    poll CMD until it succeeds or SECS pass
#   on_cleanup CMD...              run CMD (eval'd) at cleanup, before the kills
#   ferry_env                      private HOME, XDG_DATA_HOME and DOCKER_CONFIG (no
#                                  auths) so ferry never sees the user's store or
#                                  credentials; checks FERRY_BIN
#   ferry ARGS...                  run $FERRY_BIN bounded by FERRY_IT_TIMEOUT (120 s);
#                                  stdout/stderr to $IT_TMP/ferry.{out,err}; its status
#   ferry_rc WANT ARGS...          ferry must exit WANT (output shown otherwise)
#   ferry_ok ARGS...               ferry_rc 0
#   log / fail / assert_eq         small test helpers
#   cleanup                        installed as the EXIT trap
#   rw_images, rw_push, start_containerd, check_docker_load_run, check_podman_load,
#   check_ctr_import, check_skopeo_inspect, start_registry_schema1 ...
#                                  real-tool images and consumers: realworld_lib.sh
#
# Environment knobs:
#   REG_EXTRA_YAML         extra top-level YAML appended to the next start_registry's
#                          config (e.g. compatibility.schema1; start_registry_schema1)
#   FERRY_IT_KEEP=1        keep $IT_TMP after the run (processes are still killed)
#   FERRY_IT_TMPBASE=/tmp  where the temp dir goes (kept short: docker's unix
#                          socket path must stay under 108 bytes)
#   FERRY_IT_LIFETIME=1800 hard cap in seconds on every daemon started here,
#                          so nothing survives a harness that was SIGKILLed
#   FERRY_IT_TOKEN_EXPIRES_IN=300, FERRY_IT_TOKEN_EXP_SKEW=0
#                          token lifetime, and seconds added to the JWT exp only:
#                          distribution 2.8 accepts tokens 60 s past exp, so
#                          EXPIRES_IN=5 EXP_SKEW=-60 gives tokens that the
#                          registry really rejects after 5 s (refresh tests)
#   DOCKER_CLI             docker client binary (default /usr/bin/docker, which
#                          matches Debian's 20.10 dockerd)
#
# Constants: IT_USER=ferry IT_PASS=s3cret IT_SERVICE=ferry-test-registry
# IT_ISSUER=ferry-test-issuer; IT_TMP is the private temp dir.
#
# Needs Debian packages: docker-registry skopeo docker.io apache2-utils curl
# python3-jwt python3-cryptography (a missing one fails with its name).
#
# Only Debian's /usr/bin/python3 has python3-jwt and python3-cryptography; the
# python3 on PATH may be another interpreter, so it is never used here.

if [[ -n "${_FERRY_IT_LIB_LOADED:-}" ]]; then
  return 0
fi
_FERRY_IT_LIB_LOADED=1

IT_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IT_SUPPORT_DIR="$(cd "$IT_LIB_DIR/../support" && pwd)"
IT_PYTHON=/usr/bin/python3
MKIMAGE=("$IT_PYTHON" "$IT_SUPPORT_DIR/mkimage.py")
TOKEN_SERVER=("$IT_PYTHON" "$IT_SUPPORT_DIR/token_server.py")

# imgtool ARGS...: tests/support/imgtool.py (json queries, docker tar and OCI
# layout checks), bounded in time.
imgtool() { timeout 120 "$IT_PYTHON" "$IT_SUPPORT_DIR/imgtool.py" "$@"; }

IT_USER=ferry
IT_PASS=s3cret
IT_SERVICE=ferry-test-registry
IT_ISSUER=ferry-test-issuer
: "${FERRY_IT_LIFETIME:=1800}"
: "${FERRY_IT_TMPBASE:=/tmp}"
if [[ -z "${DOCKER_CLI:-}" ]]; then
  if [[ -x /usr/bin/docker ]]; then DOCKER_CLI=/usr/bin/docker; else DOCKER_CLI=docker; fi
fi

IT_TMP="$(mktemp -d "$FERRY_IT_TMPBASE/ferry-it.XXXXXX")"
export IT_TMP

# PIDs to kill at cleanup, in start order (killed in reverse order).
_IT_PIDS=()
_IT_CLEANUP_HOOKS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { printf '[%s] FAIL: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
  if [[ "$2" != "$3" ]]; then
    fail "$1: expected [$2], got [$3]"
  fi
}

on_cleanup() { _IT_CLEANUP_HOOKS+=("$*"); }

# _kill_pid PID: TERM, wait up to 10 s, then KILL.  Never a broad pattern.
_kill_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# _descendants PID: every descendant of PID, deepest first (read from /proc,
# no pgrep dependency).
_descendants() {
  local root=$1 f stat ppid pid
  local -A kids=()
  # One pass over /proc builds parent -> children (no fork per process).
  for f in /proc/[0-9]*/stat; do
    { stat=$(<"$f"); } 2>/dev/null || continue
    # Field 2 (comm) may contain spaces: drop everything up to the last ')';
    # what remains starts with: state ppid ...
    stat=${stat##*) }
    read -r _ ppid _ <<<"$stat"
    pid=${f#/proc/}
    kids[$ppid]+=" ${pid%/stat}"
  done
  _descendants_walk() {
    local c
    for c in ${kids[$1]:-}; do
      _descendants_walk "$c"
      echo "$c"
    done
  }
  _descendants_walk "$root"
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [[ -n "${_IT_WATCHDOG:-}" ]]; then
    kill -TERM "$_IT_WATCHDOG" 2>/dev/null
    wait "$_IT_WATCHDOG" 2>/dev/null
  fi
  local hook
  for hook in "${_IT_CLEANUP_HOOKS[@]}"; do
    eval "$hook" >/dev/null 2>&1
  done
  local i pid
  for ((i = ${#_IT_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${_IT_PIDS[i]}
    # Collect descendants first (dockerd's containerd, shims): if the parent
    # dies before them they would be re-parented and escape us.
    local desc d
    desc=$(_descendants "$pid" 2>/dev/null)
    _kill_pid "$pid"
    for d in $desc; do _kill_pid "$d"; done
    wait "$pid" 2>/dev/null
  done
  if [[ -d "${IT_TMP:-}" ]]; then
    # dockerd may leave mounts (netns, shm) under its roots: unmount first so
    # rm -rf never descends into a live mount.
    local m
    while read -r _ m _; do
      [[ "$m" == "$IT_TMP"/* ]] && umount -l "$m" 2>/dev/null
    done < <(tac /proc/mounts)
    if [[ -n "${FERRY_IT_KEEP:-}" ]]; then
      echo "FERRY_IT_KEEP set: kept $IT_TMP" >&2
    else
      rm -rf "$IT_TMP"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# _spawn LOGFILE CMD...: start CMD in the background under a lifetime cap,
# stdin from /dev/null, stdout+stderr to LOGFILE; sets _SPAWNED_PID.
# `timeout` forwards TERM to its child, so killing _SPAWNED_PID stops CMD.
_spawn() {
  local logfile=$1
  shift
  [[ -n "${_IT_WATCHDOG:-}" ]] || _start_watchdog
  timeout -k 10 "$FERRY_IT_LIFETIME" "$@" </dev/null >>"$logfile" 2>&1 &
  _SPAWNED_PID=$!
  _IT_PIDS+=("$_SPAWNED_PID")
  echo "$_SPAWNED_PID" >>"$IT_TMP/.pids"
}

# _start_watchdog: if this shell dies without running cleanup (SIGKILL), a
# small background loop notices within a second and kills what we started.
# cleanup stops the watchdog first, so the two never race.
_start_watchdog() {
  local parent=$BASHPID
  (
    set +e
    trap '' INT # Ctrl-C is the parent's business (its trap runs cleanup)
    while kill -0 "$parent" 2>/dev/null; do sleep 1; done
    while read -r pid; do
      for d in $(_descendants "$pid") "$pid"; do kill -TERM "$d" 2>/dev/null; done
    done <"$IT_TMP/.pids"
    sleep 5
    while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$IT_TMP/.pids"
    [[ -n "${FERRY_IT_KEEP:-}" ]] || rm -rf "$IT_TMP"
  ) </dev/null >/dev/null 2>&1 &
  _IT_WATCHDOG=$!
}

# _need CMD PACKAGE...: fail clearly when a tool is missing.
_need() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 || fail "'$cmd' not found: apt-get install $*"
}

# free_port: print a TCP port that is free on 127.0.0.1 right now.
free_port() {
  "$IT_PYTHON" - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# wait_until SECS WHAT CMD...: run CMD every 0.2 s until it succeeds; after
# SECS seconds, print "timed out waiting for WHAT" and return 1.
wait_until() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# _wait_service PID SECS WHAT LOGFILE CMD...: like wait_until, but fail fast
# (showing the log tail) if the process PID dies meanwhile.
_wait_service() {
  local pid=$1 secs=$2 what=$3 logfile=$4
  shift 4
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$what exited during startup; last log lines ($logfile):"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    if ((SECONDS >= end)); then
      log "timed out after ${secs}s waiting for $what; last log lines ($logfile):"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# _http_code URL [curl args]: print the HTTP status (000 if no answer).
_http_code() {
  local url=$1
  shift
  curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --noproxy '*' "$@" "$url" 2>/dev/null || true
}

_answers() { [[ "$(_http_code "$1")" != 000 ]]; }

# ---------------------------------------------------------------- skopeo ----

# Keep skopeo away from the user's credentials and registries.conf: an empty
# auth file and an empty registries.conf in the temp dir.
export REGISTRY_AUTH_FILE="$IT_TMP/skopeo-auth.json"
echo '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
export CONTAINERS_REGISTRIES_CONF="$IT_TMP/registries.conf"
: >"$CONTAINERS_REGISTRIES_CONF"
# Never talk to a Docker engine we did not start.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
# No proxy may divert loopback traffic.
export NO_PROXY='127.0.0.1,localhost' no_proxy='127.0.0.1,localhost'

# it_skopeo ARGS...: skopeo with a time bound and without signature policy
# (the machine's policy.json may be absent on a fresh machine).
it_skopeo() { timeout -k 5 180 skopeo --insecure-policy "$@"; }

# -------------------------------------------------------------- registry ----

# start_registry MODE: run distribution's registry on 127.0.0.1:<free port>.
#   none   no auth
#   basic  htpasswd auth, user ferry / password s3cret (bcrypt)
#   token  Docker-Hub-like bearer tokens from tests/support/token_server.py:
#          GET /v2/ -> 401 + WWW-Authenticate: Bearer realm=..,service=..;
#          anonymous pulls allowed, pushes need ferry:s3cret.
# Exports REG=127.0.0.1:PORT, REG_URL=http://$REG, REG_LOG (registry log with
# the access log), REG_MODE, REG_DIR, REG_USER, REG_PASS (empty in mode none).
# Token mode also exports TOKEN_URL, TOKEN_LOG, TOKEN_CERT, TOKEN_PORT.
# Calling it again starts another registry (the previous one keeps running
# until stop_registry or cleanup).
start_registry() {
  local mode=${1:?usage: start_registry none|basic|token}
  case "$mode" in none | basic | token) ;; *) fail "start_registry: unknown mode '$mode'" ;; esac
  _need docker-registry docker-registry
  _need curl curl
  [[ $mode != basic ]] || _need htpasswd apache2-utils
  [[ $mode != token ]] || "$IT_PYTHON" -c 'import jwt, cryptography' 2>/dev/null ||
    fail "$IT_PYTHON lacks jwt/cryptography: apt-get install python3-jwt python3-cryptography"
  local dir
  dir="$(mktemp -d "$IT_TMP/registry-$mode.XXXX")"
  mkdir -p "$dir/storage"

  local auth_yaml=""
  REG_USER="" REG_PASS=""
  unset TOKEN_URL TOKEN_LOG TOKEN_CERT TOKEN_PORT _REG_TOKEN_PID
  case "$mode" in
    basic)
      htpasswd -Bbn "$IT_USER" "$IT_PASS" >"$dir/htpasswd"
      auth_yaml="auth:
  htpasswd:
    realm: ferry-test-basic
    path: $dir/htpasswd"
      REG_USER=$IT_USER REG_PASS=$IT_PASS
      ;;
    token)
      _start_token_server "$dir/token"
      auth_yaml="auth:
  token:
    realm: $TOKEN_URL
    service: $IT_SERVICE
    issuer: $IT_ISSUER
    rootcertbundle: $TOKEN_CERT"
      REG_USER=$IT_USER REG_PASS=$IT_PASS
      ;;
  esac

  # Ports are picked before binding, so another process may grab one in
  # between: retry a few times with a new port.
  local attempt port
  for attempt in 1 2 3; do
    port=$(free_port)
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: ferry-integration-test-not-secret
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
$auth_yaml
${REG_EXTRA_YAML:-}
EOF
    local logfile="$dir/registry.log"
    : >"$logfile"
    # distribution maps REGISTRY_* variables onto its config (e.g. skopeo's
    # REGISTRY_AUTH_FILE would become auth.file!), so strip them all.
    local -a unset_env=()
    local v
    for v in $(compgen -e); do
      [[ "$v" == REGISTRY_* ]] && unset_env+=(-u "$v")
    done
    _spawn "$logfile" env "${unset_env[@]}" docker-registry serve "$dir/config.yml"
    local pid=$_SPAWNED_PID
    if _wait_service "$pid" 20 "registry ($mode) on port $port" "$logfile" \
      _answers "http://127.0.0.1:$port/v2/"; then
      export REG="127.0.0.1:$port" REG_URL="http://127.0.0.1:$port" REG_LOG="$logfile"
      export REG_MODE=$mode REG_DIR=$dir REG_USER REG_PASS
      _REG_PID=$pid
      break
    fi
    _kill_pid "$pid"
    if ! grep -q 'address already in use' "$logfile"; then
      fail "registry ($mode) did not start"
    fi
    log "port $port was taken meanwhile; retrying"
    [[ $attempt == 3 ]] && fail "registry ($mode) did not start: no free port"
  done

  # Sanity-check the auth behaviour we promise to tests.
  local code
  code=$(_http_code "$REG_URL/v2/")
  case "$mode" in
    none) assert_eq "GET /v2/ without auth (mode none)" 200 "$code" ;;
    basic) assert_eq "GET /v2/ without auth (mode basic)" 401 "$code" ;;
    token)
      assert_eq "GET /v2/ without token (mode token)" 401 "$code"
      local hdr
      hdr=$(curl -sS -D - -o /dev/null --max-time 5 "$REG_URL/v2/" | tr -d '\r' |
        grep -i '^www-authenticate:' || true)
      [[ "$hdr" == *"Bearer realm=\"$TOKEN_URL\""*"service=\"$IT_SERVICE\""* ]] ||
        fail "unexpected challenge from token-mode registry: $hdr"
      ;;
  esac
  log "registry ($mode) up at $REG, log $REG_LOG"
}

# _start_token_server DIR: start token_server.py with its key/cert in DIR.
_start_token_server() {
  local dir=$1
  mkdir -p "$dir"
  local logfile="$dir/server.log"
  : >"$logfile"
  # Port 0 + --port-file: the server binds first and tells us the port, so
  # there is no race for it.
  _spawn "$logfile" "${TOKEN_SERVER[@]}" --host 127.0.0.1 --port 0 \
    --port-file "$dir/port" --cert-dir "$dir" --log "$dir/requests.log" \
    --issuer "$IT_ISSUER" --service "$IT_SERVICE" --user "$IT_USER:$IT_PASS" \
    --expires-in "${FERRY_IT_TOKEN_EXPIRES_IN:-300}" --exp-skew "${FERRY_IT_TOKEN_EXP_SKEW:-0}"
  local pid=$_SPAWNED_PID
  _wait_service "$pid" 30 "token server" "$logfile" test -s "$dir/port" ||
    fail "token server did not start"
  TOKEN_PORT=$(cat "$dir/port")
  _wait_service "$pid" 10 "token server" "$logfile" \
    _answers "http://127.0.0.1:$TOKEN_PORT/healthz" || fail "token server did not answer"
  export TOKEN_PORT TOKEN_URL="http://127.0.0.1:$TOKEN_PORT/token"
  export TOKEN_LOG="$dir/requests.log" TOKEN_CERT="$dir/cert.pem"
  _REG_TOKEN_PID=$pid
}

# stop_registry: stop the registry started last (and its token server).
stop_registry() {
  [[ -n "${_REG_PID:-}" ]] && _kill_pid "$_REG_PID"
  [[ -n "${_REG_TOKEN_PID:-}" ]] && _kill_pid "$_REG_TOKEN_PID"
  unset _REG_PID _REG_TOKEN_PID
}

# ---------------------------------------------------------------- images ----

# _creds_args PREFIX: skopeo credential flags for the current registry.
_creds_args() {
  if [[ -n "${REG_USER:-}" ]]; then
    printf '%s\n' "--${1:-}creds" "$REG_USER:$REG_PASS"
  fi
}

# push_image FORMAT REPO:TAG [mkimage.py options...]
#   FORMAT  v2s2   Docker schema2 manifest        (skopeo copy --format v2s2)
#           oci    OCI image manifest             (skopeo copy --format oci)
#           index  OCI index, linux/amd64 + linux/arm64/v8 (skopeo copy --all)
#           list   Docker manifest list of the same (--all --format v2s2)
#   REPO:TAG  destination in the current registry, e.g. ns/app:v1
#   options   passed to mkimage.py, e.g. --layer base:200000 --layer top:5000
#             (default: two layers unique to REPO:TAG, 150 kB and 30 kB)
# Images are built in one shared OCI layout ($IT_TMP/images), so identical
# SEED:SIZE layers are literally the same blob.  Sets:
#   PUSHED_REF     $REG/REPO:TAG
#   PUSHED_JSON    mkimage.py's JSON summary (OCI digests before conversion;
#                  layer digests, diff_ids and config digests are unchanged
#                  by skopeo's v2s2 conversion)
#   PUSHED_DIGEST  digest of the manifest as stored in the registry
push_image() {
  local format=${1:?usage: push_image FORMAT REPO:TAG [mkimage options]}
  local dest=${2:?usage: push_image FORMAT REPO:TAG [mkimage options]}
  shift 2
  [[ -n "${REG:-}" ]] || fail "push_image: no registry (call start_registry first)"
  _need skopeo skopeo
  local key=${dest//[^A-Za-z0-9._-]/_}
  local layout="$IT_TMP/images"
  local -a mk=("$@") copy=()
  if ((${#mk[@]} == 0)); then
    mk=(--layer "$key-l1:150000" --layer "$key-l2:30000")
  fi
  case "$format" in
    v2s2) copy=(--format v2s2) ;;
    oci) copy=(--format oci) ;;
    index) mk+=(--multiarch) copy=(--all --format oci) ;;
    list) mk+=(--multiarch) copy=(--all --format v2s2) ;;
    *) fail "push_image: unknown format '$format' (v2s2|oci|index|list)" ;;
  esac
  mkdir -p "$layout"
  PUSHED_JSON="$layout/$key.json"
  timeout 120 "${MKIMAGE[@]}" "$layout" --tag "$key" --json "${mk[@]}" >"$PUSHED_JSON" ||
    fail "mkimage.py failed for $dest"
  local -a creds
  mapfile -t creds < <(_creds_args dest-)
  it_skopeo copy --quiet --dest-tls-verify=false "${creds[@]}" "${copy[@]}" \
    "oci:$layout:$key" "docker://$REG/$dest" >"$IT_TMP/skopeo-push.log" 2>&1 ||
    { cat "$IT_TMP/skopeo-push.log" >&2; fail "skopeo push of $dest ($format) failed"; }
  PUSHED_REF="$REG/$dest"
  PUSHED_DIGEST=$(reg_digest "$dest")
  export PUSHED_REF PUSHED_JSON PUSHED_DIGEST
  log "pushed $format $PUSHED_REF ($PUSHED_DIGEST)"
}

push_schema2() { push_image v2s2 "$@"; }
push_oci() { push_image oci "$@"; }
push_multiarch() { push_image index "$@"; }

# push_shared_pair REPO1:TAG REPO2:TAG [FORMAT]: two images whose two bottom
# layers (shared-base-1: 200 kB, shared-base-2: 100 kB) are identical blobs,
# each with its own 20 kB top layer.  FORMAT defaults to v2s2.
push_shared_pair() {
  local a=${1:?usage: push_shared_pair REPO1:TAG REPO2:TAG [FORMAT]} b=${2:?}
  local format=${3:-v2s2}
  local d
  for d in "$a" "$b"; do
    push_image "$format" "$d" --layer shared-base-1:200000 --layer shared-base-2:100000 \
      --layer "${d//[^A-Za-z0-9._-]/_}-top:20000"
  done
}

# reg_raw_manifest REF: the manifest bytes as the registry serves them
# (REF is REPO:TAG or REPO@DIGEST in the current registry).
reg_raw_manifest() {
  local -a creds
  mapfile -t creds < <(_creds_args)
  it_skopeo inspect --raw --tls-verify=false "${creds[@]}" "docker://$REG/$1"
}

# reg_digest REF: sha256 digest of the stored manifest.
reg_digest() {
  # Hash the exact bytes (a shell variable would lose a trailing newline).
  local f="$IT_TMP/.manifest.$BASHPID"
  reg_raw_manifest "$1" >"$f" || return 1
  echo "sha256:$(sha256sum "$f" | cut -d' ' -f1)"
  rm -f "$f"
}

# ------------------------------------------------------------ access log ----

# reg_log_mark: print the number of lines in $REG_LOG now; pass it to the
# count_* functions to count only requests made after this point.
reg_log_mark() { wc -l <"$REG_LOG" | tr -d ' '; }

# count_requests METHOD PATH_REGEX [MARK]: number of access-log lines for
# METHOD on a path matching the extended regex PATH_REGEX (anchored at the
# start of the path), after line MARK (default 0).  Access-log lines look like
#   127.0.0.1 - - [date] "GET /v2/ns/app/blobs/sha256:... HTTP/1.1" 200 ...
count_requests() {
  local method=$1 re=$2 mark=${3:-0}
  tail -n +"$((mark + 1))" "$REG_LOG" | grep -E -c "\"$method ${re}[^ ]* HTTP/" || true
}

# count_blob_gets REPO [DIGEST] [MARK]: GETs of blobs of REPO (or of that one
# blob) that the registry answered with 200 or a redirect.
count_blob_gets() {
  local repo=$1 digest=${2:-} mark=${3:-0}
  tail -n +"$((mark + 1))" "$REG_LOG" |
    grep -E -c "\"GET /v2/$repo/blobs/${digest:-sha256:[0-9a-f]+}(\\?[^ ]*)? HTTP/[0-9.]+\" (200|206|307)" || true
}

# ---------------------------------------------------------------- docker ----

# docker_cli ARGS...: the docker client (Debian's, matching dockerd 20.10),
# bounded in time.
docker_cli() { timeout -k 5 180 "$DOCKER_CLI" "$@"; }

# start_dockerd: a private Docker engine (no networking, vfs storage) with all
# state under $IT_TMP/docker.  dockerd starts and supervises its own
# containerd under the exec root (no system containerd exists here); it needs
# no cgroup setup for load/inspect.  Exports DOCKER_HOST=unix://SOCKET,
# DOCKERD_LOG, DOCKERD_PID.
start_dockerd() {
  _need dockerd docker.io
  _need containerd containerd
  local dir="$IT_TMP/docker"
  mkdir -p "$dir/data" "$dir/exec"
  local sock="$dir/docker.sock"
  ((${#sock} < 100)) || fail "docker socket path too long: $sock (set FERRY_IT_TMPBASE)"
  # An explicit empty config file: never read the machine's /etc/docker/daemon.json.
  echo '{}' >"$dir/daemon.json"
  local logfile="$dir/dockerd.log"
  : >"$logfile"
  _spawn "$logfile" dockerd \
    --config-file "$dir/daemon.json" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --bridge=none --userland-proxy=false \
    --storage-driver=vfs \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    -H "unix://$sock"
  DOCKERD_PID=$_SPAWNED_PID
  # Container shims are re-parented away from dockerd's containerd: end every
  # process naming its socket (realworld_lib.sh) so no container outlives us.
  on_cleanup _kill_shims_of "$dir/exec/containerd/containerd.sock"
  export DOCKER_HOST="unix://$sock" DOCKERD_LOG=$logfile DOCKERD_PID
  # Our own client config dir: never the user's ~/.docker.
  export DOCKER_CONFIG="${DOCKER_CONFIG:-$dir/client-config}"
  mkdir -p "$DOCKER_CONFIG"
  _wait_service "$DOCKERD_PID" 60 "dockerd" "$logfile" timeout 10 "$DOCKER_CLI" info ||
    fail "dockerd did not start (see $logfile)"
  log "dockerd up at $DOCKER_HOST ($("$DOCKER_CLI" version --format '{{.Server.Version}}'))"
}

# ------------------------------------------------------- background jobs ----

# spawn_bg LOGFILE CMD...: start CMD in the background like the harness's own
# daemons (lifetime cap, killed at cleanup, stdout+stderr to LOGFILE).  Sets
# SPAWNED_PID (the `timeout` wrapper: `wait` on it gives CMD's exit status)
# and SPAWNED_CHILD (CMD itself).  Send signals meant for CMD to SPAWNED_CHILD:
# a signal to the wrapper is forwarded but also arms its 10 s kill timer.
spawn_bg() {
  _spawn "$@"
  SPAWNED_PID=$_SPAWNED_PID
  SPAWNED_CHILD=""
  local i
  for ((i = 0; i < 100; i++)); do
    SPAWNED_CHILD=$(cat "/proc/$SPAWNED_PID/task/$SPAWNED_PID/children" 2>/dev/null || true)
    SPAWNED_CHILD=${SPAWNED_CHILD// /}
    [[ -n "$SPAWNED_CHILD" ]] && return 0
    sleep 0.05
  done
  fail "spawn_bg: no child process for $*"
}

# pid_gone PID: true once PID has exited (a zombie counts as exited).
pid_gone() {
  local state
  state=$(sed -E 's/.*\) ([A-Z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ -z "$state" || "$state" == Z || "$state" == X ]]
}

# ---------------------------------------------------------- fault proxy ----

# fault_proxy_start NAME UPSTREAM_URL: tests/support/fault_proxy.py (see its
# --help) on a kernel-chosen port of 127.0.0.1, forwarding to UPSTREAM_URL
# (e.g. $REG_URL), killed at cleanup.  Its files live in $IT_TMP/proxy-NAME/:
# rules.json (re-read on every request; none at start = no faults) and
# requests.jsonl (one JSON line per request).  Sets PROXY_PORT,
# PROXY_ADDR=127.0.0.1:PORT, PROXY_RULES, PROXY_LOG, PROXY_PID.
fault_proxy_start() {
  local name=${1:?usage: fault_proxy_start NAME UPSTREAM_URL} upstream=${2:?usage: fault_proxy_start NAME UPSTREAM_URL}
  local dir="$IT_TMP/proxy-$name"
  mkdir -p "$dir"
  : >"$dir/requests.jsonl"
  _spawn "$dir/proxy.log" "$IT_PYTHON" "$IT_SUPPORT_DIR/fault_proxy.py" --name "$name" \
    --upstream "$upstream" --port 0 --port-file "$dir/port" --rules "$dir/rules.json" \
    --log "$dir/requests.jsonl" --idle-timeout 30
  PROXY_PID=$_SPAWNED_PID
  _wait_service "$PROXY_PID" 20 "fault proxy $name" "$dir/proxy.log" test -s "$dir/port" ||
    fail "fault proxy $name did not start"
  PROXY_PORT=$(cat "$dir/port")
  export PROXY_PORT PROXY_PID PROXY_ADDR="127.0.0.1:$PROXY_PORT" PROXY_RULES="$dir/rules.json" \
    PROXY_LOG="$dir/requests.jsonl"
  log "fault proxy $name up at $PROXY_ADDR -> $upstream"
}

# fault_proxy_rules RULES_FILE JSON: replace a proxy's rules atomically
# ('[]' clears them; budgets restart with every new file).
fault_proxy_rules() {
  printf '%s\n' "$2" >"$1.tmp.$BASHPID" && mv -f "$1.tmp.$BASHPID" "$1"
}

# fault_proxy_mark LOG: the request log's line count now (for summaries).
fault_proxy_mark() { wc -l <"$1" | tr -d ' '; }

# fault_proxy_summary LOG [MARK]: JSON summary of the requests after line
# MARK (fault_proxy.py --summary: faults, blob GET bytes, Authorization and
# Range use, retry gaps).
fault_proxy_summary() {
  timeout 60 "$IT_PYTHON" "$IT_SUPPORT_DIR/fault_proxy.py" --summary "$1" --since "${2:-0}"
}

# ---------------------------------------------------------------- ferry ------

# ferry_env: a private HOME, XDG_DATA_HOME and DOCKER_CONFIG (with no auths), so
# ferry never touches the user's store or credentials; FERRY_BIN must be set.
ferry_env() {
  [[ -n "${FERRY_BIN:-}" && -x "$FERRY_BIN" ]] || fail "FERRY_BIN must point at the ferry binary (got '${FERRY_BIN:-}')"
  export HOME="$IT_TMP/home" XDG_DATA_HOME="$IT_TMP/xdg" DOCKER_CONFIG="$IT_TMP/docker-config"
  mkdir -p "$HOME" "$XDG_DATA_HOME" "$DOCKER_CONFIG"
  echo '{"auths":{}}' >"$DOCKER_CONFIG/config.json"
}

# ferry ARGS...: run ferry, bounded by FERRY_IT_TIMEOUT seconds (default 120);
# stdout/stderr go to $IT_TMP/ferry.{out,err}; returns ferry's status.
ferry() {
  local rc=0
  timeout -k 5 "${FERRY_IT_TIMEOUT:-120}" "$FERRY_BIN" "$@" >"$IT_TMP/ferry.out" 2>"$IT_TMP/ferry.err" || rc=$?
  return $rc
}

# ferry_rc WANT ARGS...: ferry must exit WANT; otherwise its output is shown.
ferry_rc() {
  local want=$1 rc=0
  shift
  ferry "$@" || rc=$?
  if [[ $rc != "$want" ]]; then
    cat "$IT_TMP/ferry.out" "$IT_TMP/ferry.err" >&2
    fail "ferry $* exited $rc, want $want"
  fi
}

# ferry_ok ARGS...: ferry must succeed.
ferry_ok() { ferry_rc 0 "$@"; }

# Real-tool images (podman/buildah, shared cache) and consumer checks
# (docker load/run, podman load, containerd, skopeo inspect): see the file.
source "$IT_LIB_DIR/realworld_lib.sh"
