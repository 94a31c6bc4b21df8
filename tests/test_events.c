/*
 * test_events.c — S3 event notifications (mover/events/): the event document parser on
 * real payloads (radosgw 16's push, AWS's URL-encoded keys, a MinIO webhook, the test
 * event) and on broken ones; SNS envelopes — the string SNS signs, signatures checked with
 * a certificate this test makes (SignatureVersion 1 and 2), tampering, and where SNS may
 * send us to; the listener's shared secret (file checks, the three ways a sender presents
 * it); and the shard hash that splits a route's work between movers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/dsse.h"
#include "events/s3_event.h"
#include "events/secret.h"
#include "events/sns.h"
#include "lease/lease.h"
#include "util/alloc.h"

#ifndef SLUICE_SOURCE_DIR
#error "SLUICE_SOURCE_DIR must name the repository root"
#endif
#define DATA SLUICE_SOURCE_DIR "/tests/data/events/"

static sl_buf read_data(const char *name)
{
    sl_buf b = { 0 };
    char path[512];
    snprintf(path, sizeof(path), DATA "%s", name);
    assert_true(sl_ok(sl_buf_read_file(&b, path, 1 << 20)));
    return b;
}

static sl_result parse_text(const char *text, s3_event_batch *out)
{
    return s3_event_parse(sl_cursor_from_cstr(text), out);
}

/* ---- the event document ---- */

static void radosgw_keys_are_taken_as_they_are(void **state)
{
    (void)state;
    sl_buf b = read_data("radosgw.json");
    s3_event_batch batch;
    assert_true(sl_ok(s3_event_parse(sl_cursor_from_buf(&b), &batch)));
    assert_int_equal(batch.count, 1);
    assert_int_equal(batch.records[0].kind, S3_EVENT_CREATED);
    assert_string_equal(batch.records[0].bucket, "sluice-staging");
    assert_string_equal(batch.records[0].key, "evtest/t1/a b+c%.csv");
    assert_string_equal(batch.records[0].version_id, "Ct1cbp6WvMP-I4BCC6sf7u0sv8TF35Z");
    s3_event_batch_clean_up(&batch);
    sl_buf_clean_up(&b);
}

static void aws_keys_are_url_decoded(void **state)
{
    (void)state;
    sl_buf b = read_data("aws.json");
    s3_event_batch batch;
    assert_true(sl_ok(s3_event_parse(sl_cursor_from_buf(&b), &batch)));
    assert_int_equal(batch.count, 2);
    assert_string_equal(batch.records[0].key, "reports/t1/a b+c%.csv");
    assert_int_equal(batch.records[0].kind, S3_EVENT_CREATED);
    assert_int_equal(batch.records[1].kind, S3_EVENT_REMOVED);
    assert_null(batch.records[1].version_id);
    s3_event_batch_clean_up(&batch);
    sl_buf_clean_up(&b);
}

static void minio_webhooks_are_read(void **state)
{
    (void)state;
    sl_buf b = read_data("minio.json");
    s3_event_batch batch;
    assert_true(sl_ok(s3_event_parse(sl_cursor_from_buf(&b), &batch)));
    assert_int_equal(batch.count, 1);
    assert_int_equal(batch.records[0].kind, S3_EVENT_CREATED); /* "s3:ObjectCreated:Put" */
    assert_string_equal(batch.records[0].key, "metrics/t9/\xc3\xa9t\xc3\xa9.json");
    s3_event_batch_clean_up(&batch);
    sl_buf_clean_up(&b);
}

static void the_test_event_has_no_records(void **state)
{
    (void)state;
    sl_buf b = read_data("test_event.json");
    s3_event_batch batch;
    assert_true(sl_ok(s3_event_parse(sl_cursor_from_buf(&b), &batch)));
    assert_true(batch.test_event);
    assert_int_equal(batch.count, 0);
    s3_event_batch_clean_up(&batch);
    sl_buf_clean_up(&b);
}

#define RECORD(source, key)                                                                                   \
    "{\"Records\":[{\"eventSource\":\"" source "\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":" \
    "\"b\"},\"object\":{\"key\":" key "}}}]}"

