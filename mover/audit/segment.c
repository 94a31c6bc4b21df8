/*
 * segment.c — audit segment keys, heads and line checks (segment.h). The head's
 * statement is written with the attestation module's canonical JSON and signed as a
 * DSSE envelope (mover/attest/dsse.h), like a promotion; the metadata fields are plain
 * decimals and hex, read back strictly.
 */
#include "audit/segment.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "attest/dsse.h"
#include "attest/statement.h"
#include "util/alloc.h"

#define DIGITS 20

bool audit_log_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > AUDIT_LOG_NAME_MAX || name[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
    }
    return true;
}

/* ---- keys ---- */

sl_result audit_segment_key(sl_buf *out, const char *prefix, uint64_t first, uint64_t last)
{
    ENSURE(first >= 1 && last >= first, SL_ERR_INVALID_ARGUMENT, "a segment of records %" PRIu64 "..%" PRIu64, first,
           last);
    return sl_buf_appendf(out, "%s%020" PRIu64 "-%020" PRIu64 ".jsonl", prefix, first, last);
}

static bool digits(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

sl_result audit_segment_key_parse(sl_cursor key, const char *prefix, uint64_t *first, uint64_t *last)
{
    sl_cursor p = sl_cursor_from_cstr(prefix);
    ENSURE(sl_cursor_starts_with(key, p) && key.len == p.len + 2 * DIGITS + 7, SL_ERR_PARSE,
           "%.*s is not an audit segment key under %s", (int)(key.len > 200 ? 200 : key.len), (const char *)key.ptr,
           prefix);
    const uint8_t *k = key.ptr + p.len;
    ENSURE(k[DIGITS] == '-' && memcmp(k + 2 * DIGITS + 1, ".jsonl", 6) == 0 && digits(k, DIGITS, first) &&
               digits(k + DIGITS + 1, DIGITS, last) && *first >= 1 && *last >= *first,
           SL_ERR_PARSE, "%.*s is not an audit segment key (<first>-<last>.jsonl)", (int)(key.len > 200 ? 200 : key.len),
           (const char *)key.ptr);
    return SL_SUCCESS;
}

sl_result audit_segment_start_after(sl_buf *out, const char *prefix, uint64_t seq)
{
    /* "<seq-1>." sorts after every "<seq-1>-…" key and before "<seq>-…" */
    return sl_buf_appendf(out, "%s%020" PRIu64 ".", prefix, seq > 0 ? seq - 1 : 0);
}

/* ---- lines ---- */

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static bool hex32(const uint8_t *p, size_t n, uint8_t out[32])
{
    if (n != 64) return false;
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static void hex_of(const uint8_t in[32], char out[65])
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[64] = '\0';
}

sl_result audit_line_fields(sl_cursor line, uint64_t *seq, uint8_t prev[32])
{
    static const char head[] = "{\"seq\":", tail[] = ",\"prev\":\"";
    const size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
    ENSURE(line.len > hl + tl + 64 + 2 && memcmp(line.ptr, head, hl) == 0, SL_ERR_PARSE,
           "a line that does not start with {\"seq\":");
    size_t n = 0;
    while (hl + n < line.len && n < 20 && line.ptr[hl + n] >= '0' && line.ptr[hl + n] <= '9') n++;
    ENSURE(n > 0 && line.ptr[hl + n] == ',' && (line.ptr[hl] != '0' || n == 1) && digits(line.ptr + hl, n, seq) && *seq >= 1,
           SL_ERR_PARSE, "a line whose seq is not a positive number");
    const uint8_t *end = line.ptr + line.len;
    ENSURE(end[-1] == '}' && end[-2] == '"' && memcmp(end - 2 - 64 - tl, tail, tl) == 0 && hex32(end - 2 - 64, 64, prev),
           SL_ERR_PARSE, "record %" PRIu64 ": the line does not end with \"prev\":\"<64 hex>\"}", *seq);
    return SL_SUCCESS;
}

static sl_result sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    GUARD_OSSL(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), SL_ERR_CRYPTO);
    return SL_SUCCESS;
}

