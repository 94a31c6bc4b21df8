/*
 * client.h — the asynchronous S3 client every stage of sluice talks through.
 *
 * How the parts fit: an operation (s3_list_objects_v2, s3_get_object, …; each named in
 * ops.h and described by one row of the client's operation table) builds a request,
 * signs it with SigV4 (sigv4.h) at the moment of each attempt, hands it to the HTTP
 * engine (http.h), parses the answer with the streaming XML parsers (xml.h), and
 * retries idempotent requests by the retry policy (retry.h) after a full-jitter
 * backoff on a libuv timer. The client counts requests and outcomes per operation
 * (s3_client_op_stats). The caller gets one completion callback with a typed
 * result: s3_result says what happened (transport error, S3 error code, HTTP status,
 * attempts) and the operation's own result struct carries the data.
 *
 * Addressing: path style (http://host/bucket/key, the local radosgw) or virtual-hosted
 * (https://bucket.host/key). Keys are given as raw bytes (sl_cursor) and must be valid
 * UTF-8; the signer encodes them once, exactly as S3 wants.
 *
 * Threading: everything runs on the loop's thread; callbacks are always asynchronous
 * and run exactly once for every operation that was accepted (returned SL_SUCCESS).
 * When an operation call fails, its callback never runs.
 *
 * Ownership: the client copies every input of an operation call (keys, bodies,
 * metadata); results passed to callbacks are valid only during the callback.
 */
#ifndef SLUICE_S3_CLIENT_H
#define SLUICE_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "s3/credentials.h"
#include "s3/http.h"
#include "s3/ops.h"
#include "s3/retry.h"
#include "s3/xml.h"
#include "util/buf.h"
#include "util/error.h"

typedef struct s3_client s3_client;

typedef enum s3_addressing {
    S3_ADDRESSING_PATH = 0, /* scheme://host/bucket/key */
    S3_ADDRESSING_VIRTUAL,  /* scheme://bucket.host/key */
} s3_addressing;

typedef struct s3_client_config {
    const char *endpoint;              /* "http://127.0.0.1:7480", "https://s3.eu-west-1.amazonaws.com" */
    const char *region;                /* "us-east-1" */
    s3_addressing addressing;
    const s3_credentials *credentials; /* copied */
    s3_http_options http;              /* s3_http_options_default() */
    s3_retry_policy retry;             /* s3_retry_policy_default() */
    /* s3_copy_object_sized: objects of at least multipart_threshold bytes are copied in
     * parts of multipart_part_size (5 MiB .. 5 GiB), parallel_parts at a time. Zero
     * means the default: 5 GiB (the limit of a single CopyObject), 512 MiB, 4. */
    uint64_t multipart_threshold;
    uint64_t multipart_part_size;
    unsigned parallel_parts;
} s3_client_config;

/* The outcome every operation reports. Strings are valid during the callback only. */
typedef struct s3_result {
    sl_error error;          /* SL_OK; SL_ERR_S3 when S3 answered with an error; a transport
                                error (SL_ERR_CONNECTION, SL_ERR_TIMEOUT, …); SL_ERR_PARSE for
                                a malformed answer; SL_ERR_CANCELLED */
    long status;             /* the last attempt's HTTP status, 0 without one */
    s3_error_code code;      /* with SL_ERR_S3: the S3 error code (S3_ERROR_UNKNOWN if unlisted
                                or if the body had none, e.g. a HEAD's 404) */
    const char *code_text;   /* "NoSuchKey", or "" */
    const char *message;     /* S3's <Message>, or "" */
    const char *request_id;  /* x-amz-request-id, or "" */
    const char *detail;      /* one line for people: what failed, where */
    unsigned attempts;       /* tries made, >= 1 (a multipart copy: its requests in all) */
    s3_op op;                /* the operation (a multipart copy: the step that failed, or
                                S3_OP_COPY_OBJECT when it succeeded) */
    /* The request failed but may have taken effect at the server all the same: this
     * attempt or an earlier one ended without the server's answer (a timeout, a reset
     * after sending, a cut or malformed answer), with a 5xx other than 503 SlowDown /
     * ServiceUnavailable, or with a late error (a 200 whose body is an <Error>). A
     * multipart copy is indefinite when its CompleteMultipartUpload was sent and not
     * refused outright (only that step writes the destination). A caller resolves such an
     * outcome by looking (HEAD, GET), never by assuming it failed. Always false on success
     * and for a refusal (4xx) that no earlier attempt could have caused. */
    bool indefinite;
} s3_result;

