/*
 * xml.h — S3's XML: streaming parsers for the response bodies the client reads, and
 * writers for the request bodies it sends.
 *
 * Parsing: one s3_xml_parser per response body, created for the document kind the
 * request expects (s3_xml_parser_new), fed the body in whatever chunks curl delivers
 * (s3_xml_feed), and closed with s3_xml_finish. expat does the XML; no tree is built:
 * a small table of the elements each kind knows maps them straight into result structs,
 * unknown elements are skipped (S3 adds fields over time), and known fields are checked
 * (a required field missing, a field given twice, a number or boolean that is not
 * exactly one, a value longer than S3_XML_MAX_VALUE: all errors). Results exist only
 * after s3_xml_finish succeeded; after any error every accessor returns NULL, so a
 * caller never sees half a result. DOCTYPEs and entity declarations are refused (S3
 * never sends them; this shuts out entity expansion attacks), and documents, entry
 * counts and nesting are capped (S3_XML_MAX_*).
 *
 * Every kind also accepts an <Error> document: S3 answers some requests (CopyObject,
 * UploadPartCopy, CompleteMultipartUpload) with status 200 and an <Error> body when
 * they fail late. Such a body finishes *successfully* — it is well-formed — but then
 * s3_xml_error_result returns the error and the kind's own accessor returns NULL. So:
 * after s3_xml_finish, check s3_xml_error_result first.
 *
 * Strings: every value is an sl_buf with an explicit length (NUL-terminated one past
 * it for convenience). Values come as expat delivers them, in UTF-8, with entities and
 * character references resolved, never trimmed. In a listing with EncodingType "url",
 * Contents/Key and CommonPrefixes/Prefix are %-decoded ("+" is a space, as S3 encodes
 * it); after decoding they are arbitrary bytes — possibly not UTF-8, possibly holding
 * NUL (from %00) — so always use .len, never strlen. Absent and empty values both
 * read as len 0; fields where the difference matters carry a has_/enum marker.
 * ETags are kept exactly as sent, quotes included; s3_etag_unquoted gives the bare
 * form (radosgw's PUT If-Match, comparisons across listing, HEAD and copy results).
 *
 * Writing: s3_xml_write_* append a complete request body to an sl_buf, escaping
 * & < > " ' (and CR / LF as character references, so keys survive XML's line-end
 * normalisation). Text that XML 1.0 cannot carry — invalid UTF-8, control characters
 * other than tab, LF and CR, U+FFFE/U+FFFF — is an error, never silently altered.
 *
 * Ownership: a parser owns its results; the pointers the accessors return stay valid
 * until s3_xml_parser_destroy. s3_xml_take_error moves an error out into a caller-owned
 * s3_error (release with s3_error_clean_up). Writers only read their inputs.
 * Threading: a parser belongs to one thread at a time (normally the loop thread that
 * runs curl's write callbacks); parsers share nothing. The writers and the table
 * helpers are pure functions, safe on any thread.
 *
 * References: Amazon S3 API Reference — ListObjectsV2, CopyObject, UploadPartCopy,
 * CreateMultipartUpload, CompleteMultipartUpload, DeleteObjects, GetObjectTagging /
 * PutObjectTagging, GetBucketVersioning, ListObjectVersions, "Error responses"; S3 User Guide "Creating
 * object key names" (XML-related object key constraints); XML 1.0 (5th ed.) §2.2
 * Characters, §2.11 End-of-Line Handling.
 */
#ifndef SLUICE_S3_XML_H
#define SLUICE_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

/* ---- limits ---- */

#define S3_XML_MAX_VALUE ((size_t)64 * 1024)           /* bytes of one element's text */
#define S3_XML_MAX_DOCUMENT ((size_t)64 * 1024 * 1024) /* bytes of one response body */
#define S3_XML_MAX_ENTRIES ((size_t)100000)            /* repeated elements per document */
#define S3_XML_MAX_DEPTH 64                            /* element nesting */
#define S3_XML_MAX_DELETE_OBJECTS ((size_t)1000)       /* DeleteObjects, per S3 */
#define S3_XML_MAX_PARTS ((size_t)10000)               /* multipart upload, per S3 */
#define S3_XML_MAX_TAGS ((size_t)10)                   /* object tags, per S3 */
#define S3_XML_MAX_TAG_KEY_CHARS ((size_t)128)         /* Unicode characters */
#define S3_XML_MAX_TAG_VALUE_CHARS ((size_t)256)       /* Unicode characters */

