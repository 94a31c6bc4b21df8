/*
 * retry.c — the retry decision and full-jitter backoff described in retry.h (after
 * the AWS Architecture Blog's "Exponential Backoff And Jitter").
 */
#include "s3/retry.h"

#include <string.h>

s3_retry_policy s3_retry_policy_default(void)
{
    return (s3_retry_policy){ .max_attempts = 100, .budget_ms = 30000, .base_ms = 100, .cap_ms = 5000 };
}

bool s3_retry_is_retryable(const s3_attempt_outcome *o)
{
    switch (o->transport) {
    case SL_OK:
        break;
    case SL_ERR_CONNECTION:
    case SL_ERR_TIMEOUT:
        return true;
    default:
        return false;
    }
    if (o->s3_code != NULL) {
        static const char *const codes[] = { "SlowDown", "RequestTimeout", "InternalError",
                                             "ServiceUnavailable" };
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
            if (strcmp(o->s3_code, codes[i]) == 0) return true;
    }
    switch (o->http_status) {
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    default:
        return false;
    }
}

bool s3_retry_should(const s3_retry_policy *policy, unsigned attempt, uint64_t next_start_ms, bool idempotent,
                     const s3_attempt_outcome *outcome)
{
    return idempotent && attempt < policy->max_attempts &&
           (policy->budget_ms == 0 || next_start_ms <= policy->budget_ms) && s3_retry_is_retryable(outcome);
}

uint64_t s3_retry_delay_ms(const s3_retry_policy *policy, unsigned attempt, uint32_t random)
{
    uint64_t ceiling = policy->base_ms;
    for (unsigned i = 1; i < attempt && ceiling < policy->cap_ms; i++)
        ceiling = ceiling > policy->cap_ms / 2 ? policy->cap_ms : ceiling * 2;
    if (ceiling > policy->cap_ms) ceiling = policy->cap_ms;
    /* uniform in [0, ceiling]: scale the 32-bit random value, no modulo bias to speak of */
    return (uint64_t)(((__uint128_t)random * ((__uint128_t)ceiling + 1)) >> 32);
}
