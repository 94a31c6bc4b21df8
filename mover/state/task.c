/*
 * task.c — the task lifecycle of task.h: the state table (built from SL_TASK_STATES and
 * SL_TASK_TRANSITIONS by lifecycle.h, which artifact.c shares), ids, names and name
 * patterns, fingerprints, and the task manifest written and read with jansson.
 *
 * As in manifest.c, writing and reading share one check of the
 * manifest's invariants (`manifest_check`), so whatever to_json writes from_json accepts.
 * The top-level field names live in `field_names[]`, in the order they are written.
 */
#include "state/task.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "state/artifact.h"
#include "util/alloc.h"
#include "state/lifecycle.h"
#include "util/json_read.h"
#include "util/utf8.h"
#include "util/timefmt.h"

#define SCHEMA_VERSION 1

/* ---- states and the transitions table (lifecycle.h builds them from the X-macros) ---- */

SL_LIFECYCLE_DEFINE(lifecycle, SL_TASK_STATES, SL_TASK_TRANSITIONS, TASK_STATE_COUNT, TASK_OPEN);

const char *task_state_name(task_state state) { return sl_lifecycle_state_name(&lifecycle, (int)state); }

bool task_state_from_name(sl_cursor name, task_state *out)
{
    int s;
    if (!sl_lifecycle_state_from_name(&lifecycle, name, &s)) return false;
    *out = (task_state)s;
    return true;
}

bool task_state_is_terminal(task_state state) { return sl_lifecycle_is_terminal(&lifecycle, (int)state); }

bool task_transition_allowed(task_state from, task_state to, const char **event)
{
    return sl_lifecycle_allowed(&lifecycle, (int)from, (int)to, event);
}

const task_transition_info *task_transitions(size_t *count)
{
    *count = lifecycle.row_count;
    return lifecycle.rows;
}

sl_result task_states_mermaid(sl_buf *out) { return sl_lifecycle_mermaid(&lifecycle, out); }

/* ---- text ---- */

static bool utf8_valid(const uint8_t *s, size_t len) { return sl_utf8_valid(sl_cursor_from_bytes(s, len), NULL); }

static bool is_control(uint8_t c) { return c < 0x20 || c == 0x7f; }


/* ---- ids ---- */

