/*
 * check.c — policy_check of check.h: one GetBucketPolicy per document policy_build
 * writes and one GetBucketVersioning of staging, all at once on a control engine of the
 * check's own; each answer is turned into that bucket's differences, and when the last
 * one is in, the report (buckets in policy_build's order) is handed over from a
 * zero-delay timer — never from inside a control completion, so that the callback may
 * destroy the check.
 */
#include "policy/check.h"

#include <string.h>

#include "log/log.h"
#include "policy/policy.h"
#include "s3/control.h"
#include "util/alloc.h"

struct bucket_result {
    policy_diffs diffs;
    bool read_failed;
};

struct policy_check {
    uv_loop_t *loop;
    s3_control *control;
    policy_set set;
    struct bucket_result *results; /* one per document; versioning goes with staging (0) */
    policy_diffs versioning;
    bool versioning_failed;
    unsigned pending;
    uv_timer_t deliver;
    bool timer_open;
    bool reported, destroyed;
    policy_check_fn *done;
    void *user;
};

struct request {
    policy_check *check;
    size_t doc;
};

static void timer_closed(uv_handle_t *h)
{
    policy_check *c = h->data;
    sl_free(c);
}

static void free_check(policy_check *c)
{
    s3_control_destroy(c->control);
    c->control = NULL;
    for (size_t i = 0; i < c->set.count; i++) policy_diffs_clean_up(&c->results[i].diffs);
    sl_free(c->results);
    policy_diffs_clean_up(&c->versioning);
    policy_set_clean_up(&c->set);
    uv_close((uv_handle_t *)&c->deliver, timer_closed);
}

static void on_deliver(uv_timer_t *t)
{
    policy_check *c = t->data;
    if (c->destroyed || c->reported) return;
    c->reported = true;
    policy_diffs all = { 0 };
    bool complete = !c->versioning_failed;
    for (size_t i = 0; i < c->set.count; i++) {
        complete = complete && !c->results[i].read_failed;
        for (size_t k = 0; k < c->results[i].diffs.count; k++)
            policy_diffs_add(&all, "%s: %s", c->set.docs[i].bucket, c->results[i].diffs.lines[k]);
        if (i == 0)
            for (size_t k = 0; k < c->versioning.count; k++)
                policy_diffs_add(&all, "%s: %s", c->set.docs[0].bucket, c->versioning.lines[k]);
    }
    policy_report report = { .differences = &all, .buckets = c->set.count, .complete = complete };
    c->done(c->user, &report);
    policy_diffs_clean_up(&all);
}

static void one_done(policy_check *c)
{
    if (--c->pending == 0 && !c->destroyed) uv_timer_start(&c->deliver, on_deliver, 0, 0);
}

static void policy_read(void *user, const s3_result *result, sl_cursor policy)
{
    struct request *r = user;
    policy_check *c = r->check;
    size_t doc = r->doc;
    sl_free(r);
    if (c->destroyed) return;
    struct bucket_result *b = &c->results[doc];
    if (result->error == SL_OK) {
        if (sl_failed(policy_compare(sl_cursor_from_cstr(c->set.docs[doc].json), policy, &b->diffs)))
            policy_diffs_add(&b->diffs, "the check failed: %s", sl_error_detail());
    } else if (result->error == SL_ERR_S3 && strcmp(result->code_text, "NoSuchBucketPolicy") == 0) {
        policy_diffs_add(&b->diffs, "there is no bucket policy (apply: sluice-mover policy -c FILE -o DIR)");
    } else {
        b->read_failed = true;
        policy_diffs_add(&b->diffs, "the policy could not be read, so it is not known to match: %s", result->detail);
    }
    one_done(c);
}

static void versioning_read(void *user, const s3_result *result, const s3_versioning *v)
{
    policy_check *c = user;
    if (c->destroyed) return;
    if (result->error != SL_OK) {
        c->versioning_failed = true;
        policy_diffs_add(&c->versioning, "its versioning could not be read, so it is not known to be on: %s",
                         result->detail);
    } else if (v->status != S3_VERSIONING_ENABLED) {
        policy_diffs_add(&c->versioning, "versioning is %s, expected Enabled (the mover deletes staged objects by "
                                         "version)",
                         v->status == S3_VERSIONING_SUSPENDED ? "Suspended" : "off (never enabled)");
    }
    one_done(c);
}

