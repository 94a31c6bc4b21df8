/*
 * probe.c — what the S3 server honours, found out at start-up on scratch keys in the
 * control prefix (<control_prefix>probe/<random>/), never assumed from configuration:
 *
 *   1. GetBucketVersioning on staging               → staging_versioned
 *   2. PUT a, PUT b (scratch bytes)
 *   3. DELETE a with If-Match of a wrong ETag       → 412: conditional_delete honoured
 *   4. CopyObject a onto b with If-None-Match: *    → 412: copy_if_none_match honoured
 *   5. CopyObject a to c with a wrong source ETag   → 412: copy_source_if_match honoured
 *   6. DELETE a, b, c
 *
 * The pipeline refuses to run when the safe path is not there: unversioned staging on a
 * server that ignores conditional deletes (a replaced upload would be deleted unseen),
 * or unversioned staging on a server that ignores the copy-source condition (another
 * upload than the listed one could be quarantined). The refusal names the fix. A probe
 * that cannot reach the server tries again every few seconds; one that is refused (the
 * mover may not write its control prefix) is fatal.
 */
#include "pipeline/pipeline_impl.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "util/alloc.h"

#define PROBE_RETRY_MS 3000
#define WRONG_ETAG "\"00000000000000000000000000000000\""

typedef enum step { STEP_VERSIONING, STEP_PUT_A, STEP_PUT_B, STEP_DELETE_IF, STEP_PUT_A_AGAIN, STEP_COPY_INM,
                    STEP_COPY_SOURCE, STEP_CLEAN_A, STEP_CLEAN_B, STEP_CLEAN_C, STEP_DONE } step;

struct probe {
    pipeline *p;
    probe_done_fn *done;
    step step;
    server_caps caps;
    sl_buf prefix;        /* <control_prefix>probe/<random>/ */
    sl_buf key_a, key_b, key_c;
    uv_timer_t *retry;
    bool cancelled;
};

static void next_step(struct probe *pr);

static const char *control_bucket(const struct probe *pr) { return config_of(pr->p)->buckets.control; }

static void finish(struct probe *pr, sl_result result)
{
    pipeline *p = pr->p;
    p->probe = NULL;
    pr->caps.probed = pr->step == STEP_DONE; /* every step ran (the verdict may still refuse) */
    probe_done_fn *done = pr->done;
    server_caps caps = pr->caps;
    sl_buf_clean_up(&pr->prefix);
    sl_buf_clean_up(&pr->key_a);
    sl_buf_clean_up(&pr->key_b);
    sl_buf_clean_up(&pr->key_c);
    if (pr->retry) uv_close((uv_handle_t *)pr->retry, (uv_close_cb)sl_free);
    sl_free(pr);
    done(p, result, &caps);
}

static void retry_fire(uv_timer_t *t)
{
    struct probe *pr = t->data;
    pr->step = STEP_VERSIONING;
    next_step(pr);
}

/* A transport failure or throttling: the server is not answering yet; try again. */
static bool try_later(struct probe *pr, const s3_result *r)
{
    if (pr->cancelled || r->error == SL_ERR_CANCELLED) {
        finish(pr, sl_error_raise(SL_ERR_CANCELLED, __FILE__, __LINE__, "stopped while probing the server"));
        return true;
    }
    if (r->error == SL_OK || (r->error == SL_ERR_S3 && r->status < 500)) return false;
    sl_log(SL_LOG_WARN, "server_probe_retry", "detail", r->detail, "action", "trying again in 3 s", NULL);
    if (pr->retry == NULL) {
        pr->retry = sl_calloc(1, sizeof(*pr->retry));
        uv_timer_init(pr->p->loop, pr->retry);
        pr->retry->data = pr;
    }
    uv_timer_start(pr->retry, retry_fire, PROBE_RETRY_MS, 0);
    return true;
}

static void refused(struct probe *pr, const s3_result *r)
{
    finish(pr, sl_error_raise(SL_ERR_S3, __FILE__, __LINE__,
                              "probing what the server honours failed: %s (the mover's identity must be able to "
                              "read and write its control prefix %s in bucket %s)",
                              r->detail, config_of(pr->p)->buckets.control_prefix, control_bucket(pr)));
}

static void on_versioning(void *user, const s3_result *r, const s3_versioning *v)
{
    struct probe *pr = user;
    if (try_later(pr, r)) return;
    if (r->error != SL_OK) {
        refused(pr, r);
        return;
    }
    pr->caps.staging_versioned = v->status == S3_VERSIONING_ENABLED;
    pr->step++;
    next_step(pr);
}

static void on_object(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    struct probe *pr = user;
    if (try_later(pr, r)) return;
    bool refused_by_condition = r->error == SL_ERR_S3 && (r->status == 412 || r->code == S3_ERROR_PRECONDITION_FAILED);
    switch (pr->step) {
    case STEP_COPY_INM: pr->caps.copy_if_none_match = refused_by_condition; break;
    case STEP_COPY_SOURCE: pr->caps.copy_source_if_match = refused_by_condition; break;
    default:
        if (r->error != SL_OK) {
            refused(pr, r);
            return;
        }
        break;
    }
    if (r->error != SL_OK && !refused_by_condition) {
        refused(pr, r);
        return;
    }
    pr->step++;
    next_step(pr);
}

