/*
 * executor.c — runs the protocol of state/protocol.h: an artifact is always at one row;
 * executor_run enters the row's state (recording the transition), checks its skip
 * condition and starts its one request (the row functions live in rows_*.c);
 * executor_advance takes the request's outcome, looks up the table's entry for
 * (row, outcome) and goes where it says — another row, a retry of this one after a
 * backoff while the artifact's time budget lasts, or an end.
 *
 * The rules the table relies on and this file keeps:
 *   - nothing changes state anywhere else: entering a row records its state through
 *     record_move (the transitions table of artifact.h, then the audit log);
 *   - a (row, outcome) the table does not list is a bug: logged, and the artifact is
 *     left where its bytes are;
 *   - a request cancelled because the daemon stops, or any row while the audit log is
 *     broken, leaves the artifact where its bytes are (the next start resumes it);
 *   - ending an artifact never starts the next one from inside: it asks the scheduler.
 */
#include "pipeline/executor_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/timefmt.h"

/* ---- classification of S3 answers ---- */

protocol_outcome classify(const s3_result *r)
{
    if (r->error == SL_OK) return OUT_OK;
    if (r->indefinite) return OUT_INDEFINITE;
    if (r->error == SL_ERR_S3) {
        if (r->status == 404 || r->code == S3_ERROR_NO_SUCH_KEY || r->code == S3_ERROR_NO_SUCH_VERSION)
            return OUT_ABSENT;
        if (r->status == 412 || r->code == S3_ERROR_PRECONDITION_FAILED) return OUT_CONFLICT;
        if (r->status >= 500 || r->code == S3_ERROR_SLOW_DOWN || r->code == S3_ERROR_REQUEST_TIMEOUT)
            return OUT_INDEFINITE; /* throttled: nothing happened, try again later */
        return OUT_REFUSED;
    }
    if (r->error == SL_ERR_TIMEOUT || r->error == SL_ERR_CONNECTION) return OUT_INDEFINITE;
    return OUT_REFUSED;
}

bool abandoned(artifact *a, const s3_result *r)
{
    a->requests += r->attempts;
    if (r->error != SL_ERR_CANCELLED && !a->p->broken) return false;
    log_artifact(SL_LOG_INFO, "abandoned", a, "stopped mid-step; resumed from what S3 shows at the next start");
    artifact_end(a, END_LEAVE);
    return true;
}

void advance_s3(artifact *a, const s3_result *r)
{
    if (abandoned(a, r)) return;
    executor_advance(a, classify(r), r->detail);
}

/* ---- starting an artifact ---- */

static artifact *artifact_new(pipeline *p, queued *q)
{
    artifact *a = sl_calloc(1, sizeof(*a));
    a->p = p;
    a->cfg = config_ref_take(q->cfg);
    a->route = &q->cfg->config->routes[q->route];
    memcpy(a->id, q->id, sizeof(a->id));
    a->state = ARTIFACT_STAGED;
    a->verdict = V_NONE;
    a->outcome = -1;
    a->size = q->size;
    a->modified_ms = q->modified_ms;
    a->next = p->artifacts;
    if (p->artifacts) p->artifacts->prev = a;
    p->artifacts = a;
    p->in_flight++;
    p->stats.started++;
    return a;
}

/* The task and name of a staging key (task "" when the key names none: admission then
 * rejects it with a finding). */
static void split_staging(artifact *a)
{
    staging_key_parts parts;
    if (sl_ok(staging_key_split(sl_cursor_from_cstr(a->staging_key), sl_cursor_from_cstr(a->route->staging_prefix),
                                &parts))) {
        a->task = sl_cursor_dup(parts.task);
        a->name = sl_cursor_dup(parts.name);
        return;
    }
    sl_error_clear();
    size_t prefix = strlen(a->route->staging_prefix);
    a->task = sl_strdup("");
    a->name = sl_strdup(strlen(a->staging_key) > prefix ? a->staging_key + prefix : a->staging_key);
}

/* Builds <trusted_prefix><task>/<name> and q/<route>/<task>/<id>/<name> when the layout
 * can hold them (both may stay NULL: admission says why). */
