/*
 * lease_test.c — the lease set (mover/lease/lease.h) against the real local radosgw.
 *
 * Two or three lease sets play movers in one process: each has its own loop and its own
 * S3 client, and the test turns the loops by hand (a few milliseconds each in turn), so
 * "pausing" a mover is not turning its loop — its monotonic clock runs on, as in a
 * SIGSTOP, while it does nothing. At every turn the test checks the property the leases
 * exist for: no lease is held by two sets at once, each asked on its own clock at that
 * moment (lease_set_holds). Around it: a lone set takes every lease, a second one gets
 * half, a frozen one loses its leases only after the ttl and holds nothing when it wakes,
 * a lease object overwritten behind its holder's back is dropped, a stop releases every
 * lease; and lease_set_new refuses what it cannot work with.
 *
 * Needs the server's environment (`eval "$(scripts/s3-server.sh env)"`). Every test works
 * under its own key prefix in the quarantine bucket (the control bucket) and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "lease/lease.h"
#include "util/alloc.h"
#include "util/buf.h"

#define NAMES 4
#define TTL_MS 3000
#define SETS 3

static const char *const names[NAMES] = { "route/0-of-4", "route/1-of-4", "route/2-of-4", "route/3-of-4" };

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "%s is not set: start the local S3 server and load its environment:\n"
                        "  scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\"\n",
                name);
        exit(1);
    }
    return v;
}

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }
static const char *bucket(void) { return env("SLUICE_BUCKET_QUARANTINE"); }

/* A mover: a loop, a client, and (once made) a lease set. */
typedef struct mover {
    uv_loop_t loop;
    s3_credentials creds;
    s3_client *client;
    lease_set *set;
    unsigned gained, lost;
    bool stopped;
} mover;

typedef struct fixture {
    char prefix[96];
    mover m[SETS];
    unsigned overlaps; /* turns at which two sets held one lease */
} fixture;

static void changed(void *user, size_t index, bool held)
{
    mover *m = user;
    (void)index;
    if (held) m->gained++;
    else m->lost++;
}

static void mover_init(mover *m)
{
    uv_loop_init(&m->loop);
    assert_true(sl_ok(s3_credentials_init(&m->creds, env("SLUICE_MOVER_ACCESS_KEY"), env("SLUICE_MOVER_SECRET_KEY"),
                                          NULL)));
    s3_client_config config = {
        .endpoint = env("SLUICE_S3_ENDPOINT"),
        .region = env("SLUICE_S3_REGION"),
        .addressing = S3_ADDRESSING_PATH,
        .credentials = &m->creds,
        .http = s3_http_options_default(),
        .retry = s3_retry_policy_default(),
    };
    assert_true(sl_ok(s3_client_new(&m->loop, &config, &m->client)));
}

static void mover_start(fixture *f, int i, const char *name)
{
    mover *m = &f->m[i];
    lease_options o = { .client = m->client, .bucket = bucket(), .prefix = f->prefix, .name = name,
                        .ttl_ms = TTL_MS, .changed = changed, .user = m };
    assert_true(sl_ok(lease_set_new(&m->loop, &o, names, NAMES, &m->set)));
    lease_set_start(m->set);
}

static void mover_clean_up(mover *m)
{
    /* the set first (its requests' callbacks then free themselves), then the client */
    lease_set_destroy(m->set);
    m->set = NULL;
    s3_client_destroy(m->client);
    m->client = NULL;
    uv_run(&m->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&m->loop), 0);
    s3_credentials_clean_up(&m->creds);
}

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static unsigned held(const mover *m)
{
    unsigned n = 0;
    for (size_t i = 0; m->set != NULL && i < NAMES; i++) n += lease_set_holds(m->set, i);
    return n;
}

/* One turn: each running mover's loop once (without waiting), then the check. */
static void turn(fixture *f, const bool running[SETS])
{
    for (int i = 0; i < SETS; i++)
        if (running[i] && f->m[i].set != NULL) uv_run(&f->m[i].loop, UV_RUN_NOWAIT);
    for (size_t k = 0; k < NAMES; k++) {
        unsigned holders = 0;
        for (int i = 0; i < SETS; i++) holders += f->m[i].set != NULL && lease_set_holds(f->m[i].set, k);
        if (holders > 1) f->overlaps++;
    }
    usleep(2000);
}

