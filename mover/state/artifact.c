/*
 * artifact.c — the artifact lifecycle of artifact.h: the state table (built from the
 * X-macros SL_ARTIFACT_STATES and SL_ARTIFACT_TRANSITIONS by lifecycle.h, which task.c
 * shares), artifact ids, and the staging and quarantine key layouts.
 *
 * Keys are split with cursors into the caller's bytes; every part is checked against
 * its rule before anything is written or returned.
 */
#include "state/artifact.h"

#include <string.h>

#include <openssl/evp.h>

#include "state/lifecycle.h"
#include "util/alloc.h"

/* ---- states and the transitions table (lifecycle.h builds them from the X-macros) ---- */

/* Every artifact is born in staging (DESIGN: "An object in staging is staged"). */
SL_LIFECYCLE_DEFINE(lifecycle, SL_ARTIFACT_STATES, SL_ARTIFACT_TRANSITIONS, ARTIFACT_STATE_COUNT, ARTIFACT_STAGED);

const char *artifact_state_name(artifact_state state) { return sl_lifecycle_state_name(&lifecycle, (int)state); }

bool artifact_state_from_name(sl_cursor name, artifact_state *out)
{
    int s;
    if (!sl_lifecycle_state_from_name(&lifecycle, name, &s)) return false;
    *out = (artifact_state)s;
    return true;
}

bool artifact_state_is_terminal(artifact_state state) { return sl_lifecycle_is_terminal(&lifecycle, (int)state); }

bool artifact_transition_allowed(artifact_state from, artifact_state to, const char **event)
{
    return sl_lifecycle_allowed(&lifecycle, (int)from, (int)to, event);
}

const artifact_transition_info *artifact_transitions(size_t *count)
{
    *count = lifecycle.row_count;
    return lifecycle.rows;
}

sl_result artifact_states_mermaid(sl_buf *out) { return sl_lifecycle_mermaid(&lifecycle, out); }

/* ---- ids ---- */

/* RFC 9110 8.8.3: etagc = "!" / %x23-7E / obs-text (%x80-FF). */
static bool etag_byte(uint8_t c) { return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80; }

sl_result artifact_id_derive(sl_cursor staging_key, sl_cursor staging_etag, char out[SL_ARTIFACT_ID_LEN + 1])
{
    return artifact_id_derive_version(staging_key, staging_etag, (sl_cursor){ 0 }, out);
}

sl_result artifact_id_derive_version(sl_cursor staging_key, sl_cursor staging_etag, sl_cursor version_id,
                                     char out[SL_ARTIFACT_ID_LEN + 1])
{
    ENSURE(staging_key.len > 0, SL_ERR_INVALID_ARGUMENT, "artifact id: the staging key is empty");
    sl_cursor etag = staging_etag;
    if (etag.len >= 2 && etag.ptr[0] == '"' && etag.ptr[etag.len - 1] == '"') {
        etag.ptr++;
        etag.len -= 2;
    }
    ENSURE(etag.len > 0, SL_ERR_INVALID_ARGUMENT, "artifact id: the ETag is empty");
    for (size_t i = 0; i < version_id.len; i++)
        ENSURE(version_id.ptr[i] > 0x20 && version_id.ptr[i] < 0x7f, SL_ERR_INVALID_ARGUMENT,
               "artifact id: the version id has byte 0x%02x at offset %zu (printable ASCII only)", version_id.ptr[i], i);
    for (size_t i = 0; i < etag.len; i++)
        ENSURE(etag_byte(etag.ptr[i]), SL_ERR_INVALID_ARGUMENT,
               "artifact id: the ETag has byte 0x%02x at offset %zu, not allowed in an entity tag",
               etag.ptr[i], i);

    sl_result result = SL_FAILURE;
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    const uint8_t zero = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ENSURE(ctx != NULL, SL_ERR_CRYPTO, "artifact id: EVP_MD_CTX_new failed");
    GUARD_OSSL_CLEANUP(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, staging_key.ptr, staging_key.len), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, &zero, 1), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, etag.ptr, etag.len), SL_ERR_CRYPTO);
    if (version_id.len > 0) {
        GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, &zero, 1), SL_ERR_CRYPTO);
        GUARD_OSSL_CLEANUP(EVP_DigestUpdate(ctx, version_id.ptr, version_id.len), SL_ERR_CRYPTO);
    }
    GUARD_OSSL_CLEANUP(EVP_DigestFinal_ex(ctx, digest, &digest_len), SL_ERR_CRYPTO);
    ENSURE_CLEANUP(digest_len * 2 >= SL_ARTIFACT_ID_LEN, SL_ERR_CRYPTO, "artifact id: short digest");
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < SL_ARTIFACT_ID_LEN / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    out[SL_ARTIFACT_ID_LEN] = '\0';
    result = SL_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    return result;
}

