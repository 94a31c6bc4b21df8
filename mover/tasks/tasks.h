/*
 * tasks.h — the task registry: interpreter tasks and their upload grants, on the
 * daemon's loop.
 *
 * How the parts fit (the files are listed in tasks_impl.h). A task (state/task.h) is
 * opened by an orchestrator through the API (api/task_endpoints.h turns the registry's
 * typed results into JSON): the registry checks the request against the configuration
 * (route, grant kind, TTL, limits, reference keys), makes the grant, writes the task
 * manifest <control_prefix>tasks/<id>.json with If-None-Match: * (through the manifest
 * store of state/store.h), appends the audit records "task_open" (and
 * "task_reference_grant" naming each reference key), waits until the audit log has synced
 * them, and only then hands out the grant — made with the grants identity, never the
 * mover's. A grant is either presigned:
 *
 *   - one presigned PUT URL per named key, signed with the headers
 *       If-None-Match: *                          (radosgw honours it: a key is written once,
 *                                                  a second PUT gets 412)
 *       x-amz-acl: bucket-owner-full-control      (else the mover could not read the object)
 *     and, for a key given with a size, Content-Length: <size> (radosgw checks it: any
 *     other length is 403 SignatureDoesNotMatch). The client must send these headers
 *     exactly; the grant lists them in "put_headers".
 *   - a presigned POST policy for free-form names: {"bucket"}, ["starts-with","$key",
 *     "<staging_prefix><task>/"], ["content-length-range",0,max_bytes],
 *     {"acl":"bucket-owner-full-control"} (the POST form's name for the canned ACL;
 *     radosgw ignores an "x-amz-acl" form field, so that object would be unreadable by
 *     the mover), expiring with the task.
 *   Both end at or before the task's expires_at (the signing time is rounded down and the
 *   lifetime is whole seconds up to expires_at), and no TTL exceeds grants.max_ttl nor
 *   SigV4's 7 days.
 * or STS credentials (a route with "sts": true): AssumeRole of grants.sts.role_arn with
 * the task id as the session name and a session policy that allows only PutObject under
 * the task's prefix, until its expiry (tasks/grants_sts.c has the details). Either kind
 * may carry reference reads: presigned GETs, or GetObject in the session policy, for
 * exactly the keys the task asked for from its route's allowlist; never a listing.
 *
 * Closing (task_registry_close) writes the manifest with If-Match (the ETag it read) and
 * audits "task_close"; at the TTL a timer writes `expired` and audits "task_expire" (and
 * any lookup treats a task past its expires_at as expired, whatever is stored).
 *
 * The pipeline asks task_registry_admit before it quarantines each staging object:
 *   - unknown task (no manifest: GET 404), a route other than the task's, or a corrupt
 *     manifest: reject;
 *   - uploaded (S3's LastModified) at or after the close — or, for a task never closed,
 *     at or after expires_at: reject. An object uploaded before the close is accepted
 *     even if the pipeline sees it later;
 *   - a name the limits do not allow (with keys or a name pattern), a size over the
 *     task's max_bytes, a size other than the one a sized key was granted for: reject;
 *   - with max_objects: the count of admitted objects. Each admitted object is recorded
 *     by a fingerprint of (name, LastModified, size) in the manifest's "accepted" list,
 *     written with If-Match BEFORE the verdict is given. So the count survives restarts
 *     and crashes exactly: listing the same object again (after a crash, or because its
 *     quarantine failed) finds its fingerprint and is accepted without counting twice; a
 *     new upload under the same name (a POST can overwrite) is a new object and counts.
 *     Admits that arrive while a write is in flight are decided together and written
 *     once (group commit). Tasks without max_objects cost no write at all;
 *   - anything else is accepted.
 * A task is read from S3 once and cached (at most cache_max tasks, least recently used
 * dropped first; unknown ids are cached as unknown — an id cannot become known later,
 * because its grants exist only after its manifest). A cached task that can still change
 * is read again when its copy is older than refresh_ms, so a close made through another
 * mover is seen within refresh_ms (the daemon that closed it knows at once).
 *
 * Times: "uploaded after the close" compares S3's LastModified with the mover's clock at
 * the close; clocks that disagree by d seconds move that line by d.
 *
 * Listing (task_registry_list) and start-up (task_registry_start) read the task
 * manifests changed within the last 7 days (older ones are past their expiry by
 * construction): one LIST per 1000 tasks and one GET per task not already cached, at most
 * 16 at a time. The start-up pass caches live tasks and expires overdue ones, so a
 * restart does not lose the TTL timers.
 *
 * Threading: loop thread only. Callbacks: every callback runs asynchronously, exactly
 * once, for each call that returned SL_SUCCESS (a call that fails has no callback) —
 * except that task_registry_destroy runs every pending callback (with TASK_UNAVAILABLE /
 * TASK_OUTCOME_UNAVAILABLE) before it returns; after it, no callback of the registry
 * runs again. Ownership: the registry copies what it needs from the configuration and
 * the grant credentials; the S3 client and the audit log are borrowed and must outlive
 * it, or — for the client — be destroyed first (its cancelled requests end the
 * registry's operations with TASK_UNAVAILABLE, and the registry makes no further
 * requests).
 */
