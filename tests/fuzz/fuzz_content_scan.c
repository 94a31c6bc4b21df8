/*
 * fuzz_content_scan.c — libFuzzer target over the content scanners that parse object
 * bytes (mover/checks/embedded.c with its confirmations, rules_scan.c with the default
 * rules). The input is scanned twice: whole, and cut into chunks whose sizes come from
 * its first byte. Invariant: the findings are the same — a match never depends on
 * where GET chunks happen to end — and no finding is an error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checks/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static embedded_db *embedded;
static rules_db *rules;
static rule_file defaults;
static scratch_pool *pool;

static void init(void)
{
    rules_errors errors = { 0 };
    if (sl_failed(embedded_db_new(&embedded)) ||
        sl_failed(rules_file_load(SLUICE_SOURCE_DIR "/config/rules/default.json", &defaults, &errors)))
        abort();
    const rule_file *files[] = { &defaults };
    const char *buckets[] = { "sluice-staging" };
    rule_vars vars = { .buckets = buckets, .bucket_count = 1 };
    if (sl_failed(rules_db_new(files, 1, &vars, &rules, &errors))) abort();
    hs_database_t *dbs[] = { embedded_db_hs(embedded), rules_db_hs(rules) };
    if (sl_failed(scratch_pool_new(dbs, 2, &pool))) abort();
}

static void scan(const uint8_t *data, size_t size, size_t chunk, findings *out)
{
    embedded_scan *e = embedded_scan_new(embedded);
    rules_scan *r = rules_scan_new(rules, sl_cursor_from_cstr("fuzz.txt"));
    hs_scratch_t *s = NULL;
    sl_buf history = { 0 };
    if (sl_failed(scratch_take(pool, &s))) abort();
    size_t off = 0;
    do {
        size_t n = size - off < chunk ? size - off : chunk;
        stream_view v = { .history = history.data, .history_len = history.len, .data = data + off, .len = n,
                          .base = off, .final = off + n == size };
        if (sl_failed(embedded_scan_feed(e, &v, s)) || sl_failed(rules_scan_feed(r, &v, s)) ||
            sl_failed(history_keep(&history, data + off, n, CHECKS_HISTORY_MAX)))
            abort();
        off += n;
    } while (off < size);
    sl_config_checks route = { 0 };
    if (sl_failed(embedded_scan_report(e, &route, "text/plain", size, out)) || sl_failed(rules_scan_report(r, out)))
        abort();
    scratch_give(pool, s);
    sl_buf_clean_up(&history);
    embedded_scan_destroy(e);
    rules_scan_destroy(r);
}

/* Compiling the default rules takes a while under the sanitizers: once, before fuzzing. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    findings whole = { 0 }, cut = { 0 };
    scan(data + 1, size - 1, size, &whole);
    scan(data + 1, size - 1, chunk, &cut);
    if (whole.count != cut.count) abort();
    for (size_t i = 0; i < whole.count; i++) {
        if (whole.items[i].verdict == FINDING_ERROR || whole.items[i].verdict != cut.items[i].verdict ||
            strcmp(whole.items[i].detail, cut.items[i].detail) != 0)
            abort();
    }
    findings_clean_up(&whole);
    findings_clean_up(&cut);
    return 0;
}
