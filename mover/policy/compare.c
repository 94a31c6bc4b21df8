/*
 * compare.c — policy_compare of compare.h.
 *
 * Each statement field is first turned into a sorted list of strings in one canonical
 * form (a "set"): Action "s3:getobject" (case folded), Principal "AWS arn:…", Condition
 * "StringLike s3:x-amz-server-side-encryption-customer-algorithm *" (key case folded),
 * Resource as written. Two statements match when every field's sets are equal; each
 * field that differs becomes one line naming what the live one lacks and what it has
 * in addition. Statements are paired by Sid.
 */
#include "policy/compare.h"

#include <ctype.h>
#include <strings.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"

/* ---- the lines ---- */

void policy_diffs_add(policy_diffs *d, const char *fmt, ...)
{
    if (d->count > POLICY_COMPARE_MAX_DIFFS) return;
    char line[POLICY_COMPARE_MAX_LINE + 1];
    if (d->count == POLICY_COMPARE_MAX_DIFFS) {
        snprintf(line, sizeof(line), "… and more differences (only the first %d are listed)", POLICY_COMPARE_MAX_DIFFS);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        for (char *p = line; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    }
    d->lines = sl_realloc(d->lines, (d->count + 1) * sizeof(*d->lines));
    d->lines[d->count++] = sl_strdup(line);
}

void policy_diffs_clean_up(policy_diffs *d)
{
    if (d == NULL) return;
    for (size_t i = 0; i < d->count; i++) sl_free(d->lines[i]);
    sl_free(d->lines);
    *d = (policy_diffs){ 0 };
}

/* ---- canonical sets ---- */

struct set {
    char **items;
    size_t count;
    bool fold;      /* members compare without regard to case (actions) */
    bool malformed; /* the field had a type IAM does not accept */
};

static int member_cmp(const struct set *s, const char *a, const char *b)
{
    return s->fold ? strcasecmp(a, b) : strcmp(a, b);
}

static void set_clean_up(struct set *s)
{
    for (size_t i = 0; i < s->count; i++) sl_free(s->items[i]);
    sl_free(s->items);
    *s = (struct set){ 0 };
}

static void set_add(struct set *s, const char *a, const char *b, const char *c, bool fold)
{
    sl_buf text = { 0 };
    bool ok = sl_ok(sl_buf_append_cstr(&text, a));
    if (ok && b) ok = sl_ok(sl_buf_appendf(&text, " %s", b));
    if (ok && c) ok = sl_ok(sl_buf_appendf(&text, " %s", c));
    if (!ok) {
        s->malformed = true;
        sl_buf_clean_up(&text);
        return;
    }
    char *item = sl_buf_steal(&text);
    s->fold = fold;
    for (size_t i = 0; i < s->count; i++) {
        if (member_cmp(s, s->items[i], item) == 0) { /* a duplicate: one member */
            sl_free(item);
            return;
        }
    }
    s->items = sl_realloc(s->items, (s->count + 1) * sizeof(*s->items));
    s->items[s->count++] = item;
}

static int by_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int by_text_folded(const void *a, const void *b) { return strcasecmp(*(char *const *)a, *(char *const *)b); }

static void set_sort(struct set *s)
{
    if (s->count > 1) qsort(s->items, s->count, sizeof(*s->items), s->fold ? by_text_folded : by_text);
}

/* A scalar condition value as text (IAM takes "true" and true alike). */
static const char *scalar_text(json_t *v, char buf[64])
{
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_true(v)) return "true";
    if (json_is_false(v)) return "false";
    if (json_is_integer(v)) {
        snprintf(buf, 64, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

/* A string or an array of strings (Action, Resource, principal lists). */
static void add_strings(struct set *s, json_t *v, const char *prefix, bool fold)
{
    if (json_is_string(v)) {
        set_add(s, prefix ? prefix : json_string_value(v), prefix ? json_string_value(v) : NULL, NULL, fold);
        return;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        s->malformed = true;
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            s->malformed = true;
            continue;
        }
        set_add(s, prefix ? prefix : json_string_value(e), prefix ? json_string_value(e) : NULL, NULL, fold);
    }
}

static void principal_set(struct set *s, json_t *v)
{
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "*") == 0) set_add(s, "AWS", "*", NULL, false);
        else s->malformed = true;
        return;
    }
    if (!json_is_object(v)) {
        s->malformed = true;
        return;
    }
    const char *kind;
    json_t *list;
    json_object_foreach(v, kind, list) add_strings(s, list, kind, false);
}

