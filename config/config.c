/*
 * config.c — loading and validating sluice's JSON configuration (contract: config.h,
 * every key: docs/configuration.md).
 *
 * How the parts fit: jansson parses the text (duplicate keys rejected), then one walker
 * (walk_object) descends the document driven by SCHEMA TABLES — one `struct field` per
 * key, with its kind, where it is stored, its default, its bounds and its documentation
 * (config_impl.h; the row format is described above the tables). The tables are the
 * single source of truth for what keys exist (an unknown key's error lists the table's
 * names), which are required, what their defaults are, and what docs/configuration.md
 * and sluice.json(5) say about them (config_doc.c generates their key tables). The walker visits an object's
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

#include "config/config_impl.h"
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

void sl_config_format_duration(uint64_t ms, char *out, size_t size)
{
    for (size_t i = sizeof(duration_units) / sizeof(duration_units[0]); i-- > 1;) {
        if (ms != 0 && ms % duration_units[i].factor == 0) {
            snprintf(out, size, "%llu%s", (unsigned long long)(ms / duration_units[i].factor), duration_units[i].name);
            return;
        }
    }
    snprintf(out, size, "%llums", (unsigned long long)ms);
}

void sl_config_format_size(uint64_t bytes, char *out, size_t size)
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

/* grants.sts.role_arn: a principal ARN that names a role (arn:…:iam::<account>:role/…). */
static char *convert_role_arn(struct loader *ld, const json_t *v, size_t index)
{
    char *arn = convert_principal(ld, v, index);
    if (arn != NULL && strstr(arn, ":role/") == NULL) {
        report_got(ld, v, "expected a role ARN such as \"arn:aws:iam::123456789012:role/sluice-task\" or, on radosgw, "
                          "\"arn:aws:iam:::role/sluice-task\"");
        sl_free(arn);
        return NULL;
    }
    return arn;
}

/* Text that goes into a policy Resource as written: "*" and "?" would be wildcards there,
 * "${" a policy variable. */
static bool has_policy_wildcard(const char *s) { return strpbrk(s, "*?") != NULL || strstr(s, "${") != NULL; }

/* routes[].reference.keys: an object key (1..1024 bytes, no control characters, not
 * starting with "/") that a policy can name exactly. */
static char *convert_reference_key(struct loader *ld, const json_t *v, size_t index)
{
    (void)index;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    if (len == 0 || len > 1024 || len != json_string_length(v) || has_control(s) || s[0] == '/') {
        report_got(ld, v, "expected an object key (1 to 1024 bytes, no control characters, not starting with \"/\")");
        return NULL;
    }
    if (has_policy_wildcard(s)) {
        report_got(ld, v, "expected a key without \"*\", \"?\" or \"${\" (a policy would read them as a wildcard or a "
                          "variable); list such keys under prefixes");
        return NULL;
    }
    return sl_strdup(s);
}

/* routes[].reference.prefixes: a prefix (the rules of convert_prefix) without wildcards. */
static char *convert_reference_prefix(struct loader *ld, const json_t *v, size_t index)
{
    char *prefix = convert_prefix(ld, v, index);
    if (prefix != NULL && has_policy_wildcard(prefix)) {
        report_got(ld, v, "expected a prefix without \"*\", \"?\" or \"${\" (a policy would read them as a wildcard or "
                          "a variable)");
        sl_free(prefix);
        return NULL;
    }
    return prefix;
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
    void (*format)(uint64_t, char *, size_t) = duration ? sl_config_format_duration : sl_config_format_size;
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
    sl_config_format_duration(c->grants.max_ttl_ms, max, sizeof(max));
    sl_config_format_duration(c->grants.default_ttl_ms, def, sizeof(def));
    size_t mark = path_push_key(ld, "default_ttl");
    const json_t *given = json_object_get(obj, "default_ttl");
    if (given != NULL)
        report_got(ld, given, "expected at most grants.max_ttl (\"%s\")", max);
    else
        report(ld, "expected at most grants.max_ttl (\"%s\"), got the default \"%s\" (set default_ttl)", max, def);
    path_pop(ld, mark);
}

/* grants.sts: an optional section whose role_arn is required once it is there. */
static void finish_sts(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)clean;
    sl_config *c = ld->config;
    (void)base;
    if (obj == NULL || !json_is_object(obj)) return;
    c->grants.sts.present = true;
    if (json_object_get(obj, "role_arn") == NULL) {
        size_t mark = path_push_key(ld, "role_arn");
        report(ld, "required (the role tasks' sessions assume, e.g. \"arn:aws:iam:::role/sluice-task\")");
        path_pop(ld, mark);
    }
}

/* routes[].reference: an optional section; once there, a bucket and at least one key or
 * prefix. */
