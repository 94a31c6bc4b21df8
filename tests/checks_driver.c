/*
 * checks_driver.c — see checks_driver.h.
 */
#include "checks_driver.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "util/alloc.h"

void checks_driver_init(checks_driver *d, const char *checks_json) { checks_driver_init_with(d, checks_json, ""); }

void checks_driver_init_with(checks_driver *d, const char *checks_json, const char *sections)
{
    char text[8192];
    snprintf(text, sizeof(text),
             "{\"s3\": {\"endpoint\": \"http://127.0.0.1:1\"},"
             " \"buckets\": {\"staging\": \"sluice-staging\", \"quarantine\": \"sluice-quarantine\","
             "               \"trusted\": \"sluice-trusted\"},"
             " \"routes\": [{\"name\": \"r\", \"staging_prefix\": \"in/\", \"trusted_prefix\": \"out/\","
             "               \"require_task\": false, \"checks\": %s}],"
             " %s \"audit\": {\"file\": \"/tmp/unused-audit.jsonl\"}}",
             checks_json, sections);
    sl_config_errors errors = { 0 };
    if (sl_failed(sl_config_load_string(text, SLUICE_SOURCE_DIR, &d->config, &errors)))
        fail_msg("config: %s", errors.count ? errors.items[0].message : sl_error_detail());
    sl_config_errors_clean_up(&errors);
    checks_errors problems = { 0 };
    if (sl_failed(checks_engine_attach(d->config, &problems)))
        fail_msg("rules: %s", problems.count ? problems.items[0] : sl_error_detail());
    checks_errors_clean_up(&problems);
    assert_true(sl_ok(checks_magic_new(&d->magic)));
}

void checks_driver_clean_up(checks_driver *d)
{
    sl_config_free(d->config);
    checks_magic_destroy(d->magic);
}

struct run {
    content_check *check;
    const uint8_t *data;
    size_t len, offset, chunk;
    bool aborted, done;
    findings *out;
};

static void on_done(void *user, const content_result *r)
{
    struct run *run = user;
    run->done = true;
    for (size_t i = 0; i < r->findings->count; i++)
        assert_true(sl_ok(findings_add(run->out, r->findings->items[i].check, r->findings->items[i].verdict, "%s",
                                       r->findings->items[i].detail)));
}

static void feed(struct run *run)
{
    while (run->offset < run->len) {
        size_t n = run->len - run->offset < run->chunk ? run->len - run->offset : run->chunk;
        s3_http_body_action a = content_check_feed(run->check, run->data + run->offset, n);
        if (a == S3_HTTP_BODY_PAUSE) return;
        if (a == S3_HTTP_BODY_ABORT) {
            run->aborted = true;
            break;
        }
        run->offset += n;
    }
    content_check_finish(run->check, !run->aborted, run->aborted ? "aborted" : NULL, on_done, run);
}

static void on_resume(void *user) { feed(user); }

void checks_driver_run(checks_driver *d, const char *name, const void *data, size_t len, size_t chunk, findings *out)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct run run = { .data = data, .len = len, .chunk = chunk ? chunk : 1, .out = out };
    content_check_params p = { .rules = &d->config->routes[0].checks, .magic = d->magic,
                               .name = sl_cursor_from_cstr(name), .expected_size = len,
                               .resume = on_resume, .user = &run };
    run.check = content_check_new(&loop, &p);
    feed(&run);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(run.done);
    assert_int_equal(uv_loop_close(&loop), 0);
}

const artifact_finding *checks_find(const findings *f, const char *check, const char *words)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->items[i].check, check) == 0 && (words == NULL || strstr(f->items[i].detail, words) != NULL))
            return &f->items[i];
    return NULL;
}

finding_verdict checks_worst_of(const findings *f, const char *check)
{
    static const int rank[] = { [FINDING_PASS] = 0, [FINDING_REVIEW] = 1, [FINDING_FAIL] = 2, [FINDING_ERROR] = 3 };
    finding_verdict worst = FINDING_PASS;
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->items[i].check, check) == 0 && rank[f->items[i].verdict] > rank[worst]) worst = f->items[i].verdict;
    return worst;
}

void checks_driver_temp_file(const char *name, const char *text, char *path, size_t path_size)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/sluice-checks-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    assert_true((size_t)snprintf(path, path_size, "%s/%s", dir, name) < path_size);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

void checks_driver_temp_remove(const char *path)
{
    assert_int_equal(remove(path), 0);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    assert_int_equal(remove(dir), 0);
}
