/*
 * families.c — the metric families of sluice-mover (contract: families.h). One table
 * names them all; docs/metrics.md is its prose. Histogram buckets: latencies from
 * milliseconds (a check of a small file, an audit write) to minutes (drop to trusted
 * behind a queue, a check of a large archive).
 */
#include "metrics/families.h"

#include <time.h>

#include "util/alloc.h"

static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                          1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
static const double write_buckets[] = { 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                        0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1 };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })

struct family_row {
    size_t offset; /* of the metrics_family * in sluice_metrics */
    metrics_type type;
    const char *name;
    const char *help;
    const char *const *labels;
    const double *buckets;
    size_t bucket_count;
};

#define AT(member) offsetof(sluice_metrics, member)

static const struct family_row rows[] = {
    { AT(transitions), METRICS_COUNTER, "sluice_artifact_transitions_total",
      "Artifact state changes, by route and transition (docs/states.md).", L("route", "from", "to"), NULL, 0 },
    { AT(findings), METRICS_COUNTER, "sluice_findings_total", "Findings of the checks, by check and kind.",
      L("check", "kind"), NULL, 0 },
    { AT(drop_to_trusted), METRICS_HISTOGRAM, "sluice_drop_to_trusted_seconds",
      "Time from an object's upload into staging to its copy in trusted.", L("route"), latency_buckets,
      COUNT(latency_buckets) },
    { AT(check_duration), METRICS_HISTOGRAM, "sluice_check_duration_seconds", "Time a content check took.",
      L("check"), latency_buckets, COUNT(latency_buckets) },
    { AT(audit_write), METRICS_HISTOGRAM, "sluice_audit_write_seconds",
      "Time an audit record took to append (the write; the fsync is grouped).", NULL, write_buckets,
      COUNT(write_buckets) },
    { AT(scrapes), METRICS_COUNTER, "sluice_metrics_scrapes_total", "Answers of the /metrics endpoint.", NULL, NULL,
      0 },
    { AT(artifacts), METRICS_COUNTER, "sluice_artifacts_total",
      "Artifacts by how their handling ended since the daemon started (started counts every one taken up).",
      L("outcome"), NULL, 0 },
    { AT(in_flight), METRICS_GAUGE, "sluice_artifacts_in_flight", "Artifacts being worked on now.", NULL, NULL, 0 },
    { AT(queued), METRICS_GAUGE, "sluice_artifacts_queued", "Artifacts found and waiting for a worker.", NULL, NULL,
      0 },
    { AT(s3_requests), METRICS_COUNTER, "sluice_s3_requests_total", "S3 requests, by operation and outcome.",
      L("operation", "outcome"), NULL, 0 },
    { AT(s3_attempts), METRICS_COUNTER, "sluice_s3_attempts_total",
      "HTTP requests sent to S3, every attempt of every operation.", NULL, NULL, 0 },
    { AT(s3_retries), METRICS_COUNTER, "sluice_s3_retries_total", "S3 requests sent again after a failure.",
      L("operation"), NULL, 0 },
    { AT(s3_in_flight), METRICS_GAUGE, "sluice_s3_requests_in_flight", "S3 requests on the wire now.", NULL, NULL,
      0 },
    { AT(s3_queued), METRICS_GAUGE, "sluice_s3_requests_queued", "S3 requests waiting for a connection slot.", NULL,
      NULL, 0 },
    { AT(audit_records), METRICS_COUNTER, "sluice_audit_records_total", "Records appended to the audit log.", NULL,
      NULL, 0 },
    { AT(audit_fsyncs), METRICS_COUNTER, "sluice_audit_fsyncs_total", "Group commits (fsyncs) of the audit log.",
      NULL, NULL, 0 },
    { AT(tasks), METRICS_COUNTER, "sluice_tasks_total", "Interpreter tasks opened, closed and expired.",
      L("event"), NULL, 0 },
    { AT(tasks_cached), METRICS_GAUGE, "sluice_tasks_cached", "Tasks the daemon holds in memory.", NULL, NULL, 0 },
    { AT(admissions), METRICS_COUNTER, "sluice_task_admissions_total",
      "Objects checked against their task on arrival, by verdict.", L("verdict"), NULL, 0 },
    { AT(grants), METRICS_COUNTER, "sluice_grants_issued_total",
      "Upload grants handed out (one per task opened: its presigned URLs and POST form).", NULL, NULL, 0 },
    { AT(events), METRICS_COUNTER, "sluice_events_total",
      "S3 event notifications received: records hinted, unknown (another bucket or no route's prefix), elsewhere, "
      "not_created, test; requests rejected (400/403) and unauthorized (401).",
      L("outcome"), NULL, 0 },
    { AT(event_hints), METRICS_COUNTER, "sluice_event_hints_total",
      "Event hints the pipeline looked at: queued (the object was there and new), missing (no such object), "
      "unknown, elsewhere.", L("outcome"), NULL, 0 },
    { AT(healthy), METRICS_GAUGE, "sluice_healthy",
      "1 when GET /v1/health answers ok, 0 when it answers degraded (with the reasons).", NULL, NULL, 0 },
    { AT(build_info), METRICS_GAUGE, "sluice_build_info", "The running version; always 1.", L("version"), NULL, 0 },
    { AT(start_time), METRICS_GAUGE, "sluice_start_time_seconds", "When the daemon started, in Unix seconds.", NULL,
      NULL, 0 },
};

sl_result sluice_metrics_new(const char *version, sluice_metrics **out)
{
    ENSURE(version != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "metrics: no version or no result pointer");
    sluice_metrics *m = sl_calloc(1, sizeof(*m));
    if (sl_failed(metrics_registry_new(&m->registry))) {
        sl_free(m);
        return SL_FAILURE;
    }
    for (size_t i = 0; i < COUNT(rows); i++) {
        const struct family_row *r = &rows[i];
        metrics_family **slot = (metrics_family **)((char *)m + r->offset);
        if (sl_failed(metrics_family_new(m->registry, r->type, r->name, r->help, r->labels, r->buckets,
                                         r->bucket_count, slot))) {
            sluice_metrics_destroy(m);
            return SL_FAILURE;
        }
    }
    metrics_set(m->build_info, METRICS_LABELS(version), 1);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    metrics_set(m->start_time, METRICS_NO_LABELS, (double)now.tv_sec + now.tv_nsec / 1e9);
    *out = m;
    return SL_SUCCESS;
}

void sluice_metrics_destroy(sluice_metrics *m)
{
    if (m == NULL) return;
    metrics_registry_destroy(m->registry);
    sl_free(m);
}

void sluice_metrics_transition(sluice_metrics *m, const char *route, const char *from, const char *to)
{
    if (m != NULL) metrics_add(m->transitions, METRICS_LABELS(route, from, to), 1);
}

void sluice_metrics_finding(sluice_metrics *m, const char *check, const char *kind)
{
    if (m != NULL) metrics_add(m->findings, METRICS_LABELS(check, kind), 1);
}

void sluice_metrics_check_duration(sluice_metrics *m, const char *check, double seconds)
{
    if (m != NULL) metrics_observe_in(m->check_duration, METRICS_LABELS(check), seconds);
}

void sluice_metrics_drop_to_trusted(sluice_metrics *m, const char *route, double seconds)
{
    if (m != NULL) metrics_observe_in(m->drop_to_trusted, METRICS_LABELS(route), seconds);
}

void sluice_metrics_audit_write(sluice_metrics *m, double seconds)
{
    if (m != NULL) metrics_observe_in(m->audit_write, METRICS_NO_LABELS, seconds);
}