void build_keys(artifact *a)
{
    if (a->task == NULL || a->task[0] == '\0') return;
    sl_buf key = { 0 };
    if (a->trusted_key == NULL && sl_ok(sl_buf_appendf(&key, "%s%s/%s", a->route->trusted_prefix, a->task, a->name)) &&
        key.len <= S3_MAX_KEY_BYTES)
        a->trusted_key = sl_buf_steal(&key);
    sl_buf_clean_up(&key);
    if (a->quarantine_key == NULL &&
        sl_ok(quarantine_key_build(&key, sl_cursor_from_cstr(a->route->name), sl_cursor_from_cstr(a->task),
                                   sl_cursor_from_cstr(a->id), sl_cursor_from_cstr(a->name))) &&
        key.len <= S3_MAX_KEY_BYTES)
        a->quarantine_key = sl_buf_steal(&key);
    sl_buf_clean_up(&key);
    sl_error_clear();
}

void executor_start(pipeline *p, queued *q)
{
    artifact *a = artifact_new(p, q);
    const sl_config *c = a->cfg->config;
    switch (q->kind) {
    case ENTRY_NEW:
    case ENTRY_SEEN:
        a->staging_key = sl_strdup(q->key);
        a->staging_etag = sl_strdup(q->etag);
        a->staging_version = q->version_id ? sl_strdup(q->version_id) : NULL;
        a->in_place = q->version_id != NULL && p->caps.staging_versioned && c->worker.check_in_place;
        a->resumed = q->kind == ENTRY_SEEN;
        split_staging(a);
        build_keys(a);
        a->row = q->kind == ENTRY_NEW ? PROTOCOL_ENTRY_NEW : PROTOCOL_ENTRY_SEEN;
        break;
    case ENTRY_SWEEP: {
        quarantine_key_parts parts;
        if (sl_failed(quarantine_key_parse(sl_cursor_from_cstr(q->key), &parts))) {
            log_artifact(SL_LOG_WARN, "sweep_unknown_key", a, sl_error_detail());
            queued_free(q);
            artifact_end(a, END_DROP);
            return;
        }
        a->quarantine_key = sl_strdup(q->key);
        a->quarantine_etag = sl_strdup(q->etag);
        a->task = sl_cursor_dup(parts.task);
        a->name = sl_cursor_dup(parts.name);
        /* the staging key it came from: the key rules judge the key the interpreter wrote */
        a->staging_key = sl_strdup_printf("%s%s/%s", a->route->staging_prefix, a->task, a->name);
        a->source_quarantined = true;
        a->resumed = true;
        build_keys(a);
        a->row = PROTOCOL_ENTRY_SWEEP;
        break;
    }
    case ENTRY_KICK:
        a->resumed = true;
        a->source_quarantined = true;
        a->row = PROTOCOL_ENTRY_SWEEP;
        break;
    }
    a->kick = q->kind == ENTRY_KICK;
    a->row_started_ms = uv_now(p->loop);
    queued_free(q);
    executor_run(a);
}

/* ---- running a row ---- */

/* Whether the row's skip condition holds for this artifact. */
static bool skipped(const artifact *a, const protocol_row_info *r)
{
    const pipeline *p = a->p;
    switch (r->skip) {
    case SKIP_NEVER: return false;
    case SKIP_IN_PLACE: return a->in_place;
    case SKIP_SOURCE_QUARANTINED: return a->source_quarantined;
    case SKIP_NOT_KEPT: return a->verdict == ARTIFACT_REJECTED || a->source_quarantined;
    case SKIP_TRUSTED_KNOWN_FREE: return p->caps.copy_if_none_match || a->trusted_free;
    case SKIP_NO_MANIFEST: return a->loaded == NULL;
    case SKIP_RECORDED: {
        /* the manifest's outcome (leftover_record), or the row's own state (promoted, purged) */
        artifact_state s = a->row == ROW_LEFTOVER_RECORD && a->loaded ? a->loaded->state
                           : r->state >= 0                            ? (artifact_state)r->state
                                                                      : ARTIFACT_PROMOTED;
        return audit_ledger_has(p->ledger, a->id, s);
    }
    case SKIP_PURGED: return a->loaded != NULL && a->loaded->state == ARTIFACT_PURGED;
    default: return false;
    }
}

/* Enters the row's state: records the transition (or, for an outcome found in S3 that
 * this run did not make, takes up the state it followed from). */
