/*
 * test_task_registry.c — the task registry (mover/tasks/) in-process, against the real
 * local radosgw: opening a task writes its manifest and an audit record and hands out
 * grants that curl can use (and that S3 limits as promised); admit() verdicts for open,
 * closed, expired and unknown tasks; limits (names, sizes, the count, kept across a
 * restart); close twice; expiry by TTL; bad requests change nothing; listing; an
 * unreachable S3; a corrupt manifest; destroy with work pending; and the API endpoints
 * end to end through a real API server and review/api_client.
 *
 * Needs `eval "$(scripts/s3-server.sh env)"` and curl. The grants identity must be
 * allowed to PUT under reports/ and metrics/ of the staging bucket: when the bucket has
 * no policy, the test installs one for its run (and removes it afterwards); when it has
 * one (scripts/s3-server.sh's), that one is used as it is. Every run works under its own
 * control prefix and removes what it wrote.
 *
 * `task-registry-test serve SOCKET CONTROL_PREFIX` does not run the tests: it serves the
 * task endpoints (a real registry and API server, the caller as the only orchestrator)
 * on SOCKET until SIGTERM, printing "ready" once it listens — the stand-in for the
 * daemon that tests/integration/test_tasks.py drives with sluice-review.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <uv.h>

#include "api/api.h"
#include "api/task_endpoints.h"
#include "api_client.h"
#include "audit/audit.h"
#include "config/config.h"
#include "s3/client.h"
#include "state/artifact.h"
#include "state/task.h"
#include "util/timefmt.h"
#include "tasks/tasks.h"
#include "util/alloc.h"
#include "util/buf.h"

static char run_id[32];
/* Completions uv_stop() the loop, so uv_run returns at once: an answer delivered from a
 * timer callback would otherwise leave uv_run(UV_RUN_ONCE) polling until the next timer
 * (the registry's expiry timer may be minutes away). */
static uv_loop_t *g_loop;
static char tmpdir[128];
static bool installed_policy;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "%s is not set: start the local S3 server and load its environment:\n"
                        "  scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\"\n", name);
        exit(1);
    }
    return v;
}

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- shell helpers: curl as a real client ---- */

/* Runs a shell command and returns its stdout (trimmed), into out. */
static int sh(char *out, size_t out_len, const char *fmt, ...) SL_PRINTF(3, 4);
static int sh(char *out, size_t out_len, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, out_len - 1, p);
    out[got] = '\0';
    while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r')) out[--got] = '\0';
    return pclose(p);
}

static void write_file(const char *path, const char *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

/* The mover's curl --aws-sigv4 arguments (radosgw wants x-amz-content-sha256). */
static void mover_curl(char *out, size_t len)
{
    snprintf(out, len,
             "curl -sS --aws-sigv4 'aws:amz:%s:s3' --user '%s:%s' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'",
             env("SLUICE_S3_REGION"), env("SLUICE_MOVER_ACCESS_KEY"), env("SLUICE_MOVER_SECRET_KEY"));
}

/* PUT with a presigned URL; returns the HTTP status. extra: more curl arguments. */
static int put_with_url(const char *url, const char *file, const char *extra)
{
    char out[64];
    sh(out, sizeof(out), "curl -sS -o /dev/null -w '%%{http_code}' -X PUT -H 'If-None-Match: *' "
                         "-H 'x-amz-acl: bucket-owner-full-control' %s --upload-file '%s' '%s'",
       extra ? extra : "", file, url);
    return atoi(out);
}

/* POST with a grant's form; `key` is the whole key. Returns the status; the body's
 * first bytes go to body (if not NULL). */
static int post_with_form(json_t *post, const char *key, const char *file, char *body, size_t body_len)
{
    sl_buf cmd = { 0 };
    char resp[256];
    snprintf(resp, sizeof(resp), "%s/post-response", tmpdir);
    assert_true(sl_ok(sl_buf_appendf(&cmd, "curl -sS -o '%s' -w '%%{http_code}' --form-string 'key=%s'", resp, key)));
    const char *name;
    json_t *value;
    json_object_foreach(json_object_get(post, "fields"), name, value)
        assert_true(sl_ok(sl_buf_appendf(&cmd, " --form-string '%s=%s'", name, json_string_value(value))));
    assert_true(sl_ok(sl_buf_appendf(&cmd, " -F 'file=@%s' '%s'", file,
                                     json_string_value(json_object_get(post, "url")))));
    char out[64];
    sh(out, sizeof(out), "%s", sl_buf_cstr(&cmd));
    sl_buf_clean_up(&cmd);
    if (body != NULL) {
        sl_buf b = { 0 };
        if (sl_ok(sl_buf_read_file(&b, resp, 1 << 16))) snprintf(body, body_len, "%s", sl_buf_cstr(&b));
        else body[0] = '\0';
        sl_buf_clean_up(&b);
    }
    return atoi(out);
}

/* The staging bucket must let the grants identity PUT under reports/ and metrics/. */
static void ensure_grants_policy(void)
{
    char curl[512], out[4096];
    mover_curl(curl, sizeof(curl));
    /* "?policy=": curl 7.88's --aws-sigv4 signs a bare "?policy" differently from S3 */
    sh(out, sizeof(out), "%s -o /dev/null -w '%%{http_code}' '%s/%s?policy='", curl, env("SLUICE_S3_ENDPOINT"),
       env("SLUICE_BUCKET_STAGING"));
    if (strcmp(out, "200") == 0) return; /* the server's own policy */
    if (strcmp(out, "404") != 0) fail_msg("GET the staging bucket's policy: HTTP %s", out);
    char policy[1024], path[300];
    snprintf(policy, sizeof(policy),
             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"TaskRegistryTestGrantsPut\",\"Effect\":\"Allow\","
             "\"Principal\":{\"AWS\":[\"arn:aws:iam:::user/grants\"]},\"Action\":[\"s3:PutObject\"],"
             "\"Resource\":[\"arn:aws:s3:::%s/reports/*\",\"arn:aws:s3:::%s/metrics/*\"]}]}",
             env("SLUICE_BUCKET_STAGING"), env("SLUICE_BUCKET_STAGING"));
    snprintf(path, sizeof(path), "%s/policy.json", tmpdir);
    write_file(path, policy, strlen(policy));
    sh(out, sizeof(out), "%s -o /dev/null -w '%%{http_code}' -X PUT --upload-file '%s' '%s/%s?policy='", curl, path,
       env("SLUICE_S3_ENDPOINT"), env("SLUICE_BUCKET_STAGING"));
    if (atoi(out) / 100 != 2) fail_msg("could not install the test's bucket policy: HTTP %s", out);
    installed_policy = true;
}

static void remove_grants_policy(void)
{
    if (!installed_policy) return;
    char curl[512], out[64];
    mover_curl(curl, sizeof(curl));
    sh(out, sizeof(out), "%s -o /dev/null -w '%%{http_code}' -X DELETE '%s/%s?policy='", curl, env("SLUICE_S3_ENDPOINT"),
       env("SLUICE_BUCKET_STAGING"));
    installed_policy = false;
}

/* ---- the fixture: a loop, the mover's client, an audit log, a registry ---- */

struct fixture {
    uv_loop_t loop;
    s3_credentials mover, grants;
    s3_client *client;
    audit_log *audit;
    sl_config *config;
    task_registry *reg;
    char control_prefix[96];
    char audit_path[300];
};

static sl_config *load_config(const char *control_prefix, const char *endpoint)
{
    char json[4096];
    struct passwd *pw = getpwuid(getuid());
    snprintf(json, sizeof(json),
             "{\"s3\":{\"endpoint\":\"%s\",\"region\":\"%s\"},"
             "\"buckets\":{\"staging\":\"%s\",\"quarantine\":\"%s\",\"trusted\":\"%s\",\"control_prefix\":\"%s\"},"
             "\"grants\":{\"default_ttl\":\"10m\",\"max_ttl\":\"1h\"},"
             "\"routes\":[{\"name\":\"reports\",\"staging_prefix\":\"reports/\",\"trusted_prefix\":\"reports/\","
             "\"checks\":{\"max_bytes\":\"1MiB\"}},"
             "{\"name\":\"metrics\",\"staging_prefix\":\"metrics/\",\"trusted_prefix\":\"metrics/\","
             "\"checks\":{\"max_bytes\":\"64KiB\"}}],"
             "\"review\":{\"orchestrators\":[\"%s\"]},\"audit\":{\"file\":\"%s/unused.jsonl\"}}",
             endpoint, env("SLUICE_S3_REGION"), env("SLUICE_BUCKET_STAGING"), env("SLUICE_BUCKET_QUARANTINE"),
             env("SLUICE_BUCKET_TRUSTED"), control_prefix, pw ? pw->pw_name : "root", tmpdir);
    sl_config *c = NULL;
    sl_config_errors errors = { 0 };
    if (sl_failed(sl_config_load_string(json, tmpdir, &c, &errors)))
        fail_msg("test config: %s", errors.count ? errors.items[0].message : sl_error_detail());
    sl_config_errors_clean_up(&errors);
    return c;
}

static task_registry *new_registry(struct fixture *f, s3_client *client)
{
    task_registry_options o = { .client = client, .audit = f->audit, .grant_credentials = &f->grants,
                                .mover_access_key_id = f->mover.access_key_id, .refresh_ms = 60000 };
    task_registry *r = NULL;
    if (sl_failed(task_registry_new(&f->loop, f->config, &o, &r))) fail_msg("task_registry_new: %s", sl_error_detail());
    assert_true(sl_ok(task_registry_start(r)));
    return r;
}

static s3_client *new_client(struct fixture *f, const char *endpoint)
{
    s3_http_options http = s3_http_options_default();
    http.connect_timeout_ms = 2000;
    s3_retry_policy retry = s3_retry_policy_default();
    retry.max_attempts = 2;
    s3_client_config cc = { .endpoint = endpoint, .region = env("SLUICE_S3_REGION"),
                            .addressing = S3_ADDRESSING_PATH, .credentials = &f->mover, .http = http, .retry = retry };
    s3_client *c = NULL;
    assert_true(sl_ok(s3_client_new(&f->loop, &cc, &c)));
    return c;
}

static int counter;

static int setup(void **state)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    g_loop = &f->loop;
    assert_true(sl_ok(s3_credentials_init(&f->mover, env("SLUICE_MOVER_ACCESS_KEY"), env("SLUICE_MOVER_SECRET_KEY"), NULL)));
    assert_true(sl_ok(s3_credentials_init(&f->grants, env("SLUICE_GRANTS_ACCESS_KEY"), env("SLUICE_GRANTS_SECRET_KEY"), NULL)));
    snprintf(f->control_prefix, sizeof(f->control_prefix), "task-registry-test/%s-%d/", run_id, ++counter);
    snprintf(f->audit_path, sizeof(f->audit_path), "%s/audit-%d.jsonl", tmpdir, counter);
    f->config = load_config(f->control_prefix, env("SLUICE_S3_ENDPOINT"));
    f->client = new_client(f, env("SLUICE_S3_ENDPOINT"));
    assert_true(sl_ok(audit_log_open(&f->loop, f->audit_path, 0, &f->audit)));
    f->reg = new_registry(f, f->client);
    *state = f;
    return 0;
}

