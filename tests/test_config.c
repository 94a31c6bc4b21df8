/*
 * test_config.c — unit tests of config/config: the examples under config/examples load
 * with the values they say; defaults; relative paths; a table of broken configurations,
 * each with the exact list of messages it must produce (path and text, in order); JSON
 * syntax errors with line and column; unreadable files; check-config's output; the
 * duration and size parsers; looking routes up by key and by name.
 *
 * The table writes JSON with single quotes (swapped for double quotes before loading)
 * so that the cases stay readable. Files come from SLUICE_SOURCE_DIR (config/examples,
 * tests/data/config).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/alloc.h"
#include "util/error.h"

#ifndef SLUICE_SOURCE_DIR
#error "SLUICE_SOURCE_DIR must name the repository root (tests/cmake/config.cmake sets it)"
#endif

/* A folder that does not exist, so paths are resolved against it as written. */
#define BASE "/nonexistent-sluice-test/etc"

#define S3_OK "'s3': {'endpoint': 'http://127.0.0.1:7480'}"
#define BUCKETS_OK "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket'}"
#define ROUTE_A "{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/'}"
#define ROUTE_B "{'name': 'b', 'staging_prefix': 'b/', 'trusted_prefix': 'b/'}"
#define ROUTES_OK "'routes': [" ROUTE_A "]"
#define AUDIT_OK "'audit': {'file': 'audit.jsonl'}"
#define MINIMAL_BUT_S3 BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK
#define MINIMAL S3_OK ", " MINIMAL_BUT_S3
/* A minimal document with one route's body replaced. */
#define WITH_ROUTE(route) "{" S3_OK ", " BUCKETS_OK ", 'routes': [" route "], " AUDIT_OK "}"
/* ... with route "a" holding these checks. */
#define WITH_CHECKS(checks)                                                                                            \
    WITH_ROUTE("{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'checks': {" checks "}}")
/* ... with a review_ttl. */
#define WITH_TTL(ttl) WITH_ROUTE("{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'review_ttl': " ttl "}")
#define WITH_MAX_BYTES(size) WITH_CHECKS("'max_bytes': " size)

static char *swap_quotes(const char *text)
{
    char *s = sl_strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    return s;
}

/* "path: message", "message" for the document, "line:column: message" for syntax. */
static char *format_error(const sl_config_error *e)
{
    char buf[1024];
    if (e->line > 0)
        snprintf(buf, sizeof(buf), "%d:%d: %s", e->line, e->column, e->message);
    else if (e->path[0] != '\0')
        snprintf(buf, sizeof(buf), "%s: %s", e->path, e->message);
    else
        snprintf(buf, sizeof(buf), "%s", e->message);
    return sl_strdup(buf);
}

/* Whether `errors` holds exactly `want` (NULL-terminated); prints both lists if not. */
static bool same_errors(const char *name, const sl_config_errors *errors, const char *const *want)
{
    size_t n = 0;
    while (want[n] != NULL) n++;
    bool same = errors->count == n;
    for (size_t i = 0; same && i < n; i++) {
        char *got = format_error(&errors->items[i]);
        same = strcmp(got, want[i]) == 0;
        sl_free(got);
    }
    if (!same) {
        print_message("case \"%s\": expected %zu error(s):\n", name, n);
        for (size_t i = 0; i < n; i++) print_message("  want: %s\n", want[i]);
        for (size_t i = 0; i < errors->count; i++) {
            char *got = format_error(&errors->items[i]);
            print_message("  got:  %s\n", got);
            sl_free(got);
        }
    }
    return same;
}

static void assert_errors(const char *name, const sl_config_errors *errors, const char *const *want)
{
    assert_true(same_errors(name, errors, want));
}

static sl_config *load_ok(const char *json_single_quoted, const char *base_dir)
{
    char *json = swap_quotes(json_single_quoted);
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    sl_result r = sl_config_load_string(json, base_dir, &config, &errors);
    for (size_t i = 0; i < errors.count; i++) {
        char *got = format_error(&errors.items[i]);
        print_message("unexpected error: %s\n", got);
        sl_free(got);
    }
    assert_true(sl_ok(r));
    assert_int_equal(errors.count, 0);
    assert_non_null(config);
    sl_config_errors_clean_up(&errors);
    sl_free(json);
    return config;
}

/* ---------------------------------------------------------------------------------- */
/* The table of broken configurations                                                  */
/* ---------------------------------------------------------------------------------- */

struct broken_case {
    const char *name;
    const char *json; /* single quotes stand for double quotes */
    sl_error code;
    const char *errors[16];
};

#define INVALID SL_ERR_INVALID_ARGUMENT

