/*
 * ops.h — the S3 operations sluice makes, named once, and what the client counts of
 * each.
 *
 * How the parts fit: S3_OP_LIST is the one list of operations. Its order gives the
 * stable enum s3_op; its names ("CopyObject", as in the S3 API Reference) are what logs
 * and metrics print. The client's table of operation descriptors (the HTTP method, the
 * sub-resource, the answer's document, how the result is delivered: client_impl.h) has
 * one row per entry, and the client keeps one s3_op_stats per entry: requests sent and
 * how each ended. The outcomes are S3_OUTCOME_LIST, with the names metrics use as label
 * values. Both lists are append-only: a number, once given, keeps its meaning.
 *
 * Adding an operation (an STS call, say): one line here, one row in the descriptor
 * table, and the builder in its own file (client_impl.h says how).
 *
 * Threading: pure functions and constants, safe on any thread.
 */
#ifndef SLUICE_S3_OPS_H
#define SLUICE_S3_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

/* X(ENUM, "Name"): every request the client can send. Append only. */
#define S3_OP_LIST(X)                                                   \
    X(S3_OP_LIST_OBJECTS_V2, "ListObjectsV2")                           \
    X(S3_OP_HEAD_OBJECT, "HeadObject")                                  \
    X(S3_OP_GET_OBJECT, "GetObject")                                    \
    X(S3_OP_PUT_OBJECT, "PutObject")                                    \
    X(S3_OP_COPY_OBJECT, "CopyObject")                                  \
    X(S3_OP_DELETE_OBJECT, "DeleteObject")                              \
    X(S3_OP_DELETE_OBJECTS, "DeleteObjects")                            \
    X(S3_OP_PUT_OBJECT_TAGGING, "PutObjectTagging")                     \
    X(S3_OP_GET_OBJECT_TAGGING, "GetObjectTagging")                     \
    X(S3_OP_GET_BUCKET_VERSIONING, "GetBucketVersioning")               \
    X(S3_OP_CREATE_MULTIPART_UPLOAD, "CreateMultipartUpload")           \
    X(S3_OP_UPLOAD_PART_COPY, "UploadPartCopy")                         \
    X(S3_OP_COMPLETE_MULTIPART_UPLOAD, "CompleteMultipartUpload")       \
    X(S3_OP_ABORT_MULTIPART_UPLOAD, "AbortMultipartUpload")           \
    X(S3_OP_LIST_OBJECT_VERSIONS, "ListObjectVersions")

#define S3_OP_ENUM_(e, name) e,
typedef enum s3_op { S3_OP_LIST(S3_OP_ENUM_) S3_OP_COUNT } s3_op;
#undef S3_OP_ENUM_

/* X(ENUM, "name"): how one request (one attempt) ended. Append only. */
#define S3_OUTCOME_LIST(X)                                                                   \
    X(S3_OUTCOME_OK, "ok")                     /* a 2xx answer, read in full */             \
    X(S3_OUTCOME_CLIENT_ERROR, "client_error") /* a 4xx answer (412, 404, 403, …) */        \
    X(S3_OUTCOME_SERVER_ERROR, "server_error") /* a 5xx answer, or a 2xx with <Error> */    \
    X(S3_OUTCOME_CONNECTION, "connection")     /* no complete answer: refused, reset, cut */ \
    X(S3_OUTCOME_TIMEOUT, "timeout")           /* no answer in time */                      \
    X(S3_OUTCOME_MALFORMED, "malformed")       /* an answer that could not be read */       \
    X(S3_OUTCOME_CANCELLED, "cancelled")       /* stopped by the caller or a shutdown */

#define S3_OUTCOME_ENUM_(e, name) e,
typedef enum s3_outcome { S3_OUTCOME_LIST(S3_OUTCOME_ENUM_) S3_OUTCOME_COUNT } s3_outcome;
#undef S3_OUTCOME_ENUM_

/* What the client counted for one operation since it was created. */
typedef struct s3_op_stats {
    uint64_t requests;                    /* requests sent (every attempt counts) */
    uint64_t outcomes[S3_OUTCOME_COUNT];  /* requests ended, by outcome */
    uint64_t retries;                     /* requests whose failure was retried */
    uint64_t completed;                   /* operations whose callback ran */
    uint64_t failed;                      /* … of those, the ones that ended in an error */
} s3_op_stats;

/* "CopyObject"; "?" for a value outside the enum. */
const char *s3_op_name(s3_op kind);

/* The operation named exactly `name` (as s3_op_name spells it). */
bool s3_op_from_name(sl_cursor name, s3_op *out);

/* "client_error"; "?" for a value outside the enum. */
const char *s3_outcome_name(s3_outcome outcome);

#endif /* SLUICE_S3_OPS_H */
