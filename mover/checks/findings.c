/*
 * findings.c — the list of findings every check adds to (checks.h): append with a
 * printf-style detail, the worst verdict, "all passed". A finding's detail is written
 * by the check that made it and never holds what a rule found (see redact.c).
 */
#include "checks/checks.h"

#include <stdarg.h>

#include "util/alloc.h"

sl_result findings_add(findings *f, const char *check, finding_verdict verdict, const char *fmt, ...)
{
    sl_buf detail = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sl_result r = sl_buf_vappendf(&detail, fmt, ap);
    va_end(ap);
    if (sl_failed(r)) {
        sl_buf_clean_up(&detail);
        return r;
    }
    f->items = sl_realloc(f->items, (f->count + 1) * sizeof(*f->items));
    f->items[f->count++] = (artifact_finding){ .check = sl_strdup(check), .verdict = verdict,
                                               .detail = sl_buf_steal(&detail) };
    return SL_SUCCESS;
}

bool findings_all_pass(const findings *f)
{
    if (f->count == 0) return false;
    for (size_t i = 0; i < f->count; i++)
        if (f->items[i].verdict != FINDING_PASS) return false;
    return true;
}

finding_verdict findings_worst(const findings *f)
{
    static const int rank[] = { [FINDING_PASS] = 0, [FINDING_REVIEW] = 1, [FINDING_FAIL] = 2, [FINDING_ERROR] = 3 };
    finding_verdict worst = FINDING_PASS;
    for (size_t i = 0; i < f->count; i++)
        if (rank[f->items[i].verdict] > rank[worst]) worst = f->items[i].verdict;
    return worst;
}

void findings_clean_up(findings *f)
{
    for (size_t i = 0; i < f->count; i++) {
        sl_free(f->items[i].check);
        sl_free(f->items[i].detail);
    }
    sl_free(f->items);
    *f = (findings){ 0 };
}

