/*
 * line.h — the text of one audit record line, written straight into a buffer (private to
 * mover/audit/; audit.h describes the format). The bytes are exactly those jansson wrote
 * for the same record as one object dumped with JSON_COMPACT | JSON_PRESERVE_ORDER |
 * JSON_ENSURE_ASCII — the lines of logs written before stay the lines a verifier and a
 * reader see — without building a JSON object per record: only the detail, which callers
 * hand in as an object, is dumped by jansson.
 *
 * Threading: pure; safe on any thread.
 */
#ifndef SLUICE_AUDIT_LINE_H
#define SLUICE_AUDIT_LINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/error.h"

/* The top-level fields of one line, in the order they are written. artifact, from, to
 * may be NULL (left out); event, actor, time and prev are required and non-empty. The
 * texts are written as given: cutting long ones (bounds.h) is the caller's. */
typedef struct audit_line_fields {
    uint64_t seq;
    const char *time;
    const char *event;
    const char *artifact;
    const char *from;
    const char *to;
    const char *actor;
    json_t *detail; /* an object, or NULL */
    const char *prev;
} audit_line_fields;

/* Appends `text` as a JSON string as jansson writes it with JSON_ENSURE_ASCII: `"` and
 * `\` escaped, control characters as \b \f \n \r \t or \u00XX, every code point above
 * U+007F as \uXXXX (upper-case hex; a UTF-16 surrogate pair above U+FFFF). Errors:
 * SL_ERR_INVALID_ARGUMENT (`text` is not UTF-8 by RFC 3629: `what` names it),
 * SL_ERR_OVERFLOW from the buffer. */
SL_MUST_CHECK sl_result audit_line_append_text(sl_buf *out, const char *what, const char *text);

/* Replaces out with the line of `fields` (no newline). Errors: SL_ERR_INVALID_ARGUMENT
 * (a required field missing or empty, a text not UTF-8, a detail that is not an object
 * or cannot be encoded), and the buffer's. */
SL_MUST_CHECK sl_result audit_line_build(const audit_line_fields *fields, sl_buf *out);

#endif /* SLUICE_AUDIT_LINE_H */
