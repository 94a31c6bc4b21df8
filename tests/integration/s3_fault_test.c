/*
 * s3_fault_test.c — the S3 client (mover/s3/client.c) against the real local radosgw
 * through a proxy that misbehaves on cue: idempotent calls succeed within their retry
 * budget, the budget is respected, a stream cut short is an error and never a complete
 * object, answers that say "do not try again" are not retried, and nothing leaks.
 *
 * How the parts fit: the group setup starts tests/integration/fault_proxy.py (the
 * interpreter and script paths are compile definitions) with a schedule file in a
 * fresh temporary folder, reads "PORT n" from its stdout, and the group teardown
 * deletes every object under this run's unique key prefix and stops the proxy with
 * SIGTERM (the proxy also exits by itself when this process dies). Each test writes
 * the proxy's schedule ("reset", "slowdown", "delay MS", "cut N", "pass": one action
 * per accepted connection, then pass) and makes a fresh client towards the proxy for
 * each scenario, so connection N of the schedule is the client's Nth connection; the
 * proxy's status file says how many connections it accepted, which the tests compare
 * with the attempts the client reports. A second client talks to radosgw directly, to
 * prepare objects and to check the effect of each call. Every test owns one libuv
 * loop; its teardown destroys the clients, runs the loop until every handle is closed
 * and requires uv_loop_close to succeed, so ASan and valgrind see any leak.
 *
 * The scenarios (client: retry base 10 ms, cap 200 ms, 4 attempts; first byte 500 ms):
 *   reset, reset, pass          PUT, HEAD, GET, LIST, DELETE each succeed, attempts 3
 *   slowdown, slowdown, pass    the same, with radosgw's answer reported
 *   delay 2000, pass            first attempt times out after 500 ms, attempts 2
 *   reset x 10 / slowdown x 10  SL_ERR_CONNECTION / SL_ERR_S3 SlowDown 503, attempts 4
 *   cut 200000 / cut 1000       a GET cut inside its body: an error, never SL_OK
 *   cut 0 / cut 17 / cut 100    an answer lost, or cut inside its head: retried, attempts 2
 *   wrong secret, missing key   refused at once, attempts 1
 *   destroy during a fault      one SL_ERR_CANCELLED callback before destroy returns
 *
 * Needs the local S3 server's environment (eval "$(scripts/s3-server.sh env)"):
 * SLUICE_S3_ENDPOINT, SLUICE_S3_REGION, SLUICE_BUCKET_QUARANTINE,
 * SLUICE_MOVER_ACCESS_KEY and SLUICE_MOVER_SECRET_KEY.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>
#include <uv.h>

#include "s3/client.h"
#include "util/alloc.h"
#include "util/buf.h"

#ifndef SLUICE_FAULT_PROXY
#error "SLUICE_FAULT_PROXY (path of fault_proxy.py) must be defined by the build"
#endif
#ifndef SLUICE_FAULT_PYTHON
#define SLUICE_FAULT_PYTHON "/usr/bin/python3"
#endif

#define MIB ((size_t)1024 * 1024)
#define BIG_SIZE MIB               /* the object whose GET is cut */
#define SMALL_SIZE ((size_t)3000)  /* objects of the other scenarios */
#define OP_TIMEOUT_MS 30000        /* no single operation may take longer */
#define FIRST_BYTE_TIMEOUT_MS 500
#define MAX_ATTEMPTS 4
#define MAX_CLIENTS 8

/* ---- the run: environment, proxy, key prefix (group state) ---- */

struct suite {
    const char *endpoint, *region, *bucket, *access_key, *secret_key;
    char upstream[300];    /* host:port of the endpoint, for the proxy */
    char proxy_endpoint[64];
    char prefix[96];       /* fault-test/<unique>/ */
    char dir[64];          /* temporary folder with the schedule and status files */
    char schedule_path[128], status_path[128];
    pid_t proxy_pid;
    unsigned generation;
    sl_buf big;            /* BIG_SIZE bytes, stored once under big_key */
    char big_key[160];
};

static struct suite S;

/* Deterministic, incompressible test bytes (xorshift64*). */
static void fill_bytes(sl_buf *out, size_t len, uint64_t seed)
{
    sl_buf_reset(out);
    assert_true(sl_ok(sl_buf_reserve(out, len)));
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out->data[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
    out->len = len;
    out->data[len] = 0;
}

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }

static void key_for(char *out, size_t size, const char *name)
{
    int n = snprintf(out, size, "%s%s", S.prefix, name);
    assert_true(n > 0 && (size_t)n < size);
}

/* ---- the proxy process ---- */

/* Writes the schedule atomically; a new generation line makes the proxy restart from
 * the first action even when the actions are the same as last time. */
static void set_schedule(const char *actions)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", S.schedule_path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    S.generation++;
    fprintf(f, "# generation g%u\n%s", S.generation, actions);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, S.schedule_path), 0);
}

/* "reset" repeated `count` times, one per line, into buf. */
static const char *repeat(char *buf, size_t size, const char *action, unsigned count)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < count; i++) {
        size_t used = strlen(buf);
        assert_true(used + strlen(action) + 2 < size);
        snprintf(buf + used, size - used, "%s\n", action);
    }
    return buf;
}

struct proxy_status {
    unsigned accepted, consumed, errors;
};

/* The proxy's counters for the current schedule; fails the test when the proxy has
 * not seen this schedule yet (no connection since it was written). */
static struct proxy_status proxy_status(void)
{
    struct proxy_status st = { 0 };
    char generation[32] = "";
    unsigned active = 0;
    FILE *f = fopen(S.status_path, "r");
    assert_non_null(f);
    int n = fscanf(f, "generation=%31s accepted=%u consumed=%u errors=%u active=%u", generation, &st.accepted,
                   &st.consumed, &st.errors, &active);
    fclose(f);
    assert_int_equal(n, 5);
    char expected[32];
    snprintf(expected, sizeof(expected), "g%u", S.generation);
    if (strcmp(generation, expected) != 0)
        fail_msg("the proxy has not read schedule %s (its status is for %s): no connection was made", expected,
                 generation);
    assert_int_equal(st.errors, 0);
    return st;
}

static void expect_connections(unsigned accepted)
{
    struct proxy_status st = proxy_status();
    if (st.accepted != accepted)
        fail_msg("the proxy accepted %u connections for this schedule, expected %u", st.accepted, accepted);
}

