/*
 * line.c — one audit record line as text, written straight into the line buffer
 * (line.h): the keys in audit.h's order, each text escaped as jansson escapes it with
 * JSON_ENSURE_ASCII, the detail object dumped by jansson into the same buffer. Appending
 * a record used to build a jansson object of nine members (a hashed key, a copied and
 * validated string each) only to dump it again; the bytes are the same (test_audit
 * compares them with jansson's for every kind of character).
 */
#include "audit/line.h"

#include <string.h>

#include "util/utf8.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)

static const char hex_upper[] = "0123456789ABCDEF";

/* \uXXXX of one UTF-16 unit. */
static sl_result append_u16(sl_buf *out, uint32_t unit)
{
    char seq[6] = { '\\', 'u', hex_upper[(unit >> 12) & 0xf], hex_upper[(unit >> 8) & 0xf],
                    hex_upper[(unit >> 4) & 0xf], hex_upper[unit & 0xf] };
    return sl_buf_append(out, seq, sizeof(seq));
}

/* The escape of one code point that is not written as itself. */
static sl_result append_escape(sl_buf *out, uint32_t cp)
{
    switch (cp) {
    case '\\': return sl_buf_append(out, "\\\\", 2);
    case '"': return sl_buf_append(out, "\\\"", 2);
    case '\b': return sl_buf_append(out, "\\b", 2);
    case '\f': return sl_buf_append(out, "\\f", 2);
    case '\n': return sl_buf_append(out, "\\n", 2);
    case '\r': return sl_buf_append(out, "\\r", 2);
    case '\t': return sl_buf_append(out, "\\t", 2);
    default: break;
    }
    if (cp < 0x10000) return append_u16(out, cp);
    uint32_t v = cp - 0x10000;
    GUARD(append_u16(out, 0xd800 | ((v >> 10) & 0x3ff)));
    return append_u16(out, 0xdc00 | (v & 0x3ff));
}

static bool plain(uint8_t c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

sl_result audit_line_append_text(sl_buf *out, const char *what, const char *text)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t len = strlen(text);
    GUARD(sl_buf_reserve(out, len + 2));
    GUARD(sl_buf_append_byte(out, '"'));
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && plain(s[run])) run++;
        if (run > i) GUARD(sl_buf_append(out, s + i, run - i));
        i = run;
        if (i == len) break;
        uint32_t cp = 0;
        size_t n = sl_utf8_decode(s + i, len - i, &cp);
        ENSURE(n > 0, SL_ERR_INVALID_ARGUMENT, "\"%s\" of an audit record is not valid UTF-8", what);
        GUARD(append_escape(out, cp));
        i += n;
    }
    return sl_buf_append_byte(out, '"');
}

/* ,"key": then the text; nothing for an optional NULL. */
static sl_result append_member(sl_buf *out, const char *key, const char *text, bool required)
{
    if (text == NULL) {
        ENSURE(!required, SL_ERR_INVALID_ARGUMENT, "an audit record needs \"%s\"", key);
        return SL_SUCCESS;
    }
    ENSURE(!required || text[0] != '\0', SL_ERR_INVALID_ARGUMENT, "\"%s\" of an audit record is empty", key);
    GUARD(sl_buf_append_cstr(out, ",\""));
    GUARD(sl_buf_append_cstr(out, key));
    GUARD(sl_buf_append_cstr(out, "\":"));
    return audit_line_append_text(out, key, text);
}

static sl_result append_u64(sl_buf *out, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < sizeof(digits));
    return sl_buf_append(out, digits + sizeof(digits) - n, n);
}

static int dump_to_buf(const char *bytes, size_t len, void *data)
{
    return sl_ok(sl_buf_append(data, bytes, len)) ? 0 : -1;
}

sl_result audit_line_build(const audit_line_fields *f, sl_buf *out)
{
    sl_buf_reset(out);
    GUARD(sl_buf_append_cstr(out, "{\"seq\":"));
    GUARD(append_u64(out, f->seq));
    GUARD(append_member(out, "time", f->time, true));
    GUARD(append_member(out, "event", f->event, true));
    GUARD(append_member(out, "artifact", f->artifact, false));
    GUARD(append_member(out, "from", f->from, false));
    GUARD(append_member(out, "to", f->to, false));
    GUARD(append_member(out, "actor", f->actor, true));
    if (f->detail != NULL) {
        ENSURE(json_is_object(f->detail), SL_ERR_INVALID_ARGUMENT, "detail of an audit record is not a JSON object");
        GUARD(sl_buf_append_cstr(out, ",\"detail\":"));
        ENSURE(json_dump_callback(f->detail, dump_to_buf, out, DUMP_FLAGS) == 0, SL_ERR_INVALID_ARGUMENT,
               "cannot encode the audit record");
    }
    GUARD(append_member(out, "prev", f->prev, true));
    return sl_buf_append_byte(out, '}');
}