static bool enter_state(artifact *a, int row_state)
{
    if (row_state == STATE_KEEP) return true;
    artifact_state want = row_state == STATE_VERDICT ? (artifact_state)a->verdict : (artifact_state)row_state;
    if (want == a->state) return true;
    if (want == ARTIFACT_PROMOTED && !artifact_transition_allowed(a->state, want, NULL)) {
        /* found in trusted: the copy that made it was this artifact's promotion */
        a->state = ARTIFACT_PROMOTING;
        return record_move(a, want, "found in trusted with this artifact's id (the commit point)");
    }
    return record_move(a, want, a->verdict_detail);
}

typedef void row_fn(artifact *a);

static row_fn *const row_functions[PROTOCOL_ROW_COUNT] = {
    [ROW_LOOK_MANIFEST] = row_look_manifest,
    [ROW_LOOK_TRUSTED] = row_look_trusted,
    [ROW_ADMIT] = row_admit,
    [ROW_QUARANTINE_COPY] = row_quarantine_copy,
    [ROW_QUARANTINE_LOOK] = row_quarantine_look,
    [ROW_STAGING_DELETE] = row_staging_delete,
    [ROW_CHECK] = row_check,
    [ROW_GATE] = row_gate,
    [ROW_PARK_COPY] = row_quarantine_copy,
    [ROW_PARK_LOOK] = row_quarantine_look,
    [ROW_PARK_MANIFEST] = row_park_manifest,
    [ROW_PARK_MANIFEST_LOOK] = row_park_manifest_look,
    [ROW_PARK_RECORD] = row_ok,
    [ROW_PARK_SOURCE_DELETE] = row_staging_delete,
    [ROW_APPROVE] = row_ok,
    [ROW_PROMOTE_HEAD] = row_look_trusted,
    [ROW_PROMOTE_COPY] = row_promote_copy,
    [ROW_PROMOTE_LOOK] = row_look_trusted,
    [ROW_PROMOTED_RECORD] = row_ok,
    [ROW_PROMOTED_MANIFEST] = row_update_manifest,
    [ROW_SOURCE_DELETE] = row_source_delete,
    [ROW_ADOPT_MANIFEST] = row_look_manifest,
    [ROW_LEFTOVER_RECORD] = row_leftover_record,
    [ROW_LEFTOVER_DELETE] = row_staging_delete,
    [ROW_SWEEP_MANIFEST] = row_sweep_manifest,
    [ROW_SWEEP_TRUSTED] = row_look_trusted,
    [ROW_EXPIRE] = row_update_manifest,
    [ROW_PURGE_MANIFEST] = row_update_manifest,
    [ROW_PURGE_RECORD] = row_ok,
    [ROW_PURGE_DELETE] = row_purge_delete,
};

void row_ok(artifact *a) { executor_advance(a, OUT_OK, NULL); }

artifact_source source_of(const artifact *a)
{
    const sl_config *c = a->cfg->config;
    if (a->source_quarantined)
        return (artifact_source){ .bucket = sl_cursor_from_cstr(c->buckets.quarantine),
                                  .key = sl_cursor_from_cstr(a->quarantine_key),
                                  .etag = sl_cursor_from_cstr(a->quarantine_etag) };
    return (artifact_source){ .bucket = sl_cursor_from_cstr(c->buckets.staging),
                              .key = sl_cursor_from_cstr(a->staging_key),
                              .etag = sl_cursor_from_cstr(a->staging_etag),
                              .version_id = sl_cursor_from_cstr(a->staging_version) };
}

void take_manifest(artifact *a, artifact_manifest *m, const char *etag)
{
    manifest_store_release(a->loaded);
    sl_free(a->manifest_etag);
    a->loaded = m;
    a->manifest_etag = sl_strdup(etag);
    /* the findings it holds are the manifest's: what this run finds from now on is added */
    a->loaded_findings = a->findings.count;
}

/* ---- one promotion per trusted key at a time ---- */

static void wake_later(artifact *a);

static bool is_promote_row(protocol_row row)
{
    return row == ROW_PROMOTE_HEAD || row == ROW_PROMOTE_COPY || row == ROW_PROMOTE_LOOK;
}

/* Takes the artifact's trusted key for its promotion; false (and the artifact waits)
 * while another artifact promotes to the same key. */
static bool take_trusted_key(artifact *a)
{
    if (a->holds_key || a->trusted_key == NULL) return true;
    if (!strset_add(&a->p->promoting, sl_cursor_from_cstr(a->trusted_key))) {
        a->next_waiter = a->p->key_waiters;
        a->p->key_waiters = a;
        return false;
    }
    a->holds_key = true;
    return true;
}