static bool parse_upstream(const char *endpoint, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, endpoint, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        int n = snprintf(out, size, "%s:%s", host, port);
        ok = n > 0 && (size_t)n < size;
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static int start_proxy(void)
{
    snprintf(S.dir, sizeof(S.dir), "/tmp/sluice-fault-XXXXXX");
    if (mkdtemp(S.dir) == NULL) {
        fprintf(stderr, "s3-fault-test: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(S.schedule_path, sizeof(S.schedule_path), "%s/schedule", S.dir);
    snprintf(S.status_path, sizeof(S.status_path), "%s/status", S.dir);
    set_schedule("");

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return -1;
    char *const argv[] = {
        (char *)SLUICE_FAULT_PYTHON, (char *)SLUICE_FAULT_PROXY, "--port", "0", "--upstream", S.upstream,
        "--schedule", S.schedule_path, "--status", S.status_path, "--lifetime", "900", NULL,
    };
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pid == 0) { /* only async-signal-safe calls until exec */
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    S.proxy_pid = pid;

    /* "PORT <n>\n" within 10 s */
    char line[64] = "";
    size_t len = 0;
    uint64_t deadline = uv_hrtime() / 1000000 + 10000;
    while (memchr(line, '\n', len) == NULL && len < sizeof(line) - 1) {
        int64_t left = (int64_t)(deadline - uv_hrtime() / 1000000);
        struct pollfd p = { .fd = out[0], .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
        ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        line[len] = '\0';
    }
    close(out[0]);
    int port = 0;
    if (sscanf(line, "PORT %d", &port) != 1 || port <= 0 || port > 65535) {
        fprintf(stderr, "s3-fault-test: %s %s did not report its port (got \"%s\")\n", SLUICE_FAULT_PYTHON,
                SLUICE_FAULT_PROXY, line);
        return -1;
    }
    snprintf(S.proxy_endpoint, sizeof(S.proxy_endpoint), "http://127.0.0.1:%d", port);
    return 0;
}

/* SIGTERM, then up to 5 s for a clean exit (status 0), else SIGKILL. */
static int stop_proxy(void)
{
    int rc = 0;
    if (S.proxy_pid > 0) {
        kill(S.proxy_pid, SIGTERM);
        int status = 0;
        pid_t got = 0;
        for (int i = 0; i < 100 && (got = waitpid(S.proxy_pid, &status, WNOHANG)) == 0; i++) usleep(50000);
        if (got == 0) {
            fprintf(stderr, "s3-fault-test: the proxy ignored SIGTERM; killing it\n");
            kill(S.proxy_pid, SIGKILL);
            waitpid(S.proxy_pid, &status, 0);
            rc = -1;
        } else if (got < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "s3-fault-test: the proxy did not exit cleanly (status 0x%x)\n", status);
            rc = -1;
        }
        S.proxy_pid = 0;
    }
    if (S.dir[0]) {
        char tmp[160];
        snprintf(tmp, sizeof(tmp), "%s.tmp", S.schedule_path);
        unlink(tmp);
        unlink(S.schedule_path);
        unlink(S.status_path);
        rmdir(S.dir);
        S.dir[0] = '\0';
    }
    return rc;
}

/* ---- one operation's outcome ---- */

struct outcome {
    unsigned calls;          /* completion callbacks: must end as 1 */
    sl_error error;
    long status;
    s3_error_code code;
    unsigned attempts;
    char code_text[64], message[256], request_id[128], detail[1024];
    bool null_string;        /* a result string was NULL (the contract says never) */
    char etag[128];
    uint64_t size;
    bool has_size;
    /* GetObject */
    unsigned header_calls;
    bool chunk_before_headers;
    sl_buf body;
    /* ListObjectsV2 */
    const char *find_key;
    bool found_key;
    size_t listed;
    char **keys;             /* when collecting (cleanup), sl_strdup'ed */
    size_t key_count;
    bool collect;
};

static void copy_text(char *out, size_t size, const char *s, bool *null_seen)
{
    if (s == NULL) {
        *null_seen = true;
        s = "";
    }
    snprintf(out, size, "%s", s);
}

/* The loop wait_for is running: completion callbacks stop it (see wait_for). */
static uv_loop_t *running_loop;

static void record(struct outcome *o, const s3_result *r)
{
    if (running_loop) uv_stop(running_loop);
    o->calls++;
    o->error = r->error;
    o->status = r->status;
    o->code = r->code;
    o->attempts = r->attempts;
    copy_text(o->code_text, sizeof(o->code_text), r->code_text, &o->null_string);
    copy_text(o->message, sizeof(o->message), r->message, &o->null_string);
    copy_text(o->request_id, sizeof(o->request_id), r->request_id, &o->null_string);
    copy_text(o->detail, sizeof(o->detail), r->detail, &o->null_string);
}

static void on_object(void *user, const s3_result *r, const s3_object_info *info)
{
    struct outcome *o = user;
    record(o, r);
    if (info != NULL) {
        size_t n = info->etag.len < sizeof(o->etag) - 1 ? info->etag.len : sizeof(o->etag) - 1;
        if (n) memcpy(o->etag, info->etag.ptr, n);
        o->etag[n] = '\0';
        o->size = info->size;
        o->has_size = info->has_size;
    }
}

static void on_done(void *user, const s3_result *r) { record(user, r); }

static void on_list(void *user, const s3_result *r, const s3_list_result *list)
{
    struct outcome *o = user;
    record(o, r);
    if (list == NULL) return;
    o->listed = list->object_count;
    for (size_t i = 0; i < list->object_count; i++) {
        const char *key = sl_buf_cstr(&list->objects[i].key);
        if (o->find_key && strcmp(key, o->find_key) == 0) o->found_key = true;
        if (o->collect) {
            o->keys = sl_realloc(o->keys, (o->key_count + 1) * sizeof(*o->keys));
            o->keys[o->key_count++] = sl_strdup(key);
        }
    }
}

/* DeleteObjects (cleanup): `listed` counts the keys S3 could not delete. */
static void on_delete_objects(void *user, const s3_result *r, const s3_delete_result *deleted)
{
    struct outcome *o = user;
    record(o, r);
    if (deleted != NULL) o->listed = deleted->error_count;
}

static void on_get_headers(void *user, const s3_object_info *info)
{
    struct outcome *o = user;
    (void)info;
    o->header_calls++;
}

static s3_http_body_action on_chunk(void *user, const uint8_t *data, size_t len)
{
    struct outcome *o = user;
    if (o->header_calls == 0) o->chunk_before_headers = true;
    if (o->body.len + len > 2 * BIG_SIZE || sl_failed(sl_buf_append(&o->body, data, len))) return S3_HTTP_BODY_ABORT;
    return S3_HTTP_BODY_CONSUMED;
}

static void outcome_clean_up(struct outcome *o)
{
    sl_buf_clean_up(&o->body);
    for (size_t i = 0; i < o->key_count; i++) sl_free(o->keys[i]);
    sl_free(o->keys);
    memset(o, 0, sizeof(*o));
}

/* ---- per-test fixture: a loop, the direct client, the clients through the proxy ---- */

struct fixture {
    uv_loop_t loop;
    s3_client *direct;
    s3_client *clients[MAX_CLIENTS];
    uv_timer_t deadline;
    bool expired;
};

/* The retry policy of the scenarios: small waits, a budget of MAX_ATTEMPTS tries. */
static const s3_retry_policy small_retry = { .max_attempts = MAX_ATTEMPTS, .base_ms = 10, .cap_ms = 200 };

static s3_client *client_new(struct fixture *f, const char *endpoint, const char *secret, long first_byte_ms,
                             const s3_retry_policy *retry)
{
    s3_credentials creds = { 0 };
    assert_true(sl_ok(s3_credentials_init(&creds, S.access_key, secret, NULL)));
    s3_client_config config = {
        .endpoint = endpoint,
        .region = S.region,
        .addressing = S3_ADDRESSING_PATH,
        .credentials = &creds,
        .http = s3_http_options_default(),
        .retry = *retry,
    };
    config.http.first_byte_timeout_ms = first_byte_ms;
    config.http.connect_timeout_ms = 2000;
    s3_client *c = NULL;
    sl_result r = s3_client_new(&f->loop, &config, &c);
    s3_credentials_clean_up(&creds);
    assert_true(sl_ok(r));
    return c;
}

/* A fresh client towards the proxy: its first connection is the schedule's next one. */
static s3_client *proxy_client_with(struct fixture *f, const char *secret, long first_byte_ms,
                                    const s3_retry_policy *retry)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (f->clients[i] == NULL) {
            f->clients[i] = client_new(f, S.proxy_endpoint, secret, first_byte_ms, retry);
            return f->clients[i];
        }
    }
    fail_msg("more than %d proxy clients at once", MAX_CLIENTS);
    return NULL;
}

/* The scenarios' client: the mover's keys, first-byte timeout 500 ms, small_retry. */
static s3_client *proxy_client(struct fixture *f)
{
    return proxy_client_with(f, S.secret_key, FIRST_BYTE_TIMEOUT_MS, &small_retry);
}

/* Destroys a proxy client; its handles close while the loop runs on. */
static void client_drop(struct fixture *f, s3_client *c)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (f->clients[i] == c) {
            s3_client_destroy(c);
            f->clients[i] = NULL;
            return;
        }
    }
    fail_msg("client_drop: unknown client");
}

