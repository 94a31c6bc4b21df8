/*
 * checks_impl.h — what the parts of the content checks room share (private to
 * mover/checks/): the stream view every scanner reads a chunk through, the Vectorscan
 * scratch pool, and the compiled form of a route (struct checks_route).
 *
 * Streaming scanners see the object one buffer at a time, in order, on a pool thread
 * (one work item per artifact at a time, so a scanner's state needs no lock). What a
 * match needs around it — a bounded window before and after — comes from `history`
 * (the last bytes of earlier buffers, at most CHECKS_HISTORY_MAX) and the current
 * buffer; a window that reaches past the buffer waits for the next one (or the end).
 *
 * Threading: a stream view and a scanner belong to the work item that runs them; the
 * scratch pool is thread-safe; a checks_route is immutable once attached.
 */
#ifndef SLUICE_CHECKS_IMPL_H
#define SLUICE_CHECKS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hs/hs.h>

#include "checks/checks.h"
#include "checks/clamd.h"
#include "util/buf.h"
#include "util/error.h"

/* The most bytes a scanner may look back past the current buffer. */
#define CHECKS_HISTORY_MAX ((size_t)16 * 1024)

/* ---- the stream view ---- */

typedef struct stream_view {
    const uint8_t *history; /* the bytes just before `data` */
    size_t history_len;
    const uint8_t *data;    /* the current buffer */
    size_t len;
    uint64_t base;          /* stream offset of data[0] */
    bool final;             /* no byte follows data */
} stream_view;

/* The stream offset one past the last byte in view. */
static inline uint64_t view_end(const stream_view *v) { return v->base + v->len; }
/* The first stream offset still in view. */
static inline uint64_t view_start(const stream_view *v) { return v->base - v->history_len; }

/* The bytes [from, to) clipped to what is in view, contiguous: a pointer into `data`
 * when they all lie there, else a copy in `scratch`. *at is the stream offset of
 * out->ptr[0]. */
SL_MUST_CHECK sl_result view_slice(const stream_view *v, uint64_t from, uint64_t to, sl_buf *scratch, sl_cursor *out,
                                   uint64_t *at);

/* Keeps the last `keep` bytes of history + data in `history` (for the next buffer). */
SL_MUST_CHECK sl_result history_keep(sl_buf *history, const uint8_t *data, size_t len, size_t keep);

/* A stream offset as people read it: "71,680". */
void checks_format_offset(uint64_t n, char out[32]);

/* ---- Vectorscan scratch, one per pool thread using one at a time ---- */

typedef struct scratch_pool scratch_pool;

/* A pool whose scratch spaces fit every database in dbs[0..count). */
SL_MUST_CHECK sl_result scratch_pool_new(hs_database_t *const *dbs, size_t count, scratch_pool **out);
void scratch_pool_destroy(scratch_pool *pool);
SL_MUST_CHECK sl_result scratch_take(scratch_pool *pool, hs_scratch_t **out);
void scratch_give(scratch_pool *pool, hs_scratch_t *scratch);

/* ---- redaction ---- */

/* An excerpt of a found secret that cannot give it away: its first and last few
 * characters around "…" (4 + 4 of 20 or more bytes, 2 + 2 of 12 or more, none of
 * shorter ones), non-printable bytes as "?". Appends to out. */
SL_MUST_CHECK sl_result redact_excerpt(sl_cursor secret, sl_buf *out);

/* ---- the embedded-content scan (embedded.c) ---- */

typedef struct embedded_db embedded_db;
typedef struct embedded_scan embedded_scan;

SL_MUST_CHECK sl_result embedded_db_new(embedded_db **out);
void embedded_db_destroy(embedded_db *db);
hs_database_t *embedded_db_hs(const embedded_db *db);

embedded_scan *embedded_scan_new(const embedded_db *db);
void embedded_scan_destroy(embedded_scan *scan);
/* Scans the view's data (pool thread). On error the scan is unusable. */
SL_MUST_CHECK sl_result embedded_scan_feed(embedded_scan *scan, const stream_view *view, hs_scratch_t *scratch);
/* Adds the findings ("embedded"), judged by the route, given the detected type. */
SL_MUST_CHECK sl_result embedded_scan_report(const embedded_scan *scan, const sl_config_checks *route,
                                             const char *detected_type, uint64_t size, findings *out);

