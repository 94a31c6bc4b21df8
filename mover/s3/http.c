/*
 * http.c — libcurl's multi interface driven by a libuv loop (see http.h).
 *
 * Three lists hold every live request: `queued` (waiting for a slot), `active`
 * (handed to curl) and nothing else — a request leaves both lists just before its done
 * callback. Cancellations and first-byte timeouts only mark a request; the `deferred`
 * timer (0 ms) then removes it from curl outside any curl callback, which libcurl
 * requires, and completes it. The `watchdog` timer runs only while requests are active,
 * so an idle engine costs no CPU. (The socket/timer glue follows libcurl's
 * multi-uv.c example and the curl_multi_socket_action(3) contract.)
 *
 * What a request costs is kept small: easy handles are reset and reused
 * (curl_easy_reset keeps none of a request's options), a request's headers are one
 * allocation (curl only reads the curl_slist it is given, so the nodes and their text
 * are ours), and each socket keeps one uv_poll_t for its whole life — stopped when
 * libcurl stops watching it between transfers on a kept-alive connection, started
 * again for the next one, and closed only when libcurl closes the socket
 * (CURLOPT_CLOSESOCKETFUNCTION): a socket's fd number can then never meet a stale
 * handle. `polls` maps fd numbers to their handles.
 */
#include "s3/http.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/alloc.h"

#define WATCHDOG_INTERVAL_MS 100

enum request_state { REQUEST_QUEUED, REQUEST_ACTIVE, REQUEST_DONE };

struct s3_http_request {
    s3_http *http;
    CURL *easy;
    struct curl_slist *headers; /* one allocation: the nodes, then their text */
    s3_http_request_spec spec; /* callbacks, user and body; method/url/headers not kept */
    size_t body_offset;
    enum request_state state;
    uint64_t started_ms;       /* when handed to curl */
    bool got_first_byte;
    bool head_complete;        /* the empty line that ends the response head was seen */
    sl_error forced;           /* SL_OK, or why we stop it (cancel, timeout, abort) */
    char forced_detail[128];
    long status;
    uint64_t body_bytes;
    char curl_error[CURL_ERROR_SIZE];
    s3_http_request *prev, *next;
};

struct request_list {
    s3_http_request *head, *tail;
    unsigned count;
};

struct s3_http {
    uv_loop_t *loop;
    CURLM *multi;
    s3_http_options options;
    char *ca_file;
    uv_timer_t curl_timer; /* CURLMOPT_TIMERFUNCTION */
    uv_timer_t deferred;   /* processes marked requests outside curl callbacks */
    uv_timer_t watchdog;   /* first-byte timeouts */
    struct request_list queued, active;
    CURL **spare;          /* reset easy handles, ready for the next request */
    unsigned spare_count;
    struct poll_context **polls; /* by fd number; NULL where none */
    size_t polls_len;
    unsigned open_handles; /* libuv handles not yet closed */
    unsigned dispatching;  /* depth of done-callback dispatch */
    bool destroying;
    uint64_t submitted, completed;
};

struct poll_context {
    uv_poll_t poll;
    curl_socket_t fd;
    s3_http *http;
};

/* ---- lists ---- */

static void list_push(struct request_list *list, s3_http_request *r)
{
    r->prev = list->tail;
    r->next = NULL;
    if (list->tail) list->tail->next = r;
    else list->head = r;
    list->tail = r;
    list->count++;
}

static void list_remove(struct request_list *list, s3_http_request *r)
{
    if (r->prev) r->prev->next = r->next;
    else list->head = r->next;
    if (r->next) r->next->prev = r->prev;
    else list->tail = r->prev;
    r->prev = r->next = NULL;
    list->count--;
}

/* ---- completion ---- */

static void maybe_free_engine(s3_http *http);

static sl_error classify_curl(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return SL_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return SL_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return SL_ERR_CONNECTION;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return SL_ERR_CRYPTO;
    default:
        return SL_ERR_IO;
    }
}

/* Frees a request; its easy handle (out of the multi handle) is kept for the next
 * one while the engine runs and has room for it. */
static void destroy_request(s3_http_request *r)
{
    s3_http *http = r->http;
    if (r->easy != NULL) {
        if (!http->destroying && http->spare_count < http->options.max_in_flight) {
            curl_easy_reset(r->easy);
            http->spare[http->spare_count++] = r->easy;
        } else {
            curl_easy_cleanup(r->easy);
        }
    }
    sl_free(r->headers);
    sl_free(r);
}

