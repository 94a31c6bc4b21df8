/*
 * test_policy_compare.c — unit tests of mover/policy/compare: a live bucket policy
 * against the one the configuration implies. The same document matches itself and every
 * form IAM treats as equal (statements in another order, a string for a one-element
 * list, "*" for {"AWS": "*"}, actions in another case, a single Statement object); each
 * kind of hand edit is named in one line (a statement removed, added, renamed or
 * twice; an action, resource, principal or condition changed; an effect flipped; a
 * field added); what is not a policy at all is a difference, never an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/compare.h"
#include "util/alloc.h"

static const char *const EXPECTED =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam:::user/mover\"]},"
    "\"Action\":[\"s3:GetObject\",\"s3:PutObject\"],\"Resource\":[\"arn:aws:s3:::b/x/*\",\"arn:aws:s3:::b/y/*\"]},"
    "{\"Sid\":\"D\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":[\"s3:PutBucketPolicy\"],"
    "\"Resource\":[\"arn:aws:s3:::b\"],\"Condition\":{\"ArnNotLike\":{\"aws:PrincipalArn\":[\"arn:aws:iam:::user/admin\"]}}},"
    "{\"Sid\":\"N\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":[\"arn:aws:iam:::user/grants\"]},"
    "\"Action\":[\"s3:PutObject\"],\"NotResource\":[\"arn:aws:s3:::b/x/*\"],"
    "\"Condition\":{\"StringLike\":{\"s3:x-amz-server-side-encryption-customer-algorithm\":\"*\"}}}]}";

static policy_diffs compare(const char *live)
{
    policy_diffs d = { 0 };
    assert_true(sl_ok(policy_compare(sl_cursor_from_cstr(EXPECTED), sl_cursor_from_cstr(live), &d)));
    return d;
}

static void assert_no_differences(const char *live)
{
    policy_diffs d = compare(live);
    for (size_t i = 0; i < d.count; i++) print_message("unexpected difference: %s\n", d.lines[i]);
    assert_int_equal(d.count, 0);
    policy_diffs_clean_up(&d);
}

/* Exactly the given lines, in order. */
static void assert_differences(const char *live, ...)
{
    policy_diffs d = compare(live);
    va_list ap;
    va_start(ap, live);
    size_t n = 0;
    for (const char *want; (want = va_arg(ap, const char *)) != NULL; n++) {
        if (n >= d.count) fail_msg("missing difference %zu: %s", n, want);
        if (strcmp(d.lines[n], want) != 0) fail_msg("difference %zu:\n  got  %s\n  want %s", n, d.lines[n], want);
    }
    va_end(ap);
    for (size_t i = n; i < d.count; i++) print_message("extra difference: %s\n", d.lines[i]);
    assert_int_equal(d.count, n);
    policy_diffs_clean_up(&d);
}

/* EXPECTED with `from` replaced by `to` (once). */
static char *edit(const char *from, const char *to)
{
    const char *at = strstr(EXPECTED, from);
    if (at == NULL) fail_msg("no \"%s\" in the document", from);
    size_t before = (size_t)(at - EXPECTED);
    char *out = sl_malloc(strlen(EXPECTED) - strlen(from) + strlen(to) + 1);
    memcpy(out, EXPECTED, before);
    strcpy(out + before, to);
    strcat(out, at + strlen(from));
    return out;
}

static void a_document_matches_itself(void **state)
{
    (void)state;
    assert_no_differences(EXPECTED);
}

