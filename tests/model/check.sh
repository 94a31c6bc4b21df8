#!/bin/sh
# check.sh — checks one configuration of the protocol model (tests/model/protocol.pml)
# with spin, exhaustively within its bounds (ctest -L model; README.md beside this file).
#
#   check.sh WORKDIR NAME [-DOPTION=VALUE ...]
#       spin -a, pan compiled for an exhaustive search (COLLAPSE compression, no bitstate,
#       no hash compaction), run with acceptance cycles for the ltl property `settles`
#       (every assertion is checked on the way). Fails on any error, on a search that did
#       not complete (memory, depth), and prints states stored and matched, depth, memory
#       and time. The rows and (row, outcome) pairs the search ran are written to
#       WORKDIR/NAME.cover for the coverage check (coverage.py).
#   check.sh WORKDIR NAME --open 'PATTERN' [-DOPTION=VALUE ...]
#       an open finding: passes while the model still finds a violation whose text
#       matches PATTERN (and prints its trail in words); fails once it no longer does —
#       then the finding is fixed and its configuration belongs with the others.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$1
name=$2
shift 2
open=""
if [ "${1:-}" = "--open" ]; then
    open=$2
    shift 2
fi

command -v spin >/dev/null || { echo "check.sh: spin is not installed (scripts/install-deps.sh)" >&2; exit 1; }
dir="$work/$name"
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
echo "model $name: spin $*"
spin "$@" -a "$here/protocol.pml" >spin.out 2>&1 || { cat spin.out; exit 1; }

if [ -n "$open" ]; then
    # safety only, stop at the first violation
    ${CC:-cc} -O2 -w -DSAFETY -DNOCLAIM -DCOLLAPSE -DMEMLIM=2048 -o pan pan.c
    ./pan -m500000 >pan.out 2>&1 || true
    grep -E 'violated|errors:|states, stored|elapsed' pan.out | sed 's/^/  /'
    if grep -q 'assertion violated' pan.out && grep 'assertion violated' pan.out | grep -Eq -- "$open"; then
        echo "model $name: the open finding is still there; its trail:"
        spin "$@" -t -k protocol.pml.trail "$here/protocol.pml" | python3 "$here/trail.py" | grep -v 'listing'
        exit 0
    fi
    echo "model $name: the model no longer finds this violation ($open): the finding is fixed —"
    echo "  move its configuration to the checked ones (tests/cmake/model.cmake, README.md)"
    exit 1
fi

${CC:-cc} -O2 -w -DCOLLAPSE -DMEMLIM=${SLUICE_MODEL_MEMLIM:-3072} -o pan pan.c
status=0
./pan -a -m2000000 >pan.out 2>&1 || status=$?
cpu=$(times | sed -n 2p | cut -d' ' -f1) # the CPU time of pan (and of spin and cc before it)
grep '^COVER ' pan.out >"$work/$name.cover" || true
grep -v '^COVER ' pan.out >pan.summary
fail=""
[ "$status" -eq 0 ] || fail="pan exited with $status"
grep -q 'errors: 0' pan.summary || fail="pan found an error"
if grep -qE 'out of memory|Search not completed|max search depth too small|error: max search depth' pan.summary; then
    fail="the search did not complete"
fi
states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.summary)
matched=$(sed -n 's/^ *\([0-9.e+]*\) states, matched.*/\1/p' pan.summary)
depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.summary)
memory=$(sed -n 's/^ *\([0-9.]*\).total actual memory usage.*/\1/p' pan.summary)
elapsed=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' pan.summary)
echo "model $name: ${states:-?} states stored, ${matched:-?} matched, depth ${depth:-?}, ${memory:-?} MB, ${elapsed:-?} s (CPU $cpu)"
if [ -n "$fail" ]; then
    echo "model $name: FAILED: $fail"
    cat pan.summary
    if [ -f protocol.pml.trail ]; then
        echo "the trail (spin $* -t $here/protocol.pml | python3 $here/trail.py):"
        spin "$@" -t -k protocol.pml.trail "$here/protocol.pml" | python3 "$here/trail.py" | grep -v 'listing'
    fi
    exit 1
fi
echo "model $name: passed"
