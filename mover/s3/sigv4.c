/*
 * sigv4.c — AWS Signature Version 4 (the contract is in sigv4.h).
 *
 * How the parts fit: validate_signing/validate_request check the inputs; the canonical
 * request is built from canonical_uri (encode once or normalize + encode again),
 * canonical_query (encode, sort) and canonical_headers (fold, lower-case, join, sort);
 * string_to_sign hashes it under the credential scope; signing_key derives (or takes
 * from the cache) the HMAC chain key and hmac_hex signs. sign_request runs all of that
 * for both header signing and presigning; the streaming chain and the POST policy reuse
 * the key and HMAC helpers. Section names cited are from the AWS docs "Create a signed
 * AWS API request" (IAM User Guide) and the S3 API Reference "Authenticating Requests
 * (AWS Signature Version 4)".
 */
#include "s3/sigv4.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/alloc.h"

#define SHA256_LEN 32
#define DATE_LEN 8 /* "20150830" */

struct sigv4_key_cache {
    bool valid;
    char date[DATE_LEN + 1];
    sl_buf region;
    sl_buf service;
    uint8_t secret_digest[SHA256_LEN];
    uint8_t key[SIGV4_KEY_LEN];
    unsigned long derivations;
};

/* ---- small predicates ---- */

static bool is_unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(sl_cursor c)
{
    if (c.len == 0) return false;
    for (size_t i = 0; i < c.len; i++)
        if (!is_tchar(c.ptr[i])) return false;
    return true;
}

static uint8_t to_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

/* A cursor is usable when it points somewhere or is empty. */
static bool cursor_valid(sl_cursor c) { return c.ptr != NULL || c.len == 0; }

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
 * On failure *bad_at is the offset of the first byte of the bad sequence. */
