/*
 * test_api.c — unit tests of the daemon's socket API (mover/api/) and of the CLI's
 * client for it (review/api_client.c, review/health_cmd.c).
 *
 * The server runs on a real libuv loop in a second thread, on a socket in a fresh
 * temporary folder; the tests are its clients and talk raw HTTP/1.1 over blocking Unix
 * sockets from the main thread (responses are read with http-parser). Anything that
 * must happen on the loop thread (a second server, new role lists, closing) is handed
 * to it through a uv_async_t and waited for. Handlers count what they see in atomics.
 * The routes:
 *   GET  /v1/health                      health_endpoint_handler               any user
 *   GET  /v1/things, /v1/things/{id},
 *        /v1/things/{id}/parts/{part}    echo: what the handler saw       any user
 *   POST /v1/things                      echo, JSON object body           any user
 *   POST /v1/raw                         echo, any body                   any user
 *   POST /v1/things/{id}/decision        echo, JSON                       reviewer
 *   POST /v1/tasks                       echo, JSON                       orchestrator
 *   GET  /v1/either                      echo                             reviewer or orchestrator
 *   GET  /v1/async/{ms}                  answers after a timer of MS      any user
 *   POST /v1/shutdown                    answers, then closes the server  any user
 *   GET  /v1/status/{code}               answers with that status         any user
 *   GET  /v1/things/special              health_endpoint_handler (a literal listed after
 *                                        /v1/things/{id}: it must win)    any user
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <jansson.h>
#include <uv.h>

#include "api/api.h"
#include "api/health_endpoint.h"
#include "api_client.h"
#include "health_cmd.h"
#include "log/log.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "version.h"

#define CLIENT_TIMEOUT_MS 10000

/* ---- the server thread ---- */

struct fixture;
typedef void job_fn(struct fixture *f, void *arg);

struct fixture {
    char dir[64];
    char sock[160];
    char me[64];
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    bool running;
    api_server *server;
    api_route routes[16];
    size_t route_count;
    health_endpoint health;
    _Atomic(const char *) fault; /* what test_fault reports (NULL: healthy) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_fn *job;
    void *job_arg;
    bool job_done;
    atomic_int handled;       /* echo handler calls */
    atomic_int async_started;
    atomic_int async_fired;   /* async timers that answered */
    atomic_int async_gone;    /* ... of which found the client gone */
};

static void on_wake(uv_async_t *async)
{
    struct fixture *f = async->data;
    pthread_mutex_lock(&f->mu);
    if (f->job != NULL && !f->job_done) {
        f->job(f, f->job_arg);
        f->job_done = true;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
}

/* Runs fn(f, arg) on the loop thread and waits for it. */
static void on_loop(struct fixture *f, job_fn *fn, void *arg)
{
    pthread_mutex_lock(&f->mu);
    f->job = fn;
    f->job_arg = arg;
    f->job_done = false;
    uv_async_send(&f->wake);
    while (!f->job_done) pthread_cond_wait(&f->cv, &f->mu);
    f->job = NULL;
    pthread_mutex_unlock(&f->mu);
}

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- handlers (loop thread) ---- */

static void echo_handler(void *user, api_request *request, const api_request_info *info)
{
    struct fixture *f = user;
    atomic_fetch_add(&f->handled, 1);
    json_t *params = json_array();
    for (size_t i = 0; i < info->param_count; i++) json_array_append_new(params, json_string(info->params[i]));
    json_t *out = json_pack("{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:i, s:I}", "method", info->method, "path",
                            info->path, "query", info->query, "params", params, "user", info->user, "uid",
                            (json_int_t)info->uid, "pid", (json_int_t)info->pid, "roles", (int)info->roles,
                            "body_len", (json_int_t)info->body.len);
    if (info->json != NULL) json_object_set(out, "json", info->json);
    for (int i = 0; i < 2; i++)
        if (info->headers[i].len > 0)
            json_object_set_new(out, i == 0 ? "h0" : "h1",
                                json_stringn((const char *)info->headers[i].ptr, info->headers[i].len));
    if (info->body.len > 0 && info->body.len < 256)
        json_object_set_new(out, "body", json_stringn((const char *)info->body.ptr, info->body.len));
    api_respond(request, 200, out);
}

struct late {
    uv_timer_t timer;
    api_request *request;
    struct fixture *f;
};

static void late_closed(uv_handle_t *h) { sl_free(h->data); }

static void late_answer(uv_timer_t *timer)
{
    struct late *l = timer->data;
    if (api_request_client_gone(l->request)) atomic_fetch_add(&l->f->async_gone, 1);
    api_respond(l->request, 200, json_pack("{s:b}", "late", 1));
    atomic_fetch_add(&l->f->async_fired, 1);
    uv_close((uv_handle_t *)&l->timer, late_closed);
}

static void async_handler(void *user, api_request *request, const api_request_info *info)
{
    struct fixture *f = user;
    struct late *l = sl_calloc(1, sizeof(*l));
    l->request = request;
    l->f = f;
    uv_timer_init(&f->loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, late_answer, strtoull(info->params[0], NULL, 10), 0);
    atomic_fetch_add(&f->async_started, 1);
}

static void shutdown_handler(void *user, api_request *request, const api_request_info *info)
{
    (void)info;
    struct fixture *f = user;
    api_respond(request, 200, json_pack("{s:s}", "status", "closing"));
    api_server_close(f->server);
    f->server = NULL;
}

static void status_handler(void *user, api_request *request, const api_request_info *info)
{
    (void)user;
    int status = atoi(info->params[0]);
    api_respond(request, status, json_pack("{s:i}", "asked", status));
}

static void add_route(struct fixture *f, const char *method, const char *pattern, unsigned roles, bool json_body,
                      api_handler_fn *handler)
{
    f->routes[f->route_count++] = (api_route){ .method = method, .pattern = pattern, .roles = roles,
                                               .json_body = json_body, .handler = handler, .user = f };
}

static const char *test_fault(void *user)
{
    struct fixture *f = user;
    return atomic_load(&f->fault);
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-api-XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    snprintf(f->sock, sizeof(f->sock), "%s/run/api.sock", f->dir);
    struct passwd *pw = getpwuid(getuid());
    snprintf(f->me, sizeof(f->me), "%s", pw ? pw->pw_name : "?");
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    assert_true(sl_ok(health_endpoint_add(&f->health, "test_part", test_fault, f)));
    f->routes[f->route_count++] = health_endpoint_route(&f->health);
    add_route(f, "GET", "/v1/things", API_ROLE_ANY, false, echo_handler);
    add_route(f, "POST", "/v1/things", API_ROLE_ANY, true, echo_handler);
    add_route(f, "GET", "/v1/things/{id}", API_ROLE_ANY, false, echo_handler);
    add_route(f, "GET", "/v1/things/{id}/parts/{part}", API_ROLE_ANY, false, echo_handler);
    add_route(f, "POST", "/v1/raw", API_ROLE_ANY, false, echo_handler);
    add_route(f, "POST", "/v1/things/{id}/decision", API_ROLE_REVIEWER, true, echo_handler);
    add_route(f, "POST", "/v1/tasks", API_ROLE_ORCHESTRATOR, true, echo_handler);
    add_route(f, "GET", "/v1/either", API_ROLE_REVIEWER | API_ROLE_ORCHESTRATOR, false, echo_handler);
    add_route(f, "GET", "/v1/async/{ms}", API_ROLE_ANY, false, async_handler);
    add_route(f, "POST", "/v1/shutdown", API_ROLE_ANY, false, shutdown_handler);
    add_route(f, "GET", "/v1/status/{code}", API_ROLE_ANY, false, status_handler);
    f->routes[f->route_count] = health_endpoint_route(&f->health); /* a literal after {id} */
    f->routes[f->route_count++].pattern = "/v1/things/special";
    *state = f;
    return 0;
}

/* Starts the server with `o` (socket path defaulted) and the loop thread. */
static void start_with(struct fixture *f, api_options o)
{
    if (o.socket_path == NULL) o.socket_path = f->sock;
    if (o.idle_timeout_ms == 0) o.idle_timeout_ms = 5000;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    sl_result r = api_server_new(&f->loop, &o, f->routes, f->route_count, &f->server);
    if (sl_failed(r)) fail_msg("api_server_new: %s", sl_error_detail());
    uv_async_init(&f->loop, &f->wake, on_wake);
    f->wake.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
    f->running = true;
}

static void start(struct fixture *f) { start_with(f, (api_options){ 0 }); }

static void stop_job(struct fixture *f, void *arg)
{
    (void)arg;
    api_server_close(f->server);
    f->server = NULL;
    uv_close((uv_handle_t *)&f->wake, NULL);
}

static void stop(struct fixture *f)
{
    if (!f->running) return;
    on_loop(f, stop_job, NULL);
    pthread_join(f->thread, NULL);
    f->running = false;
    assert_int_equal(uv_loop_close(&f->loop), 0); /* every handle closed */
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    stop(f);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    sl_free(f);
    return 0;
}

/* ---- a raw HTTP client (main thread) ---- */

struct client {
    int fd;
    sl_buf in; /* bytes received and not yet consumed by read_response */
};

struct response {
    int status;
    bool has_length;
    char content_type[64];
    char allow[64];
    char connection[32];
    char retry_after[16];
    sl_buf field, value;
    sl_buf body;
    json_t *json;
    bool complete;
    bool head; /* the request was HEAD: no body follows */
};

static void response_clean_up(struct response *r)
{
    sl_buf_clean_up(&r->field);
    sl_buf_clean_up(&r->value);
    sl_buf_clean_up(&r->body);
    json_decref(r->json);
    *r = (struct response){ 0 };
}

static void set_timeouts(int fd, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void fill_addr(struct sockaddr_un *addr, const char *path)
{
    assert_true(strlen(path) < sizeof(addr->sun_path));
    memcpy(addr->sun_path, path, strlen(path) + 1);
}

static int raw_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    fill_addr(&addr, path);
    if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0) fail_msg("connect %s: %s", path, strerror(errno));
    set_timeouts(fd, CLIENT_TIMEOUT_MS);
    return fd;
}

