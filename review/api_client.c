/*
 * api_client.c — blocking HTTP/1.1 over the daemon's Unix socket (see api_client.h).
 *
 * connect (blocking, bounded by SO_SNDTIMEO) → send the request with poll() on a
 * non-blocking socket → read until http-parser reports the end of the answer, all
 * against one deadline. If the daemon answers before taking the whole request (413, 503)
 * the send fails with EPIPE: that is not an error as long as an answer can be read.
 * 1xx interim answers are skipped.
 */
#include "api_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "config/config.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "version.h"

struct answer {
    sl_buf body;
    bool complete;
    bool too_large;
    int status;
};

/* Writes the message into err and records it as the last error. */
static sl_result fail(char *err, size_t err_len, sl_error code, const char *fmt, ...) SL_PRINTF(4, 5);

static sl_result fail(char *err, size_t err_len, sl_error code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (err != NULL && err_len > 0) snprintf(err, err_len, "%s", text);
    return sl_error_raise(code, __FILE__, __LINE__, "%s", text);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct answer *a = p->data;
    if (a->body.len + len > API_CLIENT_MAX_RESPONSE) {
        a->too_large = true;
        return -1;
    }
    return sl_ok(sl_buf_append(&a->body, at, len)) ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
    struct answer *a = p->data;
    if (p->status_code < 200) { /* "100 Continue" and friends: the answer follows */
        sl_buf_reset(&a->body);
        return 0;
    }
    a->status = (int)p->status_code;
    a->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings answer_settings = {
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static sl_result connect_socket(const char *path, uint64_t deadline, int *out, char *err, size_t err_len)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return fail(err, err_len, SL_ERR_CONNECTION, "cannot connect to %s: the path is longer than %zu bytes", path,
                    sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(err, err_len, SL_ERR_CONNECTION, "socket: %s", strerror(errno));
    int ms = remaining_ms(deadline);
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds a connect to a full backlog */
    if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            return fail(err, err_len, SL_ERR_CONNECTION,
                        "cannot connect to %s: %s — is sluice-mover running? set --socket or SLUICE_SOCKET", path,
                        strerror(e));
        if (e == EACCES || e == EPERM)
            return fail(err, err_len, SL_ERR_CONNECTION,
                        "cannot connect to %s: %s — the socket's mode (api.socket_mode) does not let your user "
                        "in; ask an administrator to add you to its group",
                        path, strerror(e));
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS)
            return fail(err, err_len, SL_ERR_TIMEOUT, "cannot connect to %s: the daemon is not accepting connections",
                        path);
        return fail(err, err_len, SL_ERR_CONNECTION, "cannot connect to %s: %s", path, strerror(e));
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return fail(err, err_len, SL_ERR_CONNECTION, "fcntl: %s", strerror(e));
    }
    *out = fd;
    return SL_SUCCESS;
}

/* Sends everything; false with *peer_closed when the daemon stopped reading (it may
 * have answered already). */
static sl_result send_all(int fd, const sl_buf *request, const char *path, uint64_t deadline, bool *peer_closed,
                          char *err, size_t err_len)
{
    size_t sent = 0;
    while (sent < request->len) {
        ssize_t n = send(fd, request->data + sent, request->len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            *peer_closed = true;
            return SL_SUCCESS;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(err, err_len, SL_ERR_CONNECTION, "sending to %s: %s", path, strerror(errno));
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int ms = remaining_ms(deadline);
        if (ms == 0 || poll(&pfd, 1, ms) == 0)
            return fail(err, err_len, SL_ERR_TIMEOUT, "sending to %s: the daemon took no data for %d s", path,
                        API_CLIENT_TIMEOUT_MS / 1000);
    }
    return SL_SUCCESS;
}

static sl_result read_answer(int fd, const char *path, uint64_t deadline, struct answer *a, char *err,
                             size_t err_len)
{
    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = a;
    char chunk[65536];
    bool received = false;
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            int ms = remaining_ms(deadline);
            if (ms == 0 || poll(&pfd, 1, ms) == 0)
                return fail(err, err_len, SL_ERR_TIMEOUT, "no answer from %s within %d s — the daemon may be stuck",
                            path, API_CLIENT_TIMEOUT_MS / 1000);
            continue;
        }
        if (n < 0 && errno != ECONNRESET)
            return fail(err, err_len, SL_ERR_CONNECTION, "reading from %s: %s", path, strerror(errno));
        size_t len = n > 0 ? (size_t)n : 0; /* 0: end of the stream (or a reset) */
        http_parser_execute(&parser, &answer_settings, chunk, len);
        if (a->complete) return SL_SUCCESS;
        enum http_errno e = HTTP_PARSER_ERRNO(&parser);
        if (a->too_large)
            return fail(err, err_len, SL_ERR_PARSE, "the answer from %s is larger than %zu bytes", path,
                        API_CLIENT_MAX_RESPONSE);
        if (len == 0 && (e == HPE_OK || e == HPE_INVALID_EOF_STATE))
            return fail(err, err_len, SL_ERR_CONNECTION, "%s closed the connection %s", path,
                        received ? "in the middle of its answer" : "before answering");
        if (e != HPE_OK)
            return fail(err, err_len, SL_ERR_PARSE, "the answer from %s is not HTTP: %s", path,
                        http_errno_description(e));
        received = true;
    }
}

