/*
 * checks.h — what sluice checks about an artifact: the one interface of the content
 * checks room (mover/checks/), used by the pipeline.
 *
 * Two kinds of checks:
 *  - Key and metadata rules, pure functions run before any byte of the object is
 *    read: checks_key (the name below the task: no "." / ".." / empty segments, no
 *    control, C1, bidirectional or invisible characters, no backslashes or look-alike
 *    separators, no percent-encoded dot segments, length and depth limits — key.c has
 *    the list) and checks_metadata_of (every user-metadata header counted), each adding
 *    findings.
 *  - Content checks, fed the object's bytes once, chunk by chunk, in constant memory:
 *    SHA-256, the size limit (reading stops as soon as it is exceeded), the file type by
 *    libmagic on the first bytes against the route's allow and deny lists, and the name's
 *    extension and the declared Content-Type compared with the detected type (a mismatch
 *    is a "review" finding: a person must look), the embedded-content scan, the rules,
 *    and ClamAV through clamd where the route requires it (clamd.h). The checkers run
 *    on the libuv thread pool, one buffer at a time per artifact, with two buffers, so
 *    the loop keeps receiving while the pool works, and the GET is paused when both
 *    buffers are full (backpressure).
 *
 * Fail closed: a checker that cannot finish (the GET failed, libmagic failed, a limit)
 * reports FINDING_ERROR, never a pass.
 *
 * Threading: a content_check belongs to the loop thread; only its work items touch the
 * hash context and the buffers they were given, on a pool thread, one at a time.
 * checks_magic is shared by all checkers (libmagic handles are not thread-safe: it
 * keeps a small pool of them, one per pool thread using one at a time).
 */
#ifndef SLUICE_CHECKS_CHECKS_H
#define SLUICE_CHECKS_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "s3/client.h"
#include "s3/http.h"
#include "state/manifest.h"
#include "util/buf.h"
#include "util/error.h"

/* ---- findings ---- */

/* A list of findings; append with findings_add. Owns its strings. */
typedef struct findings {
    artifact_finding *items;
    size_t count;
} findings;

SL_MUST_CHECK sl_result findings_add(findings *f, const char *check, finding_verdict verdict, const char *fmt, ...)
    SL_PRINTF(4, 5);
/* True when every finding is a pass (and there is at least one). */
bool findings_all_pass(const findings *f);
/* The worst verdict: error > fail > review > pass. */
finding_verdict findings_worst(const findings *f);
void findings_clean_up(findings *f);

/* ---- key and metadata rules ---- */

/* Checks the object's name (the part of the key below the task) and the whole key's
 * length against the route's limits. Adds one "key" finding (pass or fail, with every
 * broken rule named). */
SL_MUST_CHECK sl_result checks_key(const sl_config_checks *rules, sl_cursor staging_key, sl_cursor name, findings *out);

/* Adds one "metadata" finding for the total size of the user metadata names and values
 * of an answer's headers; a set the client could not keep whole (metadata_truncated)
 * fails, whatever the limit. */
SL_MUST_CHECK sl_result checks_metadata_of(const sl_config_checks *rules, const s3_object_info *info, findings *out);

/* The same over bare pairs (name, value, ...) known to be the whole set. */
SL_MUST_CHECK sl_result checks_metadata(const sl_config_checks *rules, const sl_cursor *metadata, size_t pairs,
                                        findings *out);

/* ---- type rules ---- */

/* Whether `mime` is allowed by the route: deny wins; with an allow list, one entry
 * ("type/subtype" or "type/ *") must match. */
bool checks_type_allowed(const sl_config_checks *rules, const char *mime, const char **why);

/* The MIME types a file name's extension promises, or NULL for an unknown extension.
 * NULL-terminated list, case-insensitive extension match. */
const char *const *checks_extension_types(sl_cursor name);

/* Whether a declared Content-Type fits the detected MIME type (generic declarations
 * such as application/octet-stream say nothing and fit). */
bool checks_declared_fits(sl_cursor declared, const char *detected);

/* ---- libmagic ---- */

typedef struct checks_magic checks_magic;

/* Opens libmagic with its default database (MIME types). Errors: SL_ERR_UNSUPPORTED with
 * libmagic's message (the database is missing) — the daemon refuses to start. */
SL_MUST_CHECK sl_result checks_magic_new(checks_magic **out);
void checks_magic_destroy(checks_magic *magic);

/* The MIME type of a buffer (thread-safe). Writes into out (≥ 128 bytes). */
SL_MUST_CHECK sl_result checks_magic_detect(checks_magic *magic, const uint8_t *data, size_t len, char *out,
                                            size_t out_size);

/* ---- the compiled checks (engine.c) ---- */

/* Problems found while compiling, one line each ("FILE: rule ID: what"). */
typedef struct checks_errors {
    char **items;
    size_t count;
} checks_errors;