sl_result audit_segment_scan(sl_cursor bytes, audit_chain_point *point, size_t *used, uint64_t *bad_seq)
{
    *used = 0;
    *bad_seq = 0;
    while (*used < bytes.len) {
        sl_cursor rest = sl_cursor_from_bytes(bytes.ptr + *used, bytes.len - *used);
        ptrdiff_t nl = sl_cursor_find_byte(rest, '\n');
        if (nl < 0) break; /* no whole line left */
        sl_cursor line = sl_cursor_from_bytes(rest.ptr, (size_t)nl);
        uint64_t seq = 0;
        uint8_t prev[32];
        uint64_t want = point->seq + 1;
        if (sl_failed(audit_line_fields(line, &seq, prev))) {
            *bad_seq = want;
            char why[200];
            snprintf(why, sizeof(why), "%s", sl_error_detail());
            RAISE(SL_ERR_PARSE, "record %" PRIu64 " (byte %" PRIu64 "): %s", want, point->offset, why);
        }
        static const uint8_t zeros[32];
        bool chained = point->seq == 0 ? (seq == 1 && memcmp(prev, zeros, 32) == 0)
                                       : (seq == want && CRYPTO_memcmp(prev, point->hash, 32) == 0);
        if (!chained) {
            *bad_seq = want;
            if (seq != want)
                RAISE(SL_ERR_PARSE, "record %" PRIu64 " (byte %" PRIu64 "): the line has seq %" PRIu64, want,
                      point->offset, seq);
            RAISE(SL_ERR_PARSE, "record %" PRIu64 " (byte %" PRIu64 "): prev is not the SHA-256 of record %" PRIu64,
                  want, point->offset, point->seq);
        }
        GUARD(sha256(line.ptr, line.len, point->hash));
        point->seq = seq;
        point->offset += (uint64_t)nl + 1;
        *used += (size_t)nl + 1;
    }
    return SL_SUCCESS;
}

/* ---- heads ---- */

sl_result audit_segment_statement(sl_buf *out, sl_cursor key, const audit_segment_head *h)
{
    char prev[65], head[65], digest[65];
    hex_of(h->prev, prev);
    hex_of(h->head, head);
    hex_of(h->digest, digest);
    GUARD(sl_buf_appendf(out,
                         "{\"_type\":\"" ATTEST_STATEMENT_TYPE "\",\"predicate\":{\"end\":%" PRIu64 ",\"first\":%" PRIu64
                         ",\"head\":\"%s\",\"last\":%" PRIu64 ",\"log\":",
                         h->end, h->first, head, h->last));
    GUARD(attest_json_string(out, sl_cursor_from_cstr(h->log)));
    GUARD(sl_buf_appendf(out,
                         ",\"prev\":\"%s\",\"start\":%" PRIu64 "},\"predicateType\":\"" AUDIT_SEGMENT_PREDICATE_TYPE
                         "\",\"subject\":[{\"digest\":{\"sha256\":\"%s\"},\"name\":",
                         prev, h->start, digest));
    GUARD(attest_json_string(out, key));
    return sl_buf_append_cstr(out, "}]}");
}

