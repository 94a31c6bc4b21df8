/*
 * toml.c — a TOML 1.0 reader into a jansson tree (toml.h). Recursive descent over the
 * text with the line and column of every error; the spec's sections are cited where
 * the code follows them (toml.io/en/v1.0.0). Tables defined by a header are marked, so
 * a second [same] is an error; inline tables and arrays of values are sealed (nothing
 * may be added to them later); arrays of tables ([[x]]) grow by one table each header.
 */
#include "checks/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"

#define DEPTH_MAX 64

struct marks {
    const json_t **items;
    size_t count;
};

struct parser {
    const char *p, *end;
    int line;
    const char *line_start;
    char *why;
    size_t why_size;
    bool failed;
    int depth;
    struct marks defined; /* tables defined by a [header] */
    struct marks sealed;  /* inline tables and static arrays */
    struct marks aot;     /* arrays made by [[header]] */
};

static void error_at(struct parser *ps, const char *fmt, ...) SL_PRINTF(2, 3);

static void error_at(struct parser *ps, const char *fmt, ...)
{
    if (ps->failed) return;
    ps->failed = true;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(ps->why, ps->why_size, "%d:%d: %s", ps->line, (int)(ps->p - ps->line_start) + 1, what);
}

static void mark(struct marks *m, const json_t *v)
{
    if (m->count % 32 == 0) m->items = sl_realloc(m->items, (m->count + 32) * sizeof(*m->items));
    m->items[m->count++] = v;
}

static bool marked(const struct marks *m, const json_t *v)
{
    for (size_t i = 0; i < m->count; i++)
        if (m->items[i] == v) return true;
    return false;
}

static bool at_end(const struct parser *ps) { return ps->p >= ps->end; }
static char peek(const struct parser *ps) { return at_end(ps) ? '\0' : *ps->p; }
static bool starts(const struct parser *ps, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

static void advance(struct parser *ps, size_t n)
{
    for (size_t i = 0; i < n && !at_end(ps); i++) {
        if (*ps->p == '\n') {
            ps->line++;
            ps->line_start = ps->p + 1;
        }
        ps->p++;
    }
}

static void skip_blanks(struct parser *ps)
{
    while (peek(ps) == ' ' || peek(ps) == '\t') advance(ps, 1);
}

/* A comment runs to the end of the line; control characters other than tab are not
 * allowed in it (spec "Comment"). */
static void skip_comment(struct parser *ps)
{
    if (peek(ps) != '#') return;
    while (!at_end(ps) && *ps->p != '\n') {
        unsigned char c = (unsigned char)*ps->p;
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
            error_at(ps, "control character in a comment");
            return;
        }
        advance(ps, 1);
    }
}

/* Blanks, newlines and comments (inside arrays, between statements). */
static void skip_space(struct parser *ps)
{
    for (;;) {
        skip_blanks(ps);
        if (peek(ps) == '#') skip_comment(ps);
        if (peek(ps) == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n') advance(ps, 1);
        if (peek(ps) == '\n') {
            advance(ps, 1);
            continue;
        }
        return;
    }
}

/* After a statement: blanks, an optional comment, then a newline or the end. */
static void end_of_line(struct parser *ps)
{
    skip_blanks(ps);
    skip_comment(ps);
    if (peek(ps) == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n') advance(ps, 1);
    if (at_end(ps)) return;
    if (peek(ps) != '\n') error_at(ps, "expected the end of the line");
    else advance(ps, 1);
}

/* ---- strings (spec "String") ---- */

static bool append_utf8(sl_buf *out, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) b[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800) b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
        b[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
    else
        b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f)),
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f)), n = 4;
    return sl_ok(sl_buf_append(out, b, n));
}