static bool utf8_valid(sl_cursor c, size_t *bad_at)
{
    size_t i = 0;
    while (i < c.len) {
        uint8_t b = c.ptr[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xc2 && b <= 0xdf) {
            n = 1;
            cp = b & 0x1fu;
        } else if (b >= 0xe0 && b <= 0xef) {
            n = 2;
            cp = b & 0x0fu;
        } else if (b >= 0xf0 && b <= 0xf4) {
            n = 3;
            cp = b & 0x07u;
        } else {
            *bad_at = i;
            return false;
        }
        if (c.len - i - 1 < n) {
            *bad_at = i;
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            uint8_t cont = c.ptr[i + k];
            if ((cont & 0xc0) != 0x80) {
                *bad_at = i;
                return false;
            }
            cp = (cp << 6) | (cont & 0x3fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
            *bad_at = i;
            return false;
        }
        i += n + 1;
    }
    return true;
}

/* A part of the credential scope or the key id: printable ASCII without "/", "," or
 * spaces (they would break "Credential=id/date/region/service/aws4_request"). */
static sl_result check_scope_part(sl_cursor v, const char *what)
{
    ENSURE(cursor_valid(v) && v.len > 0, SL_ERR_INVALID_ARGUMENT, "%s is empty", what);
    for (size_t i = 0; i < v.len; i++)
        ENSURE(v.ptr[i] > 0x20 && v.ptr[i] < 0x7f && v.ptr[i] != '/' && v.ptr[i] != ',',
               SL_ERR_INVALID_ARGUMENT, "%s has an invalid byte 0x%02x at %zu", what, v.ptr[i], i);
    return SL_SUCCESS;
}

static const char *session_token(const s3_credentials *creds)
{
    return (creds->session_token != NULL && creds->session_token[0] != '\0') ? creds->session_token
                                                                             : NULL;
}

static sl_result validate_signing(const sigv4_signing *signing)
{
    ENSURE(signing != NULL && signing->credentials != NULL, SL_ERR_INVALID_ARGUMENT,
           "no credentials to sign with");
    const s3_credentials *creds = signing->credentials;
    ENSURE(creds->access_key_id != NULL && creds->access_key_id[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "the access key id is empty");
    ENSURE(creds->secret_access_key != NULL && creds->secret_access_key[0] != '\0',
           SL_ERR_INVALID_ARGUMENT, "the secret access key is empty");
    GUARD(check_scope_part(sl_cursor_from_cstr(creds->access_key_id), "the access key id"));
    GUARD(check_scope_part(signing->region, "the region"));
    GUARD(check_scope_part(signing->service, "the service"));
    const char *token = session_token(creds);
    if (token != NULL) {
        for (const char *p = token; *p != '\0'; p++)
            ENSURE((uint8_t)*p > 0x20 && (uint8_t)*p < 0x7f, SL_ERR_INVALID_ARGUMENT,
                   "the session token has an invalid byte at %zu", (size_t)(p - token));
    }
    return SL_SUCCESS;
}

/* ---- dates ---- */

/* "20150830T123600Z" and "20150830" for the signing time. */
static sl_result format_amz_date(time_t t, char amz_date[SIGV4_AMZ_DATE_LEN + 1], char date[DATE_LEN + 1])
{
    struct tm tm;
    ENSURE(gmtime_r(&t, &tm) != NULL, SL_ERR_INVALID_ARGUMENT, "the signing time %lld is out of range",
           (long long)t);
    ENSURE(tm.tm_year + 1900 >= 1 && tm.tm_year + 1900 <= 9999, SL_ERR_INVALID_ARGUMENT,
           "the signing time %lld is not within years 1-9999", (long long)t);
    ENSURE(strftime(amz_date, SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) == SIGV4_AMZ_DATE_LEN,
           SL_ERR_INVALID_ARGUMENT, "the signing time %lld cannot be formatted", (long long)t);
    if (date != NULL) {
        memcpy(date, amz_date, DATE_LEN);
        date[DATE_LEN] = '\0';
    }
    return SL_SUCCESS;
}

/* ---- hashing ---- */

static sl_result sha256(sl_cursor data, uint8_t out[SHA256_LEN])
{
    unsigned int len = 0;
    static const uint8_t nothing = 0;
    GUARD_OSSL(EVP_Digest(data.len ? data.ptr : &nothing, data.len, out, &len, EVP_sha256(), NULL),
               SL_ERR_CRYPTO);
    ENSURE(len == SHA256_LEN, SL_ERR_CRYPTO, "SHA-256 gave %u bytes", len);
    return SL_SUCCESS;
}

static sl_result append_sha256_hex(sl_buf *out, sl_cursor data)
{
    uint8_t digest[SHA256_LEN];
    GUARD(sha256(data, digest));
    return sl_buf_append_hex(out, digest, sizeof(digest));
}

static sl_result hmac_sha256(const uint8_t *key, size_t key_len, sl_cursor msg, uint8_t out[SHA256_LEN])
{
    static const uint8_t nothing = 0;
    unsigned int len = 0;
    ENSURE(key_len <= INT_MAX, SL_ERR_LIMIT, "an HMAC key of %zu bytes", key_len);
    ENSURE(HMAC(EVP_sha256(), key, (int)key_len, msg.len ? msg.ptr : &nothing, msg.len, out, &len) != NULL &&
               len == SHA256_LEN,
           SL_ERR_CRYPTO, "HMAC-SHA256 failed");
    return SL_SUCCESS;
}

/* Hex HMAC of msg under a signing key, into a 65-byte buffer; the raw MAC is wiped. */
static sl_result hmac_hex(const uint8_t key[SIGV4_KEY_LEN], sl_cursor msg, char hex[SIGV4_SIGNATURE_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t mac[SHA256_LEN];
    if (sl_failed(hmac_sha256(key, SIGV4_KEY_LEN, msg, mac))) {
        OPENSSL_cleanse(mac, sizeof(mac));
        return SL_FAILURE;
    }
    for (size_t i = 0; i < SHA256_LEN; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 0x0f];
    }
    hex[SIGV4_SIGNATURE_HEX_LEN] = '\0';
    OPENSSL_cleanse(mac, sizeof(mac));
    return SL_SUCCESS;
}

/* "Derive a signing key for SigV4" (IAM User Guide, reference_sigv-create-signed-request). */
static sl_result derive_key(sl_cursor secret, const char date[DATE_LEN + 1], sl_cursor region,
                            sl_cursor service, uint8_t key[SIGV4_KEY_LEN])
{
    sl_result result = SL_FAILURE;
    sl_buf k_secret = { 0 };
    uint8_t k_date[SHA256_LEN], k_region[SHA256_LEN], k_service[SHA256_LEN];
    GUARD_CLEANUP(sl_buf_append_cstr(&k_secret, "AWS4"));
    GUARD_CLEANUP(sl_buf_append_cursor(&k_secret, secret));
    GUARD_CLEANUP(hmac_sha256(k_secret.data, k_secret.len, sl_cursor_from_bytes(date, DATE_LEN), k_date));
    GUARD_CLEANUP(hmac_sha256(k_date, sizeof(k_date), region, k_region));
    GUARD_CLEANUP(hmac_sha256(k_region, sizeof(k_region), service, k_service));
    GUARD_CLEANUP(hmac_sha256(k_service, sizeof(k_service), sl_cursor_from_cstr("aws4_request"), key));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up_secure(&k_secret);
    OPENSSL_cleanse(k_date, sizeof(k_date));
    OPENSSL_cleanse(k_region, sizeof(k_region));
    OPENSSL_cleanse(k_service, sizeof(k_service));
    if (sl_failed(result)) OPENSSL_cleanse(key, SIGV4_KEY_LEN);
    return result;
}

sl_result sigv4_derive_signing_key(sl_cursor secret, time_t time, sl_cursor region, sl_cursor service,
                                   uint8_t key[SIGV4_KEY_LEN])
{
    char amz_date[SIGV4_AMZ_DATE_LEN + 1];
    char date[DATE_LEN + 1];
    OPENSSL_cleanse(key, SIGV4_KEY_LEN);
    ENSURE(cursor_valid(secret) && secret.len > 0, SL_ERR_INVALID_ARGUMENT, "the secret access key is empty");
    GUARD(check_scope_part(region, "the region"));
    GUARD(check_scope_part(service, "the service"));
    GUARD(format_amz_date(time, amz_date, date));
    return derive_key(secret, date, region, service, key);
}

sigv4_key_cache *sigv4_key_cache_new(void) { return sl_calloc(1, sizeof(sigv4_key_cache)); }

void sigv4_key_cache_destroy(sigv4_key_cache *cache)
{
    if (cache == NULL) return;
    sl_buf_clean_up(&cache->region);
    sl_buf_clean_up(&cache->service);
    OPENSSL_cleanse(cache, sizeof(*cache));
    sl_free(cache);
}

unsigned long sigv4_key_cache_derivations(const sigv4_key_cache *cache)
{
    return cache != NULL ? cache->derivations : 0;
}

/* The signing key for signing's secret/region/service on `date`, from the cache when
 * it holds that one. The caller wipes key[]. */
static sl_result signing_key(const sigv4_signing *signing, const char date[DATE_LEN + 1],
                             uint8_t key[SIGV4_KEY_LEN])
{
    sl_cursor secret = sl_cursor_from_cstr(signing->credentials->secret_access_key);
    sigv4_key_cache *cache = signing->key_cache;
    if (cache == NULL) return derive_key(secret, date, signing->region, signing->service, key);

    uint8_t digest[SHA256_LEN];
    GUARD(sha256(secret, digest));
    if (cache->valid && memcmp(cache->date, date, DATE_LEN) == 0 &&
        sl_cursor_eq(sl_cursor_from_buf(&cache->region), signing->region) &&
        sl_cursor_eq(sl_cursor_from_buf(&cache->service), signing->service) &&
        CRYPTO_memcmp(cache->secret_digest, digest, sizeof(digest)) == 0) {
        memcpy(key, cache->key, SIGV4_KEY_LEN);
        OPENSSL_cleanse(digest, sizeof(digest));
        return SL_SUCCESS;
    }
    if (sl_failed(derive_key(secret, date, signing->region, signing->service, key))) {
        OPENSSL_cleanse(digest, sizeof(digest));
        return SL_FAILURE;
    }
    /* Replace the cached entry only once every part is copied. */
    sl_buf region = { 0 }, service = { 0 };
    if (sl_failed(sl_buf_append_cursor(&region, signing->region)) ||
        sl_failed(sl_buf_append_cursor(&service, signing->service))) {
        sl_buf_clean_up(&region);
        sl_buf_clean_up(&service);
        OPENSSL_cleanse(digest, sizeof(digest));
        OPENSSL_cleanse(key, SIGV4_KEY_LEN);
        return SL_FAILURE;
    }
    sl_buf_clean_up(&cache->region);
    sl_buf_clean_up(&cache->service);
    cache->region = region;
    cache->service = service;
    memcpy(cache->date, date, DATE_LEN + 1);
    memcpy(cache->secret_digest, digest, sizeof(digest));
    memcpy(cache->key, key, SIGV4_KEY_LEN);
    cache->valid = true;
    cache->derivations++;
    OPENSSL_cleanse(digest, sizeof(digest));
    return SL_SUCCESS;
}

bool sigv4_signature_equal(sl_cursor a, sl_cursor b)
{
    if (a.len != b.len) return false;
    if (a.len == 0) return true;
    return CRYPTO_memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* ---- URI encoding and the canonical URI ---- */

sl_result sigv4_uri_encode(sl_buf *out, sl_cursor in, sigv4_encoding encoding)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t worst;
    ENSURE(cursor_valid(in), SL_ERR_INVALID_ARGUMENT, "a NULL cursor with length %zu", in.len);
    ENSURE(sl_mul_size(in.len, 3, &worst), SL_ERR_OVERFLOW, "encoding %zu bytes", in.len);
    GUARD(sl_buf_reserve(out, worst));
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (is_unreserved(c) || (c == '/' && encoding == SIGV4_ENCODE_PATH)) {
            out->data[out->len++] = c;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = (uint8_t)digits[c >> 4];
            out->data[out->len++] = (uint8_t)digits[c & 0x0f];
        }
    }
    out->data[out->len] = '\0';
    return SL_SUCCESS;
}

/* Generic services: RFC 3986 5.2.4 remove_dot_segments, and empty segments ("//")
 * dropped; a trailing "/" (or a final "." / "..") keeps the result a directory. */
static sl_result normalize_path(sl_buf *out, sl_cursor path)
{
    size_t max_segments = 1;
    for (size_t i = 0; i < path.len; i++)
        if (path.ptr[i] == '/') max_segments++;
    sl_cursor *stack = sl_calloc(max_segments, sizeof(*stack));
    size_t depth = 0;
    bool directory = false;
    sl_cursor rest = path, segment;
    while (sl_cursor_next_token(&rest, '/', &segment)) {
        directory = false;
        if (segment.len == 0) {
            directory = true;
        } else if (sl_cursor_eq_cstr(segment, ".")) {
            directory = true;
        } else if (sl_cursor_eq_cstr(segment, "..")) {
            if (depth > 0) depth--;
            directory = true;
        } else {
            stack[depth++] = segment;
        }
    }
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(sl_buf_append_byte(out, '/'));
    for (size_t i = 0; i < depth; i++) {
        if (i > 0) GUARD_CLEANUP(sl_buf_append_byte(out, '/'));
        GUARD_CLEANUP(sl_buf_append_cursor(out, stack[i]));
    }
    if (directory && depth > 0) GUARD_CLEANUP(sl_buf_append_byte(out, '/'));
    result = SL_SUCCESS;
cleanup:
    sl_free(stack);
    return result;
}

/* CanonicalURI, and the path to send. */
static sl_result canonical_uri(const sigv4_request *req, sl_buf *canonical, sl_buf *send_path)
{
    sl_cursor path = req->path;
    ENSURE(cursor_valid(path) && path.len > 0 && path.ptr[0] == '/', SL_ERR_INVALID_ARGUMENT,
           "the path must begin with '/'");
    if (req->uri_mode == SIGV4_URI_S3) {
        size_t bad_at = 0;
        ENSURE(utf8_valid(path, &bad_at), SL_ERR_ENCODING,
               "the path is not valid UTF-8 (byte 0x%02x at offset %zu)", path.ptr[bad_at], bad_at);
        GUARD(sigv4_uri_encode(canonical, path, SIGV4_ENCODE_PATH));
        return sl_buf_append_cursor(send_path, sl_cursor_from_buf(canonical));
    }
    ENSURE(req->uri_mode == SIGV4_URI_GENERIC, SL_ERR_INVALID_ARGUMENT, "unknown uri_mode %d",
           (int)req->uri_mode);
    sl_buf normalized = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(normalize_path(&normalized, path));
    GUARD_CLEANUP(sigv4_uri_encode(canonical, sl_cursor_from_buf(&normalized), SIGV4_ENCODE_PATH));
    GUARD_CLEANUP(sl_buf_append_cursor(send_path, path));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&normalized);
    return result;
}