typedef bool until_fn(fixture *f);

/* Turns the running loops until `done` or `ms` passed; true when done. */
static bool run_until(fixture *f, const bool running[SETS], until_fn *done, uint64_t ms)
{
    uint64_t end = now_ms() + ms;
    while (now_ms() < end) {
        turn(f, running);
        if (done != NULL && done(f)) return true;
    }
    return done == NULL;
}

static int setup(void **state)
{
    fixture *f = sl_calloc(1, sizeof(*f));
    snprintf(f->prefix, sizeof(f->prefix), "sluice-test/lease-%ld-%ld/cluster/", (long)getpid(), (long)time(NULL));
    for (int i = 0; i < SETS; i++) mover_init(&f->m[i]);
    *state = f;
    return 0;
}

/* ---- synchronous helpers on mover 2's client (the test's own hands) ---- */

typedef struct call {
    bool done;
    sl_error error;
    int status;
    sl_buf body;
    sl_buf keys; /* listed keys, "\n" after each */
} call;

static void wait_call(mover *m, call *c)
{
    while (!c->done) uv_run(&m->loop, UV_RUN_ONCE);
}

static void on_object(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    call *c = user;
    c->done = true;
    c->error = r->error;
    c->status = r->status;
}

static s3_http_body_action on_chunk(void *user, const uint8_t *data, size_t len)
{
    call *c = user;
    return sl_ok(sl_buf_append(&c->body, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

static void on_list(void *user, const s3_result *r, const s3_list_result *list)
{
    call *c = user;
    c->done = true;
    c->error = r->error;
    for (size_t i = 0; list != NULL && i < list->object_count; i++) {
        assert_true(sl_ok(sl_buf_append_cursor(&c->keys, sl_cursor_from_buf(&list->objects[i].key))));
        assert_true(sl_ok(sl_buf_append_cstr(&c->keys, "\n")));
    }
}

static void on_done(void *user, const s3_result *r)
{
    call *c = user;
    c->done = true;
    c->error = r->error;
    c->status = r->status;
}

/* The object's body as text ("" when absent). The caller frees it. */
static char *get_text(fixture *f, const char *key)
{
    mover *m = &f->m[SETS - 1];
    call c = { 0 };
    s3_get_params params = { 0 };
    assert_true(sl_ok(s3_get_object_stream(m->client, cur(bucket()), cur(key), &params, NULL, on_chunk, on_object,
                                           &c, NULL)));
    wait_call(m, &c);
    char *text = c.error == SL_OK ? sl_strdup(sl_buf_cstr(&c.body)) : sl_strdup("");
    sl_buf_clean_up(&c.body);
    return text;
}

static void put_text(fixture *f, const char *key, const char *text)
{
    mover *m = &f->m[SETS - 1];
    call c = { 0 };
    s3_put_params params = { .content_type = cur("application/json") };
    assert_true(sl_ok(s3_put_object(m->client, cur(bucket()), cur(key), cur(text), &params, on_object, &c)));
    wait_call(m, &c);
    assert_int_equal(c.error, SL_OK);
}

static char *lease_key(fixture *f, size_t i) { return sl_strdup_printf("%sleases/%s", f->prefix, names[i]); }

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < SETS - 1; i++) mover_clean_up(&f->m[i]);
    mover *m = &f->m[SETS - 1];
    lease_set_destroy(m->set);
    m->set = NULL;
    call list = { 0 };
    s3_list_params params = { .prefix = cur(f->prefix) };
    assert_true(sl_ok(s3_list_objects_v2(m->client, cur(bucket()), &params, on_list, &list)));
    wait_call(m, &list);
    char *save = NULL;
    for (char *key = strtok_r((char *)sl_buf_cstr(&list.keys), "\n", &save); key; key = strtok_r(NULL, "\n", &save)) {
        call del = { 0 };
        assert_true(sl_ok(s3_delete_object(m->client, cur(bucket()), cur(key), (sl_cursor){ 0 }, on_done, &del)));
        wait_call(m, &del);
    }
    sl_buf_clean_up(&list.keys);
    mover_clean_up(m);
    assert_int_equal(f->overlaps, 0);
    sl_free(f);
    return 0;
}

/* ---- the tests ---- */

static const bool only_a[SETS] = { true, false, false };
static const bool only_b[SETS] = { false, true, false };
static const bool a_and_b[SETS] = { true, true, false };

static bool a_holds_all(fixture *f) { return held(&f->m[0]) == NAMES; }
static bool b_holds_all(fixture *f) { return held(&f->m[1]) == NAMES; }
static bool split(fixture *f) { return held(&f->m[0]) == NAMES / 2 && held(&f->m[1]) == NAMES / 2; }

static void a_lone_set_takes_every_lease_and_a_second_gets_half(void **state)
{
    fixture *f = *state;
    mover_start(f, 0, "a");
    assert_true(run_until(f, only_a, a_holds_all, 5000));
    lease_stats st = lease_set_get_stats(f->m[0].set);
    assert_int_equal(st.taken, NAMES);
    assert_int_equal(st.members, 1);
    assert_string_not_equal(lease_set_instance(f->m[0].set), "");
    /* the lease object names its holder */
    char *key = lease_key(f, 0);
    char *text = get_text(f, key);
    assert_non_null(strstr(text, lease_set_instance(f->m[0].set)));
    assert_non_null(strstr(text, "\"mover\":\"a\""));
    sl_free(text);
    sl_free(key);
    /* a second mover: the first gives leases up one scan at a time, the second takes them */
    mover_start(f, 1, "b");
    assert_true(run_until(f, a_and_b, split, 6 * TTL_MS));
    assert_int_equal(lease_set_get_stats(f->m[1].set).members, 2);
    assert_int_equal(lease_set_get_stats(f->m[0].set).released, NAMES / 2);
    /* and it stays split (renewals keep both sides' leases) */
    assert_true(run_until(f, a_and_b, NULL, 2 * TTL_MS));
    assert_true(split(f));
}

static void a_frozen_set_loses_its_leases_after_the_ttl_and_holds_nothing_when_it_wakes(void **state)
{
    fixture *f = *state;
    mover_start(f, 0, "a");
    assert_true(run_until(f, only_a, a_holds_all, 5000));
    mover_start(f, 1, "b");
    assert_true(run_until(f, a_and_b, split, 6 * TTL_MS));
    /* a is frozen (its loop does not turn; its clock runs on): b must not take a lease
     * while a, asked on its own clock, still counts it valid — turn() checks that */
    uint64_t frozen = now_ms();
    assert_true(run_until(f, only_b, b_holds_all, 3 * TTL_MS));
    uint64_t took = now_ms() - frozen;
    /* a's leases were valid up to ttl - margin after its last renewal; b counts them
     * expired only after it saw them unchanged for a whole ttl */
    assert_true(took >= TTL_MS - TTL_MS / 4);
    assert_int_equal(held(&f->m[0]), 0); /* before a runs anything: its own clock says so */
    /* a wakes: it drops what lapsed, and the two balance again */
    assert_true(run_until(f, a_and_b, split, 8 * TTL_MS));
    assert_true(f->m[0].lost >= NAMES / 2);
    assert_true(lease_set_get_stats(f->m[0].set).lost >= NAMES / 2);
}

static void a_dead_set_is_replaced_and_its_member_object_forgotten(void **state)
{
    fixture *f = *state;
    mover_start(f, 0, "a");
    mover_start(f, 1, "b");
    assert_true(run_until(f, a_and_b, split, 8 * TTL_MS));
    /* a dies: destroyed without a stop, nothing released */
    lease_set_destroy(f->m[0].set);
    f->m[0].set = NULL;
    uv_run(&f->m[0].loop, UV_RUN_NOWAIT);
    assert_true(run_until(f, only_b, b_holds_all, 3 * TTL_MS));
    assert_true(run_until(f, only_b, NULL, TTL_MS + TTL_MS / 2));
    assert_int_equal(lease_set_get_stats(f->m[1].set).members, 1);
}

static void a_lease_taken_behind_its_holders_back_is_dropped(void **state)
{
    fixture *f = *state;
    mover_start(f, 0, "a");
    assert_true(run_until(f, only_a, a_holds_all, 5000));
    /* someone overwrites lease 2 with another holder: a's next renewal (If-Match its own
     * ETag) fails with 412, a reads the object and drops the lease */
    char *key = lease_key(f, 2);
    put_text(f, key, "{\"holder\":\"0123456789abcdef0123456789abcdef\",\"mover\":\"x\",\"count\":1,\"ttl_ms\":3000}");
    sl_free(key);
    assert_true(run_until(f, only_a, NULL, TTL_MS / 2 + 200));
    assert_false(lease_set_holds(f->m[0].set, 2));
    assert_int_equal(held(&f->m[0]), NAMES - 1);
    assert_int_equal(f->m[0].lost, 1);
    /* the stranger never renews: after a ttl unchanged a takes it back */
    assert_true(run_until(f, only_a, a_holds_all, 2 * TTL_MS));
}

static void a_broken_lease_object_is_not_taken_over(void **state)
{
    fixture *f = *state;
    char *key = lease_key(f, 1);
    put_text(f, key, "not json");
    mover_start(f, 0, "a");
    assert_true(run_until(f, only_a, NULL, TTL_MS));
    /* the others are taken; the unreadable one is left alone (fail closed) */
    assert_int_equal(held(&f->m[0]), NAMES - 1);
    assert_false(lease_set_holds(f->m[0].set, 1));
    char *text = get_text(f, key);
    assert_string_equal(text, "not json");
    sl_free(text);
    sl_free(key);
}

static void stopped(void *user) { ((mover *)user)->stopped = true; }
static bool a_stopped(fixture *f) { return f->m[0].stopped; }

static void a_stop_releases_every_lease(void **state)
{
    fixture *f = *state;
    mover_start(f, 0, "a");
    assert_true(run_until(f, only_a, a_holds_all, 5000));
    lease_set_stop(f->m[0].set, 2000, stopped, &f->m[0]);
    assert_int_equal(held(&f->m[0]), 0); /* nothing is held from the call on */
    assert_true(run_until(f, only_a, a_stopped, 3000));
    assert_int_equal(lease_set_get_stats(f->m[0].set).released, NAMES);
    for (size_t i = 0; i < NAMES; i++) {
        char *key = lease_key(f, i);
        char *text = get_text(f, key);
        assert_non_null(strstr(text, "\"holder\":\"\""));
        sl_free(text);
        sl_free(key);
    }
    /* released leases are taken at once by the next mover, no ttl to wait */
    mover_start(f, 1, "b");
    assert_true(run_until(f, only_b, b_holds_all, TTL_MS / 2 + 1000));
}

static void arguments_are_checked(void **state)
{
    fixture *f = *state;
    mover *m = &f->m[0];
    lease_set *s = NULL;
    lease_options o = { .client = m->client, .bucket = bucket(), .prefix = f->prefix, .name = "a", .ttl_ms = TTL_MS };
    const char *bad_name[] = { "route/0", "a b" };
    const char *twice[] = { "x", "x" };
    const char *empty[] = { "" };
    assert_true(sl_failed(lease_set_new(&m->loop, &o, bad_name, 2, &s)));
    assert_true(sl_failed(lease_set_new(&m->loop, &o, twice, 2, &s)));
    assert_true(sl_failed(lease_set_new(&m->loop, &o, empty, 1, &s)));
    assert_true(sl_failed(lease_set_new(&m->loop, &o, names, 0, &s)));
    o.ttl_ms = LEASE_MIN_TTL_MS - 1;
    assert_true(sl_failed(lease_set_new(&m->loop, &o, names, NAMES, &s)));
    o.ttl_ms = TTL_MS;
    o.prefix = "no-slash";
    assert_true(sl_failed(lease_set_new(&m->loop, &o, names, NAMES, &s)));
    assert_null(s);
    sl_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(arguments_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(a_lone_set_takes_every_lease_and_a_second_gets_half, setup, teardown),
        cmocka_unit_test_setup_teardown(a_frozen_set_loses_its_leases_after_the_ttl_and_holds_nothing_when_it_wakes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_dead_set_is_replaced_and_its_member_object_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(a_lease_taken_behind_its_holders_back_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(a_broken_lease_object_is_not_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stop_releases_every_lease, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
