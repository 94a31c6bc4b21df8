/*
 * multipart_copy.c — s3_copy_object_sized (client.h): a copy of any size.
 *
 * Below the client's threshold it is one CopyObject. Above it, a small state machine
 * over internal ops (client_impl.h), each built from its row of the operation table:
 * HEAD source → CreateMultipartUpload → UploadPartCopy of each range (parallel_parts at
 * a time) → HEAD source again (radosgw ignores the source condition on UploadPartCopy,
 * so a source changed mid-copy is caught here) → CompleteMultipartUpload → HEAD of the
 * destination (radosgw's Complete returns no ETag). A failure after Create goes through
 * AbortMultipartUpload. The first failure is kept in `failure` and reported once
 * everything has stopped; the result's `attempts` counts every request of the copy.
 * Only CompleteMultipartUpload writes the destination, so a failed copy is `indefinite`
 * exactly when a Complete was sent and not refused outright (it succeeded, or its answer
 * was lost or was a 5xx): the destination may then hold the copy, and the caller looks.
 */
#include "s3/client_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#define MULTIPART_MAX_PARTS 10000

typedef struct failure {
    bool set;
    sl_error error;
    long status;
    s3_error_code code;
    s3_op op;
    sl_buf code_text, message, request_id, detail;
} failure;

typedef struct mpcopy {
    uint64_t not_after_ms; /* s3_client_set_deadline when the copy began: for every step */
    s3_client *client;
    sl_buf src_bucket, src_key, dst_bucket, dst_key;
    sl_buf source_if_match, source_version_id, copy_source, content_type, tagging;
    sl_buf metadata_text; /* arena of `metadata`: the replaced metadata */
    op_pairs metadata;
    bool replace_metadata;
    uint64_t size, part_size;
    unsigned part_count, next_part, in_flight, parts_done;
    sl_buf upload_id;
    sl_buf *part_etags;
    sl_buf etag;
    unsigned requests;
    bool completed_maybe; /* a CompleteMultipartUpload may have taken effect */
    failure failure;
    s3_object_fn *done;
    void *user;
} mpcopy;

static sl_cursor buf_cursor(const sl_buf *b) { return sl_cursor_from_buf(b); }

static void failure_record(failure *f, const s3_result *r)
{
    if (f->set) return;
    f->set = true;
    f->error = r->error;
    f->status = r->status;
    f->code = r->code;
    f->op = r->op;
    if (sl_failed(sl_buf_append_cstr(&f->code_text, r->code_text)) ||
        sl_failed(sl_buf_append_cstr(&f->message, r->message)) ||
        sl_failed(sl_buf_append_cstr(&f->request_id, r->request_id)) ||
        sl_failed(sl_buf_append_cstr(&f->detail, r->detail)))
        sl_buf_reset(&f->detail);
}

static void failure_raise(failure *f, s3_op kind, sl_error error, const char *detail)
{
    s3_result r = { .error = error, .code_text = "", .message = "", .request_id = "", .detail = detail, .op = kind };
    failure_record(f, &r);
}

static void mpcopy_free(mpcopy *m)
{
    sl_buf *bufs[] = { &m->src_bucket, &m->src_key, &m->dst_bucket, &m->dst_key, &m->source_if_match,
                       &m->source_version_id, &m->copy_source, &m->content_type, &m->tagging, &m->metadata_text,
                       &m->upload_id, &m->etag, &m->failure.code_text, &m->failure.message,
                       &m->failure.request_id, &m->failure.detail };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) sl_buf_clean_up(bufs[i]);
    for (unsigned i = 0; m->part_etags && i < m->part_count; i++) sl_buf_clean_up(&m->part_etags[i]);
    sl_free(m->part_etags);
    sl_free(m);
}