/* ---- S3 error codes ---- */

/* S3's error codes sluice tells apart: X(ENUM, "Code as S3 sends it"). Anything else is
 * S3_ERROR_UNKNOWN (the raw text stays in s3_error.code_text). Append only. */
#define S3_ERROR_CODE_LIST(X)                                                  \
    X(S3_ERROR_UNKNOWN, "")                                                    \
    X(S3_ERROR_NO_SUCH_KEY, "NoSuchKey")                                       \
    X(S3_ERROR_NO_SUCH_BUCKET, "NoSuchBucket")                                 \
    X(S3_ERROR_NO_SUCH_UPLOAD, "NoSuchUpload")                                 \
    X(S3_ERROR_NO_SUCH_VERSION, "NoSuchVersion")                               \
    X(S3_ERROR_ACCESS_DENIED, "AccessDenied")                                  \
    X(S3_ERROR_SIGNATURE_DOES_NOT_MATCH, "SignatureDoesNotMatch")              \
    X(S3_ERROR_INVALID_ACCESS_KEY_ID, "InvalidAccessKeyId")                    \
    X(S3_ERROR_EXPIRED_TOKEN, "ExpiredToken")                                  \
    X(S3_ERROR_REQUEST_TIME_TOO_SKEWED, "RequestTimeTooSkewed")                \
    X(S3_ERROR_PRECONDITION_FAILED, "PreconditionFailed")                      \
    X(S3_ERROR_SLOW_DOWN, "SlowDown")                                          \
    X(S3_ERROR_INTERNAL_ERROR, "InternalError")                                \
    X(S3_ERROR_REQUEST_TIMEOUT, "RequestTimeout")                              \
    X(S3_ERROR_SERVICE_UNAVAILABLE, "ServiceUnavailable")                      \
    X(S3_ERROR_INVALID_ARGUMENT, "InvalidArgument")                            \
    X(S3_ERROR_INVALID_REQUEST, "InvalidRequest")                              \
    X(S3_ERROR_INVALID_RANGE, "InvalidRange")                                  \
    X(S3_ERROR_INVALID_PART, "InvalidPart")                                    \
    X(S3_ERROR_INVALID_PART_ORDER, "InvalidPartOrder")                         \
    X(S3_ERROR_ENTITY_TOO_SMALL, "EntityTooSmall")                             \
    X(S3_ERROR_ENTITY_TOO_LARGE, "EntityTooLarge")                             \
    X(S3_ERROR_KEY_TOO_LONG, "KeyTooLongError")                                \
    X(S3_ERROR_MALFORMED_XML, "MalformedXML")                                  \
    X(S3_ERROR_BAD_DIGEST, "BadDigest")                                        \
    X(S3_ERROR_INVALID_DIGEST, "InvalidDigest")                                \
    X(S3_ERROR_BUCKET_ALREADY_EXISTS, "BucketAlreadyExists")                   \
    X(S3_ERROR_BUCKET_ALREADY_OWNED_BY_YOU, "BucketAlreadyOwnedByYou")         \
    X(S3_ERROR_NOT_IMPLEMENTED, "NotImplemented")

typedef enum s3_error_code {
#define S3_ERROR_CODE_ENUM(name, text) name,
    S3_ERROR_CODE_LIST(S3_ERROR_CODE_ENUM)
#undef S3_ERROR_CODE_ENUM
    S3_ERROR_CODE_COUNT
} s3_error_code;

/* The code's text as S3 sends it ("NoSuchKey"); "" for S3_ERROR_UNKNOWN or out of range. */
const char *s3_error_code_name(s3_error_code code);
/* The code for S3's text (exact, case-sensitive match); S3_ERROR_UNKNOWN if not listed. */
s3_error_code s3_error_code_from_name(sl_cursor text);

