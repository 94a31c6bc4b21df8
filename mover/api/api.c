/*
 * api.c — the HTTP/1.1 + JSON server on a Unix socket (see api.h and docs/api.md).
 *
 * The socket is made with plain system calls (folder checks, stale-socket check, bind
 * under a umask that gives the socket its mode from the first moment, listen) and only
 * then handed to libuv, so a failure leaves nothing behind. Each accepted connection is
 * a `struct conn` holding a uv_pipe_t, a deadline timer and an http-parser; it is in
 * one of three phases:
 *   READING   bytes go straight into the parser; the timer holds the phase's deadline,
 *             which bytes do not extend: idle_timeout until a request's first byte, then
 *             head_timeout until its head is complete, then body_timeout until its
 *             body is (so a slow client is cut like an idle one). on_message_complete
 *             pauses the parser: the bytes after the request are kept in `pending`,
 *             and the request is dispatched. A client that shuts its sending side in
 *             the middle of a request gets 400 (every request started gets an answer).
 *   HANDLING  the request is with its handler; reading goes on only to notice a client
 *             that leaves (bytes read meanwhile are kept in `pending`, at most
 *             MAX_READ_AHEAD, then reading stops); the timer is off.
 *   WRITING   the answer is queued; the timer bounds how long the client may take to
 *             read it. When the write completes the next request is parsed from
 *             `pending`, then from the socket.
 * A protocol error (malformed HTTP, too large, timeout) is answered with its JSON error
 * and the connection closed.
 *
 * Fairness: the caller's uid is read (SO_PEERCRED) as the connection is accepted, and
 * admission is decided on it: a uid may hold at most max_connections_per_user; one that
 * already holds a connection gets a slot only while fewer than max_connections - reserve
 * are served, so the last `reserve` slots go to users who hold none. A connection not
 * admitted is answered 503 busy and closed, never read (beyond MAX_REJECTING such
 * answers in flight, closed unanswered). `users` counts the connections of each uid
 * (a short array: at most max_connections uids hold one). A conn is freed when both its
 * handles have closed; the server when its listener and every conn are gone.
 *
 * Headers are not kept, except those named in api_options.kept_headers (the events
 * listener's Authorization): their values move into the request and are wiped when it
 * is freed.
 *
 * The same server also runs on TCP (api_options.tcp_listen, for /metrics and the events
 * listener): the
 * listener and the connections are then uv_tcp_t (the handle unions below), there are
 * no peer credentials (no user, no roles), and no socket file to make or remove.
 * api_respond_bytes answers with a body that is not JSON.
 *
 * An api_request is a separate object the handler owns until api_respond; conn and
 * request point at each other, and closing a conn clears request->conn, which is all
 * api_respond needs to know to drop the answer. (Request framing follows RFC 9112;
 * status codes RFC 9110 section 15 and RFC 6585 for 431.)
 */
#include "api/api.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <netdb.h>

#include <http_parser.h>

#include "api/router.h"
#include "log/log.h"
#include "util/alloc.h"
#include "util/json_read.h"

#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define DEFAULT_MAX_HEADER ((size_t)16 << 10)
#define DEFAULT_IDLE_TIMEOUT_MS 10000
#define DEFAULT_HEAD_TIMEOUT_MS 3000
#define DEFAULT_BODY_TIMEOUT_MS 5000
#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_MAX_PER_USER 32
#define DEFAULT_RESERVE 32
#define DEFAULT_SOCKET_MODE 0660
#define READ_CHUNK 65536
#define MAX_READ_AHEAD ((size_t)64 << 10) /* bytes kept beyond the request being answered */
#define MAX_REJECTING 64                  /* 503 answers in flight; beyond, close unanswered */
#define BUSY_LOG_INTERVAL_MS 10000

enum phase { PHASE_READING, PHASE_HANDLING, PHASE_WRITING };

/* What the timer of a conn waits for. */
enum deadline { DEADLINE_IDLE, DEADLINE_HEAD, DEADLINE_BODY, DEADLINE_WRITE };

struct conn {
    api_server *server;
    union {                /* used as (uv_stream_t *)&c->pipe */
        uv_pipe_t unix_socket;
        uv_tcp_t tcp;      /* a server on TCP (api_options.tcp_listen) */
    } pipe;
    uv_timer_t timer;
    unsigned open_handles;
    struct conn *prev, *next;
    http_parser parser;
    enum phase phase;
    bool rejected;  /* not admitted: answered 503, never read */
    bool counted;   /* counted in the server's users[] */
    enum deadline deadline;
    bool closing;
    bool reading;   /* uv_read_start in effect */
    bool peer_eof;  /* the client shut its sending side */
    uid_t uid;
    pid_t pid;
    char *user;

    /* the request being read */
    bool started;        /* its first byte came */
    bool keep_alive;
    bool in_value;       /* between a header's value and the next name */
    bool expect_continue;
    size_t header_bytes;
    sl_buf url, body, field, expect;
    sl_buf kept[API_MAX_KEPT_HEADERS]; /* values of api_options.kept_headers */
    bool kept_seen[API_MAX_KEPT_HEADERS];
    int keeping;         /* the kept header whose value is being read, or -1 */
    bool failed;         /* set by a parser callback that refuses the request */
    api_error fail_error;
    char fail_detail[200];

    sl_buf pending;      /* bytes read beyond the current request */
    api_request *request; /* dispatched, not answered yet */
};

struct api_request {
    struct conn *conn; /* NULL once the connection is gone */
    api_request_info info;
    char *path, *query, *user;
    char *params[API_ROUTER_MAX_PARAMS];
    sl_buf body;
    sl_buf kept[API_MAX_KEPT_HEADERS];
    json_t *json;
    bool head;         /* a HEAD request: answer without the body */
    uint64_t started_ms;
};

struct api_server {
    uv_loop_t *loop;
    union {
        uv_pipe_t unix_socket;
        uv_tcp_t tcp;
    } listener;
    bool listener_open;
    bool tcp;            /* listening on options.tcp_listen, not on a Unix socket */
    bool closing;
    api_options options;
    char *socket_path;
    dev_t socket_dev;
    ino_t socket_ino;
    char **reviewers, **orchestrators, **operators;
    size_t reviewer_count, orchestrator_count, operator_count;
    router router;
    struct conn *conns;  /* every open conn, served or rejected */
    unsigned serving;    /* conns counted against max_connections */
    unsigned rejecting;
    struct user_count { uid_t uid; unsigned count; } *users; /* conns served per uid */
    size_t user_count;
    unsigned live;       /* conns not yet freed */
    uint64_t refused;    /* connections answered 503 since the last log line */
    uint64_t refused_logged_ms;
    char read_buf[READ_CHUNK]; /* every read lands here and is consumed at once */
};

