/*
 * test_util.c — unit tests of mover/util: the error convention, checked size
 * arithmetic, owning buffers and cursors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strset.h"
#include "util/timefmt.h"

static sl_result fails_with_parse(void) { RAISE(SL_ERR_PARSE, "line %d: expected '%c'", 7, ':'); }

static sl_result propagates(void)
{
    GUARD(fails_with_parse());
    return SL_SUCCESS;
}

static void error_raise_records_code_detail_and_location(void **state)
{
    (void)state;
    sl_error_clear();
    assert_true(sl_failed(propagates()));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    assert_string_equal(sl_error_detail(), "line 7: expected ':'");
    assert_non_null(strstr(sl_error_location(), "test_util.c:"));
    char text[128];
    assert_string_equal(sl_error_describe(text, sizeof(text)), "malformed input: line 7: expected ':'");
    assert_string_equal(sl_error_name(SL_ERR_PARSE), "SL_ERR_PARSE");
    assert_string_equal(sl_error_message((sl_error)9999), "unknown error");
    sl_error_clear();
    assert_int_equal(sl_error_last(), SL_OK);
}

static void checked_arithmetic_reports_overflow(void **state)
{
    (void)state;
    size_t out = 42;
    assert_false(sl_add_size(SIZE_MAX, 1, &out));
    assert_int_equal(out, 42);
    assert_false(sl_mul_size(SIZE_MAX / 2 + 1, 2, &out));
    assert_int_equal(out, 42);
    assert_true(sl_add_size(40, 2, &out));
    assert_int_equal(out, 42);
    assert_true(sl_mul_size(21, 2, &out));
    assert_int_equal(out, 42);
}

static void buf_appends_and_stays_terminated(void **state)
{
    (void)state;
    sl_buf b = { 0 };
    assert_string_equal(sl_buf_cstr(&b), "");
    assert_true(sl_ok(sl_buf_append_cstr(&b, "abc")));
    assert_true(sl_ok(sl_buf_append_byte(&b, '-')));
    assert_true(sl_ok(sl_buf_appendf(&b, "%d/%s", 12, "x")));
    uint8_t raw[] = { 0x00, 0xab, 0xff };
    assert_true(sl_ok(sl_buf_append_hex(&b, raw, sizeof(raw))));
    assert_string_equal(sl_buf_cstr(&b), "abc-12/x00abff");
    assert_int_equal(b.len, strlen("abc-12/x00abff"));
    /* growth across many appends keeps every byte */
    for (int i = 0; i < 1000; i++) assert_true(sl_ok(sl_buf_append_byte(&b, (uint8_t)('a' + i % 26))));
    assert_int_equal(b.len, 14 + 1000);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(b.data[14 + 25], 'z');
    sl_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(sl_buf_cstr(&b), "");
    sl_buf_clean_up_secure(&b);
    assert_null(b.data);
    sl_buf_clean_up(NULL);
}

static void buf_refuses_overflowing_growth_and_keeps_contents(void **state)
{
    (void)state;
    sl_buf b = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&b, "keep")));
    assert_true(sl_failed(sl_buf_reserve(&b, SIZE_MAX - 2)));
    assert_int_equal(sl_error_last(), SL_ERR_OVERFLOW);
    assert_true(sl_failed(sl_buf_append_hex(&b, (const uint8_t *)"x", SIZE_MAX / 2 + 1)));
    assert_string_equal(sl_buf_cstr(&b), "keep");
    char *owned = sl_buf_steal(&b);
    assert_string_equal(owned, "keep");
    assert_null(b.data);
    sl_free(owned);
}

static void buf_read_file_respects_limit_and_reports_missing(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-test-util-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);

    sl_buf b = { 0 };
    assert_true(sl_ok(sl_buf_read_file(&b, path, 10)));
    assert_string_equal(sl_buf_cstr(&b), "0123456789");
    assert_true(sl_failed(sl_buf_read_file(&b, path, 9)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    unlink(path);
    assert_true(sl_failed(sl_buf_read_file(&b, path, 10)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), path));
    sl_buf_clean_up(&b);
}

static void cursor_tokens_trim_and_compare(void **state)
{
    (void)state;
    sl_cursor c = sl_cursor_from_cstr("a/bb//c/");
    sl_cursor t;
    const char *expected[] = { "a", "bb", "", "c", "" };
    for (size_t i = 0; i < 5; i++) {
        assert_true(sl_cursor_next_token(&c, '/', &t));
        assert_true(sl_cursor_eq_cstr(t, expected[i]));
    }
    assert_false(sl_cursor_next_token(&c, '/', &t));

    sl_cursor padded = sl_cursor_from_cstr(" \t value with  space \t");
    assert_true(sl_cursor_eq_cstr(sl_cursor_trim(padded), "value with  space"));
    assert_true(sl_cursor_eq_ignore_case(sl_cursor_from_cstr("X-Amz-Date"), sl_cursor_from_cstr("x-amz-DATE")));
    assert_true(sl_cursor_starts_with(sl_cursor_from_cstr("staging/x"), sl_cursor_from_cstr("staging/")));
    assert_false(sl_cursor_starts_with(sl_cursor_from_cstr("stag"), sl_cursor_from_cstr("staging/")));

    sl_cursor short_one = sl_cursor_from_cstr("abc");
    assert_false(sl_cursor_advance(&short_one, 4));
    assert_int_equal(short_one.len, 3);
    assert_true(sl_cursor_advance(&short_one, 1));
    assert_true(sl_cursor_eq_cstr(short_one, "bc"));
    assert_int_equal(sl_cursor_find_byte(short_one, 'c'), 1);
    assert_int_equal(sl_cursor_find_byte(short_one, 'z'), -1);

    char *copy = sl_cursor_dup(short_one);
    assert_string_equal(copy, "bc");
    sl_free(copy);
}

