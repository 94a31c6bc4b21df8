/*
 * config.h — sluice's configuration: one JSON file, loaded and validated with jansson.
 *
 * Validation is strict so that a typo can never silently switch a check off: unknown
 * keys are errors, every value has one type, durations ("500ms", "30s", "15m", "4h",
 * "7d") and sizes ("512", "100KiB", "100MiB", "5GiB"; also "kB/MB/GB/TB" as powers of
 * 1000) are parsed exactly, and every error names its JSON path and what was expected:
 *   routes[1].checks.max_bytes: expected a size such as "100MiB", got "100 megs"
 * sl_config_load collects EVERY error it finds (not just the first), in document order,
 * so `sluice-mover check-config` can print them all. Relative file paths are resolved
 * against the folder of the configuration file. Credentials are never in the file:
 * only where to find them (an AWS shared credentials file + profile, or the
 * environment). The loader does not open credentials files, the CA file, the audit file
 * or the socket (the daemon does, at start-up); the only files it requires to exist
 * and be readable are the rule files of `routes[].checks.rules` (compiled by the content
 * checks room, mover/checks/, which attaches the result to the config). The optional
 * `identities` section names the S3 principals for `sluice-mover policy`; the daemon
 * uses it only to check the live buckets at start.
 * docs/configuration.md and sluice.json(5) document every key, its default and its
 * validation; their key tables are generated from the schema tables in config.c
 * (config_doc.h), whose rows carry each key's documentation.
 *
 * Ownership: sl_config owns all of its strings and arrays; sl_config_free releases it.
 * A loaded config is immutable: share it read-only; SIGHUP builds a new one.
 * Threading: loading is reentrant; a loaded config may be read from any thread.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

/* The quarantine bucket's key layout starts with this prefix (q/<task>/<artifact>/<name>,
 * docs/design.md "Where things live"); a control prefix in the same bucket must not
 * start with it. */
#define SL_QUARANTINE_KEY_PREFIX "q/"

/* Shipped audit segments live under <control_prefix>audit/<audit.name>/ (audit/ship.h);
 * they are written once and never deleted, which the bucket policies enforce. */
#define SL_AUDIT_KEY_FOLDER "audit/"

/* SigV4 presigned URLs live at most 7 days (X-Amz-Expires <= 604800). */
#define SL_CONFIG_MAX_GRANT_TTL_MS (7ull * 24 * 3600 * 1000)

typedef enum sl_review_mode {
    SL_REVIEW_AUTO = 0,   /* all checks pass → approved */
    SL_REVIEW_HUMAN,      /* a reviewer decides */
    SL_REVIEW_TWO_PERSON, /* two different reviewers approve */
    SL_REVIEW_HOOK,       /* review.hook.command decides (or hands to a person) */
} sl_review_mode;

typedef enum sl_on_error {
    SL_ON_ERROR_BLOCK = 0, /* a check that cannot finish blocks the artifact */
    SL_ON_ERROR_REVIEW,    /* ... or sends it to a person (never to auto approval) */
} sl_on_error;

/* What a kind of content found by the embedded-content scan does to the artifact. */
typedef enum sl_embedded_action {
    SL_EMBEDDED_BLOCK = 0, /* a "fail" finding */
    SL_EMBEDDED_REVIEW,    /* a "review" finding: a person decides */
    SL_EMBEDDED_IGNORE,    /* a "pass" finding that still names what was seen */
} sl_embedded_action;

/* The compiled form of a route's checks (rules, signatures), made by the content checks
 * room (mover/checks/engine.c) and attached to the loaded config; opaque here. */
struct checks_route;

/* Where S3 credentials come from: the file + profile when `file` is set, else the
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). A profile
 * without a file is an error (it would be silently ignored). */
typedef struct sl_config_credentials {
    char *file;    /* absolute path, or NULL for the environment; not opened by the loader */
    char *profile; /* default "default" when file is set; NULL when file is NULL */
} sl_config_credentials;

