/*
 * magic.c — libmagic for the content checker (checks.h): a pool of handles, because a
 * libmagic handle is not thread-safe and detection runs on the thread pool.
 */
#include "checks/checks.h"

#include <magic.h>
#include <pthread.h>
#include <stdio.h>

#include "util/alloc.h"

/* libmagic handles are not thread-safe: a small pool of them, one per pool thread that
 * needs one at the same moment, handed out under a mutex held only to take or give one
 * back — the (slow, for text) magic_buffer calls run in parallel. */
#define MAGIC_HANDLES 128 /* made on demand: never more than the pool threads */

struct checks_magic {
    pthread_mutex_t lock;
    magic_t free[MAGIC_HANDLES];
    size_t free_count;
    size_t made;
};

static magic_t magic_make(char *err, size_t err_size)
{
    magic_t cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS);
    if (cookie == NULL) {
        snprintf(err, err_size, "magic_open failed");
        return NULL;
    }
    if (magic_load(cookie, NULL) != 0) {
        snprintf(err, err_size, "libmagic cannot load its database: %s",
                 magic_error(cookie) ? magic_error(cookie) : "unknown error");
        magic_close(cookie);
        return NULL;
    }
    return cookie;
}

sl_result checks_magic_new(checks_magic **out)
{
    char err[256];
    magic_t first = magic_make(err, sizeof(err));
    ENSURE(first != NULL, SL_ERR_UNSUPPORTED, "%s", err);
    checks_magic *m = sl_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->free[m->free_count++] = first;
    m->made = 1;
    *out = m;
    return SL_SUCCESS;
}

void checks_magic_destroy(checks_magic *m)
{
    if (m == NULL) return;
    for (size_t i = 0; i < m->free_count; i++) magic_close(m->free[i]);
    pthread_mutex_destroy(&m->lock);
    sl_free(m);
}

sl_result checks_magic_detect(checks_magic *m, const uint8_t *data, size_t len, char *out, size_t out_size)
{
    magic_t cookie = NULL;
    bool make = false;
    pthread_mutex_lock(&m->lock);
    if (m->free_count > 0) cookie = m->free[--m->free_count];
    else if (m->made < MAGIC_HANDLES) make = true, m->made++;
    pthread_mutex_unlock(&m->lock);
    char err[256] = "all libmagic handles are busy";
    if (make && (cookie = magic_make(err, sizeof(err))) == NULL) {
        pthread_mutex_lock(&m->lock);
        m->made--;
        pthread_mutex_unlock(&m->lock);
    }
    ENSURE(cookie != NULL, SL_ERR_UNSUPPORTED, "libmagic: %s", err); /* more pool threads than handles */
    const char *type = magic_buffer(cookie, data, len);
    sl_result result = SL_SUCCESS;
    if (type == NULL) {
        const char *why = magic_error(cookie);
        snprintf(out, out_size, "%s", why ? why : "unknown error");
        result = sl_error_raise(SL_ERR_IO, __FILE__, __LINE__, "libmagic: %s", out);
    } else {
        snprintf(out, out_size, "%s", type);
    }
    pthread_mutex_lock(&m->lock);
    m->free[m->free_count++] = cookie;
    pthread_mutex_unlock(&m->lock);
    return result;
}

