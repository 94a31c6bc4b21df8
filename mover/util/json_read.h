/*
 * json_read.h — strict reading and bounded writing of the JSON documents sluice itself
 * writes (artifact and task manifests), shared by their codecs: a member is required or
 * optional, null is never a value, unknown fields are errors, strings are bounded, UTF-8
 * and hold no NUL. Every error is SL_ERR_PARSE (or SL_ERR_LIMIT, SL_ERR_ENCODING) with
 * `where` — the member's path — first in the detail, and untrusted names are shown cut
 * and with control bytes as '?'. Writing fails with SL_ERR_LIMIT when jansson cannot
 * allocate, naming `what` (the document). Threading: pure.
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

/* An array member of at most `max` entries (*out NULL if absent and not required). */
SL_MUST_CHECK sl_result sl_json_read_array(json_t *object, const char *key, bool required, size_t max,
                                           const char *where, json_t **out);

/* A text value of a document: NULL is fine unless required (then `code`, "missing"); at
 * most `max` bytes (SL_ERR_LIMIT); non-empty when required (`code`); UTF-8
 * (SL_ERR_ENCODING). */
SL_MUST_CHECK sl_result sl_json_check_text(const char *s, bool required, size_t max, sl_error code,
                                           const char *where);

/* Raises the current error again as `code`, with "<where>: " before its detail. */
SL_MUST_CHECK sl_result sl_json_reraise(sl_error code, const char *where);

/* Adds `value` (stolen; NULL, a failed allocation, is an error) under `key`. */
SL_MUST_CHECK sl_result sl_json_put(json_t *object, const char *key, json_t *value, const char *what);

/* Adds the string `value` under `key`; nothing when value is NULL. */
SL_MUST_CHECK sl_result sl_json_put_text(json_t *object, const char *key, const char *value, const char *what);

/* Appends `value` (stolen; NULL is an error) to `array`. */
SL_MUST_CHECK sl_result sl_json_append(json_t *array, json_t *value, const char *what);

/* Appends root as compact JSON, keys in insertion order, to out — at most `max` bytes.
 * Over the limit: SL_ERR_LIMIT "<what>: the JSON would exceed <max> bytes"; on any error
 * out is as it was before the call. */
SL_MUST_CHECK sl_result sl_json_dump_bounded(json_t *root, size_t max, const char *what, sl_buf *out);

#endif /* SLUICE_UTIL_JSON_READ_H */
