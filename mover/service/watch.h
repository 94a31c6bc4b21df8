/*
 * watch.h — the daemon's own health checks beyond the audit log: is S3 reachable, and
 * is the pipeline still making changes? Their answers feed GET /v1/health (main.c adds
 * them to the API's health checks) and so the sluice_healthy metric.
 *
 *   s3        a probe every probe_interval_ms: GetBucketVersioning on the staging bucket
 *             (cheap, no listing, allowed to the mover by its bucket policy). At fault
 *             when the last probe failed (the client's detail: "connection refused",
 *             "timed out", an S3 error), or when no probe has come back for three
 *             intervals (a request that hangs).
 *   pipeline  the pipeline's counters sampled every second: at fault when artifacts are
 *             in flight or queued and no counter has moved for stall_after_ms
 *             (worker.stall_after): the pipeline has work and has stopped making changes.
 *
 * A scanner that a route requires (clamd, ...) registers its own check in the same list
 * (api/health_endpoint.h's health_endpoint_add, from main.c): a function
 * `const char *fault(void *user)` that answers NULL when the scanner is fine, or one
 * line saying why not.
 *
 * The fault functions have that signature: NULL when fine, else a reason valid until the
 * next call. Threading: the loop thread only. Ownership: service_watch_stop closes the
 * timers; the watch frees itself once the probe in flight (if any) has come back —
 * stop it before the S3 client is destroyed, which then cancels that probe.
 */
#ifndef SLUICE_SERVICE_WATCH_H
#define SLUICE_SERVICE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "pipeline/pipeline.h"
#include "s3/client.h"
#include "util/error.h"

typedef struct service_watch service_watch;

typedef struct service_watch_options {
    s3_client *client;          /* the mover's */
    const char *probe_bucket;   /* copied */
    uint64_t probe_interval_ms; /* > 0 */
    pipeline *pipeline;
    uint64_t stall_after_ms;    /* > 0 */
} service_watch_options;

SL_MUST_CHECK sl_result service_watch_start(uv_loop_t *loop, const service_watch_options *options,
                                            service_watch **out);

/* A new stall threshold (SIGHUP). */
void service_watch_set_stall_after(service_watch *w, uint64_t stall_after_ms);

void service_watch_stop(service_watch *w);

/* The checks: NULL when fine, else why not. `user` is the service_watch. */
const char *service_watch_s3_fault(void *user);
const char *service_watch_pipeline_fault(void *user);

#endif /* SLUICE_SERVICE_WATCH_H */
