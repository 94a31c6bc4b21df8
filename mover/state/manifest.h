/*
 * manifest.h — the manifest of an artifact that waits or ends outside trusted:
 * <control_prefix>artifacts/<id>.json in the control bucket. It holds the artifact's
 * state, where its bytes were and are, what the checks found, and its history (every
 * transition with time, actor and detail). Stored as JSON (jansson), schema version 1:
 *
 *   {"schema":1,"id":"…","route":"…","task":"…","name":"…",
 *    "staging_key":"…","staging_etag":"\"…\"","quarantine_key":"…","quarantine_etag":"\"…\"",
 *    "size":123,"declared_type":"text/csv","detected_type":"text/plain","sha256":"…",
 *    "checked_with":"rules default.json@1a2b3c4d5e6f; yara x.yar@…; clamav ClamAV 1.4.6/…",
 *    "state":"blocked",
 *    "findings":[{"check":"type","verdict":"fail","detail":"…"}],
 *    "history":[{"time":"2026-11-27T20:00:00.123Z","from":"checking","to":"blocked",
 *                "event":"block","actor":"mover","detail":"…"}]}
 *
 * (On versioned staging "staging_version" follows "staging_etag". "checked_with" is the
 * signature and rule set the findings were last judged with: checks_set_version.) A manifest of a key
 * that names no task (rejected: the layout cannot carry it) has no "task".
 * Keys are written in exactly this order (JSON_PRESERVE_ORDER), compact. Required:
 * schema, id, route, name, state, history (written even when empty), and findings
 * is always written too; the other fields are left out while unset (a NULL string,
 * has_size false, sha256 ""), and in a history entry so is a NULL detail. `time` is
 * RFC 3339 UTC with exactly three fraction digits, 1970-01-01T00:00:00.000Z ..
 * 9999-12-31T23:59:59.999Z, and is read back to the same millisecond. `event` is not
 * stored in artifact_event: it is the table's event for from -> to, written from the
 * table and, when read, required to be exactly that.
 *
 * Strings are UTF-8 in JSON; object keys that are not valid UTF-8 cannot occur (the key
 * rules block them before a manifest is written). Unknown fields are errors when
 * parsing (a manifest is only ever written by sluice).
 *
 * What is written can be read back, and what is read obeys the same rules, because
 * artifact_manifest_to_json and artifact_manifest_from_json check one set of invariants:
 *   - id is 32 lower-case hex; route and task (when there is one) follow artifact.h's
 *     rules; name non-empty;
 *   - sha256 is "" or 64 lower-case hex; size fits in an int64; every string is UTF-8;
 *   - every history entry's from -> to is in the transitions table, entries are
 *     consecutive (entry i's to = entry i+1's from) and the last entry's to = state
 *     (an empty history allows any state); actor is non-empty; findings name a check;
 *   - quarantine_key, when set, is exactly q/<route>/<task>/<id>/<name>; staging_key,
 *     when set, ends with <task>/<name>, and with staging_etag (and staging_version) it
 *     derives id (artifact_id_derive_version) — a manifest cannot point at other bytes
 *     than its id's.
 * Limits (errors, never crashes): SL_MANIFEST_MAX_HISTORY entries, SL_MANIFEST_MAX_FINDINGS
 * findings, SL_MANIFEST_MAX_STRING bytes per string, SL_MANIFEST_MAX_JSON bytes of JSON.
 *
 * State changes go through artifact_manifest_transition, which consults the one
 * transitions table (artifact.h) and appends the history entry.
 *
 * Ownership: the manifest owns every string and array; clean up with
 * artifact_manifest_clean_up. Threading: pure data.
 */
#ifndef SLUICE_STATE_MANIFEST_H
#define SLUICE_STATE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/artifact.h"
#include "util/buf.h"
#include "util/error.h"

#define SL_MANIFEST_MAX_HISTORY 1000
#define SL_MANIFEST_MAX_FINDINGS 1000
#define SL_MANIFEST_MAX_STRING (64 * 1024)  /* bytes of one string value */
#define SL_MANIFEST_MAX_JSON (1024 * 1024)  /* bytes of a manifest document */

typedef enum finding_verdict {
    FINDING_PASS = 0,
    FINDING_FAIL,   /* blocks */
    FINDING_REVIEW, /* a person must look */
    FINDING_ERROR,  /* the check could not finish: never a pass */
} finding_verdict;

/* "pass", "fail", "review", "error"; "(invalid verdict)" outside the enum (never NULL). */
const char *finding_verdict_name(finding_verdict v);

typedef struct artifact_finding {
    char *check; /* "key", "metadata", "size", "type", "extension", "sha256", … */
    finding_verdict verdict;
    char *detail;
} artifact_finding;

typedef struct artifact_event {
    int64_t time_ms; /* Unix time in ms; written as RFC 3339 UTC with milliseconds */
    artifact_state from, to;
    char *actor;  /* "mover", a reviewer's user name, "hook" */
    char *detail; /* may be NULL */
} artifact_event;

