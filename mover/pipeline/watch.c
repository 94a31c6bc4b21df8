/*
 * watch.c — where work comes from: one poller per route lists its staging prefix
 * (ListObjectVersions on versioned staging: every version is an upload of its own;
 * ListObjectsV2 otherwise), and the quarantine sweep lists each route's quarantine
 * prefix. Every listed object becomes a queue entry unless its id is queued or in
 * flight already.
 *
 * Whether an entry is NEW (admit it) or SEEN (look first: it may have been handled
 * before) is decided from what this process knows, never assumed: everything a route
 * lists before its first complete listing of this run is SEEN (a previous run may have
 * left it half done), and so is an id this run ended but that staging still shows (a
 * clean-up that failed). The stale-listing guard: each listing request takes the next
 * generation number, each artifact notes the generation in which it ended, and a
 * listing sent before an artifact ended never brings that artifact back.
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/timefmt.h"

struct poller {
    pipeline *p;
    config_ref *cfg;
    uv_timer_t timer;
    bool listing;
    bool retired;          /* replaced by a reload; freed when its timer closes */
    bool cycle_complete;   /* a whole listing of the bucket finished in this run */
    uint64_t generation;   /* of the listing request in flight */
    uint64_t cycle_started;      /* generation of the first request of the cycle in progress */
    uint64_t last_cycle_started; /* ... of the last cycle that finished */
    sl_buf prefix;         /* what every route's staging prefix starts with */
    sl_buf token;          /* ListObjectsV2: continuation across pages of one poll */
    sl_buf key_marker;     /* ListObjectVersions: continuation across pages */
    sl_buf version_marker;
    bool resume_pending;   /* the queue filled up: continue from the markers next time */
    bool cycle_saw;        /* this cycle listed an upload of a held shard */
    uint64_t wait_ms;      /* before the next cycle: poll_interval, doubled while idle */
    uint64_t unrouted;     /* keys under no route in this cycle, and in the last one */
    uint64_t unrouted_last;
};

/* ---- the stale-listing guard ---- */

/* ended: id -> (generation << 1) | leftover */
void watch_note_ended(pipeline *p, const char *id, bool leftover)
{
    (void)strset_put(&p->ended, sl_cursor_from_cstr(id), (p->generation << 1) | (leftover ? 1u : 0u), true);
}

struct prune {
    strset *keep;
    uint64_t oldest;
};

static void keep_if_needed(void *user, sl_cursor id, uint64_t value)
{
    struct prune *pr = user;
    if ((value & 1u) || (value >> 1) >= pr->oldest) (void)strset_put(pr->keep, id, value, true);
}

/* Forgets the ends no listing in flight can still show (leftovers are kept until they
 * are seen again and cleaned up). A pass over the map, only once it has grown. */
static void prune_ended(pipeline *p)
{
    if (p->ended.count < 4096 || p->ended.count < 2 * p->ended_after_prune) return;
    uint64_t oldest = p->generation + 1;
    for (size_t i = 0; i < p->poller_count; i++)
        if (p->pollers[i]->listing && p->pollers[i]->generation < oldest) oldest = p->pollers[i]->generation;
    if (p->sweeping && p->sweep_generation < oldest) oldest = p->sweep_generation;
    strset keep = { 0 };
    struct prune pr = { &keep, oldest };
    strset_each(&p->ended, keep_if_needed, &pr);
    strset_clean_up(&p->ended);
    p->ended = keep;
    p->ended_after_prune = keep.count;
}

/* What a listing that was sent at `generation` should do with an id. */
typedef enum listed_as { LISTED_SKIP, LISTED_NEW, LISTED_SEEN } listed_as;

static listed_as classify_listed(pipeline *p, sl_cursor id, uint64_t generation, bool cycle_complete)
{
    if (strset_contains(&p->ids, id)) return LISTED_SKIP; /* queued or in flight */
    uint64_t ended = 0;
    if (strset_get(&p->ended, id, &ended)) {
        if ((ended >> 1) >= generation) return LISTED_SKIP; /* ended after this listing was sent */
        return LISTED_SEEN; /* ended, yet still there: a leftover */
    }
    return cycle_complete ? LISTED_NEW : LISTED_SEEN;
}

/* ---- the queue ---- */

void queued_free(queued *q)
{
    if (q == NULL) return;
    config_ref_drop(q->cfg);
    sl_free(q->key);
    sl_free(q->etag);
    sl_free(q->version_id);
    sl_free(q);
}

