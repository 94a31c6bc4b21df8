/*
 * xml.c — the streaming S3 XML parsers and the request-body writers of xml.h.
 *
 * How the parser works: expat calls on_start / on_text / on_end as bytes arrive. The
 * parser keeps a short stack of *known* elements (frames). Each known container (a
 * root such as <ListBucketResult>, or a repeated entry such as <Contents>) has a table
 * of the child elements it knows (struct field: name, type, flags, where the value
 * goes). A child that is a container opens a new frame with the object its fields go
 * into (for repeated ones, a fresh zeroed array element); a child that is a value
 * collects its text into one buffer and is converted and stored when it ends. Unknown
 * elements are skipped as a whole subtree by a depth counter. A bit per table row in
 * each frame catches a field given twice and a required field that never came. When
 * the root closes, a per-kind check finishes the document (URL-decoding a listing,
 * mapping error codes). The tables below are the one place that says which element
 * goes where.
 *
 * Every failure inside an expat callback is turned into the parser's stored error and
 * stops expat (XML_StopParser); the API functions re-raise that stored error, so the
 * first failure is the one reported, with its line and column.
 */
#include "s3/xml.h"

#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the S3 error code table ---- */

static const char *const error_code_names[] = {
#define S3_ERROR_CODE_TEXT(name, text) text,
    S3_ERROR_CODE_LIST(S3_ERROR_CODE_TEXT)
#undef S3_ERROR_CODE_TEXT
};

const char *s3_error_code_name(s3_error_code code)
{
    if ((unsigned)code >= S3_ERROR_CODE_COUNT) return "";
    return error_code_names[code];
}

s3_error_code s3_error_code_from_name(sl_cursor text)
{
    if (text.len == 0) return S3_ERROR_UNKNOWN;
    for (unsigned i = 1; i < S3_ERROR_CODE_COUNT; i++)
        if (sl_cursor_eq_cstr(text, error_code_names[i])) return (s3_error_code)i;
    return S3_ERROR_UNKNOWN;
}

void s3_error_clean_up(s3_error *error)
{
    if (error == NULL) return;
    sl_buf_clean_up(&error->code_text);
    sl_buf_clean_up(&error->message);
    sl_buf_clean_up(&error->request_id);
    sl_buf_clean_up(&error->host_id);
    sl_buf_clean_up(&error->resource);
    sl_buf_clean_up(&error->key);
    sl_buf_clean_up(&error->bucket_name);
    *error = (s3_error){ 0 };
}

sl_cursor s3_etag_unquoted(sl_cursor etag)
{
    if (etag.len >= 2 && etag.ptr[0] == '"' && etag.ptr[etag.len - 1] == '"')
        return sl_cursor_from_bytes(etag.ptr + 1, etag.len - 2);
    return etag;
}

/* ---- the element tables ---- */

/* Containers: elements whose children are fields. */
enum node {
    N_LIST,         /* ListBucketResult */
    N_LIST_OBJECT,  /* ListBucketResult/Contents */
    N_LIST_PREFIX,  /* ListBucketResult/CommonPrefixes */
    N_ERROR,        /* Error (a whole document) */
    N_COPY,         /* CopyObjectResult, CopyPartResult */
    N_INITIATE,     /* InitiateMultipartUploadResult */
    N_COMPLETE,     /* CompleteMultipartUploadResult */
    N_DELETE,       /* DeleteResult */
    N_DELETED,      /* DeleteResult/Deleted */
    N_DELETE_ERROR, /* DeleteResult/Error */
    N_TAGGING,      /* Tagging */
    N_TAG_SET,      /* Tagging/TagSet */
    N_TAG,          /* Tagging/TagSet/Tag */
    N_VERSIONING,   /* VersioningConfiguration */
    N_VERSIONS,     /* ListVersionsResult */
    N_VERSION,      /* ListVersionsResult/Version */
    N_DELETE_MARKER, /* ListVersionsResult/DeleteMarker */
    N_COUNT
};

enum field_type {
    F_CONTAINER, /* opens node `node` */
    F_STRING,    /* sl_buf */
    F_U64,       /* uint64_t, decimal digits only */
    F_BOOL,      /* bool, "true" or "false" */
    F_STATUS,    /* s3_versioning_status, "Enabled" or "Suspended" */
    F_MFA,       /* s3_mfa_delete, "Enabled" or "Disabled" */
};

enum field_flags {
    F_REQUIRED = 1 << 0, /* the container is invalid without it */
    F_REPEATED = 1 << 1, /* may appear any number of times */
    F_NONEMPTY = 1 << 2, /* a string that must not be empty */
};

#define NO_PRESENT ((ptrdiff_t)-1)

struct field {
    const char *name;
    enum field_type type;
    unsigned flags;
    enum node node;     /* F_CONTAINER only */
    size_t offset;      /* of the value in the container's object */
    ptrdiff_t present;  /* of a bool set when the field appears, or NO_PRESENT */
};

#define STRING(n, T, member, fl)                                                                 \
    { .name = n, .type = F_STRING, .flags = fl, .offset = offsetof(T, member),                   \
      .present = NO_PRESENT }
#define NUMBER(n, T, member, fl, has)                                                            \
    { .name = n, .type = F_U64, .flags = fl, .offset = offsetof(T, member), .present = has }
#define VALUE(n, ft, T, member, fl)                                                              \
    { .name = n, .type = ft, .flags = fl, .offset = offsetof(T, member), .present = NO_PRESENT }
#define CONTAINER(n, nd, fl) { .name = n, .type = F_CONTAINER, .flags = fl, .node = nd, .present = NO_PRESENT }

static const struct field list_fields[] = {
    STRING("Name", s3_list_result, name, 0),
    STRING("Prefix", s3_list_result, prefix, 0),
    STRING("Delimiter", s3_list_result, delimiter, 0),
    STRING("StartAfter", s3_list_result, start_after, 0),
    STRING("ContinuationToken", s3_list_result, continuation_token, 0),
    STRING("NextContinuationToken", s3_list_result, next_continuation_token, 0),
    STRING("EncodingType", s3_list_result, encoding_type, 0),
    NUMBER("KeyCount", s3_list_result, key_count, 0, offsetof(s3_list_result, has_key_count)),
    NUMBER("MaxKeys", s3_list_result, max_keys, 0, offsetof(s3_list_result, has_max_keys)),
    VALUE("IsTruncated", F_BOOL, s3_list_result, is_truncated, F_REQUIRED),
    CONTAINER("Contents", N_LIST_OBJECT, F_REPEATED),
    CONTAINER("CommonPrefixes", N_LIST_PREFIX, F_REPEATED),
};

