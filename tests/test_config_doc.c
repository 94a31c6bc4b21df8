/*
 * test_config_doc.c — unit tests of config/config_doc: every section of the schema
 * renders in both formats (so every row has its documentation); derived types and
 * defaults follow the rows (the bounds and defaults the loader applies); the Markdown
 * subset is checked and written as Markdown cells and as roff (escapes, fonts, a leading
 * ".", the typographic characters, refusals); generated blocks are filled in and every
 * wrong marker is refused with its line; the key list names every key with its member.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config/config.h"
#include "config/config_doc.h"
#include "util/buf.h"
#include "util/error.h"

static const char *const sections[] = {
    "top",
    "s3",
    "credentials",
    "buckets",
    "grants",
    "grants.sts",
    "routes[]",
    "routes[].reference",
    "routes[].checks",
    "routes[].checks.embedded",
    "routes[].checks.archives",
    "routes[].checks.yara",
    "review",
    "clamav",
    "retention",
    "api",
    "attest",
    "audit",
    "worker",
    "log",
    "identities",
    "events",
    "cluster",
};
#define SECTION_COUNT (sizeof(sections) / sizeof(sections[0]))

static void assert_contains(const sl_buf *b, const char *needle)
{
    if (strstr(sl_buf_cstr(b), needle) == NULL) fail_msg("\"%s\" not found in:\n%s", needle, sl_buf_cstr(b));
}

static void every_section_renders(void **state)
{
    (void)state;
    for (size_t i = 0; i < SECTION_COUNT; i++) {
        for (int f = 0; f < 2; f++) {
            sl_buf out = { 0 };
            sl_config_doc_format format = f ? SL_CONFIG_DOC_ROFF : SL_CONFIG_DOC_MARKDOWN;
            if (sl_failed(sl_config_doc_section(sections[i], format, &out)))
                fail_msg("%s: %s", sections[i], sl_error_detail());
            assert_true(out.len > 0);
            /* roff output is ASCII: the typographic characters are written by name */
            for (size_t k = 0; format == SL_CONFIG_DOC_ROFF && k < out.len; k++) assert_true(out.data[k] < 0x80);
            sl_buf_clean_up(&out);
        }
    }
    sl_buf out = { 0 };
    assert_true(sl_failed(sl_config_doc_section("nonsense", SL_CONFIG_DOC_MARKDOWN, &out)));
    assert_int_equal(sl_error_last(), SL_ERR_NOT_FOUND);
    sl_buf_clean_up(&out);
}

/* Types and defaults are derived from the same rows the loader applies. */
static void derived_columns_follow_the_rows(void **state)
{
    (void)state;
    sl_buf md = { 0 };
    assert_true(sl_ok(sl_config_doc_section("s3", SL_CONFIG_DOC_MARKDOWN, &md)));
    assert_contains(&md, "| key | type | default | meaning and checks |\n|---|---|---|---|\n");
    assert_contains(&md, "| `max_in_flight` | integer 1–10000 | `64` | ");
    assert_contains(&md, "| `addressing` | `\"path\"` \\| `\"virtual\"` | `\"path\"` | "); /* "|" escaped */
    assert_contains(&md, "| `connect_timeout` | duration > 0 | `\"5s\"` | ");
    assert_contains(&md, "| `multipart_part_size` | size 5 MiB–5 GiB | `\"512MiB\"` | ");
    assert_contains(&md, "| `endpoint` | string | required | ");
    assert_contains(&md, "| `verify_tls` | boolean | `true` | ");
    assert_contains(&md, "[credentials](#where-credentials-come-from)");
    sl_buf_clean_up(&md);

    assert_true(sl_ok(sl_config_doc_section("review", SL_CONFIG_DOC_MARKDOWN, &md)));
    assert_contains(&md, "| `hook.command` | "); /* a nested object without a section: flattened */
    assert_contains(&md, "| `hook.timeout` | duration > 0 | `\"30s\"` | ");
    sl_buf_clean_up(&md);

    assert_true(sl_ok(sl_config_doc_section("api", SL_CONFIG_DOC_MARKDOWN, &md)));
    assert_contains(&md, "| `socket_mode` | octal string | `\"0660\"` | ");
    sl_buf_clean_up(&md);

    assert_true(sl_ok(sl_config_doc_section("audit", SL_CONFIG_DOC_MARKDOWN, &md)));
    assert_contains(&md, "| `commit_interval` | duration ≤ `\"1m\"` | `\"10ms\"` | ");
    sl_buf_clean_up(&md);

    /* the defaults the loader applies are the ones documented */
    sl_config *c = NULL;
    const char *minimal = "{\"s3\": {\"endpoint\": \"http://127.0.0.1:7480\"}, \"buckets\": {\"staging\": \"st-a\", "
                          "\"quarantine\": \"qu-a\", \"trusted\": \"tr-a\"}, \"routes\": [{\"name\": \"a\", "
                          "\"staging_prefix\": \"a/\", \"trusted_prefix\": \"a/\"}], \"audit\": {\"file\": \"/a\"}}";
    assert_true(sl_ok(sl_config_load_string(minimal, "/", &c, NULL)));
    assert_int_equal(c->s3.max_in_flight, 64);
    assert_int_equal(c->s3.connect_timeout_ms, 5000);
    assert_int_equal(c->api.socket_mode, 0660);
    assert_int_equal(c->audit.commit_interval_ms, 10);
    sl_config_free(c);
}

