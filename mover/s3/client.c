/*
 * client.c — the S3 client's request engine (client.h; the parts: client_impl.h).
 *
 * Every request is an `op`, described by its row of the operation table: the builder
 * (requests.c, multipart_copy.c) copies the request's parts into the op once; each
 * attempt signs them afresh (SigV4 dates must be current), submits them, and collects
 * the answer — response headers into the op's response arena, a 2xx body into the
 * row's XML parser or the GET caller's chunk callback, an error body into a bounded
 * buffer. When the attempt ends, `finish_attempt` classifies it, counts it, asks the
 * retry policy, and either arms the backoff timer or completes the op with one
 * callback (the row's `deliver`, or `on_internal` for a step of a larger operation).
 */
#include "s3/client_impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/alloc.h"

/* ---- arenas and pairs ---- */

static sl_cursor span_text(const sl_buf *arena, op_span span)
{
    return sl_cursor_from_bytes(arena->data + span.at, span.len);
}

sl_cursor op_arena_text(const sl_buf *arena, op_span span) { return span_text(arena, span); }

sl_cursor op_request_text(const op *o, op_span span) { return span_text(&o->request, span); }

sl_cursor op_response_text(const op *o, op_span span) { return span_text(&o->response, span); }

/* Appends the bytes to the arena and says where they are. */
static sl_result arena_add(sl_buf *arena, sl_cursor bytes, op_span *out)
{
    ENSURE(arena->len <= UINT32_MAX - bytes.len, SL_ERR_LIMIT, "an S3 request of more than 4 GiB of text");
    op_span span = { (uint32_t)arena->len, (uint32_t)bytes.len };
    GUARD(sl_buf_append_cursor(arena, bytes));
    *out = span;
    return SL_SUCCESS;
}

sl_result op_pairs_add(sl_buf *arena, op_pairs *pairs, sl_cursor name, sl_cursor value)
{
    ENSURE(pairs->count < OP_MAX_PAIRS, SL_ERR_LIMIT, "more than %d headers or parameters", OP_MAX_PAIRS);
    size_t mark = arena->len;
    op_pair *p = &pairs->items[pairs->count];
    if (sl_failed(arena_add(arena, name, &p->name)) || sl_failed(arena_add(arena, value, &p->value))) {
        arena->len = mark;
        return SL_FAILURE;
    }
    pairs->count++;
    return SL_SUCCESS;
}

sl_result op_add_query(op *o, sl_cursor name, sl_cursor value) { return op_pairs_add(&o->request, &o->query, name, value); }

sl_result op_add_header(op *o, sl_cursor name, sl_cursor value)
{
    return op_pairs_add(&o->request, &o->headers, name, value);
}

sl_result op_add_header_prefixed(op *o, const char *prefix, sl_cursor name, sl_cursor value)
{
    ENSURE(o->headers.count < OP_MAX_PAIRS, SL_ERR_LIMIT, "more than %d headers", OP_MAX_PAIRS);
    size_t mark = o->request.len;
    op_pair *p = &o->headers.items[o->headers.count];
    sl_cursor pre = sl_cursor_from_cstr(prefix);
    sl_result r = arena_add(&o->request, pre, &p->name);
    if (sl_ok(r)) r = sl_buf_append_cursor(&o->request, name);
    if (sl_ok(r)) r = o->request.len - p->name.at <= UINT32_MAX ? SL_SUCCESS : SL_FAILURE;
    if (sl_ok(r)) {
        p->name.len = (uint32_t)(o->request.len - p->name.at);
        r = arena_add(&o->request, value, &p->value);
    }
    if (sl_failed(r)) {
        o->request.len = mark;
        return SL_FAILURE;
    }
    o->headers.count++;
    return SL_SUCCESS;
}

/* Keeps a header's value in the response arena, NUL-terminated (the last one wins). */
static void keep(op *o, op_span *span, sl_cursor value)
{
    if (sl_failed(arena_add(&o->response, value, span)) || sl_failed(sl_buf_append_byte(&o->response, 0)))
        *span = (op_span){ 0, 0 };
}

/* A kept value as a C string. */
static const char *kept_cstr(const op *o, op_span span)
{
    return span.len ? (const char *)o->response.data + span.at : "";
}

/* ---- op life cycle ---- */

