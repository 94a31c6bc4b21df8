/*
 * s3_access.c — endpoint, region and credentials for the direct-S3 commands, and a
 * client on a private loop (s3_access.h).
 */
#include "s3_access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"

static const char *first_set(const char *a, const char *b, const char *c)
{
    if (a != NULL && a[0] != '\0') return a;
    if (b != NULL && b[0] != '\0') return b;
    if (c != NULL && c[0] != '\0') return c;
    return NULL;
}

static sl_result load_credentials(review_s3 *s, const review_s3_options *o)
{
    if (o->profile != NULL) {
        const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
        sl_buf path = { 0 };
        if (file == NULL || file[0] == '\0') {
            const char *home = getenv("HOME");
            ENSURE(home != NULL, SL_ERR_INVALID_ARGUMENT, "--profile: no $AWS_SHARED_CREDENTIALS_FILE and no $HOME");
            GUARD(sl_buf_appendf(&path, "%s/.aws/credentials", home));
            file = sl_buf_cstr(&path);
        }
        sl_result r = s3_credentials_from_file(&s->credentials, file, o->profile);
        sl_buf_clean_up(&path);
        return r;
    }
    if (o->config_credentials && s->config != NULL && s->config->s3.credentials.file != NULL)
        return s3_credentials_from_file(&s->credentials, s->config->s3.credentials.file,
                                        s->config->s3.credentials.profile);
    if (sl_ok(s3_credentials_from_env(&s->credentials))) return SL_SUCCESS;
    RAISE(SL_ERR_INVALID_ARGUMENT,
          "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give --profile NAME");
}

sl_result review_s3_open(review_s3 *s, const review_s3_options *o)
{
    ENSURE(s != NULL && o != NULL, SL_ERR_INVALID_ARGUMENT, "review_s3_open needs options");
    *s = (review_s3){ 0 };
    sl_result result = SL_FAILURE;
    if (o->config_path != NULL) {
        sl_config_errors errors = { 0 };
        sl_result loaded = sl_config_load(o->config_path, &s->config, &errors);
        sl_config_errors_clean_up(&errors);
        GUARD_CLEANUP(loaded);
    }
    const char *region = first_set(o->region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"));
    if (region == NULL) region = s->config ? s->config->s3.region : "us-east-1";
    const char *endpoint = first_set(o->endpoint, getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL"));
    s3_addressing addressing = S3_ADDRESSING_PATH;
    sl_buf aws = { 0 };
    if (endpoint == NULL && s->config != NULL) {
        endpoint = s->config->s3.endpoint;
        addressing = s->config->s3.virtual_hosted ? S3_ADDRESSING_VIRTUAL : S3_ADDRESSING_PATH;
    } else if (endpoint == NULL) {
        GUARD_CLEANUP(sl_buf_appendf(&aws, "https://s3.%s.amazonaws.com", region));
        endpoint = sl_buf_cstr(&aws);
        addressing = S3_ADDRESSING_VIRTUAL;
    }
    s->endpoint = sl_strdup(endpoint);
    sl_buf_clean_up(&aws);
    GUARD_CLEANUP(load_credentials(s, o));
    ENSURE_CLEANUP(uv_loop_init(&s->loop) == 0, SL_ERR_IO, "uv_loop_init failed");
    s->loop_ready = true;
    s3_client_config cc = {
        .endpoint = s->endpoint,
        .region = region,
        .addressing = addressing,
        .credentials = &s->credentials,
        .http = s3_http_options_default(),
        .retry = s3_retry_policy_default(),
    };
    if (s->config != NULL) {
        cc.http.verify_tls = s->config->s3.verify_tls;
        cc.http.ca_file = s->config->s3.ca_file;
    }
    GUARD_CLEANUP(s3_client_new(&s->loop, &cc, &s->client));
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result)) review_s3_close(s);
    return result;
}

void review_s3_wait(review_s3 *s, const bool *done)
{
    while (!*done) uv_run(&s->loop, UV_RUN_ONCE);
}

