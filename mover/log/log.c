/*
 * log.c — formats a line into a stack buffer (long lines are cut with "…") and writes
 * it with one write(2), so lines from different threads never interleave.
 */
#include "log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/timefmt.h"

static sl_log_level min_level = SL_LOG_INFO;
static bool as_json;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void sl_log_configure(sl_log_level level, bool json)
{
    min_level = level;
    as_json = json;
}

bool sl_log_enabled(sl_log_level level) { return level >= min_level; }

struct line {
    char text[4096];
    size_t len;
    bool cut;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->text) - 8 - l->len; /* keep space for "…\n" */
    if (n > room) {
        n = room;
        l->cut = true;
    }
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s) { put(l, s, strlen(s)); }

static void put_escaped(struct line *l, const char *s, bool json)
{
    char esc[8];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            int n = snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x", *p);
            put(l, esc, (size_t)n);
        } else {
            put(l, (const char *)p, 1);
        }
    }
}

static bool needs_quotes(const char *s)
{
    if (*s == '\0') return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f) return true;
    return false;
}

void sl_log(sl_log_level level, const char *event, ...)
{
    if (level < min_level) return;
    struct line l = { .len = 0 };
    char when[SL_TIME_TEXT_LEN + 1];
    if (!sl_time_format(sl_time_now_ms(), when)) snprintf(when, sizeof(when), "1970-01-01T00:00:00.000Z");
    const char *lvl = level_names[level <= SL_LOG_ERROR ? level : SL_LOG_ERROR];

    if (as_json) {
        puts_(&l, "{\"time\":\"");
        puts_(&l, when);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, lvl);
        puts_(&l, "\",\"event\":\"");
        put_escaped(&l, event, true);
        puts_(&l, "\"");
    } else {
        puts_(&l, when);
        puts_(&l, " ");
        puts_(&l, lvl);
        puts_(&l, " ");
        put_escaped(&l, event, false);
    }
    va_list ap;
    va_start(ap, event);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL) break;
        const char *value = va_arg(ap, const char *);
        if (value == NULL) value = "";
        if (as_json) {
            puts_(&l, ",\"");
            put_escaped(&l, key, true);
            puts_(&l, "\":\"");
            put_escaped(&l, value, true);
            puts_(&l, "\"");
        } else {
            puts_(&l, " ");
            puts_(&l, key);
            puts_(&l, "=");
            if (needs_quotes(value)) {
                puts_(&l, "\"");
                put_escaped(&l, value, false);
                puts_(&l, "\"");
            } else {
                puts_(&l, value);
            }
        }
    }
    va_end(ap);
    if (l.cut) {
        memcpy(l.text + l.len, "\xe2\x80\xa6", 3);
        l.len += 3;
    }
    if (as_json) l.text[l.len++] = '}';
    l.text[l.len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, l.text, l.len);
    (void)ignored;
}