static const struct broken_case broken_cases[] = {
    /* ---- keys ---- */
    { "unknown top-level key",
      "{" MINIMAL ", 'extra': 1}",
      INVALID,
      { "extra: unknown key (known keys: s3, buckets, grants, routes, review, retention, clamav, api, attest, audit, worker, log, identities, events, cluster)" } },
    { "typo in a route key",
      WITH_ROUTE("{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'chekcs': {}}"),
      INVALID,
      { "routes[0].chekcs: unknown key (known keys: name, staging_prefix, trusted_prefix, review, review_ttl, require_task, "
        "sts, reference, checks)" } },
    { "typo in a checks key",
      WITH_CHECKS("'max_byte': '1MiB'"),
      INVALID,
      { "routes[0].checks.max_byte: unknown key (known keys: max_bytes, allow_types, deny_types, check_extension, "
        "max_key_length, max_depth, max_metadata_bytes, on_error, clamav, rules, embedded, archives, yara)" } },
    { "typo in an s3 key",
      "{'s3': {'endpoint': 'http://127.0.0.1:7480', 'regoin': 'eu-west-1'}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK
      "}",
      INVALID,
      { "s3.regoin: unknown key (known keys: endpoint, region, addressing, credentials, ca_file, verify_tls, "
        "max_in_flight, connect_timeout, first_byte_timeout, max_attempts, retry_budget, multipart_threshold, "
        "multipart_part_size)" } },
    { "a key with odd characters is quoted in the path",
      "{" MINIMAL ", 'log': {'lev el\\n': 1}}",
      INVALID,
      { "log[\"lev el\\n\"]: unknown key (known keys: level, format)" } },
    /* ---- required ---- */
    { "empty document: every required key",
      "{}",
      INVALID,
      { "s3.endpoint: required", "buckets.staging: required", "buckets.quarantine: required",
        "buckets.trusted: required", "routes: required", "audit.file: required" } },
    { "route without prefixes",
      "{" S3_OK ", " BUCKETS_OK ", 'routes': [{'name': 'a'}], " AUDIT_OK "}",
      INVALID,
      { "routes[0].staging_prefix: required", "routes[0].trusted_prefix: required" } },
    { "empty routes array",
      "{" S3_OK ", " BUCKETS_OK ", 'routes': [], " AUDIT_OK "}",
      INVALID,
      { "routes: expected at least one route, got []" } },
    { "audit without file",
      "{" S3_OK ", " BUCKETS_OK ", " ROUTES_OK ", 'audit': {'commit_interval': '5ms'}}",
      INVALID,
      { "audit.file: required" } },
    { "audit log name and ship interval",
      "{" S3_OK ", " BUCKETS_OK ", " ROUTES_OK ", 'audit': {'file': 'a.jsonl', 'name': 'Mover/1', "
      "'ship_interval': '2h'}, 'attest': {'trusted_keys': ['k.pub', 'k.pub'], 'signing_key': 3}}",
      INVALID,
      { "audit.name: expected a log name: 1 to 64 of a-z, 0-9, \"_\", \"-\", \".\", starting with a letter or "
        "digit, got \"Mover/1\"",
        "audit.ship_interval: expected a duration from \"100ms\" to \"1h\" (audit segments leave the host at least "
        "once an hour), got \"2h\"",
        "attest.trusted_keys[1]: \"k.pub\" is listed twice (first at attest.trusted_keys[0])" ,
        "attest.signing_key: expected a string, got 3" } },
    /* ---- types ---- */
    { "top level is not an object", "['s3']", INVALID, { "expected an object, got an array" } },
    { "section is not an object",
      "{'s3': 'http://127.0.0.1:7480', " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "s3: expected an object, got \"http://127.0.0.1:7480\"" } },
    { "wrong types",
      "{'s3': {'endpoint': 'http://127.0.0.1:7480', 'region': null, 'verify_tls': 'yes', "
      "'max_attempts': '5'}, " BUCKETS_OK ", 'routes': {}, " AUDIT_OK ", 'worker': {'concurrency': 2.5}}",
      INVALID,
      { "s3.region: expected a string, got null", "s3.verify_tls: expected true or false, got \"yes\"",
        "s3.max_attempts: expected an integer from 1 to 1000, got \"5\"", "routes: expected an array of routes, got {}",
        "worker.concurrency: expected an integer from 1 to 10000, got 2.5" } },
    { "a list that is a string, an element that is a number",
      WITH_CHECKS("'allow_types': 'text/plain', 'deny_types': [3]"),
      INVALID,
      { "routes[0].checks.allow_types: expected an array of strings, got \"text/plain\"",
        "routes[0].checks.deny_types[0]: expected a string, got 3" } },
    { "enum values are exact",
      "{'s3': {'endpoint': 'http://127.0.0.1:7480', 'addressing': 'Path'}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK
      ", 'log': {'level': 'verbose', 'format': 'yaml'}}",
      INVALID,
      { "s3.addressing: expected one of \"path\", \"virtual\", got \"Path\"",
        "log.level: expected one of \"debug\", \"info\", \"warn\", \"error\", got \"verbose\"",
        "log.format: expected one of \"text\", \"json\", got \"yaml\"" } },
    { "integers out of range",
      "{" MINIMAL_BUT_S3 ", 'worker': {'concurrency': 10001}, 's3': {'endpoint': "
      "'http://h:1', 'max_in_flight': 0}}",
      INVALID,
      { "worker.concurrency: expected an integer from 1 to 10000, got 10001",
        "s3.max_in_flight: expected an integer from 1 to 10000, got 0" } },
    /* ---- durations ---- */
    { "duration: bare number string",
      WITH_TTL("'30'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\", got \"30\"" } },
    { "duration: JSON number",
      WITH_TTL("30"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\" (a string with a unit), got 30" } },
    { "duration: space before the unit",
      WITH_TTL("'30 s'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\", got \"30 s\"" } },
    { "duration: fraction",
      WITH_TTL("'1.5h'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\", got \"1.5h\"" } },
    { "duration: sign",
      WITH_TTL("'-1s'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\", got \"-1s\"" } },
    { "duration: unit only",
      WITH_TTL("'s'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\", got \"s\"" } },
    { "duration: unknown unit",
      WITH_TTL("'30sec'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\", got \"30sec\"" } },
    { "duration: units are case-sensitive",
      WITH_TTL("'1H'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration such as \"30s\", got \"1H\"" } },
    { "duration: overflow",
      WITH_TTL("'99999999999999999999d'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration below 2^64 milliseconds, got \"99999999999999999999d\"" } },
    { "duration: overflow in the unit",
      WITH_TTL("'213503982335d'"),
      INVALID,
      { "routes[0].review_ttl: expected a duration below 2^64 milliseconds, got \"213503982335d\"" } },
    { "duration: zero where zero makes no sense",
      "{" MINIMAL ", 'worker': {'poll_interval': '0s'}, "
      "'retention': {'quarantine': '0d'}}",
      INVALID,
      { "worker.poll_interval: expected a duration greater than zero, got \"0s\"",
        "retention.quarantine: expected a duration greater than zero, got \"0d\"" } },
    { "duration: two units, upper case, leading zero",
      "{" MINIMAL_BUT_S3 ", 's3': {'endpoint': 'http://h:1', "
      "'connect_timeout': '1h30m', 'first_byte_timeout': '30S'}, 'review': {'hook': {'timeout': '030s'}}}",
      INVALID,
      { "s3.connect_timeout: expected a duration such as \"30s\", got \"1h30m\"",
        "s3.first_byte_timeout: expected a duration such as \"30s\", got \"30S\"",
        "review.hook.timeout: expected a duration such as \"30s\", got \"030s\"" } },
    /* ---- sizes ---- */
    { "size: words",
      WITH_MAX_BYTES("'100 megs'"),
      INVALID,
      { "routes[0].checks.max_bytes: expected a size such as \"100MiB\", got \"100 megs\"" } },
    { "size: wrong case and fraction",
      WITH_CHECKS("'max_bytes': '10mb', 'max_metadata_bytes': '1.5KiB'"),
      INVALID,
      { "routes[0].checks.max_bytes: expected a size such as \"100MiB\", got \"10mb\"",
        "routes[0].checks.max_metadata_bytes: expected a size such as \"100MiB\", got \"1.5KiB\"" } },
    { "size: overflow",
      WITH_MAX_BYTES("'99999999999999999999GiB'"),
      INVALID,
      { "routes[0].checks.max_bytes: expected a size below 2^64 bytes, got \"99999999999999999999GiB\"" } },
    { "size: overflow in the unit",
      WITH_MAX_BYTES("'17179869184GiB'"),
      INVALID,
      { "routes[0].checks.max_bytes: expected a size below 2^64 bytes, got \"17179869184GiB\"" } },
    { "size: negative number, zero, boolean",
      WITH_CHECKS("'max_bytes': -1, 'max_metadata_bytes': true"),
      INVALID,
      { "routes[0].checks.max_bytes: expected a size such as \"100MiB\", got -1",
        "routes[0].checks.max_metadata_bytes: expected a size such as \"100MiB\", got true" } },
    { "size: zero bytes",
      WITH_MAX_BYTES("'0'"),
      INVALID,
      { "routes[0].checks.max_bytes: expected a size greater than zero, got \"0\"" } },
    { "size: bounds",
      "{'s3': {'endpoint': 'http://h:1', 'multipart_part_size': '1MiB', 'multipart_threshold': "
      "'6GiB'}, " BUCKETS_OK ", 'routes': [{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', "
      "'checks': {'max_metadata_bytes': '1MiB'}}], " AUDIT_OK "}",
      INVALID,
      { "s3.multipart_part_size: expected a size from \"5MiB\" to \"5GiB\" (the S3 limits for a part), got \"1MiB\"",
        "s3.multipart_threshold: expected a size of at most \"5GiB\" (a single CopyObject stops at 5GiB), got \"6GiB\"",
        "routes[0].checks.max_metadata_bytes: expected a size of at most \"64KiB\", got \"1MiB\"" } },
    /* ---- s3 ---- */
    { "endpoint with a trailing slash",
      "{'s3': {'endpoint': 'http://127.0.0.1:7480/'}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "s3.endpoint: expected http(s)://host[:port] without a path, query or trailing \"/\", got "
        "\"http://127.0.0.1:7480/\"" } },
    { "invalid JSON: a key twice",
      "{" MINIMAL ", 's3': {'endpoint': 'http://h:1'}}",
      SL_ERR_PARSE,
      { "1:247: duplicate object key near '\"s3\"'" } },
    { "endpoint: bad scheme",
      "{'s3': {'endpoint': 's3.amazonaws.com'}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "s3.endpoint: expected http(s)://host[:port] such as \"https://s3.eu-west-1.amazonaws.com\", got "
        "\"s3.amazonaws.com\"" } },
    { "endpoint: port out of range",
      "{'s3': {'endpoint': 'http://127.0.0.1:70000'}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "s3.endpoint: expected http(s)://host[:port] with a port from 1 to 65535, got \"http://127.0.0.1:70000\"" } },
    { "endpoint: no host",
      "{'s3': {'endpoint': 'https://:443'}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "s3.endpoint: expected http(s)://host[:port] with a host name or IP address, got \"https://:443\"" } },
    { "endpoint with credentials is not echoed",
      "{'s3': {'endpoint': 'https://AKIA:secret@s3.example.com'}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "s3.endpoint: expected http(s)://host[:port] without a user name or password (credentials never go in this "
        "file)" } },
    { "profile without a file",
      "{'s3': {'endpoint': 'http://h:1', 'credentials': {'profile': 'mover'}}, " BUCKETS_OK ", " ROUTES_OK ", " AUDIT_OK
      "}",
      INVALID,
      { "s3.credentials.profile: expected only together with s3.credentials.file (without a file, credentials come "
        "from the environment), got \"mover\"" } },
    { "dotted bucket with virtual-hosted https",
      "{'s3': {'endpoint': 'https://s3.amazonaws.com', 'addressing': "
      "'virtual'}, 'buckets': {'staging': 'my.staging', 'quarantine': 'qu-bucket', 'trusted': 'tr-bucket'}, " ROUTES_OK
      ", " AUDIT_OK "}",
      INVALID,
      { "buckets.staging: expected a bucket name without \".\" for virtual-hosted addressing over https (the TLS "
        "certificate cannot match it; use \"addressing\": \"path\"), got \"my.staging\"" } },
    /* ---- buckets ---- */
    { "bad bucket names",
      "{" S3_OK ", 'buckets': {'staging': 'Sluice_Staging', 'quarantine': 'ab', 'trusted': "
      "'a..b', 'control': '192.168.1.1'}, " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "buckets.staging: expected a bucket name (3 to 63 lower-case letters, digits, \".\" and \"-\", starting and "
        "ending with a letter or digit), got \"Sluice_Staging\"",
        "buckets.quarantine: expected a bucket name (3 to 63 lower-case letters, digits, \".\" and \"-\", starting and "
        "ending with a letter or digit), got \"ab\"",
        "buckets.trusted: expected a bucket name without \"..\", got \"a..b\"",
        "buckets.control: expected a bucket name that is not an IP address, got \"192.168.1.1\"" } },
    { "reserved bucket name, hyphen at the end",
      "{" S3_OK ", 'buckets': {'staging': 'xn--staging', 'quarantine': "
      "'quarantine-', 'trusted': 'tr-bucket'}, " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "buckets.staging: expected a bucket name without the reserved \"xn--\", \"sthree-\", \"-s3alias\" or "
        "\"--ol-s3\", got \"xn--staging\"",
        "buckets.quarantine: expected a bucket name (3 to 63 lower-case letters, digits, \".\" and \"-\", starting "
        "and ending with a letter or digit), got \"quarantine-\"" } },
    { "the same bucket twice",
      "{" S3_OK ", 'buckets': {'staging': 'one-bucket', 'quarantine': 'one-bucket', "
      "'trusted': 'one-bucket', 'control': 'one-bucket'}, " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "buckets.quarantine: expected a bucket other than buckets.staging, got \"one-bucket\"",
        "buckets.trusted: expected a bucket other than buckets.staging, got \"one-bucket\"",
        "buckets.trusted: expected a bucket other than buckets.quarantine, got \"one-bucket\"",
        "buckets.control: expected a bucket other than buckets.staging, got \"one-bucket\"",
        "buckets.control: expected a bucket other than buckets.trusted, got \"one-bucket\"" } },
    { "control prefix inside the quarantine keys",
      "{" S3_OK ", 'buckets': {'staging': 'st-bucket', 'quarantine': "
      "'qu-bucket', 'trusted': 'tr-bucket', 'control_prefix': 'q/control/'}, " ROUTES_OK ", " AUDIT_OK "}",
      INVALID,
      { "buckets.control_prefix: expected a prefix outside the quarantine keys \"q/\" (the control bucket is the "
        "quarantine bucket), got \"q/control/\"" } },
    /* ---- routes ---- */
    { "bad route name and prefixes",
      WITH_ROUTE("{'name': 'Reports', 'staging_prefix': 'reports', 'trusted_prefix': "
                 "'/reports/'}, {'name': 'b', 'staging_prefix': 'b//c/', 'trusted_prefix': 'b/../c/'}, {'name': 'c', "
                 "'staging_prefix': '', 'trusted_prefix': './'}"),
      INVALID,
      { "routes[0].name: expected a route name: 1 to 64 of a-z, 0-9, \"_\", \"-\", starting with a letter or digit, "
        "got "
        "\"Reports\"",
        "routes[0].staging_prefix: expected a prefix that ends with \"/\", got \"reports\"",
        "routes[0].trusted_prefix: expected a prefix that does not start with \"/\", got \"/reports/\"",
        "routes[1].staging_prefix: expected a prefix without empty, \".\" or \"..\" segments, got \"b//c/\"",
        "routes[1].trusted_prefix: expected a prefix without empty, \".\" or \"..\" segments, got \"b/../c/\"",
        "routes[2].staging_prefix: expected a non-empty prefix such as \"reports/\", got \"\"",
        "routes[2].trusted_prefix: expected a prefix without empty, \".\" or \"..\" segments, got \"./\"" } },
    { "duplicate route names",
      WITH_ROUTE(ROUTE_A ", {'name': 'a', 'staging_prefix': 'b/', 'trusted_prefix': 'b/'}"),
      INVALID,
      { "routes[1].name: \"a\" is already the name of routes[0]" } },
    { "overlapping staging prefixes",
      WITH_ROUTE("{'name': 'reports', 'staging_prefix': 'reports/', 'trusted_prefix': "
                 "'reports/'}, " ROUTE_B
                 ", {'name': 'daily', 'staging_prefix': 'reports/', 'trusted_prefix': 'daily/'}, "
                 "{'name': 'deep', 'staging_prefix': 'b/deep/', 'trusted_prefix': 'deep/'}"),
      INVALID,
      { "routes[2].staging_prefix: \"reports/\" overlaps routes[0].staging_prefix \"reports/\"",
        "routes[3].staging_prefix: \"b/deep/\" overlaps routes[1].staging_prefix \"b/\"" } },
    { "overlapping trusted prefixes",
      WITH_ROUTE(ROUTE_A ", {'name': 'b', 'staging_prefix': 'b/', 'trusted_prefix': "
                         "'a/b/'}"),
      INVALID,
      { "routes[1].trusted_prefix: \"a/b/\" overlaps routes[0].trusted_prefix \"a/\"" } },
    /* ---- checks ---- */
    { "bad MIME types",
      WITH_CHECKS("'allow_types': ['text', 'Text/Plain', '*/*', 'image/*', 'text/plain; charset=utf-8']"),
      INVALID,
      { "routes[0].checks.allow_types[0]: expected a lower-case MIME type such as \"text/plain\" or \"image/*\", got "
        "\"text\"",
        "routes[0].checks.allow_types[1]: expected a lower-case MIME type such as \"text/plain\" or \"image/*\", got "
        "\"Text/Plain\"",
        "routes[0].checks.allow_types[2]: expected a lower-case MIME type such as \"text/plain\" or \"image/*\", got "
        "\"*/*\"",
        "routes[0].checks.allow_types[4]: expected a lower-case MIME type such as \"text/plain\" or \"image/*\", got "
        "\"text/plain; charset=utf-8\"" } },
    { "a type both allowed and denied, a type twice",
      WITH_CHECKS("'allow_types': ['text/csv', 'text/plain', "
                  "'text/csv'], 'deny_types': ['application/x-executable', 'text/plain']"),
      INVALID,
      { "routes[0].checks.allow_types[2]: \"text/csv\" is listed twice (first at routes[0].checks.allow_types[0])",
        "routes[0].checks.deny_types[1]: \"text/plain\" is also in allow_types (a type is either allowed or "
        "denied)" } },
    { "rules file that does not exist",
      WITH_CHECKS("'rules': ['rules/missing.yar']"),
      INVALID,
      { "routes[0].checks.rules[0]: cannot read \"" BASE "/rules/missing.yar\": No such file or directory" } },
    { "checks bounds and on_error",
      WITH_CHECKS("'max_key_length': 2048, 'max_depth': 0, 'on_error': 'ignore', "
                  "'check_extension': 1"),
      INVALID,
      { "routes[0].checks.max_key_length: expected an integer from 1 to 1024, got 2048",
        "routes[0].checks.max_depth: expected an integer from 1 to 512, got 0",
        "routes[0].checks.on_error: expected one of \"block\", \"review\", got \"ignore\"",
        "routes[0].checks.check_extension: expected true or false, got 1" } },
    /* ---- review ---- */
    { "hook review without a command",
      WITH_ROUTE(ROUTE_A ", {'name': 'b', 'staging_prefix': 'b/', 'trusted_prefix': "
                         "'b/', 'review': 'hook'}"),
      INVALID,
      { "routes[1].review: \"hook\" needs review.hook.command" } },
    { "human and two-person review without enough reviewers",
      "{" S3_OK ", " BUCKETS_OK ", 'routes': [{'name': 'a', "
      "'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'review': 'two-person'}, {'name': 'b', 'staging_prefix': "
      "'b/', 'trusted_prefix': 'b/', 'review': 'human'}], 'review': {'reviewers': ['alice']}, " AUDIT_OK "}",
      INVALID,
      { "routes[0].review: \"two-person\" needs at least two names in review.reviewers, got 1" } },
    { "human review with no reviewers",
      WITH_ROUTE("{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', "
                 "'review': 'human'}"),
      INVALID,
      { "routes[0].review: \"human\" needs at least one name in review.reviewers" } },
    { "review lists and hook command",
      "{" MINIMAL ", 'review': {'reviewers': ['alice', 'bob', 'alice', '-x'], "
      "'orchestrators': 'root', 'hook': {'command': [], 'timeout': '0s'}}}",
      INVALID,
      { "review.reviewers[2]: \"alice\" is listed twice (first at review.reviewers[0])",
        "review.reviewers[3]: expected an OS user name (1 to 32 letters, digits, \"_\", \"-\", \".\", not starting "
        "with \"-\"), got \"-x\"",
        "review.orchestrators: expected an array of strings, got \"root\"",
        "review.hook.command: expected at least one string (the program), got []",
        "review.hook.timeout: expected a duration greater than zero, got \"0s\"" } },
    /* ---- grants ---- */
    { "max_ttl over 7 days",
      "{" MINIMAL ", 'grants': {'max_ttl': '8d'}}",
      INVALID,
      { "grants.max_ttl: expected a duration of at most \"7d\" (the longest a SigV4 presigned URL can live), got "
        "\"8d\"" } },
    { "max_ttl one millisecond over 7 days",
      "{" MINIMAL ", 'grants': {'max_ttl': '604800001ms', 'default_ttl': '1h'}}",
      INVALID,
      { "grants.max_ttl: expected a duration of at most \"7d\" (the longest a SigV4 presigned URL can live), got "
        "\"604800001ms\"" } },
    { "default_ttl above max_ttl",
      "{" MINIMAL ", 'grants': {'default_ttl': '5h', 'max_ttl': '4h'}}",
      INVALID,
      { "grants.default_ttl: expected at most grants.max_ttl (\"4h\"), got \"5h\"" } },
    { "default default_ttl above a small max_ttl",
      "{" MINIMAL ", 'grants': {'max_ttl': '10m'}}",
      INVALID,
      { "grants.default_ttl: expected at most grants.max_ttl (\"10m\"), got the default \"15m\" (set default_ttl)" } },
    /* ---- identities ---- */
    { "identities: not an object",
      "{" MINIMAL ", 'identities': []}",
      INVALID,
      { "identities: expected an object, got []" } },
    { "identities: required keys once the section is there, bad ARNs and endpoint ids",
      "{" MINIMAL ", 'identities': {'consumers': ['arn:aws:iam:::user/*', 'consumer', "
      "'arn:aws:iam:::group/readers', 'arn:aws:s3:::bucket', 'arn:aws:iam:::user/a//b', 'arn:awsx:iam:::user/c', "
      "'arn:aws:iam::12345678901234567890123456789012345678901234567890123456789012345:root'], "
      "'reviewers': 'arn:aws:iam:::user/reviewer', 'vpc_endpoints': ['vpce-12', 'VPCE-1a2b3c4d', 'vpce-1A2B3C4D', "
      "'vpce-1a2b3c4d5']}}",
      INVALID,
      { "identities.consumers[0]: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, "
        "on radosgw, \"arn:aws:iam:::user/mover\" (one identity: no \"*\" or \"?\"), got \"arn:aws:iam:::user/*\"",
        "identities.consumers[1]: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, "
        "on radosgw, \"arn:aws:iam:::user/mover\", got \"consumer\"",
        "identities.consumers[2]: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, "
        "on radosgw, \"arn:aws:iam:::user/mover\", got \"arn:aws:iam:::group/readers\"",
        "identities.consumers[3]: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, "
        "on radosgw, \"arn:aws:iam:::user/mover\", got \"arn:aws:s3:::bucket\"",
        "identities.consumers[4]: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, "
        "on radosgw, \"arn:aws:iam:::user/mover\", got \"arn:aws:iam:::user/a//b\"",
        "identities.consumers[5]: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, "
        "on radosgw, \"arn:aws:iam:::user/mover\", got \"arn:awsx:iam:::user/c\"",
        "identities.consumers[6]: expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, "
        "on radosgw, \"arn:aws:iam:::user/mover\", got "
        "\"arn:aws:iam::12345678901234567890123456789012345678901234567890123456789012345:r...\"",
        "identities.reviewers: expected an array of strings, got \"arn:aws:iam:::user/reviewer\"",
        "identities.vpc_endpoints[0]: expected a VPC endpoint id such as \"vpce-1a2b3c4d\" (\"vpce-\" and 8 or 17 "
        "lower-case hex digits), got \"vpce-12\"",
        "identities.vpc_endpoints[1]: expected a VPC endpoint id such as \"vpce-1a2b3c4d\" (\"vpce-\" and 8 or 17 "
        "lower-case hex digits), got \"VPCE-1a2b3c4d\"",
        "identities.vpc_endpoints[2]: expected a VPC endpoint id such as \"vpce-1a2b3c4d\" (\"vpce-\" and 8 or 17 "
        "lower-case hex digits), got \"vpce-1A2B3C4D\"",
        "identities.vpc_endpoints[3]: expected a VPC endpoint id such as \"vpce-1a2b3c4d\" (\"vpce-\" and 8 or 17 "
        "lower-case hex digits), got \"vpce-1a2b3c4d5\"",
        "identities.mover: required", "identities.grants: required" } },
    { "identities: missing mover and grants, an unknown key",
      "{" MINIMAL ", 'identities': {'consumer': ['arn:aws:iam:::user/consumer']}}",
      INVALID,
      { "identities.consumer: unknown key (known keys: mover, grants, consumers, reviewers, vpc_endpoints, administrators)",
        "identities.mover: required", "identities.grants: required" } },
    { "identities: one role per identity, one partition, each listed once",
      "{" MINIMAL ", 'identities': {'mover': 'arn:aws:iam::123456789012:role/mover', "
      "'grants': 'arn:aws:iam::123456789012:role/mover', "
      "'consumers': ['arn:aws:iam::123456789012:role/c', 'arn:aws-cn:iam::123456789012:role/cn', "
      "'arn:aws:iam::123456789012:role/c'], "
      "'reviewers': ['arn:aws:iam::123456789012:role/r', 'arn:aws:iam::123456789012:role/c'], "
      "'vpc_endpoints': ['vpce-1a2b3c4d', 'vpce-1a2b3c4d']}}",
      INVALID,
      { "identities.consumers[2]: \"arn:aws:iam::123456789012:role/c\" is listed twice (first at "
        "identities.consumers[0])",
        "identities.vpc_endpoints[1]: \"vpce-1a2b3c4d\" is listed twice (first at identities.vpc_endpoints[0])",
        "identities.grants: expected an identity other than identities.mover (an identity has one role), got "
        "\"arn:aws:iam::123456789012:role/mover\"",
        "identities.consumers[1]: expected an ARN in the partition \"aws\" of identities.mover, got "
        "\"arn:aws-cn:iam::123456789012:role/cn\"",
        "identities.reviewers[1]: expected an identity other than identities.consumers[0] (an identity has one "
        "role), got \"arn:aws:iam::123456789012:role/c\"" } },
    /* ---- api, audit, worker ---- */
    { "bad socket modes",
      "{" MINIMAL ", 'api': {'socket_mode': '0999'}}",
      INVALID,
      { "api.socket_mode: expected an octal mode such as \"0660\" (at most \"0777\"), got \"0999\"" } },
    { "socket mode above 0777 or a number",
      "{" MINIMAL ", 'api': {'socket_mode': '1777', 'metrics_listen': "
      "'localhost'}, 'log': {}, 'retention': {}}",
      INVALID,
      { "api.socket_mode: expected an octal mode such as \"0660\" (at most \"0777\"), got \"1777\"",
        "api.metrics_listen: expected host:port such as \"127.0.0.1:9464\" or \"[::1]:9464\", got \"localhost\"" } },
    { "socket mode as a number",
      "{" MINIMAL ", 'api': {'socket_mode': 660}}",
      INVALID,
      { "api.socket_mode: expected an octal mode such as \"0660\" (at most \"0777\"), got 660" } },
    { "socket path too long once resolved",
      "{" MINIMAL ", 'api': {'socket': "
      "'run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock'}}",
      INVALID,
      { "api.socket: expected a socket path of at most 107 bytes once resolved (the limit of a Unix socket address), "
        "got "
        "\"run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"" } }, /* 80 bytes */
    { "paths: empty, tilde",
      "{" S3_OK ", " BUCKETS_OK ", " ROUTES_OK ", 'audit': {'file': '~/audit.jsonl'}, "
      "'api': {'socket': ''}}",
      INVALID,
      { "audit.file: expected a file path (\"~\" is not expanded: write it absolute or relative to the configuration's "
        "folder), got \"~/audit.jsonl\"",
        "api.socket: expected a file path (absolute, or relative to the configuration's folder), got \"\"" } },
    { "poll_jitter above poll_interval",
      "{" MINIMAL ", 'worker': {'poll_interval': '1s', 'poll_jitter': '1500ms'}}",
      INVALID,
      { "worker.poll_jitter: expected at most worker.poll_interval (\"1s\"), got \"1500ms\"" } },
    /* ---- JSON syntax ---- */
    { "invalid JSON: line and column",
      "{\n  's3': {\n    'endpoint': 'http://127.0.0.1:7480',,\n  }\n}",
      SL_ERR_PARSE,
      { "3:41: string or '}' expected near ','" } },
    { "invalid JSON: empty text", "", SL_ERR_PARSE, { "1:1: '[' or '{' expected near end of file" } },
    { "invalid JSON: integer too big",
      "{" MINIMAL ", 'worker': {'concurrency': 99999999999999999999}}",
      SL_ERR_PARSE,
      { "1:289: too big integer near '99999999999999999999'" } },
    /* ---- several errors at once, in document order ---- */
    { "every error of a file, in document order",
      "{'routes': [{'name': 'a', 'staging_prefix': 'a', 'trusted_prefix': 'a/', 'review_ttl': '1 day'}, "
      "{'name': 'a', 'staging_prefix': 'a/b/', 'trusted_prefix': 'b/', 'review': 'hook'}], "
      "'s3': {'endpoint': 'http://127.0.0.1:7480', 'verify_tls': 'no'}, "
      "'buckets': {'staging': 'st-bucket', 'quarantine': 'qu-bucket'}, "
      "'worker': {'concurrency': 0}, 'audti': {'file': 'a.jsonl'}}",
      INVALID,
      { "routes[0].staging_prefix: expected a prefix that ends with \"/\", got \"a\"",
        "routes[0].review_ttl: expected a duration such as \"30s\", got \"1 day\"",
        "routes[1].name: \"a\" is already the name of routes[0]", "s3.verify_tls: expected true or false, got \"no\"",
        "buckets.trusted: required", "worker.concurrency: expected an integer from 1 to 10000, got 0",
        "audti: unknown key (known keys: s3, buckets, grants, routes, review, retention, clamav, api, attest, audit, worker, log, identities, events, cluster)",
        "audit.file: required", "routes[1].review: \"hook\" needs review.hook.command" } },
    /* ---- STS grants and reference data (mover/tasks) ---- */
    { "sts on a route without grants.sts",
      WITH_ROUTE("{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'sts': true}"),
      INVALID,
      { "routes[0].sts: true needs grants.sts (the role tasks' STS sessions assume)" } },
    { "grants.sts: role_arn required, a role, max_session bounded",
      "{" MINIMAL ", 'grants': {'sts': {'max_session': '13h', 'endpoint': 'ftp://x'}}}",
      INVALID,
      { "grants.sts.max_session: expected a duration from \"15m\" to \"12h\" (STS sessions last 15 minutes to 12 "
        "hours), got \"13h\"",
        "grants.sts.endpoint: expected http(s)://host[:port] such as \"https://s3.eu-west-1.amazonaws.com\", got "
        "\"ftp://x\"",
        "grants.sts.role_arn: required (the role tasks' sessions assume, e.g. \"arn:aws:iam:::role/sluice-task\")" } },
    { "grants.sts.role_arn names a user",
      "{" MINIMAL ", 'grants': {'sts': {'role_arn': 'arn:aws:iam:::user/x'}}}",
      INVALID,
      { "grants.sts.role_arn: expected a role ARN such as \"arn:aws:iam::123456789012:role/sluice-task\" or, on "
        "radosgw, \"arn:aws:iam:::role/sluice-task\", got \"arn:aws:iam:::user/x\"" } },
    { "reference: a bucket and something to read; keys and prefixes a policy can name",
      "{" S3_OK ", " BUCKETS_OK ", " AUDIT_OK ", 'routes': [{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': "
      "'a/', 'reference': {}}, {'name': 'b', 'staging_prefix': 'b/', 'trusted_prefix': 'b/', 'reference': "
      "{'bucket': 'ref', 'keys': ['m/*.bin', '/abs', 'ok.csv', 'ok.csv'], 'prefixes': ['data', 'd/${x}/']}}]}",
      INVALID,
      { "routes[0].reference.bucket: required (the bucket that holds the reference objects)",
        "routes[0].reference: expected \"keys\" or \"prefixes\" (or both): the objects the route's tasks may read",
        "routes[1].reference.keys[0]: expected a key without \"*\", \"?\" or \"${\" (a policy would read them as a "
        "wildcard or a variable); list such keys under prefixes, got \"m/*.bin\"",
        "routes[1].reference.keys[1]: expected an object key (1 to 1024 bytes, no control characters, not starting "
        "with \"/\"), got \"/abs\"",
        "routes[1].reference.keys[3]: \"ok.csv\" is listed twice (first at routes[1].reference.keys[2])",
        "routes[1].reference.prefixes[0]: expected a prefix that ends with \"/\", got \"data\"",
        "routes[1].reference.prefixes[1]: expected a prefix without \"*\", \"?\" or \"${\" (a policy would read them "
        "as a wildcard or a variable), got \"d/${x}/\"" } },
    { "reference: not one of sluice's own buckets",
      WITH_ROUTE("{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'reference': {'bucket': 'tr-bucket', "
                 "'keys': ['x']}}"),
      INVALID,
      { "routes[0].reference.bucket: expected a bucket of its own, not one of sluice's buckets (their policies deny "
        "tasks every read), got \"tr-bucket\"" } },
    { "administrators: one role each, one partition; the task role in the mover's partition",
      "{" MINIMAL ", 'grants': {'sts': {'role_arn': 'arn:aws-cn:iam:::role/t'}}, 'identities': {'mover': "
      "'arn:aws:iam:::user/mover', 'grants': 'arn:aws:iam:::user/grants', 'administrators': "
      "['arn:aws:iam:::user/grants', 'arn:aws:iam:::user/admin', 'arn:aws:iam:::user/admin']}}",
      INVALID,
      { "identities.administrators[2]: \"arn:aws:iam:::user/admin\" is listed twice (first at "
        "identities.administrators[1])",
        "identities.administrators[0]: expected an identity other than identities.grants (an identity has one role), "
        "got \"arn:aws:iam:::user/grants\"",
        "grants.sts.role_arn: expected an ARN in the partition \"aws\" of identities.mover, got "
        "\"arn:aws-cn:iam:::role/t\"" } },
};

static void broken_configs_report_exact_messages(void **state)
{
    (void)state;
    size_t n = sizeof(broken_cases) / sizeof(broken_cases[0]);
    assert_true(n >= 25);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct broken_case *c = &broken_cases[i];
        char *json = swap_quotes(c->json);
        sl_config *config = (sl_config *)&config; /* must be set to NULL */
        sl_config_errors errors = { 0 };
        sl_error_clear();
        sl_result r = sl_config_load_string(json, BASE, &config, &errors);
        bool ok = sl_failed(r) && config == NULL && sl_error_last() == c->code;
        if (!ok)
            print_message("case \"%s\": result %s, code %s, config %p\n", c->name, sl_ok(r) ? "success" : "failure",
                          sl_error_name(sl_error_last()), (void *)config);
        ok = same_errors(c->name, &errors, c->errors) && ok;
        sl_config_errors_clean_up(&errors);
        assert_int_equal(errors.count, 0);
        sl_config_free(sl_ok(r) ? config : NULL);
        /* Without an error list: the same outcome, nothing leaks. */
        config = (sl_config *)&config;
        r = sl_config_load_string(json, BASE, &config, NULL);
        ok = ok && sl_failed(r) && config == NULL && sl_error_last() == c->code;
        if (sl_ok(r)) sl_config_free(config);
        sl_free(json);
        failed += !ok;
    }
    if (failed > 0) print_message("%zu of %zu cases failed\n", failed, n);
    assert_int_equal(failed, 0);
}

