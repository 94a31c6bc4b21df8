/*
 * store.h — manifests in S3: load one (GET, parsed strictly) and save one with the
 * conditional writes that keep two writers from overwriting each other — create with
 * If-None-Match: *, update with If-Match on the ETag it was loaded with. A lost race
 * surfaces as PreconditionFailed: reload and decide again. Artifact manifests are typed
 * here; any other manifest (the task registry's) goes through the raw read and write.
 *
 * Threading: the loop thread (it uses the S3 client). Callbacks are asynchronous and run
 * once for every call that returned SL_SUCCESS.
 */
#ifndef SLUICE_STATE_STORE_H
#define SLUICE_STATE_STORE_H

#include "s3/client.h"
#include "state/manifest.h"
#include "util/error.h"

typedef struct manifest_store {
    s3_client *client;
    const char *bucket;         /* the control bucket (borrowed) */
    const char *control_prefix; /* "sluice/" (borrowed) */
} manifest_store;

/* ---- raw manifests by key (artifact manifests below, task manifests in mover/tasks) ---- */

/* `body` (at most max_bytes) and `etag` are valid during the callback, and set only when
 * result->error is SL_OK. A missing object: SL_ERR_S3 with NoSuchKey; one larger than
 * max_bytes: SL_ERR_LIMIT. */
typedef void manifest_read_fn(void *user, const s3_result *result, sl_cursor body, const char *etag);

SL_MUST_CHECK sl_result manifest_store_read(const manifest_store *store, sl_cursor key, size_t max_bytes,
                                            manifest_read_fn *done, void *user);

/* Saves `body` (copied) at `key`: create-only (If-None-Match: *) when if_match is NULL,
 * else only over that ETag. */
typedef void manifest_saved_fn(void *user, const s3_result *result, const char *etag);

SL_MUST_CHECK sl_result manifest_store_write(const manifest_store *store, sl_cursor key, sl_cursor body,
                                             const char *if_match, manifest_saved_fn *done, void *user);

/* ---- artifact manifests ---- */

/* `manifest` is NULL unless result->error is SL_OK; the callback OWNS it (clean up and
 * free with manifest_store_release). A missing manifest: SL_ERR_S3 with NoSuchKey. A
 * manifest that does not parse: SL_ERR_PARSE. `etag` is the manifest's (for updates). */
typedef void manifest_loaded_fn(void *user, const s3_result *result, artifact_manifest *manifest,
                                const char *etag);

SL_MUST_CHECK sl_result manifest_store_load(const manifest_store *store, const char *id, manifest_loaded_fn *done,
                                            void *user);

/* Saves `m` (copied): create-only when if_match is NULL, else only over that ETag. */

SL_MUST_CHECK sl_result manifest_store_save(const manifest_store *store, const artifact_manifest *m,
                                            const char *if_match, manifest_saved_fn *done, void *user);

/* Cleans up and frees a manifest handed out by manifest_store_load; NULL is fine. */
void manifest_store_release(artifact_manifest *m);

#endif /* SLUICE_STATE_STORE_H */
