/*
 * statement.c — the canonical promotion Statement and its metadata codec (statement.h;
 * the format is written out in docs/attestation.md). One validator (check_facts) runs
 * before anything is written; the statement writer and the metadata encoder both walk
 * the same facts in a fixed order; the decoder is the encoder's strict inverse (every
 * value has exactly one accepted spelling), which tests/vectors/attest pins down.
 */
#include "attest/statement.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/dsse.h"
#include "util/alloc.h"
#include "util/timefmt.h"

#define MAX_FINDINGS (UINT64_C(1) << 53) /* integers JSON readers hold exactly */

/* ---- validation ---- */

static bool is_hex64(sl_cursor c)
{
    if (c.len != 64) return false;
    for (size_t i = 0; i < 64; i++) {
        uint8_t x = c.ptr[i];
        if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f'))) return false;
    }
    return true;
}

static bool time_ok(int64_t ms, bool required)
{
    if (ms == 0) return !required;
    return ms > 0 && ms <= SL_TIME_MAX_MS;
}

static sl_result check_text(sl_cursor c, const char *what, bool may_be_empty)
{
    ENSURE(c.ptr != NULL || c.len == 0, SL_ERR_INVALID_ARGUMENT, "attestation: %s has no bytes", what);
    ENSURE(may_be_empty || c.len > 0, SL_ERR_INVALID_ARGUMENT, "attestation: %s is empty", what);
    ENSURE(attest_utf8_valid(c), SL_ERR_ENCODING, "attestation: %s is not UTF-8", what);
    return SL_SUCCESS;
}

static sl_result check_facts(const attest_facts *f)
{
    ENSURE(f != NULL, SL_ERR_INVALID_ARGUMENT, "attestation: no facts");
    GUARD(check_text(f->trusted_key, "the trusted key", false));
    ENSURE(is_hex64(f->sha256), SL_ERR_INVALID_ARGUMENT, "attestation: the SHA-256 is not 64 lower-case hex digits");
    GUARD(check_text(f->media_type, "the media type", true));
    GUARD(check_text(f->artifact, "the artifact id", false));
    GUARD(check_text(f->task, "the task", false));
    GUARD(check_text(f->route, "the route", false));
    GUARD(check_text(f->decision, "the decision", false));
    GUARD(check_text(f->staging_key, "the staging key", false));
    ENSURE(f->check_count >= 1 && f->check_count <= ATTEST_MAX_CHECKS && f->checks != NULL, SL_ERR_INVALID_ARGUMENT,
           "attestation: %zu checks (1 to %d)", f->check_count, ATTEST_MAX_CHECKS);
    for (size_t i = 0; i < f->check_count; i++) {
        GUARD(check_text(f->checks[i].name, "a check's name", false));
        GUARD(check_text(f->checks[i].version, "a check's version", true));
    }
    ENSURE(f->findings <= MAX_FINDINGS, SL_ERR_INVALID_ARGUMENT, "attestation: %" PRIu64 " findings", f->findings);
    ENSURE(f->reviewer_count <= ATTEST_MAX_REVIEWERS && (f->reviewer_count == 0 || f->reviewers != NULL),
           SL_ERR_INVALID_ARGUMENT, "attestation: %zu reviewers (at most %d)", f->reviewer_count, ATTEST_MAX_REVIEWERS);
    for (size_t i = 0; i < f->reviewer_count; i++) GUARD(check_text(f->reviewers[i], "a reviewer", false));
    const attest_times *t = &f->times;
    ENSURE(time_ok(t->signed_ms, true) && time_ok(t->quarantined_ms, false) && time_ok(t->checked_ms, false) &&
               time_ok(t->decided_ms, false),
           SL_ERR_INVALID_ARGUMENT, "attestation: a time outside 1970..9999 (or no signing time)");
    return SL_SUCCESS;
}

/* ---- the statement ---- */

static sl_result key_string(sl_buf *out, const char *key, sl_cursor value)
{
    GUARD(sl_buf_appendf(out, "\"%s\":", key));
    return attest_json_string(out, value);
}

