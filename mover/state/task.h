/*
 * task.h — the task lifecycle: its states, the ONE table of allowed task transitions,
 * task ids, the rules for the names and name patterns a task allows, and the task
 * manifest kept in the control prefix (<control_prefix>tasks/<id>.json).
 *
 * A task is what an orchestrator opens for one interpreter run: a route, a TTL and
 * optional limits, and the upload grants signed for it (mover/tasks/tasks.h builds those
 * and keeps tasks on the loop; this module is pure data, like state/artifact.h and
 * state/manifest.h for artifacts).
 *
 * States and transitions: every task is born `open` (audit event TASK_EVENT_OPEN) and
 * changes state only along SL_TASK_TRANSITIONS below — task_transition_allowed() answers
 * from a matrix generated from the same X-macro, and task_manifest_transition() refuses
 * anything else. `closed` means an orchestrator closed it: objects uploaded after the
 * close are rejected, but its grants still verify at S3 until the TTL. `expired` means
 * the TTL has passed: the grants are dead at S3 too. A closed task still expires (so
 * "expired" always means "nothing can arrive any more"); `expired` is terminal.
 * docs/tasks.md shows the diagram task_states_mermaid() draws from the table (the unit
 * test task_doc_diagram_current keeps the two equal).
 *
 * Ids: 16 random bytes (RAND_bytes) as unpadded base64url, 22 characters of
 * [A-Za-z0-9_-], which is also artifact.h's task-id rule. An id that would begin with "-"
 * is drawn again, so no id can be mistaken for a command-line option.
 *
 * Names (task_name_check): what a grant may name under <staging_prefix><task>/ — 1 to
 * SL_TASK_MAX_NAME bytes of UTF-8 without control bytes (0x00-0x1f, 0x7f), "/"-separated
 * segments that are neither empty nor "." or ".." (so no leading, trailing or doubled
 * "/"). The pipeline's key checks apply on top.
 *
 * Name patterns (task_pattern_check / task_pattern_match), a small glob over names:
 *   *      any run of characters without "/"       ("*.csv" matches "a.csv", not "d/a.csv")
 *   **     any run of characters, "/" included     ("out/" then "**" matches "out/x/y.json")
 *   ?      one character (one UTF-8 sequence) other than "/"
 *   \c     the character c itself ("\*" is a literal star)
 * anything else matches itself. Three or more "*" in a row and a trailing lone "\" are
 * errors. Matching is a dynamic programme over (pattern token, name byte): at most
 * SL_TASK_MAX_PATTERN x SL_TASK_MAX_NAME steps, whatever the input — no backtracking.
 *
 * The manifest, JSON (jansson), schema 1, keys written in exactly this order, compact:
 *
 *   {"schema":1,"id":"…","route":"reports","opened_by":"orchestrator",
 *    "opened_at":"2026-11-27T20:00:00.000Z","expires_at":"2026-11-27T20:30:00.000Z",
 *    "state":"closed","closed_at":"…","closed_by":"orchestrator",
 *    "limits":{"max_objects":10,"max_bytes":10485760,
 *              "keys":[{"name":"out.csv"},{"name":"plot.png","size":2048}],"name_pattern":"*.json"},
 *    "accepted":["3f2a9c0d11e4b7a0", …],
 *    "history":[{"time":"…","from":"open","to":"closed","event":"task_close",
 *                "actor":"orchestrator","detail":"…"}]}
 *
 * Required: schema, id, route, opened_by, opened_at, expires_at, state, limits (with
 * max_bytes), history (written even when empty). closed_at and closed_by are written
 * exactly when the task was closed (history holds open -> closed); in limits,
 * max_objects, keys and name_pattern only when set; `accepted` only when max_objects is
 * set: it holds one fingerprint per object the task admitted (task_fingerprint), so
 * admitting the same object again is recognised and the count survives restarts.
 * Times are RFC 3339 UTC with exactly three fraction digits, as in manifest.h.
 *
 * Invariants, checked by both task_manifest_to_json and task_manifest_from_json (so what
 * is written can be read back and what is read obeys the same rules):
 *   - id follows the task-id rule; route the route-name rule; opened_by non-empty;
 *   - opened_at < expires_at <= opened_at + 7 days (SigV4's longest presign);
 *   - history: every from -> to in the table, consecutive, starting from open, the last
 *     `to` equal to state (an empty history means state open); each entry's time within
 *     [opened_at, 9999]; actor non-empty; `event` is the table's event (not stored in
 *     task_event: written from the table, and when read required to be exactly that);
 *   - closed_at/closed_by are set iff history holds open -> closed, and then equal that
 *     entry's time and actor;
 *   - limits: max_bytes >= 1; max_objects 1..SL_TASK_MAX_OBJECTS; at most
 *     SL_TASK_MAX_KEYS keys, each a valid name, no name twice, a size (if any) at most
 *     max_bytes; name_pattern valid; accepted: lower-case 16-hex fingerprints, no
 *     duplicates, at most max_objects of them, and none without max_objects.
 * Unknown fields, duplicate keys and nulls are parse errors. Limits (errors, never
 * crashes): SL_TASK_MAX_HISTORY entries, SL_TASK_MAX_STRING bytes per string,
 * SL_TASK_MAX_JSON bytes of JSON.
 *
 * Errors: SL_ERR_INVALID_ARGUMENT with a detail naming the part and the rule (a bad byte
 * shown as hex, never echoed); manifests as described at each function. On error,
 * outputs are unchanged unless said otherwise.
 * Threading: pure functions and data; safe on any thread (task_id_generate uses
 * OpenSSL's thread-safe RAND_bytes).
 */
