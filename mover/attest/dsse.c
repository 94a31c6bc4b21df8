/*
 * dsse.c — PAE, the DSSE envelope, strict base64 and the canonical JSON string writer
 * of dsse.h. The specs followed: DSSE v1.0 "Protocol" and "Envelope"; RFC 8785 section
 * 3.2.2.2 (string serialization); RFC 4648 section 4 (base64); RFC 3629 section 4
 * (UTF-8 syntax).
 */
#include "attest/dsse.h"

#include <string.h>

#include "util/alloc.h"

/* ---- UTF-8 and JSON strings ---- */

bool attest_utf8_valid(sl_cursor text)
{
    const uint8_t *p = text.ptr;
    size_t n = text.len, i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            more = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            more = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= more) return false;
        for (size_t k = 1; k <= more; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += more + 1;
    }
    return true;
}

sl_result attest_json_string(sl_buf *out, sl_cursor text)
{
    ENSURE(attest_utf8_valid(text), SL_ERR_ENCODING, "a statement string is not UTF-8");
    GUARD(sl_buf_append_byte(out, '"'));
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < text.len; i++) {
        uint8_t c = text.ptr[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\f': esc = "\\f"; break;
        case '\r': esc = "\\r"; break;
        default:
            if (c < 0x20) {
                static const char hex[] = "0123456789abcdef";
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc == NULL) {
            run++;
            continue;
        }
        GUARD(sl_buf_append(out, text.ptr + i - run, run));
        run = 0;
        GUARD(sl_buf_append_cstr(out, esc));
    }
    GUARD(sl_buf_append(out, text.ptr + text.len - run, run));
    return sl_buf_append_byte(out, '"');
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

sl_result attest_base64_encode(sl_buf *out, const uint8_t *bytes, size_t len)
{
    size_t groups = len / 3 + (len % 3 != 0), need;
    ENSURE(sl_mul_size(groups, 4, &need), SL_ERR_OVERFLOW, "base64 of %zu bytes", len);
    GUARD(sl_buf_reserve(out, need));
    uint8_t *w = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        *w++ = (uint8_t)b64[v >> 18];
        *w++ = (uint8_t)b64[(v >> 12) & 63];
        *w++ = (uint8_t)b64[(v >> 6) & 63];
        *w++ = (uint8_t)b64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)bytes[i] << 16;
        *w++ = (uint8_t)b64[v >> 18];
        *w++ = (uint8_t)b64[(v >> 12) & 63];
        *w++ = '=';
        *w++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8;
        *w++ = (uint8_t)b64[v >> 18];
        *w++ = (uint8_t)b64[(v >> 12) & 63];
        *w++ = (uint8_t)b64[(v >> 6) & 63];
        *w++ = '=';
    }
    out->len += need;
    out->data[out->len] = '\0';
    return SL_SUCCESS;
}

static int b64_value(uint8_t c)
{
    const char *at = c != 0 ? strchr(b64, c) : NULL;
    return at ? (int)(at - b64) : -1;
}

sl_result attest_base64_decode(sl_buf *out, sl_cursor text)
{
    ENSURE(text.len % 4 == 0, SL_ERR_PARSE, "base64 of %zu characters (not a multiple of 4)", text.len);
    GUARD(sl_buf_reserve(out, text.len / 4 * 3));
    for (size_t i = 0; i < text.len; i += 4) {
        const uint8_t *q = text.ptr + i;
        bool last = i + 4 == text.len;
        size_t pad = last ? (size_t)(q[3] == '=') + (size_t)(q[2] == '=' && q[3] == '=') : 0;
        int v[4] = { 0 };
        for (size_t k = 0; k < 4 - pad; k++) {
            v[k] = b64_value(q[k]);
            ENSURE(v[k] >= 0, SL_ERR_PARSE, "base64: character %zu is not in the alphabet", i + k + 1);
        }
        uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        ENSURE(pad != 2 || (bits & 0xFFFF) == 0, SL_ERR_PARSE, "base64: non-zero padding bits");
        ENSURE(pad != 1 || (bits & 0xFF) == 0, SL_ERR_PARSE, "base64: non-zero padding bits");
        uint8_t bytes[3] = { (uint8_t)(bits >> 16), (uint8_t)(bits >> 8), (uint8_t)bits };
        GUARD(sl_buf_append(out, bytes, 3 - pad));
    }
    return SL_SUCCESS;
}

/* ---- DSSE ---- */

sl_result attest_pae(sl_buf *out, sl_cursor payload_type, sl_cursor payload)
{
    GUARD(sl_buf_appendf(out, "DSSEv1 %zu ", payload_type.len));
    GUARD(sl_buf_append_cursor(out, payload_type));
    GUARD(sl_buf_appendf(out, " %zu ", payload.len));
    return sl_buf_append_cursor(out, payload);
}

sl_result attest_dsse_sign(const attest_signer *signer, sl_cursor payload_type, sl_cursor payload,
                           uint8_t sig[ATTEST_SIGNATURE_LEN])
{
    sl_buf pae = { 0 };
    sl_result result = attest_pae(&pae, payload_type, payload);
    if (sl_ok(result)) result = attest_signer_sign(signer, pae.data, pae.len, sig);
    sl_buf_clean_up(&pae);
    return result;
}

sl_result attest_dsse_verify(const attest_keyring *ring, sl_cursor key_id, sl_cursor payload_type, sl_cursor payload,
                             const uint8_t *sig, size_t sig_len)
{
    sl_buf pae = { 0 };
    sl_result result = attest_pae(&pae, payload_type, payload);
    if (sl_ok(result)) result = attest_keyring_verify(ring, key_id, pae.data, pae.len, sig, sig_len);
    sl_buf_clean_up(&pae);
    return result;
}

sl_result attest_dsse_envelope(sl_buf *out, sl_cursor payload_type, sl_cursor payload, sl_cursor key_id,
                               const uint8_t sig[ATTEST_SIGNATURE_LEN])
{
    GUARD(sl_buf_append_cstr(out, "{\"payload\":\""));
    GUARD(attest_base64_encode(out, payload.ptr, payload.len));
    GUARD(sl_buf_append_cstr(out, "\",\"payloadType\":"));
    GUARD(attest_json_string(out, payload_type));
    GUARD(sl_buf_append_cstr(out, ",\"signatures\":[{\"keyid\":"));
    GUARD(attest_json_string(out, key_id));
    GUARD(sl_buf_append_cstr(out, ",\"sig\":\""));
    GUARD(attest_base64_encode(out, sig, ATTEST_SIGNATURE_LEN));
    return sl_buf_append_cstr(out, "\"}]}");
}
