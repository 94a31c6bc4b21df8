/*
 * test_s3_xml.c — unit tests of mover/s3/xml: the streaming parsers against canned S3
 * responses in tests/data/s3/<operation>/<case>.xml (valid ones checked field by field,
 * several of them fed in every chunk size from 1 byte to the whole document;
 * invalid_*.xml ones must fail with a given code and detail and leave no result),
 * generated documents for the limits (1000 keys, entry cap, value cap, nesting, size),
 * truncation at every byte, and the request-body writers (exact output, escaping,
 * round trips through expat and through the parser, and every refusal).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/xml.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#ifndef SLUICE_TEST_DATA
#error "SLUICE_TEST_DATA must name the tests/data folder"
#endif

/* ---- helpers ---- */

static sl_buf load(const char *operation, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/s3/%s/%s.xml", SLUICE_TEST_DATA, operation, name);
    sl_buf b = { 0 };
    if (sl_failed(sl_buf_read_file(&b, path, (size_t)1 << 20)))
        fail_msg("cannot read %s: %s", path, sl_error_detail());
    return b;
}

/* Feeds `len` bytes in chunks of `chunk` (0: in one piece) and finishes. */
static bool feed_all(s3_xml_parser *p, const uint8_t *data, size_t len, size_t chunk)
{
    size_t step = chunk ? chunk : (len ? len : 1);
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (sl_failed(s3_xml_feed(p, data + off, n))) return false;
    }
    return sl_ok(s3_xml_finish(p));
}

static s3_xml_parser *parse_bytes(s3_xml_doc kind, const void *data, size_t len, size_t chunk)
{
    s3_xml_parser *p = s3_xml_parser_new(kind);
    if (!feed_all(p, data, len, chunk)) fail_msg("parse failed: %s", sl_error_detail());
    return p;
}

static s3_xml_parser *parse_file(s3_xml_doc kind, const char *operation, const char *name)
{
    sl_buf b = load(operation, name);
    s3_xml_parser *p = parse_bytes(kind, b.data, b.len, 0);
    sl_buf_clean_up(&b);
    return p;
}

static void assert_no_results(const s3_xml_parser *p)
{
    assert_null(s3_xml_list_result(p));
    assert_null(s3_xml_copy_result(p));
    assert_null(s3_xml_initiate_result(p));
    assert_null(s3_xml_complete_result(p));
    assert_null(s3_xml_delete_result(p));
    assert_null(s3_xml_tagging_result(p));
    assert_null(s3_xml_versioning_result(p));
    assert_null(s3_xml_list_versions_result(p));
    assert_null(s3_xml_error_result(p));
}

static void assert_detail_has(const char *part)
{
    if (part != NULL && strstr(sl_error_detail(), part) == NULL)
        fail_msg("error detail \"%s\" lacks \"%s\"", sl_error_detail(), part);
}

/* The document must fail with `code` (and a detail containing `part`), the parser must
 * then hold no result, and stay failed with the same error. */
static void expect_failure_named(const char *label, s3_xml_doc kind, const void *data, size_t len,
                                 size_t chunk, sl_error code, const char *part)
{
    s3_xml_parser *p = s3_xml_parser_new(kind);
    sl_error_clear();
    if (feed_all(p, data, len, chunk))
        fail_msg("%s (chunk %zu): document was accepted; expected %s containing \"%s\"", label, chunk,
                 sl_error_name(code), part ? part : "");
    if (sl_error_last() != code)
        fail_msg("%s (chunk %zu): expected %s, got %s: %s", label, chunk, sl_error_name(code),
                 sl_error_name(sl_error_last()), sl_error_detail());
    if (part != NULL && strstr(sl_error_detail(), part) == NULL)
        fail_msg("%s (chunk %zu): error detail \"%s\" lacks \"%s\"", label, chunk, sl_error_detail(),
                 part);
    assert_no_results(p);
    char first[600];
    snprintf(first, sizeof(first), "%s", sl_error_detail());
    assert_true(sl_failed(s3_xml_feed(p, "<x/>", 4)));
    assert_string_equal(sl_error_detail(), first);
    assert_true(sl_failed(s3_xml_finish(p)));
    assert_int_equal(sl_error_last(), code);
    assert_no_results(p);
    s3_xml_parser_destroy(p);
}

static void expect_failure(s3_xml_doc kind, const void *data, size_t len, size_t chunk, sl_error code,
                           const char *part)
{
    expect_failure_named("document", kind, data, len, chunk, code, part);
}

static void assert_buf_bytes(const sl_buf *b, const void *bytes, size_t len)
{
    if (b->len != len || (len > 0 && memcmp(b->data, bytes, len) != 0))
        fail_msg("got \"%.*s\" (%zu bytes), expected \"%.*s\" (%zu bytes)", (int)b->len,
                 sl_buf_cstr(b), b->len, (int)len, (const char *)bytes, len);
}

static void assert_buf_str(const sl_buf *b, const char *s) { assert_buf_bytes(b, s, strlen(s)); }

typedef void (*check_fn)(const s3_xml_parser *p);

/* Parses the file in every chunk size from 1 to its length, checking each result. */
static void for_every_split(s3_xml_doc kind, const char *operation, const char *name, check_fn check)
{
    sl_buf b = load(operation, name);
    for (size_t chunk = 1; chunk <= b.len; chunk++) {
        s3_xml_parser *p = parse_bytes(kind, b.data, b.len, chunk);
        check(p);
        s3_xml_parser_destroy(p);
    }
    sl_buf_clean_up(&b);
}

/* ---- ListObjectsV2 ---- */