/* ---- archives (archive.c) ---- */

typedef struct archive_scan archive_scan;

/* Watches an object's bytes; when they start like an archive (zip, tar, gzip, bzip2,
 * xz, 7z) it spools them to an unlinked temporary file (at most the route's
 * archives.max_bytes; constant memory), and at the end, when libmagic calls the object
 * an archive, inspects every member within the route's bounds: each member's type,
 * embedded content and rules, and archives inside it, findings naming the member path
 * ("inner.tar/bin/payload: ..."). Feed and finish run on a pool thread, one call at a
 * time; report on any thread after finish. */
archive_scan *archive_scan_new(const struct checks_route *compiled, const sl_config_checks *route,
                               checks_magic *magic);
void archive_scan_feed(archive_scan *scan, const uint8_t *data, size_t len);
void archive_scan_finish(archive_scan *scan);
/* Adds the "archive" findings (none when the object is not an archive). */
SL_MUST_CHECK sl_result archive_scan_report(const archive_scan *scan, findings *out);
void archive_scan_destroy(archive_scan *scan);

/* ---- spooling (spool.c) ---- */

/* An unlinked temporary file in TMPDIR (else /tmp); -1 with errno. */
int checks_spool_open(void);
/* Writes all n bytes (retrying short writes and EINTR); false on error. */
bool checks_write_all(int fd, const uint8_t *d, size_t n);

/* ---- YARA (yara.c) ---- */

typedef struct yara_db yara_db;
typedef struct yara_scan yara_scan;

/* Compiles YARA rule files (each in its own namespace, its base name; includes are
 * off, so a file's version covers every rule it uses) with libyara, once. On error
 * `errors` names each file, line and message ("x.yar:3: syntax error, ...") and
 * nothing is made. Calls yr_initialize (yara_db_destroy: yr_finalize). */
SL_MUST_CHECK sl_result yara_db_new(char *const *files, size_t count, yara_db **out, checks_errors *errors);
void yara_db_destroy(yara_db *db);
/* "x.yar@1a2b3c4d5e6f, ..." */
const char *yara_db_version(const yara_db *db);

/* A scan of one object (or archive member): its bytes are kept, in memory up to 256 KiB
 * and beyond that in an unlinked temporary file, at most max_bytes (more: the scan is
 * an error finding, unscannable); finish runs the rules over them whole within
 * timeout_ms. Feed and finish on one thread at a time (a pool thread); report after
 * finish. */
yara_scan *yara_scan_new(const yara_db *db, uint64_t max_bytes, uint64_t timeout_ms);
void yara_scan_feed(yara_scan *scan, const uint8_t *data, size_t len);
void yara_scan_finish(yara_scan *scan);
/* One "yara" "fail" finding per matching rule ("rule NS:NAME [tags] matched"; never
 * the matched bytes), or one "pass"; an "error" finding when the scan could not finish
 * (too large, spool failure, timeout, too many matches, a libyara error). */
SL_MUST_CHECK sl_result yara_scan_report(const yara_scan *scan, findings *out);
void yara_scan_destroy(yara_scan *scan);

/* ---- the compiled form of a route ---- */

typedef struct rules_db rules_db;   /* rules.h */
typedef struct checks_engine checks_engine;

struct checks_route {
    const checks_engine *engine;
    const embedded_db *embedded;
    const rules_db *rules;     /* the union of the route's rule sets; NULL when it has none */
    scratch_pool *scratch;     /* fits the embedded and every rules database */
    const char *rules_version; /* "default.json@1a2b3c4d5e6f, ..." or "" */
    clamd_pool *clamd;         /* the config's clamd pool when checks.clamav; else NULL */
    uint64_t clamd_max_bytes;  /* clamav.max_bytes */
    const yara_db *yara;       /* the route's YARA rule files; NULL when it has none */
};

#endif /* SLUICE_CHECKS_IMPL_H */