struct write_req {
    uv_write_t req;
    sl_buf head, body;
    bool is_answer;   /* false for "100 Continue" */
    bool close_after;
};

static void conn_close(struct conn *c);
static void feed(struct conn *c, const char *data, size_t len);
static void arm(struct conn *c, enum deadline what);

/* ---- responses ---- */

static const char *reason(int status)
{
    const char *text = http_status_str((enum http_status)status);
    return strcmp(text, "<unknown>") == 0 ? "Status" : text;
}

static int dump_to_buf(const char *bytes, size_t len, void *data)
{
    return sl_ok(sl_buf_append(data, bytes, len)) ? 0 : -1;
}

/* A JSON string of `text`, with bytes that are not UTF-8 replaced by '?'. */
static json_t *safe_string(const char *text)
{
    json_t *s = json_string(text);
    if (s != NULL) return s;
    char *copy = sl_strdup(text);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    s = json_string(copy);
    sl_free(copy);
    return s;
}

static json_t *error_body(api_error error, const char *detail)
{
    json_t *body = json_object();
    json_object_set_new(body, "error", safe_string(api_error_code(error)));
    json_object_set_new(body, "detail", safe_string(detail ? detail : api_error_message(error)));
    return body;
}

static void on_written(uv_write_t *req, int status);

static void conn_write(struct conn *c, struct write_req *w)
{
    w->req.data = c;
    uv_buf_t bufs[2] = { uv_buf_init((char *)w->head.data, (unsigned)w->head.len),
                         uv_buf_init((char *)w->body.data, (unsigned)w->body.len) };
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, bufs, w->body.len > 0 ? 2 : 1, on_written) != 0) {
        sl_buf_clean_up(&w->head);
        sl_buf_clean_up(&w->body);
        sl_free(w);
        conn_close(c);
    }
}

/* Appends `json` and "\n" to buf; false (buf reset) if it cannot be serialised. */
static bool dump_json(json_t *json, sl_buf *buf)
{
    if (json_dump_callback(json, dump_to_buf, buf, JSON_COMPACT) == 0 && sl_ok(sl_buf_append_byte(buf, '\n')))
        return true;
    sl_buf_reset(buf);
    return false;
}

/* Serialises an answer into a write request. `extra` holds whole header lines. 204 and
 * 304 carry neither a body nor Content-Length (RFC 9110 sections 8.6, 15.3.5); HEAD
 * gets the head of the answer without its body. */
static struct write_req *build_answer(int status, json_t *body, const char *extra, bool close_after,
                                      bool head_only)
{
    struct write_req *w = sl_calloc(1, sizeof(*w));
    w->is_answer = true;
    w->close_after = close_after;
    json_t *replacement = NULL;
    if (status < 200 || status > 599) { /* 1xx would break the framing: a handler's mistake */
        sl_log(SL_LOG_ERROR, "api_bad_status", "detail", "a handler answered with a status outside 200..599",
               NULL);
        status = 500;
        body = replacement = error_body(API_ERR_INTERNAL, "the daemon answered with an invalid status; see its log");
    }
    bool bodiless = status == 204 || status == 304;
    if (body != NULL && !bodiless && !dump_json(body, &w->body)) {
        status = 500;
        json_decref(replacement);
        replacement = error_body(API_ERR_INTERNAL, "the answer could not be encoded as JSON");
        (void)dump_json(replacement, &w->body);
    }
    json_decref(replacement);
    char length[48] = "";
    if (!bodiless) snprintf(length, sizeof(length), "Content-Length: %zu\r\n", w->body.len);
    if (sl_failed(sl_buf_appendf(&w->head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s%s%s\r\n",
                                 status, reason(status), length, extra ? extra : "",
                                 close_after ? "Connection: close\r\n" : ""))) {
        /* cannot happen (the head is a few hundred bytes) */
        sl_buf_reset(&w->head);
    }
    if (head_only) sl_buf_clean_up(&w->body);
    return w;
}

/* An answer whose body is `raw` (its bytes are taken) with its own Content-Type. */
static struct write_req *build_raw_answer(int status, const char *content_type, sl_buf *raw, const char *extra,
                                          bool close_after, bool head_only)
{
    struct write_req *w = sl_calloc(1, sizeof(*w));
    w->is_answer = true;
    w->close_after = close_after;
    w->body = *raw;
    *raw = (sl_buf){ 0 };
    if (sl_failed(sl_buf_appendf(&w->head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                                 status, reason(status), content_type, w->body.len, extra ? extra : "",
                                 close_after ? "Connection: close\r\n" : "")))
        sl_buf_reset(&w->head);
    if (head_only) sl_buf_clean_up(&w->body);
    return w;
}

static void request_free(api_request *r)
{
    sl_free(r->path);
    sl_free(r->query);
    sl_free(r->user);
    for (size_t i = 0; i < r->info.param_count; i++) sl_free(r->params[i]);
    sl_buf_clean_up(&r->body);
    for (size_t i = 0; i < API_MAX_KEPT_HEADERS; i++) sl_buf_clean_up_secure(&r->kept[i]); /* secrets */
    json_decref(r->json);
    sl_free(r);
}

/* Answers with the JSON `body`, or with `raw` (taken) of `content_type` when raw is not
 * NULL. */
static void send_answer(api_request *r, int status, json_t *body, const char *extra, const char *content_type,
                        sl_buf *raw)
{
    struct conn *c = r->conn;
    if (c == NULL) {
        json_decref(body);
        if (raw != NULL) sl_buf_clean_up(raw);
        request_free(r);
        return;
    }
    c->request = NULL;
    if (sl_log_enabled(SL_LOG_DEBUG)) {
        char code[8], ms[24];
        snprintf(code, sizeof(code), "%d", status);
        snprintf(ms, sizeof(ms), "%" PRIu64, uv_now(c->server->loop) - r->started_ms);
        sl_log(SL_LOG_DEBUG, "api_request", "method", r->info.method, "path", r->path ? r->path : "", "status",
               code, "user", c->user, "ms", ms, NULL);
    }
    char headers[256];
    snprintf(headers, sizeof(headers), "%s%s", extra ? extra : "",
             c->keep_alive && c->parser.http_minor == 0 ? "Connection: keep-alive\r\n" : "");
    struct write_req *w = raw != NULL ? build_raw_answer(status, content_type, raw, headers, !c->keep_alive, r->head)
                                      : build_answer(status, body, headers, !c->keep_alive, r->head);
    json_decref(body);
    request_free(r);
    c->phase = PHASE_WRITING;
    arm(c, DEADLINE_WRITE);
    conn_write(c, w);
}

static void respond(api_request *r, int status, json_t *body, const char *extra)
{
    send_answer(r, status, body, extra, NULL, NULL);
}

void api_respond(api_request *request, int status, json_t *body) { respond(request, status, body, NULL); }

