/*
 * intake.c — S3 event notifications into pipeline hints (see intake.h).
 *
 * A plain document is parsed and handed on at once. An SNS envelope goes through
 * checks in the order that costs least for a forger: the envelope parses; its TopicArn
 * is one of ours; its SigningCertURL is under an allowed origin; the certificate (from a
 * small cache, else fetched once for every envelope that waits for it) verifies the
 * signature. Only then is its Message (an S3 event document) used, or its subscription
 * confirmed by a GET of the SubscribeURL, also under an allowed origin.
 */
#include "events/intake.h"

#include <stdio.h>
#include <string.h>

#include "events/s3_event.h"
#include "events/sns.h"
#include "log/log.h"
#include "util/alloc.h"

#define CERT_CACHE 8
#define CERT_CACHE_MS (24ull * 3600 * 1000)
#define FETCH_TIMEOUT_MS 10000

typedef struct cert {
    char *url;
    sl_buf pem;
    uint64_t fetched_ms;
} cert;

typedef struct waiting waiting;

/* A certificate being fetched, and the envelopes waiting for it. */
typedef struct fetch {
    events_intake *in;
    char *url;
    sl_buf body;
    bool too_big;
    waiting *waiters;
    struct fetch *next;
    bool confirm;        /* a SubscribeURL GET (one waiter), not a certificate */
} fetch;

struct waiting {
    sns_message m;
    events_done_fn *done;
    void *user;
    waiting *next;
};

struct events_intake {
    uv_loop_t *loop;
    pipeline *pipeline;
    s3_http *http;
    char **topics, **origins;
    size_t topic_count, origin_count;
    cert certs[CERT_CACHE];
    fetch *fetches;
    events_counts counts;
};

static void free_strings(char **items, size_t count)
{
    for (size_t i = 0; items != NULL && i < count; i++) sl_free(items[i]);
    sl_free(items);
}

static char **copy_strings(char *const *items, size_t count)
{
    char **out = sl_calloc(count ? count : 1, sizeof(char *));
    for (size_t i = 0; i < count; i++) out[i] = sl_strdup(items[i]);
    return out;
}

void events_intake_reload(events_intake *in, const sl_config *c)
{
    free_strings(in->topics, in->topic_count);
    free_strings(in->origins, in->origin_count);
    in->topics = copy_strings(c->events.sns_topics, c->events.sns_topic_count);
    in->topic_count = c->events.sns_topic_count;
    in->origins = copy_strings(c->events.sns_origins, c->events.sns_origin_count);
    in->origin_count = c->events.sns_origin_count;
}

sl_result events_intake_new(const events_options *o, const sl_config *c, events_intake **out)
{
    ENSURE(o->pipeline != NULL && o->http != NULL && o->loop != NULL, SL_ERR_INVALID_ARGUMENT,
           "the events intake needs a loop, the pipeline and an HTTP engine");
    events_intake *in = sl_calloc(1, sizeof(*in));
    in->loop = o->loop;
    in->pipeline = o->pipeline;
    in->http = o->http;
    events_intake_reload(in, c);
    *out = in;
    return SL_SUCCESS;
}

events_counts events_intake_get_counts(const events_intake *in) { return in->counts; }

/* ---- an S3 event document ---- */

static void add_counts(events_counts *total, const events_counts *one)
{
    total->documents += one->documents;
    total->records += one->records;
    total->hinted += one->hinted;
    total->unknown += one->unknown;
    total->elsewhere += one->elsewhere;
    total->not_created += one->not_created;
    total->test_events += one->test_events;
    total->rejected += one->rejected;
    total->sns_confirmed += one->sns_confirmed;
}

