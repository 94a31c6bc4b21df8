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

static void answer(void *user, task_outcome outcome, const char *detail, json_t *result)
{
    api_request *request = user;
    if (outcome == TASK_OUTCOME_OK || outcome == TASK_OUTCOME_CREATED)
        api_respond(request, outcome == TASK_OUTCOME_CREATED ? 201 : 200, result);
    else
        api_respond_error(request, task_endpoints_error(outcome), detail);
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

static const char *const open_fields[] = { "route", "ttl", "keys", "max_objects", "max_bytes", "name_pattern", "post" };

/* A size: a string such as "10MiB" or a non-negative integer. */
static bool read_size(json_t *value, uint64_t *out)
{
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        *out = (uint64_t)json_integer_value(value);
        return true;
    }
    return json_is_string(value) && sl_parse_size(json_string_value(value), out);
}

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
static bool parse_open(json_t *body, task_open_params *p, task_open_key **keys_out, task_outcome *outcome,
                       char *detail, size_t len)
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
                     "name_pattern, post", shown);
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
    task_outcome outcome;
    char detail[DETAIL_MAX];
    if (info->json == NULL) {
        refuse(request, TASK_OUTCOME_BAD_REQUEST, "the body must be a JSON object");
    } else if (!open_caps_ok(request, info->json)) {
        /* answered */
    } else if (!parse_open(info->json, &params, &keys, &outcome, detail, sizeof(detail))) {
        api_respond_error(request, task_endpoints_error(outcome), detail);
    } else if (sl_failed(task_registry_open(r, &params, info->user, answer, request))) {
        refuse(request, TASK_OUTCOME_UNAVAILABLE, "%s", sl_error_detail());
    }
    sl_free(keys);
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
    if (info->param_count != 1 || sl_failed(task_registry_close(r, info->params[0], info->user, answer, request)))
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
    if (sl_failed(task_registry_list(r, filter, answer, request)))
        refuse(request, TASK_OUTCOME_UNAVAILABLE, "the tasks could not be listed: %s", sl_error_detail());
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
    };
    for (size_t i = 0; i < TASK_ENDPOINT_COUNT && i < max; i++) out[i] = routes[i];
    return TASK_ENDPOINT_COUNT;
}
