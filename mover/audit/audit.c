/*
 * audit.c — the hash-chained audit log of audit.h, and its verifier (DESIGN.md "Audit";
 * the format, durability and repair rules are written out in docs/audit.md).
 *
 * How the parts fit. One line checker (check_line) decides whether a line is a
 * well-formed record; the verifier (audit_verify_file) streams a file through it and
 * adds the chain rules (seq = previous + 1, prev = SHA-256 of the previous line), and
 * audit_log_open runs the same checks on the last two lines of an existing log, read
 * backwards from its end (read_tail), so opening costs O(1) however long the log is.
 * Appends write a line straight as text (line.h: keys in a fixed order, the bytes jansson
 * would write), hash it, and write it with
 * write(2) on an O_APPEND descriptor before returning.
 *
 * Group commit. After an append `schedule` arms `commit_timer` (if no fsync is pending
 * or running); when it fires, one fdatasync runs on the libuv thread pool and covers
 * every line written up to then (`sync_target`). Its completion moves `synced_seq`,
 * completes the flush waiters whose target it covers (a FIFO: targets never decrease)
 * and, if lines were appended meanwhile, arms the timer again. A flush whose records
 * are already synced completes from the `deferred` 0 ms timer, so callbacks are always
 * asynchronous. Closing skips the timer, syncs what is left, closes the file and both
 * timers, and frees the log in the last close callback — never while a thread-pool
 * fsync still refers to it.
 *
 * Failure. A failed write marks the log broken (appends fail; a partial line is cut
 * off if the file allows) but lines written before it are still synced; a failed fsync
 * also fails every waiting and later flush: after a failed fsync the kernel may have
 * dropped the dirty pages, so a retry proving nothing is never attempted.
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "audit/bounds.h"
#include "audit/line.h"
#include "util/alloc.h"
#include "util/timefmt.h"

#define HASH_LEN 32
#define HEX_HASH_LEN (2 * HASH_LEN)
#define SCAN_CHUNK ((size_t)64 * 1024)

struct flush_waiter {
    audit_flush_fn *done;
    void *user;
    uint64_t target; /* complete once synced_seq >= target */
    struct flush_waiter *next;
};

struct audit_log {
    uv_loop_t *loop;
    char *path;
    int fd;
    uint64_t commit_interval_ms;

    /* the chain */
    uint64_t seq;               /* of the last line written (0: none) */
    uint8_t prev[HASH_LEN];     /* SHA-256 of the last line written */
    off_t size;                 /* bytes of complete lines in the file */
    sl_buf line;                /* scratch for building a line */

    /* group commit */
    uint64_t synced_seq;        /* every line up to here is on disk */
    off_t synced_size;          /* ... and the file up to here */
    uint64_t sync_target;       /* what the running fsync covers */
    off_t sync_target_size;
    bool timer_armed, syncing;
    int sync_errno;             /* written by the thread-pool fsync */
    uv_timer_t commit_timer, deferred;
    uv_work_t work;
    struct flush_waiter *waiters_head, *waiters_tail;

    /* failure and shutdown */
    bool broken;                /* no more appends */
    bool sync_failed;           /* no more flushes either */
    char broken_detail[256];
    bool closing, handles_closing;
    unsigned open_handles;

    uint64_t records, fsyncs;
};

/* ---- small helpers ---- */

static sl_result sha256(const uint8_t *data, size_t len, uint8_t out[HASH_LEN])
{
    unsigned int out_len = 0;
    GUARD_OSSL(EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL), SL_ERR_CRYPTO);
    ENSURE(out_len == HASH_LEN, SL_ERR_CRYPTO, "SHA-256 gave %u bytes", out_len);
    return SL_SUCCESS;
}

