/*
 * fuzz_attest_metadata.c — libFuzzer target over the metadata → statement parser
 * (mover/attest/statement.c). The input is metadata as "name: value" lines (the
 * format of tests/vectors/attest/<case>/metadata.txt). Invariants: a refused input leaves
 * the decoded facts zeroed; accepted metadata is canonical — bound to a key that holds
 * its staging suffix, its facts encode back to exactly the same values (every field
 * but sluice-subject, which depends on the key), and the statement builds (or fails
 * only on text that is not UTF-8); and a verification of it reaches a verdict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PAIRS 40

static size_t split_lines(const uint8_t *data, size_t size, sl_cursor *pairs)
{
    size_t n = 0;
    sl_cursor rest = sl_cursor_from_bytes(data, size), line;
    while (rest.len > 0 && n < MAX_PAIRS && sl_cursor_next_token(&rest, '\n', &line)) {
        ptrdiff_t colon = sl_cursor_find_byte(line, ':');
        if (colon < 0) continue;
        size_t skip = (size_t)colon + 1 < line.len && line.ptr[colon + 1] == ' ' ? 2 : 1;
        pairs[2 * n] = sl_cursor_from_bytes(line.ptr, (size_t)colon);
        pairs[2 * n + 1] = sl_cursor_from_bytes(line.ptr + colon + skip, line.len - (size_t)colon - skip);
        n++;
    }
    return n;
}

static void check_round_trip(attest_decoded *d, const sl_cursor *pairs, size_t n)
{
    /* a key that ends with the staging suffix and does not extend it */
    sl_buf key = { 0 };
    uint8_t last = d->staging_prefix.len ? d->staging_prefix.ptr[d->staging_prefix.len - 1] : 0;
    if (sl_failed(sl_buf_append_byte(&key, last == 'a' ? 'b' : 'a'))) abort();
    for (size_t i = 0; i < d->staging_suffix; i++)
        if (sl_failed(sl_buf_append_byte(&key, 'x'))) abort();
    if (sl_failed(attest_decoded_bind(d, sl_cursor_from_buf(&key), sl_cursor_from_cstr("text/plain")))) abort();
    attest_headers h = { 0 };
    sl_buf statement = { 0 };
    if (sl_failed(attest_statement(&statement, &d->facts))) {
        if (sl_error_last() != SL_ERR_ENCODING) abort();
    } else {
        if (sl_failed(attest_metadata_encode(&h, &d->facts, d->key_id, d->sig))) abort();
        for (size_t i = 0; i < h.count; i++) {
            if (sl_cursor_eq_cstr(h.pairs[2 * i], "sluice-subject")) continue;
            bool found = false;
            for (size_t k = 0; k < n && !found; k++)
                found = sl_cursor_eq_ignore_case(pairs[2 * k], h.pairs[2 * i]) && sl_cursor_eq(pairs[2 * k + 1], h.pairs[2 * i + 1]);
            if (!found) abort(); /* accepted, yet not the one spelling of its facts */
        }
    }
    attest_headers_clean_up(&h);
    sl_buf_clean_up(&statement);
    sl_buf_clean_up(&key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_cursor pairs[2 * MAX_PAIRS];
    size_t n = split_lines(data, size, pairs);
    attest_decoded d;
    memset(&d, 0xa5, sizeof(d));
    if (sl_failed(attest_metadata_decode(pairs, n, &d))) {
        static const attest_decoded zero;
        if (memcmp(&d, &zero, sizeof(d)) != 0) abort();
        return 0;
    }
    if (d.unexpected == NULL) check_round_trip(&d, pairs, n);
    attest_decoded_clean_up(&d);

    /* the verifier reaches a verdict on anything */
    static attest_keyring *ring;
    if (ring == NULL && sl_failed(attest_keyring_new(&ring))) abort();
    attest_object o = { .key = sl_cursor_from_cstr("k/x"), .content_type = sl_cursor_from_cstr("text/plain"),
                        .metadata = pairs, .metadata_count = n,
                        .sha256 = sl_cursor_from_cstr("0000000000000000000000000000000000000000000000000000000000000000") };
    attest_verdict v;
    if (sl_failed(attest_verify_object(ring, &o, &v))) abort();
    if (v.reason == ATTEST_VERIFIED) abort(); /* an empty ring trusts nothing */
    attest_verdict_clean_up(&v);
    return 0;
}
