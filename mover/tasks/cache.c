/*
 * cache.c — the tasks in memory (tasks_impl.h).
 *
 * Entries are found by id in a chained hash and kept in an LRU list (at most cache_max
 * idle ones). Each entry holds its task as last read or written, its ETag, and a FIFO of
 * operations (admit, close, expire). process() reads the manifest when needed (GET),
 * decides the queued operations on the fresh copy, and writes the changes (PUT If-Match)
 * — one S3 request per entry at a time; admits that queue up meanwhile are decided and
 * written together (group commit). The expiry timer queues `expire` at each cached
 * task's TTL.
 */
#include "tasks/tasks_impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "util/alloc.h"
#include "util/timefmt.h"

#define EXPIRE_RETRY_MS 5000
#define MAX_CONFLICTS 3

/* ---- entries ---- */

static uint64_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

entry *entry_find(task_registry *r, const char *id)
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

entry *entry_get(task_registry *r, const char *id)
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

void cache_op_free(op *o)
{
    if (o == NULL) return;
    sl_free(o->route);
    sl_free(o->name);
    sl_free(o->actor);
    sl_free(o);
}

/* Frees an entry that is off every list and has nothing in flight or waiting. */
void entry_free(entry *e)
{
    task_manifest_clean_up(&e->m);
    task_manifest_clean_up(&e->next);
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

void evict(task_registry *r)
{
    entry *e = r->lru_tail;
    while (r->entry_count > r->cache_max && e != NULL) {
        entry *prev = e->lru_prev;
        if (entry_idle(e)) entry_remove(r, e);
        e = prev;
    }
}

void set_stale_all(task_registry *r)
{
    for (entry *e = r->lru_head; e != NULL; e = e->lru_next) e->stale = true;
}

/* ---- queues ---- */

static void mark_dirty(task_registry *r, entry *e)
{
    if (e->dirty) return;
    e->dirty = true;
    e->dirty_next = r->dirty_head;
    r->dirty_head = e;
    kick(r);
}

void enqueue(task_registry *r, entry *e, op *o)
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

/* Answers an operation that cannot go on with "unavailable". */
static void op_fail(task_registry *r, op *o, const char *why)
{
    switch (o->kind) {
    case OP_ADMIT: answer_verdict(r, o, TASK_UNAVAILABLE, why); break;
    case OP_CLOSE: answer_info(r, o->info_fn, o->user, TASK_OUTCOME_UNAVAILABLE, why, NULL); break;
    case OP_EXPIRE: break;
    }
    cache_op_free(o);
}

static void fail_queue(task_registry *r, entry *e, const char *why)
{
    while (e->head) op_fail(r, dequeue(e), why);
}

void queue_expire(task_registry *r, entry *e)
{
    if (e->expire_queued || r->broken || r->client_gone) return;
    op *o = sl_calloc(1, sizeof(*o));
    o->kind = OP_EXPIRE;
    e->expire_queued = true;
    enqueue(r, e, o);
}

void watch_expiry(task_registry *r, entry *e, int64_t now)
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

/* ---- reading a manifest ---- */

struct entry_io {
    task_registry *r;
    entry *e;
};

/* An entry whose request came back after destroy: free it (it is off every list). */
static void orphan_back(struct entry_io *io)
{
    task_registry *r = io->r;
    while (io->e->head) cache_op_free(dequeue(io->e));
    for (op *o = io->e->batch; o != NULL;) {
        op *next = o->next;
        cache_op_free(o);
        o = next;
    }
    entry_free(io->e);
    sl_free(io);
    maybe_free(r);
}

static void loaded(void *user, const s3_result *res, sl_cursor body, const char *etag)
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
        if (sl_failed(task_manifest_from_json(body, &m))) {
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
            snprintf(e->etag, sizeof(e->etag), "%s", etag);
        }
        e->stale = false;
        e->loaded_ms = now;
        watch_expiry(r, e, now);
    }
    mark_dirty(r, e);
}