static void on_deadline(uv_timer_t *t)
{
    struct fixture *f = t->data;
    f->expired = true;
    uv_stop(&f->loop);
}

/* Runs the loop until the operation completed (or fails the test after OP_TIMEOUT_MS).
 * Completion callbacks call uv_stop: an operation can complete inside a timer callback
 * (curl sends and reads a fast answer in one go), and uv_run(UV_RUN_ONCE) would then
 * still block in its poll phase until the next timer is due; a stopped loop polls with
 * timeout 0 and returns. */
static void wait_for(struct fixture *f, struct outcome *o)
{
    f->expired = false;
    running_loop = &f->loop;
    uv_timer_start(&f->deadline, on_deadline, OP_TIMEOUT_MS, 0);
    while (o->calls == 0 && !f->expired) uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&f->deadline);
    if (o->calls == 0) {
        /* cancel it now, while `o` (on the caller's stack) is still alive */
        running_loop = NULL;
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            s3_client_destroy(f->clients[i]);
            f->clients[i] = NULL;
        }
        s3_client_destroy(f->direct);
        f->direct = NULL;
        fail_msg("the operation did not complete within %d ms", OP_TIMEOUT_MS);
    }
    /* one more turn: a second completion callback would show here */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    running_loop = NULL;
    assert_int_equal(o->calls, 1);
    assert_false(o->null_string);
}

/* Runs the loop for `ms` milliseconds. */
static void run_for(struct fixture *f, uint64_t ms)
{
    f->expired = false;
    uv_timer_start(&f->deadline, on_deadline, ms, 0);
    while (!f->expired) uv_run(&f->loop, UV_RUN_DEFAULT);
}