/* ---- the canonical query string ---- */

typedef struct query_param {
    sl_buf name;  /* encoded */
    sl_buf value; /* encoded */
} query_param;

static int compare_bytes(const sl_buf *a, const sl_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c != 0) return c;
    return (a->len > b->len) - (a->len < b->len);
}

static int compare_params(const void *pa, const void *pb)
{
    const query_param *a = pa, *b = pb;
    int c = compare_bytes(&a->name, &b->name);
    return c != 0 ? c : compare_bytes(&a->value, &b->value);
}

static sl_result add_param(query_param *params, size_t *count, sl_cursor name, sl_cursor value)
{
    query_param *p = &params[*count];
    ENSURE(cursor_valid(name) && cursor_valid(value), SL_ERR_INVALID_ARGUMENT,
           "query parameter %zu is a NULL cursor", *count);
    (*count)++; /* counted first so that clean-up frees a half-built one */
    GUARD(sigv4_uri_encode(&p->name, name, SIGV4_ENCODE_QUERY));
    return sigv4_uri_encode(&p->value, value, SIGV4_ENCODE_QUERY);
}

static void free_params(query_param *params, size_t count)
{
    if (params == NULL) return;
    for (size_t i = 0; i < count; i++) {
        sl_buf_clean_up_secure(&params[i].name);
        sl_buf_clean_up_secure(&params[i].value);
    }
    sl_free(params);
}

/* CanonicalQueryString: sorted by encoded name, then encoded value. */
static sl_result join_params(sl_buf *out, query_param *params, size_t count)
{
    if (count > 1) qsort(params, count, sizeof(*params), compare_params);
    for (size_t i = 0; i < count; i++) {
        if (i > 0) GUARD(sl_buf_append_byte(out, '&'));
        GUARD(sl_buf_append_cursor(out, sl_cursor_from_buf(&params[i].name)));
        GUARD(sl_buf_append_byte(out, '='));
        GUARD(sl_buf_append_cursor(out, sl_cursor_from_buf(&params[i].value)));
    }
    return SL_SUCCESS;
}

static const char *const presign_params[] = {
    "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token",
};

/* ---- canonical headers ---- */

typedef struct header {
    sl_buf name;  /* lower-case */
    sl_buf value; /* trimmed and folded */
    size_t order; /* position given, so repeated names join in order */
} header;

static int compare_headers(const void *pa, const void *pb)
{
    const header *a = pa, *b = pb;
    int c = compare_bytes(&a->name, &b->name);
    if (c != 0) return c;
    return (a->order > b->order) - (a->order < b->order);
}

/* Trims the value and folds inner runs of spaces, tabs and obs-folds (CRLF or LF
 * followed by SP/HT) into one space. Any other control character cannot be folded. */
static sl_result fold_value(sl_buf *out, sl_cursor name, sl_cursor v)
{
    bool pending = false, started = false;
    size_t i = 0;
    ENSURE(cursor_valid(v), SL_ERR_INVALID_ARGUMENT, "header %.*s: NULL value", (int)name.len,
           (const char *)name.ptr);
    GUARD(sl_buf_reserve(out, v.len));
    while (i < v.len) {
        uint8_t c = v.ptr[i];
        bool ws_next1 = i + 1 < v.len && (v.ptr[i + 1] == ' ' || v.ptr[i + 1] == '\t');
        bool ws_next2 = i + 2 < v.len && (v.ptr[i + 2] == ' ' || v.ptr[i + 2] == '\t');
        if (c == ' ' || c == '\t') {
            pending = true;
            i++;
        } else if (c == '\n' && ws_next1) {
            pending = true;
            i++;
        } else if (c == '\r' && i + 1 < v.len && v.ptr[i + 1] == '\n' && ws_next2) {
            pending = true;
            i += 2;
        } else {
            ENSURE(c >= 0x20 && c != 0x7f, SL_ERR_INVALID_ARGUMENT,
                   "header %.*s: control character 0x%02x at offset %zu cannot be folded",
                   (int)(name.len > 64 ? 64 : name.len), (const char *)name.ptr, c, i);
            if (pending && started) out->data[out->len++] = ' ';
            out->data[out->len++] = c;
            pending = false;
            started = true;
            i++;
        }
    }
    out->data[out->len] = '\0';
    return SL_SUCCESS;
}