static void bad_documents_name_what_is_wrong(void **state)
{
    (void)state;
    struct {
        const char *text, *expect;
    } cases[] = {
        { "not json", "not JSON" },
        { "[]", "expected a JSON object" },
        { "{}", "Records: missing" },
        { "{\"Records\":{}}", "Records: expected an array" },
        { "{\"Records\":[1]}", "Records[0].: expected an object" },
        { "{\"Records\":[{\"eventName\":\"x\"}]}", "Records[0].eventSource" },
        { RECORD("aws:s3", "7"), "Records[0].s3.object.key: expected a string" },
        { RECORD("aws:s3", "\"a%zzb\""), "not a URL-encoded key" },
        { RECORD("aws:s3", "\"a%2\""), "not a URL-encoded key" },
        { RECORD("aws:s3", "\"a%00b\""), "no NUL byte" },
        { RECORD("aws:s3", "\"%ff%fe\""), "UTF-8" },
        { RECORD("ceph:s3", "\"\""), "1 to 1024 bytes" },
        { "{\"Records\":[],\"Records\":[]}", "not JSON" }, /* duplicate members */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s3_event_batch batch = { .count = 99 };
        assert_true(sl_failed(parse_text(cases[i].text, &batch)));
        if (strstr(sl_error_detail(), cases[i].expect) == NULL) fail_msg("case %zu: %s", i, sl_error_detail());
        assert_int_equal(batch.count, 0);
        assert_null(batch.records);
    }
}

static void limits_hold(void **state)
{
    (void)state;
    /* a key of 1025 bytes */
    sl_buf doc = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "{\"Records\":[{\"eventSource\":\"ceph:s3\",\"eventName\":\"ObjectCreated:Put\","
                                               "\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"")));
    for (int i = 0; i < 1025; i++) assert_true(sl_ok(sl_buf_append_byte(&doc, 'k')));
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "\"}}}]}")));
    s3_event_batch batch;
    assert_true(sl_failed(s3_event_parse(sl_cursor_from_buf(&doc), &batch)));
    assert_non_null(strstr(sl_error_detail(), "1 to 1024"));
    /* 1001 records */
    sl_buf_reset(&doc);
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "{\"Records\":[")));
    for (int i = 0; i < 1001; i++) assert_true(sl_ok(sl_buf_append_cstr(&doc, i ? ",{}" : "{}")));
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "]}")));
    assert_true(sl_failed(s3_event_parse(sl_cursor_from_buf(&doc), &batch)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    /* a body over 256 KiB */
    sl_buf_reset(&doc);
    for (size_t i = 0; i < S3_EVENT_MAX_BODY + 1; i++) assert_true(sl_ok(sl_buf_append_byte(&doc, ' ')));
    assert_true(sl_failed(s3_event_parse(sl_cursor_from_buf(&doc), &batch)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    sl_buf_clean_up(&doc);
}

static void form_decoding(void **state)
{
    (void)state;
    sl_buf out = { 0 };
    assert_true(sl_ok(s3_event_decode_key(sl_cursor_from_cstr("a+b%2Bc%25%2fd"), &out)));
    assert_int_equal(out.len, 8);
    assert_memory_equal(out.data, "a b+c%/d", 8);
    sl_buf_reset(&out);
    assert_true(sl_failed(s3_event_decode_key(sl_cursor_from_cstr("ab%"), &out)));
    assert_int_equal(out.len, 0);
    sl_buf_clean_up(&out);
}

/* ---- SNS ---- */

typedef struct signer {
    EVP_PKEY *key;
    char *cert_pem;
} signer;

static signer make_signer(int type)
{
    signer s = { 0 };
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(type, NULL);
    assert_non_null(kctx);
    assert_int_equal(EVP_PKEY_keygen_init(kctx), 1);
    if (type == EVP_PKEY_RSA) assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, 1024), 1);
    assert_int_equal(EVP_PKEY_keygen(kctx, &s.key), 1);
    EVP_PKEY_CTX_free(kctx);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, s.key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sns.test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, s.key, type == EVP_PKEY_RSA ? EVP_sha256() : NULL) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    s.cert_pem = sl_strndup(data, (size_t)len);
    BIO_free(bio);
    X509_free(x);
    return s;
}

static void signer_free(signer *s)
{
    EVP_PKEY_free(s->key);
    sl_free(s->cert_pem);
}

