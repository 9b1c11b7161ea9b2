#!/usr/bin/env bash
# `ferry sync --check` on bad and good watchlists (no registry, no network).
#
#   FERRY_BIN=build/ferry bash tests/integration/sync_config_test.sh
#
# Every bad watchlist must make `ferry sync --check -c FILE` exit 2 with
# exactly one line on stderr, `ferry: sync: FILE:LINE:COL: message`, where LINE:COL
# is the key or value at fault.  The expected position is computed from the
# file written here (the line holding it, and the column of the token on that
# line), never copied from ferry's output.  The example watchlists shipped in
# config/ must pass.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO_ROOT="$(cd "$IT_LIB_DIR/../.." && pwd)"

# Private HOME and docker config: --check resolves credentials.
ferry_env

W="$IT_TMP/watchlists"
mkdir -p "$W"
cd "$W" # file names in messages are given relative, as a user types them

# check FILE: run `ferry sync --check -c FILE` (killed after CHECK_SECONDS, default
# 30); sets RC, OUT, ERR.
check() {
  RC=0
  timeout -k 2 "${CHECK_SECONDS:-30}" "$FERRY_BIN" sync --check -c "$1" >"$IT_TMP/check.out" 2>"$IT_TMP/check.err" || RC=$?
  OUT=$(cat "$IT_TMP/check.out")
  ERR=$(cat "$IT_TMP/check.err")
}

# pos_of FILE LINE TOKEN: "LINE:COL" of TOKEN inside the line of FILE that is
# exactly LINE (which must occur once).
pos_of() {
  local file=$1 line=$2 token=$3 n prefix
  n=$(grep -n -x -F -- "$line" "$file" | cut -d: -f1)
  [[ -n "$n" && "$n" != *$'\n'* ]] || fail "pos_of: line [$line] not found once in $file"
  prefix=${line%%"$token"*}
  [[ "$prefix" != "$line" ]] || fail "pos_of: token [$token] not in line [$line]"
  echo "$n:$((${#prefix} + 1))"
}

# expect_bad FILE LINE TOKEN MESSAGE_REGEX: --check refuses FILE with exit 2
# and the single stderr line `ferry: sync: FILE:L:C: ...` pointing at TOKEN of
# LINE, whose message matches MESSAGE_REGEX (extended, case-insensitive).
expect_bad() {
  local file=$1 line=$2 token=$3 re=$4 pos
  pos=$(pos_of "$file" "$line" "$token")
  check "$file"
  if [[ $RC != 2 ]]; then
    fail "$file: --check exited $RC, want 2 (stderr: $ERR)"
  fi
  assert_eq "$file: stderr lines" 1 "$(wc -l <"$IT_TMP/check.err")"
  [[ "$ERR" == "ferry: sync: $file:$pos: "* ]] || fail "$file: want [ferry: sync: $file:$pos: ...], got [$ERR]"
  grep -q -i -E -- "$re" <<<"$ERR" || fail "$file: message does not match /$re/: $ERR"
  [[ -z "$OUT" ]] || fail "$file: a refused watchlist printed a plan: $OUT"
  log "ok  $file -> ${ERR#ferry: sync: }"
}

log "=== bad watchlists"

cat >unknown-key.yaml <<'EOF'
store: /tmp/ferry-test-store
images:
  - alpine:3.20
colour: blue
EOF
expect_bad unknown-key.yaml 'colour: blue' colour 'unknown key "colour"'

cat >unknown-entry-key.yaml <<'EOF'
images:
  - name: busybox
    tag: latest
EOF
expect_bad unknown-entry-key.yaml '    tag: latest' tag 'unknown key "tag" in image entry'

cat >bad-platform.yaml <<'EOF'
platforms:
  - linux/amd64
  - linux
images:
  - alpine:3.20
EOF
expect_bad bad-platform.yaml '  - linux' linux 'platform "linux"'

cat >uppercase-ref.yaml <<'EOF'
images:
  - alpine:3.20
  - 127.0.0.1:5000/Lab/App:1
EOF
expect_bad uppercase-ref.yaml '  - 127.0.0.1:5000/Lab/App:1' 127.0.0.1 'lowercase'

cat >concurrency-0.yaml <<'EOF'
images: [alpine]
concurrency: 0
EOF
expect_bad concurrency-0.yaml 'concurrency: 0' 0 'concurrency.*between 1 and'

cat >duplicate-image.yaml <<'EOF'
store: /tmp/ferry-test-store
images:
  - alpine:3.20
  - busybox
  - docker.io/library/alpine:3.20
EOF
# alpine:3.20 is docker.io/library/alpine:3.20: the second is the duplicate,
# and the message names the line of the first.
expect_bad duplicate-image.yaml '  - docker.io/library/alpine:3.20' docker.io \
  "duplicate image docker.io/library/alpine:3.20 .*line $(grep -n -x -F '  - alpine:3.20' duplicate-image.yaml | cut -d: -f1)"

cat >both-passwords.yaml <<'EOF'
registries:
  127.0.0.1:5000:
    credentials:
      username: ferry
      password_file: /nonexistent/ferry-password
      password_env: FERRY_PASSWORD
images:
  - 127.0.0.1:5000/lab/app:1
EOF
expect_bad both-passwords.yaml '      password_env: FERRY_PASSWORD' password_env 'password_file or password_env, not both'

