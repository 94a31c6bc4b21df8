/*
 * clamd.h — ClamAV's daemon (clamd) over its Unix socket: the INSTREAM protocol, a
 * small pool of persistent connections, and a strict reader of clamd's answers.
 *
 * sluice never links libclamav: the operator's clamd (or scripts/clamd.sh's) holds the
 * signatures, loaded once. Each connection is an IDSESSION ("zIDSESSION\0"), so one
 * socket carries scan after scan; an object is sent with "zINSTREAM\0" as chunks
 * (<4-byte big-endian length><bytes>) while the GET delivers it, ended by a zero-length
 * chunk, and clamd answers "<id>: stream: OK\0" or "<id>: stream: <name> FOUND\0".
 * Only those two answers are verdicts; everything else — clamd unreachable, a timeout,
 * "INSTREAM size limit exceeded. ERROR", an answer with the wrong id, an unknown or
 * over-long answer, a closed connection — is a failed scan, which never passes.
 *
 * The pool keeps at most `connections` idle sessions; a scan takes one (or opens a new
 * one: scans never wait for each other) and gives it back only after a clean verdict,
 * so a connection in an unknown state is always closed. An idle session older than
 * CLAMD_IDLE_MAX_MS, or one that is readable or hung up while idle (clamd closed it),
 * is closed instead of used.
 *
 * Threading: a clamd_pool is thread-safe (a mutex around the idle list) and must
 * outlive its scans. A clamd_scan belongs to one thread at a time (the content
 * checker's work items, in stream order); its calls block on the socket, each bounded
 * by the pool's timeout (poll), so they run on the thread pool, never the loop.
 * Errors: clamd_pool_new and clamd_pool_probe return sl_result; a scan's problems are
 * kept in the scan and end in its clamd_reply (CLAMD_FAILED with the reason).
 */
#ifndef SLUICE_CHECKS_CLAMD_H
#define SLUICE_CHECKS_CLAMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* The longest answer read (bytes before its NUL); a longer one is garbled. */
#define CLAMD_REPLY_MAX 1024
/* The longest signature name kept; a longer one is garbled. */
#define CLAMD_NAME_MAX 255
/* Idle sessions older than this are closed rather than used (below clamd's timeouts). */
#define CLAMD_IDLE_MAX_MS 10000

typedef enum clamd_verdict {
    CLAMD_OK = 0,  /* "stream: OK": nothing found */
    CLAMD_FOUND,   /* "stream: <name> FOUND": text is the signature name */
    CLAMD_ERROR,   /* clamd answered "... ERROR": text is its message */
    CLAMD_GARBLED, /* an answer that is none of the above (or for another command) */
    CLAMD_FAILED,  /* no answer: unreachable, timeout, closed, too large to send */
} clamd_verdict;

typedef struct clamd_reply {
    clamd_verdict verdict;
    char text[CLAMD_REPLY_MAX + 1]; /* printable ASCII only (others as "?"), NUL-terminated */
} clamd_reply;

/* Reads one answer (the bytes before its NUL) to command number `id` of a session;
 * id 0: an answer outside a session (no "<id>: " prefix). Pure; any bytes. */
clamd_verdict clamd_reply_parse(const uint8_t *data, size_t len, uint32_t id, clamd_reply *out);

/* The answer to PING/VERSION-like commands: the text after "<id>: ", when the id fits;
 * false otherwise. Pure. */
bool clamd_reply_text(const uint8_t *data, size_t len, uint32_t id, clamd_reply *out);

/* ---- the pool ---- */

typedef struct clamd_pool clamd_pool;

typedef struct clamd_options {
    const char *socket;   /* clamd's LocalSocket (copied) */
    uint64_t timeout_ms;  /* bound of each wait: connect, send progress, the answer */
    uint32_t connections; /* idle sessions kept */
} clamd_options;

/* No connection is made here. Errors: SL_ERR_INVALID_ARGUMENT (a socket path too long
 * for a Unix address). */
SL_MUST_CHECK sl_result clamd_pool_new(const clamd_options *options, clamd_pool **out);
/* Closes the idle sessions. Every scan of the pool must be destroyed first. */
void clamd_pool_destroy(clamd_pool *pool);

/* Opens a session and asks clamd for its version (written to version, e.g.
 * "ClamAV 1.4.6/27490/..."); the session then joins the idle ones. Errors:
 * SL_ERR_CONNECTION / SL_ERR_TIMEOUT / SL_ERR_PARSE naming the socket and what failed. */
SL_MUST_CHECK sl_result clamd_pool_probe(clamd_pool *pool, char *version, size_t version_size);

typedef struct clamd_pool_stats {
    uint64_t opened;   /* sessions opened */
    uint64_t reused;   /* scans that took an idle session */
    uint64_t discarded; /* idle sessions found closed or too old */
} clamd_pool_stats;

clamd_pool_stats clamd_pool_get_stats(clamd_pool *pool);

/* ---- one object's scan ---- */

typedef struct clamd_scan clamd_scan;

/* A scan of at most max_bytes bytes (more: CLAMD_FAILED, the rest is not sent). No I/O
 * until the first feed. */
clamd_scan *clamd_scan_new(clamd_pool *pool, uint64_t max_bytes);

/* Sends the next bytes (a session is taken on the first call). Blocking, bounded by
 * the timeout; after a failure it does nothing (the failure is the reply). */
void clamd_scan_feed(clamd_scan *scan, const uint8_t *data, size_t len);

/* Ends the stream and reads clamd's answer into *out. A session that answered
 * OK/FOUND goes back to the pool; any other is closed. Call once. */
void clamd_scan_finish(clamd_scan *scan, clamd_reply *out);

/* Frees the scan; a session still mid-stream (not finished) is closed. NULL is fine. */
void clamd_scan_destroy(clamd_scan *scan);

#endif /* SLUICE_CHECKS_CLAMD_H */