sl_result task_id_generate(char out[SL_TASK_ID_LEN + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t bytes[16];
    char id[SL_TASK_ID_LEN + 1];
    do {
        GUARD_OSSL(RAND_bytes(bytes, sizeof(bytes)), SL_ERR_CRYPTO);
        /* base64url (RFC 4648 section 5) without padding: 5 groups of 3 bytes, then 1. */
        size_t o = 0;
        for (size_t i = 0; i + 3 <= sizeof(bytes); i += 3) {
            uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
            id[o++] = alphabet[v >> 18 & 63];
            id[o++] = alphabet[v >> 12 & 63];
            id[o++] = alphabet[v >> 6 & 63];
            id[o++] = alphabet[v & 63];
        }
        id[o++] = alphabet[bytes[15] >> 2];
        id[o++] = alphabet[(bytes[15] & 3) << 4];
        id[o] = '\0';
    } while (id[0] == '-');
    OPENSSL_cleanse(bytes, sizeof(bytes));
    memcpy(out, id, sizeof(id));
    return SL_SUCCESS;
}

/* ---- names ---- */

sl_result task_name_check(sl_cursor name)
{
    ENSURE(name.len > 0, SL_ERR_INVALID_ARGUMENT, "name is empty");
    ENSURE(name.len <= SL_TASK_MAX_NAME, SL_ERR_INVALID_ARGUMENT, "name is %zu bytes, longer than %d", name.len,
           SL_TASK_MAX_NAME);
    for (size_t i = 0; i < name.len; i++)
        ENSURE(!is_control(name.ptr[i]), SL_ERR_INVALID_ARGUMENT,
               "name has control byte 0x%02x at offset %zu", name.ptr[i], i);
    ENSURE(utf8_valid(name.ptr, name.len), SL_ERR_INVALID_ARGUMENT, "name is not valid UTF-8");
    sl_cursor rest = name, segment;
    size_t index = 0;
    while (sl_cursor_next_token(&rest, '/', &segment)) {
        ENSURE(segment.len > 0, SL_ERR_INVALID_ARGUMENT,
               "name has an empty segment (segment %zu): no leading, trailing or doubled \"/\"", index);
        ENSURE(!sl_cursor_eq_cstr(segment, ".") && !sl_cursor_eq_cstr(segment, ".."), SL_ERR_INVALID_ARGUMENT,
               "name has a \".\" or \"..\" segment (segment %zu)", index);
        index++;
    }
    return SL_SUCCESS;
}

/* ---- patterns ---- */

enum token_kind { TOKEN_BYTE, TOKEN_ONE, TOKEN_STAR, TOKEN_STARSTAR };

struct token {
    enum token_kind kind;
    uint8_t byte;
};

/* Tokenises a pattern into tokens[] (room for pattern.len); returns the count, or -1
 * with the last error set when the syntax is wrong. */
static ptrdiff_t tokenize(sl_cursor pattern, struct token *tokens)
{
    size_t n = 0;
    for (size_t i = 0; i < pattern.len; i++) {
        uint8_t c = pattern.ptr[i];
        if (c == '\\') {
            if (i + 1 >= pattern.len) {
                (void)sl_error_raise(SL_ERR_INVALID_ARGUMENT, __FILE__, __LINE__,
                                     "name pattern ends with a lone \"\\\"");
                return -1;
            }
            tokens[n++] = (struct token){ TOKEN_BYTE, pattern.ptr[++i] };
        } else if (c == '*') {
            size_t run = 1;
            while (i + run < pattern.len && pattern.ptr[i + run] == '*') run++;
            if (run > 2) {
                (void)sl_error_raise(SL_ERR_INVALID_ARGUMENT, __FILE__, __LINE__,
                                     "name pattern has %zu \"*\" in a row at offset %zu; use \"*\" or \"**\"", run, i);
                return -1;
            }
            tokens[n++] = (struct token){ run == 2 ? TOKEN_STARSTAR : TOKEN_STAR, 0 };
            i += run - 1;
        } else if (c == '?') {
            tokens[n++] = (struct token){ TOKEN_ONE, 0 };
        } else {
            tokens[n++] = (struct token){ TOKEN_BYTE, c };
        }
    }
    return (ptrdiff_t)n;
}

sl_result task_pattern_check(sl_cursor pattern)
{
    ENSURE(pattern.len > 0, SL_ERR_INVALID_ARGUMENT, "name pattern is empty");
    ENSURE(pattern.len <= SL_TASK_MAX_PATTERN, SL_ERR_INVALID_ARGUMENT, "name pattern is %zu bytes, longer than %d",
           pattern.len, SL_TASK_MAX_PATTERN);
    for (size_t i = 0; i < pattern.len; i++)
        ENSURE(!is_control(pattern.ptr[i]), SL_ERR_INVALID_ARGUMENT,
               "name pattern has control byte 0x%02x at offset %zu", pattern.ptr[i], i);
    ENSURE(utf8_valid(pattern.ptr, pattern.len), SL_ERR_INVALID_ARGUMENT, "name pattern is not valid UTF-8");
    struct token tokens[SL_TASK_MAX_PATTERN];
    ENSURE(tokenize(pattern, tokens) >= 0, SL_ERR_INVALID_ARGUMENT, "%s", sl_error_detail());
    return SL_SUCCESS;
}

bool task_pattern_match(sl_cursor pattern, sl_cursor name)
{
    if (name.len > SL_TASK_MAX_NAME || sl_failed(task_pattern_check(pattern))) return false;
    struct token tokens[SL_TASK_MAX_PATTERN];
    ptrdiff_t count = tokenize(pattern, tokens);
    if (count < 0) return false;
    /* reach[i]: the tokens so far can match exactly name[0..i). */
    bool a[SL_TASK_MAX_NAME + 1], b[SL_TASK_MAX_NAME + 1];
    bool *reach = a, *next = b;
    size_t n = name.len;
    memset(reach, 0, (n + 1) * sizeof(bool));
    reach[0] = true;
    for (ptrdiff_t t = 0; t < count; t++) {
        memset(next, 0, (n + 1) * sizeof(bool));
        const struct token *tok = &tokens[t];
        for (size_t i = 0; i <= n; i++) {
            switch (tok->kind) {
            case TOKEN_BYTE:
                if (reach[i] && i < n && name.ptr[i] == tok->byte) next[i + 1] = true;
                break;
            case TOKEN_ONE:
                if (reach[i] && i < n && name.ptr[i] != '/') {
                    size_t len = sl_utf8_decode(name.ptr + i, n - i, NULL);
                    if (len == 0) len = 1; /* not UTF-8: one byte */
                    next[i + len] = true;
                }
                break;
            case TOKEN_STAR:
            case TOKEN_STARSTAR:
                /* zero characters, or one more than what reached i - 1 */
                if (reach[i]) next[i] = true;
                if (i > 0 && next[i - 1] && (tok->kind == TOKEN_STARSTAR || name.ptr[i - 1] != '/')) next[i] = true;
                break;
            }
        }
        bool *swap = reach;
        reach = next;
        next = swap;
    }
    return reach[n];
}

/* ---- fingerprints ---- */

sl_result task_fingerprint(sl_cursor name, int64_t modified_ms, uint64_t size, char out[SL_TASK_FINGERPRINT_LEN + 1])
{
    char numbers[64];
    int len = snprintf(numbers, sizeof(numbers), "%" PRId64 "%c%" PRIu64, modified_ms, '\0', size);
    ENSURE(len > 0 && (size_t)len < sizeof(numbers), SL_ERR_INVALID_ARGUMENT, "fingerprint: bad numbers");
    sl_result result = SL_FAILURE;
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    const uint8_t zero = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ENSURE(ctx != NULL, SL_ERR_CRYPTO, "fingerprint: EVP_MD_CTX_new failed");
    GUARD_OSSL_CLEANUP(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, name.ptr, name.len), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, &zero, 1), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, numbers, (size_t)len), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestFinal_ex(ctx, digest, &digest_len), SL_ERR_CRYPTO);
    ENSURE_CLEANUP(digest_len * 2 >= SL_TASK_FINGERPRINT_LEN, SL_ERR_CRYPTO, "fingerprint: short digest");
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < SL_TASK_FINGERPRINT_LEN / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    out[SL_TASK_FINGERPRINT_LEN] = '\0';
    result = SL_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    return result;
}