/* Runs the done callback and frees the request. The request is in no list. */
static void complete(s3_http_request *r, sl_error error, const char *detail)
{
    s3_http *http = r->http;
    r->state = REQUEST_DONE;
    s3_http_result result = {
        .error = error,
        .status = r->status,
        .detail = detail ? detail : "",
        .body_bytes = r->body_bytes,
    };
    http->completed++;
    http->dispatching++;
    r->spec.on_done(r->spec.user, &result);
    http->dispatching--;
    destroy_request(r);
}

static void start_queued(s3_http *http);

static void watchdog_tick(uv_timer_t *timer);

static void activate(s3_http *http, s3_http_request *r)
{
    list_push(&http->active, r);
    r->state = REQUEST_ACTIVE;
    r->started_ms = uv_now(http->loop);
    CURLMcode mc = curl_multi_add_handle(http->multi, r->easy);
    if (mc != CURLM_OK) {
        list_remove(&http->active, r);
        char detail[160];
        snprintf(detail, sizeof(detail), "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        complete(r, SL_ERR_IO, detail);
        return;
    }
    if (http->options.first_byte_timeout_ms > 0 && !uv_is_active((uv_handle_t *)&http->watchdog))
        uv_timer_start(&http->watchdog, watchdog_tick, WATCHDOG_INTERVAL_MS, WATCHDOG_INTERVAL_MS);
}

static void start_queued(s3_http *http)
{
    while (!http->destroying && http->queued.head != NULL &&
           http->active.count < http->options.max_in_flight) {
        s3_http_request *r = http->queued.head;
        list_remove(&http->queued, r);
        activate(http, r);
    }
    if (http->active.count == 0) uv_timer_stop(&http->watchdog);
}

/* Collects finished transfers after curl did some work. */
static void check_multi_info(s3_http *http)
{
    CURLMsg *msg;
    int pending;
    while ((msg = curl_multi_info_read(http->multi, &pending)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        s3_http_request *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(http->multi, easy);
        list_remove(&http->active, r);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);

        if (r->forced != SL_OK) {
            complete(r, r->forced, r->forced_detail);
        } else if (code == CURLE_OK && !r->head_complete) {
            complete(r, SL_ERR_CONNECTION, "the connection closed inside the response head");
        } else if (code != CURLE_OK) {
            char detail[CURL_ERROR_SIZE + 64];
            snprintf(detail, sizeof(detail), "%s%s%s", curl_easy_strerror(code),
                     r->curl_error[0] ? ": " : "", r->curl_error);
            complete(r, classify_curl(code), detail);
        } else {
            complete(r, SL_OK, "");
        }
    }
    start_queued(http);
    maybe_free_engine(http);
}

/* Removes marked requests from curl or the queue and completes them. */
static void process_marked(s3_http *http)
{
    for (struct request_list *list = &http->queued;; list = &http->active) {
        s3_http_request *r = list->head;
        while (r != NULL) {
            s3_http_request *next = r->next;
            if (r->forced != SL_OK) {
                if (r->state == REQUEST_ACTIVE) curl_multi_remove_handle(http->multi, r->easy);
                list_remove(list, r);
                complete(r, r->forced, r->forced_detail);
            }
            r = next;
        }
        if (list == &http->active) break;
    }
    start_queued(http);
    maybe_free_engine(http);
}

static void deferred_tick(uv_timer_t *timer) { process_marked(timer->data); }

static void mark(s3_http_request *r, sl_error why, const char *detail)
{
    if (r->state == REQUEST_DONE || r->forced != SL_OK) return;
    r->forced = why;
    snprintf(r->forced_detail, sizeof(r->forced_detail), "%s", detail);
    uv_timer_start(&r->http->deferred, deferred_tick, 0, 0);
}

static void watchdog_tick(uv_timer_t *timer)
{
    s3_http *http = timer->data;
    uint64_t now = uv_now(http->loop);
    uint64_t limit = (uint64_t)http->options.first_byte_timeout_ms;
    for (s3_http_request *r = http->active.head; r != NULL; r = r->next) {
        if (!r->got_first_byte && now - r->started_ms >= limit) {
            char detail[96];
            snprintf(detail, sizeof(detail), "no response within %ld ms",
                     http->options.first_byte_timeout_ms);
            mark(r, SL_ERR_TIMEOUT, detail);
        }
    }
}

/* ---- libcurl callbacks ---- */

static size_t on_header(char *line, size_t size, size_t count, void *userp)
{
    s3_http_request *r = userp;
    size_t len = size * count;
    r->got_first_byte = true;
    sl_cursor c = sl_cursor_from_bytes(line, len);
    while (c.len > 0 && (c.ptr[c.len - 1] == '\r' || c.ptr[c.len - 1] == '\n')) c.len--;
    if (c.len >= 5 && memcmp(c.ptr, "HTTP/", 5) == 0) r->head_complete = false; /* a (new) status line */
    if (c.len == 0) r->head_complete = true;
    if (c.len == 0 || r->spec.on_header == NULL) return len;
    if (c.len >= 5 && memcmp(c.ptr, "HTTP/", 5) == 0) return len; /* a status line */
    ptrdiff_t colon = sl_cursor_find_byte(c, ':');
    if (colon <= 0) return len; /* not a header line: ignore it, as curl does */
    sl_cursor name = sl_cursor_trim(sl_cursor_from_bytes(c.ptr, (size_t)colon));
    sl_cursor value = sl_cursor_trim(sl_cursor_from_bytes(c.ptr + colon + 1, c.len - (size_t)colon - 1));
    r->spec.on_header(r->spec.user, name, value);
    return len;
}

static size_t on_write(char *data, size_t size, size_t count, void *userp)
{
    s3_http_request *r = userp;
    size_t len = size * count;
    r->got_first_byte = true;
    if (r->forced != SL_OK) return 0;
    if (r->spec.on_body == NULL || len == 0) return len;
    switch (r->spec.on_body(r->spec.user, (const uint8_t *)data, len)) {
    case S3_HTTP_BODY_CONSUMED:
        r->body_bytes += len;
        return len;
    case S3_HTTP_BODY_PAUSE:
        return CURL_WRITEFUNC_PAUSE;
    case S3_HTTP_BODY_ABORT:
    default:
        r->forced = SL_ERR_CANCELLED;
        snprintf(r->forced_detail, sizeof(r->forced_detail), "the body consumer stopped the transfer");
        return 0;
    }
}

static size_t on_read(char *dest, size_t size, size_t count, void *userp)
{
    s3_http_request *r = userp;
    size_t room = size * count;
    size_t left = r->spec.body_len - r->body_offset;
    size_t n = left < room ? left : room;
    if (n > 0) memcpy(dest, r->spec.body + r->body_offset, n);
    r->body_offset += n;
    return n;
}

static int on_seek(void *userp, curl_off_t offset, int origin)
{
    s3_http_request *r = userp;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->spec.body_len)
        return CURL_SEEKFUNC_FAIL;
    r->body_offset = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void on_handle_closed(uv_handle_t *handle)
{
    s3_http *http = handle->data;
    if (handle->type == UV_POLL) sl_free(handle);
    http->open_handles--;
    maybe_free_engine(http);
}

/* ---- one uv_poll_t per socket ---- */

static struct poll_context *poll_of(const s3_http *http, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < http->polls_len ? http->polls[fd] : NULL;
}

static void poll_forget(s3_http *http, curl_socket_t fd)
{
    if (fd >= 0 && (size_t)fd < http->polls_len) http->polls[fd] = NULL;
}

/* A handle for fd, made now; NULL when libuv refuses the fd. */
static struct poll_context *poll_new(s3_http *http, curl_socket_t fd)
{
    if (fd < 0) return NULL;
    if ((size_t)fd >= http->polls_len) {
        size_t len = http->polls_len ? http->polls_len : 64;
        while (len <= (size_t)fd) len *= 2;
        http->polls = sl_realloc(http->polls, len * sizeof(*http->polls));
        memset(http->polls + http->polls_len, 0, (len - http->polls_len) * sizeof(*http->polls));
        http->polls_len = len;
    }
    struct poll_context *ctx = sl_calloc(1, sizeof(*ctx));
    ctx->fd = fd;
    ctx->http = http;
    if (uv_poll_init_socket(http->loop, &ctx->poll, fd) != 0) {
        sl_free(ctx);
        return NULL;
    }
    ctx->poll.data = http;
    http->open_handles++;
    http->polls[fd] = ctx;
    return ctx;
}

static void poll_close(struct poll_context *ctx)
{
    poll_forget(ctx->http, ctx->fd);
    uv_close((uv_handle_t *)&ctx->poll, on_handle_closed); /* stops it: the fd leaves epoll */
}

/* CURLOPT_CLOSESOCKETFUNCTION: the handle goes before the fd does. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    s3_http *http = clientp;
    struct poll_context *ctx = poll_of(http, fd);
    if (ctx != NULL) poll_close(ctx);
    return close(fd);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct poll_context *ctx = (struct poll_context *)poll;
    s3_http *http = ctx->http;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(http->multi, ctx->fd, flags, &running);
    check_multi_info(http);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    s3_http *http = userp;
    struct poll_context *ctx = socketp != NULL ? socketp : poll_of(http, fd);
    if (what == CURL_POLL_REMOVE) {
        /* between transfers: keep the handle for the socket's next use */
        if (ctx != NULL) uv_poll_stop(&ctx->poll);
        return 0;
    }
    if (ctx == NULL && (ctx = poll_new(http, fd)) == NULL) return -1;
    if (socketp == NULL) curl_multi_assign(http->multi, fd, ctx);
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    return uv_poll_start(&ctx->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_curl_timer(uv_timer_t *timer)
{
    s3_http *http = timer->data;
    int running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(http);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    s3_http *http = userp;
    if (timeout_ms < 0) uv_timer_stop(&http->curl_timer);
    else uv_timer_start(&http->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- engine ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code = CURLE_OK;

static void init_curl(void) { curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

s3_http_options s3_http_options_default(void)
{
    return (s3_http_options){
        .max_in_flight = 64,
        .connect_timeout_ms = 5000,
        .first_byte_timeout_ms = 30000,
        .total_timeout_ms = 0,
        .low_speed_bytes_per_s = 1,
        .low_speed_time_s = 30,
        .verify_tls = true,
        .ca_file = NULL,
    };
}

sl_result s3_http_new(uv_loop_t *loop, const s3_http_options *options, s3_http **out)
{
    ENSURE(options->max_in_flight > 0 && options->max_in_flight <= 10000, SL_ERR_INVALID_ARGUMENT,
           "max_in_flight must be 1..10000, not %u", options->max_in_flight);
    ENSURE(options->connect_timeout_ms >= 0 && options->first_byte_timeout_ms >= 0 &&
               options->total_timeout_ms >= 0 && options->low_speed_time_s >= 0 &&
               options->low_speed_bytes_per_s >= 0,
           SL_ERR_INVALID_ARGUMENT, "timeouts must not be negative");
    pthread_once(&curl_once, init_curl);
    ENSURE(curl_init_code == CURLE_OK, SL_ERR_UNSUPPORTED, "curl_global_init: %s",
           curl_easy_strerror(curl_init_code));

    s3_http *http = sl_calloc(1, sizeof(*http));
    http->loop = loop;
    http->options = *options;
    http->ca_file = options->ca_file ? sl_strdup(options->ca_file) : NULL;
    http->options.ca_file = http->ca_file;
    http->spare = sl_calloc(options->max_in_flight, sizeof(*http->spare));
    http->multi = curl_multi_init();
    if (http->multi == NULL) {
        sl_free(http->spare);
        sl_free(http->ca_file);
        sl_free(http);
        RAISE(SL_ERR_UNSUPPORTED, "curl_multi_init failed");
    }
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)options->max_in_flight);
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, (long)options->max_in_flight);

    uv_timer_t *timers[] = { &http->curl_timer, &http->deferred, &http->watchdog };
    for (size_t i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = http;
        http->open_handles++;
    }
    *out = http;
    return SL_SUCCESS;
}

static void maybe_free_engine(s3_http *http)
{
    if (!http->destroying || http->dispatching > 0) return;
    if (http->multi != NULL) {
        for (unsigned i = 0; i < http->spare_count; i++) curl_easy_cleanup(http->spare[i]);
        http->spare_count = 0;
        curl_multi_cleanup(http->multi); /* closes the kept connections: their polls close */
        http->multi = NULL;
        for (size_t fd = 0; fd < http->polls_len; fd++) /* sockets closed without telling us */
            if (http->polls[fd] != NULL) poll_close(http->polls[fd]);
        uv_close((uv_handle_t *)&http->curl_timer, on_handle_closed);
        uv_close((uv_handle_t *)&http->deferred, on_handle_closed);
        uv_close((uv_handle_t *)&http->watchdog, on_handle_closed);
        return;
    }
    if (http->open_handles == 0) {
        sl_free(http->polls);
        sl_free(http->spare);
        sl_free(http->ca_file);
        sl_free(http);
    }
}

void s3_http_destroy(s3_http *http)
{
    if (http == NULL || http->destroying) return;
    http->destroying = true;
    http->dispatching++;
    while (http->queued.head != NULL) {
        s3_http_request *r = http->queued.head;
        list_remove(&http->queued, r);
        complete(r, SL_ERR_CANCELLED, "the HTTP engine was shut down");
    }
    while (http->active.head != NULL) {
        s3_http_request *r = http->active.head;
        curl_multi_remove_handle(http->multi, r->easy);
        list_remove(&http->active, r);
        complete(r, SL_ERR_CANCELLED, "the HTTP engine was shut down");
    }
    http->dispatching--;
    maybe_free_engine(http);
}

static bool has_header(const s3_http_request_spec *spec, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < spec->header_count; i++)
        if (strncasecmp(spec->headers[i], name, n) == 0 && spec->headers[i][n] == ':') return true;
    return false;
}