static void check_list_basic(const s3_xml_parser *p)
{
    const s3_list_result *l = s3_xml_list_result(p);
    assert_non_null(l);
    assert_null(s3_xml_error_result(p));
    assert_buf_str(&l->name, "sluice-staging");
    assert_buf_str(&l->prefix, "staging/route-a/");
    assert_true(l->has_key_count);
    assert_int_equal(l->key_count, 4);
    assert_true(l->has_max_keys);
    assert_int_equal(l->max_keys, 1000);
    assert_false(l->is_truncated);
    assert_int_equal(l->next_continuation_token.len, 0);
    assert_int_equal(l->encoding_type.len, 0);
    assert_int_equal(l->common_prefix_count, 0);
    assert_int_equal(l->object_count, 4);

    const s3_list_object *o = l->objects;
    assert_buf_str(&o[0].key, "staging/route-a/Q&A <draft>.txt");
    assert_buf_str(&o[0].last_modified, "2024-05-01T12:00:00.000Z");
    assert_buf_str(&o[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
    assert_int_equal(o[0].size, 1024);
    assert_buf_str(&o[0].storage_class, "STANDARD");

    assert_buf_str(&o[1].key, "staging/route-a/caf\xc3\xa9-\xf0\x9f\x98\x80.bin");
    assert_buf_str(&o[1].etag, "\"d41d8cd98f00b204e9800998ecf8427e-3\"");
    assert_int_equal(o[1].size, 0);

    assert_buf_str(&o[2].key, "staging/route-a/donn\xc3\xa9"
                              "es/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.csv");
    assert_true(o[2].size == UINT64_MAX);
    assert_buf_str(&o[2].storage_class, "GLACIER");

    assert_buf_str(&o[3].key, "staging/route-a/ cdata & <raw> ");
    assert_int_equal(o[3].size, 7);
    assert_int_equal(o[3].storage_class.len, 0);
}

static void list_basic_every_chunk_size(void **state)
{
    (void)state;
    for_every_split(S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "basic", check_list_basic);
}

static void check_list_url_encoded(const s3_xml_parser *p)
{
    const s3_list_result *l = s3_xml_list_result(p);
    assert_non_null(l);
    assert_buf_str(&l->encoding_type, "url");
    /* echoed request parameters stay as sent (radosgw does not encode them) */
    assert_buf_str(&l->prefix, "run+books/");
    assert_buf_str(&l->delimiter, "%2F");
    assert_int_equal(l->object_count, 6);
    assert_buf_str(&l->objects[0].key, "run books/a b.txt");
    assert_buf_str(&l->objects[1].key, "run books/a+b.txt");
    assert_buf_str(&l->objects[2].key, "run books/100%.csv");
    assert_buf_str(&l->objects[3].key, "run books/slash/in/key");
    assert_buf_str(&l->objects[4].key, "\xed\x95\x9c\xea\xb8\x80/x.txt");
    static const char with_nul[] = "ctl\x01\r\nnul\0end";
    assert_buf_bytes(&l->objects[5].key, with_nul, sizeof(with_nul) - 1);
    assert_int_equal(l->objects[5].size, 6);
    assert_int_equal(l->common_prefix_count, 2);
    assert_buf_str(&l->common_prefixes[0], "run books/sub dir/");
    assert_buf_str(&l->common_prefixes[1], "\xed\x95\x9c\xea\xb8\x80/");
}

static void list_url_encoded_keys_are_decoded(void **state)
{
    (void)state;
    for_every_split(S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "url_encoded", check_list_url_encoded);
}

static void list_empty(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "empty");
    const s3_list_result *l = s3_xml_list_result(p);
    assert_non_null(l);
    assert_int_equal(l->object_count, 0);
    assert_null(l->objects);
    assert_int_equal(l->common_prefix_count, 0);
    assert_true(l->has_key_count);
    assert_int_equal(l->key_count, 0);
    assert_false(l->is_truncated);
    assert_buf_str(&l->prefix, "staging/nothing-here/");
    s3_xml_parser_destroy(p);
}

static void list_truncated_with_continuation_token(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "truncated");
    const s3_list_result *l = s3_xml_list_result(p);
    assert_non_null(l);
    assert_true(l->is_truncated);
    assert_buf_str(&l->continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    assert_buf_str(&l->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+page3");
    assert_buf_str(&l->start_after, "staging/a");
    assert_int_equal(l->max_keys, 2);
    assert_int_equal(l->object_count, 2);
    assert_buf_str(&l->objects[1].key, "staging/c");
    assert_int_equal(l->objects[1].size, 20);
    s3_xml_parser_destroy(p);
}

static void check_list_common_prefixes(const s3_xml_parser *p)
{
    const s3_list_result *l = s3_xml_list_result(p);
    assert_non_null(l);
    assert_buf_str(&l->delimiter, "/");
    assert_int_equal(l->object_count, 1);
    assert_buf_str(&l->objects[0].key, "staging/README");
    assert_int_equal(l->common_prefix_count, 3);
    assert_buf_str(&l->common_prefixes[0], "staging/route-a/");
    assert_buf_str(&l->common_prefixes[1], "staging/route-b/");
    assert_buf_str(&l->common_prefixes[2], "staging/route & c/");
}

static void list_common_prefixes(void **state)
{
    (void)state;
    for_every_split(S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "common_prefixes",
                    check_list_common_prefixes);
}

static void list_radosgw_extras_are_ignored(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "radosgw");
    const s3_list_result *l = s3_xml_list_result(p);
    assert_non_null(l);
    assert_int_equal(l->object_count, 1);
    assert_buf_str(&l->objects[0].etag, "\"3858f62230ac3c915f300c664312c63f\"");
    assert_int_equal(l->common_prefix_count, 1);
    assert_buf_str(&l->common_prefixes[0], "staging/route-a/");
    /* the top-level KeyCount after the CommonPrefixes is the one that counts */
    assert_true(l->has_key_count);
    assert_int_equal(l->key_count, 2);
    s3_xml_parser_destroy(p);
}

/* A listing of `count` generated keys: each as <Key>k/&amp;NNNNNN</Key>. */
static sl_buf generated_listing(size_t count)
{
    sl_buf b = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&b, "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>"
                                             "false</IsTruncated>")));
    for (size_t i = 0; i < count; i++)
        assert_true(sl_ok(sl_buf_appendf(&b,
                                         "<Contents><Key>k/&amp;%06zu</Key><ETag>\"%zx\"</ETag>"
                                         "<Size>%zu</Size></Contents>\n",
                                         i, i, i * 3)));
    assert_true(sl_ok(sl_buf_append_cstr(&b, "</ListBucketResult>")));
    return b;
}

static void list_of_1000_keys(void **state)
{
    (void)state;
    sl_buf doc = generated_listing(1000);
    static const size_t chunks[] = { 0, 1, 3, 4096 };
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        s3_xml_parser *p = parse_bytes(S3_XML_LIST_OBJECTS_V2, doc.data, doc.len, chunks[c]);
        const s3_list_result *l = s3_xml_list_result(p);
        assert_non_null(l);
        assert_int_equal(l->object_count, 1000);
        for (size_t i = 0; i < 1000; i++) {
            char key[32], etag[32];
            snprintf(key, sizeof(key), "k/&%06zu", i);
            snprintf(etag, sizeof(etag), "\"%zx\"", i);
            assert_buf_str(&l->objects[i].key, key);
            assert_buf_str(&l->objects[i].etag, etag);
            assert_int_equal(l->objects[i].size, i * 3);
        }
        s3_xml_parser_destroy(p);
    }
    sl_buf_clean_up(&doc);
}

static sl_buf prefixes_listing(size_t count)
{
    sl_buf b = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&b, "<ListBucketResult><IsTruncated>false</IsTruncated>")));
    for (size_t i = 0; i < count; i++)
        assert_true(sl_ok(sl_buf_append_cstr(&b, "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>")));
    assert_true(sl_ok(sl_buf_append_cstr(&b, "</ListBucketResult>")));
    return b;
}

static void list_entry_cap_is_an_error_not_a_silent_cut(void **state)
{
    (void)state;
    sl_buf at_cap = prefixes_listing(S3_XML_MAX_ENTRIES);
    s3_xml_parser *p = parse_bytes(S3_XML_LIST_OBJECTS_V2, at_cap.data, at_cap.len, 65536);
    assert_int_equal(s3_xml_list_result(p)->common_prefix_count, S3_XML_MAX_ENTRIES);
    s3_xml_parser_destroy(p);
    sl_buf_clean_up(&at_cap);

    sl_buf over = prefixes_listing(S3_XML_MAX_ENTRIES + 1);
    expect_failure(S3_XML_LIST_OBJECTS_V2, over.data, over.len, 65536, SL_ERR_LIMIT,
                   "more than 100000 entries");
    sl_buf_clean_up(&over);
}

static sl_buf listing_with_key_of(size_t key_len, const char *unit)
{
    sl_buf b = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&b, "<ListBucketResult><IsTruncated>false</IsTruncated>"
                                             "<Contents><Key>")));
    for (size_t i = 0; i < key_len; i++) assert_true(sl_ok(sl_buf_append_cstr(&b, unit)));
    assert_true(sl_ok(sl_buf_append_cstr(&b, "</Key><ETag>e</ETag><Size>1</Size></Contents>"
                                             "</ListBucketResult>")));
    return b;
}

