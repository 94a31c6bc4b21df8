/*
 * executor_impl.h — what the executor (executor.c) shares with the row functions
 * (rows_intake.c: looks, admission, quarantine; rows_check.c: check and gate;
 * rows_settle.c: park, promote, leftovers, sweep). Private to mover/pipeline/.
 *
 * A row function starts the row's one request (or decides at once) and, when it has
 * the answer, calls executor_advance with the outcome — exactly once, possibly
 * synchronously. It never changes the artifact's state itself: the executor does that
 * when the next row is entered.
 */
#ifndef SLUICE_PIPELINE_EXECUTOR_IMPL_H
#define SLUICE_PIPELINE_EXECUTOR_IMPL_H

#include "pipeline/pipeline_impl.h"

/* The outcome class of an S3 answer (OK, ABSENT, CONFLICT, REFUSED, INDEFINITE). */
protocol_outcome classify(const s3_result *r);
/* Counts the request; true (and the artifact ended) when it was cancelled by a stop or
 * the pipeline is broken. */
bool abandoned(artifact *a, const s3_result *r);
/* abandoned() or executor_advance(classify(r)). */
void advance_s3(artifact *a, const s3_result *r);
/* Builds the trusted and quarantine keys when the layout can hold them. */
void build_keys(artifact *a);

/* Where the artifact's bytes are read from: its staging version (in place) or its
 * quarantine copy, with the ETag they must have. Cursors into the artifact. */
typedef struct artifact_source {
    sl_cursor bucket, key, etag, version_id;
} artifact_source;
artifact_source source_of(const artifact *a);

/* The artifact takes the manifest (and its ETag) it was loaded with; ownership moves. */
void take_manifest(artifact *a, artifact_manifest *m, const char *etag);

/* rows_intake.c */
void row_look_manifest(artifact *a);
void row_look_trusted(artifact *a);
void row_admit(artifact *a);
void row_quarantine_copy(artifact *a);
void row_quarantine_look(artifact *a);
void row_staging_delete(artifact *a);
/* A copy to the artifact's trusted key is about to be sent: every earlier look at that
 * key (any artifact's trusted_free) no longer tells, so promote_head will look again. */
void trusted_key_written(artifact *a);
/* rows_check.c */
void row_check(artifact *a);
void row_gate(artifact *a);
/* rows_settle.c */
void row_ok(artifact *a);
void row_park_manifest(artifact *a);
void row_park_manifest_look(artifact *a);
void row_promote_copy(artifact *a);
void row_update_manifest(artifact *a);
void row_source_delete(artifact *a);
void row_leftover_record(artifact *a);
void row_sweep_manifest(artifact *a);
void row_purge_delete(artifact *a);

#endif /* SLUICE_PIPELINE_EXECUTOR_IMPL_H */