static sl_result add_header(header *list, size_t *count, sl_cursor name, sl_cursor value)
{
    header *h = &list[*count];
    ENSURE(cursor_valid(name) && is_token(name), SL_ERR_INVALID_ARGUMENT,
           "header %zu: the name \"%.*s\" is not an HTTP token", *count,
           (int)(name.len > 64 ? 64 : name.len), name.ptr ? (const char *)name.ptr : "");
    h->order = *count;
    (*count)++;
    GUARD(sl_buf_reserve(&h->name, name.len));
    for (size_t i = 0; i < name.len; i++) h->name.data[h->name.len++] = to_lower(name.ptr[i]);
    h->name.data[h->name.len] = '\0';
    return fold_value(&h->value, name, value);
}

static void free_headers(header *list, size_t count)
{
    if (list == NULL) return;
    for (size_t i = 0; i < count; i++) {
        sl_buf_clean_up_secure(&list[i].name);
        sl_buf_clean_up_secure(&list[i].value);
    }
    sl_free(list);
}

/* CanonicalHeaders ("name:value\n" each, sorted, repeated names joined with ",") and
 * SignedHeaders ("name;name"). */
static sl_result join_headers(sl_buf *canonical, sl_buf *signed_headers, header *list, size_t count)
{
    if (count > 1) qsort(list, count, sizeof(*list), compare_headers);
    for (size_t i = 0; i < count; i++) {
        bool same_as_previous = i > 0 && sl_cursor_eq(sl_cursor_from_buf(&list[i].name),
                                                      sl_cursor_from_buf(&list[i - 1].name));
        if (same_as_previous) {
            GUARD(sl_buf_append_byte(canonical, ','));
        } else {
            if (i > 0) {
                GUARD(sl_buf_append_byte(canonical, '\n'));
                GUARD(sl_buf_append_byte(signed_headers, ';'));
            }
            GUARD(sl_buf_append_cursor(canonical, sl_cursor_from_buf(&list[i].name)));
            GUARD(sl_buf_append_byte(canonical, ':'));
            GUARD(sl_buf_append_cursor(signed_headers, sl_cursor_from_buf(&list[i].name)));
        }
        GUARD(sl_buf_append_cursor(canonical, sl_cursor_from_buf(&list[i].value)));
    }
    if (count > 0) GUARD(sl_buf_append_byte(canonical, '\n'));
    return SL_SUCCESS;
}

/* ---- signing ---- */

typedef enum sign_mode { MODE_HEADER, MODE_QUERY } sign_mode;

static sl_result check_payload_hash(sl_cursor hash)
{
    ENSURE(hash.len > 0, SL_ERR_INVALID_ARGUMENT, "the payload hash is empty");
    for (size_t i = 0; i < hash.len; i++)
        ENSURE(hash.ptr[i] > 0x20 && hash.ptr[i] < 0x7f, SL_ERR_INVALID_ARGUMENT,
               "the payload hash has an invalid byte 0x%02x at %zu", hash.ptr[i], i);
    return SL_SUCCESS;
}

/* The request's headers with the signer's checks: Host exactly once, no header the
 * signer owns. Returns the index of Host in *host_index. */
static sl_result collect_headers(const sigv4_request *req, sign_mode mode, bool token_header,
                                 header *list, size_t *count, size_t *host_index)
{
    size_t hosts = 0;
    ENSURE(req->header_count == 0 || req->headers != NULL, SL_ERR_INVALID_ARGUMENT,
           "%zu headers but no array", req->header_count);
    for (size_t i = 0; i < req->header_count; i++) {
        size_t at = *count;
        GUARD(add_header(list, count, req->headers[i].name, req->headers[i].value));
        sl_cursor name = sl_cursor_from_buf(&list[at].name);
        ENSURE(!sl_cursor_eq_cstr(name, "authorization") && !sl_cursor_eq_cstr(name, "x-amz-date"),
               SL_ERR_INVALID_ARGUMENT, "header %s is set by the signer", sl_buf_cstr(&list[at].name));
        ENSURE(!(mode == MODE_HEADER && req->add_content_sha256 &&
                 sl_cursor_eq_cstr(name, "x-amz-content-sha256")),
               SL_ERR_INVALID_ARGUMENT, "header x-amz-content-sha256 is given and also to be added");
        ENSURE(!(token_header && sl_cursor_eq_cstr(name, "x-amz-security-token")), SL_ERR_INVALID_ARGUMENT,
               "header x-amz-security-token is given and the credentials have a token");
        if (sl_cursor_eq_cstr(name, "host")) {
            hosts++;
            *host_index = at;
        }
    }
    ENSURE(hosts > 0, SL_ERR_INVALID_ARGUMENT, "the request has no Host header");
    ENSURE(hosts == 1, SL_ERR_INVALID_ARGUMENT, "the request has %zu Host headers", hosts);
    sl_cursor host = sl_cursor_from_buf(&list[*host_index].value);
    ENSURE(host.len > 0, SL_ERR_INVALID_ARGUMENT, "the Host header is empty");
    for (size_t i = 0; i < host.len; i++)
        ENSURE(host.ptr[i] != ' ' && host.ptr[i] != '/' && host.ptr[i] != '?' && host.ptr[i] != '#',
               SL_ERR_INVALID_ARGUMENT, "the Host header has a '%c' at offset %zu", host.ptr[i], i);
    return SL_SUCCESS;
}

