/*
 * protocol.h — the artifact protocol: every step the mover takes with an artifact, as
 * ONE table of rows and ONE table of what each outcome of a row leads to. The pipeline's
 * executor (pipeline/executor.c) runs exactly these tables; docs/protocol.md is generated
 * from them; the Promela model in tests/model/ is generated from them too, so the model
 * spin checks and the code the daemon runs cannot disagree.
 *
 * A ROW is one step: the state the artifact must be in while it runs (or enters when it
 * starts), the single S3 request it makes (or none: a decision, an audit record), and a
 * condition under which it is skipped (its outcome is then SKIPPED). Rows that talk to S3
 * classify the answer into one OUTCOME:
 *
 *   OK          the request did what it asked, or a look found what it looked for
 *   ABSENT      the object is not there (404)
 *   CONFLICT    a definite refusal by condition (412), or a look found other bytes
 *   REFUSED     any other definite refusal (403, 400, ...): nothing happened
 *   INDEFINITE  no answer that tells (a timeout, a reset after sending, a 5xx): it may
 *               have taken effect — resolved by a look, never by assuming
 *   OURS        a look found this artifact's own object (a trusted key whose
 *               sluice-artifact is this id; a manifest of this id)
 *   EXHAUSTED   the artifact's time budget for retries (s3.retry_budget) is spent
 *   SKIPPED     the row's skip condition held
 *   APPROVE / REVIEW / BLOCK / REJECT   decisions (the gate, admission)
 *   DECIDED / RETRIED / IN_REVIEW_DUE / RETENTION_OVER / WAITING   what a manifest says
 *               to the sweep (approved; failed and retried by an operator; ...)
 *   UNRECORDED  the manifest says a waiting or final outcome the audit log lacks (a run
 *               stopped between the commit point and its record)
 *
 * A NEXT entry maps (row, outcome) to the next row, or to an end: DONE (settled, nothing
 * left), LEAVE (stop here; the bytes stay where they are and a later poll or sweep
 * resumes from what S3 shows), DROP (nothing of this artifact needs accounting: the
 * object changed or vanished before it was taken in). RETRY means "this row again, after
 * a backoff, while the budget lasts" (then EXHAUSTED). A pair the table does not list is
 * a bug: the executor logs it and LEAVEs.
 *
 * Where the bytes are: on versioned staging the hot path checks and promotes IN PLACE
 * (GET by version, copy by version to trusted, delete that version) and copies into the
 * quarantine bucket only what must wait or ends outside trusted (the PARK rows); on
 * unversioned staging (where the server honours If-Match on DeleteObject) every artifact
 * is first copied into quarantine. The skip conditions pick the row set; the rows are the
 * same. The commit point of every outcome is an object in S3 — the trusted copy with
 * this id, or the manifest created with If-None-Match — and the audit record follows it;
 * after a crash the LOOK rows find the commit point and the audit ledger (the tail of the
 * log) says whether its record was written, so no outcome is recorded twice.
 *
 * Threading: constant tables and pure functions; safe on any thread.
 */
#ifndef SLUICE_STATE_PROTOCOL_H
#define SLUICE_STATE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#include "state/artifact.h"
#include "util/buf.h"
#include "util/error.h"

/* X(ENUM, "name") — the S3 request a row makes. */
#define SL_PROTOCOL_REQUESTS(X)                                                 \
    X(REQ_NONE, "none")                                                         \
    X(REQ_TASK_ADMIT, "task admission (registry; cached)")                      \
    X(REQ_GET_MANIFEST, "GetObject manifest")                                   \
    X(REQ_HEAD_TRUSTED, "HeadObject trusted key")                               \
    X(REQ_HEAD_QUARANTINE, "HeadObject quarantine key")                         \
    X(REQ_COPY_TO_QUARANTINE, "CopyObject staging version to quarantine")       \
    X(REQ_DELETE_STAGING, "DeleteObject staging version (or If-Match)")         \
    X(REQ_GET_SOURCE, "GetObject source, streamed through the checks")          \
    X(REQ_COPY_TO_TRUSTED, "CopyObject source to trusted, with its metadata")   \
    X(REQ_DELETE_SOURCE, "DeleteObject source (staging version or quarantine)") \
    X(REQ_PUT_MANIFEST, "PutObject manifest (If-None-Match, or If-Match)")      \
    X(REQ_DELETE_QUARANTINE, "DeleteObject quarantine copy")

typedef enum protocol_request {
#define SL_PROTOCOL_REQUEST_ENUM(e, name) e,
    SL_PROTOCOL_REQUESTS(SL_PROTOCOL_REQUEST_ENUM)
#undef SL_PROTOCOL_REQUEST_ENUM
    PROTOCOL_REQUEST_COUNT
} protocol_request;

/* X(ENUM, "name", "when it holds") — skip conditions. */
#define SL_PROTOCOL_SKIPS(X)                                                                   \
    X(SKIP_NEVER, "never", "never skipped")                                                    \
    X(SKIP_IN_PLACE, "in_place", "the artifact is checked in place (versioned staging)")       \
    X(SKIP_SOURCE_QUARANTINED, "quarantined", "the artifact's bytes are in quarantine already") \
    X(SKIP_NOT_KEPT, "not_kept", "the verdict keeps no bytes (rejected), or they are in quarantine already") \
    X(SKIP_TRUSTED_KNOWN_FREE, "trusted_known_free", "the server refuses a CopyObject onto an existing key (If-None-Match), or a look of this artifact found the trusted key free and nothing has been copied to it since (one promotion per trusted key at a time)") \
    X(SKIP_NO_MANIFEST, "no_manifest", "the artifact has no manifest to bring up to date")    \
    X(SKIP_RECORDED, "recorded", "the audit ledger already holds this outcome")             \
    X(SKIP_PURGED, "purged", "the manifest says purged already (a purge stopped after its commit point)")

