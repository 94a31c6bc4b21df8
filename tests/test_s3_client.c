/*
 * test_s3_client.c — unit tests of the S3 client's requests as they go on the wire
 * (mover/s3/client.h) and of its per-operation counters.
 *
 * The peer is the tests' small HTTP/1.1 server (http_peer.h) on the test's own libuv loop (127.0.0.1, an
 * ephemeral port). It writes every request it receives into a transcript in a fixed
 * form — "METHOD target", then each header as "name: value" with the name lower-cased,
 * sorted by name, and the body's length and SHA-256 prefix — with the two values that
 * change with the clock masked (X-Amz-Date; the Authorization header is reduced to its
 * SignedHeaders). Each test says how the peer answers (a function of method and
 * target) and compares the transcript with the exact bytes expected: a change in how
 * any operation is built (a header, a query parameter, the encoding of a key) fails
 * here before it reaches a real server. The signature itself is checked by the
 * vector runner and by the integration tests against radosgw.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uv.h>

#include "http_peer.h"
#include "s3/client.h"
#include "s3/client_impl.h" /* the operation table */
#include "util/alloc.h"
#include "util/buf.h"

static void must(sl_result r)
{
    if (sl_failed(r)) fail_msg("%s", sl_error_detail());
}

/* ---- the peer ---- */

typedef struct peer_request {
    const char *method;
    const char *target;
    const uint8_t *body;
    size_t body_len;
} peer_request;

struct peer;
/* Appends the whole response (status line, headers, body) to `out`. */
typedef void respond_fn(struct peer *p, const peer_request *req, sl_buf *out);

struct peer {
    http_peer http;
    respond_fn *respond;
    void *data;
    sl_buf transcript;
};

/* Orders header lines by name (up to the colon), then by the whole line. */
static int compare_lines(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t nx = strcspn(x, ":"), ny = strcspn(y, ":");
    int c = strncmp(x, y, nx < ny ? nx : ny);
    if (c != 0) return c;
    if (nx != ny) return nx < ny ? -1 : 1;
    return strcmp(x, y);
}

/* Adds one request to the transcript in the fixed form described above. */
static void record(struct peer *p, const char *head, size_t head_len, const uint8_t *body, size_t body_len)
{
    char *copy = sl_malloc(head_len + 1);
    memcpy(copy, head, head_len);
    copy[head_len] = '\0';
    char *lines[128];
    size_t n = 0;
    char *save = NULL;
    char *request_line = strtok_r(copy, "\r\n", &save);
    for (char *l = strtok_r(NULL, "\r\n", &save); l != NULL && n < 128; l = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(l, ':');
        assert_non_null(colon);
        for (char *k = l; k < colon; k++)
            if (*k >= 'A' && *k <= 'Z') *k = (char)(*k + 32);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof(lines[0]), compare_lines);
    must(sl_buf_appendf(&p->transcript, "%s\n", request_line));
    for (size_t i = 0; i < n; i++) {
        char *colon = strchr(lines[i], ':');
        const char *value = colon + 1;
        while (*value == ' ') value++;
        char *value_end = lines[i] + strlen(lines[i]);
        while (value_end > value && value_end[-1] == ' ') *--value_end = '\0'; /* OWS is not part of it */
        *colon = '\0';
        const char *name = lines[i];
        if (strcmp(name, "x-amz-date") == 0) {
            must(sl_buf_appendf(&p->transcript, "%s: <date>\n", name));
        } else if (strcmp(name, "authorization") == 0) {
            const char *sh = strstr(value, "SignedHeaders=");
            assert_non_null(sh);
            assert_true(strncmp(value, "AWS4-HMAC-SHA256 Credential=AKID/", 33) == 0);
            const char *end = strchr(sh, ',');
            must(sl_buf_appendf(&p->transcript, "%s: %.*s\n", name, (int)(end ? end - sh : (ptrdiff_t)strlen(sh)),
                                sh));
        } else if (strcmp(name, "host") == 0) {
            must(sl_buf_appendf(&p->transcript, "%s: <host>\n", name));
        } else {
            must(sl_buf_appendf(&p->transcript, "%s: %s\n", name, value));
        }
    }
    if (body_len > 0) {
        uint8_t digest[32];
        unsigned int dl = 0;
        assert_int_equal(EVP_Digest(body, body_len, digest, &dl, EVP_sha256(), NULL), 1);
        must(sl_buf_appendf(&p->transcript, "body: %zu bytes, sha256 %02x%02x%02x%02x\n", body_len, digest[0],
                            digest[1], digest[2], digest[3]));
    }
    must(sl_buf_append_byte(&p->transcript, '\n'));
    sl_free(copy);
}

/* One request from the client: recorded in the transcript, answered by the test's
 * `respond` (an empty answer hangs up after the request arrived). */
static void handle(http_peer *hp, http_peer_conn *c, const http_peer_request *r)
{
    struct peer *p = hp->data;
    record(p, r->head, r->head_len, r->body, r->body_len);
    peer_request req = { .method = r->method, .target = r->target, .body = r->body, .body_len = r->body_len };
    sl_buf out = { 0 };
    p->respond(p, &req, &out);
    if (out.len == 0) {
        sl_buf_clean_up(&out);
        http_peer_hang_up(c);
        return;
    }
    http_peer_reply(c, &out, false);
}

static void peer_start(struct peer *p, uv_loop_t *loop)
{
    memset(p, 0, sizeof(*p));
    http_peer_start(&p->http, loop, handle, p);
}

/* ---- canned answers ---- */

static void answer(sl_buf *out, int status, const char *headers, const char *body)
{
    size_t len = body ? strlen(body) : 0;
    must(sl_buf_appendf(out, "HTTP/1.1 %d X\r\nx-amz-request-id: req-1\r\n%sContent-Length: %zu\r\n\r\n%s", status,
                        headers ? headers : "", len, body ? body : ""));
}

