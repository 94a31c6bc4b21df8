/*
 * registry.c — the task registry's life and its answers (tasks.h; the parts are listed
 * in tasks_impl.h).
 *
 * Reading guide:
 *   1. the configuration the registry keeps (copied; a reload swaps it whole)
 *   2. answers: every answer is a `completion` on one FIFO, delivered by a zero-delay
 *      timer, so callbacks are always asynchronous and never re-enter a function of the
 *      registry that is still running; typed results are built from the completion's
 *      own copies at delivery
 *   3. audit, then deliver: the records of a task event are appended, synced, and only
 *      then is the answer delivered
 *   4. the pipeline seam (admit) and close, which queue operations on the cache
 *   5. new, start, reload (a change of a route's STS flag or reference allowlist is
 *      audited as a policy change), destroy
 */
#include "tasks/tasks_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "state/artifact.h"
#include "util/alloc.h"
#include "util/timefmt.h"

#define DEFAULT_CACHE_MAX 10000
#define MIN_CACHE_MAX 16
#define DEFAULT_REFRESH_MS 5000

/* ---- 1. the configuration ---- */

static void free_strings(char **items, size_t count)
{
    for (size_t i = 0; i < count; i++) sl_free(items[i]);
    sl_free(items);
}

static char **copy_strings(char *const *items, size_t count)
{
    char **out = sl_calloc(count ? count : 1, sizeof(char *));
    for (size_t i = 0; i < count; i++) out[i] = sl_strdup(items[i]);
    return out;
}

static void reg_config_free(reg_config *c)
{
    if (c == NULL) return;
    char *strings[] = { c->scheme,     c->host,         c->region,       c->staging,      c->control,
                        c->control_prefix, c->audit_file, c->sts_role_arn, c->sts_partition };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) sl_free(strings[i]);
    for (size_t i = 0; i < c->route_count; i++) {
        route_info *r = &c->routes[i];
        sl_free(r->name);
        sl_free(r->staging_prefix);
        sl_free(r->reference_bucket);
        free_strings(r->reference_keys, r->reference_key_count);
        free_strings(r->reference_prefixes, r->reference_prefix_count);
    }
    sl_free(c->routes);
    sl_free(c);
}

/* "http(s)://host[:port]" with an optional trailing "/": nothing else. */
static sl_result split_endpoint(const char *endpoint, char **scheme, char **host)
{
    ENSURE(endpoint != NULL, SL_ERR_INVALID_ARGUMENT, "grant endpoint: missing");
    const char *sep = strstr(endpoint, "://");
    ENSURE(sep != NULL, SL_ERR_INVALID_ARGUMENT, "grant endpoint: expected http(s)://host[:port]");
    size_t scheme_len = (size_t)(sep - endpoint);
    bool http = scheme_len == 4 && strncmp(endpoint, "http", 4) == 0;
    bool https = scheme_len == 5 && strncmp(endpoint, "https", 5) == 0;
    ENSURE(http || https, SL_ERR_INVALID_ARGUMENT, "grant endpoint: the scheme must be http or https");
    const char *h = sep + 3;
    size_t len = strlen(h);
    if (len > 0 && h[len - 1] == '/') len--;
    ENSURE(len > 0, SL_ERR_INVALID_ARGUMENT, "grant endpoint: no host");
    for (size_t i = 0; i < len; i++)
        ENSURE(h[i] > 0x20 && h[i] < 0x7f && h[i] != '/' && h[i] != '?' && h[i] != '#' && h[i] != '@',
               SL_ERR_INVALID_ARGUMENT, "grant endpoint: only http(s)://host[:port], no path, query or user info");
    *scheme = sl_strndup(endpoint, scheme_len);
    *host = sl_strndup(h, len);
    return SL_SUCCESS;
}

