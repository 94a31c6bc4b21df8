/*
 * test_audit_segment.c — unit tests of mover/audit/segment.c: segment keys sort by
 * record number and the start-after bound lists exactly the segments from a record on;
 * lines are read by position; the chain scan names the first broken record; a head
 * signs, decodes strictly and verifies, and fails once the bytes, a field or the key
 * change (or its key is not trusted); a local log shorter than or different from a
 * segment is named by record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attest/keys.h"
#include "audit/segment.h"
#include "util/alloc.h"

/* Three chained records as the writer lays them out. */
static void make_log(sl_buf *out, size_t count)
{
    uint8_t prev[32] = { 0 };
    sl_buf_reset(out);
    for (size_t i = 1; i <= count; i++) {
        size_t start = out->len;
        assert_true(sl_ok(sl_buf_appendf(out, "{\"seq\":%zu,\"time\":\"2026-01-01T00:00:00.000Z\",\"event\":\"e\",\"actor\":\"mover\",\"prev\":\"", i)));
        assert_true(sl_ok(sl_buf_append_hex(out, prev, 32)));
        assert_true(sl_ok(sl_buf_append_cstr(out, "\"}")));
        unsigned int n = 0;
        assert_int_equal(EVP_Digest(out->data + start, out->len - start, prev, &n, EVP_sha256(), NULL), 1);
        assert_true(sl_ok(sl_buf_append_byte(out, '\n')));
    }
}

static void keys_sort_by_record(void **state)
{
    (void)state;
    sl_buf a = { 0 }, b = { 0 }, after = { 0 };
    assert_true(sl_ok(audit_segment_key(&a, "sluice/audit/mover/", 9, 12)));
    assert_string_equal(sl_buf_cstr(&a), "sluice/audit/mover/00000000000000000009-00000000000000000012.jsonl");
    assert_true(sl_ok(audit_segment_key(&b, "sluice/audit/mover/", 13, 13)));
    assert_true(strcmp(sl_buf_cstr(&a), sl_buf_cstr(&b)) < 0);
    uint64_t first, last;
    assert_true(sl_ok(audit_segment_key_parse(sl_cursor_from_buf(&a), "sluice/audit/mover/", &first, &last)));
    assert_int_equal(first, 9);
    assert_int_equal(last, 12);
    assert_true(sl_failed(audit_segment_key_parse(sl_cursor_from_cstr("sluice/audit/mover/x.jsonl"), "sluice/audit/mover/", &first, &last)));
    assert_true(sl_failed(audit_segment_key_parse(sl_cursor_from_buf(&a), "sluice/audit/other/", &first, &last)));
    assert_true(sl_failed(audit_segment_key(&a, "p/", 5, 4)));
    /* start-after(9) lists the segment starting at 9, not the one before it */
    assert_true(sl_ok(audit_segment_start_after(&after, "sluice/audit/mover/", 9)));
    assert_true(strcmp(sl_buf_cstr(&after), sl_buf_cstr(&a)) < 0);
    sl_buf_reset(&b);
    assert_true(sl_ok(audit_segment_key(&b, "sluice/audit/mover/", 1, 8)));
    assert_true(strcmp(sl_buf_cstr(&b), sl_buf_cstr(&after)) < 0);
    sl_buf_reset(&after);
    assert_true(sl_ok(audit_segment_start_after(&after, "sluice/audit/mover/", 10)));
    assert_true(strcmp(sl_buf_cstr(&a), sl_buf_cstr(&after)) < 0);
    assert_true(audit_log_name_valid("mover-1.eu"));
    assert_false(audit_log_name_valid("Mover"));
    assert_false(audit_log_name_valid(".hidden"));
    assert_false(audit_log_name_valid("a/b"));
    assert_false(audit_log_name_valid(""));
    sl_buf_clean_up(&a);
    sl_buf_clean_up(&b);
    sl_buf_clean_up(&after);
}

