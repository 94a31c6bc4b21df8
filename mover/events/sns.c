/*
 * sns.c — SNS envelopes: parsing, the string to sign, the signature check with the signing
 * certificate, and the origin check of the URLs an envelope names (see sns.h).
 *
 * The string to sign (AWS SNS Developer Guide, "Verifying the signatures of Amazon SNS
 * messages"): for a Notification the members Message, MessageId, Subject (only when
 * present), Timestamp, TopicArn, Type; for a SubscriptionConfirmation or an
 * UnsubscribeConfirmation the members Message, MessageId, SubscribeURL, Timestamp, Token,
 * TopicArn, Type — each as "<Name>\n<value>\n", in that (byte) order.
 */
#include "events/sns.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/dsse.h"
#include "util/alloc.h"
#include "util/utf8.h"

#define MAX_MEMBER ((size_t)256 << 10)
#define MAX_SIGNATURE_TEXT 2048
#define MAX_URL 2048

void sns_message_clean_up(sns_message *m)
{
    if (m == NULL) return;
    char *strings[] = { m->message_id, m->topic_arn, m->message, m->timestamp, m->subject, m->token, m->subscribe_url,
                        m->signing_cert_url };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) sl_free(strings[i]);
    sl_free(m->signature);
    sl_buf_clean_up(&m->string_to_sign);
    *m = (sns_message){ 0 };
}

/* A string member (required or not) of at most `max` bytes of UTF-8 without NUL. */
static sl_result member(json_t *doc, const char *name, bool required, size_t max, char **out)
{
    json_t *v = json_object_get(doc, name);
    if (v == NULL) {
        ENSURE(!required, SL_ERR_PARSE, "%s: missing", name);
        return SL_SUCCESS;
    }
    ENSURE(json_is_string(v), SL_ERR_PARSE, "%s: expected a string", name);
    size_t len = json_string_length(v);
    ENSURE(len <= max, SL_ERR_LIMIT, "%s: %zu bytes, at most %zu", name, len, max);
    const char *s = json_string_value(v);
    ENSURE(memchr(s, '\0', len) == NULL, SL_ERR_PARSE, "%s: holds a NUL byte", name);
    *out = sl_strndup(s, len);
    return SL_SUCCESS;
}

static sl_result sign_line(sl_buf *b, const char *name, const char *value)
{
    if (value == NULL) return SL_SUCCESS;
    GUARD(sl_buf_appendf(b, "%s\n", name));
    GUARD(sl_buf_append_cstr(b, value));
    return sl_buf_append_byte(b, '\n');
}

static sl_result build_string_to_sign(sns_message *m, const char *type)
{
    sl_buf *b = &m->string_to_sign;
    GUARD(sign_line(b, "Message", m->message));
    GUARD(sign_line(b, "MessageId", m->message_id));
    if (m->type == SNS_NOTIFICATION) {
        GUARD(sign_line(b, "Subject", m->subject));
        GUARD(sign_line(b, "Timestamp", m->timestamp));
    } else {
        GUARD(sign_line(b, "SubscribeURL", m->subscribe_url));
        GUARD(sign_line(b, "Timestamp", m->timestamp));
        GUARD(sign_line(b, "Token", m->token));
    }
    GUARD(sign_line(b, "TopicArn", m->topic_arn));
    return sign_line(b, "Type", type);
}

static sl_result parse_into(json_t *doc, sns_message *m)
{
    char *type = NULL;
    sl_result r = member(doc, "Type", true, 64, &type);
    if (sl_failed(r)) return r;
    if (strcmp(type, "Notification") == 0) m->type = SNS_NOTIFICATION;
    else if (strcmp(type, "SubscriptionConfirmation") == 0) m->type = SNS_SUBSCRIPTION_CONFIRMATION;
    else if (strcmp(type, "UnsubscribeConfirmation") == 0) m->type = SNS_UNSUBSCRIBE_CONFIRMATION;
    else {
        char shown[68];
        snprintf(shown, sizeof(shown), "%.60s", type);
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7F) *c = '?';
        sl_free(type);
        RAISE(SL_ERR_PARSE, "Type: \"%s\" is not an SNS message type", shown);
    }
    bool note = m->type == SNS_NOTIFICATION;
    char *version = NULL, *signature = NULL;
    r = member(doc, "Message", true, MAX_MEMBER, &m->message);
    if (sl_ok(r)) r = member(doc, "MessageId", true, 256, &m->message_id);
    if (sl_ok(r)) r = member(doc, "TopicArn", true, 256, &m->topic_arn);
    if (sl_ok(r)) r = member(doc, "Timestamp", true, 64, &m->timestamp);
    if (sl_ok(r) && note) r = member(doc, "Subject", false, 256, &m->subject);
    if (sl_ok(r) && !note) r = member(doc, "Token", true, 2048, &m->token);
    if (sl_ok(r) && !note) r = member(doc, "SubscribeURL", true, MAX_URL, &m->subscribe_url);
    if (sl_ok(r)) r = member(doc, "SigningCertURL", true, MAX_URL, &m->signing_cert_url);
    if (sl_ok(r)) r = member(doc, "SignatureVersion", true, 8, &version);
    if (sl_ok(r)) r = member(doc, "Signature", true, MAX_SIGNATURE_TEXT, &signature);
    if (sl_ok(r)) {
        if (strcmp(version, "1") == 0) m->signature_version = 1;
        else if (strcmp(version, "2") == 0) m->signature_version = 2;
        else r = sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "SignatureVersion: expected \"1\" or \"2\"");
    }
    if (sl_ok(r)) {
        sl_buf sig = { 0 };
        r = attest_base64_decode(&sig, sl_cursor_from_cstr(signature));
        if (sl_ok(r) && (sig.len < 64 || sig.len > 1024))
            r = sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "Signature: %zu bytes is not an RSA signature", sig.len);
        if (sl_ok(r)) {
            m->signature_len = sig.len;
            m->signature = (uint8_t *)sl_buf_steal(&sig);
        } else {
            char why[200];
            snprintf(why, sizeof(why), "%s", sl_error_detail());
            r = sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "Signature: %s", why);
        }
        sl_buf_clean_up(&sig);
    }
    if (sl_ok(r)) r = build_string_to_sign(m, type);
    sl_free(type);
    sl_free(version);
    sl_free(signature);
    return r;
}

