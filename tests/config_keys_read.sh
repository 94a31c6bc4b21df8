#!/usr/bin/env bash
# config_keys_read.sh GEN_CONFIG_DOC SOURCE_DIR — fails for any configuration key that
# no code outside config/ reads: a key the loader accepts must do what it says.
#
# `gen-config-doc --keys` lists every key of the schema tables with the C member it is
# stored in and an extended regex for code that reads it ("s3 . or -> max_in_flight").
# The sources of mover/ and review/ are searched with comments and string literals
# removed (so a log message or a comment naming a key does not count as reading it).
# Each key's first reading place (file:line:match) is printed, so a reviewer can see
# where it is used.
set -euo pipefail
gen=$1
src=$2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Comments out (gcc's preprocessor, without expanding anything), then string and
# character literals emptied.
while IFS= read -r -d '' file; do
    rel=${file#"$src"/}
    mkdir -p "$work/$(dirname "$rel")"
    gcc -x c -fpreprocessed -E -P "$file" 2>/dev/null |
        sed -E "s/'([^'\\\\]|\\\\.)'/''/g; s/\"([^\"\\\\]|\\\\.)*\"/\"\"/g" >"$work/$rel"
done < <(find "$src/mover" "$src/review" -type f \( -name '*.c' -o -name '*.h' \) -print0)

keys=$("$gen" --keys)
[ -n "$keys" ] || { echo "config_keys_read: gen-config-doc listed no keys" >&2; exit 1; }

unread=0
total=0
while IFS=$'\t' read -r path member regex; do
    total=$((total + 1))
    # A match followed by a single "=" is an assignment (a designated initializer of
    # some other struct with a member of the same name), not a read.
    # (sed, not head: head would leave early and fail the pipeline with SIGPIPE)
    hit=$(cd "$work" && { grep -rnoE -- "(${regex})[[:space:]]*(==?)?" . || true; } |
          { grep -vE '[^=!<>]=$' || true; } | sed -n 1p)
    if [ -n "$hit" ]; then
        printf '%-34s %s\n' "$path" "${hit#./}" | cut -c1-160
    else
        printf 'UNREAD %s (stored in %s): no code outside config/ reads it\n' "$path" "$member" >&2
        unread=$((unread + 1))
    fi
done <<<"$keys"

if [ "$unread" -gt 0 ]; then
    echo "config_keys_read: $unread of $total keys are accepted by the loader and read by nothing:" \
         "make them do what docs/configuration.md says, or remove them" >&2
    exit 1
fi
echo "config_keys_read: all $total keys are read"
