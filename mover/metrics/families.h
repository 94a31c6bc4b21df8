/*
 * families.h — the metrics sluice-mover exports: every family's name, help, type,
 * labels and buckets in one place (docs/metrics.md lists the same), made in one
 * registry, with typed helpers for the code that records.
 *
 * Recording code holds a `sluice_metrics *` that may be NULL (a test, a tool without
 * metrics): every helper then does nothing. Values kept elsewhere — the pipeline's
 * counters and queue, the task registry's, the S3 engine's, the audit log's — are
 * copied in at scrape time by the daemon's collectors (mover/service/collect.h).
 *
 * Threading: the helpers may be called from any thread (metrics.h).
 * Ownership: sluice_metrics_new makes the registry, sluice_metrics_destroy frees it.
 */
#ifndef SLUICE_METRICS_FAMILIES_H
#define SLUICE_METRICS_FAMILIES_H

#include "metrics/metrics.h"

typedef struct sluice_metrics {
    metrics_registry *registry;
    /* recorded where things happen */
    metrics_family *transitions;     /* sluice_artifact_transitions_total{route,from,to} */
    metrics_family *findings;        /* sluice_findings_total{check,kind} */
    metrics_family *drop_to_trusted; /* sluice_drop_to_trusted_seconds{route} */
    metrics_family *check_duration;  /* sluice_check_duration_seconds{check} */
    metrics_family *audit_write;     /* sluice_audit_write_seconds */
    metrics_family *scrapes;         /* sluice_metrics_scrapes_total */
    /* copied in by collectors */
    metrics_family *artifacts;       /* sluice_artifacts_total{outcome} */
    metrics_family *in_flight;       /* sluice_artifacts_in_flight */
    metrics_family *queued;          /* sluice_artifacts_queued */
    metrics_family *s3_requests;     /* sluice_s3_requests_total{operation,outcome} */
    metrics_family *s3_attempts;     /* sluice_s3_attempts_total */
    metrics_family *s3_retries;      /* sluice_s3_retries_total{operation} */
    metrics_family *s3_in_flight;    /* sluice_s3_requests_in_flight */
    metrics_family *s3_queued;       /* sluice_s3_requests_queued */
    metrics_family *audit_records;   /* sluice_audit_records_total */
    metrics_family *audit_fsyncs;    /* sluice_audit_fsyncs_total */
    metrics_family *tasks;           /* sluice_tasks_total{event} */
    metrics_family *tasks_cached;    /* sluice_tasks_cached */
    metrics_family *admissions;      /* sluice_task_admissions_total{verdict} */
    metrics_family *grants;          /* sluice_grants_issued_total */
    metrics_family *events;          /* sluice_events_total{outcome} (records and requests) */
    metrics_family *event_hints;     /* sluice_event_hints_total{outcome} (the pipeline's look) */
    metrics_family *healthy;         /* sluice_healthy */
    metrics_family *build_info;      /* sluice_build_info{version} */
    metrics_family *start_time;      /* sluice_start_time_seconds */
} sluice_metrics;

/* Makes the registry and every family; build_info and start_time are set. */
SL_MUST_CHECK sl_result sluice_metrics_new(const char *version, sluice_metrics **out);
void sluice_metrics_destroy(sluice_metrics *m);

/* An artifact moved from one state to another on a route (state names as in
 * docs/states.md). */
void sluice_metrics_transition(sluice_metrics *m, const char *route, const char *from, const char *to);
/* A check reported a finding of this kind ("secret", "type_denied", ...). */
void sluice_metrics_finding(sluice_metrics *m, const char *check, const char *kind);
/* A check took this long. */
void sluice_metrics_check_duration(sluice_metrics *m, const char *check, double seconds);
/* An artifact reached trusted this long after it was dropped into staging (the
 * staging object's LastModified to the promote copy's success). */
void sluice_metrics_drop_to_trusted(sluice_metrics *m, const char *route, double seconds);
/* One audit append (the write) took this long. */
void sluice_metrics_audit_write(sluice_metrics *m, double seconds);

#endif /* SLUICE_METRICS_FAMILIES_H */
