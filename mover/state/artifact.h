/*
 * artifact.h — the artifact lifecycle: its states, the ONE table of allowed
 * transitions, artifact ids and the key layouts. (The manifest kept in the control
 * prefix is in manifest.h.)
 *
 * States and transitions (DESIGN "Artifact lifecycle and where state lives"): the table
 * SL_ARTIFACT_TRANSITIONS below is the only place a state may change.
 * artifact_transition_allowed() answers from it (through a lookup matrix generated from
 * the same X-macro at compile time — there is no second list), and
 * artifact_manifest_transition() (manifest.h) refuses anything it does not allow. The
 * docs' state diagram is generated from it: tests/gen_states_doc.c (built as
 * build/tests/gen-states-doc) writes docs/states.md, and the ctest states_doc_current
 * fails when that file no longer matches the table. Each transition names the audit
 * event it is recorded as. Every artifact begins as `staged`.
 *
 * "Terminal" (the third column of SL_ARTIFACT_STATES) means the artifact's outcome is
 * settled: promoted and purged have no way out, and blocked, rejected and expired only
 * lead to purged (their quarantine copy deleted after retention). `failed` is not
 * terminal: an operator may retry it.
 *
 * The place of the bytes is the state: staging = staged; quarantine = quarantined ..
 * promoting; trusted with sluice-artifact metadata = promoted. A manifest
 * (<control_prefix>artifacts/<id>.json) exists only for artifacts that wait (in_review)
 * or end outside trusted (blocked, rejected, expired, failed, purged).
 *
 * Ids: the artifact id is the first 128 bits of SHA-256(staging key || 0x00 || staging
 * ETag without quotes [|| 0x00 || version id, on versioned staging]), as 32 lower-case
 * hex digits: the same upload always gets the same id, a changed object a new one.
 *
 * Keys: staging <staging_prefix><task>/<name>; quarantine q/<route>/<task>/<id>/<name>.
 * A task id is 1..128 of [A-Za-z0-9_-] (URL-safe random ids); a route name is
 * [a-z0-9][a-z0-9_-]{0,63}; a name is any non-empty byte string (it may contain "/";
 * its content rules are the pipeline's key checks, not this module's).
 *
 * Errors: every sl_result function here fails with SL_ERR_INVALID_ARGUMENT and a detail
 * that names the part and the rule it broke (a bad byte is shown as hex, never echoed),
 * and on error leaves its outputs unchanged.
 * Threading: pure functions over constant tables; safe on any thread.
 */
#ifndef SLUICE_STATE_ARTIFACT_H
#define SLUICE_STATE_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/lifecycle.h"
#include "util/buf.h"
#include "util/error.h"

#define SL_ARTIFACT_ID_LEN 32
#define SL_ARTIFACT_TASK_MAX 128 /* bytes of a task id */
#define SL_ARTIFACT_ROUTE_MAX 64 /* bytes of a route name */

/* X(ENUM, "name", terminal) */
#define SL_ARTIFACT_STATES(X)                                                  \
    X(ARTIFACT_STAGED, "staged", false)                                        \
    X(ARTIFACT_QUARANTINED, "quarantined", false)                              \
    X(ARTIFACT_CHECKING, "checking", false)                                    \
    X(ARTIFACT_BLOCKED, "blocked", true)                                       \
    X(ARTIFACT_IN_REVIEW, "in_review", false)                                  \
    X(ARTIFACT_APPROVED, "approved", false)                                    \
    X(ARTIFACT_REJECTED, "rejected", true)                                     \
    X(ARTIFACT_EXPIRED, "expired", true)                                       \
    X(ARTIFACT_PROMOTING, "promoting", false)                                  \
    X(ARTIFACT_PROMOTED, "promoted", true)                                     \
    X(ARTIFACT_PURGED, "purged", true)                                         \
    X(ARTIFACT_FAILED, "failed", false)

