/*
 * test_http.c — unit tests of the libuv + libcurl transport (mover/s3/http.c).
 *
 * The peer is the tests' small HTTP/1.1 server (http_peer.h) on the same libuv loop; the
 * path of each request picks its behaviour:
 *   /ok            200 "hello"
 *   /echo          200, body = request body, X-Method = request method
 *   /bytes/N       200 with N bytes (i % 251)
 *   /slow/MS       answers after MS milliseconds
 *   /reset         closes the connection with a TCP reset, no answer
 *   /cut           promises 1000 bytes, sends 10, closes
 *   /close         200 "bye!!" with Connection: close, then closes
 * The peer counts connections and the most requests it had open at once, so the tests
 * can prove connection reuse and the in-flight bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "http_peer.h"
#include "s3/http.h"
#include "util/alloc.h"
#include "util/buf.h"

/* ---- the test server (http_peer.h): the path picks the behaviour ---- */

static void must(sl_result r) { assert_true(sl_ok(r)); }

static void handle_request(http_peer *p, http_peer_conn *c, const http_peer_request *r)
{
    (void)p;
    const char *path = r->target;
    sl_buf reply = { 0 };
    if (strcmp(path, "/ok") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello"));
    } else if (strcmp(path, "/echo") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nX-Method: %s\r\nContent-Length: %zu\r\n\r\n", r->method,
                            r->body_len));
        must(sl_buf_append(&reply, r->body, r->body_len));
    } else if (strncmp(path, "/bytes/", 7) == 0) {
        size_t n = strtoul(path + 7, NULL, 10);
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n));
        for (size_t i = 0; i < n; i++) must(sl_buf_append_byte(&reply, (uint8_t)(i % 251)));
    } else if (strncmp(path, "/slow/", 6) == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"));
        http_peer_reply_after(c, &reply, strtoul(path + 6, NULL, 10));
        return;
    } else if (strcmp(path, "/close") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nbye!!"));
        http_peer_reply(c, &reply, true);
        return;
    } else if (strcmp(path, "/reset") == 0) {
        http_peer_reset(c);
        return;
    } else if (strcmp(path, "/cut") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789"));
        http_peer_reply(c, &reply, true);
        return;
    } else {
        must(sl_buf_appendf(&reply, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
    }
    http_peer_reply(c, &reply, false);
}

/* ---- fixture ---- */

struct fixture {
    uv_loop_t loop;
    http_peer server;
    s3_http *http;
};

static int setup_with(void **state, s3_http_options opts)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    http_peer_start(&f->server, &f->loop, handle_request, NULL);
    if (sl_failed(s3_http_new(&f->loop, &opts, &f->http))) return -1;
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, s3_http_options_default()); }

