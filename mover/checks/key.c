/*
 * key.c — the key rules (checks.h): what an object's name below its task may hold.
 *
 * A name is refused when a person or a program downstream would read it as something
 * else than its bytes say (docs/checks.md "Key rules" has the table and the reasons):
 *  - structure: empty, leading "/", "." / ".." / empty segments, deeper than the
 *    route allows, a whole key longer than the route allows;
 *  - bytes: not valid UTF-8 (overlong forms such as C0 AE are a disguised "."), C0
 *    controls and DEL, backslash;
 *  - characters (after UTF-8 decoding): C1 controls U+0080–U+009F; bidirectional and
 *    invisible format characters (U+061C, U+200B–U+200F, U+202A–U+202E, U+2060–U+2064,
 *    U+2066–U+206F, U+FEFF, U+00AD, U+180E, U+FFF9–U+FFFB, the tag characters
 *    U+E0000–U+E007F); line and paragraph separators U+2028/U+2029; noncharacters
 *    U+FFFE/U+FFFF; look-alikes of "." "/" "\" that normalise to them (U+2024, U+2025,
 *    U+FE52, U+FF0E, U+2044, U+2215, U+29F8, U+FF0F, U+FE68, U+FF3C);
 *  - percent-encoding: a name that, percent-decoded (repeatedly, up to four rounds, so
 *    "%252e" counts), has a "." or ".." segment, or a "/" "\" or control character the
 *    raw name did not have.
 * Every broken rule is named in the one "key" finding. Pure functions.
 */
#include "checks/checks.h"

#include "util/alloc.h"

/* ---- UTF-8 ---- */

/* Decodes one code point at *i; -1 for an invalid, overlong or surrogate sequence
 * (then *i moves one byte). RFC 3629 section 4. */
static long utf8_next(sl_cursor s, size_t *i)
{
    uint8_t c = s.ptr[*i];
    size_t need;
    long cp, min;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if (c >= 0xc2 && c <= 0xdf) {
        need = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3, cp = c & 0x07, min = 0x10000;
    } else {
        (*i)++;
        return -1;
    }
    if (s.len - *i <= need) {
        (*i)++;
        return -1;
    }
    for (size_t k = 1; k <= need; k++) {
        uint8_t b = s.ptr[*i + k];
        if ((b & 0xc0) != 0x80) {
            (*i)++;
            return -1;
        }
        cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        (*i)++;
        return -1;
    }
    *i += need + 1;
    return cp;
}

/* ---- the character table ---- */

typedef enum char_class { CH_OK, CH_C1, CH_FORMAT, CH_SEPARATOR, CH_NONCHAR, CH_LOOKALIKE } char_class;

static const struct {
    long lo, hi;
    char_class cls;
} char_table[] = {
    { 0x0080, 0x009f, CH_C1 },        { 0x00ad, 0x00ad, CH_FORMAT },    { 0x061c, 0x061c, CH_FORMAT },
    { 0x180e, 0x180e, CH_FORMAT },    { 0x200b, 0x200f, CH_FORMAT },    { 0x2024, 0x2025, CH_LOOKALIKE },
    { 0x2028, 0x2029, CH_SEPARATOR }, { 0x202a, 0x202e, CH_FORMAT },    { 0x2044, 0x2044, CH_LOOKALIKE },
    { 0x2060, 0x2064, CH_FORMAT },    { 0x2066, 0x206f, CH_FORMAT },    { 0x2215, 0x2215, CH_LOOKALIKE },
    { 0x29f8, 0x29f8, CH_LOOKALIKE }, { 0xfe52, 0xfe52, CH_LOOKALIKE }, { 0xfe68, 0xfe68, CH_LOOKALIKE },
    { 0xfeff, 0xfeff, CH_FORMAT },    { 0xff0e, 0xff0f, CH_LOOKALIKE }, { 0xff3c, 0xff3c, CH_LOOKALIKE },
    { 0xfff9, 0xfffb, CH_FORMAT },    { 0xfffe, 0xffff, CH_NONCHAR },   { 0xe0000, 0xe007f, CH_FORMAT },
};

static char_class classify(long cp)
{
    for (size_t i = 0; i < sizeof(char_table) / sizeof(char_table[0]); i++)
        if (cp >= char_table[i].lo && cp <= char_table[i].hi) return char_table[i].cls;
    return CH_OK;
}

struct key_faults {
    bool control, backslash, dots, empty, invalid_utf8, encoded;
    long c1, format, separator, nonchar, lookalike; /* first such code point, or -1 */
};

static void note(long *slot, long cp)
{
    if (*slot < 0) *slot = cp;
}

static void scan_characters(sl_cursor name, struct key_faults *k)
{
    for (size_t i = 0; i < name.len;) {
        uint8_t b = name.ptr[i];
        if (b < 0x20 || b == 0x7f) k->control = true;
        if (b == '\\') k->backslash = true;
        long cp = utf8_next(name, &i);
        if (cp < 0) {
            k->invalid_utf8 = true;
            continue;
        }
        switch (classify(cp)) {
        case CH_OK: break;
        case CH_C1: note(&k->c1, cp); break;
        case CH_FORMAT: note(&k->format, cp); break;
        case CH_SEPARATOR: note(&k->separator, cp); break;
        case CH_NONCHAR: note(&k->nonchar, cp); break;
        case CH_LOOKALIKE: note(&k->lookalike, cp); break;
        }
    }
}

