/*
 * rows_settle.c — the rows that settle an artifact: park (keep the bytes in quarantine,
 * commit the verdict in a manifest created with If-None-Match, then delete the staging
 * version), promote (the copy to trusted with the sluice-* metadata is the commit point;
 * an answer that may or may not have come from a copy that happened is resolved by a
 * look at the trusted key), clean-ups of what a settled artifact left behind, and the
 * sweep of quarantine copies (resume, decided reviews, review_ttl, retention).
 */
#include "pipeline/executor_impl.h"
#include "checks/checks.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/timefmt.h"

static const char *quarantine_bucket(const artifact *a) { return a->cfg->config->buckets.quarantine; }

/* ---- park: the manifest is the commit point of a verdict ---- */

static void park_saved(void *user, const s3_result *r, const char *etag)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    if (r->error == SL_OK) {
        sl_free(a->manifest_etag);
        a->manifest_etag = sl_strdup(etag);
    }
    executor_advance(a, classify(r), r->detail);
}

/* The manifest as it will stand once the verdict is recorded: what happened so far and
 * the verdict's own transition (recorded in the audit log by the next row). */
void row_park_manifest(artifact *a)
{
    artifact_manifest fresh = { 0 };
    const artifact_manifest *built = NULL;
    artifact_manifest copy = { 0 };
    sl_result r = record_manifest(a, &fresh, &built);
    if (sl_ok(r)) r = artifact_manifest_copy(&copy, built);
    if (sl_ok(r))
        r = artifact_manifest_transition(&copy, (artifact_state)a->verdict, sl_time_now_ms(), "mover", a->verdict_detail);
    manifest_store store = pipeline_store(a->p, a->cfg);
    if (sl_ok(r)) r = manifest_store_save(&store, &copy, a->loaded ? a->manifest_etag : NULL, park_saved, a);
    if (sl_failed(r)) {
        log_artifact(SL_LOG_ERROR, "manifest_failed", a, sl_error_detail());
        executor_advance(a, OUT_REFUSED, sl_error_detail());
    }
    artifact_manifest_clean_up(&copy);
    artifact_manifest_clean_up(&fresh);
}

static void park_looked(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    artifact *a = user;
    if (abandoned(a, r)) {
        manifest_store_release(m);
        return;
    }
    if (r->error != SL_OK) {
        executor_advance(a, r->error == SL_ERR_PARSE ? OUT_REFUSED : classify(r), r->detail);
        return;
    }
    bool ours = m->state == (artifact_state)a->verdict && strcmp(m->sha256, a->sha256) == 0;
    take_manifest(a, m, etag);
    executor_advance(a, ours ? OUT_OURS : OUT_CONFLICT, ours ? NULL : "another verdict was committed first");
}

/* PARK_MANIFEST_LOOK: did the manifest write happen, and whose is it? */
void row_park_manifest_look(artifact *a)
{
    manifest_store store = pipeline_store(a->p, a->cfg);
    if (sl_failed(manifest_store_load(&store, a->id, park_looked, a))) executor_advance(a, OUT_REFUSED, sl_error_detail());
}

/* ---- promote ---- */

static void promote_copied(void *user, const s3_result *r, const s3_object_info *info)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    if (r->error != SL_OK) {
        executor_advance(a, classify(r), r->detail);
        return;
    }
    /* A single-request copy keeps the source's ETag; a multipart copy has its own (and
     * s3_copy_object_sized compared the sizes). Anything else is not our bytes. */
    sl_cursor got = s3_etag_unquoted(info->etag), want = s3_etag_unquoted(source_of(a).etag);
    if (sl_cursor_find_byte(got, '-') < 0 && !sl_cursor_eq(got, want)) {
        char *why = sl_strdup_printf("the trusted copy has ETag %.*s, the checked bytes %.*s", (int)got.len,
                                     (const char *)got.ptr, (int)want.len, (const char *)want.ptr);
        executor_advance(a, OUT_REFUSED, why);
        sl_free(why);
        return;
    }
    a->copied = true;
    executor_advance(a, OUT_OK, NULL);
}

