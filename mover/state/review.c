/*
 * review.c — see review.h. The checks run in the order of the header; the first that
 * fails decides the answer.
 */
#include "state/review.h"

#include <stdio.h>
#include <string.h>

#include <stdarg.h>

#include <openssl/crypto.h>

#include "util/alloc.h"

static const char *const code_names[REVIEW_CODE_COUNT] = {
#define REVIEW_CODE_NAME(e, name) [e] = name,
    REVIEW_CODES(REVIEW_CODE_NAME)
#undef REVIEW_CODE_NAME
};

const char *review_code_name(review_code code)
{
    return (unsigned)code < (unsigned)REVIEW_CODE_COUNT ? code_names[code] : code_names[REVIEW_INVALID_DECISION];
}

review_code review_code_of(const review_result *result)
{
    if (result->outcome != REVIEW_REFUSED) return REVIEW_OK;
    if (result->code != REVIEW_OK) return result->code;
    for (unsigned i = 1; i < REVIEW_CODE_COUNT && result->error != NULL; i++)
        if (strcmp(result->error, code_names[i]) == 0) return (review_code)i;
    return REVIEW_INVALID_DECISION;
}

static review_result refused(review_code code, const char *fmt, ...) SL_PRINTF(2, 3);

static review_result refused(review_code code, const char *fmt, ...)
{
    review_result r = { .outcome = REVIEW_REFUSED, .code = code, .error = review_code_name(code) };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.detail, sizeof(r.detail), fmt, ap);
    va_end(ap);
    return r;
}

review_result review_decide(artifact_manifest *m, sl_review_mode mode, const char *reviewer, const char *opener,
                            bool approve, const char *sha256, const char *reason, int64_t now_ms)
{
    if (m->state != ARTIFACT_IN_REVIEW)
        return refused(REVIEW_NOT_IN_REVIEW, "artifact %s is %s, not in_review: nothing to decide", m->id,
                       artifact_state_name(m->state));
    size_t len = sha256 ? strlen(sha256) : 0;
    if (len != 64 || strlen(m->sha256) != 64 || CRYPTO_memcmp(sha256, m->sha256, 64) != 0)
        return refused(REVIEW_SHA256_MISMATCH,
                       "the decision names SHA-256 %s but the quarantined bytes are %s; fetch and inspect them again",
                       sha256 ? sha256 : "(none)", m->sha256);
    if (opener != NULL && strcmp(opener, reviewer) == 0)
        return refused(REVIEW_OWN_TASK, "%s opened task %s and may not review its artifacts; ask another reviewer",
                       reviewer, m->task);
    unsigned approvals = 0;
    for (size_t i = 0; i < m->decision_count; i++) {
        if (strcmp(m->decisions[i].reviewer, reviewer) == 0)
            return refused(REVIEW_ALREADY_DECIDED, "%s already decided on artifact %s", reviewer, m->id);
        if (m->decisions[i].approve) approvals++;
    }
    review_result r = { .code = REVIEW_OK };
    if (sl_failed(artifact_manifest_add_decision(m, now_ms, reviewer, approve, sha256, reason))) {
        return refused(REVIEW_INVALID_DECISION, "%s", sl_error_detail());
    }
    if (!approve) {
        r.outcome = REVIEW_REJECTED;
    } else if (mode == SL_REVIEW_TWO_PERSON && approvals + 1 < 2) {
        r.outcome = REVIEW_WAITING;
        snprintf(r.detail, sizeof(r.detail), "approval by %s recorded; a second reviewer must approve", reviewer);
        return r;
    } else {
        r.outcome = REVIEW_APPROVED;
    }
    artifact_state to = r.outcome == REVIEW_APPROVED ? ARTIFACT_APPROVED : ARTIFACT_REJECTED;
    if (sl_failed(artifact_manifest_transition(m, to, now_ms, reviewer, reason))) {
        /* undo the decision: on refusal nothing changes */
        artifact_decision *d = &m->decisions[--m->decision_count];
        sl_free(d->reviewer);
        sl_free(d->reason);
        return refused(REVIEW_INVALID_DECISION, "%s", sl_error_detail());
    }
    snprintf(r.detail, sizeof(r.detail), "%s by %s", r.outcome == REVIEW_APPROVED ? "approved" : "rejected", reviewer);
    return r;
}
