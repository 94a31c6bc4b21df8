/*
 * rules_parse.c — the rules file format (rules.h, docs/checks.md "Rules files"):
 *
 *   { "rules": [ { "id": "github-token", "description": "…", "pattern": "…",
 *                  "keywords": ["ghp_"], "secret_group": 1, "entropy": 3.5,
 *                  "near": { "pattern": "…", "within": 256 },
 *                  "severity": "block" | "review",
 *                  "allowlist": { "stopwords": […], "patterns": […], "paths": […] } } ] }
 *
 * Strict like the configuration: duplicate keys, unknown keys, wrong types, empty
 * strings, out-of-range numbers and duplicate ids are errors, each reported with its
 * JSON path (and the rule's id), and every problem of the file is reported, not only
 * the first. Patterns are only checked here for being text; rules_compile.c compiles
 * them.
 */
#include "checks/rules.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "util/alloc.h"

#define TEXT_MAX 8192

void rules_errors_add(rules_errors *e, const char *fmt, ...)
{
    sl_buf line = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sl_result r = sl_buf_vappendf(&line, fmt, ap);
    va_end(ap);
    if (sl_failed(r)) {
        sl_buf_clean_up(&line);
        return;
    }
    e->items = sl_realloc(e->items, (e->count + 1) * sizeof(*e->items));
    e->items[e->count++] = sl_buf_steal(&line);
}

void checks_errors_clean_up(checks_errors *e)
{
    if (e == NULL) return;
    for (size_t i = 0; i < e->count; i++) sl_free(e->items[i]);
    sl_free(e->items);
    *e = (rules_errors){ 0 };
}

static void free_list(char **items, size_t count)
{
    for (size_t i = 0; i < count; i++) sl_free(items[i]);
    sl_free(items);
}

static void rule_clean_up(rule_def *r)
{
    sl_free(r->id);
    sl_free(r->description);
    sl_free(r->pattern);
    free_list(r->keywords, r->keyword_count);
    sl_free(r->near_pattern);
    free_list(r->stopwords, r->stopword_count);
    free_list(r->allow_patterns, r->allow_pattern_count);
    free_list(r->allow_paths, r->allow_path_count);
}

void rule_file_clean_up(rule_file *f)
{
    if (f == NULL) return;
    for (size_t i = 0; i < f->count; i++) rule_clean_up(&f->rules[i]);
    sl_free(f->rules);
    sl_free(f->name);
    *f = (rule_file){ 0 };
}

/* ---- the walk ---- */

struct parse {
    const char *name;
    rules_errors *errors;
    size_t before;       /* errors->count when parsing started */
    char where[96];      /* "rules[3]" */
    const char *id;      /* the current rule's id, for messages */
};

static void report(struct parse *p, const char *member, const char *fmt, ...) SL_PRINTF(3, 4);

static void report(struct parse *p, const char *member, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char id[80] = "";
    if (p->id != NULL) {
        char shown[68];
        snprintf(shown, sizeof(shown), "%.64s", p->id);
        snprintf(id, sizeof(id), " (%s)", shown);
    }
    rules_errors_add(p->errors, "%s: %s%s%s%s: %s", p->name, p->where, member[0] && p->where[0] ? "." : "", member,
                     id, what);
}

static bool text_ok(const char *s, size_t len) { return len > 0 && len <= TEXT_MAX && strlen(s) == len; }

/* A required or optional string member; NULL when absent or wrong (reported). */
static char *get_text(struct parse *p, json_t *obj, const char *key, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required) report(p, key, "missing (expected a string)");
        return NULL;
    }
    if (!json_is_string(v) || !text_ok(json_string_value(v), json_string_length(v))) {
        report(p, key, "expected a non-empty string of at most %d bytes without NUL", TEXT_MAX);
        return NULL;
    }
    return sl_strdup(json_string_value(v));
}