static bool fingerprint_valid(const char *s)
{
    if (s == NULL || strlen(s) != SL_TASK_FINGERPRINT_LEN) return false;
    for (size_t i = 0; i < SL_TASK_FINGERPRINT_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* ---- times ---- */

static bool time_valid(int64_t ms) { return ms >= 0 && ms <= SL_TIME_MAX_MS; }




/* ---- the manifest: building ---- */

static void set_text(char **field, const char *value)
{
    char *copy = value != NULL ? sl_strdup(value) : NULL;
    sl_free(*field);
    *field = copy;
}

sl_result task_manifest_init(task_manifest *m, const char *id, const char *route, const char *opened_by,
                             int64_t opened_at_ms, int64_t expires_at_ms, uint64_t max_bytes)
{
    *m = (task_manifest){ 0 };
    ENSURE(id != NULL && route != NULL, SL_ERR_INVALID_ARGUMENT, "task: no id or route");
    GUARD(artifact_task_id_check(sl_cursor_from_cstr(id)));
    GUARD(artifact_route_name_check(sl_cursor_from_cstr(route)));
    GUARD(sl_json_check_text(opened_by, true, SL_TASK_MAX_STRING, SL_ERR_INVALID_ARGUMENT, "opened_by"));
    ENSURE(time_valid(opened_at_ms) && time_valid(expires_at_ms), SL_ERR_INVALID_ARGUMENT,
           "task: a time is outside 1970..9999");
    ENSURE(expires_at_ms > opened_at_ms && expires_at_ms - opened_at_ms <= SL_TASK_MAX_TTL_MS,
           SL_ERR_INVALID_ARGUMENT, "task: expires_at must be after opened_at and at most 7 days later");
    ENSURE(max_bytes >= 1 && max_bytes <= INT64_MAX, SL_ERR_INVALID_ARGUMENT, "task: max_bytes must be 1..2^63-1");
    m->id = sl_strdup(id);
    m->route = sl_strdup(route);
    m->opened_by = sl_strdup(opened_by);
    m->opened_at_ms = opened_at_ms;
    m->expires_at_ms = expires_at_ms;
    m->state = TASK_OPEN;
    m->limits.max_bytes = max_bytes;
    return SL_SUCCESS;
}

const task_key *task_manifest_find_key(const task_manifest *m, sl_cursor name)
{
    for (size_t i = 0; i < m->limits.key_count; i++)
        if (sl_cursor_eq_cstr(name, m->limits.keys[i].name)) return &m->limits.keys[i];
    return NULL;
}

sl_result task_manifest_add_key(task_manifest *m, const char *name, bool has_size, uint64_t size)
{
    ENSURE(name != NULL, SL_ERR_INVALID_ARGUMENT, "key: no name");
    ENSURE(m->limits.key_count < SL_TASK_MAX_KEYS, SL_ERR_LIMIT, "keys: more than %d", SL_TASK_MAX_KEYS);
    GUARD(task_name_check(sl_cursor_from_cstr(name)));
    ENSURE(task_manifest_find_key(m, sl_cursor_from_cstr(name)) == NULL, SL_ERR_INVALID_ARGUMENT,
           "keys: a name is given twice");
    ENSURE(!has_size || size <= m->limits.max_bytes, SL_ERR_INVALID_ARGUMENT,
           "keys: a size of %" PRIu64 " bytes is over max_bytes (%" PRIu64 ")", size, m->limits.max_bytes);
    m->limits.keys = sl_realloc(m->limits.keys, (m->limits.key_count + 1) * sizeof(*m->limits.keys));
    m->limits.keys[m->limits.key_count++] = (task_key){ .name = sl_strdup(name), .has_size = has_size,
                                                         .size = has_size ? size : 0 };
    return SL_SUCCESS;
}

sl_result task_manifest_set_pattern(task_manifest *m, const char *pattern)
{
    ENSURE(pattern != NULL, SL_ERR_INVALID_ARGUMENT, "name_pattern: missing");
    GUARD(task_pattern_check(sl_cursor_from_cstr(pattern)));
    set_text(&m->limits.name_pattern, pattern);
    return SL_SUCCESS;
}

sl_result task_manifest_transition(task_manifest *m, task_state to, int64_t time_ms, const char *actor,
                                   const char *detail)
{
    ENSURE(task_transition_allowed(m->state, to, NULL), SL_ERR_STATE, "%s -> %s is not an allowed transition",
           task_state_name(m->state), task_state_name(to));
    ENSURE(m->history_count < SL_TASK_MAX_HISTORY, SL_ERR_LIMIT, "history: already %d entries", SL_TASK_MAX_HISTORY);
    ENSURE(time_valid(time_ms) && time_ms >= m->opened_at_ms, SL_ERR_INVALID_ARGUMENT,
           "time: %" PRId64 " ms is before the task was opened or after 9999", time_ms);
    GUARD(sl_json_check_text(actor, true, SL_TASK_MAX_STRING, SL_ERR_INVALID_ARGUMENT, "actor"));
    GUARD(sl_json_check_text(detail, false, SL_TASK_MAX_STRING, SL_ERR_INVALID_ARGUMENT, "detail"));
    m->history = sl_realloc(m->history, (m->history_count + 1) * sizeof(*m->history));
    m->history[m->history_count++] = (task_event){
        .time_ms = time_ms,
        .from = m->state,
        .to = to,
        .actor = sl_strdup(actor),
        .detail = detail != NULL ? sl_strdup(detail) : NULL,
    };
    if (m->state == TASK_OPEN && to == TASK_CLOSED) {
        m->closed = true;
        m->closed_at_ms = time_ms;
        set_text(&m->closed_by, actor);
    }
    m->state = to;
    return SL_SUCCESS;
}

bool task_manifest_has_accepted(const task_manifest *m, const char *fingerprint)
{
    for (size_t i = 0; i < m->accepted_count; i++)
        if (strcmp(m->accepted[i], fingerprint) == 0) return true;
    return false;
}

sl_result task_manifest_add_accepted(task_manifest *m, const char *fingerprint)
{
    ENSURE(m->limits.max_objects > 0, SL_ERR_STATE, "accepted: the task has no max_objects");
    ENSURE(m->accepted_count < m->limits.max_objects, SL_ERR_LIMIT, "accepted: already %u objects",
           m->limits.max_objects);
    ENSURE(fingerprint_valid(fingerprint), SL_ERR_INVALID_ARGUMENT, "accepted: not %d lower-case hex digits",
           SL_TASK_FINGERPRINT_LEN);
    ENSURE(!task_manifest_has_accepted(m, fingerprint), SL_ERR_INVALID_ARGUMENT, "accepted: already there");
    m->accepted = sl_realloc(m->accepted, (m->accepted_count + 1) * sizeof(*m->accepted));
    m->accepted[m->accepted_count++] = sl_strdup(fingerprint);
    return SL_SUCCESS;
}

void task_manifest_drop_accepted(task_manifest *m, size_t n)
{
    if (n > m->accepted_count) n = m->accepted_count;
    for (size_t i = 0; i < n; i++) sl_free(m->accepted[--m->accepted_count]);
}

bool task_manifest_name_allowed(const task_manifest *m, sl_cursor name)
{
    if (m->limits.key_count == 0 && m->limits.name_pattern == NULL) return true;
    if (task_manifest_find_key(m, name) != NULL) return true;
    return m->limits.name_pattern != NULL && task_pattern_match(sl_cursor_from_cstr(m->limits.name_pattern), name);
}

void task_manifest_copy(const task_manifest *m, task_manifest *out)
{
    *out = *m;
    out->id = m->id ? sl_strdup(m->id) : NULL;
    out->route = m->route ? sl_strdup(m->route) : NULL;
    out->opened_by = m->opened_by ? sl_strdup(m->opened_by) : NULL;
    out->closed_by = m->closed_by ? sl_strdup(m->closed_by) : NULL;
    out->limits.name_pattern = m->limits.name_pattern ? sl_strdup(m->limits.name_pattern) : NULL;
    out->limits.keys = NULL;
    if (m->limits.key_count > 0) {
        out->limits.keys = sl_calloc(m->limits.key_count, sizeof(*out->limits.keys));
        for (size_t i = 0; i < m->limits.key_count; i++) {
            out->limits.keys[i] = m->limits.keys[i];
            out->limits.keys[i].name = sl_strdup(m->limits.keys[i].name);
        }
    }
    out->accepted = NULL;
    if (m->accepted_count > 0) {
        out->accepted = sl_calloc(m->accepted_count, sizeof(*out->accepted));
        for (size_t i = 0; i < m->accepted_count; i++) out->accepted[i] = sl_strdup(m->accepted[i]);
    }
    out->history = NULL;
    if (m->history_count > 0) {
        out->history = sl_calloc(m->history_count, sizeof(*out->history));
        for (size_t i = 0; i < m->history_count; i++) {
            out->history[i] = m->history[i];
            out->history[i].actor = m->history[i].actor ? sl_strdup(m->history[i].actor) : NULL;
            out->history[i].detail = m->history[i].detail ? sl_strdup(m->history[i].detail) : NULL;
        }
    }
}

void task_manifest_clean_up(task_manifest *m)
{
    if (m == NULL) return;
    sl_free(m->id);
    sl_free(m->route);
    sl_free(m->opened_by);
    sl_free(m->closed_by);
    for (size_t i = 0; m->limits.keys != NULL && i < m->limits.key_count; i++) sl_free(m->limits.keys[i].name);
    sl_free(m->limits.keys);
    sl_free(m->limits.name_pattern);
    for (size_t i = 0; m->accepted != NULL && i < m->accepted_count; i++) sl_free(m->accepted[i]);
    sl_free(m->accepted);
    for (size_t i = 0; m->history != NULL && i < m->history_count; i++) {
        sl_free(m->history[i].actor);
        sl_free(m->history[i].detail);
    }
    sl_free(m->history);
    *m = (task_manifest){ 0 };
}

sl_result task_manifest_key(sl_buf *out, const char *control_prefix, const char *id)
{
    ENSURE(control_prefix != NULL && id != NULL, SL_ERR_INVALID_ARGUMENT, "task manifest key: no prefix or id");
    GUARD(artifact_task_id_check(sl_cursor_from_cstr(id)));
    return sl_buf_appendf(out, "%stasks/%s.json", control_prefix, id);
}

/* ---- the invariants, shared by writing and reading ---- */

static sl_result check_limits(const task_manifest *m, sl_error code)
{
    const task_limits *l = &m->limits;
    ENSURE(l->max_bytes >= 1 && l->max_bytes <= INT64_MAX, code, "limits.max_bytes: must be 1..2^63-1");
    ENSURE(l->max_objects <= SL_TASK_MAX_OBJECTS, code, "limits.max_objects: %u is over %d", l->max_objects,
           SL_TASK_MAX_OBJECTS);
    ENSURE(l->key_count <= SL_TASK_MAX_KEYS, SL_ERR_LIMIT, "limits.keys: more than %d", SL_TASK_MAX_KEYS);
    ENSURE(l->key_count == 0 || l->keys != NULL, code, "limits.keys: count without array");
    char where[48];
    for (size_t i = 0; i < l->key_count; i++) {
        snprintf(where, sizeof(where), "limits.keys[%zu].name", i);
        ENSURE(l->keys[i].name != NULL, code, "%s: missing", where);
        if (sl_failed(task_name_check(sl_cursor_from_cstr(l->keys[i].name)))) return sl_json_reraise(code, where);
        for (size_t j = 0; j < i; j++)
            ENSURE(strcmp(l->keys[i].name, l->keys[j].name) != 0, code, "%s: the same name as limits.keys[%zu]",
                   where, j);
        ENSURE(!l->keys[i].has_size || l->keys[i].size <= l->max_bytes, code,
               "limits.keys[%zu].size: over limits.max_bytes", i);
    }
    if (l->name_pattern != NULL && sl_failed(task_pattern_check(sl_cursor_from_cstr(l->name_pattern))))
        return sl_json_reraise(code, "limits.name_pattern");
    ENSURE(m->accepted_count == 0 || l->max_objects > 0, code, "accepted: present without limits.max_objects");
    ENSURE(m->accepted_count <= l->max_objects, code, "accepted: %zu entries, more than max_objects %u",
           m->accepted_count, l->max_objects);
    ENSURE(m->accepted_count == 0 || m->accepted != NULL, code, "accepted: count without array");
    for (size_t i = 0; i < m->accepted_count; i++) {
        ENSURE(fingerprint_valid(m->accepted[i]), code, "accepted[%zu]: not %d lower-case hex digits", i,
               SL_TASK_FINGERPRINT_LEN);
        for (size_t j = 0; j < i; j++)
            ENSURE(strcmp(m->accepted[i], m->accepted[j]) != 0, code, "accepted[%zu]: the same as accepted[%zu]", i,
                   j);
    }
    return SL_SUCCESS;
}

static sl_result check_history(const task_manifest *m, sl_error code)
{
    ENSURE(m->history_count <= SL_TASK_MAX_HISTORY, SL_ERR_LIMIT, "history: %zu entries, more than %d",
           m->history_count, SL_TASK_MAX_HISTORY);
    ENSURE(m->history_count == 0 || m->history != NULL, code, "history: count without array");
    char where[48];
    const task_event *close = NULL;
    for (size_t i = 0; i < m->history_count; i++) {
        const task_event *e = &m->history[i];
        ENSURE(time_valid(e->time_ms) && e->time_ms >= m->opened_at_ms, code,
               "history[%zu].time: before opened_at or after 9999", i);
        ENSURE(task_transition_allowed(e->from, e->to, NULL), code, "history[%zu]: %s -> %s is not an allowed transition",
               i, task_state_name(e->from), task_state_name(e->to));
        task_state expected_from = i == 0 ? (task_state)lifecycle.initial : m->history[i - 1].to;
        ENSURE(e->from == expected_from, code, "history[%zu]: starts from %s, expected %s", i,
               task_state_name(e->from), task_state_name(expected_from));
        snprintf(where, sizeof(where), "history[%zu].actor", i);
        GUARD(sl_json_check_text(e->actor, true, SL_TASK_MAX_STRING, code, where));
        snprintf(where, sizeof(where), "history[%zu].detail", i);
        GUARD(sl_json_check_text(e->detail, false, SL_TASK_MAX_STRING, code, where));
        if (e->from == TASK_OPEN && e->to == TASK_CLOSED) close = e;
    }
    task_state last = m->history_count > 0 ? m->history[m->history_count - 1].to : (task_state)lifecycle.initial;
    ENSURE(last == m->state, code, "state: %s, but the history ends in %s", task_state_name(m->state),
           task_state_name(last));
    if (close != NULL) {
        ENSURE(m->closed && m->closed_at_ms == close->time_ms && m->closed_by != NULL &&
                   strcmp(m->closed_by, close->actor) == 0,
               code, "closed_at/closed_by: must be the time and actor of the close in the history");
    } else {
        ENSURE(!m->closed && m->closed_by == NULL, code, "closed_at/closed_by: set, but the task was never closed");
    }
    return SL_SUCCESS;
}

static sl_result manifest_check(const task_manifest *m, sl_error code)
{
    ENSURE(m->id != NULL, code, "id: missing");
    if (sl_failed(artifact_task_id_check(sl_cursor_from_cstr(m->id)))) return sl_json_reraise(code, "id");
    ENSURE(m->route != NULL, code, "route: missing");
    if (sl_failed(artifact_route_name_check(sl_cursor_from_cstr(m->route)))) return sl_json_reraise(code, "route");
    GUARD(sl_json_check_text(m->opened_by, true, SL_TASK_MAX_STRING, code, "opened_by"));
    GUARD(sl_json_check_text(m->closed_by, false, SL_TASK_MAX_STRING, code, "closed_by"));
    ENSURE(time_valid(m->opened_at_ms), code, "opened_at: outside 1970..9999");
    ENSURE(time_valid(m->expires_at_ms) && m->expires_at_ms > m->opened_at_ms &&
               m->expires_at_ms - m->opened_at_ms <= SL_TASK_MAX_TTL_MS,
           code, "expires_at: must be after opened_at and at most 7 days later");
    ENSURE((unsigned)m->state < TASK_STATE_COUNT, code, "state: %d is not a state", (int)m->state);
    ENSURE(!m->closed || (time_valid(m->closed_at_ms) && m->closed_at_ms >= m->opened_at_ms), code,
           "closed_at: before opened_at");
    GUARD(check_limits(m, code));
    GUARD(check_history(m, code));
    return SL_SUCCESS;
}

/* ---- writing ---- */

#define WHAT "task manifest"

static sl_result put(json_t *object, const char *key, json_t *value) { return sl_json_put(object, key, value, WHAT); }

static sl_result put_text(json_t *object, const char *key, const char *value)
{
    return sl_json_put_text(object, key, value, WHAT);
}

static sl_result put_time(json_t *object, const char *key, int64_t ms)
{
    char text[25];
    ENSURE(sl_time_format(ms, text), SL_ERR_INVALID_ARGUMENT, "%s: outside 1970..9999", key);
    return put_text(object, key, text);
}

static sl_result append(json_t *array, json_t *value) { return sl_json_append(array, value, WHAT); }

static sl_result limits_to_json(const task_limits *l, json_t *root)
{
    json_t *o = json_object();
    GUARD(put(root, "limits", o));
    if (l->max_objects > 0) GUARD(put(o, "max_objects", json_integer(l->max_objects)));
    GUARD(put(o, "max_bytes", json_integer((json_int_t)l->max_bytes)));
    if (l->key_count > 0) {
        json_t *keys = json_array();
        GUARD(put(o, "keys", keys));
        for (size_t i = 0; i < l->key_count; i++) {
            json_t *k = json_object();
            GUARD(append(keys, k));
            GUARD(put_text(k, "name", l->keys[i].name));
            if (l->keys[i].has_size) GUARD(put(k, "size", json_integer((json_int_t)l->keys[i].size)));
        }
    }
    GUARD(put_text(o, "name_pattern", l->name_pattern));
    return SL_SUCCESS;
}

static sl_result history_to_json(const task_manifest *m, json_t *root)
{
    json_t *array = json_array();
    GUARD(put(root, "history", array));
    for (size_t i = 0; i < m->history_count; i++) {
        const task_event *e = &m->history[i];
        json_t *o = json_object();
        GUARD(append(array, o));
        const char *event = NULL;
        (void)task_transition_allowed(e->from, e->to, &event); /* checked by manifest_check */
        GUARD(put_time(o, "time", e->time_ms));
        GUARD(put_text(o, "from", task_state_name(e->from)));
        GUARD(put_text(o, "to", task_state_name(e->to)));
        GUARD(put_text(o, "event", event));
        GUARD(put_text(o, "actor", e->actor));
        GUARD(put_text(o, "detail", e->detail));
    }
    return SL_SUCCESS;
}

static sl_result manifest_json(const task_manifest *m, json_t *root)
{
    GUARD(put(root, "schema", json_integer(SCHEMA_VERSION)));
    GUARD(put_text(root, "id", m->id));
    GUARD(put_text(root, "route", m->route));
    GUARD(put_text(root, "opened_by", m->opened_by));
    GUARD(put_time(root, "opened_at", m->opened_at_ms));
    GUARD(put_time(root, "expires_at", m->expires_at_ms));
    GUARD(put_text(root, "state", task_state_name(m->state)));
    if (m->closed) {
        GUARD(put_time(root, "closed_at", m->closed_at_ms));
        GUARD(put_text(root, "closed_by", m->closed_by));
    }
    GUARD(limits_to_json(&m->limits, root));
    if (m->limits.max_objects > 0) {
        json_t *accepted = json_array();
        GUARD(put(root, "accepted", accepted));
        for (size_t i = 0; i < m->accepted_count; i++) GUARD(append(accepted, json_string(m->accepted[i])));
    }
    GUARD(history_to_json(m, root));
    return SL_SUCCESS;
}


sl_result task_manifest_to_json(const task_manifest *m, sl_buf *out)
{
    GUARD(manifest_check(m, SL_ERR_INVALID_ARGUMENT));
    sl_result result = SL_FAILURE;
    size_t start = out->len;
    json_t *root = json_object();
    ENSURE_CLEANUP(root != NULL, SL_ERR_LIMIT, "task manifest: jansson could not allocate");
    GUARD_CLEANUP(manifest_json(m, root));
    GUARD_CLEANUP(sl_json_dump_bounded(root, SL_TASK_MAX_JSON, "task manifest", out));
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result) && out->data != NULL) {
        out->len = start; /* a field failed before the dump; the dump restores on its own */
        out->data[start] = '\0';
    }
    json_decref(root);
    return result;
}