static void roff_entries(void **state)
{
    (void)state;
    sl_buf roff = { 0 };
    assert_true(sl_ok(sl_config_doc_section("s3", SL_CONFIG_DOC_ROFF, &roff)));
    assert_contains(&roff, ".TP\n\\fBs3.endpoint\\fR\n(string; required)\n.br\n\\fBhttp://host[:port]\\fR or ");
    assert_contains(&roff, "a port 1\\(en65535.");
    assert_contains(&roff, ".TP\n\\fBs3.max_in_flight\\fR\n(integer 1\\(en10000; default: \\fB64\\fR)\n");
    assert_contains(&roff, "(\\fB\"path\"\\fR | \\fB\"virtual\"\\fR; default: \\fB\"path\"\\fR)");
    /* a link keeps its text only */
    assert_contains(&roff, "see credentials.");
    sl_buf_clean_up(&roff);

    assert_true(sl_ok(sl_config_doc_section("routes[].checks", SL_CONFIG_DOC_ROFF, &roff)));
    assert_contains(&roff, "\\fBroutes[].checks.max_bytes\\fR");
    sl_buf_clean_up(&roff);
    assert_true(sl_ok(sl_config_doc_section("credentials", SL_CONFIG_DOC_ROFF, &roff)));
    assert_contains(&roff, "\\fBcredentials.profile\\fR");
    sl_buf_clean_up(&roff);
}

