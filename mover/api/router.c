/*
 * router.c — compiling route patterns and matching request paths (see router.h).
 *
 * Patterns are split into segment cursors once, at router_compile. A lookup splits the
 * raw request path the same way, then walks every route: a route whose segments all
 * match is remembered by method — the first route with the request's method wins, the
 * others only contribute to the Allow list of a 405. Parameters are decoded only for
 * the winning route. Percent-decoding follows RFC 3986 section 2.1 ("%" HEXDIG HEXDIG).
 */
#include "api/router.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

static bool is_param(sl_cursor seg)
{
    return seg.len >= 2 && seg.ptr[0] == '{' && seg.ptr[seg.len - 1] == '}';
}

/* Splits "/a/b" (after the leading "/") into cursors. False if there are too many. */
static bool split_path(sl_cursor path, sl_cursor *segments, size_t *count)
{
    *count = 0;
    sl_cursor rest = path;
    (void)sl_cursor_advance(&rest, 1); /* the leading "/" (checked by the callers) */
    for (;;) {
        if (*count == API_ROUTER_MAX_SEGMENTS) return false;
        ptrdiff_t slash = sl_cursor_find_byte(rest, '/');
        if (slash < 0) {
            segments[(*count)++] = rest;
            return true;
        }
        segments[(*count)++] = sl_cursor_from_bytes(rest.ptr, (size_t)slash);
        (void)sl_cursor_advance(&rest, (size_t)slash + 1);
    }
}

/* Would both patterns match the same paths? ("/a/{id}" and "/a/{x}" would.) */
static bool same_shape(const router_entry *a, const router_entry *b)
{
    if (a->segment_count != b->segment_count || a->param_mask != b->param_mask) return false;
    for (size_t s = 0; s < a->segment_count; s++)
        if (!(a->param_mask & (1u << s)) && !sl_cursor_eq(a->segments[s], b->segments[s])) return false;
    return true;
}

sl_result router_compile(const api_route *routes, size_t count, router *out)
{
    router r = { 0 };
    r.entries = sl_calloc(count ? count : 1, sizeof(*r.entries));
    r.count = count;
    for (size_t i = 0; i < count; i++) {
        const api_route *route = &routes[i];
        router_entry *e = &r.entries[i];
        e->route = route;
        if (route->method == NULL || route->method[0] == '\0' || route->handler == NULL ||
            route->pattern == NULL || route->pattern[0] != '/') {
            router_clean_up(&r);
            RAISE(SL_ERR_INVALID_ARGUMENT, "route %zu (%s %s): needs a method, a handler and a pattern starting with '/'",
                  i, route->method ? route->method : "?", route->pattern ? route->pattern : "?");
        }
        sl_cursor pattern = sl_cursor_from_cstr(route->pattern);
        if (!split_path(pattern, e->segments, &e->segment_count)) {
            router_clean_up(&r);
            RAISE(SL_ERR_INVALID_ARGUMENT, "route %s %s: more than %d segments", route->method, route->pattern,
                  API_ROUTER_MAX_SEGMENTS);
        }
        size_t params = 0;
        for (size_t s = 0; s < e->segment_count; s++) {
            sl_cursor seg = e->segments[s];
            bool braces = sl_cursor_find_byte(seg, '{') >= 0 || sl_cursor_find_byte(seg, '}') >= 0;
            if (is_param(seg)) {
                sl_cursor name = sl_cursor_from_bytes(seg.ptr + 1, seg.len - 2);
                if (name.len == 0 || sl_cursor_find_byte(name, '{') >= 0 || sl_cursor_find_byte(name, '}') >= 0 ||
                    ++params > API_ROUTER_MAX_PARAMS) {
                    router_clean_up(&r);
                    RAISE(SL_ERR_INVALID_ARGUMENT, "route %s %s: parameters are whole segments \"{name}\", at most %d",
                          route->method, route->pattern, API_ROUTER_MAX_PARAMS);
                }
                e->param_mask |= 1u << s;
            } else if (braces || seg.len == 0) {
                router_clean_up(&r);
                RAISE(SL_ERR_INVALID_ARGUMENT, "route %s %s: segment %zu is empty or holds a partial \"{…}\"",
                      route->method, route->pattern, s + 1);
            }
        }
    }
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!same_shape(&r.entries[i], &r.entries[j]) || strcmp(routes[i].method, routes[j].method) != 0)
                continue;
            router_clean_up(&r);
            RAISE(SL_ERR_INVALID_ARGUMENT, "routes %zu and %zu are the same: %s %s and %s", j, i, routes[i].method,
                  routes[j].pattern, routes[i].pattern);
        }
    }
    *out = r;
    return SL_SUCCESS;
}