typedef enum artifact_state {
#define SL_ARTIFACT_STATE_ENUM(e, name, terminal) e,
    SL_ARTIFACT_STATES(SL_ARTIFACT_STATE_ENUM)
#undef SL_ARTIFACT_STATE_ENUM
    ARTIFACT_STATE_COUNT
} artifact_state;

/* X(FROM, TO, "audit event", "why") — every allowed change, nothing else. "failed" is
 * not terminal: an operator may retry it (failed -> quarantined). */
#define SL_ARTIFACT_TRANSITIONS(X)                                                                  \
    X(ARTIFACT_STAGED, ARTIFACT_QUARANTINED, "quarantine", "copied to quarantine; staging deleted") \
    X(ARTIFACT_STAGED, ARTIFACT_REJECTED, "reject", "closed or unknown task, task limits, or a key the layout cannot hold") \
    X(ARTIFACT_STAGED, ARTIFACT_CHECKING, "check", "checked in place: a version of versioned staging is immutable") \
    X(ARTIFACT_QUARANTINED, ARTIFACT_CHECKING, "check", "key rules passed; content checks start")   \
    X(ARTIFACT_QUARANTINED, ARTIFACT_BLOCKED, "block", "key or metadata rules failed")              \
    X(ARTIFACT_CHECKING, ARTIFACT_BLOCKED, "block", "a check failed or could not finish")           \
    X(ARTIFACT_CHECKING, ARTIFACT_IN_REVIEW, "review", "checks passed; the route wants a decision") \
    X(ARTIFACT_CHECKING, ARTIFACT_APPROVED, "approve", "route review auto, all checks passed")      \
    X(ARTIFACT_IN_REVIEW, ARTIFACT_APPROVED, "approve", "a reviewer or the hook approved")          \
    X(ARTIFACT_IN_REVIEW, ARTIFACT_REJECTED, "reject", "a reviewer or the hook rejected")           \
    X(ARTIFACT_IN_REVIEW, ARTIFACT_EXPIRED, "expire", "no decision within the review TTL")          \
    X(ARTIFACT_IN_REVIEW, ARTIFACT_BLOCKED, "block", "a re-check with new rules or signatures found a failure") \
    X(ARTIFACT_APPROVED, ARTIFACT_PROMOTING, "promote", "copying to trusted")                       \
    X(ARTIFACT_PROMOTING, ARTIFACT_PROMOTED, "promoted", "in trusted; quarantine copy deleted")     \
    X(ARTIFACT_BLOCKED, ARTIFACT_PURGED, "purge", "quarantine copy deleted after retention")        \
    X(ARTIFACT_REJECTED, ARTIFACT_PURGED, "purge", "quarantine copy deleted after retention")       \
    X(ARTIFACT_EXPIRED, ARTIFACT_PURGED, "purge", "quarantine copy deleted after retention")        \
    X(ARTIFACT_STAGED, ARTIFACT_FAILED, "fail", "retries exhausted")                                \
    X(ARTIFACT_QUARANTINED, ARTIFACT_FAILED, "fail", "retries exhausted")                           \
    X(ARTIFACT_CHECKING, ARTIFACT_FAILED, "fail", "retries exhausted")                              \
    X(ARTIFACT_IN_REVIEW, ARTIFACT_FAILED, "fail", "retries exhausted")                             \
    X(ARTIFACT_APPROVED, ARTIFACT_FAILED, "fail", "retries exhausted or trusted key taken")         \
    X(ARTIFACT_PROMOTING, ARTIFACT_FAILED, "fail", "retries exhausted or trusted key taken")        \
    X(ARTIFACT_FAILED, ARTIFACT_QUARANTINED, "retry", "an operator retries the artifact")

/* "staged", …; "(invalid state)" for a value outside the enum (never NULL). */
const char *artifact_state_name(artifact_state state);
/* false (and *out unchanged) if the text names no state; exact, case-sensitive match */
bool artifact_state_from_name(sl_cursor name, artifact_state *out);
/* The terminal column of SL_ARTIFACT_STATES; false for a value outside the enum. */
bool artifact_state_is_terminal(artifact_state state);