typedef enum protocol_skip {
#define SL_PROTOCOL_SKIP_ENUM(e, name, why) e,
    SL_PROTOCOL_SKIPS(SL_PROTOCOL_SKIP_ENUM)
#undef SL_PROTOCOL_SKIP_ENUM
    PROTOCOL_SKIP_COUNT
} protocol_skip;

/* X(ENUM, "name") — outcomes (see the list above). */
#define SL_PROTOCOL_OUTCOMES(X)              \
    X(OUT_OK, "ok")                          \
    X(OUT_ABSENT, "absent")                  \
    X(OUT_CONFLICT, "conflict")              \
    X(OUT_REFUSED, "refused")                \
    X(OUT_INDEFINITE, "indefinite")          \
    X(OUT_OURS, "ours")                      \
    X(OUT_EXHAUSTED, "exhausted")            \
    X(OUT_SKIPPED, "skipped")                \
    X(OUT_APPROVE, "approve")                \
    X(OUT_REVIEW, "review")                  \
    X(OUT_BLOCK, "block")                    \
    X(OUT_REJECT, "reject")                  \
    X(OUT_DECIDED, "decided")                \
    X(OUT_RETRIED, "retried")                \
    X(OUT_IN_REVIEW_DUE, "review_ttl_over")  \
    X(OUT_RETENTION_OVER, "retention_over")  \
    X(OUT_WAITING, "waiting")                \
    X(OUT_UNRECORDED, "unrecorded")

typedef enum protocol_outcome {
#define SL_PROTOCOL_OUTCOME_ENUM(e, name) e,
    SL_PROTOCOL_OUTCOMES(SL_PROTOCOL_OUTCOME_ENUM)
#undef SL_PROTOCOL_OUTCOME_ENUM
    PROTOCOL_OUTCOME_COUNT
} protocol_outcome;

/* The state a row runs in: a state of artifact.h, or one of these two. */
#define STATE_KEEP (-1)    /* whatever the artifact is in */
#define STATE_VERDICT (-2) /* the state the artifact's verdict names (blocked, in_review, failed, rejected) */

/*
 * X(ROW, "name", state, request, skip, "what it does")
 *
 * The rows, grouped by what they do. `state`: the state the artifact must be in while the
 * row runs — entering a row whose state differs from the artifact's records that
 * transition (through artifact.h's table, with its audit record) before the row starts.
 */
