/*
 * audit.h — the append-only audit log: one JSON line per transition, decision or
 * audited read, each carrying the SHA-256 of the line before it (a hash chain), so a
 * line changed, removed or inserted anywhere breaks the chain at that point.
 *
 *   {"seq":1,"time":"2026-11-27T20:00:00.123Z","event":"quarantine","artifact":"…",
 *    "from":"staged","to":"quarantined","actor":"mover","detail":{…},"prev":"<64 hex>"}
 *
 * Keys always come in that order; absent optional fields (artifact, from, to, detail)
 * are left out; non-ASCII text is written as \u escapes, so a line is plain ASCII.
 * "prev" is the lower-case hex SHA-256 of the previous line's bytes without its
 * newline; "prev" of the first line is 64 zeros; "seq" counts from 1 without gaps. No
 * line is longer than AUDIT_MAX_LINE bytes, and no input can make a record too long to
 * write: a text over AUDIT_MAX_TEXT bytes is kept as its first AUDIT_MAX_TEXT bytes and
 * " [cut: N bytes, sha256 H]", and a detail still too large is kept as
 * {"cut":{"bytes":N,"sha256":H}}. docs/audit.md describes the format.
 *
 * Opening an existing log verifies its last line (and its link to the line before) and
 * continues the chain from it. A log whose tail is torn — a partial last line after a
 * crash — is repaired by truncating the partial line, and that is itself recorded as an
 * AUDIT_EVENT_REPAIR record. The log is locked (flock) while open: one writer at a time.
 *
 * Durability: lines are written (write(2)) as they are appended and fsync'd in groups —
 * after an append the log waits commit_interval_ms, then runs one fdatasync on the libuv
 * thread pool covering every line written so far; lines appended while it runs wait for
 * the next one. So a burst of transitions costs one fsync. audit_log_flush's callback
 * runs once everything appended before it is on disk. audit_log_close flushes and
 * closes. A failed write or fsync breaks the log for good (see audit_log_append).
 *
 * Threading: an audit_log belongs to its loop's thread: call every audit_log_* function
 * there; callbacks run there. audit_verify_file is pure and may run anywhere (the CLI
 * uses it).
 */
#ifndef SLUICE_AUDIT_AUDIT_H
#define SLUICE_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "util/buf.h"
#include "util/error.h"

/* The longest line (without its newline) the log writes and the verifier accepts. */
#define AUDIT_MAX_LINE ((size_t)1 << 20)

/* The longest text (a field, or a string in the detail) the log keeps whole. */
#define AUDIT_MAX_TEXT ((size_t)8 << 10)

/* The event of the record audit_log_open appends after truncating a torn tail. */
#define AUDIT_EVENT_REPAIR "audit_repair"

/* The longest commit interval audit_log_open accepts (one minute). */
#define AUDIT_MAX_COMMIT_INTERVAL_MS 60000u

typedef struct audit_log audit_log;

typedef struct audit_record {
    const char *event;    /* required: "quarantine", "block", "approve", "fetch", … */
    const char *artifact; /* artifact or task id; may be NULL */
    const char *from;     /* state names; may be NULL */
    const char *to;
    const char *actor;    /* required: "mover", a user name, "hook" */
    const char *detail_json; /* a JSON object as text (e.g. {"key":"…","sha256":"…"}), or NULL */
    json_t *detail;          /* or the object itself (borrowed; not both): saves a parse */
} audit_record;

/* Opens (creating with mode 0600, and missing folders with 0700) the log at `path`, for
 * appends on `loop`, with fsyncs grouped over commit_interval_ms (0..60000; 0 = at the
 * next loop iteration). The path must not be a symbolic link and must be a regular file.
 * Opening is synchronous (it reads the tail and runs one fdatasync of an existing log,
 * so that what a crashed writer left is durable before the chain grows on it): call it
 * at startup, not on a busy loop. Reads only the tail of an existing log — the last two
 * lines and a torn tail — so memory stays under about 2 MiB however long the log is.
 * On success *out is the log (audit_log_records counts the repair record, if any).
 * Errors (no log; nothing appended — a torn tail is cut off only just before the repair
 * record is written, so it is gone if that write fails): SL_ERR_INVALID_ARGUMENT,
 * SL_ERR_IO (cannot create, open, read, truncate or write; a symbolic link),
 * SL_ERR_STATE (another audit_log holds the file's lock), SL_ERR_PARSE (the existing
 * log's last complete line does not verify, or more than AUDIT_MAX_LINE bytes follow
 * its last newline — never appended to blindly). */
