/*
 * attest_cost.c — what an attestation costs in CPU (docs/benchmarks.md, "Attested
 * promotion"): the mover's signing of one promotion (statement, DSSE PAE, Ed25519,
 * metadata) and a consumer's verification of one object's attestation (decode, rebuild,
 * Ed25519 verify; the SHA-256 of the bytes is the same read as without attestations),
 * and the signing of one audit segment head.
 *
 *   attest-cost [ITERATIONS [RUNS]]   getrusage user+system time per operation: the
 *                                     median of RUNS runs and their min–max
 *   attest-cost --once                one of each, for callgrind:
 *     valgrind --tool=callgrind --toggle-collect=attest_sign_promotion attest-cost --once
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "attest/attest.h"
#include "audit/segment.h"
#include "util/alloc.h"

static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const attest_check checks[] = {
    { { (const uint8_t *)"key", 3 }, { 0 } },    { { (const uint8_t *)"metadata", 8 }, { 0 } },
    { { (const uint8_t *)"size", 4 }, { 0 } },   { { (const uint8_t *)"sha256", 6 }, { 0 } },
    { { (const uint8_t *)"type", 4 }, { (const uint8_t *)"libmagic 5.44", 13 } },
    { { (const uint8_t *)"extension", 9 }, { 0 } },
};

static attest_facts facts(void)
{
    return (attest_facts){
        .trusted_key = sl_cursor_from_cstr("metrics/3q2-7AbcdEFghIJklMNopQ/out.csv"),
        .staging_key = sl_cursor_from_cstr("metrics/3q2-7AbcdEFghIJklMNopQ/out.csv"),
        .sha256 = sl_cursor_from_cstr("8a6d5f0f3b0d1d2e4a7c1f5e9b2a6c3d4e5f60718293a4b5c6d7e8f901a2b3c4"),
        .media_type = sl_cursor_from_cstr("text/csv"),
        .artifact = sl_cursor_from_cstr("97b9918483abbebe3b47f9d814ecf40e"),
        .task = sl_cursor_from_cstr("3q2-7AbcdEFghIJklMNopQ"),
        .route = sl_cursor_from_cstr("metrics"),
        .decision = sl_cursor_from_cstr("auto"),
        .checks = checks,
        .check_count = 6,
        .times = { 1764960000123, 1764960000456, 1764960000457, 0 },
    };
}

static void sign_once(const attest_signer *s, attest_headers *h)
{
    attest_facts f = facts();
    if (sl_failed(attest_sign_promotion(s, &f, h))) {
        fprintf(stderr, "attest-cost: %s\n", sl_error_detail());
        exit(1);
    }
}

static void verify_once(const attest_keyring *ring, const attest_headers *h)
{
    attest_facts f = facts();
    attest_object o = { .key = f.trusted_key, .content_type = f.media_type, .metadata = h->pairs,
                        .metadata_count = h->count, .sha256 = f.sha256 };
    attest_verdict v;
    if (sl_failed(attest_verify_object(ring, &o, &v)) || v.reason != ATTEST_VERIFIED) {
        fprintf(stderr, "attest-cost: not verified: %s\n", v.detail);
        exit(1);
    }
    attest_verdict_clean_up(&v);
}

static void head_once(const attest_signer *s)
{
    audit_segment_head h = { .first = 1, .last = 100, .start = 0, .end = 40000 };
    snprintf(h.log, sizeof(h.log), "mover");
    sl_buf store = { 0 };
    sl_cursor pairs[14];
    size_t count;
    if (sl_failed(audit_segment_sign(s, sl_cursor_from_cstr("sluice/audit/mover/00000000000000000001-00000000000000000100.jsonl"),
                                     &h, &store, pairs, &count)))
        exit(1);
    sl_buf_clean_up(&store);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/attest-cost-XXXXXX", prefix[64], key[80], pub[80], id[ATTEST_KEY_ID_LEN + 1];
    if (mkdtemp(dir) == NULL) return 1;
    snprintf(prefix, sizeof(prefix), "%s/k", dir);
    snprintf(key, sizeof(key), "%s.key", prefix);
    snprintf(pub, sizeof(pub), "%s.pub", prefix);
    attest_signer *s = NULL;
    attest_keyring *ring = NULL;
    if (sl_failed(attest_keygen(prefix, id)) || sl_failed(attest_signer_load(key, &s)) ||
        sl_failed(attest_keyring_new(&ring)) || sl_failed(attest_keyring_add_file(ring, pub))) {
        fprintf(stderr, "attest-cost: %s\n", sl_error_detail());
        return 1;
    }
    unlink(key);
    unlink(pub);
    rmdir(dir);
    attest_headers h = { 0 };
    sign_once(s, &h);
    printf("metadata: %zu bytes in %zu fields\n", h.bytes, h.count);
    if (argc > 1 && strcmp(argv[1], "--once") == 0) {
        verify_once(ring, &h);
        head_once(s);
    } else {
        int n = argc > 1 ? atoi(argv[1]) : 2000, runs = argc > 2 ? atoi(argv[2]) : 7;
        if (n < 1 || runs < 1 || runs > 99) return 2;
        const char *names[] = { "sign a promotion", "verify an attestation", "sign an audit segment head" };
        for (int what = 0; what < 3; what++) {
            double per[99];
            for (int r = 0; r < runs; r++) {
                double t0 = cpu_us();
                for (int i = 0; i < n; i++) {
                    if (what == 0) sign_once(s, &h);
                    else if (what == 1) verify_once(ring, &h);
                    else head_once(s);
                }
                per[r] = (cpu_us() - t0) / n;
            }
            qsort(per, (size_t)runs, sizeof(double), cmp);
            printf("%-28s %6.1f us CPU (median of %d runs of %d; min %.1f, max %.1f)\n", names[what], per[runs / 2], runs,
                   n, per[0], per[runs - 1]);
        }
    }
    attest_headers_clean_up(&h);
    attest_keyring_destroy(ring);
    attest_signer_destroy(s);
    return 0;
}
