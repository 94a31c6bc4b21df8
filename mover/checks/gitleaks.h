/*
 * gitleaks.h — a gitleaks configuration (its documented [[rules]] format, read by
 * toml.h) converted into a sluice rules document (rules.h). What translates: id,
 * description, regex, secretGroup, entropy, keywords, and allowlists whose regexes
 * target the secret (regexes, stopwords, paths; the global [allowlist] is added to every
 * rule). What does not, each rule named with the reason: rules without a regex or
 * limited to a path, composite rules ([[rules.required]]), allowlists that target the
 * match or the line or combine their parts with AND, and patterns that PCRE2 or
 * Vectorscan cannot compile. Unbounded repetitions (* + {n,}) become bounded ones (at
 * most 256), each noted, because sluice confirms matches on a bounded window. Every translated rule
 * gets the severity the caller chose. Threading: pure.
 */
#ifndef SLUICE_CHECKS_GITLEAKS_H
#define SLUICE_CHECKS_GITLEAKS_H

#include <jansson.h>

#include "checks/rules.h"

/* One rule left out. */
typedef struct gitleaks_skip {
    char *id;
    char *why;
} gitleaks_skip;

typedef struct gitleaks_result {
    json_t *rules_doc;        /* {"description": ..., "rules": [...]}, owned */
    size_t translated;
    gitleaks_skip *skipped;
    size_t skipped_count;
    char **notes;             /* about the whole file ([extend] ...) */
    size_t note_count;
} gitleaks_result;

/* Converts a parsed gitleaks configuration; `severity` is "block" or "review". Errors
 * only for a document that is not a gitleaks configuration (no [[rules]] list). */
SL_MUST_CHECK sl_result gitleaks_convert(json_t *config, const char *severity, gitleaks_result *out);
void gitleaks_result_clean_up(gitleaks_result *r);

#endif /* SLUICE_CHECKS_GITLEAKS_H */
