/*
 * strset.h — a set of byte strings (open addressing, linear probing, FNV-1a), for the
 * keys and ids the pipeline has in flight; each entry carries a 64-bit value, so it
 * serves as a map too (id -> the poll generation it ended in). Grows at 50 % load; deletions use
 * tombstones and the table is rebuilt when they pile up. Owns copies of its strings.
 * Threading: none.
 */
#ifndef SLUICE_UTIL_STRSET_H
#define SLUICE_UTIL_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct strset {
    struct strset_slot *slots;
    size_t capacity; /* power of two, or 0 */
    size_t count;    /* live entries */
    size_t used;     /* live + tombstones */
} strset;

/* true if added, false if it was already there */
bool strset_add(strset *set, sl_cursor key);
/* Adds key with value (true), or, if it is there, replaces its value when `replace`
 * (false either way). */
bool strset_put(strset *set, sl_cursor key, uint64_t value, bool replace);
/* true and *value (may be NULL) if key is there */
bool strset_get(const strset *set, sl_cursor key, uint64_t *value);
/* Calls fn for every entry (do not change the set from fn). */
typedef void strset_each_fn(void *user, sl_cursor key, uint64_t value);
void strset_each(const strset *set, strset_each_fn *fn, void *user);
bool strset_contains(const strset *set, sl_cursor key);
/* true if it was there */
bool strset_remove(strset *set, sl_cursor key);
void strset_clean_up(strset *set);

#endif /* SLUICE_UTIL_STRSET_H */