static void finish_reference(struct loader *ld, const json_t *obj, void *base, bool clean)
{
    (void)clean;
    sl_config_reference *r = base;
    if (obj == NULL || !json_is_object(obj)) return;
    r->present = true;
    if (json_object_get(obj, "bucket") == NULL) {
        size_t mark = path_push_key(ld, "bucket");
        report(ld, "required (the bucket that holds the reference objects)");
        path_pop(ld, mark);
    }
    if (json_object_get(obj, "keys") == NULL && json_object_get(obj, "prefixes") == NULL)
        report(ld, "expected \"keys\" or \"prefixes\" (or both): the objects the route's tasks may read");
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
        sl_config_format_duration(c->worker.poll_interval_ms, interval, sizeof(interval));
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
        { "administrators", (const char *const *)c->identities.administrators, c->identities.administrator_count,
          NULL },
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
    /* STS grants and reference reads (mover/tasks): what a route asks for must exist. */
    for (size_t i = 0; i < c->route_count; i++) {
        const sl_config_route *r = &c->routes[i];
        size_t mark = path_push_key(ld, "routes");
        (void)path_push_index(ld, i);
        if (r->sts && !c->grants.sts.present) {
            (void)path_push_key(ld, "sts");
            report(ld, "true needs grants.sts (the role tasks' STS sessions assume)");
        } else if (r->reference.present && r->reference.bucket != NULL) {
            const char *own[4] = { c->buckets.staging, c->buckets.quarantine, c->buckets.trusted, c->buckets.control };
            for (int b = 0; b < 4; b++) {
                if (own[b] == NULL || strcmp(own[b], r->reference.bucket) != 0) continue;
                (void)path_push_key(ld, "reference");
                (void)path_push_key(ld, "bucket");
                json_t *j = json_string(r->reference.bucket);
                report_got(ld, j, "expected a bucket of its own, not one of sluice's buckets (their policies deny "
                                  "tasks every read)");
                json_decref(j);
                break;
            }
        }
        path_pop(ld, mark);
    }
    if (c->grants.sts.present && c->grants.sts.role_arn != NULL && c->identities.present && c->identities.mover != NULL) {
        const char *role = c->grants.sts.role_arn, *mover = c->identities.mover;
        size_t n = arn_partition(mover + 4);
        if (n == 0 || strncmp(role + 4, mover + 4, n) != 0 || role[4 + n] != ':') {
            size_t mark = path_push_key(ld, "grants");
            (void)path_push_key(ld, "sts");
            (void)path_push_key(ld, "role_arn");
            json_t *j = json_string(role);
            report_got(ld, j, "expected an ARN in the partition \"%.*s\" of identities.mover", (int)n, mover + 4);
            json_decref(j);
            path_pop(ld, mark);
        }
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

/* ---- the tables ----
 *
 * ROW FORMAT (every key of the file is one row; docs/configuration.md's key tables and
 * the sluice.json(5) manual page are generated from these rows, and two ctests keep
 * them honest — config_doc_current: the documents equal what the rows generate;
 * config_keys_read: the code outside config/ reads every key's member somewhere):
 *
 *   { .name = "max_in_flight", .kind = K_UINT, STORED_IN(s3, max_in_flight),
 *     .def = 64, .min = 1, .max = 10000,
 *     .doc = "S3 requests in flight at once." },
 *
 *   STORED_IN(section, member)  where a key of a section of sl_config is stored (also
 *                               names the member for config_keys_read)
 *   STORED_AT(type, member)     the same for structs reached through an array or a
 *                               pointer (sl_config_route, sl_config_checks, ...)
 *   .doc          REQUIRED: what the key means and how it is checked, in the Markdown
 *                 subset of config_impl.h (`code`, **bold**, [text](#anchor))
 *   .doc_type     the "type" column, when the kind does not say it (strings, lists:
 *                 "path", "bucket name", "array of MIME types"); derived otherwise
 *                 ("integer 1–10000", "duration > 0", `"a"` | `"b"`)
 *   .doc_default  the "default" column when def/def_str cannot say it ("the
 *                 environment", "none (off)"); derived otherwise
 *   .reads        an extended regex for the code that reads the value, when the one
 *                 derived from the member name cannot find it
 *   A new section: a `struct schema` with SCHEMA(fields, finish, "name"), a row in its
 *   parent, and a `<!-- generated: name -->` ... `<!-- end generated: name -->` block in
 *   docs/configuration.md and `.\" generated: name` ... `.\" end generated: name` in
 *   docs/man/sluice.json.5 (the generator fills them).
 *   After changing rows: `build/tests/gen-config-doc --write docs/configuration.md
 *   docs/man/sluice.json.5`.
 */

#define IN(section, member) (offsetof(sl_config, section.member) - offsetof(sl_config, section))
#define STORED_IN(section, member) .offset = IN(section, member), .c_name = #section "." #member
#define STORED_AT(type, member) .offset = offsetof(type, member), .c_name = #member
/* The field count, refused at compile time above MAX_FIELDS (walk_object's `seen`). */
#define FIELD_COUNT(f) (sizeof(f) / sizeof((f)[0]) + 0 * sizeof(char[sizeof(f) / sizeof((f)[0]) <= MAX_FIELDS ? 1 : -1]))
#define SCHEMA(fields, finish, doc_name) { fields, FIELD_COUNT(fields), finish, doc_name }

static const char *const addressing_names[] = { "path", "virtual", NULL };
static const char *const review_names[] = { "auto", "human", "two-person", "hook", NULL };
static const char *const on_error_names[] = { "block", "review", NULL };
static const char *const embedded_names[] = { "block", "review", "ignore", NULL };
static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const format_names[] = { "text", "json", NULL };

static const struct field credentials_fields[] = {
    { .name = "file", .kind = K_STRING, STORED_AT(sl_config_credentials, file), .convert = convert_path,
      .doc_type = "path", .doc_default = "the environment",
      .doc = "An AWS shared credentials file (`[profile]` sections with `aws_access_key_id`, "
             "`aws_secret_access_key` and optionally `aws_session_token`, as the AWS CLI writes them), read when "
             "the daemon starts. Without it, the environment of the daemon's process: `AWS_ACCESS_KEY_ID`, "
             "`AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`." },
    { .name = "profile", .kind = K_STRING, STORED_AT(sl_config_credentials, profile), .convert = convert_profile,
      .doc_default = "`\"default\"` with a `file`",
      .doc = "The profile (section) of `file`. No `[`, `]`, control characters or outer spaces. Only together "
             "with `file`: a profile without a file is an error (it would be ignored)." },
};
static const struct schema credentials_schema = SCHEMA(credentials_fields, finish_credentials, "credentials");

static const struct field s3_fields[] = {
    { .name = "endpoint", .kind = K_STRING, STORED_IN(s3, endpoint), .flags = F_REQUIRED,
      .convert = convert_endpoint,
      .doc = "`http://host[:port]` or `https://host[:port]`: a host name, an IPv4 address or `[IPv6]`, and a port "
             "1–65535. No path, query, fragment, trailing `/` or user info. AWS: "
             "`https://s3.<region>.amazonaws.com`." },
    { .name = "region", .kind = K_STRING, STORED_IN(s3, region), .def_str = "us-east-1", .convert = convert_region,
      .doc = "The SigV4 signing region (radosgw: its zonegroup name). 1–64 letters, digits, `-`, `_`, `.`." },
    { .name = "addressing", .kind = K_ENUM, STORED_IN(s3, virtual_hosted), .names = addressing_names,
      .set_enum = set_bool,
      .doc = "Path style (`https://host/bucket/key`) or virtual-hosted style (`https://bucket.host/key`). With "
             "`\"virtual\"` and an `https` endpoint, bucket names must not contain `.` (the service's wildcard "
             "certificate cannot match them)." },
    { .name = "credentials", .kind = K_OBJECT, STORED_IN(s3, credentials), .sub = &credentials_schema,
      .doc_default = "the environment",
      .doc = "The mover's own identity: `{\"file\": path, \"profile\": string}`; see "
             "[credentials](#where-credentials-come-from)." },
    { .name = "ca_file", .kind = K_STRING, STORED_IN(s3, ca_file), .convert = convert_path, .doc_type = "path",
      .doc_default = "the system's CAs", .doc = "PEM bundle to verify the endpoint's certificate with." },
    { .name = "verify_tls", .kind = K_BOOL, STORED_IN(s3, verify_tls), .def = 1,
      .doc = "Verify the endpoint's certificate and host name. Turn off only for a test server." },
    { .name = "max_in_flight", .kind = K_UINT, STORED_IN(s3, max_in_flight), .def = 64, .min = 1, .max = 10000,
      .doc = "S3 requests in flight at once." },
    { .name = "connect_timeout", .kind = K_DURATION, STORED_IN(s3, connect_timeout_ms), .def = 5 * SECOND_MS,
      .min = 1, .doc = "Time to connect (TCP and TLS)." },
    { .name = "first_byte_timeout", .kind = K_DURATION, STORED_IN(s3, first_byte_timeout_ms),
      .def = 30 * SECOND_MS, .min = 1,
      .doc = "Time from sending a request to the first byte of the response." },
    { .name = "max_attempts", .kind = K_UINT, STORED_IN(s3, max_attempts), .def = 100, .min = 1, .max = 1000,
      .doc = "Attempts per request, the first included (retries use full-jitter backoff, 100 ms doubling to at "
             "most 5 s)." },
    { .name = "retry_budget", .kind = K_DURATION, STORED_IN(s3, retry_budget_ms), .def = 30 * SECOND_MS,
      .min = 1, .max = 3600 * SECOND_MS,
      .doc = "Time within which a failed request may be tried again: no retry starts later than this after the "
             "first attempt. Throttling (503 SlowDown) and a paused server come in spells of seconds, so the "
             "budget is one of time; `max_attempts` only caps the count. A request that runs out of both fails; "
             "the artifact it belonged to waits where its bytes are and is tried again later, or ends `failed` "
             "(never `blocked`). The same budget bounds the control-plane requests: an STS AssumeRole for a task's "
              "credentials (the task open waits for it, then answers 503) and `policy --check`'s reads." },
    { .name = "multipart_threshold", .kind = K_SIZE, STORED_IN(s3, multipart_threshold), .def = 5 * GIB, .min = 1,
      .max = 5 * GIB, .max_why = " (a single CopyObject stops at 5GiB)",
      .doc = "Objects above this size are copied with a multipart copy (UploadPartCopy); a single CopyObject "
             "stops at 5 GiB." },
    { .name = "multipart_part_size", .kind = K_SIZE, STORED_IN(s3, multipart_part_size), .def = 512 * MIB,
      .min = 5 * MIB, .max = 5 * GIB, .max_why = " (the S3 limits for a part)",
      .doc = "Part size of multipart copies (S3's limits for a part)." },
};
static const struct schema s3_schema = SCHEMA(s3_fields, NULL, "s3");

static const struct field buckets_fields[] = {
    { .name = "staging", .kind = K_STRING, STORED_IN(buckets, staging), .flags = F_REQUIRED,
      .convert = convert_bucket, .doc_type = "bucket name", .doc = "Where interpreters PUT through grants." },
    { .name = "quarantine", .kind = K_STRING, STORED_IN(buckets, quarantine), .flags = F_REQUIRED,
      .convert = convert_bucket, .doc_type = "bucket name",
      .doc = "The mover's copies under `q/<route>/<task>/<artifact>/<name>`, immutable once written." },
    { .name = "trusted", .kind = K_STRING, STORED_IN(buckets, trusted), .flags = F_REQUIRED,
      .convert = convert_bucket, .doc_type = "bucket name", .doc = "Approved objects, for consumers." },
    { .name = "control", .kind = K_STRING, STORED_IN(buckets, control), .convert = convert_bucket,
      .doc_type = "bucket name", .doc_default = "the quarantine bucket",
      .doc = "Tasks, manifests, audit segments, leases, under `control_prefix`." },
    { .name = "control_prefix", .kind = K_STRING, STORED_IN(buckets, control_prefix), .def_str = "sluice/",
      .convert = convert_prefix, .doc_type = "prefix",
      .doc = "See the prefix rules under `routes`. When the control bucket is the quarantine bucket it must not "
             "start with `q/` (the quarantine keys)." },
};
static const struct schema buckets_schema = SCHEMA(buckets_fields, finish_buckets, "buckets");

#define STS_AT(member) .offset = IN(grants, sts.member) - IN(grants, sts), .c_name = "sts." #member
static const struct field sts_fields[] = {
    { .name = "role_arn", .kind = K_STRING, STS_AT(role_arn), .convert = convert_role_arn, .doc_type = "role ARN",
      .doc_default = "required in the section",
      .doc = "The role the sessions assume: a principal ARN of the form "
             "`arn:<partition>:iam::<account>:role/[path/]name` (`arn:aws:iam:::role/sluice-task` on radosgw). Its "
             "trust and permission policies come from `sluice-mover policy --task-role trust|permissions` "
             "([policies.md](policies.md#the-task-role-sts)). In the mover's partition when `identities` is there." },
    { .name = "endpoint", .kind = K_STRING, STS_AT(endpoint), .convert = convert_endpoint,
      .doc_type = "`http(s)://host[:port]`", .doc_default = "`s3.endpoint`",
      .doc = "The STS endpoint: radosgw serves STS on its S3 port; on AWS `https://sts.<region>.amazonaws.com`." },
    { .name = "region", .kind = K_STRING, STS_AT(region), .convert = convert_region, .doc_type = "region",
      .doc_default = "`s3.region`", .doc = "The SigV4 region of STS requests." },
    { .name = "max_session", .kind = K_DURATION, STS_AT(max_session_ms), .def = HOUR_MS, .min = 15 * MINUTE_MS,
      .max = 12 * HOUR_MS, .max_why = " (STS sessions last 15 minutes to 12 hours)",
      .doc = "The role's maximum session duration (its `MaxSessionDuration`): an STS task's TTL may not be "
             "longer." },
    { .name = "source_identity", .kind = K_BOOL, STS_AT(source_identity),
      .doc = "Also send the task id as `SourceIdentity` (AWS records it in CloudTrail with every request of the "
             "session; the trust policy must then allow `sts:SetSourceIdentity`). radosgw 16 ignores it." },
};
#undef STS_AT
static const struct schema sts_schema = SCHEMA(sts_fields, finish_sts, "grants.sts");

static const struct field grants_fields[] = {
    { .name = "credentials", .kind = K_OBJECT, STORED_IN(grants, credentials), .sub = &credentials_schema,
      .doc_default = "the environment",
      .doc = "The identity that signs grants; see [credentials](#where-credentials-come-from)." },
    { .name = "default_ttl", .kind = K_DURATION, STORED_IN(grants, default_ttl_ms), .def = 15 * MINUTE_MS,
      .min = 1,
      .doc = "Lifetime of a grant when the task does not ask for one. At most `max_ttl` (when `max_ttl` is "
             "lowered below 15 minutes, set this too)." },
    { .name = "max_ttl", .kind = K_DURATION, STORED_IN(grants, max_ttl_ms), .def = 4 * HOUR_MS, .min = 1,
      .max = SL_CONFIG_MAX_GRANT_TTL_MS, .max_why = " (the longest a SigV4 presigned URL can live)",
      .doc = "The longest a task may ask for. 7 days is the longest a SigV4 presigned URL can live." },
    { .name = "sts", .kind = K_OBJECT, STORED_IN(grants, sts), .sub = &sts_schema,
      .doc_default = "absent (no STS)", .doc = "STS credentials for tasks; see `grants.sts`." },
};
static const struct schema grants_schema = SCHEMA(grants_fields, finish_grants, "grants");

#define EMBEDDED(field, def_index, what)                                                                     \
    { .name = #field, .kind = K_ENUM, .offset = offsetof(sl_config_checks, embedded.field) -                  \
                                                offsetof(sl_config_checks, embedded),                         \
      .c_name = "embedded." #field, .names = embedded_names, .set_enum = set_embedded, .def = def_index,       \
      .doc = what }
static const struct field embedded_fields[] = {
    EMBEDDED(executable, SL_EMBEDDED_BLOCK, "ELF, PE and Mach-O executables."),
    EMBEDDED(archive, SL_EMBEDDED_BLOCK, "ZIP (local and central headers), gzip, xz, 7z, RAR, bzip2."),
    EMBEDDED(script, SL_EMBEDDED_REVIEW, "A `#!` interpreter line at the start of a line."),
    EMBEDDED(html, SL_EMBEDDED_REVIEW,
             "`<script`, `<html`, `<!doctype html`, `<iframe`, `<object`, `<embed`, `<svg`, `<?php`."),
    EMBEDDED(trailing, SL_EMBEDDED_REVIEW,
             "Bytes after a PNG `IEND`, JPEG EOI, ZIP end of central directory, or more than whitespace after a "
             "PDF's last `%%EOF` (for objects of that type)."),
};
#undef EMBEDDED
static const struct schema embedded_schema = SCHEMA(embedded_fields, NULL, "routes[].checks.embedded");

#define ARCHIVES(member)                                                                                     \
    .offset = offsetof(sl_config_checks, archives.member) - offsetof(sl_config_checks, archives),                 \
    .c_name = "archives." #member
static const struct field archives_fields[] = {
    { .name = "max_bytes", .kind = K_SIZE, ARCHIVES(max_bytes), .def = GIB, .min = 1,
      .doc = "Archives are spooled to a temporary file (`TMPDIR`, else `/tmp`) while they are read; a larger "
             "archive is not inspected and never passes." },
    { .name = "max_depth", .kind = K_UINT, ARCHIVES(max_depth), .def = 3, .min = 1, .max = 16,
      .doc = "Levels of archives: the object is level 1. A member archive deeper than this is unscannable." },
    { .name = "max_members", .kind = K_UINT, ARCHIVES(max_members), .def = 10000, .min = 1, .max = 10000000,
      .doc = "Members in all, at every level." },
    { .name = "max_expanded_bytes", .kind = K_SIZE, ARCHIVES(max_expanded_bytes), .def = 4 * GIB, .min = 1,
      .doc = "Members' bytes in all, at every level." },
    { .name = "max_ratio", .kind = K_UINT, ARCHIVES(max_ratio), .def = 100, .min = 1, .max = 100000,
      .doc = "Expanded bytes against the archive's own bytes (the first MiB is always allowed): above it the "
             "archive is a decompression bomb. A member whose declared size already breaks this or "
             "`max_expanded_bytes` is refused before a byte of it is expanded." },
};
#undef ARCHIVES
static const struct schema archives_schema = SCHEMA(archives_fields, NULL, "routes[].checks.archives");

#define YARA_AT(member)                                                                                      \
    .offset = offsetof(sl_config_checks, yara.member) - offsetof(sl_config_checks, yara), .c_name = "yara." #member
static const struct field yara_fields[] = {
    { .name = "max_bytes", .kind = K_SIZE, YARA_AT(max_bytes), .def = GIB, .min = 1,
      .doc = "YARA reads an object whole: its bytes (and each archive member's) are held in memory up to 256 KiB "
             "and beyond that spooled to a temporary file (`TMPDIR`, else `/tmp`) while they are read, and scanned "
             "after the last one. A larger object or member is not scanned and never passes (an `error` finding)." },
    { .name = "timeout", .kind = K_DURATION, YARA_AT(timeout_ms), .def = 60 * SECOND_MS, .min = 1,
      .doc = "One YARA scan, from the last byte to the verdict (libyara counts whole seconds: rounded up). "
             "A scan that takes longer is an `error` finding." },
};
#undef YARA_AT
static const struct schema yara_schema = SCHEMA(yara_fields, NULL, "routes[].checks.yara");

static const struct field checks_fields[] = {
    { .name = "max_bytes", .kind = K_SIZE, STORED_AT(sl_config_checks, max_bytes), .def = 100 * MIB, .min = 1,
      .doc = "Larger objects are blocked." },
    { .name = "allow_types", .kind = K_STRINGS, STORED_AT(sl_config_checks, allow_types),
      .count_offset = offsetof(sl_config_checks, allow_type_count), .flags = F_UNIQUE, .convert = convert_mime,
      .doc_type = "array of MIME types",
      .doc = "Types detected by content (libmagic) that may pass. Empty: any type that is not denied." },
    { .name = "deny_types", .kind = K_STRINGS, STORED_AT(sl_config_checks, deny_types),
      .count_offset = offsetof(sl_config_checks, deny_type_count), .flags = F_UNIQUE, .convert = convert_mime,
      .doc_type = "array of MIME types",
      .doc = "Types that never pass; denial wins over an allowing wildcard (`\"text/*\"` allowed, "
             "`\"text/x-shellscript\"` denied). A type may not be listed in both." },
    { .name = "check_extension", .kind = K_BOOL, STORED_AT(sl_config_checks, check_extension), .def = 1,
      .doc = "Compare the name's extension and the declared Content-Type with the detected type; a mismatch is "
             "a finding." },
    { .name = "max_key_length", .kind = K_UINT, STORED_AT(sl_config_checks, max_key_length), .def = 1024,
      .min = 1, .max = 1024, .doc = "Bytes of the whole staging key (S3 keys stop at 1024)." },
    { .name = "max_depth", .kind = K_UINT, STORED_AT(sl_config_checks, max_depth), .def = 8, .min = 1,
      .max = 512, .doc = "`/`-separated segments below the task." },
    { .name = "max_metadata_bytes", .kind = K_SIZE, STORED_AT(sl_config_checks, max_metadata_bytes),
      .flags = F_U32, .def = 2048, .min = 0, .max = 64 * KIB,
      .doc = "User metadata, names and values together (AWS allows 2 KiB)." },
    { .name = "on_error", .kind = K_ENUM, STORED_AT(sl_config_checks, on_error), .names = on_error_names,
      .set_enum = set_on_error,
      .doc = "What happens when a check cannot finish (timeout, limit, error): the artifact is blocked, or goes "
             "to a person — never to automatic approval." },
    { .name = "clamav", .kind = K_BOOL, STORED_AT(sl_config_checks, clamav),
      .doc = "Every object is also scanned by ClamAV's daemon (the top-level `clamav` section says where; "
             "`docs/checks.md` \"Malware: ClamAV\"). A signature found is a `fail` finding naming it; clamd down, a "
             "timeout, clamd's size limit or an answer sluice does not understand is an `error` finding "
             "(`on_error` decides). The daemon does not start when such a route's clamd cannot be reached." },
    { .name = "rules", .kind = K_STRINGS, STORED_AT(sl_config_checks, rules),
      .count_offset = offsetof(sl_config_checks, rule_count), .flags = F_UNIQUE, .convert = convert_rules_file,
      .doc_type = "array of paths",
      .doc = "Rules files. Files named `*.json` are rule sets in sluice's own format (secrets and control-plane "
             "content; `docs/checks.md` \"Rules\"), compiled when the daemon starts or reloads; "
             "`config/rules/default.json` is the project's default set. Any other file is YARA rules (`*.yar`; "
             "`docs/checks.md` \"YARA\"), compiled with libyara at start and reload: a rule that does not compile "
             "names the file and line, and the daemon does not start (a reload keeps the old rules); every object "
             "and archive member is scanned, a matching rule is a `fail` finding naming it. Each must exist and be "
             "readable when the file is loaded." },
    { .name = "embedded", .kind = K_OBJECT, STORED_AT(sl_config_checks, embedded), .sub = &embedded_schema,
      .doc_default = "see below",
      .doc = "What the embedded-content scan does with each kind it finds past the start of the object "
             "(`docs/checks.md` \"Embedded content\"); see `routes[].checks.embedded`." },
    { .name = "archives", .kind = K_OBJECT, STORED_AT(sl_config_checks, archives), .sub = &archives_schema,
      .doc_default = "see below",
      .doc = "Bounds of the inspection of archives' members (`docs/checks.md` \"Archives\"); see "
             "`routes[].checks.archives`." },
    { .name = "yara", .kind = K_OBJECT, STORED_AT(sl_config_checks, yara), .sub = &yara_schema,
      .doc_default = "see below",
      .doc = "Bounds of the YARA scan of a route with YARA files in `rules` (`docs/checks.md` \"YARA\"); see "
             "`routes[].checks.yara`." },
};
static const struct schema checks_schema = SCHEMA(checks_fields, finish_checks, "routes[].checks");

static const struct field reference_fields[] = {
    { .name = "bucket", .kind = K_STRING, STORED_AT(sl_config_reference, bucket), .convert = convert_bucket,
      .doc_type = "bucket name", .doc_default = "required in the section",
      .doc = "The bucket that holds the reference objects; not one of `buckets.*` (their policies deny tasks "
             "every read)." },
    { .name = "keys", .kind = K_STRINGS, STORED_AT(sl_config_reference, keys),
      .count_offset = offsetof(sl_config_reference, key_count), .flags = F_UNIQUE, .convert = convert_reference_key,
      .doc_type = "array of object keys",
      .doc = "Exact keys: 1–1024 bytes, no control characters, not starting with `/`, no `*`, `?` or `${` (a "
             "policy would read them as a wildcard or variable). Each listed once." },
    { .name = "prefixes", .kind = K_STRINGS, STORED_AT(sl_config_reference, prefixes),
      .count_offset = offsetof(sl_config_reference, prefix_count), .flags = F_UNIQUE,
      .convert = convert_reference_prefix, .doc_type = "array of prefixes",
      .doc = "Every key under these; each a prefix (the rules below, ending with `/`) without `*`, `?` or `${`. At "
             "least one key or prefix in all." },
};
static const struct schema reference_schema = SCHEMA(reference_fields, finish_reference, "routes[].reference");

static const struct field route_fields[] = {
    { .name = "name", .kind = K_STRING, STORED_AT(sl_config_route, name), .flags = F_REQUIRED,
      .convert = convert_route_name,
      .doc = "`[a-z0-9][a-z0-9_-]{0,63}`; unique among routes. Tasks name their route by it." },
    { .name = "staging_prefix", .kind = K_STRING, STORED_AT(sl_config_route, staging_prefix),
      .flags = F_REQUIRED, .convert = convert_prefix, .doc_type = "prefix",
      .doc = "Staging keys are `<staging_prefix><task-id>/<name>`. No route's staging prefix may be a prefix of "
             "another's (`\"reports/\"` and `\"reports/daily/\"` overlap; `\"reports/\"` and "
             "`\"reports-daily/\"` do not)." },
    { .name = "trusted_prefix", .kind = K_STRING, STORED_AT(sl_config_route, trusted_prefix),
      .flags = F_REQUIRED, .convert = convert_prefix, .doc_type = "prefix",
      .doc = "Promoted objects are `<trusted_prefix><task-id>/<name>` in the trusted bucket. The same "
             "non-overlap rule between routes." },
    { .name = "review", .kind = K_ENUM, STORED_AT(sl_config_route, review), .names = review_names,
      .set_enum = set_review,
      .doc = "`auto`: approved when every check passes. `human`: a reviewer decides (needs at least one name in "
             "`review.reviewers`). `two-person`: two different reviewers approve (needs at least two). `hook`: "
             "`review.hook.command` answers approve, reject or review (needs the command)." },
    { .name = "review_ttl", .kind = K_DURATION, STORED_AT(sl_config_route, review_ttl_ms), .def = 24 * HOUR_MS,
      .min = 1, .doc = "An artifact still waiting for review after this becomes `expired`." },
    { .name = "require_task", .kind = K_BOOL, STORED_AT(sl_config_route, require_task), .def = 1,
      .doc = "Objects must belong to a task opened through the API (`POST /v1/tasks`) that was open when they "
             "were uploaded; anything else is rejected and deleted from staging. `false` admits any "
             "`<task>/<name>` key — only for uploaders that hold credentials of their own (the pipeline's tests, "
             "a trusted batch system), never for interpreters." },
    { .name = "sts", .kind = K_BOOL, STORED_AT(sl_config_route, sts), .def = 0,
      .doc = "Tasks of this route may get STS credentials (`\"grant\": \"sts\"` when opened). Needs `grants.sts`." },
    { .name = "reference", .kind = K_OBJECT, STORED_AT(sl_config_route, reference), .sub = &reference_schema,
      .doc_default = "absent",
      .doc = "Reference data the route's tasks may read; see `routes[].reference`." },
    { .name = "checks", .kind = K_OBJECT, STORED_AT(sl_config_route, checks), .sub = &checks_schema,
      .doc_default = "all defaults", .doc = "The route's content checks; see `routes[].checks`." },
};
static const struct schema route_schema = SCHEMA(route_fields, NULL, "routes[]");

static const struct field hook_fields[] = {
    { .name = "command", .kind = K_STRINGS, STORED_IN(review, hook_command), .count_offset = IN(review, hook_argc),
      .flags = F_ARGV, .convert = convert_command, .doc_type = "array of strings, at least one",
      .doc_default = "none",
      .doc = "The review hook: argv, run without a shell. `command[0]` is a path (absolute, or relative to the "
             "configuration's folder) when it contains a `/`, else a program name looked up in `PATH`. The hook is "
             "given the artifact's id and SHA-256 (environment and stdin) and must answer exactly one JSON object "
             "naming both, with approve, reject or review; any other answer means a person decides, and its "
             "process group is ended with its answer. `docs/hooks.md` has the protocol and two example hooks." },
    { .name = "timeout", .kind = K_DURATION, STORED_IN(review, hook_timeout_ms), .def = 30 * SECOND_MS, .min = 1,
      .doc = "A hook that has not answered by then counts as \"review\" (a person decides)." },
};
static const struct schema hook_schema = SCHEMA(hook_fields, NULL, NULL);

static const struct field review_fields[] = {
    { .name = "reviewers", .kind = K_STRINGS, STORED_IN(review, reviewers),
      .count_offset = IN(review, reviewer_count), .flags = F_UNIQUE, .convert = convert_user,
      .doc_type = "array of OS user names",
      .doc = "Who may approve and reject, identified by the peer credentials of the daemon's socket. Nobody may "
             "decide on an artifact of a task they opened." },
    { .name = "orchestrators", .kind = K_STRINGS, STORED_IN(review, orchestrators),
      .count_offset = IN(review, orchestrator_count), .flags = F_UNIQUE, .convert = convert_user,
      .doc_type = "array of OS user names", .doc = "Who may open and close tasks." },
    { .name = "operators", .kind = K_STRINGS, STORED_IN(review, operators),
      .count_offset = IN(review, operator_count), .flags = F_UNIQUE, .convert = convert_user,
      .doc_type = "array of OS user names",
      .doc = "Who may send a `failed` artifact back to be checked again (`sluice-review retry`, "
             "`POST /v1/artifacts/{id}/retry`), and check an artifact in review again with the rules and "
             "signatures in force (`sluice-review recheck`, `POST /v1/artifacts/{id}/recheck`)." },
    { .name = "hook", .kind = K_OBJECT, .offset = 0, .sub = &hook_schema, .doc = "The review hook." },
};
static const struct schema review_schema = SCHEMA(review_fields, finish_review, "review");

static const struct field retention_fields[] = {
    { .name = "quarantine", .kind = K_DURATION, STORED_IN(retention, quarantine_ms), .def = 7 * DAY_MS, .min = 1,
      .doc = "How long quarantine copies of blocked, rejected and expired artifacts are kept before they are "
             "purged." },
};
static const struct schema retention_schema = SCHEMA(retention_fields, NULL, "retention");

static const struct field clamav_fields[] = {
    { .name = "socket", .kind = K_STRING, STORED_IN(clamav, socket), .def_str = "/run/clamav/clamd.ctl",
      .convert = convert_socket_path, .doc_type = "path",
      .doc = "clamd's `LocalSocket` (the default is Debian's clamd), absolute or relative to the configuration's "
             "folder; at most 107 bytes once resolved." },
    { .name = "timeout", .kind = K_DURATION, STORED_IN(clamav, timeout_ms), .def = 60 * SECOND_MS, .min = 1,
      .doc = "How long a scan may wait: for a connection, for clamd to take more bytes, and for its answer after "
             "the last byte. A scan that waits longer fails (`error` finding)." },
    { .name = "connections", .kind = K_UINT, STORED_IN(clamav, connections), .def = 4, .min = 1, .max = 256,
      .doc = "Idle clamd sessions (IDSESSION) kept open between scans; a scan that finds none opens one, and "
             "scans never wait for each other." },
    { .name = "max_bytes", .kind = K_SIZE, STORED_IN(clamav, max_bytes), .def = 100 * MIB, .min = 1,
      .max = 4 * GIB - 1, .max_why = " (clamd's StreamMaxLength is below 4GiB)",
      .doc = "Larger objects are not sent to clamd and get an `error` finding (unscannable, never a pass). Keep "
             "it at most clamd's `StreamMaxLength` (above it clamd answers \"INSTREAM size limit exceeded\", also "
             "an `error`)." },
};
static const struct schema clamav_schema = SCHEMA(clamav_fields, NULL, "clamav");

static const struct field api_fields[] = {
    { .name = "socket", .kind = K_STRING, STORED_IN(api, socket), .def_str = "/run/sluice/api.sock",
      .convert = convert_socket_path, .doc_type = "path",
      .doc = "The Unix socket of the API (HTTP/1.1 + JSON). At most 107 bytes once resolved (the limit of a Unix "
             "socket address)." },
    { .name = "socket_mode", .kind = K_MODE, STORED_IN(api, socket_mode), .def = 0660,
      .doc = "Permissions of the socket: three or four octal digits (`\"660\"`, `\"0660\"`), at most `\"0777\"`. "
             "A JSON number (`660`) is an error: it would not be octal." },
    { .name = "metrics_listen", .kind = K_STRING, STORED_IN(api, metrics_listen), .convert = convert_listen,
      .doc_type = "`\"host:port\"`", .doc_default = "none (off)",
      .doc = "Where `/metrics` (Prometheus text) listens: `\"127.0.0.1:9464\"`, `\"[::1]:9464\"`, "
             "`\"0.0.0.0:9464\"`. The host is required." },
};
static const struct schema api_schema = SCHEMA(api_fields, NULL, "api");

static const struct field attest_fields[] = {
    { .name = "signing_key", .kind = K_STRING, STORED_IN(attest, signing_key), .convert = convert_path,
      .doc_type = "path", .doc_default = "none",
      .doc = "The mover's private key (PKCS#8 PEM, Ed25519). The daemon reads it at start and refuses to start "
             "without it (every route promotes into trusted, and every promoted object is attested), when it is "
             "not a regular file, when its mode gives any permission to group or others (`chmod 600`), or when it "
             "is not an Ed25519 key. `check-config` does not open it." },
    { .name = "trusted_keys", .kind = K_STRINGS, STORED_IN(attest, trusted_keys),
      .count_offset = IN(attest, trusted_key_count), .flags = F_UNIQUE, .convert = convert_path,
      .doc_type = "array of paths",
      .doc = "PEM public keys that verify besides the signing key's own: keys rotated out, kept so that what they "
             "signed still verifies (`sluice-review verify -c`, and the daemon's check of the audit segments it "
             "shipped). Each listed once; a key removed from here no longer verifies anything." },
};
static const struct schema attest_schema = SCHEMA(attest_fields, NULL, "attest");

static const struct field audit_fields[] = {
    { .name = "file", .kind = K_STRING, STORED_IN(audit, file), .flags = F_REQUIRED, .convert = convert_path,
      .doc_type = "path", .doc = "The local hash-chained audit log (JSON lines)." },
    { .name = "commit_interval", .kind = K_DURATION, STORED_IN(audit, commit_interval_ms), .def = 10,
      .max = 60 * SECOND_MS, .max_why = " (the audit log is synced at least once a minute)",
      .doc = "Group commit: records are fsynced together at most this long after they are written. `\"0ms\"`: "
             "one fsync per record." },
    { .name = "name", .kind = K_STRING, STORED_IN(audit, name), .def_str = "mover", .convert = convert_log_name,
      .doc_type = "log name",
      .doc = "This mover's folder for its audit segments: `<control_prefix>audit/<name>/` ([audit.md](audit.md), "
             "\"Shipping\"). 1 to 64 of `a-z`, `0-9`, `_`, `-`, `.`, starting with a letter or digit. Each mover "
             "sharing a control prefix needs its own; a new local log (a new host) needs a new name, since the "
             "daemon refuses a local log shorter than what was shipped under this one." },
    { .name = "ship_interval", .kind = K_DURATION, STORED_IN(audit, ship_interval_ms), .def = 30 * SECOND_MS,
      .min = 100, .max = HOUR_MS, .max_why = " (audit segments leave the host at least once an hour)",
      .doc = "How often the fsync'd records not yet shipped leave the host as one signed segment (one PUT). At "
             "stop the rest is shipped at once." },
};
static const struct schema audit_schema = SCHEMA(audit_fields, NULL, "audit");

static const struct field worker_fields[] = {
    { .name = "poll_interval", .kind = K_DURATION, STORED_IN(worker, poll_interval_ms), .def = 2 * SECOND_MS,
      .min = 1, .doc = "Interval between listings of each route's staging prefix." },
    { .name = "poll_jitter", .kind = K_DURATION, STORED_IN(worker, poll_jitter_ms),
      .doc_type = "duration ≤ `poll_interval`", .doc_default = "10% of `poll_interval`",
      .doc = "Random delay added to each interval, so that several movers do not list in step." },
    { .name = "concurrency", .kind = K_UINT, STORED_IN(worker, concurrency), .def = 32, .min = 1, .max = 10000,
      .doc = "Artifacts processed at once." },
    { .name = "check_in_place", .kind = K_BOOL, STORED_IN(worker, check_in_place), .def = 1,
      .doc = "On a versioned staging bucket (the mover probes it at start), check and promote each upload "
             "straight from its staging version — GET, copy to trusted and delete by version id, three requests "
             "plus the trusted HEAD where the server ignores `If-None-Match` on CopyObject — and copy into the "
             "quarantine bucket only what waits for a review or ends outside trusted. A version is immutable and "
             "unreadable to interpreters, so nothing is lost by not copying it first. `false`: every upload is "
             "copied into quarantine first (by version id), as on an unversioned bucket. See "
             "[protocol.md](protocol.md)." },
    { .name = "stall_after", .kind = K_DURATION, STORED_IN(worker, stall_after_ms), .def = 15 * MINUTE_MS, .min = 1,
      .doc = "The pipeline counts as stalled (health check, `sluice_healthy` 0, log `pipeline_stalled`) when "
             "artifacts are in flight or queued and none has changed state for this long. Longer than the slowest "
             "check of the largest object a route allows." },
};
static const struct schema worker_schema = SCHEMA(worker_fields, finish_worker, "worker");

static const struct field log_fields[] = {
    { .name = "level", .kind = K_ENUM, STORED_IN(log, level), .def = 1, .names = level_names, .set_enum = set_int,
      .doc = "The lowest level written." },
    { .name = "format", .kind = K_ENUM, STORED_IN(log, json), .names = format_names, .set_enum = set_bool,
      .doc = "`text`: `key=value` lines; `json`: one JSON object a line." },
};
static const struct schema log_schema = SCHEMA(log_fields, NULL, "log");

static const struct field identities_fields[] = {
    { .name = "mover", .kind = K_STRING, STORED_IN(identities, mover), .flags = F_REQUIRED,
      .convert = convert_principal, .doc_type = "principal ARN", .doc_default = "required in the section",
      .doc = "The identity of `s3.credentials`: lists, reads and deletes staging, owns quarantine and the "
             "control prefix, writes trusted." },
    { .name = "grants", .kind = K_STRING, STORED_IN(identities, grants), .flags = F_REQUIRED,
      .convert = convert_principal, .doc_type = "principal ARN", .doc_default = "required in the section",
      .doc = "The identity of `grants.credentials`: may only PUT into staging, under the routes' staging "
             "prefixes, with `x-amz-acl: bucket-owner-full-control`." },
    { .name = "consumers", .kind = K_STRINGS, STORED_IN(identities, consumers),
      .count_offset = IN(identities, consumer_count), .flags = F_UNIQUE, .convert = convert_principal,
      .doc_type = "array of principal ARNs", .doc = "Downstream jobs: may list and read trusted, nothing else." },
    { .name = "reviewers", .kind = K_STRINGS, STORED_IN(identities, reviewers),
      .count_offset = IN(identities, reviewer_count), .flags = F_UNIQUE, .convert = convert_principal,
      .doc_type = "array of principal ARNs",
      .doc = "People's S3 identities, if they have any: may list and read trusted (`sluice-review verify`), "
             "nothing else. Quarantined bytes reach reviewers through the daemon." },
    { .name = "vpc_endpoints", .kind = K_STRINGS, STORED_IN(identities, vpc_endpoints),
      .count_offset = IN(identities, vpc_endpoint_count), .flags = F_UNIQUE, .convert = convert_vpc_endpoint,
      .doc_type = "array of VPC endpoint ids",
      .doc = "AWS only: the grants identity, consumers and reviewers are denied every request that does not "
             "come through one of these endpoints (`aws:SourceVpce`); the mover is not bound. `\"vpce-\"` and 8 "
             "or 17 lower-case hex digits." },
    { .name = "administrators", .kind = K_STRINGS, STORED_IN(identities, administrators),
      .count_offset = IN(identities, administrator_count), .flags = F_UNIQUE, .convert = convert_principal,
      .doc_type = "array of principal ARNs",
      .doc = "The identities that may change bucket settings (policy, lifecycle, versioning, object lock, "
             "retention, legal holds) and write with customer-provided keys. Every configured identity is denied "
             "those by name; with administrators, everyone else too (`\"Principal\": \"*\"` with "
             "`aws:PrincipalArn` as the exception — AWS; radosgw 16 does not evaluate it, see "
             "[policies.md](policies.md#gaps-on-radosgw))." },
};
static const struct schema identities_schema = SCHEMA(identities_fields, finish_identities, "identities");

static const struct field root_fields[] = {
    { .name = "s3", .kind = K_OBJECT, .offset = offsetof(sl_config, s3), .sub = &s3_schema,
      .doc = "The S3 service and the mover's identity; `s3.endpoint` is required." },
    { .name = "buckets", .kind = K_OBJECT, .offset = offsetof(sl_config, buckets), .sub = &buckets_schema,
      .doc = "Where objects live; `staging`, `quarantine` and `trusted` are required." },
    { .name = "grants", .kind = K_OBJECT, .offset = offsetof(sl_config, grants), .sub = &grants_schema,
      .doc = "Upload grants for interpreters." },
    { .name = "routes", .kind = K_CUSTOM, .flags = F_REQUIRED | F_LIST, .parse = parse_routes, .sub = &route_schema,
      .doc_type = "array of routes",
      .doc = "At least one route: where artifacts come from, how they are checked and reviewed, where they go." },
    { .name = "review", .kind = K_OBJECT, .offset = offsetof(sl_config, review), .sub = &review_schema,
      .doc = "Reviewers, orchestrators and the review hook." },
    { .name = "retention", .kind = K_OBJECT, .offset = offsetof(sl_config, retention), .sub = &retention_schema,
      .doc = "How long settled artifacts' quarantine copies are kept." },
    { .name = "clamav", .kind = K_OBJECT, .offset = offsetof(sl_config, clamav), .sub = &clamav_schema,
      .doc = "ClamAV's daemon, for routes with `checks.clamav`." },
    { .name = "api", .kind = K_OBJECT, .offset = offsetof(sl_config, api), .sub = &api_schema,
      .doc = "The daemon's socket and metrics listener." },
    { .name = "attest", .kind = K_OBJECT, .offset = offsetof(sl_config, attest), .sub = &attest_schema,
      .doc = "The signing identity of the attestations ([attestation.md](attestation.md))." },
    { .name = "audit", .kind = K_OBJECT, .offset = offsetof(sl_config, audit), .sub = &audit_schema,
      .doc = "The audit log; `audit.file` is required." },
    { .name = "worker", .kind = K_OBJECT, .offset = offsetof(sl_config, worker), .sub = &worker_schema,
      .doc = "Polling and concurrency." },
    { .name = "log", .kind = K_OBJECT, .offset = offsetof(sl_config, log), .sub = &log_schema,
      .doc = "What the daemon logs, and how." },
    { .name = "identities", .kind = K_CUSTOM, .parse = parse_identities, .sub = &identities_schema,
      .doc_type = "object", .doc_default = "none",
      .doc = "The S3 principals `sluice-mover policy` writes bucket policies for; the daemon uses it only to "
              "check the live buckets at start (it logs drift). "
             "Once it is there, `mover` and `grants` are required." },
};
const struct schema sl_config_root_schema = SCHEMA(root_fields, NULL, "top");


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
    sl_free(c->grants.sts.role_arn);
    sl_free(c->grants.sts.endpoint);
    sl_free(c->grants.sts.region);
    for (size_t i = 0; c->routes != NULL && i < c->route_count; i++) {
        sl_config_route *r = &c->routes[i];
        sl_free(r->name);
        sl_free(r->staging_prefix);
        sl_free(r->trusted_prefix);
        free_strings(r->checks.allow_types, r->checks.allow_type_count);
        free_strings(r->checks.deny_types, r->checks.deny_type_count);
        free_strings(r->checks.rules, r->checks.rule_count);
        free_strings(r->checks.rule_sets, r->checks.rule_set_count);
        sl_free(r->reference.bucket);
        free_strings(r->reference.keys, r->reference.key_count);
        free_strings(r->reference.prefixes, r->reference.prefix_count);
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
    free_strings(c->identities.administrators, c->identities.administrator_count);
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
    walk_object(ld, root, &sl_config_root_schema, (uint8_t *)ld->config);
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
