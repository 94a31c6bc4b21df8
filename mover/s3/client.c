/*
 * client.c — S3 operations on top of the HTTP engine (see client.h).
 *
 * Every operation is an `op`: the request's parts (method, bucket, key, raw query
 * parameters, headers, body) are copied in once; each attempt signs them afresh
 * (SigV4 dates must be current), submits them, and collects the answer — response
 * headers into fixed fields, a 2xx body into the operation's XML parser or the GET
 * caller's chunk callback, an error body into a bounded buffer. When the attempt ends,
 * `finish_attempt` classifies it, asks the retry policy, and either arms the backoff
 * timer or completes the op with one callback.
 */
#include "s3/client.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "s3/sigv4.h"
#include "util/alloc.h"

#define MAX_ERROR_BODY ((size_t)64 * 1024)
#define MAX_PAIRS 32 /* request headers and query parameters */
/* Response user metadata is kept whole (every x-amz-meta-* header counts: the metadata
 * check must see them all) up to these bounds; past them the rest is dropped and the
 * info says so (metadata_truncated), so a check can refuse what it could not count. */
#define MAX_META_PAIRS 4096
#define MAX_META_BYTES ((size_t)256 * 1024)
#define MIB ((uint64_t)1024 * 1024)
#define MULTIPART_MAX_SINGLE_COPY (5 * 1024 * MIB)
#define MULTIPART_MAX_PARTS 10000

typedef enum op_kind {
    OP_LIST,
    OP_HEAD,
    OP_GET,
    OP_PUT,
    OP_COPY,
    OP_DELETE,
    OP_DELETE_OBJECTS,
    OP_PUT_TAGGING,
    OP_GET_TAGGING,
    OP_GET_VERSIONING,
    OP_CREATE_MULTIPART,
    OP_UPLOAD_PART_COPY,
    OP_COMPLETE_MULTIPART,
    OP_ABORT_MULTIPART,
    OP_LIST_VERSIONS,
} op_kind;

static const char *const op_names[] = {
    "ListObjectsV2",     "HeadObject",       "GetObject",       "PutObject",
    "CopyObject",        "DeleteObject",     "DeleteObjects",   "PutObjectTagging",
    "GetObjectTagging",  "GetBucketVersioning", "CreateMultipartUpload", "UploadPartCopy",
    "CompleteMultipartUpload", "AbortMultipartUpload", "ListObjectVersions",
};
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == OP_LIST_VERSIONS + 1, "one name per operation");

struct op;
/* Completion of an op that is one step of a larger operation (multipart copy). */
typedef void op_internal_fn(void *user, const s3_result *result, struct op *o);

typedef struct pair_list {
    sl_buf *names;
    sl_buf *values;
    size_t count;
    size_t capacity;
} pair_list;

typedef struct op {
    s3_client *client;
    op_kind kind;
    const char *method;
    sl_buf bucket, key;
    pair_list query;   /* raw */
    pair_list headers; /* signed, besides Host */
    sl_buf body;
    bool idempotent;
    s3_xml_doc xml_kind;
    bool has_xml;

    /* per attempt */
    unsigned attempt;
    s3_http_request *http_req;
    s3_xml_parser *parser;
    sl_result parse_result;
    char parse_detail[256]; /* why the XML was refused, kept from the moment it was */
    sl_buf error_body;
    bool error_body_truncated;
    sl_buf etag, content_type, last_modified, version_id, request_id;
    uint64_t content_length;
    bool has_content_length;
    pair_list metadata;       /* response user metadata: not limited to MAX_PAIRS */
    size_t metadata_bytes;    /* names + values of the pairs kept */
    bool metadata_truncated;  /* more than MAX_META_PAIRS / MAX_META_BYTES: some dropped */
    sl_cursor *metadata_view; /* fill_info's cursors over `metadata` */
    bool headers_delivered;
    uint64_t delivered;

    uv_timer_t *retry_timer;
    uint64_t started_ms;  /* the first attempt, for the retry budget */
    bool maybe_applied;   /* an earlier attempt may have taken effect */

    /* callbacks */
    void *user;
    s3_list_fn *on_list;
    s3_object_fn *on_object;
    s3_done_fn *on_done;
    s3_get_headers_fn *on_get_headers;
    s3_http_body_fn *on_chunk;
    s3_delete_objects_fn *on_delete_objects;
    s3_tagging_fn *on_tagging;
    s3_versioning_fn *on_versioning;
    s3_list_versions_fn *on_list_versions;
    op_internal_fn *on_internal;
    unsigned part_number; /* UploadPartCopy */

    struct op *prev, *next;
    bool linked; /* in client->ops */
} op;

struct s3_client {
    uv_loop_t *loop;
    s3_http *http;
    s3_credentials credentials;
    char *region;
    char *scheme;
    char *host; /* host[:port] as the Host header carries it */
    s3_addressing addressing;
    s3_retry_policy retry;
    uint64_t multipart_threshold;
    uint64_t multipart_part_size;
    unsigned parallel_parts;
    sigv4_key_cache *keys;
    uint64_t requests;
    op *ops; /* live operations */
    bool destroying;
};

struct s3_get_object {
    op op;
};

/* ---- ETags ---- */

/* Stores an ETag in its standard, quoted form: radosgw's <CopyObjectResult> carries it
 * bare while every header carries it quoted, and callers compare the two. */
static sl_result set_etag_quoted(sl_buf *out, sl_cursor etag)
{
    sl_cursor bare = s3_etag_unquoted(etag);
    sl_buf_reset(out);
    GUARD(sl_buf_append_byte(out, '"'));
    GUARD(sl_buf_append_cursor(out, bare));
    return sl_buf_append_byte(out, '"');
}

/* ---- pairs ---- */

/* Appends a pair, growing the list; `limit` bounds the count. */
static sl_result pair_add_limited(pair_list *list, sl_cursor name, sl_cursor value, size_t limit)
{
    ENSURE(list->count < limit, SL_ERR_LIMIT, "more than %zu headers or parameters", limit);
    if (list->count == list->capacity) {
        size_t grown = list->capacity ? 2 * list->capacity : 8;
        list->names = sl_realloc(list->names, grown * sizeof(*list->names));
        list->values = sl_realloc(list->values, grown * sizeof(*list->values));
        list->capacity = grown;
    }
    sl_buf *n = &list->names[list->count], *v = &list->values[list->count];
    *n = (sl_buf){ 0 };
    *v = (sl_buf){ 0 };
    if (sl_failed(sl_buf_append_cursor(n, name)) || sl_failed(sl_buf_reserve(n, 0)) ||
        sl_failed(sl_buf_append_cursor(v, value)) || sl_failed(sl_buf_reserve(v, 0))) {
        sl_buf_clean_up(n);
        sl_buf_clean_up(v);
        return SL_FAILURE;
    }
    list->count++;
    return SL_SUCCESS;
}

static sl_result pair_add(pair_list *list, sl_cursor name, sl_cursor value)
{
    return pair_add_limited(list, name, value, MAX_PAIRS);
}

static sl_result pair_add_cstr(pair_list *list, const char *name, const char *value)
{
    return pair_add(list, sl_cursor_from_cstr(name), sl_cursor_from_cstr(value));
}

static void pair_list_clean_up(pair_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        sl_buf_clean_up(&list->names[i]);
        sl_buf_clean_up(&list->values[i]);
    }
    sl_free(list->names);
    sl_free(list->values);
    *list = (pair_list){ 0 };
}

/* Keeps one x-amz-meta-* pair of a response, within MAX_META_PAIRS / MAX_META_BYTES. */
static void metadata_add(op *o, sl_cursor name, sl_cursor value)
{
    size_t bytes = 0;
    if (o->metadata_truncated || !sl_add_size(o->metadata_bytes, name.len, &bytes) ||
        !sl_add_size(bytes, value.len, &bytes) || bytes > MAX_META_BYTES ||
        sl_failed(pair_add_limited(&o->metadata, name, value, MAX_META_PAIRS))) {
        o->metadata_truncated = true;
        return;
    }
    o->metadata_bytes = bytes;
}

