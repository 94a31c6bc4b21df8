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

static review_result refused(int status, const char *error, const char *fmt, ...) SL_PRINTF(3, 4);

static review_result refused(int status, const char *error, const char *fmt, ...)
{
    review_result r = { .outcome = REVIEW_REFUSED, .status = status, .error = error };
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
        return refused(409, "not_in_review", "artifact %s is %s, not in_review: nothing to decide", m->id,
                       artifact_state_name(m->state));
    size_t len = sha256 ? strlen(sha256) : 0;
    if (len != 64 || strlen(m->sha256) != 64 || CRYPTO_memcmp(sha256, m->sha256, 64) != 0)
        return refused(409, "sha256_mismatch",
                       "the decision names SHA-256 %s but the quarantined bytes are %s; fetch and inspect them again",
                       sha256 ? sha256 : "(none)", m->sha256);
    if (opener != NULL && strcmp(opener, reviewer) == 0)
        return refused(403, "own_task", "%s opened task %s and may not review its artifacts; ask another reviewer",
                       reviewer, m->task);
    unsigned approvals = 0;
    for (size_t i = 0; i < m->decision_count; i++) {
        if (strcmp(m->decisions[i].reviewer, reviewer) == 0)
            return refused(409, "already_decided", "%s already decided on artifact %s", reviewer, m->id);
        if (m->decisions[i].approve) approvals++;
    }
    review_result r = { .status = 200 };
    if (sl_failed(artifact_manifest_add_decision(m, now_ms, reviewer, approve, sha256, reason))) {
        return refused(409, "invalid_decision", "%s", sl_error_detail());
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
        return refused(409, "invalid_decision", "%s", sl_error_detail());
    }
    snprintf(r.detail, sizeof(r.detail), "%s by %s", r.outcome == REVIEW_APPROVED ? "approved" : "rejected", reviewer);
    return r;
}