static void client_open(struct client *c, const char *path)
{
    *c = (struct client){ 0 };
    c->fd = raw_connect(path);
}

static void client_close(struct client *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    sl_buf_clean_up(&c->in);
}

static void send_bytes(int fd, const void *data, size_t len)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, (const char *)data + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail_msg("send: %s", strerror(errno));
        sent += (size_t)n;
    }
}

static void send_str(struct client *c, const char *s) { send_bytes(c->fd, s, strlen(s)); }

static void copy_value(char *dst, size_t size, const sl_buf *value)
{
    snprintf(dst, size, "%.*s", (int)value->len, value->data ? (const char *)value->data : "");
}

static void header_finished(struct response *r)
{
    sl_cursor name = sl_cursor_from_buf(&r->field);
    if (sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr("content-type")))
        copy_value(r->content_type, sizeof(r->content_type), &r->value);
    else if (sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr("allow")))
        copy_value(r->allow, sizeof(r->allow), &r->value);
    else if (sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr("connection")))
        copy_value(r->connection, sizeof(r->connection), &r->value);
    else if (sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr("retry-after")))
        copy_value(r->retry_after, sizeof(r->retry_after), &r->value);
    else if (sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr("content-length")))
        r->has_length = true;
    sl_buf_reset(&r->field);
    sl_buf_reset(&r->value);
}

static int r_field(http_parser *p, const char *at, size_t len)
{
    struct response *r = p->data;
    if (r->value.len > 0) header_finished(r);
    return sl_ok(sl_buf_append(&r->field, at, len)) ? 0 : -1;
}

static int r_value(http_parser *p, const char *at, size_t len)
{
    struct response *r = p->data;
    return sl_ok(sl_buf_append(&r->value, at, len)) ? 0 : -1;
}

static int r_headers_complete(http_parser *p)
{
    struct response *r = p->data;
    if (r->field.len > 0) header_finished(r);
    return r->head ? 1 : 0;
}

static int r_body(http_parser *p, const char *at, size_t len)
{
    struct response *r = p->data;
    return sl_ok(sl_buf_append(&r->body, at, len)) ? 0 : -1;
}

static int r_complete(http_parser *p)
{
    struct response *r = p->data;
    r->status = (int)p->status_code;
    r->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings response_settings = {
    .on_header_field = r_field,
    .on_header_value = r_value,
    .on_headers_complete = r_headers_complete,
    .on_body = r_body,
    .on_message_complete = r_complete,
};

/* Reads the next response; false if the connection ended (or timed out) first. */
static bool read_response_head(struct client *c, struct response *r, bool head)
{
    *r = (struct response){ .head = head };
    char chunk[65536];
    for (;;) {
        if (c->in.len > 0) {
            http_parser p;
            http_parser_init(&p, HTTP_RESPONSE);
            p.data = r;
            size_t used = http_parser_execute(&p, &response_settings, (const char *)c->in.data, c->in.len);
            if (r->complete) {
                memmove(c->in.data, c->in.data + used, c->in.len - used);
                c->in.len -= used;
                if (r->body.len > 0) r->json = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
                return true;
            }
            enum http_errno e = HTTP_PARSER_ERRNO(&p);
            if (e != HPE_OK) fail_msg("the server's answer is not HTTP: %s", http_errno_description(e));
            bool head_flag = r->head;
            response_clean_up(r);
            r->head = head_flag;
        }
        ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        assert_true(sl_ok(sl_buf_append(&c->in, chunk, (size_t)n)));
    }
}

static bool read_response(struct client *c, struct response *r) { return read_response_head(c, r, false); }

/* True if the server closes the connection within `ms` without sending anything more. */
static bool closed_within(struct client *c, int ms)
{
    set_timeouts(c->fd, ms);
    char b[256];
    ssize_t n;
    do n = recv(c->fd, b, sizeof(b), 0);
    while (n < 0 && errno == EINTR);
    set_timeouts(c->fd, CLIENT_TIMEOUT_MS);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One request on its own connection ("Connection: close"). */
static void request(struct fixture *f, const char *method, const char *path, const char *body, struct response *r)
{
    struct client c;
    client_open(&c, f->sock);
    sl_buf req = { 0 };
    assert_true(sl_ok(sl_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", method, path)));
    if (body != NULL)
        assert_true(sl_ok(sl_buf_appendf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                         strlen(body), body)));
    else
        assert_true(sl_ok(sl_buf_append_cstr(&req, "\r\n")));
    send_bytes(c.fd, req.data, req.len);
    sl_buf_clean_up(&req);
    if (!read_response(&c, r)) fail_msg("no answer to %s %s", method, path);
    client_close(&c);
}

static void get_on(struct client *c, const char *path)
{
    char text[512];
    snprintf(text, sizeof(text), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    send_str(c, text);
}

/* As get_on, for a connection the server may already have answered 503 and closed. */
static void try_get_on(struct client *c, const char *path)
{
    char text[512];
    snprintf(text, sizeof(text), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    (void)!send(c->fd, text, strlen(text), MSG_NOSIGNAL);
}

static const char *jstr(const json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

static void assert_error(const struct response *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    assert_string_equal(r->content_type, "application/json");
    assert_non_null(r->json);
    assert_string_equal(jstr(r->json, "error"), code);
    assert_non_null(jstr(r->json, "detail"));
}

/* ---- tests: answers and routing ---- */

static void health_answers_ok_as_json(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct response r;
    request(f, "GET", "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_true(r.has_length);
    assert_true(r.body.len > 0 && r.body.data[r.body.len - 1] == '\n');
    assert_string_equal(jstr(r.json, "status"), "ok");
    assert_string_equal(jstr(r.json, "version"), SLUICE_VERSION);
    assert_string_equal(r.connection, "close");
    response_clean_up(&r);
}

static void routes_pass_decoded_params_query_and_identity(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct response r;
    request(f, "GET", "/v1/things/a%2Fb/parts/x%20y?full=1&z", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "method"), "GET");
    assert_string_equal(jstr(r.json, "path"), "/v1/things/a/b/parts/x y");
    assert_string_equal(jstr(r.json, "query"), "full=1&z");
    json_t *params = json_object_get(r.json, "params");
    assert_int_equal(json_array_size(params), 2);
    assert_string_equal(json_string_value(json_array_get(params, 0)), "a/b"); /* %2F stays inside its segment */
    assert_string_equal(json_string_value(json_array_get(params, 1)), "x y");
    assert_string_equal(jstr(r.json, "user"), f->me);
    assert_int_equal(json_integer_value(json_object_get(r.json, "uid")), getuid());
    assert_int_equal(json_integer_value(json_object_get(r.json, "pid")), getpid());
    response_clean_up(&r);

    request(f, "GET", "/v1/things/abc", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "params")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "params"), 0)), "abc");
    assert_string_equal(jstr(r.json, "query"), "");
    response_clean_up(&r);

    request(f, "GET", "/v1/things", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "params")), 0);
    response_clean_up(&r);

    /* a literal segment beats a parameter, whatever the order of the table */
    request(f, "GET", "/v1/things/special", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), "ok");
    response_clean_up(&r);
    request(f, "GET", "/v1/things/speciaL", NULL, &r);
    assert_string_equal(jstr(r.json, "path"), "/v1/things/speciaL");
    response_clean_up(&r);
    assert_int_equal(atomic_load(&f->handled), 4);
}

