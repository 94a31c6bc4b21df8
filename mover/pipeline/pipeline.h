/*
 * pipeline.h — the mover's engine: watch, quarantine, check, gate, promote, expire.
 *
 * How the parts fit (DESIGN "Pipeline"): each route's staging prefix is polled with
 * ListObjectsV2 (interval + jitter); new keys join a bounded queue; at most
 * `worker.concurrency` artifacts are in flight. An artifact walks
 *
 *   quarantine: conditional copy staging → q/<route>/<task>/<id>/<name>, delete staging
 *   check:      key rules; one streaming GET feeding the content checks (checks.h)
 *   gate:       auto → approved when every check passed, else blocked; other review
 *               modes → in_review (decided through the API, a later issue)
 *   promote:    HEAD the trusted key (radosgw ignores If-None-Match on CopyObject, so
 *               this is how "never overwrite other bytes" is kept; skipped when the
 *               server honours the condition), conditional copy quarantine → trusted
 *               with the sluice-* metadata, delete the quarantine copy
 *
 * and every transition goes through the one transitions table (state/artifact.h) and
 * into the audit log. Artifacts that end outside trusted get a manifest in the control
 * prefix. The place of the bytes is the state: a sweep of the quarantine prefix (at
 * start and then periodically) resumes any artifact found there that is not in flight
 * and has no manifest, and purges the quarantine copies of blocked, rejected and
 * expired artifacts after `retention.quarantine`.
 *
 * Threading: everything on the loop thread. Ownership: the pipeline owns the configs it
 * is given (pipeline_new, pipeline_reload); the client, audit log and libmagic handle are
 * borrowed and must outlive it.
 */
#ifndef SLUICE_PIPELINE_PIPELINE_H
#define SLUICE_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "audit/audit.h"
#include "config/config.h"
#include "pipeline/checks.h"
#include "s3/client.h"
#include "tasks/tasks.h"
#include "util/error.h"

typedef struct pipeline pipeline;

typedef struct pipeline_options {
    s3_client *client;       /* the mover's identity */
    audit_log *audit;
    checks_magic *magic;
    /* The server honours If-None-Match: * on CopyObject (AWS does not document it,
     * radosgw 16 ignores it): promote then skips its HEAD of the trusted key. */
    bool copy_if_none_match;
    uint64_t sweep_interval_ms; /* quarantine sweep; 0 = min(retention / 4, 60 s), >= 1 s */
    /* Task admission (routes with require_task): objects of a closed, expired or unknown
     * task, or over its limits, are rejected. NULL: no route may require tasks. */
    task_registry *tasks;
} pipeline_options;

typedef struct pipeline_stats {
    uint64_t started;      /* artifacts taken from staging or resumed */
    uint64_t promoted;
    uint64_t blocked;
    uint64_t rejected;
    uint64_t in_review;
    uint64_t failed;
    uint64_t purged;
    uint64_t dropped;      /* changed or vanished before quarantine: picked up again later */
    uint64_t resumed;      /* found in quarantine with no manifest and restarted */
    uint64_t promoted_requests; /* S3 requests spent on promoted artifacts (for the budget) */
    unsigned in_flight;
    unsigned queued;
    bool broken;           /* the audit log failed: no more changes are made */
} pipeline_stats;

/* Creates the pipeline; takes ownership of `config` (also on error). */
SL_MUST_CHECK sl_result pipeline_new(uv_loop_t *loop, sl_config *config, const pipeline_options *options,
                                     pipeline **out);

/* Starts the quarantine sweep (which resumes interrupted artifacts) and the pollers. */
SL_MUST_CHECK sl_result pipeline_start(pipeline *p);

/* Replaces the configuration (SIGHUP). Artifacts in flight finish under the config they
 * started with. Takes ownership of `config`. */
void pipeline_reload(pipeline *p, sl_config *config);

typedef void pipeline_stopped_fn(void *user);

/* Stops taking new work; waits for artifacts in flight to finish their current step
 * (at most `grace_ms`; then their requests are cancelled and they stay where their
 * bytes are, to be resumed at the next start); then calls `stopped` (asynchronously). */
void pipeline_stop(pipeline *p, uint64_t grace_ms, pipeline_stopped_fn *stopped, void *user);

/* Frees a stopped pipeline (NULL is fine); keep running the loop until its handles close. */
void pipeline_destroy(pipeline *p);

pipeline_stats pipeline_get_stats(const pipeline *p);

/* ---- decisions ---- */

#include "state/review.h"

/* `manifest` is the artifact's manifest after the decision (NULL when it could not be
 * read); valid during the call. */
typedef void pipeline_decided_fn(void *user, const review_result *result, const artifact_manifest *manifest);

/* Records a reviewer's (or "hook"'s) decision on an artifact in review: loads its
 * manifest, applies the review rules (state/review.h; `opener` is the user who opened
 * the artifact's task, or NULL), stores it with If-Match (deciding again if the
 * manifest changed meanwhile), audits the decision — and a refusal —, and on approval
 * starts the promotion at once. `done` (may be NULL) gets the outcome; refusals come
 * with their HTTP status and error code. */
SL_MUST_CHECK sl_result pipeline_decide(pipeline *p, const char *id, const char *reviewer, const char *opener,
                                        bool approve, const char *sha256, const char *reason,
                                        pipeline_decided_fn *done, void *user);

/* Looks at one artifact now, as the sweep would (after a decision, say). */
void pipeline_kick(pipeline *p, const char *id);

#endif /* SLUICE_PIPELINE_PIPELINE_H */
