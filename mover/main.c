/*
 * main.c — the sluice-mover program: the daemon (`run`), `check-config` and `policy`.
 *
 * `run` wires the parts together on one libuv loop: the configuration, the S3 client
 * (mover credentials), the audit log, libmagic, the pipeline and the socket API. Signals: SIGTERM and
 * SIGINT stop taking work, let artifacts in flight finish their step (20 s at most —
 * what is left is cancelled and stays where its bytes are), flush the audit log and
 * exit 0; SIGHUP reloads the configuration (an invalid file is logged and the old
 * configuration kept).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "api/api.h"
#include "api/operator_endpoints.h"
#include "api/artifact_endpoints.h"
#include "api/health_endpoint.h"
#include "api/metrics_endpoint.h"
#include "api/task_endpoints.h"
#include "attest/keygen.h"
#include "attest/keys.h"
#include "audit/audit.h"
#include "audit/ship.h"
#include "checks/checks.h"
#include "checks/commands.h"
#include "config/config.h"
#include "log/log.h"
#include "pipeline/desk.h"
#include "pipeline/pipeline.h"
#include "policy/check.h"
#include "policy/policy.h"
#include "s3/client.h"
#include "s3/credentials.h"
#include "service/collect.h"
#include "service/notify.h"
#include "service/scanner.h"
#include "service/watch.h"
#include "tasks/tasks.h"
#include "util/alloc.h"
#include "version.h"

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NOT_AVAILABLE = 3 };

#define STOP_GRACE_MS 20000
#define SHIP_GRACE_MS 10000 /* shipping the last audit records at stop */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-mover COMMAND [OPTIONS]\n"
            "\n"
            "The sluice daemon: moves artifacts from write-only staging through quarantine,\n"
            "checks and review into the trusted bucket.\n"
            "\n"
            "Commands:\n"
            "  run -c FILE           run the daemon with the configuration FILE\n"
            "  check-config -c FILE  validate FILE and print OK or every error found\n"
            "  policy -c FILE [-o DIR]\n"
            "                        print the S3 bucket policies for the configuration\n"
            "                        (with -o: write DIR/<bucket>.json, one per bucket)\n"
            "  policy --check -c FILE\n"
            "                        compare the live buckets' policies and versioning with\n"
            "                        the configuration (exit 1 on any difference)\n"
            "  policy --task-role trust|permissions -c FILE\n"
            "                        print the STS task role's trust or permission policy\n"
            "  keygen -o PREFIX      write a new Ed25519 signing key pair: PREFIX.key (0600)\n"
            "                        and PREFIX.pub; prints its key id\n"
            "  rules import-gitleaks FILE.toml -o FILE.json\n"
            "                        convert a gitleaks configuration into a rules file\n"
            "  rules test RULES.json FILE...\n"
            "                        show what a rules file finds in local files\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE     the configuration file\n"
            "  -o, --output-dir DIR  policy: write the policies into DIR; keygen: the file prefix\n"
            "      --check           policy: compare with the live buckets\n"
            "      --task-role DOC   policy: the task role's \"trust\" or \"permissions\" policy\n"
            "  -h, --help            show this help and exit\n"
            "  -V, --version         show the version and exit\n"
            "\n"
            "Signals (run): SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration.\n"
            "Exit codes: 0 success, 1 failure, 2 usage error,\n"
            "            3 the command is not available in this version.\n");
}

/* ---- run ---- */

struct daemon {
    uv_loop_t *loop;
    char *config_path;
    s3_credentials credentials;
    s3_client *client;
    audit_log *audit;
    checks_magic *magic;
    pipeline *pipeline;
    const sl_config *config; /* the one in use (owned by the pipeline) */
    desk desk;
    health_endpoint health;
    task_registry *tasks;
    api_route routes[16]; /* the API's routes live as long as the server */
    api_server *api;
    sluice_metrics *metrics;         /* with api.metrics_listen: /metrics on its own server */
    service_collector *collector;
    api_route metrics_route;
    api_server *metrics_api;
    service_watch *watch;            /* health: S3 reachable, pipeline making changes */
    scanner_watch *scanner;          /* health: a scanner a route requires (clamd) */
    policy_check *policy_check; /* the check of the live buckets at start */
    uv_signal_t sigterm, sigint, sighup;
    bool stopping;
    /* the signing identity and the audit trail that leaves the host */
    attest_signer *signer;
    attest_keyring *ring;      /* the signer's key and attest.trusted_keys */
    audit_ship_config ship;    /* its strings below, owned here (a reload frees configs) */
    char *ship_bucket, *ship_prefix, *ship_name, *audit_path;
    audit_chain_point shipped; /* where the shipped log ended at start */
    audit_shipper *shipper;
    bool failed; /* stopped because the pipeline cannot run */
};

