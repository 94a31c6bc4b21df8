/*
 * tasks.c — the task registry of tasks.h.
 *
 * Reading guide:
 *   1. configuration copy, clock, small helpers (durations, JSON)
 *   2. the cache: entries by id (a chained hash) in an LRU list; each entry holds the task
 *      as last read or written, its ETag, and a FIFO of operations (admit, close, expire)
 *   3. deferred delivery: every answer is a `completion` on one FIFO, delivered by a
 *      zero-delay timer, so callbacks are always asynchronous and never re-enter a
 *      function of the registry that is still running
 *   4. the per-entry engine: process() reads the manifest when needed (GET), decides the
 *      queued operations on the fresh copy, and writes the changes (PUT If-Match) — one
 *      S3 request per entry at a time; admits that queue up meanwhile are decided and
 *      written together
 *   5. open: validate, sign the grants, PUT If-None-Match, audit, sync, answer
 *   6. list and the start-up pass, the expiry timer
 *   7. new, start, reload, destroy
 *
 * Requests still in flight when the registry is destroyed keep its memory alive: their
 * callbacks see `destroyed`, free their own context and the registry once the last one
 * is back (`io` counts every S3 request and audit flush in flight).
 */
#include "tasks/tasks.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "s3/sigv4.h"
#include "state/artifact.h"
#include "state/task.h"
#include "util/alloc.h"
#include "util/timefmt.h"
#include "util/buf.h"

#define DEFAULT_CACHE_MAX 10000
#define MIN_CACHE_MAX 16
#define DEFAULT_REFRESH_MS 5000
#define LIST_WINDOW_MS (SL_TASK_MAX_TTL_MS + 3600 * 1000) /* 7 days and an hour of clock slack */
#define LIST_PARALLEL 16
#define EXPIRE_RETRY_MS 5000
#define MAX_CONFLICTS 3
#define ACL_VALUE "bucket-owner-full-control"
#define REASON_MAX 512

/* ---- 1. configuration copy, clock, helpers ---- */

typedef struct route_info {
    char *name;
    char *staging_prefix;
    uint64_t max_bytes;
    uint32_t max_key_length;
} route_info;

typedef struct reg_config {
    char *scheme;        /* of the grant endpoint */
    char *host;          /* host[:port] of the grant endpoint */
    bool virtual_hosted;
    char *region;
    char *staging;
    char *control;
    char *control_prefix;
    uint64_t default_ttl_ms;
    uint64_t max_ttl_ms;
    route_info *routes;
    size_t route_count;
} reg_config;

static void reg_config_free(reg_config *c)
{
    if (c == NULL) return;
    char *strings[] = { c->scheme, c->host, c->region, c->staging, c->control, c->control_prefix };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) sl_free(strings[i]);
    for (size_t i = 0; i < c->route_count; i++) {
        sl_free(c->routes[i].name);
        sl_free(c->routes[i].staging_prefix);
    }
    sl_free(c->routes);
    sl_free(c);
}

/* "http(s)://host[:port]" with an optional trailing "/": nothing else. */
static sl_result split_endpoint(const char *endpoint, char **scheme, char **host)
{
    ENSURE(endpoint != NULL, SL_ERR_INVALID_ARGUMENT, "grant endpoint: missing");
    const char *sep = strstr(endpoint, "://");
    ENSURE(sep != NULL, SL_ERR_INVALID_ARGUMENT, "grant endpoint: expected http(s)://host[:port]");
    size_t scheme_len = (size_t)(sep - endpoint);
    bool http = scheme_len == 4 && strncmp(endpoint, "http", 4) == 0;
    bool https = scheme_len == 5 && strncmp(endpoint, "https", 5) == 0;
    ENSURE(http || https, SL_ERR_INVALID_ARGUMENT, "grant endpoint: the scheme must be http or https");
    const char *h = sep + 3;
    size_t len = strlen(h);
    if (len > 0 && h[len - 1] == '/') len--;
    ENSURE(len > 0, SL_ERR_INVALID_ARGUMENT, "grant endpoint: no host");
    for (size_t i = 0; i < len; i++)
        ENSURE(h[i] > 0x20 && h[i] < 0x7f && h[i] != '/' && h[i] != '?' && h[i] != '#' && h[i] != '@',
               SL_ERR_INVALID_ARGUMENT, "grant endpoint: only http(s)://host[:port], no path, query or user info");
    *scheme = sl_strndup(endpoint, scheme_len);
    *host = sl_strndup(h, len);
    return SL_SUCCESS;
}

static sl_result reg_config_new(const sl_config *config, const char *grant_endpoint, reg_config **out)
{
    ENSURE(config != NULL, SL_ERR_INVALID_ARGUMENT, "task registry: no configuration");
    reg_config *c = sl_calloc(1, sizeof(*c));
    if (sl_failed(split_endpoint(grant_endpoint ? grant_endpoint : config->s3.endpoint, &c->scheme, &c->host))) {
        reg_config_free(c);
        return SL_FAILURE;
    }
    c->virtual_hosted = config->s3.virtual_hosted;
    c->region = sl_strdup(config->s3.region);
    c->staging = sl_strdup(config->buckets.staging);
    c->control = sl_strdup(config->buckets.control);
    c->control_prefix = sl_strdup(config->buckets.control_prefix);
    c->default_ttl_ms = config->grants.default_ttl_ms;
    c->max_ttl_ms = config->grants.max_ttl_ms;
    c->route_count = config->route_count;
    c->routes = sl_calloc(config->route_count ? config->route_count : 1, sizeof(*c->routes));
    for (size_t i = 0; i < config->route_count; i++) {
        c->routes[i].name = sl_strdup(config->routes[i].name);
        c->routes[i].staging_prefix = sl_strdup(config->routes[i].staging_prefix);
        c->routes[i].max_bytes = config->routes[i].checks.max_bytes;
        c->routes[i].max_key_length = config->routes[i].checks.max_key_length;
    }
    *out = c;
    return SL_SUCCESS;
}

static const route_info *route_named(const reg_config *c, const char *name)
{
    for (size_t i = 0; i < c->route_count; i++)
        if (strcmp(c->routes[i].name, name) == 0) return &c->routes[i];
    return NULL;
}


