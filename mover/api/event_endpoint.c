/*
 * event_endpoint.c — POST /events on events.listen (see event_endpoint.h).
 *
 * The order of the checks costs a sender without the secret as little as possible: the
 * API server bounds the body and the time; the secret is compared (constant time) before
 * a byte of the body is parsed; only then does the intake parse it. The request is
 * answered when the intake's verdict arrives (at once for a plain document; an SNS
 * message may wait for its signing certificate).
 */
#include "api/event_endpoint.h"

#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "events/secret.h"
#include "log/log.h"
#include "s3/http.h"
#include "util/alloc.h"

/* The headers the server keeps for this endpoint, in api_request_info.headers order. */
enum { HEADER_AUTHORIZATION, HEADER_SNS_TYPE, HEADER_COUNT };
static const char *const kept_headers[HEADER_COUNT] = { "authorization", "x-amz-sns-message-type" };

#define FETCH_CONNECT_MS 5000
#define FETCH_TOTAL_MS 10000
#define UNAUTHORIZED_LOG_MS 10000

struct event_endpoint {
    api_server *server;
    api_route route;
    s3_http *http;        /* SNS certificates and subscription confirmations */
    events_intake *intake;
    sl_buf secret;
    uv_loop_t *loop;
    uint64_t unauthorized;
    uint64_t unauthorized_logged;    /* the count at the last log line */
    uint64_t unauthorized_logged_ms; /* and when it was written */
};

static json_t *counts_json(const events_counts *one)
{
    return json_pack("{sI sI sI sI sI sI sI}", "documents", (json_int_t)one->documents, "records",
                     (json_int_t)one->records, "hinted", (json_int_t)one->hinted, "unknown",
                     (json_int_t)one->unknown, "elsewhere", (json_int_t)one->elsewhere, "not_created",
                     (json_int_t)one->not_created, "test_events", (json_int_t)one->test_events);
}

static void intake_done(void *user, events_verdict verdict, const char *detail, const events_counts *one)
{
    api_request *request = user;
    switch (verdict) {
    case EVENTS_OK: api_respond(request, 200, counts_json(one)); return;
    case EVENTS_BAD_REQUEST: api_respond_error(request, API_ERR_BAD_EVENT, detail); return;
    case EVENTS_FORBIDDEN: api_respond_error(request, API_ERR_EVENT_REFUSED, detail); return;
    case EVENTS_UNAVAILABLE: api_respond_error(request, API_ERR_UNAVAILABLE, detail); return;
    }
    api_respond_error(request, API_ERR_INTERNAL, NULL);
}

/* One line per UNAUTHORIZED_LOG_MS at most, with the count since the last: a sender
 * without the secret cannot flood the log. */
static void log_unauthorized(event_endpoint *e)
{
    uint64_t now = uv_now(e->loop);
    if (e->unauthorized_logged != 0 && now - e->unauthorized_logged_ms < UNAUTHORIZED_LOG_MS) return;
    char count[24];
    snprintf(count, sizeof(count), "%llu", (unsigned long long)(e->unauthorized - e->unauthorized_logged));
    sl_log(SL_LOG_WARN, "event_unauthorized", "requests", count, "detail",
           "requests to the events listener without the shared secret (events.secret_file) since the last line",
           NULL);
    e->unauthorized_logged = e->unauthorized;
    e->unauthorized_logged_ms = now;
}

static void handle(void *user, api_request *request, const api_request_info *info)
{
    event_endpoint *e = user;
    sl_buf scratch = { 0 };
    sl_cursor given = events_secret_presented(info->headers[HEADER_AUTHORIZATION], sl_cursor_from_cstr(info->query),
                                              &scratch);
    bool known = events_secret_matches(&e->secret, given);
    sl_buf_clean_up_secure(&scratch);
    if (!known) {
        e->unauthorized++;
        log_unauthorized(e);
        api_respond_error(request, API_ERR_UNAUTHORIZED,
                          "send the shared secret as the basic-auth password, a bearer token or ?token=");
        return;
    }
    bool sns = info->headers[HEADER_SNS_TYPE].len > 0;
    events_intake_submit(e->intake, info->body, sns, intake_done, request);
}

static sl_result load_secret(event_endpoint *e, const sl_config *config)
{
    sl_buf fresh = { 0 };
    GUARD(events_secret_load(config->events.secret_file, &fresh));
    sl_buf_clean_up_secure(&e->secret);
    e->secret = fresh;
    return SL_SUCCESS;
}

static sl_result start_parts(event_endpoint *e, uv_loop_t *loop, pipeline *p, const sl_config *config)
{
    GUARD(load_secret(e, config));
    s3_http_options ho = s3_http_options_default();
    ho.max_in_flight = 4;
    ho.connect_timeout_ms = FETCH_CONNECT_MS;
    ho.first_byte_timeout_ms = FETCH_TOTAL_MS;
    ho.total_timeout_ms = FETCH_TOTAL_MS;
    ho.verify_tls = config->s3.verify_tls;
    ho.ca_file = config->s3.ca_file;
    GUARD(s3_http_new(loop, &ho, &e->http));
    events_options io = { .loop = loop, .pipeline = p, .http = e->http };
    GUARD(events_intake_new(&io, config, &e->intake));
    e->route = (api_route){ .method = "POST", .pattern = EVENT_ENDPOINT_PATH, .roles = API_ROLE_ANY,
                            .json_body = false, .handler = handle, .user = e };
    api_options ao = { .tcp_listen = config->events.listen,
                       .max_body = EVENT_ENDPOINT_MAX_BODY,
                       .max_connections = 64,
                       .max_connections_per_user = 63, /* TCP: every sender is one pseudo-user */
                       .reserve = 1,
                       .kept_headers = kept_headers,
                       .kept_header_count = HEADER_COUNT };
    return api_server_new(loop, &ao, &e->route, 1, &e->server);
}

sl_result event_endpoint_start(uv_loop_t *loop, pipeline *p, const sl_config *config, event_endpoint **out)
{
    ENSURE(config->events.present && config->events.listen != NULL && config->events.secret_file != NULL,
           SL_ERR_INVALID_ARGUMENT, "the events listener needs events.listen and events.secret_file");
    event_endpoint *e = sl_calloc(1, sizeof(*e));
    e->loop = loop;
    if (sl_failed(start_parts(e, loop, p, config))) {
        event_endpoint_stop(e);
        return SL_FAILURE;
    }
    *out = e;
    return SL_SUCCESS;
}

sl_result event_endpoint_reload(event_endpoint *e, const sl_config *config)
{
    events_intake_reload(e->intake, config);
    return load_secret(e, config);
}

event_endpoint_counts event_endpoint_get_counts(const event_endpoint *e)
{
    return (event_endpoint_counts){ .intake = events_intake_get_counts(e->intake), .unauthorized = e->unauthorized };
}

void event_endpoint_stop(event_endpoint *e)
{
    if (e == NULL) return;
    /* the server first (no new requests; pending answers only free their requests), then
     * the engine (its fetches call back cancelled: the intake answers what waits), then
     * the intake */
    api_server_close(e->server);
    s3_http_destroy(e->http);
    events_intake_destroy(e->intake);
    sl_buf_clean_up_secure(&e->secret);
    sl_free(e);
}
