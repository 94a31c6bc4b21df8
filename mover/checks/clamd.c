/*
 * clamd.c — the clamd client (clamd.h): answers read strictly, IDSESSION connections
 * kept in a small pool, and one object's INSTREAM sent chunk by chunk as it arrives.
 *
 * Sockets are non-blocking; every wait is a poll() bounded by the pool's timeout (a
 * send waits for progress, the answer for at most the timeout after the last byte), so
 * a stuck or silent clamd ends the scan as a failure instead of holding a thread.
 */
#include "checks/clamd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/buf.h"

/* Bytes per INSTREAM chunk at most (clamd reads each into its own buffer). */
#define CHUNK_MAX ((size_t)1024 * 1024)
/* How long to look for clamd's answer after it closed the stream on us. */
#define LATE_ANSWER_MS 1000

/* ---- answers ---- */

static void printable(const uint8_t *data, size_t len, char *out)
{
    if (len > CLAMD_REPLY_MAX) len = CLAMD_REPLY_MAX;
    for (size_t i = 0; i < len; i++) out[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
    out[len] = '\0';
}

/* Strips "<id>: " (id > 0) from the answer; false when it is not there exactly. */
static bool strip_id(sl_cursor *c, uint32_t id)
{
    if (id == 0) return true;
    uint64_t n = 0;
    size_t digits = 0;
    while (digits < c->len && c->ptr[digits] >= '0' && c->ptr[digits] <= '9' && digits < 10) {
        n = n * 10 + (uint64_t)(c->ptr[digits] - '0');
        digits++;
    }
    if (digits == 0 || (c->ptr[0] == '0') || n != id) return false;
    if (c->len < digits + 2 || c->ptr[digits] != ':' || c->ptr[digits + 1] != ' ') return false;
    return sl_cursor_advance(c, digits + 2);
}

static bool ends_with(sl_cursor c, const char *suffix)
{
    size_t n = strlen(suffix);
    return c.len >= n && memcmp(c.ptr + c.len - n, suffix, n) == 0;
}

clamd_verdict clamd_reply_parse(const uint8_t *data, size_t len, uint32_t id, clamd_reply *out)
{
    out->verdict = CLAMD_GARBLED;
    printable(data, len, out->text);
    if (len > CLAMD_REPLY_MAX || memchr(data, 0, len) != NULL) return out->verdict;
    sl_cursor c = sl_cursor_from_bytes(data, len);
    if (!strip_id(&c, id)) return out->verdict;
    static const char stream[] = "stream: ";
    if (sl_cursor_eq_cstr(c, "stream: OK")) {
        out->text[0] = '\0';
        return out->verdict = CLAMD_OK;
    }
    if (sl_cursor_starts_with(c, sl_cursor_from_cstr(stream)) && ends_with(c, " FOUND")) {
        if (c.len <= strlen(stream) + strlen(" FOUND")) return out->verdict;
        sl_cursor name = sl_cursor_from_bytes(c.ptr + strlen(stream), c.len - strlen(stream) - strlen(" FOUND"));
        if (name.len > CLAMD_NAME_MAX) return out->verdict;
        for (size_t i = 0; i < name.len; i++)
            if (name.ptr[i] <= 0x20 || name.ptr[i] >= 0x7f) return out->verdict;
        memcpy(out->text, name.ptr, name.len);
        out->text[name.len] = '\0';
        return out->verdict = CLAMD_FOUND;
    }
    if (c.len > strlen(" ERROR") && ends_with(c, " ERROR")) {
        printable(c.ptr, c.len, out->text);
        return out->verdict = CLAMD_ERROR;
    }
    return out->verdict;
}

bool clamd_reply_text(const uint8_t *data, size_t len, uint32_t id, clamd_reply *out)
{
    out->verdict = CLAMD_GARBLED;
    printable(data, len, out->text);
    if (len > CLAMD_REPLY_MAX || memchr(data, 0, len) != NULL) return false;
    sl_cursor c = sl_cursor_from_bytes(data, len);
    if (!strip_id(&c, id)) return false;
    printable(c.ptr, c.len, out->text);
    return true;
}

/* ---- sockets ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until `deadline` (monotonic ms). 0 ready, -1 timeout or
 * error (errno; ETIMEDOUT for the timeout). */
static int wait_for(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0) return 0; /* readable/writable, or an error/hang-up the next call reports */
        if (n < 0 && errno != EINTR) return -1;
    }
}

