/*
 * recheck.c — re-checks of artifacts waiting for a decision: when a reload changes the
 * rule or signature set that judges their route (pipeline_recheck_waiting), and when an
 * operator asks for one (pipeline_recheck). A re-check reads the quarantine copy again
 * (If-Match its ETag) through the same content checks as a first check (checks.h),
 * under the configuration in force now; the findings the manifest does not hold yet are
 * added to it with the new set's version (checked_with), and a failure among them blocks
 * the artifact (in_review -> blocked, through the transitions table) as the gate blocks
 * a first check that fails. A re-check that cannot finish (the copy cannot be read, the
 * bytes are not those checked, a check errs) never passes: the artifact stays in review
 * with an error finding, and its checked_with stays as it was, so the next reload tries
 * again. The manifest is stored with If-Match (applied again to the manifest as it now
 * is when it changed meanwhile); each re-check is audited ("recheck": the old and new
 * set versions and the findings added, which the checks have redacted already).
 *
 * The reload's batch lists the quarantine prefix for ids and re-checks them one at a
 * time (a reload never floods the server or the thread pool); artifacts whose manifest
 * already names the set in force are skipped.
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/timefmt.h"

#define RECHECK_TRIES 3 /* applications over a manifest that changed meanwhile */

struct recheck {
    pipeline *p;
    config_ref *cfg;
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *actor;
    bool only_changed;         /* skip an artifact whose checked_with names the set in force */
    unsigned tries;
    /* the scan */
    bool scanned;              /* the bytes were read and checked (or could not be) */
    bool complete;             /* every byte was read and checked */
    s3_get_object *get;
    content_check *check;
    bool check_aborted;
    bool cancelled;            /* the daemon stops: nothing more is done */
    findings found;
    char sha256[65];
    char *why_unread;
    /* the outcome */
    artifact_manifest *m;
    char *etag;                /* the manifest's, for If-Match */
    char *old_version, *new_version;
    findings added;
    bool blocked;
    pipeline_recheck_fn *done;
    void *user;
};

static void recheck_answer(struct recheck *t, pipeline_recheck_outcome outcome, const char *detail)
{
    pipeline_recheck_report report = { .outcome = outcome, .detail = detail, .id = t->id,
                                       .state = t->blocked ? ARTIFACT_BLOCKED : ARTIFACT_IN_REVIEW,
                                       .added = &t->added, .old_version = t->old_version,
                                       .new_version = t->new_version };
    if (t->done) t->done(t->user, &report);
    config_ref_drop(t->cfg);
    manifest_store_release(t->m);
    findings_clean_up(&t->found);
    findings_clean_up(&t->added);
    sl_free(t->actor);
    sl_free(t->why_unread);
    sl_free(t->etag);
    sl_free(t->old_version);
    sl_free(t->new_version);
    sl_free(t);
}

static void recheck_load(struct recheck *t);

/* ---- the audit record and the manifest ---- */

static bool audit_recheck(struct recheck *t)
{
    json_t *d = json_object(), *list = json_array();
    for (size_t i = 0; list != NULL && i < t->added.count; i++) {
        const artifact_finding *f = &t->added.items[i];
        json_t *o = json_object();
        json_put(o, "check", f->check);
        json_put(o, "verdict", finding_verdict_name(f->verdict));
        json_put(o, "detail", f->detail);
        json_array_append_new(list, o);
    }
    json_put(d, "old_version", t->old_version ? t->old_version : "");
    json_put(d, "new_version", t->new_version);
    json_put(d, "outcome", t->blocked ? "blocked" : "in_review");
    json_object_set_new(d, "findings", list);
    bool ok = d != NULL && record_change(t->p, "recheck", t->id, t->actor, -1, -1, d);
    json_decref(d);
    if (ok && t->blocked) {
        const char *event = NULL;
        (void)artifact_transition_allowed(ARTIFACT_IN_REVIEW, ARTIFACT_BLOCKED, &event);
        ok = record_change(t->p, event, t->id, t->actor, ARTIFACT_IN_REVIEW, ARTIFACT_BLOCKED, NULL);
    }
    return ok;
}

