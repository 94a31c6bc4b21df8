/*
 * lease.c — leases on S3 objects (see lease.h for the contract and the timing argument).
 *
 * How the parts fit: one timer runs a SCAN every ttl/4: a ListObjectsV2 of the prefix
 * (paged), which updates what is known of every lease (its ETag, since when that ETag has
 * been seen, and — read once per ETag with a GET — its holder) and of every member (the
 * movers alive: a member object whose ETag changed within ttl). Then, in one pass: the
 * member object is written, held leases past their validity are dropped, held leases are
 * renewed (If-Match), and the set balances — taking leases that are absent, released or
 * expired while it holds fewer than its share, releasing one while it holds more. Each
 * lease has at most one request in flight. A write without a clear answer (a timeout, a
 * 412 that may be our own retried write) is resolved by a GET of the object: our instance
 * id and our write counter in it mean it happened.
 *
 * The objects: {"holder":"<instance>","mover":"<name>","count":N,"ttl_ms":T} — holder ""
 * once released; member objects {"instance":"<instance>","mover":"<name>","count":N}.
 */
#include "lease/lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "log/log.h"
#include "util/alloc.h"
#include "util/buf.h"

#define LEASE_NAME_MAX 200
#define LEASE_OBJECT_MAX 4096
#define ATTEMPTS_KEPT 4
#define MEMBER_PURGE_TTLS 20 /* a member object unchanged this many ttls is deleted by anyone */

typedef enum write_kind { WRITE_TAKE, WRITE_RENEW, WRITE_RELEASE } write_kind;

/* A write this process sent: its counter and when it was sent (monotonic ms). */
typedef struct attempt {
    uint64_t count;
    uint64_t sent_ms;
} attempt;

typedef struct lease {
    char *name;
    char *key;
    /* what the last listing showed */
    bool listed;
    char *etag;            /* quoted, as the client gives it; NULL when absent */
    uint64_t seen_since;   /* first listing (monotonic ms) that showed this etag */
    bool holder_known;
    char holder[LEASE_INSTANCE_LEN + 1]; /* "" released; valid when holder_known */
    /* this process */
    bool held;             /* we hold it (valid until valid_until) */
    uint64_t valid_until;  /* monotonic ms */
    bool releasing;        /* being given up: not held for the work any more */
    bool writing;          /* a request for this lease is in flight */
    bool reading;
    uint64_t count;        /* our write counter */
    attempt attempts[ATTEMPTS_KEPT];
    size_t attempt_next;
    char *our_etag;        /* the ETag of the object as this process last wrote it */
} lease;

typedef struct member {
    char instance[LEASE_INSTANCE_LEN + 1];
    char *etag;
    uint64_t seen_since;
    bool listed;
} member;

struct lease_set {
    uv_loop_t *loop;
    s3_client *client;
    char *bucket, *prefix, *name, *member_key;
    uint64_t ttl_ms, period_ms, margin_ms;
    lease_changed_fn *changed;
    lease_busy_fn *busy;
    void *user;
    char instance[LEASE_INSTANCE_LEN + 1];

    lease *leases;
    size_t count;
    member *members;
    size_t member_count;
    uint64_t member_writes;

    uv_timer_t timer;
    bool scanning;
    sl_buf token;          /* continuation of the scan's listing */
    bool started, stopping, destroyed;
    unsigned inflight;     /* requests */
    unsigned open_handles;
    lease_stopped_fn *stopped;
    void *stopped_user;
    uv_timer_t stop_timer;
    lease_stats stats;
};

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static bool valid_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > LEASE_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '/';
        if (!ok) return false;
    }
    return true;
}

/* ---- requests in flight ---- */

typedef struct req {
    lease_set *set;
    size_t index;      /* the lease, or SIZE_MAX for the member object */
    write_kind kind;
    uint64_t count;
    sl_buf body;
} req;

static req *req_new(lease_set *s, size_t index)
{
    req *r = sl_calloc(1, sizeof(*r));
    r->set = s;
    r->index = index;
    s->inflight++;
    return r;
}

static void maybe_free(lease_set *s);

/* Ends a request; true when the set is going away (the caller must not touch it). */
static bool req_end(req *r)
{
    lease_set *s = r->set;
    sl_buf_clean_up(&r->body);
    sl_free(r);
    s->inflight--;
    if (s->destroyed) {
        maybe_free(s);
        return true;
    }
    return false;
}

