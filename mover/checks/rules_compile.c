/*
 * rules_compile.c — rule files into one rules database (rules.h): "{{buckets}}"
 * expanded, every pattern compiled by PCRE2 (with JIT) for confirmation and measured
 * by Vectorscan (its width must be bounded), then all patterns compiled together into
 * one Vectorscan streaming database in prefilter mode. Each problem names the file, the
 * rule and the reason; nothing is compiled unless every rule compiles.
 */
#include "checks/rules_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000

/* Escapes a literal for both PCRE2 and Vectorscan. */
static sl_result append_literal(sl_buf *out, const char *s)
{
    for (; *s; s++) {
        if (strchr("\\^$.|?*+()[]{}-/", *s) != NULL) GUARD(sl_buf_append_byte(out, '\\'));
        GUARD(sl_buf_append_byte(out, (uint8_t)*s));
    }
    return SL_SUCCESS;
}

/* The pattern with "{{buckets}}" replaced by (?:name|name…). */
static sl_result expand(const char *pattern, const rule_vars *vars, sl_buf *out)
{
    static const char placeholder[] = "{{buckets}}";
    const char *at;
    while ((at = strstr(pattern, placeholder)) != NULL) {
        GUARD(sl_buf_append(out, pattern, (size_t)(at - pattern)));
        GUARD(sl_buf_append_cstr(out, "(?:"));
        for (size_t i = 0; vars != NULL && i < vars->bucket_count; i++) {
            if (i > 0) GUARD(sl_buf_append_byte(out, '|'));
            GUARD(append_literal(out, vars->buckets[i]));
        }
        if (vars == NULL || vars->bucket_count == 0) GUARD(sl_buf_append_cstr(out, "(?!)")); /* matches nothing */
        GUARD(sl_buf_append_byte(out, ')'));
        pattern = at + sizeof(placeholder) - 1;
    }
    return sl_buf_append_cstr(out, pattern);
}

static pcre2_code *pcre_compile(const char *pattern, char *why, size_t why_size)
{
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &offset, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(why, why_size, "PCRE2: %s at offset %zu", (const char *)msg, (size_t)offset);
        return NULL;
    }
    /* Without JIT it still matches, slower. Under valgrind it is left out: JIT code is
     * not instrumented, and valgrind would report its reads as uninitialised. */
    if (!RUNNING_ON_VALGRIND) (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static void free_rule(compiled_rule *c)
{
    pcre2_code_free(c->code);
    pcre2_code_free(c->near);
    for (size_t i = 0; c->allow_patterns && i < c->def->allow_pattern_count; i++) pcre2_code_free(c->allow_patterns[i]);
    for (size_t i = 0; c->allow_paths && i < c->def->allow_path_count; i++) pcre2_code_free(c->allow_paths[i]);
    sl_free(c->allow_patterns);
    sl_free(c->allow_paths);
}

void rules_db_destroy(rules_db *db)
{
    if (db == NULL) return;
    for (size_t i = 0; i < db->count; i++) free_rule(&db->rules[i]);
    sl_free(db->rules);
    hs_free_database(db->hs);
    pcre2_match_context_free(db->limits);
    sl_free(db->version);
    sl_free(db);
}

static bool compile_list(char **patterns, size_t n, pcre2_code ***out, const char *file, const rule_def *r,
                         const char *what, rules_errors *errors)
{
    *out = n ? sl_calloc(n, sizeof(**out)) : NULL;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char why[200];
        if (((*out)[i] = pcre_compile(patterns[i], why, sizeof(why))) == NULL) {
            rules_errors_add(errors, "%s: rule %s: allowlist.%s[%zu] does not compile: %s", file, r->id, what, i, why);
            ok = false;
        }
    }
    return ok;
}