static const struct field list_object_fields[] = {
    STRING("Key", s3_list_object, key, F_REQUIRED | F_NONEMPTY),
    STRING("LastModified", s3_list_object, last_modified, 0),
    STRING("ETag", s3_list_object, etag, F_REQUIRED),
    NUMBER("Size", s3_list_object, size, F_REQUIRED, NO_PRESENT),
    STRING("StorageClass", s3_list_object, storage_class, 0),
};

/* The object of a CommonPrefixes frame is the sl_buf itself. */
static const struct field list_prefix_fields[] = {
    { .name = "Prefix", .type = F_STRING, .flags = F_REQUIRED | F_NONEMPTY, .offset = 0,
      .present = NO_PRESENT },
};

static const struct field error_fields[] = {
    STRING("Code", s3_error, code_text, F_REQUIRED | F_NONEMPTY),
    STRING("Message", s3_error, message, 0),
    STRING("RequestId", s3_error, request_id, 0),
    STRING("HostId", s3_error, host_id, 0),
    STRING("Resource", s3_error, resource, 0),
    STRING("Key", s3_error, key, 0),
    STRING("BucketName", s3_error, bucket_name, 0),
};

static const struct field copy_fields[] = {
    STRING("ETag", s3_copy_result, etag, F_REQUIRED | F_NONEMPTY),
    STRING("LastModified", s3_copy_result, last_modified, 0),
};

static const struct field initiate_fields[] = {
    STRING("Bucket", s3_initiate_result, bucket, 0),
    STRING("Key", s3_initiate_result, key, 0),
    STRING("UploadId", s3_initiate_result, upload_id, F_REQUIRED | F_NONEMPTY),
};

static const struct field complete_fields[] = {
    STRING("Location", s3_complete_result, location, 0),
    STRING("Bucket", s3_complete_result, bucket, 0),
    STRING("Key", s3_complete_result, key, 0),
    STRING("ETag", s3_complete_result, etag, 0), /* radosgw: empty */
};

static const struct field delete_fields[] = {
    CONTAINER("Deleted", N_DELETED, F_REPEATED),
    CONTAINER("Error", N_DELETE_ERROR, F_REPEATED),
};

static const struct field deleted_fields[] = {
    STRING("Key", s3_deleted, key, F_REQUIRED | F_NONEMPTY),
    STRING("VersionId", s3_deleted, version_id, 0),
    VALUE("DeleteMarker", F_BOOL, s3_deleted, delete_marker, 0),
    STRING("DeleteMarkerVersionId", s3_deleted, delete_marker_version_id, 0),
};

static const struct field delete_error_fields[] = {
    STRING("Key", s3_delete_error, key, F_REQUIRED | F_NONEMPTY),
    STRING("VersionId", s3_delete_error, version_id, 0),
    STRING("Code", s3_delete_error, code_text, F_REQUIRED | F_NONEMPTY),
    STRING("Message", s3_delete_error, message, 0),
};

static const struct field tagging_fields[] = {
    CONTAINER("TagSet", N_TAG_SET, F_REQUIRED),
};

static const struct field tag_set_fields[] = {
    CONTAINER("Tag", N_TAG, F_REPEATED),
};

static const struct field tag_fields[] = {
    STRING("Key", s3_tag, key, F_REQUIRED | F_NONEMPTY),
    STRING("Value", s3_tag, value, 0),
};

static const struct field versioning_fields[] = {
    VALUE("Status", F_STATUS, s3_versioning, status, 0),
    VALUE("MfaDelete", F_MFA, s3_versioning, mfa_delete, 0),
    VALUE("MFADelete", F_MFA, s3_versioning, mfa_delete, 0),
};

static const struct field versions_fields[] = {
    STRING("Name", s3_list_versions_result, name, 0),
    STRING("Prefix", s3_list_versions_result, prefix, 0),
    STRING("KeyMarker", s3_list_versions_result, key_marker, 0),
    STRING("VersionIdMarker", s3_list_versions_result, version_id_marker, 0),
    STRING("NextKeyMarker", s3_list_versions_result, next_key_marker, 0),
    STRING("NextVersionIdMarker", s3_list_versions_result, next_version_id_marker, 0),
    STRING("EncodingType", s3_list_versions_result, encoding_type, 0),
    VALUE("IsTruncated", F_BOOL, s3_list_versions_result, is_truncated, F_REQUIRED),
    CONTAINER("Version", N_VERSION, F_REPEATED),
    CONTAINER("DeleteMarker", N_DELETE_MARKER, F_REPEATED),
};

static const struct field version_fields[] = {
    STRING("Key", s3_object_version, key, F_REQUIRED | F_NONEMPTY),
    STRING("VersionId", s3_object_version, version_id, F_REQUIRED | F_NONEMPTY),
    VALUE("IsLatest", F_BOOL, s3_object_version, is_latest, 0),
    STRING("LastModified", s3_object_version, last_modified, 0),
    STRING("ETag", s3_object_version, etag, F_REQUIRED),
    NUMBER("Size", s3_object_version, size, F_REQUIRED, NO_PRESENT),
};

static const struct field delete_marker_fields[] = {
    STRING("Key", s3_object_version, key, F_REQUIRED | F_NONEMPTY),
    STRING("VersionId", s3_object_version, version_id, F_REQUIRED | F_NONEMPTY),
    VALUE("IsLatest", F_BOOL, s3_object_version, is_latest, 0),
    STRING("LastModified", s3_object_version, last_modified, 0),
};

struct node_def {
    const struct field *fields;
    size_t count;
};

#define NODE(table) { table, ARRAY_LEN(table) }
static const struct node_def nodes[N_COUNT] = {
    [N_LIST] = NODE(list_fields),
    [N_LIST_OBJECT] = NODE(list_object_fields),
    [N_LIST_PREFIX] = NODE(list_prefix_fields),
    [N_ERROR] = NODE(error_fields),
    [N_COPY] = NODE(copy_fields),
    [N_INITIATE] = NODE(initiate_fields),
    [N_COMPLETE] = NODE(complete_fields),
    [N_DELETE] = NODE(delete_fields),
    [N_DELETED] = NODE(deleted_fields),
    [N_DELETE_ERROR] = NODE(delete_error_fields),
    [N_TAGGING] = NODE(tagging_fields),
    [N_TAG_SET] = NODE(tag_set_fields),
    [N_TAG] = NODE(tag_fields),
    [N_VERSIONING] = NODE(versioning_fields),
    [N_VERSIONS] = NODE(versions_fields),
    [N_VERSION] = NODE(version_fields),
    [N_DELETE_MARKER] = NODE(delete_marker_fields),
};