/* ---- reading ---- */

static const char *const field_names[] = { "schema",    "id",        "route",     "opened_by", "opened_at",
                                           "expires_at", "state",     "closed_at", "closed_by", "limits",
                                           "accepted",  "history" };
static const char *const limit_names[] = { "max_objects", "max_bytes", "keys", "name_pattern" };
static const char *const key_names[] = { "name", "size" };
static const char *const event_names[] = { "time", "from", "to", "event", "actor", "detail" };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))





static sl_result read_time(json_t *object, const char *key, bool required, const char *where, bool *present,
                           int64_t *out)
{
    json_t *value = NULL;
    *present = false;
    GUARD(sl_json_member(object, key, required, where, &value));
    if (value == NULL) return SL_SUCCESS;
    ENSURE(json_is_string(value), SL_ERR_PARSE, "%s: expected a string", where);
    ENSURE(sl_time_parse(sl_cursor_from_bytes(json_string_value(value), json_string_length(value)), out),
           SL_ERR_PARSE, "%s: expected RFC 3339 UTC with milliseconds (2026-11-27T20:00:00.123Z) from 1970 on", where);
    *present = true;
    return SL_SUCCESS;
}

static sl_result read_state(json_t *object, const char *key, const char *where, task_state *out)
{
    json_t *value = NULL;
    GUARD(sl_json_member(object, key, true, where, &value));
    ENSURE(json_is_string(value), SL_ERR_PARSE, "%s: expected a string", where);
    if (!task_state_from_name(sl_cursor_from_bytes(json_string_value(value), json_string_length(value)), out)) {
        char shown[68];
        sl_json_printable(json_string_value(value), shown);
        RAISE(SL_ERR_PARSE, "%s: \"%s\" is not a task state", where, shown);
    }
    return SL_SUCCESS;
}

