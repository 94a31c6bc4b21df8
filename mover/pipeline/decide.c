/*
 * decide.c — decisions: a reviewer's (through the API) or the review hook's on an
 * artifact in review, and an operator's retry of a failed artifact. A decision loads the
 * artifact's manifest, applies the review rules (state/review.h), stores the result with
 * If-Match (deciding again on the manifest as it now is when it changed meanwhile),
 * records the decision and the transition it settled in the audit log, and on approval
 * asks the pipeline to look at the artifact at once (its sweep row promotes it).
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pipeline/hook.h"
#include "state/review.h"
#include "util/alloc.h"
#include "util/timefmt.h"

struct decision {
    pipeline *p;
    config_ref *cfg;
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *reviewer, *opener, *reason;
    bool approve;
    char sha256[65];
    unsigned tries;
    review_result result;
    artifact_manifest *m;
    pipeline_decided_fn *done;
    void *user;
};

static void decision_free(struct decision *d)
{
    config_ref_drop(d->cfg);
    sl_free(d->reviewer);
    sl_free(d->opener);
    sl_free(d->reason);
    manifest_store_release(d->m);
    sl_free(d);
}

static void decision_answer(struct decision *d)
{
    if (d->done) d->done(d->user, &d->result, d->m);
    decision_free(d);
}

static void decision_fail(struct decision *d, int status, const char *error, const char *detail)
{
    d->result = (review_result){ .outcome = REVIEW_REFUSED, .status = status, .error = error };
    snprintf(d->result.detail, sizeof(d->result.detail), "%s", detail);
    decision_answer(d);
}

static void decision_load(struct decision *d);

/* Audit: the decision itself, and the transition it settled. */
static bool audit_decision(struct decision *d, artifact_state from)
{
    pipeline *p = d->p;
    json_t *j = json_object();
    json_put(j, "decision", d->approve ? "approve" : "reject");
    json_put(j, "sha256", d->sha256);
    json_put(j, "reason", d->reason);
    json_put(j, "outcome", d->result.outcome == REVIEW_REFUSED ? d->result.error : d->result.detail);
    bool ok = j != NULL && record_change(p, d->result.outcome == REVIEW_REFUSED ? "decision_refused" : "decision",
                                         d->id, d->reviewer, -1, -1, j);
    json_decref(j);
    if (ok && (d->result.outcome == REVIEW_APPROVED || d->result.outcome == REVIEW_REJECTED)) {
        artifact_state to = d->result.outcome == REVIEW_APPROVED ? ARTIFACT_APPROVED : ARTIFACT_REJECTED;
        const char *event = NULL;
        (void)artifact_transition_allowed(from, to, &event);
        ok = record_change(p, event, d->id, d->reviewer, (int)from, (int)to, NULL);
    }
    return ok;
}

static void decision_saved(void *user, const s3_result *r, const char *etag)
{
    (void)etag;
    struct decision *d = user;
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_PRECONDITION_FAILED && d->tries < 3) {
        /* someone changed the manifest meanwhile: decide again on what it is now */
        manifest_store_release(d->m);
        d->m = NULL;
        decision_load(d);
        return;
    }
    if (r->error != SL_OK) {
        decision_fail(d, 503, "store_failed", r->detail);
        return;
    }
    if (!audit_decision(d, ARTIFACT_IN_REVIEW)) {
        decision_fail(d, 503, "audit_failed", "the decision is stored but could not be audited; the daemon stops");
        return;
    }
    sl_log(SL_LOG_INFO, "decision", "artifact", d->id, "reviewer", d->reviewer, "outcome", d->result.detail, NULL);
    if (d->result.outcome == REVIEW_APPROVED) pipeline_kick(d->p, d->id);
    decision_answer(d);
}

static void decision_loaded(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    struct decision *d = user;
    d->m = m;
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY) {
        decision_fail(d, 404, "unknown_artifact", "no artifact with this id waits or ended outside trusted");
        return;
    }
    if (r->error != SL_OK) {
        decision_fail(d, 503, "store_failed", r->detail);
        return;
    }
    const sl_config_route *route = sl_config_route_by_name(d->cfg->config, m->route);
    sl_review_mode mode = route ? route->review : SL_REVIEW_HUMAN;
    artifact_state before = m->state;
    d->result = review_decide(m, mode, d->reviewer, d->opener, d->approve, d->sha256, d->reason, sl_time_now_ms());
    if (d->result.outcome == REVIEW_REFUSED) {
        (void)audit_decision(d, before);
        decision_answer(d);
        return;
    }
    manifest_store store = pipeline_store(d->p, d->cfg);
    char *if_match = sl_strdup(etag);
    d->tries++;
    if (sl_failed(manifest_store_save(&store, m, if_match, decision_saved, d)))
        decision_fail(d, 500, "store_failed", sl_error_detail());
    sl_free(if_match);
}

