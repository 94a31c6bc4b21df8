/*
 * config.c — loading and validating sluice's JSON configuration (contract: config.h,
 * every key: docs/configuration.md).
 *
 * How the parts fit: jansson parses the text (duplicate keys rejected), then one walker
 * (walk_object) descends the document driven by SCHEMA TABLES — one `struct field` per
 * key, with its kind, where it is stored, its default and its bounds. The tables are the
 * single source of truth for what keys exist (an unknown key's error lists the table's
 * names), which are required and what their defaults are. The walker visits an object's
 * keys in document order (jansson keeps insertion order), then reports missing required
 * keys and applies defaults, then runs the object's `finish` hook for checks that relate
 * several keys of that object (default_ttl <= max_ttl, distinct buckets...). Checks
 * between routes run after each route; checks that need two sections (a "hook" route
 * needs review.hook.command) run at the end. Every problem is appended to a list with
 * its JSON path (kept in one sl_buf that grows and shrinks as the walker descends); a
 * value that fails validation is not stored, so relational checks skip it instead of
 * reporting a second, derived error.
 *
 * Messages follow one form: "<what was expected>, got <the value as JSON>", with
 * strings escaped and shortened so that a hostile file cannot forge lines of output.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/buf.h"

#define CONFIG_FILE_MAX ((size_t)1 << 20) /* 1 MiB: a configuration is a few KiB */
#define GOT_MAX 80                        /* bytes of a value or key quoted in a message */
#define SOCKET_PATH_MAX 107               /* sizeof(sun_path) - 1 on Linux */
#define MAX_FIELDS 16

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define SECOND_MS 1000ull
#define MINUTE_MS (60 * SECOND_MS)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

/* ---------------------------------------------------------------------------------- */
/* Durations and sizes                                                                 */
/* ---------------------------------------------------------------------------------- */

enum number_status { NUMBER_OK, NUMBER_SYNTAX, NUMBER_OVERFLOW };

struct unit {
    const char *name;
    uint64_t factor;
};

static const struct unit duration_units[] = {
    { "ms", 1 }, { "s", SECOND_MS }, { "m", MINUTE_MS }, { "h", HOUR_MS }, { "d", DAY_MS },
};

static const struct unit size_units[] = {
    { "", 1 },
    { "B", 1 },
    { "KiB", KIB },
    { "MiB", MIB },
    { "GiB", GIB },
    { "TiB", 1024 * GIB },
    { "kB", 1000ull },
    { "MB", 1000ull * 1000 },
    { "GB", 1000ull * 1000 * 1000 },
    { "TB", 1000ull * 1000 * 1000 * 1000 },
};

/* Digits (no leading zero unless the number is 0) followed by exactly one of `units`.
 * Syntax is judged before magnitude: "99999999999999999999GiB" is NUMBER_OVERFLOW,
 * "99999999999999999999GB!" is NUMBER_SYNTAX. */
static enum number_status parse_number_unit(const char *text, const struct unit *units, size_t unit_count,
                                            uint64_t *out)
{
    if (text == NULL) return NUMBER_SYNTAX;
    const char *p = text;
    uint64_t value = 0;
    bool overflow = false;
    while (*p >= '0' && *p <= '9') {
        if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, (uint64_t)(*p - '0'), &value))
            overflow = true;
        p++;
    }
    size_t digits = (size_t)(p - text);
    if (digits == 0 || (digits > 1 && text[0] == '0')) return NUMBER_SYNTAX;
    const struct unit *unit = NULL;
    for (size_t i = 0; i < unit_count; i++) {
        if (strcmp(p, units[i].name) == 0) {
            unit = &units[i];
            break;
        }
    }
    if (unit == NULL) return NUMBER_SYNTAX;
    uint64_t result;
    if (overflow || __builtin_mul_overflow(value, unit->factor, &result)) return NUMBER_OVERFLOW;
    *out = result;
    return NUMBER_OK;
}

bool sl_parse_duration_ms(const char *text, uint64_t *out_ms)
{
    return parse_number_unit(text, duration_units, sizeof(duration_units) / sizeof(duration_units[0]), out_ms) ==
           NUMBER_OK;
}

bool sl_parse_size(const char *text, uint64_t *out_bytes)
{
    return parse_number_unit(text, size_units, sizeof(size_units) / sizeof(size_units[0]), out_bytes) == NUMBER_OK;
}

/* "7d", "90s", "1500ms": the largest unit that divides the value exactly. */
static void format_duration(uint64_t ms, char *out, size_t size)
{
    for (size_t i = sizeof(duration_units) / sizeof(duration_units[0]); i-- > 1;) {
        if (ms != 0 && ms % duration_units[i].factor == 0) {
            snprintf(out, size, "%llu%s", (unsigned long long)(ms / duration_units[i].factor), duration_units[i].name);
            return;
        }
    }
    snprintf(out, size, "%llums", (unsigned long long)ms);
}

/* "5GiB", "1000", in binary units only. */
static void format_size(uint64_t bytes, char *out, size_t size)
{
    static const struct unit binary[] = { { "TiB", 1024 * GIB }, { "GiB", GIB }, { "MiB", MIB }, { "KiB", KIB } };
    for (size_t i = 0; i < sizeof(binary) / sizeof(binary[0]); i++) {
        if (bytes != 0 && bytes % binary[i].factor == 0) {
            snprintf(out, size, "%llu%s", (unsigned long long)(bytes / binary[i].factor), binary[i].name);
            return;
        }
    }
    snprintf(out, size, "%llu", (unsigned long long)bytes);
}

/* strerror, reentrant (the GNU form: _GNU_SOURCE is set for the whole build). */
static const char *errno_text(int e, char *buf, size_t size) { return strerror_r(e, buf, size); }

/* ---------------------------------------------------------------------------------- */
/* The loader: path, error list                                                        */
/* ---------------------------------------------------------------------------------- */

struct loader {
    sl_config *config;
    char *base_dir; /* absolute */
    sl_buf path;    /* the JSON path of the value being looked at */
    sl_config_error *items;
    size_t count;
    size_t capacity;
    bool review_clean; /* the review section had no error (its hook and lists are usable) */
};

/* Buffer growth only fails when a size would overflow size_t, which for a document of at
 * most CONFIG_FILE_MAX bytes is as impossible as running out of memory: treat it the
 * same way (alloc.h's policy). */
static void must(sl_result r)
{
    if (sl_failed(r)) {
        fprintf(stderr, "sluice: config: %s\n", sl_error_detail());
        abort();
    }
}

/* JSON string syntax for `len` bytes, shortened to `max` bytes (cut on a UTF-8
 * boundary, "..." before the closing quote). Control characters are escaped, so a value
 * can never start a new line of output. */
static void append_quoted(sl_buf *b, const char *s, size_t len, size_t max)
{
    must(sl_buf_append_byte(b, '"'));
    size_t limit = len;
    bool cut = false;
    if (len > max) {
        limit = max;
        while (limit > 0 && ((unsigned char)s[limit] & 0xC0) == 0x80) limit--;
        cut = true;
    }
    for (size_t i = 0; i < limit; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': must(sl_buf_append_cstr(b, "\\\"")); break;
        case '\\': must(sl_buf_append_cstr(b, "\\\\")); break;
        case '\n': must(sl_buf_append_cstr(b, "\\n")); break;
        case '\t': must(sl_buf_append_cstr(b, "\\t")); break;
        case '\r': must(sl_buf_append_cstr(b, "\\r")); break;
        default:
            if (c < 0x20 || c == 0x7F)
                must(sl_buf_appendf(b, "\\u%04x", c));
            else
                must(sl_buf_append_byte(b, c));
        }
    }
    if (cut) must(sl_buf_append_cstr(b, "..."));
    must(sl_buf_append_byte(b, '"'));
}

/* The value as a message shows it: "text" (quoted), 30, true, null, [] / an array. */
static void append_got(sl_buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: must(sl_buf_append_cstr(b, json_object_size(v) ? "an object" : "{}")); break;
    case JSON_ARRAY: must(sl_buf_append_cstr(b, json_array_size(v) ? "an array" : "[]")); break;
    case JSON_STRING: append_quoted(b, json_string_value(v), json_string_length(v), GOT_MAX); break;
    case JSON_INTEGER: must(sl_buf_appendf(b, "%lld", (long long)json_integer_value(v))); break;
    case JSON_REAL: {
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        must(sl_buf_append_cstr(b, text ? text : "a number"));
        free(text);
        break;
    }
    case JSON_TRUE: must(sl_buf_append_cstr(b, "true")); break;
    case JSON_FALSE: must(sl_buf_append_cstr(b, "false")); break;
    case JSON_NULL: must(sl_buf_append_cstr(b, "null")); break;
    }
}

/* A new string: `s` in JSON quotes, escaped as in append_quoted but never shortened. */
static char *quoted(const char *s)
{
    sl_buf b = { 0 };
    append_quoted(&b, s, strlen(s), SIZE_MAX);
    return sl_buf_steal(&b);
}

