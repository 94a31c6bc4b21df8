/*
 * fuzz_config.c — libFuzzer target over the configuration loader (config/config.c) on
 * arbitrary JSON text. Invariants: it either loads (and then reports no error and at
 * least one route) or fails with at least one error, each with a message; never both,
 * never neither. Relative paths resolve against "/nonexistent" (rules files then fail
 * to be found, which is an error like any other).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = sl_strndup((const char *)data, size);
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    sl_result r = sl_config_load_string(text, "/nonexistent", &config, &errors);
    if (sl_ok(r)) {
        if (config == NULL || errors.count != 0 || config->route_count == 0) abort();
    } else {
        if (config != NULL || errors.count == 0) abort();
        for (size_t i = 0; i < errors.count; i++)
            if (errors.items[i].message == NULL || errors.items[i].message[0] == '\0' || errors.items[i].path == NULL)
                abort();
    }
    sl_config_free(config);
    sl_config_errors_clean_up(&errors);
    sl_free(text);
    return 0;
}
