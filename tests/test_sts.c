/*
 * test_sts.c — unit tests of mover/s3/sts: the AssumeRole answer parser against canned
 * answers in tests/data/sts/assume_role/<case>.xml (radosgw 16's as measured, AWS's as
 * documented; every invalid_*.xml must fail with its code, leave nothing behind and
 * never echo a secret), every truncation of a valid answer, the caps, and the request's
 * form body (exact text, encoding, every refusal).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/sts.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/timefmt.h"

#ifndef SLUICE_TEST_DATA
#error "SLUICE_TEST_DATA must name the tests/data folder"
#endif

static sl_buf load(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/sts/assume_role/%s.xml", SLUICE_TEST_DATA, name);
    sl_buf b = { 0 };
    if (sl_failed(sl_buf_read_file(&b, path, (size_t)1 << 20))) fail_msg("cannot read %s: %s", path, sl_error_detail());
    return b;
}

static void assert_text(const sl_buf *b, const char *expected)
{
    assert_int_equal(b->len, strlen(expected));
    assert_memory_equal(b->data, expected, b->len);
}

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    if (!sl_time_parse(sl_cursor_from_cstr(rfc3339), &ms)) fail_msg("bad time %s", rfc3339);
    return ms;
}

/* ---- answers ---- */

static void radosgw_answer(void **state)
{
    (void)state;
    sl_buf b = load("radosgw_ok");
    sts_credentials c;
    s3_error e;
    bool is_error = true;
    assert_true(sl_ok(sts_parse_assume_role(b.data, b.len, &c, &e, &is_error)));
    assert_false(is_error);
    assert_text(&c.access_key_id, "fLyHU9Yq7mec4gZM8MN");
    assert_text(&c.secret_access_key, "34XTDUOGJQ14IMEL5RJ9BZ8XMKWO18NBZD3Z5O6");
    assert_true(c.session_token.len > 100);
    assert_int_equal(c.expiration_ms, at("2026-12-05T19:05:43.642Z")); /* nanoseconds, rounded down */
    assert_text(&c.assumed_role_arn, "arn:aws:sts:::assumed-role/sluice-task/oP0fKpEc1XGdXXi9GVJQxg");
    assert_text(&c.assumed_role_id, "1e52b3cd-9984-4ce1-867f-b500e14d17f3:oP0fKpEc1XGdXXi9GVJQxg");
    assert_true(c.has_packed_policy_size);
    assert_int_equal(c.packed_policy_size, 0);
    assert_int_equal(c.source_identity.len, 0);
    assert_int_equal(e.code_text.len, 0);
    sts_credentials_clean_up(&c);
    sl_buf_clean_up(&b);
}