/* ---- synchronous wrappers ---- */

struct result {
    bool done;
    unsigned calls;
    task_outcome outcome;
    char detail[512];
    json_t *json;
    task_verdict verdict;
};

static void run_until(struct fixture *f, const bool *flag)
{
    int64_t deadline = now_ms() + 60000;
    while (!*flag) {
        uv_run(&f->loop, UV_RUN_DEFAULT);
        if (now_ms() > deadline) fail_msg("timed out waiting for the registry");
    }
}

static void on_result(void *user, task_outcome outcome, const char *detail, json_t *result)
{
    uv_stop(g_loop);
    struct result *r = user;
    r->calls++;
    r->done = true;
    r->outcome = outcome;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    json_decref(r->json);
    r->json = result;
}

/* The registry's typed results, as JSON the way the API answers them. */
static void on_open(void *user, task_outcome outcome, const char *detail, const task_info *task,
                    const task_grant *grant)
{
    on_result(user, outcome, detail, task && grant ? task_endpoints_grant_json(task, grant) : NULL);
}

static void on_info(void *user, task_outcome outcome, const char *detail, const task_info *task)
{
    on_result(user, outcome, detail, task ? task_endpoints_task_json(task) : NULL);
}

static void on_list(void *user, task_outcome outcome, const char *detail, const task_info *tasks, size_t count)
{
    on_result(user, outcome, detail, outcome == TASK_OUTCOME_OK ? task_endpoints_list_json(tasks, count) : NULL);
}

static void on_verdict(void *user, task_verdict verdict, const char *reason)
{
    uv_stop(g_loop);
    struct result *r = user;
    r->calls++;
    r->done = true;
    r->verdict = verdict;
    snprintf(r->detail, sizeof(r->detail), "%s", reason ? reason : "");
}

static json_t *open_task(struct fixture *f, const task_open_params *p, task_outcome expected, struct result *out)
{
    struct result r = { 0 };
    assert_true(sl_ok(task_registry_open(f->reg, p, "orch", on_open, &r)));
    assert_false(r.done); /* always asynchronous */
    run_until(f, &r.done);
    if (r.outcome != expected)
        fail_msg("open: %s (%s), expected %s", task_outcome_name(r.outcome), r.detail, task_outcome_name(expected));
    assert_int_equal(r.calls, 1);
    if (out) *out = r;
    return r.json;
}

static task_verdict admit_in(struct fixture *f, task_registry *reg, const char *route, const char *task,
                             const char *name, uint64_t size, int64_t modified, char *reason, size_t reason_len)
{
    struct result r = { 0 };
    assert_true(sl_ok(task_registry_admit(reg, route, task, name, size, modified, on_verdict, &r)));
    assert_false(r.done);
    run_until(f, &r.done);
    assert_int_equal(r.calls, 1);
    if (reason) snprintf(reason, reason_len, "%s", r.detail);
    if (r.verdict == TASK_ACCEPT) assert_string_equal(r.detail, "");
    else assert_true(r.detail[0] != '\0');
    return r.verdict;
}

static task_verdict admit(struct fixture *f, const char *route, const char *task, const char *name, uint64_t size,
                          int64_t modified, char *reason, size_t reason_len)
{
    return admit_in(f, f->reg, route, task, name, size, modified, reason, reason_len);
}

static struct result close_task(struct fixture *f, const char *id)
{
    struct result r = { 0 };
    assert_true(sl_ok(task_registry_close(f->reg, id, "closer", on_info, &r)));
    assert_false(r.done);
    run_until(f, &r.done);
    assert_int_equal(r.calls, 1);
    return r;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL) fail_msg("no string \"%s\" in the answer", key);
    return s;
}

/* GET of an object with the mover's client: the body into out; returns the status. */
struct get_ctx {
    bool done;
    long status;
    sl_buf body;
};