/* Sends every byte of iov[0..count) (modified as it goes); -1 with errno on error, or
 * ETIMEDOUT when no byte could be sent for timeout_ms. */
static int send_all(int fd, struct iovec *iov, int count, uint64_t timeout_ms)
{
    int64_t deadline = now_ms() + (int64_t)timeout_ms;
    while (count > 0) {
        if (iov[0].iov_len == 0) {
            iov++;
            count--;
            continue;
        }
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)count };
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            if (wait_for(fd, POLLOUT, deadline) < 0) return -1;
            continue;
        }
        deadline = now_ms() + (int64_t)timeout_ms; /* progress */
        size_t sent = (size_t)n;
        while (count > 0 && sent >= iov[0].iov_len) {
            sent -= iov[0].iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + sent;
            iov[0].iov_len -= sent;
        }
    }
    return 0;
}

static int send_bytes(int fd, const void *data, size_t len, uint64_t timeout_ms)
{
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    return send_all(fd, &iov, 1, timeout_ms);
}

/* Reads one answer up to its NUL. 0: *len bytes before the NUL in buf; 1: over-long,
 * or followed by more bytes (garbled); -1 with errno (ETIMEDOUT; ECONNRESET for a close without an answer). */
static int read_answer(int fd, int64_t deadline, uint8_t buf[CLAMD_REPLY_MAX + 1], size_t *len)
{
    *len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + *len, CLAMD_REPLY_MAX + 1 - *len, MSG_DONTWAIT);
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            if (wait_for(fd, POLLIN, deadline) < 0) return -1;
            continue;
        }
        uint8_t *nul = memchr(buf + *len, 0, (size_t)n);
        if (nul != NULL) {
            size_t total = *len + (size_t)n;
            *len = (size_t)(nul - buf);
            /* bytes after the NUL would answer nothing we asked: the session is off */
            return total == *len + 1 ? 0 : 1;
        }
        *len += (size_t)n;
        if (*len > CLAMD_REPLY_MAX) return 1;
    }
}

/* ---- the pool ---- */

typedef struct conn {
    int fd;            /* -1: none */
    uint32_t next_id;  /* the number clamd gives the next command of the session */
    int64_t idle_since;
} conn;

struct clamd_pool {
    char *socket;
    uint64_t timeout_ms;
    uint32_t keep;
    pthread_mutex_t mu;
    conn *idle;
    size_t idle_count;
    clamd_pool_stats stats;
};

sl_result clamd_pool_new(const clamd_options *options, clamd_pool **out)
{
    struct sockaddr_un addr;
    ENSURE(options->socket != NULL && strlen(options->socket) < sizeof(addr.sun_path), SL_ERR_INVALID_ARGUMENT,
           "clamd socket path is missing or longer than %zu bytes", sizeof(addr.sun_path) - 1);
    clamd_pool *p = sl_calloc(1, sizeof(*p));
    p->socket = sl_strdup(options->socket);
    p->timeout_ms = options->timeout_ms ? options->timeout_ms : 1;
    p->keep = options->connections;
    p->idle = sl_calloc(p->keep ? p->keep : 1, sizeof(*p->idle));
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        sl_free(p->idle);
        sl_free(p->socket);
        sl_free(p);
        RAISE(SL_ERR_STATE, "clamd pool: pthread_mutex_init failed");
    }
    *out = p;
    return SL_SUCCESS;
}

void clamd_pool_destroy(clamd_pool *p)
{
    if (p == NULL) return;
    for (size_t i = 0; i < p->idle_count; i++) close(p->idle[i].fd);
    pthread_mutex_destroy(&p->mu);
    sl_free(p->idle);
    sl_free(p->socket);
    sl_free(p);
}