void api_respond_bytes(api_request *request, int status, const char *content_type, sl_buf *body)
{
    if (status < 200 || status > 599 || content_type == NULL || body == NULL) {
        if (body != NULL) sl_buf_clean_up(body);
        respond(request, 500, error_body(API_ERR_INTERNAL, "the daemon answered with an invalid status"), NULL);
        return;
    }
    send_answer(request, status, NULL, NULL, content_type, body);
}

void api_respond_error(api_request *request, api_error error, const char *detail)
{
    respond(request, api_error_status(error), error_body(error, detail), NULL);
}

void api_respond_errorf(api_request *request, api_error error, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    api_respond_error(request, error, detail);
}

void api_respond_field_error(api_request *request, api_error error, const char *field, const char *fmt, ...)
{
    char detail[1024], shown[68];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    sl_json_printable(field ? field : "", shown);
    json_t *body = error_body(error, detail);
    json_object_set_new(body, "field", safe_string(shown));
    respond(request, api_error_status(error), body, NULL);
}

bool api_request_client_gone(const api_request *request) { return request->conn == NULL; }

/* Answers a request the parser refused (c->fail_*) and closes the connection after. */
static void answer_failure(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
    json_t *body = error_body(c->fail_error, c->fail_detail);
    struct write_req *w = build_answer(api_error_status(c->fail_error), body, NULL, true, false);
    json_decref(body);
    c->phase = PHASE_WRITING;
    arm(c, DEADLINE_WRITE);
    conn_write(c, w);
}

static void fail(struct conn *c, api_error error, const char *fmt, ...) SL_PRINTF(3, 4);

static void fail(struct conn *c, api_error error, const char *fmt, ...)
{
    if (c->failed) return;
    c->failed = true;
    c->fail_error = error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail_detail, sizeof(c->fail_detail), fmt, ap);
    va_end(ap);
}

/* ---- deadlines ---- */

static void on_timeout(uv_timer_t *timer);

