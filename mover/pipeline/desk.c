/*
 * desk.c — the reviewers' desk of desk.h. Each operation is a small heap object that
 * lives from the call to its callback: a manifest load (show, fetch), a listing that
 * loads manifests a few at a time (list), or a manifest load, a task manifest read and
 * pipeline_decide (decide).
 */
#include "pipeline/desk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/artifact.h"
#include "state/store.h"
#include "state/task.h"
#include "util/alloc.h"

#define TASK_MANIFEST_MAX ((size_t)1 << 20)

static const char *const outcome_names[DESK_OUTCOME_COUNT] = {
#define DESK_OUTCOME_NAME(e, name) [e] = name,
    DESK_OUTCOMES(DESK_OUTCOME_NAME)
#undef DESK_OUTCOME_NAME
};

const char *desk_outcome_name(desk_outcome outcome)
{
    return (unsigned)outcome < (unsigned)DESK_OUTCOME_COUNT ? outcome_names[outcome] : outcome_names[DESK_STORE_FAILED];
}

static const sl_config *cfg(const desk *d) { return *d->config; }

static manifest_store store_of(const desk *d)
{
    return (manifest_store){ .client = d->client, .bucket = cfg(d)->buckets.control,
                             .control_prefix = cfg(d)->buckets.control_prefix };
}

/* A failed manifest load: missing, or the store failed. */
static desk_outcome load_failure(const s3_result *r)
{
    return r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY ? DESK_UNKNOWN_ARTIFACT : DESK_STORE_FAILED;
}

static const char *load_failure_detail(const s3_result *r)
{
    return load_failure(r) == DESK_UNKNOWN_ARTIFACT ? "no artifact with this id waits or ended outside trusted"
                                                    : r->detail;
}

/* ---- show ---- */

struct show {
    desk_shown_fn *done;
    void *user;
};

static void shown(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct show *s = user;
    if (r->error != SL_OK) s->done(s->user, load_failure(r), load_failure_detail(r), NULL);
    else s->done(s->user, DESK_OK, NULL, m);
    manifest_store_release(m);
    sl_free(s);
}