/* Health checks (api/health_endpoint.h): the audit log and the pipeline; S3 and the
 * pipeline's progress below. A scanner a route requires adds its own the same way. */
static const char *audit_fault(void *user)
{
    const struct daemon *d = user;
    return audit_log_fault(d->audit);
}

static const char *pipeline_fault(void *user)
{
    const struct daemon *d = user;
    return d->pipeline && pipeline_get_stats(d->pipeline).broken
               ? "stopped making changes: an audit record could not be written"
               : NULL;
}

/* S3 reachable, and the pipeline making changes while it has work (service/watch.h). */
static const char *s3_fault(void *user)
{
    const struct daemon *d = user;
    return d->watch ? service_watch_s3_fault(d->watch) : NULL;
}

static const char *progress_fault(void *user)
{
    const struct daemon *d = user;
    return d->watch ? service_watch_pipeline_fault(d->watch) : NULL;
}

/* A scanner that a route requires (service/scanner.h); NULL when none is. */
static const char *scanner_fault(void *user)
{
    const struct daemon *d = user;
    return scanner_watch_fault(d->scanner);
}

static void print_config_errors(const char *file, const sl_config_errors *errors)
{
    for (size_t i = 0; i < errors->count; i++)
        sl_log(SL_LOG_ERROR, "config_invalid", "file", file, "path", errors->items[i].path, "error",
               errors->items[i].message, NULL);
}

static void close_signal(uv_signal_t *s)
{
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, NULL);
}

/* Metrics (api.metrics_listen): the families, the collector over the parts' own
 * counters, and GET /metrics on its own TCP server. */
/* True when every health check passes (the sluice_healthy gauge): what GET /v1/health
 * would answer. */
static bool daemon_healthy(void *user)
{
    struct daemon *d = user;
    for (size_t i = 0; i < d->health.count; i++)
        if (d->health.checks[i].fault(d->health.checks[i].user) != NULL) return false;
    return true;
}

static sl_result start_metrics(struct daemon *d, const sl_config *config)
{
    GUARD(sluice_metrics_new(SLUICE_VERSION, &d->metrics));
    service_sources sources = { .pipeline = d->pipeline, .client = d->client, .audit = d->audit, .tasks = d->tasks,
                                .healthy = daemon_healthy, .healthy_user = d };
    GUARD(service_collect_start(d->metrics, &sources, &d->collector));
    d->metrics_route = metrics_endpoint_route(d->metrics);
    api_options options = { .tcp_listen = config->api.metrics_listen, .max_connections = 16 };
    return api_server_new(d->loop, &options, &d->metrics_route, 1, &d->metrics_api);
}

static void stop_metrics(struct daemon *d)
{
    api_server_close(d->metrics_api);
    d->metrics_api = NULL;
    service_collect_stop(d->collector);
    d->collector = NULL;
    service_watch_stop(d->watch); /* before the client goes: it cancels the probe in flight */
    d->watch = NULL;
    scanner_watch_stop(d->scanner);
    d->scanner = NULL;
}

/* The health probes' interval: the poll interval within 1-30 s. */
static uint64_t probe_interval(const sl_config *config)
{
    uint64_t probe = config->worker.poll_interval_ms < 1000 ? 1000 : config->worker.poll_interval_ms;
    return probe > 30000 ? 30000 : probe;
}

