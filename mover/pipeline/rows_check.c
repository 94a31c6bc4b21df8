/*
 * rows_check.c — the CHECK and GATE rows. CHECK runs the key rules, then one streaming
 * GET of the bytes (the staging version when checked in place, else the quarantine
 * copy) through the content checks (pipeline/checks.h) in constant memory. A read that
 * fails or is cut is never a verdict: its findings are thrown away and the row runs
 * again from the first byte while the artifact's retry budget lasts (then the artifact
 * is `failed`, kept and visible, never `blocked`). A check that cannot finish for
 * another reason (a limit, libmagic) is a finding, and the gate decides on findings.
 */
#include "pipeline/executor_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

/* Throws away the findings of an attempt that did not read every byte. */
static void truncate_findings(findings *f, size_t keep)
{
    while (f->count > keep) {
        artifact_finding *x = &f->items[--f->count];
        sl_free(x->check);
        sl_free(x->detail);
    }
}

static void check_resume(void *user)
{
    artifact *a = user;
    if (a->get) s3_get_object_resume(a->get);
}

static void on_get_headers(void *user, const s3_object_info *info)
{
    artifact *a = user;
    sl_free(a->declared_type);
    a->declared_type = sl_cursor_dup(info->content_type);
    if (sl_failed(checks_metadata_of(&a->route->checks, info, &a->findings)) ||
        a->findings.items[a->findings.count - 1].verdict != FINDING_PASS) {
        sl_error_clear();
        a->metadata_failed = true;
        return;
    }
    content_check_params params = {
        .rules = &a->route->checks,
        .magic = a->p->opt.magic,
        .name = sl_cursor_from_cstr(a->name),
        .declared_type = info->content_type,
        .expected_size = info->has_size ? info->size : 0,
        .resume = check_resume,
        .user = a,
    };
    a->check = content_check_new(a->p->loop, &params);
}

static s3_http_body_action on_get_chunk(void *user, const uint8_t *data, size_t len)
{
    artifact *a = user;
    if (a->metadata_failed || a->check == NULL) return S3_HTTP_BODY_ABORT; /* not one more byte */
    s3_http_body_action action = content_check_feed(a->check, data, len);
    if (action == S3_HTTP_BODY_ABORT) a->check_aborted = true; /* a limit: a verdict, not a failed read */
    return action;
}

static void content_checked(void *user, const content_result *result)
{
    artifact *a = user;
    a->check = NULL;
    for (size_t i = 0; i < result->findings->count; i++) {
        const artifact_finding *f = &result->findings->items[i];
        if (sl_failed(findings_add(&a->findings, f->check, f->verdict, "%s", f->detail))) sl_error_clear();
    }
    snprintf(a->sha256, sizeof(a->sha256), "%s", result->sha256);
    snprintf(a->detected, sizeof(a->detected), "%s", result->detected_type);
    a->size = result->size;
    executor_advance(a, OUT_OK, NULL);
}

/* The verdict of a read that did not finish: nobody needs it. */
static void check_discarded(void *user, const content_result *result)
{
    (void)result;
    artifact *a = user;
    a->check = NULL;
    truncate_findings(&a->findings, a->findings_before_read);
    if (a->p->stopping && a->read_cancelled) {
        log_artifact(SL_LOG_INFO, "abandoned", a, "stopped mid-check; resumed at the next start");
        artifact_end(a, END_LEAVE);
        return;
    }
    if (a->metadata_failed) {
        executor_advance(a, OUT_OK, NULL); /* the metadata finding decides */
        return;
    }
    executor_advance(a, a->read_outcome, a->read_detail);
}

static void read_done(void *user, const s3_result *r, const s3_object_info *info)
{
    (void)info;
    artifact *a = user;
    a->requests += r->attempts;
    a->get = NULL;
    content_check *check = a->check;
    bool complete = r->error == SL_OK || (r->error == SL_ERR_CANCELLED && a->check_aborted);
    if (check != NULL && complete && !a->metadata_failed) {
        content_check_finish(check, r->error == SL_OK, r->error == SL_OK ? NULL : "a limit stopped the read",
                             content_checked, a);
        return;
    }
    /* not every byte was read: cancelled by a stop, cut, refused, or metadata failed */
    a->read_cancelled = r->error == SL_ERR_CANCELLED && !a->check_aborted && !a->metadata_failed;
    a->read_outcome = classify(r);
    sl_free(a->read_detail);
    a->read_detail = sl_strdup_printf("the bytes could not be read: %s", r->detail);
    if (check != NULL) {
        a->check = NULL;
        content_check_finish(check, false, "the read did not finish", check_discarded, a);
        return;
    }
    if (a->read_cancelled && a->p->stopping) {
        log_artifact(SL_LOG_INFO, "abandoned", a, "stopped mid-check; resumed at the next start");
        artifact_end(a, END_LEAVE);
        return;
    }
    if (a->metadata_failed) {
        truncate_findings(&a->findings, a->findings_before_read + 1); /* keep the metadata finding */
        executor_advance(a, OUT_OK, NULL);
        return;
    }
    truncate_findings(&a->findings, a->findings_before_read);
    executor_advance(a, a->read_outcome, a->read_detail);
}

void row_check(artifact *a)
{
    pipeline *p = a->p;
    if (a->row_attempts == 0 && !a->key_checked) {
        a->key_checked = true;
        if (sl_failed(checks_key(&a->route->checks, sl_cursor_from_cstr(a->staging_key),
                                 sl_cursor_from_cstr(a->name), &a->findings))) {
            executor_advance(a, OUT_REFUSED, sl_error_detail());
            return;
        }
        if (a->findings.items[a->findings.count - 1].verdict != FINDING_PASS) {
            executor_advance(a, OUT_OK, NULL); /* the key rules decide: the gate blocks */
            return;
        }
    }
    a->findings_before_read = a->findings.count;
    a->metadata_failed = false;
    a->check_aborted = false;
    a->read_cancelled = false;
    artifact_source src = source_of(a);
    s3_get_params params = { .if_match = src.etag, .version_id = src.version_id };
    if (sl_failed(s3_get_object_stream(p->opt.client, src.bucket, src.key, &params, on_get_headers, on_get_chunk,
                                       read_done, a, &a->get)))
        executor_advance(a, OUT_REFUSED, sl_error_detail());
}

/* The route's review mode and the findings decide. */
void row_gate(artifact *a)
{
    finding_verdict worst = findings_worst(&a->findings);
    const sl_config_route *route = a->route;
    if (route->review == SL_REVIEW_AUTO) {
        if (findings_all_pass(&a->findings)) {
            executor_advance(a, OUT_APPROVE, "auto: every check passed");
            return;
        }
        if (worst == FINDING_ERROR && route->checks.on_error == SL_ON_ERROR_REVIEW) {
            executor_advance(a, OUT_REVIEW, "a check could not finish; the route sends such artifacts to a person");
            return;
        }
        executor_advance(a, OUT_BLOCK, "auto: not every check passed");
        return;
    }
    /* human, two-person, hook: a decision is needed; a failed check still blocks */
    if (worst == FINDING_FAIL || (worst == FINDING_ERROR && route->checks.on_error == SL_ON_ERROR_BLOCK)) {
        executor_advance(a, OUT_BLOCK, "a check failed");
        return;
    }
    executor_advance(a, OUT_REVIEW, "checks done; waiting for a decision");
}
