/*
 * content.c — the streaming content checker (checks.h).
 *
 * The content checker keeps two buffers. The loop fills `fill`; when a chunk does not
 * fit, `fill` is handed to the thread pool and the spare becomes `fill` — if the spare
 * is still with the pool, the chunk is refused (PAUSE) and the GET resumed when the
 * work returns. So at most two buffers per artifact exist, whatever the object's size.
 *
 * Each buffer goes to the pool as up to three work items that run in parallel and only
 * read it: one hashes (SHA-256) and types the first buffer (libmagic), one runs the
 * embedded-content scan and the rules (embedded.c, rules_scan.c, through a stream view
 * of the buffer and the last CHECKS_HISTORY_MAX bytes before it), and, on a route with
 * checks.clamav, one sends it on to clamd (clamd.c; the last buffer also reads clamd's
 * answer), one spools an archive's bytes (archive.c; after the last buffer it
 * inspects the members), and, on a route with YARA files, one spools the bytes for
 * YARA (yara.c; after the last buffer it runs the rules). The buffer comes back
 * when all are done, so buffers are processed in stream order. The last buffer is
 * marked final (it may carry no bytes) so the scanners close their streams and confirm
 * what waited for more bytes. Only the hash item touches the hash, only the scan item
 * the scanners and the history.
 */
#include "checks/checks_impl.h"
#include "checks/rules.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util/alloc.h"

#define BUFFER_MAX ((size_t)256 * 1024)
#define BUFFER_MIN ((size_t)4 * 1024)
#define MAGIC_BYTES ((size_t)64 * 1024)

/* ---- the streaming content checker ---- */

enum work_kind {
    WORK_HASH,  /* SHA-256, and libmagic on the first buffer */
    WORK_SCAN,  /* the embedded-content scan and the rules */
    WORK_CLAMD, /* the buffer to clamd (INSTREAM) */
    WORK_ARCHIVE, /* an archive's bytes spooled; inspected after the last buffer */
    WORK_YARA,    /* the bytes spooled for YARA; scanned after the last buffer */
};
#define WORK_KINDS 5

struct work {
    uv_work_t req;
    content_check *check;
    sl_buf *buf;
    enum work_kind kind;
    bool detect; /* run libmagic on this (the first) buffer */
    bool final;  /* the last buffer: the scanners finish */
    bool failed;
    char detected[128];
};

struct content_check {
    uv_loop_t *loop;
    content_check_params params;
    char *name;
    char *declared;
    EVP_MD_CTX *sha;
    const struct checks_route *compiled; /* NULL: not attached (an error finding) */
    embedded_scan *embedded;
    rules_scan *rules;
    clamd_scan *clamd;        /* the route requires ClamAV and the object may be sent */
    bool clamd_too_large;     /* Content-Length above clamav.max_bytes: not sent */
    bool clamd_done;
    clamd_reply clamd_reply;  /* valid once clamd_done */
    archive_scan *archive;    /* with compiled checks */
    yara_scan *yara;          /* the route has YARA files */
    sl_buf history;     /* the bytes before the buffer being scanned */
    uint64_t scanned;   /* bytes given to the scanners */
    bool final_sent;
    sl_buf bufs[2];
    sl_buf *fill;       /* being filled by the loop */
    sl_buf *spare;      /* NULL while the pool has it */
    struct work work[WORK_KINDS]; /* hash, scan, clamd, archive and YARA of the same buffer */
    int in_flight;       /* of them, with the pool */
    bool busy;           /* a buffer is with the pool */
    bool detected_once;
    bool paused;
    uint64_t size;
    bool over_limit;
    bool failed;        /* hashing or libmagic failed */
    char detected[128];
    char error[256];
    /* finishing */
    bool finishing;
    bool complete;
    char why_incomplete[256];
    content_done_fn *done;
    void *done_user;
};

