/*
 * setup_cmd.h — `sluice-mover events setup`: makes an S3 server (radosgw) push the staging
 * bucket's ObjectCreated events to the mover's listener (docs/events.md).
 *
 *   sluice-mover events setup -c CONFIG --push-endpoint URL [--topic NAME] [--persistent]
 *
 * With the mover's credentials (s3.credentials; the staging bucket's owner) it sends
 * CreateTopic (the SNS query API on the S3 endpoint, form-encoded, signed for "sns") with
 * the attributes push-endpoint=URL?token=<events.secret_file> and persistent=true|false,
 * then PutBucketNotificationConfiguration on buckets.staging: one TopicConfiguration
 * (id "sluice", s3:ObjectCreated:*) naming the ARN CreateTopic answered. Running it
 * again with the same topic updates the topic and leaves one notification; radosgw adds
 * a notification of another --topic beside the first (each upload then sends two events).
 *
 * URL is http(s)://host[:port]/path without a query or user info (the secret is added as
 * ?token=, which radosgw 16 accepts over plain HTTP where it refuses a password). Prints
 * the topic ARN. Exit 0 done, 1 failed (config, secret, S3), 2 bad arguments.
 *
 * Threading: runs its own loop. Ownership: nothing outlives the call.
 */
#ifndef SLUICE_EVENTS_SETUP_CMD_H
#define SLUICE_EVENTS_SETUP_CMD_H

#include <stdio.h>

/* argv[0] is "setup". */
int events_setup_command(int argc, char **argv, FILE *out, FILE *err);

#endif /* SLUICE_EVENTS_SETUP_CMD_H */
