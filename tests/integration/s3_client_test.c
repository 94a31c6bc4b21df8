/*
 * s3_client_test.c — the S3 client (mover/s3/client.c) against the real local radosgw.
 *
 * Needs the server's environment (`eval "$(scripts/s3-server.sh env)"`). The wrapper
 * test_s3_client.sh uploads a 64 MiB object with the AWS CLI first and passes its key
 * and SHA-256 in SLUICE_TEST_BIG_KEY / SLUICE_TEST_BIG_SHA256. Every test works under
 * its own key prefix and removes what it made.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uv.h>

#include "s3/client.h"
#include "util/alloc.h"
#include "util/buf.h"

static char prefix[64];
/* Completions uv_stop() the loop, so uv_run returns at once instead of sitting in its
 * poll phase until the next timer (an op can finish inside a timer callback). */
static uv_loop_t *g_loop;

struct call;
struct page_ctx {
    struct call *c;
    sl_buf *keys;
    unsigned *total;
};
static void on_list_exact(void *user, const s3_result *r, const s3_list_result *list);
static void on_page(void *user, const s3_result *r, const s3_list_result *list);

struct fixture {
    uv_loop_t loop;
    s3_client *client;
    s3_credentials creds;
};

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "%s is not set: start the local S3 server and load its environment:\n"
                        "  scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\"\n",
                name);
        exit(1);
    }
    return v;
}

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }
static const char *staging(void) { return env("SLUICE_BUCKET_STAGING"); }

static s3_client *client_as(struct fixture *f, const char *identity, uint64_t threshold, uint64_t part_size)
{
    char key_var[64], secret_var[64];
    snprintf(key_var, sizeof(key_var), "SLUICE_%s_ACCESS_KEY", identity);
    snprintf(secret_var, sizeof(secret_var), "SLUICE_%s_SECRET_KEY", identity);
    s3_credentials_clean_up(&f->creds);
    assert_true(sl_ok(s3_credentials_init(&f->creds, env(key_var), env(secret_var), NULL)));
    s3_client_config config = {
        .endpoint = env("SLUICE_S3_ENDPOINT"),
        .region = env("SLUICE_S3_REGION"),
        .addressing = S3_ADDRESSING_PATH,
        .credentials = &f->creds,
        .http = s3_http_options_default(),
        .retry = s3_retry_policy_default(),
        .multipart_threshold = threshold,
        .multipart_part_size = part_size,
    };
    s3_client *c = NULL;
    assert_true(sl_ok(s3_client_new(&f->loop, &config, &c)));
    return c;
}

static int setup(void **state)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    g_loop = &f->loop;
    f->client = client_as(f, "MOVER", 8 * 1024 * 1024, 5 * 1024 * 1024);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    s3_client_destroy(f->client);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    s3_credentials_clean_up(&f->creds);
    sl_free(f);
    return 0;
}

/* ---- synchronous wrappers: run the loop until the callback ran ---- */

struct call {
    bool done;
    s3_result result;
    char code_text[64];
    char detail[512];
    sl_buf etag;
    uint64_t size;
    bool has_size;
    sl_buf content_type;
    sl_buf metadata; /* "name=value;" */
    sl_buf body;
    EVP_MD_CTX *sha;
    uint64_t hashed;
    unsigned chunks, pauses;
    bool pause_next;
    s3_get_object *get;
    uv_loop_t *loop;
    /* list */
    unsigned keys;
    sl_buf last_key;
    sl_buf token;
    bool truncated;
    unsigned common_prefixes;
    /* tagging / versioning / delete objects */
    sl_buf tags;
    s3_versioning_status versioning;
    unsigned deleted, delete_errors;
};

static void call_clean_up(struct call *c)
{
    sl_buf *b[] = { &c->etag, &c->content_type, &c->metadata, &c->body, &c->last_key, &c->token, &c->tags };
    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) sl_buf_clean_up(b[i]);
    if (c->sha) EVP_MD_CTX_free(c->sha);
}

static void keep_result(struct call *c, const s3_result *r)
{
    assert_false(c->done);
    c->done = true;
    uv_stop(g_loop);
    c->result = *r;
    snprintf(c->code_text, sizeof(c->code_text), "%s", r->code_text);
    snprintf(c->detail, sizeof(c->detail), "%s", r->detail);
    c->result.code_text = c->code_text;
    c->result.detail = c->detail;
    c->result.message = "";
    c->result.request_id = "";
}

