/*
 * s3_event.c — parsing the S3 event notification JSON (see s3_event.h). The document is
 * read with jansson (duplicate members refused); each record's eventSource, eventName,
 * s3.bucket.name, s3.object.key and s3.object.versionId are taken, checked and copied.
 * The event structure follows the AWS documentation "Event message structure" (event
 * versions 2.1–2.3); radosgw 16 sends version 2.2 with eventSource "ceph:s3" and raw keys.
 */
#include "events/s3_event.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/json_read.h"
#include "util/utf8.h"

#define MAX_BUCKET 255
#define MAX_VERSION_ID 1024

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

sl_result s3_event_decode_key(sl_cursor in, sl_buf *out)
{
    size_t mark = out->len;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (c == '+') c = ' ';
        else if (c == '%') {
            int hi = i + 2 < in.len ? hex_value(in.ptr[i + 1]) : -1;
            int lo = i + 2 < in.len ? hex_value(in.ptr[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                out->len = mark;
                RAISE(SL_ERR_PARSE, "a \"%%\" at byte %zu is not followed by two hex digits", i);
            }
            c = (uint8_t)(hi * 16 + lo);
            i += 2;
        }
        sl_result r = sl_buf_append_byte(out, c);
        if (sl_failed(r)) {
            out->len = mark;
            return r;
        }
    }
    return SL_SUCCESS;
}

static void record_clean_up(s3_event_record *r)
{
    sl_free(r->bucket);
    sl_free(r->key);
    sl_free(r->version_id);
}

void s3_event_batch_clean_up(s3_event_batch *b)
{
    if (b == NULL) return;
    for (size_t i = 0; i < b->count; i++) record_clean_up(&b->records[i]);
    sl_free(b->records);
    *b = (s3_event_batch){ 0 };
}

/* A string member at `path` of an object, or NULL (absent or not a string: *wrong). */
static const char *string_at(json_t *obj, const char *name, bool *wrong)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL) return NULL;
    if (!json_is_string(v)) {
        *wrong = true;
        return NULL;
    }
    return json_string_value(v);
}

static s3_event_kind kind_of(const char *name)
{
    if (strncmp(name, "s3:", 3) == 0) name += 3; /* MinIO and SNS-wrapped forms */
    if (strncmp(name, "ObjectCreated:", 14) == 0) return S3_EVENT_CREATED;
    if (strncmp(name, "ObjectRemoved:", 14) == 0) return S3_EVENT_REMOVED;
    return S3_EVENT_OTHER;
}

static sl_result bad(size_t index, const char *member, const char *what)
{
    return sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "Records[%zu].%s: %s", index, member, what);
}

/* The checked, decoded key of record `index`. */
static sl_result read_key(size_t index, const char *source, json_t *object, s3_event_record *out)
{
    json_t *kv = json_object_get(object, "key");
    if (!json_is_string(kv)) return bad(index, "s3.object.key", "expected a string");
    sl_cursor raw = sl_cursor_from_bytes(json_string_value(kv), json_string_length(kv));
    sl_buf key = { 0 };
    sl_result r = strcmp(source, "ceph:s3") == 0 ? sl_buf_append_cursor(&key, raw) : s3_event_decode_key(raw, &key);
    if (sl_failed(r)) {
        char detail[256];
        snprintf(detail, sizeof(detail), "not a URL-encoded key: %s", sl_error_detail());
        sl_buf_clean_up(&key);
        return bad(index, "s3.object.key", detail);
    }
    const char *why = NULL;
    if (key.len == 0 || key.len > S3_EVENT_MAX_KEY) why = "expected a key of 1 to 1024 bytes";
    else if (memchr(key.data, '\0', key.len) != NULL) why = "a key holds no NUL byte";
    else if (!sl_utf8_valid(sl_cursor_from_buf(&key), NULL)) why = "a key is UTF-8";
    if (why != NULL) {
        sl_buf_clean_up(&key);
        return bad(index, "s3.object.key", why);
    }
    out->key_len = key.len;
    out->key = sl_buf_steal(&key);
    return SL_SUCCESS;
}