/* What each kind of parser expects at the root, and how errors name the document. */
static const struct {
    const char *root;
    enum node node;
    const char *what;
} kinds[S3_XML_DOC_COUNT] = {
    [S3_XML_LIST_OBJECTS_V2] = { "ListBucketResult", N_LIST, "ListObjectsV2 response" },
    [S3_XML_ERROR] = { "Error", N_ERROR, "S3 error response" },
    [S3_XML_COPY_OBJECT] = { "CopyObjectResult", N_COPY, "CopyObject response" },
    [S3_XML_COPY_PART] = { "CopyPartResult", N_COPY, "UploadPartCopy response" },
    [S3_XML_INITIATE_MULTIPART] = { "InitiateMultipartUploadResult", N_INITIATE,
                                    "CreateMultipartUpload response" },
    [S3_XML_COMPLETE_MULTIPART] = { "CompleteMultipartUploadResult", N_COMPLETE,
                                    "CompleteMultipartUpload response" },
    [S3_XML_DELETE_OBJECTS] = { "DeleteResult", N_DELETE, "DeleteObjects response" },
    [S3_XML_TAGGING] = { "Tagging", N_TAGGING, "GetObjectTagging response" },
    [S3_XML_VERSIONING] = { "VersioningConfiguration", N_VERSIONING,
                            "GetBucketVersioning response" },
    [S3_XML_LIST_VERSIONS] = { "ListVersionsResult", N_VERSIONS, "ListObjectVersions response" },
};

/* ---- the parser ---- */

/* A known element that is open. Known elements nest at most four deep
 * (Tagging/TagSet/Tag/Key); unknown ones are counted in skip_depth instead. */
struct frame {
    const char *name;          /* static: from the tables */
    const struct field *field; /* NULL for the root */
    enum node node;            /* the root's or a container's node */
    void *obj;                 /* a container's object */
    uint32_t seen;             /* a container's fields that appeared, by table row */
};

#define FRAMES_MAX 6

enum state { ST_FEEDING, ST_DONE, ST_FAILED };

struct s3_xml_parser {
    s3_xml_doc kind;
    XML_Parser xml;
    enum state state;
    sl_error err_code;
    char err_detail[480];
    size_t fed;          /* bytes fed so far */
    size_t entries;      /* repeated elements opened so far */
    size_t skip_depth;   /* >0: inside an unknown element, this deep */
    size_t depth;        /* frames in use */
    struct frame frames[FRAMES_MAX];
    const char *root_name; /* the root element seen, or NULL */
    bool root_closed;
    bool is_error;       /* the root was <Error> */
    bool error_taken;
    sl_buf text;         /* the value being collected */

    size_t objects_cap, prefixes_cap, deleted_cap, delete_errors_cap, tags_cap;
    s3_error error;
    s3_list_result list;
    s3_copy_result copy;
    s3_initiate_result initiate;
    s3_complete_result complete;
    s3_delete_result del;
    s3_tagging tagging;
    s3_versioning versioning;
    s3_list_versions_result versions;
    size_t versions_cap;
};

_Static_assert(ARRAY_LEN(list_fields) <= 32, "a frame's seen mask has 32 bits");

/* Records the first failure of the parser. `detail` is what went wrong; the document
 * kind and, when expat knows it, the position are added. */
static void record_failure(s3_xml_parser *p, sl_error code, const char *detail, bool position)
{
    if (p->state == ST_FAILED) return;
    p->state = ST_FAILED;
    p->err_code = code;
    if (position)
        snprintf(p->err_detail, sizeof(p->err_detail), "%s: %s (line %lu, column %lu)",
                 kinds[p->kind].what, detail, (unsigned long)XML_GetCurrentLineNumber(p->xml),
                 (unsigned long)XML_GetCurrentColumnNumber(p->xml));
    else
        snprintf(p->err_detail, sizeof(p->err_detail), "%s: %s", kinds[p->kind].what, detail);
}

/* Inside an expat callback: keep the error just raised and stop expat. */
static void stop_on_failure(s3_xml_parser *p, sl_result r)
{
    if (sl_ok(r)) return;
    record_failure(p, sl_error_last(), sl_error_detail(), true);
    XML_StopParser(p->xml, XML_FALSE);
}

static sl_result reraise(const s3_xml_parser *p)
{
    RAISE(p->err_code, "%s", p->err_detail);
}

static void *root_object(s3_xml_parser *p, enum node node)
{
    switch (node) {
    case N_LIST: return &p->list;
    case N_ERROR: return &p->error;
    case N_COPY: return &p->copy;
    case N_INITIATE: return &p->initiate;
    case N_COMPLETE: return &p->complete;
    case N_DELETE: return &p->del;
    case N_TAGGING: return &p->tagging;
    case N_VERSIONING: return &p->versioning;
    case N_VERSIONS: return &p->versions;
    default: return NULL;
    }
}

/* Makes room for one more element in a growable array of `size`-byte items. */
static sl_result grow(void *items, size_t count, size_t *cap, size_t size, void **grown)
{
    *grown = items;
    if (count < *cap) return SL_SUCCESS;
    size_t new_cap = 16;
    size_t bytes;
    ENSURE(*cap == 0 || sl_mul_size(*cap, 2, &new_cap), SL_ERR_OVERFLOW, "array of %zu entries",
           *cap);
    ENSURE(sl_mul_size(new_cap, size, &bytes), SL_ERR_OVERFLOW, "array of %zu entries", new_cap);
    *grown = sl_realloc(items, bytes);
    *cap = new_cap;
    return SL_SUCCESS;
}

#define APPEND_ZEROED(array, count, cap, out)                                                  \
    do {                                                                                         \
        void *grown_;                                                                            \
        GUARD(grow((array), (count), &(cap), sizeof(*(array)), &grown_));                        \
        (array) = grown_;                                                                        \
        memset(&(array)[(count)], 0, sizeof(*(array)));                                          \
        *(out) = &(array)[(count)++];                                                            \
    } while (0)

