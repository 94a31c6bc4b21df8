/*
 * fuzz_sigv4_canonical.c — libFuzzer target over SigV4 canonicalization of arbitrary
 * requests (mover/s3/sigv4).
 *
 * Input: one flags byte, then NUL-separated fields: method, path, raw query string
 * ("a=1&b" split on "&" and the first "="), then one field per header ("Name:value",
 * split at the first ":"; the value may hold CR, LF, tabs and any other byte), and
 * after an empty field the body. Flags: bit 0 generic (normalizing) paths, bit 1
 * presign instead of header signing, bit 2 add x-amz-content-sha256, bit 3 a session
 * token, bit 4 omit the token, bit 5 add a Host header, bit 6 an UNSIGNED-PAYLOAD hash.
 *
 * Invariants checked on success (also: the same request with its query, and its S3
 * path, handed over percent-encoded in a spelling chosen from the flags signs to the
 * very same bytes): the canonical request has exactly 6 + H lines for H
 * signed headers; its method, path, query and header lines are well formed (encoded
 * with upper-case %XX only, S3 paths exactly the once-encoded input, generic paths
 * without "." / ".." / empty segments, query parameters sorted, header names
 * lower-case, strictly sorted and equal to SignedHeaders, values trimmed with no double
 * spaces or control characters; no X-Amz-Signature parameter); the string to sign carries the SHA-256 of the
 * canonical request; the signature is 64 lower-case hex digits; signing again, with or
 * without the key cache, gives identical bytes. On failure: a last error is set and
 * the output is untouched.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "s3/sigv4.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define MAX_FIELDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_sigv4_canonical: invariant violated: %s\n", what);
        abort();
    }
}

static bool is_unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool is_upper_hex(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

/* Only unreserved bytes, %XX with upper-case hex, and the bytes in `extra`. */
static bool well_encoded(sl_cursor c, const char *extra)
{
    for (size_t i = 0; i < c.len; i++) {
        uint8_t b = c.ptr[i];
        if (is_unreserved(b) || (b != 0 && strchr(extra, b) != NULL)) continue;
        if (b != '%' || i + 2 >= c.len || !is_upper_hex(c.ptr[i + 1]) || !is_upper_hex(c.ptr[i + 2]))
            return false;
        i += 2;
    }
    return true;
}

static int compare_cursors(sl_cursor a, sl_cursor b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c != 0 ? c : (a.len > b.len) - (a.len < b.len);
}

