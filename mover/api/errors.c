/*
 * errors.c — lookups in the API error table of errors.h.
 */
#include "api/errors.h"

#include <stddef.h>

static const struct {
    const char *code;
    int status;
    const char *message;
} table[API_ERROR_COUNT] = {
#define API_ERROR_ROW(e, code, status, message) [e] = { code, status, message },
    API_ERRORS(API_ERROR_ROW)
#undef API_ERROR_ROW
};

static api_error known(api_error error)
{
    return (unsigned)error < (unsigned)API_ERROR_COUNT ? error : API_ERR_INTERNAL;
}

const char *api_error_code(api_error error) { return table[known(error)].code; }
int api_error_status(api_error error) { return table[known(error)].status; }
const char *api_error_message(api_error error) { return table[known(error)].message; }