bool watch_enqueue(pipeline *p, queued *q)
{
    if (!strset_add(&p->ids, sl_cursor_from_cstr(q->id))) {
        queued_free(q);
        return false;
    }
    if (p->queue_tail) p->queue_tail->next = q;
    else p->queue_head = q;
    p->queue_tail = q;
    p->queue_count++;
    pipeline_schedule(p);
    return true;
}

static queued *entry_new(config_ref *cfg, size_t route, entry_kind kind, const char *id)
{
    queued *q = sl_calloc(1, sizeof(*q));
    q->cfg = config_ref_take(cfg);
    q->route = route;
    q->kind = kind;
    snprintf(q->id, sizeof(q->id), "%s", id);
    return q;
}

/* ---- offering an upload (listings and hints) ---- */

/* Whether an upload (a listing's entry or a looked-at hint) of `route` may be queued:
 * its shard is held, its id is not queued, in flight or ended after the request that
 * showed it was sent. `generation`: the generation of that request; `fresh`: whether
 * the shard has had a whole listing of this run that began after it was taken (then an
 * upload not seen before is NEW). */
watch_offered watch_offer(pipeline *p, config_ref *cfg, size_t route, const watch_upload *u, uint64_t generation)
{
    const sl_config *c = cfg->config;
    const sl_config_route *r = &c->routes[route];
    staging_key_parts parts;
    sl_cursor task = sl_ok(staging_key_split(u->key, sl_cursor_from_cstr(r->staging_prefix), &parts))
                         ? parts.task
                         : (sl_cursor){ 0 };
    sl_error_clear();
    int shard = shards_index(p, r->name, task);
    if (!shards_held(p, shard)) return OFFER_NOT_HELD;
    char id[SL_ARTIFACT_ID_LEN + 1];
    if (sl_failed(artifact_id_derive_version(u->key, u->etag, u->version, id))) {
        sl_log(SL_LOG_WARN, "listing_unusable", "route", r->name, "detail", sl_error_detail(), NULL);
        sl_error_clear();
        return OFFER_SKIPPED;
    }
    poller *pl = p->poller_count ? p->pollers[0] : NULL;
    bool fresh = pl != NULL && pl->cycle_complete && shards_clean(p, shard, pl->last_cycle_started);
    listed_as as = classify_listed(p, sl_cursor_from_cstr(id), generation, fresh);
    if (as == LISTED_SKIP) return OFFER_SKIPPED;
    if (p->queue_count >= PIPELINE_QUEUE_LIMIT) return OFFER_FULL;
    queued *q = entry_new(cfg, route, as == LISTED_NEW ? ENTRY_NEW : ENTRY_SEEN, id);
    q->key = sl_cursor_dup(u->key);
    q->etag = sl_cursor_dup(u->etag);
    q->version_id = u->version.len ? sl_cursor_dup(u->version) : NULL;
    q->size = u->size;
    if (!sl_time_parse_s3(u->modified, &q->modified_ms)) q->modified_ms = INT64_MAX;
    (void)watch_enqueue(p, q);
    return OFFER_QUEUED;
}

/* ---- the poller: one listing of the staging bucket per interval, split into routes ---- */

static void poll_now(uv_timer_t *t);
static void poller_closed(uv_handle_t *h);

static void schedule_poll(poller *pl)
{
    const sl_config *c = pl->cfg->config;
    uint64_t delay = pl->wait_ms + pipeline_jitter(c->worker.poll_jitter_ms);
    pl->p->stats.poll_wait_ms = pl->wait_ms;
    uv_timer_start(&pl->timer, poll_now, delay, 0);
}

/* Takes one listed upload; false when the queue is full (stop this page there). */
static bool take(poller *pl, sl_cursor key, sl_cursor etag, sl_cursor version, uint64_t size, sl_cursor modified)
{
    pipeline *p = pl->p;
    const sl_config *c = pl->cfg->config;
    const sl_config_route *r = sl_config_route_for_key(c, (const char *)key.ptr, key.len);
    if (r == NULL) {
        pl->unrouted++;
        p->stats.unrouted++;
        return true;
    }
    watch_upload u = { .key = key, .etag = etag, .version = version, .size = size, .modified = modified };
    watch_offered o = watch_offer(p, pl->cfg, (size_t)(r - c->routes), &u, pl->generation);
    if (o != OFFER_NOT_HELD) pl->cycle_saw = true;
    return o != OFFER_FULL;
}