static void list_value_length_cap(void **state)
{
    (void)state;
    sl_buf fits = listing_with_key_of(S3_XML_MAX_VALUE, "a");
    s3_xml_parser *p = parse_bytes(S3_XML_LIST_OBJECTS_V2, fits.data, fits.len, 1000);
    assert_int_equal(s3_xml_list_result(p)->objects[0].key.len, S3_XML_MAX_VALUE);
    s3_xml_parser_destroy(p);
    sl_buf_clean_up(&fits);

    sl_buf over = listing_with_key_of(S3_XML_MAX_VALUE + 1, "a");
    expect_failure(S3_XML_LIST_OBJECTS_V2, over.data, over.len, 1000, SL_ERR_LIMIT,
                   "value of <Key> longer than 65536 bytes");
    sl_buf_clean_up(&over);

    /* the cap counts the decoded text: 65537 '&' written as &amp; */
    sl_buf entities = listing_with_key_of(S3_XML_MAX_VALUE + 1, "&amp;");
    expect_failure(S3_XML_LIST_OBJECTS_V2, entities.data, entities.len, 0, SL_ERR_LIMIT,
                   "longer than 65536 bytes");
    sl_buf_clean_up(&entities);
}

static void list_nesting_cap(void **state)
{
    (void)state;
    sl_buf b = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&b, "<ListBucketResult><IsTruncated>false</IsTruncated>")));
    for (int i = 0; i < S3_XML_MAX_DEPTH; i++) assert_true(sl_ok(sl_buf_append_cstr(&b, "<x>")));
    for (int i = 0; i < S3_XML_MAX_DEPTH; i++) assert_true(sl_ok(sl_buf_append_cstr(&b, "</x>")));
    assert_true(sl_ok(sl_buf_append_cstr(&b, "</ListBucketResult>")));
    expect_failure(S3_XML_LIST_OBJECTS_V2, b.data, b.len, 0, SL_ERR_LIMIT, "nested more than 64");
    sl_buf_clean_up(&b);

    /* unknown elements nested a little are skipped whole, text and all */
    static const char ok[] = "<ListBucketResult><Future><Key>not a key</Key><Deep><Size>x</Size>"
                             "</Deep></Future><IsTruncated>false</IsTruncated></ListBucketResult>";
    s3_xml_parser *p = parse_bytes(S3_XML_LIST_OBJECTS_V2, ok, sizeof(ok) - 1, 0);
    assert_int_equal(s3_xml_list_result(p)->object_count, 0);
    s3_xml_parser_destroy(p);
}

