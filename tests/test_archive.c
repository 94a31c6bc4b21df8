/*
 * test_archive.c — archives inspected with bounds (mover/checks/archive.c), through the
 * streaming content checker: archives the test builds with libarchive's writer (zip,
 * tar, tar.gz, 7z, bzip2, xz, nesting), members judged like top-level objects with
 * their paths named, the bounds (members, depth, expansion, ratio: a bomb found before
 * it is expanded), and what is unscannable (encrypted, truncated, too large).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "checks_driver.h"
#include "util/alloc.h"
#include "util/buf.h"

/* Archives are allowed; members are what is judged (embedded archives inside them are
 * their members, inspected, so the embedded scan ignores them). */
#define ROUTE                                                                                                  \
    "{\"check_extension\": false, \"embedded\": {\"archive\": \"ignore\"}, \"allow_types\": [\"text/plain\", " \
    "\"application/zip\", \"application/x-tar\", \"application/gzip\", \"application/x-7z-compressed\", "      \
    "\"application/x-bzip2\", \"application/x-xz\", \"application/x-empty\"]%s}"

static uint8_t ELF[64];

static void make_elf(void)
{
    memset(ELF, 0, sizeof(ELF));
    memcpy(ELF, "\x7f" "ELF\x02\x01\x01", 7);
    ELF[16] = 2;    /* ET_EXEC */
    ELF[18] = 0x3e; /* x86-64 */
}

typedef struct member {
    const char *name;
    const void *data;
    size_t len;
} member;

/* An archive in memory: format "zip", "tar", "7z"; filter "gz", "bz2", "xz" or NULL;
 * `raw` writes one compressed file (no container). */
static void build(sl_buf *out, const char *format, const char *filter, const member *m, size_t count,
                  const char *passphrase)
{
    struct archive *w = archive_write_new();
    assert_non_null(w);
    if (strcmp(format, "zip") == 0) assert_int_equal(archive_write_set_format_zip(w), ARCHIVE_OK);
    else if (strcmp(format, "tar") == 0) assert_int_equal(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
    else if (strcmp(format, "7z") == 0) assert_int_equal(archive_write_set_format_7zip(w), ARCHIVE_OK);
    else assert_int_equal(archive_write_set_format_raw(w), ARCHIVE_OK);
    if (filter && strcmp(filter, "gz") == 0) assert_int_equal(archive_write_add_filter_gzip(w), ARCHIVE_OK);
    if (filter && strcmp(filter, "bz2") == 0) assert_int_equal(archive_write_add_filter_bzip2(w), ARCHIVE_OK);
    if (filter && strcmp(filter, "xz") == 0) assert_int_equal(archive_write_add_filter_xz(w), ARCHIVE_OK);
    if (passphrase) {
        assert_int_equal(archive_write_set_options(w, "zip:encryption=zipcrypt"), ARCHIVE_OK);
        assert_int_equal(archive_write_set_passphrase(w, passphrase), ARCHIVE_OK);
    }
    size_t cap = 1024;
    for (size_t i = 0; i < count; i++) cap += m[i].len * 2 + 1024;
    sl_buf_reset(out);
    assert_true(sl_ok(sl_buf_reserve(out, cap)));
    size_t used = 0;
    assert_int_equal(archive_write_open_memory(w, out->data, out->capacity, &used), ARCHIVE_OK);
    for (size_t i = 0; i < count; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)m[i].len);
        assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(w, m[i].data, m[i].len), (la_ssize_t)m[i].len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(w), ARCHIVE_OK);
    archive_write_free(w);
    out->len = used;
}

static void run(const char *extra, const char *name, const sl_buf *data, findings *f)
{
    char checks[1024];
    snprintf(checks, sizeof(checks), ROUTE, extra);
    checks_driver d;
    checks_driver_init(&d, checks);
    checks_driver_run(&d, name, data->data, data->len, 8192, f);
    checks_driver_clean_up(&d);
}

static void dump(const findings *f)
{
    for (size_t i = 0; i < f->count; i++)
        fprintf(stderr, "  %s %d %s\n", f->items[i].check, (int)f->items[i].verdict, f->items[i].detail);
}

static void expect(const findings *f, const char *check, finding_verdict v, const char *words)
{
    const artifact_finding *x = checks_find(f, check, words);
    if (x == NULL || x->verdict != v) {
        dump(f);
        fail_msg("no %s finding (verdict %d) with \"%s\"", check, (int)v, words);
    }
}