#ifndef SLUICE_TASKS_TASKS_H
#define SLUICE_TASKS_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "audit/audit.h"
#include "config/config.h"
#include "s3/client.h"
#include "s3/credentials.h"
#include "s3/sigv4.h"
#include "state/task.h"
#include "util/error.h"

typedef struct task_registry task_registry;

typedef struct task_registry_options {
    s3_client *client;                       /* the mover's identity: reads and writes task manifests */
    audit_log *audit;
    /* The identity that signs grants (grants.credentials); copied. NULL: the registry
     * opens no tasks (TASK_OUTCOME_UNAVAILABLE) but still admits, closes and lists. */
    const s3_credentials *grant_credentials;
    /* The mover's access key id, when known: grant credentials with the same key id are
     * refused (a grant must never carry the mover's rights). */
    const char *mover_access_key_id;
    /* Where interpreters reach S3, for the grant URLs: http(s)://host[:port]. NULL: the
     * configuration's s3.endpoint. */
    const char *grant_endpoint;
    size_t cache_max;    /* tasks kept in memory; 0 = 10000 (at least 16) */
    uint64_t refresh_ms; /* a cached live task is read again after this; 0 = 5000 */
} task_registry_options;

/* Creates the registry (it starts nothing: see task_registry_start). Copies from `config`
 * the endpoint, region, addressing, staging and control buckets, control prefix, grant
 * TTLs and each route's name, staging prefix and checks.max_bytes. Errors
 * (SL_ERR_INVALID_ARGUMENT): no client or audit log, a bad grant endpoint, grant
 * credentials with the mover's key id. */
SL_MUST_CHECK sl_result task_registry_new(uv_loop_t *loop, const sl_config *config,
                                          const task_registry_options *options, task_registry **out);

/* Starts the expiry timer and the start-up pass over recent task manifests (in the
 * background; its failures are logged and retried by later lookups). */
SL_MUST_CHECK sl_result task_registry_start(task_registry *r);

/* Takes the new configuration's routes, buckets and TTLs (SIGHUP). Operations already
 * decided keep what they were decided with; cached tasks are read again when the
 * control bucket or prefix changed. Errors as for task_registry_new (nothing changes). */
SL_MUST_CHECK sl_result task_registry_reload(task_registry *r, const sl_config *config);

/* See the contract in the paragraph on callbacks above. NULL is fine. Keep running the
 * loop until its handles are closed. */
void task_registry_destroy(task_registry *r);

/* ---- the pipeline seam ---- */

typedef enum task_verdict { TASK_ACCEPT, TASK_REJECT, TASK_UNAVAILABLE } task_verdict;

/* "accept", "reject", "unavailable". */
const char *task_verdict_name(task_verdict verdict);

/* `reason`: NULL for TASK_ACCEPT; otherwise one line for the manifest and the audit
 * record ("uploaded at …, after the task was closed at …"), valid during the call. */