void checks_errors_clean_up(checks_errors *errors);

/* Compiles what the config's routes need — the embedded-content signatures, each
 * route's rule sets (checks.rules *.json, "{{buckets}}" from the config's buckets) —
 * and attaches it to the config (config->compiled, each route's checks.compiled),
 * freed with the config. Every rules file is read and compiled once. On error nothing
 * is attached and `errors` says what and where (a file that does not parse, a rule
 * that does not compile): the daemon refuses to start, and a reload keeps the old
 * configuration. Call it before the config is shared. */
SL_MUST_CHECK sl_result checks_engine_attach(sl_config *config, checks_errors *errors);

/* The rule sets that judge a route's artifacts ("default.json@1a2b3c4d5e6f, ..."), or
 * "" when it has none or nothing is attached. */
const char *checks_rules_version(const sl_config_checks *rules);

/* The version of what judges a check's findings on this route, for the attestation:
 * "rules" → its rule sets ("default.json@1a2b3c4d5e6f, ..."), "yara" → its YARA files
 * ("x.yar@..."), "type" → libmagic ("libmagic 5.44"), "clamav" → clamd's answer to
 * VERSION at the config's last checks_clamav_probe ("ClamAV 1.4.6/27000/..."; "" before
 * one); "" for any other check, or when nothing is attached. Valid as long as the config
 * (a probe may replace the "clamav" text: call on the loop thread). */
const char *checks_version_of(const sl_config_checks *rules, const char *check);

/* The signature and rule set that judges a route's artifacts, as one line for its
 * manifests: "rules default.json@1a2b..; yara x.yar@3c4d..; clamav ClamAV 1.4.6/27000/..."
 * (the parts the route has; "" for none). Two configs judge alike when their lines are
 * equal: a reload that changes it has the waiting artifacts checked again. Appends to
 * out; on error out is unchanged. */
SL_MUST_CHECK sl_result checks_set_version(const sl_config_checks *rules, sl_buf *out);

/* The version of one check ("rules", "yara", "clamav") in such a line (a manifest's
 * checked_with; NULL is fine): a cursor into it, empty when the line has no such part. */
sl_cursor checks_version_in(const char *checked_with, const char *check);

/* When a route requires ClamAV (checks.clamav): opens a session to the config's clamd
 * (clamav.socket) and asks its version (written to version: "ClamAV 1.4.6/..."; "" when
 * no route requires it), kept as the config's "clamav" version (checks_version_of). The daemon calls it at start and does not start on failure.
 * Errors: SL_ERR_CONNECTION / SL_ERR_TIMEOUT / SL_ERR_PARSE, naming the route, the
 * socket and what failed. Blocks for at most clamav.timeout. */
SL_MUST_CHECK sl_result checks_clamav_probe(const sl_config *config, char *version, size_t version_size);

/* ---- the streaming content checker ---- */

typedef struct content_check content_check;

/* The verdict of the content checks. Valid during the callback. */
typedef struct content_result {
    const findings *findings; /* size, sha256, type, extension, declared_type, embedded, rules */
    const char *sha256;       /* 64 hex digits, or "" when the bytes were not all read */
    uint64_t size;            /* bytes seen */
    const char *detected_type; /* libmagic's MIME type, or "" */
} content_result;

typedef void content_done_fn(void *user, const content_result *result);
/* Asks the owner to resume the paused GET. */
typedef void content_resume_fn(void *user);

typedef struct content_check_params {
    const sl_config_checks *rules;
    checks_magic *magic;
    sl_cursor name;          /* for the extension check */
    sl_cursor declared_type; /* the uploader's Content-Type, may be empty */
    uint64_t expected_size;  /* Content-Length, sizes the buffers */
    content_resume_fn *resume;
    void *user;
} content_check_params;

content_check *content_check_new(uv_loop_t *loop, const content_check_params *params);

/* Feeds the next chunk (the GET's chunk callback returns this). CONSUMED, PAUSE (the
 * chunk was not taken: both buffers are busy; params.resume is called when it can be
 * given again) or ABORT (the size limit is exceeded: stop reading). */
s3_http_body_action content_check_feed(content_check *check, const uint8_t *data, size_t len);

/* Every checker (SHA-256, libmagic, the embedded-content scan, the rules) sees the same
 * buffers in order on the thread pool; a checker that cannot finish reports an error
 * finding. A route whose compiled checks are not attached (checks_engine_attach) gets
 * an error finding: the content scanners did not run.
 *
 * The GET finished. `complete` says whether every byte arrived (false: the transfer
 * failed, was cut or aborted; the result is then an error finding unless the size
 * limit already failed). `done` runs asynchronously once pending work is finished;
 * then the checker frees itself. */
void content_check_finish(content_check *check, bool complete, const char *why_incomplete, content_done_fn *done,
                          void *user);

#endif /* SLUICE_CHECKS_CHECKS_H */
