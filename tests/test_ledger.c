/*
 * test_ledger.c — the audit ledger (mover/state/ledger.h): what it reads from the tail
 * of an audit file (whole lines only, records with an artifact and a `to`), what it is
 * told, and that it forgets the oldest artifacts first at its capacity.
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

#include "state/ledger.h"
#include "util/timefmt.h"

#define A "0123456789abcdef0123456789abcdef"
#define B "fedcba9876543210fedcba9876543210"
#define C "00000000000000000000000000000001"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void reads_records_from_the_tail(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-ledger-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "{\"seq\":1,\"event\":\"quarantine\",\"artifact\":\"" A "\",\"from\":\"staged\",\"to\":\"quarantined\"}\n"
                     "{\"seq\":2,\"event\":\"block\",\"artifact\":\"" A "\",\"from\":\"checking\",\"to\":\"blocked\"}\n"
                     "not json at all\n"
                     "{\"seq\":3,\"event\":\"cleanup\",\"artifact\":\"" B "\"}\n"
                     "{\"seq\":4,\"event\":\"promoted\",\"artifact\":\"" C "\",\"to\":\"promoted\"}\n"
                     "{\"seq\":5,\"event\":\"promoted\",\"artifact\":\"" B "\",\"to\":\"promo"); /* torn */
    audit_ledger *l = NULL;
    assert_true(sl_ok(audit_ledger_load(path, 1 << 20, 100, &l)));
    assert_true(audit_ledger_has(l, A, ARTIFACT_BLOCKED));
    assert_true(audit_ledger_has(l, A, ARTIFACT_QUARANTINED));
    assert_false(audit_ledger_has(l, A, ARTIFACT_PROMOTED));
    assert_true(audit_ledger_has(l, C, ARTIFACT_PROMOTED));
    assert_false(audit_ledger_has(l, B, ARTIFACT_PROMOTED)); /* the torn line is not a record */
    assert_int_equal(audit_ledger_count(l), 2);
    audit_ledger_free(l);

    /* a tail that starts mid-line skips the cut line */
    assert_true(sl_ok(audit_ledger_load(path, 200, 100, &l)));
    assert_false(audit_ledger_has(l, A, ARTIFACT_QUARANTINED));
    assert_true(audit_ledger_has(l, C, ARTIFACT_PROMOTED));
    audit_ledger_free(l);
    unlink(path);

    /* a log that does not exist yet is an empty ledger */
    assert_true(sl_ok(audit_ledger_load("/tmp/sluice-no-such-ledger-file", 1024, 10, &l)));
    assert_int_equal(audit_ledger_count(l), 0);
    audit_ledger_free(l);
    assert_true(sl_failed(audit_ledger_load(path, 1024, 0, &l)));
}

static void forgets_the_oldest_at_capacity(void **state)
{
    (void)state;
    audit_ledger *l = audit_ledger_new(2);
    audit_ledger_note(l, A, ARTIFACT_BLOCKED);
    audit_ledger_note(l, B, ARTIFACT_PROMOTED);
    audit_ledger_note(l, A, ARTIFACT_PURGED); /* a known id: no new slot */
    assert_true(audit_ledger_has(l, A, ARTIFACT_PURGED));
    audit_ledger_note(l, C, ARTIFACT_REJECTED); /* A is the oldest: forgotten */
    assert_false(audit_ledger_has(l, A, ARTIFACT_BLOCKED));
    assert_true(audit_ledger_has(l, B, ARTIFACT_PROMOTED));
    assert_true(audit_ledger_has(l, C, ARTIFACT_REJECTED));
    assert_int_equal(audit_ledger_count(l), 2);
    /* ids that are not artifact ids and states out of range are ignored */
    audit_ledger_note(l, "not-an-id", ARTIFACT_BLOCKED);
    audit_ledger_note(l, C, ARTIFACT_STATE_COUNT);
    assert_int_equal(audit_ledger_count(l), 2);
    assert_false(audit_ledger_has(NULL, A, ARTIFACT_BLOCKED));
    audit_ledger_free(l);
    audit_ledger_free(NULL);
}

/* How far back the ledger can tell "never recorded" from "recorded before its window"
 * (the sweep records a committed outcome the log lacks only within it). */
static void knows_how_far_back_it_reaches(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-ledger-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const char *three = "{\"seq\":1,\"time\":\"2024-01-01T00:00:00.000Z\",\"artifact\":\"" A "\",\"to\":\"checking\"}\n"
                        "{\"seq\":2,\"time\":\"2024-01-02T00:00:00.000Z\",\"artifact\":\"" B "\",\"to\":\"blocked\"}\n"
                        "{\"seq\":3,\"time\":\"2024-01-03T00:00:00.000Z\",\"artifact\":\"" C "\",\"to\":\"blocked\"}\n";
    write_file(path, three);
    int64_t day1 = 0, day2 = 0;
    assert_true(sl_time_parse(sl_cursor_from_cstr("2024-01-01T00:00:00.000Z"), &day1));
    assert_true(sl_time_parse(sl_cursor_from_cstr("2024-01-02T00:00:00.000Z"), &day2));
    /* the whole file: it reaches back forever */
    audit_ledger *l = NULL;
    assert_true(sl_ok(audit_ledger_load(path, 1 << 20, 100, &l)));
    assert_true(audit_ledger_covers(l, 0));
    audit_ledger_free(l);
    /* a tail cut in the first record: the window starts at the second */
    assert_true(sl_ok(audit_ledger_load(path, strlen(three) - 5, 100, &l)));
    assert_false(audit_ledger_has(l, A, ARTIFACT_CHECKING));
    assert_true(audit_ledger_has(l, B, ARTIFACT_BLOCKED));
    assert_false(audit_ledger_covers(l, day1));
    assert_true(audit_ledger_covers(l, day2));
    audit_ledger_free(l);
    /* a cut tail whose first whole line has no time: it can tell nothing before now */
    const char *untimed = "{\"seq\":1,\"time\":\"2024-01-01T00:00:00.000Z\",\"artifact\":\"" A "\",\"to\":\"checking\"}\n"
                          "not a record\n"
                          "{\"seq\":3,\"time\":\"2024-01-03T00:00:00.000Z\",\"artifact\":\"" C "\",\"to\":\"blocked\"}\n";
    write_file(path, untimed);
    assert_true(sl_ok(audit_ledger_load(path, strlen(untimed) - 5, 100, &l)));
    assert_true(audit_ledger_has(l, C, ARTIFACT_BLOCKED));
    assert_false(audit_ledger_covers(l, day2));
    audit_ledger_free(l);
    /* a tail with no whole line at all: the same */
    assert_true(sl_ok(audit_ledger_load(path, 20, 100, &l)));
    assert_false(audit_ledger_covers(l, day2));
    audit_ledger_free(l);
    unlink(path);
    /* forgetting an artifact: nothing before now is known for sure */
    l = audit_ledger_new(1);
    assert_true(audit_ledger_covers(l, day1));
    audit_ledger_note(l, A, ARTIFACT_BLOCKED);
    assert_true(audit_ledger_covers(l, day1));
    int64_t before = sl_time_now_ms();
    audit_ledger_note(l, B, ARTIFACT_BLOCKED);
    assert_false(audit_ledger_covers(l, day1));
    assert_true(audit_ledger_covers(l, before + 60000));
    assert_false(audit_ledger_covers(NULL, day1));
    audit_ledger_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_records_from_the_tail),
        cmocka_unit_test(forgets_the_oldest_at_capacity),
        cmocka_unit_test(knows_how_far_back_it_reaches),
    };
    return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
