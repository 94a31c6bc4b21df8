/*
 * ship.c — shipping audit segments and checking the local log against them at start
 * (ship.h). Two state machines on the loop: `struct check` (probe → binary search →
 * fetch the last segment → compare → the unshipped tail; or, when that does not settle
 * it, every segment in order) and `struct audit_shipper` (timer → read synced lines →
 * scan → sign → PUT If-None-Match: * → advance). Segments are fetched whole into memory
 * (at most AUDIT_SEGMENT_MAX_BYTES); the local file is read with pread on a descriptor
 * of its own, only up to what is fsync'd (shipper) or complete (check).
 */
#include "audit/ship.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log/log.h"
#include "util/alloc.h"

#define SEGMENT_TYPE "application/x-ndjson"

/* ---- local file ---- */

static sl_result local_open(const char *path, int *fd, uint64_t *size)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0 && errno == ENOENT) {
        *size = 0;
        return SL_SUCCESS;
    }
    ENSURE(*fd >= 0, SL_ERR_IO, "cannot open the audit log %s: %s", path, strerror(errno));
    struct stat st;
    ENSURE(fstat(*fd, &st) == 0 && S_ISREG(st.st_mode), SL_ERR_IO, "%s is not a regular file", path);
    *size = (uint64_t)st.st_size;
    return SL_SUCCESS;
}

/* Reads [off, off + len) into out (replaced); a shorter file is an error. */
static sl_result local_read(int fd, const char *path, uint64_t off, size_t len, sl_buf *out)
{
    sl_buf_reset(out);
    GUARD(sl_buf_reserve(out, len));
    size_t got = 0;
    while (got < len) {
        ssize_t n = fd >= 0 ? pread(fd, out->data + got, len - got, (off_t)(off + got)) : 0;
        if (n < 0 && errno == EINTR) continue;
        ENSURE(n >= 0, SL_ERR_IO, "%s: read: %s", path, strerror(errno));
        ENSURE(n > 0, SL_ERR_IO, "%s: the file ended at byte %" PRIu64, path, off + got);
        got += (size_t)n;
    }
    out->len = len;
    out->data[len] = '\0';
    return SL_SUCCESS;
}

static sl_result sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    GUARD_OSSL(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), SL_ERR_CRYPTO);
    return SL_SUCCESS;
}

/* Where the complete lines end (after the last newline), and the seq of the last one. */
static sl_result local_tail(int fd, const char *path, uint64_t size, uint64_t *end, uint64_t *last_seq)
{
    *end = 0;
    *last_seq = 0;
    if (size == 0) return SL_SUCCESS;
    uint64_t window = size < AUDIT_MAX_LINE + 2 ? size : AUDIT_MAX_LINE + 2;
    sl_buf b = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(local_read(fd, path, size - window, (size_t)window, &b));
    const uint8_t *nl = memrchr(b.data, '\n', b.len);
    if (nl == NULL) { /* nothing but a torn first line */
        result = SL_SUCCESS;
        goto cleanup;
    }
    *end = size - window + (uint64_t)(nl - b.data) + 1;
    const uint8_t *start = nl > b.data ? memrchr(b.data, '\n', (size_t)(nl - b.data)) : NULL;
    start = start ? start + 1 : b.data;
    uint8_t prev[32];
    if (sl_failed(audit_line_fields(sl_cursor_from_bytes(start, (size_t)(nl - start)), last_seq, prev))) *last_seq = 0;
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&b);
    return result;
}

/* ---- fetching a segment ---- */

typedef struct fetched {
    sl_buf body;
    char **meta; /* name, value, … */
    size_t pairs;
    bool too_big;
} fetched;

static void fetched_clean_up(fetched *f)
{
    sl_buf_clean_up(&f->body);
    for (size_t i = 0; i < 2 * f->pairs; i++) sl_free(f->meta[i]);
    sl_free(f->meta);
    *f = (fetched){ 0 };
}

static void fetch_headers(void *user, const s3_object_info *info)
{
    fetched *f = user;
    f->pairs = info->metadata_count;
    f->meta = sl_calloc(2 * f->pairs + 1, sizeof(char *));
    for (size_t i = 0; i < 2 * f->pairs; i++) f->meta[i] = sl_cursor_dup(info->metadata[i]);
}

