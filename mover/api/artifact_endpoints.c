/*
 * artifact_endpoints.c — the reviewers' endpoints (see artifact_endpoints.h): each
 * handler checks the request, hands it to the desk, and turns the desk's typed answer
 * into JSON or an error of the table. The request stays with its handler until the
 * desk calls back.
 */
#include "api/artifact_endpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/artifact.h"
#include "util/alloc.h"

#define DEFAULT_LIST_LIMIT 100

api_error artifact_endpoints_review_error(review_code code)
{
    switch (code) {
    case REVIEW_NOT_IN_REVIEW: return API_ERR_NOT_IN_REVIEW;
    case REVIEW_SHA256_MISMATCH: return API_ERR_SHA256_MISMATCH;
    case REVIEW_OWN_TASK: return API_ERR_OWN_TASK;
    case REVIEW_ALREADY_DECIDED: return API_ERR_ALREADY_DECIDED;
    case REVIEW_BAD_ID: return API_ERR_BAD_ID;
    case REVIEW_UNKNOWN_ARTIFACT: return API_ERR_UNKNOWN_ARTIFACT;
    case REVIEW_STORE_FAILED: return API_ERR_STORE_FAILED;
    case REVIEW_AUDIT_FAILED: return API_ERR_AUDIT_FAILED;
    case REVIEW_STOPPED: return API_ERR_REFUSED;
    case REVIEW_TASK_UNREADABLE: return API_ERR_TASK_UNREADABLE;
    case REVIEW_OK:
    case REVIEW_INVALID_DECISION:
    case REVIEW_CODE_COUNT: break;
    }
    return API_ERR_INVALID_DECISION;
}

api_error artifact_endpoints_desk_error(desk_outcome outcome)
{
    switch (outcome) {
    case DESK_UNKNOWN_ARTIFACT: return API_ERR_UNKNOWN_ARTIFACT;
    case DESK_NO_QUARANTINED_COPY: return API_ERR_NO_QUARANTINED_COPY;
    case DESK_PRESIGN_FAILED: return API_ERR_PRESIGN_FAILED;
    case DESK_AUDIT_FAILED: return API_ERR_AUDIT_FAILED;
    case DESK_OK:
    case DESK_STORE_FAILED:
    case DESK_OUTCOME_COUNT: break;
    }
    return API_ERR_STORE_FAILED;
}

/* An operation the desk would not start: 400 bad_id for an id that is not one, 503
 * refused once the daemon has stopped making changes, else 500. */
static void refuse_start(api_request *req, const char *id)
{
    if (sl_error_last() == SL_ERR_STATE) {
        api_respond_error(req, API_ERR_REFUSED, sl_error_detail());
        return;
    }
    char detail[512];
    snprintf(detail, sizeof(detail), "%s", sl_error_detail());
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(id)))) api_respond_error(req, API_ERR_BAD_ID, NULL);
    else api_respond_error(req, API_ERR_INTERNAL, detail);
}

static json_t *manifest_json(const artifact_manifest *m)
{
    sl_buf text = { 0 };
    json_t *j = NULL;
    if (sl_ok(artifact_manifest_to_json(m, &text))) j = json_loadb((const char *)text.data, text.len, 0, NULL);
    sl_buf_clean_up(&text);
    return j;
}

/* ---- GET /v1/artifacts/{id} ---- */

static void shown(void *user, desk_outcome outcome, const char *detail, const artifact_manifest *m)
{
    api_request *req = user;
    if (outcome != DESK_OK) api_respond_error(req, artifact_endpoints_desk_error(outcome), detail);
    else api_respond(req, 200, manifest_json(m));
}

static void show(void *user, api_request *req, const api_request_info *info)
{
    if (sl_failed(desk_show(user, info->params[0], shown, req))) refuse_start(req, info->params[0]);
}

/* ---- POST /v1/artifacts/{id}/fetch ---- */

static void fetched(void *user, desk_outcome outcome, const char *detail, const desk_fetch_result *f)
{
    api_request *req = user;
    if (outcome != DESK_OK) {
        api_respond_error(req, artifact_endpoints_desk_error(outcome), detail);
        return;
    }
    api_respond(req, 200,
                json_pack("{s:s,s:s,s:s,s:I,s:i}", "id", f->id, "url", f->url, "sha256", f->sha256, "size",
                          (json_int_t)f->size, "expires_in", (int)f->expires_in));
}

static void fetch(void *user, api_request *req, const api_request_info *info)
{
    if (sl_failed(desk_fetch(user, info->params[0], info->user, fetched, req))) refuse_start(req, info->params[0]);
}