static void must(sl_result r)
{
    if (sl_failed(r)) fail_msg("%s", sl_error_detail());
}

static void on_object(void *user, const s3_result *r, const s3_object_info *info)
{
    struct call *c = user;
    keep_result(c, r);
    must(sl_buf_append_cursor(&c->etag, info->etag));
    must(sl_buf_append_cursor(&c->content_type, info->content_type));
    c->size = info->size;
    c->has_size = info->has_size;
    for (size_t i = 0; i < info->metadata_count; i++) {
        must(sl_buf_append_cursor(&c->metadata, info->metadata[2 * i]));
        must(sl_buf_append_cstr(&c->metadata, "="));
        must(sl_buf_append_cursor(&c->metadata, info->metadata[2 * i + 1]));
        must(sl_buf_append_cstr(&c->metadata, ";"));
    }
}

static void on_done(void *user, const s3_result *r) { keep_result(user, r); }

static void wait_for(struct fixture *f, struct call *c)
{
    while (!c->done) uv_run(&f->loop, UV_RUN_DEFAULT);
}

static struct call put(struct fixture *f, const char *bucket, const char *key, sl_cursor body, const s3_put_params *p)
{
    struct call c = { 0 };
    must(s3_put_object(f->client, cur(bucket), cur(key), body, p, on_object, &c));
    wait_for(f, &c);
    return c;
}

static struct call head(struct fixture *f, const char *bucket, const char *key)
{
    struct call c = { 0 };
    must(s3_head_object(f->client, cur(bucket), cur(key), (sl_cursor){ 0 }, on_object, &c));
    wait_for(f, &c);
    return c;
}

static void resume_later(uv_timer_t *t)
{
    struct call *c = t->data;
    s3_get_object_resume(c->get);
    uv_close((uv_handle_t *)t, (uv_close_cb)sl_free);
}

static s3_http_body_action on_chunk(void *user, const uint8_t *data, size_t len)
{
    struct call *c = user;
    if (c->pause_next) {
        c->pause_next = false;
        c->pauses++;
        uv_timer_t *t = sl_calloc(1, sizeof(*t));
        uv_timer_init(c->loop, t);
        t->data = c;
        uv_timer_start(t, resume_later, 1, 0);
        return S3_HTTP_BODY_PAUSE;
    }
    c->chunks++;
    if (c->sha) {
        assert_int_equal(EVP_DigestUpdate(c->sha, data, len), 1);
        c->hashed += len;
        if (c->chunks % 64 == 0) c->pause_next = true;
    } else {
        must(sl_buf_append(&c->body, data, len));
    }
    return S3_HTTP_BODY_CONSUMED;
}

static struct call get(struct fixture *f, const char *bucket, const char *key, const s3_get_params *p, bool hash)
{
    struct call c = { .loop = &f->loop };
    if (hash) {
        c.sha = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestInit_ex(c.sha, EVP_sha256(), NULL), 1);
    }
    must(s3_get_object_stream(f->client, cur(bucket), cur(key), p, NULL, on_chunk, on_object, &c, &c.get));
    wait_for(f, &c);
    return c;
}

static struct call del(struct fixture *f, const char *bucket, const char *key)
{
    struct call c = { 0 };
    must(s3_delete_object(f->client, cur(bucket), cur(key), (sl_cursor){ 0 }, on_done, &c));
    wait_for(f, &c);
    return c;
}

static void assert_ok(const struct call *c)
{
    if (c->result.error != SL_OK)
        fail_msg("expected success, got %s (HTTP %ld %s): %s", sl_error_name(c->result.error), c->result.status,
                 c->code_text, c->detail);
}

static void assert_s3_error(const struct call *c, s3_error_code code, long status)
{
    if (c->result.error != SL_ERR_S3 || c->result.code != code || c->result.status != status)
        fail_msg("expected %s / HTTP %ld, got %s (HTTP %ld %s): %s", s3_error_code_name(code), status,
                 sl_error_name(c->result.error), c->result.status, c->code_text, c->detail);
}

static char *key_of(const char *name)
{
    static char keys[8][1200];
    static int next;
    char *k = keys[next++ % 8];
    snprintf(k, 1200, "%s/%s", prefix, name);
    return k;
}

/* ---- tests ---- */