/* ---- percent-encoding ---- */

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One round of percent-decoding into out; true when something was decoded. */
static bool percent_decode(sl_cursor in, sl_buf *out)
{
    bool changed = false;
    sl_buf_reset(out);
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (c == '%' && in.len - i > 2 && hex_value(in.ptr[i + 1]) >= 0 && hex_value(in.ptr[i + 2]) >= 0) {
            c = (uint8_t)(hex_value(in.ptr[i + 1]) * 16 + hex_value(in.ptr[i + 2]));
            i += 2;
            changed = true;
        }
        if (sl_failed(sl_buf_append_byte(out, c))) return false;
    }
    return changed;
}

/* A "." or ".." segment, separated by "/" or "\". */
static bool has_dot_segment(sl_cursor s)
{
    size_t start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.ptr[i] != '/' && s.ptr[i] != '\\') continue;
        size_t n = i - start;
        if ((n == 1 && s.ptr[start] == '.') || (n == 2 && s.ptr[start] == '.' && s.ptr[start + 1] == '.')) return true;
        start = i + 1;
    }
    return false;
}

static bool has_separator_or_control(sl_cursor s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] == '/' || s.ptr[i] == '\\' || s.ptr[i] < 0x20 || s.ptr[i] == 0x7f) return true;
    return false;
}

/* Whether decoding reveals a dot segment, or a separator / control byte in a segment. */
static bool encoded_trick(sl_cursor name)
{
    sl_buf a = { 0 }, b = { 0 };
    bool found = false;
    sl_cursor segment, rest = name;
    while (!found && sl_cursor_next_token(&rest, '/', &segment)) {
        sl_cursor current = segment;
        sl_buf *into = &a;
        for (int round = 0; round < 4 && percent_decode(current, into); round++) {
            current = sl_cursor_from_buf(into);
            if (has_dot_segment(current) || has_separator_or_control(current)) {
                found = true;
                break;
            }
            into = into == &a ? &b : &a;
        }
    }
    sl_buf_clean_up(&a);
    sl_buf_clean_up(&b);
    return found;
}

/* ---- the rule ---- */

static sl_result append_code_point(sl_buf *why, const char *what, long cp)
{
    if (cp < 0) return SL_SUCCESS;
    return sl_buf_appendf(why, "; %s (U+%04lX) in name", what, (unsigned long)cp);
}

static sl_result describe(const struct key_faults *k, sl_buf *why)
{
    if (k->control) GUARD(sl_buf_append_cstr(why, "; control character in name"));
    if (k->backslash) GUARD(sl_buf_append_cstr(why, "; backslash in name"));
    if (k->dots) GUARD(sl_buf_append_cstr(why, "; \".\" or \"..\" segment in name"));
    if (k->invalid_utf8) GUARD(sl_buf_append_cstr(why, "; name is not valid UTF-8"));
    GUARD(append_code_point(why, "C1 control character", k->c1));
    GUARD(append_code_point(why, "bidirectional or invisible format character", k->format));
    GUARD(append_code_point(why, "line or paragraph separator", k->separator));
    GUARD(append_code_point(why, "Unicode noncharacter", k->nonchar));
    GUARD(append_code_point(why, "look-alike of \".\", \"/\" or \"\\\"", k->lookalike));
    if (k->encoded)
        GUARD(sl_buf_append_cstr(why, "; percent-encoded \".\"/\"..\" segment, separator or control character in name"));
    return SL_SUCCESS;
}

sl_result checks_key(const sl_config_checks *rules, sl_cursor staging_key, sl_cursor name, findings *out)
{
    sl_buf why = { 0 };
    sl_result result = SL_FAILURE;
    if (staging_key.len > rules->max_key_length)
        GUARD_CLEANUP(sl_buf_appendf(&why, "; key is %zu bytes (limit %u)", staging_key.len, rules->max_key_length));
    if (name.len == 0) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; empty name"));
    bool leading = name.len > 0 && name.ptr[0] == '/';
    if (leading) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; name starts with \"/\""));

    struct key_faults k = { .c1 = -1, .format = -1, .separator = -1, .nonchar = -1, .lookalike = -1 };
    scan_characters(name, &k);
    bool empty = false;
    size_t depth = 0;
    sl_cursor rest = name, segment;
    while (name.len > 0 && sl_cursor_next_token(&rest, '/', &segment)) {
        depth++;
        if (sl_cursor_eq_cstr(segment, "..") || sl_cursor_eq_cstr(segment, ".")) k.dots = true;
        if (segment.len == 0) empty = true;
    }
    k.encoded = encoded_trick(name);
    GUARD_CLEANUP(describe(&k, &why));
    if (empty && !leading) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; empty segment (\"//\") in name"));
    if (depth > rules->max_depth)
        GUARD_CLEANUP(sl_buf_appendf(&why, "; %zu segments deep (limit %u)", depth, rules->max_depth));

    if (why.len == 0) GUARD_CLEANUP(findings_add(out, "key", FINDING_PASS, "key rules passed"));
    else GUARD_CLEANUP(findings_add(out, "key", FINDING_FAIL, "%s", sl_buf_cstr(&why) + 2));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&why);
    return result;
}
