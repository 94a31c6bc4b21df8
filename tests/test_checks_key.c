/*
 * test_checks_key.c — unit tests of mover/checks/key.c and metadata.c: names a person
 * or a program would read as something else (bidirectional overrides, invisible and
 * C1 characters, look-alike separators, percent-encoded dot segments, invalid UTF-8),
 * the near misses that must still pass, and user metadata counted whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "checks/checks.h"
#include "util/alloc.h"

static sl_config_checks rules(void)
{
    return (sl_config_checks){ .max_bytes = 1024, .max_key_length = 1024, .max_depth = 8, .max_metadata_bytes = 2048 };
}

static sl_cursor cur(const char *s) { return sl_cursor_from_cstr(s); }

struct key_case {
    const char *name;
    const char *why; /* NULL: passes */
};

static void run_cases(const struct key_case *cases, size_t n)
{
    sl_config_checks r = rules();
    for (size_t i = 0; i < n; i++) {
        findings f = { 0 };
        assert_true(sl_ok(checks_key(&r, cur("staging/t/x"), cur(cases[i].name), &f)));
        assert_int_equal(f.count, 1);
        bool passed = f.items[0].verdict == FINDING_PASS;
        if (passed != (cases[i].why == NULL))
            fail_msg("case %zu: expected %s, got: %s", i, cases[i].why ? cases[i].why : "a pass", f.items[0].detail);
        if (cases[i].why != NULL && strstr(f.items[0].detail, cases[i].why) == NULL)
            fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].why, f.items[0].detail);
        findings_clean_up(&f);
    }
}

/* Finding: a right-to-left override makes "report\u202Evsc.exe" read "reportexe.csv". */
static void bidi_and_invisible_characters_are_refused(void **state)
{
    (void)state;
    static const struct key_case cases[] = {
        { "report\xe2\x80\xaevsc.exe", "format character (U+202E)" },  /* RLO */
        { "a\xe2\x80\xaa.csv", "(U+202A)" },                            /* LRE */
        { "a\xe2\x81\xa6.csv", "(U+2066)" },                            /* LRI */
        { "a\xe2\x81\xa9.csv", "(U+2069)" },                            /* PDI */
        { "a\xd8\x9c.csv", "(U+061C)" },                                /* Arabic letter mark */
        { "in\xe2\x80\x8bvisible.csv", "(U+200B)" },                    /* zero-width space */
        { "a\xe2\x80\x8d.csv", "(U+200D)" },                            /* zero-width joiner */
        { "a\xe2\x80\x8f.csv", "(U+200F)" },                            /* RLM */
        { "\xef\xbb\xbf" "bom.csv", "(U+FEFF)" },                       /* BOM */
        { "soft\xc2\xad" "hyphen.csv", "(U+00AD)" },
        { "tag\xf3\xa0\x81\x81.csv", "(U+E0041)" },                    /* tag character */
        { "line\xe2\x80\xa8sep.csv", "separator (U+2028)" },
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Finding: C1 controls (U+0085 next line, U+009B CSI) in names. */
static void c1_controls_are_refused(void **state)
{
    (void)state;
    static const struct key_case cases[] = {
        { "next\xc2\x85line.csv", "C1 control character (U+0085)" },
        { "csi\xc2\x9b" "31m.csv", "C1 control character (U+009B)" },
        { "a\xc2\x80.csv", "(U+0080)" },
        { "a\xc2\x9f.csv", "(U+009F)" },
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Finding: "%2e%2e/x.csv" reads "../x.csv" to any consumer that percent-decodes. */
static void percent_encoded_dot_segments_are_refused(void **state)
{
    (void)state;
    static const struct key_case cases[] = {
        { "%2e%2e/x.csv", "percent-encoded" },
        { "%2E%2E/x.csv", "percent-encoded" },
        { "a/%2e/x.csv", "percent-encoded" },
        { ".%2e/x.csv", "percent-encoded" },
        { "%252e%252e/x.csv", "percent-encoded" }, /* double-encoded */
        { "..%2fx.csv", "percent-encoded" },       /* an encoded separator makes "../" */
        { "a%5c..%5cb.csv", "percent-encoded" },
        { "nul%00.csv", "percent-encoded" },
        { "overlong\xc0\xae\xc0\xae.csv", "not valid UTF-8" }, /* C0 AE: a disguised "." */
        { "cut\xe2\x80.csv", "not valid UTF-8" },
        { "surrogate\xed\xa0\x80.csv", "not valid UTF-8" },
        { "fullwidth\xef\xbc\x8e\xef\xbc\x8e\xef\xbc\x8fx", "look-alike" }, /* ．．／ */
        { "division\xe2\x88\x95slash.csv", "look-alike" },
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Near misses: names that look close but read as they are. */
static void near_misses_pass(void **state)
{
    (void)state;
    static const struct key_case cases[] = {
        { "report.csv", NULL },
        { "caf\xc3\xa9/na\xc3\xafve.csv", NULL },            /* accents */
        { "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.txt", NULL }, /* CJK */
        { "\xd8\xaa\xd9\x82\xd8\xb1\xd9\x8a\xd8\xb1.csv", NULL }, /* Arabic letters, no marks */
        { "emoji-\xf0\x9f\x93\x88.png", NULL },
        { "100%25.csv", NULL },        /* decodes to "100%.csv" */
        { "50%.csv", NULL },           /* not an escape */
        { "a%2e.csv", NULL },          /* decodes to "a..csv": not a segment */
        { "%2e%2ex/y.csv", NULL },     /* "..x" is a name */
        { "a..b.csv", NULL },
        { "space%20name.csv", NULL },
        { "ellipsis\xe2\x80\xa6.txt", NULL }, /* U+2026 is a character people type */
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Finding: only 32 pairs were counted. Now every pair counts, and a set the client
 * could not keep whole fails. */
static void metadata_counts_every_pair(void **state)
{
    (void)state;
    sl_config_checks r = rules();
    enum { PAIRS = 64 };
    static char names[PAIRS][8], values[PAIRS][40];
    sl_cursor pairs[2 * PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        snprintf(names[i], sizeof(names[i]), "k%02d", i);
        memset(values[i], 'v', sizeof(values[i]) - 1);
        values[i][sizeof(values[i]) - 1] = '\0';
        pairs[2 * i] = cur(names[i]);
        pairs[2 * i + 1] = cur(values[i]);
    }
    s3_object_info info = { .metadata = pairs, .metadata_count = PAIRS };
    findings f = { 0 };
    assert_true(sl_ok(checks_metadata_of(&r, &info, &f))); /* 64 x (3 + 39) = 2688 bytes */
    assert_int_equal(f.items[0].verdict, FINDING_FAIL);
    assert_non_null(strstr(f.items[0].detail, "2688 bytes in 64 pairs"));

    info.metadata_count = 2; /* small, but the client dropped some: fail */
    info.metadata_truncated = true;
    assert_true(sl_ok(checks_metadata_of(&r, &info, &f)));
    assert_int_equal(f.items[1].verdict, FINDING_FAIL);
    assert_non_null(strstr(f.items[1].detail, "more user metadata than could be counted"));

    info.metadata_truncated = false;
    assert_true(sl_ok(checks_metadata_of(&r, &info, &f)));
    assert_int_equal(f.items[2].verdict, FINDING_PASS);
    findings_clean_up(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bidi_and_invisible_characters_are_refused),
        cmocka_unit_test(c1_controls_are_refused),
        cmocka_unit_test(percent_encoded_dot_segments_are_refused),
        cmocka_unit_test(near_misses_pass),
        cmocka_unit_test(metadata_counts_every_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