static void condition_set(struct set *s, json_t *v)
{
    if (!json_is_object(v)) {
        s->malformed = true;
        return;
    }
    const char *op;
    json_t *keys;
    json_object_foreach(v, op, keys) {
        if (!json_is_object(keys)) {
            s->malformed = true;
            continue;
        }
        const char *key;
        json_t *values;
        json_object_foreach(keys, key, values) {
            char folded[256];
            snprintf(folded, sizeof(folded), "%s", key);
            for (char *p = folded; *p; p++) *p = (char)tolower((unsigned char)*p);
            char buf[64];
            if (json_is_array(values)) {
                size_t i;
                json_t *e;
                json_array_foreach(values, i, e) {
                    const char *text = scalar_text(e, buf);
                    if (text) set_add(s, op, folded, text, false);
                    else s->malformed = true;
                }
                if (json_array_size(values) == 0) s->malformed = true;
            } else {
                const char *text = scalar_text(values, buf);
                if (text) set_add(s, op, folded, text, false);
                else s->malformed = true;
            }
        }
    }
}

/* ---- statements ---- */

enum field_kind { K_TEXT, K_STRINGS, K_STRINGS_FOLDED, K_PRINCIPAL, K_CONDITION };

static const struct {
    const char *name;
    enum field_kind kind;
} fields[] = {
    { "Effect", K_TEXT },           { "Principal", K_PRINCIPAL },  { "NotPrincipal", K_PRINCIPAL },
    { "Action", K_STRINGS_FOLDED }, { "NotAction", K_STRINGS_FOLDED }, { "Resource", K_STRINGS },
    { "NotResource", K_STRINGS },   { "Condition", K_CONDITION },
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static void field_set(json_t *statement, size_t f, struct set *out)
{
    *out = (struct set){ 0 };
    json_t *v = json_object_get(statement, fields[f].name);
    if (v == NULL) return;
    switch (fields[f].kind) {
    case K_TEXT:
        if (json_is_string(v)) set_add(out, json_string_value(v), NULL, NULL, false);
        else out->malformed = true;
        break;
    case K_STRINGS: add_strings(out, v, NULL, false); break;
    case K_STRINGS_FOLDED: add_strings(out, v, NULL, true); break;
    case K_PRINCIPAL: principal_set(out, v); break;
    case K_CONDITION: condition_set(out, v); break;
    }
    set_sort(out);
}

/* "a, b, c" of the members of `a` that are not in `b`, cut to fit. */
static void missing_from(const struct set *a, const struct set *b, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->count; i++) {
        bool found = false;
        for (size_t j = 0; j < b->count && !found; j++) found = member_cmp(a, a->items[i], b->items[j]) == 0;
        if (found) continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", a->items[i]);
        if (n < 0 || (size_t)n >= size - used) {
            if (size > 4) memcpy(out + size - 4, "...", 4);
            return;
        }
        used += (size_t)n;
    }
}

static void compare_statement(const char *sid, json_t *expected, json_t *live, policy_diffs *d)
{
    for (size_t f = 0; f < FIELD_COUNT; f++) {
        struct set want, got;
        field_set(expected, f, &want);
        field_set(live, f, &got);
        if (got.malformed) {
            policy_diffs_add(d, "statement \"%s\": %s is not what IAM accepts", sid, fields[f].name);
        } else {
            char lacks[256], extra[256];
            missing_from(&want, &got, lacks, sizeof(lacks));
            missing_from(&got, &want, extra, sizeof(extra));
            if (lacks[0] && extra[0])
                policy_diffs_add(d, "statement \"%s\": %s lacks %s; has %s instead", sid, fields[f].name, lacks, extra);
            else if (lacks[0] && got.count == 0)
                policy_diffs_add(d, "statement \"%s\": has no %s (expected %s)", sid, fields[f].name, lacks);
            else if (lacks[0])
                policy_diffs_add(d, "statement \"%s\": %s lacks %s", sid, fields[f].name, lacks);
            else if (extra[0])
                policy_diffs_add(d, "statement \"%s\": %s has %s in addition", sid, fields[f].name, extra);
        }
        set_clean_up(&want);
        set_clean_up(&got);
    }
    const char *key;
    json_t *value;
    json_object_foreach(live, key, value) {
        bool known = strcmp(key, "Sid") == 0;
        for (size_t f = 0; f < FIELD_COUNT && !known; f++) known = strcmp(key, fields[f].name) == 0;
        if (!known) policy_diffs_add(d, "statement \"%s\": an unexpected field \"%.64s\"", sid, key);
    }
}

/* A short description of a statement that is not expected: its effect, actions and
 * principals. */
