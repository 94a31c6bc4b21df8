/*
 * s3_access.h — S3 for the commands that read it directly, without the daemon
 * (`sluice-review verify`, `sluice-review audit verify --shipped`): which endpoint,
 * region and credentials, a client on a private libuv loop, and s3:// URLs.
 *
 * The endpoint is --endpoint, else $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL, else
 * s3.endpoint of -c FILE, else https://s3.REGION.amazonaws.com; the region --region,
 * else $AWS_REGION, else $AWS_DEFAULT_REGION, else s3.region of -c FILE, else
 * us-east-1. Credentials are the caller's own: --profile NAME from
 * $AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials), else the environment
 * (AWS_ACCESS_KEY_ID, …); with `config_credentials` (the auditor's command) the
 * configuration's s3.credentials come before the environment. Addressing is path style
 * for an explicit endpoint, as the configuration says with -c, virtual-hosted on AWS.
 *
 * Threading: one thread; review_s3_wait runs the private loop until *done is set.
 * Ownership: review_s3 owns its loop, client, credentials and configuration.
 */
#ifndef SLUICE_REVIEW_S3_ACCESS_H
#define SLUICE_REVIEW_S3_ACCESS_H

#include <stdbool.h>

#include <uv.h>

#include "config/config.h"
#include "s3/client.h"
#include "s3/credentials.h"
#include "util/error.h"

typedef struct review_s3_options {
    const char *endpoint;    /* may be NULL */
    const char *region;      /* may be NULL */
    const char *profile;     /* may be NULL */
    const char *config_path; /* may be NULL */
    bool config_credentials; /* take credentials from the configuration first */
} review_s3_options;

typedef struct review_s3 {
    uv_loop_t loop;
    bool loop_ready;
    s3_client *client;
    s3_credentials credentials;
    sl_config *config; /* loaded from config_path, or NULL */
    char *endpoint;
} review_s3;

/* Opens the client. Errors (the detail says what to set): SL_ERR_INVALID_ARGUMENT (no
 * credentials, a bad endpoint), SL_ERR_IO / SL_ERR_PARSE (configuration or credentials
 * file). On error everything made is released. */
SL_MUST_CHECK sl_result review_s3_open(review_s3 *s, const review_s3_options *options);

/* Runs the loop until *done (set by a callback). */
void review_s3_wait(review_s3 *s, const bool *done);

void review_s3_close(review_s3 *s);

/* One page of ListObjectsV2 under `prefix` (after `start_after` when non-empty, from
 * `token` when non-empty), at most max_keys (0: the server's 1000). *keys gets
 * freshly allocated key strings (free each and the array with sl_free), *next the
 * continuation token ("" on the last page; freshly allocated). On an S3 error the detail
 * is the client's one-line description. */
SL_MUST_CHECK sl_result review_s3_list_page(review_s3 *s, const char *bucket, const char *prefix,
                                            const char *start_after, const char *token, uint32_t max_keys,
                                            char ***keys, size_t *count, char **next);
void review_s3_free_keys(char **keys, size_t count);

/* Called with the answer's headers (user metadata, Content-Type) before the body. */
typedef void review_s3_headers_fn(void *user, const s3_object_info *info);
/* Called with each chunk of the body, in order. */
typedef void review_s3_chunk_fn(void *user, const uint8_t *data, size_t len);

/* GET of a whole object, streamed to the callbacks. Errors: the client's (SL_ERR_S3
 * with the S3 code in the detail, transport errors, a body cut short). */
SL_MUST_CHECK sl_result review_s3_get(review_s3 *s, const char *bucket, const char *key,
                                      review_s3_headers_fn *on_headers, review_s3_chunk_fn *on_chunk, void *user);

/* An answer's user metadata and Content-Type, kept beyond the headers callback. */
typedef struct review_s3_metadata {
    char **strings;     /* name, value, … (owned) */
    sl_cursor *pairs;   /* the same as cursors: name, value, … */
    size_t count;       /* pairs */
    char *content_type; /* "" when none */
} review_s3_metadata;

/* Copies info's metadata and Content-Type into m (replacing what it held). */
void review_s3_metadata_keep(review_s3_metadata *m, const s3_object_info *info);
void review_s3_metadata_clean_up(review_s3_metadata *m);

/* Splits "s3://bucket/key" into freshly allocated parts (key may be ""); false if the
 * URL is not of that form (no bucket, another scheme). */
bool review_s3_parse_url(const char *url, char **bucket, char **key);

#endif /* SLUICE_REVIEW_S3_ACCESS_H */
