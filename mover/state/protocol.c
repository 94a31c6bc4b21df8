/*
 * protocol.c — the protocol tables of protocol.h: the rows, the (row, outcome) → next
 * entries and a lookup matrix built from the same X-macros at compile time, their
 * consistency check, and the two renderings generated from them: a Mermaid flowchart for
 * docs/protocol.md and Promela for the model in tests/model/.
 */
#include "state/protocol.h"

#include <string.h>

/* ---- names ---- */

static const char *const request_names[PROTOCOL_REQUEST_COUNT] = {
#define REQUEST_NAME(e, name) [e] = name,
    SL_PROTOCOL_REQUESTS(REQUEST_NAME)
#undef REQUEST_NAME
};

static const char *const skip_names[PROTOCOL_SKIP_COUNT] = {
#define SKIP_NAME(e, name, why) [e] = name,
    SL_PROTOCOL_SKIPS(SKIP_NAME)
#undef SKIP_NAME
};

static const char *const skip_whys[PROTOCOL_SKIP_COUNT] = {
#define SKIP_WHY(e, name, why) [e] = why,
    SL_PROTOCOL_SKIPS(SKIP_WHY)
#undef SKIP_WHY
};

static const char *const outcome_names[PROTOCOL_OUTCOME_COUNT] = {
#define OUTCOME_NAME(e, name) [e] = name,
    SL_PROTOCOL_OUTCOMES(OUTCOME_NAME)
#undef OUTCOME_NAME
};

static const protocol_row_info rows[PROTOCOL_ROW_COUNT] = {
#define ROW_INFO(e, name_, state_, request_, skip_, what_) \
    [e] = { .row = e, .name = name_, .state = state_, .request = request_, .skip = skip_, .what = what_ },
    SL_PROTOCOL_ROWS(ROW_INFO)
#undef ROW_INFO
};

/* ---- the next table ---- */

enum next_index {
#define NEXT_INDEX(row, outcome, next, verdict, why) NEXT_##row##_##outcome,
    SL_PROTOCOL_NEXT(NEXT_INDEX)
#undef NEXT_INDEX
        NEXT_COUNT
};

_Static_assert(NEXT_COUNT < 65535, "the lookup matrix stores index + 1 in a uint16_t");

