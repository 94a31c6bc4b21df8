/*
 * requests.c — the table of S3 operations and the builders of client.h's operations
 * (the parts of the client: client_impl.h).
 *
 * How the parts fit: `s3_op_table` has one row per s3_op (ops.h): the HTTP method, the
 * sub-resource sent as a bare query parameter, the document a 2xx answer holds, the
 * flags the engine acts on (key required, streamed body, Content-MD5, XML body, …) and
 * the `deliver` function that hands the typed result to the caller. The names in
 * ops.h label the same rows in logs and metrics. Each public operation below checks its
 * arguments, takes a new op for its row (op_new), adds only what is particular to it —
 * query parameters, headers, a body — and launches it (op_launch). The multipart copy
 * builds its steps from the same rows (multipart_copy.c).
 */
#include "s3/client_impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"

/* ---- delivering results ---- */

static void deliver_object(op *o, const s3_result *result)
{
    s3_object_info info = { 0 };
    if (result->error == SL_OK || (o->desc->flags & OP_OBJECT_SIZE)) op_fill_info(o, &info);
    o->on.object(o->user, result, &info);
}

static void deliver_copy(op *o, const s3_result *result)
{
    s3_object_info info = { 0 };
    sl_buf etag = { 0 };
    if (result->error == SL_OK) {
        op_fill_info(o, &info);
        const s3_copy_result *copy = s3_xml_copy_result(o->parser);
        if (sl_failed(s3_set_etag_quoted(&etag, sl_cursor_from_buf(&copy->etag)))) sl_buf_reset(&etag);
        info.etag = sl_cursor_from_buf(&etag);
        info.last_modified = sl_cursor_from_buf(&copy->last_modified);
    }
    o->on.object(o->user, result, &info);
    sl_buf_clean_up(&etag);
}

static void deliver_done(op *o, const s3_result *result) { o->on.done(o->user, result); }

static void deliver_list(op *o, const s3_result *result)
{
    o->on.list(o->user, result, result->error == SL_OK ? s3_xml_list_result(o->parser) : NULL);
}

static void deliver_delete_objects(op *o, const s3_result *result)
{
    o->on.delete_objects(o->user, result, result->error == SL_OK ? s3_xml_delete_result(o->parser) : NULL);
}

static void deliver_tagging(op *o, const s3_result *result)
{
    o->on.tagging(o->user, result, result->error == SL_OK ? s3_xml_tagging_result(o->parser) : NULL);
}

static void deliver_versioning(op *o, const s3_result *result)
{
    o->on.versioning(o->user, result, result->error == SL_OK ? s3_xml_versioning_result(o->parser) : NULL);
}

static void deliver_list_versions(op *o, const s3_result *result)
{
    o->on.list_versions(o->user, result, result->error == SL_OK ? s3_xml_list_versions_result(o->parser) : NULL);
}

/* ---- the table ---- */

