/*
 * setup_cmd.c — `sluice-mover events setup` (see setup_cmd.h): two control-plane requests
 * in a row on a loop of its own, CreateTopic then PutBucketNotificationConfiguration.
 */
#include "events/setup_cmd.h"

#include <getopt.h>
#include <string.h>

#include <uv.h>

#include "config/config.h"
#include "events/secret.h"
#include "s3/control.h"
#include "s3/credentials.h"
#include "s3/sigv4.h"
#include "util/alloc.h"

#define TOPIC_DEFAULT "sluice-events"
#define MAX_ARN 512

typedef struct setup {
    FILE *out, *err;
    s3_control *control;
    const sl_config *config;
    const char *topic;
    sl_buf endpoint;  /* the push endpoint with ?token= (a secret: wiped) */
    bool persistent;
    char arn[MAX_ARN];
    int status;
} setup;

static int usage(FILE *err)
{
    fprintf(err, "usage: sluice-mover events setup -c CONFIG --push-endpoint URL [--topic NAME] [--persistent]\n"
                 "  URL: http(s)://host[:port]/path of the mover's events listener (events.listen), no query\n");
    return 2;
}

/* http(s)://host[:port]/path: no user info, query or fragment (the token is added). */
static bool endpoint_ok(const char *url)
{
    const char *rest = strncmp(url, "http://", 7) == 0 ? url + 7 : strncmp(url, "https://", 8) == 0 ? url + 8 : NULL;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/' || strlen(url) > 1024) return false;
    for (const char *p = rest; *p; p++)
        if (*p == '@' || *p == '?' || *p == '#' || (unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return false;
    return true;
}

static ptrdiff_t find(sl_cursor hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= hay.len && i <= hay.len - n; i++)
        if (memcmp(hay.ptr + i, needle, n) == 0) return (ptrdiff_t)i;
    return -1;
}

/* The text of the first <name>…</name> of an answer, into out (at most out_size - 1 bytes). */
static bool element_text(sl_cursor body, const char *name, char *out, size_t out_size)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", name);
    snprintf(close, sizeof(close), "</%s>", name);
    ptrdiff_t a = find(body, open);
    if (a < 0) return false;
    sl_cursor rest = sl_cursor_from_bytes(body.ptr + a + strlen(open), body.len - (size_t)a - strlen(open));
    ptrdiff_t b = find(rest, close);
    if (b <= 0 || (size_t)b >= out_size) return false;
    memcpy(out, rest.ptr, (size_t)b);
    out[b] = '\0';
    return true;
}

static void fail(setup *s, const char *step, const s3_result *r, sl_cursor body)
{
    fprintf(s->err, "sluice-mover events setup: %s: %s (HTTP %ld)%s%.*s\n", step, r->detail, r->status,
            body.len ? ": " : "", (int)(body.len > 300 ? 300 : body.len), (const char *)body.ptr);
    s->status = 1;
}

static void notification_set(void *user, const s3_result *r, sl_cursor body)
{
    setup *s = user;
    if (r->error != SL_OK) {
        fail(s, "PutBucketNotificationConfiguration", r, body);
        return;
    }
    fprintf(s->out, "topic %s (persistent=%s) pushes s3:ObjectCreated:* of bucket %s to the events listener\n",
            s->arn, s->persistent ? "true" : "false", s->config->buckets.staging);
    s->status = 0;
}

static sl_result put_notification(setup *s)
{
    sl_buf xml = { 0 };
    sl_result r = sl_buf_appendf(&xml,
                                 "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                                 "<TopicConfiguration><Id>sluice</Id><Topic>%s</Topic>"
                                 "<Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>",
                                 s->arn);
    static const char *const query[] = { "notification", "" };
    s3_control_spec spec = { .service = "s3", .method = "PUT", .bucket = sl_cursor_from_cstr(s->config->buckets.staging),
                             .query = query, .query_count = 1, .content_type = "application/xml",
                             .body = sl_cursor_from_buf(&xml) };
    if (sl_ok(r)) r = s3_control_request(s->control, &spec, notification_set, s);
    sl_buf_clean_up(&xml);
    return r;
}

static void topic_made(void *user, const s3_result *r, sl_cursor body)
{
    setup *s = user;
    if (r->error != SL_OK) {
        fail(s, "CreateTopic", r, body);
        return;
    }
    if (!element_text(body, "TopicArn", s->arn, sizeof(s->arn)) || strncmp(s->arn, "arn:", 4) != 0) {
        fprintf(s->err, "sluice-mover events setup: CreateTopic answered without a TopicArn: %.*s\n",
                (int)(body.len > 300 ? 300 : body.len), (const char *)body.ptr);
        s->status = 1;
        return;
    }
    if (sl_failed(put_notification(s))) {
        fprintf(s->err, "sluice-mover events setup: PutBucketNotificationConfiguration: %s\n", sl_error_detail());
        s->status = 1;
    }
}

static sl_result append_param(sl_buf *out, const char *name, sl_cursor value)
{
    GUARD(sl_buf_appendf(out, "&%s=", name));
    return sigv4_uri_encode(out, value, SIGV4_ENCODE_QUERY);
}