static void hex_encode(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/* Only lower-case hex, as the writer produces it. */
static bool hex_decode_hash(const char *hex, size_t len, uint8_t out[HASH_LEN])
{
    if (len != HEX_HASH_LEN) return false;
    for (size_t i = 0; i < HEX_HASH_LEN; i++) {
        char c = hex[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else return false;
        if (i % 2 == 0) out[i / 2] = (uint8_t)(v << 4);
        else out[i / 2] |= (uint8_t)v;
    }
    return true;
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction]Z" — RFC 3339 in UTC, as the writer produces it. */
static bool is_utc_time(const char *s, size_t len)
{
    if (len < 20 || s[len - 1] != 'Z') return false;
    if (!(is_digits(s, 4) && s[4] == '-' && is_digits(s + 5, 2) && s[7] == '-' && is_digits(s + 8, 2) &&
          s[10] == 'T' && is_digits(s + 11, 2) && s[13] == ':' && is_digits(s + 14, 2) && s[16] == ':' &&
          is_digits(s + 17, 2)))
        return false;
    if (len == 20) return true;
    return s[19] == '.' && len > 21 && is_digits(s + 20, len - 21);
}

#define TIME_TEXT_SIZE (SL_TIME_TEXT_LEN + 1)

static void format_time(char out[TIME_TEXT_SIZE])
{
    if (!sl_time_format(sl_time_now_ms(), out)) snprintf(out, TIME_TEXT_SIZE, "1970-01-01T00:00:00.000Z");
}

/* Writes all of data, retrying short writes and EINTR. 0, or the errno. *written says
 * how much reached the file either way. */
static int write_all(int fd, const uint8_t *data, size_t len, size_t *written)
{
    *written = 0;
    while (*written < len) {
        ssize_t n = write(fd, data + *written, len - *written);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO; /* cannot happen for regular files; never spin */
        *written += (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes at offset; an early end of file is an error. */
static sl_result pread_all(int fd, const char *path, uint8_t *out, size_t len, off_t offset)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, out + got, len - got, offset + (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        ENSURE(n >= 0, SL_ERR_IO, "%s: read at byte %lld: %s", path, (long long)(offset + (off_t)got),
               strerror(errno));
        ENSURE(n > 0, SL_ERR_IO, "%s: file shrank while being read", path);
        got += (size_t)n;
    }
    return SL_SUCCESS;
}

/* ---- one line ---- */

struct line_info {
    uint64_t seq;
    uint8_t prev[HASH_LEN];
};

static bool fail_why(char *why, size_t why_size, const char *fmt, ...) SL_PRINTF(3, 4);
static bool fail_why(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return false;
}

/* Whether `line` (without its newline) is a well-formed record; if so fills *info,
 * otherwise writes why into `why` ("missing \"actor\""). The chain is not checked here. */
static bool check_line(sl_cursor line, struct line_info *info, char *why, size_t why_size)
{
    if (line.len == 0) return fail_why(why, why_size, "empty line");
    if (line.len > AUDIT_MAX_LINE)
        return fail_why(why, why_size, "longer than %zu bytes", AUDIT_MAX_LINE);
    json_error_t err;
    json_t *root = json_loadb((const char *)line.ptr, line.len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) return fail_why(why, why_size, "not JSON: %s (byte %d)", err.text, err.position);
    bool ok = false;
    if (!json_is_object(root)) {
        fail_why(why, why_size, "not a JSON object");
        goto done;
    }
    if (line.ptr[0] != '{' || line.ptr[line.len - 1] != '}') {
        fail_why(why, why_size, "bytes around the JSON object");
        goto done;
    }
    static const char *const required[] = { "seq", "time", "event", "actor", "prev" };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (json_object_get(root, required[i]) == NULL) {
            fail_why(why, why_size, "missing \"%s\"", required[i]);
            goto done;
        }
    }
    json_t *seq = json_object_get(root, "seq");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
        fail_why(why, why_size, "\"seq\" is not a positive integer");
        goto done;
    }
    static const char *const texts[] = { "time", "event", "actor" };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *v = json_object_get(root, texts[i]);
        if (!json_is_string(v) || json_string_length(v) == 0) {
            fail_why(why, why_size, "\"%s\" is not a non-empty string", texts[i]);
            goto done;
        }
    }
    json_t *when = json_object_get(root, "time");
    if (!is_utc_time(json_string_value(when), json_string_length(when))) {
        fail_why(why, why_size, "\"time\" is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS.sssZ)");
        goto done;
    }
    json_t *prev = json_object_get(root, "prev");
    if (!json_is_string(prev) || !hex_decode_hash(json_string_value(prev), json_string_length(prev), info->prev)) {
        fail_why(why, why_size, "\"prev\" is not 64 lower-case hex digits");
        goto done;
    }
    static const char *const optional_texts[] = { "artifact", "from", "to" };
    for (size_t i = 0; i < sizeof(optional_texts) / sizeof(optional_texts[0]); i++) {
        json_t *v = json_object_get(root, optional_texts[i]);
        if (v != NULL && !json_is_string(v)) {
            fail_why(why, why_size, "\"%s\" is not a string", optional_texts[i]);
            goto done;
        }
    }
    json_t *detail = json_object_get(root, "detail");
    if (detail != NULL && !json_is_object(detail)) {
        fail_why(why, why_size, "\"detail\" is not a JSON object");
        goto done;
    }
    info->seq = (uint64_t)json_integer_value(seq);
    ok = true;
done:
    json_decref(root);
    return ok;
}

/* ---- verifying a file ---- */

struct chain {
    uint64_t lines;          /* good lines so far */
    uint64_t seq;            /* of the last good line */
    uint8_t hash[HASH_LEN];  /* SHA-256 of the last good line (zeros before the first) */
};

static sl_result line_error(uint64_t *bad_line, uint64_t number, const char *fmt, ...) SL_PRINTF(3, 4);
static sl_result line_error(uint64_t *bad_line, uint64_t number, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    *bad_line = number;
    return sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "line %" PRIu64 ": %s", number, text);
}