/* "4h", "30m", "90s", "1500ms": the largest unit that divides evenly. */
static void format_duration(uint64_t ms, char out[32])
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = { { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            snprintf(out, 32, "%" PRIu64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(out, 32, "%" PRIu64 "ms", ms);
}

static void format_time(int64_t ms, char out[25])
{
    if (!sl_time_format(ms, out)) snprintf(out, 25, "(%" PRId64 " ms)", ms);
}

/* Text from a client in a detail: at most 64 bytes, anything not printable ASCII as '?'. */
static void printable(const char *s, char out[68])
{
    size_t n = 0;
    for (; s[n] != '\0' && n < 64; n++) out[n] = (s[n] < 0x20 || s[n] > 0x7e) ? '?' : s[n];
    if (s[n] != '\0') out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = '\0';
}

/* JSON building: jansson reports failures by NULL / -1; `ok` collects them. */
static void jset(json_t *o, const char *key, json_t *value, bool *ok)
{
    if (value == NULL || json_object_set_new(o, key, value) != 0) *ok = false;
}

static void jset_text(json_t *o, const char *key, const char *value, bool *ok)
{
    if (value != NULL) jset(o, key, json_string(value), ok);
}

static void jset_time(json_t *o, const char *key, int64_t ms, bool *ok)
{
    char text[25];
    if (!sl_time_format(ms, text)) {
        *ok = false;
        return;
    }
    jset_text(o, key, text, ok);
}

/* ---- 2. the cache ---- */

typedef enum entry_status { ENTRY_EMPTY, ENTRY_LOADED, ENTRY_UNKNOWN, ENTRY_INVALID } entry_status;
typedef enum op_kind { OP_ADMIT, OP_CLOSE, OP_EXPIRE } op_kind;

typedef struct op {
    struct op *next;
    op_kind kind;
    char *route, *name, *actor;
    uint64_t size;
    int64_t modified_ms;
    unsigned conflicts; /* writes refused with 412 so far */
    bool counted;       /* its fingerprint is in the write in flight */
    task_verdict_fn *verdict_fn;
    task_result_fn *result_fn;
    void *user;
} op;

typedef struct entry {
    struct entry *hash_next;
    struct entry *lru_prev, *lru_next; /* lru_prev towards the most recent */
    struct entry *dirty_next;
    char *id;
    entry_status status;
    char *invalid_reason;
    task_manifest m;
    sl_buf etag;
    int64_t loaded_ms;
    bool stale;          /* read again before deciding */
    bool busy;           /* a GET or PUT in flight */
    bool dirty;          /* on the registry's dirty list */
    bool expire_queued;
    op *head, *tail;     /* waiting */
    op *batch;           /* decided, waiting for the write in flight */
    op_kind batch_kind;
    task_manifest next;  /* what is being written */
    bool has_next;
    sl_buf body;         /* GET buffer */
} entry;

typedef struct completion {
    struct completion *next;
    task_verdict_fn *verdict_fn;
    task_verdict verdict;
    task_result_fn *result_fn;
    task_outcome outcome;
    char *text; /* reason or detail */
    json_t *result;
    void *user;
} completion;

/* A request of the registry's own (open, list, an audit sync) that destroy must answer. */
typedef struct pending {
    struct pending *prev, *next;
    bool answered;
    unsigned io; /* its S3 requests / flushes in flight */
    void (*abandon)(struct pending *p); /* answer "unavailable" (if not answered yet) */
    void (*release)(struct pending *p); /* free it */
} pending;

struct task_registry {
    uv_loop_t *loop;
    reg_config *cfg;
    s3_client *client;
    audit_log *audit;
    s3_credentials grant_credentials;
    bool have_grants;
    char *mover_key_id;
    char *grant_endpoint;
    sigv4_key_cache *keys;
    size_t cache_max;
    uint64_t refresh_ms;

    entry **buckets;
    size_t bucket_count; /* power of two */
    size_t entry_count;
    entry *lru_head, *lru_tail;
    entry *dirty_head;

    completion *done_head, *done_tail;
    pending *pendings;

    uv_timer_t kick;
    bool kick_armed;
    uv_timer_t expiry;
    int64_t next_expiry_ms;

    bool started, destroyed, client_gone, broken, freed;
    unsigned io;
    unsigned open_handles;
    task_registry_stats stats;
};

static uint64_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

static entry *entry_find(task_registry *r, const char *id)
{
    for (entry *e = r->buckets[hash_id(id) & (r->bucket_count - 1)]; e != NULL; e = e->hash_next)
        if (strcmp(e->id, id) == 0) return e;
    return NULL;
}

static void lru_unlink(task_registry *r, entry *e)
{
    if (e->lru_prev) e->lru_prev->lru_next = e->lru_next;
    else r->lru_head = e->lru_next;
    if (e->lru_next) e->lru_next->lru_prev = e->lru_prev;
    else r->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_touch(task_registry *r, entry *e)
{
    if (r->lru_head == e) return;
    if (e->lru_prev || e->lru_next || r->lru_tail == e) lru_unlink(r, e);
    e->lru_next = r->lru_head;
    if (r->lru_head) r->lru_head->lru_prev = e;
    r->lru_head = e;
    if (r->lru_tail == NULL) r->lru_tail = e;
}

static void grow_buckets(task_registry *r)
{
    size_t count = r->bucket_count * 2;
    entry **buckets = sl_calloc(count, sizeof(*buckets));
    for (size_t i = 0; i < r->bucket_count; i++) {
        entry *e = r->buckets[i];
        while (e) {
            entry *next = e->hash_next;
            size_t b = hash_id(e->id) & (count - 1);
            e->hash_next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    sl_free(r->buckets);
    r->buckets = buckets;
    r->bucket_count = count;
}

static entry *entry_get(task_registry *r, const char *id)
{
    entry *e = entry_find(r, id);
    if (e == NULL) {
        if (r->entry_count + 1 > r->bucket_count) grow_buckets(r);
        e = sl_calloc(1, sizeof(*e));
        e->id = sl_strdup(id);
        size_t b = hash_id(id) & (r->bucket_count - 1);
        e->hash_next = r->buckets[b];
        r->buckets[b] = e;
        r->entry_count++;
    }
    lru_touch(r, e);
    return e;
}

static void op_free(op *o)
{
    if (o == NULL) return;
    sl_free(o->route);
    sl_free(o->name);
    sl_free(o->actor);
    sl_free(o);
}

/* Frees an entry that is off every list and has nothing in flight or waiting. */
static void entry_free(entry *e)
{
    task_manifest_clean_up(&e->m);
    task_manifest_clean_up(&e->next);
    sl_buf_clean_up(&e->etag);
    sl_buf_clean_up(&e->body);
    sl_free(e->invalid_reason);
    sl_free(e->id);
    sl_free(e);
}

static void entry_remove(task_registry *r, entry *e)
{
    entry **link = &r->buckets[hash_id(e->id) & (r->bucket_count - 1)];
    while (*link != e) link = &(*link)->hash_next;
    *link = e->hash_next;
    lru_unlink(r, e);
    r->entry_count--;
    entry_free(e);
}

static bool entry_idle(const entry *e) { return !e->busy && !e->dirty && e->head == NULL && e->batch == NULL; }

/* Drops the least recently used idle entries beyond cache_max. */
static void evict(task_registry *r)
{
    entry *e = r->lru_tail;
    while (r->entry_count > r->cache_max && e != NULL) {
        entry *prev = e->lru_prev;
        if (entry_idle(e)) entry_remove(r, e);
        e = prev;
    }
}

static void set_stale_all(task_registry *r)
{
    for (entry *e = r->lru_head; e != NULL; e = e->lru_next) e->stale = true;
}

/* ---- 3. deferred delivery ---- */

static void kick(task_registry *r);

static void push_completion(task_registry *r, completion *c)
{
    if (r->done_tail) r->done_tail->next = c;
    else r->done_head = c;
    r->done_tail = c;
    kick(r);
}

static void answer_verdict(task_registry *r, op *o, task_verdict verdict, const char *reason)
{
    completion *c = sl_calloc(1, sizeof(*c));
    c->verdict_fn = o->verdict_fn;
    c->verdict = verdict;
    c->text = reason ? sl_strdup(reason) : NULL;
    c->user = o->user;
    if (verdict == TASK_ACCEPT) r->stats.accepted++;
    else if (verdict == TASK_REJECT) r->stats.rejected++;
    else r->stats.unavailable++;
    push_completion(r, c);
}

static void answer_result(task_registry *r, task_result_fn *fn, void *user, task_outcome outcome,
                          const char *detail, json_t *result)
{
    completion *c = sl_calloc(1, sizeof(*c));
    c->result_fn = fn;
    c->outcome = outcome;
    c->text = detail ? sl_strdup(detail) : NULL;
    c->result = result;
    c->user = user;
    push_completion(r, c);
}

static void deliver_all(task_registry *r)
{
    while (r->done_head) {
        completion *c = r->done_head;
        r->done_head = c->next;
        if (r->done_head == NULL) r->done_tail = NULL;
        if (c->verdict_fn) c->verdict_fn(c->user, c->verdict, c->text);
        else if (c->result_fn) c->result_fn(c->user, c->outcome, c->text, c->result);
        else json_decref(c->result);
        sl_free(c->text);
        sl_free(c);
    }
}

/* Answers an operation that cannot go on with "unavailable". */
static void op_fail(task_registry *r, op *o, const char *why)
{
    switch (o->kind) {
    case OP_ADMIT: answer_verdict(r, o, TASK_UNAVAILABLE, why); break;
    case OP_CLOSE: answer_result(r, o->result_fn, o->user, TASK_OUTCOME_UNAVAILABLE, why, NULL); break;
    case OP_EXPIRE: break;
    }
    op_free(o);
}

static void pending_add(task_registry *r, pending *p)
{
    p->next = r->pendings;
    if (r->pendings) r->pendings->prev = p;
    r->pendings = p;
}

static void pending_remove(task_registry *r, pending *p)
{
    if (p->prev) p->prev->next = p->next;
    else r->pendings = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

static void maybe_free(task_registry *r);

/* The first step of every callback of an S3 request or flush: false when the registry
 * is being destroyed (the caller frees its context and returns). */
static bool io_back(task_registry *r)
{
    r->io--;
    return !r->destroyed;
}

/* ---- 4. the per-entry engine ---- */

static void process(task_registry *r, entry *e);
static void arm_expiry(task_registry *r, int64_t at_ms);

static void mark_dirty(task_registry *r, entry *e)
{
    if (e->dirty) return;
    e->dirty = true;
    e->dirty_next = r->dirty_head;
    r->dirty_head = e;
    kick(r);
}

static void enqueue(task_registry *r, entry *e, op *o)
{
    o->next = NULL;
    if (e->tail) e->tail->next = o;
    else e->head = o;
    e->tail = o;
    mark_dirty(r, e);
}

static op *dequeue(entry *e)
{
    op *o = e->head;
    e->head = o->next;
    if (e->head == NULL) e->tail = NULL;
    o->next = NULL;
    return o;
}

/* Puts a list of operations back at the head of the queue, in their order. */
static void requeue_front(entry *e, op *list)
{
    if (list == NULL) return;
    op *last = list;
    while (last->next) last = last->next;
    last->next = e->head;
    e->head = list;
    if (e->tail == NULL) e->tail = last;
}

/* Fails every waiting operation of the entry. */
static void fail_queue(task_registry *r, entry *e, const char *why)
{
    while (e->head) op_fail(r, dequeue(e), why);
}

static task_state effective_state(const task_manifest *m, int64_t now)
{
    if (!task_state_is_terminal(m->state) && now >= m->expires_at_ms) return TASK_EXPIRED;
    return m->state;
}

static void queue_expire(task_registry *r, entry *e)
{
    if (e->expire_queued || r->broken || r->client_gone) return;
    op *o = sl_calloc(1, sizeof(*o));
    o->kind = OP_EXPIRE;
    e->expire_queued = true;
    enqueue(r, e, o);
}

/* After a read or write: expire an overdue task, or let the timer know of it. */
static void watch_expiry(task_registry *r, entry *e, int64_t now)
{
    if (e->status != ENTRY_LOADED || task_state_is_terminal(e->m.state)) return;
    if (now >= e->m.expires_at_ms) queue_expire(r, e);
    else arm_expiry(r, e->m.expires_at_ms);
}

static bool needs_load(const task_registry *r, const entry *e, int64_t now)
{
    switch (e->status) {
    case ENTRY_EMPTY: return true;
    case ENTRY_UNKNOWN: return e->stale;
    case ENTRY_INVALID: return e->stale || now - e->loaded_ms >= (int64_t)r->refresh_ms;
    case ENTRY_LOADED:
        if (e->stale) return true;
        return !task_state_is_terminal(e->m.state) && now - e->loaded_ms >= (int64_t)r->refresh_ms;
    }
    return true;
}

/* -- reading a manifest -- */

struct entry_io {
    task_registry *r;
    entry *e;
};

static s3_http_body_action load_chunk(void *user, const uint8_t *data, size_t len)
{
    entry *e = ((struct entry_io *)user)->e;
    if (e->body.len + len > SL_TASK_MAX_JSON) return S3_HTTP_BODY_ABORT;
    return sl_ok(sl_buf_append(&e->body, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

/* An entry whose request came back after destroy: free it (it is off every list). */
static void orphan_back(struct entry_io *io)
{
    task_registry *r = io->r;
    while (io->e->head) op_free(dequeue(io->e));
    for (op *o = io->e->batch; o != NULL;) {
        op *next = o->next;
        op_free(o);
        o = next;
    }
    entry_free(io->e);
    sl_free(io);
    maybe_free(r);
}

static void loaded(void *user, const s3_result *res, const s3_object_info *info)
{
    struct entry_io *io = user;
    task_registry *r = io->r;
    entry *e = io->e;
    if (!io_back(r)) {
        orphan_back(io);
        return;
    }
    sl_free(io);
    e->busy = false;
    int64_t now = sl_time_now_ms();
    char why[REASON_MAX];
    if (res->error == SL_ERR_CANCELLED) {
        r->client_gone = true;
        fail_queue(r, e, "the task could not be read: the S3 client is shutting down");
        return;
    }
    if (res->error == SL_ERR_S3 && (res->code == S3_ERROR_NO_SUCH_KEY || res->status == 404)) {
        task_manifest_clean_up(&e->m);
        e->status = ENTRY_UNKNOWN;
        e->stale = false;
        e->loaded_ms = now;
    } else if (res->error != SL_OK) {
        snprintf(why, sizeof(why), "the task manifest could not be read: %s", res->detail);
        sl_log(SL_LOG_WARN, "task_read_failed", "task", e->id, "detail", res->detail, NULL);
        fail_queue(r, e, why);
        return;
    } else {
        task_manifest m;
        if (sl_failed(task_manifest_from_json(sl_cursor_from_buf(&e->body), &m))) {
            snprintf(why, sizeof(why), "%s", sl_error_detail());
        } else if (strcmp(m.id, e->id) != 0) {
            snprintf(why, sizeof(why), "it names task %s", m.id);
            task_manifest_clean_up(&m);
        } else {
            why[0] = '\0';
        }
        task_manifest_clean_up(&e->m);
        if (why[0] != '\0') {
            sl_log(SL_LOG_ERROR, "task_manifest_invalid", "task", e->id, "detail", why, NULL);
            e->status = ENTRY_INVALID;
            sl_free(e->invalid_reason);
            e->invalid_reason = sl_strdup(why);
        } else {
            e->m = m;
            e->status = ENTRY_LOADED;
            sl_buf_reset(&e->etag);
            if (sl_failed(sl_buf_append_cursor(&e->etag, info->etag))) e->status = ENTRY_EMPTY;
        }
        e->stale = false;
        e->loaded_ms = now;
        watch_expiry(r, e, now);
    }
    sl_buf_clean_up(&e->body);
    mark_dirty(r, e);
}

static void start_load(task_registry *r, entry *e)
{
    sl_buf key = { 0 };
    struct entry_io *io = sl_calloc(1, sizeof(*io));
    io->r = r;
    io->e = e;
    sl_buf_reset(&e->body);
    if (sl_ok(task_manifest_key(&key, r->cfg->control_prefix, e->id)) &&
        sl_ok(s3_get_object_stream(r->client, sl_cursor_from_cstr(r->cfg->control), sl_cursor_from_buf(&key), NULL,
                                   NULL, load_chunk, loaded, io, NULL))) {
        e->busy = true;
        r->io++;
        r->stats.reads++;
    } else {
        char why[REASON_MAX];
        snprintf(why, sizeof(why), "the task manifest could not be read: %s", sl_error_detail());
        sl_free(io);
        fail_queue(r, e, why);
    }
    sl_buf_clean_up(&key);
}

/* -- writing a manifest -- */

static json_t *task_view(const reg_config *c, const task_manifest *m, int64_t now);
static void audit_then_answer(task_registry *r, const char *event, const char *task, const char *from,
                              const char *to, const char *actor, json_t *detail, task_result_fn *fn, void *user,
                              task_outcome success, json_t *result, const char *what);

static void written(void *user, const s3_result *res, const s3_object_info *info)
{
    struct entry_io *io = user;
    task_registry *r = io->r;
    entry *e = io->e;
    if (!io_back(r)) {
        orphan_back(io);
        return;
    }
    sl_free(io);
    e->busy = false;
    op *batch = e->batch;
    e->batch = NULL;
    int64_t now = sl_time_now_ms();
    char why[REASON_MAX];
    bool conflict = res->error == SL_ERR_S3 && (res->code == S3_ERROR_PRECONDITION_FAILED ||
                                                 res->code == S3_ERROR_NO_SUCH_KEY || res->status == 412);
    if (res->error == SL_OK) {
        task_state from = e->m.state;
        task_manifest_clean_up(&e->m);
        e->m = e->next;
        e->next = (task_manifest){ 0 };
        e->has_next = false;
        sl_buf_reset(&e->etag);
        if (sl_failed(sl_buf_append_cursor(&e->etag, info->etag))) e->stale = true;
        e->loaded_ms = now;
        while (batch) {
            op *o = batch;
            batch = o->next;
            o->next = NULL;
            if (o->kind == OP_ADMIT) {
                answer_verdict(r, o, TASK_ACCEPT, NULL);
            } else if (o->kind == OP_CLOSE) {
                r->stats.closed++;
                char closed_at[25];
                format_time(e->m.closed_at_ms, closed_at);
                json_t *detail = json_pack("{s:s, s:s}", "route", e->m.route, "closed_at", closed_at);
                audit_then_answer(r, "task_close", e->id, task_state_name(from), task_state_name(e->m.state),
                                  o->actor, detail, o->result_fn, o->user, TASK_OUTCOME_OK,
                                  task_view(r->cfg, &e->m, now), "closed");
            } else {
                r->stats.expired++;
                e->expire_queued = false;
                char expires_at[25];
                format_time(e->m.expires_at_ms, expires_at);
                json_t *detail = json_pack("{s:s, s:s}", "route", e->m.route, "expires_at", expires_at);
                audit_then_answer(r, "task_expire", e->id, task_state_name(from), task_state_name(e->m.state),
                                  "mover", detail, NULL, NULL, TASK_OUTCOME_OK, NULL, "expired");
                sl_log(SL_LOG_INFO, "task_expired", "task", e->id, "route", e->m.route, NULL);
            }
            op_free(o);
        }
        watch_expiry(r, e, now);
        mark_dirty(r, e);
        return;
    }
    task_manifest_clean_up(&e->next);
    e->has_next = false;
    if (res->error == SL_ERR_CANCELLED) {
        r->client_gone = true;
        snprintf(why, sizeof(why), "the task manifest could not be written: the S3 client is shutting down");
    } else {
        snprintf(why, sizeof(why), "the task manifest could not be written: %s", res->detail);
    }
    if (conflict && res->error != SL_ERR_CANCELLED) {
        /* someone else wrote it since we read it: read again and decide again */
        e->stale = true;
        op *again = NULL, **tail = &again;
        while (batch) {
            op *o = batch;
            batch = o->next;
            o->next = NULL;
            o->counted = false;
            if (++o->conflicts > MAX_CONFLICTS) {
                op_fail(r, o, "the task manifest kept changing while it was written");
                continue;
            }
            *tail = o;
            tail = &o->next;
        }
        requeue_front(e, again);
        mark_dirty(r, e);
        return;
    }
    sl_log(SL_LOG_WARN, "task_write_failed", "task", e->id, "detail", res->detail, NULL);
    while (batch) {
        op *o = batch;
        batch = o->next;
        o->next = NULL;
        if (o->kind == OP_EXPIRE) {
            e->expire_queued = false;
            arm_expiry(r, now + EXPIRE_RETRY_MS);
            op_free(o);
        } else if (o->kind == OP_ADMIT && !o->counted) {
            answer_verdict(r, o, TASK_ACCEPT, NULL); /* an accept that needed no write */
            op_free(o);
        } else {
            op_fail(r, o, why);
        }
    }
    if (res->error == SL_ERR_CANCELLED) fail_queue(r, e, why);
    else mark_dirty(r, e);
}

/* Writes e->next with If-Match; the decided ops wait in e->batch. */
static void start_write(task_registry *r, entry *e, op *batch, op_kind kind)
{
    sl_buf json = { 0 }, key = { 0 };
    struct entry_io *io = sl_calloc(1, sizeof(*io));
    io->r = r;
    io->e = e;
    e->batch = batch;
    e->batch_kind = kind;
    s3_put_params params = { .content_type = sl_cursor_from_cstr("application/json"),
                             .if_match = sl_cursor_from_buf(&e->etag) };
    if (sl_ok(task_manifest_to_json(&e->next, &json)) && sl_ok(task_manifest_key(&key, r->cfg->control_prefix, e->id)) &&
        sl_ok(s3_put_object(r->client, sl_cursor_from_cstr(r->cfg->control), sl_cursor_from_buf(&key),
                            sl_cursor_from_buf(&json), &params, written, io))) {
        e->busy = true;
        r->io++;
        r->stats.writes++;
    } else {
        /* cannot even send it: answer as a failed write */
        sl_free(io);
        s3_result res = { .error = SL_ERR_IO, .detail = sl_error_detail(), .attempts = 0 };
        struct entry_io *again = sl_calloc(1, sizeof(*again));
        again->r = r;
        again->e = e;
        e->busy = true;
        r->io++;
        written(again, &res, NULL);
    }
    sl_buf_clean_up(&json);
    sl_buf_clean_up(&key);
}

/* -- deciding -- */

static void reject(task_registry *r, op *o, const char *fmt, ...) SL_PRINTF(3, 4);
static void reject(task_registry *r, op *o, const char *fmt, ...)
{
    char reason[REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    answer_verdict(r, o, TASK_REJECT, reason);
    op_free(o);
}

/* Decides one admit. Returns true when it must wait for the write of e->next (it was
 * counted); otherwise it has been answered and freed. */
static bool decide_admit(task_registry *r, entry *e, op *o)
{
    if (e->status == ENTRY_UNKNOWN) {
        reject(r, o, "unknown task: there is no manifest for task %s", e->id);
        return false;
    }
    if (e->status == ENTRY_INVALID) {
        reject(r, o, "the manifest of task %s is invalid: %s", e->id, e->invalid_reason);
        return false;
    }
    const task_manifest *m = e->has_next ? &e->next : &e->m;
    if (strcmp(m->route, o->route) != 0) {
        reject(r, o, "task %s belongs to route %s, not %s", e->id, m->route, o->route);
        return false;
    }
    char uploaded[25], cutoff_text[25];
    int64_t cutoff = m->closed ? m->closed_at_ms : m->expires_at_ms;
    if (o->modified_ms >= cutoff) {
        format_time(o->modified_ms, uploaded);
        format_time(cutoff, cutoff_text);
        reject(r, o, "uploaded at %s, after the task was %s at %s", uploaded, m->closed ? "closed" : "expired",
               cutoff_text);
        return false;
    }
    sl_cursor name = sl_cursor_from_cstr(o->name);
    if (!task_manifest_name_allowed(m, name)) {
        reject(r, o, "the name is not allowed by the task (%zu named keys%s%s)", m->limits.key_count,
               m->limits.name_pattern ? ", name pattern " : "", m->limits.name_pattern ? m->limits.name_pattern : "");
        return false;
    }
    const task_key *key = task_manifest_find_key(m, name);
    if (key != NULL && key->has_size && o->size != key->size) {
        reject(r, o, "%" PRIu64 " bytes, but the grant for this name was for exactly %" PRIu64 " bytes", o->size,
               key->size);
        return false;
    }
    if (o->size > m->limits.max_bytes) {
        reject(r, o, "%" PRIu64 " bytes, over the task's max_bytes of %" PRIu64, o->size, m->limits.max_bytes);
        return false;
    }
    if (m->limits.max_objects == 0) {
        answer_verdict(r, o, TASK_ACCEPT, NULL);
        op_free(o);
        return false;
    }
    char fp[SL_TASK_FINGERPRINT_LEN + 1];
    if (sl_failed(task_fingerprint(name, o->modified_ms, o->size, fp))) {
        op_fail(r, o, "the object's fingerprint could not be computed");
        return false;
    }
    if (task_manifest_has_accepted(m, fp)) { /* listed again: counted already */
        answer_verdict(r, o, TASK_ACCEPT, NULL);
        op_free(o);
        return false;
    }
    if (m->accepted_count >= m->limits.max_objects) {
        reject(r, o, "the task's limit of %u objects is reached", m->limits.max_objects);
        return false;
    }
    if (!e->has_next) {
        task_manifest_copy(&e->m, &e->next);
        e->has_next = true;
    }
    if (sl_failed(task_manifest_add_accepted(&e->next, fp))) {
        op_fail(r, o, "the object could not be counted");
        return false;
    }
    o->counted = true;
    return true;
}

/* Decides the admits at the head of the queue together; one write for all that count. */
static void decide_admits(task_registry *r, entry *e)
{
    op *waiting = NULL, **tail = &waiting;
    while (e->head && e->head->kind == OP_ADMIT) {
        op *o = dequeue(e);
        if (decide_admit(r, e, o)) {
            *tail = o;
            tail = &o->next;
        }
    }
    if (waiting == NULL) {
        task_manifest_clean_up(&e->next);
        e->has_next = false;
        return;
    }
    start_write(r, e, waiting, OP_ADMIT);
}

static void decide_close(task_registry *r, entry *e, int64_t now)
{
    op *o = dequeue(e);
    char detail[REASON_MAX];
    if (e->status == ENTRY_UNKNOWN) {
        snprintf(detail, sizeof(detail), "no task %s", e->id);
        answer_result(r, o->result_fn, o->user, TASK_OUTCOME_NOT_FOUND, detail, NULL);
        op_free(o);
        return;
    }
    if (e->status == ENTRY_INVALID) {
        snprintf(detail, sizeof(detail), "the manifest of task %s is invalid: %s", e->id, e->invalid_reason);
        answer_result(r, o->result_fn, o->user, TASK_OUTCOME_INTERNAL, detail, NULL);
        op_free(o);
        return;
    }
    task_state state = effective_state(&e->m, now);
    if (state != TASK_OPEN) {
        char when[25];
        if (state == TASK_CLOSED) {
            format_time(e->m.closed_at_ms, when);
            snprintf(detail, sizeof(detail), "task %s was closed already, at %s by %s", e->id, when, e->m.closed_by);
        } else {
            format_time(e->m.expires_at_ms, when);
            snprintf(detail, sizeof(detail), "task %s has expired, at %s", e->id, when);
        }
        answer_result(r, o->result_fn, o->user, TASK_OUTCOME_NOT_OPEN, detail, NULL);
        op_free(o);
        return;
    }
    if (r->broken) {
        op_fail(r, o, "the audit log has failed: no task can be changed until it is fixed");
        return;
    }
    task_manifest_copy(&e->m, &e->next);
    e->has_next = true;
    if (sl_failed(task_manifest_transition(&e->next, TASK_CLOSED, now, o->actor, "closed by an orchestrator"))) {
        snprintf(detail, sizeof(detail), "the task could not be closed: %s", sl_error_detail());
        task_manifest_clean_up(&e->next);
        e->has_next = false;
        answer_result(r, o->result_fn, o->user, TASK_OUTCOME_INTERNAL, detail, NULL);
        op_free(o);
        return;
    }
    start_write(r, e, o, OP_CLOSE);
}

static void decide_expire(task_registry *r, entry *e, int64_t now)
{
    op *o = dequeue(e);
    if (e->status != ENTRY_LOADED || task_state_is_terminal(e->m.state) || now < e->m.expires_at_ms || r->broken ||
        r->client_gone) {
        e->expire_queued = false;
        op_free(o);
        return;
    }
    task_manifest_copy(&e->m, &e->next);
    e->has_next = true;
    if (sl_failed(task_manifest_transition(&e->next, TASK_EXPIRED, now, "mover", "the TTL passed"))) {
        sl_log(SL_LOG_ERROR, "task_expire_failed", "task", e->id, "detail", sl_error_detail(), NULL);
        task_manifest_clean_up(&e->next);
        e->has_next = false;
        e->expire_queued = false;
        op_free(o);
        return;
    }
    start_write(r, e, o, OP_EXPIRE);
}

static void process(task_registry *r, entry *e)
{
    while (e->head != NULL && !e->busy && !r->destroyed) {
        if (r->client_gone) {
            fail_queue(r, e, "the S3 client is shutting down");
            return;
        }
        int64_t now = sl_time_now_ms();
        if (needs_load(r, e, now)) {
            start_load(r, e);
            continue;
        }
        switch (e->head->kind) {
        case OP_ADMIT: decide_admits(r, e); break;
        case OP_CLOSE: decide_close(r, e, now); break;
        case OP_EXPIRE: decide_expire(r, e, now); break;
        }
    }
}

static void on_kick(uv_timer_t *t)
{
    task_registry *r = t->data;
    r->kick_armed = false;
    while (r->dirty_head && !r->destroyed) {
        entry *e = r->dirty_head;
        r->dirty_head = e->dirty_next;
        e->dirty_next = NULL;
        e->dirty = false;
        process(r, e);
    }
    if (!r->destroyed) evict(r);
    deliver_all(r);
}

static void kick(task_registry *r)
{
    if (r->kick_armed || r->destroyed) return;
    r->kick_armed = true;
    uv_timer_start(&r->kick, on_kick, 0, 0);
}

/* -- audit, then answer -- */

struct audit_wait {
    pending base;
    task_registry *r;
    task_result_fn *fn;
    void *user;
    json_t *result;
    task_outcome success;
    char what[32];
};

static void audit_wait_abandon(pending *p)
{
    struct audit_wait *w = (struct audit_wait *)p;
    if (p->answered) return;
    p->answered = true;
    if (w->fn) w->fn(w->user, TASK_OUTCOME_UNAVAILABLE, "the registry is shutting down", NULL);
}

static void audit_wait_release(pending *p)
{
    struct audit_wait *w = (struct audit_wait *)p;
    json_decref(w->result);
    sl_free(w);
}

static void audit_synced(void *user, sl_result result)
{
    struct audit_wait *w = user;
    task_registry *r = w->r;
    w->base.io--;
    if (!io_back(r)) {
        audit_wait_release(&w->base);
        maybe_free(r);
        return;
    }
    pending_remove(r, &w->base);
    if (sl_failed(result)) {
        char detail[REASON_MAX];
        snprintf(detail, sizeof(detail), "the task was %s, but its audit record could not be synced: %s", w->what,
                 sl_error_detail());
        r->broken = true;
        sl_log(SL_LOG_ERROR, "audit_failed", "detail", sl_error_detail(), NULL);
        if (w->fn) answer_result(r, w->fn, w->user, TASK_OUTCOME_INTERNAL, detail, NULL);
    } else if (w->fn) {
        answer_result(r, w->fn, w->user, w->success, NULL, w->result);
        w->result = NULL;
    }
    audit_wait_release(&w->base);
}

/* Appends the audit record (detail is stolen) and, when `fn` is set, answers it with
 * `success` and `result` (stolen) once the record is on disk — or INTERNAL when it cannot
 * be written or synced. */
static void audit_then_answer(task_registry *r, const char *event, const char *task, const char *from,
                              const char *to, const char *actor, json_t *detail, task_result_fn *fn, void *user,
                              task_outcome success, json_t *result, const char *what)
{
    char *detail_json = detail ? json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(detail);
    audit_record rec = { .event = event, .artifact = task, .from = from, .to = to, .actor = actor,
                         .detail_json = detail_json };
    sl_result appended = audit_log_append(r->audit, &rec);
    free(detail_json);
    char text[REASON_MAX];
    if (sl_failed(appended)) {
        snprintf(text, sizeof(text), "the task was %s, but its audit record could not be written: %s", what,
                 sl_error_detail());
        if (sl_error_last() == SL_ERR_IO || sl_error_last() == SL_ERR_STATE) r->broken = true;
        sl_log(SL_LOG_ERROR, "audit_failed", "event", event, "task", task, "detail", sl_error_detail(), NULL);
        json_decref(result);
        if (fn) answer_result(r, fn, user, TASK_OUTCOME_INTERNAL, text, NULL);
        return;
    }
    if (fn == NULL) {
        json_decref(result);
        return;
    }
    struct audit_wait *w = sl_calloc(1, sizeof(*w));
    w->base.abandon = audit_wait_abandon;
    w->base.release = audit_wait_release;
    w->r = r;
    w->fn = fn;
    w->user = user;
    w->result = result;
    w->success = success;
    snprintf(w->what, sizeof(w->what), "%s", what);
    if (sl_failed(audit_log_flush(r->audit, audit_synced, w))) {
        snprintf(text, sizeof(text), "the task was %s, but its audit record could not be synced: %s", what,
                 sl_error_detail());
        r->broken = true;
        answer_result(r, fn, user, TASK_OUTCOME_INTERNAL, text, NULL);
        audit_wait_release(&w->base);
        return;
    }
    w->base.io++;
    r->io++;
    pending_add(r, &w->base);
}

/* ---- views ---- */

static json_t *limits_json(const task_limits *l, bool *ok)
{
    json_t *o = json_object();
    if (o == NULL) {
        *ok = false;
        return NULL;
    }
    if (l->max_objects > 0) jset(o, "max_objects", json_integer(l->max_objects), ok);
    jset(o, "max_bytes", json_integer((json_int_t)l->max_bytes), ok);
    if (l->key_count > 0) {
        json_t *keys = json_array();
        jset(o, "keys", keys, ok);
        for (size_t i = 0; keys != NULL && i < l->key_count; i++) {
            json_t *k = json_object();
            if (k == NULL || json_array_append_new(keys, k) != 0) {
                *ok = false;
                break;
            }
            jset_text(k, "name", l->keys[i].name, ok);
            if (l->keys[i].has_size) jset(k, "size", json_integer((json_int_t)l->keys[i].size), ok);
        }
    }
    jset_text(o, "name_pattern", l->name_pattern, ok);
    return o;
}

/* The task as the API shows it; NULL if jansson failed. */
static json_t *task_view(const reg_config *c, const task_manifest *m, int64_t now)
{
    bool ok = true;
    json_t *o = json_object();
    if (o == NULL) return NULL;
    jset_text(o, "task", m->id, &ok);
    jset_text(o, "route", m->route, &ok);
    jset_text(o, "state", task_state_name(effective_state(m, now)), &ok);
    jset_text(o, "opened_by", m->opened_by, &ok);
    jset_time(o, "opened_at", m->opened_at_ms, &ok);
    jset_time(o, "expires_at", m->expires_at_ms, &ok);
    if (m->closed) {
        jset_time(o, "closed_at", m->closed_at_ms, &ok);
        jset_text(o, "closed_by", m->closed_by, &ok);
    }
    jset_text(o, "bucket", c->staging, &ok);
    const route_info *route = route_named(c, m->route);
    if (route != NULL) {
        sl_buf prefix = { 0 };
        if (sl_ok(sl_buf_appendf(&prefix, "%s%s/", route->staging_prefix, m->id)))
            jset_text(o, "prefix", sl_buf_cstr(&prefix), &ok);
        else ok = false;
        sl_buf_clean_up(&prefix);
    }
    jset(o, "limits", limits_json(&m->limits, &ok), &ok);
    if (m->limits.max_objects > 0) jset(o, "accepted", json_integer((json_int_t)m->accepted_count), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- the seam ---- */

const char *task_verdict_name(task_verdict verdict)
{
    switch (verdict) {
    case TASK_ACCEPT: return "accept";
    case TASK_REJECT: return "reject";
    case TASK_UNAVAILABLE: return "unavailable";
    }
    return "(invalid verdict)";
}

sl_result task_registry_admit(task_registry *r, const char *route, const char *task_id, const char *name,
                              uint64_t size, int64_t modified_ms, task_verdict_fn *done, void *user)
{
    ENSURE(r != NULL && route != NULL && task_id != NULL && name != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT,
           "task_registry_admit: route, task id, name and callback are required");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_admit: the registry is being destroyed");
    op *o = sl_calloc(1, sizeof(*o));
    o->kind = OP_ADMIT;
    o->route = sl_strdup(route);
    o->name = sl_strdup(name);
    o->size = size;
    o->modified_ms = modified_ms;
    o->verdict_fn = done;
    o->user = user;
    char shown[68];
    if (sl_failed(artifact_task_id_check(sl_cursor_from_cstr(task_id)))) {
        reject(r, o, "not a task id: %s", sl_error_detail());
        return SL_SUCCESS;
    }
    if (route_named(r->cfg, route) == NULL) {
        printable(route, shown);
        reject(r, o, "unknown route \"%s\"", shown);
        return SL_SUCCESS;
    }
    if (name[0] == '\0') {
        reject(r, o, "the name is empty");
        return SL_SUCCESS;
    }
    enqueue(r, entry_get(r, task_id), o);
    return SL_SUCCESS;
}

/* ---- close ---- */

sl_result task_registry_close(task_registry *r, const char *id, const char *actor, task_result_fn *done, void *user)
{
    ENSURE(r != NULL && id != NULL && actor != NULL && actor[0] != '\0' && done != NULL, SL_ERR_INVALID_ARGUMENT,
           "task_registry_close: id, actor and callback are required");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_close: the registry is being destroyed");
    if (sl_failed(artifact_task_id_check(sl_cursor_from_cstr(id)))) {
        char detail[REASON_MAX];
        snprintf(detail, sizeof(detail), "no such task: %s", sl_error_detail());
        answer_result(r, done, user, TASK_OUTCOME_NOT_FOUND, detail, NULL);
        return SL_SUCCESS;
    }
    op *o = sl_calloc(1, sizeof(*o));
    o->kind = OP_CLOSE;
    o->actor = sl_strdup(actor);
    o->result_fn = done;
    o->user = user;
    entry *e = entry_get(r, id);
    e->stale = true; /* a close decides on the manifest as it is in S3 now */
    enqueue(r, e, o);
    return SL_SUCCESS;
}

/* ---- 5. open ---- */

const char *task_outcome_name(task_outcome outcome)
{
    static const char *const names[] = {
#define OUTCOME_NAME(e, name) [e] = name,
        SL_TASK_OUTCOMES(OUTCOME_NAME)
#undef OUTCOME_NAME
    };
    return (unsigned)outcome < TASK_OUTCOME_COUNT ? names[outcome] : "internal";
}

struct open_req {
    pending base;
    task_registry *r;
    task_result_fn *done;
    void *user;
    char *actor;
    char *route;
    task_manifest m;
    sl_buf key, body;
    json_t *grant;
    json_t *audit_detail;
};

static void open_release(pending *p)
{
    struct open_req *o = (struct open_req *)p;
    task_manifest_clean_up(&o->m);
    sl_buf_clean_up(&o->key);
    sl_buf_clean_up(&o->body);
    json_decref(o->grant);
    json_decref(o->audit_detail);
    sl_free(o->actor);
    sl_free(o->route);
    sl_free(o);
}

static void open_abandon(pending *p)
{
    struct open_req *o = (struct open_req *)p;
    if (p->answered) return;
    p->answered = true;
    o->done(o->user, TASK_OUTCOME_UNAVAILABLE, "the registry is shutting down", NULL);
}

static void open_fail(struct open_req *o, task_outcome outcome, const char *detail)
{
    task_registry *r = o->r;
    pending_remove(r, &o->base);
    o->base.answered = true;
    answer_result(r, o->done, o->user, outcome, detail, NULL);
    open_release(&o->base);
}

/* The manifest is in S3: record it, cache it, and answer once the record is synced. */
static void open_written(struct open_req *o, sl_cursor etag)
{
    task_registry *r = o->r;
    pending_remove(r, &o->base);
    o->base.answered = true;
    r->stats.opened++;
    entry *e = entry_get(r, o->m.id);
    if (!e->busy && e->head == NULL) {
        task_manifest_clean_up(&e->m);
        task_manifest_copy(&o->m, &e->m);
        e->status = ENTRY_LOADED;
        e->stale = false;
        e->loaded_ms = sl_time_now_ms();
        sl_buf_reset(&e->etag);
        if (sl_failed(sl_buf_append_cursor(&e->etag, etag))) e->stale = true;
        arm_expiry(r, o->m.expires_at_ms);
    }
    sl_log(SL_LOG_INFO, "task_opened", "task", o->m.id, "route", o->m.route, "by", o->actor, NULL);
    json_t *detail = o->audit_detail, *grant = o->grant;
    o->audit_detail = o->grant = NULL;
    audit_then_answer(r, TASK_EVENT_OPEN, o->m.id, NULL, task_state_name(TASK_OPEN), o->actor, detail, o->done,
                      o->user, TASK_OUTCOME_CREATED, grant, "opened");
    open_release(&o->base);
}

static s3_http_body_action open_check_chunk(void *user, const uint8_t *data, size_t len)
{
    struct open_req *o = user;
    /* o->key is reused for the bytes read back (the key is not needed any more) */
    if (o->key.len + len > SL_TASK_MAX_JSON) return S3_HTTP_BODY_ABORT;
    return sl_ok(sl_buf_append(&o->key, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

/* The PUT met an existing object: ours from an attempt whose answer was lost, or (with
 * 128 random bits, never in practice) another task's. */
static void open_checked(void *user, const s3_result *res, const s3_object_info *info)
{
    struct open_req *o = user;
    task_registry *r = o->r;
    o->base.io--;
    if (!io_back(r)) {
        open_release(&o->base);
        maybe_free(r);
        return;
    }
    if (res->error == SL_OK && sl_cursor_eq(sl_cursor_from_buf(&o->key), sl_cursor_from_buf(&o->body))) {
        open_written(o, info->etag);
        return;
    }
    char detail[REASON_MAX];
    snprintf(detail, sizeof(detail), "task id %s is taken; open the task again", o->m.id);
    open_fail(o, res->error == SL_OK ? TASK_OUTCOME_INTERNAL : TASK_OUTCOME_UNAVAILABLE, detail);
}

static void open_put_done(void *user, const s3_result *res, const s3_object_info *info)
{
    struct open_req *o = user;
    task_registry *r = o->r;
    o->base.io--;
    if (!io_back(r)) {
        open_release(&o->base);
        maybe_free(r);
        return;
    }
    char detail[REASON_MAX];
    if (res->error == SL_ERR_CANCELLED) r->client_gone = true;
    if (res->error == SL_ERR_S3 && res->code == S3_ERROR_PRECONDITION_FAILED && !r->client_gone) {
        sl_buf key = { 0 };
        bool started = sl_ok(task_manifest_key(&key, r->cfg->control_prefix, o->m.id));
        sl_buf_clean_up(&o->key);
        started = started && sl_ok(s3_get_object_stream(r->client, sl_cursor_from_cstr(r->cfg->control),
                                                        sl_cursor_from_buf(&key), NULL, NULL, open_check_chunk,
                                                        open_checked, o, NULL));
        sl_buf_clean_up(&key);
        if (started) {
            o->base.io++;
            r->io++;
            r->stats.reads++;
            return;
        }
    }
    if (res->error != SL_OK) {
        snprintf(detail, sizeof(detail), "the task manifest could not be written: %s", res->detail);
        open_fail(o, TASK_OUTCOME_UNAVAILABLE, detail);
        return;
    }
    open_written(o, info->etag);
}

/* The grants: presigned PUT URLs and a POST policy, signed with the grant identity. */
static sl_result sign_grants(task_registry *r, const route_info *route, const task_manifest *m, bool post,
                             json_t *out)
{
    const reg_config *c = r->cfg;
    time_t sign_time = (time_t)(m->opened_at_ms / 1000);
    int64_t lifetime = m->expires_at_ms / 1000 - (int64_t)sign_time;
    if (lifetime > SIGV4_MAX_EXPIRES) lifetime = SIGV4_MAX_EXPIRES;
    ENSURE(lifetime >= SIGV4_MIN_EXPIRES, SL_ERR_INVALID_ARGUMENT, "the task is too short for a grant (< 1 s)");
    sigv4_signing signing = { .credentials = &r->grant_credentials,
                              .region = sl_cursor_from_cstr(c->region),
                              .service = sl_cursor_from_cstr("s3"),
                              .time = sign_time,
                              .key_cache = r->keys };
    sl_result result = SL_FAILURE;
    bool ok = true;
    sl_buf prefix = { 0 }, host = { 0 }, path = { 0 }, url = { 0 }, length = { 0 };
    sigv4_post_form form = { 0 };
    GUARD_CLEANUP(sl_buf_appendf(&prefix, "%s%s/", route->staging_prefix, m->id));
    if (c->virtual_hosted) GUARD_CLEANUP(sl_buf_appendf(&host, "%s.%s", c->staging, c->host));
    else GUARD_CLEANUP(sl_buf_append_cstr(&host, c->host));
    jset_time(out, "grant_expires_at", ((int64_t)sign_time + lifetime) * 1000, &ok);

    json_t *put_headers = json_object();
    jset(out, "put_headers", put_headers, &ok);
    jset_text(put_headers, "If-None-Match", "*", &ok);
    jset_text(put_headers, "x-amz-acl", ACL_VALUE, &ok);
    json_t *urls = json_object();
    jset(out, "put_urls", urls, &ok);
    for (size_t i = 0; i < m->limits.key_count && ok; i++) {
        const task_key *k = &m->limits.keys[i];
        sl_buf_reset(&path);
        sl_buf_reset(&length);
        if (c->virtual_hosted) GUARD_CLEANUP(sl_buf_appendf(&path, "/%s%s", sl_buf_cstr(&prefix), k->name));
        else GUARD_CLEANUP(sl_buf_appendf(&path, "/%s/%s%s", c->staging, sl_buf_cstr(&prefix), k->name));
        sigv4_pair headers[4] = {
            { sl_cursor_from_cstr("Host"), sl_cursor_from_buf(&host) },
            { sl_cursor_from_cstr("If-None-Match"), sl_cursor_from_cstr("*") },
            { sl_cursor_from_cstr("x-amz-acl"), sl_cursor_from_cstr(ACL_VALUE) },
        };
        size_t header_count = 3;
        if (k->has_size) {
            GUARD_CLEANUP(sl_buf_appendf(&length, "%" PRIu64, k->size));
            headers[header_count++] = (sigv4_pair){ sl_cursor_from_cstr("Content-Length"), sl_cursor_from_buf(&length) };
        }
        sigv4_request req = { .method = sl_cursor_from_cstr("PUT"),
                              .path = sl_cursor_from_buf(&path),
                              .uri_mode = SIGV4_URI_S3,
                              .headers = headers,
                              .header_count = header_count,
                              .payload_hash = sl_cursor_from_cstr(SIGV4_UNSIGNED_PAYLOAD),
                              .scheme = sl_cursor_from_cstr(c->scheme) };
        sigv4_signed signed_url = { 0 };
        sl_result presigned = sigv4_presign(&signing, &req, (uint32_t)lifetime, &signed_url);
        if (sl_ok(presigned)) jset_text(urls, k->name, sl_buf_cstr(&signed_url.url), &ok);
        sigv4_signed_clean_up(&signed_url);
        GUARD_CLEANUP(presigned);
    }

    if (post) {
        sigv4_pair conditions[1] = { { sl_cursor_from_cstr("acl"), sl_cursor_from_cstr(ACL_VALUE) } };
        sigv4_post_policy policy = { .bucket = sl_cursor_from_cstr(c->staging),
                                     .key_prefix = sl_cursor_from_buf(&prefix),
                                     .min_length = 0,
                                     .max_length = m->limits.max_bytes,
                                     .expires_seconds = (uint32_t)lifetime,
                                     .conditions = conditions,
                                     .condition_count = 1 };
        GUARD_CLEANUP(sigv4_presign_post(&signing, &policy, &form));
        if (c->virtual_hosted) GUARD_CLEANUP(sl_buf_appendf(&url, "%s://%s/", c->scheme, sl_buf_cstr(&host)));
        else GUARD_CLEANUP(sl_buf_appendf(&url, "%s://%s/%s", c->scheme, c->host, c->staging));
        json_t *p = json_object();
        jset(out, "post", p, &ok);
        jset_text(p, "url", sl_buf_cstr(&url), &ok);
        jset_text(p, "key_prefix", sl_buf_cstr(&prefix), &ok);
        jset(p, "max_bytes", json_integer((json_int_t)m->limits.max_bytes), &ok);
        json_t *fields = json_object();
        jset(p, "fields", fields, &ok);
        for (size_t i = 0; i < form.field_count; i++) jset_text(fields, form.fields[i].name, form.fields[i].value, &ok);
    }
    ENSURE_CLEANUP(ok, SL_ERR_LIMIT, "the grant could not be put into JSON");
    result = SL_SUCCESS;
cleanup:
    sigv4_post_form_clean_up(&form);
    sl_buf_clean_up(&prefix);
    sl_buf_clean_up(&host);
    sl_buf_clean_up(&path);
    sl_buf_clean_up(&url);
    sl_buf_clean_up(&length);
    return result;
}

/* Checks the request against the configuration; on failure fills outcome and detail. */
static bool validate_open(const task_registry *r, const task_open_params *p, const route_info **route_out,
                          uint64_t *ttl_out, uint64_t *max_bytes_out, task_outcome *outcome, char *detail,
                          size_t detail_len)
{
    const reg_config *c = r->cfg;
    char a[32], b[32], shown[68];
    if (p->route == NULL || p->route[0] == '\0') {
        *outcome = TASK_OUTCOME_BAD_REQUEST;
        snprintf(detail, detail_len, "a route is required");
        return false;
    }
    const route_info *route = route_named(c, p->route);
    if (route == NULL) {
        sl_buf names = { 0 };
        for (size_t i = 0; i < c->route_count; i++)
            if (sl_failed(sl_buf_appendf(&names, "%s%s", i ? ", " : "", c->routes[i].name))) break;
        printable(p->route, shown);
        *outcome = TASK_OUTCOME_UNKNOWN_ROUTE;
        snprintf(detail, detail_len, "no route \"%s\"; routes: %s", shown, sl_buf_cstr(&names));
        sl_buf_clean_up(&names);
        return false;
    }
    uint64_t ttl = p->ttl_ms ? p->ttl_ms : c->default_ttl_ms;
    uint64_t max_ttl = c->max_ttl_ms < (uint64_t)SL_TASK_MAX_TTL_MS ? c->max_ttl_ms : (uint64_t)SL_TASK_MAX_TTL_MS;
    if (ttl > max_ttl) {
        format_duration(ttl, a);
        format_duration(max_ttl, b);
        *outcome = TASK_OUTCOME_BAD_TTL;
        snprintf(detail, detail_len, "ttl %s is longer than the longest a grant may live, %s (grants.max_ttl)", a, b);
        return false;
    }
    if (ttl < 1000) {
        format_duration(ttl, a);
        *outcome = TASK_OUTCOME_BAD_TTL;
        snprintf(detail, detail_len, "ttl %s is shorter than 1s, the shortest a presigned grant can live", a);
        return false;
    }
    uint64_t max_bytes = p->max_bytes ? p->max_bytes : route->max_bytes;
    *outcome = TASK_OUTCOME_BAD_REQUEST;
    if (max_bytes > route->max_bytes) {
        snprintf(detail, detail_len, "max_bytes %" PRIu64 " is over route %s's checks.max_bytes (%" PRIu64 ")",
                 max_bytes, route->name, route->max_bytes);
        return false;
    }
    if (p->max_objects > SL_TASK_MAX_OBJECTS) {
        snprintf(detail, detail_len, "max_objects %u is over %d", p->max_objects, SL_TASK_MAX_OBJECTS);
        return false;
    }
    if (p->key_count > SL_TASK_MAX_KEYS) {
        snprintf(detail, detail_len, "%zu keys; at most %d", p->key_count, SL_TASK_MAX_KEYS);
        return false;
    }
    if (p->max_objects > 0 && p->key_count > p->max_objects) {
        snprintf(detail, detail_len, "%zu keys but max_objects %u: each key is an object", p->key_count,
                 p->max_objects);
        return false;
    }
    size_t prefix_len = strlen(route->staging_prefix) + SL_TASK_ID_LEN + 1;
    for (size_t i = 0; i < p->key_count; i++) {
        const task_open_key *k = &p->keys[i];
        if (k->name == NULL || sl_failed(task_name_check(sl_cursor_from_cstr(k->name)))) {
            snprintf(detail, detail_len, "keys[%zu]: %s", i, k->name ? sl_error_detail() : "no name");
            return false;
        }
        if (prefix_len + strlen(k->name) > route->max_key_length) {
            snprintf(detail, detail_len, "keys[%zu]: the staging key would be longer than route %s's "
                     "checks.max_key_length (%u bytes)", i, route->name, route->max_key_length);
            return false;
        }
        if (k->has_size && k->size > max_bytes) {
            snprintf(detail, detail_len, "keys[%zu]: size %" PRIu64 " is over max_bytes (%" PRIu64 ")", i, k->size,
                     max_bytes);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->keys[j].name, k->name) == 0) {
                snprintf(detail, detail_len, "keys[%zu]: the same name as keys[%zu]", i, j);
                return false;
            }
        }
    }
    /* The manifest must stay under SL_TASK_MAX_JSON for the task's whole life: every key
     * (each byte escaped at worst), every fingerprint max_objects allows, and room for the
     * rest (times, names, the pattern, the history). */
    size_t budget = 64 * 1024 + (size_t)p->max_objects * (SL_TASK_FINGERPRINT_LEN + 4);
    for (size_t i = 0; i < p->key_count; i++) budget += 2 * strlen(p->keys[i].name) + 48;
    if (budget > SL_TASK_MAX_JSON) {
        snprintf(detail, detail_len, "the task's manifest could grow past %d bytes: use fewer or shorter keys, "
                 "a name pattern, or a smaller max_objects", SL_TASK_MAX_JSON);
        return false;
    }
    if (p->name_pattern != NULL && sl_failed(task_pattern_check(sl_cursor_from_cstr(p->name_pattern)))) {
        snprintf(detail, detail_len, "name_pattern: %s", sl_error_detail());
        return false;
    }
    if (p->no_post && p->key_count == 0) {
        snprintf(detail, detail_len, "no keys and no POST policy: the task could not receive anything");
        return false;
    }
    *route_out = route;
    *ttl_out = ttl;
    *max_bytes_out = max_bytes;
    return true;
}

sl_result task_registry_open(task_registry *r, const task_open_params *params, const char *actor, task_result_fn *done,
                             void *user)
{
    ENSURE(r != NULL && params != NULL && actor != NULL && actor[0] != '\0' && done != NULL, SL_ERR_INVALID_ARGUMENT,
           "task_registry_open: params, actor and callback are required");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_open: the registry is being destroyed");
    char detail[REASON_MAX];
    task_outcome outcome;
    const route_info *route = NULL;
    uint64_t ttl = 0, max_bytes = 0;
    if (!validate_open(r, params, &route, &ttl, &max_bytes, &outcome, detail, sizeof(detail))) {
        answer_result(r, done, user, outcome, detail, NULL);
        return SL_SUCCESS;
    }
    if (!r->have_grants) {
        answer_result(r, done, user, TASK_OUTCOME_UNAVAILABLE,
                      "no grant identity is configured (grants.credentials): tasks cannot be opened", NULL);
        return SL_SUCCESS;
    }
    if (r->broken || r->client_gone) {
        answer_result(r, done, user, TASK_OUTCOME_UNAVAILABLE,
                      r->broken ? "the audit log has failed: no task can be opened until it is fixed"
                                : "the S3 client is shutting down",
                      NULL);
        return SL_SUCCESS;
    }
    struct open_req *o = sl_calloc(1, sizeof(*o));
    o->base.abandon = open_abandon;
    o->base.release = open_release;
    o->r = r;
    o->done = done;
    o->user = user;
    o->actor = sl_strdup(actor);
    char id[SL_TASK_ID_LEN + 1];
    int64_t now = sl_time_now_ms();
    outcome = TASK_OUTCOME_INTERNAL;
    if (sl_failed(task_id_generate(id)) ||
        sl_failed(task_manifest_init(&o->m, id, route->name, actor, now, now + (int64_t)ttl, max_bytes))) {
        snprintf(detail, sizeof(detail), "the task could not be made: %s", sl_error_detail());
        goto failed;
    }
    o->m.limits.max_objects = params->max_objects;
    for (size_t i = 0; i < params->key_count; i++) {
        if (sl_failed(task_manifest_add_key(&o->m, params->keys[i].name, params->keys[i].has_size,
                                            params->keys[i].size))) {
            snprintf(detail, sizeof(detail), "keys[%zu]: %s", i, sl_error_detail());
            outcome = TASK_OUTCOME_BAD_REQUEST;
            goto failed;
        }
    }
    if (params->name_pattern != NULL && sl_failed(task_manifest_set_pattern(&o->m, params->name_pattern))) {
        snprintf(detail, sizeof(detail), "name_pattern: %s", sl_error_detail());
        outcome = TASK_OUTCOME_BAD_REQUEST;
        goto failed;
    }
    o->grant = task_view(r->cfg, &o->m, now);
    if (o->grant == NULL) {
        snprintf(detail, sizeof(detail), "the task could not be put into JSON");
        goto failed;
    }
    if (sl_failed(sign_grants(r, route, &o->m, !params->no_post, o->grant))) {
        snprintf(detail, sizeof(detail), "the grants could not be signed: %s", sl_error_detail());
        goto failed;
    }
    bool ok = true;
    char ttl_text[32];
    format_duration(ttl, ttl_text);
    o->audit_detail = json_object();
    jset_text(o->audit_detail, "route", route->name, &ok);
    jset(o->audit_detail, "prefix", json_incref(json_object_get(o->grant, "prefix")), &ok);
    jset(o->audit_detail, "expires_at", json_incref(json_object_get(o->grant, "expires_at")), &ok);
    jset_text(o->audit_detail, "ttl", ttl_text, &ok);
    jset(o->audit_detail, "limits", json_incref(json_object_get(o->grant, "limits")), &ok);
    jset(o->audit_detail, "post", json_boolean(!params->no_post), &ok);
    if (!ok || sl_failed(task_manifest_to_json(&o->m, &o->body)) ||
        sl_failed(task_manifest_key(&o->key, r->cfg->control_prefix, id))) {
        snprintf(detail, sizeof(detail), "the task manifest could not be made: %s", sl_error_detail());
        goto failed;
    }
    s3_put_params put = { .content_type = sl_cursor_from_cstr("application/json"), .if_none_match_any = true };
    if (sl_failed(s3_put_object(r->client, sl_cursor_from_cstr(r->cfg->control), sl_cursor_from_buf(&o->key),
                                sl_cursor_from_buf(&o->body), &put, open_put_done, o))) {
        snprintf(detail, sizeof(detail), "the task manifest could not be written: %s", sl_error_detail());
        outcome = TASK_OUTCOME_UNAVAILABLE;
        goto failed;
    }
    o->base.io++;
    r->io++;
    r->stats.writes++;
    pending_add(r, &o->base);
    return SL_SUCCESS;
failed:
    answer_result(r, done, user, outcome, detail, NULL);
    open_release(&o->base);
    return SL_SUCCESS;
}

/* ---- 6. list, the start-up pass, the expiry timer ---- */

bool task_list_filter_from_name(const char *name, task_list_filter *out)
{
    static const char *const names[] = { [TASK_LIST_LIVE] = "live",
                                         [TASK_LIST_OPEN] = "open",
                                         [TASK_LIST_CLOSED] = "closed",
                                         [TASK_LIST_EXPIRED] = "expired",
                                         [TASK_LIST_ALL] = "all" };
    for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (task_list_filter)i;
            return true;
        }
    }
    return false;
}

struct list_item {
    char *id;
    sl_buf etag;
    task_manifest m;
    bool have;
    sl_buf body;
    struct list_job *job;
};

struct list_job {
    pending base;
    task_registry *r;
    task_result_fn *done; /* NULL for the start-up pass */
    void *user;
    task_list_filter filter;
    int64_t since_ms;
    sl_buf token;
    struct list_item *items;
    size_t count, capacity, next;
    unsigned running;
    bool listing_failed;
    char failure[REASON_MAX];
};

static void list_release(pending *p)
{
    struct list_job *j = (struct list_job *)p;
    for (size_t i = 0; i < j->count; i++) {
        sl_free(j->items[i].id);
        sl_buf_clean_up(&j->items[i].etag);
        sl_buf_clean_up(&j->items[i].body);
        task_manifest_clean_up(&j->items[i].m);
    }
    sl_free(j->items);
    sl_buf_clean_up(&j->token);
    sl_free(j);
}

static void list_abandon(pending *p)
{
    struct list_job *j = (struct list_job *)p;
    if (p->answered) return;
    p->answered = true;
    if (j->done) j->done(j->user, TASK_OUTCOME_UNAVAILABLE, "the registry is shutting down", NULL);
}


static int by_opened_desc(const void *a, const void *b)
{
    const struct list_item *x = a, *y = b;
    if (x->m.opened_at_ms != y->m.opened_at_ms) return x->m.opened_at_ms > y->m.opened_at_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

static bool filter_passes(task_list_filter f, task_state s)
{
    switch (f) {
    case TASK_LIST_LIVE: return s == TASK_OPEN || s == TASK_CLOSED;
    case TASK_LIST_OPEN: return s == TASK_OPEN;
    case TASK_LIST_CLOSED: return s == TASK_CLOSED;
    case TASK_LIST_EXPIRED: return s == TASK_EXPIRED;
    case TASK_LIST_ALL: return true;
    }
    return false;
}

/* Everything read: cache what is new, expire what is overdue, answer. */
static void list_finish(struct list_job *j)
{
    task_registry *r = j->r;
    int64_t now = sl_time_now_ms();
    pending_remove(r, &j->base);
    j->base.answered = true;
    size_t have = 0;
    for (size_t i = 0; i < j->count; i++) {
        struct list_item *it = &j->items[i];
        if (!it->have) {
            sl_free(it->id);
            sl_buf_clean_up(&it->etag);
            sl_buf_clean_up(&it->body);
            task_manifest_clean_up(&it->m);
            continue;
        }
        j->items[have++] = *it;
    }
    j->count = have;
    for (size_t i = 0; i < j->count; i++) {
        struct list_item *it = &j->items[i];
        bool live = !task_state_is_terminal(it->m.state);
        entry *e = entry_find(r, it->id);
        if (e == NULL && live && r->entry_count < r->cache_max) e = entry_get(r, it->id);
        if (e != NULL && !e->busy && e->head == NULL &&
            !(e->status == ENTRY_LOADED && sl_cursor_eq(sl_cursor_from_buf(&e->etag), sl_cursor_from_buf(&it->etag)))) {
            task_manifest_clean_up(&e->m);
            task_manifest_copy(&it->m, &e->m);
            e->status = ENTRY_LOADED;
            e->stale = false;
            e->loaded_ms = now;
            sl_buf_reset(&e->etag);
            if (sl_failed(sl_buf_append_cursor(&e->etag, sl_cursor_from_buf(&it->etag)))) e->stale = true;
        }
        if (e != NULL && live) {
            if (e->status == ENTRY_LOADED) watch_expiry(r, e, now);
            else if (now >= it->m.expires_at_ms) queue_expire(r, e);
        }
    }
    if (j->done != NULL) {
        if (j->count > 1) qsort(j->items, j->count, sizeof(*j->items), by_opened_desc);
        if (j->listing_failed) {
            answer_result(r, j->done, j->user, TASK_OUTCOME_UNAVAILABLE, j->failure, NULL);
        } else {
            bool ok = true;
            json_t *tasks = json_array(), *result = json_object();
            jset(result, "tasks", tasks, &ok);
            for (size_t i = 0; ok && i < j->count; i++) {
                if (!filter_passes(j->filter, effective_state(&j->items[i].m, now))) continue;
                json_t *view = task_view(r->cfg, &j->items[i].m, now);
                if (view == NULL || json_array_append_new(tasks, view) != 0) ok = false;
            }
            if (ok) {
                answer_result(r, j->done, j->user, TASK_OUTCOME_OK, NULL, result);
            } else {
                json_decref(result);
                answer_result(r, j->done, j->user, TASK_OUTCOME_INTERNAL, "the list could not be put into JSON", NULL);
            }
        }
    } else if (j->listing_failed) {
        sl_log(SL_LOG_WARN, "task_scan_failed", "detail", j->failure, NULL);
    } else {
        char count[32];
        snprintf(count, sizeof(count), "%zu", j->count);
        sl_log(SL_LOG_INFO, "task_scan_done", "tasks", count, NULL);
    }
    list_release(&j->base);
}

static void list_read_next(struct list_job *j);

static s3_http_body_action item_chunk(void *user, const uint8_t *data, size_t len)
{
    struct list_item *it = user;
    if (it->body.len + len > SL_TASK_MAX_JSON) return S3_HTTP_BODY_ABORT;
    return sl_ok(sl_buf_append(&it->body, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

static void item_read(void *user, const s3_result *res, const s3_object_info *info)
{
    struct list_item *it = user;
    struct list_job *j = it->job;
    task_registry *r = j->r;
    j->base.io--;
    j->running--;
    if (!io_back(r)) {
        if (j->base.io == 0) {
            list_release(&j->base);
            maybe_free(r);
        }
        return;
    }
    if (res->error == SL_ERR_CANCELLED) r->client_gone = true;
    if (res->error == SL_OK) {
        if (sl_ok(task_manifest_from_json(sl_cursor_from_buf(&it->body), &it->m)) && strcmp(it->m.id, it->id) == 0) {
            it->have = true;
            sl_buf_reset(&it->etag);
            if (sl_failed(sl_buf_append_cursor(&it->etag, info->etag))) it->have = false;
        } else {
            sl_log(SL_LOG_ERROR, "task_manifest_invalid", "task", it->id, "detail", sl_error_detail(), NULL);
            task_manifest_clean_up(&it->m);
        }
    } else if (!(res->error == SL_ERR_S3 && res->code == S3_ERROR_NO_SUCH_KEY)) {
        sl_log(SL_LOG_WARN, "task_read_failed", "task", it->id, "detail", res->detail, NULL);
    }
    sl_buf_clean_up(&it->body);
    list_read_next(j);
}

/* Reads the listed manifests that the cache does not already hold, LIST_PARALLEL at a time. */
static void list_read_next(struct list_job *j)
{
    task_registry *r = j->r;
    while (j->next < j->count && j->running < LIST_PARALLEL && !r->client_gone) {
        struct list_item *it = &j->items[j->next++];
        entry *e = entry_find(r, it->id);
        if (e != NULL && e->status == ENTRY_LOADED && !e->has_next &&
            sl_cursor_eq(sl_cursor_from_buf(&e->etag), sl_cursor_from_buf(&it->etag))) {
            task_manifest_copy(&e->m, &it->m);
            it->have = true;
            continue;
        }
        sl_buf key = { 0 };
        it->job = j;
        bool started = sl_ok(task_manifest_key(&key, r->cfg->control_prefix, it->id)) &&
                       sl_ok(s3_get_object_stream(r->client, sl_cursor_from_cstr(r->cfg->control),
                                                  sl_cursor_from_buf(&key), NULL, NULL, item_chunk, item_read, it,
                                                  NULL));
        sl_buf_clean_up(&key);
        if (started) {
            j->running++;
            j->base.io++;
            r->io++;
            r->stats.reads++;
        } else {
            sl_log(SL_LOG_WARN, "task_read_failed", "task", it->id, "detail", sl_error_detail(), NULL);
        }
    }
    if (j->running == 0 && (j->next >= j->count || r->client_gone)) list_finish(j);
}

static void list_page(struct list_job *j);

static void listed(void *user, const s3_result *res, const s3_list_result *list)
{
    struct list_job *j = user;
    task_registry *r = j->r;
    j->base.io--;
    if (!io_back(r)) {
        list_release(&j->base);
        maybe_free(r);
        return;
    }
    if (res->error != SL_OK) {
        if (res->error == SL_ERR_CANCELLED) r->client_gone = true;
        j->listing_failed = true;
        snprintf(j->failure, sizeof(j->failure), "the task manifests could not be listed: %s", res->detail);
        list_finish(j);
        return;
    }
    size_t prefix_len = strlen(r->cfg->control_prefix) + strlen("tasks/");
    for (size_t i = 0; i < list->object_count; i++) {
        const s3_list_object *obj = &list->objects[i];
        sl_cursor key = sl_cursor_from_buf(&obj->key);
        int64_t modified = 0;
        if (!sl_time_parse_s3(sl_cursor_from_buf(&obj->last_modified), &modified) || modified < j->since_ms) continue;
        if (key.len <= prefix_len + 5 || memcmp(key.ptr + key.len - 5, ".json", 5) != 0) continue;
        sl_cursor id = sl_cursor_from_bytes(key.ptr + prefix_len, key.len - prefix_len - 5);
        if (sl_failed(artifact_task_id_check(id))) continue;
        if (j->count == j->capacity) {
            j->capacity = j->capacity ? j->capacity * 2 : 64;
            j->items = sl_realloc(j->items, j->capacity * sizeof(*j->items));
        }
        struct list_item *it = &j->items[j->count++];
        *it = (struct list_item){ .id = sl_cursor_dup(id) };
        if (sl_failed(sl_buf_append_cursor(&it->etag, sl_cursor_from_buf(&obj->etag)))) j->count--;
    }
    sl_buf_reset(&j->token);
    if (list->is_truncated &&
        sl_ok(sl_buf_append_cursor(&j->token, sl_cursor_from_buf(&list->next_continuation_token)))) {
        list_page(j);
        return;
    }
    list_read_next(j);
}

static void list_page(struct list_job *j)
{
    task_registry *r = j->r;
    sl_buf prefix = { 0 };
    bool started = !r->client_gone && sl_ok(sl_buf_appendf(&prefix, "%stasks/", r->cfg->control_prefix));
    if (started) {
        s3_list_params params = { .prefix = sl_cursor_from_buf(&prefix),
                                  .continuation_token = sl_cursor_from_buf(&j->token) };
        started = sl_ok(s3_list_objects_v2(r->client, sl_cursor_from_cstr(r->cfg->control), &params, listed, j));
    }
    sl_buf_clean_up(&prefix);
    if (started) {
        j->base.io++;
        r->io++;
        return;
    }
    j->listing_failed = true;
    snprintf(j->failure, sizeof(j->failure), "the task manifests could not be listed: %s",
             r->client_gone ? "the S3 client is shutting down" : sl_error_detail());
    list_finish(j);
}

static void list_start(task_registry *r, task_list_filter filter, task_result_fn *done, void *user)
{
    struct list_job *j = sl_calloc(1, sizeof(*j));
    j->base.abandon = list_abandon;
    j->base.release = list_release;
    j->r = r;
    j->done = done;
    j->user = user;
    j->filter = filter;
    j->since_ms = sl_time_now_ms() - LIST_WINDOW_MS;
    pending_add(r, &j->base);
    list_page(j);
}

sl_result task_registry_list(task_registry *r, task_list_filter filter, task_result_fn *done, void *user)
{
    ENSURE(r != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "task_registry_list: a callback is required");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_list: the registry is being destroyed");
    ENSURE((unsigned)filter <= TASK_LIST_ALL, SL_ERR_INVALID_ARGUMENT, "task_registry_list: bad filter");
    list_start(r, filter, done, user);
    return SL_SUCCESS;
}

static void on_expiry(uv_timer_t *t)
{
    task_registry *r = t->data;
    r->next_expiry_ms = INT64_MAX;
    int64_t now = sl_time_now_ms();
    for (entry *e = r->lru_head; e != NULL; e = e->lru_next) {
        if (e->status != ENTRY_LOADED || task_state_is_terminal(e->m.state)) continue;
        if (now >= e->m.expires_at_ms) queue_expire(r, e);
        else arm_expiry(r, e->m.expires_at_ms);
    }
}

static void arm_expiry(task_registry *r, int64_t at_ms)
{
    if (r->destroyed || !r->started || at_ms >= r->next_expiry_ms) return;
    r->next_expiry_ms = at_ms;
    int64_t delay = at_ms - sl_time_now_ms();
    uv_timer_start(&r->expiry, on_expiry, delay > 0 ? (uint64_t)delay : 0, 0);
}

task_registry_stats task_registry_get_stats(const task_registry *r)
{
    task_registry_stats s = r->stats;
    s.cached = r->entry_count;
    return s;
}

/* ---- 7. new, start, reload, destroy ---- */

static sl_result check_grant_identity(const task_registry_options *options)
{
    if (options->grant_credentials == NULL || options->mover_access_key_id == NULL) return SL_SUCCESS;
    ENSURE(strcmp(options->grant_credentials->access_key_id, options->mover_access_key_id) != 0,
           SL_ERR_INVALID_ARGUMENT,
           "grants.credentials is the mover's own key: grants must be signed by an identity that may only PUT "
           "into staging");
    return SL_SUCCESS;
}

sl_result task_registry_new(uv_loop_t *loop, const sl_config *config, const task_registry_options *options,
                            task_registry **out)
{
    ENSURE(loop != NULL && options != NULL && options->client != NULL && options->audit != NULL,
           SL_ERR_INVALID_ARGUMENT, "the task registry needs a loop, an S3 client and an audit log");
    GUARD(check_grant_identity(options));
    reg_config *cfg = NULL;
    GUARD(reg_config_new(config, options->grant_endpoint, &cfg));
    task_registry *r = sl_calloc(1, sizeof(*r));
    if (options->grant_credentials != NULL &&
        sl_failed(s3_credentials_init(&r->grant_credentials, options->grant_credentials->access_key_id,
                                      options->grant_credentials->secret_access_key,
                                      options->grant_credentials->session_token))) {
        reg_config_free(cfg);
        sl_free(r);
        return SL_FAILURE;
    }
    r->have_grants = options->grant_credentials != NULL;
    r->loop = loop;
    r->cfg = cfg;
    r->client = options->client;
    r->audit = options->audit;
    r->mover_key_id = options->mover_access_key_id ? sl_strdup(options->mover_access_key_id) : NULL;
    r->grant_endpoint = options->grant_endpoint ? sl_strdup(options->grant_endpoint) : NULL;
    r->keys = sigv4_key_cache_new();
    r->cache_max = options->cache_max ? options->cache_max : DEFAULT_CACHE_MAX;
    if (r->cache_max < MIN_CACHE_MAX) r->cache_max = MIN_CACHE_MAX;
    r->refresh_ms = options->refresh_ms ? options->refresh_ms : DEFAULT_REFRESH_MS;
    r->bucket_count = 64;
    r->buckets = sl_calloc(r->bucket_count, sizeof(*r->buckets));
    r->next_expiry_ms = INT64_MAX;
    uv_timer_init(loop, &r->kick);
    uv_timer_init(loop, &r->expiry);
    r->kick.data = r->expiry.data = r;
    r->open_handles = 2;
    *out = r;
    return SL_SUCCESS;
}

sl_result task_registry_start(task_registry *r)
{
    ENSURE(r != NULL && !r->started && !r->destroyed, SL_ERR_STATE, "the task registry was started already");
    r->started = true;
    for (entry *e = r->lru_head; e != NULL; e = e->lru_next)
        if (e->status == ENTRY_LOADED && !task_state_is_terminal(e->m.state)) arm_expiry(r, e->m.expires_at_ms);
    list_start(r, TASK_LIST_ALL, NULL, NULL);
    return SL_SUCCESS;
}

sl_result task_registry_reload(task_registry *r, const sl_config *config)
{
    reg_config *cfg = NULL;
    GUARD(reg_config_new(config, r->grant_endpoint, &cfg));
    bool moved = strcmp(cfg->control, r->cfg->control) != 0 || strcmp(cfg->control_prefix, r->cfg->control_prefix) != 0;
    reg_config_free(r->cfg);
    r->cfg = cfg;
    if (moved) set_stale_all(r);
    return SL_SUCCESS;
}

static void handle_closed(uv_handle_t *h)
{
    task_registry *r = h->data;
    r->open_handles--;
    maybe_free(r);
}

static void maybe_free(task_registry *r)
{
    if (!r->destroyed || r->io > 0 || r->open_handles > 0 || r->freed) return;
    r->freed = true;
    reg_config_free(r->cfg);
    s3_credentials_clean_up(&r->grant_credentials);
    sigv4_key_cache_destroy(r->keys);
    sl_free(r->mover_key_id);
    sl_free(r->grant_endpoint);
    sl_free(r->buckets);
    sl_free(r);
}

void task_registry_destroy(task_registry *r)
{
    if (r == NULL || r->destroyed) return;
    /* answer what is decided, then everything that waits, with "unavailable"; callbacks
     * that call back in get SL_ERR_STATE */
    r->destroyed = true;
    deliver_all(r);
    uv_timer_stop(&r->kick);
    uv_timer_stop(&r->expiry);
    uv_close((uv_handle_t *)&r->kick, handle_closed);
    uv_close((uv_handle_t *)&r->expiry, handle_closed);
    for (size_t b = 0; b < r->bucket_count; b++) {
        entry *e = r->buckets[b];
        while (e) {
            entry *next = e->hash_next;
            while (e->head) {
                op *o = dequeue(e);
                if (o->kind == OP_ADMIT) o->verdict_fn(o->user, TASK_UNAVAILABLE, "the task registry is shutting down");
                else if (o->kind == OP_CLOSE)
                    o->result_fn(o->user, TASK_OUTCOME_UNAVAILABLE, "the task registry is shutting down", NULL);
                op_free(o);
            }
            for (op *o = e->batch; o != NULL;) {
                op *after = o->next;
                if (o->kind == OP_ADMIT) o->verdict_fn(o->user, TASK_UNAVAILABLE, "the task registry is shutting down");
                else if (o->kind == OP_CLOSE)
                    o->result_fn(o->user, TASK_OUTCOME_UNAVAILABLE, "the task registry is shutting down", NULL);
                op_free(o);
                o = after;
            }
            e->batch = NULL;
            /* an entry with a request in flight is freed by its callback */
            if (!e->busy) entry_free(e);
            e = next;
        }
        r->buckets[b] = NULL;
    }
    r->lru_head = r->lru_tail = NULL;
    r->dirty_head = NULL;
    r->entry_count = 0;
    while (r->pendings) {
        pending *p = r->pendings;
        pending_remove(r, p);
        p->abandon(p);
        p->answered = true;
        if (p->io == 0) p->release(p);
    }
    deliver_all(r);
    maybe_free(r);
}