static void recheck_saved(void *user, const s3_result *r, const char *etag)
{
    (void)etag;
    struct recheck *t = user;
    if (r->error == SL_ERR_CANCELLED) {
        recheck_answer(t, PIPELINE_RECHECK_STOPPED, "the daemon is stopping: the re-check may not be stored");
        return;
    }
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_PRECONDITION_FAILED && t->tries < RECHECK_TRIES) {
        recheck_load(t); /* changed meanwhile (a decision, another re-check): apply to it as it is now */
        return;
    }
    if (r->error != SL_OK) {
        recheck_answer(t, PIPELINE_RECHECK_STORE_FAILED, r->detail);
        return;
    }
    if (!audit_recheck(t)) {
        recheck_answer(t, PIPELINE_RECHECK_AUDIT_FAILED, "the re-check is stored but could not be audited; the daemon stops");
        return;
    }
    sl_log(SL_LOG_INFO, "recheck", "artifact", t->id, "actor", t->actor, "outcome", t->blocked ? "blocked" : "in_review",
           "new_version", t->new_version, NULL);
    recheck_answer(t, PIPELINE_RECHECK_DONE, t->blocked ? "a new finding fails: blocked" : "checked again: still in review");
}

static bool manifest_has(const artifact_manifest *m, const artifact_finding *f)
{
    for (size_t i = 0; i < m->finding_count; i++)
        if (m->findings[i].verdict == f->verdict && strcmp(m->findings[i].check, f->check) == 0 &&
            strcmp(m->findings[i].detail ? m->findings[i].detail : "", f->detail ? f->detail : "") == 0)
            return true;
    return false;
}

/* What the re-check found, as findings: its checks', or one error saying why not. */
static sl_result result_findings(struct recheck *t, const artifact_manifest *m, findings *out)
{
    if (!t->complete)
        return findings_add(out, "recheck", FINDING_ERROR, "the re-check could not finish: %s",
                            t->why_unread ? t->why_unread : "the bytes could not be read");
    if (m->sha256[0] != '\0' && strcmp(m->sha256, t->sha256) != 0)
        return findings_add(out, "recheck", FINDING_ERROR,
                            "the quarantine copy is not the bytes that were checked (SHA-256 %s, checked %s)",
                            t->sha256, m->sha256);
    for (size_t i = 0; i < t->found.count; i++) {
        const artifact_finding *f = &t->found.items[i];
        GUARD(findings_add(out, f->check, f->verdict, "%s", f->detail ? f->detail : ""));
    }
    return SL_SUCCESS;
}

/* Adds what the manifest does not hold yet; a new failure blocks, as at the gate. */
static sl_result apply(struct recheck *t, artifact_manifest *m, const sl_config_route *route)
{
    findings now = { 0 };
    sl_result r = result_findings(t, m, &now);
    findings_clean_up(&t->added);
    t->blocked = false;
    for (size_t i = 0; sl_ok(r) && i < now.count; i++) {
        const artifact_finding *f = &now.items[i];
        if (manifest_has(m, f)) continue;
        r = artifact_manifest_add_finding(m, f->check, f->verdict, f->detail);
        if (sl_ok(r)) r = findings_add(&t->added, f->check, f->verdict, "%s", f->detail ? f->detail : "");
        t->blocked = t->blocked || f->verdict == FINDING_FAIL;
    }
    bool clean = t->complete && findings_worst(&now) != FINDING_ERROR;
    if (sl_ok(r) && clean) r = set_checked_with(m, &route->checks);
    if (sl_ok(r) && t->blocked)
        r = artifact_manifest_transition(m, ARTIFACT_BLOCKED, sl_time_now_ms(), t->actor,
                                         "a re-check with new rules or signatures found a failure");
    findings_clean_up(&now);
    return r;
}

/* ---- the scan of the quarantine copy ---- */

static void scan_resume(void *user)
{
    struct recheck *t = user;
    if (t->get) s3_get_object_resume(t->get);
}

static void scan_headers(void *user, const s3_object_info *info)
{
    struct recheck *t = user;
    const sl_config_route *route = sl_config_route_by_name(t->cfg->config, t->m->route);
    content_check_params params = {
        .rules = &route->checks,
        .magic = t->p->opt.magic,
        .name = sl_cursor_from_cstr(t->m->name),
        .declared_type = info->content_type,
        .expected_size = info->has_size ? info->size : 0,
        .resume = scan_resume,
        .user = t,
    };
    t->check = content_check_new(t->p->loop, &params);
}