typedef struct sl_config_checks {
    uint64_t max_bytes;           /* default 100 MiB; > 0 */
    char **allow_types;           /* MIME types: exact ("text/plain") or a whole type ("image/"
                                     then "*"); empty = any type not denied */
    size_t allow_type_count;
    char **deny_types;            /* deny wins over allow; no entry may also be in allow_types */
    size_t deny_type_count;
    bool check_extension;         /* compare the name's extension / declared Content-Type
                                     with the detected type; a mismatch is a finding
                                     (default true) */
    uint32_t max_key_length;      /* bytes of the whole staging key, default 1024 (1..1024) */
    uint32_t max_depth;           /* "/"-separated segments below the task, default 8 (1..512) */
    uint32_t max_metadata_bytes;  /* user metadata names + values, default 2048 (0..64KiB) */
    sl_on_error on_error;         /* default block */
    bool clamav;                  /* every object is scanned by clamd (the top-level
                                     "clamav" section says where); default false. The
                                     daemon does not start when clamd cannot be reached */
    /* "rules": rule files (absolute paths, readable at load time). Files named *.json are
     * rule sets in sluice's own format (secrets, control-plane content; docs/checks.md),
     * listed in `rule_sets`; every other file is YARA rules, listed in `rules`. */
    char **rules;                 /* YARA rule files, compiled by mover/checks/yara.c */
    size_t rule_count;
    char **rule_sets;             /* sluice rule sets (*.json) */
    size_t rule_set_count;
    /* "embedded": what each kind of content found past the start of the object does */
    struct {
        sl_embedded_action executable; /* ELF, PE, Mach-O; default block */
        sl_embedded_action archive;    /* ZIP, gzip, xz, 7z, RAR, bzip2; default block */
        sl_embedded_action script;     /* "#!" interpreter lines; default review */
        sl_embedded_action html;       /* HTML and script tags; default review */
        sl_embedded_action trailing;   /* bytes after a format's end marker; default review */
    } embedded;
    /* "archives": bounds of the inspection of archives (zip, tar, gzip, bzip2, xz, 7z
     * and nesting among them; docs/checks.md "Archives") */
    struct {
        uint64_t max_bytes;          /* larger archives are unscannable; default 1GiB */
        uint32_t max_depth;          /* archives inside archives, default 3 (1..16) */
        uint32_t max_members;        /* members in all, default 10000 */
        uint64_t max_expanded_bytes; /* members' bytes in all, default 4GiB */
        uint32_t max_ratio;          /* expanded / archive bytes, default 100 (1..100000) */
    } archives;
    /* "yara": bounds of the YARA scan (the YARA files of `rules`; docs/checks.md "YARA") */
    struct {
        uint64_t max_bytes;  /* objects and members spooled for YARA; larger: unscannable; default 1GiB */
        uint64_t timeout_ms; /* one scan, from the last byte to the verdict; default 60s */
    } yara;
    const struct checks_route *compiled; /* set by checks_engine_attach; NULL before */
} sl_config_checks;

/* routes[].reference: objects the route's tasks may read (an allowlist). A task names
 * the subset it needs when it is opened and gets exactly those keys (presigned GETs or
 * GetObject in its STS session policy); never a listing. Keys and prefixes hold no "*",
 * "?" or "${" (they go into policy Resources as written). */
typedef struct sl_config_reference {
    bool present;          /* the section was given */
    char *bucket;          /* required in the section; none of sluice's own buckets */
    char **keys;           /* exact keys */
    size_t key_count;
    char **prefixes;       /* every key under these ("datasets/2026/"; each ends with "/") */
    size_t prefix_count;   /* keys + prefixes: at least one */
} sl_config_reference;

