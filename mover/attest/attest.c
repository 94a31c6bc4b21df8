/*
 * attest.c — signing a promotion and verifying an object (attest.h): the glue between
 * the statement codec (statement.c), DSSE (dsse.c) and the keys (keys.c).
 */
#include "attest/attest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/timefmt.h"

static const char *const reason_names[] = {
    "verified", "not_attested", "malformed", "uncovered_metadata", "unknown_key", "moved", "bad_signature",
    "content_changed",
};

const char *attest_reason_name(attest_reason reason)
{
    return (size_t)reason < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[reason] : "unknown";
}

/* ---- signing ---- */

sl_result attest_sign_promotion(const attest_signer *signer, const attest_facts *facts, attest_headers *out)
{
    ENSURE(signer != NULL && facts != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT,
           "attest_sign_promotion needs a signer, facts and an output");
    attest_facts f = *facts;
    if (f.times.signed_ms == 0) f.times.signed_ms = sl_time_now_ms();
    sl_buf statement = { 0 };
    uint8_t sig[ATTEST_SIGNATURE_LEN];
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(attest_statement(&statement, &f));
    GUARD_CLEANUP(attest_dsse_sign(signer, sl_cursor_from_cstr(ATTEST_INTOTO_PAYLOAD_TYPE),
                                   sl_cursor_from_buf(&statement), sig));
    GUARD_CLEANUP(attest_metadata_encode(out, &f, attest_signer_key_id(signer), sig));
    if (out->bytes > ATTEST_METADATA_LIMIT) {
        (void)sl_error_raise(SL_ERR_LIMIT, __FILE__, __LINE__,
                             "the attestation metadata would be %zu bytes; S3 allows %d (staging key prefix %zu "
                             "bytes, %zu checks, %zu reviewers)",
                             out->bytes, ATTEST_METADATA_LIMIT, f.staging_key.len, f.check_count, f.reviewer_count);
        attest_headers_clean_up(out);
        goto cleanup;
    }
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&statement);
    return result;
}

/* ---- verifying ---- */

static void set_verdict(attest_verdict *v, attest_reason reason, const char *fmt, ...) SL_PRINTF(3, 4);
static void set_verdict(attest_verdict *v, attest_reason reason, const char *fmt, ...)
{
    v->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
    va_end(ap);
}

void attest_verdict_clean_up(attest_verdict *v)
{
    if (v == NULL) return;
    sl_buf_clean_up(&v->statement);
    sl_buf_clean_up(&v->envelope);
    *v = (attest_verdict){ 0 };
}

/* Rebuilds statement and envelope; false (with the verdict set) if they cannot be. */
static bool rebuild(attest_decoded *d, const attest_object *o, attest_verdict *v)
{
    if (sl_failed(attest_decoded_bind(d, o->key, o->content_type)) ||
        sl_failed(attest_statement(&v->statement, &d->facts)) ||
        sl_failed(attest_dsse_envelope(&v->envelope, sl_cursor_from_cstr(ATTEST_INTOTO_PAYLOAD_TYPE),
                                       sl_cursor_from_buf(&v->statement), sl_cursor_from_cstr(d->key_id), d->sig))) {
        sl_buf_reset(&v->statement);
        sl_buf_reset(&v->envelope);
        set_verdict(v, ATTEST_MALFORMED, "the statement cannot be rebuilt from the metadata: %s", sl_error_detail());
        return false;
    }
    return true;
}

static void judge(const attest_keyring *ring, attest_decoded *d, const attest_object *o, attest_verdict *v)
{
    memcpy(v->key_id, d->key_id, sizeof(v->key_id));
    if (d->unexpected != NULL) {
        set_verdict(v, ATTEST_UNCOVERED_METADATA,
                    "metadata field %.200s is not covered by the attestation (it was added after promotion)",
                    d->unexpected);
        return;
    }
    char hint[ATTEST_SUBJECT_HINT_LEN + 1];
    if (sl_ok(attest_subject_hint(o->key, hint)) && strcmp(hint, d->subject_hint) != 0) {
        set_verdict(v, ATTEST_MOVED, "attested for another key (the object was copied or moved here)");
        return;
    }
    if (!rebuild(d, o, v)) return;
    if (!attest_keyring_has(ring, sl_cursor_from_cstr(d->key_id))) {
        set_verdict(v, ATTEST_UNKNOWN_KEY, "signed by key %s, which is not among the %zu trusted keys", d->key_id,
                    attest_keyring_count(ring));
        return;
    }
    if (sl_failed(attest_dsse_verify(ring, sl_cursor_from_cstr(d->key_id), sl_cursor_from_cstr(ATTEST_INTOTO_PAYLOAD_TYPE),
                                     sl_cursor_from_buf(&v->statement), d->sig, sizeof(d->sig)))) {
        set_verdict(v, ATTEST_BAD_SIGNATURE,
                    "the signature does not verify: a metadata field or the Content-Type was changed after "
                    "promotion, or the object was copied from another key");
        return;
    }
    if (o->sha256.len != d->facts.sha256.len ||
        CRYPTO_memcmp(o->sha256.ptr, d->facts.sha256.ptr, d->facts.sha256.len) != 0) {
        set_verdict(v, ATTEST_CONTENT_CHANGED, "the bytes have SHA-256 %.64s, the attestation says %.64s",
                    (const char *)o->sha256.ptr, (const char *)d->facts.sha256.ptr);
        return;
    }
    set_verdict(v, ATTEST_VERIFIED, "signed by %s: artifact %.*s, task %.*s, route %.*s, decision %.*s", d->key_id,
                (int)d->facts.artifact.len, (const char *)d->facts.artifact.ptr, (int)d->facts.task.len,
                (const char *)d->facts.task.ptr, (int)d->facts.route.len, (const char *)d->facts.route.ptr,
                (int)d->facts.decision.len, (const char *)d->facts.decision.ptr);
}

sl_result attest_verify_object(const attest_keyring *ring, const attest_object *o, attest_verdict *v)
{
    ENSURE(ring != NULL && o != NULL && v != NULL && o->sha256.len == 64, SL_ERR_INVALID_ARGUMENT,
           "attest_verify_object needs a keyring, an object with the SHA-256 of its bytes and a verdict");
    *v = (attest_verdict){ 0 };
    attest_decoded d;
    if (sl_failed(attest_metadata_decode(o->metadata, o->metadata_count, &d))) {
        if (sl_error_last() == SL_ERR_NOT_FOUND)
            set_verdict(v, ATTEST_NOT_ATTESTED, "%s", sl_error_detail());
        else
            set_verdict(v, ATTEST_MALFORMED, "%s", sl_error_detail());
        return SL_SUCCESS;
    }
    judge(ring, &d, o, v);
    attest_decoded_clean_up(&d);
    return SL_SUCCESS;
}