/* An <Error> response body. Zero-initialised is valid and empty. */
typedef struct s3_error {
    s3_error_code code;
    sl_buf code_text;   /* <Code> exactly as sent, also when code is UNKNOWN */
    sl_buf message;
    sl_buf request_id;
    sl_buf host_id;
    sl_buf resource;
    sl_buf key;         /* <Key>, sent with NoSuchKey and some others */
    sl_buf bucket_name; /* <BucketName>, sent by radosgw and with NoSuchBucket */
} s3_error;

/* Frees the strings and zeroes the struct; accepts NULL and zeroed structs. */
void s3_error_clean_up(s3_error *error);

/* ---- parsed results ---- */

/* One <Contents> of a ListObjectsV2 result. */
typedef struct s3_list_object {
    sl_buf key;           /* %-decoded when the listing's EncodingType is url */
    sl_buf last_modified; /* ISO 8601 text as sent; may be empty */
    sl_buf etag;          /* as sent, quotes included */
    uint64_t size;
    sl_buf storage_class; /* may be empty */
} s3_list_object;

/* <ListBucketResult> of ListObjectsV2. The echoed request parameters (prefix, delimiter,
 * start_after) are kept as sent, NOT %-decoded even with EncodingType url: AWS encodes
 * them but radosgw 16 sends them raw, so decoding would corrupt one or the other. The
 * client knows what it asked for and should not rely on them. */
typedef struct s3_list_result {
    sl_buf name;
    sl_buf prefix;
    sl_buf delimiter;
    sl_buf start_after;
    sl_buf continuation_token;
    sl_buf next_continuation_token; /* non-empty whenever is_truncated (else an error) */
    sl_buf encoding_type;           /* "" or "url" (anything else is an error) */
    bool has_key_count;
    uint64_t key_count;
    bool has_max_keys;
    uint64_t max_keys;
    bool is_truncated; /* <IsTruncated> is required */
    s3_list_object *objects;
    size_t object_count;
    sl_buf *common_prefixes; /* %-decoded when EncodingType is url */
    size_t common_prefix_count;
} s3_list_result;

/* <CopyObjectResult> (CopyObject) or <CopyPartResult> (UploadPartCopy). */
typedef struct s3_copy_result {
    sl_buf etag; /* required, as sent */
    sl_buf last_modified;
} s3_copy_result;

/* <InitiateMultipartUploadResult> (CreateMultipartUpload). */
typedef struct s3_initiate_result {
    sl_buf bucket;
    sl_buf key;
    sl_buf upload_id; /* required and non-empty */
} s3_initiate_result;

/* <CompleteMultipartUploadResult>. radosgw sends an empty <ETag>: allowed (len 0);
 * HEAD the object for the real one. */
typedef struct s3_complete_result {
    sl_buf location;
    sl_buf bucket;
    sl_buf key;
    sl_buf etag;
} s3_complete_result;

/* <Deleted> of a DeleteObjects result. */
typedef struct s3_deleted {
    sl_buf key; /* required */
    sl_buf version_id;
    bool delete_marker;
    sl_buf delete_marker_version_id;
} s3_deleted;

/* <Error> inside a DeleteObjects result: this key was not deleted. */
typedef struct s3_delete_error {
    sl_buf key; /* required */
    sl_buf version_id;
    s3_error_code code;
    sl_buf code_text; /* required */
    sl_buf message;
} s3_delete_error;

/* <DeleteResult>. In quiet mode S3 lists only the errors. */
typedef struct s3_delete_result {
    s3_deleted *deleted;
    size_t deleted_count;
    s3_delete_error *errors;
    size_t error_count;
} s3_delete_result;

/* <Tag> of <Tagging><TagSet>. */
typedef struct s3_tag {
    sl_buf key;   /* required */
    sl_buf value; /* may be empty */
} s3_tag;

typedef struct s3_tagging {
    s3_tag *tags;
    size_t tag_count;
} s3_tagging;

typedef enum s3_versioning_status {
    S3_VERSIONING_NEVER_ENABLED = 0, /* no <Status>: versioning was never turned on */
    S3_VERSIONING_ENABLED,
    S3_VERSIONING_SUSPENDED,
} s3_versioning_status;