/* ---- what a lease object says ---- */

typedef struct lease_doc {
    char holder[LEASE_INSTANCE_LEN + 1];
    uint64_t count;
} lease_doc;

static bool parse_doc(sl_cursor body, const char *field, lease_doc *out)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return false;
    }
    const char *holder = json_string_value(json_object_get(doc, field));
    json_t *count = json_object_get(doc, "count");
    bool ok = holder != NULL && json_is_integer(count) && json_integer_value(count) >= 0;
    size_t len = ok ? strlen(holder) : 0;
    ok = ok && (len == 0 || len == LEASE_INSTANCE_LEN);
    for (size_t i = 0; ok && i < len; i++) ok = (holder[i] >= '0' && holder[i] <= '9') || (holder[i] >= 'a' && holder[i] <= 'f');
    if (ok) {
        memcpy(out->holder, holder, len + 1);
        out->count = (uint64_t)json_integer_value(count);
    }
    json_decref(doc);
    return ok;
}

/* ---- validity ---- */

static bool lease_valid(const lease_set *s, const lease *l, uint64_t now)
{
    return l->held && !l->releasing && !s->stopping && now < l->valid_until;
}

uint64_t lease_set_valid_until(const lease_set *set, size_t index)
{
    if (!lease_set_holds(set, index)) return 0;
    return set->leases[index].valid_until;
}

bool lease_set_holds(const lease_set *set, size_t index)
{
    if (set == NULL || index >= set->count) return false;
    return lease_valid(set, &set->leases[index], now_ms());
}

/* The lease is no longer ours (lapsed, taken, released): tell the owner once. */
static void drop(lease_set *s, size_t index, const char *why)
{
    lease *l = &s->leases[index];
    if (!l->held) return;
    bool was_valid = !l->releasing;
    l->held = false;
    l->releasing = false;
    if (was_valid && !s->stopping) {
        s->stats.lost++;
        sl_log(SL_LOG_WARN, "lease_lost", "lease", l->name, "detail", why, NULL);
    }
    if (s->changed && was_valid) s->changed(s->user, index, false);
}

/* A write of ours landed: sent at `sent_ms`, the object now has `etag`. */
static void won(lease_set *s, size_t index, uint64_t sent_ms, sl_cursor etag, write_kind kind)
{
    lease *l = &s->leases[index];
    sl_free(l->our_etag);
    l->our_etag = sl_cursor_dup(etag);
    sl_free(l->etag);
    l->etag = sl_cursor_dup(etag);
    l->listed = true;
    l->seen_since = now_ms();
    l->holder_known = true;
    if (kind == WRITE_RELEASE) {
        l->holder[0] = '\0';
        l->held = false;
        l->releasing = false;
        s->stats.released++;
        sl_log(SL_LOG_INFO, "lease_released", "lease", l->name, NULL);
        return;
    }
    memcpy(l->holder, s->instance, sizeof(l->holder));
    uint64_t until = sent_ms + s->ttl_ms - s->margin_ms;
    if (l->releasing) {
        /* a renewal that landed after balance chose to give the lease up: still ours (the
         * release goes out with If-Match on this ETag), never announced as taken again */
        if (l->held && until > l->valid_until) l->valid_until = until;
        return;
    }
    bool was = lease_valid(s, l, now_ms());
    if (l->held && until < l->valid_until) until = l->valid_until; /* an older write answered late */
    l->valid_until = until;
    l->held = true;
    if (kind == WRITE_TAKE || !was) {
        if (now_ms() >= until) return; /* answered too late to be of use: the next scan renews */
        s->stats.taken += kind == WRITE_TAKE;
        sl_log(SL_LOG_INFO, "lease_taken", "lease", l->name, NULL);
        if (s->changed) s->changed(s->user, index, true);
    } else {
        s->stats.renewed++;
    }
}

static uint64_t attempt_sent(const lease *l, uint64_t count)
{
    for (size_t i = 0; i < ATTEMPTS_KEPT; i++)
        if (l->attempts[i].count == count && l->attempts[i].sent_ms != 0) return l->attempts[i].sent_ms;
    return 0;
}

/* ---- reading a lease (its holder; or whether an unclear write of ours happened) ---- */

typedef struct read_req {
    req base;
    sl_buf got;
    bool too_big;
    bool resolve;       /* resolving a write of ours (kind, count in base) */
    s3_get_object *get;
} read_req;