/* ---- key parts ---- */

static bool is_lower_or_digit(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

static bool is_task_byte(uint8_t c)
{
    return is_lower_or_digit(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

sl_result artifact_task_id_check(sl_cursor task)
{
    ENSURE(task.len > 0, SL_ERR_INVALID_ARGUMENT, "task id is empty");
    ENSURE(task.len <= SL_ARTIFACT_TASK_MAX, SL_ERR_INVALID_ARGUMENT, "task id is %zu bytes, longer than %d",
           task.len, SL_ARTIFACT_TASK_MAX);
    for (size_t i = 0; i < task.len; i++)
        ENSURE(is_task_byte(task.ptr[i]), SL_ERR_INVALID_ARGUMENT,
               "task id has byte 0x%02x at offset %zu; allowed are A-Z a-z 0-9 _ -", task.ptr[i], i);
    return SL_SUCCESS;
}

sl_result artifact_route_name_check(sl_cursor route)
{
    ENSURE(route.len > 0, SL_ERR_INVALID_ARGUMENT, "route name is empty");
    ENSURE(route.len <= SL_ARTIFACT_ROUTE_MAX, SL_ERR_INVALID_ARGUMENT,
           "route name is %zu bytes, longer than %d", route.len, SL_ARTIFACT_ROUTE_MAX);
    ENSURE(is_lower_or_digit(route.ptr[0]), SL_ERR_INVALID_ARGUMENT,
           "route name starts with byte 0x%02x; it must start with a-z or 0-9", route.ptr[0]);
    for (size_t i = 1; i < route.len; i++)
        ENSURE(is_lower_or_digit(route.ptr[i]) || route.ptr[i] == '_' || route.ptr[i] == '-',
               SL_ERR_INVALID_ARGUMENT, "route name has byte 0x%02x at offset %zu; allowed are a-z 0-9 _ -",
               route.ptr[i], i);
    return SL_SUCCESS;
}

sl_result artifact_id_check(sl_cursor artifact_id)
{
    ENSURE(artifact_id.len == SL_ARTIFACT_ID_LEN, SL_ERR_INVALID_ARGUMENT,
           "artifact id is %zu bytes; it must be %d lower-case hex digits", artifact_id.len, SL_ARTIFACT_ID_LEN);
    for (size_t i = 0; i < artifact_id.len; i++) {
        uint8_t c = artifact_id.ptr[i];
        ENSURE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), SL_ERR_INVALID_ARGUMENT,
               "artifact id has byte 0x%02x at offset %zu; it must be lower-case hex", c, i);
    }
    return SL_SUCCESS;
}

sl_result staging_key_split(sl_cursor key, sl_cursor staging_prefix, staging_key_parts *out)
{
    ENSURE(sl_cursor_starts_with(key, staging_prefix), SL_ERR_INVALID_ARGUMENT,
           "staging key is not under the route's staging prefix (%zu bytes)", staging_prefix.len);
    sl_cursor rest = key;
    (void)sl_cursor_advance(&rest, staging_prefix.len);
    ptrdiff_t slash = sl_cursor_find_byte(rest, '/');
    ENSURE(slash >= 0, SL_ERR_INVALID_ARGUMENT,
           "staging key has no task segment: expected <staging_prefix><task>/<name>");
    sl_cursor task = { .ptr = rest.ptr, .len = (size_t)slash };
    sl_cursor name = { .ptr = rest.ptr + slash + 1, .len = rest.len - (size_t)slash - 1 };
    GUARD(artifact_task_id_check(task));
    ENSURE(name.len > 0, SL_ERR_INVALID_ARGUMENT, "staging key has an empty name after the task segment");
    out->task = task;
    out->name = name;
    return SL_SUCCESS;
}

static const char quarantine_root[] = "q/";

sl_result quarantine_key_build(sl_buf *out, sl_cursor route, sl_cursor task, sl_cursor artifact_id,
                               sl_cursor name)
{
    GUARD(artifact_route_name_check(route));
    GUARD(artifact_task_id_check(task));
    GUARD(artifact_id_check(artifact_id));
    ENSURE(name.len > 0, SL_ERR_INVALID_ARGUMENT, "quarantine key: the name is empty");
    /* route, task and id are bounded, so only the name can make this overflow. */
    size_t total = sizeof(quarantine_root) - 1 + route.len + 1 + task.len + 1 + artifact_id.len + 1;
    ENSURE(sl_add_size(total, name.len, &total), SL_ERR_OVERFLOW, "quarantine key: name too long");
    GUARD(sl_buf_reserve(out, total));
    /* With the room reserved, none of these appends can fail. */
    GUARD(sl_buf_append_cstr(out, quarantine_root));
    GUARD(sl_buf_append_cursor(out, route));
    GUARD(sl_buf_append_byte(out, '/'));
    GUARD(sl_buf_append_cursor(out, task));
    GUARD(sl_buf_append_byte(out, '/'));
    GUARD(sl_buf_append_cursor(out, artifact_id));
    GUARD(sl_buf_append_byte(out, '/'));
    GUARD(sl_buf_append_cursor(out, name));
    return SL_SUCCESS;
}

/* The next "/"-terminated segment of *rest (`what` names it in the error). */
static sl_result next_segment(sl_cursor *rest, const char *what, sl_cursor *segment)
{
    ptrdiff_t slash = sl_cursor_find_byte(*rest, '/');
    ENSURE(slash >= 0, SL_ERR_INVALID_ARGUMENT,
           "quarantine key has no \"/\" after its %s: expected q/<route>/<task>/<artifact-id>/<name>", what);
    *segment = (sl_cursor){ .ptr = rest->ptr, .len = (size_t)slash };
    (void)sl_cursor_advance(rest, (size_t)slash + 1);
    return SL_SUCCESS;
}

sl_result quarantine_key_parse(sl_cursor key, quarantine_key_parts *out)
{
    sl_cursor root = sl_cursor_from_cstr(quarantine_root);
    ENSURE(sl_cursor_starts_with(key, root), SL_ERR_INVALID_ARGUMENT, "quarantine key does not start with \"q/\"");
    sl_cursor rest = key;
    (void)sl_cursor_advance(&rest, root.len);
    quarantine_key_parts parts;
    GUARD(next_segment(&rest, "route", &parts.route));
    GUARD(artifact_route_name_check(parts.route));
    GUARD(next_segment(&rest, "task", &parts.task));
    GUARD(artifact_task_id_check(parts.task));
    GUARD(next_segment(&rest, "artifact id", &parts.artifact_id));
    GUARD(artifact_id_check(parts.artifact_id));
    ENSURE(rest.len > 0, SL_ERR_INVALID_ARGUMENT, "quarantine key has an empty name");
    parts.name = rest;
    *out = parts;
    return SL_SUCCESS;
}
