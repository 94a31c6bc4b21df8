/*
 * collect.c — copies the parts' own counters into the metric families at scrape time
 * (contract: collect.h). Counters kept elsewhere are mirrored with metrics_set, which
 * never lowers a counter.
 */
#include "service/collect.h"

#include "util/alloc.h"

struct service_collector {
    sluice_metrics *metrics;
    service_sources sources;
};

static void set(metrics_family *f, const char *label, double value)
{
    if (label == NULL)
        metrics_set(f, METRICS_NO_LABELS, value);
    else
        metrics_set(f, METRICS_LABELS(label), value);
}

static void collect_events(sluice_metrics *m, const service_sources *src)
{
    events_counts e;
    uint64_t unauthorized = 0;
    if (src->events == NULL || !src->events(src->events_user, &e, &unauthorized)) return;
    set(m->events, "hinted", (double)e.hinted);
    set(m->events, "unknown", (double)e.unknown);
    set(m->events, "elsewhere", (double)e.elsewhere);
    set(m->events, "not_created", (double)e.not_created);
    set(m->events, "test", (double)e.test_events);
    set(m->events, "rejected", (double)e.rejected);
    set(m->events, "unauthorized", (double)unauthorized);
    set(m->events, "confirmed", (double)e.sns_confirmed);
}

static void collect(void *user, metrics_registry *registry)
{
    (void)registry;
    struct service_collector *c = user;
    sluice_metrics *m = c->metrics;
    const service_sources *src = &c->sources;

    pipeline_stats p = pipeline_get_stats(src->pipeline);
    set(m->artifacts, "started", (double)p.started);
    set(m->artifacts, "promoted", (double)p.promoted);
    set(m->artifacts, "blocked", (double)p.blocked);
    set(m->artifacts, "rejected", (double)p.rejected);
    set(m->artifacts, "in_review", (double)p.in_review);
    set(m->artifacts, "failed", (double)p.failed);
    set(m->artifacts, "purged", (double)p.purged);
    set(m->artifacts, "dropped", (double)p.dropped);
    set(m->artifacts, "resumed", (double)p.resumed);
    set(m->in_flight, NULL, p.in_flight);
    set(m->queued, NULL, p.queued);

    set(m->s3_attempts, NULL, (double)s3_client_request_count(src->client));
    set(m->audit_records, NULL, (double)audit_log_records(src->audit));
    set(m->audit_fsyncs, NULL, (double)audit_log_fsyncs(src->audit));

    if (src->tasks != NULL) {
        task_registry_stats t = task_registry_get_stats(src->tasks);
        set(m->tasks, "opened", (double)t.opened);
        set(m->tasks, "closed", (double)t.closed);
        set(m->tasks, "expired", (double)t.expired);
        set(m->tasks_cached, NULL, (double)t.cached);
        set(m->admissions, "accepted", (double)t.accepted);
        set(m->admissions, "rejected", (double)t.rejected);
        set(m->admissions, "unavailable", (double)t.unavailable);
        set(m->grants, NULL, (double)t.opened);
    }
    set(m->event_hints, "queued", (double)p.hints_queued);
    set(m->event_hints, "missing", (double)p.hints_missing);
    set(m->event_hints, "unknown", (double)p.hints_unknown);
    set(m->event_hints, "elsewhere", (double)p.hints_elsewhere);
    collect_events(m, src);
    if (src->healthy != NULL) set(m->healthy, NULL, src->healthy(src->healthy_user) ? 1 : 0);
}

sl_result service_collect_start(sluice_metrics *metrics, const service_sources *sources, service_collector **out)
{
    ENSURE(metrics != NULL && sources != NULL && out != NULL && sources->pipeline != NULL &&
               sources->client != NULL && sources->audit != NULL,
           SL_ERR_INVALID_ARGUMENT, "collect: incomplete sources");
    service_collector *c = sl_calloc(1, sizeof(*c));
    c->metrics = metrics;
    c->sources = *sources;
    if (sl_failed(metrics_collector_add(metrics->registry, collect, c))) {
        sl_free(c);
        return SL_FAILURE;
    }
    *out = c;
    return SL_SUCCESS;
}

void service_collect_stop(service_collector *c)
{
    if (c == NULL) return;
    metrics_collector_remove(c->metrics->registry, collect, c);
    sl_free(c);
}