/* Vectorscan's view of the pattern: its width must be bounded. */
static bool measure(compiled_rule *c, const char *expanded, const char *file, rules_errors *errors)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *err = NULL;
    if (hs_expression_info(expanded, HS_FLAG_PREFILTER | HS_FLAG_DOTALL, &info, &err) != HS_SUCCESS) {
        rules_errors_add(errors, "%s: rule %s: the pattern does not compile: Vectorscan: %s", file, c->def->id,
                         err ? err->message : "unknown error");
        hs_free_compile_error(err);
        return false;
    }
    bool ok = info->max_width <= RULES_MAX_WIDTH;
    if (!ok)
        rules_errors_add(errors,
                         "%s: rule %s: the pattern can match more than %u bytes%s: bound its repetitions "
                         "(for example {8,200} instead of + or *)",
                         file, c->def->id, RULES_MAX_WIDTH, info->max_width == UINT32_MAX ? " (it has no limit)" : "");
    if (info->min_width == 0 && ok) {
        rules_errors_add(errors, "%s: rule %s: the pattern can match the empty string", file, c->def->id);
        ok = false;
    }
    c->min_width = info->min_width;
    c->max_width = info->max_width;
    free(info); /* allocated by Vectorscan with the C allocator */
    return ok;
}

static bool compile_rule(compiled_rule *c, const rule_def *r, const char *file, const rule_vars *vars,
                         sl_buf *expanded, rules_errors *errors)
{
    c->def = r;
    c->file = file;
    sl_buf_reset(expanded);
    if (sl_failed(expand(r->pattern, vars, expanded))) {
        rules_errors_add(errors, "%s: rule %s: %s", file, r->id, sl_error_detail());
        return false;
    }
    char why[200];
    bool ok = true;
    if ((c->code = pcre_compile(sl_buf_cstr(expanded), why, sizeof(why))) == NULL) {
        rules_errors_add(errors, "%s: rule %s: the pattern does not compile: %s", file, r->id, why);
        ok = false;
    } else {
        uint32_t groups = 0;
        (void)pcre2_pattern_info(c->code, PCRE2_INFO_CAPTURECOUNT, &groups);
        if (r->secret_group > groups) {
            rules_errors_add(errors, "%s: rule %s: secret_group %u, but the pattern has %u capture group%s", file,
                             r->id, r->secret_group, groups, groups == 1 ? "" : "s");
            ok = false;
        }
    }
    if (ok && !measure(c, sl_buf_cstr(expanded), file, errors)) ok = false;
    if (r->near_pattern != NULL && (c->near = pcre_compile(r->near_pattern, why, sizeof(why))) == NULL) {
        rules_errors_add(errors, "%s: rule %s: near.pattern does not compile: %s", file, r->id, why);
        ok = false;
    }
    if (!compile_list(r->allow_patterns, r->allow_pattern_count, &c->allow_patterns, file, r, "patterns", errors))
        ok = false;
    if (!compile_list(r->allow_paths, r->allow_path_count, &c->allow_paths, file, r, "paths", errors)) ok = false;
    c->before = (size_t)c->max_width + r->near_within + 1;
    c->after = (size_t)(c->max_width - c->min_width) + r->near_within + 1;
    return ok;
}

static bool unique_ids(const rule_file *const *files, size_t count, rules_errors *errors)
{
    bool ok = true;
    for (size_t f = 0; f < count; f++)
        for (size_t i = 0; i < files[f]->count; i++)
            for (size_t g = 0; g < f; g++)
                for (size_t k = 0; k < files[g]->count; k++)
                    if (strcmp(files[f]->rules[i].id, files[g]->rules[k].id) == 0) {
                        rules_errors_add(errors, "%s: rule %s: the id is also used in %s", files[f]->name,
                                         files[f]->rules[i].id, files[g]->name);
                        ok = false;
                    }
    return ok;
}

