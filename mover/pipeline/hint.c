/*
 * hint.c — S3 event notifications as hints (pipeline_hint, docs/events.md): an event says
 * that a key of staging changed; the mover then looks at that key itself — a listing of
 * the key's versions (ListObjectVersions, or ListObjectsV2 on unversioned staging, with
 * the key as prefix) — and offers what the listing shows to the queue exactly as the
 * periodic listing would (watch_offer: the shard, the stale-listing guard, NEW or SEEN).
 *
 * Nothing an event says is believed: not its ETag, size, time or version. A listing gives
 * the same facts, to the millisecond, as the periodic listing (task admission compares
 * the upload's time with the task's closing time, and counts objects by name, time and
 * size), so an upload is the same upload whichever way it was found. A forged or replayed
 * event can at worst make the mover look early; one for a key that does not exist finds
 * nothing and changes nothing.
 *
 * Threading: loop thread.
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#define HINT_LOOKS_MAX 1024 /* looks in flight; beyond, hints wait for the next listing */
#define HINT_LIST_KEYS 100  /* the key's versions come first in its prefix's listing */

typedef struct look {
    pipeline *p;
    config_ref *cfg;
    size_t route;
    char *key;
    uint64_t generation;
} look;

static void look_free(look *l)
{
    l->p->hint_looks--;
    config_ref_drop(l->cfg);
    sl_free(l->key);
    sl_free(l);
}

/* The look failed or was cancelled; the periodic listing covers the key. */
static bool look_failed(look *l, const s3_result *r)
{
    if (r->error == SL_OK) return false;
    if (r->error != SL_ERR_CANCELLED && !l->p->stopping)
        sl_log(SL_LOG_WARN, "hint_look_failed", "key", l->key, "detail", r->detail, "action",
               "the next listing picks the key up", NULL);
    look_free(l);
    return true;
}

static void count_offer(watch_offered o, unsigned *taken, unsigned *shown)
{
    (*shown)++;
    if (o == OFFER_QUEUED) (*taken)++;
}

static void finish(look *l, unsigned taken, unsigned shown)
{
    pipeline_stats *st = &l->p->stats;
    if (shown == 0) st->hints_missing++;
    else if (taken > 0) st->hints_queued++;
    else st->hints_elsewhere++;
    look_free(l);
}

static void versions_looked(void *user, const s3_result *r, const s3_list_versions_result *list)
{
    look *l = user;
    if (look_failed(l, r)) return;
    unsigned taken = 0, shown = 0;
    sl_cursor key = sl_cursor_from_cstr(l->key);
    for (size_t i = 0; i < list->version_count && !l->p->stopping; i++) {
        const s3_object_version *v = &list->versions[i];
        if (v->delete_marker || !sl_cursor_eq(sl_cursor_from_buf(&v->key), key)) continue;
        watch_upload u = { .key = key, .etag = sl_cursor_from_buf(&v->etag), .version = sl_cursor_from_buf(&v->version_id),
                           .size = v->size, .modified = sl_cursor_from_buf(&v->last_modified) };
        count_offer(watch_offer(l->p, l->cfg, l->route, &u, l->generation), &taken, &shown);
    }
    finish(l, taken, shown);
}

static void objects_looked(void *user, const s3_result *r, const s3_list_result *list)
{
    look *l = user;
    if (look_failed(l, r)) return;
    unsigned taken = 0, shown = 0;
    sl_cursor key = sl_cursor_from_cstr(l->key);
    for (size_t i = 0; i < list->object_count && !l->p->stopping; i++) {
        const s3_list_object *o = &list->objects[i];
        if (!sl_cursor_eq(sl_cursor_from_buf(&o->key), key)) continue;
        watch_upload u = { .key = key, .etag = sl_cursor_from_buf(&o->etag), .size = o->size,
                           .modified = sl_cursor_from_buf(&o->last_modified) };
        count_offer(watch_offer(l->p, l->cfg, l->route, &u, l->generation), &taken, &shown);
    }
    finish(l, taken, shown);
}

pipeline_hint_outcome pipeline_hint(pipeline *p, sl_cursor bucket, sl_cursor key)
{
    p->stats.hints++;
    if (p->stopping || p->broken || !p->caps.probed || p->poller_count == 0) return PIPELINE_HINT_LATER;
    const sl_config *c = config_of(p);
    if (!sl_cursor_eq_cstr(bucket, c->buckets.staging)) {
        p->stats.hints_unknown++;
        return PIPELINE_HINT_UNKNOWN_BUCKET;
    }
    const sl_config_route *r = key.len ? sl_config_route_for_key(c, (const char *)key.ptr, key.len) : NULL;
    if (r == NULL || key.len > S3_MAX_KEY_BYTES || memchr(key.ptr, '\0', key.len) != NULL) {
        p->stats.hints_unknown++;
        return PIPELINE_HINT_UNKNOWN_PREFIX;
    }
    staging_key_parts parts;
    sl_cursor task = sl_ok(staging_key_split(key, sl_cursor_from_cstr(r->staging_prefix), &parts)) ? parts.task
                                                                                                   : (sl_cursor){ 0 };
    sl_error_clear();
    if (!shards_held(p, shards_index(p, r->name, task))) {
        p->stats.hints_elsewhere++;
        return PIPELINE_HINT_ELSEWHERE;
    }
    if (p->hint_looks >= HINT_LOOKS_MAX || p->queue_count >= PIPELINE_QUEUE_LIMIT) {
        p->stats.hints_elsewhere++;
        return PIPELINE_HINT_LATER;
    }
    look *l = sl_calloc(1, sizeof(*l));
    l->p = p;
    l->cfg = config_ref_take(p->cfg);
    l->route = (size_t)(r - c->routes);
    l->key = sl_cursor_dup(key);
    l->generation = ++p->generation;
    p->hint_looks++;
    sl_result started;
    if (p->caps.staging_versioned) {
        s3_list_versions_params params = { .prefix = key, .max_keys = HINT_LIST_KEYS };
        started = s3_list_object_versions(p->opt.client, bucket, &params, versions_looked, l);
    } else {
        s3_list_params params = { .prefix = key, .max_keys = HINT_LIST_KEYS };
        started = s3_list_objects_v2(p->opt.client, bucket, &params, objects_looked, l);
    }
    if (sl_failed(started)) {
        sl_log(SL_LOG_WARN, "hint_look_failed", "key", l->key, "detail", sl_error_detail(), NULL);
        sl_error_clear();
        look_free(l);
        return PIPELINE_HINT_LATER;
    }
    return PIPELINE_HINT_LOOKING;
}
