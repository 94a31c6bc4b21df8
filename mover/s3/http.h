/*
 * http.h — the HTTP transport under the S3 client: one libuv loop drives one libcurl
 * multi handle, so hundreds of requests are in flight on one thread.
 *
 * How the parts fit: curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION →
 * one uv_poll_t per socket) and when to wake it (CURLMOPT_TIMERFUNCTION → one
 * uv_timer_t); both call curl_multi_socket_action and then collect finished transfers.
 * At most `max_in_flight` requests are handed to curl at once; the rest wait in a FIFO.
 * Connections are kept alive and reused by curl's connection cache. Each request has a
 * connect timeout, a first-byte timeout (our own uv_timer_t, stopped by the first
 * response header), an optional total timeout, and a low-speed abort for streams.
 * Retries are not done here: the S3 layer decides (it must re-sign each attempt).
 *
 * Threading: every function must be called on the loop's thread, and every callback
 * runs there. The done callback is always called asynchronously, exactly once, for
 * every request that s3_http_submit accepted; when submit fails, no callback runs.
 *
 * Ownership: the engine copies the URL, method and headers; the request body is
 * borrowed and must stay valid until the done callback. A request handle is valid
 * from submit until its done callback returns.
 */
#ifndef SLUICE_S3_HTTP_H
#define SLUICE_S3_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/buf.h"
#include "util/error.h"

typedef struct s3_http s3_http;
typedef struct s3_http_request s3_http_request;

typedef struct s3_http_options {
    unsigned max_in_flight;         /* requests given to curl at once (default 64) */
    long connect_timeout_ms;        /* default 5000 */
    long first_byte_timeout_ms;     /* submit-to-first-header, default 30000; 0 = none */
    long total_timeout_ms;          /* whole transfer; 0 = none (default, for streams) */
    long low_speed_bytes_per_s;     /* abort when slower than this ... */
    long low_speed_time_s;          /* ... for this long (default 1 byte/s for 30 s) */
    bool verify_tls;                /* verify peer and host name (default true) */
    const char *ca_file;            /* CA bundle; NULL = the system's (copied) */
} s3_http_options;

/* What the body callback tells the transport. */
typedef enum s3_http_body_action {
    S3_HTTP_BODY_CONSUMED = 0, /* the chunk was used; keep going */
    S3_HTTP_BODY_PAUSE,        /* the chunk was NOT used: it is delivered again after
                                  s3_http_resume (libcurl's CURL_WRITEFUNC_PAUSE contract) */
    S3_HTTP_BODY_ABORT,        /* stop: the request completes with SL_ERR_CANCELLED */
} s3_http_body_action;

/* The outcome of one HTTP exchange. */
typedef struct s3_http_result {
    sl_error error;      /* SL_OK when a complete response arrived (any status) */
    long status;         /* HTTP status, 0 without a response */
    const char *detail;  /* what went wrong, "" on success; valid during the callback */
    uint64_t body_bytes; /* response body bytes delivered to the body callback */
} s3_http_result;

typedef void s3_http_header_fn(void *user, sl_cursor name, sl_cursor value);
typedef s3_http_body_action s3_http_body_fn(void *user, const uint8_t *data, size_t len);
typedef void s3_http_done_fn(void *user, const s3_http_result *result);

typedef struct s3_http_request_spec {
    const char *method;          /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *url;             /* fully encoded */
    const char *const *headers;  /* "Name: value" lines, header_count of them */
    size_t header_count;
    const uint8_t *body;         /* request body (borrowed), may be NULL */
    size_t body_len;
    s3_http_header_fn *on_header; /* each response header (not the status line); may be NULL */
    s3_http_body_fn *on_body;     /* response body chunks; NULL discards the body */
    s3_http_done_fn *on_done;     /* required */
    void *user;
    uint64_t not_after_ms;        /* a monotonic time in ms (uv_hrtime() / 1e6): the request is
                                     not sent at or after it — checked by curl just before the
                                     request goes on the wire (after queueing and connecting) —
                                     and ends SL_ERR_DEADLINE, nothing sent; 0: no bound */
} s3_http_request_spec;

/* Counters since the engine was created. */
typedef struct s3_http_stats {
    uint64_t submitted;  /* requests accepted by s3_http_submit (each retry is one) */
    uint64_t completed;  /* done callbacks run */
    unsigned in_flight;  /* handed to curl now */
    unsigned queued;     /* waiting for a slot */
} s3_http_stats;

/* Defaults as documented on each field. */
s3_http_options s3_http_options_default(void);

/* Creates an engine on `loop`. Errors: bad options (SL_ERR_INVALID_ARGUMENT), a libcurl
 * built without the features needed (SL_ERR_UNSUPPORTED). */
SL_MUST_CHECK sl_result s3_http_new(uv_loop_t *loop, const s3_http_options *options, s3_http **out);

/* Cancels every request (done callbacks run with SL_ERR_CANCELLED), then closes the
 * engine's libuv handles and frees it once they are closed: run the loop afterwards.
 * NULL is fine. */
void s3_http_destroy(s3_http *http);

/* Queues a request. On success *out (may be NULL) is the handle for pause/resume/cancel. */
SL_MUST_CHECK sl_result s3_http_submit(s3_http *http, const s3_http_request_spec *spec,
                                       s3_http_request **out);

/* Flow control for a response body: resume delivery after S3_HTTP_BODY_PAUSE. */
void s3_http_resume(s3_http_request *request);

/* Stops a request; its done callback runs soon with SL_ERR_CANCELLED. */
void s3_http_cancel(s3_http_request *request);

/* The HTTP status of the response being received (0 before its status line). For use
 * in the header and body callbacks. */
long s3_http_request_status(const s3_http_request *request);

s3_http_stats s3_http_get_stats(const s3_http *http);

#endif /* SLUICE_S3_HTTP_H */
