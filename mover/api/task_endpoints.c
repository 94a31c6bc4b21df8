/*
 * task_endpoints.c — the handlers of task_endpoints.h: parse and check the request
 * (strictly: every field has one type, unknown fields are refused, each error names the
 * field), hand it to the registry, and answer with the registry's outcome (mapped to
 * the API error table by task_endpoints_error).
 */
#include "api/task_endpoints.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "state/artifact.h"
#include "state/task.h"
#include "util/alloc.h"
#include "util/timefmt.h"

#define DETAIL_MAX 512

api_error task_endpoints_error(task_outcome outcome)
{
    switch (outcome) {
    case TASK_OUTCOME_UNKNOWN_ROUTE: return API_ERR_UNKNOWN_ROUTE;
    case TASK_OUTCOME_BAD_TTL: return API_ERR_INVALID_TTL;
    case TASK_OUTCOME_BAD_REQUEST: return API_ERR_INVALID_REQUEST;
    case TASK_OUTCOME_NOT_FOUND: return API_ERR_UNKNOWN_TASK;
    case TASK_OUTCOME_NOT_OPEN: return API_ERR_TASK_NOT_OPEN;
    case TASK_OUTCOME_UNAVAILABLE: return API_ERR_UNAVAILABLE;
    case TASK_OUTCOME_OK:
    case TASK_OUTCOME_CREATED:
    case TASK_OUTCOME_INTERNAL:
    case TASK_OUTCOME_COUNT: break;
    }
    return API_ERR_INTERNAL;
}

/* ---- the JSON of typed results ---- */

static void put_text(json_t *o, const char *key, const char *value)
{
    if (value != NULL) json_object_set_new(o, key, json_string(value));
}

static void put_time(json_t *o, const char *key, int64_t ms)
{
    char text[SL_TIME_TEXT_LEN + 1];
    if (sl_time_format(ms, text)) json_object_set_new(o, key, json_string(text));
}

json_t *task_endpoints_task_json(const task_info *t)
{
    const task_manifest *m = t->manifest;
    json_t *o = json_object();
    put_text(o, "task", m->id);
    put_text(o, "route", m->route);
    put_text(o, "state", task_state_name(t->state));
    put_text(o, "opened_by", m->opened_by);
    put_time(o, "opened_at", m->opened_at_ms);
    put_time(o, "expires_at", m->expires_at_ms);
    if (m->closed) {
        put_time(o, "closed_at", m->closed_at_ms);
        put_text(o, "closed_by", m->closed_by);
    }
    put_text(o, "bucket", t->bucket);
    put_text(o, "prefix", t->prefix);
    json_object_set_new(o, "limits", task_limits_json(&m->limits));
    if (m->limits.max_objects > 0) json_object_set_new(o, "accepted", json_integer((json_int_t)m->accepted_count));
    return o;
}

json_t *task_endpoints_grant_json(const task_info *t, const task_grant *g)
{
    json_t *o = task_endpoints_task_json(t);
    put_text(o, "grant", task_grant_kind_name(g->kind));
    put_time(o, "grant_expires_at", g->expires_at_ms);
    if (g->kind == TASK_GRANT_PRESIGNED) {
        json_object_set_new(o, "put_headers", json_pack("{s:s, s:s}", "If-None-Match", TASK_PUT_IF_NONE_MATCH,
                                                        "x-amz-acl", TASK_PUT_ACL));
        json_t *urls = json_object();
        for (size_t i = 0; i < g->put_url_count; i++) put_text(urls, g->put_urls[i].name, g->put_urls[i].url);
        json_object_set_new(o, "put_urls", urls);
        if (g->has_post) {
            json_t *post = json_object(), *fields = json_object();
            put_text(post, "url", g->post_url);
            put_text(post, "key_prefix", g->post_key_prefix);
            json_object_set_new(post, "max_bytes", json_integer((json_int_t)g->post_max_bytes));
            for (size_t i = 0; i < g->post_field_count; i++)
                put_text(fields, g->post_fields[i].name, g->post_fields[i].value);
            json_object_set_new(post, "fields", fields);
            json_object_set_new(o, "post", post);
        }
    } else {
        json_t *c = json_object();
        put_text(c, "access_key_id", g->access_key_id);
        put_text(c, "secret_access_key", g->secret_access_key);
        put_text(c, "session_token", g->session_token);
        put_time(c, "expires_at", g->expires_at_ms);
        put_time(c, "session_expires_at", g->session_expires_at_ms);
        put_text(c, "session", g->session_arn);
        put_text(c, "endpoint", g->endpoint);
        put_text(c, "region", g->region);
        json_object_set_new(c, "put_headers", json_pack("{s:s}", "x-amz-acl", TASK_PUT_ACL));
        json_object_set_new(o, "credentials", c);
    }
    if (g->reference_bucket != NULL) {
        json_t *ref = json_object();
        put_text(ref, "bucket", g->reference_bucket);
        if (g->kind == TASK_GRANT_PRESIGNED) {
            json_t *urls = json_object();
            for (size_t i = 0; i < g->reference_count; i++) put_text(urls, g->reference[i].name, g->reference[i].url);
            json_object_set_new(ref, "get_urls", urls);
        } else {
            json_t *keys = json_array();
            for (size_t i = 0; i < g->reference_count; i++) json_array_append_new(keys, json_string(g->reference[i].name));
            json_object_set_new(ref, "keys", keys);
        }
        json_object_set_new(o, "reference", ref);
    }
    return o;
}