/* ---- POST /v1/artifacts/{id}/decision ---- */

struct decision_answer {
    api_request *req;
    char id[SL_ARTIFACT_ID_LEN + 1];
};

static void decided(void *user, const review_result *r, const artifact_manifest *m)
{
    struct decision_answer *a = user;
    if (r->outcome == REVIEW_REFUSED) {
        api_respond_error(a->req, artifact_endpoints_review_error(review_code_of(r)), r->detail);
    } else {
        api_respond(a->req, 200,
                    json_pack("{s:s,s:s,s:s}", "id", a->id, "state", m ? artifact_state_name(m->state) : "", "detail",
                              r->detail));
    }
    sl_free(a);
}

static bool is_sha256_hex(const char *s, size_t len)
{
    if (len != 64) return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* Checks the body against the documented caps before anything happens; answers and
 * returns false when it is not as it must be. */
static bool decision_body_ok(api_request *req, json_t *body)
{
    static const char *const known[] = { "decision", "sha256", "reason" };
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            api_respond_field_error(req, API_ERR_BAD_REQUEST, key, "unknown field (known: decision, sha256, reason)");
            return false;
        }
    }
    json_t *reason = json_object_get(body, "reason");
    if (reason != NULL && !json_is_string(reason)) {
        api_respond_field_error(req, API_ERR_BAD_REQUEST, "reason", "\"reason\" must be a string");
        return false;
    }
    if (reason != NULL && json_string_length(reason) > REVIEW_REASON_MAX) {
        api_respond_field_error(req, API_ERR_FIELD_TOO_LARGE, "reason",
                                "\"reason\" is %zu bytes; at most %d bytes (UTF-8) are taken", json_string_length(reason),
                                REVIEW_REASON_MAX);
        return false;
    }
    json_t *sha = json_object_get(body, "sha256");
    if (sha == NULL) {
        api_respond_field_error(req, API_ERR_BAD_REQUEST, "sha256",
                                "\"sha256\" is required: a decision names the bytes it is about (sluice-review fills "
                                "it in)");
        return false;
    }
    if (!json_is_string(sha) || !is_sha256_hex(json_string_value(sha), json_string_length(sha))) {
        api_respond_field_error(req, API_ERR_BAD_REQUEST, "sha256", "\"sha256\" must be 64 lower-case hex digits");
        return false;
    }
    const char *what = json_string_value(json_object_get(body, "decision"));
    if (what == NULL || (strcmp(what, "approve") != 0 && strcmp(what, "reject") != 0)) {
        api_respond_field_error(req, API_ERR_BAD_REQUEST, "decision", "\"decision\" must be \"approve\" or \"reject\"");
        return false;
    }
    if (strcmp(what, "reject") == 0 && (reason == NULL || json_string_length(reason) == 0)) {
        api_respond_field_error(req, API_ERR_BAD_REQUEST, "reason", "a rejection needs a \"reason\"");
        return false;
    }
    return true;
}

static void decision(void *user, api_request *req, const api_request_info *info)
{
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(info->params[0])))) {
        api_respond_error(req, API_ERR_BAD_ID, NULL);
        return;
    }
    if (!decision_body_ok(req, info->json)) return;
    const char *what = json_string_value(json_object_get(info->json, "decision"));
    json_t *reason = json_object_get(info->json, "reason");
    struct decision_answer *a = sl_calloc(1, sizeof(*a));
    a->req = req;
    snprintf(a->id, sizeof(a->id), "%s", info->params[0]);
    if (sl_failed(desk_decide(user, a->id, info->user, strcmp(what, "approve") == 0,
                              json_string_value(json_object_get(info->json, "sha256")),
                              reason ? json_string_value(reason) : NULL, decided, a))) {
        refuse_start(req, a->id);
        sl_free(a);
    }
}

/* ---- GET /v1/artifacts ---- */

/* A decimal number of at most 9 digits (no sign, no spaces). */
static bool parse_count(sl_cursor text, uint64_t *out)
{
    if (text.len == 0 || text.len > 9) return false;
    uint64_t n = 0;
    for (size_t i = 0; i < text.len; i++) {
        if (text.ptr[i] < '0' || text.ptr[i] > '9') return false;
        n = n * 10 + (uint64_t)(text.ptr[i] - '0');
    }
    *out = n;
    return true;
}

/* The query of GET /v1/artifacts: state, route and limit, each at most once and within
 * its cap; anything else is refused naming the parameter. */