typedef struct sl_config_route {
    char *name;            /* [a-z0-9][a-z0-9_-]{0,63}, unique */
    char *staging_prefix;  /* non-empty, ends with "/", no leading "/", no empty, "." or ".."
                              segment; no route's prefix is a prefix of another's */
    char *trusted_prefix;  /* the same rules, and the same non-overlap between routes */
    sl_review_mode review; /* default auto */
    uint64_t review_ttl_ms; /* default 24h; > 0 */
    bool require_task;      /* objects must belong to an open task opened through the API
                               (default true); false admits any <task>/<name> key — for
                               uploaders that hold their own credentials */
    bool sts;               /* tasks may get STS credentials (needs grants.sts; default false) */
    sl_config_reference reference;
    sl_config_checks checks;
} sl_config_route;

typedef struct sl_config {
    char *path; /* the file it was loaded from (absolute); NULL from sl_config_load_string */

    /* What the content checks compiled for this config (checks_engine_attach), freed with
     * it by `compiled_free`; NULL until attached. */
    void *compiled;
    void (*compiled_free)(void *compiled);

    struct {
        char *endpoint;    /* http(s)://host[:port], no path, query or user info */
        char *region;      /* default "us-east-1" */
        bool virtual_hosted; /* "addressing": "virtual" (default "path") */
        sl_config_credentials credentials;
        char *ca_file;     /* NULL: the system's */
        bool verify_tls;   /* default true */
        uint32_t max_in_flight;       /* default 64 (1..10000) */
        uint64_t connect_timeout_ms;  /* default 5s */
        uint64_t first_byte_timeout_ms; /* default 30s */
        uint32_t max_attempts;        /* default 100 (1..1000) */
        uint64_t retry_budget_ms;     /* default 30s (1ms..1h): no retry starts later */
        uint64_t multipart_threshold; /* default 5GiB (1B..5GiB: one CopyObject stops at 5GiB) */
        uint64_t multipart_part_size; /* default 512MiB (5MiB..5GiB) */
    } s3;

    struct {
        char *staging;        /* staging, quarantine and trusted are three different buckets */
        char *quarantine;
        char *trusted;
        char *control;        /* default: the quarantine bucket; never staging or trusted */
        char *control_prefix; /* default "sluice/" */
    } buckets;

    struct {
        sl_config_credentials credentials;
        uint64_t default_ttl_ms; /* default 15m; <= max_ttl_ms */
        uint64_t max_ttl_ms;     /* default 4h; at most 7d (SigV4) */
        /* STS credentials for tasks (optional section; mover/tasks/grants_sts.c): the
         * grants identity calls AssumeRole on this role with a session policy that
         * names only the task's prefix (and its reference keys). */
        struct {
            bool present;            /* the section was given */
            char *role_arn;          /* required in the section: arn:<partition>:iam::<account>:role/<name> */
            char *endpoint;          /* the STS endpoint; NULL: s3.endpoint (radosgw serves STS there) */
            char *region;            /* NULL: s3.region */
            uint64_t max_session_ms; /* the role's MaxSessionDuration: default 1h, 15m..12h */
            bool source_identity;    /* also send the task id as SourceIdentity (default false) */
        } sts;
    } grants;

    sl_config_route *routes; /* at least one */
    size_t route_count;

    struct {
        char **reviewers;    /* OS user names, each listed once */
        size_t reviewer_count;
        char **orchestrators;
        size_t orchestrator_count;
        char **operators;            /* may retry failed artifacts (sluice-review retry) */
        size_t operator_count;
        char **hook_command; /* argv, NULL-terminated; NULL when no hook. argv[0] is
                                absolute when it contained a "/", else a name for PATH */
        size_t hook_argc;
        uint64_t hook_timeout_ms; /* default 30s */
    } review;

    struct {
        uint64_t quarantine_ms; /* default 7d */
    } retention;

    /* ClamAV's daemon, for routes with checks.clamav (mover/checks/clamd.h). */
    struct {
        char *socket;         /* clamd's LocalSocket; default "/run/clamav/clamd.ctl" */
        uint64_t timeout_ms;  /* no progress sending, or no answer after the last byte, for
                                 this long: the scan fails (never passes); default 60s */
        uint32_t connections; /* idle connections kept open (IDSESSION), default 4 (1..256) */
        uint64_t max_bytes;   /* larger objects are not sent and are unscannable; keep it
                                 at most clamd's StreamMaxLength; default 100MiB */
    } clamav;

    struct {
        char *socket;            /* default "/run/sluice/api.sock"; at most 107 bytes */
        uint32_t socket_mode;    /* default 0660 (from a string "0660"), at most 0777 */
        char *metrics_listen;    /* "host:port" or NULL */
    } api;

    /* Attested promotion (mover/attest/, docs/attestation.md). The loader does not open
     * the key files: the daemon reads them at start, and refuses to start without a
     * signing key (every route promotes, and every promoted object is attested). */
    struct {
        char *signing_key;   /* PKCS#8 PEM Ed25519 private key, mode 0600; NULL: none */
        char **trusted_keys; /* PEM public keys that verify besides the signing key's own
                                (keys rotated out, still trusted for what they signed) */
        size_t trusted_key_count;
    } attest;

    struct {
        char *file;              /* required */
        uint64_t commit_interval_ms; /* group commit window, default 10ms (0: every record) */
        char *name;              /* this log's folder under <control_prefix>audit/, default "mover" */
        uint64_t ship_interval_ms; /* fsync'd records are shipped this often, default 30s (100ms..1h) */
    } audit;

    struct {
        uint64_t poll_interval_ms; /* default 2s */
        uint64_t poll_jitter_ms;   /* default 10% of the interval; at most the interval */
        uint32_t concurrency;      /* artifacts in flight, default 32 (1..10000) */
        bool check_in_place;       /* on versioned staging, check and promote straight from the
                                      staging version (default true); false: quarantine first */
        uint64_t stall_after_ms;   /* health: work pending and no change for this long is a
                                      stalled pipeline; default 15m, > 0 */
        uint64_t poll_idle_max_ms; /* a listing that found nothing new doubles the wait before
                                      the next, up to this (default: poll_interval, i.e. no
                                      back-off; 30s when the events listener is on) */
    } worker;

    /* S3 event notifications pushed to the mover (docs/events.md): an HTTP listener whose
     * events are hints (the mover looks at each object itself). Absent: no listener. */
    struct {
        bool present;            /* the section was given; listen and secret_file are then set */
        char *listen;            /* "host:port" of the listener (required in the section) */
        char *secret_file;       /* the shared secret the S3 server sends (basic auth password,
                                    a bearer token or ?token=); read by the daemon, mode 0600 */
        char **sns_topics;       /* SNS topic ARNs whose messages are accepted (none: SNS refused) */
        size_t sns_topic_count;
        char **sns_origins;      /* where SNS signing certificates and subscription URLs may point: "https://sns.*.amazonaws.com"
                                    (default); scheme://host-pattern[:port], "*" one DNS label */
        size_t sns_origin_count;
    } events;

    /* Several movers on one configuration (docs/scaling.md): each route's work is split into
     * `shards` by a hash of the task id, and each shard is worked by the one mover holding
     * its lease object (<control_prefix>cluster/leases/...). Absent: one mover does all. */
    struct {
        bool present;
        uint32_t shards;         /* per route, default 4 (1..256) */
        uint64_t lease_ttl_ms;   /* default 15s (3s..10m) */
        char *name;              /* the mover's name in lease objects, default: host name and pid */
    } cluster;

    struct {
        int level;   /* 0 debug, 1 info (default), 2 warn, 3 error */
        bool json;   /* "format": "json" (default "text": key=value) */
    } log;

    /* The S3 principals `sluice-mover policy` writes bucket policies for (optional;
     * mover/policy/policy.h). Principal ARNs as the S3 server spells them:
     * "arn:aws:iam:::user/mover" on radosgw, "arn:aws:iam::123456789012:role/x" on AWS —
     * arn:<partition>:iam::<account or tenant>:(root | user/[path/]name |
     * role/[path/]name), no wildcard. All share one partition; each ARN names one role
     * only (a consumer is never also the mover, ...). */
    struct {
        bool present;            /* the section was given; the rest is unset otherwise */
        char *mover;             /* required in the section */
        char *grants;            /* required in the section; the identity that signs grants */
        char **consumers;        /* read trusted; each listed once */
        size_t consumer_count;
        char **reviewers;        /* read trusted (`sluice-review verify`); each listed once */
        size_t reviewer_count;
        char **vpc_endpoints;    /* "vpce-" + 8 or 17 lower-case hex digits; each listed once */
        size_t vpc_endpoint_count;
        /* Identities that may change bucket settings (policy, lifecycle, versioning, object
         * lock): every other identity is denied them, and SSE-C writes (AWS evaluates the
         * exception through aws:PrincipalArn; see docs/policies.md for radosgw). */
        char **administrators;
        size_t administrator_count;
    } identities;
} sl_config;