static bool list_failed(poller *pl, const s3_result *r)
{
    pipeline *p = pl->p;
    pl->listing = false;
    if (pl->retired) {
        uv_close((uv_handle_t *)&pl->timer, poller_closed);
        return true;
    }
    if (p->stopping) return true;
    if (r->error != SL_OK) {
        sl_log(SL_LOG_WARN, "list_failed", "bucket", pl->cfg->config->buckets.staging, "detail", r->detail, NULL);
        schedule_poll(pl);
        return true;
    }
    return false;
}

static void end_of_listing(poller *pl, bool full)
{
    const sl_config *c = pl->cfg->config;
    if (!full) {
        if (!pl->cycle_complete) {
            char routes[16];
            snprintf(routes, sizeof(routes), "%zu", c->route_count);
            sl_log(SL_LOG_INFO, "first_listing_done", "bucket", c->buckets.staging, "routes", routes, NULL);
        }
        pl->cycle_complete = true;
        pl->last_cycle_started = pl->cycle_started;
        if (pl->unrouted != pl->unrouted_last && pl->unrouted > 0) {
            char count[24];
            snprintf(count, sizeof(count), "%llu", (unsigned long long)pl->unrouted);
            sl_log(SL_LOG_INFO, "listing_unrouted", "bucket", c->buckets.staging, "keys", count, "detail",
                   "keys under no route's staging prefix are ignored", NULL);
        }
        pl->unrouted_last = pl->unrouted;
        /* idle: wait twice as long next time, up to poll_idle_max; busy: poll_interval */
        uint64_t base = c->worker.poll_interval_ms, cap = c->worker.poll_idle_max_ms;
        pl->wait_ms = pl->cycle_saw || pl->wait_ms < base ? base : (pl->wait_ms > cap / 2 ? cap : pl->wait_ms * 2);
    } else {
        pl->wait_ms = c->worker.poll_interval_ms; /* the queue is full: come back soon */
    }
    pl->resume_pending = full;
    prune_ended(pl->p);
    schedule_poll(pl);
}

static void versions_listed(void *user, const s3_result *r, const s3_list_versions_result *list)
{
    poller *pl = user;
    if (list_failed(pl, r)) return;
    bool full = false;
    for (size_t i = 0; i < list->version_count && !full; i++) {
        const s3_object_version *v = &list->versions[i];
        if (v->delete_marker) continue; /* only the mover deletes, by version: a marker is someone else's */
        full = !take(pl, sl_cursor_from_buf(&v->key), sl_cursor_from_buf(&v->etag), sl_cursor_from_buf(&v->version_id),
                     v->size, sl_cursor_from_buf(&v->last_modified));
        if (!full) {
            sl_buf_reset(&pl->key_marker);
            sl_buf_reset(&pl->version_marker);
            if (sl_failed(sl_buf_append_cursor(&pl->key_marker, sl_cursor_from_buf(&v->key))) ||
                sl_failed(sl_buf_append_cursor(&pl->version_marker, sl_cursor_from_buf(&v->version_id)))) {
                sl_buf_reset(&pl->key_marker);
                sl_buf_reset(&pl->version_marker);
            }
        }
    }
    if (!full && list->is_truncated && list->version_count > 0) {
        const s3_object_version *last = &list->versions[list->version_count - 1];
        sl_buf_reset(&pl->key_marker);
        sl_buf_reset(&pl->version_marker);
        if (sl_ok(sl_buf_append_cursor(&pl->key_marker, sl_cursor_from_buf(&last->key))) &&
            sl_ok(sl_buf_append_cursor(&pl->version_marker, sl_cursor_from_buf(&last->version_id)))) {
            poll_now(&pl->timer); /* the next page at once */
            return;
        }
    }
    if (!full) {
        sl_buf_reset(&pl->key_marker);
        sl_buf_reset(&pl->version_marker);
    }
    end_of_listing(pl, full);
}

static void objects_listed(void *user, const s3_result *r, const s3_list_result *list)
{
    poller *pl = user;
    if (list_failed(pl, r)) return;
    bool full = false;
    for (size_t i = 0; i < list->object_count && !full; i++) {
        const s3_list_object *o = &list->objects[i];
        full = !take(pl, sl_cursor_from_buf(&o->key), sl_cursor_from_buf(&o->etag), (sl_cursor){ 0 }, o->size,
                     sl_cursor_from_buf(&o->last_modified));
        if (!full) {
            sl_buf_reset(&pl->key_marker);
            if (sl_failed(sl_buf_append_cursor(&pl->key_marker, sl_cursor_from_buf(&o->key)))) sl_buf_reset(&pl->key_marker);
        }
    }
    sl_buf_reset(&pl->token);
    if (!full && list->is_truncated &&
        sl_ok(sl_buf_append_cursor(&pl->token, sl_cursor_from_buf(&list->next_continuation_token)))) {
        poll_now(&pl->timer);
        return;
    }
    if (!full) sl_buf_reset(&pl->key_marker);
    end_of_listing(pl, full);
}

