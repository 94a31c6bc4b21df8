/*
 * pipeline.c — the engine's life (pipeline.h): new, start, reload, stop, destroy and
 * stats; the configuration references artifacts hold; and the scheduler.
 *
 * Start-up: pipeline_start probes the server (probe.c) and only then starts the
 * pollers and the sweep; a server that cannot run the protocol safely stops the daemon
 * through the options' `fatal` callback, with the reason and the fix.
 *
 * Scheduling: queued work is started from a uv_idle handle on a later loop turn —
 * ending an artifact asks for that (pipeline_schedule) and never starts the next
 * artifact from inside its own end.
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "util/alloc.h"

#define LEASE_RELEASE_GRACE_MS 3000 /* a clean stop releases the leases within this */

/* ---- configuration references ---- */

config_ref *config_ref_new(sl_config *config)
{
    config_ref *r = sl_calloc(1, sizeof(*r));
    r->config = config;
    r->refs = 1;
    return r;
}

config_ref *config_ref_take(config_ref *r)
{
    r->refs++;
    return r;
}

void config_ref_drop(config_ref *r)
{
    if (r != NULL && --r->refs == 0) {
        sl_config_free(r->config);
        sl_free(r);
    }
}

manifest_store pipeline_store(const pipeline *p, const config_ref *cfg)
{
    return (manifest_store){ .client = p->opt.client, .bucket = cfg->config->buckets.control,
                             .control_prefix = cfg->config->buckets.control_prefix };
}

uint64_t pipeline_jitter(uint64_t max)
{
    uint32_t r = 0;
    if (max == 0 || RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) return 0;
    return (uint64_t)r % (max + 1);
}

/* ---- scheduling ---- */

static void pump(uv_idle_t *idle)
{
    pipeline *p = idle->data;
    uv_idle_stop(idle);
    p->pump_scheduled = false;
    while (!p->stopping && !p->broken && p->queue_head != NULL && p->in_flight < config_of(p)->worker.concurrency) {
        queued *q = p->queue_head;
        p->queue_head = q->next;
        if (p->queue_head == NULL) p->queue_tail = NULL;
        p->queue_count--;
        executor_start(p, q); /* the id stays in p->ids: the artifact holds it now */
    }
}

void pipeline_schedule(pipeline *p)
{
    if (p->pump_scheduled || p->destroyed || p->queue_head == NULL) return;
    p->pump_scheduled = true;
    uv_idle_start(&p->pump_idle, pump);
}

/* ---- start ---- */

static uint64_t sweep_interval(const pipeline *p)
{
    if (p->opt.sweep_interval_ms) return p->opt.sweep_interval_ms;
    uint64_t interval = config_of(p)->retention.quarantine_ms / 4;
    if (interval > 60000) interval = 60000;
    if (interval < 1000) interval = 1000;
    return interval;
}

sl_result pipeline_new(uv_loop_t *loop, sl_config *config, const pipeline_options *options, pipeline **out)
{
    if (options->client == NULL || options->audit == NULL || options->magic == NULL || options->signer == NULL) {
        sl_config_free(config);
        RAISE(SL_ERR_INVALID_ARGUMENT, "the pipeline needs an S3 client, an audit log, libmagic and a signing key");
    }
    if (config->route_count == 0) {
        sl_config_free(config);
        RAISE(SL_ERR_INVALID_ARGUMENT, "the configuration has no routes");
    }
    if (sl_failed(protocol_check_tables())) {
        sl_config_free(config);
        return SL_FAILURE;
    }
    audit_ledger *ledger = NULL;
    if (sl_failed(audit_ledger_load(config->audit.file, AUDIT_LEDGER_TAIL_BYTES, AUDIT_LEDGER_CAPACITY, &ledger))) {
        sl_config_free(config);
        return SL_FAILURE;
    }
    pipeline *p = sl_calloc(1, sizeof(*p));
    p->loop = loop;
    p->cfg = config_ref_new(config);
    p->opt = *options;
    p->ledger = ledger;
    uv_timer_init(loop, &p->sweep_timer);
    p->sweep_timer.data = p;
    uv_timer_init(loop, &p->stop_timer);
    p->stop_timer.data = p;
    uv_idle_init(loop, &p->pump_idle);
    p->pump_idle.data = p;
    p->open_handles = 3;
    *out = p;
    return SL_SUCCESS;
}

