/*
 * watch.c — the S3 probe and the pipeline stall detector (contract: watch.h).
 *
 * Both run on loop timers. The probe keeps the outcome of the last GetBucketVersioning
 * and when it came back; one probe is in flight at a time. The stall detector samples
 * pipeline_get_stats every second and remembers the last moment it saw progress (any
 * counter moved) or had no work at all; "stalled" is work pending with that moment
 * older than stall_after_ms. The timers are unreferenced: they never keep the loop alive.
 */
#include "service/watch.h"

#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "util/alloc.h"

#define SAMPLE_MS 1000

struct service_watch {
    uv_loop_t *loop;
    service_watch_options opt;
    char *bucket;
    uv_timer_t probe_timer, sample_timer;
    unsigned open_handles;
    bool stopping;
    bool probing;               /* a probe is in flight */
    bool probe_ok;              /* the last probe's outcome */
    bool probed;                /* a probe has come back */
    uint64_t last_answer_ms;    /* when the last probe came back (or the start) */
    char probe_detail[256];
    uint64_t progress;          /* the sum of the pipeline's counters at the last sample */
    uint64_t last_progress_ms;  /* when it last moved, or there was no work */
    unsigned pending;           /* in flight + queued at the last sample */
    bool stalled, unreachable;  /* as last logged */
    char s3_reason[320], pipeline_reason[320]; /* one each: both may be in use at once */
};

static void maybe_free(service_watch *w)
{
    if (!w->stopping || w->open_handles > 0 || w->probing) return;
    sl_free(w->bucket);
    sl_free(w);
}

static void on_handle_closed(uv_handle_t *h)
{
    service_watch *w = h->data;
    w->open_handles--;
    maybe_free(w);
}

static void on_probe(void *user, const s3_result *result, const s3_versioning *versioning)
{
    (void)versioning;
    service_watch *w = user;
    w->probing = false;
    if (result->error != SL_ERR_CANCELLED) {
        w->probed = true;
        w->last_answer_ms = uv_now(w->loop);
        w->probe_ok = result->error == SL_OK;
        if (!w->probe_ok)
            snprintf(w->probe_detail, sizeof(w->probe_detail), "%s", result->detail ? result->detail : "");
    }
    maybe_free(w);
}

static void on_probe_timer(uv_timer_t *t)
{
    service_watch *w = t->data;
    if (w->probing || w->stopping) return;
    if (sl_ok(s3_get_bucket_versioning(w->opt.client, sl_cursor_from_cstr(w->bucket), on_probe, w))) {
        w->probing = true;
        return;
    }
    w->probed = true;
    w->probe_ok = false;
    snprintf(w->probe_detail, sizeof(w->probe_detail), "the probe could not be sent: %s", sl_error_detail());
}

const char *service_watch_pipeline_fault(void *user);

static uint64_t progress_of(const pipeline_stats *s)
{
    return s->started + s->promoted + s->blocked + s->rejected + s->in_review + s->failed + s->purged + s->dropped +
           s->resumed;
}

static void on_sample_timer(uv_timer_t *t)
{
    service_watch *w = t->data;
    pipeline_stats st = pipeline_get_stats(w->opt.pipeline);
    uint64_t progress = progress_of(&st);
    w->pending = st.in_flight + st.queued;
    if (progress != w->progress || w->pending == 0) w->last_progress_ms = uv_now(w->loop);
    w->progress = progress;
    /* each fault is logged when it starts and when it ends */
    bool stalled = service_watch_pipeline_fault(w) != NULL;
    if (stalled != w->stalled)
        sl_log(stalled ? SL_LOG_WARN : SL_LOG_INFO, stalled ? "pipeline_stalled" : "pipeline_moving", "detail",
               stalled ? w->pipeline_reason : "artifacts change state again", NULL);
    w->stalled = stalled;
    bool unreachable = service_watch_s3_fault(w) != NULL;
    if (unreachable != w->unreachable)
        sl_log(unreachable ? SL_LOG_WARN : SL_LOG_INFO, unreachable ? "s3_unreachable" : "s3_reachable", "detail",
               unreachable ? w->s3_reason : "a probe of the staging bucket succeeded", NULL);
    w->unreachable = unreachable;
}

sl_result service_watch_start(uv_loop_t *loop, const service_watch_options *options, service_watch **out)
{
    ENSURE(loop != NULL && options != NULL && out != NULL && options->client != NULL && options->pipeline != NULL &&
               options->probe_bucket != NULL && options->probe_interval_ms > 0 && options->stall_after_ms > 0,
           SL_ERR_INVALID_ARGUMENT, "watch: incomplete options");
    service_watch *w = sl_calloc(1, sizeof(*w));
    w->loop = loop;
    w->opt = *options;
    w->bucket = sl_strdup(options->probe_bucket);
    w->opt.probe_bucket = w->bucket;
    w->probe_ok = true; /* until a probe says otherwise (the daemon has just talked to S3) */
    w->last_answer_ms = w->last_progress_ms = uv_now(loop);
    pipeline_stats st = pipeline_get_stats(options->pipeline);
    w->progress = progress_of(&st);
    uv_timer_init(loop, &w->probe_timer);
    uv_timer_init(loop, &w->sample_timer);
    w->probe_timer.data = w->sample_timer.data = w;
    w->open_handles = 2;
    uv_timer_start(&w->probe_timer, on_probe_timer, 0, options->probe_interval_ms);
    uv_timer_start(&w->sample_timer, on_sample_timer, SAMPLE_MS, SAMPLE_MS);
    uv_unref((uv_handle_t *)&w->probe_timer);
    uv_unref((uv_handle_t *)&w->sample_timer);
    *out = w;
    return SL_SUCCESS;
}

void service_watch_set_stall_after(service_watch *w, uint64_t stall_after_ms)
{
    if (w != NULL && stall_after_ms > 0) w->opt.stall_after_ms = stall_after_ms;
}

void service_watch_stop(service_watch *w)
{
    if (w == NULL || w->stopping) return;
    w->stopping = true;
    uv_close((uv_handle_t *)&w->probe_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->sample_timer, on_handle_closed);
}

const char *service_watch_s3_fault(void *user)
{
    service_watch *w = user;
    uint64_t silent = uv_now(w->loop) - w->last_answer_ms;
    if (w->probed && !w->probe_ok) {
        snprintf(w->s3_reason, sizeof(w->s3_reason), "S3 is unreachable or refuses the mover: %s", w->probe_detail);
        return w->s3_reason;
    }
    if (silent > 3 * w->opt.probe_interval_ms) {
        snprintf(w->s3_reason, sizeof(w->s3_reason), "S3 has not answered a probe of bucket %s for %llu s", w->bucket,
                 (unsigned long long)(silent / 1000));
        return w->s3_reason;
    }
    return NULL;
}

const char *service_watch_pipeline_fault(void *user)
{
    service_watch *w = user;
    uint64_t still = uv_now(w->loop) - w->last_progress_ms;
    if (w->pending == 0 || still < w->opt.stall_after_ms) return NULL;
    snprintf(w->pipeline_reason, sizeof(w->pipeline_reason),
             "the pipeline has stopped making changes: %u artifacts wait and none has moved for %llu s", w->pending,
             (unsigned long long)(still / 1000));
    return w->pipeline_reason;
}