static void unknown_paths_are_404(void **state)
{
    struct fixture *f = *state;
    start(f);
    const char *paths[] = { "/v1/nothing", "/v1/things/", "/v1//things", "/v1/things/a/parts", "/", "/v1/health/" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct response r;
        request(f, "GET", paths[i], NULL, &r);
        assert_error(&r, 404, "not_found");
        response_clean_up(&r);
    }
    struct response r;
    request(f, "GET", "/v1/nothing", NULL, &r);
    assert_non_null(strstr(jstr(r.json, "detail"), "/v1/nothing"));
    response_clean_up(&r);
    assert_int_equal(atomic_load(&f->handled), 0);
}

static void other_methods_are_405_with_allow(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct response r;
    request(f, "DELETE", "/v1/things", NULL, &r);
    assert_error(&r, 405, "method_not_allowed");
    assert_string_equal(r.allow, "GET, POST");
    response_clean_up(&r);

    request(f, "PUT", "/v1/health", NULL, &r);
    assert_error(&r, 405, "method_not_allowed");
    assert_string_equal(r.allow, "GET");
    response_clean_up(&r);

    /* HEAD: the same head, no body */
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_response_head(&c, &r, true));
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    assert_int_equal(r.body.len, 0);
    response_clean_up(&r);
    get_on(&c, "/v1/health"); /* the connection is still in step */
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&f->handled), 0);
}

static void handler_statuses_keep_the_framing(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    struct response r;
    get_on(&c, "/v1/status/204"); /* no body, no Content-Length, even if the handler gave one */
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 204);
    assert_false(r.has_length);
    assert_int_equal(r.body.len, 0);
    response_clean_up(&r);
    get_on(&c, "/v1/status/102"); /* an interim status would break the framing: 500 */
    assert_true(read_response(&c, &r));
    assert_error(&r, 500, "internal");
    response_clean_up(&r);
    get_on(&c, "/v1/status/299");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 299);
    assert_int_equal(json_integer_value(json_object_get(r.json, "asked")), 299);
    response_clean_up(&r);
    get_on(&c, "/v1/status/409");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 409);
    assert_true(r.has_length);
    response_clean_up(&r);
    client_close(&c);
}

static void malformed_paths_are_400(void **state)
{
    struct fixture *f = *state;
    start(f);
    const char *paths[] = { "/v1/things/%zz", "/v1/things/%4", "/v1/things/a%00b" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct response r;
        request(f, "GET", paths[i], NULL, &r);
        assert_error(&r, 400, "bad_request");
        response_clean_up(&r);
    }
    struct response r;
    request(f, "OPTIONS", "*", NULL, &r);
    assert_error(&r, 400, "bad_request");
    response_clean_up(&r);
    assert_int_equal(atomic_load(&f->handled), 0);
}

/* ---- tests: JSON bodies ---- */

static void malformed_json_is_400_with_position(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    const char *bad = "{\"a\": 1,\n \"b\": }";
    char text[256];
    snprintf(text, sizeof(text), "POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", strlen(bad),
             bad);
    send_str(&c, text);
    struct response r;
    assert_true(read_response(&c, &r));
    assert_error(&r, 400, "bad_json");
    assert_non_null(strstr(jstr(r.json, "detail"), "line 2, column"));
    assert_string_equal(r.connection, ""); /* a JSON error keeps the connection */
    response_clean_up(&r);
    get_on(&c, "/v1/health");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&f->handled), 0);
}

static void json_routes_want_one_object(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct response r;
    request(f, "POST", "/v1/things", "[1, 2]", &r);
    assert_error(&r, 400, "bad_json");
    assert_non_null(strstr(jstr(r.json, "detail"), "not an array"));
    response_clean_up(&r);

    request(f, "POST", "/v1/things", "\"text\"", &r);
    assert_error(&r, 400, "bad_json");
    response_clean_up(&r);

    request(f, "POST", "/v1/things", "{\"decision\": \"reject\", \"decision\": \"approve\"}", &r);
    assert_error(&r, 400, "bad_json");
    assert_non_null(strstr(jstr(r.json, "detail"), "duplicate"));
    response_clean_up(&r);

    request(f, "POST", "/v1/things", "", &r);
    assert_error(&r, 400, "bad_json");
    assert_non_null(strstr(jstr(r.json, "detail"), "needs a JSON object"));
    response_clean_up(&r);
    assert_int_equal(atomic_load(&f->handled), 0);

    request(f, "POST", "/v1/things", "{\"n\": 42, \"s\": \"\\u00e9\"}", &r);
    assert_int_equal(r.status, 200);
    json_t *echoed = json_object_get(r.json, "json");
    assert_int_equal(json_integer_value(json_object_get(echoed, "n")), 42);
    assert_string_equal(jstr(echoed, "s"), "\xc3\xa9");
    response_clean_up(&r);

    /* a route without json_body takes any bytes and parses nothing */
    request(f, "POST", "/v1/raw", "not json", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "body"), "not json");
    assert_null(json_object_get(r.json, "json"));
    response_clean_up(&r);
}

/* ---- tests: malformed HTTP and limits ---- */

static void malformed_http_is_400_and_closed(void **state)
{
    struct fixture *f = *state;
    start(f);
    const char *requests[] = {
        "GARBAGE / HTTP/1.1\r\n\r\n",
        "GET /v1/health HTTP/1.1\r\nNo colon here\r\n\r\n",
        "POST /v1/raw HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST /v1/raw HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        struct client c;
        client_open(&c, f->sock);
        send_str(&c, requests[i]);
        struct response r;
        assert_true(read_response(&c, &r));
        assert_error(&r, 400, "bad_request");
        assert_string_equal(r.connection, "close");
        assert_true(r.body.data[r.body.len - 1] == '\n');
        response_clean_up(&r);
        assert_true(closed_within(&c, 2000));
        client_close(&c);
    }
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "GET /v1/health HTTP/2.0\r\n\r\n");
    struct response r;
    assert_true(read_response(&c, &r));
    assert_error(&r, 505, "http_version_not_supported");
    response_clean_up(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&f->handled), 0);
}

/* Sends up to `total` bytes of body; returns how many the server took before closing. */
static size_t push_body(int fd, size_t total, bool chunked)
{
    static char block[65536];
    memset(block, 'x', sizeof(block));
    size_t sent = 0;
    char head[32];
    while (sent < total) {
        if (chunked) {
            snprintf(head, sizeof(head), "%zx\r\n", sizeof(block));
            if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0) break;
        }
        ssize_t n = send(fd, block, sizeof(block), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += (size_t)n;
        if (chunked && send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0) break;
    }
    return sent;
}

