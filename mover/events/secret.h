/*
 * secret.h — the shared secret an S3 server sends with every event notification
 * (events.secret_file): how it is read and how a sender's copy is compared.
 *
 * The file holds the secret alone (one trailing newline is dropped): 16 to 1024 bytes of
 * printable ASCII without spaces (it travels in an Authorization header or a URL query),
 * and nobody but its owner may read or write it (mode 0600 or stricter). Comparison is in
 * constant time: both sides are hashed (SHA-256) and the digests compared with
 * CRYPTO_memcmp, so neither the bytes nor the length of the secret leak through timing.
 *
 * Threading: pure. Ownership: the secret lives in an sl_buf the caller wipes with
 * sl_buf_clean_up_secure.
 */
#ifndef SLUICE_EVENTS_SECRET_H
#define SLUICE_EVENTS_SECRET_H

#include <stdbool.h>

#include "util/buf.h"
#include "util/error.h"

#define EVENTS_SECRET_MIN 16
#define EVENTS_SECRET_MAX 1024

/* Reads and checks the file. Errors: SL_ERR_IO (unreadable, or others may read or write
 * it: the detail names the fix), SL_ERR_INVALID_ARGUMENT (length or characters). */
SL_MUST_CHECK sl_result events_secret_load(const char *path, sl_buf *out);

/* Whether `given` is the secret (constant time; an empty secret never matches). */
bool events_secret_matches(const sl_buf *secret, sl_cursor given);

/* The secret a request carries: the password of `Authorization: Basic` (any user name),
 * the token of `Authorization: Bearer`, or the `token` parameter of the query (for S3
 * servers that will not send credentials over plain HTTP: radosgw 16). Empty if none. */
sl_cursor events_secret_presented(sl_cursor authorization, sl_cursor query, sl_buf *scratch);

#endif /* SLUICE_EVENTS_SECRET_H */
