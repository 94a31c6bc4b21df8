/*
 * test_sigv4.c — unit tests of mover/s3/sigv4: URI encoding of every byte, query
 * sorting, header folding, key derivation and its cache, presigned URLs (expiry bounds,
 * a botocore cross-check, tokens, extra signed headers), the POST policy against an
 * independently computed example, path normalization, the streaming chain's
 * preconditions, input validation (invalid UTF-8, empty keys, control characters,
 * Host) and the constant-time comparison. The public test vectors run separately
 * (sigv4-vectors). Expected values that are not obvious come from Python's hmac,
 * hashlib, base64, json, urllib and botocore; the commands are in the comments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/sigv4.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define C(s) sl_cursor_from_cstr(s)

/* 2024-03-01T12:34:56Z (`date -u -d 2024-03-01T12:34:56Z +%s`). */
static const time_t T_2024_03_01 = 1709296496;
/* 2015-08-30T12:36:00Z, the suite's time. */
static const time_t T_2015_08_30 = 1440938160;

static s3_credentials example_creds(const char *token)
{
    /* Filled by hand: the struct owns nothing here (string literals, never freed). */
    return (s3_credentials){ .access_key_id = (char *)"AKIDSLUICEEXAMPLE",
                             .secret_access_key = (char *)"sluice-secret/key+1",
                             .session_token = (char *)token };
}

static sigv4_signing example_signing(const s3_credentials *creds)
{
    return (sigv4_signing){ .credentials = creds, .region = C("eu-central-1"), .service = C("s3"),
                            .time = T_2024_03_01 };
}

/* Line n (0-based) of a text, as a fresh string. */
static char *line_of(const sl_buf *text, size_t n)
{
    sl_cursor rest = sl_cursor_from_buf(text), line = { 0 };
    for (size_t i = 0; i <= n; i++) assert_true(sl_cursor_next_token(&rest, '\n', &line));
    return sl_cursor_dup(line);
}

static void assert_line(const sl_buf *text, size_t n, const char *expected)
{
    char *line = line_of(text, n);
    assert_string_equal(line, expected);
    sl_free(line);
}

static bool is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return false;
    return true;
}

/* ---- URI encoding ---- */

/* python3 -c "import urllib.parse; print(urllib.parse.quote(bytes(range(256)), safe='/-_.~'))"
 * (safe='-_.~' for the query form; quote never encodes A-Za-z0-9). */
static const char all_bytes_path[] =
    "%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14%15%16%17%18%19%1A%1B%1C%1D%1E%1F"
    "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-./0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%7F%80%81%82%83%84%85%86%87%88%89%8A%8B%8C%8D"
    "%8E%8F%90%91%92%93%94%95%96%97%98%99%9A%9B%9C%9D%9E%9F%A0%A1%A2%A3%A4%A5%A6%A7%A8%A9%AA%AB%AC%AD%AE"
    "%AF%B0%B1%B2%B3%B4%B5%B6%B7%B8%B9%BA%BB%BC%BD%BE%BF%C0%C1%C2%C3%C4%C5%C6%C7%C8%C9%CA%CB%CC%CD%CE%CF"
    "%D0%D1%D2%D3%D4%D5%D6%D7%D8%D9%DA%DB%DC%DD%DE%DF%E0%E1%E2%E3%E4%E5%E6%E7%E8%E9%EA%EB%EC%ED%EE%EF"
    "%F0%F1%F2%F3%F4%F5%F6%F7%F8%F9%FA%FB%FC%FD%FE%FF";
static const char all_bytes_query[] =
    "%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14%15%16%17%18%19%1A%1B%1C%1D%1E%1F"
    "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%7F%80%81%82%83%84%85%86%87%88%89%8A%8B%8C%8D"
    "%8E%8F%90%91%92%93%94%95%96%97%98%99%9A%9B%9C%9D%9E%9F%A0%A1%A2%A3%A4%A5%A6%A7%A8%A9%AA%AB%AC%AD%AE"
    "%AF%B0%B1%B2%B3%B4%B5%B6%B7%B8%B9%BA%BB%BC%BD%BE%BF%C0%C1%C2%C3%C4%C5%C6%C7%C8%C9%CA%CB%CC%CD%CE%CF"
    "%D0%D1%D2%D3%D4%D5%D6%D7%D8%D9%DA%DB%DC%DD%DE%DF%E0%E1%E2%E3%E4%E5%E6%E7%E8%E9%EA%EB%EC%ED%EE%EF"
    "%F0%F1%F2%F3%F4%F5%F6%F7%F8%F9%FA%FB%FC%FD%FE%FF";

static void uri_encode_every_byte_in_both_modes(void **state)
{
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    sl_buf path = { 0 }, query = { 0 };
    assert_true(sl_ok(sigv4_uri_encode(&path, sl_cursor_from_bytes(all, sizeof(all)), SIGV4_ENCODE_PATH)));
    assert_true(sl_ok(sigv4_uri_encode(&query, sl_cursor_from_bytes(all, sizeof(all)), SIGV4_ENCODE_QUERY)));
    assert_string_equal(sl_buf_cstr(&path), all_bytes_path);
    assert_string_equal(sl_buf_cstr(&query), all_bytes_query);

    /* Byte by byte: unreserved kept, "/" kept only in a path, the rest %XX upper-case. */
    for (int i = 0; i < 256; i++) {
        uint8_t b = (uint8_t)i;
        bool unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
                          b == '-' || b == '.' || b == '_' || b == '~';
        for (int mode = 0; mode < 2; mode++) {
            sl_buf one = { 0 };
            sigv4_encoding enc = mode == 0 ? SIGV4_ENCODE_PATH : SIGV4_ENCODE_QUERY;
            assert_true(sl_ok(sigv4_uri_encode(&one, sl_cursor_from_bytes(&b, 1), enc)));
            if (unreserved || (b == '/' && enc == SIGV4_ENCODE_PATH)) {
                assert_int_equal(one.len, 1);
                assert_int_equal(one.data[0], b);
            } else {
                char expected[4];
                snprintf(expected, sizeof(expected), "%%%02X", b);
                assert_string_equal(sl_buf_cstr(&one), expected);
            }
            sl_buf_clean_up(&one);
        }
    }
    /* Appends, and an empty input appends nothing. */
    assert_true(sl_ok(sigv4_uri_encode(&path, sl_cursor_from_bytes("", 0), SIGV4_ENCODE_PATH)));
    assert_int_equal(path.len, strlen(all_bytes_path));
    sl_buf_clean_up(&path);
    sl_buf_clean_up(&query);
}