sl_result policy_check_start(uv_loop_t *loop, const sl_config *config, const s3_credentials *credentials,
                             policy_check_fn *done, void *user, policy_check **out)
{
    ENSURE(loop != NULL && config != NULL && credentials != NULL && done != NULL && out != NULL,
           SL_ERR_INVALID_ARGUMENT, "policy_check_start: arguments");
    policy_set set = { 0 };
    GUARD(policy_build(config, &set));
    s3_http_options http = s3_http_options_default();
    http.connect_timeout_ms = (long)config->s3.connect_timeout_ms;
    http.first_byte_timeout_ms = (long)config->s3.first_byte_timeout_ms;
    http.total_timeout_ms = 60000;
    http.verify_tls = config->s3.verify_tls;
    http.ca_file = config->s3.ca_file;
    http.max_in_flight = 8;
    s3_retry_policy retry = s3_retry_policy_default();
    retry.max_attempts = config->s3.max_attempts;
    retry.budget_ms = config->s3.retry_budget_ms;
    s3_control_config cc = { .endpoint = config->s3.endpoint,
                             .region = config->s3.region,
                             .addressing = config->s3.virtual_hosted ? S3_ADDRESSING_VIRTUAL : S3_ADDRESSING_PATH,
                             .credentials = credentials,
                             .http = http,
                             .retry = retry };
    s3_control *control = NULL;
    if (sl_failed(s3_control_new(loop, &cc, &control))) {
        policy_set_clean_up(&set);
        return SL_FAILURE;
    }
    policy_check *c = sl_calloc(1, sizeof(*c));
    c->loop = loop;
    c->control = control;
    c->set = set;
    c->results = sl_calloc(set.count, sizeof(*c->results));
    c->done = done;
    c->user = user;
    uv_timer_init(loop, &c->deliver);
    c->deliver.data = c;
    /* the staging document is docs[0] (policy_build's order) */
    c->pending = 1;
    if (sl_failed(s3_control_get_bucket_versioning(control, sl_cursor_from_cstr(set.docs[0].bucket), versioning_read,
                                                   c))) {
        c->versioning_failed = true;
        policy_diffs_add(&c->versioning, "its versioning could not be read: %s", sl_error_detail());
        c->pending--;
    }
    for (size_t i = 0; i < set.count; i++) {
        struct request *r = sl_calloc(1, sizeof(*r));
        r->check = c;
        r->doc = i;
        c->pending++;
        if (sl_failed(s3_control_get_bucket_policy(control, sl_cursor_from_cstr(set.docs[i].bucket), policy_read,
                                                   r))) {
            sl_free(r);
            c->results[i].read_failed = true;
            policy_diffs_add(&c->results[i].diffs, "the policy could not be read: %s", sl_error_detail());
            c->pending--;
        }
    }
    if (c->pending == 0) uv_timer_start(&c->deliver, on_deliver, 0, 0);
    *out = c;
    return SL_SUCCESS;
}

void policy_check_destroy(policy_check *c)
{
    if (c == NULL || c->destroyed) return;
    c->destroyed = true;
    uv_timer_stop(&c->deliver);
    free_check(c); /* cancels what still runs: those callbacks see `destroyed` */
}

/* ---- the daemon's check ---- */

static void log_report(void *user, const policy_report *report)
{
    (void)user;
    char count[32];
    snprintf(count, sizeof(count), "%zu", report->differences->count);
    for (size_t i = 0; i < report->differences->count; i++)
        sl_log(SL_LOG_WARN, "policy_drift", "difference", report->differences->lines[i], NULL);
    if (report->differences->count == 0)
        sl_log(SL_LOG_INFO, "policies_match", "detail", "the bucket policies and staging's versioning match the "
                                                        "configuration", NULL);
    else
        sl_log(SL_LOG_WARN, "policies_drifted", "differences", count, "complete", report->complete ? "yes" : "no",
               "action", "compare with `sluice-mover policy --check -c FILE`; apply with `sluice-mover policy -o DIR`",
               NULL);
}

sl_result policy_check_start_logged(uv_loop_t *loop, const sl_config *config, const s3_credentials *credentials,
                                    policy_check **out)
{
    return policy_check_start(loop, config, credentials, log_report, NULL, out);
}

/* ---- the command ---- */

struct command {
    FILE *out, *err;
    int status;
};

static void command_done(void *user, const policy_report *report)
{
    struct command *cmd = user;
    for (size_t i = 0; i < report->differences->count; i++) fprintf(cmd->out, "%s\n", report->differences->lines[i]);
    size_t n = report->differences->count;
    if (n == 0) {
        fprintf(cmd->out, "OK: the policies of %zu buckets and the staging bucket's versioning match the "
                          "configuration\n", report->buckets);
        cmd->status = 0;
    } else {
        fprintf(cmd->out, "%zu difference%s in %zu buckets%s\n", n, n == 1 ? "" : "s", report->buckets,
                report->complete ? "" : " (some could not be read: the check did not finish)");
        cmd->status = 1;
    }
}

int policy_check_command(const char *config_file, FILE *out, FILE *err)
{
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    s3_credentials credentials = { 0 };
    const char *name = config_file ? config_file : "(no file)";
    struct command cmd = { .out = out, .err = err, .status = 1 };
    if (sl_failed(sl_config_load(config_file, &config, &errors))) {
        for (size_t i = 0; i < errors.count; i++)
            fprintf(err, "%s: %s%s%s\n", name, errors.items[i].path, errors.items[i].path[0] ? ": " : "",
                    errors.items[i].message);
        if (errors.count == 0) fprintf(err, "%s: %s\n", name, sl_error_detail());
        sl_config_errors_clean_up(&errors);
        return 1;
    }
    sl_config_errors_clean_up(&errors);
    const sl_config_credentials *where = &config->s3.credentials;
    sl_result loaded = where->file ? s3_credentials_from_file(&credentials, where->file, where->profile)
                                   : s3_credentials_from_env(&credentials);
    if (sl_failed(loaded)) {
        fprintf(err, "sluice-mover policy --check: the mover's credentials (s3.credentials): %s\n", sl_error_detail());
        sl_config_free(config);
        return 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    policy_check *check = NULL;
    if (sl_failed(policy_check_start(&loop, config, &credentials, command_done, &cmd, &check))) {
        fprintf(err, "sluice-mover policy --check: %s: %s\n", name, sl_error_detail());
    } else {
        uv_run(&loop, UV_RUN_DEFAULT);
        policy_check_destroy(check);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&loop) != 0) cmd.status = 1;
    if (fflush(out) != 0) cmd.status = 1;
    s3_credentials_clean_up(&credentials);
    sl_config_free(config);
    return cmd.status;
}