#define SL_PROTOCOL_ROWS(X)                                                                                      \
    /* -- a staging version seen before: look before anything is judged -- */                                  \
    X(ROW_LOOK_MANIFEST, "look_manifest", ARTIFACT_STAGED, REQ_GET_MANIFEST, SKIP_NEVER,                        \
      "a version listed before this process saw it: is there a manifest of its id?")                            \
    X(ROW_LOOK_TRUSTED, "look_trusted", ARTIFACT_STAGED, REQ_HEAD_TRUSTED, SKIP_NEVER,                          \
      "... or a trusted object carrying its id?")                                                               \
    /* -- admission -- */                                                                                       \
    X(ROW_ADMIT, "admit", ARTIFACT_STAGED, REQ_TASK_ADMIT, SKIP_NEVER,                                           \
      "the key fits the layout; the task is open and within its limits")                                        \
    /* -- quarantine first (unversioned staging, or in_place off) -- */                                         \
    X(ROW_QUARANTINE_COPY, "quarantine_copy", ARTIFACT_STAGED, REQ_COPY_TO_QUARANTINE, SKIP_IN_PLACE,           \
      "copy the listed version (If-Match its ETag) to its quarantine key")                                      \
    X(ROW_QUARANTINE_LOOK, "quarantine_look", ARTIFACT_STAGED, REQ_HEAD_QUARANTINE, SKIP_NEVER,                 \
      "did the copy to quarantine happen?")                                                                     \
    X(ROW_STAGING_DELETE, "staging_delete", ARTIFACT_QUARANTINED, REQ_DELETE_STAGING, SKIP_IN_PLACE,            \
      "delete exactly the version copied (by version id, or If-Match its ETag)")                                \
    /* -- check and gate -- */                                                                                  \
    X(ROW_CHECK, "check", ARTIFACT_CHECKING, REQ_GET_SOURCE, SKIP_NEVER,                                        \
      "stream the bytes through every check; a cut read starts again from the first byte")                      \
    X(ROW_GATE, "gate", ARTIFACT_CHECKING, REQ_NONE, SKIP_NEVER,                                                 \
      "the route's review mode and the findings decide")                                                        \
    /* -- park: what must wait or ends outside trusted gets its bytes kept and a manifest -- */                 \
    X(ROW_PARK_COPY, "park_copy", STATE_KEEP, REQ_COPY_TO_QUARANTINE, SKIP_NOT_KEPT,                            \
      "keep the bytes: copy the staging version to its quarantine key")                                         \
    X(ROW_PARK_LOOK, "park_look", STATE_KEEP, REQ_HEAD_QUARANTINE, SKIP_NEVER,                                  \
      "did the copy to quarantine happen?")                                                                     \
    X(ROW_PARK_MANIFEST, "park_manifest", STATE_KEEP, REQ_PUT_MANIFEST, SKIP_NEVER,                             \
      "the commit point: the manifest with the verdict, created with If-None-Match")                            \
    X(ROW_PARK_MANIFEST_LOOK, "park_manifest_look", STATE_KEEP, REQ_GET_MANIFEST, SKIP_NEVER,                   \
      "did the manifest write happen, and whose is it?")                                                        \
    X(ROW_PARK_RECORD, "park_record", STATE_VERDICT, REQ_NONE, SKIP_NEVER,                                       \
      "record the verdict (after its commit point)")                                                            \
    X(ROW_PARK_SOURCE_DELETE, "park_source_delete", STATE_KEEP, REQ_DELETE_STAGING, SKIP_SOURCE_QUARANTINED,    \
      "delete the staging version now that its bytes and verdict are kept")                                     \
    /* -- promote -- */                                                                                         \
    X(ROW_APPROVE, "approve", ARTIFACT_APPROVED, REQ_NONE, SKIP_NEVER, "approved: every check passed (auto)")  \
    X(ROW_PROMOTE_HEAD, "promote_head", ARTIFACT_PROMOTING, REQ_HEAD_TRUSTED, SKIP_TRUSTED_KNOWN_FREE,          \
      "never overwrite other bytes: is the trusted key free (or ours already)?")                                \
    X(ROW_PROMOTE_COPY, "promote_copy", ARTIFACT_PROMOTING, REQ_COPY_TO_TRUSTED, SKIP_NEVER,                    \
      "copy the checked bytes (If-Match their ETag, by version) to trusted with the sluice-* metadata")         \
    X(ROW_PROMOTE_LOOK, "promote_look", ARTIFACT_PROMOTING, REQ_HEAD_TRUSTED, SKIP_NEVER,                       \
      "did the copy happen? a trusted key carrying this id means promoted")                                     \
    X(ROW_PROMOTED_RECORD, "promoted_record", ARTIFACT_PROMOTED, REQ_NONE, SKIP_RECORDED,                       \
      "record promoted (after its commit point, unless the ledger has it)")                                     \
    X(ROW_PROMOTED_MANIFEST, "promoted_manifest", ARTIFACT_PROMOTED, REQ_PUT_MANIFEST, SKIP_NO_MANIFEST,        \
      "a reviewed artifact's manifest says promoted too")                                                       \
    X(ROW_SOURCE_DELETE, "source_delete", ARTIFACT_PROMOTED, REQ_DELETE_SOURCE, SKIP_NEVER,                     \
      "clean up: delete the promoted bytes' source (staging version or quarantine copy)")                       \
    /* -- leftovers of a settled artifact: cleaned up, never judged again -- */                                 \
    X(ROW_ADOPT_MANIFEST, "adopt_manifest", STATE_KEEP, REQ_GET_MANIFEST, SKIP_NEVER,                            \
      "a manifest of this id exists: its outcome stands")                                                       \
    X(ROW_LEFTOVER_RECORD, "leftover_record", STATE_KEEP, REQ_NONE, SKIP_RECORDED,                               \
      "record the manifest's outcome if the ledger lacks it")                                                   \
    X(ROW_LEFTOVER_DELETE, "leftover_delete", STATE_KEEP, REQ_DELETE_STAGING, SKIP_SOURCE_QUARANTINED,          \
      "clean up: delete the settled artifact's staging version")                                                \
    /* -- the quarantine sweep: copies with no artifact in flight -- */                                         \
    X(ROW_SWEEP_MANIFEST, "sweep_manifest", STATE_KEEP, REQ_GET_MANIFEST, SKIP_NEVER,                           \
      "a quarantine copy not in flight: what does its manifest say?")                                          \
    X(ROW_SWEEP_TRUSTED, "sweep_trusted", ARTIFACT_QUARANTINED, REQ_HEAD_TRUSTED, SKIP_NEVER,                   \
      "no manifest: promoted already (a leftover copy), or interrupted (resume)?")                              \
    X(ROW_EXPIRE, "expire", STATE_KEEP, REQ_PUT_MANIFEST, SKIP_NEVER,                                            \
      "no decision within the route's review_ttl: the manifest says expired (If-Match), then the record")                        \
    X(ROW_PURGE_MANIFEST, "purge_manifest", STATE_KEEP, REQ_PUT_MANIFEST, SKIP_PURGED,                            \
      "retention is over: the manifest says purged (If-Match), the commit point, while the copy is still there") \
    X(ROW_PURGE_RECORD, "purge_record", ARTIFACT_PURGED, REQ_NONE, SKIP_RECORDED,                                  \
      "record purged (after its commit point, unless the ledger has it)")                                       \
    X(ROW_PURGE_DELETE, "purge_delete", STATE_KEEP, REQ_DELETE_QUARANTINE, SKIP_NEVER,                          \
      "delete the quarantine copy")

typedef enum protocol_row {
#define SL_PROTOCOL_ROW_ENUM(e, name, state, request, skip, what) e,
    SL_PROTOCOL_ROWS(SL_PROTOCOL_ROW_ENUM)
#undef SL_PROTOCOL_ROW_ENUM
    PROTOCOL_ROW_COUNT
} protocol_row;

/* Ends (values of `next` that are not rows). */
#define PROTOCOL_END_DONE ((int)PROTOCOL_ROW_COUNT)
#define PROTOCOL_END_LEAVE ((int)PROTOCOL_ROW_COUNT + 1)
#define PROTOCOL_END_DROP ((int)PROTOCOL_ROW_COUNT + 2)
#define PROTOCOL_RETRY ((int)PROTOCOL_ROW_COUNT + 3)
#define PROTOCOL_NEXT_COUNT ((int)PROTOCOL_ROW_COUNT + 4)

