/*
 * rules.h — the rules engine for secrets and control-plane content (docs/checks.md
 * "Rules"): rule files are data, in sluice's JSON conventions; a route's rule files are
 * compiled into one Vectorscan streaming database (the prefilter: every rule's pattern
 * in prefilter mode, so a candidate is never missed) plus one PCRE2 program per
 * pattern (the confirmation, run on a bounded window around each candidate, with the
 * rule's entropy threshold, "near" pattern, keywords and allowlist).
 *
 * Parts: rules_parse.c (the file format, errors with JSON paths), rules_compile.c
 * (patterns, widths, the database), rules_scan.c (the streaming scan and its
 * findings). A pattern must have a bounded width (at most RULES_MAX_WIDTH bytes), so
 * the window that confirms it is bounded and memory stays constant.
 *
 * Errors: every problem of a file is collected as one line "FILE: PATH: what" (PATH
 * is a JSON path such as rules[3].pattern, followed by the rule's id where known).
 * Threading: parsing and compiling are reentrant; a rules_db is immutable and shared
 * by every pool thread; a rules_scan belongs to one work item at a time.
 */
#ifndef SLUICE_CHECKS_RULES_H
#define SLUICE_CHECKS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hs/hs.h>

#include "checks/checks_impl.h"
#include "util/buf.h"
#include "util/error.h"

#define RULES_FILE_MAX ((size_t)4 * 1024 * 1024)
#define RULES_MAX_RULES 2000
#define RULES_MAX_WIDTH 4096u  /* bytes a pattern may match */
#define RULES_MAX_WITHIN 4096u /* "near.within" */

/* Problems found, one line each. */
typedef checks_errors rules_errors;

void rules_errors_add(rules_errors *e, const char *fmt, ...) SL_PRINTF(2, 3);

/* One rule as written. */
typedef struct rule_def {
    char *id;
    char *description;
    char *pattern;
    char **keywords;          /* at least one must occur (any case) in the window */
    size_t keyword_count;
    uint32_t secret_group;    /* the capture group that is the secret; 0 = the match */
    double entropy;           /* minimum Shannon entropy (bits per byte) of the secret; 0 = none */
    char *near_pattern;       /* must match within `near_within` bytes of the match; NULL = none */
    uint32_t near_within;
    finding_verdict severity; /* FINDING_FAIL ("block") or FINDING_REVIEW ("review") */
    char **stopwords;         /* allowlist: the secret contains one (any case) */
    size_t stopword_count;
    char **allow_patterns;    /* allowlist: a pattern matches the secret */
    size_t allow_pattern_count;
    char **allow_paths;       /* allowlist: a pattern matches the object's name */
    size_t allow_path_count;
} rule_def;

/* A rules file. `version` is the first 12 hex digits of the SHA-256 of its bytes. */
typedef struct rule_file {
    char *name;   /* for messages: the path as given */
    char version[13];
    rule_def *rules;
    size_t count;
} rule_file;

/* Parses a rules document. On error (SL_ERR_PARSE) `errors` lists every problem found
 * and `out` is empty. */
SL_MUST_CHECK sl_result rules_parse(const char *text, size_t len, const char *name, rule_file *out,
                                    rules_errors *errors);
/* Reads (at most RULES_FILE_MAX bytes) and parses a file. */
SL_MUST_CHECK sl_result rules_file_load(const char *path, rule_file *out, rules_errors *errors);
void rule_file_clean_up(rule_file *f);

/* ---- compiling ---- */

/* What patterns may refer to: "{{buckets}}" becomes an alternation of these names. */
typedef struct rule_vars {
    const char *const *buckets;
    size_t bucket_count;
} rule_vars;

typedef struct rules_db rules_db;

/* Compiles the rules of every file into one database; the files must outlive it. A
 * rule id present in two files is an error. On error `errors` names each rule that could not be compiled and why. */
SL_MUST_CHECK sl_result rules_db_new(const rule_file *const *files, size_t count, const rule_vars *vars,
                                     rules_db **out, rules_errors *errors);
void rules_db_destroy(rules_db *db);
hs_database_t *rules_db_hs(const rules_db *db);
size_t rules_db_rule_count(const rules_db *db);
/* The bytes a scanner must keep from earlier buffers. */
size_t rules_db_history(const rules_db *db);
/* "default.json@1a2b3c4d5e6f" for each file, comma-separated. */
const char *rules_db_version(const rules_db *db);

/* ---- scanning ---- */

typedef struct rules_scan rules_scan;

/* A scan of one object; `name` (copied) is what allowlist paths match. */
rules_scan *rules_scan_new(const rules_db *db, sl_cursor name);
void rules_scan_destroy(rules_scan *scan);
/* Scans the view's data; with view->final, also what waited for more bytes. */
SL_MUST_CHECK sl_result rules_scan_feed(rules_scan *scan, const stream_view *view, hs_scratch_t *scratch);
/* Adds one "rules" finding per rule that matched (redacted), or one pass. */
SL_MUST_CHECK sl_result rules_scan_report(const rules_scan *scan, findings *out);

#endif /* SLUICE_CHECKS_RULES_H */