/* ---- canonical query ---- */

static sigv4_request host_request(const sigv4_pair *headers, size_t count)
{
    return (sigv4_request){ .method = C("GET"), .path = C("/"), .uri_mode = SIGV4_URI_S3, .headers = headers,
                            .header_count = count };
}

static void query_sorted_by_encoded_name_then_value(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair headers[] = { { C("Host"), C("example.com") } };
    /* Raw names and values; "é" (C3 A9) sorts after "z" raw but before it encoded
     * (%C3%A9: '%' < 'z'); "B" < "a" (byte order, case-sensitive); a name's bare
     * prefix ("a") sorts before longer names ("a b"); duplicates sort by value. */
    const sigv4_pair query[] = {
        { C("z"), C("last?") }, { C("b"), C("2") },     { C("a"), C("z") },  { C("\xc3\xa9"), C("e") },
        { C("a"), C("1") },     { C("a"), C("") },      { C("B"), C("x") },  { C("a b"), C("1 2") },
        { C("~"), C("0") },     { C("c"), C("") },      { C("a"), C("1") },
    };
    sigv4_request req = host_request(headers, 1);
    req.query = query;
    req.query_count = sizeof(query) / sizeof(query[0]);
    sigv4_signed s = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
    const char *expected = "%C3%A9=e&B=x&a=&a=1&a=1&a=z&a%20b=1%202&b=2&c=&z=last%3F&~=0";
    assert_line(&s.canonical_request, 2, expected);
    assert_string_equal(sl_buf_cstr(&s.query), expected);
    sigv4_signed_clean_up(&s);

    /* No parameters: an empty line. */
    req.query_count = 0;
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
    assert_line(&s.canonical_request, 2, "");
    sigv4_signed_clean_up(&s);
}

/* ---- canonical headers ---- */

static void headers_trimmed_folded_joined_and_sorted(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair headers[] = {
        { C("X-Multi"), C("  a   b \t c  ") },
        { C("Host"), C(" example.com ") },
        { C("X-Dup"), C("one") },
        { C("x-DUP"), C("  two  ") },
        { C("X-Line"), C("first\r\n   second\n\tthird") },
        { C("X-Empty"), C("") },
        { C("X-Quoted"), C("\"a   b   c\"") },
        { C("X-Dup"), C("three  four") },
    };
    sigv4_request req = host_request(headers, sizeof(headers) / sizeof(headers[0]));
    sigv4_signed s = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
    assert_line(&s.canonical_request, 3, "host:example.com");
    assert_line(&s.canonical_request, 4, "x-amz-date:20240301T123456Z");
    assert_line(&s.canonical_request, 5, "x-dup:one,two,three four");
    assert_line(&s.canonical_request, 6, "x-empty:");
    assert_line(&s.canonical_request, 7, "x-line:first second third");
    assert_line(&s.canonical_request, 8, "x-multi:a b c");
    assert_line(&s.canonical_request, 9, "x-quoted:\"a b c\"");
    assert_line(&s.canonical_request, 10, "");
    assert_string_equal(sl_buf_cstr(&s.signed_headers), "host;x-amz-date;x-dup;x-empty;x-line;x-multi;x-quoted");
    assert_line(&s.canonical_request, 11, sl_buf_cstr(&s.signed_headers));
    /* The payload line is the hash of the empty body. */
    assert_line(&s.canonical_request, 12, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sigv4_signed_clean_up(&s);
}

static void header_values_that_cannot_be_folded_are_rejected(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const char *bad_values[] = { "a\001b", "a\nb", "a\rb", "a\r\nb", "value\n", "value\r\n", "a\x7f" };
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        const sigv4_pair headers[] = { { C("Host"), C("example.com") }, { C("X-Bad"), C(bad_values[i]) } };
        sigv4_request req = host_request(headers, 2);
        sigv4_signed s = { 0 };
        sl_error_clear();
        assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(sl_error_detail(), "cannot be folded"));
        assert_true(is_zero(&s, sizeof(s))); /* on error the output is untouched */
    }
    /* A NUL inside a value (cursors carry lengths) is a control character too. */
    const sigv4_pair nul_headers[] = { { C("Host"), C("example.com") },
                                       { C("X-Bad"), sl_cursor_from_bytes("a\0b", 3) } };
    sigv4_request req = host_request(nul_headers, 2);
    sigv4_signed s = { 0 };
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
    /* Names must be tokens. */
    const char *bad_names[] = { "", "Bad Name", "X:Y", "X-\xc3\xa9", "X\t" };
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        const sigv4_pair headers[] = { { C("Host"), C("example.com") }, { C(bad_names[i]), C("v") } };
        req = host_request(headers, 2);
        assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    }
}

