/*
 * pipeline.c — the mover's engine (see pipeline.h for the walk of an artifact).
 *
 * Reading guide:
 *   1. configs and bookkeeping (config_ref, the in-flight sets, the queue)
 *   2. an artifact's life: artifact_new / artifact_end, move() — the only place a
 *      state changes, through the transitions table, with its audit record —, and
 *      manifests for the artifacts that end outside trusted
 *   3. the steps, in order: quarantine → check → gate → promote, each an S3 call whose
 *      callback starts the next step; every callback first asks `abandon_if_stopping`
 *      (a cancelled request during shutdown leaves the artifact where its bytes are)
 *   4. the staging pollers and the quarantine sweep (resume and retention)
 *   5. start, reload, stop
 */
#include "pipeline/pipeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "log/log.h"
#include "pipeline/hook.h"
#include "state/review.h"
#include "state/artifact.h"
#include "state/manifest.h"
#include "state/store.h"
#include "util/alloc.h"
#include "util/timefmt.h"
#include "util/strset.h"

#define MAX_EVENTS 12
#define QUEUE_LIMIT 20000

/* ---- 1. configs and bookkeeping ---- */

typedef struct config_ref {
    sl_config *config;
    unsigned refs;
} config_ref;

static config_ref *config_ref_new(sl_config *config)
{
    config_ref *r = sl_calloc(1, sizeof(*r));
    r->config = config;
    r->refs = 1;
    return r;
}

static config_ref *config_ref_take(config_ref *r)
{
    r->refs++;
    return r;
}

static void config_ref_drop(config_ref *r)
{
    if (r != NULL && --r->refs == 0) {
        sl_config_free(r->config);
        sl_free(r);
    }
}

typedef struct queued {
    struct queued *next;
    config_ref *cfg;
    size_t route;
    char *key;
    char *etag;
    uint64_t size;
    int64_t modified_ms; /* LastModified of the listing, for task admission */
} queued;

typedef struct poller {
    pipeline *p;
    config_ref *cfg;
    size_t route;
    uv_timer_t timer;
    bool listing;
    bool retired; /* replaced by a reload; freed when its timer closes */
    sl_buf token; /* continuation across pages of one poll */
    sl_buf resume_after; /* the queue filled up: continue after this key next time */
} poller;

typedef struct artifact artifact;

struct pipeline {
    uv_loop_t *loop;
    config_ref *cfg;
    pipeline_options opt;
    poller **pollers;
    size_t poller_count;
    uv_timer_t sweep_timer;
    bool sweeping;
    sl_buf sweep_token;
    size_t sweep_route;
    queued *queue_head, *queue_tail;
    unsigned queue_count;
    strset keys;        /* staging keys queued or in flight */
    strset ids;         /* artifact ids in flight */
    strset settled;     /* ids whose manifest says they wait or ended (sweep skips them) */
    strset finished;    /* ids promoted since the current sweep listed quarantine: its listing
                           may still show them, and they must not be resumed again */
    artifact *artifacts;
    unsigned in_flight;
    bool started, stopping, broken;
    uv_timer_t stop_timer;
    pipeline_stopped_fn *stopped;
    void *stopped_user;
    unsigned open_handles;
    bool destroyed;
    pipeline_stats stats;
};

static manifest_store store_of(const config_ref *cfg, const pipeline *p)
{
    return (manifest_store){ .client = p->opt.client, .bucket = cfg->config->buckets.control,
                             .control_prefix = cfg->config->buckets.control_prefix };
}


static uint64_t jitter(uint64_t max)
{
    uint32_t r = 0;
    if (max == 0 || RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) return 0;
    return (uint64_t)r % (max + 1);
}

static const sl_config *config_of(const pipeline *p) { return p->cfg->config; }

static void pump(pipeline *p);
static void maybe_stopped(pipeline *p);

/* ---- 2. an artifact's life ---- */

struct event {
    int64_t time_ms;
    artifact_state from, to;
    char *detail;
};

struct artifact {
    pipeline *p;
    config_ref *cfg;
    const sl_config_route *route;
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *staging_key, *staging_etag, *task, *name;
    char *quarantine_key, *quarantine_etag, *trusted_key, *declared_type;
    uint64_t size;
    artifact_state state;
    struct event events[MAX_EVENTS];
    size_t event_count;
    findings findings;
    char sha256[65];
    char detected[128];
    content_check *check;
    s3_get_object *get;
    bool get_ok;
    char get_error[256];
    bool metadata_failed;
    unsigned requests;
    bool resumed;
    artifact_manifest *loaded; /* the manifest it was resumed from (reviewed artifacts) */
    char *manifest_etag;       /* ... and its ETag, for the If-Match update */
    size_t loaded_findings;    /* findings that came with the loaded manifest */
    artifact *prev, *next;
};

static artifact *artifact_new(pipeline *p, config_ref *cfg, size_t route, const char *staging_key)
{
    artifact *a = sl_calloc(1, sizeof(*a));
    a->p = p;
    a->cfg = config_ref_take(cfg);
    a->route = &cfg->config->routes[route];
    a->staging_key = sl_strdup(staging_key);
    a->state = ARTIFACT_STAGED;
    a->next = p->artifacts;
    if (p->artifacts) p->artifacts->prev = a;
    p->artifacts = a;
    p->in_flight++;
    p->stats.started++;
    return a;
}

/* The artifact leaves the pipeline (whatever its state: its bytes say where it is). */
static void artifact_end(artifact *a)
{
    pipeline *p = a->p;
    if (a->prev) a->prev->next = a->next;
    else p->artifacts = a->next;
    if (a->next) a->next->prev = a->prev;
    p->in_flight--;
    strset_remove(&p->keys, sl_cursor_from_cstr(a->staging_key));
    if (a->id[0]) strset_remove(&p->ids, sl_cursor_from_cstr(a->id));
    for (size_t i = 0; i < a->event_count; i++) sl_free(a->events[i].detail);
    findings_clean_up(&a->findings);
    manifest_store_release(a->loaded);
    sl_free(a->manifest_etag);
    char *strings[] = { a->staging_key, a->staging_etag, a->task, a->name, a->quarantine_key,
                        a->quarantine_etag, a->trusted_key, a->declared_type };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) sl_free(strings[i]);
    config_ref_drop(a->cfg);
    sl_free(a);
    pump(p);
    maybe_stopped(p);
}

static void log_artifact(sl_log_level level, const char *event, const artifact *a, const char *detail)
{
    sl_log(level, event, "artifact", a->id, "route", a->route->name, "key", a->staging_key, "detail", detail, NULL);
}

/* Sets a string member of a JSON object; text that is not UTF-8 is stored as hex. */
static void json_put(json_t *obj, const char *name, const char *value)
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

/* Changes the artifact's state — only through the transitions table — and records it
 * in the audit log. False when the change cannot be made or recorded: the artifact
 * must then stop where it is (and if the log failed, the whole pipeline stops). */
static bool move(artifact *a, artifact_state to, const char *detail)
{
    pipeline *p = a->p;
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
    if (a->state == ARTIFACT_STAGED) json_put(d, "staging_etag", a->staging_etag);
    json_put(d, "quarantine_key", a->quarantine_key);
    if (to == ARTIFACT_PROMOTED || to == ARTIFACT_PROMOTING) json_put(d, "trusted_key", a->trusted_key);
    if (a->sha256[0]) json_put(d, "sha256", a->sha256);
    if (a->resumed) json_object_set_new(d, "resumed", json_true());
    json_put(d, "detail", detail);
    audit_record rec = {
        .event = event,
        .artifact = a->id,
        .from = artifact_state_name(a->state),
        .to = artifact_state_name(to),
        .actor = "mover",
        .detail = d,
    };
    sl_result r = d ? audit_log_append(p->opt.audit, &rec) : SL_FAILURE;
    json_decref(d);
    if (sl_failed(r)) {
        if (!p->broken) {
            p->broken = true;
            sl_log(SL_LOG_ERROR, "audit_failed", "detail", sl_error_detail(), "action",
                   "no further changes are made; fix the audit log and restart", NULL);
        }
        return false;
    }
    if (a->event_count < MAX_EVENTS) {
        a->events[a->event_count++] = (struct event){ .time_ms = sl_time_now_ms(), .from = a->state, .to = to,
                                                      .detail = detail ? sl_strdup(detail) : NULL };
    }
    a->state = to;
    if (sl_log_enabled(SL_LOG_DEBUG)) log_artifact(SL_LOG_DEBUG, event, a, detail);
    return true;
}