static void log_caps(const server_caps *caps, const char *mode)
{
    sl_log(SL_LOG_INFO, "server_probed", "staging_versioning", caps->staging_versioned ? "enabled" : "off",
           "conditional_delete", caps->conditional_delete ? "honoured" : "ignored", "copy_if_none_match",
           caps->copy_if_none_match ? "honoured" : "ignored", "copy_source_if_match",
           caps->copy_source_if_match ? "honoured" : "ignored", "mode", mode, NULL);
}

static void probed(pipeline *p, sl_result result, const server_caps *caps)
{
    if (p->stopping || p->destroyed || (sl_failed(result) && sl_error_last() == SL_ERR_CANCELLED)) return;
    if (sl_failed(result)) {
        char *why = sl_strdup(sl_error_detail());
        if (caps->probed) log_caps(caps, "refused"); /* every step ran: what was found refuses it */
        sl_log(SL_LOG_ERROR, "server_unsafe", "detail", why, NULL);
        if (p->opt.fatal) p->opt.fatal(p->opt.fatal_user, why);
        sl_free(why);
        return;
    }
    p->caps = *caps;
    const sl_config *c = config_of(p);
    log_caps(caps, caps->staging_versioned ? (c->worker.check_in_place ? "in_place" : "quarantine_first_by_version")
                                           : "quarantine_first_conditional_delete");
    if (sl_failed(shards_start(p))) {
        char *why = sl_strdup_printf("the cluster's leases cannot start: %s", sl_error_detail());
        sl_log(SL_LOG_ERROR, "cluster_failed", "detail", why, NULL);
        if (p->opt.fatal) p->opt.fatal(p->opt.fatal_user, why);
        sl_free(why);
        return;
    }
    uv_timer_start(&p->sweep_timer, watch_sweep_now, 0, sweep_interval(p));
    watch_start(p);
    sl_log(SL_LOG_INFO, "pipeline_started", NULL);
}

sl_result pipeline_start(pipeline *p)
{
    ENSURE(!p->started, SL_ERR_STATE, "the pipeline was started already");
    p->started = true;
    probe_start(p, probed);
    return SL_SUCCESS;
}

void pipeline_reload(pipeline *p, sl_config *config)
{
    if (p->shards != NULL && !shards_layout_same(p, config))
        sl_log(SL_LOG_WARN, "cluster_layout_kept", "detail",
               "routes or cluster.shards changed: the leases keep the layout the daemon started with (routes it does "
               "not know are not worked); restart every mover to change it", NULL);
    config_ref *old = p->cfg;
    p->cfg = config_ref_new(config);
    config_ref_drop(old);
    if (p->started && !p->stopping && p->caps.probed) {
        watch_retire(p);
        watch_start(p);
        uv_timer_start(&p->sweep_timer, watch_sweep_now, sweep_interval(p), sweep_interval(p));
    }
    sl_log(SL_LOG_INFO, "config_reloaded", NULL);
    pipeline_schedule(p);
}

void pipeline_kick(pipeline *p, const char *id)
{
    if (p->stopping || p->broken || sl_failed(artifact_id_check(sl_cursor_from_cstr(id)))) {
        sl_error_clear();
        return;
    }
    strset_remove(&p->settled, sl_cursor_from_cstr(id));
    queued *q = sl_calloc(1, sizeof(*q));
    q->cfg = config_ref_take(p->cfg);
    q->kind = ENTRY_KICK;
    snprintf(q->id, sizeof(q->id), "%s", id);
    (void)watch_enqueue(p, q); /* in flight or queued already: it is looked at anyway */
}

