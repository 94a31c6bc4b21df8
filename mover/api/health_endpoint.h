/*
 * health_endpoint.h — GET /v1/health, open to any local user who can connect:
 * {"status":"ok","version":"<SLUICE_VERSION>"}.
 *
 * Threading: loop thread (the API server's).
 */
#ifndef SLUICE_API_HEALTH_ENDPOINT_H
#define SLUICE_API_HEALTH_ENDPOINT_H

#include "api/api.h"

/* The route (API_ROLE_ANY, no body). */
api_route health_endpoint_route(void);

/* Its handler, for servers that build their own table (`user` is unused). */
void health_endpoint_handler(void *user, api_request *request, const api_request_info *info);

#endif /* SLUICE_API_HEALTH_ENDPOINT_H */
