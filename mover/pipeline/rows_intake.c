/*
 * rows_intake.c — the rows that take an upload in: the looks that decide whether a
 * listed version was handled before (a manifest of its id, a trusted object carrying its
 * id), admission (the key fits the layout; the task is open and within its limits), and
 * the quarantine copy with its look and the staging delete. Each row makes one request
 * and reports its outcome to executor_advance (see executor_impl.h).
 */
#include "pipeline/executor_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

static const char *staging_bucket(const artifact *a) { return a->cfg->config->buckets.staging; }
static const char *quarantine_bucket(const artifact *a) { return a->cfg->config->buckets.quarantine; }

/* ---- looks ---- */

static void manifest_looked(void *user, const s3_result *r, artifact_manifest *m, const char *etag)
{
    artifact *a = user;
    if (abandoned(a, r)) {
        manifest_store_release(m);
        return;
    }
    if (r->error == SL_ERR_PARSE) {
        log_artifact(SL_LOG_ERROR, "manifest_invalid", a, r->detail);
        executor_advance(a, OUT_REFUSED, r->detail);
        return;
    }
    if (r->error != SL_OK) {
        executor_advance(a, classify(r), r->detail);
        return;
    }
    take_manifest(a, m, etag);
    executor_advance(a, OUT_OURS, "a manifest of this id exists");
}

/* LOOK_MANIFEST, ADOPT_MANIFEST: is there a manifest of this id? */
void row_look_manifest(artifact *a)
{
    if (a->loaded != NULL) {
        executor_advance(a, OUT_OURS, "a manifest of this id exists");
        return;
    }
    manifest_store store = pipeline_store(a->p, a->cfg);
    if (sl_failed(manifest_store_load(&store, a->id, manifest_looked, a)))
        executor_advance(a, OUT_REFUSED, sl_error_detail());
}

static bool carries_id(const artifact *a, const s3_object_info *info)
{
    for (size_t i = 0; i < info->metadata_count; i++)
        if (sl_cursor_eq_ignore_case(info->metadata[2 * i], sl_cursor_from_cstr("sluice-artifact")) &&
            sl_cursor_eq(info->metadata[2 * i + 1], sl_cursor_from_cstr(a->id)))
            return true;
    return false;
}

static void trusted_looked(void *user, const s3_result *r, const s3_object_info *info)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    if (r->error != SL_OK) {
        protocol_outcome o = classify(r);
        /* free, unless a copy to the key was sent since the HEAD was (which cleared it) */
        a->trusted_free = a->trusted_free && o == OUT_ABSENT;
        executor_advance(a, o, r->detail);
        return;
    }
    a->trusted_free = false;
    if (carries_id(a, info)) {
        executor_advance(a, OUT_OURS, "the trusted key carries this artifact's id");
        return;
    }
    char *why = sl_strdup_printf("trusted key %s already holds other bytes; never overwritten", a->trusted_key);
    executor_advance(a, OUT_CONFLICT, why);
    sl_free(why);
}

/* LOOK_TRUSTED, PROMOTE_HEAD, PROMOTE_LOOK, SWEEP_TRUSTED: whose object is at the
 * trusted key? An answer "free" stands for promote_head later only if no other artifact
 * of this process holds the key for its promotion now (its copy may be on its way: the
 * lock is held from promote_head until the copy's answer or look) and no copy to the key
 * is sent before promote_head (trusted_key_written). */
void row_look_trusted(artifact *a)
{
    a->trusted_free = false;
    if (a->trusted_key == NULL) {
        /* the layout cannot hold it: nothing can be there (admission rejects it) */
        bool promoting = a->row == ROW_PROMOTE_HEAD || a->row == ROW_PROMOTE_LOOK;
        executor_advance(a, promoting ? OUT_REFUSED : OUT_ABSENT, "the trusted key would be over S3's 1,024 bytes");
        return;
    }
    a->trusted_free = a->holds_key || !strset_contains(&a->p->promoting, sl_cursor_from_cstr(a->trusted_key));
    if (sl_failed(s3_head_object(a->p->opt.client, sl_cursor_from_cstr(a->cfg->config->buckets.trusted),
                                 sl_cursor_from_cstr(a->trusted_key), (sl_cursor){ 0 }, trusted_looked, a))) {
        a->trusted_free = false;
        executor_advance(a, OUT_REFUSED, sl_error_detail());
    }
}