typedef enum s3_mfa_delete {
    S3_MFA_DELETE_ABSENT = 0, /* no <MfaDelete> element */
    S3_MFA_DELETE_ENABLED,
    S3_MFA_DELETE_DISABLED,
} s3_mfa_delete;

/* <VersioningConfiguration> (GetBucketVersioning). The element is <MfaDelete> as AWS
 * sends it; <MFADelete> is accepted too. Values other than the ones above are errors. */
typedef struct s3_versioning {
    s3_versioning_status status;
    s3_mfa_delete mfa_delete;
} s3_versioning;

/* One <Version> or <DeleteMarker> of a ListObjectVersions result (document order). */
typedef struct s3_object_version {
    sl_buf key;           /* %-decoded when the listing's EncodingType is url */
    sl_buf version_id;    /* required ("null" for an object written before versioning) */
    bool is_latest;
    bool delete_marker;   /* a <DeleteMarker>: no ETag, no size */
    sl_buf last_modified;
    sl_buf etag;          /* as sent, quotes included; empty for a delete marker */
    uint64_t size;
} s3_object_version;

/* <ListVersionsResult> of ListObjectVersions. The echoed markers are kept as sent (not
 * %-decoded: AWS encodes them, radosgw 16 sends them raw); page on from the last entry
 * (its decoded key and version id), which is what both servers name as the next markers. */
typedef struct s3_list_versions_result {
    sl_buf name;
    sl_buf prefix;
    sl_buf key_marker;
    sl_buf version_id_marker;
    sl_buf next_key_marker;
    sl_buf next_version_id_marker;
    sl_buf encoding_type; /* "" or "url" */
    bool is_truncated;    /* required; a truncated page holds at least one entry */
    s3_object_version *versions;
    size_t version_count;
} s3_list_versions_result;

/* ---- the streaming parser ---- */

/* The document a response is expected to hold; <Error> is always accepted as well. */
typedef enum s3_xml_doc {
    S3_XML_LIST_OBJECTS_V2,    /* <ListBucketResult> */
    S3_XML_ERROR,              /* <Error> only: the body of a non-2xx response */
    S3_XML_COPY_OBJECT,        /* <CopyObjectResult> */
    S3_XML_COPY_PART,          /* <CopyPartResult> */
    S3_XML_INITIATE_MULTIPART, /* <InitiateMultipartUploadResult> */
    S3_XML_COMPLETE_MULTIPART, /* <CompleteMultipartUploadResult> */
    S3_XML_DELETE_OBJECTS,     /* <DeleteResult> */
    S3_XML_TAGGING,            /* <Tagging> */
    S3_XML_VERSIONING,         /* <VersioningConfiguration> */
    S3_XML_LIST_VERSIONS,      /* <ListVersionsResult> */
    S3_XML_DOC_COUNT
} s3_xml_doc;

typedef struct s3_xml_parser s3_xml_parser;

/* A parser for one document of the given kind. Never NULL: out of memory aborts (the
 * allocator policy, applied to expat's allocations too), and so does a kind outside
 * the enum, which is a programming error. */
s3_xml_parser *s3_xml_parser_new(s3_xml_doc kind);

/* Frees the parser and every result it owns; accepts NULL. */
void s3_xml_parser_destroy(s3_xml_parser *parser);

/* Parses the next `len` bytes of the body (any split, including mid-character and
 * mid-tag; len 0 is fine). Errors: SL_ERR_PARSE (malformed XML — the detail has expat's
 * line and column —, an unexpected root element, a DOCTYPE, a bad field), SL_ERR_LIMIT
 * (a cap exceeded), SL_ERR_STATE (fed after finish). After an error the parser is
 * spent: every later call repeats the same error and no result is available. */
SL_MUST_CHECK sl_result s3_xml_feed(s3_xml_parser *parser, const void *bytes, size_t len);

/* Ends the document. Succeeds only if it was complete and valid for its kind (or an
 * <Error>); a document cut short is SL_ERR_PARSE "document ended before </Root>".
 * Only after success do the accessors below return anything. */