clamd_pool_stats clamd_pool_get_stats(clamd_pool *p)
{
    pthread_mutex_lock(&p->mu);
    clamd_pool_stats s = p->stats;
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* Opens a session: connect, "zIDSESSION\0". -1 with errno and `what` on failure. */
static int open_session(clamd_pool *p, conn *c, const char **what)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    memcpy(addr.sun_path, p->socket, strlen(p->socket) + 1);
    *what = "socket";
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    *what = "connect";
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) goto fail;
        if (wait_for(fd, POLLOUT, now_ms() + (int64_t)p->timeout_ms) < 0) goto fail;
        int so_error = 0;
        socklen_t n = sizeof(so_error);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &n) != 0) goto fail;
        if (so_error != 0) {
            errno = so_error;
            goto fail;
        }
    }
    *what = "IDSESSION";
    static const char idsession[] = "zIDSESSION";
    if (send_bytes(fd, idsession, sizeof(idsession), p->timeout_ms) < 0) goto fail;
    *c = (conn){ .fd = fd, .next_id = 1 };
    pthread_mutex_lock(&p->mu);
    p->stats.opened++;
    pthread_mutex_unlock(&p->mu);
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* An idle session clamd has not closed: nothing to read, no hang-up. */
static bool still_open(const conn *c)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    return poll(&pfd, 1, 0) == 0;
}