/* ---- op life cycle ---- */

static void reset_attempt(op *o)
{
    s3_xml_parser_destroy(o->parser);
    o->parser = o->has_xml ? s3_xml_parser_new(o->xml_kind) : NULL;
    o->parse_result = SL_SUCCESS;
    sl_buf_reset(&o->error_body);
    o->error_body_truncated = false;
    sl_buf_reset(&o->etag);
    sl_buf_reset(&o->content_type);
    sl_buf_reset(&o->last_modified);
    sl_buf_reset(&o->version_id);
    sl_buf_reset(&o->request_id);
    o->has_content_length = false;
    o->content_length = 0;
    pair_list_clean_up(&o->metadata);
    o->metadata_bytes = 0;
    o->metadata_truncated = false;
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

static void op_free(op *o)
{
    op_unlink(o);
    if (o->retry_timer) uv_close((uv_handle_t *)o->retry_timer, retry_timer_closed);
    s3_xml_parser_destroy(o->parser);
    sl_buf_clean_up(&o->bucket);
    sl_buf_clean_up(&o->key);
    pair_list_clean_up(&o->query);
    pair_list_clean_up(&o->headers);
    pair_list_clean_up(&o->metadata);
    sl_free(o->metadata_view);
    sl_buf_clean_up(&o->body);
    sl_buf_clean_up(&o->error_body);
    sl_buf_clean_up(&o->etag);
    sl_buf_clean_up(&o->content_type);
    sl_buf_clean_up(&o->last_modified);
    sl_buf_clean_up(&o->version_id);
    sl_buf_clean_up(&o->request_id);
    sl_free(o);
}

static op *op_new(s3_client *c, op_kind kind, const char *method, sl_cursor bucket, sl_cursor key)
{
    op *o = sl_calloc(1, sizeof(*o));
    o->client = c;
    o->kind = kind;
    o->method = method;
    o->idempotent = true;
    o->next = c->ops;
    if (c->ops) c->ops->prev = o;
    c->ops = o;
    o->linked = true;
    if (sl_failed(sl_buf_append_cursor(&o->bucket, bucket)) || sl_failed(sl_buf_reserve(&o->bucket, 0)) ||
        sl_failed(sl_buf_append_cursor(&o->key, key)) || sl_failed(sl_buf_reserve(&o->key, 0))) {
        op_free(o);
        return NULL;
    }
    return o;
}

/* The response headers as an s3_object_info (its metadata cursors live in the op). */
static void fill_info(op *o, s3_object_info *info)
{
    o->metadata_view = sl_realloc(o->metadata_view, (2 * o->metadata.count + 1) * sizeof(*o->metadata_view));
    sl_cursor *meta = o->metadata_view;
    *info = (s3_object_info){
        .etag = sl_cursor_from_buf(&o->etag),
        .size = o->content_length,
        .has_size = o->has_content_length && (o->kind == OP_HEAD || o->kind == OP_GET),
        .content_type = sl_cursor_from_buf(&o->content_type),
        .last_modified = sl_cursor_from_buf(&o->last_modified),
        .version_id = sl_cursor_from_buf(&o->version_id),
        .metadata = meta,
        .metadata_count = o->metadata.count,
        .metadata_truncated = o->metadata_truncated,
    };
    for (size_t i = 0; i < o->metadata.count; i++) {
        meta[2 * i] = sl_cursor_from_buf(&o->metadata.names[i]);
        meta[2 * i + 1] = sl_cursor_from_buf(&o->metadata.values[i]);
    }
}

static void announce_get_headers(op *o)
{
    if (o->headers_delivered) return;
    o->headers_delivered = true;
    if (o->on_get_headers == NULL) return;
    s3_object_info info;
    fill_info(o, &info);
    o->on_get_headers(o->user, &info);
}

static void deliver(op *o, const s3_result *result)
{
    if (o->on_internal != NULL) {
        o->on_internal(o->user, result, o);
        return;
    }
    s3_object_info info = { 0 };
    if (result->error == SL_OK || o->kind == OP_HEAD || o->kind == OP_GET) fill_info(o, &info);
    switch (o->kind) {
    case OP_LIST:
        o->on_list(o->user, result, result->error == SL_OK ? s3_xml_list_result(o->parser) : NULL);
        break;
    case OP_COPY:
        if (result->error == SL_OK) {
            const s3_copy_result *copy = s3_xml_copy_result(o->parser);
            if (sl_failed(set_etag_quoted(&o->etag, sl_cursor_from_buf(&copy->etag)))) sl_buf_reset(&o->etag);
            info.etag = sl_cursor_from_buf(&o->etag);
            info.last_modified = sl_cursor_from_buf(&copy->last_modified);
        }
        o->on_object(o->user, result, &info);
        break;
    case OP_HEAD:
    case OP_GET:
    case OP_PUT:
        o->on_object(o->user, result, &info);
        break;
    case OP_DELETE:
    case OP_PUT_TAGGING:
        o->on_done(o->user, result);
        break;
    case OP_DELETE_OBJECTS:
        o->on_delete_objects(o->user, result, result->error == SL_OK ? s3_xml_delete_result(o->parser) : NULL);
        break;
    case OP_GET_TAGGING:
        o->on_tagging(o->user, result, result->error == SL_OK ? s3_xml_tagging_result(o->parser) : NULL);
        break;
    case OP_GET_VERSIONING:
        o->on_versioning(o->user, result, result->error == SL_OK ? s3_xml_versioning_result(o->parser) : NULL);
        break;
    case OP_LIST_VERSIONS:
        o->on_list_versions(o->user, result, result->error == SL_OK ? s3_xml_list_versions_result(o->parser) : NULL);
        break;
    default: /* the multipart steps always have on_internal */
        break;
    }
}

/* Whether a failed attempt may still have taken effect at the server: a transport
 * failure after sending (timeout, reset), a malformed or cancelled answer, and a 5xx
 * other than the throttling answers S3 documents as "not processed" (503 SlowDown /
 * ServiceUnavailable). A 4xx is the server's refusal: nothing happened. */
static bool s3_outcome_indefinite(sl_error error, long status, s3_error_code code)
{
    switch (error) {
    case SL_OK:
        return false;
    case SL_ERR_S3:
        if (status < 500) return false;
        return !(status == 503 && (code == S3_ERROR_SLOW_DOWN || code == S3_ERROR_SERVICE_UNAVAILABLE));
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
    s3_result result = {
        .error = error,
        .status = status,
        .code = s3err ? s3err->code : S3_ERROR_UNKNOWN,
        .code_text = s3err ? sl_buf_cstr(&s3err->code_text) : "",
        .message = s3err ? sl_buf_cstr(&s3err->message) : "",
        .request_id = sl_buf_cstr(&o->request_id),
        .detail = detail ? detail : "",
        .attempts = o->attempt,
        .indefinite = error != SL_OK && (o->maybe_applied || s3_outcome_indefinite(error, status, s3err ? s3err->code : S3_ERROR_UNKNOWN)),
    };
    /* The callback may destroy the client: from here on the op must not touch it. */
    op_unlink(o);
    deliver(o, &result);
    op_free(o);
}

static sl_result start_attempt(op *o);

static void retry_now(uv_timer_t *t)
{
    op *o = t->data;
    if (sl_failed(start_attempt(o))) {
        char detail[600];
        snprintf(detail, sizeof(detail), "%s: retry could not start: %s", op_names[o->kind],
                 sl_error_detail());
        complete(o, sl_error_last(), 0, NULL, detail);
    }
}

/* ---- response handling ---- */

static bool header_is(sl_cursor name, const char *expected)
{
    return sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr(expected));
}

static void set_buf(sl_buf *b, sl_cursor value)
{
    sl_buf_reset(b);
    if (sl_failed(sl_buf_append_cursor(b, value))) sl_buf_reset(b);
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

static void on_header(void *user, sl_cursor name, sl_cursor value)
{
    op *o = user;
    static const char meta_prefix[] = "x-amz-meta-";
    if (header_is(name, "etag")) set_buf(&o->etag, value);
    else if (header_is(name, "content-type")) set_buf(&o->content_type, value);
    else if (header_is(name, "last-modified")) set_buf(&o->last_modified, value);
    else if (header_is(name, "x-amz-version-id")) set_buf(&o->version_id, value);
    else if (header_is(name, "x-amz-request-id")) set_buf(&o->request_id, value);
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
        size_t room = MAX_ERROR_BODY - o->error_body.len;
        if (len > room) o->error_body_truncated = true;
        if (sl_failed(sl_buf_append(&o->error_body, data, len < room ? len : room))) return S3_HTTP_BODY_ABORT;
        return S3_HTTP_BODY_CONSUMED;
    }
    if (o->kind == OP_GET) {
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

static void finish_attempt(void *user, const s3_http_result *http)
{
    op *o = user;
    s3_client *c = o->client;
    s3_error s3err = { 0 };
    bool have_s3err = false;
    sl_error error = http->error;
    char detail[1024];
    const char *what = op_names[o->kind];

    if (error == SL_ERR_CANCELLED && sl_failed(o->parse_result)) {
        /* we stopped the transfer because its XML was bad */
        error = SL_ERR_PARSE;
        snprintf(detail, sizeof(detail), "%s s3://%s/%s: malformed answer: %s", what, sl_buf_cstr(&o->bucket),
                 sl_buf_cstr(&o->key), o->parse_detail);
    } else if (error != SL_OK) {
        snprintf(detail, sizeof(detail), "%s s3://%s/%s: %s", what, sl_buf_cstr(&o->bucket),
                 sl_buf_cstr(&o->key), http->detail);
    } else if (http->status < 200 || http->status > 299) {
        error = SL_ERR_S3;
        if (o->error_body.len > 0 && sl_ok(s3_xml_parse_error_body(o->error_body.data, o->error_body.len, &s3err))) {
            have_s3err = true;
        } else {
            s3err.code = code_for_status(http->status);
            if (sl_failed(sl_buf_append_cstr(&s3err.code_text, s3_error_code_name(s3err.code)))) sl_buf_reset(&s3err.code_text);
            have_s3err = true;
        }
        snprintf(detail, sizeof(detail), "%s s3://%s/%s: HTTP %ld %s%s%s", what, sl_buf_cstr(&o->bucket),
                 sl_buf_cstr(&o->key), http->status, sl_buf_cstr(&s3err.code_text),
                 s3err.message.len ? ": " : "", sl_buf_cstr(&s3err.message));
    } else if (o->parser != NULL) {
        if (sl_failed(s3_xml_finish(o->parser))) {
            error = SL_ERR_PARSE;
            snprintf(detail, sizeof(detail), "%s s3://%s/%s: malformed answer: %s", what,
                     sl_buf_cstr(&o->bucket), sl_buf_cstr(&o->key), sl_error_detail());
        } else if (s3_xml_take_error(o->parser, &s3err)) {
            /* 200 with an <Error> body: the copy failed late */
            error = SL_ERR_S3;
            have_s3err = true;
            snprintf(detail, sizeof(detail), "%s s3://%s/%s: %s: %s", what, sl_buf_cstr(&o->bucket),
                     sl_buf_cstr(&o->key), sl_buf_cstr(&s3err.code_text), sl_buf_cstr(&s3err.message));
        } else {
            detail[0] = '\0';
        }
    } else if (o->kind == OP_GET && o->has_content_length && o->delivered != o->content_length) {
        error = SL_ERR_PARSE;
        snprintf(detail, sizeof(detail), "%s s3://%s/%s: got %llu of %llu bytes", what, sl_buf_cstr(&o->bucket),
                 sl_buf_cstr(&o->key), (unsigned long long)o->delivered, (unsigned long long)o->content_length);
    } else {
        detail[0] = '\0';
    }

    s3_attempt_outcome outcome = {
        .transport = error == SL_ERR_S3 ? SL_OK : error,
        .http_status = http->status,
        .s3_code = have_s3err ? sl_buf_cstr(&s3err.code_text) : NULL,
    };
    bool idempotent = o->idempotent && !(o->kind == OP_GET && o->delivered > 0);
    uint64_t elapsed = uv_now(c->loop) - o->started_ms;
    uint32_t random = 0;
    if (RAND_bytes((unsigned char *)&random, sizeof(random)) != 1) random = UINT32_MAX / 2;
    uint64_t delay = s3_retry_delay_ms(&c->retry, o->attempt, random);
    if (error != SL_OK && error != SL_ERR_CANCELLED && error != SL_ERR_PARSE && !c->destroying &&
        s3_retry_should(&c->retry, o->attempt, elapsed + delay, idempotent, &outcome)) {
        if (s3_outcome_indefinite(error, http->status, have_s3err ? s3err.code : S3_ERROR_UNKNOWN))
            o->maybe_applied = true;
        s3_error_clean_up(&s3err);
        if (o->retry_timer == NULL) {
            o->retry_timer = sl_calloc(1, sizeof(*o->retry_timer));
            uv_timer_init(c->loop, o->retry_timer);
            o->retry_timer->data = o;
        }
        o->http_req = NULL;
        uv_timer_start(o->retry_timer, retry_now, delay, 0);
        return;
    }
    /* an empty body: the headers were never announced by a first chunk */
    if (error == SL_OK && o->kind == OP_GET) announce_get_headers(o);
    complete(o, error, http->status, have_s3err ? &s3err : NULL, detail);
    s3_error_clean_up(&s3err);
}

/* ---- signing and submitting one attempt ---- */

static sl_result start_attempt(op *o)
{
    s3_client *c = o->client;
    sl_result result = SL_FAILURE;
    sl_buf path = { 0 }, host = { 0 }, url = { 0 };
    sigv4_signed sig = { 0 };
    sl_buf lines[MAX_PAIRS + SIGV4_MAX_ADDED_HEADERS + 1];
    size_t line_count = 0;
    memset(lines, 0, sizeof(lines));

    reset_attempt(o);
    if (o->attempt++ == 0) o->started_ms = uv_now(c->loop);

    /* Host and unencoded path for the addressing style */
    if (c->addressing == S3_ADDRESSING_VIRTUAL) {
        GUARD_CLEANUP(sl_buf_appendf(&host, "%s.%s", sl_buf_cstr(&o->bucket), c->host));
        GUARD_CLEANUP(sl_buf_append_byte(&path, '/'));
    } else {
        GUARD_CLEANUP(sl_buf_append_cstr(&host, c->host));
        GUARD_CLEANUP(sl_buf_appendf(&path, "/%s", sl_buf_cstr(&o->bucket)));
        if (o->key.len > 0) GUARD_CLEANUP(sl_buf_append_byte(&path, '/'));
    }
    GUARD_CLEANUP(sl_buf_append(&path, o->key.data, o->key.len));

    sigv4_pair headers[MAX_PAIRS + 1];
    sigv4_pair query[MAX_PAIRS];
    size_t header_count = 0;
    headers[header_count++] = (sigv4_pair){ sl_cursor_from_cstr("Host"), sl_cursor_from_buf(&host) };
    for (size_t i = 0; i < o->headers.count; i++)
        headers[header_count++] = (sigv4_pair){ sl_cursor_from_buf(&o->headers.names[i]),
                                                sl_cursor_from_buf(&o->headers.values[i]) };
    for (size_t i = 0; i < o->query.count; i++)
        query[i] = (sigv4_pair){ sl_cursor_from_buf(&o->query.names[i]), sl_cursor_from_buf(&o->query.values[i]) };

    sigv4_signing signing = {
        .credentials = &c->credentials,
        .region = sl_cursor_from_cstr(c->region),
        .service = sl_cursor_from_cstr("s3"),
        .time = time(NULL),
        .key_cache = c->keys,
    };
    sigv4_request req = {
        .method = sl_cursor_from_cstr(o->method),
        .path = sl_cursor_from_buf(&path),
        .uri_mode = SIGV4_URI_S3,
        .query = query,
        .query_count = o->query.count,
        .headers = headers,
        .header_count = header_count,
        .body = sl_cursor_from_buf(&o->body),
        .add_content_sha256 = true,
    };
    GUARD_CLEANUP(sigv4_sign_headers(&signing, &req, &sig));

    GUARD_CLEANUP(sl_buf_appendf(&url, "%s://%s%s", c->scheme, sl_buf_cstr(&host), sl_buf_cstr(&sig.path)));
    if (sig.query.len > 0) GUARD_CLEANUP(sl_buf_appendf(&url, "?%s", sl_buf_cstr(&sig.query)));

    for (size_t i = 0; i < header_count; i++) {
        GUARD_CLEANUP(sl_buf_append_cursor(&lines[line_count], headers[i].name));
        GUARD_CLEANUP(sl_buf_append_cstr(&lines[line_count], ": "));
        GUARD_CLEANUP(sl_buf_append_cursor(&lines[line_count], headers[i].value));
        line_count++;
    }
    sigv4_pair added[SIGV4_MAX_ADDED_HEADERS];
    size_t added_count = sigv4_signed_headers_to_add(&sig, added);
    for (size_t i = 0; i < added_count; i++) {
        GUARD_CLEANUP(sl_buf_append_cursor(&lines[line_count], added[i].name));
        GUARD_CLEANUP(sl_buf_append_cstr(&lines[line_count], ": "));
        GUARD_CLEANUP(sl_buf_append_cursor(&lines[line_count], added[i].value));
        line_count++;
    }
    const char *line_ptrs[MAX_PAIRS + SIGV4_MAX_ADDED_HEADERS + 1];
    for (size_t i = 0; i < line_count; i++) line_ptrs[i] = sl_buf_cstr(&lines[i]);

    s3_http_request_spec spec = {
        .method = o->method,
        .url = sl_buf_cstr(&url),
        .headers = line_ptrs,
        .header_count = line_count,
        .body = o->body.len ? o->body.data : NULL,
        .body_len = o->body.len,
        .on_header = on_header,
        .on_body = on_body,
        .on_done = finish_attempt,
        .user = o,
    };
    GUARD_CLEANUP(s3_http_submit(c->http, &spec, &o->http_req));
    c->requests++;
    result = SL_SUCCESS;
cleanup:
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) sl_buf_clean_up_secure(&lines[i]);
    sigv4_signed_clean_up(&sig);
    sl_buf_clean_up(&path);
    sl_buf_clean_up(&host);
    sl_buf_clean_up(&url);
    return result;
}

/* Starts the first attempt; on failure the op is freed and no callback runs. */
static sl_result launch(op *o)
{
    if (sl_failed(start_attempt(o))) {
        op_free(o);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}

static sl_result check_key(sl_cursor bucket, sl_cursor key, bool key_required)
{
    ENSURE(bucket.len > 0 && bucket.len <= 255, SL_ERR_INVALID_ARGUMENT, "bucket name must be 1..255 bytes");
    ENSURE(sl_cursor_find_byte(bucket, '/') < 0, SL_ERR_INVALID_ARGUMENT, "bucket name contains '/'");
    ENSURE(!key_required || (key.len > 0 && key.len <= 1024), SL_ERR_INVALID_ARGUMENT,
           "object key must be 1..1024 bytes, not %zu", key.len);
    return SL_SUCCESS;
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
    c->multipart_threshold = config->multipart_threshold ? config->multipart_threshold : MULTIPART_MAX_SINGLE_COPY;
    c->multipart_part_size = config->multipart_part_size ? config->multipart_part_size : 512 * MIB;
    c->parallel_parts = config->parallel_parts ? config->parallel_parts : 4;
    ENSURE_CLEANUP(c->multipart_part_size >= 5 * MIB && c->multipart_part_size <= MULTIPART_MAX_SINGLE_COPY,
                   SL_ERR_INVALID_ARGUMENT, "multipart part size must be 5 MiB..5 GiB, not %llu bytes",
                   (unsigned long long)c->multipart_part_size);
    ENSURE_CLEANUP(c->multipart_threshold <= MULTIPART_MAX_SINGLE_COPY, SL_ERR_INVALID_ARGUMENT,
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
    sl_free(c->scheme);
    sl_free(c->host);
    sl_free(c->region);
    sl_free(c);
}

uint64_t s3_client_request_count(const s3_client *c) { return c->requests; }

/* ---- operations ---- */

sl_result s3_list_objects_v2(s3_client *c, sl_cursor bucket, const s3_list_params *p, s3_list_fn *done, void *user)
{
    GUARD(check_key(bucket, (sl_cursor){ 0 }, false));
    op *o = op_new(c, OP_LIST, "GET", bucket, (sl_cursor){ 0 });
    if (o == NULL) return SL_FAILURE;
    o->on_list = done;
    o->user = user;
    o->has_xml = true;
    o->xml_kind = S3_XML_LIST_OBJECTS_V2;
    char max_keys[16];
    snprintf(max_keys, sizeof(max_keys), "%u", p->max_keys);
    if (sl_failed(pair_add_cstr(&o->query, "list-type", "2")) ||
        sl_failed(pair_add_cstr(&o->query, "encoding-type", "url")) ||
        (p->prefix.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("prefix"), p->prefix))) ||
        (p->delimiter.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("delimiter"), p->delimiter))) ||
        (p->continuation_token.len &&
         sl_failed(pair_add(&o->query, sl_cursor_from_cstr("continuation-token"), p->continuation_token))) ||
        (p->start_after.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("start-after"), p->start_after))) ||
        (p->max_keys && sl_failed(pair_add_cstr(&o->query, "max-keys", max_keys)))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_head_object(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor if_match, s3_object_fn *done,
                         void *user)
{
    return s3_head_object_version(c, bucket, key, (sl_cursor){ 0 }, if_match, done, user);
}

