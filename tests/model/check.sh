#!/bin/sh
# check.sh — checks one configuration of the protocol model (tests/model/protocol.pml)
# with spin, exhaustively within its bounds (ctest -L model; README.md beside this file).
#
#   check.sh WORKDIR NAME [--ltl] [-DOPTION=VALUE ...]
#       spin -a, pan compiled for an exhaustive search (COLLAPSE compression, no bitstate,
#       no hash compaction). Without --ltl: every assertion and invalid end states (a run
#       that stops before every version was checked: the checker waits for DONE). With
#       --ltl: also the ltl property `settles`, with acceptance cycles (about twice the
#       states). Fails on any error and on a search that did not complete (memory,
#       depth); prints states stored and matched, depth, memory and time, and the trail
#       in words when it fails. The rows and (row, outcome) pairs the search ran are
#       written to WORKDIR/NAME.cover for the coverage check (coverage.py).
#   check.sh WORKDIR NAME --open 'PATTERN' [-DOPTION=VALUE ...]
#       an open finding: passes while the search still finds a violation whose text
#       matches PATTERN (and prints its trail in words); fails once it no longer does —
#       then the finding is fixed and its configuration belongs with the checked ones.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$1
name=$2
shift 2
ltl=""
open=""
if [ "${1:-}" = "--ltl" ]; then
    ltl=1
    shift
elif [ "${1:-}" = "--open" ]; then
    open=$2
    shift 2
fi

command -v spin >/dev/null || { echo "check.sh: spin is not installed (scripts/install-deps.sh)" >&2; exit 1; }
dir="$work/$name"
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
echo "model $name: spin $* ${ltl:+(with ltl settles)}"
spin "$@" -a "$here/protocol.pml" >spin.out 2>&1 || { cat spin.out; exit 1; }

memlim=${SLUICE_MODEL_MEMLIM:-2048}
if [ -n "$open" ]; then
    ${CC:-cc} -O1 -w -DSAFETY -DNOCLAIM -DCOLLAPSE -DMEMLIM=$memlim -DVECTORSZ=512 -o pan pan.c
    ./pan -m50000 >pan.out 2>&1 || true
    grep -E 'violated|errors:|states, stored|elapsed' pan.out | sed 's/^/  /'
    if grep 'assertion violated' pan.out | grep -Eq -- "$open"; then
        echo "model $name: the open finding is still there; its trail:"
        spin "$@" -t -k protocol.pml.trail "$here/protocol.pml" | python3 "$here/trail.py" | grep -v 'listing'
        exit 0
    fi
    echo "model $name: the search no longer finds this violation ($open): the finding is fixed —"
    echo "  move its configuration to the checked ones (tests/cmake/model.cmake, README.md)"
    exit 1
fi
status=0
if [ -n "$ltl" ]; then
    ${CC:-cc} -O1 -w -DCOLLAPSE -DMEMLIM=$memlim -DVECTORSZ=512 -o pan pan.c
    ./pan -a -m50000 >pan.out 2>&1 || status=$?
else
    ${CC:-cc} -O1 -w -DSAFETY -DNOCLAIM -DCOLLAPSE -DMEMLIM=$memlim -DVECTORSZ=512 -o pan pan.c
    ./pan -m50000 >pan.out 2>&1 || status=$?
fi
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
echo "model $name: ${states:-?} states stored, ${matched:-?} matched, depth ${depth:-?}, ${memory:-?} MB, ${elapsed:-?} s"
if [ -n "$fail" ]; then
    echo "model $name: FAILED: $fail"
    grep -E 'violated|invalid end state|acceptance cycle|error' pan.summary || cat pan.summary
    if [ -f protocol.pml.trail ]; then
        echo "the trail (spin $* -t -k protocol.pml.trail $here/protocol.pml | python3 $here/trail.py):"
        spin "$@" -t -k protocol.pml.trail "$here/protocol.pml" | python3 "$here/trail.py" | grep -v 'listing'
    fi
    exit 1
fi
echo "model $name: passed"