static int setup_small(void **state)
{
    s3_http_options o = s3_http_options_default();
    o.max_in_flight = 4;
    o.first_byte_timeout_ms = 300;
    return setup_with(state, o);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    s3_http_destroy(f->http);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    http_peer_close_all(&f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    sl_free(f);
    return 0;
}

static char *url(struct fixture *f, const char *path)
{
    static char buf[4][128];
    static int next;
    char *u = buf[next++ % 4];
    snprintf(u, 128, "http://127.0.0.1:%d%s", f->server.port, path);
    return u;
}

/* ---- one request's outcome ---- */

struct outcome {
    bool done;
    s3_http_result result;
    char detail[256];
    sl_buf body;
    sl_buf headers;
    unsigned pause_every; /* pause after this many consumed chunks (0 = never) */
    unsigned chunks;
    s3_http_request *handle;
    uv_loop_t *loop;
    unsigned *counter;
};

static void on_done(void *user, const s3_http_result *r)
{
    struct outcome *o = user;
    assert_false(o->done);
    o->done = true;
    o->result = *r;
    snprintf(o->detail, sizeof(o->detail), "%s", r->detail);
    o->result.detail = o->detail;
    if (o->counter) (*o->counter)++;
}

static void on_header(void *user, sl_cursor name, sl_cursor value)
{
    struct outcome *o = user;
    must(sl_buf_append_cursor(&o->headers, name));
    must(sl_buf_append_cstr(&o->headers, "="));
    must(sl_buf_append_cursor(&o->headers, value));
    must(sl_buf_append_cstr(&o->headers, ";"));
}

static void resume_later(uv_timer_t *t)
{
    struct outcome *o = t->data;
    s3_http_resume(o->handle);
    uv_close((uv_handle_t *)t, (uv_close_cb)sl_free);
}

static bool paused_now;

static s3_http_body_action on_body(void *user, const uint8_t *data, size_t len)
{
    struct outcome *o = user;
    if (o->pause_every && !paused_now && o->chunks > 0 && o->chunks % o->pause_every == 0) {
        /* refuse this chunk; it must come again after the resume */
        paused_now = true;
        uv_timer_t *t = sl_calloc(1, sizeof(*t));
        uv_timer_init(o->loop, t);
        t->data = o;
        uv_timer_start(t, resume_later, 5, 0);
        return S3_HTTP_BODY_PAUSE;
    }
    paused_now = false;
    o->chunks++;
    must(sl_buf_append(&o->body, data, len));
    return S3_HTTP_BODY_CONSUMED;
}

static void submit(struct fixture *f, const char *method, const char *path, struct outcome *o,
                   const char *body)
{
    const char *headers[] = { "X-Custom: 1" };
    s3_http_request_spec spec = {
        .method = method,
        .url = url(f, path),
        .headers = headers,
        .header_count = 1,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
        .on_header = on_header,
        .on_body = on_body,
        .on_done = on_done,
        .user = o,
    };
    o->loop = &f->loop;
    must(s3_http_submit(f->http, &spec, &o->handle));
}

/* The same with a deadline (spec.not_after_ms). */
static void submit_not_after(struct fixture *f, const char *path, struct outcome *o, uint64_t not_after_ms)
{
    s3_http_request_spec spec = {
        .method = "PUT",
        .url = url(f, path),
        .body = (const uint8_t *)"late",
        .body_len = 4,
        .on_body = on_body,
        .on_done = on_done,
        .user = o,
        .not_after_ms = not_after_ms,
    };
    o->loop = &f->loop;
    must(s3_http_submit(f->http, &spec, &o->handle));
}

static void outcome_clean_up(struct outcome *o)
{
    sl_buf_clean_up(&o->body);
    sl_buf_clean_up(&o->headers);
}

/* ---- tests ---- */

static void get_delivers_status_headers_and_body(void **state)
{
    struct fixture *f = *state;
    struct outcome o = { 0 };
    submit(f, "GET", "/ok", &o, NULL);
    assert_false(o.done); /* never synchronous */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(o.done);
    assert_int_equal(o.result.error, SL_OK);
    assert_int_equal(o.result.status, 200);
    assert_string_equal(sl_buf_cstr(&o.body), "hello");
    assert_non_null(strstr(sl_buf_cstr(&o.headers), "X-Test=yes;"));
    assert_int_equal(o.result.body_bytes, 5);
    outcome_clean_up(&o);
}

static void put_and_post_send_the_body(void **state)
{
    struct fixture *f = *state;
    struct outcome put = { 0 }, post = { 0 }, del = { 0 }, head = { 0 };
    submit(f, "PUT", "/echo", &put, "put-body");
    submit(f, "POST", "/echo", &post, "<Delete/>");
    submit(f, "DELETE", "/echo", &del, NULL);
    submit(f, "HEAD", "/ok", &head, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_string_equal(sl_buf_cstr(&put.body), "put-body");
    assert_non_null(strstr(sl_buf_cstr(&put.headers), "X-Method=PUT;"));
    assert_string_equal(sl_buf_cstr(&post.body), "<Delete/>");
    assert_non_null(strstr(sl_buf_cstr(&post.headers), "X-Method=POST;"));
    assert_non_null(strstr(sl_buf_cstr(&del.headers), "X-Method=DELETE;"));
    assert_int_equal(head.result.status, 200);
    assert_int_equal(head.body.len, 0);
    outcome_clean_up(&put);
    outcome_clean_up(&post);
    outcome_clean_up(&del);
    outcome_clean_up(&head);
}

/* A request whose deadline has passed when it would go on the wire is not sent: the peer
 * never sees it, and the error says nothing happened (SL_ERR_DEADLINE). One within its
 * deadline goes as usual. */
static void a_request_past_its_deadline_is_not_sent(void **state)
{
    struct fixture *f = *state;
    struct outcome late = { 0 }, timely = { 0 };
    uint64_t now = uv_hrtime() / 1000000u;
    submit_not_after(f, "/echo", &late, now > 0 ? now : 1);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(late.done);
    assert_int_equal(late.result.error, SL_ERR_DEADLINE);
    assert_non_null(strstr(late.detail, "not sent"));
    assert_int_equal(f->server.requests, 0);
    submit_not_after(f, "/echo", &timely, uv_hrtime() / 1000000u + 60000);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(timely.result.error, SL_OK);
    assert_string_equal(sl_buf_cstr(&timely.body), "late");
    assert_int_equal(f->server.requests, 1);
    outcome_clean_up(&late);
    outcome_clean_up(&timely);
}

static void sequential_requests_reuse_one_connection(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 10; i++) {
        struct outcome o = { 0 };
        submit(f, "GET", "/ok", &o, NULL);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        assert_int_equal(o.result.status, 200);
        outcome_clean_up(&o);
    }
    assert_int_equal(f->server.connections, 1);
    s3_http_stats st = s3_http_get_stats(f->http);
    assert_int_equal(st.submitted, 10);
    assert_int_equal(st.completed, 10);
}

/* Kept-alive and closed connections in turns: the socket handle kept between transfers
 * on one connection, a new one when the server closes it and the fd number comes back. */
static void sockets_kept_and_closed_in_turns(void **state)
{
    struct fixture *f = *state;
    const char *paths[] = { "/ok", "/ok", "/close", "/ok", "/close", "/close", "/ok", "/ok" };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            struct outcome o = { 0 };
            submit(f, "GET", paths[i], &o, NULL);
            uv_run(&f->loop, UV_RUN_DEFAULT);
            assert_int_equal(o.result.error, SL_OK);
            assert_int_equal(o.result.status, 200);
            outcome_clean_up(&o);
        }
    }
    /* each /close ends a connection: 3 of them per round, and a new one after each */
    assert_int_equal(f->server.connections, 3 * 3 + 1);
    s3_http_stats st = s3_http_get_stats(f->http);
    assert_int_equal(st.completed, 3 * 8);
}