sl_result audit_segment_sign(const attest_signer *signer, sl_cursor key, audit_segment_head *h, sl_buf *store,
                             sl_cursor *pairs, size_t *count)
{
    sl_buf statement = { 0 };
    sl_result result = audit_segment_statement(&statement, key, h);
    if (sl_ok(result))
        result = attest_dsse_sign(signer, sl_cursor_from_cstr(ATTEST_INTOTO_PAYLOAD_TYPE),
                                  sl_cursor_from_buf(&statement), h->sig);
    sl_buf_clean_up(&statement);
    GUARD(result);
    memcpy(h->key_id, attest_signer_key_id(signer), sizeof(h->key_id));
    char prev[65], head[65];
    hex_of(h->prev, prev);
    hex_of(h->head, head);
    sl_buf_reset(store);
    static const char *const names[] = { "sluice-audit-log",  "sluice-audit-records", "sluice-audit-bytes",
                                         "sluice-audit-prev", "sluice-audit-head",    "sluice-keyid",
                                         "sluice-signature" };
    size_t at[7];
    at[0] = store->len;
    GUARD(sl_buf_appendf(store, "%s%c", h->log, 0));
    at[1] = store->len;
    GUARD(sl_buf_appendf(store, "%" PRIu64 "-%" PRIu64 "%c", h->first, h->last, 0));
    at[2] = store->len;
    GUARD(sl_buf_appendf(store, "%" PRIu64 "-%" PRIu64 "%c", h->start, h->end, 0));
    at[3] = store->len;
    GUARD(sl_buf_appendf(store, "%s%c", prev, 0));
    at[4] = store->len;
    GUARD(sl_buf_appendf(store, "%s%c", head, 0));
    at[5] = store->len;
    GUARD(sl_buf_appendf(store, "%s%c", h->key_id, 0));
    at[6] = store->len;
    GUARD(attest_base64_encode(store, h->sig, ATTEST_SIGNATURE_LEN));
    /* the store no longer moves: point the pairs into it */
    for (size_t i = 0; i < 7; i++) {
        pairs[2 * i] = sl_cursor_from_cstr(names[i]);
        pairs[2 * i + 1] = sl_cursor_from_cstr((const char *)store->data + at[i]);
    }
    *count = 7;
    return SL_SUCCESS;
}

static sl_result range_of(sl_cursor v, const char *what, uint64_t *a, uint64_t *b)
{
    ptrdiff_t dash = sl_cursor_find_byte(v, '-');
    ENSURE(dash > 0 && dash <= 20 && v.len - (size_t)dash - 1 >= 1 && v.len - (size_t)dash - 1 <= 20 &&
               (v.ptr[0] != '0' || dash == 1) && (v.ptr[dash + 1] != '0' || v.len - (size_t)dash - 1 == 1) &&
               digits(v.ptr, (size_t)dash, a) && digits(v.ptr + dash + 1, v.len - (size_t)dash - 1, b) && *b >= *a,
           SL_ERR_PARSE, "%s: expected <from>-<to> in decimal", what);
    return SL_SUCCESS;
}

sl_result audit_segment_head_decode(const sl_cursor *pairs, size_t count, audit_segment_head *h)
{
    *h = (audit_segment_head){ 0 };
    static const char *const names[] = { "sluice-audit-log",  "sluice-audit-records", "sluice-audit-bytes",
                                         "sluice-audit-prev", "sluice-audit-head",    "sluice-keyid",
                                         "sluice-signature" };
    sl_cursor v[7] = { { 0 } };
    bool seen[7] = { false };
    for (size_t i = 0; i < count; i++) {
        for (size_t f = 0; f < 7; f++) {
            if (!sl_cursor_eq_ignore_case(pairs[2 * i], sl_cursor_from_cstr(names[f]))) continue;
            ENSURE(!seen[f], SL_ERR_PARSE, "metadata field %s appears twice", names[f]);
            seen[f] = true;
            v[f] = pairs[2 * i + 1];
        }
    }
    for (size_t f = 0; f < 7; f++) ENSURE(seen[f], SL_ERR_PARSE, "the segment has no %s metadata", names[f]);
    ENSURE(v[0].len <= AUDIT_LOG_NAME_MAX, SL_ERR_PARSE, "sluice-audit-log: too long");
    memcpy(h->log, v[0].ptr, v[0].len);
    ENSURE(audit_log_name_valid(h->log), SL_ERR_PARSE, "sluice-audit-log: not a log name");
    GUARD(range_of(v[1], "sluice-audit-records", &h->first, &h->last));
    ENSURE(h->first >= 1, SL_ERR_PARSE, "sluice-audit-records: records count from 1");
    GUARD(range_of(v[2], "sluice-audit-bytes", &h->start, &h->end));
    ENSURE(hex32(v[3].ptr, v[3].len, h->prev), SL_ERR_PARSE, "sluice-audit-prev: expected 64 lower-case hex digits");
    ENSURE(hex32(v[4].ptr, v[4].len, h->head), SL_ERR_PARSE, "sluice-audit-head: expected 64 lower-case hex digits");
    ENSURE(v[5].len == ATTEST_KEY_ID_LEN && hex32(v[5].ptr, v[5].len, (uint8_t[32]){ 0 }), SL_ERR_PARSE,
           "sluice-keyid: expected 64 lower-case hex digits");
    memcpy(h->key_id, v[5].ptr, ATTEST_KEY_ID_LEN);
    sl_buf sig = { 0 };
    sl_result r = attest_base64_decode(&sig, v[6]);
    bool ok = sl_ok(r) && sig.len == ATTEST_SIGNATURE_LEN;
    if (ok) memcpy(h->sig, sig.data, ATTEST_SIGNATURE_LEN);
    sl_buf_clean_up(&sig);
    ENSURE(ok, SL_ERR_PARSE, "sluice-signature: not a base64 Ed25519 signature");
    return SL_SUCCESS;
}

