#!/usr/bin/env bash
# bench-protocol.sh — what checking uploads in place on versioned staging saves against
# copying them into quarantine first: the real daemon, N small CSV uploads per run,
# alternating the two modes (worker.check_in_place true / false) on one fresh local
# radosgw, medians and min–max of RUNS runs, and the mover's own count of S3 requests per
# promoted artifact (bench/bench_protocol.py). Prints a Markdown table for
# docs/benchmarks.md ("The artifact protocol").
#
#   scripts/bench-protocol.sh [N] [RUNS]        defaults 1000 objects, 3 runs per mode
#
# Settings: SLUICE_S3_PORT, SLUICE_MON_PORT (server ports, as scripts/s3-server.sh),
# SLUICE_S3_DIR (default <repo>/build-bench/protocol-s3-server). A Release build goes to
# build-bench/; the server is stopped again on exit.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BUILD=$REPO/build-bench
export SLUICE_S3_DIR=${SLUICE_S3_DIR:-$BUILD/protocol-s3-server}
scripts/install-deps.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target sluice-mover sluice-review >/dev/null
trap 'scripts/s3-server.sh stop >/dev/null 2>&1 || true' EXIT
SLUICE_MOVER_BIN="$BUILD/sluice-mover" SLUICE_S3_POLICIES=required scripts/s3-server.sh start >/dev/null
eval "$(scripts/s3-server.sh env)"
/usr/bin/python3 bench/bench_protocol.py "$BUILD/sluice-mover" "$BUILD/sluice-review" "${1:-1000}" "${2:-3}"
