#!/usr/bin/env bash
# bench.sh — the end-to-end benchmark of sluice-mover against the S3 server's ceiling for
# the same request sequence (wrk), rclone and the AWS CLI, all on one fresh local radosgw
# in one run; prints the table and writes it to docs/benchmarks.md between
# <!-- bench:begin --> and <!-- bench:end --> (other sections of the file are kept).
#
#   scripts/bench.sh
#
# What it measures (details in bench/bench_e2e.py, the harness; figures are the median
# of the repetitions with min–max):
#   ceiling   wrk (bench/replay.lua) replays the mover's requests on N staged 1 KiB
#             objects, presigned by our own signer (bench/e2e_tool.c): the 6 requests
#             sluice makes on radosgw, the issue's 5 (no HEAD of the trusted key), and
#             (hypothetical, what batching would give) 4 + the two deletes batched into
#             DeleteObjects of 16 keys
#   sluice    N = 2,000 × 1 KiB staged at once, then a fresh sluice-mover on an `auto`
#             route until all are promoted: objects/s, CPU ms per object, peak RSS; for a
#             CSV body (libmagic: text/csv, ~1 µs) and for plain text (text/plain, ~0.5–1.3
#             ms in libmagic), checked in place on versioned staging (4 requests), and for
#             the CSV copied into quarantine first (worker.check_in_place false, 6)
#   movers    rclone move (--transfers 16 and 64) and aws s3 mv --recursive of N objects
#   large     a 1 GiB object through an `auto` route: check MB/s (audit record `check`
#             to the verdict) beside curl GET of the same bytes; peak RSS (and with 1 MiB)
#   latency   200 objects PUT 100 ms apart, poll interval 1 s: p50 and p99 from the PUT's
#             completion to the audit's `promoted` record
#   idle      100 routes, nothing to do, poll 1 s and 2 s: % of a core over 60 s
# and checks the targets of issue 8. The whole run takes about 13 minutes.
#
# Steps: scripts/install-deps.sh; a Release build in build-bench/ (tests off) of
# sluice-mover, sluice-s3-bench and sluice-bench-e2e; a fresh server in its own data
# folder (stopped again on exit, also on failure or Ctrl-C); the harness; the report.
#
# Settings (environment):
#   SLUICE_S3_DIR        server data folder; default <repo>/build-bench/s3-server-e2e
#   SLUICE_S3_PORT, SLUICE_MON_PORT
#                        server ports (default 7480 / 3300, as scripts/s3-server.sh)
#   SLUICE_BENCH_COUNT   objects per throughput run (default 2000)
#   SLUICE_BENCH_REPS    repetitions of the throughput runs (default 3)
#   SLUICE_BENCH_LARGE_MIB, SLUICE_BENCH_LARGE_REPS   large object (1024 MiB, 3)
#   SLUICE_BENCH_LATENCY_REPS   latency runs (default 3)
#   SLUICE_BENCH_IDLE_SECONDS, SLUICE_BENCH_IDLE_REPS idle window and runs (60 s, 3)
#   SLUICE_BENCH_OUT     the report file (default <repo>/docs/benchmarks.md)
#   SLUICE_BENCH_BUILD   use the binaries of this existing build folder instead of making
#                        the Release build (say which build type in what you publish)
#   SLUICE_BENCH_ONLY    one part only: throughput, callgrind or rest (the report of a
#                        part run lacks the other parts' figures)
#   SLUICE_BENCH_RUNS    the throughput runs of each repetition, space-separated, from
#                        ceiling6 ceiling5 ceiling4 csv text csv-quarantine rclone16
#                        rclone64 aws (default: all)
#   SLUICE_BENCH_BASELINE  a sluice-mover to compare with in the callgrind part
# Raw records: build-bench/bench-results.jsonl; run details: build-bench/bench-meta.txt;
# the movers' configurations, logs and audit logs: build-bench/bench-e2e/ (kept until
# the next run). `bench/bench_e2e.py report` rewrites the section from those files.
set -euo pipefail

readonly PROG=bench
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$REPO/build-bench
BIN=${SLUICE_BENCH_BUILD:-$BUILD}
ONLY=${SLUICE_BENCH_ONLY:-}
RUNS=${SLUICE_BENCH_RUNS:-}
BASELINE=${SLUICE_BENCH_BASELINE:-}
export SLUICE_S3_DIR=${SLUICE_S3_DIR:-$BUILD/s3-server-e2e}
# The benchmark uses only the mover identity, which owns the buckets: no bucket policies
# (scripts/s3-server.sh would otherwise apply them with build/sluice-mover).
export SLUICE_S3_POLICIES=off
COUNT=${SLUICE_BENCH_COUNT:-2000}
REPS=${SLUICE_BENCH_REPS:-3}
LARGE_MIB=${SLUICE_BENCH_LARGE_MIB:-1024}
LARGE_REPS=${SLUICE_BENCH_LARGE_REPS:-3}
LATENCY_REPS=${SLUICE_BENCH_LATENCY_REPS:-3}
IDLE_SECONDS=${SLUICE_BENCH_IDLE_SECONDS:-60}
IDLE_REPS=${SLUICE_BENCH_IDLE_REPS:-3}
OUT=${SLUICE_BENCH_OUT:-$REPO/docs/benchmarks.md}
PYTHON=/usr/bin/python3   # Debian's, with python3-boto3
AWS=/usr/bin/aws          # Debian's awscli (a pyenv shim may come first on PATH)
SERVER=$REPO/scripts/s3-server.sh
WORK=$BUILD/bench-e2e
RESULTS=$BUILD/bench-results.jsonl
META=$BUILD/bench-meta.txt

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