static void document_size_cap(void **state)
{
    (void)state;
    /* The cap is checked before expat sees the bytes, so a zeroed block is enough. */
    uint8_t *big = sl_calloc(S3_XML_MAX_DOCUMENT + 1, 1);
    s3_xml_parser *p = s3_xml_parser_new(S3_XML_LIST_OBJECTS_V2);
    assert_true(sl_failed(s3_xml_feed(p, big, S3_XML_MAX_DOCUMENT + 1)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    assert_detail_has("document larger than");
    assert_true(sl_failed(s3_xml_finish(p)));
    assert_no_results(p);
    s3_xml_parser_destroy(p);

    static const char head[] = "<ListBucketResult>";
    p = s3_xml_parser_new(S3_XML_LIST_OBJECTS_V2);
    assert_true(sl_ok(s3_xml_feed(p, head, sizeof(head) - 1)));
    assert_true(sl_failed(s3_xml_feed(p, big, S3_XML_MAX_DOCUMENT - (sizeof(head) - 1) + 1)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    s3_xml_parser_destroy(p);
    sl_free(big);
}

/* Every proper prefix of a listing is rejected, never half-accepted. */
static void list_cut_anywhere_is_an_error(void **state)
{
    (void)state;
    sl_buf b = load("list_objects_v2", "basic");
    const char *end_tag = strstr((const char *)b.data, "</ListBucketResult>");
    assert_non_null(end_tag);
    size_t complete = (size_t)(end_tag - (const char *)b.data) + strlen("</ListBucketResult>");
    for (size_t cut = 0; cut < complete; cut++) {
        s3_xml_parser *p = s3_xml_parser_new(S3_XML_LIST_OBJECTS_V2);
        assert_false(feed_all(p, b.data, cut, 0));
        assert_int_equal(sl_error_last(), SL_ERR_PARSE);
        assert_no_results(p);
        s3_xml_parser_destroy(p);
    }
    /* the whole document, trailing newline or not, is accepted */
    for (size_t cut = complete; cut <= b.len; cut++) {
        s3_xml_parser *p = parse_bytes(S3_XML_LIST_OBJECTS_V2, b.data, cut, 0);
        check_list_basic(p);
        s3_xml_parser_destroy(p);
    }

    /* the detail says what was cut */
    const char *mid_element = strstr((const char *)b.data, "<Key>staging/route-a/caf") + 12;
    expect_failure(S3_XML_LIST_OBJECTS_V2, b.data, (size_t)(mid_element - (const char *)b.data), 0,
                   SL_ERR_PARSE, "document ended before </ListBucketResult>");
    const char *mid_tag = strstr((const char *)b.data, "<Contents>") + 4;
    expect_failure(S3_XML_LIST_OBJECTS_V2, b.data, (size_t)(mid_tag - (const char *)b.data), 1,
                   SL_ERR_PARSE, "document ended before </ListBucketResult>");
    expect_failure(S3_XML_LIST_OBJECTS_V2, b.data, 0, 0, SL_ERR_PARSE, "empty document");
    sl_buf_clean_up(&b);
}

struct invalid_case {
    s3_xml_doc kind;
    const char *operation;
    const char *name;
    sl_error code;
    const char *detail;
};

static const struct invalid_case invalid_cases[] = {
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_truncated_without_token", SL_ERR_PARSE,
      "<IsTruncated> is true but <NextContinuationToken> is missing" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_missing_is_truncated", SL_ERR_PARSE,
      "<ListBucketResult> without <IsTruncated>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_is_truncated_value", SL_ERR_PARSE,
      "<IsTruncated> in <ListBucketResult> is neither \"true\" nor \"false\"" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_size_negative", SL_ERR_PARSE,
      "<Size> in <Contents> is not an unsigned 64-bit decimal number" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_size_overflow", SL_ERR_PARSE,
      "<Size> in <Contents> is not an unsigned 64-bit" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_size_spaces", SL_ERR_PARSE,
      "<Size> in <Contents>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_size_empty", SL_ERR_PARSE,
      "<Size> in <Contents>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_size_hex", SL_ERR_PARSE,
      "<Size> in <Contents>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_duplicate_key", SL_ERR_PARSE,
      "<Key> appears twice in <Contents> (line 1" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_duplicate_is_truncated", SL_ERR_PARSE,
      "<IsTruncated> appears twice in <ListBucketResult>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_missing_etag", SL_ERR_PARSE,
      "<Contents> without <ETag>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_missing_size", SL_ERR_PARSE,
      "<Contents> without <Size>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_empty_key", SL_ERR_PARSE,
      "empty <Key> in <Contents>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_element_in_value", SL_ERR_PARSE,
      "element <b> inside the value <Key>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_bad_escape", SL_ERR_PARSE,
      "Contents/Key 1: invalid %-escape at byte 3" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_short_escape", SL_ERR_PARSE,
      "CommonPrefixes/Prefix 0: invalid %-escape at byte 9" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_encoding_type", SL_ERR_PARSE,
      "unknown <EncodingType>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_wrong_root", SL_ERR_PARSE,
      "unexpected root element <ListAllMyBucketsResult> (expected <ListBucketResult> or <Error>)" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_html", SL_ERR_PARSE,
      "unexpected root element <html>" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_garbage", SL_ERR_PARSE,
      "ListObjectsV2 response: not well-formed (invalid token) (line 1, column 4)" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_undefined_entity", SL_ERR_PARSE,
      "undefined entity" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_bad_char_ref", SL_ERR_PARSE,
      "reference to invalid character number" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_junk_after_root", SL_ERR_PARSE,
      "junk after document element" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_mismatched_tag", SL_ERR_PARSE,
      "mismatched tag" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_doctype_entities", SL_ERR_PARSE,
      "DOCTYPE declarations are not accepted (line 2" },
    { S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "invalid_doctype_external", SL_ERR_PARSE,
      "DOCTYPE declarations are not accepted" },
    { S3_XML_ERROR, "error", "invalid_no_code", SL_ERR_PARSE, "<Error> without <Code>" },
    { S3_XML_ERROR, "error", "invalid_empty_code", SL_ERR_PARSE, "empty <Code> in <Error>" },
    { S3_XML_ERROR, "list_objects_v2", "basic", SL_ERR_PARSE,
      "S3 error response: unexpected root element <ListBucketResult> (expected <Error>)" },
    { S3_XML_COPY_OBJECT, "copy_object", "invalid_part_result", SL_ERR_PARSE,
      "CopyObject response: unexpected root element <CopyPartResult>" },
    { S3_XML_COPY_OBJECT, "copy_object", "invalid_missing_etag", SL_ERR_PARSE,
      "<CopyObjectResult> without <ETag>" },
    { S3_XML_INITIATE_MULTIPART, "create_multipart_upload", "invalid_missing_upload_id",
      SL_ERR_PARSE, "<InitiateMultipartUploadResult> without <UploadId>" },
    { S3_XML_INITIATE_MULTIPART, "create_multipart_upload", "invalid_empty_upload_id",
      SL_ERR_PARSE, "empty <UploadId>" },
    { S3_XML_DELETE_OBJECTS, "delete_objects", "invalid_error_without_code", SL_ERR_PARSE,
      "<Error> without <Code>" },
    { S3_XML_DELETE_OBJECTS, "delete_objects", "invalid_delete_marker", SL_ERR_PARSE,
      "<DeleteMarker> in <Deleted> is neither" },
    { S3_XML_TAGGING, "get_object_tagging", "invalid_two_tag_sets", SL_ERR_PARSE,
      "<TagSet> appears twice in <Tagging>" },
    { S3_XML_TAGGING, "get_object_tagging", "invalid_no_tag_set", SL_ERR_PARSE,
      "<Tagging> without <TagSet>" },
    { S3_XML_VERSIONING, "get_bucket_versioning", "invalid_status", SL_ERR_PARSE,
      "<Status> is neither \"Enabled\" nor \"Suspended\"" },
    { S3_XML_VERSIONING, "get_bucket_versioning", "invalid_mfa_twice", SL_ERR_PARSE,
      "MFA delete given twice" },
    { S3_XML_LIST_VERSIONS, "list_object_versions", "invalid_truncated_empty", SL_ERR_PARSE,
      "<IsTruncated> is true but the page holds no <Version> or <DeleteMarker>" },
    { S3_XML_LIST_VERSIONS, "list_object_versions", "invalid_version_without_id", SL_ERR_PARSE,
      "<Version> without <VersionId>" },
    { S3_XML_LIST_VERSIONS, "list_object_versions", "invalid_version_without_etag", SL_ERR_PARSE,
      "<Version> without <ETag>" },
    { S3_XML_LIST_VERSIONS, "list_object_versions", "invalid_bad_escape", SL_ERR_PARSE,
      "DeleteMarker/Key 0: invalid %-escape at byte 1" },
};

static void invalid_documents_are_rejected(void **state)
{
    (void)state;
    static const size_t chunks[] = { 0, 1, 7 };
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
        const struct invalid_case *c = &invalid_cases[i];
        sl_buf b = load(c->operation, c->name);
        char label[128];
        snprintf(label, sizeof(label), "%s/%s", c->operation, c->name);
        for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++)
            expect_failure_named(label, c->kind, b.data, b.len, chunks[k], c->code, c->detail);
        sl_buf_clean_up(&b);
    }
}

static void parser_state_rules(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_LIST_OBJECTS_V2, "list_objects_v2", "empty");
    /* results of one kind only */
    assert_non_null(s3_xml_list_result(p));
    assert_null(s3_xml_copy_result(p));
    assert_null(s3_xml_tagging_result(p));
    assert_null(s3_xml_error_result(p));
    s3_error none;
    assert_false(s3_xml_take_error(p, &none));
    assert_int_equal(none.code_text.len, 0);
    /* finished is final */
    assert_true(sl_failed(s3_xml_feed(p, " ", 1)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_true(sl_failed(s3_xml_finish(p)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_non_null(s3_xml_list_result(p));
    s3_xml_parser_destroy(p);

    /* nothing before finish, even when the root already closed */
    static const char doc[] = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    p = s3_xml_parser_new(S3_XML_LIST_OBJECTS_V2);
    assert_true(sl_ok(s3_xml_feed(p, doc, sizeof(doc) - 1)));
    assert_true(sl_ok(s3_xml_feed(p, doc, 0)));
    assert_null(s3_xml_list_result(p));
    assert_true(sl_ok(s3_xml_finish(p)));
    assert_non_null(s3_xml_list_result(p));
    s3_xml_parser_destroy(p);

    s3_xml_parser_destroy(NULL);
    assert_no_results(NULL);
}

/* ---- errors ---- */

struct error_case {
    const char *name;
    s3_error_code code;
    const char *code_text;
    const char *message;
    const char *request_id;
};

static const struct error_case error_cases[] = {
    { "no_such_key", S3_ERROR_NO_SUCH_KEY, "NoSuchKey", "The specified key does not exist.",
      "4442587FB7D0A2F9" },
    { "access_denied", S3_ERROR_ACCESS_DENIED, "AccessDenied", "Access Denied",
      "656c76696e6727732072657175657374" },
    { "slow_down", S3_ERROR_SLOW_DOWN, "SlowDown", "Please reduce your request rate.",
      "A1B2C3D4E5F60718" },
    { "signature_does_not_match", S3_ERROR_SIGNATURE_DOES_NOT_MATCH, "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your "
      "key and signing method.",
      "7D5A1E6C8F4B3A21" },
    { "precondition_failed", S3_ERROR_PRECONDITION_FAILED, "PreconditionFailed",
      "At least one of the pre-conditions you specified did not hold", "0F2B7E5A9C1D3E4F" },
    { "radosgw_no_such_bucket", S3_ERROR_NO_SUCH_BUCKET, "NoSuchBucket", "",
      "tx00000a1b2c3d4e5f60718-00663234a0-1014-default" },
    { "unknown_code", S3_ERROR_UNKNOWN, "QuotaExceeded", "Bucket quota exceeded",
      "tx00000deadbeef-00663234a0-1014-default" },
};

static void error_bodies_map_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        print_message("error/%s\n", c->name);
        sl_buf b = load("error", c->name);
        for (size_t chunk = 1; chunk <= b.len; chunk += (chunk < 16 ? 1 : 37)) {
            s3_xml_parser *p = parse_bytes(S3_XML_ERROR, b.data, b.len, chunk);
            const s3_error *e = s3_xml_error_result(p);
            assert_non_null(e);
            assert_int_equal(e->code, c->code);
            assert_buf_str(&e->code_text, c->code_text);
            assert_buf_str(&e->message, c->message);
            assert_buf_str(&e->request_id, c->request_id);
            s3_xml_parser_destroy(p);
        }
        s3_error e;
        assert_true(sl_ok(s3_xml_parse_error_body(b.data, b.len, &e)));
        assert_int_equal(e.code, c->code);
        assert_buf_str(&e.code_text, c->code_text);
        s3_error_clean_up(&e);
        assert_null(e.code_text.data);
        sl_buf_clean_up(&b);
    }
}

static void error_body_details(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_ERROR, "error", "no_such_key");
    const s3_error *e = s3_xml_error_result(p);
    assert_buf_str(&e->key, "staging/route-a/gone & lost.txt");
    assert_buf_str(&e->host_id, "Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==");
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_ERROR, "error", "access_denied");
    assert_buf_str(&s3_xml_error_result(p)->resource, "/sluice-trusted/report.pdf");
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_ERROR, "error", "radosgw_no_such_bucket");
    assert_buf_str(&s3_xml_error_result(p)->bucket_name, "sluice-missing");
    s3_xml_parser_destroy(p);
}

