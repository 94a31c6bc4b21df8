/*
 * test_task_grants.c — unit tests of the pure parts of mover/tasks' grants: the STS
 * session policy a task gets (its exact text: PutObject under the task's prefix,
 * GetObject of exactly the reference keys asked for, both until the task's expiry), its
 * size limit, DurationSeconds (the TTL, at least STS's 900 s), and the reference
 * allowlist (exact keys; keys strictly below a prefix).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tasks/tasks_impl.h"
#include "util/alloc.h"
#include "util/timefmt.h"

static char *keys[] = { "models/m1.bin", "data/a.csv" };
static char *prefixes[] = { "shared/" };

static route_info route(void)
{
    return (route_info){ .name = "metrics", .staging_prefix = "in/metrics/", .sts = true, .has_reference = true,
                         .reference_bucket = "ref-bucket", .reference_keys = keys, .reference_key_count = 2,
                         .reference_prefixes = prefixes, .reference_prefix_count = 1 };
}

static reg_config config(void)
{
    return (reg_config){ .staging = "st-bucket", .sts = true, .sts_role_arn = "arn:aws:iam:::role/sluice-task",
                         .sts_partition = "aws" };
}

static task_manifest manifest(int64_t ttl_ms)
{
    task_manifest m;
    int64_t opened = 0;
    assert_true(sl_time_parse(sl_cursor_from_cstr("2026-12-05T19:00:00.250Z"), &opened));
    assert_true(sl_ok(task_manifest_init(&m, "oP0fKpEc1XGdXXi9GVJQxg", "metrics", "root", opened, opened + ttl_ms,
                                         1024)));
    return m;
}

static void session_policy_names_the_prefix_and_the_keys(void **state)
{
    (void)state;
    reg_config c = config();
    route_info r = route();
    task_manifest m = manifest(20 * 60 * 1000);
    sl_buf out = { 0 };
    assert_true(sl_ok(sts_session_policy(&c, &r, &m, NULL, 0, &out)));
    assert_string_equal(sl_buf_cstr(&out),
                        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"PutIntoTheTaskPrefix\",\"Effect\":\"Allow\","
                        "\"Action\":[\"s3:PutObject\"],\"Resource\":[\"arn:aws:s3:::st-bucket/in/metrics/"
                        "oP0fKpEc1XGdXXi9GVJQxg/*\"],\"Condition\":{\"DateLessThan\":{\"aws:CurrentTime\":"
                        "\"2026-12-05T19:20:00Z\"}}}]}");
    sl_buf_clean_up(&out);
    const char *refs[] = { "models/m1.bin", "shared/x/y.csv" };
    assert_true(sl_ok(sts_session_policy(&c, &r, &m, refs, 2, &out)));
    assert_non_null(strstr(sl_buf_cstr(&out),
                           "{\"Sid\":\"ReadTheGrantedReferenceKeys\",\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],"
                           "\"Resource\":[\"arn:aws:s3:::ref-bucket/models/m1.bin\",\"arn:aws:s3:::ref-bucket/shared/x/"
                           "y.csv\"],\"Condition\":{\"DateLessThan\":{\"aws:CurrentTime\":\"2026-12-05T19:20:00Z\"}}}"));
    assert_null(strstr(sl_buf_cstr(&out), "ListBucket"));
    sl_buf_clean_up(&out);

    /* another partition */
    c.sts_partition = "aws-cn";
    assert_true(sl_ok(sts_session_policy(&c, &r, &m, NULL, 0, &out)));
    assert_non_null(strstr(sl_buf_cstr(&out), "\"arn:aws-cn:s3:::st-bucket/in/metrics/"));
    sl_buf_clean_up(&out);
    task_manifest_clean_up(&m);
}

static void session_policy_stays_within_sts_limit(void **state)
{
    (void)state;
    reg_config c = config();
    route_info r = route();
    task_manifest m = manifest(60000);
    static char names[TASK_MAX_REFERENCE_KEYS][80];
    const char *refs[TASK_MAX_REFERENCE_KEYS];
    for (size_t i = 0; i < TASK_MAX_REFERENCE_KEYS; i++) {
        snprintf(names[i], sizeof(names[i]), "shared/a-rather-long-reference-key-name-%03zu.parquet", i);
        refs[i] = names[i];
    }
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&out, "keep")));
    assert_true(sl_failed(sts_session_policy(&c, &r, &m, refs, TASK_MAX_REFERENCE_KEYS, &out)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    assert_non_null(strstr(sl_error_detail(), "ask for fewer keys, or use presigned grants"));
    assert_string_equal(sl_buf_cstr(&out), "keep");
    /* without STS configured: no policy */
    c.sts = false;
    assert_true(sl_failed(sts_session_policy(&c, &r, &m, NULL, 0, &out)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    sl_buf_clean_up(&out);
    task_manifest_clean_up(&m);
}

static void duration_is_the_ttl_at_least_900_seconds(void **state)
{
    (void)state;
    const struct {
        int64_t ttl_ms;
        uint32_t seconds;
    } cases[] = { { 6000, 900 }, { 900000, 900 }, { 900001, 901 }, { 3600000, 3600 }, { 14400000, 14400 },
                  { 7LL * 24 * 3600 * 1000, 43200 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        task_manifest m = manifest(cases[i].ttl_ms);
        assert_int_equal(sts_duration_seconds(&m), cases[i].seconds);
        task_manifest_clean_up(&m);
    }
}

static void reference_allowlist(void **state)
{
    (void)state;
    route_info r = route();
    assert_true(reference_allowed(&r, "models/m1.bin"));
    assert_true(reference_allowed(&r, "data/a.csv"));
    assert_true(reference_allowed(&r, "shared/x.csv"));
    assert_true(reference_allowed(&r, "shared/deep/er/x.csv"));
    assert_false(reference_allowed(&r, "shared/")); /* the prefix itself is no object */
    assert_false(reference_allowed(&r, "shared"));
    assert_false(reference_allowed(&r, "models/m1.bin.old"));
    assert_false(reference_allowed(&r, "models/m2.bin"));
    assert_false(reference_allowed(&r, "Shared/x.csv"));
    assert_false(reference_allowed(&r, ""));
    assert_false(reference_allowed(&r, NULL));
    assert_false(reference_allowed(NULL, "models/m1.bin"));
    r.has_reference = false;
    assert_false(reference_allowed(&r, "models/m1.bin"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_policy_names_the_prefix_and_the_keys),
        cmocka_unit_test(session_policy_stays_within_sts_limit),
        cmocka_unit_test(duration_is_the_ttl_at_least_900_seconds),
        cmocka_unit_test(reference_allowlist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