static sl_result start_watch(struct daemon *d, const sl_config *config)
{
    service_watch_options o = { .client = d->client, .probe_bucket = config->buckets.staging,
                                .probe_interval_ms = probe_interval(config), .pipeline = d->pipeline,
                                .stall_after_ms = config->worker.stall_after_ms };
    GUARD(service_watch_start(d->loop, &o, &d->watch));
    return scanner_watch_start(d->loop, config, probe_interval(config), &d->scanner);
}

static void finish_stop(void *user)
{
    struct daemon *d = user;
    /* the client cancels whatever is still running (those artifacts stay where their
     * bytes are); the shipper after it, as its last request completes into it */
    s3_client_destroy(d->client);
    d->client = NULL;
    audit_shipper_destroy(d->shipper);
    d->shipper = NULL;
    pipeline_stats st = pipeline_get_stats(d->pipeline);
    char promoted[24], blocked[24], failed[24], requests[24];
    snprintf(promoted, sizeof(promoted), "%llu", (unsigned long long)st.promoted);
    snprintf(blocked, sizeof(blocked), "%llu", (unsigned long long)st.blocked);
    snprintf(failed, sizeof(failed), "%llu", (unsigned long long)st.failed);
    snprintf(requests, sizeof(requests), "%llu", (unsigned long long)st.promoted_requests);
    pipeline_destroy(d->pipeline);
    d->pipeline = NULL;
    audit_log_close(d->audit);
    d->audit = NULL;
    close_signal(&d->sigterm);
    close_signal(&d->sigint);
    close_signal(&d->sighup);
    sl_log(SL_LOG_INFO, "stopped", "promoted", promoted, "blocked", blocked, "failed", failed,
           "promoted_requests", requests, NULL);
}

static void on_audit_flushed(void *user, sl_result result)
{
    struct daemon *d = user;
    if (sl_failed(result)) {
        finish_stop(d);
        return;
    }
    audit_shipper_drain(d->shipper, SHIP_GRACE_MS, finish_stop, d); /* the records of this run leave the host */
}

static void on_stopped(void *user)
{
    struct daemon *d = user;
    stop_metrics(d);
    /* the API first (no new requests), then the task registry (it answers admissions
     * still pending, so the pipeline must be alive); then the last audit records are
     * synced and shipped, and the rest is released */
    api_server_close(d->api);
    d->api = NULL;
    policy_check_destroy(d->policy_check);
    d->policy_check = NULL;
    task_registry_destroy(d->tasks);
    d->tasks = NULL;
    if (d->shipper != NULL && sl_ok(audit_log_flush(d->audit, on_audit_flushed, d))) return;
    finish_stop(d);
}