static void error_body_one_shot_refuses_non_errors(void **state)
{
    (void)state;
    s3_error e = { .code = S3_ERROR_SLOW_DOWN };
    assert_true(sl_failed(s3_xml_parse_error_body("", 0, &e)));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    assert_detail_has("empty document");
    assert_int_equal(e.code, S3_ERROR_UNKNOWN);
    assert_null(e.code_text.data);

    sl_buf html = load("list_objects_v2", "invalid_html");
    assert_true(sl_failed(s3_xml_parse_error_body(html.data, html.len, &e)));
    assert_detail_has("unexpected root element <html>");
    assert_null(e.code_text.data);
    sl_buf_clean_up(&html);
}

static void error_code_table_round_trips(void **state)
{
    (void)state;
    for (int c = 1; c < S3_ERROR_CODE_COUNT; c++) {
        const char *name = s3_error_code_name((s3_error_code)c);
        assert_true(strlen(name) > 0);
        assert_int_equal(s3_error_code_from_name(sl_cursor_from_cstr(name)), c);
    }
    assert_string_equal(s3_error_code_name(S3_ERROR_NO_SUCH_UPLOAD), "NoSuchUpload");
    assert_string_equal(s3_error_code_name(S3_ERROR_KEY_TOO_LONG), "KeyTooLongError");
    assert_string_equal(s3_error_code_name(S3_ERROR_UNKNOWN), "");
    assert_string_equal(s3_error_code_name((s3_error_code)S3_ERROR_CODE_COUNT), "");
    assert_int_equal(s3_error_code_from_name(sl_cursor_from_cstr("nosuchkey")), S3_ERROR_UNKNOWN);
    assert_int_equal(s3_error_code_from_name(sl_cursor_from_cstr("NoSuchKeys")), S3_ERROR_UNKNOWN);
    assert_int_equal(s3_error_code_from_name(sl_cursor_from_cstr("")), S3_ERROR_UNKNOWN);
    s3_error_clean_up(NULL);
}

/* ---- copy, multipart ---- */

static void copy_object_result(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_COPY_OBJECT, "copy_object", "ok");
    const s3_copy_result *c = s3_xml_copy_result(p);
    assert_non_null(c);
    assert_null(s3_xml_error_result(p));
    assert_buf_str(&c->etag, "\"9b2cf535f27731c974343645a3985328\"");
    assert_buf_str(&c->last_modified, "2024-05-01T12:30:00.000Z");
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_COPY_PART, "upload_part_copy", "ok");
    c = s3_xml_copy_result(p);
    assert_non_null(c);
    assert_buf_str(&c->etag, "\"b54357faf0632cce46e942fa68356b38\"");
    s3_xml_parser_destroy(p);
}

static void check_copy_error_200(const s3_xml_parser *p)
{
    assert_null(s3_xml_copy_result(p));
    const s3_error *e = s3_xml_error_result(p);
    assert_non_null(e);
    assert_int_equal(e->code, S3_ERROR_INTERNAL_ERROR);
    assert_buf_str(&e->message, "We encountered an internal error. Please try again.");
}

static void copy_200_with_error_body_is_an_error(void **state)
{
    (void)state;
    for_every_split(S3_XML_COPY_OBJECT, "copy_object", "error_200", check_copy_error_200);

    s3_xml_parser *p = parse_file(S3_XML_COPY_OBJECT, "copy_object", "error_200");
    s3_error taken;
    assert_true(s3_xml_take_error(p, &taken));
    assert_int_equal(taken.code, S3_ERROR_INTERNAL_ERROR);
    assert_null(s3_xml_error_result(p)); /* moved out */
    assert_null(s3_xml_copy_result(p));  /* and still no success */
    assert_false(s3_xml_take_error(p, &(s3_error){ 0 }));
    s3_xml_parser_destroy(p);
    assert_buf_str(&taken.request_id, "656c76696e6727732072657175657374"); /* outlives the parser */
    s3_error_clean_up(&taken);
}

static void multipart_initiate_and_complete(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_INITIATE_MULTIPART, "create_multipart_upload", "ok");
    const s3_initiate_result *i = s3_xml_initiate_result(p);
    assert_non_null(i);
    assert_buf_str(&i->bucket, "sluice-quarantine");
    assert_buf_str(&i->key, "q/task-1/a1/big & heavy.tar");
    assert_buf_str(&i->upload_id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_COMPLETE_MULTIPART, "complete_multipart_upload", "aws");
    const s3_complete_result *c = s3_xml_complete_result(p);
    assert_non_null(c);
    assert_buf_str(&c->location, "https://sluice-trusted.s3.amazonaws.com/t/big.tar");
    assert_buf_str(&c->bucket, "sluice-trusted");
    assert_buf_str(&c->key, "t/big.tar");
    assert_buf_str(&c->etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_COMPLETE_MULTIPART, "complete_multipart_upload", "radosgw_empty_etag");
    c = s3_xml_complete_result(p);
    assert_non_null(c);
    assert_int_equal(c->etag.len, 0);
    assert_buf_str(&c->key, "t/big.tar");
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_COMPLETE_MULTIPART, "complete_multipart_upload", "error_200");
    assert_null(s3_xml_complete_result(p));
    assert_non_null(s3_xml_error_result(p));
    assert_int_equal(s3_xml_error_result(p)->code, S3_ERROR_INVALID_PART);
    s3_xml_parser_destroy(p);
}

/* ---- DeleteObjects, tagging, versioning ---- */

static void check_delete_mixed(const s3_xml_parser *p)
{
    const s3_delete_result *d = s3_xml_delete_result(p);
    assert_non_null(d);
    assert_int_equal(d->deleted_count, 3);
    assert_int_equal(d->error_count, 2);
    assert_buf_str(&d->deleted[0].key, "staging/route-a/one.txt");
    assert_int_equal(d->deleted[0].version_id.len, 0);
    assert_false(d->deleted[0].delete_marker);
    assert_buf_str(&d->deleted[1].version_id,
                   "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo");
    assert_true(d->deleted[2].delete_marker);
    assert_buf_str(&d->deleted[2].delete_marker_version_id, "NeQt5xeFTfgPJD8B4CGWnkSLtluMr11s");
    assert_buf_str(&d->errors[0].key, "staging/route-a/locked <1>.txt");
    assert_int_equal(d->errors[0].code, S3_ERROR_ACCESS_DENIED);
    assert_buf_str(&d->errors[0].message, "Access Denied");
    assert_buf_str(&d->errors[1].version_id, "v1");
    assert_int_equal(d->errors[1].code, S3_ERROR_UNKNOWN);
    assert_buf_str(&d->errors[1].code_text, "ObjectLockedByRetention");
    /* the nested <Error> is a per-key failure, not an error document */
    assert_null(s3_xml_error_result(p));
}

static void delete_result_mixed(void **state)
{
    (void)state;
    for_every_split(S3_XML_DELETE_OBJECTS, "delete_objects", "mixed", check_delete_mixed);

    s3_xml_parser *p = parse_file(S3_XML_DELETE_OBJECTS, "delete_objects", "quiet_empty");
    const s3_delete_result *d = s3_xml_delete_result(p);
    assert_non_null(d);
    assert_int_equal(d->deleted_count, 0);
    assert_int_equal(d->error_count, 0);
    s3_xml_parser_destroy(p);
}