sl_result audit_segment_verify(const attest_keyring *ring, sl_cursor key, const audit_segment_head *h)
{
    sl_buf statement = { 0 };
    sl_result result = audit_segment_statement(&statement, key, h);
    if (sl_ok(result))
        result = attest_dsse_verify(ring, sl_cursor_from_cstr(h->key_id), sl_cursor_from_cstr(ATTEST_INTOTO_PAYLOAD_TYPE),
                                    sl_cursor_from_buf(&statement), h->sig, ATTEST_SIGNATURE_LEN);
    sl_buf_clean_up(&statement);
    return result;
}

sl_result audit_segment_check_bytes(sl_cursor bytes, const audit_segment_head *h)
{
    ENSURE(bytes.len == h->end - h->start && h->end >= h->start, SL_ERR_PARSE,
           "the segment has %zu bytes, its head says %" PRIu64, bytes.len, h->end - h->start);
    static const uint8_t zeros[32];
    audit_chain_point p = { .seq = h->first - 1, .offset = h->start };
    memcpy(p.hash, h->prev, 32);
    if (h->first == 1)
        ENSURE(memcmp(h->prev, zeros, 32) == 0 && h->start == 0, SL_ERR_PARSE,
               "the first segment does not start the log (prev zeros at byte 0)");
    size_t used = 0;
    uint64_t bad = 0;
    GUARD(audit_segment_scan(bytes, &p, &used, &bad));
    ENSURE(used == bytes.len, SL_ERR_PARSE, "the segment ends inside a line");
    ENSURE(p.seq == h->last && memcmp(p.hash, h->head, 32) == 0, SL_ERR_PARSE,
           "the segment's lines end at record %" PRIu64 ", its head says %" PRIu64 " (or another last record)", p.seq,
           h->last);
    return SL_SUCCESS;
}

sl_result audit_segment_compare(sl_cursor segment_bytes, sl_cursor local_bytes, const audit_segment_head *h,
                                uint64_t *record)
{
    size_t at = 0;
    uint64_t seq = h->first;
    *record = 0;
    while (at < segment_bytes.len) {
        sl_cursor rest = sl_cursor_from_bytes(segment_bytes.ptr + at, segment_bytes.len - at);
        ptrdiff_t nl = sl_cursor_find_byte(rest, '\n');
        size_t len = nl < 0 ? rest.len : (size_t)nl + 1;
        if (local_bytes.len < at + len) {
            *record = seq;
            RAISE(SL_ERR_STATE,
                  "record %" PRIu64 " (byte %" PRIu64 ") was shipped but the local audit log %s: it is shorter than "
                  "what was shipped",
                  seq, h->start + at, local_bytes.len <= at ? "ends before it" : "holds only part of it");
        }
        if (memcmp(local_bytes.ptr + at, rest.ptr, len) != 0) {
            *record = seq;
            RAISE(SL_ERR_STATE, "record %" PRIu64 " (byte %" PRIu64 ") of the local audit log differs from the one shipped",
                  seq, h->start + at);
        }
        at += len;
        seq++;
    }
    return SL_SUCCESS;
}
