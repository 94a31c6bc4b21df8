/*
 * sigv4.c — AWS Signature Version 4 (the contract is in sigv4.h).
 *
 * How the parts fit: validate_signing/validate_request check the inputs; the canonical
 * request is built from canonical_uri (encode once or normalize + encode again),
 * canonical_query (encode, sort) and canonical_headers (fold, lower-case, join, sort);
 * string_to_sign hashes it under the credential scope; signing_key derives (or takes
 * from the cache) the HMAC chain key and hmac_hex signs. sign_request runs all of that
 * for both header signing and presigning; the streaming chain and the POST policy reuse
 * the key and HMAC helpers. OpenSSL's SHA-256 and HMAC are fetched once per process
 * (an EVP_Digest or HMAC one-shot would look them up in the provider each time); a key
 * cache also keeps a digest context and an HMAC context keyed with the signing key, so
 * a signature with a cached key costs one SHA-256 and one HMAC on reused contexts. Section names cited are from the AWS docs "Create a signed
 * AWS API request" (IAM User Guide) and the S3 API Reference "Authenticating Requests
 * (AWS Signature Version 4)".
 */
#include "s3/sigv4.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "util/alloc.h"

#define SHA256_LEN 32
#define DATE_LEN 8 /* "20150830" */

/* The SHA-256 of nothing: the payload hash of every request without a body. */
static const char empty_sha256_hex[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct sigv4_key_cache {
    bool valid;
    char date[DATE_LEN + 1];
    sl_buf region;
    sl_buf service;
    sl_buf secret;       /* a copy, compared in constant time; wiped on destroy */
    uint8_t key[SIGV4_KEY_LEN];
    EVP_MD_CTX *digest;  /* reused for every SHA-256 of a signature */
    EVP_MAC_CTX *mac;    /* HMAC-SHA256 keyed with `key` (when valid) */
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

/* Appends the parts in order with one reservation (no format strings on the hot path).
 * On error out is unchanged. */
static sl_result join(sl_buf *out, const sl_cursor *parts, size_t count)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        ENSURE(sl_add_size(total, parts[i].len, &total), SL_ERR_OVERFLOW, "joining %zu parts", count);
    GUARD(sl_buf_reserve(out, total));
    for (size_t i = 0; i < count; i++) {
        if (parts[i].len == 0) continue;
        memcpy(out->data + out->len, parts[i].ptr, parts[i].len);
        out->len += parts[i].len;
    }
    out->data[out->len] = '\0';
    return SL_SUCCESS;
}

#define JOIN(out, ...) \
    join((out), (const sl_cursor[]){ __VA_ARGS__ }, sizeof((const sl_cursor[]){ __VA_ARGS__ }) / sizeof(sl_cursor))
#define LIT(text) ((sl_cursor){ (const uint8_t *)(text), sizeof(text) - 1 })
#define BUF(b) sl_cursor_from_buf(b)
#define CSTR(text) sl_cursor_from_cstr(text)

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

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;

/* Fetched once for the process (never freed: OpenSSL keeps them until exit anyway). */
static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static sl_result algorithms(void)
{
    ENSURE(pthread_once(&fetch_once, fetch_algorithms) == 0, SL_ERR_CRYPTO, "pthread_once failed");
    ENSURE(sha256_md != NULL && hmac_mac != NULL, SL_ERR_CRYPTO, "OpenSSL has no SHA2-256 or HMAC");
    return SL_SUCCESS;
}

/* SHA-256 of data, on `ctx` when given (reused), else on a context of its own. */
static sl_result sha256_on(EVP_MD_CTX *ctx, sl_cursor data, uint8_t out[SHA256_LEN])
{
    static const uint8_t nothing = 0;
    unsigned int len = 0;
    GUARD(algorithms());
    if (ctx == NULL) {
        GUARD_OSSL(EVP_Digest(data.len ? data.ptr : &nothing, data.len, out, &len, sha256_md, NULL), SL_ERR_CRYPTO);
    } else {
        GUARD_OSSL(EVP_DigestInit_ex2(ctx, sha256_md, NULL), SL_ERR_CRYPTO);
        GUARD_OSSL(EVP_DigestUpdate(ctx, data.len ? data.ptr : &nothing, data.len), SL_ERR_CRYPTO);
        GUARD_OSSL(EVP_DigestFinal_ex(ctx, out, &len), SL_ERR_CRYPTO);
    }
    ENSURE(len == SHA256_LEN, SL_ERR_CRYPTO, "SHA-256 gave %u bytes", len);
    return SL_SUCCESS;
}

static sl_result append_sha256_hex_on(EVP_MD_CTX *ctx, sl_buf *out, sl_cursor data)
{
    if (data.len == 0) return sl_buf_append(out, empty_sha256_hex, sizeof(empty_sha256_hex) - 1);
    uint8_t digest[SHA256_LEN];
    GUARD(sha256_on(ctx, data, digest));
    return sl_buf_append_hex(out, digest, sizeof(digest));
}

static sl_result append_sha256_hex(sl_buf *out, sl_cursor data) { return append_sha256_hex_on(NULL, out, data); }

/* Keys `ctx` (an HMAC context) for HMAC-SHA256 with key, or (key NULL) resets it for a
 * new message under the key it has. */
static sl_result hmac_init(EVP_MAC_CTX *ctx, const uint8_t *key, size_t key_len)
{
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA2-256", 0),
                            OSSL_PARAM_construct_end() };
    GUARD_OSSL(EVP_MAC_init(ctx, key, key_len, key != NULL ? params : NULL), SL_ERR_CRYPTO);
    return SL_SUCCESS;
}