static void put_head_get_delete_round_trip(void **state)
{
    struct fixture *f = *state;
    const char *key = key_of("round-trip.csv");
    sl_cursor meta[] = { cur("origin"), cur("test suite"), cur("task"), cur("t-1") };
    s3_put_params p = { .content_type = cur("text/csv"), .metadata = meta, .metadata_count = 2 };
    uint64_t before = s3_client_request_count(f->client);

    struct call pc = put(f, staging(), key, cur("a,b\n1,2\n"), &p);
    assert_ok(&pc);
    assert_int_equal(pc.result.attempts, 1);
    assert_true(pc.etag.len > 2 && pc.etag.data[0] == '"');

    struct call hc = head(f, staging(), key);
    assert_ok(&hc);
    assert_true(hc.has_size);
    assert_int_equal(hc.size, 8);
    assert_string_equal(sl_buf_cstr(&hc.etag), sl_buf_cstr(&pc.etag));
    assert_string_equal(sl_buf_cstr(&hc.content_type), "text/csv");
    assert_non_null(strstr(sl_buf_cstr(&hc.metadata), "origin=test suite;"));
    assert_non_null(strstr(sl_buf_cstr(&hc.metadata), "task=t-1;"));

    struct call gc = get(f, staging(), key, NULL, false);
    assert_ok(&gc);
    assert_string_equal(sl_buf_cstr(&gc.body), "a,b\n1,2\n");

    s3_get_params range = { .has_range = true, .range_first = 2, .range_last = 4 };
    struct call rc = get(f, staging(), key, &range, false);
    assert_ok(&rc);
    assert_int_equal(rc.result.status, 206);
    assert_string_equal(sl_buf_cstr(&rc.body), "b\n1");

    struct call dc = del(f, staging(), key);
    assert_ok(&dc);
    struct call gone = head(f, staging(), key);
    assert_s3_error(&gone, S3_ERROR_NO_SUCH_KEY, 404);
    struct call gone_get = get(f, staging(), key, NULL, false);
    assert_s3_error(&gone_get, S3_ERROR_NO_SUCH_KEY, 404);
    assert_int_equal(gone_get.body.len, 0); /* the error body never reaches the chunk callback */

    assert_int_equal(s3_client_request_count(f->client) - before, 7);
    struct call *all[] = { &pc, &hc, &gc, &rc, &dc, &gone, &gone_get };
    for (size_t i = 0; i < 7; i++) call_clean_up(all[i]);
}

static void awkward_keys_round_trip(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {
        "with space/a+b%c&d=e?f#g", "ünïcödé/日本語.txt", "dots/../up/./here//double", "semi;colon,comma'quote\"",
        "tilde~star*paren(1)[2]{3}", "%2F%25already-encoded",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *key = key_of(names[i]);
        struct call pc = put(f, staging(), key, cur(names[i]), NULL);
        assert_ok(&pc);
        struct call gc = get(f, staging(), key, NULL, false);
        assert_ok(&gc);
        assert_string_equal(sl_buf_cstr(&gc.body), names[i]);

        /* the listing gives back the exact key bytes */
        struct call lc = { 0 };
        sl_cursor exact = cur(key);
        s3_list_params lp = { .prefix = exact };
        must(s3_list_objects_v2(f->client, cur(staging()), &lp, on_list_exact, &lc));
        wait_for(f, &lc);
        assert_ok(&lc);
        assert_int_equal(lc.keys, 1);
        assert_string_equal(sl_buf_cstr(&lc.last_key), key);

        struct call dc = del(f, staging(), key);
        assert_ok(&dc);
        call_clean_up(&pc);
        call_clean_up(&gc);
        call_clean_up(&lc);
        call_clean_up(&dc);
    }
}

static void on_list_exact(void *user, const s3_result *r, const s3_list_result *list)
{
    struct call *c = user;
    keep_result(c, r);
    if (list == NULL) return;
    c->keys += (unsigned)list->object_count;
    c->common_prefixes += (unsigned)list->common_prefix_count;
    if (list->object_count > 0) {
        sl_buf_reset(&c->last_key);
        must(sl_buf_append_cursor(&c->last_key, sl_cursor_from_buf(&list->objects[list->object_count - 1].key)));
    }
    c->truncated = list->is_truncated;
    sl_buf_reset(&c->token);
    must(sl_buf_append_cursor(&c->token, sl_cursor_from_buf(&list->next_continuation_token)));
}

struct bulk {
    unsigned pending, failed;
};

