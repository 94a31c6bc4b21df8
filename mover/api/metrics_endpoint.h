/*
 * metrics_endpoint.h — GET /metrics: the daemon's metrics in the Prometheus text
 * format (metrics/metrics.h writes it), served by its own API server on
 * api.metrics_listen (api_options.tcp_listen), open to anyone who can connect there.
 *
 *   200 Content-Type: text/plain; version=0.0.4; charset=utf-8
 *   500 {"error":"internal",...} if the text could not be written
 *
 * Threading: loop thread (the API server's); the registry's collectors run there.
 * Ownership: the route borrows the metrics; they must outlive the server.
 */
#ifndef SLUICE_API_METRICS_ENDPOINT_H
#define SLUICE_API_METRICS_ENDPOINT_H

#include "api/api.h"
#include "metrics/families.h"

api_route metrics_endpoint_route(sluice_metrics *metrics);

#endif /* SLUICE_API_METRICS_ENDPOINT_H */