static void check_tagging(const s3_xml_parser *p)
{
    const s3_tagging *t = s3_xml_tagging_result(p);
    assert_non_null(t);
    assert_int_equal(t->tag_count, 3);
    assert_buf_str(&t->tags[0].key, "sluice-state");
    assert_buf_str(&t->tags[0].value, "quarantined");
    assert_buf_str(&t->tags[1].value, "a & b <c> \"d\" 'e'");
    assert_buf_str(&t->tags[2].key, "empty");
    assert_int_equal(t->tags[2].value.len, 0);
}

static void tagging_result(void **state)
{
    (void)state;
    for_every_split(S3_XML_TAGGING, "get_object_tagging", "two_tags", check_tagging);
    s3_xml_parser *p = parse_file(S3_XML_TAGGING, "get_object_tagging", "empty");
    assert_non_null(s3_xml_tagging_result(p));
    assert_int_equal(s3_xml_tagging_result(p)->tag_count, 0);
    s3_xml_parser_destroy(p);
}

static void versioning_result(void **state)
{
    (void)state;
    s3_xml_parser *p = parse_file(S3_XML_VERSIONING, "get_bucket_versioning", "enabled");
    assert_int_equal(s3_xml_versioning_result(p)->status, S3_VERSIONING_ENABLED);
    assert_int_equal(s3_xml_versioning_result(p)->mfa_delete, S3_MFA_DELETE_DISABLED);
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_VERSIONING, "get_bucket_versioning", "suspended");
    assert_int_equal(s3_xml_versioning_result(p)->status, S3_VERSIONING_SUSPENDED);
    assert_int_equal(s3_xml_versioning_result(p)->mfa_delete, S3_MFA_DELETE_ABSENT);
    s3_xml_parser_destroy(p);

    p = parse_file(S3_XML_VERSIONING, "get_bucket_versioning", "never_enabled");
    assert_non_null(s3_xml_versioning_result(p));
    assert_int_equal(s3_xml_versioning_result(p)->status, S3_VERSIONING_NEVER_ENABLED);
    assert_int_equal(s3_xml_versioning_result(p)->mfa_delete, S3_MFA_DELETE_ABSENT);
    s3_xml_parser_destroy(p);

    static const char alias[] = "<VersioningConfiguration><MFADelete>Enabled</MFADelete>"
                                "</VersioningConfiguration>";
    p = parse_bytes(S3_XML_VERSIONING, alias, sizeof(alias) - 1, 0);
    assert_int_equal(s3_xml_versioning_result(p)->mfa_delete, S3_MFA_DELETE_ENABLED);
    s3_xml_parser_destroy(p);
}

static void check_versions_radosgw(const s3_xml_parser *p)
{
    const s3_list_versions_result *v = s3_xml_list_versions_result(p);
    assert_non_null(v);
    assert_false(v->is_truncated);
    assert_int_equal(v->version_count, 2);
    assert_true(v->versions[0].delete_marker);
    assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->versions[0].key), "c"));
    assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->versions[0].version_id), "MmMiegUVEk7Z.jP7ZfBJCujN6qjlr4k"));
    assert_true(v->versions[0].is_latest);
    assert_int_equal(v->versions[0].etag.len, 0);
    assert_false(v->versions[1].delete_marker);
    assert_false(v->versions[1].is_latest);
    assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->versions[1].etag), "\"4a8a08f09d37b73795649038408b5f33\""));
    assert_int_equal(v->versions[1].size, 1);
}

static void check_versions_truncated(const s3_xml_parser *p)
{
    const s3_list_versions_result *v = s3_xml_list_versions_result(p);
    assert_non_null(v);
    assert_true(v->is_truncated);
    assert_int_equal(v->version_count, 2);
    /* keys are decoded (%20, %2F, %2B, %25); the echoed markers are left as sent */
    for (size_t i = 0; i < 2; i++) assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->versions[i].key), "a b/x+y%.txt"));
    assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->next_key_marker), "a b/x+y%.txt"));
    assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->versions[1].version_id), "7PbI5wWDQYzrJjSlgkCSBpDvo.dMmXB"));
    assert_true(v->versions[0].is_latest && !v->versions[1].is_latest);
}

static void check_versions_aws(const s3_xml_parser *p)
{
    const s3_list_versions_result *v = s3_xml_list_versions_result(p);
    assert_non_null(v);
    assert_int_equal(v->version_count, 3);
    assert_false(v->versions[0].delete_marker);
    assert_true(v->versions[1].delete_marker);
    assert_false(v->versions[2].delete_marker);
    assert_int_equal(v->versions[0].size, 434234);
    assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->versions[2].key), "my-second-image.jpg"));
    assert_true(sl_cursor_eq_cstr(sl_cursor_from_buf(&v->versions[2].version_id), "QUpfdndhfd8438MNFDN93jdnJFkdmqnh893"));
}

static void list_versions_results(void **state)
{
    (void)state;
    for_every_split(S3_XML_LIST_VERSIONS, "list_object_versions", "radosgw", check_versions_radosgw);
    for_every_split(S3_XML_LIST_VERSIONS, "list_object_versions", "truncated", check_versions_truncated);
    for_every_split(S3_XML_LIST_VERSIONS, "list_object_versions", "aws", check_versions_aws);
    /* the kind's result only: a listing of versions is no ListObjectsV2 result */
    s3_xml_parser *p = parse_file(S3_XML_LIST_VERSIONS, "list_object_versions", "aws");
    assert_null(s3_xml_list_result(p));
    s3_xml_parser_destroy(p);
}

static void etag_unquoting(void **state)
{
    (void)state;
    assert_true(sl_cursor_eq_cstr(s3_etag_unquoted(sl_cursor_from_cstr("\"abc\"")), "abc"));
    assert_true(sl_cursor_eq_cstr(s3_etag_unquoted(sl_cursor_from_cstr("abc")), "abc"));
    assert_true(sl_cursor_eq_cstr(s3_etag_unquoted(sl_cursor_from_cstr("\"\"")), ""));
    assert_true(sl_cursor_eq_cstr(s3_etag_unquoted(sl_cursor_from_cstr("\"")), "\""));
    assert_true(sl_cursor_eq_cstr(s3_etag_unquoted(sl_cursor_from_cstr("\"abc")), "\"abc"));
    assert_true(sl_cursor_eq_cstr(s3_etag_unquoted(sl_cursor_from_cstr("W/\"abc\"")), "W/\"abc\""));
    assert_true(sl_cursor_eq_cstr(s3_etag_unquoted(sl_cursor_from_cstr("")), ""));
}

/* ---- writers ---- */

/* Collects the text of every <Key> element of a document, as an XML parser sees it. */
struct key_collector {
    sl_buf keys[16];
    size_t count;
    bool in_key;
};

static void XMLCALL collect_start(void *user, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct key_collector *c = user;
    if (strcmp(name, "Key") == 0 && c->count < 16) c->in_key = true;
}

static void XMLCALL collect_end(void *user, const XML_Char *name)
{
    struct key_collector *c = user;
    if (strcmp(name, "Key") == 0 && c->in_key) {
        c->in_key = false;
        c->count++;
    }
}

static void XMLCALL collect_text(void *user, const XML_Char *s, int len)
{
    struct key_collector *c = user;
    if (c->in_key) assert_true(sl_ok(sl_buf_append(&c->keys[c->count], s, (size_t)len)));
}

static void collect_keys(const sl_buf *doc, struct key_collector *c)
{
    *c = (struct key_collector){ 0 };
    XML_Parser x = XML_ParserCreate(NULL);
    XML_SetUserData(x, c);
    XML_SetElementHandler(x, collect_start, collect_end);
    XML_SetCharacterDataHandler(x, collect_text);
    if (XML_Parse(x, (const char *)doc->data, (int)doc->len, 1) != XML_STATUS_OK)
        fail_msg("writer output is not well-formed: %s", XML_ErrorString(XML_GetErrorCode(x)));
    XML_ParserFree(x);
}