static const protocol_next_info nexts[NEXT_COUNT] = {
#define NEXT_ROW(row_, outcome_, next_, verdict_, why_) \
    [NEXT_##row_##_##outcome_] = { .row = row_, .outcome = outcome_, .next = next_, .verdict = verdict_, .why = why_ },
    SL_PROTOCOL_NEXT(NEXT_ROW)
#undef NEXT_ROW
};

static const uint16_t matrix[PROTOCOL_ROW_COUNT][PROTOCOL_OUTCOME_COUNT] = {
#define NEXT_CELL(row, outcome, next, verdict, why) [row][outcome] = NEXT_##row##_##outcome + 1,
    SL_PROTOCOL_NEXT(NEXT_CELL)
#undef NEXT_CELL
};

const protocol_row_info *protocol_row_get(protocol_row row)
{
    return (unsigned)row < PROTOCOL_ROW_COUNT ? &rows[row] : NULL;
}

const protocol_row_info *protocol_rows(size_t *count)
{
    *count = PROTOCOL_ROW_COUNT;
    return rows;
}

const protocol_next_info *protocol_nexts(size_t *count)
{
    *count = NEXT_COUNT;
    return nexts;
}

bool protocol_next(protocol_row row, protocol_outcome outcome, const protocol_next_info **info)
{
    if ((unsigned)row >= PROTOCOL_ROW_COUNT || (unsigned)outcome >= PROTOCOL_OUTCOME_COUNT) return false;
    uint16_t cell = matrix[row][outcome];
    if (cell == 0) return false;
    *info = &nexts[cell - 1];
    return true;
}

const char *protocol_row_name(int row)
{
    if (row >= 0 && row < (int)PROTOCOL_ROW_COUNT) return rows[row].name;
    switch (row) {
    case END_DONE: return "DONE";
    case END_LEAVE: return "LEAVE";
    case END_DROP: return "DROP";
    case RETRY: return "RETRY";
    default: return "(invalid row)";
    }
}

const char *protocol_outcome_name(protocol_outcome o)
{
    return (unsigned)o < PROTOCOL_OUTCOME_COUNT ? outcome_names[o] : "(invalid outcome)";
}

const char *protocol_request_name(protocol_request r)
{
    return (unsigned)r < PROTOCOL_REQUEST_COUNT ? request_names[r] : "(invalid request)";
}

const char *protocol_skip_name(protocol_skip s) { return (unsigned)s < PROTOCOL_SKIP_COUNT ? skip_names[s] : "?"; }
const char *protocol_skip_why(protocol_skip s) { return (unsigned)s < PROTOCOL_SKIP_COUNT ? skip_whys[s] : "?"; }

/* ---- consistency ---- */

/* The outcomes a row must have an entry for: what its request can answer, plus SKIPPED
 * when it can be skipped. */
static bool outcome_possible(const protocol_row_info *r, protocol_outcome o)
{
    if (o == OUT_SKIPPED) return r->skip != SKIP_NEVER;
    switch (r->request) {
    case REQ_NONE:
        if (r->row == ROW_GATE) return o == OUT_APPROVE || o == OUT_REVIEW || o == OUT_BLOCK;
        return o == OUT_OK;
    case REQ_TASK_ADMIT:
        return o == OUT_OK || o == OUT_REJECT || o == OUT_INDEFINITE;
    case REQ_GET_MANIFEST:
        if (r->row == ROW_SWEEP_MANIFEST)
            return o == OUT_ABSENT || o == OUT_OURS || o == OUT_DECIDED || o == OUT_RETRIED || o == OUT_IN_REVIEW_DUE ||
                   o == OUT_RETENTION_OVER || o == OUT_WAITING || o == OUT_UNRECORDED || o == OUT_INDEFINITE || o == OUT_REFUSED ||
                   o == OUT_EXHAUSTED;
        if (r->row == ROW_PARK_MANIFEST_LOOK)
            return o == OUT_OURS || o == OUT_CONFLICT || o == OUT_ABSENT || o == OUT_INDEFINITE || o == OUT_REFUSED ||
                   o == OUT_EXHAUSTED;
        return o == OUT_OURS || o == OUT_ABSENT || o == OUT_INDEFINITE || o == OUT_REFUSED || o == OUT_EXHAUSTED;
    case REQ_HEAD_TRUSTED:
        return o == OUT_OURS || o == OUT_ABSENT || o == OUT_CONFLICT || o == OUT_INDEFINITE || o == OUT_REFUSED ||
               o == OUT_EXHAUSTED;
    case REQ_HEAD_QUARANTINE:
    case REQ_COPY_TO_QUARANTINE:
    case REQ_COPY_TO_TRUSTED:
        return o == OUT_OK || o == OUT_ABSENT || o == OUT_CONFLICT || o == OUT_INDEFINITE || o == OUT_REFUSED ||
               o == OUT_EXHAUSTED;
    case REQ_GET_SOURCE:
        return o == OUT_OK || o == OUT_ABSENT || o == OUT_INDEFINITE || o == OUT_REFUSED || o == OUT_EXHAUSTED;
    case REQ_DELETE_STAGING:
    case REQ_DELETE_SOURCE:
        return o == OUT_OK || o == OUT_ABSENT || o == OUT_CONFLICT || o == OUT_INDEFINITE || o == OUT_REFUSED ||
               o == OUT_EXHAUSTED;
    case REQ_DELETE_QUARANTINE:
        return o == OUT_OK || o == OUT_ABSENT || o == OUT_INDEFINITE || o == OUT_REFUSED || o == OUT_EXHAUSTED;
    case REQ_PUT_MANIFEST:
        return o == OUT_OK || o == OUT_CONFLICT || o == OUT_INDEFINITE || o == OUT_REFUSED || o == OUT_EXHAUSTED;
    default:
        return false;
    }
}

sl_result protocol_check_tables(void)
{
    bool reached[PROTOCOL_ROW_COUNT] = { false };
    reached[PROTOCOL_ENTRY_NEW] = reached[PROTOCOL_ENTRY_SEEN] = reached[PROTOCOL_ENTRY_SWEEP] = true;
    for (size_t i = 0; i < NEXT_COUNT; i++) {
        const protocol_next_info *n = &nexts[i];
        ENSURE(n->next >= 0 && n->next < PROTOCOL_NEXT_COUNT, SL_ERR_STATE, "%s/%s leads nowhere",
               rows[n->row].name, outcome_names[n->outcome]);
        ENSURE(outcome_possible(&rows[n->row], n->outcome), SL_ERR_STATE,
               "%s/%s: the row's request cannot give that outcome", rows[n->row].name, outcome_names[n->outcome]);
        ENSURE(n->verdict == V_NONE || n->next == ROW_PARK_COPY, SL_ERR_STATE,
               "%s/%s gives a verdict but does not lead into the park rows", rows[n->row].name,
               outcome_names[n->outcome]);
        ENSURE(n->next != ROW_PARK_COPY || n->verdict != V_NONE || n->row == ROW_PARK_LOOK, SL_ERR_STATE,
               "%s/%s leads into the park rows without a verdict", rows[n->row].name, outcome_names[n->outcome]);
        ENSURE(n->next != RETRY || matrix[n->row][OUT_EXHAUSTED] != 0, SL_ERR_STATE,
               "%s retries but says nothing of an exhausted budget", rows[n->row].name);
        if (n->next < (int)PROTOCOL_ROW_COUNT) reached[n->next] = true;
    }
    for (int r = 0; r < (int)PROTOCOL_ROW_COUNT; r++) {
        ENSURE(reached[r], SL_ERR_STATE, "row %s is never reached", rows[r].name);
        for (int o = 0; o < (int)PROTOCOL_OUTCOME_COUNT; o++)
            ENSURE(!outcome_possible(&rows[r], (protocol_outcome)o) || matrix[r][o] != 0, SL_ERR_STATE,
                   "row %s says nothing of outcome %s", rows[r].name, outcome_names[o]);
    }
    return SL_SUCCESS;
}

/* ---- renderings ---- */

static const char *end_node(int next)
{
    switch (next) {
    case END_DONE: return "DONE([settled])";
    case END_LEAVE: return "LEAVE([left where its bytes are])";
    case END_DROP: return "DROP([nothing to account for])";
    default: return NULL;
    }
}

sl_result protocol_mermaid(sl_buf *out)
{
    sl_buf text = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "flowchart TD\n"));
    GUARD_CLEANUP(sl_buf_appendf(&text, "    new([new version]) --> %s\n", rows[PROTOCOL_ENTRY_NEW].name));
    GUARD_CLEANUP(sl_buf_appendf(&text, "    seen([version seen before]) --> %s\n", rows[PROTOCOL_ENTRY_SEEN].name));
    GUARD_CLEANUP(sl_buf_appendf(&text, "    sweep([quarantine copy]) --> %s\n", rows[PROTOCOL_ENTRY_SWEEP].name));
    for (size_t i = 0; i < PROTOCOL_ROW_COUNT; i++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "    %s[\"%s<br/>%s\"]\n", rows[i].name, rows[i].name,
                                     request_names[rows[i].request]));
    for (size_t i = 0; i < NEXT_COUNT; i++) {
        const protocol_next_info *n = &nexts[i];
        if (n->next == RETRY) continue; /* drawn as the row's own note: every RETRY loops back */
        const char *to = n->next < (int)PROTOCOL_ROW_COUNT ? rows[n->next].name : end_node(n->next);
        GUARD_CLEANUP(sl_buf_appendf(&text, "    %s -->|%s| %s\n", rows[n->row].name, outcome_names[n->outcome], to));
    }
    GUARD_CLEANUP(sl_buf_append_cursor(out, sl_cursor_from_buf(&text)));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&text);
    return result;
}

