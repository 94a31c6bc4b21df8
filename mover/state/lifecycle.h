/*
 * lifecycle.h — the machinery every state table of sluice shares (artifacts in
 * artifact.h, tasks in task.h): state names and their terminal column, the ONE table of
 * allowed transitions with the audit event each is recorded as, a lookup matrix built
 * from the same X-macros at compile time, and the Mermaid diagram the docs show.
 *
 * A module declares its states and transitions as X-macros —
 *   #define SL_X_STATES(X)      X(ENUM, "name", terminal) ...
 *   #define SL_X_TRANSITIONS(X) X(FROM, TO, "audit event", "why") ...
 * — and, in its .c file, SL_LIFECYCLE_DEFINE(lifecycle, SL_X_STATES, SL_X_TRANSITIONS,
 * X_STATE_COUNT, INITIAL) makes `static const sl_lifecycle lifecycle` from them: there
 * is no second list anywhere. A transition written twice declares the same enumerator
 * twice and cannot compile.
 *
 * Threading: constant tables and pure functions; safe on any thread.
 */
#ifndef SLUICE_STATE_LIFECYCLE_H
#define SLUICE_STATE_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

/* One allowed transition. */
typedef struct sl_lifecycle_row {
    int from, to;
    const char *event; /* the audit event it is recorded as */
    const char *why;   /* when it happens */
} sl_lifecycle_row;

typedef struct sl_lifecycle {
    size_t state_count;
    const char *const *state_names;
    const bool *terminal;
    int initial;
    const sl_lifecycle_row *rows;
    size_t row_count;
    const uint8_t *matrix; /* [from * state_count + to] = row index + 1, 0 = not allowed */
} sl_lifecycle;

/* The state's name; "(invalid state)" outside the table (never NULL). */
const char *sl_lifecycle_state_name(const sl_lifecycle *lc, int state);
/* false (and *out unchanged) when the text names no state; exact, case-sensitive. */
bool sl_lifecycle_state_from_name(const sl_lifecycle *lc, sl_cursor name, int *out);
/* The terminal column; false outside the table. */
bool sl_lifecycle_is_terminal(const sl_lifecycle *lc, int state);
/* Whether from -> to is allowed; if so *event (may be NULL) gets its audit event. States
 * outside the table are never allowed. */
bool sl_lifecycle_allowed(const sl_lifecycle *lc, int from, int to, const char **event);
/* Appends the table as Mermaid stateDiagram-v2: "stateDiagram-v2", "[*] --> <initial>",
 * one "from --> to : event" per row in table order, "state --> [*]" per terminal state;
 * every line but the first indented by four spaces, each ending in "\n". On error
 * (SL_ERR_OVERFLOW) out is unchanged. */
SL_MUST_CHECK sl_result sl_lifecycle_mermaid(const sl_lifecycle *lc, sl_buf *out);

/* Defines `static const sl_lifecycle NAME` from a module's X-macros (in its .c file). */
#define SL_LIFECYCLE_DEFINE(NAME, STATES, TRANSITIONS, STATE_COUNT, INITIAL)                                  \
    static const char *const NAME##_state_names[STATE_COUNT] = {                                             \
        STATES(SL_LIFECYCLE_STATE_NAME_)                                                                     \
    };                                                                                                       \
    static const bool NAME##_terminal[STATE_COUNT] = { STATES(SL_LIFECYCLE_STATE_TERMINAL_) };               \
    enum NAME##_row_index { TRANSITIONS(SL_LIFECYCLE_ROW_INDEX_) NAME##_ROW_COUNT };                         \
    _Static_assert(NAME##_ROW_COUNT < 255, "the lookup matrix stores index + 1 in a uint8_t");               \
    static const sl_lifecycle_row NAME##_rows[NAME##_ROW_COUNT] = { TRANSITIONS(SL_LIFECYCLE_ROW_) };       \
    static const uint8_t NAME##_matrix[STATE_COUNT][STATE_COUNT] = { TRANSITIONS(SL_LIFECYCLE_CELL_) };     \
    static const sl_lifecycle NAME = {                                                                       \
        .state_count = STATE_COUNT,                                                                          \
        .state_names = NAME##_state_names,                                                                   \
        .terminal = NAME##_terminal,                                                                         \
        .initial = INITIAL,                                                                                  \
        .rows = NAME##_rows,                                                                                 \
        .row_count = NAME##_ROW_COUNT,                                                                       \
        .matrix = &NAME##_matrix[0][0],                                                                      \
    }

#define SL_LIFECYCLE_STATE_NAME_(e, name, terminal) [e] = name,
#define SL_LIFECYCLE_STATE_TERMINAL_(e, name, terminal) [e] = terminal,
#define SL_LIFECYCLE_ROW_INDEX_(from, to, event, why) SL_LIFECYCLE_ROW_##from##_##to,
#define SL_LIFECYCLE_ROW_(from_, to_, event_, why_) \
    [SL_LIFECYCLE_ROW_##from_##_##to_] = { .from = from_, .to = to_, .event = event_, .why = why_ },
#define SL_LIFECYCLE_CELL_(from, to, event, why) [from][to] = SL_LIFECYCLE_ROW_##from##_##to + 1,

#endif /* SLUICE_STATE_LIFECYCLE_H */