static void in_flight_is_bounded_and_the_rest_queue(void **state)
{
    struct fixture *f = *state;
    struct outcome o[20];
    memset(o, 0, sizeof(o));
    unsigned done = 0;
    for (int i = 0; i < 20; i++) {
        o[i].counter = &done;
        submit(f, "GET", "/slow/20", &o[i], NULL);
    }
    uv_run(&f->loop, UV_RUN_NOWAIT);
    s3_http_stats st = s3_http_get_stats(f->http);
    assert_true(st.in_flight <= 4);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(o[i].result.status, 200);
        outcome_clean_up(&o[i]);
    }
    assert_true(f->server.max_open_requests <= 4);
    assert_true(f->server.max_open_requests >= 2);
}

static void large_body_survives_pause_and_resume(void **state)
{
    struct fixture *f = *state;
    struct outcome o = { .pause_every = 3 };
    submit(f, "GET", "/bytes/3000000", &o, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(o.result.error, SL_OK);
    assert_int_equal(o.body.len, 3000000);
    assert_int_equal(o.result.body_bytes, 3000000);
    for (size_t i = 0; i < o.body.len; i += 4099) assert_int_equal(o.body.data[i], i % 251);
    assert_true(o.chunks > 3);
    outcome_clean_up(&o);
}

static void first_byte_timeout_is_reported(void **state)
{
    struct fixture *f = *state;
    struct outcome o = { 0 };
    submit(f, "GET", "/slow/2000", &o, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(o.result.error, SL_ERR_TIMEOUT);
    assert_non_null(strstr(o.detail, "300 ms"));
    outcome_clean_up(&o);
}

static void reset_and_cut_body_are_connection_errors(void **state)
{
    struct fixture *f = *state;
    struct outcome reset = { 0 }, cut = { 0 };
    submit(f, "GET", "/reset", &reset, NULL);
    submit(f, "GET", "/cut", &cut, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(reset.result.error, SL_ERR_CONNECTION);
    assert_int_equal(cut.result.error, SL_ERR_CONNECTION);
    assert_int_equal(cut.body.len, 10); /* what arrived was delivered, and flagged incomplete */
    outcome_clean_up(&reset);
    outcome_clean_up(&cut);
}

static void connection_refused_is_a_connection_error(void **state)
{
    struct fixture *f = *state;
    struct outcome o = { 0 };
    s3_http_request_spec spec = { .method = "GET", .url = "http://127.0.0.1:1/", .on_done = on_done, .user = &o };
    must(s3_http_submit(f->http, &spec, NULL));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(o.result.error, SL_ERR_CONNECTION);
    assert_int_equal(o.result.status, 0);
    assert_true(strlen(o.detail) > 0);
}

static void cancel_completes_once_with_cancelled(void **state)
{
    struct fixture *f = *state;
    struct outcome slow = { 0 }, queued[6];
    memset(queued, 0, sizeof(queued));
    submit(f, "GET", "/slow/200", &slow, NULL);
    for (int i = 0; i < 6; i++) submit(f, "GET", "/slow/10", &queued[i], NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    s3_http_cancel(slow.handle);
    s3_http_cancel(queued[5].handle); /* still waiting for a slot */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(slow.result.error, SL_ERR_CANCELLED);
    assert_int_equal(queued[5].result.error, SL_ERR_CANCELLED);
    for (int i = 0; i < 5; i++) assert_int_equal(queued[i].result.status, 200);
    outcome_clean_up(&slow);
    for (int i = 0; i < 6; i++) outcome_clean_up(&queued[i]);
}

static void destroy_cancels_outstanding_requests(void **state)
{
    struct fixture *f = *state;
    struct outcome o = { 0 };
    submit(f, "GET", "/slow/5000", &o, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    s3_http_destroy(f->http);
    f->http = NULL;
    assert_true(o.done);
    assert_int_equal(o.result.error, SL_ERR_CANCELLED);
    outcome_clean_up(&o);
}

static void bad_requests_are_refused_without_callback(void **state)
{
    struct fixture *f = *state;
    struct outcome o = { 0 };
    const char *evil[] = { "X-A: 1\r\nX-Injected: 2" };
    s3_http_request_spec spec = { .method = "GET", .url = url(f, "/ok"), .headers = evil, .header_count = 1,
                                  .on_done = on_done, .user = &o };
    assert_true(sl_failed(s3_http_submit(f->http, &spec, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    spec.header_count = 0;
    spec.on_done = NULL;
    assert_true(sl_failed(s3_http_submit(f->http, &spec, NULL)));
    spec.on_done = on_done;
    spec.body_len = 3;
    assert_true(sl_failed(s3_http_submit(f->http, &spec, NULL)));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_false(o.done);

    s3_http_options bad = s3_http_options_default();
    bad.max_in_flight = 0;
    s3_http *h = NULL;
    assert_true(sl_failed(s3_http_new(&f->loop, &bad, &h)));
    assert_null(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_delivers_status_headers_and_body, setup, teardown),
        cmocka_unit_test_setup_teardown(put_and_post_send_the_body, setup, teardown),
        cmocka_unit_test_setup_teardown(a_request_past_its_deadline_is_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(sequential_requests_reuse_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(sockets_kept_and_closed_in_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(in_flight_is_bounded_and_the_rest_queue, setup_small, teardown),
        cmocka_unit_test_setup_teardown(large_body_survives_pause_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(first_byte_timeout_is_reported, setup_small, teardown),
        cmocka_unit_test_setup_teardown(reset_and_cut_body_are_connection_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_refused_is_a_connection_error, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_completes_once_with_cancelled, setup_small, teardown),
        cmocka_unit_test_setup_teardown(destroy_cancels_outstanding_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_requests_are_refused_without_callback, setup, teardown),
    };
    return cmocka_run_group_tests_name("s3_http", tests, NULL, NULL);
}
