#!/bin/sh
# audit_cli_test.sh SLUICE_REVIEW — `sluice-review audit verify` as a program: exit
# codes (0 intact, 1 broken or unreadable, 2 usage) and the exact lines it prints. The
# logs are built here with printf and coreutils' sha256sum, so the chain rule (prev =
# SHA-256 of the previous line without its newline) is checked against an
# implementation that shares no code with mover/audit.
set -u
bin=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-audit-cli-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect CODE STDOUT_FILE_CONTENT -- ARGS...: runs the binary, checks exit code and stdout
expect() {
    want_code=$1 want_out=$2
    shift 2
    "$bin" "$@" >"$dir/out" 2>"$dir/err"
    code=$?
    [ "$code" = "$want_code" ] || fail "$*: exit $code, expected $want_code (stderr: $(cat "$dir/err"))"
    if [ -n "$want_out" ]; then
        [ "$(cat "$dir/out")" = "$want_out" ] || fail "$*: printed '$(cat "$dir/out")', expected '$want_out'"
    fi
}

# record SEQ PREV BODY: one line of the log
zeros=0000000000000000000000000000000000000000000000000000000000000000
record() { printf '{"seq":%s,"time":"2026-11-27T20:00:0%s.000Z",%s,"prev":"%s"}' "$1" "$1" "$3" "$2"; }
hash() { printf '%s' "$1" | sha256sum | cut -c1-64; }

l1=$(record 1 $zeros '"event":"quarantine","artifact":"a1","from":"staged","to":"quarantined","actor":"mover","detail":{"key":"r/t/out.csv"}')
l2=$(record 2 "$(hash "$l1")" '"event":"check","artifact":"a1","from":"quarantined","to":"checking","actor":"mover"')
l3=$(record 3 "$(hash "$l2")" '"event":"approve","artifact":"a1","from":"checking","to":"approved","actor":"alice"')
printf '%s\n%s\n%s\n' "$l1" "$l2" "$l3" >"$dir/good.jsonl"
expect 0 "OK: $dir/good.jsonl: 3 records, chain intact" audit verify "$dir/good.jsonl"

# line 2 changed after the fact: line 3 no longer links to it
l2x=$(printf '%s' "$l2" | sed 's/"actor":"mover"/"actor":"mallory"/')
printf '%s\n%s\n%s\n' "$l1" "$l2x" "$l3" >"$dir/changed.jsonl"
expect 1 "$dir/changed.jsonl: line 3: prev does not match the SHA-256 of line 2" audit verify "$dir/changed.jsonl"

# line 2 removed
printf '%s\n%s\n' "$l1" "$l3" >"$dir/removed.jsonl"
expect 1 "$dir/removed.jsonl: line 2: seq 3 follows 1" audit verify "$dir/removed.jsonl"

# a torn last line
printf '%s\n%s\n%s' "$l1" "$l2" "$l3" >"$dir/torn.jsonl"
expect 1 "$dir/torn.jsonl: line 3: last line has no newline (torn write?)" audit verify "$dir/torn.jsonl"

# an empty log is intact
: >"$dir/empty.jsonl"
expect 0 "OK: $dir/empty.jsonl: 0 records, chain intact" audit verify "$dir/empty.jsonl"

# unreadable: exit 1, message on stderr
expect 1 "" audit verify "$dir/missing.jsonl"
grep -q "missing.jsonl" "$dir/err" || fail "no file name in the error for a missing file: $(cat "$dir/err")"

# usage errors: exit 2 with a hint
expect 2 "" audit
grep -q "sluice-review audit verify FILE" "$dir/err" || fail "no hint for a missing subcommand"
expect 2 "" audit verify
expect 2 "" audit verify "$dir/good.jsonl" extra
expect 2 "" audit frobnicate "$dir/good.jsonl"
expect 2 "" audit verify --strict
expect 0 "" audit --help
grep -q "Usage: sluice-review audit verify FILE" "$dir/out" || fail "audit --help prints no usage"
expect 0 "" --help

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "audit_cli: all checks passed"
