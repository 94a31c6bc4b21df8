/*
 * errors.h — the API's one error table: every error any endpoint (or the server itself)
 * answers, as X(ENUM, "code", HTTP status, "default detail"). The code is the stable
 * "error" field of the JSON body; the status is the HTTP status it goes with; the
 * default detail is what a client reads when the answer has nothing more specific.
 * docs/api.md lists the same table (test_api checks that every row is there).
 *
 * The engine below mover/api/ never sees this table: it hands back typed results
 * (task_outcome, review_code, desk_outcome), and each endpoint file maps those to an
 * api_error here. Threading: pure.
 */
#ifndef SLUICE_API_ERRORS_H
#define SLUICE_API_ERRORS_H

/* Append freely; the order is the order of docs/api.md's table. */
#define API_ERRORS(X)                                                                                              \
    /* the server: HTTP framing, routing, roles, limits */                                                         \
    X(API_ERR_BAD_REQUEST, "bad_request", 400, "the request is malformed")                                        \
    X(API_ERR_BAD_JSON, "bad_json", 400, "the body must be one JSON object")                                       \
    X(API_ERR_FIELD_TOO_LARGE, "field_too_large", 400, "a field of the request is over its documented limit")      \
    X(API_ERR_FORBIDDEN, "forbidden", 403, "the caller has none of the roles this endpoint needs")                 \
    X(API_ERR_NOT_FOUND, "not_found", 404, "there is no such endpoint; docs/api.md lists them")                    \
    X(API_ERR_METHOD_NOT_ALLOWED, "method_not_allowed", 405, "the path exists for other methods")                  \
    X(API_ERR_REQUEST_TIMEOUT, "request_timeout", 408, "the request was not complete in time")                     \
    X(API_ERR_BODY_TOO_LARGE, "body_too_large", 413, "the request body is over the limit")                         \
    X(API_ERR_HEADERS_TOO_LARGE, "headers_too_large", 431, "the request line and headers are over the limit")      \
    X(API_ERR_INTERNAL, "internal", 500, "the daemon could not form its answer; see its log")                     \
    X(API_ERR_BUSY, "busy", 503, "the daemon is serving its limit of connections; try again shortly")             \
    X(API_ERR_HTTP_VERSION, "http_version_not_supported", 505, "only HTTP/1.0 and HTTP/1.1 are served")            \
    /* health */                                                                                                   \
    X(API_ERR_DEGRADED, "degraded", 503, "the daemon has stopped making changes")                                  \
    /* artifacts */                                                                                                \
    X(API_ERR_BAD_ID, "bad_id", 400, "an artifact id is 32 lower-case hex digits")                                 \
    X(API_ERR_BAD_STATE, "bad_state", 400, "not an artifact state")                                               \
    X(API_ERR_UNKNOWN_ARTIFACT, "unknown_artifact", 404, "no artifact with this id waits or ended outside trusted") \
    X(API_ERR_NO_QUARANTINED_COPY, "no_quarantined_copy", 409, "the artifact's bytes are no longer in quarantine") \
    X(API_ERR_PRESIGN_FAILED, "presign_failed", 500, "the download URL could not be signed")                       \
    X(API_ERR_STORE_FAILED, "store_failed", 503, "the control store (S3) failed; try again")                       \
    X(API_ERR_AUDIT_FAILED, "audit_failed", 503, "the audit log failed: the daemon stops making changes")          \
    X(API_ERR_REFUSED, "refused", 503, "the daemon stopped making changes (see GET /v1/health)")                   \
    X(API_ERR_TASK_UNREADABLE, "task_unreadable", 503,                                                             \
      "the artifact's task manifest could not be read, so separation of duties cannot be checked")                \
    /* decisions */                                                                                                \
    X(API_ERR_NOT_IN_REVIEW, "not_in_review", 409, "the artifact is not waiting for a decision")                   \
    X(API_ERR_SHA256_MISMATCH, "sha256_mismatch", 409, "the SHA-256 is not the quarantined bytes'")                 \
    X(API_ERR_OWN_TASK, "own_task", 403, "the caller opened the artifact's task (separation of duties)")           \
    X(API_ERR_ALREADY_DECIDED, "already_decided", 409, "the caller already decided on this artifact")              \
    X(API_ERR_INVALID_DECISION, "invalid_decision", 409, "the decision cannot be recorded")                        \
    /* operators */                                                                                                \
    X(API_ERR_NOT_FAILED, "not_failed", 409, "only a failed artifact can be retried")                              \
    /* tasks */                                                                                                    \
    X(API_ERR_UNKNOWN_ROUTE, "unknown_route", 400, "no route has this name")                                       \
    X(API_ERR_INVALID_TTL, "invalid_ttl", 400, "ttl must be a duration such as \"30m\" within grants.max_ttl")      \
    X(API_ERR_INVALID_REQUEST, "invalid_request", 400, "the task request is not valid")                            \
    X(API_ERR_UNKNOWN_TASK, "unknown_task", 404, "no task has this id")                                           \
    X(API_ERR_TASK_NOT_OPEN, "task_not_open", 409, "the task is closed or expired already")                       \
    X(API_ERR_UNAVAILABLE, "unavailable", 503, "the task registry cannot serve this now; try again")               \
    /* events (api/event_endpoint.h) */                                                                            \
    X(API_ERR_UNAUTHORIZED, "unauthorized", 401, "the request does not carry the events secret")                   \
    X(API_ERR_BAD_EVENT, "bad_event", 400, "the body is not an S3 event document or an SNS message")               \
    X(API_ERR_EVENT_REFUSED, "event_refused", 403, "the SNS message is not from an accepted topic and origin, or its signature does not verify")

typedef enum api_error {
#define API_ERROR_ENUM(e, code, status, message) e,
    API_ERRORS(API_ERROR_ENUM)
#undef API_ERROR_ENUM
        API_ERROR_COUNT
} api_error;

/* The code ("bad_request"), status (400) and default detail of an error; outside the
 * table: those of API_ERR_INTERNAL. */
const char *api_error_code(api_error error);
int api_error_status(api_error error);
const char *api_error_message(api_error error);

#endif /* SLUICE_API_ERRORS_H */