typedef void task_verdict_fn(void *user, task_verdict verdict, const char *reason);

/* May an object enter the pipeline? `modified_ms` is its LastModified (Unix ms) from the
 * listing: an object uploaded before the task was closed is still accepted; one after the
 * close, or for an expired or unknown task, or breaking a limit (count of accepted
 * objects, size, name), is rejected with a reason for the manifest. TASK_UNAVAILABLE: the
 * task could not be read (S3 error) — the pipeline leaves the object in staging and asks
 * again on the next poll. Always calls `done` asynchronously, exactly once, unless it
 * returns an error. Accepting counts the object. Errors (no callback):
 * SL_ERR_INVALID_ARGUMENT (NULL route, task id, name or done). */
SL_MUST_CHECK sl_result task_registry_admit(task_registry *r, const char *route, const char *task_id,
                                            const char *name, uint64_t size, int64_t modified_ms,
                                            task_verdict_fn *done, void *user);

/* ---- open, close, list, show: typed results ---- */

/* Outcomes of open, close, list and show: X(ENUM, "name"). */
#define SL_TASK_OUTCOMES(X)                                                    \
    X(TASK_OUTCOME_OK, "ok")                                                   \
    X(TASK_OUTCOME_CREATED, "created")                                         \
    X(TASK_OUTCOME_UNKNOWN_ROUTE, "unknown_route")                             \
    X(TASK_OUTCOME_BAD_TTL, "invalid_ttl")                                     \
    X(TASK_OUTCOME_BAD_REQUEST, "invalid_request")                             \
    X(TASK_OUTCOME_NOT_FOUND, "unknown_task")                                  \
    X(TASK_OUTCOME_NOT_OPEN, "task_not_open")                                  \
    X(TASK_OUTCOME_INTERNAL, "internal")                                       \
    X(TASK_OUTCOME_UNAVAILABLE, "unavailable")

typedef enum task_outcome {
#define SL_TASK_OUTCOME_ENUM(e, name) e,
    SL_TASK_OUTCOMES(SL_TASK_OUTCOME_ENUM)
#undef SL_TASK_OUTCOME_ENUM
        TASK_OUTCOME_COUNT
} task_outcome;

const char *task_outcome_name(task_outcome outcome); /* "unknown_route"; "internal" outside the enum */

/* A task as the registry knows it (valid during the callback). */
typedef struct task_info {
    const task_manifest *manifest; /* as stored (state/task.h) */
    task_state state;              /* effective: expired once past expires_at, whatever is stored */
    const char *bucket;            /* the staging bucket */
    const char *prefix;            /* "<staging_prefix><id>/"; NULL when the route is no longer configured */
} task_info;

typedef enum task_grant_kind { TASK_GRANT_PRESIGNED = 0, TASK_GRANT_STS } task_grant_kind;

/* "presigned", "sts". */
const char *task_grant_kind_name(task_grant_kind kind);
/* Parses those names; false (out unchanged) otherwise. */
bool task_grant_kind_from_name(const char *name, task_grant_kind *out);

/* The headers every presigned PUT is signed with; the client must send them exactly. */
#define TASK_PUT_IF_NONE_MATCH "*"
#define TASK_PUT_ACL "bucket-owner-full-control"

typedef struct task_url {
    const char *name; /* a key below the task's prefix (PUT), or a reference key (GET) */
    const char *url;  /* presigned; NULL for a reference key an STS session reads itself */
} task_url;

/* What an opened task hands to its interpreter (valid during the callback; the secrets
 * are wiped afterwards). */
