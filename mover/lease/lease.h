/*
 * lease.h — leases on S3 objects: which of several movers works which part of the work,
 * with S3's conditional writes as the only coordination (docs/scaling.md).
 *
 * A lease set knows a fixed list of lease NAMES ("reports/0-of-4"); each is one object,
 * <prefix>leases/<name>, whose JSON names its holder (a random instance id per process).
 * Every ttl/4 the set lists <prefix> (one ListObjectsV2 for the leases and the members),
 * writes its own member object <prefix>movers/<instance> (a heartbeat: others count the
 * movers alive), renews each lease it holds with If-Match its ETag, and balances: a mover
 * holding fewer than its share takes leases that are absent (If-None-Match: *), released
 * (holder ""), or expired, and one holding more than its share releases some once the
 * work of those leases has left (lease_busy_fn).
 *
 * Time. A holder counts a lease valid until the moment it SENT its last successful write
 * plus ttl minus a margin (ttl/4), on its own monotonic clock (so a process paused past
 * that — SIGSTOP, a stalled VM — finds its leases invalid when it wakes). Another mover
 * counts a lease expired only once it has seen the same ETag for ttl on its own monotonic
 * clock, measured from the listing that first showed it; no clocks are compared between
 * machines. Between a holder's last valid moment and another's take there is therefore at
 * least the margin, whatever the network did. A write that did not get a clear answer is
 * resolved by reading the object: our instance id and write counter in it mean the write
 * happened (counted from the time it was sent).
 *
 * A lease that lapses (renewals failing, or a pause) is dropped at once (changed(false));
 * it is taken back only with If-Match on the ETag this process last wrote, i.e. only if
 * nobody took it meanwhile.
 *
 * Threading: loop thread only. Ownership: the set copies its options' strings and the
 * names; the client must outlive it (destroy the set after the client has cancelled its
 * requests, or after lease_set_stop has called back). Callbacks never run from inside a
 * call of this API.
 */
#ifndef SLUICE_LEASE_LEASE_H
#define SLUICE_LEASE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "s3/client.h"
#include "util/error.h"

#define LEASE_INSTANCE_LEN 32 /* hex characters of an instance id */
#define LEASE_MIN_TTL_MS 3000

typedef struct lease_set lease_set;

/* A lease became valid (held) or stopped being valid for this process. */
typedef void lease_changed_fn(void *user, size_t index, bool held);
/* Whether work of lease `index` is still in flight (a lease is released only once not). */
typedef bool lease_busy_fn(void *user, size_t index);
typedef void lease_stopped_fn(void *user);

typedef struct lease_options {
    s3_client *client;
    const char *bucket;   /* the control bucket: an unversioned bucket where conditional PUTs hold */
    const char *prefix;   /* "<control_prefix>cluster/": ends with "/" */
    const char *name;     /* the mover's name, shown in its objects */
    uint64_t ttl_ms;      /* >= LEASE_MIN_TTL_MS */
    lease_changed_fn *changed;
    lease_busy_fn *busy;  /* may be NULL: never busy */
    void *user;
} lease_options;

typedef struct lease_stats {
    uint64_t scans;       /* listings of the prefix that completed */
    uint64_t taken;       /* leases taken (absent, released or expired) */
    uint64_t renewed;
    uint64_t released;
    uint64_t lost;        /* held, then invalid: lapsed, or another mover took it */
    unsigned held;        /* valid now */
    unsigned members;     /* movers alive as last seen, this one included */
} lease_stats;

/* Creates a set of `count` (1..65536) leases named `names` (each 1..200 bytes of
 * [A-Za-z0-9._/-], no two equal). Errors: SL_ERR_INVALID_ARGUMENT. Nothing is held
 * until lease_set_start has run a scan. */
SL_MUST_CHECK sl_result lease_set_new(uv_loop_t *loop, const lease_options *options, const char *const *names,
                                      size_t count, lease_set **out);

/* Starts scanning (the first scan at once). */
void lease_set_start(lease_set *set);

/* Whether this process holds lease `index` now: taken or renewed, not lapsed (checked
 * against the monotonic clock at the call), not being released. */
bool lease_set_holds(const lease_set *set, size_t index);

/* Until when (monotonic ms, uv_hrtime() / 1e6) lease `index` stays valid unless renewed;
 * 0 when it is not held now. */
uint64_t lease_set_valid_until(const lease_set *set, size_t index);

/* This process's instance id (LEASE_INSTANCE_LEN hex characters). */
const char *lease_set_instance(const lease_set *set);

lease_stats lease_set_get_stats(const lease_set *set);

/* Stops: nothing is held from now on; every lease this process holds is released (holder
 * "", If-Match) and its member object deleted, for at most grace_ms; then `done` runs
 * (asynchronously, once). */
void lease_set_stop(lease_set *set, uint64_t grace_ms, lease_stopped_fn *done, void *user);

/* Which of `shards` (>= 1) parts a piece of work belongs to: FNV-1a (64 bits) of `key`,
 * modulo shards. Stable across processes, versions and machines. */
uint32_t lease_shard_of(sl_cursor key, uint32_t shards);

/* Frees the set (NULL is fine). Requests still in flight must have been cancelled (the
 * client destroyed) or finished; keep running the loop until its timers close. */
void lease_set_destroy(lease_set *set);

#endif /* SLUICE_LEASE_LEASE_H */