/* Whether the table allows from -> to; if so, *event (may be NULL) gets its audit event.
 * Values outside the enum are never allowed. */
bool artifact_transition_allowed(artifact_state from, artifact_state to, const char **event);

/* One row of the table, for documentation and listings (from and to are artifact_states). */
typedef sl_lifecycle_row artifact_transition_info;

/* The table itself, in its written order; *count gets the number of rows. Static data. */
const artifact_transition_info *artifact_transitions(size_t *count);

/* Appends the table as Mermaid stateDiagram-v2 text (for docs/states.md): the line
 * "stateDiagram-v2", then "[*] --> staged", one "from --> to : event" per row in table
 * order, and "state --> [*]" for each terminal state in enum order; lines end in "\n" and
 * all but the first are indented by four spaces. On error (SL_ERR_OVERFLOW) out is
 * unchanged. */
SL_MUST_CHECK sl_result artifact_states_mermaid(sl_buf *out);

/* ---- ids and keys ---- */

/* 32 hex digits + NUL from the staging key and its ETag. One pair of surrounding quotes
 * is ignored, so "\"abc\"" and "abc" give the same id. Fails (SL_ERR_INVALID_ARGUMENT)
 * for an empty key, and for an ETag that is empty or holds a byte RFC 9110 (8.8.3)
 * does not allow inside an entity tag (a quote, a space or a control byte) — so the
 * 0x00 separator cannot be forged. On error out is unchanged. */
SL_MUST_CHECK sl_result artifact_id_derive(sl_cursor staging_key, sl_cursor staging_etag,
                                           char out[SL_ARTIFACT_ID_LEN + 1]);
/* The same for one version of a versioned staging bucket: SHA-256(key || 0x00 || ETag
 * || 0x00 || version id) — every version an artifact of its own, so an upload that
 * replaces a key is never mistaken for the one it replaced. An empty version id gives
 * artifact_id_derive's id. The version id must be printable ASCII without spaces. */
SL_MUST_CHECK sl_result artifact_id_derive_version(sl_cursor staging_key, sl_cursor staging_etag,
                                                   sl_cursor version_id, char out[SL_ARTIFACT_ID_LEN + 1]);

/* Each checks one part of a key against the rules above (detail: which rule). */
SL_MUST_CHECK sl_result artifact_task_id_check(sl_cursor task);
SL_MUST_CHECK sl_result artifact_route_name_check(sl_cursor route);
SL_MUST_CHECK sl_result artifact_id_check(sl_cursor artifact_id); /* 32 lower-case hex */

/* A staging key split by the route's prefix: <staging_prefix><task>/<name>. Fails
 * (SL_ERR_INVALID_ARGUMENT, detail says which rule) when the key is not under the prefix,
 * has no task segment, a task that breaks the task-id rule, or an empty name. Cursors
 * point into `key`; on error *out is unchanged. */
typedef struct staging_key_parts {
    sl_cursor task;
    sl_cursor name;
} staging_key_parts;

SL_MUST_CHECK sl_result staging_key_split(sl_cursor key, sl_cursor staging_prefix, staging_key_parts *out);

/* Appends q/<route>/<task>/<artifact-id>/<name> to out after checking every part (as
 * quarantine_key_parse does); on error out is unchanged. */
SL_MUST_CHECK sl_result quarantine_key_build(sl_buf *out, sl_cursor route, sl_cursor task, sl_cursor artifact_id,
                                             sl_cursor name);

typedef struct quarantine_key_parts {
    sl_cursor route;
    sl_cursor task;
    sl_cursor artifact_id;
    sl_cursor name;
} quarantine_key_parts;

/* Splits and checks a quarantine key: "q/" prefix, route, task, a 32 lower-case hex id,
 * then a non-empty name (the rest of the key, "/" included). Cursors point into `key`;
 * on error *out is unchanged. */
SL_MUST_CHECK sl_result quarantine_key_parse(sl_cursor key, quarantine_key_parts *out);

#endif /* SLUICE_STATE_ARTIFACT_H */