void trusted_key_written(artifact *a)
{
    for (artifact *b = a->p->artifacts; b != NULL; b = b->next)
        if (b->trusted_free && b->trusted_key != NULL && strcmp(b->trusted_key, a->trusted_key) == 0)
            b->trusted_free = false;
}

/* ---- admission ---- */

static void reject(artifact *a, const char *check, const char *why)
{
    if (sl_failed(findings_add(&a->findings, check, FINDING_FAIL, "%s", why))) sl_error_clear();
    executor_advance(a, OUT_REJECT, why);
}

static void admitted(void *user, task_verdict verdict, const char *reason)
{
    artifact *a = user;
    if (verdict == TASK_ACCEPT) {
        executor_advance(a, OUT_OK, NULL);
        return;
    }
    if (verdict == TASK_UNAVAILABLE || a->p->broken) {
        executor_advance(a, OUT_INDEFINITE, reason);
        return;
    }
    reject(a, "task", reason);
}

/* The layout: a key must name a task, and its quarantine and trusted keys must fit S3's
 * 1,024 bytes. NULL when it can hold the key; else why not (caller frees). */
static char *layout_refusal(const artifact *a)
{
    if (a->task == NULL || a->task[0] == '\0') {
        staging_key_parts parts;
        sl_result r = staging_key_split(sl_cursor_from_cstr(a->staging_key),
                                        sl_cursor_from_cstr(a->route->staging_prefix), &parts);
        char *why = sl_strdup_printf("the key names no task under the route's prefix (%s)",
                                     sl_failed(r) ? sl_error_detail() : "no task segment");
        sl_error_clear();
        return why;
    }
    size_t name = strlen(a->name), task = strlen(a->task);
    size_t quarantine = 2 + strlen(a->route->name) + 1 + task + 1 + SL_ARTIFACT_ID_LEN + 1 + name;
    size_t trusted = strlen(a->route->trusted_prefix) + task + 1 + name;
    if (a->quarantine_key == NULL || quarantine > S3_MAX_KEY_BYTES)
        return sl_strdup_printf("the layout cannot hold the key: its quarantine key would be %zu bytes, over "
                                "S3's limit of %d", quarantine, S3_MAX_KEY_BYTES);
    if (a->trusted_key == NULL || trusted > S3_MAX_KEY_BYTES)
        return sl_strdup_printf("the layout cannot hold the key: its trusted key would be %zu bytes, over S3's "
                                "limit of %d", trusted, S3_MAX_KEY_BYTES);
    return NULL;
}

void row_admit(artifact *a)
{
    char *refusal = layout_refusal(a);
    if (refusal != NULL) {
        reject(a, "key", refusal);
        sl_free(refusal);
        return;
    }
    pipeline *p = a->p;
    if (!a->route->require_task) {
        executor_advance(a, OUT_OK, NULL);
        return;
    }
    if (p->opt.tasks == NULL ||
        sl_failed(task_registry_admit(p->opt.tasks, a->route->name, a->task, a->name, a->size, a->modified_ms,
                                      admitted, a)))
        executor_advance(a, OUT_INDEFINITE, p->opt.tasks ? sl_error_detail() : "no task registry");
}

/* ---- quarantine ---- */

static void quarantine_copied(void *user, const s3_result *r, const s3_object_info *info)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    if (r->error == SL_OK) {
        sl_free(a->quarantine_etag);
        a->quarantine_etag = sl_cursor_dup(info->etag);
        if (a->row == ROW_QUARANTINE_COPY) a->source_quarantined = true;
    }
    executor_advance(a, classify(r), r->detail);
}

