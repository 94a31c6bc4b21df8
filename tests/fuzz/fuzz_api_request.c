/*
 * fuzz_api_request.c — libFuzzer target over the daemon's socket API (mover/api/api.c
 * and its router) with whatever bytes a local client may send: each input is written
 * on a fresh connection to a real API server on a Unix socket, the client then shuts
 * its sending side and reads until the server closes.
 *
 * Invariants (any broken one aborts):
 *   - the server ends the connection (no input keeps it waiting once the client has
 *     stopped sending; every step is bounded by STUCK_MS);
 *   - what it sent is a sequence of well-formed HTTP/1.1 responses and nothing else:
 *     interim 100 Continue, then final answers with a status 200..599,
 *     Content-Type: application/json, Content-Length (but for 204/304), and a body that
 *     is one JSON object ending in a newline (none for HEAD, 204 and 304);
 *   - every request gets exactly one answer: the number of final answers is the number
 *     an independent http-parser pass over the input predicts — one per complete
 *     request up to the first that ends the connection (Connection: close, HTTP/1.0,
 *     an upgrade, a version other than 1.x, a body over the limit), plus one for a
 *     request that breaks the HTTP grammar or is cut short by the end of the input.
 *
 * The server has the routes the daemon's kinds of endpoint need: health, a JSON echo,
 * a reviewer-only and an orchestrator-only route, an answer on a 0 ms timer, a handler
 * that answers with the status its path names (including invalid ones). The fuzzing
 * user is a reviewer (not an orchestrator). Inputs over FUZZ_MAX_INPUT bytes are skipped
 * (they must fit in the socket's buffer before the server reads).
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <jansson.h>
#include <uv.h>

#include "api/api.h"
#include "api/health_endpoint.h"
#include "log/log.h"
#include "util/alloc.h"
#include "util/buf.h"

#define FUZZ_MAX_INPUT (32 * 1024)
#define MAX_HEADER (64 * 1024) /* above FUZZ_MAX_INPUT: the reference parser knows no header limit */
#define MAX_BODY ((size_t)1 << 20)
#define STUCK_MS 5000
#define MAX_ANSWERS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant: says which, then aborts (libFuzzer keeps the input). */
#define CHECK(cond, what)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_api_request: %s\n", what);                   \
            abort();                                                           \
        }                                                                      \
    } while (0)

static uv_loop_t loop;
static api_server *server;
static char sock_path[108];

/* ---- the server ---- */

static void echo(void *user, api_request *request, const api_request_info *info)
{
    (void)user;
    json_t *params = json_array();
    for (size_t i = 0; i < info->param_count; i++) json_array_append_new(params, json_string(info->params[i]));
    json_t *body = json_pack("{s:s,s:s,s:o,s:I,s:b}", "path", info->path, "query", info->query, "params", params,
                             "body_bytes", (json_int_t)info->body.len, "json", info->json != NULL);
    if (body == NULL) api_respond_error(request, API_ERR_BAD_REQUEST, "the path or query is not UTF-8");
    else api_respond(request, 200, body);
}

static void status(void *user, api_request *request, const api_request_info *info)
{
    (void)user;
    /* an error body, as every endpoint gives with an error status */
    api_respond(request, atoi(info->params[0]),
                json_pack("{s:s,s:s}", "error", "asked", "detail", "as asked"));
}

struct later {
    uv_timer_t timer;
    api_request *request;
};

static void later_closed(uv_handle_t *h) { sl_free(h->data); }

static void later_fire(uv_timer_t *t)
{
    struct later *l = t->data;
    api_respond(l->request, 200, json_pack("{s:b}", "late", 1));
    uv_close((uv_handle_t *)&l->timer, later_closed);
}

static void async_answer(void *user, api_request *request, const api_request_info *info)
{
    (void)user;
    (void)info;
    struct later *l = sl_calloc(1, sizeof(*l));
    l->request = request;
    uv_timer_init(&loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, later_fire, 0, 0);
}

static const api_route routes[] = {
    { "GET", "/v1/health", API_ROLE_ANY, false, health_endpoint_handler, NULL },
    { "GET", "/v1/things", API_ROLE_ANY, false, echo, NULL },
    { "POST", "/v1/things", API_ROLE_ANY, true, echo, NULL },
    { "GET", "/v1/things/{id}", API_ROLE_ANY, false, echo, NULL },
    { "GET", "/v1/things/{id}/parts/{part}", API_ROLE_ANY, false, echo, NULL },
    { "POST", "/v1/artifacts/{id}/decision", API_ROLE_REVIEWER, true, echo, NULL },
    { "POST", "/v1/tasks", API_ROLE_ORCHESTRATOR, true, echo, NULL },
    { "POST", "/v1/raw", API_ROLE_ANY, false, echo, NULL },
    { "GET", "/v1/async", API_ROLE_ANY, false, async_answer, NULL },
    { "GET", "/v1/status/{code}", API_ROLE_ANY, false, status, NULL },
};

