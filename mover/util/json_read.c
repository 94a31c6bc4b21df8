/*
 * json_read.c — see json_read.h.
 */
#include "util/json_read.h"

#include <string.h>

#include "util/alloc.h"

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