/* The object a container's fields go into: a new array element for repeated ones. */
static sl_result open_container(s3_xml_parser *p, enum node node, void *parent_obj, void **obj)
{
    if (node == N_TAG_SET) {
        *obj = parent_obj; /* a grouping element: Tag entries go into the s3_tagging */
        return SL_SUCCESS;
    }
    ENSURE(p->entries < S3_XML_MAX_ENTRIES, SL_ERR_LIMIT, "more than %zu entries",
           S3_XML_MAX_ENTRIES);
    p->entries++;
    switch (node) {
    case N_LIST_OBJECT:
        APPEND_ZEROED(p->list.objects, p->list.object_count, p->objects_cap, obj);
        return SL_SUCCESS;
    case N_LIST_PREFIX:
        APPEND_ZEROED(p->list.common_prefixes, p->list.common_prefix_count, p->prefixes_cap,
                      obj);
        return SL_SUCCESS;
    case N_DELETED:
        APPEND_ZEROED(p->del.deleted, p->del.deleted_count, p->deleted_cap, obj);
        return SL_SUCCESS;
    case N_DELETE_ERROR:
        APPEND_ZEROED(p->del.errors, p->del.error_count, p->delete_errors_cap, obj);
        return SL_SUCCESS;
    case N_TAG:
        APPEND_ZEROED(p->tagging.tags, p->tagging.tag_count, p->tags_cap, obj);
        return SL_SUCCESS;
    case N_VERSION:
    case N_DELETE_MARKER: {
        s3_object_version *v = NULL;
        APPEND_ZEROED(p->versions.versions, p->versions.version_count, p->versions_cap, &v);
        v->delete_marker = node == N_DELETE_MARKER;
        *obj = v;
        return SL_SUCCESS;
    }
    default:
        RAISE(SL_ERR_STATE, "element table names node %d as a nested container", (int)node);
    }
}

static sl_result open_root(s3_xml_parser *p, const char *name)
{
    enum node node;
    if (strcmp(name, kinds[p->kind].root) == 0) {
        node = kinds[p->kind].node;
        p->root_name = kinds[p->kind].root;
    } else if (strcmp(name, "Error") == 0) {
        node = N_ERROR;
        p->root_name = "Error";
    } else {
        RAISE(SL_ERR_PARSE, "unexpected root element <%.64s> (expected <%s>%s)", name,
              kinds[p->kind].root, p->kind == S3_XML_ERROR ? "" : " or <Error>");
    }
    p->is_error = node == N_ERROR;
    p->frames[0] = (struct frame){ .name = p->root_name, .node = node, .obj = root_object(p, node) };
    p->depth = 1;
    return SL_SUCCESS;
}

static sl_result start_element(s3_xml_parser *p, const char *name)
{
    ENSURE(p->depth + p->skip_depth < S3_XML_MAX_DEPTH, SL_ERR_LIMIT,
           "elements nested more than %d deep", S3_XML_MAX_DEPTH);
    if (p->skip_depth > 0) {
        p->skip_depth++;
        return SL_SUCCESS;
    }
    if (p->depth == 0) return open_root(p, name);

    struct frame *top = &p->frames[p->depth - 1];
    ENSURE(top->field == NULL || top->field->type == F_CONTAINER, SL_ERR_PARSE,
           "element <%.64s> inside the value <%s>", name, top->name);
    const struct node_def *def = &nodes[top->node];
    const struct field *field = NULL;
    size_t row = 0;
    for (; row < def->count; row++) {
        if (strcmp(def->fields[row].name, name) == 0) {
            field = &def->fields[row];
            break;
        }
    }
    if (field == NULL) {
        p->skip_depth = 1; /* S3 adds fields over time */
        return SL_SUCCESS;
    }
    uint32_t bit = (uint32_t)1 << row;
    ENSURE(!(top->seen & bit) || (field->flags & F_REPEATED), SL_ERR_PARSE,
           "<%s> appears twice in <%s>", field->name, top->name);
    top->seen |= bit;
    ENSURE(p->depth < FRAMES_MAX, SL_ERR_STATE, "element tables nest deeper than %d", FRAMES_MAX);

    struct frame *f = &p->frames[p->depth];
    *f = (struct frame){ .name = field->name, .field = field, .node = field->node };
    if (field->type == F_CONTAINER) {
        GUARD(open_container(p, field->node, top->obj, &f->obj));
    } else {
        sl_buf_reset(&p->text);
    }
    p->depth++;
    return SL_SUCCESS;
}

/* Strict unsigned decimal: 1 to 20 ASCII digits, no sign, no spaces, no overflow. */
static bool parse_u64(sl_cursor text, uint64_t *out)
{
    if (text.len == 0 || text.len > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < text.len; i++) {
        uint8_t c = text.ptr[i];
        if (c < '0' || c > '9') return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(c - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

static sl_result store_value(s3_xml_parser *p, const struct frame *f, void *obj)
{
    const struct field *field = f->field;
    const char *parent = p->frames[p->depth - 1].name;
    void *at = (char *)obj + field->offset;
    sl_cursor text = sl_cursor_from_buf(&p->text);

    switch (field->type) {
    case F_STRING: {
        ENSURE(!(field->flags & F_NONEMPTY) || text.len > 0, SL_ERR_PARSE, "empty <%s> in <%s>",
               field->name, parent);
        sl_buf *dst = at;
        sl_buf_clean_up(dst);
        *dst = p->text; /* hand the collected buffer over */
        p->text = (sl_buf){ 0 };
        break;
    }
    case F_U64:
        ENSURE(parse_u64(text, at), SL_ERR_PARSE,
               "<%s> in <%s> is not an unsigned 64-bit decimal number", field->name, parent);
        break;
    case F_BOOL: {
        bool *b = at;
        if (sl_cursor_eq_cstr(text, "true"))
            *b = true;
        else if (sl_cursor_eq_cstr(text, "false"))
            *b = false;
        else
            RAISE(SL_ERR_PARSE, "<%s> in <%s> is neither \"true\" nor \"false\"", field->name,
                  parent);
        break;
    }
    case F_STATUS: {
        s3_versioning_status *s = at;
        if (sl_cursor_eq_cstr(text, "Enabled"))
            *s = S3_VERSIONING_ENABLED;
        else if (sl_cursor_eq_cstr(text, "Suspended"))
            *s = S3_VERSIONING_SUSPENDED;
        else
            RAISE(SL_ERR_PARSE, "<%s> is neither \"Enabled\" nor \"Suspended\"", field->name);
        break;
    }
    case F_MFA: {
        s3_mfa_delete *m = at;
        ENSURE(*m == S3_MFA_DELETE_ABSENT, SL_ERR_PARSE, "MFA delete given twice in <%s>", parent);
        if (sl_cursor_eq_cstr(text, "Enabled"))
            *m = S3_MFA_DELETE_ENABLED;
        else if (sl_cursor_eq_cstr(text, "Disabled"))
            *m = S3_MFA_DELETE_DISABLED;
        else
            RAISE(SL_ERR_PARSE, "<%s> is neither \"Enabled\" nor \"Disabled\"", field->name);
        break;
    }
    case F_CONTAINER:
        RAISE(SL_ERR_STATE, "<%s> stored as a value", field->name);
    }
    if (field->present != NO_PRESENT) *(bool *)((char *)obj + field->present) = true;
    return SL_SUCCESS;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* S3's encoding-type=url: %XX is a byte, '+' a space (AWS writes a space as '+' and a
 * '+' as %2B; radosgw writes %20 and %2B). A '%' without two hex digits is an error.
 * Decodes in place: the result is never longer. */
static sl_result url_decode(sl_buf *b, const char *what, size_t index)
{
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] != '%') continue;
        ENSURE(b->len - i >= 3 && hex_value(b->data[i + 1]) >= 0 && hex_value(b->data[i + 2]) >= 0,
               SL_ERR_PARSE, "%s %zu: invalid %%-escape at byte %zu", what, index, i);
    }
    size_t w = 0;
    for (size_t r = 0; r < b->len; r++) {
        uint8_t c = b->data[r];
        if (c == '%') {
            c = (uint8_t)(hex_value(b->data[r + 1]) << 4 | hex_value(b->data[r + 2]));
            r += 2;
        } else if (c == '+') {
            c = ' ';
        }
        b->data[w++] = c;
    }
    b->len = w;
    if (b->data != NULL) b->data[w] = '\0';
    return SL_SUCCESS;
}

