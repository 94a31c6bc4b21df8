/*
 * record.c — an artifact's record: every state change goes through the one transitions
 * table (state/artifact.h) and into the audit log as one record, and the ledger notes
 * it (state/ledger.h), so an outcome found again in S3 is recorded once. Clean-ups of a
 * settled artifact's leftovers are audited as clean-ups, not transitions. The manifest
 * of an artifact is built here from what happened to it.
 *
 * A record that cannot be written is a fault of the audit log: the pipeline then stops
 * making changes (pipeline_mark_broken) and says so.
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/timefmt.h"

void log_artifact(sl_log_level level, const char *event, const artifact *a, const char *detail)
{
    sl_log(level, event, "artifact", a->id, "route", a->route->name, "key",
           a->staging_key ? a->staging_key : a->quarantine_key, "detail", detail, NULL);
}

void json_put(json_t *obj, const char *name, const char *value)
{
    if (value == NULL) return;
    json_t *s = json_string(value);
    if (s == NULL) {
        sl_buf hex = { 0 };
        if (sl_ok(sl_buf_append_cstr(&hex, "hex:")) &&
            sl_ok(sl_buf_append_hex(&hex, (const uint8_t *)value, strlen(value))))
            s = json_string(sl_buf_cstr(&hex));
        sl_buf_clean_up(&hex);
    }
    if (s != NULL) json_object_set_new(obj, name, s);
}

void pipeline_mark_broken(pipeline *p)
{
    if (p->broken) return;
    p->broken = true;
    sl_log(SL_LOG_ERROR, "audit_failed", "detail", sl_error_detail(), "action",
           "no further changes are made; fix the audit log and restart", NULL);
}

bool record_change(pipeline *p, const char *event, const char *id, const char *actor, int from, int to, json_t *detail)
{
    audit_record rec = {
        .event = event,
        .artifact = id,
        .from = from >= 0 ? artifact_state_name((artifact_state)from) : NULL,
        .to = to >= 0 ? artifact_state_name((artifact_state)to) : NULL,
        .actor = actor,
        .detail = detail,
    };
    if (sl_failed(audit_log_append(p->opt.audit, &rec))) {
        pipeline_mark_broken(p);
        return false;
    }
    if (to >= 0) audit_ledger_note(p->ledger, id, (artifact_state)to);
    return true;
}

bool record_move(artifact *a, artifact_state to, const char *detail)
{
    const char *event = NULL;
    if (!artifact_transition_allowed(a->state, to, &event)) {
        char why[160];
        snprintf(why, sizeof(why), "%s -> %s is not an allowed transition", artifact_state_name(a->state),
                 artifact_state_name(to));
        log_artifact(SL_LOG_ERROR, "transition_refused", a, why);
        return false;
    }
    json_t *d = json_object();
    json_put(d, "route", a->route->name);
    json_put(d, "staging_key", a->staging_key);
    if (a->state == ARTIFACT_STAGED) {
        json_put(d, "staging_etag", a->staging_etag);
        json_put(d, "staging_version", a->staging_version);
    }
    if (!a->in_place || a->source_quarantined) json_put(d, "quarantine_key", a->quarantine_key);
    if (to == ARTIFACT_PROMOTED || to == ARTIFACT_PROMOTING) json_put(d, "trusted_key", a->trusted_key);
    if (a->sha256[0]) json_put(d, "sha256", a->sha256);
    if (a->resumed) json_object_set_new(d, "resumed", json_true());
    json_put(d, "detail", detail);
    bool ok = d != NULL && record_change(a->p, event, a->id, "mover", (int)a->state, (int)to, d);
    json_decref(d);
    if (!ok) return false;
    if (a->event_count < PIPELINE_MAX_EVENTS)
        a->events[a->event_count++] = (artifact_event_rec){ .time_ms = sl_time_now_ms(), .from = a->state, .to = to,
                                                            .detail = detail ? sl_strdup(detail) : NULL };
    a->state = to;
    if (to == ARTIFACT_PROMOTED || to == ARTIFACT_BLOCKED || to == ARTIFACT_REJECTED || to == ARTIFACT_IN_REVIEW ||
        to == ARTIFACT_FAILED || to == ARTIFACT_EXPIRED || to == ARTIFACT_PURGED)
        a->outcome = (int)to;
    if (sl_log_enabled(SL_LOG_DEBUG)) log_artifact(SL_LOG_DEBUG, event, a, detail);
    return true;
}

bool record_cleanup(artifact *a, const char *what)
{
    json_t *d = json_object();
    json_put(d, "route", a->route->name);
    json_put(d, "staging_key", a->staging_key);
    json_put(d, "staging_version", a->staging_version);
    json_put(d, "quarantine_key", a->source_quarantined ? a->quarantine_key : NULL);
    json_put(d, "detail", what);
    bool ok = d != NULL && record_change(a->p, "cleanup", a->id, "mover", -1, -1, d);
    json_decref(d);
    return ok;
}

sl_result set_checked_with(artifact_manifest *m, const sl_config_checks *checks)
{
    sl_buf v = { 0 };
    if (sl_failed(checks_set_version(checks, &v))) {
        sl_buf_clean_up(&v);
        return SL_FAILURE;
    }
    artifact_manifest_set(&m->checked_with, v.len > 0 ? sl_buf_cstr(&v) : NULL);
    sl_buf_clean_up(&v);
    return SL_SUCCESS;
}

/* A fresh manifest of the artifact as it stands. */
static sl_result manifest_of(const artifact *a, artifact_manifest *m)
{
    GUARD(artifact_manifest_init(m, a->id, a->route->name, a->task && a->task[0] ? a->task : NULL,
                                 a->name ? a->name : "", a->event_count ? a->events[0].from : a->state));
    artifact_manifest_set(&m->staging_key, a->staging_key);
    artifact_manifest_set(&m->staging_etag, a->staging_etag);
    artifact_manifest_set(&m->staging_version, a->staging_version);
    /* the quarantine copy is named only where the bytes are kept */
    if (a->verdict != ARTIFACT_REJECTED || a->source_quarantined) {
        artifact_manifest_set(&m->quarantine_key, a->quarantine_key);
        artifact_manifest_set(&m->quarantine_etag, a->quarantine_etag);
    }
    artifact_manifest_set(&m->declared_type, a->declared_type);
    if (a->detected[0]) artifact_manifest_set(&m->detected_type, a->detected);
    if (a->sha256[0]) {
        snprintf(m->sha256, sizeof(m->sha256), "%s", a->sha256);
        GUARD(set_checked_with(m, &a->route->checks));
    }
    if (a->size > 0 || a->sha256[0]) {
        m->has_size = true;
        m->size = a->size;
    }
    for (size_t i = 0; i < a->event_count; i++)
        GUARD(artifact_manifest_transition(m, a->events[i].to, a->events[i].time_ms, "mover", a->events[i].detail));
    for (size_t i = 0; i < a->findings.count; i++)
        GUARD(artifact_manifest_add_finding(m, a->findings.items[i].check, a->findings.items[i].verdict,
                                            a->findings.items[i].detail));
    return SL_SUCCESS;
}

