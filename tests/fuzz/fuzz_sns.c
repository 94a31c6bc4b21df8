/*
 * fuzz_sns.c — libFuzzer target over SNS envelopes (mover/events/sns.c) and the origin
 * check. Invariants: a refused envelope leaves the message empty; an accepted one has its
 * signature version 1 or 2, a signature of 64..1024 bytes, and a string to sign that ends
 * with its Type and names its TopicArn; no input verifies against a certificate the
 * fuzzer has no key of; the origin check never accepts a URL with user info or a host
 * that merely ends with an allowed one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "events/sns.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *cert_pem;

static void make_cert(void)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    if (kctx == NULL || EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, 1024) != 1 ||
        EVP_PKEY_keygen(kctx, &key) != 1)
        abort();
    EVP_PKEY_CTX_free(kctx);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    if (X509_sign(x, key, EVP_sha256()) <= 0) abort();
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *p = NULL;
    long len = BIO_get_mem_data(bio, &p);
    cert_pem = sl_strndup(p, (size_t)len);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);
}

static bool ends_with(const sl_buf *b, const char *s)
{
    size_t n = strlen(s);
    return b->len >= n && memcmp(b->data + b->len - n, s, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cert_pem == NULL) make_cert();
    sns_message m;
    memset(&m, 0xa5, sizeof(m));
    if (sl_failed(sns_message_parse(sl_cursor_from_bytes(data, size), &m))) {
        if (m.message != NULL || m.signature != NULL || m.string_to_sign.data != NULL) abort();
    } else {
        if (m.signature_version != 1 && m.signature_version != 2) abort();
        if (m.signature_len < 64 || m.signature_len > 1024) abort();
        const char *type = m.type == SNS_NOTIFICATION ? "\nType\nNotification\n"
                           : m.type == SNS_SUBSCRIPTION_CONFIRMATION ? "\nType\nSubscriptionConfirmation\n"
                                                                     : "\nType\nUnsubscribeConfirmation\n";
        if (!ends_with(&m.string_to_sign, type)) abort();
        if (strstr(sl_buf_cstr(&m.string_to_sign), m.topic_arn) == NULL) abort();
        if (sl_ok(sns_message_verify(&m, sl_cursor_from_cstr(cert_pem)))) abort();
        const char *origins[] = { "https://sns.*.amazonaws.com" };
        if (sns_origin_allowed(m.signing_cert_url, origins, 1) && strchr(m.signing_cert_url, '@') != NULL &&
            strchr(m.signing_cert_url, '@') < strchr(m.signing_cert_url + 8, '/'))
            abort();
        sns_message_clean_up(&m);
    }
    /* the input as a URL */
    char *url = sl_strndup((const char *)data, size);
    const char *origins[] = { "https://sns.*.amazonaws.com", "http://127.0.0.1:8000" };
    if (sns_origin_allowed(url, origins, 2)) {
        const char *host = strstr(url, "://") + 3;
        size_t n = strcspn(host, "/?#");
        const char *at = memchr(host, '@', n);
        if (at != NULL) abort();
        bool aws = n >= 14 && strncasecmp(host, "sns.", 4) == 0;
        bool local = strncmp(host, "127.0.0.1:8000", 14) == 0 && n == 14;
        if (!aws && !local) abort();
    }
    sl_free(url);
    return 0;
}
