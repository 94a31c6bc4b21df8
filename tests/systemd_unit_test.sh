#!/usr/bin/env bash
# systemd_unit_test.sh UNIT MOVER DENY_WRITE_EXEC RULES — checks packaging/systemd/sluice-mover.service:
#  - `systemd-analyze verify` accepts it (with the build's binary standing in for
#    /usr/bin/sluice-mover, and without looking up the manual pages, which only the
#    installed package has; the package test verifies the installed unit with them);
#  - the settings the service depends on are there (Type=notify, SIGHUP reload, its own
#    user, the runtime and state folders, the sandbox);
#  - `systemd-analyze security --offline` rates its exposure at most MAX_EXPOSURE
#    (1.2 when written): loosening the sandbox fails this test;
#  - with MemoryDenyWriteExecute=yes (PCRE2 cannot JIT there), `sluice-mover rules test`
#    under DENY_WRITE_EXEC (the same restriction, tests/deny_write_exec.c) finds exactly
#    what it finds without it, with the RULES file (the project's default rules).
# Needs no running systemd (it works where systemd is not PID 1).
set -euo pipefail
unit=$1
mover=$2
deny_write_exec=$3
rules=$4
MAX_EXPOSURE=2.0

command -v systemd-analyze >/dev/null || { echo "systemd-analyze is not installed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/bin/sluice-mover#$mover#g" "$unit" >"$work/sluice-mover.service"

(cd "$work" && systemd-analyze verify --man=no sluice-mover.service)
echo "systemd-analyze verify: OK"

fail=0
for want in 'Type=notify' 'NotifyAccess=main' 'ExecReload=/bin/kill -HUP $MAINPID' 'User=sluice' 'Group=sluice' \
            'RuntimeDirectory=sluice' 'StateDirectory=sluice' 'ProtectSystem=strict' 'ProtectHome=yes' \
            'PrivateTmp=yes' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' \
            'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service'; do
    grep -qxF -- "$want" "$unit" || { echo "missing: $want" >&2; fail=1; }
done
[ "$fail" -eq 0 ] || exit 1

score=$(cd "$work" && systemd-analyze security --offline=true sluice-mover.service 2>&1 |
        sed -nE 's/.*Overall exposure level for sluice-mover.service: ([0-9.]+).*/\1/p')
[ -n "$score" ] || { echo "no exposure level from systemd-analyze security" >&2; exit 1; }
echo "systemd-analyze security: exposure $score (at most $MAX_EXPOSURE)"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || {
    echo "the unit's exposure $score is above $MAX_EXPOSURE: the sandbox was loosened" >&2
    exit 1
}

grep -qxF 'MemoryDenyWriteExecute=yes' "$unit" || { echo "missing: MemoryDenyWriteExecute=yes" >&2; exit 1; }
key_id="AKIAQ3EGRTKL""MNOPQRST"
secret="wJalrXUtnFEMI/K7MDENG/""bPxRfiCYzEXAMPLEKQ"
printf 'aws_access_key_id = %s\naws_secret_access_key = %s\n' "$key_id" "$secret" >"$work/hit.txt"
printf 'id,value\n1,2\n' >"$work/clean.csv"
set +e
"$mover" rules test "$rules" "$work/hit.txt" "$work/clean.csv" >"$work/plain.out" 2>&1
plain=$?
"$deny_write_exec" "$mover" rules test "$rules" "$work/hit.txt" "$work/clean.csv" >"$work/denied.out" 2>&1
denied=$?
set -e
cat "$work/denied.out"
[ "$plain" -eq 1 ] && grep -q 'block: aws-access-key-pair' "$work/plain.out" ||
    { echo "rules test (plain) exit $plain, expected 1 and the key pair blocked" >&2; cat "$work/plain.out" >&2; exit 1; }
[ "$denied" -eq "$plain" ] && cmp -s "$work/plain.out" "$work/denied.out" ||
    { echo "under MemoryDenyWriteExecute the rules found something else (exit $denied):" >&2;
      diff "$work/plain.out" "$work/denied.out" >&2; exit 1; }
echo "rules under MemoryDenyWriteExecute: the same findings"