/* Builds the manifest of the artifact as it stands. */
static sl_result manifest_of(const artifact *a, artifact_manifest *m)
{
    GUARD(artifact_manifest_init(m, a->id, a->route->name, a->task ? a->task : "", a->name ? a->name : "",
                                 a->event_count ? a->events[0].from : a->state));
    artifact_manifest_set(&m->staging_key, a->staging_key);
    artifact_manifest_set(&m->staging_etag, a->staging_etag);
    artifact_manifest_set(&m->quarantine_key, a->quarantine_key);
    artifact_manifest_set(&m->quarantine_etag, a->quarantine_etag);
    artifact_manifest_set(&m->declared_type, a->declared_type);
    if (a->detected[0]) artifact_manifest_set(&m->detected_type, a->detected);
    if (a->sha256[0]) snprintf(m->sha256, sizeof(m->sha256), "%s", a->sha256);
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

typedef void then_fn(artifact *a);

struct manifest_write {
    artifact *a;
    then_fn *then;
};

static bool abandon_if_stopping(artifact *a, const s3_result *r);

static void manifest_written(void *user, const s3_result *r, const char *etag)
{
    (void)etag;
    struct manifest_write *w = user;
    artifact *a = w->a;
    then_fn *then = w->then;
    sl_free(w);
    a->requests += r->attempts;
    if (abandon_if_stopping(a, r)) return;
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_PRECONDITION_FAILED && a->loaded == NULL) {
        /* it exists: written before a restart; the outcome is deterministic */
        log_artifact(SL_LOG_INFO, "manifest_exists", a, "kept the manifest written earlier");
    } else if (r->error != SL_OK) {
        /* a failed create leaves the bytes in quarantine without a manifest: the sweep
         * redoes the artifact; a failed update (someone else changed it) is redone from
         * the manifest as it now is */
        log_artifact(SL_LOG_ERROR, "manifest_failed", a, r->detail);
        artifact_end(a);
        return;
    }
    strset_add(&a->p->settled, sl_cursor_from_cstr(a->id));
    then(a);
}

/* The loaded manifest brought up to date with what happened since it was loaded. */
static sl_result update_loaded(artifact *a)
{
    artifact_manifest *m = a->loaded;
    for (size_t i = 0; i < a->event_count; i++)
        GUARD(artifact_manifest_transition(m, a->events[i].to, a->events[i].time_ms, "mover", a->events[i].detail));
    a->event_count = 0; /* applied: a second write must not apply them again */
    for (size_t i = a->loaded_findings; i < a->findings.count; i++)
        GUARD(artifact_manifest_add_finding(m, a->findings.items[i].check, a->findings.items[i].verdict,
                                            a->findings.items[i].detail));
    a->loaded_findings = a->findings.count;
    return SL_SUCCESS;
}

/* Writes the artifact's manifest — created (If-None-Match) or, for an artifact resumed
 * from its manifest, updated (If-Match) — then continues with `then`. */
static void write_manifest(artifact *a, then_fn *then)
{
    artifact_manifest fresh = { 0 };
    const artifact_manifest *m = a->loaded;
    sl_result built = a->loaded ? update_loaded(a) : manifest_of(a, &fresh);
    if (a->loaded == NULL) m = &fresh;
    struct manifest_write *w = sl_calloc(1, sizeof(*w));
    w->a = a;
    w->then = then;
    manifest_store store = store_of(a->cfg, a->p);
    if (sl_failed(built) || sl_failed(manifest_store_save(&store, m, a->manifest_etag, manifest_written, w))) {
        log_artifact(SL_LOG_ERROR, "manifest_failed", a, sl_error_detail());
        sl_free(w);
        artifact_manifest_clean_up(&fresh);
        artifact_end(a);
        return;
    }
    artifact_manifest_clean_up(&fresh);
}

static void finish_blocked(artifact *a)
{
    a->p->stats.blocked++;
    log_artifact(SL_LOG_INFO, "blocked", a, a->findings.count ? a->findings.items[a->findings.count - 1].detail : "");
    artifact_end(a);
}

static void run_hook(artifact *a);

static void finish_in_review(artifact *a)
{
    a->p->stats.in_review++;
    log_artifact(SL_LOG_INFO, "in_review", a, "waiting for a decision");
    const sl_config *c = a->cfg->config;
    if (a->route->review == SL_REVIEW_HOOK && c->review.hook_command != NULL && findings_worst(&a->findings) == FINDING_PASS) {
        run_hook(a);
        return;
    }
    artifact_end(a);
}

static void finish_rejected(artifact *a);
static void finish_failed(artifact *a)
{
    a->p->stats.failed++;
    log_artifact(SL_LOG_WARN, "failed", a, "stays in quarantine; an operator may retry it");
    artifact_end(a);
}

/* Ends the artifact in `to` (blocked, in_review, failed) with its manifest. */
static void settle(artifact *a, artifact_state to, const char *detail)
{
    if (!move(a, to, detail)) {
        artifact_end(a);
        return;
    }
    then_fn *then = to == ARTIFACT_BLOCKED ? finish_blocked : to == ARTIFACT_IN_REVIEW ? finish_in_review : finish_failed;
    write_manifest(a, then);
}

/* A request that failed because the pipeline is shutting down leaves the artifact
 * where its bytes are (the next start resumes it). */
static bool abandon_if_stopping(artifact *a, const s3_result *r)
{
    if (r->error == SL_ERR_CANCELLED || a->p->broken) {
        log_artifact(SL_LOG_INFO, "abandoned", a, "stopped mid-step; resumed at the next start");
        artifact_end(a);
        return true;
    }
    return false;
}

/* ---- 3. the steps ---- */

static void step_check(artifact *a);
static void step_gate(artifact *a);
static void step_promote(artifact *a);

/* staging -> rejected: the key does not name a task under the route's prefix. The
 * manifest records it, then the staging object is deleted. */
static void rejected_staging_deleted(void *user, const s3_result *r)
{
    artifact *a = user;
    a->requests += r->attempts;
    if (abandon_if_stopping(a, r)) return;
    if (r->error != SL_OK) log_artifact(SL_LOG_WARN, "delete_failed", a, r->detail);
    a->p->stats.rejected++;
    log_artifact(SL_LOG_INFO, "rejected", a, "deleted from staging");
    artifact_end(a);
}

static void finish_rejected(artifact *a)
{
    pipeline *p = a->p;
    if (sl_failed(s3_delete_object(p->opt.client, sl_cursor_from_cstr(a->cfg->config->buckets.staging),
                                   sl_cursor_from_cstr(a->staging_key), (sl_cursor){ 0 }, rejected_staging_deleted, a))) {
        log_artifact(SL_LOG_WARN, "delete_failed", a, sl_error_detail());
        artifact_end(a);
    }
}

static void staging_deleted(void *user, const s3_result *r)
{
    artifact *a = user;
    a->requests += r->attempts;
    if (abandon_if_stopping(a, r)) return;
    if (r->error != SL_OK && !(r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY)) {
        /* the bytes are in quarantine either way; a later poll finds the staging key,
         * lands on the same quarantine key and deletes it then */
        log_artifact(SL_LOG_WARN, "staging_delete_failed", a, r->detail);
    }
    step_check(a);
}