static s3_http_body_action get_chunk(void *user, const uint8_t *data, size_t len)
{
    struct get_ctx *g = user;
    return sl_ok(sl_buf_append(&g->body, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

static void get_done(void *user, const s3_result *res, const s3_object_info *info)
{
    uv_stop(g_loop);
    (void)info;
    struct get_ctx *g = user;
    g->status = res->error == SL_OK ? 200 : res->status;
    g->done = true;
}

static long mover_get(struct fixture *f, const char *bucket, const char *key, sl_buf *body)
{
    struct get_ctx g = { 0 };
    assert_true(sl_ok(s3_get_object_stream(f->client, cur(bucket), cur(key), NULL, NULL, get_chunk, get_done, &g, NULL)));
    run_until(f, &g.done);
    if (body) {
        sl_buf_clean_up(body);
        *body = g.body;
    } else {
        sl_buf_clean_up(&g.body);
    }
    return g.status;
}

struct put_ctx {
    bool done;
    long status;
};

static void put_done(void *user, const s3_result *res, const s3_object_info *info)
{
    uv_stop(g_loop);
    (void)info;
    struct put_ctx *p = user;
    p->status = res->error == SL_OK ? 200 : res->status;
    p->done = true;
}

static long mover_put(struct fixture *f, const char *bucket, const char *key, const char *body)
{
    struct put_ctx p = { 0 };
    s3_put_params params = { 0 };
    assert_true(sl_ok(s3_put_object(f->client, cur(bucket), cur(key), cur(body), &params, put_done, &p)));
    run_until(f, &p.done);
    return p.status;
}

static void task_manifest_of(struct fixture *f, const char *id, task_manifest *m)
{
    sl_buf key = { 0 }, body = { 0 };
    assert_true(sl_ok(task_manifest_key(&key, f->control_prefix, id)));
    long status = mover_get(f, env("SLUICE_BUCKET_QUARANTINE"), sl_buf_cstr(&key), &body);
    if (status != 200) fail_msg("GET %s: HTTP %ld", sl_buf_cstr(&key), status);
    if (sl_failed(task_manifest_from_json(sl_cursor_from_buf(&body), m)))
        fail_msg("task manifest: %s", sl_error_detail());
    sl_buf_clean_up(&key);
    sl_buf_clean_up(&body);
}

static size_t count_lines_with(const char *path, const char *a, const char *b)
{
    sl_buf text = { 0 };
    if (sl_failed(sl_buf_read_file(&text, path, 1 << 24))) return 0;
    size_t n = 0;
    sl_cursor all = sl_cursor_from_buf(&text), line;
    while (all.len > 0 && sl_cursor_next_token(&all, '\n', &line)) {
        char *l = sl_cursor_dup(line);
        if (strstr(l, a) && (b == NULL || strstr(l, b))) n++;
        sl_free(l);
    }
    sl_buf_clean_up(&text);
    return n;
}

/* Deletes everything under a prefix of a bucket (mover's curl is enough for tests). */
struct list_ctx {
    bool done;
    sl_buf keys; /* NUL-separated */
    size_t count;
};

static void listed(void *user, const s3_result *res, const s3_list_result *list)
{
    uv_stop(g_loop);
    struct list_ctx *l = user;
    if (res->error == SL_OK) {
        for (size_t i = 0; i < list->object_count; i++) {
            assert_true(sl_ok(sl_buf_append_cursor(&l->keys, sl_cursor_from_buf(&list->objects[i].key))));
            assert_true(sl_ok(sl_buf_append_byte(&l->keys, 0)));
            l->count++;
        }
    }
    l->done = true;
}

static size_t list_keys(struct fixture *f, const char *bucket, const char *prefix, sl_buf *keys)
{
    struct list_ctx l = { 0 };
    s3_list_params params = { .prefix = cur(prefix) };
    assert_true(sl_ok(s3_list_objects_v2(f->client, cur(bucket), &params, listed, &l)));
    run_until(f, &l.done);
    if (keys) *keys = l.keys;
    else sl_buf_clean_up(&l.keys);
    return l.count;
}

struct del_ctx {
    bool done;
};

static void deleted(void *user, const s3_result *res)
{
    uv_stop(g_loop);
    (void)res;
    ((struct del_ctx *)user)->done = true;
}

static void delete_prefix(struct fixture *f, const char *bucket, const char *prefix)
{
    sl_buf keys = { 0 };
    size_t n = list_keys(f, bucket, prefix, &keys);
    const char *k = (const char *)keys.data;
    for (size_t i = 0; i < n; i++) {
        struct del_ctx d = { 0 };
        assert_true(sl_ok(s3_delete_object(f->client, cur(bucket), cur(k), (sl_cursor){ 0 }, deleted, &d)));
        run_until(f, &d.done);
        k += strlen(k) + 1;
    }
    sl_buf_clean_up(&keys);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    task_registry_destroy(f->reg);
    delete_prefix(f, env("SLUICE_BUCKET_QUARANTINE"), f->control_prefix);
    audit_log_close(f->audit);
    s3_client_destroy(f->client);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    sl_config_free(f->config);
    s3_credentials_clean_up(&f->mover);
    s3_credentials_clean_up(&f->grants);
    sl_free(f);
    return 0;
}

/* Removes the staging objects of a task (after a test that uploaded). */
static void delete_task_objects(struct fixture *f, json_t *grant)
{
    delete_prefix(f, env("SLUICE_BUCKET_STAGING"), jstr(grant, "prefix"));
}

/* ---- tests ---- */

/* Opening writes the manifest and the audit record; the grants work with curl exactly
 * as promised, and S3 refuses what they do not allow. */
static void open_writes_manifest_and_grants_work(void **state)
{
    struct fixture *f = *state;
    task_open_key keys[] = { { .name = "out.csv" }, { .name = "sized.bin", .has_size = true, .size = 5 } };
    task_open_params p = { .route = "reports", .ttl_ms = 600000, .keys = keys, .key_count = 2, .max_objects = 5,
                           .max_bytes = 1000 };
    int64_t before = now_ms();
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    const char *id = jstr(g, "task");
    assert_int_equal(strlen(id), SL_TASK_ID_LEN);
    assert_true(sl_ok(artifact_task_id_check(cur(id))));
    assert_string_equal(jstr(g, "route"), "reports");
    assert_string_equal(jstr(g, "state"), "open");
    assert_string_equal(jstr(g, "opened_by"), "orch");
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "reports/%s/", id);
    assert_string_equal(jstr(g, "prefix"), prefix);
    assert_string_equal(jstr(g, "bucket"), env("SLUICE_BUCKET_STAGING"));

    /* the manifest in S3 */
    task_manifest m;
    task_manifest_of(f, id, &m);
    assert_int_equal(m.state, TASK_OPEN);
    assert_string_equal(m.route, "reports");
    assert_string_equal(m.opened_by, "orch");
    assert_true(m.opened_at_ms >= before - 1 && m.opened_at_ms <= now_ms());
    assert_int_equal(m.expires_at_ms - m.opened_at_ms, 600000);
    assert_int_equal(m.limits.max_objects, 5);
    assert_int_equal(m.limits.max_bytes, 1000);
    assert_int_equal(m.limits.key_count, 2);
    /* grants never outlive the task */
    int64_t grant_end;
    assert_true(sl_time_parse(cur(jstr(g, "grant_expires_at")), &grant_end));
    assert_true(grant_end <= m.expires_at_ms && grant_end > m.expires_at_ms - 2000);
    task_manifest_clean_up(&m);

    /* the audit record, synced before the answer */
    assert_int_equal(count_lines_with(f->audit_path, "\"task_open\"", id), 1);
    assert_int_equal(count_lines_with(f->audit_path, "\"actor\":\"orch\"", id), 1);

    /* the PUT URL: signed with the grants identity, once per key */
    json_t *urls = json_object_get(g, "put_urls");
    const char *url = jstr(urls, "out.csv");
    assert_non_null(strstr(url, env("SLUICE_GRANTS_ACCESS_KEY")));
    assert_null(strstr(url, env("SLUICE_MOVER_ACCESS_KEY")));
    assert_non_null(strstr(url, "X-Amz-SignedHeaders=host%3Bif-none-match%3Bx-amz-acl"));
    assert_non_null(strstr(url, "X-Amz-Expires=600&"));
    char file[300], other[300], big[300];
    snprintf(file, sizeof(file), "%s/out.csv", tmpdir);
    snprintf(other, sizeof(other), "%s/other.csv", tmpdir);
    snprintf(big, sizeof(big), "%s/big.bin", tmpdir);
    write_file(file, "a,b\n1,2\n", 8);
    write_file(other, "hello", 5);
    char *zeros = sl_calloc(1, 2000);
    write_file(big, zeros, 2000);
    sl_free(zeros);
    assert_int_equal(put_with_url(url, file, NULL), 200);
    /* a second PUT: 412 where the server honours If-None-Match on a versioned bucket,
     * a second version on radosgw 16 (docs/tasks.md) — never an overwrite */
    int again = put_with_url(url, file, NULL);
    assert_true(again == 412 || again == 200);
    /* without the signed headers, S3 refuses */
    char out[64];
    sh(out, sizeof(out), "curl -sS -o /dev/null -w '%%{http_code}' --upload-file '%s' '%s'", file, url);
    assert_string_equal(out, "403");
    /* the mover can read what the grant wrote (bucket-owner-full-control) */
    sl_buf key = { 0 }, body = { 0 };
    assert_true(sl_ok(sl_buf_appendf(&key, "%sout.csv", prefix)));
    assert_int_equal(mover_get(f, env("SLUICE_BUCKET_STAGING"), sl_buf_cstr(&key), &body), 200);
    assert_string_equal(sl_buf_cstr(&body), "a,b\n1,2\n");

    /* a sized key: only exactly that many bytes */
    const char *sized = jstr(urls, "sized.bin");
    assert_non_null(strstr(sized, "content-length"));
    assert_int_equal(put_with_url(sized, file, NULL), 403);  /* 8 bytes, signed for 5 */
    assert_int_equal(put_with_url(sized, other, NULL), 200); /* 5 bytes */

    /* the POST policy: any name under the prefix, within the size range */
    json_t *post = json_object_get(g, "post");
    assert_non_null(post);
    assert_string_equal(jstr(post, "key_prefix"), prefix);
    assert_string_equal(jstr(json_object_get(post, "fields"), "acl"), "bucket-owner-full-control");
    sl_buf_reset(&key);
    assert_true(sl_ok(sl_buf_appendf(&key, "%sfree/form.csv", prefix)));
    char resp[256];
    int status = post_with_form(post, sl_buf_cstr(&key), file, resp, sizeof(resp));
    if (status != 204) fail_msg("POST with the grant: HTTP %d %s", status, resp);
    assert_int_equal(mover_get(f, env("SLUICE_BUCKET_STAGING"), sl_buf_cstr(&key), &body), 200);
    assert_string_equal(sl_buf_cstr(&body), "a,b\n1,2\n");
    /* outside the prefix: another task, another route */
    assert_int_equal(post_with_form(post, "reports/AAAAAAAAAAAAAAAAAAAAAA/x.csv", file, resp, sizeof(resp)), 403);
    assert_int_equal(post_with_form(post, "metrics/x.csv", file, resp, sizeof(resp)), 403);
    /* over max_bytes (1000) */
    sl_buf_reset(&key);
    assert_true(sl_ok(sl_buf_appendf(&key, "%sbig.bin", prefix)));
    status = post_with_form(post, sl_buf_cstr(&key), big, resp, sizeof(resp));
    assert_int_equal(status, 400);
    assert_non_null(strstr(resp, "EntityTooLarge"));

    delete_task_objects(f, g);
    sl_buf_clean_up(&key);
    sl_buf_clean_up(&body);
    json_decref(g);
}

/* admit() for open, closed, unknown tasks and other routes. */
static void admit_verdicts(void **state)
{
    struct fixture *f = *state;
    task_open_params p = { .route = "reports" };
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    const char *id = jstr(g, "task");
    char reason[512];
    int64_t t = now_ms();
    assert_int_equal(admit(f, "reports", id, "a.csv", 10, t, reason, sizeof(reason)), TASK_ACCEPT);
    assert_int_equal(admit(f, "metrics", id, "a.csv", 10, t, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "belongs to route reports"));
    assert_int_equal(admit(f, "reports", "ZZZZZZZZZZZZZZZZZZZZZZ", "a.csv", 10, t, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "unknown task"));
    assert_int_equal(admit(f, "reports", "not/a/task", "a.csv", 10, t, reason, sizeof(reason)), TASK_REJECT);
    assert_int_equal(admit(f, "nosuchroute", id, "a.csv", 10, t, reason, sizeof(reason)), TASK_REJECT);
    assert_int_equal(admit(f, "reports", id, "", 10, t, reason, sizeof(reason)), TASK_REJECT);
    /* over the route's max_bytes (the task's default) */
    assert_int_equal(admit(f, "reports", id, "big.bin", 1048577, t, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "max_bytes"));

    struct result c = close_task(f, id);
    assert_int_equal(c.outcome, TASK_OUTCOME_OK);
    assert_string_equal(jstr(c.json, "state"), "closed");
    const char *closed_at = jstr(c.json, "closed_at");
    int64_t closed_ms;
    assert_true(sl_time_parse(cur(closed_at), &closed_ms));
    /* uploaded before the close: still accepted; at or after it: rejected */
    assert_int_equal(admit(f, "reports", id, "late-but-ok.csv", 10, closed_ms - 1, reason, sizeof(reason)), TASK_ACCEPT);
    assert_int_equal(admit(f, "reports", id, "too-late.csv", 10, closed_ms, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "after the task was closed"));
    task_registry_stats s = task_registry_get_stats(f->reg);
    assert_int_equal(s.accepted, 2);
    assert_true(s.rejected >= 7);
    json_decref(c.json);
    json_decref(g);
}

/* Names, sizes and the count; the count survives a restart of the registry. */
static void limits_and_count_across_restart(void **state)
{
    struct fixture *f = *state;
    task_open_key keys[] = { { .name = "a.csv" }, { .name = "exact.bin", .has_size = true, .size = 7 } };
    task_open_params p = { .route = "reports", .keys = keys, .key_count = 2, .max_objects = 3, .max_bytes = 100,
                           .name_pattern = "*.json" };
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    const char *id = jstr(g, "task");
    char reason[512];
    int64_t t = now_ms() - 5;
    assert_int_equal(admit(f, "reports", id, "z.txt", 1, t, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "not allowed"));
    assert_int_equal(admit(f, "reports", id, "sub/x.json", 1, t, reason, sizeof(reason)), TASK_REJECT);
    assert_int_equal(admit(f, "reports", id, "x.json", 101, t, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "over the task's max_bytes"));
    assert_int_equal(admit(f, "reports", id, "exact.bin", 8, t, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "exactly 7"));
    uint64_t writes = task_registry_get_stats(f->reg).writes;
    assert_int_equal(admit(f, "reports", id, "a.csv", 10, t, reason, sizeof(reason)), TASK_ACCEPT);
    assert_int_equal(task_registry_get_stats(f->reg).writes, writes + 1); /* counted, written */
    /* the same object listed again: accepted, not counted twice, no write */
    assert_int_equal(admit(f, "reports", id, "a.csv", 10, t, reason, sizeof(reason)), TASK_ACCEPT);
    assert_int_equal(task_registry_get_stats(f->reg).writes, writes + 1);
    assert_int_equal(admit(f, "reports", id, "exact.bin", 7, t, reason, sizeof(reason)), TASK_ACCEPT);
    task_manifest m;
    task_manifest_of(f, id, &m);
    assert_int_equal(m.accepted_count, 2);
    task_manifest_clean_up(&m);

    /* a restart: a new registry on the same control prefix knows the count */
    task_registry_destroy(f->reg);
    f->reg = new_registry(f, f->client);
    assert_int_equal(admit(f, "reports", id, "a.csv", 10, t, reason, sizeof(reason)), TASK_ACCEPT);
    assert_int_equal(admit(f, "reports", id, "b.json", 10, t, reason, sizeof(reason)), TASK_ACCEPT);
    assert_int_equal(admit(f, "reports", id, "c.json", 10, t, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "limit of 3 objects"));
    /* a new upload under a name already admitted is a new object: over the limit too */
    assert_int_equal(admit(f, "reports", id, "a.csv", 10, t + 1, reason, sizeof(reason)), TASK_REJECT);
    task_manifest_of(f, id, &m);
    assert_int_equal(m.accepted_count, 3);
    task_manifest_clean_up(&m);
    json_decref(g);
}

/* Admits that arrive together for one task are decided together and written once. */
static void concurrent_admits_group_commit(void **state)
{
    struct fixture *f = *state;
    task_open_params p = { .route = "metrics", .max_objects = 20 };
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    const char *id = jstr(g, "task");
    enum { N = 25 };
    struct result r[N];
    memset(r, 0, sizeof(r));
    uint64_t writes = task_registry_get_stats(f->reg).writes;
    int64_t t = now_ms() - 5;
    char name[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(name[i], sizeof(name[i]), "obj-%02d.json", i);
        assert_true(sl_ok(task_registry_admit(f->reg, "metrics", id, name[i], 3, t, on_verdict, &r[i])));
    }
    for (int i = 0; i < N; i++) run_until(f, &r[i].done);
    int accepted = 0, rejected = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].calls, 1);
        if (r[i].verdict == TASK_ACCEPT) accepted++;
        else if (r[i].verdict == TASK_REJECT) rejected++;
    }
    assert_int_equal(accepted, 20);
    assert_int_equal(rejected, 5);
    uint64_t used = task_registry_get_stats(f->reg).writes - writes;
    if (used > 3) fail_msg("25 admits made %llu writes", (unsigned long long)used);
    task_manifest m;
    task_manifest_of(f, id, &m);
    assert_int_equal(m.accepted_count, 20);
    task_manifest_clean_up(&m);
    json_decref(g);
}