/* QUARANTINE_COPY, PARK_COPY: the listed version (If-Match its ETag) to its quarantine
 * key. Redoing it lands the same bytes on the same key. */
void row_quarantine_copy(artifact *a)
{
    s3_copy_params params = {
        .source_if_match = sl_cursor_from_cstr(a->staging_etag),
        .source_version_id = sl_cursor_from_cstr(a->staging_version),
    };
    if (sl_failed(s3_copy_object_sized(a->p->opt.client, sl_cursor_from_cstr(staging_bucket(a)),
                                       sl_cursor_from_cstr(a->staging_key), a->size,
                                       sl_cursor_from_cstr(quarantine_bucket(a)),
                                       sl_cursor_from_cstr(a->quarantine_key), &params, quarantine_copied, a)))
        executor_advance(a, OUT_REFUSED, sl_error_detail());
}

static bool is_multipart_etag(sl_cursor etag) { return sl_cursor_find_byte(etag, '-') >= 0; }

static void quarantine_looked(void *user, const s3_result *r, const s3_object_info *info)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    if (r->error != SL_OK) {
        executor_advance(a, classify(r), r->detail);
        return;
    }
    sl_cursor got = s3_etag_unquoted(info->etag), want = s3_etag_unquoted(sl_cursor_from_cstr(a->staging_etag));
    /* a multipart copy has an ETag of its own: then the size tells */
    bool same = sl_cursor_eq(got, want) ||
                ((is_multipart_etag(got) != is_multipart_etag(want)) && info->has_size && info->size == a->size);
    if (!same) {
        executor_advance(a, OUT_CONFLICT, "the quarantine key holds other bytes");
        return;
    }
    sl_free(a->quarantine_etag);
    a->quarantine_etag = sl_cursor_dup(info->etag);
    if (a->row == ROW_QUARANTINE_LOOK) a->source_quarantined = true;
    executor_advance(a, OUT_OK, NULL);
}

/* QUARANTINE_LOOK, PARK_LOOK: did the copy to quarantine happen? */
void row_quarantine_look(artifact *a)
{
    if (sl_failed(s3_head_object(a->p->opt.client, sl_cursor_from_cstr(quarantine_bucket(a)),
                                 sl_cursor_from_cstr(a->quarantine_key), (sl_cursor){ 0 }, quarantine_looked, a)))
        executor_advance(a, OUT_REFUSED, sl_error_detail());
}

static void staging_deleted(void *user, const s3_result *r)
{
    artifact *a = user;
    if (abandoned(a, r)) return;
    protocol_outcome o = classify(r);
    a->leftover = !(o == OUT_OK || o == OUT_ABSENT || o == OUT_CONFLICT);
    if (a->row == ROW_LEFTOVER_DELETE && (o == OUT_OK || o == OUT_ABSENT)) (void)record_cleanup(a, "staging version deleted");
    executor_advance(a, o, r->detail);
}

/* STAGING_DELETE, PARK_SOURCE_DELETE, LEFTOVER_DELETE: exactly the version that was
 * taken in — by its version id on versioned staging, else If-Match its ETag (a server
 * that ignores that is refused at start-up). A replacement is a new upload. */
void row_staging_delete(artifact *a)
{
    sl_cursor version = sl_cursor_from_cstr(a->staging_version);
    sl_cursor if_match = version.len ? (sl_cursor){ 0 } : sl_cursor_from_cstr(a->staging_etag);
    if (sl_failed(s3_delete_object_if_match(a->p->opt.client, sl_cursor_from_cstr(staging_bucket(a)),
                                            sl_cursor_from_cstr(a->staging_key), version, if_match, staging_deleted,
                                            a)))
        executor_advance(a, OUT_REFUSED, sl_error_detail());
}
