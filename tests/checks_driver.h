/*
 * checks_driver.h — runs the streaming content checker (mover/checks/) over bytes in
 * the tests: a route from a JSON config with its checks compiled (checks_engine_attach),
 * the bytes fed in chunks of a chosen size on a real libuv loop and thread pool, the
 * findings copied out. Shared by the checks room's unit tests.
 */
#ifndef SLUICE_TESTS_CHECKS_DRIVER_H
#define SLUICE_TESTS_CHECKS_DRIVER_H

#include <stddef.h>

#include "checks/checks.h"

typedef struct checks_driver {
    sl_config *config;
    checks_magic *magic;
} checks_driver;

/* `checks_json` is the route's "checks" object; rule files resolve against the
 * repository root. Fails the test on error. */
void checks_driver_init(checks_driver *d, const char *checks_json);
/* The same, with more top-level sections ("\"clamav\": {...},", each followed by a comma). */
void checks_driver_init_with(checks_driver *d, const char *checks_json, const char *sections);
void checks_driver_clean_up(checks_driver *d);

/* Checks `data` as object `name`, fed `chunk` bytes at a time; the findings go to out. */
void checks_driver_run(checks_driver *d, const char *name, const void *data, size_t len, size_t chunk, findings *out);

/* Writes `text` to a new file `name` in a fresh temporary directory (TMPDIR, else /tmp);
 * its absolute path goes to `path`. Fails the test on error. */
void checks_driver_temp_file(const char *name, const char *text, char *path, size_t path_size);
/* Removes a file made by checks_driver_temp_file and its directory. */
void checks_driver_temp_remove(const char *path);

/* The first finding of `check` whose detail contains `words` (NULL: any), or NULL. */
const artifact_finding *checks_find(const findings *f, const char *check, const char *words);

/* The worst verdict of the findings of one check (FINDING_PASS when none). */
finding_verdict checks_worst_of(const findings *f, const char *check);

#endif /* SLUICE_TESTS_CHECKS_DRIVER_H */