/* Adds one line to the chain, or names why it breaks it. */
static sl_result chain_add(struct chain *chain, sl_cursor line, uint64_t *bad_line)
{
    uint64_t number = chain->lines + 1;
    struct line_info info;
    char why[300];
    if (!check_line(line, &info, why, sizeof(why))) return line_error(bad_line, number, "%s", why);
    if (number == 1 && info.seq != 1)
        return line_error(bad_line, number, "seq %" PRIu64 " where the first record must have seq 1", info.seq);
    if (number > 1 && info.seq != chain->seq + 1)
        return line_error(bad_line, number, "seq %" PRIu64 " follows %" PRIu64, info.seq, chain->seq);
    if (CRYPTO_memcmp(info.prev, chain->hash, HASH_LEN) != 0) {
        if (number == 1) return line_error(bad_line, number, "prev of the first record is not 64 zeros");
        return line_error(bad_line, number, "prev does not match the SHA-256 of line %" PRIu64, number - 1);
    }
    GUARD(sha256(line.ptr, line.len, chain->hash));
    chain->seq = info.seq;
    chain->lines = number;
    return SL_SUCCESS;
}

sl_result audit_verify_file(const char *path, uint64_t *lines, uint64_t *bad_line)
{
    ENSURE(path != NULL && lines != NULL && bad_line != NULL, SL_ERR_INVALID_ARGUMENT,
           "audit_verify_file needs a path and both outputs");
    *lines = 0;
    *bad_line = 0;
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    ENSURE(fd >= 0, SL_ERR_IO, "%s: %s", path, strerror(errno));

    sl_result result = SL_FAILURE;
    struct chain chain = { 0 };
    sl_buf pending = { 0 }; /* a line split across reads */
    uint8_t *chunk = sl_malloc(SCAN_CHUNK);
    for (;;) {
        ssize_t n = read(fd, chunk, SCAN_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        ENSURE_CLEANUP(n >= 0, SL_ERR_IO, "%s: read: %s", path, strerror(errno));
        if (n == 0) break;
        sl_cursor rest = sl_cursor_from_bytes(chunk, (size_t)n);
        while (rest.len > 0) {
            ptrdiff_t at = sl_cursor_find_byte(rest, '\n');
            size_t take = at < 0 ? rest.len : (size_t)at;
            if (pending.len + take > AUDIT_MAX_LINE) {
                (void)line_error(bad_line, chain.lines + 1, "longer than %zu bytes", AUDIT_MAX_LINE);
                goto cleanup;
            }
            if (at < 0) { /* the line goes on in the next read */
                GUARD_CLEANUP(sl_buf_append(&pending, rest.ptr, rest.len));
                break;
            }
            sl_cursor line = sl_cursor_from_bytes(rest.ptr, take);
            if (pending.len > 0) {
                GUARD_CLEANUP(sl_buf_append(&pending, rest.ptr, take));
                line = sl_cursor_from_buf(&pending);
            }
            GUARD_CLEANUP(chain_add(&chain, line, bad_line));
            sl_buf_reset(&pending);
            (void)sl_cursor_advance(&rest, take + 1);
        }
    }
    if (pending.len > 0) {
        (void)line_error(bad_line, chain.lines + 1, "last line has no newline (torn write?)");
        goto cleanup;
    }
    result = SL_SUCCESS;
cleanup:
    *lines = chain.lines;
    sl_free(chunk);
    sl_buf_clean_up(&pending);
    close(fd);
    return result;
}

/* ---- building and writing a line ---- */

/* The record's detail as an object of its own (a new reference, or NULL for none). */
static sl_result detail_of(const audit_record *record, json_t **out)
{
    *out = NULL;
    ENSURE(record->detail_json == NULL || record->detail == NULL, SL_ERR_INVALID_ARGUMENT,
           "an audit record has its detail as text or as an object, not both");
    if (record->detail != NULL) {
        ENSURE(json_is_object(record->detail), SL_ERR_INVALID_ARGUMENT, "detail of an audit record is not a JSON object");
        *out = json_incref(record->detail);
    } else if (record->detail_json != NULL) {
        json_error_t err;
        json_t *detail = json_loads(record->detail_json, JSON_REJECT_DUPLICATES, &err);
        ENSURE(detail != NULL, SL_ERR_INVALID_ARGUMENT, "detail of an audit record is not JSON: %s", err.text);
        if (!json_is_object(detail)) {
            json_decref(detail);
            RAISE(SL_ERR_INVALID_ARGUMENT, "detail of an audit record is not a JSON object");
        }
        *out = detail;
    }
    return SL_SUCCESS;
}

/* Serialises the record with `detail` (may be NULL) into out (replaced): texts cut to
 * their bounds (bounds.h), the line written straight as text (line.h). */
static sl_result dump_line(const audit_record *record, json_t *detail, uint64_t seq, const char *now,
                           const char *prev_hex, sl_buf *out)
{
    const char *given[5] = { record->event, record->artifact, record->from, record->to, record->actor };
    char *bounded[5] = { NULL };
    for (size_t i = 0; i < 5; i++)
        if (given[i] != NULL) bounded[i] = audit_bound_text(given[i]);
    audit_line_fields fields = {
        .seq = seq,
        .time = now,
        .event = bounded[0] ? bounded[0] : given[0],
        .artifact = bounded[1] ? bounded[1] : given[1],
        .from = bounded[2] ? bounded[2] : given[2],
        .to = bounded[3] ? bounded[3] : given[3],
        .actor = bounded[4] ? bounded[4] : given[4],
        .detail = detail,
        .prev = prev_hex,
    };
    sl_result r = audit_line_build(&fields, out);
    for (size_t i = 0; i < 5; i++) sl_free(bounded[i]);
    return r;
}

/* The line (no newline) for `record` as line number `seq` after a line hashing to
 * `prev`, into out (replaced). Keys in the order of audit.h; long texts cut and a
 * detail too large replaced (bounds.h), so every line fits in AUDIT_MAX_LINE. */
static sl_result build_line(const audit_record *record, uint64_t seq, const uint8_t prev[HASH_LEN], sl_buf *out)
{
    ENSURE(record->event != NULL && record->event[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "an audit record needs an event");
    ENSURE(record->actor != NULL && record->actor[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "an audit record needs an actor");
    json_t *given = NULL;
    GUARD(detail_of(record, &given));
    sl_result result = SL_FAILURE;
    json_t *detail = given ? audit_bound_strings(given) : NULL;
    ENSURE_CLEANUP(given == NULL || detail != NULL, SL_ERR_INVALID_ARGUMENT, "cannot copy an audit record's detail");
    char now[TIME_TEXT_SIZE];
    format_time(now);
    char prev_hex[HEX_HASH_LEN + 1];
    hex_encode(prev, HASH_LEN, prev_hex);
    GUARD_CLEANUP(dump_line(record, detail, seq, now, prev_hex, out));
    if (out->len > AUDIT_MAX_LINE) {
        json_t *stand_in = NULL;
        GUARD_CLEANUP(audit_cut_detail(detail, &stand_in));
        json_decref(detail);
        detail = stand_in;
        GUARD_CLEANUP(dump_line(record, detail, seq, now, prev_hex, out));
    }
    ENSURE_CLEANUP(out->len <= AUDIT_MAX_LINE, SL_ERR_LIMIT, "an audit record of %zu bytes exceeds %zu", out->len,
                   AUDIT_MAX_LINE); /* cannot happen: see bounds.h */
    result = SL_SUCCESS;
cleanup:
    json_decref(detail);
    json_decref(given);
    return result;
}

static void mark_broken(audit_log *log, const char *fmt, ...) SL_PRINTF(2, 3);
static void mark_broken(audit_log *log, const char *fmt, ...)
{
    if (!log->broken) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(log->broken_detail, sizeof(log->broken_detail), fmt, ap);
        va_end(ap);
    }
    log->broken = true;
}

/* Builds, hashes and writes the next line; on success the chain advances. */
static sl_result write_record(audit_log *log, const audit_record *record)
{
    ENSURE(!log->closing, SL_ERR_STATE, "%s: the audit log is closing", log->path);
    ENSURE(!log->broken, SL_ERR_IO, "%s: the audit log is broken (%s); no more appends", log->path,
           log->broken_detail);
    ENSURE(log->seq < (uint64_t)INT64_MAX, SL_ERR_OVERFLOW, "%s: seq would overflow", log->path);
    GUARD(build_line(record, log->seq + 1, log->prev, &log->line));
    uint8_t hash[HASH_LEN];
    GUARD(sha256(log->line.data, log->line.len, hash));
    GUARD(sl_buf_append_byte(&log->line, '\n'));

    size_t written = 0;
    int err = write_all(log->fd, log->line.data, log->line.len, &written);
    if (err != 0) {
        /* Cut off a partial line so the file still ends on a record; where the file does
         * not allow that, the next open repairs the torn tail. */
        const char *partial = "";
        if (written > 0)
            partial = ftruncate(log->fd, log->size) == 0 ? "; the partial line was cut off"
                                                         : "; a partial line remains (the next open cuts it off)";
        mark_broken(log, "write of seq %" PRIu64 ": %s%s", log->seq + 1, strerror(err), partial);
        RAISE(SL_ERR_IO, "%s: %s", log->path, log->broken_detail);
    }
    log->seq++;
    memcpy(log->prev, hash, HASH_LEN);
    log->size += (off_t)log->line.len;
    log->records++;
    return SL_SUCCESS;
}

/* ---- group commit ---- */

static void start_sync(audit_log *log);
static void begin_close_handles(audit_log *log);
static void arm_commit_timer(audit_log *log);

static bool dirty(const audit_log *log) { return log->seq > log->synced_seq && !log->sync_failed; }

/* Completes the waiters the state allows, in order. Callbacks may append, flush or
 * close; the log is freed only in a close callback, so it outlives this loop. */
static void complete_waiters(audit_log *log)
{
    while (log->waiters_head != NULL) {
        struct flush_waiter *w = log->waiters_head;
        sl_result result;
        if (w->target <= log->synced_seq)
            result = SL_SUCCESS;
        else if (log->sync_failed)
            result = sl_error_raise(SL_ERR_IO, __FILE__, __LINE__, "%s: %s", log->path, log->broken_detail);
        else if (log->handles_closing && log->open_handles == 0)
            result = sl_error_raise(SL_ERR_CANCELLED, __FILE__, __LINE__, "%s: closed before the sync", log->path);
        else
            break;
        log->waiters_head = w->next;
        if (log->waiters_head == NULL) log->waiters_tail = NULL;
        w->done(w->user, result);
        sl_free(w);
    }
}

/* Decides the next step: arm the commit timer, or (closing) sync now or close. */
static void schedule(audit_log *log)
{
    if (log->syncing || log->handles_closing) return;
    if (log->closing) {
        if (log->timer_armed) {
            uv_timer_stop(&log->commit_timer);
            log->timer_armed = false;
        }
        if (dirty(log)) start_sync(log);
        else begin_close_handles(log);
        return;
    }
    if (dirty(log) && !log->timer_armed) arm_commit_timer(log);
}

static void on_commit_timer(uv_timer_t *timer)
{
    audit_log *log = timer->data;
    log->timer_armed = false;
    if (!log->syncing && dirty(log)) start_sync(log);
}

static void arm_commit_timer(audit_log *log)
{
    uv_timer_start(&log->commit_timer, on_commit_timer, log->commit_interval_ms, 0);
    log->timer_armed = true;
}

static void sync_work(uv_work_t *req)
{
    audit_log *log = req->data;
    int rc;
    do rc = fdatasync(log->fd);
    while (rc != 0 && errno == EINTR);
    log->sync_errno = rc == 0 ? 0 : errno;
}

static void sync_done(uv_work_t *req, int status)
{
    audit_log *log = req->data;
    log->syncing = false;
    if (status == 0 && log->sync_errno == 0) {
        log->synced_seq = log->sync_target;
        log->synced_size = log->sync_target_size;
        log->fsyncs++;
    } else {
        log->sync_failed = true;
        mark_broken(log, "fdatasync: %s", status != 0 ? uv_strerror(status) : strerror(log->sync_errno));
    }
    complete_waiters(log);
    schedule(log);
}

static void on_deferred(uv_timer_t *timer)
{
    audit_log *log = timer->data;
    complete_waiters(log);
    schedule(log);
}

static void start_sync(audit_log *log)
{
    log->syncing = true;
    log->sync_target = log->seq;
    log->sync_target_size = log->size;
    log->sync_errno = 0;
    log->work.data = log;
    int rc = uv_queue_work(log->loop, &log->work, sync_work, sync_done);
    if (rc != 0) { /* only with a NULL work callback; report it like a failed fsync */
        log->syncing = false;
        log->sync_failed = true;
        mark_broken(log, "uv_queue_work: %s", uv_strerror(rc));
        uv_timer_start(&log->deferred, on_deferred, 0, 0);
    }
}

static void destroy(audit_log *log)
{
    if (log->fd >= 0) close(log->fd);
    sl_buf_clean_up(&log->line);
    sl_free(log->path);
    sl_free(log);
}

static void on_handle_closed(uv_handle_t *handle)
{
    audit_log *log = handle->data;
    if (--log->open_handles > 0) return;
    complete_waiters(log); /* the deferred timer may have been stopped by uv_close */
    destroy(log);
}

static void begin_close_handles(audit_log *log)
{
    log->handles_closing = true;
    if (log->fd >= 0) {
        close(log->fd); /* also releases the lock */
        log->fd = -1;
    }
    uv_close((uv_handle_t *)&log->commit_timer, on_handle_closed);
    uv_close((uv_handle_t *)&log->deferred, on_handle_closed);
}

/* ---- opening: folders, the file, its tail ---- */

static sl_result fsync_dir(const char *dir)
{
    int fd;
    do fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    ENSURE(fd >= 0, SL_ERR_IO, "%s: %s", dir, strerror(errno));
    int rc;
    do rc = fsync(fd);
    while (rc != 0 && errno == EINTR);
    int err = errno;
    close(fd);
    ENSURE(rc == 0, SL_ERR_IO, "fsync of folder %s: %s", dir, strerror(err));
    return SL_SUCCESS;
}

/* The folder holding `path` ("." for a bare name), freshly allocated. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) return sl_strdup(".");
    if (slash == path) return sl_strdup("/");
    return sl_strndup(path, (size_t)(slash - path));
}

/* mkdir -p of the log's folder, each new folder 0700 and made durable in its parent. */
static sl_result make_parent_folders(const char *path)
{
    sl_result result = SL_FAILURE;
    char *dir = parent_of(path);
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0700) == 0) {
            ENSURE_CLEANUP(chmod(dir, 0700) == 0, SL_ERR_IO, "chmod %s: %s", dir, strerror(errno));
            char *up = parent_of(dir);
            sl_result synced = fsync_dir(up);
            sl_free(up);
            GUARD_CLEANUP(synced);
        } else {
            ENSURE_CLEANUP(errno == EEXIST, SL_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
        }
        *p = saved;
        if (saved == '\0') break;
    }
    result = SL_SUCCESS;
cleanup:
    sl_free(dir);
    return result;
}