static sl_result validate_request(const sigv4_request *req)
{
    ENSURE(req != NULL, SL_ERR_INVALID_ARGUMENT, "no request to sign");
    ENSURE(cursor_valid(req->method) && is_token(req->method), SL_ERR_INVALID_ARGUMENT,
           "the method is not an HTTP token");
    ENSURE(req->query_count == 0 || req->query != NULL, SL_ERR_INVALID_ARGUMENT,
           "%zu query parameters but no array", req->query_count);
    ENSURE(cursor_valid(req->body) && cursor_valid(req->payload_hash) && cursor_valid(req->scheme),
           SL_ERR_INVALID_ARGUMENT, "a NULL cursor with a length");
    if (req->payload_hash.ptr != NULL) GUARD(check_payload_hash(req->payload_hash));
    if (req->scheme.len > 0) {
        for (size_t i = 0; i < req->scheme.len; i++) {
            uint8_t c = req->scheme.ptr[i];
            ENSURE((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')),
                   SL_ERR_INVALID_ARGUMENT, "the scheme is not a URI scheme");
        }
    }
    return SL_SUCCESS;
}

/* CanonicalHeaders and SignedHeaders (into s->signed_headers), with the headers the
 * signer adds in header mode; the Host value (for the URL) into *host. */
static sl_result build_headers(const sigv4_request *req, sign_mode mode, const char *token, bool token_signed,
                               sigv4_signed *s, sl_buf *canonical, sl_buf *host)
{
    sl_result result = SL_FAILURE;
    size_t capacity, count = 0, host_index = 0;
    ENSURE(sl_add_size(req->header_count, 3, &capacity), SL_ERR_OVERFLOW, "too many headers");
    header *list = sl_calloc(capacity, sizeof(*list));
    GUARD_CLEANUP(collect_headers(req, mode, token != NULL && mode == MODE_HEADER, list, &count, &host_index));
    GUARD_CLEANUP(sl_buf_append_cursor(host, sl_cursor_from_buf(&list[host_index].value)));
    if (mode == MODE_HEADER) {
        GUARD_CLEANUP(add_header(list, &count, sl_cursor_from_cstr("x-amz-date"), sl_cursor_from_cstr(s->amz_date)));
        if (req->add_content_sha256)
            GUARD_CLEANUP(add_header(list, &count, sl_cursor_from_cstr("x-amz-content-sha256"),
                                     sl_cursor_from_buf(&s->payload_hash)));
        if (token_signed)
            GUARD_CLEANUP(add_header(list, &count, sl_cursor_from_cstr("x-amz-security-token"),
                                     sl_cursor_from_cstr(token)));
    }
    GUARD_CLEANUP(join_headers(canonical, &s->signed_headers, list, count));
    result = SL_SUCCESS;
cleanup:
    free_headers(list, count);
    return result;
}

/* CanonicalQueryString: the request's parameters and, when presigning, the auth
 * parameters (X-Amz-SignedHeaders needs s->signed_headers already built). */
static sl_result build_query(const sigv4_request *req, sign_mode mode, uint32_t expires, const char *token_signed,
                             const sl_buf *credential, const sigv4_signed *s, sl_buf *canonical)
{
    sl_result result = SL_FAILURE;
    size_t capacity, count = 0;
    char expires_text[16];
    ENSURE(sl_add_size(req->query_count, 6, &capacity), SL_ERR_OVERFLOW, "too many parameters");
    query_param *params = sl_calloc(capacity, sizeof(*params));
    for (size_t i = 0; i < req->query_count; i++) {
        for (size_t k = 0; mode == MODE_QUERY && k < sizeof(presign_params) / sizeof(presign_params[0]); k++)
            ENSURE_CLEANUP(!sl_cursor_eq_ignore_case(req->query[i].name, sl_cursor_from_cstr(presign_params[k])),
                           SL_ERR_INVALID_ARGUMENT, "query parameter %s is set by the signer", presign_params[k]);
        GUARD_CLEANUP(add_param(params, &count, req->query[i].name, req->query[i].value));
    }
    if (mode == MODE_QUERY) {
        snprintf(expires_text, sizeof(expires_text), "%" PRIu32, expires);
        const sigv4_pair auth[] = {
            { sl_cursor_from_cstr("X-Amz-Algorithm"), sl_cursor_from_cstr(SIGV4_ALGORITHM) },
            { sl_cursor_from_cstr("X-Amz-Credential"), sl_cursor_from_buf(credential) },
            { sl_cursor_from_cstr("X-Amz-Date"), sl_cursor_from_cstr(s->amz_date) },
            { sl_cursor_from_cstr("X-Amz-Expires"), sl_cursor_from_cstr(expires_text) },
            { sl_cursor_from_cstr("X-Amz-SignedHeaders"), sl_cursor_from_buf(&s->signed_headers) },
            { sl_cursor_from_cstr("X-Amz-Security-Token"), sl_cursor_from_cstr(token_signed) },
        };
        size_t auth_count = token_signed != NULL ? 6 : 5;
        for (size_t i = 0; i < auth_count; i++) GUARD_CLEANUP(add_param(params, &count, auth[i].name, auth[i].value));
    }
    GUARD_CLEANUP(join_params(canonical, params, count));
    result = SL_SUCCESS;
cleanup:
    free_params(params, count);
    return result;
}

static sl_result sign_request(const sigv4_signing *signing, const sigv4_request *req, sign_mode mode,
                              uint32_t expires, sigv4_signed *out)
{
    sl_result result = SL_FAILURE;
    sigv4_signed s = { 0 };
    sl_buf canonical_headers = { 0 }, canonical_query = { 0 }, canonical_path = { 0 }, credential = { 0 };
    sl_buf host = { 0 };
    uint8_t key[SIGV4_KEY_LEN];
    char date[DATE_LEN + 1];

    GUARD(validate_signing(signing));
    GUARD(validate_request(req));
    const char *token = session_token(signing->credentials);
    bool token_signed = token != NULL && !signing->omit_session_token;
    GUARD(format_amz_date(signing->time, s.amz_date, date));

    /* Credential scope: date/region/service/aws4_request. */
    GUARD_CLEANUP(sl_buf_appendf(&s.credential_scope, "%s/%.*s/%.*s/aws4_request", date,
                                 (int)signing->region.len, (const char *)signing->region.ptr,
                                 (int)signing->service.len, (const char *)signing->service.ptr));
    GUARD_CLEANUP(sl_buf_appendf(&credential, "%s/%s", signing->credentials->access_key_id,
                                 sl_buf_cstr(&s.credential_scope)));

    /* HashedPayload. */
    if (req->payload_hash.ptr != NULL)
        GUARD_CLEANUP(sl_buf_append_cursor(&s.payload_hash, req->payload_hash));
    else
        GUARD_CLEANUP(append_sha256_hex(&s.payload_hash, req->body));

    GUARD_CLEANUP(build_headers(req, mode, token, token_signed, &s, &canonical_headers, &host));
    GUARD_CLEANUP(canonical_uri(req, &canonical_path, &s.path));
    GUARD_CLEANUP(build_query(req, mode, expires, token_signed ? token : NULL, &credential, &s, &canonical_query));

    /* CanonicalRequest = Method \n URI \n Query \n Headers \n SignedHeaders \n Payload
     * (the headers block ends with its own "\n"). */
    GUARD_CLEANUP(sl_buf_appendf(&s.canonical_request, "%.*s\n%s\n%s\n%s\n%s\n%s", (int)req->method.len,
                                 (const char *)req->method.ptr, sl_buf_cstr(&canonical_path),
                                 sl_buf_cstr(&canonical_query), sl_buf_cstr(&canonical_headers),
                                 sl_buf_cstr(&s.signed_headers), sl_buf_cstr(&s.payload_hash)));

    /* StringToSign = Algorithm \n RequestDateTime \n CredentialScope \n Hex(SHA256(CanonicalRequest)). */
    GUARD_CLEANUP(sl_buf_appendf(&s.string_to_sign, SIGV4_ALGORITHM "\n%s\n%s\n", s.amz_date,
                                 sl_buf_cstr(&s.credential_scope)));
    GUARD_CLEANUP(append_sha256_hex(&s.string_to_sign, sl_cursor_from_buf(&s.canonical_request)));

    /* Signature = Hex(HMAC(kSigning, StringToSign)). */
    GUARD_CLEANUP(signing_key(signing, date, key));
    sl_result signed_ok = hmac_hex(key, sl_cursor_from_buf(&s.string_to_sign), s.signature);
    OPENSSL_cleanse(key, sizeof(key));
    GUARD_CLEANUP(signed_ok);

    if (token != NULL) GUARD_CLEANUP(sl_buf_append_cstr(&s.session_token, token));
    GUARD_CLEANUP(sl_buf_append_cursor(&s.query, sl_cursor_from_buf(&canonical_query)));
    if (mode == MODE_HEADER) {
        GUARD_CLEANUP(sl_buf_appendf(&s.authorization,
                                     SIGV4_ALGORITHM " Credential=%s, SignedHeaders=%s, Signature=%s",
                                     sl_buf_cstr(&credential), sl_buf_cstr(&s.signed_headers), s.signature));
    } else {
        s.presigned = true;
        GUARD_CLEANUP(sl_buf_appendf(&s.query, "&X-Amz-Signature=%s", s.signature));
        if (token != NULL && !token_signed) {
            GUARD_CLEANUP(sl_buf_append_cstr(&s.query, "&X-Amz-Security-Token="));
            GUARD_CLEANUP(sigv4_uri_encode(&s.query, sl_cursor_from_cstr(token), SIGV4_ENCODE_QUERY));
        }
        sl_cursor scheme = req->scheme.len > 0 ? req->scheme : sl_cursor_from_cstr("https");
        GUARD_CLEANUP(sl_buf_appendf(&s.url, "%.*s://%s%s?%s", (int)scheme.len, (const char *)scheme.ptr,
                                     sl_buf_cstr(&host), sl_buf_cstr(&s.path), sl_buf_cstr(&s.query)));
    }
    *out = s;
    s = (sigv4_signed){ 0 };
    result = SL_SUCCESS;
cleanup:
    sigv4_signed_clean_up(&s);
    sl_buf_clean_up_secure(&canonical_headers);
    sl_buf_clean_up_secure(&canonical_query);
    sl_buf_clean_up(&canonical_path);
    sl_buf_clean_up(&credential);
    sl_buf_clean_up(&host);
    return result;
}

sl_result sigv4_sign_headers(const sigv4_signing *signing, const sigv4_request *req, sigv4_signed *out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "no output");
    return sign_request(signing, req, MODE_HEADER, 0, out);
}

