/*
 * config_doc.c — writes the configuration reference from the schema tables (contract:
 * config_doc.h; the tables: config_impl.h and the end of config.c).
 *
 * How the parts fit: `collect_sections` walks the tables from the top and lists every
 * schema that names a documentation section (a shared one, such as the credentials
 * object under both s3 and grants, once). A section's rows are its fields, with nested
 * objects that are not sections of their own flattened into them ("hook.command"). Each
 * row's type and default columns come from the row's doc_type/doc_default when set, or
 * are derived from its kind, names and bounds, so a changed default or bound changes the
 * documents. Every text is in a small Markdown subset (`code`, **bold**, [text](#a));
 * `render_text` checks it and writes it as a Markdown table cell ("|" escaped) or as
 * roff (fonts, escapes, the few typographic characters roff knows by name).
 * `sl_config_doc_update` copies a document line by line and regenerates the inside of
 * each marked block.
 */
#include "config/config_doc.h"

#include <stdio.h>
#include <string.h>

#include "config/config_impl.h"

#define MAX_SECTIONS 32

struct section {
    const char *name;
    const struct schema *schema;
};

struct sections {
    struct section items[MAX_SECTIONS];
    size_t count;
};

/* ---------------------------------------------------------------------------------- */
/* Sections                                                                            */
/* ---------------------------------------------------------------------------------- */

static sl_result collect_sections(const struct schema *s, struct sections *out)
{
    if (s->doc_name != NULL) {
        for (size_t i = 0; i < out->count; i++)
            if (out->items[i].schema == s) return SL_SUCCESS; /* shared: listed once */
        ENSURE(out->count < MAX_SECTIONS, SL_ERR_LIMIT, "config_doc: more than %d sections", MAX_SECTIONS);
        out->items[out->count++] = (struct section){ s->doc_name, s };
    }
    for (size_t i = 0; i < s->count; i++)
        if (s->fields[i].sub != NULL) GUARD(collect_sections(s->fields[i].sub, out));
    return SL_SUCCESS;
}

