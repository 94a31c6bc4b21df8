/*
 * health_endpoint.c — GET /v1/health (see health_endpoint.h).
 */
#include "api/health_endpoint.h"

#include "version.h"

void health_endpoint_handler(void *user, api_request *request, const api_request_info *info)
{
    (void)user;
    (void)info;
    api_respond(request, 200, json_pack("{s:s, s:s}", "status", "ok", "version", SLUICE_VERSION));
}

api_route health_endpoint_route(void)
{
    return (api_route){ .method = "GET", .pattern = "/v1/health", .roles = API_ROLE_ANY, .json_body = false,
                        .handler = health_endpoint_handler, .user = NULL };
}
