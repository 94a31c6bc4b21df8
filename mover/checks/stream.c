/*
 * stream.c — the stream view the scanners read through (checks_impl.h): slices of the
 * bytes around a match, spanning the previous buffers' tail and the current buffer, and
 * the bounded history kept between buffers.
 */
#include "checks/checks_impl.h"

#include <stdio.h>
#include <string.h>

sl_result view_slice(const stream_view *v, uint64_t from, uint64_t to, sl_buf *scratch, sl_cursor *out, uint64_t *at)
{
    uint64_t lo = view_start(v), hi = view_end(v);
    if (from < lo) from = lo;
    if (to > hi) to = hi;
    if (to < from) to = from;
    *at = from;
    if (from >= v->base) {
        *out = sl_cursor_from_bytes(v->data + (from - v->base), (size_t)(to - from));
        return SL_SUCCESS;
    }
    sl_buf_reset(scratch);
    size_t h_off = (size_t)(from - lo);
    uint64_t h_to = to < v->base ? to : v->base;
    GUARD(sl_buf_append(scratch, v->history + h_off, (size_t)(h_to - from)));
    if (to > v->base) GUARD(sl_buf_append(scratch, v->data, (size_t)(to - v->base)));
    *out = sl_cursor_from_buf(scratch);
    return SL_SUCCESS;
}

sl_result history_keep(sl_buf *history, const uint8_t *data, size_t len, size_t keep)
{
    if (len >= keep) {
        sl_buf_reset(history);
        return sl_buf_append(history, data + len - keep, keep);
    }
    size_t total = history->len + len;
    if (total > keep) {
        size_t drop = total - keep;
        memmove(history->data, history->data + drop, history->len - drop);
        history->len -= drop;
    }
    return sl_buf_append(history, data, len);
}

void checks_format_offset(uint64_t n, char out[32])
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}
