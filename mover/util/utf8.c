/*
 * utf8.c — see utf8.h.
 */
#include "util/utf8.h"

size_t sl_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp_out)
{
    if (len == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) {
        if (cp_out) *cp_out = c;
        return 1;
    }
    size_t extra;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        extra = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        extra = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len - 1 < extra) return 0;
    for (size_t k = 1; k <= extra; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (cp_out) *cp_out = cp;
    return extra + 1;
}

bool sl_utf8_valid(sl_cursor text, size_t *bad_at)
{
    for (size_t i = 0; i < text.len;) {
        size_t n = sl_utf8_decode(text.ptr + i, text.len - i, NULL);
        if (n == 0) {
            if (bad_at) *bad_at = i;
            return false;
        }
        i += n;
    }
    return true;
}