sl_result sigv4_presign(const sigv4_signing *signing, const sigv4_request *req, uint32_t expires_seconds,
                        sigv4_signed *out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "no output");
    ENSURE(expires_seconds >= SIGV4_MIN_EXPIRES && expires_seconds <= SIGV4_MAX_EXPIRES,
           SL_ERR_INVALID_ARGUMENT, "expiry of %" PRIu32 " s is outside %u..%u s (7 days)", expires_seconds,
           SIGV4_MIN_EXPIRES, SIGV4_MAX_EXPIRES);
    return sign_request(signing, req, MODE_QUERY, expires_seconds, out);
}

size_t sigv4_signed_headers_to_add(const sigv4_signed *s, sigv4_pair out[SIGV4_MAX_ADDED_HEADERS])
{
    size_t n = 0;
    if (s == NULL || s->presigned || s->authorization.len == 0) return 0;
    out[n++] = (sigv4_pair){ sl_cursor_from_cstr("Authorization"), sl_cursor_from_buf(&s->authorization) };
    out[n++] = (sigv4_pair){ sl_cursor_from_cstr("X-Amz-Date"), sl_cursor_from_cstr(s->amz_date) };
    /* x-amz-content-sha256 was added when it is among the signed headers. */
    sl_cursor rest = sl_cursor_from_buf(&s->signed_headers), name;
    while (sl_cursor_next_token(&rest, ';', &name)) {
        if (sl_cursor_eq_cstr(name, "x-amz-content-sha256")) {
            out[n++] = (sigv4_pair){ sl_cursor_from_cstr("x-amz-content-sha256"),
                                     sl_cursor_from_buf(&s->payload_hash) };
            break;
        }
    }
    if (s->session_token.len > 0)
        out[n++] = (sigv4_pair){ sl_cursor_from_cstr("X-Amz-Security-Token"),
                                 sl_cursor_from_buf(&s->session_token) };
    return n;
}

void sigv4_signed_clean_up(sigv4_signed *s)
{
    if (s == NULL) return;
    sl_buf_clean_up(&s->canonical_request);
    sl_buf_clean_up(&s->string_to_sign);
    sl_buf_clean_up(&s->credential_scope);
    sl_buf_clean_up(&s->signed_headers);
    sl_buf_clean_up(&s->payload_hash);
    sl_buf_clean_up(&s->path);
    sl_buf_clean_up_secure(&s->query);
    sl_buf_clean_up_secure(&s->authorization);
    sl_buf_clean_up_secure(&s->url);
    sl_buf_clean_up_secure(&s->session_token);
    OPENSSL_cleanse(s->signature, sizeof(s->signature));
    *s = (sigv4_signed){ 0 };
}

/* ---- streaming: the chunk signature chain (S3 API Reference, sigv4-streaming and
 * sigv4-streaming-trailers) ---- */

sl_result sigv4_stream_init(sigv4_stream *stream, const sigv4_signing *signing, const sigv4_signed *seed)
{
    sl_result result = SL_FAILURE;
    sigv4_stream s = { 0 };
    char amz_date[SIGV4_AMZ_DATE_LEN + 1];
    char date[DATE_LEN + 1];
    ENSURE(stream != NULL && seed != NULL, SL_ERR_INVALID_ARGUMENT, "no stream or seed");
    GUARD(validate_signing(signing));
    GUARD(format_amz_date(signing->time, amz_date, date));
    ENSURE(!seed->presigned && strlen(seed->signature) == SIGV4_SIGNATURE_HEX_LEN, SL_ERR_INVALID_ARGUMENT,
           "the seed is not a header-signed request");
    ENSURE(strcmp(seed->amz_date, amz_date) == 0, SL_ERR_INVALID_ARGUMENT,
           "the seed was signed at %s, not at %s", seed->amz_date, amz_date);
    GUARD_CLEANUP(sl_buf_append_cursor(&s.credential_scope, sl_cursor_from_buf(&seed->credential_scope)));
    GUARD_CLEANUP(signing_key(signing, date, s.key));
    memcpy(s.amz_date, amz_date, sizeof(amz_date));
    memcpy(s.signature, seed->signature, sizeof(s.signature));
    *stream = s;
    s = (sigv4_stream){ 0 };
    result = SL_SUCCESS;
cleanup:
    sigv4_stream_clean_up(&s);
    return result;
}

/* Signs stream->string_to_sign and makes the result the chain's last signature. */
static sl_result stream_sign(sigv4_stream *stream)
{
    char signature[SIGV4_SIGNATURE_HEX_LEN + 1];
    GUARD(hmac_hex(stream->key, sl_cursor_from_buf(&stream->string_to_sign), signature));
    memcpy(stream->signature, signature, sizeof(signature));
    OPENSSL_cleanse(signature, sizeof(signature));
    return SL_SUCCESS;
}