static void clean_members_pass_and_are_counted(void **state)
{
    (void)state;
    const char *formats[][2] = { { "zip", NULL }, { "tar", NULL }, { "tar", "gz" }, { "tar", "bz2" },
                                 { "tar", "xz" }, { "7z", NULL } };
    member m[] = { { "a.txt", "hello\n", 6 }, { "dir/b.txt", "world, and more words\n", 22 } };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        sl_buf b = { 0 };
        build(&b, formats[i][0], formats[i][1], m, 2, NULL);
        findings f = { 0 };
        run("", "bundle", &b, &f);
        if (!findings_all_pass(&f)) {
            dump(&f);
            fail_msg("%s+%s: not every finding passes", formats[i][0], formats[i][1] ? formats[i][1] : "");
        }
        expect(&f, "archive", FINDING_PASS, "2 members");
        findings_clean_up(&f);
        sl_buf_clean_up(&b);
    }
    /* one compressed file (no container) is a member too */
    const char *filters[] = { "gz", "bz2", "xz" };
    for (size_t i = 0; i < 3; i++) {
        sl_buf b = { 0 };
        member one = { "notes.txt", "just text\n", 10 };
        build(&b, "raw", filters[i], &one, 1, NULL);
        findings f = { 0 };
        run("", "notes.txt.x", &b, &f);
        expect(&f, "archive", FINDING_PASS, "1 members");
        assert_true(findings_all_pass(&f));
        findings_clean_up(&f);
        sl_buf_clean_up(&b);
    }
}

static void an_elf_three_levels_deep_is_found_with_its_path(void **state)
{
    (void)state;
    sl_buf deep = { 0 }, mid = { 0 }, outer = { 0 };
    member l3[] = { { "readme.txt", "fine\n", 5 }, { "bin/payload", ELF, sizeof(ELF) } };
    build(&deep, "tar", "gz", l3, 2, NULL);
    member l2[] = { { "deep.tar.gz", deep.data, deep.len } };
    build(&mid, "tar", NULL, l2, 1, NULL);
    member l1[] = { { "notes.txt", "hello\n", 6 }, { "inner.tar", mid.data, mid.len } };
    build(&outer, "zip", NULL, l1, 2, NULL);
    findings f = { 0 };
    run("", "outer.zip", &outer, &f);
    expect(&f, "type", FINDING_FAIL, "inner.tar/deep.tar.gz/bin/payload: application/x-executable");
    findings_clean_up(&f);
    /* one level fewer allowed: the third is unscannable, never a pass */
    run(", \"archives\": {\"max_depth\": 2}", "outer.zip", &outer, &f);
    expect(&f, "archive", FINDING_ERROR, "inner.tar/deep.tar.gz: an archive nested deeper than archives.max_depth");
    findings_clean_up(&f);
    sl_buf_clean_up(&deep);
    sl_buf_clean_up(&mid);
    sl_buf_clean_up(&outer);
}

static void members_get_the_scanners_too(void **state)
{
    (void)state;
    /* an executable embedded inside a text member, in a 7z */
    uint8_t text[512];
    memset(text, 'a', sizeof(text));
    memcpy(text + 100, ELF, sizeof(ELF));
    member m[] = { { "docs/report.txt", text, sizeof(text) } };
    sl_buf b = { 0 };
    build(&b, "7z", NULL, m, 1, NULL);
    findings f = { 0 };
    run("", "bundle.7z", &b, &f);
    expect(&f, "embedded", FINDING_FAIL, "docs/report.txt: ");
    findings_clean_up(&f);
    sl_buf_clean_up(&b);
}

