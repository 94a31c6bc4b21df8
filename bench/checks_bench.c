/*
 * checks_bench.c — sluice-checks-bench: the content scanners on memory, no S3.
 *
 *   sluice-checks-bench RULES.json MIB REPS ARTIFACTS [RULES.yar]
 *
 * Prints one JSON line per measurement:
 *   scan     MIB of generated CSV-like text (and of random bytes) through the rules
 *            alone, the embedded-content scan alone and SHA-256 alone, in 256 KiB
 *            buffers as the checker gives them: GB/s per repetition;
 *   artifact ARTIFACTS 1 KiB CSV artifacts through the whole streaming checker
 *            (content_check on a libuv loop and its thread pool), with the route's
 *            rules and without: CPU microseconds per artifact (getrusage, whole process);
 *   yara     with RULES.yar: the same artifacts with the route's rules and the YARA
 *            rules (each object spooled to an unlinked temporary file and scanned).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/evp.h>
#include <uv.h>

#include "checks/rules.h"
#include "util/alloc.h"

#define BUF ((size_t)256 * 1024)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void fill_text(uint8_t *p, size_t n)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t col = i % 64;
        p[i] = col == 63 ? '\n' : col % 13 == 12 ? ',' : (uint8_t)alnum[x % 62];
    }
}

static void fill_random(uint8_t *p, size_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

typedef enum { S_RULES, S_EMBEDDED, S_SHA } scanner;

static double scan_rate(scanner which, const rules_db *rules, const embedded_db *emb, scratch_pool *pool,
                        const uint8_t *data, size_t len)
{
    hs_scratch_t *s = NULL;
    if (sl_failed(scratch_take(pool, &s))) exit(1);
    rules_scan *r = which == S_RULES ? rules_scan_new(rules, sl_cursor_from_cstr("bench.csv")) : NULL;
    embedded_scan *e = which == S_EMBEDDED ? embedded_scan_new(emb) : NULL;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    sl_buf history = { 0 };
    double t0 = now_s();
    for (size_t off = 0; off < len; off += BUF) {
        size_t n = len - off < BUF ? len - off : BUF;
        stream_view v = { .history = history.data, .history_len = history.len, .data = data + off, .len = n,
                          .base = off, .final = off + n == len };
        sl_result ok = SL_SUCCESS;
        if (r) ok = rules_scan_feed(r, &v, s);
        if (e) ok = embedded_scan_feed(e, &v, s);
        if (which == S_SHA && EVP_DigestUpdate(sha, data + off, n) != 1) ok = SL_FAILURE;
        if (which != S_SHA && sl_ok(ok)) ok = history_keep(&history, data + off, n, CHECKS_HISTORY_MAX);
        if (sl_failed(ok)) {
            fprintf(stderr, "scan failed: %s\n", sl_error_detail());
            exit(1);
        }
    }
    double secs = now_s() - t0;
    rules_scan_destroy(r);
    embedded_scan_destroy(e);
    EVP_MD_CTX_free(sha);
    sl_buf_clean_up(&history);
    scratch_give(pool, s);
    return (double)len / 1e9 / secs;
}

/* ---- 1 KiB artifacts through the whole checker ---- */

struct one {
    content_check *check;
    int *left;
};

static void done(void *user, const content_result *r)
{
    (void)r;
    struct one *o = user;
    (*o->left)--;
    sl_free(o);
}

static void resume(void *user) { (void)user; }

static double per_artifact_us(sl_config *config, checks_magic *magic, int count)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uint8_t body[1024];
    fill_text(body, sizeof(body));
    int left = count;
    double c0 = cpu_s();
    for (int i = 0; i < count; i++) {
        struct one *o = sl_calloc(1, sizeof(*o));
        o->left = &left;
        content_check_params p = { .rules = &config->routes[0].checks, .magic = magic,
                                   .name = sl_cursor_from_cstr("a.csv"), .expected_size = sizeof(body),
                                   .resume = resume, .user = o };
        o->check = content_check_new(&loop, &p);
        if (content_check_feed(o->check, body, sizeof(body)) != S3_HTTP_BODY_CONSUMED) exit(1);
        content_check_finish(o->check, true, NULL, done, o);
        if (i % 32 == 31) uv_run(&loop, UV_RUN_DEFAULT); /* 32 in flight, like a busy mover */
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double us = (cpu_s() - c0) * 1e6 / count;
    uv_loop_close(&loop);
    return left == 0 ? us : -1;
}