static sl_result finish_list(s3_list_result *list)
{
    if (list->encoding_type.len > 0) {
        ENSURE(sl_cursor_eq_cstr(sl_cursor_from_buf(&list->encoding_type), "url"), SL_ERR_PARSE,
               "unknown <EncodingType> (only \"url\" is defined)");
        for (size_t i = 0; i < list->object_count; i++)
            GUARD(url_decode(&list->objects[i].key, "Contents/Key", i));
        for (size_t i = 0; i < list->common_prefix_count; i++)
            GUARD(url_decode(&list->common_prefixes[i], "CommonPrefixes/Prefix", i));
    }
    /* Paging on with an empty token would start the listing over, for ever. */
    ENSURE(!list->is_truncated || list->next_continuation_token.len > 0, SL_ERR_PARSE,
           "<IsTruncated> is true but <NextContinuationToken> is missing or empty");
    return SL_SUCCESS;
}

/* ListObjectVersions: keys are %-decoded like a listing's. The Next*Marker echoes are
 * left as sent (AWS encodes them, radosgw 16 does not): the client pages on from the
 * last entry instead. */
static sl_result finish_versions(s3_list_versions_result *v)
{
    if (v->encoding_type.len > 0) {
        ENSURE(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->encoding_type), "url"), SL_ERR_PARSE,
               "unknown <EncodingType> (only \"url\" is defined)");
        for (size_t i = 0; i < v->version_count; i++)
            GUARD(url_decode(&v->versions[i].key, v->versions[i].delete_marker ? "DeleteMarker/Key" : "Version/Key", i));
    }
    /* Paging on from nothing would start the listing over, for ever. */
    ENSURE(!v->is_truncated || v->version_count > 0, SL_ERR_PARSE,
           "<IsTruncated> is true but the page holds no <Version> or <DeleteMarker>");
    return SL_SUCCESS;
}

static sl_result close_container(const struct frame *f)
{
    const struct node_def *def = &nodes[f->node];
    for (size_t row = 0; row < def->count; row++) {
        ENSURE(!(def->fields[row].flags & F_REQUIRED) || (f->seen & ((uint32_t)1 << row)),
               SL_ERR_PARSE, "<%s> without <%s>", f->name, def->fields[row].name);
    }
    switch (f->node) {
    case N_ERROR: {
        s3_error *e = f->obj;
        e->code = s3_error_code_from_name(sl_cursor_from_buf(&e->code_text));
        return SL_SUCCESS;
    }
    case N_DELETE_ERROR: {
        s3_delete_error *e = f->obj;
        e->code = s3_error_code_from_name(sl_cursor_from_buf(&e->code_text));
        return SL_SUCCESS;
    }
    case N_LIST:
        return finish_list(f->obj);
    case N_VERSIONS:
        return finish_versions(f->obj);
    default:
        return SL_SUCCESS;
    }
}

static sl_result end_element(s3_xml_parser *p)
{
    if (p->skip_depth > 0) {
        p->skip_depth--;
        return SL_SUCCESS;
    }
    ENSURE(p->depth > 0, SL_ERR_STATE, "end of an element that never started");
    struct frame f = p->frames[--p->depth];
    if (f.field != NULL && f.field->type != F_CONTAINER)
        return store_value(p, &f, p->frames[p->depth - 1].obj);
    GUARD(close_container(&f));
    if (p->depth == 0) p->root_closed = true;
    return SL_SUCCESS;
}

static sl_result collect_text(s3_xml_parser *p, const char *s, int len)
{
    if (p->skip_depth > 0 || p->depth == 0) return SL_SUCCESS;
    const struct frame *top = &p->frames[p->depth - 1];
    /* Text between the elements of a container (indentation) is not a value. */
    if (top->field == NULL || top->field->type == F_CONTAINER) return SL_SUCCESS;
    ENSURE((size_t)len <= S3_XML_MAX_VALUE - p->text.len, SL_ERR_LIMIT,
           "value of <%s> longer than %zu bytes", top->name, S3_XML_MAX_VALUE);
    return sl_buf_append(&p->text, s, (size_t)len);
}

static void XMLCALL on_start(void *user, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    s3_xml_parser *p = user;
    if (p->state != ST_FEEDING) return;
    stop_on_failure(p, start_element(p, name));
}

static void XMLCALL on_end(void *user, const XML_Char *name)
{
    (void)name;
    s3_xml_parser *p = user;
    if (p->state != ST_FEEDING) return;
    stop_on_failure(p, end_element(p));
}

static void XMLCALL on_text(void *user, const XML_Char *s, int len)
{
    s3_xml_parser *p = user;
    if (p->state != ST_FEEDING) return;
    stop_on_failure(p, collect_text(p, s, len));
}

static sl_result refuse_doctype(void) { RAISE(SL_ERR_PARSE, "DOCTYPE declarations are not accepted"); }

static void XMLCALL on_doctype(void *user, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    s3_xml_parser *p = user;
    if (p->state != ST_FEEDING) return;
    stop_on_failure(p, refuse_doctype());
}