/* ---------------------------------------------------------------------------------- */
/* Valid configurations                                                                */
/* ---------------------------------------------------------------------------------- */

/* The real path of SLUICE_SOURCE_DIR joined with `rel`. */
static char *source_path(const char *rel)
{
    char *root = realpath(SLUICE_SOURCE_DIR, NULL);
    assert_non_null(root);
    char buf[PATH_MAX + 256];
    snprintf(buf, sizeof(buf), "%s%s%s", root, rel[0] ? "/" : "", rel);
    free(root);
    return sl_strdup(buf);
}

static void assert_path(const char *got, const char *rel_to_root)
{
    char *want = source_path(rel_to_root);
    assert_non_null(got);
    assert_string_equal(got, want);
    sl_free(want);
}

static sl_config *load_file_ok(const char *rel)
{
    char *file = source_path(rel);
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    sl_result r = sl_config_load(file, &config, &errors);
    for (size_t i = 0; i < errors.count; i++) {
        char *got = format_error(&errors.items[i]);
        print_message("%s: %s\n", rel, got);
        sl_free(got);
    }
    assert_true(sl_ok(r));
    assert_int_equal(errors.count, 0);
    sl_config_errors_clean_up(&errors);
    sl_free(file);
    return config;
}

static void local_example_loads(void **state)
{
    (void)state;
    sl_config *c = load_file_ok("config/examples/local.json");
    assert_path(c->path, "config/examples/local.json");
    assert_string_equal(c->s3.endpoint, "http://127.0.0.1:7480");
    assert_string_equal(c->s3.region, "us-east-1");
    assert_false(c->s3.virtual_hosted);
    assert_path(c->s3.credentials.file, "build/s3-server/credentials");
    assert_string_equal(c->s3.credentials.profile, "mover");
    assert_path(c->grants.credentials.file, "build/s3-server/credentials");
    assert_string_equal(c->grants.credentials.profile, "grants");
    assert_string_equal(c->buckets.staging, "sluice-staging");
    assert_string_equal(c->buckets.quarantine, "sluice-quarantine");
    assert_string_equal(c->buckets.trusted, "sluice-trusted");
    assert_string_equal(c->buckets.control, "sluice-quarantine");
    assert_string_equal(c->buckets.control_prefix, "sluice/");
    assert_int_equal(c->grants.default_ttl_ms, 15 * 60 * 1000);
    assert_int_equal(c->grants.max_ttl_ms, 4 * 3600 * 1000);

    assert_int_equal(c->route_count, 2);
    const sl_config_route *reports = &c->routes[0], *metrics = &c->routes[1];
    assert_string_equal(reports->name, "reports");
    assert_string_equal(reports->staging_prefix, "reports/");
    assert_string_equal(reports->trusted_prefix, "reports/");
    assert_int_equal(reports->review, SL_REVIEW_HUMAN);
    assert_int_equal(reports->review_ttl_ms, 24ull * 3600 * 1000);
    assert_int_equal(reports->checks.max_bytes, 100ull << 20);
    assert_int_equal(reports->checks.allow_type_count, 5);
    assert_string_equal(reports->checks.allow_types[0], "text/plain");
    assert_string_equal(reports->checks.allow_types[4], "image/png");
    assert_int_equal(reports->checks.deny_type_count, 2);
    assert_string_equal(reports->checks.deny_types[1], "application/x-sharedlib");
    assert_int_equal(reports->checks.rule_count, 0);
    assert_string_equal(metrics->name, "metrics");
    assert_int_equal(metrics->review, SL_REVIEW_AUTO);
    assert_int_equal(metrics->checks.max_bytes, 1ull << 20);
    assert_int_equal(metrics->checks.allow_type_count, 3);
    assert_int_equal(metrics->checks.deny_type_count, 0);
    assert_null(metrics->checks.deny_types);

    assert_int_equal(c->review.reviewer_count, 2);
    assert_string_equal(c->review.reviewers[0], "alice");
    assert_string_equal(c->review.reviewers[1], "bob");
    assert_int_equal(c->review.orchestrator_count, 1);
    assert_string_equal(c->review.orchestrators[0], "root");
    assert_null(c->review.hook_command);
    assert_int_equal(c->retention.quarantine_ms, 7ull * 24 * 3600 * 1000);
    assert_path(c->api.socket, "build/run/api.sock");
    assert_string_equal(c->api.metrics_listen, "127.0.0.1:9464");
    assert_path(c->audit.file, "build/run/audit.jsonl");
    assert_path(c->attest.signing_key, "build/run/attest.key");
    assert_string_equal(c->audit.name, "mover");
    assert_int_equal(c->audit.ship_interval_ms, 30000);
    assert_int_equal(c->worker.poll_interval_ms, 2000);
    assert_int_equal(c->worker.poll_jitter_ms, 200);
    assert_int_equal(c->worker.concurrency, 32);
    sl_config_free(c);
}