static void huge_body_is_413_without_buffering(void **state)
{
    struct fixture *f = *state;
    start(f); /* max_body: the default 1 MiB */
    const size_t ten_mib = (size_t)10 << 20;
    for (int chunked = 0; chunked <= 1; chunked++) {
        struct client c;
        client_open(&c, f->sock);
        char head[200];
        if (chunked)
            snprintf(head, sizeof(head), "POST /v1/raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        else
            snprintf(head, sizeof(head), "POST /v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", ten_mib);
        send_str(&c, head);
        size_t sent = push_body(c.fd, ten_mib, chunked);
        /* the server stopped reading at the limit and closed: most of it never went */
        assert_true(sent < ten_mib / 2);
        struct response r;
        assert_true(read_response(&c, &r));
        assert_error(&r, 413, "body_too_large");
        response_clean_up(&r);
        client_close(&c);
    }
    assert_int_equal(atomic_load(&f->handled), 0);
    struct response r;
    request(f, "GET", "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
}

static void body_at_the_limit_is_taken(void **state)
{
    struct fixture *f = *state;
    start_with(f, (api_options){ .max_body = 100000 });
    for (int chunked = 0; chunked <= 1; chunked++) {
        struct client c;
        client_open(&c, f->sock);
        char head[200];
        if (chunked)
            snprintf(head, sizeof(head), "POST /v1/raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        else
            snprintf(head, sizeof(head), "POST /v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
        send_str(&c, head);
        char *body = sl_malloc(100000);
        memset(body, 'b', 100000);
        if (chunked) {
            send_str(&c, "186a0\r\n"); /* 100000 */
            send_bytes(c.fd, body, 100000);
            send_str(&c, "\r\n0\r\n\r\n");
        } else {
            send_bytes(c.fd, body, 100000);
        }
        sl_free(body);
        struct response r;
        assert_true(read_response(&c, &r));
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "body_len")), 100000);
        response_clean_up(&r);
        client_close(&c);
    }
    /* one byte more is refused */
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "POST /v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n");
    struct response r;
    assert_true(read_response(&c, &r));
    assert_error(&r, 413, "body_too_large");
    response_clean_up(&r);
    client_close(&c);
}

static void huge_headers_are_431(void **state)
{
    struct fixture *f = *state;
    start(f); /* max_header: the default 16 KiB */
    size_t big = 20000;
    char *value = sl_malloc(big + 1);
    memset(value, 'v', big);
    value[big] = '\0';
    sl_buf req = { 0 };
    assert_true(sl_ok(sl_buf_appendf(&req, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", value)));
    struct client c;
    client_open(&c, f->sock);
    send_bytes(c.fd, req.data, req.len);
    struct response r;
    assert_true(read_response(&c, &r));
    assert_error(&r, 431, "headers_too_large");
    response_clean_up(&r);
    client_close(&c);

    /* a long URL counts too */
    sl_buf_reset(&req);
    assert_true(sl_ok(sl_buf_appendf(&req, "GET /v1/things/%s HTTP/1.1\r\nHost: x\r\n\r\n", value)));
    client_open(&c, f->sock);
    send_bytes(c.fd, req.data, req.len);
    assert_true(read_response(&c, &r));
    assert_error(&r, 431, "headers_too_large");
    response_clean_up(&r);
    client_close(&c);

    /* many small headers add up */
    sl_buf_reset(&req);
    assert_true(sl_ok(sl_buf_append_cstr(&req, "GET /v1/health HTTP/1.1\r\n")));
    for (int i = 0; i < 2000; i++) assert_true(sl_ok(sl_buf_appendf(&req, "X-H%d: 12345\r\n", i)));
    assert_true(sl_ok(sl_buf_append_cstr(&req, "\r\n")));
    client_open(&c, f->sock);
    send_bytes(c.fd, req.data, req.len);
    assert_true(read_response(&c, &r));
    assert_error(&r, 431, "headers_too_large");
    response_clean_up(&r);
    client_close(&c);
    sl_buf_clean_up(&req);
    sl_free(value);
}

static void expect_continue_gets_100_first(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "POST /v1/things HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 8\r\n\r\n");
    struct response r;
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 100);
    response_clean_up(&r);
    send_str(&c, "{\"a\":1}\n");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "json"), "a")), 1);
    response_clean_up(&r);
    client_close(&c);
}

/* Headers named in kept_headers reach the handler (case-insensitive names, values in
 * pieces, trimmed), in their order; they do not carry over to the next request of the
 * connection; one given twice is 400. */
static void kept_headers_reach_the_handler(void **state)
{
    struct fixture *f = *state;
    static const char *const kept[] = { "authorization", "x-amz-sns-message-type" };
    start_with(f, (api_options){ .kept_headers = kept, .kept_header_count = 2 });
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "GET /v1/things HTTP/1.1\r\nHost: x\r\nX-Amz-SNS-Message-Type:  Notification \r\n"
                 "AUTHORIZATION: Bearer ");
    send_str(&c, "abc\r\nX-Other: 1\r\n\r\n");
    struct response r;
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "h0"), "Bearer abc");
    assert_string_equal(jstr(r.json, "h1"), "Notification");
    response_clean_up(&r);
    send_str(&c, "GET /v1/things HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "h0"));
    assert_null(json_object_get(r.json, "h1"));
    response_clean_up(&r);
    send_str(&c, "GET /v1/things HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nauthorization: b\r\n\r\n");
    assert_true(read_response(&c, &r));
    assert_error(&r, 400, "bad_request");
    response_clean_up(&r);
    client_close(&c);
}

/* ---- tests: roles ---- */

static void reviewer_in_the_list_may_decide(void **state)
{
    struct fixture *f = *state;
    const char *reviewers[] = { "someone-else", f->me };
    start_with(f, (api_options){ .reviewers = reviewers, .reviewer_count = 2 });
    struct response r;
    request(f, "POST", "/v1/things/x/decision", "{\"decision\": \"approve\"}", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "roles")), API_ROLE_REVIEWER);
    response_clean_up(&r);
    request(f, "GET", "/v1/either", NULL, &r);
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    /* a reviewer is not an orchestrator */
    request(f, "POST", "/v1/tasks", "{}", &r);
    assert_error(&r, 403, "forbidden");
    response_clean_up(&r);
}

static void caller_without_role_is_403_by_name(void **state)
{
    struct fixture *f = *state;
    start(f); /* no reviewers, no orchestrators */
    struct response r;
    /* the body is not even looked at: 403 comes before JSON */
    request(f, "POST", "/v1/things/x/decision", "{not json", &r);
    assert_error(&r, 403, "forbidden");
    char expected[400];
    snprintf(expected, sizeof(expected),
             "user '%s' has none of the roles reviewer for POST /v1/things/x/decision; ask an administrator to add "
             "you to review.reviewers",
             f->me);
    assert_string_equal(jstr(r.json, "detail"), expected);
    response_clean_up(&r);

    request(f, "POST", "/v1/tasks", "{}", &r);
    assert_error(&r, 403, "forbidden");
    assert_non_null(strstr(jstr(r.json, "detail"), "review.orchestrators"));
    response_clean_up(&r);

    request(f, "GET", "/v1/either", NULL, &r);
    assert_error(&r, 403, "forbidden");
    assert_non_null(strstr(jstr(r.json, "detail"), "reviewer, orchestrator"));
    assert_non_null(strstr(jstr(r.json, "detail"), "review.reviewers or review.orchestrators"));
    response_clean_up(&r);
    assert_int_equal(atomic_load(&f->handled), 0);

    /* API_ROLE_ANY needs no list */
    request(f, "GET", "/v1/things", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "roles")), 0);
    response_clean_up(&r);
}

static void make_me_orchestrator(struct fixture *f, void *arg)
{
    (void)arg;
    const char *names[] = { f->me };
    api_server_set_roles(f->server, NULL, 0, names, 1);
}

static void new_roles_apply_to_open_connections(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    const char *post = "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    send_str(&c, post);
    struct response r;
    assert_true(read_response(&c, &r));
    assert_error(&r, 403, "forbidden");
    response_clean_up(&r);
    on_loop(f, make_me_orchestrator, NULL);
    send_str(&c, post);
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "roles")), API_ROLE_ORCHESTRATOR);
    response_clean_up(&r);
    client_close(&c);
}

/* ---- tests: connections ---- */

static void keep_alive_serves_requests_in_turn(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    struct response r;
    get_on(&c, "/v1/things/one");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.connection, "");
    response_clean_up(&r);
    get_on(&c, "/v1/things/two");
    assert_true(read_response(&c, &r));
    assert_string_equal(jstr(r.json, "path"), "/v1/things/two");
    response_clean_up(&r);

    /* pipelined: three requests in one write, answered in order */
    send_str(&c, "GET /v1/things/a HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"k\":\"v\"}"
                 "GET /v1/things/c HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(read_response(&c, &r));
    assert_string_equal(jstr(r.json, "path"), "/v1/things/a");
    response_clean_up(&r);
    assert_true(read_response(&c, &r));
    assert_string_equal(jstr(json_object_get(r.json, "json"), "k"), "v");
    response_clean_up(&r);
    assert_true(read_response(&c, &r));
    assert_string_equal(jstr(r.json, "path"), "/v1/things/c");
    response_clean_up(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&f->handled), 5);
}