void router_clean_up(router *r)
{
    if (r == NULL) return;
    sl_free(r->entries);
    *r = (router){ 0 };
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool router_percent_decode(sl_cursor raw, sl_buf *out)
{
    for (size_t i = 0; i < raw.len; i++) {
        uint8_t c = raw.ptr[i];
        if (c == '%') {
            if (raw.len - i < 3) return false;
            int hi = hex_value(raw.ptr[i + 1]), lo = hex_value(raw.ptr[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = (uint8_t)(hi * 16 + lo);
            if (c == 0) return false;
            i += 2;
        }
        if (sl_failed(sl_buf_append_byte(out, c))) return false;
    }
    return true;
}

/* Does the decoded segment equal the literal? */
static bool literal_matches(sl_cursor literal, sl_cursor raw_segment, sl_buf *scratch)
{
    if (sl_cursor_find_byte(raw_segment, '%') < 0) return sl_cursor_eq(literal, raw_segment);
    sl_buf_reset(scratch);
    if (!router_percent_decode(raw_segment, scratch)) return false;
    return sl_cursor_eq(literal, sl_cursor_from_buf(scratch));
}

static void allow_add(router_match *m, const char *method)
{
    /* the Allow list holds each method once */
    size_t n = strlen(method);
    const char *p = m->allow;
    while ((p = strstr(p, method)) != NULL) {
        bool starts = p == m->allow || p[-1] == ' ';
        bool ends = p[n] == '\0' || p[n] == ',';
        if (starts && ends) return;
        p += n;
    }
    size_t used = strlen(m->allow);
    snprintf(m->allow + used, sizeof(m->allow) - used, "%s%s", used ? ", " : "", method);
}

/* Of two routes matching the same path: does `a` have a literal at the first segment
 * where one has a literal and the other a parameter? */
static bool more_specific(const router_entry *a, const router_entry *b)
{
    unsigned differ = a->param_mask ^ b->param_mask;
    if (differ == 0) return false;
    unsigned first = differ & -differ; /* the lowest differing segment */
    return (a->param_mask & first) == 0;
}

router_outcome router_find(const router *r, const char *method, sl_cursor raw_path, router_match *match)
{
    *match = (router_match){ 0 };
    if (raw_path.len == 0 || raw_path.ptr[0] != '/') return ROUTER_BAD_PATH;
    sl_cursor segments[API_ROUTER_MAX_SEGMENTS];
    size_t count = 0;
    sl_buf scratch = { 0 };
    /* the whole path must decode, even where a route would not look */
    bool valid = router_percent_decode(raw_path, &scratch);
    if (!valid) {
        sl_buf_clean_up(&scratch);
        return ROUTER_BAD_PATH;
    }
    if (!split_path(raw_path, segments, &count)) {
        sl_buf_clean_up(&scratch);
        return ROUTER_NOT_FOUND; /* deeper than any route can be */
    }
    const router_entry *found = NULL;
    bool path_known = false;
    for (size_t i = 0; i < r->count; i++) {
        const router_entry *e = &r->entries[i];
        if (e->segment_count != count) continue;
        bool ok = true;
        for (size_t s = 0; s < count && ok; s++) {
            if (e->param_mask & (1u << s)) ok = segments[s].len > 0;
            else ok = literal_matches(e->segments[s], segments[s], &scratch);
        }
        if (!ok) continue;
        path_known = true;
        if (strcmp(e->route->method, method) != 0) allow_add(match, e->route->method);
        else if (found == NULL || more_specific(e, found)) found = e;
    }
    if (found == NULL) {
        sl_buf_clean_up(&scratch);
        return path_known ? ROUTER_WRONG_METHOD : ROUTER_NOT_FOUND;
    }
    match->route = found->route;
    for (size_t s = 0; s < count; s++) {
        if (!(found->param_mask & (1u << s))) continue;
        sl_buf_reset(&scratch);
        if (!router_percent_decode(segments[s], &scratch)) { /* cannot happen: checked above */
            router_match_clean_up(match);
            sl_buf_clean_up(&scratch);
            return ROUTER_BAD_PATH;
        }
        match->params[match->param_count++] = sl_cursor_dup(sl_cursor_from_buf(&scratch));
    }
    match->allow[0] = '\0';
    sl_buf_clean_up(&scratch);
    return ROUTER_MATCH;
}

void router_match_clean_up(router_match *match)
{
    if (match == NULL) return;
    for (size_t i = 0; i < match->param_count; i++) sl_free(match->params[i]);
    *match = (router_match){ 0 };
}
