/*
 * tasks_impl.h — what the parts of the task registry (tasks.h) share; private to
 * mover/tasks/.
 *
 * The parts:
 *   registry.c    the registry's life (new, start, reload — with the audit of policy
 *                 changes —, destroy), deferred delivery of every answer, the audit of
 *                 task events, the pipeline seam (admit) and close
 *   cache.c       the tasks in memory: entries by id in an LRU list, each with a FIFO of
 *                 operations decided on a fresh copy of its manifest and written back
 *                 with If-Match (group commit of admits), and the expiry timer
 *   open.c        opening a task: validate, grant, write the manifest (If-None-Match),
 *                 audit, sync, answer
 *   grants.c      presigned grants: PUT URLs, the POST form, reference GETs; the
 *                 reference allowlist check
 *   grants_sts.c  STS grants: the session policy and AssumeRole (s3/sts.h)
 *   listing.c     listing the task manifests, and the start-up pass
 *   show.c        attribution: a task's story from its manifest and the audit log
 * Manifests are read and written through the one conditional store of state/store.h.
 *
 * Memory: every S3 request, audit flush and thread-pool job in flight counts in
 * `io`; the registry is freed only when it is destroyed and `io` is back to 0 and its
 * handles are closed (maybe_free).
 * Threading: the loop thread, except show.c's audit scan (thread pool, on its own copy
 * of what it needs).
 */
#ifndef SLUICE_TASKS_TASKS_IMPL_H
#define SLUICE_TASKS_TASKS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "s3/control.h"
#include "s3/sigv4.h"
#include "s3/sts.h"
#include "state/store.h"
#include "state/task.h"
#include "tasks/tasks.h"
#include "util/buf.h"

#define REASON_MAX 512
#define TASKS_LIST_WINDOW_MS (SL_TASK_MAX_TTL_MS + 3600 * 1000) /* 7 days and an hour of clock slack */

/* ---- the configuration the registry keeps ---- */

typedef struct route_info {
    char *name;
    char *staging_prefix;
    uint64_t max_bytes;
    uint32_t max_key_length;
    bool sts;
    bool has_reference;
    char *reference_bucket;
    char **reference_keys;
    size_t reference_key_count;
    char **reference_prefixes;
    size_t reference_prefix_count;
} route_info;

typedef struct reg_config {
    char *scheme;        /* of the grant endpoint */
    char *host;          /* host[:port] of the grant endpoint */
    bool virtual_hosted;
    char *region;
    char *staging;
    char *control;
    char *control_prefix;
    char *audit_file;
    uint64_t default_ttl_ms;
    uint64_t max_ttl_ms;
    bool sts;            /* grants.sts is configured */
    char *sts_role_arn;
    char *sts_partition; /* of the role's ARN: "aws", … (session policy resources) */
    uint64_t sts_max_session_ms;
    bool sts_source_identity;
    route_info *routes;
    size_t route_count;
} reg_config;

const route_info *route_named(const reg_config *c, const char *name);

/* ---- the cache ---- */

typedef enum entry_status { ENTRY_EMPTY, ENTRY_LOADED, ENTRY_UNKNOWN, ENTRY_INVALID } entry_status;
typedef enum op_kind { OP_ADMIT, OP_CLOSE, OP_EXPIRE } op_kind;

typedef struct op {
    struct op *next;
    op_kind kind;
    char *route, *name, *actor;
    uint64_t size;
    int64_t modified_ms;
    unsigned conflicts; /* writes refused with 412 so far */
    bool counted;       /* its fingerprint is in the write in flight */
    task_verdict_fn *verdict_fn;
    task_info_fn *info_fn;
    void *user;
} op;