/* Starts the deadline `what` (replacing the one running). */
static void arm(struct conn *c, enum deadline what)
{
    const api_options *o = &c->server->options;
    uint64_t ms = what == DEADLINE_HEAD ? o->head_timeout_ms : what == DEADLINE_BODY ? o->body_timeout_ms
                                                                                    : o->idle_timeout_ms;
    c->deadline = what;
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ---- parser callbacks ---- */

static bool count_header_bytes(struct conn *c, size_t len)
{
    size_t total;
    size_t limit = c->server->options.max_header;
    if (!sl_add_size(c->header_bytes, len, &total) || total > limit) {
        fail(c, API_ERR_HEADERS_TOO_LARGE, "the request line and headers exceed %zu bytes", limit);
        return false;
    }
    c->header_bytes = total;
    return true;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    c->started = true;
    arm(c, DEADLINE_HEAD);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (!count_header_bytes(c, len) || sl_failed(sl_buf_append(&c->url, at, len))) return -1;
    return 0;
}

static void header_done(struct conn *c)
{
    if (sl_cursor_eq_ignore_case(sl_cursor_from_buf(&c->field), sl_cursor_from_cstr("expect")) &&
        sl_cursor_eq_ignore_case(sl_cursor_trim(sl_cursor_from_buf(&c->expect)), sl_cursor_from_cstr("100-continue")))
        c->expect_continue = true;
    sl_buf_reset(&c->field);
    sl_buf_reset(&c->expect);
    c->in_value = false;
    c->keeping = -1;
}

/* Which kept header (api_options.kept_headers) the current field names, or -1; one given
 * twice fails the request. */
static int kept_index(struct conn *c)
{
    const api_options *o = &c->server->options;
    for (size_t i = 0; i < o->kept_header_count; i++) {
        if (!sl_cursor_eq_ignore_case(sl_cursor_from_buf(&c->field), sl_cursor_from_cstr(o->kept_headers[i])))
            continue;
        if (c->kept_seen[i]) {
            fail(c, API_ERR_BAD_REQUEST, "the header %s is given twice", o->kept_headers[i]);
            return -2;
        }
        c->kept_seen[i] = true;
        return (int)i;
    }
    return -1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (!count_header_bytes(c, len)) return -1;
    if (c->in_value) header_done(c);
    if (sl_failed(sl_buf_append(&c->field, at, len))) return -1;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (!count_header_bytes(c, len)) return -1;
    if (!c->in_value && (c->keeping = kept_index(c)) == -2) return -1;
    c->in_value = true;
    if (c->keeping >= 0 && sl_failed(sl_buf_append(&c->kept[c->keeping], at, len))) return -1;
    if (sl_cursor_eq_ignore_case(sl_cursor_from_buf(&c->field), sl_cursor_from_cstr("expect")) &&
        sl_failed(sl_buf_append(&c->expect, at, len)))
        return -1;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    size_t limit = c->server->options.max_body;
    if (c->in_value) header_done(c);
    if (p->http_major != 1) {
        fail(c, API_ERR_HTTP_VERSION, "only HTTP/1.0 and HTTP/1.1 are served, not HTTP/%u.%u",
             p->http_major, p->http_minor);
        return -1;
    }
    bool has_length = (p->flags & F_CONTENTLENGTH) != 0;
    if (has_length && p->content_length > limit) {
        fail(c, API_ERR_BODY_TOO_LARGE, "the request body of %" PRIu64 " bytes exceeds the limit of %zu bytes",
             (uint64_t)p->content_length, limit);
        return -1;
    }
    bool has_body = (p->flags & F_CHUNKED) != 0 || (has_length && p->content_length > 0);
    if (has_body) arm(c, DEADLINE_BODY);
    if (c->expect_continue && has_body) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct write_req *w = sl_calloc(1, sizeof(*w));
        if (sl_failed(sl_buf_append(&w->head, cont, sizeof(cont) - 1))) {
            sl_free(w);
            return -1;
        }
        conn_write(c, w);
        if (c->closing) return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    size_t limit = c->server->options.max_body;
    size_t total;
    if (!sl_add_size(c->body.len, len, &total) || total > limit) {
        fail(c, API_ERR_BODY_TOO_LARGE, "the request body exceeds the limit of %zu bytes", limit);
        return -1;
    }
    if (sl_failed(sl_buf_append(&c->body, at, len))) return -1;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    http_parser_pause(p, 1); /* one request at a time: the rest waits in `pending` */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- dispatch ---- */

static unsigned roles_of(const api_server *s, const char *user)
{
    unsigned roles = 0;
    for (size_t i = 0; i < s->reviewer_count; i++)
        if (strcmp(s->reviewers[i], user) == 0) roles |= API_ROLE_REVIEWER;
    for (size_t i = 0; i < s->orchestrator_count; i++)
        if (strcmp(s->orchestrators[i], user) == 0) roles |= API_ROLE_ORCHESTRATOR;
    for (size_t i = 0; i < s->operator_count; i++)
        if (strcmp(s->operators[i], user) == 0) roles |= API_ROLE_OPERATOR;
    return roles;
}

static void forbid(api_request *r, unsigned needed)
{
    char text[512];
    if ((needed & (API_ROLE_REVIEWER | API_ROLE_ORCHESTRATOR | API_ROLE_OPERATOR)) == 0) {
        snprintf(text, sizeof(text), "no role may call %s %s", r->info.method, r->path);
    } else if (needed == API_ROLE_OPERATOR) {
        snprintf(text, sizeof(text),
                 "user '%s' is not an operator, the role %s %s needs; ask an administrator to add you to "
                 "review.operators",
                 r->user, r->info.method, r->path);
    } else {
        bool rev = needed & API_ROLE_REVIEWER, orch = needed & API_ROLE_ORCHESTRATOR;
        snprintf(text, sizeof(text),
                 "user '%s' has none of the roles %s%s%s for %s %s; ask an administrator to add you to %s%s%s",
                 r->user, rev ? "reviewer" : "", rev && orch ? ", " : "", orch ? "orchestrator" : "",
                 r->info.method, r->path, rev ? "review.reviewers" : "", rev && orch ? " or " : "",
                 orch ? "review.orchestrators" : "");
    }
    api_respond_error(r, API_ERR_FORBIDDEN, text);
}

static void dispatch(struct conn *c)
{
    api_server *s = c->server;
    c->phase = PHASE_HANDLING;
    uv_timer_stop(&c->timer);

    api_request *r = sl_calloc(1, sizeof(*r));
    r->conn = c;
    c->request = r;
    r->started_ms = uv_now(s->loop);
    r->head = c->parser.method == HTTP_HEAD;
    r->user = sl_strdup(c->user);
    r->body = c->body;
    c->body = (sl_buf){ 0 };
    r->info.method = http_method_str((enum http_method)c->parser.method);
    r->info.body = sl_cursor_from_buf(&r->body);
    for (size_t i = 0; i < API_MAX_KEPT_HEADERS; i++) {
        r->kept[i] = c->kept[i];
        c->kept[i] = (sl_buf){ 0 };
        r->info.headers[i] = sl_cursor_trim(sl_cursor_from_buf(&r->kept[i]));
    }
    r->info.uid = c->uid;
    r->info.pid = c->pid;
    r->info.user = r->user;
    r->info.roles = roles_of(s, r->user);
    r->info.query = "";

    struct http_parser_url u;
    http_parser_url_init(&u);
    if (c->url.len == 0 || http_parser_parse_url((const char *)c->url.data, c->url.len, 0, &u) != 0 ||
        !(u.field_set & (1u << UF_PATH))) {
        r->path = sl_strdup("");
        api_respond_error(r, API_ERR_BAD_REQUEST, "the request target must be a path such as /v1/health");
        return;
    }
    sl_cursor raw_path = sl_cursor_from_bytes(c->url.data + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    r->query = (u.field_set & (1u << UF_QUERY))
                   ? sl_cursor_dup(sl_cursor_from_bytes(c->url.data + u.field_data[UF_QUERY].off,
                                                        u.field_data[UF_QUERY].len))
                   : sl_strdup("");
    r->info.query = r->query;
    sl_buf decoded = { 0 };
    bool path_ok = router_percent_decode(raw_path, &decoded);
    r->path = sl_cursor_dup(sl_cursor_from_buf(&decoded));
    sl_buf_clean_up(&decoded);
    r->info.path = r->path;

    router_match m;
    router_outcome outcome = path_ok ? router_find(&s->router, r->info.method, raw_path, &m) : ROUTER_BAD_PATH;
    if (outcome == ROUTER_BAD_PATH) {
        api_respond_error(r, API_ERR_BAD_REQUEST,
                          "the path is malformed: it must start with '/' and hold no bad %-escape and no "
                          "encoded NUL byte");
        return;
    }
    if (outcome == ROUTER_NOT_FOUND) {
        char text[300];
        snprintf(text, sizeof(text), "there is no endpoint %s; docs/api.md lists them", r->path);
        api_respond_error(r, API_ERR_NOT_FOUND, text);
        return;
    }
    if (outcome == ROUTER_WRONG_METHOD) {
        char text[300], allow[128];
        snprintf(text, sizeof(text), "%s does not take %s; it takes %s", r->path, r->info.method, m.allow);
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", m.allow);
        respond(r, api_error_status(API_ERR_METHOD_NOT_ALLOWED), error_body(API_ERR_METHOD_NOT_ALLOWED, text), allow);
        return;
    }
    const api_route *route = m.route;
    for (size_t i = 0; i < m.param_count; i++) {
        r->params[i] = m.params[i];
        r->info.params[i] = m.params[i];
    }
    r->info.param_count = m.param_count;
    m.param_count = 0; /* the request owns them now */

    if (!(route->roles & API_ROLE_ANY) && !(route->roles & r->info.roles)) {
        forbid(r, route->roles);
        return;
    }
    if (route->json_body) {
        json_error_t error;
        char text[400];
        if (r->body.len == 0) {
            snprintf(text, sizeof(text), "%s %s needs a JSON object as its body", r->info.method, r->path);
            api_respond_error(r, API_ERR_BAD_JSON, text);
            return;
        }
        r->json = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &error);
        if (r->json == NULL) {
            snprintf(text, sizeof(text), "the body is not valid JSON: line %d, column %d: %s", error.line,
                     error.column, error.text);
            api_respond_error(r, API_ERR_BAD_JSON, text);
            return;
        }
        if (!json_is_object(r->json)) {
            static const char *const kinds[] = { "an object", "an array", "a string", "an integer",
                                                 "a real number", "true", "false", "null" };
            snprintf(text, sizeof(text), "the body must be a JSON object, not %s", kinds[json_typeof(r->json)]);
            api_respond_error(r, API_ERR_BAD_JSON, text);
            return;
        }
        r->info.json = r->json;
    }
    route->handler(route->user, r, &r->info);
    /* c may be closing now (the handler may have closed the server): touch nothing */
}

/* ---- connection life cycle ---- */

static void reset_request(struct conn *c)
{
    c->started = false;
    c->keep_alive = false;
    c->in_value = false;
    c->expect_continue = false;
    c->header_bytes = 0;
    sl_buf_reset(&c->url);
    sl_buf_clean_up(&c->body);
    sl_buf_reset(&c->field);
    sl_buf_reset(&c->expect);
    c->keeping = -1;
    for (size_t i = 0; i < API_MAX_KEPT_HEADERS; i++) {
        sl_buf_clean_up_secure(&c->kept[i]);
        c->kept_seen[i] = false;
    }
}

static void start_reading(struct conn *c);

/* The client shut its sending side while a request is read: a request it started can
 * never complete, and gets its answer (400); with none started, the connection ends. */
static void end_of_input(struct conn *c)
{
    if (!c->started) {
        conn_close(c);
        return;
    }
    fail(c, API_ERR_BAD_REQUEST, "the client stopped sending in the middle of a request");
    answer_failure(c);
}

/* After an answer is written: parse what is pending, then read on. */
static void next_request(struct conn *c)
{
    reset_request(c);
    c->phase = PHASE_READING;
    arm(c, DEADLINE_IDLE);
    http_parser_pause(&c->parser, 0);
    if (c->pending.len > 0) {
        sl_buf pending = c->pending;
        c->pending = (sl_buf){ 0 };
        feed(c, (const char *)pending.data, pending.len);
        sl_buf_clean_up(&pending);
        if (c->closing || c->phase != PHASE_READING) return;
    }
    if (c->peer_eof) {
        end_of_input(c); /* the client sent all it will: nothing more can come */
        return;
    }
    start_reading(c);
}

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = req->data;
    bool is_answer = w->is_answer, close_after = w->close_after;
    sl_buf_clean_up(&w->head);
    sl_buf_clean_up(&w->body);
    sl_free(w);
    if (c->closing) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (!is_answer) return;
    if (close_after) {
        conn_close(c);
        return;
    }
    next_request(c);
}

/* Runs the parser over bytes of the request being read (phase READING). */
static void feed(struct conn *c, const char *data, size_t len)
{
    size_t used = http_parser_execute(&c->parser, &parser_settings, data, len);
    if (c->closing) return;
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (!c->failed && err == HPE_PAUSED) {
        if (used < len && sl_failed(sl_buf_append(&c->pending, data + used, len - used))) {
            conn_close(c);
            return;
        }
        dispatch(c);
        return;
    }
    if (!c->failed && err != HPE_OK) {
        if (err == HPE_HEADER_OVERFLOW)
            fail(c, API_ERR_HEADERS_TOO_LARGE, "the request head exceeds http-parser's limit");
        else
            fail(c, API_ERR_BAD_REQUEST, "malformed HTTP request: %s", http_errno_description(err));
    }
    if (c->failed) answer_failure(c);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = handle->data;
    *buf = uv_buf_init(c->server->read_buf, sizeof(c->server->read_buf));
}

/* True when the client closed its socket (not just its sending side). */
static bool peer_closed(struct conn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&c->pipe, &fd) != 0) return true;
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    if (poll(&pfd, 1, 0) < 0) return false;
    return (pfd.revents & (POLLHUP | POLLERR)) != 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (c->closing || nread == 0) return;
    if (nread < 0) {
        if (nread != UV_EOF) {
            conn_close(c);
            return;
        }
        uv_read_stop(stream);
        c->reading = false;
        c->peer_eof = true;
        /* while reading, a request cut short can never complete (it is answered 400);
         * while answering, keep going for a client that only shut its sending side,
         * drop it if it is gone */
        if (peer_closed(c)) conn_close(c);
        else if (c->phase == PHASE_READING) end_of_input(c);
        return;
    }
    if (c->phase != PHASE_READING) {
        if (sl_failed(sl_buf_append(&c->pending, buf->base, (size_t)nread))) {
            conn_close(c);
            return;
        }
        if (c->pending.len >= MAX_READ_AHEAD) {
            uv_read_stop(stream);
            c->reading = false;
        }
        return;
    }
    feed(c, buf->base, (size_t)nread);
}

