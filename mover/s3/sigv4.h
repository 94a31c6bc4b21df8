/*
 * sigv4.h — AWS Signature Version 4: signed requests, presigned URLs, the streaming
 * (aws-chunked) signature chain and presigned POST policies, with OpenSSL's
 * HMAC-SHA256 and SHA-256.
 *
 * A request is described by `sigv4_request` (method, path, raw query parameters,
 * headers, payload); who signs, where and when by `sigv4_signing` (credentials, region,
 * service, the signing time — an input, never read from the clock here — and an
 * optional key cache). `sigv4_sign_headers` produces the Authorization header and the
 * headers the caller must add; `sigv4_presign` produces a presigned URL (query-string
 * auth). Both fill a `sigv4_signed` that also keeps every intermediate (canonical
 * request, string to sign, signature) for test vectors and debugging. A streaming
 * upload signs its seed request with SIGV4_STREAMING_PAYLOAD as the payload hash and
 * then chains chunk signatures with `sigv4_stream_*`. `sigv4_presign_post` builds the
 * policy document and form fields of a browser-style POST upload.
 *
 * Paths (Signature Version 4, "Create a canonical request", CanonicalURI):
 *   SIGV4_URI_S3       `path` is the UNENCODED path, e.g. "/bucket/my key+%.txt": the
 *                      object key's bytes exactly. It must be valid UTF-8. It is never
 *                      normalized ("." , ".." and "//" are key bytes) and each segment is
 *                      percent-encoded once; that encoding is both the canonical URI and
 *                      the path to send (sigv4_signed.path).
 *   SIGV4_URI_S3_ENCODED  `path` is an S3 path as written in a URI, already percent-
 *                      encoded ("/bucket/my%20key%E2%9C%93"): every %XX (either case)
 *                      is decoded and the result treated exactly as SIGV4_URI_S3 — so
 *                      the canonical URI and the path sent are the same bytes as for the
 *                      unencoded path, never encoded twice ("%2520"). A "%" without two
 *                      hex digits, or bytes that do not decode to UTF-8, are errors.
 *   SIGV4_URI_GENERIC  `path` is the URI path as the request carries it (already
 *                      encoded by the caller where it needs to be). It is normalized
 *                      (RFC 3986 5.2.4 dot segments removed, repeated "/" collapsed)
 *                      and percent-encoded once more for the canonical URI — the
 *                      "double encoding" of non-S3 services. It is sent as given.
 * Query parameters are given RAW (unencoded name and value, any bytes) in `query`, or as
 * the query string of a URI, already percent-encoded, in `encoded_query`. Either way the
 * signer canonicalizes the same bytes: RFC 3986 unreserved kept, everything else %XX
 * (upper-case hex, "/" included), sorted by encoded name, then encoded value. An
 * encoded query is split at "&" (empty pieces skipped) and at each piece's first "=",
 * and every %XX is decoded first: "%E1%88%B4=v", "%e1%88%b4=v" and the raw U+1234 = "v"
 * canonicalize alike, "%41" becomes "A", "%2F" stays "%2F". A "+" is the byte "+" (RFC
 * 3986; spaces must be written %20), and the query sent (sigv4_signed.query) is the
 * canonical one, so what the server decodes is what was signed. Header names are case-insensitive
 * tokens; values are trimmed, inner runs of spaces/tabs and obs-folds (CRLF or LF
 * followed by a space or tab) become one space, and repeated names are joined with ","
 * in the order given. Every header passed in is signed; Host is required.
 *
 * Errors: every function that can fail returns sl_result and raises a detailed last
 * error (SL_ERR_INVALID_ARGUMENT for bad inputs, SL_ERR_ENCODING for invalid UTF-8,
 * SL_ERR_CRYPTO if OpenSSL fails); on error the output is not modified. Secrets (the
 * secret key, derived keys, intermediate HMACs) are wiped with OPENSSL_cleanse after
 * use, and compared only with sigv4_signature_equal (CRYPTO_memcmp).
 * Threading: all functions are reentrant; a sigv4_key_cache, sigv4_signed or
 * sigv4_stream belongs to one thread at a time.
 */