static void close_twice_and_unknown(void **state)
{
    struct fixture *f = *state;
    task_open_params p = { .route = "reports" };
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    const char *id = jstr(g, "task");
    struct result c = close_task(f, id);
    assert_int_equal(c.outcome, TASK_OUTCOME_OK);
    assert_string_equal(jstr(c.json, "closed_by"), "closer");
    json_decref(c.json);
    task_manifest m;
    task_manifest_of(f, id, &m);
    assert_int_equal(m.state, TASK_CLOSED);
    assert_true(m.closed);
    assert_string_equal(m.closed_by, "closer");
    task_manifest_clean_up(&m);
    assert_int_equal(count_lines_with(f->audit_path, "\"task_close\"", id), 1);

    c = close_task(f, id);
    assert_int_equal(c.outcome, TASK_OUTCOME_NOT_OPEN);
    assert_int_equal(api_error_status(task_endpoints_error(c.outcome)), 409);
    assert_non_null(strstr(c.detail, "closed already"));
    assert_null(c.json);
    assert_int_equal(count_lines_with(f->audit_path, "\"task_close\"", id), 1); /* nothing changed */

    c = close_task(f, "ZZZZZZZZZZZZZZZZZZZZZZ");
    assert_int_equal(c.outcome, TASK_OUTCOME_NOT_FOUND);
    c = close_task(f, "../etc");
    assert_int_equal(c.outcome, TASK_OUTCOME_NOT_FOUND);
    json_decref(g);
}