static events_verdict take_document(events_intake *in, sl_cursor body, events_counts *one, char *why, size_t why_size)
{
    s3_event_batch batch;
    if (sl_failed(s3_event_parse(body, &batch))) {
        snprintf(why, why_size, "not an S3 event document: %s", sl_error_detail());
        sl_error_clear();
        return EVENTS_BAD_REQUEST;
    }
    one->documents = 1;
    one->records = batch.count;
    one->test_events = batch.test_event;
    for (size_t i = 0; i < batch.count; i++) {
        const s3_event_record *r = &batch.records[i];
        if (r->kind != S3_EVENT_CREATED) {
            one->not_created++;
            continue;
        }
        pipeline_hint_outcome o = pipeline_hint(in->pipeline, sl_cursor_from_cstr(r->bucket),
                                                sl_cursor_from_bytes(r->key, r->key_len));
        switch (o) {
        case PIPELINE_HINT_LOOKING: one->hinted++; break;
        case PIPELINE_HINT_UNKNOWN_BUCKET:
        case PIPELINE_HINT_UNKNOWN_PREFIX:
            one->unknown++;
            if (sl_log_enabled(SL_LOG_DEBUG))
                sl_log(SL_LOG_DEBUG, "event_ignored", "bucket", r->bucket, "key", r->key, "detail",
                       o == PIPELINE_HINT_UNKNOWN_BUCKET ? "not the staging bucket" : "under no route's staging prefix",
                       NULL);
            break;
        case PIPELINE_HINT_ELSEWHERE:
        case PIPELINE_HINT_LATER: one->elsewhere++; break;
        }
    }
    s3_event_batch_clean_up(&batch);
    return EVENTS_OK;
}

static void answer(events_intake *in, events_done_fn *done, void *user, events_verdict v, const char *detail,
                   events_counts *one)
{
    if (v == EVENTS_BAD_REQUEST || v == EVENTS_FORBIDDEN) {
        one->rejected = 1;
        sl_log(SL_LOG_WARN, "event_refused", "detail", detail, NULL);
    }
    add_counts(&in->counts, one);
    done(user, v, detail, one);
}

/* ---- SNS ---- */

static bool listed(char *const *items, size_t count, const char *s)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(items[i], s) == 0) return true;
    return false;
}

static const cert *cached(events_intake *in, const char *url)
{
    uint64_t now = uv_now(in->loop);
    for (size_t i = 0; i < CERT_CACHE; i++)
        if (in->certs[i].url && strcmp(in->certs[i].url, url) == 0 && now - in->certs[i].fetched_ms < CERT_CACHE_MS)
            return &in->certs[i];
    return NULL;
}

static void cache_put(events_intake *in, const char *url, const sl_buf *pem)
{
    size_t slot = 0;
    for (size_t i = 0; i < CERT_CACHE; i++) {
        if (in->certs[i].url == NULL) {
            slot = i;
            break;
        }
        if (in->certs[i].fetched_ms < in->certs[slot].fetched_ms) slot = i;
    }
    cert *c = &in->certs[slot];
    sl_free(c->url);
    sl_buf_clean_up(&c->pem);
    c->url = sl_strdup(url);
    c->fetched_ms = uv_now(in->loop);
    if (sl_failed(sl_buf_append(&c->pem, pem->data, pem->len))) sl_error_clear();
}

static void confirm(events_intake *in, waiting *w);

/* A verified envelope: use it. */
static void verified(events_intake *in, waiting *w)
{
    events_counts one = { 0 };
    char why[512] = "";
    sns_message *m = &w->m;
    if (m->type == SNS_SUBSCRIPTION_CONFIRMATION) {
        confirm(in, w); /* answers when the GET is done */
        return;
    }
    events_verdict v = EVENTS_OK;
    if (m->type == SNS_UNSUBSCRIBE_CONFIRMATION) {
        one.documents = 1;
        sl_log(SL_LOG_WARN, "sns_unsubscribed", "topic", m->topic_arn, "detail",
               "SNS says this endpoint was unsubscribed from the topic: events from it stop", NULL);
    } else if (take_document(in, sl_cursor_from_cstr(m->message), &one, why, sizeof(why)) != EVENTS_OK) {
        /* a verified message that is not an S3 event: nothing to do, and SNS must not retry it */
        one = (events_counts){ .documents = 1 };
        sl_log(SL_LOG_WARN, "sns_message_ignored", "topic", m->topic_arn, "detail", why, NULL);
    }
    answer(in, w->done, w->user, v, "", &one);
    sns_message_clean_up(&w->m);
    sl_free(w);
}