static void production_example_loads(void **state)
{
    (void)state;
    sl_config *c = load_file_ok("config/examples/production.json");
    assert_string_equal(c->s3.endpoint, "https://s3.eu-west-1.amazonaws.com");
    assert_string_equal(c->s3.region, "eu-west-1");
    assert_true(c->s3.virtual_hosted);
    assert_true(c->s3.verify_tls);
    assert_string_equal(c->s3.credentials.file, "/etc/sluice/credentials");
    assert_string_equal(c->s3.credentials.profile, "mover");
    assert_string_equal(c->grants.credentials.profile, "grants");
    assert_int_equal(c->s3.max_in_flight, 128);
    assert_int_equal(c->s3.multipart_threshold, 1ull << 30);
    assert_int_equal(c->s3.multipart_part_size, 256ull << 20);
    assert_int_equal(c->route_count, 2);
    assert_true(c->routes[0].checks.clamav);
    assert_false(c->routes[1].checks.clamav);
    assert_int_equal(c->clamav.connections, 8);
    assert_int_equal(c->routes[0].review, SL_REVIEW_HOOK);
    assert_int_equal(c->routes[0].checks.on_error, SL_ON_ERROR_REVIEW);
    assert_int_equal(c->routes[0].checks.max_key_length, 512);
    assert_int_equal(c->routes[0].checks.max_depth, 4);
    assert_int_equal(c->routes[0].checks.max_metadata_bytes, 2048);
    assert_int_equal(c->routes[1].review, SL_REVIEW_TWO_PERSON);
    assert_int_equal(c->routes[1].review_ttl_ms, 72ull * 3600 * 1000);
    assert_int_equal(c->routes[1].checks.max_bytes, 20ull << 30);
    assert_int_equal(c->review.hook_argc, 3);
    assert_string_equal(c->review.hook_command[0], "/usr/local/lib/sluice/review-hook");
    assert_string_equal(c->review.hook_command[2], "/etc/sluice/hook-policy.json");
    assert_null(c->review.hook_command[3]);
    assert_int_equal(c->review.hook_timeout_ms, 30000);
    assert_string_equal(c->attest.signing_key, "/etc/sluice/attest-2026.key");
    assert_int_equal(c->attest.trusted_key_count, 1);
    assert_string_equal(c->attest.trusted_keys[0], "/etc/sluice/attest-2025.pub");
    assert_string_equal(c->audit.name, "mover-a");
    assert_int_equal(c->audit.ship_interval_ms, 30000);
    assert_int_equal(c->retention.quarantine_ms, 30ull * 24 * 3600 * 1000);
    assert_int_equal(c->api.socket_mode, 0660);
    assert_int_equal(c->audit.commit_interval_ms, 10);
    assert_int_equal(c->worker.poll_jitter_ms, 1000);
    assert_int_equal(c->worker.concurrency, 64);
    assert_int_equal(c->log.level, 1);
    assert_true(c->log.json);
    sl_config_free(c);
}