static sl_result time_member(sl_buf *out, bool *first, const char *key, int64_t ms)
{
    if (ms == 0) return SL_SUCCESS;
    char text[SL_TIME_TEXT_LEN + 1];
    ENSURE(sl_time_format(ms, text), SL_ERR_INVALID_ARGUMENT, "attestation: time %" PRId64 " out of range", ms);
    GUARD(sl_buf_appendf(out, "%s\"%s\":\"%s\"", *first ? "" : ",", key, text));
    *first = false;
    return SL_SUCCESS;
}

sl_result attest_statement(sl_buf *out, const attest_facts *f)
{
    GUARD(check_facts(f));
    GUARD(sl_buf_append_cstr(out, "{\"_type\":\"" ATTEST_STATEMENT_TYPE "\",\"predicate\":{"));
    GUARD(key_string(out, "artifact", f->artifact));
    GUARD(sl_buf_append_cstr(out, ",\"checks\":["));
    for (size_t i = 0; i < f->check_count; i++) {
        GUARD(sl_buf_append_cstr(out, i ? ",{" : "{"));
        GUARD(key_string(out, "name", f->checks[i].name));
        if (f->checks[i].version.len > 0) {
            GUARD(sl_buf_append_byte(out, ','));
            GUARD(key_string(out, "version", f->checks[i].version));
        }
        GUARD(sl_buf_append_byte(out, '}'));
    }
    GUARD(sl_buf_append_cstr(out, "],"));
    GUARD(key_string(out, "decision", f->decision));
    GUARD(sl_buf_appendf(out, ",\"findings\":%" PRIu64 ",", f->findings));
    if (f->media_type.len > 0) {
        GUARD(key_string(out, "mediaType", f->media_type));
        GUARD(sl_buf_append_byte(out, ','));
    }
    GUARD(sl_buf_append_cstr(out, "\"reviewers\":["));
    for (size_t i = 0; i < f->reviewer_count; i++) {
        if (i > 0) GUARD(sl_buf_append_byte(out, ','));
        GUARD(attest_json_string(out, f->reviewers[i]));
    }
    GUARD(sl_buf_append_cstr(out, "],"));
    GUARD(key_string(out, "route", f->route));
    GUARD(sl_buf_append_byte(out, ','));
    GUARD(key_string(out, "stagingKey", f->staging_key));
    GUARD(sl_buf_append_byte(out, ','));
    GUARD(key_string(out, "task", f->task));
    GUARD(sl_buf_append_cstr(out, ",\"times\":{"));
    bool first = true;
    GUARD(time_member(out, &first, "checked", f->times.checked_ms));
    GUARD(time_member(out, &first, "decided", f->times.decided_ms));
    GUARD(time_member(out, &first, "quarantined", f->times.quarantined_ms));
    GUARD(time_member(out, &first, "signed", f->times.signed_ms));
    GUARD(sl_buf_append_cstr(out, "}},\"predicateType\":\"" ATTEST_PREDICATE_TYPE "\",\"subject\":[{\"digest\":{"));
    GUARD(key_string(out, "sha256", f->sha256));
    GUARD(sl_buf_append_cstr(out, "},"));
    GUARD(key_string(out, "name", f->trusted_key));
    return sl_buf_append_cstr(out, "}]}");
}

/* ---- value encoding ---- */

static bool must_escape(uint8_t c) { return c < 0x21 || c > 0x7E || c == '%' || c == ',' || c == '='; }

static sl_result pct_append(sl_buf *out, sl_cursor c)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < c.len; i++) {
        uint8_t b = c.ptr[i];
        if (!must_escape(b)) {
            GUARD(sl_buf_append_byte(out, b));
            continue;
        }
        char e[3] = { '%', hex[b >> 4], hex[b & 15] };
        GUARD(sl_buf_append(out, e, 3));
    }
    return SL_SUCCESS;
}

