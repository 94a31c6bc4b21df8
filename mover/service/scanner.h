/*
 * scanner.h — the health of a scanner that a route requires: today ClamAV's daemon for
 * routes with checks.clamav. A route that requires clamd never passes an object while
 * clamd is down (the scan fails closed); this check makes that visible: GET /v1/health
 * (and sluice-review health, and the sluice_healthy gauge) says `degraded` with the
 * reason instead of `ok`.
 *
 * Every probe_interval_ms one probe runs on the thread pool (libuv's work queue: a
 * probe blocks on clamd's socket, bounded by clamav.timeout and at most 5 s, so a hung clamd
 * cannot hold the daemon's stop): a session of its own pool
 * of one connection asks clamd for its VERSION. At fault when the last probe failed
 * ("clamd at /run/clamav/clamd.ctl cannot be reached: connection refused"), or when a
 * probe has been out for three intervals without an answer (clamd hangs). The change
 * is logged once each way (scanner_unreachable / scanner_reachable).
 *
 * Threading: the loop thread only (the probe's blocking call runs on the pool, its
 * result is read back on the loop). Ownership: scanner_watch_stop closes the timer; the
 * watch frees itself once a probe in flight has come back. A reload stops the watch and
 * starts one from the new configuration. Errors: scanner_watch_start returns sl_result
 * (a socket path too long for a Unix address).
 */
#ifndef SLUICE_SERVICE_SCANNER_H
#define SLUICE_SERVICE_SCANNER_H

#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "util/error.h"

typedef struct scanner_watch scanner_watch;

/* Starts the watch when a route of `config` requires ClamAV; *out is NULL otherwise. */
SL_MUST_CHECK sl_result scanner_watch_start(uv_loop_t *loop, const sl_config *config, uint64_t probe_interval_ms,
                                            scanner_watch **out);

/* NULL (fine), or why the scanner is not: valid until the next call. NULL for a NULL watch. */
const char *scanner_watch_fault(scanner_watch *w);

/* Stops probing; NULL is fine. */
void scanner_watch_stop(scanner_watch *w);

#endif /* SLUICE_SERVICE_SCANNER_H */