static char **get_list(struct parse *p, json_t *obj, const char *key, size_t *count)
{
    *count = 0;
    json_t *v = json_object_get(obj, key);
    if (v == NULL) return NULL;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 1000) {
        report(p, key, "expected a list of 1 to 1000 strings");
        return NULL;
    }
    char **items = sl_calloc(json_array_size(v), sizeof(*items));
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e) || !text_ok(json_string_value(e), json_string_length(e))) {
            char member[64];
            snprintf(member, sizeof(member), "%s[%zu]", key, i);
            report(p, member, "expected a non-empty string of at most %d bytes without NUL", TEXT_MAX);
            continue;
        }
        items[(*count)++] = sl_strdup(json_string_value(e));
    }
    return items;
}

static void check_known(struct parse *p, json_t *obj, const char *prefix, const char *const *known, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(known[i], key) != 0) i++;
        if (i < n) continue;
        char shown[68], member[96];
        snprintf(shown, sizeof(shown), "%.64s", key);
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) *c = '?';
        snprintf(member, sizeof(member), "%s%s", prefix, shown);
        sl_buf list = { 0 };
        for (size_t k = 0; k < n; k++)
            if (sl_failed(sl_buf_appendf(&list, "%s%s", k ? ", " : "", known[k]))) break;
        report(p, member, "unknown key (expected one of: %s)", sl_buf_cstr(&list));
        sl_buf_clean_up(&list);
    }
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]))) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '_' || c == '.')) return false;
    }
    return true;
}

static void parse_near(struct parse *p, json_t *near, rule_def *r)
{
    if (!json_is_object(near)) {
        report(p, "near", "expected an object {\"pattern\": \"…\", \"within\": bytes}");
        return;
    }
    static const char *const known[] = { "pattern", "within" };
    check_known(p, near, "near.", known, 2);
    r->near_pattern = get_text(p, near, "pattern", true);
    json_t *w = json_object_get(near, "within");
    if (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > RULES_MAX_WITHIN)
        report(p, "near.within", "expected a number of bytes from 1 to %u", RULES_MAX_WITHIN);
    else
        r->near_within = (uint32_t)json_integer_value(w);
}

static void parse_allowlist(struct parse *p, json_t *a, rule_def *r)
{
    if (!json_is_object(a)) {
        report(p, "allowlist", "expected an object with stopwords, patterns and/or paths");
        return;
    }
    static const char *const known[] = { "stopwords", "patterns", "paths" };
    check_known(p, a, "allowlist.", known, 3);
    char saved[sizeof(p->where)];
    memcpy(saved, p->where, sizeof(saved));
    size_t n = strnlen(p->where, sizeof(p->where) - 1);
    snprintf(p->where + n, sizeof(p->where) - n, "%s", ".allowlist");
    r->stopwords = get_list(p, a, "stopwords", &r->stopword_count);
    r->allow_patterns = get_list(p, a, "patterns", &r->allow_pattern_count);
    r->allow_paths = get_list(p, a, "paths", &r->allow_path_count);
    memcpy(p->where, saved, sizeof(saved));
}

static void parse_numbers(struct parse *p, json_t *obj, rule_def *r)
{
    json_t *g = json_object_get(obj, "secret_group");
    if (g != NULL) {
        if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > 30)
            report(p, "secret_group", "expected a capture group number from 0 to 30");
        else
            r->secret_group = (uint32_t)json_integer_value(g);
    }
    json_t *e = json_object_get(obj, "entropy");
    if (e != NULL) {
        if (!json_is_number(e) || json_number_value(e) <= 0 || json_number_value(e) > 8)
            report(p, "entropy", "expected bits per byte, above 0 and at most 8");
        else
            r->entropy = json_number_value(e);
    }
}