static void free_keys(struct key_collector *c)
{
    for (size_t i = 0; i < 16; i++) sl_buf_clean_up(&c->keys[i]);
}

static s3_object_ref object(const char *key, const char *version)
{
    return (s3_object_ref){ .key = sl_cursor_from_cstr(key), .version_id = sl_cursor_from_cstr(version) };
}

static void write_delete_escapes_and_round_trips(void **state)
{
    (void)state;
    const s3_object_ref objects[] = {
        object("a&b<c>\"d'e", NULL),
        object("line1\r\nline2\ttab", "v1+/="),
        object("caf\xc3\xa9/\xf0\x9f\x98\x80 \x7f\xc2\x80\xef\xbf\xbd", ""),
    };
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_append_cstr(&out, "KEEP")));
    assert_true(sl_ok(s3_xml_write_delete(&out, objects, 3, true)));
    assert_string_equal(sl_buf_cstr(&out),
                        "KEEP<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                        "<Quiet>true</Quiet>"
                        "<Object><Key>a&amp;b&lt;c&gt;&quot;d&apos;e</Key></Object>"
                        "<Object><Key>line1&#13;&#10;line2\ttab</Key><VersionId>v1+/=</VersionId></Object>"
                        "<Object><Key>caf\xc3\xa9/\xf0\x9f\x98\x80 \x7f\xc2\x80\xef\xbf\xbd</Key></Object>"
                        "</Delete>");

    /* what an XML parser (S3's) reads back is exactly the keys, CR included */
    sl_buf doc = { 0 };
    assert_true(sl_ok(s3_xml_write_delete(&doc, objects, 3, false)));
    assert_null(strstr(sl_buf_cstr(&doc), "Quiet"));
    struct key_collector c;
    collect_keys(&doc, &c);
    assert_int_equal(c.count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_buf_bytes(&c.keys[i], objects[i].key.ptr, objects[i].key.len);
    free_keys(&c);
    sl_buf_clean_up(&doc);
    sl_buf_clean_up(&out);
}