static int hex_upper(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Strict inverse of pct_append; `what` names the field in errors. */
static sl_result pct_decode(sl_cursor c, sl_buf *out, const char *what)
{
    for (size_t i = 0; i < c.len; i++) {
        uint8_t b = c.ptr[i];
        if (b != '%') {
            ENSURE(!must_escape(b), SL_ERR_PARSE, "%s: byte %zu (0x%02x) must be %%-encoded", what, i + 1, b);
            GUARD(sl_buf_append_byte(out, b));
            continue;
        }
        ENSURE(i + 2 < c.len, SL_ERR_PARSE, "%s: a %% without two hex digits", what);
        int hi = hex_upper(c.ptr[i + 1]), lo = hex_upper(c.ptr[i + 2]);
        ENSURE(hi >= 0 && lo >= 0, SL_ERR_PARSE, "%s: %%%c%c is not %%XX in upper-case hex", what, c.ptr[i + 1],
               c.ptr[i + 2]);
        uint8_t v = (uint8_t)(hi << 4 | lo);
        ENSURE(must_escape(v), SL_ERR_PARSE, "%s: %%%02X encodes a byte written as itself", what, v);
        GUARD(sl_buf_append_byte(out, v));
        i += 2;
    }
    return SL_SUCCESS;
}

static sl_result decimal_append(sl_buf *out, uint64_t v) { return sl_buf_appendf(out, "%" PRIu64, v); }

/* Canonical decimal: digits, no leading zero, at most `max`. */
static sl_result decimal_parse(sl_cursor c, uint64_t max, uint64_t *out, const char *what)
{
    ENSURE(c.len >= 1 && c.len <= 20 && (c.ptr[0] != '0' || c.len == 1), SL_ERR_PARSE,
           "%s: expected a decimal number without leading zeros", what);
    uint64_t v = 0;
    for (size_t i = 0; i < c.len; i++) {
        ENSURE(c.ptr[i] >= '0' && c.ptr[i] <= '9', SL_ERR_PARSE, "%s: expected a decimal number", what);
        uint64_t d = (uint64_t)(c.ptr[i] - '0');
        ENSURE(v <= (max - d) / 10, SL_ERR_PARSE, "%s: larger than %" PRIu64, what, max);
        v = v * 10 + d;
    }
    *out = v;
    return SL_SUCCESS;
}

/* ---- encoding ---- */

static size_t common_suffix(sl_cursor a, sl_cursor b)
{
    size_t n = 0;
    while (n < a.len && n < b.len && a.ptr[a.len - 1 - n] == b.ptr[b.len - 1 - n]) n++;
    return n;
}

sl_result attest_subject_hint(sl_cursor trusted_key, char out[ATTEST_SUBJECT_HINT_LEN + 1])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    GUARD_OSSL(EVP_Digest(trusted_key.ptr, trusted_key.len, d, &n, EVP_sha256(), NULL), SL_ERR_CRYPTO);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < ATTEST_SUBJECT_HINT_LEN / 2; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[ATTEST_SUBJECT_HINT_LEN] = '\0';
    return SL_SUCCESS;
}

void attest_headers_clean_up(attest_headers *h)
{
    if (h == NULL) return;
    sl_buf_clean_up(&h->store);
    *h = (attest_headers){ 0 };
}

struct span {
    size_t name_at, name_len, value_at;
};

static sl_result begin_field(attest_headers *h, struct span *s, const char *name)
{
    ENSURE(h->count < sizeof(h->pairs) / sizeof(h->pairs[0]) / 2, SL_ERR_LIMIT, "too many metadata fields");
    s[h->count].name_at = h->store.len;
    s[h->count].name_len = strlen(name);
    GUARD(sl_buf_append_cstr(&h->store, name));
    s[h->count].value_at = h->store.len;
    h->count++;
    return SL_SUCCESS;
}

static sl_result field_pct(attest_headers *h, struct span *s, const char *name, sl_cursor value)
{
    GUARD(begin_field(h, s, name));
    return pct_append(&h->store, value);
}

static sl_result field_text(attest_headers *h, struct span *s, const char *name, const char *value)
{
    GUARD(begin_field(h, s, name));
    return sl_buf_append_cstr(&h->store, value);
}

static sl_result time_item(sl_buf *out, int64_t ms, bool last)
{
    if (ms == 0) GUARD(sl_buf_append_byte(out, '-'));
    else GUARD(decimal_append(out, (uint64_t)ms));
    return last ? SL_SUCCESS : sl_buf_append_byte(out, ',');
}

