/*
 * pipeline_impl.h — what the pipeline's files share (private: nothing outside
 * mover/pipeline/ includes it).
 *
 *   pipeline.c   the engine's life: new, start (after the server probe), reload, stop,
 *                destroy, stats; configuration references; the scheduler that starts
 *                queued work on a later loop turn (ending one artifact never calls into
 *                the next one's start)
 *   probe.c      what the S3 server honours, found at start-up on scratch keys
 *   watch.c      the pollers of staging (ListObjectVersions or ListObjectsV2), the
 *                queue, the stale-listing guard, and the quarantine sweep's listing
 *   executor.c   the protocol executor: runs the rows of state/protocol.h, one request
 *                each, and advances by the table's (row, outcome) → next entries
 *   record.c     an artifact's record: state changes through the transitions table
 *                with their audit records, the ledger, manifests built from the artifact
 *   decide.c     decisions of reviewers and of the hook, and operator retries
 *   recheck.c    re-checks of artifacts in review with a new rule or signature set
 *
 * Threading: everything runs on the loop thread (the content checks use the thread
 * pool through pipeline/checks.h). Ownership: the pipeline owns its artifacts, queue,
 * pollers and configuration references; an artifact holds a reference to the
 * configuration it started under.
 */
#ifndef SLUICE_PIPELINE_IMPL_H
#define SLUICE_PIPELINE_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "log/log.h"
#include "pipeline/pipeline.h"
#include "state/ledger.h"
#include "state/manifest.h"
#include "state/protocol.h"
#include "state/store.h"
#include "util/buf.h"
#include "util/strset.h"

#define PIPELINE_MAX_EVENTS 16
#define S3_MAX_KEY_BYTES 1024 /* S3's limit for an object key */
#define PIPELINE_QUEUE_LIMIT 20000

/* ---- configuration references ---- */

/* A loaded configuration shared by the pipeline and every artifact that started under it
 * (SIGHUP replaces the pipeline's; artifacts in flight keep theirs). */
typedef struct config_ref {
    sl_config *config;
    unsigned refs;
} config_ref;

config_ref *config_ref_new(sl_config *config);
config_ref *config_ref_take(config_ref *r);
void config_ref_drop(config_ref *r);

/* ---- what the server honours (probe.c) ---- */

typedef struct server_caps {
    bool probed;                 /* every step of the probe ran */
    bool staging_versioned;      /* GetBucketVersioning on staging: Enabled */
    bool conditional_delete;     /* DeleteObject honours If-Match */
    bool copy_if_none_match;     /* CopyObject honours If-None-Match: * on the destination */
    bool copy_source_if_match;   /* CopyObject honours the copy-source ETag condition */
} server_caps;

typedef void probe_done_fn(pipeline *p, sl_result result, const server_caps *caps);

/* Probes the server on scratch keys under <control_prefix>probe/ and calls done (always
 * asynchronously). A result other than SL_SUCCESS means the pipeline must not run: the
 * detail says why and how to fix it. Transport failures are retried until it answers. */
void probe_start(pipeline *p, probe_done_fn *done);
/* The pipeline goes away: a probe still running ends without calling back into it. */
void probe_cancel(pipeline *p);

/* ---- the queue (watch.c) ---- */

typedef enum entry_kind {
    ENTRY_NEW,   /* a version first seen after the route's first full poll: ROW_ADMIT */
    ENTRY_SEEN,  /* may have been handled before: ROW_LOOK_MANIFEST */
    ENTRY_SWEEP, /* a quarantine copy: ROW_SWEEP_MANIFEST */
    ENTRY_KICK,  /* an id a decision or a retry asks about: ROW_SWEEP_MANIFEST */
} entry_kind;

typedef struct queued {
    struct queued *next;
    config_ref *cfg;
    size_t route;
    entry_kind kind;
    char id[SL_ARTIFACT_ID_LEN + 1];
    char *key;          /* staging key, or quarantine key for sweep entries (NULL for kicks) */
    char *etag;
    char *version_id;   /* staging version, or NULL */
    uint64_t size;
    int64_t modified_ms;
} queued;

/* ---- an artifact in flight ---- */

typedef struct artifact_event_rec {
    int64_t time_ms;
    artifact_state from, to;
    char *detail;
} artifact_event_rec;

typedef struct artifact artifact;
struct artifact {
    pipeline *p;
    config_ref *cfg;
    const sl_config_route *route;
    char id[SL_ARTIFACT_ID_LEN + 1];

    /* the upload */
    char *staging_key, *staging_etag, *staging_version;
    uint64_t size;
    int64_t modified_ms;
    char *task, *name;        /* "" when the key names no task */
    char *quarantine_key, *quarantine_etag, *trusted_key, *declared_type;

    /* where its bytes are read from: the staging version (in place) or quarantine */
    bool in_place;            /* checked and promoted straight from the staging version */
    bool source_quarantined;  /* the bytes are (also) in quarantine and are read there */

    /* the protocol */
    protocol_row row;
    artifact_state state;
    int verdict;              /* V_NONE, or the state the park rows record */
    char *verdict_detail;
    uint64_t row_started_ms;  /* for the retry budget of the current row */
    unsigned row_attempts;
    uv_timer_t *retry_timer;
    bool resumed;             /* resumed from what S3 showed (not this run's own work) */
    bool stopping_abandoned;

    /* what happened, for the manifest */
    artifact_event_rec events[PIPELINE_MAX_EVENTS];
    size_t event_count;
    findings findings;
    char sha256[65];
    char detected[128];

    /* the check */
    content_check *check;
    s3_get_object *get;
    bool key_checked;          /* the key rules ran (once) */
    size_t findings_before_read; /* findings of a read that did not finish are dropped */
    bool metadata_failed;
    bool check_aborted;        /* a limit stopped the read: that is a verdict */
    bool read_cancelled;
    protocol_outcome read_outcome;
    char *read_detail;