static void host_is_required_once_and_signer_headers_are_reserved(void **state)
{
    (void)state;
    s3_credentials creds = example_creds("TOKEN");
    sigv4_signing signing = example_signing(&creds);
    sigv4_signed s = { 0 };

    const sigv4_pair no_host[] = { { C("X-A"), C("1") } };
    sigv4_request req = host_request(no_host, 1);
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
    assert_non_null(strstr(sl_error_detail(), "no Host"));
    assert_true(sl_failed(sigv4_presign(&signing, &req, 60, &s)));
    assert_non_null(strstr(sl_error_detail(), "no Host"));

    const sigv4_pair two_hosts[] = { { C("Host"), C("a") }, { C("host"), C("b") } };
    req = host_request(two_hosts, 2);
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
    assert_non_null(strstr(sl_error_detail(), "2 Host"));

    const char *bad_hosts[] = { "   ", "a b", "a/b", "a?b", "a#b" };
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        const sigv4_pair bad_host[] = { { C("Host"), C(bad_hosts[i]) } };
        req = host_request(bad_host, 1);
        assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    }

    const char *reserved[] = { "Authorization", "X-Amz-Date", "x-amz-security-token" };
    for (size_t i = 0; i < 3; i++) {
        const sigv4_pair headers[] = { { C("Host"), C("a") }, { C(reserved[i]), C("x") } };
        req = host_request(headers, 2);
        assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    }
    const sigv4_pair sha[] = { { C("Host"), C("a") }, { C("X-Amz-Content-SHA256"), C("UNSIGNED-PAYLOAD") } };
    req = host_request(sha, 2);
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s))); /* given, not added: fine */
    sigv4_signed_clean_up(&s);
    req.add_content_sha256 = true;
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s))); /* given and added */

    /* Presigning: the auth parameters belong to the signer. */
    const sigv4_pair host[] = { { C("Host"), C("a") } };
    const sigv4_pair sig_param[] = { { C("x-amz-signature"), C("0") } };
    req = host_request(host, 1);
    req.query = sig_param;
    req.query_count = 1;
    assert_true(sl_failed(sigv4_presign(&signing, &req, 60, &s)));
    assert_non_null(strstr(sl_error_detail(), "X-Amz-Signature"));
    assert_true(is_zero(&s, sizeof(s)));
}

/* ---- queries and S3 paths handed over already encoded ---- */

/* The canonical request of req signed at the example time. */
static char *canonical_of(sigv4_request req)
{
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    sigv4_signed s = { 0 };
    if (sl_failed(sigv4_sign_headers(&signing, &req, &s))) return NULL;
    char *text = sl_cursor_dup(sl_cursor_from_buf(&s.canonical_request));
    sigv4_signed_clean_up(&s);
    return text;
}

static void encoded_query_signs_as_its_raw_form(void **state)
{
    (void)state;
    const sigv4_pair headers[] = { { C("Host"), C("example.com") } };
    /* the raw parameters of the test above, and the same written in a URI in several
     * legal ways: lower-case hex, unreserved bytes encoded, an empty piece */
    const sigv4_pair query[] = {
        { C("z"), C("last?") }, { C("b"), C("2") },     { C("a"), C("z") },  { C("\xc3\xa9"), C("e") },
        { C("a"), C("1") },     { C("a"), C("") },      { C("B"), C("x") },  { C("a b"), C("1 2") },
        { C("~"), C("0") },     { C("c"), C("") },      { C("a"), C("1") },
    };
    sigv4_request raw = host_request(headers, 1);
    raw.query = query;
    raw.query_count = sizeof(query) / sizeof(query[0]);
    char *expected = canonical_of(raw);
    assert_non_null(expected);
    const char *written[] = {
        "z=last%3F&b=2&a=z&%C3%A9=e&a=1&a=&B=x&a%20b=1%202&~=0&c=&a=1",
        "z=last%3f&b=%32&%61=z&%c3%a9=e&a=1&a&%42=%78&a%20b=1%202&%7E=0&c&&a=1",
        "&z=last?&b=2&a=z&\xc3\xa9=e&a=1&a=&B=x&a%20b=1%202&~=0&c=&a=1&",
    };
    for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
        sigv4_request enc = host_request(headers, 1);
        enc.encoded_query = C(written[i]);
        char *got = canonical_of(enc);
        assert_non_null(got);
        assert_string_equal(got, expected);
        sl_free(got);
    }
    sl_free(expected);

    /* "%25" is a percent sign, encoded once: never %2525; "+" is a plus */
    sigv4_request enc = host_request(headers, 1);
    enc.encoded_query = C("p=100%25&q=a+b");
    char *got = canonical_of(enc);
    assert_non_null(got);
    char *line = strchr(strchr(got, '\n') + 1, '\n') + 1;
    assert_int_equal(strncmp(line, "p=100%25&q=a%2Bb\n", 17), 0);
    sl_free(got);
    /* an empty (non-NULL) encoded query is no parameters at all */
    enc.encoded_query = sl_cursor_from_bytes("", 0);
    got = canonical_of(enc);
    assert_non_null(got);
    assert_non_null(strstr(got, "GET\n/\n\nhost:"));
    sl_free(got);
}

static void encoded_query_and_path_errors(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair headers[] = { { C("Host"), C("example.com") } };
    const char *bad[] = { "a=%G1", "a=%4", "a=%", "%=1", "a=1&b=%zz" };
    sigv4_signed s = { 0 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sigv4_request req = host_request(headers, 1);
        req.encoded_query = C(bad[i]);
        assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(sl_error_detail(), "not followed by two hex digits"));
        assert_true(is_zero(&s, sizeof(s)));
    }
    /* both forms at once */
    const sigv4_pair query[] = { { C("a"), C("1") } };
    sigv4_request both = host_request(headers, 1);
    both.query = query;
    both.query_count = 1;
    both.encoded_query = C("b=2");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &both, &s)));
    /* presigning: the signer's parameters cannot come in encoded either */
    sigv4_request sneaky = host_request(headers, 1);
    sneaky.encoded_query = C("X%2DAmz-Signature=0");
    assert_true(sl_failed(sigv4_presign(&signing, &sneaky, 60, &s)));
    assert_non_null(strstr(sl_error_detail(), "X-Amz-Signature"));
    /* an encoded S3 path must decode to UTF-8, and its %XX be complete */
    sigv4_request path = host_request(headers, 1);
    path.uri_mode = SIGV4_URI_S3_ENCODED;
    path.path = C("/bucket/%FF");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &path, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    path.path = C("/bucket/a%2");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &path, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(is_zero(&s, sizeof(s)));
}