static void start_reading(struct conn *c)
{
    if (c->reading || c->peer_eof || c->closing) return;
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    c->reading = true;
}

static void on_timeout(uv_timer_t *timer)
{
    struct conn *c = timer->data;
    const api_options *o = &c->server->options;
    if (c->phase == PHASE_READING && c->started && !c->rejected) {
        if (c->deadline == DEADLINE_BODY)
            fail(c, API_ERR_REQUEST_TIMEOUT, "the request body was not complete within %" PRIu64 " ms of its head",
                 o->body_timeout_ms);
        else
            fail(c, API_ERR_REQUEST_TIMEOUT, "the request head was not complete within %" PRIu64 " ms of its first byte",
                 o->head_timeout_ms);
        answer_failure(c); /* the timer, restarted, bounds this answer too */
        return;
    }
    conn_close(c);
}

static void maybe_free_server(api_server *s);

static void on_conn_handle_closed(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    if (--c->open_handles > 0) return;
    api_server *s = c->server;
    sl_free(c->user);
    sl_buf_clean_up(&c->url);
    sl_buf_clean_up(&c->body);
    sl_buf_clean_up(&c->field);
    sl_buf_clean_up(&c->expect);
    for (size_t i = 0; i < API_MAX_KEPT_HEADERS; i++) sl_buf_clean_up_secure(&c->kept[i]);
    sl_buf_clean_up(&c->pending);
    sl_free(c);
    s->live--;
    maybe_free_server(s);
}

/* ---- connections per user ---- */

static struct user_count *user_find(api_server *s, uid_t uid)
{
    for (size_t i = 0; i < s->user_count; i++)
        if (s->users[i].uid == uid) return &s->users[i];
    return NULL;
}

static unsigned user_held(api_server *s, uid_t uid)
{
    const struct user_count *u = user_find(s, uid);
    return u ? u->count : 0;
}

/* users[] has room for max_connections uids (each holds at least one connection). */
static void user_take(api_server *s, uid_t uid)
{
    struct user_count *u = user_find(s, uid);
    if (u == NULL) {
        u = &s->users[s->user_count++];
        *u = (struct user_count){ .uid = uid };
    }
    u->count++;
}

static void user_release(api_server *s, uid_t uid)
{
    struct user_count *u = user_find(s, uid);
    if (u == NULL) return;
    if (--u->count == 0) *u = s->users[--s->user_count];
}