static s3_http_body_action scan_chunk(void *user, const uint8_t *data, size_t len)
{
    struct recheck *t = user;
    if (t->check == NULL) return S3_HTTP_BODY_ABORT;
    s3_http_body_action action = content_check_feed(t->check, data, len);
    if (action == S3_HTTP_BODY_ABORT) t->check_aborted = true; /* a limit: the finding says so */
    return action;
}

/* Stores the manifest with what the re-check found (If-Match the ETag it was read with). */
static void recheck_store(struct recheck *t)
{
    const sl_config_route *route = sl_config_route_by_name(t->cfg->config, t->m->route);
    manifest_store store = pipeline_store(t->p, t->cfg);
    t->tries++;
    sl_result r = apply(t, t->m, route);
    if (sl_ok(r)) r = manifest_store_save(&store, t->m, t->etag, recheck_saved, t);
    if (sl_failed(r)) recheck_answer(t, PIPELINE_RECHECK_STORE_FAILED, sl_error_detail());
}

static void scan_done(void *user, const content_result *result)
{
    struct recheck *t = user;
    t->scanned = true;
    if (t->cancelled) {
        recheck_answer(t, PIPELINE_RECHECK_STOPPED, "the daemon is stopping: the re-check did not finish");
        return;
    }
    for (size_t i = 0; t->complete && result != NULL && i < result->findings->count; i++) {
        const artifact_finding *f = &result->findings->items[i];
        if (sl_failed(findings_add(&t->found, f->check, f->verdict, "%s", f->detail ? f->detail : ""))) {
            t->complete = false;
            sl_free(t->why_unread);
            t->why_unread = sl_strdup_printf("its findings could not be kept: %s", sl_error_detail());
        }
    }
    if (result != NULL) snprintf(t->sha256, sizeof(t->sha256), "%s", result->sha256);
    recheck_store(t);
}

static void scan_read(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    struct recheck *t = user;
    t->get = NULL;
    content_check *check = t->check;
    t->check = NULL;
    t->cancelled = r->error == SL_ERR_CANCELLED && !t->check_aborted;
    t->complete = r->error == SL_OK || (r->error == SL_ERR_CANCELLED && t->check_aborted);
    if (!t->complete) t->why_unread = sl_strdup_printf("the quarantine copy could not be read: %s", r->detail);
    if (check == NULL) {
        if (t->complete) t->why_unread = sl_strdup("the content checks did not start");
        t->complete = false;
        scan_done(t, NULL);
        return;
    }
    content_check_finish(check, r->error == SL_OK, r->error == SL_OK ? NULL : "the read did not finish", scan_done, t);
}

static void scan_start(struct recheck *t)
{
    const sl_config *c = t->cfg->config;
    if (t->m->quarantine_key == NULL) {
        t->why_unread = sl_strdup("the manifest names no quarantine copy");
        scan_done(t, NULL);
        return;
    }
    s3_get_params params = { .if_match = sl_cursor_from_cstr(t->m->quarantine_etag ? t->m->quarantine_etag : "") };
    if (sl_failed(s3_get_object_stream(t->p->opt.client, sl_cursor_from_cstr(c->buckets.quarantine),
                                       sl_cursor_from_cstr(t->m->quarantine_key), &params, scan_headers, scan_chunk,
                                       scan_read, t, &t->get))) {
        t->why_unread = sl_strdup_printf("the quarantine copy could not be read: %s", sl_error_detail());
        scan_done(t, NULL);
    }
}

/* ---- the manifest ---- */