void review_s3_close(review_s3 *s)
{
    if (s == NULL) return;
    s3_client_destroy(s->client);
    s->client = NULL;
    if (s->loop_ready) {
        uv_run(&s->loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(&s->loop);
        s->loop_ready = false;
    }
    s3_credentials_clean_up(&s->credentials);
    sl_config_free(s->config);
    s->config = NULL;
    sl_free(s->endpoint);
    s->endpoint = NULL;
}

bool review_s3_parse_url(const char *url, char **bucket, char **key)
{
    if (url == NULL || strncmp(url, "s3://", 5) != 0) return false;
    const char *b = url + 5;
    const char *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    if (blen == 0) return false;
    *bucket = sl_strndup(b, blen);
    *key = sl_strdup(slash ? slash + 1 : "");
    return true;
}

/* ---- listing ---- */

struct list_wait {
    bool done;
    sl_result result;
    char **keys;
    size_t count;
    char *next;
};

static void listed(void *user, const s3_result *r, const s3_list_result *list)
{
    struct list_wait *w = user;
    w->done = true;
    if (r->error != SL_OK) {
        w->result = sl_error_raise(r->error, __FILE__, __LINE__, "%s", r->detail);
        return;
    }
    w->keys = sl_calloc(list->object_count + 1, sizeof(char *));
    for (size_t i = 0; i < list->object_count; i++) w->keys[i] = sl_strdup(sl_buf_cstr(&list->objects[i].key));
    w->count = list->object_count;
    w->next = sl_strdup(list->is_truncated ? sl_buf_cstr(&list->next_continuation_token) : "");
    w->result = SL_SUCCESS;
}

sl_result review_s3_list_page(review_s3 *s, const char *bucket, const char *prefix, const char *start_after,
                              const char *token, uint32_t max_keys, char ***keys, size_t *count, char **next)
{
    struct list_wait w = { .result = SL_FAILURE };
    s3_list_params params = {
        .prefix = sl_cursor_from_cstr(prefix ? prefix : ""),
        .start_after = sl_cursor_from_cstr(start_after ? start_after : ""),
        .continuation_token = sl_cursor_from_cstr(token ? token : ""),
        .max_keys = max_keys,
    };
    GUARD(s3_list_objects_v2(s->client, sl_cursor_from_cstr(bucket), &params, listed, &w));
    review_s3_wait(s, &w.done);
    GUARD(w.result);
    *keys = w.keys;
    *count = w.count;
    *next = w.next;
    return SL_SUCCESS;
}

void review_s3_free_keys(char **keys, size_t count)
{
    for (size_t i = 0; keys != NULL && i < count; i++) sl_free(keys[i]);
    sl_free(keys);
}

/* ---- reading ---- */

struct get_wait {
    bool done;
    sl_result result;
    review_s3_headers_fn *on_headers;
    review_s3_chunk_fn *on_chunk;
    void *user;
};

static void got_headers(void *user, const s3_object_info *info)
{
    struct get_wait *w = user;
    if (w->on_headers) w->on_headers(w->user, info);
}

static s3_http_body_action got_chunk(void *user, const uint8_t *data, size_t len)
{
    struct get_wait *w = user;
    if (w->on_chunk) w->on_chunk(w->user, data, len);
    return S3_HTTP_BODY_CONSUMED;
}

static void got(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    struct get_wait *w = user;
    w->done = true;
    w->result = r->error == SL_OK ? SL_SUCCESS : sl_error_raise(r->error, __FILE__, __LINE__, "%s", r->detail);
}

sl_result review_s3_get(review_s3 *s, const char *bucket, const char *key, review_s3_headers_fn *on_headers,
                        review_s3_chunk_fn *on_chunk, void *user)
{
    struct get_wait w = { .result = SL_FAILURE, .on_headers = on_headers, .on_chunk = on_chunk, .user = user };
    s3_get_params params = { 0 };
    s3_get_object *get = NULL;
    GUARD(s3_get_object_stream(s->client, sl_cursor_from_cstr(bucket), sl_cursor_from_cstr(key), &params, got_headers,
                               got_chunk, got, &w, &get));
    review_s3_wait(s, &w.done);
    return w.result;
}

/* ---- metadata ---- */

void review_s3_metadata_keep(review_s3_metadata *m, const s3_object_info *info)
{
    review_s3_metadata_clean_up(m);
    m->count = info->metadata_count;
    m->strings = sl_calloc(2 * m->count + 1, sizeof(char *));
    m->pairs = sl_calloc(2 * m->count + 1, sizeof(sl_cursor));
    for (size_t i = 0; i < 2 * m->count; i++) {
        m->strings[i] = sl_cursor_dup(info->metadata[i]);
        m->pairs[i] = sl_cursor_from_bytes(m->strings[i], info->metadata[i].len);
    }
    m->content_type = sl_cursor_dup(info->content_type);
}

void review_s3_metadata_clean_up(review_s3_metadata *m)
{
    for (size_t i = 0; m->strings != NULL && i < 2 * m->count; i++) sl_free(m->strings[i]);
    sl_free(m->strings);
    sl_free(m->pairs);
    sl_free(m->content_type);
    *m = (review_s3_metadata){ 0 };
}