static void mpcopy_finish(mpcopy *m)
{
    s3_object_info info = { 0 };
    s3_result r = { .attempts = m->requests, .code_text = "", .message = "", .request_id = "", .detail = "",
                    .op = S3_OP_COPY_OBJECT };
    if (m->failure.set) {
        r.error = m->failure.error;
        r.status = m->failure.status;
        r.code = m->failure.code;
        r.op = m->failure.op;
        r.code_text = sl_buf_cstr(&m->failure.code_text);
        r.message = sl_buf_cstr(&m->failure.message);
        r.request_id = sl_buf_cstr(&m->failure.request_id);
        r.detail = sl_buf_cstr(&m->failure.detail);
        r.indefinite = m->completed_maybe;
    } else {
        r.status = 200;
        info.etag = buf_cursor(&m->etag);
        info.size = m->size;
        info.has_size = true;
    }
    m->done(m->user, &r, &info);
    mpcopy_free(m);
}

/* Prepares an internal step on the source or the destination; NULL (with the failure
 * recorded) if it cannot. */
static op *mp_op_on(mpcopy *m, s3_op kind, bool source, op_internal_fn *next)
{
    const op_desc *desc = &s3_op_table[kind];
    op *o = source ? op_new(m->client, desc, buf_cursor(&m->src_bucket), buf_cursor(&m->src_key))
                   : op_new(m->client, desc, buf_cursor(&m->dst_bucket), buf_cursor(&m->dst_key));
    if (o == NULL) {
        failure_raise(&m->failure, kind, sl_error_last(), sl_error_detail());
        return NULL;
    }
    o->on_internal = next;
    o->user = m;
    o->not_after_ms = m->not_after_ms; /* the deadline of the copy it is a step of */
    return o;
}

static op *mp_op(mpcopy *m, s3_op kind, op_internal_fn *next) { return mp_op_on(m, kind, false, next); }

/* Launches a prepared step (`ok` says whether preparing it worked). */
static bool mp_launch(mpcopy *m, op *o, sl_result ok)
{
    if (sl_failed(ok)) {
        char detail[600];
        snprintf(detail, sizeof(detail), "%s: %s", s3_op_name(o->kind), sl_error_detail());
        failure_raise(&m->failure, o->kind, sl_error_last(), detail);
        op_free(o);
        return false;
    }
    if (m->client->destroying || sl_failed(op_start(o))) {
        failure_raise(&m->failure, o->kind, m->client->destroying ? SL_ERR_CANCELLED : sl_error_last(),
                      m->client->destroying ? "the S3 client was shut down" : sl_error_detail());
        op_free(o);
        return false;
    }
    return true;
}

/* The conditions of a HEAD of the source: its ETag and version. */
static sl_result mp_build_source_head(mpcopy *m, op *head)
{
    if (m->source_if_match.len)
        GUARD(op_add_header(head, sl_cursor_from_cstr("If-Match"), buf_cursor(&m->source_if_match)));
    if (m->source_version_id.len)
        GUARD(op_add_query(head, sl_cursor_from_cstr("versionId"), buf_cursor(&m->source_version_id)));
    return SL_SUCCESS;
}

static bool mp_head_source(mpcopy *m, op_internal_fn *next)
{
    op *o = mp_op_on(m, S3_OP_HEAD_OBJECT, true, next);
    return o != NULL && mp_launch(m, o, mp_build_source_head(m, o));
}

static void mp_on_abort(void *user, const s3_result *r, op *o)
{
    (void)o;
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        /* keep the first failure; say that the upload may be left */
        if (sl_failed(sl_buf_appendf(&m->failure.detail, "; and aborting upload %s failed: %s",
                                     sl_buf_cstr(&m->upload_id), r->detail)))
            sl_buf_reset(&m->failure.detail);
    }
    mpcopy_finish(m);
}

static void mp_abort(mpcopy *m)
{
    op *o = mp_op(m, S3_OP_ABORT_MULTIPART_UPLOAD, mp_on_abort);
    if (o == NULL || !mp_launch(m, o, op_add_query(o, sl_cursor_from_cstr("uploadId"), buf_cursor(&m->upload_id))))
        mpcopy_finish(m);
}