static const char copy_ok[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CopyObjectResult><LastModified>2024-05-01T12:30:00.000Z"
    "</LastModified><ETag>9b2cf535f27731c974343645a3985328</ETag></CopyObjectResult>";

static const char versions_ok[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListVersionsResult><EncodingType>url</EncodingType><Name>bkt</Name>"
    "<Prefix>in/</Prefix><KeyMarker>in/a</KeyMarker><VersionIdMarker>v/0</VersionIdMarker><MaxKeys>2</MaxKeys>"
    "<IsTruncated>true</IsTruncated><DeleteMarker><Key>in/a%20b</Key><VersionId>v2</VersionId><IsLatest>true"
    "</IsLatest><LastModified>2024-05-01T12:31:00.000Z</LastModified></DeleteMarker><Version><Key>in/a%20b</Key>"
    "<VersionId>v1</VersionId><IsLatest>false</IsLatest><LastModified>2024-05-01T12:30:00.000Z</LastModified>"
    "<ETag>&quot;e1&quot;</ETag><Size>3</Size></Version></ListVersionsResult>";

/* Answers every operation the way S3 does when all goes well. */
static void respond_ok(struct peer *p, const peer_request *r, sl_buf *out)
{
    (void)p;
    const char *t = r->target;
    if (strcmp(r->method, "GET") == 0 && strstr(t, "list-type=2")) {
        answer(out, 200, NULL,
               "<ListBucketResult><Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
               "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Contents><Key>a%20b</Key>"
               "<LastModified>2024-05-01T12:30:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>3</Size>"
               "<StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>");
    } else if (strcmp(r->method, "GET") == 0 && strstr(t, "versions=")) {
        answer(out, 200, NULL, versions_ok);
    } else if (strcmp(r->method, "GET") == 0 && strstr(t, "?tagging")) {
        answer(out, 200, NULL, "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>");
    } else if (strcmp(r->method, "GET") == 0 && strstr(t, "?versioning")) {
        answer(out, 200, NULL, "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>");
    } else if (strcmp(r->method, "GET") == 0) {
        answer(out, 200,
               "ETag: \"e1\"\r\nContent-Type: text/csv\r\nLast-Modified: Wed, 01 May 2024 12:30:00 GMT\r\n"
               "x-amz-version-id: v1\r\nx-amz-meta-sluice-task: t1\r\nX-Amz-Meta-Other: o\r\n",
               "a,b\n");
    } else if (strcmp(r->method, "HEAD") == 0) {
        must(sl_buf_appendf(out, "HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: %u\r\n"
                                 "Content-Type: text/csv\r\nx-amz-meta-a: 1\r\n\r\n",
                            p->data ? *(unsigned *)p->data : 4u));
    } else if (strcmp(r->method, "PUT") == 0 && strstr(t, "partNumber=")) {
        answer(out, 200, NULL, "<CopyPartResult><ETag>\"p\"</ETag></CopyPartResult>");
    } else if (strcmp(r->method, "PUT") == 0 && strstr(t, "?tagging")) {
        answer(out, 200, NULL, NULL);
    } else if (strcmp(r->method, "PUT") == 0 && strstr(t, "?") == NULL && r->body_len == 0) {
        answer(out, 200, NULL, copy_ok); /* a copy: no body */
    } else if (strcmp(r->method, "PUT") == 0) {
        answer(out, 200, "ETag: \"e2\"\r\nx-amz-version-id: v2\r\n", NULL);
    } else if (strcmp(r->method, "POST") == 0 && strstr(t, "?uploads")) {
        answer(out, 200, NULL, "<InitiateMultipartUploadResult><UploadId>up/1</UploadId>"
                               "</InitiateMultipartUploadResult>");
    } else if (strcmp(r->method, "POST") == 0 && strstr(t, "?delete")) {
        answer(out, 200, NULL, "<DeleteResult><Deleted><Key>x</Key></Deleted></DeleteResult>");
    } else if (strcmp(r->method, "POST") == 0 && strstr(t, "uploadId=")) {
        answer(out, 200, NULL, "<CompleteMultipartUploadResult><ETag></ETag></CompleteMultipartUploadResult>");
    } else if (strcmp(r->method, "DELETE") == 0) {
        must(sl_buf_append_cstr(out, "HTTP/1.1 204 No Content\r\n\r\n"));
    } else {
        answer(out, 400, NULL, "<Error><Code>InvalidRequest</Code></Error>");
    }
}

/* ---- fixture ---- */

struct fixture {
    uv_loop_t loop;
    struct peer peer;
    s3_client *client;
    s3_credentials creds;
};

static int setup_with(void **state, uint64_t threshold)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    peer_start(&f->peer, &f->loop);
    f->peer.respond = respond_ok;
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", f->peer.http.port);
    must(s3_credentials_init(&f->creds, "AKID", "SECRET", NULL));
    s3_client_config cfg = {
        .endpoint = endpoint,
        .region = "us-east-1",
        .credentials = &f->creds,
        .http = s3_http_options_default(),
        .retry = s3_retry_policy_default(),
        .multipart_threshold = threshold,
        .multipart_part_size = threshold ? 5 * 1024 * 1024 : 0,
        .parallel_parts = 1,
    };
    cfg.retry.max_attempts = 5;
    cfg.retry.base_ms = 1;
    cfg.retry.cap_ms = 2;
    must(s3_client_new(&f->loop, &cfg, &f->client));
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 0); }
static int setup_multipart(void **state) { return setup_with(state, 5 * 1024 * 1024); }

static int teardown(void **state)
{
    struct fixture *f = *state;
    s3_client_destroy(f->client);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    http_peer_close_all(&f->peer.http);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    s3_credentials_clean_up(&f->creds);
    sl_buf_clean_up(&f->peer.transcript);
    sl_free(f);
    return 0;
}