SL_MUST_CHECK sl_result audit_log_open(uv_loop_t *loop, const char *path, uint64_t commit_interval_ms,
                                       audit_log **out);

/* Appends one record now (the write happens before return; fsync follows within the
 * commit interval). All fields are copied; the strings must be UTF-8. Long texts and
 * large details are cut as the paragraph at the top says: size is never an error.
 * Errors: SL_ERR_INVALID_ARGUMENT (the caller's mistakes: missing/empty event or actor,
 * a field not UTF-8, detail not a JSON object), SL_ERR_STATE (the log is closing) — on
 * these nothing is written and the log stays usable; SL_ERR_IO (a fault of the log: a
 * write failed now or before, or an fsync failed — the log is then broken, any partial
 * line is cut off if the file allows it, every later append fails, and
 * audit_log_fault says why — the caller must stop making changes). */
SL_MUST_CHECK sl_result audit_log_append(audit_log *log, const audit_record *record);

/* `result` is SL_SUCCESS, or SL_FAILURE with the last error (SL_ERR_IO: the fsync
 * failed; its detail says why) set on this thread during the call. */
typedef void audit_flush_fn(void *user, sl_result result);

/* Calls `done` (always asynchronously, exactly once) once every record appended so far
 * is fsync'd — at the end of the current commit interval, not sooner; at the next loop
 * iteration when there is nothing to sync. Records that were written before a write
 * failure are still synced. Errors (no callback): SL_ERR_INVALID_ARGUMENT (no done),
 * SL_ERR_STATE (closing), SL_ERR_IO (an fsync has already failed). */
SL_MUST_CHECK sl_result audit_log_flush(audit_log *log, audit_flush_fn *done, void *user);

/* Flushes at once (without waiting for the commit interval), closes the file and frees
 * the log once its handles are closed (keep running the loop). Pending flush callbacks
 * still run. A failure of this last fsync reaches only the flush callbacks: call
 * audit_log_flush first to learn it. NULL is fine. */
void audit_log_close(audit_log *log);

/* The last record that is durable (fdatasync'd) and the size of the file up to and
 * including its line: what may be shipped off the host (audit/ship.h) — never a line a
 * power failure could still take back. 0 and the size of the existing log right after
 * open. */
void audit_log_synced(const audit_log *log, uint64_t *seq, uint64_t *size);

/* NULL while the log works; once a write or fsync failed, why ("write of seq 17: No
 * space left on device"), valid while the log is open. For health reports. */
const char *audit_log_fault(const audit_log *log);

/* Records appended since open (the repair record included), and fsyncs done (group
 * commits; the directory fsyncs of a newly created log are not counted) — for tests
 * and metrics. */
uint64_t audit_log_records(const audit_log *log);
uint64_t audit_log_fsyncs(const audit_log *log);

/* Verifies a whole log file, reading it in a stream (memory bounded by AUDIT_MAX_LINE).
 * Each line must be a JSON object with seq (integer), time, event, actor (non-empty
 * strings) and prev (64 lower-case hex digits); artifact, from, to, if present, strings
 * and detail an object; seq = previous + 1 starting at 1; prev = the SHA-256 of the
 * previous line (64 zeros on line 1); the file ends with a newline. An empty file is a
 * valid log of 0 records.
 * On success *lines is the number of records and *bad_line 0. On failure (SL_ERR_PARSE)
 * *bad_line is the 1-based number of the first bad line, *lines the number of good
 * lines before it, and the detail says why ("line 17: prev does not match the SHA-256
 * of line 16"). SL_ERR_IO (cannot open or read; *bad_line 0); SL_ERR_INVALID_ARGUMENT. */
SL_MUST_CHECK sl_result audit_verify_file(const char *path, uint64_t *lines, uint64_t *bad_line);

/* Test only: the file descriptor the log writes to, so a test can dup2 another file
 * (e.g. /dev/full) onto it to make writes and fsyncs fail. */
int audit_log_fd_for_testing(const audit_log *log);

#endif /* SLUICE_AUDIT_AUDIT_H */