static sl_result open_file(audit_log *log)
{
    const int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
    bool created = false;
    int fd;
    do fd = open(log->path, flags | O_CREAT | O_EXCL, 0600);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        created = true;
    } else if (errno == EEXIST) {
        do fd = open(log->path, flags);
        while (fd < 0 && errno == EINTR);
    }
    if (fd < 0) {
        int err = errno;
        ENSURE(err != ELOOP, SL_ERR_IO, "%s is a symbolic link; refusing to follow it", log->path);
        RAISE(SL_ERR_IO, "cannot open %s: %s", log->path, strerror(err));
    }
    log->fd = fd;
    struct stat st;
    ENSURE(fstat(fd, &st) == 0, SL_ERR_IO, "%s: fstat: %s", log->path, strerror(errno));
    ENSURE(S_ISREG(st.st_mode), SL_ERR_IO, "%s is not a regular file", log->path);
    if (created) {
        ENSURE(fchmod(fd, 0600) == 0, SL_ERR_IO, "%s: fchmod: %s", log->path, strerror(errno));
        char *dir = parent_of(log->path);
        sl_result synced = fsync_dir(dir);
        sl_free(dir);
        GUARD(synced);
    }
    return SL_SUCCESS;
}

/* Sets *found and *pos to the last '\n' in [end - limit, end) (from 0 if shorter),
 * reading backwards in chunks. */
