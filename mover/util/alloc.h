/*
 * alloc.h — the one allocator of sluice and its out-of-memory policy.
 *
 * Policy: running out of memory aborts the process with a message on stderr. Every
 * step of the mover is idempotent and resumable from the place of the bytes in S3, so
 * a crash loses nothing, while limping on after a failed allocation could leave a step
 * half-done in memory. Callers therefore never check these for NULL (as in Redis's
 * zmalloc). Size arithmetic goes through the checked helpers, which report overflow
 * instead of wrapping.
 *
 * Threading: all functions are safe on any thread.
 */
#ifndef SLUICE_UTIL_ALLOC_H
#define SLUICE_UTIL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Never return NULL (a zero size is treated as 1). */
void *sl_malloc(size_t size);
void *sl_calloc(size_t count, size_t size);
void *sl_realloc(void *ptr, size_t size);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);
/* A formatted string of any length (vsnprintf sized; an encoding error gives ""). */
char *sl_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sl_free(void *ptr);

/* Checked size arithmetic: return false (and leave *out unchanged) on overflow. */
static inline bool sl_add_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

static inline bool sl_mul_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

#endif /* SLUICE_UTIL_ALLOC_H */
