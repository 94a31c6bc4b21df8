/*
 * shards.c — several movers on one configuration (docs/scaling.md): the work of each
 * route is split into `cluster.shards` parts by the hash of the task id (lease_shard_of),
 * and a mover works a part only while it holds that part's lease (lease/lease.h), named
 * "<route>/<k>-of-<n>". Without a `cluster` section there are no leases and everything
 * is this mover's.
 *
 * What holding a shard means to the rest of the pipeline:
 *   - watch.c queues a listed upload, a hint or a quarantine copy only when its shard is
 *     held, and counts an upload as NEW only once a whole listing that began after the
 *     shard was taken has ended (until then it may be a dead mover's half-done work:
 *     SEEN, looked at first);
 *   - executor.c checks the shard before EVERY row of an artifact, and leaves the
 *     artifact where its bytes are the moment it is not held (a lease lapses at its
 *     expiry minus a margin, so this happens before another mover can take it) or was
 *     taken again since the artifact started (its epoch changed: another mover may have
 *     worked the artifact meanwhile, and what this one remembers of it is stale — the
 *     protocol model's `two_movers_leases_no_epoch` shows the promotion contradicted);
 *   - a shard is released (to balance) only once no artifact of it is in flight;
 *   - a shard taken starts a sweep of quarantine, where a dead mover's work may wait.
 *
 * Threading: loop thread. Ownership: the pipeline owns its `shards`.
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lease/lease.h"
#include "util/alloc.h"

struct shards {
    pipeline *p;
    lease_set *leases;
    uint32_t n;                  /* shards per route */
    size_t route_count;
    strset routes;               /* route name -> index */
    uint64_t *taken_generation;  /* per lease: the listing generation when it was taken */
    uint64_t *epoch;             /* per lease: how many times it became held (an artifact started
                                    under one epoch may not go on under another) */
    unsigned *in_flight;         /* per lease: artifacts started and not ended */
    char *cluster_prefix;
    char *name;
    pipeline_stopped_fn *stopped;
    void *stopped_user;
};

static void changed(void *user, size_t index, bool held)
{
    shards *sh = user;
    pipeline *p = sh->p;
    if (!held) return; /* the executor checks at every row; the watch skips it from now */
    sh->taken_generation[index] = p->generation;
    sh->epoch[index]++;
    /* a dead mover's work waits in staging (listed again) and in quarantine (swept) */
    watch_shard_taken(p);
}

static bool busy(void *user, size_t index)
{
    shards *sh = user;
    return sh->in_flight[index] > 0;
}

