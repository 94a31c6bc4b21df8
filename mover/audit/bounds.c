/*
 * bounds.c — the cuts of bounds.h. A text is cut only when it is over the bound, and
 * a detail is copied only when one of its strings is, so the usual record costs one
 * walk over its detail and no allocation.
 */
#include "audit/bounds.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit/audit.h"
#include "util/alloc.h"

#define HEX_LEN 64

static bool hex_sha256(const void *data, size_t len, char out[HEX_LEN + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) != 1 || n != HEX_LEN / 2) return false;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 0x0f];
    }
    out[HEX_LEN] = '\0';
    return true;
}

/* The longest prefix of at most `max` bytes that ends on a character boundary. */
static size_t utf8_prefix(const char *text, size_t max)
{
    size_t n = max;
    while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80) n--; /* text[n] continues a character */
    return n;
}

static char *cut(const char *text, size_t len)
{
    char hash[HEX_LEN + 1];
    if (!hex_sha256(text, len, hash)) snprintf(hash, sizeof(hash), "unavailable");
    size_t keep = utf8_prefix(text, AUDIT_MAX_TEXT);
    sl_buf out = { 0 };
    if (sl_failed(sl_buf_append(&out, text, keep)) ||
        sl_failed(sl_buf_appendf(&out, " [cut: %zu bytes, sha256 %s]", len, hash))) {
        sl_buf_clean_up(&out);
        return sl_strndup(text, keep); /* cannot happen: the allocator aborts */
    }
    char *result = sl_strdup(sl_buf_cstr(&out));
    sl_buf_clean_up(&out);
    return result;
}

char *audit_bound_text(const char *text)
{
    if (text == NULL) return NULL;
    size_t len = strlen(text);
    return len > AUDIT_MAX_TEXT ? cut(text, len) : NULL;
}

/* Whether any string value of `value` is over the bound (keys are the code's own). */
static bool over(json_t *value)
{
    const char *key;
    json_t *member;
    size_t i;
    if (json_is_string(value)) return json_string_length(value) > AUDIT_MAX_TEXT;
    if (json_is_object(value)) {
        json_object_foreach(value, key, member)
            if (over(member)) return true;
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, member)
            if (over(member)) return true;
    }
    return false;
}

/* Cuts every long string value of `value` (a private deep copy) in place. */
static bool cut_all(json_t *value)
{
    const char *key;
    json_t *member;
    size_t i;
    if (json_is_object(value)) {
        json_object_foreach(value, key, member)
            if (!cut_all(member)) return false;
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, member)
            if (!cut_all(member)) return false;
    } else if (json_is_string(value) && json_string_length(value) > AUDIT_MAX_TEXT) {
        char *text = cut(json_string_value(value), json_string_length(value));
        bool ok = json_string_set(value, text) == 0;
        sl_free(text);
        return ok;
    }
    return true;
}

json_t *audit_bound_strings(json_t *detail)
{
    if (!over(detail)) return json_incref(detail);
    json_t *copy = json_deep_copy(detail);
    if (copy == NULL || !cut_all(copy)) {
        json_decref(copy);
        return NULL;
    }
    return copy;
}

static int dump_to_buf(const char *bytes, size_t len, void *data)
{
    return sl_ok(sl_buf_append(data, bytes, len)) ? 0 : -1;
}

sl_result audit_cut_detail(json_t *detail, json_t **out)
{
    sl_buf text = { 0 };
    char hash[HEX_LEN + 1];
    bool dumped = json_dump_callback(detail, dump_to_buf, &text, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0;
    bool hashed = dumped && hex_sha256(text.data, text.len, hash);
    size_t bytes = text.len;
    sl_buf_clean_up(&text);
    ENSURE(dumped, SL_ERR_INVALID_ARGUMENT, "cannot encode the detail of an audit record");
    ENSURE(hashed, SL_ERR_CRYPTO, "SHA-256 of an audit record's detail failed");
    *out = json_pack("{s:{s:I,s:s}}", "cut", "bytes", (json_int_t)bytes, "sha256", hash);
    ENSURE(*out != NULL, SL_ERR_INVALID_ARGUMENT, "cannot build the cut detail of an audit record");
    return SL_SUCCESS;
}