json_t *task_endpoints_list_json(const task_info *tasks, size_t count)
{
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) json_array_append_new(list, task_endpoints_task_json(&tasks[i]));
    return json_pack("{s:o}", "tasks", list);
}

json_t *task_endpoints_report_json(const task_report *report)
{
    json_t *o = json_pack("{s:o}", "task", task_endpoints_task_json(report->task));
    json_t *events = json_array(), *objects = json_array();
    for (size_t i = 0; i < report->event_count; i++) {
        const task_event_record *e = &report->events[i];
        json_t *ev = json_object();
        put_text(ev, "event", e->event);
        put_time(ev, "time", e->time_ms);
        put_text(ev, "actor", e->actor);
        json_t *detail = e->detail_json ? json_loads(e->detail_json, 0, NULL) : NULL;
        if (detail != NULL) json_object_set_new(ev, "detail", detail);
        json_array_append_new(events, ev);
    }
    for (size_t i = 0; i < report->object_count; i++) {
        const task_object *ob = &report->objects[i];
        json_t *j = json_object();
        put_text(j, "artifact", ob->artifact);
        put_text(j, "name", ob->name);
        put_text(j, "state", ob->state);
        put_text(j, "trusted_key", ob->trusted_key);
        put_text(j, "reason", ob->reason);
        put_text(j, "sha256", ob->sha256);
        put_text(j, "findings", ob->findings);
        put_time(j, "first_seen", ob->first_ms);
        put_time(j, "last_seen", ob->last_ms);
        json_object_set_new(j, "records", json_integer((json_int_t)ob->records));
        json_array_append_new(objects, j);
    }
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "objects", objects);
    json_object_set_new(o, "audit_lines_read", json_integer((json_int_t)report->lines_read));
    if (report->truncated) json_object_set_new(o, "truncated", json_true());
    return o;
}

static void answer_error(api_request *request, task_outcome outcome, const char *detail)
{
    api_respond_error(request, task_endpoints_error(outcome), detail);
}

static void answer_open(void *user, task_outcome outcome, const char *detail, const task_info *task,
                        const task_grant *grant)
{
    api_request *request = user;
    if (outcome == TASK_OUTCOME_CREATED && task != NULL && grant != NULL)
        api_respond(request, 201, task_endpoints_grant_json(task, grant));
    else
        answer_error(request, outcome, detail);
}

static void answer_info(void *user, task_outcome outcome, const char *detail, const task_info *task)
{
    api_request *request = user;
    if (outcome == TASK_OUTCOME_OK && task != NULL) api_respond(request, 200, task_endpoints_task_json(task));
    else answer_error(request, outcome, detail);
}

static void answer_list(void *user, task_outcome outcome, const char *detail, const task_info *tasks, size_t count)
{
    api_request *request = user;
    if (outcome == TASK_OUTCOME_OK) api_respond(request, 200, task_endpoints_list_json(tasks, count));
    else answer_error(request, outcome, detail);
}

static void answer_show(void *user, task_outcome outcome, const char *detail, const task_report *report)
{
    api_request *request = user;
    if (outcome == TASK_OUTCOME_OK && report != NULL) api_respond(request, 200, task_endpoints_report_json(report));
    else answer_error(request, outcome, detail);
}

static void refuse(api_request *request, task_outcome outcome, const char *fmt, ...) SL_PRINTF(3, 4);
static void refuse(api_request *request, task_outcome outcome, const char *fmt, ...)
{
    char detail[DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    api_respond_error(request, task_endpoints_error(outcome), detail);
}

/* ---- POST /v1/tasks ---- */

static const char *const open_fields[] = { "route", "ttl", "keys", "max_objects", "max_bytes", "name_pattern", "post",
                                           "grant", "reference" };

/* A size: a string such as "10MiB" or a non-negative integer. */
static bool read_size(json_t *value, uint64_t *out)
{
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        *out = (uint64_t)json_integer_value(value);
        return true;
    }
    return json_is_string(value) && sl_parse_size(json_string_value(value), out);
}