/* The time of the artifact's first recorded move into `to` this run, or 0. */
static int64_t time_of(const artifact *a, artifact_state to)
{
    for (size_t i = 0; i < a->event_count; i++)
        if (a->events[i].to == to) return a->events[i].time_ms;
    return 0;
}

/* What the attestation vouches for, from the artifact as it stands: the checks that ran
 * (in the order of their findings), how many findings were not a pass, who decided. */
static sl_result sign_promotion(const artifact *a, const char *media_type, attest_headers *out)
{
    attest_check checks[ATTEST_MAX_CHECKS];
    size_t check_count = 0;
    uint64_t not_passed = 0;
    /* the findings of a reviewed artifact are in its manifest; this run's follow them */
    const artifact_manifest *m = a->loaded;
    size_t from_manifest = m != NULL ? m->finding_count : 0;
    for (size_t i = 0; i < from_manifest + a->findings.count; i++) {
        const artifact_finding *f = i < from_manifest ? &m->findings[i] : &a->findings.items[i - from_manifest];
        if (f->verdict != FINDING_PASS) not_passed++;
        bool seen = false;
        for (size_t k = 0; k < check_count && !seen; k++) seen = sl_cursor_eq_cstr(checks[k].name, f->check);
        /* the rule and signature versions are those this run checked it with; a
         * reviewed artifact's, those its manifest names (checked_with: its first check,
         * or the latest re-check) */
        sl_cursor version = m == NULL ? sl_cursor_from_cstr(checks_version_of(&a->route->checks, f->check))
                                      : checks_version_in(m->checked_with, f->check);
        if (!seen && check_count < ATTEST_MAX_CHECKS)
            checks[check_count++] = (attest_check){ .name = sl_cursor_from_cstr(f->check), .version = version };
    }
    sl_cursor reviewers[ATTEST_MAX_REVIEWERS];
    size_t reviewer_count = 0;
    for (size_t i = 0; m != NULL && i < m->decision_count && reviewer_count < ATTEST_MAX_REVIEWERS; i++)
        if (m->decisions[i].approve) reviewers[reviewer_count++] = sl_cursor_from_cstr(m->decisions[i].reviewer);
    int64_t decided = time_of(a, ARTIFACT_APPROVED);
    for (size_t i = 0; m != NULL && i < m->history_count; i++)
        if (m->history[i].to == ARTIFACT_APPROVED) decided = m->history[i].time_ms;
    attest_facts facts = {
        .trusted_key = sl_cursor_from_cstr(a->trusted_key),
        .sha256 = sl_cursor_from_cstr(a->sha256),
        .media_type = sl_cursor_from_cstr(media_type),
        .artifact = sl_cursor_from_cstr(a->id),
        .task = sl_cursor_from_cstr(a->task),
        .route = sl_cursor_from_cstr(a->route->name),
        .decision = sl_cursor_from_cstr(m != NULL ? "review" : "auto"),
        .staging_key = sl_cursor_from_cstr(a->staging_key ? a->staging_key : a->quarantine_key),
        .checks = checks,
        .check_count = check_count,
        .findings = not_passed,
        .reviewers = reviewers,
        .reviewer_count = reviewer_count,
        .times = { .quarantined_ms = time_of(a, ARTIFACT_QUARANTINED), .checked_ms = time_of(a, ARTIFACT_CHECKING),
                   .decided_ms = decided },
    };
    return attest_sign_promotion(a->p->opt.signer, &facts, out);
}

/* PROMOTE_COPY: the checked bytes (by version, or If-Match their ETag) to trusted, with
 * the metadata that makes them self-describing and the signed attestation (attest.h):
 * no extra request. An attestation that cannot be made fails the promotion, closed. */