/* A task expires at its TTL: the timer writes it, the grants die at S3, admits after
 * the expiry are rejected, before it accepted. */
static void expiry_by_ttl(void **state)
{
    struct fixture *f = *state;
    task_open_key keys[] = { { .name = "late.csv" } };
    task_open_params p = { .route = "reports", .ttl_ms = 2000, .keys = keys, .key_count = 1 };
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    const char *id = jstr(g, "task");
    int64_t expires;
    assert_true(sl_time_parse(cur(jstr(g, "expires_at")), &expires));
    /* run the loop past the expiry: the timer writes the state */
    while (now_ms() < expires + 1500) uv_run(&f->loop, UV_RUN_NOWAIT), usleep(20000);
    task_manifest m;
    task_manifest_of(f, id, &m);
    assert_int_equal(m.state, TASK_EXPIRED);
    assert_false(m.closed);
    assert_string_equal(m.history[0].actor, "mover");
    task_manifest_clean_up(&m);
    assert_int_equal(count_lines_with(f->audit_path, "\"task_expire\"", id), 1);
    assert_true(task_registry_get_stats(f->reg).expired >= 1);
    char reason[512];
    assert_int_equal(admit(f, "reports", id, "late.csv", 1, expires - 1, reason, sizeof(reason)), TASK_ACCEPT);
    assert_int_equal(admit(f, "reports", id, "late.csv", 1, expires, reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "after the task was expired"));
    struct result c = close_task(f, id);
    assert_int_equal(c.outcome, TASK_OUTCOME_NOT_OPEN);
    assert_non_null(strstr(c.detail, "expired"));
    /* the grant is dead at S3 */
    char file[300];
    snprintf(file, sizeof(file), "%s/late.csv", tmpdir);
    write_file(file, "late\n", 5);
    assert_int_equal(put_with_url(jstr(json_object_get(g, "put_urls"), "late.csv"), file, NULL), 403);
    json_decref(g);
}

/* Lazily: a task past its expiry that no timer saw is treated (and written) as expired
 * when it is looked up. */
static void lazy_expiry_on_lookup(void **state)
{
    struct fixture *f = *state;
    task_open_params p = { .route = "reports", .ttl_ms = 1000 };
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    const char *id = jstr(g, "task");
    /* a registry that has never seen the task (not started: no start-up pass, no timer) */
    task_registry_destroy(f->reg);
    f->reg = NULL;
    usleep(1300 * 1000);
    task_registry_options o = { .client = f->client, .audit = f->audit, .grant_credentials = &f->grants };
    assert_true(sl_ok(task_registry_new(&f->loop, f->config, &o, &f->reg)));
    char reason[512];
    assert_int_equal(admit(f, "reports", id, "x.csv", 1, now_ms(), reason, sizeof(reason)), TASK_REJECT);
    assert_non_null(strstr(reason, "expired"));
    /* and the write of `expired` follows */
    int64_t deadline = now_ms() + 10000;
    task_manifest m = { 0 };
    for (;;) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        task_manifest_of(f, id, &m);
        if (m.state == TASK_EXPIRED || now_ms() > deadline) break;
        task_manifest_clean_up(&m);
        usleep(50000);
    }
    assert_int_equal(m.state, TASK_EXPIRED);
    task_manifest_clean_up(&m);
    json_decref(g);
}

/* Requests the registry refuses write nothing and audit nothing. */
static void bad_requests_change_nothing(void **state)
{
    struct fixture *f = *state;
    task_open_key bad_name[] = { { .name = "../escape" } };
    task_open_key dup[] = { { .name = "a" }, { .name = "a" } };
    task_open_key two[] = { { .name = "a" }, { .name = "b" } };
    task_open_key too_big[] = { { .name = "a", .has_size = true, .size = 2 * 1024 * 1024 } };
    static char long_name[1100];
    memset(long_name, 'n', sizeof(long_name) - 1);
    task_open_key too_long[] = { { .name = long_name } };
    struct {
        task_open_params p;
        task_outcome outcome;
        const char *detail;
    } cases[] = {
        { { .route = "nosuch" }, TASK_OUTCOME_UNKNOWN_ROUTE, "routes: reports, metrics" },
        { { .route = "" }, TASK_OUTCOME_BAD_REQUEST, "route" },
        { { .route = "reports", .ttl_ms = 2 * 3600 * 1000 }, TASK_OUTCOME_BAD_TTL, "grants.max_ttl" },
        { { .route = "reports", .ttl_ms = 999 }, TASK_OUTCOME_BAD_TTL, "1s" },
        { { .route = "metrics", .max_bytes = 65537 }, TASK_OUTCOME_BAD_REQUEST, "checks.max_bytes" },
        { { .route = "reports", .max_objects = 10001 }, TASK_OUTCOME_BAD_REQUEST, "max_objects" },
        { { .route = "reports", .keys = bad_name, .key_count = 1 }, TASK_OUTCOME_BAD_REQUEST, "keys[0]" },
        { { .route = "reports", .keys = dup, .key_count = 2 }, TASK_OUTCOME_BAD_REQUEST, "same name" },
        { { .route = "reports", .keys = two, .key_count = 2, .max_objects = 1 }, TASK_OUTCOME_BAD_REQUEST,
          "max_objects" },
        { { .route = "reports", .keys = too_big, .key_count = 1 }, TASK_OUTCOME_BAD_REQUEST, "over max_bytes" },
        { { .route = "reports", .keys = too_long, .key_count = 1 }, TASK_OUTCOME_BAD_REQUEST, "longer than" },
        { { .route = "reports", .name_pattern = "a***" }, TASK_OUTCOME_BAD_REQUEST, "name_pattern" },
        { { .route = "reports", .no_post = true }, TASK_OUTCOME_BAD_REQUEST, "could not receive" },
    };
    /* keys whose manifest could outgrow SL_TASK_MAX_JSON */
    enum { MANY = 600 };
    static char many_names[MANY][910];
    static task_open_key many[MANY];
    for (int i = 0; i < MANY; i++) {
        memset(many_names[i], 'k', 900);
        snprintf(many_names[i] + 900, 10, "%04d", i);
        many[i] = (task_open_key){ .name = many_names[i] };
    }
    task_open_params too_many = { .route = "reports", .keys = many, .key_count = MANY };
    struct result big = { 0 };
    assert_true(sl_ok(task_registry_open(f->reg, &too_many, "orch", on_open, &big)));
    run_until(f, &big.done);
    assert_int_equal(big.outcome, TASK_OUTCOME_BAD_REQUEST);
    assert_non_null(strstr(big.detail, "could grow past"));
    too_many.key_count = 100; /* 100 such keys fit */
    json_t *fits = open_task(f, &too_many, TASK_OUTCOME_CREATED, NULL);
    assert_int_equal(json_object_size(json_object_get(fits, "put_urls")), 100);
    json_decref(fits);

    size_t before = list_keys(f, env("SLUICE_BUCKET_QUARANTINE"), f->control_prefix, NULL);
    uint64_t records = audit_log_records(f->audit);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct result r = { 0 };
        assert_true(sl_ok(task_registry_open(f->reg, &cases[i].p, "orch", on_open, &r)));
        assert_false(r.done);
        run_until(f, &r.done);
        if (r.outcome != cases[i].outcome || strstr(r.detail, cases[i].detail) == NULL)
            fail_msg("case %zu: %s \"%s\", expected %s with \"%s\"", i, task_outcome_name(r.outcome), r.detail,
                     task_outcome_name(cases[i].outcome), cases[i].detail);
        assert_int_equal(api_error_status(task_endpoints_error(r.outcome)), 400);
        assert_null(r.json);
    }
    assert_int_equal(list_keys(f, env("SLUICE_BUCKET_QUARANTINE"), f->control_prefix, NULL), before);
    assert_int_equal(audit_log_records(f->audit), records);
}