/* Takes an idle session, or opens one. */
static int take(clamd_pool *p, conn *c, const char **what)
{
    pthread_mutex_lock(&p->mu);
    while (p->idle_count > 0) {
        *c = p->idle[--p->idle_count];
        if (now_ms() - c->idle_since <= CLAMD_IDLE_MAX_MS && still_open(c)) {
            p->stats.reused++;
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        p->stats.discarded++;
        close(c->fd);
    }
    pthread_mutex_unlock(&p->mu);
    return open_session(p, c, what);
}

static void give(clamd_pool *p, conn *c)
{
    pthread_mutex_lock(&p->mu);
    if (p->idle_count < p->keep) {
        c->idle_since = now_ms();
        p->idle[p->idle_count++] = *c;
        c->fd = -1;
    }
    pthread_mutex_unlock(&p->mu);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

sl_result clamd_pool_probe(clamd_pool *p, char *version, size_t version_size)
{
    conn c;
    const char *what = "";
    ENSURE(take(p, &c, &what) == 0, SL_ERR_CONNECTION, "clamd at %s cannot be reached (%s: %s)", p->socket, what,
           strerror(errno));
    static const char cmd[] = "zVERSION";
    uint32_t id = c.next_id++;
    uint8_t buf[CLAMD_REPLY_MAX + 1];
    size_t len = 0;
    int got = send_bytes(c.fd, cmd, sizeof(cmd), p->timeout_ms);
    if (got == 0) got = read_answer(c.fd, now_ms() + (int64_t)p->timeout_ms, buf, &len);
    if (got != 0) {
        int e = errno;
        close(c.fd);
        if (got > 0) RAISE(SL_ERR_PARSE, "clamd at %s answered VERSION with more than %d bytes", p->socket,
                           CLAMD_REPLY_MAX);
        RAISE(e == ETIMEDOUT ? SL_ERR_TIMEOUT : SL_ERR_CONNECTION, "clamd at %s did not answer VERSION (%s)",
              p->socket, strerror(e));
    }
    clamd_reply r;
    if (!clamd_reply_text(buf, len, id, &r) || strncmp(r.text, "ClamAV ", 7) != 0) {
        close(c.fd);
        RAISE(SL_ERR_PARSE, "clamd at %s answered VERSION with \"%s\"", p->socket, r.text);
    }
    snprintf(version, version_size, "%s", r.text);
    give(p, &c);
    return SL_SUCCESS;
}

/* ---- one scan ---- */

struct clamd_scan {
    clamd_pool *pool;
    uint64_t max_bytes;
    uint64_t sent;
    conn c;
    uint32_t id;       /* INSTREAM's number in the session */
    bool started;      /* "zINSTREAM" sent */
    bool failed;
    clamd_reply failure;
};

clamd_scan *clamd_scan_new(clamd_pool *pool, uint64_t max_bytes)
{
    clamd_scan *s = sl_calloc(1, sizeof(*s));
    s->pool = pool;
    s->max_bytes = max_bytes;
    s->c.fd = -1;
    return s;
}

static void drop_conn(clamd_scan *s)
{
    if (s->c.fd >= 0) close(s->c.fd);
    s->c.fd = -1;
}

static void fail(clamd_scan *s, clamd_verdict verdict, const char *fmt, ...) SL_PRINTF(3, 4);
static void fail(clamd_scan *s, clamd_verdict verdict, const char *fmt, ...)
{
    s->failed = true;
    s->failure.verdict = verdict;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->failure.text, sizeof(s->failure.text), fmt, ap);
    va_end(ap);
    drop_conn(s);
}

/* A send failed because clamd closed the stream: its answer may say why (the size
 * limit). Records the failure either way. */
static void send_failed(clamd_scan *s, const char *while_doing)
{
    int e = errno;
    if (e == ETIMEDOUT) {
        fail(s, CLAMD_FAILED, "clamd took no data for %llu ms while %s", (unsigned long long)s->pool->timeout_ms,
             while_doing);
        return;
    }
    uint8_t buf[CLAMD_REPLY_MAX + 1];
    size_t len = 0;
    if (s->started && read_answer(s->c.fd, now_ms() + LATE_ANSWER_MS, buf, &len) == 0) {
        clamd_reply r;
        clamd_reply_parse(buf, len, s->id, &r);
        fail(s, r.verdict == CLAMD_ERROR ? CLAMD_ERROR : CLAMD_GARBLED, "clamd stopped the stream: %s", r.text);
        return;
    }
    fail(s, CLAMD_FAILED, "clamd closed the connection while %s (%s)", while_doing, strerror(e));
}

static bool start(clamd_scan *s)
{
    if (s->started) return true;
    const char *what = "";
    if (take(s->pool, &s->c, &what) != 0) {
        s->c.fd = -1;
        fail(s, CLAMD_FAILED, "clamd at %s cannot be reached (%s: %s)", s->pool->socket, what, strerror(errno));
        return false;
    }
    static const char cmd[] = "zINSTREAM";
    s->id = s->c.next_id++;
    s->started = true;
    if (send_bytes(s->c.fd, cmd, sizeof(cmd), s->pool->timeout_ms) < 0) {
        send_failed(s, "starting INSTREAM");
        return false;
    }
    return true;
}

void clamd_scan_feed(clamd_scan *s, const uint8_t *data, size_t len)
{
    if (s->failed || len == 0) return;
    if (len > s->max_bytes - s->sent) { /* sent <= max_bytes always */
        fail(s, CLAMD_FAILED, "more than clamav.max_bytes (%llu bytes): not sent to clamd, so not scanned",
             (unsigned long long)s->max_bytes);
        return;
    }
    if (!start(s)) return;
    while (len > 0) {
        size_t n = len < CHUNK_MAX ? len : CHUNK_MAX;
        uint32_t be = htonl((uint32_t)n);
        struct iovec iov[2] = { { .iov_base = &be, .iov_len = 4 }, { .iov_base = (void *)data, .iov_len = n } };
        if (send_all(s->c.fd, iov, 2, s->pool->timeout_ms) < 0) {
            send_failed(s, "receiving the object");
            return;
        }
        s->sent += n;
        data += n;
        len -= n;
    }
}

void clamd_scan_finish(clamd_scan *s, clamd_reply *out)
{
    if (!s->failed && start(s)) {
        static const uint8_t end[4] = { 0, 0, 0, 0 };
        if (send_bytes(s->c.fd, end, sizeof(end), s->pool->timeout_ms) < 0) send_failed(s, "ending the stream");
    }
    if (s->failed) {
        *out = s->failure;
        return;
    }
    uint8_t buf[CLAMD_REPLY_MAX + 1];
    size_t len = 0;
    int got = read_answer(s->c.fd, now_ms() + (int64_t)s->pool->timeout_ms, buf, &len);
    if (got < 0) {
        int e = errno;
        if (e == ETIMEDOUT)
            fail(s, CLAMD_FAILED, "clamd did not answer within %llu ms", (unsigned long long)s->pool->timeout_ms);
        else
            fail(s, CLAMD_FAILED, "clamd closed the connection without an answer (%s)", strerror(e));
        *out = s->failure;
        return;
    }
    if (got > 0) {
        fail(s, CLAMD_GARBLED, "clamd's answer is longer than %d bytes", CLAMD_REPLY_MAX);
        *out = s->failure;
        return;
    }
    clamd_reply_parse(buf, len, s->id, out);
    s->failed = true; /* finished: a second finish answers the same */
    s->failure = *out;
    if (out->verdict == CLAMD_OK || out->verdict == CLAMD_FOUND)
        give(s->pool, &s->c);
    else
        drop_conn(s);
}

void clamd_scan_destroy(clamd_scan *s)
{
    if (s == NULL) return;
    drop_conn(s);
    sl_free(s);
}