static void connection_close_is_honoured(void **state)
{
    struct fixture *f = *state;
    start(f);
    const char *requests[] = {
        "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /v1/health HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < 2; i++) {
        struct client c;
        client_open(&c, f->sock);
        send_str(&c, requests[i]);
        struct response r;
        assert_true(read_response(&c, &r));
        assert_int_equal(r.status, 200);
        assert_string_equal(r.connection, "close");
        response_clean_up(&r);
        assert_true(closed_within(&c, 2000));
        client_close(&c);
    }
    /* HTTP/1.0 with keep-alive stays open */
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    struct response r;
    assert_true(read_response(&c, &r));
    assert_string_equal(r.connection, "keep-alive");
    response_clean_up(&r);
    send_str(&c, "GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    client_close(&c);
}

static void async_handler_answers_later(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    uint64_t t0 = now_ms();
    get_on(&c, "/v1/async/80");
    struct response r;
    assert_true(read_response(&c, &r));
    assert_true(now_ms() - t0 >= 80);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "late")));
    response_clean_up(&r);
    /* the connection goes on after an asynchronous answer */
    get_on(&c, "/v1/health");
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&f->async_gone), 0);
}

static bool wait_for(atomic_int *counter, int value, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    while (atomic_load(counter) < value) {
        if (now_ms() > end) return false;
        usleep(5000);
    }
    return true;
}

static void client_gone_before_async_answer(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    get_on(&c, "/v1/async/300");
    assert_true(wait_for(&f->async_started, 1, 5000));
    client_close(&c); /* gone before the answer */
    assert_true(wait_for(&f->async_fired, 1, 5000));
    assert_int_equal(atomic_load(&f->async_gone), 1);
    struct response r;
    request(f, "GET", "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
}

static void half_closed_client_still_gets_its_answer(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    get_on(&c, "/v1/async/100");
    assert_true(wait_for(&f->async_started, 1, 5000));
    shutdown(c.fd, SHUT_WR); /* "that is all I send" — not "I am gone" */
    struct response r;
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    assert_true(closed_within(&c, 2000));
    client_close(&c);
    assert_int_equal(atomic_load(&f->async_gone), 0);
}

static void server_closed_with_request_pending(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    get_on(&c, "/v1/async/200");
    assert_true(wait_for(&f->async_started, 1, 5000));
    stop(f); /* the loop runs until the handler's timer answered (and freed) the request */
    assert_int_equal(atomic_load(&f->async_fired), 1);
    assert_int_equal(atomic_load(&f->async_gone), 1);
    assert_true(closed_within(&c, 2000));
    client_close(&c);
    struct stat st;
    assert_int_equal(lstat(f->sock, &st), -1); /* the socket file is gone */
}

static void handler_may_close_the_server(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "POST /v1/shutdown HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    /* the answer was handed to the socket before the handler closed the server */
    struct response r;
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), "closing");
    response_clean_up(&r);
    assert_true(closed_within(&c, 5000));
    client_close(&c);
    uint64_t end = now_ms() + 5000;
    struct stat st;
    while (lstat(f->sock, &st) == 0 && now_ms() < end) usleep(5000);
    assert_int_equal(lstat(f->sock, &st), -1);
}

static void deadlines_cut_idle_slow_heads_and_bodies(void **state)
{
    struct fixture *f = *state;
    start_with(f, (api_options){ .idle_timeout_ms = 200, .head_timeout_ms = 300, .body_timeout_ms = 300 });
    /* nothing sent: closed without a word */
    struct client c;
    client_open(&c, f->sock);
    uint64_t t0 = now_ms();
    assert_true(closed_within(&c, 5000));
    assert_true(now_ms() - t0 >= 150);
    client_close(&c);

    /* a head that never ends: 408, then closed */
    client_open(&c, f->sock);
    send_str(&c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n");
    struct response r;
    assert_true(read_response(&c, &r));
    assert_error(&r, 408, "request_timeout");
    assert_non_null(strstr(jstr(r.json, "detail"), "request head was not complete within 300 ms"));
    response_clean_up(&r);
    assert_true(closed_within(&c, 2000));
    client_close(&c);

    /* a body that never completes, though bytes keep coming: cut at the timeout */
    client_open(&c, f->sock);
    send_str(&c, "POST /v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        (void)!send(c.fd, "x", 1, MSG_NOSIGNAL); /* fails once the server has cut it */
        usleep(60000);
    }
    assert_true(read_response(&c, &r));
    assert_error(&r, 408, "request_timeout");
    assert_non_null(strstr(jstr(r.json, "detail"), "request body was not complete within 300 ms"));
    assert_true(now_ms() - t0 < 2000);
    response_clean_up(&r);
    client_close(&c);

    /* a head that trickles in a byte at a time is cut at its deadline too */
    client_open(&c, f->sock);
    t0 = now_ms();
    const char *slow = "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    for (size_t i = 0; slow[i] != '\0' && now_ms() - t0 < 1500; i++) {
        (void)!send(c.fd, slow + i, 1, MSG_NOSIGNAL);
        usleep(20000);
    }
    assert_true(read_response(&c, &r));
    assert_error(&r, 408, "request_timeout");
    response_clean_up(&r);
    client_close(&c);

    /* after an answer the clock starts again */
    client_open(&c, f->sock);
    get_on(&c, "/v1/health");
    assert_true(read_response(&c, &r));
    response_clean_up(&r);
    assert_true(closed_within(&c, 5000));
    client_close(&c);
    assert_int_equal(atomic_load(&f->handled), 0);
}

static void hundred_concurrent_clients_all_answered(void **state)
{
    struct fixture *f = *state;
    start_with(f, (api_options){ .max_connections_per_user = 128 }); /* all are this test's uid */
    enum { N = 100 };
    struct client c[N];
    for (int i = 0; i < N; i++) client_open(&c[i], f->sock);
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/v1/things/%d", i);
        get_on(&c[i], path);
    }
    for (int i = N - 1; i >= 0; i--) {
        struct response r;
        assert_true(read_response(&c[i], &r));
        assert_int_equal(r.status, 200);
        char path[64];
        snprintf(path, sizeof(path), "/v1/things/%d", i);
        assert_string_equal(jstr(r.json, "path"), path);
        response_clean_up(&r);
        client_close(&c[i]);
    }
    assert_int_equal(atomic_load(&f->handled), N);
}

static void stalled_client_does_not_block_others(void **state)
{
    struct fixture *f = *state;
    start(f); /* idle timeout 5 s */
    struct client stalled, body_stalled;
    client_open(&stalled, f->sock);
    send_str(&stalled, "GET /v1/hea");
    client_open(&body_stalled, f->sock);
    send_str(&body_stalled, "POST /v1/raw HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly a little");
    uint64_t t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        struct response r;
        request(f, "GET", "/v1/health", NULL, &r);
        assert_int_equal(r.status, 200);
        response_clean_up(&r);
    }
    assert_true(now_ms() - t0 < 2000);
    /* and the stalled ones are still there, unanswered */
    struct pollfd p[2] = { { .fd = stalled.fd, .events = POLLIN }, { .fd = body_stalled.fd, .events = POLLIN } };
    assert_int_equal(poll(p, 2, 0), 0);
    client_close(&stalled);
    client_close(&body_stalled);
}

