/*
 * json_read.h — strict reading (and bounded writing) of JSON documents sluice itself
 * writes (manifests, task manifests): a member is required or optional, null is never a value, unknown fields
 * are errors, strings are bounded and hold no NUL. Every error is SL_ERR_PARSE (or
 * SL_ERR_LIMIT) with `where` — the member's path — first in the detail, and untrusted
 * names are shown cut and with control bytes as '?'. Threading: pure.
 */
#ifndef SLUICE_UTIL_JSON_READ_H
#define SLUICE_UTIL_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/error.h"

/* An untrusted text for a detail: at most 64 bytes ("..." after), control bytes as '?'. */
void sl_json_printable(const char *s, char out[68]);

/* Every member of object is one of known[]; else "<where>: unknown field \"x\"". */
SL_MUST_CHECK sl_result sl_json_check_known(json_t *object, const char *const *known, size_t count,
                                            const char *where);

/* The member `key` (*out NULL if absent and not required); "<where>: missing", "null is not allowed". */
SL_MUST_CHECK sl_result sl_json_member(json_t *object, const char *key, bool required, const char *where,
                                       json_t **out);

/* A string member of at most `max` bytes without NUL, copied into *out (NULL if absent
 * and not required; free with sl_free). */
SL_MUST_CHECK sl_result sl_json_read_text(json_t *object, const char *key, bool required, size_t max,
                                          const char *where, char **out);

/* Appends root as compact JSON, keys in insertion order, to out — at most `max` bytes.
 * Over the limit: SL_ERR_LIMIT "<what>: the JSON would exceed <max> bytes"; on any error
 * out is as it was before the call. */
SL_MUST_CHECK sl_result sl_json_dump_bounded(json_t *root, size_t max, const char *what, sl_buf *out);

#endif /* SLUICE_UTIL_JSON_READ_H */
