/*
 * api.h — the daemon's HTTP/1.1 + JSON API on a Unix socket, served on the loop.
 *
 * Who is calling is the OS user behind the connection (SO_PEERCRED, resolved to a user
 * name when the connection is accepted), mapped to roles from the configuration
 * (review.reviewers, review.orchestrators). A route names the roles it needs; a caller
 * with none of them gets 403. Requests are parsed with http-parser; headers and bodies
 * are bounded, malformed HTTP or JSON gets 400, a request's head and body each have a
 * deadline of a few seconds, idle clients are closed, and connections are admitted per
 * user: each uid may hold only a share of the connections, and a reserve is kept for
 * users who hold none, so one local user cannot lock the others out.
 * Every error body is {"error": "<short code>", "detail": "<what and what to do>"}, its
 * code and status from the one error table (api/errors.h), for the server's own errors
 * and every endpoint's. docs/api.md describes the protocol as clients see it.
 *
 * Layering: mover/api/ is the top of the daemon. The endpoints (*_endpoints.c) call the
 * engine through its public headers (pipeline/desk.h, pipeline/pipeline.h,
 * tasks/tasks.h) and map its typed results to this table; nothing below mover/api/
 * includes from it (tests/layering_test.sh fails the build's tests if something does).
 *
 * A connection serves one request at a time (keep-alive; pipelined requests are parsed
 * after the answer to the one before). Every response carries
 * `Content-Type: application/json` and `Content-Length`; a JSON body ends with "\n".
 *
 * Handlers may answer later (after S3 calls): they keep the api_request and call
 * api_respond (or api_respond_error) exactly once; the request and its info stay valid
 * until then. If the client goes away meanwhile, or the server is closed, api_respond
 * just frees the request (api_request_client_gone tells a handler it may stop early).
 * A handler may answer from inside its own call, and may call api_server_close.
 *
 * The process must ignore SIGPIPE (sluice-mover does): libuv writes to a client that
 * has left would raise it.
 *
 * Threading: loop thread only. Ownership: the server copies its options and the role
 * lists; route patterns, methods and user pointers are borrowed for the server's
 * lifetime.
 */
#ifndef SLUICE_API_API_H
#define SLUICE_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "api/errors.h"
#include "util/buf.h"
#include "util/error.h"

typedef struct api_server api_server;
typedef struct api_request api_request;

/* Roles, as bits. */
enum {
    API_ROLE_REVIEWER = 1u << 0,
    API_ROLE_ORCHESTRATOR = 1u << 1,
    API_ROLE_OPERATOR = 1u << 2, /* review.operators: may retry failed artifacts */
    API_ROLE_ANY = 1u << 15, /* any connected local user (health) */
};

/* Zero-initialised numbers take the defaults. */
typedef struct api_options {
    const char *socket_path;    /* at most 107 bytes; missing folders are created 0711 */
    unsigned socket_mode;       /* e.g. 0660 (0: 0660); at most 0777 */
    const char *const *reviewers;     /* OS user names */
    size_t reviewer_count;
    const char *const *orchestrators;
    size_t orchestrator_count;
    const char *const *operators;
    size_t operator_count;
    size_t max_body;            /* default 1 MiB; more is answered 413 */
    size_t max_header;          /* default 16 KiB: request line + header names and values;
                                   more is answered 431 (http-parser itself stops at 80 KiB) */
    uint64_t idle_timeout_ms;   /* default 10 s: a connection on which no request starts within
                                   this (from the connection or the previous answer) is closed;
                                   also the time a client has to take an answer */
    uint64_t head_timeout_ms;   /* default 3 s: from a request's first byte to the end of its
                                   head; then 408 and the connection is closed */
    uint64_t body_timeout_ms;   /* default 5 s: from the end of the head to the end of the body;
                                   then 408 and the connection is closed */
    unsigned max_connections;   /* default 256 served at once; beyond, 503 busy and closed */
    unsigned max_connections_per_user; /* default 32 (a quarter of max_connections when that
                                   is below 128): a uid holding this many gets 503 busy */
    unsigned reserve;           /* default 32 (at most half of max_connections): the last `reserve`
                                   slots go only to uids holding no connection, so one
                                   user filling the daemon cannot lock others out */
    const char *tcp_listen;     /* "host:port" or "[v6]:port": serve on TCP instead of the
                                   Unix socket (socket_path and socket_mode are unused) —
                                   for /metrics. TCP callers have no peer credentials: no
                                   user, no roles; only API_ROLE_ANY routes answer them. */
    const char *const *kept_headers; /* header names (borrowed; at most API_MAX_KEPT_HEADERS)
                                   whose values handlers see in api_request_info.headers, in
                                   this order: "authorization" for the events listener. Such a
                                   header given twice is answered 400. */
    size_t kept_header_count;
} api_options;

