/*
 * client_impl.h — the S3 client's private parts, shared by its three files:
 *
 *   client.c          the request engine: the client, the life of an `op` (one S3
 *                     request and its retries), signing and submitting each attempt,
 *                     reading the answer, the retry timer, the per-operation counters;
 *   requests.c        the table of operation descriptors (one row per s3_op of ops.h)
 *                     and the builders behind client.h's operations;
 *   multipart_copy.c  s3_copy_object_sized: a state machine over internal ops.
 *
 * The engine knows no operation: it reads the row each op carries. An operation is
 * built in three steps: op_new (the row's method and sub-resource, the
 * bucket and key), then the builder adds its query parameters, headers and body, then
 * op_launch signs and sends the first attempt. From then on the engine owns it: each
 * attempt is signed afresh, the answer's headers land in the op's response fields, a
 * 2xx body in the row's XML parser (or the GET caller's chunk callback), and when the
 * op completes the row's `deliver` hands the typed result to the caller — or, for the
 * steps of a larger operation, `on_internal` does. A new operation (an STS call, for
 * instance, in its own file) needs a line in ops.h, a row in the table in requests.c
 * (with its SigV4 service and OP_ENDPOINT when it is not addressed to a bucket), an
 * XML document kind in xml.h if it reads one, and a builder calling these functions.
 *
 * Strings of an op live in two arenas: `request` (bucket, key, query and header names
 * and values; filled by the builder, read by every attempt) and `response` (the
 * answer's headers; emptied at each attempt). Both are referred to by spans (offsets),
 * so an arena can grow without invalidating anything.
 *
 * Threading: everything here runs on the client's loop thread.
 */
#ifndef SLUICE_S3_CLIENT_IMPL_H
#define SLUICE_S3_CLIENT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "s3/client.h"
#include "s3/sigv4.h"

#define OP_MAX_PAIRS 32 /* request headers and query parameters */
/* Response user metadata is kept whole (every x-amz-meta-* header counts: the metadata
 * check must see them all) up to these bounds; past them the rest is dropped and the
 * info says so (metadata_truncated), so a check can refuse what it could not count. */
#define OP_MAX_META_PAIRS 4096
#define OP_MAX_META_BYTES ((size_t)256 * 1024)
#define OP_MAX_ERROR_BODY ((size_t)64 * 1024)
#define OP_MIB ((uint64_t)1024 * 1024)
#define OP_MAX_SINGLE_COPY (5 * 1024 * OP_MIB)

/* ---- the table of operation descriptors ---- */

/* A 2xx answer without a document to parse. */
#define OP_NO_DOCUMENT S3_XML_DOC_COUNT

enum op_flags {
    OP_OBJECT = 1u << 0,      /* addresses an object: the key is required */
    OP_OBJECT_SIZE = 1u << 1, /* the answer's Content-Length is the object's size (HEAD, GET) */
    OP_STREAM = 1u << 2,      /* the 2xx body goes to the caller's chunk callback (GET) */
    OP_CONTENT_MD5 = 1u << 3, /* send Content-MD5 of the body (S3 requires it) */
    OP_XML_BODY = 1u << 4,    /* the body is XML: Content-Type application/xml */
    OP_ENDPOINT = 1u << 5,    /* addressed to the endpoint itself, not to a bucket */
};

typedef struct op op;

/* Hands a completed op's result to its public caller. */
typedef void op_deliver_fn(op *o, const s3_result *result);
/* Completion of an op that is one step of a larger operation (multipart copy). */
typedef void op_internal_fn(void *user, const s3_result *result, op *o);

typedef struct op_desc {
    s3_op kind;              /* the row's own index */
    const char *method;      /* "GET", "PUT", … */
    const char *subresource; /* a query parameter sent without value ("tagging"), or NULL */
    const char *service;     /* SigV4 service; NULL is "s3" */
    s3_xml_doc document;     /* what a 2xx body holds, or OP_NO_DOCUMENT */
    unsigned flags;          /* enum op_flags */
    op_deliver_fn *deliver;  /* NULL for steps that are only ever internal */
} op_desc;

/* One row per s3_op, in the order of S3_OP_LIST (requests.c). */
extern const op_desc s3_op_table[S3_OP_COUNT];

/* ---- an op ---- */

typedef struct op_span {
    uint32_t at, len;
} op_span;

typedef struct op_pair {
    op_span name, value;
} op_pair;

typedef struct op_pairs {
    op_pair items[OP_MAX_PAIRS];
    uint32_t count;
} op_pairs;

/* The answer's user metadata, in the response arena. */
typedef struct op_metadata {
    op_pair *items;
    uint32_t count, capacity;
    size_t bytes;    /* names + values of the pairs kept */
    bool truncated;  /* past OP_MAX_META_PAIRS / OP_MAX_META_BYTES: some dropped */
    sl_cursor *view; /* op_fill_info's cursors over them */
} op_metadata;

struct op {
    s3_client *client;
    s3_op kind;
    const op_desc *desc;
    sl_buf request; /* arena: bucket, key, query, headers */
    op_span bucket, key;
    op_pairs query;   /* raw names and values; the signer encodes them */
    op_pairs headers; /* signed, besides Host */
    sl_buf body;