static void on_bulk(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    struct bulk *b = user;
    b->pending--;
    uv_stop(g_loop);
    if (r->error != SL_OK) {
        b->failed++;
        fprintf(stderr, "bulk PUT failed: %s\n", r->detail);
    }
}

static void on_delete_objects(void *user, const s3_result *r, const s3_delete_result *d)
{
    struct call *c = user;
    keep_result(c, r);
    if (d) {
        c->deleted += (unsigned)d->deleted_count;
        c->delete_errors += (unsigned)d->error_count;
    }
}

static void listing_of_2500_keys_pages_through_all(void **state)
{
    struct fixture *f = *state;
    enum { N = 2500 };
    struct bulk b = { 0 };
    char key[256];
    for (unsigned i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "%s/many/%s/%05u &amp; <x>.txt", prefix, i % 2 ? "odd" : "even", i);
        must(s3_put_object(f->client, cur(staging()), cur(key), cur("x"), NULL, on_bulk, &b));
        b.pending++;
    }
    while (b.pending > 0) uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(b.failed, 0);

    char list_prefix[128];
    snprintf(list_prefix, sizeof(list_prefix), "%s/many/", prefix);
    unsigned total = 0, pages = 0;
    sl_buf token = { 0 };
    s3_object_ref *refs = sl_calloc(N, sizeof(*refs));
    sl_buf *keys = sl_calloc(N, sizeof(*keys));
    do {
        struct call lc = { 0 };
        s3_list_params lp = { .prefix = cur(list_prefix), .continuation_token = sl_cursor_from_buf(&token) };
        struct page_ctx ctx = { &lc, keys, &total };
        must(s3_list_objects_v2(f->client, cur(staging()), &lp, on_page, &ctx));
        wait_for(f, &lc);
        assert_ok(&lc);
        pages++;
        sl_buf_reset(&token);
        must(sl_buf_append_cursor(&token, sl_cursor_from_buf(&lc.token)));
        assert_true(lc.truncated == (token.len > 0));
        call_clean_up(&lc);
    } while (token.len > 0);
    sl_buf_clean_up(&token);
    assert_int_equal(total, N);
    assert_int_equal(pages, 3);

    /* a delimiter folds the two folders into common prefixes */
    struct call dl = { 0 };
    s3_list_params delim = { .prefix = cur(list_prefix), .delimiter = cur("/") };
    must(s3_list_objects_v2(f->client, cur(staging()), &delim, on_list_exact, &dl));
    wait_for(f, &dl);
    assert_ok(&dl);
    assert_int_equal(dl.common_prefixes, 2);
    assert_int_equal(dl.keys, 0);
    call_clean_up(&dl);

    /* and DeleteObjects removes them 1000 at a time */
    for (unsigned i = 0; i < N; i++) refs[i].key = sl_cursor_from_buf(&keys[i]);
    unsigned deleted = 0;
    for (unsigned start = 0; start < N; start += 1000) {
        struct call dc = { 0 };
        unsigned count = N - start < 1000 ? N - start : 1000;
        must(s3_delete_objects(f->client, cur(staging()), refs + start, count, false, on_delete_objects, &dc));
        wait_for(f, &dc);
        assert_ok(&dc);
        assert_int_equal(dc.delete_errors, 0);
        deleted += dc.deleted;
        call_clean_up(&dc);
    }
    assert_int_equal(deleted, N);
    for (unsigned i = 0; i < N; i++) sl_buf_clean_up(&keys[i]);
    sl_free(keys);
    sl_free(refs);
}

static void on_page(void *user, const s3_result *r, const s3_list_result *list)
{
    struct page_ctx *ctx = user;
    on_list_exact(ctx->c, r, list);
    if (list == NULL) return;
    for (size_t i = 0; i < list->object_count; i++) {
        assert_true(*ctx->total < 2500);
        must(sl_buf_append_cursor(&ctx->keys[*ctx->total], sl_cursor_from_buf(&list->objects[i].key)));
        assert_non_null(strstr(sl_buf_cstr(&ctx->keys[*ctx->total]), " &amp; <x>.txt"));
        (*ctx->total)++;
    }
}

