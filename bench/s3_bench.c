/*
 * s3_bench.c — sluice-s3-bench: drives sluice's asynchronous S3 client (mover/s3/client.h)
 * on one libuv loop at a fixed concurrency and prints one machine-readable result line.
 *
 * How the parts fit: `main` parses the options, reads the mover identity and endpoint
 * from the environment (as `eval "$(scripts/s3-server.sh env)"` exports them) and
 * creates a client whose HTTP engine admits exactly `--concurrency` requests at once.
 * `fill` keeps that many operations outstanding: every completion callback counts the
 * outcome and starts the next operation, until `--count` have completed. Wall time
 * (CLOCK_MONOTONIC) and CPU time (getrusage(RUSAGE_SELF), user and system) are taken
 * around the timed part only — after the client exists, before it is destroyed — so
 * start-up costs are not charged to the operations. Then the client is destroyed and
 * the loop run until every handle is closed.
 *
 * Operations and their keys (KEY(i) = PREFIX + the index i in 8 zero-padded digits):
 *   put        PutObject KEY(i) with a --size byte body (the same bytes each time);
 *              with --key, one PUT of that key (--count 1), e.g. to stage a big object;
 *              then the line also has bytes=… mb_per_s=…, and with --sha256 the SHA-256
 *              of the body (computed before the timed part)
 *   get        GetObject KEY(i); the body is counted and discarded, and a length other
 *              than --size is an error
 *   copy       CopyObject KEY(i) -> DST_PREFIX + index (--dst-prefix, default PREFIX +
 *              "copy/")
 *   delete     DeleteObject KEY(i)
 *   get-large  GetObject of --key, discarded in the chunk callback (or hashed with
 *              --sha256): one stream at --concurrency 1, else byte ranges of
 *              --part-size with --concurrency of them in flight. A HEAD first (not
 *              timed) learns the size.
 *
 * The result line (key=value, space separated):
 *   op=put concurrency=32 count=5000 seconds=… ops_per_s=… cpu_user_s=… cpu_sys_s=…
 *   cpu_ms_per_op=… errors=0 requests=…
 * get-large adds bytes=… mb_per_s=… (MB = 10^6 bytes) and, with --sha256, sha256=….
 * `requests` counts every HTTP attempt (retries included); `machine_cpu_s` is the CPU
 * time all processors were busy during the timed part (/proc/stat), whoever used it. Failed operations are
 * counted (the first few are described on stderr); any failure gives exit code 1.
 * Usage errors give exit code 2.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
#include "util/error.h"

#define MAX_REPORTED_ERRORS 5
#define KEY_MAX 1100

typedef enum bench_op { BENCH_PUT, BENCH_GET, BENCH_COPY, BENCH_DELETE, BENCH_GET_LARGE } bench_op;

static const char *const bench_op_names[] = { "put", "get", "copy", "delete", "get-large" };

typedef struct bench {
    uv_loop_t *loop;
    s3_client *client;
    bench_op op;
    unsigned concurrency;
    uint64_t count;      /* operations to complete */
    uint64_t size;       /* PUT body / expected GET length / large object size */
    uint64_t part_size;  /* get-large with concurrency > 1 */
    const char *bucket;
    const char *prefix;
    const char *dst_prefix;
    const char *key;     /* get-large, single put */
    sl_buf body;         /* PUT body */

    uint64_t next;       /* index of the next operation to start */
    uint64_t completed;
    uint64_t errors;
    unsigned in_flight;
    bool start_failed;   /* an operation could not be started: stop starting more */
    uint64_t bytes;      /* body bytes received */

    EVP_MD_CTX *sha;     /* --sha256: get-large's bytes, or put --key's body */
    struct timespec t_end;
    struct rusage ru_end;
} bench;

