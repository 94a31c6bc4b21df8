/*
 * checks.c — key, metadata and type rules, libmagic behind a mutex, and the streaming
 * content checker (see checks.h).
 *
 * The content checker keeps two buffers. The loop fills `fill`; when a chunk does not
 * fit, `fill` is handed to the thread pool (hash, and libmagic on the first buffer) and
 * the spare becomes `fill` — if the spare is still with the pool, the chunk is refused
 * (PAUSE) and the GET resumed when the work returns. So at most two buffers per
 * artifact exist, whatever the object's size.
 */
#include "pipeline/checks.h"

#include <magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util/alloc.h"

#define BUFFER_MAX ((size_t)256 * 1024)
#define BUFFER_MIN ((size_t)4 * 1024)
#define MAGIC_BYTES ((size_t)64 * 1024)

/* ---- findings ---- */

sl_result findings_add(findings *f, const char *check, finding_verdict verdict, const char *fmt, ...)
{
    sl_buf detail = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sl_result r = sl_buf_vappendf(&detail, fmt, ap);
    va_end(ap);
    if (sl_failed(r)) {
        sl_buf_clean_up(&detail);
        return r;
    }
    f->items = sl_realloc(f->items, (f->count + 1) * sizeof(*f->items));
    f->items[f->count++] = (artifact_finding){ .check = sl_strdup(check), .verdict = verdict,
                                               .detail = sl_buf_steal(&detail) };
    return SL_SUCCESS;
}

bool findings_all_pass(const findings *f)
{
    if (f->count == 0) return false;
    for (size_t i = 0; i < f->count; i++)
        if (f->items[i].verdict != FINDING_PASS) return false;
    return true;
}

finding_verdict findings_worst(const findings *f)
{
    static const int rank[] = { [FINDING_PASS] = 0, [FINDING_REVIEW] = 1, [FINDING_FAIL] = 2, [FINDING_ERROR] = 3 };
    finding_verdict worst = FINDING_PASS;
    for (size_t i = 0; i < f->count; i++)
        if (rank[f->items[i].verdict] > rank[worst]) worst = f->items[i].verdict;
    return worst;
}

void findings_clean_up(findings *f)
{
    for (size_t i = 0; i < f->count; i++) {
        sl_free(f->items[i].check);
        sl_free(f->items[i].detail);
    }
    sl_free(f->items);
    *f = (findings){ 0 };
}

/* ---- key and metadata rules ---- */

sl_result checks_key(const sl_config_checks *rules, sl_cursor staging_key, sl_cursor name, findings *out)
{
    sl_buf why = { 0 };
    sl_result result = SL_FAILURE;
    if (staging_key.len > rules->max_key_length)
        GUARD_CLEANUP(sl_buf_appendf(&why, "; key is %zu bytes (limit %u)", staging_key.len, rules->max_key_length));
    if (name.len == 0) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; empty name"));
    if (name.len > 0 && name.ptr[0] == '/') GUARD_CLEANUP(sl_buf_append_cstr(&why, "; name starts with \"/\""));
    bool control = false, backslash = false, dots = false, empty = false;
    for (size_t i = 0; i < name.len; i++) {
        uint8_t c = name.ptr[i];
        if (c < 0x20 || c == 0x7f) control = true;
        if (c == '\\') backslash = true;
    }
    size_t depth = 0;
    sl_cursor rest = name, segment;
    while (name.len > 0 && sl_cursor_next_token(&rest, '/', &segment)) {
        depth++;
        if (sl_cursor_eq_cstr(segment, "..") || sl_cursor_eq_cstr(segment, ".")) dots = true;
        if (segment.len == 0) empty = true;
    }
    if (control) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; control character in name"));
    if (backslash) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; backslash in name"));
    if (dots) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; \".\" or \"..\" segment in name"));
    if (empty && !(name.len > 0 && name.ptr[0] == '/')) GUARD_CLEANUP(sl_buf_append_cstr(&why, "; empty segment (\"//\") in name"));
    if (depth > rules->max_depth)
        GUARD_CLEANUP(sl_buf_appendf(&why, "; %zu segments deep (limit %u)", depth, rules->max_depth));

    if (why.len == 0) GUARD_CLEANUP(findings_add(out, "key", FINDING_PASS, "key rules passed"));
    else GUARD_CLEANUP(findings_add(out, "key", FINDING_FAIL, "%s", sl_buf_cstr(&why) + 2));
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up(&why);
    return result;
}

