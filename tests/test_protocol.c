/*
 * test_protocol.c — the protocol tables of mover/state/protocol.h: they are consistent
 * (every outcome a row's request can give leads somewhere, every row is reachable), the
 * rules the design rests on hold as table facts (named cases below), and the renderings
 * carry every row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "state/protocol.h"
#include "util/buf.h"

static int next_of(protocol_row row, protocol_outcome outcome)
{
    const protocol_next_info *n = NULL;
    if (!protocol_next(row, outcome, &n)) fail_msg("%s/%s is not in the table", protocol_row_name((int)row),
                                                  protocol_outcome_name(outcome));
    return n->next;
}

static void tables_are_consistent(void **state)
{
    (void)state;
    if (sl_failed(protocol_check_tables())) fail_msg("%s", sl_error_detail());
    size_t rows = 0, nexts = 0;
    assert_non_null(protocol_rows(&rows));
    assert_non_null(protocol_nexts(&nexts));
    assert_int_equal(rows, PROTOCOL_ROW_COUNT);
    assert_true(nexts > rows);
    /* out of range */
    const protocol_next_info *n = NULL;
    assert_false(protocol_next(PROTOCOL_ROW_COUNT, OUT_OK, &n));
    assert_false(protocol_next(ROW_CHECK, PROTOCOL_OUTCOME_COUNT, &n));
    assert_null(protocol_row_get(PROTOCOL_ROW_COUNT));
    assert_string_equal(protocol_row_name(END_DONE), "DONE");
    assert_string_equal(protocol_row_name(-7), "(invalid row)");
}

/* An outcome that may have taken effect is never taken for a failure: every request
 * that changes something is followed by a look (or a retry of an idempotent delete). */
static void indefinite_changes_are_looked_at(void **state)
{
    (void)state;
    assert_int_equal(next_of(ROW_PROMOTE_COPY, OUT_INDEFINITE), ROW_PROMOTE_LOOK);
    assert_int_equal(next_of(ROW_QUARANTINE_COPY, OUT_INDEFINITE), ROW_QUARANTINE_LOOK);
    assert_int_equal(next_of(ROW_PARK_COPY, OUT_INDEFINITE), ROW_PARK_LOOK);
    assert_int_equal(next_of(ROW_PARK_MANIFEST, OUT_INDEFINITE), ROW_PARK_MANIFEST_LOOK);
    assert_int_equal(next_of(ROW_STAGING_DELETE, OUT_INDEFINITE), RETRY);
    assert_int_equal(next_of(ROW_SOURCE_DELETE, OUT_INDEFINITE), RETRY);
    /* a look that finds this artifact's object in trusted means promoted */
    assert_int_equal(next_of(ROW_PROMOTE_LOOK, OUT_OURS), ROW_PROMOTED_RECORD);
    assert_int_equal(next_of(ROW_LOOK_TRUSTED, OUT_OURS), ROW_PROMOTED_RECORD);
    assert_int_equal(next_of(ROW_SWEEP_TRUSTED, OUT_OURS), ROW_PROMOTED_RECORD);
}

/* The sweep of a quarantine copy whose manifest says promoted (its clean-up failed) only
 * records and cleans up: it never copies or parks again — a refused copy used to park it
 * `failed` over its `promoted` manifest (the model's trail in tests/model/README.md). An
 * approved manifest is looked at before a copy: where the server honours If-None-Match on
 * CopyObject, promote_head is skipped, and a copy that landed before a crash must be found,
 * not failed by a refused second copy. */
static void a_swept_promotion_looks_before_it_copies(void **state)
{
    (void)state;
    assert_int_equal(next_of(ROW_SWEEP_MANIFEST, OUT_OURS), ROW_PROMOTED_RECORD);
    assert_int_equal(next_of(ROW_SWEEP_MANIFEST, OUT_DECIDED), ROW_PROMOTE_LOOK);
    assert_int_equal(next_of(ROW_PROMOTED_RECORD, OUT_SKIPPED), ROW_PROMOTED_MANIFEST);
    const protocol_row_info *r = protocol_row_get(ROW_PROMOTE_LOOK);
    assert_int_equal(r->skip, SKIP_NEVER);
}

/* A purge commits (the manifest says purged, If-Match) while the quarantine copy is still
 * there, records, then deletes: a run stopped anywhere in between leaves the copy, the
 * next sweep finds the purged manifest, records purged if the ledger lacks it and deletes
 * the copy. Deleting first lost the record for good when the manifest write timed out
 * after it happened or the mover died (the model's trail in tests/model/README.md). */