static void list_tasks(void **state)
{
    struct fixture *f = *state;
    task_open_params p = { .route = "reports", .max_objects = 4 };
    json_t *a = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    p.route = "metrics";
    json_t *b = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    struct result c = close_task(f, jstr(b, "task"));
    assert_int_equal(c.outcome, TASK_OUTCOME_OK);
    json_decref(c.json);
    struct {
        task_list_filter filter;
        int expect_a, expect_b;
    } cases[] = {
        { TASK_LIST_LIVE, 1, 1 }, { TASK_LIST_OPEN, 1, 0 }, { TASK_LIST_CLOSED, 0, 1 },
        { TASK_LIST_EXPIRED, 0, 0 }, { TASK_LIST_ALL, 1, 1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct result r = { 0 };
        assert_true(sl_ok(task_registry_list(f->reg, cases[i].filter, on_list, &r)));
        run_until(f, &r.done);
        assert_int_equal(r.outcome, TASK_OUTCOME_OK);
        json_t *tasks = json_object_get(r.json, "tasks");
        int seen_a = 0, seen_b = 0;
        size_t k;
        json_t *t;
        json_array_foreach(tasks, k, t) {
            if (strcmp(jstr(t, "task"), jstr(a, "task")) == 0) {
                seen_a++;
                assert_string_equal(jstr(t, "state"), "open");
                assert_int_equal(json_integer_value(json_object_get(t, "accepted")), 0);
                assert_null(json_object_get(t, "put_urls")); /* a listing shows no grants */
            }
            if (strcmp(jstr(t, "task"), jstr(b, "task")) == 0) {
                seen_b++;
                assert_string_equal(jstr(t, "state"), "closed");
                assert_string_equal(jstr(t, "closed_by"), "closer");
            }
        }
        if (seen_a != cases[i].expect_a || seen_b != cases[i].expect_b)
            fail_msg("filter %d: saw a %d, b %d", (int)cases[i].filter, seen_a, seen_b);
        json_decref(r.json);
    }
    task_list_filter filter;
    assert_true(task_list_filter_from_name("expired", &filter));
    assert_int_equal(filter, TASK_LIST_EXPIRED);
    assert_false(task_list_filter_from_name("Open", &filter));
    json_decref(a);
    json_decref(b);
}

/* A task read once is served from memory. */
static void cache_serves_repeated_admits(void **state)
{
    struct fixture *f = *state;
    task_open_params p = { .route = "reports" };
    json_t *g = open_task(f, &p, TASK_OUTCOME_CREATED, NULL);
    /* a fresh registry has to read the task once, then not again */
    task_registry_destroy(f->reg);
    f->reg = new_registry(f, f->client);
    struct result l = { 0 };
    assert_true(sl_ok(task_registry_list(f->reg, TASK_LIST_ALL, on_list, &l))); /* let the start-up pass finish */
    run_until(f, &l.done);
    json_decref(l.json);
    uint64_t reads = task_registry_get_stats(f->reg).reads;
    char reason[512];
    for (int i = 0; i < 5; i++)
        assert_int_equal(admit(f, "reports", jstr(g, "task"), "x.csv", 1, now_ms(), reason, sizeof(reason)),
                         TASK_ACCEPT);
    assert_int_equal(task_registry_get_stats(f->reg).reads, reads);
    /* unknown ids are cached as unknown */
    assert_int_equal(admit(f, "reports", "YYYYYYYYYYYYYYYYYYYYYY", "x", 1, now_ms(), reason, sizeof(reason)),
                     TASK_REJECT);
    reads = task_registry_get_stats(f->reg).reads;
    assert_int_equal(admit(f, "reports", "YYYYYYYYYYYYYYYYYYYYYY", "x", 1, now_ms(), reason, sizeof(reason)),
                     TASK_REJECT);
    assert_int_equal(task_registry_get_stats(f->reg).reads, reads);
    json_decref(g);
}

/* S3 unreachable: admit says unavailable (the object waits), open fails cleanly. */
static void s3_unreachable(void **state)
{
    struct fixture *f = *state;
    s3_client *dead = new_client(f, "http://127.0.0.1:9");
    task_registry *reg = new_registry(f, dead);
    char reason[512];
    assert_int_equal(admit_in(f, reg, "reports", "ZZZZZZZZZZZZZZZZZZZZZZ", "x", 1, now_ms(), reason, sizeof(reason)),
                     TASK_UNAVAILABLE);
    assert_non_null(strstr(reason, "could not be read"));
    struct result r = { 0 };
    task_open_params p = { .route = "reports" };
    assert_true(sl_ok(task_registry_open(reg, &p, "orch", on_open, &r)));
    run_until(f, &r.done);
    assert_int_equal(r.outcome, TASK_OUTCOME_UNAVAILABLE);
    r = (struct result){ 0 };
    assert_true(sl_ok(task_registry_close(reg, "ZZZZZZZZZZZZZZZZZZZZZZ", "x", on_info, &r)));
    run_until(f, &r.done);
    assert_int_equal(r.outcome, TASK_OUTCOME_UNAVAILABLE);
    r = (struct result){ 0 };
    assert_true(sl_ok(task_registry_list(reg, TASK_LIST_LIVE, on_list, &r)));
    run_until(f, &r.done);
    assert_int_equal(r.outcome, TASK_OUTCOME_UNAVAILABLE);
    task_registry_destroy(reg);
    s3_client_destroy(dead);
}

/* A manifest that is not a valid task manifest rejects its objects (fail closed). */
static void corrupt_manifest_rejects(void **state)
{
    struct fixture *f = *state;
    char key[200];
    snprintf(key, sizeof(key), "%stasks/CCCCCCCCCCCCCCCCCCCCCC.json", f->control_prefix);
    assert_int_equal(mover_put(f, env("SLUICE_BUCKET_QUARANTINE"), key, "{\"schema\":1,\"id\":\"CCCCCCCCCCCCCCCCCCCCCC\"}"), 200);
    char reason[512];
    assert_int_equal(admit(f, "reports", "CCCCCCCCCCCCCCCCCCCCCC", "x", 1, now_ms(), reason, sizeof(reason)),
                     TASK_REJECT);
    assert_non_null(strstr(reason, "invalid"));
    struct result c = close_task(f, "CCCCCCCCCCCCCCCCCCCCCC");
    assert_int_equal(c.outcome, TASK_OUTCOME_INTERNAL);
}

/* Destroy answers everything pending, once, before it returns. */
static void destroy_answers_pending(void **state)
{
    struct fixture *f = *state;
    struct result a = { 0 }, b = { 0 }, o = { 0 };
    assert_true(sl_ok(task_registry_admit(f->reg, "reports", "DDDDDDDDDDDDDDDDDDDDDD", "x", 1, now_ms(), on_verdict, &a)));
    assert_true(sl_ok(task_registry_admit(f->reg, "nosuch", "DDDDDDDDDDDDDDDDDDDDDD", "x", 1, now_ms(), on_verdict, &b)));
    task_open_params p = { .route = "reports" };
    assert_true(sl_ok(task_registry_open(f->reg, &p, "orch", on_open, &o)));
    uv_run(&f->loop, UV_RUN_NOWAIT); /* requests go out */
    task_registry_destroy(f->reg);
    f->reg = NULL;
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(o.calls, 1);
    assert_int_equal(b.verdict, TASK_REJECT); /* decided before the destroy */
    /* nothing runs again while the requests in flight come back */
    for (int i = 0; i < 100; i++) uv_run(&f->loop, UV_RUN_NOWAIT), usleep(2000);
    assert_int_equal(a.calls, 1);
    assert_int_equal(o.calls, 1);
    json_decref(o.json);
    f->reg = new_registry(f, f->client); /* for teardown */
}

static void mover_key_refused_as_grant_identity(void **state)
{
    struct fixture *f = *state;
    task_registry_options o = { .client = f->client, .audit = f->audit, .grant_credentials = &f->mover,
                                .mover_access_key_id = f->mover.access_key_id };
    task_registry *r = NULL;
    assert_true(sl_failed(task_registry_new(&f->loop, f->config, &o, &r)));
    assert_non_null(strstr(sl_error_detail(), "mover's own key"));
    assert_null(r);
    o.grant_credentials = NULL; /* no grant identity: admits work, opening does not */
    assert_true(sl_ok(task_registry_new(&f->loop, f->config, &o, &r)));
    struct result res = { 0 };
    task_open_params p = { .route = "reports" };
    assert_true(sl_ok(task_registry_open(r, &p, "orch", on_open, &res)));
    run_until(f, &res.done);
    assert_int_equal(res.outcome, TASK_OUTCOME_UNAVAILABLE);
    assert_non_null(strstr(res.detail, "grants.credentials"));
    task_registry_destroy(r);
    o.grant_credentials = &f->grants;
    o.grant_endpoint = "ftp://x";
    assert_true(sl_failed(task_registry_new(&f->loop, f->config, &o, &r)));
}

/* ---- the API endpoints, end to end: a real API server on a loop thread ---- */

struct api_fixture {
    struct fixture *f;
    api_server *server;
    uv_async_t stop, job;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool job_done;
    char socket[300];
};

static void on_stop(uv_async_t *a)
{
    struct api_fixture *af = a->data;
    api_server_close(af->server);
    uv_close((uv_handle_t *)&af->stop, NULL);
    uv_close((uv_handle_t *)&af->job, NULL);
    uv_stop(&af->f->loop); /* the registry's expiry timer may be armed */
}

/* Runs on the loop thread: nobody is an orchestrator any more. */
static void on_job(uv_async_t *a)
{
    struct api_fixture *af = a->data;
    api_server_set_roles(af->server, NULL, 0, NULL, 0);
    pthread_mutex_lock(&af->mu);
    af->job_done = true;
    pthread_cond_broadcast(&af->cv);
    pthread_mutex_unlock(&af->mu);
}

static void *loop_thread(void *arg)
{
    struct api_fixture *af = arg;
    uv_run(&af->f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static long call(struct api_fixture *af, const char *method, const char *path, const char *body, json_t **out)
{
    long status = 0;
    char err[512];
    json_t *json = NULL;
    if (sl_failed(api_call(af->socket, method, path, body, &status, &json, err, sizeof(err))))
        fail_msg("api_call %s %s: %s", method, path, err);
    if (out) *out = json;
    else json_decref(json);
    return status;
}

static api_route routes[TASK_ENDPOINT_COUNT];

/* A real API server with the task routes, on the fixture's loop in a thread. */
static void api_start(struct fixture *f, struct api_fixture *af)
{
    *af = (struct api_fixture){ .f = f };
    snprintf(af->socket, sizeof(af->socket), "%s/api-%d.sock", tmpdir, counter);
    assert_int_equal(task_endpoints(f->reg, routes, TASK_ENDPOINT_COUNT), TASK_ENDPOINT_COUNT);
    assert_int_equal(task_endpoints(f->reg, routes, 1), TASK_ENDPOINT_COUNT); /* writes only one */
    struct passwd *pw = getpwuid(getuid());
    static const char *orchestrators[1];
    orchestrators[0] = pw->pw_name;
    api_options o = { .socket_path = af->socket, .socket_mode = 0600, .orchestrators = orchestrators,
                      .orchestrator_count = 1 };
    assert_true(sl_ok(api_server_new(&f->loop, &o, routes, TASK_ENDPOINT_COUNT, &af->server)));
    uv_async_init(&f->loop, &af->stop, on_stop);
    uv_async_init(&f->loop, &af->job, on_job);
    af->stop.data = af->job.data = af;
    pthread_mutex_init(&af->mu, NULL);
    pthread_cond_init(&af->cv, NULL);
    assert_int_equal(pthread_create(&af->thread, NULL, loop_thread, af), 0);
}

static void api_stop(struct api_fixture *af)
{
    uv_async_send(&af->stop);
    pthread_join(af->thread, NULL);
    pthread_mutex_destroy(&af->mu);
    pthread_cond_destroy(&af->cv);
}

static void api_endpoints(void **state)
{
    struct fixture *f = *state;
    struct api_fixture af;
    api_start(f, &af);
    struct passwd *pw = getpwuid(getuid());

    json_t *j = NULL;
    assert_int_equal(call(&af, "POST", "/v1/tasks",
                          "{\"route\":\"reports\",\"ttl\":\"30m\",\"keys\":[\"out.csv\",{\"name\":\"p.png\",\"size\":\"2KiB\"}],"
                          "\"max_objects\":10,\"max_bytes\":\"10KiB\",\"name_pattern\":\"*.json\"}",
                          &j),
                     201);
    const char *id = jstr(j, "task");
    char path[128], task_id[64];
    snprintf(task_id, sizeof(task_id), "%s", id);
    assert_string_equal(jstr(j, "opened_by"), pw->pw_name);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "limits"), "max_bytes")), 10240);
    assert_non_null(json_object_get(json_object_get(j, "put_urls"), "out.csv"));
    assert_non_null(strstr(jstr(json_object_get(j, "put_urls"), "p.png"), "content-length"));
    assert_non_null(json_object_get(j, "post"));
    json_decref(j);

    assert_int_equal(call(&af, "POST", "/v1/tasks", "{\"route\":\"nosuch\"}", &j), 400);
    assert_string_equal(jstr(j, "error"), "unknown_route");
    assert_non_null(strstr(jstr(j, "detail"), "routes: reports, metrics"));
    json_decref(j);
    assert_int_equal(call(&af, "POST", "/v1/tasks", "{\"route\":\"reports\",\"ttl\":\"5h\"}", &j), 400);
    assert_string_equal(jstr(j, "error"), "invalid_ttl");
    json_decref(j);
    assert_int_equal(call(&af, "POST", "/v1/tasks", "{\"route\":\"reports\",\"ttl\":\"soon\"}", &j), 400);
    assert_string_equal(jstr(j, "error"), "invalid_ttl");
    json_decref(j);
    const char *bad_bodies[] = { "{\"route\":\"reports\",\"colour\":\"red\"}", "{\"route\":7}",
                                 "{\"route\":\"reports\",\"keys\":\"out.csv\"}",
                                 "{\"route\":\"reports\",\"keys\":[{\"name\":\"a\",\"mode\":1}]}",
                                 "{\"route\":\"reports\",\"max_objects\":0}", "{\"route\":\"reports\",\"post\":\"no\"}",
                                 "{\"route\":\"reports\",\"max_bytes\":\"lots\"}" };
    for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
        assert_int_equal(call(&af, "POST", "/v1/tasks", bad_bodies[i], &j), 400);
        assert_string_equal(jstr(j, "error"), "invalid_request");
        json_decref(j);
    }
    assert_int_equal(call(&af, "POST", "/v1/tasks", "{\"route\":", &j), 400); /* the server: bad JSON */
    json_decref(j);

    assert_int_equal(call(&af, "GET", "/v1/tasks", NULL, &j), 200);
    bool found = false;
    size_t k;
    json_t *t;
    json_array_foreach(json_object_get(j, "tasks"), k, t) found = found || strcmp(jstr(t, "task"), task_id) == 0;
    assert_true(found);
    json_decref(j);
    assert_int_equal(call(&af, "GET", "/v1/tasks?state=bogus", NULL, &j), 400);
    json_decref(j);

    snprintf(path, sizeof(path), "/v1/tasks/%s/close", task_id);
    assert_int_equal(call(&af, "POST", path, "{\"why\":1}", &j), 400);
    json_decref(j);
    assert_int_equal(call(&af, "POST", path, NULL, &j), 200);
    assert_string_equal(jstr(j, "state"), "closed");
    json_decref(j);
    assert_int_equal(call(&af, "POST", path, NULL, &j), 409);
    assert_string_equal(jstr(j, "error"), "task_not_open");
    json_decref(j);
    assert_int_equal(call(&af, "POST", "/v1/tasks/ZZZZZZZZZZZZZZZZZZZZZZ/close", NULL, &j), 404);
    assert_string_equal(jstr(j, "error"), "unknown_task");
    json_decref(j);
    assert_int_equal(call(&af, "GET", "/v1/tasks?state=closed", NULL, &j), 200);
    assert_true(json_array_size(json_object_get(j, "tasks")) >= 1);
    json_decref(j);

    /* not an orchestrator: 403 from the server */
    pthread_mutex_lock(&af.mu);
    uv_async_send(&af.job);
    while (!af.job_done) pthread_cond_wait(&af.cv, &af.mu);
    pthread_mutex_unlock(&af.mu);
    assert_int_equal(call(&af, "GET", "/v1/tasks", NULL, &j), 403);
    assert_string_equal(jstr(j, "error"), "forbidden");
    json_decref(j);
    assert_int_equal(call(&af, "POST", "/v1/tasks", "{\"route\":\"reports\"}", &j), 403);
    json_decref(j);
    api_stop(&af);
}