static void check_signature(events_intake *in, waiting *w, sl_cursor pem)
{
    if (sl_failed(sns_message_verify(&w->m, pem))) {
        char why[300];
        snprintf(why, sizeof(why), "SNS message %s: %s", w->m.message_id, sl_error_detail());
        sl_error_clear();
        events_counts one = { 0 };
        answer(in, w->done, w->user, EVENTS_FORBIDDEN, why, &one);
        sns_message_clean_up(&w->m);
        sl_free(w);
        return;
    }
    verified(in, w);
}

static s3_http_body_action fetch_body(void *user, const uint8_t *data, size_t len)
{
    fetch *f = user;
    if (f->body.len + len > SNS_MAX_CERT) {
        f->too_big = true;
        return S3_HTTP_BODY_ABORT;
    }
    return sl_ok(sl_buf_append(&f->body, data, len)) ? S3_HTTP_BODY_CONSUMED : S3_HTTP_BODY_ABORT;
}

static void fetch_free(fetch *f)
{
    events_intake *in = f->in;
    for (fetch **p = &in->fetches; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    sl_free(f->url);
    sl_buf_clean_up(&f->body);
    sl_free(f);
}

static void fetched(void *user, const s3_http_result *r)
{
    fetch *f = user;
    events_intake *in = f->in;
    bool ok = r->error == SL_OK && r->status == 200 && !f->too_big;
    char why[400];
    snprintf(why, sizeof(why), "%s %s: %s", f->confirm ? "confirming the subscription at" : "the signing certificate at",
             f->url, ok ? "ok" : r->error != SL_OK ? r->detail : f->too_big ? "over 16 KiB" : "an HTTP error status");
    if (!ok && r->error == SL_OK && r->status != 200 && !f->too_big)
        snprintf(why, sizeof(why), "%s %s: HTTP %ld", f->confirm ? "confirming the subscription at" : "the signing certificate at",
                 f->url, r->status);
    waiting *w = f->waiters;
    f->waiters = NULL;
    if (ok && !f->confirm) cache_put(in, f->url, &f->body);
    while (w != NULL) {
        waiting *next = w->next;
        w->next = NULL;
        if (!ok) {
            events_counts one = { 0 };
            sl_log(SL_LOG_WARN, "sns_fetch_failed", "detail", why, NULL);
            answer(in, w->done, w->user, EVENTS_UNAVAILABLE, why, &one);
            sns_message_clean_up(&w->m);
            sl_free(w);
        } else if (f->confirm) {
            events_counts one = { .documents = 1, .sns_confirmed = 1 };
            sl_log(SL_LOG_INFO, "sns_subscription_confirmed", "topic", w->m.topic_arn, NULL);
            answer(in, w->done, w->user, EVENTS_OK, "", &one);
            sns_message_clean_up(&w->m);
            sl_free(w);
        } else {
            check_signature(in, w, sl_cursor_from_buf(&f->body));
        }
        w = next;
    }
    fetch_free(f);
}

static bool start_fetch(events_intake *in, const char *url, bool confirm_it, waiting *w)
{
    fetch *f = sl_calloc(1, sizeof(*f));
    f->in = in;
    f->url = sl_strdup(url);
    f->confirm = confirm_it;
    f->waiters = w;
    s3_http_request_spec spec = { .method = "GET", .url = f->url, .on_body = fetch_body, .on_done = fetched, .user = f };
    if (sl_failed(s3_http_submit(in->http, &spec, NULL))) {
        f->waiters = NULL;
        fetch_free(f);
        return false;
    }
    f->next = in->fetches;
    in->fetches = f;
    return true;
}

static void fail_waiting(events_intake *in, waiting *w, events_verdict v, const char *why)
{
    events_counts one = { 0 };
    answer(in, w->done, w->user, v, why, &one);
    sns_message_clean_up(&w->m);
    sl_free(w);
}

static void confirm(events_intake *in, waiting *w)
{
    if (!sns_origin_allowed(w->m.subscribe_url, (const char *const *)in->origins, in->origin_count)) {
        fail_waiting(in, w, EVENTS_FORBIDDEN, "the SubscribeURL is not under events.sns_origins");
        return;
    }
    if (!start_fetch(in, w->m.subscribe_url, true, w)) {
        char why[300];
        snprintf(why, sizeof(why), "confirming the subscription: %s", sl_error_detail());
        sl_error_clear();
        fail_waiting(in, w, EVENTS_UNAVAILABLE, why);
    }
}

static void take_sns(events_intake *in, sl_cursor body, events_done_fn *done, void *user)
{
    waiting *w = sl_calloc(1, sizeof(*w));
    w->done = done;
    w->user = user;
    if (sl_failed(sns_message_parse(body, &w->m))) {
        char why[300];
        snprintf(why, sizeof(why), "not an SNS message: %s", sl_error_detail());
        sl_error_clear();
        fail_waiting(in, w, EVENTS_BAD_REQUEST, why);
        return;
    }
    if (!listed(in->topics, in->topic_count, w->m.topic_arn)) {
        fail_waiting(in, w, EVENTS_FORBIDDEN, "the message's TopicArn is not one of events.sns_topics");
        return;
    }
    if (!sns_origin_allowed(w->m.signing_cert_url, (const char *const *)in->origins, in->origin_count)) {
        fail_waiting(in, w, EVENTS_FORBIDDEN, "the SigningCertURL is not under events.sns_origins");
        return;
    }
    const cert *c = cached(in, w->m.signing_cert_url);
    if (c != NULL) {
        check_signature(in, w, sl_cursor_from_buf(&c->pem));
        return;
    }
    for (fetch *f = in->fetches; f != NULL; f = f->next) {
        if (!f->confirm && strcmp(f->url, w->m.signing_cert_url) == 0) {
            w->next = f->waiters;
            f->waiters = w;
            return;
        }
    }
    if (!start_fetch(in, w->m.signing_cert_url, false, w)) {
        char why[300];
        snprintf(why, sizeof(why), "fetching the signing certificate: %s", sl_error_detail());
        sl_error_clear();
        fail_waiting(in, w, EVENTS_UNAVAILABLE, why);
    }
}

void events_intake_submit(events_intake *in, sl_cursor body, bool sns, events_done_fn *done, void *user)
{
    if (sns) {
        take_sns(in, body, done, user);
        return;
    }
    events_counts one = { 0 };
    char why[512] = "";
    events_verdict v = take_document(in, body, &one, why, sizeof(why));
    answer(in, done, user, v, why, &one);
}

void events_intake_destroy(events_intake *in)
{
    if (in == NULL) return;
    while (in->fetches != NULL) {
        fetch *f = in->fetches;
        waiting *w = f->waiters;
        f->waiters = NULL;
        while (w != NULL) {
            waiting *next = w->next;
            fail_waiting(in, w, EVENTS_UNAVAILABLE, "the daemon is stopping");
            w = next;
        }
        fetch_free(f); /* its request, if any, was cancelled with the engine */
    }
    for (size_t i = 0; i < CERT_CACHE; i++) {
        sl_free(in->certs[i].url);
        sl_buf_clean_up(&in->certs[i].pem);
    }
    free_strings(in->topics, in->topic_count);
    free_strings(in->origins, in->origin_count);
    sl_free(in);
}
