/*
 * control.c — the control-plane request engine of control.h.
 *
 * Every call becomes a `creq`: its parts (service, method, bucket, raw query pairs,
 * content type, body) are copied in once. start_attempt() signs them for the moment of
 * the attempt and submits them to the engine's own HTTP transport; the answer's body
 * is collected into a bounded buffer. finish_attempt() classifies the attempt, asks the
 * retry policy, and either arms the backoff timer or completes the request: a generic
 * request hands status and body to its caller, the bucket-setting reads turn them into
 * their typed answers first.
 */
#include "s3/control.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "s3/sigv4.h"
#include "util/alloc.h"

#define MAX_QUERY 8

typedef enum creq_kind { CREQ_GENERIC, CREQ_BUCKET_POLICY, CREQ_BUCKET_VERSIONING } creq_kind;

typedef struct creq {
    s3_control *control;
    struct creq *prev, *next;
    creq_kind kind;
    char service[8];
    char method[8];
    sl_buf bucket;
    sl_buf query_names[MAX_QUERY], query_values[MAX_QUERY];
    size_t query_count;
    sl_buf content_type;
    sl_buf body;

    unsigned attempt;
    uint64_t started_ms; /* the first attempt, for the retry budget */
    s3_http_request *http_req;
    uv_timer_t *retry_timer;
    sl_buf response;
    bool too_big;
    sl_buf request_id;

    s3_control_fn *on_generic;
    s3_bucket_policy_fn *on_policy;
    s3_versioning_fn *on_versioning;
    void *user;
} creq;

struct s3_control {
    uv_loop_t *loop;
    s3_http *http;
    s3_credentials credentials;
    char *region;
    char *scheme;
    char *host;
    s3_addressing addressing;
    s3_retry_policy retry;
    sigv4_key_cache *keys;
    uint64_t requests;
    creq *reqs;
    bool destroying;
};

/* ---- request life cycle ---- */

static void timer_closed(uv_handle_t *h) { sl_free(h); }