const op_desc s3_op_table[S3_OP_COUNT] = {
    [S3_OP_LIST_OBJECTS_V2] = { S3_OP_LIST_OBJECTS_V2, "GET", NULL, NULL, S3_XML_LIST_OBJECTS_V2, 0, deliver_list },
    [S3_OP_HEAD_OBJECT] = { S3_OP_HEAD_OBJECT, "HEAD", NULL, NULL, OP_NO_DOCUMENT, OP_OBJECT | OP_OBJECT_SIZE, deliver_object },
    [S3_OP_GET_OBJECT] = { S3_OP_GET_OBJECT, "GET", NULL, NULL, OP_NO_DOCUMENT, OP_OBJECT | OP_OBJECT_SIZE | OP_STREAM,
                           deliver_object },
    [S3_OP_PUT_OBJECT] = { S3_OP_PUT_OBJECT, "PUT", NULL, NULL, OP_NO_DOCUMENT, OP_OBJECT, deliver_object },
    [S3_OP_COPY_OBJECT] = { S3_OP_COPY_OBJECT, "PUT", NULL, NULL, S3_XML_COPY_OBJECT, OP_OBJECT, deliver_copy },
    [S3_OP_DELETE_OBJECT] = { S3_OP_DELETE_OBJECT, "DELETE", NULL, NULL, OP_NO_DOCUMENT, OP_OBJECT, deliver_done },
    [S3_OP_DELETE_OBJECTS] = { S3_OP_DELETE_OBJECTS, "POST", "delete", NULL, S3_XML_DELETE_OBJECTS, OP_CONTENT_MD5 | OP_XML_BODY,
                               deliver_delete_objects },
    [S3_OP_PUT_OBJECT_TAGGING] = { S3_OP_PUT_OBJECT_TAGGING, "PUT", "tagging", NULL, OP_NO_DOCUMENT, OP_OBJECT | OP_CONTENT_MD5,
                                   deliver_done },
    [S3_OP_GET_OBJECT_TAGGING] = { S3_OP_GET_OBJECT_TAGGING, "GET", "tagging", NULL, S3_XML_TAGGING, OP_OBJECT, deliver_tagging },
    [S3_OP_GET_BUCKET_VERSIONING] = { S3_OP_GET_BUCKET_VERSIONING, "GET", "versioning", NULL, S3_XML_VERSIONING, 0, deliver_versioning },
    [S3_OP_CREATE_MULTIPART_UPLOAD] = { S3_OP_CREATE_MULTIPART_UPLOAD, "POST", "uploads", NULL, S3_XML_INITIATE_MULTIPART, OP_OBJECT, NULL },
    [S3_OP_UPLOAD_PART_COPY] = { S3_OP_UPLOAD_PART_COPY, "PUT", NULL, NULL, S3_XML_COPY_PART, OP_OBJECT, NULL },
    [S3_OP_COMPLETE_MULTIPART_UPLOAD] = { S3_OP_COMPLETE_MULTIPART_UPLOAD, "POST", NULL, NULL, S3_XML_COMPLETE_MULTIPART, OP_OBJECT | OP_XML_BODY,
                                          NULL },
    [S3_OP_ABORT_MULTIPART_UPLOAD] = { S3_OP_ABORT_MULTIPART_UPLOAD, "DELETE", NULL, NULL, OP_NO_DOCUMENT, OP_OBJECT, NULL },
    [S3_OP_LIST_OBJECT_VERSIONS] = { S3_OP_LIST_OBJECT_VERSIONS, "GET", "versions", NULL, S3_XML_LIST_VERSIONS, 0,
                                     deliver_list_versions },
};

/* ---- building ---- */

/* Checks the arguments against the row and takes a new op for it. */
static sl_result begin(s3_client *c, s3_op kind, sl_cursor bucket, sl_cursor key, void *user, op **out)
{
    GUARD(s3_check_key(bucket, key, (s3_op_table[kind].flags & OP_OBJECT) != 0));
    op *o = op_new(c, &s3_op_table[kind], bucket, key);
    if (o == NULL) return SL_FAILURE;
    o->user = user;
    *out = o;
    return SL_SUCCESS;
}

/* Launches an op whose building went `built`; frees it when that failed. */
static sl_result finish(op *o, sl_result built)
{
    if (sl_failed(built)) {
        op_free(o);
        return SL_FAILURE;
    }
    return op_launch(o);
}

static sl_cursor cstr(const char *s) { return sl_cursor_from_cstr(s); }

/* name: value when value is not empty. */
static sl_result add_optional(op *o, const char *name, sl_cursor value)
{
    return value.len ? op_add_header(o, cstr(name), value) : SL_SUCCESS;
}

/* name=value in the query when value is not empty. */
static sl_result add_query_optional(op *o, const char *name, sl_cursor value)
{
    return value.len ? op_add_query(o, cstr(name), value) : SL_SUCCESS;
}

/* The parameters both listings share: encoding-type=url, prefix, max-keys (0: the
 * server's default). */
