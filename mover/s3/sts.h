/*
 * sts.h — STS AssumeRole (the query API of the AWS Security Token Service, as AWS and
 * radosgw serve it): the request, and the parser of its XML answer.
 *
 * The request (AWS STS API Reference, "AssumeRole"; "Common Parameters") is a POST of
 * an application/x-www-form-urlencoded body
 *   Action=AssumeRole&Version=2011-06-15&RoleArn=…&RoleSessionName=…
 *   [&Policy=…][&DurationSeconds=…][&SourceIdentity=…]
 * to the STS endpoint's root, signed with SigV4 for the service "sts" by the caller's
 * own long-lived identity (s3/control.h sends it, retries it and reads the answer).
 *
 * The answer, parsed by sts_parse_assume_role in the manner of xml.h (expat, a table
 * of the elements it knows, unknown elements skipped, DOCTYPEs and entity declarations
 * refused, every known field at most once, values and documents capped):
 *   success  <AssumeRoleResponse><AssumeRoleResult>
 *              <Credentials><AccessKeyId/><SecretAccessKey/><SessionToken/><Expiration/></Credentials>
 *              <AssumedRoleUser><Arn/><AssumedRoleId/></AssumedRoleUser>   (radosgw 16: <AssumeRoleId>)
 *              <PackedPolicySize/><SourceIdentity/>
 *            </AssumeRoleResult><ResponseMetadata><RequestId/></ResponseMetadata></AssumeRoleResponse>
 *   AWS error      <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>
 *   radosgw error  <Error><Code/><Message/><RequestId/></Error>   (S3's error format)
 * The four credential fields are required and non-empty; Expiration is an ISO 8601 UTC
 * time (AWS: seconds, radosgw: nanoseconds), kept as Unix milliseconds (rounded down).
 *
 * Secrets: the secret key and the session token are wiped when a result is cleaned up;
 * they never appear in an error detail.
 * Threading: the parser is a pure function; sts_assume_role belongs to the control
 * engine's loop thread (s3/control.h), its completion runs there asynchronously, once.
 */
#ifndef SLUICE_S3_STS_H
#define SLUICE_S3_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3/control.h"
#include "s3/xml.h"
#include "util/buf.h"
#include "util/error.h"

#define STS_MAX_DOCUMENT ((size_t)64 * 1024)  /* bytes of one answer */
#define STS_MAX_VALUE ((size_t)16 * 1024)     /* bytes of one value (AWS tokens run to a few KB) */
#define STS_MIN_DURATION_S 900u               /* AWS and radosgw refuse shorter sessions */
#define STS_MAX_DURATION_S 43200u             /* 12 hours: the most any role allows */
#define STS_MAX_SESSION_NAME 64               /* RoleSessionName: 2..64 of [\w+=,.@-] */
#define STS_MAX_POLICY 2048                   /* bytes of an inline session policy (AWS) */

typedef struct sts_assume_role_params {
    const char *role_arn;        /* required */
    const char *session_name;    /* required: 2..64 characters of [A-Za-z0-9_+=,.@-] */
    const char *policy;          /* optional inline session policy (JSON), at most STS_MAX_POLICY bytes */
    uint32_t duration_seconds;   /* 0 = the server's default (3600); else 900..43200 */
    const char *source_identity; /* optional: sent as SourceIdentity (AWS; radosgw 16 ignores it) */
} sts_assume_role_params;

typedef struct sts_credentials {
    sl_buf access_key_id;
    sl_buf secret_access_key; /* secret */
    sl_buf session_token;     /* secret */
    int64_t expiration_ms;    /* Unix ms */
    sl_buf assumed_role_arn;  /* arn:aws:sts::<account>:assumed-role/<role>/<session>; may be empty */
    sl_buf assumed_role_id;   /* <role id>:<session>; may be empty */
    sl_buf source_identity;   /* as echoed; may be empty */
    bool has_packed_policy_size;
    uint64_t packed_policy_size;
    sl_buf request_id;
} sts_credentials;

/* Wipes the secrets, frees everything and zeroes *c; NULL and zeroed are fine. */
void sts_credentials_clean_up(sts_credentials *c);

/* Parses one whole AssumeRole answer. Outcomes:
 *   SL_SUCCESS, *is_error false: *out holds the credentials (error untouched);
 *   SL_SUCCESS, *is_error true:  the answer is an STS or S3 error document; *error
 *                                holds its code (Code, Message, RequestId; code is
 *                                s3_error_code_from_name of Code), *out is zeroed;
 *   failure:  SL_ERR_PARSE (not XML, an unexpected root, a DOCTYPE or entity
 *             declaration, a known field twice, a required field missing or empty, an
 *             Expiration that is not a time, a PackedPolicySize that is not a number),
 *             SL_ERR_LIMIT (over STS_MAX_DOCUMENT or STS_MAX_VALUE, nested deeper than
 *             16); *out and *error are zeroed and the detail never holds a secret.
 * *out and *error are overwritten, not cleaned up first. */
SL_MUST_CHECK sl_result sts_parse_assume_role(const void *bytes, size_t len, sts_credentials *out, s3_error *error,
                                              bool *is_error);

/* Checks the parameters (role ARN present, session name rule, policy size, duration
 * range) and appends the urlencoded form body. SL_ERR_INVALID_ARGUMENT naming the
 * parameter; on error *out is unchanged. */
SL_MUST_CHECK sl_result sts_assume_role_body(const sts_assume_role_params *params, sl_buf *out);

/* On success (result->error SL_OK) `credentials` holds them (valid during the call; the
 * callee may copy what it needs). Otherwise `credentials` is NULL and result says why:
 * SL_ERR_S3 with the STS code in code_text ("AccessDenied", "NoSuchEntity",
 * "InvalidArgument", "ValidationError", …) and message, a transport error, or
 * SL_ERR_PARSE for an answer that is neither credentials nor an error. */
typedef void sts_assume_role_fn(void *user, const s3_result *result, const sts_credentials *credentials);

/* Sends AssumeRole through `control` (whose credentials are the caller's identity and
 * whose endpoint is the STS endpoint). Errors (no callback): the parameters
 * (sts_assume_role_body), the control client shutting down (SL_ERR_STATE). */
SL_MUST_CHECK sl_result sts_assume_role(s3_control *control, const sts_assume_role_params *params,
                                        sts_assume_role_fn *done, void *user);

#endif /* SLUICE_S3_STS_H */
