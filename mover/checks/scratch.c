/*
 * scratch.c — Vectorscan scratch spaces for the pool threads (checks_impl.h). A scratch
 * space may be used by one scan at a time; the pool hands one out under a mutex held
 * only to take or give it back, cloning the prototype when none is free, so scans run
 * in parallel. One prototype fits every database of a route (hs_alloc_scratch grows it).
 */
#include "checks/checks_impl.h"

#include <pthread.h>

#include "util/alloc.h"

#define SCRATCH_MAX 128 /* never more than the pool threads */

struct scratch_pool {
    pthread_mutex_t lock;
    hs_scratch_t *proto;
    hs_scratch_t *free[SCRATCH_MAX];
    size_t free_count;
    size_t made;
};

sl_result scratch_pool_new(hs_database_t *const *dbs, size_t count, scratch_pool **out)
{
    hs_scratch_t *proto = NULL;
    for (size_t i = 0; i < count; i++) {
        if (dbs[i] == NULL) continue;
        if (hs_alloc_scratch(dbs[i], &proto) != HS_SUCCESS) {
            if (proto != NULL) hs_free_scratch(proto);
            RAISE(SL_ERR_UNSUPPORTED, "Vectorscan could not allocate its scratch space");
        }
    }
    ENSURE(proto != NULL, SL_ERR_INVALID_ARGUMENT, "a scratch pool needs a database");
    scratch_pool *p = sl_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->proto = proto;
    *out = p;
    return SL_SUCCESS;
}

void scratch_pool_destroy(scratch_pool *p)
{
    if (p == NULL) return;
    for (size_t i = 0; i < p->free_count; i++) hs_free_scratch(p->free[i]);
    hs_free_scratch(p->proto);
    pthread_mutex_destroy(&p->lock);
    sl_free(p);
}

sl_result scratch_take(scratch_pool *p, hs_scratch_t **out)
{
    hs_scratch_t *s = NULL;
    bool make = false;
    pthread_mutex_lock(&p->lock);
    if (p->free_count > 0) s = p->free[--p->free_count];
    else if (p->made < SCRATCH_MAX) make = true, p->made++;
    pthread_mutex_unlock(&p->lock);
    if (make && hs_clone_scratch(p->proto, &s) != HS_SUCCESS) {
        s = NULL;
        pthread_mutex_lock(&p->lock);
        p->made--;
        pthread_mutex_unlock(&p->lock);
    }
    ENSURE(s != NULL, SL_ERR_LIMIT, "no Vectorscan scratch space is free");
    *out = s;
    return SL_SUCCESS;
}

void scratch_give(scratch_pool *p, hs_scratch_t *s)
{
    if (s == NULL) return;
    pthread_mutex_lock(&p->lock);
    p->free[p->free_count++] = s;
    pthread_mutex_unlock(&p->lock);
}