/* The loaded manifest brought up to date with what happened since it was loaded. */
static sl_result update_loaded(artifact *a)
{
    artifact_manifest *m = a->loaded;
    for (size_t i = 0; i < a->event_count; i++) {
        if (a->events[i].from != m->state) continue; /* recorded in it already (a state taken up from S3) */
        GUARD(artifact_manifest_transition(m, a->events[i].to, a->events[i].time_ms, "mover", a->events[i].detail));
    }
    for (size_t i = 0; i < a->event_count; i++) sl_free(a->events[i].detail);
    a->event_count = 0; /* applied: a second write must not apply them again */
    for (size_t i = a->loaded_findings; i < a->findings.count; i++)
        GUARD(artifact_manifest_add_finding(m, a->findings.items[i].check, a->findings.items[i].verdict,
                                            a->findings.items[i].detail));
    a->loaded_findings = a->findings.count;
    if (a->sha256[0] && m->sha256[0] == '\0') snprintf(m->sha256, sizeof(m->sha256), "%s", a->sha256);
    if (a->detected[0] && m->detected_type == NULL) artifact_manifest_set(&m->detected_type, a->detected);
    return SL_SUCCESS;
}

sl_result record_manifest(artifact *a, artifact_manifest *fresh, const artifact_manifest **out)
{
    if (a->loaded != NULL) {
        GUARD(update_loaded(a));
        *out = a->loaded;
        return SL_SUCCESS;
    }
    GUARD(manifest_of(a, fresh));
    *out = fresh;
    return SL_SUCCESS;
}
