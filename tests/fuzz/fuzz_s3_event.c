/*
 * fuzz_s3_event.c — libFuzzer target over the S3 event document parser
 * (mover/events/s3_event.c). Invariants: a refused document leaves the batch empty; an
 * accepted one has at most 1000 records, each with a bucket and a key of 1..1024 bytes of
 * UTF-8 without NUL; and the records survive a round trip — written again as an AWS
 * document (every key byte percent-encoded) and as a radosgw one (raw keys), both parse
 * into the same records.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events/s3_event.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *name_of(s3_event_kind kind)
{
    return kind == S3_EVENT_CREATED ? "ObjectCreated:Put" : kind == S3_EVENT_REMOVED ? "ObjectRemoved:Delete" : "Other";
}

/* The batch as a document of `source`; keys percent-encoded unless raw. */
static char *rewrite(const s3_event_batch *b, const char *source, bool raw)
{
    json_t *records = json_array();
    for (size_t i = 0; i < b->count; i++) {
        const s3_event_record *r = &b->records[i];
        json_t *key;
        if (raw) {
            key = json_stringn(r->key, r->key_len);
        } else {
            char *enc = malloc(r->key_len * 3 + 1);
            for (size_t k = 0; k < r->key_len; k++) sprintf(enc + 3 * k, "%%%02X", (unsigned char)r->key[k]);
            key = json_string(enc);
            free(enc);
        }
        json_t *object = json_pack("{s:o}", "key", key);
        if (r->version_id) json_object_set_new(object, "versionId", json_string(r->version_id));
        json_array_append_new(records, json_pack("{s:s, s:s, s:{s:{s:s}, s:o}}", "eventSource", source, "eventName",
                                                 name_of(r->kind), "s3", "bucket", "name", r->bucket, "object", object));
    }
    json_t *doc = json_pack("{s:o}", "Records", records);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static void same(const s3_event_batch *a, const s3_event_batch *b)
{
    if (a->count != b->count) abort();
    for (size_t i = 0; i < a->count; i++) {
        const s3_event_record *x = &a->records[i], *y = &b->records[i];
        if (x->kind != y->kind || x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
            strcmp(x->bucket, y->bucket) != 0 || (x->version_id == NULL) != (y->version_id == NULL) ||
            (x->version_id && strcmp(x->version_id, y->version_id) != 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s3_event_batch b;
    memset(&b, 0xa5, sizeof(b));
    if (sl_failed(s3_event_parse(sl_cursor_from_bytes(data, size), &b))) {
        if (b.records != NULL || b.count != 0 || b.test_event) abort();
        return 0;
    }
    if (b.count > S3_EVENT_MAX_RECORDS) abort();
    for (size_t i = 0; i < b.count; i++) {
        const s3_event_record *r = &b.records[i];
        if (r->bucket == NULL || r->bucket[0] == '\0' || r->key_len == 0 || r->key_len > S3_EVENT_MAX_KEY) abort();
        if (memchr(r->key, '\0', r->key_len) != NULL || !sl_utf8_valid(sl_cursor_from_bytes(r->key, r->key_len), NULL))
            abort();
    }
    for (int raw = 0; raw <= 1; raw++) {
        char *text = rewrite(&b, raw ? "ceph:s3" : "aws:s3", raw);
        if (text == NULL) abort();
        s3_event_batch again;
        if (sl_ok(s3_event_parse(sl_cursor_from_cstr(text), &again))) {
            same(&b, &again);
            s3_event_batch_clean_up(&again);
        } else if (strlen(text) <= S3_EVENT_MAX_BODY) {
            abort(); /* what was accepted must be accepted again (unless encoding made it too long) */
        }
        free(text);
    }
    s3_event_batch_clean_up(&b);
    return 0;
}