static void reset_attempt(op *o)
{
    s3_xml_parser_destroy(o->parser);
    o->parser = o->desc->document != OP_NO_DOCUMENT ? s3_xml_parser_new(o->desc->document) : NULL;
    o->parse_result = SL_SUCCESS;
    sl_buf_reset(&o->error_body);
    sl_buf_reset(&o->response);
    o->etag = o->content_type = o->last_modified = o->version_id = o->request_id = (op_span){ 0, 0 };
    o->metadata.count = 0;
    o->metadata.bytes = 0;
    o->metadata.truncated = false;
    o->has_content_length = false;
    o->content_length = 0;
    o->http_req = NULL;
}

static void retry_timer_closed(uv_handle_t *h) { sl_free(h); }

/* Takes the op out of the client's list (once). */
static void op_unlink(op *o)
{
    s3_client *c = o->client;
    if (!o->linked) return;
    if (o->prev) o->prev->next = o->next;
    else c->ops = o->next;
    if (o->next) o->next->prev = o->prev;
    o->prev = o->next = NULL;
    o->linked = false;
}

void op_free(op *o)
{
    op_unlink(o);
    if (o->retry_timer) uv_close((uv_handle_t *)o->retry_timer, retry_timer_closed);
    s3_xml_parser_destroy(o->parser);
    sl_buf_clean_up(&o->request);
    sl_buf_clean_up(&o->body);
    sl_buf_clean_up(&o->error_body);
    sl_buf_clean_up(&o->response);
    sl_free(o->metadata.items);
    sl_free(o->metadata.view);
    sl_free(o);
}

op *op_new(s3_client *c, const op_desc *desc, sl_cursor bucket, sl_cursor key)
{
    op *o = sl_calloc(1, sizeof(*o));
    o->client = c;
    o->not_after_ms = c->not_after_ms;
    o->kind = desc->kind;
    o->desc = desc;
    o->next = c->ops;
    if (c->ops) c->ops->prev = o;
    c->ops = o;
    o->linked = true;
    sl_result r = arena_add(&o->request, bucket, &o->bucket);
    if (sl_ok(r)) r = arena_add(&o->request, key, &o->key);
    if (sl_ok(r) && o->desc->subresource != NULL)
        r = op_add_query(o, sl_cursor_from_cstr(o->desc->subresource), sl_cursor_from_cstr(""));
    if (sl_failed(r)) {
        op_free(o);
        return NULL;
    }
    return o;
}

void op_fill_info(op *o, s3_object_info *info)
{
    o->metadata.view = sl_realloc(o->metadata.view, (2 * (size_t)o->metadata.count + 1) * sizeof(*o->metadata.view));
    sl_cursor *meta = o->metadata.view;
    *info = (s3_object_info){
        .etag = op_response_text(o, o->etag),
        .size = o->content_length,
        .has_size = o->has_content_length && (o->desc->flags & OP_OBJECT_SIZE),
        .content_type = op_response_text(o, o->content_type),
        .last_modified = op_response_text(o, o->last_modified),
        .version_id = op_response_text(o, o->version_id),
        .metadata = meta,
        .metadata_count = o->metadata.count,
        .metadata_truncated = o->metadata.truncated,
    };
    for (size_t i = 0; i < o->metadata.count; i++) {
        meta[2 * i] = op_response_text(o, o->metadata.items[i].name);
        meta[2 * i + 1] = op_response_text(o, o->metadata.items[i].value);
    }
}

static void announce_get_headers(op *o)
{
    if (o->headers_delivered) return;
    o->headers_delivered = true;
    if (o->on_get_headers == NULL) return;
    s3_object_info info;
    op_fill_info(o, &info);
    o->on_get_headers(o->user, &info);
}

/* Whether a failed attempt may still have taken effect at the server: a transport
 * failure after sending (timeout, reset), a malformed or cancelled answer, a 5xx other
 * than the throttling answers S3 documents as "not processed" (503 SlowDown /
 * ServiceUnavailable), and a late error (a 200 whose body is an <Error>: the copy or
 * Complete ran for a while and failed at a point the answer does not say). A 4xx is the
 * server's refusal: nothing happened. */
