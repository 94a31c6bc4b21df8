/*
 * collect.h — the daemon's metric collector: at each scrape of /metrics it copies the
 * values the parts of the daemon keep themselves into the families of
 * metrics/families.h — the pipeline's outcome counters, in-flight and queued artifacts;
 * the S3 engine's attempts; the audit log's records and fsyncs; the task registry's
 * tasks, admissions and grants; the events listener's and the event hints' counts; and
 * whether the daemon is healthy.
 *
 * Threading: the collector runs on the thread that renders /metrics, the loop thread
 * (the parts' stats are loop-thread state). Ownership: the sources are borrowed: stop
 * the collector (service_collect_stop) before any of them is destroyed.
 */
#ifndef SLUICE_SERVICE_COLLECT_H
#define SLUICE_SERVICE_COLLECT_H

#include <stdbool.h>

#include "audit/audit.h"
#include "events/intake.h"
#include "metrics/families.h"
#include "pipeline/pipeline.h"
#include "s3/client.h"
#include "tasks/tasks.h"
#include "util/error.h"

typedef struct service_sources {
    pipeline *pipeline;
    s3_client *client;
    audit_log *audit;
    task_registry *tasks;          /* may be NULL (no route requires tasks) */
    bool (*healthy)(void *user);   /* may be NULL: sluice_healthy is not set */
    void *healthy_user;
    /* may be NULL: the events listener's totals (false while there is none); `unauthorized`
     * counts the requests refused for the secret */
    bool (*events)(void *user, events_counts *counts, uint64_t *unauthorized);
    void *events_user;
} service_sources;

typedef struct service_collector service_collector;

SL_MUST_CHECK sl_result service_collect_start(sluice_metrics *metrics, const service_sources *sources,
                                              service_collector **out);
/* NULL is fine. */
void service_collect_stop(service_collector *c);

#endif /* SLUICE_SERVICE_COLLECT_H */