static void start_load(task_registry *r, entry *e)
{
    sl_buf key = { 0 };
    struct entry_io *io = sl_calloc(1, sizeof(*io));
    io->r = r;
    io->e = e;
    manifest_store store = task_store(r);
    if (sl_ok(task_manifest_key(&key, r->cfg->control_prefix, e->id)) &&
        sl_ok(manifest_store_read(&store, sl_cursor_from_buf(&key), SL_TASK_MAX_JSON, loaded, io))) {
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

/* ---- writing a manifest ---- */

/* A close or an expiry was written: its audit record, then the answer. */
static void audit_change(task_registry *r, entry *e, op *o, task_state from)
{
    char at[25];
    const char *event = NULL;
    (void)task_transition_allowed(from, e->m.state, &event);
    completion *c = sl_calloc(1, sizeof(*c));
    c->kind = C_INFO;
    json_t *detail;
    if (o->kind == OP_CLOSE) {
        r->stats.closed++;
        format_time(e->m.closed_at_ms, at);
        detail = json_pack("{s:s, s:s}", "route", e->m.route, "closed_at", at);
        c->info_fn = o->info_fn;
        c->user = o->user;
        c->tasks = sl_calloc(1, sizeof(*c->tasks));
        c->task_count = 1;
        task_copy_make(r->cfg, &e->m, &c->tasks[0]);
    } else {
        r->stats.expired++;
        e->expire_queued = false;
        format_time(e->m.expires_at_ms, at);
        detail = json_pack("{s:s, s:s}", "route", e->m.route, "expires_at", at);
        sl_log(SL_LOG_INFO, "task_expired", "task", e->id, "route", e->m.route, NULL);
    }
    const char *events[] = { event ? event : "task_change", NULL };
    json_t *details[] = { detail };
    audit_then_deliver(r, e->id, events, task_state_name(from), task_state_name(e->m.state),
                       o->kind == OP_CLOSE ? o->actor : "mover", details, c, TASK_OUTCOME_OK,
                       o->kind == OP_CLOSE ? "closed" : "expired");
}

static void written(void *user, const s3_result *res, const char *etag)
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
        snprintf(e->etag, sizeof(e->etag), "%s", etag);
        if (e->etag[0] == '\0') e->stale = true;
        e->loaded_ms = now;
        while (batch) {
            op *o = batch;
            batch = o->next;
            o->next = NULL;
            if (o->kind == OP_ADMIT) answer_verdict(r, o, TASK_ACCEPT, NULL);
            else audit_change(r, e, o, from);
            cache_op_free(o);
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
            cache_op_free(o);
        } else if (o->kind == OP_ADMIT && !o->counted) {
            answer_verdict(r, o, TASK_ACCEPT, NULL); /* an accept that needed no write */
            cache_op_free(o);
        } else {
            op_fail(r, o, why);
        }
    }
    if (res->error == SL_ERR_CANCELLED) fail_queue(r, e, why);
    else mark_dirty(r, e);
}

/* Writes e->next with If-Match; the decided ops wait in e->batch. */
static void start_write(task_registry *r, entry *e, op *batch)
{
    sl_buf json = { 0 }, key = { 0 };
    struct entry_io *io = sl_calloc(1, sizeof(*io));
    io->r = r;
    io->e = e;
    e->batch = batch;
    manifest_store store = task_store(r);
    e->busy = true;
    r->io++;
    if (sl_ok(task_manifest_to_json(&e->next, &json)) && sl_ok(task_manifest_key(&key, r->cfg->control_prefix, e->id)) &&
        sl_ok(manifest_store_write(&store, sl_cursor_from_buf(&key), sl_cursor_from_buf(&json), e->etag, written,
                                   io))) {
        r->stats.writes++;
    } else {
        /* cannot even send it: answer as a failed write */
        s3_result res = { .error = SL_ERR_IO, .detail = sl_error_detail(), .attempts = 0 };
        written(io, &res, "");
    }
    sl_buf_clean_up(&json);
    sl_buf_clean_up(&key);
}

/* ---- deciding ---- */