static sl_result add_listing(op *o, sl_cursor prefix, uint32_t max_keys)
{
    char text[16];
    snprintf(text, sizeof(text), "%u", max_keys);
    GUARD(op_add_query(o, cstr("encoding-type"), cstr("url")));
    GUARD(add_query_optional(o, "prefix", prefix));
    return max_keys ? op_add_query(o, cstr("max-keys"), cstr(text)) : SL_SUCCESS;
}

static sl_result add_metadata(op *o, const sl_cursor *metadata, size_t count)
{
    for (size_t i = 0; i < count; i++)
        GUARD(op_add_header_prefixed(o, "x-amz-meta-", metadata[2 * i], metadata[2 * i + 1]));
    return SL_SUCCESS;
}

sl_result s3_copy_source(sl_buf *out, sl_cursor bucket, sl_cursor key, sl_cursor version_id)
{
    sl_buf raw = { 0 };
    sl_result r = sl_buf_append_byte(&raw, '/');
    if (sl_ok(r)) r = sl_buf_append_cursor(&raw, bucket);
    if (sl_ok(r)) r = sl_buf_append_byte(&raw, '/');
    if (sl_ok(r)) r = sl_buf_append_cursor(&raw, key);
    if (sl_ok(r)) r = sigv4_uri_encode(out, sl_cursor_from_buf(&raw), SIGV4_ENCODE_PATH);
    if (sl_ok(r) && version_id.len) {
        r = sl_buf_append_cstr(out, "?versionId=");
        if (sl_ok(r)) r = sigv4_uri_encode(out, version_id, SIGV4_ENCODE_QUERY);
    }
    sl_buf_clean_up(&raw);
    return r;
}

/* ---- operations ---- */

sl_result s3_list_objects_v2(s3_client *c, sl_cursor bucket, const s3_list_params *p, s3_list_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_LIST_OBJECTS_V2, bucket, (sl_cursor){ 0 }, user, &o));
    o->on.list = done;
    sl_result r = op_add_query(o, cstr("list-type"), cstr("2"));
    if (sl_ok(r)) r = add_listing(o, p->prefix, p->max_keys);
    if (sl_ok(r)) r = add_query_optional(o, "delimiter", p->delimiter);
    if (sl_ok(r)) r = add_query_optional(o, "continuation-token", p->continuation_token);
    if (sl_ok(r)) r = add_query_optional(o, "start-after", p->start_after);
    return finish(o, r);
}

sl_result s3_list_object_versions(s3_client *c, sl_cursor bucket, const s3_list_versions_params *p,
                                  s3_list_versions_fn *done, void *user)
{
    ENSURE(p->version_id_marker.len == 0 || p->key_marker.len > 0, SL_ERR_INVALID_ARGUMENT,
           "a version-id-marker needs a key-marker");
    op *o = NULL;
    GUARD(begin(c, S3_OP_LIST_OBJECT_VERSIONS, bucket, (sl_cursor){ 0 }, user, &o));
    o->on.list_versions = done;
    sl_result r = add_listing(o, p->prefix, p->max_keys);
    if (sl_ok(r)) r = add_query_optional(o, "key-marker", p->key_marker);
    if (sl_ok(r)) r = add_query_optional(o, "version-id-marker", p->version_id_marker);
    return finish(o, r);
}

sl_result s3_head_object(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor if_match, s3_object_fn *done,
                         void *user)
{
    return s3_head_object_version(c, bucket, key, (sl_cursor){ 0 }, if_match, done, user);
}

/* versionId=v when v is not empty. */
static sl_result add_version(op *o, sl_cursor version_id) { return add_query_optional(o, "versionId", version_id); }

sl_result s3_head_object_version(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor version_id,
                                 sl_cursor if_match, s3_object_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_HEAD_OBJECT, bucket, key, user, &o));
    o->on.object = done;
    sl_result r = add_optional(o, "If-Match", if_match);
    if (sl_ok(r)) r = add_version(o, version_id);
    return finish(o, r);
}

