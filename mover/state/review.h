/*
 * review.h — the rules of a review decision, as one pure function.
 *
 * A decision is refused (with a typed review_code; the API maps it to its answer) when:
 * the artifact is not waiting for one (REVIEW_NOT_IN_REVIEW — decisions on terminal
 * artifacts are refused); the SHA-256 it names is not the artifact's
 * (REVIEW_SHA256_MISMATCH: a decision is about bytes, and these are not the bytes that
 * were checked); the reviewer opened the artifact's task (REVIEW_OWN_TASK: separation of
 * duties); the reviewer already decided on it (REVIEW_ALREADY_DECIDED).
 *
 * Otherwise it is recorded in the manifest and the outcome follows the route's mode:
 * human (and hook/auto routes whose artifact a person now decides) — the first decision
 * settles it; two-person — one rejection rejects, approvals from two different
 * reviewers approve, one approval waits for a second person. Settling applies the
 * transition (in_review → approved | rejected) with the reviewer as actor.
 *
 * Threading: pure. On refusal the manifest is unchanged.
 */
#ifndef SLUICE_STATE_REVIEW_H
#define SLUICE_STATE_REVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "state/manifest.h"

/* The longest reason a reviewer may give (bytes of UTF-8). The API refuses longer ones
 * before anything is recorded; the hook's reasons are cut to it. */
#define REVIEW_REASON_MAX 4096

typedef enum review_outcome {
    REVIEW_REFUSED = 0,
    REVIEW_WAITING,  /* recorded; another approval is needed */
    REVIEW_APPROVED, /* recorded and in_review -> approved */
    REVIEW_REJECTED, /* recorded and in_review -> rejected */
} review_outcome;

/* Why a decision was refused: X(ENUM, "name"). The first group is the review rules'
 * (review_decide); the second the decision machinery's around them (pipeline_decide:
 * loading and storing the manifest, auditing, the opener's task). The name is what the
 * audit log records as a refusal's outcome. */
#define REVIEW_CODES(X)                                     \
    X(REVIEW_OK, "ok")                                      \
    X(REVIEW_NOT_IN_REVIEW, "not_in_review")                \
    X(REVIEW_SHA256_MISMATCH, "sha256_mismatch")            \
    X(REVIEW_OWN_TASK, "own_task")                          \
    X(REVIEW_ALREADY_DECIDED, "already_decided")            \
    X(REVIEW_INVALID_DECISION, "invalid_decision")          \
    X(REVIEW_BAD_ID, "bad_id")                              \
    X(REVIEW_UNKNOWN_ARTIFACT, "unknown_artifact")          \
    X(REVIEW_STORE_FAILED, "store_failed")                  \
    X(REVIEW_AUDIT_FAILED, "audit_failed")                  \
    X(REVIEW_STOPPED, "stopped")                            \
    X(REVIEW_TASK_UNREADABLE, "task_unreadable")

typedef enum review_code {
#define REVIEW_CODE_ENUM(e, name) e,
    REVIEW_CODES(REVIEW_CODE_ENUM)
#undef REVIEW_CODE_ENUM
        REVIEW_CODE_COUNT
} review_code;

typedef struct review_result {
    review_outcome outcome;
    review_code code;  /* REVIEW_OK unless outcome is REVIEW_REFUSED */
    const char *error; /* review_code_name(code) for a refusal, else NULL */
    /* Legacy, read by nobody: written by pipeline.c's own refusals until its decisions
     * file sets `code` (review_code_of reads `error` for those meanwhile). */
    int status;
    char detail[320];  /* for people: what and what to do */
} review_result;

/* "not_in_review"; "invalid_decision" outside the enum. */
const char *review_code_name(review_code code);

/* The code of a result: `code` when set, else the one `error` names (refusals made by
 * the pipeline set only `error`); REVIEW_OK for results that are not refusals and
 * REVIEW_INVALID_DECISION for a name outside the table. */
review_code review_code_of(const review_result *result);

/* `opener` is the OS user who opened the artifact's task, or NULL when unknown (tasks
 * opened outside the API). `reason` may be NULL. */
review_result review_decide(artifact_manifest *m, sl_review_mode mode, const char *reviewer, const char *opener,
                            bool approve, const char *sha256, const char *reason, int64_t now_ms);

#endif /* SLUICE_STATE_REVIEW_H */
