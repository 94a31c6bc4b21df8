/*
 * api_client.h — sluice-review's side of the daemon's socket API (docs/api.md).
 *
 * One blocking call per request: connect to the Unix socket, send one HTTP/1.1 request
 * (`Connection: close`), read the answer (parsed with http-parser) and parse its JSON
 * body. Every step shares one deadline (API_CLIENT_TIMEOUT_MS). Errors are written for
 * people: "cannot connect to /run/sluice/api.sock: No such file or directory — is
 * sluice-mover running? set --socket or SLUICE_SOCKET".
 *
 * Threading: any thread; the functions share no state. SIGPIPE is never raised (the
 * request is sent with MSG_NOSIGNAL).
 */
#ifndef SLUICE_REVIEW_API_CLIENT_H
#define SLUICE_REVIEW_API_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

#define API_CLIENT_DEFAULT_SOCKET "/run/sluice/api.sock"
#define API_CLIENT_TIMEOUT_MS 30000
#define API_CLIENT_MAX_RESPONSE ((size_t)64 << 20)

/* Calls METHOD PATH (path with its query, e.g. "/v1/artifacts?state=in_review") with an
 * optional JSON body. On success *status is the HTTP status (any status: 4xx and 5xx are
 * answers too) and *response the parsed JSON body (NULL when the body was empty; the
 * caller owns it). On failure (cannot connect, timeout, the connection closed early, an
 * answer that is not HTTP or not JSON) a one-line message is in err, the same text is
 * the last error's detail (SL_ERR_CONNECTION, SL_ERR_TIMEOUT or SL_ERR_PARSE), and
 * *status / *response are untouched. */
SL_MUST_CHECK sl_result api_call(const char *socket_path, const char *method, const char *path,
                                 const char *json_body_or_NULL, long *status, json_t **response, char *err,
                                 size_t err_len);

/* Which socket to use: `option` (--socket) if set, else $SLUICE_SOCKET if set and not
 * empty, else api.socket of the configuration file `config_path` if given, else
 * API_CLIENT_DEFAULT_SOCKET. Returns a string to free with sl_free. On failure (the
 * configuration does not load) err holds every problem found, one per line, and NULL
 * is returned. */
char *api_client_socket_path(const char *option, const char *config_path, char *err, size_t err_len);

/* One line for an error answer: "403 forbidden: user 'x' has none of the roles …"
 * (from {"error","detail"}), or "HTTP 502" when the body says nothing. Returns buf. */
const char *api_client_describe_error(long status, const json_t *response, char *buf, size_t buf_len);

#endif /* SLUICE_REVIEW_API_CLIENT_H */
