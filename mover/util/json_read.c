/*
 * json_read.c — see json_read.h.
 */
#include "util/json_read.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/utf8.h"

void sl_json_printable(const char *s, char out[68])
{
    size_t n = 0;
    for (; s[n] != '\0' && n < 64; n++) out[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
    if (s[n] != '\0') out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = '\0';
}

sl_result sl_json_check_known(json_t *object, const char *const *known, size_t count, const char *where)
{
    const char *key;
    json_t *value = NULL;
    json_object_foreach(object, key, value) {
        bool found = false;
        for (size_t i = 0; i < count && !found; i++) found = strcmp(key, known[i]) == 0;
        if (!found) {
            char shown[68];
            sl_json_printable(key, shown);
            RAISE(SL_ERR_PARSE, "%s: unknown field \"%s\"", where, shown);
        }
    }
    return SL_SUCCESS;
}

sl_result sl_json_member(json_t *object, const char *key, bool required, const char *where, json_t **out)
{
    json_t *value = json_object_get(object, key);
    ENSURE(value != NULL || !required, SL_ERR_PARSE, "%s: missing", where);
    ENSURE(value == NULL || !json_is_null(value), SL_ERR_PARSE, "%s: null is not allowed", where);
    *out = value;
    return SL_SUCCESS;
}

sl_result sl_json_read_text(json_t *object, const char *key, bool required, size_t max, const char *where, char **out)
{
    json_t *value = NULL;
    *out = NULL;
    GUARD(sl_json_member(object, key, required, where, &value));
    if (value == NULL) return SL_SUCCESS;
    ENSURE(json_is_string(value), SL_ERR_PARSE, "%s: expected a string", where);
    size_t len = json_string_length(value);
    ENSURE(len <= max, SL_ERR_LIMIT, "%s: longer than %zu bytes", where, max);
    const char *text = json_string_value(value);
    ENSURE(strlen(text) == len, SL_ERR_PARSE, "%s: holds a NUL byte", where);
    *out = sl_strndup(text, len);
    return SL_SUCCESS;
}

sl_result sl_json_read_array(json_t *object, const char *key, bool required, size_t max, const char *where,
                             json_t **out)
{
    GUARD(sl_json_member(object, key, required, where, out));
    if (*out == NULL) return SL_SUCCESS;
    ENSURE(json_is_array(*out), SL_ERR_PARSE, "%s: expected an array", where);
    ENSURE(json_array_size(*out) <= max, SL_ERR_LIMIT, "%s: %zu entries, more than %zu", where,
           json_array_size(*out), max);
    return SL_SUCCESS;
}

sl_result sl_json_check_text(const char *s, bool required, size_t max, sl_error code, const char *where)
{
    if (s == NULL) {
        ENSURE(!required, code, "%s: missing", where);
        return SL_SUCCESS;
    }
    size_t len = strnlen(s, max + 1);
    ENSURE(len <= max, SL_ERR_LIMIT, "%s: longer than %zu bytes", where, max);
    ENSURE(!required || len > 0, code, "%s: empty", where);
    ENSURE(sl_utf8_valid(sl_cursor_from_bytes(s, len), NULL), SL_ERR_ENCODING, "%s: not valid UTF-8", where);
    return SL_SUCCESS;
}

sl_result sl_json_reraise(sl_error code, const char *where)
{
    char detail[512];
    snprintf(detail, sizeof(detail), "%s", sl_error_detail());
    RAISE(code, "%s: %s", where, detail);
}

sl_result sl_json_put(json_t *object, const char *key, json_t *value, const char *what)
{
    ENSURE(value != NULL && json_object_set_new(object, key, value) == 0, SL_ERR_LIMIT,
           "%s: jansson could not add \"%s\"", what, key);
    return SL_SUCCESS;
}

sl_result sl_json_put_text(json_t *object, const char *key, const char *value, const char *what)
{
    if (value == NULL) return SL_SUCCESS;
    return sl_json_put(object, key, json_string(value), what);
}

sl_result sl_json_append(json_t *array, json_t *value, const char *what)
{
    ENSURE(value != NULL && json_array_append_new(array, value) == 0, SL_ERR_LIMIT, "%s: jansson could not append",
           what);
    return SL_SUCCESS;
}

struct dump_target {
    sl_buf *out;
    size_t max, written;
    bool too_large;
};

static int dump_append(const char *bytes, size_t size, void *data)
{
    struct dump_target *t = data;
    if (size > t->max - t->written) {
        t->too_large = true;
        return -1;
    }
    if (sl_failed(sl_buf_append(t->out, bytes, size))) return -1;
    t->written += size;
    return 0;
}

sl_result sl_json_dump_bounded(json_t *root, size_t max, const char *what, sl_buf *out)
{
    size_t start = out->len;
    struct dump_target target = { .out = out, .max = max };
    int dumped = json_dump_callback(root, dump_append, &target, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!target.too_large && dumped == 0) return SL_SUCCESS;
    if (out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }
    if (target.too_large) RAISE(SL_ERR_LIMIT, "%s: the JSON would exceed %zu bytes", what, max);
    RAISE(SL_ERR_LIMIT, "%s: jansson could not serialise it", what);
}