sl_result checks_metadata(const sl_config_checks *rules, const sl_cursor *metadata, size_t pairs, findings *out)
{
    size_t total = 0;
    for (size_t i = 0; i < 2 * pairs; i++)
        if (!sl_add_size(total, metadata[i].len, &total)) total = SIZE_MAX;
    if (total > rules->max_metadata_bytes)
        return findings_add(out, "metadata", FINDING_FAIL, "user metadata is %zu bytes (limit %u)", total,
                            rules->max_metadata_bytes);
    return findings_add(out, "metadata", FINDING_PASS, "%zu pairs, %zu bytes", pairs, total);
}

/* ---- type rules ---- */

static bool mime_matches(const char *pattern, const char *mime)
{
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, "/*") == 0) return strncmp(pattern, mime, n - 1) == 0;
    return strcmp(pattern, mime) == 0;
}

bool checks_type_allowed(const sl_config_checks *rules, const char *mime, const char **why)
{
    for (size_t i = 0; i < rules->deny_type_count; i++) {
        if (mime_matches(rules->deny_types[i], mime)) {
            *why = "in the route's deny_types";
            return false;
        }
    }
    if (rules->allow_type_count == 0) {
        *why = "not denied (the route allows any other type)";
        return true;
    }
    for (size_t i = 0; i < rules->allow_type_count; i++) {
        if (mime_matches(rules->allow_types[i], mime)) {
            *why = "in the route's allow_types";
            return true;
        }
    }
    *why = "not in the route's allow_types";
    return false;
}

struct extension_rule {
    const char *ext;
    const char *types[5];
};

/* What an extension promises, as libmagic names the types. */
static const struct extension_rule extension_rules[] = {
    { "csv", { "text/csv", "text/plain", NULL } },
    { "tsv", { "text/tab-separated-values", "text/plain", "text/csv", NULL } },
    { "txt", { "text/plain", NULL } },
    { "log", { "text/plain", NULL } },
    { "md", { "text/plain", "text/markdown", NULL } },
    { "json", { "application/json", "text/plain", NULL } },
    { "ipynb", { "application/json", "text/plain", NULL } },
    { "xml", { "text/xml", "application/xml", NULL } },
    { "html", { "text/html", NULL } },
    { "htm", { "text/html", NULL } },
    { "png", { "image/png", NULL } },
    { "jpg", { "image/jpeg", NULL } },
    { "jpeg", { "image/jpeg", NULL } },
    { "gif", { "image/gif", NULL } },
    { "svg", { "image/svg+xml", "text/xml", NULL } },
    { "pdf", { "application/pdf", NULL } },
    { "zip", { "application/zip", NULL } },
    { "gz", { "application/gzip", NULL } },
    { "tar", { "application/x-tar", NULL } },
};

const char *const *checks_extension_types(sl_cursor name)
{
    ptrdiff_t dot = -1;
    for (size_t i = 0; i < name.len; i++) {
        if (name.ptr[i] == '.') dot = (ptrdiff_t)i;
        if (name.ptr[i] == '/') dot = -1;
    }
    if (dot < 0) return NULL;
    sl_cursor ext = sl_cursor_from_bytes(name.ptr + dot + 1, name.len - (size_t)dot - 1);
    for (size_t i = 0; i < sizeof(extension_rules) / sizeof(extension_rules[0]); i++)
        if (sl_cursor_eq_ignore_case(ext, sl_cursor_from_cstr(extension_rules[i].ext))) return extension_rules[i].types;
    return NULL;
}