static void recheck_loaded(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    struct recheck *t = user;
    manifest_store_release(t->m);
    t->m = m;
    if (r->error == SL_ERR_CANCELLED) {
        recheck_answer(t, PIPELINE_RECHECK_STOPPED, "the daemon is stopping: the re-check did not start");
        return;
    }
    if (r->error == SL_ERR_S3 && (r->code == S3_ERROR_NO_SUCH_KEY || r->status == 404)) {
        recheck_answer(t, PIPELINE_RECHECK_UNKNOWN, "no artifact with this id waits or ended outside trusted");
        return;
    }
    if (r->error != SL_OK) {
        recheck_answer(t, PIPELINE_RECHECK_STORE_FAILED, r->detail);
        return;
    }
    sl_free(t->etag);
    t->etag = sl_strdup(etag);
    if (m->state != ARTIFACT_IN_REVIEW) {
        char *why = sl_strdup_printf("the artifact is %s: only an artifact waiting for a decision is checked again",
                                     artifact_state_name(m->state));
        recheck_answer(t, PIPELINE_RECHECK_NOT_IN_REVIEW, why);
        sl_free(why);
        return;
    }
    const sl_config_route *route = sl_config_route_by_name(t->cfg->config, m->route);
    if (route == NULL) {
        recheck_answer(t, PIPELINE_RECHECK_NO_ROUTE, "the artifact's route is not in the configuration in force");
        return;
    }
    if (t->scanned) {
        recheck_store(t); /* the manifest changed meanwhile: the same findings, applied to it as it is now */
        return;
    }
    sl_buf v = { 0 };
    if (sl_failed(checks_set_version(&route->checks, &v))) {
        sl_buf_clean_up(&v);
        recheck_answer(t, PIPELINE_RECHECK_STORE_FAILED, sl_error_detail());
        return;
    }
    t->new_version = sl_strdup(sl_buf_cstr(&v));
    sl_buf_clean_up(&v);
    t->old_version = sl_strdup(m->checked_with ? m->checked_with : "");
    if (t->only_changed && strcmp(t->old_version, t->new_version) == 0) {
        recheck_answer(t, PIPELINE_RECHECK_UNCHANGED, "checked with the set in force already");
        return;
    }
    scan_start(t);
}

static void recheck_load(struct recheck *t)
{
    manifest_store store = pipeline_store(t->p, t->cfg);
    if (sl_failed(manifest_store_load(&store, t->id, recheck_loaded, t)))
        recheck_answer(t, PIPELINE_RECHECK_STORE_FAILED, sl_error_detail());
}

static sl_result recheck_start(pipeline *p, const char *id, const char *actor, bool only_changed,
                               pipeline_recheck_fn *done, void *user)
{
    ENSURE(!p->broken, SL_ERR_STATE, "the daemon stopped making changes (the audit log failed)");
    ENSURE(!p->stopping, SL_ERR_STATE, "the daemon is stopping");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    ENSURE(actor != NULL && actor[0] != '\0', SL_ERR_INVALID_ARGUMENT, "a re-check needs an actor");
    struct recheck *t = sl_calloc(1, sizeof(*t));
    t->p = p;
    t->cfg = config_ref_take(p->cfg);
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->actor = sl_strdup(actor);
    t->only_changed = only_changed;
    t->done = done;
    t->user = user;
    recheck_load(t);
    return SL_SUCCESS;
}

sl_result pipeline_recheck(pipeline *p, const char *id, const char *operator_name, pipeline_recheck_fn *done,
                           void *user)
{
    return recheck_start(p, id, operator_name, false, done, user);
}

/* ---- a reload's batch: every artifact in quarantine, one at a time ---- */

struct batch {
    pipeline *p;
    config_ref *cfg;
    char **ids;
    size_t count, next;
    sl_buf token;
    unsigned rechecked, blocked, failed;
};

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->count; i++) sl_free(b->ids[i]);
    sl_free(b->ids);
    sl_buf_clean_up(&b->token);
    config_ref_drop(b->cfg);
    sl_free(b);
}

static void batch_next(struct batch *b);

static void batch_one_done(void *user, const pipeline_recheck_report *report)
{
    struct batch *b = user;
    if (report->outcome == PIPELINE_RECHECK_STOPPED) { /* the pipeline may be gone */
        sl_log(SL_LOG_INFO, "recheck_stopped", "detail", "the daemon stops: the rest is checked again at the next reload",
               NULL);
        batch_free(b);
        return;
    }
    if (report->outcome == PIPELINE_RECHECK_DONE) b->rechecked++;
    if (report->outcome == PIPELINE_RECHECK_DONE && report->state == ARTIFACT_BLOCKED) b->blocked++;
    if (report->outcome == PIPELINE_RECHECK_STORE_FAILED || report->outcome == PIPELINE_RECHECK_AUDIT_FAILED) {
        b->failed++;
        sl_log(SL_LOG_WARN, "recheck_failed", "artifact", report->id, "detail", report->detail, NULL);
    }
    batch_next(b);
}