static int setup(void **state)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    if (uv_loop_init(&f->loop) != 0) return -1;
    uv_timer_init(&f->loop, &f->deadline);
    f->deadline.data = f;
    f->direct = client_new(f, S.endpoint, S.secret_key, 0, &small_retry);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < MAX_CLIENTS; i++) s3_client_destroy(f->clients[i]);
    s3_client_destroy(f->direct);
    uv_close((uv_handle_t *)&f->deadline, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&f->loop);
    sl_free(f);
    if (rc != 0) {
        fprintf(stderr, "s3-fault-test: uv_loop_close: %s (a handle was left open)\n", uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- operations, run to completion ---- */

static void run_put(struct fixture *f, s3_client *c, const char *key, const sl_buf *body, struct outcome *o)
{
    assert_true(sl_ok(s3_put_object(c, cur(S.bucket), cur(key), sl_cursor_from_buf(body), NULL, on_object, o)));
    assert_int_equal(o->calls, 0); /* never synchronous */
    wait_for(f, o);
}

static void run_head(struct fixture *f, s3_client *c, const char *key, struct outcome *o)
{
    assert_true(sl_ok(s3_head_object(c, cur(S.bucket), cur(key), (sl_cursor){ 0 }, on_object, o)));
    assert_int_equal(o->calls, 0);
    wait_for(f, o);
}

static void run_get(struct fixture *f, s3_client *c, const char *key, struct outcome *o)
{
    s3_get_object *get = NULL;
    assert_true(sl_ok(s3_get_object_stream(c, cur(S.bucket), cur(key), NULL, on_get_headers, on_chunk, on_object, o,
                                           &get)));
    assert_non_null(get);
    assert_int_equal(o->calls, 0);
    wait_for(f, o);
}

static void run_list(struct fixture *f, s3_client *c, const char *prefix, struct outcome *o)
{
    s3_list_params p = { .prefix = cur(prefix) };
    assert_true(sl_ok(s3_list_objects_v2(c, cur(S.bucket), &p, on_list, o)));
    assert_int_equal(o->calls, 0);
    wait_for(f, o);
}

static void run_delete(struct fixture *f, s3_client *c, const char *key, struct outcome *o)
{
    assert_true(sl_ok(s3_delete_object(c, cur(S.bucket), cur(key), (sl_cursor){ 0 }, on_done, o)));
    assert_int_equal(o->calls, 0);
    wait_for(f, o);
}

/* Success after exactly `attempts` tries; `what` names the scenario in messages. */
static void expect_ok_as(const struct outcome *o, unsigned attempts, const char *what)
{
    if (o->error != SL_OK)
        fail_msg("%s: expected success, got %s (HTTP %ld, %u attempts): %s", what, sl_error_name(o->error),
                 o->status, o->attempts, o->detail);
    if (o->attempts != attempts)
        fail_msg("%s: succeeded after %u attempt(s), expected %u", what, o->attempts, attempts);
    assert_int_equal(o->code, S3_ERROR_UNKNOWN);
    assert_string_equal(o->code_text, "");
    assert_string_equal(o->detail, "");
    assert_true(o->status >= 200 && o->status <= 299);
}

static void expect_ok(const struct outcome *o, unsigned attempts) { expect_ok_as(o, attempts, "operation"); }

/* Puts `body` at `key` straight to radosgw (not through the proxy). */
static void direct_put(struct fixture *f, const char *key, const sl_buf *body, char *etag_out, size_t etag_size)
{
    struct outcome o = { 0 };
    run_put(f, f->direct, key, body, &o);
    expect_ok(&o, 1);
    assert_true(strlen(o.etag) > 2);
    if (etag_out) snprintf(etag_out, etag_size, "%s", o.etag);
    outcome_clean_up(&o);
}

/* True when `key` exists (HEAD straight to radosgw). */
static bool direct_exists(struct fixture *f, const char *key)
{
    struct outcome o = { 0 };
    run_head(f, f->direct, key, &o);
    bool exists = o.error == SL_OK;
    if (!exists) {
        assert_int_equal(o.error, SL_ERR_S3);
        assert_int_equal(o.status, 404);
    }
    outcome_clean_up(&o);
    return exists;
}

static void expect_body(const struct outcome *o, const sl_buf *expected)
{
    if (o->body.len != expected->len)
        fail_msg("GET delivered %zu bytes, the object has %zu", o->body.len, expected->len);
    assert_memory_equal(o->body.data, expected->data, expected->len);
}

/* ---- the operations a scenario is run with ---- */

enum op_kind { K_PUT, K_HEAD, K_GET, K_LIST, K_DELETE, K_COUNT };
static const char *const kind_names[K_COUNT] = { "put", "head", "get", "list", "delete" };

/* Runs `kind` on `key` (holding `content`, except for PUT, which writes it) through `c`
 * and checks that it succeeded with `attempts` tries and did what it should. */
static void run_and_check(struct fixture *f, s3_client *c, enum op_kind kind, const char *key,
                          const sl_buf *content, const char *etag, unsigned attempts, const char *scenario)
{
    struct outcome o = { 0 };
    char what[128];
    snprintf(what, sizeof(what), "%s under \"%s\"", kind_names[kind], scenario);
    switch (kind) {
    case K_PUT:
        run_put(f, c, key, content, &o);
        expect_ok_as(&o, attempts, what);
        assert_int_equal(o.status, 200);
        assert_true(strlen(o.etag) > 2);
        break;
    case K_HEAD:
        run_head(f, c, key, &o);
        expect_ok_as(&o, attempts, what);
        assert_int_equal(o.status, 200);
        assert_true(o.has_size);
        assert_int_equal(o.size, content->len);
        assert_string_equal(o.etag, etag);
        break;
    case K_GET:
        run_get(f, c, key, &o);
        expect_ok_as(&o, attempts, what);
        assert_int_equal(o.status, 200);
        assert_int_equal(o.header_calls, 1);
        assert_false(o.chunk_before_headers);
        if (o.body.len != content->len)
            fail_msg("%s: delivered %zu of %zu bytes", what, o.body.len, content->len);
        expect_body(&o, content);
        assert_string_equal(o.etag, etag);
        break;
    case K_LIST:
        o.find_key = key;
        run_list(f, c, key, &o);
        expect_ok_as(&o, attempts, what);
        assert_int_equal(o.status, 200);
        assert_true(o.found_key);
        assert_int_equal(o.listed, 1);
        break;
    case K_DELETE:
        run_delete(f, c, key, &o);
        expect_ok_as(&o, attempts, what);
        assert_false(direct_exists(f, key));
        break;
    default:
        fail();
    }
    /* the final answer came from radosgw, not from the proxy */
    assert_true(o.request_id[0] != '\0');
    assert_null(strstr(o.request_id, "fault-proxy"));
    outcome_clean_up(&o);
}

/* "reset, reset, pass" for messages, from a schedule's lines. */
static const char *schedule_label(char *out, size_t size, const char *schedule)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = schedule; *p && n + 3 < size; p++) {
        if (*p == '\n') {
            if (p[1] == '\0') break;
            out[n++] = ',';
            out[n++] = ' ';
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return out;
}

/* For each operation: a fresh client, the schedule, the operation as the client's first
 * request; it must succeed after exactly `attempts` tries over `attempts` connections,
 * and have done its work (checked straight on radosgw). */
static void each_operation_succeeds(struct fixture *f, const char *name, const char *schedule, unsigned attempts)
{
    char label[128];
    schedule_label(label, sizeof(label), schedule);
    sl_buf content = { 0 };
    for (int kind = 0; kind < K_COUNT; kind++) {
        char key_name[96], key[160], etag[128] = "";
        snprintf(key_name, sizeof(key_name), "%s/%s", name, kind_names[kind]);
        key_for(key, sizeof(key), key_name);
        fill_bytes(&content, SMALL_SIZE, (uint64_t)kind * 1000 + (uint64_t)strlen(name));
        if (kind != K_PUT) direct_put(f, key, &content, etag, sizeof(etag));

        set_schedule(schedule);
        s3_client *c = proxy_client(f);
        uint64_t t0 = uv_hrtime();
        run_and_check(f, c, kind, key, &content, etag, attempts, label);
        print_message("  %-24s %-6s attempts=%u  %.0f ms\n", label, kind_names[kind], attempts,
                      (double)(uv_hrtime() - t0) / 1e6);
        expect_connections(attempts);
        assert_int_equal(s3_client_request_count(c), attempts);
        if (kind == K_PUT) {
            /* the object is there and whole */
            struct outcome o = { 0 };
            run_get(f, f->direct, key, &o);
            expect_ok(&o, 1);
            expect_body(&o, &content);
            outcome_clean_up(&o);
        }
        client_drop(f, c);
    }
    sl_buf_clean_up(&content);
}

/* ---- tests ---- */

/* reset, reset, pass: every idempotent operation succeeds on its third connection. */
static void resets_then_success_for_each_operation(void **state)
{
    each_operation_succeeds(*state, "reset-reset-pass", "reset\nreset\npass\n", 3);
}

/* After a PUT that needed three connections, the same client's HEAD, GET, LIST and
 * DELETE reuse the surviving connection: one attempt each, no new connection. */
static void later_operations_reuse_the_good_connection(void **state)
{
    struct fixture *f = *state;
    char key[160];
    key_for(key, sizeof(key), "reuse/object");
    sl_buf content = { 0 };
    fill_bytes(&content, SMALL_SIZE, 7);

    set_schedule("reset\nreset\npass\n");
    s3_client *c = proxy_client(f);
    struct outcome put = { 0 };
    run_put(f, c, key, &content, &put);
    expect_ok_as(&put, 3, "put under \"reset, reset, pass\"");
    char etag[128];
    snprintf(etag, sizeof(etag), "%s", put.etag);
    outcome_clean_up(&put);

    const char *label = "after reset, reset, pass";
    run_and_check(f, c, K_HEAD, key, &content, etag, 1, label);
    run_and_check(f, c, K_GET, key, &content, etag, 1, label);
    run_and_check(f, c, K_LIST, key, &content, etag, 1, label);
    run_and_check(f, c, K_DELETE, key, &content, etag, 1, label);
    print_message("  %-24s put attempts=3, then head/get/list/delete attempts=1 on the same connection\n",
                  "reset, reset, pass");
    expect_connections(3);
    assert_int_equal(s3_client_request_count(c), 3 + 4);
    client_drop(f, c);
    sl_buf_clean_up(&content);
}

/* slowdown, slowdown, pass: 503 SlowDown is retried; the result is radosgw's success. */
static void slowdowns_then_success_for_each_operation(void **state)
{
    each_operation_succeeds(*state, "slowdown-slowdown-pass", "slowdown\nslowdown\npass\n", 3);
}

/* cut 0, pass: the request reached radosgw (and took effect) but its answer was lost;
 * the retry of every idempotent operation succeeds. */
static void lost_answers_are_retried_for_each_operation(void **state)
{
    each_operation_succeeds(*state, "cut0-pass", "cut 0\npass\n", 2);
}

/* Like each_operation_succeeds, but checks every operation before failing: appends a
 * line to `failures` for each one that took a broken answer for a good one. */
static void each_operation_retries_a_cut_head(struct fixture *f, const char *name, const char *schedule,
                                              char *failures, size_t failures_size)
{
    char label[128];
    schedule_label(label, sizeof(label), schedule);
    sl_buf content = { 0 };
    for (int kind = 0; kind < K_COUNT; kind++) {
        char key_name[96], key[160], etag[128] = "";
        snprintf(key_name, sizeof(key_name), "%s/%s", name, kind_names[kind]);
        key_for(key, sizeof(key), key_name);
        fill_bytes(&content, SMALL_SIZE, (uint64_t)kind * 1000 + 77);
        if (kind != K_PUT) direct_put(f, key, &content, etag, sizeof(etag));

        set_schedule(schedule);
        s3_client *c = proxy_client(f);
        struct outcome o = { .find_key = key };
        bool good = false;
        uint64_t t0 = uv_hrtime();
        switch (kind) {
        case K_PUT:
            run_put(f, c, key, &content, &o);
            good = o.error == SL_OK && strlen(o.etag) > 2;
            break;
        case K_HEAD:
            run_head(f, c, key, &o);
            good = o.error == SL_OK && o.has_size && o.size == content.len && strcmp(o.etag, etag) == 0;
            break;
        case K_GET:
            run_get(f, c, key, &o);
            good = o.error == SL_OK && o.body.len == content.len &&
                   memcmp(o.body.data, content.data, content.len) == 0 && strcmp(o.etag, etag) == 0;
            break;
        case K_LIST:
            run_list(f, c, key, &o);
            good = o.error == SL_OK && o.found_key;
            break;
        default:
            run_delete(f, c, key, &o);
            good = o.error == SL_OK && !direct_exists(f, key);
            break;
        }
        double ms = (double)(uv_hrtime() - t0) / 1e6;
        good = good && o.attempts == 2 && proxy_status().accepted == 2;
        print_message("  %-24s %-6s attempts=%u  %.0f ms  %s%s%s%s\n", label, kind_names[kind], o.attempts, ms,
                      sl_error_name(o.error), o.detail[0] ? ": " : "", o.detail, good ? "" : "   <-- WRONG");
        if (!good) {
            size_t used = strlen(failures);
            snprintf(failures + used, failures_size - used,
                     "\n    %s, %s: %s after %u attempt(s) on %u connection(s), etag %s, %zu body bytes%s%s",
                     label, kind_names[kind], sl_error_name(o.error), o.attempts, proxy_status().accepted,
                     o.etag[0] ? o.etag : "(none)",
                     o.body.len, o.detail[0] ? ": " : "", o.detail);
        }
        outcome_clean_up(&o);
        client_drop(f, c);
    }
    sl_buf_clean_up(&content);
}

/* cut 17 (right after the status line) and cut 100 (inside the headers), then pass: an
 * answer whose head was cut short is a broken connection, retried like one — never a
 * complete answer without its headers (or, for a GET, without its body). */
static void cut_inside_the_response_head_is_retried_for_each_operation(void **state)
{
    char failures[4096] = "";
    each_operation_retries_a_cut_head(*state, "cut17-pass", "cut 17\npass\n", failures, sizeof(failures));
    each_operation_retries_a_cut_head(*state, "cut100-pass", "cut 100\npass\n", failures, sizeof(failures));
    if (failures[0])
        fail_msg("an answer whose head was cut short must be retried (then succeed with a complete answer), "
                 "never taken for a complete one; these were not:%s",
                 failures);
}

/* delay 2000 then pass: the first attempt gets no first byte within 500 ms, times out,
 * and the retry on a new connection succeeds — well before the delay would have ended. */
static void first_byte_timeout_is_retried(void **state)
{
    struct fixture *f = *state;
    sl_buf content = { 0 };
    const enum op_kind kinds[] = { K_PUT, K_GET };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char name[64], key[160], etag[128] = "";
        snprintf(name, sizeof(name), "delay/%s", kind_names[kinds[i]]);
        key_for(key, sizeof(key), name);
        fill_bytes(&content, SMALL_SIZE, 300 + i);
        if (kinds[i] != K_PUT) direct_put(f, key, &content, etag, sizeof(etag));

        set_schedule("delay 2000\npass\n");
        s3_client *c = proxy_client(f);
        uint64_t t0 = uv_hrtime();
        run_and_check(f, c, kinds[i], key, &content, etag, 2, "delay 2000, pass");
        double ms = (double)(uv_hrtime() - t0) / 1e6;
        print_message("  %-24s %-6s attempts=2  %.0f ms\n", "delay 2000, pass", kind_names[kinds[i]], ms);
        if (ms < FIRST_BYTE_TIMEOUT_MS || ms >= 1900)
            fail_msg("took %.0f ms: the first-byte timeout (%d ms) did not cut the delayed attempt short", ms,
                     FIRST_BYTE_TIMEOUT_MS);
        expect_connections(2);
        client_drop(f, c);
    }
    sl_buf_clean_up(&content);
}

/* A delay shorter than the first-byte timeout is not a failure: one attempt. */
static void short_delay_is_not_a_timeout(void **state)
{
    struct fixture *f = *state;
    char key[160];
    key_for(key, sizeof(key), "short-delay/put");
    sl_buf content = { 0 };
    fill_bytes(&content, SMALL_SIZE, 11);
    set_schedule("delay 100\n");
    s3_client *c = proxy_client(f);
    run_and_check(f, c, K_PUT, key, &content, NULL, 1, "delay 100");
    print_message("  %-24s %-6s attempts=1\n", "delay 100", "put");
    expect_connections(1);
    client_drop(f, c);
    sl_buf_clean_up(&content);
}

/* reset x 10 with max_attempts 4: SL_ERR_CONNECTION after exactly 4 tries (4 connections). */
static void resets_exhaust_the_budget(void **state)
{
    struct fixture *f = *state;
    char key[160], schedule[256];
    key_for(key, sizeof(key), "reset-x10/put");
    sl_buf content = { 0 };
    fill_bytes(&content, SMALL_SIZE, 12);

    set_schedule(repeat(schedule, sizeof(schedule), "reset", 10));
    s3_client *c = proxy_client(f);
    struct outcome o = { 0 };
    run_put(f, c, key, &content, &o);
    print_message("  %-24s %-6s attempts=%u  %s: %s\n", "reset x 10", "put", o.attempts, sl_error_name(o.error),
                  o.detail);
    assert_int_equal(o.error, SL_ERR_CONNECTION);
    assert_int_equal(o.attempts, MAX_ATTEMPTS);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.code, S3_ERROR_UNKNOWN);
    assert_string_equal(o.code_text, "");
    assert_non_null(strstr(o.detail, "PutObject"));
    assert_non_null(strstr(o.detail, key));
    expect_connections(MAX_ATTEMPTS);
    assert_int_equal(s3_client_request_count(c), MAX_ATTEMPTS);
    assert_false(direct_exists(f, key)); /* no request ever reached radosgw */
    outcome_clean_up(&o);
    client_drop(f, c);

    /* the same for a streamed GET: no headers, no chunk, 4 tries */
    set_schedule(repeat(schedule, sizeof(schedule), "reset", 10));
    c = proxy_client(f);
    run_get(f, c, S.big_key, &o);
    print_message("  %-24s %-6s attempts=%u  %s\n", "reset x 10", "get", o.attempts, sl_error_name(o.error));
    assert_int_equal(o.error, SL_ERR_CONNECTION);
    assert_int_equal(o.attempts, MAX_ATTEMPTS);
    assert_int_equal(o.header_calls, 0);
    assert_int_equal(o.body.len, 0);
    expect_connections(MAX_ATTEMPTS);
    outcome_clean_up(&o);
    client_drop(f, c);
    sl_buf_clean_up(&content);
}