/* The request's header list in one allocation: `extra` lines first, then the spec's
 * (the nodes, then the text they point into). */
static sl_result build_header_list(s3_http_request *r, const s3_http_request_spec *spec, const char *const *extra,
                                   size_t extra_count)
{
    size_t count, text = 0, nodes_size, total;
    ENSURE(sl_add_size(spec->header_count, extra_count, &count), SL_ERR_OVERFLOW, "too many headers");
    for (size_t i = 0; i < count; i++) {
        const char *line = i < extra_count ? extra[i] : spec->headers[i - extra_count];
        ENSURE(sl_add_size(text, strlen(line) + 1, &text), SL_ERR_OVERFLOW, "headers too long");
    }
    ENSURE(sl_mul_size(count, sizeof(struct curl_slist), &nodes_size) && sl_add_size(nodes_size, text, &total),
           SL_ERR_OVERFLOW, "headers too long");
    struct curl_slist *nodes = sl_malloc(total > 0 ? total : 1);
    char *at = (char *)(nodes + count);
    for (size_t i = 0; i < count; i++) {
        const char *line = i < extra_count ? extra[i] : spec->headers[i - extra_count];
        size_t len = strlen(line) + 1;
        memcpy(at, line, len);
        nodes[i].data = at;
        nodes[i].next = i + 1 < count ? &nodes[i + 1] : NULL;
        at += len;
    }
    r->headers = count > 0 ? nodes : NULL;
    if (count == 0) sl_free(nodes);
    return SL_SUCCESS;
}

