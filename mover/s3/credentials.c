/*
 * credentials.c — loading an access key pair from the environment or from an AWS
 * shared credentials file (format and errors: credentials.h). The file is read with
 * open/read straight into one heap block, never through stdio's buffers or a stack
 * copy, so that one OPENSSL_cleanse wipes every byte of it afterwards. Parsing walks
 * the block with cursors line by line, remembers where the chosen profile's values
 * are, and copies them only once the whole file has been checked.
 */
#include "s3/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util/alloc.h"
#include "util/buf.h"

#define CREDENTIALS_FILE_MAX ((size_t)1 << 20) /* 1 MiB */

static void wipe_string(char *s)
{
    if (s == NULL) return;
    OPENSSL_cleanse(s, strlen(s));
    sl_free(s);
}

void s3_credentials_clean_up(s3_credentials *creds)
{
    if (creds == NULL) return;
    wipe_string(creds->access_key_id);
    wipe_string(creds->secret_access_key);
    wipe_string(creds->session_token);
    *creds = (s3_credentials){ 0 };
}

sl_result s3_credentials_init(s3_credentials *creds, const char *access_key_id,
                              const char *secret_access_key, const char *session_token)
{
    ENSURE(creds != NULL, SL_ERR_INVALID_ARGUMENT, "credentials: no struct to fill");
    *creds = (s3_credentials){ 0 };
    ENSURE(access_key_id != NULL && access_key_id[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "credentials: empty access key id");
    ENSURE(secret_access_key != NULL && secret_access_key[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "credentials: empty secret access key");
    ENSURE(session_token == NULL || session_token[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "credentials: empty session token (pass NULL for none)");
    creds->access_key_id = sl_strdup(access_key_id);
    creds->secret_access_key = sl_strdup(secret_access_key);
    creds->session_token = session_token ? sl_strdup(session_token) : NULL;
    return SL_SUCCESS;
}

sl_result s3_credentials_from_env(s3_credentials *creds)
{
    ENSURE(creds != NULL, SL_ERR_INVALID_ARGUMENT, "credentials: no struct to fill");
    *creds = (s3_credentials){ 0 };
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    ENSURE(id != NULL && id[0] != '\0', SL_ERR_NOT_FOUND, "AWS_ACCESS_KEY_ID is not set or empty");
    ENSURE(secret != NULL && secret[0] != '\0', SL_ERR_NOT_FOUND,
           "AWS_SECRET_ACCESS_KEY is not set or empty");
    if (token != NULL && token[0] == '\0') token = NULL;
    return s3_credentials_init(creds, id, secret, token);
}

/* Reads the whole file into one block of CREDENTIALS_FILE_MAX + 1 bytes, so that no
 * reallocation leaves a copy behind. *out_len receives the byte count. */
static sl_result read_secret_file(const char *path, uint8_t **out, size_t *out_len)
{
    sl_result result = SL_FAILURE;
    uint8_t *block = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ENSURE(fd >= 0, SL_ERR_IO, "%s: %s", path, strerror(errno));

    struct stat st;
    ENSURE_CLEANUP(fstat(fd, &st) == 0, SL_ERR_IO, "%s: %s", path, strerror(errno));
    ENSURE_CLEANUP(!S_ISDIR(st.st_mode), SL_ERR_IO, "%s: is a directory", path);
    ENSURE_CLEANUP(st.st_size <= (off_t)CREDENTIALS_FILE_MAX, SL_ERR_LIMIT,
                   "%s: larger than %zu bytes", path, CREDENTIALS_FILE_MAX);

    block = sl_malloc(CREDENTIALS_FILE_MAX + 1);
    for (;;) {
        ssize_t n = read(fd, block + len, CREDENTIALS_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR) continue;
        ENSURE_CLEANUP(n >= 0, SL_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (n == 0) break;
        len += (size_t)n;
        /* One byte more than allowed means the file grew past the limit. */
        ENSURE_CLEANUP(len <= CREDENTIALS_FILE_MAX, SL_ERR_LIMIT, "%s: larger than %zu bytes",
                       path, CREDENTIALS_FILE_MAX);
    }
    *out = block;
    *out_len = len;
    block = NULL;
    result = SL_SUCCESS;
cleanup:
    if (block != NULL) {
        OPENSSL_cleanse(block, len);
        sl_free(block);
    }
    close(fd);
    return result;
}

enum cred_key { KEY_ID, KEY_SECRET, KEY_TOKEN, KEY_COUNT };

static const char *const key_names[KEY_COUNT] = {
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
};

/* What the scan found for the chosen profile; cursors point into the file block. */
struct scan {
    const char *path;
    const char *profile;
    size_t profile_line;      /* 0: the profile's section was not seen */
    bool config_form_seen;    /* a "[profile <name>]" section exists */
    sl_cursor values[KEY_COUNT];
    size_t value_lines[KEY_COUNT]; /* 0: key not seen */
};

static bool is_comment(sl_cursor line)
{
    return line.len > 0 && (line.ptr[0] == '#' || line.ptr[0] == ';');
}

/* "[name]" with an optional trailing comment. */
static sl_result scan_section(struct scan *s, sl_cursor line, size_t lineno, bool *in_profile)
{
    ptrdiff_t close = sl_cursor_find_byte(line, ']');
    ENSURE(close > 0, SL_ERR_PARSE, "%s:%zu: section header without ']'", s->path, lineno);
    sl_cursor name = sl_cursor_trim(sl_cursor_from_bytes(line.ptr + 1, (size_t)close - 1));
    sl_cursor rest = line;
    (void)sl_cursor_advance(&rest, (size_t)close + 1);
    rest = sl_cursor_trim(rest);
    ENSURE(rest.len == 0 || is_comment(rest), SL_ERR_PARSE,
           "%s:%zu: unexpected text after the section header", s->path, lineno);
    ENSURE(name.len > 0, SL_ERR_PARSE, "%s:%zu: empty profile name", s->path, lineno);

    *in_profile = sl_cursor_eq_cstr(name, s->profile);
    if (*in_profile) {
        ENSURE(s->profile_line == 0, SL_ERR_PARSE,
               "%s:%zu: profile '%s' appears a second time (first at line %zu)", s->path, lineno,
               s->profile, s->profile_line);
        s->profile_line = lineno;
    }
    sl_cursor config_prefix = sl_cursor_from_cstr("profile ");
    if (sl_cursor_starts_with(name, config_prefix)) {
        sl_cursor rest_name = name;
        (void)sl_cursor_advance(&rest_name, config_prefix.len);
        if (sl_cursor_eq_cstr(sl_cursor_trim(rest_name), s->profile)) s->config_form_seen = true;
    }
    return SL_SUCCESS;
}

/* "key = value" inside a section. */
static sl_result scan_property(struct scan *s, sl_cursor line, size_t lineno, bool in_section,
                               bool in_profile)
{
    ptrdiff_t eq = sl_cursor_find_byte(line, '=');
    ENSURE(eq >= 0, SL_ERR_PARSE,
           "%s:%zu: malformed line (expected '[profile]', 'key = value' or a comment)", s->path,
           lineno);
    ENSURE(in_section, SL_ERR_PARSE, "%s:%zu: 'key = value' line before any [profile] section",
           s->path, lineno);
    sl_cursor key = sl_cursor_trim(sl_cursor_from_bytes(line.ptr, (size_t)eq));
    sl_cursor value = line;
    (void)sl_cursor_advance(&value, (size_t)eq + 1);
    value = sl_cursor_trim(value);
    ENSURE(key.len > 0, SL_ERR_PARSE, "%s:%zu: malformed line (empty key before '=')", s->path,
           lineno);
    if (!in_profile) return SL_SUCCESS;

    for (int k = 0; k < KEY_COUNT; k++) {
        sl_cursor want = sl_cursor_from_cstr(key_names[k]);
        if (sl_cursor_eq(key, want)) {
            ENSURE(s->value_lines[k] == 0, SL_ERR_PARSE,
                   "%s:%zu: profile '%s': %s given a second time (first at line %zu)", s->path,
                   lineno, s->profile, key_names[k], s->value_lines[k]);
            s->values[k] = value;
            s->value_lines[k] = lineno;
            return SL_SUCCESS;
        }
        ENSURE(!sl_cursor_eq_ignore_case(key, want), SL_ERR_PARSE,
               "%s:%zu: profile '%s': key names are lower-case (write %s)", s->path, lineno,
               s->profile, key_names[k]);
    }
    return SL_SUCCESS; /* another tool's key (region, role_arn, ...) */
}

static sl_result scan_file(struct scan *s, sl_cursor text)
{
    static const uint8_t bom[] = { 0xef, 0xbb, 0xbf };
    if (sl_cursor_starts_with(text, sl_cursor_from_bytes(bom, sizeof(bom))))
        (void)sl_cursor_advance(&text, sizeof(bom));

    bool in_section = false;
    bool in_profile = false;
    size_t lineno = 0;
    sl_cursor line;
    while (sl_cursor_next_token(&text, '\n', &line)) {
        lineno++;
        if (line.len > 0 && line.ptr[line.len - 1] == '\r') line.len--;
        line = sl_cursor_trim(line);
        if (line.len == 0 || is_comment(line)) continue;
        if (line.ptr[0] == '[') {
            GUARD(scan_section(s, line, lineno, &in_profile));
            in_section = true;
            continue;
        }
        GUARD(scan_property(s, line, lineno, in_section, in_profile));
    }
    return SL_SUCCESS;
}

static sl_result check_scan(const struct scan *s)
{
    if (s->profile_line == 0) {
        ENSURE(!s->config_form_seen, SL_ERR_NOT_FOUND,
               "%s: profile '%s' not found (a [profile %s] section is the config-file form; "
               "in a credentials file write [%s])",
               s->path, s->profile, s->profile, s->profile);
        RAISE(SL_ERR_NOT_FOUND, "%s: profile '%s' not found", s->path, s->profile);
    }
    for (int k = 0; k < KEY_COUNT; k++) {
        if (k != KEY_TOKEN)
            ENSURE(s->value_lines[k] != 0, SL_ERR_PARSE, "%s: profile '%s' (line %zu) has no %s",
                   s->path, s->profile, s->profile_line, key_names[k]);
        ENSURE(s->value_lines[k] == 0 || s->values[k].len > 0, SL_ERR_PARSE,
               "%s:%zu: profile '%s': %s is empty", s->path, s->value_lines[k], s->profile,
               key_names[k]);
    }
    return SL_SUCCESS;
}

sl_result s3_credentials_from_file(s3_credentials *creds, const char *path, const char *profile)
{
    ENSURE(creds != NULL, SL_ERR_INVALID_ARGUMENT, "credentials: no struct to fill");
    *creds = (s3_credentials){ 0 };
    ENSURE(path != NULL && path[0] != '\0', SL_ERR_INVALID_ARGUMENT, "credentials: no file name");
    ENSURE(profile != NULL && profile[0] != '\0', SL_ERR_INVALID_ARGUMENT,
           "%s: no profile name given", path);

    sl_result result = SL_FAILURE;
    uint8_t *block = NULL;
    size_t len = 0;
    GUARD(read_secret_file(path, &block, &len));

    struct scan s = { .path = path, .profile = profile };
    GUARD_CLEANUP(scan_file(&s, sl_cursor_from_bytes(block, len)));
    GUARD_CLEANUP(check_scan(&s));
    creds->access_key_id = sl_cursor_dup(s.values[KEY_ID]);
    creds->secret_access_key = sl_cursor_dup(s.values[KEY_SECRET]);
    if (s.value_lines[KEY_TOKEN] != 0) creds->session_token = sl_cursor_dup(s.values[KEY_TOKEN]);
    result = SL_SUCCESS;
cleanup:
    OPENSSL_cleanse(block, len);
    sl_free(block);
    return result;
}
