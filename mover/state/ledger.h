/*
 * ledger.h — which outcomes the audit log already holds, for the artifacts of the recent
 * past: "is `blocked` recorded for artifact X?".
 *
 * Why: an artifact's outcome is committed in S3 first (the trusted copy carrying its id,
 * or its manifest created with If-None-Match) and recorded in the audit log right after.
 * A crash between the two, or a clean-up that failed after both, leaves S3 showing an
 * outcome the next run must account for exactly once: record it if the log lacks it,
 * only clean up if the log has it. The ledger answers that from the log itself: at start
 * it reads the last `tail_bytes` of the audit file (the records any artifact in flight at
 * a crash can have), and from then on the pipeline notes every record it appends. It
 * keeps at most `capacity` artifacts, forgetting the oldest first; an artifact it has
 * forgotten reads as "not recorded" (its outcome may then be recorded a second time —
 * only for a leftover older than the whole window; docs/protocol.md).
 *
 * Only records with an artifact id and a `to` state count. Lines that are not records
 * (a torn tail, garbage) are skipped: the audit log's own verification is elsewhere.
 *
 * Threading: the loop thread. Ownership: the caller frees it with audit_ledger_free.
 */
#ifndef SLUICE_STATE_LEDGER_H
#define SLUICE_STATE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/artifact.h"
#include "util/error.h"

typedef struct audit_ledger audit_ledger;

#define AUDIT_LEDGER_TAIL_BYTES ((size_t)16 << 20)
#define AUDIT_LEDGER_CAPACITY ((size_t)200000)

/* A ledger of the last tail_bytes of the file at `path` (a missing or empty file gives
 * an empty ledger). Errors: SL_ERR_IO (the file exists but cannot be read),
 * SL_ERR_INVALID_ARGUMENT (capacity 0). */
SL_MUST_CHECK sl_result audit_ledger_load(const char *path, size_t tail_bytes, size_t capacity, audit_ledger **out);

/* An empty ledger (tests, a daemon without a prior log). */
audit_ledger *audit_ledger_new(size_t capacity);

/* Notes that `state` was recorded for the artifact (a 32-hex id; others are ignored). */
void audit_ledger_note(audit_ledger *ledger, const char *artifact_id, artifact_state state);

/* Whether `state` is recorded for the artifact (within the window). */
bool audit_ledger_has(const audit_ledger *ledger, const char *artifact_id, artifact_state state);

/* Whether the window reaches back to `time_ms` (ms since the epoch): a record made then
 * is known to the ledger, so audit_ledger_has answering false means it was never written.
 * The window starts at the first record read from a cut file (or at the time the ledger
 * first forgot an artifact); a whole file read, or an empty one, reaches back forever. */
bool audit_ledger_covers(const audit_ledger *ledger, int64_t time_ms);

/* Artifacts known (for tests and metrics). */
size_t audit_ledger_count(const audit_ledger *ledger);

void audit_ledger_free(audit_ledger *ledger);

#endif /* SLUICE_STATE_LEDGER_H */
