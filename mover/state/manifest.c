/*
 * manifest.c — the artifact manifest of manifest.h: building it (init, set, transition,
 * findings), writing it as JSON and reading it back strictly, with jansson.
 *
 * The top-level fields live in one table, `fields[]`: its order is the order they are
 * written in, and the parser accepts exactly its names. Writing and reading share one
 * check of the manifest's invariants (`manifest_check`), so whatever to_json writes,
 * from_json accepts, and a manifest read from S3 obeys the same rules as one built here.
 * Times are converted with the proleptic Gregorian day arithmetic of Howard Hinnant's
 * "chrono-Compatible Low-Level Date Algorithms" (days_from_civil / civil_from_days), so
 * no time zone or libc state is involved.
 */
#include "state/manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/utf8.h"
#include "util/json_read.h"
#include "util/timefmt.h"

#define SCHEMA_VERSION 1
#define SHA256_HEX_LEN 64


/* ---- verdicts ---- */

static const char *const verdict_names[] = {
    [FINDING_PASS] = "pass",
    [FINDING_FAIL] = "fail",
    [FINDING_REVIEW] = "review",
    [FINDING_ERROR] = "error",
};
#define VERDICT_COUNT (sizeof(verdict_names) / sizeof(verdict_names[0]))

static bool verdict_valid(finding_verdict v) { return (unsigned)v < VERDICT_COUNT; }

const char *finding_verdict_name(finding_verdict v)
{
    return verdict_valid(v) ? verdict_names[v] : "(invalid verdict)";
}

/* ---- text ---- */

/* A string value's rules (util/json_read.h): at most SL_MANIFEST_MAX_STRING bytes, UTF-8;
 * `code` for the rule a caller adds (non-empty). NULL is fine unless required. */
static sl_result check_text(const char *s, bool required, sl_error code, const char *where)
{
    return sl_json_check_text(s, required, SL_MANIFEST_MAX_STRING, code, where);
}


/* ---- times ---- */



static bool time_valid(int64_t ms) { return ms >= 0 && ms <= SL_TIME_MAX_MS; }

#define TIME_BUF 64



/* ---- the fields ---- */

enum field_kind {
    FIELD_SCHEMA,
    FIELD_ID,
    FIELD_TEXT,
    FIELD_SIZE,
    FIELD_SHA256,
    FIELD_STATE,
    FIELD_FINDINGS,
    FIELD_DECISIONS,
    FIELD_HISTORY,
};

struct field {
    const char *name;
    enum field_kind kind;
    size_t offset; /* of the char * for FIELD_TEXT */
    bool required;
};

#define TEXT_FIELD(member, req) { #member, FIELD_TEXT, offsetof(artifact_manifest, member), req }

