/*
 * artifacts.h — the reviewers' endpoints of the socket API:
 *
 *   GET  /v1/artifacts?state=S&route=R&limit=N   manifests (the first 1,000 in id order are scanned)
 *   GET  /v1/artifacts/{id}                       one manifest
 *   POST /v1/artifacts/{id}/fetch                 a short-lived URL of the quarantined bytes
 *                                                  (audited as "fetch" with the caller)
 *   POST /v1/artifacts/{id}/decision              {"decision":"approve"|"reject",
 *                                                   "sha256":"…","reason":"…"}
 *
 * All need the reviewer role. A decision is checked by the review rules
 * (state/review.h): the task's opener (from the task manifest's "opened_by") may not
 * decide, the SHA-256 must be the quarantined bytes', one decision per reviewer, none on
 * terminal artifacts. Threading: loop thread.
 */
#ifndef SLUICE_API_ARTIFACTS_H
#define SLUICE_API_ARTIFACTS_H

#include <stddef.h>

#include "api/api.h"
#include "audit/audit.h"
#include "pipeline/pipeline.h"
#include "s3/client.h"

typedef struct artifacts_api {
    pipeline *pipeline;
    s3_client *client;
    audit_log *audit;
    const sl_config *const *config; /* where the current config pointer lives (reloads) */
} artifacts_api;

/* Fills out[] (at least 4 entries) with the routes; returns how many. */
size_t artifacts_api_routes(artifacts_api *api, api_route *out, size_t max);

#endif /* SLUICE_API_ARTIFACTS_H */
