/*
 * rules_test_cmd.c — `sluice-mover rules test RULES.json FILE...` (commands.h): what a
 * rules file finds in local files, for people writing rules. Each file is streamed
 * through the same scanner the daemon uses (in 64 KiB reads, so matches that straddle
 * reads are found as they would be across GET chunks) and every finding is printed
 * redacted, exactly as a manifest would carry it. "{{buckets}}" stands for the buckets
 * given with --bucket NAME (repeatable), or matches nothing.
 *
 * Exit: 0 when no file matched, 1 when a rule matched (or a file could not be read),
 * 2 for a usage error or rules that do not compile.
 */
#include "checks/commands.h"

#include <errno.h>
#include <string.h>

#include "checks/rules.h"
#include "util/alloc.h"

#define READ_SIZE ((size_t)64 * 1024)

static int usage(FILE *err)
{
    fprintf(err, "usage: sluice-mover rules test [--bucket NAME]... RULES.json FILE...\n");
    return 2;
}

/* Streams one file through a scan; -1 when it cannot be read or scanned. */
static int scan_file(const rules_db *db, scratch_pool *scratch, const char *path, FILE *out, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    rules_scan *scan = rules_scan_new(db, sl_cursor_from_cstr(path));
    uint8_t *chunk = sl_malloc(READ_SIZE);
    sl_buf history = { 0 };
    uint64_t base = 0;
    int result = 0;
    hs_scratch_t *s = NULL;
    if (sl_failed(scratch_take(scratch, &s))) result = -1;
    for (bool final = false; result == 0 && !final;) {
        size_t n = fread(chunk, 1, READ_SIZE, f);
        if (n < READ_SIZE && ferror(f)) {
            fprintf(err, "%s: cannot read: %s\n", path, strerror(errno));
            result = -1;
            break;
        }
        final = n < READ_SIZE && feof(f);
        stream_view v = { .history = history.data, .history_len = history.len, .data = chunk, .len = n,
                          .base = base, .final = final };
        if (sl_failed(rules_scan_feed(scan, &v, s)) || sl_failed(history_keep(&history, chunk, n, CHECKS_HISTORY_MAX))) {
            fprintf(err, "%s: %s\n", path, sl_error_detail());
            result = -1;
        }
        base += n;
    }
    findings found = { 0 };
    if (result == 0 && sl_ok(rules_scan_report(scan, &found))) {
        for (size_t i = 0; i < found.count; i++) {
            const artifact_finding *x = &found.items[i];
            if (x->verdict == FINDING_PASS) continue;
            fprintf(out, "%s: %s: %s\n", path, x->verdict == FINDING_FAIL ? "block" : "review", x->detail);
            result = 1;
        }
        if (result == 0) fprintf(out, "%s: no match\n", path);
    }
    findings_clean_up(&found);
    scratch_give(scratch, s);
    sl_buf_clean_up(&history);
    sl_free(chunk);
    rules_scan_destroy(scan);
    fclose(f);
    return result;
}

int rules_test_command(int argc, char **argv, FILE *out, FILE *err)
{
    const char **buckets = sl_calloc((size_t)argc + 1, sizeof(*buckets));
    size_t bucket_count = 0;
    int i = 1;
    while (i + 1 < argc && strcmp(argv[i], "--bucket") == 0) {
        buckets[bucket_count++] = argv[i + 1];
        i += 2;
    }
    if (argc - i < 2 || argv[i][0] == '-') {
        sl_free(buckets);
        return usage(err);
    }
    rule_file file = { 0 };
    rules_errors errors = { 0 };
    rules_db *db = NULL;
    scratch_pool *scratch = NULL;
    rule_vars vars = { .buckets = buckets, .bucket_count = bucket_count };
    const rule_file *files[] = { &file };
    int status = 2;
    if (sl_ok(rules_file_load(argv[i], &file, &errors))) {
        if (sl_ok(rules_db_new(files, 1, &vars, &db, &errors))) {
            hs_database_t *hs = rules_db_hs(db);
            if (sl_ok(scratch_pool_new(&hs, 1, &scratch))) status = 0;
            else rules_errors_add(&errors, "%s", sl_error_detail());
        }
    }
    for (size_t e = 0; e < errors.count; e++) fprintf(err, "%s\n", errors.items[e]);
    for (int k = i + 1; status != 2 && k < argc; k++) {
        int r = scan_file(db, scratch, argv[k], out, err);
        if (r != 0) status = 1;
    }
    scratch_pool_destroy(scratch);
    rules_db_destroy(db);
    rule_file_clean_up(&file); /* zeroed when loading failed */
    checks_errors_clean_up(&errors);
    sl_free(buckets);
    return status;
}