static const struct schema *find_section(const struct sections *all, const char *name, size_t len)
{
    for (size_t i = 0; i < all->count; i++)
        if (strlen(all->items[i].name) == len && memcmp(all->items[i].name, name, len) == 0)
            return all->items[i].schema;
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Derived columns (Markdown subset)                                                   */
/* ---------------------------------------------------------------------------------- */

/* "5 GiB", "1 B", "2048 B": a size as prose. */
static sl_result append_size_words(sl_buf *out, uint64_t bytes)
{
    char text[32];
    sl_config_format_size(bytes, text, sizeof(text));
    size_t digits = strspn(text, "0123456789");
    if (text[digits] == '\0') return sl_buf_appendf(out, "%s B", text);
    return sl_buf_appendf(out, "%.*s %s", (int)digits, text, text + digits);
}

static sl_result append_duration_code(sl_buf *out, uint64_t ms)
{
    char text[32];
    sl_config_format_duration(ms, text, sizeof(text));
    return sl_buf_appendf(out, "`\"%s\"`", text);
}

static sl_result append_type(sl_buf *out, const struct field *f)
{
    if (f->doc_type != NULL) return sl_buf_append_cstr(out, f->doc_type);
    switch (f->kind) {
    case K_OBJECT: return sl_buf_append_cstr(out, "object");
    case K_STRING: return sl_buf_append_cstr(out, "string");
    case K_STRINGS: return sl_buf_append_cstr(out, "array of strings");
    case K_BOOL: return sl_buf_append_cstr(out, "boolean");
    case K_ENUM:
        for (size_t i = 0; f->names[i] != NULL; i++)
            GUARD(sl_buf_appendf(out, "%s`\"%s\"`", i ? " | " : "", f->names[i]));
        return SL_SUCCESS;
    case K_UINT:
        return sl_buf_appendf(out, "integer %llu–%llu", (unsigned long long)f->min, (unsigned long long)f->max);
    case K_DURATION:
        GUARD(sl_buf_append_cstr(out, "duration"));
        if (f->min > 1 && f->max != 0) {
            GUARD(sl_buf_append_cstr(out, " "));
            GUARD(append_duration_code(out, f->min));
            GUARD(sl_buf_append_cstr(out, "–"));
            return append_duration_code(out, f->max);
        }
        if (f->min > 0) GUARD(sl_buf_append_cstr(out, f->max ? " > 0," : " > 0"));
        if (f->max != 0) {
            GUARD(sl_buf_append_cstr(out, " ≤ "));
            GUARD(append_duration_code(out, f->max));
        }
        return SL_SUCCESS;
    case K_SIZE:
        GUARD(sl_buf_append_cstr(out, "size"));
        if (f->max != 0) {
            GUARD(sl_buf_append_cstr(out, " "));
            GUARD(append_size_words(out, f->min));
            GUARD(sl_buf_append_cstr(out, "–"));
            return append_size_words(out, f->max);
        }
        return f->min > 0 ? sl_buf_append_cstr(out, " > 0") : SL_SUCCESS;
    case K_MODE: return sl_buf_append_cstr(out, "octal string");
    case K_CUSTOM: break;
    }
    RAISE(SL_ERR_INVALID_ARGUMENT, "config_doc: %s: a custom key needs .doc_type", f->name);
}

static sl_result append_default(sl_buf *out, const struct field *f)
{
    if (f->doc_default != NULL) return sl_buf_append_cstr(out, f->doc_default);
    if (f->flags & F_REQUIRED) return sl_buf_append_cstr(out, "required");
    char text[32];
    switch (f->kind) {
    case K_STRING:
        if (f->def_str == NULL) break;
        return sl_buf_appendf(out, "`\"%s\"`", f->def_str);
    case K_STRINGS: return sl_buf_append_cstr(out, "`[]`");
    case K_BOOL: return sl_buf_append_cstr(out, f->def ? "`true`" : "`false`");
    case K_ENUM: return sl_buf_appendf(out, "`\"%s\"`", f->names[f->def]);
    case K_UINT: return sl_buf_appendf(out, "`%llu`", (unsigned long long)f->def);
    case K_DURATION: return append_duration_code(out, f->def);
    case K_SIZE:
        sl_config_format_size(f->def, text, sizeof(text));
        if (strspn(text, "0123456789") == strlen(text)) return sl_buf_appendf(out, "`%s`", text);
        return sl_buf_appendf(out, "`\"%s\"`", text);
    case K_MODE: return sl_buf_appendf(out, "`\"%04llo\"`", (unsigned long long)f->def);
    case K_OBJECT: return sl_buf_append_cstr(out, "all defaults");
    case K_CUSTOM: break;
    }
    RAISE(SL_ERR_INVALID_ARGUMENT, "config_doc: %s: no default to show: set .doc_default", f->name);
}

/* ---------------------------------------------------------------------------------- */
/* The Markdown subset, written as Markdown cells or as roff                           */
/* ---------------------------------------------------------------------------------- */

/* The typographic characters the documents may use, with their roff names. */
static const struct {
    const char *utf8;
    const char *roff;
} glyphs[] = {
    { "—", "\\(em" }, { "–", "\\(en" }, { "≤", "\\(<=" }, { "≥", "\\(>=" },
    { "²", "\\(S2" }, { "³", "\\(S3" }, { "×", "\\(mu" }, { "→", "\\(->" },
};

/* One character of plain text at `s` (advanced past it) in `format`. */
static sl_result append_char(sl_buf *out, const char **s, sl_config_doc_format format, bool literal,
                             const char *key)
{
    unsigned char c = (unsigned char)**s;
    if (c >= 0x80) {
        for (size_t i = 0; i < sizeof(glyphs) / sizeof(glyphs[0]); i++) {
            size_t n = strlen(glyphs[i].utf8);
            if (strncmp(*s, glyphs[i].utf8, n) != 0) continue;
            *s += n;
            return sl_buf_append_cstr(out, format == SL_CONFIG_DOC_ROFF ? glyphs[i].roff : glyphs[i].utf8);
        }
        RAISE(SL_ERR_INVALID_ARGUMENT,
              "config_doc: %s: a character the manual page cannot write (use ASCII or one of — – ≤ ≥ ² ³ × →)", key);
    }
    ENSURE(c >= 0x20 && c != 0x7F, SL_ERR_INVALID_ARGUMENT, "config_doc: %s: a control character in the text", key);
    (*s)++;
    if (format == SL_CONFIG_DOC_MARKDOWN) return c == '|' ? sl_buf_append_cstr(out, "\\|") : sl_buf_append_byte(out, c);
    if (c == '\\') return sl_buf_append_cstr(out, "\\e");
    if (c == '-' && literal) return sl_buf_append_cstr(out, "\\-");
    return sl_buf_append_byte(out, c);
}

static sl_result render_span(sl_buf *out, const char *s, size_t len, sl_config_doc_format format, const char *key);

/* `code`: literal, bold in roff. */
static sl_result render_code(sl_buf *out, const char *s, size_t len, sl_config_doc_format format, const char *key)
{
    GUARD(sl_buf_append_cstr(out, format == SL_CONFIG_DOC_ROFF ? "\\fB" : "`"));
    const char *end = s + len;
    while (s < end) GUARD(append_char(out, &s, format, true, key));
    return sl_buf_append_cstr(out, format == SL_CONFIG_DOC_ROFF ? "\\fR" : "`");
}

static sl_result render_span(sl_buf *out, const char *s, size_t len, sl_config_doc_format format, const char *key)
{
    const char *end = s + len;
    while (s < end) {
        if (*s == '`') {
            const char *close = memchr(s + 1, '`', (size_t)(end - s - 1));
            ENSURE(close != NULL, SL_ERR_INVALID_ARGUMENT, "config_doc: %s: a ` without its closing `", key);
            GUARD(render_code(out, s + 1, (size_t)(close - s - 1), format, key));
            s = close + 1;
        } else if (*s == '*' && s + 1 < end && s[1] == '*') {
            const char *close = NULL;
            for (const char *p = s + 2; p + 1 < end && close == NULL; p++)
                if (p[0] == '*' && p[1] == '*') close = p;
            ENSURE(close != NULL, SL_ERR_INVALID_ARGUMENT, "config_doc: %s: a ** without its closing **", key);
            GUARD(sl_buf_append_cstr(out, format == SL_CONFIG_DOC_ROFF ? "\\fB" : "**"));
            for (const char *p = s + 2; p < close;) GUARD(append_char(out, &p, format, false, key));
            GUARD(sl_buf_append_cstr(out, format == SL_CONFIG_DOC_ROFF ? "\\fR" : "**"));
            s = close + 2;
        } else if (*s == '[') {
            /* [text](target): the text; the target only in Markdown */
            const char *mid = NULL;
            for (const char *p = s + 1; p + 1 < end && mid == NULL; p++)
                if (p[0] == ']' && p[1] == '(') mid = p;
            const char *close = mid ? memchr(mid + 2, ')', (size_t)(end - mid - 2)) : NULL;
            ENSURE(close != NULL, SL_ERR_INVALID_ARGUMENT, "config_doc: %s: a [ that starts no [text](target)", key);
            if (format == SL_CONFIG_DOC_MARKDOWN) GUARD(sl_buf_append_byte(out, '['));
            GUARD(render_span(out, s + 1, (size_t)(mid - s - 1), format, key));
            if (format == SL_CONFIG_DOC_MARKDOWN) GUARD(sl_buf_append(out, mid, (size_t)(close - mid + 1)));
            s = close + 1;
        } else {
            ENSURE(*s != ']', SL_ERR_INVALID_ARGUMENT, "config_doc: %s: a ] without its [", key);
            GUARD(append_char(out, &s, format, false, key));
        }
    }
    return SL_SUCCESS;
}

/* One line of roff text: "\&" in front when it would otherwise start a request. */
static sl_result render_roff_line(sl_buf *out, const char *text, const char *key)
{
    size_t start = out->len;
    GUARD(render_span(out, text, strlen(text), SL_CONFIG_DOC_ROFF, key));
    if (out->len > start && (out->data[start] == '.' || out->data[start] == '\'')) {
        GUARD(sl_buf_append_cstr(out, "\\&")); /* room for it, then move it in front */
        memmove(out->data + start + 2, out->data + start, out->len - start - 2);
        memcpy(out->data + start, "\\&", 2);
    }
    return sl_buf_append_byte(out, '\n');
}

sl_result sl_config_doc_text(const char *text, sl_config_doc_format format, const char *what, sl_buf *out)
{
    ENSURE(text != NULL && what != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "config_doc: no text or output");
    if (format == SL_CONFIG_DOC_ROFF) return render_roff_line(out, text, what);
    return render_span(out, text, strlen(text), format, what);
}

/* ---------------------------------------------------------------------------------- */
/* Section tables                                                                      */
/* ---------------------------------------------------------------------------------- */

struct row_ctx {
    sl_config_doc_format format;
    const char *man_prefix; /* "s3." in front of keys in the manual page; "" for the top */
    sl_buf *out;
};

static sl_result render_row(struct row_ctx *ctx, const char *key, const struct field *f)
{
    ENSURE(f->doc != NULL && f->doc[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "config_doc: %s%s: the row has no .doc (config/config.c: say what the key means and how it is checked)",
           ctx->man_prefix, key);
    sl_buf type = { 0 }, def = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(append_type(&type, f));
    GUARD_CLEANUP(append_default(&def, f));
    sl_buf *out = ctx->out;
    if (ctx->format == SL_CONFIG_DOC_MARKDOWN) {
        GUARD_CLEANUP(sl_buf_appendf(out, "| `%s` | ", key));
        GUARD_CLEANUP(render_span(out, sl_buf_cstr(&type), type.len, ctx->format, key));
        GUARD_CLEANUP(sl_buf_append_cstr(out, " | "));
        GUARD_CLEANUP(render_span(out, sl_buf_cstr(&def), def.len, ctx->format, key));
        GUARD_CLEANUP(sl_buf_append_cstr(out, " | "));
        GUARD_CLEANUP(render_span(out, f->doc, strlen(f->doc), ctx->format, key));
        GUARD_CLEANUP(sl_buf_append_cstr(out, " |\n"));
    } else {
        bool required = strcmp(sl_buf_cstr(&def), "required") == 0;
        sl_buf head = { 0 };
        GUARD_CLEANUP(sl_buf_appendf(&head, "(%s; %s%s)", sl_buf_cstr(&type), required ? "" : "default: ",
                                     sl_buf_cstr(&def)));
        sl_result r = sl_buf_appendf(out, ".TP\n\\fB%s%s\\fR\n", ctx->man_prefix, key);
        if (sl_ok(r)) r = render_roff_line(out, sl_buf_cstr(&head), key);
        if (sl_ok(r)) r = sl_buf_append_cstr(out, ".br\n");
        if (sl_ok(r)) r = render_roff_line(out, f->doc, key);
        sl_buf_clean_up(&head);
        GUARD_CLEANUP(r);
    }
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&type);
    sl_buf_clean_up(&def);
    return result;
}

/* The rows of `s`, with `prefix` ("hook.") in front of each key; objects that are no
 * section of their own are flattened in. */
static sl_result render_rows(struct row_ctx *ctx, const struct schema *s, const char *prefix)
{
    for (size_t i = 0; i < s->count; i++) {
        const struct field *f = &s->fields[i];
        char key[128];
        int n = snprintf(key, sizeof(key), "%s%s", prefix, f->name);
        ENSURE(n > 0 && (size_t)n < sizeof(key) - 1, SL_ERR_LIMIT, "config_doc: key too long: %s%s", prefix, f->name);
        if (f->kind == K_OBJECT && f->sub != NULL && f->sub->doc_name == NULL) {
            key[n] = '.';
            key[n + 1] = '\0';
            GUARD(render_rows(ctx, f->sub, key));
            continue;
        }
        GUARD(render_row(ctx, key, f));
    }
    return SL_SUCCESS;
}

static sl_result render_section(const struct schema *s, sl_config_doc_format format, sl_buf *out)
{
    char prefix[64] = "";
    if (strcmp(s->doc_name, "top") != 0) {
        int n = snprintf(prefix, sizeof(prefix), "%s.", s->doc_name);
        ENSURE(n > 0 && (size_t)n < sizeof(prefix), SL_ERR_LIMIT, "config_doc: section name too long");
    }
    struct row_ctx ctx = { .format = format, .man_prefix = prefix, .out = out };
    if (format == SL_CONFIG_DOC_MARKDOWN)
        GUARD(sl_buf_append_cstr(out, "| key | type | default | meaning and checks |\n|---|---|---|---|\n"));
    return render_rows(&ctx, s, "");
}

sl_result sl_config_doc_section(const char *section, sl_config_doc_format format, sl_buf *out)
{
    ENSURE(section != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "config_doc: no section or no output");
    struct sections all = { .count = 0 };
    GUARD(collect_sections(&sl_config_root_schema, &all));
    const struct schema *s = find_section(&all, section, strlen(section));
    ENSURE(s != NULL, SL_ERR_NOT_FOUND, "config_doc: no section \"%s\"", section);
    return render_section(s, format, out);
}

/* ---------------------------------------------------------------------------------- */
/* Updating a document                                                                 */
/* ---------------------------------------------------------------------------------- */

struct markers {
    const char *begin_head, *end_head, *tail; /* a marker is head + NAME + tail */
};

static const struct markers markdown_markers = { "<!-- generated: ", "<!-- end generated: ", " -->" };
static const struct markers roff_markers = { ".\\\" generated: ", ".\\\" end generated: ", "" };

/* The NAME of a marker line "head NAME tail", or false. */
static bool marker_name(sl_cursor line, const char *head, const char *tail, sl_cursor *name)
{
    size_t h = strlen(head), t = strlen(tail);
    if (line.len <= h + t || memcmp(line.ptr, head, h) != 0 || memcmp(line.ptr + line.len - t, tail, t) != 0)
        return false;
    *name = sl_cursor_from_bytes(line.ptr + h, line.len - h - t);
    return true;
}

sl_result sl_config_doc_update(sl_cursor text, sl_config_doc_format format, sl_buf *out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "config_doc: no output");
    const struct markers *m = format == SL_CONFIG_DOC_MARKDOWN ? &markdown_markers : &roff_markers;
    struct sections all = { .count = 0 };
    GUARD(collect_sections(&sl_config_root_schema, &all));
    bool seen[MAX_SECTIONS] = { false };
    const struct schema *open = NULL; /* inside this block */
    sl_cursor open_name = { 0 };
    size_t line_no = 0, open_line = 0;
    sl_cursor line;
    while (text.len > 0 && sl_cursor_next_token(&text, '\n', &line)) {
        line_no++;
        sl_cursor name;
        if (open != NULL) { /* skip the old content up to the end marker */
            if (marker_name(line, m->end_head, m->tail, &name)) {
                ENSURE(sl_cursor_eq(name, open_name), SL_ERR_PARSE,
                       "line %zu: the end of \"%.*s\" closes the block \"%.*s\" opened on line %zu", line_no,
                       (int)name.len, (const char *)name.ptr, (int)open_name.len, (const char *)open_name.ptr,
                       open_line);
                GUARD(render_section(open, format, out));
                GUARD(sl_buf_append_cursor(out, line));
                GUARD(sl_buf_append_byte(out, '\n'));
                open = NULL;
            } else {
                ENSURE(!marker_name(line, m->begin_head, m->tail, &name), SL_ERR_PARSE,
                       "line %zu: a block starts inside the block \"%.*s\" opened on line %zu", line_no,
                       (int)open_name.len, (const char *)open_name.ptr, open_line);
            }
            continue;
        }
        GUARD(sl_buf_append_cursor(out, line));
        GUARD(sl_buf_append_byte(out, '\n'));
        ENSURE(!marker_name(line, m->end_head, m->tail, &name), SL_ERR_PARSE,
               "line %zu: the end of a block that was never started", line_no);
        if (!marker_name(line, m->begin_head, m->tail, &name)) continue;
        open = find_section(&all, (const char *)name.ptr, name.len);
        ENSURE(open != NULL, SL_ERR_PARSE, "line %zu: \"%.*s\" is not a section of the configuration", line_no,
               (int)name.len, (const char *)name.ptr);
        size_t index = 0;
        while (all.items[index].schema != open) index++;
        ENSURE(!seen[index], SL_ERR_PARSE, "line %zu: a second block for \"%s\"", line_no, all.items[index].name);
        seen[index] = true;
        open_name = name;
        open_line = line_no;
    }
    ENSURE(open == NULL, SL_ERR_PARSE, "line %zu: the block \"%.*s\" has no end marker", open_line,
           (int)open_name.len, (const char *)open_name.ptr);
    for (size_t i = 0; i < all.count; i++)
        ENSURE(seen[i], SL_ERR_PARSE, "no block for the section \"%s\" (add one: every key must be documented)",
               all.items[i].name);
    return SL_SUCCESS;
}