static bool plain_key(const char *key)
{
    if (*key == '\0') return false;
    for (const char *p = key; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Appends ".key" (or "key" at the top, or ["odd key"]) and returns the old length. */
static size_t path_push_key(struct loader *ld, const char *key)
{
    size_t mark = ld->path.len;
    if (plain_key(key)) {
        if (mark > 0) must(sl_buf_append_byte(&ld->path, '.'));
        must(sl_buf_append_cstr(&ld->path, key));
    } else {
        must(sl_buf_append_byte(&ld->path, '['));
        append_quoted(&ld->path, key, strlen(key), GOT_MAX);
        must(sl_buf_append_byte(&ld->path, ']'));
    }
    return mark;
}

static size_t path_push_index(struct loader *ld, size_t index)
{
    size_t mark = ld->path.len;
    must(sl_buf_appendf(&ld->path, "[%zu]", index));
    return mark;
}

static void path_pop(struct loader *ld, size_t mark)
{
    ld->path.len = mark;
    must(sl_buf_reserve(&ld->path, 0));
    ld->path.data[mark] = '\0';
}

static void add_error(struct loader *ld, const char *path, char *message, int line, int column)
{
    if (ld->count == ld->capacity) {
        size_t cap = 8, bytes = 0;
        if ((ld->capacity > 0 && !sl_mul_size(ld->capacity, 2, &cap)) || !sl_mul_size(cap, sizeof(*ld->items), &bytes))
            must(sl_error_raise(SL_ERR_OVERFLOW, __FILE__, __LINE__, "too many errors"));
        ld->items = sl_realloc(ld->items, bytes);
        ld->capacity = cap;
    }
    ld->items[ld->count++] = (sl_config_error){
        .path = sl_strdup(path), .message = message, .line = line, .column = column,
    };
}

/* An error at the current path; `got` (may be NULL) is appended as ", got <value>". */
static void report_vgot(struct loader *ld, const json_t *got, const char *fmt, va_list ap) SL_PRINTF(3, 0);
static void report_vgot(struct loader *ld, const json_t *got, const char *fmt, va_list ap)
{
    sl_buf msg = { 0 };
    must(sl_buf_vappendf(&msg, fmt, ap));
    if (got != NULL) {
        must(sl_buf_append_cstr(&msg, ", got "));
        append_got(&msg, got);
    }
    add_error(ld, sl_buf_cstr(&ld->path), sl_buf_steal(&msg), 0, 0);
}

static void report_got(struct loader *ld, const json_t *got, const char *fmt, ...) SL_PRINTF(3, 4);
static void report_got(struct loader *ld, const json_t *got, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vgot(ld, got, fmt, ap);
    va_end(ap);
}

static void report(struct loader *ld, const char *fmt, ...) SL_PRINTF(2, 3);
static void report(struct loader *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vgot(ld, NULL, fmt, ap);
    va_end(ap);
}

/* The current path with ".key" appended, for messages that name another value. */
static char *path_of(struct loader *ld, const char *key)
{
    size_t mark = path_push_key(ld, key);
    char *s = sl_strdup(sl_buf_cstr(&ld->path));
    path_pop(ld, mark);
    return s;
}

/* ---------------------------------------------------------------------------------- */
/* Value checks: each takes a JSON string, reports what is wrong and returns NULL, or  */
/* returns the value to store (a new string).                                          */
/* ---------------------------------------------------------------------------------- */

typedef char *(*convert_fn)(struct loader *ld, const json_t *value, size_t index);

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F) return true;
    return false;
}

/* A DNS host name (letters, digits, "-", "_" in labels of 1..63), an IPv4 address, or
 * an IPv6 address in brackets. */
static bool valid_host(const char *s, size_t len)
{
    if (len == 0) return false;
    if (s[0] == '[') {
        if (len < 3 || s[len - 1] != ']' || len - 2 >= INET6_ADDRSTRLEN) return false;
        char text[INET6_ADDRSTRLEN];
        memcpy(text, s + 1, len - 2);
        text[len - 2] = '\0';
        struct in6_addr addr;
        return inet_pton(AF_INET6, text, &addr) == 1;
    }
    if (len > 253) return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        if (!(is_alnum(c) || c == '-' || c == '_')) return false;
        if (label == 0 && c == '-') return false;
        if (++label > 63) return false;
    }
    return label > 0 && s[len - 1] != '-';
}

/* ":port" with 1..65535 and no leading zero. */
static bool valid_port(const char *s, size_t len)
{
    if (len == 0 || len > 5 || s[0] == '0') return false;
    unsigned long port = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        port = port * 10 + (unsigned long)(s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* Splits "host[:port]" (host may be "[v6]"): the host's length, and where the port
 * starts (NULL if none). */
static size_t split_host_port(const char *s, size_t len, const char **port, size_t *port_len)
{
    size_t host_len = len;
    *port = NULL;
    *port_len = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        host_len = close ? (size_t)(close - s) + 1 : len;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon) host_len = (size_t)(colon - s);
    }
    if (host_len < len && s[host_len] == ':') {
        *port = s + host_len + 1;
        *port_len = len - host_len - 1;
    }
    return host_len;
}

#define ENDPOINT_EXPECTED "expected http(s)://host[:port]"

static char *convert_endpoint(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    const char *rest;
    if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else {
        report_got(ld, v, ENDPOINT_EXPECTED " such as \"https://s3.eu-west-1.amazonaws.com\"");
        return NULL;
    }
    if (strchr(rest, '@') != NULL) {
        /* Never echo it: it may hold a secret. */
        report(ld, ENDPOINT_EXPECTED " without a user name or password (credentials never go in this file)");
        return NULL;
    }
    size_t authority = strcspn(rest, "/?#");
    if (rest[authority] != '\0') {
        report_got(ld, v, ENDPOINT_EXPECTED " without a path, query or trailing \"/\"");
        return NULL;
    }
    const char *port;
    size_t port_len;
    size_t host_len = split_host_port(rest, authority, &port, &port_len);
    if (!valid_host(rest, host_len) || (port == NULL && host_len != authority)) {
        report_got(ld, v, ENDPOINT_EXPECTED " with a host name or IP address");
        return NULL;
    }
    if (port != NULL && !valid_port(port, port_len)) {
        report_got(ld, v, ENDPOINT_EXPECTED " with a port from 1 to 65535");
        return NULL;
    }
    return sl_strdup(s);
}

static char *convert_listen(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    const char *port;
    size_t port_len;
    size_t host_len = split_host_port(s, len, &port, &port_len);
    if (!valid_host(s, host_len) || port == NULL || !valid_port(port, port_len)) {
        report_got(ld, v, "expected host:port such as \"127.0.0.1:9464\" or \"[::1]:9464\"");
        return NULL;
    }
    return sl_strdup(s);
}

static char *convert_region(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    bool ok = len >= 1 && len <= 64;
    for (size_t i = 0; ok && i < len; i++) ok = is_alnum(s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.';
    if (!ok) {
        report_got(ld, v, "expected a region such as \"us-east-1\" (1 to 64 letters, digits, \"-\", \"_\", \".\")");
        return NULL;
    }
    return sl_strdup(s);
}

/* Bucket naming rules of S3 (general purpose buckets). */
static char *convert_bucket(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    bool ok = len >= 3 && len <= 63 && is_lower_alnum(s[0]) && is_lower_alnum(s[len - 1]);
    for (size_t i = 0; ok && i < len; i++) ok = is_lower_alnum(s[i]) || s[i] == '.' || s[i] == '-';
    if (!ok) {
        report_got(ld, v,
                   "expected a bucket name (3 to 63 lower-case letters, digits, \".\" and \"-\", "
                   "starting and ending with a letter or digit)");
        return NULL;
    }
    if (strstr(s, "..") != NULL) {
        report_got(ld, v, "expected a bucket name without \"..\"");
        return NULL;
    }
    struct in_addr addr;
    if (inet_pton(AF_INET, s, &addr) == 1) {
        report_got(ld, v, "expected a bucket name that is not an IP address");
        return NULL;
    }
    if (strncmp(s, "xn--", 4) == 0 || strncmp(s, "sthree-", 7) == 0 ||
        (len > 8 && strcmp(s + len - 8, "-s3alias") == 0) || (len > 7 && strcmp(s + len - 7, "--ol-s3") == 0)) {
        report_got(ld, v,
                   "expected a bucket name without the reserved \"xn--\", \"sthree-\", \"-s3alias\" or \"--ol-s3\"");
        return NULL;
    }
    return sl_strdup(s);
}

/* Key prefixes: "a/b/" — no leading "/", a trailing "/", no empty, "." or ".." segment,
 * no control characters. */
static char *convert_prefix(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    if (len == 0) {
        report_got(ld, v, "expected a non-empty prefix such as \"reports/\"");
        return NULL;
    }
    if (s[0] == '/') {
        report_got(ld, v, "expected a prefix that does not start with \"/\"");
        return NULL;
    }
    if (s[len - 1] != '/') {
        report_got(ld, v, "expected a prefix that ends with \"/\"");
        return NULL;
    }
    if (has_control(s)) {
        report_got(ld, v, "expected a prefix without control characters");
        return NULL;
    }
    for (const char *seg = s; *seg;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
            report_got(ld, v, "expected a prefix without empty, \".\" or \"..\" segments");
            return NULL;
        }
        seg += n + 1;
    }
    return sl_strdup(s);
}

static char *convert_route_name(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    bool ok = len >= 1 && len <= 64 && is_lower_alnum(s[0]);
    for (size_t i = 1; ok && i < len; i++) ok = is_lower_alnum(s[i]) || s[i] == '_' || s[i] == '-';
    if (!ok) {
        report_got(ld, v, "expected a route name: 1 to 64 of a-z, 0-9, \"_\", \"-\", starting with a letter or digit");
        return NULL;
    }
    return sl_strdup(s);
}