static bool escape(struct parser *ps, sl_buf *out)
{
    advance(ps, 1); /* the backslash */
    char c = peek(ps);
    const char *simple = "btnfr\"\\";
    const char *value = "\b\t\n\f\r\"\\";
    const char *hit = c ? strchr(simple, c) : NULL;
    if (hit != NULL) {
        advance(ps, 1);
        return sl_ok(sl_buf_append_byte(out, (uint8_t)value[hit - simple]));
    }
    if (c == 'u' || c == 'U') {
        int digits = c == 'u' ? 4 : 8;
        advance(ps, 1);
        uint32_t cp = 0;
        for (int i = 0; i < digits; i++) {
            char h = peek(ps);
            int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (v < 0) {
                error_at(ps, "expected %d hexadecimal digits after \\%c", digits, c);
                return false;
            }
            cp = cp * 16 + (uint32_t)v;
            advance(ps, 1);
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            error_at(ps, "\\%c escape is not a Unicode scalar value", c);
            return false;
        }
        return append_utf8(out, cp);
    }
    error_at(ps, "unknown escape \\%c", c ? c : '?');
    return false;
}

static bool string_char_ok(unsigned char c, bool multi)
{
    if (c == '\t') return true;
    if (multi && (c == '\n' || c == '\r')) return true;
    return !(c < 0x20 || c == 0x7f);
}

/* Reads a basic or literal string (single- or multi-line) into out. */
static bool read_string(struct parser *ps, sl_buf *out)
{
    char q = peek(ps);
    bool literal = q == '\'';
    bool multi = starts(ps, literal ? "'''" : "\"\"\"");
    const char *close = literal ? (multi ? "'''" : "'") : (multi ? "\"\"\"" : "\"");
    advance(ps, multi ? 3 : 1);
    if (multi && peek(ps) == '\n') advance(ps, 1); /* a newline right after the opening is trimmed */
    else if (multi && starts(ps, "\r\n")) advance(ps, 2);
    for (;;) {
        if (at_end(ps)) {
            error_at(ps, "unterminated string");
            return false;
        }
        if (starts(ps, close)) {
            if (multi) { /* up to two quotes may close the content ("""a"""" is a"") */
                size_t extra = 0;
                while (extra < 2 && ps->p + 3 + extra < ps->end && ps->p[3 + extra] == q) extra++;
                for (size_t i = 0; i < extra; i++)
                    if (sl_failed(sl_buf_append_byte(out, (uint8_t)q))) return false;
                advance(ps, extra);
            }
            advance(ps, strlen(close));
            return true;
        }
        unsigned char c = (unsigned char)peek(ps);
        if (!literal && c == '\\') {
            if (multi) { /* a line-ending backslash trims the newline and following blanks */
                const char *t = ps->p + 1;
                while (t < ps->end && (*t == ' ' || *t == '\t')) t++;
                if (t < ps->end && (*t == '\n' || *t == '\r')) {
                    advance(ps, (size_t)(t - ps->p));
                    skip_space(ps);
                    continue;
                }
            }
            if (!escape(ps, out)) return false;
            continue;
        }
        if (!string_char_ok(c, multi)) {
            error_at(ps, "control character in a string");
            return false;
        }
        if (sl_failed(sl_buf_append_byte(out, c))) return false;
        advance(ps, 1);
    }
}

static json_t *string_value(struct parser *ps)
{
    sl_buf s = { 0 };
    json_t *v = NULL;
    if (read_string(ps, &s)) {
        v = json_stringn((const char *)s.data ? (const char *)s.data : "", s.len);
        if (v == NULL) error_at(ps, "the string is not valid UTF-8");
    }
    sl_buf_clean_up(&s);
    return v;
}

/* ---- keys (spec "Keys") ---- */

