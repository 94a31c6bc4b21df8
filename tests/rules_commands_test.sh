#!/usr/bin/env bash
# rules_commands_test.sh — `sluice-mover rules import-gitleaks` on the project's own
# gitleaks file (tests/data/gitleaks/sample.toml): two rules translated, every other one
# listed with its reason; then `rules test` with the imported rules and with the default
# rules on files made here (exit 1 and a redacted finding for a hit, 0 for a near miss),
# check-config naming a rule that does not compile, and `rules test` with YARA rules.
set -euo pipefail
mover=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$mover" rules import-gitleaks "$root/tests/data/gitleaks/sample.toml" -o "$tmp/imported.json")
echo "$out"
grep -q '^3 rules written to ' <<<"$out" || fail "expected three rules written"
grep -q 'note: unbounded: unbounded repetitions became at most 256' <<<"$out" || fail "no note on bounding"
for reason in 'paths-only: no regex (a rule on file paths only)' \
              'limited-to-path: limited to files matching a path' \
              'composite: a composite rule' \
              'line-target: an allowlist whose regexTarget is not the secret' \
              'bad-regex: the pattern does not compile: PCRE2: missing closing parenthesis'; do
    grep -qF "not translated: $reason" <<<"$out" || fail "missing: $reason"
done
grep -q 'note: \[extend\] is not followed' <<<"$out" || fail "no note about [extend]"
grep -q '"id": "acme-api-key"' "$tmp/imported.json" || fail "the id was not made ours"
grep -q '"dummy"' "$tmp/imported.json" || fail "the global allowlist was not merged"

secret="acme_q8w2e9r4t7y1u3i6""o5p0a8s2d7f4g1h9"
printf 'config:\n  acme_key = "%s"\n' "$secret" > "$tmp/hit.yaml"
printf 'config:\n  acme_key = "acme_%s"\n' "$(printf '0%.0s' $(seq 32))" > "$tmp/allowed.yaml"
set +e
"$mover" rules test "$tmp/imported.json" "$tmp/hit.yaml" "$tmp/allowed.yaml" > "$tmp/test.out" 2>&1
rc=$?
set -e
cat "$tmp/test.out"
[ "$rc" -eq 1 ] || fail "rules test exit $rc, expected 1 (a match)"
grep -q "hit.yaml: block: acme-api-key at offset 22: acme…g1h9" "$tmp/test.out" || fail "no redacted finding"
grep -q "allowed.yaml: no match" "$tmp/test.out" || fail "the allowlisted value matched"
! grep -q "$secret" "$tmp/test.out" || fail "rules test printed the secret"

printf 'nothing to see\n' > "$tmp/clean.txt"
"$mover" rules test "$root/config/rules/default.json" "$tmp/clean.txt" || fail "a clean file did not exit 0"

set +e
"$mover" rules test "$tmp/missing.json" "$tmp/clean.txt" 2> "$tmp/err.out"; rc=$?
"$mover" rules bogus 2>/dev/null; rc2=$?
set -e
[ "$rc" -eq 2 ] && [ "$rc2" -eq 2 ] || fail "bad rules file or sub-command: exit $rc / $rc2, expected 2"

# check-config compiles the rules and names what does not compile
printf '{"rules": [{"id": "broken", "pattern": "a(b", "severity": "block"}]}\n' > "$tmp/broken.json"
cat > "$tmp/sluice.json" <<JSON
{"s3": {"endpoint": "http://127.0.0.1:1"},
 "buckets": {"staging": "s-staging", "quarantine": "s-quarantine", "trusted": "s-trusted"},
 "routes": [{"name": "r", "staging_prefix": "in/", "trusted_prefix": "out/",
             "checks": {"rules": ["broken.json"]}}],
 "audit": {"file": "/tmp/unused.jsonl"}}
JSON
set +e
"$mover" check-config -c "$tmp/sluice.json" > "$tmp/cc.out" 2>&1; rc=$?
set -e
cat "$tmp/cc.out"
[ "$rc" -eq 1 ] || fail "check-config accepted a rule that does not compile"
grep -q "broken.json: rule broken: the pattern does not compile" "$tmp/cc.out" || fail "check-config did not name the rule"

# `rules test` with YARA rules: the matching rule named, never the bytes; a near miss
# exits 0; a rule that does not compile names the file and line (exit 2)
marker="YARA-CMD-""MARKER-5e3a"
printf 'rule cmd_marker : demo\n{\n  strings: $m = "%s"\n  condition: $m\n}\n' "$marker" > "$tmp/r.yar"
printf 'words %s words\n' "$marker" > "$tmp/yhit.txt"
printf 'words YARA-CMD-MARKER-5e3b words\n' > "$tmp/ynear.txt"
# runs "$@" with its output in $out_file and shown; its exit status in rc
run_rc() { set +e; "$@" > "$out_file" 2>&1; rc=$?; set -e; cat "$out_file"; }
out_file=$tmp/y.out run_rc "$mover" rules test "$tmp/r.yar" "$tmp/yhit.txt"
[ "$rc" -eq 1 ] || fail "rules test with YARA exit $rc, expected 1 (a match)"
grep -q "yhit.txt: block: rule r.yar:cmd_marker \[demo\] matched" "$tmp/y.out" || fail "the YARA rule was not named"
! grep -q "$marker" "$tmp/y.out" || fail "rules test printed the matched bytes"
"$mover" rules test "$tmp/r.yar" "$tmp/ynear.txt" || fail "a YARA near miss did not exit 0"
printf 'rule ok { condition: true }\nrule bad { condition: $x }\n' > "$tmp/bad.yar"
out_file=$tmp/yb.out run_rc "$mover" rules test "$tmp/bad.yar" "$tmp/ynear.txt"
[ "$rc" -eq 2 ] || fail "YARA rules that do not compile: exit $rc, expected 2"
grep -q "bad.yar:2: undefined string" "$tmp/yb.out" || fail "the YARA error did not name the file and line"
echo "rules commands: ok"