/* One outstanding operation (GET needs its own byte counter). */
typedef struct slot {
    bench *b;
    uint64_t index;
    uint64_t bytes;
} slot;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-s3-bench --op put|get|copy|delete|get-large --concurrency C --count N\n"
            "                       --size BYTES --bucket B --prefix P [--key K] [--dst-prefix D]\n"
            "                       [--part-size BYTES] [--sha256]\n"
            "\n"
            "Runs N operations of sluice's S3 client with exactly C in flight and prints one\n"
            "line: op=… concurrency=… count=… seconds=… ops_per_s=… cpu_user_s=… cpu_sys_s=…\n"
            "cpu_ms_per_op=… errors=… requests=… (get-large adds bytes=… mb_per_s=…).\n"
            "Keys are P + the operation's index in 8 digits; copy writes D + index (default\n"
            "P + \"copy/\"). get-large reads K: one stream with C = 1, else ranges of\n"
            "--part-size (default 8 MiB) C at a time; --sha256 (C = 1 only) hashes the bytes\n"
            "(with put --key: prints the SHA-256 of the body sent).\n"
            "Environment: SLUICE_S3_ENDPOINT, SLUICE_S3_REGION, SLUICE_MOVER_ACCESS_KEY,\n"
            "SLUICE_MOVER_SECRET_KEY (eval \"$(scripts/s3-server.sh env)\"); --bucket defaults\n"
            "to SLUICE_BUCKET_STAGING. Exit codes: 0 all succeeded, 1 failures, 2 usage.\n");
}

static const char *env_required(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr,
                "sluice-s3-bench: %s is not set; start the local S3 server and load its environment:\n"
                "  scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\"\n",
                name);
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

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static double tv_seconds(const struct timeval *tv) { return (double)tv->tv_sec + (double)tv->tv_usec / 1e6; }

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }

/* CPU seconds all processors spent busy so far (user, nice, system, irq, softirq from
 * /proc/stat; idle, iowait and steal excluded), or -1 when unreadable. With the
 * process's own CPU and the server's, it tells how much else ran during a run. */
static double machine_busy_s(void)
{
    unsigned long long user, nice, sys, idle, iowait, irq, softirq;
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) return -1;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq, &softirq);
    fclose(f);
    if (n != 7) return -1;
    return (double)(user + nice + sys + irq + softirq) / (double)sysconf(_SC_CLK_TCK);
}

static void key_of(char *out, size_t size, const char *prefix, uint64_t index)
{
    snprintf(out, size, "%s%08" PRIu64, prefix, index);
}

static void note_error(bench *b, const char *what, const s3_result *r)
{
    b->errors++;
    if (b->errors <= MAX_REPORTED_ERRORS)
        fprintf(stderr, "sluice-s3-bench: %s failed: %s (HTTP %ld, %u attempt%s)\n", what,
                r->detail[0] ? r->detail : sl_error_message(r->error), r->status, r->attempts,
                r->attempts == 1 ? "" : "s");
    if (b->errors == MAX_REPORTED_ERRORS + 1) fprintf(stderr, "sluice-s3-bench: further errors not shown\n");
}

static void fill(bench *b);

/* Every operation ends here: count it, then keep the pipe full. */
static void finished(slot *s, const char *what, const s3_result *r)
{
    bench *b = s->b;
    if (r->error != SL_OK) {
        note_error(b, what, r);
    } else if (b->op == BENCH_GET && s->bytes != b->size) {
        b->errors++;
        if (b->errors <= MAX_REPORTED_ERRORS)
            fprintf(stderr, "sluice-s3-bench: %s: got %" PRIu64 " bytes, expected %" PRIu64 "\n", what,
                    s->bytes, b->size);
    }
    b->bytes += s->bytes;
    b->in_flight--;
    b->completed++;
    sl_free(s);
    if (b->completed == b->count || (b->start_failed && b->in_flight == 0)) {
        clock_gettime(CLOCK_MONOTONIC, &b->t_end);
        getrusage(RUSAGE_SELF, &b->ru_end);
        return;
    }
    fill(b);
}

static void on_object(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    slot *s = user;
    finished(s, bench_op_names[s->b->op], r);
}

static void on_done(void *user, const s3_result *r)
{
    slot *s = user;
    finished(s, bench_op_names[s->b->op], r);
}

static s3_http_body_action on_chunk(void *user, const uint8_t *data, size_t len)
{
    slot *s = user;
    s->bytes += len;
    if (s->b->sha != NULL && EVP_DigestUpdate(s->b->sha, data, len) != 1) return S3_HTTP_BODY_ABORT;
    return S3_HTTP_BODY_CONSUMED;
}

