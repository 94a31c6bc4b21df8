/*
 * fuzz_rules.c — libFuzzer target over the rules file parser and compiler
 * (mover/checks/rules_parse.c, rules_compile.c). Invariants: a document is either
 * parsed with no error reported, or refused with at least one error and an empty
 * result — never both; a parsed file's rules all have an id, a pattern and a block or
 * review severity; compiling either yields a database with every rule or reports at
 * least one problem.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checks/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rule_file f;
    rules_errors errors = { 0 };
    if (sl_failed(rules_parse((const char *)data, size, "fuzz.json", &f, &errors))) {
        if (errors.count == 0 || f.count != 0 || f.rules != NULL) abort();
        checks_errors_clean_up(&errors);
        return 0;
    }
    if (errors.count != 0 || f.count == 0) abort();
    for (size_t i = 0; i < f.count; i++) {
        const rule_def *r = &f.rules[i];
        if (r->id == NULL || r->pattern == NULL || (r->severity != FINDING_FAIL && r->severity != FINDING_REVIEW))
            abort();
    }
    if (size < 1024 && data[size / 2] % 8 == 0) { /* compiling is slow: one small document in eight */
        const rule_file *files[] = { &f };
        const char *buckets[] = { "b-one", "b.two" };
        rule_vars vars = { .buckets = buckets, .bucket_count = 2 };
        rules_db *db = NULL;
        if (sl_ok(rules_db_new(files, 1, &vars, &db, &errors))) {
            if (db == NULL || rules_db_rule_count(db) != f.count || errors.count != 0) abort();
        } else if (errors.count == 0 || db != NULL) {
            abort();
        }
        rules_db_destroy(db);
    }
    checks_errors_clean_up(&errors);
    rule_file_clean_up(&f);
    return 0;
}
