/*
 * http_peer.h — a small HTTP/1.1 server on the test's own libuv loop, for the unit tests
 * of the transport (test_http.c) and the S3 client (test_s3_client.c): it listens on an
 * ephemeral 127.0.0.1 port, frames each request (head, then a Content-Length body; one
 * request at a time per connection, as curl sends them) and hands it to the test's
 * handler, which answers now or later, hangs up, or resets the connection.
 *
 * Its handles are unref'd, so uv_run(UV_RUN_DEFAULT) returns as soon as the client side
 * has nothing left to do. It counts connections, requests, and the most requests it had
 * open (handled, not yet answered) at once, so tests can prove connection reuse and
 * in-flight bounds.
 *
 * Threading: the loop's thread only. Ownership: the peer lives in the test's fixture;
 * http_peer_close_all closes its handles (run the loop afterwards). Failures of the peer
 * itself fail the test (cmocka).
 */
#ifndef SLUICE_TESTS_HTTP_PEER_H
#define SLUICE_TESTS_HTTP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/buf.h"

typedef struct http_peer http_peer;
typedef struct http_peer_conn http_peer_conn;

typedef struct http_peer_request {
    const char *method;  /* "GET", ... */
    const char *target;  /* the request target as sent: path and query */
    const char *head;    /* the request line and header lines, without the blank line */
    size_t head_len;
    const uint8_t *body;
    size_t body_len;
} http_peer_request;

/* One complete request; the handler must answer it (http_peer_reply, _reply_after,
 * _hang_up or _reset) before it returns or, with _reply_after, later. The request's
 * pointers are valid only during the call. */
typedef void http_peer_handler(http_peer *p, http_peer_conn *c, const http_peer_request *r);

struct http_peer {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    http_peer_handler *handle;
    void *data;            /* the test's */
    unsigned connections;  /* accepted so far */
    unsigned requests;     /* handled so far */
    unsigned open_requests;
    unsigned max_open_requests;
    http_peer_conn *conns; /* open connections (the peer's own) */
};

/* Listens on 127.0.0.1:<ephemeral> (p->port). */
void http_peer_start(http_peer *p, uv_loop_t *loop, http_peer_handler *handle, void *data);

/* Sends `response` (taken: *response is emptied) as the whole answer; the connection is
 * closed once it is written when close_after. */
void http_peer_reply(http_peer_conn *c, sl_buf *response, bool close_after);

/* The same, `ms` milliseconds from now. */
void http_peer_reply_after(http_peer_conn *c, sl_buf *response, uint64_t ms);

/* No answer: the connection is closed after the request arrived. */
void http_peer_hang_up(http_peer_conn *c);

/* No answer: the connection is reset (TCP RST). */
void http_peer_reset(http_peer_conn *c);

/* Closes the listener, every connection and every other handle of the loop that is
 * not closing yet (a fixture's teardown; run the loop afterwards). */
void http_peer_close_all(http_peer *p);

#endif /* SLUICE_TESTS_HTTP_PEER_H */
