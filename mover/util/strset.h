/*
 * strset.h — a set of byte strings (open addressing, linear probing, FNV-1a), for the
 * keys and ids the pipeline has in flight. Grows at 50 % load; deletions use
 * tombstones and the table is rebuilt when they pile up. Owns copies of its strings.
 * Threading: none.
 */
#ifndef SLUICE_UTIL_STRSET_H
#define SLUICE_UTIL_STRSET_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

typedef struct strset {
    struct strset_slot *slots;
    size_t capacity; /* power of two, or 0 */
    size_t count;    /* live entries */
    size_t used;     /* live + tombstones */
} strset;

/* true if added, false if it was already there */
bool strset_add(strset *set, sl_cursor key);
bool strset_contains(const strset *set, sl_cursor key);
/* true if it was there */
bool strset_remove(strset *set, sl_cursor key);
void strset_clean_up(strset *set);

#endif /* SLUICE_UTIL_STRSET_H */