/* Whether a declared Content-Type fits the detected one. Generic declarations
 * (octet-stream) say nothing; libmagic reports many text formats as text/plain. */
static bool declared_fits(sl_cursor declared, const char *detected)
{
    ptrdiff_t semi = sl_cursor_find_byte(declared, ';');
    if (semi >= 0) declared.len = (size_t)semi;
    declared = sl_cursor_trim(declared);
    if (declared.len == 0 || sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("application/octet-stream")) ||
        sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("binary/octet-stream")))
        return true;
    if (sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr(detected))) return true;
    bool declared_textual = sl_cursor_starts_with(declared, sl_cursor_from_cstr("text/")) ||
                            sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("application/json")) ||
                            sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("application/xml"));
    return declared_textual && strcmp(detected, "text/plain") == 0;
}

/* ---- libmagic ---- */

/* libmagic handles are not thread-safe: a small pool of them, one per pool thread that
 * needs one at the same moment, handed out under a mutex held only to take or give one
 * back — the (slow, for text) magic_buffer calls run in parallel. */
#define MAGIC_HANDLES 128 /* made on demand: never more than the pool threads */

struct checks_magic {
    pthread_mutex_t lock;
    magic_t free[MAGIC_HANDLES];
    size_t free_count;
    size_t made;
};

static magic_t magic_make(char *err, size_t err_size)
{
    magic_t cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS);
    if (cookie == NULL) {
        snprintf(err, err_size, "magic_open failed");
        return NULL;
    }
    if (magic_load(cookie, NULL) != 0) {
        snprintf(err, err_size, "libmagic cannot load its database: %s",
                 magic_error(cookie) ? magic_error(cookie) : "unknown error");
        magic_close(cookie);
        return NULL;
    }
    return cookie;
}

sl_result checks_magic_new(checks_magic **out)
{
    char err[256];
    magic_t first = magic_make(err, sizeof(err));
    ENSURE(first != NULL, SL_ERR_UNSUPPORTED, "%s", err);
    checks_magic *m = sl_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->free[m->free_count++] = first;
    m->made = 1;
    *out = m;
    return SL_SUCCESS;
}

void checks_magic_destroy(checks_magic *m)
{
    if (m == NULL) return;
    for (size_t i = 0; i < m->free_count; i++) magic_close(m->free[i]);
    pthread_mutex_destroy(&m->lock);
    sl_free(m);
}

sl_result checks_magic_detect(checks_magic *m, const uint8_t *data, size_t len, char *out, size_t out_size)
{
    magic_t cookie = NULL;
    bool make = false;
    pthread_mutex_lock(&m->lock);
    if (m->free_count > 0) cookie = m->free[--m->free_count];
    else if (m->made < MAGIC_HANDLES) make = true, m->made++;
    pthread_mutex_unlock(&m->lock);
    char err[256] = "all libmagic handles are busy";
    if (make && (cookie = magic_make(err, sizeof(err))) == NULL) {
        pthread_mutex_lock(&m->lock);
        m->made--;
        pthread_mutex_unlock(&m->lock);
    }
    ENSURE(cookie != NULL, SL_ERR_UNSUPPORTED, "libmagic: %s", err); /* more pool threads than handles */
    const char *type = magic_buffer(cookie, data, len);
    sl_result result = SL_SUCCESS;
    if (type == NULL) {
        const char *why = magic_error(cookie);
        snprintf(out, out_size, "%s", why ? why : "unknown error");
        result = sl_error_raise(SL_ERR_IO, __FILE__, __LINE__, "libmagic: %s", out);
    } else {
        snprintf(out, out_size, "%s", type);
    }
    pthread_mutex_lock(&m->lock);
    m->free[m->free_count++] = cookie;
    pthread_mutex_unlock(&m->lock);
    return result;
}