static void defaults_are_applied(void **state)
{
    (void)state;
    sl_config *c = load_ok("{" MINIMAL "}", "/srv/sluice");
    assert_null(c->path);
    assert_string_equal(c->s3.region, "us-east-1");
    assert_false(c->s3.virtual_hosted);
    assert_null(c->s3.credentials.file);
    assert_null(c->s3.credentials.profile);
    assert_null(c->s3.ca_file);
    assert_true(c->s3.verify_tls);
    assert_int_equal(c->s3.max_in_flight, 64);
    assert_int_equal(c->s3.connect_timeout_ms, 5000);
    assert_int_equal(c->s3.first_byte_timeout_ms, 30000);
    assert_int_equal(c->s3.max_attempts, 100);
    assert_int_equal(c->s3.retry_budget_ms, 30000);
    assert_int_equal(c->s3.multipart_threshold, 5ull << 30);
    assert_int_equal(c->s3.multipart_part_size, 512ull << 20);
    assert_string_equal(c->buckets.control, "qu-bucket");
    assert_string_equal(c->buckets.control_prefix, "sluice/");
    assert_null(c->grants.credentials.file);
    assert_int_equal(c->grants.default_ttl_ms, 15 * 60 * 1000);
    assert_int_equal(c->grants.max_ttl_ms, 4 * 3600 * 1000);
    const sl_config_route *r = &c->routes[0];
    assert_int_equal(r->review, SL_REVIEW_AUTO);
    assert_int_equal(r->review_ttl_ms, 24ull * 3600 * 1000);
    assert_int_equal(r->checks.max_bytes, 100ull << 20);
    assert_int_equal(r->checks.allow_type_count, 0);
    assert_null(r->checks.allow_types);
    assert_true(r->checks.check_extension);
    assert_int_equal(r->checks.max_key_length, 1024);
    assert_int_equal(r->checks.max_depth, 8);
    assert_int_equal(r->checks.max_metadata_bytes, 2048);
    assert_int_equal(r->checks.on_error, SL_ON_ERROR_BLOCK);
    assert_int_equal(r->checks.rule_count, 0);
    assert_false(r->checks.clamav);
    assert_string_equal(c->clamav.socket, "/run/clamav/clamd.ctl");
    assert_int_equal(c->clamav.timeout_ms, 60000);
    assert_int_equal(c->clamav.connections, 4);
    assert_int_equal(c->clamav.max_bytes, 100ull << 20);
    assert_int_equal(c->review.reviewer_count, 0);
    assert_null(c->review.hook_command);
    assert_int_equal(c->review.hook_argc, 0);
    assert_int_equal(c->review.hook_timeout_ms, 30000);
    assert_int_equal(c->retention.quarantine_ms, 7ull * 24 * 3600 * 1000);
    assert_string_equal(c->api.socket, "/run/sluice/api.sock");
    assert_int_equal(c->api.socket_mode, 0660);
    assert_null(c->api.metrics_listen);
    assert_string_equal(c->audit.file, "/srv/sluice/audit.jsonl");
    assert_int_equal(c->audit.commit_interval_ms, 10);
    assert_int_equal(c->worker.poll_interval_ms, 2000);
    assert_int_equal(c->worker.poll_jitter_ms, 200);
    assert_int_equal(c->worker.concurrency, 32);
    assert_int_equal(c->log.level, 1);
    assert_false(c->log.json);
    assert_false(c->identities.present); /* optional; only `sluice-mover policy` needs it */
    assert_null(c->identities.mover);
    assert_null(c->identities.grants);
    assert_int_equal(c->identities.consumer_count, 0);
    assert_int_equal(c->identities.vpc_endpoint_count, 0);
    sl_config_free(c);
}