static void reject(task_registry *r, op *o, const char *fmt, ...) SL_PRINTF(3, 4);
static void reject(task_registry *r, op *o, const char *fmt, ...)
{
    char reason[REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    answer_verdict(r, o, TASK_REJECT, reason);
    cache_op_free(o);
}

static void accept_now(task_registry *r, op *o)
{
    answer_verdict(r, o, TASK_ACCEPT, NULL);
    cache_op_free(o);
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
        accept_now(r, o);
        return false;
    }
    char fp[SL_TASK_FINGERPRINT_LEN + 1];
    if (sl_failed(task_fingerprint(name, o->modified_ms, o->size, fp))) {
        op_fail(r, o, "the object's fingerprint could not be computed");
        return false;
    }
    if (task_manifest_has_accepted(m, fp)) { /* listed again: counted already */
        accept_now(r, o);
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
    start_write(r, e, waiting);
}

static void decide_close(task_registry *r, entry *e, int64_t now)
{
    op *o = dequeue(e);
    char detail[REASON_MAX];
    task_outcome outcome = TASK_OUTCOME_INTERNAL;
    task_state state = e->status == ENTRY_LOADED ? effective_state(&e->m, now) : TASK_OPEN;
    if (e->status == ENTRY_UNKNOWN) {
        outcome = TASK_OUTCOME_NOT_FOUND;
        snprintf(detail, sizeof(detail), "no task %s", e->id);
    } else if (e->status == ENTRY_INVALID) {
        snprintf(detail, sizeof(detail), "the manifest of task %s is invalid: %s", e->id, e->invalid_reason);
    } else if (state != TASK_OPEN) {
        char when[25];
        outcome = TASK_OUTCOME_NOT_OPEN;
        if (state == TASK_CLOSED) {
            format_time(e->m.closed_at_ms, when);
            snprintf(detail, sizeof(detail), "task %s was closed already, at %s by %s", e->id, when, e->m.closed_by);
        } else {
            format_time(e->m.expires_at_ms, when);
            snprintf(detail, sizeof(detail), "task %s has expired, at %s", e->id, when);
        }
    } else if (r->broken) {
        op_fail(r, o, "the audit log has failed: no task can be changed until it is fixed");
        return;
    } else {
        task_manifest_copy(&e->m, &e->next);
        e->has_next = true;
        if (sl_ok(task_manifest_transition(&e->next, TASK_CLOSED, now, o->actor, "closed by an orchestrator"))) {
            start_write(r, e, o);
            return;
        }
        snprintf(detail, sizeof(detail), "the task could not be closed: %s", sl_error_detail());
        task_manifest_clean_up(&e->next);
        e->has_next = false;
    }
    answer_info(r, o->info_fn, o->user, outcome, detail, NULL);
    cache_op_free(o);
}

static void decide_expire(task_registry *r, entry *e, int64_t now)
{
    op *o = dequeue(e);
    if (e->status != ENTRY_LOADED || task_state_is_terminal(e->m.state) || now < e->m.expires_at_ms || r->broken ||
        r->client_gone) {
        e->expire_queued = false;
        cache_op_free(o);
        return;
    }
    task_manifest_copy(&e->m, &e->next);
    e->has_next = true;
    if (sl_failed(task_manifest_transition(&e->next, TASK_EXPIRED, now, "mover", "the TTL passed"))) {
        sl_log(SL_LOG_ERROR, "task_expire_failed", "task", e->id, "detail", sl_error_detail(), NULL);
        task_manifest_clean_up(&e->next);
        e->has_next = false;
        e->expire_queued = false;
        cache_op_free(o);
        return;
    }
    start_write(r, e, o);
}

void process(task_registry *r, entry *e)
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

void on_kick(uv_timer_t *t)
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

/* ---- the expiry timer ---- */

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

void arm_expiry(task_registry *r, int64_t at_ms)
{
    if (r->destroyed || !r->started || at_ms >= r->next_expiry_ms) return;
    r->next_expiry_ms = at_ms;
    int64_t delay = at_ms - sl_time_now_ms();
    uv_timer_start(&r->expiry, on_expiry, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* ---- destroy ---- */

static void abandon_op(op *o)
{
    if (o->kind == OP_ADMIT) o->verdict_fn(o->user, TASK_UNAVAILABLE, "the task registry is shutting down");
    else if (o->kind == OP_CLOSE)
        o->info_fn(o->user, TASK_OUTCOME_UNAVAILABLE, "the task registry is shutting down", NULL);
    cache_op_free(o);
}

void cache_abandon_all(task_registry *r)
{
    for (size_t b = 0; b < r->bucket_count; b++) {
        entry *e = r->buckets[b];
        while (e) {
            entry *next = e->hash_next;
            while (e->head) abandon_op(dequeue(e));
            for (op *o = e->batch; o != NULL;) {
                op *after = o->next;
                abandon_op(o);
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
}