static void encoded_s3_path_signs_and_sends_as_its_raw_form(void **state)
{
    (void)state;
    const sigv4_pair headers[] = { { C("Host"), C("example.com") } };
    sigv4_request raw = host_request(headers, 1);
    raw.path = C("/bucket/dir/a b+c%d\xe2\x9c\x93/./../x");
    sigv4_request enc = raw;
    enc.uri_mode = SIGV4_URI_S3_ENCODED;
    enc.path = C("/bucket/dir%2Fa%20b+c%25d%e2%9c%93/./../%78");
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    sigv4_signed a = { 0 }, b = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &raw, &a)));
    assert_true(sl_ok(sigv4_sign_headers(&signing, &enc, &b)));
    assert_string_equal(sl_buf_cstr(&b.canonical_request), sl_buf_cstr(&a.canonical_request));
    assert_string_equal(sl_buf_cstr(&b.path), "/bucket/dir/a%20b%2Bc%25d%E2%9C%93/./../x");
    assert_string_equal(sl_buf_cstr(&b.path), sl_buf_cstr(&a.path));
    assert_string_equal(b.signature, a.signature);
    sigv4_signed_clean_up(&a);
    sigv4_signed_clean_up(&b);
}

/* ---- paths ---- */

static void generic_paths_are_normalized_s3_paths_kept(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair host[] = { { C("Host"), C("example.com") } };
    struct {
        const char *path, *generic, *s3;
    } cases[] = {
        { "/", "/", "/" },
        { "//", "/", "//" },
        { "/a/./b/../c//d/", "/a/c/d/", "/a/./b/../c//d/" },
        { "/a/b/..", "/a/", "/a/b/.." },
        { "/a/.", "/a/", "/a/." },
        { "/..", "/", "/.." },
        { "/../../x", "/x", "/../../x" },
        { "/a b/c+d", "/a%20b/c%2Bd", "/a%20b/c%2Bd" },
        /* Generic paths arrive encoded and are encoded again; S3 keys are raw bytes. */
        { "/a%20b", "/a%2520b", "/a%2520b" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sigv4_request req = host_request(host, 1);
        req.path = C(cases[i].path);
        sigv4_signed s = { 0 };
        req.uri_mode = SIGV4_URI_GENERIC;
        assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
        assert_line(&s.canonical_request, 1, cases[i].generic);
        assert_string_equal(sl_buf_cstr(&s.path), cases[i].path); /* sent as given */
        sigv4_signed_clean_up(&s);
        req.uri_mode = SIGV4_URI_S3;
        assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
        assert_line(&s.canonical_request, 1, cases[i].s3);
        assert_string_equal(sl_buf_cstr(&s.path), cases[i].s3); /* sent encoded */
        sigv4_signed_clean_up(&s);
    }
    sigv4_request req = host_request(host, 1);
    sigv4_signed s = { 0 };
    req.path = C("no-slash");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
    req.path = C("");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
    req.path = C("/");
    req.method = C("GE T");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
}

static void invalid_utf8_s3_key_is_rejected(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair host[] = { { C("Host"), C("example.com") } };
    const char *bad[] = {
        "/bucket/\xff",          /* never valid */
        "/bucket/\xc0\xaf",      /* overlong "/" */
        "/bucket/\xe0\x80\xaf",  /* overlong, 3 bytes */
        "/bucket/\xed\xa0\x80",  /* UTF-16 surrogate */
        "/bucket/\xf4\x90\x80\x80", /* above U+10FFFF */
        "/bucket/\xe2\x82",      /* truncated */
        "/bucket/a\x80z",        /* stray continuation */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sigv4_request req = host_request(host, 1);
        req.path = C(bad[i]);
        sigv4_signed s = { 0 };
        sl_error_clear();
        assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
        assert_non_null(strstr(sl_error_detail(), "UTF-8"));
        assert_true(sl_failed(sigv4_presign(&signing, &req, 60, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
        assert_true(is_zero(&s, sizeof(s)));
    }
    /* Valid: 2-, 3- and 4-byte sequences, U+10FFFF. */
    sigv4_request req = host_request(host, 1);
    req.path = C("/bucket/\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
    sigv4_signed s = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
    assert_line(&s.canonical_request, 1, "/bucket/%C3%A9%E2%9C%93%F0%9F%98%80%F4%8F%BF%BF");
    sigv4_signed_clean_up(&s);
}

/* ---- credentials ---- */

static void empty_credentials_are_rejected(void **state)
{
    (void)state;
    const sigv4_pair host[] = { { C("Host"), C("example.com") } };
    sigv4_request req = host_request(host, 1);
    sigv4_signed s = { 0 };
    s3_credentials cases[] = {
        { .access_key_id = (char *)"AKID", .secret_access_key = (char *)"" },
        { .access_key_id = (char *)"AKID", .secret_access_key = NULL },
        { .access_key_id = (char *)"", .secret_access_key = (char *)"secret" },
        { .access_key_id = NULL, .secret_access_key = (char *)"secret" },
        { .access_key_id = (char *)"AK/ID", .secret_access_key = (char *)"secret" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sigv4_signing signing = example_signing(&cases[i]);
        sl_error_clear();
        assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
        assert_true(sl_failed(sigv4_presign(&signing, &req, 60, &s)));
        sigv4_post_form form = { 0 };
        sigv4_post_policy policy = { .bucket = C("b"), .max_length = 1, .expires_seconds = 60 };
        assert_true(sl_failed(sigv4_presign_post(&signing, &policy, &form)));
        assert_true(is_zero(&form, sizeof(form)));
    }
    assert_true(is_zero(&s, sizeof(s)));
    sl_error_clear();
    assert_true(sl_failed(sigv4_sign_headers(&(sigv4_signing){ .credentials = NULL }, &req, &s)));
    /* The detail says which one. */
    s3_credentials no_secret = { .access_key_id = (char *)"AKID", .secret_access_key = (char *)"" };
    sigv4_signing signing = example_signing(&no_secret);
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
    assert_string_equal(sl_error_detail(), "the secret access key is empty");
    uint8_t key[SIGV4_KEY_LEN];
    assert_true(sl_failed(sigv4_derive_signing_key(C(""), T_2015_08_30, C("us-east-1"), C("iam"), key)));
    assert_true(is_zero(key, sizeof(key)));
    /* Empty region / service. */
    s3_credentials creds = example_creds(NULL);
    signing = example_signing(&creds);
    signing.region = C("");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
    signing = example_signing(&creds);
    signing.service = C("s 3");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
}

/* ---- keys ---- */

static void key_derivation_matches_independent_hmac_chain(void **state)
{
    (void)state;
    /* python3 -c "import hmac,hashlib
     * h=lambda k,m: hmac.new(k,m.encode(),hashlib.sha256).digest()
     * print(h(h(h(h(b'AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY','20150830'),'us-east-1'),'iam'),'aws4_request').hex())
     * print(h(h(h(h(b'AWS4sluice-secret/key+1','20240301'),'eu-central-1'),'s3'),'aws4_request').hex())"
     * (the first is also the worked example of the IAM User Guide). */
    uint8_t key[SIGV4_KEY_LEN];
    sl_buf hex = { 0 };
    assert_true(sl_ok(sigv4_derive_signing_key(C("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), T_2015_08_30,
                                               C("us-east-1"), C("iam"), key)));
    assert_true(sl_ok(sl_buf_append_hex(&hex, key, sizeof(key))));
    assert_string_equal(sl_buf_cstr(&hex), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    sl_buf_reset(&hex);
    assert_true(sl_ok(sigv4_derive_signing_key(C("sluice-secret/key+1"), T_2024_03_01 + 40000, C("eu-central-1"),
                                               C("s3"), key)));
    assert_true(sl_ok(sl_buf_append_hex(&hex, key, sizeof(key))));
    assert_string_equal(sl_buf_cstr(&hex), "f7d80242d07a5664125badf60f49e1c0f461611467d7cb6a196475ca467b6cae");
    sl_buf_clean_up_secure(&hex);
}

static void key_cache_reuses_per_date_region_service_and_secret(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair host[] = { { C("Host"), C("example.com") } };
    sigv4_request req = host_request(host, 1);
    sigv4_signed uncached = { 0 }, cached = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &uncached)));

    signing.key_cache = sigv4_key_cache_new();
    assert_int_equal(sigv4_key_cache_derivations(signing.key_cache), 0);
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &cached)));
    assert_string_equal(cached.signature, uncached.signature);
    sigv4_signed_clean_up(&cached);
    signing.time += 3600; /* same day: a hit */
    assert_true(sl_ok(sigv4_presign(&signing, &req, 60, &cached)));
    sigv4_signed_clean_up(&cached);
    assert_int_equal(sigv4_key_cache_derivations(signing.key_cache), 1);
    signing.time += 86400; /* next day */
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &cached)));
    sigv4_signed_clean_up(&cached);
    assert_int_equal(sigv4_key_cache_derivations(signing.key_cache), 2);
    s3_credentials other = example_creds(NULL);
    other.secret_access_key = (char *)"another-secret";
    signing.credentials = &other; /* another secret never gets the cached key */
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &cached)));
    sigv4_signed_clean_up(&cached);
    assert_int_equal(sigv4_key_cache_derivations(signing.key_cache), 3);
    signing.region = C("us-east-1");
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &cached)));
    sigv4_signed_clean_up(&cached);
    signing.service = C("sts");
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &cached)));
    assert_int_equal(sigv4_key_cache_derivations(signing.key_cache), 5);
    /* Cached and uncached keys sign alike. */
    sigv4_key_cache *cache = signing.key_cache;
    signing.key_cache = NULL;
    sigv4_signed again = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &again)));
    assert_string_equal(again.signature, cached.signature);
    sigv4_signed_clean_up(&again);
    sigv4_signed_clean_up(&cached);
    sigv4_signed_clean_up(&uncached);
    sigv4_key_cache_destroy(cache);
    sigv4_key_cache_destroy(NULL);
}