/* ---- the streaming content checker ---- */

struct work {
    uv_work_t req;
    content_check *check;
    sl_buf *buf;
    bool detect; /* run libmagic on this (the first) buffer */
    bool failed;
    char detected[128];
};

struct content_check {
    uv_loop_t *loop;
    content_check_params params;
    char *name;
    char *declared;
    EVP_MD_CTX *sha;
    sl_buf bufs[2];
    sl_buf *fill;       /* being filled by the loop */
    sl_buf *spare;      /* NULL while the pool has it */
    struct work work;
    bool busy;          /* a work item is with the pool */
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

static void work_run(uv_work_t *req)
{
    struct work *w = (struct work *)req;
    content_check *c = w->check;
    if (c->sha != NULL && EVP_DigestUpdate(c->sha, w->buf->data, w->buf->len) != 1) w->failed = true;
    if (w->detect) {
        size_t n = w->buf->len < MAGIC_BYTES ? w->buf->len : MAGIC_BYTES;
        if (sl_failed(checks_magic_detect(c->params.magic, w->buf->data, n, w->detected, sizeof(w->detected)))) {
            w->failed = true;
            snprintf(w->detected, sizeof(w->detected), "%s", sl_error_detail());
        }
    }
}

static void finish_now(content_check *c);
static void submit(content_check *c);

static void work_done(uv_work_t *req, int status)
{
    struct work *w = (struct work *)req;
    content_check *c = w->check;
    c->busy = false;
    if (status != 0 || w->failed) {
        c->failed = true;
        snprintf(c->error, sizeof(c->error), "%s", status != 0 ? "the check was cancelled" : w->detected);
    } else if (w->detect) {
        snprintf(c->detected, sizeof(c->detected), "%s", w->detected);
    }
    sl_buf_reset(w->buf);
    c->spare = w->buf;
    if (c->finishing) {
        if (c->complete && c->fill->len > 0 && !c->failed && !c->over_limit) submit(c);
        if (!c->busy) finish_now(c);
        return;
    }
    if (c->paused) {
        c->paused = false;
        c->params.resume(c->params.user);
    }
}

/* Hands `fill` to the pool and takes the spare. Requires !busy and spare != NULL. */
static void submit(content_check *c)
{
    struct work *w = &c->work;
    memset(w, 0, sizeof(*w));
    w->check = c;
    w->buf = c->fill;
    w->detect = !c->detected_once;
    c->detected_once = true;
    c->fill = c->spare;
    c->spare = NULL;
    c->busy = true;
    if (uv_queue_work(c->loop, &w->req, work_run, work_done) != 0) {
        c->busy = false;
        c->failed = true;
        snprintf(c->error, sizeof(c->error), "the thread pool refused the work");
        c->spare = w->buf;
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
            submit(c);
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
    if (complete && c->fill->len > 0 && !c->failed && !c->over_limit) {
        submit(c);
        if (c->busy) return;
    }
    /* nothing pending: still answer asynchronously */
    uv_timer_t *t = sl_calloc(1, sizeof(*t));
    uv_timer_init(c->loop, t);
    t->data = c;
    uv_timer_start(t, finish_deferred, 0, 0);
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
        if (declared_fits(c->params.declared_type, c->detected))
            GUARD(findings_add(f, "declared_type", FINDING_PASS, "declared \"%s\" fits %s", c->declared, c->detected));
        else
            GUARD(findings_add(f, "declared_type", FINDING_REVIEW, "declared \"%s\" but the content is %s",
                               c->declared, c->detected));
    }
    return SL_SUCCESS;
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
    sl_buf_clean_up(&c->bufs[0]);
    sl_buf_clean_up(&c->bufs[1]);
    sl_free(c->name);
    sl_free(c->declared);
    sl_free(c);
}
