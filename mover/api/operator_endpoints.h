/*
 * operator_endpoints.h — what operators (review.operators) may do through the socket API:
 *
 *   POST /v1/artifacts/{id}/retry   {"reason":"…"} (optional)
 *       a `failed` artifact (kept in quarantine: its reads never succeeded within the
 *       retry budget, or its trusted key held other bytes) goes back to `quarantined`
 *       and is checked again at once; recorded with the operator as the actor.
 *   POST /v1/artifacts/{id}/recheck (no body members)
 *       an artifact in review is checked again from its quarantine copy with the rules
 *       and signatures in force (pipeline_recheck): {"id","state","detail",
 *       "old_version","new_version","findings":[the findings its manifest gained]};
 *       a new failure leaves it blocked. Recorded with the operator as the actor.
 *
 * The pipeline's typed outcome (pipeline_retry_outcome) becomes an answer of the error
 * table (api/errors.h). Threading: loop thread. The routes borrow the pipeline.
 */
#ifndef SLUICE_API_OPERATOR_ENDPOINTS_H
#define SLUICE_API_OPERATOR_ENDPOINTS_H

#include <stddef.h>

#include "api/api.h"
#include "pipeline/pipeline.h"

#define OPERATOR_ENDPOINT_COUNT 2

/* Writes the routes into out[0..max) and returns how many there are. */
size_t operator_endpoints(pipeline *p, api_route *out, size_t max);

#endif /* SLUICE_API_OPERATOR_ENDPOINTS_H */
