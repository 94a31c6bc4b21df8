/*
 * grants.c — presigned grants (tasks_impl.h): PUT URLs for a task's named keys and a
 * POST form for any name under its prefix, and presigned GETs for the reference keys it
 * asked for, all signed with the grants identity, never the mover's; and the reference
 * allowlist check.
 *
 * Every grant ends at or before the task's expires_at: the signing time is the opening
 * time rounded down to the second, the lifetime whole seconds up to expires_at, and no
 * more than SigV4's 7 days. PUT URLs sign If-None-Match: * (a key is written once) and
 * x-amz-acl: bucket-owner-full-control (else the mover could not read the object on
 * radosgw), and Content-Length for a key given with a size; the POST policy holds the
 * bucket, ["starts-with","$key",<prefix>], the content-length-range and
 * {"acl":"bucket-owner-full-control"} (radosgw ignores an "x-amz-acl" form field).
 */
#include "tasks/tasks_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"

/* ---- grant data ---- */

void grant_data_clean_up(grant_data *g)
{
    if (g == NULL) return;
    for (size_t i = 0; i < g->put_count; i++) {
        sl_free((char *)g->puts[i].name);
        sl_free((char *)g->puts[i].url);
    }
    sl_free(g->puts);
    sl_free(g->post_url);
    sl_free(g->post_key_prefix);
    sigv4_post_form_clean_up(&g->form);
    sts_credentials_clean_up(&g->cred);
    sl_free(g->endpoint);
    sl_free(g->region);
    sl_free(g->reference_bucket);
    for (size_t i = 0; i < g->ref_count; i++) {
        sl_free((char *)g->refs[i].name);
        sl_free((char *)g->refs[i].url);
    }
    sl_free(g->refs);
    *g = (grant_data){ 0 };
}

void grant_data_view(const grant_data *g, task_grant *out)
{
    *out = (task_grant){
        .kind = g->kind,
        .expires_at_ms = g->expires_at_ms,
        .put_urls = g->puts,
        .put_url_count = g->put_count,
        .has_post = g->has_post,
        .post_url = g->post_url,
        .post_key_prefix = g->post_key_prefix,
        .post_max_bytes = g->post_max_bytes,
        .post_fields = g->form.fields,
        .post_field_count = g->has_post ? g->form.field_count : 0,
        .reference_bucket = g->reference_bucket,
        .reference = g->refs,
        .reference_count = g->ref_count,
    };
    if (g->kind == TASK_GRANT_STS) {
        out->access_key_id = sl_buf_cstr(&g->cred.access_key_id);
        out->secret_access_key = sl_buf_cstr(&g->cred.secret_access_key);
        out->session_token = sl_buf_cstr(&g->cred.session_token);
        out->session_expires_at_ms = g->cred.expiration_ms;
        out->session_arn = g->cred.assumed_role_arn.len ? sl_buf_cstr(&g->cred.assumed_role_arn) : NULL;
        out->endpoint = g->endpoint;
        out->region = g->region;
    }
}

/* ---- the allowlist ---- */

bool reference_allowed(const route_info *route, const char *key)
{
    if (route == NULL || !route->has_reference || key == NULL) return false;
    for (size_t i = 0; i < route->reference_key_count; i++)
        if (strcmp(route->reference_keys[i], key) == 0) return true;
    for (size_t i = 0; i < route->reference_prefix_count; i++) {
        size_t n = strlen(route->reference_prefixes[i]);
        if (strncmp(route->reference_prefixes[i], key, n) == 0 && key[n] != '\0') return true;
    }
    return false;
}

/* ---- signing ---- */

/* The signing time and lifetime of a task's grants: from its opening (rounded down to
 * the second) to its expiry, at most 7 days. */
static sl_result grant_times(const task_manifest *m, time_t *sign_time, uint32_t *lifetime)
{
    *sign_time = (time_t)(m->opened_at_ms / 1000);
    int64_t seconds = m->expires_at_ms / 1000 - (int64_t)*sign_time;
    if (seconds > SIGV4_MAX_EXPIRES) seconds = SIGV4_MAX_EXPIRES;
    ENSURE(seconds >= SIGV4_MIN_EXPIRES, SL_ERR_INVALID_ARGUMENT, "the task is too short for a grant (< 1 s)");
    *lifetime = (uint32_t)seconds;
    return SL_SUCCESS;
}

/* Host and path of an object for the addressing style. */
static sl_result object_address(const reg_config *c, const char *bucket, const char *key, sl_buf *host, sl_buf *path)
{
    sl_buf_reset(host);
    sl_buf_reset(path);
    if (c->virtual_hosted) {
        GUARD(sl_buf_appendf(host, "%s.%s", bucket, c->host));
        return sl_buf_appendf(path, "/%s", key);
    }
    GUARD(sl_buf_append_cstr(host, c->host));
    return sl_buf_appendf(path, "/%s/%s", bucket, key);
}

/* One presigned URL of `method` for bucket/key with `headers` (Host added), as a new
 * string into *url. */
