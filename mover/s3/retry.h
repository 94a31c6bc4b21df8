/*
 * retry.h — when the S3 client tries a request again, and how long it waits first.
 *
 * Only idempotent requests are retried, and only on failures that say "try again":
 * a connection that could not be made or broke, a timeout, HTTP 500/502/503/504, or
 * the S3 error codes SlowDown, RequestTimeout, InternalError and ServiceUnavailable.
 * Any other 4xx is the caller's mistake or a real refusal and is never retried.
 * Waits follow "full jitter" exponential backoff: attempt n (1-based, the attempt that
 * just failed) waits a uniform random time in [0, min(cap, base * 2^(n-1))]. Each
 * request has a budget of `max_attempts` tries in all and of `budget_ms` of time: no
 * retry starts later than budget_ms after the first attempt began. Throttling comes in
 * spells of seconds (a SlowDown storm, a server paused), so the budget is one of time,
 * not a count that a burst of fast failures spends in under a second.
 *
 * Pure functions, no state: safe on any thread. The random input is a parameter so
 * the policy is testable; callers pass a fresh random 32-bit value.
 */
#ifndef SLUICE_S3_RETRY_H
#define SLUICE_S3_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef struct s3_retry_policy {
    unsigned max_attempts; /* tries in all, >= 1 (1 = never retry) */
    uint64_t budget_ms;    /* no retry starts later than this after the first try; 0 = no limit */
    uint64_t base_ms;      /* first backoff ceiling */
    uint64_t cap_ms;       /* largest backoff ceiling */
} s3_retry_policy;

/* What went wrong with one attempt, as the retry decision sees it. */
typedef struct s3_attempt_outcome {
    sl_error transport;     /* SL_OK when an HTTP response arrived; else SL_ERR_CONNECTION,
                               SL_ERR_TIMEOUT, ... */
    long http_status;       /* 0 without a response */
    const char *s3_code;    /* the <Code> of an S3 error body, or NULL */
} s3_attempt_outcome;

/* The defaults: at most 100 attempts within a 30 s budget, base 100 ms, cap 5 s. */
s3_retry_policy s3_retry_policy_default(void);

/* True when the outcome is a failure worth another try (ignores the budget). */
bool s3_retry_is_retryable(const s3_attempt_outcome *outcome);

/* True when attempt number `attempt` (1-based) failed in a retryable way, the request
 * is idempotent and the budget allows another attempt that would start `next_start_ms`
 * after the first one began (elapsed time plus the backoff about to be waited). */
bool s3_retry_should(const s3_retry_policy *policy, unsigned attempt, uint64_t next_start_ms, bool idempotent,
                     const s3_attempt_outcome *outcome);

/* The wait before the next try after attempt `attempt` failed, in ms. */
uint64_t s3_retry_delay_ms(const s3_retry_policy *policy, unsigned attempt, uint32_t random);

#endif /* SLUICE_S3_RETRY_H */