/* Response metadata of HEAD, GET, PUT and copy. */
typedef struct s3_object_info {
    sl_cursor etag;          /* always in the quoted form "…" (radosgw's copy results send
                                it bare; the client adds the quotes so ETags compare) */
    uint64_t size;           /* Content-Length of the object (HEAD/GET) */
    bool has_size;
    sl_cursor content_type;
    sl_cursor last_modified;
    sl_cursor version_id;    /* empty when the bucket is not versioned */
    const sl_cursor *metadata; /* user metadata: name (without x-amz-meta-), value, … pairs:
                                every x-amz-meta-* header of the answer */
    size_t metadata_count;   /* number of pairs */
    bool metadata_truncated; /* the answer had more than 4096 pairs or 256 KiB of them: the
                                rest were dropped and `metadata` is not the whole set */
} s3_object_info;

/* ---- client ---- */

/* Creates a client on `loop`. Errors: an endpoint that is not http(s)://host[:port]
 * without path, query or user info; empty region; bad HTTP options. */
SL_MUST_CHECK sl_result s3_client_new(uv_loop_t *loop, const s3_client_config *config, s3_client **out);

/* Cancels every operation (callbacks run with SL_ERR_CANCELLED before it returns) and
 * frees the client once its handles are closed: keep running the loop. NULL is fine.
 * It may be called from an operation's completion callback, not from a GET's header
 * or chunk callback. */
void s3_client_destroy(s3_client *client);

/* Requests sent so far (every attempt counts: the S3 budget of a pipeline step). */
uint64_t s3_client_request_count(const s3_client *client);

/* Requests made from now until the next call (and the steps of a multipart copy made
 * now) start no retry at or after `not_after_ms`, a monotonic time in ms
 * (uv_hrtime() / 1e6); 0: none. A request whose retries are cut by it ends with its
 * last attempt's failure; an attempt that would go on the wire at or after it is not sent
 * (SL_ERR_DEADLINE, not indefinite). For work that is only this process's until then (a shard's
 * lease, docs/scaling.md): the pipeline sets it around each row's request. */
void s3_client_set_deadline(s3_client *client, uint64_t not_after_ms);

/* What the client counted for one operation (ops.h) since it was created: requests,
 * their outcomes, retries, completed and failed operations. Loop thread only; an
 * operation outside the enum gives zeros. */
void s3_client_op_stats(const s3_client *client, s3_op kind, s3_op_stats *out);

/* ---- ListObjectsV2 ---- */

typedef struct s3_list_params {
    sl_cursor prefix;             /* may be empty */
    sl_cursor delimiter;          /* may be empty */
    sl_cursor continuation_token; /* from the previous page, or empty */
    sl_cursor start_after;        /* may be empty */
    uint32_t max_keys;            /* 0 = the server's default (1000) */
} s3_list_params;

/* The page; `list` is NULL unless result->error is SL_OK. Keys are decoded (the client
 * always asks for encoding-type=url, so any key survives the XML). */
typedef void s3_list_fn(void *user, const s3_result *result, const s3_list_result *list);

SL_MUST_CHECK sl_result s3_list_objects_v2(s3_client *client, sl_cursor bucket, const s3_list_params *params,
                                           s3_list_fn *done, void *user);

/* ---- ListObjectVersions ---- */

typedef struct s3_list_versions_params {
    sl_cursor prefix;            /* may be empty */
    sl_cursor key_marker;        /* page on after this key ... */
    sl_cursor version_id_marker; /* ... and this version of it (needs key_marker) */
    uint32_t max_keys;           /* 0 = the server's default (1000) */
} s3_list_versions_params;

/* One page of versions and delete markers in key order (newest version first within a
 * key); `list` is NULL unless result->error is SL_OK. Keys are decoded (encoding-type=url
 * is always asked for). The next page starts after the page's last entry: pass its key
 * and version id as the markers. */
typedef void s3_list_versions_fn(void *user, const s3_result *result, const s3_list_versions_result *list);

SL_MUST_CHECK sl_result s3_list_object_versions(s3_client *client, sl_cursor bucket,
                                                const s3_list_versions_params *params, s3_list_versions_fn *done,
                                                void *user);