/* audit.name: the folder of this mover's audit segments under <control_prefix>audit/. */
static char *convert_log_name(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    bool ok = len >= 1 && len <= 64 && is_lower_alnum(s[0]);
    for (size_t i = 1; ok && i < len; i++) ok = is_lower_alnum(s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.';
    if (!ok) {
        report_got(ld, v, "expected a log name: 1 to 64 of a-z, 0-9, \"_\", \"-\", \".\", starting with a letter or digit");
        return NULL;
    }
    return sl_strdup(s);
}

/* RFC 6838 restricted-name: a letter or digit, then up to 126 of a-z0-9!#$&-^_.+;
 * lower case, because libmagic reports lower case and comparisons are exact. */
static size_t mime_name(const char *s)
{
    size_t n = 0;
    if (!is_lower_alnum(s[0])) return 0;
    for (n = 1; s[n] && n < 127; n++)
        if (!(is_lower_alnum(s[n]) || strchr("!#$&-^_.+", s[n]) != NULL)) break;
    return n;
}

static char *convert_mime(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t type = mime_name(s);
    bool ok = type > 0 && s[type] == '/';
    if (ok) {
        const char *sub = s + type + 1;
        size_t n = strcmp(sub, "*") == 0 ? 1 : mime_name(sub);
        ok = n > 0 && sub[n] == '\0';
    }
    if (!ok) {
        report_got(ld, v, "expected a lower-case MIME type such as \"text/plain\" or \"image/*\"");
        return NULL;
    }
    return sl_strdup(s);
}

/* An OS user name as shadow's useradd accepts it (with upper case and "." allowed). */
static char *convert_user(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    bool ok = len >= 1 && len <= 32 && s[0] != '-';
    for (size_t i = 0; ok && i < len; i++) ok = is_alnum(s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.';
    if (!ok) {
        report_got(ld, v,
                   "expected an OS user name (1 to 32 letters, digits, \"_\", \"-\", \".\", not starting with \"-\")");
        return NULL;
    }
    return sl_strdup(s);
}

static char *convert_profile(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    if (s[0] == '\0' || has_control(s) || strpbrk(s, "[]") != NULL || s[0] == ' ' || s[strlen(s) - 1] == ' ') {
        report_got(ld, v, "expected a profile name (no brackets, control characters or outer spaces)");
        return NULL;
    }
    return sl_strdup(s);
}

/* `rel` against `base` (absolute): leading "." segments vanish and leading ".." segments
 * remove a component of `base`, which was resolved with realpath and so holds no
 * symbolic links; the rest of `rel` is kept as written. */
static char *resolve_path(const char *base, const char *rel)
{
    if (rel[0] == '/') return sl_strdup(rel);
    sl_buf out = { 0 };
    must(sl_buf_append_cstr(&out, base));
    while (*rel) {
        size_t n = strcspn(rel, "/");
        if (n == 0 || (n == 1 && rel[0] == '.')) {
            rel += n + (rel[n] == '/');
            continue;
        }
        if (n == 2 && rel[0] == '.' && rel[1] == '.') {
            while (out.len > 1 && out.data[out.len - 1] != '/') out.len--;
            if (out.len > 1) out.len--; /* the "/" before the removed component */
            out.data[out.len] = '\0';
            rel += n + (rel[n] == '/');
            continue;
        }
        break;
    }
    if (*rel) {
        if (out.len == 0 || out.data[out.len - 1] != '/') must(sl_buf_append_byte(&out, '/'));
        must(sl_buf_append_cstr(&out, rel));
    }
    return sl_buf_steal(&out);
}

static bool check_path_text(struct loader *ld, const json_t *v)
{
    const char *s = json_string_value(v);
    if (s[0] == '\0' || has_control(s)) {
        report_got(ld, v, "expected a file path (absolute, or relative to the configuration's folder)");
        return false;
    }
    if (s[0] == '~') {
        report_got(ld, v,
                   "expected a file path (\"~\" is not expanded: write it absolute or relative to the configuration's "
                   "folder)");
        return false;
    }
    return true;
}

static char *convert_path(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    if (!check_path_text(ld, v)) return NULL;
    return resolve_path(ld->base_dir, json_string_value(v));
}

static char *convert_socket_path(struct loader *ld, const json_t *v, size_t index)
{
    char *path = convert_path(ld, v, index);
    if (path != NULL && strlen(path) > SOCKET_PATH_MAX) {
        report_got(ld, v,
                   "expected a socket path of at most %d bytes once resolved (the limit of a Unix socket address)",
                   SOCKET_PATH_MAX);
        sl_free(path);
        return NULL;
    }
    return path;
}

/* A YARA rules file: it must exist, be a regular file and open for reading now. */
static char *convert_rules_file(struct loader *ld, const json_t *v, size_t index)
{
    char *path = convert_path(ld, v, index);
    if (path == NULL) return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    int failure = fd < 0 || fstat(fd, &st) != 0 ? errno : 0;
    if (fd >= 0) close(fd);
    if (failure == 0 && S_ISREG(st.st_mode)) return path;
    char *shown = quoted(path), text[128];
    if (failure != 0)
        report(ld, "cannot read %s: %s", shown, errno_text(failure, text, sizeof(text)));
    else
        report(ld, "%s is not a regular file", shown);
    sl_free(shown);
    sl_free(path);
    return NULL;
}

/* review.hook.command: argv[0] is a path when it contains a "/", else a name the daemon
 * looks up in PATH; the arguments are taken as written. */
static char *convert_command(struct loader *ld, const json_t *v, size_t index)
{
    const char *s = json_string_value(v);
    if (index > 0) {
        if (has_control(s)) {
            report_got(ld, v, "expected an argument without control characters");
            return NULL;
        }
        return sl_strdup(s);
    }
    if (strchr(s, '/') != NULL) return convert_path(ld, v, index);
    if (s[0] == '\0' || has_control(s)) {
        report_got(ld, v, "expected a program: a path, or a name to look up in PATH");
        return NULL;
    }
    return sl_strdup(s);
}

#define PRINCIPAL_MAX 512 /* bytes of a principal ARN (IAM: paths up to 512, names up to 64) */
#define PRINCIPAL_EXPECTED                                                                                             \
    "expected a principal ARN such as \"arn:aws:iam::123456789012:role/sluice-mover\" or, on radosgw, "               \
    "\"arn:aws:iam:::user/mover\""

/* A character of an IAM user, role or path name. */
static bool iam_name_char(char c) { return is_alnum(c) || strchr("+=,.@_-", c) != NULL; }

/* The length of the partition at `s` ("aws", "aws-cn", "aws-us-gov", ...), 0 if none. */
static size_t arn_partition(const char *s)
{
    if (strncmp(s, "aws", 3) != 0) return 0;
    size_t n = 3;
    if (s[n] == '-') {
        n++;
        while (n < 32 && (is_lower_alnum(s[n]) || s[n] == '-')) n++;
        if (s[n - 1] == '-') return 0;
    }
    return n;
}

/* identities.*: arn:<partition>:iam::<account or radosgw tenant>:<root | user/[path/]name
 * | role/[path/]name>. No wildcards: a "*" principal in an Allow would open a bucket to
 * everyone, and "?" or "*" inside a name would match more than one identity. */
static char *convert_principal(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    if (strpbrk(s, "*?") != NULL) {
        report_got(ld, v, PRINCIPAL_EXPECTED " (one identity: no \"*\" or \"?\")");
        return NULL;
    }
    bool ok = strlen(s) <= PRINCIPAL_MAX && strncmp(s, "arn:", 4) == 0;
    const char *p = ok ? s + 4 : s;
    size_t partition = ok ? arn_partition(p) : 0;
    ok = partition > 0 && strncmp(p + partition, ":iam::", 6) == 0;
    if (ok) {
        p += partition + 6;
        size_t account = 0;
        while (account < 64 && (is_alnum(p[account]) || p[account] == '_')) account++;
        p += account;
        ok = *p++ == ':';
    }
    if (ok && strcmp(p, "root") != 0) {
        if (strncmp(p, "user/", 5) == 0 || strncmp(p, "role/", 5) == 0) {
            /* [path/]name: non-empty segments of name characters */
            p += 5;
            size_t segment = 0;
            for (; ok && *p; p++) {
                if (*p == '/') {
                    ok = segment > 0;
                    segment = 0;
                } else {
                    ok = iam_name_char(*p) && ++segment <= 64;
                }
            }
            ok = ok && segment > 0;
        } else {
            ok = false;
        }
    }
    if (!ok) {
        report_got(ld, v, PRINCIPAL_EXPECTED);
        return NULL;
    }
    return sl_strdup(s);
}

/* identities.vpc_endpoints: a VPC endpoint id, "vpce-" and 8 or 17 lower-case hex digits. */
static char *convert_vpc_endpoint(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t digits = strncmp(s, "vpce-", 5) == 0 ? strspn(s + 5, "0123456789abcdef") : 0;
    if (!((digits == 8 || digits == 17) && s[5 + digits] == '\0')) {
        report_got(ld, v,
                   "expected a VPC endpoint id such as \"vpce-1a2b3c4d\" (\"vpce-\" and 8 or 17 lower-case hex digits)");
        return NULL;
    }
    return sl_strdup(s);
}

/* ---------------------------------------------------------------------------------- */
/* Schema tables and the walker                                                        */
/* ---------------------------------------------------------------------------------- */

enum kind {
    K_OBJECT,   /* a nested object: `sub` */
    K_STRING,   /* char *, checked and converted by `convert` */
    K_STRINGS,  /* char ** + size_t count at `count_offset`; each element by `convert` */
    K_BOOL,     /* bool */
    K_ENUM,     /* one of `names`, stored by `set_enum` */
    K_UINT,     /* uint32_t JSON integer within [min, max] */
    K_DURATION, /* uint64_t milliseconds within [min, max] (max 0: none) */
    K_SIZE,     /* uint64_t bytes (uint32_t with F_U32) within [min, max] (max 0: none) */
    K_MODE,     /* uint32_t from an octal string, at most 0777 */
    K_CUSTOM,   /* `parse` does everything */
};

enum field_flags {
    F_REQUIRED = 1, /* absent: "<path>: required" */
    F_UNIQUE = 2,   /* K_STRINGS: no value twice */
    F_ARGV = 4,     /* K_STRINGS: at least one element, NULL-terminated */
    F_U32 = 8,      /* K_SIZE: stored as uint32_t */
};

struct schema;

struct field {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t count_offset;
    unsigned flags;
    uint64_t def;        /* K_BOOL, K_ENUM (index), K_UINT, K_DURATION, K_SIZE, K_MODE */
    const char *def_str; /* K_STRING */
    uint64_t min, max;
    const char *max_why; /* appended to an "at most" message */
    const char *const *names;
    void (*set_enum)(void *target, size_t index);
    convert_fn convert;
    const struct schema *sub;
    void (*parse)(struct loader *ld, const json_t *value);
};

struct schema {
    const struct field *fields;
    size_t count;
    /* After the object's keys, defaults and required checks; `obj` is the object (NULL
     * when absent or not an object); `clean`: no error was found inside it. */
    void (*finish)(struct loader *ld, const json_t *obj, void *base, bool clean);
};

static void set_bool(void *target, size_t index) { *(bool *)target = index != 0; }
static void set_int(void *target, size_t index) { *(int *)target = (int)index; }
static void set_review(void *target, size_t index) { *(sl_review_mode *)target = (sl_review_mode)index; }
static void set_on_error(void *target, size_t index) { *(sl_on_error *)target = (sl_on_error)index; }
static void set_embedded(void *target, size_t index) { *(sl_embedded_action *)target = (sl_embedded_action)index; }

static void store_default(const struct field *f, uint8_t *base)
{
    void *target = base + f->offset;
    switch (f->kind) {
    case K_STRING:
        if (f->def_str != NULL) *(char **)target = sl_strdup(f->def_str);
        break;
    case K_BOOL: *(bool *)target = f->def != 0; break;
    case K_ENUM: f->set_enum(target, (size_t)f->def); break;
    case K_UINT:
    case K_MODE: *(uint32_t *)target = (uint32_t)f->def; break;
    case K_DURATION: *(uint64_t *)target = f->def; break;
    case K_SIZE:
        if (f->flags & F_U32)
            *(uint32_t *)target = (uint32_t)f->def;
        else
            *(uint64_t *)target = f->def;
        break;
    case K_OBJECT:
    case K_STRINGS:
    case K_CUSTOM: break;
    }
}

/* Reports a value outside [f->min, f->max] (max 0: no upper bound); true when inside. */
static bool within_bounds(struct loader *ld, const struct field *f, const json_t *v, uint64_t value, bool duration)
{
    if (value >= f->min && (f->max == 0 || value <= f->max)) return true;
    char lo[32], hi[32];
    void (*format)(uint64_t, char *, size_t) = duration ? format_duration : format_size;
    const char *what = duration ? "duration" : "size";
    const char *why = f->max_why ? f->max_why : "";
    format(f->min, lo, sizeof(lo));
    format(f->max, hi, sizeof(hi));
    if (f->min > 1 && f->max != 0) /* a real range: name both ends */
        report_got(ld, v, "expected a %s from \"%s\" to \"%s\"%s", what, lo, hi, why);
    else if (value < f->min)
        report_got(ld, v, "expected a %s greater than zero", what);
    else
        report_got(ld, v, "expected a %s of at most \"%s\"%s", what, hi, why);
    return false;
}

static void parse_duration_field(struct loader *ld, const struct field *f, const json_t *v, void *target)
{
    if (json_is_integer(v)) {
        report_got(ld, v, "expected a duration such as \"30s\" (a string with a unit)");
        return;
    }
    if (!json_is_string(v)) {
        report_got(ld, v, "expected a duration such as \"30s\"");
        return;
    }
    uint64_t ms = 0;
    switch (parse_number_unit(json_string_value(v), duration_units, sizeof(duration_units) / sizeof(duration_units[0]),
                              &ms)) {
    case NUMBER_SYNTAX: report_got(ld, v, "expected a duration such as \"30s\""); return;
    case NUMBER_OVERFLOW: report_got(ld, v, "expected a duration below 2^64 milliseconds"); return;
    case NUMBER_OK:
        if (within_bounds(ld, f, v, ms, true)) *(uint64_t *)target = ms;
        return;
    }
}

static void parse_size_field(struct loader *ld, const struct field *f, const json_t *v, void *target)
{
    uint64_t bytes = 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        bytes = (uint64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        size_t units = sizeof(size_units) / sizeof(size_units[0]);
        switch (parse_number_unit(json_string_value(v), size_units, units, &bytes)) {
        case NUMBER_SYNTAX: report_got(ld, v, "expected a size such as \"100MiB\""); return;
        case NUMBER_OVERFLOW: report_got(ld, v, "expected a size below 2^64 bytes"); return;
        case NUMBER_OK: break;
        }
    } else {
        report_got(ld, v, "expected a size such as \"100MiB\"");
        return;
    }
    if (!within_bounds(ld, f, v, bytes, false)) return;
    if (f->flags & F_U32)
        *(uint32_t *)target = (uint32_t)bytes; /* the table's max fits in 32 bits */
    else
        *(uint64_t *)target = bytes;
}

static void parse_strings(struct loader *ld, const struct field *f, const json_t *v, uint8_t *base)
{
    if (!json_is_array(v)) {
        report_got(ld, v, "expected an array of strings");
        return;
    }
    size_t n = json_array_size(v);
    if ((f->flags & F_ARGV) && n == 0) {
        report_got(ld, v, "expected at least one string (the program)");
        return;
    }
    char **items = sl_calloc(n + 1, sizeof(char *));    /* + 1: argv's NULL */
    size_t *json_index = sl_calloc(n + 1, sizeof(size_t)); /* items[k] came from v[json_index[k]] */
    size_t stored = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        size_t mark = path_push_index(ld, i);
        char *s = NULL;
        if (!json_is_string(e))
            report_got(ld, e, "expected a string");
        else
            s = f->convert(ld, e, i);
        for (size_t k = 0; s != NULL && (f->flags & F_UNIQUE) && k < stored; k++) {
            if (strcmp(items[k], s) != 0) continue;
            /* The array's path is the buffer before "[i]". */
            char *shown = quoted(json_string_value(e));
            report(ld, "%s is listed twice (first at %.*s[%zu])", shown, (int)mark, sl_buf_cstr(&ld->path),
                   json_index[k]);
            sl_free(shown);
            sl_free(s);
            s = NULL;
        }
        if (s != NULL) {
            json_index[stored] = i;
            items[stored++] = s;
        }
        path_pop(ld, mark);
    }
    sl_free(json_index);
    if (stored == 0) { /* an empty list, or no valid element: nothing to keep */
        sl_free(items);
        items = NULL;
    }
    *(char ***)(base + f->offset) = items;
    *(size_t *)(base + f->count_offset) = stored;
}

static void walk_object(struct loader *ld, const json_t *obj, const struct schema *schema, uint8_t *base);

static void parse_field(struct loader *ld, const struct field *f, const json_t *v, uint8_t *base)
{
    void *target = base + f->offset;
    switch (f->kind) {
    case K_OBJECT: walk_object(ld, v, f->sub, target); return;
    case K_STRING:
        if (!json_is_string(v)) {
            report_got(ld, v, "expected a string");
            return;
        }
        char *value = f->convert(ld, v, 0);
        if (value != NULL) {
            sl_free(*(char **)target);
            *(char **)target = value;
        }
        return;
    case K_STRINGS: parse_strings(ld, f, v, base); return;
    case K_BOOL:
        if (!json_is_boolean(v)) {
            report_got(ld, v, "expected true or false");
            return;
        }
        *(bool *)target = json_is_true(v);
        return;
    case K_ENUM: {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        size_t n = 0;
        for (; f->names[n] != NULL; n++) {
            if (s != NULL && strcmp(s, f->names[n]) == 0) {
                f->set_enum(target, n);
                return;
            }
        }
        sl_buf msg = { 0 };
        must(sl_buf_append_cstr(&msg, "expected one of "));
        for (size_t i = 0; i < n; i++) must(sl_buf_appendf(&msg, "%s\"%s\"", i ? ", " : "", f->names[i]));
        report_got(ld, v, "%s", sl_buf_cstr(&msg));
        sl_buf_clean_up(&msg);
        return;
    }
    case K_UINT:
        if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)f->min ||
            json_integer_value(v) > (json_int_t)f->max) {
            report_got(ld, v, "expected an integer from %llu to %llu", (unsigned long long)f->min,
                       (unsigned long long)f->max);
            return;
        }
        *(uint32_t *)target = (uint32_t)json_integer_value(v);
        return;
    case K_DURATION: parse_duration_field(ld, f, v, target); return;
    case K_SIZE: parse_size_field(ld, f, v, target); return;
    case K_MODE: {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        size_t len = strlen(s);
        bool ok = len == 3 || (len == 4 && s[0] == '0');
        uint32_t mode = 0;
        for (size_t i = 0; ok && i < len; i++) {
            ok = s[i] >= '0' && s[i] <= '7';
            mode = mode * 8 + (uint32_t)(s[i] - '0');
        }
        if (!ok) {
            report_got(ld, v, "expected an octal mode such as \"0660\" (at most \"0777\")");
            return;
        }
        *(uint32_t *)target = mode;
        return;
    }
    case K_CUSTOM: f->parse(ld, v); return;
    }
}