static void connections_over_the_limit_get_503(void **state)
{
    struct fixture *f = *state;
    /* one user: it may take 2 of the 3 (the last is the reserve for users holding none) */
    start_with(f, (api_options){ .max_connections = 3, .max_connections_per_user = 3, .reserve = 1 });
    struct client a, b, c;
    struct response r;
    client_open(&a, f->sock);
    client_open(&b, f->sock);
    get_on(&a, "/v1/health"); /* both accepted and counted */
    assert_true(read_response(&a, &r));
    response_clean_up(&r);
    get_on(&b, "/v1/health");
    assert_true(read_response(&b, &r));
    response_clean_up(&r);

    client_open(&c, f->sock);
    try_get_on(&c, "/v1/health");
    assert_true(read_response(&c, &r));
    assert_error(&r, 503, "busy");
    assert_string_equal(r.retry_after, "1");
    assert_string_equal(r.connection, "close");
    response_clean_up(&r);
    assert_true(closed_within(&c, 2000));
    client_close(&c);

    /* the admitted ones go on */
    get_on(&a, "/v1/things/still");
    assert_true(read_response(&a, &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);

    /* a freed place is taken by the next client */
    client_close(&b);
    bool served = false;
    for (uint64_t end = now_ms() + 5000; !served && now_ms() < end;) {
        client_open(&c, f->sock);
        try_get_on(&c, "/v1/health");
        assert_true(read_response(&c, &r));
        served = r.status == 200;
        response_clean_up(&r);
        client_close(&c);
        if (!served) usleep(10000);
    }
    assert_true(served);
    client_close(&a);
}

/* A client that shuts its sending side in the middle of a request gets one answer
 * (400) instead of silence. */
static void a_request_cut_short_is_answered(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct client c;
    client_open(&c, f->sock);
    send_str(&c, "POST /v1/raw HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    shutdown(c.fd, SHUT_WR);
    struct response r;
    assert_true(read_response(&c, &r));
    assert_error(&r, 400, "bad_request");
    assert_non_null(strstr(jstr(r.json, "detail"), "stopped sending in the middle of a request"));
    response_clean_up(&r);
    assert_true(closed_within(&c, 2000));
    client_close(&c);
    /* a whole request, then the end: answered, then closed without another word */
    client_open(&c, f->sock);
    send_str(&c, "GET /v1/health HTTP/1.1\r\n\r\n");
    shutdown(c.fd, SHUT_WR);
    assert_true(read_response(&c, &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    assert_true(closed_within(&c, 2000));
    client_close(&c);
}

/* One uid gets at most its share of the connections; its next is refused, naming the
 * limit, and the ones it holds go on. */
static void one_user_is_held_to_its_share(void **state)
{
    struct fixture *f = *state;
    start_with(f, (api_options){ .max_connections = 8, .max_connections_per_user = 3 });
    struct client held[3], extra;
    struct response r;
    for (int i = 0; i < 3; i++) {
        client_open(&held[i], f->sock);
        get_on(&held[i], "/v1/health");
        assert_true(read_response(&held[i], &r));
        assert_int_equal(r.status, 200);
        response_clean_up(&r);
    }
    client_open(&extra, f->sock);
    try_get_on(&extra, "/v1/health");
    assert_true(read_response(&extra, &r));
    assert_error(&r, 503, "busy");
    assert_non_null(strstr(jstr(r.json, "detail"), "holds its limit of 3 connections"));
    response_clean_up(&r);
    client_close(&extra);
    get_on(&held[0], "/v1/health");
    assert_true(read_response(&held[0], &r));
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    for (int i = 0; i < 3; i++) client_close(&held[i]);
}

/* What a child running as another uid gets for GET /v1/health on `sock`: 200, 503,
 * 0 for another status, or the negative step that failed (-10 setuid, -11 connect,
 * -12 write, -13 read; -1 no exit status). */
static int health_as_uid(const char *sock, uid_t uid)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (setgid(uid) != 0 || setuid(uid) != 0) _exit(10);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) _exit(11);
        const char *req = "GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n";
        if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) _exit(12);
        char answer[64] = "";
        if (read(fd, answer, sizeof(answer) - 1) < 12) _exit(13);
        int status = atoi(answer + 9);
        _exit(status == 200 ? 0 : status == 503 ? 1 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (!WIFEXITED(status)) return -1;
    if (WEXITSTATUS(status) > 2) return -WEXITSTATUS(status);
    return WEXITSTATUS(status) == 0 ? 200 : WEXITSTATUS(status) == 1 ? 503 : 0;
}

/* The reserve: when one user holds all it may of the rest, a user holding none is
 * still served. Needs root (a second uid). */
static void a_user_holding_none_is_served_from_the_reserve(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) skip();
    assert_int_equal(chmod(f->dir, 0711), 0); /* the other uid must reach the socket */
    start_with(f, (api_options){ .max_connections = 6, .max_connections_per_user = 6, .reserve = 2,
                                 .socket_mode = 0666 });
    struct client mine[4], extra;
    struct response r;
    for (int i = 0; i < 4; i++) {
        client_open(&mine[i], f->sock);
        send_str(&mine[i], "GET /v1/hea"); /* stalled */
    }
    for (uint64_t end = now_ms() + 5000; now_ms() < end;) { /* until all four are counted */
        client_open(&extra, f->sock);
        try_get_on(&extra, "/v1/health");
        bool got = read_response(&extra, &r);
        int status = got ? r.status : 0;
        if (got) response_clean_up(&r);
        client_close(&extra);
        if (status == 503) break;
        usleep(10000);
    }
    /* this uid is refused now ... */
    client_open(&extra, f->sock);
    try_get_on(&extra, "/v1/health");
    assert_true(read_response(&extra, &r));
    assert_error(&r, 503, "busy");
    assert_non_null(strstr(jstr(r.json, "detail"), "serving its limit of 4"));
    response_clean_up(&r);
    client_close(&extra);
    /* ... and another, holding none, is served */
    assert_int_equal(health_as_uid(f->sock, 65534), 200);
    assert_int_equal(health_as_uid(f->sock, 65533), 200);
    for (int i = 0; i < 4; i++) client_close(&mine[i]);
}

/* Finding 5: a socket folder another user can write (or that is not the daemon's) is
 * refused with what to do; so is one under a folder others could rename it in. */
static void socket_folders_others_can_write_are_refused(void **state)
{
    struct fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    api_server *srv = NULL;
    struct {
        const char *folder;  /* under f->dir; created with `mode` */
        mode_t mode;
        const char *socket;  /* under f->dir */
        const char *message; /* NULL: accepted */
    } cases[] = {
        { "open", 0777, "open/api.sock", "is writable by every user (mode 0777)" },
        { "team", 0770, "team/api.sock", "is writable by its group (mode 0770)" },
        { "shared", 0777, "shared/own/api.sock", "above the socket's, is writable by other users (mode 0777)" },
        { "sticky", 01777, "sticky/own/api.sock", NULL },
        { "mine", 0700, "mine/api.sock", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char folder[200], sock[200];
        snprintf(folder, sizeof(folder), "%s/%s", f->dir, cases[i].folder);
        snprintf(sock, sizeof(sock), "%s/%s", f->dir, cases[i].socket);
        assert_int_equal(mkdir(folder, 0700), 0);
        assert_int_equal(chmod(folder, cases[i].mode), 0);
        api_options o = { .socket_path = sock };
        sl_result made = api_server_new(&loop, &o, f->routes, f->route_count, &srv);
        if (cases[i].message == NULL) {
            if (sl_failed(made)) fail_msg("case %zu: %s", i, sl_error_detail());
            api_server_close(srv);
            uv_run(&loop, UV_RUN_DEFAULT);
            continue;
        }
        assert_true(sl_failed(made));
        assert_int_equal(sl_error_last(), SL_ERR_IO);
        if (strstr(sl_error_detail(), cases[i].message) == NULL || strstr(sl_error_detail(), "chmod") == NULL)
            fail_msg("case %zu: %s", i, sl_error_detail());
        struct stat st;
        assert_int_equal(lstat(sock, &st), -1); /* no socket made */
    }
    if (geteuid() == 0) { /* a folder of another user */
        char folder[200], sock[256];
        snprintf(folder, sizeof(folder), "%s/theirs", f->dir);
        snprintf(sock, sizeof(sock), "%s/api.sock", folder);
        assert_int_equal(mkdir(folder, 0700), 0);
        assert_int_equal(chown(folder, 65534, 65534), 0);
        api_options o = { .socket_path = sock };
        assert_true(sl_failed(api_server_new(&loop, &o, f->routes, f->route_count, &srv)));
        if (strstr(sl_error_detail(), "belongs to") == NULL || strstr(sl_error_detail(), "chown 0 ") == NULL)
            fail_msg("%s", sl_error_detail());
    }
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The socket is bound with its mode, whatever the process's umask, which is left as it
 * was. */
static void socket_has_its_mode_from_the_start(void **state)
{
    struct fixture *f = *state;
    mode_t old = umask(0); /* permissive: a bind under it would make 0777 */
    start_with(f, (api_options){ .socket_mode = 0600 });
    assert_int_equal(umask(old), 0);
    struct stat st;
    assert_int_equal(lstat(f->sock, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

/* ---- tests: the socket file ---- */

static void stale_socket_is_replaced(void **state)
{
    struct fixture *f = *state;
    char run[200];
    snprintf(run, sizeof(run), "%s/run", f->dir);
    assert_int_equal(mkdir(run, 0700), 0);
    /* a socket file nobody listens on, as a crashed daemon leaves it */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    fill_addr(&addr, f->sock);
    assert_int_equal(bind(fd, (const struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
    struct stat st;
    assert_int_equal(lstat(f->sock, &st), 0);
    start(f);
    struct response r;
    request(f, "GET", "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
    /* the existing folder was left as it was */
    assert_int_equal(stat(run, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

struct second_try {
    bool failed;
    sl_error code;
    char detail[512];
};

static void try_second_server(struct fixture *f, void *arg)
{
    struct second_try *t = arg;
    api_server *other = NULL;
    api_options o = { .socket_path = f->sock };
    t->failed = sl_failed(api_server_new(&f->loop, &o, f->routes, f->route_count, &other));
    t->code = sl_error_last();
    snprintf(t->detail, sizeof(t->detail), "%s", sl_error_detail());
    if (!t->failed) api_server_close(other);
}

static void live_socket_is_refused(void **state)
{
    struct fixture *f = *state;
    start(f);
    struct second_try t = { 0 };
    on_loop(f, try_second_server, &t);
    assert_true(t.failed);
    assert_int_equal(t.code, SL_ERR_IO);
    char expected[300];
    snprintf(expected, sizeof(expected), "another daemon is serving %s", f->sock);
    assert_string_equal(t.detail, expected);
    struct response r;
    request(f, "GET", "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    response_clean_up(&r);
}

static void socket_mode_and_folders(void **state)
{
    struct fixture *f = *state;
    snprintf(f->sock, sizeof(f->sock), "%s/a/b/api.sock", f->dir);
    mode_t old = umask(077); /* the new folders get 0711 all the same */
    start_with(f, (api_options){ .socket_mode = 0606 });
    umask(old);
    struct stat st;
    assert_int_equal(lstat(f->sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0606);
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/a", f->dir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0711);
    snprintf(dir, sizeof(dir), "%s/a/b", f->dir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0711);
    stop(f);
    assert_int_equal(lstat(f->sock, &st), -1); /* removed on close */
    assert_int_equal(errno, ENOENT);
}

static void other_files_and_bad_options_are_refused(void **state)
{
    struct fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    api_server *s = NULL;
    char path[200];
    snprintf(path, sizeof(path), "%s/plain", f->dir);
    FILE *file = fopen(path, "w");
    fputs("not a socket", file);
    fclose(file);
    api_options o = { .socket_path = path };
    assert_true(sl_failed(api_server_new(&loop, &o, f->routes, f->route_count, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), "is not a socket"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0); /* left alone */

    char longer[200];
    memset(longer, 'p', sizeof(longer) - 1);
    longer[0] = '/';
    longer[sizeof(longer) - 1] = '\0';
    o.socket_path = longer;
    assert_true(sl_failed(api_server_new(&loop, &o, f->routes, f->route_count, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);

    o.socket_path = f->sock;
    o.socket_mode = 01777;
    assert_true(sl_failed(api_server_new(&loop, &o, f->routes, f->route_count, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    o.socket_mode = 0;

    const char *bad_patterns[] = { "v1/x", "/v1/{a}{b}", "/v1/{}", "/v1/x{id}", "/v1//x", "/{a}/{b}/{c}/{d}/{e}" };
    for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++) {
        api_route route = { .method = "GET", .pattern = bad_patterns[i], .roles = API_ROLE_ANY,
                            .handler = echo_handler };
        assert_true(sl_failed(api_server_new(&loop, &o, &route, 1, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
        assert_int_equal(lstat(f->sock, &st), -1); /* no socket made */
    }
    api_route twins[] = { { .method = "GET", .pattern = "/v1/x/{id}", .handler = echo_handler },
                          { .method = "POST", .pattern = "/v1/x/{id}", .handler = echo_handler },
                          { .method = "GET", .pattern = "/v1/x/{name}", .handler = echo_handler } };
    assert_true(sl_failed(api_server_new(&loop, &o, twins, 3, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(sl_error_detail(), "routes 0 and 2 are the same"));
    api_route no_handler = { .method = "GET", .pattern = "/v1/x", .roles = API_ROLE_ANY };
    assert_true(sl_failed(api_server_new(&loop, &o, &no_handler, 1, &s)));
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&loop), 0); /* nothing was left on the loop */
}

/* ---- tests: the CLI's client ---- */

static void api_call_talks_to_the_daemon(void **state)
{
    struct fixture *f = *state;
    start(f);
    long status = 0;
    json_t *answer = NULL;
    char err[512];
    assert_true(sl_ok(api_call(f->sock, "GET", "/v1/health", NULL, &status, &answer, err, sizeof(err))));
    assert_int_equal(status, 200);
    assert_string_equal(jstr(answer, "version"), SLUICE_VERSION);
    json_decref(answer);

    assert_true(sl_ok(api_call(f->sock, "POST", "/v1/things", "{\"x\": [1, 2]}", &status, &answer, err,
                               sizeof(err))));
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(json_object_get(answer, "json"), "x")), 2);
    json_decref(answer);

    /* errors are answers too */
    assert_true(sl_ok(api_call(f->sock, "POST", "/v1/tasks", "{}", &status, &answer, err, sizeof(err))));
    assert_int_equal(status, 403);
    char text[512];
    api_client_describe_error(status, answer, text, sizeof(text));
    assert_true(strncmp(text, "403 forbidden: user '", 21) == 0);
    json_decref(answer);

    /* an answer that comes before the whole request was sent */
    size_t big = (size_t)3 << 20;
    char *body = sl_malloc(big + 1);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    assert_true(sl_ok(api_call(f->sock, "POST", "/v1/things", body, &status, &answer, err, sizeof(err))));
    assert_int_equal(status, 413);
    assert_string_equal(jstr(answer, "error"), "body_too_large");
    json_decref(answer);
    sl_free(body);

    /* nobody there */
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/missing.sock", f->dir);
    status = -7;
    answer = NULL;
    assert_true(sl_failed(api_call(missing, "GET", "/v1/health", NULL, &status, &answer, err, sizeof(err))));
    char expected[400];
    snprintf(expected, sizeof(expected),
             "cannot connect to %s: No such file or directory — is sluice-mover running? set --socket or "
             "SLUICE_SOCKET",
             missing);
    assert_string_equal(err, expected);
    assert_int_equal(sl_error_last(), SL_ERR_CONNECTION);
    assert_int_equal(status, -7);
    assert_null(answer);
}

/* A fake daemon: answers one connection with canned bytes, then closes. */
struct fake_daemon {
    int listener;
    const char *answer;
};

static void *fake_daemon_run(void *arg)
{
    struct fake_daemon *d = arg;
    int conn = accept(d->listener, NULL, NULL);
    if (conn < 0) return NULL;
    char buf[4096];
    (void)!recv(conn, buf, sizeof(buf), 0);
    (void)!send(conn, d->answer, strlen(d->answer), MSG_NOSIGNAL);
    close(conn);
    return NULL;
}

static void api_call_rejects_answers_that_are_not_http_or_json(void **state)
{
    struct fixture *f = *state;
    char path[200];
    snprintf(path, sizeof(path), "%s/fake.sock", f->dir);
    struct fake_daemon d = { .listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) };
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    fill_addr(&addr, path);
    assert_int_equal(bind(d.listener, (const struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(d.listener, 4), 0);
    const char *answers[] = { "SSH-2.0-OpenSSH\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                              "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"cut\":", "" };
    const char *expected[] = { "is not HTTP", "is not JSON", "closed the connection in the middle of its answer",
                               "closed the connection before answering" };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        d.answer = answers[i];
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, fake_daemon_run, &d), 0);
        long status = 0;
        json_t *answer = NULL;
        char err[512];
        bool failed = sl_failed(api_call(path, "GET", "/v1/health", NULL, &status, &answer, err, sizeof(err)));
        pthread_join(thread, NULL);
        assert_true(failed);
        if (strstr(err, expected[i]) == NULL) fail_msg("case %zu: %s", i, err);
        assert_null(answer);
    }
    close(d.listener);
}

static void cli_socket_path_and_health_command(void **state)
{
    struct fixture *f = *state;
    char err[2048];
    unsetenv("SLUICE_SOCKET");
    char *p = api_client_socket_path(NULL, NULL, err, sizeof(err));
    assert_string_equal(p, "/run/sluice/api.sock");
    sl_free(p);
    p = api_client_socket_path(NULL, SLUICE_SOURCE_DIR "/config/examples/production.json", err, sizeof(err));
    assert_non_null(p);
    assert_string_equal(p, "/run/sluice/api.sock");
    sl_free(p);
    setenv("SLUICE_SOCKET", "/from/env.sock", 1);
    p = api_client_socket_path(NULL, SLUICE_SOURCE_DIR "/config/examples/production.json", err, sizeof(err));
    assert_string_equal(p, "/from/env.sock");
    sl_free(p);
    p = api_client_socket_path("/from/option.sock", NULL, err, sizeof(err));
    assert_string_equal(p, "/from/option.sock");
    sl_free(p);
    unsetenv("SLUICE_SOCKET");
    char missing_config[200];
    snprintf(missing_config, sizeof(missing_config), "%s/none.json", f->dir);
    assert_null(api_client_socket_path(NULL, missing_config, err, sizeof(err)));
    assert_non_null(strstr(err, missing_config));

    start(f);
    char *ok_args[] = { "health", "--socket", f->sock, NULL };
    assert_int_equal(review_health_command(3, ok_args), 0);
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/missing.sock", f->dir);
    char *down_args[] = { "health", "--socket", missing, NULL };
    assert_int_equal(review_health_command(3, down_args), 1);
    setenv("SLUICE_SOCKET", f->sock, 1);
    char *env_args[] = { "health", "--json", NULL };
    assert_int_equal(review_health_command(2, env_args), 0);
    unsetenv("SLUICE_SOCKET");
    char *bad_args[] = { "health", "--bogus", NULL };
    assert_int_equal(review_health_command(2, bad_args), 2);
    char *extra_args[] = { "health", "extra", NULL };
    assert_int_equal(review_health_command(2, extra_args), 2);
}

/* Runs the CLI's health command with its stdout going to a file; returns its exit code
 * and what it printed (to free). */
static int health_command_output(char **argv, int argc, char **out)
{
    char path[] = "/tmp/sluice-health-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    assert_int_equal(dup2(fd, 1), 1);
    int code = review_health_command(argc, argv);
    fflush(stdout);
    assert_int_equal(dup2(saved, 1), 1);
    close(saved);
    close(fd);
    sl_buf text = { 0 };
    assert_true(sl_ok(sl_buf_read_file(&text, path, 1 << 20)));
    unlink(path);
    *out = sl_strdup(sl_buf_cstr(&text));
    sl_buf_clean_up(&text);
    return code;
}

/* A part at fault (the audit log could not write) makes health "degraded": 503 with
 * the reason as a field, every fault listed, and error/detail as any error answer;
 * the CLI prints the reason and exits 1. Healthy again: 200 ok. */
static void health_says_degraded_with_the_reason(void **state)
{
    struct fixture *f = *state;
    start(f);
    atomic_store(&f->fault, "write of seq 17: File too large");
    struct response r;
    request(f, "GET", "/v1/health", NULL, &r);
    assert_error(&r, 503, "degraded");
    assert_string_equal(jstr(r.json, "status"), "degraded");
    assert_string_equal(jstr(r.json, "reason"), "test_part: write of seq 17: File too large");
    assert_string_equal(jstr(r.json, "version"), SLUICE_VERSION);
    json_t *fault = json_array_get(json_object_get(r.json, "faults"), 0);
    assert_string_equal(jstr(fault, "check"), "test_part");
    assert_string_equal(jstr(fault, "reason"), "write of seq 17: File too large");
    assert_non_null(strstr(jstr(r.json, "detail"), "File too large"));
    response_clean_up(&r);

    char *out = NULL;
    char *args[] = { "health", "--socket", f->sock, NULL };
    assert_int_equal(health_command_output(args, 3, &out), 1);
    assert_non_null(strstr(out, "degraded: test_part: write of seq 17: File too large"));
    sl_free(out);
    char *json_args[] = { "health", "--socket", f->sock, "--json", NULL };
    assert_int_equal(health_command_output(json_args, 4, &out), 1);
    assert_non_null(strstr(out, "\"status\":\"degraded\""));
    sl_free(out);

    atomic_store(&f->fault, NULL);
    request(f, "GET", "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), "ok");
    response_clean_up(&r);
    assert_int_equal(health_command_output(args, 3, &out), 0);
    assert_non_null(strstr(out, "ok: sluice-mover"));
    sl_free(out);
    assert_true(sl_failed(health_endpoint_add(&f->health, "", test_fault, f)));
}

/* The one error table: every row has a code, a status of its kind and a detail, codes
 * are unique, anything outside the table reads as "internal", and docs/api.md lists
 * each row with its status. */
static void error_table_is_whole_and_documented(void **state)
{
    (void)state;
    FILE *doc = fopen(SLUICE_SOURCE_DIR "/docs/api.md", "r");
    assert_non_null(doc);
    sl_buf text = { 0 };
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), doc)) > 0) assert_true(sl_ok(sl_buf_append(&text, chunk, n)));
    fclose(doc);
    const char *md = sl_buf_cstr(&text);
    for (int e = 0; e < API_ERROR_COUNT; e++) {
        const char *code = api_error_code((api_error)e);
        int status = api_error_status((api_error)e);
        assert_true(status >= 400 && status <= 599);
        assert_true(strlen(api_error_message((api_error)e)) > 0);
        for (int other = 0; other < e; other++) assert_string_not_equal(code, api_error_code((api_error)other));
        char row[128];
        snprintf(row, sizeof(row), "| %d | `%s` |", status, code);
        if (strstr(md, row) == NULL) fail_msg("docs/api.md has no row \"%s\"", row);
    }
    assert_string_equal(api_error_code(API_ERROR_COUNT), "internal");
    assert_int_equal(api_error_status((api_error)-1), 500);
    sl_buf_clean_up(&text);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as sluice-mover does: a client that left must not kill us */
    sl_log_configure(SL_LOG_ERROR, false);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(health_answers_ok_as_json),
        T(routes_pass_decoded_params_query_and_identity),
        T(unknown_paths_are_404),
        T(other_methods_are_405_with_allow),
        T(handler_statuses_keep_the_framing),
        T(malformed_paths_are_400),
        T(malformed_json_is_400_with_position),
        T(json_routes_want_one_object),
        T(malformed_http_is_400_and_closed),
        T(huge_body_is_413_without_buffering),
        T(body_at_the_limit_is_taken),
        T(huge_headers_are_431),
        T(expect_continue_gets_100_first),
        T(kept_headers_reach_the_handler),
        T(reviewer_in_the_list_may_decide),
        T(caller_without_role_is_403_by_name),
        T(new_roles_apply_to_open_connections),
        T(keep_alive_serves_requests_in_turn),
        T(connection_close_is_honoured),
        T(async_handler_answers_later),
        T(client_gone_before_async_answer),
        T(half_closed_client_still_gets_its_answer),
        T(server_closed_with_request_pending),
        T(handler_may_close_the_server),
        T(deadlines_cut_idle_slow_heads_and_bodies),
        T(a_request_cut_short_is_answered),
        T(one_user_is_held_to_its_share),
        T(a_user_holding_none_is_served_from_the_reserve),
        T(socket_folders_others_can_write_are_refused),
        T(socket_has_its_mode_from_the_start),
        T(hundred_concurrent_clients_all_answered),
        T(stalled_client_does_not_block_others),
        T(connections_over_the_limit_get_503),
        T(stale_socket_is_replaced),
        T(live_socket_is_refused),
        T(socket_mode_and_folders),
        T(other_files_and_bad_options_are_refused),
        T(api_call_talks_to_the_daemon),
        T(api_call_rejects_answers_that_are_not_http_or_json),
        T(cli_socket_path_and_health_command),
        T(health_says_degraded_with_the_reason),
        cmocka_unit_test(error_table_is_whole_and_documented),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
