/*
 * operator_endpoints.c — the operators' endpoints (see operator_endpoints.h).
 */
#include "api/operator_endpoints.h"

#include <stdio.h>
#include <string.h>

#include "state/artifact.h"
#include "util/alloc.h"

#define RETRY_REASON_MAX 1024 /* bytes of an operator's reason */

struct retry_answer {
    api_request *req;
    char id[SL_ARTIFACT_ID_LEN + 1];
};

static api_error retry_error(pipeline_retry_outcome outcome)
{
    switch (outcome) {
    case PIPELINE_RETRY_UNKNOWN: return API_ERR_UNKNOWN_ARTIFACT;
    case PIPELINE_RETRY_NOT_FAILED: return API_ERR_NOT_FAILED;
    case PIPELINE_RETRY_AUDIT_FAILED: return API_ERR_AUDIT_FAILED;
    case PIPELINE_RETRY_STORE_FAILED:
    case PIPELINE_RETRY_DONE: break;
    }
    return API_ERR_STORE_FAILED;
}

static void retried(void *user, pipeline_retry_outcome outcome, const char *detail)
{
    struct retry_answer *a = user;
    if (outcome == PIPELINE_RETRY_DONE)
        api_respond(a->req, 200, json_pack("{s:s,s:s,s:s}", "id", a->id, "state", "quarantined", "detail", detail));
    else
        api_respond_error(a->req, retry_error(outcome), detail);
    sl_free(a);
}

static void retry(void *user, api_request *req, const api_request_info *info)
{
    json_t *reason = NULL;
    if (info->json != NULL) {
        const char *key;
        json_t *value;
        json_object_foreach(info->json, key, value) {
            if (strcmp(key, "reason") != 0) {
                api_respond_field_error(req, API_ERR_BAD_REQUEST, key, "unknown field (known: reason)");
                return;
            }
        }
        reason = json_object_get(info->json, "reason");
    }
    if (reason != NULL && !json_is_string(reason)) {
        api_respond_field_error(req, API_ERR_BAD_REQUEST, "reason", "\"reason\" must be a string");
        return;
    }
    if (reason != NULL && json_string_length(reason) > RETRY_REASON_MAX) {
        api_respond_field_error(req, API_ERR_FIELD_TOO_LARGE, "reason",
                                "\"reason\" is %zu bytes; at most %d bytes (UTF-8) are taken", json_string_length(reason),
                                RETRY_REASON_MAX);
        return;
    }
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(info->params[0])))) {
        api_respond_error(req, API_ERR_BAD_ID, NULL);
        return;
    }
    struct retry_answer *a = sl_calloc(1, sizeof(*a));
    a->req = req;
    snprintf(a->id, sizeof(a->id), "%s", info->params[0]);
    if (sl_failed(pipeline_retry(user, a->id, info->user, reason ? json_string_value(reason) : NULL, retried, a))) {
        api_respond_error(req, API_ERR_REFUSED, sl_error_detail());
        sl_free(a);
    }
}

/* ---- re-check ---- */

static api_error recheck_error(pipeline_recheck_outcome outcome)
{
    switch (outcome) {
    case PIPELINE_RECHECK_UNKNOWN: return API_ERR_UNKNOWN_ARTIFACT;
    case PIPELINE_RECHECK_NOT_IN_REVIEW: return API_ERR_NOT_IN_REVIEW;
    case PIPELINE_RECHECK_NO_ROUTE: return API_ERR_UNKNOWN_ROUTE;
    case PIPELINE_RECHECK_AUDIT_FAILED: return API_ERR_AUDIT_FAILED;
    case PIPELINE_RECHECK_STOPPED: return API_ERR_REFUSED;
    case PIPELINE_RECHECK_STORE_FAILED:
    case PIPELINE_RECHECK_UNCHANGED:
    case PIPELINE_RECHECK_DONE: break;
    }
    return API_ERR_STORE_FAILED;
}

static json_t *findings_json(const findings *f)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < f->count; i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "check", f->items[i].check, "verdict",
                                              finding_verdict_name(f->items[i].verdict), "detail",
                                              f->items[i].detail ? f->items[i].detail : ""));
    return list;
}

static void rechecked(void *user, const pipeline_recheck_report *report)
{
    api_request *req = user;
    if (report->outcome != PIPELINE_RECHECK_DONE) {
        api_respond_error(req, recheck_error(report->outcome), report->detail);
        return;
    }
    api_respond(req, 200,
                json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", report->id, "state", artifact_state_name(report->state),
                          "detail", report->detail, "old_version", report->old_version ? report->old_version : "",
                          "new_version", report->new_version ? report->new_version : "", "findings",
                          findings_json(report->added)));
}

static void recheck(void *user, api_request *req, const api_request_info *info)
{
    if (info->json != NULL && json_object_size(info->json) > 0) {
        api_respond_error(req, API_ERR_BAD_REQUEST, "a re-check takes no body members");
        return;
    }
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(info->params[0])))) {
        api_respond_error(req, API_ERR_BAD_ID, NULL);
        return;
    }
    if (sl_failed(pipeline_recheck(user, info->params[0], info->user, rechecked, req)))
        api_respond_error(req, API_ERR_REFUSED, sl_error_detail());
}

size_t operator_endpoints(pipeline *p, api_route *out, size_t max)
{
    const api_route routes[OPERATOR_ENDPOINT_COUNT] = {
        { "POST", "/v1/artifacts/{id}/retry", API_ROLE_OPERATOR, true, retry, p },
        { "POST", "/v1/artifacts/{id}/recheck", API_ROLE_OPERATOR, true, recheck, p },
    };
    size_t n = max < OPERATOR_ENDPOINT_COUNT ? max : OPERATOR_ENDPOINT_COUNT;
    for (size_t i = 0; i < n; i++) out[i] = routes[i];
    return OPERATOR_ENDPOINT_COUNT;
}
