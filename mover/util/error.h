/*
 * error.h — the one error convention of sluice.
 *
 * Internal functions return `sl_result`, a one-field struct the compiler refuses to
 * let callers ignore (SL_MUST_CHECK). On failure the function has also recorded a
 * thread-local "last error": a code from the single table below (SL_ERROR_LIST, an
 * X-macro, so codes and messages cannot drift), the file:line that raised it, and a
 * short detail text that says what and where ("context.json: missing 'region'").
 *
 * The GUARD/ENSURE macros keep the happy path reading straight down:
 *   GUARD(call)                 propagate a failed sl_result
 *   ENSURE(cond, CODE, fmt...)  raise CODE with a detail when cond is false
 *   GUARD_OSSL(call, CODE)      OpenSSL's "1 on success" calls
 *   *_CLEANUP variants          jump to the function's `cleanup:` label instead of
 *                               returning, for functions that own resources; they
 *                               expect a local `sl_result result = SL_FAILURE;`
 *                               (set it to SL_SUCCESS just before `cleanup:`).
 *
 * Threading: the last error is per thread; read it on the thread that failed.
 * Modelled on s2n-tls's s2n_result and safety macros and libuv's UV_ERRNO_MAP.
 */
#ifndef SLUICE_UTIL_ERROR_H
#define SLUICE_UTIL_ERROR_H

#include <stdbool.h>

#define SL_MUST_CHECK __attribute__((warn_unused_result))
#define SL_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))

/* Every error sluice can report: X(NAME, "what it means"). Append, never renumber. */
#define SL_ERROR_LIST(X)                                                       \
    X(SL_OK, "success")                                                        \
    X(SL_ERR_INVALID_ARGUMENT, "invalid argument")                             \
    X(SL_ERR_OVERFLOW, "size arithmetic would overflow")                       \
    X(SL_ERR_LIMIT, "input exceeds a configured or built-in limit")            \
    X(SL_ERR_IO, "input/output error")                                         \
    X(SL_ERR_PARSE, "malformed input")                                         \
    X(SL_ERR_CRYPTO, "cryptographic operation failed")                         \
    X(SL_ERR_ENCODING, "invalid text encoding")                                \
    X(SL_ERR_NOT_FOUND, "not found")                                           \
    X(SL_ERR_UNSUPPORTED, "not supported")                                     \
    X(SL_ERR_STATE, "operation not allowed in the current state")             \
    X(SL_ERR_TIMEOUT, "timed out")                                             \
    X(SL_ERR_CONNECTION, "connection failed")                                  \
    X(SL_ERR_CANCELLED, "cancelled")                                           \
    X(SL_ERR_HTTP, "unexpected HTTP response")                                 \
    X(SL_ERR_S3, "the S3 service returned an error")                            \
    X(SL_ERR_DEADLINE, "not sent: its deadline had passed")

typedef enum sl_error {
#define SL_ERROR_ENUM(name, text) name,
    SL_ERROR_LIST(SL_ERROR_ENUM)
#undef SL_ERROR_ENUM
    SL_ERROR_COUNT
} sl_error;

/* A result the compiler makes callers look at. Never inspect .value directly. */
typedef struct sl_result {
    int value;
} sl_result;

#define SL_SUCCESS ((sl_result){ 0 })
#define SL_FAILURE ((sl_result){ -1 })

static inline bool sl_ok(sl_result r) { return r.value == 0; }
static inline bool sl_failed(sl_result r) { return r.value != 0; }

/* Records the last error of this thread. The detail is formatted printf-style and
 * truncated to fit; a NULL fmt leaves the detail empty. Always returns SL_FAILURE. */
sl_result sl_error_raise(sl_error code, const char *file, int line, const char *fmt, ...)
    SL_PRINTF(4, 5);

/* The last error raised on this thread (SL_OK if none since sl_error_clear). */
sl_error sl_error_last(void);
/* Its detail text; never NULL ("" when none). Valid until the next raise on this thread. */
const char *sl_error_detail(void);
/* Where it was raised: "file.c:123"; never NULL. */
const char *sl_error_location(void);
void sl_error_clear(void);

/* The table's name ("SL_ERR_PARSE") and message for a code; "unknown error" if out of range. */
const char *sl_error_name(sl_error code);
const char *sl_error_message(sl_error code);

/* "message: detail" for the last error, into a caller buffer; returns buf. */
const char *sl_error_describe(char *buf, unsigned long size);

#define RAISE(code, ...) return sl_error_raise((code), __FILE__, __LINE__, __VA_ARGS__)

#define GUARD(call)                                                            \
    do {                                                                       \
        if (sl_failed(call)) return SL_FAILURE;                                \
    } while (0)

#define ENSURE(cond, code, ...)                                                \
    do {                                                                       \
        if (!(cond)) RAISE((code), __VA_ARGS__);                               \
    } while (0)

#define GUARD_OSSL(call, code)                                                 \
    do {                                                                       \
        if ((call) != 1) RAISE((code), "%s failed", #call);                   \
    } while (0)

#define GUARD_CLEANUP(call)                                                    \
    do {                                                                       \
        if (sl_failed(call)) goto cleanup;                                     \
    } while (0)

#define ENSURE_CLEANUP(cond, code, ...)                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            (void)sl_error_raise((code), __FILE__, __LINE__, __VA_ARGS__);    \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

#define GUARD_OSSL_CLEANUP(call, code)                                         \
    ENSURE_CLEANUP((call) == 1, (code), "%s failed", #call)

#endif /* SLUICE_UTIL_ERROR_H */
