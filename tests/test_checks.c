/*
 * test_checks.c — unit tests of mover/pipeline/checks.c: key and metadata rules, type
 * rules, the extension table, libmagic, and the streaming content checker on a real
 * libuv loop and thread pool (including backpressure and the size limit).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uv.h>

#include "checks/checks.h"
#include "checks_driver.h"
#include "util/alloc.h"

/* The compiled scanners (signatures) every hand-made route below uses. */
static checks_driver driver;

static char *allow[] = { "text/csv", "text/plain", "application/json", "image/png" };
static char *deny[] = { "application/x-executable", "application/x-sharedlib" };

static sl_config_checks rules(void)
{
    return (sl_config_checks){
        .max_bytes = 64 * 1024,
        .allow_types = allow,
        .allow_type_count = 4,
        .deny_types = deny,
        .deny_type_count = 2,
        .check_extension = true,
        .max_key_length = 1024,
        .max_depth = 4,
        .max_metadata_bytes = 64,
        .compiled = driver.config ? driver.config->routes[0].checks.compiled : NULL,
    };
}

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }

static const artifact_finding *only(const findings *f, const char *check)
{
    const artifact_finding *hit = NULL;
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->items[i].check, check) == 0) hit = &f->items[i];
    assert_non_null(hit);
    return hit;
}