static void quarantined(void *user, const s3_result *r, const s3_object_info *info)
{
    artifact *a = user;
    pipeline *p = a->p;
    a->requests += r->attempts;
    if (abandon_if_stopping(a, r)) return;
    if (r->error == SL_ERR_S3 && (r->code == S3_ERROR_PRECONDITION_FAILED || r->code == S3_ERROR_NO_SUCH_KEY)) {
        /* changed or gone since the listing: the next poll sees the new object, if any */
        p->stats.dropped++;
        log_artifact(SL_LOG_INFO, "dropped", a, r->code == S3_ERROR_PRECONDITION_FAILED
                                                    ? "changed after it was listed; picked up again as a new artifact"
                                                    : "gone before it could be quarantined");
        artifact_end(a);
        return;
    }
    if (r->error != SL_OK) {
        /* nothing moved: the object is still in staging and the next poll tries again */
        log_artifact(SL_LOG_WARN, "quarantine_failed", a, r->detail);
        artifact_end(a);
        return;
    }
    a->quarantine_etag = sl_cursor_dup(info->etag);
    /* The transition took effect with the copy (the bytes are in quarantine): record it
     * now, so a crash before the next line cannot lose it. Deleting the staging key is
     * the clean-up of a step already made. */
    if (!move(a, ARTIFACT_QUARANTINED, NULL)) {
        artifact_end(a);
        return;
    }
    if (sl_failed(s3_delete_object(p->opt.client, sl_cursor_from_cstr(a->cfg->config->buckets.staging),
                                   sl_cursor_from_cstr(a->staging_key), (sl_cursor){ 0 }, staging_deleted, a))) {
        log_artifact(SL_LOG_WARN, "staging_delete_failed", a, sl_error_detail());
        step_check(a);
    }
}

/* Takes a listed staging object into the pipeline. */
static void quarantine(artifact *a);

static void admitted(void *user, task_verdict verdict, const char *reason)
{
    artifact *a = user;
    if (verdict == TASK_ACCEPT) {
        quarantine(a);
        return;
    }
    if (verdict == TASK_UNAVAILABLE || a->p->stopping || a->p->broken) {
        /* the task could not be read: the object stays in staging for the next poll */
        log_artifact(SL_LOG_INFO, "admission_deferred", a, reason);
        artifact_end(a);
        return;
    }
    /* closed, expired or unknown task, or over its limits: rejected, recorded, deleted */
    if (sl_failed(findings_add(&a->findings, "task", FINDING_FAIL, "%s", reason)) || !move(a, ARTIFACT_REJECTED, reason)) {
        artifact_end(a);
        return;
    }
    write_manifest(a, finish_rejected);
}

static void start_from_staging(pipeline *p, config_ref *cfg, size_t route, const char *key, const char *etag,
                               uint64_t size, int64_t modified_ms)
{
    artifact *a = artifact_new(p, cfg, route, key);
    a->staging_etag = sl_strdup(etag);
    a->size = size;
    sl_cursor k = sl_cursor_from_cstr(key);
    if (sl_failed(artifact_id_derive(k, sl_cursor_from_cstr(etag), a->id))) {
        log_artifact(SL_LOG_ERROR, "id_failed", a, sl_error_detail());
        artifact_end(a);
        return;
    }
    if (!strset_add(&p->ids, sl_cursor_from_cstr(a->id))) {
        a->id[0] = '\0'; /* someone else holds the id: not ours to remove */
        artifact_end(a);
        return;
    }
    staging_key_parts parts;
    if (sl_failed(staging_key_split(k, sl_cursor_from_cstr(a->route->staging_prefix), &parts))) {
        char why[600];
        snprintf(why, sizeof(why), "no task in the key: %s", sl_error_detail());
        a->task = sl_strdup("");
        a->name = sl_strdup("");
        /* No task, so no manifest can name it (manifests are per route and task): the
         * audit record of the rejection, with key, ETag and reason, is its account. */
        if (!move(a, ARTIFACT_REJECTED, why)) {
            artifact_end(a);
            return;
        }
        finish_rejected(a);
        return;
    }
    a->task = sl_cursor_dup(parts.task);
    a->name = sl_cursor_dup(parts.name);
    if (a->route->require_task) {
        if (p->opt.tasks == NULL ||
            sl_failed(task_registry_admit(p->opt.tasks, a->route->name, a->task, a->name, size, modified_ms, admitted, a))) {
            log_artifact(SL_LOG_WARN, "admission_failed", a, p->opt.tasks ? sl_error_detail() : "no task registry");
            artifact_end(a);
        }
        return;
    }
    quarantine(a);
}

/* Copies the admitted staging object to its quarantine key (then deletes it). */
static void quarantine(artifact *a)
{
    pipeline *p = a->p;
    sl_cursor k = sl_cursor_from_cstr(a->staging_key);
    sl_cursor task = sl_cursor_from_cstr(a->task), name = sl_cursor_from_cstr(a->name);
    sl_buf qkey = { 0 };
    if (sl_failed(quarantine_key_build(&qkey, sl_cursor_from_cstr(a->route->name), task,
                                       sl_cursor_from_cstr(a->id), name))) {
        log_artifact(SL_LOG_ERROR, "quarantine_key_failed", a, sl_error_detail());
        sl_buf_clean_up(&qkey);
        artifact_end(a);
        return;
    }
    a->quarantine_key = sl_buf_steal(&qkey);
    const sl_config *c = a->cfg->config;
    s3_copy_params params = { .source_if_match = sl_cursor_from_cstr(a->staging_etag) };
    if (sl_failed(s3_copy_object_sized(p->opt.client, sl_cursor_from_cstr(c->buckets.staging), k, a->size,
                                       sl_cursor_from_cstr(c->buckets.quarantine),
                                       sl_cursor_from_cstr(a->quarantine_key), &params, quarantined, a))) {
        log_artifact(SL_LOG_WARN, "quarantine_failed", a, sl_error_detail());
        artifact_end(a);
    }
}

/* -- check -- */

static void check_resume(void *user)
{
    artifact *a = user;
    if (a->get) s3_get_object_resume(a->get);
}

static void on_get_headers(void *user, const s3_object_info *info)
{
    artifact *a = user;
    a->declared_type = sl_cursor_dup(info->content_type);
    if (sl_failed(checks_metadata(&a->route->checks, info->metadata, info->metadata_count, &a->findings))) {
        a->metadata_failed = true;
        return;
    }
    if (a->findings.items[a->findings.count - 1].verdict != FINDING_PASS) a->metadata_failed = true;
    content_check_params params = {
        .rules = &a->route->checks,
        .magic = a->p->opt.magic,
        .name = sl_cursor_from_cstr(a->name),
        .declared_type = info->content_type,
        .expected_size = info->has_size ? info->size : 0,
        .resume = check_resume,
        .user = a,
    };
    a->check = content_check_new(a->p->loop, &params);
}

static s3_http_body_action on_get_chunk(void *user, const uint8_t *data, size_t len)
{
    artifact *a = user;
    if (a->metadata_failed || a->check == NULL) return S3_HTTP_BODY_ABORT; /* not one more byte */
    return content_check_feed(a->check, data, len);
}

static void content_checked(void *user, const content_result *result)
{
    artifact *a = user;
    a->check = NULL;
    for (size_t i = 0; i < result->findings->count; i++) {
        const artifact_finding *f = &result->findings->items[i];
        if (sl_failed(findings_add(&a->findings, f->check, f->verdict, "%s", f->detail))) break;
    }
    snprintf(a->sha256, sizeof(a->sha256), "%s", result->sha256);
    snprintf(a->detected, sizeof(a->detected), "%s", result->detected_type);
    a->size = result->size;
    step_gate(a);
}

/* Content verdicts nobody needs any more: the checker is only being wound down. */
static void check_discarded_then_end(void *user, const content_result *result)
{
    (void)result;
    artifact *a = user;
    log_artifact(SL_LOG_INFO, "abandoned", a, "stopped mid-check; resumed at the next start");
    artifact_end(a);
}

static void check_discarded_then_gate(void *user, const content_result *result)
{
    (void)result;
    step_gate(user);
}

