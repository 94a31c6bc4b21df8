#!/usr/bin/env bash
# bench-api.sh — the socket API's health latency for one user while another holds
# hundreds of connections (issue 12, finding 4), side by side with a quiet daemon and
# with idle connections, in one run; prints the table and writes it to
# docs/benchmarks.md between <!-- bench-api:begin --> and <!-- bench-api:end -->
# (other sections of the file are kept). The harness is scripts/bench_api.py.
#
#   sudo scripts/bench-api.sh        (root: a second OS user, sluice-mallory, holds the connections)
#
# Steps: scripts/install-deps.sh; a Release build of sluice-mover in build-bench-api/; a
# fresh S3 server in its own data folder (stopped again on exit, also on failure or
# Ctrl-C); the harness; the report. About 2 minutes.
#
# Settings (environment):
#   SLUICE_S3_PORT, SLUICE_MON_PORT   server ports (default 7480 / 3300, as scripts/s3-server.sh)
#   SLUICE_BENCH_API_REPS             runs of each scenario (default 5)
#   SLUICE_BENCH_API_PROBES           probes per run (default 200)
#   SLUICE_BENCH_API_CONNECTIONS      connections the other user holds (default 500)
#   SLUICE_BENCH_OUT                  the report file (default <repo>/docs/benchmarks.md)
set -euo pipefail

readonly PROG=bench-api
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$REPO/build-bench-api
export SLUICE_S3_DIR=${SLUICE_S3_DIR:-$BUILD/s3-server}
export SLUICE_S3_POLICIES=off # the mover identity only
OUT=${SLUICE_BENCH_OUT:-$REPO/docs/benchmarks.md}
SERVER=$REPO/scripts/s3-server.sh

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run it as root: a second OS user holds the connections (runuser)"
for v in SLUICE_BENCH_API_REPS SLUICE_BENCH_API_PROBES SLUICE_BENCH_API_CONNECTIONS; do
  [ -z "${!v:-}" ] || [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: a positive whole number, please"
done

say "dependencies (scripts/install-deps.sh)"
"$REPO/scripts/install-deps.sh"

say "Release build in $BUILD"
mkdir -p "$BUILD"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF >"$BUILD/configure.log" 2>&1 ||
  { tail -40 "$BUILD/configure.log" >&2; die "cmake configure failed (see $BUILD/configure.log)"; }
cmake --build "$BUILD" -j "$(nproc)" --target sluice-mover >"$BUILD/build.log" 2>&1 ||
  { grep -E 'error|Error' "$BUILD/build.log" | head -20 >&2; die "build failed (see $BUILD/build.log)"; }

SERVER_STARTED=0
cleanup() {
  local rc=$?
  if ((SERVER_STARTED)); then "$SERVER" stop >&2 || rc=1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "fresh S3 server in $SLUICE_S3_DIR"
SERVER_STARTED=1
"$SERVER" start >&2
eval "$("$SERVER" env)"

say "harness (scripts/bench_api.py)"
/usr/bin/python3 "$REPO/scripts/bench_api.py" "$BUILD/sluice-mover" "$OUT"