/* A reviewer's (or the hook's) decision, on the bytes named by sha256. */
typedef struct artifact_decision {
    int64_t time_ms;
    char *reviewer;  /* OS user name, or "hook" */
    bool approve;    /* "approve" / "reject" */
    char sha256[65]; /* the artifact's SHA-256 the decision was made on */
    char *reason;    /* may be NULL */
} artifact_decision;

#define SL_MANIFEST_MAX_DECISIONS 100

typedef struct artifact_manifest {
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *route, *task, *name;
    char *staging_key, *staging_etag;
    char *staging_version; /* the version id, on versioned staging; NULL otherwise */
    char *quarantine_key, *quarantine_etag;
    bool has_size;
    uint64_t size;
    char *declared_type; /* Content-Type the uploader sent; may be NULL */
    char *detected_type; /* libmagic's MIME type; NULL until checked */
    char sha256[65];     /* "" until checked */
    char *checked_with;  /* the rule and signature set that judged it; may be NULL */
    artifact_state state;
    artifact_finding *findings;
    size_t finding_count;
    artifact_event *history;
    size_t history_count;
    artifact_decision *decisions; /* written as "decisions" when there are any */
    size_t decision_count;
} artifact_manifest;

/* Copies every non-NULL string field from the arguments into a fresh manifest in state
 * `state` with an empty history (whatever *m held is overwritten, not freed). id is
 * required (32 lower-case hex); route, task and name, when given, must follow the rules
 * above (to_json needs all three). Errors: SL_ERR_INVALID_ARGUMENT, SL_ERR_LIMIT,
 * SL_ERR_ENCODING; on error *m is zeroed (nothing to clean up). */
SL_MUST_CHECK sl_result artifact_manifest_init(artifact_manifest *m, const char *id, const char *route,
                                               const char *task, const char *name, artifact_state state);

/* Sets a string field (replacing and freeing the old value); value may be NULL, and may
 * be the field's own value. Not checked here: to_json checks the result. */
void artifact_manifest_set(char **field, const char *value);

/* Moves to `to` if the table allows it from the current state (else SL_ERR_STATE with
 * "from -> to is not an allowed transition" and nothing changes), appending the event.
 * Other errors, also with nothing changed: SL_ERR_LIMIT (history full, a string over the
 * limit), SL_ERR_INVALID_ARGUMENT (actor NULL or empty, time_ms outside the RFC 3339
 * range above), SL_ERR_ENCODING (actor or detail not UTF-8). detail may be NULL. */
SL_MUST_CHECK sl_result artifact_manifest_transition(artifact_manifest *m, artifact_state to, int64_t time_ms,
                                                     const char *actor, const char *detail);

/* Appends a finding (check non-empty; detail may be NULL). Errors, with nothing changed:
 * SL_ERR_INVALID_ARGUMENT, SL_ERR_LIMIT (findings full, a string over the limit),
 * SL_ERR_ENCODING. */
SL_MUST_CHECK sl_result artifact_manifest_add_finding(artifact_manifest *m, const char *check,
                                                      finding_verdict verdict, const char *detail);

/* Appends the manifest's JSON (compact, keys in the documented order) to out. Refuses a
 * manifest that breaks the invariants above (SL_ERR_INVALID_ARGUMENT, SL_ERR_ENCODING,
 * SL_ERR_LIMIT — also when the JSON would exceed SL_MANIFEST_MAX_JSON); the detail names
 * the field ("history[2]: ..."). On error out is unchanged. */
SL_MUST_CHECK sl_result artifact_manifest_to_json(const artifact_manifest *m, sl_buf *out);

/* Parses a manifest; strict (schema 1, required fields, known fields only, no duplicate
 * keys, no nulls, states and transitions valid, the invariants above). Errors:
 * SL_ERR_PARSE (malformed or invalid; the detail names the field or history entry),
 * SL_ERR_UNSUPPORTED (a schema other than 1), SL_ERR_LIMIT (over a limit). *out is
 * overwritten, not freed; on error it is zeroed. */
SL_MUST_CHECK sl_result artifact_manifest_from_json(sl_cursor json, artifact_manifest *out);

/* Frees everything and zeroes *m; NULL and half-built manifests are fine. */
/* Appends a decision (reviewer non-empty, sha256 64 lower-case hex digits). At most
 * SL_MANIFEST_MAX_DECISIONS; on error nothing changes. */
SL_MUST_CHECK sl_result artifact_manifest_add_decision(artifact_manifest *m, int64_t time_ms, const char *reviewer,
                                                       bool approve, const char *sha256, const char *reason);

void artifact_manifest_clean_up(artifact_manifest *m);

/* A deep copy of a valid manifest into *dst (overwritten, not freed): through its JSON,
 * so the copy obeys the same invariants. Errors as artifact_manifest_to_json; on error
 * *dst is zeroed. */
SL_MUST_CHECK sl_result artifact_manifest_copy(artifact_manifest *dst, const artifact_manifest *src);

/* Appends "<control_prefix>artifacts/<id>.json"; id must be 32 lower-case hex
 * (SL_ERR_INVALID_ARGUMENT otherwise). On error out is unchanged. */
SL_MUST_CHECK sl_result artifact_manifest_key(sl_buf *out, const char *control_prefix, const char *id);

#endif /* SLUICE_STATE_MANIFEST_H */
