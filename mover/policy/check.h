/*
 * check.h — the live buckets against the configuration: `sluice-mover policy --check`,
 * and the same check the daemon runs at start.
 *
 * For every bucket policy_build writes a document for, the check reads the bucket's
 * policy (GetBucketPolicy) and compares it with that document (compare.h); it reads
 * the staging bucket's versioning (GetBucketVersioning), which must be Enabled — the
 * mover deletes staged objects by version, and the policies deny versions to everyone
 * else. It reads with the mover's identity (s3.credentials), over its own control
 * engine (s3/control.h). The result is a list of differences, one line each, prefixed
 * with the bucket: "sluice-staging: statement \"…\" is missing", "sluice-staging:
 * versioning is Suspended, expected Enabled", "sluice-trusted: there is no bucket
 * policy". A read that fails (access denied, no such bucket, a timeout) is a
 * difference too, saying so: the check fails closed.
 *
 * Threading: the loop's thread; the callback runs there once, asynchronously, unless
 * policy_check_start failed. Ownership: the check copies what it needs from the
 * configuration and credentials; the report is valid during the callback.
 */
#ifndef SLUICE_POLICY_CHECK_H
#define SLUICE_POLICY_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include <uv.h>

#include "config/config.h"
#include "policy/compare.h"
#include "s3/credentials.h"
#include "util/error.h"

typedef struct policy_check policy_check;

typedef struct policy_report {
    const policy_diffs *differences; /* "bucket: what", in bucket order */
    size_t buckets;                  /* buckets looked at */
    bool complete;                   /* every read succeeded (false: some lines say what failed) */
} policy_report;

typedef void policy_check_fn(void *user, const policy_report *report);

/* Starts the check. Errors (no callback): SL_ERR_INVALID_ARGUMENT when the
 * configuration has no identities section (nothing to compare with) or policy_build
 * fails; the control engine could not be made. */
SL_MUST_CHECK sl_result policy_check_start(uv_loop_t *loop, const sl_config *config,
                                           const s3_credentials *credentials, policy_check_fn *done, void *user,
                                           policy_check **out);

/* The daemon's check at start: as policy_check_start, with a callback that logs each
 * difference ("policy_drift", warning) and a summary ("policies_match" or
 * "policies_drifted"). */
SL_MUST_CHECK sl_result policy_check_start_logged(uv_loop_t *loop, const sl_config *config,
                                                  const s3_credentials *credentials, policy_check **out);

/* Stops a check still running (its callback does not run then) and frees it once the
 * loop has closed its handles; after the callback, frees it. NULL is fine. */
void policy_check_destroy(policy_check *check);

/* `sluice-mover policy --check -c FILE`: loads the configuration and the mover's
 * credentials, runs the check on a loop of its own and prints each difference to `out`
 * ("<bucket>: <what>") and a summary line. Returns 0 when every bucket matches, 1 when
 * there are differences or the check could not finish (the reason on `err`). */
int policy_check_command(const char *config_file, FILE *out, FILE *err);

#endif /* SLUICE_POLICY_CHECK_H */
