/*
 * compare.h — how a live bucket policy differs from the one the configuration implies
 * (`sluice-mover policy --check`, and the daemon's check at start).
 *
 * Both documents are parsed with jansson (the live one is untrusted: whatever S3
 * returns, bounded by POLICY_COMPARE_MAX_BYTES and POLICY_COMPARE_MAX_STATEMENTS) and
 * compared statement by statement, matched by Sid — sluice's statements always have
 * one. Within a matched statement, values are compared as IAM reads them: Effect
 * exactly; Principal with "*" = {"AWS": "*"} = {"AWS": ["*"]} and a string = a
 * one-element array; Action/NotAction and Resource/NotResource as sets (actions
 * without regard to case, as IAM matches them); Condition operator by operator, key by
 * key, each value list as a set. Every difference is one line for people, naming the
 * statement and what is missing, extra or different:
 *   statement "GrantsMayNotReadListDeleteTagOrChangeAcls": Action lacks s3:Get*
 *   statement "NobodyMayWriteWithCustomerKeys" is missing
 *   an extra statement "Open" (Allow s3:* to arn:aws:iam:::user/grants)
 *   Version is "2008-10-17", expected "2012-10-17"
 *
 * Ownership: a policy_diffs owns its lines; policy_diffs_clean_up frees them.
 * Threading: pure; any thread.
 */
#ifndef SLUICE_POLICY_COMPARE_H
#define SLUICE_POLICY_COMPARE_H

#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"

#define POLICY_COMPARE_MAX_BYTES ((size_t)64 * 1024)  /* of a live document (S3 allows 20 KB) */
#define POLICY_COMPARE_MAX_STATEMENTS 256
#define POLICY_COMPARE_MAX_LINE 400                   /* bytes of one difference */
#define POLICY_COMPARE_MAX_DIFFS 200                  /* then one "… more" line */

typedef struct policy_diffs {
    char **lines;
    size_t count;
} policy_diffs;

/* Appends to *out one line per difference between `expected` (a document policy_build
 * wrote) and `live` (what S3 returned). A live document that is not a JSON object with
 * a Statement array, or too large, is one difference saying so (the check fails closed:
 * what cannot be read does not match). Errors: SL_ERR_INVALID_ARGUMENT when `expected`
 * does not parse (a programming error); *out is unchanged then. */
SL_MUST_CHECK sl_result policy_compare(sl_cursor expected, sl_cursor live, policy_diffs *out);

/* Appends one line (copied, cut at POLICY_COMPARE_MAX_LINE bytes, control bytes as '?'). */
void policy_diffs_add(policy_diffs *diffs, const char *fmt, ...) SL_PRINTF(2, 3);

/* Frees the lines and empties *diffs; NULL is fine. */
void policy_diffs_clean_up(policy_diffs *diffs);

#endif /* SLUICE_POLICY_COMPARE_H */