void row_promote_copy(artifact *a)
{
    const sl_config *c = a->cfg->config;
    const char *media_type = a->detected[0] ? a->detected : "application/octet-stream";
    attest_headers headers = { 0 };
    if (sl_failed(sign_promotion(a, media_type, &headers))) {
        char *why = sl_strdup_printf("the attestation could not be made: %s", sl_error_detail());
        attest_headers_clean_up(&headers);
        executor_advance(a, OUT_REFUSED, why);
        sl_free(why);
        return;
    }
    s3_copy_params params = {
        .replace_metadata = true,
        .metadata = headers.pairs,
        .metadata_count = headers.count,
        .content_type = sl_cursor_from_cstr(media_type),
        .if_none_match_any = a->p->caps.copy_if_none_match,
    };
    artifact_source src = source_of(a);
    params.source_if_match = src.etag;
    params.source_version_id = src.version_id;
    trusted_key_written(a);
    sl_result started = s3_copy_object_sized(a->p->opt.client, src.bucket, src.key, a->size,
                                             sl_cursor_from_cstr(c->buckets.trusted),
                                             sl_cursor_from_cstr(a->trusted_key), &params, promote_copied, a);
    attest_headers_clean_up(&headers); /* the request holds copies */
    if (sl_failed(started)) executor_advance(a, OUT_REFUSED, sl_error_detail());
}

/* ---- manifest updates (If-Match) ---- */

static void manifest_updated(void *user, const s3_result *r, const char *etag)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    if (r->error != SL_OK) {
        executor_advance(a, classify(r), r->detail);
        return;
    }
    sl_free(a->manifest_etag);
    a->manifest_etag = sl_strdup(etag);
    /* expire is recorded after its commit point, the manifest (purge by its own row) */
    artifact_state to = a->row == ROW_EXPIRE ? ARTIFACT_EXPIRED : a->state;
    if (to != a->state && !record_move(a, to, "no decision within the route's review_ttl")) {
        artifact_end(a, END_LEAVE);
        return;
    }
    executor_advance(a, OUT_OK, NULL);
}

/* PROMOTED_MANIFEST, EXPIRE, PURGE_MANIFEST: the loaded manifest brought up to date
 * (and moved to expired or purged), written over the ETag it was read with. */
void row_update_manifest(artifact *a)
{
    artifact_manifest fresh = { 0 }, copy = { 0 };
    const artifact_manifest *built = NULL;
    sl_result r = a->loaded ? record_manifest(a, &fresh, &built)
                            : sl_error_raise(SL_ERR_STATE, __FILE__, __LINE__, "no manifest to update");
    if (sl_ok(r)) r = artifact_manifest_copy(&copy, built);
    if (sl_ok(r) && a->row == ROW_EXPIRE)
        r = artifact_manifest_transition(&copy, ARTIFACT_EXPIRED, sl_time_now_ms(), "mover",
                                         "no decision within the route's review_ttl");
    if (sl_ok(r) && a->row == ROW_PURGE_MANIFEST)
        r = artifact_manifest_transition(&copy, ARTIFACT_PURGED, sl_time_now_ms(), "mover",
                                         "retention is over: the quarantine copy is deleted");
    manifest_store store = pipeline_store(a->p, a->cfg);
    if (sl_ok(r)) r = manifest_store_save(&store, &copy, a->manifest_etag, manifest_updated, a);
    if (sl_failed(r)) {
        log_artifact(SL_LOG_ERROR, "manifest_failed", a, sl_error_detail());
        executor_advance(a, OUT_REFUSED, sl_error_detail());
    }
    artifact_manifest_clean_up(&copy);
    artifact_manifest_clean_up(&fresh);
}

/* ---- clean-ups ---- */

static void source_deleted(void *user, const s3_result *r)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    protocol_outcome o = classify(r);
    a->leftover = !(o == OUT_OK || o == OUT_ABSENT || o == OUT_CONFLICT);
    if (!a->copied && (o == OUT_OK || o == OUT_ABSENT))
        (void)record_cleanup(a, a->source_quarantined ? "quarantine copy of a promoted artifact deleted"
                                                      : "staging version of a promoted artifact deleted");
    executor_advance(a, o, r->detail);
}

