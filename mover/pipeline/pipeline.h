/*
 * pipeline.h — the mover's engine: it runs the artifact protocol of state/protocol.h
 * (docs/protocol.md) over every upload in staging.
 *
 * How the parts fit (DESIGN "Pipeline"; the files are listed in pipeline_impl.h): at
 * start the server is probed for what it honours (versioned staging, conditional
 * deletes and copies) and the daemon refuses to run where the safe path is missing.
 * Each route's staging prefix is then polled (ListObjectVersions on versioned staging,
 * where every version is an upload of its own; ListObjectsV2 otherwise); listed uploads
 * join a bounded queue; at most `worker.concurrency` artifacts are in flight, each
 * walking the protocol's rows — on versioned staging checked and promoted in place (GET,
 * copy and delete by version id), copied into quarantine only when it must wait for a
 * review or ends outside trusted; otherwise quarantined first. Every state change goes
 * through the one transitions table (state/artifact.h) into the audit log. The commit
 * point of each outcome is an object in S3 (the trusted copy carrying the artifact's id,
 * or its manifest created with If-None-Match); after a crash, a timeout or a restart the
 * next step is decided by looking at S3, and the audit ledger (state/ledger.h) keeps an
 * outcome from being recorded twice. A sweep of the quarantine prefix resumes
 * interrupted artifacts, promotes what reviews approved, expires reviews past
 * review_ttl, and purges blocked, rejected and expired copies after retention.
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

#include "attest/attest.h"
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
    uint64_t sweep_interval_ms; /* quarantine sweep; 0 = min(retention / 4, 60 s), >= 1 s */
    /* Task admission (routes with require_task): objects of a closed, expired or unknown
     * task, or over its limits, are rejected. NULL: no route may require tasks. */
    task_registry *tasks;
    /* The mover's signing identity: every promotion carries its attestation (attest.h);
     * a promotion whose attestation cannot be made fails (closed). Required. */
    const attest_signer *signer;
    /* Called once when the pipeline cannot run at all (the start-up probe found the
     * server unsafe, or the mover may not use its control prefix): `why` says why and
     * how to fix it. The owner stops the daemon. */
    void (*fatal)(void *user, const char *why);
    void *fatal_user;
} pipeline_options;

typedef struct pipeline_stats {
    uint64_t started;      /* artifacts taken from staging or resumed */
    uint64_t promoted;
    uint64_t blocked;
    uint64_t rejected;
    uint64_t in_review;
    uint64_t failed;
    uint64_t purged;
    uint64_t dropped;      /* changed or vanished before it was taken in: nothing to account for */
    uint64_t left;         /* stopped where their bytes are, to be resumed from what S3 shows */
    uint64_t resumed;      /* found in quarantine with no manifest and restarted */
    uint64_t promoted_requests; /* S3 requests spent on promoted artifacts (for the budget) */
    unsigned in_flight;
    unsigned queued;
    bool broken;           /* the audit log failed: no more changes are made */
} pipeline_stats;

/* Creates the pipeline; takes ownership of `config` (also on error). */
SL_MUST_CHECK sl_result pipeline_new(uv_loop_t *loop, sl_config *config, const pipeline_options *options,
                                     pipeline **out);

/* Probes the server (asynchronously), then starts the quarantine sweep (which resumes
 * interrupted artifacts) and the pollers; an unsafe server ends in options.fatal. */
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

/* ---- an operator's retry ---- */

typedef enum pipeline_retry_outcome {
    PIPELINE_RETRY_DONE,         /* failed -> quarantined, recorded; the artifact is checked again now */
    PIPELINE_RETRY_UNKNOWN,      /* no manifest of this id */
    PIPELINE_RETRY_NOT_FAILED,   /* the artifact is not failed (only failed ones can be retried) */
    PIPELINE_RETRY_STORE_FAILED, /* the manifest could not be read or written */
    PIPELINE_RETRY_AUDIT_FAILED, /* stored, but the audit log failed: the daemon stops making changes */
} pipeline_retry_outcome;

typedef void pipeline_retry_fn(void *user, pipeline_retry_outcome outcome, const char *detail);

/* Moves a failed artifact back to quarantined (its manifest with If-Match, the audit
 * record with the operator as actor), and has it checked again at once. `done` (may be
 * NULL) runs once, asynchronously, with the outcome. Errors (no callback): the pipeline
 * is broken, a malformed id, no operator. */
SL_MUST_CHECK sl_result pipeline_retry(pipeline *p, const char *id, const char *operator_name, const char *reason,
                                       pipeline_retry_fn *done, void *user);

/* ---- re-checks with a new rule or signature set ---- */

typedef enum pipeline_recheck_outcome {
    PIPELINE_RECHECK_DONE,          /* checked again, findings added, stored and audited */
    PIPELINE_RECHECK_UNCHANGED,     /* (reload batch only) checked with the set in force already */
    PIPELINE_RECHECK_UNKNOWN,       /* no manifest of this id */
    PIPELINE_RECHECK_NOT_IN_REVIEW, /* the artifact does not wait for a decision */
    PIPELINE_RECHECK_NO_ROUTE,      /* its route is not in the configuration in force */
    PIPELINE_RECHECK_STORE_FAILED,  /* the manifest could not be read or written */
    PIPELINE_RECHECK_STOPPED,       /* the daemon stops: cancelled (nothing was stored); the
                                     * pipeline may be gone: do not call into it */
    PIPELINE_RECHECK_AUDIT_FAILED,  /* stored, but the audit log failed: the daemon stops making changes */
} pipeline_recheck_outcome;

typedef struct pipeline_recheck_report {
    pipeline_recheck_outcome outcome;
    const char *detail;
    const char *id;
    artifact_state state;           /* after it: in_review or blocked */
    const findings *added;          /* the findings the manifest gained */
    const char *old_version;        /* checked_with before ("" when the manifest had none) */
    const char *new_version;        /* the set in force (NULL when not reached) */
} pipeline_recheck_report;

/* Valid during the call. */
typedef void pipeline_recheck_fn(void *user, const pipeline_recheck_report *report);

/* Checks an artifact in review again from its quarantine copy (If-Match its ETag), with
 * the rules and signatures in force: the findings its manifest lacks are added with the
 * set's version (checked_with); a new failure blocks it (in_review -> blocked); a
 * re-check that cannot finish adds an error finding and leaves it in review (never a
 * pass). Stored with If-Match (applied again when the manifest changed meanwhile) and
 * audited ("recheck", with the operator as actor). `done` (may be NULL) runs once,
 * asynchronously. Errors (no callback): the pipeline is broken or stopping, a malformed
 * id, no operator. */
SL_MUST_CHECK sl_result pipeline_recheck(pipeline *p, const char *id, const char *operator_name,
                                         pipeline_recheck_fn *done, void *user);

/* After a reload that changed a route's rule or signature set (checks_set_version):
 * lists the quarantine prefix and re-checks, one at a time, every artifact in review
 * whose manifest names another set (actor "mover"). Logs "recheck_done" with counts. */
void pipeline_recheck_waiting(pipeline *p);

#endif /* SLUICE_PIPELINE_PIPELINE_H */