#define REFERENCE_KEY_MAX 1024 /* bytes of a reference key (an S3 key) */
#define TEXT_VALUE_MAX 32 /* bytes of a duration or size given as text ("30m", "10MiB") */

/* A string member over `max` bytes: answers field_too_large naming it. */
static bool text_over(api_request *request, json_t *value, size_t max, const char *field)
{
    if (!json_is_string(value) || json_string_length(value) <= max) return false;
    api_respond_field_error(request, API_ERR_FIELD_TOO_LARGE, field, "%s: %zu bytes; at most %zu", field,
                            json_string_length(value), max);
    return true;
}

/* The documented caps of POST /v1/tasks (docs/tasks.md), checked before the registry
 * sees the request; answers and returns false when one is broken. Types are checked
 * by parse_open. */
static bool open_caps_ok(api_request *request, json_t *body)
{
    if (text_over(request, json_object_get(body, "route"), SL_ARTIFACT_ROUTE_MAX, "route") ||
        text_over(request, json_object_get(body, "ttl"), TEXT_VALUE_MAX, "ttl") ||
        text_over(request, json_object_get(body, "max_bytes"), TEXT_VALUE_MAX, "max_bytes") ||
        text_over(request, json_object_get(body, "name_pattern"), SL_TASK_MAX_PATTERN, "name_pattern"))
        return false;
    json_t *refs = json_object_get(body, "reference");
    if (json_is_array(refs)) {
        size_t i;
        json_t *item;
        json_array_foreach(refs, i, item) {
            char field[48];
            snprintf(field, sizeof(field), "reference[%zu]", i);
            if (text_over(request, item, REFERENCE_KEY_MAX, field)) return false;
        }
    }
    json_t *keys = json_object_get(body, "keys");
    if (!json_is_array(keys)) return true;
    if (json_array_size(keys) > SL_TASK_MAX_KEYS) {
        api_respond_field_error(request, API_ERR_FIELD_TOO_LARGE, "keys", "keys: %zu entries; at most %d",
                                json_array_size(keys), SL_TASK_MAX_KEYS);
        return false;
    }
    size_t i;
    json_t *item;
    json_array_foreach(keys, i, item) {
        char field[48];
        snprintf(field, sizeof(field), "keys[%zu]", i);
        json_t *name = json_is_object(item) ? json_object_get(item, "name") : item;
        if (text_over(request, name, SL_TASK_MAX_NAME, field)) return false;
        snprintf(field, sizeof(field), "keys[%zu].size", i);
        if (json_is_object(item) && text_over(request, json_object_get(item, "size"), TEXT_VALUE_MAX, field))
            return false;
    }
    return true;
}

/* Fills params from the body; on failure fills outcome and detail. The strings point
 * into `body` (valid until the answer). */
