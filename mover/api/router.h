/*
 * router.h — the API server's routing table (private to mover/api/).
 *
 * A route is a method and a pattern of "/"-separated segments; a segment is either a
 * literal or a whole-segment parameter "{name}" (at most API_ROUTER_MAX_PARAMS per
 * pattern). Matching works on the request's raw path: it is split at "/" first and each
 * segment percent-decoded afterwards, so "%2F" inside a parameter never creates a
 * segment. A path matches a pattern when both have the same number of segments, every
 * literal equals its decoded segment byte for byte and every parameter segment is
 * non-empty. No normalisation: "/v1/health/" and "//v1/health" are other paths.
 *
 * When several routes of one method match a path ("/a/{id}" and "/a/list"), the most
 * specific wins: a literal beats a parameter at the first segment where they differ, so
 * the order of the table does not matter. Two routes of one method with the same shape
 * are refused.
 *
 * Outcomes: a route (and its decoded parameters), "known path, other method" (with the
 * Allow list), "unknown path", or "malformed path" (a bad %-escape, an encoded NUL, no
 * leading "/").
 *
 * Threading: none; the server uses it on the loop thread. Ownership: router_compile
 * borrows the routes (their strings and user pointers must outlive the router).
 */
#ifndef SLUICE_API_ROUTER_H
#define SLUICE_API_ROUTER_H

#include <stddef.h>

#include "api/api.h"
#include "util/buf.h"
#include "util/error.h"

#define API_ROUTER_MAX_PARAMS 4
#define API_ROUTER_MAX_SEGMENTS 32

typedef struct router_entry {
    const api_route *route;
    size_t segment_count;
    sl_cursor segments[API_ROUTER_MAX_SEGMENTS]; /* into route->pattern */
    unsigned param_mask;                         /* bit i: segment i is a parameter */
} router_entry;

typedef struct router {
    router_entry *entries;
    size_t count;
} router;

typedef enum router_outcome {
    ROUTER_MATCH,
    ROUTER_WRONG_METHOD,
    ROUTER_NOT_FOUND,
    ROUTER_BAD_PATH,
} router_outcome;

typedef struct router_match {
    const api_route *route;                  /* ROUTER_MATCH only */
    char *params[API_ROUTER_MAX_PARAMS];     /* decoded, owned: free with router_match_clean_up */
    size_t param_count;
    char allow[96];                          /* ROUTER_WRONG_METHOD: "GET, POST" */
} router_match;

/* Checks and indexes the routes. Errors: SL_ERR_INVALID_ARGUMENT naming the route
 * (no method or handler, a pattern not starting with "/", an empty or partial
 * "{…}" segment, too many parameters or segments, a duplicate). On error *out is
 * untouched. */
SL_MUST_CHECK sl_result router_compile(const api_route *routes, size_t count, router *out);
void router_clean_up(router *r);

/* Matches METHOD + raw PATH (without the query). *match is always initialised. */
router_outcome router_find(const router *r, const char *method, sl_cursor raw_path, router_match *match);
void router_match_clean_up(router_match *match);

/* Percent-decodes `raw` into `out` (appended). False for a malformed escape or an
 * encoded NUL; `out` may then hold a partial result. '+' is kept as is. */
SL_MUST_CHECK bool router_percent_decode(sl_cursor raw, sl_buf *out);

#endif /* SLUICE_API_ROUTER_H */