/* Whether the request about to be sent starts a cycle (not a next page or a resume). */
static bool starts_cycle(const poller *pl)
{
    return pl->token.len == 0 && pl->key_marker.len == 0 && !pl->resume_pending;
}

static void poll_now(uv_timer_t *t)
{
    poller *pl = t->data;
    pipeline *p = pl->p;
    if (pl->listing || p->stopping || p->broken) return;
    const sl_config *c = pl->cfg->config;
    sl_cursor prefix = sl_cursor_from_buf(&pl->prefix);
    sl_cursor bucket = sl_cursor_from_cstr(c->buckets.staging);
    pl->generation = ++p->generation;
    if (starts_cycle(pl)) {
        pl->cycle_started = pl->generation;
        pl->cycle_saw = false;
        pl->unrouted = 0;
    }
    sl_result started;
    if (p->caps.staging_versioned) {
        s3_list_versions_params params = { .prefix = prefix, .key_marker = sl_cursor_from_buf(&pl->key_marker),
                                           .version_id_marker = sl_cursor_from_buf(&pl->version_marker) };
        started = s3_list_object_versions(p->opt.client, bucket, &params, versions_listed, pl);
    } else {
        s3_list_params params = { .prefix = prefix, .continuation_token = sl_cursor_from_buf(&pl->token),
                                  .start_after = pl->token.len ? (sl_cursor){ 0 } : sl_cursor_from_buf(&pl->key_marker) };
        started = s3_list_objects_v2(p->opt.client, bucket, &params, objects_listed, pl);
    }
    if (sl_failed(started)) {
        sl_log(SL_LOG_WARN, "list_failed", "bucket", c->buckets.staging, "detail", sl_error_detail(), NULL);
        schedule_poll(pl);
        return;
    }
    p->stats.listings++;
    pl->listing = true;
}

static void poller_closed(uv_handle_t *h)
{
    poller *pl = h->data;
    pipeline *p = pl->p;
    sl_buf_clean_up(&pl->prefix);
    sl_buf_clean_up(&pl->token);
    sl_buf_clean_up(&pl->key_marker);
    sl_buf_clean_up(&pl->version_marker);
    config_ref_drop(pl->cfg);
    sl_free(pl);
    pipeline_handle_released(p);
}

void watch_retire(pipeline *p)
{
    for (size_t i = 0; i < p->poller_count; i++) {
        poller *pl = p->pollers[i];
        pl->retired = true;
        uv_timer_stop(&pl->timer);
        /* a poller waiting for its listing is closed by the list callback */
        if (!pl->listing) uv_close((uv_handle_t *)&pl->timer, poller_closed);
    }
    sl_free(p->pollers);
    p->pollers = NULL;
    p->poller_count = 0;
}

/* The longest prefix every route's staging prefix starts with: one listing covers them. */
static void common_prefix(const sl_config *c, sl_buf *out)
{
    size_t len = strlen(c->routes[0].staging_prefix);
    for (size_t i = 1; i < c->route_count; i++) {
        const char *a = c->routes[0].staging_prefix, *b = c->routes[i].staging_prefix;
        size_t k = 0;
        while (k < len && a[k] != '\0' && a[k] == b[k]) k++;
        len = k;
    }
    if (sl_failed(sl_buf_append(out, c->routes[0].staging_prefix, len))) sl_buf_reset(out); /* the whole bucket */
}

void watch_start(pipeline *p)
{
    const sl_config *c = config_of(p);
    poller *pl = sl_calloc(1, sizeof(*pl));
    pl->p = p;
    pl->cfg = config_ref_take(p->cfg);
    common_prefix(c, &pl->prefix);
    pl->wait_ms = c->worker.poll_interval_ms;
    uv_timer_init(p->loop, &pl->timer);
    pl->timer.data = pl;
    p->open_handles++;
    p->pollers = sl_calloc(1, sizeof(*p->pollers));
    p->pollers[0] = pl;
    p->poller_count = 1;
    uv_timer_start(&pl->timer, poll_now, 0, 0);
}