#define END_DONE PROTOCOL_END_DONE
#define END_LEAVE PROTOCOL_END_LEAVE
#define END_DROP PROTOCOL_END_DROP
#define RETRY PROTOCOL_RETRY

/* The verdict an outcome gives an artifact on its way into the PARK rows (the state
 * ROW_PARK_RECORD records), or V_NONE. */
#define V_NONE (-1)
#define V_BLOCKED ARTIFACT_BLOCKED
#define V_IN_REVIEW ARTIFACT_IN_REVIEW
#define V_FAILED ARTIFACT_FAILED
#define V_REJECTED ARTIFACT_REJECTED

/*
 * X(ROW, OUTCOME, NEXT, VERDICT, "why") — what each outcome of each row leads to. The
 * order is the order of the document; a pair written twice cannot compile (it declares
 * the same enumerator twice).
 */
#define SL_PROTOCOL_NEXT(X)                                                                                       \
    X(ROW_LOOK_MANIFEST, OUT_OURS, ROW_ADOPT_MANIFEST, V_NONE, "judged before: its outcome stands")                      \
    X(ROW_LOOK_MANIFEST, OUT_ABSENT, ROW_LOOK_TRUSTED, V_NONE, "no manifest")                                            \
    X(ROW_LOOK_MANIFEST, OUT_INDEFINITE, RETRY, V_NONE, "read again")                                                    \
    X(ROW_LOOK_MANIFEST, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left in staging for a later poll")                          \
    X(ROW_LOOK_MANIFEST, OUT_REFUSED, END_LEAVE, V_NONE, "left in staging for a later poll")                            \
    X(ROW_LOOK_TRUSTED, OUT_OURS, ROW_PROMOTED_RECORD, V_NONE, "promoted before: record it if the ledger lacks it")      \
    X(ROW_LOOK_TRUSTED, OUT_ABSENT, ROW_ADMIT, V_NONE, "new: take it in (promote_head need not look again while nothing is copied to the key)") \
    X(ROW_LOOK_TRUSTED, OUT_CONFLICT, ROW_ADMIT, V_NONE, "another artifact's object: take this one in (promotion will refuse to overwrite)") \
    X(ROW_LOOK_TRUSTED, OUT_INDEFINITE, RETRY, V_NONE, "read again")                                                     \
    X(ROW_LOOK_TRUSTED, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left in staging for a later poll")                           \
    X(ROW_LOOK_TRUSTED, OUT_REFUSED, END_LEAVE, V_NONE, "left in staging for a later poll")                             \
    X(ROW_ADMIT, OUT_OK, ROW_QUARANTINE_COPY, V_NONE, "admitted")                                                        \
    X(ROW_ADMIT, OUT_REJECT, ROW_PARK_COPY, V_REJECTED, "rejected: a manifest says why, then the version is deleted")       \
    X(ROW_ADMIT, OUT_INDEFINITE, END_LEAVE, V_NONE, "the task could not be read: left in staging for a later poll")     \
    X(ROW_QUARANTINE_COPY, OUT_SKIPPED, ROW_CHECK, V_NONE, "checked in place")                                           \
    X(ROW_QUARANTINE_COPY, OUT_OK, ROW_STAGING_DELETE, V_NONE, "quarantined")                                            \
    X(ROW_QUARANTINE_COPY, OUT_CONFLICT, END_DROP, V_NONE, "changed since it was listed: the next poll sees the new object") \
    X(ROW_QUARANTINE_COPY, OUT_ABSENT, END_DROP, V_NONE, "gone since it was listed")                                    \
    X(ROW_QUARANTINE_COPY, OUT_REFUSED, END_LEAVE, V_NONE, "left in staging for a later poll")                          \
    X(ROW_QUARANTINE_COPY, OUT_INDEFINITE, ROW_QUARANTINE_LOOK, V_NONE, "look")                                          \
    X(ROW_QUARANTINE_COPY, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left in staging for a later poll")                        \
    X(ROW_QUARANTINE_LOOK, OUT_OK, ROW_STAGING_DELETE, V_NONE, "the copy happened")                                      \
    X(ROW_QUARANTINE_LOOK, OUT_ABSENT, ROW_QUARANTINE_COPY, V_NONE, "the copy did not happen: copy again")              \
    X(ROW_QUARANTINE_LOOK, OUT_CONFLICT, ROW_QUARANTINE_COPY, V_NONE, "other bytes at the key: copy again (same id, same bytes)") \
    X(ROW_QUARANTINE_LOOK, OUT_INDEFINITE, RETRY, V_NONE, "look again")                                                  \
    X(ROW_QUARANTINE_LOOK, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left where it is for a later poll or sweep")              \
    X(ROW_QUARANTINE_LOOK, OUT_REFUSED, END_LEAVE, V_NONE, "left where it is for a later poll or sweep")                \
    X(ROW_STAGING_DELETE, OUT_SKIPPED, ROW_CHECK, V_NONE, "checked in place")                                            \
    X(ROW_STAGING_DELETE, OUT_OK, ROW_CHECK, V_NONE, "staging version deleted")                                          \
    X(ROW_STAGING_DELETE, OUT_ABSENT, ROW_CHECK, V_NONE, "deleted already")                                              \
    X(ROW_STAGING_DELETE, OUT_CONFLICT, ROW_CHECK, V_NONE, "replaced since (If-Match refused): the replacement is a new upload for the next poll") \
    X(ROW_STAGING_DELETE, OUT_INDEFINITE, RETRY, V_NONE, "delete again (by version: idempotent)")                        \
    X(ROW_STAGING_DELETE, OUT_EXHAUSTED, ROW_CHECK, V_NONE, "the bytes are in quarantine; the next poll's look cleans staging up") \
    X(ROW_STAGING_DELETE, OUT_REFUSED, ROW_CHECK, V_NONE, "the bytes are in quarantine; the next poll's look cleans staging up") \
    X(ROW_CHECK, OUT_OK, ROW_GATE, V_NONE, "every check finished")                                                       \
    X(ROW_CHECK, OUT_ABSENT, END_DROP, V_NONE, "the bytes are gone: settled by another mover or run")                   \
    X(ROW_CHECK, OUT_INDEFINITE, RETRY, V_NONE, "a failed or cut read is read again from the first byte, never judged")  \
    X(ROW_CHECK, OUT_EXHAUSTED, ROW_PARK_COPY, V_FAILED, "failed: kept, visible, retryable — never blocked")              \
    X(ROW_CHECK, OUT_REFUSED, ROW_PARK_COPY, V_FAILED, "failed: kept, visible, retryable — never blocked")                \
    X(ROW_GATE, OUT_APPROVE, ROW_APPROVE, V_NONE, "auto route, every check passed")                                      \
    X(ROW_GATE, OUT_REVIEW, ROW_PARK_COPY, V_IN_REVIEW, "a person (or the hook) decides")                                     \
    X(ROW_GATE, OUT_BLOCK, ROW_PARK_COPY, V_BLOCKED, "a check failed or could not finish")                                  \
    X(ROW_PARK_COPY, OUT_SKIPPED, ROW_PARK_MANIFEST, V_NONE, "nothing to copy")                                          \
    X(ROW_PARK_COPY, OUT_OK, ROW_PARK_MANIFEST, V_NONE, "the bytes are kept")                                            \
    X(ROW_PARK_COPY, OUT_CONFLICT, END_DROP, V_NONE, "the version is gone: settled by another mover")                   \
    X(ROW_PARK_COPY, OUT_ABSENT, END_DROP, V_NONE, "the version is gone: settled by another mover")                     \
    X(ROW_PARK_COPY, OUT_INDEFINITE, ROW_PARK_LOOK, V_NONE, "look")                                                      \
    X(ROW_PARK_COPY, OUT_REFUSED, END_LEAVE, V_NONE, "left in staging for a later poll")                                \
    X(ROW_PARK_COPY, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left in staging for a later poll")                              \
    X(ROW_PARK_LOOK, OUT_OK, ROW_PARK_MANIFEST, V_NONE, "the copy happened")                                             \
    X(ROW_PARK_LOOK, OUT_ABSENT, ROW_PARK_COPY, V_NONE, "copy again")                                                    \
    X(ROW_PARK_LOOK, OUT_CONFLICT, ROW_PARK_COPY, V_NONE, "copy again (same id, same bytes)")                            \
    X(ROW_PARK_LOOK, OUT_INDEFINITE, RETRY, V_NONE, "look again")                                                        \
    X(ROW_PARK_LOOK, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left in staging for a later poll")                              \
    X(ROW_PARK_LOOK, OUT_REFUSED, END_LEAVE, V_NONE, "left in staging for a later poll")                                \
    X(ROW_PARK_MANIFEST, OUT_OK, ROW_PARK_RECORD, V_NONE, "the verdict is committed")                                    \
    X(ROW_PARK_MANIFEST, OUT_CONFLICT, ROW_ADOPT_MANIFEST, V_NONE, "a manifest exists: judged before, its outcome stands") \
    X(ROW_PARK_MANIFEST, OUT_INDEFINITE, ROW_PARK_MANIFEST_LOOK, V_NONE, "look")                                         \
    X(ROW_PARK_MANIFEST, OUT_REFUSED, END_LEAVE, V_NONE, "left where its bytes are for a later poll or sweep")          \
    X(ROW_PARK_MANIFEST, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left where its bytes are for a later poll or sweep")        \
    X(ROW_PARK_MANIFEST_LOOK, OUT_OURS, ROW_PARK_RECORD, V_NONE, "the write happened")                                   \
    X(ROW_PARK_MANIFEST_LOOK, OUT_CONFLICT, ROW_ADOPT_MANIFEST, V_NONE, "another verdict was committed first: it stands") \
    X(ROW_PARK_MANIFEST_LOOK, OUT_ABSENT, ROW_PARK_MANIFEST, V_NONE, "the write did not happen: write again")            \
    X(ROW_PARK_MANIFEST_LOOK, OUT_INDEFINITE, RETRY, V_NONE, "look again")                                               \
    X(ROW_PARK_MANIFEST_LOOK, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left where its bytes are for a later poll or sweep")   \
    X(ROW_PARK_MANIFEST_LOOK, OUT_REFUSED, END_LEAVE, V_NONE, "left where its bytes are for a later poll or sweep")     \
    X(ROW_PARK_RECORD, OUT_OK, ROW_PARK_SOURCE_DELETE, V_NONE, "recorded")                                               \
    X(ROW_PARK_SOURCE_DELETE, OUT_SKIPPED, END_DONE, V_NONE, "the bytes were in quarantine already")                    \
    X(ROW_PARK_SOURCE_DELETE, OUT_OK, END_DONE, V_NONE, "staging version deleted")                                       \
    X(ROW_PARK_SOURCE_DELETE, OUT_ABSENT, END_DONE, V_NONE, "deleted already")                                          \
    X(ROW_PARK_SOURCE_DELETE, OUT_CONFLICT, END_DONE, V_NONE, "replaced since: the replacement is a new upload")         \
    X(ROW_PARK_SOURCE_DELETE, OUT_INDEFINITE, RETRY, V_NONE, "delete again")                                             \
    X(ROW_PARK_SOURCE_DELETE, OUT_EXHAUSTED, END_DONE, V_NONE, "settled; the next poll's look cleans staging up")       \
    X(ROW_PARK_SOURCE_DELETE, OUT_REFUSED, END_DONE, V_NONE, "settled; the next poll's look cleans staging up")         \
    X(ROW_APPROVE, OUT_OK, ROW_PROMOTE_HEAD, V_NONE, "promote")                                                          \
    X(ROW_PROMOTE_HEAD, OUT_SKIPPED, ROW_PROMOTE_COPY, V_NONE, "the copy itself refuses to overwrite, or the key is known free") \
    X(ROW_PROMOTE_HEAD, OUT_ABSENT, ROW_PROMOTE_COPY, V_NONE, "the trusted key is free")                                 \
    X(ROW_PROMOTE_HEAD, OUT_OURS, ROW_PROMOTED_RECORD, V_NONE, "copied before: promoted")                               \
    X(ROW_PROMOTE_HEAD, OUT_CONFLICT, ROW_PARK_COPY, V_FAILED, "failed: the trusted key holds other bytes; never overwritten") \
    X(ROW_PROMOTE_HEAD, OUT_INDEFINITE, RETRY, V_NONE, "look again")                                                     \
    X(ROW_PROMOTE_HEAD, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left where its bytes are for a later poll or sweep")         \
    X(ROW_PROMOTE_HEAD, OUT_REFUSED, ROW_PARK_COPY, V_FAILED, "failed: the trusted key cannot be read")                   \
    X(ROW_PROMOTE_COPY, OUT_OK, ROW_PROMOTED_RECORD, V_NONE, "in trusted: the commit point")                             \
    X(ROW_PROMOTE_COPY, OUT_CONFLICT, ROW_PROMOTE_LOOK, V_NONE, "refused by a condition: whose object is at the key?")   \
    X(ROW_PROMOTE_COPY, OUT_ABSENT, END_DROP, V_NONE, "the source is gone: settled by another mover or run")            \
    X(ROW_PROMOTE_COPY, OUT_INDEFINITE, ROW_PROMOTE_LOOK, V_NONE, "may have happened: look, never assume")               \
    X(ROW_PROMOTE_COPY, OUT_REFUSED, ROW_PARK_COPY, V_FAILED, "failed: the copy was refused")                              \
    X(ROW_PROMOTE_COPY, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left where its bytes are for a later poll or sweep")         \
    X(ROW_PROMOTE_LOOK, OUT_OURS, ROW_PROMOTED_RECORD, V_NONE, "the copy happened: promoted")                           \
    X(ROW_PROMOTE_LOOK, OUT_ABSENT, ROW_PROMOTE_COPY, V_NONE, "the copy did not happen: copy again")                    \
    X(ROW_PROMOTE_LOOK, OUT_CONFLICT, ROW_PARK_COPY, V_FAILED, "failed: the trusted key holds other bytes; never overwritten") \
    X(ROW_PROMOTE_LOOK, OUT_INDEFINITE, RETRY, V_NONE, "look again")                                                     \
    X(ROW_PROMOTE_LOOK, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left where its bytes are: a later look decides")            \
    X(ROW_PROMOTE_LOOK, OUT_REFUSED, END_LEAVE, V_NONE, "left where its bytes are: a later look decides")              \
    X(ROW_PROMOTED_RECORD, OUT_OK, ROW_PROMOTED_MANIFEST, V_NONE, "recorded")                                           \
    X(ROW_PROMOTED_RECORD, OUT_SKIPPED, ROW_PROMOTED_MANIFEST, V_NONE, "recorded before")                               \
    X(ROW_PROMOTED_MANIFEST, OUT_SKIPPED, ROW_SOURCE_DELETE, V_NONE, "no manifest")                                     \
    X(ROW_PROMOTED_MANIFEST, OUT_OK, ROW_SOURCE_DELETE, V_NONE, "the manifest says promoted")                           \
    X(ROW_PROMOTED_MANIFEST, OUT_CONFLICT, ROW_SOURCE_DELETE, V_NONE, "the manifest changed meanwhile: trusted is the truth") \
    X(ROW_PROMOTED_MANIFEST, OUT_INDEFINITE, ROW_SOURCE_DELETE, V_NONE, "trusted is the truth")                         \
    X(ROW_PROMOTED_MANIFEST, OUT_REFUSED, ROW_SOURCE_DELETE, V_NONE, "trusted is the truth")                            \
    X(ROW_PROMOTED_MANIFEST, OUT_EXHAUSTED, ROW_SOURCE_DELETE, V_NONE, "trusted is the truth")                          \
    X(ROW_SOURCE_DELETE, OUT_OK, END_DONE, V_NONE, "promoted; source deleted")                                           \
    X(ROW_SOURCE_DELETE, OUT_ABSENT, END_DONE, V_NONE, "promoted; source deleted already")                              \
    X(ROW_SOURCE_DELETE, OUT_CONFLICT, END_DONE, V_NONE, "promoted; the key was replaced since (a new upload)")         \
    X(ROW_SOURCE_DELETE, OUT_INDEFINITE, RETRY, V_NONE, "delete again")                                                  \
    X(ROW_SOURCE_DELETE, OUT_EXHAUSTED, END_DONE, V_NONE, "promoted; a later look or sweep cleans the source up")       \
    X(ROW_SOURCE_DELETE, OUT_REFUSED, END_DONE, V_NONE, "promoted; a later look or sweep cleans the source up")         \
    X(ROW_ADOPT_MANIFEST, OUT_OURS, ROW_LEFTOVER_RECORD, V_NONE, "its outcome stands")                                  \
    X(ROW_ADOPT_MANIFEST, OUT_ABSENT, END_LEAVE, V_NONE, "gone meanwhile (purged): a later poll looks again")           \
    X(ROW_ADOPT_MANIFEST, OUT_INDEFINITE, RETRY, V_NONE, "read again")                                                   \
    X(ROW_ADOPT_MANIFEST, OUT_EXHAUSTED, END_LEAVE, V_NONE, "left where it is for a later poll")                        \
    X(ROW_ADOPT_MANIFEST, OUT_REFUSED, END_LEAVE, V_NONE, "left where it is for a later poll")                          \
    X(ROW_LEFTOVER_RECORD, OUT_OK, ROW_LEFTOVER_DELETE, V_NONE, "the outcome is recorded now")                          \
    X(ROW_LEFTOVER_RECORD, OUT_SKIPPED, ROW_LEFTOVER_DELETE, V_NONE, "recorded before: only a clean-up is left")        \
    X(ROW_LEFTOVER_DELETE, OUT_SKIPPED, END_DONE, V_NONE, "nothing left in staging")                                     \
    X(ROW_LEFTOVER_DELETE, OUT_OK, END_DONE, V_NONE, "cleaned up")                                                       \
    X(ROW_LEFTOVER_DELETE, OUT_ABSENT, END_DONE, V_NONE, "cleaned up already")                                          \
    X(ROW_LEFTOVER_DELETE, OUT_CONFLICT, END_DONE, V_NONE, "replaced since: a new upload")                               \
    X(ROW_LEFTOVER_DELETE, OUT_INDEFINITE, RETRY, V_NONE, "delete again")                                                \
    X(ROW_LEFTOVER_DELETE, OUT_EXHAUSTED, END_DONE, V_NONE, "a later poll cleans it up")                                \
    X(ROW_LEFTOVER_DELETE, OUT_REFUSED, END_DONE, V_NONE, "a later poll cleans it up")                                  \
    X(ROW_SWEEP_MANIFEST, OUT_ABSENT, ROW_SWEEP_TRUSTED, V_NONE, "no manifest: interrupted, or a leftover copy")        \
    X(ROW_SWEEP_MANIFEST, OUT_DECIDED, ROW_PROMOTE_LOOK, V_NONE, "a review approved it: look at trusted first (a copy may have landed before a crash)") \
    X(ROW_SWEEP_MANIFEST, OUT_OURS, ROW_PROMOTED_RECORD, V_NONE, "its manifest says promoted: a leftover copy; record it if needed, delete the copy") \
    X(ROW_SWEEP_MANIFEST, OUT_RETRIED, ROW_CHECK, V_NONE, "an operator retries a failed artifact: check it again") \
    X(ROW_SWEEP_MANIFEST, OUT_IN_REVIEW_DUE, ROW_EXPIRE, V_NONE, "no decision within review_ttl")                       \
    X(ROW_SWEEP_MANIFEST, OUT_RETENTION_OVER, ROW_PURGE_MANIFEST, V_NONE, "blocked, rejected or expired past retention (or purged, the copy still there)") \
    X(ROW_SWEEP_MANIFEST, OUT_WAITING, END_DONE, V_NONE, "nothing to do yet")                                           \
    X(ROW_SWEEP_MANIFEST, OUT_UNRECORDED, ROW_LEFTOVER_RECORD, V_NONE, "committed but never recorded (a run stopped in between): record it now") \
    X(ROW_SWEEP_MANIFEST, OUT_INDEFINITE, END_LEAVE, V_NONE, "the next sweep looks again")                             \
    X(ROW_SWEEP_MANIFEST, OUT_REFUSED, END_LEAVE, V_NONE, "the next sweep looks again")                                \
    X(ROW_SWEEP_MANIFEST, OUT_EXHAUSTED, END_LEAVE, V_NONE, "the next sweep looks again")                              \
    X(ROW_SWEEP_TRUSTED, OUT_OURS, ROW_PROMOTED_RECORD, V_NONE, "promoted before: record it if needed, delete the leftover copy") \
    X(ROW_SWEEP_TRUSTED, OUT_ABSENT, ROW_CHECK, V_NONE, "interrupted: check it (again)")                                \
    X(ROW_SWEEP_TRUSTED, OUT_CONFLICT, ROW_CHECK, V_NONE, "interrupted: check it (promotion will refuse to overwrite)") \
    X(ROW_SWEEP_TRUSTED, OUT_INDEFINITE, END_LEAVE, V_NONE, "the next sweep looks again")                              \
    X(ROW_SWEEP_TRUSTED, OUT_REFUSED, END_LEAVE, V_NONE, "the next sweep looks again")                                 \
    X(ROW_SWEEP_TRUSTED, OUT_EXHAUSTED, END_LEAVE, V_NONE, "the next sweep looks again")                               \
    X(ROW_EXPIRE, OUT_OK, END_DONE, V_NONE, "expired")                                                                  \
    X(ROW_EXPIRE, OUT_CONFLICT, END_LEAVE, V_NONE, "the manifest changed meanwhile (a decision): the next sweep looks again") \
    X(ROW_EXPIRE, OUT_INDEFINITE, END_LEAVE, V_NONE, "the next sweep looks again")                                     \
    X(ROW_EXPIRE, OUT_REFUSED, END_LEAVE, V_NONE, "the next sweep looks again")                                        \
    X(ROW_EXPIRE, OUT_EXHAUSTED, END_LEAVE, V_NONE, "the next sweep looks again")                                      \
    X(ROW_PURGE_MANIFEST, OUT_SKIPPED, ROW_PURGE_RECORD, V_NONE, "purged before: record it if the ledger lacks it")        \
    X(ROW_PURGE_MANIFEST, OUT_OK, ROW_PURGE_RECORD, V_NONE, "purged: the commit point")                                  \
    X(ROW_PURGE_MANIFEST, OUT_CONFLICT, END_LEAVE, V_NONE, "the next sweep looks again")                               \
    X(ROW_PURGE_MANIFEST, OUT_INDEFINITE, END_LEAVE, V_NONE, "the next sweep looks again (the copy is still there)")   \
    X(ROW_PURGE_MANIFEST, OUT_REFUSED, END_LEAVE, V_NONE, "the next sweep looks again")                                \
    X(ROW_PURGE_MANIFEST, OUT_EXHAUSTED, END_LEAVE, V_NONE, "the next sweep looks again")                              \
    X(ROW_PURGE_RECORD, OUT_OK, ROW_PURGE_DELETE, V_NONE, "recorded")                                                   \
    X(ROW_PURGE_RECORD, OUT_SKIPPED, ROW_PURGE_DELETE, V_NONE, "recorded before")                                       \
    X(ROW_PURGE_DELETE, OUT_OK, END_DONE, V_NONE, "purged; the copy is gone")                                           \
    X(ROW_PURGE_DELETE, OUT_ABSENT, END_DONE, V_NONE, "purged; the copy was gone already")                             \
    X(ROW_PURGE_DELETE, OUT_INDEFINITE, RETRY, V_NONE, "delete again")                                                   \
    X(ROW_PURGE_DELETE, OUT_REFUSED, END_LEAVE, V_NONE, "the next sweep finds the purged manifest and deletes again")  \
    X(ROW_PURGE_DELETE, OUT_EXHAUSTED, END_LEAVE, V_NONE, "the next sweep finds the purged manifest and deletes again")

/* One row, for the executor, the documentation and the model generator. */
typedef struct protocol_row_info {
    protocol_row row;
    const char *name;
    int state;                /* an artifact_state, STATE_KEEP or STATE_VERDICT */
    protocol_request request;
    protocol_skip skip;
    const char *what;
} protocol_row_info;

typedef struct protocol_next_info {
    protocol_row row;
    protocol_outcome outcome;
    int next;    /* a protocol_row, or END_DONE / END_LEAVE / END_DROP / RETRY */
    int verdict; /* V_NONE, or the artifact_state the PARK rows record */
    const char *why;
} protocol_next_info;

const protocol_row_info *protocol_row_get(protocol_row row);   /* NULL outside the enum */
const protocol_row_info *protocol_rows(size_t *count);
const protocol_next_info *protocol_nexts(size_t *count);

/* Where (row, outcome) leads: true and *info (its entry: next row or end, verdict, why)
 * when the table lists the pair; false otherwise (a bug: the executor leaves the artifact
 * where it is). */
bool protocol_next(protocol_row row, protocol_outcome outcome, const protocol_next_info **info);

const char *protocol_row_name(int row_or_end);       /* "check", "DONE", "LEAVE", "DROP", "RETRY" */
const char *protocol_outcome_name(protocol_outcome outcome);
const char *protocol_request_name(protocol_request request);
const char *protocol_skip_name(protocol_skip skip);
const char *protocol_skip_why(protocol_skip skip);

/* Consistency of the tables (the unit test and the model generator call it): every row
 * has a next for each outcome its request can produce, every next names a row or an
 * end, every row is reachable from an entry row. On failure SL_ERR_STATE names the first
 * gap. */
SL_MUST_CHECK sl_result protocol_check_tables(void);

/* The entry rows: where work on an artifact starts. */
#define PROTOCOL_ENTRY_NEW ROW_ADMIT              /* a version first seen by this process, after its first full poll */
#define PROTOCOL_ENTRY_SEEN ROW_LOOK_MANIFEST     /* a version that may have been handled before (first poll, leftovers) */
#define PROTOCOL_ENTRY_SWEEP ROW_SWEEP_MANIFEST   /* a quarantine copy with no artifact in flight */

/* Appends the tables as a Mermaid flowchart (docs/protocol.md). */
SL_MUST_CHECK sl_result protocol_mermaid(sl_buf *out);
/* Appends the tables as Promela (tests/model/protocol_table.pml): #defines for rows,
 * outcomes, requests, skips and artifact states (and A_TERMINAL_MASK), and the inlines
 * `row_info(row, req, skp, st)`, `protocol_next(row, outcome, nxt, verdict)` (its else
 * branch sets the model's `table_gap`) and `transition_allowed(from, to, ok)` (the
 * lifecycle's transitions table of state/artifact.h, which record_move enforces). */
SL_MUST_CHECK sl_result protocol_promela(sl_buf *out);

#endif /* SLUICE_STATE_PROTOCOL_H */