static sl_result find_newline_backward(const audit_log *log, off_t end, size_t limit, off_t *pos, bool *found)
{
    sl_result result = SL_FAILURE;
    *found = false;
    uint8_t *chunk = sl_malloc(SCAN_CHUNK);
    off_t floor = end > (off_t)limit ? end - (off_t)limit : 0;
    for (off_t hi = end; hi > floor;) {
        size_t n = (size_t)(hi - floor) < SCAN_CHUNK ? (size_t)(hi - floor) : SCAN_CHUNK;
        off_t lo = hi - (off_t)n;
        GUARD_CLEANUP(pread_all(log->fd, log->path, chunk, n, lo));
        const uint8_t *hit = memrchr(chunk, '\n', n);
        if (hit != NULL) {
            *pos = lo + (off_t)(hit - chunk);
            *found = true;
            break;
        }
        hi = lo;
    }
    result = SL_SUCCESS;
cleanup:
    sl_free(chunk);
    return result;
}

/* Reads the complete line that ends (its newline) at byte `end` into out; *start gets
 * the offset of its first byte. */
static sl_result read_line_ending_at(const audit_log *log, off_t end, sl_buf *out, off_t *start)
{
    off_t nl;
    bool found;
    GUARD(find_newline_backward(log, end, AUDIT_MAX_LINE + 1, &nl, &found));
    ENSURE(found || end <= (off_t)AUDIT_MAX_LINE, SL_ERR_PARSE,
           "%s: the line ending at byte %lld is longer than %zu bytes; refusing to append", log->path,
           (long long)end, AUDIT_MAX_LINE);
    *start = found ? nl + 1 : 0;
    size_t len = (size_t)(end - *start);
    sl_buf_reset(out);
    GUARD(sl_buf_reserve(out, len));
    GUARD(pread_all(log->fd, log->path, out->data, len, *start));
    out->len = len;
    out->data[len] = '\0';
    return SL_SUCCESS;
}