sl_result shards_start(pipeline *p)
{
    const sl_config *c = config_of(p);
    if (!c->cluster.present) return SL_SUCCESS;
    shards *sh = sl_calloc(1, sizeof(*sh));
    sh->p = p;
    sh->n = c->cluster.shards;
    sh->route_count = c->route_count;
    size_t count = c->route_count * sh->n;
    char **names = sl_calloc(count, sizeof(char *));
    for (size_t r = 0; r < c->route_count; r++) {
        (void)strset_put(&sh->routes, sl_cursor_from_cstr(c->routes[r].name), r, true);
        for (uint32_t k = 0; k < sh->n; k++)
            names[r * sh->n + k] = sl_strdup_printf("%s/%u-of-%u", c->routes[r].name, k, sh->n);
    }
    sh->taken_generation = sl_calloc(count, sizeof(uint64_t));
    sh->in_flight = sl_calloc(count, sizeof(unsigned));
    sh->epoch = sl_calloc(count, sizeof(uint64_t));
    /* default name (docs/configuration.md): the host name and the process id */
    char host[256] = "";
    if (c->cluster.name == NULL && (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0'))
        snprintf(host, sizeof(host), "mover");
    sh->name = c->cluster.name ? sl_strdup(c->cluster.name) : sl_strdup_printf("%s-%ld", host, (long)getpid());
    sh->cluster_prefix = sl_strdup_printf("%scluster/", c->buckets.control_prefix);
    lease_options o = { .client = p->opt.client, .bucket = c->buckets.control, .prefix = sh->cluster_prefix,
                        .name = sh->name, .ttl_ms = c->cluster.lease_ttl_ms, .changed = changed, .busy = busy,
                        .user = sh };
    sl_result made = lease_set_new(p->loop, &o, (const char *const *)names, count, &sh->leases);
    for (size_t i = 0; i < count; i++) sl_free(names[i]);
    sl_free(names);
    p->shards = sh;
    GUARD(made);
    lease_set_start(sh->leases);
    char text[32];
    snprintf(text, sizeof(text), "%zu", count);
    sl_log(SL_LOG_INFO, "cluster_starting", "mover", sh->name, "instance", lease_set_instance(sh->leases), "leases",
           text, NULL);
    return SL_SUCCESS;
}

int shards_index(const pipeline *p, const char *route, sl_cursor task)
{
    const shards *sh = p->shards;
    if (sh == NULL) return SHARD_ALL;
    uint64_t r = 0;
    if (route == NULL || !strset_get(&sh->routes, sl_cursor_from_cstr(route), &r)) return SHARD_NONE;
    return (int)(r * sh->n + lease_shard_of(task, sh->n));
}

bool shards_held(const pipeline *p, int index)
{
    if (index == SHARD_ALL) return true;
    if (index < 0 || p->shards == NULL) return false;
    return lease_set_holds(p->shards->leases, (size_t)index);
}

uint64_t shards_valid_until(const pipeline *p, int index)
{
    if (index < 0 || p->shards == NULL) return 0;
    return lease_set_valid_until(p->shards->leases, (size_t)index);
}

uint64_t shards_epoch(const pipeline *p, int index)
{
    if (index < 0 || p->shards == NULL) return 0;
    return p->shards->epoch[index];
}

bool shards_clean(const pipeline *p, int index, uint64_t cycle_started)
{
    if (index == SHARD_ALL) return true;
    if (index < 0 || p->shards == NULL) return false;
    return p->shards->taken_generation[index] < cycle_started;
}

void shards_enter(pipeline *p, int index)
{
    if (index >= 0 && p->shards != NULL) p->shards->in_flight[index]++;
}

void shards_leave(pipeline *p, int index)
{
    if (index >= 0 && p->shards != NULL && p->shards->in_flight[index] > 0) p->shards->in_flight[index]--;
}

bool shards_layout_same(const pipeline *p, const sl_config *fresh)
{
    const shards *sh = p->shards;
    if (sh == NULL) return !fresh->cluster.present;
    if (!fresh->cluster.present || fresh->cluster.shards != sh->n || fresh->route_count != sh->route_count) return false;
    for (size_t r = 0; r < fresh->route_count; r++) {
        uint64_t i = 0;
        if (!strset_get(&sh->routes, sl_cursor_from_cstr(fresh->routes[r].name), &i) || i != r) return false;
    }
    return true;
}

static void leases_released(void *user)
{
    shards *sh = user;
    pipeline_stopped_fn *cb = sh->stopped;
    sh->stopped = NULL;
    if (cb) cb(sh->stopped_user);
}

void shards_stop(pipeline *p, uint64_t grace_ms, pipeline_stopped_fn *done, void *user)
{
    shards *sh = p->shards;
    sh->stopped = done;
    sh->stopped_user = user;
    lease_set_stop(sh->leases, grace_ms, leases_released, sh);
}

void shards_describe(const pipeline *p, pipeline_stats *st)
{
    if (p->shards == NULL) return;
    lease_stats ls = lease_set_get_stats(p->shards->leases);
    st->shards_held = ls.held;
    st->shards_total = (unsigned)(p->shards->route_count * p->shards->n);
    st->movers = ls.members;
    st->leases_lost = ls.lost;
}

void shards_destroy(pipeline *p)
{
    shards *sh = p->shards;
    if (sh == NULL) return;
    p->shards = NULL;
    lease_set_destroy(sh->leases);
    strset_clean_up(&sh->routes);
    sl_free(sh->taken_generation);
    sl_free(sh->in_flight);
    sl_free(sh->epoch);
    sl_free(sh->cluster_prefix);
    sl_free(sh->name);
    sl_free(sh);
}