static void write_delete_limits(void **state)
{
    (void)state;
    s3_object_ref *many = sl_calloc(S3_XML_MAX_DELETE_OBJECTS + 1, sizeof(*many));
    for (size_t i = 0; i <= S3_XML_MAX_DELETE_OBJECTS; i++) many[i] = object("staging/k", NULL);
    sl_buf out = { 0 };
    assert_true(sl_ok(s3_xml_write_delete(&out, many, S3_XML_MAX_DELETE_OBJECTS, false)));
    sl_buf_reset(&out);
    assert_true(sl_ok(sl_buf_append_cstr(&out, "KEEP")));
    assert_true(sl_failed(s3_xml_write_delete(&out, many, S3_XML_MAX_DELETE_OBJECTS + 1, false)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_detail_has("1001 objects (1 to 1000 allowed)");
    assert_string_equal(sl_buf_cstr(&out), "KEEP");
    assert_true(sl_failed(s3_xml_write_delete(&out, many, 0, false)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);

    many[5] = object("", NULL);
    assert_true(sl_failed(s3_xml_write_delete(&out, many, 10, false)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_detail_has("object 5: empty key");
    assert_string_equal(sl_buf_cstr(&out), "KEEP");
    sl_free(many);
    sl_buf_clean_up(&out);
}

static void write_delete_refuses_text_xml_cannot_carry(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        size_t at;
    } bad[] = {
        { "ctl\x01", 4, 3 },               /* C0 control */
        { "nul\0x", 5, 3 },                /* NUL */
        { "esc\x1b[0m", 7, 3 },            /* ESC */
        { "bad\xff", 4, 3 },               /* not UTF-8 */
        { "over\xc0\xaf", 6, 4 },          /* overlong '/' */
        { "over\xe0\x80\xaf", 7, 4 },      /* overlong, 3 bytes */
        { "sur\xed\xa0\x80", 6, 3 },       /* UTF-16 surrogate */
        { "nonchar\xef\xbf\xbe", 10, 7 },  /* U+FFFE */
        { "nonchar\xef\xbf\xbf", 10, 7 },  /* U+FFFF */
        { "big\xf4\x90\x80\x80", 7, 3 },   /* above U+10FFFF */
        { "cut\xe6\x97", 5, 3 },           /* truncated sequence */
        { "lone\x80", 5, 4 },              /* stray continuation byte */
    };
    sl_buf out = { 0 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s3_object_ref objects[2] = { object("fine", NULL) };
        objects[1].key = sl_cursor_from_bytes(bad[i].bytes, bad[i].len);
        assert_true(sl_failed(s3_xml_write_delete(&out, objects, 2, false)));
        assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
        char expect[96];
        snprintf(expect, sizeof(expect), "object 1: <Key> holds a byte sequence XML 1.0 cannot carry (at byte %zu)",
                 bad[i].at);
        assert_detail_has(expect);
        assert_int_equal(out.len, 0);
    }
    /* a version id is checked too */
    s3_object_ref v = { .key = sl_cursor_from_cstr("k"), .version_id = sl_cursor_from_bytes("v\x02", 2) };
    assert_true(sl_failed(s3_xml_write_delete(&out, &v, 1, false)));
    assert_detail_has("<VersionId>");
    sl_buf_clean_up(&out);
}

static void write_complete_multipart(void **state)
{
    (void)state;
    const s3_part_ref parts[] = {
        { 1, sl_cursor_from_cstr("\"a54357aff0632cce46d942af68356b38\"") },
        { 2, sl_cursor_from_cstr("\"0c78aef83f66abc1fa1e8477f296d394\"") },
        { 10000, sl_cursor_from_cstr("\"acbd18db4cc2f85cedef654fccc4a4d8\"") },
    };
    sl_buf out = { 0 };
    assert_true(sl_ok(s3_xml_write_complete_multipart(&out, parts, 3)));
    assert_string_equal(sl_buf_cstr(&out),
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                        "<Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag></Part>"
                        "<Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag></Part>"
                        "<Part><PartNumber>10000</PartNumber><ETag>&quot;acbd18db4cc2f85cedef654fccc4a4d8&quot;</ETag></Part>"
                        "</CompleteMultipartUpload>");
    sl_buf_reset(&out);

    const struct {
        s3_part_ref parts[2];
        const char *detail;
        sl_error code;
    } bad[] = {
        { { { 0, sl_cursor_from_cstr("e") }, { 1, sl_cursor_from_cstr("e") } },
          "part 0: part number 0 (1 to 10000 allowed)", SL_ERR_INVALID_ARGUMENT },
        { { { 1, sl_cursor_from_cstr("e") }, { 10001, sl_cursor_from_cstr("e") } },
          "part 1: part number 10001", SL_ERR_INVALID_ARGUMENT },
        { { { 2, sl_cursor_from_cstr("e") }, { 2, sl_cursor_from_cstr("e") } },
          "part 1: part number 2 after 2 (must ascend)", SL_ERR_INVALID_ARGUMENT },
        { { { 3, sl_cursor_from_cstr("e") }, { 1, sl_cursor_from_cstr("e") } },
          "part 1: part number 1 after 3", SL_ERR_INVALID_ARGUMENT },
        { { { 1, sl_cursor_from_cstr("e") }, { 2, sl_cursor_from_cstr("") } },
          "part 1: empty ETag", SL_ERR_INVALID_ARGUMENT },
        { { { 1, sl_cursor_from_cstr("e") }, { 2, sl_cursor_from_bytes("e\x03", 2) } },
          "part 1: <ETag> holds a byte sequence", SL_ERR_ENCODING },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(sl_failed(s3_xml_write_complete_multipart(&out, bad[i].parts, 2)));
        assert_int_equal(sl_error_last(), bad[i].code);
        assert_detail_has(bad[i].detail);
        assert_int_equal(out.len, 0);
    }
    assert_true(sl_failed(s3_xml_write_complete_multipart(&out, parts, 0)));
    assert_detail_has("0 parts");

    s3_part_ref *many = sl_calloc(S3_XML_MAX_PARTS + 1, sizeof(*many));
    for (size_t i = 0; i <= S3_XML_MAX_PARTS; i++)
        many[i] = (s3_part_ref){ (uint32_t)(i + 1), sl_cursor_from_cstr("\"e\"") };
    assert_true(sl_ok(s3_xml_write_complete_multipart(&out, many, S3_XML_MAX_PARTS)));
    sl_buf_reset(&out);
    assert_true(sl_failed(s3_xml_write_complete_multipart(&out, many, S3_XML_MAX_PARTS + 1)));
    assert_detail_has("10001 parts (1 to 10000 allowed)");
    assert_int_equal(out.len, 0);
    sl_free(many);
    sl_buf_clean_up(&out);
}

static s3_tag_ref tag(const char *key, const char *value)
{
    return (s3_tag_ref){ .key = sl_cursor_from_cstr(key), .value = sl_cursor_from_cstr(value) };
}

static void write_tagging_and_read_it_back(void **state)
{
    (void)state;
    const s3_tag_ref tags[] = {
        tag("sluice-state", "quarantined"),
        tag("note <1>", "a & b \"c\" 'd'\r\nline two"),
        tag("empty", ""),
    };
    sl_buf out = { 0 };
    assert_true(sl_ok(s3_xml_write_tagging(&out, tags, 3)));
    assert_string_equal(sl_buf_cstr(&out),
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>"
                        "<Tag><Key>sluice-state</Key><Value>quarantined</Value></Tag>"
                        "<Tag><Key>note &lt;1&gt;</Key><Value>a &amp; b &quot;c&quot; &apos;d&apos;&#13;&#10;line two</Value></Tag>"
                        "<Tag><Key>empty</Key><Value></Value></Tag>"
                        "</TagSet></Tagging>");

    /* the writer's body is what GetObjectTagging returns: the parser reads it back */
    s3_xml_parser *p = parse_bytes(S3_XML_TAGGING, out.data, out.len, 3);
    const s3_tagging *t = s3_xml_tagging_result(p);
    assert_non_null(t);
    assert_int_equal(t->tag_count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_buf_bytes(&t->tags[i].key, tags[i].key.ptr, tags[i].key.len);
        assert_buf_bytes(&t->tags[i].value, tags[i].value.ptr, tags[i].value.len);
    }
    s3_xml_parser_destroy(p);

    sl_buf_reset(&out);
    assert_true(sl_ok(s3_xml_write_tagging(&out, NULL, 0)));
    assert_non_null(strstr(sl_buf_cstr(&out), "<TagSet></TagSet></Tagging>"));
    sl_buf_clean_up(&out);
}

static void write_tagging_limits(void **state)
{
    (void)state;
    sl_buf out = { 0 };
    s3_tag_ref eleven[11];
    char names[11][8];
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i);
        eleven[i] = tag(names[i], "v");
    }
    assert_true(sl_ok(s3_xml_write_tagging(&out, eleven, 10)));
    sl_buf_reset(&out);
    assert_true(sl_failed(s3_xml_write_tagging(&out, eleven, 11)));
    assert_detail_has("11 tags (at most 10 allowed)");

    s3_tag_ref dup[] = { tag("a", "1"), tag("b", "2"), tag("a", "3") };
    assert_true(sl_failed(s3_xml_write_tagging(&out, dup, 3)));
    assert_detail_has("tag 2: same key as tag 0");
    s3_tag_ref empty_key[] = { tag("", "1") };
    assert_true(sl_failed(s3_xml_write_tagging(&out, empty_key, 1)));
    assert_detail_has("tag 0: empty key");

    /* lengths count Unicode characters, not bytes: 128 two-byte characters fit */
    sl_buf key = { 0 };
    for (int i = 0; i < 128; i++) assert_true(sl_ok(sl_buf_append_cstr(&key, "\xc3\xa9")));
    s3_tag_ref wide = { sl_cursor_from_buf(&key), sl_cursor_from_cstr("v") };
    assert_true(sl_ok(s3_xml_write_tagging(&out, &wide, 1)));
    sl_buf_reset(&out);
    assert_true(sl_ok(sl_buf_append_cstr(&key, "\xc3\xa9")));
    wide.key = sl_cursor_from_buf(&key);
    assert_true(sl_failed(s3_xml_write_tagging(&out, &wide, 1)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_detail_has("key of 129 characters (at most 128)");
    assert_int_equal(out.len, 0);

    sl_buf value = { 0 };
    for (int i = 0; i < 256; i++) assert_true(sl_ok(sl_buf_append_byte(&value, 'v')));
    s3_tag_ref long_value = { sl_cursor_from_cstr("k"), sl_cursor_from_buf(&value) };
    assert_true(sl_ok(s3_xml_write_tagging(&out, &long_value, 1)));
    sl_buf_reset(&out);
    assert_true(sl_ok(sl_buf_append_byte(&value, 'v')));
    long_value.value = sl_cursor_from_buf(&value);
    assert_true(sl_failed(s3_xml_write_tagging(&out, &long_value, 1)));
    assert_detail_has("value of 257 characters (at most 256)");

    s3_tag_ref bad_value = { sl_cursor_from_cstr("k"), sl_cursor_from_bytes("\xfe", 1) };
    assert_true(sl_failed(s3_xml_write_tagging(&out, &bad_value, 1)));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    assert_detail_has("tag 0: <Value>");
    assert_int_equal(out.len, 0);
    sl_buf_clean_up(&key);
    sl_buf_clean_up(&value);
    sl_buf_clean_up(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_basic_every_chunk_size),
        cmocka_unit_test(list_url_encoded_keys_are_decoded),
        cmocka_unit_test(list_empty),
        cmocka_unit_test(list_truncated_with_continuation_token),
        cmocka_unit_test(list_common_prefixes),
        cmocka_unit_test(list_radosgw_extras_are_ignored),
        cmocka_unit_test(list_of_1000_keys),
        cmocka_unit_test(list_entry_cap_is_an_error_not_a_silent_cut),
        cmocka_unit_test(list_value_length_cap),
        cmocka_unit_test(list_nesting_cap),
        cmocka_unit_test(document_size_cap),
        cmocka_unit_test(list_cut_anywhere_is_an_error),
        cmocka_unit_test(invalid_documents_are_rejected),
        cmocka_unit_test(parser_state_rules),
        cmocka_unit_test(error_bodies_map_codes),
        cmocka_unit_test(error_body_details),
        cmocka_unit_test(error_body_one_shot_refuses_non_errors),
        cmocka_unit_test(error_code_table_round_trips),
        cmocka_unit_test(copy_object_result),
        cmocka_unit_test(copy_200_with_error_body_is_an_error),
        cmocka_unit_test(multipart_initiate_and_complete),
        cmocka_unit_test(delete_result_mixed),
        cmocka_unit_test(tagging_result),
        cmocka_unit_test(versioning_result),
        cmocka_unit_test(list_versions_results),
        cmocka_unit_test(etag_unquoting),
        cmocka_unit_test(write_delete_escapes_and_round_trips),
        cmocka_unit_test(write_delete_limits),
        cmocka_unit_test(write_delete_refuses_text_xml_cannot_carry),
        cmocka_unit_test(write_complete_multipart),
        cmocka_unit_test(write_tagging_and_read_it_back),
        cmocka_unit_test(write_tagging_limits),
    };
    return cmocka_run_group_tests_name("s3_xml", tests, NULL, NULL);
}
