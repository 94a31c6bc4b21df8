/*
 * sigv4_vectors.c — the SigV4 test-vector runner (build/tests/sigv4-vectors).
 *
 * Usage: sigv4-vectors FOLDER...  Every folder below the given ones that holds both
 * request.txt and context.json is a case (layout: tests/vectors/sigv4/README.md). The
 * runner reads request.txt as the suites mean it (see parse_request), signs it with the
 * parameters of context.json in every mode the case has expected files for —
 * header-* (Authorization header), query-* / presigned-url.txt (presigned URL), seed-*
 * and chunk-signatures.txt (streaming upload: the seed is a header-signed request, then
 * the chunk chain) — and compares each expected file byte for byte with what the signer
 * produced. A mismatch prints the first differing line and byte and a line-by-line
 * diff. The last line of output is exactly "N passed, M failed" (cases); the exit
 * status is 1 when a case failed or none was found, 2 on a usage error.
 *
 * A case whose context.json says "query_encoded" (or "path_encoded") hands the signer
 * the query string (the S3 path) exactly as request.txt writes it, percent-encoded;
 * otherwise the query's pieces are raw, as the public suites mean them.
 *
 * The Authorization header is compared with ", " and "," as equivalent separators of
 * its parameters (RFC 9110 11.2 auth-param lists; the S3 examples print it without
 * spaces, the suite with them).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "s3/sigv4.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define MAX_FILE (16u * 1024 * 1024)
#define MAX_DEPTH 16

/* ---- the list of cases ---- */

typedef struct case_list {
    char **paths;
    size_t count;
    size_t capacity;
} case_list;

static bool file_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void add_case(case_list *list, const char *path)
{
    if (list->count == list->capacity) {
        list->capacity = list->capacity ? list->capacity * 2 : 64;
        list->paths = sl_realloc(list->paths, list->capacity * sizeof(*list->paths));
    }
    list->paths[list->count++] = sl_strdup(path);
}

/* Walks dir recursively (not following symlinked directories), collecting cases. */
static sl_result find_cases(case_list *list, const char *dir, int depth)
{
    ENSURE(depth <= MAX_DEPTH, SL_ERR_LIMIT, "%s: nested deeper than %d folders", dir, MAX_DEPTH);
    if (file_exists(dir, "request.txt") && file_exists(dir, "context.json")) add_case(list, dir);
    DIR *d = opendir(dir);
    ENSURE(d != NULL, SL_ERR_IO, "%s: %s", dir, strerror(errno));
    sl_result result = SL_SUCCESS;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path)) continue;
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (sl_failed(find_cases(list, path, depth + 1))) {
            result = SL_FAILURE;
            break;
        }
    }
    closedir(d);
    return result;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- reporting ---- */