static sl_result presign(task_registry *r, time_t sign_time, uint32_t lifetime, const char *method, const char *bucket,
                         const char *key, const sigv4_pair *extra, size_t extra_count, char **url)
{
    const reg_config *c = r->cfg;
    sl_buf host = { 0 }, path = { 0 };
    sigv4_signed signed_url = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(object_address(c, bucket, key, &host, &path));
    sigv4_pair headers[5] = { { sl_cursor_from_cstr("Host"), sl_cursor_from_buf(&host) } };
    ENSURE_CLEANUP(extra_count <= 4, SL_ERR_INVALID_ARGUMENT, "too many signed headers");
    for (size_t i = 0; i < extra_count; i++) headers[i + 1] = extra[i];
    sigv4_signing signing = { .credentials = &r->grant_credentials,
                              .region = sl_cursor_from_cstr(c->region),
                              .service = sl_cursor_from_cstr("s3"),
                              .time = sign_time,
                              .key_cache = r->keys };
    sigv4_request req = { .method = sl_cursor_from_cstr(method),
                          .path = sl_cursor_from_buf(&path),
                          .uri_mode = SIGV4_URI_S3,
                          .headers = headers,
                          .header_count = extra_count + 1,
                          .payload_hash = sl_cursor_from_cstr(SIGV4_UNSIGNED_PAYLOAD),
                          .scheme = sl_cursor_from_cstr(c->scheme) };
    GUARD_CLEANUP(sigv4_presign(&signing, &req, lifetime, &signed_url));
    *url = sl_strdup(sl_buf_cstr(&signed_url.url));
    result = SL_SUCCESS;
cleanup:
    sigv4_signed_clean_up(&signed_url);
    sl_buf_clean_up(&host);
    sl_buf_clean_up(&path);
    return result;
}

sl_result grants_sign_presigned(task_registry *r, const route_info *route, const task_manifest *m, bool post,
                                grant_data *g)
{
    const reg_config *c = r->cfg;
    time_t sign_time = 0;
    uint32_t lifetime = 0;
    GUARD(grant_times(m, &sign_time, &lifetime));
    sl_result result = SL_FAILURE;
    sl_buf prefix = { 0 }, key = { 0 }, length = { 0 }, url = { 0 };
    GUARD_CLEANUP(sl_buf_appendf(&prefix, "%s%s/", route->staging_prefix, m->id));
    g->kind = TASK_GRANT_PRESIGNED;
    g->expires_at_ms = ((int64_t)sign_time + lifetime) * 1000;
    g->puts = sl_calloc(m->limits.key_count ? m->limits.key_count : 1, sizeof(*g->puts));
    for (size_t i = 0; i < m->limits.key_count; i++) {
        const task_key *k = &m->limits.keys[i];
        sl_buf_reset(&key);
        sl_buf_reset(&length);
        GUARD_CLEANUP(sl_buf_appendf(&key, "%s%s", sl_buf_cstr(&prefix), k->name));
        sigv4_pair headers[3] = {
            { sl_cursor_from_cstr("If-None-Match"), sl_cursor_from_cstr(TASK_PUT_IF_NONE_MATCH) },
            { sl_cursor_from_cstr("x-amz-acl"), sl_cursor_from_cstr(TASK_PUT_ACL) },
        };
        size_t count = 2;
        if (k->has_size) {
            GUARD_CLEANUP(sl_buf_appendf(&length, "%" PRIu64, k->size));
            headers[count++] = (sigv4_pair){ sl_cursor_from_cstr("Content-Length"), sl_cursor_from_buf(&length) };
        }
        char *signed_url = NULL;
        GUARD_CLEANUP(presign(r, sign_time, lifetime, "PUT", c->staging, sl_buf_cstr(&key), headers, count, &signed_url));
        g->puts[g->put_count++] = (task_url){ .name = sl_strdup(k->name), .url = signed_url };
    }
    if (post) {
        sigv4_pair conditions[1] = { { sl_cursor_from_cstr("acl"), sl_cursor_from_cstr(TASK_PUT_ACL) } };
        sigv4_signing signing = { .credentials = &r->grant_credentials,
                                  .region = sl_cursor_from_cstr(c->region),
                                  .service = sl_cursor_from_cstr("s3"),
                                  .time = sign_time,
                                  .key_cache = r->keys };
        sigv4_post_policy policy = { .bucket = sl_cursor_from_cstr(c->staging),
                                     .key_prefix = sl_cursor_from_buf(&prefix),
                                     .min_length = 0,
                                     .max_length = m->limits.max_bytes,
                                     .expires_seconds = lifetime,
                                     .conditions = conditions,
                                     .condition_count = 1 };
        GUARD_CLEANUP(sigv4_presign_post(&signing, &policy, &g->form));
        if (c->virtual_hosted) GUARD_CLEANUP(sl_buf_appendf(&url, "%s://%s.%s/", c->scheme, c->staging, c->host));
        else GUARD_CLEANUP(sl_buf_appendf(&url, "%s://%s/%s", c->scheme, c->host, c->staging));
        g->has_post = true;
        g->post_url = sl_buf_steal(&url);
        g->post_key_prefix = sl_strdup(sl_buf_cstr(&prefix));
        g->post_max_bytes = m->limits.max_bytes;
    }
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&prefix);
    sl_buf_clean_up(&key);
    sl_buf_clean_up(&length);
    sl_buf_clean_up(&url);
    return result;
}

sl_result grants_sign_reference(task_registry *r, const route_info *route, const task_manifest *m,
                                const char *const *keys, size_t count, grant_data *g)
{
    if (count == 0) return SL_SUCCESS;
    ENSURE(route->has_reference, SL_ERR_INVALID_ARGUMENT, "route %s has no reference data", route->name);
    time_t sign_time = 0;
    uint32_t lifetime = 0;
    GUARD(grant_times(m, &sign_time, &lifetime));
    g->reference_bucket = sl_strdup(route->reference_bucket);
    g->refs = sl_calloc(count, sizeof(*g->refs));
    for (size_t i = 0; i < count; i++) {
        char *url = NULL;
        if (g->kind == TASK_GRANT_PRESIGNED)
            GUARD(presign(r, sign_time, lifetime, "GET", route->reference_bucket, keys[i], NULL, 0, &url));
        g->refs[g->ref_count++] = (task_url){ .name = sl_strdup(keys[i]), .url = url };
    }
    return SL_SUCCESS;
}
