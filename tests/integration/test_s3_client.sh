#!/usr/bin/env bash
# Runs the S3 client's integration tests (s3_client_test.c) against the local radosgw.
# Uploads a 64 MiB random object with the AWS CLI first (a real client, and one that
# does not inflate our process's memory), then runs the test binary twice: the
# operation tests, and the 64 MiB streamed GET alone so its peak RSS is its own.
# Usage: test_s3_client.sh PATH/TO/s3-client-test
set -euo pipefail
bin=$1
: "${SLUICE_S3_ENDPOINT:?start the server and load its env: eval \"\$(scripts/s3-server.sh env)\"}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export AWS_ACCESS_KEY_ID=$SLUICE_MOVER_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SLUICE_MOVER_SECRET_KEY
export AWS_DEFAULT_REGION=$SLUICE_S3_REGION AWS_EC2_METADATA_DISABLED=true
unset AWS_CA_BUNDLE AWS_PROFILE

key="client-test/big-$$-$(date +%s).bin"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$tmp/big"
sha=$(sha256sum "$tmp/big" | cut -d' ' -f1)
/usr/bin/aws --endpoint-url "$SLUICE_S3_ENDPOINT" s3api put-object --bucket "$SLUICE_BUCKET_STAGING" \
    --key "$key" --body "$tmp/big" >/dev/null
rm -f "$tmp/big"

status=0
"$bin" || status=1
SLUICE_TEST_ONLY=big SLUICE_TEST_BIG_KEY=$key SLUICE_TEST_BIG_SHA256=$sha "$bin" || status=1
/usr/bin/aws --endpoint-url "$SLUICE_S3_ENDPOINT" s3api delete-object --bucket "$SLUICE_BUCKET_STAGING" \
    --key "$key" >/dev/null || true
exit $status
