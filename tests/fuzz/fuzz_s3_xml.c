/*
 * fuzz_s3_xml.c — libFuzzer target over the streaming S3 XML parsers (mover/s3/xml.c).
 *
 * Input: byte 0 picks the document kind, byte 1 the chunk size the body is fed in,
 * the rest is the body. Invariants beyond "no crash": a parser that failed (feed or
 * finish) gives no result at all; a finished parser gives either an <Error> or its
 * kind's result, never both; the same bytes fed in one piece give the same verdict;
 * a listing's decoded keys and counts are self-consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/xml.h"

static int parse(const uint8_t *body, size_t len, size_t chunk, s3_xml_doc kind, s3_xml_parser **out)
{
    s3_xml_parser *p = s3_xml_parser_new(kind);
    int ok = 1;
    for (size_t at = 0; ok && at < len; at += chunk) {
        size_t n = len - at < chunk ? len - at : chunk;
        if (sl_failed(s3_xml_feed(p, body + at, n))) ok = 0;
    }
    if (ok && sl_failed(s3_xml_finish(p))) ok = 0;
    *out = p;
    return ok;
}

static int has_result(const s3_xml_parser *p)
{
    return s3_xml_list_result(p) || s3_xml_copy_result(p) || s3_xml_initiate_result(p) ||
           s3_xml_complete_result(p) || s3_xml_delete_result(p) || s3_xml_tagging_result(p) ||
           s3_xml_versioning_result(p) || s3_xml_list_versions_result(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    s3_xml_doc kind = (s3_xml_doc)(data[0] % S3_XML_DOC_COUNT);
    size_t chunk = (size_t)data[1] + 1;
    const uint8_t *body = data + 2;
    size_t len = size - 2;

    s3_xml_parser *streamed, *whole;
    int ok = parse(body, len, chunk, kind, &streamed);
    int ok_whole = parse(body, len, len ? len : 1, kind, &whole);
    if (ok != ok_whole) abort(); /* chunking must not change the verdict */
    if (!ok) {
        if (has_result(streamed) || s3_xml_error_result(streamed)) abort(); /* no half results */
    } else {
        int error = s3_xml_error_result(streamed) != NULL;
        if (error == has_result(streamed)) abort(); /* exactly one of the two */
        const s3_list_result *list = s3_xml_list_result(streamed);
        if (list != NULL) {
            if (list->object_count > 0 && list->objects == NULL) abort();
            if (list->is_truncated && list->next_continuation_token.len == 0) abort();
            for (size_t i = 0; i < list->object_count; i++)
                if (list->objects[i].key.data && list->objects[i].key.data[list->objects[i].key.len] != '\0') abort();
        }
        const s3_list_versions_result *versions = s3_xml_list_versions_result(streamed);
        if (versions != NULL) {
            if (versions->is_truncated && versions->version_count == 0) abort(); /* paging needs a last entry */
            for (size_t i = 0; i < versions->version_count; i++)
                if (versions->versions[i].key.len == 0 || versions->versions[i].version_id.len == 0) abort();
        }
    }
    s3_xml_parser_destroy(streamed);
    s3_xml_parser_destroy(whole);
    return 0;
}