/* One Vectorscan database of every (expanded) pattern, in prefilter mode. */
static bool build_hs(rules_db *db, const rule_vars *vars, rules_errors *errors)
{
    const char **patterns = sl_calloc(db->count, sizeof(*patterns));
    unsigned *flags = sl_calloc(db->count, sizeof(*flags)), *ids = sl_calloc(db->count, sizeof(*ids));
    sl_buf *texts = sl_calloc(db->count, sizeof(*texts));
    bool ok = true;
    for (size_t i = 0; i < db->count && ok; i++) {
        if (sl_failed(expand(db->rules[i].def->pattern, vars, &texts[i]))) ok = false;
        patterns[i] = sl_buf_cstr(&texts[i]);
        flags[i] = HS_FLAG_PREFILTER | HS_FLAG_DOTALL;
        ids[i] = (unsigned)i;
    }
    hs_compile_error_t *err = NULL;
    if (ok && hs_compile_multi(patterns, flags, ids, (unsigned)db->count, HS_MODE_STREAM, NULL, &db->hs, &err) !=
                  HS_SUCCESS) {
        const compiled_rule *c = err && err->expression >= 0 ? &db->rules[err->expression] : NULL;
        rules_errors_add(errors, "%s: rule %s: Vectorscan cannot compile the rules: %s", c ? c->file : "rules",
                         c ? c->def->id : "(all)", err ? err->message : "unknown error");
        hs_free_compile_error(err);
        ok = false;
    }
    for (size_t i = 0; i < db->count; i++) sl_buf_clean_up(&texts[i]);
    sl_free(texts);
    sl_free(patterns);
    sl_free(flags);
    sl_free(ids);
    return ok;
}

static sl_result set_version(rules_db *db, const rule_file *const *files, size_t count)
{
    sl_buf v = { 0 };
    for (size_t f = 0; f < count; f++) {
        const char *base = strrchr(files[f]->name, '/');
        if (sl_failed(sl_buf_appendf(&v, "%s%s@%s", f ? ", " : "", base ? base + 1 : files[f]->name,
                                     files[f]->version))) {
            sl_buf_clean_up(&v);
            return SL_FAILURE;
        }
    }
    db->version = sl_buf_steal(&v);
    return SL_SUCCESS;
}

sl_result rules_db_new(const rule_file *const *files, size_t count, const rule_vars *vars, rules_db **out,
                       rules_errors *errors)
{
    size_t before = errors->count, total = 0;
    for (size_t f = 0; f < count; f++) total += files[f]->count;
    ENSURE(total > 0, SL_ERR_INVALID_ARGUMENT, "no rules to compile");
    rules_db *db = sl_calloc(1, sizeof(*db));
    db->rules = sl_calloc(total, sizeof(*db->rules));
    bool ok = unique_ids(files, count, errors);
    sl_buf expanded = { 0 };
    for (size_t f = 0; f < count; f++) {
        for (size_t i = 0; i < files[f]->count; i++) {
            compiled_rule *c = &db->rules[db->count++];
            if (!compile_rule(c, &files[f]->rules[i], files[f]->name, vars, &expanded, errors)) ok = false;
            if (c->before > db->history) db->history = c->before;
        }
    }
    sl_buf_clean_up(&expanded);
    if (ok) ok = build_hs(db, vars, errors);
    if (ok) {
        db->limits = pcre2_match_context_create(NULL);
        ok = db->limits != NULL && pcre2_set_match_limit(db->limits, MATCH_LIMIT) == 0 &&
             pcre2_set_depth_limit(db->limits, DEPTH_LIMIT) == 0 && sl_ok(set_version(db, files, count));
    }
    if (!ok || db->history > CHECKS_HISTORY_MAX) {
        rules_db_destroy(db);
        RAISE(SL_ERR_PARSE, "%zu problem%s in the rules", errors->count - before,
              errors->count - before == 1 ? "" : "s");
    }
    *out = db;
    return SL_SUCCESS;
}

hs_database_t *rules_db_hs(const rules_db *db) { return db->hs; }
size_t rules_db_rule_count(const rules_db *db) { return db->count; }
size_t rules_db_history(const rules_db *db) { return db->history; }
const char *rules_db_version(const rules_db *db) { return db->version; }