static void conditional_writes_and_copies_refuse_wrong_etags(void **state)
{
    struct fixture *f = *state;
    /* an unversioned bucket: radosgw 16 ignores If-None-Match / If-Match on PUT in a
     * versioned one (staging is versioned; docs/tasks.md) */
    const char *bucket = env("SLUICE_BUCKET_QUARANTINE");
    const char *src = key_of("cond/source.txt");
    const char *dst = key_of("cond/copy.txt");
    struct call pc = put(f, bucket, src, cur("original"), NULL);
    assert_ok(&pc);

    s3_put_params create_only = { .if_none_match_any = true };
    struct call again = put(f, bucket, src, cur("overwrite"), &create_only);
    assert_s3_error(&again, S3_ERROR_PRECONDITION_FAILED, 412);

    s3_copy_params wrong = { .source_if_match = cur("\"0123456789abcdef0123456789abcdef\"") };
    struct call cc = { 0 };
    must(s3_copy_object(f->client, cur(bucket), cur(src), cur(bucket), cur(dst), &wrong, on_object, &cc));
    wait_for(f, &cc);
    assert_s3_error(&cc, S3_ERROR_PRECONDITION_FAILED, 412);
    struct call none = head(f, bucket, dst);
    assert_s3_error(&none, S3_ERROR_NO_SUCH_KEY, 404);

    s3_copy_params right = { .source_if_match = sl_cursor_from_buf(&pc.etag), .replace_metadata = true,
                             .content_type = cur("text/plain"),
                             .metadata = (sl_cursor[]){ cur("sluice-sha256"), cur("abc") }, .metadata_count = 1 };
    struct call ok = { 0 };
    must(s3_copy_object(f->client, cur(bucket), cur(src), cur(bucket), cur(dst), &right, on_object, &ok));
    wait_for(f, &ok);
    assert_ok(&ok);
    assert_string_equal(sl_buf_cstr(&ok.etag), sl_buf_cstr(&pc.etag));
    struct call copied = head(f, bucket, dst);
    assert_ok(&copied);
    assert_non_null(strstr(sl_buf_cstr(&copied.metadata), "sluice-sha256=abc;"));

    /* If-Match on PUT with the (quoted) current ETag replaces; a stale one is refused */
    s3_put_params match = { .if_match = sl_cursor_from_buf(&pc.etag) };
    struct call replaced = put(f, bucket, src, cur("replaced"), &match);
    assert_ok(&replaced);
    struct call stale = put(f, bucket, src, cur("stale"), &match);
    assert_s3_error(&stale, S3_ERROR_PRECONDITION_FAILED, 412);

    struct call d1 = del(f, bucket, src), d2 = del(f, bucket, dst);
    assert_ok(&d1);
    assert_ok(&d2);
    struct call *all[] = { &pc, &again, &cc, &none, &ok, &copied, &replaced, &stale, &d1, &d2 };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) call_clean_up(all[i]);
}

static void sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void finish_sha(struct call *c, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(EVP_DigestFinal_ex(c->sha, md, &n), 1);
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void multipart_copy_of_40_mib_produces_the_same_bytes(void **state)
{
    struct fixture *f = *state;
    const char *src = key_of("mp/source.bin");
    const char *dst = key_of("mp/copy.bin");
    const char *dst_bad = key_of("mp/refused.bin");
    size_t size = 40 * 1024 * 1024 + 12345;
    uint8_t *data = sl_malloc(size);
    for (size_t i = 0; i < size; i++) data[i] = (uint8_t)((i * 2654435761u) >> 13);
    char expected[65];
    sha256_hex(data, size, expected);
    struct call pc = put(f, staging(), src, sl_cursor_from_bytes(data, size), NULL);
    sl_free(data);
    assert_ok(&pc);

    /* wrong source ETag: every UploadPartCopy refuses, the upload is aborted */
    s3_copy_params wrong = { .source_if_match = cur("\"0123456789abcdef0123456789abcdef\"") };
    struct call bad = { 0 };
    must(s3_copy_object_sized(f->client, cur(staging()), cur(src), size, cur(staging()), cur(dst_bad), &wrong,
                              on_object, &bad));
    wait_for(f, &bad);
    assert_s3_error(&bad, S3_ERROR_PRECONDITION_FAILED, 412);
    struct call none = head(f, staging(), dst_bad);
    assert_s3_error(&none, S3_ERROR_NO_SUCH_KEY, 404);

    s3_copy_params right = { .source_if_match = sl_cursor_from_buf(&pc.etag) };
    struct call mc = { 0 };
    must(s3_copy_object_sized(f->client, cur(staging()), cur(src), size, cur(staging()), cur(dst), &right,
                              on_object, &mc));
    wait_for(f, &mc);
    assert_ok(&mc);
    assert_true(mc.etag.len > 0);
    /* HEAD + Create + 9 parts + HEAD again + Complete + HEAD of the result */
    assert_int_equal(mc.result.attempts, 14);
    assert_non_null(strstr(sl_buf_cstr(&mc.etag), "-9"));

    struct call gc = get(f, staging(), dst, NULL, true);
    assert_ok(&gc);
    assert_int_equal(gc.hashed, size);
    char actual[65];
    finish_sha(&gc, actual);
    assert_string_equal(actual, expected);

    struct call d1 = del(f, staging(), src), d2 = del(f, staging(), dst);
    struct call *all[] = { &pc, &bad, &none, &mc, &gc, &d1, &d2 };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) call_clean_up(all[i]);
}

