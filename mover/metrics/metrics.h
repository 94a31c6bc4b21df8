/*
 * metrics.h — counters, gauges and histograms, and the one writer of the Prometheus
 * text exposition format (version 0.0.4) that /metrics serves.
 *
 * A registry holds families (a metric name, its help text, its type and its label
 * names); a family holds series (one value set per combination of label values),
 * created on first use. Code that records looks a series up once where it can and then
 * only adds to it: recording is a few atomic operations, lock-free, from any thread (the
 * loop, the thread pool). Looking a series up takes the family's mutex. Values that live
 * elsewhere (the S3 engine's counters, the pipeline's queue) are copied in at scrape time
 * by collectors, which metrics_render calls first.
 *
 * The format (https://prometheus.io/docs/instrumenting/exposition_formats/): one
 * "# HELP name text" and "# TYPE name type" per family, then one line per series,
 * `name{label="value",...} value`; in HELP text "\" and newline are escaped as "\\" and
 * "\n"; in label values also '"' as "\"". Histograms write cumulative `_bucket` lines
 * with an `le` label (the last one "+Inf"), `_sum` and `_count` (equal to the "+Inf"
 * bucket). Names are checked when a family is made: metric names
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"
 * (and no "le" on a histogram); counters end in "_total". Label values are any text:
 * bytes that are not UTF-8 become "?", so the output is always valid UTF-8.
 *
 * Cardinality is bounded: a family holds at most METRICS_MAX_SERIES series; past that a
 * lookup returns NULL (recording into NULL does nothing) and the registry's own
 * counter sluice_metrics_series_dropped_total goes up.
 *
 * Errors: SL_ERR_INVALID_ARGUMENT for names, help, labels or buckets the format cannot
 * carry (the detail names the metric). Memory follows util/alloc.h's policy.
 * Ownership: the registry owns its families and series; pointers to them stay valid
 * until metrics_registry_destroy, which must not race with recording.
 */
#ifndef SLUICE_METRICS_METRICS_H
#define SLUICE_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_SERIES 2000
#define METRICS_MAX_BUCKETS 32

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;
typedef struct metrics_series metrics_series;

typedef enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_type;

/* Label values, in the family's label order: METRICS_LABELS("reports", "promoted"). */
#define METRICS_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define METRICS_NO_LABELS ((const char *const *)NULL)

SL_MUST_CHECK sl_result metrics_registry_new(metrics_registry **out);
/* NULL is fine. */
void metrics_registry_destroy(metrics_registry *registry);

/* Makes a family. `labels`: NULL-terminated label names (NULL or empty: none; at most
 * METRICS_MAX_LABELS). `buckets`: histograms only — strictly increasing finite upper
 * bounds (at most METRICS_MAX_BUCKETS; "+Inf" is added). Name and help are copied.
 * A name already in the registry is refused. */
SL_MUST_CHECK sl_result metrics_family_new(metrics_registry *registry, metrics_type type, const char *name,
                                           const char *help, const char *const *labels, const double *buckets,
                                           size_t bucket_count, metrics_family **out);

/* The series of these label values (as many as the family has labels; NULL for none),
 * made on first use; NULL when `family` is NULL, the values do not match the labels, or
 * the family is full. Thread-safe. */
metrics_series *metrics_series_of(metrics_family *family, const char *const *values);

/* Recording; a NULL series does nothing. Thread-safe and lock-free. */
void metrics_counter_add(metrics_series *series, uint64_t n);
/* For a counter kept elsewhere and copied in by a collector: never lowers the value. */
void metrics_counter_set(metrics_series *series, uint64_t value);
void metrics_gauge_set(metrics_series *series, double value);
void metrics_gauge_add(metrics_series *series, double delta);
/* Histograms: counts `value` in the first bucket whose bound is >= value. NaN is not
 * counted. */
void metrics_observe(metrics_series *series, double value);

/* Shorthands: look up, then record. */
void metrics_add(metrics_family *family, const char *const *values, uint64_t n);
void metrics_set(metrics_family *family, const char *const *values, double value);
void metrics_observe_in(metrics_family *family, const char *const *values, double value);

/* Current values, for tests and collectors (0 for NULL). A histogram's value is its
 * count of observations. */
double metrics_series_value(const metrics_series *series);

/* A collector refreshes values kept elsewhere; metrics_render calls every collector,
 * in the order they were added, on its own thread, before writing. */
typedef void metrics_collect_fn(void *user, metrics_registry *registry);
SL_MUST_CHECK sl_result metrics_collector_add(metrics_registry *registry, metrics_collect_fn *collect, void *user);
/* Removes the collector added with the same function and user (nothing if none). */
void metrics_collector_remove(metrics_registry *registry, metrics_collect_fn *collect, void *user);

/* Runs the collectors, then appends the exposition of every family (in the order they
 * were made; series in the order they were first used). Families without series write
 * their HELP and TYPE only. Not to be called from a collector. */
SL_MUST_CHECK sl_result metrics_render(metrics_registry *registry, sl_buf *out);

/* The Content-Type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Exposed for tests: a sample value as the format writes it ("1", "0.25", "+Inf",
 * "NaN", "1e+21"); the shortest text that reads back as the same double. */
SL_MUST_CHECK sl_result metrics_format_value(double value, sl_buf *out);

#endif /* SLUICE_METRICS_METRICS_H */
