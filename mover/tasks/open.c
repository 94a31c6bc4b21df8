/*
 * open.c — task_registry_open (tasks.h): the request is checked against the
 * configuration (route, grant kind, TTL, limits, reference keys against the route's
 * allowlist); the grant is made — signed locally (presigned), or asked of STS
 * (AssumeRole) before anything is written, so that no task exists without its grant and
 * no credentials without their task —; the task manifest is written with If-None-Match:
 * *; "task_open" (and, with reference keys, "task_reference_grant" naming each key) is
 * appended to the audit log; and only once the log has synced them is the grant handed
 * out. A failure after the manifest is in S3 answers INTERNAL and hands out nothing.
 */
#include "tasks/tasks_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "state/artifact.h"
#include "util/alloc.h"
#include "util/timefmt.h"

struct open_req {
    pending base;
    task_registry *r;
    task_open_fn *done;
    void *user;
    char *actor;
    task_manifest m;
    grant_data *grant;
    char **refs;
    size_t ref_count;
    bool post;
    uint64_t ttl_ms;
    sl_buf key, body;
};

static void open_release(pending *p)
{
    struct open_req *o = (struct open_req *)p;
    task_manifest_clean_up(&o->m);
    if (o->grant) {
        grant_data_clean_up(o->grant);
        sl_free(o->grant);
    }
    for (size_t i = 0; i < o->ref_count; i++) sl_free(o->refs[i]);
    sl_free(o->refs);
    sl_buf_clean_up(&o->key);
    sl_buf_clean_up(&o->body);
    sl_free(o->actor);
    sl_free(o);
}

static void open_abandon(pending *p)
{
    struct open_req *o = (struct open_req *)p;
    if (p->answered) return;
    p->answered = true;
    o->done(o->user, TASK_OUTCOME_UNAVAILABLE, "the registry is shutting down", NULL, NULL);
}

static void open_fail(struct open_req *o, task_outcome outcome, const char *detail)
{
    task_registry *r = o->r;
    pending_remove(r, &o->base);
    o->base.answered = true;
    answer_open_failure(r, o->done, o->user, outcome, detail);
    open_release(&o->base);
}

/* ---- the audit records ---- */

json_t *task_limits_json(const task_limits *l)
{
    json_t *o = json_object();
    if (l->max_objects > 0) json_object_set_new(o, "max_objects", json_integer(l->max_objects));
    json_object_set_new(o, "max_bytes", json_integer((json_int_t)l->max_bytes));
    if (l->key_count > 0) {
        json_t *keys = json_array();
        for (size_t i = 0; i < l->key_count; i++) {
            json_t *k = json_pack("{s:s}", "name", l->keys[i].name);
            if (l->keys[i].has_size) json_object_set_new(k, "size", json_integer((json_int_t)l->keys[i].size));
            json_array_append_new(keys, k);
        }
        json_object_set_new(o, "keys", keys);
    }
    if (l->name_pattern) json_object_set_new(o, "name_pattern", json_string(l->name_pattern));
    return o;
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
    char text[25];
    format_time(ms, text);
    json_object_set_new(o, key, json_string(text));
}

/* task_open: where, until when, the limits and what kind of grant (for STS, the session
 * the server's own logs will name). No secret goes in. */
static json_t *open_detail(const struct open_req *o, const char *prefix)
{
    char ttl[32];
    format_duration(o->ttl_ms, ttl);
    json_t *d = json_object();
    json_object_set_new(d, "route", json_string(o->m.route));
    json_object_set_new(d, "prefix", json_string(prefix));
    set_time(d, "expires_at", o->m.expires_at_ms);
    json_object_set_new(d, "ttl", json_string(ttl));
    json_object_set_new(d, "limits", task_limits_json(&o->m.limits));
    json_object_set_new(d, "grant", json_string(task_grant_kind_name(o->grant->kind)));
    set_time(d, "grant_expires_at", o->grant->expires_at_ms);
    if (o->grant->kind == TASK_GRANT_PRESIGNED) {
        json_object_set_new(d, "post", json_boolean(o->post));
    } else {
        json_object_set_new(d, "session", json_string(sl_buf_cstr(&o->grant->cred.assumed_role_arn)));
        json_object_set_new(d, "access_key_id", json_string(sl_buf_cstr(&o->grant->cred.access_key_id)));
        set_time(d, "session_expires_at", o->grant->cred.expiration_ms);
    }
    return d;
}