static void got_quarantined_copy(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    artifact *a = user;
    a->requests += r->attempts;
    a->get = NULL;
    if (r->error == SL_ERR_CANCELLED && (a->p->stopping || a->p->broken) ) {
        /* shutting down: the checker still has to be wound down before the artifact ends */
        if (a->check != NULL) {
            content_check *check = a->check;
            a->check = NULL;
            content_check_finish(check, false, "cancelled", check_discarded_then_end, a);
            return;
        }
        abandon_if_stopping(a, r);
        return;
    }
    if (a->metadata_failed) {
        if (a->check != NULL) {
            content_check *check = a->check;
            a->check = NULL;
            /* discard the content verdict: metadata already failed */
            content_check_finish(check, false, "metadata rules failed", check_discarded_then_gate, a);
            return;
        }
        step_gate(a);
        return;
    }
    if (a->check == NULL) {
        /* no body ever started: the GET failed before its headers */
        char why[600];
        snprintf(why, sizeof(why), "the quarantined copy could not be read: %s", r->detail);
        if (r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY) {
            if (a->resumed) {
                /* found in a listing that was already stale: the copy was promoted or
                 * purged meanwhile (only sluice deletes it), so nothing is left to do */
                log_artifact(SL_LOG_INFO, "resume_dropped", a, "the quarantined copy is gone: finished elsewhere");
                artifact_end(a);
                return;
            }
            if (sl_failed(findings_add(&a->findings, "content", FINDING_ERROR, "%s", why))) { /* keep going */ }
            settle(a, ARTIFACT_FAILED, "the quarantined copy is gone");
            return;
        }
        if (sl_failed(findings_add(&a->findings, "content", FINDING_ERROR, "%s", why))) { /* keep going */ }
        step_gate(a);
        return;
    }
    content_check *check = a->check;
    content_check_finish(check, r->error == SL_OK, r->detail, content_checked, a);
}

static void step_check(artifact *a)
{
    pipeline *p = a->p;
    if (sl_failed(checks_key(&a->route->checks, sl_cursor_from_cstr(a->staging_key), sl_cursor_from_cstr(a->name),
                             &a->findings))) {
        log_artifact(SL_LOG_ERROR, "check_failed", a, sl_error_detail());
        artifact_end(a);
        return;
    }
    if (a->findings.items[a->findings.count - 1].verdict != FINDING_PASS) {
        settle(a, ARTIFACT_BLOCKED, a->findings.items[a->findings.count - 1].detail);
        return;
    }
    if (!move(a, ARTIFACT_CHECKING, NULL)) {
        artifact_end(a);
        return;
    }
    const sl_config *c = a->cfg->config;
    if (sl_failed(s3_get_object_stream(p->opt.client, sl_cursor_from_cstr(c->buckets.quarantine),
                                       sl_cursor_from_cstr(a->quarantine_key), NULL, on_get_headers, on_get_chunk,
                                       got_quarantined_copy, a, &a->get))) {
        char why[600];
        snprintf(why, sizeof(why), "the quarantined copy could not be requested: %s", sl_error_detail());
        if (sl_failed(findings_add(&a->findings, "content", FINDING_ERROR, "%s", why))) { /* keep going */ }
        step_gate(a);
    }
}

/* -- gate -- */

static void step_gate(artifact *a)
{
    finding_verdict worst = findings_worst(&a->findings);
    bool all_pass = findings_all_pass(&a->findings);
    const sl_config_route *route = a->route;
    if (route->review == SL_REVIEW_AUTO) {
        if (all_pass) {
            if (!move(a, ARTIFACT_APPROVED, "auto: every check passed")) {
                artifact_end(a);
                return;
            }
            step_promote(a);
            return;
        }
        if (worst == FINDING_ERROR && route->checks.on_error == SL_ON_ERROR_REVIEW) {
            settle(a, ARTIFACT_IN_REVIEW, "a check could not finish; the route sends such artifacts to a person");
            return;
        }
        settle(a, ARTIFACT_BLOCKED, "auto: not every check passed");
        return;
    }
    /* human, two-person, hook: a decision is needed; a failed check still blocks */
    if (worst == FINDING_FAIL || (worst == FINDING_ERROR && route->checks.on_error == SL_ON_ERROR_BLOCK)) {
        settle(a, ARTIFACT_BLOCKED, "a check failed");
        return;
    }
    settle(a, ARTIFACT_IN_REVIEW, "checks done; waiting for a decision");
}

/* -- promote -- */

static void finish_promoted(artifact *a)
{
    pipeline *p = a->p;
    strset_add(&p->finished, sl_cursor_from_cstr(a->id));
    p->stats.promoted++;
    p->stats.promoted_requests += a->requests;
    log_artifact(SL_LOG_INFO, "promoted", a, a->trusted_key);
    artifact_end(a);
}

static void quarantine_deleted(void *user, const s3_result *r)
{
    artifact *a = user;
    a->requests += r->attempts;
    if (abandon_if_stopping(a, r)) return;
    if (r->error != SL_OK && !(r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY)) {
        /* the object is promoted; the sweep finds the leftover copy and removes it */
        log_artifact(SL_LOG_WARN, "quarantine_delete_failed", a, r->detail);
    }
    if (a->loaded != NULL) {
        /* it waited for a review, so it has a manifest: record the end there too */
        write_manifest(a, finish_promoted);
        return;
    }
    finish_promoted(a);
}

/* The artifact is in trusted with its metadata: it is promoted. Record that first (a
 * crash after this leaves only the quarantine copy to clean up, which a restart does),
 * then delete the quarantine copy. */
static void promoted(artifact *a, const char *detail)
{
    if (!move(a, ARTIFACT_PROMOTED, detail)) {
        artifact_end(a);
        return;
    }
    if (sl_failed(s3_delete_object(a->p->opt.client, sl_cursor_from_cstr(a->cfg->config->buckets.quarantine),
                                   sl_cursor_from_cstr(a->quarantine_key), (sl_cursor){ 0 }, quarantine_deleted, a))) {
        log_artifact(SL_LOG_WARN, "quarantine_delete_failed", a, sl_error_detail());
        artifact_end(a);
    }
}

static void fail_promotion(artifact *a, const char *why)
{
    if (sl_failed(findings_add(&a->findings, "promote", FINDING_ERROR, "%s", why))) { /* keep going */ }
    settle(a, ARTIFACT_FAILED, why);
}

static void copied_to_trusted(void *user, const s3_result *r, const s3_object_info *info)
{
    artifact *a = user;
    a->requests += r->attempts;
    if (abandon_if_stopping(a, r)) return;
    if (r->error != SL_OK) {
        char why[700];
        snprintf(why, sizeof(why), "the copy to trusted failed: %s", r->detail);
        fail_promotion(a, why);
        return;
    }
    /* Same bytes, same ETag: a single-request copy keeps the source's ETag. (A multipart
     * copy has a new one; s3_copy_object_sized then HEADs and compares sizes.) */
    sl_cursor got = s3_etag_unquoted(info->etag), want = s3_etag_unquoted(sl_cursor_from_cstr(a->quarantine_etag));
    bool multipart = got.len > 0 && memchr(got.ptr, '-', got.len) != NULL;
    if (!multipart && !sl_cursor_eq(got, want)) {
        char why[300];
        snprintf(why, sizeof(why), "the trusted copy has ETag %.*s, the quarantined bytes %.*s", (int)got.len,
                 (const char *)got.ptr, (int)want.len, (const char *)want.ptr);
        fail_promotion(a, why);
        return;
    }
    promoted(a, NULL);
}

static void copy_to_trusted(artifact *a)
{
    const sl_config *c = a->cfg->config;
    char decision[32];
    snprintf(decision, sizeof(decision), "%s", a->loaded != NULL ? "review" : "auto");
    sl_cursor metadata[] = {
        sl_cursor_from_cstr("sluice-sha256"),   sl_cursor_from_cstr(a->sha256),
        sl_cursor_from_cstr("sluice-artifact"), sl_cursor_from_cstr(a->id),
        sl_cursor_from_cstr("sluice-task"),     sl_cursor_from_cstr(a->task),
        sl_cursor_from_cstr("sluice-route"),    sl_cursor_from_cstr(a->route->name),
        sl_cursor_from_cstr("sluice-decision"), sl_cursor_from_cstr(decision),
    };
    s3_copy_params params = {
        .source_if_match = sl_cursor_from_cstr(a->quarantine_etag),
        .replace_metadata = true,
        .metadata = metadata,
        .metadata_count = 5,
        .content_type = sl_cursor_from_cstr(a->detected[0] ? a->detected : "application/octet-stream"),
        .if_none_match_any = a->p->opt.copy_if_none_match,
    };
    if (sl_failed(s3_copy_object_sized(a->p->opt.client, sl_cursor_from_cstr(c->buckets.quarantine),
                                       sl_cursor_from_cstr(a->quarantine_key), a->size,
                                       sl_cursor_from_cstr(c->buckets.trusted), sl_cursor_from_cstr(a->trusted_key),
                                       &params, copied_to_trusted, a))) {
        char why[600];
        snprintf(why, sizeof(why), "the copy to trusted could not start: %s", sl_error_detail());
        fail_promotion(a, why);
    }
}