/* Prints a line with non-printable bytes escaped, between quotes. */
static void print_escaped(sl_cursor line)
{
    putchar('"');
    for (size_t i = 0; i < line.len; i++) {
        unsigned char c = line.ptr[i];
        if (c == '\\' || c == '"')
            printf("\\%c", c);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* Splits off the next line (without its "\n"); false when nothing is left. A text
 * that ends with "\n" has an empty last line, so "a\n" and "a" differ. */
static bool next_line(sl_cursor *rest, bool *done, sl_cursor *line)
{
    if (*done) return false;
    ptrdiff_t at = sl_cursor_find_byte(*rest, '\n');
    if (at < 0) {
        *line = *rest;
        *done = true;
        return true;
    }
    *line = (sl_cursor){ rest->ptr, (size_t)at };
    rest->ptr += at + 1;
    rest->len -= (size_t)at + 1;
    return true;
}

static void report_mismatch(const char *case_name, const char *mode, const char *what, const char *file,
                            sl_cursor expected, sl_cursor actual)
{
    size_t i = 0, line_no = 1, column = 1;
    while (i < expected.len && i < actual.len && expected.ptr[i] == actual.ptr[i]) {
        if (expected.ptr[i] == '\n') {
            line_no++;
            column = 1;
        } else {
            column++;
        }
        i++;
    }
    printf("FAIL %s [%s] %s (%s): first difference at line %zu, column %zu (byte %zu; expected %zu bytes, got %zu)\n",
           case_name, mode, what, file, line_no, column, i, expected.len, actual.len);
    /* The differing line in both texts. */
    sl_cursor texts[2] = { expected, actual };
    const char *labels[2] = { "expected", "actual  " };
    for (int t = 0; t < 2; t++) {
        size_t start = i;
        while (start > 0 && texts[t].ptr[start - 1] != '\n') start--;
        if (start > texts[t].len) start = texts[t].len;
        sl_cursor from = { texts[t].ptr + start, texts[t].len - start };
        ptrdiff_t end = sl_cursor_find_byte(from, '\n');
        if (end >= 0) from.len = (size_t)end;
        printf("    line %zu %s: ", line_no, labels[t]);
        print_escaped(from);
        putchar('\n');
    }
    /* Line by line: " " same, "-" expected only, "+" actual only. */
    printf("  --- expected %s\n  +++ actual\n", file);
    sl_cursor re = expected, ra = actual, le, la;
    bool de = false, da = false;
    for (;;) {
        bool he = next_line(&re, &de, &le), ha = next_line(&ra, &da, &la);
        if (!he && !ha) break;
        if (he && ha && sl_cursor_eq(le, la)) {
            fputs("   ", stdout);
            print_escaped(le);
            putchar('\n');
            continue;
        }
        if (he) {
            fputs("  -", stdout);
            print_escaped(le);
            putchar('\n');
        }
        if (ha) {
            fputs("  +", stdout);
            print_escaped(la);
            putchar('\n');
        }
    }
}

static void report_error(const char *case_name, const char *mode, const char *what)
{
    char text[640];
    printf("FAIL %s [%s] %s: %s (%s at %s)\n", case_name, mode, what, sl_error_describe(text, sizeof(text)),
           sl_error_name(sl_error_last()), sl_error_location());
}

/* ---- one case ---- */

typedef struct vector_case {
    const char *dir;
    const char *name; /* dir relative to the root given on the command line */
    sl_buf request_text;
    json_t *context;
    /* the parsed request */
    sigv4_request req;
    sigv4_pair *headers;
    sigv4_pair *query;
    sl_cursor query_text; /* the target's query string as written (after "?"), or empty */
    /* the context */
    s3_credentials creds;
    sigv4_signing signing;
    bool sign_body;
    json_int_t expires;
    bool has_expires;
} vector_case;

static sl_result read_expected(const vector_case *vc, const char *file, sl_buf *out)
{
    char path[4096];
    ENSURE((size_t)snprintf(path, sizeof(path), "%s/%s", vc->dir, file) < sizeof(path), SL_ERR_LIMIT,
           "path too long");
    return sl_buf_read_file(out, path, MAX_FILE);
}

/* Compares `actual` with the case's expected file if it has one; true when it is absent
 * or equal. */
static bool check_file(const vector_case *vc, const char *mode, const char *what, const char *file,
                       sl_cursor actual, bool auth_params)
{
    if (!file_exists(vc->dir, file)) return true;
    sl_buf expected = { 0 };
    if (sl_failed(read_expected(vc, file, &expected))) {
        report_error(vc->name, mode, file);
        return false;
    }
    bool same;
    if (auth_params) {
        /* ", " and "," separate auth-params alike: compare (and report) with the
         * spaces after commas dropped. */
        sl_buf e = { 0 }, a = { 0 };
        sl_cursor texts[2] = { sl_cursor_from_buf(&expected), actual };
        sl_buf *outs[2] = { &e, &a };
        bool ok = true;
        for (int t = 0; t < 2; t++) {
            for (size_t i = 0; i < texts[t].len; i++) {
                if (texts[t].ptr[i] == ' ' && i > 0 && texts[t].ptr[i - 1] == ',') continue;
                ok = ok && sl_ok(sl_buf_append_byte(outs[t], texts[t].ptr[i]));
            }
        }
        same = ok && sl_cursor_eq(sl_cursor_from_buf(&e), sl_cursor_from_buf(&a));
        if (!same)
            report_mismatch(vc->name, mode, what, file, sl_cursor_from_buf(&e), sl_cursor_from_buf(&a));
        sl_buf_clean_up(&e);
        sl_buf_clean_up(&a);
    } else {
        same = sl_cursor_eq(sl_cursor_from_buf(&expected), actual);
        if (!same) report_mismatch(vc->name, mode, what, file, sl_cursor_from_buf(&expected), actual);
    }
    sl_buf_clean_up(&expected);
    return same;
}

/* request.txt, read as the suites mean it:
 *   - the request line is "METHOD TARGET HTTP/1.1": the method ends at the first
 *     space, the target at the last one (so a target may hold spaces); the target's
 *     path ends at the first "?", and its query splits on "&" into raw name[=value]
 *     parameters (no "=": empty value; nothing is percent-decoded);
 *   - "Name:value" header lines, the name as written (the signer lower-cases it), the
 *     value everything after the first ":"; repeated names are kept as separate
 *     headers (the signer joins them);
 *   - a line beginning with a space or tab continues the previous header's value: the
 *     value then spans the line breaks, which the signer folds like obs-fold;
 *   - an empty line ends the headers and the rest is the body; a CR before a line's
 *     LF is dropped. */
static sl_result parse_request(vector_case *vc)
{
    sl_cursor rest = sl_cursor_from_buf(&vc->request_text), line;
    ENSURE(rest.len > 0, SL_ERR_PARSE, "request.txt is empty");
    bool done = false;
    next_line(&rest, &done, &line);
    if (line.len > 0 && line.ptr[line.len - 1] == '\r') line.len--;
    ptrdiff_t first_space = sl_cursor_find_byte(line, ' ');
    size_t last_space = line.len;
    while (last_space > 0 && line.ptr[last_space - 1] != ' ') last_space--;
    ENSURE(first_space > 0 && last_space > (size_t)first_space + 1, SL_ERR_PARSE,
           "request.txt line 1: expected \"METHOD TARGET HTTP/1.1\"");
    sl_cursor version = { line.ptr + last_space, line.len - last_space };
    ENSURE(sl_cursor_starts_with(version, sl_cursor_from_cstr("HTTP/")), SL_ERR_PARSE,
           "request.txt line 1: no HTTP version at the end");
    vc->req.method = (sl_cursor){ line.ptr, (size_t)first_space };
    sl_cursor target = { line.ptr + first_space + 1, last_space - 1 - (size_t)first_space - 1 };
    ptrdiff_t question = sl_cursor_find_byte(target, '?');
    vc->req.path = target;
    if (question >= 0) {
        vc->req.path.len = (size_t)question;
        sl_cursor query = { target.ptr + question + 1, target.len - (size_t)question - 1 }, piece;
        vc->query_text = query;
        vc->query = sl_calloc(query.len / 2 + 1, sizeof(*vc->query));
        while (query.len > 0 && sl_cursor_next_token(&query, '&', &piece)) {
            if (piece.len == 0) continue;
            sigv4_pair *p = &vc->query[vc->req.query_count++];
            ptrdiff_t eq = sl_cursor_find_byte(piece, '=');
            p->name = piece;
            p->value = (sl_cursor){ piece.ptr + piece.len, 0 };
            if (eq >= 0) {
                p->name.len = (size_t)eq;
                p->value = (sl_cursor){ piece.ptr + eq + 1, piece.len - (size_t)eq - 1 };
            }
        }
    }
    vc->req.query = vc->query;

    size_t max_headers = 1;
    for (size_t i = 0; i < rest.len; i++)
        if (rest.ptr[i] == '\n') max_headers++;
    vc->headers = sl_calloc(max_headers, sizeof(*vc->headers));
    size_t line_no = 1;
    vc->req.body = (sl_cursor){ rest.ptr + rest.len, 0 };
    while (next_line(&rest, &done, &line)) {
        line_no++;
        if (line.len > 0 && line.ptr[line.len - 1] == '\r') line.len--;
        if (line.len == 0) {
            vc->req.body = done ? (sl_cursor){ line.ptr, 0 } : rest;
            break;
        }
        if (line.ptr[0] == ' ' || line.ptr[0] == '\t') {
            ENSURE(vc->req.header_count > 0, SL_ERR_PARSE,
                   "request.txt line %zu: a continuation line before any header", line_no);
            sigv4_pair *prev = &vc->headers[vc->req.header_count - 1];
            prev->value.len = (size_t)(line.ptr + line.len - prev->value.ptr);
            continue;
        }
        ptrdiff_t colon = sl_cursor_find_byte(line, ':');
        ENSURE(colon >= 0, SL_ERR_PARSE, "request.txt line %zu: a header line without ':'", line_no);
        sigv4_pair *h = &vc->headers[vc->req.header_count++];
        h->name = (sl_cursor){ line.ptr, (size_t)colon };
        h->value = (sl_cursor){ line.ptr + colon + 1, line.len - (size_t)colon - 1 };
    }
    vc->req.headers = vc->headers;
    return SL_SUCCESS;
}

static const char *json_get_string(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "2015-08-30T12:36:00Z" → seconds since the epoch, UTC. */
static sl_result parse_timestamp(const char *text, time_t *out)
{
    struct tm tm = { 0 };
    int consumed = 0;
    ENSURE(sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) == 6 &&
               consumed > 0 && text[consumed] == '\0',
           SL_ERR_PARSE, "context.json: timestamp \"%s\" is not YYYY-MM-DDTHH:MM:SSZ", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm);
    return SL_SUCCESS;
}

static sl_result parse_context(vector_case *vc)
{
    json_t *ctx = vc->context;
    ENSURE(json_is_object(ctx), SL_ERR_PARSE, "context.json: not an object");
    json_t *creds = json_object_get(ctx, "credentials");
    ENSURE(json_is_object(creds), SL_ERR_PARSE, "context.json: missing 'credentials'");
    const char *key_id = json_get_string(creds, "access_key_id");
    const char *secret = json_get_string(creds, "secret_access_key");
    const char *token = json_get_string(creds, "token");
    ENSURE(key_id != NULL && secret != NULL, SL_ERR_PARSE,
           "context.json: credentials need access_key_id and secret_access_key");
    GUARD(s3_credentials_init(&vc->creds, key_id, secret, token != NULL && token[0] != '\0' ? token : NULL));

    const char *region = json_get_string(ctx, "region");
    const char *service = json_get_string(ctx, "service");
    const char *timestamp = json_get_string(ctx, "timestamp");
    ENSURE(region && service && timestamp, SL_ERR_PARSE, "context.json: needs region, service and timestamp");
    vc->signing.credentials = &vc->creds;
    vc->signing.region = sl_cursor_from_cstr(region);
    vc->signing.service = sl_cursor_from_cstr(service);
    GUARD(parse_timestamp(timestamp, &vc->signing.time));
    vc->signing.omit_session_token = json_is_true(json_object_get(ctx, "omit_session_token"));

    /* Without "normalize", S3 does not normalize and every other service does. */
    json_t *normalize = json_object_get(ctx, "normalize");
    bool generic = normalize ? json_is_true(normalize) : strcmp(service, "s3") != 0;
    vc->req.uri_mode = generic ? SIGV4_URI_GENERIC : SIGV4_URI_S3;
    /* "path_encoded" (S3 only): the path in request.txt is already percent-encoded.
     * "query_encoded": the query string is, and is handed to the signer as written. */
    if (!generic && json_is_true(json_object_get(ctx, "path_encoded"))) vc->req.uri_mode = SIGV4_URI_S3_ENCODED;
    if (json_is_true(json_object_get(ctx, "query_encoded"))) {
        vc->req.query_count = 0;
        vc->req.encoded_query = vc->query_text.ptr ? vc->query_text : sl_cursor_from_bytes("", 0);
    }
    vc->sign_body = json_is_true(json_object_get(ctx, "sign_body"));
    const char *payload_hash = json_get_string(ctx, "payload_hash");
    if (payload_hash != NULL) vc->req.payload_hash = sl_cursor_from_cstr(payload_hash);
    json_t *expires = json_object_get(ctx, "expiration_in_seconds");
    vc->has_expires = json_is_integer(expires);
    if (vc->has_expires) vc->expires = json_integer_value(expires);
    return SL_SUCCESS;
}

static void case_clean_up(vector_case *vc)
{
    sl_buf_clean_up(&vc->request_text);
    json_decref(vc->context);
    sl_free(vc->headers);
    sl_free(vc->query);
    s3_credentials_clean_up(&vc->creds);
}

static bool any_file(const vector_case *vc, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (file_exists(vc->dir, names[i])) return true;
    return false;
}

/* The streaming chain: chunk-signatures.txt lines "index size sha256 signature" (and
 * "trailer - - signature"), the chunks' data from context.json "chunks" ({"size": n,
 * "byte": "a"}: n copies of the byte) and the trailer from "trailer" ("name:value"). */
static bool run_chunks(const vector_case *vc, const sigv4_signed *seed)
{
    const char *mode = "chunks";
    sl_buf table = { 0 }, data = { 0 };
    sigv4_stream stream = { 0 };
    bool pass = false;
    if (sl_failed(read_expected(vc, "chunk-signatures.txt", &table))) {
        report_error(vc->name, mode, "chunk-signatures.txt");
        goto done;
    }
    json_t *chunks = json_object_get(vc->context, "chunks");
    if (!json_is_array(chunks)) {
        printf("FAIL %s [%s] context.json has no \"chunks\" array for chunk-signatures.txt\n", vc->name, mode);
        goto done;
    }
    if (sl_failed(sigv4_stream_init(&stream, &vc->signing, seed))) {
        report_error(vc->name, mode, "starting the chain");
        goto done;
    }
    size_t chunk_index = 0;
    pass = true;
    sl_cursor rest = sl_cursor_from_buf(&table), line;
    bool at_end = false;
    while (pass && next_line(&rest, &at_end, &line)) {
        if (line.len == 0 || line.ptr[0] == '#') continue;
        char *text = sl_cursor_dup(line);
        char label[32], size_text[32], sha_text[80], signature[80];
        if (sscanf(text, "%31s %31s %79s %79s", label, size_text, sha_text, signature) != 4) {
            printf("FAIL %s [%s] chunk-signatures.txt: bad line \"%s\"\n", vc->name, mode, text);
            pass = false;
        } else if (strcmp(label, "trailer") == 0) {
            const char *trailer = json_get_string(vc->context, "trailer");
            const char *colon = trailer ? strchr(trailer, ':') : NULL;
            if (colon == NULL) {
                printf("FAIL %s [%s] context.json has no \"trailer\" \"name:value\"\n", vc->name, mode);
                pass = false;
            } else {
                sigv4_pair t = { sl_cursor_from_bytes(trailer, (size_t)(colon - trailer)),
                                 sl_cursor_from_cstr(colon + 1) };
                if (sl_failed(sigv4_stream_sign_trailer(&stream, &t, 1))) {
                    report_error(vc->name, mode, "signing the trailer");
                    pass = false;
                } else {
                    if (!sigv4_signature_equal(sl_cursor_from_cstr(signature),
                                               sl_cursor_from_cstr(stream.signature))) {
                        report_mismatch(vc->name, mode, "trailer signature", "chunk-signatures.txt",
                                        sl_cursor_from_cstr(signature), sl_cursor_from_cstr(stream.signature));
                        pass = false;
                    }
                }
            }
        } else {
            json_t *chunk = json_array_get(chunks, chunk_index);
            json_t *size = json_object_get(chunk, "size");
            const char *byte = json_get_string(chunk, "byte");
            json_int_t n = json_is_integer(size) ? json_integer_value(size) : -1;
            if (n < 0 || n > (json_int_t)MAX_FILE || (n > 0 && (byte == NULL || strlen(byte) != 1))) {
                printf("FAIL %s [%s] context.json chunks[%zu] is not {\"size\": n, \"byte\": \"x\"}\n",
                       vc->name, mode, chunk_index);
                pass = false;
            } else {
                sl_buf_reset(&data);
                for (json_int_t k = 0; k < n && pass; k++)
                    pass = sl_ok(sl_buf_append_byte(&data, (uint8_t)byte[0]));
                uint8_t digest[32];
                unsigned int digest_len = 0;
                sl_buf hex = { 0 };
                char what[64];
                snprintf(what, sizeof(what), "chunk %s", label);
                if (EVP_Digest(data.data ? data.data : (uint8_t *)"", data.len, digest, &digest_len, EVP_sha256(),
                               NULL) != 1 ||
                    sl_failed(sl_buf_append_hex(&hex, digest, digest_len))) {
                    printf("FAIL %s [%s] SHA-256 failed\n", vc->name, mode);
                    pass = false;
                } else if (!sl_cursor_eq(sl_cursor_from_buf(&hex), sl_cursor_from_cstr(sha_text)) ||
                           (size_t)strtoull(size_text, NULL, 10) != data.len) {
                    report_mismatch(vc->name, mode, "chunk data (size/SHA-256 from context.json)",
                                    "chunk-signatures.txt", sl_cursor_from_cstr(sha_text), sl_cursor_from_buf(&hex));
                    pass = false;
                } else if (sl_failed(sigv4_stream_sign_chunk(&stream, sl_cursor_from_buf(&data)))) {
                    report_error(vc->name, mode, what);
                    pass = false;
                } else {
                    char sts_file[64];
                    snprintf(sts_file, sizeof(sts_file), "chunk%s-string-to-sign.txt", label);
                    pass = check_file(vc, mode, "chunk string to sign", sts_file,
                                      sl_cursor_from_buf(&stream.string_to_sign), false) &&
                           pass;
                    if (!sigv4_signature_equal(sl_cursor_from_cstr(signature),
                                               sl_cursor_from_cstr(stream.signature))) {
                        report_mismatch(vc->name, mode, what, "chunk-signatures.txt",
                                        sl_cursor_from_cstr(signature), sl_cursor_from_cstr(stream.signature));
                        pass = false;
                    }
                }
                sl_buf_clean_up(&hex);
            }
            chunk_index++;
        }
        sl_free(text);
    }
    if (pass && chunk_index != json_array_size(chunks)) {
        printf("FAIL %s [%s] chunk-signatures.txt has %zu chunks, context.json %zu\n", vc->name, mode, chunk_index,
               json_array_size(chunks));
        pass = false;
    }
done:
    sigv4_stream_clean_up(&stream);
    sl_buf_clean_up(&table);
    sl_buf_clean_up(&data);
    return pass;
}

static const char *const header_files[] = {
    "header-canonical-request.txt", "header-string-to-sign.txt", "header-signature.txt", "header-authorization.txt",
    "seed-canonical-request.txt",   "seed-string-to-sign.txt",   "seed-signature.txt",   "chunk-signatures.txt",
};
static const char *const query_files[] = {
    "query-canonical-request.txt",
    "query-string-to-sign.txt",
    "query-signature.txt",
    "presigned-url.txt",
};

/* Compares the trio every mode has, for the files named prefix-*. */
static bool check_trio(const vector_case *vc, const char *mode, const char *prefix, const sigv4_signed *s)
{
    char file[64];
    bool pass = true;
    snprintf(file, sizeof(file), "%s-canonical-request.txt", prefix);
    pass = check_file(vc, mode, "canonical request", file, sl_cursor_from_buf(&s->canonical_request), false) && pass;
    snprintf(file, sizeof(file), "%s-string-to-sign.txt", prefix);
    pass = check_file(vc, mode, "string to sign", file, sl_cursor_from_buf(&s->string_to_sign), false) && pass;
    snprintf(file, sizeof(file), "%s-signature.txt", prefix);
    pass = check_file(vc, mode, "signature", file, sl_cursor_from_cstr(s->signature), false) && pass;
    return pass;
}

static bool run_case(const char *dir, const char *name, const char **modes_run)
{
    vector_case vc = { .dir = dir, .name = name };
    bool pass = false;
    char path[4096];
    json_error_t jerr;
    static char modes[64];
    modes[0] = '\0';
    *modes_run = modes;

    snprintf(path, sizeof(path), "%s/request.txt", dir);
    if (sl_failed(sl_buf_read_file(&vc.request_text, path, MAX_FILE)) || sl_failed(parse_request(&vc))) {
        report_error(name, "setup", "request.txt");
        goto done;
    }
    snprintf(path, sizeof(path), "%s/context.json", dir);
    vc.context = json_load_file(path, 0, &jerr);
    if (vc.context == NULL) {
        printf("FAIL %s [setup] context.json line %d: %s\n", name, jerr.line, jerr.text);
        goto done;
    }
    if (sl_failed(parse_context(&vc))) {
        report_error(name, "setup", "context.json");
        goto done;
    }

    bool header_mode = any_file(&vc, header_files, sizeof(header_files) / sizeof(header_files[0]));
    bool query_mode = any_file(&vc, query_files, sizeof(query_files) / sizeof(query_files[0]));
    if (!header_mode && !query_mode) {
        printf("FAIL %s: no expected files (header-*, query-*, seed-*)\n", name);
        goto done;
    }
    pass = true;
    if (header_mode) {
        sigv4_signed s = { 0 };
        sigv4_request req = vc.req;
        req.add_content_sha256 = vc.sign_body;
        strcat(modes, " header");
        if (sl_failed(sigv4_sign_headers(&vc.signing, &req, &s))) {
            report_error(name, "header", "signing");
            pass = false;
        } else {
            pass = check_trio(&vc, "header", "header", &s) && pass;
            pass = check_file(&vc, "header", "Authorization", "header-authorization.txt",
                              sl_cursor_from_buf(&s.authorization), true) &&
                   pass;
            if (file_exists(dir, "seed-canonical-request.txt") || file_exists(dir, "seed-signature.txt")) {
                strcat(modes, " seed");
                pass = check_trio(&vc, "seed", "seed", &s) && pass;
            }
            if (file_exists(dir, "chunk-signatures.txt")) {
                strcat(modes, " chunks");
                pass = run_chunks(&vc, &s) && pass;
            }
        }
        sigv4_signed_clean_up(&s);
    }
    if (query_mode) {
        sigv4_signed s = { 0 };
        strcat(modes, " query");
        if (!vc.has_expires || vc.expires < 0 || vc.expires > (json_int_t)UINT32_MAX) {
            printf("FAIL %s [query] context.json has no valid expiration_in_seconds\n", name);
            pass = false;
        } else if (sl_failed(sigv4_presign(&vc.signing, &vc.req, (uint32_t)vc.expires, &s))) {
            report_error(name, "query", "presigning");
            pass = false;
        } else {
            pass = check_trio(&vc, "query", "query", &s) && pass;
            pass = check_file(&vc, "query", "presigned URL", "presigned-url.txt", sl_cursor_from_buf(&s.url), false) &&
                   pass;
        }
        sigv4_signed_clean_up(&s);
    }
done:
    case_clean_up(&vc);
    return pass;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "Usage: sigv4-vectors FOLDER...\n"
                "Runs every SigV4 test-vector case (a folder with request.txt and context.json)\n"
                "found under the FOLDERs; the last line is \"N passed, M failed\".\n");
        return argc < 2 ? 2 : 0;
    }
    size_t passed = 0, failed = 0;
    for (int a = 1; a < argc; a++) {
        case_list list = { 0 };
        char *root = sl_strdup(argv[a]);
        size_t root_len = strlen(root);
        while (root_len > 1 && root[root_len - 1] == '/') root[--root_len] = '\0';
        if (sl_failed(find_cases(&list, root, 0))) {
            char text[640];
            printf("FAIL %s: %s\n", root, sl_error_describe(text, sizeof(text)));
            failed++;
        }
        if (list.count > 1) qsort(list.paths, list.count, sizeof(*list.paths), compare_strings);
        for (size_t i = 0; i < list.count; i++) {
            const char *name = list.paths[i];
            if (strncmp(name, root, root_len) == 0 && name[root_len] == '/') name += root_len + 1;
            const char *modes = "";
            if (run_case(list.paths[i], name, &modes)) {
                printf("ok   %s (%s)\n", name, modes + 1);
                passed++;
            } else {
                failed++;
            }
            sl_free(list.paths[i]);
        }
        sl_free(list.paths);
        sl_free(root);
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    fflush(stdout);
    return (failed > 0 || passed == 0) ? 1 : 0;
}
