#!/usr/bin/env bash
# man_pages_test.sh MAN_DIR — renders every manual page under MAN_DIR (sluice-mover(8),
# sluice.json(5), sluice-review(1)) with `man -l`, as a reader would, in the C locale
# and in UTF-8, and fails on any warning from groff (an undefined macro, a character it
# cannot write, a line it cannot break) or a page without its NAME and SYNOPSIS.
set -euo pipefail
dir=$1
command -v man >/dev/null || { echo "man is not installed (Debian package man-db)" >&2; exit 1; }
pages=("$dir"/*.[1-8])
[ ${#pages[@]} -ge 3 ] || { echo "expected at least 3 manual pages in $dir, found ${#pages[@]}" >&2; exit 1; }
status=0
for page in "${pages[@]}"; do
    for locale in C C.UTF-8; do
        out=$(mktemp)
        warnings=$(LC_ALL=$locale MANWIDTH=80 MAN_KEEP_FORMATTING= man --warnings -l "$page" 2>&1 >"$out") || {
            echo "$page ($locale): man failed" >&2
            status=1
        }
        if [ -n "$warnings" ]; then
            echo "$page ($locale): warnings:" >&2
            echo "$warnings" >&2
            status=1
        fi
        for section in NAME SYNOPSIS; do
            grep -q "^$section" "$out" || { echo "$page ($locale): no $section section" >&2; status=1; }
        done
        rm -f "$out"
    done
    [ "$status" -eq 0 ] && echo "ok: $(basename "$page")"
done
exit "$status"