static void creq_unlink(creq *r)
{
    s3_control *c = r->control;
    if (r->prev) r->prev->next = r->next;
    else if (c->reqs == r) c->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void creq_free(creq *r)
{
    creq_unlink(r);
    if (r->retry_timer) uv_close((uv_handle_t *)r->retry_timer, timer_closed);
    sl_buf_clean_up(&r->bucket);
    for (size_t i = 0; i < r->query_count; i++) {
        sl_buf_clean_up(&r->query_names[i]);
        sl_buf_clean_up(&r->query_values[i]);
    }
    sl_buf_clean_up(&r->content_type);
    sl_buf_clean_up_secure(&r->body);     /* a session policy is not a secret, but cheap to wipe */
    sl_buf_clean_up_secure(&r->response); /* STS answers carry secrets */
    sl_buf_clean_up(&r->request_id);
    sl_free(r);
}

static creq *creq_new(s3_control *c, creq_kind kind, const char *service, const char *method, sl_cursor bucket)
{
    creq *r = sl_calloc(1, sizeof(*r));
    r->control = c;
    r->kind = kind;
    snprintf(r->service, sizeof(r->service), "%s", service);
    snprintf(r->method, sizeof(r->method), "%s", method);
    if (sl_failed(sl_buf_append_cursor(&r->bucket, bucket)) || sl_failed(sl_buf_reserve(&r->bucket, 0))) {
        sl_free(r);
        return NULL;
    }
    r->next = c->reqs;
    if (c->reqs) c->reqs->prev = r;
    c->reqs = r;
    return r;
}

static sl_result add_query(creq *r, const char *name, const char *value)
{
    ENSURE(r->query_count < MAX_QUERY, SL_ERR_LIMIT, "more than %d query parameters", MAX_QUERY);
    sl_buf *n = &r->query_names[r->query_count], *v = &r->query_values[r->query_count];
    if (sl_failed(sl_buf_append_cstr(n, name)) || sl_failed(sl_buf_reserve(n, 0)) ||
        sl_failed(sl_buf_append_cstr(v, value)) || sl_failed(sl_buf_reserve(v, 0))) {
        sl_buf_clean_up(n);
        sl_buf_clean_up(v);
        return SL_FAILURE;
    }
    r->query_count++;
    return SL_SUCCESS;
}

/* ---- completing ---- */

static void complete_policy(creq *r, const s3_result *result, sl_cursor body)
{
    r->on_policy(r->user, result, result->error == SL_OK ? body : (sl_cursor){ 0 });
}

static void complete_versioning(creq *r, const s3_result *result, sl_cursor body)
{
    if (result->error != SL_OK) {
        r->on_versioning(r->user, result, NULL);
        return;
    }
    s3_xml_parser *parser = s3_xml_parser_new(S3_XML_VERSIONING);
    s3_result parsed = *result;
    char detail[600];
    const s3_versioning *versioning = NULL;
    if (sl_failed(s3_xml_feed(parser, body.ptr, body.len)) || sl_failed(s3_xml_finish(parser))) {
        snprintf(detail, sizeof(detail), "GetBucketVersioning %s: malformed answer: %s", sl_buf_cstr(&r->bucket),
                 sl_error_detail());
        parsed.error = SL_ERR_PARSE;
        parsed.detail = detail;
    } else if ((versioning = s3_xml_versioning_result(parser)) == NULL) {
        const s3_error *e = s3_xml_error_result(parser);
        snprintf(detail, sizeof(detail), "GetBucketVersioning %s: %s", sl_buf_cstr(&r->bucket),
                 e ? sl_buf_cstr(&e->code_text) : "no result");
        parsed.error = SL_ERR_S3;
        parsed.detail = detail;
    }
    r->on_versioning(r->user, &parsed, parsed.error == SL_OK ? versioning : NULL);
    s3_xml_parser_destroy(parser);
}

/* One callback, then the request is freed. */
static void complete(creq *r, sl_error error, long status, const s3_error *s3err, const char *detail)
{
    s3_result result = {
        .error = error,
        .status = status,
        .code = s3err ? s3err->code : S3_ERROR_UNKNOWN,
        .code_text = s3err ? sl_buf_cstr(&s3err->code_text) : "",
        .message = s3err ? sl_buf_cstr(&s3err->message) : "",
        .request_id = sl_buf_cstr(&r->request_id),
        .detail = detail ? detail : "",
        .attempts = r->attempt,
    };
    sl_cursor body = sl_cursor_from_buf(&r->response);
    creq_unlink(r);
    switch (r->kind) {
    case CREQ_GENERIC: r->on_generic(r->user, &result, body); break;
    case CREQ_BUCKET_POLICY: complete_policy(r, &result, body); break;
    case CREQ_BUCKET_VERSIONING: complete_versioning(r, &result, body); break;
    }
    creq_free(r);
}

/* ---- one attempt ---- */

static sl_result start_attempt(creq *r);

static const char *what(const creq *r)
{
    switch (r->kind) {
    case CREQ_BUCKET_POLICY: return "GetBucketPolicy";
    case CREQ_BUCKET_VERSIONING: return "GetBucketVersioning";
    case CREQ_GENERIC: break;
    }
    return strcmp(r->service, "sts") == 0 ? "STS request" : "control request";
}

static void retry_now(uv_timer_t *t)
{
    creq *r = t->data;
    if (sl_failed(start_attempt(r))) {
        char detail[600];
        snprintf(detail, sizeof(detail), "%s: retry could not start: %s", what(r), sl_error_detail());
        complete(r, sl_error_last(), 0, NULL, detail);
    }
}

static void on_header(void *user, sl_cursor name, sl_cursor value)
{
    creq *r = user;
    if (sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr("x-amz-request-id"))) {
        sl_buf_reset(&r->request_id);
        if (sl_failed(sl_buf_append_cursor(&r->request_id, value))) sl_buf_reset(&r->request_id);
    }
}