static void start_server(void)
{
    static char dir[] = "/tmp/sluice-fuzz-api-XXXXXX";
    if (mkdtemp(dir) == NULL) abort();
    snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
    uv_loop_init(&loop);
    struct passwd *pw = getpwuid(geteuid());
    static const char *reviewers[1];
    reviewers[0] = pw ? pw->pw_name : "root";
    api_options o = { .socket_path = sock_path, .socket_mode = 0600, .reviewers = reviewers, .reviewer_count = 1,
                      .max_header = MAX_HEADER, .max_body = MAX_BODY, .max_connections_per_user = 4 };
    if (sl_failed(api_server_new(&loop, &o, routes, sizeof(routes) / sizeof(routes[0]), &server))) {
        fprintf(stderr, "fuzz_api_request: %s\n", sl_error_detail());
        abort();
    }
}

/* ---- the reference: how many answers the input asks for ---- */

struct reference {
    size_t answers;
    bool started;   /* a request begun and not complete */
    bool stop;      /* the server ends the connection here */
    bool head[MAX_ANSWERS]; /* whether answer i is to a HEAD request */
};

static int ref_begin(http_parser *p)
{
    struct reference *r = p->data;
    r->started = true;
    return 0;
}

static int ref_headers(http_parser *p)
{
    struct reference *r = p->data;
    bool too_large = (p->flags & F_CONTENTLENGTH) != 0 && p->content_length > MAX_BODY;
    if (p->http_major != 1 || too_large) { /* answered (505, 413) and closed by the server */
        r->stop = true;
        return -1;
    }
    return 0;
}