sl_result s3_get_object_stream(s3_client *c, sl_cursor bucket, sl_cursor key, const s3_get_params *p,
                               s3_get_headers_fn *on_headers, s3_http_body_fn *on_chunk, s3_object_fn *done,
                               void *user, s3_get_object **out)
{
    ENSURE(on_chunk != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "GetObject needs chunk and done callbacks");
    ENSURE(p == NULL || !p->has_range || p->range_first <= p->range_last, SL_ERR_INVALID_ARGUMENT,
           "range %llu-%llu is empty", p ? (unsigned long long)p->range_first : 0ULL,
           p ? (unsigned long long)p->range_last : 0ULL);
    op *o = NULL;
    GUARD(begin(c, S3_OP_GET_OBJECT, bucket, key, user, &o));
    o->on.object = done;
    o->on_get_headers = on_headers;
    o->on_chunk = on_chunk;
    sl_result r = SL_SUCCESS;
    if (p != NULL) {
        char range[64];
        snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)p->range_first,
                 (unsigned long long)p->range_last);
        r = add_optional(o, "If-Match", p->if_match);
        if (sl_ok(r)) r = add_version(o, p->version_id);
        if (sl_ok(r) && p->has_range) r = op_add_header(o, cstr("Range"), cstr(range));
    }
    GUARD(finish(o, r));
    if (out) *out = (s3_get_object *)o;
    return SL_SUCCESS;
}

void s3_get_object_resume(s3_get_object *get)
{
    op *o = (op *)get;
    if (o->http_req) s3_http_resume(o->http_req);
}

sl_result s3_put_object(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor body, const s3_put_params *p,
                        s3_object_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_PUT_OBJECT, bucket, key, user, &o));
    o->on.object = done;
    sl_result r = sl_buf_append_cursor(&o->body, body);
    if (sl_ok(r) && p != NULL) {
        r = add_optional(o, "Content-Type", p->content_type);
        if (sl_ok(r) && p->if_none_match_any) r = op_add_header(o, cstr("If-None-Match"), cstr("*"));
        /* radosgw matches If-Match only against the bare ETag (notes on the local server) */
        if (sl_ok(r) && p->if_match.len) r = op_add_header(o, cstr("If-Match"), s3_etag_unquoted(p->if_match));
        if (sl_ok(r)) r = add_optional(o, "x-amz-tagging", p->tagging);
        if (sl_ok(r)) r = add_metadata(o, p->metadata, p->metadata_count);
    }
    return finish(o, r);
}

sl_result s3_copy_object(s3_client *c, sl_cursor src_bucket, sl_cursor src_key, sl_cursor dst_bucket,
                         sl_cursor dst_key, const s3_copy_params *p, s3_object_fn *done, void *user)
{
    GUARD(s3_check_key(src_bucket, src_key, true));
    op *o = NULL;
    GUARD(begin(c, S3_OP_COPY_OBJECT, dst_bucket, dst_key, user, &o));
    o->on.object = done;
    sl_buf source = { 0 };
    sl_result r = s3_copy_source(&source, src_bucket, src_key, p ? p->source_version_id : (sl_cursor){ 0 });
    if (sl_ok(r)) r = op_add_header(o, cstr("x-amz-copy-source"), sl_cursor_from_buf(&source));
    sl_buf_clean_up(&source);
    if (sl_ok(r) && p != NULL) {
        if (p->source_if_match.len) {
            r = op_add_header(o, cstr("x-amz-copy-source-if-match"), p->source_if_match);
            /* radosgw ignores the standard header and reads its own */
            if (sl_ok(r)) r = op_add_header(o, cstr("x-amz-copy-if-match"), p->source_if_match);
        }
        if (sl_ok(r) && p->replace_metadata) {
            r = op_add_header(o, cstr("x-amz-metadata-directive"), cstr("REPLACE"));
            if (sl_ok(r)) r = add_optional(o, "Content-Type", p->content_type);
            if (sl_ok(r)) r = add_metadata(o, p->metadata, p->metadata_count);
        }
        if (sl_ok(r) && p->replace_tagging) {
            r = op_add_header(o, cstr("x-amz-tagging-directive"), cstr("REPLACE"));
            if (sl_ok(r)) r = op_add_header(o, cstr("x-amz-tagging"), p->tagging);
        }
        if (sl_ok(r) && p->if_none_match_any) r = op_add_header(o, cstr("If-None-Match"), cstr("*"));
    }
    return finish(o, r);
}