static void decision_load(struct decision *d)
{
    manifest_store store = pipeline_store(d->p, d->cfg);
    if (sl_failed(manifest_store_load(&store, d->id, decision_loaded, d))) decision_fail(d, 400, "bad_id", sl_error_detail());
}

sl_result pipeline_decide(pipeline *p, const char *id, const char *reviewer, const char *opener, bool approve,
                          const char *sha256, const char *reason, pipeline_decided_fn *done, void *user)
{
    ENSURE(!p->broken, SL_ERR_STATE, "the daemon stopped making changes (the audit log failed)");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    ENSURE(reviewer != NULL && reviewer[0] != '\0', SL_ERR_INVALID_ARGUMENT, "a decision needs a reviewer");
    struct decision *d = sl_calloc(1, sizeof(*d));
    d->p = p;
    d->cfg = config_ref_take(p->cfg);
    snprintf(d->id, sizeof(d->id), "%s", id);
    d->reviewer = sl_strdup(reviewer);
    d->opener = opener ? sl_strdup(opener) : NULL;
    d->reason = reason ? sl_strdup(reason) : NULL;
    d->approve = approve;
    snprintf(d->sha256, sizeof(d->sha256), "%s", sha256 ? sha256 : "");
    d->done = done;
    d->user = user;
    decision_load(d);
    return SL_SUCCESS;
}

/* ---- the hook ---- */

static void hook_answered(void *user, hook_decision decision, const char *reason)
{
    artifact *a = user;
    log_artifact(SL_LOG_INFO, "hook", a, reason);
    if (decision == HOOK_REVIEW) {
        /* not a decision: a person decides; the answer is in the audit log */
        json_t *j = json_object();
        json_put(j, "answer", reason);
        (void)record_change(a->p, "hook_review", a->id, "hook", -1, -1, j);
        json_decref(j);
    } else if (sl_failed(pipeline_decide(a->p, a->id, "hook", NULL, decision == HOOK_APPROVE, a->sha256, reason, NULL,
                                         NULL))) {
        log_artifact(SL_LOG_WARN, "hook_decision_failed", a, sl_error_detail());
    }
    artifact_end(a, END_DONE);
}

void decide_run_hook(artifact *a)
{
    const sl_config *c = a->cfg->config;
    artifact_manifest fresh = { 0 };
    const artifact_manifest *m = NULL;
    sl_buf json = { 0 }, url = { 0 };
    json_t *doc = NULL, *manifest = NULL;
    char *text = NULL;
    bool ok = sl_ok(record_manifest(a, &fresh, &m)) && sl_ok(artifact_manifest_to_json(m, &json)) &&
              sl_ok(s3_client_presign_get(a->p->opt.client, sl_cursor_from_cstr(c->buckets.quarantine),
                                          sl_cursor_from_cstr(a->quarantine_key), 600, &url));
    if (ok) {
        json_error_t e;
        manifest = json_loadb((const char *)json.data, json.len, 0, &e);
        doc = json_object();
        ok = manifest != NULL && doc != NULL && json_object_set_new(doc, "manifest", manifest) == 0;
        manifest = NULL;
        if (ok) {
            json_put(doc, "content_url", sl_buf_cstr(&url));
            json_object_set_new(doc, "content_url_expires_in", json_integer(600));
            text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
            ok = text != NULL;
        }
    }
    /* the hook is told which bytes it judges (the SHA-256 its decision is bound to), and
     * its answer must name them */
    hook_subject subject = { .artifact = a->id, .sha256 = a->sha256 };
    if (ok && sl_ok(hook_run(a->p->loop, c->review.hook_command, &subject, text, c->review.hook_timeout_ms,
                             hook_answered, a))) {
        /* the artifact stays in flight until the hook answers */
    } else {
        log_artifact(SL_LOG_WARN, "hook_failed", a, sl_error_detail());
        artifact_end(a, END_DONE); /* it stays in review: a person decides */
    }
    json_decref(manifest);
    json_decref(doc);
    free(text);
    artifact_manifest_clean_up(&fresh);
    sl_buf_clean_up(&json);
    sl_buf_clean_up(&url);
}

