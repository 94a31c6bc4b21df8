/*
 * gen_common.h — what the document generators (gen_states_doc.c, gen_protocol.c,
 * gen_config_doc.c) share:
 * comparing generated text with the file on disk, naming the first line that differs.
 */
#ifndef SLUICE_TESTS_GEN_COMMON_H
#define SLUICE_TESTS_GEN_COMMON_H

#include "util/buf.h"

/* 0 when the file at `path` holds exactly `generated`; else 1, after telling on stderr
 * which line differs first and that `regenerate` makes it current again. */
int gen_check_file(const sl_buf *generated, const char *path, const char *source, const char *regenerate);

/* Appends text for a Markdown table cell: "|" escaped, so it can never split a row. */
SL_MUST_CHECK sl_result gen_append_cell(sl_buf *out, const char *text);

#endif /* SLUICE_TESTS_GEN_COMMON_H */
