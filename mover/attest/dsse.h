/*
 * dsse.h — the Dead Simple Signing Envelope (DSSE v1.0) and the canonical JSON the
 * attestations are written in.
 *
 * A DSSE signature is over the pre-authentication encoding of a payload and its type
 * (DSSE "Protocol": PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP
 * body, LEN the ASCII decimal byte count without leading zeros), never over the
 * payload alone, so a signature cannot be replayed onto another type. The envelope is
 * {"payload":base64(body),"payloadType":type,"signatures":[{"keyid":…,"sig":base64}]}.
 *
 * Canonical JSON: statements and envelopes are written as RFC 8785 (JSON
 * Canonicalization Scheme) prescribes for the values they use — no white space, object
 * keys in code-unit order (the callers write them sorted; all keys are ASCII), strings
 * as UTF-8 with only `"`, `\` and the control characters escaped (\b \t \n \f \r, the
 * rest \u00xx in lower-case hex), integers in plain decimal. So the same facts always
 * give the same bytes, and any JCS implementation reproduces them.
 *
 * Base64 is RFC 4648 section 4 with padding; the decoder is strict (that alphabet,
 * padding required, unused bits zero), so one signature has one encoding.
 *
 * Threading: pure functions, any thread. Errors: SL_ERR_ENCODING (a string that is not
 * UTF-8), SL_ERR_PARSE (bad base64), SL_ERR_NOT_FOUND / SL_ERR_CRYPTO (from the keyring:
 * unknown key / bad signature), SL_ERR_OVERFLOW. Appending functions leave `out` with
 * what was appended before a failure only partly written: callers discard it.
 */
#ifndef SLUICE_ATTEST_DSSE_H
#define SLUICE_ATTEST_DSSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/keys.h"
#include "util/buf.h"
#include "util/error.h"

#define ATTEST_INTOTO_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define ATTEST_BASE64_SIGNATURE_LEN 88 /* base64 of 64 bytes, padded */

/* ---- canonical JSON pieces ---- */

/* Whether the bytes are well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF). NUL bytes are allowed (they are escaped). */
bool attest_utf8_valid(sl_cursor text);

/* Appends `text` as a JSON string (with its quotes), escaped as above. */
SL_MUST_CHECK sl_result attest_json_string(sl_buf *out, sl_cursor text);

/* ---- base64 ---- */

SL_MUST_CHECK sl_result attest_base64_encode(sl_buf *out, const uint8_t *bytes, size_t len);
/* Decodes strictly into out (appending). */
SL_MUST_CHECK sl_result attest_base64_decode(sl_buf *out, sl_cursor text);

/* ---- DSSE ---- */

/* Appends PAE(type, payload). */
SL_MUST_CHECK sl_result attest_pae(sl_buf *out, sl_cursor payload_type, sl_cursor payload);

/* Signs PAE(type, payload). */
SL_MUST_CHECK sl_result attest_dsse_sign(const attest_signer *signer, sl_cursor payload_type, sl_cursor payload,
                                         uint8_t sig[ATTEST_SIGNATURE_LEN]);

/* Verifies a signature of PAE(type, payload) with the ring's key `key_id`. */
SL_MUST_CHECK sl_result attest_dsse_verify(const attest_keyring *ring, sl_cursor key_id, sl_cursor payload_type,
                                           sl_cursor payload, const uint8_t *sig, size_t sig_len);

/* Appends the envelope (canonical JSON, one signature, no newline). */
SL_MUST_CHECK sl_result attest_dsse_envelope(sl_buf *out, sl_cursor payload_type, sl_cursor payload,
                                             sl_cursor key_id, const uint8_t sig[ATTEST_SIGNATURE_LEN]);

#endif /* SLUICE_ATTEST_DSSE_H */