/* ---- presigned URLs ---- */

static void presign_expiry_bounds(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair host[] = { { C("Host"), C("example.com") } };
    sigv4_request req = host_request(host, 1);
    req.payload_hash = C(SIGV4_UNSIGNED_PAYLOAD);
    struct {
        uint32_t expires;
        bool ok;
    } cases[] = { { 0, false }, { 1, true }, { 604800, true }, { 604801, false }, { UINT32_MAX, false } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sigv4_signed s = { 0 };
        sl_error_clear();
        sl_result r = sigv4_presign(&signing, &req, cases[i].expires, &s);
        if (cases[i].ok) {
            assert_true(sl_ok(r));
            char param[48];
            snprintf(param, sizeof(param), "&X-Amz-Expires=%u&", (unsigned)cases[i].expires);
            assert_non_null(strstr(sl_buf_cstr(&s.url), param));
            assert_non_null(strstr(sl_buf_cstr(&s.canonical_request), param + 1));
        } else {
            assert_true(sl_failed(r));
            assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(sl_error_detail(), "7 days"));
            assert_true(is_zero(&s, sizeof(s)));
        }
        sigv4_signed_clean_up(&s);
    }
}

static void presign_matches_botocore_with_token_and_extra_header(void **state)
{
    (void)state;
    /* /usr/bin/python3 with botocore, the clock fixed at 2024-03-01T12:34:56Z:
     *   creds = botocore.credentials.Credentials("AKIDSLUICEEXAMPLE", "sluice-secret/key+1",
     *                                            "FQoGZXIvYXdzEXAMPLETOKEN/+=")
     *   req = botocore.awsrequest.AWSRequest(method="PUT", headers={"If-None-Match": "*"},
     *     url="http://127.0.0.1:7580/sluice-staging/run%2042/a%2Bb%25c%20%C3%A9%E2%9C%93.txt")
     *   botocore.auth.S3SigV4QueryAuth(creds, "s3", "eu-central-1", expires=900).add_auth(req)
     * (with unittest.mock patching botocore.auth.datetime) gives X-Amz-Signature=0c8e98…;
     * botocore lists the token before X-Amz-SignedHeaders unsorted in the URL, the
     * parameters are otherwise the same. */
    s3_credentials creds = example_creds("FQoGZXIvYXdzEXAMPLETOKEN/+=");
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair headers[] = { { C("Host"), C("127.0.0.1:7580") }, { C("If-None-Match"), C("*") } };
    sigv4_request req = { .method = C("PUT"),
                          .path = C("/sluice-staging/run 42/a+b%c \xc3\xa9\xe2\x9c\x93.txt"),
                          .uri_mode = SIGV4_URI_S3,
                          .headers = headers,
                          .header_count = 2,
                          .payload_hash = C(SIGV4_UNSIGNED_PAYLOAD),
                          .scheme = C("http") };
    sigv4_signed s = { 0 };
    assert_true(sl_ok(sigv4_presign(&signing, &req, 900, &s)));
    assert_string_equal(s.signature, "0c8e983488ab51c6987fb87b4821375fa6e5a88d6bc93c95074beaf8b5eb6f7c");
    assert_string_equal(sl_buf_cstr(&s.url),
                        "http://127.0.0.1:7580/sluice-staging/run%2042/a%2Bb%25c%20%C3%A9%E2%9C%93.txt"
                        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                        "&X-Amz-Credential=AKIDSLUICEEXAMPLE%2F20240301%2Feu-central-1%2Fs3%2Faws4_request"
                        "&X-Amz-Date=20240301T123456Z&X-Amz-Expires=900"
                        "&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLETOKEN%2F%2B%3D"
                        "&X-Amz-SignedHeaders=host%3Bif-none-match"
                        "&X-Amz-Signature=0c8e983488ab51c6987fb87b4821375fa6e5a88d6bc93c95074beaf8b5eb6f7c");
    assert_line(&s.canonical_request, 0, "PUT");
    assert_line(&s.canonical_request, 3, "host:127.0.0.1:7580");
    assert_line(&s.canonical_request, 4, "if-none-match:*");
    assert_line(&s.canonical_request, 7, "UNSIGNED-PAYLOAD");
    sigv4_pair added[SIGV4_MAX_ADDED_HEADERS];
    assert_int_equal(sigv4_signed_headers_to_add(&s, added), 0); /* nothing to add to a URL */
    sigv4_signed_clean_up(&s);

    /* An omitted token is not signed, and follows the signature in the URL. */
    signing.omit_session_token = true;
    assert_true(sl_ok(sigv4_presign(&signing, &req, 900, &s)));
    assert_null(strstr(sl_buf_cstr(&s.canonical_request), "Security-Token"));
    const char *url = sl_buf_cstr(&s.url);
    const char *sig = strstr(url, "&X-Amz-Signature=");
    assert_non_null(sig);
    assert_non_null(strstr(sig, "&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLETOKEN%2F%2B%3D"));
    sigv4_signed_clean_up(&s);
}