static sl_result read_record(size_t index, json_t *rec, s3_event_record *out)
{
    if (!json_is_object(rec)) return bad(index, "", "expected an object");
    bool wrong = false;
    const char *source = string_at(rec, "eventSource", &wrong);
    const char *name = string_at(rec, "eventName", &wrong);
    if (wrong || source == NULL) return bad(index, "eventSource", "expected a string");
    if (name == NULL) return bad(index, "eventName", "expected a string");
    json_t *s3 = json_object_get(rec, "s3");
    json_t *bucket = json_is_object(s3) ? json_object_get(s3, "bucket") : NULL;
    json_t *object = json_is_object(s3) ? json_object_get(s3, "object") : NULL;
    if (!json_is_object(bucket) || !json_is_object(object)) return bad(index, "s3", "expected bucket and object objects");
    const char *bucket_name = string_at(bucket, "name", &wrong);
    if (wrong || bucket_name == NULL || bucket_name[0] == '\0' || strlen(bucket_name) > MAX_BUCKET ||
        !sl_utf8_valid(sl_cursor_from_cstr(bucket_name), NULL))
        return bad(index, "s3.bucket.name", "expected a bucket name");
    const char *version = string_at(object, "versionId", &wrong);
    if (wrong || (version != NULL && strlen(version) > MAX_VERSION_ID))
        return bad(index, "s3.object.versionId", "expected a string of at most 1024 bytes");
    GUARD(read_key(index, source, object, out));
    out->kind = kind_of(name);
    out->bucket = sl_strdup(bucket_name);
    out->version_id = version != NULL && version[0] != '\0' ? sl_strdup(version) : NULL;
    return SL_SUCCESS;
}

sl_result s3_event_parse(sl_cursor body, s3_event_batch *out)
{
    *out = (s3_event_batch){ 0 };
    ENSURE(body.len <= S3_EVENT_MAX_BODY, SL_ERR_LIMIT, "the event document is %zu bytes, over %zu", body.len,
           S3_EVENT_MAX_BODY);
    json_error_t err;
    json_t *doc = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) RAISE(SL_ERR_PARSE, "not JSON: %s at line %d", err.text, err.line);
    sl_result result = SL_FAILURE;
    s3_event_batch b = { 0 };
    json_t *records = NULL;
    if (!json_is_object(doc)) {
        sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "expected a JSON object");
        goto cleanup;
    }
    records = json_object_get(doc, "Records");
    if (records == NULL) {
        const char *event = json_string_value(json_object_get(doc, "Event"));
        if (event == NULL || strcmp(event, "s3:TestEvent") != 0) {
            sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "Records: missing (and not an s3:TestEvent)");
            goto cleanup;
        }
        b.test_event = true;
        result = SL_SUCCESS;
        goto cleanup;
    }
    if (!json_is_array(records)) {
        sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "Records: expected an array");
        goto cleanup;
    }
    size_t n = json_array_size(records);
    if (n > S3_EVENT_MAX_RECORDS) {
        sl_error_raise(SL_ERR_LIMIT, __FILE__, __LINE__, "Records: %zu records, at most %d", n, S3_EVENT_MAX_RECORDS);
        goto cleanup;
    }
    b.records = sl_calloc(n ? n : 1, sizeof(*b.records));
    for (size_t i = 0; i < n; i++) {
        if (sl_failed(read_record(i, json_array_get(records, i), &b.records[i]))) {
            record_clean_up(&b.records[i]);
            goto cleanup;
        }
        b.count++;
    }
    result = SL_SUCCESS;
cleanup:
    json_decref(doc);
    if (sl_failed(result)) s3_event_batch_clean_up(&b);
    else *out = b;
    return result;
}