static void a_purge_commits_before_it_deletes(void **state)
{
    (void)state;
    assert_int_equal(next_of(ROW_SWEEP_MANIFEST, OUT_RETENTION_OVER), ROW_PURGE_MANIFEST);
    assert_int_equal(protocol_row_get(ROW_PURGE_MANIFEST)->skip, SKIP_PURGED);
    assert_int_equal(next_of(ROW_PURGE_MANIFEST, OUT_OK), ROW_PURGE_RECORD);
    assert_int_equal(next_of(ROW_PURGE_MANIFEST, OUT_SKIPPED), ROW_PURGE_RECORD);
    assert_int_equal(next_of(ROW_PURGE_MANIFEST, OUT_INDEFINITE), END_LEAVE);
    const protocol_row_info *r = protocol_row_get(ROW_PURGE_RECORD);
    assert_int_equal(r->state, ARTIFACT_PURGED);
    assert_int_equal(r->skip, SKIP_RECORDED);
    assert_int_equal(next_of(ROW_PURGE_RECORD, OUT_OK), ROW_PURGE_DELETE);
    assert_int_equal(next_of(ROW_PURGE_RECORD, OUT_SKIPPED), ROW_PURGE_DELETE);
    assert_int_equal(next_of(ROW_PURGE_DELETE, OUT_OK), END_DONE);
    assert_int_equal(next_of(ROW_PURGE_DELETE, OUT_ABSENT), END_DONE);
    assert_int_equal(next_of(ROW_PURGE_DELETE, OUT_REFUSED), END_LEAVE);
}

/* A waiting or final outcome whose manifest was written but whose record was not (an
 * expire or a park that timed out after it happened, or a crash, with the bytes only in
 * quarantine) is recorded by the sweep, which is the only one to see it again. */
static void the_sweep_records_what_the_log_lacks(void **state)
{
    (void)state;
    assert_int_equal(next_of(ROW_SWEEP_MANIFEST, OUT_UNRECORDED), ROW_LEFTOVER_RECORD);
    assert_int_equal(next_of(ROW_SWEEP_MANIFEST, OUT_WAITING), END_DONE);
    /* it records and only cleans up: the bytes in quarantine stay (they wait, or are kept) */
    assert_int_equal(protocol_row_get(ROW_LEFTOVER_DELETE)->skip, SKIP_SOURCE_QUARANTINED);
}

/* A read that fails is retried, never judged; when the budget is spent the artifact is
 * failed (kept), never blocked. */
static void failed_reads_are_never_verdicts(void **state)
{
    (void)state;
    assert_int_equal(next_of(ROW_CHECK, OUT_INDEFINITE), RETRY);
    const protocol_next_info *n = NULL;
    assert_true(protocol_next(ROW_CHECK, OUT_EXHAUSTED, &n));
    assert_int_equal(n->verdict, ARTIFACT_FAILED);
    assert_true(protocol_next(ROW_CHECK, OUT_REFUSED, &n));
    assert_int_equal(n->verdict, ARTIFACT_FAILED);
    size_t count;
    const protocol_next_info *all = protocol_nexts(&count);
    for (size_t i = 0; i < count; i++)
        if (all[i].verdict == ARTIFACT_BLOCKED) assert_int_equal(all[i].row, ROW_GATE); /* only the gate blocks */
}

/* Final is final: a manifest that exists stands, whatever is found again in staging. */
static void a_settled_artifact_is_only_cleaned_up(void **state)
{
    (void)state;
    assert_int_equal(next_of(ROW_LOOK_MANIFEST, OUT_OURS), ROW_ADOPT_MANIFEST);
    assert_int_equal(next_of(ROW_PARK_MANIFEST, OUT_CONFLICT), ROW_ADOPT_MANIFEST);
    assert_int_equal(next_of(ROW_ADOPT_MANIFEST, OUT_OURS), ROW_LEFTOVER_RECORD);
    assert_int_equal(next_of(ROW_LEFTOVER_RECORD, OUT_OK), ROW_LEFTOVER_DELETE);
    assert_int_equal(next_of(ROW_LEFTOVER_RECORD, OUT_SKIPPED), ROW_LEFTOVER_DELETE);
    assert_int_equal(next_of(ROW_LEFTOVER_DELETE, OUT_OK), END_DONE);
    /* and from the leftover rows nothing leads back to the check or the gate */
    size_t count;
    const protocol_next_info *all = protocol_nexts(&count);
    for (size_t i = 0; i < count; i++)
        if (all[i].row == ROW_ADOPT_MANIFEST || all[i].row == ROW_LEFTOVER_RECORD || all[i].row == ROW_LEFTOVER_DELETE)
            assert_true(all[i].next != ROW_CHECK && all[i].next != ROW_GATE && all[i].next != ROW_PROMOTE_COPY);
}

