/*
 * fuzz_policy_compare.c — libFuzzer target over the live-policy reader of
 * mover/policy/compare.c (`sluice-mover policy --check` reads whatever S3 returns).
 * The input is the live document; the expected one is a staging policy as policy_build
 * writes it. Invariants beyond "no crash": the verdict is the same twice; every line is
 * at most POLICY_COMPARE_MAX_LINE bytes of printable text; at most
 * POLICY_COMPARE_MAX_DIFFS + 1 lines; the expected document matches itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/compare.h"

static const char expected[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"MoverMayListStaging\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam:::user/mover\"]},"
    "\"Action\":[\"s3:ListBucket\",\"s3:ListBucketVersions\"],\"Resource\":[\"arn:aws:s3:::sluice-staging\"]},"
    "{\"Sid\":\"GrantsMayNotPutOutsideRoutePrefixes\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":"
    "[\"arn:aws:iam:::user/grants\",\"arn:aws:iam:::role/sluice-task\"]},\"Action\":[\"s3:PutObject\"],"
    "\"NotResource\":[\"arn:aws:s3:::sluice-staging/tests/*\"]},"
    "{\"Sid\":\"NoOtherIdentityMayUseObjectVersions\",\"Effect\":\"Deny\",\"Principal\":\"*\","
    "\"Action\":[\"s3:GetObjectVersion\"],\"Resource\":[\"arn:aws:s3:::sluice-staging/*\"],"
    "\"Condition\":{\"ArnNotLike\":{\"aws:PrincipalArn\":[\"arn:aws:iam:::user/mover\"]},"
    "\"StringLike\":{\"s3:x-amz-server-side-encryption-customer-algorithm\":\"*\"}}}]}";

static void check(const policy_diffs *d)
{
    if (d->count > POLICY_COMPARE_MAX_DIFFS + 1) abort();
    for (size_t i = 0; i < d->count; i++) {
        size_t n = strlen(d->lines[i]);
        if (n > POLICY_COMPARE_MAX_LINE) abort();
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)d->lines[i][k] < 0x20 || d->lines[i][k] == 0x7f) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int self_checked;
    if (!self_checked) {
        policy_diffs d = { 0 };
        if (sl_failed(policy_compare(sl_cursor_from_cstr(expected), sl_cursor_from_cstr(expected), &d)) || d.count != 0)
            abort();
        self_checked = 1;
    }
    policy_diffs a = { 0 }, b = { 0 };
    sl_cursor live = sl_cursor_from_bytes(data, size);
    if (sl_failed(policy_compare(sl_cursor_from_cstr(expected), live, &a))) abort();
    if (sl_failed(policy_compare(sl_cursor_from_cstr(expected), live, &b))) abort();
    if (a.count != b.count) abort();
    for (size_t i = 0; i < a.count; i++)
        if (strcmp(a.lines[i], b.lines[i]) != 0) abort();
    check(&a);
    policy_diffs_clean_up(&a);
    policy_diffs_clean_up(&b);
    return 0;
}
