/*
 * redact.c — excerpts of what a rule found that never give it away (checks_impl.h):
 * findings, manifests, the audit log, log lines and API answers only ever carry these.
 */
#include "checks/checks_impl.h"

static sl_result append_printable(sl_buf *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) GUARD(sl_buf_append_byte(out, p[i] >= 0x21 && p[i] < 0x7f ? p[i] : '?'));
    return SL_SUCCESS;
}

sl_result redact_excerpt(sl_cursor secret, sl_buf *out)
{
    size_t keep = secret.len >= 20 ? 4 : secret.len >= 12 ? 2 : 0;
    GUARD(append_printable(out, secret.ptr, keep));
    GUARD(sl_buf_append_cstr(out, "\xe2\x80\xa6")); /* … */
    return append_printable(out, secret.ptr + secret.len - keep, keep);
}
