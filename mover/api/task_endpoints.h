/*
 * task_endpoints.h — the task endpoints of the daemon's socket API (api/api.h), on top
 * of the task registry (tasks/tasks.h). All three need the orchestrator role (review.orchestrators);
 * the server answers 403 to anyone else and 400 to a body that is not a JSON object.
 *
 *   POST /v1/tasks              {"route":"reports","ttl":"30m","keys":["out.csv",{"name":"plot.png","size":2048}],
 *                                "max_objects":10,"max_bytes":"10MiB","name_pattern":"*.json","post":true}
 *                               201 with the task and its grants (tasks.h, task_registry_open)
 *   POST /v1/tasks/{id}/close   no body (or {}); 200 with the task
 *   GET  /v1/tasks[?state=live|open|closed|expired|all]   200 {"tasks":[…]} (default live)
 *   GET  /v1/tasks/{id}         200 {"task","events":[…],"objects":[…]}: what became of each
 *                               object the task wrote, and its grants (orchestrators and
 *                               reviewers)
 *
 * Request fields: route (required); ttl a duration ("30m"; default grants.default_ttl);
 * keys, names or {"name","size"} objects; max_objects an integer; max_bytes a size
 * ("10MiB") or an integer; name_pattern (state/task.h's glob); post a boolean (default
 * true); grant "presigned" (default) or "sts"; reference an array of reference keys. Unknown fields, wrong types and bad values are 400 and change nothing.
 * Errors are {"error","detail"} from the API error table (api/errors.h), mapped from the
 * registry's typed outcomes by task_endpoints_error: unknown_route (400, the detail
 * lists the routes), invalid_ttl (400), invalid_request (400), unknown_task (404),
 * task_not_open (409), unavailable (503), internal (500).
 *
 * Threading: loop thread only (the API server's). The routes borrow the registry, which
 * must outlive the server.
 */
#ifndef SLUICE_API_TASK_ENDPOINTS_H
#define SLUICE_API_TASK_ENDPOINTS_H

#include <stddef.h>

#include <jansson.h>

#include "api/api.h"
#include "tasks/tasks.h"

#define TASK_ENDPOINT_COUNT 4

/* Writes the task routes into out[0..max) and returns how many there are
 * (TASK_ENDPOINT_COUNT); when max is smaller, only max are written. */
size_t task_endpoints(task_registry *r, api_route *out, size_t max);

/* The JSON answers of the task endpoints, from the registry's typed results (new
 * references; docs/tasks.md shows them). */
json_t *task_endpoints_task_json(const task_info *task);
json_t *task_endpoints_grant_json(const task_info *task, const task_grant *grant);
json_t *task_endpoints_list_json(const task_info *tasks, size_t count);
json_t *task_endpoints_report_json(const task_report *report);

/* The API error for an outcome other than TASK_OUTCOME_OK / _CREATED (those are 200
 * and 201 answers, not errors: API_ERR_INTERNAL). */
api_error task_endpoints_error(task_outcome outcome);

#endif /* SLUICE_API_TASK_ENDPOINTS_H */