static sl_result read_uint(json_t *object, const char *key, bool required, const char *where, bool *present,
                           uint64_t *out)
{
    json_t *value = NULL;
    *present = false;
    GUARD(sl_json_member(object, key, required, where, &value));
    if (value == NULL) return SL_SUCCESS;
    ENSURE(json_is_integer(value) && json_integer_value(value) >= 0, SL_ERR_PARSE,
           "%s: expected a non-negative integer", where);
    *out = (uint64_t)json_integer_value(value);
    *present = true;
    return SL_SUCCESS;
}


static sl_result read_limits(json_t *root, task_manifest *m)
{
    json_t *o = NULL;
    GUARD(sl_json_member(root, "limits", true, "limits", &o));
    ENSURE(json_is_object(o), SL_ERR_PARSE, "limits: expected an object");
    GUARD(sl_json_check_known(o, limit_names, COUNT(limit_names), "limits"));
    bool present;
    uint64_t value = 0;
    GUARD(read_uint(o, "max_objects", false, "limits.max_objects", &present, &value));
    if (present) {
        ENSURE(value >= 1 && value <= SL_TASK_MAX_OBJECTS, SL_ERR_PARSE, "limits.max_objects: must be 1..%d",
               SL_TASK_MAX_OBJECTS);
        m->limits.max_objects = (uint32_t)value;
    }
    GUARD(read_uint(o, "max_bytes", true, "limits.max_bytes", &present, &m->limits.max_bytes));
    json_t *keys = NULL;
    GUARD(sl_json_read_array(o, "keys", false, SL_TASK_MAX_KEYS, "limits.keys", &keys));
    if (keys != NULL) {
        ENSURE(json_array_size(keys) > 0, SL_ERR_PARSE, "limits.keys: empty (leave it out instead)");
        m->limits.keys = sl_calloc(json_array_size(keys), sizeof(*m->limits.keys));
        size_t i;
        json_t *item = NULL;
        char where[48], path[64];
        json_array_foreach(keys, i, item) {
            task_key *k = &m->limits.keys[i];
            m->limits.key_count = i + 1;
            snprintf(where, sizeof(where), "limits.keys[%zu]", i);
            ENSURE(json_is_object(item), SL_ERR_PARSE, "%s: expected an object", where);
            GUARD(sl_json_check_known(item, key_names, COUNT(key_names), where));
            snprintf(path, sizeof(path), "%s.name", where);
            GUARD(sl_json_read_text(item, "name", true, SL_TASK_MAX_NAME, path, &k->name));
            snprintf(path, sizeof(path), "%s.size", where);
            GUARD(read_uint(item, "size", false, path, &k->has_size, &k->size));
        }
    }
    GUARD(sl_json_read_text(o, "name_pattern", false, SL_TASK_MAX_PATTERN, "limits.name_pattern", &m->limits.name_pattern));
    return SL_SUCCESS;
}

