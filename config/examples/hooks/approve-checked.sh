#!/bin/sh
# approve-checked.sh — the smallest review hook sluice accepts (docs/hooks.md).
#
# sluice runs a route's hook only for artifacts that passed every check, so this hook
# approves what it is asked about — and only that: its answer names the artifact id and
# SHA-256 it was given (SLUICE_ARTIFACT, SLUICE_SHA256), and an answer naming anything
# else would be ignored. Everything else (a crash, a non-zero exit, a timeout, stray
# output) means a person decides.
set -eu
cat >/dev/null # the manifest and a content URL come on stdin; this hook needs neither
case "$SLUICE_SHA256" in
*[!0-9a-f]*) exit 1 ;; # never echo what is not a hex digest into JSON
esac
case "$SLUICE_ARTIFACT" in
*[!0-9a-f]*) exit 1 ;;
esac
printf '{"artifact":"%s","sha256":"%s","decision":"approve","reason":"passed every check"}\n' \
    "$SLUICE_ARTIFACT" "$SLUICE_SHA256"
