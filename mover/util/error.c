/*
 * error.c — the thread-local last error behind error.h, and the code table's texts.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct last_error {
    sl_error code;
    char location[96];
    char detail[512];
};

static _Thread_local struct last_error last;

static const char *const names[] = {
#define SL_ERROR_NAME(name, text) #name,
    SL_ERROR_LIST(SL_ERROR_NAME)
#undef SL_ERROR_NAME
};

static const char *const messages[] = {
#define SL_ERROR_TEXT(name, text) text,
    SL_ERROR_LIST(SL_ERROR_TEXT)
#undef SL_ERROR_TEXT
};

sl_result sl_error_raise(sl_error code, const char *file, int line, const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    last.code = code;
    snprintf(last.location, sizeof(last.location), "%s:%d", base ? base + 1 : file, line);
    last.detail[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last.detail, sizeof(last.detail), fmt, ap);
        va_end(ap);
    }
    return SL_FAILURE;
}

sl_error sl_error_last(void) { return last.code; }
const char *sl_error_detail(void) { return last.detail; }
const char *sl_error_location(void) { return last.location; }

void sl_error_clear(void)
{
    last.code = SL_OK;
    last.location[0] = '\0';
    last.detail[0] = '\0';
}

const char *sl_error_name(sl_error code)
{
    if ((unsigned)code >= SL_ERROR_COUNT) return "unknown error";
    return names[code];
}

const char *sl_error_message(sl_error code)
{
    if ((unsigned)code >= SL_ERROR_COUNT) return "unknown error";
    return messages[code];
}

const char *sl_error_describe(char *buf, unsigned long size)
{
    if (size == 0) return buf;
    if (last.detail[0] != '\0')
        snprintf(buf, size, "%s: %s", sl_error_message(last.code), last.detail);
    else
        snprintf(buf, size, "%s", sl_error_message(last.code));
    return buf;
}