static sl_result hmac_finish(EVP_MAC_CTX *ctx, sl_cursor msg, uint8_t out[SHA256_LEN])
{
    static const uint8_t nothing = 0;
    size_t len = 0;
    GUARD_OSSL(EVP_MAC_update(ctx, msg.len ? msg.ptr : &nothing, msg.len), SL_ERR_CRYPTO);
    GUARD_OSSL(EVP_MAC_final(ctx, out, &len, SHA256_LEN), SL_ERR_CRYPTO);
    ENSURE(len == SHA256_LEN, SL_ERR_CRYPTO, "HMAC-SHA256 gave %zu bytes", len);
    return SL_SUCCESS;
}

static sl_result hmac_sha256(const uint8_t *key, size_t key_len, sl_cursor msg, uint8_t out[SHA256_LEN])
{
    GUARD(algorithms());
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    ENSURE(ctx != NULL, SL_ERR_CRYPTO, "EVP_MAC_CTX_new failed");
    sl_result r = hmac_init(ctx, key, key_len);
    if (sl_ok(r)) r = hmac_finish(ctx, msg, out);
    EVP_MAC_CTX_free(ctx);
    if (sl_failed(r)) OPENSSL_cleanse(out, SHA256_LEN);
    return r;
}

static void hex_of(const uint8_t mac[SHA256_LEN], char hex[SIGV4_SIGNATURE_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < SHA256_LEN; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 0x0f];
    }
    hex[SIGV4_SIGNATURE_HEX_LEN] = '\0';
}

/* Hex HMAC of msg under a signing key, into a 65-byte buffer; the raw MAC is wiped. */
static sl_result hmac_hex(const uint8_t key[SIGV4_KEY_LEN], sl_cursor msg, char hex[SIGV4_SIGNATURE_HEX_LEN + 1])
{
    uint8_t mac[SHA256_LEN];
    sl_result r = hmac_sha256(key, SIGV4_KEY_LEN, msg, mac);
    if (sl_ok(r)) hex_of(mac, hex);
    OPENSSL_cleanse(mac, sizeof(mac));
    return r;
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
    sl_buf_clean_up_secure(&cache->secret);
    EVP_MD_CTX_free(cache->digest);
    EVP_MAC_CTX_free(cache->mac); /* OpenSSL wipes the key schedule */
    OPENSSL_cleanse(cache, sizeof(*cache));
    sl_free(cache);
}

unsigned long sigv4_key_cache_derivations(const sigv4_key_cache *cache)
{
    return cache != NULL ? cache->derivations : 0;
}

/* Whether the cache holds the key of signing's secret/region/service on `date`. */
static bool cache_holds(const sigv4_key_cache *cache, const sigv4_signing *signing, const char date[DATE_LEN + 1])
{
    sl_cursor secret = sl_cursor_from_cstr(signing->credentials->secret_access_key);
    return cache->valid && memcmp(cache->date, date, DATE_LEN) == 0 &&
           sl_cursor_eq(sl_cursor_from_buf(&cache->region), signing->region) &&
           sl_cursor_eq(sl_cursor_from_buf(&cache->service), signing->service) &&
           sigv4_signature_equal(sl_cursor_from_buf(&cache->secret), secret);
}

