/*
 * rules_impl.h — the compiled rules, shared by rules_compile.c (which builds them) and
 * rules_scan.c (which runs them). Immutable once built; read by every pool thread.
 */
#ifndef SLUICE_CHECKS_RULES_IMPL_H
#define SLUICE_CHECKS_RULES_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "checks/rules.h"

typedef struct compiled_rule {
    const rule_def *def;         /* borrowed: the files outlive the db */
    const char *file;            /* the file's name, for messages */
    pcre2_code *code;            /* the pattern ({{buckets}} expanded) */
    pcre2_code *near;            /* NULL: none */
    pcre2_code **allow_patterns; /* def->allow_pattern_count */
    pcre2_code **allow_paths;    /* def->allow_path_count */
    uint32_t min_width, max_width;
    size_t before, after;        /* the confirmation window around a candidate's end */
} compiled_rule;

struct rules_db {
    compiled_rule *rules;
    size_t count;
    hs_database_t *hs;
    pcre2_match_context *limits; /* match and depth limits for every confirmation */
    size_t history;
    char *version;
};

#endif /* SLUICE_CHECKS_RULES_IMPL_H */