static void batch_next(struct batch *b)
{
    while (b->next < b->count) {
        const char *id = b->ids[b->next++];
        if (sl_ok(recheck_start(b->p, id, "mover", true, batch_one_done, b))) return;
        sl_log(SL_LOG_WARN, "recheck_failed", "artifact", id, "detail", sl_error_detail(), NULL);
        sl_error_clear();
        if (b->p->stopping || b->p->broken) break;
    }
    char n[3][24];
    snprintf(n[0], sizeof(n[0]), "%u", b->rechecked);
    snprintf(n[1], sizeof(n[1]), "%u", b->blocked);
    snprintf(n[2], sizeof(n[2]), "%u", b->failed);
    sl_log(SL_LOG_INFO, "recheck_done", "rechecked", n[0], "blocked", n[1], "failed", n[2], NULL);
    batch_free(b);
}

/* The id in a quarantine key q/<route>/<task>/<id>/<name>, or false. */
static bool id_of_key(sl_cursor key, char out[SL_ARTIFACT_ID_LEN + 1])
{
    quarantine_key_parts parts;
    if (sl_failed(quarantine_key_parse(key, &parts)) || parts.artifact_id.len != SL_ARTIFACT_ID_LEN) {
        sl_error_clear();
        return false;
    }
    memcpy(out, parts.artifact_id.ptr, SL_ARTIFACT_ID_LEN);
    out[SL_ARTIFACT_ID_LEN] = '\0';
    return true;
}

static void batch_add(struct batch *b, const char *id)
{
    if (b->count > 0 && strcmp(b->ids[b->count - 1], id) == 0) return; /* one artifact's keys are listed together */
    b->ids = sl_realloc(b->ids, (b->count + 1) * sizeof(*b->ids));
    b->ids[b->count++] = sl_strdup(id);
}

static void batch_list(struct batch *b);

static void batch_listed(void *user, const s3_result *r, const s3_list_result *list)
{
    struct batch *b = user;
    if (r->error == SL_ERR_CANCELLED || (r->error == SL_OK && b->p->stopping)) { /* the pipeline may be gone */
        batch_free(b);
        return;
    }
    if (r->error != SL_OK) {
        sl_log(SL_LOG_WARN, "recheck_failed", "detail", r->detail, "action", "the waiting artifacts are checked again at the next reload or by sluice-review recheck", NULL);
        batch_free(b);
        return;
    }
    for (size_t i = 0; i < list->object_count; i++) {
        char id[SL_ARTIFACT_ID_LEN + 1];
        if (id_of_key(sl_cursor_from_buf(&list->objects[i].key), id)) batch_add(b, id);
    }
    b->token.len = 0;
    if (list->is_truncated && sl_ok(sl_buf_append(&b->token, list->next_continuation_token.data,
                                                  list->next_continuation_token.len))) {
        batch_list(b);
        return;
    }
    batch_next(b);
}

static void batch_list(struct batch *b)
{
    s3_list_params params = { .prefix = sl_cursor_from_cstr("q/"), .continuation_token = sl_cursor_from_buf(&b->token) };
    if (sl_failed(s3_list_objects_v2(b->p->opt.client, sl_cursor_from_cstr(b->cfg->config->buckets.quarantine),
                                     &params, batch_listed, b))) {
        sl_log(SL_LOG_WARN, "recheck_failed", "detail", sl_error_detail(), NULL);
        batch_free(b);
    }
}

void pipeline_recheck_waiting(pipeline *p)
{
    if (p->broken || p->stopping) return;
    struct batch *b = sl_calloc(1, sizeof(*b));
    b->p = p;
    b->cfg = config_ref_take(p->cfg);
    sl_log(SL_LOG_INFO, "recheck_started", "detail", "the rule or signature set changed: artifacts in review are checked again",
           NULL);
    batch_list(b);
}