static sl_result start_one(bench *b, uint64_t index)
{
    char key[KEY_MAX], dst[KEY_MAX];
    slot *s = sl_calloc(1, sizeof(*s));
    s->b = b;
    s->index = index;
    if (b->key != NULL) snprintf(key, sizeof(key), "%s", b->key);
    else key_of(key, sizeof(key), b->prefix, index);
    sl_cursor bucket = cur(b->bucket);
    sl_result r = SL_FAILURE;
    switch (b->op) {
    case BENCH_PUT:
        r = s3_put_object(b->client, bucket, cur(key), sl_cursor_from_buf(&b->body), NULL, on_object, s);
        break;
    case BENCH_GET:
        r = s3_get_object_stream(b->client, bucket, cur(key), NULL, NULL, on_chunk, on_object, s, NULL);
        break;
    case BENCH_COPY: {
        s3_copy_params params = { 0 };
        key_of(dst, sizeof(dst), b->dst_prefix, index);
        r = s3_copy_object(b->client, bucket, cur(key), bucket, cur(dst), &params, on_object, s);
        break;
    }
    case BENCH_DELETE:
        r = s3_delete_object(b->client, bucket, cur(key), (sl_cursor){ 0 }, on_done, s);
        break;
    case BENCH_GET_LARGE: {
        s3_get_params params = { 0 };
        if (b->count > 1) {
            params.has_range = true;
            params.range_first = index * b->part_size;
            params.range_last = params.range_first + b->part_size - 1;
            if (params.range_last >= b->size) params.range_last = b->size - 1;
        }
        r = s3_get_object_stream(b->client, bucket, cur(key), &params, NULL, on_chunk, on_object, s, NULL);
        break;
    }
    }
    if (sl_failed(r)) {
        sl_free(s);
        return r;
    }
    b->in_flight++;
    return SL_SUCCESS;
}

static void fill(bench *b)
{
    while (!b->start_failed && b->in_flight < b->concurrency && b->next < b->count) {
        uint64_t index = b->next++;
        if (sl_failed(start_one(b, index))) {
            char text[640];
            fprintf(stderr, "sluice-s3-bench: could not start %s #%" PRIu64 ": %s\n", bench_op_names[b->op],
                    index, sl_error_describe(text, sizeof(text)));
            b->errors++;
            b->start_failed = true;
        }
    }
}

/* ---- get-large: the object's size, from a HEAD before the timed part ---- */

typedef struct head_call {
    bool done;
    sl_error error;
    uint64_t size;
    bool has_size;
    char detail[512];
} head_call;

static void on_head(void *user, const s3_result *r, const s3_object_info *info)
{
    head_call *h = user;
    h->done = true;
    h->error = r->error;
    h->size = info->size;
    h->has_size = info->has_size;
    snprintf(h->detail, sizeof(h->detail), "%s", r->detail);
}