static sl_result refuse_entity(void) { RAISE(SL_ERR_PARSE, "entity declarations are not accepted"); }

static void XMLCALL on_entity(void *user, const XML_Char *name, int is_parameter,
                              const XML_Char *value, int value_len, const XML_Char *base,
                              const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
    (void)name;
    (void)is_parameter;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    s3_xml_parser *p = user;
    if (p->state != ST_FEEDING) return;
    stop_on_failure(p, refuse_entity());
}

static const XML_Memory_Handling_Suite memory_suite = { sl_malloc, sl_realloc, sl_free };

s3_xml_parser *s3_xml_parser_new(s3_xml_doc kind)
{
    if ((unsigned)kind >= S3_XML_DOC_COUNT) {
        fprintf(stderr, "sluice: s3_xml_parser_new: no document kind %d; aborting\n", (int)kind);
        abort();
    }
    s3_xml_parser *p = sl_calloc(1, sizeof(*p));
    p->kind = kind;
    p->xml = XML_ParserCreate_MM(NULL, &memory_suite, NULL);
    if (p->xml == NULL) {
        fprintf(stderr, "sluice: expat could not create a parser; aborting\n");
        abort();
    }
    XML_SetUserData(p->xml, p);
    XML_SetElementHandler(p->xml, on_start, on_end);
    XML_SetCharacterDataHandler(p->xml, on_text);
    XML_SetStartDoctypeDeclHandler(p->xml, on_doctype);
    XML_SetEntityDeclHandler(p->xml, on_entity);
    XML_SetParamEntityParsing(p->xml, XML_PARAM_ENTITY_PARSING_NEVER);
    return p;
}

static void list_clean_up(s3_list_result *list)
{
    sl_buf_clean_up(&list->name);
    sl_buf_clean_up(&list->prefix);
    sl_buf_clean_up(&list->delimiter);
    sl_buf_clean_up(&list->start_after);
    sl_buf_clean_up(&list->continuation_token);
    sl_buf_clean_up(&list->next_continuation_token);
    sl_buf_clean_up(&list->encoding_type);
    for (size_t i = 0; i < list->object_count; i++) {
        sl_buf_clean_up(&list->objects[i].key);
        sl_buf_clean_up(&list->objects[i].last_modified);
        sl_buf_clean_up(&list->objects[i].etag);
        sl_buf_clean_up(&list->objects[i].storage_class);
    }
    sl_free(list->objects);
    for (size_t i = 0; i < list->common_prefix_count; i++) sl_buf_clean_up(&list->common_prefixes[i]);
    sl_free(list->common_prefixes);
}

static void versions_clean_up(s3_list_versions_result *v)
{
    sl_buf *strings[] = { &v->name, &v->prefix, &v->key_marker, &v->version_id_marker, &v->next_key_marker,
                          &v->next_version_id_marker, &v->encoding_type };
    for (size_t i = 0; i < ARRAY_LEN(strings); i++) sl_buf_clean_up(strings[i]);
    for (size_t i = 0; i < v->version_count; i++) {
        sl_buf_clean_up(&v->versions[i].key);
        sl_buf_clean_up(&v->versions[i].version_id);
        sl_buf_clean_up(&v->versions[i].last_modified);
        sl_buf_clean_up(&v->versions[i].etag);
    }
    sl_free(v->versions);
}

static void delete_result_clean_up(s3_delete_result *del)
{
    for (size_t i = 0; i < del->deleted_count; i++) {
        sl_buf_clean_up(&del->deleted[i].key);
        sl_buf_clean_up(&del->deleted[i].version_id);
        sl_buf_clean_up(&del->deleted[i].delete_marker_version_id);
    }
    sl_free(del->deleted);
    for (size_t i = 0; i < del->error_count; i++) {
        sl_buf_clean_up(&del->errors[i].key);
        sl_buf_clean_up(&del->errors[i].version_id);
        sl_buf_clean_up(&del->errors[i].code_text);
        sl_buf_clean_up(&del->errors[i].message);
    }
    sl_free(del->errors);
}

void s3_xml_parser_destroy(s3_xml_parser *p)
{
    if (p == NULL) return;
    if (p->xml != NULL) XML_ParserFree(p->xml);
    sl_buf_clean_up(&p->text);
    s3_error_clean_up(&p->error);
    list_clean_up(&p->list);
    versions_clean_up(&p->versions);
    sl_buf_clean_up(&p->copy.etag);
    sl_buf_clean_up(&p->copy.last_modified);
    sl_buf_clean_up(&p->initiate.bucket);
    sl_buf_clean_up(&p->initiate.key);
    sl_buf_clean_up(&p->initiate.upload_id);
    sl_buf_clean_up(&p->complete.location);
    sl_buf_clean_up(&p->complete.bucket);
    sl_buf_clean_up(&p->complete.key);
    sl_buf_clean_up(&p->complete.etag);
    delete_result_clean_up(&p->del);
    for (size_t i = 0; i < p->tagging.tag_count; i++) {
        sl_buf_clean_up(&p->tagging.tags[i].key);
        sl_buf_clean_up(&p->tagging.tags[i].value);
    }
    sl_free(p->tagging.tags);
    sl_free(p);
}

/* One XML_Parse call; expat's own errors become the parser's failure. */
static sl_result run_expat(s3_xml_parser *p, const char *bytes, int len, bool final)
{
    if (XML_Parse(p->xml, bytes, len, final) == XML_STATUS_OK && p->state == ST_FEEDING)
        return SL_SUCCESS;
    if (p->state != ST_FAILED) {
        char detail[320];
        enum XML_Error code = XML_GetErrorCode(p->xml);
        if (final && p->fed == 0)
            snprintf(detail, sizeof(detail), "empty document");
        else if (final && !p->root_closed)
            snprintf(detail, sizeof(detail), "document ended before </%s> (%s)",
                     p->root_name ? p->root_name : kinds[p->kind].root, XML_ErrorString(code));
        else
            snprintf(detail, sizeof(detail), "%s", XML_ErrorString(code));
        record_failure(p, SL_ERR_PARSE, detail, true);
    }
    return reraise(p);
}

static sl_result check_feedable(s3_xml_parser *p)
{
    ENSURE(p != NULL, SL_ERR_INVALID_ARGUMENT, "no parser");
    if (p->state == ST_FAILED) return reraise(p);
    ENSURE(p->state == ST_FEEDING, SL_ERR_STATE, "%s: the document was already finished",
           kinds[p->kind].what);
    return SL_SUCCESS;
}