static void mp_on_final_head(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
    } else if (!o->has_content_length || o->content_length != m->size) {
        char detail[256];
        snprintf(detail, sizeof(detail), "multipart copy to s3://%s/%s produced %llu bytes, expected %llu",
                 sl_buf_cstr(&m->dst_bucket), sl_buf_cstr(&m->dst_key), (unsigned long long)o->content_length,
                 (unsigned long long)m->size);
        failure_raise(&m->failure, S3_OP_HEAD_OBJECT, SL_ERR_STATE, detail);
    } else if (sl_failed(sl_buf_append_cursor(&m->etag, op_response_text(o, o->etag)))) {
        failure_raise(&m->failure, S3_OP_HEAD_OBJECT, sl_error_last(), sl_error_detail());
    }
    mpcopy_finish(m);
}

static void mp_on_complete(void *user, const s3_result *r, op *o)
{
    (void)o;
    mpcopy *m = user;
    m->requests += r->attempts;
    /* a retried Complete whose first answer was lost finds no upload: the HEAD decides */
    bool lost_answer = r->error == SL_ERR_S3 && r->code == S3_ERROR_NO_SUCH_UPLOAD && r->attempts > 1;
    m->completed_maybe = r->error == SL_OK || r->indefinite || lost_answer;
    if (r->error != SL_OK && !lost_answer) {
        failure_record(&m->failure, r);
        mp_abort(m);
        return;
    }
    op *head = mp_op(m, S3_OP_HEAD_OBJECT, mp_on_final_head);
    if (head == NULL || !mp_launch(m, head, SL_SUCCESS)) mpcopy_finish(m);
}

static void mp_complete(mpcopy *m)
{
    op *o = mp_op(m, S3_OP_COMPLETE_MULTIPART_UPLOAD, mp_on_complete);
    if (o == NULL) {
        mp_abort(m);
        return;
    }
    s3_part_ref *parts = sl_calloc(m->part_count, sizeof(*parts));
    for (unsigned i = 0; i < m->part_count; i++)
        parts[i] = (s3_part_ref){ .part_number = i + 1, .etag = buf_cursor(&m->part_etags[i]) };
    sl_result ok = s3_xml_write_complete_multipart(&o->body, parts, m->part_count);
    sl_free(parts);
    if (sl_ok(ok)) ok = op_add_query(o, sl_cursor_from_cstr("uploadId"), buf_cursor(&m->upload_id));
    if (!mp_launch(m, o, ok)) mp_abort(m);
}

static void mp_pump(mpcopy *m);

static void mp_on_recheck(void *user, const s3_result *r, op *o)
{
    (void)o;
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
        mp_abort(m);
        return;
    }
    mp_complete(m);
}

static void mp_recheck_source(mpcopy *m)
{
    if (m->source_if_match.len == 0) {
        mp_complete(m);
        return;
    }
    if (!mp_head_source(m, mp_on_recheck)) mp_abort(m);
}

static void mp_on_part(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    m->in_flight--;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
    } else {
        const s3_copy_result *part = s3_xml_copy_result(o->parser);
        sl_buf *etag = &m->part_etags[o->part_number - 1];
        if (part == NULL || part->etag.len == 0 || sl_failed(s3_set_etag_quoted(etag, buf_cursor(&part->etag))))
            failure_raise(&m->failure, S3_OP_UPLOAD_PART_COPY, SL_ERR_PARSE, "UploadPartCopy answered without an ETag");
        else
            m->parts_done++;
    }
    if (m->failure.set) {
        if (m->in_flight == 0) mp_abort(m);
        return;
    }
    if (m->parts_done == m->part_count) mp_recheck_source(m);
    else mp_pump(m);
}

