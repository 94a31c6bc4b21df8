/*
 * metrics_endpoint.c — GET /metrics (see metrics_endpoint.h).
 */
#include "api/metrics_endpoint.h"

static void handle(void *user, api_request *request, const api_request_info *info)
{
    (void)info;
    sluice_metrics *m = user;
    metrics_add(m->scrapes, METRICS_NO_LABELS, 1);
    sl_buf text = { 0 };
    if (sl_failed(metrics_render(m->registry, &text))) {
        sl_buf_clean_up(&text);
        api_respond_error(request, API_ERR_INTERNAL, "the metrics could not be written; see the daemon's log");
        return;
    }
    api_respond_bytes(request, 200, METRICS_CONTENT_TYPE, &text);
}

api_route metrics_endpoint_route(sluice_metrics *metrics)
{
    return (api_route){ .method = "GET", .pattern = "/metrics", .roles = API_ROLE_ANY, .json_body = false,
                        .handler = handle, .user = metrics };
}
