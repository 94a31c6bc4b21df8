/*
 * gitleaks.c — gitleaks configurations into sluice rules (gitleaks.h). Each rule is
 * translated on its own, then proven by compiling it exactly as the daemon would
 * (rules_parse + rules_db_new): a rule that does not compile is listed with the
 * compiler's reason instead of being written.
 */
#include "checks/gitleaks.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "checks/rules_impl.h"
#include "util/alloc.h"

static void skip(gitleaks_result *r, const char *id, const char *fmt, ...) SL_PRINTF(3, 4);

static void skip(gitleaks_result *r, const char *id, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    r->skipped = sl_realloc(r->skipped, (r->skipped_count + 1) * sizeof(*r->skipped));
    r->skipped[r->skipped_count++] = (gitleaks_skip){ .id = sl_strdup(id), .why = sl_strdup(why) };
}

static void note(gitleaks_result *r, const char *text)
{
    r->notes = sl_realloc(r->notes, (r->note_count + 1) * sizeof(*r->notes));
    r->notes[r->note_count++] = sl_strdup(text);
}

static void note_rule(gitleaks_result *r, const char *id, const char *text)
{
    char line[300];
    snprintf(line, sizeof(line), "%.64s: %s", id, text);
    note(r, line);
}

void gitleaks_result_clean_up(gitleaks_result *r)
{
    if (r == NULL) return;
    json_decref(r->rules_doc);
    for (size_t i = 0; i < r->skipped_count; i++) {
        sl_free(r->skipped[i].id);
        sl_free(r->skipped[i].why);
    }
    sl_free(r->skipped);
    for (size_t i = 0; i < r->note_count; i++) sl_free(r->notes[i]);
    sl_free(r->notes);
    *r = (gitleaks_result){ 0 };
}

/* gitleaks ids are free text; ours are [a-z0-9][a-z0-9._-]{0,63}. */
static void sluice_id(const char *given, char out[65])
{
    size_t n = 0;
    for (const char *p = given; *p && n < 64; p++) {
        char c = (char)tolower((unsigned char)*p);
        out[n++] = (isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-') ? c : '-';
    }
    out[n] = '\0';
    if (n == 0 || !isalnum((unsigned char)out[0])) out[0] = 'r';
    if (n == 0) out[1] = '\0';
}

static void append_strings(json_t *target, const char *key, json_t *list)
{
    if (!json_is_array(list) || json_array_size(list) == 0) return;
    json_t *into = json_object_get(target, key);
    if (into == NULL) {
        into = json_array();
        json_object_set_new(target, key, into);
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (json_is_string(v) && json_string_length(v) > 0) json_array_append(into, v);
}

/* Adds one gitleaks allowlist to `allow`; NULL or the reason it cannot be. */
static const char *add_allowlist(json_t *allow, json_t *gl)
{
    if (!json_is_object(gl)) return "an allowlist that is not a table";
    const char *target = json_string_value(json_object_get(gl, "regexTarget"));
    if (target != NULL && strcmp(target, "secret") != 0) return "an allowlist whose regexTarget is not the secret";
    json_t *regexes = json_object_get(gl, "regexes"), *paths = json_object_get(gl, "paths"),
           *stop = json_object_get(gl, "stopwords");
    int parts = (json_array_size(regexes) > 0) + (json_array_size(paths) > 0) + (json_array_size(stop) > 0);
    const char *condition = json_string_value(json_object_get(gl, "condition"));
    if (condition != NULL && strcmp(condition, "AND") == 0 && parts > 1) return "an AND allowlist";
    append_strings(allow, "patterns", regexes);
    append_strings(allow, "paths", paths);
    append_strings(allow, "stopwords", stop);
    return NULL;
}

/* Every allowlist of a table: "allowlist" (one) and "allowlists" (several). */
static const char *add_allowlists(json_t *allow, json_t *owner)
{
    json_t *one = json_object_get(owner, "allowlist");
    if (one != NULL) {
        const char *why = add_allowlist(allow, one);
        if (why) return why;
    }
    json_t *many = json_object_get(owner, "allowlists");
    if (many != NULL && !json_is_array(many)) return "allowlists that are not an array of tables";
    size_t i;
    json_t *v;
    json_array_foreach(many, i, v) {
        const char *why = add_allowlist(allow, v);
        if (why) return why;
    }
    return NULL;
}

/* Whether the rule compiles as sluice would compile it; why not in `why`. */
static bool compiles(json_t *rule, char *why, size_t why_size)
{
    json_t *doc = json_pack("{s:[O]}", "rules", rule);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    rule_file f = { 0 };
    rules_errors errors = { 0 };
    rules_db *db = NULL;
    const rule_file *files[] = { &f };
    bool ok = text != NULL && sl_ok(rules_parse(text, strlen(text), "import", &f, &errors)) &&
              sl_ok(rules_db_new(files, 1, NULL, &db, &errors));
    if (!ok) {
        const char *first = errors.count > 0 ? errors.items[0] : "it does not convert";
        const char *colon = strstr(first, ": ");
        const char *reason = first;
        if (colon != NULL && (colon = strstr(colon + 2, ": ")) != NULL) reason = colon + 2; /* drop "import: rule x: " */
        snprintf(why, why_size, "%s", reason);
    }
    rules_db_destroy(db);
    rule_file_clean_up(&f);
    checks_errors_clean_up(&errors);
    free(text);
    return ok;
}

static int capture_groups(const char *regex)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (re == NULL) return 0;
    uint32_t n = 0;
    (void)pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &n);
    pcre2_code_free(re);
    return (int)n;
}