/* The line of `text` that contains `needle` (copied into out), or fails. */
static void line_with(const char *text, const char *needle, char *out, size_t len)
{
    const char *at = strstr(text, needle);
    if (at == NULL) fail_msg("no line with \"%s\" in:\n%s", needle, text);
    const char *start = at, *end = strchr(at, '\n');
    while (start > text && start[-1] != '\n') start--;
    size_t n = end ? (size_t)(end - start) : strlen(start);
    assert_true(n < len);
    memcpy(out, start, n);
    out[n] = '\0';
}

/* sluice-review task open|close|list against the API; the curl lines it prints for
 * people run as they are and upload. */
static void cli_end_to_end(void **state)
{
    /* While the API thread runs the loop, this thread only talks to the socket and S3
     * through other processes (sluice-review, curl); the loop is used here again only
     * after api_stop. */
    struct fixture *f = *state;
    struct api_fixture af;
    api_start(f, &af);
    static char out[65536], line[16384], cmd[20000];
    int rc = sh(out, sizeof(out), "'%s' task open --route reports --ttl 20m --key out.csv --max-objects 5 "
                                  "--max-bytes 1KiB --socket '%s'", SLUICE_REVIEW_BIN, af.socket);
    if (rc != 0) fail_msg("task open: exit %d: %s", rc, out);
    if (getenv("SLUICE_TEST_VERBOSE")) fprintf(stderr, "%s\n", out);
    char id[64] = { 0 };
    assert_int_equal(sscanf(out, "Task %22s is open on route reports.", id), 1);
    assert_int_equal(strlen(id), SL_TASK_ID_LEN);
    assert_non_null(strstr(out, "at most 5 objects, each at most 1024 bytes"));
    assert_non_null(strstr(out, "sluice-review task close"));

    /* the PUT line, run as printed, in a folder that has out.csv */
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/cli", tmpdir);
    mkdir(dir, 0700);
    char path[300];
    snprintf(path, sizeof(path), "%s/out.csv", dir);
    write_file(path, "x,y\n", 4);
    line_with(out, "--upload-file 'out.csv'", line, sizeof(line));
    assert_non_null(strstr(line, "curl -sS --fail -X PUT -H 'If-None-Match: *' -H 'x-amz-acl: bucket-owner-full-control'"));
    snprintf(cmd, sizeof(cmd), "cd '%s' && %s -o /dev/null", dir, line);
    assert_int_equal(system(cmd), 0);
    /* A second PUT of the key: 412 where the server honours If-None-Match on a versioned
     * bucket; radosgw 16 keeps it as a second version instead (never an overwrite). */
    snprintf(cmd, sizeof(cmd), "cd '%s' && %s -o /dev/null 2>/dev/null", dir, line);
    if (system(cmd) == -1) fail_msg("could not run: %s", cmd);

    /* the POST line, with FILE replaced */
    line_with(out, "-F 'file=@FILE'", line, sizeof(line));
    char *at = strstr(line, "@FILE");
    char post[16384];
    snprintf(post, sizeof(post), "%.*s@free.json%s", (int)(at - line), line, at + strlen("@FILE"));
    snprintf(path, sizeof(path), "%s/free.json", dir);
    write_file(path, "{}", 2);
    snprintf(cmd, sizeof(cmd), "cd '%s' && %s -o /dev/null", dir, post);
    if (system(cmd) != 0) fail_msg("the POST line failed: %s", post);
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "reports/%s/", id);

    /* --json for programs */
    rc = sh(out, sizeof(out), "'%s' task open --route metrics --sized-key 2KiB:a.bin --no-post --json --socket '%s'",
            SLUICE_REVIEW_BIN, af.socket);
    assert_int_equal(rc, 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_null(json_object_get(j, "post"));
    assert_non_null(strstr(jstr(json_object_get(j, "put_urls"), "a.bin"), "content-length"));
    char other[64];
    snprintf(other, sizeof(other), "%s", jstr(j, "task"));
    json_decref(j);

    rc = sh(out, sizeof(out), "'%s' task list --socket '%s'", SLUICE_REVIEW_BIN, af.socket);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "TASK"));
    line_with(out, id, line, sizeof(line));
    assert_non_null(strstr(line, "reports"));
    assert_non_null(strstr(line, "open"));
    assert_non_null(strstr(line, "0/5"));
    assert_non_null(strstr(out, other));

    rc = sh(out, sizeof(out), "'%s' task close %s --socket '%s'", SLUICE_REVIEW_BIN, id, af.socket);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "is closed"));
    rc = sh(out, sizeof(out), "'%s' task close %s --socket '%s' 2>&1", SLUICE_REVIEW_BIN, id, af.socket);
    assert_int_equal(WEXITSTATUS(rc), 1);
    assert_non_null(strstr(out, "409"));
    rc = sh(out, sizeof(out), "'%s' task list --state closed --json --socket '%s'", SLUICE_REVIEW_BIN, af.socket);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, id));
    assert_null(strstr(out, other));
    rc = sh(out, sizeof(out), "'%s' task open --route nosuch --socket '%s' 2>&1", SLUICE_REVIEW_BIN, af.socket);
    assert_int_equal(WEXITSTATUS(rc), 1);
    assert_non_null(strstr(out, "unknown_route"));
    assert_non_null(strstr(out, "routes: reports, metrics"));
    api_stop(&af); /* the loop is this thread's again */
    /* both uploads are in staging, under the task's prefix */
    assert_int_equal(list_keys(f, env("SLUICE_BUCKET_STAGING"), prefix, NULL), 2);
    delete_prefix(f, env("SLUICE_BUCKET_STAGING"), prefix);
}

