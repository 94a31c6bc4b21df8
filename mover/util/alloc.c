/*
 * alloc.c — allocation that aborts on exhaustion (the policy is written in alloc.h).
 */
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes; aborting\n", size);
    abort();
}

void *sl_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL) out_of_memory(size);
    return p;
}

void *sl_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) out_of_memory(count * size);
    return p;
}

void *sl_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL) out_of_memory(size);
    return p;
}

char *sl_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = sl_malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *sl_strdup(const char *s) { return sl_strndup(s, strlen(s)); }

char *sl_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return sl_strdup("");
    char *s = sl_malloc((size_t)n + 1);
    va_start(ap, fmt);
    (void)vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void sl_free(void *ptr) { free(ptr); }