#define BOUND 256

/* gitleaks patterns often repeat without a limit (\s*, [a-z]+); sluice confirms on a
 * bounded window, so * + and {n,} outside character classes become {0,256}, {1,256}
 * and {n,max(n,256)}. True when something was rewritten. */
static bool bound_quantifiers(const char *re, sl_buf *out)
{
    bool changed = false, in_class = false;
    for (size_t i = 0; re[i]; i++) {
        char c = re[i];
        if (c == '\\' && re[i + 1]) {
            if (sl_failed(sl_buf_append(out, re + i, 2))) return changed;
            i++;
            continue;
        }
        if (in_class) {
            if (c == ']') in_class = false;
        } else if (c == '[') {
            in_class = true;
            if (sl_failed(sl_buf_append_byte(out, (uint8_t)c))) return changed;
            for (const char *lead = "^]"; *lead; lead++) {
                if (re[i + 1] != *lead) continue;
                i++;
                if (sl_failed(sl_buf_append_byte(out, (uint8_t)*lead))) return changed;
            }
            continue;
        } else if ((c == '*' || c == '+') && i > 0 && re[i - 1] != '(' && !(c == '+' && strchr("*+?}", re[i - 1]))) {
            if (sl_failed(sl_buf_appendf(out, "{%d,%d}", c == '*' ? 0 : 1, BOUND))) return changed;
            changed = true;
            continue;
        } else if (c == '{') {
            unsigned n = 0;
            int used = 0;
            if (sscanf(re + i, "{%u,}%n", &n, &used) == 1 && used > 0) {
                if (sl_failed(sl_buf_appendf(out, "{%u,%u}", n, n > BOUND ? n : BOUND))) return changed;
                i += (size_t)used - 1;
                changed = true;
                continue;
            }
        }
        if (sl_failed(sl_buf_append_byte(out, (uint8_t)c))) return changed;
    }
    return changed;
}

static const char *const known_keys[] = { "id", "description", "regex", "secretGroup", "entropy", "keywords",
                                          "tags", "allowlist", "allowlists", "path", "required" };

static const char *unknown_key(json_t *gl)
{
    const char *key;
    json_t *v;
    json_object_foreach(gl, key, v) {
        size_t i = 0;
        while (i < sizeof(known_keys) / sizeof(known_keys[0]) && strcmp(known_keys[i], key) != 0) i++;
        if (i == sizeof(known_keys) / sizeof(known_keys[0])) return key;
    }
    return NULL;
}

