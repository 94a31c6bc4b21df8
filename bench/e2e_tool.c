/*
 * e2e_tool.c — sluice-bench-e2e, the helper of the end-to-end benchmark
 * (scripts/bench.sh, bench/bench_e2e.py). Two commands:
 *
 *   stage    PUTs N objects into a bucket with sluice's own S3 client, C in flight, all
 *            with the same body (read from a file) and Content-Type: the fast uploader
 *            that drops a burst of artifacts into staging (not timed by the benchmark,
 *            but it prints its own result line).
 *   replay   writes the request file of the wrk ceiling (bench/replay.lua): for each of
 *            N staged objects, the S3 requests sluice-mover makes on its all-pass `auto`
 *            path, presigned by sluice's own signer (mover/s3/sigv4.h) with every header
 *            the mover sends signed into the URL.
 *
 * Keys (both commands): KEY(i) = PREFIX + "t" + task(i) in 4 digits + "/f" + i in 6
 * digits + SUFFIX, task(i) = i / PER_TASK — the <staging_prefix><task>/<name> layout
 * the mover expects.
 *
 * The replayed sequence, per object (--steps 6: sluice on radosgw copying into quarantine
 * first, worker.check_in_place false; --steps 5: the same without the HEAD and with
 * `If-None-Match: *` on the copy to trusted, for a server that honours it):
 *   1 PUT  quarantine q/<route>/<task>/<id>/<name>  CopyObject from staging, with
 *          x-amz-copy-source-if-match and radosgw's x-amz-copy-if-match      → 200
 *   2 DELETE staging KEY(i)                                                   → 204
 *   3 GET  the quarantine copy                                                → 200
 *   4 (6 only) the trusted key, absent                                        → 404
 *     sluice HEADs it; wrk's response parser cannot read a HEAD answer that carries a
 *     Content-Length without a body (radosgw's 404 does), so it is replayed as a GET:
 *     radosgw does the same object lookup and answers 404 with a 240-byte error body.
 *   5 PUT  trusted <trusted_prefix><task>/<name>  CopyObject from quarantine with the
 *          if-match pair, x-amz-metadata-directive REPLACE, Content-Type and the five
 *          x-amz-meta-sluice-* headers of a promotion                          → 200
 *   6 DELETE the quarantine copy                                              → 204
 * The artifact id is derived as the mover derives it (state/artifact.h), so keys have
 * the mover's lengths.
 *
 * --steps 4 --batch G --threads T is not what sluice does today: the same sequence with
 * the two deletes batched (what a mover that collects its clean-up deletes into
 * DeleteObjects requests would send): per wrk thread (objects i ≡ t mod T, in order) and
 * per chunk of G of its objects, the G copies to quarantine, one DeleteObjects of their
 * staging keys, then per object the GET, the trusted-key check and the copy to trusted,
 * then one DeleteObjects of their quarantine keys — 4 + 2/G requests per object.
 *
 * Request file: one line per request, tab-separated:
 *   <object index> <expected HTTP status> <method> <path?query> <Header: value>...
 *   [body=<request body>]
 * Host is one of the headers (it is signed; wrk would send the host without the port).
 * The object index of a DeleteObjects line is that of the chunk's first object.
 *
 * Environment: SLUICE_S3_ENDPOINT, SLUICE_S3_REGION, SLUICE_MOVER_ACCESS_KEY,
 * SLUICE_MOVER_SECRET_KEY, SLUICE_BUCKET_STAGING/QUARANTINE/TRUSTED
 * (eval "$(scripts/s3-server.sh env)"). Exit codes: 0 fine, 1 failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <uv.h>

#include "s3/client.h"
#include "s3/sigv4.h"
#include "state/artifact.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define KEY_MAX 1100
#define MAX_REPORTED_ERRORS 5

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-bench-e2e stage --bucket B --prefix P --count N --body-file F\n"
            "                              [--per-task K] [--suffix S] [--content-type T]\n"
            "                              [--concurrency C]\n"
            "       sluice-bench-e2e replay --steps 6|5|4 --prefix P --count N --route R\n"
            "                              --trusted-prefix TP --etag E --sha256 HEX\n"
            "                              --content-type T --out FILE [--per-task K]\n"
            "                              [--suffix S] [--expires SECONDS]\n"
            "                              [--batch G --threads T]   (--steps 4)\n"
            "       sluice-bench-e2e presign --bucket B --key K [--expires SECONDS]\n"
            "\n"
            "stage: PUTs KEY(0..N-1) with the body of F, C (default 32) in flight, and prints\n"
            "  op=stage count=… seconds=… ops_per_s=… errors=….\n"
            "replay: writes wrk's request file for the mover's request sequence on the N\n"
            "  staged objects (ETag E, SHA-256 HEX, detected type T), presigned for SECONDS\n"
            "  (default 3600) by sluice's SigV4 signer.\n"
            "presign: prints a presigned GET URL of B/K.\n"
            "KEY(i) = P + \"t\" + (i / K) in 4 digits + \"/f\" + i in 6 digits + S (K default N).\n");
}

static const char *env_required(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "sluice-bench-e2e: %s is not set (eval \"$(scripts/s3-server.sh env)\")\n", name);
        exit(2);
    }
    return v;
}

static bool parse_u64_arg(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (text[0] < '0' || text[0] > '9') return false;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') return false;
    *out = (uint64_t)v;
    return true;
}

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }

typedef struct keys {
    const char *prefix;
    const char *suffix;
    uint64_t per_task;
} keys;

/* task and name of object i; key = prefix + task + "/" + name */
static void key_parts(const keys *k, uint64_t i, char task[32], char name[64])
{
    snprintf(task, 32, "t%04" PRIu64, i / k->per_task);
    snprintf(name, 64, "f%06" PRIu64 "%s", i, k->suffix);
}

