/*
 * buf.h — owning byte buffers and non-owning cursors, the way sluice moves bytes.
 *
 * `sl_buf` owns its memory: {data, len, capacity}. It is always NUL-terminated one past
 * `len` (the terminator is not counted), so `sl_buf_cstr` is free, but it may hold NUL
 * bytes inside. Appends grow it geometrically with overflow-checked arithmetic; an
 * append that cannot be represented fails with SL_ERR_OVERFLOW and leaves the buffer
 * unchanged. Zero-initialised (`sl_buf b = {0};`) is a valid empty buffer.
 *
 * `sl_cursor` is a by-value view {ptr, len} into bytes someone else owns. Cursor
 * operations never read past `len`; the ones that can fail return false and leave the
 * cursor unchanged. HTTP headers, XML values, JSON strings and object keys travel as
 * cursors. (After aws-c-common's aws_byte_buf / aws_byte_cursor.)
 *
 * Threading: none; a buffer belongs to one thread at a time.
 */
#ifndef SLUICE_UTIL_BUF_H
#define SLUICE_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct sl_buf {
    uint8_t *data;
    size_t len;
    size_t capacity;
} sl_buf;

typedef struct sl_cursor {
    const uint8_t *ptr;
    size_t len;
} sl_cursor;

/* ---- buffers ---- */

/* Releases the memory (NULL and zeroed buffers are fine) and zeroes the struct. */
void sl_buf_clean_up(sl_buf *buf);
/* As sl_buf_clean_up, but wipes the bytes first (keys, signatures, tokens). */
void sl_buf_clean_up_secure(sl_buf *buf);
/* Sets len to 0, keeping the memory. */
void sl_buf_reset(sl_buf *buf);

/* Ensures room for `extra` more bytes (plus the terminator). */
SL_MUST_CHECK sl_result sl_buf_reserve(sl_buf *buf, size_t extra);
SL_MUST_CHECK sl_result sl_buf_append(sl_buf *buf, const void *bytes, size_t len);
SL_MUST_CHECK sl_result sl_buf_append_byte(sl_buf *buf, uint8_t byte);
SL_MUST_CHECK sl_result sl_buf_append_cstr(sl_buf *buf, const char *s);
SL_MUST_CHECK sl_result sl_buf_append_cursor(sl_buf *buf, sl_cursor c);
/* Lower-case hexadecimal of `len` bytes. */
SL_MUST_CHECK sl_result sl_buf_append_hex(sl_buf *buf, const uint8_t *bytes, size_t len);
SL_MUST_CHECK sl_result sl_buf_appendf(sl_buf *buf, const char *fmt, ...) SL_PRINTF(2, 3);
SL_MUST_CHECK sl_result sl_buf_vappendf(sl_buf *buf, const char *fmt, va_list ap) SL_PRINTF(2, 0);

/* The contents as a C string ("" for an empty, never-allocated buffer). */
const char *sl_buf_cstr(const sl_buf *buf);
/* Hands the memory to the caller (free with sl_free) and empties the buffer. */
char *sl_buf_steal(sl_buf *buf);

/* Reads a whole file into buf (replacing its contents), at most max_len bytes. */
SL_MUST_CHECK sl_result sl_buf_read_file(sl_buf *buf, const char *path, size_t max_len);

/* ---- cursors ---- */

sl_cursor sl_cursor_from_cstr(const char *s);
sl_cursor sl_cursor_from_buf(const sl_buf *buf);
sl_cursor sl_cursor_from_bytes(const void *bytes, size_t len);

bool sl_cursor_eq(sl_cursor a, sl_cursor b);
bool sl_cursor_eq_cstr(sl_cursor a, const char *s);
bool sl_cursor_eq_ignore_case(sl_cursor a, sl_cursor b);
bool sl_cursor_starts_with(sl_cursor c, sl_cursor prefix);

/* Advances past n bytes; false (cursor unchanged) if fewer remain. */
bool sl_cursor_advance(sl_cursor *c, size_t n);
/* Index of the first `byte`, or -1 (as ptrdiff_t) if absent. */
ptrdiff_t sl_cursor_find_byte(sl_cursor c, uint8_t byte);
/* Splits off the part before the first `delim` into *token and advances past the
 * delimiter; with no delimiter left, the rest becomes the token and the cursor empty.
 * Returns false only when the cursor was empty to begin with (ptr NULL). */
bool sl_cursor_next_token(sl_cursor *c, uint8_t delim, sl_cursor *token);
/* Without leading / trailing spaces and tabs. */
sl_cursor sl_cursor_trim(sl_cursor c);

/* A freshly allocated NUL-terminated copy (free with sl_free). */
char *sl_cursor_dup(sl_cursor c);

#endif /* SLUICE_UTIL_BUF_H */