static sl_result encode_fields(attest_headers *h, struct span *s, const attest_facts *f, const char *key_id,
                               const uint8_t sig[ATTEST_SIGNATURE_LEN])
{
    sl_buf *b = &h->store;
    GUARD(field_pct(h, s, "sluice-sha256", f->sha256));
    GUARD(field_pct(h, s, "sluice-artifact", f->artifact));
    GUARD(field_pct(h, s, "sluice-task", f->task));
    GUARD(field_pct(h, s, "sluice-route", f->route));
    GUARD(field_pct(h, s, "sluice-decision", f->decision));
    GUARD(field_text(h, s, "sluice-attestation", ATTEST_FORMAT_VERSION));
    size_t suffix = common_suffix(f->staging_key, f->trusted_key);
    GUARD(begin_field(h, s, "sluice-staging"));
    GUARD(decimal_append(b, suffix));
    GUARD(sl_buf_append_byte(b, '/'));
    GUARD(pct_append(b, sl_cursor_from_bytes(f->staging_key.ptr, f->staging_key.len - suffix)));
    GUARD(begin_field(h, s, "sluice-checks"));
    for (size_t i = 0; i < f->check_count; i++) {
        if (i > 0) GUARD(sl_buf_append_byte(b, ','));
        GUARD(pct_append(b, f->checks[i].name));
        if (f->checks[i].version.len > 0) {
            GUARD(sl_buf_append_byte(b, '='));
            GUARD(pct_append(b, f->checks[i].version));
        }
    }
    GUARD(begin_field(h, s, "sluice-findings"));
    GUARD(decimal_append(b, f->findings));
    GUARD(begin_field(h, s, "sluice-reviewers"));
    if (f->reviewer_count == 0) GUARD(sl_buf_append_byte(b, '-'));
    for (size_t i = 0; i < f->reviewer_count; i++) {
        if (i > 0) GUARD(sl_buf_append_byte(b, ','));
        GUARD(pct_append(b, f->reviewers[i]));
    }
    GUARD(begin_field(h, s, "sluice-times"));
    GUARD(time_item(b, f->times.quarantined_ms, false));
    GUARD(time_item(b, f->times.checked_ms, false));
    GUARD(time_item(b, f->times.decided_ms, false));
    GUARD(time_item(b, f->times.signed_ms, true));
    char hint[ATTEST_SUBJECT_HINT_LEN + 1];
    GUARD(attest_subject_hint(f->trusted_key, hint));
    GUARD(field_text(h, s, "sluice-subject", hint));
    GUARD(field_text(h, s, "sluice-keyid", key_id));
    GUARD(begin_field(h, s, "sluice-signature"));
    return attest_base64_encode(b, sig, ATTEST_SIGNATURE_LEN);
}

sl_result attest_metadata_encode(attest_headers *h, const attest_facts *f, const char *key_id,
                                 const uint8_t sig[ATTEST_SIGNATURE_LEN])
{
    ENSURE(h != NULL && key_id != NULL && sig != NULL, SL_ERR_INVALID_ARGUMENT,
           "attest_metadata_encode needs headers, a key id and a signature");
    attest_headers_clean_up(h);
    GUARD(check_facts(f));
    ENSURE(strlen(key_id) == ATTEST_KEY_ID_LEN && is_hex64(sl_cursor_from_cstr(key_id)), SL_ERR_INVALID_ARGUMENT,
           "attestation: the key id is not 64 hex digits");
    struct span s[sizeof(h->pairs) / sizeof(h->pairs[0]) / 2];
    if (sl_failed(encode_fields(h, s, f, key_id, sig))) {
        attest_headers_clean_up(h);
        return SL_FAILURE;
    }
    /* the store no longer moves: point the pairs into it */
    h->bytes = 0;
    for (size_t i = 0; i < h->count; i++) {
        size_t value_end = i + 1 < h->count ? s[i + 1].name_at : h->store.len;
        h->pairs[2 * i] = sl_cursor_from_bytes(h->store.data + s[i].name_at, s[i].name_len);
        h->pairs[2 * i + 1] = sl_cursor_from_bytes(h->store.data + s[i].value_at, value_end - s[i].value_at);
        h->bytes += s[i].name_len + (value_end - s[i].value_at);
    }
    return SL_SUCCESS;
}

/* ---- decoding ---- */

enum field_id {
    F_SHA256, F_ARTIFACT, F_TASK, F_ROUTE, F_DECISION, F_ATTESTATION, F_STAGING, F_CHECKS, F_FINDINGS,
    F_REVIEWERS, F_TIMES, F_SUBJECT, F_KEYID, F_SIGNATURE, F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "sluice-sha256",      "sluice-artifact", "sluice-task",    "sluice-route",     "sluice-decision",
    "sluice-attestation", "sluice-staging",  "sluice-checks",  "sluice-findings",  "sluice-reviewers",
    "sluice-times",       "sluice-subject",  "sluice-keyid",   "sluice-signature",
};

