#!/usr/bin/env bash
# scripts/test.sh — the project's test command (CI runs it through .ci/run).
#
# 1. installs the Debian packages it needs (scripts/install-deps.sh, quiet when done);
# 2. configures and builds two trees: build/ (RelWithDebInfo; unit tests also run
#    under valgrind there) and build-asan/ (Debug with AddressSanitizer + UBSan);
# 3. starts a fresh local S3 server (scripts/s3-server.sh) with the bucket policies
#    that build/sluice-mover writes (required: no policies, no tests), and, alongside,
#    a clamd with the project's own test signatures (scripts/clamd.sh); exports both
#    environments;
# 4. runs every test (ctest --output-on-failure) in both trees;
# 5. stops both servers, also when tests fail or the script is interrupted.
# Exits non-zero on any failure; the last line sums both runs as "N passed, M failed".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

step "build (RelWithDebInfo) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

step "build (Debug, ASan+UBSan) in build-asan/"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"

step "local S3 server and clamd"
export SLUICE_S3_DIR="${SLUICE_S3_DIR:-$root/build/s3-server}"
export SLUICE_CLAMD_DIR="${SLUICE_CLAMD_DIR:-$root/build/clamd}"
trap 'scripts/clamd.sh stop >/dev/null || true; scripts/s3-server.sh stop || true' EXIT
trap 'exit 130' INT TERM
scripts/clamd.sh start &  # loads its signatures while the S3 server starts
clamd_start=$!
SLUICE_MOVER_BIN="$root/build/sluice-mover" SLUICE_S3_POLICIES=required scripts/s3-server.sh start
wait "$clamd_start"
eval "$(scripts/s3-server.sh env)"
eval "$(scripts/clamd.sh env)"

passed=0
failed=0
status=0
run_ctest() { # $1 = build tree
    local log="$1/ctest-summary.log"
    step "ctest in $1"
    if ! ctest --test-dir "$1" --output-on-failure 2>&1 | tee "$log"; then
        status=1
    fi
    # "100% tests passed, 0 tests failed out of 12" (or "NN% tests passed, K tests failed out of T")
    local line total bad
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        echo "test.sh: no ctest summary in $1 (did the build register tests?)" >&2
        status=1
        return
    fi
    bad=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
    [ "$bad" -eq 0 ] || status=1
}
run_ctest build
run_ctest build-asan

echo
echo "tests: $passed passed, $failed failed"
exit "$status"