content_check *content_check_new(uv_loop_t *loop, const content_check_params *params)
{
    content_check *c = sl_calloc(1, sizeof(*c));
    c->loop = loop;
    c->params = *params;
    c->name = sl_cursor_dup(params->name);
    c->declared = sl_cursor_dup(params->declared_type);
    c->params.name = sl_cursor_from_cstr(c->name);
    c->params.declared_type = sl_cursor_from_cstr(c->declared);
    c->sha = EVP_MD_CTX_new();
    if (c->sha == NULL || EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL) != 1) {
        c->failed = true;
        snprintf(c->error, sizeof(c->error), "SHA-256 could not be initialised");
    }
    c->compiled = params->rules->compiled;
    if (c->compiled != NULL) {
        c->embedded = embedded_scan_new(c->compiled->embedded);
        if (c->compiled->rules != NULL) c->rules = rules_scan_new(c->compiled->rules, params->name);
        c->archive = archive_scan_new(c->compiled, params->rules, params->magic);
        if (c->compiled->yara != NULL)
            c->yara = yara_scan_new(c->compiled->yara, params->rules->yara.max_bytes, params->rules->yara.timeout_ms);
        if (params->rules->clamav && c->compiled->clamd != NULL) {
            if (params->expected_size > c->compiled->clamd_max_bytes)
                c->clamd_too_large = true;
            else
                c->clamd = clamd_scan_new(c->compiled->clamd, c->compiled->clamd_max_bytes);
        }
    }
    size_t cap = params->expected_size < BUFFER_MIN ? BUFFER_MIN
                 : params->expected_size > BUFFER_MAX ? BUFFER_MAX
                                                      : (size_t)params->expected_size;
    for (int i = 0; i < 2; i++) {
        if (sl_failed(sl_buf_reserve(&c->bufs[i], cap))) c->failed = true;
    }
    c->fill = &c->bufs[0];
    c->spare = &c->bufs[1];
    return c;
}

/* The embedded scan and the rules over one buffer (pool thread). */
static void scan(content_check *c, struct work *w)
{
    hs_scratch_t *scratch = NULL;
    if (sl_failed(scratch_take(c->compiled->scratch, &scratch))) {
        w->failed = true;
        snprintf(w->detected, sizeof(w->detected), "%s", sl_error_detail());
        return;
    }
    stream_view view = { .history = c->history.data, .history_len = c->history.len, .data = w->buf->data,
                         .len = w->buf->len, .base = c->scanned, .final = w->final };
    sl_result r = embedded_scan_feed(c->embedded, &view, scratch);
    if (sl_ok(r) && c->rules != NULL) r = rules_scan_feed(c->rules, &view, scratch);
    scratch_give(c->compiled->scratch, scratch);
    if (sl_ok(r)) r = history_keep(&c->history, w->buf->data, w->buf->len, CHECKS_HISTORY_MAX);
    if (sl_failed(r)) {
        w->failed = true;
        snprintf(w->detected, sizeof(w->detected), "%s", sl_error_detail());
        return;
    }
    c->scanned += w->buf->len;
}

/* The buffer to clamd; the last one ends the stream and reads the answer (pool
 * thread, blocking, bounded by clamav.timeout). clamd's problems are its finding, not
 * a failure of the checker. */
static void send_to_clamd(content_check *c, struct work *w)
{
    clamd_scan_feed(c->clamd, w->buf->data, w->buf->len);
    if (!w->final) return;
    clamd_scan_finish(c->clamd, &c->clamd_reply);
    c->clamd_done = true;
}

/* One item hashes (and types the first buffer), one scans, one sends to clamd. They run
 * in parallel on pool threads: each only reads the buffer, and each keeps its own state
 * (the hash; the scanners and their history; the clamd session). */
