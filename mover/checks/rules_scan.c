/*
 * rules_scan.c — one object through the rules (rules.h).
 *
 * Vectorscan, in streaming mode, reports where a rule's pattern may end (prefilter:
 * never fewer ends than the true pattern has). Each candidate end `e` of rule r is
 * confirmed by PCRE2 on the window [e - before, e + after] (rules_impl.h): every
 * match that ends by e + (max - min width) + 1 is taken (later ones are left to later
 * candidates), its secret (the rule's group) checked against the entropy threshold,
 * keywords, "near" pattern and allowlist. A window that reaches past the current
 * buffer waits for the next one: per rule, the earliest such candidate is enough (its
 * window covers every later one inside the same buffer end). Candidates already
 * covered by a window are skipped, so dense candidates cost one confirmation per
 * window, not per byte.
 *
 * What is kept per rule: a match count, the first offset and a redacted excerpt —
 * never the secret.
 */
#include "checks/rules_impl.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "util/alloc.h"

#define EXCERPT_MAX 32

struct rule_state {
    uint64_t count;
    uint64_t first;
    char excerpt[EXCERPT_MAX];
    uint64_t covered_until; /* candidates ending at or before this are confirmed */
    uint64_t reported_until; /* matches must start at or after this */
    uint64_t pending;        /* a candidate end waiting for bytes, + 1; 0: none */
};

struct rules_scan {
    const rules_db *db;
    char *name;
    hs_stream_t *stream;
    struct rule_state *state;
    pcre2_match_data *md;
    pcre2_match_data *md_near;
    bool failed;
    char error[200];
    const stream_view *view; /* during a feed */
    sl_buf window;
};

rules_scan *rules_scan_new(const rules_db *db, sl_cursor name)
{
    rules_scan *s = sl_calloc(1, sizeof(*s));
    s->db = db;
    s->name = sl_cursor_dup(name);
    s->state = sl_calloc(db->count, sizeof(*s->state));
    s->md = pcre2_match_data_create(32, NULL);
    s->md_near = pcre2_match_data_create(1, NULL);
    if (s->md == NULL || s->md_near == NULL || hs_open_stream(db->hs, 0, &s->stream) != HS_SUCCESS) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "the rules scan could not start");
    }
    return s;
}

void rules_scan_destroy(rules_scan *s)
{
    if (s == NULL) return;
    if (s->stream != NULL) (void)hs_close_stream(s->stream, NULL, NULL, NULL);
    pcre2_match_data_free(s->md);
    pcre2_match_data_free(s->md_near);
    sl_buf_clean_up_secure(&s->window);
    sl_free(s->state);
    sl_free(s->name);
    sl_free(s);
}

/* `what` follows "rule ID" and " at offset N". */
static void fail(rules_scan *s, const char *what, const char *id, uint64_t at)
{
    if (s->failed) return;
    char where[32];
    checks_format_offset(at, where);
    snprintf(s->error, sizeof(s->error), "rule %s %s at offset %s", id, what, where);
    s->failed = true;
}

/* ---- the secret's tests ---- */

static double entropy(sl_cursor s)
{
    if (s.len == 0) return 0;
    size_t counts[256] = { 0 };
    for (size_t i = 0; i < s.len; i++) counts[s.ptr[i]]++;
    double h = 0;
    for (size_t i = 0; i < 256; i++) {
        if (counts[i] == 0) continue;
        double p = (double)counts[i] / (double)s.len;
        h -= p * log2(p);
    }
    return h;
}

static bool contains_ignore_case(sl_cursor hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || n > hay.len) return false;
    for (size_t i = 0; i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && tolower(hay.ptr[i + k]) == tolower((unsigned char)needle[k])) k++;
        if (k == n) return true;
    }
    return false;
}

static bool any_matches(pcre2_code *const *codes, size_t n, sl_cursor subject, pcre2_match_data *md,
                        pcre2_match_context *limits)
{
    for (size_t i = 0; i < n; i++)
        if (pcre2_match(codes[i], subject.ptr, subject.len, 0, 0, md, limits) >= 0) return true;
    return false;
}

static bool allowed(rules_scan *s, const compiled_rule *c, sl_cursor secret)
{
    const rule_def *r = c->def;
    for (size_t i = 0; i < r->stopword_count; i++)
        if (contains_ignore_case(secret, r->stopwords[i])) return true;
    if (any_matches(c->allow_patterns, r->allow_pattern_count, secret, s->md_near, s->db->limits)) return true;
    return any_matches(c->allow_paths, r->allow_path_count, sl_cursor_from_cstr(s->name), s->md_near, s->db->limits);
}

/* Whether the match [ms, me) (offsets in w) passes the rule's other tests. */
static bool confirmed(rules_scan *s, const compiled_rule *c, sl_cursor w, size_t ms, size_t me, sl_cursor secret)
{
    const rule_def *r = c->def;
    if (r->entropy > 0 && entropy(secret) < r->entropy) return false;
    size_t lo = ms > r->near_within ? ms - r->near_within : 0;
    size_t hi = me + r->near_within < w.len ? me + r->near_within : w.len;
    sl_cursor around = sl_cursor_from_bytes(w.ptr + lo, hi - lo);
    if (r->keyword_count > 0) {
        bool any = false;
        for (size_t i = 0; i < r->keyword_count && !any; i++) any = contains_ignore_case(w, r->keywords[i]);
        if (!any) return false;
    }
    if (c->near != NULL && pcre2_match(c->near, around.ptr, around.len, 0, 0, s->md_near, s->db->limits) < 0)
        return false;
    return !allowed(s, c, secret);
}