cat >inline-password.yaml <<'EOF'
registries:
  127.0.0.1:5000:
    credentials: {username: ferry, password: hunter2-secret}
images:
  - 127.0.0.1:5000/lab/app:1
EOF
expect_bad inline-password.yaml '    credentials: {username: ferry, password: hunter2-secret}' 'password:' 'password_file'
grep -q hunter2 "$IT_TMP/check.err" && fail "the inline password was echoed: $ERR"

cat >bad-schedule.yaml <<'EOF'
store: /tmp/ferry-test-store
schedule: every 5x
images: [alpine]
EOF
expect_bad bad-schedule.yaml 'schedule: every 5x' 'every 5x' 'invalid schedule "every 5x"'

cat >bad-daily-schedule.yaml <<'EOF'
schedule: "24:00"
images: [alpine]
EOF
expect_bad bad-daily-schedule.yaml 'schedule: "24:00"' '"24:00"' 'invalid schedule "24:00"'

# Malformed YAML: a second ': ' inside a plain scalar.  yaml-cpp reports the
# offending colon.
cat >malformed.yaml <<'EOF'
store: /tmp/ferry-test-store
images:
  - alpine
  - name: busybox: latest
EOF
expect_bad malformed.yaml '  - name: busybox: latest' ': latest' '.'

# Malformed YAML: a tab used for indentation.
printf 'images:\n  - alpine\n\t- busybox\n' >tab-indent.yaml
expect_bad tab-indent.yaml $'\t- busybox' $'\t' 'tab'

# A ',' where no value may start made yaml-cpp 0.7's LoadAll loop forever, allocating
# until the OOM killer came (jbeder/yaml-cpp#1040): refused within seconds instead.
printf ',a:\n - b\n' >stray-comma.yaml
started=$(date +%s%N)
CHECK_SECONDS=10 expect_bad stray-comma.yaml ',a:' ',' "unexpected ','"
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
((elapsed_ms < 5000)) || fail "stray-comma.yaml: --check took ${elapsed_ms} ms, want under 5 s"
printf 'images: [alpine]\n...\n]\n' >stray-bracket.yaml
CHECK_SECONDS=10 expect_bad stray-bracket.yaml ']' ']' 'flow end'
printf 'images: [alpine]\n...\n,\n' >stray-comma-after-document.yaml
CHECK_SECONDS=10 expect_bad stray-comma-after-document.yaml ',' ',' "unexpected ','"

log "--- missing file: exit 2, one line naming the file"
check missing.yaml
assert_eq "missing.yaml: exit status" 2 "$RC"
assert_eq "missing.yaml: stderr lines" 1 "$(wc -l <"$IT_TMP/check.err")"
[[ "$ERR" == "ferry: sync: missing.yaml: "* ]] || fail "missing.yaml: want [ferry: sync: missing.yaml: ...], got [$ERR]"
grep -q -i 'no such file' <<<"$ERR" || fail "missing.yaml: message does not say the file is missing: $ERR"
log "ok  missing.yaml -> ${ERR#ferry: sync: }"

log "--- the same refusal by absolute path names the path as given"
check "$W/concurrency-0.yaml"
assert_eq "absolute path: exit status" 2 "$RC"
[[ "$ERR" == "ferry: sync: $W/concurrency-0.yaml:$(pos_of concurrency-0.yaml 'concurrency: 0' 0): "* ]] ||
  fail "absolute path: got [$ERR]"

log "=== shipped example watchlists pass"
for f in lab dockerhub; do
  check "$REPO_ROOT/config/$f.yaml"
  if [[ $RC != 0 ]]; then
    fail "config/$f.yaml: --check exited $RC: $ERR"
  fi
  [[ -z "$(grep -v -E '^([0-9T:.+-]+ )?info: ' "$IT_TMP/check.err" || true)" ]] || fail "config/$f.yaml: unexpected stderr: $ERR"
  grep -q "^watchlist " <<<"$OUT" || fail "config/$f.yaml: no plan printed: $OUT"
  log "ok  config/$f.yaml: $(grep -c '^image ' <<<"$OUT") images in the plan"
done
# The plan shows the normalised references, tags expanded, and the platforms.
grep -q -x -E 'image +127\.0\.0\.1:5000/lab/app:1\.1 +\[linux/amd64,linux/arm64\]' <(
  timeout 30 "$FERRY_BIN" sync --check -c "$REPO_ROOT/config/lab.yaml" 2>/dev/null) ||
  fail "lab.yaml plan lacks lab/app:1.1 for linux/amd64,linux/arm64"
grep -q -x -E 'image +docker\.io/library/ubuntu:24\.04 +\[linux/amd64\]' <(
  timeout 30 "$FERRY_BIN" sync --check -c "$REPO_ROOT/config/dockerhub.yaml" 2>/dev/null) ||
  fail "dockerhub.yaml plan lacks docker.io/library/ubuntu:24.04"
# `segments` from the watchlist, and --segments over it.
grep -q -x 'segments  4' <(timeout 30 "$FERRY_BIN" sync --check -c "$REPO_ROOT/config/dockerhub.yaml" 2>/dev/null) ||
  fail "dockerhub.yaml plan does not show segments 4"
grep -q -x 'segments  1' <(timeout 30 "$FERRY_BIN" sync --check --segments 1 -c "$REPO_ROOT/config/dockerhub.yaml" 2>/dev/null) ||
  fail "--segments 1 does not override the watchlist's segments"

log "PASS"
