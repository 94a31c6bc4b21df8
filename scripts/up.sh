#!/usr/bin/env bash
# scripts/up.sh — run sluice on this machine, from nothing:
# installs the dependencies, builds (build/), starts the local S3 server with its
# buckets and identities (scripts/s3-server.sh) and a clamd with the project's test
# signatures (scripts/clamd.sh; the example routes require ClamAV), prints the
# servers' environment, and runs `sluice-mover run -c config/examples/local.json` in
# the foreground. Stop the daemon with Ctrl-C; the servers keep running until
# `scripts/s3-server.sh stop` and `scripts/clamd.sh stop`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
config="${1:-config/examples/local.json}"

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "up: built $(build/sluice-mover --version) and $(build/sluice-review --version)"

export SLUICE_S3_DIR="${SLUICE_S3_DIR:-$root/build/s3-server}"
if scripts/s3-server.sh status >/dev/null 2>&1; then
    echo "up: the local S3 server is already running; keeping it"
else
    # the staging bucket's notification pushes uploads to local.json's events listener
    SLUICE_EVENTS_NOTIFY=1 SLUICE_MOVER_BIN="$root/build/sluice-mover" SLUICE_S3_POLICIES=required \
      scripts/s3-server.sh start
fi
export SLUICE_CLAMD_DIR="${SLUICE_CLAMD_DIR:-$root/build/clamd}"
if scripts/clamd.sh status >/dev/null 2>&1; then
    echo "up: clamd is already running; keeping it"
else
    scripts/clamd.sh start
fi
mkdir -p build/run
# the daemon's signing key (attest.signing_key of local.json; docs/attestation.md)
[ -e build/run/attest.key ] || build/sluice-mover keygen -o build/run/attest >/dev/null

cat <<MSG

The local S3 server's environment (for the AWS CLI, boto3 and the tests):
  eval "\$(scripts/s3-server.sh env)"
Stop it with: scripts/s3-server.sh stop (and clamd with: scripts/clamd.sh stop)

MSG
scripts/s3-server.sh env
scripts/clamd.sh env
echo

echo "up: running sluice-mover on $config (Ctrl-C stops it; the S3 server and clamd keep running)"
exec build/sluice-mover run -c "$config"
