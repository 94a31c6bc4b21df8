/*
 * artifacts.c — the reviewers' endpoints (see artifacts.h). Each handler keeps its
 * api_request and answers once its S3 calls are done.
 */
#include "api/artifacts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/artifact.h"
#include "state/store.h"
#include "util/alloc.h"

#define LIST_SCAN_MAX 1000
#define LIST_PARALLEL 16
#define FETCH_URL_SECONDS 300

static const sl_config *cfg(const artifacts_api *api) { return *api->config; }

static manifest_store store(const artifacts_api *api)
{
    return (manifest_store){ .client = api->client, .bucket = cfg(api)->buckets.control,
                             .control_prefix = cfg(api)->buckets.control_prefix };
}

static json_t *manifest_json(const artifact_manifest *m)
{
    sl_buf text = { 0 };
    json_t *j = NULL;
    if (sl_ok(artifact_manifest_to_json(m, &text))) j = json_loadb((const char *)text.data, text.len, 0, NULL);
    sl_buf_clean_up(&text);
    return j;
}

static void answer_store_error(api_request *req, const s3_result *r)
{
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY)
        api_respond_error(req, 404, "unknown_artifact", "no artifact with this id waits or ended outside trusted");
    else
        api_respond_error(req, 503, "store_failed", r->detail);
}

/* ---- GET /v1/artifacts/{id} ---- */

static void shown(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    api_request *req = user;
    if (r->error != SL_OK) answer_store_error(req, r);
    else api_respond(req, 200, manifest_json(m));
    manifest_store_release(m);
}

static void show(void *user, api_request *req, const api_request_info *info)
{
    artifacts_api *api = user;
    manifest_store s = store(api);
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(info->params[0]))) ||
        sl_failed(manifest_store_load(&s, info->params[0], shown, req)))
        api_respond_error(req, 400, "bad_id", "an artifact id is 32 lower-case hex digits");
}

/* ---- POST /v1/artifacts/{id}/fetch ---- */

struct fetch {
    artifacts_api *api;
    api_request *req;
    char *user;
};

static void fetched(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct fetch *f = user;
    const sl_config *c = cfg(f->api);
    if (r->error != SL_OK) {
        answer_store_error(f->req, r);
    } else if (m->quarantine_key == NULL || m->state == ARTIFACT_PURGED || m->state == ARTIFACT_PROMOTED) {
        api_respond_error(f->req, 409, "no_quarantined_copy",
                          "the artifact's bytes are no longer in quarantine (purged or promoted)");
    } else {
        sl_buf url = { 0 };
        if (sl_failed(s3_client_presign_get(f->api->client, sl_cursor_from_cstr(c->buckets.quarantine),
                                            sl_cursor_from_cstr(m->quarantine_key), FETCH_URL_SECONDS, &url))) {
            api_respond_error(f->req, 500, "presign_failed", sl_error_detail());
        } else {
            json_t *d = json_pack("{s:s}", "quarantine_key", m->quarantine_key);
            char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
            json_decref(d);
            audit_record rec = { .event = "fetch", .artifact = m->id, .actor = f->user, .detail_json = detail };
            bool audited = detail != NULL && sl_ok(audit_log_append(f->api->audit, &rec));
            free(detail);
            if (!audited) {
                api_respond_error(f->req, 503, "audit_failed", "the download could not be audited, so it is refused");
            } else {
                json_t *body = json_pack("{s:s,s:s,s:s,s:I,s:i}", "id", m->id, "url", sl_buf_cstr(&url), "sha256",
                                         m->sha256, "size", (json_int_t)m->size, "expires_in", FETCH_URL_SECONDS);
                api_respond(f->req, 200, body);
            }
        }
        sl_buf_clean_up(&url);
    }
    manifest_store_release(m);
    sl_free(f->user);
    sl_free(f);
}

static void fetch(void *user, api_request *req, const api_request_info *info)
{
    artifacts_api *api = user;
    struct fetch *f = sl_calloc(1, sizeof(*f));
    f->api = api;
    f->req = req;
    f->user = sl_strdup(info->user);
    manifest_store s = store(api);
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(info->params[0]))) ||
        sl_failed(manifest_store_load(&s, info->params[0], fetched, f))) {
        api_respond_error(req, 400, "bad_id", "an artifact id is 32 lower-case hex digits");
        sl_free(f->user);
        sl_free(f);
    }
}

/* ---- POST /v1/artifacts/{id}/decision ---- */

struct decide {
    artifacts_api *api;
    api_request *req;
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *user, *sha256, *reason;
    bool approve;
    sl_buf task_doc;
    char *task;
};

static void decide_free(struct decide *d)
{
    sl_free(d->user);
    sl_free(d->sha256);
    sl_free(d->reason);
    sl_free(d->task);
    sl_buf_clean_up(&d->task_doc);
    sl_free(d);
}