typedef struct entry {
    struct entry *hash_next;
    struct entry *lru_prev, *lru_next; /* lru_prev towards the most recent */
    struct entry *dirty_next;
    char *id;
    entry_status status;
    char *invalid_reason;
    task_manifest m;
    char etag[128];
    int64_t loaded_ms;
    bool stale;          /* read again before deciding */
    bool busy;           /* a GET or PUT in flight */
    bool dirty;          /* on the registry's dirty list */
    bool expire_queued;
    op *head, *tail;     /* waiting */
    op *batch;           /* decided, waiting for the write in flight */
    task_manifest next;  /* what is being written */
    bool has_next;
} entry;

/* ---- answers ---- */

/* A task as an answer owns it: the manifest and its prefix. */
typedef struct task_copy {
    task_manifest m;
    char *prefix; /* NULL when the route is gone */
} task_copy;

void task_copy_make(const reg_config *c, const task_manifest *m, task_copy *out);
void task_copy_clean_up(task_copy *t);

/* A grant as an answer owns it (open.c builds it, grants*.c fill it). */
typedef struct grant_data {
    task_grant_kind kind;
    int64_t expires_at_ms;
    task_url *puts;
    size_t put_count;
    bool has_post;
    char *post_url;
    char *post_key_prefix;
    uint64_t post_max_bytes;
    sigv4_post_form form;
    sts_credentials cred;
    char *endpoint;
    char *region;
    char *reference_bucket;
    task_url *refs;
    size_t ref_count;
} grant_data;

void grant_data_clean_up(grant_data *g); /* wipes the secrets */
void grant_data_view(const grant_data *g, task_grant *out);

/* The owned result of show.c. */
typedef struct show_data show_data;
void show_data_free(show_data *s);
void show_data_deliver(const show_data *s, const task_info *task, task_show_fn *fn, void *user);

typedef enum completion_kind { C_VERDICT, C_OPEN, C_INFO, C_LIST, C_SHOW } completion_kind;

typedef struct completion {
    struct completion *next;
    completion_kind kind;
    task_outcome outcome;
    task_verdict verdict;
    char *text; /* reason or detail */
    task_verdict_fn *verdict_fn;
    task_open_fn *open_fn;
    task_info_fn *info_fn;
    task_list_fn *list_fn;
    task_show_fn *show_fn;
    void *user;
    task_copy *tasks; /* owned: 1 for open, close and show; n for list */
    size_t task_count;
    grant_data *grant; /* owned: open */
    show_data *show;   /* owned: show */
} completion;

/* A request of the registry's own (open, list, show, an audit sync) that destroy must answer. */
typedef struct pending {
    struct pending *prev, *next;
    bool answered;
    unsigned io; /* its S3 requests / flushes / jobs in flight */
    void (*abandon)(struct pending *p); /* answer "unavailable" (if not answered yet) */
    void (*release)(struct pending *p); /* free it */
} pending;

struct task_registry {
    uv_loop_t *loop;
    reg_config *cfg;
    s3_client *client;
    audit_log *audit;
    s3_credentials grant_credentials;
    bool have_grants;
    char *mover_key_id;
    char *grant_endpoint;
    sigv4_key_cache *keys;
    s3_control *sts;     /* the grants identity's STS client (grants.sts and grant credentials) */
    size_t cache_max;
    uint64_t refresh_ms;

    entry **buckets;
    size_t bucket_count; /* power of two */
    size_t entry_count;
    entry *lru_head, *lru_tail;
    entry *dirty_head;

    completion *done_head, *done_tail;
    pending *pendings;

    uv_timer_t kick;
    bool kick_armed;
    uv_timer_t expiry;
    int64_t next_expiry_ms;

    bool started, destroyed, client_gone, broken, freed;
    unsigned io;
    unsigned open_handles;
    task_registry_stats stats;
};

/* ---- registry.c ---- */

void push_completion(task_registry *r, completion *c);
void answer_verdict(task_registry *r, op *o, task_verdict verdict, const char *reason);
/* answers a close (info), an open or a list with only an outcome and a detail */
void answer_info(task_registry *r, task_info_fn *fn, void *user, task_outcome outcome, const char *detail,
                 const task_manifest *m);