struct tail {
    off_t keep;             /* bytes of complete lines */
    uint64_t seq;           /* of the last complete line (0: none) */
    uint8_t hash[HASH_LEN]; /* its SHA-256 (zeros: none) */
    size_t torn;            /* bytes after the last newline */
    uint8_t torn_hash[HASH_LEN];
};

/* Finds where the chain stands: the last complete line must be a good record that
 * follows the line before it (or be line 1). Reads at most the last two lines and a
 * torn tail, each at most AUDIT_MAX_LINE bytes. */
static sl_result read_tail(const audit_log *log, off_t size, struct tail *tail)
{
    sl_result result = SL_FAILURE;
    sl_buf last = { 0 }, before = { 0 };
    *tail = (struct tail){ 0 };
    if (size == 0) return SL_SUCCESS;

    off_t nl;
    bool found;
    GUARD_CLEANUP(find_newline_backward(log, size, AUDIT_MAX_LINE + 1, &nl, &found));
    ENSURE_CLEANUP(found || size <= (off_t)AUDIT_MAX_LINE, SL_ERR_PARSE,
                   "%s: more than %zu bytes after the last newline: not a torn write; refusing to append",
                   log->path, AUDIT_MAX_LINE);
    tail->keep = found ? nl + 1 : 0;
    tail->torn = (size_t)(size - tail->keep);
    if (tail->torn > 0) {
        GUARD_CLEANUP(sl_buf_reserve(&last, tail->torn));
        GUARD_CLEANUP(pread_all(log->fd, log->path, last.data, tail->torn, tail->keep));
        GUARD_CLEANUP(sha256(last.data, tail->torn, tail->torn_hash));
    }
    if (!found) { /* nothing but a torn first line */
        result = SL_SUCCESS;
        goto cleanup;
    }

    off_t start;
    struct line_info info;
    char why[300];
    GUARD_CLEANUP(read_line_ending_at(log, nl, &last, &start));
    ENSURE_CLEANUP(check_line(sl_cursor_from_buf(&last), &info, why, sizeof(why)), SL_ERR_PARSE,
                   "%s: the last line (at byte %lld) is not a valid record: %s; refusing to append", log->path,
                   (long long)start, why);
    GUARD_CLEANUP(sha256(last.data, last.len, tail->hash));
    tail->seq = info.seq;
    if (start == 0) {
        static const uint8_t zeros[HASH_LEN];
        ENSURE_CLEANUP(info.seq == 1 && memcmp(info.prev, zeros, HASH_LEN) == 0, SL_ERR_PARSE,
                       "%s: the only line is not a first record (seq 1, prev 64 zeros); refusing to append",
                       log->path);
    } else {
        off_t before_start;
        struct line_info before_info;
        uint8_t before_hash[HASH_LEN];
        GUARD_CLEANUP(read_line_ending_at(log, start - 1, &before, &before_start));
        ENSURE_CLEANUP(check_line(sl_cursor_from_buf(&before), &before_info, why, sizeof(why)), SL_ERR_PARSE,
                       "%s: the line before the last (at byte %lld) is not a valid record: %s; refusing to append",
                       log->path, (long long)before_start, why);
        GUARD_CLEANUP(sha256(before.data, before.len, before_hash));
        ENSURE_CLEANUP(info.seq == before_info.seq + 1, SL_ERR_PARSE,
                       "%s: the last line has seq %" PRIu64 " but follows seq %" PRIu64 "; refusing to append",
                       log->path, info.seq, before_info.seq);
        ENSURE_CLEANUP(CRYPTO_memcmp(info.prev, before_hash, HASH_LEN) == 0, SL_ERR_PARSE,
                       "%s: prev of the last line does not match the SHA-256 of the line before it; "
                       "refusing to append",
                       log->path);
    }
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&last);
    sl_buf_clean_up(&before);
    return result;
}

