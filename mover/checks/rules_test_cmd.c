/*
 * rules_test_cmd.c — `sluice-mover rules test RULES.json FILE...` (commands.h): what a
 * rules file finds in local files, for people writing rules. Each file is streamed
 * through the same scanner the daemon uses (in 64 KiB reads, so matches that straddle
 * reads are found as they would be across GET chunks) and every finding is printed
 * redacted, exactly as a manifest would carry it. "{{buckets}}" stands for the buckets
 * given with --bucket NAME (repeatable), or matches nothing. A rules file not named
 * *.json is YARA rules (yara.c), compiled and run as the daemon does: each file read
 * whole (spooled), its matching rules printed by name.
 *
 * Exit: 0 when no file matched, 1 when a rule matched (or a file could not be read),
 * 2 for a usage error or rules that do not compile.
 */
#include "checks/commands.h"

#include <errno.h>
#include <string.h>

#include "checks/checks_impl.h"
#include "checks/rules.h"
#include "util/alloc.h"

#define READ_SIZE ((size_t)64 * 1024)

static int usage(FILE *err)
{
    fprintf(err, "usage: sluice-mover rules test [--bucket NAME]... RULES.json|RULES.yar FILE...\n");
    return 2;
}

/* Prints what a scan found: a line per finding that is not a pass, else "no match".
 * 1 when something was found, -1 when the scan could not finish, 0 otherwise. */
static int print_findings(const char *path, const findings *found, FILE *out, FILE *err)
{
    int result = 0;
    for (size_t i = 0; i < found->count; i++) {
        const artifact_finding *x = &found->items[i];
        if (x->verdict == FINDING_PASS) continue;
        if (x->verdict == FINDING_ERROR) {
            fprintf(err, "%s: %s\n", path, x->detail);
            return -1;
        }
        fprintf(out, "%s: %s: %s\n", path, x->verdict == FINDING_FAIL ? "block" : "review", x->detail);
        result = 1;
    }
    if (result == 0) fprintf(out, "%s: no match\n", path);
    return result;
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
    if (result == 0 && sl_ok(rules_scan_report(scan, &found))) result = print_findings(path, &found, out, err);
    findings_clean_up(&found);
    scratch_give(scratch, s);
    sl_buf_clean_up(&history);
    sl_free(chunk);
    rules_scan_destroy(scan);
    fclose(f);
    return result;
}

/* One file through YARA rules, as the daemon runs them. */
static int yara_file(const yara_db *db, const char *path, FILE *out, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    yara_scan *scan = yara_scan_new(db, UINT64_MAX, 60 * 1000);
    uint8_t *chunk = sl_malloc(READ_SIZE);
    int result = 0;
    for (size_t n; (n = fread(chunk, 1, READ_SIZE, f)) > 0;) yara_scan_feed(scan, chunk, n);
    if (ferror(f)) {
        fprintf(err, "%s: cannot read: %s\n", path, strerror(errno));
        result = -1;
    }
    findings found = { 0 };
    if (result == 0) {
        yara_scan_finish(scan);
        result = sl_ok(yara_scan_report(scan, &found)) ? print_findings(path, &found, out, err) : -1;
    }
    findings_clean_up(&found);
    sl_free(chunk);
    yara_scan_destroy(scan);
    fclose(f);
    return result;
}

static int yara_command(char **argv, int first, int argc, FILE *out, FILE *err)
{
    checks_errors errors = { 0 };
    yara_db *db = NULL;
    int status = 2;
    if (sl_ok(yara_db_new(&argv[first], 1, &db, &errors))) status = 0;
    else sl_error_clear();
    for (size_t e = 0; e < errors.count; e++) fprintf(err, "%s\n", errors.items[e]);
    for (int k = first + 1; status != 2 && k < argc; k++)
        if (yara_file(db, argv[k], out, err) != 0) status = 1;
    yara_db_destroy(db);
    checks_errors_clean_up(&errors);
    return status;
}

static bool is_json(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".json") == 0;
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
    if (!is_json(argv[i])) {
        sl_free(buckets);
        return yara_command(argv, i, argc, out, err);
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