static void work_run(uv_work_t *req)
{
    struct work *w = (struct work *)req;
    content_check *c = w->check;
    if (w->kind == WORK_SCAN) {
        scan(c, w);
        return;
    }
    if (w->kind == WORK_CLAMD) {
        send_to_clamd(c, w);
        return;
    }
    if (w->kind == WORK_YARA) {
        yara_scan_feed(c->yara, w->buf->data, w->buf->len);
        if (w->final) yara_scan_finish(c->yara);
        return;
    }
    if (w->kind == WORK_ARCHIVE) {
        archive_scan_feed(c->archive, w->buf->data, w->buf->len);
        if (w->final) archive_scan_finish(c->archive);
        return;
    }
    if (c->sha != NULL && EVP_DigestUpdate(c->sha, w->buf->data, w->buf->len) != 1) {
        w->failed = true;
        snprintf(w->detected, sizeof(w->detected), "SHA-256 failed");
    }
    if (w->detect && !w->failed) {
        size_t n = w->buf->len < MAGIC_BYTES ? w->buf->len : MAGIC_BYTES;
        if (sl_failed(checks_magic_detect(c->params.magic, w->buf->data, n, w->detected, sizeof(w->detected)))) {
            w->failed = true;
            snprintf(w->detected, sizeof(w->detected), "%s", sl_error_detail());
        }
    }
}

static void finish_now(content_check *c);
static void submit(content_check *c, bool final);

static void work_done(uv_work_t *req, int status)
{
    struct work *w = (struct work *)req;
    content_check *c = w->check;
    if (status != 0 || w->failed) {
        if (!c->failed) snprintf(c->error, sizeof(c->error), "%s", status != 0 ? "the check was cancelled" : w->detected);
        c->failed = true;
    } else if (w->detect) {
        snprintf(c->detected, sizeof(c->detected), "%s", w->detected);
    }
    if (--c->in_flight > 0) return; /* the other item still reads the buffer */
    c->busy = false;
    sl_buf_reset(w->buf);
    c->spare = w->buf;
    if (c->finishing) {
        if (c->complete && !c->final_sent && !c->failed && !c->over_limit) submit(c, true);
        if (!c->busy) finish_now(c);
        return;
    }
    if (c->paused) {
        c->paused = false;
        c->params.resume(c->params.user);
    }
}

/* Hands `fill` to the pool (the hash's item and, with compiled scanners, the scan's)
 * and takes the spare. Requires !busy and spare != NULL. */
static void submit(content_check *c, bool final)
{
    sl_buf *buf = c->fill;
    bool detect = !c->detected_once;
    c->detected_once = true;
    c->final_sent = final;
    c->fill = c->spare;
    c->spare = NULL;
    c->busy = true;
    c->in_flight = 0;
    enum work_kind kinds[WORK_KINDS];
    int items = 0;
    kinds[items++] = WORK_HASH;
    if (c->compiled != NULL) kinds[items++] = WORK_SCAN;
    if (c->clamd != NULL) kinds[items++] = WORK_CLAMD;
    if (c->archive != NULL) kinds[items++] = WORK_ARCHIVE;
    if (c->yara != NULL) kinds[items++] = WORK_YARA;
    for (int i = 0; i < items; i++) {
        struct work *w = &c->work[i];
        memset(w, 0, sizeof(*w));
        *w = (struct work){ .check = c, .buf = buf, .kind = kinds[i], .detect = i == 0 && detect, .final = final };
        if (uv_queue_work(c->loop, &w->req, work_run, work_done) != 0) {
            c->failed = true;
            snprintf(c->error, sizeof(c->error), "the thread pool refused the work");
            break;
        }
        c->in_flight++;
    }
    if (c->in_flight == 0) { /* nothing queued: the buffer is back */
        c->busy = false;
        sl_buf_reset(buf);
        c->spare = buf;
    }
}

s3_http_body_action content_check_feed(content_check *c, const uint8_t *data, size_t len)
{
    if (c->over_limit) return S3_HTTP_BODY_ABORT;
    if (c->size + len > c->params.rules->max_bytes) {
        c->over_limit = true;
        c->size += len;
        return S3_HTTP_BODY_ABORT;
    }
    if (c->failed) return S3_HTTP_BODY_ABORT;
    if (c->fill->capacity - c->fill->len <= len) {
        /* does not fit: hand the filled buffer over, or wait for the pool */
        if (c->fill->len > 0) {
            if (c->busy || c->spare == NULL) {
                c->paused = true;
                return S3_HTTP_BODY_PAUSE;
            }
            submit(c, false);
            if (c->failed) return S3_HTTP_BODY_ABORT;
        }
        if (c->fill->capacity - c->fill->len <= len && sl_failed(sl_buf_reserve(c->fill, len))) return S3_HTTP_BODY_ABORT;
    }
    if (sl_failed(sl_buf_append(c->fill, data, len))) return S3_HTTP_BODY_ABORT;
    c->size += len;
    return S3_HTTP_BODY_CONSUMED;
}