sl_result s3_xml_feed(s3_xml_parser *p, const void *bytes, size_t len)
{
    GUARD(check_feedable(p));
    ENSURE(bytes != NULL || len == 0, SL_ERR_INVALID_ARGUMENT, "no bytes to parse");
    if (len > S3_XML_MAX_DOCUMENT - p->fed) {
        char detail[96];
        snprintf(detail, sizeof(detail), "document larger than %zu bytes", S3_XML_MAX_DOCUMENT);
        record_failure(p, SL_ERR_LIMIT, detail, false);
        return reraise(p);
    }
    p->fed += len;
    const char *at = bytes;
    while (len > 0) {
        int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;
        GUARD(run_expat(p, at, n, false));
        at += n;
        len -= (size_t)n;
    }
    return SL_SUCCESS;
}

sl_result s3_xml_finish(s3_xml_parser *p)
{
    GUARD(check_feedable(p));
    GUARD(run_expat(p, NULL, 0, true));
    if (!p->root_closed) {
        record_failure(p, SL_ERR_PARSE, "document ended before its root element closed", false);
        return reraise(p);
    }
    p->state = ST_DONE;
    return SL_SUCCESS;
}

static bool has_result(const s3_xml_parser *p, s3_xml_doc kind)
{
    return p != NULL && p->state == ST_DONE && !p->is_error && p->kind == kind;
}

const s3_error *s3_xml_error_result(const s3_xml_parser *p)
{
    if (p == NULL || p->state != ST_DONE || !p->is_error || p->error_taken) return NULL;
    return &p->error;
}

bool s3_xml_take_error(s3_xml_parser *p, s3_error *out)
{
    *out = (s3_error){ 0 };
    if (s3_xml_error_result(p) == NULL) return false;
    *out = p->error;
    p->error = (s3_error){ 0 };
    p->error_taken = true;
    return true;
}

const s3_list_result *s3_xml_list_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_LIST_OBJECTS_V2) ? &p->list : NULL;
}

const s3_copy_result *s3_xml_copy_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_COPY_OBJECT) || has_result(p, S3_XML_COPY_PART) ? &p->copy : NULL;
}

const s3_initiate_result *s3_xml_initiate_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_INITIATE_MULTIPART) ? &p->initiate : NULL;
}

const s3_complete_result *s3_xml_complete_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_COMPLETE_MULTIPART) ? &p->complete : NULL;
}

const s3_delete_result *s3_xml_delete_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_DELETE_OBJECTS) ? &p->del : NULL;
}

const s3_tagging *s3_xml_tagging_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_TAGGING) ? &p->tagging : NULL;
}

const s3_versioning *s3_xml_versioning_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_VERSIONING) ? &p->versioning : NULL;
}

const s3_list_versions_result *s3_xml_list_versions_result(const s3_xml_parser *p)
{
    return has_result(p, S3_XML_LIST_VERSIONS) ? &p->versions : NULL;
}

sl_result s3_xml_parse_error_body(const void *bytes, size_t len, s3_error *out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "no s3_error to fill");
    *out = (s3_error){ 0 };
    sl_result result = SL_FAILURE;
    s3_xml_parser *p = s3_xml_parser_new(S3_XML_ERROR);
    GUARD_CLEANUP(s3_xml_feed(p, bytes, len));
    GUARD_CLEANUP(s3_xml_finish(p));
    ENSURE_CLEANUP(s3_xml_take_error(p, out), SL_ERR_STATE, "error body parsed but no error kept");
    result = SL_SUCCESS;
cleanup:
    s3_xml_parser_destroy(p);
    return result;
}

/* ---- writers ---- */

#define XML_DECLARATION "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NAMESPACE "http://s3.amazonaws.com/doc/2006-03-01/"

/* Checks that `text` is UTF-8 made only of XML 1.0 Chars (§2.2: tab, LF, CR,
 * U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF); counts its characters. On
 * failure *at is the offset of the offending byte sequence. */
static bool xml_text_ok(sl_cursor text, size_t *chars, size_t *at)
{
    size_t n = 0;
    size_t i = 0;
    while (i < text.len) {
        const uint8_t *s = text.ptr + i;
        size_t left = text.len - i;
        uint32_t cp;
        size_t len;
        *at = i;
        if (s[0] < 0x80) {
            cp = s[0];
            len = 1;
        } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
            if (left < 2 || (s[1] & 0xc0) != 0x80) return false;
            cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
            len = 2;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
            if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return false;
            cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
            if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return false; /* overlong, surrogate */
            len = 3;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
            if (left < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
                return false;
            cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
                 (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
            if (cp < 0x10000 || cp > 0x10ffff) return false;
            len = 4;
        } else {
            return false; /* continuation byte, 0xc0/0xc1, or 0xf5.. */
        }
        if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') return false;
        if (cp == 0xfffe || cp == 0xffff) return false;
        i += len;
        n++;
    }
    *chars = n;
    return true;
}

/* Appends text (already checked) with & < > " ' escaped, and CR / LF as character
 * references so that XML's end-of-line handling (§2.11) does not alter them. */
static sl_result append_escaped(sl_buf *out, sl_cursor text)
{
    size_t run = 0;
    for (size_t i = 0; i < text.len; i++) {
        const char *entity;
        switch (text.ptr[i]) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&apos;"; break;
        case '\r': entity = "&#13;"; break;
        case '\n': entity = "&#10;"; break;
        default: continue;
        }
        GUARD(sl_buf_append(out, text.ptr + run, i - run));
        GUARD(sl_buf_append_cstr(out, entity));
        run = i + 1;
    }
    return sl_buf_append(out, text.ptr + run, text.len - run);
}

/* <tag>escaped text</tag>; `what` and `index` name the entry in errors. */
static sl_result append_element(sl_buf *out, const char *tag, sl_cursor text, const char *what,
                                size_t index, size_t *chars)
{
    size_t count = 0;
    size_t at = 0;
    ENSURE(xml_text_ok(text, &count, &at), SL_ERR_ENCODING,
           "%s %zu: <%s> holds a byte sequence XML 1.0 cannot carry (at byte %zu)", what, index, tag,
           at);
    if (chars != NULL) *chars = count;
    GUARD(sl_buf_appendf(out, "<%s>", tag));
    GUARD(append_escaped(out, text));
    return sl_buf_appendf(out, "</%s>", tag);
}

static void truncate_to(sl_buf *buf, size_t len)
{
    buf->len = len;
    if (buf->data != NULL) buf->data[len] = '\0';
}