static void parse_rule(struct parse *p, json_t *obj, rule_def *r)
{
    if (!json_is_object(obj)) {
        report(p, "", "expected a rule object");
        return;
    }
    static const char *const known[] = { "id", "description", "pattern", "keywords", "secret_group",
                                         "entropy", "near", "severity", "allowlist" };
    r->id = get_text(p, obj, "id", true);
    if (r->id != NULL && !valid_id(r->id)) {
        report(p, "id", "expected 1 to 64 of a-z 0-9 . _ - (starting with a letter or digit)");
        sl_free(r->id);
        r->id = NULL;
    }
    p->id = r->id;
    check_known(p, obj, "", known, sizeof(known) / sizeof(known[0]));
    r->description = get_text(p, obj, "description", false);
    r->pattern = get_text(p, obj, "pattern", true);
    r->keywords = get_list(p, obj, "keywords", &r->keyword_count);
    parse_numbers(p, obj, r);
    json_t *near = json_object_get(obj, "near");
    if (near != NULL) parse_near(p, near, r);
    json_t *sev = json_object_get(obj, "severity");
    const char *s = json_string_value(sev);
    if (s != NULL && strcmp(s, "block") == 0) r->severity = FINDING_FAIL;
    else if (s != NULL && strcmp(s, "review") == 0) r->severity = FINDING_REVIEW;
    else report(p, "severity", "expected \"block\" or \"review\"");
    json_t *allow = json_object_get(obj, "allowlist");
    if (allow != NULL) parse_allowlist(p, allow, r);
}

static void parse_rules(struct parse *p, json_t *list, rule_file *out)
{
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > RULES_MAX_RULES) {
        report(p, "rules", "expected a list of 1 to %d rules", RULES_MAX_RULES);
        return;
    }
    out->rules = sl_calloc(json_array_size(list), sizeof(*out->rules));
    for (size_t i = 0; i < json_array_size(list); i++) {
        snprintf(p->where, sizeof(p->where), "rules[%zu]", i);
        p->id = NULL;
        rule_def *r = &out->rules[out->count++];
        parse_rule(p, json_array_get(list, i), r);
        for (size_t k = 0; r->id != NULL && k + 1 < out->count; k++) {
            if (out->rules[k].id != NULL && strcmp(out->rules[k].id, r->id) == 0) {
                report(p, "id", "the id is already used by rules[%zu]", k);
                break;
            }
        }
    }
    p->where[0] = '\0';
    p->id = NULL;
}

static void set_version(const char *text, size_t len, rule_file *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(text, len, md, &n, EVP_sha256(), NULL) != 1 || n < 6) {
        snprintf(out->version, sizeof(out->version), "unknown");
        return;
    }
    for (int i = 0; i < 6; i++) snprintf(out->version + 2 * i, 3, "%02x", md[i]);
}

sl_result rules_parse(const char *text, size_t len, const char *name, rule_file *out, rules_errors *errors)
{
    *out = (rule_file){ 0 };
    struct parse p = { .name = name, .errors = errors, .before = errors->count };
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        rules_errors_add(errors, "%s:%d:%d: %s", name, jerr.line, jerr.column, jerr.text);
        RAISE(SL_ERR_PARSE, "%s: not valid JSON", name);
    }
    if (!json_is_object(root)) {
        report(&p, "", "expected an object {\"rules\": [...]}");
    } else {
        static const char *const known[] = { "description", "rules" };
        check_known(&p, root, "", known, 2);
        json_t *d = json_object_get(root, "description");
        if (d != NULL && !json_is_string(d)) report(&p, "description", "expected a string");
        json_t *list = json_object_get(root, "rules");
        if (list == NULL) report(&p, "rules", "missing (expected a list of rules)");
        else parse_rules(&p, list, out);
    }
    json_decref(root);
    out->name = sl_strdup(name);
    set_version(text, len, out);
    if (errors->count > p.before) {
        rule_file_clean_up(out);
        RAISE(SL_ERR_PARSE, "%s: %zu error%s in the rules", name, errors->count - p.before,
              errors->count - p.before == 1 ? "" : "s");
    }
    return SL_SUCCESS;
}

sl_result rules_file_load(const char *path, rule_file *out, rules_errors *errors)
{
    sl_buf text = { 0 };
    if (sl_failed(sl_buf_read_file(&text, path, RULES_FILE_MAX))) {
        rules_errors_add(errors, "%s: %s", path, sl_error_detail());
        sl_buf_clean_up(&text);
        *out = (rule_file){ 0 };
        RAISE(SL_ERR_IO, "%s: cannot read the rules", path);
    }
    sl_result r = rules_parse((const char *)text.data, text.len, path, out, errors);
    sl_buf_clean_up(&text);
    return r;
}