static sl_result read_accepted(json_t *root, task_manifest *m)
{
    json_t *array = NULL;
    GUARD(sl_json_read_array(root, "accepted", false, SL_TASK_MAX_OBJECTS, "accepted", &array));
    ENSURE((array != NULL) == (m->limits.max_objects > 0), SL_ERR_PARSE,
           "accepted: must be present exactly when limits.max_objects is");
    if (array == NULL || json_array_size(array) == 0) return SL_SUCCESS;
    m->accepted = sl_calloc(json_array_size(array), sizeof(*m->accepted));
    size_t i;
    json_t *item = NULL;
    json_array_foreach(array, i, item) {
        ENSURE(json_is_string(item), SL_ERR_PARSE, "accepted[%zu]: expected a string", i);
        m->accepted_count = i + 1;
        m->accepted[i] = sl_strndup(json_string_value(item), json_string_length(item));
    }
    return SL_SUCCESS;
}

static sl_result read_history(json_t *root, task_manifest *m)
{
    json_t *array = NULL;
    GUARD(sl_json_read_array(root, "history", true, SL_TASK_MAX_HISTORY, "history", &array));
    if (json_array_size(array) == 0) return SL_SUCCESS;
    m->history = sl_calloc(json_array_size(array), sizeof(*m->history));
    size_t i;
    json_t *item = NULL;
    char where[48], path[64];
    json_array_foreach(array, i, item) {
        task_event *e = &m->history[i];
        m->history_count = i + 1;
        snprintf(where, sizeof(where), "history[%zu]", i);
        ENSURE(json_is_object(item), SL_ERR_PARSE, "%s: expected an object", where);
        GUARD(sl_json_check_known(item, event_names, COUNT(event_names), where));
        bool present;
        snprintf(path, sizeof(path), "%s.time", where);
        GUARD(read_time(item, "time", true, path, &present, &e->time_ms));
        snprintf(path, sizeof(path), "%s.from", where);
        GUARD(read_state(item, "from", path, &e->from));
        snprintf(path, sizeof(path), "%s.to", where);
        GUARD(read_state(item, "to", path, &e->to));
        const char *expected = NULL;
        ENSURE(task_transition_allowed(e->from, e->to, &expected), SL_ERR_PARSE,
               "%s: %s -> %s is not an allowed transition", where, task_state_name(e->from), task_state_name(e->to));
        char *event = NULL;
        snprintf(path, sizeof(path), "%s.event", where);
        GUARD(sl_json_read_text(item, "event", true, SL_TASK_MAX_STRING, path, &event));
        bool matches = strcmp(event, expected) == 0;
        sl_free(event);
        ENSURE(matches, SL_ERR_PARSE, "%s: not the event of %s -> %s (\"%s\")", path, task_state_name(e->from),
               task_state_name(e->to), expected);
        snprintf(path, sizeof(path), "%s.actor", where);
        GUARD(sl_json_read_text(item, "actor", true, SL_TASK_MAX_STRING, path, &e->actor));
        snprintf(path, sizeof(path), "%s.detail", where);
        GUARD(sl_json_read_text(item, "detail", false, SL_TASK_MAX_STRING, path, &e->detail));
    }
    return SL_SUCCESS;
}

