/*
 * type.c — the file-type rules (checks.h): the route's allow and deny lists of MIME
 * types, what a name's extension promises, and whether a declared Content-Type fits
 * the detected type. Pure functions of their arguments.
 */
#include "checks/checks.h"

#include <string.h>

static bool mime_matches(const char *pattern, const char *mime)
{
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, "/*") == 0) return strncmp(pattern, mime, n - 1) == 0;
    return strcmp(pattern, mime) == 0;
}

bool checks_type_allowed(const sl_config_checks *rules, const char *mime, const char **why)
{
    for (size_t i = 0; i < rules->deny_type_count; i++) {
        if (mime_matches(rules->deny_types[i], mime)) {
            *why = "in the route's deny_types";
            return false;
        }
    }
    if (rules->allow_type_count == 0) {
        *why = "not denied (the route allows any other type)";
        return true;
    }
    for (size_t i = 0; i < rules->allow_type_count; i++) {
        if (mime_matches(rules->allow_types[i], mime)) {
            *why = "in the route's allow_types";
            return true;
        }
    }
    *why = "not in the route's allow_types";
    return false;
}

struct extension_rule {
    const char *ext;
    const char *types[5];
};

/* What an extension promises, as libmagic names the types. */
static const struct extension_rule extension_rules[] = {
    { "csv", { "text/csv", "text/plain", NULL } },
    { "tsv", { "text/tab-separated-values", "text/plain", "text/csv", NULL } },
    { "txt", { "text/plain", NULL } },
    { "log", { "text/plain", NULL } },
    { "md", { "text/plain", "text/markdown", NULL } },
    { "json", { "application/json", "text/plain", NULL } },
    { "ipynb", { "application/json", "text/plain", NULL } },
    { "xml", { "text/xml", "application/xml", NULL } },
    { "html", { "text/html", NULL } },
    { "htm", { "text/html", NULL } },
    { "png", { "image/png", NULL } },
    { "jpg", { "image/jpeg", NULL } },
    { "jpeg", { "image/jpeg", NULL } },
    { "gif", { "image/gif", NULL } },
    { "svg", { "image/svg+xml", "text/xml", NULL } },
    { "pdf", { "application/pdf", NULL } },
    { "zip", { "application/zip", NULL } },
    { "gz", { "application/gzip", NULL } },
    { "tar", { "application/x-tar", NULL } },
};

const char *const *checks_extension_types(sl_cursor name)
{
    ptrdiff_t dot = -1;
    for (size_t i = 0; i < name.len; i++) {
        if (name.ptr[i] == '.') dot = (ptrdiff_t)i;
        if (name.ptr[i] == '/') dot = -1;
    }
    if (dot < 0) return NULL;
    sl_cursor ext = sl_cursor_from_bytes(name.ptr + dot + 1, name.len - (size_t)dot - 1);
    for (size_t i = 0; i < sizeof(extension_rules) / sizeof(extension_rules[0]); i++)
        if (sl_cursor_eq_ignore_case(ext, sl_cursor_from_cstr(extension_rules[i].ext))) return extension_rules[i].types;
    return NULL;
}

/* Whether a declared Content-Type fits the detected one. Generic declarations
 * (octet-stream) say nothing; libmagic reports many text formats as text/plain. */
bool checks_declared_fits(sl_cursor declared, const char *detected)
{
    ptrdiff_t semi = sl_cursor_find_byte(declared, ';');
    if (semi >= 0) declared.len = (size_t)semi;
    declared = sl_cursor_trim(declared);
    if (declared.len == 0 || sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("application/octet-stream")) ||
        sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("binary/octet-stream")))
        return true;
    if (sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr(detected))) return true;
    bool declared_textual = sl_cursor_starts_with(declared, sl_cursor_from_cstr("text/")) ||
                            sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("application/json")) ||
                            sl_cursor_eq_ignore_case(declared, sl_cursor_from_cstr("application/xml"));
    return declared_textual && strcmp(detected, "text/plain") == 0;
}

