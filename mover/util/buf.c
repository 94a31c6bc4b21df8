/*
 * buf.c — growth, appends and cursor walking for buf.h. Every size computation goes
 * through sl_add_size / sl_mul_size; a failing append leaves the buffer as it was.
 */
#include "util/buf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/alloc.h"

void sl_buf_clean_up(sl_buf *buf)
{
    if (buf == NULL) return;
    sl_free(buf->data);
    *buf = (sl_buf){ 0 };
}

void sl_buf_clean_up_secure(sl_buf *buf)
{
    if (buf == NULL) return;
    if (buf->data != NULL) OPENSSL_cleanse(buf->data, buf->capacity);
    sl_buf_clean_up(buf);
}

void sl_buf_reset(sl_buf *buf)
{
    buf->len = 0;
    if (buf->data != NULL) buf->data[0] = '\0';
}

sl_result sl_buf_reserve(sl_buf *buf, size_t extra)
{
    size_t need;
    ENSURE(sl_add_size(buf->len, extra, &need) && sl_add_size(need, 1, &need),
           SL_ERR_OVERFLOW, "buffer of %zu bytes cannot grow by %zu", buf->len, extra);
    if (need <= buf->capacity) return SL_SUCCESS;
    size_t cap = buf->capacity < 64 ? 64 : buf->capacity;
    while (cap < need) {
        if (!sl_mul_size(cap, 2, &cap)) {
            cap = need;
            break;
        }
    }
    buf->data = sl_realloc(buf->data, cap);
    buf->capacity = cap;
    return SL_SUCCESS;
}

sl_result sl_buf_append(sl_buf *buf, const void *bytes, size_t len)
{
    GUARD(sl_buf_reserve(buf, len));
    if (len > 0) memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return SL_SUCCESS;
}

sl_result sl_buf_append_byte(sl_buf *buf, uint8_t byte) { return sl_buf_append(buf, &byte, 1); }

sl_result sl_buf_append_cstr(sl_buf *buf, const char *s) { return sl_buf_append(buf, s, strlen(s)); }

sl_result sl_buf_append_cursor(sl_buf *buf, sl_cursor c) { return sl_buf_append(buf, c.ptr, c.len); }

sl_result sl_buf_append_hex(sl_buf *buf, const uint8_t *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    size_t hex_len;
    ENSURE(sl_mul_size(len, 2, &hex_len), SL_ERR_OVERFLOW, "hex of %zu bytes", len);
    GUARD(sl_buf_reserve(buf, hex_len));
    for (size_t i = 0; i < len; i++) {
        buf->data[buf->len++] = (uint8_t)digits[bytes[i] >> 4];
        buf->data[buf->len++] = (uint8_t)digits[bytes[i] & 0x0f];
    }
    buf->data[buf->len] = '\0';
    return SL_SUCCESS;
}

sl_result sl_buf_vappendf(sl_buf *buf, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    ENSURE(n >= 0, SL_ERR_INVALID_ARGUMENT, "bad format string \"%s\"", fmt);
    GUARD(sl_buf_reserve(buf, (size_t)n));
    vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, fmt, ap);
    buf->len += (size_t)n;
    return SL_SUCCESS;
}

sl_result sl_buf_appendf(sl_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_result r = sl_buf_vappendf(buf, fmt, ap);
    va_end(ap);
    return r;
}

const char *sl_buf_cstr(const sl_buf *buf) { return buf->data ? (const char *)buf->data : ""; }

char *sl_buf_steal(sl_buf *buf)
{
    char *s = buf->data ? (char *)buf->data : sl_strdup("");
    *buf = (sl_buf){ 0 };
    return s;
}

sl_result sl_buf_read_file(sl_buf *buf, const char *path, size_t max_len)
{
    sl_result result = SL_FAILURE;
    FILE *f = fopen(path, "rb");
    ENSURE(f != NULL, SL_ERR_IO, "%s: %s", path, strerror(errno));
    sl_buf_reset(buf);
    uint8_t chunk[16384];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n > 0) {
            ENSURE_CLEANUP(buf->len + n <= max_len, SL_ERR_LIMIT, "%s: larger than %zu bytes", path,
                           max_len);
            GUARD_CLEANUP(sl_buf_append(buf, chunk, n));
        }
        if (n < sizeof(chunk)) break;
    }
    ENSURE_CLEANUP(!ferror(f), SL_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    GUARD_CLEANUP(sl_buf_reserve(buf, 0)); /* an empty file still yields a C string */
    buf->data[buf->len] = '\0';
    result = SL_SUCCESS;
cleanup:
    fclose(f);
    return result;
}

sl_cursor sl_cursor_from_cstr(const char *s)
{
    return (sl_cursor){ .ptr = (const uint8_t *)s, .len = s ? strlen(s) : 0 };
}

sl_cursor sl_cursor_from_buf(const sl_buf *buf) { return (sl_cursor){ .ptr = buf->data, .len = buf->len }; }

sl_cursor sl_cursor_from_bytes(const void *bytes, size_t len)
{
    return (sl_cursor){ .ptr = bytes, .len = len };
}

bool sl_cursor_eq(sl_cursor a, sl_cursor b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool sl_cursor_eq_cstr(sl_cursor a, const char *s) { return sl_cursor_eq(a, sl_cursor_from_cstr(s)); }

static uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

bool sl_cursor_eq_ignore_case(sl_cursor a, sl_cursor b)
{
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower(a.ptr[i]) != lower(b.ptr[i])) return false;
    return true;
}

bool sl_cursor_starts_with(sl_cursor c, sl_cursor prefix)
{
    return c.len >= prefix.len && (prefix.len == 0 || memcmp(c.ptr, prefix.ptr, prefix.len) == 0);
}

bool sl_cursor_advance(sl_cursor *c, size_t n)
{
    if (n > c->len) return false;
    c->ptr += n;
    c->len -= n;
    return true;
}

ptrdiff_t sl_cursor_find_byte(sl_cursor c, uint8_t byte)
{
    if (c.len == 0) return -1;
    const uint8_t *hit = memchr(c.ptr, byte, c.len);
    return hit ? hit - c.ptr : -1;
}

bool sl_cursor_next_token(sl_cursor *c, uint8_t delim, sl_cursor *token)
{
    if (c->ptr == NULL) return false;
    ptrdiff_t at = sl_cursor_find_byte(*c, delim);
    if (at < 0) {
        *token = *c;
        c->ptr = NULL;
        c->len = 0;
        return true;
    }
    *token = (sl_cursor){ .ptr = c->ptr, .len = (size_t)at };
    c->ptr += at + 1;
    c->len -= (size_t)at + 1;
    return true;
}

sl_cursor sl_cursor_trim(sl_cursor c)
{
    while (c.len > 0 && (c.ptr[0] == ' ' || c.ptr[0] == '\t')) {
        c.ptr++;
        c.len--;
    }
    while (c.len > 0 && (c.ptr[c.len - 1] == ' ' || c.ptr[c.len - 1] == '\t')) c.len--;
    return c;
}

char *sl_cursor_dup(sl_cursor c)
{
    char *s = sl_malloc(c.len + 1);
    if (c.len > 0) memcpy(s, c.ptr, c.len);
    s[c.len] = '\0';
    return s;
}