/* Base64 of the RSA signature of `text` (SHA-1 for version 1, SHA-256 for 2). */
static char *sign_text(const signer *s, int version, const sl_buf *text)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, version == 1 ? EVP_sha1() : EVP_sha256(), NULL, s->key), 1);
    size_t len = 0;
    assert_int_equal(EVP_DigestSign(ctx, NULL, &len, text->data, text->len), 1);
    uint8_t *sig = sl_malloc(len);
    assert_int_equal(EVP_DigestSign(ctx, sig, &len, text->data, text->len), 1);
    EVP_MD_CTX_free(ctx);
    sl_buf b64 = { 0 };
    assert_true(sl_ok(attest_base64_encode(&b64, sig, len)));
    sl_free(sig);
    return sl_buf_steal(&b64);
}

#define NOTE_STRING                                                                                    \
    "Message\n{\"Records\":[]}\nMessageId\nm-1\nSubject\nS3 event\nTimestamp\n2026-12-05T21:10:00.512Z\n" \
    "TopicArn\narn:aws:sns:eu-west-1:123456789012:sluice\nType\nNotification\n"

static char *notification(const char *signature, int version, const char *message)
{
    return sl_strdup_printf("{\"Type\":\"Notification\",\"MessageId\":\"m-1\",\"TopicArn\":"
                            "\"arn:aws:sns:eu-west-1:123456789012:sluice\",\"Subject\":\"S3 event\",\"Message\":\"%s\","
                            "\"Timestamp\":\"2026-12-05T21:10:00.512Z\",\"SignatureVersion\":\"%d\",\"Signature\":\"%s\","
                            "\"SigningCertURL\":\"https://sns.eu-west-1.amazonaws.com/c.pem\",\"UnsubscribeURL\":\"u\"}",
                            message, version, signature);
}

static void sns_strings_to_sign_follow_the_guide(void **state)
{
    (void)state;
    char *doc = notification("QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD"
                             "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD" "QUJD",
                             2, "{\\\"Records\\\":[]}");
    sns_message m;
    assert_true(sl_ok(sns_message_parse(sl_cursor_from_cstr(doc), &m)));
    assert_int_equal(m.type, SNS_NOTIFICATION);
    assert_int_equal(m.string_to_sign.len, strlen(NOTE_STRING));
    assert_memory_equal(m.string_to_sign.data, NOTE_STRING, strlen(NOTE_STRING));
    sns_message_clean_up(&m);
    sl_free(doc);

    sl_buf sub = read_data("sns_subscription.json");
    assert_true(sl_ok(sns_message_parse(sl_cursor_from_buf(&sub), &m)));
    assert_int_equal(m.type, SNS_SUBSCRIPTION_CONFIRMATION);
    assert_int_equal(m.signature_version, 1);
    const char *text = sl_buf_cstr(&m.string_to_sign);
    const char *order[] = { "Message\n", "MessageId\n", "SubscribeURL\n", "Timestamp\n", "Token\n", "TopicArn\n",
                            "Type\nSubscriptionConfirmation\n" };
    const char *at = text;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *found = strstr(at, order[i]);
        if (found == NULL) fail_msg("%s not in order in the string to sign", order[i]);
        at = found;
    }
    sns_message_clean_up(&m);
    sl_buf_clean_up(&sub);
}

static void sns_signatures_verify_and_tampering_fails(void **state)
{
    (void)state;
    signer rsa = make_signer(EVP_PKEY_RSA), other = make_signer(EVP_PKEY_RSA), ed = make_signer(EVP_PKEY_ED25519);
    for (int version = 1; version <= 2; version++) {
        sl_buf text = { 0 };
        assert_true(sl_ok(sl_buf_append_cstr(&text, NOTE_STRING)));
        char *sig = sign_text(&rsa, version, &text);
        char *doc = notification(sig, version, "{\\\"Records\\\":[]}");
        sns_message m;
        assert_true(sl_ok(sns_message_parse(sl_cursor_from_cstr(doc), &m)));
        assert_true(sl_ok(sns_message_verify(&m, sl_cursor_from_cstr(rsa.cert_pem))));
        /* another key's certificate, a certificate without an RSA key, garbage */
        assert_true(sl_failed(sns_message_verify(&m, sl_cursor_from_cstr(other.cert_pem))));
        assert_int_equal(sl_error_last(), SL_ERR_CRYPTO);
        assert_true(sl_failed(sns_message_verify(&m, sl_cursor_from_cstr(ed.cert_pem))));
        assert_true(sl_failed(sns_message_verify(&m, sl_cursor_from_cstr("-----BEGIN CERTIFICATE-----\nxx\n"))));
        sns_message_clean_up(&m);
        sl_free(doc);
        /* the same signature over another message */
        doc = notification(sig, version, "{\\\"Records\\\":[1]}");
        assert_true(sl_ok(sns_message_parse(sl_cursor_from_cstr(doc), &m)));
        assert_true(sl_failed(sns_message_verify(&m, sl_cursor_from_cstr(rsa.cert_pem))));
        sns_message_clean_up(&m);
        sl_free(doc);
        /* claimed as the other version */
        doc = notification(sig, 3 - version, "{\\\"Records\\\":[]}");
        assert_true(sl_ok(sns_message_parse(sl_cursor_from_cstr(doc), &m)));
        assert_true(sl_failed(sns_message_verify(&m, sl_cursor_from_cstr(rsa.cert_pem))));
        sns_message_clean_up(&m);
        sl_free(doc);
        sl_free(sig);
        sl_buf_clean_up(&text);
    }
    signer_free(&rsa);
    signer_free(&other);
    signer_free(&ed);
}