static void decided(void *user, const review_result *r, const artifact_manifest *m)
{
    struct decide *d = user;
    if (r->outcome == REVIEW_REFUSED) {
        api_respond_error(d->req, r->status, r->error, r->detail);
    } else {
        json_t *body = json_pack("{s:s,s:s,s:s}", "id", d->id, "state", m ? artifact_state_name(m->state) : "",
                                 "detail", r->detail);
        api_respond(d->req, 200, body);
    }
    decide_free(d);
}

static void start_decision(struct decide *d, const char *opener)
{
    if (sl_failed(pipeline_decide(d->api->pipeline, d->id, d->user, opener, d->approve, d->sha256, d->reason, decided,
                                  d))) {
        api_respond_error(d->req, 503, "refused", sl_error_detail());
        decide_free(d);
    }
}

static s3_http_body_action task_chunk(void *user, const uint8_t *data, size_t len)
{
    struct decide *d = user;
    if (d->task_doc.len + len > 1024 * 1024) return S3_HTTP_BODY_ABORT;
    return sl_ok(sl_buf_append(&d->task_doc, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

/* The task manifest says who opened the task; without one (tasks opened outside the
 * API), nobody is known to be the opener. An unreadable task manifest refuses the
 * decision rather than skipping the rule. */
static void task_read(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    struct decide *d = user;
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY) {
        start_decision(d, NULL);
        return;
    }
    json_t *doc = r->error == SL_OK ? json_loadb((const char *)d->task_doc.data, d->task_doc.len, 0, NULL) : NULL;
    const char *opener = json_string_value(json_object_get(doc, "opened_by"));
    if (opener == NULL) {
        api_respond_error(d->req, 503, "task_unreadable",
                          "the artifact's task manifest could not be read, so separation of duties cannot be checked");
        json_decref(doc);
        decide_free(d);
        return;
    }
    start_decision(d, opener);
    json_decref(doc);
}

static void opener_lookup(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct decide *d = user;
    if (r->error != SL_OK) {
        answer_store_error(d->req, r);
        manifest_store_release(m);
        decide_free(d);
        return;
    }
    const sl_config *c = cfg(d->api);
    sl_buf key = { 0 };
    if (sl_failed(sl_buf_appendf(&key, "%stasks/%s.json", c->buckets.control_prefix, m->task)) ||
        sl_failed(s3_get_object_stream(d->api->client, sl_cursor_from_cstr(c->buckets.control), sl_cursor_from_buf(&key),
                                       NULL, NULL, task_chunk, task_read, d, NULL))) {
        api_respond_error(d->req, 500, "internal", sl_error_detail());
        decide_free(d);
    }
    sl_buf_clean_up(&key);
    manifest_store_release(m);
}

static void decision(void *user, api_request *req, const api_request_info *info)
{
    artifacts_api *api = user;
    const char *what = json_string_value(json_object_get(info->json, "decision"));
    const char *sha = json_string_value(json_object_get(info->json, "sha256"));
    json_t *reason = json_object_get(info->json, "reason");
    const char *known[] = { "decision", "sha256", "reason" };
    const char *key;
    json_t *value;
    json_object_foreach(info->json, key, value) {
        bool ok = false;
        for (size_t i = 0; i < 3; i++) ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            char detail[200];
            snprintf(detail, sizeof(detail), "unknown field \"%.64s\" (known: decision, sha256, reason)", key);
            api_respond_error(req, 400, "bad_request", detail);
            return;
        }
    }
    if (what == NULL || (strcmp(what, "approve") != 0 && strcmp(what, "reject") != 0)) {
        api_respond_error(req, 400, "bad_request", "\"decision\" must be \"approve\" or \"reject\"");
        return;
    }
    if (sha == NULL) {
        api_respond_error(req, 400, "bad_request",
                          "\"sha256\" is required: a decision names the bytes it is about (sluice-review fills it in)");
        return;
    }
    if (reason != NULL && !json_is_string(reason)) {
        api_respond_error(req, 400, "bad_request", "\"reason\" must be a string");
        return;
    }
    if (strcmp(what, "reject") == 0 && (reason == NULL || json_string_length(reason) == 0)) {
        api_respond_error(req, 400, "bad_request", "a rejection needs a \"reason\"");
        return;
    }
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(info->params[0])))) {
        api_respond_error(req, 400, "bad_id", "an artifact id is 32 lower-case hex digits");
        return;
    }
    struct decide *d = sl_calloc(1, sizeof(*d));
    d->api = api;
    d->req = req;
    snprintf(d->id, sizeof(d->id), "%s", info->params[0]);
    d->user = sl_strdup(info->user);
    d->sha256 = sl_strdup(sha);
    d->reason = reason ? sl_strdup(json_string_value(reason)) : NULL;
    d->approve = strcmp(what, "approve") == 0;
    manifest_store s = store(api);
    if (sl_failed(manifest_store_load(&s, d->id, opener_lookup, d))) {
        api_respond_error(req, 500, "internal", sl_error_detail());
        decide_free(d);
    }
}