static void conn_close(struct conn *c)
{
    if (c->closing) return;
    c->closing = true;
    if (c->request != NULL) {
        c->request->conn = NULL; /* its api_respond will only free it */
        c->request = NULL;
    }
    api_server *s = c->server;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->rejected) s->rejecting--;
    else s->serving--;
    if (c->counted) user_release(s, c->uid);
    uv_close((uv_handle_t *)&c->pipe, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static char *user_name(uid_t uid)
{
    size_t size = 1024;
    char *scratch = NULL;
    struct passwd pw, *found = NULL;
    for (;;) {
        scratch = sl_realloc(scratch, size);
        int rc = getpwuid_r(uid, &pw, scratch, size, &found);
        if (rc == ERANGE && size < ((size_t)1 << 20)) {
            size *= 2;
            continue;
        }
        if (rc != 0) found = NULL;
        break;
    }
    char *name;
    if (found != NULL) {
        name = sl_strdup(pw.pw_name);
    } else {
        char text[24];
        snprintf(text, sizeof(text), "%lu", (unsigned long)uid);
        name = sl_strdup(text);
    }
    sl_free(scratch);
    return name;
}

/* Answers 503 busy (`why`) and closes; a flood beyond MAX_REJECTING answers in flight
 * is closed unanswered. Logged at most every BUSY_LOG_INTERVAL_MS. */
static void refuse_busy(struct conn *c, const char *why)
{
    api_server *s = c->server;
    c->rejected = true;
    s->rejecting++;
    s->refused++;
    uint64_t now = uv_now(s->loop);
    if (s->refused_logged_ms == 0 || now - s->refused_logged_ms >= BUSY_LOG_INTERVAL_MS) {
        char count[24], limit[24], per_user[24];
        snprintf(count, sizeof(count), "%" PRIu64, s->refused);
        snprintf(limit, sizeof(limit), "%u", s->options.max_connections);
        snprintf(per_user, sizeof(per_user), "%u", s->options.max_connections_per_user);
        sl_log(SL_LOG_WARN, "api_busy", "refused", count, "max_connections", limit, "max_connections_per_user",
               per_user, "last", why, "socket", s->socket_path, NULL);
        s->refused = 0;
        s->refused_logged_ms = now;
    }
    if (s->rejecting > MAX_REJECTING) {
        conn_close(c); /* a flood: not even an answer */
        return;
    }
    json_t *body = error_body(API_ERR_BUSY, why);
    struct write_req *w = build_answer(api_error_status(API_ERR_BUSY), body, "Retry-After: 1\r\n", true, false);
    json_decref(body);
    c->phase = PHASE_WRITING;
    arm(c, DEADLINE_WRITE);
    conn_write(c, w);
}

/* Whether a connection of `uid` may be served now (see the file's paragraph on
 * fairness); if not, why, into `why`. */
static bool admit(api_server *s, uid_t uid, char *why, size_t size)
{
    const api_options *o = &s->options;
    unsigned held = user_held(s, uid);
    if (held >= o->max_connections_per_user) {
        snprintf(why, size, "uid %lu holds its limit of %u connections; close one, or try again shortly",
                 (unsigned long)uid, o->max_connections_per_user);
        return false;
    }
    unsigned room = held > 0 ? o->max_connections - o->reserve : o->max_connections;
    if (s->serving >= room) {
        snprintf(why, size, "the daemon is serving its limit of %u connections; try again shortly", room);
        return false;
    }
    return true;
}

static void on_connection(uv_stream_t *listener, int status)
{
    api_server *s = listener->data;
    if (status < 0) {
        sl_log(SL_LOG_WARN, "api_accept_failed", "socket", s->socket_path, "detail", uv_strerror(status), NULL);
        return;
    }
    struct conn *c = sl_calloc(1, sizeof(*c));
    c->server = s;
    s->live++;
    if (s->tcp)
        uv_tcp_init(s->loop, &c->pipe.tcp);
    else
        uv_pipe_init(s->loop, &c->pipe.unix_socket, 0);
    ((uv_handle_t *)&c->pipe)->data = c;
    c->open_handles = 1;
    if (uv_accept(listener, (uv_stream_t *)&c->pipe) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->pipe, on_conn_handle_closed);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->open_handles++;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;

    uid_t uid = (uid_t)-1; /* TCP: no peer credentials, one pseudo-user for admission */
    if (!s->tcp) {
        uv_os_fd_t fd;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (uv_fileno((const uv_handle_t *)&c->pipe, &fd) != 0 ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
            sl_log(SL_LOG_WARN, "api_peer_unknown", "socket", s->socket_path, "detail", strerror(errno), NULL);
            c->rejected = true; /* never served: counted with the refused */
            s->rejecting++;
            conn_close(c);
            return;
        }
        uid = cred.uid;
        c->pid = cred.pid;
    }
    c->uid = uid;
    char why[200];
    if (!admit(s, uid, why, sizeof(why))) {
        refuse_busy(c, why);
        return;
    }
    s->serving++;
    user_take(s, uid);
    c->counted = true;
    /* TCP: no user, no roles; only API_ROLE_ANY routes answer */
    c->user = s->tcp ? sl_strdup("(tcp)") : user_name(uid);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->keeping = -1;
    c->phase = PHASE_READING;
    arm(c, DEADLINE_IDLE);
    start_reading(c);
}

/* ---- the socket ---- */

/* Creates `dir` and missing parents with mode 0711; never changes an existing folder. */
static sl_result make_folder(char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        ENSURE(S_ISDIR(st.st_mode), SL_ERR_IO, "%s is not a folder", dir);
        return SL_SUCCESS;
    }
    ENSURE(errno == ENOENT, SL_ERR_IO, "%s: %s", dir, strerror(errno));
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        sl_result parent = make_folder(dir);
        *slash = '/';
        GUARD(parent);
    }
    if (mkdir(dir, 0711) != 0) {
        ENSURE(errno == EEXIST, SL_ERR_IO, "cannot create the socket folder %s: %s", dir, strerror(errno));
        return SL_SUCCESS; /* made by someone else meanwhile: leave it as it is */
    }
    /* the umask may have narrowed the mode of the folder just made */
    ENSURE(chmod(dir, 0711) == 0, SL_ERR_IO, "chmod 0711 %s: %s", dir, strerror(errno));
    return SL_SUCCESS;
}

static sl_result make_parent_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path) return SL_SUCCESS;
    char *dir = sl_strndup(path, (size_t)(slash - path));
    sl_result r = make_folder(dir);
    sl_free(dir);
    return r;
}

static void fill_address(struct sockaddr_un *addr, const char *path)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, strlen(path) + 1); /* length checked by the caller */
}

