/*
 * health_endpoint.h — GET /v1/health, open to any local user who can connect: is the
 * daemon serving, and is it still making changes?
 *
 *   200 {"status":"ok","version":"<SLUICE_VERSION>"}
 *   503 {"status":"degraded","version":"…","reason":"audit_log: write of seq 17: File too large",
 *        "faults":[{"check":"audit_log","reason":"…"}],"error":"degraded","detail":"…"}
 *
 * The daemon registers health checks: each names a part and says, when asked, whether
 * it is at fault and why (the audit log after a failed write or fsync; the pipeline once
 * it has stopped making changes). Any fault makes the answer "degraded" — HTTP 503 with
 * the first fault's reason, every fault listed, and "error"/"detail" as every error
 * answer has them (api/errors.h: API_ERR_DEGRADED) — so a service check and
 * `sluice-review health` both see it.
 *
 * Threading: loop thread (the API server's); checks are called there, per request.
 * Ownership: the endpoint borrows the check names and users; it must outlive the server.
 */
#ifndef SLUICE_API_HEALTH_ENDPOINT_H
#define SLUICE_API_HEALTH_ENDPOINT_H

#include <stddef.h>

#include "api/api.h"
#include "util/error.h"

#define HEALTH_MAX_CHECKS 8

/* NULL when the part is fine; else why not (one line, valid during the call). */
typedef const char *health_fault_fn(void *user);

typedef struct health_check {
    const char *name; /* "audit_log" */
    health_fault_fn *fault;
    void *user;
} health_check;

typedef struct health_endpoint {
    health_check checks[HEALTH_MAX_CHECKS];
    size_t count;
} health_endpoint;

/* Adds a check. Errors: SL_ERR_INVALID_ARGUMENT (no name or function),
 * SL_ERR_LIMIT (more than HEALTH_MAX_CHECKS). */
SL_MUST_CHECK sl_result health_endpoint_add(health_endpoint *h, const char *name, health_fault_fn *fault, void *user);

/* The route (API_ROLE_ANY, no body); `h` NULL: no checks, always ok. */
api_route health_endpoint_route(health_endpoint *h);

/* Its handler, for servers that build their own table (`user`: the health_endpoint or NULL). */
void health_endpoint_handler(void *user, api_request *request, const api_request_info *info);

#endif /* SLUICE_API_HEALTH_ENDPOINT_H */
