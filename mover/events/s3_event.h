/*
 * s3_event.h — the S3 event notification JSON (the "Records" document of AWS S3 event
 * notifications, event versions 2.x), as radosgw topics with an HTTP endpoint, MinIO
 * webhooks and SNS messages carry it. Only what the mover uses is kept: for each record
 * its kind (created, removed, other), bucket, key and version id. Everything else an event
 * says — ETag, size, time — is ignored on purpose: events are hints (pipeline_hint), the
 * mover looks at the object itself.
 *
 * Keys. AWS S3 and MinIO write the key URL-encoded as in a form ("+" for a space, %XX for
 * other bytes); radosgw (eventSource "ceph:s3") writes it as it is. The parser decodes
 * by the record's eventSource and checks the result: valid UTF-8, no NUL, 1..1024 bytes.
 *
 * Also accepted: the S3 test event ({"Event": "s3:TestEvent", ...}: no records) and
 * MinIO's webhook body (its "EventName"/"Key" members beside "Records").
 *
 * Errors are SL_ERR_PARSE (or SL_ERR_LIMIT) and name the member: "Records[2].s3.object.key:
 * expected a string"; on error nothing is returned. Threading: pure.
 */
#ifndef SLUICE_EVENTS_S3_EVENT_H
#define SLUICE_EVENTS_S3_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"

#define S3_EVENT_MAX_RECORDS 1000
#define S3_EVENT_MAX_BODY ((size_t)256 << 10) /* bytes of a document the parser reads */
#define S3_EVENT_MAX_KEY 1024

typedef enum s3_event_kind {
    S3_EVENT_CREATED, /* ObjectCreated:* (Put, Post, Copy, CompleteMultipartUpload) */
    S3_EVENT_REMOVED, /* ObjectRemoved:* */
    S3_EVENT_OTHER,   /* any other event name (tagging, restore, lifecycle ...) */
} s3_event_kind;

typedef struct s3_event_record {
    s3_event_kind kind;
    char *bucket;      /* 1..255 bytes */
    char *key;         /* decoded; 1..S3_EVENT_MAX_KEY bytes of UTF-8 without NUL */
    size_t key_len;
    char *version_id;  /* NULL when the record has none */
} s3_event_record;

typedef struct s3_event_batch {
    s3_event_record *records;
    size_t count;
    bool test_event;   /* an "s3:TestEvent" (sent when a notification is configured) */
} s3_event_batch;

/* Parses a document (at most S3_EVENT_MAX_BODY bytes). On success *out holds the
 * records (possibly none); release it with s3_event_batch_clean_up. */
SL_MUST_CHECK sl_result s3_event_parse(sl_cursor body, s3_event_batch *out);

void s3_event_batch_clean_up(s3_event_batch *batch);

/* Decodes a form-urlencoded key ("+" is a space, %XX a byte) into `out` (appended).
 * SL_ERR_PARSE for a bad escape. */
SL_MUST_CHECK sl_result s3_event_decode_key(sl_cursor encoded, sl_buf *out);

#endif /* SLUICE_EVENTS_S3_EVENT_H */