sl_result s3_delete_object(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor version_id, s3_done_fn *done,
                           void *user)
{
    return s3_delete_object_if_match(c, bucket, key, version_id, (sl_cursor){ 0 }, done, user);
}

sl_result s3_delete_object_if_match(s3_client *c, sl_cursor bucket, sl_cursor key, sl_cursor version_id,
                                    sl_cursor if_match, s3_done_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_DELETE_OBJECT, bucket, key, user, &o));
    o->on.done = done;
    sl_result r = add_version(o, version_id);
    if (sl_ok(r)) r = add_optional(o, "If-Match", if_match);
    return finish(o, r);
}

sl_result s3_delete_objects(s3_client *c, sl_cursor bucket, const s3_object_ref *objects, size_t count, bool quiet,
                            s3_delete_objects_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_DELETE_OBJECTS, bucket, (sl_cursor){ 0 }, user, &o));
    o->on.delete_objects = done;
    /* DeleteObjects is idempotent: deleting a deleted key succeeds */
    return finish(o, s3_xml_write_delete(&o->body, objects, count, quiet));
}

sl_result s3_put_object_tagging(s3_client *c, sl_cursor bucket, sl_cursor key, const s3_tag_ref *tags,
                                size_t count, s3_done_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_PUT_OBJECT_TAGGING, bucket, key, user, &o));
    o->on.done = done;
    return finish(o, s3_xml_write_tagging(&o->body, tags, count));
}

sl_result s3_get_object_tagging(s3_client *c, sl_cursor bucket, sl_cursor key, s3_tagging_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_GET_OBJECT_TAGGING, bucket, key, user, &o));
    o->on.tagging = done;
    return finish(o, SL_SUCCESS);
}

sl_result s3_get_bucket_versioning(s3_client *c, sl_cursor bucket, s3_versioning_fn *done, void *user)
{
    op *o = NULL;
    GUARD(begin(c, S3_OP_GET_BUCKET_VERSIONING, bucket, (sl_cursor){ 0 }, user, &o));
    o->on.versioning = done;
    return finish(o, SL_SUCCESS);
}

/* ---- presigned GET ---- */

sl_result s3_client_presign_get(s3_client *c, sl_cursor bucket, sl_cursor key, uint32_t expires_seconds, sl_buf *url)
{
    GUARD(s3_check_key(bucket, key, true));
    sl_result result = SL_FAILURE;
    sl_buf host = { 0 }, path = { 0 }, scheme = { 0 };
    sigv4_signed sig = { 0 };
    GUARD_CLEANUP(s3_address(c, false, bucket, key, &host, &path));
    GUARD_CLEANUP(sl_buf_append_cstr(&scheme, c->scheme));
    sigv4_pair headers[] = { { cstr("Host"), sl_cursor_from_buf(&host) } };
    sigv4_signing signing = { .credentials = &c->credentials, .region = cstr(c->region), .service = cstr("s3"),
                              .time = time(NULL), .key_cache = c->keys };
    sigv4_request req = { .method = cstr("GET"), .path = sl_cursor_from_buf(&path), .uri_mode = SIGV4_URI_S3,
                          .headers = headers, .header_count = 1, .payload_hash = cstr(SIGV4_UNSIGNED_PAYLOAD),
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