sl_result s3_head_object_version(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor version_id,
                                 sl_cursor if_match, s3_object_fn *done, void *user)
{
    GUARD(check_key(bucket, key, true));
    op *o = op_new(c, OP_HEAD, "HEAD", bucket, key);
    if (o == NULL) return SL_FAILURE;
    o->on_object = done;
    o->user = user;
    if ((if_match.len && sl_failed(pair_add(&o->headers, sl_cursor_from_cstr("If-Match"), if_match))) ||
        (version_id.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("versionId"), version_id)))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_list_object_versions(s3_client *c, sl_cursor bucket, const s3_list_versions_params *p,
                                  s3_list_versions_fn *done, void *user)
{
    GUARD(check_key(bucket, (sl_cursor){ 0 }, false));
    ENSURE(p->version_id_marker.len == 0 || p->key_marker.len > 0, SL_ERR_INVALID_ARGUMENT,
           "a version-id-marker needs a key-marker");
    op *o = op_new(c, OP_LIST_VERSIONS, "GET", bucket, (sl_cursor){ 0 });
    if (o == NULL) return SL_FAILURE;
    o->on_list_versions = done;
    o->user = user;
    o->has_xml = true;
    o->xml_kind = S3_XML_LIST_VERSIONS;
    char max_keys[16];
    snprintf(max_keys, sizeof(max_keys), "%u", p->max_keys);
    if (sl_failed(pair_add_cstr(&o->query, "versions", "")) ||
        sl_failed(pair_add_cstr(&o->query, "encoding-type", "url")) ||
        (p->prefix.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("prefix"), p->prefix))) ||
        (p->key_marker.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("key-marker"), p->key_marker))) ||
        (p->version_id_marker.len &&
         sl_failed(pair_add(&o->query, sl_cursor_from_cstr("version-id-marker"), p->version_id_marker))) ||
        (p->max_keys && sl_failed(pair_add_cstr(&o->query, "max-keys", max_keys)))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_get_object_stream(s3_client *c, sl_cursor bucket, sl_cursor key, const s3_get_params *p,
                               s3_get_headers_fn *on_headers, s3_http_body_fn *on_chunk, s3_object_fn *done,
                               void *user, s3_get_object **out)
{
    GUARD(check_key(bucket, key, true));
    ENSURE(on_chunk != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "GetObject needs chunk and done callbacks");
    ENSURE(p == NULL || !p->has_range || p->range_first <= p->range_last, SL_ERR_INVALID_ARGUMENT,
           "range %llu-%llu is empty", p ? (unsigned long long)p->range_first : 0ULL,
           p ? (unsigned long long)p->range_last : 0ULL);
    op *o = op_new(c, OP_GET, "GET", bucket, key);
    if (o == NULL) return SL_FAILURE;
    o->on_object = done;
    o->on_get_headers = on_headers;
    o->on_chunk = on_chunk;
    o->user = user;
    if (p != NULL) {
        char range[64];
        snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)p->range_first,
                 (unsigned long long)p->range_last);
        if ((p->if_match.len && sl_failed(pair_add(&o->headers, sl_cursor_from_cstr("If-Match"), p->if_match))) ||
            (p->version_id.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("versionId"), p->version_id))) ||
            (p->has_range && sl_failed(pair_add_cstr(&o->headers, "Range", range)))) {
            op_free(o);
            return SL_FAILURE;
        }
    }
    GUARD(launch(o));
    if (out) *out = (s3_get_object *)o;
    return SL_SUCCESS;
}