sl_result protocol_promela(sl_buf *out)
{
    sl_buf text = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "/* Generated from mover/state/protocol.h: do not edit. */\n"));
    for (size_t i = 0; i < PROTOCOL_ROW_COUNT; i++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "#define R_%s %zu\n", rows[i].name, i));
    GUARD_CLEANUP(sl_buf_appendf(&text, "#define R_DONE %d\n#define R_LEAVE %d\n#define R_DROP %d\n#define R_RETRY %d\n",
                                 END_DONE, END_LEAVE, END_DROP, RETRY));
    GUARD_CLEANUP(sl_buf_appendf(&text, "#define ROW_COUNT %d\n", (int)PROTOCOL_ROW_COUNT));
    for (size_t i = 0; i < PROTOCOL_OUTCOME_COUNT; i++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "#define O_%s %zu\n", outcome_names[i], i));
    GUARD_CLEANUP(sl_buf_appendf(&text, "#define OUTCOME_COUNT %d\n", (int)PROTOCOL_OUTCOME_COUNT));
    /* the enumerators without their REQ_ / SKIP_ prefixes */
#define REQUEST_DEFINE(e, name) GUARD_CLEANUP(sl_buf_appendf(&text, "#define Q_%s %d\n", &(#e)[4], (int)e));
    SL_PROTOCOL_REQUESTS(REQUEST_DEFINE)