static void sns_envelopes_that_are_wrong(void **state)
{
    (void)state;
    const char *cases[] = {
        "{}",
        "{\"Type\":\"Other\"}",
        "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"x\",\"Timestamp\":\"t\","
        "\"SigningCertURL\":\"u\",\"SignatureVersion\":\"3\",\"Signature\":\"QUJD\"}",
        "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"x\",\"Timestamp\":\"t\","
        "\"SigningCertURL\":\"u\",\"SignatureVersion\":\"2\",\"Signature\":\"QUJD\"}", /* 3 bytes is no RSA signature */
        "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"x\","
        "\"Timestamp\":\"t\",\"SigningCertURL\":\"u\",\"SignatureVersion\":\"1\",\"Signature\":\"QUJD\"}", /* no Token */
        "{\"Type\":\"Notification\",\"MessageId\":7}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sns_message m;
        assert_true(sl_failed(sns_message_parse(sl_cursor_from_cstr(cases[i]), &m)));
        assert_null(m.message);
    }
}

static void sns_origins(void **state)
{
    (void)state;
    const char *aws[] = { "https://sns.*.amazonaws.com" };
    assert_true(sns_origin_allowed("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", aws, 1));
    assert_true(sns_origin_allowed("https://SNS.eu-west-1.amazonaws.com:443/?Action=ConfirmSubscription", aws, 1));
    assert_false(sns_origin_allowed("http://sns.eu-west-1.amazonaws.com/x.pem", aws, 1));
    assert_false(sns_origin_allowed("https://sns.eu-west-1.amazonaws.com.evil.example/x.pem", aws, 1));
    assert_false(sns_origin_allowed("https://evil.example@sns.eu-west-1.amazonaws.com/x.pem", aws, 1));
    assert_false(sns_origin_allowed("https://sns.amazonaws.com/x.pem", aws, 1));
    assert_false(sns_origin_allowed("https://sns.eu-west-1.amazonaws.com:8443/x.pem", aws, 1));
    assert_false(sns_origin_allowed("https://sns..amazonaws.com/x.pem", aws, 1));
    assert_false(sns_origin_allowed("https://sns.*.amazonaws.com/x.pem", aws, 1));
    assert_false(sns_origin_allowed("ftp://sns.eu-west-1.amazonaws.com/x.pem", aws, 1));
    assert_false(sns_origin_allowed(NULL, aws, 1));
    const char *local[] = { "https://sns.*.amazonaws.com", "http://127.0.0.1:8000" };
    assert_true(sns_origin_allowed("http://127.0.0.1:8000/cert.pem", local, 2));
    assert_false(sns_origin_allowed("http://127.0.0.1:8001/cert.pem", local, 2));
    assert_false(sns_origin_allowed("http://127.0.0.1/cert.pem", local, 2));
}

/* ---- the shared secret ---- */

