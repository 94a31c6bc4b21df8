#!/bin/sh
# layering_test.sh — the daemon's layers point one way: mover/api/ (the HTTP server and
# every endpoint) is the top, and nothing below it knows HTTP. Fails, naming each file
# and line, when a source file under mover/ or config/ outside mover/api/ (and other
# than mover/main.c, which wires the daemon together) includes a header of mover/api/
# or http-parser.
#
#   layering_test.sh ROOT        check the tree at ROOT (exit 0 clean, 1 with findings)
#   layering_test.sh --self-test show that the check finds what it must: a copy of a
#                                tiny tree with one forbidden include of each kind
#                                must fail and name both files; a clean one must pass
set -u

check() { # $1 = root; prints findings, returns 1 if any
    root=$1
    found=0
    for dir in "$root/mover" "$root/config"; do
        [ -d "$dir" ] || continue
        # every .c and .h, except the top layer itself
        for file in $(find "$dir" -type f \( -name '*.c' -o -name '*.h' \) | sort); do
            rel=${file#"$root"/}
            case "$rel" in
            mover/api/*|mover/main.c) continue ;;
            esac
            # #include "api/…" or <api/…>, and http-parser, with any spacing
            hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<](api/[^">]*|http_parser\.h)[">]' "$file" || true)
            [ -n "$hits" ] || continue
            found=1
            printf '%s\n' "$hits" | while IFS= read -r hit; do
                line=${hit%%:*}
                what=$(printf '%s' "${hit#*:}" | sed -E 's/.*["<]([^">]*)[">].*/\1/')
                echo "$rel:$line includes $what: only mover/api/ (and mover/main.c) may; hand the engine's typed result up instead"
            done
        done
    done
    return $found
}

if [ "${1:-}" = "--self-test" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/mover/api" "$tmp/mover/tasks" "$tmp/mover/state" "$tmp/config"
    printf '#include "api/api.h"\n' >"$tmp/mover/api/endpoint.c"        # allowed: the top layer
    printf '#include "api/api.h"\n' >"$tmp/mover/main.c"                # allowed: the wiring
    printf '#include "tasks/tasks.h"\n' >"$tmp/mover/state/clean.c"      # allowed: below the API
    if ! check "$tmp" >"$tmp/out"; then
        echo "self-test: a clean tree was reported:"; cat "$tmp/out"; exit 1
    fi
    printf '/* x */\n  #  include <api/errors.h>\n' >"$tmp/mover/tasks/bad.h"
    printf '#include "util/buf.h"\n#include <http_parser.h>\n' >"$tmp/config/bad.c"
    if check "$tmp" >"$tmp/out"; then
        echo "self-test: forbidden includes were not found"; exit 1
    fi
    grep -q '^mover/tasks/bad.h:2 includes api/errors.h' "$tmp/out" &&
        grep -q '^config/bad.c:2 includes http_parser.h' "$tmp/out" || {
        echo "self-test: the findings do not name file, line and header:"; cat "$tmp/out"; exit 1
    }
    echo "self-test: ok (clean tree passes; both forbidden includes named)"
    exit 0
fi

root=${1:?usage: layering_test.sh ROOT | --self-test}
if check "$root"; then
    echo "layering: ok — nothing below mover/api/ includes from it or knows HTTP"
    exit 0
fi
exit 1