void answer_open_failure(task_registry *r, task_open_fn *fn, void *user, task_outcome outcome, const char *detail);
void deliver_all(task_registry *r);
void kick(task_registry *r);
void pending_add(task_registry *r, pending *p);
void pending_remove(task_registry *r, pending *p);
/* The first step of every callback of an S3 request, flush or job: false when the
 * registry is being destroyed (the caller frees its context and returns). */
bool io_back(task_registry *r);
void maybe_free(task_registry *r);
manifest_store task_store(const task_registry *r);
task_state effective_state(const task_manifest *m, int64_t now);
void format_duration(uint64_t ms, char out[32]);
void format_time(int64_t ms, char out[25]);
void printable(const char *s, char out[68]);

/* Appends the audit records (`details` stolen; `events` NULL-terminated), and then
 * hands `c` (taken; its outcome set to `success`) to its callback once the records are
 * on disk — or answers INTERNAL when they cannot be written or synced (a completion
 * without a callback is just freed). */
void audit_then_deliver(task_registry *r, const char *task, const char *const *events, const char *from,
                        const char *to, const char *actor, json_t **details, completion *c, task_outcome success,
                        const char *what);

/* ---- cache.c ---- */

entry *entry_find(task_registry *r, const char *id);
entry *entry_get(task_registry *r, const char *id);
void entry_free(entry *e);
void cache_op_free(op *o);
void evict(task_registry *r);
void set_stale_all(task_registry *r);
void enqueue(task_registry *r, entry *e, op *o);
void process(task_registry *r, entry *e);
void queue_expire(task_registry *r, entry *e);
void watch_expiry(task_registry *r, entry *e, int64_t now);
void arm_expiry(task_registry *r, int64_t at_ms);
void on_kick(uv_timer_t *t);
/* destroy: answers every waiting operation with "unavailable" and frees the idle entries */
void cache_abandon_all(task_registry *r);

/* ---- grants.c ---- */

/* Is `key` in the route's reference allowlist (exactly a key, or under a prefix)? */
bool reference_allowed(const route_info *route, const char *key);
/* Presigned PUT URLs for the manifest's keys and (post) the POST form; the grant ends at
 * or before the task's expires_at. */
SL_MUST_CHECK sl_result grants_sign_presigned(task_registry *r, const route_info *route, const task_manifest *m,
                                              bool post, grant_data *g);
/* Presigned GETs of the reference keys (grant identity), ending with the grant. */
SL_MUST_CHECK sl_result grants_sign_reference(task_registry *r, const route_info *route, const task_manifest *m,
                                              const char *const *keys, size_t count, grant_data *g);

/* ---- grants_sts.c ---- */

/* The session policy of a task: PutObject under its prefix and GetObject of its
 * reference keys, both until its expiry (aws:CurrentTime). Compact JSON into *out;
 * SL_ERR_LIMIT when it would pass STS_MAX_POLICY bytes. */
SL_MUST_CHECK sl_result sts_session_policy(const reg_config *c, const route_info *route, const task_manifest *m,
                                           const char *const *refs, size_t ref_count, sl_buf *out);
/* DurationSeconds for a task that ends at expires_at: its TTL in whole seconds (rounded
 * up), at least STS's 900. */
uint32_t sts_duration_seconds(const task_manifest *m);

typedef void grants_sts_fn(void *user, const s3_result *result, const sts_credentials *cred);
/* AssumeRole for the task (its id as the session name and, when configured, source
 * identity). Errors (no callback): no STS client, the policy too large. */
SL_MUST_CHECK sl_result grants_assume_role(task_registry *r, const route_info *route, const task_manifest *m,
                                           const char *const *refs, size_t ref_count, grants_sts_fn *done,
                                           void *user);

/* ---- listing.c ---- */

void list_start(task_registry *r, task_list_filter filter, task_list_fn *done, void *user);

#endif /* SLUICE_TASKS_TASKS_IMPL_H */