static void sts_and_reference_are_loaded(void **state)
{
    (void)state;
    sl_config *c = load_ok("{" S3_OK ", " BUCKETS_OK ", " AUDIT_OK ", 'grants': {'sts': {'role_arn': "
                           "'arn:aws:iam::123456789012:role/sluice-task', 'max_session': '4h', 'source_identity': true}}, "
                           "'routes': [{'name': 'a', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'sts': true, "
                           "'reference': {'bucket': 'ref-bucket', 'keys': ['m/one.bin', 'm/two.bin'], "
                           "'prefixes': ['shared/']}}, " ROUTE_B "], 'identities': {'mover': "
                           "'arn:aws:iam::123456789012:role/mover', 'grants': 'arn:aws:iam::123456789012:role/g', "
                           "'administrators': ['arn:aws:iam::123456789012:role/admin']}}",
                           BASE);
    assert_true(c->grants.sts.present);
    assert_string_equal(c->grants.sts.role_arn, "arn:aws:iam::123456789012:role/sluice-task");
    assert_null(c->grants.sts.endpoint); /* s3.endpoint */
    assert_null(c->grants.sts.region);   /* s3.region */
    assert_int_equal(c->grants.sts.max_session_ms, 4 * 3600 * 1000);
    assert_true(c->grants.sts.source_identity);
    assert_true(c->routes[0].sts);
    assert_true(c->routes[0].reference.present);
    assert_string_equal(c->routes[0].reference.bucket, "ref-bucket");
    assert_int_equal(c->routes[0].reference.key_count, 2);
    assert_string_equal(c->routes[0].reference.keys[1], "m/two.bin");
    assert_int_equal(c->routes[0].reference.prefix_count, 1);
    assert_string_equal(c->routes[0].reference.prefixes[0], "shared/");
    assert_false(c->routes[1].sts);
    assert_false(c->routes[1].reference.present);
    assert_int_equal(c->identities.administrator_count, 1);
    sl_config_free(c);

    c = load_ok("{" MINIMAL "}", BASE); /* absent: no STS, defaults */
    assert_false(c->grants.sts.present);
    assert_null(c->grants.sts.role_arn);
    assert_int_equal(c->grants.sts.max_session_ms, 3600 * 1000);
    assert_false(c->grants.sts.source_identity);
    sl_config_free(c);
}

