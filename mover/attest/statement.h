/*
 * statement.h — what sluice vouches for when it promotes an object, as an in-toto
 * Statement (v1), and its compact form in the object's S3 user metadata.
 *
 * The facts (attest_facts) come from the pipeline as typed values. attest_statement
 * writes them as the canonical Statement (dsse.h's JSON rules, keys sorted):
 *
 *   {"_type":"https://in-toto.io/Statement/v1",
 *    "predicate":{"artifact":…,"checks":[{"name":…,"version":…},…],"decision":…,
 *                 "findings":N,"mediaType":…,"reviewers":[…],"route":…,"stagingKey":…,
 *                 "task":…,"times":{"checked":…,"decided":…,"quarantined":…,"signed":…}},
 *    "predicateType":"https://sluice.dev/attestation/promotion/v1",
 *    "subject":[{"digest":{"sha256":…},"name":<trusted key>}]}
 *
 * (a check without a version has no "version"; "mediaType" is left out when empty; a
 * time that is not known is left out of "times"; "signed" is always there).
 *
 * The metadata (docs/attestation.md, "Metadata") carries every fact but the subject's
 * name and the media type, which are the object's own key and Content-Type, so the
 * statement is rebuilt byte for byte from a HEAD or GET answer and costs no request of
 * its own. Values are ASCII: bytes outside "!".."~", and "%", ",", "=", are written
 * %XX (upper-case hex) and nothing else is; the decoder accepts exactly that form, so
 * one set of facts has one metadata text. The staging key is written as the part
 * before its longest common suffix with the trusted key, and that suffix's length.
 *
 * Ownership: attest_facts borrows everything; attest_decoded owns its strings (free
 * with attest_decoded_clean_up; its facts point into it).
 * Threading: pure, any thread.
 * Errors: SL_ERR_INVALID_ARGUMENT (facts that cannot be attested: a missing field, a
 * SHA-256 that is not 64 lower-case hex digits, too many checks or reviewers, a time
 * out of range), SL_ERR_ENCODING (text that is not UTF-8), SL_ERR_NOT_FOUND (decode: no
 * attestation in the metadata), SL_ERR_PARSE (decode: a field missing or malformed;
 * the detail names it), SL_ERR_LIMIT.
 */
#ifndef SLUICE_ATTEST_STATEMENT_H
#define SLUICE_ATTEST_STATEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/keys.h"
#include "util/buf.h"
#include "util/error.h"

#define ATTEST_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define ATTEST_PREDICATE_TYPE "https://sluice.dev/attestation/promotion/v1"
#define ATTEST_FORMAT_VERSION "1" /* the sluice-attestation field: this mapping */

#define ATTEST_MAX_CHECKS 32
#define ATTEST_MAX_REVIEWERS 8
#define ATTEST_SUBJECT_HINT_LEN 16 /* hex characters of SHA-256(trusted key) */
/* The most metadata the decoder reads (names and values): S3 allows 2 KiB of user
 * metadata; this leaves room for servers that allow more, and bounds memory. */
#define ATTEST_MAX_METADATA ((size_t)16 * 1024)

typedef struct attest_check {
    sl_cursor name;    /* "sha256", "type", "rules", … */
    sl_cursor version; /* the rule or signature set version; empty: none */
} attest_check;

/* The times of an artifact's life (Unix ms; 0: not known, left out). */
typedef struct attest_times {
    int64_t quarantined_ms, checked_ms, decided_ms, signed_ms; /* signed_ms is required */
} attest_times;

typedef struct attest_facts {
    sl_cursor trusted_key;    /* the subject's name: the object's key in trusted */
    sl_cursor sha256;         /* 64 lower-case hex digits */
    sl_cursor media_type;     /* the Content-Type the object carries; may be empty */
    sl_cursor artifact, task, route, decision; /* non-empty */
    sl_cursor staging_key;    /* non-empty */
    const attest_check *checks; /* 1..ATTEST_MAX_CHECKS, in the order they ran */
    size_t check_count;
    uint64_t findings;        /* findings that were not a pass; at most 2^53 */
    const sl_cursor *reviewers; /* 0..ATTEST_MAX_REVIEWERS user names (or "hook") */
    size_t reviewer_count;
    attest_times times;
} attest_facts;

/* Appends the canonical Statement of `facts` to out. */
SL_MUST_CHECK sl_result attest_statement(sl_buf *out, const attest_facts *facts);

/* ---- metadata ---- */

/* The metadata of one promotion: name/value pairs (names without "x-amz-meta-"), in a
 * fixed order; `bytes` is the sum of their lengths (what S3 counts against 2 KiB). */
typedef struct attest_headers {
    sl_buf store;
    sl_cursor pairs[2 * 16];
    size_t count; /* pairs */
    size_t bytes;
} attest_headers;

void attest_headers_clean_up(attest_headers *headers);

/* Writes the metadata of `facts` signed with `key_id`/`sig` into headers (replaced).
 * Does not sign (attest.h does); no size limit is applied here. */
SL_MUST_CHECK sl_result attest_metadata_encode(attest_headers *headers, const attest_facts *facts,
                                               const char *key_id, const uint8_t sig[ATTEST_SIGNATURE_LEN]);

/* The facts read back from metadata (all but trusted_key and media_type, which the
 * caller supplies from the object), with the signature they carry. */
typedef struct attest_decoded {
    attest_facts facts;
    char key_id[ATTEST_KEY_ID_LEN + 1];
    uint8_t sig[ATTEST_SIGNATURE_LEN];
    char subject_hint[ATTEST_SUBJECT_HINT_LEN + 1];
    size_t staging_suffix; /* bytes of the trusted key that end the staging key */
    sl_cursor staging_prefix;
    attest_check checks[ATTEST_MAX_CHECKS];
    sl_cursor reviewers[ATTEST_MAX_REVIEWERS];
    char *strings[8 + 2 * ATTEST_MAX_CHECKS + ATTEST_MAX_REVIEWERS];
    size_t string_count;
    sl_buf staging_key; /* rebuilt by attest_decoded_bind */
    char *unexpected;   /* the first user metadata name that is not ours (NULL: none) */
} attest_decoded;

/* Decodes user metadata pairs (names as S3 returns them, any case). Pairs whose name
 * does not start with "sluice-" are not ours: the first is named in out->unexpected (an
 * attested object carries no other metadata; the verifier refuses it); an unknown
 * "sluice-" name is SL_ERR_PARSE. SL_ERR_NOT_FOUND when there is no sluice-attestation
 * field at all. On error *out is cleaned up. */
SL_MUST_CHECK sl_result attest_metadata_decode(const sl_cursor *pairs, size_t count, attest_decoded *out);

/* Completes decoded facts with the object's key and Content-Type (borrowed: they must
 * outlive `d`), rebuilding the staging key. SL_ERR_PARSE when the key is shorter than
 * the staging suffix. */
SL_MUST_CHECK sl_result attest_decoded_bind(attest_decoded *d, sl_cursor trusted_key, sl_cursor media_type);

void attest_decoded_clean_up(attest_decoded *d);

/* The subject hint of a key: the first 16 hex digits of its SHA-256. */
SL_MUST_CHECK sl_result attest_subject_hint(sl_cursor trusted_key, char out[ATTEST_SUBJECT_HINT_LEN + 1]);

#endif /* SLUICE_ATTEST_STATEMENT_H */
