/*
 * event_endpoint.h — the events listener (docs/events.md): S3 event notifications pushed
 * to the mover over HTTP on events.listen, served by its own API server on TCP
 * (api_options.tcp_listen), as /metrics is.
 *
 *   POST /events   an S3 event document (radosgw topic push endpoint, MinIO webhook) or,
 *                  with an x-amz-sns-message-type header, an SNS message (a notification,
 *                  or a subscription to confirm)
 *
 * Every request must carry the shared secret of events.secret_file: the password of HTTP
 * basic auth (any user name), `Authorization: Bearer SECRET`, or `?token=SECRET` in the
 * URL (radosgw 16 will not send a user and password over plain HTTP). It is compared in
 * constant time (events/secret.h); a missing or wrong one is answered 401 and the body
 * is never parsed. Then the document goes to the intake (events/intake.h), whose verdict
 * is the answer:
 *   200 {"documents","records","hinted","unknown","elsewhere","not_created","test_events"}
 *   400 bad_event      not an event document or SNS message
 *   401 unauthorized   no secret or a wrong one
 *   403 event_refused  SNS: a topic not in events.sns_topics, a certificate from elsewhere,
 *                      a bad signature
 *   413 body_too_large over EVENT_ENDPOINT_MAX_BODY
 *   503 unavailable    SNS: the certificate or the confirmation could not be fetched now
 * An event is only a hint: the mover lists the key itself and acts on what S3 shows.
 *
 * Threading: loop thread. Ownership: the endpoint borrows the loop and the pipeline
 * (they must outlive it) and owns its server, its intake, the HTTP engine that fetches
 * SNS certificates, and its copy of the secret (wiped when replaced or freed).
 * Errors: SL_ERR_IO (the secret file, the address), SL_ERR_INVALID_ARGUMENT.
 */
#ifndef SLUICE_API_EVENT_ENDPOINT_H
#define SLUICE_API_EVENT_ENDPOINT_H

#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "events/intake.h"
#include "pipeline/pipeline.h"
#include "util/error.h"

#define EVENT_ENDPOINT_PATH "/events"
#define EVENT_ENDPOINT_MAX_BODY ((size_t)512 << 10) /* SNS messages are at most 256 KiB */

typedef struct event_endpoint event_endpoint;

/* Totals since start: the intake's, and the requests refused before it. */
typedef struct event_endpoint_counts {
    events_counts intake;
    uint64_t unauthorized; /* requests without the secret (401) */
} event_endpoint_counts;

/* Reads the secret and listens on config->events.listen (the section must be present). */
SL_MUST_CHECK sl_result event_endpoint_start(uv_loop_t *loop, pipeline *p, const sl_config *config,
                                             event_endpoint **out);

/* A reloaded configuration with the same events.listen: the SNS topics and origins are
 * taken, and the secret file is read again (on error the old secret stays, and the
 * error is returned). Another address takes a new endpoint (the caller's business). */
SL_MUST_CHECK sl_result event_endpoint_reload(event_endpoint *e, const sl_config *config);

event_endpoint_counts event_endpoint_get_counts(const event_endpoint *e);

/* Stops listening; requests in flight are dropped. Run the loop afterwards (handles
 * close). NULL is fine. */
void event_endpoint_stop(event_endpoint *e);

#endif /* SLUICE_API_EVENT_ENDPOINT_H */