static sl_result append_repair_record(audit_log *log, const struct tail *tail)
{
    char hex[HEX_HASH_LEN + 1];
    hex_encode(tail->torn_hash, HASH_LEN, hex);
    char detail[320];
    snprintf(detail, sizeof(detail),
             "{\"reason\":\"partial last line without a newline cut off at open\","
             "\"dropped_bytes\":%zu,\"at_byte\":%lld,\"dropped_sha256\":\"%s\"}",
             tail->torn, (long long)tail->keep, hex);
    audit_record record = { .event = AUDIT_EVENT_REPAIR, .actor = "mover", .detail_json = detail };
    return write_record(log, &record);
}

/* ---- the public functions ---- */

sl_result audit_log_open(uv_loop_t *loop, const char *path, uint64_t commit_interval_ms, audit_log **out)
{
    ENSURE(loop != NULL && path != NULL && path[0] != '\0' && out != NULL, SL_ERR_INVALID_ARGUMENT,
           "audit_log_open needs a loop, a path and an output");
    ENSURE(commit_interval_ms <= AUDIT_MAX_COMMIT_INTERVAL_MS, SL_ERR_INVALID_ARGUMENT,
           "audit commit interval %" PRIu64 " ms is above %u ms", commit_interval_ms,
           AUDIT_MAX_COMMIT_INTERVAL_MS);
    sl_result result = SL_FAILURE;
    audit_log *log = sl_calloc(1, sizeof(*log));
    log->loop = loop;
    log->fd = -1;
    log->path = sl_strdup(path);
    log->commit_interval_ms = commit_interval_ms;

    GUARD_CLEANUP(make_parent_folders(path));
    GUARD_CLEANUP(open_file(log));
    if (flock(log->fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ENSURE_CLEANUP(err != EWOULDBLOCK, SL_ERR_STATE, "%s is locked: another audit log has it open", path);
        ENSURE_CLEANUP(false, SL_ERR_IO, "%s: flock: %s", path, strerror(err));
    }
    struct stat st;
    ENSURE_CLEANUP(fstat(log->fd, &st) == 0, SL_ERR_IO, "%s: fstat: %s", path, strerror(errno));
    struct tail tail;
    GUARD_CLEANUP(read_tail(log, st.st_size, &tail));
    if (tail.torn > 0)
        ENSURE_CLEANUP(ftruncate(log->fd, tail.keep) == 0, SL_ERR_IO, "%s: cutting off the torn tail: %s", path,
                       strerror(errno));
    if (st.st_size > 0) /* what a crashed writer left unsynced is durable before we build on it */
        ENSURE_CLEANUP(fdatasync(log->fd) == 0, SL_ERR_IO, "%s: fdatasync: %s", path, strerror(errno));
    log->seq = tail.seq;
    memcpy(log->prev, tail.hash, HASH_LEN);
    log->size = tail.keep;
    log->synced_seq = tail.seq;
    log->synced_size = tail.keep;
    if (tail.torn > 0) GUARD_CLEANUP(append_repair_record(log, &tail));

    uv_timer_init(loop, &log->commit_timer);
    uv_timer_init(loop, &log->deferred);
    log->commit_timer.data = log;
    log->deferred.data = log;
    log->open_handles = 2;
    schedule(log); /* the repair record, if any, is committed like any other */
    *out = log;
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result)) destroy(log); /* no handle was initialised yet */
    return result;
}