static void release_trusted_key(artifact *a)
{
    if (!a->holds_key) return;
    pipeline *p = a->p;
    a->holds_key = false;
    strset_remove(&p->promoting, sl_cursor_from_cstr(a->trusted_key));
    /* wake the first waiter for this key (the others keep waiting for it) */
    for (artifact **w = &p->key_waiters; *w != NULL; w = &(*w)->next_waiter) {
        if (strcmp((*w)->trusted_key, a->trusted_key) != 0) continue;
        artifact *next = *w;
        *w = next->next_waiter;
        next->next_waiter = NULL;
        wake_later(next); /* never from inside another artifact's callback */
        return;
    }
}

void executor_run(artifact *a)
{
    pipeline *p = a->p;
    const protocol_row_info *r = protocol_row_get(a->row);
    if (p->broken) {
        artifact_end(a, END_LEAVE);
        return;
    }
    /* the lock first: promote_head's skip (trusted_known_free) is only true while held */
    if (is_promote_row(a->row) && !take_trusted_key(a)) return; /* runs this row when the key is free */
    if (skipped(a, r)) {
        if (r->skip == SKIP_RECORDED && r->state >= 0) a->state = (artifact_state)r->state; /* recorded before */
        executor_advance(a, OUT_SKIPPED, NULL);
        return;
    }
    if (!enter_state(a, r->state)) {
        artifact_end(a, END_LEAVE);
        return;
    }
    if (sl_log_enabled(SL_LOG_DEBUG)) log_artifact(SL_LOG_DEBUG, "row", a, r->name);
    row_functions[a->row](a);
}

/* ---- advancing ---- */

static void retry_fire(uv_timer_t *t)
{
    artifact *a = t->data;
    if (a->p->stopping) {
        log_artifact(SL_LOG_INFO, "abandoned", a, "stopped while waiting to try again");
        artifact_end(a, END_LEAVE);
        return;
    }
    a->row_attempts++;
    executor_run(a);
}

static void ensure_timer(artifact *a)
{
    if (a->retry_timer != NULL) return;
    a->retry_timer = sl_calloc(1, sizeof(*a->retry_timer));
    uv_timer_init(a->p->loop, a->retry_timer);
    a->retry_timer->data = a;
}

static void woken(uv_timer_t *t)
{
    artifact *a = t->data;
    if (a->p->stopping) {
        artifact_end(a, END_LEAVE);
        return;
    }
    executor_run(a);
}

static void wake_later(artifact *a)
{
    ensure_timer(a);
    uv_timer_start(a->retry_timer, woken, 0, 0);
}

void executor_leave_waiters(pipeline *p)
{
    while (p->key_waiters != NULL) {
        artifact *a = p->key_waiters;
        p->key_waiters = a->next_waiter;
        a->next_waiter = NULL;
        log_artifact(SL_LOG_INFO, "abandoned", a, "stopped while waiting for its trusted key");
        artifact_end(a, END_LEAVE);
    }
}

static void schedule_retry(artifact *a, const char *detail)
{
    pipeline *p = a->p;
    uint64_t now = uv_now(p->loop);
    uint64_t budget = a->cfg->config->s3.retry_budget_ms;
    uint64_t delay = 200u << (a->row_attempts < 5 ? a->row_attempts : 5); /* 200 ms .. 6.4 s */
    delay = delay / 2 + pipeline_jitter(delay / 2);
    if (now - a->row_started_ms + delay > budget) {
        executor_advance(a, OUT_EXHAUSTED, detail);
        return;
    }
    if (a->row_attempts == 0 || sl_log_enabled(SL_LOG_DEBUG))
        log_artifact(SL_LOG_INFO, "retrying", a, detail ? detail : protocol_row_name((int)a->row));
    ensure_timer(a);
    uv_timer_start(a->retry_timer, retry_fire, delay, 0);
}

