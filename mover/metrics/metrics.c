/*
 * metrics.c — the registry and the exposition writer (contract: metrics.h).
 *
 * How the parts fit: the registry keeps its families in a list under its mutex; each
 * family keeps its series (pointers that never move) under its own mutex. A series'
 * numbers are C11 atomics: a counter is a uint64_t; a gauge and a histogram's sum are
 * doubles stored as their bits and changed with compare-and-swap; a histogram's buckets
 * hold per-bucket counts, summed into the cumulative `_bucket` lines when written, so
 * `_count` always equals the "+Inf" bucket even while observations race with a scrape.
 * Label values are copied with bytes that are not UTF-8 replaced, and escaped only when
 * written.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define DROPPED_NAME "sluice_metrics_series_dropped_total"
#define MAX_COLLECTORS 16

struct metrics_series {
    metrics_family *family;
    char *values[METRICS_MAX_LABELS];
    _Atomic uint64_t value;    /* counter: the count; gauge: double bits; histogram: the sum's bits */
    _Atomic uint64_t *buckets; /* histogram: bound_count + 1 per-bucket counts (the last is +Inf) */
};

struct metrics_family {
    metrics_registry *registry;
    metrics_type type;
    char *name;
    char *help;
    char *labels[METRICS_MAX_LABELS];
    size_t label_count;
    double *bounds;
    size_t bound_count;
    pthread_mutex_t lock;
    metrics_series **series;
    size_t series_count, series_capacity;
};

struct collector {
    metrics_collect_fn *collect;
    void *user;
};

struct metrics_registry {
    pthread_mutex_t lock;
    metrics_family **families;
    size_t family_count, family_capacity;
    struct collector collectors[MAX_COLLECTORS];
    size_t collector_count;
    metrics_series *dropped; /* sluice_metrics_series_dropped_total */
};

/* ---------------------------------------------------------------------------------- */
/* Names and text                                                                      */
/* ---------------------------------------------------------------------------------- */

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
    if (c == ':') return colon;
    return !first && c >= '0' && c <= '9';
}

static bool valid_name(const char *s, bool colon)
{
    if (s == NULL || s[0] == '\0') return false;
    for (size_t i = 0; s[i]; i++)
        if (!name_char(s[i], i == 0, colon)) return false;
    return true;
}

/* The length of the UTF-8 sequence at s (at most `len` bytes), 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (n == 0 || n > len) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F))) return 0; /* overlong, surrogates */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))) return 0; /* overlong, > U+10FFFF */
    return n;
}

/* A copy of `s` with every byte that does not start a valid UTF-8 sequence as "?". */
static char *utf8_copy(const char *s)
{
    size_t len = strlen(s);
    char *out = sl_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence((const unsigned char *)s + i, len - i);
        if (n == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* Escapes "\" and newline (and '"' when `quote`), as the format wants. */
static sl_result append_escaped(sl_buf *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            GUARD(sl_buf_append_cstr(out, "\\\\"));
        else if (*s == '\n')
            GUARD(sl_buf_append_cstr(out, "\\n"));
        else if (*s == '"' && quote)
            GUARD(sl_buf_append_cstr(out, "\\\""));
        else
            GUARD(sl_buf_append_byte(out, (uint8_t)*s));
    }
    return SL_SUCCESS;
}

sl_result metrics_format_value(double value, sl_buf *out)
{
    if (isnan(value)) return sl_buf_append_cstr(out, "NaN");
    if (isinf(value)) return sl_buf_append_cstr(out, value > 0 ? "+Inf" : "-Inf");
    if (value == floor(value) && fabs(value) < 1e15) return sl_buf_appendf(out, "%.0f", value);
    char text[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, value);
        if (strtod(text, NULL) == value) break;
    }
    return sl_buf_append_cstr(out, text);
}