static void sign_headers_reports_headers_to_add(void **state)
{
    (void)state;
    s3_credentials creds = example_creds("TOKEN+/=");
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair host[] = { { C("Host"), C("s3.example.com") } };
    sigv4_request req = { .method = C("PUT"), .path = C("/b/k"), .headers = host, .header_count = 1,
                          .body = C("hello"), .add_content_sha256 = true };
    sigv4_signed s = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
    /* printf hello | sha256sum */
    const char *hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_string_equal(sl_buf_cstr(&s.payload_hash), hello);
    assert_string_equal(sl_buf_cstr(&s.signed_headers), "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    sigv4_pair added[SIGV4_MAX_ADDED_HEADERS];
    size_t n = sigv4_signed_headers_to_add(&s, added);
    assert_int_equal(n, 4);
    assert_true(sl_cursor_eq_cstr(added[0].name, "Authorization"));
    char expected_auth[256];
    snprintf(expected_auth, sizeof(expected_auth),
             "AWS4-HMAC-SHA256 Credential=AKIDSLUICEEXAMPLE/20240301/eu-central-1/s3/aws4_request, "
             "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=%s",
             s.signature);
    assert_true(sl_cursor_eq_cstr(added[0].value, expected_auth));
    assert_true(sl_cursor_eq_cstr(added[1].name, "X-Amz-Date"));
    assert_true(sl_cursor_eq_cstr(added[1].value, "20240301T123456Z"));
    assert_true(sl_cursor_eq_cstr(added[2].name, "x-amz-content-sha256"));
    assert_true(sl_cursor_eq_cstr(added[2].value, hello));
    assert_true(sl_cursor_eq_cstr(added[3].name, "X-Amz-Security-Token"));
    assert_true(sl_cursor_eq_cstr(added[3].value, "TOKEN+/="));
    assert_string_equal(sl_buf_cstr(&s.path), "/b/k");
    assert_int_equal(s.url.len, 0);
    sigv4_signed_clean_up(&s);

    /* Unsigned payload, no content hash header, omitted token: still sent, not signed. */
    signing.omit_session_token = true;
    req.add_content_sha256 = false;
    req.payload_hash = C(SIGV4_UNSIGNED_PAYLOAD);
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &s)));
    assert_string_equal(sl_buf_cstr(&s.signed_headers), "host;x-amz-date");
    n = sigv4_signed_headers_to_add(&s, added);
    assert_int_equal(n, 3);
    assert_true(sl_cursor_eq_cstr(added[2].name, "X-Amz-Security-Token"));
    sigv4_signed_clean_up(&s);
    sigv4_signed_clean_up(NULL);

    /* A payload hash must be printable. */
    req.payload_hash = C("bad hash");
    assert_true(sl_failed(sigv4_sign_headers(&signing, &req, &s)));
}

/* ---- streaming ---- */

