/*
 * artifact_endpoints.h — the reviewers' endpoints of the socket API, on top of the
 * reviewers' desk (pipeline/desk.h):
 *
 *   GET  /v1/artifacts?state=S&route=R&limit=N   manifests (the first 1,000 in id order are scanned)
 *   GET  /v1/artifacts/{id}                       one manifest
 *   POST /v1/artifacts/{id}/fetch                 a short-lived URL of the quarantined bytes
 *                                                  (audited as "fetch" with the caller)
 *   POST /v1/artifacts/{id}/decision              {"decision":"approve"|"reject",
 *                                                   "sha256":"…","reason":"…"}
 *
 * All need the reviewer role. A decision is checked by the review rules
 * (state/review.h): the task's opener may not decide, the SHA-256 must be the
 * quarantined bytes', one decision per reviewer, none on terminal artifacts. The desk's
 * and the rules' typed outcomes become answers through api/errors.h. docs/api.md has
 * the protocol.
 *
 * Threading: loop thread. The routes borrow the desk, which must outlive the server.
 */
#ifndef SLUICE_API_ARTIFACT_ENDPOINTS_H
#define SLUICE_API_ARTIFACT_ENDPOINTS_H

#include <stddef.h>

#include "api/api.h"
#include "pipeline/desk.h"
#include "state/review.h"

#define ARTIFACT_ENDPOINT_COUNT 4

/* Writes the routes into out[0..max) and returns how many there are
 * (ARTIFACT_ENDPOINT_COUNT); when max is smaller, only max are written. */
size_t artifact_endpoints(desk *d, api_route *out, size_t max);

/* The API error for a refused decision (REVIEW_OWN_TASK -> API_ERR_OWN_TASK, …). */
api_error artifact_endpoints_review_error(review_code code);

/* The API error for a desk outcome other than DESK_OK. */
api_error artifact_endpoints_desk_error(desk_outcome outcome);

#endif /* SLUICE_API_ARTIFACT_ENDPOINTS_H */