static bool outcome_indefinite(sl_error error, long status, s3_error_code code)
{
    bool throttled = code == S3_ERROR_SLOW_DOWN || code == S3_ERROR_SERVICE_UNAVAILABLE;
    switch (error) {
    case SL_OK:
        return false;
    case SL_ERR_S3:
        if (status >= 400 && status < 500) return false;
        if (status < 400) return !throttled; /* a late error */
        return !(status == 503 && throttled);
    case SL_ERR_TIMEOUT:
    case SL_ERR_CONNECTION:
    case SL_ERR_PARSE:
    case SL_ERR_CANCELLED:
        return true;
    default:
        return false;
    }
}

/* Completes the op: one callback, then it is freed. */
static void complete(op *o, sl_error error, long status, const s3_error *s3err, const char *detail)
{
    s3_client *c = o->client;
    s3_result result = {
        .error = error,
        .status = status,
        .code = s3err ? s3err->code : S3_ERROR_UNKNOWN,
        .code_text = s3err ? sl_buf_cstr(&s3err->code_text) : "",
        .message = s3err ? sl_buf_cstr(&s3err->message) : "",
        .request_id = kept_cstr(o, o->request_id),
        .detail = detail ? detail : "",
        .attempts = o->attempt,
        .op = o->kind,
        .indefinite = error != SL_OK && (o->maybe_applied ||
                                         outcome_indefinite(error, status, s3err ? s3err->code : S3_ERROR_UNKNOWN)),
    };
    c->stats[o->kind].completed++;
    if (error != SL_OK) c->stats[o->kind].failed++;
    /* The callback may destroy the client: from here on the op must not touch it. */
    op_unlink(o);
    if (o->on_internal != NULL) o->on_internal(o->user, &result, o);
    else o->desc->deliver(o, &result);
    op_free(o);
}

static sl_result start_attempt(op *o);

static void retry_now(uv_timer_t *t)
{
    op *o = t->data;
    if (sl_failed(start_attempt(o))) {
        char detail[600];
        snprintf(detail, sizeof(detail), "%s: retry could not start: %s", s3_op_name(o->kind), sl_error_detail());
        complete(o, sl_error_last(), 0, NULL, detail);
    }
}

/* ---- response handling ---- */

static bool header_is(sl_cursor name, const char *expected)
{
    return sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr(expected));
}