static s3_http_body_action on_body(void *user, const uint8_t *data, size_t len)
{
    creq *r = user;
    if (len > S3_CONTROL_MAX_BODY - r->response.len) {
        r->too_big = true;
        return S3_HTTP_BODY_ABORT;
    }
    return sl_ok(sl_buf_append(&r->response, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

static s3_error_code code_for_status(long status)
{
    switch (status) {
    case 403: return S3_ERROR_ACCESS_DENIED;
    case 500: return S3_ERROR_INTERNAL_ERROR;
    case 503: return S3_ERROR_SERVICE_UNAVAILABLE;
    default: return S3_ERROR_UNKNOWN;
    }
}

static void finish_attempt(void *user, const s3_http_result *http)
{
    creq *r = user;
    s3_control *c = r->control;
    s3_error s3err = { 0 };
    bool have_s3err = false;
    sl_error error = http->error;
    char detail[1024];
    r->http_req = NULL;

    if (r->too_big) {
        error = SL_ERR_LIMIT;
        snprintf(detail, sizeof(detail), "%s %s: the answer is larger than %zu bytes", what(r),
                 sl_buf_cstr(&r->bucket), S3_CONTROL_MAX_BODY);
    } else if (error != SL_OK) {
        snprintf(detail, sizeof(detail), "%s %s: %s", what(r), sl_buf_cstr(&r->bucket), http->detail);
    } else if (http->status < 200 || http->status > 299) {
        error = SL_ERR_S3;
        have_s3err = true;
        if (r->response.len == 0 ||
            sl_failed(s3_xml_parse_error_body(r->response.data, r->response.len, &s3err))) {
            s3err = (s3_error){ .code = code_for_status(http->status) };
            if (sl_failed(sl_buf_append_cstr(&s3err.code_text, s3_error_code_name(s3err.code))))
                sl_buf_reset(&s3err.code_text);
        }
        snprintf(detail, sizeof(detail), "%s %s: HTTP %ld %s%s%s", what(r), sl_buf_cstr(&r->bucket), http->status,
                 sl_buf_cstr(&s3err.code_text), s3err.message.len ? ": " : "", sl_buf_cstr(&s3err.message));
    } else {
        detail[0] = '\0';
    }

    s3_attempt_outcome outcome = {
        .transport = error == SL_ERR_S3 ? SL_OK : error,
        .http_status = http->status,
        .s3_code = have_s3err ? sl_buf_cstr(&s3err.code_text) : NULL,
    };
    uint32_t random = 0;
    if (RAND_bytes((unsigned char *)&random, sizeof(random)) != 1) random = UINT32_MAX / 2;
    uint64_t delay = s3_retry_delay_ms(&c->retry, r->attempt, random);
    uint64_t elapsed = uv_now(c->loop) - r->started_ms;
    if (error != SL_OK && error != SL_ERR_CANCELLED && error != SL_ERR_LIMIT && !c->destroying &&
        s3_retry_should(&c->retry, r->attempt, elapsed + delay, true, &outcome)) {
        s3_error_clean_up(&s3err);
        if (r->retry_timer == NULL) {
            r->retry_timer = sl_calloc(1, sizeof(*r->retry_timer));
            uv_timer_init(c->loop, r->retry_timer);
            r->retry_timer->data = r;
        }
        uv_timer_start(r->retry_timer, retry_now, delay, 0);
        return;
    }
    complete(r, error, http->status, have_s3err ? &s3err : NULL, detail);
    s3_error_clean_up(&s3err);
}

static sl_result start_attempt(creq *r)
{
    s3_control *c = r->control;
    sl_result result = SL_FAILURE;
    sl_buf host = { 0 }, path = { 0 }, url = { 0 };
    sl_buf lines[2 + SIGV4_MAX_ADDED_HEADERS];
    size_t line_count = 0;
    sigv4_signed sig = { 0 };
    memset(lines, 0, sizeof(lines));
    sl_buf_reset(&r->response);
    sl_buf_reset(&r->request_id);
    r->too_big = false;
    if (r->attempt++ == 0) r->started_ms = uv_now(c->loop);

    if (r->bucket.len > 0 && c->addressing == S3_ADDRESSING_VIRTUAL) {
        GUARD_CLEANUP(sl_buf_appendf(&host, "%s.%s", sl_buf_cstr(&r->bucket), c->host));
        GUARD_CLEANUP(sl_buf_append_byte(&path, '/'));
    } else {
        GUARD_CLEANUP(sl_buf_append_cstr(&host, c->host));
        GUARD_CLEANUP(sl_buf_append_byte(&path, '/'));
        GUARD_CLEANUP(sl_buf_append_cursor(&path, sl_cursor_from_buf(&r->bucket)));
    }
    sigv4_pair headers[2];
    size_t header_count = 0;
    headers[header_count++] = (sigv4_pair){ sl_cursor_from_cstr("Host"), sl_cursor_from_buf(&host) };
    if (r->content_type.len > 0)
        headers[header_count++] = (sigv4_pair){ sl_cursor_from_cstr("Content-Type"),
                                                sl_cursor_from_buf(&r->content_type) };
    sigv4_pair query[MAX_QUERY];
    for (size_t i = 0; i < r->query_count; i++)
        query[i] = (sigv4_pair){ sl_cursor_from_buf(&r->query_names[i]), sl_cursor_from_buf(&r->query_values[i]) };
    sigv4_signing signing = { .credentials = &c->credentials,
                              .region = sl_cursor_from_cstr(c->region),
                              .service = sl_cursor_from_cstr(r->service),
                              .time = time(NULL),
                              .key_cache = c->keys };
    bool s3 = strcmp(r->service, "s3") == 0;
    sigv4_request req = { .method = sl_cursor_from_cstr(r->method),
                          .path = sl_cursor_from_buf(&path),
                          .uri_mode = s3 ? SIGV4_URI_S3 : SIGV4_URI_GENERIC,
                          .query = query,
                          .query_count = r->query_count,
                          .headers = headers,
                          .header_count = header_count,
                          .body = sl_cursor_from_buf(&r->body),
                          .add_content_sha256 = s3 };
    GUARD_CLEANUP(sigv4_sign_headers(&signing, &req, &sig));
    GUARD_CLEANUP(sl_buf_appendf(&url, "%s://%s%s", c->scheme, sl_buf_cstr(&host), sl_buf_cstr(&sig.path)));
    if (sig.query.len > 0) GUARD_CLEANUP(sl_buf_appendf(&url, "?%s", sl_buf_cstr(&sig.query)));

    sigv4_pair added[SIGV4_MAX_ADDED_HEADERS];
    size_t added_count = sigv4_signed_headers_to_add(&sig, added);
    for (size_t i = 0; i < header_count + added_count; i++) {
        const sigv4_pair *h = i < header_count ? &headers[i] : &added[i - header_count];
        GUARD_CLEANUP(sl_buf_append_cursor(&lines[line_count], h->name));
        GUARD_CLEANUP(sl_buf_append_cstr(&lines[line_count], ": "));
        GUARD_CLEANUP(sl_buf_append_cursor(&lines[line_count], h->value));
        line_count++;
    }
    const char *line_ptrs[2 + SIGV4_MAX_ADDED_HEADERS];
    for (size_t i = 0; i < line_count; i++) line_ptrs[i] = sl_buf_cstr(&lines[i]);
    s3_http_request_spec spec = {
        .method = r->method,
        .url = sl_buf_cstr(&url),
        .headers = line_ptrs,
        .header_count = line_count,
        .body = r->body.len ? r->body.data : NULL,
        .body_len = r->body.len,
        .on_header = on_header,
        .on_body = on_body,
        .on_done = finish_attempt,
        .user = r,
    };
    GUARD_CLEANUP(s3_http_submit(c->http, &spec, &r->http_req));
    c->requests++;
    result = SL_SUCCESS;
cleanup:
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) sl_buf_clean_up_secure(&lines[i]);
    sigv4_signed_clean_up(&sig);
    sl_buf_clean_up(&host);
    sl_buf_clean_up(&path);
    sl_buf_clean_up(&url);
    return result;
}

static sl_result launch(creq *r)
{
    if (sl_failed(start_attempt(r))) {
        creq_free(r);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}

/* ---- the engine ---- */

sl_result s3_control_new(uv_loop_t *loop, const s3_control_config *config, s3_control **out)
{
    ENSURE(loop != NULL && config != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "s3_control_new: arguments");
    ENSURE(config->endpoint != NULL && config->region != NULL && config->region[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "control requests need an endpoint and a region");
    ENSURE(config->credentials != NULL && config->credentials->access_key_id != NULL &&
               config->credentials->secret_access_key != NULL,
           SL_ERR_INVALID_ARGUMENT, "control requests need credentials");
    sl_result result = SL_FAILURE;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL;
    s3_control *c = NULL;
    ENSURE_CLEANUP(u != NULL, SL_ERR_UNSUPPORTED, "curl_url failed");
    ENSURE_CLEANUP(curl_url_set(u, CURLUPART_URL, config->endpoint, 0) == CURLUE_OK, SL_ERR_INVALID_ARGUMENT,
                   "endpoint \"%s\" is not a URL", config->endpoint);
    ENSURE_CLEANUP(curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                       (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0),
                   SL_ERR_INVALID_ARGUMENT, "endpoint \"%s\": the scheme must be http or https", config->endpoint);
    ENSURE_CLEANUP(curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK, SL_ERR_INVALID_ARGUMENT,
                   "endpoint \"%s\" has no host", config->endpoint);
    (void)curl_url_get(u, CURLUPART_PATH, &path, 0);
    ENSURE_CLEANUP(path == NULL || path[0] == '\0' || strcmp(path, "/") == 0, SL_ERR_INVALID_ARGUMENT,
                   "endpoint \"%s\": no path allowed", config->endpoint);
    ENSURE_CLEANUP(curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK &&
                       curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_OK,
                   SL_ERR_INVALID_ARGUMENT, "endpoint \"%s\": no query or user info allowed", config->endpoint);
    (void)curl_url_get(u, CURLUPART_PORT, &port, 0);

    c = sl_calloc(1, sizeof(*c));
    c->loop = loop;
    c->scheme = sl_strdup(scheme);
    sl_buf h = { 0 };
    if (sl_failed(sl_buf_append_cstr(&h, host)) || (port && sl_failed(sl_buf_appendf(&h, ":%s", port)))) {
        sl_buf_clean_up(&h);
        goto cleanup;
    }
    c->host = sl_buf_steal(&h);
    c->region = sl_strdup(config->region);
    c->addressing = config->addressing;
    c->retry = config->retry;
    if (c->retry.max_attempts == 0) c->retry.max_attempts = 1;
    GUARD_CLEANUP(s3_credentials_init(&c->credentials, config->credentials->access_key_id,
                                      config->credentials->secret_access_key, config->credentials->session_token));
    c->keys = sigv4_key_cache_new();
    GUARD_CLEANUP(s3_http_new(loop, &config->http, &c->http));
    *out = c;
    c = NULL;
    result = SL_SUCCESS;
cleanup:
    if (c != NULL) {
        s3_credentials_clean_up(&c->credentials);
        sigv4_key_cache_destroy(c->keys);
        sl_free(c->scheme);
        sl_free(c->host);
        sl_free(c->region);
        sl_free(c);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(user);
    curl_url_cleanup(u);
    return result;
}

void s3_control_destroy(s3_control *c)
{
    if (c == NULL || c->destroying) return;
    c->destroying = true;
    /* requests waiting for a retry have no HTTP request: complete them here */
    creq *r = c->reqs;
    while (r != NULL) {
        creq *next = r->next;
        if (r->http_req == NULL) complete(r, SL_ERR_CANCELLED, 0, NULL, "the control client was shut down");
        r = next;
    }
    s3_http_destroy(c->http); /* completes the rest through finish_attempt */
    s3_credentials_clean_up(&c->credentials);
    sigv4_key_cache_destroy(c->keys);
    sl_free(c->scheme);
    sl_free(c->host);
    sl_free(c->region);
    sl_free(c);
}

uint64_t s3_control_request_count(const s3_control *c) { return c->requests; }

/* ---- operations ---- */

static sl_result check_bucket(sl_cursor bucket)
{
    ENSURE(bucket.len > 0 && bucket.len <= 255 && sl_cursor_find_byte(bucket, '/') < 0, SL_ERR_INVALID_ARGUMENT,
           "a bucket name of 1..255 bytes without '/' is required");
    return SL_SUCCESS;
}

sl_result s3_control_request(s3_control *c, const s3_control_spec *spec, s3_control_fn *done, void *user)
{
    ENSURE(c != NULL && spec != NULL && done != NULL && spec->service != NULL && spec->method != NULL,
           SL_ERR_INVALID_ARGUMENT, "s3_control_request: control, spec, service, method and callback are required");
    ENSURE(!c->destroying, SL_ERR_STATE, "the control client is shutting down");
    ENSURE(strlen(spec->service) < 8 && strlen(spec->method) < 8, SL_ERR_INVALID_ARGUMENT,
           "s3_control_request: unknown service or method");
    ENSURE(spec->query_count <= MAX_QUERY && (spec->query_count == 0 || spec->query != NULL), SL_ERR_INVALID_ARGUMENT,
           "s3_control_request: at most %d query parameters", MAX_QUERY);
    if (spec->bucket.len > 0) GUARD(check_bucket(spec->bucket));
    creq *r = creq_new(c, CREQ_GENERIC, spec->service, spec->method, spec->bucket);
    ENSURE(r != NULL, SL_ERR_OVERFLOW, "s3_control_request: the bucket name could not be copied");
    r->on_generic = done;
    r->user = user;
    sl_result ok = sl_buf_append_cursor(&r->body, spec->body);
    for (size_t i = 0; sl_ok(ok) && i < spec->query_count; i++)
        ok = add_query(r, spec->query[2 * i], spec->query[2 * i + 1]);
    if (sl_ok(ok) && spec->content_type != NULL) ok = sl_buf_append_cstr(&r->content_type, spec->content_type);
    if (sl_failed(ok)) {
        creq_free(r);
        return SL_FAILURE;
    }
    return launch(r);
}

static sl_result bucket_read(s3_control *c, sl_cursor bucket, creq_kind kind, const char *param, creq **out)
{
    ENSURE(c != NULL, SL_ERR_INVALID_ARGUMENT, "no control client");
    ENSURE(!c->destroying, SL_ERR_STATE, "the control client is shutting down");
    GUARD(check_bucket(bucket));
    creq *r = creq_new(c, kind, "s3", "GET", bucket);
    ENSURE(r != NULL, SL_ERR_OVERFLOW, "the bucket name could not be copied");
    if (sl_failed(add_query(r, param, ""))) {
        creq_free(r);
        return SL_FAILURE;
    }
    *out = r;
    return SL_SUCCESS;
}

sl_result s3_control_get_bucket_policy(s3_control *c, sl_cursor bucket, s3_bucket_policy_fn *done, void *user)
{
    ENSURE(done != NULL, SL_ERR_INVALID_ARGUMENT, "GetBucketPolicy needs a callback");
    creq *r = NULL;
    GUARD(bucket_read(c, bucket, CREQ_BUCKET_POLICY, "policy", &r));
    r->on_policy = done;
    r->user = user;
    return launch(r);
}

sl_result s3_control_get_bucket_versioning(s3_control *c, sl_cursor bucket, s3_versioning_fn *done, void *user)
{
    ENSURE(done != NULL, SL_ERR_INVALID_ARGUMENT, "GetBucketVersioning needs a callback");
    creq *r = NULL;
    GUARD(bucket_read(c, bucket, CREQ_BUCKET_VERSIONING, "versioning", &r));
    r->on_versioning = done;
    r->user = user;
    return launch(r);
}