    /* per attempt */
    unsigned attempt;
    s3_http_request *http_req;
    s3_xml_parser *parser;
    sl_result parse_result;
    char parse_detail[256]; /* why the XML was refused, kept from the moment it was */
    sl_buf error_body;
    sl_buf response; /* arena: the answer's headers below */
    op_span etag, content_type, last_modified, version_id, request_id;
    op_metadata metadata; /* x-amz-meta-* (names without the prefix) */
    uint64_t content_length;
    bool has_content_length;
    bool headers_delivered;
    uint64_t delivered;

    uv_timer_t *retry_timer;
    uint64_t started_ms; /* the first attempt began (loop time), for the retry budget */
    uint64_t not_after_ms; /* no retry starts at or after this monotonic time (ms); 0: none */
    bool maybe_applied;  /* an earlier attempt may have taken effect (result.indefinite) */

    /* the caller */
    void *user;
    union {
        s3_list_fn *list;
        s3_object_fn *object;
        s3_done_fn *done;
        s3_delete_objects_fn *delete_objects;
        s3_tagging_fn *tagging;
        s3_versioning_fn *versioning;
        s3_list_versions_fn *list_versions;
        void (*any)(void); /* an operation of another file casts its own type back */
    } on;
    s3_get_headers_fn *on_get_headers; /* GET */
    s3_http_body_fn *on_chunk;         /* GET */
    op_internal_fn *on_internal;
    unsigned part_number; /* UploadPartCopy */

    struct op *prev, *next;
    bool linked; /* in client->ops */
};

struct s3_client {
    uv_loop_t *loop;
    s3_http *http;
    s3_credentials credentials;
    char *region;
    char *scheme;
    char *host; /* host[:port] as the Host header carries it */
    s3_addressing addressing;
    s3_retry_policy retry;
    uint64_t not_after_ms;             /* s3_client_set_deadline: given to the ops made now */
    uint64_t multipart_threshold;
    uint64_t multipart_part_size;
    unsigned parallel_parts;
    sigv4_key_cache *keys;
    uint64_t requests;
    s3_op_stats stats[S3_OP_COUNT];
    sl_buf scratch_host, scratch_path, scratch_url, scratch_lines; /* one attempt's, reused */
    op *ops; /* live operations */
    bool destroying;
};

/* ---- the engine (client.c) ---- */

/* A new op for the operation `desc` (a row of s3_op_table) addressed to bucket/key
 * (key may be empty), linked into the client; the row's sub-resource is its first
 * query parameter. NULL on error. */
op *op_new(s3_client *client, const op_desc *desc, sl_cursor bucket, sl_cursor key);

/* Frees an op that was never launched, or one whose launch failed. */
void op_free(op *o);

/* Adds a raw query parameter or a header (copied). SL_ERR_LIMIT past OP_MAX_PAIRS. */
SL_MUST_CHECK sl_result op_add_query(op *o, sl_cursor name, sl_cursor value);
SL_MUST_CHECK sl_result op_add_header(op *o, sl_cursor name, sl_cursor value);
/* A header named prefix + name ("x-amz-meta-" + "sluice-task"). */
SL_MUST_CHECK sl_result op_add_header_prefixed(op *o, const char *prefix, sl_cursor name, sl_cursor value);

/* Completes the request from the row (Content-MD5, Content-Type of an XML body) and
 * starts its first attempt. On error the op is freed and no callback ever runs. */
SL_MUST_CHECK sl_result op_launch(op *o);

/* Starts an attempt of an op whose first attempt has not run yet, without freeing it
 * on error (for the multipart copy, which reports the error itself). */
SL_MUST_CHECK sl_result op_start(op *o);

/* Adds a name/value pair to `pairs`, its bytes to `arena` (SL_ERR_LIMIT past
 * OP_MAX_PAIRS); on error both are as they were. */
SL_MUST_CHECK sl_result op_pairs_add(sl_buf *arena, op_pairs *pairs, sl_cursor name, sl_cursor value);
sl_cursor op_arena_text(const sl_buf *arena, op_span span);

/* The bytes of a span of the op's request or response arena. */
sl_cursor op_request_text(const op *o, op_span span);
sl_cursor op_response_text(const op *o, op_span span);

/* The answer's headers as an s3_object_info (its metadata cursors live in the op, valid
 * until the op's next attempt or its end). */
void op_fill_info(op *o, s3_object_info *info);

/* The Host header and the unencoded path of a request to bucket/key (key may be empty)
 * in the client's addressing style, or to the endpoint itself. Appends to host, path. */
SL_MUST_CHECK sl_result s3_address(const s3_client *c, bool endpoint, sl_cursor bucket, sl_cursor key, sl_buf *host,
                                   sl_buf *path);

/* The x-amz-copy-source value of bucket/key (and a version): "/bucket/key?versionId=v",
 * percent-encoded. Appends to out. */
SL_MUST_CHECK sl_result s3_copy_source(sl_buf *out, sl_cursor bucket, sl_cursor key, sl_cursor version_id);

/* Bucket 1..255 bytes without "/"; key 1..1024 bytes when required. */
SL_MUST_CHECK sl_result s3_check_key(sl_cursor bucket, sl_cursor key, bool key_required);

/* Stores an ETag in its quoted form: radosgw's copy results carry it bare, every
 * header quoted, and callers compare the two. */
SL_MUST_CHECK sl_result s3_set_etag_quoted(sl_buf *out, sl_cursor etag);

#endif /* SLUICE_S3_CLIENT_IMPL_H */