static bool parse_u64(sl_cursor c, uint64_t *out)
{
    if (c.len == 0 || c.len > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < c.len; i++) {
        if (c.ptr[i] < '0' || c.ptr[i] > '9') return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(c.ptr[i] - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

/* Keeps one x-amz-meta-* pair of the answer, within OP_MAX_META_PAIRS / _BYTES. */
static void metadata_add(op *o, sl_cursor name, sl_cursor value)
{
    op_metadata *m = &o->metadata;
    size_t bytes = 0, mark = o->response.len;
    if (m->truncated || m->count >= OP_MAX_META_PAIRS || !sl_add_size(m->bytes, name.len, &bytes) ||
        !sl_add_size(bytes, value.len, &bytes) || bytes > OP_MAX_META_BYTES) {
        m->truncated = true;
        return;
    }
    if (m->count == m->capacity) {
        m->capacity = m->capacity ? 2 * m->capacity : 8;
        m->items = sl_realloc(m->items, m->capacity * sizeof(*m->items));
    }
    op_pair *p = &m->items[m->count];
    if (sl_failed(arena_add(&o->response, name, &p->name)) || sl_failed(arena_add(&o->response, value, &p->value))) {
        o->response.len = mark;
        m->truncated = true;
        return;
    }
    m->count++;
    m->bytes = bytes;
}

static void on_header(void *user, sl_cursor name, sl_cursor value)
{
    op *o = user;
    static const char meta_prefix[] = "x-amz-meta-";
    if (header_is(name, "etag")) keep(o, &o->etag, value);
    else if (header_is(name, "content-type")) keep(o, &o->content_type, value);
    else if (header_is(name, "last-modified")) keep(o, &o->last_modified, value);
    else if (header_is(name, "x-amz-version-id")) keep(o, &o->version_id, value);
    else if (header_is(name, "x-amz-request-id")) keep(o, &o->request_id, value);
    else if (header_is(name, "content-length")) o->has_content_length = parse_u64(value, &o->content_length);
    else if (name.len > sizeof(meta_prefix) - 1 &&
             sl_cursor_eq_ignore_case(sl_cursor_from_bytes(name.ptr, sizeof(meta_prefix) - 1),
                                      sl_cursor_from_cstr(meta_prefix))) {
        sl_cursor short_name = sl_cursor_from_bytes(name.ptr + sizeof(meta_prefix) - 1,
                                                    name.len - (sizeof(meta_prefix) - 1));
        metadata_add(o, short_name, value);
    }
}

static s3_http_body_action on_body(void *user, const uint8_t *data, size_t len)
{
    op *o = user;
    long status = s3_http_request_status(o->http_req);
    if (status < 200 || status > 299) {
        size_t room = OP_MAX_ERROR_BODY - o->error_body.len;
        if (sl_failed(sl_buf_append(&o->error_body, data, len < room ? len : room))) return S3_HTTP_BODY_ABORT;
        return S3_HTTP_BODY_CONSUMED;
    }
    if (o->desc->flags & OP_STREAM) {
        announce_get_headers(o);
        s3_http_body_action action = o->on_chunk(o->user, data, len);
        if (action == S3_HTTP_BODY_CONSUMED) o->delivered += len;
        return action;
    }
    if (o->parser != NULL && sl_ok(o->parse_result)) {
        o->parse_result = s3_xml_feed(o->parser, data, len);
        if (sl_failed(o->parse_result)) {
            snprintf(o->parse_detail, sizeof(o->parse_detail), "%s", sl_error_detail());
            return S3_HTTP_BODY_ABORT;
        }
    }
    return S3_HTTP_BODY_CONSUMED;
}

/* An S3 error for a status without a usable body (HEAD answers carry none). */
static s3_error_code code_for_status(long status)
{
    switch (status) {
    case 403: return S3_ERROR_ACCESS_DENIED;
    case 404: return S3_ERROR_NO_SUCH_KEY;
    case 412: return S3_ERROR_PRECONDITION_FAILED;
    case 416: return S3_ERROR_INVALID_RANGE;
    case 500: return S3_ERROR_INTERNAL_ERROR;
    case 503: return S3_ERROR_SLOW_DOWN;
    default: return S3_ERROR_UNKNOWN;
    }
}

static s3_outcome classify(sl_error error, long status)
{
    switch (error) {
    case SL_OK: return S3_OUTCOME_OK;
    case SL_ERR_S3: return status >= 400 && status < 500 ? S3_OUTCOME_CLIENT_ERROR : S3_OUTCOME_SERVER_ERROR;
    case SL_ERR_TIMEOUT: return S3_OUTCOME_TIMEOUT;
    case SL_ERR_PARSE: return S3_OUTCOME_MALFORMED;
    case SL_ERR_CANCELLED: return S3_OUTCOME_CANCELLED;
    default: return S3_OUTCOME_CONNECTION;
    }
}

/* What went wrong with the attempt, into error/s3err/detail (detail "" on success). */
static sl_error judge_attempt(op *o, const s3_http_result *http, s3_error *s3err, bool *have_s3err, char *detail,
                              size_t detail_size)
{
    sl_error error = http->error;
    const char *what = s3_op_name(o->kind);
    sl_cursor bucket = op_request_text(o, o->bucket), key = op_request_text(o, o->key);
    int bl = (int)bucket.len, kl = (int)key.len;
    const char *bp = (const char *)bucket.ptr, *kp = (const char *)key.ptr;
    detail[0] = '\0';
    if (error == SL_ERR_CANCELLED && sl_failed(o->parse_result)) {
        /* we stopped the transfer because its XML was bad */
        snprintf(detail, detail_size, "%s s3://%.*s/%.*s: malformed answer: %s", what, bl, bp, kl, kp,
                 o->parse_detail);
        return SL_ERR_PARSE;
    }
    if (error != SL_OK) {
        snprintf(detail, detail_size, "%s s3://%.*s/%.*s: %s", what, bl, bp, kl, kp, http->detail);
        return error;
    }
    if (http->status < 200 || http->status > 299) {
        if (o->error_body.len == 0 || sl_failed(s3_xml_parse_error_body(o->error_body.data, o->error_body.len, s3err))) {
            s3err->code = code_for_status(http->status);
            if (sl_failed(sl_buf_append_cstr(&s3err->code_text, s3_error_code_name(s3err->code))))
                sl_buf_reset(&s3err->code_text);
        }
        *have_s3err = true;
        snprintf(detail, detail_size, "%s s3://%.*s/%.*s: HTTP %ld %s%s%s", what, bl, bp, kl, kp, http->status,
                 sl_buf_cstr(&s3err->code_text), s3err->message.len ? ": " : "", sl_buf_cstr(&s3err->message));
        return SL_ERR_S3;
    }
    if (o->parser != NULL) {
        if (sl_failed(s3_xml_finish(o->parser))) {
            snprintf(detail, detail_size, "%s s3://%.*s/%.*s: malformed answer: %s", what, bl, bp, kl, kp,
                     sl_error_detail());
            return SL_ERR_PARSE;
        }
        if (s3_xml_take_error(o->parser, s3err)) {
            /* 200 with an <Error> body: the operation failed late */
            *have_s3err = true;
            snprintf(detail, detail_size, "%s s3://%.*s/%.*s: %s: %s", what, bl, bp, kl, kp,
                     sl_buf_cstr(&s3err->code_text), sl_buf_cstr(&s3err->message));
            return SL_ERR_S3;
        }
        return SL_OK;
    }
    if ((o->desc->flags & OP_STREAM) && o->has_content_length && o->delivered != o->content_length) {
        snprintf(detail, detail_size, "%s s3://%.*s/%.*s: got %llu of %llu bytes", what, bl, bp, kl, kp,
                 (unsigned long long)o->delivered, (unsigned long long)o->content_length);
        return SL_ERR_PARSE;
    }
    return SL_OK;
}

/* Whether the failed attempt gets another within the policy's attempts and time budget
 * (the next would start `*delay` ms from now, after the backoff). */
static bool retry_allowed(const op *o, bool idempotent, const s3_attempt_outcome *outcome, uint64_t *delay)
{
    const s3_client *c = o->client;
    uint32_t random = 0;
    if (RAND_bytes((unsigned char *)&random, sizeof(random)) != 1) random = UINT32_MAX / 2;
    *delay = s3_retry_delay_ms(&c->retry, o->attempt, random);
    uint64_t elapsed = uv_now(c->loop) - o->started_ms;
    if (o->not_after_ms != 0 && uv_hrtime() / 1000000u + *delay >= o->not_after_ms) return false;
    return s3_retry_should(&c->retry, o->attempt, elapsed + *delay, idempotent, outcome);
}

static void finish_attempt(void *user, const s3_http_result *http)
{
    op *o = user;
    s3_client *c = o->client;
    s3_error s3err = { 0 };
    bool have_s3err = false;
    char detail[1024];
    sl_error error = judge_attempt(o, http, &s3err, &have_s3err, detail, sizeof(detail));
    c->stats[o->kind].outcomes[classify(error, http->status)]++;

    s3_attempt_outcome outcome = {
        .transport = error == SL_ERR_S3 ? SL_OK : error,
        .http_status = http->status,
        .s3_code = have_s3err ? sl_buf_cstr(&s3err.code_text) : NULL,
    };
    bool idempotent = !((o->desc->flags & OP_STREAM) && o->delivered > 0);
    uint64_t delay = 0;
    if (error != SL_OK && error != SL_ERR_CANCELLED && error != SL_ERR_PARSE && !c->destroying &&
        retry_allowed(o, idempotent, &outcome, &delay)) {
        if (outcome_indefinite(error, http->status, have_s3err ? s3err.code : S3_ERROR_UNKNOWN))
            o->maybe_applied = true;
        s3_error_clean_up(&s3err);
        if (o->retry_timer == NULL) {
            o->retry_timer = sl_calloc(1, sizeof(*o->retry_timer));
            uv_timer_init(c->loop, o->retry_timer);
            o->retry_timer->data = o;
        }
        o->http_req = NULL;
        c->stats[o->kind].retries++;
        uv_timer_start(o->retry_timer, retry_now, delay, 0);
        return;
    }
    /* an empty body: the headers were never announced by a first chunk */
    if (error == SL_OK && (o->desc->flags & OP_STREAM)) announce_get_headers(o);
    complete(o, error, http->status, have_s3err ? &s3err : NULL, detail);
    s3_error_clean_up(&s3err);
}

/* ---- signing and submitting one attempt ---- */

sl_result s3_address(const s3_client *c, bool endpoint, sl_cursor bucket, sl_cursor key, sl_buf *host, sl_buf *path)
{
    if (endpoint) {
        GUARD(sl_buf_append_cstr(host, c->host));
        GUARD(sl_buf_append_byte(path, '/'));
    } else if (c->addressing == S3_ADDRESSING_VIRTUAL) {
        GUARD(sl_buf_append_cursor(host, bucket));
        GUARD(sl_buf_append_byte(host, '.'));
        GUARD(sl_buf_append_cstr(host, c->host));
        GUARD(sl_buf_append_byte(path, '/'));
    } else {
        GUARD(sl_buf_append_cstr(host, c->host));
        GUARD(sl_buf_append_byte(path, '/'));
        GUARD(sl_buf_append_cursor(path, bucket));
        if (key.len > 0) GUARD(sl_buf_append_byte(path, '/'));
    }
    return sl_buf_append_cursor(path, key);
}

/* "Name: value" into the client's line buffer, NUL-terminated; its offset into at[]. */
static sl_result add_line(sl_buf *lines, size_t *at, size_t *count, sl_cursor name, sl_cursor value)
{
    at[*count] = lines->len;
    GUARD(sl_buf_reserve(lines, name.len + value.len + 3));
    GUARD(sl_buf_append_cursor(lines, name));
    GUARD(sl_buf_append(lines, ": ", 2));
    GUARD(sl_buf_append_cursor(lines, value));
    GUARD(sl_buf_append_byte(lines, 0));
    (*count)++;
    return SL_SUCCESS;
}

/* Signs the op's request for this moment and hands it to the HTTP engine. The host,
 * path, URL and header lines are built in the client's scratch buffers (the engine
 * copies what it keeps), so an attempt allocates little besides the signature. */
static sl_result start_attempt(op *o)
{
    s3_client *c = o->client;
    sl_result result = SL_FAILURE;
    sl_buf *host = &c->scratch_host, *path = &c->scratch_path, *url = &c->scratch_url, *lines = &c->scratch_lines;
    sl_buf_reset(host);
    sl_buf_reset(path);
    sl_buf_reset(url);
    sl_buf_reset(lines);
    sigv4_signed sig = { 0 };
    sl_cursor bucket = op_request_text(o, o->bucket), key = op_request_text(o, o->key);

    reset_attempt(o);
    if (o->attempt++ == 0) o->started_ms = uv_now(c->loop);

    GUARD_CLEANUP(s3_address(c, (o->desc->flags & OP_ENDPOINT) != 0, bucket, key, host, path));

    sigv4_pair headers[OP_MAX_PAIRS + 1];
    sigv4_pair query[OP_MAX_PAIRS];
    size_t header_count = 0;
    headers[header_count++] = (sigv4_pair){ sl_cursor_from_cstr("Host"), sl_cursor_from_buf(host) };
    for (size_t i = 0; i < o->headers.count; i++)
        headers[header_count++] = (sigv4_pair){ op_request_text(o, o->headers.items[i].name),
                                                op_request_text(o, o->headers.items[i].value) };
    for (size_t i = 0; i < o->query.count; i++)
        query[i] = (sigv4_pair){ op_request_text(o, o->query.items[i].name),
                                 op_request_text(o, o->query.items[i].value) };

    sigv4_signing signing = {
        .credentials = &c->credentials,
        .region = sl_cursor_from_cstr(c->region),
        .service = sl_cursor_from_cstr(o->desc->service ? o->desc->service : "s3"),
        .time = time(NULL),
        .key_cache = c->keys,
    };
    sigv4_request req = {
        .method = sl_cursor_from_cstr(o->desc->method),
        .path = sl_cursor_from_buf(path),
        .uri_mode = SIGV4_URI_S3,
        .query = query,
        .query_count = o->query.count,
        .headers = headers,
        .header_count = header_count,
        .body = sl_cursor_from_buf(&o->body),
        .add_content_sha256 = true,
    };
    GUARD_CLEANUP(sigv4_sign_headers(&signing, &req, &sig));

    GUARD_CLEANUP(sl_buf_append_cstr(url, c->scheme));
    GUARD_CLEANUP(sl_buf_append(url, "://", 3));
    GUARD_CLEANUP(sl_buf_append_cursor(url, sl_cursor_from_buf(host)));
    GUARD_CLEANUP(sl_buf_append_cursor(url, sl_cursor_from_buf(&sig.path)));
    if (sig.query.len > 0) {
        GUARD_CLEANUP(sl_buf_append_byte(url, '?'));
        GUARD_CLEANUP(sl_buf_append_cursor(url, sl_cursor_from_buf(&sig.query)));
    }

    size_t at[OP_MAX_PAIRS + 1 + SIGV4_MAX_ADDED_HEADERS];
    size_t line_count = 0;
    for (size_t i = 0; i < header_count; i++)
        GUARD_CLEANUP(add_line(lines, at, &line_count, headers[i].name, headers[i].value));
    sigv4_pair added[SIGV4_MAX_ADDED_HEADERS];
    size_t added_count = sigv4_signed_headers_to_add(&sig, added);
    for (size_t i = 0; i < added_count; i++)
        GUARD_CLEANUP(add_line(lines, at, &line_count, added[i].name, added[i].value));
    const char *line_ptrs[OP_MAX_PAIRS + 1 + SIGV4_MAX_ADDED_HEADERS];
    for (size_t i = 0; i < line_count; i++) line_ptrs[i] = (const char *)lines->data + at[i];

    s3_http_request_spec spec = {
        .method = o->desc->method,
        .url = sl_buf_cstr(url),
        .headers = line_ptrs,
        .header_count = line_count,
        .body = o->body.len ? o->body.data : NULL,
        .body_len = o->body.len,
        .on_header = on_header,
        .on_body = on_body,
        .on_done = finish_attempt,
        .user = o,
        .not_after_ms = o->not_after_ms,
    };
    GUARD_CLEANUP(s3_http_submit(c->http, &spec, &o->http_req));
    c->requests++;
    c->stats[o->kind].requests++;
    result = SL_SUCCESS;
cleanup:
    if (lines->len > 0) OPENSSL_cleanse(lines->data, lines->len); /* the signature, a session token */
    sigv4_signed_clean_up(&sig);
    return result;
}

/* Content-MD5: base64 of the body's MD5. */
static sl_result add_content_md5(op *o)
{
    unsigned char md5[16];
    unsigned int md5_len = 0;
    char b64[32];
    GUARD_OSSL(EVP_Digest(o->body.data, o->body.len, md5, &md5_len, EVP_md5(), NULL), SL_ERR_CRYPTO);
    int n = EVP_EncodeBlock((unsigned char *)b64, md5, (int)md5_len);
    ENSURE(n > 0 && (size_t)n < sizeof(b64), SL_ERR_CRYPTO, "base64 of the MD5 failed");
    return op_add_header(o, sl_cursor_from_cstr("Content-MD5"), sl_cursor_from_bytes(b64, (size_t)n));
}

sl_result op_start(op *o)
{
    if (o->attempt == 0) {
        if (o->desc->flags & OP_CONTENT_MD5) GUARD(add_content_md5(o));
        if (o->desc->flags & OP_XML_BODY)
            GUARD(op_add_header(o, sl_cursor_from_cstr("Content-Type"), sl_cursor_from_cstr("application/xml")));
    }
    return start_attempt(o);
}

sl_result op_launch(op *o)
{
    if (sl_failed(op_start(o))) {
        op_free(o);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}

sl_result s3_check_key(sl_cursor bucket, sl_cursor key, bool key_required)
{
    ENSURE(bucket.len > 0 && bucket.len <= 255, SL_ERR_INVALID_ARGUMENT, "bucket name must be 1..255 bytes");
    ENSURE(sl_cursor_find_byte(bucket, '/') < 0, SL_ERR_INVALID_ARGUMENT, "bucket name contains '/'");
    ENSURE(!key_required || (key.len > 0 && key.len <= 1024), SL_ERR_INVALID_ARGUMENT,
           "object key must be 1..1024 bytes, not %zu", key.len);
    return SL_SUCCESS;
}

sl_result s3_set_etag_quoted(sl_buf *out, sl_cursor etag)
{
    sl_cursor bare = s3_etag_unquoted(etag);
    sl_buf_reset(out);
    GUARD(sl_buf_append_byte(out, '"'));
    GUARD(sl_buf_append_cursor(out, bare));
    return sl_buf_append_byte(out, '"');
}

/* ---- client ---- */

sl_result s3_client_new(uv_loop_t *loop, const s3_client_config *config, s3_client **out)
{
    ENSURE(config->endpoint && config->region && config->region[0], SL_ERR_INVALID_ARGUMENT,
           "s3 client needs an endpoint and a region");
    ENSURE(config->credentials && config->credentials->access_key_id && config->credentials->secret_access_key,
           SL_ERR_INVALID_ARGUMENT, "s3 client needs credentials");
    sl_result result = SL_FAILURE;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL;
    s3_client *c = NULL;
    ENSURE_CLEANUP(u != NULL, SL_ERR_UNSUPPORTED, "curl_url failed");
    ENSURE_CLEANUP(curl_url_set(u, CURLUPART_URL, config->endpoint, 0) == CURLUE_OK, SL_ERR_INVALID_ARGUMENT,
                   "endpoint \"%s\" is not a URL", config->endpoint);
    ENSURE_CLEANUP(curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                       (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0),
                   SL_ERR_INVALID_ARGUMENT, "endpoint \"%s\": the scheme must be http or https", config->endpoint);
    ENSURE_CLEANUP(curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK, SL_ERR_INVALID_ARGUMENT,
                   "endpoint \"%s\" has no host", config->endpoint);
    (void)curl_url_get(u, CURLUPART_PATH, &path, 0);
    ENSURE_CLEANUP(path == NULL || strcmp(path, "/") == 0 || path[0] == '\0', SL_ERR_INVALID_ARGUMENT,
                   "endpoint \"%s\": no path allowed", config->endpoint);
    ENSURE_CLEANUP(curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK &&
                       curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_OK,
                   SL_ERR_INVALID_ARGUMENT, "endpoint \"%s\": no query or user info allowed", config->endpoint);
    (void)curl_url_get(u, CURLUPART_PORT, &port, 0);

    c = sl_calloc(1, sizeof(*c));
    c->loop = loop;
    c->scheme = sl_strdup(scheme);
    {
        sl_buf h = { 0 };
        GUARD_CLEANUP(sl_buf_append_cstr(&h, host));
        if (port) GUARD_CLEANUP(sl_buf_appendf(&h, ":%s", port));
        c->host = sl_buf_steal(&h);
    }
    c->region = sl_strdup(config->region);
    c->addressing = config->addressing;
    c->retry = config->retry;
    if (c->retry.max_attempts == 0) c->retry.max_attempts = 1;
    c->multipart_threshold = config->multipart_threshold ? config->multipart_threshold : OP_MAX_SINGLE_COPY;
    c->multipart_part_size = config->multipart_part_size ? config->multipart_part_size : 512 * OP_MIB;
    c->parallel_parts = config->parallel_parts ? config->parallel_parts : 4;
    ENSURE_CLEANUP(c->multipart_part_size >= 5 * OP_MIB && c->multipart_part_size <= OP_MAX_SINGLE_COPY,
                   SL_ERR_INVALID_ARGUMENT, "multipart part size must be 5 MiB..5 GiB, not %llu bytes",
                   (unsigned long long)c->multipart_part_size);
    ENSURE_CLEANUP(c->multipart_threshold <= OP_MAX_SINGLE_COPY, SL_ERR_INVALID_ARGUMENT,
                   "multipart threshold must be at most 5 GiB (the largest single copy)");
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

void s3_client_destroy(s3_client *c)
{
    if (c == NULL || c->destroying) return;
    c->destroying = true;
    /* ops waiting for a retry have no HTTP request: complete them here */
    op *o = c->ops;
    while (o != NULL) {
        op *next = o->next;
        if (o->http_req == NULL) complete(o, SL_ERR_CANCELLED, 0, NULL, "the S3 client was shut down");
        o = next;
    }
    s3_http_destroy(c->http); /* completes the rest through finish_attempt */
    s3_credentials_clean_up(&c->credentials);
    sigv4_key_cache_destroy(c->keys);
    sl_buf_clean_up(&c->scratch_host);
    sl_buf_clean_up(&c->scratch_path);
    sl_buf_clean_up(&c->scratch_url);
    sl_buf_clean_up_secure(&c->scratch_lines);
    sl_free(c->scheme);
    sl_free(c->host);
    sl_free(c->region);
    sl_free(c);
}

uint64_t s3_client_request_count(const s3_client *c) { return c->requests; }

void s3_client_set_deadline(s3_client *c, uint64_t not_after_ms) { c->not_after_ms = not_after_ms; }

void s3_client_op_stats(const s3_client *c, s3_op kind, s3_op_stats *out)
{
    if (kind < 0 || kind >= S3_OP_COUNT) {
        *out = (s3_op_stats){ 0 };
        return;
    }
    *out = c->stats[kind];
}