/* ---------------------------------------------------------------------------------- */
/* Atomics on doubles                                                                  */
/* ---------------------------------------------------------------------------------- */

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double double_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *target, double delta)
{
    uint64_t old = atomic_load_explicit(target, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(target, &old, bits_of(double_of(old) + delta), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* ---------------------------------------------------------------------------------- */
/* Registry and families                                                               */
/* ---------------------------------------------------------------------------------- */

static void family_free(metrics_family *f)
{
    if (f == NULL) return;
    for (size_t i = 0; i < f->series_count; i++) {
        metrics_series *s = f->series[i];
        for (size_t k = 0; k < f->label_count; k++) sl_free(s->values[k]);
        sl_free(s->buckets);
        sl_free(s);
    }
    sl_free(f->series);
    for (size_t k = 0; k < f->label_count; k++) sl_free(f->labels[k]);
    sl_free(f->bounds);
    sl_free(f->name);
    sl_free(f->help);
    pthread_mutex_destroy(&f->lock);
    sl_free(f);
}

sl_result metrics_registry_new(metrics_registry **out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "metrics: no result pointer");
    metrics_registry *r = sl_calloc(1, sizeof(*r));
    ENSURE(pthread_mutex_init(&r->lock, NULL) == 0, SL_ERR_STATE, "metrics: cannot make a mutex");
    metrics_family *dropped = NULL;
    if (sl_failed(metrics_family_new(r, METRICS_COUNTER, DROPPED_NAME,
                                     "Series not recorded because their metric already had the most label "
                                     "combinations it may hold.",
                                     NULL, NULL, 0, &dropped))) {
        metrics_registry_destroy(r);
        return SL_FAILURE;
    }
    r->dropped = metrics_series_of(dropped, NULL);
    *out = r;
    return SL_SUCCESS;
}

void metrics_registry_destroy(metrics_registry *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->family_count; i++) family_free(r->families[i]);
    sl_free(r->families);
    pthread_mutex_destroy(&r->lock);
    sl_free(r);
}

static sl_result check_family(metrics_registry *r, metrics_type type, const char *name, const char *help,
                              const char *const *labels, const double *buckets, size_t bucket_count)
{
    ENSURE(valid_name(name, true), SL_ERR_INVALID_ARGUMENT,
           "metrics: \"%s\" is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", name ? name : "(null)");
    size_t n = strlen(name);
    bool total = n > 6 && strcmp(name + n - 6, "_total") == 0;
    ENSURE(type != METRICS_COUNTER || total, SL_ERR_INVALID_ARGUMENT, "metrics: the counter %s must end in _total",
           name);
    ENSURE(type == METRICS_COUNTER || !total, SL_ERR_INVALID_ARGUMENT,
           "metrics: %s: only counters end in _total", name);
    ENSURE(help != NULL && help[0] != '\0', SL_ERR_INVALID_ARGUMENT, "metrics: %s: no help text", name);
    size_t count = 0;
    for (; labels != NULL && labels[count] != NULL; count++) {
        const char *l = labels[count];
        ENSURE(count < METRICS_MAX_LABELS, SL_ERR_INVALID_ARGUMENT, "metrics: %s: more than %d labels", name,
               METRICS_MAX_LABELS);
        ENSURE(valid_name(l, false) && strncmp(l, "__", 2) != 0, SL_ERR_INVALID_ARGUMENT,
               "metrics: %s: \"%s\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", name, l);
        ENSURE(type != METRICS_HISTOGRAM || strcmp(l, "le") != 0, SL_ERR_INVALID_ARGUMENT,
               "metrics: %s: a histogram cannot have a label \"le\"", name);
        for (size_t k = 0; k < count; k++)
            ENSURE(strcmp(labels[k], l) != 0, SL_ERR_INVALID_ARGUMENT, "metrics: %s: the label %s twice", name, l);
    }
    if (type == METRICS_HISTOGRAM) {
        ENSURE(buckets != NULL && bucket_count > 0 && bucket_count <= METRICS_MAX_BUCKETS, SL_ERR_INVALID_ARGUMENT,
               "metrics: %s: a histogram needs 1 to %d bucket bounds", name, METRICS_MAX_BUCKETS);
        for (size_t i = 0; i < bucket_count; i++)
            ENSURE(isfinite(buckets[i]) && (i == 0 || buckets[i] > buckets[i - 1]), SL_ERR_INVALID_ARGUMENT,
                   "metrics: %s: bucket bounds must be finite and strictly increasing", name);
    } else {
        ENSURE(bucket_count == 0, SL_ERR_INVALID_ARGUMENT, "metrics: %s: only histograms have buckets", name);
    }
    /* Families' names and the names a histogram writes (_bucket, _sum, _count) must not
     * collide. */
    for (size_t i = 0; i < r->family_count; i++)
        ENSURE(strcmp(r->families[i]->name, name) != 0, SL_ERR_INVALID_ARGUMENT, "metrics: %s is already registered",
               name);
    return SL_SUCCESS;
}

sl_result metrics_family_new(metrics_registry *r, metrics_type type, const char *name, const char *help,
                             const char *const *labels, const double *buckets, size_t bucket_count,
                             metrics_family **out)
{
    ENSURE(r != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "metrics: no registry or no result pointer");
    pthread_mutex_lock(&r->lock);
    sl_result ok = check_family(r, type, name, help, labels, buckets, bucket_count);
    if (sl_failed(ok)) {
        pthread_mutex_unlock(&r->lock);
        return ok;
    }
    metrics_family *f = sl_calloc(1, sizeof(*f));
    f->registry = r;
    f->type = type;
    f->name = sl_strdup(name);
    f->help = sl_strdup(help);
    for (; labels != NULL && labels[f->label_count] != NULL; f->label_count++)
        f->labels[f->label_count] = sl_strdup(labels[f->label_count]);
    if (bucket_count > 0) {
        f->bounds = sl_calloc(bucket_count, sizeof(double));
        memcpy(f->bounds, buckets, bucket_count * sizeof(double));
        f->bound_count = bucket_count;
    }
    (void)pthread_mutex_init(&f->lock, NULL);
    if (r->family_count == r->family_capacity) {
        size_t cap = r->family_capacity ? r->family_capacity * 2 : 16;
        r->families = sl_realloc(r->families, cap * sizeof(*r->families));
        r->family_capacity = cap;
    }
    r->families[r->family_count++] = f;
    pthread_mutex_unlock(&r->lock);
    *out = f;
    return SL_SUCCESS;
}

/* ---------------------------------------------------------------------------------- */
/* Series                                                                              */
/* ---------------------------------------------------------------------------------- */

static bool same_values(const metrics_series *s, const char *const *values, size_t count)
{
    for (size_t k = 0; k < count; k++)
        if (strcmp(s->values[k], values[k]) != 0) return false;
    return true;
}

metrics_series *metrics_series_of(metrics_family *f, const char *const *values)
{
    if (f == NULL) return NULL;
    size_t count = 0;
    while (values != NULL && values[count] != NULL && count <= METRICS_MAX_LABELS) count++;
    if (count != f->label_count) return NULL;
    pthread_mutex_lock(&f->lock);
    /* values are compared as given; stored copies differ only for text that is not
     * UTF-8, which then gets a series per distinct original (bounded like any other) */
    for (size_t i = 0; i < f->series_count; i++) {
        metrics_series *s = f->series[i];
        if (same_values(s, values, count)) {
            pthread_mutex_unlock(&f->lock);
            return s;
        }
    }
    metrics_series *made = NULL;
    if (f->series_count < METRICS_MAX_SERIES) {
        made = sl_calloc(1, sizeof(*made));
        made->family = f;
        for (size_t k = 0; k < count; k++) made->values[k] = utf8_copy(values[k]);
        if (f->type == METRICS_HISTOGRAM) made->buckets = sl_calloc(f->bound_count + 1, sizeof(_Atomic uint64_t));
        if (f->series_count == f->series_capacity) {
            size_t cap = f->series_capacity ? f->series_capacity * 2 : 8;
            f->series = sl_realloc(f->series, cap * sizeof(*f->series));
            f->series_capacity = cap;
        }
        f->series[f->series_count++] = made;
    }
    pthread_mutex_unlock(&f->lock);
    if (made == NULL) metrics_counter_add(f->registry->dropped, 1);
    return made;
}

void metrics_counter_add(metrics_series *s, uint64_t n)
{
    if (s == NULL || s->family->type != METRICS_COUNTER) return;
    atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metrics_counter_set(metrics_series *s, uint64_t value)
{
    if (s == NULL || s->family->type != METRICS_COUNTER) return;
    uint64_t old = atomic_load_explicit(&s->value, memory_order_relaxed);
    while (old < value &&
           !atomic_compare_exchange_weak_explicit(&s->value, &old, value, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void metrics_gauge_set(metrics_series *s, double value)
{
    if (s == NULL || s->family->type != METRICS_GAUGE) return;
    atomic_store_explicit(&s->value, bits_of(value), memory_order_relaxed);
}

void metrics_gauge_add(metrics_series *s, double delta)
{
    if (s == NULL || s->family->type != METRICS_GAUGE) return;
    atomic_add_double(&s->value, delta);
}

void metrics_observe(metrics_series *s, double value)
{
    if (s == NULL || s->family->type != METRICS_HISTOGRAM || isnan(value)) return;
    const metrics_family *f = s->family;
    size_t i = 0;
    while (i < f->bound_count && value > f->bounds[i]) i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->value, value);
}

void metrics_add(metrics_family *f, const char *const *values, uint64_t n)
{
    metrics_counter_add(metrics_series_of(f, values), n);
}

void metrics_set(metrics_family *f, const char *const *values, double value)
{
    metrics_series *s = metrics_series_of(f, values);
    if (f != NULL && f->type == METRICS_COUNTER)
        metrics_counter_set(s, value <= 0 ? 0 : (uint64_t)value);
    else
        metrics_gauge_set(s, value);
}

void metrics_observe_in(metrics_family *f, const char *const *values, double value)
{
    metrics_observe(metrics_series_of(f, values), value);
}

double metrics_series_value(const metrics_series *s)
{
    if (s == NULL) return 0;
    uint64_t v = atomic_load_explicit(&((metrics_series *)s)->value, memory_order_relaxed);
    switch (s->family->type) {
    case METRICS_COUNTER: return (double)v;
    case METRICS_GAUGE: return double_of(v);
    case METRICS_HISTOGRAM: break;
    }
    uint64_t count = 0;
    for (size_t i = 0; i <= s->family->bound_count; i++)
        count += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
    return (double)count;
}

/* ---------------------------------------------------------------------------------- */
/* Collectors                                                                          */
/* ---------------------------------------------------------------------------------- */

sl_result metrics_collector_add(metrics_registry *r, metrics_collect_fn *collect, void *user)
{
    ENSURE(r != NULL && collect != NULL, SL_ERR_INVALID_ARGUMENT, "metrics: no registry or no collector");
    pthread_mutex_lock(&r->lock);
    bool room = r->collector_count < MAX_COLLECTORS;
    if (room) r->collectors[r->collector_count++] = (struct collector){ collect, user };
    pthread_mutex_unlock(&r->lock);
    ENSURE(room, SL_ERR_LIMIT, "metrics: more than %d collectors", MAX_COLLECTORS);
    return SL_SUCCESS;
}

void metrics_collector_remove(metrics_registry *r, metrics_collect_fn *collect, void *user)
{
    if (r == NULL) return;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->collector_count; i++) {
        if (r->collectors[i].collect != collect || r->collectors[i].user != user) continue;
        memmove(&r->collectors[i], &r->collectors[i + 1], (r->collector_count - i - 1) * sizeof(r->collectors[0]));
        r->collector_count--;
        break;
    }
    pthread_mutex_unlock(&r->lock);
}

/* ---------------------------------------------------------------------------------- */
/* Exposition                                                                          */
/* ---------------------------------------------------------------------------------- */

static const char *type_name(metrics_type type)
{
    switch (type) {
    case METRICS_COUNTER: return "counter";
    case METRICS_GAUGE: return "gauge";
    case METRICS_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

/* name{a="x",b="y"[,le="bound"]} — braces only when there is a label. */
static sl_result append_sample_name(sl_buf *out, const metrics_family *f, const char *suffix, const metrics_series *s,
                                    const char *le)
{
    GUARD(sl_buf_append_cstr(out, f->name));
    GUARD(sl_buf_append_cstr(out, suffix));
    if (f->label_count == 0 && le == NULL) return SL_SUCCESS;
    GUARD(sl_buf_append_byte(out, '{'));
    for (size_t k = 0; k < f->label_count; k++) {
        GUARD(sl_buf_appendf(out, "%s%s=\"", k ? "," : "", f->labels[k]));
        GUARD(append_escaped(out, s->values[k], true));
        GUARD(sl_buf_append_byte(out, '"'));
    }
    if (le != NULL) GUARD(sl_buf_appendf(out, "%sle=\"%s\"", f->label_count ? "," : "", le));
    return sl_buf_append_byte(out, '}');
}

static sl_result append_histogram(sl_buf *out, const metrics_family *f, const metrics_series *s)
{
    uint64_t cumulative = 0;
    sl_buf le = { 0 };
    sl_result result = SL_FAILURE;
    for (size_t i = 0; i <= f->bound_count; i++) {
        cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        sl_buf_reset(&le);
        GUARD_CLEANUP(i < f->bound_count ? metrics_format_value(f->bounds[i], &le) : sl_buf_append_cstr(&le, "+Inf"));
        GUARD_CLEANUP(append_sample_name(out, f, "_bucket", s, sl_buf_cstr(&le)));
        GUARD_CLEANUP(sl_buf_appendf(out, " %llu\n", (unsigned long long)cumulative));
    }
    GUARD_CLEANUP(append_sample_name(out, f, "_sum", s, NULL));
    GUARD_CLEANUP(sl_buf_append_byte(out, ' '));
    GUARD_CLEANUP(
        metrics_format_value(double_of(atomic_load_explicit(&((metrics_series *)s)->value, memory_order_relaxed)), out));
    GUARD_CLEANUP(sl_buf_append_byte(out, '\n'));
    GUARD_CLEANUP(append_sample_name(out, f, "_count", s, NULL));
    GUARD_CLEANUP(sl_buf_appendf(out, " %llu\n", (unsigned long long)cumulative));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&le);
    return result;
}

static sl_result append_family(sl_buf *out, metrics_family *f)
{
    GUARD(sl_buf_appendf(out, "# HELP %s ", f->name));
    GUARD(append_escaped(out, f->help, false));
    GUARD(sl_buf_appendf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type)));
    for (size_t i = 0; i < f->series_count; i++) {
        const metrics_series *s = f->series[i];
        if (f->type == METRICS_HISTOGRAM) {
            GUARD(append_histogram(out, f, s));
            continue;
        }
        GUARD(append_sample_name(out, f, "", s, NULL));
        GUARD(sl_buf_append_byte(out, ' '));
        uint64_t v = atomic_load_explicit(&((metrics_series *)s)->value, memory_order_relaxed);
        if (f->type == METRICS_COUNTER)
            GUARD(sl_buf_appendf(out, "%llu", (unsigned long long)v));
        else
            GUARD(metrics_format_value(double_of(v), out));
        GUARD(sl_buf_append_byte(out, '\n'));
    }
    return SL_SUCCESS;
}

sl_result metrics_render(metrics_registry *r, sl_buf *out)
{
    ENSURE(r != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "metrics: no registry or no output");
    struct collector collectors[MAX_COLLECTORS];
    pthread_mutex_lock(&r->lock);
    size_t collector_count = r->collector_count;
    memcpy(collectors, r->collectors, collector_count * sizeof(collectors[0]));
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < collector_count; i++) collectors[i].collect(collectors[i].user, r);

    sl_result result = SL_SUCCESS;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->family_count && sl_ok(result); i++) {
        metrics_family *f = r->families[i];
        pthread_mutex_lock(&f->lock);
        result = append_family(out, f);
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return result;
}