static void text_subset(void **state)
{
    (void)state;
    static const struct {
        const char *in, *markdown, *roff;
    } ok[] = {
        { "plain", "plain", "plain\n" },
        { "`a-b\\c` x-y", "`a-b\\c` x-y", "\\fBa\\-b\\ec\\fR x-y\n" },
        { "a | b", "a \\| b", "a | b\n" },
        { "**every** one", "**every** one", "\\fBevery\\fR one\n" },
        { "see [`x`](#x) now", "see [`x`](#x) now", "see \\fBx\\fR now\n" },
        { ".starts with a dot", ".starts with a dot", "\\&.starts with a dot\n" },
        { "'quote", "'quote", "\\&'quote\n" },
        { "1–2 — ≤ ≥ ² ³ × →", "1–2 — ≤ ≥ ² ³ × →", "1\\(en2 \\(em \\(<= \\(>= \\(S2 \\(S3 \\(mu \\(->\n" },
        { "", "", "\n" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        sl_buf md = { 0 }, roff = { 0 };
        if (sl_failed(sl_config_doc_text(ok[i].in, SL_CONFIG_DOC_MARKDOWN, "t", &md)) ||
            sl_failed(sl_config_doc_text(ok[i].in, SL_CONFIG_DOC_ROFF, "t", &roff)))
            fail_msg("case %zu: %s", i, sl_error_detail());
        assert_string_equal(sl_buf_cstr(&md), ok[i].markdown);
        assert_string_equal(sl_buf_cstr(&roff), ok[i].roff);
        sl_buf_clean_up(&md);
        sl_buf_clean_up(&roff);
    }
    static const char *const bad[] = {
        "`unclosed", "**unclosed", "[text] (no target)", "[text](unclosed", "a ] alone",
        "tab\there", "é", "\xff", "\xe2\x80", /* a cut UTF-8 sequence */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int f = 0; f < 2; f++) {
            sl_buf out = { 0 };
            sl_config_doc_format format = f ? SL_CONFIG_DOC_ROFF : SL_CONFIG_DOC_MARKDOWN;
            if (sl_ok(sl_config_doc_text(bad[i], format, "routes[].x", &out))) fail_msg("accepted: %s", bad[i]);
            assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(sl_error_detail(), "routes[].x"));
            sl_buf_clean_up(&out);
        }
    }
}

/* A document with a block for every section. */
static void build_document(sl_buf *doc, sl_config_doc_format format, const char *skip, const char *extra)
{
    bool md = format == SL_CONFIG_DOC_MARKDOWN;
    assert_true(sl_ok(sl_buf_append_cstr(doc, "intro\n")));
    for (size_t i = 0; i < SECTION_COUNT; i++) {
        if (skip != NULL && strcmp(skip, sections[i]) == 0) continue;
        assert_true(sl_ok(sl_buf_appendf(doc, "prose of %s\n", sections[i])));
        assert_true(sl_ok(md ? sl_buf_appendf(doc, "<!-- generated: %s -->\n", sections[i])
                             : sl_buf_appendf(doc, ".\\\" generated: %s\n", sections[i])));
        assert_true(sl_ok(sl_buf_append_cstr(doc, "stale content\n")));
        assert_true(sl_ok(md ? sl_buf_appendf(doc, "<!-- end generated: %s -->\n", sections[i])
                             : sl_buf_appendf(doc, ".\\\" end generated: %s\n", sections[i])));
    }
    if (extra != NULL) assert_true(sl_ok(sl_buf_append_cstr(doc, extra)));
    assert_true(sl_ok(sl_buf_append_cstr(doc, "outro\n")));
}

static void update_fills_blocks(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        sl_config_doc_format format = f ? SL_CONFIG_DOC_ROFF : SL_CONFIG_DOC_MARKDOWN;
        sl_buf doc = { 0 }, once = { 0 }, twice = { 0 }, api = { 0 };
        build_document(&doc, format, NULL, NULL);
        if (sl_failed(sl_config_doc_update(sl_cursor_from_buf(&doc), format, &once))) fail_msg("%s", sl_error_detail());
        assert_null(strstr(sl_buf_cstr(&once), "stale content"));
        assert_non_null(strstr(sl_buf_cstr(&once), "prose of api\n"));
        assert_true(sl_ok(sl_config_doc_section("api", format, &api)));
        assert_non_null(strstr(sl_buf_cstr(&once), sl_buf_cstr(&api)));
        assert_true(once.len > 6 && strcmp(sl_buf_cstr(&once) + once.len - 6, "outro\n") == 0);
        /* a fixed point */
        assert_true(sl_ok(sl_config_doc_update(sl_cursor_from_buf(&once), format, &twice)));
        assert_string_equal(sl_buf_cstr(&once), sl_buf_cstr(&twice));
        sl_buf_clean_up(&doc);
        sl_buf_clean_up(&once);
        sl_buf_clean_up(&twice);
        sl_buf_clean_up(&api);
    }
}