static void finish_deferred(uv_timer_t *t)
{
    content_check *c = t->data;
    uv_close((uv_handle_t *)t, (uv_close_cb)sl_free);
    finish_now(c);
}

void content_check_finish(content_check *c, bool complete, const char *why_incomplete, content_done_fn *done, void *user)
{
    c->finishing = true;
    c->complete = complete;
    snprintf(c->why_incomplete, sizeof(c->why_incomplete), "%s", why_incomplete ? why_incomplete : "");
    c->done = done;
    c->done_user = user;
    if (c->busy) return; /* work_done continues */
    if (complete && !c->failed && !c->over_limit) {
        submit(c, true);
        if (c->busy) return;
    }
    /* nothing pending: still answer asynchronously */
    uv_timer_t *t = sl_calloc(1, sizeof(*t));
    uv_timer_init(c->loop, t);
    t->data = c;
    uv_timer_start(t, finish_deferred, 0, 0);
}

/* The embedded-content scan, YARA and the rules; a scanner that did not run is an error. */
static sl_result evaluate_scans(content_check *c, findings *f)
{
    const sl_config_checks *rules = c->params.rules;
    if (c->compiled == NULL)
        return findings_add(f, "content", FINDING_ERROR,
                            "the content scanners are not loaded (embedded content and rules were not checked)");
    GUARD(embedded_scan_report(c->embedded, rules, c->detected, c->size, f));
    if (rules->rule_count > 0) {
        if (c->yara == NULL) GUARD(findings_add(f, "yara", FINDING_ERROR, "the route's YARA rules are not loaded"));
        else GUARD(yara_scan_report(c->yara, f));
    }
    if (rules->rule_set_count == 0) return SL_SUCCESS;
    if (c->rules == NULL)
        return findings_add(f, "rules", FINDING_ERROR, "the route's rule sets are not loaded");
    return rules_scan_report(c->rules, f);
}

/* ClamAV's verdict, when the route requires it: only "OK" passes. */
static sl_result evaluate_clamav(content_check *c, findings *f)
{
    const sl_config_checks *rules = c->params.rules;
    if (!rules->clamav) return SL_SUCCESS;
    if (c->clamd_too_large)
        return findings_add(f, "clamav", FINDING_ERROR,
                            "%llu bytes, more than clamav.max_bytes (%llu): not sent to clamd, so not scanned",
                            (unsigned long long)c->size, (unsigned long long)c->compiled->clamd_max_bytes);
    if (c->clamd == NULL) return findings_add(f, "clamav", FINDING_ERROR, "ClamAV is not loaded: not scanned");
    if (!c->clamd_done) return findings_add(f, "clamav", FINDING_ERROR, "the ClamAV scan did not finish");
    const clamd_reply *r = &c->clamd_reply;
    switch (r->verdict) {
    case CLAMD_OK: return findings_add(f, "clamav", FINDING_PASS, "clamd found nothing");
    case CLAMD_FOUND: return findings_add(f, "clamav", FINDING_FAIL, "%s", r->text);
    case CLAMD_ERROR: return findings_add(f, "clamav", FINDING_ERROR, "clamd could not scan it: %s", r->text);
    case CLAMD_GARBLED:
        return findings_add(f, "clamav", FINDING_ERROR, "clamd's answer is not understood: \"%s\"", r->text);
    case CLAMD_FAILED: break;
    }
    return findings_add(f, "clamav", FINDING_ERROR, "not scanned: %s", r->text);
}

