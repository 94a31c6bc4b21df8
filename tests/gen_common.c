/*
 * gen_common.c — see gen_common.h.
 */
#include "gen_common.h"

#include <stdio.h>

sl_result gen_append_cell(sl_buf *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '|') GUARD(sl_buf_append_byte(out, '\\'));
        GUARD(sl_buf_append_byte(out, (uint8_t)*p));
    }
    return SL_SUCCESS;
}

/* The 1-based line number where a and b first differ, and that line of each. */
static size_t first_difference(sl_cursor a, sl_cursor b, sl_cursor *line_a, sl_cursor *line_b)
{
    size_t line = 1;
    sl_cursor la, lb;
    for (;;) {
        bool more_a = sl_cursor_next_token(&a, '\n', &la);
        bool more_b = sl_cursor_next_token(&b, '\n', &lb);
        if (!more_a) la = sl_cursor_from_cstr("(end of text)");
        if (!more_b) lb = sl_cursor_from_cstr("(end of file)");
        if (!more_a || !more_b || !sl_cursor_eq(la, lb)) break;
        line++;
    }
    *line_a = la;
    *line_b = lb;
    return line;
}

int gen_check_file(const sl_buf *generated, const char *path, const char *source, const char *regenerate)
{
    sl_buf file = { 0 };
    char text[600];
    if (sl_failed(sl_buf_read_file(&file, path, 4 * 1024 * 1024))) {
        fprintf(stderr, "%s: %s\nCreate it: run `%s`.\n", path, sl_error_describe(text, sizeof(text)), regenerate);
        return 1;
    }
    int status = 0;
    if (!sl_cursor_eq(sl_cursor_from_buf(generated), sl_cursor_from_buf(&file))) {
        sl_cursor want, have;
        size_t line = first_difference(sl_cursor_from_buf(generated), sl_cursor_from_buf(&file), &want, &have);
        fprintf(stderr,
                "%s is out of date: it no longer matches %s.\n"
                "First difference at line %zu:\n  generated: %.*s\n  in file:   %.*s\n"
                "Run `%s` and commit the result.\n",
                path, source, line, (int)want.len, (const char *)want.ptr, (int)have.len, (const char *)have.ptr,
                regenerate);
        status = 1;
    }
    sl_buf_clean_up(&file);
    return status;
}