/* Known keys in table order, for the unknown-key message. */
static void report_unknown(struct loader *ld, const struct schema *schema)
{
    sl_buf msg = { 0 };
    must(sl_buf_append_cstr(&msg, "unknown key (known keys: "));
    for (size_t i = 0; i < schema->count; i++)
        must(sl_buf_appendf(&msg, "%s%s", i ? ", " : "", schema->fields[i].name));
    must(sl_buf_append_byte(&msg, ')'));
    report(ld, "%s", sl_buf_cstr(&msg));
    sl_buf_clean_up(&msg);
}

/* Walks `obj` (NULL: absent) against `schema`, storing into `base`. */
static void walk_object(struct loader *ld, const json_t *obj, const struct schema *schema, uint8_t *base)
{
    size_t errors_before = ld->count;
    bool seen[MAX_FIELDS] = { false };
    bool report_missing = true;
    if (obj != NULL && !json_is_object(obj)) {
        report_got(ld, obj, "expected an object");
        obj = NULL;
        report_missing = false; /* one error for the section, not one per required key */
    }
    if (obj != NULL) {
        const char *key;
        json_t *value = NULL;
        json_object_foreach((json_t *)obj, key, value) {
            size_t mark = path_push_key(ld, key);
            size_t i = 0;
            while (i < schema->count && strcmp(schema->fields[i].name, key) != 0) i++;
            if (i == schema->count) {
                report_unknown(ld, schema);
            } else {
                seen[i] = true;
                parse_field(ld, &schema->fields[i], value, base);
            }
            path_pop(ld, mark);
        }
    }
    for (size_t i = 0; i < schema->count; i++) {
        const struct field *f = &schema->fields[i];
        if (seen[i]) continue;
        size_t mark = path_push_key(ld, f->name);
        if (f->flags & F_REQUIRED) {
            if (report_missing) report(ld, "required");
        } else if (f->kind == K_OBJECT) {
            /* An absent section: its defaults and its required keys ("s3.endpoint:
             * required"); nothing under a value that was not an object at all. */
            if (report_missing) walk_object(ld, NULL, f->sub, base + f->offset);
        } else {
            store_default(f, base);
        }
        path_pop(ld, mark);
    }
    if (schema->finish != NULL) schema->finish(ld, obj, base, ld->count == errors_before);
}

/* ---------------------------------------------------------------------------------- */
/* Relations between values                                                            */
/* ---------------------------------------------------------------------------------- */

static void finish_credentials(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    sl_config_credentials *c = base;
    if (c->file != NULL && c->profile == NULL) c->profile = sl_strdup("default");
    if (clean && c->file == NULL && c->profile != NULL) {
        char *file = path_of(ld, "file");
        size_t mark = path_push_key(ld, "profile");
        report_got(ld, json_object_get(obj, "profile"),
                   "expected only together with %s (without a file, credentials come from the environment)", file);
        path_pop(ld, mark);
        sl_free(file);
    }
}

static void report_same_bucket(struct loader *ld, const char *key, const char *value, const char *other_key,
                               const char *other)
{
    if (value == NULL || other == NULL || strcmp(value, other) != 0) return;
    size_t mark = path_push_key(ld, key);
    json_t *j = json_string(value);
    report_got(ld, j, "expected a bucket other than buckets.%s", other_key);
    json_decref(j);
    path_pop(ld, mark);
}