static bool parse_open(json_t *body, task_open_params *p, task_open_key **keys_out, const char ***refs_out,
                       task_outcome *outcome, char *detail, size_t len)
{
    *outcome = TASK_OUTCOME_BAD_REQUEST;
    const char *name;
    json_t *value = NULL;
    json_object_foreach(body, name, value) {
        bool known = false;
        for (size_t i = 0; i < sizeof(open_fields) / sizeof(open_fields[0]) && !known; i++)
            known = strcmp(name, open_fields[i]) == 0;
        if (!known) {
            char shown[68];
            size_t n = 0;
            for (; name[n] && n < 64; n++) shown[n] = (name[n] < 0x20 || name[n] > 0x7e) ? '?' : name[n];
            shown[n] = '\0';
            snprintf(detail, len, "unknown field \"%s\"; the fields are route, ttl, keys, max_objects, max_bytes, "
                     "name_pattern, post, grant, reference", shown);
            return false;
        }
    }
    value = json_object_get(body, "route");
    if (!json_is_string(value) || json_string_length(value) == 0) {
        snprintf(detail, len, "route: required, a route name such as \"reports\"");
        return false;
    }
    p->route = json_string_value(value);
    if (strlen(p->route) != json_string_length(value)) {
        snprintf(detail, len, "route: holds a NUL byte");
        return false;
    }
    if ((value = json_object_get(body, "ttl")) != NULL) {
        if (!json_is_string(value) || !sl_parse_duration_ms(json_string_value(value), &p->ttl_ms) || p->ttl_ms == 0) {
            *outcome = TASK_OUTCOME_BAD_TTL;
            snprintf(detail, len, "ttl: expected a duration such as \"30m\" (units ms, s, m, h, d)");
            return false;
        }
    }
    if ((value = json_object_get(body, "max_objects")) != NULL) {
        if (!json_is_integer(value) || json_integer_value(value) < 1 || json_integer_value(value) > SL_TASK_MAX_OBJECTS) {
            snprintf(detail, len, "max_objects: expected an integer from 1 to %d", SL_TASK_MAX_OBJECTS);
            return false;
        }
        p->max_objects = (uint32_t)json_integer_value(value);
    }
    if ((value = json_object_get(body, "max_bytes")) != NULL) {
        if (!read_size(value, &p->max_bytes) || p->max_bytes == 0) {
            snprintf(detail, len, "max_bytes: expected a size such as \"10MiB\" or a positive integer");
            return false;
        }
    }
    if ((value = json_object_get(body, "name_pattern")) != NULL) {
        if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value)) {
            snprintf(detail, len, "name_pattern: expected a string such as \"*.csv\"");
            return false;
        }
        p->name_pattern = json_string_value(value);
    }
    if ((value = json_object_get(body, "post")) != NULL) {
        if (!json_is_boolean(value)) {
            snprintf(detail, len, "post: expected true or false");
            return false;
        }
        p->no_post = !json_is_true(value);
    }
    if ((value = json_object_get(body, "grant")) != NULL) {
        if (!json_is_string(value) || !task_grant_kind_from_name(json_string_value(value), &p->grant)) {
            snprintf(detail, len, "grant: expected \"presigned\" or \"sts\"");
            return false;
        }
    }
    if ((value = json_object_get(body, "reference")) != NULL) {
        if (!json_is_array(value) || json_array_size(value) > TASK_MAX_REFERENCE_KEYS) {
            snprintf(detail, len, "reference: expected an array of at most %d keys", TASK_MAX_REFERENCE_KEYS);
            return false;
        }
        size_t count = json_array_size(value), i;
        const char **refs = sl_calloc(count ? count : 1, sizeof(*refs));
        *refs_out = refs;
        json_t *item;
        json_array_foreach(value, i, item) {
            if (!json_is_string(item) || strlen(json_string_value(item)) != json_string_length(item)) {
                snprintf(detail, len, "reference[%zu]: expected a key (a string)", i);
                return false;
            }
            refs[i] = json_string_value(item);
        }
        p->reference = refs;
        p->reference_count = count;
    }
    if ((value = json_object_get(body, "keys")) != NULL) {
        if (!json_is_array(value)) {
            snprintf(detail, len, "keys: expected an array of names or {\"name\",\"size\"} objects");
            return false;
        }
        if (json_array_size(value) > SL_TASK_MAX_KEYS) {
            snprintf(detail, len, "keys: %zu entries; at most %d", json_array_size(value), SL_TASK_MAX_KEYS);
            return false;
        }
        size_t count = json_array_size(value);
        task_open_key *keys = sl_calloc(count ? count : 1, sizeof(*keys));
        *keys_out = keys;
        size_t i;
        json_t *item = NULL;
        json_array_foreach(value, i, item) {
            json_t *key_name = item, *size = NULL;
            if (json_is_object(item)) {
                const char *field;
                json_t *v;
                json_object_foreach(item, field, v) {
                    if (strcmp(field, "name") != 0 && strcmp(field, "size") != 0) {
                        snprintf(detail, len, "keys[%zu]: unknown field; a key is {\"name\",\"size\"}", i);
                        return false;
                    }
                }
                key_name = json_object_get(item, "name");
                size = json_object_get(item, "size");
            }
            if (!json_is_string(key_name) || strlen(json_string_value(key_name)) != json_string_length(key_name)) {
                snprintf(detail, len, "keys[%zu]: expected a name (a string) or {\"name\",\"size\"}", i);
                return false;
            }
            keys[i].name = json_string_value(key_name);
            if (size != NULL) {
                if (!read_size(size, &keys[i].size)) {
                    snprintf(detail, len, "keys[%zu].size: expected a size such as \"2KiB\" or an integer", i);
                    return false;
                }
                keys[i].has_size = true;
            }
        }
        p->keys = keys;
        p->key_count = count;
    }
    return true;
}