static s3_http_body_action fetch_chunk(void *user, const uint8_t *data, size_t len)
{
    fetched *f = user;
    if (f->body.len + len > AUDIT_SEGMENT_MAX_BYTES) {
        f->too_big = true;
        return S3_HTTP_BODY_ABORT;
    }
    return sl_ok(sl_buf_append(&f->body, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

/* Decodes, hashes and verifies a fetched segment at `key`, and checks its lines. */
static sl_result verify_fetched(const audit_ship_config *cfg, const char *key, fetched *f, audit_segment_head *h)
{
    sl_cursor *pairs = sl_calloc(2 * f->pairs + 1, sizeof(sl_cursor));
    for (size_t i = 0; i < 2 * f->pairs; i++) pairs[i] = sl_cursor_from_cstr(f->meta[i]);
    sl_result r = audit_segment_head_decode(pairs, f->pairs, h);
    sl_free(pairs);
    if (sl_failed(r)) {
        char why[300];
        snprintf(why, sizeof(why), "%s", sl_error_detail());
        RAISE(SL_ERR_PARSE, "shipped audit segment %s: %s", key, why);
    }
    uint64_t first, last;
    GUARD(audit_segment_key_parse(sl_cursor_from_cstr(key), cfg->prefix, &first, &last));
    ENSURE(first == h->first && last == h->last && strcmp(h->log, cfg->name) == 0, SL_ERR_PARSE,
           "shipped audit segment %s: its head names records %" PRIu64 "-%" PRIu64 " of log %s", key, h->first, h->last,
           h->log);
    GUARD(sha256(f->body.data, f->body.len, h->digest));
    if (sl_failed(audit_segment_verify(cfg->ring, sl_cursor_from_cstr(key), h))) {
        sl_error code = sl_error_last();
        RAISE(code, "shipped audit segment %s: its signed head does not verify (%s)", key,
              code == SL_ERR_NOT_FOUND ? "signed by a key that is not trusted" : "the segment or its head was changed");
    }
    if (sl_failed(audit_segment_check_bytes(sl_cursor_from_buf(&f->body), h))) {
        char why[300];
        snprintf(why, sizeof(why), "%s", sl_error_detail());
        RAISE(SL_ERR_PARSE, "shipped audit segment %s: %s", key, why);
    }
    return SL_SUCCESS;
}

/* ---- the start check ---- */

typedef struct check check;
typedef void probe_fn(check *c, bool found, uint64_t first, const char *key);

struct check {
    uv_loop_t *loop;
    audit_ship_config cfg;
    audit_ship_checked_fn *done;
    void *user;
    int fd;
    uint64_t size, complete_end, local_last;
    /* the search */
    uint64_t lo, hi;
    char *lo_key;
    probe_fn *after_probe;
    /* every segment in order */
    char **keys;
    size_t key_count, next_key;
    char *token;
    audit_chain_point expect; /* where the next segment must start */
    fetched f;
    sl_buf local;
};

static void check_free(check *c)
{
    if (c->fd >= 0) close(c->fd);
    sl_free(c->lo_key);
    for (size_t i = 0; i < c->key_count; i++) sl_free(c->keys[i]);
    sl_free(c->keys);
    sl_free(c->token);
    fetched_clean_up(&c->f);
    sl_buf_clean_up(&c->local);
    sl_free(c);
}

static void check_end(check *c, sl_result result, const audit_chain_point *shipped)
{
    static const audit_chain_point none;
    c->done(c->user, result, shipped ? shipped : &none);
    check_free(c);
}

static void check_fail(check *c) { check_end(c, SL_FAILURE, NULL); }

static void fail_s3(check *c, const char *what, const s3_result *r)
{
    (void)sl_error_raise(r->error, __FILE__, __LINE__, "%s: %s", what, r->detail);
    check_fail(c);
}

static void probed(void *user, const s3_result *r, const s3_list_result *list)
{
    check *c = user;
    if (r->error != SL_OK) {
        fail_s3(c, "listing the shipped audit segments", r);
        return;
    }
    if (list->object_count == 0) {
        c->after_probe(c, false, 0, NULL);
        return;
    }
    const char *key = sl_buf_cstr(&list->objects[0].key);
    uint64_t first, last;
    if (sl_failed(audit_segment_key_parse(sl_cursor_from_cstr(key), c->cfg.prefix, &first, &last))) {
        check_fail(c);
        return;
    }
    c->after_probe(c, true, first, key);
}

/* Lists the first segment whose first record is >= seq. */
static sl_result probe(check *c, uint64_t seq, probe_fn *then)
{
    sl_buf after = { 0 };
    GUARD(audit_segment_start_after(&after, c->cfg.prefix, seq));
    s3_list_params params = { .prefix = sl_cursor_from_cstr(c->cfg.prefix), .start_after = sl_cursor_from_buf(&after),
                              .max_keys = 1 };
    c->after_probe = then;
    sl_result r = s3_list_objects_v2(c->cfg.client, sl_cursor_from_cstr(c->cfg.bucket), &params, probed, c);
    sl_buf_clean_up(&after);
    return r;
}

static void probe_or_fail(check *c, uint64_t seq, probe_fn *then)
{
    if (sl_failed(probe(c, seq, then))) check_fail(c);
}

static void compare_all(check *c);
static void fetch_last(check *c);
static sl_result scan_local(check *c, uint64_t *bad_seq);

static void search_step(check *c, bool found, uint64_t first, const char *key)
{
    if (found && key != c->lo_key) {
        c->lo = first;
        sl_free(c->lo_key);
        c->lo_key = sl_strdup(key);
    } else if (!found) {
        c->hi = c->lo + (c->hi - c->lo) / 2 + (c->hi - c->lo) % 2; /* the mid that was probed */
    }
    if (c->lo + 1 >= c->hi) {
        fetch_last(c);
        return;
    }
    uint64_t mid = c->lo + (c->hi - c->lo) / 2 + (c->hi - c->lo) % 2;
    probe_or_fail(c, mid, search_step);
}

static void beyond_local(check *c, bool found, uint64_t first, const char *key)
{
    (void)first;
    (void)key;
    if (found) { /* records after the local end were shipped: the local log is shorter */
        compare_all(c);
        return;
    }
    c->hi = c->local_last + 1;
    search_step(c, true, c->lo, c->lo_key);
}

static void first_probed(check *c, bool found, uint64_t first, const char *key)
{
    if (!found) { /* nothing shipped yet: the local chain must still be whole */
        uint64_t bad = 0;
        if (sl_failed(scan_local(c, &bad))) check_fail(c);
        else check_end(c, SL_SUCCESS, NULL);
        return;
    }
    c->lo = first;
    c->lo_key = sl_strdup(key);
    probe_or_fail(c, c->local_last + 1, beyond_local);
}

/* Walks the whole local log (its complete lines) along the chain, from record 1: with
 * the last shipped segment equal to the local bytes, an intact chain means every
 * shipped record is there unchanged. On a broken link *bad_seq names the record. */
static sl_result scan_local(check *c, uint64_t *bad_seq)
{
    audit_chain_point p = { 0 };
    *bad_seq = 0;
    while (p.offset < c->complete_end) {
        size_t len = c->complete_end - p.offset > AUDIT_SEGMENT_MAX_BYTES ? AUDIT_SEGMENT_MAX_BYTES
                                                                           : (size_t)(c->complete_end - p.offset);
        GUARD(local_read(c->fd, c->cfg.path, p.offset, len, &c->local));
        size_t used = 0;
        if (sl_failed(audit_segment_scan(sl_cursor_from_buf(&c->local), &p, &used, bad_seq))) {
            char why[300];
            snprintf(why, sizeof(why), "%s", sl_error_detail());
            RAISE(SL_ERR_STATE, "%s: %s; refusing to continue this log", c->cfg.path, why);
        }
        ENSURE(used > 0, SL_ERR_PARSE, "%s: a line longer than %zu bytes at byte %" PRIu64, c->cfg.path,
               AUDIT_SEGMENT_MAX_BYTES, p.offset);
    }
    return SL_SUCCESS;
}

/* Compares a verified segment with the local file; SL_ERR_STATE names the record. */
static sl_result compare_local(check *c, const char *key, const audit_segment_head *h)
{
    uint64_t have = c->complete_end > h->start ? c->complete_end - h->start : 0;
    size_t len = have < h->end - h->start ? (size_t)have : (size_t)(h->end - h->start);
    GUARD(local_read(c->fd, c->cfg.path, h->start, len, &c->local));
    uint64_t record = 0;
    if (sl_failed(audit_segment_compare(sl_cursor_from_buf(&c->f.body), sl_cursor_from_buf(&c->local), h, &record))) {
        char why[400];
        snprintf(why, sizeof(why), "%s", sl_error_detail());
        RAISE(SL_ERR_STATE, "%s: %s (shipped in %s); refusing to continue this log", c->cfg.path, why, key);
    }
    return SL_SUCCESS;
}

static void last_fetched(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    check *c = user;
    if (r->error != SL_OK) {
        if (c->f.too_big) (void)sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "shipped audit segment %s is larger than %zu bytes", c->lo_key, AUDIT_SEGMENT_MAX_BYTES);
        else (void)sl_error_raise(r->error, __FILE__, __LINE__, "fetching shipped audit segment %s: %s", c->lo_key, r->detail);
        check_fail(c);
        return;
    }
    audit_segment_head h;
    if (sl_failed(verify_fetched(&c->cfg, c->lo_key, &c->f, &h))) {
        check_fail(c);
        return;
    }
    uint64_t bad = 0;
    if (sl_failed(compare_local(c, c->lo_key, &h))) {
        compare_all(c); /* name the first record that differs, wherever it is */
        return;
    }
    if (sl_failed(scan_local(c, &bad))) {
        if (bad > 0 && bad <= h.last) compare_all(c); /* within what was shipped: name it */
        else check_fail(c);                           /* after it: the scan says where */
        return;
    }
    audit_chain_point shipped = { .seq = h.last, .offset = h.end };
    memcpy(shipped.hash, h.head, 32);
    check_end(c, SL_SUCCESS, &shipped);
}

static sl_result fetch(check *c, const char *key, s3_object_fn *done)
{
    fetched_clean_up(&c->f);
    s3_get_params params = { 0 };
    s3_get_object *get = NULL;
    return s3_get_object_stream(c->cfg.client, sl_cursor_from_cstr(c->cfg.bucket), sl_cursor_from_cstr(key), &params,
                                fetch_headers, fetch_chunk, done, &c->f, &get);
}

/* fetch's callbacks get &c->f; the completion needs c: a trampoline */
static void fetched_last(void *user, const s3_result *r, const s3_object_info *info)
{
    check *c = (check *)((char *)user - offsetof(check, f));
    last_fetched(c, r, info);
}

static void fetch_last(check *c)
{
    if (sl_failed(fetch(c, c->lo_key, fetched_last))) check_fail(c);
}

/* -- every segment in order -- */

static void fetch_next(check *c);

static void each_fetched(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    check *c = (check *)((char *)user - offsetof(check, f));
    const char *key = c->keys[c->next_key - 1];
    if (r->error != SL_OK) {
        (void)sl_error_raise(r->error, __FILE__, __LINE__, "fetching shipped audit segment %s: %s", key, r->detail);
        check_fail(c);
        return;
    }
    audit_segment_head h;
    if (sl_failed(verify_fetched(&c->cfg, key, &c->f, &h))) {
        check_fail(c);
        return;
    }
    if (h.first != c->expect.seq + 1 || h.start != c->expect.offset || CRYPTO_memcmp(h.prev, c->expect.hash, 32) != 0) {
        (void)sl_error_raise(SL_ERR_STATE, __FILE__, __LINE__,
                             "shipped audit segment %s does not follow the one before it (records %" PRIu64
                             " onwards are missing or were replaced in the control prefix)",
                             key, c->expect.seq + 1);
        check_fail(c);
        return;
    }
    if (sl_failed(compare_local(c, key, &h))) {
        check_fail(c);
        return;
    }
    c->expect.seq = h.last;
    c->expect.offset = h.end;
    memcpy(c->expect.hash, h.head, 32);
    fetch_next(c);
}

static void fetch_next(check *c)
{
    if (c->next_key == c->key_count) { /* every segment matches the local log */
        uint64_t bad = 0;
        audit_chain_point shipped = c->expect;
        if (sl_failed(scan_local(c, &bad))) {
            check_fail(c);
            return;
        }
        check_end(c, SL_SUCCESS, &shipped);
        return;
    }
    if (sl_failed(fetch(c, c->keys[c->next_key++], each_fetched))) check_fail(c);
}

static void listed_all(void *user, const s3_result *r, const s3_list_result *list)
{
    check *c = user;
    if (r->error != SL_OK) {
        fail_s3(c, "listing the shipped audit segments", r);
        return;
    }
    c->keys = sl_realloc(c->keys, (c->key_count + list->object_count + 1) * sizeof(char *));
    for (size_t i = 0; i < list->object_count; i++) c->keys[c->key_count++] = sl_strdup(sl_buf_cstr(&list->objects[i].key));
    sl_free(c->token);
    c->token = NULL;
    if (list->is_truncated) {
        c->token = sl_strdup(sl_buf_cstr(&list->next_continuation_token));
        compare_all(c);
        return;
    }
    c->expect = (audit_chain_point){ 0 };
    fetch_next(c);
}

static void compare_all(check *c)
{
    s3_list_params params = { .prefix = sl_cursor_from_cstr(c->cfg.prefix),
                              .continuation_token = sl_cursor_from_cstr(c->token ? c->token : "") };
    if (sl_failed(s3_list_objects_v2(c->cfg.client, sl_cursor_from_cstr(c->cfg.bucket), &params, listed_all, c)))
        check_fail(c);
}

sl_result audit_ship_check(uv_loop_t *loop, const audit_ship_config *cfg, audit_ship_checked_fn *done, void *user)
{
    ENSURE(loop != NULL && cfg != NULL && cfg->client != NULL && cfg->bucket != NULL && cfg->prefix != NULL &&
               cfg->path != NULL && cfg->ring != NULL && audit_log_name_valid(cfg->name) && done != NULL,
           SL_ERR_INVALID_ARGUMENT, "audit_ship_check needs a client, a bucket, a prefix, a log name, a path, a keyring "
                                    "and a callback");
    check *c = sl_calloc(1, sizeof(*c));
    c->loop = loop;
    c->cfg = *cfg;
    c->done = done;
    c->user = user;
    c->fd = -1;
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(local_open(cfg->path, &c->fd, &c->size));
    GUARD_CLEANUP(local_tail(c->fd, cfg->path, c->size, &c->complete_end, &c->local_last));
    GUARD_CLEANUP(probe(c, 1, first_probed));
    return SL_SUCCESS;
cleanup:
    check_free(c);
    return result;
}

/* ---- the shipper ---- */

struct audit_shipper {
    uv_loop_t *loop;
    audit_ship_config cfg;
    audit_log *log;
    int fd;
    audit_chain_point shipped, pending;
    uv_timer_t timer, drain_timer;
    bool putting, checking_conflict;
    sl_buf body, key, store;
    sl_cursor pairs[14];
    size_t pair_count;
    fetched existing;
    void (*drain_done)(void *user);
    void *drain_user;
    unsigned open_handles;
    bool destroying;
    audit_ship_stats stats;
};

static void tick(audit_shipper *s);

static void finish_drain(audit_shipper *s)
{
    if (s->drain_done == NULL) return;
    void (*done)(void *) = s->drain_done;
    s->drain_done = NULL;
    uv_timer_stop(&s->drain_timer);
    done(s->drain_user);
}

static void shipped_ok(audit_shipper *s)
{
    s->stats.records += s->pending.seq - s->shipped.seq;
    s->shipped = s->pending;
    s->stats.segments++;
    s->stats.shipped_seq = s->shipped.seq;
    s->stats.bytes += s->body.len;
    s->putting = false;
    tick(s); /* more may be waiting */
}

static void stop_shipping(audit_shipper *s, const char *why)
{
    s->stats.stopped = true;
    s->putting = false;
    sl_log(SL_LOG_ERROR, "audit_shipping_stopped", "log", s->cfg.path, "detail", why, "action",
           "no more audit segments are shipped; find out who else writes under this audit.name", NULL);
    finish_drain(s);
}

static void conflict_checked(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    audit_shipper *s = (audit_shipper *)((char *)user - offsetof(audit_shipper, existing));
    s->stats.requests += r->attempts;
    s->checking_conflict = false;
    if (r->error == SL_OK && s->existing.body.len == s->body.len &&
        memcmp(s->existing.body.data, s->body.data, s->body.len) == 0) {
        shipped_ok(s); /* our own earlier write */
        return;
    }
    char why[600];
    snprintf(why, sizeof(why), "audit segment %s already exists with other bytes", sl_buf_cstr(&s->key));
    if (r->error != SL_OK) {
        s->stats.failures++;
        s->putting = false;
        sl_log(SL_LOG_WARN, "audit_ship_failed", "segment", sl_buf_cstr(&s->key), "detail", r->detail, NULL);
        finish_drain(s);
        return;
    }
    stop_shipping(s, why);
}

static void put_done(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    audit_shipper *s = user;
    s->stats.requests += r->attempts;
    if (r->error == SL_OK) {
        shipped_ok(s);
        return;
    }
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_PRECONDITION_FAILED && !s->destroying) {
        fetched_clean_up(&s->existing);
        s3_get_params params = { 0 };
        s3_get_object *get = NULL;
        s->checking_conflict = true;
        if (sl_ok(s3_get_object_stream(s->cfg.client, sl_cursor_from_cstr(s->cfg.bucket), sl_cursor_from_buf(&s->key),
                                       &params, fetch_headers, fetch_chunk, conflict_checked, &s->existing, &get)))
            return;
        s->checking_conflict = false;
    }
    s->stats.failures++;
    s->putting = false;
    sl_log(SL_LOG_WARN, "audit_ship_failed", "segment", sl_buf_cstr(&s->key), "detail", r->detail, "action",
           "retried at the next interval", NULL);
    finish_drain(s);
}

/* Reads, checks, signs and PUTs the next segment; false when there is nothing to ship. */
static bool ship_next(audit_shipper *s)
{
    uint64_t synced_seq = 0, synced_size = 0;
    audit_log_synced(s->log, &synced_seq, &synced_size);
    if (synced_seq <= s->shipped.seq || synced_size <= s->shipped.offset) return false;
    uint64_t avail = synced_size - s->shipped.offset;
    size_t len = avail > AUDIT_SEGMENT_MAX_BYTES ? AUDIT_SEGMENT_MAX_BYTES : (size_t)avail;
    if (sl_failed(local_read(s->fd, s->cfg.path, s->shipped.offset, len, &s->body))) {
        s->stats.failures++;
        sl_log(SL_LOG_WARN, "audit_ship_failed", "detail", sl_error_detail(), NULL);
        return false;
    }
    audit_chain_point p = s->shipped;
    size_t used = 0;
    uint64_t bad = 0;
    if (sl_failed(audit_segment_scan(sl_cursor_from_buf(&s->body), &p, &used, &bad)) || used == 0) {
        stop_shipping(s, sl_error_detail());
        return false;
    }
    s->body.len = used;
    audit_segment_head h = { .first = s->shipped.seq + 1, .last = p.seq, .start = s->shipped.offset, .end = p.offset };
    snprintf(h.log, sizeof(h.log), "%s", s->cfg.name);
    memcpy(h.prev, s->shipped.hash, 32);
    memcpy(h.head, p.hash, 32);
    sl_buf_reset(&s->key);
    if (sl_failed(sha256(s->body.data, used, h.digest)) ||
        sl_failed(audit_segment_key(&s->key, s->cfg.prefix, h.first, h.last)) ||
        sl_failed(audit_segment_sign(s->cfg.signer, sl_cursor_from_buf(&s->key), &h, &s->store, s->pairs, &s->pair_count))) {
        s->stats.failures++;
        sl_log(SL_LOG_WARN, "audit_ship_failed", "detail", sl_error_detail(), NULL);
        return false;
    }
    s3_put_params params = { .content_type = sl_cursor_from_cstr(SEGMENT_TYPE), .if_none_match_any = true,
                             .metadata = s->pairs, .metadata_count = s->pair_count };
    s->pending = p;
    s->putting = true;
    if (sl_failed(s3_put_object(s->cfg.client, sl_cursor_from_cstr(s->cfg.bucket), sl_cursor_from_buf(&s->key),
                                sl_cursor_from_buf(&s->body), &params, put_done, s))) {
        s->putting = false;
        s->stats.failures++;
        sl_log(SL_LOG_WARN, "audit_ship_failed", "segment", sl_buf_cstr(&s->key), "detail", sl_error_detail(), NULL);
        return false;
    }
    return true;
}

static void tick(audit_shipper *s)
{
    if (s->putting || s->checking_conflict || s->destroying) return;
    if (s->stats.stopped || !ship_next(s)) finish_drain(s);
}

static void on_timer(uv_timer_t *t) { tick(t->data); }

static void on_drain_timeout(uv_timer_t *t)
{
    audit_shipper *s = t->data;
    sl_log(SL_LOG_WARN, "audit_ship_incomplete", "log", s->cfg.path, "detail",
           "the last audit records were not shipped before the daemon stopped; they are shipped at the next start",
           NULL);
    finish_drain(s);
}

sl_result audit_shipper_new(uv_loop_t *loop, const audit_ship_config *cfg, audit_log *log,
                            const audit_chain_point *shipped, audit_shipper **out)
{
    ENSURE(loop != NULL && cfg != NULL && cfg->client != NULL && cfg->signer != NULL && log != NULL &&
               shipped != NULL && out != NULL && cfg->interval_ms > 0 && audit_log_name_valid(cfg->name),
           SL_ERR_INVALID_ARGUMENT, "audit_shipper_new needs a client, a signer, a log, an interval and a start");
    audit_shipper *s = sl_calloc(1, sizeof(*s));
    s->loop = loop;
    s->cfg = *cfg;
    s->log = log;
    s->shipped = *shipped;
    s->stats.shipped_seq = shipped->seq;
    uint64_t size = 0;
    if (sl_failed(local_open(cfg->path, &s->fd, &size))) {
        sl_free(s);
        return SL_FAILURE;
    }
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->drain_timer);
    s->timer.data = s->drain_timer.data = s;
    s->open_handles = 2;
    uv_timer_start(&s->timer, on_timer, cfg->interval_ms, cfg->interval_ms);
    *out = s;
    return SL_SUCCESS;
}