void executor_advance(artifact *a, protocol_outcome outcome, const char *detail)
{
    const protocol_next_info *n = NULL;
    if (!protocol_next(a->row, outcome, &n)) {
        char why[160];
        snprintf(why, sizeof(why), "the protocol table has no entry for %s/%s", protocol_row_name((int)a->row),
                 protocol_outcome_name(outcome));
        log_artifact(SL_LOG_ERROR, "protocol_gap", a, why);
        artifact_end(a, END_LEAVE);
        return;
    }
    if (n->verdict != V_NONE) {
        a->verdict = n->verdict;
        sl_free(a->verdict_detail);
        a->verdict_detail = sl_strdup(detail && detail[0] ? detail : n->why);
        /* a failure is a finding of its own: what could not be done, and why */
        if (n->verdict == ARTIFACT_FAILED &&
            sl_failed(findings_add(&a->findings, a->row == ROW_CHECK ? "read" : "promote", FINDING_ERROR, "%s",
                                   a->verdict_detail)))
            sl_error_clear();
    }
    if (n->next == RETRY) {
        schedule_retry(a, detail);
        return;
    }
    if (n->next >= (int)PROTOCOL_ROW_COUNT) {
        if (n->next == END_LEAVE || n->next == END_DROP)
            log_artifact(n->next == END_LEAVE ? SL_LOG_INFO : SL_LOG_DEBUG, n->next == END_LEAVE ? "left" : "dropped", a,
                         detail && detail[0] ? detail : n->why);
        artifact_end(a, n->next);
        return;
    }
    if (!is_promote_row((protocol_row)n->next)) release_trusted_key(a);
    a->row = (protocol_row)n->next;
    a->row_started_ms = uv_now(a->p->loop);
    a->row_attempts = 0;
    executor_run(a);
}

/* ---- ending ---- */

static void timer_freed(uv_handle_t *h) { sl_free(h); }

static void finish_stats(artifact *a, int end)
{
    pipeline_stats *s = &a->p->stats;
    if (end == END_LEAVE) {
        s->left++;
        return;
    }
    if (end == END_DROP) {
        s->dropped++;
        return;
    }
    switch (a->outcome) {
    case ARTIFACT_PROMOTED:
        if (a->copied) {
            s->promoted++;
            s->promoted_requests += a->requests;
        }
        log_artifact(SL_LOG_INFO, "promoted", a, a->trusted_key);
        break;
    case ARTIFACT_BLOCKED: s->blocked++; log_artifact(SL_LOG_INFO, "blocked", a, a->verdict_detail); break;
    case ARTIFACT_REJECTED: s->rejected++; log_artifact(SL_LOG_INFO, "rejected", a, a->verdict_detail); break;
    case ARTIFACT_IN_REVIEW: s->in_review++; log_artifact(SL_LOG_INFO, "in_review", a, "waiting for a decision"); break;
    case ARTIFACT_FAILED:
        s->failed++;
        log_artifact(SL_LOG_WARN, "failed", a, "kept in quarantine; an operator may retry it");
        break;
    case ARTIFACT_PURGED: s->purged++; break;
    default: break;
    }
}

void artifact_end(artifact *a, int end)
{
    pipeline *p = a->p;
    if (end == END_DONE && a->state == ARTIFACT_IN_REVIEW && a->verdict == ARTIFACT_IN_REVIEW &&
        a->route->review == SL_REVIEW_HOOK && a->cfg->config->review.hook_command != NULL &&
        findings_worst(&a->findings) == FINDING_PASS && !a->hook_ran) {
        finish_stats(a, end);
        a->hook_ran = true;
        decide_run_hook(a); /* ends the artifact when the hook has answered */
        return;
    }
    if (!a->hook_ran) finish_stats(a, end);
    release_trusted_key(a);
    if (a->prev) a->prev->next = a->next;
    else p->artifacts = a->next;
    if (a->next) a->next->prev = a->prev;
    p->in_flight--;
    if (a->id[0]) {
        watch_note_ended(p, a->id, end == END_LEAVE || a->leftover);
        strset_remove(&p->ids, sl_cursor_from_cstr(a->id));
    }
    if (a->retry_timer) uv_close((uv_handle_t *)a->retry_timer, timer_freed);
    for (size_t i = 0; i < a->event_count; i++) sl_free(a->events[i].detail);
    findings_clean_up(&a->findings);
    manifest_store_release(a->loaded);
    char *strings[] = { a->staging_key, a->staging_etag, a->staging_version, a->task, a->name, a->quarantine_key,
                        a->quarantine_etag, a->trusted_key, a->declared_type, a->verdict_detail, a->manifest_etag, a->read_detail };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) sl_free(strings[i]);
    config_ref_drop(a->cfg);
    sl_free(a);
    pipeline_schedule(p);
    pipeline_maybe_stopped(p);
}