static sl_result reg_config_new(const sl_config *config, const char *grant_endpoint, reg_config **out)
{
    ENSURE(config != NULL, SL_ERR_INVALID_ARGUMENT, "task registry: no configuration");
    reg_config *c = sl_calloc(1, sizeof(*c));
    if (sl_failed(split_endpoint(grant_endpoint ? grant_endpoint : config->s3.endpoint, &c->scheme, &c->host))) {
        reg_config_free(c);
        return SL_FAILURE;
    }
    c->virtual_hosted = config->s3.virtual_hosted;
    c->region = sl_strdup(config->s3.region);
    c->staging = sl_strdup(config->buckets.staging);
    c->control = sl_strdup(config->buckets.control);
    c->control_prefix = sl_strdup(config->buckets.control_prefix);
    c->audit_file = sl_strdup(config->audit.file);
    c->default_ttl_ms = config->grants.default_ttl_ms;
    c->max_ttl_ms = config->grants.max_ttl_ms;
    if (config->grants.sts.present && config->grants.sts.role_arn != NULL) {
        c->sts = true;
        c->sts_role_arn = sl_strdup(config->grants.sts.role_arn);
        const char *p = c->sts_role_arn + 4; /* "arn:<partition>:…", as the loader checked */
        c->sts_partition = sl_strndup(p, strcspn(p, ":"));
        c->sts_max_session_ms = config->grants.sts.max_session_ms;
        c->sts_source_identity = config->grants.sts.source_identity;
    }
    c->route_count = config->route_count;
    c->routes = sl_calloc(config->route_count ? config->route_count : 1, sizeof(*c->routes));
    for (size_t i = 0; i < config->route_count; i++) {
        const sl_config_route *from = &config->routes[i];
        route_info *r = &c->routes[i];
        r->name = sl_strdup(from->name);
        r->staging_prefix = sl_strdup(from->staging_prefix);
        r->max_bytes = from->checks.max_bytes;
        r->max_key_length = from->checks.max_key_length;
        r->sts = from->sts;
        if (from->reference.present) {
            r->has_reference = true;
            r->reference_bucket = sl_strdup(from->reference.bucket);
            r->reference_keys = copy_strings(from->reference.keys, from->reference.key_count);
            r->reference_key_count = from->reference.key_count;
            r->reference_prefixes = copy_strings(from->reference.prefixes, from->reference.prefix_count);
            r->reference_prefix_count = from->reference.prefix_count;
        }
    }
    *out = c;
    return SL_SUCCESS;
}

const route_info *route_named(const reg_config *c, const char *name)
{
    for (size_t i = 0; i < c->route_count; i++)
        if (strcmp(c->routes[i].name, name) == 0) return &c->routes[i];
    return NULL;
}