/* task_reference_grant: the reference keys this task may read, each named. */
static json_t *reference_detail(const struct open_req *o)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < o->ref_count; i++) json_array_append_new(keys, json_string(o->refs[i]));
    json_t *d = json_pack("{s:s, s:s, s:o, s:s}", "route", o->m.route, "bucket", o->grant->reference_bucket, "keys",
                          keys, "grant", o->grant->kind == TASK_GRANT_STS ? "sts-session-policy" : "presigned-get");
    set_time(d, "expires_at", o->grant->expires_at_ms);
    return d;
}

/* ---- the manifest is in S3: record it, cache it, answer once the records are synced ---- */

static void open_written(struct open_req *o, const char *etag)
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
        snprintf(e->etag, sizeof(e->etag), "%s", etag);
        if (e->etag[0] == '\0') e->stale = true;
        arm_expiry(r, o->m.expires_at_ms);
    }
    sl_log(SL_LOG_INFO, "task_opened", "task", o->m.id, "route", o->m.route, "by", o->actor, "grant",
           task_grant_kind_name(o->grant->kind), NULL);
    completion *c = sl_calloc(1, sizeof(*c));
    c->kind = C_OPEN;
    c->open_fn = o->done;
    c->user = o->user;
    c->tasks = sl_calloc(1, sizeof(*c->tasks));
    c->task_count = 1;
    task_copy_make(r->cfg, &o->m, &c->tasks[0]);
    const char *events[3] = { TASK_EVENT_OPEN, NULL, NULL };
    json_t *details[2] = { open_detail(o, c->tasks[0].prefix ? c->tasks[0].prefix : ""), NULL };
    if (o->ref_count > 0) {
        events[1] = "task_reference_grant";
        details[1] = reference_detail(o);
    }
    c->grant = o->grant;
    o->grant = NULL;
    audit_then_deliver(r, o->m.id, events, NULL, task_state_name(TASK_OPEN), o->actor, details, c,
                       TASK_OUTCOME_CREATED, "opened");
    open_release(&o->base);
}

/* The PUT met an existing object: ours from an attempt whose answer was lost, or (with
 * 128 random bits, never in practice) another task's. */
static void open_checked(void *user, const s3_result *res, sl_cursor body, const char *etag)
{
    struct open_req *o = user;
    task_registry *r = o->r;
    o->base.io--;
    if (!io_back(r)) {
        open_release(&o->base);
        maybe_free(r);
        return;
    }
    if (res->error == SL_OK && sl_cursor_eq(body, sl_cursor_from_buf(&o->body))) {
        open_written(o, etag);
        return;
    }
    char detail[REASON_MAX];
    snprintf(detail, sizeof(detail), "task id %s is taken; open the task again", o->m.id);
    open_fail(o, res->error == SL_OK ? TASK_OUTCOME_INTERNAL : TASK_OUTCOME_UNAVAILABLE, detail);
}

static void open_put_done(void *user, const s3_result *res, const char *etag)
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
        manifest_store store = task_store(r);
        if (sl_ok(manifest_store_read(&store, sl_cursor_from_buf(&o->key), SL_TASK_MAX_JSON, open_checked, o))) {
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
    open_written(o, etag);
}

/* The grant is made: write the manifest (create-only). */
static void write_manifest(struct open_req *o)
{
    task_registry *r = o->r;
    char detail[REASON_MAX];
    manifest_store store = task_store(r);
    if (sl_failed(task_manifest_to_json(&o->m, &o->body)) ||
        sl_failed(task_manifest_key(&o->key, r->cfg->control_prefix, o->m.id))) {
        snprintf(detail, sizeof(detail), "the task manifest could not be made: %s", sl_error_detail());
        open_fail(o, TASK_OUTCOME_INTERNAL, detail);
        return;
    }
    if (sl_failed(manifest_store_write(&store, sl_cursor_from_buf(&o->key), sl_cursor_from_buf(&o->body), NULL,
                                       open_put_done, o))) {
        snprintf(detail, sizeof(detail), "the task manifest could not be written: %s", sl_error_detail());
        open_fail(o, TASK_OUTCOME_UNAVAILABLE, detail);
        return;
    }
    o->base.io++;
    r->io++;
    r->stats.writes++;
}