/* ---- serve mode ---- */

struct server {
    struct fixture f;
    api_server *api;
    uv_signal_t term, intr;
};

static void serve_stop(uv_signal_t *sig, int signum)
{
    (void)signum;
    struct server *s = sig->data;
    api_server_close(s->api);
    task_registry_destroy(s->f.reg);
    audit_log_close(s->f.audit);
    s3_client_destroy(s->f.client);
    uv_close((uv_handle_t *)&s->term, NULL);
    uv_close((uv_handle_t *)&s->intr, NULL);
}

static int serve(const char *socket_path, const char *control_prefix)
{
    struct server *s = sl_calloc(1, sizeof(*s));
    struct fixture *f = &s->f;
    uv_loop_init(&f->loop);
    g_loop = &f->loop;
    if (sl_failed(s3_credentials_init(&f->mover, env("SLUICE_MOVER_ACCESS_KEY"), env("SLUICE_MOVER_SECRET_KEY"), NULL)) ||
        sl_failed(s3_credentials_init(&f->grants, env("SLUICE_GRANTS_ACCESS_KEY"), env("SLUICE_GRANTS_SECRET_KEY"), NULL)))
        return 1;
    snprintf(f->control_prefix, sizeof(f->control_prefix), "%s", control_prefix);
    snprintf(f->audit_path, sizeof(f->audit_path), "%s/audit.jsonl", tmpdir);
    f->config = load_config(f->control_prefix, env("SLUICE_S3_ENDPOINT"));
    f->client = new_client(f, env("SLUICE_S3_ENDPOINT"));
    if (sl_failed(audit_log_open(&f->loop, f->audit_path, 0, &f->audit))) {
        fprintf(stderr, "serve: audit log: %s\n", sl_error_detail());
        return 1;
    }
    f->reg = new_registry(f, f->client);
    api_route r[TASK_ENDPOINT_COUNT];
    task_endpoints(f->reg, r, TASK_ENDPOINT_COUNT);
    struct passwd *pw = getpwuid(getuid());
    const char *orchestrators[] = { pw ? pw->pw_name : "root" };
    api_options o = { .socket_path = socket_path, .socket_mode = 0600, .orchestrators = orchestrators,
                      .orchestrator_count = 1 };
    if (sl_failed(api_server_new(&f->loop, &o, r, TASK_ENDPOINT_COUNT, &s->api))) {
        fprintf(stderr, "serve: %s\n", sl_error_detail());
        return 1;
    }
    uv_signal_init(&f->loop, &s->term);
    uv_signal_init(&f->loop, &s->intr);
    s->term.data = s->intr.data = s;
    uv_signal_start(&s->term, serve_stop, SIGTERM);
    uv_signal_start(&s->intr, serve_stop, SIGINT);
    printf("ready\n");
    fflush(stdout);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&f->loop) == 0 ? 0 : 1;
    sl_config_free(f->config);
    s3_credentials_clean_up(&f->mover);
    s3_credentials_clean_up(&f->grants);
    sl_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    env("SLUICE_S3_ENDPOINT");
    if (argc == 4 && strcmp(argv[1], "serve") == 0) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-task-serve-%d", (int)getpid());
        mkdir(tmpdir, 0700);
        int rc = serve(argv[2], argv[3]);
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
        return rc;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [serve SOCKET CONTROL_PREFIX]\n", argv[0]);
        return 2;
    }
    snprintf(run_id, sizeof(run_id), "%ld-%d", (long)time(NULL), (int)getpid());
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-task-registry-%s", run_id);
    mkdir(tmpdir, 0700);
    ensure_grants_policy();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_writes_manifest_and_grants_work, setup, teardown),
        cmocka_unit_test_setup_teardown(admit_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(limits_and_count_across_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_admits_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(close_twice_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(expiry_by_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(lazy_expiry_on_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_requests_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(list_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_serves_repeated_admits, setup, teardown),
        cmocka_unit_test_setup_teardown(s3_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_manifest_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(destroy_answers_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(mover_key_refused_as_grant_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(api_endpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_end_to_end, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    remove_grants_policy();
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