static void aws_answer(void **state)
{
    (void)state;
    sl_buf b = load("aws_ok");
    sts_credentials c;
    s3_error e;
    bool is_error = true;
    assert_true(sl_ok(sts_parse_assume_role(b.data, b.len, &c, &e, &is_error)));
    assert_false(is_error);
    assert_text(&c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    assert_text(&c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
    assert_int_equal(c.expiration_ms, at("2026-12-05T19:05:43.000Z"));
    assert_text(&c.assumed_role_id, "AROA3XFRBF535PLBIFPI4:oP0fKpEc1XGdXXi9GVJQxg");
    assert_text(&c.source_identity, "oP0fKpEc1XGdXXi9GVJQxg");
    assert_int_equal(c.packed_policy_size, 6);
    assert_text(&c.request_id, "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
    sts_credentials_clean_up(&c);
    sts_credentials_clean_up(&c); /* twice is harmless */
    sl_buf_clean_up(&b);
}

static void check_error(const char *name, s3_error_code code, const char *code_text, const char *message)
{
    sl_buf b = load(name);
    sts_credentials c;
    s3_error e;
    bool is_error = false;
    assert_true(sl_ok(sts_parse_assume_role(b.data, b.len, &c, &e, &is_error)));
    assert_true(is_error);
    assert_int_equal(e.code, code);
    assert_text(&e.code_text, code_text);
    if (message) assert_non_null(strstr(sl_buf_cstr(&e.message), message));
    assert_int_equal(c.access_key_id.len, 0);
    assert_true(e.request_id.len > 0);
    s3_error_clean_up(&e);
    sl_buf_clean_up(&b);
}

static void error_answers(void **state)
{
    (void)state;
    check_error("aws_error_access_denied", S3_ERROR_ACCESS_DENIED, "AccessDenied", "is not authorized");
    check_error("aws_error_validation", S3_ERROR_UNKNOWN, "ValidationError", "MaxSessionDuration");
    check_error("radosgw_error_invalid_argument", S3_ERROR_INVALID_ARGUMENT, "InvalidArgument", NULL);
    check_error("radosgw_error_no_such_entity", S3_ERROR_UNKNOWN, "NoSuchEntity", NULL);
    check_error("radosgw_error_access_denied", S3_ERROR_ACCESS_DENIED, "AccessDenied", NULL);
}

static void check_invalid(const char *name, sl_error code, const char *detail_part)
{
    sl_buf b = load(name);
    sts_credentials c;
    s3_error e;
    bool is_error = true;
    sl_result r = sts_parse_assume_role(b.data, b.len, &c, &e, &is_error);
    if (sl_ok(r)) fail_msg("%s parsed", name);
    assert_int_equal(sl_error_last(), code);
    if (strstr(sl_error_detail(), detail_part) == NULL)
        fail_msg("%s: detail \"%s\" lacks \"%s\"", name, sl_error_detail(), detail_part);
    assert_null(strstr(sl_error_detail(), "SECRETVALUE"));
    assert_null(strstr(sl_error_detail(), "TOKENVALUE"));
    assert_false(is_error);
    assert_int_equal(c.access_key_id.len, 0);
    assert_int_equal(c.secret_access_key.len, 0);
    assert_int_equal(c.session_token.len, 0);
    assert_null(e.code_text.data);
    sl_buf_clean_up(&b);
}

static void invalid_answers(void **state)
{
    (void)state;
    check_invalid("invalid_missing_token", SL_ERR_PARSE, "<Credentials> without <SessionToken>");
    check_invalid("invalid_empty_key", SL_ERR_PARSE, "empty <AccessKeyId>");
    check_invalid("invalid_secret_twice", SL_ERR_PARSE, "<SecretAccessKey> appears twice");
    check_invalid("invalid_expiration", SL_ERR_PARSE, "<Expiration> is not an ISO 8601");
    check_invalid("invalid_packed_size", SL_ERR_PARSE, "<PackedPolicySize>");
    check_invalid("invalid_role_id_twice", SL_ERR_PARSE, "a value already given");
    check_invalid("invalid_doctype", SL_ERR_PARSE, "DOCTYPE");
    check_invalid("invalid_root", SL_ERR_PARSE, "unexpected root element <ListBucketResult>");
    check_invalid("invalid_no_result", SL_ERR_PARSE, "<AssumeRoleResponse> without <AssumeRoleResult>");
    check_invalid("invalid_truncated", SL_ERR_PARSE, "AssumeRole answer");
    check_invalid("invalid_error_no_code", SL_ERR_PARSE, "<Error> without <Code>");
    check_invalid("invalid_element_in_value", SL_ERR_PARSE, "inside the value <AccessKeyId>");
}

/* Every proper prefix of a valid answer fails; none leaves anything behind. */
static void every_truncation_fails(void **state)
{
    (void)state;
    const char *names[] = { "radosgw_ok", "aws_ok", "aws_error_access_denied" };
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        sl_buf b = load(names[n]);
        size_t len = b.len;
        while (len > 0 && (b.data[len - 1] == '\n' || b.data[len - 1] == ' ')) len--;
        for (size_t cut = 0; cut < len; cut++) {
            sts_credentials c;
            s3_error e;
            bool is_error = true;
            if (sl_ok(sts_parse_assume_role(b.data, cut, &c, &e, &is_error)))
                fail_msg("%s cut at %zu of %zu parsed", names[n], cut, len);
            assert_false(is_error);
            assert_null(c.session_token.data);
            assert_null(e.code_text.data);
        }
        sl_buf_clean_up(&b);
    }
}

static void limits(void **state)
{
    (void)state;
    sts_credentials c;
    s3_error e;
    bool is_error;
    /* a value over STS_MAX_VALUE */
    sl_buf doc = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "<Error><Code>")));
    for (size_t i = 0; i <= STS_MAX_VALUE; i++) assert_true(sl_ok(sl_buf_append_byte(&doc, 'x')));
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "</Code></Error>")));
    assert_true(sl_failed(sts_parse_assume_role(doc.data, doc.len, &c, &e, &is_error)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    /* nesting */
    sl_buf_reset(&doc);
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "<Error>")));
    for (int i = 0; i < 40; i++) assert_true(sl_ok(sl_buf_append_cstr(&doc, "<x>")));
    assert_true(sl_failed(sts_parse_assume_role(doc.data, doc.len, &c, &e, &is_error)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    /* a document over STS_MAX_DOCUMENT */
    assert_true(sl_failed(sts_parse_assume_role(doc.data, STS_MAX_DOCUMENT + 1, &c, &e, &is_error)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    /* empty */
    assert_true(sl_failed(sts_parse_assume_role("", 0, &c, &e, &is_error)));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    /* unknown elements anywhere are skipped, whole */
    const char *extra = "<Error><Future><Code>x</Code></Future><Code>Throttling</Code><Extra/></Error>";
    assert_true(sl_ok(sts_parse_assume_role(extra, strlen(extra), &c, &e, &is_error)));
    assert_true(is_error);
    assert_text(&e.code_text, "Throttling");
    s3_error_clean_up(&e);
    sl_buf_clean_up(&doc);
}

/* ---- the request body ---- */

static void body_exact(void **state)
{
    (void)state;
    sts_assume_role_params p = { .role_arn = "arn:aws:iam:::role/sluice-task",
                                 .session_name = "oP0fKpEc1XGd-Xi9_VJQxg",
                                 .policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\"}]}",
                                 .duration_seconds = 900,
                                 .source_identity = "oP0fKpEc1XGd-Xi9_VJQxg" };
    sl_buf body = { 0 };
    assert_true(sl_ok(sts_assume_role_body(&p, &body)));
    assert_string_equal(sl_buf_cstr(&body),
                        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A%3Arole%2Fsluice-task"
                        "&RoleSessionName=oP0fKpEc1XGd-Xi9_VJQxg"
                        "&Policy=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22"
                        "Allow%22%7D%5D%7D&DurationSeconds=900&SourceIdentity=oP0fKpEc1XGd-Xi9_VJQxg");
    sl_buf_clean_up(&body);
    sts_assume_role_params minimal = { .role_arn = "arn:aws:iam::123456789012:role/x", .session_name = "ab" };
    assert_true(sl_ok(sts_assume_role_body(&minimal, &body)));
    assert_string_equal(sl_buf_cstr(&body), "Action=AssumeRole&Version=2011-06-15"
                                            "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx&RoleSessionName=ab");
    sl_buf_clean_up(&body);
}

static void refuse(const sts_assume_role_params *p, const char *detail_part)
{
    sl_buf body = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&body, "keep")));
    assert_true(sl_failed(sts_assume_role_body(p, &body)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    if (strstr(sl_error_detail(), detail_part) == NULL) fail_msg("detail \"%s\" lacks \"%s\"", sl_error_detail(), detail_part);
    assert_string_equal(sl_buf_cstr(&body), "keep");
    sl_buf_clean_up(&body);
}

static void body_refusals(void **state)
{
    (void)state;
    char long_policy[STS_MAX_POLICY + 2];
    memset(long_policy, 'x', sizeof(long_policy) - 1);
    long_policy[sizeof(long_policy) - 1] = '\0';
    char long_name[STS_MAX_SESSION_NAME + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    const char *arn = "arn:aws:iam:::role/r";
    refuse(&(sts_assume_role_params){ .session_name = "ab" }, "RoleArn");
    refuse(&(sts_assume_role_params){ .role_arn = "role/r", .session_name = "ab" }, "RoleArn");
    refuse(&(sts_assume_role_params){ .role_arn = arn }, "RoleSessionName");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "a" }, "RoleSessionName");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = long_name }, "RoleSessionName");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "a b" }, "RoleSessionName");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "a/b" }, "RoleSessionName");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "ab", .policy = "" }, "session policy");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "ab", .policy = long_policy }, "session policy");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "ab", .duration_seconds = 899 }, "DurationSeconds");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "ab", .duration_seconds = 43201 },
           "DurationSeconds");
    refuse(&(sts_assume_role_params){ .role_arn = arn, .session_name = "ab", .source_identity = "x y" },
           "SourceIdentity");
    long_name[STS_MAX_SESSION_NAME] = '\0';
    sl_buf body = { 0 };
    assert_true(sl_ok(sts_assume_role_body(&(sts_assume_role_params){ .role_arn = arn, .session_name = long_name,
                                                                      .duration_seconds = 43200 },
                                           &body)));
    sl_buf_clean_up(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(radosgw_answer),   cmocka_unit_test(aws_answer),
        cmocka_unit_test(error_answers),    cmocka_unit_test(invalid_answers),
        cmocka_unit_test(every_truncation_fails), cmocka_unit_test(limits),
        cmocka_unit_test(body_exact),       cmocka_unit_test(body_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
