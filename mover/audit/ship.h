/*
 * ship.h — the audit trail leaves the host: the local audit log is shipped in signed
 * segments (segment.h) to the control prefix, and at start the daemon refuses a local
 * log that is shorter than, or differs from, what it shipped.
 *
 * Start check (audit_ship_check, before audit_log_open may repair anything): finds the
 * last shipped segment (ListObjectsV2 with start-after, a binary search over record
 * numbers: about log2(records) one-key listings), fetches it, checks its signed head
 * against the trusted keys, and compares its bytes with the local file at the same
 * offsets; then walks the whole local log along its chain (reading it once: a broken
 * link anywhere, shipped or not, is found; with the last segment equal, an intact chain
 * means every shipped record is there unchanged). Any difference — a record missing locally (a truncated log), one that differs
 * (an edited log), a head that does not verify — fails the check, naming the first
 * record that differs: when the last segment does not tell, every shipped segment is
 * compared in order. A torn tail (bytes after the last newline, which were never
 * synced and so never shipped) is no difference: audit_log_open repairs it, with its
 * audit_repair record.
 *
 * Shipping (audit_shipper): every `interval_ms`, the lines that are fsync'd
 * (audit_log_synced, the one hook in audit.c) and not yet shipped are read back from the
 * file, checked against the chain from the last shipped head, and PUT as one segment
 * (at most AUDIT_SEGMENT_MAX_BYTES; the rest follows at once) with If-None-Match: *.
 * A 412 for a segment whose stored bytes are exactly ours (a retry that met its own
 * write) is success; other bytes there mean another writer uses this log name: shipping
 * stops and says so. Other failures are retried at the next interval. audit_shipper_drain
 * ships everything synced before the daemon exits.
 *
 * Threading: the loop's thread. Ownership: the configuration's strings, the client,
 * signer, keyring and log are borrowed and must outlive the check / shipper.
 */
#ifndef SLUICE_AUDIT_SHIP_H
#define SLUICE_AUDIT_SHIP_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "attest/keys.h"
#include "audit/audit.h"
#include "audit/segment.h"
#include "s3/client.h"
#include "util/error.h"

typedef struct audit_ship_config {
    s3_client *client;
    const char *bucket;          /* the control bucket */
    const char *prefix;          /* "<control_prefix>audit/<name>/" */
    const char *name;            /* the log's name (audit.name) */
    const char *path;            /* the local log file */
    const attest_signer *signer; /* signs heads */
    const attest_keyring *ring;  /* verifies shipped heads (the signer's key and the trusted keys) */
    uint64_t interval_ms;        /* between shipments */
} audit_ship_config;

/* `result` is SL_SUCCESS with *shipped where the shipped log ends (seq 0: nothing
 * shipped), or SL_FAILURE with the last error set: SL_ERR_STATE (the local log is
 * shorter or differs; the detail names the first such record and the segment), SL_ERR_CRYPTO /
 * SL_ERR_NOT_FOUND (a shipped head does not verify / was signed by an untrusted key),
 * SL_ERR_PARSE (a shipped segment or the local log is malformed), S3 and I/O errors
 * (the check could not finish: fail closed). */
typedef void audit_ship_checked_fn(void *user, sl_result result, const audit_chain_point *shipped);

/* Starts the check; `done` runs once, asynchronously (never when this returns an error). */
SL_MUST_CHECK sl_result audit_ship_check(uv_loop_t *loop, const audit_ship_config *config,
                                         audit_ship_checked_fn *done, void *user);

typedef struct audit_shipper audit_shipper;

typedef struct audit_ship_stats {
    uint64_t segments, records, bytes, requests, failures;
    uint64_t shipped_seq; /* the last record shipped */
    bool stopped;         /* a conflict or a broken local chain: no more shipping */
} audit_ship_stats;

/* Ships from `shipped` (what audit_ship_check found) on. */
SL_MUST_CHECK sl_result audit_shipper_new(uv_loop_t *loop, const audit_ship_config *config, audit_log *log,
                                          const audit_chain_point *shipped, audit_shipper **out);

/* Ships everything synced so far (call after audit_log_flush has completed), then
 * calls done (asynchronously, once) — also when shipping fails or timeout_ms passes. */
void audit_shipper_drain(audit_shipper *s, uint64_t timeout_ms, void (*done)(void *user), void *user);

audit_ship_stats audit_shipper_stats(const audit_shipper *s);

/* Stops the timer and frees the shipper once its handles are closed (keep running the
 * loop). Destroy the S3 client first: a request in flight completes (cancelled) into the
 * shipper. NULL is fine. */
void audit_shipper_destroy(audit_shipper *s);

#endif /* SLUICE_AUDIT_SHIP_H */