SL_MUST_CHECK sl_result s3_xml_finish(s3_xml_parser *parser);

/* The <Error> the body held, or NULL (not finished, failed, no error, or taken). */
const s3_error *s3_xml_error_result(const s3_xml_parser *parser);
/* Moves the <Error> out into *out (which is overwritten, not cleaned up first): true
 * if there was one; false (and *out zeroed) otherwise. */
bool s3_xml_take_error(s3_xml_parser *parser, s3_error *out);

/* The kind's result; NULL unless the parser was made for that kind, finished
 * successfully, and the body was not an <Error>. s3_xml_copy_result serves both
 * S3_XML_COPY_OBJECT and S3_XML_COPY_PART. */
const s3_list_result *s3_xml_list_result(const s3_xml_parser *parser);
const s3_copy_result *s3_xml_copy_result(const s3_xml_parser *parser);
const s3_initiate_result *s3_xml_initiate_result(const s3_xml_parser *parser);
const s3_complete_result *s3_xml_complete_result(const s3_xml_parser *parser);
const s3_delete_result *s3_xml_delete_result(const s3_xml_parser *parser);
const s3_tagging *s3_xml_tagging_result(const s3_xml_parser *parser);
const s3_versioning *s3_xml_versioning_result(const s3_xml_parser *parser);
const s3_list_versions_result *s3_xml_list_versions_result(const s3_xml_parser *parser);

/* One-shot: parses a whole non-2xx response body into a caller-owned *out (overwritten,
 * not cleaned up first; on error left zeroed). An empty body or one that is not an
 * <Error> document (an HTML page from a proxy) is SL_ERR_PARSE: fall back on the HTTP
 * status then. */
SL_MUST_CHECK sl_result s3_xml_parse_error_body(const void *bytes, size_t len, s3_error *out);

/* The ETag without one pair of surrounding double quotes; unchanged if it has none. */
sl_cursor s3_etag_unquoted(sl_cursor etag);

/* ---- request bodies ---- */

/* An object to delete; an empty version_id (len 0) means "the current version". */
typedef struct s3_object_ref {
    sl_cursor key;
    sl_cursor version_id;
} s3_object_ref;

/* A part of a multipart upload: its number and the ETag UploadPart returned. */
typedef struct s3_part_ref {
    uint32_t part_number;
    sl_cursor etag;
} s3_part_ref;

typedef struct s3_tag_ref {
    sl_cursor key;
    sl_cursor value;
} s3_tag_ref;

/* Each writer appends a whole document (XML declaration, root with S3's namespace) to
 * *out. On error *out is as it was before the call. Errors name the entry by index. */

/* DeleteObjects: 1..S3_XML_MAX_DELETE_OBJECTS objects with non-empty keys;
 * <Quiet>true</Quiet> when quiet. Errors: SL_ERR_INVALID_ARGUMENT (count, empty key),
 * SL_ERR_ENCODING (text XML cannot carry). The request also needs a Content-MD5 or
 * x-amz-checksum header of this body; that is the caller's. */
SL_MUST_CHECK sl_result s3_xml_write_delete(sl_buf *out, const s3_object_ref *objects, size_t count,
                                            bool quiet);

/* CompleteMultipartUpload: 1..S3_XML_MAX_PARTS parts, part numbers 1..10000 in strictly
 * ascending order (S3 rejects any other order), non-empty ETags (written as given,
 * quotes escaped). Errors: SL_ERR_INVALID_ARGUMENT, SL_ERR_ENCODING. */
SL_MUST_CHECK sl_result s3_xml_write_complete_multipart(sl_buf *out, const s3_part_ref *parts,
                                                        size_t count);

/* PutObjectTagging: 0..S3_XML_MAX_TAGS tags (0 writes an empty TagSet), keys of
 * 1..128 and values of 0..256 Unicode characters, no key twice. Errors:
 * SL_ERR_INVALID_ARGUMENT, SL_ERR_ENCODING. */
SL_MUST_CHECK sl_result s3_xml_write_tagging(sl_buf *out, const s3_tag_ref *tags, size_t count);

#endif /* SLUICE_S3_XML_H */