static void forms_iam_treats_as_equal_match(void **state)
{
    (void)state;
    /* another order of statements, of actions and of resources; whitespace */
    assert_no_differences(
        "{ \"Version\": \"2012-10-17\", \"Statement\": ["
        "{\"Sid\":\"N\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"arn:aws:iam:::user/grants\"},"
        "\"Action\":\"s3:putobject\",\"NotResource\":\"arn:aws:s3:::b/x/*\","
        "\"Condition\":{\"StringLike\":{\"S3:X-Amz-Server-Side-Encryption-Customer-Algorithm\":[\"*\"]}}},"
        "{\"Sid\":\"D\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":[\"*\"]},\"Action\":\"s3:PutBucketPolicy\","
        "\"Resource\":\"arn:aws:s3:::b\",\"Condition\":{\"ArnNotLike\":{\"aws:PrincipalArn\":\"arn:aws:iam:::user/admin\"}}},"
        "{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam:::user/mover\"},"
        "\"Action\":[\"S3:PutObject\",\"s3:GetObject\",\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::b/y/*\","
        "\"arn:aws:s3:::b/x/*\"]}]}");
}

static void hand_edits_are_each_named(void **state)
{
    (void)state;
    char *t = edit("\"s3:GetObject\",", "");
    assert_differences(t, "statement \"A\": Action lacks s3:GetObject", NULL);
    sl_free(t);
    t = edit("\"s3:PutBucketPolicy\"]", "\"s3:PutBucketPolicy\",\"s3:GetObject\"]");
    assert_differences(t, "statement \"D\": Action has s3:GetObject in addition", NULL);
    sl_free(t);
    t = edit("\"arn:aws:s3:::b/y/*\"", "\"arn:aws:s3:::b/*\"");
    assert_differences(t, "statement \"A\": Resource lacks arn:aws:s3:::b/y/*; has arn:aws:s3:::b/* instead", NULL);
    sl_free(t);
    t = edit("\"Effect\":\"Deny\",\"Principal\":\"*\"", "\"Effect\":\"Allow\",\"Principal\":\"*\"");
    assert_differences(t, "statement \"D\": Effect lacks Deny; has Allow instead", NULL);
    sl_free(t);
    t = edit("user/grants\"", "user/grants\",\"arn:aws:iam:::user/x\"");
    assert_differences(t, "statement \"N\": Principal has AWS arn:aws:iam:::user/x in addition", NULL);
    sl_free(t);
    t = edit(",\"Condition\":{\"StringLike\":{\"s3:x-amz-server-side-encryption-customer-algorithm\":\"*\"}}", "");
    assert_differences(t,
                       "statement \"N\": has no Condition (expected StringLike "
                       "s3:x-amz-server-side-encryption-customer-algorithm *)",
                       NULL);
    sl_free(t);
    t = edit("\"Sid\":\"D\"", "\"Sid\":\"Open\"");
    assert_differences(t, "statement \"D\" is missing",
                       "an extra statement \"Open\" (Deny s3:PutBucketPolicy to AWS *)", NULL);
    sl_free(t);
    t = edit("}}}]}", "}}},{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"s3:*\",\"Resource\":\"*\"}]}");
    assert_differences(t, "an extra statement without a Sid (Allow s3:* to AWS *)", NULL);
    sl_free(t);
    t = edit("{\"Sid\":\"A\"", "{\"Sid\":\"N\",\"Effect\":\"Deny\"},{\"Sid\":\"A\"");
    assert_differences(t, "statement \"N\" is there 2 times", NULL);
    sl_free(t);
    t = edit("\"Sid\":\"A\",", "\"Sid\":\"A\",\"Extra\":1,");
    assert_differences(t, "statement \"A\": an unexpected field \"Extra\"", NULL);
    sl_free(t);
    t = edit("\"NotResource\"", "\"Resource\"");
    assert_differences(t, "statement \"N\": Resource has arn:aws:s3:::b/x/* in addition",
                       "statement \"N\": has no NotResource (expected arn:aws:s3:::b/x/*)", NULL);
    sl_free(t);
    t = edit("\"2012-10-17\"", "\"2008-10-17\"");
    assert_differences(t, "Version is \"2008-10-17\", expected \"2012-10-17\"", NULL);
    sl_free(t);
    t = edit("\"Action\":[\"s3:PutBucketPolicy\"]", "\"Action\":[1]");
    assert_differences(t, "statement \"D\": Action is not what IAM accepts", NULL);
    sl_free(t);
}

static void what_is_not_a_policy_is_a_difference(void **state)
{
    (void)state;
    assert_differences("", "the policy is not a JSON object with a Statement list ('[' or '{' expected near end of file)",
                       NULL);
    assert_differences("[]", "the policy is not a JSON object with a Statement list (no Statement)", NULL);
    assert_differences("{\"Version\":\"2012-10-17\"}",
                       "the policy is not a JSON object with a Statement list (no Statement)", NULL);
    assert_differences("{\"Version\":\"2012-10-17\",\"Statement\":[]}", "statement \"A\" is missing",
                       "statement \"D\" is missing", "statement \"N\" is missing", NULL);
    /* one statement as an object, as IAM accepts it */
    policy_diffs d = compare("{\"Version\":\"2012-10-17\",\"Statement\":{\"Sid\":\"A\",\"Effect\":\"Allow\","
                             "\"Principal\":{\"AWS\":\"arn:aws:iam:::user/mover\"},\"Action\":[\"s3:GetObject\","
                             "\"s3:PutObject\"],\"Resource\":[\"arn:aws:s3:::b/x/*\",\"arn:aws:s3:::b/y/*\"]}}");
    assert_int_equal(d.count, 2); /* D and N missing; A matched */
    policy_diffs_clean_up(&d);
    /* duplicate keys are refused by the reader */
    d = compare("{\"Statement\":[],\"Statement\":[]}");
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.lines[0], "not a JSON object with a Statement list (duplicate object key"));
    policy_diffs_clean_up(&d);
    /* too large */
    char *big = sl_malloc(POLICY_COMPARE_MAX_BYTES + 2);
    memset(big, ' ', POLICY_COMPARE_MAX_BYTES + 1);
    big[POLICY_COMPARE_MAX_BYTES + 1] = '\0';
    d = compare(big);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.lines[0], "more than 65536"));
    policy_diffs_clean_up(&d);
    sl_free(big);
    /* a control character in what S3 sent is shown as '?' */
    assert_differences("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"A\\u0007\",\"Effect\":\"Allow\"}]}",
                       "statement \"A\" is missing", "statement \"D\" is missing", "statement \"N\" is missing",
                       "an extra statement \"A?\" (Allow (no Action) to (no Principal))", NULL);
}

static void the_number_of_lines_is_bounded(void **state)
{
    (void)state;
    policy_diffs d = { 0 };
    for (int i = 0; i < POLICY_COMPARE_MAX_DIFFS + 50; i++) policy_diffs_add(&d, "line %d", i);
    assert_int_equal(d.count, POLICY_COMPARE_MAX_DIFFS + 1);
    assert_non_null(strstr(d.lines[POLICY_COMPARE_MAX_DIFFS], "and more differences"));
    policy_diffs_clean_up(&d);
    policy_diffs_clean_up(&d);
    policy_diffs_clean_up(NULL);
    /* an expected document that does not parse is a programming error */
    assert_true(sl_failed(policy_compare(sl_cursor_from_cstr("{"), sl_cursor_from_cstr(EXPECTED), &d)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_int_equal(d.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_document_matches_itself),
        cmocka_unit_test(forms_iam_treats_as_equal_match),
        cmocka_unit_test(hand_edits_are_each_named),
        cmocka_unit_test(what_is_not_a_policy_is_a_difference),
        cmocka_unit_test(the_number_of_lines_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