/* The headers and parameters of part `number`. */
static sl_result mp_build_part(mpcopy *m, op *o, unsigned number)
{
    uint64_t first = (uint64_t)(number - 1) * m->part_size;
    uint64_t last = first + m->part_size - 1 < m->size - 1 ? first + m->part_size - 1 : m->size - 1;
    char number_text[16], range[64];
    snprintf(number_text, sizeof(number_text), "%u", number);
    snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)first, (unsigned long long)last);
    GUARD(op_add_query(o, sl_cursor_from_cstr("partNumber"), sl_cursor_from_cstr(number_text)));
    GUARD(op_add_query(o, sl_cursor_from_cstr("uploadId"), buf_cursor(&m->upload_id)));
    GUARD(op_add_header(o, sl_cursor_from_cstr("x-amz-copy-source"), buf_cursor(&m->copy_source)));
    GUARD(op_add_header(o, sl_cursor_from_cstr("x-amz-copy-source-range"), sl_cursor_from_cstr(range)));
    if (m->source_if_match.len) {
        GUARD(op_add_header(o, sl_cursor_from_cstr("x-amz-copy-source-if-match"), buf_cursor(&m->source_if_match)));
        GUARD(op_add_header(o, sl_cursor_from_cstr("x-amz-copy-if-match"), buf_cursor(&m->source_if_match)));
    }
    return SL_SUCCESS;
}

static void mp_pump(mpcopy *m)
{
    while (!m->failure.set && m->in_flight < m->client->parallel_parts && m->next_part < m->part_count) {
        unsigned number = ++m->next_part;
        op *o = mp_op(m, S3_OP_UPLOAD_PART_COPY, mp_on_part);
        if (o == NULL) break;
        o->part_number = number;
        if (!mp_launch(m, o, mp_build_part(m, o, number))) break;
        m->in_flight++;
    }
    if (m->failure.set && m->in_flight == 0) mp_abort(m);
}

static void mp_on_create(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
        mpcopy_finish(m); /* nothing was created */
        return;
    }
    const s3_initiate_result *init = s3_xml_initiate_result(o->parser);
    if (init == NULL || init->upload_id.len == 0 ||
        sl_failed(sl_buf_append(&m->upload_id, init->upload_id.data, init->upload_id.len))) {
        failure_raise(&m->failure, S3_OP_CREATE_MULTIPART_UPLOAD, SL_ERR_PARSE,
                      "CreateMultipartUpload answered without an UploadId");
        mpcopy_finish(m);
        return;
    }
    m->part_etags = sl_calloc(m->part_count, sizeof(*m->part_etags));
    mp_pump(m);
}

/* Content type, metadata and tagging of the new object: the replacements given, or
 * what the source's HEAD reported. */
static sl_result mp_build_create(mpcopy *m, op *create, const op *head)
{
    sl_cursor content_type = m->replace_metadata ? buf_cursor(&m->content_type)
                                                 : op_response_text(head, head->content_type);
    if (content_type.len) GUARD(op_add_header(create, sl_cursor_from_cstr("Content-Type"), content_type));
    if (m->replace_metadata) {
        for (size_t i = 0; i < m->metadata.count; i++)
            GUARD(op_add_header_prefixed(create, "x-amz-meta-", op_arena_text(&m->metadata_text, m->metadata.items[i].name),
                                         op_arena_text(&m->metadata_text, m->metadata.items[i].value)));
    } else {
        ENSURE(!head->metadata.truncated, SL_ERR_LIMIT, "the source has more user metadata than can be copied");
        for (size_t i = 0; i < head->metadata.count; i++)
            GUARD(op_add_header_prefixed(create, "x-amz-meta-", op_response_text(head, head->metadata.items[i].name),
                                         op_response_text(head, head->metadata.items[i].value)));
    }
    if (m->tagging.len) GUARD(op_add_header(create, sl_cursor_from_cstr("x-amz-tagging"), buf_cursor(&m->tagging)));
    return SL_SUCCESS;
}

static void mp_on_source_head(void *user, const s3_result *r, op *o)
{
    mpcopy *m = user;
    m->requests += r->attempts;
    if (r->error != SL_OK) {
        failure_record(&m->failure, r);
        mpcopy_finish(m);
        return;
    }
    if (!o->has_content_length || o->content_length != m->size) {
        char detail[256];
        snprintf(detail, sizeof(detail), "s3://%s/%s is %llu bytes now, not %llu as listed",
                 sl_buf_cstr(&m->src_bucket), sl_buf_cstr(&m->src_key), (unsigned long long)o->content_length,
                 (unsigned long long)m->size);
        failure_raise(&m->failure, S3_OP_HEAD_OBJECT, SL_ERR_STATE, detail);
        mpcopy_finish(m);
        return;
    }
    op *create = mp_op(m, S3_OP_CREATE_MULTIPART_UPLOAD, mp_on_create);
    if (create == NULL || !mp_launch(m, create, mp_build_create(m, create, o))) mpcopy_finish(m);
}