/* Makes the cache hold the key for signing/date (deriving it on a miss) with its
 * contexts ready. On error the cache is left invalid. */
static sl_result cache_fill(sigv4_key_cache *cache, const sigv4_signing *signing, const char date[DATE_LEN + 1])
{
    if (cache_holds(cache, signing, date)) return SL_SUCCESS;
    GUARD(algorithms());
    cache->valid = false;
    if (cache->digest == NULL) cache->digest = EVP_MD_CTX_new();
    if (cache->mac == NULL) cache->mac = EVP_MAC_CTX_new(hmac_mac);
    ENSURE(cache->digest != NULL && cache->mac != NULL, SL_ERR_CRYPTO, "OpenSSL could not make a context");
    sl_cursor secret = sl_cursor_from_cstr(signing->credentials->secret_access_key);
    GUARD(derive_key(secret, date, signing->region, signing->service, cache->key));
    sl_buf_reset(&cache->region);
    sl_buf_reset(&cache->service);
    sl_buf_clean_up_secure(&cache->secret);
    if (sl_failed(sl_buf_append_cursor(&cache->region, signing->region)) ||
        sl_failed(sl_buf_append_cursor(&cache->service, signing->service)) ||
        sl_failed(sl_buf_append_cursor(&cache->secret, secret)) ||
        sl_failed(hmac_init(cache->mac, cache->key, SIGV4_KEY_LEN))) {
        OPENSSL_cleanse(cache->key, SIGV4_KEY_LEN);
        return SL_FAILURE;
    }
    memcpy(cache->date, date, DATE_LEN + 1);
    cache->valid = true;
    cache->derivations++;
    return SL_SUCCESS;
}

/* The signing key for signing's secret/region/service on `date`, from the cache when
 * it holds that one. The caller wipes key[]. */
static sl_result signing_key(const sigv4_signing *signing, const char date[DATE_LEN + 1],
                             uint8_t key[SIGV4_KEY_LEN])
{
    sl_cursor secret = sl_cursor_from_cstr(signing->credentials->secret_access_key);
    sigv4_key_cache *cache = signing->key_cache;
    if (cache == NULL) return derive_key(secret, date, signing->region, signing->service, key);
    GUARD(cache_fill(cache, signing, date));
    memcpy(key, cache->key, SIGV4_KEY_LEN);
    return SL_SUCCESS;
}

/* The hex signature of string_to_sign: on the cache's keyed context when there is a
 * cache, else with a key derived (or cached) for the occasion. */
