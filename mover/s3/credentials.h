/*
 * credentials.h — an AWS access key pair (and optional session token), and where
 * sluice finds one: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN) or an AWS-style shared credentials file and profile.
 *
 * Ownership: an s3_credentials owns its strings; s3_credentials_clean_up wipes them
 * (OPENSSL_cleanse) and frees them. Secrets never appear in error details.
 * Threading: none; load once, then share read-only.
 */
#ifndef SLUICE_S3_CREDENTIALS_H
#define SLUICE_S3_CREDENTIALS_H

#include "util/error.h"

typedef struct s3_credentials {
    char *access_key_id;     /* never NULL once loaded */
    char *secret_access_key; /* never NULL once loaded */
    char *session_token;     /* NULL when there is none */
} s3_credentials;

/* Copies the given strings (token may be NULL). Empty key id or secret: SL_ERR_INVALID_ARGUMENT. */
SL_MUST_CHECK sl_result s3_credentials_init(s3_credentials *creds, const char *access_key_id,
                                            const char *secret_access_key,
                                            const char *session_token);

/* From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Missing: SL_ERR_NOT_FOUND. */
SL_MUST_CHECK sl_result s3_credentials_from_env(s3_credentials *creds);

/* From an AWS shared credentials file ([profile] sections of key = value lines;
 * aws_access_key_id, aws_secret_access_key, aws_session_token). Errors name the file,
 * the line and the profile. On error *creds is left zeroed. */
SL_MUST_CHECK sl_result s3_credentials_from_file(s3_credentials *creds, const char *path,
                                                 const char *profile);

/* Wipes and frees; accepts NULL and zeroed structs. */
void s3_credentials_clean_up(s3_credentials *creds);

#endif /* SLUICE_S3_CREDENTIALS_H */