for v in COUNT REPS LARGE_MIB LARGE_REPS LATENCY_REPS IDLE_SECONDS IDLE_REPS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "SLUICE_BENCH_$v=${!v}: a positive whole number, please"
done
T_START=$SECONDS

# ------------------------------------------------------------------ preparation ----

say "dependencies (scripts/install-deps.sh)"
"$REPO/scripts/install-deps.sh"
for c in "$PYTHON" "$AWS" curl wrk rclone cmake radosgw-admin ceph; do
  command -v "$c" >/dev/null || die "$c not found (scripts/install-deps.sh installs it)"
done

mkdir -p "$BUILD"
if [[ -n ${SLUICE_BENCH_BUILD:-} ]]; then
  say "the binaries of $BIN ($(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BIN/CMakeCache.txt"))"
  for b in sluice-mover bench/sluice-bench-e2e bench/sluice-s3-bench; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is not built"
  done
else
  say "Release build in $BUILD"
  # Without the tests (nor cmocka).
  cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF >"$BUILD/configure.log" 2>&1 ||
    { tail -40 "$BUILD/configure.log" >&2; die "cmake configure failed (see $BUILD/configure.log)"; }
  cmake --build "$BUILD" -j "$(nproc)" --target sluice-mover sluice-s3-bench sluice-bench-e2e \
    >"$BUILD/build.log" 2>&1 ||
    { grep -E 'error|Error' "$BUILD/build.log" | head -20 >&2; die "build failed (see $BUILD/build.log)"; }
fi

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

rm -rf "$WORK"
mkdir -p "$WORK"
: >"$RESULTS"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "mem_gib=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "radosgw=$(radosgw --version 2>/dev/null | head -1)"
  echo "wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
  echo "rclone=$(env -u AWS_CA_BUNDLE rclone version 2>/dev/null | head -1)"
  echo "aws=$(env -u AWS_CA_BUNDLE "$AWS" --version 2>&1 | cut -d' ' -f1)"
  echo "curl=$(curl --version | head -1 | cut -d' ' -f1-2)"
  echo "libcurl=$(pkg-config --modversion libcurl)"
  echo "libuv=$(pkg-config --modversion libuv)"
  echo "openssl=$(pkg-config --modversion openssl)"
  echo "python=$("$PYTHON" -c 'import platform; print(platform.python_version())')"
  echo "boto3=$("$PYTHON" -c 'import boto3; print(boto3.__version__)')"
  echo "cc=$("$(awk -F= '/^CMAKE_C_COMPILER:/ { print $2 }' "$BIN/CMakeCache.txt")" --version | head -1)"
  echo "build_type=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BIN/CMakeCache.txt")"
  echo "git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- mover config 2>/dev/null &&
    [[ -z $(git -C "$REPO" ls-files --others --exclude-standard -- mover config 2>/dev/null) ]] ||
    echo ' + uncommitted changes in mover/ or config/')"
  echo "count=$COUNT"
  echo "reps=$REPS"
  echo "wrk_threads=32"
  echo "delete_batch=16"
  echo "large_mib=$LARGE_MIB"
  echo "large_reps=$LARGE_REPS"
  echo "latency_count=200"
  echo "latency_gap_ms=100"
  echo "latency_poll=1s"
  echo "latency_reps=$LATENCY_REPS"
  echo "idle_seconds=$IDLE_SECONDS"
  echo "idle_warmup=3"
  echo "idle_reps=$IDLE_REPS"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$META"

# ------------------------------------------------------------------ measuring ------

"$PYTHON" "$REPO/bench/bench_e2e.py" run --work "$WORK" --results "$RESULTS" --meta "$META" \
  --mover "$BIN/sluice-mover" --tool "$BIN/bench/sluice-bench-e2e" --s3bench "$BIN/bench/sluice-s3-bench" \
  ${ONLY:+--only "$ONLY"} ${RUNS:+--runs $RUNS} ${BASELINE:+--baseline-mover "$BASELINE"} \
  --replay-lua "$REPO/bench/replay.lua" --aws "$AWS" --count "$COUNT" --reps "$REPS" --wrk-threads 32 \
  --delete-batch 16 \
  --large-mib "$LARGE_MIB" --large-reps "$LARGE_REPS" --latency-count 200 --latency-gap-ms 100 \
  --latency-poll 1s --latency-reps "$LATENCY_REPS" --idle-seconds "$IDLE_SECONDS" --idle-warmup 3 \
  --idle-reps "$IDLE_REPS"

{
  echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "runtime_s=$((SECONDS - T_START))"
} >>"$META"

# ------------------------------------------------------------------ report ---------

say "report → $OUT"
"$PYTHON" "$REPO/bench/bench_e2e.py" report --results "$RESULTS" --meta "$META" --out "$OUT"
say "done in $((SECONDS - T_START)) s"