static void stream_needs_a_header_signed_seed_at_the_same_time(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair host[] = { { C("Host"), C("s3.example.com") } };
    sigv4_request req = { .method = C("PUT"), .path = C("/b/k"), .headers = host, .header_count = 1,
                          .payload_hash = C(SIGV4_STREAMING_PAYLOAD), .add_content_sha256 = true };
    sigv4_signed seed = { 0 }, presigned = { 0 };
    sigv4_stream stream = { 0 };
    assert_true(sl_ok(sigv4_sign_headers(&signing, &req, &seed)));
    assert_true(sl_ok(sigv4_presign(&signing, &req, 60, &presigned)));
    assert_true(sl_failed(sigv4_stream_init(&stream, &signing, &presigned)));
    signing.time += 1;
    assert_true(sl_failed(sigv4_stream_init(&stream, &signing, &seed)));
    assert_true(is_zero(&stream, sizeof(stream)));
    assert_true(sl_failed(sigv4_stream_sign_chunk(&stream, C("data"))));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    signing.time -= 1;
    assert_true(sl_ok(sigv4_stream_init(&stream, &signing, &seed)));
    assert_string_equal(stream.signature, seed.signature);
    assert_true(sl_ok(sigv4_stream_sign_chunk(&stream, C("data"))));
    char first[SIGV4_SIGNATURE_HEX_LEN + 1];
    memcpy(first, stream.signature, sizeof(first));
    assert_string_not_equal(first, seed.signature);
    assert_line(&stream.string_to_sign, 0, "AWS4-HMAC-SHA256-PAYLOAD");
    assert_line(&stream.string_to_sign, 3, seed.signature);
    assert_true(sl_ok(sigv4_stream_sign_chunk(&stream, sl_cursor_from_bytes("", 0))));
    assert_line(&stream.string_to_sign, 3, first);
    const sigv4_pair trailer[] = { { C("X-Amz-Checksum-CRC32C"), C(" sOO8/Q== ") } };
    assert_true(sl_ok(sigv4_stream_sign_trailer(&stream, trailer, 1)));
    assert_line(&stream.string_to_sign, 0, "AWS4-HMAC-SHA256-TRAILER");
    sigv4_stream_clean_up(&stream);
    sigv4_stream_clean_up(NULL);
    sigv4_signed_clean_up(&seed);
    sigv4_signed_clean_up(&presigned);
}

/* ---- POST policy ---- */

static void post_policy_matches_independent_computation(void **state)
{
    (void)state;
    /* python3 -c 'import base64, hashlib, hmac, json
     * h = lambda k, m: hmac.new(k, m.encode(), hashlib.sha256).digest()
     * key = h(h(h(h(b"AWS4sluice-secret/key+1", "20240301"), "eu-central-1"), "s3"), "aws4_request")
     * policy = {"expiration": "2024-03-01T13:34:56Z", "conditions": [
     *   {"bucket": "sluice-staging"}, ["starts-with", "$key", "uploads/run-42/"],
     *   ["content-length-range", 1, 10485760], {"x-amz-acl": "bucket-owner-full-control"},
     *   {"x-amz-meta-note": "say \"hi\" \\ \u00e9"}, {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
     *   {"x-amz-credential": "AKIDSLUICEEXAMPLE/20240301/eu-central-1/s3/aws4_request"},
     *   {"x-amz-date": "20240301T123456Z"}, {"x-amz-security-token": "FQoGZXIvYXdzEXAMPLETOKEN/+="}]}
     * doc = json.dumps(policy, separators=(",", ":"), ensure_ascii=False).encode()
     * b64 = base64.b64encode(doc).decode()
     * print(doc.decode()); print(b64); print(hmac.new(key, b64.encode(), hashlib.sha256).hexdigest())' */
    static const char expected_json[] =
        "{\"expiration\":\"2024-03-01T13:34:56Z\",\"conditions\":[{\"bucket\":\"sluice-staging\"},"
        "[\"starts-with\",\"$key\",\"uploads/run-42/\"],[\"content-length-range\",1,10485760],"
        "{\"x-amz-acl\":\"bucket-owner-full-control\"},{\"x-amz-meta-note\":\"say \\\"hi\\\" \\\\ \xc3\xa9\"},"
        "{\"x-amz-algorithm\":\"AWS4-HMAC-SHA256\"},"
        "{\"x-amz-credential\":\"AKIDSLUICEEXAMPLE/20240301/eu-central-1/s3/aws4_request\"},"
        "{\"x-amz-date\":\"20240301T123456Z\"},{\"x-amz-security-token\":\"FQoGZXIvYXdzEXAMPLETOKEN/+=\"}]}";
    static const char expected_b64[] =
        "eyJleHBpcmF0aW9uIjoiMjAyNC0wMy0wMVQxMzozNDo1NloiLCJjb25kaXRpb25zIjpbeyJidWNrZXQiOiJzbHVpY2Utc3RhZ2lu"
        "ZyJ9LFsic3RhcnRzLXdpdGgiLCIka2V5IiwidXBsb2Fkcy9ydW4tNDIvIl0sWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMSwxMDQ4"
        "NTc2MF0seyJ4LWFtei1hY2wiOiJidWNrZXQtb3duZXItZnVsbC1jb250cm9sIn0seyJ4LWFtei1tZXRhLW5vdGUiOiJzYXkgXCJo"
        "aVwiIFxcIMOpIn0seyJ4LWFtei1hbGdvcml0aG0iOiJBV1M0LUhNQUMtU0hBMjU2In0seyJ4LWFtei1jcmVkZW50aWFsIjoiQUtJ"
        "RFNMVUlDRUVYQU1QTEUvMjAyNDAzMDEvZXUtY2VudHJhbC0xL3MzL2F3czRfcmVxdWVzdCJ9LHsieC1hbXotZGF0ZSI6IjIwMjQw"
        "MzAxVDEyMzQ1NloifSx7IngtYW16LXNlY3VyaXR5LXRva2VuIjoiRlFvR1pYSXZZWGR6RVhBTVBMRVRPS0VOLys9In1dfQ==";
    static const char expected_signature[] = "2e3d0cb0a12e88ac579b1398fe48ddbf051782e396cb8be5c9d54839cbc7e32d";

    s3_credentials creds = example_creds("FQoGZXIvYXdzEXAMPLETOKEN/+=");
    sigv4_signing signing = example_signing(&creds);
    const sigv4_pair conditions[] = { { C("x-amz-acl"), C("bucket-owner-full-control") },
                                      { C("x-amz-meta-note"), C("say \"hi\" \\ \xc3\xa9") } };
    sigv4_post_policy policy = { .bucket = C("sluice-staging"),
                                 .key_prefix = C("uploads/run-42/"),
                                 .min_length = 1,
                                 .max_length = 10485760,
                                 .expires_seconds = 3600,
                                 .conditions = conditions,
                                 .condition_count = 2 };
    sigv4_post_form form = { 0 };
    assert_true(sl_ok(sigv4_presign_post(&signing, &policy, &form)));
    assert_string_equal(sl_buf_cstr(&form.policy_json), expected_json);
    assert_string_equal(sl_buf_cstr(&form.policy), expected_b64);
    assert_string_equal(form.signature, expected_signature);
    const char *fields[][2] = {
        { "x-amz-algorithm", "AWS4-HMAC-SHA256" },
        { "x-amz-credential", "AKIDSLUICEEXAMPLE/20240301/eu-central-1/s3/aws4_request" },
        { "x-amz-date", "20240301T123456Z" },
        { "x-amz-security-token", "FQoGZXIvYXdzEXAMPLETOKEN/+=" },
        { "x-amz-acl", "bucket-owner-full-control" },
        { "x-amz-meta-note", "say \"hi\" \\ \xc3\xa9" },
        { "policy", expected_b64 },
        { "x-amz-signature", expected_signature },
    };
    assert_int_equal(form.field_count, sizeof(fields) / sizeof(fields[0]));
    for (size_t i = 0; i < form.field_count; i++) {
        assert_string_equal(form.fields[i].name, fields[i][0]);
        assert_string_equal(form.fields[i].value, fields[i][1]);
    }
    /* Deterministic: the same inputs give the same bytes. */
    sigv4_post_form again = { 0 };
    assert_true(sl_ok(sigv4_presign_post(&signing, &policy, &again)));
    assert_string_equal(sl_buf_cstr(&again.policy_json), expected_json);
    sigv4_post_form_clean_up(&again);
    sigv4_post_form_clean_up(&form);
    sigv4_post_form_clean_up(NULL);
}

