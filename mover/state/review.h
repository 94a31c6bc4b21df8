/*
 * review.h — the rules of a review decision, as one pure function.
 *
 * A decision is refused (with the HTTP status and error code the API answers) when:
 * the artifact is not waiting for one (`not_in_review`, 409 — decisions on terminal
 * artifacts are refused); the SHA-256 it names is not the artifact's (`sha256_mismatch`,
 * 409: a decision is about bytes, and these are not the bytes that were checked); the
 * reviewer opened the artifact's task (`own_task`, 403: separation of duties); the
 * reviewer already decided on it (`already_decided`, 409).
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

typedef enum review_outcome {
    REVIEW_REFUSED = 0,
    REVIEW_WAITING,  /* recorded; another approval is needed */
    REVIEW_APPROVED, /* recorded and in_review -> approved */
    REVIEW_REJECTED, /* recorded and in_review -> rejected */
} review_outcome;

typedef struct review_result {
    review_outcome outcome;
    int status;        /* HTTP status for the API: 200, 403, 409 */
    const char *error; /* "not_in_review", "sha256_mismatch", "own_task", "already_decided", or NULL */
    char detail[320];  /* for people: what and what to do */
} review_result;

/* `opener` is the OS user who opened the artifact's task, or NULL when unknown (tasks
 * opened outside the API). `reason` may be NULL. */
review_result review_decide(artifact_manifest *m, sl_review_mode mode, const char *reviewer, const char *opener,
                            bool approve, const char *sha256, const char *reason, int64_t now_ms);

#endif /* SLUICE_STATE_REVIEW_H */