/* ---- an operator's retry of a failed artifact ---- */

struct retry {
    pipeline *p;
    config_ref *cfg;
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *operator_name, *reason;
    unsigned tries;
    pipeline_retry_fn *done;
    void *user;
};

static void retry_answer(struct retry *t, pipeline_retry_outcome outcome, const char *detail)
{
    if (t->done) t->done(t->user, outcome, detail);
    config_ref_drop(t->cfg);
    sl_free(t->operator_name);
    sl_free(t->reason);
    sl_free(t);
}

static void retry_load(struct retry *t);

static void retry_saved(void *user, const s3_result *r, const char *etag)
{
    (void)etag;
    struct retry *t = user;
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_PRECONDITION_FAILED && t->tries < 3) {
        retry_load(t); /* changed meanwhile: look again */
        return;
    }
    if (r->error != SL_OK) {
        retry_answer(t, PIPELINE_RETRY_STORE_FAILED, r->detail);
        return;
    }
    json_t *d = json_object();
    json_put(d, "reason", t->reason);
    bool ok = record_change(t->p, "retry", t->id, t->operator_name, ARTIFACT_FAILED, ARTIFACT_QUARANTINED, d);
    json_decref(d);
    if (!ok) {
        retry_answer(t, PIPELINE_RETRY_AUDIT_FAILED, "the retry is stored but could not be audited; the daemon stops");
        return;
    }
    sl_log(SL_LOG_INFO, "retry", "artifact", t->id, "operator", t->operator_name, NULL);
    pipeline_kick(t->p, t->id);
    retry_answer(t, PIPELINE_RETRY_DONE, "failed -> quarantined: checked again now");
}

static void retry_loaded(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    struct retry *t = user;
    if (r->error == SL_ERR_S3 && (r->code == S3_ERROR_NO_SUCH_KEY || r->status == 404)) {
        retry_answer(t, PIPELINE_RETRY_UNKNOWN, "no artifact with this id waits or ended outside trusted");
        return;
    }
    if (r->error != SL_OK) {
        retry_answer(t, PIPELINE_RETRY_STORE_FAILED, r->detail);
        return;
    }
    if (m->state != ARTIFACT_FAILED) {
        char *why = sl_strdup_printf("the artifact is %s, not failed: only a failed artifact can be retried",
                                     artifact_state_name(m->state));
        manifest_store_release(m);
        retry_answer(t, PIPELINE_RETRY_NOT_FAILED, why);
        sl_free(why);
        return;
    }
    sl_result res = artifact_manifest_transition(m, ARTIFACT_QUARANTINED, sl_time_now_ms(), t->operator_name,
                                                 t->reason ? t->reason : "an operator retries it");
    manifest_store store = pipeline_store(t->p, t->cfg);
    t->tries++;
    if (sl_ok(res)) res = manifest_store_save(&store, m, etag, retry_saved, t);
    manifest_store_release(m);
    if (sl_failed(res)) retry_answer(t, PIPELINE_RETRY_STORE_FAILED, sl_error_detail());
}

static void retry_load(struct retry *t)
{
    manifest_store store = pipeline_store(t->p, t->cfg);
    if (sl_failed(manifest_store_load(&store, t->id, retry_loaded, t)))
        retry_answer(t, PIPELINE_RETRY_STORE_FAILED, sl_error_detail());
}

sl_result pipeline_retry(pipeline *p, const char *id, const char *operator_name, const char *reason,
                         pipeline_retry_fn *done, void *user)
{
    ENSURE(!p->broken, SL_ERR_STATE, "the daemon stopped making changes (the audit log failed)");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    ENSURE(operator_name != NULL && operator_name[0] != '\0', SL_ERR_INVALID_ARGUMENT, "a retry needs an operator");
    struct retry *t = sl_calloc(1, sizeof(*t));
    t->p = p;
    t->cfg = config_ref_take(p->cfg);
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->operator_name = sl_strdup(operator_name);
    t->reason = reason ? sl_strdup(reason) : NULL;
    t->done = done;
    t->user = user;
    retry_load(t);
    return SL_SUCCESS;
}