/* Tells the service manager (Type=notify); a failure is logged, never fatal. */
static void notify_manager(const char *state)
{
    if (sl_failed(service_notify(state)))
        sl_log(SL_LOG_WARN, "notify_failed", "detail", sl_error_detail(), NULL);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (d->stopping) return;
    d->stopping = true;
    notify_manager("STOPPING=1\nSTATUS=draining: finishing the artifacts in flight");
    sl_log(SL_LOG_INFO, "stopping", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    if (d->pipeline == NULL) return; /* still starting (checking the audit log): run() stops */
    pipeline_stop(d->pipeline, STOP_GRACE_MS, on_stopped, d);
}

/* Compiles the content checks (signatures, rule sets) into the config; logs each
 * problem. */
static bool attach_checks(sl_config *config, const char *file)
{
    checks_errors errors = { 0 };
    bool ok = sl_ok(checks_engine_attach(config, &errors));
    for (size_t i = 0; i < errors.count; i++)
        sl_log(SL_LOG_ERROR, "rules_invalid", "file", file, "error", errors.items[i], NULL);
    checks_errors_clean_up(&errors);
    return ok;
}

/* Routes that require ClamAV need clamd: asks it for its version (logged). */
static bool clamav_reachable(const sl_config *config, sl_log_level level)
{
    char version[256];
    if (sl_failed(checks_clamav_probe(config, version, sizeof(version)))) {
        sl_log(level, "clamav_unreachable", "socket", config->clamav.socket, "detail", sl_error_detail(), NULL);
        return false;
    }
    if (version[0] != '\0') sl_log(SL_LOG_INFO, "clamav_ready", "socket", config->clamav.socket, "version", version, NULL);
    return true;
}

/* The pipeline cannot run (the server probe found it unsafe): stop, and exit 1. */
static void on_fatal(void *user, const char *why)
{
    struct daemon *d = user;
    fprintf(stderr, "sluice-mover: %s\n", why);
    d->failed = true;
    if (d->stopping) return;
    d->stopping = true;
    pipeline_stop(d->pipeline, 0, on_stopped, d);
}

/* Whether a route of `now` judges with another rule or signature set than the route of
 * the same name in `was` (a route that is new has nothing waiting). */
static bool check_sets_changed(const sl_config *was, const sl_config *now)
{
    bool changed = false;
    for (size_t r = 0; r < now->route_count && !changed; r++) {
        const sl_config_route *old = sl_config_route_by_name(was, now->routes[r].name);
        if (old == NULL) continue;
        sl_buf a = { 0 }, b = { 0 };
        bool ok = sl_ok(checks_set_version(&old->checks, &a)) && sl_ok(checks_set_version(&now->routes[r].checks, &b));
        changed = !ok || strcmp(sl_buf_cstr(&a), sl_buf_cstr(&b)) != 0;
        sl_buf_clean_up(&a);
        sl_buf_clean_up(&b);
    }
    return changed;
}

static void on_reload_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    struct daemon *d = s->data;
    if (d->stopping) return;
    char reloading[96];
    snprintf(reloading, sizeof(reloading), "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)(uv_hrtime() / 1000));
    notify_manager(reloading);
    sl_config *fresh = NULL;
    sl_config_errors errors = { 0 };
    if (sl_failed(sl_config_load(d->config_path, &fresh, &errors))) {
        print_config_errors(d->config_path, &errors);
        sl_log(SL_LOG_ERROR, "reload_refused", "file", d->config_path, "detail", sl_error_detail(), "action",
               "kept the configuration in use", NULL);
        sl_config_errors_clean_up(&errors);
        notify_manager("READY=1\nSTATUS=serving (the reloaded configuration was refused; the previous one is in use)");
        return;
    }
    sl_config_errors_clean_up(&errors);
    if (!attach_checks(fresh, d->config_path)) {
        sl_log(SL_LOG_ERROR, "reload_refused", "file", d->config_path, "detail", "the rules do not compile (see above)",
               "action", "kept the configuration and rules in use", NULL);
        sl_config_free(fresh);
        return;
    }
    /* clamd down at a reload: artifacts get a failed ClamAV scan (never a pass) */
    (void)clamav_reachable(fresh, SL_LOG_WARN);
    sl_log_configure((sl_log_level)fresh->log.level, fresh->log.json);
    api_server_set_roles(d->api, (const char *const *)fresh->review.reviewers, fresh->review.reviewer_count,
                         (const char *const *)fresh->review.orchestrators, fresh->review.orchestrator_count);
    api_server_set_operators(d->api, (const char *const *)fresh->review.operators, fresh->review.operator_count);
    if (d->tasks && sl_failed(task_registry_reload(d->tasks, fresh)))
        sl_log(SL_LOG_ERROR, "tasks_reload_refused", "detail", sl_error_detail(), "action",
               "tasks keep the previous configuration's routes and TTLs", NULL);
    const char *listen_was = d->config->api.metrics_listen, *listen_now = fresh->api.metrics_listen;
    if ((listen_was == NULL) != (listen_now == NULL) || (listen_was != NULL && strcmp(listen_was, listen_now) != 0))
        sl_log(SL_LOG_WARN, "reload_partial", "detail", "api.metrics_listen changes at the next start", NULL);
    bool recheck = check_sets_changed(d->config, fresh);
    d->config = fresh;
    service_watch_set_stall_after(d->watch, fresh->worker.stall_after_ms);
    /* the scanner check follows the new configuration (clamav.socket, routes' checks.clamav) */
    scanner_watch *scanner;
    if (sl_ok(scanner_watch_start(d->loop, fresh, probe_interval(fresh), &scanner))) {
        scanner_watch_stop(d->scanner);
        d->scanner = scanner;
    } else {
        sl_log(SL_LOG_ERROR, "health_reload_partial", "detail", sl_error_detail(), "action",
               "the scanner check keeps the previous configuration", NULL);
    }
    pipeline_reload(d->pipeline, fresh);
    /* artifacts in review judged with the old set are checked again with the new one */
    if (recheck) pipeline_recheck_waiting(d->pipeline);
    notify_manager("READY=1\nSTATUS=serving (configuration reloaded)");
}

static sl_result load_credentials(const sl_config_credentials *where, s3_credentials *out)
{
    if (where->file != NULL) return s3_credentials_from_file(out, where->file, where->profile ? where->profile : "default");
    return s3_credentials_from_env(out);
}

struct ship_wait {
    bool done;
    sl_result result;
    audit_chain_point shipped;
    char detail[1024];
};

static void ship_checked(void *user, sl_result result, const audit_chain_point *shipped)
{
    struct ship_wait *w = user;
    w->done = true;
    w->result = result;
    w->shipped = *shipped;
    if (sl_failed(result)) snprintf(w->detail, sizeof(w->detail), "%s", sl_error_detail());
}

/* The signing identity (docs/attestation.md) and the audit trail that leaves the host
 * (docs/audit.md, "Shipping"): without a signing key, with a key file others may read,
 * or with a local audit log that is shorter than or differs from what was shipped, the
 * daemon does not start. Runs the loop until the check of the shipped log is done. */
static sl_result start_attestation(struct daemon *d, const sl_config *c)
{
    ENSURE(c->attest.signing_key != NULL, SL_ERR_INVALID_ARGUMENT,
           "attest.signing_key is not set: every route promotes into trusted, and every promoted object and "
           "audit segment is signed; create a key with `sluice-mover keygen -o PREFIX`");
    GUARD(attest_signer_load(c->attest.signing_key, &d->signer));
    GUARD(attest_keyring_new(&d->ring));
    GUARD(attest_keyring_add_signer(d->ring, d->signer));
    for (size_t i = 0; i < c->attest.trusted_key_count; i++) GUARD(attest_keyring_add_file(d->ring, c->attest.trusted_keys[i]));
    sl_buf prefix = { 0 };
    GUARD(sl_buf_appendf(&prefix, "%s" SL_AUDIT_KEY_FOLDER "%s/", c->buckets.control_prefix, c->audit.name));
    d->ship_prefix = sl_buf_steal(&prefix);
    d->ship_bucket = sl_strdup(c->buckets.control);
    d->ship_name = sl_strdup(c->audit.name);
    d->audit_path = sl_strdup(c->audit.file);
    d->ship = (audit_ship_config){ .client = d->client, .bucket = d->ship_bucket, .prefix = d->ship_prefix,
                                   .name = d->ship_name, .path = d->audit_path, .signer = d->signer,
                                   .ring = d->ring, .interval_ms = c->audit.ship_interval_ms };
    struct ship_wait w = { 0 };
    GUARD(audit_ship_check(d->loop, &d->ship, ship_checked, &w));
    while (!w.done) uv_run(d->loop, UV_RUN_ONCE);
    if (sl_failed(w.result)) RAISE(sl_error_last(), "%s", w.detail);
    d->shipped = w.shipped;
    return SL_SUCCESS;
}

static int run(const char *config_path)
{
    struct daemon d = { 0 };
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    int status = EXIT_FAIL;
    uv_loop_t loop;
    uv_loop_init(&loop);
    d.loop = &loop;
    signal(SIGPIPE, SIG_IGN); /* writes to closed pipes and sockets are errors, not deaths */
    /* The signal handlers come first: a SIGTERM that arrives while the daemon is still
     * starting (loading libmagic, repairing the audit log) waits in the loop and stops
     * the daemon cleanly once it runs, instead of killing it with the default action. */
    uv_signal_init(&loop, &d.sigterm);
    uv_signal_init(&loop, &d.sigint);
    uv_signal_init(&loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&d.sighup, on_reload_signal, SIGHUP);

    if (sl_failed(sl_config_load(config_path, &config, &errors))) {
        print_config_errors(config_path, &errors);
        fprintf(stderr, "sluice-mover: %s: the configuration is not valid (see above); "
                        "`sluice-mover check-config -c %s` lists every problem\n", config_path, config_path);
        sl_config_errors_clean_up(&errors);
        goto out;
    }
    sl_log_configure((sl_log_level)config->log.level, config->log.json);
    d.config_path = sl_strdup(config->path ? config->path : config_path);
    if (!attach_checks(config, d.config_path)) {
        fprintf(stderr, "sluice-mover: %s: the rules do not compile (see above)\n", config_path);
        goto out;
    }
    if (!clamav_reachable(config, SL_LOG_ERROR)) {
        fprintf(stderr, "sluice-mover: %s: clamd cannot be reached (see above)\n", config_path);
        goto out;
    }

    if (sl_failed(load_credentials(&config->s3.credentials, &d.credentials))) {
        sl_log(SL_LOG_ERROR, "credentials_missing", "detail", sl_error_detail(), "action",
               "set s3.credentials in the configuration or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", NULL);
        goto out;
    }
    s3_http_options http = s3_http_options_default();
    http.max_in_flight = config->s3.max_in_flight;
    http.connect_timeout_ms = (long)config->s3.connect_timeout_ms;
    http.first_byte_timeout_ms = (long)config->s3.first_byte_timeout_ms;
    http.verify_tls = config->s3.verify_tls;
    http.ca_file = config->s3.ca_file;
    s3_retry_policy retry = s3_retry_policy_default();
    retry.max_attempts = config->s3.max_attempts;
    retry.budget_ms = config->s3.retry_budget_ms;
    s3_client_config cc = {
        .endpoint = config->s3.endpoint,
        .region = config->s3.region,
        .addressing = config->s3.virtual_hosted ? S3_ADDRESSING_VIRTUAL : S3_ADDRESSING_PATH,
        .credentials = &d.credentials,
        .http = http,
        .retry = retry,
        .multipart_threshold = config->s3.multipart_threshold,
        .multipart_part_size = config->s3.multipart_part_size,
    };
    if (sl_failed(s3_client_new(&loop, &cc, &d.client))) {
        sl_log(SL_LOG_ERROR, "s3_client_failed", "detail", sl_error_detail(), NULL);
        goto out;
    }
    if (sl_failed(start_attestation(&d, config))) {
        sl_log(SL_LOG_ERROR, "attestation_refused", "file", config->audit.file, "detail", sl_error_detail(), NULL);
        goto out;
    }
    if (d.stopping) { /* a SIGTERM while the shipped audit log was checked */
        status = EXIT_OK;
        goto out;
    }
    if (sl_failed(audit_log_open(&loop, config->audit.file, config->audit.commit_interval_ms, &d.audit))) {
        sl_log(SL_LOG_ERROR, "audit_open_failed", "file", config->audit.file, "detail", sl_error_detail(), NULL);
        goto out;
    }
    if (sl_failed(audit_shipper_new(&loop, &d.ship, d.audit, &d.shipped, &d.shipper))) {
        sl_log(SL_LOG_ERROR, "audit_shipping_failed", "detail", sl_error_detail(), NULL);
        goto out;
    }
    if (sl_failed(checks_magic_new(&d.magic))) {
        sl_log(SL_LOG_ERROR, "libmagic_failed", "detail", sl_error_detail(), NULL);
        goto out;
    }
    /* Tasks and their grants: the grants identity signs; never the mover's. */
    bool tasks_needed = false;
    for (size_t i = 0; i < config->route_count; i++) tasks_needed = tasks_needed || config->routes[i].require_task;
    s3_credentials grant_credentials = { 0 };
    bool have_grants = sl_ok(load_credentials(&config->grants.credentials, &grant_credentials));
    if (!have_grants) sl_log(SL_LOG_WARN, "grants_credentials_missing", "detail", sl_error_detail(), NULL);
    task_registry_options to = { .client = d.client, .audit = d.audit,
                                 .grant_credentials = have_grants ? &grant_credentials : NULL,
                                 .mover_access_key_id = d.credentials.access_key_id };
    sl_result tasks_made = task_registry_new(&loop, config, &to, &d.tasks);
    s3_credentials_clean_up(&grant_credentials);
    if (sl_failed(tasks_made) || sl_failed(task_registry_start(d.tasks))) {
        sl_log(tasks_needed ? SL_LOG_ERROR : SL_LOG_WARN, "tasks_unavailable", "detail", sl_error_detail(), "action",
               "set grants.credentials to the grants identity (never the mover's)", NULL);
        task_registry_destroy(d.tasks);
        d.tasks = NULL;
        if (tasks_needed) goto out; /* routes that require tasks cannot admit anything */
    }
    pipeline_options po = { .client = d.client, .audit = d.audit, .magic = d.magic, .signer = d.signer,
                            .tasks = d.tasks, .fatal = on_fatal, .fatal_user = &d };
    sl_config *given = config;
    config = NULL; /* the pipeline owns it now, also on error */
    if (sl_failed(pipeline_new(&loop, given, &po, &d.pipeline))) {
        sl_log(SL_LOG_ERROR, "pipeline_failed", "detail", sl_error_detail(), NULL);
        goto out;
    }
    d.config = given;
    d.desk = (desk){ .pipeline = d.pipeline, .client = d.client, .audit = d.audit, .config = &d.config };
    api_route *routes = d.routes;
    size_t route_count = 0;
    if (sl_failed(health_endpoint_add(&d.health, "audit_log", audit_fault, &d)) ||
        sl_failed(health_endpoint_add(&d.health, "pipeline", pipeline_fault, &d)) ||
        sl_failed(health_endpoint_add(&d.health, "s3", s3_fault, &d)) ||
        sl_failed(health_endpoint_add(&d.health, "progress", progress_fault, &d)) ||
        sl_failed(health_endpoint_add(&d.health, "scanner", scanner_fault, &d))) {
        sl_log(SL_LOG_ERROR, "api_failed", "detail", sl_error_detail(), NULL);
        goto out;
    }
    routes[route_count++] = health_endpoint_route(&d.health);
    route_count += artifact_endpoints(&d.desk, routes + route_count, 16 - route_count);
    if (d.tasks) route_count += task_endpoints(d.tasks, routes + route_count, 16 - route_count);
    route_count += operator_endpoints(d.pipeline, routes + route_count, 16 - route_count);
    api_options ao = {
        .socket_path = given->api.socket,
        .socket_mode = given->api.socket_mode,
        .reviewers = (const char *const *)given->review.reviewers,
        .reviewer_count = given->review.reviewer_count,
        .orchestrators = (const char *const *)given->review.orchestrators,
        .orchestrator_count = given->review.orchestrator_count,
        .operators = (const char *const *)given->review.operators,
        .operator_count = given->review.operator_count,
    };
    if (sl_failed(api_server_new(&loop, &ao, routes, route_count, &d.api))) {
        sl_log(SL_LOG_ERROR, "api_failed", "socket", given->api.socket, "detail", sl_error_detail(), NULL);
        goto out;
    }
    if (sl_failed(start_watch(&d, given))) {
        sl_log(SL_LOG_ERROR, "health_failed", "detail", sl_error_detail(), NULL);
        goto out;
    }
    if (given->api.metrics_listen != NULL && sl_failed(start_metrics(&d, given))) {
        sl_log(SL_LOG_ERROR, "metrics_failed", "listen", given->api.metrics_listen, "detail", sl_error_detail(), NULL);
        goto out;
    }
    if (sl_failed(pipeline_start(d.pipeline))) {
        sl_log(SL_LOG_ERROR, "pipeline_failed", "detail", sl_error_detail(), NULL);
        goto out;
    }
    sl_log(SL_LOG_INFO, "started", "version", SLUICE_VERSION, "config", d.config_path, NULL);
    /* the live buckets against the configuration: drift is logged, never fatal */
    if (given->identities.present && sl_failed(policy_check_start_logged(&loop, given, &d.credentials,
                                                                           &d.policy_check)))
        sl_log(SL_LOG_WARN, "policy_check_failed", "detail", sl_error_detail(), NULL);
    notify_manager("READY=1\nSTATUS=serving");

    uv_run(&loop, UV_RUN_DEFAULT);
    status = d.failed ? EXIT_FAIL : EXIT_OK;

out:
    /* on the error paths: release what was made, in reverse order; a signal that is
     * still pending is not delivered to a daemon that never started */
    close_signal(&d.sigterm);
    close_signal(&d.sigint);
    close_signal(&d.sighup);
    stop_metrics(&d);
    api_server_close(d.api);
    policy_check_destroy(d.policy_check);
    task_registry_destroy(d.tasks);
    if (d.pipeline) {
        s3_client_destroy(d.client);
        d.client = NULL;
        pipeline_destroy(d.pipeline);
    }
    s3_client_destroy(d.client);
    audit_shipper_destroy(d.shipper); /* after the client: its last request completes into it */
    audit_log_close(d.audit);
    uv_run(&loop, UV_RUN_DEFAULT);
    attest_keyring_destroy(d.ring);
    attest_signer_destroy(d.signer);
    sl_free(d.ship_prefix);
    sl_free(d.ship_bucket);
    sl_free(d.ship_name);
    sl_free(d.audit_path);
    sluice_metrics_destroy(d.metrics);
    checks_magic_destroy(d.magic);
    s3_credentials_clean_up(&d.credentials);
    sl_config_free(config);
    sl_free(d.config_path);
    if (uv_loop_close(&loop) != 0) {
        sl_log(SL_LOG_ERROR, "loop_not_closed", "detail", "a handle was left open", NULL);
        status = EXIT_FAIL;
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "rules") == 0 && strcmp(argv[2], "import-gitleaks") == 0)
        return rules_import_gitleaks_command(argc - 2, argv + 2, stdout, stderr);
    if (argc > 2 && strcmp(argv[1], "rules") == 0 && strcmp(argv[2], "test") == 0)
        return rules_test_command(argc - 2, argv + 2, stdout, stderr);
    if (argc > 1 && strcmp(argv[1], "rules") == 0) {
        fprintf(stderr, "sluice-mover rules: expected import-gitleaks or test (see sluice-mover --help)\n");
        return EXIT_USAGE;
    }
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "config", required_argument, NULL, 'c' },
        { "output-dir", required_argument, NULL, 'o' },
        { "check", no_argument, NULL, 'K' },
        { "task-role", required_argument, NULL, 'R' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL;
    const char *output_dir = NULL;
    const char *task_role = NULL;
    bool check = false;
    int opt;
    /* options may come before or after the command: `run -c F` and `-c F run` */
    while ((opt = getopt_long(argc, argv, "hVc:o:", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("sluice-mover %s\n", SLUICE_VERSION);
            return EXIT_OK;
        case 'c':
            config = optarg;
            break;
        case 'o':
            output_dir = optarg;
            break;
        case 'K':
            check = true;
            break;
        case 'R':
            task_role = optarg;
            break;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "sluice-mover: no command given\n\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[optind];
    if (optind + 1 < argc) {
        fprintf(stderr, "sluice-mover: unexpected argument '%s'\n", argv[optind + 1]);
        return EXIT_USAGE;
    }
    if (strcmp(command, "run") == 0 || strcmp(command, "check-config") == 0) {
        if (config == NULL) {
            fprintf(stderr, "sluice-mover %s: which configuration? give -c FILE\n", command);
            return EXIT_USAGE;
        }
        if (strcmp(command, "check-config") == 0) return checks_config_command(config, stdout, stderr);
        return run(config);
    }
    if (strcmp(command, "keygen") == 0) return attest_keygen_command(output_dir, stdout, stderr);
    if (strcmp(command, "policy") == 0) {
        if (config == NULL) {
            fprintf(stderr, "sluice-mover policy: which configuration? give -c FILE\n");
            return EXIT_USAGE;
        }
        if ((check ? 1 : 0) + (task_role ? 1 : 0) + (output_dir ? 1 : 0) > 1) {
            fprintf(stderr, "sluice-mover policy: --check, --task-role and -o do not go together\n");
            return EXIT_USAGE;
        }
        if (check) return policy_check_command(config, stdout, stderr);
        if (task_role) return policy_task_role_command(config, task_role, stdout, stderr);
        return policy_command(config, output_dir, stdout, stderr);
    }
    fprintf(stderr, "sluice-mover: unknown command '%s' (see sluice-mover --help)\n", command);
    return EXIT_USAGE;
}