#ifndef SLUICE_S3_SIGV4_H
#define SLUICE_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "s3/credentials.h"
#include "util/buf.h"
#include "util/error.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define SIGV4_STREAMING_PAYLOAD_TRAILER "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
/* Presigned URLs and POST policies live between 1 s and 7 days. */
#define SIGV4_MIN_EXPIRES 1u
#define SIGV4_MAX_EXPIRES 604800u
#define SIGV4_KEY_LEN 32
#define SIGV4_SIGNATURE_HEX_LEN 64
#define SIGV4_AMZ_DATE_LEN 16 /* "20150830T123600Z" */
/* At most this many headers for the caller to add (see sigv4_signed_headers_to_add). */
#define SIGV4_MAX_ADDED_HEADERS 4

/* A name/value pair: a header, a raw query parameter, a POST condition or form field. */
typedef struct sigv4_pair {
    sl_cursor name;
    sl_cursor value;
} sigv4_pair;

typedef enum sigv4_uri_mode {
    SIGV4_URI_S3 = 0,     /* unencoded path, encoded once, never normalized */
    SIGV4_URI_GENERIC,    /* URI path, normalized and encoded again */
    SIGV4_URI_S3_ENCODED, /* S3 path already encoded: decoded, then as SIGV4_URI_S3 */
} sigv4_uri_mode;

/* The last derived signing key, for one (date, region, service, secret). Opaque. */
typedef struct sigv4_key_cache sigv4_key_cache;

/* Who signs, for what scope, when. Borrowed: nothing here is copied or freed. */
typedef struct sigv4_signing {
    const s3_credentials *credentials; /* key id and secret non-empty; token optional */
    sl_cursor region;                  /* "us-east-1" */
    sl_cursor service;                 /* "s3" */
    time_t time;                       /* the signing time (UTC seconds) */
    /* The session token is added after signing and not signed (the omit_session_token
     * of the test suites; some services want it so). Default false: it is signed. */
    bool omit_session_token;
    sigv4_key_cache *key_cache; /* optional; NULL derives the key every time */
} sigv4_signing;

/* The request to sign. Borrowed: cursors must stay valid during the call only. */
typedef struct sigv4_request {
    sl_cursor method;  /* "GET", "PUT"; an HTTP token, used as given */
    sl_cursor path;    /* begins with "/"; see uri_mode and the paragraph above */
    sigv4_uri_mode uri_mode;
    const sigv4_pair *query; /* raw (unencoded) parameters; a name without value: empty value */
    size_t query_count;
    /* Or (when encoded_query.ptr is non-NULL; query_count must then be 0) the query
     * string as written in a URI, without the "?": percent-encoded, as described above.
     * A "%" without two hex digits after it is SL_ERR_INVALID_ARGUMENT. */
    sl_cursor encoded_query;
    const sigv4_pair *headers; /* all signed; must contain Host exactly once */
    size_t header_count;
    /* The payload hash: when payload_hash.ptr is non-NULL it is used as given
     * (SIGV4_UNSIGNED_PAYLOAD, SIGV4_STREAMING_PAYLOAD, or a hex digest the caller
     * computed); otherwise the SHA-256 of `body` (empty body: e3b0c442…). */
    sl_cursor payload_hash;
    sl_cursor body;
    /* Header signing only: add and sign x-amz-content-sha256 (S3 wants it). */
    bool add_content_sha256;
    /* Presigned URL only: its scheme; empty means "https". */
    sl_cursor scheme;
} sigv4_request;

/* The result of signing; owns all of its memory. Zero-initialise before use. */
typedef struct sigv4_signed {
    sl_buf canonical_request;
    sl_buf string_to_sign;
    sl_buf credential_scope; /* "20150830/us-east-1/service/aws4_request" */
    sl_buf signed_headers;   /* "host;x-amz-date" */
    sl_buf payload_hash;     /* the hash in the canonical request's last line */
    char amz_date[SIGV4_AMZ_DATE_LEN + 1];
    char signature[SIGV4_SIGNATURE_HEX_LEN + 1]; /* lower-case hex */
    /* What to send. path: encoded request path. query: encoded query string without
     * "?" — header signing: the canonical query; presigning: every parameter including
     * X-Amz-Signature (and an omitted token). */
    sl_buf path;
    sl_buf query;
    sl_buf authorization; /* header signing: the Authorization header value */
    sl_buf url;           /* presigning: scheme://host/path?query */
    sl_buf session_token; /* a copy of the token when there is one (wiped on clean up) */
    bool presigned;
} sigv4_signed;