static void on_deleted(void *user, const s3_result *r)
{
    struct probe *pr = user;
    if (try_later(pr, r)) return;
    bool refused_by_condition = r->error == SL_ERR_S3 && (r->status == 412 || r->code == S3_ERROR_PRECONDITION_FAILED);
    if (pr->step == STEP_DELETE_IF) {
        pr->caps.conditional_delete = refused_by_condition;
    } else if (r->error != SL_OK && !(r->error == SL_ERR_S3 && r->status == 404)) {
        refused(pr, r);
        return;
    }
    /* a honoured conditional delete left a in place: no need to put it again */
    pr->step = pr->step == STEP_DELETE_IF && pr->caps.conditional_delete ? STEP_COPY_INM : pr->step + 1;
    next_step(pr);
}

/* The decision: can the protocol run safely on what was found? */
static sl_result verdict(const struct probe *pr)
{
    const sl_config *c = config_of(pr->p);
    if (pr->caps.staging_versioned) return SL_SUCCESS;
    ENSURE(pr->caps.conditional_delete, SL_ERR_UNSUPPORTED,
           "the staging bucket %s is not versioned and the server ignores If-Match on DeleteObject, so an upload "
           "that replaced a key after it was quarantined would be deleted unseen; enable versioning on it "
           "(aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled) or use a server "
           "that honours conditional deletes",
           c->buckets.staging, c->buckets.staging);
    ENSURE(pr->caps.copy_source_if_match, SL_ERR_UNSUPPORTED,
           "the staging bucket %s is not versioned and the server ignores the copy-source ETag condition, so another "
           "upload than the one listed could be quarantined; enable versioning on it "
           "(aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled)",
           c->buckets.staging, c->buckets.staging);
    return SL_SUCCESS;
}

static void next_step(struct probe *pr)
{
    pipeline *p = pr->p;
    const sl_config *c = config_of(p);
    s3_client *client = p->opt.client;
    sl_cursor bucket = sl_cursor_from_cstr(control_bucket(pr));
    sl_cursor a = sl_cursor_from_buf(&pr->key_a), b = sl_cursor_from_buf(&pr->key_b), k_c = sl_cursor_from_buf(&pr->key_c);
    s3_put_params scratch = { .content_type = sl_cursor_from_cstr("text/plain") };
    sl_result r = SL_SUCCESS;
    switch (pr->step) {
    case STEP_VERSIONING:
        r = s3_get_bucket_versioning(client, sl_cursor_from_cstr(c->buckets.staging), on_versioning, pr);
        break;
    case STEP_PUT_A:
    case STEP_PUT_A_AGAIN:
        r = s3_put_object(client, bucket, a, sl_cursor_from_cstr("sluice probe a\n"), &scratch, on_object, pr);
        break;
    case STEP_PUT_B:
        r = s3_put_object(client, bucket, b, sl_cursor_from_cstr("sluice probe b\n"), &scratch, on_object, pr);
        break;
    case STEP_DELETE_IF:
        r = s3_delete_object_if_match(client, bucket, a, (sl_cursor){ 0 }, sl_cursor_from_cstr(WRONG_ETAG), on_deleted, pr);
        break;
    case STEP_COPY_INM: {
        s3_copy_params params = { .if_none_match_any = true };
        r = s3_copy_object(client, bucket, a, bucket, b, &params, on_object, pr);
        break;
    }
    case STEP_COPY_SOURCE: {
        s3_copy_params params = { .source_if_match = sl_cursor_from_cstr(WRONG_ETAG) };
        r = s3_copy_object(client, bucket, a, bucket, k_c, &params, on_object, pr);
        break;
    }
    case STEP_CLEAN_A: r = s3_delete_object(client, bucket, a, (sl_cursor){ 0 }, on_deleted, pr); break;
    case STEP_CLEAN_B: r = s3_delete_object(client, bucket, b, (sl_cursor){ 0 }, on_deleted, pr); break;
    case STEP_CLEAN_C: r = s3_delete_object(client, bucket, k_c, (sl_cursor){ 0 }, on_deleted, pr); break;
    case STEP_DONE:
        finish(pr, verdict(pr));
        return;
    }
    if (sl_failed(r)) finish(pr, SL_FAILURE);
}

void probe_start(pipeline *p, probe_done_fn *done)
{
    struct probe *pr = sl_calloc(1, sizeof(*pr));
    pr->p = p;
    pr->done = done;
    uint8_t random[8] = { 0 };
    if (RAND_bytes(random, sizeof(random)) != 1) memset(random, 0x5a, sizeof(random));
    const sl_config *c = config_of(p);
    sl_result r = sl_buf_appendf(&pr->prefix, "%sprobe/", c->buckets.control_prefix);
    if (sl_ok(r)) r = sl_buf_append_hex(&pr->prefix, random, sizeof(random));
    if (sl_ok(r)) r = sl_buf_appendf(&pr->key_a, "%s/a", sl_buf_cstr(&pr->prefix));
    if (sl_ok(r)) r = sl_buf_appendf(&pr->key_b, "%s/b", sl_buf_cstr(&pr->prefix));
    if (sl_ok(r)) r = sl_buf_appendf(&pr->key_c, "%s/c", sl_buf_cstr(&pr->prefix));
    p->probe = pr;
    if (sl_failed(r)) {
        finish(pr, SL_FAILURE);
        return;
    }
    next_step(pr);
}

void probe_cancel(pipeline *p)
{
    struct probe *pr = p->probe;
    if (pr == NULL) return;
    pr->cancelled = true;
    /* waiting for its retry timer: no request will call back, so end it here */
    if (pr->retry && uv_is_active((uv_handle_t *)pr->retry)) {
        uv_timer_stop(pr->retry);
        finish(pr, sl_error_raise(SL_ERR_CANCELLED, __FILE__, __LINE__, "stopped while probing the server"));
    }
}
