/*
 * toml.h — a TOML 1.0 reader for the configurations `rules import-gitleaks` converts
 * (no Debian package offers a C TOML parser). It reads the document into a jansson
 * tree: tables and arrays of tables become objects and arrays, strings (basic,
 * literal, multi-line), integers, floats, booleans, arrays and inline tables their
 * JSON counterparts. Dates and times are refused (gitleaks does not use them).
 *
 * Strict: a key defined twice, a table defined twice, a value where a table is, bad
 * escapes, invalid UTF-8, control characters in strings and nesting deeper than 64
 * are errors, reported as "LINE:COLUMN: what". Threading: pure.
 */
#ifndef SLUICE_CHECKS_TOML_H
#define SLUICE_CHECKS_TOML_H

#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

#define TOML_MAX_BYTES ((size_t)4 * 1024 * 1024)

/* Parses `len` bytes. On success *out is a new object (json_decref it); on error
 * (SL_ERR_PARSE) *out is NULL and `why` holds "LINE:COLUMN: what". */
SL_MUST_CHECK sl_result toml_parse(const char *text, size_t len, json_t **out, char *why, size_t why_size);

#endif /* SLUICE_CHECKS_TOML_H */