void watch_shard_taken(pipeline *p)
{
    if (p->stopping || p->broken) return;
    for (size_t i = 0; i < p->poller_count; i++) {
        poller *pl = p->pollers[i];
        pl->wait_ms = config_of(p)->worker.poll_interval_ms;
        if (!pl->listing) uv_timer_start(&pl->timer, poll_now, 0, 0);
    }
    if (p->caps.probed && !p->sweeping) uv_timer_start(&p->sweep_timer, watch_sweep_now, 0, uv_timer_get_repeat(&p->sweep_timer));
}

/* ---- the quarantine sweep ---- */

static void sweep_next(pipeline *p);

static void sweep_listed(void *user, const s3_result *r, const s3_list_result *list)
{
    pipeline *p = user;
    if (p->stopping || p->broken || r->error != SL_OK) {
        if (r->error != SL_OK && !p->stopping) sl_log(SL_LOG_WARN, "sweep_list_failed", "detail", r->detail, NULL);
        p->sweeping = false;
        return;
    }
    const sl_config *c = config_of(p);
    int64_t now = sl_time_now_ms();
    for (size_t i = 0; i < list->object_count; i++) {
        const s3_list_object *o = &list->objects[i];
        quarantine_key_parts parts;
        if (sl_failed(quarantine_key_parse(sl_cursor_from_buf(&o->key), &parts))) {
            sl_log(SL_LOG_WARN, "sweep_unknown_key", "key", sl_buf_cstr(&o->key), "detail", sl_error_detail(), NULL);
            sl_error_clear();
            continue;
        }
        char route[SL_ARTIFACT_ROUTE_MAX + 1];
        snprintf(route, sizeof(route), "%.*s", (int)parts.route.len, (const char *)parts.route.ptr);
        if (!shards_held(p, shards_index(p, route, parts.task))) continue; /* another mover's */
        char id[SL_ARTIFACT_ID_LEN + 1];
        snprintf(id, sizeof(id), "%.*s", (int)parts.artifact_id.len, (const char *)parts.artifact_id.ptr);
        sl_cursor idc = sl_cursor_from_cstr(id);
        if (classify_listed(p, idc, p->sweep_generation, true) == LISTED_SKIP) continue;
        int64_t modified = 0;
        bool old = sl_time_parse_s3(sl_cursor_from_buf(&o->last_modified), &modified) &&
                   now - modified >= (int64_t)c->retention.quarantine_ms;
        if (strset_contains(&p->settled, idc) && !old) continue;
        if (p->queue_count >= PIPELINE_QUEUE_LIMIT) break; /* the next sweep goes on */
        queued *q = entry_new(p->cfg, p->sweep_route, ENTRY_SWEEP, id);
        q->key = sl_cursor_dup(sl_cursor_from_buf(&o->key));
        q->etag = sl_cursor_dup(sl_cursor_from_buf(&o->etag));
        q->size = o->size;
        q->modified_ms = modified;
        (void)watch_enqueue(p, q);
    }
    sl_buf_reset(&p->sweep_token);
    if (list->is_truncated &&
        sl_ok(sl_buf_append_cursor(&p->sweep_token, sl_cursor_from_buf(&list->next_continuation_token)))) {
        sweep_next(p);
        return;
    }
    p->sweep_route++;
    sweep_next(p);
}

static void sweep_next(pipeline *p)
{
    const sl_config *c = config_of(p);
    if (p->sweep_route >= c->route_count) {
        p->sweeping = false;
        return;
    }
    sl_buf prefix = { 0 };
    if (sl_failed(sl_buf_appendf(&prefix, "q/%s/", c->routes[p->sweep_route].name))) {
        sl_buf_clean_up(&prefix);
        p->sweeping = false;
        return;
    }
    p->sweep_generation = ++p->generation;
    s3_list_params params = { .prefix = sl_cursor_from_buf(&prefix), .continuation_token = sl_cursor_from_buf(&p->sweep_token) };
    if (sl_failed(s3_list_objects_v2(p->opt.client, sl_cursor_from_cstr(c->buckets.quarantine), &params, sweep_listed, p))) {
        sl_log(SL_LOG_WARN, "sweep_list_failed", "detail", sl_error_detail(), NULL);
        p->sweeping = false;
    }
    sl_buf_clean_up(&prefix);
}

void watch_sweep_now(uv_timer_t *t)
{
    pipeline *p = t->data;
    if (p->sweeping || p->stopping || p->broken || !p->caps.probed) return;
    p->sweeping = true;
    p->sweep_route = 0;
    sl_buf_reset(&p->sweep_token);
    sweep_next(p);
}
