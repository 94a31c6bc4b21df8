/*
 * test_http.c — unit tests of the libuv + libcurl transport (mover/s3/http.c).
 *
 * The peer is a small HTTP/1.1 server written here on the same libuv loop, listening
 * on an ephemeral 127.0.0.1 port. The path of each request picks its behaviour:
 *   /ok            200 "hello"
 *   /echo          200, body = request body, X-Method = request method
 *   /bytes/N       200 with N bytes (i % 251)
 *   /slow/MS       answers after MS milliseconds
 *   /reset         closes the connection with a TCP reset, no answer
 *   /cut           promises 1000 bytes, sends 10, closes
 *   /close         200 "bye!!" with Connection: close, then closes
 * The server counts connections and the most requests it had open at once, so the
 * tests can prove connection reuse and the in-flight bound. Its handles are unref'd,
 * so uv_run(UV_RUN_DEFAULT) returns as soon as the client side has nothing to do.
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

#include "s3/http.h"
#include "util/alloc.h"
#include "util/buf.h"

/* ---- the test server ---- */

struct server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    unsigned connections;
    unsigned open_requests;
    unsigned max_open_requests;
};

struct conn {
    uv_tcp_t tcp;
    struct server *server;
    sl_buf in;
    uv_timer_t delay;
    sl_buf pending_reply;
    bool closing;
};

struct write_req {
    uv_write_t req;
    sl_buf data;
    bool close_after;
};

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if ((uv_handle_t *)&c->tcp == h) {
        sl_buf_clean_up(&c->in);
        sl_buf_clean_up(&c->pending_reply);
        uv_close((uv_handle_t *)&c->delay, conn_closed); /* frees c when done */
    } else {
        sl_free(c);
    }
}

static void conn_close(struct conn *c)
{
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    struct write_req *w = (struct write_req *)req;
    struct conn *c = req->data;
    if (w->close_after) conn_close(c);
    sl_buf_clean_up(&w->data);
    sl_free(w);
}

static void send_bytes(struct conn *c, sl_buf *data, bool close_after)
{
    struct write_req *w = sl_calloc(1, sizeof(*w));
    w->data = *data;
    *data = (sl_buf){ 0 };
    w->close_after = close_after;
    w->req.data = c;
    uv_buf_t b = uv_buf_init((char *)w->data.data, (unsigned)w->data.len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) != 0) {
        sl_buf_clean_up(&w->data);
        sl_free(w);
        conn_close(c);
    }
}

static void request_finished(struct conn *c) { c->server->open_requests--; }

static void delayed_reply(uv_timer_t *t)
{
    struct conn *c = t->data;
    request_finished(c);
    send_bytes(c, &c->pending_reply, false);
}

static void must(sl_result r) { assert_true(sl_ok(r)); }

/* Handles one complete request in c->in (head ends at head_len, body follows). */
static void handle_request(struct conn *c, size_t head_len, size_t body_len)
{
    struct server *s = c->server;
    s->open_requests++;
    if (s->open_requests > s->max_open_requests) s->max_open_requests = s->open_requests;

    char method[16] = "", path[256] = "";
    sscanf((const char *)c->in.data, "%15s %255s", method, path);
    const uint8_t *body = c->in.data + head_len;
    sl_buf reply = { 0 };

    if (strcmp(path, "/ok") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello"));
    } else if (strcmp(path, "/echo") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nX-Method: %s\r\nContent-Length: %zu\r\n\r\n", method,
                            body_len));
        must(sl_buf_append(&reply, body, body_len));
    } else if (strncmp(path, "/bytes/", 7) == 0) {
        size_t n = strtoul(path + 7, NULL, 10);
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n));
        for (size_t i = 0; i < n; i++) must(sl_buf_append_byte(&reply, (uint8_t)(i % 251)));
    } else if (strncmp(path, "/slow/", 6) == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"));
        c->pending_reply = reply;
        uv_timer_start(&c->delay, delayed_reply, strtoul(path + 6, NULL, 10), 0);
        return;
    } else if (strcmp(path, "/close") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nbye!!"));
        request_finished(c);
        send_bytes(c, &reply, true);
        return;
    } else if (strcmp(path, "/reset") == 0) {
        request_finished(c);
        c->closing = true;
        uv_tcp_close_reset(&c->tcp, conn_closed);
        return;
    } else if (strcmp(path, "/cut") == 0) {
        must(sl_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789"));
        request_finished(c);
        send_bytes(c, &reply, true);
        return;
    } else {
        must(sl_buf_appendf(&reply, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
    }
    request_finished(c);
    send_bytes(c, &reply, false);
}

static void try_parse(struct conn *c)
{
    const char *start = (const char *)c->in.data;
    const char *end = c->in.len ? memmem(start, c->in.len, "\r\n\r\n", 4) : NULL;
    if (end == NULL) return;
    size_t head_len = (size_t)(end - start) + 4;
    size_t body_len = 0;
    const char *cl = strcasestr(start, "\r\ncontent-length:");
    if (cl != NULL && cl < end) body_len = strtoul(cl + 17, NULL, 10);
    if (c->in.len < head_len + body_len) return;
    handle_request(c, head_len, body_len);
    /* one request at a time per connection (curl does not pipeline HTTP/1.1) */
    size_t used = head_len + body_len;
    memmove(c->in.data, c->in.data + used, c->in.len - used);
    c->in.len -= used;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = sl_malloc(suggested);
    buf->len = suggested;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (nread < 0) {
        conn_close(c);
    } else if (nread > 0 && !c->closing) {
        must(sl_buf_append(&c->in, buf->base, (size_t)nread));
        try_parse(c);
    }
    sl_free(buf->base);
}

static void on_connection(uv_stream_t *listener, int status)
{
    assert_int_equal(status, 0);
    struct server *s = listener->data;
    struct conn *c = sl_calloc(1, sizeof(*c));
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->delay);
    c->tcp.data = c;
    c->delay.data = c;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
    /* the server never keeps the loop alive: uv_run returns when the client is idle */
    uv_unref((uv_handle_t *)&c->tcp);
    uv_unref((uv_handle_t *)&c->delay);
    s->connections++;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void server_start(struct server *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, on_connection), 0);
    uv_unref((uv_handle_t *)&s->listener);
    struct sockaddr_storage name;
    int len = sizeof(name);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&name, &len);
    s->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h)) return;
    if (h->type == UV_TCP && h->data != NULL && h->data != arg) {
        conn_close(h->data);
        return;
    }
    if (h->type == UV_TIMER) return; /* closed with their connection */
    uv_close(h, NULL);
}

/* ---- fixture ---- */

struct fixture {
    uv_loop_t loop;
    struct server server;
    s3_http *http;
};

static int setup_with(void **state, s3_http_options opts)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    server_start(&f->server, &f->loop);
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
    uv_walk(&f->loop, close_any, &f->server);
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