/* slowdown x 10: SL_ERR_S3 SlowDown, HTTP 503, after exactly 4 tries, with the proxy's
 * message and request id (the last answer is the one reported). */
static void slowdowns_exhaust_the_budget(void **state)
{
    struct fixture *f = *state;
    char key[160], schedule[256];
    key_for(key, sizeof(key), "slowdown-x10/put");
    sl_buf content = { 0 };
    fill_bytes(&content, SMALL_SIZE, 13);

    set_schedule(repeat(schedule, sizeof(schedule), "slowdown", 10));
    s3_client *c = proxy_client(f);
    struct outcome o = { 0 };
    run_put(f, c, key, &content, &o);
    print_message("  %-24s %-6s attempts=%u  %s: %s\n", "slowdown x 10", "put", o.attempts,
                  sl_error_name(o.error), o.detail);
    assert_int_equal(o.error, SL_ERR_S3);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.code, S3_ERROR_SLOW_DOWN);
    assert_string_equal(o.code_text, "SlowDown");
    assert_string_equal(o.message, "Please reduce your request rate.");
    /* the request id of the 4th connection's answer: the last attempt is reported */
    char last_id[64];
    snprintf(last_id, sizeof(last_id), "fault-proxy-%d-", (int)S.proxy_pid);
    assert_true(strncmp(o.request_id, last_id, strlen(last_id)) == 0);
    assert_int_equal(o.attempts, MAX_ATTEMPTS);
    assert_non_null(strstr(o.detail, "PutObject"));
    assert_non_null(strstr(o.detail, "503"));
    assert_non_null(strstr(o.detail, "SlowDown"));
    assert_non_null(strstr(o.detail, key));
    expect_connections(MAX_ATTEMPTS);
    assert_int_equal(s3_client_request_count(c), MAX_ATTEMPTS);
    assert_false(direct_exists(f, key));
    outcome_clean_up(&o);
    client_drop(f, c);

    /* HEAD: a 503 without a body is still SlowDown (from the status), still retried */
    set_schedule(repeat(schedule, sizeof(schedule), "slowdown", 10));
    c = proxy_client(f);
    run_head(f, c, S.big_key, &o);
    print_message("  %-24s %-6s attempts=%u  %s: %s\n", "slowdown x 10", "head", o.attempts,
                  sl_error_name(o.error), o.detail);
    assert_int_equal(o.error, SL_ERR_S3);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.code, S3_ERROR_SLOW_DOWN);
    assert_int_equal(o.attempts, MAX_ATTEMPTS);
    expect_connections(MAX_ATTEMPTS);
    outcome_clean_up(&o);
    client_drop(f, c);

    /* GET: the 503 bodies never reach the chunk callback */
    set_schedule(repeat(schedule, sizeof(schedule), "slowdown", 10));
    c = proxy_client(f);
    run_get(f, c, S.big_key, &o);
    print_message("  %-24s %-6s attempts=%u  %s\n", "slowdown x 10", "get", o.attempts, sl_error_name(o.error));
    assert_int_equal(o.error, SL_ERR_S3);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.code, S3_ERROR_SLOW_DOWN);
    assert_int_equal(o.attempts, MAX_ATTEMPTS);
    assert_int_equal(o.header_calls, 0);
    assert_int_equal(o.body.len, 0);
    expect_connections(MAX_ATTEMPTS);
    outcome_clean_up(&o);
    client_drop(f, c);
    sl_buf_clean_up(&content);
}