sl_result s3_xml_write_delete(sl_buf *out, const s3_object_ref *objects, size_t count, bool quiet)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "DeleteObjects: no output buffer");
    sl_result result = SL_FAILURE;
    size_t mark = out->len;
    ENSURE_CLEANUP(count >= 1 && count <= S3_XML_MAX_DELETE_OBJECTS, SL_ERR_INVALID_ARGUMENT,
                   "DeleteObjects: %zu objects (1 to %zu allowed)", count,
                   S3_XML_MAX_DELETE_OBJECTS);
    ENSURE_CLEANUP(objects != NULL, SL_ERR_INVALID_ARGUMENT, "DeleteObjects: no objects");
    GUARD_CLEANUP(sl_buf_append_cstr(out, XML_DECLARATION "<Delete xmlns=\"" S3_NAMESPACE "\">"));
    if (quiet) GUARD_CLEANUP(sl_buf_append_cstr(out, "<Quiet>true</Quiet>"));
    for (size_t i = 0; i < count; i++) {
        ENSURE_CLEANUP(objects[i].key.len > 0, SL_ERR_INVALID_ARGUMENT,
                       "DeleteObjects object %zu: empty key", i);
        GUARD_CLEANUP(sl_buf_append_cstr(out, "<Object>"));
        GUARD_CLEANUP(append_element(out, "Key", objects[i].key, "DeleteObjects object", i, NULL));
        if (objects[i].version_id.len > 0)
            GUARD_CLEANUP(append_element(out, "VersionId", objects[i].version_id,
                                         "DeleteObjects object", i, NULL));
        GUARD_CLEANUP(sl_buf_append_cstr(out, "</Object>"));
    }
    GUARD_CLEANUP(sl_buf_append_cstr(out, "</Delete>"));
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result)) truncate_to(out, mark);
    return result;
}

sl_result s3_xml_write_complete_multipart(sl_buf *out, const s3_part_ref *parts, size_t count)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "CompleteMultipartUpload: no output buffer");
    sl_result result = SL_FAILURE;
    size_t mark = out->len;
    ENSURE_CLEANUP(count >= 1 && count <= S3_XML_MAX_PARTS, SL_ERR_INVALID_ARGUMENT,
                   "CompleteMultipartUpload: %zu parts (1 to %zu allowed)", count, S3_XML_MAX_PARTS);
    ENSURE_CLEANUP(parts != NULL, SL_ERR_INVALID_ARGUMENT, "CompleteMultipartUpload: no parts");
    GUARD_CLEANUP(sl_buf_append_cstr(
        out, XML_DECLARATION "<CompleteMultipartUpload xmlns=\"" S3_NAMESPACE "\">"));
    for (size_t i = 0; i < count; i++) {
        uint32_t number = parts[i].part_number;
        ENSURE_CLEANUP(number >= 1 && number <= S3_XML_MAX_PARTS, SL_ERR_INVALID_ARGUMENT,
                       "CompleteMultipartUpload part %zu: part number %u (1 to %zu allowed)", i,
                       number, S3_XML_MAX_PARTS);
        ENSURE_CLEANUP(i == 0 || number > parts[i - 1].part_number, SL_ERR_INVALID_ARGUMENT,
                       "CompleteMultipartUpload part %zu: part number %u after %u (must ascend)",
                       i, number, parts[i - 1].part_number);
        ENSURE_CLEANUP(parts[i].etag.len > 0, SL_ERR_INVALID_ARGUMENT,
                       "CompleteMultipartUpload part %zu: empty ETag", i);
        GUARD_CLEANUP(sl_buf_appendf(out, "<Part><PartNumber>%u</PartNumber>", number));
        GUARD_CLEANUP(
            append_element(out, "ETag", parts[i].etag, "CompleteMultipartUpload part", i, NULL));
        GUARD_CLEANUP(sl_buf_append_cstr(out, "</Part>"));
    }
    GUARD_CLEANUP(sl_buf_append_cstr(out, "</CompleteMultipartUpload>"));
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result)) truncate_to(out, mark);
    return result;
}

sl_result s3_xml_write_tagging(sl_buf *out, const s3_tag_ref *tags, size_t count)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "Tagging: no output buffer");
    sl_result result = SL_FAILURE;
    size_t mark = out->len;
    ENSURE_CLEANUP(count <= S3_XML_MAX_TAGS, SL_ERR_INVALID_ARGUMENT,
                   "Tagging: %zu tags (at most %zu allowed)", count, S3_XML_MAX_TAGS);
    ENSURE_CLEANUP(tags != NULL || count == 0, SL_ERR_INVALID_ARGUMENT, "Tagging: no tags");
    GUARD_CLEANUP(
        sl_buf_append_cstr(out, XML_DECLARATION "<Tagging xmlns=\"" S3_NAMESPACE "\"><TagSet>"));
    for (size_t i = 0; i < count; i++) {
        ENSURE_CLEANUP(tags[i].key.len > 0, SL_ERR_INVALID_ARGUMENT, "Tagging tag %zu: empty key",
                       i);
        for (size_t j = 0; j < i; j++)
            ENSURE_CLEANUP(!sl_cursor_eq(tags[i].key, tags[j].key), SL_ERR_INVALID_ARGUMENT,
                           "Tagging tag %zu: same key as tag %zu", i, j);
        size_t chars = 0;
        GUARD_CLEANUP(sl_buf_append_cstr(out, "<Tag>"));
        GUARD_CLEANUP(append_element(out, "Key", tags[i].key, "Tagging tag", i, &chars));
        ENSURE_CLEANUP(chars <= S3_XML_MAX_TAG_KEY_CHARS, SL_ERR_INVALID_ARGUMENT,
                       "Tagging tag %zu: key of %zu characters (at most %zu)", i, chars,
                       S3_XML_MAX_TAG_KEY_CHARS);
        GUARD_CLEANUP(append_element(out, "Value", tags[i].value, "Tagging tag", i, &chars));
        ENSURE_CLEANUP(chars <= S3_XML_MAX_TAG_VALUE_CHARS, SL_ERR_INVALID_ARGUMENT,
                       "Tagging tag %zu: value of %zu characters (at most %zu)", i, chars,
                       S3_XML_MAX_TAG_VALUE_CHARS);
        GUARD_CLEANUP(sl_buf_append_cstr(out, "</Tag>"));
    }
    GUARD_CLEANUP(sl_buf_append_cstr(out, "</TagSet></Tagging>"));
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result)) truncate_to(out, mark);
    return result;
}
