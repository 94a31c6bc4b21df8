#!/usr/bin/env bash
# bench-events.sh — drop → trusted (p50, p99) with S3 event push and with polling only
# (poll_interval 1 s), side by side in one run; prints the table and writes it to
# docs/benchmarks.md between <!-- bench-events:begin --> and <!-- bench-events:end -->
# (other sections of the file are kept). The harness is scripts/bench_events.py.
#
#   scripts/bench-events.sh
#
# Needs a build of sluice-mover (build/, or SLUICE_MOVER_BIN). Uses the running local S3
# server when its environment is exported (eval "$(scripts/s3-server.sh env)"), else
# starts a fresh one in build/bench-events/s3-server and stops it again on exit; the same
# for clamd (scripts/clamd.sh), for the third mode: push with ClamAV on the route. About
# two minutes with the defaults.
#
# Settings (environment):
#   SLUICE_S3_PORT, SLUICE_MON_PORT   server ports (default 7480 / 3300, as scripts/s3-server.sh)
#   SLUICE_BENCH_EVENTS_REPS          runs of each mode (default 3)
#   SLUICE_BENCH_EVENTS_UPLOADS       uploads per run (default 20)
#   SLUICE_BENCH_OUT                  the report file (default <repo>/docs/benchmarks.md)
set -euo pipefail

readonly PROG=bench-events
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOVER=${SLUICE_MOVER_BIN:-$REPO/build/sluice-mover}
REVIEW=$(dirname "$MOVER")/sluice-review
REPS=${SLUICE_BENCH_EVENTS_REPS:-3}
UPLOADS=${SLUICE_BENCH_EVENTS_UPLOADS:-20}
OUT=${SLUICE_BENCH_OUT:-$REPO/docs/benchmarks.md}
PY=/usr/bin/python3

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

for v in REPS UPLOADS; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: a positive whole number, please"; done
[ -x "$MOVER" ] || die "$MOVER: build it first (cmake --build build)"

started=()  # the servers this run started, stopped again on exit
stop_started() { for s in "${started[@]}"; do "$REPO/scripts/$s.sh" stop >/dev/null 2>&1 || true; done; }
trap stop_started EXIT

if [ -z "${SLUICE_S3_ENDPOINT:-}" ]; then
  export SLUICE_S3_DIR=$REPO/build/bench-events/s3-server
  started+=(s3-server)
  say "a fresh local S3 server in $SLUICE_S3_DIR"
  SLUICE_MOVER_BIN=$MOVER "$REPO/scripts/s3-server.sh" start >&2
  eval "$("$REPO/scripts/s3-server.sh" env)"
fi
[ "${SLUICE_EVENTS_LISTEN:-none}" != none ] || die "the S3 server has no events topic: restart it (scripts/s3-server.sh start)"
if [ -z "${SLUICE_CLAMD_SOCKET:-}" ]; then
  export SLUICE_CLAMD_DIR=$REPO/build/bench-events/clamd
  started+=(clamd)
  say "a fresh clamd in $SLUICE_CLAMD_DIR"
  "$REPO/scripts/clamd.sh" start >&2
  eval "$("$REPO/scripts/clamd.sh" env)"
fi

say "$REPS runs of $UPLOADS uploads in each mode"
json=$("$PY" "$REPO/scripts/bench_events.py" "$MOVER" "$REVIEW" "$REPS" "$UPLOADS")

table=$("$PY" - "$json" "$REPS" "$UPLOADS" <<'PYEOF'
import json, sys
r, reps, n = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
def cell(s):
    return f"{s['median']:.0f} ({s['min']:.0f}–{s['max']:.0f})"
print(f"| mode | p50 drop → trusted, ms | p99 drop → trusted, ms |")
print("|---|---|---|")
print(f"| event push (radosgw topic, poll 60 s) | {cell(r['push']['p50'])} | {cell(r['push']['p99'])} |")
print(f"| polling only (poll_interval 1 s) | {cell(r['polling']['p50'])} | {cell(r['polling']['p99'])} |")
if "clamav" in r:
    print(f"| event push, ClamAV on the route (clamd INSTREAM) | {cell(r['clamav']['p50'])} | "
          f"{cell(r['clamav']['p99'])} |")
print()
print(f"Median of {reps} runs (min–max) of {n} uploads each, modes alternated; latency from the "
      "PUT's answer to the daemon's `promoted` log line (the copy into trusted succeeded).")
PYEOF
)
printf '%s\n' "$table"

section=$(printf '%s\n' "<!-- bench-events:begin -->" \
  "## Events: drop → trusted with push and with polling only" "" \
  "\`scripts/bench-events.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores): one auto-review route, small CSV uploads" \
  "to the local radosgw, the topic made by \`scripts/s3-server.sh\` (non-persistent, docs/events.md)." "" \
  "$table" "<!-- bench-events:end -->")
"$PY" - "$OUT" "$section" <<'PYEOF'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read() if __import__("os").path.exists(path) else "# Benchmarks\n"
pat = re.compile(r"<!-- bench-events:begin -->.*?<!-- bench-events:end -->", re.S)
text = pat.sub(lambda m: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PYEOF
say "written to $OUT"