static bool parse_list_query(api_request *req, const char *query, desk_list_query *q, char **route)
{
    sl_cursor rest = sl_cursor_from_cstr(query), pair;
    bool seen_state = false, seen_route = false, seen_limit = false;
    while (rest.len > 0 && sl_cursor_next_token(&rest, '&', &pair)) {
        if (pair.len == 0) continue;
        ptrdiff_t eq = sl_cursor_find_byte(pair, '=');
        char *name = sl_cursor_dup(eq < 0 ? pair : sl_cursor_from_bytes(pair.ptr, (size_t)eq));
        sl_cursor value = eq < 0 ? sl_cursor_from_cstr("")
                                 : sl_cursor_from_bytes(pair.ptr + eq + 1, pair.len - (size_t)eq - 1);
        bool ok = true;
        if (strcmp(name, "state") == 0 && !seen_state) {
            seen_state = q->has_state = true;
            if (!artifact_state_from_name(value, &q->state)) {
                api_respond_field_error(req, API_ERR_BAD_STATE, "state",
                                        "state must be one of: staged, quarantined, checking, blocked, in_review, "
                                        "approved, rejected, expired, promoting, promoted, purged, failed");
                ok = false;
            }
        } else if (strcmp(name, "route") == 0 && !seen_route) {
            seen_route = true;
            if (value.len == 0 || value.len > SL_ARTIFACT_ROUTE_MAX) {
                api_respond_field_error(req, value.len ? API_ERR_FIELD_TOO_LARGE : API_ERR_BAD_REQUEST, "route",
                                        "route is a route name of 1 to %d bytes", SL_ARTIFACT_ROUTE_MAX);
                ok = false;
            } else {
                *route = sl_cursor_dup(value);
            }
        } else if (strcmp(name, "limit") == 0 && !seen_limit) {
            seen_limit = true;
            uint64_t n = 0;
            if (!parse_count(value, &n) || n < 1 || n > DESK_LIST_SCAN_MAX) {
                api_respond_field_error(req, API_ERR_BAD_REQUEST, "limit", "limit is a number from 1 to %d",
                                        DESK_LIST_SCAN_MAX);
                ok = false;
            }
            q->limit = (size_t)n;
        } else {
            api_respond_field_error(req, API_ERR_BAD_REQUEST, name,
                                    "GET /v1/artifacts takes state, route and limit, each at most once");
            ok = false;
        }
        sl_free(name);
        if (!ok) return false;
    }
    return true;
}

static void listed(void *user, desk_outcome outcome, const char *detail, const artifact_manifest *const *items,
                   size_t count, bool truncated)
{
    api_request *req = user;
    if (outcome != DESK_OK) {
        api_respond_error(req, artifact_endpoints_desk_error(outcome), detail);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) {
        const artifact_manifest *m = items[i];
        int64_t updated = m->history_count ? m->history[m->history_count - 1].time_ms : 0;
        json_t *item = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:I,s:I}", "id", m->id, "state",
                                 artifact_state_name(m->state), "route", m->route, "task", m->task, "name", m->name,
                                 "sha256", m->sha256, "size", (json_int_t)m->size, "detected_type",
                                 m->detected_type ? m->detected_type : "", "decisions", (json_int_t)m->decision_count,
                                 "updated_ms", (json_int_t)updated);
        if (item) json_array_append_new(list, item);
    }
    api_respond(req, 200, json_pack("{s:o,s:b}", "artifacts", list, "truncated", truncated));
}

static void list(void *user, api_request *req, const api_request_info *info)
{
    desk_list_query q = { .limit = DEFAULT_LIST_LIMIT };
    char *route = NULL;
    if (parse_list_query(req, info->query, &q, &route)) {
        q.route = route;
        if (sl_failed(desk_list(user, &q, listed, req))) api_respond_error(req, API_ERR_INTERNAL, sl_error_detail());
    }
    sl_free(route);
}

size_t artifact_endpoints(desk *d, api_route *out, size_t max)
{
    const api_route routes[ARTIFACT_ENDPOINT_COUNT] = {
        { "GET", "/v1/artifacts", API_ROLE_REVIEWER, false, list, d },
        { "GET", "/v1/artifacts/{id}", API_ROLE_REVIEWER, false, show, d },
        { "POST", "/v1/artifacts/{id}/fetch", API_ROLE_REVIEWER, false, fetch, d },
        { "POST", "/v1/artifacts/{id}/decision", API_ROLE_REVIEWER, true, decision, d },
    };
    for (size_t i = 0; i < ARTIFACT_ENDPOINT_COUNT && i < max; i++) out[i] = routes[i];
    return ARTIFACT_ENDPOINT_COUNT;
}