static sl_result read_manifest(json_t *root, task_manifest *m)
{
    ENSURE(json_is_object(root), SL_ERR_PARSE, "task manifest: expected a JSON object");
    GUARD(sl_json_check_known(root, field_names, COUNT(field_names), "task manifest"));
    json_t *schema = NULL;
    GUARD(sl_json_member(root, "schema", true, "schema", &schema));
    ENSURE(json_is_integer(schema), SL_ERR_PARSE, "schema: expected the integer %d", SCHEMA_VERSION);
    ENSURE(json_integer_value(schema) == SCHEMA_VERSION, SL_ERR_UNSUPPORTED,
           "schema: %" JSON_INTEGER_FORMAT " is not supported (this sluice reads schema %d)",
           json_integer_value(schema), SCHEMA_VERSION);
    GUARD(sl_json_read_text(root, "id", true, SL_ARTIFACT_TASK_MAX, "id", &m->id));
    GUARD(sl_json_read_text(root, "route", true, SL_ARTIFACT_ROUTE_MAX, "route", &m->route));
    GUARD(sl_json_read_text(root, "opened_by", true, SL_TASK_MAX_STRING, "opened_by", &m->opened_by));
    bool present;
    GUARD(read_time(root, "opened_at", true, "opened_at", &present, &m->opened_at_ms));
    GUARD(read_time(root, "expires_at", true, "expires_at", &present, &m->expires_at_ms));
    GUARD(read_state(root, "state", "state", &m->state));
    GUARD(read_time(root, "closed_at", false, "closed_at", &m->closed, &m->closed_at_ms));
    GUARD(sl_json_read_text(root, "closed_by", false, SL_TASK_MAX_STRING, "closed_by", &m->closed_by));
    ENSURE(m->closed == (m->closed_by != NULL), SL_ERR_PARSE, "closed_at/closed_by: one without the other");
    GUARD(read_limits(root, m));
    GUARD(read_accepted(root, m));
    GUARD(read_history(root, m));
    return SL_SUCCESS;
}

sl_result task_manifest_from_json(sl_cursor json, task_manifest *out)
{
    *out = (task_manifest){ 0 };
    ENSURE(json.len <= SL_TASK_MAX_JSON, SL_ERR_LIMIT, "task manifest: %zu bytes, more than %d", json.len,
           SL_TASK_MAX_JSON);
    sl_result result = SL_FAILURE;
    task_manifest m = { 0 };
    json_error_t error;
    json_t *root = json_loadb(json.len > 0 ? (const char *)json.ptr : "", json.len, JSON_REJECT_DUPLICATES, &error);
    ENSURE_CLEANUP(root != NULL, SL_ERR_PARSE, "task manifest: %s (line %d, column %d)", error.text, error.line,
                   error.column);
    GUARD_CLEANUP(read_manifest(root, &m));
    GUARD_CLEANUP(manifest_check(&m, SL_ERR_PARSE));
    *out = m;
    m = (task_manifest){ 0 };
    result = SL_SUCCESS;
cleanup:
    task_manifest_clean_up(&m);
    json_decref(root);
    return result;
}