#ifndef SLUICE_STATE_TASK_H
#define SLUICE_STATE_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/lifecycle.h"
#include "util/buf.h"
#include "util/error.h"

#define SL_TASK_ID_LEN 22            /* base64url of 16 bytes, no padding */
#define SL_TASK_MAX_NAME 1024        /* bytes of a name under the task prefix */
#define SL_TASK_MAX_PATTERN 256      /* bytes of a name pattern */
#define SL_TASK_MAX_KEYS 1000        /* named keys (presigned PUT URLs) per task */
#define SL_TASK_MAX_OBJECTS 10000    /* the largest max_objects */
#define SL_TASK_MAX_HISTORY 16
#define SL_TASK_MAX_STRING 4096      /* bytes of one string value other than names */
#define SL_TASK_MAX_JSON (1024 * 1024)
#define SL_TASK_MAX_TTL_MS (7LL * 24 * 3600 * 1000) /* SigV4: 604800 s */
#define SL_TASK_FINGERPRINT_LEN 16   /* hex digits */

/* The audit event of a task's creation (it is not a transition: there is no "from"). */
#define TASK_EVENT_OPEN "task_open"

/* X(ENUM, "name", terminal) */
#define SL_TASK_STATES(X)                                                      \
    X(TASK_OPEN, "open", false)                                                \
    X(TASK_CLOSED, "closed", false)                                            \
    X(TASK_EXPIRED, "expired", true)

typedef enum task_state {
#define SL_TASK_STATE_ENUM(e, name, terminal) e,
    SL_TASK_STATES(SL_TASK_STATE_ENUM)
#undef SL_TASK_STATE_ENUM
    TASK_STATE_COUNT
} task_state;

/* X(FROM, TO, "audit event", "why") — every allowed change, nothing else. */
#define SL_TASK_TRANSITIONS(X)                                                                              \
    X(TASK_OPEN, TASK_CLOSED, "task_close", "an orchestrator closed it: later uploads are rejected")        \
    X(TASK_OPEN, TASK_EXPIRED, "task_expire", "its TTL passed while open: the grants are dead at S3")      \
    X(TASK_CLOSED, TASK_EXPIRED, "task_expire", "its TTL passed after the close: the grants are dead at S3")