void audit_shipper_drain(audit_shipper *s, uint64_t timeout_ms, void (*done)(void *user), void *user)
{
    s->drain_done = done;
    s->drain_user = user;
    uv_timer_start(&s->drain_timer, on_drain_timeout, timeout_ms, 0);
    if (s->fd < 0) { /* the log did not exist at start: open it now */
        uint64_t size;
        (void)local_open(s->cfg.path, &s->fd, &size);
    }
    tick(s);
}

audit_ship_stats audit_shipper_stats(const audit_shipper *s)
{
    return s ? s->stats : (audit_ship_stats){ 0 };
}

static void on_closed(uv_handle_t *h)
{
    audit_shipper *s = h->data;
    if (--s->open_handles > 0) return;
    if (s->fd >= 0) close(s->fd);
    sl_buf_clean_up(&s->body);
    sl_buf_clean_up(&s->key);
    sl_buf_clean_up(&s->store);
    fetched_clean_up(&s->existing);
    sl_free(s);
}

void audit_shipper_destroy(audit_shipper *s)
{
    if (s == NULL || s->destroying) return;
    s->destroying = true;
    s->drain_done = NULL;
    uv_close((uv_handle_t *)&s->timer, on_closed);
    uv_close((uv_handle_t *)&s->drain_timer, on_closed);
}
