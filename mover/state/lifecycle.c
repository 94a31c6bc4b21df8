/*
 * lifecycle.c — the shared state-table functions of lifecycle.h.
 */
#include "state/lifecycle.h"

static bool valid(const sl_lifecycle *lc, int state) { return state >= 0 && (size_t)state < lc->state_count; }

const char *sl_lifecycle_state_name(const sl_lifecycle *lc, int state)
{
    return valid(lc, state) ? lc->state_names[state] : "(invalid state)";
}

bool sl_lifecycle_state_from_name(const sl_lifecycle *lc, sl_cursor name, int *out)
{
    for (size_t s = 0; s < lc->state_count; s++) {
        if (sl_cursor_eq_cstr(name, lc->state_names[s])) {
            *out = (int)s;
            return true;
        }
    }
    return false;
}

bool sl_lifecycle_is_terminal(const sl_lifecycle *lc, int state) { return valid(lc, state) && lc->terminal[state]; }

bool sl_lifecycle_allowed(const sl_lifecycle *lc, int from, int to, const char **event)
{
    if (!valid(lc, from) || !valid(lc, to)) return false;
    uint8_t cell = lc->matrix[(size_t)from * lc->state_count + (size_t)to];
    if (cell == 0) return false;
    if (event != NULL) *event = lc->rows[cell - 1].event;
    return true;
}

sl_result sl_lifecycle_mermaid(const sl_lifecycle *lc, sl_buf *out)
{
    sl_buf text = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(sl_buf_appendf(&text, "stateDiagram-v2\n    [*] --> %s\n", lc->state_names[lc->initial]));
    for (size_t i = 0; i < lc->row_count; i++)
        GUARD_CLEANUP(sl_buf_appendf(&text, "    %s --> %s : %s\n", lc->state_names[lc->rows[i].from],
                                     lc->state_names[lc->rows[i].to], lc->rows[i].event));
    for (size_t s = 0; s < lc->state_count; s++)
        if (lc->terminal[s]) GUARD_CLEANUP(sl_buf_appendf(&text, "    %s --> [*]\n", lc->state_names[s]));
    GUARD_CLEANUP(sl_buf_append_cursor(out, sl_cursor_from_buf(&text)));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&text);
    return result;
}