    /* a manifest it came with (resumed, adopted, reviewed), and its ETag */
    artifact_manifest *loaded;
    char *manifest_etag;
    size_t loaded_findings;

    unsigned requests;        /* S3 requests spent (the budget of a promotion) */
    bool kick;                /* started by a decision or a retry: only the id is known */
    bool copied;              /* this run made the copy to trusted */
    bool leftover;            /* a clean-up failed: the next listing of its id is a leftover */
    bool hook_ran;
    bool holds_key;           /* holds its trusted key in p->promoting */
    /* A HEAD of its trusted key found it free, sent while no other artifact of this
     * process was promoting to the key, and nothing has been copied to it since (a copy
     * clears it in every artifact of the key: trusted_key_written): promote_head skips. */
    bool trusted_free;
    artifact *next_waiter;
    int outcome;              /* the settling state this run recorded (promoted, blocked, ...), or -1 */
    artifact *prev, *next;
};

/* ---- the pipeline ---- */

typedef struct poller poller;

struct pipeline {
    uv_loop_t *loop;
    config_ref *cfg;
    pipeline_options opt;
    server_caps caps;
    struct probe *probe;       /* while the start-up probe runs */
    audit_ledger *ledger;

    /* watch */
    poller **pollers;
    size_t poller_count;
    uint64_t generation;       /* incremented at every listing request (staging and sweep) */
    strset ended;              /* id -> generation at which it ended (stale-listing guard) */
    size_t ended_after_prune;
    strset ids;                /* ids queued or in flight */
    uv_timer_t sweep_timer;
    bool sweeping;
    uint64_t sweep_generation;
    sl_buf sweep_token;
    size_t sweep_route;
    strset settled;            /* ids whose manifest says they wait (the sweep skips them) */

    /* queue and scheduling */
    queued *queue_head, *queue_tail;
    unsigned queue_count;
    uv_idle_t pump_idle;       /* starts queued work on the next loop turn */
    bool pump_scheduled;

    artifact *artifacts;
    unsigned in_flight;
    /* Trusted keys with a promotion under way: the HEAD-then-copy of one key is not
     * atomic where the server ignores If-None-Match on CopyObject, so two artifacts of
     * one key never promote at once — the second waits, then finds the first's object. */
    strset promoting;
    artifact *key_waiters;     /* waiting for a key in `promoting` (linked by next_waiter) */
    bool started, stopping, broken;
    uv_timer_t stop_timer;
    pipeline_stopped_fn *stopped;
    void *stopped_user;
    unsigned open_handles;
    bool destroyed;
    pipeline_stats stats;
};

static inline const sl_config *config_of(const pipeline *p) { return p->cfg->config; }
manifest_store pipeline_store(const pipeline *p, const config_ref *cfg);
uint64_t pipeline_jitter(uint64_t max);

/* Asks for queued work to be started on a later loop turn (never from inside). */
void pipeline_schedule(pipeline *p);
/* Called when the last artifact ended while stopping. */
void pipeline_maybe_stopped(pipeline *p);
void pipeline_handle_released(pipeline *p);

/* ---- watch.c ---- */

void watch_start(pipeline *p);
void watch_retire(pipeline *p);
void watch_sweep_now(uv_timer_t *t);
/* Queues an entry (takes ownership); false when the id is queued or in flight already. */
bool watch_enqueue(pipeline *p, queued *q);
void queued_free(queued *q);
/* The artifact ended: remember the generation, so a listing sent before it cannot bring
 * it back (the stale-listing guard). */
void watch_note_ended(pipeline *p, const char *id, bool leftover);

/* ---- executor.c ---- */

/* Starts an artifact for a queued entry (consumes it). */
void executor_start(pipeline *p, queued *q);
/* Runs the artifact's current row (p->row). */
void executor_run(artifact *a);
/* The outcome of the current row: advances by the table. */
void executor_advance(artifact *a, protocol_outcome outcome, const char *detail);
/* Stopping: artifacts waiting for a trusted key stay where their bytes are. */
void executor_leave_waiters(pipeline *p);
/* Ends the artifact (whatever its state: its bytes say where it is). */
void artifact_end(artifact *a, int end);

/* ---- record.c ---- */

void log_artifact(sl_log_level level, const char *event, const artifact *a, const char *detail);
/* Moves the artifact to `to` through the transitions table and records it (audit and
 * ledger). False when refused or when the audit log failed (the pipeline is then broken). */
bool record_move(artifact *a, artifact_state to, const char *detail);
/* Records a record for a change outside an artifact's own walk (the sweep, decisions):
 * the audit record and the ledger note. */
bool record_change(pipeline *p, const char *event, const char *id, const char *actor, int from, int to,
                   json_t *detail);
/* A clean-up of a settled artifact's leftover (not a transition). */
bool record_cleanup(artifact *a, const char *what);
/* The manifest of the artifact as it stands (fresh), or the loaded one brought up to
 * date. */
SL_MUST_CHECK sl_result record_manifest(artifact *a, artifact_manifest *fresh, const artifact_manifest **out);
/* The manifest's checked_with: the rule and signature set of `checks` (NULL for none). */
SL_MUST_CHECK sl_result set_checked_with(artifact_manifest *m, const sl_config_checks *checks);
/* Sets a JSON string member; text that is not UTF-8 is stored as "hex:...". */
void json_put(json_t *obj, const char *name, const char *value);
void pipeline_mark_broken(pipeline *p);

/* ---- decide.c ---- */

void decide_run_hook(artifact *a);

#endif /* SLUICE_PIPELINE_IMPL_H */