/* SOURCE_DELETE: the promoted bytes' source — the staging version, or the quarantine
 * copy. */
void row_source_delete(artifact *a)
{
    const sl_config *c = a->cfg->config;
    sl_result r;
    if (a->source_quarantined)
        r = s3_delete_object(a->p->opt.client, sl_cursor_from_cstr(c->buckets.quarantine),
                             sl_cursor_from_cstr(a->quarantine_key), (sl_cursor){ 0 }, source_deleted, a);
    else
        r = s3_delete_object_if_match(a->p->opt.client, sl_cursor_from_cstr(c->buckets.staging),
                                      sl_cursor_from_cstr(a->staging_key), sl_cursor_from_cstr(a->staging_version),
                                      a->staging_version ? (sl_cursor){ 0 } : sl_cursor_from_cstr(a->staging_etag),
                                      source_deleted, a);
    if (sl_failed(r)) executor_advance(a, OUT_REFUSED, sl_error_detail());
}

/* LEFTOVER_RECORD: the manifest's outcome, recorded now (the ledger lacks it: the run
 * that committed it stopped before recording it). */
void row_leftover_record(artifact *a)
{
    const artifact_manifest *m = a->loaded;
    if (m == NULL || m->history_count == 0) {
        executor_advance(a, OUT_OK, NULL);
        return;
    }
    const artifact_event *last = &m->history[m->history_count - 1];
    const char *event = NULL;
    (void)artifact_transition_allowed(last->from, last->to, &event);
    json_t *d = json_object();
    json_put(d, "detail", "recorded after a restart: the manifest is the commit point");
    json_put(d, "staging_key", a->staging_key);
    bool ok = record_change(a->p, event, a->id, last->actor, (int)last->from, (int)last->to, d);
    json_decref(d);
    if (!ok) {
        artifact_end(a, END_LEAVE);
        return;
    }
    executor_advance(a, OUT_OK, NULL);
}

/* ---- the sweep ---- */

/* Takes the artifact's facts from its manifest (a quarantine copy with a manifest). */
static bool adopt(artifact *a, artifact_manifest *m, const char *etag)
{
    const sl_config *c = a->cfg->config;
    const sl_config_route *route = sl_config_route_by_name(c, m->route);
    if (route == NULL || m->task == NULL || m->quarantine_key == NULL) {
        manifest_store_release(m);
        return false;
    }
    a->route = route;
    take_manifest(a, m, etag);
    char **fields[] = { &a->task, &a->name, &a->quarantine_key, &a->quarantine_etag, &a->staging_key };
    const char *values[] = { m->task, m->name, m->quarantine_key, m->quarantine_etag, m->staging_key };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (*fields[i] == NULL && values[i] != NULL) *fields[i] = sl_strdup(values[i]);
    }
    if (m->has_size) a->size = m->size;
    snprintf(a->sha256, sizeof(a->sha256), "%s", m->sha256);
    if (m->detected_type) snprintf(a->detected, sizeof(a->detected), "%s", m->detected_type);
    a->source_quarantined = true;
    build_keys(a);
    return true;
}