/* Compares the transcript so far with `expected` and clears it. */
static void expect_transcript(struct fixture *f, const char *expected)
{
    const char *got = sl_buf_cstr(&f->peer.transcript);
    if (strcmp(got, expected) != 0) {
        fprintf(stderr, "---- expected ----\n%s---- got ----\n%s----\n", expected, got);
        fail_msg("the requests on the wire differ");
    }
    sl_buf_reset(&f->peer.transcript);
}

/* ---- results ---- */

typedef struct result {
    int calls;
    sl_error error;
    long status;
    unsigned attempts;
    s3_op op;
    char code[64];
    char detail[512];
    char etag[64];
    char version[64];
    char content_type[64];
    uint64_t size;
    bool has_size;
    char meta[256];
    char extra[256]; /* op-specific: listing keys, tags, versioning status, GET body */
    bool indefinite;
} result;

static void keep(result *r, const s3_result *s)
{
    r->calls++;
    r->error = s->error;
    r->status = s->status;
    r->attempts = s->attempts;
    r->op = s->op;
    r->indefinite = s->indefinite;
    snprintf(r->code, sizeof(r->code), "%s", s->code_text);
    snprintf(r->detail, sizeof(r->detail), "%s", s->detail);
}

static void keep_info(result *r, const s3_object_info *info)
{
    snprintf(r->etag, sizeof(r->etag), "%.*s", (int)info->etag.len, (const char *)info->etag.ptr);
    snprintf(r->version, sizeof(r->version), "%.*s", (int)info->version_id.len, (const char *)info->version_id.ptr);
    snprintf(r->content_type, sizeof(r->content_type), "%.*s", (int)info->content_type.len,
             (const char *)info->content_type.ptr);
    r->size = info->size;
    r->has_size = info->has_size;
    r->meta[0] = '\0';
    for (size_t i = 0; i < info->metadata_count; i++) {
        size_t at = strlen(r->meta);
        snprintf(r->meta + at, sizeof(r->meta) - at, "%.*s=%.*s;", (int)info->metadata[2 * i].len,
                 (const char *)info->metadata[2 * i].ptr, (int)info->metadata[2 * i + 1].len,
                 (const char *)info->metadata[2 * i + 1].ptr);
    }
}

static void on_object(void *user, const s3_result *s, const s3_object_info *info)
{
    result *r = user;
    keep(r, s);
    keep_info(r, info);
}

static void on_done(void *user, const s3_result *s) { keep(user, s); }

static void on_list(void *user, const s3_result *s, const s3_list_result *list)
{
    result *r = user;
    keep(r, s);
    if (list == NULL) return;
    for (size_t i = 0; i < list->object_count; i++) {
        size_t at = strlen(r->extra);
        snprintf(r->extra + at, sizeof(r->extra) - at, "[%s]", sl_buf_cstr(&list->objects[i].key));
    }
}

static void on_tagging(void *user, const s3_result *s, const s3_tagging *tagging)
{
    result *r = user;
    keep(r, s);
    if (tagging && tagging->tag_count == 1)
        snprintf(r->extra, sizeof(r->extra), "%s=%s", sl_buf_cstr(&tagging->tags[0].key),
                 sl_buf_cstr(&tagging->tags[0].value));
}

static void on_versioning(void *user, const s3_result *s, const s3_versioning *v)
{
    result *r = user;
    keep(r, s);
    if (v) snprintf(r->extra, sizeof(r->extra), "status=%d", (int)v->status);
}

static void on_versions(void *user, const s3_result *s, const s3_list_versions_result *list)
{
    result *r = user;
    keep(r, s);
    if (list == NULL) return;
    for (size_t i = 0; i < list->version_count; i++) {
        const s3_object_version *v = &list->versions[i];
        size_t at = strlen(r->extra);
        snprintf(r->extra + at, sizeof(r->extra) - at, "[%s %s%s%s %s]", sl_buf_cstr(&v->key),
                 sl_buf_cstr(&v->version_id), v->is_latest ? " latest" : "", v->delete_marker ? " marker" : "",
                 sl_buf_cstr(&v->etag));
    }
    if (list->is_truncated) strncat(r->extra, " truncated", sizeof(r->extra) - strlen(r->extra) - 1);
}

static void on_deleted(void *user, const s3_result *s, const s3_delete_result *d)
{
    result *r = user;
    keep(r, s);
    if (d) snprintf(r->extra, sizeof(r->extra), "deleted=%zu errors=%zu", d->deleted_count, d->error_count);
}

static void on_get_headers(void *user, const s3_object_info *info) { keep_info(user, info); }

static s3_http_body_action on_chunk(void *user, const uint8_t *data, size_t len)
{
    result *r = user;
    size_t at = strlen(r->extra);
    snprintf(r->extra + at, sizeof(r->extra) - at, "%.*s", (int)len, (const char *)data);
    return S3_HTTP_BODY_CONSUMED;
}

static sl_cursor C(const char *s) { return sl_cursor_from_cstr(s); }

static void run(struct fixture *f) { uv_run(&f->loop, UV_RUN_DEFAULT); }

/* ---- the operations on the wire ---- */

static void list_sends_every_parameter_encoded(void **state)
{
    struct fixture *f = *state;
    result r = { 0 };
    s3_list_params p = { .prefix = C("in/a b+"), .delimiter = C("/"), .continuation_token = C("tok=/1"),
                         .start_after = C("in/\xc3\xa9"), .max_keys = 7 };
    must(s3_list_objects_v2(f->client, C("bkt"), &p, on_list, &r));
    run(f);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.error, SL_OK);
    assert_string_equal(r.extra, "[a b]");
    expect_transcript(f, "GET /bkt?continuation-token=tok%3D%2F1&delimiter=%2F&encoding-type=url&list-type=2"
                         "&max-keys=7&prefix=in%2Fa%20b%2B&start-after=in%2F%C3%A9 HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
}