/* ---- stop ---- */

static void stop_now(uv_timer_t *t)
{
    pipeline *p = t->data;
    /* Grace is over. The owner now destroys the S3 client, which cancels what is still
     * running; those callbacks leave their artifacts where their bytes are. */
    char count[16];
    snprintf(count, sizeof(count), "%u", p->in_flight);
    sl_log(SL_LOG_WARN, "stop_grace_over", "in_flight", count, NULL);
    pipeline_stopped_fn *cb = p->stopped;
    p->stopped = NULL;
    if (cb) cb(p->stopped_user);
}

static void leases_released(void *user)
{
    pipeline *p = user;
    pipeline_stopped_fn *cb = p->stopped;
    p->stopped = NULL;
    if (cb) cb(p->stopped_user);
}

static void stopped_deferred(uv_timer_t *t)
{
    pipeline *p = t->data;
    if (p->shards != NULL) {
        /* nothing of this mover is in flight: the others may take its shards at once */
        shards_stop(p, LEASE_RELEASE_GRACE_MS, leases_released, p);
        return;
    }
    leases_released(p);
}

void pipeline_maybe_stopped(pipeline *p)
{
    if (!p->stopping || p->in_flight > 0 || p->stopped == NULL) return;
    uv_timer_stop(&p->stop_timer);
    uv_timer_start(&p->stop_timer, stopped_deferred, 0, 0);
}

static void drop_queue(pipeline *p)
{
    while (p->queue_head) {
        queued *q = p->queue_head;
        p->queue_head = q->next;
        strset_remove(&p->ids, sl_cursor_from_cstr(q->id));
        queued_free(q);
    }
    p->queue_tail = NULL;
    p->queue_count = 0;
}

void pipeline_stop(pipeline *p, uint64_t grace_ms, pipeline_stopped_fn *stopped, void *user)
{
    if (p->stopping) return;
    p->stopping = true;
    p->stopped = stopped;
    p->stopped_user = user;
    uv_timer_stop(&p->sweep_timer);
    uv_idle_stop(&p->pump_idle);
    watch_retire(p);
    drop_queue(p);
    executor_leave_waiters(p);
    sl_log(SL_LOG_INFO, "pipeline_stopping", "in_flight", p->in_flight ? "yes" : "no", NULL);
    if (p->in_flight == 0) {
        pipeline_maybe_stopped(p);
        return;
    }
    uv_timer_start(&p->stop_timer, stop_now, grace_ms, 0);
}

void pipeline_handle_released(pipeline *p)
{
    if (--p->open_handles == 0 && p->destroyed) {
        strset_clean_up(&p->ids);
        strset_clean_up(&p->ended);
        strset_clean_up(&p->settled);
        strset_clean_up(&p->promoting);
        sl_buf_clean_up(&p->sweep_token);
        audit_ledger_free(p->ledger);
        config_ref_drop(p->cfg);
        sl_free(p);
    }
}

static void handle_closed(uv_handle_t *h) { pipeline_handle_released(h->data); }

void pipeline_destroy(pipeline *p)
{
    if (p == NULL) return;
    p->destroyed = true;
    if (!p->stopping) {
        p->stopping = true;
        watch_retire(p);
    }
    drop_queue(p);
    probe_cancel(p);
    shards_destroy(p);
    uv_close((uv_handle_t *)&p->sweep_timer, handle_closed);
    uv_close((uv_handle_t *)&p->stop_timer, handle_closed);
    uv_close((uv_handle_t *)&p->pump_idle, handle_closed);
}

pipeline_stats pipeline_get_stats(const pipeline *p)
{
    pipeline_stats s = p->stats;
    s.in_flight = p->in_flight;
    s.queued = p->queue_count;
    s.broken = p->broken;
    shards_describe(p, &s);
    return s;
}
