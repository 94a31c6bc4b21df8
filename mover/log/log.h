/*
 * log.h — one line per event on stderr, as `key=value` text or as JSON.
 *
 *   2026-11-27T20:00:00.123Z info promote artifact=3f2a… key="metrics/t1/a.csv" ms=12
 *   {"time":"2026-11-27T20:00:00.123Z","level":"info","event":"promote","artifact":"3f2a…",…}
 *
 * A line is an event name and fields given as alternating key, value C strings,
 * terminated by NULL: sl_log(SL_LOG_INFO, "promote", "artifact", id, "key", key, NULL).
 * Text values with spaces, quotes, '=' or control characters are quoted and escaped, so
 * every line parses back unambiguously; values are never interpreted.
 *
 * Threading: sl_log may be called from any thread (each line is one write(2)).
 * Configuration (level, format) is process-wide and set once at start-up / reload.
 */
#ifndef SLUICE_LOG_LOG_H
#define SLUICE_LOG_LOG_H

#include <stdbool.h>

typedef enum sl_log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level;

void sl_log_configure(sl_log_level min_level, bool json);
bool sl_log_enabled(sl_log_level level);

/* Fields: key, value, key, value, …, NULL. A NULL value prints as an empty string. */
void sl_log(sl_log_level level, const char *event, ...) __attribute__((sentinel));

#endif /* SLUICE_LOG_LOG_H */