void attest_decoded_clean_up(attest_decoded *d)
{
    if (d == NULL) return;
    for (size_t i = 0; i < d->string_count; i++) sl_free(d->strings[i]);
    sl_buf_clean_up(&d->staging_key);
    sl_free(d->unexpected);
    *d = (attest_decoded){ 0 };
}

/* Decodes a %-encoded value into a string the decoded facts own. */
static sl_result own(attest_decoded *d, sl_cursor value, const char *what, bool may_be_empty, sl_cursor *out)
{
    ENSURE(d->string_count < sizeof(d->strings) / sizeof(d->strings[0]), SL_ERR_LIMIT, "too many values");
    sl_buf b = { 0 };
    if (sl_failed(pct_decode(value, &b, what))) {
        sl_buf_clean_up(&b);
        return SL_FAILURE;
    }
    if (!may_be_empty && b.len == 0) {
        sl_buf_clean_up(&b);
        RAISE(SL_ERR_PARSE, "%s is empty", what);
    }
    size_t len = b.len;
    char *s = b.data ? sl_buf_steal(&b) : sl_strdup("");
    d->strings[d->string_count++] = s;
    *out = sl_cursor_from_bytes(s, len);
    return SL_SUCCESS;
}

/* Splits on ',' exactly: "a,,b" has an empty item, "a," ends with one. */
static size_t split(sl_cursor v, sl_cursor *items, size_t max)
{
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= v.len; i++) {
        if (i < v.len && v.ptr[i] != ',') continue;
        if (n == max) return max + 1;
        items[n++] = sl_cursor_from_bytes(v.ptr + start, i - start);
        start = i + 1;
    }
    return n;
}

static sl_result decode_list_checks(attest_decoded *d, sl_cursor v)
{
    sl_cursor items[ATTEST_MAX_CHECKS];
    size_t n = split(v, items, ATTEST_MAX_CHECKS);
    ENSURE(n <= ATTEST_MAX_CHECKS, SL_ERR_PARSE, "sluice-checks: more than %d checks", ATTEST_MAX_CHECKS);
    for (size_t i = 0; i < n; i++) {
        sl_cursor name = items[i], version = { 0 };
        ptrdiff_t eq = sl_cursor_find_byte(items[i], '=');
        if (eq >= 0) {
            name = sl_cursor_from_bytes(items[i].ptr, (size_t)eq);
            version = sl_cursor_from_bytes(items[i].ptr + eq + 1, items[i].len - (size_t)eq - 1);
            ENSURE(version.len > 0, SL_ERR_PARSE, "sluice-checks: check %zu has an empty version after '='", i + 1);
        }
        GUARD(own(d, name, "sluice-checks: a check's name", false, &d->checks[i].name));
        if (eq >= 0) GUARD(own(d, version, "sluice-checks: a check's version", false, &d->checks[i].version));
        else d->checks[i].version = (sl_cursor){ 0 };
    }
    d->facts.checks = d->checks;
    d->facts.check_count = n;
    return SL_SUCCESS;
}

static sl_result decode_reviewers(attest_decoded *d, sl_cursor v)
{
    if (sl_cursor_eq_cstr(v, "-")) {
        d->facts.reviewers = d->reviewers;
        d->facts.reviewer_count = 0;
        return SL_SUCCESS;
    }
    sl_cursor items[ATTEST_MAX_REVIEWERS];
    size_t n = split(v, items, ATTEST_MAX_REVIEWERS);
    ENSURE(n <= ATTEST_MAX_REVIEWERS, SL_ERR_PARSE, "sluice-reviewers: more than %d", ATTEST_MAX_REVIEWERS);
    for (size_t i = 0; i < n; i++) GUARD(own(d, items[i], "sluice-reviewers: a reviewer", false, &d->reviewers[i]));
    d->facts.reviewers = d->reviewers;
    d->facts.reviewer_count = n;
    return SL_SUCCESS;
}