static void identities_are_loaded(void **state)
{
    (void)state;
    sl_config *c = load_ok("{" MINIMAL ", 'identities': {'mover': 'arn:aws:iam::123456789012:role/sluice/mover', "
                           "'grants': 'arn:aws:iam::123456789012:user/grants', "
                           "'consumers': ['arn:aws:iam::210987654321:root', 'arn:aws:iam::123456789012:role/a.b+c=d,e@f_g-h'], "
                           "'reviewers': ['arn:aws:iam:::user/reviewer'], "
                           "'vpc_endpoints': ['vpce-1a2b3c4d', 'vpce-0123456789abcdef0']}}",
                           BASE);
    assert_true(c->identities.present);
    assert_string_equal(c->identities.mover, "arn:aws:iam::123456789012:role/sluice/mover");
    assert_string_equal(c->identities.grants, "arn:aws:iam::123456789012:user/grants");
    assert_int_equal(c->identities.consumer_count, 2);
    assert_string_equal(c->identities.consumers[0], "arn:aws:iam::210987654321:root");
    assert_string_equal(c->identities.consumers[1], "arn:aws:iam::123456789012:role/a.b+c=d,e@f_g-h");
    assert_int_equal(c->identities.reviewer_count, 1);
    assert_string_equal(c->identities.reviewers[0], "arn:aws:iam:::user/reviewer"); /* radosgw: no account */
    assert_int_equal(c->identities.vpc_endpoint_count, 2);
    assert_string_equal(c->identities.vpc_endpoints[1], "vpce-0123456789abcdef0");
    sl_config_free(c);

    /* other partitions and radosgw tenants; lists may be empty */
    c = load_ok("{" MINIMAL ", 'identities': {'mover': 'arn:aws-us-gov:iam::123456789012:role/mover', "
                "'grants': 'arn:aws-us-gov:iam::tenant_1:user/grants', 'consumers': []}}",
                BASE);
    assert_true(c->identities.present);
    assert_int_equal(c->identities.consumer_count, 0);
    assert_null(c->identities.consumers);
    assert_int_equal(c->identities.reviewer_count, 0);
    sl_config_free(c);
}

static void every_value_form_is_accepted(void **state)
{
    (void)state;
    sl_config *c = load_ok(
        "{'s3': {'endpoint': 'http://[::1]:9000', 'addressing': 'virtual', 'verify_tls': false, 'max_in_flight': "
        "10000, 'connect_timeout': '1ms', 'multipart_threshold': 5368709120, 'multipart_part_size': '5MiB', "
        "'credentials': {'file': 'creds'}},"
        "'buckets': {'staging': 'a.b-c', 'quarantine': 'q-b', 'trusted': 't-b', 'control': 'ctl', "
        "'control_prefix': 'x/y/'},"
        "'grants': {'default_ttl': '7d', 'max_ttl': '604800000ms'},"
        "'routes': [{'name': '0_x-y', 'staging_prefix': 'a/', 'trusted_prefix': 'a/', 'review': 'two-person', "
        "'checks': {'max_bytes': 1, 'max_metadata_bytes': 0, 'allow_types': ['image/*', 'application/vnd.ms-excel', "
        "'application/ld+json'], 'check_extension': false, 'on_error': 'review'}}, "
        "{'name': 'ab', 'staging_prefix': 'ab/', 'trusted_prefix': 'ab/', 'review': 'hook'}],"
        "'review': {'reviewers': ['alice', 'Bob.Smith', '_svc'], 'hook': {'command': ['review-hook']}},"
        "'api': {'socket_mode': '600', 'metrics_listen': '[::1]:9464'},"
        "'audit': {'file': '/var/lib/sluice/audit.jsonl', 'commit_interval': '0ms'},"
        "'worker': {'poll_interval': '1m', 'poll_jitter': '1m'},"
        "'log': {'level': 'error', 'format': 'json'}}",
        "/srv/sluice");
    assert_true(c->s3.virtual_hosted); /* a dotted bucket is fine over http */
    assert_false(c->s3.verify_tls);
    assert_string_equal(c->s3.credentials.profile, "default");
    assert_int_equal(c->s3.multipart_threshold, 5ull << 30);
    assert_string_equal(c->buckets.control, "ctl");
    assert_int_equal(c->grants.default_ttl_ms, 7ull * 24 * 3600 * 1000);
    assert_int_equal(c->routes[0].checks.max_bytes, 1);
    assert_int_equal(c->routes[0].checks.max_metadata_bytes, 0);
    assert_int_equal(c->routes[0].checks.allow_type_count, 3);
    assert_false(c->routes[0].checks.check_extension);
    assert_string_equal(c->review.hook_command[0], "review-hook"); /* a name for PATH, not resolved */
    assert_int_equal(c->api.socket_mode, 0600);
    assert_int_equal(c->audit.commit_interval_ms, 0);
    assert_int_equal(c->worker.poll_jitter_ms, 60000);
    assert_int_equal(c->log.level, 3);
    sl_config_free(c);
}

static void relative_paths_resolve_against_the_base(void **state)
{
    (void)state;
    sl_config *c = load_ok("{'s3': {'endpoint': 'http://h:1', 'credentials': {'file': './creds', 'profile': 'p'}, "
                           "'ca_file': '../../../../ca.pem'}, " BUCKETS_OK ", " ROUTES_OK ", "
                           "'grants': {'credentials': {'file': '/abs/creds'}}, "
                           "'review': {'hook': {'command': ['bin/../hook', '--x', 'rel/arg']}}, "
                           "'api': {'socket': 'run//api.sock'}, 'audit': {'file': '../var/audit.jsonl'}}",
                           "/srv/sluice/etc");
    assert_string_equal(c->s3.credentials.file, "/srv/sluice/etc/creds");
    assert_string_equal(c->s3.ca_file, "/ca.pem"); /* ".." never climbs above "/" */
    assert_string_equal(c->grants.credentials.file, "/abs/creds");
    assert_string_equal(c->grants.credentials.profile, "default");
    /* only leading "." and ".." segments are folded into the base */
    assert_string_equal(c->review.hook_command[0], "/srv/sluice/etc/bin/../hook");
    assert_string_equal(c->review.hook_command[1], "--x");
    assert_string_equal(c->review.hook_command[2], "rel/arg"); /* arguments are not paths */
    assert_null(c->review.hook_command[3]);
    assert_string_equal(c->api.socket, "/srv/sluice/etc/run//api.sock");
    assert_string_equal(c->audit.file, "/srv/sluice/var/audit.jsonl");
    sl_config_free(c);

    /* NULL base: the working directory. */
    char *cwd = getcwd(NULL, 0);
    char *real = realpath(cwd, NULL);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof(want), "%s/audit.jsonl", real);
    c = load_ok("{" MINIMAL "}", NULL);
    assert_string_equal(c->audit.file, want);
    sl_config_free(c);
    free(real);
    free(cwd);
}

static void rules_files_resolve_and_must_be_readable(void **state)
{
    (void)state;
    sl_config *c = load_file_ok("tests/data/config/with-rules.json");
    assert_path(c->s3.credentials.file, "tests/data/config/credentials"); /* need not exist */
    assert_int_equal(c->routes[0].checks.rule_count, 2);
    assert_path(c->routes[0].checks.rules[0], "tests/data/config/rules/secrets.yar");
    assert_path(c->routes[0].checks.rules[1], "tests/data/config/rules/../rules/secrets.yar");
    assert_path(c->review.hook_command[0], "tests/data/config/hooks/review");
    assert_path(c->audit.file, "tests/data/run/audit.jsonl");
    sl_config_free(c);

    /* A folder is not a rules file. */
    char *base = source_path("tests/data/config");
    char *json = swap_quotes(WITH_CHECKS("'rules': ['rules']"));
    sl_config_errors errors = { 0 };
    assert_true(sl_failed(sl_config_load_string(json, base, &c, &errors)));
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want), "routes[0].checks.rules[0]: \"%s/rules\" is not a regular file", base);
    const char *const expected[] = { want, NULL };
    assert_errors("rules folder", &errors, expected);
    sl_config_errors_clean_up(&errors);
    sl_free(json);
    sl_free(base);
}