/* The top-level fields in the order they are written: the one list of them. */
static const struct field fields[] = {
    { "schema", FIELD_SCHEMA, 0, true },
    { "id", FIELD_ID, 0, true },
    TEXT_FIELD(route, true),
    TEXT_FIELD(task, false),
    TEXT_FIELD(name, true),
    TEXT_FIELD(staging_key, false),
    TEXT_FIELD(staging_etag, false),
    TEXT_FIELD(staging_version, false),
    TEXT_FIELD(quarantine_key, false),
    TEXT_FIELD(quarantine_etag, false),
    { "size", FIELD_SIZE, 0, false },
    TEXT_FIELD(declared_type, false),
    TEXT_FIELD(detected_type, false),
    { "sha256", FIELD_SHA256, 0, false },
    TEXT_FIELD(checked_with, false),
    { "state", FIELD_STATE, 0, true },
    { "findings", FIELD_FINDINGS, 0, false },
    { "decisions", FIELD_DECISIONS, 0, false },
    { "history", FIELD_HISTORY, 0, true },
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static const char *const finding_keys[] = { "check", "verdict", "detail" };
static const char *const event_keys[] = { "time", "from", "to", "event", "actor", "detail" };
static const char *const decision_keys[] = { "time", "reviewer", "decision", "sha256", "reason" };

static char **text_at(artifact_manifest *m, size_t offset) { return (char **)((char *)m + offset); }
static char *const *text_at_const(const artifact_manifest *m, size_t offset)
{
    return (char *const *)((const char *)m + offset);
}

static bool lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* ---- the invariants, shared by writing and reading ---- */

static sl_result check_history(const artifact_manifest *m, sl_error code)
{
    ENSURE(m->history_count <= SL_MANIFEST_MAX_HISTORY, SL_ERR_LIMIT, "history: %zu entries, more than %d",
           m->history_count, SL_MANIFEST_MAX_HISTORY);
    ENSURE(m->history_count == 0 || m->history != NULL, code, "history: %zu entries but no array",
           m->history_count);
    char where[64];
    for (size_t i = 0; i < m->history_count; i++) {
        const artifact_event *e = &m->history[i];
        ENSURE(time_valid(e->time_ms), code, "history[%zu].time: %" PRId64 " ms is outside 1970..9999", i,
               e->time_ms);
        ENSURE(artifact_transition_allowed(e->from, e->to, NULL), code,
               "history[%zu]: %s -> %s is not an allowed transition", i, artifact_state_name(e->from),
               artifact_state_name(e->to));
        if (i > 0)
            ENSURE(e->from == m->history[i - 1].to, code,
                   "history[%zu]: starts from %s but history[%zu] ended in %s", i, artifact_state_name(e->from),
                   i - 1, artifact_state_name(m->history[i - 1].to));
        snprintf(where, sizeof(where), "history[%zu].actor", i);
        GUARD(check_text(e->actor, true, code, where));
        snprintf(where, sizeof(where), "history[%zu].detail", i);
        GUARD(check_text(e->detail, false, code, where));
    }
    if (m->history_count > 0)
        ENSURE(m->history[m->history_count - 1].to == m->state, code,
               "state: %s, but history[%zu] ended in %s", artifact_state_name(m->state), m->history_count - 1,
               artifact_state_name(m->history[m->history_count - 1].to));
    return SL_SUCCESS;
}

static sl_result check_findings(const artifact_manifest *m, sl_error code)
{
    ENSURE(m->finding_count <= SL_MANIFEST_MAX_FINDINGS, SL_ERR_LIMIT, "findings: %zu entries, more than %d",
           m->finding_count, SL_MANIFEST_MAX_FINDINGS);
    ENSURE(m->finding_count == 0 || m->findings != NULL, code, "findings: %zu entries but no array",
           m->finding_count);
    char where[64];
    for (size_t i = 0; i < m->finding_count; i++) {
        snprintf(where, sizeof(where), "findings[%zu].check", i);
        GUARD(check_text(m->findings[i].check, true, code, where));
        ENSURE(verdict_valid(m->findings[i].verdict), code, "findings[%zu].verdict: %d is not a verdict", i,
               (int)m->findings[i].verdict);
        snprintf(where, sizeof(where), "findings[%zu].detail", i);
        GUARD(check_text(m->findings[i].detail, false, code, where));
    }
    return SL_SUCCESS;
}

/* The keys must describe this artifact: the quarantine key is the one built from the
 * manifest's parts, and the staging key and ETag derive its id. */
static sl_result check_keys(const artifact_manifest *m, sl_error code)
{
    sl_cursor task = sl_cursor_from_cstr(m->task), name = sl_cursor_from_cstr(m->name);
    if (m->staging_key != NULL) {
        sl_cursor key = sl_cursor_from_cstr(m->staging_key);
        if (task.len > 0)
            ENSURE(key.len >= task.len + 1 + name.len &&
                       sl_cursor_eq(sl_cursor_from_bytes(key.ptr + key.len - name.len, name.len), name) &&
                       key.ptr[key.len - name.len - 1] == '/' &&
                       sl_cursor_eq(sl_cursor_from_bytes(key.ptr + key.len - name.len - 1 - task.len, task.len), task),
                   code, "staging_key: does not end with <task>/<name> of this manifest");
        else /* a key with no task segment (rejected): the name is what follows the route's prefix */
            ENSURE(key.len >= name.len && sl_cursor_eq(sl_cursor_from_bytes(key.ptr + key.len - name.len, name.len), name),
                   code, "staging_key: does not end with the name of this manifest");
        if (m->staging_etag != NULL) {
            char id[SL_ARTIFACT_ID_LEN + 1];
            if (sl_failed(artifact_id_derive_version(key, sl_cursor_from_cstr(m->staging_etag),
                                                     sl_cursor_from_cstr(m->staging_version), id)))
                return sl_json_reraise(code, "staging_etag");
            ENSURE(strcmp(id, m->id) == 0, code, "id: the staging key and ETag derive %s, not %s", id, m->id);
        }
    }
    ENSURE(m->staging_version == NULL || m->staging_etag != NULL, code, "staging_version: given without staging_etag");
    if (m->quarantine_key != NULL) {
        ENSURE(task.len > 0, code, "quarantine_key: given for an artifact without a task");
        sl_buf expected = { 0 };
        sl_result built = quarantine_key_build(&expected, sl_cursor_from_cstr(m->route), task,
                                               sl_cursor_from_cstr(m->id), name);
        bool same = sl_ok(built) && strcmp(sl_buf_cstr(&expected), m->quarantine_key) == 0;
        sl_buf_clean_up(&expected);
        if (sl_failed(built)) return sl_json_reraise(code, "quarantine_key");
        ENSURE(same, code, "quarantine_key: is not q/<route>/<task>/<id>/<name> of this manifest");
    }
    return SL_SUCCESS;
}

static sl_result manifest_check(const artifact_manifest *m, sl_error code)
{
    size_t id_len = strnlen(m->id, sizeof(m->id));
    ENSURE(id_len < sizeof(m->id), code, "id: not terminated");
    if (sl_failed(artifact_id_check(sl_cursor_from_bytes(m->id, id_len)))) return sl_json_reraise(code, "id");
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (fields[i].kind == FIELD_TEXT)
            GUARD(check_text(*text_at_const(m, fields[i].offset), fields[i].required, code, fields[i].name));
    if (sl_failed(artifact_route_name_check(sl_cursor_from_cstr(m->route)))) return sl_json_reraise(code, "route");
    /* no task: a key rejected because it names none (the layout cannot carry it) */
    if (m->task != NULL && sl_failed(artifact_task_id_check(sl_cursor_from_cstr(m->task)))) return sl_json_reraise(code, "task");
    ENSURE(!m->has_size || m->size <= INT64_MAX, code, "size: %" PRIu64 " is too large", m->size);
    size_t sha_len = strnlen(m->sha256, sizeof(m->sha256));
    ENSURE(sha_len == 0 || (sha_len == SHA256_HEX_LEN && lower_hex(m->sha256, sha_len)), code,
           "sha256: not 64 lower-case hex digits");
    ENSURE((unsigned)m->state < ARTIFACT_STATE_COUNT, code, "state: %d is not a state", (int)m->state);
    GUARD(check_findings(m, code));
    ENSURE(m->decision_count <= SL_MANIFEST_MAX_DECISIONS, SL_ERR_LIMIT, "decisions: %zu entries, more than %d",
           m->decision_count, SL_MANIFEST_MAX_DECISIONS);
    for (size_t i = 0; i < m->decision_count; i++) {
        char where[64];
        snprintf(where, sizeof(where), "decisions[%zu].reviewer", i);
        GUARD(check_text(m->decisions[i].reviewer, true, code, where));
        snprintf(where, sizeof(where), "decisions[%zu].reason", i);
        GUARD(check_text(m->decisions[i].reason, false, code, where));
        ENSURE(strlen(m->decisions[i].sha256) == SHA256_HEX_LEN && lower_hex(m->decisions[i].sha256, SHA256_HEX_LEN),
               code, "decisions[%zu].sha256: not 64 lower-case hex digits", i);
    }
    GUARD(check_history(m, code));
    GUARD(check_keys(m, code));
    return SL_SUCCESS;
}

/* ---- building ---- */

sl_result artifact_manifest_init(artifact_manifest *m, const char *id, const char *route, const char *task,
                                 const char *name, artifact_state state)
{
    *m = (artifact_manifest){ 0 };
    ENSURE(id != NULL, SL_ERR_INVALID_ARGUMENT, "id: missing");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    if (route != NULL) GUARD(artifact_route_name_check(sl_cursor_from_cstr(route)));
    if (task != NULL) GUARD(artifact_task_id_check(sl_cursor_from_cstr(task)));
    if (name != NULL) GUARD(check_text(name, true, SL_ERR_INVALID_ARGUMENT, "name"));
    ENSURE((unsigned)state < ARTIFACT_STATE_COUNT, SL_ERR_INVALID_ARGUMENT, "state: %d is not a state",
           (int)state);
    memcpy(m->id, id, SL_ARTIFACT_ID_LEN + 1);
    artifact_manifest_set(&m->route, route);
    artifact_manifest_set(&m->task, task);
    artifact_manifest_set(&m->name, name);
    m->state = state;
    return SL_SUCCESS;
}

void artifact_manifest_set(char **field, const char *value)
{
    char *copy = value != NULL ? sl_strdup(value) : NULL; /* before freeing: value may be *field */
    sl_free(*field);
    *field = copy;
}

sl_result artifact_manifest_transition(artifact_manifest *m, artifact_state to, int64_t time_ms, const char *actor,
                                       const char *detail)
{
    ENSURE(artifact_transition_allowed(m->state, to, NULL), SL_ERR_STATE, "%s -> %s is not an allowed transition",
           artifact_state_name(m->state), artifact_state_name(to));
    ENSURE(m->history_count < SL_MANIFEST_MAX_HISTORY, SL_ERR_LIMIT, "history: already %d entries",
           SL_MANIFEST_MAX_HISTORY);
    ENSURE(time_valid(time_ms), SL_ERR_INVALID_ARGUMENT, "time: %" PRId64 " ms is outside 1970..9999", time_ms);
    GUARD(check_text(actor, true, SL_ERR_INVALID_ARGUMENT, "actor"));
    GUARD(check_text(detail, false, SL_ERR_INVALID_ARGUMENT, "detail"));
    m->history = sl_realloc(m->history, (m->history_count + 1) * sizeof(*m->history));
    m->history[m->history_count++] = (artifact_event){
        .time_ms = time_ms,
        .from = m->state,
        .to = to,
        .actor = sl_strdup(actor),
        .detail = detail != NULL ? sl_strdup(detail) : NULL,
    };
    m->state = to;
    return SL_SUCCESS;
}

sl_result artifact_manifest_add_finding(artifact_manifest *m, const char *check, finding_verdict verdict,
                                        const char *detail)
{
    ENSURE(m->finding_count < SL_MANIFEST_MAX_FINDINGS, SL_ERR_LIMIT, "findings: already %d entries",
           SL_MANIFEST_MAX_FINDINGS);
    GUARD(check_text(check, true, SL_ERR_INVALID_ARGUMENT, "check"));
    ENSURE(verdict_valid(verdict), SL_ERR_INVALID_ARGUMENT, "verdict: %d is not a verdict", (int)verdict);
    GUARD(check_text(detail, false, SL_ERR_INVALID_ARGUMENT, "detail"));
    m->findings = sl_realloc(m->findings, (m->finding_count + 1) * sizeof(*m->findings));
    m->findings[m->finding_count++] = (artifact_finding){
        .check = sl_strdup(check),
        .verdict = verdict,
        .detail = detail != NULL ? sl_strdup(detail) : NULL,
    };
    return SL_SUCCESS;
}

sl_result artifact_manifest_add_decision(artifact_manifest *m, int64_t time_ms, const char *reviewer, bool approve,
                                         const char *sha256, const char *reason)
{
    ENSURE(m->decision_count < SL_MANIFEST_MAX_DECISIONS, SL_ERR_LIMIT, "decisions: already %d entries",
           SL_MANIFEST_MAX_DECISIONS);
    ENSURE(reviewer != NULL && reviewer[0] != '\0', SL_ERR_INVALID_ARGUMENT, "a decision needs a reviewer");
    ENSURE(sha256 != NULL && strlen(sha256) == SHA256_HEX_LEN && lower_hex(sha256, SHA256_HEX_LEN),
           SL_ERR_INVALID_ARGUMENT, "a decision needs the artifact's SHA-256 (64 lower-case hex digits)");
    GUARD(check_text(reviewer, true, SL_ERR_INVALID_ARGUMENT, "reviewer"));
    GUARD(check_text(reason, false, SL_ERR_INVALID_ARGUMENT, "reason"));
    m->decisions = sl_realloc(m->decisions, (m->decision_count + 1) * sizeof(*m->decisions));
    artifact_decision *d = &m->decisions[m->decision_count++];
    *d = (artifact_decision){ .time_ms = time_ms, .reviewer = sl_strdup(reviewer), .approve = approve,
                              .reason = reason ? sl_strdup(reason) : NULL };
    memcpy(d->sha256, sha256, SHA256_HEX_LEN + 1);
    return SL_SUCCESS;
}

void artifact_manifest_clean_up(artifact_manifest *m)
{
    if (m == NULL) return;
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (fields[i].kind == FIELD_TEXT) sl_free(*text_at(m, fields[i].offset));
    for (size_t i = 0; m->findings != NULL && i < m->finding_count; i++) {
        sl_free(m->findings[i].check);
        sl_free(m->findings[i].detail);
    }
    sl_free(m->findings);
    for (size_t i = 0; m->decisions != NULL && i < m->decision_count; i++) {
        sl_free(m->decisions[i].reviewer);
        sl_free(m->decisions[i].reason);
    }
    sl_free(m->decisions);
    for (size_t i = 0; m->history != NULL && i < m->history_count; i++) {
        sl_free(m->history[i].actor);
        sl_free(m->history[i].detail);
    }
    sl_free(m->history);
    *m = (artifact_manifest){ 0 };
}

sl_result artifact_manifest_key(sl_buf *out, const char *control_prefix, const char *id)
{
    ENSURE(control_prefix != NULL && id != NULL, SL_ERR_INVALID_ARGUMENT, "manifest key: no prefix or id");
    GUARD(artifact_id_check(sl_cursor_from_cstr(id)));
    return sl_buf_appendf(out, "%sartifacts/%s.json", control_prefix, id);
}

/* ---- writing ---- */

/* Adds value (stolen, may be NULL after a failed allocation) under key. */
static sl_result put(json_t *object, const char *key, json_t *value) { return sl_json_put(object, key, value, "manifest"); }

static sl_result put_text(json_t *object, const char *key, const char *value)
{
    return sl_json_put_text(object, key, value, "manifest");
}

static sl_result append_new(json_t *array, json_t *value, const char *what) { return sl_json_append(array, value, what); }

static sl_result finding_to_json(const artifact_finding *f, json_t **out)
{
    json_t *o = json_object();
    *out = o;
    ENSURE(o != NULL, SL_ERR_LIMIT, "manifest: jansson could not allocate");
    GUARD(put_text(o, "check", f->check));
    GUARD(put_text(o, "verdict", verdict_names[f->verdict]));
    GUARD(put_text(o, "detail", f->detail));
    return SL_SUCCESS;
}

static sl_result event_to_json(const artifact_event *e, json_t **out)
{
    json_t *o = json_object();
    *out = o;
    ENSURE(o != NULL, SL_ERR_LIMIT, "manifest: jansson could not allocate");
    char time[TIME_BUF];
    (void)sl_time_format(e->time_ms, time);
    const char *event = NULL;
    (void)artifact_transition_allowed(e->from, e->to, &event); /* checked by manifest_check */
    GUARD(put_text(o, "time", time));
    GUARD(put_text(o, "from", artifact_state_name(e->from)));
    GUARD(put_text(o, "to", artifact_state_name(e->to)));
    GUARD(put_text(o, "event", event));
    GUARD(put_text(o, "actor", e->actor));
    GUARD(put_text(o, "detail", e->detail));
    return SL_SUCCESS;
}

static sl_result decision_to_json(const artifact_decision *d, json_t **out)
{
    json_t *o = json_object();
    *out = o;
    ENSURE(o != NULL, SL_ERR_LIMIT, "manifest: jansson could not allocate");
    char time[TIME_BUF];
    (void)sl_time_format(d->time_ms, time);
    GUARD(put_text(o, "time", time));
    GUARD(put_text(o, "reviewer", d->reviewer));
    GUARD(put_text(o, "decision", d->approve ? "approve" : "reject"));
    GUARD(put_text(o, "sha256", d->sha256));
    GUARD(put_text(o, "reason", d->reason));
    return SL_SUCCESS;
}

static sl_result field_to_json(const artifact_manifest *m, const struct field *f, json_t *root)
{
    switch (f->kind) {
    case FIELD_SCHEMA: return put(root, f->name, json_integer(SCHEMA_VERSION));
    case FIELD_ID: return put_text(root, f->name, m->id);
    case FIELD_TEXT: return put_text(root, f->name, *text_at_const(m, f->offset));
    case FIELD_SIZE: return m->has_size ? put(root, f->name, json_integer((json_int_t)m->size)) : SL_SUCCESS;
    case FIELD_SHA256: return m->sha256[0] != '\0' ? put_text(root, f->name, m->sha256) : SL_SUCCESS;
    case FIELD_STATE: return put_text(root, f->name, artifact_state_name(m->state));
    case FIELD_DECISIONS: {
        if (m->decision_count == 0) return SL_SUCCESS;
        json_t *array = json_array();
        GUARD(put(root, f->name, array));
        for (size_t i = 0; i < m->decision_count; i++) {
            json_t *item = NULL;
            if (sl_failed(decision_to_json(&m->decisions[i], &item))) {
                json_decref(item);
                return SL_FAILURE;
            }
            GUARD(append_new(array, item, f->name));
        }
        return SL_SUCCESS;
    }
    case FIELD_FINDINGS:
    case FIELD_HISTORY: {
        json_t *array = json_array();
        GUARD(put(root, f->name, array));
        size_t count = f->kind == FIELD_FINDINGS ? m->finding_count : m->history_count;
        for (size_t i = 0; i < count; i++) {
            json_t *item = NULL;
            sl_result made = f->kind == FIELD_FINDINGS ? finding_to_json(&m->findings[i], &item)
                                                       : event_to_json(&m->history[i], &item);
            if (sl_failed(made)) {
                json_decref(item);
                return SL_FAILURE;
            }
            GUARD(append_new(array, item, f->name));
        }
        return SL_SUCCESS;
    }
    }
    RAISE(SL_ERR_INVALID_ARGUMENT, "manifest: unknown field kind %d", (int)f->kind);
}


sl_result artifact_manifest_to_json(const artifact_manifest *m, sl_buf *out)
{
    GUARD(manifest_check(m, SL_ERR_INVALID_ARGUMENT));
    sl_result result = SL_FAILURE;
    size_t start = out->len;
    json_t *root = json_object();
    ENSURE_CLEANUP(root != NULL, SL_ERR_LIMIT, "manifest: jansson could not allocate");
    for (size_t i = 0; i < FIELD_COUNT; i++) GUARD_CLEANUP(field_to_json(m, &fields[i], root));
    GUARD_CLEANUP(sl_json_dump_bounded(root, SL_MANIFEST_MAX_JSON, "manifest", out));
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





static sl_result read_state(json_t *object, const char *key, const char *where, artifact_state *out)
{
    json_t *value = NULL;
    GUARD(sl_json_member(object, key, true, where, &value));
    ENSURE(json_is_string(value), SL_ERR_PARSE, "%s: expected a string", where);
    sl_cursor name = sl_cursor_from_bytes(json_string_value(value), json_string_length(value));
    if (!artifact_state_from_name(name, out)) {
        char shown[68];
        sl_json_printable(json_string_value(value), shown);
        RAISE(SL_ERR_PARSE, "%s: \"%s\" is not a state", where, shown);
    }
    return SL_SUCCESS;
}

/* The array member `key` (may be absent unless required), its length checked. */
static sl_result read_array(json_t *root, const char *key, bool required, size_t max, json_t **out)
{
    return sl_json_read_array(root, key, required, max, key, out);
}

static sl_result read_findings(json_t *root, artifact_manifest *m)
{
    json_t *array = NULL;
    GUARD(read_array(root, "findings", false, SL_MANIFEST_MAX_FINDINGS, &array));
    if (array == NULL || json_array_size(array) == 0) return SL_SUCCESS;
    m->findings = sl_calloc(json_array_size(array), sizeof(*m->findings));
    char where[64], path[80];
    size_t i;
    json_t *item = NULL;
    json_array_foreach(array, i, item) {
        artifact_finding *f = &m->findings[i];
        m->finding_count = i + 1; /* so clean_up frees what this entry gets */
        snprintf(where, sizeof(where), "findings[%zu]", i);
        ENSURE(json_is_object(item), SL_ERR_PARSE, "%s: expected an object", where);
        GUARD(sl_json_check_known(item, finding_keys, sizeof(finding_keys) / sizeof(finding_keys[0]), where));
        snprintf(path, sizeof(path), "%s.check", where);
        GUARD(sl_json_read_text(item, "check", true, SL_MANIFEST_MAX_STRING, path, &f->check));
        char *verdict = NULL;
        snprintf(path, sizeof(path), "%s.verdict", where);
        GUARD(sl_json_read_text(item, "verdict", true, SL_MANIFEST_MAX_STRING, path, &verdict));
        bool known = false;
        for (size_t v = 0; v < VERDICT_COUNT && !known; v++)
            if (strcmp(verdict, verdict_names[v]) == 0) f->verdict = (finding_verdict)v, known = true;
        char shown[68];
        sl_json_printable(verdict, shown);
        sl_free(verdict);
        ENSURE(known, SL_ERR_PARSE, "%s: \"%s\" is not a verdict", path, shown);
        snprintf(path, sizeof(path), "%s.detail", where);
        GUARD(sl_json_read_text(item, "detail", false, SL_MANIFEST_MAX_STRING, path, &f->detail));
    }
    return SL_SUCCESS;
}

static sl_result read_decisions(json_t *root, artifact_manifest *m)
{
    json_t *array = NULL;
    GUARD(read_array(root, "decisions", false, SL_MANIFEST_MAX_DECISIONS, &array));
    if (array == NULL || json_array_size(array) == 0) return SL_SUCCESS;
    m->decisions = sl_calloc(json_array_size(array), sizeof(*m->decisions));
    char where[64], path[80];
    size_t i;
    json_t *item = NULL;
    json_array_foreach(array, i, item) {
        artifact_decision *d = &m->decisions[i];
        m->decision_count = i + 1;
        snprintf(where, sizeof(where), "decisions[%zu]", i);
        ENSURE(json_is_object(item), SL_ERR_PARSE, "%s: expected an object", where);
        GUARD(sl_json_check_known(item, decision_keys, sizeof(decision_keys) / sizeof(decision_keys[0]), where));
        json_t *time = NULL;
        snprintf(path, sizeof(path), "%s.time", where);
        GUARD(sl_json_member(item, "time", true, path, &time));
        ENSURE(json_is_string(time) && sl_time_parse(sl_cursor_from_bytes(json_string_value(time), json_string_length(time)), &d->time_ms),
               SL_ERR_PARSE, "%s: expected RFC 3339 UTC with milliseconds", path);
        snprintf(path, sizeof(path), "%s.reviewer", where);
        GUARD(sl_json_read_text(item, "reviewer", true, SL_MANIFEST_MAX_STRING, path, &d->reviewer));
        char *decision = NULL;
        snprintf(path, sizeof(path), "%s.decision", where);
        GUARD(sl_json_read_text(item, "decision", true, SL_MANIFEST_MAX_STRING, path, &decision));
        bool approve = strcmp(decision, "approve") == 0, reject = strcmp(decision, "reject") == 0;
        sl_free(decision);
        ENSURE(approve || reject, SL_ERR_PARSE, "%s: expected \"approve\" or \"reject\"", path);
        d->approve = approve;
        char *sha = NULL;
        snprintf(path, sizeof(path), "%s.sha256", where);
        GUARD(sl_json_read_text(item, "sha256", true, SL_MANIFEST_MAX_STRING, path, &sha));
        bool ok = strlen(sha) == SHA256_HEX_LEN && lower_hex(sha, SHA256_HEX_LEN);
        if (ok) memcpy(d->sha256, sha, SHA256_HEX_LEN + 1);
        sl_free(sha);
        ENSURE(ok, SL_ERR_PARSE, "%s: expected 64 lower-case hex digits", path);
        snprintf(path, sizeof(path), "%s.reason", where);
        GUARD(sl_json_read_text(item, "reason", false, SL_MANIFEST_MAX_STRING, path, &d->reason));
    }
    return SL_SUCCESS;
}

static sl_result read_history(json_t *root, artifact_manifest *m)
{
    json_t *array = NULL;
    GUARD(read_array(root, "history", true, SL_MANIFEST_MAX_HISTORY, &array));
    if (json_array_size(array) == 0) return SL_SUCCESS;
    m->history = sl_calloc(json_array_size(array), sizeof(*m->history));
    char where[64], path[80];
    size_t i;
    json_t *item = NULL;
    json_array_foreach(array, i, item) {
        artifact_event *e = &m->history[i];
        m->history_count = i + 1;
        snprintf(where, sizeof(where), "history[%zu]", i);
        ENSURE(json_is_object(item), SL_ERR_PARSE, "%s: expected an object", where);
        GUARD(sl_json_check_known(item, event_keys, sizeof(event_keys) / sizeof(event_keys[0]), where));

        json_t *time = NULL;
        snprintf(path, sizeof(path), "%s.time", where);
        GUARD(sl_json_member(item, "time", true, path, &time));
        ENSURE(json_is_string(time), SL_ERR_PARSE, "%s: expected a string", path);
        ENSURE(sl_time_parse(sl_cursor_from_bytes(json_string_value(time), json_string_length(time)), &e->time_ms), SL_ERR_PARSE,
               "%s: expected RFC 3339 UTC with milliseconds (2026-11-27T20:00:00.123Z) from 1970 on", path);
        snprintf(path, sizeof(path), "%s.from", where);
        GUARD(read_state(item, "from", path, &e->from));
        snprintf(path, sizeof(path), "%s.to", where);
        GUARD(read_state(item, "to", path, &e->to));

        char *event = NULL;
        snprintf(path, sizeof(path), "%s.event", where);
        GUARD(sl_json_read_text(item, "event", true, SL_MANIFEST_MAX_STRING, path, &event));
        const char *expected = NULL;
        bool allowed = artifact_transition_allowed(e->from, e->to, &expected);
        bool matches = !allowed || strcmp(event, expected) == 0;
        char shown[68];
        sl_json_printable(event, shown);
        sl_free(event);
        ENSURE(allowed, SL_ERR_PARSE, "%s: %s -> %s is not an allowed transition", where,
               artifact_state_name(e->from), artifact_state_name(e->to));
        ENSURE(matches, SL_ERR_PARSE, "%s: \"%s\" is not the event of %s -> %s (\"%s\")", path, shown,
               artifact_state_name(e->from), artifact_state_name(e->to), expected);

        snprintf(path, sizeof(path), "%s.actor", where);
        GUARD(sl_json_read_text(item, "actor", true, SL_MANIFEST_MAX_STRING, path, &e->actor));
        snprintf(path, sizeof(path), "%s.detail", where);
        GUARD(sl_json_read_text(item, "detail", false, SL_MANIFEST_MAX_STRING, path, &e->detail));
    }
    return SL_SUCCESS;
}

static sl_result read_field(json_t *root, const struct field *f, artifact_manifest *m)
{
    json_t *value = NULL;
    switch (f->kind) {
    case FIELD_SCHEMA:
        GUARD(sl_json_member(root, f->name, true, f->name, &value));
        ENSURE(json_is_integer(value), SL_ERR_PARSE, "schema: expected the integer %d", SCHEMA_VERSION);
        ENSURE(json_integer_value(value) == SCHEMA_VERSION, SL_ERR_UNSUPPORTED,
               "schema: %" JSON_INTEGER_FORMAT " is not supported (this sluice reads schema %d)",
               json_integer_value(value), SCHEMA_VERSION);
        return SL_SUCCESS;
    case FIELD_ID: {
        char *id = NULL;
        GUARD(sl_json_read_text(root, f->name, true, SL_MANIFEST_MAX_STRING, f->name, &id));
        sl_result ok = artifact_id_check(sl_cursor_from_cstr(id));
        if (sl_ok(ok)) memcpy(m->id, id, SL_ARTIFACT_ID_LEN + 1);
        sl_free(id);
        return sl_ok(ok) ? SL_SUCCESS : sl_json_reraise(SL_ERR_PARSE, "id");
    }
    case FIELD_TEXT: return sl_json_read_text(root, f->name, f->required, SL_MANIFEST_MAX_STRING, f->name, text_at(m, f->offset));
    case FIELD_SIZE:
        GUARD(sl_json_member(root, f->name, false, f->name, &value));
        if (value == NULL) return SL_SUCCESS;
        ENSURE(json_is_integer(value) && json_integer_value(value) >= 0, SL_ERR_PARSE,
               "size: expected a non-negative integer");
        m->has_size = true;
        m->size = (uint64_t)json_integer_value(value);
        return SL_SUCCESS;
    case FIELD_SHA256:
        GUARD(sl_json_member(root, f->name, false, f->name, &value));
        if (value == NULL) return SL_SUCCESS;
        ENSURE(json_is_string(value) && json_string_length(value) == SHA256_HEX_LEN &&
                   lower_hex(json_string_value(value), SHA256_HEX_LEN),
               SL_ERR_PARSE, "sha256: expected 64 lower-case hex digits");
        memcpy(m->sha256, json_string_value(value), SHA256_HEX_LEN + 1);
        return SL_SUCCESS;
    case FIELD_STATE: return read_state(root, f->name, f->name, &m->state);
    case FIELD_FINDINGS: return read_findings(root, m);
    case FIELD_DECISIONS: return read_decisions(root, m);
    case FIELD_HISTORY: return read_history(root, m);
    }
    RAISE(SL_ERR_INVALID_ARGUMENT, "manifest: unknown field kind %d", (int)f->kind);
}

sl_result artifact_manifest_from_json(sl_cursor json, artifact_manifest *out)
{
    *out = (artifact_manifest){ 0 };
    ENSURE(json.len <= SL_MANIFEST_MAX_JSON, SL_ERR_LIMIT, "manifest: %zu bytes, more than %d", json.len,
           SL_MANIFEST_MAX_JSON);
    sl_result result = SL_FAILURE;
    artifact_manifest m = { 0 };
    json_error_t error;
    json_t *root = json_loadb(json.len > 0 ? (const char *)json.ptr : "", json.len, JSON_REJECT_DUPLICATES, &error);
    ENSURE_CLEANUP(root != NULL, SL_ERR_PARSE, "manifest: %s (line %d, column %d)", error.text, error.line,
                   error.column);
    ENSURE_CLEANUP(json_is_object(root), SL_ERR_PARSE, "manifest: expected a JSON object");
    const char *names[FIELD_COUNT];
    for (size_t i = 0; i < FIELD_COUNT; i++) names[i] = fields[i].name;
    GUARD_CLEANUP(sl_json_check_known(root, names, FIELD_COUNT, "manifest"));
    for (size_t i = 0; i < FIELD_COUNT; i++) GUARD_CLEANUP(read_field(root, &fields[i], &m));
    GUARD_CLEANUP(manifest_check(&m, SL_ERR_PARSE));
    *out = m;
    m = (artifact_manifest){ 0 };
    result = SL_SUCCESS;
cleanup:
    artifact_manifest_clean_up(&m);
    json_decref(root);
    return result;
}

sl_result artifact_manifest_copy(artifact_manifest *dst, const artifact_manifest *src)
{
    *dst = (artifact_manifest){ 0 };
    sl_buf json = { 0 };
    sl_result r = artifact_manifest_to_json(src, &json);
    if (sl_ok(r)) r = artifact_manifest_from_json(sl_cursor_from_buf(&json), dst);
    sl_buf_clean_up(&json);
    return r;
}
