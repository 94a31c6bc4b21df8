/*
 * config_doc.h — the configuration reference, written from the loader's schema tables
 * (config/config_impl.h), so the documentation cannot drift from what the loader
 * accepts.
 *
 * A document (docs/configuration.md, docs/man/sluice.json.5) is hand-written prose with
 * generated blocks in it, one per section of the file ("top", "s3", "credentials",
 * "routes[]", "routes[].checks", ...):
 *
 *   Markdown:  <!-- generated: s3 -->          roff:  .\" generated: s3
 *              ...the key table...                    ...one .TP entry per key...
 *              <!-- end generated: s3 -->              .\" end generated: s3
 *
 * sl_config_doc_update rewrites the inside of every block and insists that each section
 * has exactly one block, so a new section cannot go undocumented. sl_config_doc_keys
 * lists every key of the file with a regular expression for code that reads it (the
 * config_keys_read test greps the sources with it).
 *
 * Errors: SL_ERR_PARSE for a document whose markers are wrong (the detail names the
 * line), SL_ERR_INVALID_ARGUMENT for a table row the generator cannot document (no
 * `doc`, unbalanced markup, a character roff cannot write; the detail names the key).
 * On error `out` holds a partial result: discard it.
 * Threading: reentrant; no global state.
 */
#ifndef SLUICE_CONFIG_DOC_H
#define SLUICE_CONFIG_DOC_H

#include "util/buf.h"
#include "util/error.h"

typedef enum sl_config_doc_format {
    SL_CONFIG_DOC_MARKDOWN, /* GitHub Markdown tables */
    SL_CONFIG_DOC_ROFF,     /* man(7) .TP paragraphs */
} sl_config_doc_format;

/* Appends the generated content of one section (without its markers) to `out`.
 * SL_ERR_NOT_FOUND for a name that is not a section. */
SL_MUST_CHECK sl_result sl_config_doc_section(const char *section, sl_config_doc_format format, sl_buf *out);

/* Appends `text` to `out` with every generated block's content replaced. */
SL_MUST_CHECK sl_result sl_config_doc_update(sl_cursor text, sl_config_doc_format format, sl_buf *out);

/* Appends `text`, written in the rows' Markdown subset (`code`, **bold**, [text](#a);
 * ASCII and — – ≤ ≥ ² ³ × →), as a Markdown table cell ("|" escaped) or as one line of
 * roff (fonts, escapes, "\&" in front of a leading "." or "'", a final newline).
 * SL_ERR_INVALID_ARGUMENT for unbalanced markup, control characters or other
 * characters; the detail names `what`. */
SL_MUST_CHECK sl_result sl_config_doc_text(const char *text, sl_config_doc_format format, const char *what,
                                           sl_buf *out);

/* Appends one line per key of the file — "<path>\t<member>\t<regex>\n", in table
 * order: "s3.max_in_flight\ts3.max_in_flight\t\bs3[[:space:]]*(\.|->)..." — where
 * <path> is the key in the file ("routes[].checks.max_bytes"), <member> the C member it
 * is stored in, and <regex> a POSIX extended regular expression (with \b) that matches
 * code reading it. Objects are not listed; their keys are. */
SL_MUST_CHECK sl_result sl_config_doc_keys(sl_buf *out);

#endif /* SLUICE_CONFIG_DOC_H */