static void trusted_headed(void *user, const s3_result *r, const s3_object_info *info)
{
    artifact *a = user;
    a->requests += r->attempts;
    if (abandon_if_stopping(a, r)) return;
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY) {
        copy_to_trusted(a);
        return;
    }
    if (r->error != SL_OK) {
        char why[700];
        snprintf(why, sizeof(why), "the trusted key could not be checked: %s", r->detail);
        fail_promotion(a, why);
        return;
    }
    for (size_t i = 0; i < info->metadata_count; i++) {
        if (sl_cursor_eq_ignore_case(info->metadata[2 * i], sl_cursor_from_cstr("sluice-artifact")) &&
            sl_cursor_eq(info->metadata[2 * i + 1], sl_cursor_from_cstr(a->id))) {
            /* copied before a restart: leave it as it is, finish the step */
            log_artifact(SL_LOG_INFO, "already_promoted", a, a->trusted_key);
            promoted(a, "found in trusted after a restart");
            return;
        }
    }
    char why[1400];
    snprintf(why, sizeof(why), "trusted key %s already holds other bytes; never overwritten", a->trusted_key);
    fail_promotion(a, why);
}

static void step_promote(artifact *a)
{
    sl_buf key = { 0 };
    if (sl_failed(sl_buf_appendf(&key, "%s%s/%s", a->route->trusted_prefix, a->task, a->name))) {
        sl_buf_clean_up(&key);
        fail_promotion(a, "the trusted key is too long");
        return;
    }
    a->trusted_key = sl_buf_steal(&key);
    if (!move(a, ARTIFACT_PROMOTING, NULL)) {
        artifact_end(a);
        return;
    }
    if (a->p->opt.copy_if_none_match) {
        copy_to_trusted(a);
        return;
    }
    if (sl_failed(s3_head_object(a->p->opt.client, sl_cursor_from_cstr(a->cfg->config->buckets.trusted),
                                 sl_cursor_from_cstr(a->trusted_key), (sl_cursor){ 0 }, trusted_headed, a))) {
        char why[600];
        snprintf(why, sizeof(why), "the trusted key could not be checked: %s", sl_error_detail());
        fail_promotion(a, why);
    }
}

/* -- decisions (the API's reviewers and the hook) -- */

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
    char *detail_json = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    audit_record rec = { .event = d->result.outcome == REVIEW_REFUSED ? "decision_refused" : "decision",
                         .artifact = d->id, .actor = d->reviewer, .detail_json = detail_json };
    bool ok = detail_json != NULL && sl_ok(audit_log_append(p->opt.audit, &rec));
    free(detail_json);
    if (ok && (d->result.outcome == REVIEW_APPROVED || d->result.outcome == REVIEW_REJECTED)) {
        artifact_state to = d->result.outcome == REVIEW_APPROVED ? ARTIFACT_APPROVED : ARTIFACT_REJECTED;
        const char *event = NULL;
        (void)artifact_transition_allowed(from, to, &event);
        audit_record t = { .event = event, .artifact = d->id, .from = artifact_state_name(from),
                           .to = artifact_state_name(to), .actor = d->reviewer };
        ok = sl_ok(audit_log_append(p->opt.audit, &t));
    }
    if (!ok && !p->broken) {
        p->broken = true;
        sl_log(SL_LOG_ERROR, "audit_failed", "detail", sl_error_detail(), NULL);
    }
    return ok;
}

static void kick_now(pipeline *p, const char *id);

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
    if (d->result.outcome == REVIEW_APPROVED) kick_now(d->p, d->id);
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
    manifest_store store = store_of(d->cfg, d->p);
    char *if_match = sl_strdup(etag);
    d->tries++;
    if (sl_failed(manifest_store_save(&store, m, if_match, decision_saved, d))) decision_fail(d, 500, "store_failed", sl_error_detail());
    sl_free(if_match);
}

