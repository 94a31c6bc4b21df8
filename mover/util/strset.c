/*
 * strset.c — see strset.h. Slot states: empty (key NULL, !dead), live, tombstone (dead).
 */
#include "util/strset.h"

#include <stdint.h>
#include <string.h>

#include "util/alloc.h"

struct strset_slot {
    uint8_t *key;
    size_t len;
    uint64_t hash;
    uint64_t value;
    bool dead;
};

static uint64_t fnv1a(sl_cursor key)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < key.len; i++) {
        h ^= key.ptr[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct strset_slot *find(const strset *set, sl_cursor key, uint64_t hash)
{
    if (set->capacity == 0) return NULL;
    size_t mask = set->capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct strset_slot *s = &set->slots[i];
        if (s->key == NULL && !s->dead) return NULL;
        if (s->key != NULL && s->hash == hash && s->len == key.len && memcmp(s->key, key.ptr, key.len) == 0)
            return s;
    }
}

static struct strset_slot *place(strset *set, uint8_t *key, size_t len, uint64_t hash, uint64_t value)
{
    size_t mask = set->capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct strset_slot *s = &set->slots[i];
        if (s->key == NULL) {
            if (!s->dead) set->used++;
            *s = (struct strset_slot){ .key = key, .len = len, .hash = hash, .value = value };
            set->count++;
            return s;
        }
    }
}

static void rebuild(strset *set, size_t capacity)
{
    struct strset_slot *old = set->slots;
    size_t old_capacity = set->capacity;
    set->slots = sl_calloc(capacity, sizeof(*set->slots));
    set->capacity = capacity;
    set->count = 0;
    set->used = 0;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].key != NULL) (void)place(set, old[i].key, old[i].len, old[i].hash, old[i].value);
    sl_free(old);
}

bool strset_add(strset *set, sl_cursor key) { return strset_put(set, key, 0, false); }

bool strset_put(strset *set, sl_cursor key, uint64_t value, bool replace)
{
    uint64_t hash = fnv1a(key);
    struct strset_slot *found = find(set, key, hash);
    if (found != NULL) {
        if (replace) found->value = value;
        return false;
    }
    if (set->capacity == 0 || (set->used + 1) * 2 > set->capacity) {
        size_t capacity = set->capacity ? set->capacity : 16;
        while ((set->count + 1) * 2 > capacity) capacity *= 2;
        rebuild(set, capacity);
    }
    uint8_t *copy = sl_malloc(key.len + 1);
    if (key.len) memcpy(copy, key.ptr, key.len);
    copy[key.len] = 0;
    (void)place(set, copy, key.len, hash, value);
    return true;
}

bool strset_get(const strset *set, sl_cursor key, uint64_t *value)
{
    const struct strset_slot *s = find(set, key, fnv1a(key));
    if (s == NULL) return false;
    if (value != NULL) *value = s->value;
    return true;
}

void strset_each(const strset *set, strset_each_fn *fn, void *user)
{
    for (size_t i = 0; i < set->capacity; i++)
        if (set->slots[i].key != NULL)
            fn(user, sl_cursor_from_bytes(set->slots[i].key, set->slots[i].len), set->slots[i].value);
}

bool strset_contains(const strset *set, sl_cursor key) { return find(set, key, fnv1a(key)) != NULL; }

bool strset_remove(strset *set, sl_cursor key)
{
    struct strset_slot *s = find(set, key, fnv1a(key));
    if (s == NULL) return false;
    sl_free(s->key);
    s->key = NULL;
    s->dead = true;
    set->count--;
    return true;
}

void strset_clean_up(strset *set)
{
    for (size_t i = 0; i < set->capacity; i++) sl_free(set->slots[i].key);
    sl_free(set->slots);
    *set = (strset){ 0 };
}