typedef struct task_grant {
    task_grant_kind kind;
    int64_t expires_at_ms;            /* when the grant stops working at S3 (<= the task's expires_at) */
    /* TASK_GRANT_PRESIGNED: PUT URLs for the named keys, and a POST form (has_post) */
    const task_url *put_urls;
    size_t put_url_count;
    bool has_post;
    const char *post_url;
    const char *post_key_prefix;
    uint64_t post_max_bytes;
    const sigv4_form_field *post_fields;
    size_t post_field_count;
    /* TASK_GRANT_STS: temporary credentials whose session policy allows only PutObject
     * under the task's prefix (and GetObject of its reference keys) until expires_at */
    const char *access_key_id;
    const char *secret_access_key;    /* secret */
    const char *session_token;        /* secret */
    int64_t session_expires_at_ms;    /* STS's own Expiration (sessions last 15 min at least;
                                         the session policy ends them at expires_at) */
    const char *session_arn;          /* arn:…:sts::…:assumed-role/<role>/<task id> */
    const char *endpoint;             /* where to use them: the grant endpoint */
    const char *region;
    /* reference reads the task asked for (both kinds): presigned GETs, or (STS) the keys
     * its session may GetObject */
    const char *reference_bucket;     /* NULL without reference reads */
    const task_url *reference;
    size_t reference_count;
} task_grant;

typedef void task_open_fn(void *user, task_outcome outcome, const char *detail, const task_info *task,
                          const task_grant *grant);
/* close: the task after the change. `task` NULL unless OK. */
typedef void task_info_fn(void *user, task_outcome outcome, const char *detail, const task_info *task);
/* list: newest first. */
typedef void task_list_fn(void *user, task_outcome outcome, const char *detail, const task_info *tasks, size_t count);

typedef struct task_open_key {
    const char *name;
    bool has_size; /* sign the PUT URL with Content-Length: size */
    uint64_t size;
} task_open_key;

#define TASK_MAX_REFERENCE_KEYS 100 /* reference keys one task may ask for */

typedef struct task_open_params {
    const char *route;
    uint64_t ttl_ms;        /* 0 = grants.default_ttl; else 1 s .. min(grants.max_ttl, 7 d); STS:
                               also at most grants.sts.max_session */
    uint32_t max_objects;   /* 0 = no limit; else 1..SL_TASK_MAX_OBJECTS */
    uint64_t max_bytes;     /* per object; 0 = the route's checks.max_bytes, and never above it */
    const task_open_key *keys; /* names that get presigned PUT URLs (at most SL_TASK_MAX_KEYS) */
    size_t key_count;
    const char *name_pattern; /* NULL = none (state/task.h has the syntax) */
    bool no_post;           /* hand out no POST policy: PUT URLs only (needs keys) */
    task_grant_kind grant;  /* presigned (default) or STS credentials (the route needs "sts": true) */
    const char *const *reference; /* reference keys to read: each in the route's allowlist */
    size_t reference_count;       /* at most TASK_MAX_REFERENCE_KEYS */
} task_open_params;

/* Opens a task for `actor` (the caller's user name). Outcomes: TASK_OUTCOME_CREATED with
 * the task and its grant — presigned: PUT URLs (each key once) and a POST form (unless
 * no_post); STS: AssumeRole of grants.sts.role_arn by the grants identity, session name
 * the task id, DurationSeconds the TTL (at least STS's 900 s; the session policy's
 * aws:CurrentTime condition ends it at the task's expiry), a session policy allowing
 * PutObject under the task's prefix only; both: presigned GETs (or session-policy
 * GetObject) for exactly the reference keys asked for. TASK_OUTCOME_UNKNOWN_ROUTE,
 * _BAD_TTL, _BAD_REQUEST (nothing written; a grant kind the route does not allow, a
 * reference key outside its allowlist); _UNAVAILABLE (no grant identity or no STS, S3 or
 * STS failed, the audit log failed earlier); _INTERNAL (the manifest was written but an
 * audit record or its sync failed: no grant is handed out). The audit log holds
 * "task_open" (with the grant's kind and, for STS, the session) and, with reference keys,
 * "task_reference_grant" naming each key. Errors (no callback): SL_ERR_INVALID_ARGUMENT
 * for NULL params, actor or done. */
SL_MUST_CHECK sl_result task_registry_open(task_registry *r, const task_open_params *params, const char *actor,
                                           task_open_fn *done, void *user);

/* Closes task `id` for `actor`. Outcomes: TASK_OUTCOME_OK with the task; _NOT_FOUND
 * (unknown id, or not a valid id); _NOT_OPEN (closed or expired already: nothing
 * changes); _UNAVAILABLE (S3 failed); _INTERNAL (closed, but the audit record or its sync
 * failed). */