#define SETOPT(easy, opt, value)                                                                   \
    ENSURE_CLEANUP(curl_easy_setopt((easy), (opt), (value)) == CURLE_OK, SL_ERR_UNSUPPORTED,        \
                   "curl_easy_setopt(%s) refused", #opt)

/* Just before the request goes on the wire: past its not_after_ms it is not sent. */
static int on_prereq(void *user, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    s3_http_request *r = user;
    if (uv_hrtime() / 1000000u < r->spec.not_after_ms) return CURL_PREREQFUNC_OK;
    r->forced = SL_ERR_DEADLINE;
    snprintf(r->forced_detail, sizeof(r->forced_detail), "not sent: its deadline had passed");
    return CURL_PREREQFUNC_ABORT;
}

static sl_result configure(s3_http *http, s3_http_request *r, const s3_http_request_spec *spec)
{
    sl_result result = SL_FAILURE;
    CURL *e = r->easy;
    const s3_http_options *o = &http->options;
    SETOPT(e, CURLOPT_URL, spec->url);
    SETOPT(e, CURLOPT_PRIVATE, (char *)r);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_ERRORBUFFER, r->curl_error);
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* S3 keys may hold "." and ".." segments: never let curl normalize the path */
    SETOPT(e, CURLOPT_PATH_AS_IS, 1L);
    SETOPT(e, CURLOPT_TCP_NODELAY, 1L);
    SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (o->total_timeout_ms > 0) SETOPT(e, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
    if (o->low_speed_time_s > 0) {
        SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes_per_s);
        SETOPT(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
    }
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
    if (o->ca_file) SETOPT(e, CURLOPT_CAINFO, o->ca_file);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, r);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(e, CURLOPT_WRITEDATA, r);
    SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    SETOPT(e, CURLOPT_CLOSESOCKETDATA, http);
    if (spec->not_after_ms != 0) {
        SETOPT(e, CURLOPT_PREREQFUNCTION, on_prereq);
        SETOPT(e, CURLOPT_PREREQDATA, r);
    }

    /* No "Expect: 100-continue" round trip: S3 answers errors after the body anyway. */
    const char *extra[2] = { "Expect:", NULL };
    size_t extra_count = 1;
    const char *m = spec->method;
    if (strcmp(m, "GET") == 0) {
        SETOPT(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0) {
        SETOPT(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "PUT") == 0) {
        SETOPT(e, CURLOPT_UPLOAD, 1L);
        SETOPT(e, CURLOPT_READFUNCTION, on_read);
        SETOPT(e, CURLOPT_READDATA, r);
        SETOPT(e, CURLOPT_SEEKFUNCTION, on_seek);
        SETOPT(e, CURLOPT_SEEKDATA, r);
        SETOPT(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)spec->body_len);
    } else if (strcmp(m, "POST") == 0) {
        SETOPT(e, CURLOPT_POST, 1L);
        SETOPT(e, CURLOPT_POSTFIELDS, spec->body ? (const char *)spec->body : "");
        SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
        if (!has_header(spec, "Content-Type")) extra[extra_count++] = "Content-Type:";
    } else {
        SETOPT(e, CURLOPT_CUSTOMREQUEST, m);
    }
    GUARD_CLEANUP(build_header_list(r, spec, extra, extra_count));
    SETOPT(e, CURLOPT_HTTPHEADER, r->headers);
    result = SL_SUCCESS;
cleanup:
    return result;
}

