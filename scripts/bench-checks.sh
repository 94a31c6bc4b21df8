#!/usr/bin/env bash
# bench-checks.sh — the content checks' benchmark (bench/bench_checks.py): rules-only and
# embedded-scan rates on memory, CPU per 1 KiB artifact with rules on and off, a 1 GiB
# object through the daemon with every check beside curl GET of the same object in the
# same run, and (with a clamd of its own, scripts/clamd.sh) an object through clamd
# INSTREAM and a tar of small files through the archive inspection, each beside curl
# GET. Writes its sections of docs/benchmarks.md.
#
#   scripts/bench-checks.sh
#
# Settings (environment): SLUICE_S3_PORT, SLUICE_MON_PORT (server ports);
# SLUICE_BENCH_REPS (default 3); SLUICE_BENCH_LARGE_MIB (1024; 0 skips the daemon run);
# SLUICE_BENCH_SCAN_MIB (256); SLUICE_BENCH_ARTIFACTS (20000); SLUICE_BENCH_CLAMD_MIB
# (256; 0 skips the ClamAV run); SLUICE_BENCH_ARCHIVE_MIB (100; 0 skips the archive run).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-deps.sh
cmake -S . -B build-bench-checks -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF >/dev/null
cmake --build build-bench-checks -j "$(nproc)" --target sluice-mover sluice-checks-bench
export SLUICE_S3_DIR="${SLUICE_S3_DIR:-$root/build-bench-checks/s3-server}"
export SLUICE_CLAMD_DIR="$root/build-bench-checks/clamd"
trap 'scripts/s3-server.sh stop || true; scripts/clamd.sh stop || true' EXIT
trap 'exit 130' INT TERM
large=${SLUICE_BENCH_LARGE_MIB:-1024}
clamd=${SLUICE_BENCH_CLAMD_MIB:-256}
archive=${SLUICE_BENCH_ARCHIVE_MIB:-100}
if [ "$clamd" -gt 0 ]; then
    # clamd takes (and scans whole) streams a little larger than the object
    SLUICE_CLAMD_STREAM_MAX="$((clamd + 64))M" scripts/clamd.sh start
    eval "$(scripts/clamd.sh env)"
fi
if [ "$large" -gt 0 ] || [ "$clamd" -gt 0 ] || [ "$archive" -gt 0 ]; then
    SLUICE_MOVER_BIN="$root/build-bench-checks/sluice-mover" scripts/s3-server.sh start
    eval "$(scripts/s3-server.sh env)"
fi
/usr/bin/python3 bench/bench_checks.py --checks-bench build-bench-checks/bench/sluice-checks-bench \
    --mover build-bench-checks/sluice-mover --rules config/rules/default.json --doc docs/benchmarks.md \
    --reps "${SLUICE_BENCH_REPS:-3}" --large-mib "$large" --scan-mib "${SLUICE_BENCH_SCAN_MIB:-256}" \
    --artifacts "${SLUICE_BENCH_ARTIFACTS:-20000}" --clamd-mib "$clamd" --archive-mib "$archive"