static void finish_buckets(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)obj;
    (void)clean;
    (void)base;
    sl_config *c = ld->config;
    report_same_bucket(ld, "quarantine", c->buckets.quarantine, "staging", c->buckets.staging);
    report_same_bucket(ld, "trusted", c->buckets.trusted, "staging", c->buckets.staging);
    report_same_bucket(ld, "trusted", c->buckets.trusted, "quarantine", c->buckets.quarantine);
    report_same_bucket(ld, "control", c->buckets.control, "staging", c->buckets.staging);
    report_same_bucket(ld, "control", c->buckets.control, "trusted", c->buckets.trusted);
    if (c->buckets.control == NULL && json_object_get(obj, "control") == NULL && c->buckets.quarantine != NULL)
        c->buckets.control = sl_strdup(c->buckets.quarantine);
    if (c->buckets.control != NULL && c->buckets.quarantine != NULL && c->buckets.control_prefix != NULL &&
        strcmp(c->buckets.control, c->buckets.quarantine) == 0 &&
        strncmp(c->buckets.control_prefix, SL_QUARANTINE_KEY_PREFIX, strlen(SL_QUARANTINE_KEY_PREFIX)) == 0) {
        size_t mark = path_push_key(ld, "control_prefix");
        json_t *j = json_string(c->buckets.control_prefix);
        report_got(ld, j,
                   "expected a prefix outside the quarantine keys \"" SL_QUARANTINE_KEY_PREFIX
                   "\" (the control bucket is the quarantine bucket)");
        json_decref(j);
        path_pop(ld, mark);
    }
}

static void finish_grants(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)base;
    sl_config *c = ld->config;
    if (!clean || c->grants.default_ttl_ms <= c->grants.max_ttl_ms) return;
    char max[32], def[32];
    format_duration(c->grants.max_ttl_ms, max, sizeof(max));
    format_duration(c->grants.default_ttl_ms, def, sizeof(def));
    size_t mark = path_push_key(ld, "default_ttl");
    const json_t *given = json_object_get(obj, "default_ttl");
    if (given != NULL)
        report_got(ld, given, "expected at most grants.max_ttl (\"%s\")", max);
    else
        report(ld, "expected at most grants.max_ttl (\"%s\"), got the default \"%s\" (set default_ttl)", max, def);
    path_pop(ld, mark);
}

static void finish_review(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)obj;
    (void)base;
    ld->review_clean = clean;
}

static void finish_worker(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)base;
    sl_config *c = ld->config;
    const json_t *given = json_object_get(obj, "poll_jitter");
    if (given == NULL) {
        c->worker.poll_jitter_ms = c->worker.poll_interval_ms / 10;
        return;
    }
    if (clean && c->worker.poll_jitter_ms > c->worker.poll_interval_ms) {
        char interval[32];
        format_duration(c->worker.poll_interval_ms, interval, sizeof(interval));
        size_t mark = path_push_key(ld, "poll_jitter");
        report_got(ld, given, "expected at most worker.poll_interval (\"%s\")", interval);
        path_pop(ld, mark);
    }
}

/* Rule files named *.json are sluice rule sets; the others stay in `rules` (YARA). */
static void split_rule_files(sl_config_checks *k)
{
    size_t yara = 0;
    for (size_t i = 0; i < k->rule_count; i++) {
        const char *path = k->rules[i];
        size_t n = strlen(path);
        if (n >= 5 && strcmp(path + n - 5, ".json") == 0) {
            k->rule_sets = sl_realloc(k->rule_sets, (k->rule_set_count + 1) * sizeof(*k->rule_sets));
            k->rule_sets[k->rule_set_count++] = k->rules[i];
        } else {
            k->rules[yara++] = k->rules[i];
        }
    }
    k->rule_count = yara;
    if (yara == 0) {
        sl_free(k->rules);
        k->rules = NULL;
    }
}

static void finish_checks(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)obj;
    (void)clean;
    sl_config_checks *k = base;
    split_rule_files(k);
    for (size_t d = 0; d < k->deny_type_count; d++) {
        for (size_t a = 0; a < k->allow_type_count; a++) {
            if (strcmp(k->deny_types[d], k->allow_types[a]) != 0) continue;
            /* Name the element by its JSON index: find it in the document. */
            const json_t *deny = json_object_get(obj, "deny_types");
            size_t index = 0;
            for (size_t i = 0; i < json_array_size(deny); i++) {
                const char *s = json_string_value(json_array_get(deny, i));
                if (s != NULL && strcmp(s, k->deny_types[d]) == 0) {
                    index = i;
                    break;
                }
            }
            size_t mark = path_push_key(ld, "deny_types");
            (void)path_push_index(ld, index);
            /* a MIME type: nothing to quote or escape */
            report(ld, "\"%s\" is also in allow_types (a type is either allowed or denied)", k->deny_types[d]);
            path_pop(ld, mark);
        }
    }
}

/* The index of the string `s` in the JSON array `list`; 0 when it is not there. */
static size_t json_index_of(const json_t *list, const char *s)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *e = json_string_value(json_array_get(list, i));
        if (e != NULL && strcmp(e, s) == 0) return i;
    }
    return 0;
}

/* identities: every ARN has one role (the mover is never also a consumer: the policies
 * would deny it what it needs), and all share the mover's partition (the policies'
 * resources are written in it). Values that failed their own check were not stored and
 * are not compared again. */
static void finish_identities(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)base;
    (void)clean;
    const sl_config *c = ld->config;
    struct role {
        const char *key;
        const char *const *items; /* NULL for a single value */
        size_t count;
        const char *single;
    } roles[] = {
        { "mover", NULL, c->identities.mover != NULL, c->identities.mover },
        { "grants", NULL, c->identities.grants != NULL, c->identities.grants },
        { "consumers", (const char *const *)c->identities.consumers, c->identities.consumer_count, NULL },
        { "reviewers", (const char *const *)c->identities.reviewers, c->identities.reviewer_count, NULL },
    };
    const size_t role_count = sizeof(roles) / sizeof(roles[0]);
    const char *mover = c->identities.mover;
    size_t mover_partition = mover ? arn_partition(mover + 4) : 0;
    for (size_t r = 0; r < role_count; r++) {
        const json_t *list = roles[r].items ? json_object_get(obj, roles[r].key) : NULL;
        for (size_t i = 0; i < roles[r].count; i++) {
            const char *arn = roles[r].items ? roles[r].items[i] : roles[r].single;
            size_t mark = path_push_key(ld, roles[r].key);
            if (roles[r].items) (void)path_push_index(ld, json_index_of(list, arn));
            json_t *shown = json_string(arn);
            bool reported = false;
            for (size_t q = 0; q < r && !reported; q++) {
                for (size_t j = 0; j < roles[q].count && !reported; j++) {
                    const char *other = roles[q].items ? roles[q].items[j] : roles[q].single;
                    if (strcmp(arn, other) != 0) continue;
                    char where[96];
                    if (roles[q].items)
                        snprintf(where, sizeof(where), "identities.%s[%zu]", roles[q].key,
                                 json_index_of(json_object_get(obj, roles[q].key), other));
                    else
                        snprintf(where, sizeof(where), "identities.%s", roles[q].key);
                    report_got(ld, shown, "expected an identity other than %s (an identity has one role)", where);
                    reported = true;
                }
            }
            size_t partition = arn_partition(arn + 4);
            if (!reported && r > 0 && mover_partition > 0 &&
                (partition != mover_partition || strncmp(arn + 4, mover + 4, partition) != 0))
                report_got(ld, shown, "expected an ARN in the partition \"%.*s\" of identities.mover",
                           (int)mover_partition, mover + 4);
            json_decref(shown);
            path_pop(ld, mark);
        }
    }
}

/* Route i against the routes before it: unique names, prefixes that do not overlap. */
static void check_route_against_earlier(struct loader *ld, size_t i)
{
    const sl_config_route *routes = ld->config->routes;
    const sl_config_route *r = &routes[i];
    for (size_t j = 0; j < i && r->name != NULL; j++) {
        if (routes[j].name != NULL && strcmp(routes[j].name, r->name) == 0) {
            size_t mark = path_push_key(ld, "name");
            report(ld, "\"%s\" is already the name of routes[%zu]", r->name, j);
            path_pop(ld, mark);
            break;
        }
    }
    static const char *const keys[2] = { "staging_prefix", "trusted_prefix" };
    for (int k = 0; k < 2; k++) {
        const char *mine = k == 0 ? r->staging_prefix : r->trusted_prefix;
        if (mine == NULL) continue;
        for (size_t j = 0; j < i; j++) {
            const char *theirs = k == 0 ? routes[j].staging_prefix : routes[j].trusted_prefix;
            if (theirs == NULL) continue;
            size_t n = strlen(mine) < strlen(theirs) ? strlen(mine) : strlen(theirs);
            if (strncmp(mine, theirs, n) != 0) continue;
            char *a = quoted(mine), *b = quoted(theirs);
            size_t mark = path_push_key(ld, keys[k]);
            report(ld, "%s overlaps routes[%zu].%s %s", a, j, keys[k], b);
            path_pop(ld, mark);
            sl_free(a);
            sl_free(b);
        }
    }
}

static const struct schema route_schema;
static const struct schema identities_schema;

/* An optional section whose keys are required once it is there: an absent section is
 * not walked (no "identities.mover: required" for a config that names no identities). */
static void parse_identities(struct loader *ld, const json_t *v)
{
    ld->config->identities.present = true;
    walk_object(ld, v, &identities_schema, (uint8_t *)&ld->config->identities);
}

static void parse_routes(struct loader *ld, const json_t *v)
{
    if (!json_is_array(v)) {
        report_got(ld, v, "expected an array of routes");
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0) {
        report_got(ld, v, "expected at least one route");
        return;
    }
    ld->config->routes = sl_calloc(n, sizeof(sl_config_route));
    ld->config->route_count = n;
    for (size_t i = 0; i < n; i++) {
        size_t mark = path_push_index(ld, i);
        walk_object(ld, json_array_get(v, i), &route_schema, (uint8_t *)&ld->config->routes[i]);
        check_route_against_earlier(ld, i);
        path_pop(ld, mark);
    }
}

