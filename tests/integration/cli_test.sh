#!/usr/bin/env bash
# The CLI's own error lines (no registry, no network beyond a refused 127.0.0.1 port).
#
#   FERRY_BIN=build/ferry bash tests/integration/cli_test.sh
#
# 1. Every command prints its usage errors as ONE line `ferry: <command>: <message>`
#    and exits 2.
# 2. pull and push refuse --username without --password-stdin, --password-stdin
#    without --username, and an empty password on stdin: exit 2, one line, and the
#    store is not created.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ferry_env
STORE_DEFAULT="$XDG_DATA_HOME/ferry/store"
REF=127.0.0.1:1/lab/app:1   # nothing listens on port 1: a pull that gets there fails (exit 1)

# expect_line WANT_RC WANT_LINE ARGS...: ferry exits WANT_RC with exactly WANT_LINE on stderr.
expect_line() {
  local rc=$1 want=$2
  shift 2
  ferry_rc "$rc" "$@"
  assert_eq "ferry $*: stderr lines" 1 "$(wc -l <"$IT_TMP/ferry.err")"
  assert_eq "ferry $*: stderr" "$want" "$(cat "$IT_TMP/ferry.err")"
}

log "=== 1. one usage-error format for every command"
expect_line 2 "ferry: export: no export directory: give -o DIR (or \`export:\` in the watchlist)" export
expect_line 2 "ferry: verify: $IT_TMP/nope.tar: no such file or directory" verify "$IT_TMP/nope.tar"
expect_line 2 "ferry: verify: give a directory/tarball or --store, not both" verify "$IT_TMP" --store "$IT_TMP"
expect_line 2 "ferry: import: $IT_TMP/nope.tar: no such file or directory" import "$IT_TMP/nope.tar"
expect_line 2 "ferry: push: --all needs --to REGISTRY[/PREFIX]" push --all
expect_line 2 "ferry: pull: --uncompressed applies to --format docker only" pull "$REF" --format oci --uncompressed
ferry_rc 2 gc -c "$IT_TMP/missing.yaml"
[[ "$(cat "$IT_TMP/ferry.err")" == "ferry: gc: $IT_TMP/missing.yaml: "* ]] || fail "gc: got [$(cat "$IT_TMP/ferry.err")]"
ferry_rc 2 sync --once -c "$IT_TMP/missing.yaml"
[[ "$(cat "$IT_TMP/ferry.err")" == "ferry: sync: $IT_TMP/missing.yaml: "* ]] || fail "sync: got [$(cat "$IT_TMP/ferry.err")]"
ferry_rc 0 pull --help
grep -q -- '--password-stdin' "$IT_TMP/ferry.out" || fail "pull --help does not list --password-stdin"
[[ ! -e "$STORE_DEFAULT" ]] || fail "a usage error created the store $STORE_DEFAULT"
log "ok  usage errors: one line, ferry: <command>: <message>, exit 2"

log "=== 2. --username and --password-stdin go together; the password is not empty"
for cmd in pull push; do
  if [[ $cmd == pull ]]; then args=(pull "$REF" --max-attempts 1); else args=(push lab/app:1 --to 127.0.0.1:1/mirror); fi
  expect_line 2 "ferry: $cmd: --username needs --password-stdin (the password is read from standard input)" \
    "${args[@]}" --username "$IT_USER" </dev/null
  expect_line 2 "ferry: $cmd: --password-stdin needs --username" "${args[@]}" --password-stdin <<<"$IT_PASS"
  expect_line 2 "ferry: $cmd: --password-stdin: standard input holds no password" \
    "${args[@]}" --username "$IT_USER" --password-stdin </dev/null
  expect_line 2 "ferry: $cmd: --password-stdin: standard input holds no password" \
    "${args[@]}" --username "$IT_USER" --password-stdin <<<""
  [[ ! -e "$STORE_DEFAULT" ]] || fail "$cmd: a refused login created the store $STORE_DEFAULT"
done
# Both given and a password: past the check (pull then fails on the network, exit 1).
ferry_rc 1 pull "$REF" --max-attempts 1 --username "$IT_USER" --password-stdin <<<"$IT_PASS"
! grep -q -- '--username\|--password-stdin' "$IT_TMP/ferry.err" || fail "a complete login was refused: $(cat "$IT_TMP/ferry.err")"
! grep -q "$IT_PASS" "$IT_TMP/ferry.err" "$IT_TMP/ferry.out" || fail "ferry printed the password"
grep -q "^ferry: pull: $REF: " "$IT_TMP/ferry.err" || fail "failed pull: no ferry: pull: line: $(cat "$IT_TMP/ferry.err")"
log "ok  login flags checked in pull and push"

log "PASS cli"