static s3_http_body_action read_chunk(void *user, const uint8_t *data, size_t len)
{
    read_req *rr = user;
    if (rr->got.len + len > LEASE_OBJECT_MAX) {
        rr->too_big = true;
        return S3_HTTP_BODY_ABORT;
    }
    return sl_ok(sl_buf_append(&rr->got, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

static void scan_act(lease_set *s);

static void lease_read(void *user, const s3_result *r, const s3_object_info *info)
{
    read_req *rr = user;
    lease_set *s = rr->base.set;
    size_t index = rr->base.index;
    bool resolve = rr->resolve;
    write_kind kind = rr->base.kind;
    sl_buf got = rr->got;
    rr->got = (sl_buf){ 0 };
    char *etag = r->error == SL_OK ? sl_cursor_dup(info->etag) : NULL;
    bool absent = r->error == SL_ERR_S3 && r->status == 404;
    bool too_big = rr->too_big;
    if (req_end(&rr->base)) {
        sl_buf_clean_up(&got);
        sl_free(etag);
        return;
    }
    lease *l = &s->leases[index];
    l->reading = false;
    if (resolve) l->writing = false;
    lease_doc doc = { 0 };
    bool parsed = etag != NULL && !too_big && parse_doc(sl_cursor_from_buf(&got), "holder", &doc);
    if (etag != NULL && !parsed)
        sl_log(SL_LOG_WARN, "lease_unreadable", "lease", l->name, "detail",
               too_big ? "larger than 4 KiB" : "not a lease object", NULL);
    if (parsed) {
        /* an ETag the listing did not show was written after it: it is seen from now on
         * (counting it from the listing would expire it early) */
        if (l->etag == NULL ||
            !sl_cursor_eq(s3_etag_unquoted(sl_cursor_from_cstr(etag)), s3_etag_unquoted(sl_cursor_from_cstr(l->etag))))
            l->seen_since = now_ms();
        sl_free(l->etag);
        l->etag = sl_strdup(etag);
        l->listed = true;
        l->holder_known = true;
        memcpy(l->holder, doc.holder, sizeof(l->holder));
        if (l->seen_since == 0) l->seen_since = now_ms();
        uint64_t sent = strcmp(doc.holder, s->instance) == 0 ? attempt_sent(l, doc.count) : 0;
        if (resolve && sent != 0) {
            won(s, index, sent, sl_cursor_from_cstr(etag), kind);
        } else if (l->held && strcmp(doc.holder, s->instance) != 0) {
            drop(s, index, "another mover holds it now");
        }
    } else if (absent) {
        sl_free(l->etag);
        l->etag = NULL;
        l->listed = false;
        l->holder_known = false;
        if (l->held) drop(s, index, "its object is gone");
    }
    if (resolve && kind == WRITE_RELEASE && l->held) {
        l->held = false; /* not known to be released: it expires on its own */
        l->releasing = false;
    }
    sl_buf_clean_up(&got);
    sl_free(etag);
}

static void start_read(lease_set *s, size_t index, bool resolve, write_kind kind, uint64_t count)
{
    lease *l = &s->leases[index];
    read_req *rr = sl_calloc(1, sizeof(*rr));
    rr->base.set = s;
    rr->base.index = index;
    rr->base.kind = kind;
    rr->base.count = count;
    rr->resolve = resolve;
    s->inflight++;
    s3_get_params params = { 0 };
    if (sl_failed(s3_get_object_stream(s->client, sl_cursor_from_cstr(s->bucket), sl_cursor_from_cstr(l->key), &params,
                                       NULL, read_chunk, lease_read, rr, &rr->get))) {
        sl_log(SL_LOG_WARN, "lease_read_failed", "lease", l->name, "detail", sl_error_detail(), NULL);
        sl_error_clear();
        s->inflight--;
        sl_buf_clean_up(&rr->got);
        sl_free(rr);
        if (resolve) l->writing = false;
        return;
    }
    l->reading = true;
}

/* ---- writes ---- */

static void lease_written(void *user, const s3_result *r, const s3_object_info *info)
{
    req *q = user;
    lease_set *s = q->set;
    size_t index = q->index;
    write_kind kind = q->kind;
    uint64_t count = q->count;
    char *etag = r->error == SL_OK ? sl_cursor_dup(info->etag) : NULL;
    bool conflict = r->error == SL_ERR_S3 && (r->status == 412 || r->code == S3_ERROR_PRECONDITION_FAILED);
    bool unclear = r->indefinite || conflict;
    char *detail = r->error == SL_OK ? NULL : sl_strdup(r->detail);
    if (req_end(q)) {
        sl_free(etag);
        sl_free(detail);
        return;
    }
    lease *l = &s->leases[index];
    if (etag != NULL) {
        l->writing = false;
        won(s, index, attempt_sent(l, count), sl_cursor_from_cstr(etag), kind);
    } else if (unclear && r->error != SL_ERR_CANCELLED) {
        /* did it happen? (a 412 may be our own retried write meeting its first try) */
        start_read(s, index, true, kind, count);
        if (!l->reading) l->writing = false;
    } else {
        l->writing = false;
        if (r->error != SL_ERR_CANCELLED)
            sl_log(SL_LOG_WARN, "lease_write_failed", "lease", l->name, "detail", detail, NULL);
        if (kind == WRITE_RELEASE) {
            l->held = false; /* not released: it expires on its own */
            l->releasing = false;
        }
    }
    sl_free(etag);
    sl_free(detail);
    /* a release may be waiting for this (never while the client cancels everything) */
    if (s->stopping && r->error != SL_ERR_CANCELLED) scan_act(s);
}

static void write_lease(lease_set *s, size_t index, write_kind kind)
{
    lease *l = &s->leases[index];
    req *q = req_new(s, index);
    q->kind = kind;
    q->count = ++l->count;
    json_t *doc = json_pack("{s:s, s:s, s:I, s:I}", "holder", kind == WRITE_RELEASE ? "" : s->instance, "mover",
                            s->name, "count", (json_int_t)q->count, "ttl_ms", (json_int_t)s->ttl_ms);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    sl_result ok = text ? sl_buf_append_cstr(&q->body, text) : SL_FAILURE;
    free(text);
    s3_put_params params = { .content_type = sl_cursor_from_cstr("application/json") };
    /* If-None-Match: * for a lease nobody wrote; If-Match the ETag seen (ours when renewing) */
    const char *expect = kind == WRITE_TAKE ? l->etag : l->our_etag;
    if (expect == NULL) params.if_none_match_any = true;
    else params.if_match = sl_cursor_from_cstr(expect);
    l->attempts[l->attempt_next] = (attempt){ .count = q->count, .sent_ms = now_ms() };
    l->attempt_next = (l->attempt_next + 1) % ATTEMPTS_KEPT;
    if (sl_ok(ok))
        ok = s3_put_object(s->client, sl_cursor_from_cstr(s->bucket), sl_cursor_from_cstr(l->key),
                           sl_cursor_from_buf(&q->body), &params, lease_written, q);
    if (sl_failed(ok)) {
        sl_log(SL_LOG_WARN, "lease_write_failed", "lease", l->name, "detail", sl_error_detail(), NULL);
        sl_error_clear();
        (void)req_end(q);
        return;
    }
    l->writing = true;
}

/* ---- the member object ---- */

static void member_written(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    req *q = user;
    if (r->error != SL_OK && r->error != SL_ERR_CANCELLED)
        sl_log(SL_LOG_WARN, "lease_member_write_failed", "detail", r->detail, NULL);
    (void)req_end(q);
}

static void write_member(lease_set *s)
{
    req *q = req_new(s, SIZE_MAX);
    json_t *doc = json_pack("{s:s, s:s, s:I}", "instance", s->instance, "mover", s->name, "count",
                            (json_int_t)++s->member_writes);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    sl_result ok = text ? sl_buf_append_cstr(&q->body, text) : SL_FAILURE;
    free(text);
    s3_put_params params = { .content_type = sl_cursor_from_cstr("application/json") };
    if (sl_ok(ok))
        ok = s3_put_object(s->client, sl_cursor_from_cstr(s->bucket), sl_cursor_from_cstr(s->member_key),
                           sl_cursor_from_buf(&q->body), &params, member_written, q);
    if (sl_failed(ok)) {
        sl_error_clear();
        (void)req_end(q);
    }
}

static void deleted(void *user, const s3_result *r)
{
    (void)r;
    (void)req_end(user);
}

static void delete_key(lease_set *s, const char *key)
{
    req *q = req_new(s, SIZE_MAX);
    if (sl_failed(s3_delete_object(s->client, sl_cursor_from_cstr(s->bucket), sl_cursor_from_cstr(key),
                                   (sl_cursor){ 0 }, deleted, q))) {
        sl_error_clear();
        (void)req_end(q);
    }
}

/* ---- balancing ---- */

static unsigned members_alive(const lease_set *s, uint64_t now)
{
    unsigned alive = 1; /* this process */
    for (size_t i = 0; i < s->member_count; i++) {
        const member *m = &s->members[i];
        if (!m->listed || strcmp(m->instance, s->instance) == 0) continue;
        if (now - m->seen_since < s->ttl_ms) alive++;
    }
    return alive;
}

static bool member_alive(const lease_set *s, const char *instance, uint64_t now)
{
    for (size_t i = 0; i < s->member_count; i++)
        if (s->members[i].listed && strcmp(s->members[i].instance, instance) == 0)
            return now - s->members[i].seen_since < s->ttl_ms;
    return false;
}

/* A lease another mover may take now: nobody wrote it, it was released, or its ETag has
 * not changed for ttl. */
static bool takeable(const lease_set *s, const lease *l, uint64_t now)
{
    if (l->held || l->writing || l->reading) return false;
    if (!l->listed) return true;
    if (!l->holder_known) return false;
    if (l->holder[0] == '\0') return true;
    if (strcmp(l->holder, s->instance) == 0)
        return l->our_etag != NULL && l->etag != NULL && strcmp(l->our_etag, l->etag) == 0; /* lapsed, untouched */
    return now - l->seen_since >= s->ttl_ms;
}

/* How many leases each live holder has; the most any other holder has. */
static unsigned fewest_of_others(const lease_set *s, unsigned alive, uint64_t now)
{
    /* movers alive holding nothing count as holding 0 */
    unsigned holders = 0, fewest = UINT32_MAX;
    for (size_t i = 0; i < s->member_count; i++) {
        const member *m = &s->members[i];
        if (!m->listed || strcmp(m->instance, s->instance) == 0 || now - m->seen_since >= s->ttl_ms) continue;
        unsigned n = 0;
        for (size_t k = 0; k < s->count; k++)
            if (s->leases[k].holder_known && strcmp(s->leases[k].holder, m->instance) == 0) n++;
        holders++;
        if (n < fewest) fewest = n;
    }
    (void)alive;
    return holders ? fewest : UINT32_MAX;
}

static void balance(lease_set *s, uint64_t now)
{
    unsigned alive = members_alive(s, now);
    size_t floor_share = s->count / alive, ceil_share = (s->count + alive - 1) / alive;
    size_t held = 0;
    /* valid ones and takes in flight; not those being released (their write is in flight
     * too, and counting them would give up one lease too many) */
    for (size_t i = 0; i < s->count; i++)
        held += lease_valid(s, &s->leases[i], now) || (s->leases[i].writing && !s->leases[i].held);
    if (held < ceil_share) {
        /* absent and released leases first, then expired ones; at most the share */
        for (int pass = 0; pass < 2 && held < ceil_share; pass++) {
            for (size_t i = 0; i < s->count && held < ceil_share; i++) {
                lease *l = &s->leases[i];
                if (!takeable(s, l, now)) continue;
                bool free_now = !l->listed || l->holder[0] == '\0' || strcmp(l->holder, s->instance) == 0;
                bool holder_dead = l->listed && !member_alive(s, l->holder, now);
                if (pass == 0 && !free_now) continue;
                /* take from a live mover only down to the floor share (it is alive: balance slowly) */
                if (pass == 1 && !holder_dead && held >= floor_share) continue;
                write_lease(s, i, WRITE_TAKE);
                held++;
            }
        }
    }
    unsigned fewest = fewest_of_others(s, alive, now);
    bool starving = fewest != UINT32_MAX && fewest < floor_share;
    if (held > ceil_share || (held > floor_share && starving)) {
        /* give one up (the last held); the next scan gives up another if needed */
        for (size_t i = s->count; i-- > 0;) {
            lease *l = &s->leases[i];
            if (!lease_valid(s, l, now) || l->writing) continue;
            l->releasing = true;
            sl_log(SL_LOG_INFO, "lease_releasing", "lease", l->name, "detail", "more than this mover's share", NULL);
            if (s->changed) s->changed(s->user, i, false);
            break;
        }
    }
}

/* One pass after a listing: drop what lapsed, renew, release, take. */
static void scan_act(lease_set *s)
{
    uint64_t now = now_ms();
    for (size_t i = 0; i < s->count; i++) {
        lease *l = &s->leases[i];
        if (l->held && !l->releasing && now >= l->valid_until) drop(s, i, "not renewed in time (paused, or S3 unreachable)");
        if (l->releasing && !l->writing && (s->busy == NULL || !s->busy(s->user, i)))
            write_lease(s, i, WRITE_RELEASE);
    }
    if (s->stopping) return;
    /* balance before renewing: a lease being renewed has a write in flight, and one with a
     * write in flight is never chosen to be given up */
    balance(s, now);
    for (size_t i = 0; i < s->count; i++) {
        lease *l = &s->leases[i];
        if (l->held && !l->releasing && !l->writing && !l->reading) write_lease(s, i, WRITE_RENEW);
    }
}

/* ---- the scan ---- */

static lease *lease_by_key(lease_set *s, sl_cursor key)
{
    /* leases are few per mover (routes x shards): a linear pass per listed key is fine
     * up to a few thousand; the names are sorted as listed */
    for (size_t i = 0; i < s->count; i++)
        if (sl_cursor_eq_cstr(key, s->leases[i].key)) return &s->leases[i];
    return NULL;
}

static member *member_for(lease_set *s, sl_cursor instance)
{
    for (size_t i = 0; i < s->member_count; i++)
        if (sl_cursor_eq_cstr(instance, s->members[i].instance)) return &s->members[i];
    s->members = sl_realloc(s->members, (s->member_count + 1) * sizeof(member)); /* members are few */
    member *m = &s->members[s->member_count++];
    memset(m, 0, sizeof(*m));
    memcpy(m->instance, instance.ptr, instance.len);
    return m;
}

static void note_listed(lease_set *s, const s3_list_object *o, uint64_t now)
{
    sl_cursor key = sl_cursor_from_buf(&o->key);
    sl_cursor etag = sl_cursor_from_buf(&o->etag);
    size_t plen = strlen(s->prefix);
    sl_cursor rest = key;
    if (!sl_cursor_advance(&rest, plen)) return;
    if (sl_cursor_starts_with(rest, sl_cursor_from_cstr("movers/"))) {
        sl_cursor inst = rest;
        (void)sl_cursor_advance(&inst, 7);
        if (inst.len != LEASE_INSTANCE_LEN) return;
        member *m = member_for(s, inst);
        m->listed = true;
        if (m->etag == NULL || !sl_cursor_eq_cstr(etag, m->etag)) {
            sl_free(m->etag);
            m->etag = sl_cursor_dup(etag);
            m->seen_since = now;
        }
        return;
    }
    lease *l = lease_by_key(s, key);
    if (l == NULL) return; /* another configuration's lease (other routes or shard counts) */
    l->listed = true;
    if (l->etag == NULL || !sl_cursor_eq(s3_etag_unquoted(etag), s3_etag_unquoted(sl_cursor_from_cstr(l->etag)))) {
        sl_free(l->etag);
        l->etag = sl_cursor_dup(etag);
        l->seen_since = now;
        l->holder_known = false;
        if (l->our_etag && sl_cursor_eq(s3_etag_unquoted(etag), s3_etag_unquoted(sl_cursor_from_cstr(l->our_etag)))) {
            l->holder_known = true;
            memcpy(l->holder, s->instance, sizeof(l->holder));
        }
    }
}

static void scan_next(lease_set *s);

static void listed(void *user, const s3_result *r, const s3_list_result *list)
{
    req *q = user;
    lease_set *s = q->set;
    if (req_end(q)) return;
    if (r->error != SL_OK) {
        s->scanning = false;
        if (r->error != SL_ERR_CANCELLED && !s->stopping) {
            sl_log(SL_LOG_WARN, "lease_scan_failed", "detail", r->detail, NULL);
            scan_act(s); /* still drop what lapsed */
        }
        return;
    }
    uint64_t now = now_ms();
    for (size_t i = 0; i < list->object_count; i++) note_listed(s, &list->objects[i], now);
    sl_buf_reset(&s->token);
    if (list->is_truncated &&
        sl_ok(sl_buf_append_cursor(&s->token, sl_cursor_from_buf(&list->next_continuation_token))) && s->token.len) {
        scan_next(s);
        return;
    }
    s->scanning = false;
    s->stats.scans++;
    if (s->stopping) return;
    /* what the listing did not show is not there */
    for (size_t i = 0; i < s->count; i++) {
        lease *l = &s->leases[i];
        if (!l->listed && !l->writing && !l->reading) {
            sl_free(l->etag);
            l->etag = NULL;
            l->holder_known = false;
        }
        if (l->listed && !l->holder_known && !l->reading && !l->writing) start_read(s, i, false, WRITE_TAKE, 0);
    }
    for (size_t i = 0; i < s->member_count; i++) {
        member *m = &s->members[i];
        if (m->listed && now - m->seen_since >= MEMBER_PURGE_TTLS * s->ttl_ms &&
            strcmp(m->instance, s->instance) != 0) {
            sl_buf key = { 0 };
            if (sl_ok(sl_buf_appendf(&key, "%smovers/%s", s->prefix, m->instance))) delete_key(s, sl_buf_cstr(&key));
            sl_buf_clean_up(&key);
            m->seen_since = now; /* once */
        }
    }
    write_member(s);
    scan_act(s);
}

static void scan_next(lease_set *s)
{
    req *q = req_new(s, SIZE_MAX);
    s3_list_params params = { .prefix = sl_cursor_from_cstr(s->prefix),
                              .continuation_token = sl_cursor_from_buf(&s->token) };
    if (sl_failed(s3_list_objects_v2(s->client, sl_cursor_from_cstr(s->bucket), &params, listed, q))) {
        sl_log(SL_LOG_WARN, "lease_scan_failed", "detail", sl_error_detail(), NULL);
        sl_error_clear();
        s->scanning = false;
        (void)req_end(q);
        return;
    }
}

static void scan(uv_timer_t *t)
{
    lease_set *s = t->data;
    if (s->stopping || s->destroyed) return;
    if (s->scanning) {
        scan_act(s); /* a listing is slow: still drop what lapsed and renew */
        return;
    }
    s->scanning = true;
    for (size_t i = 0; i < s->count; i++)
        if (!s->leases[i].writing && !s->leases[i].reading) s->leases[i].listed = false;
    for (size_t i = 0; i < s->member_count; i++) s->members[i].listed = false;
    sl_buf_reset(&s->token);
    scan_next(s);
}

uint32_t lease_shard_of(sl_cursor key, uint32_t shards)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < key.len; i++) {
        h ^= key.ptr[i];
        h *= 1099511628211ull;
    }
    return shards ? (uint32_t)(h % shards) : 0;
}

/* ---- life ---- */

sl_result lease_set_new(uv_loop_t *loop, const lease_options *o, const char *const *names, size_t count, lease_set **out)
{
    ENSURE(o->client != NULL && o->bucket != NULL && o->prefix != NULL && o->name != NULL, SL_ERR_INVALID_ARGUMENT,
           "a lease set needs a client, a bucket, a prefix and a name");
    size_t plen = strlen(o->prefix);
    ENSURE(plen > 0 && o->prefix[plen - 1] == '/', SL_ERR_INVALID_ARGUMENT, "the lease prefix must end with \"/\"");
    ENSURE(o->ttl_ms >= LEASE_MIN_TTL_MS, SL_ERR_INVALID_ARGUMENT, "a lease lives at least %d ms", LEASE_MIN_TTL_MS);
    ENSURE(count >= 1 && count <= 65536, SL_ERR_INVALID_ARGUMENT, "1 to 65536 leases, got %zu", count);
    for (size_t i = 0; i < count; i++) {
        ENSURE(valid_name(names[i]), SL_ERR_INVALID_ARGUMENT, "lease name %zu is not 1..200 of [A-Za-z0-9._/-]", i);
        for (size_t k = 0; k < i; k++)
            ENSURE(strcmp(names[i], names[k]) != 0, SL_ERR_INVALID_ARGUMENT, "lease name \"%s\" is given twice", names[i]);
    }
    uint8_t random[LEASE_INSTANCE_LEN / 2];
    ENSURE(RAND_bytes(random, sizeof(random)) == 1, SL_ERR_CRYPTO, "no random bytes for the instance id");
    lease_set *s = sl_calloc(1, sizeof(*s));
    s->loop = loop;
    s->client = o->client;
    s->bucket = sl_strdup(o->bucket);
    s->prefix = sl_strdup(o->prefix);
    s->name = sl_strdup(o->name);
    s->ttl_ms = o->ttl_ms;
    s->period_ms = o->ttl_ms / 4;
    s->margin_ms = o->ttl_ms / 4;
    s->changed = o->changed;
    s->busy = o->busy;
    s->user = o->user;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(random); i++) {
        s->instance[2 * i] = hex[random[i] >> 4];
        s->instance[2 * i + 1] = hex[random[i] & 15];
    }
    s->member_key = sl_strdup_printf("%smovers/%s", s->prefix, s->instance);
    s->leases = sl_calloc(count, sizeof(lease));
    s->count = count;
    for (size_t i = 0; i < count; i++) {
        s->leases[i].name = sl_strdup(names[i]);
        s->leases[i].key = sl_strdup_printf("%sleases/%s", s->prefix, names[i]);
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_init(loop, &s->stop_timer);
    s->stop_timer.data = s;
    s->open_handles = 2;
    *out = s;
    return SL_SUCCESS;
}

void lease_set_start(lease_set *s)
{
    if (s->started) return;
    s->started = true;
    sl_log(SL_LOG_INFO, "leases_starting", "instance", s->instance, "mover", s->name, NULL);
    uv_timer_start(&s->timer, scan, 0, s->period_ms);
}

const char *lease_set_instance(const lease_set *s) { return s->instance; }

lease_stats lease_set_get_stats(const lease_set *s)
{
    lease_stats st = s->stats;
    uint64_t now = now_ms();
    st.held = 0;
    for (size_t i = 0; i < s->count; i++) st.held += lease_valid(s, &s->leases[i], now);
    st.members = members_alive(s, now);
    return st;
}

static void stop_done(lease_set *s)
{
    uv_timer_stop(&s->stop_timer);
    lease_stopped_fn *cb = s->stopped;
    s->stopped = NULL;
    if (cb) cb(s->stopped_user);
}

static void stop_grace_over(uv_timer_t *t)
{
    lease_set *s = t->data;
    sl_log(SL_LOG_WARN, "leases_stop_grace_over", "detail", "leases not released in time expire on their own", NULL);
    stop_done(s);
}

static void stop_poll(uv_timer_t *t);

void lease_set_stop(lease_set *s, uint64_t grace_ms, lease_stopped_fn *done, void *user)
{
    if (s->stopping) return;
    s->stopping = true;
    s->stopped = done;
    s->stopped_user = user;
    uv_timer_stop(&s->timer);
    for (size_t i = 0; i < s->count; i++) {
        lease *l = &s->leases[i];
        if (!l->held) continue;
        l->releasing = true; /* the owner stopped its work already */
        if (!l->writing) write_lease(s, i, WRITE_RELEASE);
    }
    if (s->started) delete_key(s, s->member_key);
    /* poll for the releases to land, within the grace */
    uv_timer_start(&s->timer, stop_poll, 10, 10);
    uv_timer_start(&s->stop_timer, stop_grace_over, grace_ms, 0);
}

static void stop_poll(uv_timer_t *t)
{
    lease_set *s = t->data;
    bool pending = false;
    for (size_t i = 0; i < s->count; i++) {
        lease *l = &s->leases[i];
        if (l->held && !l->writing && !l->reading) write_lease(s, i, WRITE_RELEASE);
        pending = pending || l->held || l->writing || l->reading;
    }
    if (!pending) {
        uv_timer_stop(&s->timer);
        stop_done(s);
    }
}

static void handle_closed(uv_handle_t *h)
{
    lease_set *s = h->data;
    s->open_handles--;
    maybe_free(s);
}

static void maybe_free(lease_set *s)
{
    if (!s->destroyed || s->inflight > 0 || s->open_handles > 0) return;
    for (size_t i = 0; i < s->count; i++) {
        sl_free(s->leases[i].name);
        sl_free(s->leases[i].key);
        sl_free(s->leases[i].etag);
        sl_free(s->leases[i].our_etag);
    }
    for (size_t i = 0; i < s->member_count; i++) sl_free(s->members[i].etag);
    sl_free(s->leases);
    sl_free(s->members);
    sl_buf_clean_up(&s->token);
    sl_free(s->bucket);
    sl_free(s->prefix);
    sl_free(s->name);
    sl_free(s->member_key);
    sl_free(s);
}

void lease_set_destroy(lease_set *s)
{
    if (s == NULL) return;
    s->destroyed = true;
    s->stopping = true;
    s->stopped = NULL;
    uv_close((uv_handle_t *)&s->timer, handle_closed);
    uv_close((uv_handle_t *)&s->stop_timer, handle_closed);
}