static sl_result evaluate(content_check *c, findings *f, char sha_hex[65])
{
    const sl_config_checks *rules = c->params.rules;
    sha_hex[0] = '\0';
    if (c->over_limit) {
        GUARD(findings_add(f, "size", FINDING_FAIL, "more than %llu bytes (limit %llu); reading stopped",
                           (unsigned long long)(c->size), (unsigned long long)rules->max_bytes));
        return SL_SUCCESS;
    }
    if (!c->complete) {
        GUARD(findings_add(f, "content", FINDING_ERROR, "the object could not be read to the end: %s",
                           c->why_incomplete));
        return SL_SUCCESS;
    }
    if (c->failed) {
        GUARD(findings_add(f, "content", FINDING_ERROR, "the checks could not finish: %s", c->error));
        return SL_SUCCESS;
    }
    GUARD(findings_add(f, "size", FINDING_PASS, "%llu bytes (limit %llu)", (unsigned long long)c->size,
                       (unsigned long long)rules->max_bytes));

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ENSURE(EVP_DigestFinal_ex(c->sha, md, &md_len) == 1 && md_len == 32, SL_ERR_CRYPTO, "SHA-256 final failed");
    for (unsigned i = 0; i < 32; i++) snprintf(sha_hex + 2 * i, 3, "%02x", md[i]);
    GUARD(findings_add(f, "sha256", FINDING_PASS, "%s", sha_hex));

    if (c->size == 0) snprintf(c->detected, sizeof(c->detected), "application/x-empty");
    const char *why = "";
    bool allowed = checks_type_allowed(rules, c->detected, &why);
    GUARD(findings_add(f, "type", allowed ? FINDING_PASS : FINDING_FAIL, "%s: %s", c->detected, why));

    if (rules->check_extension) {
        const char *const *promised = checks_extension_types(c->params.name);
        bool fits = promised == NULL;
        for (size_t i = 0; promised && promised[i]; i++)
            if (strcmp(promised[i], c->detected) == 0) fits = true;
        if (promised == NULL)
            GUARD(findings_add(f, "extension", FINDING_PASS, "no expectation for this name"));
        else if (fits)
            GUARD(findings_add(f, "extension", FINDING_PASS, "the extension fits %s", c->detected));
        else
            GUARD(findings_add(f, "extension", FINDING_REVIEW, "the name promises %s but the content is %s",
                               promised[0], c->detected));
        if (checks_declared_fits(c->params.declared_type, c->detected))
            GUARD(findings_add(f, "declared_type", FINDING_PASS, "declared \"%s\" fits %s", c->declared, c->detected));
        else
            GUARD(findings_add(f, "declared_type", FINDING_REVIEW, "declared \"%s\" but the content is %s",
                               c->declared, c->detected));
    }
    GUARD(evaluate_scans(c, f));
    if (c->archive != NULL) GUARD(archive_scan_report(c->archive, f));
    return evaluate_clamav(c, f);
}

static void finish_now(content_check *c)
{
    findings f = { 0 };
    char sha_hex[65] = "";
    if (sl_failed(evaluate(c, &f, sha_hex))) {
        findings_clean_up(&f);
        sha_hex[0] = '\0';
        if (sl_failed(findings_add(&f, "content", FINDING_ERROR, "the checks could not be evaluated: %s",
                                   sl_error_detail())))
            f.count = 0;
    }
    content_result result = {
        .findings = &f,
        .sha256 = sha_hex,
        .size = c->size,
        .detected_type = c->detected,
    };
    c->done(c->done_user, &result);
    findings_clean_up(&f);
    EVP_MD_CTX_free(c->sha);
    embedded_scan_destroy(c->embedded);
    rules_scan_destroy(c->rules);
    clamd_scan_destroy(c->clamd);
    archive_scan_destroy(c->archive);
    yara_scan_destroy(c->yara);
    sl_buf_clean_up(&c->history);
    sl_buf_clean_up(&c->bufs[0]);
    sl_buf_clean_up(&c->bufs[1]);
    sl_free(c->name);
    sl_free(c->declared);
    sl_free(c);
}