/* Copies the parameters the steps need into m. */
static sl_result mp_take_params(mpcopy *m, sl_cursor src_bucket, sl_cursor src_key, sl_cursor dst_bucket,
                                sl_cursor dst_key, const s3_copy_params *p)
{
    GUARD(sl_buf_append_cursor(&m->src_bucket, src_bucket));
    GUARD(sl_buf_append_cursor(&m->src_key, src_key));
    GUARD(sl_buf_append_cursor(&m->dst_bucket, dst_bucket));
    GUARD(sl_buf_append_cursor(&m->dst_key, dst_key));
    GUARD(s3_copy_source(&m->copy_source, src_bucket, src_key, p ? p->source_version_id : (sl_cursor){ 0 }));
    if (p == NULL) return SL_SUCCESS;
    GUARD(sl_buf_append_cursor(&m->source_if_match, p->source_if_match));
    GUARD(sl_buf_append_cursor(&m->source_version_id, p->source_version_id));
    m->replace_metadata = p->replace_metadata;
    if (p->replace_metadata) {
        GUARD(sl_buf_append_cursor(&m->content_type, p->content_type));
        for (size_t i = 0; i < p->metadata_count; i++)
            GUARD(op_pairs_add(&m->metadata_text, &m->metadata, p->metadata[2 * i], p->metadata[2 * i + 1]));
    }
    if (p->replace_tagging) GUARD(sl_buf_append_cursor(&m->tagging, p->tagging));
    return SL_SUCCESS;
}

sl_result s3_copy_object_sized(s3_client *c, sl_cursor src_bucket, sl_cursor src_key, uint64_t size,
                               sl_cursor dst_bucket, sl_cursor dst_key, const s3_copy_params *p, s3_object_fn *done,
                               void *user)
{
    if (size < c->multipart_threshold || size == 0)
        return s3_copy_object(c, src_bucket, src_key, dst_bucket, dst_key, p, done, user);
    GUARD(s3_check_key(src_bucket, src_key, true));
    GUARD(s3_check_key(dst_bucket, dst_key, true));
    uint64_t parts = (size + c->multipart_part_size - 1) / c->multipart_part_size;
    ENSURE(parts <= MULTIPART_MAX_PARTS, SL_ERR_LIMIT, "%llu bytes need %llu parts of %llu bytes; S3 allows %d",
           (unsigned long long)size, (unsigned long long)parts, (unsigned long long)c->multipart_part_size,
           MULTIPART_MAX_PARTS);
    ENSURE(p == NULL || !p->if_none_match_any, SL_ERR_UNSUPPORTED,
           "a multipart copy cannot be made conditional on the destination not existing");

    mpcopy *m = sl_calloc(1, sizeof(*m));
    m->client = c;
    m->not_after_ms = c->not_after_ms;
    m->size = size;
    m->part_size = c->multipart_part_size;
    m->part_count = (unsigned)parts;
    m->done = done;
    m->user = user;
    if (sl_failed(mp_take_params(m, src_bucket, src_key, dst_bucket, dst_key, p))) {
        mpcopy_free(m);
        return SL_FAILURE;
    }
    /* the first step: its failure is the caller's error, and no callback runs */
    op *head = mp_op_on(m, S3_OP_HEAD_OBJECT, true, mp_on_source_head);
    sl_result ok = head ? mp_build_source_head(m, head) : SL_FAILURE;
    if (sl_ok(ok)) ok = op_start(head);
    if (sl_failed(ok)) {
        if (head) op_free(head);
        mpcopy_free(m);
        return SL_FAILURE;
    }
    return SL_SUCCESS;
}