static void unreadable_files_are_reported(void **state)
{
    (void)state;
    sl_config *c = (sl_config *)&c;
    sl_config_errors errors = { 0 };
    assert_true(sl_failed(sl_config_load("/nonexistent-sluice-test/sluice.json", &c, &errors)));
    assert_null(c);
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    const char *const missing[] = { "cannot open: No such file or directory", NULL };
    assert_errors("missing file", &errors, missing);
    assert_string_equal(
        sl_error_detail(),
        "/nonexistent-sluice-test/sluice.json: 1 error; the first: cannot open: No such file or directory");
    sl_config_errors_clean_up(&errors);

    char *folder = source_path("config/examples");
    assert_true(sl_failed(sl_config_load(folder, &c, &errors)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    const char *const is_folder[] = { "cannot open: Is a directory", NULL };
    assert_errors("folder", &errors, is_folder);
    sl_config_errors_clean_up(&errors);
    sl_free(folder);

    /* Larger than 1 MiB. */
    char path[] = "/tmp/sluice-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char block[4096];
    memset(block, ' ', sizeof(block));
    for (int i = 0; i < 257; i++) assert_int_equal(write(fd, block, sizeof(block)), sizeof(block));
    close(fd);
    assert_true(sl_failed(sl_config_load(path, &c, &errors)));
    const char *const too_big[] = { "cannot read: larger than 1MiB", NULL };
    assert_errors("too big", &errors, too_big);
    sl_config_errors_clean_up(&errors);
    unlink(path);

    /* Bad arguments. */
    assert_true(sl_failed(sl_config_load(NULL, &c, &errors)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(sl_config_load_string(NULL, NULL, &c, NULL)));
    sl_config_free(NULL);
    sl_config_errors_clean_up(NULL);
}

static void failure_detail_names_the_first_error(void **state)
{
    (void)state;
    char *file = source_path("tests/data/config/broken.json");
    sl_config *c = NULL;
    assert_true(sl_failed(sl_config_load(file, &c, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    char want[PATH_MAX + 256];
    snprintf(want, sizeof(want),
             "%s: 3 errors; the first: s3.endpoint: expected http(s)://host[:port] without a path, query or "
             "trailing \"/\", got \"http://127.0.0.1:7480/\"",
             file);
    assert_string_equal(sl_error_detail(), want);
    sl_free(file);

    file = source_path("tests/data/config/syntax.json");
    assert_true(sl_failed(sl_config_load(file, &c, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    snprintf(want, sizeof(want), "%s:3:55: '}' expected near '\"quarantine\"'", file);
    assert_string_equal(sl_error_detail(), want);
    sl_free(file);
}

/* Runs check-config on `rel` (from the source root) with the output captured. */
static int check_command(const char *rel, char **out_text, char **err_text)
{
    size_t out_len, err_len;
    FILE *out = open_memstream(out_text, &out_len);
    FILE *err = open_memstream(err_text, &err_len);
    assert_non_null(out);
    assert_non_null(err);
    int rc = sl_config_check_command(rel, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static void check_command_prints_ok_or_every_error(void **state)
{
    (void)state;
    assert_int_equal(chdir(SLUICE_SOURCE_DIR), 0);
    char *out = NULL, *err = NULL;
    assert_int_equal(check_command("config/examples/local.json", &out, &err), 0);
    assert_string_equal(out, "OK: config/examples/local.json: 2 routes (reports, metrics)\n");
    assert_string_equal(err, "");
    free(out);
    free(err);

    assert_int_equal(check_command("tests/data/config/with-rules.json", &out, &err), 0);
    assert_string_equal(out, "OK: tests/data/config/with-rules.json: 1 route (reports)\n");
    free(out);
    free(err);

    assert_int_equal(check_command("tests/data/config/broken.json", &out, &err), 1);
    assert_string_equal(out, "");
    assert_string_equal(err,
                        "tests/data/config/broken.json: s3.endpoint: expected http(s)://host[:port] without a path, "
                        "query or trailing \"/\", got \"http://127.0.0.1:7480/\"\n"
                        "tests/data/config/broken.json: routes[0].chekcs: unknown key (known keys: name, "
                        "staging_prefix, trusted_prefix, review, review_ttl, require_task, sts, reference, checks)\n"
                        "tests/data/config/broken.json: audit.commit_interval: expected a duration such as \"30s\", "
                        "got \"10 ms\"\n"
                        "3 errors\n");
    free(out);
    free(err);

    assert_int_equal(check_command("tests/data/config/syntax.json", &out, &err), 1);
    assert_string_equal(err, "tests/data/config/syntax.json:3:55: '}' expected near '\"quarantine\"'\n1 error\n");
    free(out);
    free(err);

    assert_int_equal(check_command("tests/data/config/missing.json", &out, &err), 1);
    assert_string_equal(err, "tests/data/config/missing.json: cannot open: No such file or directory\n1 error\n");
    free(out);
    free(err);
}

/* ---------------------------------------------------------------------------------- */
/* Parsers and lookups                                                                 */
/* ---------------------------------------------------------------------------------- */

static void duration_parser_edge_cases(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {
        { "0s", 0 },
        { "0ms", 0 },
        { "500ms", 500 },
        { "30s", 30000 },
        { "15m", 900000 },
        { "4h", 14400000 },
        { "7d", 604800000 },
        { "18446744073709551615ms", UINT64_MAX },
        { "213503982334d", 213503982334ull * 86400000ull },
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t ms = 1;
        assert_true(sl_parse_duration_ms(good[i].text, &ms));
        assert_int_equal(ms, good[i].ms);
    }
    static const char *const bad[] = {
        "",
        "30",
        "30 s",
        " 30s",
        "30s ",
        "1.5h",
        "-1s",
        "+1s",
        "s",
        "ms",
        "30sec",
        "30S",
        "30M",
        "030s",
        "00s",
        "1h30m",
        "30s5",
        "1e3s",
        "18446744073709551616ms",
        "213503982335d",
        "99999999999999999999d",
        "0x10s",
        "１s",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 42;
        if (sl_parse_duration_ms(bad[i], &ms)) print_message("accepted \"%s\"\n", bad[i]);
        assert_false(sl_parse_duration_ms(bad[i], &ms));
        assert_int_equal(ms, 42); /* unchanged */
    }
    uint64_t ms = 42;
    assert_false(sl_parse_duration_ms(NULL, &ms));
    assert_int_equal(ms, 42);
}

static void size_parser_edge_cases(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        { "0", 0 },
        { "1024", 1024 },
        { "0B", 0 },
        { "1B", 1 },
        { "1KiB", 1024 },
        { "100MiB", 100ull << 20 },
        { "5GiB", 5ull << 30 },
        { "2TiB", 2ull << 40 },
        { "1kB", 1000 },
        { "1MB", 1000000 },
        { "1GB", 1000000000 },
        { "3TB", 3000000000000ull },
        { "18446744073709551615", UINT64_MAX },
        { "18446744073709551615B", UINT64_MAX },
        { "17179869183GiB", UINT64_MAX - (1ull << 30) + 1 },
        { "18446744TB", 18446744000000000000ull },
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t bytes = 1;
        if (!sl_parse_size(good[i].text, &bytes)) print_message("refused \"%s\"\n", good[i].text);
        assert_true(sl_parse_size(good[i].text, &bytes));
        assert_int_equal(bytes, good[i].bytes);
    }
    static const char *const bad[] = {
        "",
        "1 KiB",
        "1kib",
        "1KB",
        "1K",
        "1k",
        "1Mb",
        "1mb",
        "1PiB",
        "1.5MiB",
        "-1",
        "+1",
        "01",
        "00",
        "1MiB ",
        " 1",
        "MiB",
        "B",
        "1BB",
        "1KiBB",
        "18446744073709551616",
        "17179869184GiB",
        "18446745TB",
        "99999999999999999999GiB",
        "1e6",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t bytes = 42;
        if (sl_parse_size(bad[i], &bytes)) print_message("accepted \"%s\"\n", bad[i]);
        assert_false(sl_parse_size(bad[i], &bytes));
        assert_int_equal(bytes, 42);
    }
    uint64_t bytes = 42;
    assert_false(sl_parse_size(NULL, &bytes));
    assert_int_equal(bytes, 42);
}

static void routes_are_found_by_key_and_name(void **state)
{
    (void)state;
    sl_config *c = load_ok("{" S3_OK ", " BUCKETS_OK ", 'routes': [{'name': 'reports', 'staging_prefix': "
                           "'reports/', 'trusted_prefix': 'r/'}, {'name': 'daily', 'staging_prefix': 'reports-daily/', "
                           "'trusted_prefix': 'd/'}, {'name': 'deep', 'staging_prefix': 'a/b/c/', 'trusted_prefix': "
                           "'x/'}], " AUDIT_OK "}",
                           BASE);
    const char *key = "reports/task-1/out.csv";
    assert_ptr_equal(sl_config_route_for_key(c, key, strlen(key)), &c->routes[0]);
    key = "reports-daily/task-1/out.csv";
    assert_ptr_equal(sl_config_route_for_key(c, key, strlen(key)), &c->routes[1]);
    key = "a/b/c/t/x";
    assert_ptr_equal(sl_config_route_for_key(c, key, strlen(key)), &c->routes[2]);
    assert_ptr_equal(sl_config_route_for_key(c, "reports/", 8), &c->routes[0]); /* the prefix itself */
    assert_null(sl_config_route_for_key(c, "reports", 7));                      /* no "/" */
    assert_null(sl_config_route_for_key(c, "a/b/", 4));                         /* a parent of a prefix */
    assert_null(sl_config_route_for_key(c, "Reports/t/x", 11));                 /* case matters */
    assert_null(sl_config_route_for_key(c, "other/t/x", 9));
    assert_null(sl_config_route_for_key(c, "", 0));
    /* `len` bounds the key: the bytes after it are not looked at. */
    assert_null(sl_config_route_for_key(c, "reports/task", 7));
    char unterminated[8];
    memcpy(unterminated, "reports/", 8);
    assert_ptr_equal(sl_config_route_for_key(c, unterminated, sizeof(unterminated)), &c->routes[0]);
    assert_null(sl_config_route_for_key(NULL, key, strlen(key)));
    assert_null(sl_config_route_for_key(c, NULL, 0));

    assert_ptr_equal(sl_config_route_by_name(c, "daily"), &c->routes[1]);
    assert_ptr_equal(sl_config_route_by_name(c, "deep"), &c->routes[2]);
    assert_null(sl_config_route_by_name(c, "Daily"));
    assert_null(sl_config_route_by_name(c, "dail"));
    assert_null(sl_config_route_by_name(c, NULL));
    sl_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broken_configs_report_exact_messages),
        cmocka_unit_test(local_example_loads),
        cmocka_unit_test(production_example_loads),
        cmocka_unit_test(defaults_are_applied),
        cmocka_unit_test(identities_are_loaded),
        cmocka_unit_test(sts_and_reference_are_loaded),
        cmocka_unit_test(every_value_form_is_accepted),
        cmocka_unit_test(relative_paths_resolve_against_the_base),
        cmocka_unit_test(rules_files_resolve_and_must_be_readable),
        cmocka_unit_test(unreadable_files_are_reported),
        cmocka_unit_test(failure_detail_names_the_first_error),
        cmocka_unit_test(check_command_prints_ok_or_every_error),
        cmocka_unit_test(duration_parser_edge_cases),
        cmocka_unit_test(size_parser_edge_cases),
        cmocka_unit_test(routes_are_found_by_key_and_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