static char *secret_file(const char *text, mode_t mode)
{
    char *path = sl_strdup("/tmp/sluice-secret-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void the_secret_file_is_checked(void **state)
{
    (void)state;
    sl_buf s = { 0 };
    char *path = secret_file("0123456789abcdef0123\n", 0600);
    assert_true(sl_ok(events_secret_load(path, &s)));
    assert_int_equal(s.len, 20); /* the newline is dropped */
    assert_true(events_secret_matches(&s, sl_cursor_from_cstr("0123456789abcdef0123")));
    assert_false(events_secret_matches(&s, sl_cursor_from_cstr("0123456789abcdef012")));
    assert_false(events_secret_matches(&s, (sl_cursor){ 0 }));
    assert_int_equal(chmod(path, 0640), 0);
    assert_true(sl_failed(events_secret_load(path, &s)));
    assert_non_null(strstr(sl_error_detail(), "chmod 600"));
    unlink(path);
    sl_free(path);
    path = secret_file("short", 0600);
    assert_true(sl_failed(events_secret_load(path, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    unlink(path);
    sl_free(path);
    path = secret_file("0123456789 abcdef0123", 0600);
    assert_true(sl_failed(events_secret_load(path, &s)));
    unlink(path);
    sl_free(path);
    assert_true(sl_failed(events_secret_load("/nonexistent/secret", &s)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    sl_buf empty = { 0 };
    assert_false(events_secret_matches(&empty, sl_cursor_from_cstr("")));
    sl_buf_clean_up_secure(&s);
}

static void the_secret_is_found_where_senders_put_it(void **state)
{
    (void)state;
    sl_buf scratch = { 0 };
    /* "sluice:s3cret-s3cret-s3cret" */
    sl_cursor c = events_secret_presented(sl_cursor_from_cstr("Basic c2x1aWNlOnMzY3JldC1zM2NyZXQtczNjcmV0"),
                                          (sl_cursor){ 0 }, &scratch);
    assert_true(sl_cursor_eq_cstr(c, "s3cret-s3cret-s3cret"));
    c = events_secret_presented(sl_cursor_from_cstr("bearer  tok-123 "), (sl_cursor){ 0 }, &scratch);
    assert_true(sl_cursor_eq_cstr(c, "tok-123"));
    c = events_secret_presented((sl_cursor){ 0 }, sl_cursor_from_cstr("a=1&token=abc&b=2"), &scratch);
    assert_true(sl_cursor_eq_cstr(c, "abc"));
    c = events_secret_presented((sl_cursor){ 0 }, sl_cursor_from_cstr("xtoken=abc"), &scratch);
    assert_int_equal(c.len, 0);
    c = events_secret_presented(sl_cursor_from_cstr("Basic !!!!"), (sl_cursor){ 0 }, &scratch);
    assert_int_equal(c.len, 0);
    c = events_secret_presented(sl_cursor_from_cstr("Basic bm9jb2xvbg=="), (sl_cursor){ 0 }, &scratch); /* "nocolon" */
    assert_int_equal(c.len, 0);
    sl_buf_clean_up(&scratch);
}

/* ---- shards ---- */

static void the_shard_hash_is_fnv1a(void **state)
{
    (void)state;
    /* FNV-1a 64: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c, "foobar" -> 85944171f73967e8 */
    assert_int_equal(lease_shard_of(sl_cursor_from_cstr(""), 1000003), 0xcbf29ce484222325ull % 1000003);
    assert_int_equal(lease_shard_of(sl_cursor_from_cstr("a"), 97), 0xaf63dc4c8601ec8cull % 97);
    assert_int_equal(lease_shard_of(sl_cursor_from_cstr("foobar"), 4), 0x85944171f73967e8ull % 4);
    assert_int_equal(lease_shard_of(sl_cursor_from_cstr("foobar"), 1), 0);
    /* 1,000 task ids spread over 4 shards */
    unsigned counts[4] = { 0 };
    for (int i = 0; i < 1000; i++) {
        char task[32];
        snprintf(task, sizeof(task), "t%d", i);
        counts[lease_shard_of(sl_cursor_from_cstr(task), 4)]++;
    }
    for (int i = 0; i < 4; i++) assert_true(counts[i] > 180 && counts[i] < 320);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(radosgw_keys_are_taken_as_they_are),
        cmocka_unit_test(aws_keys_are_url_decoded),
        cmocka_unit_test(minio_webhooks_are_read),
        cmocka_unit_test(the_test_event_has_no_records),
        cmocka_unit_test(bad_documents_name_what_is_wrong),
        cmocka_unit_test(limits_hold),
        cmocka_unit_test(form_decoding),
        cmocka_unit_test(sns_strings_to_sign_follow_the_guide),
        cmocka_unit_test(sns_signatures_verify_and_tampering_fails),
        cmocka_unit_test(sns_envelopes_that_are_wrong),
        cmocka_unit_test(sns_origins),
        cmocka_unit_test(the_secret_file_is_checked),
        cmocka_unit_test(the_secret_is_found_where_senders_put_it),
        cmocka_unit_test(the_shard_hash_is_fnv1a),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
