/*
 * http_peer.c — see http_peer.h.
 */
#include "http_peer.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"

struct http_peer_conn {
    uv_tcp_t tcp;
    uv_timer_t delay;
    http_peer *peer;
    http_peer_conn *next;    /* the peer's open connections */
    sl_buf in;
    sl_buf pending_reply;    /* http_peer_reply_after */
    int open_handles;        /* tcp and delay, until both are closed */
    bool closing;
};

struct write_req {
    uv_write_t req;
    http_peer_conn *conn;
    sl_buf data;
    bool close_after;
};

static void must(sl_result r)
{
    if (sl_failed(r)) fail_msg("http_peer: %s", sl_error_detail());
}

/* ---- connections ---- */

/* Both handles of a connection close together; the second to finish frees it. */
static void handle_closed(uv_handle_t *h)
{
    http_peer_conn *c = h->data;
    if (--c->open_handles > 0) return;
    sl_buf_clean_up(&c->in);
    sl_buf_clean_up(&c->pending_reply);
    sl_free(c);
}

static void unlink_conn(http_peer_conn *c)
{
    for (http_peer_conn **at = &c->peer->conns; *at != NULL; at = &(*at)->next) {
        if (*at == c) {
            *at = c->next;
            return;
        }
    }
}

static void conn_close(http_peer_conn *c, bool reset)
{
    if (c->closing) return;
    c->closing = true;
    unlink_conn(c);
    uv_close((uv_handle_t *)&c->delay, handle_closed);
    if (reset) uv_tcp_close_reset(&c->tcp, handle_closed);
    else uv_close((uv_handle_t *)&c->tcp, handle_closed);
}

/* ---- answers ---- */

static void answered(http_peer_conn *c)
{
    if (c->peer->open_requests > 0) c->peer->open_requests--;
}

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    struct write_req *w = (struct write_req *)req;
    if (w->close_after) conn_close(w->conn, false);
    sl_buf_clean_up(&w->data);
    sl_free(w);
}

void http_peer_reply(http_peer_conn *c, sl_buf *response, bool close_after)
{
    answered(c);
    struct write_req *w = sl_calloc(1, sizeof(*w));
    w->conn = c;
    w->data = *response;
    *response = (sl_buf){ 0 };
    w->close_after = close_after;
    uv_buf_t b = uv_buf_init((char *)w->data.data, (unsigned)w->data.len);
    if (c->closing || uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) != 0) {
        sl_buf_clean_up(&w->data);
        sl_free(w);
        conn_close(c, false);
    }
}

static void reply_now(uv_timer_t *t)
{
    http_peer_conn *c = t->data;
    http_peer_reply(c, &c->pending_reply, false);
}

void http_peer_reply_after(http_peer_conn *c, sl_buf *response, uint64_t ms)
{
    sl_buf_clean_up(&c->pending_reply);
    c->pending_reply = *response;
    *response = (sl_buf){ 0 };
    uv_timer_start(&c->delay, reply_now, ms, 0);
}

void http_peer_hang_up(http_peer_conn *c)
{
    answered(c);
    conn_close(c, false);
}

void http_peer_reset(http_peer_conn *c)
{
    answered(c);
    conn_close(c, true);
}

/* ---- requests ---- */

static void take_request(http_peer_conn *c, size_t head_len, size_t body_len)
{
    http_peer *p = c->peer;
    char method[16] = "", target[2048] = "";
    assert_int_equal(sscanf((const char *)c->in.data, "%15s %2047s", method, target), 2);
    p->requests++;
    if (++p->open_requests > p->max_open_requests) p->max_open_requests = p->open_requests;
    http_peer_request r = { .method = method, .target = target, .head = (const char *)c->in.data,
                            .head_len = head_len - 4, .body = c->in.data + head_len, .body_len = body_len };
    p->handle(p, c, &r);
}

/* Hands every complete request in c->in to the handler, in order. */
static void try_parse(http_peer_conn *c)
{
    while (!c->closing) {
        const char *start = (const char *)c->in.data;
        const char *end = c->in.len ? memmem(start, c->in.len, "\r\n\r\n", 4) : NULL;
        if (end == NULL) return;
        size_t head_len = (size_t)(end - start) + 4;
        size_t body_len = 0;
        for (const char *l = memchr(start, '\n', head_len); l != NULL && l < end;
             l = memchr(l + 1, '\n', (size_t)(end - l))) {
            if (strncasecmp(l + 1, "content-length:", 15) == 0) body_len = strtoul(l + 16, NULL, 10);
        }
        if (c->in.len < head_len + body_len) return;
        take_request(c, head_len, body_len);
        if (c->closing) return; /* the handler hung up: c->in is gone with the connection soon */
        size_t used = head_len + body_len;
        memmove(c->in.data, c->in.data + used, c->in.len - used);
        c->in.len -= used;
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = sl_malloc(suggested);
    buf->len = suggested;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_peer_conn *c = stream->data;
    if (nread < 0) {
        conn_close(c, false);
    } else if (nread > 0 && !c->closing) {
        must(sl_buf_append(&c->in, buf->base, (size_t)nread));
        try_parse(c);
    }
    sl_free(buf->base);
}

static void on_connection(uv_stream_t *listener, int status)
{
    assert_int_equal(status, 0);
    http_peer *p = listener->data;
    http_peer_conn *c = sl_calloc(1, sizeof(*c));
    c->peer = p;
    c->open_handles = 2;
    uv_tcp_init(p->loop, &c->tcp);
    uv_timer_init(p->loop, &c->delay);
    c->tcp.data = c;
    c->delay.data = c;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
    /* the peer never keeps the loop alive: uv_run returns when the client is idle */
    uv_unref((uv_handle_t *)&c->tcp);
    uv_unref((uv_handle_t *)&c->delay);
    c->next = p->conns;
    p->conns = c;
    p->connections++;
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb), 0);
}

void http_peer_start(http_peer *p, uv_loop_t *loop, http_peer_handler *handle, void *data)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->handle = handle;
    p->data = data;
    struct sockaddr_in addr;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(loop, &p->listener), 0);
    p->listener.data = p;
    assert_int_equal(uv_tcp_bind(&p->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&p->listener, 128, on_connection), 0);
    uv_unref((uv_handle_t *)&p->listener);
    struct sockaddr_storage name;
    int len = sizeof(name);
    assert_int_equal(uv_tcp_getsockname(&p->listener, (struct sockaddr *)&name, &len), 0);
    p->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
}

/* ---- teardown ---- */

static void close_other(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void http_peer_close_all(http_peer *p)
{
    while (p->conns != NULL) conn_close(p->conns, false);
    uv_walk(p->loop, close_other, NULL);
}
