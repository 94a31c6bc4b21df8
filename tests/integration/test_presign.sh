#!/usr/bin/env bash
# test_presign.sh — presigned URLs from mover/s3/sigv4 (through build/tests/sluice-presign)
# against the local S3 server, checked with curl and with the AWS CLI's own signer:
#   1. presigned PUT (curl --upload-file) then presigned GET: the bytes round-trip;
#   2. the same GET URL with one character of the signature changed: 403;
#   3. a URL with a 1 s expiry used after ~3 s: 403;
#   4. a key with spaces, "+", "%" and non-ASCII characters: PUT and GET work;
#   5. an extra signed header (If-None-Match: *) must be sent: without it 403;
#   6. `aws s3 presign` of the key we PUT can GET it, and our presigned GET can GET
#      what `aws s3 cp` PUT (also for the odd key).
# Uses the mover identity and the staging bucket. Needs the server's environment:
#   eval "$(scripts/s3-server.sh env)"    (scripts/test.sh does this)
# Usage: tests/integration/test_presign.sh [PATH_TO_sluice-presign]
# Prints "ok"/"not ok" per check and exits non-zero when any check fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
presign=${1:-$root/build/tests/sluice-presign}
aws=/usr/bin/aws

die() { echo "test_presign.sh: $*" >&2; exit 1; }

[ -n "${SLUICE_S3_ENDPOINT:-}" ] ||
    die "SLUICE_S3_ENDPOINT is not set: start the local S3 server and run" \
        "eval \"\$(scripts/s3-server.sh env)\" first (scripts/test.sh does both)"
for var in SLUICE_S3_REGION SLUICE_MOVER_ACCESS_KEY SLUICE_MOVER_SECRET_KEY; do
    [ -n "${!var:-}" ] || die "$var is not set (eval \"\$(scripts/s3-server.sh env)\")"
done
[ -x "$presign" ] || die "$presign is not built (make -C build sluice_presign)"
[ -x "$aws" ] || die "$aws (the AWS CLI) is missing"
command -v curl >/dev/null || die "curl is missing"

endpoint=${SLUICE_S3_ENDPOINT%/}
region=$SLUICE_S3_REGION
bucket=${SLUICE_BUCKET_STAGING:-sluice-staging}

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-presign-test.XXXXXX")
# The mover identity, for our signer and for the AWS CLI alike; nothing from ~/.aws.
cat >"$work/aws-config" <<EOF
[default]
region = $region
s3 =
    addressing_style = path
EOF
export AWS_ACCESS_KEY_ID=$SLUICE_MOVER_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SLUICE_MOVER_SECRET_KEY
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=$work/aws-config
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_DEFAULT_REGION=$region
export AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=""

