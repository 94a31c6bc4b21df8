/*
 * attest.h — attested promotion: the pipeline hands over typed facts and gets back the
 * metadata to put on the promote copy; a consumer hands over what it read of an object
 * and gets back a verdict with a reason.
 *
 * Signing (attest_sign_promotion): the facts become the canonical in-toto Statement
 * (statement.h), signed as a DSSE envelope (dsse.h: Ed25519 over PAE) with the mover's
 * key, and come back as S3 user metadata — sluice-sha256/-artifact/-task/-route/
 * -decision as before, and the fields that make the statement rebuildable with the key
 * id and the signature. Nothing here knows HTTP or the pipeline; it costs no request.
 * The metadata must fit S3's limit of ATTEST_METADATA_LIMIT bytes (names and values),
 * else SL_ERR_LIMIT names the size and the biggest parts: the caller fails the
 * promotion (fail closed), it never promotes without the attestation.
 *
 * Verifying (attest_verify_object): from the object's key, Content-Type, user metadata
 * and the SHA-256 of its bytes (computed while reading them), the statement is rebuilt
 * and its signature checked against the trusted keys. The verdict says why an object
 * fails, in this order: not attested, metadata the attestation does not cover, a key
 * the object was not attested for (moved or copied), malformed metadata, a signing key
 * that is not trusted, a signature that does not verify (a metadata field or the
 * Content-Type changed), bytes that are not the attested ones. The statement and its
 * envelope are in the verdict whenever they could be rebuilt (for `--intoto`).
 *
 * Ownership: verdicts own their buffers (attest_verdict_clean_up). Threading: pure
 * functions on immutable signers/keyrings: any thread.
 */
#ifndef SLUICE_ATTEST_ATTEST_H
#define SLUICE_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "attest/dsse.h"
#include "attest/keys.h"
#include "attest/statement.h"
#include "util/buf.h"
#include "util/error.h"

#define ATTEST_METADATA_LIMIT 2048 /* S3: user metadata names + values, in bytes */

/* Signs the facts (times.signed_ms 0 means now) and writes the promote copy's metadata
 * into *out (replaced). Errors: those of statement.h and keys.h; SL_ERR_LIMIT when the
 * metadata would exceed ATTEST_METADATA_LIMIT (nothing usable in *out). */
SL_MUST_CHECK sl_result attest_sign_promotion(const attest_signer *signer, const attest_facts *facts,
                                              attest_headers *out);

typedef enum attest_reason {
    ATTEST_VERIFIED = 0,
    ATTEST_NOT_ATTESTED,       /* no attestation metadata */
    ATTEST_MALFORMED,          /* attestation metadata that does not parse */
    ATTEST_UNCOVERED_METADATA, /* user metadata the attestation does not cover */
    ATTEST_UNKNOWN_KEY,        /* signed by a key that is not trusted */
    ATTEST_MOVED,              /* attested for another key: copied or moved */
    ATTEST_BAD_SIGNATURE,      /* the rebuilt statement is not what was signed */
    ATTEST_CONTENT_CHANGED,    /* the bytes' SHA-256 is not the attested one */
} attest_reason;

/* "verified", "not_attested", "malformed", "uncovered_metadata", "unknown_key", "moved",
 * "bad_signature", "content_changed". */
const char *attest_reason_name(attest_reason reason);

typedef struct attest_verdict {
    attest_reason reason;
    char detail[512];                    /* one line for people */
    char key_id[ATTEST_KEY_ID_LEN + 1];  /* the signing key's id ("" if unknown) */
    sl_buf statement;                    /* the rebuilt statement (when the metadata parsed) */
    sl_buf envelope;                     /* ... and its DSSE envelope */
} attest_verdict;

typedef struct attest_object {
    sl_cursor key;           /* where the object sits */
    sl_cursor content_type;  /* its Content-Type ("" if none) */
    const sl_cursor *metadata; /* user metadata pairs as read (names without x-amz-meta-) */
    size_t metadata_count;
    sl_cursor sha256;        /* 64 lower-case hex digits: the SHA-256 of the bytes as read */
} attest_object;

/* Fills *v (replaced). Returns SL_SUCCESS whenever a verdict was reached — the verdict
 * says whether the object verified; SL_FAILURE only for invalid arguments or when
 * memory arithmetic fails. */
SL_MUST_CHECK sl_result attest_verify_object(const attest_keyring *ring, const attest_object *object,
                                             attest_verdict *v);

void attest_verdict_clean_up(attest_verdict *v);

#endif /* SLUICE_ATTEST_ATTEST_H */
