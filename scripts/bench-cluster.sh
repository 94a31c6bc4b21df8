#!/usr/bin/env bash
# bench-cluster.sh — several movers on one server (docs/scaling.md): objects/s with one
# mover, one mover with leases, and two movers sharing one configuration; and the idle CPU
# of one mover with 100 routes at the default poll interval, with and without a cluster
# section. Prints markdown tables for docs/benchmarks.md; the runs' lines go to stderr.
#
# Usage: scripts/bench-cluster.sh [--objects N] [--reps R] [--idle-seconds S] [--only throughput|idle]
#   defaults: 1000 objects per run, 3 repetitions (interleaved), 30 s idle windows.
# Needs the binaries in build/ (or SLUICE_BUILD) and a running local server:
#   scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SLUICE_BUILD:-$REPO/build}
: "${SLUICE_S3_ENDPOINT:?start the server and load its env: eval \"\$(scripts/s3-server.sh env)\"}"
for bin in sluice-mover sluice-review; do
  [[ -x $BUILD/$bin ]] || { echo "bench-cluster: $BUILD/$bin is missing: build first" >&2; exit 1; }
done
echo "bench-cluster: $(date -u +%Y-%m-%dT%H:%MZ) at $(git -C "$REPO" rev-parse --short HEAD); $(nproc) cores;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec /usr/bin/python3 "$REPO/bench/bench_cluster.py" "$BUILD/sluice-mover" "$BUILD/sluice-review" "$@"