/* "open", …; "(invalid state)" outside the enum (never NULL). */
const char *task_state_name(task_state state);
/* false (and *out unchanged) if the text names no state; exact, case-sensitive. */
bool task_state_from_name(sl_cursor name, task_state *out);
/* The terminal column; false outside the enum. */
bool task_state_is_terminal(task_state state);
/* Whether the table allows from -> to; if so *event (may be NULL) gets its audit event. */
bool task_transition_allowed(task_state from, task_state to, const char **event);

/* One row of the table (from and to are task_states); lifecycle.h. */
typedef sl_lifecycle_row task_transition_info;

/* The table in its written order (static data); *count gets the number of rows. */
const task_transition_info *task_transitions(size_t *count);

/* Appends the table as Mermaid stateDiagram-v2 text: "stateDiagram-v2", "[*] --> open",
 * one "from --> to : event" per row in table order, "state --> [*]" per terminal state;
 * every line but the first indented by four spaces, each ending in "\n". On error
 * (SL_ERR_OVERFLOW) out is unchanged. */
SL_MUST_CHECK sl_result task_states_mermaid(sl_buf *out);

/* ---- ids, names, patterns, fingerprints ---- */

/* A fresh id (22 characters + NUL) from RAND_bytes. SL_ERR_CRYPTO if the generator
 * fails (out unchanged). */
SL_MUST_CHECK sl_result task_id_generate(char out[SL_TASK_ID_LEN + 1]);

/* The name rule above. */
SL_MUST_CHECK sl_result task_name_check(sl_cursor name);

/* The pattern syntax above (1..SL_TASK_MAX_PATTERN bytes, UTF-8, no control bytes). */
SL_MUST_CHECK sl_result task_pattern_check(sl_cursor pattern);

/* Whether `name` matches `pattern`; false for a pattern that fails task_pattern_check
 * or a name over SL_TASK_MAX_NAME bytes. */
bool task_pattern_match(sl_cursor pattern, sl_cursor name);

/* The first 64 bits of SHA-256(name || 0x00 || decimal modified_ms || 0x00 || decimal
 * size) as 16 lower-case hex digits: one upload of one name (S3 sets LastModified, so a
 * new upload under the same name gets a new fingerprint, while listing the same object
 * again gives the same one). SL_ERR_CRYPTO if OpenSSL fails (out unchanged). */
SL_MUST_CHECK sl_result task_fingerprint(sl_cursor name, int64_t modified_ms, uint64_t size,
                                         char out[SL_TASK_FINGERPRINT_LEN + 1]);

/* ---- times ---- */

/* Times are written and read with util/timefmt.h (RFC 3339 UTC, milliseconds). */

/* ---- the manifest ---- */

typedef struct task_key {
    char *name;
    bool has_size; /* the PUT URL was signed with this exact Content-Length */
    uint64_t size;
} task_key;

typedef struct task_limits {
    uint32_t max_objects;  /* 0 = no limit on the count */
    uint64_t max_bytes;    /* per object; always set (the route's checks.max_bytes by default) */
    task_key *keys;        /* names given PUT URLs; with keys or a pattern, only matching names are allowed */
    size_t key_count;
    char *name_pattern;    /* NULL = none */
} task_limits;

typedef struct task_event {
    int64_t time_ms;
    task_state from, to;
    char *actor;
    char *detail; /* may be NULL */
} task_event;

typedef struct task_manifest {
    char *id;
    char *route;
    char *opened_by;
    int64_t opened_at_ms;
    int64_t expires_at_ms;
    task_state state;
    bool closed;            /* closed_at / closed_by are set */
    int64_t closed_at_ms;
    char *closed_by;
    task_limits limits;
    char **accepted;        /* fingerprints of admitted objects (only with max_objects) */
    size_t accepted_count;
    task_event *history;
    size_t history_count;
} task_manifest;