/* ---- HeadObject / GetObject ---- */

typedef void s3_object_fn(void *user, const s3_result *result, const s3_object_info *info);

/* `if_match` (optional, may be empty): the ETag the object must have (412 otherwise). */
SL_MUST_CHECK sl_result s3_head_object(s3_client *client, sl_cursor bucket, sl_cursor key, sl_cursor if_match,
                                       s3_object_fn *done, void *user);
/* The same for one version of a key (version_id may be empty: the current one). */
SL_MUST_CHECK sl_result s3_head_object_version(s3_client *client, sl_cursor bucket, sl_cursor key,
                                               sl_cursor version_id, sl_cursor if_match, s3_object_fn *done,
                                               void *user);

typedef struct s3_get_object s3_get_object; /* a streamed GET in progress */

typedef struct s3_get_params {
    sl_cursor if_match;          /* optional ETag condition */
    sl_cursor version_id;        /* optional: that version of the key */
    bool has_range;              /* bytes=range_first-range_last (inclusive) */
    uint64_t range_first;
    uint64_t range_last;
} s3_get_params;

/* Called once for a successful (2xx) answer, with its headers (user metadata included),
 * before the first body chunk — or, for an empty body, just before `done`. */
typedef void s3_get_headers_fn(void *user, const s3_object_info *info);

/* GetObject streamed to `on_chunk` (the body's bytes in order; the chunk is only valid
 * during the call). Backpressure: return S3_HTTP_BODY_PAUSE to refuse a chunk — it is
 * delivered again after s3_get_object_resume — or S3_HTTP_BODY_ABORT to stop (the
 * operation then ends with SL_ERR_CANCELLED). `done` runs once at the end; a stream cut
 * short is an error (SL_ERR_CONNECTION or SL_ERR_PARSE for a length mismatch), never a
 * complete object. A GET is retried only while no body byte was delivered. */
SL_MUST_CHECK sl_result s3_get_object_stream(s3_client *client, sl_cursor bucket, sl_cursor key,
                                             const s3_get_params *params, s3_get_headers_fn *on_headers,
                                             s3_http_body_fn *on_chunk, s3_object_fn *done, void *user,
                                             s3_get_object **out);

/* Resumes a GET paused by its chunk callback. May deliver chunks before it returns. */
void s3_get_object_resume(s3_get_object *get);

/* ---- PutObject ---- */

typedef struct s3_put_params {
    sl_cursor content_type;      /* optional */
    bool if_none_match_any;      /* If-None-Match: * — create only */
    sl_cursor if_match;          /* optional ETag the current object must have */
    const sl_cursor *metadata;   /* user metadata pairs: name, value, name, value… */
    size_t metadata_count;       /* number of pairs */
    sl_cursor tagging;           /* optional, URL-query form "k1=v1&k2=v2" */
} s3_put_params;

/* PUT of `body` (copied), retried like every idempotent request. With
 * if_none_match_any, a retry after a lost answer can meet its own first write and report
 * PreconditionFailed: a caller that must tell its own write from someone else's compares
 * ETags (HEAD the key). */
SL_MUST_CHECK sl_result s3_put_object(s3_client *client, sl_cursor bucket, sl_cursor key, sl_cursor body,
                                      const s3_put_params *params, s3_object_fn *done, void *user);

/* ---- CopyObject ---- */

typedef struct s3_copy_params {
    sl_cursor source_if_match;   /* ETag the source must have; sent as the standard
                                    x-amz-copy-source-if-match and radosgw's x-amz-copy-if-match */
    sl_cursor source_version_id; /* optional */
    bool replace_metadata;       /* MetadataDirective REPLACE (with metadata below) */
    const sl_cursor *metadata;   /* pairs, as for PUT */
    size_t metadata_count;
    sl_cursor content_type;      /* with replace_metadata */
    bool replace_tagging;        /* TaggingDirective REPLACE with `tagging` */
    sl_cursor tagging;
    bool if_none_match_any;      /* destination must not exist (where the server honours it) */
} s3_copy_params;

/* Server-side copy; info->etag is the new object's ETag from <CopyObjectResult>.
 * A 200 answer carrying an <Error> is reported as that error. */