static void key_rules(void **state)
{
    (void)state;
    sl_config_checks r = rules();
    struct {
        const char *name;
        bool pass;
        const char *why;
    } cases[] = {
        { "report.csv", true, NULL },
        { "a/b/c/d.csv", true, NULL },
        { "a/b/c/d/e.csv", false, "5 segments deep (limit 4)" },
        { "../escape.csv", false, "\"..\" segment" },
        { "sub/../escape.csv", false, "\"..\" segment" },
        { "./here.csv", false, "\".\" or \"..\" segment" },
        { "a..b.csv", true, NULL },
        { "tab\there.csv", false, "control character" },
        { "nul\x7f.csv", false, "control character" },
        { "win\\path.csv", false, "backslash" },
        { "double//slash.csv", false, "empty segment" },
        { "/leading.csv", false, "starts with \"/\"" },
        { "", false, "empty name" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        findings f = { 0 };
        assert_true(sl_ok(checks_key(&r, cur("staging/t/x"), cur(cases[i].name), &f)));
        assert_int_equal(f.count, 1);
        if (cases[i].pass != (f.items[0].verdict == FINDING_PASS)) fail_msg("case %zu (%s): %s", i, cases[i].name, f.items[0].detail);
        if (cases[i].why) assert_non_null(strstr(f.items[0].detail, cases[i].why));
        findings_clean_up(&f);
    }
    r.max_key_length = 10;
    findings f = { 0 };
    assert_true(sl_ok(checks_key(&r, cur("staging/task/name.csv"), cur("name.csv"), &f)));
    assert_int_equal(f.items[0].verdict, FINDING_FAIL);
    assert_non_null(strstr(f.items[0].detail, "key is 21 bytes (limit 10)"));
    findings_clean_up(&f);
}

static void metadata_rule(void **state)
{
    (void)state;
    sl_config_checks r = rules();
    sl_cursor small[] = { cur("origin"), cur("notebook") };
    findings f = { 0 };
    assert_true(sl_ok(checks_metadata(&r, small, 1, &f)));
    assert_int_equal(f.items[0].verdict, FINDING_PASS);
    char big[100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sl_cursor large[] = { cur("cmd"), cur(big) };
    assert_true(sl_ok(checks_metadata(&r, large, 1, &f)));
    assert_int_equal(f.items[1].verdict, FINDING_FAIL);
    assert_non_null(strstr(f.items[1].detail, "102 bytes in 1 pairs (limit 64)"));
    assert_int_equal(findings_worst(&f), FINDING_FAIL);
    assert_false(findings_all_pass(&f));
    findings_clean_up(&f);
}

static void type_rules_and_extensions(void **state)
{
    (void)state;
    sl_config_checks r = rules();
    const char *why;
    assert_true(checks_type_allowed(&r, "text/csv", &why));
    assert_false(checks_type_allowed(&r, "application/zip", &why));
    assert_string_equal(why, "not in the route's allow_types");
    assert_false(checks_type_allowed(&r, "application/x-executable", &why));
    assert_string_equal(why, "in the route's deny_types");
    char *wild[] = { "image/*" };
    char *deny_png[] = { "image/png" };
    sl_config_checks w = { .allow_types = wild, .allow_type_count = 1, .deny_types = deny_png, .deny_type_count = 1 };
    assert_true(checks_type_allowed(&w, "image/jpeg", &why));
    assert_false(checks_type_allowed(&w, "image/png", &why)); /* deny wins */
    assert_false(checks_type_allowed(&w, "imagex/jpeg", &why));
    sl_config_checks open = { 0 };
    assert_true(checks_type_allowed(&open, "application/zip", &why));

    assert_string_equal(checks_extension_types(cur("a/b/report.CSV"))[0], "text/csv");
    assert_null(checks_extension_types(cur("dir.csv/noext")));
    assert_null(checks_extension_types(cur("archive.unknownext")));
    assert_string_equal(checks_extension_types(cur("x.tar.gz"))[0], "application/gzip");
}

/* ---- the content checker on a real loop ---- */

struct run {
    uv_loop_t *loop;
    content_check *check;
    bool done;
    findings findings;
    char sha256[65];
    char detected[128];
    uint64_t size;
    unsigned pauses;
    const uint8_t *data;
    size_t len, offset, chunk;
    bool aborted;
};

static void on_done(void *user, const content_result *r)
{
    struct run *run = user;
    run->done = true;
    for (size_t i = 0; i < r->findings->count; i++)
        assert_true(sl_ok(findings_add(&run->findings, r->findings->items[i].check, r->findings->items[i].verdict, "%s",
                                       r->findings->items[i].detail)));
    snprintf(run->sha256, sizeof(run->sha256), "%s", r->sha256);
    snprintf(run->detected, sizeof(run->detected), "%s", r->detected_type);
    run->size = r->size;
}

static void feed_more(struct run *run)
{
    while (run->offset < run->len) {
        size_t n = run->len - run->offset < run->chunk ? run->len - run->offset : run->chunk;
        s3_http_body_action a = content_check_feed(run->check, run->data + run->offset, n);
        if (a == S3_HTTP_BODY_PAUSE) {
            run->pauses++;
            return; /* resume() continues */
        }
        if (a == S3_HTTP_BODY_ABORT) {
            run->aborted = true;
            break;
        }
        run->offset += n;
    }
    content_check_finish(run->check, !run->aborted, run->aborted ? "aborted" : NULL, on_done, run);
}

static void on_resume(void *user) { feed_more(user); }

static void check_bytes(struct run *run, checks_magic *magic, const sl_config_checks *r, const char *name,
                        const char *declared, const void *data, size_t len, size_t chunk)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(run, 0, sizeof(*run));
    run->loop = &loop;
    run->data = data;
    run->len = len;
    run->chunk = chunk;
    content_check_params p = { .rules = r, .magic = magic, .name = cur(name), .declared_type = cur(declared),
                               .expected_size = len, .resume = on_resume, .user = run };
    run->check = content_check_new(&loop, &p);
    feed_more(run);
    assert_false(run->done); /* always asynchronous */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(run->done);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void sha_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n;
    assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int setup(void **state)
{
    checks_driver_init(&driver, "{}");
    *state = driver.magic;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    checks_driver_clean_up(&driver);
    return 0;
}

/* A route whose scanners were never compiled gets an error, never a pass. */
static void unattached_scanners_never_pass(void **state)
{
    sl_config_checks r = rules();
    r.compiled = NULL;
    const char *csv = "a,b\n1,2\n";
    struct run run;
    check_bytes(&run, *state, &r, "t/report.csv", "text/csv", csv, strlen(csv), 7);
    assert_int_equal(findings_worst(&run.findings), FINDING_ERROR);
    assert_non_null(strstr(only(&run.findings, "content")->detail, "the content scanners are not loaded"));
    findings_clean_up(&run.findings);
}

static void csv_passes_every_check(void **state)
{
    sl_config_checks r = rules();
    const char *csv = "name,value,unit\nalpha,1,m\nbeta,2,m\ngamma,3,m\ndelta,4,m\n";
    struct run run;
    check_bytes(&run, *state, &r, "t/report.csv", "text/csv", csv, strlen(csv), 7);
    char expected[65];
    sha_hex(csv, strlen(csv), expected);
    assert_string_equal(run.sha256, expected);
    assert_int_equal(run.size, strlen(csv));
    assert_true(strcmp(run.detected, "text/csv") == 0 || strcmp(run.detected, "text/plain") == 0);
    if (!findings_all_pass(&run.findings)) fail_msg("a finding did not pass: %s", only(&run.findings, "type")->detail);
    findings_clean_up(&run.findings);
}

static void zip_named_csv_fails_type_and_extension(void **state)
{
    sl_config_checks r = rules();
    /* a minimal ZIP: local file header magic, then an end-of-central-directory record */
    static const uint8_t zip[] = { 'P', 'K', 3, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 'P', 'K', 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0 };
    struct run run;
    check_bytes(&run, *state, &r, "table.csv", "text/csv", zip, sizeof(zip), 16);
    assert_int_equal(only(&run.findings, "type")->verdict, FINDING_FAIL);
    assert_int_equal(only(&run.findings, "extension")->verdict, FINDING_REVIEW);
    assert_int_equal(only(&run.findings, "declared_type")->verdict, FINDING_REVIEW);
    assert_non_null(strstr(run.detected, "zip"));
    findings_clean_up(&run.findings);
}

static void oversize_stops_reading_and_fails(void **state)
{
    sl_config_checks r = rules();
    size_t len = 200 * 1024;
    char *data = sl_malloc(len);
    memset(data, 'a', len);
    struct run run;
    check_bytes(&run, *state, &r, "big.txt", "", data, len, 16 * 1024);
    assert_true(run.aborted);
    assert_true(run.offset < len); /* reading stopped early */
    assert_int_equal(only(&run.findings, "size")->verdict, FINDING_FAIL);
    assert_string_equal(run.sha256, "");
    assert_false(findings_all_pass(&run.findings));
    findings_clean_up(&run.findings);
    sl_free(data);
}

static void large_object_hashes_right_through_backpressure(void **state)
{
    sl_config_checks r = rules();
    r.max_bytes = 64ull * 1024 * 1024;
    size_t len = 9 * 1024 * 1024 + 7;
    uint8_t *data = sl_malloc(len);
    for (size_t i = 0; i < len; i++) data[i] = (uint8_t)("line of text\n"[i % 13]);
    struct run run;
    check_bytes(&run, *state, &r, "log.txt", "text/plain", data, len, 16 * 1024);
    char expected[65];
    sha_hex(data, len, expected);
    assert_string_equal(run.sha256, expected);
    assert_int_equal(run.size, len);
    assert_string_equal(run.detected, "text/plain");
    assert_true(run.pauses > 0); /* the feeder outran the pool at least once */
    assert_true(findings_all_pass(&run.findings));
    findings_clean_up(&run.findings);
    sl_free(data);
}

static void empty_object_is_typed_and_hashed(void **state)
{
    sl_config_checks r = rules();
    struct run run;
    check_bytes(&run, *state, &r, "empty.txt", "", "", 0, 1);
    assert_string_equal(run.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(run.detected, "application/x-empty");
    assert_int_equal(only(&run.findings, "type")->verdict, FINDING_FAIL);
    findings_clean_up(&run.findings);
}

static void incomplete_transfer_never_passes(void **state)
{
    sl_config_checks r = rules();
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct run run = { .loop = &loop };
    content_check_params p = { .rules = &r, .magic = *state, .name = cur("a.csv"), .declared_type = cur("text/csv"),
                               .expected_size = 100, .resume = on_resume, .user = &run };
    run.check = content_check_new(&loop, &p);
    assert_int_equal(content_check_feed(run.check, (const uint8_t *)"a,b\n1,2\n", 8), S3_HTTP_BODY_CONSUMED);
    content_check_finish(run.check, false, "connection reset after 8 bytes", on_done, &run);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(findings_worst(&run.findings), FINDING_ERROR);
    assert_non_null(strstr(run.findings.items[0].detail, "connection reset"));
    assert_string_equal(run.sha256, "");
    findings_clean_up(&run.findings);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_rules),
        cmocka_unit_test(metadata_rule),
        cmocka_unit_test(type_rules_and_extensions),
        cmocka_unit_test(csv_passes_every_check),
        cmocka_unit_test(zip_named_csv_fails_type_and_extension),
        cmocka_unit_test(oversize_stops_reading_and_fails),
        cmocka_unit_test(large_object_hashes_right_through_backpressure),
        cmocka_unit_test(empty_object_is_typed_and_hashed),
        cmocka_unit_test(incomplete_transfer_never_passes),
        cmocka_unit_test(unattached_scanners_never_pass),
    };
    return cmocka_run_group_tests_name("checks", tests, setup, teardown);
}
