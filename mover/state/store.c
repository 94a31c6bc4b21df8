/*
 * store.c — manifest GET/PUT through the S3 client (see store.h).
 */
#include "state/store.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#define MANIFEST_MAX_BYTES ((size_t)1024 * 1024)

/* ---- raw ---- */

struct read {
    manifest_read_fn *done;
    void *user;
    size_t max_bytes;
    sl_buf body;
    bool too_big;
};

static s3_http_body_action read_chunk(void *user, const uint8_t *data, size_t len)
{
    struct read *r = user;
    if (len > r->max_bytes - r->body.len) {
        r->too_big = true;
        return S3_HTTP_BODY_ABORT;
    }
    return sl_ok(sl_buf_append(&r->body, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

static void read_done(void *user, const s3_result *res, const s3_object_info *info)
{
    struct read *r = user;
    s3_result result = *res;
    char detail[600], etag[128] = "";
    if (r->too_big) {
        result.error = SL_ERR_LIMIT;
        snprintf(detail, sizeof(detail), "manifest larger than %zu bytes", r->max_bytes);
        result.detail = detail;
    } else if (res->error == SL_OK) {
        snprintf(etag, sizeof(etag), "%.*s", (int)info->etag.len, (const char *)info->etag.ptr);
    }
    r->done(r->user, &result, result.error == SL_OK ? sl_cursor_from_buf(&r->body) : (sl_cursor){ 0 }, etag);
    sl_buf_clean_up(&r->body);
    sl_free(r);
}

sl_result manifest_store_read(const manifest_store *store, sl_cursor key, size_t max_bytes, manifest_read_fn *done,
                              void *user)
{
    ENSURE(store != NULL && done != NULL && max_bytes > 0, SL_ERR_INVALID_ARGUMENT, "manifest_store_read: arguments");
    struct read *r = sl_calloc(1, sizeof(*r));
    r->done = done;
    r->user = user;
    r->max_bytes = max_bytes;
    sl_result result = s3_get_object_stream(store->client, sl_cursor_from_cstr(store->bucket), key, NULL, NULL,
                                            read_chunk, read_done, r, NULL);
    if (sl_failed(result)) sl_free(r);
    return result;
}

struct save {
    manifest_saved_fn *done;
    void *user;
};

static void saved(void *user, const s3_result *r, const s3_object_info *info)
{
    struct save *s = user;
    char etag[128] = "";
    if (r->error == SL_OK) snprintf(etag, sizeof(etag), "%.*s", (int)info->etag.len, (const char *)info->etag.ptr);
    s->done(s->user, r, etag);
    sl_free(s);
}

sl_result manifest_store_write(const manifest_store *store, sl_cursor key, sl_cursor body, const char *if_match,
                               manifest_saved_fn *done, void *user)
{
    ENSURE(store != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "manifest_store_write: arguments");
    struct save *s = sl_calloc(1, sizeof(*s));
    s->done = done;
    s->user = user;
    s3_put_params params = {
        .content_type = sl_cursor_from_cstr("application/json"),
        .if_none_match_any = if_match == NULL,
        .if_match = if_match ? sl_cursor_from_cstr(if_match) : (sl_cursor){ 0 },
    };
    sl_result result = s3_put_object(store->client, sl_cursor_from_cstr(store->bucket), key, body, &params, saved, s);
    if (sl_failed(result)) sl_free(s);
    return result;
}

/* ---- artifact manifests ---- */

struct load {
    manifest_loaded_fn *done;
    void *user;
};

static void loaded(void *user, const s3_result *r, sl_cursor body, const char *etag)
{
    struct load *l = user;
    artifact_manifest *m = NULL;
    s3_result result = *r;
    char detail[600];
    if (r->error == SL_OK) {
        m = sl_calloc(1, sizeof(*m));
        if (sl_failed(artifact_manifest_from_json(body, m))) {
            snprintf(detail, sizeof(detail), "manifest does not parse: %s", sl_error_detail());
            result.error = SL_ERR_PARSE;
            result.detail = detail;
            sl_free(m);
            m = NULL;
        }
    }
    l->done(l->user, &result, m, result.error == SL_OK ? etag : "");
    sl_free(l);
}

sl_result manifest_store_load(const manifest_store *store, const char *id, manifest_loaded_fn *done, void *user)
{
    sl_buf key = { 0 };
    GUARD(artifact_manifest_key(&key, store->control_prefix, id));
    struct load *l = sl_calloc(1, sizeof(*l));
    l->done = done;
    l->user = user;
    sl_result r = manifest_store_read(store, sl_cursor_from_buf(&key), MANIFEST_MAX_BYTES, loaded, l);
    sl_buf_clean_up(&key);
    if (sl_failed(r)) sl_free(l);
    return r;
}

sl_result manifest_store_save(const manifest_store *store, const artifact_manifest *m, const char *if_match,
                              manifest_saved_fn *done, void *user)
{
    sl_result result = SL_FAILURE;
    sl_buf json = { 0 }, key = { 0 };
    GUARD_CLEANUP(artifact_manifest_to_json(m, &json));
    GUARD_CLEANUP(artifact_manifest_key(&key, store->control_prefix, m->id));
    result = manifest_store_write(store, sl_cursor_from_buf(&key), sl_cursor_from_buf(&json), if_match, done, user);
cleanup:
    sl_buf_clean_up(&json);
    sl_buf_clean_up(&key);
    return result;
}

void manifest_store_release(artifact_manifest *m)
{
    if (m == NULL) return;
    artifact_manifest_clean_up(m);
    sl_free(m);
}