/* The trusted key is never overwritten: other bytes there fail the promotion. */
static void other_bytes_in_trusted_are_never_overwritten(void **state)
{
    (void)state;
    const protocol_next_info *n = NULL;
    assert_true(protocol_next(ROW_PROMOTE_HEAD, OUT_CONFLICT, &n));
    assert_int_equal(n->next, ROW_PARK_COPY);
    assert_int_equal(n->verdict, ARTIFACT_FAILED);
    assert_true(protocol_next(ROW_PROMOTE_LOOK, OUT_CONFLICT, &n));
    assert_int_equal(n->verdict, ARTIFACT_FAILED);
    assert_int_equal(next_of(ROW_PROMOTE_COPY, OUT_CONFLICT), ROW_PROMOTE_LOOK);
}

/* A version already in staging when the mover starts gets a HEAD of its trusted key at
 * intake; promote_head does not repeat it while that answer still holds (the skip
 * trusted_known_free: nothing was copied to the key since), and it is the only row whose
 * skip that is. A conflict at intake still leads through promote_head's own look. */
static void an_intake_look_at_trusted_is_not_repeated(void **state)
{
    (void)state;
    assert_int_equal(protocol_row_get(ROW_PROMOTE_HEAD)->skip, SKIP_TRUSTED_KNOWN_FREE);
    assert_int_equal(next_of(ROW_PROMOTE_HEAD, OUT_SKIPPED), ROW_PROMOTE_COPY);
    assert_string_equal(protocol_skip_name(SKIP_TRUSTED_KNOWN_FREE), "trusted_known_free");
    size_t count;
    const protocol_row_info *rows = protocol_rows(&count);
    for (size_t i = 0; i < count; i++)
        if (rows[i].row != ROW_PROMOTE_HEAD) assert_int_not_equal(rows[i].skip, SKIP_TRUSTED_KNOWN_FREE);
    /* the copy is never reached from an intake look without the gate in between */
    assert_int_equal(next_of(ROW_LOOK_TRUSTED, OUT_ABSENT), ROW_ADMIT);
    assert_int_equal(next_of(ROW_LOOK_TRUSTED, OUT_CONFLICT), ROW_ADMIT);
    assert_int_equal(next_of(ROW_APPROVE, OUT_OK), ROW_PROMOTE_HEAD);
}

static void renderings_carry_every_row(void **state)
{
    (void)state;
    sl_buf mermaid = { 0 }, promela = { 0 };
    assert_true(sl_ok(protocol_mermaid(&mermaid)));
    assert_true(sl_ok(protocol_promela(&promela)));
    size_t count;
    const protocol_row_info *rows = protocol_rows(&count);
    for (size_t i = 0; i < count; i++) {
        char want[96];
        snprintf(want, sizeof(want), "    %s[\"%s<br/>", rows[i].name, rows[i].name);
        assert_non_null(strstr(sl_buf_cstr(&mermaid), want));
        snprintf(want, sizeof(want), "#define R_%s %zu\n", rows[i].name, i);
        assert_non_null(strstr(sl_buf_cstr(&promela), want));
    }
    assert_non_null(strstr(sl_buf_cstr(&promela), "inline protocol_next(row, outcome, nxt, verdict)"));
    /* Promela keywords are no parameter names (`skip` was one: spin refused the file) */
    assert_non_null(strstr(sl_buf_cstr(&promela), "inline row_info(row, req, skp, st)"));
    assert_null(strstr(sl_buf_cstr(&promela), " skip = "));
    /* the transitions table and the terminal states, for the model's state entry */
    assert_non_null(strstr(sl_buf_cstr(&promela), "inline transition_allowed(from, to, ok)"));
    assert_non_null(strstr(sl_buf_cstr(&promela), ":: from == A_promoting && to == A_promoted -> ok = true\n"));
    assert_non_null(strstr(sl_buf_cstr(&promela), "#define A_TERMINAL_MASK "));
    sl_buf_clean_up(&mermaid);
    sl_buf_clean_up(&promela);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tables_are_consistent),
        cmocka_unit_test(indefinite_changes_are_looked_at),
        cmocka_unit_test(a_swept_promotion_looks_before_it_copies),
        cmocka_unit_test(a_purge_commits_before_it_deletes),
        cmocka_unit_test(the_sweep_records_what_the_log_lacks),
        cmocka_unit_test(failed_reads_are_never_verdicts),
        cmocka_unit_test(a_settled_artifact_is_only_cleaned_up),
        cmocka_unit_test(other_bytes_in_trusted_are_never_overwritten),
        cmocka_unit_test(an_intake_look_at_trusted_is_not_repeated),
        cmocka_unit_test(renderings_carry_every_row),
    };
    return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
