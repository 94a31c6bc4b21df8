/*
 * segment.h — audit segments: the pieces of the local audit log that the daemon ships to
 * the control prefix, each with a signed head, and the pure functions that write,
 * read and compare them (no I/O; ship.h does the S3 side).
 *
 * A segment is a run of whole, fsync'd lines of the local log, byte for byte: records
 * first..last, which sat at bytes [start, end) of the local file. It is stored, created
 * once (If-None-Match: *), at
 *
 *   <control_prefix>audit/<log name>/<first, 20 digits>-<last, 20 digits>.jsonl
 *
 * so keys sort by record number. Its **head** is an in-toto Statement (DSSE-signed with
 * the mover's key, dsse.h) whose subject is the segment's key and the SHA-256 of its
 * bytes, and whose predicate (type https://sluice.dev/attestation/audit-segment/v1)
 * says: the log's name, first and last record, their byte range in the local file, the
 * SHA-256 of the record before the first ("prev" of the first line: it chains the
 * segment to the one before) and of the last record. The head travels in the object's
 * metadata (sluice-audit-* fields, the key id and the signature), so one PUT ships a
 * segment, and the statement is rebuilt from key, bytes and metadata.
 *
 * Lines are read by position, as the writer lays them out (audit.h): a line starts with
 * {"seq":N, and ends with ,"prev":"<64 hex>"}. audit_segment_scan checks a run of lines
 * against the chain (seq + 1, prev = SHA-256 of the line before).
 *
 * Threading: pure functions, any thread. Errors: SL_ERR_PARSE (a line, key or metadata
 * that is not what the format says; the detail names it), SL_ERR_INVALID_ARGUMENT.
 */
#ifndef SLUICE_AUDIT_SEGMENT_H
#define SLUICE_AUDIT_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/keys.h"
#include "util/buf.h"
#include "util/error.h"

#define AUDIT_SEGMENT_PREDICATE_TYPE "https://sluice.dev/attestation/audit-segment/v1"
#define AUDIT_SEGMENT_MAX_BYTES ((size_t)4 << 20) /* at least one whole line (1 MiB) fits */
#define AUDIT_LOG_NAME_MAX 64

/* Where the chain stands after a run of lines. */
typedef struct audit_chain_point {
    uint64_t seq;       /* of the last line (0: none yet) */
    uint64_t offset;    /* bytes of the local file up to and including its newline */
    uint8_t hash[32];   /* SHA-256 of the last line (zeros: none) */
} audit_chain_point;

/* A segment's head: what the signature covers besides the key and the bytes. */
typedef struct audit_segment_head {
    char log[AUDIT_LOG_NAME_MAX + 1];
    uint64_t first, last;
    uint64_t start, end;      /* byte range in the local file */
    uint8_t prev[32];         /* SHA-256 of record first - 1 (zeros for first == 1) */
    uint8_t head[32];         /* SHA-256 of record last */
    uint8_t digest[32];       /* SHA-256 of the segment's bytes */
    char key_id[ATTEST_KEY_ID_LEN + 1];
    uint8_t sig[ATTEST_SIGNATURE_LEN];
} audit_segment_head;

/* Whether `name` is a valid log name: 1..64 of [a-z0-9._-], not starting with "." */
bool audit_log_name_valid(const char *name);

/* "<prefix>" "<first>-<last>.jsonl" with 20-digit numbers, appended to out. */
SL_MUST_CHECK sl_result audit_segment_key(sl_buf *out, const char *prefix, uint64_t first, uint64_t last);
/* Reads first and last back from a key under `prefix`. */
SL_MUST_CHECK sl_result audit_segment_key_parse(sl_cursor key, const char *prefix, uint64_t *first, uint64_t *last);
/* The smallest S3 start-after string that lists segments whose first record is >= seq
 * (appended to out). */
SL_MUST_CHECK sl_result audit_segment_start_after(sl_buf *out, const char *prefix, uint64_t seq);

/* Reads seq and prev of one line (without its newline) by position. */
SL_MUST_CHECK sl_result audit_line_fields(sl_cursor line, uint64_t *seq, uint8_t prev[32]);

/* Walks the whole lines of `bytes` (which start at local offset point->offset) on from
 * `point`: each line's seq must be point->seq + 1 and its prev point->hash (when
 * point->seq is 0 any first line is accepted as the start: seq 1 with prev zeros).
 * Stops at the last newline; *used = bytes consumed (whole lines), *point advanced. With
 * max_lines (0: no limit) it stops after that many. On a broken link SL_ERR_PARSE names
 * the record ("record 17: prev is not the SHA-256 of record 16"), *point is at the last
 * good line and *bad_seq is the number the bad line should have had. */
SL_MUST_CHECK sl_result audit_segment_scan(sl_cursor bytes, audit_chain_point *point, size_t *used, uint64_t *bad_seq);

/* The head statement (canonical JSON, dsse.h) of a segment at `key`. */
SL_MUST_CHECK sl_result audit_segment_statement(sl_buf *out, sl_cursor key, const audit_segment_head *h);

/* Signs the head (fills key_id and sig) and writes its metadata pairs into `store`
 * (names and values, each NUL-terminated; `pairs` gets 2 * count cursors into it;
 * count <= 12). */
SL_MUST_CHECK sl_result audit_segment_sign(const attest_signer *signer, sl_cursor key, audit_segment_head *h,
                                           sl_buf *store, sl_cursor *pairs, size_t *count);

/* Reads a head back from a segment object's metadata (key_id and sig included; digest
 * is left zero: the caller hashes the bytes). */
SL_MUST_CHECK sl_result audit_segment_head_decode(const sl_cursor *pairs, size_t count, audit_segment_head *h);

/* Checks the signature of a head (digest filled in by the caller) for the segment at
 * `key`: SL_ERR_NOT_FOUND (key not trusted), SL_ERR_CRYPTO (does not verify). */
SL_MUST_CHECK sl_result audit_segment_verify(const attest_keyring *ring, sl_cursor key, const audit_segment_head *h);

/* Checks that the bytes of a segment are what its head says: whole lines from first to
 * last, chained from prev, the last hashing to head, end - start bytes. */
SL_MUST_CHECK sl_result audit_segment_check_bytes(sl_cursor bytes, const audit_segment_head *h);

/* Compares a segment's bytes with the local file's bytes at the same place
 * (local_bytes start at offset h->start; may be shorter). On the first line that
 * differs or is missing, SL_ERR_STATE with a detail naming the record, and *record =
 * its seq; SL_SUCCESS when every line is there and equal. */
SL_MUST_CHECK sl_result audit_segment_compare(sl_cursor segment_bytes, sl_cursor local_bytes,
                                              const audit_segment_head *h, uint64_t *record);

#endif /* SLUICE_AUDIT_SEGMENT_H */