SL_MUST_CHECK sl_result task_registry_close(task_registry *r, const char *id, const char *actor,
                                            task_info_fn *done, void *user);

typedef enum task_list_filter {
    TASK_LIST_LIVE = 0, /* open and closed, not yet expired */
    TASK_LIST_OPEN,
    TASK_LIST_CLOSED,
    TASK_LIST_EXPIRED,
    TASK_LIST_ALL,
} task_list_filter;

/* Parses "live", "open", "closed", "expired", "all"; false if none. */
bool task_list_filter_from_name(const char *name, task_list_filter *out);

/* Lists the tasks changed within the last 7 days that pass `filter`, newest first:
 * TASK_OUTCOME_OK with the tasks; _UNAVAILABLE when the listing failed; tasks whose
 * manifest could not be read are left out (and logged). */
SL_MUST_CHECK sl_result task_registry_list(task_registry *r, task_list_filter filter, task_list_fn *done,
                                           void *user);

/* ---- attribution: what became of a task's objects ---- */

/* One object the task wrote, as the audit log tells its story. */
typedef struct task_object {
    const char *artifact;    /* artifact id */
    const char *name;        /* the key below the task's prefix */
    const char *state;       /* the last state recorded (state/artifact.h's names) */
    const char *trusted_key; /* promoted: where; NULL otherwise */
    const char *reason;      /* why (the last transition's detail), for blocked, rejected, expired,
                                failed…; NULL when none was recorded */
    const char *sha256;      /* when it was hashed; NULL otherwise */
    const char *findings;    /* an object that ended outside trusted: its manifest's findings other
                                than pass ("type fail: …; extension fail: …"); NULL otherwise */
    int64_t first_ms, last_ms; /* its first and last record */
    size_t records;          /* audit records about it */
} task_object;

/* One audit record of the task itself: task_open (with its grant), task_reference_grant
 * (with the keys), task_close, task_expire. */
typedef struct task_event_record {
    const char *event;
    int64_t time_ms;
    const char *actor;
    const char *detail_json; /* the record's detail as compact JSON, or NULL */
} task_event_record;

typedef struct task_report {
    const task_info *task;
    const task_event_record *events; /* in log order */
    size_t event_count;
    const task_object *objects;      /* in the order they first appear */
    size_t object_count;
    uint64_t lines_read;             /* audit lines read */
    bool truncated;                  /* more than TASK_SHOW_MAX_OBJECTS objects or events: the rest left out */
} task_report;

#define TASK_SHOW_MAX_OBJECTS 10000

typedef void task_show_fn(void *user, task_outcome outcome, const char *detail, const task_report *report);

/* Everything about task `id`: its manifest (read from S3) and every audit record that
 * names it or one of its objects (the local audit log, read on the thread pool, whole:
 * objects are recognised by their staging key, "<staging_prefix><id>/<name>").
 * Outcomes: TASK_OUTCOME_OK; _NOT_FOUND (no such task); _UNAVAILABLE (S3 failed, the
 * audit log could not be read). */
SL_MUST_CHECK sl_result task_registry_show(task_registry *r, const char *id, task_show_fn *done, void *user);

/* A task's limits as JSON, as the audit record of task_open and the API show them:
 * {"max_objects"?, "max_bytes", "keys"?: [{"name", "size"?}], "name_pattern"?} (a new
 * reference). */
json_t *task_limits_json(const task_limits *limits);

/* ---- for tests and metrics ---- */

typedef struct task_registry_stats {
    size_t cached;          /* tasks in memory */
    uint64_t reads;         /* GETs of task manifests */
    uint64_t writes;        /* PUTs of task manifests */
    uint64_t opened, closed, expired;
    uint64_t accepted, rejected, unavailable; /* admit verdicts */
} task_registry_stats;

task_registry_stats task_registry_get_stats(const task_registry *r);

#endif /* SLUICE_TASKS_TASKS_H */