/* A fresh open task (whatever *m held is overwritten, not freed): the strings copied,
 * limits empty with max_bytes set, no history. Checks id, route, opened_by and the
 * times (the rules above); SL_ERR_INVALID_ARGUMENT otherwise, and then *m is zeroed. */
SL_MUST_CHECK sl_result task_manifest_init(task_manifest *m, const char *id, const char *route,
                                           const char *opened_by, int64_t opened_at_ms, int64_t expires_at_ms,
                                           uint64_t max_bytes);

/* Appends a named key (checked: name rule, not a duplicate, size <= max_bytes, at most
 * SL_TASK_MAX_KEYS). SL_ERR_INVALID_ARGUMENT / SL_ERR_LIMIT; nothing changes on error. */
SL_MUST_CHECK sl_result task_manifest_add_key(task_manifest *m, const char *name, bool has_size, uint64_t size);

/* Sets the name pattern (checked) — replacing an earlier one. Nothing changes on error. */
SL_MUST_CHECK sl_result task_manifest_set_pattern(task_manifest *m, const char *pattern);

/* Moves to `to` if the table allows it from the current state (else SL_ERR_STATE and
 * nothing changes), appending the history entry; open -> closed also sets closed_at
 * and closed_by. Other errors, with nothing changed: SL_ERR_LIMIT (history full),
 * SL_ERR_INVALID_ARGUMENT (empty actor, time before opened_at or after 9999),
 * SL_ERR_ENCODING (actor or detail not UTF-8). detail may be NULL. */
SL_MUST_CHECK sl_result task_manifest_transition(task_manifest *m, task_state to, int64_t time_ms,
                                                 const char *actor, const char *detail);

/* Whether the fingerprint is in `accepted`. */
bool task_manifest_has_accepted(const task_manifest *m, const char *fingerprint);
/* Appends a fingerprint (16 lower-case hex); SL_ERR_STATE without max_objects,
 * SL_ERR_LIMIT when max_objects are already accepted, SL_ERR_INVALID_ARGUMENT for a bad
 * or duplicate fingerprint. Nothing changes on error. */
SL_MUST_CHECK sl_result task_manifest_add_accepted(task_manifest *m, const char *fingerprint);
/* Removes the last `n` fingerprints (undoing add_accepted); n is capped at the count. */
void task_manifest_drop_accepted(task_manifest *m, size_t n);

/* Whether `name` is allowed by the limits: true when there are neither keys nor a
 * pattern; otherwise when it is one of the keys or matches the pattern. */
bool task_manifest_name_allowed(const task_manifest *m, sl_cursor name);
/* The key entry for `name`, or NULL. */
const task_key *task_manifest_find_key(const task_manifest *m, sl_cursor name);

/* Appends the manifest's JSON (compact, the documented order). Refuses a manifest that
 * breaks an invariant (SL_ERR_INVALID_ARGUMENT, SL_ERR_ENCODING, SL_ERR_LIMIT; the detail
 * names the field). On error out is unchanged. */
SL_MUST_CHECK sl_result task_manifest_to_json(const task_manifest *m, sl_buf *out);

/* Parses a manifest strictly. Errors: SL_ERR_PARSE (malformed or invalid; the detail
 * names the field), SL_ERR_UNSUPPORTED (schema other than 1), SL_ERR_LIMIT. *out is
 * overwritten, not freed; on error it is zeroed. */
SL_MUST_CHECK sl_result task_manifest_from_json(sl_cursor json, task_manifest *out);

/* A deep copy (into *out, overwritten). */
void task_manifest_copy(const task_manifest *m, task_manifest *out);

/* Frees everything and zeroes *m; NULL and half-built manifests are fine. */
void task_manifest_clean_up(task_manifest *m);

/* Appends "<control_prefix>tasks/<id>.json" (id checked by the task-id rule). */
SL_MUST_CHECK sl_result task_manifest_key(sl_buf *out, const char *control_prefix, const char *id);

#endif /* SLUICE_STATE_TASK_H */
