/*
 * timefmt.h — the one way sluice writes and reads times: RFC 3339 in UTC with
 * milliseconds, "2026-11-27T20:00:00.123Z", for 1970..9999 (manifests, the audit log,
 * task manifests, grants), and S3's LastModified in listings (the fraction may be
 * missing or longer). Pure functions on Unix milliseconds; no time zone, no locale.
 * Threading: any thread.
 */
#ifndef SLUICE_UTIL_TIMEFMT_H
#define SLUICE_UTIL_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

#define SL_TIME_TEXT_LEN 24                     /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
#define SL_TIME_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

/* Wall-clock now, in Unix milliseconds. */
int64_t sl_time_now_ms(void);

/* Writes SL_TIME_TEXT_LEN characters and a NUL; false (out unchanged) outside 0..SL_TIME_MAX_MS. */
bool sl_time_format(int64_t ms, char out[SL_TIME_TEXT_LEN + 1]);

/* Exactly the format sl_time_format writes, and a real date; false (*ms unchanged) otherwise. */
bool sl_time_parse(sl_cursor text, int64_t *ms);

/* S3's LastModified: YYYY-MM-DDTHH:MM:SS, an optional fraction of any length (the first
 * three digits count), Z. False (*ms unchanged) for anything else. */
bool sl_time_parse_s3(sl_cursor text, int64_t *ms);

#endif /* SLUICE_UTIL_TIMEFMT_H */
