/*
 * sns.h — Amazon SNS messages to HTTP(S) subscribers: the JSON envelope, the string SNS
 * signs, the signature check, and where SNS may send us to (its signing certificate, its
 * subscription confirmation URL). Follows the AWS SNS Developer Guide, "Verifying the
 * signatures of Amazon SNS messages" and "Parsing message formats" (SignatureVersion 1:
 * RSA PKCS#1 v1.5 with SHA-1; 2: with SHA-256).
 *
 * What a verified message proves: SNS, holding the private key of a certificate served
 * from an allowed origin, sent it. It does not prove whose topic it came from: the caller
 * must also check TopicArn against its own list (events.sns_topics).
 *
 * Errors: SL_ERR_PARSE / SL_ERR_LIMIT naming the member, SL_ERR_CRYPTO when the
 * certificate cannot be read or the signature does not verify. Threading: pure.
 */
#ifndef SLUICE_EVENTS_SNS_H
#define SLUICE_EVENTS_SNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

#define SNS_MAX_BODY ((size_t)256 << 10)
#define SNS_MAX_CERT ((size_t)16 << 10)

typedef enum sns_type {
    SNS_NOTIFICATION,
    SNS_SUBSCRIPTION_CONFIRMATION,
    SNS_UNSUBSCRIBE_CONFIRMATION,
} sns_type;

typedef struct sns_message {
    sns_type type;
    char *message_id, *topic_arn, *message, *timestamp;
    char *subject;          /* Notification only, optional */
    char *token, *subscribe_url; /* (Un)SubscriptionConfirmation only */
    char *signing_cert_url;
    int signature_version;  /* 1 or 2 */
    uint8_t *signature;
    size_t signature_len;
    sl_buf string_to_sign;  /* built from the members, as SNS signs them */
} sns_message;

/* Parses an envelope (at most SNS_MAX_BODY bytes) and builds its string to sign. Every
 * member SNS signs must be there and be a string; Type decides which; unknown members are
 * ignored. On error *out is empty. */
SL_MUST_CHECK sl_result sns_message_parse(sl_cursor body, sns_message *out);

/* Checks the signature with the certificate (PEM, at most SNS_MAX_CERT bytes). */
SL_MUST_CHECK sl_result sns_message_verify(const sns_message *m, sl_cursor cert_pem);

/* Whether `url` is http(s)://host[:port]/... under one of `origins` ("https://sns.*.amazonaws.com":
 * same scheme, the same number of DNS labels with "*" matching any one label, the same
 * port — the scheme's default when none is written). A URL with user info, or whose host
 * is not a plain DNS name or IPv4 address, never matches. */
bool sns_origin_allowed(const char *url, const char *const *origins, size_t count);

void sns_message_clean_up(sns_message *m);

#endif /* SLUICE_EVENTS_SNS_H */