static void swept(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    artifact *a = user;
    if (abandoned(a, r)) {
        manifest_store_release(m);
        return;
    }
    if (r->error != SL_OK) {
        /* a kick names an id whose manifest must exist: without one there is nothing to do */
        protocol_outcome o = r->error == SL_ERR_PARSE ? OUT_REFUSED : classify(r);
        if (a->kick && o == OUT_ABSENT) o = OUT_REFUSED;
        executor_advance(a, o, r->detail);
        return;
    }
    pipeline *p = a->p;
    if (!adopt(a, m, etag)) {
        log_artifact(SL_LOG_ERROR, "manifest_unusable", a, "the manifest names no configured route, task or quarantine copy");
        executor_advance(a, OUT_REFUSED, "the manifest names no configured route, task or quarantine copy");
        return;
    }
    m = a->loaded;
    int64_t now = sl_time_now_ms();
    int64_t since = m->history_count ? m->history[m->history_count - 1].time_ms : 0;
    int64_t copied = a->modified_ms ? a->modified_ms : since;
    bool old = now - copied >= (int64_t)a->cfg->config->retention.quarantine_ms;
    /* a waiting or final outcome committed (the manifest) but missing from the audit log:
     * a run stopped between the two. Only where the ledger's window reaches back to it:
     * an older one was recorded then, or is beyond what the ledger can tell. */
    bool unrecorded = m->history_count > 0 && !audit_ledger_has(p->ledger, a->id, m->state) &&
                      audit_ledger_covers(p->ledger, since);
    /* as S3 shows it: promoted and purged are recorded from the state before them */
    a->state = m->state;
    if (m->state == ARTIFACT_PROMOTED) a->state = ARTIFACT_PROMOTING;
    if (m->state == ARTIFACT_PURGED && m->history_count > 0) a->state = m->history[m->history_count - 1].from;
    switch (m->state) {
    case ARTIFACT_APPROVED:
    case ARTIFACT_PROMOTING: /* decided: promote (a look at trusted first) */
        executor_advance(a, OUT_DECIDED, NULL);
        return;
    case ARTIFACT_PROMOTED: /* settled: its quarantine copy is a leftover, never promoted or judged again */
        executor_advance(a, OUT_OURS, "the manifest says promoted");
        return;
    case ARTIFACT_QUARANTINED:
        executor_advance(a, OUT_RETRIED, NULL);
        return;
    case ARTIFACT_IN_REVIEW:
        if (now - since >= (int64_t)a->route->review_ttl_ms) {
            executor_advance(a, OUT_IN_REVIEW_DUE, NULL);
            return;
        }
        executor_advance(a, unrecorded ? OUT_UNRECORDED : OUT_WAITING, NULL);
        return;
    case ARTIFACT_PURGED: /* a purge stopped after its commit point: record it if needed, delete the copy */
        executor_advance(a, OUT_RETENTION_OVER, NULL);
        return;
    case ARTIFACT_BLOCKED:
    case ARTIFACT_REJECTED:
    case ARTIFACT_EXPIRED:
        if (old) {
            executor_advance(a, OUT_RETENTION_OVER, NULL);
            return;
        }
        strset_add(&p->settled, sl_cursor_from_cstr(a->id));
        executor_advance(a, unrecorded ? OUT_UNRECORDED : OUT_WAITING, NULL);
        return;
    default:
        strset_add(&p->settled, sl_cursor_from_cstr(a->id));
        executor_advance(a, unrecorded ? OUT_UNRECORDED : OUT_WAITING, NULL);
        return;
    }
}

/* SWEEP_MANIFEST: a quarantine copy with no artifact in flight, or an id a decision
 * names: what does its manifest say? */
void row_sweep_manifest(artifact *a)
{
    manifest_store store = pipeline_store(a->p, a->cfg);
    if (sl_failed(manifest_store_load(&store, a->id, swept, a))) executor_advance(a, OUT_REFUSED, sl_error_detail());
}

static void purge_deleted(void *user, const s3_result *r)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    if (r->error == SL_OK || classify(r) == OUT_ABSENT) strset_remove(&a->p->settled, sl_cursor_from_cstr(a->id));
    executor_advance(a, classify(r), r->detail);
}

/* PURGE_DELETE: retention is over and the manifest says purged: the quarantine copy goes. */
void row_purge_delete(artifact *a)
{
    if (sl_failed(s3_delete_object(a->p->opt.client, sl_cursor_from_cstr(quarantine_bucket(a)),
                                   sl_cursor_from_cstr(a->quarantine_key), (sl_cursor){ 0 }, purge_deleted, a)))
        executor_advance(a, OUT_REFUSED, sl_error_detail());
}