static void key_of(const keys *k, uint64_t i, char out[KEY_MAX])
{
    char task[32], name[64];
    key_parts(k, i, task, name);
    snprintf(out, KEY_MAX, "%s%s/%s", k->prefix, task, name);
}

static sl_result read_file(const char *path, sl_buf *out)
{
    FILE *f = fopen(path, "rb");
    ENSURE(f != NULL, SL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    sl_result r = SL_SUCCESS;
    while (sl_ok(r) && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) r = sl_buf_append(out, chunk, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    GUARD(r);
    ENSURE(!bad, SL_ERR_IO, "cannot read %s", path);
    return SL_SUCCESS;
}

/* ---- stage ---- */

typedef struct stager {
    s3_client *client;
    keys k;
    const char *bucket;
    const char *content_type;
    sl_buf body;
    uint64_t count, next, completed, errors;
    unsigned in_flight, concurrency;
    bool start_failed;
} stager;

static void stage_fill(stager *s);

static void staged(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    stager *s = user;
    if (r->error != SL_OK) {
        s->errors++;
        if (s->errors <= MAX_REPORTED_ERRORS)
            fprintf(stderr, "sluice-bench-e2e: PUT failed: %s (HTTP %ld)\n", r->detail, r->status);
    }
    s->in_flight--;
    s->completed++;
    stage_fill(s);
}

static void stage_fill(stager *s)
{
    while (!s->start_failed && s->in_flight < s->concurrency && s->next < s->count) {
        char key[KEY_MAX];
        key_of(&s->k, s->next++, key);
        s3_put_params params = { .content_type = cur(s->content_type) };
        if (sl_failed(s3_put_object(s->client, cur(s->bucket), cur(key), sl_cursor_from_buf(&s->body), &params,
                                    staged, s))) {
            char text[640];
            fprintf(stderr, "sluice-bench-e2e: could not start PUT %s: %s\n", key, sl_error_describe(text, sizeof(text)));
            s->errors++;
            s->start_failed = true;
            return;
        }
        s->in_flight++;
    }
}

static int cmd_stage(const char *bucket, const keys *k, uint64_t count, const char *body_file,
                     const char *content_type, uint64_t concurrency)
{
    stager s = { .k = *k, .bucket = bucket, .content_type = content_type, .count = count,
                 .concurrency = (unsigned)concurrency };
    s3_credentials creds = { 0 };
    uv_loop_t loop;
    char text[640];
    int status = 1;
    if (uv_loop_init(&loop) != 0) return 1;
    if (sl_failed(read_file(body_file, &s.body))) {
        fprintf(stderr, "sluice-bench-e2e: %s\n", sl_error_describe(text, sizeof(text)));
        goto out;
    }
    if (sl_failed(s3_credentials_init(&creds, env_required("SLUICE_MOVER_ACCESS_KEY"),
                                      env_required("SLUICE_MOVER_SECRET_KEY"), NULL))) {
        fprintf(stderr, "sluice-bench-e2e: credentials: %s\n", sl_error_describe(text, sizeof(text)));
        goto out;
    }
    s3_client_config config = {
        .endpoint = env_required("SLUICE_S3_ENDPOINT"),
        .region = env_required("SLUICE_S3_REGION"),
        .addressing = S3_ADDRESSING_PATH,
        .credentials = &creds,
        .http = s3_http_options_default(),
        .retry = s3_retry_policy_default(),
    };
    config.http.max_in_flight = (unsigned)concurrency;
    if (sl_failed(s3_client_new(&loop, &config, &s.client))) {
        fprintf(stderr, "sluice-bench-e2e: client: %s\n", sl_error_describe(text, sizeof(text)));
        goto out;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    stage_fill(&s);
    while (s.in_flight > 0) uv_run(&loop, UV_RUN_ONCE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s.start_failed) s.errors += s.count - s.next;
    printf("op=stage count=%" PRIu64 " concurrency=%u bytes=%zu seconds=%.4f ops_per_s=%.1f errors=%" PRIu64 "\n",
           s.count, s.concurrency, s.body.len, seconds, seconds > 0 ? (double)s.completed / seconds : 0.0, s.errors);
    status = s.errors == 0 ? 0 : 1;
out:
    s3_client_destroy(s.client);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    sl_buf_clean_up(&s.body);
    s3_credentials_clean_up(&creds);
    return status;
}

/* ---- replay ---- */

typedef struct presigner {
    sigv4_signing signing;
    sl_cursor scheme, host;
    uint32_t expires;
    FILE *out;
} presigner;

/* Writes one request line: presigns METHOD /bucket/key with the given headers (Host
 * first, added here) and prints index, expected status, method, path?query, headers. */
static sl_result emit_full(presigner *p, uint64_t index, int expect, const char *method, const char *bucket,
                           const char *key, const sigv4_pair *query, size_t query_count, const sigv4_pair *extra,
                           size_t extra_count, const char *body)
{
    sigv4_pair headers[16];
    ENSURE(extra_count < 16, SL_ERR_INVALID_ARGUMENT, "too many headers");
    headers[0] = (sigv4_pair){ cur("Host"), p->host };
    for (size_t i = 0; i < extra_count; i++) headers[i + 1] = extra[i];
    sl_buf path = { 0 };
    sigv4_signed s = { 0 };
    sl_result r = key[0] ? sl_buf_appendf(&path, "/%s/%s", bucket, key) : sl_buf_appendf(&path, "/%s", bucket);
    if (sl_ok(r)) {
        sigv4_request req = { .method = cur(method),
                              .path = sl_cursor_from_buf(&path),
                              .uri_mode = SIGV4_URI_S3,
                              .query = query,
                              .query_count = query_count,
                              .headers = headers,
                              .header_count = extra_count + 1,
                              .payload_hash = cur(SIGV4_UNSIGNED_PAYLOAD),
                              .scheme = p->scheme };
        r = sigv4_presign(&p->signing, &req, p->expires, &s);
    }
    if (sl_ok(r)) {
        fprintf(p->out, "%" PRIu64 "\t%d\t%s\t%s?%s", index, expect, method, sl_buf_cstr(&s.path), sl_buf_cstr(&s.query));
        for (size_t i = 0; i < extra_count + 1; i++)
            fprintf(p->out, "\t%.*s: %.*s", (int)headers[i].name.len, (const char *)headers[i].name.ptr,
                    (int)headers[i].value.len, (const char *)headers[i].value.ptr);
        if (body != NULL) fprintf(p->out, "\tbody=%s", body);
        fputc('\n', p->out);
    }
    sigv4_signed_clean_up(&s);
    sl_buf_clean_up(&path);
    return r;
}

static sl_result emit(presigner *p, uint64_t index, int expect, const char *method, const char *bucket,
                      const char *key, const sigv4_pair *extra, size_t extra_count)
{
    return emit_full(p, index, expect, method, bucket, key, NULL, 0, extra, extra_count, NULL);
}

/* One DeleteObjects (quiet) of the given keys, with the Content-MD5 S3 requires. */
static sl_result emit_delete_objects(presigner *p, uint64_t index, const char *bucket, char *const *names,
                                     size_t count)
{
    sl_buf body = { 0 };
    sl_result r = sl_buf_append_cstr(&body, "<Delete><Quiet>true</Quiet>");
    for (size_t i = 0; sl_ok(r) && i < count; i++) r = sl_buf_appendf(&body, "<Object><Key>%s</Key></Object>", names[i]);
    if (sl_ok(r)) r = sl_buf_append_cstr(&body, "</Delete>");
    unsigned char md5[EVP_MAX_MD_SIZE];
    unsigned int md5_len = 0;
    char md5_b64[32];
    if (sl_ok(r) && EVP_Digest(body.data, body.len, md5, &md5_len, EVP_md5(), NULL) != 1) r = SL_FAILURE;
    if (sl_ok(r)) {
        EVP_EncodeBlock((unsigned char *)md5_b64, md5, (int)md5_len);
        const sigv4_pair query[] = { { cur("delete"), cur("") } };
        const sigv4_pair headers[] = { { cur("Content-MD5"), cur(md5_b64) },
                                       { cur("Content-Type"), cur("application/xml") } };
        r = emit_full(p, index, 200, "POST", bucket, "", query, 1, headers, 2, sl_buf_cstr(&body));
    }
    sl_buf_clean_up(&body);
    return r;
}

typedef struct replay_args {
    keys k;
    uint64_t count;
    unsigned steps;
    const char *route, *trusted_prefix, *etag, *sha256, *content_type, *out;
    uint64_t expires;
    uint64_t batch, threads; /* --steps 4 */
} replay_args;

/* Which requests of an object's sequence replay_one writes. */
enum { PHASE_QUARANTINE = 1, PHASE_DELETE_STAGING = 2, PHASE_CHECK_PROMOTE = 4, PHASE_DELETE_QUARANTINE = 8,
       PHASE_ALL = 15 };

/* The quarantine key of object i (for DeleteObjects of a chunk). */
static sl_result quarantine_key_of(const replay_args *a, uint64_t i, sl_buf *out)
{
    char task[32], name[64], key[KEY_MAX], id[SL_ARTIFACT_ID_LEN + 1];
    key_parts(&a->k, i, task, name);
    key_of(&a->k, i, key);
    GUARD(artifact_id_derive(cur(key), cur(a->etag), id));
    return quarantine_key_build(out, cur(a->route), cur(task), cur(id), cur(name));
}

static sl_result replay_one(presigner *p, const replay_args *a, uint64_t i, const char *staging, const char *quarantine,
                            const char *trusted, unsigned phases)
{
    char task[32], name[64], key[KEY_MAX], id[SL_ARTIFACT_ID_LEN + 1];
    key_parts(&a->k, i, task, name);
    key_of(&a->k, i, key);
    GUARD(artifact_id_derive(cur(key), cur(a->etag), id));
    sl_buf qkey = { 0 }, tkey = { 0 }, src1 = { 0 }, src2 = { 0 }, raw = { 0 };
    sl_result r = quarantine_key_build(&qkey, cur(a->route), cur(task), cur(id), cur(name));
    if (sl_ok(r)) r = sl_buf_appendf(&tkey, "%s%s/%s", a->trusted_prefix, task, name);
    /* x-amz-copy-source as the client builds it: "/bucket/key", path-encoded */
    if (sl_ok(r)) r = sl_buf_appendf(&raw, "/%s/%s", staging, key);
    if (sl_ok(r)) r = sigv4_uri_encode(&src1, sl_cursor_from_buf(&raw), SIGV4_ENCODE_PATH);
    if (sl_ok(r)) {
        sl_buf_reset(&raw);
        r = sl_buf_appendf(&raw, "/%s/%s", quarantine, sl_buf_cstr(&qkey));
    }
    if (sl_ok(r)) r = sigv4_uri_encode(&src2, sl_cursor_from_buf(&raw), SIGV4_ENCODE_PATH);
    if (sl_ok(r) && (phases & PHASE_QUARANTINE)) {
        const sigv4_pair copy1[] = {
            { cur("x-amz-copy-source"), sl_cursor_from_buf(&src1) },
            { cur("x-amz-copy-source-if-match"), cur(a->etag) },
            { cur("x-amz-copy-if-match"), cur(a->etag) },
        };
        r = emit(p, i, 200, "PUT", quarantine, sl_buf_cstr(&qkey), copy1, 3);
    }
    if (sl_ok(r) && (phases & PHASE_DELETE_STAGING)) r = emit(p, i, 204, "DELETE", staging, key, NULL, 0);
    if (sl_ok(r) && (phases & PHASE_CHECK_PROMOTE)) r = emit(p, i, 200, "GET", quarantine, sl_buf_cstr(&qkey), NULL, 0);
    if (sl_ok(r) && (phases & PHASE_CHECK_PROMOTE) && a->steps != 5)
        r = emit(p, i, 404, "GET", trusted, sl_buf_cstr(&tkey), NULL, 0);
    if (sl_ok(r) && (phases & PHASE_CHECK_PROMOTE)) {
        const sigv4_pair copy2[] = {
            { cur("x-amz-copy-source"), sl_cursor_from_buf(&src2) },
            { cur("x-amz-copy-source-if-match"), cur(a->etag) },
            { cur("x-amz-copy-if-match"), cur(a->etag) },
            { cur("x-amz-metadata-directive"), cur("REPLACE") },
            { cur("Content-Type"), cur(a->content_type) },
            { cur("x-amz-meta-sluice-sha256"), cur(a->sha256) },
            { cur("x-amz-meta-sluice-artifact"), cur(id) },
            { cur("x-amz-meta-sluice-task"), cur(task) },
            { cur("x-amz-meta-sluice-route"), cur(a->route) },
            { cur("x-amz-meta-sluice-decision"), cur("auto") },
            { cur("If-None-Match"), cur("*") },
        };
        r = emit(p, i, 200, "PUT", trusted, sl_buf_cstr(&tkey), copy2, a->steps == 5 ? 11 : 10);
    }
    if (sl_ok(r) && (phases & PHASE_DELETE_QUARANTINE)) r = emit(p, i, 204, "DELETE", quarantine, sl_buf_cstr(&qkey), NULL, 0);
    sl_buf_clean_up(&qkey);
    sl_buf_clean_up(&tkey);
    sl_buf_clean_up(&src1);
    sl_buf_clean_up(&src2);
    sl_buf_clean_up(&raw);
    return r;
}

/* --steps 4: one chunk of a thread's objects (first, first + T, ... count of them). */
static sl_result replay_chunk(presigner *p, const replay_args *a, uint64_t first, uint64_t count, const char *staging,
                              const char *quarantine, const char *trusted)
{
    char **names = sl_calloc(count, sizeof(*names));
    sl_result r = SL_SUCCESS;
    for (uint64_t j = 0; sl_ok(r) && j < count; j++)
        r = replay_one(p, a, first + j * a->threads, staging, quarantine, trusted, PHASE_QUARANTINE);
    for (uint64_t j = 0; sl_ok(r) && j < count; j++) {
        names[j] = sl_malloc(KEY_MAX);
        key_of(&a->k, first + j * a->threads, names[j]);
    }
    if (sl_ok(r)) r = emit_delete_objects(p, first, staging, names, count);
    for (uint64_t j = 0; sl_ok(r) && j < count; j++)
        r = replay_one(p, a, first + j * a->threads, staging, quarantine, trusted, PHASE_CHECK_PROMOTE);
    for (uint64_t j = 0; sl_ok(r) && j < count; j++) {
        sl_buf q = { 0 };
        r = quarantine_key_of(a, first + j * a->threads, &q);
        if (sl_ok(r)) snprintf(names[j], KEY_MAX, "%s", sl_buf_cstr(&q));
        sl_buf_clean_up(&q);
    }
    if (sl_ok(r)) r = emit_delete_objects(p, first, quarantine, names, count);
    for (uint64_t j = 0; j < count; j++) sl_free(names[j]);
    sl_free(names);
    return r;
}

static int cmd_replay(const replay_args *a)
{
    const char *endpoint = env_required("SLUICE_S3_ENDPOINT");
    const char *sep = strstr(endpoint, "://");
    if (sep == NULL || strchr(sep + 3, '/') != NULL) {
        fprintf(stderr, "sluice-bench-e2e: SLUICE_S3_ENDPOINT must look like http://host:port\n");
        return 2;
    }
    s3_credentials creds = { 0 };
    char text[640];
    if (sl_failed(s3_credentials_init(&creds, env_required("SLUICE_MOVER_ACCESS_KEY"),
                                      env_required("SLUICE_MOVER_SECRET_KEY"), NULL))) {
        fprintf(stderr, "sluice-bench-e2e: credentials: %s\n", sl_error_describe(text, sizeof(text)));
        return 1;
    }
    FILE *out = fopen(a->out, "w");
    if (out == NULL) {
        fprintf(stderr, "sluice-bench-e2e: cannot write %s: %s\n", a->out, strerror(errno));
        s3_credentials_clean_up(&creds);
        return 1;
    }
    sigv4_key_cache *cache = sigv4_key_cache_new();
    presigner p = {
        .signing = { .credentials = &creds, .region = cur(env_required("SLUICE_S3_REGION")), .service = cur("s3"),
                     .time = time(NULL), .key_cache = cache },
        .scheme = sl_cursor_from_bytes(endpoint, (size_t)(sep - endpoint)),
        .host = cur(sep + 3),
        .expires = (uint32_t)a->expires,
        .out = out,
    };
    const char *staging = env_required("SLUICE_BUCKET_STAGING");
    const char *quarantine = env_required("SLUICE_BUCKET_QUARANTINE");
    const char *trusted = env_required("SLUICE_BUCKET_TRUSTED");
    int status = 0;
    if (a->steps == 4) {
        /* thread t's objects are t, t + T, t + 2T, ...; chunks of `batch` of them */
        for (uint64_t t = 0; t < a->threads && status == 0; t++) {
            uint64_t mine = t < a->count ? (a->count - t + a->threads - 1) / a->threads : 0;
            for (uint64_t c = 0; c < mine && status == 0; c += a->batch) {
                uint64_t n = mine - c < a->batch ? mine - c : a->batch;
                if (sl_failed(replay_chunk(&p, a, t + c * a->threads, n, staging, quarantine, trusted))) {
                    fprintf(stderr, "sluice-bench-e2e: thread %" PRIu64 ": %s\n", t, sl_error_describe(text, sizeof(text)));
                    status = 1;
                }
            }
        }
    }
    for (uint64_t i = 0; a->steps != 4 && i < a->count; i++) {
        if (sl_failed(replay_one(&p, a, i, staging, quarantine, trusted, PHASE_ALL))) {
            fprintf(stderr, "sluice-bench-e2e: object %" PRIu64 ": %s\n", i, sl_error_describe(text, sizeof(text)));
            status = 1;
            break;
        }
    }
    if (fclose(out) != 0) status = 1;
    sigv4_key_cache_destroy(cache);
    s3_credentials_clean_up(&creds);
    return status;
}

static int cmd_presign(const char *bucket, const char *key, uint64_t expires)
{
    const char *endpoint = env_required("SLUICE_S3_ENDPOINT");
    const char *sep = strstr(endpoint, "://");
    if (sep == NULL || strchr(sep + 3, '/') != NULL) {
        fprintf(stderr, "sluice-bench-e2e: SLUICE_S3_ENDPOINT must look like http://host:port\n");
        return 2;
    }
    s3_credentials creds = { 0 };
    char text[640];
    if (sl_failed(s3_credentials_init(&creds, env_required("SLUICE_MOVER_ACCESS_KEY"),
                                      env_required("SLUICE_MOVER_SECRET_KEY"), NULL))) {
        fprintf(stderr, "sluice-bench-e2e: credentials: %s\n", sl_error_describe(text, sizeof(text)));
        return 1;
    }
    sl_buf path = { 0 };
    sigv4_signed s = { 0 };
    sigv4_pair host = { cur("Host"), cur(sep + 3) };
    sigv4_signing signing = { .credentials = &creds, .region = cur(env_required("SLUICE_S3_REGION")),
                              .service = cur("s3"), .time = time(NULL) };
    sl_result r = sl_buf_appendf(&path, "/%s/%s", bucket, key);
    if (sl_ok(r)) {
        sigv4_request req = { .method = cur("GET"), .path = sl_cursor_from_buf(&path), .uri_mode = SIGV4_URI_S3,
                              .headers = &host, .header_count = 1, .payload_hash = cur(SIGV4_UNSIGNED_PAYLOAD),
                              .scheme = sl_cursor_from_bytes(endpoint, (size_t)(sep - endpoint)) };
        r = sigv4_presign(&signing, &req, (uint32_t)expires, &s);
    }
    if (sl_ok(r)) printf("%s\n", sl_buf_cstr(&s.url));
    else fprintf(stderr, "sluice-bench-e2e: presigning: %s\n", sl_error_describe(text, sizeof(text)));
    sigv4_signed_clean_up(&s);
    sl_buf_clean_up(&path);
    s3_credentials_clean_up(&creds);
    return sl_ok(r) ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *command = argv[1];
    bool stage = strcmp(command, "stage") == 0, presign = strcmp(command, "presign") == 0;
    if (!stage && !presign && strcmp(command, "replay") != 0) {
        fprintf(stderr, "sluice-bench-e2e: unknown command %s\n", command);
        usage(stderr);
        return 2;
    }
    static const struct option options[] = {
        { "bucket", required_argument, NULL, 'b' },       { "prefix", required_argument, NULL, 'p' },
        { "count", required_argument, NULL, 'n' },        { "per-task", required_argument, NULL, 'K' },
        { "suffix", required_argument, NULL, 'S' },       { "body-file", required_argument, NULL, 'f' },
        { "content-type", required_argument, NULL, 'T' }, { "concurrency", required_argument, NULL, 'c' },
        { "steps", required_argument, NULL, 's' },        { "route", required_argument, NULL, 'r' },
        { "trusted-prefix", required_argument, NULL, 't' }, { "etag", required_argument, NULL, 'e' },
        { "sha256", required_argument, NULL, 'H' },       { "out", required_argument, NULL, 'o' },
        { "expires", required_argument, NULL, 'x' },      { "key", required_argument, NULL, 'k' },
        { "batch", required_argument, NULL, 'B' },        { "threads", required_argument, NULL, 'N' },
        { NULL, 0, NULL, 0 },
    };
    replay_args a = { .k = { .suffix = "" }, .expires = 3600 };
    const char *bucket = NULL, *body_file = NULL, *key = NULL;
    uint64_t per_task = 0, steps = 0, concurrency = 32;
    int opt;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "b:p:n:K:S:f:T:c:s:r:t:e:H:o:x:k:B:N:", options, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'b': bucket = optarg; break;
        case 'p': a.k.prefix = optarg; break;
        case 'n': ok = parse_u64_arg(optarg, &a.count) && a.count >= 1 && a.count <= 999999; break;
        case 'K': ok = parse_u64_arg(optarg, &per_task) && per_task >= 1; break;
        case 'S': a.k.suffix = optarg; ok = strlen(optarg) < 32; break;
        case 'f': body_file = optarg; break;
        case 'T': a.content_type = optarg; break;
        case 'c': ok = parse_u64_arg(optarg, &concurrency) && concurrency >= 1 && concurrency <= 10000; break;
        case 's': ok = parse_u64_arg(optarg, &steps) && steps >= 4 && steps <= 6; break;
        case 'B': ok = parse_u64_arg(optarg, &a.batch) && a.batch >= 1 && a.batch <= 1000; break;
        case 'N': ok = parse_u64_arg(optarg, &a.threads) && a.threads >= 1 && a.threads <= 10000; break;
        case 'r': a.route = optarg; break;
        case 't': a.trusted_prefix = optarg; break;
        case 'e': a.etag = optarg; break;
        case 'H': a.sha256 = optarg; break;
        case 'o': a.out = optarg; break;
        case 'k': key = optarg; break;
        case 'x': ok = parse_u64_arg(optarg, &a.expires) && a.expires >= 1 && a.expires <= SIGV4_MAX_EXPIRES; break;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            fprintf(stderr, "sluice-bench-e2e: bad value: %s\n", optarg);
            return 2;
        }
    }
    if (presign) {
        if (optind != argc || bucket == NULL || key == NULL) {
            fprintf(stderr, "sluice-bench-e2e: presign needs --bucket and --key\n");
            return 2;
        }
        return cmd_presign(bucket, key, a.expires);
    }
    if (optind != argc || a.k.prefix == NULL || a.count == 0) {
        fprintf(stderr, "sluice-bench-e2e: --prefix and --count are required\n");
        return 2;
    }
    a.k.per_task = per_task ? per_task : a.count;
    if (stage) {
        if (bucket == NULL || body_file == NULL) {
            fprintf(stderr, "sluice-bench-e2e: stage needs --bucket and --body-file\n");
            return 2;
        }
        return cmd_stage(bucket, &a.k, a.count, body_file, a.content_type ? a.content_type : "", concurrency);
    }
    if (steps == 0 || !a.route || !a.trusted_prefix || !a.etag || !a.sha256 || !a.content_type || !a.out) {
        fprintf(stderr, "sluice-bench-e2e: replay needs --steps, --route, --trusted-prefix, --etag, --sha256, "
                        "--content-type and --out\n");
        return 2;
    }
    if (steps == 4 && (a.batch == 0 || a.threads == 0)) {
        fprintf(stderr, "sluice-bench-e2e: --steps 4 needs --batch and --threads\n");
        return 2;
    }
    a.steps = (unsigned)steps;
    return cmd_replay(&a);
}