static void head_and_get_send_conditions_and_report_headers(void **state)
{
    struct fixture *f = *state;
    result h = { 0 }, g = { 0 };
    must(s3_head_object(f->client, C("bkt"), C("dir/a b&c.txt"), C("\"e1\""), on_object, &h));
    run(f);
    expect_transcript(f, "HEAD /bkt/dir/a%20b%26c.txt HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "if-match: \"e1\"\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
    assert_int_equal(h.error, SL_OK);
    assert_string_equal(h.etag, "\"e1\"");
    assert_true(h.has_size);
    assert_int_equal(h.size, 4);
    assert_string_equal(h.meta, "a=1;");

    s3_get_params p = { .if_match = C("\"e1\""), .has_range = true, .range_first = 0, .range_last = 99 };
    must(s3_get_object_stream(f->client, C("bkt"), C("k"), &p, on_get_headers, on_chunk, on_object, &g, NULL));
    run(f);
    expect_transcript(f, "GET /bkt/k HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;if-match;range;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "if-match: \"e1\"\n"
                         "range: bytes=0-99\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.error, SL_OK);
    assert_string_equal(g.extra, "a,b\n");
    assert_string_equal(g.content_type, "text/csv");
    assert_string_equal(g.version, "v1");
    assert_string_equal(g.meta, "sluice-task=t1;Other=o;");
}

static void put_sends_body_conditions_tagging_and_metadata(void **state)
{
    struct fixture *f = *state;
    result r = { 0 };
    sl_cursor meta[] = { C("sluice-sha256"), C("abc"), C("Note"), C("  two  spaces ") };
    s3_put_params p = { .content_type = C("text/plain"), .if_match = C("\"e1\""), .metadata = meta,
                        .metadata_count = 2, .tagging = C("k1=v1&k2=v2") };
    must(s3_put_object(f->client, C("bkt"), C("k~1"), C("hello"), &p, on_object, &r));
    run(f);
    expect_transcript(f, "PUT /bkt/k~1 HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=content-type;host;if-match;x-amz-content-sha256;x-amz-date;"
                         "x-amz-meta-note;x-amz-meta-sluice-sha256;x-amz-tagging\n"
                         "content-length: 5\n"
                         "content-type: text/plain\n"
                         "host: <host>\n"
                         "if-match: e1\n"
                         "x-amz-content-sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n"
                         "x-amz-date: <date>\n"
                         "x-amz-meta-note: two  spaces\n"
                         "x-amz-meta-sluice-sha256: abc\n"
                         "x-amz-tagging: k1=v1&k2=v2\n"
                         "body: 5 bytes, sha256 2cf24dba\n\n");
    assert_int_equal(r.error, SL_OK);
    assert_string_equal(r.etag, "\"e2\"");
    assert_string_equal(r.version, "v2");

    result c = { 0 };
    s3_put_params create = { .if_none_match_any = true };
    must(s3_put_object(f->client, C("bkt"), C("new"), C(""), &create, on_object, &c));
    run(f);
    expect_transcript(f, "PUT /bkt/new HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;if-none-match;x-amz-content-sha256;x-amz-date\n"
                         "content-length: 0\n"
                         "host: <host>\n"
                         "if-none-match: *\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
}

static void copy_sends_source_conditions_and_replaced_metadata(void **state)
{
    struct fixture *f = *state;
    result r = { 0 };
    sl_cursor meta[] = { C("sluice-artifact"), C("a1") };
    s3_copy_params p = { .source_if_match = C("\"e1\""), .source_version_id = C("v/1+"), .replace_metadata = true,
                         .metadata = meta, .metadata_count = 1, .content_type = C("text/csv"),
                         .replace_tagging = true, .tagging = C("t=1"), .if_none_match_any = true };
    must(s3_copy_object(f->client, C("src"), C("in/a b.csv"), C("dst"), C("out/a b.csv"), &p, on_object, &r));
    run(f);
    expect_transcript(f, "PUT /dst/out/a%20b.csv HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=content-type;host;if-none-match;x-amz-content-sha256;"
                         "x-amz-copy-if-match;x-amz-copy-source;x-amz-copy-source-if-match;x-amz-date;"
                         "x-amz-meta-sluice-artifact;x-amz-metadata-directive;x-amz-tagging;"
                         "x-amz-tagging-directive\n"
                         "content-length: 0\n"
                         "content-type: text/csv\n"
                         "host: <host>\n"
                         "if-none-match: *\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-copy-if-match: \"e1\"\n"
                         "x-amz-copy-source: /src/in/a%20b.csv?versionId=v%2F1%2B\n"
                         "x-amz-copy-source-if-match: \"e1\"\n"
                         "x-amz-date: <date>\n"
                         "x-amz-meta-sluice-artifact: a1\n"
                         "x-amz-metadata-directive: REPLACE\n"
                         "x-amz-tagging: t=1\n"
                         "x-amz-tagging-directive: REPLACE\n\n");
    assert_int_equal(r.error, SL_OK);
    assert_string_equal(r.etag, "\"9b2cf535f27731c974343645a3985328\""); /* quoted, as headers carry it */
}

static void deletes_tagging_and_versioning(void **state)
{
    struct fixture *f = *state;
    result d = { 0 }, dm = { 0 }, pt = { 0 }, gt = { 0 }, gv = { 0 };
    must(s3_delete_object(f->client, C("bkt"), C("k"), C("v1"), on_done, &d));
    run(f);
    expect_transcript(f, "DELETE /bkt/k?versionId=v1 HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
    assert_int_equal(d.error, SL_OK);

    s3_object_ref objs[] = { { .key = C("a"), .version_id = C("") }, { .key = C("b&c"), .version_id = C("v2") } };
    must(s3_delete_objects(f->client, C("bkt"), objs, 2, true, on_deleted, &dm));
    run(f);
    expect_transcript(f, "POST /bkt?delete= HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;"
                         "x-amz-date\n"
                         "content-length: 212\n"
                         "content-md5: 7enKa2Ml4cvXIJA40pCbDA==\n"
                         "content-type: application/xml\n"
                         "host: <host>\n"
                         "x-amz-content-sha256: 0bfc6c2dec96c327ef4d2c2c46953384d563c0237995b2e8e5b545bb882f8638\n"
                         "x-amz-date: <date>\n"
                         "body: 212 bytes, sha256 0bfc6c2d\n\n");
    assert_string_equal(dm.extra, "deleted=1 errors=0");

    s3_tag_ref tags[] = { { .key = C("k"), .value = C("v") } };
    must(s3_put_object_tagging(f->client, C("bkt"), C("k"), tags, 1, on_done, &pt));
    must(s3_get_object_tagging(f->client, C("bkt"), C("k"), on_tagging, &gt));
    must(s3_get_bucket_versioning(f->client, C("bkt"), on_versioning, &gv));
    run(f);
    assert_int_equal(pt.error, SL_OK);
    assert_string_equal(gt.extra, "k=v");
    assert_string_equal(gv.extra, "status=1");
    const char *t = sl_buf_cstr(&f->peer.transcript);
    assert_non_null(strstr(t, "PUT /bkt/k?tagging= HTTP/1.1\n"));
    assert_non_null(strstr(t, "GET /bkt/k?tagging= HTTP/1.1\n"));
    assert_non_null(strstr(t, "GET /bkt?versioning= HTTP/1.1\n"));
    sl_buf_reset(&f->peer.transcript);
}

/* ---- failures, retries and the counters ---- */

static void respond_flaky(struct peer *p, const peer_request *r, sl_buf *out)
{
    unsigned *count = p->data;
    if (strcmp(r->method, "DELETE") == 0 && (*count)++ < 2) {
        answer(out, 503, NULL, "<Error><Code>SlowDown</Code><Message>busy</Message></Error>");
        return;
    }
    if (strcmp(r->method, "HEAD") == 0) {
        must(sl_buf_append_cstr(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
        return;
    }
    if (strcmp(r->method, "PUT") == 0) {
        answer(out, 200, NULL, "<Error><Code>InternalError</Code><Message>late</Message></Error>");
        return;
    }
    respond_ok(p, r, out);
}

static void retries_errors_and_counters_per_operation(void **state)
{
    struct fixture *f = *state;
    unsigned count = 0;
    f->peer.respond = respond_flaky;
    f->peer.data = &count;
    result d = { 0 }, h = { 0 }, c = { 0 };
    must(s3_delete_object(f->client, C("bkt"), C("k"), C(""), on_done, &d));
    must(s3_head_object(f->client, C("bkt"), C("gone"), C(""), on_object, &h));
    must(s3_copy_object(f->client, C("bkt"), C("k"), C("bkt"), C("k2"), NULL, on_object, &c));
    run(f);
    assert_int_equal(d.error, SL_OK);
    assert_int_equal(d.attempts, 3);
    assert_int_equal(h.error, SL_ERR_S3);
    assert_string_equal(h.code, "NoSuchKey");
    assert_int_equal(h.status, 404);
    assert_int_equal(c.error, SL_ERR_S3); /* 200 with an <Error> body, retried as a 500 would be */
    assert_string_equal(c.code, "InternalError");
    assert_int_equal(c.attempts, 5);
    assert_true(c.indefinite); /* a late error: the copy may have been made */
    assert_false(h.indefinite);
    assert_false(d.indefinite);
    assert_int_equal(s3_client_request_count(f->client), 3 + 1 + 5);

    s3_op_stats st;
    s3_client_op_stats(f->client, S3_OP_DELETE_OBJECT, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.outcomes[S3_OUTCOME_SERVER_ERROR], 2);
    assert_int_equal(st.outcomes[S3_OUTCOME_OK], 1);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.failed, 0);
    s3_client_op_stats(f->client, S3_OP_HEAD_OBJECT, &st);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.outcomes[S3_OUTCOME_CLIENT_ERROR], 1);
    assert_int_equal(st.failed, 1);
    s3_client_op_stats(f->client, S3_OP_COPY_OBJECT, &st);
    assert_int_equal(st.requests, 5);
    assert_int_equal(st.outcomes[S3_OUTCOME_SERVER_ERROR], 5);
    assert_int_equal(st.retries, 4);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.failed, 1);
    s3_client_op_stats(f->client, S3_OP_LIST_OBJECTS_V2, &st);
    assert_int_equal(st.requests, 0);
    s3_client_op_stats(f->client, S3_OP_COUNT, &st); /* outside the enum: zeros */
    assert_int_equal(st.requests, 0);
    sl_buf_reset(&f->peer.transcript);
}

/* A malformed answer is counted as such and not retried. */
static void respond_garbage(struct peer *p, const peer_request *r, sl_buf *out)
{
    (void)p;
    (void)r;
    answer(out, 200, NULL, "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>");
}

static void malformed_answers_are_counted_and_not_retried(void **state)
{
    struct fixture *f = *state;
    f->peer.respond = respond_garbage;
    result r = { 0 };
    s3_list_params p = { 0 };
    must(s3_list_objects_v2(f->client, C("bkt"), &p, on_list, &r));
    run(f);
    assert_int_equal(r.error, SL_ERR_PARSE);
    assert_int_equal(r.attempts, 1);
    assert_non_null(strstr(r.detail, "ListObjectsV2 s3://bkt/: malformed answer"));
    s3_op_stats st;
    s3_client_op_stats(f->client, S3_OP_LIST_OBJECTS_V2, &st);
    assert_int_equal(st.outcomes[S3_OUTCOME_MALFORMED], 1);
    assert_int_equal(st.failed, 1);
    sl_buf_reset(&f->peer.transcript);
}

/* Every operation has a distinct name that maps back to it; outcomes too. */
static void operations_and_outcomes_have_stable_names(void **state)
{
    (void)state;
    for (int i = 0; i < S3_OP_COUNT; i++) {
        const char *name = s3_op_name((s3_op)i);
        assert_string_not_equal(name, "?");
        s3_op back = S3_OP_COUNT;
        assert_true(s3_op_from_name(sl_cursor_from_cstr(name), &back));
        assert_int_equal(back, i);
    }
    assert_string_equal(s3_op_name(S3_OP_COPY_OBJECT), "CopyObject");
    /* one row of the operation table per operation, in order */
    for (int i = 0; i < S3_OP_COUNT; i++) {
        assert_int_equal(s3_op_table[i].kind, i);
        assert_non_null(s3_op_table[i].method);
    }
    assert_string_equal(s3_op_name(S3_OP_COUNT), "?");
    s3_op unused;
    assert_false(s3_op_from_name(sl_cursor_from_cstr("copyobject"), &unused));
    assert_string_equal(s3_outcome_name(S3_OUTCOME_CLIENT_ERROR), "client_error");
    assert_string_equal(s3_outcome_name(S3_OUTCOME_COUNT), "?");
}

/* ---- user metadata of an answer ---- */

static void respond_many_metadata(struct peer *p, const peer_request *r, sl_buf *out)
{
    unsigned n = *(unsigned *)p->data;
    (void)r;
    must(sl_buf_append_cstr(out, "HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: 4\r\n"));
    for (unsigned i = 0; i < n; i++) must(sl_buf_appendf(out, "x-amz-meta-k%u: v%u\r\n", i, i));
    must(sl_buf_append_cstr(out, "\r\n"));
}

static void on_object_count_metadata(void *user, const s3_result *s, const s3_object_info *info)
{
    result *r = user;
    keep(r, s);
    r->size = info->metadata_count;
    r->has_size = info->metadata_truncated;
    if (info->metadata_count > 0)
        snprintf(r->meta, sizeof(r->meta), "%.*s=%.*s", (int)info->metadata[2 * (info->metadata_count - 1)].len,
                 (const char *)info->metadata[2 * (info->metadata_count - 1)].ptr,
                 (int)info->metadata[2 * info->metadata_count - 1].len,
                 (const char *)info->metadata[2 * info->metadata_count - 1].ptr);
}

static void every_metadata_header_is_reported_up_to_the_bounds(void **state)
{
    struct fixture *f = *state;
    unsigned n = 100;
    f->peer.respond = respond_many_metadata;
    f->peer.data = &n;
    result r = { 0 };
    must(s3_head_object(f->client, C("bkt"), C("k"), C(""), on_object_count_metadata, &r));
    run(f);
    assert_int_equal(r.error, SL_OK);
    assert_int_equal(r.size, 100); /* more than the 32 a request may carry */
    assert_false(r.has_size);
    assert_string_equal(r.meta, "k99=v99");
    n = OP_MAX_META_PAIRS + 5;
    memset(&r, 0, sizeof(r));
    must(s3_head_object(f->client, C("bkt"), C("k"), C(""), on_object_count_metadata, &r));
    run(f);
    assert_int_equal(r.size, OP_MAX_META_PAIRS);
    assert_true(r.has_size); /* truncated, and said so */
    sl_buf_reset(&f->peer.transcript);
}

/* ---- versions: the listing, and reads and deletes of one version ---- */

static void versions_are_listed_read_and_deleted_by_id(void **state)
{
    struct fixture *f = *state;
    result l = { 0 }, h = { 0 }, g = { 0 }, d = { 0 }, bad = { 0 };
    s3_list_versions_params lp = { .prefix = C("in/"), .key_marker = C("in/a b"), .version_id_marker = C("v/0+"),
                                   .max_keys = 2 };
    must(s3_list_object_versions(f->client, C("bkt"), &lp, on_versions, &l));
    run(f);
    expect_transcript(f, "GET /bkt?encoding-type=url&key-marker=in%2Fa%20b&max-keys=2&prefix=in%2F"
                         "&version-id-marker=v%2F0%2B&versions= HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
    assert_int_equal(l.error, SL_OK);
    assert_int_equal(l.op, S3_OP_LIST_OBJECT_VERSIONS);
    assert_string_equal(l.extra, "[in/a b v2 latest marker ][in/a b v1 \"e1\"] truncated");

    /* a version-id-marker without a key-marker is refused before anything is sent */
    s3_list_versions_params no_key = { .version_id_marker = C("v1") };
    assert_true(sl_failed(s3_list_object_versions(f->client, C("bkt"), &no_key, on_versions, &bad)));
    assert_int_equal(bad.calls, 0);

    must(s3_head_object_version(f->client, C("bkt"), C("in/a b"), C("v1"), C("\"e1\""), on_object, &h));
    run(f);
    expect_transcript(f, "HEAD /bkt/in/a%20b?versionId=v1 HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "if-match: \"e1\"\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
    assert_int_equal(h.error, SL_OK);

    s3_get_params gp = { .version_id = C("v/1") };
    must(s3_get_object_stream(f->client, C("bkt"), C("in/a b"), &gp, on_get_headers, on_chunk, on_object, &g, NULL));
    run(f);
    expect_transcript(f, "GET /bkt/in/a%20b?versionId=v%2F1 HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
    assert_int_equal(g.error, SL_OK);
    assert_string_equal(g.extra, "a,b\n");

    must(s3_delete_object_if_match(f->client, C("bkt"), C("in/a b"), C("v1"), C("\"e1\""), on_done, &d));
    run(f);
    expect_transcript(f, "DELETE /bkt/in/a%20b?versionId=v1 HTTP/1.1\n"
                         "accept: */*\n"
                         "authorization: SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date\n"
                         "host: <host>\n"
                         "if-match: \"e1\"\n"
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                         "x-amz-date: <date>\n\n");
    assert_int_equal(d.error, SL_OK);
    assert_false(d.indefinite);
}

/* ---- indefinite outcomes: failed, but may have taken effect ---- */

/* Per key of the target: "/bkt/refused" 412, "/bkt/slow" 503 SlowDown, "/bkt/broken"
 * 500 then 404, "/bkt/hangup" the connection closed after the request arrived. */
static void respond_by_key(struct peer *p, const peer_request *r, sl_buf *out)
{
    unsigned *broken = p->data;
    const char *t = r->target;
    if (strncmp(t, "/bkt/refused", 12) == 0) {
        answer(out, 412, NULL, "<Error><Code>PreconditionFailed</Code></Error>");
    } else if (strncmp(t, "/bkt/slow", 9) == 0) {
        answer(out, 503, NULL, "<Error><Code>SlowDown</Code><Message>busy</Message></Error>");
    } else if (strncmp(t, "/bkt/broken", 11) == 0) {
        if ((*broken)++ == 0) answer(out, 500, NULL, "<Error><Code>InternalError</Code></Error>");
        else answer(out, 404, NULL, "<Error><Code>NoSuchVersion</Code></Error>");
    } else if (strncmp(t, "/bkt/hangup", 11) == 0) {
        /* no answer */
    } else {
        respond_ok(p, r, out);
    }
}

static void indefinite_says_what_may_have_happened(void **state)
{
    struct fixture *f = *state;
    unsigned broken = 0;
    f->peer.respond = respond_by_key;
    f->peer.data = &broken;
    f->client->retry.max_attempts = 3;
    result refused = { 0 }, slow = { 0 }, was_broken = { 0 }, hangup = { 0 }, ok = { 0 };
    must(s3_delete_object_if_match(f->client, C("bkt"), C("refused"), C("v1"), C("\"e0\""), on_done, &refused));
    must(s3_delete_object(f->client, C("bkt"), C("slow"), C("v1"), on_done, &slow));
    must(s3_delete_object(f->client, C("bkt"), C("broken"), C("v1"), on_done, &was_broken));
    must(s3_delete_object(f->client, C("bkt"), C("hangup"), C("v1"), on_done, &hangup));
    must(s3_delete_object(f->client, C("bkt"), C("fine"), C("v1"), on_done, &ok));
    run(f);
    /* a refusal: nothing happened */
    assert_int_equal(refused.status, 412);
    assert_int_equal(refused.attempts, 1);
    assert_false(refused.indefinite);
    /* throttled every time: S3 says a SlowDown was not processed */
    assert_int_equal(slow.status, 503);
    assert_int_equal(slow.attempts, 3);
    assert_false(slow.indefinite);
    /* the last answer is a refusal, but the first attempt's 500 may have deleted it */
    assert_int_equal(was_broken.status, 404);
    assert_int_equal(was_broken.attempts, 2);
    assert_true(was_broken.indefinite);
    /* the request arrived and no answer came back */
    assert_int_equal(hangup.error, SL_ERR_CONNECTION);
    assert_int_equal(hangup.attempts, 3);
    assert_true(hangup.indefinite);
    assert_int_equal(ok.error, SL_OK);
    assert_false(ok.indefinite);
    sl_buf_reset(&f->peer.transcript);
}

/* The retry budget is one of time: a SlowDown spell longer than the budget ends the
 * retries long before max_attempts. */
static void retries_stop_at_the_time_budget(void **state)
{
    struct fixture *f = *state;
    f->peer.respond = respond_by_key;
    unsigned broken = 0;
    f->peer.data = &broken;
    f->client->retry.max_attempts = 100;
    f->client->retry.budget_ms = 200;
    f->client->retry.base_ms = 20;
    f->client->retry.cap_ms = 20;
    result slow = { 0 };
    must(s3_delete_object(f->client, C("bkt"), C("slow"), C(""), on_done, &slow));
    run(f);
    assert_int_equal(slow.status, 503);
    assert_true(slow.attempts >= 2);
    assert_true(slow.attempts < 100); /* ~20 backoffs of 0..20 ms fit in 200 ms */
    assert_false(slow.indefinite);
    sl_buf_reset(&f->peer.transcript);
}

/* A deadline (a shard's lease) cuts the retries short of the budget: a request made
 * while it is set starts no retry at or after it, and an attempt that would go on the
 * wire after it is not sent (SL_ERR_DEADLINE) — which of the two ends it depends on the
 * machine's speed (under valgrind the first connection alone can take longer). */
static void retries_stop_at_the_deadline(void **state)
{
    struct fixture *f = *state;
    f->peer.respond = respond_by_key;
    unsigned broken = 0;
    f->peer.data = &broken;
    f->client->retry.max_attempts = 100000; /* without the deadline: 60 s of retries */
    f->client->retry.budget_ms = 60000;
    f->client->retry.base_ms = 10;
    f->client->retry.cap_ms = 10;
    result bound = { 0 };
    uint64_t start = uv_hrtime() / 1000000u;
    s3_client_set_deadline(f->client, start + 300);
    must(s3_delete_object(f->client, C("bkt"), C("slow"), C(""), on_done, &bound));
    s3_client_set_deadline(f->client, 0); /* requests made from now are not bound */
    run(f);
    uint64_t took = uv_hrtime() / 1000000u - start;
    assert_true((bound.error == SL_ERR_S3 && bound.status == 503) || bound.error == SL_ERR_DEADLINE);
    assert_true(bound.attempts >= 1);
    assert_false(bound.indefinite);
    assert_true(took < 10000); /* not the 60 s budget (a bound far from the 300 ms, for a loaded machine) */
    sl_buf_reset(&f->peer.transcript);
}

/* ---- multipart copy ---- */

static void multipart_copy_runs_its_steps_in_order(void **state)
{
    struct fixture *f = *state;
    unsigned size = 11 * 1024 * 1024; /* three parts of 5 MiB */
    f->peer.data = &size;
    result r = { 0 };
    s3_copy_params p = { .source_if_match = C("\"e1\"") };
    must(s3_copy_object_sized(f->client, C("src"), C("a b"), size, C("dst"), C("c"), &p, on_object, &r));
    run(f);
    assert_int_equal(r.calls, 1);
    if (r.error != SL_OK) fail_msg("%s", r.detail);
    assert_int_equal(r.attempts, 8);
    assert_int_equal(r.op, S3_OP_COPY_OBJECT);
    assert_string_equal(r.etag, "\"e1\"");
    s3_op_stats st;
    s3_client_op_stats(f->client, S3_OP_UPLOAD_PART_COPY, &st);
    assert_int_equal(st.requests, 3);
    s3_client_op_stats(f->client, S3_OP_HEAD_OBJECT, &st);
    assert_int_equal(st.requests, 3);
    s3_client_op_stats(f->client, S3_OP_COMPLETE_MULTIPART_UPLOAD, &st);
    assert_int_equal(st.outcomes[S3_OUTCOME_OK], 1);
    const char *t = sl_buf_cstr(&f->peer.transcript);
    const char *steps[] = {
        "HEAD /src/a%20b HTTP/1.1\n",
        "POST /dst/c?uploads= HTTP/1.1\n",
        "PUT /dst/c?partNumber=1&uploadId=up%2F1 HTTP/1.1\n",
        "PUT /dst/c?partNumber=2&uploadId=up%2F1 HTTP/1.1\n",
        "PUT /dst/c?partNumber=3&uploadId=up%2F1 HTTP/1.1\n",
        "HEAD /src/a%20b HTTP/1.1\n",
        "POST /dst/c?uploadId=up%2F1 HTTP/1.1\n",
        "HEAD /dst/c HTTP/1.1\n",
    };
    const char *at = t;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const char *found = strstr(at, steps[i]);
        if (found == NULL) {
            fprintf(stderr, "%s", t);
            fail_msg("step %zu (%s) missing or out of order", i, steps[i]);
        }
        at = found + strlen(steps[i]);
    }
    assert_non_null(strstr(t, "x-amz-copy-source-range: bytes=10485760-11534335\n"));
    assert_non_null(strstr(t, "content-type: text/csv\n"));
    assert_non_null(strstr(t, "x-amz-meta-a: 1\n"));
    sl_buf_reset(&f->peer.transcript);
}

/* How the peer answers CompleteMultipartUpload: 0 as S3 does, 500 or 400. */
static int complete_status;

static void respond_complete(struct peer *p, const peer_request *r, sl_buf *out)
{
    if (complete_status != 0 && strcmp(r->method, "POST") == 0 && strstr(r->target, "uploadId=") &&
        strstr(r->target, "partNumber=") == NULL) {
        answer(out, complete_status, NULL,
               complete_status == 500 ? "<Error><Code>InternalError</Code></Error>"
                                      : "<Error><Code>InvalidPart</Code></Error>");
        return;
    }
    respond_ok(p, r, out);
}

/* Only CompleteMultipartUpload writes the destination: a copy whose Complete may have
 * taken effect is indefinite, one refused before or at Complete is not. */
static void multipart_copy_is_indefinite_only_past_complete(void **state)
{
    struct fixture *f = *state;
    unsigned size = 11 * 1024 * 1024;
    f->peer.data = &size;
    f->peer.respond = respond_complete;
    f->client->retry.max_attempts = 2;
    int statuses[] = { 500, 400 };
    for (size_t i = 0; i < 2; i++) {
        complete_status = statuses[i];
        result r = { 0 };
        must(s3_copy_object_sized(f->client, C("src"), C("a"), size, C("dst"), C("c"), NULL, on_object, &r));
        run(f);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.error, SL_ERR_S3);
        assert_int_equal(r.op, S3_OP_COMPLETE_MULTIPART_UPLOAD);
        assert_int_equal(r.status, statuses[i]);
        assert_int_equal(r.indefinite, statuses[i] == 500);
        assert_non_null(strstr(sl_buf_cstr(&f->peer.transcript), "DELETE /dst/c?uploadId=up%2F1 HTTP/1.1\n"));
        sl_buf_reset(&f->peer.transcript);
    }
    complete_status = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(list_sends_every_parameter_encoded, setup, teardown),
        cmocka_unit_test_setup_teardown(head_and_get_send_conditions_and_report_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(put_sends_body_conditions_tagging_and_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_sends_source_conditions_and_replaced_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(deletes_tagging_and_versioning, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_errors_and_counters_per_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_answers_are_counted_and_not_retried, setup, teardown),
        cmocka_unit_test(operations_and_outcomes_have_stable_names),
        cmocka_unit_test_setup_teardown(versions_are_listed_read_and_deleted_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(indefinite_says_what_may_have_happened, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_stop_at_the_time_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_stop_at_the_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(every_metadata_header_is_reported_up_to_the_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(multipart_copy_runs_its_steps_in_order, setup_multipart, teardown),
        cmocka_unit_test_setup_teardown(multipart_copy_is_indefinite_only_past_complete, setup_multipart, teardown),
    };
    return cmocka_run_group_tests_name("s3_client", tests, NULL, NULL);
}