sl_result sns_message_parse(sl_cursor body, sns_message *out)
{
    *out = (sns_message){ 0 };
    ENSURE(body.len <= SNS_MAX_BODY, SL_ERR_LIMIT, "the SNS message is %zu bytes, over %zu", body.len, SNS_MAX_BODY);
    ENSURE(sl_utf8_valid(body, NULL), SL_ERR_PARSE, "the SNS message is not UTF-8");
    json_error_t err;
    json_t *doc = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) RAISE(SL_ERR_PARSE, "not JSON: %s at line %d", err.text, err.line);
    sl_result r = json_is_object(doc) ? parse_into(doc, out)
                                      : sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "expected a JSON object");
    json_decref(doc);
    if (sl_failed(r)) sns_message_clean_up(out);
    return r;
}

sl_result sns_message_verify(const sns_message *m, sl_cursor cert_pem)
{
    ENSURE(cert_pem.len > 0 && cert_pem.len <= SNS_MAX_CERT, SL_ERR_CRYPTO, "the signing certificate is %zu bytes",
           cert_pem.len);
    sl_result result = SL_FAILURE;
    BIO *bio = BIO_new_mem_buf(cert_pem.ptr, (int)cert_pem.len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = cert ? X509_get_pubkey(cert) : NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (key == NULL || ctx == NULL) {
        sl_error_raise(SL_ERR_CRYPTO, __FILE__, __LINE__, "the signing certificate is not a PEM X.509 certificate");
        goto cleanup;
    }
    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        sl_error_raise(SL_ERR_CRYPTO, __FILE__, __LINE__, "the signing certificate's key is not RSA");
        goto cleanup;
    }
    const EVP_MD *md = m->signature_version == 1 ? EVP_sha1() : EVP_sha256();
    if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestVerifyUpdate(ctx, m->string_to_sign.data, m->string_to_sign.len) != 1 ||
        EVP_DigestVerifyFinal(ctx, m->signature, m->signature_len) != 1) {
        sl_error_raise(SL_ERR_CRYPTO, __FILE__, __LINE__, "the signature (version %d) does not verify with the certificate",
                       m->signature_version);
        goto cleanup;
    }
    result = SL_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(bio);
    return result;
}

/* ---- origins ---- */

struct origin {
    bool https;
    sl_cursor host;
    unsigned port;
};

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '*' || c == '_';
}

/* scheme://host[:port] then "/", "?", "#" or the end. */
static bool split_origin(const char *s, struct origin *o)
{
    const char *rest;
    if (strncmp(s, "https://", 8) == 0) {
        o->https = true;
        rest = s + 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        o->https = false;
        rest = s + 7;
    } else {
        return false;
    }
    size_t host = 0;
    while (rest[host] && is_host_char(rest[host])) host++;
    if (host == 0 || host > 253) return false;
    o->host = sl_cursor_from_bytes(rest, host);
    o->port = o->https ? 443 : 80;
    const char *p = rest + host;
    if (*p == ':') {
        unsigned port = 0;
        size_t digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) port = port * 10 + (unsigned)(*p - '0');
        if (digits == 0 || port == 0 || port > 65535) return false;
        o->port = port;
    }
    return *p == '\0' || *p == '/' || *p == '?' || *p == '#';
}

/* Label by label, "*" in the pattern matching one whole label (never in the URL). */
static bool host_matches(sl_cursor pattern, sl_cursor host)
{
    if (sl_cursor_find_byte(host, '*') >= 0) return false;
    sl_cursor pl, hl;
    for (;;) {
        bool more_p = sl_cursor_next_token(&pattern, '.', &pl);
        bool more_h = sl_cursor_next_token(&host, '.', &hl);
        if (!more_p || !more_h) return !more_p && !more_h;
        if (hl.len == 0) return false;
        if (sl_cursor_eq_cstr(pl, "*")) continue;
        if (!sl_cursor_eq_ignore_case(pl, hl)) return false;
    }
}

bool sns_origin_allowed(const char *url, const char *const *origins, size_t count)
{
    struct origin u;
    if (url == NULL || !split_origin(url, &u)) return false;
    for (size_t i = 0; i < count; i++) {
        struct origin o;
        if (!split_origin(origins[i], &o)) continue;
        if (o.https == u.https && o.port == u.port && host_matches(o.host, u.host)) return true;
    }
    return false;
}
