/*
 * listing.c — listing the task manifests (task_registry_list) and the start-up pass
 * (tasks_impl.h).
 *
 * Both read the manifests changed within the last 7 days (older ones are past their
 * expiry by construction): one LIST per 1000 tasks, one GET per task the cache does not
 * hold at the listed ETag, at most LIST_PARALLEL at a time. What was read is cached
 * (live tasks, within cache_max) and overdue tasks are expired, so a restart does not
 * lose the TTL timers. The start-up pass (no callback) only logs.
 */
#include "tasks/tasks_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "state/artifact.h"
#include "util/alloc.h"
#include "util/timefmt.h"

#define LIST_PARALLEL 16

struct list_item {
    char *id;
    char etag[128];
    task_manifest m;
    bool have;
    struct list_job *job;
};

struct list_job {
    pending base;
    task_registry *r;
    task_list_fn *done; /* NULL for the start-up pass */
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

static void item_clean_up(struct list_item *it)
{
    sl_free(it->id);
    task_manifest_clean_up(&it->m);
}

static void list_release(pending *p)
{
    struct list_job *j = (struct list_job *)p;
    for (size_t i = 0; i < j->count; i++) item_clean_up(&j->items[i]);
    sl_free(j->items);
    sl_buf_clean_up(&j->token);
    sl_free(j);
}

static void list_abandon(pending *p)
{
    struct list_job *j = (struct list_job *)p;
    if (p->answered) return;
    p->answered = true;
    if (j->done) j->done(j->user, TASK_OUTCOME_UNAVAILABLE, "the registry is shutting down", NULL, 0);
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

/* What was read goes into the cache (live tasks) and overdue ones are expired. */
static void cache_items(task_registry *r, struct list_job *j, int64_t now)
{
    for (size_t i = 0; i < j->count; i++) {
        struct list_item *it = &j->items[i];
        bool live = !task_state_is_terminal(it->m.state);
        entry *e = entry_find(r, it->id);
        if (e == NULL && live && r->entry_count < r->cache_max) e = entry_get(r, it->id);
        if (e != NULL && !e->busy && e->head == NULL &&
            !(e->status == ENTRY_LOADED && strcmp(e->etag, it->etag) == 0)) {
            task_manifest_clean_up(&e->m);
            task_manifest_copy(&it->m, &e->m);
            e->status = ENTRY_LOADED;
            e->stale = false;
            e->loaded_ms = now;
            snprintf(e->etag, sizeof(e->etag), "%s", it->etag);
        }
        if (e != NULL && live) {
            if (e->status == ENTRY_LOADED) watch_expiry(r, e, now);
            else if (now >= it->m.expires_at_ms) queue_expire(r, e);
        }
    }
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
        if (j->items[i].have) j->items[have++] = j->items[i];
        else item_clean_up(&j->items[i]);
    }
    j->count = have;
    cache_items(r, j, now);
    if (j->done != NULL) {
        completion *c = sl_calloc(1, sizeof(*c));
        c->kind = C_LIST;
        c->list_fn = j->done;
        c->user = j->user;
        if (j->listing_failed) {
            c->outcome = TASK_OUTCOME_UNAVAILABLE;
            c->text = sl_strdup(j->failure);
        } else {
            if (j->count > 1) qsort(j->items, j->count, sizeof(*j->items), by_opened_desc);
            c->outcome = TASK_OUTCOME_OK;
            c->tasks = sl_calloc(j->count ? j->count : 1, sizeof(*c->tasks));
            for (size_t i = 0; i < j->count; i++)
                if (filter_passes(j->filter, effective_state(&j->items[i].m, now)))
                    task_copy_make(r->cfg, &j->items[i].m, &c->tasks[c->task_count++]);
        }
        push_completion(r, c);
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

static void item_read(void *user, const s3_result *res, sl_cursor body, const char *etag)
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
        if (sl_ok(task_manifest_from_json(body, &it->m)) && strcmp(it->m.id, it->id) == 0) {
            it->have = true;
            snprintf(it->etag, sizeof(it->etag), "%s", etag);
        } else {
            sl_log(SL_LOG_ERROR, "task_manifest_invalid", "task", it->id, "detail", sl_error_detail(), NULL);
            task_manifest_clean_up(&it->m);
        }
    } else if (!(res->error == SL_ERR_S3 && res->code == S3_ERROR_NO_SUCH_KEY)) {
        sl_log(SL_LOG_WARN, "task_read_failed", "task", it->id, "detail", res->detail, NULL);
    }
    list_read_next(j);
}

/* Reads the listed manifests that the cache does not already hold, LIST_PARALLEL at a time. */
static void list_read_next(struct list_job *j)
{
    task_registry *r = j->r;
    manifest_store store = task_store(r);
    while (j->next < j->count && j->running < LIST_PARALLEL && !r->client_gone) {
        struct list_item *it = &j->items[j->next++];
        entry *e = entry_find(r, it->id);
        if (e != NULL && e->status == ENTRY_LOADED && !e->has_next && strcmp(e->etag, it->etag) == 0) {
            task_manifest_copy(&e->m, &it->m);
            it->have = true;
            continue;
        }
        sl_buf key = { 0 };
        it->job = j;
        bool started = sl_ok(task_manifest_key(&key, r->cfg->control_prefix, it->id)) &&
                       sl_ok(manifest_store_read(&store, sl_cursor_from_buf(&key), SL_TASK_MAX_JSON, item_read, it));
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
        if (sl_failed(artifact_task_id_check(id)) || obj->etag.len >= 128) continue;
        if (j->count == j->capacity) {
            j->capacity = j->capacity ? j->capacity * 2 : 64;
            j->items = sl_realloc(j->items, j->capacity * sizeof(*j->items));
        }
        struct list_item *it = &j->items[j->count++];
        *it = (struct list_item){ .id = sl_cursor_dup(id) };
        snprintf(it->etag, sizeof(it->etag), "%s", sl_buf_cstr(&obj->etag));
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

void list_start(task_registry *r, task_list_filter filter, task_list_fn *done, void *user)
{
    struct list_job *j = sl_calloc(1, sizeof(*j));
    j->base.abandon = list_abandon;
    j->base.release = list_release;
    j->r = r;
    j->done = done;
    j->user = user;
    j->filter = filter;
    j->since_ms = sl_time_now_ms() - TASKS_LIST_WINDOW_MS;
    pending_add(r, &j->base);
    list_page(j);
}