static bool head_size(bench *b, uint64_t *size)
{
    head_call h = { 0 };
    if (sl_failed(s3_head_object(b->client, cur(b->bucket), cur(b->key), (sl_cursor){ 0 }, on_head, &h))) {
        char text[640];
        fprintf(stderr, "sluice-s3-bench: HEAD %s: %s\n", b->key, sl_error_describe(text, sizeof(text)));
        return false;
    }
    while (!h.done) uv_run(b->loop, UV_RUN_ONCE);
    if (h.error != SL_OK || !h.has_size || h.size == 0) {
        fprintf(stderr, "sluice-s3-bench: HEAD s3://%s/%s: %s\n", b->bucket, b->key,
                h.error != SL_OK ? h.detail : "no usable Content-Length");
        return false;
    }
    *size = h.size;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "op", required_argument, NULL, 'o' },        { "concurrency", required_argument, NULL, 'c' },
        { "count", required_argument, NULL, 'n' },     { "size", required_argument, NULL, 's' },
        { "bucket", required_argument, NULL, 'b' },    { "prefix", required_argument, NULL, 'p' },
        { "key", required_argument, NULL, 'k' },       { "dst-prefix", required_argument, NULL, 'd' },
        { "part-size", required_argument, NULL, 'P' }, { "sha256", no_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },            { NULL, 0, NULL, 0 },
    };
    bench b = { 0 };
    const char *op_name = NULL;
    uint64_t concurrency = 1, count = 0, size = 1024, part_size = 8 * 1024 * 1024;
    bool sha = false;
    char *dst_default = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "o:c:n:s:b:p:k:d:P:Hh", options, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'o': op_name = optarg; break;
        case 'c': ok = parse_u64_arg(optarg, &concurrency) && concurrency >= 1 && concurrency <= 10000; break;
        case 'n': ok = parse_u64_arg(optarg, &count) && count >= 1; break;
        case 's': ok = parse_u64_arg(optarg, &size) && size <= ((uint64_t)5 << 30); break;
        case 'b': b.bucket = optarg; break;
        case 'p': b.prefix = optarg; break;
        case 'k': b.key = optarg; break;
        case 'd': b.dst_prefix = optarg; break;
        case 'P': ok = parse_u64_arg(optarg, &part_size) && part_size >= 1; break;
        case 'H': sha = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            const char *name = "?";
            for (size_t i = 0; options[i].name != NULL; i++)
                if (options[i].val == opt) name = options[i].name;
            fprintf(stderr, "sluice-s3-bench: bad value for --%s: %s\n", name, optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || op_name == NULL) {
        usage(stderr);
        return 2;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof(bench_op_names) / sizeof(bench_op_names[0]); i++)
        if (strcmp(op_name, bench_op_names[i]) == 0) {
            b.op = (bench_op)i;
            known = true;
        }
    if (!known) {
        fprintf(stderr, "sluice-s3-bench: unknown --op %s\n", op_name);
        return 2;
    }
    if (b.bucket == NULL) b.bucket = env_required("SLUICE_BUCKET_STAGING");
    if (b.op == BENCH_GET_LARGE) {
        if (b.key == NULL) {
            fprintf(stderr, "sluice-s3-bench: --op get-large needs --key\n");
            return 2;
        }
        if (sha && concurrency != 1) {
            fprintf(stderr, "sluice-s3-bench: --sha256 needs --concurrency 1 (one ordered stream)\n");
            return 2;
        }
    } else {
        if (sha && !(b.op == BENCH_PUT && b.key != NULL)) {
            fprintf(stderr, "sluice-s3-bench: --sha256 is for --op get-large and put --key\n");
            return 2;
        }
        if (count == 0) {
            fprintf(stderr, "sluice-s3-bench: --count is required\n");
            return 2;
        }
        if (b.key != NULL && !(b.op == BENCH_PUT && count == 1)) {
            fprintf(stderr, "sluice-s3-bench: --key is for get-large and for put with --count 1\n");
            return 2;
        }
        if (b.key == NULL && b.prefix == NULL) {
            fprintf(stderr, "sluice-s3-bench: --prefix is required\n");
            return 2;
        }
    }
    if (b.op == BENCH_COPY && b.dst_prefix == NULL) {
        size_t n = strlen(b.prefix) + sizeof("copy/");
        dst_default = sl_malloc(n);
        snprintf(dst_default, n, "%scopy/", b.prefix);
        b.dst_prefix = dst_default;
    }

    const char *endpoint = env_required("SLUICE_S3_ENDPOINT");
    const char *region = env_required("SLUICE_S3_REGION");
    const char *access_key = env_required("SLUICE_MOVER_ACCESS_KEY");
    const char *secret_key = env_required("SLUICE_MOVER_SECRET_KEY");

    int exit_code = 1;
    uv_loop_t loop;
    s3_credentials creds = { 0 };
    char text[640];
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "sluice-s3-bench: uv_loop_init failed\n");
        sl_free(dst_default);
        return 1;
    }
    b.loop = &loop;
    b.concurrency = (unsigned)concurrency;
    b.count = count;
    b.size = size;
    b.part_size = part_size;
    if (sl_failed(s3_credentials_init(&creds, access_key, secret_key, NULL))) {
        fprintf(stderr, "sluice-s3-bench: credentials: %s\n", sl_error_describe(text, sizeof(text)));
        goto cleanup;
    }
    s3_client_config config = {
        .endpoint = endpoint,
        .region = region,
        .addressing = S3_ADDRESSING_PATH,
        .credentials = &creds,
        .http = s3_http_options_default(),
        .retry = s3_retry_policy_default(),
    };
    config.http.max_in_flight = (unsigned)concurrency;
    if (sl_failed(s3_client_new(&loop, &config, &b.client))) {
        fprintf(stderr, "sluice-s3-bench: client: %s\n", sl_error_describe(text, sizeof(text)));
        goto cleanup;
    }

    if (b.op == BENCH_PUT) {
        /* a fixed, non-repeating byte pattern (xorshift), the same for every key */
        if (sl_failed(sl_buf_reserve(&b.body, (size_t)size))) {
            fprintf(stderr, "sluice-s3-bench: body: %s\n", sl_error_describe(text, sizeof(text)));
            goto cleanup;
        }
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (uint64_t i = 0; i < size; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.body.data[i] = (uint8_t)x;
        }
        b.body.len = (size_t)size;
        b.body.data[size] = 0;
        if (sha) { /* the digest of what is sent, computed before the timed part */
            b.sha = EVP_MD_CTX_new();
            if (b.sha == NULL || EVP_DigestInit_ex(b.sha, EVP_sha256(), NULL) != 1 ||
                EVP_DigestUpdate(b.sha, b.body.data, b.body.len) != 1) {
                fprintf(stderr, "sluice-s3-bench: SHA-256 unavailable\n");
                goto cleanup;
            }
        }
    } else if (b.op == BENCH_GET_LARGE) {
        if (!head_size(&b, &b.size)) goto cleanup;
        b.count = concurrency == 1 ? 1 : (b.size + part_size - 1) / part_size;
        if (sha) {
            b.sha = EVP_MD_CTX_new();
            if (b.sha == NULL || EVP_DigestInit_ex(b.sha, EVP_sha256(), NULL) != 1) {
                fprintf(stderr, "sluice-s3-bench: SHA-256 unavailable\n");
                goto cleanup;
            }
        }
    }

    struct timespec t0;
    struct rusage ru0;
    uint64_t requests0 = s3_client_request_count(b.client); /* without get-large's HEAD */
    double busy0 = machine_busy_s();
    getrusage(RUSAGE_SELF, &ru0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fill(&b);
    while (b.in_flight > 0) uv_run(&loop, UV_RUN_ONCE);
    if (b.completed == 0) { /* nothing was started */
        clock_gettime(CLOCK_MONOTONIC, &b.t_end);
        getrusage(RUSAGE_SELF, &b.ru_end);
    }
    double busy1 = machine_busy_s();

    double seconds = seconds_between(&t0, &b.t_end);
    double user_s = tv_seconds(&b.ru_end.ru_utime) - tv_seconds(&ru0.ru_utime);
    double sys_s = tv_seconds(&b.ru_end.ru_stime) - tv_seconds(&ru0.ru_stime);
    uint64_t ops = b.completed;
    if (b.start_failed) b.errors += b.count - b.next; /* never started */
    printf("op=%s concurrency=%u count=%" PRIu64 " seconds=%.4f ops_per_s=%.1f cpu_user_s=%.4f cpu_sys_s=%.4f "
           "cpu_ms_per_op=%.4f errors=%" PRIu64 " requests=%" PRIu64,
           bench_op_names[b.op], b.concurrency, b.count, seconds, seconds > 0 ? (double)ops / seconds : 0.0, user_s,
           sys_s, ops ? (user_s + sys_s) * 1000.0 / (double)ops : 0.0, b.errors,
           s3_client_request_count(b.client) - requests0);
    if (busy0 >= 0 && busy1 >= 0) printf(" machine_cpu_s=%.2f", busy1 - busy0);
    if (b.op == BENCH_GET_LARGE || (b.op == BENCH_PUT && b.key != NULL)) {
        uint64_t moved = b.op == BENCH_PUT ? (b.errors == 0 ? b.size : 0) : b.bytes;
        printf(" bytes=%" PRIu64 " mb_per_s=%.1f", moved, seconds > 0 ? (double)moved / 1e6 / seconds : 0.0);
        if (b.op == BENCH_GET_LARGE && b.bytes != b.size && b.errors == 0) {
            fprintf(stderr, "sluice-s3-bench: read %" PRIu64 " of %" PRIu64 " bytes\n", b.bytes, b.size);
            b.errors++;
        }
        if (b.sha != NULL) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned md_len = 0;
            if (EVP_DigestFinal_ex(b.sha, md, &md_len) != 1) {
                b.errors++;
            } else {
                printf(" sha256=");
                for (unsigned i = 0; i < md_len; i++) printf("%02x", md[i]);
            }
        }
    }
    printf("\n");
    fflush(stdout);
    exit_code = b.errors == 0 ? 0 : 1;

cleanup:
    s3_client_destroy(b.client);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "sluice-s3-bench: the loop still has open handles after shutdown\n");
        exit_code = 1;
    }
    if (b.sha) EVP_MD_CTX_free(b.sha);
    sl_buf_clean_up(&b.body);
    s3_credentials_clean_up(&creds);
    sl_free(dst_default);
    return exit_code;
}