#define API_MAX_KEPT_HEADERS 4

/* What a handler sees of the request. Valid until api_respond. */
typedef struct api_request_info {
    const char *method;       /* "GET", "POST" */
    const char *path;         /* decoded path, without the query */
    const char *query;        /* raw query string without "?", or "" */
    const char *params[4];    /* the {…} parts of the route pattern, in order */
    size_t param_count;
    sl_cursor body;
    json_t *json;             /* the body parsed, when the route wants JSON (else NULL) */
    uid_t uid;
    pid_t pid;
    const char *user;         /* the caller's OS user name (its decimal uid when the uid
                                 has no passwd entry) */
    unsigned roles;           /* API_ROLE_REVIEWER / _ORCHESTRATOR / _OPERATOR bits the caller
                                 holds now (API_ROLE_ANY is never set here) */
    sl_cursor headers[API_MAX_KEPT_HEADERS]; /* the values of api_options.kept_headers, in
                                 their order (empty when absent) */
} api_request_info;

typedef void api_handler_fn(void *user, api_request *request, const api_request_info *info);

typedef struct api_route {
    const char *method;    /* upper case: "GET", "POST" */
    const char *pattern;   /* "/v1/artifacts/{id}/decision": {name} matches one non-empty
                              segment, percent-decoded (at most 4 per pattern) */
    unsigned roles;        /* any of these roles may call it; API_ROLE_ANY: everyone */
    bool json_body;        /* the body must be a JSON object (400 bad_json otherwise;
                              duplicate keys are refused) */
    api_handler_fn *handler;
    void *user;
} api_route;

/* Creates the socket (replacing a stale one; refusing if another process answers on it:
 * "another daemon is serving PATH"; never removing a file that is not a socket), sets
 * its mode and starts serving. Routes are checked first (two of one method with the same
 * shape are refused). When several routes of one method match a path, the most specific
 * wins ("/v1/tasks/active" before "/v1/tasks/{id}", whatever their order); a path
 * matching only routes of other methods gets 405 with Allow, an unknown path 404. Errors: SL_ERR_INVALID_ARGUMENT
 * (options or a route), SL_ERR_IO with the path and errno text; on error nothing listens
 * and no socket file is left behind. */
SL_MUST_CHECK sl_result api_server_new(uv_loop_t *loop, const api_options *options, const api_route *routes,
                                       size_t route_count, api_server **out);

/* Answers `status` (200..599) with the JSON body (ownership taken; NULL = no body,
 * Content-Length 0; 204 and 304 never carry one). Frees the request: do not touch it
 * afterwards. A body that cannot be serialised, or a status out of range, is answered
 * 500. */
void api_respond(api_request *request, int status, json_t *body);

/* Answers `status` with `body`'s bytes (taken: the buffer is left empty) and this
 * Content-Type instead of JSON (the Prometheus text of /metrics). A status outside
 * 200..599 or a missing content type is answered 500. */
void api_respond_bytes(api_request *request, int status, const char *content_type, sl_buf *body);

/* Answers the error's status with {"error": its code, "detail": detail} — the table's
 * default detail when `detail` is NULL (bytes that are not UTF-8 become '?'). */
void api_respond_error(api_request *request, api_error error, const char *detail);

/* The same with a printf-style detail (at most 1 KiB; longer is cut). */
void api_respond_errorf(api_request *request, api_error error, const char *fmt, ...) SL_PRINTF(3, 4);

/* An error about one field of the request (a body member or a query parameter):
 * {"error", "detail", "field": field} — `field` shown cut to 64 bytes with control
 * bytes as '?', so a client (or a person) knows which one to fix. */
void api_respond_field_error(api_request *request, api_error error, const char *field, const char *fmt, ...)
    SL_PRINTF(4, 5);

/* True once the client has gone (or the server closed): the answer will be dropped. */
bool api_request_client_gone(const api_request *request);

/* Replaces the role lists (SIGHUP); copied. Applies to the next request of every
 * connection, open ones included (user names are resolved per connection). */
/* Replaces the operators (review.operators; SIGHUP), as api_server_set_roles does. */
void api_server_set_operators(api_server *server, const char *const *operators, size_t operator_count);

void api_server_set_roles(api_server *server, const char *const *reviewers, size_t reviewer_count,
                          const char *const *orchestrators, size_t orchestrator_count);

/* Stops listening, closes every connection (pending requests are dropped: their later
 * api_respond calls only free them), removes the socket file, frees once closed. */
void api_server_close(api_server *server);

#endif /* SLUICE_API_API_H */