void s3_get_object_resume(s3_get_object *get)
{
    op *o = (op *)get;
    if (o->http_req) s3_http_resume(o->http_req);
}

static sl_result add_metadata(op *o, const sl_cursor *metadata, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        sl_buf name = { 0 };
        sl_result r = sl_buf_append_cstr(&name, "x-amz-meta-");
        if (sl_ok(r)) r = sl_buf_append_cursor(&name, metadata[2 * i]);
        if (sl_ok(r)) r = pair_add(&o->headers, sl_cursor_from_buf(&name), metadata[2 * i + 1]);
        sl_buf_clean_up(&name);
        GUARD(r);
    }
    return SL_SUCCESS;
}

sl_result s3_put_object(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor body, const s3_put_params *p,
                        s3_object_fn *done, void *user)
{
    GUARD(check_key(bucket, key, true));
    op *o = op_new(c, OP_PUT, "PUT", bucket, key);
    if (o == NULL) return SL_FAILURE;
    o->on_object = done;
    o->user = user;
    sl_result r = sl_buf_append_cursor(&o->body, body);
    if (sl_ok(r) && p != NULL) {
        if (sl_ok(r) && p->content_type.len) r = pair_add(&o->headers, sl_cursor_from_cstr("Content-Type"), p->content_type);
        if (sl_ok(r) && p->if_none_match_any) r = pair_add_cstr(&o->headers, "If-None-Match", "*");
        /* radosgw matches If-Match only against the bare ETag (notes on the local server) */
        if (sl_ok(r) && p->if_match.len)
            r = pair_add(&o->headers, sl_cursor_from_cstr("If-Match"), s3_etag_unquoted(p->if_match));
        if (sl_ok(r) && p->tagging.len) r = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-tagging"), p->tagging);
        if (sl_ok(r)) r = add_metadata(o, p->metadata, p->metadata_count);
    }
    if (sl_failed(r)) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_copy_object(s3_client *c, sl_cursor src_bucket, sl_cursor src_key, sl_cursor dst_bucket,
                         sl_cursor dst_key, const s3_copy_params *p, s3_object_fn *done, void *user)
{
    GUARD(check_key(src_bucket, src_key, true));
    GUARD(check_key(dst_bucket, dst_key, true));
    op *o = op_new(c, OP_COPY, "PUT", dst_bucket, dst_key);
    if (o == NULL) return SL_FAILURE;
    o->on_object = done;
    o->user = user;
    o->has_xml = true;
    o->xml_kind = S3_XML_COPY_OBJECT;
    sl_buf source = { 0 }, raw = { 0 };
    sl_result r = sl_buf_append_byte(&raw, '/');
    if (sl_ok(r)) r = sl_buf_append_cursor(&raw, src_bucket);
    if (sl_ok(r)) r = sl_buf_append_byte(&raw, '/');
    if (sl_ok(r)) r = sl_buf_append_cursor(&raw, src_key);
    if (sl_ok(r)) r = sigv4_uri_encode(&source, sl_cursor_from_buf(&raw), SIGV4_ENCODE_PATH);
    if (sl_ok(r) && p && p->source_version_id.len) {
        r = sl_buf_append_cstr(&source, "?versionId=");
        if (sl_ok(r)) r = sigv4_uri_encode(&source, p->source_version_id, SIGV4_ENCODE_QUERY);
    }
    if (sl_ok(r)) r = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-copy-source"), sl_cursor_from_buf(&source));
    if (sl_ok(r) && p != NULL) {
        if (sl_ok(r) && p->source_if_match.len) {
            r = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-copy-source-if-match"), p->source_if_match);
            /* radosgw ignores the standard header and reads its own */
            if (sl_ok(r)) r = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-copy-if-match"), p->source_if_match);
        }
        if (sl_ok(r) && p->replace_metadata) {
            r = pair_add_cstr(&o->headers, "x-amz-metadata-directive", "REPLACE");
            if (sl_ok(r) && p->content_type.len)
                r = pair_add(&o->headers, sl_cursor_from_cstr("Content-Type"), p->content_type);
            if (sl_ok(r)) r = add_metadata(o, p->metadata, p->metadata_count);
        }
        if (sl_ok(r) && p->replace_tagging) {
            r = pair_add_cstr(&o->headers, "x-amz-tagging-directive", "REPLACE");
            if (sl_ok(r)) r = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-tagging"), p->tagging);
        }
        if (sl_ok(r) && p->if_none_match_any) r = pair_add_cstr(&o->headers, "If-None-Match", "*");
    }
    sl_buf_clean_up(&source);
    sl_buf_clean_up(&raw);
    if (sl_failed(r)) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_delete_object(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor version_id, s3_done_fn *done,
                           void *user)
{
    return s3_delete_object_if_match(c, bucket, key, version_id, (sl_cursor){ 0 }, done, user);
}

sl_result s3_delete_object_if_match(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor version_id,
                                    sl_cursor if_match, s3_done_fn *done, void *user)
{
    GUARD(check_key(bucket, key, true));
    op *o = op_new(c, OP_DELETE, "DELETE", bucket, key);
    if (o == NULL) return SL_FAILURE;
    o->on_done = done;
    o->user = user;
    if ((version_id.len && sl_failed(pair_add(&o->query, sl_cursor_from_cstr("versionId"), version_id))) ||
        (if_match.len && sl_failed(pair_add(&o->headers, sl_cursor_from_cstr("If-Match"), if_match)))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

/* ---- DeleteObjects, tagging, versioning ---- */

/* Content-MD5: base64 of the body's MD5 (DeleteObjects requires it). */
static sl_result add_content_md5(op *o)
{
    unsigned char md5[16];
    unsigned int md5_len = 0;
    char b64[32];
    GUARD_OSSL(EVP_Digest(o->body.data, o->body.len, md5, &md5_len, EVP_md5(), NULL), SL_ERR_CRYPTO);
    int n = EVP_EncodeBlock((unsigned char *)b64, md5, (int)md5_len);
    ENSURE(n > 0 && (size_t)n < sizeof(b64), SL_ERR_CRYPTO, "base64 of the MD5 failed");
    return pair_add(&o->headers, sl_cursor_from_cstr("Content-MD5"), sl_cursor_from_bytes(b64, (size_t)n));
}

sl_result s3_delete_objects(s3_client *c, sl_cursor bucket, const s3_object_ref *objects, size_t count, bool quiet,
                            s3_delete_objects_fn *done, void *user)
{
    GUARD(check_key(bucket, (sl_cursor){ 0 }, false));
    op *o = op_new(c, OP_DELETE_OBJECTS, "POST", bucket, (sl_cursor){ 0 });
    if (o == NULL) return SL_FAILURE;
    o->on_delete_objects = done;
    o->user = user;
    o->has_xml = true;
    o->xml_kind = S3_XML_DELETE_OBJECTS;
    /* DeleteObjects is idempotent: deleting a deleted key succeeds */
    if (sl_failed(s3_xml_write_delete(&o->body, objects, count, quiet)) ||
        sl_failed(pair_add_cstr(&o->query, "delete", "")) || sl_failed(add_content_md5(o)) ||
        sl_failed(pair_add_cstr(&o->headers, "Content-Type", "application/xml"))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_put_object_tagging(s3_client *c, sl_cursor bucket, sl_cursor key, const s3_tag_ref *tags,
                                size_t count, s3_done_fn *done, void *user)
{
    GUARD(check_key(bucket, key, true));
    op *o = op_new(c, OP_PUT_TAGGING, "PUT", bucket, key);
    if (o == NULL) return SL_FAILURE;
    o->on_done = done;
    o->user = user;
    if (sl_failed(s3_xml_write_tagging(&o->body, tags, count)) ||
        sl_failed(pair_add_cstr(&o->query, "tagging", "")) || sl_failed(add_content_md5(o))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_get_object_tagging(s3_client *c, sl_cursor bucket, sl_cursor key, s3_tagging_fn *done, void *user)
{
    GUARD(check_key(bucket, key, true));
    op *o = op_new(c, OP_GET_TAGGING, "GET", bucket, key);
    if (o == NULL) return SL_FAILURE;
    o->on_tagging = done;
    o->user = user;
    o->has_xml = true;
    o->xml_kind = S3_XML_TAGGING;
    if (sl_failed(pair_add_cstr(&o->query, "tagging", ""))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

sl_result s3_get_bucket_versioning(s3_client *c, sl_cursor bucket, s3_versioning_fn *done, void *user)
{
    GUARD(check_key(bucket, (sl_cursor){ 0 }, false));
    op *o = op_new(c, OP_GET_VERSIONING, "GET", bucket, (sl_cursor){ 0 });
    if (o == NULL) return SL_FAILURE;
    o->on_versioning = done;
    o->user = user;
    o->has_xml = true;
    o->xml_kind = S3_XML_VERSIONING;
    if (sl_failed(pair_add_cstr(&o->query, "versioning", ""))) {
        op_free(o);
        return SL_FAILURE;
    }
    return launch(o);
}

/* ---- multipart copy ----
 *
 * A small state machine over internal ops: HEAD source → Create → parts (a few at a
 * time) → Complete → HEAD destination; a failure after Create goes through Abort.
 * The first failure is kept in `failure` and reported once everything has stopped. */

typedef struct failure {
    bool set;
    sl_error error;
    long status;
    s3_error_code code;
    sl_buf code_text, message, request_id, detail;
} failure;

typedef struct mpcopy {
    s3_client *client;
    sl_buf src_bucket, src_key, dst_bucket, dst_key;
    sl_buf source_if_match, source_version_id, copy_source, content_type, tagging;
    pair_list metadata;
    bool replace_metadata;
    uint64_t size, part_size;
    unsigned part_count, next_part, in_flight, parts_done;
    sl_buf upload_id;
    sl_buf *part_etags;
    sl_buf etag;
    unsigned requests;
    failure failure;
    s3_object_fn *done;
    void *user;
} mpcopy;

static void failure_record(failure *f, const s3_result *r)
{
    if (f->set) return;
    f->set = true;
    f->error = r->error;
    f->status = r->status;
    f->code = r->code;
    if (sl_failed(sl_buf_append_cstr(&f->code_text, r->code_text)) ||
        sl_failed(sl_buf_append_cstr(&f->message, r->message)) ||
        sl_failed(sl_buf_append_cstr(&f->request_id, r->request_id)) ||
        sl_failed(sl_buf_append_cstr(&f->detail, r->detail)))
        sl_buf_reset(&f->detail);
}

static void failure_raise(failure *f, sl_error error, const char *detail)
{
    s3_result r = { .error = error, .code_text = "", .message = "", .request_id = "", .detail = detail };
    failure_record(f, &r);
}

static void mpcopy_free(mpcopy *m)
{
    sl_buf *bufs[] = { &m->src_bucket, &m->src_key, &m->dst_bucket, &m->dst_key, &m->source_if_match,
                       &m->source_version_id, &m->copy_source, &m->content_type, &m->tagging, &m->upload_id,
                       &m->etag, &m->failure.code_text, &m->failure.message, &m->failure.request_id,
                       &m->failure.detail };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) sl_buf_clean_up(bufs[i]);
    pair_list_clean_up(&m->metadata);
    for (unsigned i = 0; m->part_etags && i < m->part_count; i++) sl_buf_clean_up(&m->part_etags[i]);
    sl_free(m->part_etags);
    sl_free(m);
}

static void mpcopy_finish(mpcopy *m)
{
    s3_object_info info = { 0 };
    s3_result r = { .attempts = m->requests, .code_text = "", .message = "", .request_id = "", .detail = "" };
    if (m->failure.set) {
        r.error = m->failure.error;
        r.status = m->failure.status;
        r.code = m->failure.code;
        r.code_text = sl_buf_cstr(&m->failure.code_text);
        r.message = sl_buf_cstr(&m->failure.message);
        r.request_id = sl_buf_cstr(&m->failure.request_id);
        r.detail = sl_buf_cstr(&m->failure.detail);
    } else {
        r.status = 200;
        info.etag = sl_cursor_from_buf(&m->etag);
        info.size = m->size;
        info.has_size = true;
    }
    m->done(m->user, &r, &info);
    mpcopy_free(m);
}

/* Prepares an internal step; NULL (with the failure recorded) if it cannot. */
static op *mp_op(mpcopy *m, op_kind kind, const char *method, op_internal_fn *next)
{
    op *o = op_new(m->client, kind, method, sl_cursor_from_buf(&m->dst_bucket), sl_cursor_from_buf(&m->dst_key));
    if (o == NULL) {
        failure_raise(&m->failure, sl_error_last(), sl_error_detail());
        return NULL;
    }
    o->on_internal = next;
    o->user = m;
    return o;
}

/* Launches a prepared step (`ok` says whether preparing it worked). */
static bool mp_launch(mpcopy *m, op *o, sl_result ok)
{
    if (sl_failed(ok)) {
        char detail[600];
        snprintf(detail, sizeof(detail), "%s: %s", op_names[o->kind], sl_error_detail());
        failure_raise(&m->failure, sl_error_last(), detail);
        op_free(o);
        return false;
    }
    if (m->client->destroying || sl_failed(start_attempt(o))) {
        failure_raise(&m->failure, m->client->destroying ? SL_ERR_CANCELLED : sl_error_last(),
                      m->client->destroying ? "the S3 client was shut down" : sl_error_detail());
        op_free(o);
        return false;
    }
    return true;
}

static void mp_on_abort(void *user, const s3_result *r, op *o)
{
    (void)o;
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        /* keep the first failure; say that the upload may be left */
        if (sl_failed(sl_buf_appendf(&m->failure.detail, "; and aborting upload %s failed: %s",
                                     sl_buf_cstr(&m->upload_id), r->detail)))
            sl_buf_reset(&m->failure.detail);
    }
    mpcopy_finish(m);
}

static void mp_abort(mpcopy *m)
{
    op *o = mp_op(m, OP_ABORT_MULTIPART, "DELETE", mp_on_abort);
    if (o == NULL) {
        mpcopy_finish(m);
        return;
    }
    if (!mp_launch(m, o, pair_add(&o->query, sl_cursor_from_cstr("uploadId"), sl_cursor_from_buf(&m->upload_id))))
        mpcopy_finish(m);
}

static void mp_on_final_head(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
    } else if (!o->has_content_length || o->content_length != m->size) {
        char detail[256];
        snprintf(detail, sizeof(detail), "multipart copy to s3://%s/%s produced %llu bytes, expected %llu",
                 sl_buf_cstr(&m->dst_bucket), sl_buf_cstr(&m->dst_key), (unsigned long long)o->content_length,
                 (unsigned long long)m->size);
        failure_raise(&m->failure, SL_ERR_STATE, detail);
    } else if (sl_failed(sl_buf_append(&m->etag, o->etag.data, o->etag.len))) {
        failure_raise(&m->failure, sl_error_last(), sl_error_detail());
    }
    mpcopy_finish(m);
}

static void mp_on_complete(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    /* a retried Complete whose first answer was lost finds no upload: the HEAD decides */
    bool lost_answer = r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_UPLOAD && r->attempts > 1;
    if (r->error != SL_OK && !lost_answer) {
        failure_record(&m->failure, r);
        mp_abort(m);
        return;
    }
    (void)o;
    op *head = mp_op(m, OP_HEAD, "HEAD", mp_on_final_head);
    if (head == NULL || !mp_launch(m, head, SL_SUCCESS)) mpcopy_finish(m);
}

static void mp_complete(mpcopy *m)
{
    op *o = mp_op(m, OP_COMPLETE_MULTIPART, "POST", mp_on_complete);
    if (o == NULL) {
        mp_abort(m);
        return;
    }
    o->has_xml = true;
    o->xml_kind = S3_XML_COMPLETE_MULTIPART;
    s3_part_ref *parts = sl_calloc(m->part_count, sizeof(*parts));
    for (unsigned i = 0; i < m->part_count; i++)
        parts[i] = (s3_part_ref){ .part_number = i + 1, .etag = sl_cursor_from_buf(&m->part_etags[i]) };
    sl_result ok = s3_xml_write_complete_multipart(&o->body, parts, m->part_count);
    sl_free(parts);
    if (sl_ok(ok)) ok = pair_add(&o->query, sl_cursor_from_cstr("uploadId"), sl_cursor_from_buf(&m->upload_id));
    if (sl_ok(ok)) ok = pair_add_cstr(&o->headers, "Content-Type", "application/xml");
    if (!mp_launch(m, o, ok)) mp_abort(m);
}

static void mp_pump(mpcopy *m);

/* radosgw (16) ignores every source condition on UploadPartCopy, so the source is
 * HEADed with If-Match again once all parts are copied: a source that changed during
 * the copy fails the upload here instead of completing it with mixed bytes. */
static void mp_on_recheck(void *user, const s3_result *r, op *o)
{
    (void)o;
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
        mp_abort(m);
        return;
    }
    mp_complete(m);
}

static void mp_recheck_source(mpcopy *m)
{
    if (m->source_if_match.len == 0) {
        mp_complete(m);
        return;
    }
    op *o = op_new(m->client, OP_HEAD, "HEAD", sl_cursor_from_buf(&m->src_bucket), sl_cursor_from_buf(&m->src_key));
    if (o == NULL) {
        failure_raise(&m->failure, sl_error_last(), sl_error_detail());
        mp_abort(m);
        return;
    }
    o->on_internal = mp_on_recheck;
    o->user = m;
    sl_result ok = pair_add(&o->headers, sl_cursor_from_cstr("If-Match"), sl_cursor_from_buf(&m->source_if_match));
    if (sl_ok(ok) && m->source_version_id.len)
        ok = pair_add(&o->query, sl_cursor_from_cstr("versionId"), sl_cursor_from_buf(&m->source_version_id));
    if (!mp_launch(m, o, ok)) mp_abort(m);
}

static void mp_on_part(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    m->in_flight--;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
    } else {
        const s3_copy_result *part = s3_xml_copy_result(o->parser);
        sl_buf *etag = &m->part_etags[o->part_number - 1];
        if (part == NULL || part->etag.len == 0 || sl_failed(set_etag_quoted(etag, sl_cursor_from_buf(&part->etag))))
            failure_raise(&m->failure, SL_ERR_PARSE, "UploadPartCopy answered without an ETag");
        else
            m->parts_done++;
    }
    if (m->failure.set) {
        if (m->in_flight == 0) mp_abort(m);
        return;
    }
    if (m->parts_done == m->part_count) mp_recheck_source(m);
    else mp_pump(m);
}

static void mp_pump(mpcopy *m)
{
    while (!m->failure.set && m->in_flight < m->client->parallel_parts && m->next_part < m->part_count) {
        unsigned number = ++m->next_part;
        op *o = mp_op(m, OP_UPLOAD_PART_COPY, "PUT", mp_on_part);
        if (o == NULL) break;
        o->part_number = number;
        o->has_xml = true;
        o->xml_kind = S3_XML_COPY_PART;
        uint64_t first = (uint64_t)(number - 1) * m->part_size;
        uint64_t last = first + m->part_size - 1 < m->size - 1 ? first + m->part_size - 1 : m->size - 1;
        char number_text[16], range[64];
        snprintf(number_text, sizeof(number_text), "%u", number);
        snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)first, (unsigned long long)last);
        sl_result ok = pair_add_cstr(&o->query, "partNumber", number_text);
        if (sl_ok(ok)) ok = pair_add(&o->query, sl_cursor_from_cstr("uploadId"), sl_cursor_from_buf(&m->upload_id));
        if (sl_ok(ok)) ok = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-copy-source"), sl_cursor_from_buf(&m->copy_source));
        if (sl_ok(ok)) ok = pair_add_cstr(&o->headers, "x-amz-copy-source-range", range);
        if (sl_ok(ok) && m->source_if_match.len) {
            ok = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-copy-source-if-match"), sl_cursor_from_buf(&m->source_if_match));
            if (sl_ok(ok))
                ok = pair_add(&o->headers, sl_cursor_from_cstr("x-amz-copy-if-match"), sl_cursor_from_buf(&m->source_if_match));
        }
        if (!mp_launch(m, o, ok)) break;
        m->in_flight++;
    }
    if (m->failure.set && m->in_flight == 0) mp_abort(m);
}

static void mp_on_create(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
        mpcopy_finish(m); /* nothing was created */
        return;
    }
    const s3_initiate_result *init = s3_xml_initiate_result(o->parser);
    if (init == NULL || init->upload_id.len == 0 ||
        sl_failed(sl_buf_append(&m->upload_id, init->upload_id.data, init->upload_id.len))) {
        failure_raise(&m->failure, SL_ERR_PARSE, "CreateMultipartUpload answered without an UploadId");
        mpcopy_finish(m);
        return;
    }
    m->part_etags = sl_calloc(m->part_count, sizeof(*m->part_etags));
    mp_pump(m);
}

static void mp_on_source_head(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
        mpcopy_finish(m);
        return;
    }
    if (!o->has_content_length || o->content_length != m->size) {
        char detail[256];
        snprintf(detail, sizeof(detail), "s3://%s/%s is %llu bytes now, not %llu as listed",
                 sl_buf_cstr(&m->src_bucket), sl_buf_cstr(&m->src_key), (unsigned long long)o->content_length,
                 (unsigned long long)m->size);
        failure_raise(&m->failure, SL_ERR_STATE, detail);
        mpcopy_finish(m);
        return;
    }
    op *create = mp_op(m, OP_CREATE_MULTIPART, "POST", mp_on_create);
    if (create == NULL) {
        mpcopy_finish(m);
        return;
    }
    create->has_xml = true;
    create->xml_kind = S3_XML_INITIATE_MULTIPART;
    sl_result ok = pair_add_cstr(&create->query, "uploads", "");
    if (sl_ok(ok) && !m->replace_metadata && o->metadata_truncated)
        ok = sl_error_raise(SL_ERR_LIMIT, __FILE__, __LINE__, "the source has more user metadata than can be copied");
    sl_cursor content_type = m->replace_metadata ? sl_cursor_from_buf(&m->content_type) : sl_cursor_from_buf(&o->content_type);
    const pair_list *metadata = m->replace_metadata ? &m->metadata : &o->metadata;
    if (sl_ok(ok) && content_type.len) ok = pair_add(&create->headers, sl_cursor_from_cstr("Content-Type"), content_type);
    for (size_t i = 0; sl_ok(ok) && i < metadata->count; i++) {
        sl_buf name = { 0 };
        ok = sl_buf_appendf(&name, "x-amz-meta-%s", sl_buf_cstr(&metadata->names[i]));
        if (sl_ok(ok)) ok = pair_add(&create->headers, sl_cursor_from_buf(&name), sl_cursor_from_buf(&metadata->values[i]));
        sl_buf_clean_up(&name);
    }
    if (sl_ok(ok) && m->tagging.len) ok = pair_add(&create->headers, sl_cursor_from_cstr("x-amz-tagging"), sl_cursor_from_buf(&m->tagging));
    if (!mp_launch(m, create, ok)) mpcopy_finish(m);
}

sl_result s3_copy_object_sized(s3_client *c, sl_cursor src_bucket, sl_cursor src_key, uint64_t size,
                               sl_cursor dst_bucket, sl_cursor dst_key, const s3_copy_params *p, s3_object_fn *done,
                               void *user)
{
    if (size < c->multipart_threshold || size == 0)
        return s3_copy_object(c, src_bucket, src_key, dst_bucket, dst_key, p, done, user);
    GUARD(check_key(src_bucket, src_key, true));
    GUARD(check_key(dst_bucket, dst_key, true));
    uint64_t parts = (size + c->multipart_part_size - 1) / c->multipart_part_size;
    ENSURE(parts <= MULTIPART_MAX_PARTS, SL_ERR_LIMIT, "%llu bytes need %llu parts of %llu bytes; S3 allows %d",
           (unsigned long long)size, (unsigned long long)parts, (unsigned long long)c->multipart_part_size,
           MULTIPART_MAX_PARTS);
    ENSURE(p == NULL || !p->if_none_match_any, SL_ERR_UNSUPPORTED,
           "a multipart copy cannot be made conditional on the destination not existing");

    mpcopy *m = sl_calloc(1, sizeof(*m));
    m->client = c;
    m->size = size;
    m->part_size = c->multipart_part_size;
    m->part_count = (unsigned)parts;
    m->done = done;
    m->user = user;
    sl_buf raw = { 0 };
    sl_result ok = sl_buf_append_cursor(&m->src_bucket, src_bucket);
    if (sl_ok(ok)) ok = sl_buf_append_cursor(&m->src_key, src_key);
    if (sl_ok(ok)) ok = sl_buf_append_cursor(&m->dst_bucket, dst_bucket);
    if (sl_ok(ok)) ok = sl_buf_append_cursor(&m->dst_key, dst_key);
    if (sl_ok(ok)) ok = sl_buf_appendf(&raw, "/%s/%s", sl_buf_cstr(&m->src_bucket), sl_buf_cstr(&m->src_key));
    if (sl_ok(ok)) ok = sigv4_uri_encode(&m->copy_source, sl_cursor_from_buf(&raw), SIGV4_ENCODE_PATH);
    if (sl_ok(ok) && p != NULL) {
        ok = sl_buf_append_cursor(&m->source_if_match, p->source_if_match);
        if (sl_ok(ok)) ok = sl_buf_append_cursor(&m->source_version_id, p->source_version_id);
        if (sl_ok(ok) && p->source_version_id.len) {
            ok = sl_buf_append_cstr(&m->copy_source, "?versionId=");
            if (sl_ok(ok)) ok = sigv4_uri_encode(&m->copy_source, p->source_version_id, SIGV4_ENCODE_QUERY);
        }
        m->replace_metadata = p->replace_metadata;
        if (sl_ok(ok) && p->replace_metadata) {
            ok = sl_buf_append_cursor(&m->content_type, p->content_type);
            for (size_t i = 0; sl_ok(ok) && i < p->metadata_count; i++)
                ok = pair_add(&m->metadata, p->metadata[2 * i], p->metadata[2 * i + 1]);
        }
        if (sl_ok(ok) && p->replace_tagging) ok = sl_buf_append_cursor(&m->tagging, p->tagging);
    }
    sl_buf_clean_up(&raw);
    /* the source HEAD is addressed to the source, so build it by hand */
    op *head = NULL;
    if (sl_ok(ok)) {
        head = op_new(c, OP_HEAD, "HEAD", src_bucket, src_key);
        ok = head ? SL_SUCCESS : SL_FAILURE;
    }
    if (sl_ok(ok) && m->source_if_match.len)
        ok = pair_add(&head->headers, sl_cursor_from_cstr("If-Match"), sl_cursor_from_buf(&m->source_if_match));
    if (sl_ok(ok) && p && p->source_version_id.len)
        ok = pair_add(&head->query, sl_cursor_from_cstr("versionId"), p->source_version_id);
    if (sl_ok(ok)) {
        head->on_internal = mp_on_source_head;
        head->user = m;
        ok = start_attempt(head);
    }
    if (sl_failed(ok)) {
        if (head) op_free(head);
        mpcopy_free(m);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}

/* ---- presigned GET ---- */

sl_result s3_client_presign_get(s3_client *c, sl_cursor bucket, sl_cursor key, uint32_t expires_seconds, sl_buf *url)
{
    GUARD(check_key(bucket, key, true));
    sl_result result = SL_FAILURE;
    sl_buf host = { 0 }, path = { 0 }, scheme = { 0 };
    sigv4_signed sig = { 0 };
    if (c->addressing == S3_ADDRESSING_VIRTUAL) {
        GUARD_CLEANUP(sl_buf_append_cursor(&host, bucket));
        GUARD_CLEANUP(sl_buf_appendf(&host, ".%s", c->host));
        GUARD_CLEANUP(sl_buf_append_byte(&path, '/'));
    } else {
        GUARD_CLEANUP(sl_buf_append_cstr(&host, c->host));
        GUARD_CLEANUP(sl_buf_append_byte(&path, '/'));
        GUARD_CLEANUP(sl_buf_append_cursor(&path, bucket));
        GUARD_CLEANUP(sl_buf_append_byte(&path, '/'));
    }
    GUARD_CLEANUP(sl_buf_append_cursor(&path, key));
    GUARD_CLEANUP(sl_buf_append_cstr(&scheme, c->scheme));
    sigv4_pair headers[] = { { sl_cursor_from_cstr("Host"), sl_cursor_from_buf(&host) } };
    sigv4_signing signing = { .credentials = &c->credentials, .region = sl_cursor_from_cstr(c->region),
                              .service = sl_cursor_from_cstr("s3"), .time = time(NULL), .key_cache = c->keys };
    sigv4_request req = { .method = sl_cursor_from_cstr("GET"), .path = sl_cursor_from_buf(&path),
                          .uri_mode = SIGV4_URI_S3, .headers = headers, .header_count = 1,
                          .payload_hash = sl_cursor_from_cstr(SIGV4_UNSIGNED_PAYLOAD),
                          .scheme = sl_cursor_from_buf(&scheme) };
    GUARD_CLEANUP(sigv4_presign(&signing, &req, expires_seconds, &sig));
    sl_buf_reset(url);
    GUARD_CLEANUP(sl_buf_append_cursor(url, sl_cursor_from_buf(&sig.url)));
    result = SL_SUCCESS;
cleanup:
    sigv4_signed_clean_up(&sig);
    sl_buf_clean_up(&host);
    sl_buf_clean_up(&path);
    sl_buf_clean_up(&scheme);
    return result;
}
