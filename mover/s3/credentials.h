/*
 * credentials.h — an AWS access key pair (and optional session token), and where
 * sluice finds one: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN) or an AWS-style shared credentials file and profile. The caller
 * names the file and profile explicitly (from sluice's configuration); this module
 * reads no AWS_SHARED_CREDENTIALS_FILE / AWS_PROFILE variables and no ~/.aws default.
 *
 * The shared credentials file, as the AWS CLI reads it:
 *   - `[name]` starts the section of profile `name` (spaces inside the brackets are
 *     trimmed; a `#` or `;` comment may follow the `]`). `[profile name]` is the
 *     *config*-file form: in the credentials file that section is the profile called
 *     "profile name", so it does not match `name` (the not-found error points it out).
 *   - `key = value` lines; spaces and tabs around key and value are trimmed. Keys are
 *     the lower-case names aws_access_key_id, aws_secret_access_key and
 *     aws_session_token; other keys are ignored; a known key in another case is
 *     rejected rather than silently skipped. Values are taken verbatim otherwise (a `#`
 *     or `;` inside a value is part of it).
 *   - Whole-line `#` and `;` comments and blank lines; CRLF line ends; a UTF-8 BOM.
 *   - Not supported: indented continuation lines / sub-properties (an indented line is
 *     an ordinary line).
 *   - Errors: a line that is neither of the above, or a key = value line before any
 *     section, is SL_ERR_PARSE ("file:line: ..."); the chosen profile appearing twice or
 *     repeating a key is SL_ERR_PARSE; a missing or empty key id or secret, or an empty
 *     session token, is SL_ERR_PARSE; an absent profile is SL_ERR_NOT_FOUND; a file
 *     that cannot be opened or read is SL_ERR_IO; a file over 1 MiB is SL_ERR_LIMIT.
 *
 * Ownership: an s3_credentials owns its strings; s3_credentials_clean_up wipes them
 * (OPENSSL_cleanse) and frees them. Secrets never appear in error details (details
 * name the file, line number, profile and key name, never a line's contents), and the
 * file's bytes are wiped from memory after parsing, on success and on error.
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

/* Copies the given strings (token may be NULL). Empty key id or secret, or an empty
 * (non-NULL) token: SL_ERR_INVALID_ARGUMENT. *creds is overwritten, not cleaned up
 * first; on error it is left zeroed. */
SL_MUST_CHECK sl_result s3_credentials_init(s3_credentials *creds, const char *access_key_id,
                                            const char *secret_access_key,
                                            const char *session_token);

/* From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Missing or empty
 * key id or secret: SL_ERR_NOT_FOUND (the detail names the variable). An empty
 * AWS_SESSION_TOKEN counts as unset. On error *creds is left zeroed. */
SL_MUST_CHECK sl_result s3_credentials_from_env(s3_credentials *creds);

/* From an AWS shared credentials file ([profile] sections of key = value lines;
 * aws_access_key_id, aws_secret_access_key, aws_session_token; the format and error
 * codes are described at the top of this file). Errors name the file, the line and the
 * profile. On error *creds is left zeroed. */
SL_MUST_CHECK sl_result s3_credentials_from_file(s3_credentials *creds, const char *path,
                                                 const char *profile);

/* Wipes and frees; accepts NULL and zeroed structs. */
void s3_credentials_clean_up(s3_credentials *creds);

#endif /* SLUICE_S3_CREDENTIALS_H */