static bool bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One key part into out (NUL-terminated). */
static bool key_part(struct parser *ps, sl_buf *out)
{
    sl_buf_reset(out);
    char c = peek(ps);
    if (c == '"' || c == '\'') {
        if (starts(ps, "\"\"\"") || starts(ps, "'''")) {
            error_at(ps, "a key cannot be a multi-line string");
            return false;
        }
        if (!read_string(ps, out)) return false;
        if (out->len > 0 && memchr(out->data, '\0', out->len) != NULL) {
            error_at(ps, "NUL in a key");
            return false;
        }
        return true;
    }
    while (bare_key_char(peek(ps))) {
        if (sl_failed(sl_buf_append_byte(out, (uint8_t)peek(ps)))) return false;
        advance(ps, 1);
    }
    if (out->len == 0) {
        error_at(ps, "expected a key");
        return false;
    }
    return true;
}

/* A dotted key: parts[0..*count). */
static bool read_key(struct parser *ps, sl_buf *parts, size_t max, size_t *count)
{
    *count = 0;
    for (;;) {
        skip_blanks(ps);
        if (*count == max) {
            error_at(ps, "a key of more than %zu parts", max);
            return false;
        }
        if (!key_part(ps, &parts[(*count)++])) return false;
        skip_blanks(ps);
        if (peek(ps) != '.') return true;
        advance(ps, 1);
    }
}

/* ---- values ---- */

static json_t *value(struct parser *ps);

static json_t *number_value(struct parser *ps)
{
    const char *start = ps->p;
    while (!at_end(ps) && (bare_key_char(*ps->p) || *ps->p == '+' || *ps->p == '.' || *ps->p == ':')) advance(ps, 1);
    size_t n = (size_t)(ps->p - start);
    char text[80];
    if (n == 0 || n >= sizeof(text)) {
        error_at(ps, "expected a value");
        return NULL;
    }
    memcpy(text, start, n);
    text[n] = '\0';
    if (strcmp(text, "true") == 0) return json_true();
    if (strcmp(text, "false") == 0) return json_false();
    if (strchr(text, ':') != NULL || (n >= 10 && text[4] == '-' && text[7] == '-')) {
        error_at(ps, "dates and times are not supported");
        return NULL;
    }
    const char *t = text;
    if (strcmp(t, "inf") == 0 || strcmp(t, "+inf") == 0 || strcmp(t, "-inf") == 0 || strstr(t, "nan") != NULL) {
        error_at(ps, "inf and nan have no JSON form");
        return NULL;
    }
    /* underscores only between digits */
    char clean[80];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '_') {
            bool ok = i > 0 && i + 1 < n && ((text[i - 1] >= '0' && text[i - 1] <= '9') || (text[i - 1] >= 'a' && text[i - 1] <= 'f') || (text[i - 1] >= 'A' && text[i - 1] <= 'F')) &&
                      ((text[i + 1] >= '0' && text[i + 1] <= '9') || (text[i + 1] >= 'a' && text[i + 1] <= 'f') || (text[i + 1] >= 'A' && text[i + 1] <= 'F'));
            if (!ok) {
                error_at(ps, "misplaced \"_\" in a number");
                return NULL;
            }
            continue;
        }
        clean[k++] = text[i];
    }
    clean[k] = '\0';
    char *stop = NULL;
    int base = 10;
    const char *digits = clean;
    if (clean[0] == '0' && (clean[1] == 'x' || clean[1] == 'o' || clean[1] == 'b')) {
        base = clean[1] == 'x' ? 16 : clean[1] == 'o' ? 8 : 2;
        digits = clean + 2;
    }
    bool is_float = base == 10 && strpbrk(clean, ".eE") != NULL;
    if (is_float) {
        double d = strtod(clean, &stop);
        if (*stop != '\0' || !isfinite(d) || clean[0] == '.' || clean[k - 1] == '.') {
            error_at(ps, "not a number: %s", text);
            return NULL;
        }
        return json_real(d);
    }
    if (*digits == '\0' || *digits == '+' || *digits == '-') {
        error_at(ps, "not a number: %s", text);
        return NULL;
    }
    errno = 0;
    long long v = strtoll(digits, &stop, base);
    if (*stop != '\0' || errno != 0 || (base == 10 && clean[0] == '0' && clean[1] != '\0') ||
        (base == 10 && (clean[0] == '+' || clean[0] == '-') && clean[1] == '0' && clean[2] != '\0')) {
        error_at(ps, "not a number: %s", text);
        return NULL;
    }
    return json_integer(v);
}