SL_MUST_CHECK sl_result s3_copy_object(s3_client *client, sl_cursor src_bucket, sl_cursor src_key,
                                       sl_cursor dst_bucket, sl_cursor dst_key, const s3_copy_params *params,
                                       s3_object_fn *done, void *user);

/* ---- DeleteObject ---- */

typedef void s3_done_fn(void *user, const s3_result *result);

/* Deletes one key (or one version when version_id is non-empty). Deleting a key that
 * does not exist succeeds, as in S3. */
SL_MUST_CHECK sl_result s3_delete_object(s3_client *client, sl_cursor bucket, sl_cursor key,
                                         sl_cursor version_id, s3_done_fn *done, void *user);
/* The same with `If-Match: if_match` (may be empty): a server that honours it (AWS S3
 * since 2024, current Ceph) refuses with 412 when the key holds other bytes now;
 * radosgw 16 ignores it and deletes (the pipeline probes which at start-up). */
SL_MUST_CHECK sl_result s3_delete_object_if_match(s3_client *client, sl_cursor bucket, sl_cursor key,
                                                  sl_cursor version_id, sl_cursor if_match, s3_done_fn *done,
                                                  void *user);

/* ---- DeleteObjects ---- */

/* `deleted` is NULL unless result->error is SL_OK; even then, per-key failures are in
 * deleted->errors (in quiet mode S3 lists only those). */
typedef void s3_delete_objects_fn(void *user, const s3_result *result, const s3_delete_result *deleted);

/* Deletes 1..1000 keys in one request (with the Content-MD5 S3 requires). */
SL_MUST_CHECK sl_result s3_delete_objects(s3_client *client, sl_cursor bucket, const s3_object_ref *objects,
                                          size_t count, bool quiet, s3_delete_objects_fn *done, void *user);

/* ---- object tagging ---- */

SL_MUST_CHECK sl_result s3_put_object_tagging(s3_client *client, sl_cursor bucket, sl_cursor key,
                                              const s3_tag_ref *tags, size_t count, s3_done_fn *done, void *user);

typedef void s3_tagging_fn(void *user, const s3_result *result, const s3_tagging *tagging);

SL_MUST_CHECK sl_result s3_get_object_tagging(s3_client *client, sl_cursor bucket, sl_cursor key,
                                              s3_tagging_fn *done, void *user);

/* ---- bucket versioning ---- */

typedef void s3_versioning_fn(void *user, const s3_result *result, const s3_versioning *versioning);

SL_MUST_CHECK sl_result s3_get_bucket_versioning(s3_client *client, sl_cursor bucket, s3_versioning_fn *done,
                                                 void *user);

/* ---- copy of any size ---- */

/* Copies an object of `size` bytes (known from a listing): a single CopyObject below
 * the client's multipart threshold, else a multipart copy — HEAD of the source with
 * the source_if_match condition (its size must be `size`; it supplies the content type
 * and metadata unless replace_metadata), CreateMultipartUpload, UploadPartCopy of each
 * byte range with the same source condition on every part, a second HEAD of the source
 * with the condition once all parts are in (radosgw 16 ignores the condition on
 * UploadPartCopy, so a source changed mid-copy is caught here), CompleteMultipartUpload,
 * and a HEAD of the
 * result for its ETag (radosgw's Complete returns none) and size. Any failure after
 * the upload was created aborts it (AbortMultipartUpload) before `done` runs, so no
 * parts are left behind; a size that does not match `size` is SL_ERR_STATE.
 * result->attempts counts the requests of the whole copy. */
SL_MUST_CHECK sl_result s3_copy_object_sized(s3_client *client, sl_cursor src_bucket, sl_cursor src_key,
                                             uint64_t size, sl_cursor dst_bucket, sl_cursor dst_key,
                                             const s3_copy_params *params, s3_object_fn *done, void *user);

/* ---- presigned GET ---- */

/* A presigned GET URL of bucket/key valid for expires_seconds (1..604800), signed with
 * the client's credentials (for the review hook and reviewers' downloads: the URL is a
 * read capability for that one object until it expires — hand it out with care). */
SL_MUST_CHECK sl_result s3_client_presign_get(s3_client *client, sl_cursor bucket, sl_cursor key,
                                              uint32_t expires_seconds, sl_buf *url);

#endif /* SLUICE_S3_CLIENT_H */