/* ---- GET /v1/artifacts ---- */

struct listing {
    artifacts_api *api;
    api_request *req;
    char *state, *route;
    size_t limit;
    json_t *items;
    char **ids;
    size_t id_count, next, pending;
};

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->id_count; i++) sl_free(l->ids[i]);
    sl_free(l->ids);
    sl_free(l->state);
    sl_free(l->route);
    json_decref(l->items);
    sl_free(l);
}

static void list_more(struct listing *l);

static void list_loaded(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    (void)etag;
    struct listing *l = user;
    l->pending--;
    if (r->error == SL_OK && (l->state == NULL || strcmp(l->state, artifact_state_name(m->state)) == 0) &&
        (l->route == NULL || strcmp(l->route, m->route) == 0) && json_array_size(l->items) < l->limit) {
        int64_t updated = m->history_count ? m->history[m->history_count - 1].time_ms : 0;
        json_t *item = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:I,s:I}", "id", m->id, "state",
                                 artifact_state_name(m->state), "route", m->route, "task", m->task, "name", m->name,
                                 "sha256", m->sha256, "size", (json_int_t)m->size, "detected_type",
                                 m->detected_type ? m->detected_type : "", "decisions", (json_int_t)m->decision_count,
                                 "updated_ms", (json_int_t)updated);
        if (item) json_array_append_new(l->items, item);
    }
    manifest_store_release(m);
    list_more(l);
}

static void list_more(struct listing *l)
{
    manifest_store s = store(l->api);
    while (l->pending < LIST_PARALLEL && l->next < l->id_count && json_array_size(l->items) < l->limit) {
        if (sl_ok(manifest_store_load(&s, l->ids[l->next], list_loaded, l))) l->pending++;
        l->next++;
    }
    if (l->pending > 0) return;
    json_t *body = json_pack("{s:O,s:b}", "artifacts", l->items, "truncated", l->next < l->id_count);
    api_respond(l->req, 200, body);
    listing_free(l);
}

static void listed(void *user, const s3_result *r, const s3_list_result *list)
{
    struct listing *l = user;
    if (r->error != SL_OK) {
        api_respond_error(l->req, 503, "store_failed", r->detail);
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
    list_more(l);
}

static char *query_value(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') return sl_strndup(p + n + 1, len - n - 1);
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static void list(void *user, api_request *req, const api_request_info *info)
{
    artifacts_api *api = user;
    struct listing *l = sl_calloc(1, sizeof(*l));
    l->api = api;
    l->req = req;
    l->state = query_value(info->query, "state");
    l->route = query_value(info->query, "route");
    char *limit = query_value(info->query, "limit");
    l->limit = limit ? strtoul(limit, NULL, 10) : 100;
    sl_free(limit);
    artifact_state ignored;
    if (l->state && !artifact_state_from_name(sl_cursor_from_cstr(l->state), &ignored)) {
        api_respond_error(req, 400, "bad_state", "state must be one of: staged, quarantined, checking, blocked, "
                                                 "in_review, approved, rejected, expired, promoting, promoted, purged, failed");
        listing_free(l);
        return;
    }
    if (l->limit == 0 || l->limit > LIST_SCAN_MAX) l->limit = LIST_SCAN_MAX;
    l->items = json_array();
    sl_buf prefix = { 0 };
    s3_list_params params = { .max_keys = LIST_SCAN_MAX };
    if (sl_ok(sl_buf_appendf(&prefix, "%sartifacts/", cfg(api)->buckets.control_prefix))) {
        params.prefix = sl_cursor_from_buf(&prefix);
        if (sl_ok(s3_list_objects_v2(api->client, sl_cursor_from_cstr(cfg(api)->buckets.control), &params, listed, l))) {
            sl_buf_clean_up(&prefix);
            return;
        }
    }
    sl_buf_clean_up(&prefix);
    api_respond_error(req, 500, "internal", sl_error_detail());
    listing_free(l);
}

size_t artifacts_api_routes(artifacts_api *api, api_route *out, size_t max)
{
    const api_route routes[] = {
        { "GET", "/v1/artifacts", API_ROLE_REVIEWER, false, list, api },
        { "GET", "/v1/artifacts/{id}", API_ROLE_REVIEWER, false, show, api },
        { "POST", "/v1/artifacts/{id}/fetch", API_ROLE_REVIEWER, false, fetch, api },
        { "POST", "/v1/artifacts/{id}/decision", API_ROLE_REVIEWER, true, decision, api },
    };
    size_t n = sizeof(routes) / sizeof(routes[0]);
    if (n > max) n = max;
    memcpy(out, routes, n * sizeof(routes[0]));
    return n;
}
