/*
 * intake.h — what the mover does with an S3 event notification it was sent (docs/events.md):
 * the document is parsed (s3_event.h), or, for an SNS HTTP subscription, the envelope is
 * parsed and its signature verified first (sns.h: the topic must be one of
 * events.sns_topics, the signing certificate is fetched only from events.sns_origins and
 * cached), and every ObjectCreated record becomes a hint to the pipeline (pipeline_hint):
 * the mover looks at the key itself. Other records (removals, tagging, ...) are ignored
 * and counted, as are records of another bucket or of no route's prefix. An SNS
 * subscription is confirmed by a GET of its SubscribeURL (also only under sns_origins).
 *
 * The caller (api/event_endpoint.c) has authenticated the sender with the shared secret;
 * this module knows nothing of HTTP servers: it answers with a verdict the endpoint maps
 * to a status.
 *
 * Threading: loop thread. Ownership: the intake borrows the pipeline and the HTTP engine
 * (they must outlive it) and copies what it keeps of the configuration.
 */
#ifndef SLUICE_EVENTS_INTAKE_H
#define SLUICE_EVENTS_INTAKE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "pipeline/pipeline.h"
#include "s3/http.h"
#include "util/buf.h"
#include "util/error.h"

typedef struct events_intake events_intake;

typedef enum events_verdict {
    EVENTS_OK,          /* taken (its records hinted, ignored or counted) */
    EVENTS_BAD_REQUEST, /* not an event document or SNS envelope */
    EVENTS_FORBIDDEN,   /* SNS: a topic not accepted, a certificate from elsewhere, a bad signature */
    EVENTS_UNAVAILABLE, /* SNS: the certificate or the confirmation could not be fetched now */
} events_verdict;

/* What one document held (for the answer), and the totals since start. */
typedef struct events_counts {
    uint64_t documents;      /* accepted documents (SNS envelopes included) */
    uint64_t records;        /* records in them */
    uint64_t hinted;         /* ObjectCreated records handed to the pipeline */
    uint64_t unknown;        /* ... of another bucket or under no route's prefix (ignored) */
    uint64_t elsewhere;      /* ... in a shard another mover holds, or not now (the next listing) */
    uint64_t not_created;    /* removals and other events (ignored) */
    uint64_t test_events;    /* s3:TestEvent */
    uint64_t rejected;       /* documents refused (bad, forbidden) */
    uint64_t sns_confirmed;  /* subscriptions confirmed */
} events_counts;

typedef void events_done_fn(void *user, events_verdict verdict, const char *detail, const events_counts *document);

typedef struct events_options {
    uv_loop_t *loop;
    pipeline *pipeline;
    s3_http *http;           /* fetches SNS certificates and confirmation URLs */
} events_options;

SL_MUST_CHECK sl_result events_intake_new(const events_options *options, const sl_config *config,
                                          events_intake **out);

/* Takes the SNS topics and origins of a reloaded configuration. */
void events_intake_reload(events_intake *in, const sl_config *config);

/* Handles one document: `sns` when the sender said it is an SNS envelope (the
 * x-amz-sns-message-type header). `done` runs exactly once, possibly before this returns
 * (a plain event document is handled at once; SNS may wait for a certificate). */
void events_intake_submit(events_intake *in, sl_cursor body, bool sns, events_done_fn *done, void *user);

events_counts events_intake_get_counts(const events_intake *in);

/* Frees it; SNS work still waiting answers EVENTS_UNAVAILABLE first. Destroy the HTTP
 * engine before (its requests call back with a cancellation). */
void events_intake_destroy(events_intake *in);

#endif /* SLUICE_EVENTS_INTAKE_H */