static void describe(json_t *s, char *out, size_t size)
{
    struct set actions, principals;
    field_set(s, 3, &actions);
    field_set(s, 1, &principals);
    char a[120] = "", p[120] = "";
    struct set none = { 0 };
    missing_from(&actions, &none, a, sizeof(a));
    missing_from(&principals, &none, p, sizeof(p));
    const char *effect = json_string_value(json_object_get(s, "Effect"));
    snprintf(out, size, "%.16s %s to %s", effect ? effect : "?", a[0] ? a : "(no Action)", p[0] ? p : "(no Principal)");
    set_clean_up(&actions);
    set_clean_up(&principals);
}

static const char *sid_of(json_t *s)
{
    const char *sid = json_is_object(s) ? json_string_value(json_object_get(s, "Sid")) : NULL;
    return sid && sid[0] ? sid : NULL;
}

sl_result policy_compare(sl_cursor expected_text, sl_cursor live_text, policy_diffs *d)
{
    ENSURE(d != NULL, SL_ERR_INVALID_ARGUMENT, "policy_compare: no result");
    json_error_t err;
    json_t *expected = json_loadb((const char *)expected_text.ptr, expected_text.len, JSON_REJECT_DUPLICATES, &err);
    json_t *want = json_object_get(expected, "Statement");
    if (!json_is_array(want)) {
        json_decref(expected);
        RAISE(SL_ERR_INVALID_ARGUMENT, "policy_compare: the expected document does not parse: %s", err.text);
    }
    if (live_text.len > POLICY_COMPARE_MAX_BYTES) {
        policy_diffs_add(d, "the policy is %zu bytes, more than %zu: not a policy sluice wrote", live_text.len,
                         POLICY_COMPARE_MAX_BYTES);
        json_decref(expected);
        return SL_SUCCESS;
    }
    json_t *live = json_loadb((const char *)live_text.ptr, live_text.len, JSON_REJECT_DUPLICATES, &err);
    json_t *got = json_object_get(live, "Statement");
    if (json_is_object(got)) { /* IAM accepts one statement without the array */
        json_t *wrapped = json_array();
        json_array_append(wrapped, got);
        json_object_set_new(live, "Statement", wrapped);
        got = wrapped;
    }
    if (!json_is_object(live) || !json_is_array(got)) {
        policy_diffs_add(d, "the policy is not a JSON object with a Statement list (%s)",
                         live ? "no Statement" : err.text);
        json_decref(live);
        json_decref(expected);
        return SL_SUCCESS;
    }
    const char *version = json_string_value(json_object_get(live, "Version"));
    const char *want_version = json_string_value(json_object_get(expected, "Version"));
    if (version == NULL || want_version == NULL || strcmp(version, want_version) != 0)
        policy_diffs_add(d, "Version is %s%.32s%s, expected \"%s\"", version ? "\"" : "", version ? version : "missing",
                         version ? "\"" : "", want_version ? want_version : "?");
    size_t n = json_array_size(got);
    if (n > POLICY_COMPARE_MAX_STATEMENTS) {
        policy_diffs_add(d, "the policy has %zu statements, more than %d: not a policy sluice wrote", n,
                         POLICY_COMPARE_MAX_STATEMENTS);
        json_decref(live);
        json_decref(expected);
        return SL_SUCCESS;
    }
    bool *used = sl_calloc(n ? n : 1, sizeof(bool));
    size_t i;
    json_t *s;
    json_array_foreach(want, i, s) {
        const char *sid = sid_of(s);
        size_t match = n, matches = 0;
        for (size_t j = 0; j < n; j++) {
            const char *other = sid_of(json_array_get(got, j));
            if (sid && other && strcmp(sid, other) == 0) {
                if (matches++ == 0) match = j;
                used[j] = true;
            }
        }
        if (matches == 0) policy_diffs_add(d, "statement \"%s\" is missing", sid ? sid : "?");
        else if (matches > 1) policy_diffs_add(d, "statement \"%s\" is there %zu times", sid, matches);
        else compare_statement(sid, s, json_array_get(got, match), d);
    }
    for (size_t j = 0; j < n; j++) {
        if (used[j]) continue;
        json_t *extra = json_array_get(got, j);
        char what[300];
        if (!json_is_object(extra)) {
            policy_diffs_add(d, "an extra Statement element that is not an object");
            continue;
        }
        describe(extra, what, sizeof(what));
        const char *sid = sid_of(extra);
        if (sid) policy_diffs_add(d, "an extra statement \"%.80s\" (%s)", sid, what);
        else policy_diffs_add(d, "an extra statement without a Sid (%s)", what);
    }
    sl_free(used);
    json_decref(live);
    json_decref(expected);
    return SL_SUCCESS;
}