static void times_format_and_parse(void **state)
{
    (void)state;
    char text[SL_TIME_TEXT_LEN + 1];
    /* python3 -c "import datetime as d;print(d.datetime(2024,2,29,23,59,59,999000,tzinfo=d.timezone.utc).timestamp())" */
    assert_true(sl_time_format(1709251199999, text));
    assert_string_equal(text, "2024-02-29T23:59:59.999Z");
    assert_true(sl_time_format(0, text));
    assert_string_equal(text, "1970-01-01T00:00:00.000Z");
    assert_true(sl_time_format(SL_TIME_MAX_MS, text));
    assert_string_equal(text, "9999-12-31T23:59:59.999Z");
    assert_false(sl_time_format(-1, text));
    assert_false(sl_time_format(SL_TIME_MAX_MS + 1, text));
    int64_t ms = 42;
    assert_true(sl_time_parse(sl_cursor_from_cstr("2024-02-29T23:59:59.999Z"), &ms));
    assert_int_equal(ms, 1709251199999);
    const char *bad[] = { "2023-02-29T00:00:00.000Z", "2024-13-01T00:00:00.000Z", "2024-01-01T24:00:00.000Z",
                          "2024-01-01T00:00:00.00Z", "2024-01-01 00:00:00.000Z", "1969-12-31T23:59:59.999Z",
                          "2024-01-01T00:00:00.000", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        assert_false(sl_time_parse(sl_cursor_from_cstr(bad[i]), &ms));
        assert_int_equal(ms, 42);
    }
    /* S3 listings: the fraction is optional and may be longer or shorter */
    assert_true(sl_time_parse_s3(sl_cursor_from_cstr("2026-11-27T21:22:28.771Z"), &ms));
    assert_int_equal(ms % 1000, 771);
    assert_true(sl_time_parse_s3(sl_cursor_from_cstr("2026-11-27T21:22:28Z"), &ms));
    assert_int_equal(ms % 1000, 0);
    assert_true(sl_time_parse_s3(sl_cursor_from_cstr("2026-11-27T21:22:28.7Z"), &ms));
    assert_int_equal(ms % 1000, 700);
    assert_true(sl_time_parse_s3(sl_cursor_from_cstr("2026-11-27T21:22:28.123456Z"), &ms));
    assert_int_equal(ms % 1000, 123);
    assert_false(sl_time_parse_s3(sl_cursor_from_cstr("2026-11-27T21:22:28.Z"), &ms));
    assert_false(sl_time_parse_s3(sl_cursor_from_cstr("2026-11-27T21:22:28.12aZ"), &ms));
    int64_t now = sl_time_now_ms();
    assert_true(now > 1700000000000 && now < SL_TIME_MAX_MS);
}

static void strset_adds_finds_and_removes(void **state)
{
    (void)state;
    strset set = { 0 };
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_true(strset_add(&set, sl_cursor_from_cstr(key)));
    }
    assert_false(strset_add(&set, sl_cursor_from_cstr("key-7")));
    for (int i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_true(strset_remove(&set, sl_cursor_from_cstr(key)));
    }
    assert_false(strset_remove(&set, sl_cursor_from_cstr("key-0")));
    assert_int_equal(set.count, 500);
    assert_true(strset_contains(&set, sl_cursor_from_cstr("key-999")));
    assert_false(strset_contains(&set, sl_cursor_from_cstr("key-998")));
    assert_true(strset_add(&set, sl_cursor_from_cstr("key-998"))); /* reuses a tombstone */
    assert_true(strset_add(&set, sl_cursor_from_bytes("a\0b", 3))); /* any bytes */
    assert_true(strset_contains(&set, sl_cursor_from_bytes("a\0b", 3)));
    assert_false(strset_contains(&set, sl_cursor_from_bytes("a\0c", 3)));
    strset_clean_up(&set);
    assert_null(set.slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_raise_records_code_detail_and_location),
        cmocka_unit_test(checked_arithmetic_reports_overflow),
        cmocka_unit_test(buf_appends_and_stays_terminated),
        cmocka_unit_test(buf_refuses_overflowing_growth_and_keeps_contents),
        cmocka_unit_test(buf_read_file_respects_limit_and_reports_missing),
        cmocka_unit_test(cursor_tokens_trim_and_compare),
        cmocka_unit_test(times_format_and_parse),
        cmocka_unit_test(strset_adds_finds_and_removes),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