static void check_signed(const sigv4_request *req, const sigv4_signed *s, bool presign)
{
    /* Lines of the canonical request. */
    sl_cursor lines[6 + MAX_FIELDS + 8];
    size_t count = 0;
    sl_cursor rest = sl_cursor_from_buf(&s->canonical_request), line;
    while (sl_cursor_next_token(&rest, '\n', &line)) {
        require(count < sizeof(lines) / sizeof(lines[0]), "too many canonical lines");
        lines[count++] = line;
    }
    size_t headers = 1;
    for (size_t i = 0; i < s->signed_headers.len; i++)
        if (s->signed_headers.data[i] == ';') headers++;
    require(s->signed_headers.len > 0, "SignedHeaders is empty");
    require(count == 6 + headers, "canonical request line count != 6 + signed headers");

    require(sl_cursor_eq(lines[0], req->method), "line 1 is not the method");
    require(lines[1].len > 0 && lines[1].ptr[0] == '/' && well_encoded(lines[1], "/"), "path badly encoded");
    if (req->uri_mode == SIGV4_URI_S3) {
        sl_buf once = { 0 };
        require(sl_ok(sigv4_uri_encode(&once, req->path, SIGV4_ENCODE_PATH)), "encode failed");
        require(sl_cursor_eq(lines[1], sl_cursor_from_buf(&once)), "S3 path is not the input encoded once");
        require(sl_cursor_eq(sl_cursor_from_buf(&s->path), sl_cursor_from_buf(&once)), "S3 path to send differs");
        sl_buf_clean_up(&once);
    } else {
        sl_cursor segs = lines[1], seg;
        require(sl_cursor_advance(&segs, 1), "no leading slash");
        while (segs.len > 0 && sl_cursor_next_token(&segs, '/', &seg)) {
            require(!sl_cursor_eq_cstr(seg, ".") && !sl_cursor_eq_cstr(seg, ".."), "dot segment left");
            require(seg.len > 0, "empty segment left");
        }
    }
    /* Query: name=value pairs, encoded, sorted by name then value. */
    require(well_encoded(lines[2], "=&"), "query badly encoded");
    sl_cursor q = lines[2], param, prev_name = { 0 }, prev_value = { 0 };
    bool first = true;
    while (q.len > 0 && sl_cursor_next_token(&q, '&', &param)) {
        ptrdiff_t eq = sl_cursor_find_byte(param, '=');
        require(eq >= 0, "query parameter without '='");
        sl_cursor name = { param.ptr, (size_t)eq }, value = { param.ptr + eq + 1, param.len - (size_t)eq - 1 };
        require(sl_cursor_find_byte(value, '=') < 0, "'=' unencoded in a value");
        if (!first) {
            int c = compare_cursors(prev_name, name);
            require(c < 0 || (c == 0 && compare_cursors(prev_value, value) <= 0), "query not sorted");
        }
        require(!sl_cursor_eq_ignore_case(name, sl_cursor_from_cstr("X-Amz-Signature")), "a signature is signed");
        prev_name = name;
        prev_value = value;
        first = false;
    }
    /* Headers: "name:value", names lower-case, strictly sorted, = SignedHeaders. */
    sl_buf names = { 0 };
    for (size_t i = 0; i < headers; i++) {
        sl_cursor h = lines[3 + i];
        ptrdiff_t colon = sl_cursor_find_byte(h, ':');
        require(colon > 0, "header line without name");
        sl_cursor name = { h.ptr, (size_t)colon }, value = { h.ptr + colon + 1, h.len - (size_t)colon - 1 };
        for (size_t k = 0; k < name.len; k++)
            require(!(name.ptr[k] >= 'A' && name.ptr[k] <= 'Z') && name.ptr[k] > 0x20 && name.ptr[k] < 0x7f,
                    "header name not lower-case token");
        if (i > 0) {
            sl_cursor prev = lines[2 + i];
            ptrdiff_t pc = sl_cursor_find_byte(prev, ':');
            require(compare_cursors((sl_cursor){ prev.ptr, (size_t)pc }, name) < 0, "headers not strictly sorted");
            require(sl_ok(sl_buf_append_byte(&names, ';')), "append");
        }
        require(sl_ok(sl_buf_append_cursor(&names, name)), "append");
        require(value.len == 0 || (value.ptr[0] != ' ' && value.ptr[value.len - 1] != ' '), "value not trimmed");
        for (size_t k = 0; k < value.len; k++) {
            require(value.ptr[k] >= 0x20 && value.ptr[k] != 0x7f, "control character in a value");
            require(value.ptr[k] != '\t', "tab in a value");
            require(!(k > 0 && value.ptr[k] == ' ' && value.ptr[k - 1] == ' '), "double space in a value");
        }
    }
    require(sl_cursor_eq(sl_cursor_from_buf(&names), sl_cursor_from_buf(&s->signed_headers)),
            "SignedHeaders differ from the header lines");
    sl_buf_clean_up(&names);
    require(lines[3 + headers].len == 0, "no blank line after the headers");
    require(sl_cursor_eq(lines[4 + headers], sl_cursor_from_buf(&s->signed_headers)), "SignedHeaders line");
    require(sl_cursor_eq(lines[5 + headers], sl_cursor_from_buf(&s->payload_hash)), "payload line");

    /* String to sign: 4 lines, the last the hash of the canonical request. */
    uint8_t digest[32];
    unsigned int len = 0;
    require(EVP_Digest(s->canonical_request.data, s->canonical_request.len, digest, &len, EVP_sha256(), NULL) == 1,
            "sha256");
    sl_buf hex = { 0 };
    require(sl_ok(sl_buf_append_hex(&hex, digest, len)), "hex");
    sl_cursor sts = sl_cursor_from_buf(&s->string_to_sign), part;
    size_t parts = 0;
    sl_cursor last = { 0 };
    while (sl_cursor_next_token(&sts, '\n', &part)) {
        if (parts == 0) require(sl_cursor_eq_cstr(part, SIGV4_ALGORITHM), "algorithm line");
        if (parts == 1) require(sl_cursor_eq_cstr(part, s->amz_date), "date line");
        last = part;
        parts++;
    }
    require(parts == 4 && sl_cursor_eq(last, sl_cursor_from_buf(&hex)), "string to sign");
    sl_buf_clean_up(&hex);
    require(strlen(s->signature) == SIGV4_SIGNATURE_HEX_LEN, "signature length");
    for (size_t i = 0; i < SIGV4_SIGNATURE_HEX_LEN; i++)
        require((s->signature[i] >= '0' && s->signature[i] <= '9') || (s->signature[i] >= 'a' && s->signature[i] <= 'f'),
                "signature not lower-case hex");
    if (presign)
        require(s->url.len > 0 && strstr(sl_buf_cstr(&s->url), s->signature) != NULL, "URL without signature");
    else
        require(strstr(sl_buf_cstr(&s->authorization), s->signature) != NULL, "Authorization without signature");
}