sl_result sigv4_stream_sign_chunk(sigv4_stream *stream, sl_cursor data)
{
    ENSURE(stream != NULL && stream->credential_scope.len > 0, SL_ERR_STATE, "the stream is not initialised");
    ENSURE(cursor_valid(data), SL_ERR_INVALID_ARGUMENT, "a NULL chunk with length %zu", data.len);
    /* AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous \n Hex(SHA256("")) \n Hex(SHA256(data)) */
    sl_buf sts = { 0 };
    sl_result result = SL_FAILURE;
    GUARD_CLEANUP(sl_buf_appendf(&sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n", stream->amz_date,
                                 sl_buf_cstr(&stream->credential_scope), stream->signature));
    GUARD_CLEANUP(append_sha256_hex(&sts, sl_cursor_from_bytes("", 0)));
    GUARD_CLEANUP(sl_buf_append_byte(&sts, '\n'));
    GUARD_CLEANUP(append_sha256_hex(&sts, data));
    sl_buf_clean_up(&stream->string_to_sign);
    stream->string_to_sign = sts;
    sts = (sl_buf){ 0 };
    GUARD_CLEANUP(stream_sign(stream));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&sts);
    return result;
}

sl_result sigv4_stream_sign_trailer(sigv4_stream *stream, const sigv4_pair *trailers, size_t count)
{
    ENSURE(stream != NULL && stream->credential_scope.len > 0, SL_ERR_STATE, "the stream is not initialised");
    ENSURE(count == 0 || trailers != NULL, SL_ERR_INVALID_ARGUMENT, "%zu trailers but no array", count);
    sl_result result = SL_FAILURE;
    sl_buf lines = { 0 }, sts = { 0 };
    for (size_t i = 0; i < count; i++) {
        sl_cursor name = trailers[i].name;
        ENSURE_CLEANUP(cursor_valid(name) && is_token(name), SL_ERR_INVALID_ARGUMENT,
                       "trailer %zu: the name is not an HTTP token", i);
        for (size_t k = 0; k < name.len; k++) GUARD_CLEANUP(sl_buf_append_byte(&lines, to_lower(name.ptr[k])));
        GUARD_CLEANUP(sl_buf_append_byte(&lines, ':'));
        GUARD_CLEANUP(fold_value(&lines, name, trailers[i].value));
        GUARD_CLEANUP(sl_buf_append_byte(&lines, '\n'));
    }
    /* AWS4-HMAC-SHA256-TRAILER \n date \n scope \n previous \n Hex(SHA256(trailer lines)) */
    GUARD_CLEANUP(sl_buf_appendf(&sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n", stream->amz_date,
                                 sl_buf_cstr(&stream->credential_scope), stream->signature));
    GUARD_CLEANUP(append_sha256_hex(&sts, sl_cursor_from_buf(&lines)));
    sl_buf_clean_up(&stream->string_to_sign);
    stream->string_to_sign = sts;
    sts = (sl_buf){ 0 };
    GUARD_CLEANUP(stream_sign(stream));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&lines);
    sl_buf_clean_up(&sts);
    return result;
}

void sigv4_stream_clean_up(sigv4_stream *stream)
{
    if (stream == NULL) return;
    sl_buf_clean_up(&stream->credential_scope);
    sl_buf_clean_up(&stream->string_to_sign);
    OPENSSL_cleanse(stream, sizeof(*stream));
}

/* ---- presigned POST (S3 API Reference, sigv4-HTTPPOSTConstructPolicy and
 * sigv4-post-example) ---- */

static const char *const post_reserved[] = {
    "bucket",           "key",        "policy",          "file", "x-amz-algorithm", "x-amz-credential",
    "x-amz-date",       "x-amz-signature", "x-amz-security-token",
};

/* A JSON string from a cursor; NULL when it is not UTF-8 (jansson checks). */
static json_t *json_from_cursor(sl_cursor c)
{
    return json_stringn(c.len ? (const char *)c.ptr : "", c.len);
}

/* Appends {"name": value} to the conditions; value is stolen. */
static sl_result add_exact(json_t *conditions, const char *name, json_t *value)
{
    ENSURE(value != NULL, SL_ERR_ENCODING, "the value of %s is not valid UTF-8", name);
    json_t *object = json_object();
    ENSURE(object != NULL, SL_ERR_LIMIT, "jansson could not allocate");
    if (json_object_set_new(object, name, value) != 0 || json_array_append_new(conditions, object) != 0) {
        json_decref(object);
        RAISE(SL_ERR_ENCODING, "condition %s cannot be added (name not UTF-8?)", name);
    }
    return SL_SUCCESS;
}

static void add_field(sigv4_form_field *fields, size_t *count, sl_cursor name, sl_cursor value)
{
    fields[*count].name = sl_cursor_dup(name);
    fields[*count].value = sl_cursor_dup(value);
    (*count)++;
}

static sl_result validate_post_policy(const sigv4_post_policy *policy)
{
    ENSURE(policy != NULL, SL_ERR_INVALID_ARGUMENT, "no policy");
    ENSURE(cursor_valid(policy->bucket) && policy->bucket.len > 0, SL_ERR_INVALID_ARGUMENT,
           "the bucket is empty");
    ENSURE(cursor_valid(policy->key_prefix), SL_ERR_INVALID_ARGUMENT, "a NULL key prefix with a length");
    ENSURE(policy->min_length <= policy->max_length, SL_ERR_INVALID_ARGUMENT,
           "content-length-range %" PRIu64 "..%" PRIu64 " is empty", policy->min_length, policy->max_length);
    ENSURE(policy->max_length <= INT64_MAX, SL_ERR_INVALID_ARGUMENT,
           "content-length-range maximum %" PRIu64 " is too large", policy->max_length);
    ENSURE(policy->expires_seconds >= SIGV4_MIN_EXPIRES && policy->expires_seconds <= SIGV4_MAX_EXPIRES,
           SL_ERR_INVALID_ARGUMENT, "expiry of %" PRIu32 " s is outside %u..%u s (7 days)",
           policy->expires_seconds, SIGV4_MIN_EXPIRES, SIGV4_MAX_EXPIRES);
    ENSURE(policy->condition_count == 0 || policy->conditions != NULL, SL_ERR_INVALID_ARGUMENT,
           "%zu conditions but no array", policy->condition_count);
    for (size_t i = 0; i < policy->condition_count; i++) {
        sl_cursor name = policy->conditions[i].name;
        ENSURE(cursor_valid(name) && name.len > 0 && cursor_valid(policy->conditions[i].value),
               SL_ERR_INVALID_ARGUMENT, "condition %zu has no name", i);
        for (size_t k = 0; k < name.len; k++)
            ENSURE(name.ptr[k] > 0x20 && name.ptr[k] < 0x7f && name.ptr[k] != '$', SL_ERR_INVALID_ARGUMENT,
                   "condition %zu: the name has an invalid byte 0x%02x", i, name.ptr[k]);
        for (size_t k = 0; k < sizeof(post_reserved) / sizeof(post_reserved[0]); k++)
            ENSURE(!sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr(post_reserved[k])),
                   SL_ERR_INVALID_ARGUMENT, "condition %s is set by the signer", post_reserved[k]);
    }
    return SL_SUCCESS;
}