static void scan_names_the_first_broken_record(void **state)
{
    (void)state;
    sl_buf log = { 0 };
    make_log(&log, 5);
    audit_chain_point p = { 0 };
    size_t used;
    uint64_t bad;
    assert_true(sl_ok(audit_segment_scan(sl_cursor_from_buf(&log), &p, &used, &bad)));
    assert_int_equal(p.seq, 5);
    assert_int_equal(used, log.len);
    assert_int_equal(p.offset, log.len);

    /* a torn tail is left for later */
    p = (audit_chain_point){ 0 };
    assert_true(sl_ok(audit_segment_scan(sl_cursor_from_bytes(log.data, log.len - 3), &p, &used, &bad)));
    assert_int_equal(p.seq, 4);

    /* an edited record 3 breaks the link of record 4 */
    char *third = strstr((char *)log.data, "{\"seq\":3,");
    third[30] = 'X';
    p = (audit_chain_point){ 0 };
    sl_error_clear();
    assert_true(sl_failed(audit_segment_scan(sl_cursor_from_buf(&log), &p, &used, &bad)));
    assert_int_equal(bad, 4);
    assert_int_equal(p.seq, 3);
    assert_non_null(strstr(sl_error_detail(), "record 4"));
    assert_non_null(strstr(sl_error_detail(), "prev is not the SHA-256 of record 3"));

    /* a record removed: seq jumps */
    make_log(&log, 3);
    char *second = strstr((char *)log.data, "{\"seq\":2,");
    char *after_second = strchr(second, '\n') + 1;
    memmove(second, after_second, (size_t)((char *)log.data + log.len - after_second));
    log.len -= (size_t)(after_second - second);
    p = (audit_chain_point){ 0 };
    assert_true(sl_failed(audit_segment_scan(sl_cursor_from_buf(&log), &p, &used, &bad)));
    assert_int_equal(bad, 2);
    assert_non_null(strstr(sl_error_detail(), "has seq 3"));

    uint64_t seq;
    uint8_t prev[32];
    assert_true(sl_failed(audit_line_fields(sl_cursor_from_cstr("{\"seq\":01,\"prev\":\"00\"}"), &seq, prev)));
    assert_true(sl_failed(audit_line_fields(sl_cursor_from_cstr("not json"), &seq, prev)));
    sl_buf_clean_up(&log);
}

static char tmpdir[64];

static attest_signer *new_signer(const char *name, char *pub, size_t pub_size)
{
    char prefix[128], key[140], id[ATTEST_KEY_ID_LEN + 1];
    snprintf(prefix, sizeof(prefix), "%s/%s", tmpdir, name);
    snprintf(key, sizeof(key), "%s.key", prefix);
    snprintf(pub, pub_size, "%s.pub", prefix);
    assert_true(sl_ok(attest_keygen(prefix, id)));
    attest_signer *s = NULL;
    assert_true(sl_ok(attest_signer_load(key, &s)));
    return s;
}