static void post_policy_rejects_bad_input(void **state)
{
    (void)state;
    s3_credentials creds = example_creds(NULL);
    sigv4_signing signing = example_signing(&creds);
    sigv4_post_form form = { 0 };
    const sigv4_post_policy good = { .bucket = C("b"), .key_prefix = C("p/"), .min_length = 0, .max_length = 10,
                                     .expires_seconds = 60 };
    assert_true(sl_ok(sigv4_presign_post(&signing, &good, &form)));
    sigv4_post_form_clean_up(&form);

    sigv4_post_policy p = good;
    p.expires_seconds = 0;
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    p.expires_seconds = 604801;
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    p = good;
    p.bucket = C("");
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    p = good;
    p.min_length = 11;
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    p = good;
    p.max_length = UINT64_MAX;
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    p = good;
    p.key_prefix = C("bad\xff");
    sl_error_clear();
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    const sigv4_pair owned[] = { { C("X-Amz-Signature"), C("x") } };
    p = good;
    p.conditions = owned;
    p.condition_count = 1;
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    const sigv4_pair bad_value[] = { { C("x-amz-meta-a"), C("\xc0\xaf") } };
    p.conditions = bad_value;
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    const sigv4_pair empty_name[] = { { C(""), C("x") } };
    p.conditions = empty_name;
    assert_true(sl_failed(sigv4_presign_post(&signing, &p, &form)));
    assert_true(is_zero(&form, sizeof(form)));
}

/* ---- comparison ---- */

static void signature_equal_is_exact(void **state)
{
    (void)state;
    const char *a = "0c8e983488ab51c6987fb87b4821375fa6e5a88d6bc93c95074beaf8b5eb6f7c";
    char b[65];
    memcpy(b, a, sizeof(b));
    assert_true(sigv4_signature_equal(C(a), C(b)));
    b[63] = 'd';
    assert_false(sigv4_signature_equal(C(a), C(b)));
    b[63] = 'c';
    b[0] = '1';
    assert_false(sigv4_signature_equal(C(a), C(b)));
    assert_false(sigv4_signature_equal(C(a), sl_cursor_from_bytes(a, 63)));
    assert_false(sigv4_signature_equal(C(a), C("")));
    assert_true(sigv4_signature_equal(C(""), sl_cursor_from_bytes(NULL, 0)));
    assert_false(sigv4_signature_equal(C("A"), C("a"))); /* hex case matters */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_encode_every_byte_in_both_modes),
        cmocka_unit_test(query_sorted_by_encoded_name_then_value),
        cmocka_unit_test(encoded_query_signs_as_its_raw_form),
        cmocka_unit_test(encoded_query_and_path_errors),
        cmocka_unit_test(encoded_s3_path_signs_and_sends_as_its_raw_form),
        cmocka_unit_test(headers_trimmed_folded_joined_and_sorted),
        cmocka_unit_test(header_values_that_cannot_be_folded_are_rejected),
        cmocka_unit_test(host_is_required_once_and_signer_headers_are_reserved),
        cmocka_unit_test(generic_paths_are_normalized_s3_paths_kept),
        cmocka_unit_test(invalid_utf8_s3_key_is_rejected),
        cmocka_unit_test(empty_credentials_are_rejected),
        cmocka_unit_test(key_derivation_matches_independent_hmac_chain),
        cmocka_unit_test(key_cache_reuses_per_date_region_service_and_secret),
        cmocka_unit_test(presign_expiry_bounds),
        cmocka_unit_test(presign_matches_botocore_with_token_and_extra_header),
        cmocka_unit_test(sign_headers_reports_headers_to_add),
        cmocka_unit_test(stream_needs_a_header_signed_seed_at_the_same_time),
        cmocka_unit_test(post_policy_matches_independent_computation),
        cmocka_unit_test(post_policy_rejects_bad_input),
        cmocka_unit_test(signature_equal_is_exact),
    };
    return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}