sl_result s3_http_submit(s3_http *http, const s3_http_request_spec *spec, s3_http_request **out)
{
    ENSURE(!http->destroying, SL_ERR_STATE, "the HTTP engine is shutting down");
    ENSURE(spec->method && spec->url && spec->on_done, SL_ERR_INVALID_ARGUMENT,
           "a request needs a method, a URL and a done callback");
    ENSURE(spec->body != NULL || spec->body_len == 0, SL_ERR_INVALID_ARGUMENT,
           "body_len %zu without a body", spec->body_len);
    for (size_t i = 0; i < spec->header_count; i++)
        ENSURE(strpbrk(spec->headers[i], "\r\n") == NULL, SL_ERR_INVALID_ARGUMENT,
               "header %zu contains a line break", i);

    s3_http_request *r = sl_calloc(1, sizeof(*r));
    r->http = http;
    r->spec = *spec;
    r->spec.method = NULL;
    r->spec.url = NULL;
    r->spec.headers = NULL;
    r->easy = http->spare_count > 0 ? http->spare[--http->spare_count] : curl_easy_init();
    if (r->easy == NULL) {
        destroy_request(r);
        RAISE(SL_ERR_IO, "curl_easy_init failed");
    }
    if (sl_failed(configure(http, r, spec))) {
        destroy_request(r);
        return SL_FAILURE;
    }
    http->submitted++;
    r->state = REQUEST_QUEUED;
    list_push(&http->queued, r);
    if (out) *out = r;
    /* Start it from the loop, never from inside submit: keeps callbacks asynchronous. */
    uv_timer_start(&http->deferred, deferred_tick, 0, 0);
    return SL_SUCCESS;
}

void s3_http_resume(s3_http_request *request)
{
    if (request->state == REQUEST_ACTIVE) curl_easy_pause(request->easy, CURLPAUSE_CONT);
}

void s3_http_cancel(s3_http_request *request) { mark(request, SL_ERR_CANCELLED, "cancelled by the caller"); }

long s3_http_request_status(const s3_http_request *request)
{
    long status = 0;
    if (request->state != REQUEST_ACTIVE ||
        curl_easy_getinfo(request->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return 0;
    return status;
}

s3_http_stats s3_http_get_stats(const s3_http *http)
{
    return (s3_http_stats){
        .submitted = http->submitted,
        .completed = http->completed,
        .in_flight = http->active.count,
        .queued = http->queued.count,
    };
}