/* Checks that need more than one section; they run after the whole document. */
static void check_across_sections(struct loader *ld)
{
    sl_config *c = ld->config;
    for (size_t i = 0; i < c->route_count && ld->review_clean; i++) {
        const sl_config_route *r = &c->routes[i];
        size_t mark = path_push_key(ld, "routes");
        (void)path_push_index(ld, i);
        (void)path_push_key(ld, "review");
        if (r->review == SL_REVIEW_HOOK && c->review.hook_command == NULL)
            report(ld, "\"hook\" needs review.hook.command");
        else if (r->review == SL_REVIEW_HUMAN && c->review.reviewer_count < 1)
            report(ld, "\"human\" needs at least one name in review.reviewers");
        else if (r->review == SL_REVIEW_TWO_PERSON && c->review.reviewer_count < 2)
            report(ld, "\"two-person\" needs at least two names in review.reviewers, got %zu",
                   c->review.reviewer_count);
        path_pop(ld, mark);
    }
    /* A bucket name with "." cannot be a virtual-hosted name under https: the
     * certificate's "*.s3..." wildcard covers one label only. */
    if (c->s3.virtual_hosted && c->s3.endpoint != NULL && strncmp(c->s3.endpoint, "https://", 8) == 0) {
        const char *const names[4] = { "staging", "quarantine", "trusted", "control" };
        const char *const values[4] = { c->buckets.staging, c->buckets.quarantine, c->buckets.trusted,
                                        c->buckets.control };
        for (int i = 0; i < 4; i++) {
            if (values[i] == NULL || strchr(values[i], '.') == NULL) continue;
            if (i == 3 && c->buckets.quarantine != NULL && strcmp(values[3], c->buckets.quarantine) == 0) continue;
            size_t mark = path_push_key(ld, "buckets");
            (void)path_push_key(ld, names[i]);
            json_t *j = json_string(values[i]);
            report_got(ld, j,
                       "expected a bucket name without \".\" for virtual-hosted addressing over https "
                       "(the TLS certificate cannot match it; use \"addressing\": \"path\")");
            json_decref(j);
            path_pop(ld, mark);
        }
    }
}

/* ---- the tables ---- */

#define IN(section, member) (offsetof(sl_config, section.member) - offsetof(sl_config, section))

static const char *const addressing_names[] = { "path", "virtual", NULL };
static const char *const review_names[] = { "auto", "human", "two-person", "hook", NULL };
static const char *const on_error_names[] = { "block", "review", NULL };
static const char *const embedded_names[] = { "block", "review", "ignore", NULL };
static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const format_names[] = { "text", "json", NULL };

static const struct field credentials_fields[] = {
    { .name = "file", .kind = K_STRING, .offset = offsetof(sl_config_credentials, file), .convert = convert_path },
    { .name = "profile", .kind = K_STRING, .offset = offsetof(sl_config_credentials, profile),
      .convert = convert_profile },
};
static const struct schema credentials_schema = { credentials_fields, 2, finish_credentials };

static const struct field s3_fields[] = {
    { .name = "endpoint", .kind = K_STRING, .offset = IN(s3, endpoint), .flags = F_REQUIRED,
      .convert = convert_endpoint },
    { .name = "region", .kind = K_STRING, .offset = IN(s3, region), .def_str = "us-east-1", .convert = convert_region },
    { .name = "addressing", .kind = K_ENUM, .offset = IN(s3, virtual_hosted), .names = addressing_names,
      .set_enum = set_bool },
    { .name = "credentials", .kind = K_OBJECT, .offset = IN(s3, credentials), .sub = &credentials_schema },
    { .name = "ca_file", .kind = K_STRING, .offset = IN(s3, ca_file), .convert = convert_path },
    { .name = "verify_tls", .kind = K_BOOL, .offset = IN(s3, verify_tls), .def = 1 },
    { .name = "max_in_flight", .kind = K_UINT, .offset = IN(s3, max_in_flight), .def = 64, .min = 1, .max = 10000 },
    { .name = "connect_timeout", .kind = K_DURATION, .offset = IN(s3, connect_timeout_ms), .def = 5 * SECOND_MS,
      .min = 1 },
    { .name = "first_byte_timeout", .kind = K_DURATION, .offset = IN(s3, first_byte_timeout_ms),
      .def = 30 * SECOND_MS, .min = 1 },
    { .name = "max_attempts", .kind = K_UINT, .offset = IN(s3, max_attempts), .def = 100, .min = 1, .max = 1000 },
    { .name = "retry_budget", .kind = K_DURATION, .offset = IN(s3, retry_budget_ms), .def = 30 * SECOND_MS,
      .min = 1, .max = 3600 * SECOND_MS },
    { .name = "multipart_threshold", .kind = K_SIZE, .offset = IN(s3, multipart_threshold), .def = 5 * GIB, .min = 1,
      .max = 5 * GIB, .max_why = " (a single CopyObject stops at 5GiB)" },
    { .name = "multipart_part_size", .kind = K_SIZE, .offset = IN(s3, multipart_part_size), .def = 512 * MIB,
      .min = 5 * MIB, .max = 5 * GIB, .max_why = " (the S3 limits for a part)" },
};
static const struct schema s3_schema = { s3_fields, sizeof(s3_fields) / sizeof(s3_fields[0]), NULL };

static const struct field buckets_fields[] = {
    { .name = "staging", .kind = K_STRING, .offset = IN(buckets, staging), .flags = F_REQUIRED,
      .convert = convert_bucket },
    { .name = "quarantine", .kind = K_STRING, .offset = IN(buckets, quarantine), .flags = F_REQUIRED,
      .convert = convert_bucket },
    { .name = "trusted", .kind = K_STRING, .offset = IN(buckets, trusted), .flags = F_REQUIRED,
      .convert = convert_bucket },
    { .name = "control", .kind = K_STRING, .offset = IN(buckets, control), .convert = convert_bucket },
    { .name = "control_prefix", .kind = K_STRING, .offset = IN(buckets, control_prefix), .def_str = "sluice/",
      .convert = convert_prefix },
};
static const struct schema buckets_schema = { buckets_fields, sizeof(buckets_fields) / sizeof(buckets_fields[0]),
                                              finish_buckets };

static const struct field grants_fields[] = {
    { .name = "credentials", .kind = K_OBJECT, .offset = IN(grants, credentials), .sub = &credentials_schema },
    { .name = "default_ttl", .kind = K_DURATION, .offset = IN(grants, default_ttl_ms), .def = 15 * MINUTE_MS,
      .min = 1 },
    { .name = "max_ttl", .kind = K_DURATION, .offset = IN(grants, max_ttl_ms), .def = 4 * HOUR_MS, .min = 1,
      .max = SL_CONFIG_MAX_GRANT_TTL_MS, .max_why = " (the longest a SigV4 presigned URL can live)" },
};
static const struct schema grants_schema = { grants_fields, sizeof(grants_fields) / sizeof(grants_fields[0]),
                                             finish_grants };

#define EMBEDDED(field, def_index)                                                                          \
    { .name = #field, .kind = K_ENUM, .offset = offsetof(sl_config_checks, embedded.field) -                  \
                                                offsetof(sl_config_checks, embedded),                         \
      .names = embedded_names, .set_enum = set_embedded, .def = def_index }
static const struct field embedded_fields[] = {
    EMBEDDED(executable, SL_EMBEDDED_BLOCK), EMBEDDED(archive, SL_EMBEDDED_BLOCK), EMBEDDED(script, SL_EMBEDDED_REVIEW),
    EMBEDDED(html, SL_EMBEDDED_REVIEW),      EMBEDDED(trailing, SL_EMBEDDED_REVIEW),
};
#undef EMBEDDED
static const struct schema embedded_schema = { embedded_fields, sizeof(embedded_fields) / sizeof(embedded_fields[0]),
                                               NULL };

#define ARCHIVES(member) (offsetof(sl_config_checks, archives.member) - offsetof(sl_config_checks, archives))
static const struct field archives_fields[] = {
    { .name = "max_bytes", .kind = K_SIZE, .offset = ARCHIVES(max_bytes), .def = GIB, .min = 1 },
    { .name = "max_depth", .kind = K_UINT, .offset = ARCHIVES(max_depth), .def = 3, .min = 1, .max = 16 },
    { .name = "max_members", .kind = K_UINT, .offset = ARCHIVES(max_members), .def = 10000, .min = 1,
      .max = 10000000 },
    { .name = "max_expanded_bytes", .kind = K_SIZE, .offset = ARCHIVES(max_expanded_bytes), .def = 4 * GIB, .min = 1 },
    { .name = "max_ratio", .kind = K_UINT, .offset = ARCHIVES(max_ratio), .def = 100, .min = 1, .max = 100000 },
};
#undef ARCHIVES
static const struct schema archives_schema = { archives_fields, sizeof(archives_fields) / sizeof(archives_fields[0]),
                                               NULL };

static const struct field checks_fields[] = {
    { .name = "max_bytes", .kind = K_SIZE, .offset = offsetof(sl_config_checks, max_bytes), .def = 100 * MIB,
      .min = 1 },
    { .name = "allow_types", .kind = K_STRINGS, .offset = offsetof(sl_config_checks, allow_types),
      .count_offset = offsetof(sl_config_checks, allow_type_count), .flags = F_UNIQUE, .convert = convert_mime },
    { .name = "deny_types", .kind = K_STRINGS, .offset = offsetof(sl_config_checks, deny_types),
      .count_offset = offsetof(sl_config_checks, deny_type_count), .flags = F_UNIQUE, .convert = convert_mime },
    { .name = "check_extension", .kind = K_BOOL, .offset = offsetof(sl_config_checks, check_extension), .def = 1 },
    { .name = "max_key_length", .kind = K_UINT, .offset = offsetof(sl_config_checks, max_key_length), .def = 1024,
      .min = 1, .max = 1024 },
    { .name = "max_depth", .kind = K_UINT, .offset = offsetof(sl_config_checks, max_depth), .def = 8, .min = 1,
      .max = 512 },
    { .name = "max_metadata_bytes", .kind = K_SIZE, .offset = offsetof(sl_config_checks, max_metadata_bytes),
      .flags = F_U32, .def = 2048, .min = 0, .max = 64 * KIB },
    { .name = "on_error", .kind = K_ENUM, .offset = offsetof(sl_config_checks, on_error), .names = on_error_names,
      .set_enum = set_on_error },
    { .name = "clamav", .kind = K_BOOL, .offset = offsetof(sl_config_checks, clamav) },
    { .name = "rules", .kind = K_STRINGS, .offset = offsetof(sl_config_checks, rules),
      .count_offset = offsetof(sl_config_checks, rule_count), .flags = F_UNIQUE, .convert = convert_rules_file },
    { .name = "embedded", .kind = K_OBJECT, .offset = offsetof(sl_config_checks, embedded), .sub = &embedded_schema },
    { .name = "archives", .kind = K_OBJECT, .offset = offsetof(sl_config_checks, archives), .sub = &archives_schema },
};
static const struct schema checks_schema = { checks_fields, sizeof(checks_fields) / sizeof(checks_fields[0]),
                                             finish_checks };