/* Signs `req` with an Authorization header (header-based auth). The canonical request
 * signs X-Amz-Date, the request's headers, x-amz-content-sha256 when asked and the
 * session token unless omitted. Errors (SL_ERR_INVALID_ARGUMENT unless said): empty
 * key id or secret; a bad method; a path not beginning with "/"; S3 path not UTF-8
 * (SL_ERR_ENCODING); a header name that is not a token; a header value with a control
 * character that cannot be folded; Host missing, empty or repeated; a header the signer
 * owns given by the caller (Authorization, X-Amz-Date, and x-amz-content-sha256 /
 * X-Amz-Security-Token when the signer adds them). On success *out (zeroed or cleaned
 * up beforehand) owns the result; on error *out is not modified. */
SL_MUST_CHECK sl_result sigv4_sign_headers(const sigv4_signing *signing, const sigv4_request *req,
                                           sigv4_signed *out);

/* Presigns `req` (query-string auth) for expires_seconds (1…604800, else
 * SL_ERR_INVALID_ARGUMENT). Every header of the request is signed (extra ones such as
 * "If-None-Match: *" or Content-Length bind the client to send them). The auth
 * parameters (X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders and the
 * token unless omitted) join the query; giving any of them, or X-Amz-Signature, in the
 * request's query is an error. S3 presigned URLs use SIGV4_UNSIGNED_PAYLOAD as
 * payload_hash. The same other errors and ownership as sigv4_sign_headers. */
SL_MUST_CHECK sl_result sigv4_presign(const sigv4_signing *signing, const sigv4_request *req,
                                      uint32_t expires_seconds, sigv4_signed *out);

/* The headers to add to a request signed by sigv4_sign_headers, in this order:
 * Authorization, X-Amz-Date, x-amz-content-sha256 (when added), X-Amz-Security-Token
 * (when there is a token, signed or not). Fills out[] with cursors into *s (valid while
 * *s is neither moved nor cleaned up) and returns how many; 0 for a presigned result. */
size_t sigv4_signed_headers_to_add(const sigv4_signed *s, sigv4_pair out[SIGV4_MAX_ADDED_HEADERS]);

/* Frees everything (wiping the token and signature); accepts NULL and zeroed structs. */
void sigv4_signed_clean_up(sigv4_signed *s);

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd(time)), region), service),
 * "aws4_request"). Empty secret, region or service: SL_ERR_INVALID_ARGUMENT. The caller
 * wipes key[] when done. On error key[] is zeroed. */
SL_MUST_CHECK sl_result sigv4_derive_signing_key(sl_cursor secret, time_t time, sl_cursor region,
                                                 sl_cursor service, uint8_t key[SIGV4_KEY_LEN]);

/* A cache of the last derived key; signing with the same UTC date, region, service and
 * secret (recognised by its SHA-256, compared in constant time) reuses it. _destroy
 * wipes it and accepts NULL. Not thread-safe: one cache per thread. */
sigv4_key_cache *sigv4_key_cache_new(void);
void sigv4_key_cache_destroy(sigv4_key_cache *cache);
/* How many keys the cache has derived so far (a miss derives; a hit does not). */
unsigned long sigv4_key_cache_derivations(const sigv4_key_cache *cache);

/* Constant-time equality of two signatures (or any secrets): the lengths may leak, the
 * contents do not (CRYPTO_memcmp). */
bool sigv4_signature_equal(sl_cursor a, sl_cursor b);

typedef enum sigv4_encoding {
    SIGV4_ENCODE_PATH,  /* keeps "/" (a path's segment separator) */
    SIGV4_ENCODE_QUERY, /* encodes "/" too */
} sigv4_encoding;

/* Appends the SigV4 URI encoding of `in` to out: A-Z a-z 0-9 - . _ ~ unchanged, every
 * other byte as %XX (upper-case hex). On error (overflow) out is unchanged. */
SL_MUST_CHECK sl_result sigv4_uri_encode(sl_buf *out, sl_cursor in, sigv4_encoding encoding);