static sl_result decode_times(attest_decoded *d, sl_cursor v)
{
    sl_cursor items[4];
    size_t n = split(v, items, 4);
    ENSURE(n == 4, SL_ERR_PARSE, "sluice-times: expected 4 times (quarantined,checked,decided,signed)");
    int64_t *slots[4] = { &d->facts.times.quarantined_ms, &d->facts.times.checked_ms, &d->facts.times.decided_ms,
                          &d->facts.times.signed_ms };
    for (size_t i = 0; i < 4; i++) {
        if (i < 3 && sl_cursor_eq_cstr(items[i], "-")) {
            *slots[i] = 0;
            continue;
        }
        uint64_t ms = 0;
        GUARD(decimal_parse(items[i], (uint64_t)SL_TIME_MAX_MS, &ms, "sluice-times"));
        ENSURE(ms > 0, SL_ERR_PARSE, "sluice-times: 0 is written '-'");
        *slots[i] = (int64_t)ms;
    }
    return SL_SUCCESS;
}

static sl_result decode_staging(attest_decoded *d, sl_cursor v)
{
    ptrdiff_t slash = sl_cursor_find_byte(v, '/');
    ENSURE(slash > 0, SL_ERR_PARSE, "sluice-staging: expected <suffix length>/<prefix>");
    uint64_t n = 0;
    GUARD(decimal_parse(sl_cursor_from_bytes(v.ptr, (size_t)slash), 65536, &n, "sluice-staging"));
    d->staging_suffix = (size_t)n;
    return own(d, sl_cursor_from_bytes(v.ptr + slash + 1, v.len - (size_t)slash - 1), "sluice-staging: the prefix", true,
               &d->staging_prefix);
}

static sl_result decode_fixed(attest_decoded *d, sl_cursor keyid, sl_cursor subject, sl_cursor signature)
{
    ENSURE(is_hex64(keyid), SL_ERR_PARSE, "sluice-keyid: expected 64 lower-case hex digits");
    memcpy(d->key_id, keyid.ptr, ATTEST_KEY_ID_LEN);
    d->key_id[ATTEST_KEY_ID_LEN] = '\0';
    ENSURE(subject.len == ATTEST_SUBJECT_HINT_LEN, SL_ERR_PARSE, "sluice-subject: expected %d lower-case hex digits",
           ATTEST_SUBJECT_HINT_LEN);
    for (size_t i = 0; i < subject.len; i++) {
        uint8_t c = subject.ptr[i];
        ENSURE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), SL_ERR_PARSE,
               "sluice-subject: expected %d lower-case hex digits", ATTEST_SUBJECT_HINT_LEN);
    }
    memcpy(d->subject_hint, subject.ptr, ATTEST_SUBJECT_HINT_LEN);
    d->subject_hint[ATTEST_SUBJECT_HINT_LEN] = '\0';
    ENSURE(signature.len == ATTEST_BASE64_SIGNATURE_LEN, SL_ERR_PARSE,
           "sluice-signature: expected %d base64 characters", ATTEST_BASE64_SIGNATURE_LEN);
    sl_buf sig = { 0 };
    sl_result r = attest_base64_decode(&sig, signature);
    if (sl_ok(r) && sig.len != ATTEST_SIGNATURE_LEN) r = sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "sluice-signature: not 64 bytes");
    if (sl_ok(r)) memcpy(d->sig, sig.data, ATTEST_SIGNATURE_LEN);
    sl_buf_clean_up(&sig);
    if (sl_failed(r)) {
        char why[200];
        snprintf(why, sizeof(why), "%s", sl_error_detail());
        RAISE(SL_ERR_PARSE, "sluice-signature: %s", why);
    }
    return SL_SUCCESS;
}