static void sts_granted(void *user, const s3_result *res, const sts_credentials *cred)
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
    if (res->error != SL_OK) {
        snprintf(detail, sizeof(detail), "STS refused the task's credentials: %s", res->detail);
        sl_log(SL_LOG_WARN, "task_sts_failed", "task", o->m.id, "detail", res->detail, NULL);
        open_fail(o, TASK_OUTCOME_UNAVAILABLE, detail);
        return;
    }
    grant_data *g = o->grant;
    sl_result copied = sl_buf_append_cursor(&g->cred.access_key_id, sl_cursor_from_buf(&cred->access_key_id));
    if (sl_ok(copied)) copied = sl_buf_append_cursor(&g->cred.secret_access_key, sl_cursor_from_buf(&cred->secret_access_key));
    if (sl_ok(copied)) copied = sl_buf_append_cursor(&g->cred.session_token, sl_cursor_from_buf(&cred->session_token));
    if (sl_ok(copied)) copied = sl_buf_append_cursor(&g->cred.assumed_role_arn, sl_cursor_from_buf(&cred->assumed_role_arn));
    g->cred.expiration_ms = cred->expiration_ms;
    if (sl_failed(copied)) {
        open_fail(o, TASK_OUTCOME_INTERNAL, "the task's credentials could not be kept");
        return;
    }
    /* the grant ends with the task (its session policy), never later than STS's own end */
    g->expires_at_ms = o->m.expires_at_ms / 1000 * 1000;
    if (cred->expiration_ms < g->expires_at_ms) g->expires_at_ms = cred->expiration_ms;
    write_manifest(o);
}

/* ---- checking the request ---- */

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
    *outcome = TASK_OUTCOME_BAD_REQUEST;
    if (p->grant == TASK_GRANT_STS && !route->sts) {
        snprintf(detail, detail_len, "route %s does not grant STS credentials (its \"sts\" is false)", route->name);
        return false;
    }
    uint64_t ttl = p->ttl_ms ? p->ttl_ms : c->default_ttl_ms;
    uint64_t max_ttl = c->max_ttl_ms < (uint64_t)SL_TASK_MAX_TTL_MS ? c->max_ttl_ms : (uint64_t)SL_TASK_MAX_TTL_MS;
    const char *which = "grants.max_ttl";
    if (p->grant == TASK_GRANT_STS && c->sts_max_session_ms < max_ttl) {
        max_ttl = c->sts_max_session_ms;
        which = "grants.sts.max_session, the role's longest session";
    }
    if (ttl > max_ttl) {
        format_duration(ttl, a);
        format_duration(max_ttl, b);
        *outcome = TASK_OUTCOME_BAD_TTL;
        snprintf(detail, detail_len, "ttl %s is longer than the longest a grant may live, %s (%s)", a, b, which);
        return false;
    }
    if (ttl < 1000) {
        format_duration(ttl, a);
        *outcome = TASK_OUTCOME_BAD_TTL;
        snprintf(detail, detail_len, "ttl %s is shorter than 1s, the shortest a grant can live", a);
        return false;
    }
    uint64_t max_bytes = p->max_bytes ? p->max_bytes : route->max_bytes;
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
    if (p->grant == TASK_GRANT_PRESIGNED && p->no_post && p->key_count == 0) {
        snprintf(detail, detail_len, "no keys and no POST policy: the task could not receive anything");
        return false;
    }
    if (p->reference_count > TASK_MAX_REFERENCE_KEYS) {
        snprintf(detail, detail_len, "%zu reference keys; at most %d", p->reference_count, TASK_MAX_REFERENCE_KEYS);
        return false;
    }
    for (size_t i = 0; i < p->reference_count; i++) {
        const char *key = p->reference[i];
        if (!route->has_reference) {
            snprintf(detail, detail_len, "route %s has no reference data (no \"reference\" in its configuration)",
                     route->name);
            return false;
        }
        if (key == NULL || !reference_allowed(route, key)) {
            printable(key ? key : "", shown);
            snprintf(detail, detail_len, "reference[%zu]: \"%s\" is not in route %s's reference allowlist", i, shown,
                     route->name);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->reference[j], key) == 0) {
                snprintf(detail, detail_len, "reference[%zu]: the same key as reference[%zu]", i, j);
                return false;
            }
        }
    }
    *route_out = route;
    *ttl_out = ttl;
    *max_bytes_out = max_bytes;
    return true;
}