/* cut 200000 on the GET's connection: the stream ends early, and that is an error —
 * never SL_OK — with fewer bytes than the object, all of them the object's own, and no
 * retry (body bytes were already delivered). Also with the cut just after the head. */
static void cut_stream_is_an_error(void **state)
{
    struct fixture *f = *state;
    const unsigned cuts[] = { 200000, 1000 };
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        char schedule[64], label[64];
        snprintf(schedule, sizeof(schedule), "cut %u\n", cuts[i]);
        schedule_label(label, sizeof(label), schedule);
        set_schedule(schedule);
        s3_client *c = proxy_client(f);
        struct outcome o = { 0 };
        run_get(f, c, S.big_key, &o);
        print_message("  %-24s %-6s attempts=%u  %s after %zu of %zu bytes: %s\n", label, "get", o.attempts,
                      sl_error_name(o.error), o.body.len, (size_t)BIG_SIZE, o.detail);
        if (o.error == SL_OK)
            fail_msg("a GET cut after %u response bytes was reported as a complete object (%zu bytes)", cuts[i],
                     o.body.len);
        assert_true(o.error == SL_ERR_CONNECTION || o.error == SL_ERR_PARSE);
        assert_int_equal(o.attempts, 1);
        assert_int_equal(o.header_calls, 1);
        assert_false(o.chunk_before_headers);
        assert_true(o.body.len > 0);
        assert_true(o.body.len < BIG_SIZE);
        assert_true(o.body.len < cuts[i]);
        assert_memory_equal(o.body.data, S.big.data, o.body.len);
        assert_non_null(strstr(o.detail, "GetObject"));
        expect_connections(1);
        outcome_clean_up(&o);
        client_drop(f, c);
    }
}