static bool same_result(const sigv4_signed *a, const sigv4_signed *b)
{
    return sl_cursor_eq(sl_cursor_from_buf(&a->canonical_request), sl_cursor_from_buf(&b->canonical_request)) &&
           sl_cursor_eq(sl_cursor_from_buf(&a->string_to_sign), sl_cursor_from_buf(&b->string_to_sign)) &&
           sl_cursor_eq(sl_cursor_from_buf(&a->url), sl_cursor_from_buf(&b->url)) &&
           sl_cursor_eq(sl_cursor_from_buf(&a->authorization), sl_cursor_from_buf(&b->authorization)) &&
           sigv4_signature_equal(sl_cursor_from_cstr(a->signature), sl_cursor_from_cstr(b->signature));
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return false;
    return true;
}

/* Writes bytes as a URI would: unreserved ones as they are or as %XX, every other byte
 * as %XX, in upper- or lower-case hex — chosen by the bits of `style` in turn. */
static void write_encoded(sl_buf *out, sl_cursor raw, uint32_t *style, bool keep_slash)
{
    static const char upper[] = "0123456789ABCDEF", lower[] = "0123456789abcdef";
    for (size_t i = 0; i < raw.len; i++) {
        uint8_t b = raw.ptr[i];
        *style = *style * 1103515245u + 12345u;
        bool plain = (is_unreserved(b) && (*style & 0x10000)) || (keep_slash && b == '/');
        const char *digits = (*style & 0x20000) ? upper : lower;
        if (plain) {
            require(sl_ok(sl_buf_append_byte(out, b)), "out of memory");
        } else {
            char enc[3] = { '%', digits[b >> 4], digits[b & 15] };
            require(sl_ok(sl_buf_append(out, enc, 3)), "out of memory");
        }
    }
}

/* The same request with its query (and its S3 path) handed over percent-encoded, in
 * one of many legal spellings, signs to exactly the same bytes. */