#undef REQUEST_DEFINE
#define SKIP_DEFINE(e, name, why) GUARD_CLEANUP(sl_buf_appendf(&text, "#define S_%s %d\n", &(#e)[5], (int)e));
    SL_PROTOCOL_SKIPS(SKIP_DEFINE)
#undef SKIP_DEFINE
    GUARD_CLEANUP(sl_buf_appendf(&text, "#define ST_KEEP %d\n#define ST_VERDICT %d\n#define V_NONE %d\n", STATE_KEEP,
                                 STATE_VERDICT, V_NONE));
    for (int s = 0; s < ARTIFACT_STATE_COUNT; s++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "#define A_%s %d\n", artifact_state_name((artifact_state)s), s));
    /* the terminal column of the states, as a bitmask */
    unsigned terminal = 0;
    for (int s = 0; s < ARTIFACT_STATE_COUNT; s++)
        if (artifact_state_is_terminal((artifact_state)s)) terminal |= 1u << s;
    GUARD_CLEANUP(sl_buf_appendf(&text, "#define A_TERMINAL_MASK %u\n", terminal));
    /* the lifecycle's transitions table (state/artifact.h): record_move refuses the rest */
    size_t transition_count;
    const artifact_transition_info *transitions = artifact_transitions(&transition_count);
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "\ninline transition_allowed(from, to, ok) {\n    if\n"));
    for (size_t i = 0; i < transition_count; i++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "    :: from == A_%s && to == A_%s -> ok = true\n",
                                     artifact_state_name(transitions[i].from), artifact_state_name(transitions[i].to)));
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "    :: else -> ok = false\n    fi\n}\n"));
    /* rows: request, skip and state, as inline lookups */
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "\ninline row_info(row, req, skp, st) {\n    if\n"));
    for (size_t i = 0; i < PROTOCOL_ROW_COUNT; i++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "    :: row == R_%s -> req = %d; skp = %d; st = %d\n", rows[i].name,
                                     (int)rows[i].request, (int)rows[i].skip, rows[i].state));
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "    fi\n}\n"));
    /* next: (row, outcome) -> next, verdict */
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "\ninline protocol_next(row, outcome, nxt, verdict) {\n    if\n"));
    for (size_t i = 0; i < NEXT_COUNT; i++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "    :: row == R_%s && outcome == O_%s -> nxt = %d; verdict = %d\n",
                                     rows[nexts[i].row].name, outcome_names[nexts[i].outcome], nexts[i].next,
                                     nexts[i].verdict));
    GUARD_CLEANUP(sl_buf_append_cstr(&text, "    :: else -> nxt = R_LEAVE; verdict = V_NONE; table_gap = true\n    fi\n}\n"));
    GUARD_CLEANUP(sl_buf_append_cursor(out, sl_cursor_from_buf(&text)));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&text);
    return result;
}