/* ---------------------------------------------------------------------------------- */
/* Every key                                                                           */
/* ---------------------------------------------------------------------------------- */

/* A regex for code reading c_name: "s3.endpoint" → s3 . or -> endpoint; "name" → . or
 * -> name. Member names are C identifiers: nothing to escape. */
static sl_result append_reads(sl_buf *out, const struct field *f)
{
    if (f->reads != NULL) return sl_buf_append_cstr(out, f->reads);
    const char *dot = strrchr(f->c_name, '.');
    if (dot == NULL) return sl_buf_appendf(out, "(\\.|->)[[:space:]]*%s\\b", f->c_name);
    return sl_buf_appendf(out, "\\b%.*s[[:space:]]*(\\.|->)[[:space:]]*%s\\b", (int)(dot - f->c_name), f->c_name,
                          dot + 1);
}

static sl_result list_keys(sl_buf *out, const struct schema *s, const char *prefix)
{
    for (size_t i = 0; i < s->count; i++) {
        const struct field *f = &s->fields[i];
        char path[160];
        int n = snprintf(path, sizeof(path), "%s%s%s.", prefix, f->name, (f->flags & F_LIST) ? "[]" : "");
        ENSURE(n > 0 && (size_t)n < sizeof(path), SL_ERR_LIMIT, "config_doc: key too long: %s%s", prefix, f->name);
        if (f->sub != NULL) {
            GUARD(list_keys(out, f->sub, path));
            continue;
        }
        path[n - 1] = '\0';
        ENSURE(f->c_name != NULL, SL_ERR_INVALID_ARGUMENT,
               "config_doc: %s: the row names no member (store it with STORED_IN or STORED_AT)", path);
        GUARD(sl_buf_appendf(out, "%s\t%s\t", path, f->c_name));
        GUARD(append_reads(out, f));
        GUARD(sl_buf_append_byte(out, '\n'));
    }
    return SL_SUCCESS;
}

sl_result sl_config_doc_keys(sl_buf *out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "config_doc: no output");
    return list_keys(out, &sl_config_root_schema, "");
}