static sl_result create_topic(setup *s)
{
    sl_buf form = { 0 };
    sl_result r = sl_buf_append_cstr(&form, "Action=CreateTopic");
    if (sl_ok(r)) r = append_param(&form, "Name", sl_cursor_from_cstr(s->topic));
    if (sl_ok(r)) r = append_param(&form, "Attributes.entry.1.key", sl_cursor_from_cstr("push-endpoint"));
    if (sl_ok(r)) r = append_param(&form, "Attributes.entry.1.value", sl_cursor_from_buf(&s->endpoint));
    if (sl_ok(r)) r = append_param(&form, "Attributes.entry.2.key", sl_cursor_from_cstr("persistent"));
    if (sl_ok(r))
        r = append_param(&form, "Attributes.entry.2.value", sl_cursor_from_cstr(s->persistent ? "true" : "false"));
    s3_control_spec spec = { .service = "sns", .method = "POST",
                             .content_type = "application/x-www-form-urlencoded; charset=utf-8",
                             .body = sl_cursor_from_buf(&form) };
    if (sl_ok(r)) r = s3_control_request(s->control, &spec, topic_made, s);
    sl_buf_clean_up_secure(&form);
    return r;
}

static sl_result start(setup *s, uv_loop_t *loop, const s3_credentials *credentials)
{
    s3_http_options http = s3_http_options_default();
    http.connect_timeout_ms = (long)s->config->s3.connect_timeout_ms;
    http.total_timeout_ms = 60000;
    http.verify_tls = s->config->s3.verify_tls;
    http.ca_file = s->config->s3.ca_file;
    s3_retry_policy retry = s3_retry_policy_default();
    retry.max_attempts = s->config->s3.max_attempts;
    retry.budget_ms = s->config->s3.retry_budget_ms;
    s3_control_config cc = { .endpoint = s->config->s3.endpoint, .region = s->config->s3.region,
                             .addressing = s->config->s3.virtual_hosted ? S3_ADDRESSING_VIRTUAL : S3_ADDRESSING_PATH,
                             .credentials = credentials, .http = http, .retry = retry };
    GUARD(s3_control_new(loop, &cc, &s->control));
    return create_topic(s);
}

/* Loads the configuration, the secret and the credentials, then runs the two requests. */
static int run(setup *s, const char *config_file, const char *url)
{
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    if (sl_failed(sl_config_load(config_file, &config, &errors))) {
        for (size_t i = 0; i < errors.count; i++)
            fprintf(s->err, "%s: %s%s%s\n", config_file, errors.items[i].path, errors.items[i].path[0] ? ": " : "",
                    errors.items[i].message);
        if (errors.count == 0) fprintf(s->err, "%s: %s\n", config_file, sl_error_detail());
        sl_config_errors_clean_up(&errors);
        return 1;
    }
    s->config = config;
    sl_buf secret = { 0 };
    s3_credentials credentials = { 0 };
    const sl_config_credentials *where = &config->s3.credentials;
    if (!config->events.present) {
        fprintf(s->err, "sluice-mover events setup: %s has no events section (events.listen, events.secret_file)\n",
                config_file);
    } else if (sl_failed(events_secret_load(config->events.secret_file, &secret)) ||
               sl_failed(sl_buf_appendf(&s->endpoint, "%s?token=", url)) ||
               sl_failed(sl_buf_append(&s->endpoint, secret.data, secret.len))) {
        fprintf(s->err, "sluice-mover events setup: %s\n", sl_error_detail());
    } else if (sl_failed(where->file ? s3_credentials_from_file(&credentials, where->file, where->profile)
                                     : s3_credentials_from_env(&credentials))) {
        fprintf(s->err, "sluice-mover events setup: the mover's credentials (s3.credentials): %s\n", sl_error_detail());
    } else {
        uv_loop_t loop;
        uv_loop_init(&loop);
        if (sl_failed(start(s, &loop, &credentials))) {
            fprintf(s->err, "sluice-mover events setup: %s\n", sl_error_detail());
            s->status = 1;
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        s3_control_destroy(s->control);
        uv_run(&loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&loop) != 0) s->status = 1;
    }
    s3_credentials_clean_up(&credentials);
    sl_buf_clean_up_secure(&secret);
    sl_buf_clean_up_secure(&s->endpoint);
    sl_config_free(config);
    return s->status;
}

int events_setup_command(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },   { "push-endpoint", required_argument, NULL, 'p' },
        { "topic", required_argument, NULL, 't' },    { "persistent", no_argument, NULL, 'P' },
        { NULL, 0, NULL, 0 },
    };
    setup s = { .out = out, .err = err, .topic = TOPIC_DEFAULT, .status = 1 };
    const char *config = NULL, *url = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'p': url = optarg; break;
        case 't': s.topic = optarg; break;
        case 'P': s.persistent = true; break;
        default: return usage(err);
        }
    }
    if (optind != argc || config == NULL || url == NULL) return usage(err);
    if (!endpoint_ok(url)) {
        fprintf(err, "sluice-mover events setup: --push-endpoint %s: expected http(s)://host[:port]/path without "
                     "user info or a query (the secret is added as ?token=)\n", url);
        return 2;
    }
    size_t n = strlen(s.topic);
    bool name_ok = n >= 1 && n <= 256;
    for (size_t i = 0; name_ok && i < n; i++)
        name_ok = (s.topic[i] >= 'a' && s.topic[i] <= 'z') || (s.topic[i] >= 'A' && s.topic[i] <= 'Z') ||
                  (s.topic[i] >= '0' && s.topic[i] <= '9') || s.topic[i] == '-' || s.topic[i] == '_';
    if (!name_ok) {
        fprintf(err, "sluice-mover events setup: --topic %s: 1-256 letters, digits, '-' and '_'\n", s.topic);
        return 2;
    }
    return run(&s, config, url);
}