static void big_object_streams_with_pauses_in_constant_memory(void **state)
{
    struct fixture *f = *state;
    const char *key = env("SLUICE_TEST_BIG_KEY");
    const char *expected = env("SLUICE_TEST_BIG_SHA256");
    struct call gc = get(f, staging(), key, NULL, true);
    assert_ok(&gc);
    assert_int_equal(gc.hashed, 64 * 1024 * 1024);
    assert_true(gc.pauses > 10);
    char actual[65];
    finish_sha(&gc, actual);
    assert_string_equal(actual, expected);
    call_clean_up(&gc);
#if !defined(__SANITIZE_ADDRESS__) && !defined(SLUICE_UNDER_VALGRIND)
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* ru_maxrss is in KiB; the 40 MiB multipart test runs in its own process */
    if (ru.ru_maxrss >= 32 * 1024) fail_msg("peak RSS %ld KiB while streaming 64 MiB", ru.ru_maxrss);
    printf("peak RSS while streaming 64 MiB: %ld KiB\n", ru.ru_maxrss);
#endif
}

static void on_tagging(void *user, const s3_result *r, const s3_tagging *t)
{
    struct call *c = user;
    keep_result(c, r);
    for (size_t i = 0; t && i < t->tag_count; i++) {
        must(sl_buf_append_cursor(&c->tags, sl_cursor_from_buf(&t->tags[i].key)));
        must(sl_buf_append_cstr(&c->tags, "="));
        must(sl_buf_append_cursor(&c->tags, sl_cursor_from_buf(&t->tags[i].value)));
        must(sl_buf_append_cstr(&c->tags, ";"));
    }
}

static void on_versioning(void *user, const s3_result *r, const s3_versioning *v)
{
    struct call *c = user;
    keep_result(c, r);
    c->versioning = v ? v->status : (s3_versioning_status)-1;
}

static void tagging_and_versioning(void **state)
{
    struct fixture *f = *state;
    const char *key = key_of("tags/object.txt");
    s3_put_params p = { .tagging = cur("state=staged") };
    struct call pc = put(f, staging(), key, cur("tagged"), &p);
    assert_ok(&pc);
    struct call g1 = { 0 };
    must(s3_get_object_tagging(f->client, cur(staging()), cur(key), on_tagging, &g1));
    wait_for(f, &g1);
    assert_ok(&g1);
    assert_string_equal(sl_buf_cstr(&g1.tags), "state=staged;");

    s3_tag_ref tags[] = { { cur("sluice-state"), cur("quarantined") }, { cur("task"), cur("a b&c") } };
    struct call tc = { 0 };
    must(s3_put_object_tagging(f->client, cur(staging()), cur(key), tags, 2, on_done, &tc));
    wait_for(f, &tc);
    assert_ok(&tc);
    struct call g2 = { 0 };
    must(s3_get_object_tagging(f->client, cur(staging()), cur(key), on_tagging, &g2));
    wait_for(f, &g2);
    assert_ok(&g2);
    assert_non_null(strstr(sl_buf_cstr(&g2.tags), "sluice-state=quarantined;"));
    assert_non_null(strstr(sl_buf_cstr(&g2.tags), "task=a b&c;"));

    struct call vc = { 0 };
    must(s3_get_bucket_versioning(f->client, cur(staging()), on_versioning, &vc));
    wait_for(f, &vc);
    assert_ok(&vc);
    /* scripts/s3-server.sh turns versioning on for staging (the mover deletes by version) */
    assert_int_equal(vc.versioning, S3_VERSIONING_ENABLED);

    struct call dc = del(f, staging(), key);
    assert_ok(&dc);
    struct call *all[] = { &pc, &g1, &tc, &g2, &vc, &dc };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) call_clean_up(all[i]);
}