sl_result audit_log_append(audit_log *log, const audit_record *record)
{
    ENSURE(log != NULL && record != NULL, SL_ERR_INVALID_ARGUMENT, "audit_log_append needs a log and a record");
    GUARD(write_record(log, record));
    schedule(log);
    return SL_SUCCESS;
}

sl_result audit_log_flush(audit_log *log, audit_flush_fn *done, void *user)
{
    ENSURE(log != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "audit_log_flush needs a log and a callback");
    ENSURE(!log->closing, SL_ERR_STATE, "%s: the audit log is closing", log->path);
    ENSURE(!log->sync_failed, SL_ERR_IO, "%s: %s", log->path, log->broken_detail);
    struct flush_waiter *w = sl_calloc(1, sizeof(*w));
    w->done = done;
    w->user = user;
    w->target = log->seq;
    if (log->waiters_tail != NULL) log->waiters_tail->next = w;
    else log->waiters_head = w;
    log->waiters_tail = w;
    if (w->target <= log->synced_seq) uv_timer_start(&log->deferred, on_deferred, 0, 0);
    else schedule(log);
    return SL_SUCCESS;
}

void audit_log_close(audit_log *log)
{
    if (log == NULL || log->closing) return;
    log->closing = true;
    schedule(log);
}

void audit_log_synced(const audit_log *log, uint64_t *seq, uint64_t *size)
{
    *seq = log ? log->synced_seq : 0;
    *size = log ? (uint64_t)log->synced_size : 0;
}

const char *audit_log_fault(const audit_log *log) { return log && log->broken ? log->broken_detail : NULL; }

uint64_t audit_log_records(const audit_log *log) { return log ? log->records : 0; }
uint64_t audit_log_fsyncs(const audit_log *log) { return log ? log->fsyncs : 0; }
int audit_log_fd_for_testing(const audit_log *log) { return log ? log->fd : -1; }