sl_result sigv4_presign_post(const sigv4_signing *signing, const sigv4_post_policy *policy, sigv4_post_form *out)
{
    sl_result result = SL_FAILURE;
    sigv4_post_form form = { 0 };
    json_t *root = NULL, *conditions = NULL;
    char *dumped = NULL;
    sl_buf credential = { 0 };
    char amz_date[SIGV4_AMZ_DATE_LEN + 1], date[DATE_LEN + 1], expiration[32];
    uint8_t key[SIGV4_KEY_LEN];
    struct tm tm;

    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "no output");
    GUARD(validate_signing(signing));
    GUARD(validate_post_policy(policy));
    GUARD(format_amz_date(signing->time, amz_date, date));
    time_t expires_at;
    ENSURE(!__builtin_add_overflow(signing->time, (time_t)policy->expires_seconds, &expires_at) &&
               gmtime_r(&expires_at, &tm) != NULL && tm.tm_year + 1900 <= 9999,
           SL_ERR_INVALID_ARGUMENT, "the expiration is out of range");
    strftime(expiration, sizeof(expiration), "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *token = session_token(signing->credentials);
    GUARD_CLEANUP(sl_buf_appendf(&credential, "%s/%s/%.*s/%.*s/aws4_request",
                                 signing->credentials->access_key_id, date, (int)signing->region.len,
                                 (const char *)signing->region.ptr, (int)signing->service.len,
                                 (const char *)signing->service.ptr));

    /* The policy document: key order fixed by insertion, so its bytes are deterministic. */
    root = json_object();
    conditions = json_array();
    ENSURE_CLEANUP(root != NULL && conditions != NULL, SL_ERR_LIMIT, "jansson could not allocate");
    ENSURE_CLEANUP(json_object_set_new(root, "expiration", json_string(expiration)) == 0, SL_ERR_LIMIT,
                   "jansson could not set expiration");
    GUARD_CLEANUP(add_exact(conditions, "bucket", json_from_cursor(policy->bucket)));
    json_t *prefix = json_from_cursor(policy->key_prefix);
    ENSURE_CLEANUP(prefix != NULL, SL_ERR_ENCODING, "the key prefix is not valid UTF-8");
    ENSURE_CLEANUP(json_array_append_new(conditions, json_pack("[s,s,o]", "starts-with", "$key", prefix)) == 0,
                   SL_ERR_LIMIT, "jansson could not add starts-with");
    ENSURE_CLEANUP(json_array_append_new(conditions,
                                         json_pack("[s,I,I]", "content-length-range",
                                                   (json_int_t)policy->min_length,
                                                   (json_int_t)policy->max_length)) == 0,
                   SL_ERR_LIMIT, "jansson could not add content-length-range");
    for (size_t i = 0; i < policy->condition_count; i++) {
        char *name = sl_cursor_dup(policy->conditions[i].name);
        sl_result added = add_exact(conditions, name, json_from_cursor(policy->conditions[i].value));
        sl_free(name);
        GUARD_CLEANUP(added);
    }
    GUARD_CLEANUP(add_exact(conditions, "x-amz-algorithm", json_string(SIGV4_ALGORITHM)));
    GUARD_CLEANUP(add_exact(conditions, "x-amz-credential", json_string(sl_buf_cstr(&credential))));
    GUARD_CLEANUP(add_exact(conditions, "x-amz-date", json_string(amz_date)));
    if (token != NULL) GUARD_CLEANUP(add_exact(conditions, "x-amz-security-token", json_string(token)));
    ENSURE_CLEANUP(json_object_set(root, "conditions", conditions) == 0, SL_ERR_LIMIT,
                   "jansson could not set conditions");
    dumped = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ENSURE_CLEANUP(dumped != NULL, SL_ERR_LIMIT, "jansson could not serialise the policy");
    GUARD_CLEANUP(sl_buf_append_cstr(&form.policy_json, dumped));

    /* StringToSign = Base64(policy); Signature = Hex(HMAC(kSigning, StringToSign)). */
    size_t b64_len;
    ENSURE_CLEANUP(form.policy_json.len <= INT_MAX / 2 &&
                       sl_mul_size((form.policy_json.len + 2) / 3, 4, &b64_len),
                   SL_ERR_LIMIT, "the policy is too large");
    GUARD_CLEANUP(sl_buf_reserve(&form.policy, b64_len));
    int written = EVP_EncodeBlock(form.policy.data, form.policy_json.data, (int)form.policy_json.len);
    ENSURE_CLEANUP(written >= 0 && (size_t)written == b64_len, SL_ERR_CRYPTO, "base64 encoding failed");
    form.policy.len = b64_len;
    form.policy.data[b64_len] = '\0';
    GUARD_CLEANUP(signing_key(signing, date, key));
    sl_result signed_ok = hmac_hex(key, sl_cursor_from_buf(&form.policy), form.signature);
    OPENSSL_cleanse(key, sizeof(key));
    GUARD_CLEANUP(signed_ok);

    /* The form fields. */
    size_t max_fields;
    ENSURE_CLEANUP(sl_add_size(policy->condition_count, 6, &max_fields), SL_ERR_OVERFLOW, "too many conditions");
    form.fields = sl_calloc(max_fields, sizeof(*form.fields));
    add_field(form.fields, &form.field_count, sl_cursor_from_cstr("x-amz-algorithm"),
                            sl_cursor_from_cstr(SIGV4_ALGORITHM));
    add_field(form.fields, &form.field_count, sl_cursor_from_cstr("x-amz-credential"),
                            sl_cursor_from_buf(&credential));
    add_field(form.fields, &form.field_count, sl_cursor_from_cstr("x-amz-date"),
                            sl_cursor_from_cstr(amz_date));
    if (token != NULL)
        add_field(form.fields, &form.field_count, sl_cursor_from_cstr("x-amz-security-token"),
                                sl_cursor_from_cstr(token));
    for (size_t i = 0; i < policy->condition_count; i++)
        add_field(form.fields, &form.field_count, policy->conditions[i].name,
                                policy->conditions[i].value);
    add_field(form.fields, &form.field_count, sl_cursor_from_cstr("policy"),
                            sl_cursor_from_buf(&form.policy));
    add_field(form.fields, &form.field_count, sl_cursor_from_cstr("x-amz-signature"),
                            sl_cursor_from_cstr(form.signature));
    *out = form;
    form = (sigv4_post_form){ 0 };
    result = SL_SUCCESS;
cleanup:
    sigv4_post_form_clean_up(&form);
    json_decref(conditions);
    json_decref(root);
    if (dumped != NULL) {
        OPENSSL_cleanse(dumped, strlen(dumped));
        free(dumped); /* jansson's allocator is malloc */
    }
    sl_buf_clean_up(&credential);
    return result;
}

void sigv4_post_form_clean_up(sigv4_post_form *form)
{
    if (form == NULL) return;
    sl_buf_clean_up_secure(&form->policy_json);
    sl_buf_clean_up_secure(&form->policy);
    for (size_t i = 0; i < form->field_count; i++) {
        if (form->fields[i].value != NULL) OPENSSL_cleanse(form->fields[i].value, strlen(form->fields[i].value));
        sl_free(form->fields[i].name);
        sl_free(form->fields[i].value);
    }
    sl_free(form->fields);
    OPENSSL_cleanse(form->signature, sizeof(form->signature));
    *form = (sigv4_post_form){ 0 };
}