/* ---- streaming uploads (aws-chunked, "Signature Calculations for the Authorization
 * Header: Transferring Payload in Multiple Chunks") ---- */

typedef struct sigv4_stream {
    uint8_t key[SIGV4_KEY_LEN];
    char amz_date[SIGV4_AMZ_DATE_LEN + 1];
    sl_buf credential_scope;
    sl_buf string_to_sign;                       /* of the last chunk or trailer */
    char signature[SIGV4_SIGNATURE_HEX_LEN + 1]; /* the last signature of the chain */
} sigv4_stream;

/* Starts a chain from a seed request signed by sigv4_sign_headers at signing->time
 * (its signature is the chain's first "previous signature"). On error *stream is not
 * modified; on success the caller must call sigv4_stream_clean_up. */
SL_MUST_CHECK sl_result sigv4_stream_init(sigv4_stream *stream, const sigv4_signing *signing,
                                          const sigv4_signed *seed);
/* Signs the next chunk's data (the final chunk is empty); the result is in
 * stream->signature, its string to sign in stream->string_to_sign. */
SL_MUST_CHECK sl_result sigv4_stream_sign_chunk(sigv4_stream *stream, sl_cursor data);
/* Signs the trailing headers (after the final chunk) as "name:value\n" lines with
 * lower-cased names and trimmed values; the result is in stream->signature. */
SL_MUST_CHECK sl_result sigv4_stream_sign_trailer(sigv4_stream *stream, const sigv4_pair *trailers,
                                                  size_t count);
/* Wipes the key and frees; accepts NULL and zeroed structs. */
void sigv4_stream_clean_up(sigv4_stream *stream);

/* ---- presigned POST ("Browser-Based Uploads Using POST", policy construction) ---- */

typedef struct sigv4_post_policy {
    sl_cursor bucket;          /* {"bucket": …} */
    sl_cursor key_prefix;      /* ["starts-with", "$key", prefix] (empty: any key) */
    uint64_t min_length;       /* ["content-length-range", min, max] */
    uint64_t max_length;
    uint32_t expires_seconds;  /* expiration = signing time + this; 1…604800 */
    const sigv4_pair *conditions; /* extra exact matches {"name": "value"}, in order */
    size_t condition_count;
} sigv4_post_policy;

typedef struct sigv4_form_field {
    char *name;
    char *value;
} sigv4_form_field;

typedef struct sigv4_post_form {
    sl_buf policy_json; /* the policy document, compact JSON, fixed key order */
    sl_buf policy;      /* its base64: the "policy" form field and the string to sign */
    char signature[SIGV4_SIGNATURE_HEX_LEN + 1];
    /* What the client must send besides `key` (which must start with key_prefix) and
     * `file` (last): x-amz-algorithm, x-amz-credential, x-amz-date,
     * [x-amz-security-token], the extra conditions, policy, x-amz-signature. */
    sigv4_form_field *fields;
    size_t field_count;
} sigv4_post_form;

/* Builds and signs a POST policy. The policy is
 *   {"expiration":"YYYY-MM-DDTHH:MM:SSZ","conditions":[{"bucket":…},
 *    ["starts-with","$key",prefix],["content-length-range",min,max],{extra…}…,
 *    {"x-amz-algorithm":"AWS4-HMAC-SHA256"},{"x-amz-credential":…},
 *    {"x-amz-date":…}[,{"x-amz-security-token":…}]]}
 * (the token is always included: omit_session_token does not apply to POST). Errors
 * (SL_ERR_INVALID_ARGUMENT): bad credentials or scope, empty bucket, min > max, max
 * above INT64_MAX, expiry out of range, an empty condition name or one the signer
 * owns (bucket, key, policy, x-amz-algorithm/credential/date/signature/security-token);
 * SL_ERR_ENCODING for text that is not UTF-8. On success *out (zeroed beforehand) owns
 * the result; on error it is not modified. */
SL_MUST_CHECK sl_result sigv4_presign_post(const sigv4_signing *signing, const sigv4_post_policy *policy,
                                           sigv4_post_form *out);
/* Frees everything (wiping the signature and token); accepts NULL and zeroed structs. */
void sigv4_post_form_clean_up(sigv4_post_form *form);

#endif /* SLUICE_S3_SIGV4_H */