static void open_handler(void *user, api_request *request, const api_request_info *info)
{
    task_registry *r = user;
    task_open_params params = { 0 };
    task_open_key *keys = NULL;
    const char **refs = NULL;
    task_outcome outcome;
    char detail[DETAIL_MAX];
    if (info->json == NULL) {
        refuse(request, TASK_OUTCOME_BAD_REQUEST, "the body must be a JSON object");
    } else if (!open_caps_ok(request, info->json)) {
        /* answered */
    } else if (!parse_open(info->json, &params, &keys, &refs, &outcome, detail, sizeof(detail))) {
        api_respond_error(request, task_endpoints_error(outcome), detail);
    } else if (sl_failed(task_registry_open(r, &params, info->user, answer_open, request))) {
        refuse(request, TASK_OUTCOME_UNAVAILABLE, "%s", sl_error_detail());
    }
    sl_free(keys);
    sl_free(refs);
}

/* ---- POST /v1/tasks/{id}/close ---- */

static void close_handler(void *user, api_request *request, const api_request_info *info)
{
    task_registry *r = user;
    if (info->body.len > 0) {
        json_t *body = json_loadb((const char *)info->body.ptr, info->body.len, 0, NULL);
        bool empty = json_is_object(body) && json_object_size(body) == 0;
        json_decref(body);
        if (!empty) {
            refuse(request, TASK_OUTCOME_BAD_REQUEST, "POST %s takes no body (or {})", info->path);
            return;
        }
    }
    if (info->param_count != 1 || sl_failed(task_registry_close(r, info->params[0], info->user, answer_info, request)))
        refuse(request, TASK_OUTCOME_UNAVAILABLE, "the task could not be closed: %s", sl_error_detail());
}

/* ---- GET /v1/tasks ---- */

static void list_handler(void *user, api_request *request, const api_request_info *info)
{
    task_registry *r = user;
    task_list_filter filter = TASK_LIST_LIVE;
    sl_cursor query = sl_cursor_from_cstr(info->query), pair;
    while (query.len > 0 && sl_cursor_next_token(&query, '&', &pair)) {
        if (pair.len == 0) continue;
        ptrdiff_t eq = sl_cursor_find_byte(pair, '=');
        sl_cursor key = eq < 0 ? pair : sl_cursor_from_bytes(pair.ptr, (size_t)eq);
        sl_cursor value = eq < 0 ? sl_cursor_from_cstr("") : sl_cursor_from_bytes(pair.ptr + eq + 1, pair.len - (size_t)eq - 1);
        char *text = sl_cursor_dup(value);
        bool ok = sl_cursor_eq_cstr(key, "state") && task_list_filter_from_name(text, &filter);
        sl_free(text);
        if (!ok) {
            refuse(request, TASK_OUTCOME_BAD_REQUEST,
                   "GET /v1/tasks takes only ?state=live|open|closed|expired|all (default live)");
            return;
        }
    }
    if (sl_failed(task_registry_list(r, filter, answer_list, request)))
        refuse(request, TASK_OUTCOME_UNAVAILABLE, "the tasks could not be listed: %s", sl_error_detail());
}

/* ---- GET /v1/tasks/{id} ---- */

static void show_handler(void *user, api_request *request, const api_request_info *info)
{
    task_registry *r = user;
    if (info->query != NULL && info->query[0] != '\0') {
        refuse(request, TASK_OUTCOME_BAD_REQUEST, "GET /v1/tasks/{id} takes no query");
        return;
    }
    if (info->param_count != 1 || sl_failed(task_registry_show(r, info->params[0], answer_show, request)))
        refuse(request, TASK_OUTCOME_UNAVAILABLE, "the task could not be shown: %s", sl_error_detail());
}

size_t task_endpoints(task_registry *r, api_route *out, size_t max)
{
    const api_route routes[TASK_ENDPOINT_COUNT] = {
        { .method = "POST", .pattern = "/v1/tasks", .roles = API_ROLE_ORCHESTRATOR, .json_body = true,
          .handler = open_handler, .user = r },
        { .method = "POST", .pattern = "/v1/tasks/{id}/close", .roles = API_ROLE_ORCHESTRATOR, .json_body = false,
          .handler = close_handler, .user = r },
        { .method = "GET", .pattern = "/v1/tasks", .roles = API_ROLE_ORCHESTRATOR, .json_body = false,
          .handler = list_handler, .user = r },
        { .method = "GET", .pattern = "/v1/tasks/{id}", .roles = API_ROLE_ORCHESTRATOR | API_ROLE_REVIEWER,
          .json_body = false, .handler = show_handler, .user = r },
    };
    for (size_t i = 0; i < TASK_ENDPOINT_COUNT && i < max; i++) out[i] = routes[i];
    return TASK_ENDPOINT_COUNT;
}
