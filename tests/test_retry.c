/*
 * test_retry.c — unit tests of the retry policy (mover/s3/retry.c): which failures are
 * retried, the attempt budget, idempotency, and the full-jitter backoff bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "s3/retry.h"

static s3_attempt_outcome http_status(long status, const char *code)
{
    return (s3_attempt_outcome){ .transport = SL_OK, .http_status = status, .s3_code = code };
}

static void retryable_failures(void **state)
{
    (void)state;
    s3_attempt_outcome conn = { .transport = SL_ERR_CONNECTION };
    s3_attempt_outcome timeout = { .transport = SL_ERR_TIMEOUT };
    assert_true(s3_retry_is_retryable(&conn));
    assert_true(s3_retry_is_retryable(&timeout));
    long statuses[] = { 500, 502, 503, 504 };
    for (size_t i = 0; i < 4; i++) {
        s3_attempt_outcome o = http_status(statuses[i], NULL);
        assert_true(s3_retry_is_retryable(&o));
    }
    const char *codes[] = { "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable" };
    for (size_t i = 0; i < 4; i++) {
        s3_attempt_outcome o = http_status(400, codes[i]);
        assert_true(s3_retry_is_retryable(&o));
    }
}

static void final_failures_are_never_retried(void **state)
{
    (void)state;
    long statuses[] = { 200, 204, 301, 400, 403, 404, 409, 412, 416, 501 };
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        s3_attempt_outcome o = http_status(statuses[i], NULL);
        assert_false(s3_retry_is_retryable(&o));
    }
    const char *codes[] = { "AccessDenied", "NoSuchKey", "PreconditionFailed", "SignatureDoesNotMatch" };
    for (size_t i = 0; i < 4; i++) {
        s3_attempt_outcome o = http_status(403, codes[i]);
        assert_false(s3_retry_is_retryable(&o));
    }
    s3_attempt_outcome cancelled = { .transport = SL_ERR_CANCELLED };
    s3_attempt_outcome tls = { .transport = SL_ERR_CRYPTO };
    assert_false(s3_retry_is_retryable(&cancelled));
    assert_false(s3_retry_is_retryable(&tls));
}

static void budget_and_idempotency_limit_retries(void **state)
{
    (void)state;
    s3_retry_policy p = s3_retry_policy_default();
    assert_int_equal(p.max_attempts, 100);
    assert_int_equal(p.budget_ms, 30000);
    p.max_attempts = 5;
    s3_attempt_outcome o = http_status(503, "SlowDown");
    for (unsigned attempt = 1; attempt < 5; attempt++) assert_true(s3_retry_should(&p, attempt, 100, true, &o));
    assert_false(s3_retry_should(&p, 5, 100, true, &o));
    assert_false(s3_retry_should(&p, 1, 100, false, &o)); /* not idempotent: never */
    /* the budget is time: a retry that would start after it is not made, however few
     * attempts were spent (a 2 s SlowDown spell must not exhaust a 30 s budget) */
    assert_true(s3_retry_should(&p, 1, 30000, true, &o));
    assert_false(s3_retry_should(&p, 1, 30001, true, &o));
    p.budget_ms = 0; /* no time limit */
    assert_true(s3_retry_should(&p, 1, UINT64_MAX, true, &o));
    p.max_attempts = 1;
    assert_false(s3_retry_should(&p, 1, 0, true, &o));
}

static void backoff_is_full_jitter_within_exponential_ceiling(void **state)
{
    (void)state;
    s3_retry_policy p = { .max_attempts = 10, .base_ms = 50, .cap_ms = 1000 };
    uint64_t expected_ceiling[] = { 50, 100, 200, 400, 800, 1000, 1000, 1000 };
    for (unsigned attempt = 1; attempt <= 8; attempt++) {
        uint64_t ceiling = expected_ceiling[attempt - 1];
        assert_int_equal(s3_retry_delay_ms(&p, attempt, 0), 0);
        assert_int_equal(s3_retry_delay_ms(&p, attempt, UINT32_MAX), ceiling);
        uint64_t mid = s3_retry_delay_ms(&p, attempt, UINT32_MAX / 2);
        assert_true(mid >= ceiling / 2 - 1 && mid <= ceiling / 2 + 1);
    }
    /* huge attempt counts and caps cannot overflow */
    s3_retry_policy big = { .max_attempts = 1000, .base_ms = 1, .cap_ms = UINT64_MAX };
    assert_true(s3_retry_delay_ms(&big, 200, UINT32_MAX) > 0);
    s3_retry_policy zero = { .max_attempts = 3, .base_ms = 0, .cap_ms = 100 };
    assert_int_equal(s3_retry_delay_ms(&zero, 3, UINT32_MAX), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retryable_failures),
        cmocka_unit_test(final_failures_are_never_retried),
        cmocka_unit_test(budget_and_idempotency_limit_retries),
        cmocka_unit_test(backoff_is_full_jitter_within_exponential_ceiling),
    };
    return cmocka_run_group_tests_name("s3_retry", tests, NULL, NULL);
}