static json_t *array_value(struct parser *ps)
{
    advance(ps, 1); /* [ */
    json_t *a = json_array();
    mark(&ps->sealed, a);
    for (;;) {
        skip_space(ps);
        if (ps->failed) break;
        if (peek(ps) == ']') {
            advance(ps, 1);
            return a;
        }
        json_t *v = value(ps);
        if (v == NULL) break;
        json_array_append_new(a, v);
        skip_space(ps);
        if (peek(ps) == ',') {
            advance(ps, 1);
            continue;
        }
        if (peek(ps) == ']') continue;
        error_at(ps, "expected \",\" or \"]\" in an array");
        break;
    }
    json_decref(a);
    return NULL;
}

static bool assign(struct parser *ps, json_t *table, sl_buf *parts, size_t count, json_t *v);

static json_t *inline_table(struct parser *ps)
{
    advance(ps, 1); /* { */
    json_t *t = json_object();
    skip_blanks(ps);
    if (peek(ps) == '}') {
        advance(ps, 1);
        mark(&ps->sealed, t);
        return t;
    }
    sl_buf parts[16] = { 0 };
    for (;;) {
        size_t count = 0;
        if (!read_key(ps, parts, 16, &count)) break;
        if (peek(ps) != '=') {
            error_at(ps, "expected \"=\" after a key");
            break;
        }
        advance(ps, 1);
        skip_blanks(ps);
        json_t *v = value(ps);
        if (v == NULL || !assign(ps, t, parts, count, v)) break;
        skip_blanks(ps);
        if (peek(ps) == ',') {
            advance(ps, 1);
            continue;
        }
        if (peek(ps) == '}') {
            advance(ps, 1);
            for (size_t i = 0; i < 16; i++) sl_buf_clean_up(&parts[i]);
            mark(&ps->sealed, t);
            return t;
        }
        error_at(ps, "expected \",\" or \"}\" in an inline table");
        break;
    }
    for (size_t i = 0; i < 16; i++) sl_buf_clean_up(&parts[i]);
    json_decref(t);
    return NULL;
}

static json_t *value(struct parser *ps)
{
    if (++ps->depth > DEPTH_MAX) {
        error_at(ps, "nested deeper than %d", DEPTH_MAX);
        ps->depth--;
        return NULL;
    }
    json_t *v;
    char c = peek(ps);
    if (c == '"' || c == '\'') v = string_value(ps);
    else if (c == '[') v = array_value(ps);
    else if (c == '{') v = inline_table(ps);
    else v = number_value(ps);
    ps->depth--;
    return v;
}

/* ---- tables ---- */

/* table.parts[0..count-1] = v (v is taken). Intermediate parts make or enter tables. */
static bool assign(struct parser *ps, json_t *table, sl_buf *parts, size_t count, json_t *v)
{
    for (size_t i = 0; i + 1 < count; i++) {
        const char *k = sl_buf_cstr(&parts[i]);
        json_t *next = json_object_get(table, k);
        if (next == NULL) {
            next = json_object();
            json_object_set_new(table, k, next);
        } else if (!json_is_object(next) || marked(&ps->sealed, next) || marked(&ps->defined, next)) {
            error_at(ps, "\"%s\" is already defined as something else", k);
            json_decref(v);
            return false;
        }
        table = next;
    }
    const char *k = sl_buf_cstr(&parts[count - 1]);
    if (json_object_get(table, k) != NULL) {
        error_at(ps, "\"%s\" is defined twice", k);
        json_decref(v);
        return false;
    }
    json_object_set_new(table, k, v);
    return true;
}