static const struct field route_fields[] = {
    { .name = "name", .kind = K_STRING, .offset = offsetof(sl_config_route, name), .flags = F_REQUIRED,
      .convert = convert_route_name },
    { .name = "staging_prefix", .kind = K_STRING, .offset = offsetof(sl_config_route, staging_prefix),
      .flags = F_REQUIRED, .convert = convert_prefix },
    { .name = "trusted_prefix", .kind = K_STRING, .offset = offsetof(sl_config_route, trusted_prefix),
      .flags = F_REQUIRED, .convert = convert_prefix },
    { .name = "review", .kind = K_ENUM, .offset = offsetof(sl_config_route, review), .names = review_names,
      .set_enum = set_review },
    { .name = "review_ttl", .kind = K_DURATION, .offset = offsetof(sl_config_route, review_ttl_ms), .def = 24 * HOUR_MS,
      .min = 1 },
    { .name = "require_task", .kind = K_BOOL, .offset = offsetof(sl_config_route, require_task), .def = 1 },
    { .name = "checks", .kind = K_OBJECT, .offset = offsetof(sl_config_route, checks), .sub = &checks_schema },
};
static const struct schema route_schema = { route_fields, sizeof(route_fields) / sizeof(route_fields[0]), NULL };

static const struct field hook_fields[] = {
    { .name = "command", .kind = K_STRINGS, .offset = IN(review, hook_command), .count_offset = IN(review, hook_argc),
      .flags = F_ARGV, .convert = convert_command },
    { .name = "timeout", .kind = K_DURATION, .offset = IN(review, hook_timeout_ms), .def = 30 * SECOND_MS, .min = 1 },
};
static const struct schema hook_schema = { hook_fields, 2, NULL };

static const struct field review_fields[] = {
    { .name = "reviewers", .kind = K_STRINGS, .offset = IN(review, reviewers),
      .count_offset = IN(review, reviewer_count),
      .flags = F_UNIQUE, .convert = convert_user },
    { .name = "orchestrators", .kind = K_STRINGS, .offset = IN(review, orchestrators),
      .count_offset = IN(review, orchestrator_count), .flags = F_UNIQUE, .convert = convert_user },
    { .name = "operators", .kind = K_STRINGS, .offset = IN(review, operators),
      .count_offset = IN(review, operator_count), .flags = F_UNIQUE, .convert = convert_user },
    { .name = "hook", .kind = K_OBJECT, .offset = 0, .sub = &hook_schema },
};
static const struct schema review_schema = { review_fields, sizeof(review_fields) / sizeof(review_fields[0]), finish_review };

static const struct field retention_fields[] = {
    { .name = "quarantine", .kind = K_DURATION, .offset = IN(retention, quarantine_ms), .def = 7 * DAY_MS, .min = 1 },
};
static const struct schema retention_schema = { retention_fields, 1, NULL };

static const struct field clamav_fields[] = {
    { .name = "socket", .kind = K_STRING, .offset = IN(clamav, socket), .def_str = "/run/clamav/clamd.ctl",
      .convert = convert_socket_path },
    { .name = "timeout", .kind = K_DURATION, .offset = IN(clamav, timeout_ms), .def = 60 * SECOND_MS, .min = 1 },
    { .name = "connections", .kind = K_UINT, .offset = IN(clamav, connections), .def = 4, .min = 1, .max = 256 },
    { .name = "max_bytes", .kind = K_SIZE, .offset = IN(clamav, max_bytes), .def = 100 * MIB, .min = 1,
      .max = 4 * GIB - 1, .max_why = " (clamd's StreamMaxLength is below 4GiB)" },
};
static const struct schema clamav_schema = { clamav_fields, sizeof(clamav_fields) / sizeof(clamav_fields[0]), NULL };

static const struct field api_fields[] = {
    { .name = "socket", .kind = K_STRING, .offset = IN(api, socket), .def_str = "/run/sluice/api.sock",
      .convert = convert_socket_path },
    { .name = "socket_mode", .kind = K_MODE, .offset = IN(api, socket_mode), .def = 0660 },
    { .name = "metrics_listen", .kind = K_STRING, .offset = IN(api, metrics_listen), .convert = convert_listen },
};
static const struct schema api_schema = { api_fields, 3, NULL };

static const struct field attest_fields[] = {
    { .name = "signing_key", .kind = K_STRING, .offset = IN(attest, signing_key), .convert = convert_path },
    { .name = "trusted_keys", .kind = K_STRINGS, .offset = IN(attest, trusted_keys),
      .count_offset = IN(attest, trusted_key_count), .flags = F_UNIQUE, .convert = convert_path },
};
static const struct schema attest_schema = { attest_fields, 2, NULL };

static const struct field audit_fields[] = {
    { .name = "file", .kind = K_STRING, .offset = IN(audit, file), .flags = F_REQUIRED, .convert = convert_path },
    { .name = "commit_interval", .kind = K_DURATION, .offset = IN(audit, commit_interval_ms), .def = 10,
      .max = 60 * SECOND_MS, .max_why = " (the audit log is synced at least once a minute)" },
    { .name = "name", .kind = K_STRING, .offset = IN(audit, name), .def_str = "mover", .convert = convert_log_name },
    { .name = "ship_interval", .kind = K_DURATION, .offset = IN(audit, ship_interval_ms), .def = 30 * SECOND_MS,
      .min = 100, .max = HOUR_MS, .max_why = " (audit segments leave the host at least once an hour)" },
};
static const struct schema audit_schema = { audit_fields, 4, NULL };

static const struct field worker_fields[] = {
    { .name = "poll_interval", .kind = K_DURATION, .offset = IN(worker, poll_interval_ms), .def = 2 * SECOND_MS,
      .min = 1 },
    { .name = "poll_jitter", .kind = K_DURATION, .offset = IN(worker, poll_jitter_ms) },
    { .name = "concurrency", .kind = K_UINT, .offset = IN(worker, concurrency), .def = 32, .min = 1, .max = 10000 },
    { .name = "check_in_place", .kind = K_BOOL, .offset = IN(worker, check_in_place), .def = 1 },
};
static const struct schema worker_schema = { worker_fields, sizeof(worker_fields) / sizeof(worker_fields[0]),
                                             finish_worker };

static const struct field log_fields[] = {
    { .name = "level", .kind = K_ENUM, .offset = IN(log, level), .def = 1, .names = level_names, .set_enum = set_int },
    { .name = "format", .kind = K_ENUM, .offset = IN(log, json), .names = format_names, .set_enum = set_bool },
};
static const struct schema log_schema = { log_fields, 2, NULL };

static const struct field identities_fields[] = {
    { .name = "mover", .kind = K_STRING, .offset = IN(identities, mover), .flags = F_REQUIRED,
      .convert = convert_principal },
    { .name = "grants", .kind = K_STRING, .offset = IN(identities, grants), .flags = F_REQUIRED,
      .convert = convert_principal },
    { .name = "consumers", .kind = K_STRINGS, .offset = IN(identities, consumers),
      .count_offset = IN(identities, consumer_count), .flags = F_UNIQUE, .convert = convert_principal },
    { .name = "reviewers", .kind = K_STRINGS, .offset = IN(identities, reviewers),
      .count_offset = IN(identities, reviewer_count), .flags = F_UNIQUE, .convert = convert_principal },
    { .name = "vpc_endpoints", .kind = K_STRINGS, .offset = IN(identities, vpc_endpoints),
      .count_offset = IN(identities, vpc_endpoint_count), .flags = F_UNIQUE, .convert = convert_vpc_endpoint },
};
static const struct schema identities_schema = { identities_fields,
                                                 sizeof(identities_fields) / sizeof(identities_fields[0]),
                                                 finish_identities };

static const struct field root_fields[] = {
    { .name = "s3", .kind = K_OBJECT, .offset = offsetof(sl_config, s3), .sub = &s3_schema },
    { .name = "buckets", .kind = K_OBJECT, .offset = offsetof(sl_config, buckets), .sub = &buckets_schema },
    { .name = "grants", .kind = K_OBJECT, .offset = offsetof(sl_config, grants), .sub = &grants_schema },
    { .name = "routes", .kind = K_CUSTOM, .flags = F_REQUIRED, .parse = parse_routes },
    { .name = "review", .kind = K_OBJECT, .offset = offsetof(sl_config, review), .sub = &review_schema },
    { .name = "retention", .kind = K_OBJECT, .offset = offsetof(sl_config, retention), .sub = &retention_schema },
    { .name = "clamav", .kind = K_OBJECT, .offset = offsetof(sl_config, clamav), .sub = &clamav_schema },
    { .name = "api", .kind = K_OBJECT, .offset = offsetof(sl_config, api), .sub = &api_schema },
    { .name = "attest", .kind = K_OBJECT, .offset = offsetof(sl_config, attest), .sub = &attest_schema },
    { .name = "audit", .kind = K_OBJECT, .offset = offsetof(sl_config, audit), .sub = &audit_schema },
    { .name = "worker", .kind = K_OBJECT, .offset = offsetof(sl_config, worker), .sub = &worker_schema },
    { .name = "log", .kind = K_OBJECT, .offset = offsetof(sl_config, log), .sub = &log_schema },
    { .name = "identities", .kind = K_CUSTOM, .parse = parse_identities },
};
static const struct schema root_schema = { root_fields, sizeof(root_fields) / sizeof(root_fields[0]), NULL };