prefix="sigv4-presign-test/$(date -u +%Y%m%dT%H%M%S)-$$"
keys=()
cleanup() {
    for k in "${keys[@]}"; do
        "$aws" --endpoint-url "$endpoint" s3api delete-object --bucket "$bucket" --key "$k" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() { # $1 = description, rest = command
    local what=$1
    shift
    if "$@"; then
        echo "ok - $what"
        passed=$((passed + 1))
    else
        echo "not ok - $what"
        failed=$((failed + 1))
    fi
}

url_for() { # method key expires [extra sluice-presign args]
    local method=$1 key=$2 expires=$3
    shift 3
    "$presign" --endpoint "$endpoint" --region "$region" --bucket "$bucket" --key "$key" \
        --method "$method" --expires "$expires" "$@"
}

# curl with the status code on stdout; the body into $1 ("-" discards it).
status_of() { # out url [curl args]
    local out=$1 url=$2
    shift 2
    [ "$out" = "-" ] && out=/dev/null
    curl -sS --path-as-is -o "$out" -w '%{http_code}' "$@" "$url" || echo "curl-failed"
}

expect_status() { # expected actual context [S3 error code expected in $work/last-body]
    if [ "$2" != "$1" ]; then
        echo "    $3: HTTP $2, expected $1" >&2
        [ -s "$work/last-body" ] && sed 's/^/    | /' "$work/last-body" | head -5 >&2
        return 1
    fi
    if [ -n "${4:-}" ] && ! grep -q "<Code>$4</Code>" "$work/last-body"; then
        echo "    $3: HTTP $2 but not the error $4:" >&2
        sed 's/^/    | /' "$work/last-body" | head -5 >&2
        return 1
    fi
}

put_and_get() { # key payload-file
    local key=$1 file=$2 code
    keys+=("$key")
    code=$(status_of "$work/last-body" "$(url_for PUT "$key" 300)" --upload-file "$file")
    expect_status 200 "$code" "presigned PUT of '$key'" || return 1
    code=$(status_of "$work/got" "$(url_for GET "$key" 300)")
    expect_status 200 "$code" "presigned GET of '$key'" || return 1
    cmp -s "$file" "$work/got" || { echo "    GET of '$key' returned other bytes" >&2; return 1; }
}

head -c 70000 /dev/urandom >"$work/payload.bin"
printf 'sluice presign test\r\n\x00\xff binary tail' >>"$work/payload.bin"

# 1. round trip
key_plain="$prefix/plain.bin"
check "presigned PUT then presigned GET round-trips the bytes" put_and_get "$key_plain" "$work/payload.bin"

# 2. a tampered signature
tampered() {
    local url code last
    url=$(url_for GET "$key_plain" 300)
    last=${url: -1}
    if [ "$last" = "0" ]; then url="${url%?}1"; else url="${url%?}0"; fi
    code=$(status_of "$work/last-body" "$url")
    expect_status 403 "$code" "GET with one signature character changed" SignatureDoesNotMatch
}
check "one changed character of the signature gives 403" tampered

# 3. expiry (radosgw answers AccessDenied); a 60 s URL signed at the same moment is
#    the control: it still works, so only the expiry differs.
expired() {
    local short long code
    short=$(url_for GET "$key_plain" 1)
    long=$(url_for GET "$key_plain" 60)
    sleep 3
    code=$(status_of "$work/last-body" "$short")
    expect_status 403 "$code" "GET after the 1 s expiry" || return 1
    code=$(status_of "$work/last-body" "$long")
    expect_status 200 "$code" "GET with the 60 s URL signed at the same time"
}
check "a URL with a 1 s expiry used after ~3 s gives 403 (a 60 s one still works)" expired

# 4. an odd key: spaces, +, %, a literal %20, non-ASCII
key_odd="$prefix/odd dir/a b+c%d%20e ünïcødé ✓ 日本.txt"
printf 'odd key body\n' >"$work/odd.txt"
check "a key with spaces, '+', '%' and unicode round-trips" put_and_get "$key_odd" "$work/odd.txt"

# 5. an extra signed header must be sent as signed
signed_header() {
    local key="$prefix/if-none-match.bin" url code
    keys+=("$key")
    url=$(url_for PUT "$key" 300 --header 'If-None-Match: *')
    case "$url" in *X-Amz-SignedHeaders=host%3Bif-none-match*) ;; *) echo "    header not signed: $url" >&2; return 1 ;; esac
    code=$(status_of "$work/last-body" "$url" --upload-file "$work/odd.txt")
    expect_status 403 "$code" "PUT without the signed If-None-Match header" SignatureDoesNotMatch || return 1
    code=$(status_of "$work/last-body" "$url" --upload-file "$work/odd.txt" -H 'If-None-Match: *')
    expect_status 200 "$code" "PUT with the signed If-None-Match header"
}
check "a signed extra header is required (403 without it, 200 with it)" signed_header

# 6. the AWS CLI's view
aws_presign_gets_ours() { # key file
    local url code
    url=$("$aws" --endpoint-url "$endpoint" s3 presign "s3://$bucket/$1" --expires-in 300) || return 1
    code=$(status_of "$work/got" "$url")
    expect_status 200 "$code" "GET with 'aws s3 presign' of '$1'" || return 1
    cmp -s "$2" "$work/got" || { echo "    'aws s3 presign' GET of '$1' returned other bytes" >&2; return 1; }
}
check "'aws s3 presign' GETs what our presigned PUT stored" aws_presign_gets_ours "$key_plain" "$work/payload.bin"
check "'aws s3 presign' GETs the odd key our presigned PUT stored" aws_presign_gets_ours "$key_odd" "$work/odd.txt"

ours_gets_aws() { # key file
    local code
    keys+=("$1")
    "$aws" --endpoint-url "$endpoint" s3 cp --quiet "$2" "s3://$bucket/$1" || return 1
    code=$(status_of "$work/got" "$(url_for GET "$1" 300)")
    expect_status 200 "$code" "our presigned GET of '$1' stored by aws s3 cp" || return 1
    cmp -s "$2" "$work/got" || { echo "    our GET of '$1' returned other bytes" >&2; return 1; }
}
check "our presigned GET fetches what 'aws s3 cp' PUT" ours_gets_aws "$prefix/by-aws-cli.bin" "$work/payload.bin"
check "our presigned GET fetches an odd key 'aws s3 cp' PUT" ours_gets_aws "$prefix/by aws+cli %41 ✓.txt" "$work/odd.txt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
