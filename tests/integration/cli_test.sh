#!/usr/bin/env bash
# The CLI's own error lines (no registry, no network beyond a refused 127.0.0.1 port).
#
#   FERRY_BIN=build/ferry bash tests/integration/cli_test.sh
#
# 1. Every command prints its usage errors as ONE line `ferry: <command>: <message>`
#    and exits 2 (parse errors from the option parser too).
# 2. pull and push refuse --username without --password-stdin, --password-stdin
#    without --username, and an empty password on stdin: exit 2, one line, and the
#    store is not created.
# 3. With --log-format json every stderr line is one JSON object with the keys of
#    the log's own lines (time, level, msg); the error lines have level "error" and
#    the text line as msg.
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

# json_lines FILE: every line of FILE is a JSON object whose keys are exactly
# time, level, msg; prints "level<TAB>msg" per line.
json_lines() {
  "$IT_PYTHON" - "$1" <<'PY'
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
if not lines:
    sys.exit("no stderr lines")
for n, line in enumerate(lines, 1):
    try:
        obj = json.loads(line)
    except ValueError as e:
        sys.exit(f"line {n} is not JSON ({e}): {line}")
    if not isinstance(obj, dict) or sorted(obj) != ["level", "msg", "time"]:
        sys.exit(f"line {n} does not have exactly time, level, msg: {line}")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}([+-]\d\d:?\d\d|Z)", obj["time"]):
        sys.exit(f"line {n}: time {obj['time']!r} is not like the log's")
    print(f"{obj['level']}\t{obj['msg']}")
PY
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
# Errors of the option parser: the same shape, naming the subcommand.
ferry_rc 2 pull "$REF" --concurrency 0
assert_eq "parse error: stderr lines" 1 "$(wc -l <"$IT_TMP/ferry.err")"
grep -q -E '^ferry: pull: --concurrency: .*0.* \(see ferry pull --help\)$' "$IT_TMP/ferry.err" ||
  fail "parse error: got [$(cat "$IT_TMP/ferry.err")]"
expect_line 2 "ferry: verify: The following argument was not expected: --no-such-flag (see ferry verify --help)" \
  verify --no-such-flag
expect_line 2 "ferry: A subcommand is required (see ferry --help)"
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

log "=== 3. --log-format json: CLI error lines are JSON like the log lines"
# A usage error, the global option before and after the subcommand.
for args in "--log-format json pull $REF --username $IT_USER" "pull $REF --username $IT_USER --log-format=json"; do
  # shellcheck disable=SC2086
  ferry_rc 2 $args </dev/null
  got=$(json_lines "$IT_TMP/ferry.err") || fail "json ($args): $got"
  assert_eq "json ($args)" "$(printf 'error\tferry: pull: --username needs --password-stdin (the password is read from standard input)')" "$got"
done
# A parse error (reported before the subcommand ran).
ferry_rc 2 --log-format json pull "$REF" --concurrency 0
got=$(json_lines "$IT_TMP/ferry.err") || fail "json parse error: $got"
[[ "$got" == "$(printf 'error\tferry: pull: --concurrency: ')"* ]] || fail "json parse error: got [$got]"
# A run that fails: spdlog's own lines and the per-image error line, all JSON of one shape.
ferry_rc 1 --log-format json pull "$REF" --max-attempts 1
got=$(json_lines "$IT_TMP/ferry.err") || fail "json failed pull: $got"
grep -q "^error	ferry: pull: $REF: " <<<"$got" || fail "json failed pull: no error line for $REF: $got"
grep -q "^info	pull done " <<<"$got" || fail "json failed pull: no info log line: $got"
# Without --log-format json the same error is the plain line.
ferry_rc 1 pull "$REF" --max-attempts 1
grep -q "^ferry: pull: $REF: " "$IT_TMP/ferry.err" || fail "text failed pull: $(cat "$IT_TMP/ferry.err")"
! grep -q '^{' "$IT_TMP/ferry.err" || fail "text mode printed JSON: $(cat "$IT_TMP/ferry.err")"
log "ok  json error lines"

log "PASS cli"
