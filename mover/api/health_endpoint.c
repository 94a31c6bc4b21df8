/*
 * health_endpoint.c — GET /v1/health (see health_endpoint.h): asks every check, answers
 * ok or degraded.
 */
#include "api/health_endpoint.h"

#include <stdio.h>

#include "version.h"

sl_result health_endpoint_add(health_endpoint *h, const char *name, health_fault_fn *fault, void *user)
{
    ENSURE(h != NULL && name != NULL && name[0] != '\0' && fault != NULL, SL_ERR_INVALID_ARGUMENT,
           "a health check needs a name and a function");
    ENSURE(h->count < HEALTH_MAX_CHECKS, SL_ERR_LIMIT, "more than %d health checks", HEALTH_MAX_CHECKS);
    h->checks[h->count++] = (health_check){ .name = name, .fault = fault, .user = user };
    return SL_SUCCESS;
}

void health_endpoint_handler(void *user, api_request *request, const api_request_info *info)
{
    (void)info;
    const health_endpoint *h = user;
    json_t *faults = json_array();
    char first[512] = "";
    for (size_t i = 0; h != NULL && i < h->count; i++) {
        const char *why = h->checks[i].fault(h->checks[i].user);
        if (why == NULL) continue;
        if (first[0] == '\0') snprintf(first, sizeof(first), "%s: %s", h->checks[i].name, why);
        json_array_append_new(faults, json_pack("{s:s,s:s}", "check", h->checks[i].name, "reason", why));
    }
    if (json_array_size(faults) == 0) {
        json_decref(faults);
        api_respond(request, 200, json_pack("{s:s, s:s}", "status", "ok", "version", SLUICE_VERSION));
        return;
    }
    char detail[700];
    snprintf(detail, sizeof(detail), "%s; the daemon has stopped making changes (see its log)", first);
    json_t *body = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "status", "degraded", "version", SLUICE_VERSION,
                             "reason", first, "faults", faults, "error", api_error_code(API_ERR_DEGRADED), "detail",
                             detail);
    if (body == NULL) /* a reason that is not UTF-8: still degraded, with the table's words */
        api_respond_error(request, API_ERR_DEGRADED, NULL);
    else
        api_respond(request, api_error_status(API_ERR_DEGRADED), body);
}

api_route health_endpoint_route(health_endpoint *h)
{
    return (api_route){ .method = "GET", .pattern = "/v1/health", .roles = API_ROLE_ANY, .json_body = false,
                        .handler = health_endpoint_handler, .user = h };
}
