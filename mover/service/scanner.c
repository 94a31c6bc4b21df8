/*
 * scanner.c — the health check of a required scanner (contract: scanner.h).
 *
 * One loop timer (unreferenced: it never keeps the loop alive) starts a probe when none
 * is out; the probe runs clamd_pool_probe on libuv's work queue into `work_*`, which the
 * loop reads back in after_probe. The last outcome and when it came back decide the
 * fault; the reason is built on the loop into `reason`.
 */
#include "service/scanner.h"

#include <stdbool.h>
#include <stdio.h>

#include "checks/clamd.h"
#include "log/log.h"
#include "util/alloc.h"
#include "util/buf.h"

#define PROBE_TIMEOUT_MS 5000

struct scanner_watch {
    uv_loop_t *loop;
    clamd_pool *pool;
    char *socket;
    uint64_t interval_ms;
    uv_timer_t timer;
    uv_work_t work;
    bool timer_open, probing, stopping;
    /* written by the probe on the pool, read on the loop after it */
    bool work_ok;
    sl_buf work_detail;
    /* the loop's view */
    bool probed, ok, unreachable_logged;
    uint64_t sent_ms;
    sl_buf detail, reason;
};

static void maybe_free(scanner_watch *w)
{
    if (!w->stopping || w->timer_open || w->probing) return;
    clamd_pool_destroy(w->pool);
    sl_buf_clean_up(&w->work_detail);
    sl_buf_clean_up(&w->detail);
    sl_buf_clean_up(&w->reason);
    sl_free(w->socket);
    sl_free(w);
}

static void on_timer_closed(uv_handle_t *h)
{
    scanner_watch *w = h->data;
    w->timer_open = false;
    maybe_free(w);
}

static void run_probe(uv_work_t *req)
{
    scanner_watch *w = req->data;
    char version[256];
    sl_buf_reset(&w->work_detail);
    w->work_ok = sl_ok(clamd_pool_probe(w->pool, version, sizeof(version)));
    if (!w->work_ok && sl_failed(sl_buf_append_cstr(&w->work_detail, sl_error_detail()))) sl_error_clear();
}

static void after_probe(uv_work_t *req, int status)
{
    scanner_watch *w = req->data;
    w->probing = false;
    if (w->stopping || status == UV_ECANCELED) {
        maybe_free(w);
        return;
    }
    w->probed = true;
    w->ok = w->work_ok;
    sl_buf_reset(&w->detail);
    if (sl_failed(sl_buf_append(&w->detail, w->work_detail.data, w->work_detail.len))) sl_error_clear();
    if (!w->ok && !w->unreachable_logged) {
        sl_log(SL_LOG_WARN, "scanner_unreachable", "scanner", "clamd", "socket", w->socket, "detail",
               sl_buf_cstr(&w->detail), NULL);
        w->unreachable_logged = true;
    } else if (w->ok && w->unreachable_logged) {
        sl_log(SL_LOG_INFO, "scanner_reachable", "scanner", "clamd", "socket", w->socket, NULL);
        w->unreachable_logged = false;
    }
}

static void on_timer(uv_timer_t *t)
{
    scanner_watch *w = t->data;
    if (w->probing) return;
    w->work.data = w;
    if (uv_queue_work(w->loop, &w->work, run_probe, after_probe) != 0) return; /* the next tick tries again */
    w->probing = true;
    w->sent_ms = uv_now(w->loop);
}

sl_result scanner_watch_start(uv_loop_t *loop, const sl_config *config, uint64_t probe_interval_ms,
                              scanner_watch **out)
{
    *out = NULL;
    bool required = false;
    for (size_t i = 0; i < config->route_count; i++) required = required || config->routes[i].checks.clamav;
    if (!required) return SL_SUCCESS;
    ENSURE(probe_interval_ms > 0, SL_ERR_INVALID_ARGUMENT, "scanner watch: probe interval 0");
    /* a probe waits at most PROBE_TIMEOUT_MS: a hung clamd must not hold the daemon's stop */
    uint64_t timeout = config->clamav.timeout_ms < PROBE_TIMEOUT_MS ? config->clamav.timeout_ms : PROBE_TIMEOUT_MS;
    clamd_options o = { .socket = config->clamav.socket, .timeout_ms = timeout, .connections = 1 };
    clamd_pool *pool;
    GUARD(clamd_pool_new(&o, &pool));
    scanner_watch *w = sl_calloc(1, sizeof(*w));
    w->loop = loop;
    w->pool = pool;
    w->socket = sl_strdup(config->clamav.socket);
    w->interval_ms = probe_interval_ms;
    w->ok = true; /* until the first probe says otherwise */
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->timer_open = true;
    uv_unref((uv_handle_t *)&w->timer);
    uv_timer_start(&w->timer, on_timer, 0, probe_interval_ms);
    *out = w;
    return SL_SUCCESS;
}

const char *scanner_watch_fault(scanner_watch *w)
{
    if (w == NULL) return NULL;
    sl_buf_reset(&w->reason);
    sl_result r = SL_SUCCESS;
    uint64_t out_for = w->probing ? uv_now(w->loop) - w->sent_ms : 0;
    if (w->probing && out_for >= 3 * w->interval_ms)
        r = sl_buf_appendf(&w->reason, "clamd at %s has not answered for %llu s", w->socket,
                           (unsigned long long)(out_for / 1000));
    else if (w->probed && !w->ok)
        r = sl_buf_appendf(&w->reason, "clamd at %s cannot be reached: %s", w->socket, sl_buf_cstr(&w->detail));
    else
        return NULL;
    if (sl_failed(r)) {
        sl_error_clear();
        return "clamd cannot be reached";
    }
    return sl_buf_cstr(&w->reason);
}

void scanner_watch_stop(scanner_watch *w)
{
    if (w == NULL || w->stopping) return;
    w->stopping = true;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}