/* Removes a socket file nobody answers on; refuses a live one and any other file. */
static sl_result remove_stale_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        ENSURE(errno == ENOENT, SL_ERR_IO, "%s: %s", path, strerror(errno));
        return SL_SUCCESS;
    }
    ENSURE(S_ISSOCK(st.st_mode), SL_ERR_IO, "%s exists and is not a socket; remove it or set api.socket", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ENSURE(fd >= 0, SL_ERR_IO, "socket: %s", strerror(errno));
    struct sockaddr_un addr;
    fill_address(&addr, path);
    int rc = connect(fd, (const struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    close(fd);
    /* EAGAIN: a listener whose backlog is full — alive too */
    ENSURE(rc != 0 && err != EAGAIN && err != EINPROGRESS, SL_ERR_IO, "another daemon is serving %s", path);
    ENSURE(err == ECONNREFUSED, SL_ERR_IO, "cannot tell whether %s is in use: %s", path, strerror(err));
    ENSURE(unlink(path) == 0 || errno == ENOENT, SL_ERR_IO, "cannot remove the stale socket %s: %s", path,
           strerror(errno));
    return SL_SUCCESS;
}

/* The name of `uid` for a message ("alice (uid 1000)"), into out. */
static const char *describe_uid(uid_t uid, char *out, size_t size)
{
    char *name = user_name(uid), number[24];
    snprintf(number, sizeof(number), "%lu", (unsigned long)uid);
    if (strcmp(name, number) != 0) snprintf(out, size, "%s (uid %s)", name, number);
    else snprintf(out, size, "uid %s", number); /* no passwd entry */
    sl_free(name);
    return out;
}

/* The socket's folder must be the daemon's own: owned by its user and writable by no
 * one else, or another user could replace the socket (or the folder's entries) under
 * it. Its ancestors must be owned by root or the daemon's user, and writable by others
 * only with the sticky bit (as /tmp), so none can be renamed away either. */
static sl_result check_folders(const char *path)
{
    char *dir = sl_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0'; /* "/api.sock": the root folder */
    else if (slash != NULL) *slash = '\0';
    else snprintf(dir, strlen(dir) + 1, ".");
    uid_t me = geteuid();
    char owner[96], self[96];
    struct stat st;
    sl_result result = SL_FAILURE;
    ENSURE_CLEANUP(stat(dir, &st) == 0, SL_ERR_IO, "the socket folder %s: %s", dir, strerror(errno));
    ENSURE_CLEANUP(st.st_uid == me, SL_ERR_IO,
                   "the socket folder %s belongs to %s, not to the daemon's user %s, who alone may write there; "
                   "run `chown %lu %s` or set api.socket to a path in a folder of the daemon's own",
                   dir, describe_uid(st.st_uid, owner, sizeof(owner)), describe_uid(me, self, sizeof(self)),
                   (unsigned long)me, dir);
    ENSURE_CLEANUP((st.st_mode & (S_IWGRP | S_IWOTH)) == 0, SL_ERR_IO,
                   "the socket folder %s is writable by %s (mode %04o), who could replace the socket; run `chmod "
                   "go-w %s` or set api.socket to a path in a folder only the daemon's user can write",
                   dir, (st.st_mode & S_IWOTH) ? "every user" : "its group", (unsigned)(st.st_mode & 07777), dir);
    /* the ancestors, from the parent up */
    for (char *cut = strrchr(dir, '/'); cut != NULL; cut = strrchr(dir, '/')) {
        if (cut == dir) cut[1] = '\0';
        else *cut = '\0';
        ENSURE_CLEANUP(stat(dir, &st) == 0, SL_ERR_IO, "%s: %s", dir, strerror(errno));
        ENSURE_CLEANUP(st.st_uid == 0 || st.st_uid == me, SL_ERR_IO,
                       "the folder %s, above the socket's, belongs to %s, who could move the socket folder away; "
                       "set api.socket to a path under folders of root or the daemon's user",
                       dir, describe_uid(st.st_uid, owner, sizeof(owner)));
        ENSURE_CLEANUP((st.st_mode & (S_IWGRP | S_IWOTH)) == 0 || (st.st_mode & S_ISVTX) != 0, SL_ERR_IO,
                       "the folder %s, above the socket's, is writable by other users (mode %04o) without the "
                       "sticky bit, so they could move the socket folder away; run `chmod go-w %s` (or `chmod +t`)",
                       dir, (unsigned)(st.st_mode & 07777), dir);
        if (cut == dir) break;
    }
    result = SL_SUCCESS;
cleanup:
    sl_free(dir);
    return result;
}

/* bind under a umask that leaves exactly `mode`: the socket file has its mode from the
 * moment it exists, and nothing is changed by path afterwards. The umask is the
 * process's: this runs at start-up, before any other thread creates files. */
static int bind_with_mode(int fd, const struct sockaddr_un *addr, unsigned mode)
{
    mode_t saved = umask((mode_t)(~mode & 0777));
    int rc = bind(fd, (const struct sockaddr *)addr, sizeof(*addr));
    int err = errno;
    umask(saved);
    errno = err;
    return rc;
}

/* folders + bind + listen; on error nothing is left (no fd, no file). */
static sl_result open_socket(api_server *s, int *out_fd)
{
    const char *path = s->socket_path;
    GUARD(make_parent_folder(path));
    GUARD(check_folders(path));
    GUARD(remove_stale_socket(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ENSURE(fd >= 0, SL_ERR_IO, "socket: %s", strerror(errno));
    struct sockaddr_un addr;
    fill_address(&addr, path);
    struct stat st;
    const char *step = "bind";
    if (bind_with_mode(fd, &addr, s->options.socket_mode) != 0) goto fail_fd;
    step = "stat";
    if (lstat(path, &st) != 0) goto fail_file;
    step = "check the mode of";
    if ((st.st_mode & 07777) != s->options.socket_mode) {
        errno = EPERM;
        goto fail_file;
    }
    step = "listen";
    if (listen(fd, SOMAXCONN) != 0) goto fail_file;
    s->socket_dev = st.st_dev;
    s->socket_ino = st.st_ino;
    *out_fd = fd;
    return SL_SUCCESS;

fail_file : {
    int err = errno;
    unlink(path);
    errno = err;
}
fail_fd : {
    int err = errno;
    close(fd);
    RAISE(SL_ERR_IO, "%s %s: %s", step, path, strerror(err));
}
}

/* A TCP listener on s->socket_path ("host:port", "[v6]:port"), bound and listening,
 * handed back as a plain descriptor as open_socket does. */
static sl_result open_tcp(api_server *s, int *out_fd)
{
    const char *spec = s->socket_path;
    const char *colon = strrchr(spec, ':');
    ENSURE(colon != NULL && colon[1] != '\0', SL_ERR_INVALID_ARGUMENT, "api: %s is not host:port", spec);
    char host[256];
    size_t host_len = (size_t)(colon - spec);
    if (host_len >= 2 && spec[0] == '[' && spec[host_len - 1] == ']') {
        spec++;
        host_len -= 2;
    }
    ENSURE(host_len > 0 && host_len < sizeof(host), SL_ERR_INVALID_ARGUMENT, "api: %s: no host", s->socket_path);
    memcpy(host, spec, host_len);
    host[host_len] = '\0';
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *found = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &found);
    ENSURE(gai == 0, SL_ERR_IO, "api: %s: %s", s->socket_path, gai_strerror(gai));
    int err = 0, fd = -1;
    for (struct addrinfo *a = found; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
            bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    ENSURE(fd >= 0, SL_ERR_IO, "listening on %s: %s", s->socket_path, strerror(err));
    *out_fd = fd;
    return SL_SUCCESS;
}

static void remove_socket_file(api_server *s)
{
    if (s->tcp) return;
    struct stat st;
    /* only if it is still ours: a successor may have replaced it */
    if (lstat(s->socket_path, &st) == 0 && st.st_dev == s->socket_dev && st.st_ino == s->socket_ino)
        unlink(s->socket_path);
}

/* ---- the server ---- */

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) sl_free(names[i]);
    sl_free(names);
}

static char **copy_names(const char *const *names, size_t count)
{
    char **copy = sl_calloc(count ? count : 1, sizeof(*copy));
    for (size_t i = 0; i < count; i++) copy[i] = sl_strdup(names[i]);
    return copy;
}

void api_server_set_operators(api_server *server, const char *const *operators, size_t operator_count)
{
    free_names(server->operators, server->operator_count);
    server->operators = copy_names(operators, operator_count);
    server->operator_count = operator_count;
}

void api_server_set_roles(api_server *server, const char *const *reviewers, size_t reviewer_count,
                          const char *const *orchestrators, size_t orchestrator_count)
{
    free_names(server->reviewers, server->reviewer_count);
    free_names(server->orchestrators, server->orchestrator_count);
    server->reviewers = copy_names(reviewers, reviewer_count);
    server->reviewer_count = reviewer_count;
    server->orchestrators = copy_names(orchestrators, orchestrator_count);
    server->orchestrator_count = orchestrator_count;
}

static void server_free(api_server *s)
{
    free_names(s->reviewers, s->reviewer_count);
    free_names(s->orchestrators, s->orchestrator_count);
    free_names(s->operators, s->operator_count);
    router_clean_up(&s->router);
    sl_free(s->socket_path);
    sl_free(s->users);
    sl_free(s);
}

static void maybe_free_server(api_server *s)
{
    if (s->closing && !s->listener_open && s->live == 0) server_free(s);
}

static void on_listener_closed(uv_handle_t *handle)
{
    api_server *s = handle->data;
    s->listener_open = false;
    maybe_free_server(s);
}

sl_result api_server_new(uv_loop_t *loop, const api_options *options, const api_route *routes, size_t route_count,
                         api_server **out)
{
    bool tcp = options->tcp_listen != NULL;
    ENSURE(tcp || (options->socket_path != NULL && options->socket_path[0] != '\0'), SL_ERR_INVALID_ARGUMENT,
           "api: no socket path");
    ENSURE(tcp || strlen(options->socket_path) < sizeof(((struct sockaddr_un *)0)->sun_path), SL_ERR_INVALID_ARGUMENT,
           "api: the socket path %s is longer than %zu bytes", options->socket_path,
           sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    ENSURE(options->socket_mode <= 0777, SL_ERR_INVALID_ARGUMENT, "api: socket mode %o is not a permission mode",
           options->socket_mode);
    ENSURE(routes != NULL || route_count == 0, SL_ERR_INVALID_ARGUMENT, "api: %zu routes but no table",
           route_count);
    ENSURE(options->kept_header_count <= API_MAX_KEPT_HEADERS &&
               (options->kept_headers != NULL || options->kept_header_count == 0),
           SL_ERR_INVALID_ARGUMENT, "api: %zu kept headers (at most %d)", options->kept_header_count,
           API_MAX_KEPT_HEADERS);

    api_server *s = sl_calloc(1, sizeof(*s));
    if (sl_failed(router_compile(routes, route_count, &s->router))) {
        sl_free(s);
        return SL_FAILURE;
    }
    s->loop = loop;
    s->options = *options;
    s->tcp = tcp;
    s->socket_path = sl_strdup(tcp ? options->tcp_listen : options->socket_path); /* its name in logs */
    s->options.socket_path = s->socket_path;
    s->options.tcp_listen = tcp ? s->socket_path : NULL;
    s->options.reviewers = s->options.orchestrators = NULL;
    if (s->options.socket_mode == 0) s->options.socket_mode = DEFAULT_SOCKET_MODE;
    if (s->options.max_body == 0) s->options.max_body = DEFAULT_MAX_BODY;
    if (s->options.max_header == 0) s->options.max_header = DEFAULT_MAX_HEADER;
    if (s->options.idle_timeout_ms == 0) s->options.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    if (s->options.head_timeout_ms == 0) s->options.head_timeout_ms = DEFAULT_HEAD_TIMEOUT_MS;
    if (s->options.body_timeout_ms == 0) s->options.body_timeout_ms = DEFAULT_BODY_TIMEOUT_MS;
    if (s->options.max_connections == 0) s->options.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (s->options.max_connections_per_user == 0)
        s->options.max_connections_per_user = s->options.max_connections < DEFAULT_MAX_PER_USER * 4
                                                  ? (s->options.max_connections + 3) / 4
                                                  : DEFAULT_MAX_PER_USER;
    if (s->options.reserve == 0)
        s->options.reserve = s->options.max_connections / 2 < DEFAULT_RESERVE ? s->options.max_connections / 2
                                                                              : DEFAULT_RESERVE;
    s->users = sl_calloc(s->options.max_connections, sizeof(*s->users));
    if (s->options.max_connections_per_user > s->options.max_connections ||
        s->options.reserve >= s->options.max_connections) {
        unsigned max = s->options.max_connections, per_user = s->options.max_connections_per_user,
                 reserve = s->options.reserve;
        server_free(s);
        RAISE(SL_ERR_INVALID_ARGUMENT, "api: %u connections per user or a reserve of %u do not fit in %u connections",
              per_user, reserve, max);
    }
    api_server_set_roles(s, options->reviewers, options->reviewer_count, options->orchestrators,
                         options->orchestrator_count);
    api_server_set_operators(s, options->operators, options->operator_count);

    int fd = -1;
    if (sl_failed(tcp ? open_tcp(s, &fd) : open_socket(s, &fd))) {
        server_free(s);
        return SL_FAILURE;
    }
    int rc;
    if (tcp) {
        uv_tcp_init(loop, &s->listener.tcp);
        rc = uv_tcp_open(&s->listener.tcp, fd);
    } else {
        uv_pipe_init(loop, &s->listener.unix_socket, 0);
        rc = uv_pipe_open(&s->listener.unix_socket, fd);
    }
    ((uv_handle_t *)&s->listener)->data = s;
    s->listener_open = true;
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        /* libuv refused a socket it has every reason to take: undo, and let the loop
         * finish closing the handle (the server is freed then) */
        remove_socket_file(s);
        s->closing = true;
        if (uv_fileno((const uv_handle_t *)&s->listener, &(uv_os_fd_t){ 0 }) != 0) close(fd);
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        RAISE(SL_ERR_IO, "listening on %s: %s", options->socket_path, uv_strerror(rc));
    }
    *out = s;
    return SL_SUCCESS;
}

void api_server_close(api_server *server)
{
    if (server == NULL || server->closing) return;
    server->closing = true;
    uv_close((uv_handle_t *)&server->listener, on_listener_closed);
    remove_socket_file(server);
    while (server->conns != NULL) conn_close(server->conns);
    maybe_free_server(server);
}