static sl_result sign_string(const sigv4_signing *signing, const char date[DATE_LEN + 1], sl_cursor string_to_sign,
                             char hex[SIGV4_SIGNATURE_HEX_LEN + 1])
{
    sigv4_key_cache *cache = signing->key_cache;
    if (cache == NULL) {
        uint8_t key[SIGV4_KEY_LEN];
        sl_result r = signing_key(signing, date, key);
        if (sl_ok(r)) r = hmac_hex(key, string_to_sign, hex);
        OPENSSL_cleanse(key, sizeof(key));
        return r;
    }
    GUARD(cache_fill(cache, signing, date));
    uint8_t mac[SHA256_LEN];
    sl_result r = hmac_init(cache->mac, NULL, 0);
    if (sl_ok(r)) r = hmac_finish(cache->mac, string_to_sign, mac);
    if (sl_ok(r)) hex_of(mac, hex);
    OPENSSL_cleanse(mac, sizeof(mac));
    return r;
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

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends the bytes `in` stands for: every %XX (either case) decoded, every other byte
 * as it is ("+" included: RFC 3986 gives it no meaning of a space). A "%" without two
 * hex digits after it is an error naming `what` and the offset; out is then unchanged. */
static sl_result percent_decode(sl_buf *out, sl_cursor in, const char *what)
{
    size_t mark = out->len;
    GUARD(sl_buf_reserve(out, in.len));
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (c == '%') {
            int hi = i + 1 < in.len ? hex_value(in.ptr[i + 1]) : -1;
            int lo = i + 2 < in.len ? hex_value(in.ptr[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                out->len = mark;
                out->data[out->len] = '\0';
                RAISE(SL_ERR_INVALID_ARGUMENT, "%s: \"%%\" at offset %zu is not followed by two hex digits", what, i);
            }
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        }
        out->data[out->len++] = c;
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
static sl_result canonical_uri(const sigv4_request *req, sl_buf *canonical, sl_buf *send_path);

static sl_result canonical_uri(const sigv4_request *req, sl_buf *canonical, sl_buf *send_path)
{
    sl_cursor path = req->path;
    ENSURE(cursor_valid(path) && path.len > 0 && path.ptr[0] == '/', SL_ERR_INVALID_ARGUMENT,
           "the path must begin with '/'");
    if (req->uri_mode == SIGV4_URI_S3_ENCODED) {
        /* the path as written in a URI: decode, then exactly as an unencoded one */
        sl_buf decoded = { 0 };
        sl_result r = percent_decode(&decoded, path, "the path");
        if (sl_ok(r)) {
            sigv4_request raw = *req;
            raw.path = sl_cursor_from_buf(&decoded);
            raw.uri_mode = SIGV4_URI_S3;
            r = canonical_uri(&raw, canonical, send_path);
        }
        sl_buf_clean_up(&decoded);
        return r;
    }
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

/* ---- lists of names and values ---- */

/* The query parameters or headers being canonicalized: their bytes live in one buffer
 * (one allocation for all of them instead of two per entry), and up to ENTRIES_INLINE
 * entries need no allocation for the list either. */
#define ENTRIES_INLINE 40

typedef struct entry {
    size_t name_at, name_len, value_at, value_len; /* in the list's text */
    size_t order;                                  /* position given: repeated names join in order */
    sl_cursor name, value;                         /* set by entries_seal */
} entry;

typedef struct entries {
    entry inline_items[ENTRIES_INLINE];
    entry *items;
    size_t count, capacity;
    sl_buf text;
} entries;

static sl_result entries_init(entries *l, size_t extra, size_t wanted)
{
    l->count = 0;
    l->text = (sl_buf){ 0 };
    ENSURE(sl_add_size(wanted, extra, &l->capacity), SL_ERR_OVERFLOW, "too many headers or parameters");
    l->items = l->capacity <= ENTRIES_INLINE ? l->inline_items : sl_calloc(l->capacity, sizeof(entry));
    return SL_SUCCESS;
}

static void entries_clean_up(entries *l)
{
    if (l->items != NULL && l->items != l->inline_items) sl_free(l->items);
    l->items = NULL;
    sl_buf_clean_up_secure(&l->text);
}

/* The next entry: its name starts at the end of the text. */
static entry *entry_begin(entries *l)
{
    entry *e = &l->items[l->count];
    *e = (entry){ .name_at = l->text.len, .order = l->count };
    return e;
}

static void entry_name_done(entries *l, entry *e)
{
    e->name_len = l->text.len - e->name_at;
    e->value_at = l->text.len;
}

static void entry_done(entries *l, entry *e)
{
    e->value_len = l->text.len - e->value_at;
    l->count++;
}

static sl_cursor entry_name(const entries *l, const entry *e)
{
    return sl_cursor_from_bytes(l->text.data + e->name_at, e->name_len);
}

static sl_cursor entry_value(const entries *l, const entry *e)
{
    return sl_cursor_from_bytes(l->text.data + e->value_at, e->value_len);
}

/* Once nothing more is added (the text no longer moves): cursors for sorting. */
static void entries_seal(entries *l)
{
    for (size_t i = 0; i < l->count; i++) {
        l->items[i].name = entry_name(l, &l->items[i]);
        l->items[i].value = entry_value(l, &l->items[i]);
    }
}

static int compare_cursors(sl_cursor a, sl_cursor b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) return c;
    return (a.len > b.len) - (a.len < b.len);
}

/* Sorts sealed entries by name, then by `then` (value or order); a stable insertion
 * sort: lists are short. */
typedef int entry_order_fn(const entry *a, const entry *b);

static void entries_sort(entries *l, entry_order_fn *order)
{
    for (size_t i = 1; i < l->count; i++) {
        entry moving = l->items[i];
        size_t k = i;
        while (k > 0 && order(&l->items[k - 1], &moving) > 0) {
            l->items[k] = l->items[k - 1];
            k--;
        }
        l->items[k] = moving;
    }
}

/* ---- the canonical query string ---- */

static int order_params(const entry *a, const entry *b)
{
    int c = compare_cursors(a->name, b->name);
    return c != 0 ? c : compare_cursors(a->value, b->value);
}

static sl_result add_param(entries *l, sl_cursor name, sl_cursor value)
{
    ENSURE(cursor_valid(name) && cursor_valid(value), SL_ERR_INVALID_ARGUMENT,
           "query parameter %zu is a NULL cursor", l->count);
    entry *e = entry_begin(l);
    GUARD(sigv4_uri_encode(&l->text, name, SIGV4_ENCODE_QUERY));
    entry_name_done(l, e);
    GUARD(sigv4_uri_encode(&l->text, value, SIGV4_ENCODE_QUERY));
    entry_done(l, e);
    return SL_SUCCESS;
}

/* Adds the parameters of a query string written in a URI (already percent-encoded):
 * pieces split at "&" (empty ones skipped) and at their first "=", each decoded, then
 * encoded again as a raw parameter is — so "%E1%88%B4=x", "%e1%88%b4=x" and the raw
 * "\xe1\x88\xb4" = "x" all give the same canonical bytes, never "%25E1…". */
static sl_result add_encoded_params(entries *l, sl_cursor query)
{
    sl_result result = SL_FAILURE;
    sl_buf name = { 0 }, value = { 0 };
    sl_cursor rest = query, piece;
    while (rest.len > 0 && sl_cursor_next_token(&rest, '&', &piece)) {
        if (piece.len == 0) continue;
        ptrdiff_t eq = sl_cursor_find_byte(piece, '=');
        sl_cursor n = piece, v = sl_cursor_from_bytes(piece.ptr + piece.len, 0);
        if (eq >= 0) {
            n.len = (size_t)eq;
            v = sl_cursor_from_bytes(piece.ptr + eq + 1, piece.len - (size_t)eq - 1);
        }
        sl_buf_reset(&name);
        sl_buf_reset(&value);
        GUARD_CLEANUP(percent_decode(&name, n, "a query parameter's name"));
        GUARD_CLEANUP(percent_decode(&value, v, "a query parameter's value"));
        ENSURE_CLEANUP(l->count < l->capacity, SL_ERR_LIMIT, "more query parameters than the list holds");
        GUARD_CLEANUP(add_param(l, BUF(&name), BUF(&value)));
    }
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up_secure(&name);
    sl_buf_clean_up_secure(&value);
    return result;
}

/* The most parameters a query string written in a URI can hold ("a&b&c": one per "&"). */
static size_t encoded_param_count(sl_cursor query)
{
    size_t n = query.len > 0 ? 1 : 0;
    for (size_t i = 0; i < query.len; i++)
        if (query.ptr[i] == '&') n++;
    return n;
}

/* CanonicalQueryString: sorted by encoded name, then encoded value. */
static sl_result join_params(sl_buf *out, entries *l)
{
    entries_seal(l);
    entries_sort(l, order_params);
    GUARD(sl_buf_reserve(out, l->text.len + 2 * l->count));
    for (size_t i = 0; i < l->count; i++) {
        if (i > 0) GUARD(sl_buf_append_byte(out, '&'));
        GUARD(sl_buf_append_cursor(out, l->items[i].name));
        GUARD(sl_buf_append_byte(out, '='));
        GUARD(sl_buf_append_cursor(out, l->items[i].value));
    }
    return SL_SUCCESS;
}

static const char *const presign_params[] = {
    "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token",
};

/* ---- canonical headers ---- */

static int order_headers(const entry *a, const entry *b)
{
    int c = compare_cursors(a->name, b->name);
    if (c != 0) return c;
    return (a->order > b->order) - (a->order < b->order);
}

/* True when folding would leave the value as it is: no control character, no space at
 * either end, no two spaces in a row (most values: a quick scan, then one copy). */
static bool already_folded(sl_cursor v)
{
    if (v.len == 0) return true;
    if (v.ptr[0] == ' ' || v.ptr[v.len - 1] == ' ') return false;
    for (size_t i = 0; i < v.len; i++) {
        uint8_t c = v.ptr[i];
        if (c < 0x20 || c == 0x7f || (c == ' ' && v.ptr[i + 1] == ' ')) return false;
    }
    return true;
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
    if (already_folded(v)) {
        if (v.len > 0) memcpy(out->data + out->len, v.ptr, v.len);
        out->len += v.len;
        out->data[out->len] = '\0';
        return SL_SUCCESS;
    }
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

/* Adds a header: the name lower-cased, the value trimmed and folded. */
static sl_result add_header(entries *l, sl_cursor name, sl_cursor value)
{
    ENSURE(cursor_valid(name) && is_token(name), SL_ERR_INVALID_ARGUMENT,
           "header %zu: the name \"%.*s\" is not an HTTP token", l->count,
           (int)(name.len > 64 ? 64 : name.len), name.ptr ? (const char *)name.ptr : "");
    entry *e = entry_begin(l);
    GUARD(sl_buf_reserve(&l->text, name.len));
    for (size_t i = 0; i < name.len; i++) l->text.data[l->text.len++] = to_lower(name.ptr[i]);
    l->text.data[l->text.len] = '\0';
    entry_name_done(l, e);
    GUARD(fold_value(&l->text, name, value));
    entry_done(l, e);
    return SL_SUCCESS;
}

/* CanonicalHeaders ("name:value\n" each, sorted, repeated names joined with ",") and
 * SignedHeaders ("name;name"). */
static sl_result join_headers(sl_buf *canonical, sl_buf *signed_headers, entries *l)
{
    entries_seal(l);
    entries_sort(l, order_headers);
    GUARD(sl_buf_reserve(canonical, l->text.len + 2 * l->count + 1));
    for (size_t i = 0; i < l->count; i++) {
        const entry *e = &l->items[i];
        bool same_as_previous = i > 0 && sl_cursor_eq(e->name, l->items[i - 1].name);
        if (same_as_previous) {
            GUARD(sl_buf_append_byte(canonical, ','));
        } else {
            if (i > 0) {
                GUARD(sl_buf_append_byte(canonical, '\n'));
                GUARD(sl_buf_append_byte(signed_headers, ';'));
            }
            GUARD(sl_buf_append_cursor(canonical, e->name));
            GUARD(sl_buf_append_byte(canonical, ':'));
            GUARD(sl_buf_append_cursor(signed_headers, e->name));
        }
        GUARD(sl_buf_append_cursor(canonical, e->value));
    }
    if (l->count > 0) GUARD(sl_buf_append_byte(canonical, '\n'));
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
static sl_result collect_headers(const sigv4_request *req, sign_mode mode, bool token_header, entries *l,
                                 size_t *host_index)
{
    size_t hosts = 0;
    ENSURE(req->header_count == 0 || req->headers != NULL, SL_ERR_INVALID_ARGUMENT,
           "%zu headers but no array", req->header_count);
    for (size_t i = 0; i < req->header_count; i++) {
        size_t at = l->count;
        GUARD(add_header(l, req->headers[i].name, req->headers[i].value));
        sl_cursor name = entry_name(l, &l->items[at]);
        ENSURE(!sl_cursor_eq_cstr(name, "authorization") && !sl_cursor_eq_cstr(name, "x-amz-date"),
               SL_ERR_INVALID_ARGUMENT, "header %.*s is set by the signer", (int)name.len, (const char *)name.ptr);
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
    sl_cursor host = entry_value(l, &l->items[*host_index]);
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
    ENSURE(req->encoded_query.ptr == NULL || req->query_count == 0, SL_ERR_INVALID_ARGUMENT,
           "a query given both as parameters and as an encoded string");
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
    size_t host_index = 0, text = 256; /* room for the headers the signer adds */
    entries l;
    GUARD(entries_init(&l, 3, req->header_count));
    for (size_t i = 0; i < req->header_count && text > 0; i++) /* a hint: 0 when it would overflow */
        if (!sl_add_size(text, req->headers[i].name.len, &text) || !sl_add_size(text, req->headers[i].value.len, &text))
            text = 0;
    GUARD_CLEANUP(sl_buf_reserve(&l.text, text));
    GUARD_CLEANUP(collect_headers(req, mode, token != NULL && mode == MODE_HEADER, &l, &host_index));
    GUARD_CLEANUP(sl_buf_append_cursor(host, entry_value(&l, &l.items[host_index])));
    if (mode == MODE_HEADER) {
        GUARD_CLEANUP(add_header(&l, LIT("x-amz-date"), CSTR(s->amz_date)));
        if (req->add_content_sha256) GUARD_CLEANUP(add_header(&l, LIT("x-amz-content-sha256"), BUF(&s->payload_hash)));
        if (token_signed) GUARD_CLEANUP(add_header(&l, LIT("x-amz-security-token"), CSTR(token)));
    }
    GUARD_CLEANUP(join_headers(canonical, &s->signed_headers, &l));
    result = SL_SUCCESS;
cleanup:
    entries_clean_up(&l);
    return result;
}

/* CanonicalQueryString: the request's parameters and, when presigning, the auth
 * parameters (X-Amz-SignedHeaders needs s->signed_headers already built). */
static sl_result build_query(const sigv4_request *req, sign_mode mode, uint32_t expires, const char *token_signed,
                             const sl_buf *credential, const sigv4_signed *s, sl_buf *canonical)
{
    sl_result result = SL_FAILURE;
    char expires_text[16];
    entries l;
    bool encoded = req->encoded_query.ptr != NULL;
    GUARD(entries_init(&l, 6, encoded ? encoded_param_count(req->encoded_query) : req->query_count));
    size_t text = 64; /* a hint: 0 when it would overflow; query signing adds ~200 bytes */
    if (!sl_add_size(text, mode == MODE_QUERY ? 256 : 0, &text) || !sl_add_size(text, req->encoded_query.len, &text))
        text = 0;
    for (size_t i = 0; i < req->query_count && text > 0; i++)
        if (!sl_add_size(text, req->query[i].name.len, &text) || !sl_add_size(text, req->query[i].value.len, &text))
            text = 0;
    if (!sl_mul_size(text, 3, &text)) text = 0;
    GUARD_CLEANUP(sl_buf_reserve(&l.text, text));
    if (encoded) GUARD_CLEANUP(add_encoded_params(&l, req->encoded_query));
    for (size_t i = 0; i < req->query_count; i++) GUARD_CLEANUP(add_param(&l, req->query[i].name, req->query[i].value));
    for (size_t i = 0; mode == MODE_QUERY && i < l.count; i++) {
        /* the decoded name: "X-Amz-Signature" cannot slip in as "X%2DAmz-Signature" */
        sl_buf raw = { 0 };
        sl_result decoded = percent_decode(&raw, entry_name(&l, &l.items[i]), "a query parameter's name");
        const char *owned = NULL;
        for (size_t k = 0; sl_ok(decoded) && k < sizeof(presign_params) / sizeof(presign_params[0]); k++)
            if (sl_cursor_eq_ignore_case(BUF(&raw), CSTR(presign_params[k]))) owned = presign_params[k];
        sl_buf_clean_up(&raw);
        GUARD_CLEANUP(decoded);
        ENSURE_CLEANUP(owned == NULL, SL_ERR_INVALID_ARGUMENT, "query parameter %s is set by the signer", owned);
    }
    if (mode == MODE_QUERY) {
        snprintf(expires_text, sizeof(expires_text), "%" PRIu32, expires);
        const sigv4_pair auth[] = {
            { LIT("X-Amz-Algorithm"), LIT(SIGV4_ALGORITHM) },
            { LIT("X-Amz-Credential"), BUF(credential) },
            { LIT("X-Amz-Date"), CSTR(s->amz_date) },
            { LIT("X-Amz-Expires"), CSTR(expires_text) },
            { LIT("X-Amz-SignedHeaders"), BUF(&s->signed_headers) },
            { LIT("X-Amz-Security-Token"), CSTR(token_signed) },
        };
        size_t auth_count = token_signed != NULL ? 6 : 5;
        for (size_t i = 0; i < auth_count; i++) GUARD_CLEANUP(add_param(&l, auth[i].name, auth[i].value));
    }
    GUARD_CLEANUP(join_params(canonical, &l));
    result = SL_SUCCESS;
cleanup:
    entries_clean_up(&l);
    return result;
}

static sl_result sign_request(const sigv4_signing *signing, const sigv4_request *req, sign_mode mode,
                              uint32_t expires, sigv4_signed *out)
{
    sl_result result = SL_FAILURE;
    sigv4_signed s = { 0 };
    sl_buf canonical_headers = { 0 }, canonical_query = { 0 }, canonical_path = { 0 }, credential = { 0 };
    sl_buf host = { 0 };
    char date[DATE_LEN + 1];

    GUARD(validate_signing(signing));
    GUARD(validate_request(req));
    EVP_MD_CTX *digest = NULL; /* the cache's context, reused; else one per hash */
    if (signing->key_cache != NULL) {
        GUARD(algorithms());
        if (signing->key_cache->digest == NULL) signing->key_cache->digest = EVP_MD_CTX_new();
        ENSURE(signing->key_cache->digest != NULL, SL_ERR_CRYPTO, "EVP_MD_CTX_new failed");
        digest = signing->key_cache->digest;
    }
    const char *token = session_token(signing->credentials);
    bool token_signed = token != NULL && !signing->omit_session_token;
    GUARD(format_amz_date(signing->time, s.amz_date, date));

    /* Credential scope: date/region/service/aws4_request. */
    GUARD_CLEANUP(JOIN(&s.credential_scope, sl_cursor_from_bytes(date, DATE_LEN), LIT("/"), signing->region, LIT("/"),
                       signing->service, LIT("/aws4_request")));
    GUARD_CLEANUP(JOIN(&credential, CSTR(signing->credentials->access_key_id), LIT("/"), BUF(&s.credential_scope)));

    /* HashedPayload. */
    if (req->payload_hash.ptr != NULL)
        GUARD_CLEANUP(sl_buf_append_cursor(&s.payload_hash, req->payload_hash));
    else
        GUARD_CLEANUP(append_sha256_hex_on(digest, &s.payload_hash, req->body));

    GUARD_CLEANUP(build_headers(req, mode, token, token_signed, &s, &canonical_headers, &host));
    GUARD_CLEANUP(canonical_uri(req, &canonical_path, &s.path));
    GUARD_CLEANUP(build_query(req, mode, expires, token_signed ? token : NULL, &credential, &s, &canonical_query));

    /* CanonicalRequest = Method \n URI \n Query \n Headers \n SignedHeaders \n Payload
     * (the headers block ends with its own "\n"). */
    GUARD_CLEANUP(JOIN(&s.canonical_request, req->method, LIT("\n"), BUF(&canonical_path), LIT("\n"),
                       BUF(&canonical_query), LIT("\n"), BUF(&canonical_headers), LIT("\n"), BUF(&s.signed_headers),
                       LIT("\n"), BUF(&s.payload_hash)));

    /* StringToSign = Algorithm \n RequestDateTime \n CredentialScope \n Hex(SHA256(CanonicalRequest)). */
    GUARD_CLEANUP(JOIN(&s.string_to_sign, LIT(SIGV4_ALGORITHM "\n"), CSTR(s.amz_date), LIT("\n"),
                       BUF(&s.credential_scope), LIT("\n")));
    GUARD_CLEANUP(append_sha256_hex_on(digest, &s.string_to_sign, BUF(&s.canonical_request)));

    /* Signature = Hex(HMAC(kSigning, StringToSign)). */
    GUARD_CLEANUP(sign_string(signing, date, BUF(&s.string_to_sign), s.signature));

    if (token != NULL) GUARD_CLEANUP(sl_buf_append_cstr(&s.session_token, token));
    GUARD_CLEANUP(sl_buf_append_cursor(&s.query, sl_cursor_from_buf(&canonical_query)));
    if (mode == MODE_HEADER) {
        GUARD_CLEANUP(JOIN(&s.authorization, LIT(SIGV4_ALGORITHM " Credential="), BUF(&credential),
                           LIT(", SignedHeaders="), BUF(&s.signed_headers), LIT(", Signature="),
                           sl_cursor_from_bytes(s.signature, SIGV4_SIGNATURE_HEX_LEN)));
    } else {
        s.presigned = true;
        GUARD_CLEANUP(JOIN(&s.query, LIT("&X-Amz-Signature="), sl_cursor_from_bytes(s.signature, SIGV4_SIGNATURE_HEX_LEN)));
        if (token != NULL && !token_signed) {
            GUARD_CLEANUP(sl_buf_append_cstr(&s.query, "&X-Amz-Security-Token="));
            GUARD_CLEANUP(sigv4_uri_encode(&s.query, sl_cursor_from_cstr(token), SIGV4_ENCODE_QUERY));
        }
        sl_cursor scheme = req->scheme.len > 0 ? req->scheme : sl_cursor_from_cstr("https");
        GUARD_CLEANUP(JOIN(&s.url, scheme, LIT("://"), BUF(&host), BUF(&s.path), LIT("?"), BUF(&s.query)));
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
    GUARD_CLEANUP(JOIN(&sts, LIT("AWS4-HMAC-SHA256-PAYLOAD\n"), CSTR(stream->amz_date), LIT("\n"),
                       BUF(&stream->credential_scope), LIT("\n"), CSTR(stream->signature), LIT("\n")));
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
    GUARD_CLEANUP(JOIN(&sts, LIT("AWS4-HMAC-SHA256-TRAILER\n"), CSTR(stream->amz_date), LIT("\n"),
                       BUF(&stream->credential_scope), LIT("\n"), CSTR(stream->signature), LIT("\n")));
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
