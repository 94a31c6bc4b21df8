/*
 * control.h — control-plane requests: small signed requests outside the object data
 * path, each answered with a small body that is read whole (at most
 * S3_CONTROL_MAX_BODY bytes). Two families go through it: the bucket settings the
 * policy check reads (GetBucketPolicy, GetBucketVersioning) and the STS query API
 * (s3/sts.h builds AssumeRole on s3_control_request).
 *
 * How the parts fit: an s3_control owns its own HTTP engine (http.h) and SigV4 key
 * cache, apart from the object client of client.h, so that a slow or failing control
 * call never takes a slot from the pipeline's requests. A request is copied in once;
 * each attempt is signed afresh (service "s3" or "sts", SigV4 with the payload's
 * SHA-256) and retried by the retry policy (retry.h) after a full-jitter backoff, like
 * the object client's idempotent requests — every request made here is idempotent
 * (reads, and AssumeRole, which only hands out another session). The answer's status,
 * x-amz-request-id and body are handed to the caller's completion; a non-2xx answer
 * with an S3 <Error> body is turned into the s3_result fields as the object client
 * does (other error formats — STS's <ErrorResponse> — are the caller's to parse from
 * the body).
 *
 * Threading: the loop's thread only; completions always run asynchronously, exactly
 * once for every call that returned SL_SUCCESS (never for one that failed).
 * s3_control_destroy completes every request still running with SL_ERR_CANCELLED
 * before it returns. Ownership: every input is copied; the body and the result's
 * strings are valid during the completion only.
 */
#ifndef SLUICE_S3_CONTROL_H
#define SLUICE_S3_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "s3/client.h"
#include "s3/credentials.h"
#include "s3/http.h"
#include "s3/retry.h"
#include "s3/xml.h"
#include "util/buf.h"
#include "util/error.h"

/* The largest response body read (policies are at most 20 KB, STS answers a few KB). */
#define S3_CONTROL_MAX_BODY ((size_t)256 * 1024)

typedef struct s3_control s3_control;

typedef struct s3_control_config {
    const char *endpoint;              /* http(s)://host[:port], no path */
    const char *region;
    s3_addressing addressing;          /* for bucket requests */
    const s3_credentials *credentials; /* copied */
    s3_http_options http;              /* s3_http_options_default() */
    s3_retry_policy retry;             /* s3_retry_policy_default() */
} s3_control_config;

/* Errors: an endpoint that is not http(s)://host[:port] (no path, query or user info),
 * an empty region, no credentials, bad HTTP options. */
SL_MUST_CHECK sl_result s3_control_new(uv_loop_t *loop, const s3_control_config *config, s3_control **out);

/* Cancels every request (completions run with SL_ERR_CANCELLED before it returns) and
 * frees the engine once its handles are closed: keep running the loop. NULL is fine.
 * Not from inside a completion of this engine. */
void s3_control_destroy(s3_control *control);

/* Requests sent so far (every attempt counts). */
uint64_t s3_control_request_count(const s3_control *control);

/* ---- the generic request (for s3/sts.c) ---- */

typedef struct s3_control_spec {
    const char *service;          /* "s3", "sts" */
    const char *method;           /* "GET", "POST" */
    sl_cursor bucket;             /* empty: the endpoint's root "/" */
    const char *const *query;     /* raw name, value, name, value…; query_count pairs */
    size_t query_count;
    const char *content_type;     /* NULL: none */
    sl_cursor body;               /* copied; may be empty */
} s3_control_spec;

/* `body` is the whole response body (also for errors); empty for a transport error. */
typedef void s3_control_fn(void *user, const s3_result *result, sl_cursor body);

SL_MUST_CHECK sl_result s3_control_request(s3_control *control, const s3_control_spec *spec, s3_control_fn *done,
                                           void *user);

/* ---- bucket settings ---- */

/* `policy` is the bucket policy document as S3 returned it (JSON text, not checked
 * here); empty unless result->error is SL_OK. A bucket without a policy answers 404
 * with code_text "NoSuchBucketPolicy" (result->error SL_ERR_S3). */
typedef void s3_bucket_policy_fn(void *user, const s3_result *result, sl_cursor policy);

SL_MUST_CHECK sl_result s3_control_get_bucket_policy(s3_control *control, sl_cursor bucket,
                                                     s3_bucket_policy_fn *done, void *user);

/* GetBucketVersioning with the streaming parser of xml.h; `versioning` is NULL unless
 * result->error is SL_OK. A malformed answer is SL_ERR_PARSE. */
SL_MUST_CHECK sl_result s3_control_get_bucket_versioning(s3_control *control, sl_cursor bucket,
                                                         s3_versioning_fn *done, void *user);

#endif /* SLUICE_S3_CONTROL_H */