/* ---- ListObjectVersions, and reads and deletes of one version ---- */

struct versions_page {
    bool done;
    s3_result result;
    char keys[8][256];
    char ids[8][128];
    char etags[8][64];
    bool latest[8], marker[8];
    size_t count;
    bool truncated;
};

static void on_versions(void *user, const s3_result *r, const s3_list_versions_result *list)
{
    struct versions_page *pg = user;
    pg->done = true;
    uv_stop(g_loop);
    pg->result = *r;
    pg->result.detail = "";
    pg->result.code_text = "";
    pg->result.message = "";
    pg->result.request_id = "";
    if (list == NULL) return;
    pg->truncated = list->is_truncated;
    for (size_t i = 0; i < list->version_count && pg->count < 8; i++, pg->count++) {
        const s3_object_version *v = &list->versions[i];
        snprintf(pg->keys[pg->count], sizeof(pg->keys[0]), "%s", sl_buf_cstr(&v->key));
        snprintf(pg->ids[pg->count], sizeof(pg->ids[0]), "%s", sl_buf_cstr(&v->version_id));
        snprintf(pg->etags[pg->count], sizeof(pg->etags[0]), "%s", sl_buf_cstr(&v->etag));
        pg->latest[pg->count] = v->is_latest;
        pg->marker[pg->count] = v->delete_marker;
    }
}

static struct versions_page list_versions(struct fixture *f, const char *pfx, const char *key_marker,
                                          const char *version_marker, uint32_t max_keys)
{
    struct versions_page pg = { 0 };
    s3_list_versions_params p = { .prefix = cur(pfx), .key_marker = cur(key_marker ? key_marker : ""),
                                  .version_id_marker = cur(version_marker ? version_marker : ""),
                                  .max_keys = max_keys };
    must(s3_list_object_versions(f->client, cur(staging()), &p, on_versions, &pg));
    while (!pg.done) uv_run(&f->loop, UV_RUN_DEFAULT);
    if (pg.result.error != SL_OK) fail_msg("ListObjectVersions failed: %s", sl_error_name(pg.result.error));
    return pg;
}

static void versions_are_listed_read_and_deleted_one_by_one(void **state)
{
    struct fixture *f = *state;
    const char *key = key_of("versions/a b+c%.csv"); /* a key that needs %-decoding */
    char pfx[128];
    snprintf(pfx, sizeof(pfx), "%s/versions/", prefix);
    struct call p1 = put(f, staging(), key, cur("one"), NULL);
    struct call p2 = put(f, staging(), key, cur("two!"), NULL);
    assert_ok(&p1);
    assert_ok(&p2);

    struct versions_page all = list_versions(f, pfx, NULL, NULL, 0);
    assert_int_equal(all.count, 2);
    assert_false(all.truncated);
    assert_string_equal(all.keys[0], key);
    assert_true(all.latest[0] && !all.latest[1]); /* newest first */
    assert_string_equal(all.etags[0], sl_buf_cstr(&p2.etag));
    assert_string_equal(all.etags[1], sl_buf_cstr(&p1.etag));

    /* the older version is still readable by its id, with its own bytes */
    s3_get_params old = { .version_id = cur(all.ids[1]) };
    struct call g = get(f, staging(), key, &old, false);
    assert_ok(&g);
    assert_string_equal(sl_buf_cstr(&g.body), "one");
    struct call h = { 0 };
    must(s3_head_object_version(f->client, cur(staging()), cur(key), cur(all.ids[1]), (sl_cursor){ 0 }, on_object, &h));
    wait_for(f, &h);
    assert_ok(&h);
    assert_int_equal(h.size, 3);

    /* paging on from the last entry of a page */
    struct versions_page first = list_versions(f, pfx, NULL, NULL, 1);
    assert_int_equal(first.count, 1);
    assert_true(first.truncated);
    struct versions_page second = list_versions(f, pfx, first.keys[0], first.ids[0], 1);
    assert_int_equal(second.count, 1);
    assert_string_equal(second.ids[0], all.ids[1]);

    /* deleting one version leaves the other, and no delete marker */
    struct call d = { 0 };
    must(s3_delete_object(f->client, cur(staging()), cur(key), cur(all.ids[1]), on_done, &d));
    wait_for(f, &d);
    assert_ok(&d);
    struct versions_page left = list_versions(f, pfx, NULL, NULL, 0);
    assert_int_equal(left.count, 1);
    assert_string_equal(left.ids[0], all.ids[0]);
    assert_false(left.marker[0]);
    struct call gone = get(f, staging(), key, &old, false);
    assert_true(gone.result.error == SL_ERR_S3 && gone.result.status == 404);
    assert_false(gone.result.indefinite); /* a refusal: nothing can have happened */

    struct call d2 = { 0 };
    must(s3_delete_object(f->client, cur(staging()), cur(key), cur(all.ids[0]), on_done, &d2));
    wait_for(f, &d2);
    assert_ok(&d2);
    assert_int_equal(list_versions(f, pfx, NULL, NULL, 0).count, 0);
    struct call *calls[] = { &p1, &p2, &g, &h, &d, &gone, &d2 };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) call_clean_up(calls[i]);
}