static int ref_complete(http_parser *p)
{
    struct reference *r = p->data;
    if (r->answers < MAX_ANSWERS) r->head[r->answers] = p->method == HTTP_HEAD;
    r->answers++;
    r->started = false;
    if (!http_should_keep_alive(p) || p->upgrade) r->stop = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings ref_settings = {
    .on_message_begin = ref_begin,
    .on_headers_complete = ref_headers,
    .on_message_complete = ref_complete,
};

static void predict(const uint8_t *data, size_t size, struct reference *r)
{
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = r;
    size_t at = 0;
    while (at < size) {
        at += http_parser_execute(&p, &ref_settings, (const char *)data + at, size - at);
        enum http_errno err = HTTP_PARSER_ERRNO(&p);
        if (err == HPE_PAUSED) { /* a request is complete */
            if (r->stop) return; /* ... and the server ends the connection after its answer */
            http_parser_pause(&p, 0);
            continue;
        }
        if (err != HPE_OK) { /* broken, too large, another version: one error answer, then the end */
            r->answers++;
            return;
        }
    }
    if (r->started) r->answers++; /* cut short by the end of the input: 400 */
}

/* ---- the responses ---- */

struct responses {
    const struct reference *ref;
    size_t finals;
    int status;
    bool json_type, has_length, in_field_type;
    sl_buf field, body;
};

static int resp_field(http_parser *p, const char *at, size_t len)
{
    struct responses *r = p->data;
    if (r->in_field_type) sl_buf_reset(&r->field), r->in_field_type = false;
    if (sl_failed(sl_buf_append(&r->field, at, len))) abort();
    return 0;
}

static int resp_value(http_parser *p, const char *at, size_t len)
{
    struct responses *r = p->data;
    r->in_field_type = true;
    if (sl_cursor_eq_ignore_case(sl_cursor_from_buf(&r->field), sl_cursor_from_cstr("content-type")) &&
        len == strlen("application/json") && memcmp(at, "application/json", len) == 0)
        r->json_type = true;
    if (sl_cursor_eq_ignore_case(sl_cursor_from_buf(&r->field), sl_cursor_from_cstr("content-length")))
        r->has_length = true;
    return 0;
}

static int resp_headers(http_parser *p)
{
    struct responses *r = p->data;
    r->in_field_type = true;
    r->status = p->status_code;
    if (r->status < 200) return 0; /* 100 Continue */
    CHECK(r->status <= 599, "a final status above 599");
    CHECK(r->json_type, "an answer without Content-Type: application/json");
    bool bodiless = r->status == 204 || r->status == 304;
    CHECK(bodiless || r->has_length, "an answer without Content-Length");
    bool head = r->finals < MAX_ANSWERS && r->finals < r->ref->answers && r->ref->head[r->finals];
    return head ? 1 : 0; /* a HEAD answer has no body to read */
}

static int resp_body(http_parser *p, const char *at, size_t len)
{
    struct responses *r = p->data;
    if (sl_failed(sl_buf_append(&r->body, at, len))) abort();
    return 0;
}

static int resp_complete(http_parser *p)
{
    struct responses *r = p->data;
    if (r->status >= 200) {
        bool head = r->finals < MAX_ANSWERS && r->finals < r->ref->answers && r->ref->head[r->finals];
        bool bodiless = head || r->status == 204 || r->status == 304;
        if (bodiless) {
            CHECK(r->body.len == 0, "a body on a HEAD, 204 or 304 answer");
        } else {
            CHECK(r->body.len > 0 && r->body.data[r->body.len - 1] == '\n', "a body that does not end in a newline");
            json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
            CHECK(json_is_object(j), "a body that is not one JSON object");
            CHECK(r->status < 400 || (json_is_string(json_object_get(j, "error")) &&
                                      json_is_string(json_object_get(j, "detail"))),
                  "an error answer without error and detail");
            json_decref(j);
        }
        r->finals++;
    }
    r->json_type = r->has_length = false;
    r->in_field_type = false;
    sl_buf_reset(&r->field);
    sl_buf_reset(&r->body);
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = resp_field,
    .on_header_value = resp_value,
    .on_headers_complete = resp_headers,
    .on_body = resp_body,
    .on_message_complete = resp_complete,
};

/* ---- one input ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Writes the input, shuts the sending side, runs the server's loop and reads until it
 * closes the connection; everything read goes to out. One thread: the client's socket
 * and the loop's backend are polled together. */
static void exchange(const uint8_t *data, size_t size, sl_buf *out)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) abort();
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) abort();
    size_t sent = 0;
    bool shut = false, eof = false;
    uint64_t start = now_ms();
    char chunk[65536];
    while (!eof) {
        if (now_ms() - start > STUCK_MS) {
            fprintf(stderr, "fuzz_api_request: the server did not end the connection within %d ms\n", STUCK_MS);
            abort();
        }
        while (sent < size) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0) sent += (size_t)n;
            else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            else sent = size; /* the server has closed: the rest is never read */
        }
        if (sent == size && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        for (;;) {
            ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
            if (n > 0) {
                if (sl_failed(sl_buf_append(out, chunk, (size_t)n))) abort();
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = true;
            break;
        }
        if (eof) break;
        int timeout = uv_backend_timeout(&loop);
        if (timeout < 0 || timeout > 50) timeout = 50;
        struct pollfd p[2] = { { .fd = fd, .events = (short)(POLLIN | (sent < size ? POLLOUT : 0)) },
                               { .fd = uv_backend_fd(&loop), .events = POLLIN } };
        (void)poll(p, 2, timeout);
    }
    close(fd);
    uv_run(&loop, UV_RUN_NOWAIT); /* let the server finish closing its side */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (server == NULL) {
        sl_log_configure(SL_LOG_ERROR, false); /* the api_bad_status lines only */
        start_server();
    }
    if (size > FUZZ_MAX_INPUT) return 0;
    struct reference ref = { 0 };
    predict(data, size, &ref);
    sl_buf out = { 0 };
    exchange(data, size, &out);

    struct responses r = { .ref = &ref };
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &r;
    size_t used = http_parser_execute(&p, &resp_settings, (const char *)out.data, out.len);
    if (HTTP_PARSER_ERRNO(&p) != HPE_OK || used != out.len) {
        fprintf(stderr, "fuzz_api_request: the server's bytes are not HTTP responses (%s at byte %zu)\n",
                http_errno_name(HTTP_PARSER_ERRNO(&p)), used);
        abort();
    }
    if (r.finals != ref.answers) {
        fprintf(stderr, "fuzz_api_request: %zu answers to an input that asks for %zu\n", r.finals, ref.answers);
        abort();
    }
    sl_buf_clean_up(&r.field);
    sl_buf_clean_up(&r.body);
    sl_buf_clean_up(&out);
    return 0;
}