sl_result desk_show(desk *d, const char *id, desk_shown_fn *done, void *user)
{
    ENSURE(done != NULL && id != NULL, SL_ERR_INVALID_ARGUMENT, "desk_show needs an id and a callback");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    struct show *s = sl_calloc(1, sizeof(*s));
    s->done = done;
    s->user = user;
    manifest_store st = store_of(d);
    if (sl_failed(manifest_store_load(&st, id, shown, s))) {
        sl_free(s);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}

/* ---- fetch ---- */

struct fetch {
    desk *desk;
    char *actor;
    desk_fetched_fn *done;
    void *user;
};

/* Audits the download, then signs its URL. */
static void fetch_manifest(struct fetch *f, const artifact_manifest *m)
{
    if (m->quarantine_key == NULL || m->state == ARTIFACT_PURGED || m->state == ARTIFACT_PROMOTED) {
        f->done(f->user, DESK_NO_QUARANTINED_COPY, "the artifact's bytes are no longer in quarantine (purged or promoted)",
                NULL);
        return;
    }
    json_t *detail = json_pack("{s:s}", "quarantine_key", m->quarantine_key);
    audit_record rec = { .event = "fetch", .artifact = m->id, .actor = f->actor, .detail = detail };
    bool audited = detail != NULL && sl_ok(audit_log_append(f->desk->audit, &rec));
    json_decref(detail);
    if (!audited) {
        f->done(f->user, DESK_AUDIT_FAILED, "the download could not be audited, so it is refused", NULL);
        return;
    }
    sl_buf url = { 0 };
    if (sl_failed(s3_client_presign_get(f->desk->client, sl_cursor_from_cstr(cfg(f->desk)->buckets.quarantine),
                                        sl_cursor_from_cstr(m->quarantine_key), DESK_FETCH_SECONDS, &url))) {
        f->done(f->user, DESK_PRESIGN_FAILED, sl_error_detail(), NULL);
    } else {
        desk_fetch_result result = { .id = m->id, .url = sl_buf_cstr(&url), .sha256 = m->sha256, .size = m->size,
                                     .expires_in = DESK_FETCH_SECONDS };
        f->done(f->user, DESK_OK, NULL, &result);
    }
    sl_buf_clean_up(&url);
}

static void fetched(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct fetch *f = user;
    if (r->error != SL_OK) f->done(f->user, load_failure(r), load_failure_detail(r), NULL);
    else fetch_manifest(f, m);
    manifest_store_release(m);
    sl_free(f->actor);
    sl_free(f);
}

sl_result desk_fetch(desk *d, const char *id, const char *actor, desk_fetched_fn *done, void *user)
{
    ENSURE(done != NULL && id != NULL && actor != NULL && actor[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "desk_fetch needs an id, an actor and a callback");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    ENSURE(audit_log_fault(d->audit) == NULL, SL_ERR_STATE,
           "the daemon stopped making changes: the audit log failed (%s)", audit_log_fault(d->audit));
    struct fetch *f = sl_calloc(1, sizeof(*f));
    f->desk = d;
    f->actor = sl_strdup(actor);
    f->done = done;
    f->user = user;
    manifest_store st = store_of(d);
    if (sl_failed(manifest_store_load(&st, id, fetched, f))) {
        sl_free(f->actor);
        sl_free(f);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}

/* ---- decide ---- */

struct decide {
    desk *desk;
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *reviewer, *sha256, *reason;
    bool approve;
    sl_buf task_doc;
    desk_decided_fn *done;
    void *user;
};

static void decide_free(struct decide *d)
{
    sl_free(d->reviewer);
    sl_free(d->sha256);
    sl_free(d->reason);
    sl_buf_clean_up(&d->task_doc);
    sl_free(d);
}

static void decide_refuse(struct decide *d, review_code code, const char *detail)
{
    review_result r = { .outcome = REVIEW_REFUSED, .code = code, .error = review_code_name(code) };
    snprintf(r.detail, sizeof(r.detail), "%s", detail);
    d->done(d->user, &r, NULL);
    decide_free(d);
}

static void decided(void *user, const review_result *result, const artifact_manifest *m)
{
    struct decide *d = user;
    d->done(d->user, result, m);
    decide_free(d);
}

static void start_decision(struct decide *d, const char *opener)
{
    if (sl_failed(pipeline_decide(d->desk->pipeline, d->id, d->reviewer, opener, d->approve, d->sha256, d->reason,
                                  decided, d)))
        decide_refuse(d, REVIEW_STOPPED, sl_error_detail());
}

static s3_http_body_action task_chunk(void *user, const uint8_t *data, size_t len)
{
    struct decide *d = user;
    size_t total;
    if (!sl_add_size(d->task_doc.len, len, &total) || total > TASK_MANIFEST_MAX) return S3_HTTP_BODY_ABORT;
    return sl_ok(sl_buf_append(&d->task_doc, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

/* The task manifest says who opened the task; without one (tasks opened outside the
 * API) nobody is known to be the opener. An unreadable one refuses the decision. */
static void task_read(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    struct decide *d = user;
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY) {
        start_decision(d, NULL);
        return;
    }
    task_manifest task = { 0 };
    if (r->error != SL_OK || sl_failed(task_manifest_from_json(sl_cursor_from_buf(&d->task_doc), &task))) {
        decide_refuse(d, REVIEW_TASK_UNREADABLE,
                      "the artifact's task manifest could not be read, so separation of duties cannot be checked");
        return;
    }
    start_decision(d, task.opened_by);
    task_manifest_clean_up(&task);
}

static void opener_lookup(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct decide *d = user;
    if (r->error != SL_OK) {
        manifest_store_release(m);
        decide_refuse(d, load_failure(r) == DESK_UNKNOWN_ARTIFACT ? REVIEW_UNKNOWN_ARTIFACT : REVIEW_STORE_FAILED,
                      load_failure_detail(r));
        return;
    }
    const sl_config *c = cfg(d->desk);
    sl_buf key = { 0 };
    if (sl_failed(task_manifest_key(&key, c->buckets.control_prefix, m->task)) ||
        sl_failed(s3_get_object_stream(d->desk->client, sl_cursor_from_cstr(c->buckets.control),
                                       sl_cursor_from_buf(&key), NULL, NULL, task_chunk, task_read, d, NULL)))
        decide_refuse(d, REVIEW_STORE_FAILED, sl_error_detail());
    sl_buf_clean_up(&key);
    manifest_store_release(m);
}

sl_result desk_decide(desk *d, const char *id, const char *reviewer, bool approve, const char *sha256,
                      const char *reason, desk_decided_fn *done, void *user)
{
    ENSURE(done != NULL && id != NULL && reviewer != NULL && reviewer[0] != '\0' && sha256 != NULL,
           SL_ERR_INVALID_ARGUMENT, "desk_decide needs an id, a reviewer, a SHA-256 and a callback");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    ENSURE(audit_log_fault(d->audit) == NULL && !pipeline_get_stats(d->pipeline).broken, SL_ERR_STATE,
           "the daemon stopped making changes: the audit log failed (%s)",
           audit_log_fault(d->audit) ? audit_log_fault(d->audit) : "see GET /v1/health");
    struct decide *dd = sl_calloc(1, sizeof(*dd));
    dd->desk = d;
    snprintf(dd->id, sizeof(dd->id), "%s", id);
    dd->reviewer = sl_strdup(reviewer);
    dd->sha256 = sl_strdup(sha256);
    dd->reason = reason ? sl_strdup(reason) : NULL;
    dd->approve = approve;
    dd->done = done;
    dd->user = user;
    manifest_store st = store_of(d);
    if (sl_failed(manifest_store_load(&st, dd->id, opener_lookup, dd))) {
        decide_free(dd);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}

/* ---- list ---- */

struct listing {
    desk *desk;
    desk_list_query query;
    char *route;
    artifact_manifest **items;
    size_t count;
    char **ids;
    size_t id_count, next, pending;
    bool more; /* the listing itself was cut at DESK_LIST_SCAN_MAX */
    desk_listed_fn *done;
    void *user;
};

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->id_count; i++) sl_free(l->ids[i]);
    sl_free(l->ids);
    for (size_t i = 0; i < l->count; i++) manifest_store_release(l->items[i]);
    sl_free(l->items);
    sl_free(l->route);
    sl_free(l);
}

static bool wanted(const struct listing *l, const artifact_manifest *m)
{
    return (!l->query.has_state || m->state == l->query.state) && (l->route == NULL || strcmp(l->route, m->route) == 0);
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(artifact_manifest *const *)a)->id, (*(artifact_manifest *const *)b)->id);
}

static void list_more(struct listing *l);

static void list_loaded(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct listing *l = user;
    l->pending--;
    if (r->error == SL_OK && wanted(l, m) && l->count < l->query.limit) l->items[l->count++] = m;
    else manifest_store_release(m);
    list_more(l);
}

static void list_more(struct listing *l)
{
    manifest_store st = store_of(l->desk);
    while (l->pending < DESK_LIST_PARALLEL && l->next < l->id_count && l->count + l->pending < l->query.limit) {
        if (sl_ok(manifest_store_load(&st, l->ids[l->next], list_loaded, l))) l->pending++;
        l->next++;
    }
    if (l->pending > 0) return;
    /* loads finish in any order: answer in id order */
    qsort(l->items, l->count, sizeof(*l->items), by_id);
    l->done(l->user, DESK_OK, NULL, (const artifact_manifest *const *)l->items, l->count,
            l->more || l->next < l->id_count);
    listing_free(l);
}

static void listed(void *user, const s3_result *r, const s3_list_result *list)
{
    struct listing *l = user;
    if (r->error != SL_OK) {
        l->done(l->user, DESK_STORE_FAILED, r->detail, NULL, 0, false);
        listing_free(l);
        return;
    }
    l->ids = sl_calloc(list->object_count ? list->object_count : 1, sizeof(char *));
    for (size_t i = 0; i < list->object_count; i++) {
        /* <prefix>artifacts/<id>.json */
        const sl_buf *k = &list->objects[i].key;
        if (k->len < SL_ARTIFACT_ID_LEN + 5) continue;
        l->ids[l->id_count++] = sl_strndup((const char *)k->data + k->len - SL_ARTIFACT_ID_LEN - 5, SL_ARTIFACT_ID_LEN);
    }
    l->more = list->is_truncated;
    list_more(l);
}

sl_result desk_list(desk *d, const desk_list_query *query, desk_listed_fn *done, void *user)
{
    ENSURE(done != NULL && query != NULL, SL_ERR_INVALID_ARGUMENT, "desk_list needs a query and a callback");
    struct listing *l = sl_calloc(1, sizeof(*l));
    l->desk = d;
    l->query = *query;
    l->route = query->route ? sl_strdup(query->route) : NULL;
    l->query.route = l->route;
    if (l->query.limit == 0 || l->query.limit > DESK_LIST_SCAN_MAX) l->query.limit = DESK_LIST_SCAN_MAX;
    l->items = sl_calloc(l->query.limit, sizeof(*l->items));
    l->done = done;
    l->user = user;
    sl_buf prefix = { 0 };
    s3_list_params params = { .max_keys = DESK_LIST_SCAN_MAX };
    sl_result started = sl_buf_appendf(&prefix, "%sartifacts/", cfg(d)->buckets.control_prefix);
    if (sl_ok(started)) {
        params.prefix = sl_cursor_from_buf(&prefix);
        started = s3_list_objects_v2(d->client, sl_cursor_from_cstr(cfg(d)->buckets.control), &params, listed, l);
    }
    sl_buf_clean_up(&prefix);
    if (sl_failed(started)) {
        listing_free(l);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}
