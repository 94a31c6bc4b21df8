/*
 * test_review.c — unit tests of the review rules (mover/state/review.c): refusals and
 * their answers, human and two-person outcomes, and that a refusal changes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "state/review.h"

static const char SHA[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
static const char OTHER[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* A manifest of an artifact in review, as the pipeline leaves it. */
static void waiting(artifact_manifest *m)
{
    char id[SL_ARTIFACT_ID_LEN + 1];
    assert_true(sl_ok(artifact_id_derive(sl_cursor_from_cstr("reports/t1/a.csv"), sl_cursor_from_cstr("\"e\""), id)));
    assert_true(sl_ok(artifact_manifest_init(m, id, "reports", "t1", "a.csv", ARTIFACT_STAGED)));
    memcpy(m->sha256, SHA, sizeof(SHA));
    assert_true(sl_ok(artifact_manifest_transition(m, ARTIFACT_QUARANTINED, 1, "mover", NULL)));
    assert_true(sl_ok(artifact_manifest_transition(m, ARTIFACT_CHECKING, 2, "mover", NULL)));
    assert_true(sl_ok(artifact_manifest_transition(m, ARTIFACT_IN_REVIEW, 3, "mover", NULL)));
}

static void human_approval_settles(void **state)
{
    (void)state;
    artifact_manifest m;
    waiting(&m);
    review_result r = review_decide(&m, SL_REVIEW_HUMAN, "alice", "orchestrator", true, SHA, "fine", 10);
    assert_int_equal(r.outcome, REVIEW_APPROVED);
    assert_int_equal(r.code, REVIEW_OK);
    assert_null(r.error);
    assert_int_equal(m.state, ARTIFACT_APPROVED);
    assert_int_equal(m.decision_count, 1);
    assert_string_equal(m.history[m.history_count - 1].actor, "alice");
    /* decided: a second decision is refused as not in review */
    r = review_decide(&m, SL_REVIEW_HUMAN, "bob", NULL, false, SHA, NULL, 11);
    assert_int_equal(r.outcome, REVIEW_REFUSED);
    assert_string_equal(r.error, "not_in_review");
    assert_int_equal(r.code, REVIEW_NOT_IN_REVIEW);
    artifact_manifest_clean_up(&m);
}

static void rejection_settles(void **state)
{
    (void)state;
    artifact_manifest m;
    waiting(&m);
    review_result r = review_decide(&m, SL_REVIEW_TWO_PERSON, "alice", NULL, false, SHA, "secrets inside", 10);
    assert_int_equal(r.outcome, REVIEW_REJECTED);
    assert_int_equal(m.state, ARTIFACT_REJECTED);
    artifact_manifest_clean_up(&m);
}

static void two_person_needs_two_different_reviewers(void **state)
{
    (void)state;
    artifact_manifest m;
    waiting(&m);
    review_result r = review_decide(&m, SL_REVIEW_TWO_PERSON, "alice", NULL, true, SHA, NULL, 10);
    assert_int_equal(r.outcome, REVIEW_WAITING);
    assert_int_equal(m.state, ARTIFACT_IN_REVIEW);
    r = review_decide(&m, SL_REVIEW_TWO_PERSON, "alice", NULL, true, SHA, NULL, 11);
    assert_int_equal(r.outcome, REVIEW_REFUSED);
    assert_string_equal(r.error, "already_decided");
    assert_int_equal(m.decision_count, 1);
    r = review_decide(&m, SL_REVIEW_TWO_PERSON, "bob", NULL, true, SHA, NULL, 12);
    assert_int_equal(r.outcome, REVIEW_APPROVED);
    assert_int_equal(m.state, ARTIFACT_APPROVED);
    assert_int_equal(m.decision_count, 2);
    artifact_manifest_clean_up(&m);
}

static void refusals_change_nothing(void **state)
{
    (void)state;
    artifact_manifest m;
    waiting(&m);
    review_result r = review_decide(&m, SL_REVIEW_HUMAN, "alice", NULL, true, OTHER, NULL, 10);
    assert_string_equal(r.error, "sha256_mismatch");
    assert_int_equal(review_code_of(&r), REVIEW_SHA256_MISMATCH);
    assert_non_null(strstr(r.detail, SHA));
    r = review_decide(&m, SL_REVIEW_HUMAN, "alice", NULL, true, NULL, NULL, 10);
    assert_string_equal(r.error, "sha256_mismatch");
    r = review_decide(&m, SL_REVIEW_HUMAN, "orchestrator", "orchestrator", true, SHA, NULL, 10);
    assert_string_equal(r.error, "own_task");
    assert_int_equal(r.code, REVIEW_OWN_TASK);
    assert_non_null(strstr(r.detail, "opened task t1"));
    assert_int_equal(m.decision_count, 0);
    assert_int_equal(m.state, ARTIFACT_IN_REVIEW);
    assert_int_equal(m.history_count, 3);
    artifact_manifest_clean_up(&m);
}

/* Refusals made outside the rules (the pipeline's) carry only a name: the code is read
 * from it, and a name outside the table is never taken for a success. */
static void codes_are_read_from_names(void **state)
{
    (void)state;
    review_result r = { .outcome = REVIEW_REFUSED, .error = "store_failed" };
    assert_int_equal(review_code_of(&r), REVIEW_STORE_FAILED);
    r.error = "audit_failed";
    assert_int_equal(review_code_of(&r), REVIEW_AUDIT_FAILED);
    r.error = "no such thing";
    assert_int_equal(review_code_of(&r), REVIEW_INVALID_DECISION);
    r.error = NULL;
    assert_int_equal(review_code_of(&r), REVIEW_INVALID_DECISION);
    r = (review_result){ .outcome = REVIEW_APPROVED };
    assert_int_equal(review_code_of(&r), REVIEW_OK);
    assert_string_equal(review_code_name(REVIEW_OWN_TASK), "own_task");
    assert_string_equal(review_code_name((review_code)999), "invalid_decision");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(human_approval_settles),
        cmocka_unit_test(rejection_settles),
        cmocka_unit_test(two_person_needs_two_different_reviewers),
        cmocka_unit_test(refusals_change_nothing),
        cmocka_unit_test(codes_are_read_from_names),
    };
    return cmocka_run_group_tests_name("review", tests, NULL, NULL);
}