static void expect_refused(const sl_buf *doc, const char *detail)
{
    sl_buf out = { 0 };
    if (sl_ok(sl_config_doc_update(sl_cursor_from_buf(doc), SL_CONFIG_DOC_MARKDOWN, &out)))
        fail_msg("accepted a document that should fail with \"%s\"", detail);
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    if (strstr(sl_error_detail(), detail) == NULL) fail_msg("detail \"%s\" lacks \"%s\"", sl_error_detail(), detail);
    sl_buf_clean_up(&out);
}

static void update_refuses_wrong_markers(void **state)
{
    (void)state;
    sl_buf doc = { 0 };
    build_document(&doc, SL_CONFIG_DOC_MARKDOWN, "log", NULL);
    expect_refused(&doc, "no block for the section \"log\"");
    sl_buf_clean_up(&doc);

    build_document(&doc, SL_CONFIG_DOC_MARKDOWN, NULL, "<!-- generated: s3 -->\n<!-- end generated: s3 -->\n");
    expect_refused(&doc, "a second block for \"s3\"");
    sl_buf_clean_up(&doc);

    build_document(&doc, SL_CONFIG_DOC_MARKDOWN, NULL, "<!-- generated: nonsense -->\n");
    expect_refused(&doc, "\"nonsense\" is not a section");
    sl_buf_clean_up(&doc);

    build_document(&doc, SL_CONFIG_DOC_MARKDOWN, "log", "<!-- generated: log -->\nno end\n");
    expect_refused(&doc, "the block \"log\" has no end marker");
    sl_buf_clean_up(&doc);

    build_document(&doc, SL_CONFIG_DOC_MARKDOWN, NULL, "<!-- end generated: log -->\n");
    expect_refused(&doc, "the end of a block that was never started");
    sl_buf_clean_up(&doc);

    build_document(&doc, SL_CONFIG_DOC_MARKDOWN, "log", "<!-- generated: log -->\n<!-- end generated: api -->\n");
    expect_refused(&doc, "closes the block \"log\"");
    sl_buf_clean_up(&doc);

    build_document(&doc, SL_CONFIG_DOC_MARKDOWN, "log", "<!-- generated: log -->\n<!-- generated: log -->\n");
    expect_refused(&doc, "a block starts inside the block \"log\"");
    sl_buf_clean_up(&doc);

    /* line numbers count from 1 */
    assert_true(sl_ok(sl_buf_append_cstr(&doc, "a\n<!-- generated: nonsense -->\n")));
    expect_refused(&doc, "line 2:");
    sl_buf_clean_up(&doc);
}

static void keys_name_every_member(void **state)
{
    (void)state;
    sl_buf keys = { 0 };
    assert_true(sl_ok(sl_config_doc_keys(&keys)));
    assert_contains(&keys, "s3.max_in_flight\ts3.max_in_flight\t\\bs3[[:space:]]*(\\.|->)[[:space:]]*max_in_flight\\b\n");
    assert_contains(&keys, "routes[].checks.max_bytes\tmax_bytes\t(\\.|->)[[:space:]]*max_bytes\\b\n");
    assert_contains(&keys, "api.metrics_listen\tapi.metrics_listen\t");
    assert_contains(&keys, "s3.credentials.file\tfile\t");
    assert_contains(&keys, "grants.credentials.file\tfile\t");
    assert_contains(&keys, "review.hook.command\treview.hook_command\t");
    assert_contains(&keys, "identities.vpc_endpoints\tidentities.vpc_endpoints\t");
    assert_null(strstr(sl_buf_cstr(&keys), "\ts3\t")); /* objects are not keys */
    size_t lines = 0;
    for (size_t i = 0; i < keys.len; i++) lines += keys.data[i] == '\n';
    assert_true(lines >= 62);
    sl_buf_clean_up(&keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_section_renders),
        cmocka_unit_test(derived_columns_follow_the_rows),
        cmocka_unit_test(roff_entries),
        cmocka_unit_test(text_subset),
        cmocka_unit_test(update_fills_blocks),
        cmocka_unit_test(update_refuses_wrong_markers),
        cmocka_unit_test(keys_name_every_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