/* One problem found in a file. */
typedef struct sl_config_error {
    char *path;    /* JSON path: "routes[1].checks.max_bytes", or "" for the document */
    char *message; /* what was expected / what is wrong */
    int line;      /* JSON syntax errors only: 1-based line and column; 0 otherwise */
    int column;
} sl_config_error;

typedef struct sl_config_errors {
    sl_config_error *items;
    size_t count;
} sl_config_errors;

/* Loads and validates `file`. On success *out is a new config and errors->count == 0.
 * On failure (SL_ERR_PARSE for JSON syntax — the error has line and column —,
 * SL_ERR_INVALID_ARGUMENT for invalid values, SL_ERR_IO for an unreadable file, one
 * larger than 1 MiB or a folder) *out is NULL and `errors` (if not NULL) lists every
 * problem found, in document order; the last error's detail names the file and the first
 * problem. `*errors` is overwritten, not cleaned up first: release it with
 * sl_config_errors_clean_up after either outcome. */
SL_MUST_CHECK sl_result sl_config_load(const char *file, sl_config **out, sl_config_errors *errors);

/* Same from a JSON text; `base_dir` resolves relative paths ("." if NULL; a folder that
 * exists is resolved to its real path, one that does not is used as written, made
 * absolute against the working directory). The config's `path` is NULL. */