/* The task's manifest, from the request (already checked). */
static bool make_manifest(struct open_req *o, const task_open_params *params, const route_info *route, uint64_t ttl,
                          uint64_t max_bytes, task_outcome *outcome, char *detail, size_t len)
{
    char id[SL_TASK_ID_LEN + 1];
    int64_t now = sl_time_now_ms();
    *outcome = TASK_OUTCOME_INTERNAL;
    if (sl_failed(task_id_generate(id)) ||
        sl_failed(task_manifest_init(&o->m, id, route->name, o->actor, now, now + (int64_t)ttl, max_bytes))) {
        snprintf(detail, len, "the task could not be made: %s", sl_error_detail());
        return false;
    }
    o->m.limits.max_objects = params->max_objects;
    *outcome = TASK_OUTCOME_BAD_REQUEST;
    for (size_t i = 0; i < params->key_count; i++) {
        if (sl_failed(task_manifest_add_key(&o->m, params->keys[i].name, params->keys[i].has_size,
                                            params->keys[i].size))) {
            snprintf(detail, len, "keys[%zu]: %s", i, sl_error_detail());
            return false;
        }
    }
    if (params->name_pattern != NULL && sl_failed(task_manifest_set_pattern(&o->m, params->name_pattern))) {
        snprintf(detail, len, "name_pattern: %s", sl_error_detail());
        return false;
    }
    o->refs = sl_calloc(params->reference_count ? params->reference_count : 1, sizeof(char *));
    for (size_t i = 0; i < params->reference_count; i++) o->refs[o->ref_count++] = sl_strdup(params->reference[i]);
    return true;
}

sl_result task_registry_open(task_registry *r, const task_open_params *params, const char *actor, task_open_fn *done,
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
        answer_open_failure(r, done, user, outcome, detail);
        return SL_SUCCESS;
    }
    const char *unavailable = NULL;
    if (!r->have_grants) unavailable = "no grant identity is configured (grants.credentials): tasks cannot be opened";
    else if (params->grant == TASK_GRANT_STS && r->sts == NULL)
        unavailable = "STS is not configured (grants.sts): tasks cannot get credentials";
    else if (r->broken) unavailable = "the audit log has failed: no task can be opened until it is fixed";
    else if (r->client_gone) unavailable = "the S3 client is shutting down";
    if (unavailable != NULL) {
        answer_open_failure(r, done, user, TASK_OUTCOME_UNAVAILABLE, unavailable);
        return SL_SUCCESS;
    }
    struct open_req *o = sl_calloc(1, sizeof(*o));
    o->base.abandon = open_abandon;
    o->base.release = open_release;
    o->r = r;
    o->done = done;
    o->user = user;
    o->actor = sl_strdup(actor);
    o->post = !params->no_post;
    o->ttl_ms = ttl;
    o->grant = sl_calloc(1, sizeof(*o->grant));
    o->grant->kind = params->grant;
    if (!make_manifest(o, params, route, ttl, max_bytes, &outcome, detail, sizeof(detail))) {
        answer_open_failure(r, done, user, outcome, detail);
        open_release(&o->base);
        return SL_SUCCESS;
    }
    pending_add(r, &o->base);
    if (params->grant == TASK_GRANT_PRESIGNED) {
        if (sl_failed(grants_sign_presigned(r, route, &o->m, o->post, o->grant)) ||
            sl_failed(grants_sign_reference(r, route, &o->m, (const char *const *)o->refs, o->ref_count, o->grant))) {
            snprintf(detail, sizeof(detail), "the grants could not be signed: %s", sl_error_detail());
            open_fail(o, TASK_OUTCOME_INTERNAL, detail);
            return SL_SUCCESS;
        }
        write_manifest(o);
        return SL_SUCCESS;
    }
    /* STS: the reference keys go into the session policy; the credentials are asked for
     * first */
    o->grant->endpoint = sl_strdup("");
    sl_buf endpoint = { 0 };
    if (sl_ok(sl_buf_appendf(&endpoint, "%s://%s", r->cfg->scheme, r->cfg->host))) {
        sl_free(o->grant->endpoint);
        o->grant->endpoint = sl_buf_steal(&endpoint);
    }
    sl_buf_clean_up(&endpoint);
    o->grant->region = sl_strdup(r->cfg->region);
    if (sl_failed(grants_sign_reference(r, route, &o->m, (const char *const *)o->refs, o->ref_count, o->grant))) {
        snprintf(detail, sizeof(detail), "the reference grant could not be made: %s", sl_error_detail());
        open_fail(o, TASK_OUTCOME_INTERNAL, detail);
        return SL_SUCCESS;
    }
    if (sl_failed(grants_assume_role(r, route, &o->m, (const char *const *)o->refs, o->ref_count, sts_granted, o))) {
        snprintf(detail, sizeof(detail), "the task's credentials could not be asked for: %s", sl_error_detail());
        open_fail(o, sl_error_last() == SL_ERR_LIMIT ? TASK_OUTCOME_BAD_REQUEST : TASK_OUTCOME_UNAVAILABLE, detail);
        return SL_SUCCESS;
    }
    o->base.io++;
    r->io++;
    return SL_SUCCESS;
}
