/*
 * fuzz_audit_segment.c — libFuzzer target over the parsers of shipped audit segments
 * (mover/audit/segment.c): the chain scan of a segment's lines, the segment key, and a
 * head's metadata. Invariants: the scan consumes only whole lines (what it used ends
 * with a newline), advances seq by one per line from record 1, and its offset is the
 * bytes used; a key that parses writes back to itself; a head that decodes re-signs to
 * metadata that decodes to the same head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void scan(const uint8_t *data, size_t size)
{
    audit_chain_point p = { 0 };
    size_t used = 0;
    uint64_t bad = 0;
    sl_result r = audit_segment_scan(sl_cursor_from_bytes(data, size), &p, &used, &bad);
    if (used > size || p.offset != used) abort();
    if (used > 0 && data[used - 1] != '\n') abort();
    size_t lines = 0;
    for (size_t i = 0; i < used; i++) lines += data[i] == '\n';
    if (p.seq != lines) abort();
    if (sl_failed(r) && bad != lines + 1) abort();
}

static void key(const uint8_t *data, size_t size)
{
    uint64_t first, last;
    const char *prefix = "sluice/audit/mover/";
    if (sl_failed(audit_segment_key_parse(sl_cursor_from_bytes(data, size), prefix, &first, &last))) return;
    sl_buf again = { 0 };
    if (sl_failed(audit_segment_key(&again, prefix, first, last))) abort();
    if (again.len != size || memcmp(again.data, data, size) != 0) abort();
    sl_buf_clean_up(&again);
}

static void head(const uint8_t *data, size_t size)
{
    sl_cursor pairs[32];
    size_t n = 0;
    sl_cursor rest = sl_cursor_from_bytes(data, size), line;
    while (rest.len > 0 && n < 16 && sl_cursor_next_token(&rest, '\n', &line)) {
        ptrdiff_t colon = sl_cursor_find_byte(line, ':');
        if (colon < 0) continue;
        pairs[2 * n] = sl_cursor_from_bytes(line.ptr, (size_t)colon);
        pairs[2 * n + 1] = sl_cursor_from_bytes(line.ptr + colon + 1, line.len - (size_t)colon - 1);
        n++;
    }
    audit_segment_head h;
    if (sl_failed(audit_segment_head_decode(pairs, n, &h))) return;
    if (h.first < 1 || h.last < h.first || h.end < h.start || !audit_log_name_valid(h.log)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan(data, size);
    key(data, size);
    head(data, size);
    return 0;
}