/* "4h", "30m", "90s", "1500ms": the largest unit that divides evenly. */
void format_duration(uint64_t ms, char out[32])
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = { { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            snprintf(out, 32, "%" PRIu64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(out, 32, "%" PRIu64 "ms", ms);
}

void format_time(int64_t ms, char out[25])
{
    if (!sl_time_format(ms, out)) snprintf(out, 25, "(%" PRId64 " ms)", ms);
}

/* Text from a client in a detail: at most 64 bytes, anything not printable ASCII as '?'. */
void printable(const char *s, char out[68])
{
    size_t n = 0;
    for (; s[n] != '\0' && n < 64; n++) out[n] = (s[n] < 0x20 || s[n] > 0x7e) ? '?' : s[n];
    if (s[n] != '\0') out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = '\0';
}

task_state effective_state(const task_manifest *m, int64_t now)
{
    if (!task_state_is_terminal(m->state) && now >= m->expires_at_ms) return TASK_EXPIRED;
    return m->state;
}

manifest_store task_store(const task_registry *r)
{
    return (manifest_store){ .client = r->client, .bucket = r->cfg->control, .control_prefix = r->cfg->control_prefix };
}

const char *task_outcome_name(task_outcome outcome)
{
    static const char *const names[] = {
#define OUTCOME_NAME(e, name) [e] = name,
        SL_TASK_OUTCOMES(OUTCOME_NAME)
#undef OUTCOME_NAME
    };
    return (unsigned)outcome < TASK_OUTCOME_COUNT ? names[outcome] : "internal";
}

const char *task_grant_kind_name(task_grant_kind kind) { return kind == TASK_GRANT_STS ? "sts" : "presigned"; }

bool task_grant_kind_from_name(const char *name, task_grant_kind *out)
{
    if (name != NULL && strcmp(name, "presigned") == 0) *out = TASK_GRANT_PRESIGNED;
    else if (name != NULL && strcmp(name, "sts") == 0) *out = TASK_GRANT_STS;
    else return false;
    return true;
}

const char *task_verdict_name(task_verdict verdict)
{
    switch (verdict) {
    case TASK_ACCEPT: return "accept";
    case TASK_REJECT: return "reject";
    case TASK_UNAVAILABLE: return "unavailable";
    }
    return "(invalid verdict)";
}

/* ---- 2. answers ---- */

void task_copy_make(const reg_config *c, const task_manifest *m, task_copy *out)
{
    *out = (task_copy){ 0 };
    task_manifest_copy(m, &out->m);
    const route_info *route = route_named(c, m->route);
    sl_buf prefix = { 0 };
    if (route != NULL && sl_ok(sl_buf_appendf(&prefix, "%s%s/", route->staging_prefix, m->id)))
        out->prefix = sl_buf_steal(&prefix);
    sl_buf_clean_up(&prefix);
}

void task_copy_clean_up(task_copy *t)
{
    if (t == NULL) return;
    task_manifest_clean_up(&t->m);
    sl_free(t->prefix);
    *t = (task_copy){ 0 };
}

static void info_of(const task_registry *r, const task_copy *t, int64_t now, task_info *out)
{
    *out = (task_info){ .manifest = &t->m, .state = effective_state(&t->m, now), .bucket = r->cfg->staging,
                        .prefix = t->prefix };
}

static void completion_free(completion *c)
{
    for (size_t i = 0; i < c->task_count; i++) task_copy_clean_up(&c->tasks[i]);
    sl_free(c->tasks);
    if (c->grant) {
        grant_data_clean_up(c->grant);
        sl_free(c->grant);
    }
    show_data_free(c->show);
    sl_free(c->text);
    sl_free(c);
}

void push_completion(task_registry *r, completion *c)
{
    c->next = NULL;
    if (r->done_tail) r->done_tail->next = c;
    else r->done_head = c;
    r->done_tail = c;
    kick(r);
}

void answer_verdict(task_registry *r, op *o, task_verdict verdict, const char *reason)
{
    completion *c = sl_calloc(1, sizeof(*c));
    c->kind = C_VERDICT;
    c->verdict_fn = o->verdict_fn;
    c->verdict = verdict;
    c->text = reason ? sl_strdup(reason) : NULL;
    c->user = o->user;
    if (verdict == TASK_ACCEPT) r->stats.accepted++;
    else if (verdict == TASK_REJECT) r->stats.rejected++;
    else r->stats.unavailable++;
    push_completion(r, c);
}

void answer_info(task_registry *r, task_info_fn *fn, void *user, task_outcome outcome, const char *detail,
                 const task_manifest *m)
{
    completion *c = sl_calloc(1, sizeof(*c));
    c->kind = C_INFO;
    c->info_fn = fn;
    c->user = user;
    c->outcome = outcome;
    c->text = detail ? sl_strdup(detail) : NULL;
    if (m != NULL) {
        c->tasks = sl_calloc(1, sizeof(*c->tasks));
        c->task_count = 1;
        task_copy_make(r->cfg, m, &c->tasks[0]);
    }
    push_completion(r, c);
}

void answer_open_failure(task_registry *r, task_open_fn *fn, void *user, task_outcome outcome, const char *detail)
{
    completion *c = sl_calloc(1, sizeof(*c));
    c->kind = C_OPEN;
    c->open_fn = fn;
    c->user = user;
    c->outcome = outcome;
    c->text = detail ? sl_strdup(detail) : NULL;
    push_completion(r, c);
}

static void deliver(task_registry *r, completion *c)
{
    int64_t now = sl_time_now_ms();
    bool ok = c->outcome == TASK_OUTCOME_OK || c->outcome == TASK_OUTCOME_CREATED;
    task_info one;
    if (c->task_count > 0) info_of(r, &c->tasks[0], now, &one);
    switch (c->kind) {
    case C_VERDICT: c->verdict_fn(c->user, c->verdict, c->text); break;
    case C_INFO:
        if (c->info_fn) c->info_fn(c->user, c->outcome, c->text, ok && c->task_count ? &one : NULL);
        break;
    case C_OPEN:
        if (c->open_fn) {
            task_grant grant;
            if (ok && c->grant) grant_data_view(c->grant, &grant);
            c->open_fn(c->user, c->outcome, c->text, ok && c->task_count ? &one : NULL, ok && c->grant ? &grant : NULL);
        }
        break;
    case C_LIST: {
        task_info *infos = sl_calloc(c->task_count ? c->task_count : 1, sizeof(*infos));
        for (size_t i = 0; i < c->task_count; i++) info_of(r, &c->tasks[i], now, &infos[i]);
        if (c->list_fn) c->list_fn(c->user, c->outcome, c->text, ok ? infos : NULL, ok ? c->task_count : 0);
        sl_free(infos);
        break;
    }
    case C_SHOW:
        if (ok && c->show && c->task_count) show_data_deliver(c->show, &one, c->show_fn, c->user);
        else if (c->show_fn) c->show_fn(c->user, c->outcome, c->text, NULL);
        break;
    }
}

void deliver_all(task_registry *r)
{
    while (r->done_head) {
        completion *c = r->done_head;
        r->done_head = c->next;
        if (r->done_head == NULL) r->done_tail = NULL;
        deliver(r, c);
        completion_free(c);
    }
}

void pending_add(task_registry *r, pending *p)
{
    p->next = r->pendings;
    if (r->pendings) r->pendings->prev = p;
    r->pendings = p;
}

void pending_remove(task_registry *r, pending *p)
{
    if (p->prev) p->prev->next = p->next;
    else r->pendings = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

bool io_back(task_registry *r)
{
    r->io--;
    return !r->destroyed;
}

void kick(task_registry *r)
{
    if (r->kick_armed || r->destroyed) return;
    r->kick_armed = true;
    uv_timer_start(&r->kick, on_kick, 0, 0);
}

/* ---- 3. audit, then deliver ---- */

struct audit_wait {
    pending base;
    task_registry *r;
    completion *c;
    task_outcome success;
    char what[32];
};

/* The answer when the audit failed or the registry stops: the completion's callback gets
 * `outcome` with `detail` and no result. */
static void fail_completion(completion *c, task_outcome outcome, const char *detail)
{
    c->outcome = outcome;
    sl_free(c->text);
    c->text = sl_strdup(detail);
    for (size_t i = 0; i < c->task_count; i++) task_copy_clean_up(&c->tasks[i]);
    c->task_count = 0;
    if (c->grant) {
        grant_data_clean_up(c->grant);
        sl_free(c->grant);
        c->grant = NULL;
    }
}

static bool has_callback(const completion *c)
{
    return c->verdict_fn || c->open_fn || c->info_fn || c->list_fn || c->show_fn;
}

static void audit_wait_abandon(pending *p)
{
    struct audit_wait *w = (struct audit_wait *)p;
    if (p->answered || w->c == NULL) return;
    p->answered = true;
    fail_completion(w->c, TASK_OUTCOME_UNAVAILABLE, "the registry is shutting down");
    deliver(w->r, w->c);
    completion_free(w->c);
    w->c = NULL;
}

static void audit_wait_release(pending *p)
{
    struct audit_wait *w = (struct audit_wait *)p;
    if (w->c) completion_free(w->c);
    sl_free(w);
}

static void audit_synced(void *user, sl_result result)
{
    struct audit_wait *w = user;
    task_registry *r = w->r;
    w->base.io--;
    if (!io_back(r)) {
        audit_wait_release(&w->base);
        maybe_free(r);
        return;
    }
    pending_remove(r, &w->base);
    completion *c = w->c;
    w->c = NULL;
    if (sl_failed(result)) {
        char detail[REASON_MAX];
        snprintf(detail, sizeof(detail), "the task was %s, but its audit record could not be synced: %s", w->what,
                 sl_error_detail());
        r->broken = true;
        sl_log(SL_LOG_ERROR, "audit_failed", "detail", sl_error_detail(), NULL);
        fail_completion(c, TASK_OUTCOME_INTERNAL, detail);
    } else {
        c->outcome = w->success;
    }
    push_completion(r, c);
    audit_wait_release(&w->base);
}

void audit_then_deliver(task_registry *r, const char *task, const char *const *events, const char *from,
                        const char *to, const char *actor, json_t **details, completion *c, task_outcome success,
                        const char *what)
{
    sl_result appended = SL_SUCCESS;
    for (size_t i = 0; events[i] != NULL; i++) {
        audit_record rec = { .event = events[i], .artifact = task, .from = i == 0 ? from : NULL,
                             .to = i == 0 ? to : NULL, .actor = actor, .detail = details[i] };
        if (sl_ok(appended)) appended = audit_log_append(r->audit, &rec);
        json_decref(details[i]);
        details[i] = NULL;
    }
    char text[REASON_MAX];
    if (sl_failed(appended)) {
        snprintf(text, sizeof(text), "the task was %s, but its audit record could not be written: %s", what,
                 sl_error_detail());
        if (sl_error_last() == SL_ERR_IO || sl_error_last() == SL_ERR_STATE) r->broken = true;
        sl_log(SL_LOG_ERROR, "audit_failed", "event", events[0], "task", task, "detail", sl_error_detail(), NULL);
        fail_completion(c, TASK_OUTCOME_INTERNAL, text);
        push_completion(r, c);
        return;
    }
    if (!has_callback(c)) {
        completion_free(c);
        return;
    }
    struct audit_wait *w = sl_calloc(1, sizeof(*w));
    w->base.abandon = audit_wait_abandon;
    w->base.release = audit_wait_release;
    w->r = r;
    w->c = c;
    w->success = success;
    snprintf(w->what, sizeof(w->what), "%s", what);
    if (sl_failed(audit_log_flush(r->audit, audit_synced, w))) {
        snprintf(text, sizeof(text), "the task was %s, but its audit record could not be synced: %s", what,
                 sl_error_detail());
        r->broken = true;
        w->c = NULL;
        fail_completion(c, TASK_OUTCOME_INTERNAL, text);
        push_completion(r, c);
        audit_wait_release(&w->base);
        return;
    }
    w->base.io++;
    r->io++;
    pending_add(r, &w->base);
}

/* ---- 4. the seam, and close ---- */

static void reject_now(task_registry *r, op *o, const char *reason)
{
    answer_verdict(r, o, TASK_REJECT, reason);
    cache_op_free(o);
}

sl_result task_registry_admit(task_registry *r, const char *route, const char *task_id, const char *name,
                              uint64_t size, int64_t modified_ms, task_verdict_fn *done, void *user)
{
    ENSURE(r != NULL && route != NULL && task_id != NULL && name != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT,
           "task_registry_admit: route, task id, name and callback are required");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_admit: the registry is being destroyed");
    op *o = sl_calloc(1, sizeof(*o));
    o->kind = OP_ADMIT;
    o->route = sl_strdup(route);
    o->name = sl_strdup(name);
    o->size = size;
    o->modified_ms = modified_ms;
    o->verdict_fn = done;
    o->user = user;
    char shown[68], reason[REASON_MAX];
    if (sl_failed(artifact_task_id_check(sl_cursor_from_cstr(task_id)))) {
        snprintf(reason, sizeof(reason), "not a task id: %s", sl_error_detail());
        reject_now(r, o, reason);
        return SL_SUCCESS;
    }
    if (route_named(r->cfg, route) == NULL) {
        printable(route, shown);
        snprintf(reason, sizeof(reason), "unknown route \"%s\"", shown);
        reject_now(r, o, reason);
        return SL_SUCCESS;
    }
    if (name[0] == '\0') {
        reject_now(r, o, "the name is empty");
        return SL_SUCCESS;
    }
    enqueue(r, entry_get(r, task_id), o);
    return SL_SUCCESS;
}

sl_result task_registry_close(task_registry *r, const char *id, const char *actor, task_info_fn *done, void *user)
{
    ENSURE(r != NULL && id != NULL && actor != NULL && actor[0] != '\0' && done != NULL, SL_ERR_INVALID_ARGUMENT,
           "task_registry_close: id, actor and callback are required");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_close: the registry is being destroyed");
    if (sl_failed(artifact_task_id_check(sl_cursor_from_cstr(id)))) {
        char detail[REASON_MAX];
        snprintf(detail, sizeof(detail), "no such task: %s", sl_error_detail());
        answer_info(r, done, user, TASK_OUTCOME_NOT_FOUND, detail, NULL);
        return SL_SUCCESS;
    }
    op *o = sl_calloc(1, sizeof(*o));
    o->kind = OP_CLOSE;
    o->actor = sl_strdup(actor);
    o->info_fn = done;
    o->user = user;
    entry *e = entry_get(r, id);
    e->stale = true; /* a close decides on the manifest as it is in S3 now */
    enqueue(r, e, o);
    return SL_SUCCESS;
}

bool task_list_filter_from_name(const char *name, task_list_filter *out)
{
    static const char *const names[] = { [TASK_LIST_LIVE] = "live",
                                         [TASK_LIST_OPEN] = "open",
                                         [TASK_LIST_CLOSED] = "closed",
                                         [TASK_LIST_EXPIRED] = "expired",
                                         [TASK_LIST_ALL] = "all" };
    for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (task_list_filter)i;
            return true;
        }
    }
    return false;
}

sl_result task_registry_list(task_registry *r, task_list_filter filter, task_list_fn *done, void *user)
{
    ENSURE(r != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "task_registry_list: a callback is required");
    ENSURE(!r->destroyed, SL_ERR_STATE, "task_registry_list: the registry is being destroyed");
    ENSURE((unsigned)filter <= TASK_LIST_ALL, SL_ERR_INVALID_ARGUMENT, "task_registry_list: bad filter");
    list_start(r, filter, done, user);
    return SL_SUCCESS;
}

task_registry_stats task_registry_get_stats(const task_registry *r)
{
    task_registry_stats s = r->stats;
    s.cached = r->entry_count;
    return s;
}

/* ---- 5. new, start, reload, destroy ---- */

static sl_result check_grant_identity(const task_registry_options *options)
{
    if (options->grant_credentials == NULL || options->mover_access_key_id == NULL) return SL_SUCCESS;
    ENSURE(strcmp(options->grant_credentials->access_key_id, options->mover_access_key_id) != 0,
           SL_ERR_INVALID_ARGUMENT,
           "grants.credentials is the mover's own key: grants must be signed by an identity that may only PUT "
           "into staging");
    return SL_SUCCESS;
}

/* The grants identity's STS client, when grants.sts is configured. */
static sl_result sts_client_new(task_registry *r, const sl_config *config)
{
    if (!config->grants.sts.present || !r->have_grants) return SL_SUCCESS;
    s3_http_options http = s3_http_options_default();
    http.connect_timeout_ms = (long)config->s3.connect_timeout_ms;
    http.first_byte_timeout_ms = (long)config->s3.first_byte_timeout_ms;
    http.total_timeout_ms = 60000;
    http.verify_tls = config->s3.verify_tls;
    http.ca_file = config->s3.ca_file;
    http.max_in_flight = 16;
    s3_retry_policy retry = s3_retry_policy_default();
    retry.max_attempts = config->s3.max_attempts;
    retry.budget_ms = config->s3.retry_budget_ms;
    s3_control_config cc = {
        .endpoint = config->grants.sts.endpoint ? config->grants.sts.endpoint : config->s3.endpoint,
        .region = config->grants.sts.region ? config->grants.sts.region : config->s3.region,
        .credentials = &r->grant_credentials,
        .http = http,
        .retry = retry,
    };
    return s3_control_new(r->loop, &cc, &r->sts);
}

sl_result task_registry_new(uv_loop_t *loop, const sl_config *config, const task_registry_options *options,
                            task_registry **out)
{
    ENSURE(loop != NULL && options != NULL && options->client != NULL && options->audit != NULL,
           SL_ERR_INVALID_ARGUMENT, "the task registry needs a loop, an S3 client and an audit log");
    GUARD(check_grant_identity(options));
    reg_config *cfg = NULL;
    GUARD(reg_config_new(config, options->grant_endpoint, &cfg));
    task_registry *r = sl_calloc(1, sizeof(*r));
    r->loop = loop;
    if (options->grant_credentials != NULL &&
        sl_failed(s3_credentials_init(&r->grant_credentials, options->grant_credentials->access_key_id,
                                      options->grant_credentials->secret_access_key,
                                      options->grant_credentials->session_token))) {
        reg_config_free(cfg);
        sl_free(r);
        return SL_FAILURE;
    }
    r->have_grants = options->grant_credentials != NULL;
    if (sl_failed(sts_client_new(r, config))) {
        s3_credentials_clean_up(&r->grant_credentials);
        reg_config_free(cfg);
        sl_free(r);
        return SL_FAILURE;
    }
    r->cfg = cfg;
    r->client = options->client;
    r->audit = options->audit;
    r->mover_key_id = options->mover_access_key_id ? sl_strdup(options->mover_access_key_id) : NULL;
    r->grant_endpoint = options->grant_endpoint ? sl_strdup(options->grant_endpoint) : NULL;
    r->keys = sigv4_key_cache_new();
    r->cache_max = options->cache_max ? options->cache_max : DEFAULT_CACHE_MAX;
    if (r->cache_max < MIN_CACHE_MAX) r->cache_max = MIN_CACHE_MAX;
    r->refresh_ms = options->refresh_ms ? options->refresh_ms : DEFAULT_REFRESH_MS;
    r->bucket_count = 64;
    r->buckets = sl_calloc(r->bucket_count, sizeof(*r->buckets));
    r->next_expiry_ms = INT64_MAX;
    uv_timer_init(loop, &r->kick);
    uv_timer_init(loop, &r->expiry);
    r->kick.data = r->expiry.data = r;
    r->open_handles = 2;
    *out = r;
    return SL_SUCCESS;
}

sl_result task_registry_start(task_registry *r)
{
    ENSURE(r != NULL && !r->started && !r->destroyed, SL_ERR_STATE, "the task registry was started already");
    r->started = true;
    for (entry *e = r->lru_head; e != NULL; e = e->lru_next)
        if (e->status == ENTRY_LOADED && !task_state_is_terminal(e->m.state)) arm_expiry(r, e->m.expires_at_ms);
    list_start(r, TASK_LIST_ALL, NULL, NULL);
    return SL_SUCCESS;
}

/* A route's reference allowlist (and STS flag) as JSON, for the policy-change record. */
static json_t *route_policy_json(const route_info *route)
{
    json_t *o = json_object();
    json_object_set_new(o, "sts", json_boolean(route != NULL && route->sts));
    if (route == NULL || !route->has_reference) return o;
    json_t *ref = json_object(), *keys = json_array(), *prefixes = json_array();
    json_object_set_new(ref, "bucket", json_string(route->reference_bucket));
    for (size_t i = 0; i < route->reference_key_count; i++) json_array_append_new(keys, json_string(route->reference_keys[i]));
    for (size_t i = 0; i < route->reference_prefix_count; i++)
        json_array_append_new(prefixes, json_string(route->reference_prefixes[i]));
    json_object_set_new(ref, "keys", keys);
    json_object_set_new(ref, "prefixes", prefixes);
    json_object_set_new(o, "reference", ref);
    return o;
}

/* Widening (or narrowing) what tasks may read, or switching STS on or off, is a policy
 * change: one audit record per route whose allowlist or STS flag differs. */
static void audit_policy_changes(task_registry *r, const reg_config *before, const reg_config *after)
{
    for (size_t pass = 0; pass < 2; pass++) {
        const reg_config *mine = pass == 0 ? after : before, *other = pass == 0 ? before : after;
        for (size_t i = 0; i < mine->route_count; i++) {
            const route_info *a = &mine->routes[i];
            const route_info *b = route_named(other, a->name);
            if (pass == 1 && b != NULL) continue; /* seen in the first pass */
            json_t *was = route_policy_json(pass == 0 ? b : a), *is = route_policy_json(pass == 0 ? a : NULL);
            if (json_equal(was, is)) {
                json_decref(was);
                json_decref(is);
                continue;
            }
            json_t *detail = json_pack("{s:s, s:o, s:o}", "route", a->name, "before", was, "after", is);
            audit_record rec = { .event = "policy_change", .actor = "mover", .detail = detail };
            if (detail == NULL || sl_failed(audit_log_append(r->audit, &rec)))
                sl_log(SL_LOG_ERROR, "audit_failed", "event", "policy_change", "route", a->name, "detail",
                       sl_error_detail(), NULL);
            else
                sl_log(SL_LOG_INFO, "task_policy_changed", "route", a->name, NULL);
            json_decref(detail);
        }
    }
}

sl_result task_registry_reload(task_registry *r, const sl_config *config)
{
    reg_config *cfg = NULL;
    GUARD(reg_config_new(config, r->grant_endpoint, &cfg));
    bool moved = strcmp(cfg->control, r->cfg->control) != 0 || strcmp(cfg->control_prefix, r->cfg->control_prefix) != 0;
    audit_policy_changes(r, r->cfg, cfg);
    reg_config_free(r->cfg);
    r->cfg = cfg;
    if (moved) set_stale_all(r);
    return SL_SUCCESS;
}

static void handle_closed(uv_handle_t *h)
{
    task_registry *r = h->data;
    r->open_handles--;
    maybe_free(r);
}

void maybe_free(task_registry *r)
{
    if (!r->destroyed || r->io > 0 || r->open_handles > 0 || r->freed) return;
    r->freed = true;
    reg_config_free(r->cfg);
    s3_credentials_clean_up(&r->grant_credentials);
    sigv4_key_cache_destroy(r->keys);
    sl_free(r->mover_key_id);
    sl_free(r->grant_endpoint);
    sl_free(r->buckets);
    sl_free(r);
}

void task_registry_destroy(task_registry *r)
{
    if (r == NULL || r->destroyed) return;
    /* answer what is decided, then everything that waits, with "unavailable"; callbacks
     * that call back in get SL_ERR_STATE */
    r->destroyed = true;
    deliver_all(r);
    uv_timer_stop(&r->kick);
    uv_timer_stop(&r->expiry);
    uv_close((uv_handle_t *)&r->kick, handle_closed);
    uv_close((uv_handle_t *)&r->expiry, handle_closed);
    cache_abandon_all(r);
    /* STS calls in flight complete (cancelled) now; their open requests see `destroyed` */
    s3_control_destroy(r->sts);
    r->sts = NULL;
    while (r->pendings) {
        pending *p = r->pendings;
        pending_remove(r, p);
        p->abandon(p);
        p->answered = true;
        if (p->io == 0) p->release(p);
    }
    deliver_all(r);
    maybe_free(r);
}
