/*
 * test_rules_import.c — unit tests of the TOML reader (mover/checks/toml.c) and the
 * gitleaks conversion (gitleaks.c): the TOML gitleaks files use (tables, arrays of
 * tables, literal and multi-line strings, arrays, inline tables), strict refusals with
 * line and column, and what a gitleaks rule becomes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "checks/gitleaks.h"
#include "checks/toml.h"
#include "checks_driver.h"

static json_t *parse_ok(const char *text)
{
    json_t *out = NULL;
    char why[256] = "";
    if (sl_failed(toml_parse(text, strlen(text), &out, why, sizeof(why)))) fail_msg("TOML refused: %s", why);
    return out;
}

static void parse_fails(const char *text, const char *expected)
{
    json_t *out = NULL;
    char why[256] = "";
    assert_true(sl_failed(toml_parse(text, strlen(text), &out, why, sizeof(why))));
    assert_null(out);
    if (strstr(why, expected) == NULL) fail_msg("expected \"%s\", got \"%s\"", expected, why);
}

static void toml_reads_what_gitleaks_files_use(void **state)
{
    (void)state;
    json_t *doc = parse_ok("# comment\n"
                           "title = \"t\\u00e9st\" # trailing\n"
                           "[a.b]\n"
                           "lit = 'C:\\path'\n"
                           "multi = '''\nline1\nline2'''\n"
                           "basic = \"\"\"\none \\\n   two\"\"\"\n"
                           "n = 1_000\nhex = 0xff\nf = 3.5\nyes = true\n"
                           "list = [\n  \"x\", # c\n  'y',\n]\n"
                           "inline = { k = 1, d.e = \"v\" }\n"
                           "[[rules]]\nid = \"one\"\n[rules.allowlist]\nregexes = ['''a\\d''']\n"
                           "[[rules]]\nid = \"two\"\n[[rules.allowlists]]\nstopwords = [\"s\"]\n"
                           "\"quoted key\".x = 2\n");
    assert_string_equal(json_string_value(json_object_get(doc, "title")), "t\xc3\xa9st");
    json_t *ab = json_object_get(json_object_get(doc, "a"), "b");
    assert_string_equal(json_string_value(json_object_get(ab, "lit")), "C:\\path");
    assert_string_equal(json_string_value(json_object_get(ab, "multi")), "line1\nline2");
    assert_string_equal(json_string_value(json_object_get(ab, "basic")), "one two");
    assert_int_equal(json_integer_value(json_object_get(ab, "n")), 1000);
    assert_int_equal(json_integer_value(json_object_get(ab, "hex")), 255);
    assert_true(json_real_value(json_object_get(ab, "f")) == 3.5);
    assert_true(json_is_true(json_object_get(ab, "yes")));
    assert_int_equal(json_array_size(json_object_get(ab, "list")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(ab, "inline"), "d"), "e")), "v");
    json_t *rules = json_object_get(doc, "rules");
    assert_int_equal(json_array_size(rules), 2);
    json_t *one = json_array_get(rules, 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(one, "allowlist"), "regexes"), 0)),
                        "a\\d");
    json_t *two = json_array_get(rules, 1);
    assert_int_equal(json_array_size(json_object_get(two, "allowlists")), 1);
    json_t *listed = json_array_get(json_object_get(two, "allowlists"), 0); /* the table the line is in */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(listed, "quoted key"), "x")), 2);
    json_decref(doc);
}

static void toml_refuses_what_is_wrong_with_line_and_column(void **state)
{
    (void)state;
    parse_fails("a = 1\na = 2\n", "2:6: \"a\" is defined twice");
    parse_fails("[t]\nx = 1\n[t]\n", "3:4: table \"t\" is defined twice");
    parse_fails("s = \"open\n", "1:10: control character in a string");
    parse_fails("s = \"bad \\q\"\n", "unknown escape \\q");
    parse_fails("d = 1979-05-27\n", "dates and times are not supported");
    parse_fails("x = [1, 2\n", "expected \",\" or \"]\" in an array");
    parse_fails("x = 1 y = 2\n", "expected the end of the line");
    parse_fails("x = 01\n", "not a number");
    parse_fails("x = 1__0\n", "misplaced \"_\"");
    parse_fails("i = { a = 1 }\ni.b = 2\n", "already defined as something else");
    parse_fails("a = 'x'\n[[a]]\n", "is not an array of tables");
    parse_fails("k = \"\\ud800\"\n", "not a Unicode scalar value");
    parse_fails("= 1\n", "1:1: expected a key");
    char deep[200];
    memset(deep, '[', 100);
    memcpy(deep, "x = ", 4);
    deep[100] = '\0';
    parse_fails(deep, "nested deeper than 64");
    const char bad_utf8[] = "x = \"\xc3\x28\"\n";
    parse_fails(bad_utf8, "not valid UTF-8");
}

static void gitleaks_rules_become_ours(void **state)
{
    (void)state;
    json_t *doc = parse_ok("[allowlist]\nstopwords = [\"dummy\"]\n"
                           "[[rules]]\nid = \"Mixed Case.ID\"\nregex = '''k_([a-z0-9]{20})'''\nentropy = 2.5\n"
                           "keywords = [\"k_\"]\n[rules.allowlist]\nregexes = ['''^0+$''']\n"
                           "[[rules]]\nid = \"and-list\"\nregex = '''x_[a-z]{5}'''\n"
                           "[rules.allowlist]\ncondition = \"AND\"\nregexes = ['''a''']\nstopwords = [\"b\"]\n");
    gitleaks_result r;
    assert_true(sl_ok(gitleaks_convert(doc, "review", &r)));
    assert_int_equal(r.translated, 1);
    assert_int_equal(r.skipped_count, 1);
    assert_string_equal(r.skipped[0].id, "and-list");
    assert_string_equal(r.skipped[0].why, "an AND allowlist");
    json_t *rule = json_array_get(json_object_get(r.rules_doc, "rules"), 0);
    assert_string_equal(json_string_value(json_object_get(rule, "id")), "mixed-case.id");
    assert_string_equal(json_string_value(json_object_get(rule, "severity")), "review");
    assert_int_equal(json_integer_value(json_object_get(rule, "secret_group")), 1); /* gitleaks: the first group */
    json_t *allow = json_object_get(rule, "allowlist");
    assert_string_equal(json_string_value(json_array_get(json_object_get(allow, "stopwords"), 0)), "dummy");
    assert_string_equal(json_string_value(json_array_get(json_object_get(allow, "patterns"), 0)), "^0+$");
    gitleaks_result_clean_up(&r);
    json_decref(doc);

    json_t *not_gitleaks = parse_ok("title = \"x\"\n");
    assert_true(sl_failed(gitleaks_convert(not_gitleaks, "block", &r)));
    json_decref(not_gitleaks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(toml_reads_what_gitleaks_files_use),
        cmocka_unit_test(toml_refuses_what_is_wrong_with_line_and_column),
        cmocka_unit_test(gitleaks_rules_become_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