static void check_encoded_form(const sigv4_signing *signing, const sigv4_request *raw, bool presign, uint8_t flags,
                               const sigv4_signed *expected)
{
    sl_buf query = { 0 }, path = { 0 };
    uint32_t style = flags * 2654435761u;
    for (size_t i = 0; i < raw->query_count; i++) {
        if (i > 0) require(sl_ok(sl_buf_append_byte(&query, '&')), "out of memory");
        write_encoded(&query, raw->query[i].name, &style, false);
        require(sl_ok(sl_buf_append_byte(&query, '=')), "out of memory");
        write_encoded(&query, raw->query[i].value, &style, false);
    }
    sigv4_request enc = *raw;
    enc.query = NULL;
    enc.query_count = 0;
    enc.encoded_query = sl_cursor_from_bytes(query.data ? (const char *)query.data : "", query.len);
    if (raw->uri_mode == SIGV4_URI_S3) {
        write_encoded(&path, raw->path, &style, true);
        enc.uri_mode = SIGV4_URI_S3_ENCODED;
        enc.path = sl_cursor_from_bytes(path.data ? (const char *)path.data : "", path.len);
    }
    sigv4_signed got = { 0 };
    sl_result r = presign ? sigv4_presign(signing, &enc, 3600, &got) : sigv4_sign_headers(signing, &enc, &got);
    require(sl_ok(r), "the encoded form of a request that signs was refused");
    require(same_result(expected, &got), "the encoded form signs to other bytes than the raw form");
    require(sl_cursor_eq(sl_cursor_from_buf(&expected->path), sl_cursor_from_buf(&got.path)) &&
                sl_cursor_eq(sl_cursor_from_buf(&expected->query), sl_cursor_from_buf(&got.query)),
            "the encoded form sends another path or query than the raw form");
    sigv4_signed_clean_up(&got);
    sl_buf_clean_up(&query);
    sl_buf_clean_up(&path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    sl_cursor rest = sl_cursor_from_bytes(data + 1, size - 1), field;
    sl_cursor fields[3] = { { 0 } };
    sigv4_pair headers[MAX_FIELDS + 1];
    sigv4_pair query[MAX_FIELDS];
    size_t header_count = 0, query_count = 0;
    sl_cursor body = { (const uint8_t *)"", 0 };

    if (flags & 0x20) headers[header_count++] = (sigv4_pair){ sl_cursor_from_cstr("Host"), sl_cursor_from_cstr("h") };
    for (size_t i = 0; i < 3; i++) {
        if (!sl_cursor_next_token(&rest, 0, &field)) break;
        fields[i] = field;
    }
    while (rest.ptr != NULL && sl_cursor_next_token(&rest, 0, &field)) {
        if (field.len == 0) {
            if (rest.ptr != NULL) body = rest;
            break;
        }
        if (header_count >= MAX_FIELDS) break;
        ptrdiff_t colon = sl_cursor_find_byte(field, ':');
        sigv4_pair *h = &headers[header_count++];
        h->name = colon >= 0 ? (sl_cursor){ field.ptr, (size_t)colon } : field;
        h->value = colon >= 0 ? (sl_cursor){ field.ptr + colon + 1, field.len - (size_t)colon - 1 }
                              : (sl_cursor){ field.ptr + field.len, 0 };
    }
    sl_cursor qs = fields[2], piece;
    while (qs.len > 0 && query_count < MAX_FIELDS && sl_cursor_next_token(&qs, '&', &piece)) {
        ptrdiff_t eq = sl_cursor_find_byte(piece, '=');
        query[query_count++] = eq >= 0 ? (sigv4_pair){ { piece.ptr, (size_t)eq },
                                                       { piece.ptr + eq + 1, piece.len - (size_t)eq - 1 } }
                                       : (sigv4_pair){ piece, { piece.ptr + piece.len, 0 } };
    }

    s3_credentials creds = { .access_key_id = (char *)"AKIDEXAMPLE",
                             .secret_access_key = (char *)"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                             .session_token = (flags & 0x08) ? (char *)"TOKEN/+=" : NULL };
    sigv4_signing signing = { .credentials = &creds, .region = sl_cursor_from_cstr("us-east-1"),
                              .service = sl_cursor_from_cstr("service"), .time = 1440938160,
                              .omit_session_token = (flags & 0x10) != 0 };
    sigv4_request req = { .method = fields[0].ptr ? fields[0] : sl_cursor_from_cstr(""),
                          .path = fields[1].ptr ? fields[1] : sl_cursor_from_cstr(""),
                          .uri_mode = (flags & 0x01) ? SIGV4_URI_GENERIC : SIGV4_URI_S3,
                          .query = query,
                          .query_count = query_count,
                          .headers = headers,
                          .header_count = header_count,
                          .body = body,
                          .add_content_sha256 = (flags & 0x04) != 0 };
    if (flags & 0x40) req.payload_hash = sl_cursor_from_cstr(SIGV4_UNSIGNED_PAYLOAD);
    bool presign = (flags & 0x02) != 0;

    sigv4_signed first = { 0 }, second = { 0 };
    sl_error_clear();
    sl_result r = presign ? sigv4_presign(&signing, &req, 3600, &first) : sigv4_sign_headers(&signing, &req, &first);
    if (sl_failed(r)) {
        require(sl_error_last() != SL_OK, "failure without a last error");
        require(all_zero(&first, sizeof(first)), "output modified on error");
        return 0;
    }
    check_signed(&req, &first, presign);
    signing.key_cache = sigv4_key_cache_new();
    for (int round = 0; round < 2; round++) {
        r = presign ? sigv4_presign(&signing, &req, 3600, &second) : sigv4_sign_headers(&signing, &req, &second);
        require(sl_ok(r), "second signing failed");
        require(same_result(&first, &second), "signing is not deterministic");
        sigv4_signed_clean_up(&second);
    }
    require(sigv4_key_cache_derivations(signing.key_cache) == 1, "key cache derived twice");
    sigv4_key_cache_destroy(signing.key_cache);
    signing.key_cache = NULL;
    check_encoded_form(&signing, &req, presign, flags, &first);
    sigv4_signed_clean_up(&first);
    return 0;
}