static sl_result decode_values(attest_decoded *d, const sl_cursor *v)
{
    attest_facts *f = &d->facts;
    ENSURE(sl_cursor_eq_cstr(v[F_ATTESTATION], ATTEST_FORMAT_VERSION), SL_ERR_PARSE,
           "sluice-attestation: format %.*s is not known (this sluice reads format " ATTEST_FORMAT_VERSION ")",
           (int)(v[F_ATTESTATION].len > 16 ? 16 : v[F_ATTESTATION].len), (const char *)v[F_ATTESTATION].ptr);
    ENSURE(is_hex64(v[F_SHA256]), SL_ERR_PARSE, "sluice-sha256: expected 64 lower-case hex digits");
    f->sha256 = v[F_SHA256];
    GUARD(own(d, v[F_ARTIFACT], "sluice-artifact", false, &f->artifact));
    GUARD(own(d, v[F_TASK], "sluice-task", false, &f->task));
    GUARD(own(d, v[F_ROUTE], "sluice-route", false, &f->route));
    GUARD(own(d, v[F_DECISION], "sluice-decision", false, &f->decision));
    GUARD(decode_staging(d, v[F_STAGING]));
    GUARD(decode_list_checks(d, v[F_CHECKS]));
    GUARD(decimal_parse(v[F_FINDINGS], MAX_FINDINGS, &f->findings, "sluice-findings"));
    GUARD(decode_reviewers(d, v[F_REVIEWERS]));
    GUARD(decode_times(d, v[F_TIMES]));
    return decode_fixed(d, v[F_KEYID], v[F_SUBJECT], v[F_SIGNATURE]);
}

static bool name_is(sl_cursor name, const char *want) { return sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr(want)); }

sl_result attest_metadata_decode(const sl_cursor *pairs, size_t count, attest_decoded *out)
{
    ENSURE(out != NULL && (pairs != NULL || count == 0), SL_ERR_INVALID_ARGUMENT, "attest_metadata_decode needs pairs");
    *out = (attest_decoded){ 0 };
    sl_cursor values[F_COUNT] = { { 0 } };
    bool seen[F_COUNT] = { false };
    size_t total = 0;
    sl_result result = SL_FAILURE;
    for (size_t i = 0; i < count; i++) {
        sl_cursor name = pairs[2 * i], value = pairs[2 * i + 1];
        ENSURE_CLEANUP(sl_add_size(total, name.len, &total) && sl_add_size(total, value.len, &total) &&
                           total <= ATTEST_MAX_METADATA,
                       SL_ERR_PARSE, "the object's user metadata is larger than %zu bytes", ATTEST_MAX_METADATA);
        if (!(name.len >= 7 && sl_cursor_eq_ignore_case(sl_cursor_from_bytes(name.ptr, 7), sl_cursor_from_cstr("sluice-")))) {
            if (out->unexpected == NULL) out->unexpected = sl_cursor_dup(name);
            continue;
        }
        size_t f = 0;
        while (f < F_COUNT && !name_is(name, field_names[f])) f++;
        if (f == F_COUNT) {
            char *shown = sl_cursor_dup(sl_cursor_from_bytes(name.ptr, name.len > 64 ? 64 : name.len));
            (void)sl_error_raise(SL_ERR_PARSE, __FILE__, __LINE__, "metadata field %s is not part of an attestation",
                                 shown);
            sl_free(shown);
            goto cleanup;
        }
        ENSURE_CLEANUP(!seen[f], SL_ERR_PARSE, "metadata field %s appears twice", field_names[f]);
        seen[f] = true;
        values[f] = value;
    }
    ENSURE_CLEANUP(seen[F_ATTESTATION], SL_ERR_NOT_FOUND, "the object carries no attestation (no %s metadata)",
                   field_names[F_ATTESTATION]);
    for (size_t f = 0; f < F_COUNT; f++)
        ENSURE_CLEANUP(seen[f], SL_ERR_PARSE, "metadata field %s is missing", field_names[f]);
    GUARD_CLEANUP(decode_values(out, values));
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result)) attest_decoded_clean_up(out);
    return result;
}

sl_result attest_decoded_bind(attest_decoded *d, sl_cursor trusted_key, sl_cursor media_type)
{
    ENSURE(d != NULL, SL_ERR_INVALID_ARGUMENT, "attest_decoded_bind needs decoded facts");
    ENSURE(d->staging_suffix <= trusted_key.len, SL_ERR_PARSE,
           "sluice-staging: a suffix of %zu bytes, but the key has %zu", d->staging_suffix, trusted_key.len);
    sl_buf_reset(&d->staging_key);
    GUARD(sl_buf_append_cursor(&d->staging_key, d->staging_prefix));
    GUARD(sl_buf_append(&d->staging_key, trusted_key.ptr + trusted_key.len - d->staging_suffix, d->staging_suffix));
    d->facts.staging_key = sl_cursor_from_buf(&d->staging_key);
    d->facts.trusted_key = trusted_key;
    d->facts.media_type = media_type;
    return SL_SUCCESS;
}