static void decision_load(struct decision *d)
{
    manifest_store store = store_of(d->cfg, d->p);
    if (sl_failed(manifest_store_load(&store, d->id, decision_loaded, d)))
        decision_fail(d, 400, "bad_id", sl_error_detail());
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

/* -- the hook -- */

static void hook_answered(void *user, hook_decision decision, const char *reason)
{
    artifact *a = user;
    log_artifact(SL_LOG_INFO, "hook", a, reason);
    if (decision == HOOK_REVIEW) {
        /* not a decision: a person decides; the answer is in the audit log */
        json_t *j = json_object();
        json_put(j, "answer", reason);
        char *detail_json = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        audit_record rec = { .event = "hook_review", .artifact = a->id, .actor = "hook", .detail_json = detail_json };
        if (detail_json == NULL || sl_failed(audit_log_append(a->p->opt.audit, &rec))) a->p->broken = true;
        free(detail_json);
    } else if (sl_failed(pipeline_decide(a->p, a->id, "hook", NULL, decision == HOOK_APPROVE, a->sha256, reason, NULL,
                                         NULL))) {
        log_artifact(SL_LOG_WARN, "hook_decision_failed", a, sl_error_detail());
    }
    artifact_end(a);
}

static void run_hook(artifact *a)
{
    const sl_config *c = a->cfg->config;
    artifact_manifest m = { 0 };
    sl_buf json = { 0 }, url = { 0 };
    json_t *doc = NULL, *manifest = NULL;
    char *text = NULL;
    bool ok = sl_ok(manifest_of(a, &m)) && sl_ok(artifact_manifest_to_json(&m, &json)) &&
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
    if (ok && sl_ok(hook_run(a->p->loop, c->review.hook_command, a->id, text, c->review.hook_timeout_ms, hook_answered,
                             a))) {
        /* the artifact stays in flight until the hook answers */
    } else {
        log_artifact(SL_LOG_WARN, "hook_failed", a, sl_error_detail());
        artifact_end(a); /* it stays in review: a person decides */
    }
    json_decref(manifest);
    json_decref(doc);
    free(text);
    artifact_manifest_clean_up(&m);
    sl_buf_clean_up(&json);
    sl_buf_clean_up(&url);
}

/* ---- 4. pollers and the sweep ---- */


static void queue_push(pipeline *p, config_ref *cfg, size_t route, const s3_list_object *o)
{
    queued *q = sl_calloc(1, sizeof(*q));
    if (!sl_time_parse_s3(sl_cursor_from_buf(&o->last_modified), &q->modified_ms)) q->modified_ms = INT64_MAX;
    q->cfg = config_ref_take(cfg);
    q->route = route;
    q->key = sl_cursor_dup(sl_cursor_from_buf(&o->key));
    q->etag = sl_cursor_dup(sl_cursor_from_buf(&o->etag));
    q->size = o->size;
    if (p->queue_tail) p->queue_tail->next = q;
    else p->queue_head = q;
    p->queue_tail = q;
    p->queue_count++;
}

static void queued_free(queued *q)
{
    config_ref_drop(q->cfg);
    sl_free(q->key);
    sl_free(q->etag);
    sl_free(q);
}

static void pump(pipeline *p)
{
    while (!p->stopping && !p->broken && p->queue_head != NULL &&
           p->in_flight < config_of(p)->worker.concurrency) {
        queued *q = p->queue_head;
        p->queue_head = q->next;
        if (p->queue_head == NULL) p->queue_tail = NULL;
        p->queue_count--;
        /* the key stays in p->keys: the artifact now holds it */
        start_from_staging(p, q->cfg, q->route, q->key, q->etag, q->size, q->modified_ms);
        queued_free(q);
    }
}

static void poll_now(uv_timer_t *t);
static void poller_closed(uv_handle_t *h);

static void schedule_poll(poller *pl)
{
    const sl_config *c = pl->cfg->config;
    uint64_t delay = c->worker.poll_interval_ms + jitter(c->worker.poll_jitter_ms);
    uv_timer_start(&pl->timer, poll_now, delay, 0);
}

static void listed(void *user, const s3_result *r, const s3_list_result *list)
{
    poller *pl = user;
    pipeline *p = pl->p;
    pl->listing = false;
    if (pl->retired) {
        uv_close((uv_handle_t *)&pl->timer, poller_closed);
        return;
    }
    if (p->stopping) return;
    if (r->error != SL_OK) {
        sl_log(SL_LOG_WARN, "list_failed", "route", pl->cfg->config->routes[pl->route].name, "detail", r->detail, NULL);
        sl_buf_reset(&pl->token);
        schedule_poll(pl);
        return;
    }
    bool full = false;
    for (size_t i = 0; i < list->object_count; i++) {
        const s3_list_object *o = &list->objects[i];
        sl_cursor key = sl_cursor_from_buf(&o->key);
        if (strset_contains(&p->keys, key)) continue;
        if (p->queue_count >= QUEUE_LIMIT) {
            full = true;
            break;
        }
        strset_add(&p->keys, key);
        queue_push(p, pl->cfg, pl->route, o);
        sl_buf_reset(&pl->resume_after);
        if (sl_failed(sl_buf_append_cursor(&pl->resume_after, key))) sl_buf_reset(&pl->resume_after);
    }
    pump(p);
    sl_buf_reset(&pl->token);
    if (!full && list->is_truncated &&
        sl_ok(sl_buf_append_cursor(&pl->token, sl_cursor_from_buf(&list->next_continuation_token)))) {
        poll_now(&pl->timer); /* next page at once */
        return;
    }
    if (!full) sl_buf_reset(&pl->resume_after);
    schedule_poll(pl);
}

static void poll_now(uv_timer_t *t)
{
    poller *pl = t->data;
    pipeline *p = pl->p;
    if (pl->listing || p->stopping || p->broken) return;
    const sl_config *c = pl->cfg->config;
    s3_list_params params = {
        .prefix = sl_cursor_from_cstr(c->routes[pl->route].staging_prefix),
        .continuation_token = sl_cursor_from_buf(&pl->token),
        .start_after = pl->token.len ? (sl_cursor){ 0 } : sl_cursor_from_buf(&pl->resume_after),
    };
    if (sl_failed(s3_list_objects_v2(p->opt.client, sl_cursor_from_cstr(c->buckets.staging), &params, listed, pl))) {
        sl_log(SL_LOG_WARN, "list_failed", "route", c->routes[pl->route].name, "detail", sl_error_detail(), NULL);
        schedule_poll(pl);
        return;
    }
    pl->listing = true;
}

static void handle_released(pipeline *p);

static void poller_closed(uv_handle_t *h)
{
    poller *pl = h->data;
    pipeline *p = pl->p;
    sl_buf_clean_up(&pl->token);
    sl_buf_clean_up(&pl->resume_after);
    config_ref_drop(pl->cfg);
    sl_free(pl);
    handle_released(p);
}

static void retire_pollers(pipeline *p)
{
    for (size_t i = 0; i < p->poller_count; i++) {
        poller *pl = p->pollers[i];
        pl->retired = true;
        uv_timer_stop(&pl->timer);
        /* a poller waiting for its listing is closed by the list callback */
        if (!pl->listing) uv_close((uv_handle_t *)&pl->timer, poller_closed);
    }
    sl_free(p->pollers);
    p->pollers = NULL;
    p->poller_count = 0;
}

static void start_pollers(pipeline *p)
{
    const sl_config *c = config_of(p);
    p->pollers = sl_calloc(c->route_count, sizeof(*p->pollers));
    p->poller_count = c->route_count;
    for (size_t i = 0; i < c->route_count; i++) {
        poller *pl = sl_calloc(1, sizeof(*pl));
        pl->p = p;
        pl->cfg = config_ref_take(p->cfg);
        pl->route = i;
        uv_timer_init(p->loop, &pl->timer);
        pl->timer.data = pl;
        p->open_handles++;
        p->pollers[i] = pl;
        /* spread the first polls over a little time so 100 routes do not list at once */
        uv_timer_start(&pl->timer, poll_now, jitter(c->worker.poll_jitter_ms), 0);
    }
}

/* -- the quarantine sweep --
 * For each object in quarantine that is not in flight: no manifest → resume it (its
 * pipeline was interrupted); approved or promoting → promote it (a review decided);
 * in review past the route's review_ttl → expired; blocked, rejected or expired past
 * retention → purge the copy. Everything else waits. */

struct sweep_item {
    pipeline *p;
    config_ref *cfg;
    size_t route;
    char *key;
    char *etag;
    char id[SL_ARTIFACT_ID_LEN + 1];
    uint64_t size;
    bool old; /* past retention */
    artifact_manifest *m;
    char *manifest_etag;
    artifact_state from;
    const char *event;
    const char *why;
};

static void sweep_item_free(struct sweep_item *s)
{
    config_ref_drop(s->cfg);
    sl_free(s->key);
    sl_free(s->etag);
    manifest_store_release(s->m);
    sl_free(s->manifest_etag);
    sl_free(s);
}

/* One audit record for a change the sweep makes outside an artifact's walk. */
static bool audit_change(pipeline *p, const char *event, const char *id, artifact_state from, artifact_state to,
                         const char *key, const char *why)
{
    json_t *d = json_object();
    json_put(d, "quarantine_key", key);
    json_put(d, "detail", why);
    char *detail_json = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    audit_record rec = { .event = event, .artifact = id, .from = artifact_state_name(from),
                         .to = artifact_state_name(to), .actor = "mover", .detail_json = detail_json };
    bool ok = detail_json != NULL && sl_ok(audit_log_append(p->opt.audit, &rec));
    free(detail_json);
    if (!ok && !p->broken) {
        p->broken = true;
        sl_log(SL_LOG_ERROR, "audit_failed", "detail", sl_error_detail(), "action",
               "no further changes are made; fix the audit log and restart", NULL);
    }
    return ok;
}

/* An artifact found in quarantine with no manifest: its pipeline was interrupted. */
static void resume_artifact(pipeline *p, struct sweep_item *s)
{
    const sl_config_route *route = &s->cfg->config->routes[s->route];
    quarantine_key_parts parts;
    if (sl_failed(quarantine_key_parse(sl_cursor_from_cstr(s->key), &parts))) return;
    sl_buf staging = { 0 };
    if (sl_failed(sl_buf_appendf(&staging, "%s%.*s/%.*s", route->staging_prefix, (int)parts.task.len,
                                 (const char *)parts.task.ptr, (int)parts.name.len, (const char *)parts.name.ptr))) {
        sl_buf_clean_up(&staging);
        return;
    }
    artifact *a = artifact_new(p, s->cfg, s->route, sl_buf_cstr(&staging));
    strset_add(&p->keys, sl_cursor_from_buf(&staging));
    sl_buf_clean_up(&staging);
    memcpy(a->id, s->id, sizeof(a->id));
    strset_add(&p->ids, sl_cursor_from_cstr(a->id));
    a->task = sl_cursor_dup(parts.task);
    a->name = sl_cursor_dup(parts.name);
    a->quarantine_key = sl_strdup(s->key);
    a->quarantine_etag = sl_strdup(s->etag);
    a->size = s->size;
    a->resumed = true;
    p->stats.resumed++;
    /* the copy to quarantine took effect; record what was found */
    if (!move(a, ARTIFACT_QUARANTINED, "found in quarantine after a restart")) {
        artifact_end(a);
        return;
    }
    step_check(a);
}

/* A review approved it (or its promotion was interrupted): promote it now. Takes the
 * manifest from the sweep item. */
static void resume_reviewed(pipeline *p, struct sweep_item *s)
{
    artifact_manifest *m = s->m;
    if (m->sha256[0] == '\0' || m->quarantine_etag == NULL || !m->has_size) {
        sl_log(SL_LOG_ERROR, "manifest_incomplete", "artifact", s->id, "detail",
               "an approved manifest needs sha256, quarantine_etag and size", NULL);
        return;
    }
    artifact *a = artifact_new(p, s->cfg, s->route, m->staging_key ? m->staging_key : "");
    memcpy(a->id, s->id, sizeof(a->id));
    strset_add(&p->ids, sl_cursor_from_cstr(a->id));
    a->task = sl_strdup(m->task);
    a->name = sl_strdup(m->name);
    a->quarantine_key = sl_strdup(s->key);
    a->quarantine_etag = sl_strdup(m->quarantine_etag);
    a->size = m->size;
    snprintf(a->sha256, sizeof(a->sha256), "%s", m->sha256);
    if (m->detected_type) snprintf(a->detected, sizeof(a->detected), "%s", m->detected_type);
    a->state = m->state;
    a->loaded = m;
    a->loaded_findings = 0;
    a->manifest_etag = s->manifest_etag;
    s->m = NULL;
    s->manifest_etag = NULL;
    if (a->state == ARTIFACT_APPROVED) {
        step_promote(a);
        return;
    }
    /* promoting: the copy may or may not have happened; step_promote's HEAD tells */
    a->state = ARTIFACT_PROMOTING;
    sl_buf key = { 0 };
    if (sl_failed(sl_buf_appendf(&key, "%s%s/%s", a->route->trusted_prefix, a->task, a->name))) {
        sl_buf_clean_up(&key);
        artifact_end(a);
        return;
    }
    a->trusted_key = sl_buf_steal(&key);
    if (sl_failed(s3_head_object(p->opt.client, sl_cursor_from_cstr(a->cfg->config->buckets.trusted),
                                 sl_cursor_from_cstr(a->trusted_key), (sl_cursor){ 0 }, trusted_headed, a)))
        artifact_end(a);
}

static void change_recorded(void *user, const s3_result *r, const char *etag)
{
    (void)etag;
    struct sweep_item *s = user;
    if (r->error != SL_OK)
        sl_log(SL_LOG_WARN, "manifest_update_failed", "artifact", s->id, "event", s->event, "detail", r->detail, NULL);
    sweep_item_free(s);
}

/* Moves the item's manifest to `to` (If-Match), with its audit record. */
static void record_change(struct sweep_item *s, artifact_state to, const char *event, const char *why)
{
    pipeline *p = s->p;
    artifact_state from = s->m->state;
    manifest_store store = store_of(s->cfg, p);
    s->event = event;
    if (sl_failed(artifact_manifest_transition(s->m, to, sl_time_now_ms(), "mover", why))) {
        sl_log(SL_LOG_ERROR, "transition_refused", "artifact", s->id, "detail", sl_error_detail(), NULL);
        sweep_item_free(s);
        return;
    }
    if (!audit_change(p, event, s->id, from, to, s->key, why) ||
        sl_failed(manifest_store_save(&store, s->m, s->manifest_etag, change_recorded, s))) {
        sweep_item_free(s);
        return;
    }
    if (to == ARTIFACT_PURGED) p->stats.purged++;
}

static void purge_deleted(void *user, const s3_result *r)
{
    struct sweep_item *s = user;
    if (r->error != SL_OK && !(r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY)) {
        sl_log(SL_LOG_WARN, "purge_failed", "artifact", s->id, "detail", r->detail, NULL);
        sweep_item_free(s);
        return;
    }
    strset_remove(&s->p->settled, sl_cursor_from_cstr(s->id));
    record_change(s, ARTIFACT_PURGED, "purge", "quarantine copy deleted after retention");
}

static void manifest_loaded(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    struct sweep_item *s = user;
    pipeline *p = s->p;
    s->m = m;
    if (p->stopping || p->broken) {
        sweep_item_free(s);
        return;
    }
    if (r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_KEY) {
        if (!strset_contains(&p->ids, sl_cursor_from_cstr(s->id)) && !strset_contains(&p->finished, sl_cursor_from_cstr(s->id)))
            resume_artifact(p, s);
        sweep_item_free(s);
        return;
    }
    if (r->error != SL_OK) {
        sl_log(SL_LOG_WARN, "manifest_read_failed", "artifact", s->id, "detail", r->detail, NULL);
        sweep_item_free(s);
        return;
    }
    s->manifest_etag = sl_strdup(etag);
    const sl_config_route *route = &s->cfg->config->routes[s->route];
    switch (m->state) {
    case ARTIFACT_BLOCKED:
    case ARTIFACT_REJECTED:
    case ARTIFACT_EXPIRED:
        if (s->old) {
            if (sl_ok(s3_delete_object(p->opt.client, sl_cursor_from_cstr(s->cfg->config->buckets.quarantine),
                                       sl_cursor_from_cstr(s->key), (sl_cursor){ 0 }, purge_deleted, s)))
                return;
        } else {
            strset_add(&p->settled, sl_cursor_from_cstr(s->id));
        }
        break;
    case ARTIFACT_APPROVED:
    case ARTIFACT_PROMOTING:
        if (!strset_contains(&p->ids, sl_cursor_from_cstr(s->id))) resume_reviewed(p, s);
        break;
    case ARTIFACT_IN_REVIEW: {
        int64_t since = m->history_count ? m->history[m->history_count - 1].time_ms : 0;
        if (sl_time_now_ms() - since >= (int64_t)route->review_ttl_ms) {
            record_change(s, ARTIFACT_EXPIRED, "expire", "no decision within the route's review_ttl");
            return;
        }
        break; /* not settled: the sweep looks again for its TTL */
    }
    default:
        strset_add(&p->settled, sl_cursor_from_cstr(s->id));
        break;
    }
    sweep_item_free(s);
}

/* One artifact, looked at now (after a decision) the way the sweep would. */
static void kick_loaded(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    struct sweep_item *s = user;
    const sl_config *c = s->cfg->config;
    size_t route = c->route_count;
    for (size_t i = 0; m != NULL && i < c->route_count; i++)
        if (strcmp(c->routes[i].name, m->route) == 0) route = i;
    if (r->error != SL_OK || m == NULL || m->quarantine_key == NULL || route == c->route_count) {
        sl_log(SL_LOG_WARN, "kick_failed", "artifact", s->id, "detail",
               r->error != SL_OK ? r->detail : "the manifest names no quarantine copy of a configured route", NULL);
        manifest_store_release(m);
        sweep_item_free(s);
        return;
    }
    s->route = route;
    s->key = sl_strdup(m->quarantine_key);
    s->etag = sl_strdup(m->quarantine_etag ? m->quarantine_etag : "");
    s->size = m->size;
    manifest_loaded(s, r, m, etag);
}

static void kick_now(pipeline *p, const char *id)
{
    if (p->stopping || p->broken) return;
    struct sweep_item *s = sl_calloc(1, sizeof(*s));
    s->p = p;
    s->cfg = config_ref_take(p->cfg);
    snprintf(s->id, sizeof(s->id), "%s", id);
    manifest_store store = store_of(s->cfg, p);
    if (sl_failed(manifest_store_load(&store, id, kick_loaded, s))) sweep_item_free(s);
}

void pipeline_kick(pipeline *p, const char *id) { kick_now(p, id); }


static void sweep_next(pipeline *p);

static void sweep_listed(void *user, const s3_result *r, const s3_list_result *list)
{
    pipeline *p = user;
    if (p->stopping || p->broken) {
        p->sweeping = false;
        return;
    }
    if (r->error != SL_OK) {
        sl_log(SL_LOG_WARN, "sweep_list_failed", "detail", r->detail, NULL);
        p->sweeping = false;
        return;
    }
    const sl_config *c = config_of(p);
    int64_t now = sl_time_now_ms();
    for (size_t i = 0; i < list->object_count; i++) {
        const s3_list_object *o = &list->objects[i];
        quarantine_key_parts parts;
        if (sl_failed(quarantine_key_parse(sl_cursor_from_buf(&o->key), &parts))) {
            sl_log(SL_LOG_WARN, "sweep_unknown_key", "key", sl_buf_cstr(&o->key), "detail", sl_error_detail(), NULL);
            continue;
        }
        char id[SL_ARTIFACT_ID_LEN + 1];
        snprintf(id, sizeof(id), "%.*s", (int)parts.artifact_id.len, (const char *)parts.artifact_id.ptr);
        if (strset_contains(&p->ids, sl_cursor_from_cstr(id))) continue;
        int64_t modified = 0;
        bool old = sl_time_parse_s3(sl_cursor_from_buf(&o->last_modified), &modified) &&
                   now - modified >= (int64_t)c->retention.quarantine_ms;
        if (strset_contains(&p->settled, sl_cursor_from_cstr(id)) && !old) continue;
        struct sweep_item *s = sl_calloc(1, sizeof(*s));
        s->p = p;
        s->cfg = config_ref_take(p->cfg);
        s->route = p->sweep_route;
        s->key = sl_cursor_dup(sl_cursor_from_buf(&o->key));
        s->etag = sl_cursor_dup(sl_cursor_from_buf(&o->etag));
        memcpy(s->id, id, sizeof(id));
        s->size = o->size;
        s->old = old;
        manifest_store store = store_of(s->cfg, p);
        if (sl_failed(manifest_store_load(&store, id, manifest_loaded, s))) sweep_item_free(s);
    }
    sl_buf_reset(&p->sweep_token);
    if (list->is_truncated && sl_ok(sl_buf_append_cursor(&p->sweep_token, sl_cursor_from_buf(&list->next_continuation_token)))) {
        sweep_next(p);
        return;
    }
    p->sweep_route++;
    sweep_next(p);
}

static void sweep_next(pipeline *p)
{
    const sl_config *c = config_of(p);
    if (p->sweep_route >= c->route_count) {
        p->sweeping = false;
        return;
    }
    sl_buf prefix = { 0 };
    if (sl_failed(sl_buf_appendf(&prefix, "q/%s/", c->routes[p->sweep_route].name))) {
        sl_buf_clean_up(&prefix);
        p->sweeping = false;
        return;
    }
    s3_list_params params = { .prefix = sl_cursor_from_buf(&prefix), .continuation_token = sl_cursor_from_buf(&p->sweep_token) };
    if (sl_failed(s3_list_objects_v2(p->opt.client, sl_cursor_from_cstr(c->buckets.quarantine), &params, sweep_listed, p))) {
        sl_log(SL_LOG_WARN, "sweep_list_failed", "detail", sl_error_detail(), NULL);
        p->sweeping = false;
    }
    sl_buf_clean_up(&prefix);
}

static void sweep_now(uv_timer_t *t)
{
    pipeline *p = t->data;
    if (p->sweeping || p->stopping || p->broken) return;
    p->sweeping = true;
    strset_clean_up(&p->finished);
    p->sweep_route = 0;
    sl_buf_reset(&p->sweep_token);
    sweep_next(p);
}

/* ---- 5. start, reload, stop ---- */

static uint64_t sweep_interval(const pipeline *p)
{
    if (p->opt.sweep_interval_ms) return p->opt.sweep_interval_ms;
    uint64_t interval = config_of(p)->retention.quarantine_ms / 4;
    if (interval > 60000) interval = 60000;
    if (interval < 1000) interval = 1000;
    return interval;
}

sl_result pipeline_new(uv_loop_t *loop, sl_config *config, const pipeline_options *options, pipeline **out)
{
    if (options->client == NULL || options->audit == NULL || options->magic == NULL) {
        sl_config_free(config);
        RAISE(SL_ERR_INVALID_ARGUMENT, "the pipeline needs an S3 client, an audit log and libmagic");
    }
    if (config->route_count == 0) {
        sl_config_free(config);
        RAISE(SL_ERR_INVALID_ARGUMENT, "the configuration has no routes");
    }
    for (size_t i = 0; i < config->route_count; i++) {
        if (config->routes[i].checks.rule_count > 0) {
            char name[128];
            snprintf(name, sizeof(name), "%s", config->routes[i].name);
            sl_config_free(config);
            RAISE(SL_ERR_UNSUPPORTED, "routes[%zu] (%s): checks.rules needs YARA support, which this version does not "
                  "have; remove the rules rather than run without them", i, name);
        }
    }
    pipeline *p = sl_calloc(1, sizeof(*p));
    p->loop = loop;
    p->cfg = config_ref_new(config);
    p->opt = *options;
    uv_timer_init(loop, &p->sweep_timer);
    p->sweep_timer.data = p;
    uv_timer_init(loop, &p->stop_timer);
    p->stop_timer.data = p;
    p->open_handles = 2;
    *out = p;
    return SL_SUCCESS;
}

sl_result pipeline_start(pipeline *p)
{
    ENSURE(!p->started, SL_ERR_STATE, "the pipeline was started already");
    p->started = true;
    uv_timer_start(&p->sweep_timer, sweep_now, 0, sweep_interval(p));
    start_pollers(p);
    sl_log(SL_LOG_INFO, "pipeline_started", NULL);
    return SL_SUCCESS;
}

void pipeline_reload(pipeline *p, sl_config *config)
{
    config_ref *old = p->cfg;
    p->cfg = config_ref_new(config);
    config_ref_drop(old);
    if (p->started && !p->stopping) {
        retire_pollers(p);
        start_pollers(p);
        uv_timer_start(&p->sweep_timer, sweep_now, sweep_interval(p), sweep_interval(p));
    }
    sl_log(SL_LOG_INFO, "config_reloaded", NULL);
    pump(p);
}

static void stop_now(uv_timer_t *t)
{
    pipeline *p = t->data;
    /* Grace is over. The owner now destroys the S3 client, which cancels what is still
     * running; those callbacks abandon their artifacts where their bytes are. */
    char count[16];
    snprintf(count, sizeof(count), "%u", p->in_flight);
    sl_log(SL_LOG_WARN, "stop_grace_over", "in_flight", count, NULL);
    pipeline_stopped_fn *cb = p->stopped;
    p->stopped = NULL;
    if (cb) cb(p->stopped_user);
}

static void stopped_deferred(uv_timer_t *t)
{
    pipeline *p = t->data;
    pipeline_stopped_fn *cb = p->stopped;
    p->stopped = NULL;
    if (cb) cb(p->stopped_user);
}

static void maybe_stopped(pipeline *p)
{
    if (!p->stopping || p->in_flight > 0 || p->stopped == NULL) return;
    uv_timer_stop(&p->stop_timer);
    uv_timer_start(&p->stop_timer, stopped_deferred, 0, 0);
}

void pipeline_stop(pipeline *p, uint64_t grace_ms, pipeline_stopped_fn *stopped, void *user)
{
    if (p->stopping) return;
    p->stopping = true;
    p->stopped = stopped;
    p->stopped_user = user;
    uv_timer_stop(&p->sweep_timer);
    retire_pollers(p);
    while (p->queue_head) {
        queued *q = p->queue_head;
        p->queue_head = q->next;
        strset_remove(&p->keys, sl_cursor_from_cstr(q->key));
        queued_free(q);
    }
    p->queue_tail = NULL;
    p->queue_count = 0;
    sl_log(SL_LOG_INFO, "pipeline_stopping", "in_flight", p->in_flight ? "yes" : "no", NULL);
    if (p->in_flight == 0) {
        maybe_stopped(p);
        return;
    }
    uv_timer_start(&p->stop_timer, stop_now, grace_ms, 0);
}

static void handle_released(pipeline *p)
{
    if (--p->open_handles == 0 && p->destroyed) {
        strset_clean_up(&p->keys);
        strset_clean_up(&p->ids);
        strset_clean_up(&p->settled);
        strset_clean_up(&p->finished);
        sl_buf_clean_up(&p->sweep_token);
        config_ref_drop(p->cfg);
        sl_free(p);
    }
}

static void handle_closed(uv_handle_t *h) { handle_released(h->data); }

void pipeline_destroy(pipeline *p)
{
    if (p == NULL) return;
    p->destroyed = true;
    if (!p->stopping) {
        p->stopping = true;
        retire_pollers(p);
    }
    while (p->queue_head) {
        queued *q = p->queue_head;
        p->queue_head = q->next;
        queued_free(q);
    }
    uv_close((uv_handle_t *)&p->sweep_timer, handle_closed);
    uv_close((uv_handle_t *)&p->stop_timer, handle_closed);
}

pipeline_stats pipeline_get_stats(const pipeline *p)
{
    pipeline_stats s = p->stats;
    s.in_flight = p->in_flight;
    s.queued = p->queue_count;
    s.broken = p->broken;
    return s;
}