SL_MUST_CHECK sl_result sl_config_load_string(const char *json, const char *base_dir, sl_config **out,
                                              sl_config_errors *errors);

/* Both accept NULL. sl_config_errors_clean_up leaves *errors empty. */
void sl_config_free(sl_config *config);
void sl_config_errors_clean_up(sl_config_errors *errors);

/* The route whose staging prefix the key (`len` bytes, not necessarily NUL-terminated)
 * starts with, or NULL. At most one route can match: prefixes never overlap. */
const sl_config_route *sl_config_route_for_key(const sl_config *config, const char *staging_key, size_t len);

/* The route with this name, or NULL. */
const sl_config_route *sl_config_route_by_name(const sl_config *config, const char *name);

/* `sluice-mover check-config -c FILE`: loads `file`; on success prints
 * "OK: <file>: N routes (name, name)" to `out` and returns 0; otherwise prints every
 * error to `err`, one a line — "<file>: <path>: <message>", "<file>: <message>" for the
 * whole file, "<file>:<line>:<column>: <message>" for JSON syntax — then "N errors",
 * and returns 1. */
int sl_config_check_command(const char *file, FILE *out, FILE *err);

/* Parsers shared with the API and the CLI. Strict; false (and *out unchanged) on any
 * deviation, including overflow past UINT64_MAX.
 *   duration: digits, then exactly one unit of ms, s, m, h, d ("500ms", "30s", "7d");
 *             no sign, space, fraction or bare number; no leading zero ("0s" is fine).
 *   size:     digits, then optionally one unit of B, KiB, MiB, GiB, TiB (powers of 1024)
 *             or kB, MB, GB, TB (powers of 1000); no unit means bytes. Units are
 *             case-sensitive; no leading zero ("0" is fine). */
bool sl_parse_duration_ms(const char *text, uint64_t *out_ms);
bool sl_parse_size(const char *text, uint64_t *out_bytes);

#endif /* SLUICE_CONFIG_H */