sl_result api_call(const char *socket_path, const char *method, const char *path, const char *json_body_or_NULL,
                   long *status, json_t **response, char *err, size_t err_len)
{
    sl_result result = SL_FAILURE;
    int fd = -1;
    sl_buf request = { 0 };
    struct answer a = { 0 };
    uint64_t deadline = now_ms() + API_CLIENT_TIMEOUT_MS;
    if (err != NULL && err_len > 0) err[0] = '\0';
    if (strpbrk(method, " \r\n") != NULL || strpbrk(path, " \r\n") != NULL || path[0] != '/') {
        (void)fail(err, err_len, SL_ERR_INVALID_ARGUMENT, "invalid request line: %s %s", method, path);
        goto cleanup;
    }

    size_t body_len = json_body_or_NULL ? strlen(json_body_or_NULL) : 0;
    bool ok = sl_ok(sl_buf_appendf(&request,
                                   "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sluice-review/%s\r\n"
                                   "Accept: application/json\r\nConnection: close\r\n",
                                   method, path, SLUICE_VERSION));
    if (ok && json_body_or_NULL != NULL)
        ok = sl_ok(sl_buf_appendf(&request, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len));
    ok = ok && sl_ok(sl_buf_append_cstr(&request, "\r\n"));
    ok = ok && sl_ok(sl_buf_append(&request, json_body_or_NULL ? json_body_or_NULL : "", body_len));
    if (!ok) {
        (void)fail(err, err_len, SL_ERR_OVERFLOW, "the request is too large");
        goto cleanup;
    }

    GUARD_CLEANUP(connect_socket(socket_path, deadline, &fd, err, err_len));
    bool peer_closed = false;
    GUARD_CLEANUP(send_all(fd, &request, socket_path, deadline, &peer_closed, err, err_len));
    GUARD_CLEANUP(read_answer(fd, socket_path, deadline, &a, err, err_len));

    json_t *json = NULL;
    if (a.body.len > 0) {
        json_error_t error;
        json = json_loadb((const char *)a.body.data, a.body.len, JSON_DECODE_ANY, &error);
        if (json == NULL) {
            (void)fail(err, err_len, SL_ERR_PARSE, "the answer from %s (HTTP %d) is not JSON: line %d, column %d: %s",
                       socket_path, a.status, error.line, error.column, error.text);
            goto cleanup;
        }
    }
    *status = a.status;
    *response = json;
    result = SL_SUCCESS;
cleanup:
    if (fd >= 0) close(fd);
    sl_buf_clean_up(&request);
    sl_buf_clean_up(&a.body);
    return result;
}

char *api_client_socket_path(const char *option, const char *config_path, char *err, size_t err_len)
{
    if (err != NULL && err_len > 0) err[0] = '\0';
    if (option != NULL && option[0] != '\0') return sl_strdup(option);
    const char *env = getenv("SLUICE_SOCKET");
    if (env != NULL && env[0] != '\0') return sl_strdup(env);
    if (config_path == NULL) return sl_strdup(API_CLIENT_DEFAULT_SOCKET);

    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    if (sl_failed(sl_config_load(config_path, &config, &errors))) {
        size_t used = 0;
        if (err != NULL && err_len > 0) {
            used = (size_t)snprintf(err, err_len, "%s: the configuration is not valid", config_path);
            for (size_t i = 0; i < errors.count && used < err_len; i++)
                used += (size_t)snprintf(err + used, err_len - used, "\n%s: %s%s%s", config_path,
                                         errors.items[i].path, errors.items[i].path[0] ? ": " : "",
                                         errors.items[i].message);
            if (errors.count == 0 && used < err_len)
                snprintf(err + used, err_len - used, ": %s", sl_error_detail());
        }
        sl_config_errors_clean_up(&errors);
        return NULL;
    }
    char *path = sl_strdup(config->api.socket);
    sl_config_free(config);
    sl_config_errors_clean_up(&errors);
    return path;
}

const char *api_client_describe_error(long status, const json_t *response, char *buf, size_t buf_len)
{
    const char *code = json_string_value(json_object_get(response, "error"));
    const char *detail = json_string_value(json_object_get(response, "detail"));
    if (code != NULL && detail != NULL) snprintf(buf, buf_len, "%ld %s: %s", status, code, detail);
    else if (code != NULL) snprintf(buf, buf_len, "%ld %s", status, code);
    else snprintf(buf, buf_len, "HTTP %ld", status);
    return buf;
}