_Static_assert(sizeof(s3_fields) / sizeof(s3_fields[0]) <= MAX_FIELDS, "raise MAX_FIELDS");
_Static_assert(sizeof(root_fields) / sizeof(root_fields[0]) <= MAX_FIELDS, "raise MAX_FIELDS");
_Static_assert(sizeof(checks_fields) / sizeof(checks_fields[0]) <= MAX_FIELDS, "raise MAX_FIELDS");

/* ---------------------------------------------------------------------------------- */
/* Loading                                                                             */
/* ---------------------------------------------------------------------------------- */

static void free_strings(char **items, size_t count)
{
    if (items == NULL) return;
    for (size_t i = 0; i < count; i++) sl_free(items[i]);
    sl_free(items);
}

static void free_credentials(sl_config_credentials *c)
{
    sl_free(c->file);
    sl_free(c->profile);
}

void sl_config_free(sl_config *c)
{
    if (c == NULL) return;
    if (c->compiled_free != NULL) c->compiled_free(c->compiled);
    sl_free(c->path);
    sl_free(c->s3.endpoint);
    sl_free(c->s3.region);
    free_credentials(&c->s3.credentials);
    sl_free(c->s3.ca_file);
    sl_free(c->buckets.staging);
    sl_free(c->buckets.quarantine);
    sl_free(c->buckets.trusted);
    sl_free(c->buckets.control);
    sl_free(c->buckets.control_prefix);
    free_credentials(&c->grants.credentials);
    for (size_t i = 0; c->routes != NULL && i < c->route_count; i++) {
        sl_config_route *r = &c->routes[i];
        sl_free(r->name);
        sl_free(r->staging_prefix);
        sl_free(r->trusted_prefix);
        free_strings(r->checks.allow_types, r->checks.allow_type_count);
        free_strings(r->checks.deny_types, r->checks.deny_type_count);
        free_strings(r->checks.rules, r->checks.rule_count);
        free_strings(r->checks.rule_sets, r->checks.rule_set_count);
    }
    sl_free(c->routes);
    free_strings(c->review.reviewers, c->review.reviewer_count);
    free_strings(c->review.orchestrators, c->review.orchestrator_count);
    free_strings(c->review.operators, c->review.operator_count);
    free_strings(c->review.hook_command, c->review.hook_argc);
    sl_free(c->clamav.socket);
    sl_free(c->api.socket);
    sl_free(c->api.metrics_listen);
    sl_free(c->attest.signing_key);
    free_strings(c->attest.trusted_keys, c->attest.trusted_key_count);
    sl_free(c->audit.file);
    sl_free(c->audit.name);
    sl_free(c->identities.mover);
    sl_free(c->identities.grants);
    free_strings(c->identities.consumers, c->identities.consumer_count);
    free_strings(c->identities.reviewers, c->identities.reviewer_count);
    free_strings(c->identities.vpc_endpoints, c->identities.vpc_endpoint_count);
    sl_free(c);
}

void sl_config_errors_clean_up(sl_config_errors *errors)
{
    if (errors == NULL) return;
    for (size_t i = 0; i < errors->count; i++) {
        sl_free(errors->items[i].path);
        sl_free(errors->items[i].message);
    }
    sl_free(errors->items);
    *errors = (sl_config_errors){ 0 };
}

/* An absolute form of `dir`: its real path when it exists, else lexically absolute. */
static char *absolute_dir(const char *dir)
{
    char *real = realpath(dir, NULL);
    if (real != NULL) {
        char *copy = sl_strdup(real);
        free(real);
        return copy;
    }
    if (dir[0] == '/') return sl_strdup(dir);
    char *cwd = getcwd(NULL, 0);
    char *joined = resolve_path(cwd ? cwd : "/", dir);
    free(cwd);
    return joined;
}

/* Hands the loader's errors to the caller (or frees them) and builds the result. */
static sl_result finish_load(struct loader *ld, sl_error code, const char *name, sl_config_errors *errors)
{
    sl_result result = SL_SUCCESS;
    if (ld->count > 0) {
        const sl_config_error *e = &ld->items[0];
        if (e->line > 0)
            result = sl_error_raise(code, __FILE__, __LINE__, "%s:%d:%d: %s", name, e->line, e->column, e->message);
        else
            result = sl_error_raise(code, __FILE__, __LINE__, "%s: %zu error%s; the first: %s%s%s", name, ld->count,
                                    ld->count == 1 ? "" : "s", e->path, e->path[0] ? ": " : "", e->message);
    }
    sl_config_errors list = { .items = ld->items, .count = ld->count };
    if (errors != NULL)
        *errors = list;
    else
        sl_config_errors_clean_up(&list);
    ld->items = NULL;
    ld->count = ld->capacity = 0;
    sl_buf_clean_up(&ld->path);
    sl_free(ld->base_dir);
    return result;
}

/* Parses and validates `text`; the config is kept only when nothing was wrong. */
static sl_result load_text(struct loader *ld, const char *text, size_t len, const char *name, sl_config **out,
                           sl_config_errors *errors)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        add_error(ld, "", sl_strdup(jerr.text), jerr.line > 0 ? jerr.line : 1, jerr.column > 0 ? jerr.column : 1);
        sl_config_free(ld->config);
        ld->config = NULL;
        return finish_load(ld, SL_ERR_PARSE, name, errors);
    }
    must(sl_buf_reserve(&ld->path, 64));
    ld->path.data[0] = '\0';
    ld->review_clean = true;
    walk_object(ld, root, &root_schema, (uint8_t *)ld->config);
    if (json_is_object(root)) check_across_sections(ld);
    json_decref(root);
    if (ld->count > 0) {
        sl_config_free(ld->config);
        ld->config = NULL;
    }
    *out = ld->config;
    ld->config = NULL;
    return finish_load(ld, SL_ERR_INVALID_ARGUMENT, name, errors);
}

sl_result sl_config_load_string(const char *json, const char *base_dir, sl_config **out, sl_config_errors *errors)
{
    ENSURE(json != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "config: no text or no result pointer");
    *out = NULL;
    if (errors != NULL) *errors = (sl_config_errors){ 0 };
    struct loader ld = {
        .config = sl_calloc(1, sizeof(sl_config)),
        .base_dir = absolute_dir(base_dir ? base_dir : "."),
    };
    return load_text(&ld, json, strlen(json), "<string>", out, errors);
}

/* Reads at most CONFIG_FILE_MAX bytes; on error returns the message to report. */
static const char *read_config_file(const char *file, sl_buf *text, char *why, size_t why_size)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char reason[128];
        snprintf(why, why_size, "cannot open: %s", errno_text(errno, reason, sizeof(reason)));
        return why;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return "cannot open: Is a directory";
    }
    uint8_t chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            char reason[128];
            snprintf(why, why_size, "cannot read: %s", errno_text(errno, reason, sizeof(reason)));
            close(fd);
            return why;
        }
        if (n == 0) break;
        if (text->len + (size_t)n > CONFIG_FILE_MAX) {
            close(fd);
            return "cannot read: larger than 1MiB";
        }
        must(sl_buf_append(text, chunk, (size_t)n));
    }
    close(fd);
    must(sl_buf_reserve(text, 0));
    return NULL;
}

sl_result sl_config_load(const char *file, sl_config **out, sl_config_errors *errors)
{
    ENSURE(file != NULL && out != NULL, SL_ERR_INVALID_ARGUMENT, "config: no file name or no result pointer");
    *out = NULL;
    if (errors != NULL) *errors = (sl_config_errors){ 0 };

    struct loader ld = { 0 };
    sl_buf text = { 0 };
    char why[256];
    const char *failure = read_config_file(file, &text, why, sizeof(why));
    if (failure != NULL) {
        sl_buf_clean_up(&text);
        add_error(&ld, "", sl_strdup(failure), 0, 0);
        return finish_load(&ld, SL_ERR_IO, file, errors);
    }

    /* The folder the file sits in, resolved; the file's own name kept (a symbolic link
     * to the file does not move relative paths to the link's target). */
    const char *slash = strrchr(file, '/');
    char *dir = slash == NULL   ? sl_strdup(".")
                : slash == file ? sl_strdup("/")
                                : sl_strndup(file, (size_t)(slash - file));
    ld.base_dir = absolute_dir(dir);
    sl_free(dir);
    ld.config = sl_calloc(1, sizeof(sl_config));
    ld.config->path = resolve_path(ld.base_dir, slash ? slash + 1 : file);

    sl_result r = load_text(&ld, (const char *)text.data, text.len, file, out, errors);
    sl_buf_clean_up(&text);
    return r;
}

const sl_config_route *sl_config_route_for_key(const sl_config *config, const char *staging_key, size_t len)
{
    if (config == NULL || staging_key == NULL) return NULL;
    for (size_t i = 0; i < config->route_count; i++) {
        const char *prefix = config->routes[i].staging_prefix;
        size_t n = strlen(prefix);
        if (n <= len && memcmp(staging_key, prefix, n) == 0) return &config->routes[i];
    }
    return NULL;
}

const sl_config_route *sl_config_route_by_name(const sl_config *config, const char *name)
{
    if (config == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < config->route_count; i++)
        if (strcmp(config->routes[i].name, name) == 0) return &config->routes[i];
    return NULL;
}

int sl_config_check_command(const char *file, FILE *out, FILE *err)
{
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    if (sl_ok(sl_config_load(file, &config, &errors))) {
        fprintf(out, "OK: %s: %zu route%s (", file, config->route_count, config->route_count == 1 ? "" : "s");
        for (size_t i = 0; i < config->route_count; i++)
            fprintf(out, "%s%s", i ? ", " : "", config->routes[i].name);
        fprintf(out, ")\n");
        sl_config_free(config);
        sl_config_errors_clean_up(&errors);
        return 0;
    }
    const char *name = file ? file : "(no file)";
    for (size_t i = 0; i < errors.count; i++) {
        const sl_config_error *e = &errors.items[i];
        if (e->line > 0)
            fprintf(err, "%s:%d:%d: %s\n", name, e->line, e->column, e->message);
        else if (e->path[0] != '\0')
            fprintf(err, "%s: %s: %s\n", name, e->path, e->message);
        else
            fprintf(err, "%s: %s\n", name, e->message);
    }
    size_t n = errors.count;
    if (n == 0) { /* bad arguments: nothing collected */
        fprintf(err, "%s: %s\n", name, sl_error_detail());
        n = 1;
    }
    fprintf(err, "%zu error%s\n", n, n == 1 ? "" : "s");
    sl_config_errors_clean_up(&errors);
    return 1;
}