static void bombs_and_bounds_are_findings(void **state)
{
    (void)state;
    size_t big = (size_t)4 * 1024 * 1024;
    uint8_t *zeros = sl_calloc(1, big);
    sl_buf b = { 0 };
    /* tar.gz: the member declares 4 MiB, the archive is ~4 KiB: refused unexpanded */
    member m[] = { { "zeros.bin", zeros, big } };
    build(&b, "tar", "gz", m, 1, NULL);
    assert_true(b.len < 64 * 1024);
    findings f = { 0 };
    run("", "bomb.tar.gz", &b, &f);
    expect(&f, "archive", FINDING_FAIL, "zeros.bin: expands more than 100 times");
    expect(&f, "archive", FINDING_FAIL, "refused before expanding it");
    findings_clean_up(&f);
    /* zeros alone read as an empty tar: bytes without a member are unscannable */
    build(&b, "raw", "gz", m, 1, NULL);
    run("", "zeros.gz", &b, &f);
    expect(&f, "archive", FINDING_ERROR, "no member in");
    findings_clean_up(&f);
    /* a gzip declares no size: expansion stops at the bound */
    memset(zeros, 'A', big);
    build(&b, "raw", "gz", m, 1, NULL);
    run("", "bomb.gz", &b, &f);
    expect(&f, "archive", FINDING_FAIL, "a decompression bomb (stopped expanding)");
    findings_clean_up(&f);
    /* the total expanded bound */
    run(", \"archives\": {\"max_expanded_bytes\": \"1MiB\", \"max_ratio\": 100000}", "bomb.gz", &b, &f);
    expect(&f, "archive", FINDING_FAIL, "more than 1048576 bytes expanded in all");
    findings_clean_up(&f);
    sl_free(zeros);
    /* members in all */
    member many[12];
    char names[12][16];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof(names[i]), "f%02d.txt", i);
        many[i] = (member){ names[i], "x\n", 2 };
    }
    build(&b, "tar", NULL, many, 12, NULL);
    run(", \"archives\": {\"max_members\": 10}", "many.tar", &b, &f);
    expect(&f, "archive", FINDING_FAIL, "more than 10 members");
    findings_clean_up(&f);
    /* an archive above archives.max_bytes is unscannable */
    run(", \"archives\": {\"max_bytes\": \"1KiB\"}", "many.tar", &b, &f);
    expect(&f, "archive", FINDING_ERROR, "larger than archives.max_bytes");
    findings_clean_up(&f);
    sl_buf_clean_up(&b);
}

static void encrypted_and_truncated_archives_never_pass(void **state)
{
    (void)state;
    member m[] = { { "secret.txt", "hidden words\n", 13 } };
    sl_buf b = { 0 };
    build(&b, "zip", NULL, m, 1, "password");
    findings f = { 0 };
    run("", "locked.zip", &b, &f);
    expect(&f, "archive", FINDING_ERROR, "secret.txt: encrypted (unscannable)");
    assert_false(findings_all_pass(&f));
    findings_clean_up(&f);

    uint8_t text[4096];
    for (size_t i = 0; i < sizeof(text); i++) text[i] = (uint8_t)('a' + (i * 7 + i / 13) % 26);
    member t[] = { { "a.txt", text, sizeof(text) }, { "b.txt", text, sizeof(text) } };
    const char *formats[][2] = { { "tar", "gz" }, { "zip", NULL }, { "tar", NULL } };
    for (size_t i = 0; i < 3; i++) {
        build(&b, formats[i][0], formats[i][1], t, 2, NULL);
        b.len = b.len / 2 + 1; /* cut */
        run("", "cut", &b, &f);
        if (checks_worst_of(&f, "archive") != FINDING_ERROR) {
            dump(&f);
            fail_msg("a truncated %s%s%s was not unscannable", formats[i][0], formats[i][1] ? "." : "",
                     formats[i][1] ? formats[i][1] : "");
        }
        assert_false(findings_all_pass(&f));
        findings_clean_up(&f);
    }
    /* a ZIP cut just before its central directory: every member is whole, yet it is
     * truncated (the streaming reader would stop quietly) */
    build(&b, "zip", NULL, t, 2, NULL);
    size_t cd = 0;
    for (size_t i = 0; i + 4 <= b.len; i++)
        if (memcmp(b.data + i, "PK\x01\x02", 4) == 0) {
            cd = i;
            break;
        }
    assert_true(cd > 0);
    b.len = cd;
    run("", "cut.zip", &b, &f);
    assert_int_equal(checks_worst_of(&f, "archive"), FINDING_ERROR); /* (the integration test cuts a ZIP
                                                                       * whose headers carry the sizes) */
    findings_clean_up(&f);
    sl_buf_clean_up(&b);
}

int main(void)
{
    make_elf();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_members_pass_and_are_counted),
        cmocka_unit_test(an_elf_three_levels_deep_is_found_with_its_path),
        cmocka_unit_test(members_get_the_scanners_too),
        cmocka_unit_test(bombs_and_bounds_are_findings),
        cmocka_unit_test(encrypted_and_truncated_archives_never_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
