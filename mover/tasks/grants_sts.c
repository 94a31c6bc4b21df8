/*
 * grants_sts.c — STS grants (tasks_impl.h): temporary credentials for one task.
 *
 * The grants identity calls AssumeRole (s3/sts.h) on grants.sts.role_arn with
 *   RoleSessionName  the task id (22 characters of [A-Za-z0-9_-]): the session's ARN is
 *                    …:assumed-role/<role>/<task id>, so the server attributes every
 *                    request of the session to the task;
 *   SourceIdentity   the task id too, with grants.sts.source_identity (AWS);
 *   DurationSeconds  the task's TTL in whole seconds, at least STS's 900;
 *   Policy           a session policy that allows only
 *                      s3:PutObject  on <staging>/<staging_prefix><task>/ (every key below)
 *                      s3:GetObject  on exactly the reference keys the task asked for
 *                    both with {"DateLessThan": {"aws:CurrentTime": <task expiry>}}, so the
 *                    credentials stop working at the task's expiry even when STS makes
 *                    the session last longer (its 15-minute minimum; radosgw 16 and AWS
 *                    both evaluate aws:CurrentTime in session policies — measured on
 *                    radosgw).
 * What a session may do is the intersection of the role's permission policy and this
 * session policy, and the bucket policies' denials apply on top (docs/policies.md).
 */
#include "tasks/tasks_impl.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/json_read.h"
#include "util/timefmt.h"

uint32_t sts_duration_seconds(const task_manifest *m)
{
    int64_t ms = m->expires_at_ms - m->opened_at_ms;
    int64_t seconds = (ms + 999) / 1000;
    if (seconds < STS_MIN_DURATION_S) seconds = STS_MIN_DURATION_S;
    if (seconds > STS_MAX_DURATION_S) seconds = STS_MAX_DURATION_S;
    return (uint32_t)seconds;
}

static json_t *allow(const char *sid, const char *action, json_t *resources, const char *until)
{
    json_t *s = json_pack("{s:s, s:s, s:[s], s:o, s:{s:{s:s}}}", "Sid", sid, "Effect", "Allow", "Action", action,
                          "Resource", resources, "Condition", "DateLessThan", "aws:CurrentTime", until);
    return s;
}

sl_result sts_session_policy(const reg_config *c, const route_info *route, const task_manifest *m,
                             const char *const *refs, size_t ref_count, sl_buf *out)
{
    ENSURE(c->sts && c->sts_partition != NULL, SL_ERR_STATE, "grants.sts is not configured");
    /* until the task's expiry, to the second (aws:CurrentTime is ISO 8601 UTC) */
    char until[32];
    time_t expiry = (time_t)(m->expires_at_ms / 1000);
    struct tm tm;
    ENSURE(gmtime_r(&expiry, &tm) != NULL && strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0,
           SL_ERR_INVALID_ARGUMENT, "the task's expiry cannot be written as a time");
    json_t *puts = json_array(), *statements = json_array();
    json_array_append_new(puts, json_sprintf("arn:%s:s3:::%s/%s%s/*", c->sts_partition, c->staging,
                                             route->staging_prefix, m->id));
    json_array_append_new(statements, allow("PutIntoTheTaskPrefix", "s3:PutObject", puts, until));
    if (ref_count > 0) {
        json_t *gets = json_array();
        for (size_t i = 0; i < ref_count; i++)
            json_array_append_new(gets, json_sprintf("arn:%s:s3:::%s/%s", c->sts_partition, route->reference_bucket,
                                                     refs[i]));
        json_array_append_new(statements, allow("ReadTheGrantedReferenceKeys", "s3:GetObject", gets, until));
    }
    json_t *policy = json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement", statements);
    sl_result result = policy ? sl_json_dump_bounded(policy, STS_MAX_POLICY, "the STS session policy", out)
                              : sl_error_raise(SL_ERR_LIMIT, __FILE__, __LINE__, "the session policy could not be made");
    json_decref(policy);
    if (sl_failed(result) && sl_error_last() == SL_ERR_LIMIT)
        RAISE(SL_ERR_LIMIT, "the STS session policy for %zu reference keys would pass STS's %d bytes: ask for fewer "
                            "keys, or use presigned grants",
              ref_count, STS_MAX_POLICY);
    return result;
}

struct assume {
    grants_sts_fn *done;
    void *user;
};

static void assumed(void *user, const s3_result *result, const sts_credentials *cred)
{
    struct assume *a = user;
    a->done(a->user, result, cred);
    sl_free(a);
}

sl_result grants_assume_role(task_registry *r, const route_info *route, const task_manifest *m,
                             const char *const *refs, size_t ref_count, grants_sts_fn *done, void *user)
{
    ENSURE(r->sts != NULL, SL_ERR_STATE, "no STS client: grants.sts and grants.credentials are both needed");
    sl_buf policy = { 0 };
    GUARD(sts_session_policy(r->cfg, route, m, refs, ref_count, &policy));
    sts_assume_role_params params = { .role_arn = r->cfg->sts_role_arn,
                                      .session_name = m->id,
                                      .policy = sl_buf_cstr(&policy),
                                      .duration_seconds = sts_duration_seconds(m),
                                      .source_identity = r->cfg->sts_source_identity ? m->id : NULL };
    struct assume *a = sl_calloc(1, sizeof(*a));
    a->done = done;
    a->user = user;
    sl_result result = sts_assume_role(r->sts, &params, assumed, a);
    if (sl_failed(result)) sl_free(a);
    sl_buf_clean_up(&policy);
    return result;
}