static void heads_sign_decode_and_verify(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-segment-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char pub[160], other_pub[160];
    attest_signer *signer = new_signer("a", pub, sizeof(pub));
    attest_signer *other = new_signer("b", other_pub, sizeof(other_pub));
    attest_keyring *ring = NULL;
    assert_true(sl_ok(attest_keyring_new(&ring)));
    assert_true(sl_ok(attest_keyring_add_file(ring, pub)));

    sl_buf log = { 0 };
    make_log(&log, 4);
    audit_chain_point p = { 0 };
    size_t used;
    uint64_t bad;
    assert_true(sl_ok(audit_segment_scan(sl_cursor_from_buf(&log), &p, &used, &bad)));
    audit_segment_head h = { .first = 1, .last = 4, .start = 0, .end = log.len };
    snprintf(h.log, sizeof(h.log), "mover");
    memcpy(h.head, p.hash, 32);
    unsigned int n;
    assert_int_equal(EVP_Digest(log.data, log.len, h.digest, &n, EVP_sha256(), NULL), 1);
    const char *key = "sluice/audit/mover/00000000000000000001-00000000000000000004.jsonl";
    sl_buf store = { 0 };
    sl_cursor pairs[14];
    size_t count = 0;
    assert_true(sl_ok(audit_segment_sign(signer, sl_cursor_from_cstr(key), &h, &store, pairs, &count)));
    assert_int_equal(count, 7);
    assert_true(sl_cursor_eq_cstr(pairs[2], "sluice-audit-records"));
    assert_true(sl_cursor_eq_cstr(pairs[3], "1-4"));

    audit_segment_head back;
    assert_true(sl_ok(audit_segment_head_decode(pairs, count, &back)));
    memcpy(back.digest, h.digest, 32);
    assert_true(sl_ok(audit_segment_verify(ring, sl_cursor_from_cstr(key), &back)));
    assert_true(sl_ok(audit_segment_check_bytes(sl_cursor_from_buf(&log), &back)));

    /* another key, other bytes, another field: refused */
    assert_true(sl_failed(audit_segment_verify(ring, sl_cursor_from_cstr("sluice/audit/mover/x"), &back)));
    audit_segment_head changed = back;
    changed.digest[0] ^= 1;
    sl_error_clear();
    assert_true(sl_failed(audit_segment_verify(ring, sl_cursor_from_cstr(key), &changed)));
    assert_int_equal(sl_error_last(), SL_ERR_CRYPTO);
    changed = back;
    changed.end--;
    assert_true(sl_failed(audit_segment_verify(ring, sl_cursor_from_cstr(key), &changed)));
    /* signed by a key that is not trusted */
    audit_segment_head by_other = h;
    assert_true(sl_ok(audit_segment_sign(other, sl_cursor_from_cstr(key), &by_other, &store, pairs, &count)));
    sl_error_clear();
    assert_true(sl_failed(audit_segment_verify(ring, sl_cursor_from_cstr(key), &by_other)));
    assert_int_equal(sl_error_last(), SL_ERR_NOT_FOUND);

    /* strict metadata */
    sl_cursor bad_pairs[14];
    memcpy(bad_pairs, pairs, sizeof(pairs));
    bad_pairs[3] = sl_cursor_from_cstr("01-4");
    assert_true(sl_failed(audit_segment_head_decode(bad_pairs, count, &back)));
    bad_pairs[3] = sl_cursor_from_cstr("4-1");
    assert_true(sl_failed(audit_segment_head_decode(bad_pairs, count, &back)));
    assert_true(sl_failed(audit_segment_head_decode(pairs, count - 1, &back)));

    /* check_bytes: a segment whose lines are not the ones its head names */
    sl_buf shorter = { 0 };
    make_log(&shorter, 3);
    assert_true(sl_failed(audit_segment_check_bytes(sl_cursor_from_buf(&shorter), &h)));

    /* compare: shorter, then different */
    uint64_t record = 0;
    assert_true(sl_ok(audit_segment_compare(sl_cursor_from_buf(&log), sl_cursor_from_buf(&log), &h, &record)));
    sl_error_clear();
    assert_true(sl_failed(audit_segment_compare(sl_cursor_from_buf(&log), sl_cursor_from_buf(&shorter), &h, &record)));
    assert_int_equal(record, 4);
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_non_null(strstr(sl_error_detail(), "shorter"));
    assert_true(sl_failed(audit_segment_compare(sl_cursor_from_buf(&log), sl_cursor_from_bytes(log.data, log.len - 5), &h, &record)));
    assert_int_equal(record, 4);
    sl_buf edited = { 0 };
    assert_true(sl_ok(sl_buf_append(&edited, log.data, log.len)));
    strstr((char *)edited.data, "{\"seq\":2,")[30] = 'Y';
    assert_true(sl_failed(audit_segment_compare(sl_cursor_from_buf(&log), sl_cursor_from_buf(&edited), &h, &record)));
    assert_int_equal(record, 2);
    assert_non_null(strstr(sl_error_detail(), "record 2"));
    assert_non_null(strstr(sl_error_detail(), "differs"));

    sl_buf_clean_up(&edited);
    sl_buf_clean_up(&shorter);
    sl_buf_clean_up(&store);
    sl_buf_clean_up(&log);
    attest_keyring_destroy(ring);
    attest_signer_destroy(signer);
    attest_signer_destroy(other);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_sort_by_record),
        cmocka_unit_test(scan_names_the_first_broken_record),
        cmocka_unit_test(heads_sign_decode_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