/* One gitleaks rule; NULL (and a skip) when it cannot be translated. */
static json_t *translate(gitleaks_result *r, json_t *gl, json_t *global_allow, const char *severity, size_t index)
{
    char fallback[32], id[65];
    snprintf(fallback, sizeof(fallback), "rules[%zu]", index);
    const char *given = json_string_value(json_object_get(gl, "id"));
    if (!json_is_object(gl) || given == NULL || given[0] == '\0') {
        skip(r, fallback, "no id");
        return NULL;
    }
    sluice_id(given, id);
    const char *regex = json_string_value(json_object_get(gl, "regex"));
    const char *unknown = unknown_key(gl);
    if (unknown != NULL) return skip(r, given, "an unknown key \"%.60s\"", unknown), NULL;
    if (json_object_get(gl, "required") != NULL) return skip(r, given, "a composite rule ([[rules.required]])"), NULL;
    if (regex == NULL || regex[0] == '\0') return skip(r, given, "no regex (a rule on file paths only)"), NULL;
    if (json_object_get(gl, "path") != NULL)
        return skip(r, given, "limited to files matching a path (sluice applies a rule to every object)"), NULL;
    sl_buf bounded = { 0 };
    if (bound_quantifiers(regex, &bounded))
        note_rule(r, given, "unbounded repetitions became at most 256 (matches are confirmed on a bounded window)");
    json_t *rule = json_pack("{s:s, s:s}", "id", id, "pattern", bounded.len ? sl_buf_cstr(&bounded) : regex);
    sl_buf_clean_up(&bounded);
    const char *desc = json_string_value(json_object_get(gl, "description"));
    if (desc != NULL && desc[0] != '\0') json_object_set_new(rule, "description", json_string(desc));
    json_t *group = json_object_get(gl, "secretGroup");
    int groups = capture_groups(regex);
    if (json_is_integer(group)) json_object_set_new(rule, "secret_group", json_integer(json_integer_value(group)));
    else if (groups > 0) json_object_set_new(rule, "secret_group", json_integer(1));
    json_t *entropy = json_object_get(gl, "entropy");
    if (json_is_number(entropy) && json_number_value(entropy) > 0)
        json_object_set_new(rule, "entropy", json_real(json_number_value(entropy) > 8 ? 8 : json_number_value(entropy)));
    json_t *keywords = json_object_get(gl, "keywords");
    if (json_is_array(keywords) && json_array_size(keywords) > 0) append_strings(rule, "keywords", keywords);
    json_object_set_new(rule, "severity", json_string(severity));
    json_t *allow = json_deep_copy(global_allow);
    const char *why = add_allowlists(allow, gl);
    if (why != NULL) {
        skip(r, given, "%s", why);
        json_decref(allow);
        json_decref(rule);
        return NULL;
    }
    if (json_object_size(allow) > 0) json_object_set_new(rule, "allowlist", allow);
    else json_decref(allow);
    char reason[400];
    if (!compiles(rule, reason, sizeof(reason))) {
        skip(r, given, "%s", reason);
        json_decref(rule);
        return NULL;
    }
    return rule;
}

sl_result gitleaks_convert(json_t *config, const char *severity, gitleaks_result *out)
{
    *out = (gitleaks_result){ 0 };
    json_t *rules = json_object_get(config, "rules");
    ENSURE(json_is_array(rules), SL_ERR_PARSE, "not a gitleaks configuration: no [[rules]]");
    json_t *global_allow = json_object();
    const char *why = add_allowlists(global_allow, config);
    if (why != NULL) {
        char text[200];
        snprintf(text, sizeof(text), "the global allowlist is not translated (%s): rules may find more than in gitleaks",
                 why);
        note(out, text);
        json_object_clear(global_allow);
    }
    if (json_object_get(config, "extend") != NULL)
        note(out, "[extend] is not followed: gitleaks' own default rules are not included");
    json_t *list = json_array();
    size_t i;
    json_t *gl;
    json_array_foreach(rules, i, gl) {
        json_t *rule = translate(out, gl, global_allow, severity, i);
        if (rule == NULL) continue;
        /* two gitleaks ids may become one of ours */
        size_t k;
        json_t *other;
        bool duplicate = false;
        json_array_foreach(list, k, other) duplicate = duplicate || json_equal(json_object_get(other, "id"),
                                                                                json_object_get(rule, "id"));
        if (duplicate) {
            skip(out, json_string_value(json_object_get(rule, "id")), "its id is the same as an earlier rule's");
            json_decref(rule);
            continue;
        }
        json_array_append_new(list, rule);
    }
    json_decref(global_allow);
    out->translated = json_array_size(list);
    const char *title = json_string_value(json_object_get(config, "title"));
    out->rules_doc = json_pack("{s:s, s:o}", "description", title ? title : "imported from a gitleaks configuration",
                               "rules", list);
    return SL_SUCCESS;
}
