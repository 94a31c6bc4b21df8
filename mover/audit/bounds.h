/*
 * bounds.h — what the audit log keeps of a record, so that no input can make a record
 * unwritable (private to mover/audit/; audit.h states the rule for callers).
 *
 * A text longer than AUDIT_MAX_TEXT bytes — a top-level field, or any string value
 * anywhere in the detail — is kept as its first AUDIT_MAX_TEXT bytes, cut at a UTF-8 character
 * boundary, followed by " [cut: N bytes, sha256 H]" (N the original length, H the
 * SHA-256 of the original bytes), so a reader can still tell which text it was. A
 * detail that is too large even then (very many strings) is replaced as a whole by
 * {"cut":{"bytes":N,"sha256":H}} of its compact JSON. With the top-level fields cut
 * too (five texts of at most AUDIT_MAX_TEXT bytes, six bytes each once escaped), every
 * line fits in AUDIT_MAX_LINE.
 *
 * Threading: pure.
 */
#ifndef SLUICE_AUDIT_BOUNDS_H
#define SLUICE_AUDIT_BOUNDS_H

#include <jansson.h>

#include "util/buf.h"
#include "util/error.h"

/* `text` as the log keeps it: NULL when it is short enough (use it as it is), else a
 * new string to free with sl_free. */
char *audit_bound_text(const char *text);

/* `detail` (a JSON object, borrowed) with every string cut to its bound: a new
 * reference — `detail` itself when nothing needed cutting, else a deep copy. NULL only
 * when memory for the copy could not be had. */
json_t *audit_bound_strings(json_t *detail);

/* The stand-in for a detail too large to keep: {"cut":{"bytes":N,"sha256":H}} of the
 * detail's compact JSON. Errors: SL_ERR_INVALID_ARGUMENT (cannot encode),
 * SL_ERR_CRYPTO. */
SL_MUST_CHECK sl_result audit_cut_detail(json_t *detail, json_t **out);

#endif /* SLUICE_AUDIT_BOUNDS_H */