/* A GET that fails before its first body byte is retried and delivers the whole object,
 * exactly once: here the connection is reset before any answer. (The cut variants are
 * in each_operation_succeeds above.) */
static void get_failing_before_the_body_is_retried(void **state)
{
    struct fixture *f = *state;
    set_schedule("reset\npass\n");
    s3_client *c = proxy_client(f);
    struct outcome o = { 0 };
    run_get(f, c, S.big_key, &o);
    print_message("  %-24s %-6s attempts=%u  %s (%zu bytes)\n", "reset, pass", "get 1M", o.attempts,
                  sl_error_name(o.error), o.body.len);
    expect_ok_as(&o, 2, "1 MiB get under \"reset, pass\"");
    assert_int_equal(o.header_calls, 1);
    expect_body(&o, &S.big);
    expect_connections(2);
    outcome_clean_up(&o);
    client_drop(f, c);
}

/* Refusals are final: a wrong secret (SignatureDoesNotMatch) and a missing key are
 * reported after one attempt, on one connection; a retry that meets a refusal stops. */
static void refusals_are_not_retried(void **state)
{
    struct fixture *f = *state;
    char key[160], missing[160];
    key_for(key, sizeof(key), "refused/put");
    key_for(missing, sizeof(missing), "refused/missing");
    sl_buf content = { 0 };
    fill_bytes(&content, SMALL_SIZE, 15);

    /* wrong secret */
    char wrong[256];
    snprintf(wrong, sizeof(wrong), "%s", S.secret_key);
    wrong[0] = wrong[0] == 'x' ? 'y' : 'x';
    set_schedule("");
    s3_client *c = proxy_client_with(f, wrong, FIRST_BYTE_TIMEOUT_MS, &small_retry);
    struct outcome o = { 0 };
    run_put(f, c, key, &content, &o);
    print_message("  %-24s %-6s attempts=%u  %s %ld %s\n", "wrong secret", "put", o.attempts,
                  sl_error_name(o.error), o.status, o.code_text);
    assert_int_equal(o.error, SL_ERR_S3);
    assert_int_equal(o.status, 403);
    assert_int_equal(o.code, S3_ERROR_SIGNATURE_DOES_NOT_MATCH);
    assert_int_equal(o.attempts, 1);
    expect_connections(1);
    assert_int_equal(s3_client_request_count(c), 1);
    assert_false(direct_exists(f, key));
    outcome_clean_up(&o);
    client_drop(f, c);

    /* missing key: GET (NoSuchKey from the body) and HEAD (from the status) */
    set_schedule("");
    c = proxy_client(f);
    run_get(f, c, missing, &o);
    print_message("  %-24s %-6s attempts=%u  %s %ld %s\n", "missing key", "get", o.attempts,
                  sl_error_name(o.error), o.status, o.code_text);
    assert_int_equal(o.error, SL_ERR_S3);
    assert_int_equal(o.status, 404);
    assert_int_equal(o.code, S3_ERROR_NO_SUCH_KEY);
    assert_string_equal(o.code_text, "NoSuchKey");
    assert_int_equal(o.attempts, 1);
    assert_int_equal(o.header_calls, 0);
    assert_int_equal(o.body.len, 0);
    outcome_clean_up(&o);
    run_head(f, c, missing, &o);
    print_message("  %-24s %-6s attempts=%u  %s %ld %s\n", "missing key", "head", o.attempts,
                  sl_error_name(o.error), o.status, o.code_text);
    assert_int_equal(o.error, SL_ERR_S3);
    assert_int_equal(o.status, 404);
    assert_int_equal(o.code, S3_ERROR_NO_SUCH_KEY);
    assert_int_equal(o.attempts, 1);
    outcome_clean_up(&o);
    expect_connections(1);
    assert_int_equal(s3_client_request_count(c), 2);
    client_drop(f, c);

    /* slowdown, then NoSuchKey: two attempts, the refusal reported */
    set_schedule("slowdown\npass\n");
    c = proxy_client(f);
    run_get(f, c, missing, &o);
    print_message("  %-24s %-6s attempts=%u  %s %ld %s\n", "slowdown, pass (missing)", "get", o.attempts,
                  sl_error_name(o.error), o.status, o.code_text);
    assert_int_equal(o.error, SL_ERR_S3);
    assert_int_equal(o.status, 404);
    assert_int_equal(o.code, S3_ERROR_NO_SUCH_KEY);
    assert_int_equal(o.attempts, 2);
    expect_connections(2);
    outcome_clean_up(&o);
    client_drop(f, c);
    sl_buf_clean_up(&content);
}

/* Destroying a client in the middle of a fault completes its operation once, with
 * SL_ERR_CANCELLED, before s3_client_destroy returns — whether the operation waits for
 * a first byte that is late (delay) or sits in its backoff after a reset — and leaves
 * nothing behind (the teardown requires uv_loop_close to succeed). */