/* A route with the rules file, and the YARA file when given (either may be NULL). */
static sl_config *route_config(const char *rules_file, const char *yara_file)
{
    char rules[2048] = "";
    if (rules_file && yara_file) snprintf(rules, sizeof(rules), ", \"rules\": [\"%s\", \"%s\"]", rules_file, yara_file);
    else if (rules_file) snprintf(rules, sizeof(rules), ", \"rules\": [\"%s\"]", rules_file);
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"s3\": {\"endpoint\": \"http://127.0.0.1:1\"}, \"buckets\": {\"staging\": \"b-staging\","
             " \"quarantine\": \"b-quarantine\", \"trusted\": \"b-trusted\"}, \"routes\": [{\"name\": \"r\","
             " \"staging_prefix\": \"in/\", \"trusted_prefix\": \"out/\", \"checks\": {\"max_bytes\": \"1MiB\"%s}}],"
             " \"audit\": {\"file\": \"/tmp/unused.jsonl\"}}",
             rules);
    sl_config *c = NULL;
    checks_errors errors = { 0 };
    if (sl_failed(sl_config_load_string(text, ".", &c, NULL)) || sl_failed(checks_engine_attach(c, &errors))) {
        fprintf(stderr, "config: %s\n", errors.count ? errors.items[0] : sl_error_detail());
        exit(1);
    }
    return c;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: sluice-checks-bench RULES.json MIB REPS ARTIFACTS [RULES.yar]\n");
        return 2;
    }
    size_t len = (size_t)atoi(argv[2]) * 1024 * 1024;
    int reps = atoi(argv[3]), artifacts = atoi(argv[4]);
    sl_config *with = route_config(argv[1], NULL), *without = route_config(NULL, NULL);
    sl_config *yara = argc == 6 ? route_config(argv[1], argv[5]) : NULL;
    const struct checks_route *route = with->routes[0].checks.compiled;
    checks_magic *magic = NULL;
    if (sl_failed(checks_magic_new(&magic))) return 1;
    uint8_t *text = sl_malloc(len), *random = sl_malloc(len);
    fill_text(text, len);
    fill_random(random, len);
    static const char *const names[] = { "rules", "embedded", "sha256" };
    for (int rep = 1; rep <= reps; rep++) {
        for (int s = 0; s < 3; s++) {
            double t = scan_rate((scanner)s, route->rules, route->embedded, route->scratch, text, len);
            double b = scan_rate((scanner)s, route->rules, route->embedded, route->scratch, random, len);
            printf("{\"kind\":\"scan\",\"scanner\":\"%s\",\"rep\":%d,\"mib\":%zu,\"text_gb_s\":%.3f,"
                   "\"random_gb_s\":%.3f,\"rules\":%zu}\n",
                   names[s], rep, len >> 20, t, b, rules_db_rule_count(route->rules));
        }
        double on = per_artifact_us(with, magic, artifacts), off = per_artifact_us(without, magic, artifacts);
        printf("{\"kind\":\"artifact\",\"rep\":%d,\"artifacts\":%d,\"cpu_us_rules_on\":%.1f,\"cpu_us_rules_off\":%.1f}\n",
               rep, artifacts, on, off);
        if (yara != NULL)
            printf("{\"kind\":\"yara\",\"rep\":%d,\"artifacts\":%d,\"cpu_us_rules_and_yara\":%.1f}\n", rep, artifacts,
                   per_artifact_us(yara, magic, artifacts));
        fflush(stdout);
    }
    sl_free(text);
    sl_free(random);
    checks_magic_destroy(magic);
    sl_config_free(with);
    sl_config_free(without);
    sl_config_free(yara);
    return 0;
}