static void record(struct rule_state *st, uint64_t at, sl_cursor secret)
{
    if (st->count++ > 0) return;
    st->first = at;
    sl_buf e = { 0 };
    if (sl_ok(redact_excerpt(secret, &e))) snprintf(st->excerpt, sizeof(st->excerpt), "%s", sl_buf_cstr(&e));
    sl_buf_clean_up(&e);
}

/* ---- confirmation ---- */

static void confirm(rules_scan *s, size_t rule, uint64_t e)
{
    const compiled_rule *c = &s->db->rules[rule];
    struct rule_state *st = &s->state[rule];
    uint64_t cover = e + (c->max_width - c->min_width) + 1;
    uint64_t from = e > c->before ? e - c->before : 0;
    sl_cursor w;
    uint64_t at;
    if (sl_failed(view_slice(s->view, from, cover + c->def->near_within, &s->window, &w, &at))) {
        fail(s, "could not read its window", c->def->id, e);
        return;
    }
    uint64_t earliest = e > c->max_width ? e - c->max_width : 0;
    if (st->reported_until > earliest) earliest = st->reported_until;
    size_t pos = earliest > at ? (size_t)(earliest - at) : 0;
    while (pos <= w.len) {
        int rc = pcre2_match(c->code, w.ptr, w.len, pos, 0, s->md, s->db->limits);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            fail(s, "could not be confirmed (PCRE2 match limit or error)", c->def->id, e);
            return;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t ms = ov[0], me = ov[1];
        if (at + me > cover) break; /* a later candidate confirms it, with its own window */
        sl_cursor secret = sl_cursor_from_bytes(w.ptr + ms, me - ms);
        uint32_t g = c->def->secret_group;
        if (g > 0 && (uint32_t)rc > g && ov[2 * g] != PCRE2_UNSET)
            secret = sl_cursor_from_bytes(w.ptr + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        if (confirmed(s, c, w, ms, me, secret)) record(st, at + (uint64_t)(secret.ptr - w.ptr), secret);
        st->reported_until = at + me;
        pos = me > ms ? me : me + 1;
    }
    st->covered_until = cover;
}

static bool window_ready(const rules_scan *s, size_t rule, uint64_t e)
{
    const compiled_rule *c = &s->db->rules[rule];
    return s->view->final || e + c->after <= view_end(s->view);
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ctx)
{
    (void)from;
    (void)flags;
    rules_scan *s = ctx;
    struct rule_state *st = &s->state[id];
    if (to <= st->covered_until) return 0;
    if (window_ready(s, id, to)) confirm(s, id, to);
    else if (st->pending == 0) st->pending = to + 1;
    return s->failed ? 1 : 0;
}

static void drain_pending(rules_scan *s)
{
    for (size_t i = 0; i < s->db->count && !s->failed; i++) {
        struct rule_state *st = &s->state[i];
        if (st->pending == 0) continue;
        uint64_t e = st->pending - 1;
        if (!window_ready(s, i, e)) continue;
        st->pending = 0;
        if (e > st->covered_until) confirm(s, i, e);
    }
}

sl_result rules_scan_feed(rules_scan *s, const stream_view *view, hs_scratch_t *scratch)
{
    ENSURE(!s->failed, SL_ERR_STATE, "%s", s->error);
    s->view = view;
    drain_pending(s);
    if (view->len > 0 && !s->failed) {
        hs_error_t e = hs_scan_stream(s->stream, (const char *)view->data, (unsigned)view->len, 0, scratch, on_match, s);
        if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED && !s->failed) {
            snprintf(s->error, sizeof(s->error), "Vectorscan failed to scan (%d)", (int)e);
            s->failed = true;
        }
    }
    if (view->final && s->stream != NULL && !s->failed) {
        hs_error_t e = hs_close_stream(s->stream, scratch, on_match, s);
        s->stream = NULL;
        if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED && !s->failed) {
            snprintf(s->error, sizeof(s->error), "Vectorscan failed to close its stream (%d)", (int)e);
            s->failed = true;
        }
    }
    drain_pending(s);
    s->view = NULL;
    ENSURE(!s->failed, SL_ERR_LIMIT, "%s", s->error);
    return SL_SUCCESS;
}

sl_result rules_scan_report(const rules_scan *s, findings *out)
{
    ENSURE(!s->failed, SL_ERR_STATE, "%s", s->error);
    size_t hits = 0;
    for (size_t i = 0; i < s->db->count; i++) {
        const struct rule_state *st = &s->state[i];
        if (st->count == 0) continue;
        const rule_def *r = s->db->rules[i].def;
        char at[32];
        checks_format_offset(st->first, at);
        GUARD(findings_add(out, "rules", r->severity, "%s at offset %s: %s%s%s%s", r->id, at, st->excerpt,
                           st->count > 1 ? " (and more)" : "", r->description ? " — " : "",
                           r->description ? r->description : ""));
        hits++;
    }
    if (hits == 0)
        GUARD(findings_add(out, "rules", FINDING_PASS, "no match for %zu rules (%s)", s->db->count, s->db->version));
    return SL_SUCCESS;
}