static void destroy_in_the_middle_of_a_fault_cancels(void **state)
{
    struct fixture *f = *state;
    const s3_retry_policy slow_retry = { .max_attempts = MAX_ATTEMPTS, .base_ms = 5000, .cap_ms = 5000 };
    struct {
        const char *schedule;
        long first_byte_ms;
    } cases[] = {
        { "delay 3000\n", 10000 }, /* in flight, waiting for its answer */
        { "reset\nreset\nreset\n", FIRST_BYTE_TIMEOUT_MS }, /* in its backoff */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char label[64];
        schedule_label(label, sizeof(label), cases[i].schedule);
        set_schedule(cases[i].schedule);
        s3_client *c = proxy_client_with(f, S.secret_key, cases[i].first_byte_ms, &slow_retry);
        struct outcome o = { 0 };
        assert_true(sl_ok(s3_get_object_stream(c, cur(S.bucket), cur(S.big_key), NULL, on_get_headers, on_chunk,
                                               on_object, &o, NULL)));
        run_for(f, 300);
        assert_int_equal(o.calls, 0);
        /* a random backoff below 300 ms lets a second try happen: count the tries */
        uint64_t tries = s3_client_request_count(c);
        assert_true(tries >= 1 && proxy_status().accepted <= tries);
        client_drop(f, c);
        print_message("  %-24s %-6s destroyed after 300 ms: %s, attempts=%u\n", label, "get",
                      sl_error_name(o.error), o.attempts);
        assert_int_equal(o.calls, 1); /* before destroy returned */
        assert_int_equal(o.error, SL_ERR_CANCELLED);
        assert_int_equal(o.attempts, tries);
        assert_int_equal(o.header_calls, 0);
        assert_int_equal(o.body.len, 0);
        run_for(f, 50); /* no second callback while the handles close */
        assert_int_equal(o.calls, 1);
        outcome_clean_up(&o);
    }
}

/* ---- group setup and teardown ---- */

static int group_setup(void **state)
{
    (void)state;
    uint8_t rnd[6];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) return -1;
    snprintf(S.prefix, sizeof(S.prefix), "fault-test/%ld-%d-%02x%02x%02x%02x%02x%02x/", (long)time(NULL),
             (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    print_message("s3-fault-test: s3://%s/%s via %s\n", S.bucket, S.prefix, S.upstream);
    if (start_proxy() != 0) {
        (void)stop_proxy();
        return -1;
    }
    print_message("s3-fault-test: proxy pid %d at %s\n", (int)S.proxy_pid, S.proxy_endpoint);

    /* the 1 MiB object of the GET scenarios, stored once */
    struct fixture *f = NULL;
    if (setup((void **)&f) != 0) return -1;
    key_for(S.big_key, sizeof(S.big_key), "big");
    fill_bytes(&S.big, BIG_SIZE, 42);
    direct_put(f, S.big_key, &S.big, NULL, 0);
    return teardown((void **)&f);
}

/* Deletes every object under the run's prefix (straight to radosgw) and checks that
 * none is left; then stops the proxy. */
static int group_teardown(void **state)
{
    (void)state;
    int rc = 0;
    struct fixture *f = NULL;
    if (setup((void **)&f) != 0) return -1;
    for (int round = 0; round < 20; round++) {
        struct outcome list = { .collect = true };
        run_list(f, f->direct, S.prefix, &list);
        if (list.error != SL_OK) {
            fprintf(stderr, "s3-fault-test: cleanup list failed: %s\n", list.detail);
            rc = -1;
            outcome_clean_up(&list);
            break;
        }
        size_t count = list.key_count;
        if (count == 0) {
            outcome_clean_up(&list);
            break;
        }
        s3_object_ref *refs = sl_calloc(count, sizeof(*refs));
        for (size_t i = 0; i < count; i++) refs[i].key = cur(list.keys[i]);
        struct outcome del = { 0 };
        sl_result r = s3_delete_objects(f->direct, cur(S.bucket), refs, count, true, on_delete_objects, &del);
        sl_free(refs);
        outcome_clean_up(&list);
        if (sl_failed(r)) {
            fprintf(stderr, "s3-fault-test: cleanup: DeleteObjects refused: %s\n", sl_error_detail());
            rc = -1;
            break;
        }
        wait_for(f, &del);
        if (del.error != SL_OK || del.listed != 0) {
            fprintf(stderr, "s3-fault-test: cleanup: DeleteObjects failed (%zu keys not deleted): %s\n",
                    del.listed, del.detail);
            rc = -1;
            outcome_clean_up(&del);
            break;
        }
        outcome_clean_up(&del);
    }
    if (teardown((void **)&f) != 0) rc = -1;
    if (stop_proxy() != 0) rc = -1;
    sl_buf_clean_up(&S.big);
    return rc;
}

/* ---- main ---- */

static const char *need_env(const char *name, bool *missing)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "s3-fault-test: %s is not set\n", name);
        *missing = true;
        return NULL;
    }
    return v;
}

int main(void)
{
    bool missing = false;
    S.endpoint = need_env("SLUICE_S3_ENDPOINT", &missing);
    S.region = need_env("SLUICE_S3_REGION", &missing);
    S.bucket = need_env("SLUICE_BUCKET_QUARANTINE", &missing);
    S.access_key = need_env("SLUICE_MOVER_ACCESS_KEY", &missing);
    S.secret_key = need_env("SLUICE_MOVER_SECRET_KEY", &missing);
    if (missing) {
        fprintf(stderr, "s3-fault-test: this test needs the local S3 server: start it with "
                        "scripts/s3-server.sh start, then eval \"$(scripts/s3-server.sh env)\"\n");
        return 1;
    }
    if (!parse_upstream(S.endpoint, S.upstream, sizeof(S.upstream))) {
        fprintf(stderr, "s3-fault-test: SLUICE_S3_ENDPOINT=%s is not an http://host:port URL\n", S.endpoint);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(resets_then_success_for_each_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(later_operations_reuse_the_good_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(slowdowns_then_success_for_each_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(first_byte_timeout_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(short_delay_is_not_a_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(resets_exhaust_the_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(slowdowns_exhaust_the_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_stream_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(get_failing_before_the_body_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_answers_are_retried_for_each_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_inside_the_response_head_is_retried_for_each_operation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refusals_are_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(destroy_in_the_middle_of_a_fault_cancels, setup, teardown),
    };
    uint64_t t0 = uv_hrtime();
    int failed = cmocka_run_group_tests_name("s3_fault", tests, group_setup, group_teardown);
    fprintf(stderr, "s3-fault-test: %.2f s\n", (double)(uv_hrtime() - t0) / 1e9);
    return failed;
}