/* [a.b] or [[a.b]]: the table that key/values go into next. */
static json_t *header(struct parser *ps, json_t *root)
{
    bool array = starts(ps, "[[");
    advance(ps, array ? 2 : 1);
    sl_buf parts[16] = { 0 };
    size_t count = 0;
    json_t *table = NULL;
    if (read_key(ps, parts, 16, &count)) {
        if (!starts(ps, array ? "]]" : "]")) {
            error_at(ps, "expected \"%s\" to close the table header", array ? "]]" : "]");
        } else {
            advance(ps, array ? 2 : 1);
            table = root;
            for (size_t i = 0; table != NULL && i < count; i++) {
                const char *k = sl_buf_cstr(&parts[i]);
                json_t *next = json_object_get(table, k);
                bool last = i + 1 == count;
                if (last && array) {
                    if (next == NULL) {
                        next = json_array();
                        json_object_set_new(table, k, next);
                        mark(&ps->aot, next);
                    } else if (!json_is_array(next) || !marked(&ps->aot, next)) {
                        error_at(ps, "\"%s\" is not an array of tables", k);
                        table = NULL;
                        break;
                    }
                    json_t *t = json_object();
                    json_array_append_new(next, t);
                    table = t;
                    break;
                }
                if (next == NULL) {
                    next = json_object();
                    json_object_set_new(table, k, next);
                } else if (json_is_array(next) && marked(&ps->aot, next) && !last) {
                    next = json_array_get(next, json_array_size(next) - 1);
                } else if (!json_is_object(next) || marked(&ps->sealed, next) || (last && marked(&ps->defined, next))) {
                    error_at(ps, "table \"%s\" is defined twice or is already a value", k);
                    table = NULL;
                    break;
                }
                if (last) mark(&ps->defined, next);
                table = next;
            }
        }
    }
    for (size_t i = 0; i < 16; i++) sl_buf_clean_up(&parts[i]);
    return table;
}

static bool utf8_valid(const char *s, size_t n)
{
    json_t *probe = json_stringn(s, n);
    if (probe == NULL) return false;
    json_decref(probe);
    return true;
}

sl_result toml_parse(const char *text, size_t len, json_t **out, char *why, size_t why_size)
{
    *out = NULL;
    if (len > TOML_MAX_BYTES) {
        snprintf(why, why_size, "1:1: the document is larger than 4 MiB");
        RAISE(SL_ERR_PARSE, "%s", why);
    }
    struct parser ps = { .p = text, .end = text + len, .line = 1, .line_start = text, .why = why, .why_size = why_size };
    if (memchr(text, '\0', len) != NULL || !utf8_valid(text, len)) error_at(&ps, "the document is not valid UTF-8 text");
    json_t *root = json_object();
    json_t *table = root;
    sl_buf parts[16] = { 0 };
    while (!ps.failed) {
        skip_space(&ps);
        if (at_end(&ps) || ps.failed) break;
        if (peek(&ps) == '[') {
            table = header(&ps, root);
            if (table == NULL) break;
            end_of_line(&ps);
            continue;
        }
        size_t count = 0;
        if (!read_key(&ps, parts, 16, &count)) break;
        if (peek(&ps) != '=') {
            error_at(&ps, "expected \"=\" after a key");
            break;
        }
        advance(&ps, 1);
        skip_blanks(&ps);
        json_t *v = value(&ps);
        if (v == NULL || !assign(&ps, table, parts, count, v)) break;
        end_of_line(&ps);
    }
    for (size_t i = 0; i < 16; i++) sl_buf_clean_up(&parts[i]);
    sl_free(ps.defined.items);
    sl_free(ps.sealed.items);
    sl_free(ps.aot.items);
    if (ps.failed) {
        json_decref(root);
        RAISE(SL_ERR_PARSE, "%s", why);
    }
    *out = root;
    return SL_SUCCESS;
}