static void access_denied_is_reported_as_such(void **state)
{
    struct fixture *f = *state;
    s3_client_destroy(f->client);
    f->client = client_as(f, "CONSUMER", 0, 0);
    struct call lc = { 0 };
    s3_list_params lp = { 0 };
    must(s3_list_objects_v2(f->client, cur(staging()), &lp, on_list_exact, &lc));
    wait_for(f, &lc);
    assert_s3_error(&lc, S3_ERROR_ACCESS_DENIED, 403);
    assert_int_equal(lc.result.attempts, 1); /* never retried */
    struct call pc = put(f, staging(), key_of("denied.txt"), cur("no"), NULL);
    assert_s3_error(&pc, S3_ERROR_ACCESS_DENIED, 403);
    call_clean_up(&lc);
    call_clean_up(&pc);
}

static void bad_arguments_are_refused_without_callback(void **state)
{
    struct fixture *f = *state;
    struct call c = { 0 };
    assert_true(sl_failed(s3_put_object(f->client, cur(""), cur("k"), cur("x"), NULL, on_object, &c)));
    assert_true(sl_failed(s3_put_object(f->client, cur(staging()), cur(""), cur("x"), NULL, on_object, &c)));
    assert_true(sl_failed(s3_head_object(f->client, cur(staging()), cur("bad\xff-utf8"), (sl_cursor){ 0 }, on_object, &c)));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    s3_get_params backwards = { .has_range = true, .range_first = 10, .range_last = 2 };
    assert_true(sl_failed(s3_get_object_stream(f->client, cur(staging()), cur("k"), &backwards, NULL, on_chunk,
                                               on_object, &c, NULL)));
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_false(c.done);

    s3_client_config bad = { .endpoint = "ftp://127.0.0.1/", .region = "us-east-1", .credentials = &f->creds,
                             .http = s3_http_options_default(), .retry = s3_retry_policy_default() };
    s3_client *nope = NULL;
    assert_true(sl_failed(s3_client_new(&f->loop, &bad, &nope)));
    bad.endpoint = "http://127.0.0.1:7480/some/path";
    assert_true(sl_failed(s3_client_new(&f->loop, &bad, &nope)));
    assert_null(nope);
}

int main(void)
{
    env("SLUICE_S3_ENDPOINT");
    snprintf(prefix, sizeof(prefix), "client-test/%ld-%d", (long)time(NULL), (int)getpid());
    const char *only = getenv("SLUICE_TEST_ONLY");
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(put_head_get_delete_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(awkward_keys_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(listing_of_2500_keys_pages_through_all, setup, teardown),
        cmocka_unit_test_setup_teardown(conditional_writes_and_copies_refuse_wrong_etags, setup, teardown),
        cmocka_unit_test_setup_teardown(tagging_and_versioning, setup, teardown),
        cmocka_unit_test_setup_teardown(versions_are_listed_read_and_deleted_one_by_one, setup, teardown),
        cmocka_unit_test_setup_teardown(access_denied_is_reported_as_such, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_are_refused_without_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(multipart_copy_of_40_mib_produces_the_same_bytes, setup, teardown),
    };
    const struct CMUnitTest big[] = {
        cmocka_unit_test_setup_teardown(big_object_streams_with_pauses_in_constant_memory, setup, teardown),
    };
    /* the 64 MiB stream runs in a process of its own, so its peak RSS is its own */
    if (only != NULL && strcmp(only, "big") == 0) return cmocka_run_group_tests_name("s3_client_big", big, NULL, NULL);
    return cmocka_run_group_tests_name("s3_client", all, NULL, NULL);
}
