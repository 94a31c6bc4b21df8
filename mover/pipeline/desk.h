/*
 * desk.h — the reviewers' desk: the engine's operations behind the reviewers'
 * endpoints (api/artifact_endpoints.c), so the API reaches artifacts only through here
 * and pipeline.h, never the S3 client, the manifest store or the audit log itself.
 *
 *   desk_list    manifests of artifacts that wait or ended outside trusted, filtered by
 *                state and route (the first DESK_LIST_SCAN_MAX manifests in id order
 *                are scanned, at most DESK_LIST_PARALLEL loads at a time)
 *   desk_show    one manifest
 *   desk_fetch   a presigned GET URL of the quarantined bytes, valid DESK_FETCH_SECONDS,
 *                handed out only after the audit log has recorded "fetch" with the actor
 *   desk_decide  a reviewer's decision: finds who opened the artifact's task (its task
 *                manifest's "opened_by"; none when the task has no manifest — tasks
 *                opened outside the API; an unreadable one refuses the decision rather
 *                than skip the rule) and hands the decision to pipeline_decide
 *
 * Outcomes are typed (desk_outcome, review_code); the API maps them to its answers.
 *
 * Threading: loop thread only. Callbacks run asynchronously, exactly once, for every
 * call that returned SL_SUCCESS; a call that fails has no callback. Ownership: the desk
 * borrows the pipeline, client and audit log (they outlive it) and reads the
 * configuration through `config` at each call (the daemon swaps it on reload).
 */
#ifndef SLUICE_PIPELINE_DESK_H
#define SLUICE_PIPELINE_DESK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "s3/client.h"
#include "state/manifest.h"
#include "state/review.h"
#include "util/error.h"

#define DESK_LIST_SCAN_MAX 1000
#define DESK_LIST_PARALLEL 16
#define DESK_FETCH_SECONDS 300

typedef struct desk {
    pipeline *pipeline;
    s3_client *client;               /* the mover's identity */
    audit_log *audit;
    const sl_config *const *config;  /* where the current configuration pointer lives */
} desk;

/* X(ENUM, "name"): what became of a list, show or fetch. */
#define DESK_OUTCOMES(X)                                \
    X(DESK_OK, "ok")                                    \
    X(DESK_UNKNOWN_ARTIFACT, "unknown_artifact")        \
    X(DESK_NO_QUARANTINED_COPY, "no_quarantined_copy")  \
    X(DESK_PRESIGN_FAILED, "presign_failed")            \
    X(DESK_STORE_FAILED, "store_failed")                \
    X(DESK_AUDIT_FAILED, "audit_failed")

typedef enum desk_outcome {
#define DESK_OUTCOME_ENUM(e, name) e,
    DESK_OUTCOMES(DESK_OUTCOME_ENUM)
#undef DESK_OUTCOME_ENUM
        DESK_OUTCOME_COUNT
} desk_outcome;

/* "unknown_artifact"; "store_failed" outside the enum. */
const char *desk_outcome_name(desk_outcome outcome);

/* ---- list ---- */

typedef struct desk_list_query {
    bool has_state;
    artifact_state state;
    const char *route; /* NULL: every route */
    size_t limit;      /* 1..DESK_LIST_SCAN_MAX (0 or more: DESK_LIST_SCAN_MAX) */
} desk_list_query;

/* `items[0..count)` in id order, valid during the call; `truncated`: more manifests
 * exist than were scanned or taken. `detail` says why on failure (DESK_STORE_FAILED). */
typedef void desk_listed_fn(void *user, desk_outcome outcome, const char *detail,
                            const artifact_manifest *const *items, size_t count, bool truncated);

/* Errors (no callback): SL_ERR_INVALID_ARGUMENT, or the listing could not be started. */
SL_MUST_CHECK sl_result desk_list(desk *d, const desk_list_query *query, desk_listed_fn *done, void *user);

/* ---- show ---- */

/* `m` is the manifest (DESK_OK only), valid during the call. */
typedef void desk_shown_fn(void *user, desk_outcome outcome, const char *detail, const artifact_manifest *m);

/* Errors (no callback): SL_ERR_INVALID_ARGUMENT (not an artifact id), or the load
 * could not be started. */
SL_MUST_CHECK sl_result desk_show(desk *d, const char *id, desk_shown_fn *done, void *user);

/* ---- fetch ---- */

typedef struct desk_fetch_result {
    const char *id, *url, *sha256;
    uint64_t size;
    unsigned expires_in; /* seconds */
} desk_fetch_result;

typedef void desk_fetched_fn(void *user, desk_outcome outcome, const char *detail, const desk_fetch_result *result);

/* For `actor` (a user name, recorded in the audit log). Errors as for desk_show, and
 * SL_ERR_STATE once the audit log has failed (nothing is handed out then). */
SL_MUST_CHECK sl_result desk_fetch(desk *d, const char *id, const char *actor, desk_fetched_fn *done, void *user);

/* ---- decide ---- */

/* As pipeline_decided_fn: `result` says what became of the decision (review_code_of
 * gives its code); `m` the manifest after it, or NULL. */
typedef void desk_decided_fn(void *user, const review_result *result, const artifact_manifest *m);

/* `reason` may be NULL. Errors (no callback): SL_ERR_INVALID_ARGUMENT (not an artifact
 * id, no reviewer or SHA-256), SL_ERR_STATE (the daemon has stopped making changes: the
 * audit log or the pipeline failed — refused before anything is read or written), or
 * the lookup could not be started. */
SL_MUST_CHECK sl_result desk_decide(desk *d, const char *id, const char *reviewer, bool approve, const char *sha256,
                                    const char *reason, desk_decided_fn *done, void *user);

#endif /* SLUICE_PIPELINE_DESK_H */
