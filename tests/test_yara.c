/*
 * test_yara.c — YARA rules (mover/checks/yara.c) through the streaming content checker,
 * with a rules file the test writes: a rule blocks its target and not a near miss, the
 * finding names the rule and its tags and never the matched bytes, a string split across
 * GET chunks and a condition that reads the object's last bytes are seen (the object is
 * scanned whole), an object above checks.yara.max_bytes is unscannable (never a pass),
 * a scan past checks.yara.timeout is an error, a rules file that does not compile names its file and line, and
 * the set version manifests name (checked_with) follows the rules files' bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks_driver.h"
#include "util/alloc.h"

#define MARKER "SLUICE-YARA-MARKER-7d1e"

static const char RULES[] =
    "rule sluice_marker : test demo\n"
    "{\n"
    "    strings:\n"
    "        $m = \"" MARKER "\"\n"
    "    condition:\n"
    "        $m\n"
    "}\n"
    "\n"
    "rule tail_magic\n"
    "{\n"
    "    condition:\n"
    "        filesize > 8 and uint32be(filesize - 4) == 0x54414c4c\n" /* "TALL" */
    "}\n";

static char rules_path[1024];

static int write_rules(void **state)
{
    (void)state;
    checks_driver_temp_file("test.yar", RULES, rules_path, sizeof(rules_path));
    return 0;
}

static int remove_rules(void **state)
{
    (void)state;
    checks_driver_temp_remove(rules_path);
    return 0;
}

static void run(const char *yara_section, const void *data, size_t len, size_t chunk, findings *f)
{
    char checks[2048];
    snprintf(checks, sizeof(checks), "{\"check_extension\": false, \"rules\": [\"%s\"]%s}", rules_path, yara_section);
    checks_driver d;
    checks_driver_init(&d, checks);
    checks_driver_run(&d, "data.txt", data, len, chunk, f);
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

static void a_rule_blocks_its_target_and_names_it(void **state)
{
    (void)state;
    char text[4096];
    memset(text, 'a', sizeof(text));
    memcpy(text + 1000, MARKER, strlen(MARKER));
    findings f = { 0 };
    run("", text, sizeof(text), 1024, &f);
    expect(&f, "yara", FINDING_FAIL, "rule test.yar:sluice_marker [test, demo] matched");
    assert_int_equal(findings_worst(&f), FINDING_FAIL);
    for (size_t i = 0; i < f.count; i++) assert_null(strstr(f.items[i].detail, "MARKER"));
    findings_clean_up(&f);
}

static void a_near_miss_passes(void **state)
{
    (void)state;
    char text[4096];
    memset(text, 'a', sizeof(text));
    memcpy(text + 1000, "SLUICE-YARA-MARKER-7d1f", strlen(MARKER));
    findings f = { 0 };
    run("", text, sizeof(text), 1024, &f);
    expect(&f, "yara", FINDING_PASS, "no match for 2 rules (test.yar@");
    assert_int_equal(findings_worst(&f), FINDING_PASS);
    findings_clean_up(&f);
}

/* The marker split across GET chunks of 7 bytes, and a condition on the last 4 bytes of
 * an object larger than the checker's buffers: the whole object is what YARA judges. */
static void the_whole_object_is_scanned(void **state)
{
    (void)state;
    size_t len = 600 * 1024;
    char *big = sl_calloc(1, len);
    memset(big, 'b', len);
    memcpy(big + 300 * 1024 - 10, MARKER, strlen(MARKER));
    findings f = { 0 };
    run("", big, len, 7 * 1024 + 3, &f);
    expect(&f, "yara", FINDING_FAIL, "sluice_marker");
    findings_clean_up(&f);

    memset(big, 'b', len);
    memcpy(big + len - 4, "TALL", 4);
    run("", big, len, 65536, &f);
    expect(&f, "yara", FINDING_FAIL, "rule test.yar:tail_magic matched");
    findings_clean_up(&f);
    sl_free(big);
}

static void too_large_is_unscannable(void **state)
{
    (void)state;
    char text[4096];
    memset(text, 'c', sizeof(text));
    findings f = { 0 };
    run(", \"yara\": {\"max_bytes\": 1000}", text, sizeof(text), 512, &f);
    expect(&f, "yara", FINDING_ERROR, "more than checks.yara.max_bytes (1000)");
    assert_int_equal(findings_worst(&f), FINDING_ERROR);
    findings_clean_up(&f);
}

/* A condition that loops over every pair of bytes of a 64 KiB object (4 billion steps)
 * stops at checks.yara.timeout (1 s, the least libyara counts): an error, never a pass. */
static void a_scan_past_the_timeout_is_an_error(void **state)
{
    (void)state;
    char path[1024], checks[2048];
    checks_driver_temp_file("slow.yar",
                            "rule slow { condition: for any i in (0..filesize - 1) : "
                            "(for any j in (0..filesize - 1) : (uint8(i) + uint8(j) == 1000)) }\n",
                            path, sizeof(path));
    snprintf(checks, sizeof(checks),
             "{\"check_extension\": false, \"rules\": [\"%s\"], \"yara\": {\"timeout\": \"1ms\"}}", path);
    size_t len = 64 * 1024;
    char *text = sl_calloc(1, len);
    memset(text, 'd', len);
    checks_driver d;
    checks_driver_init(&d, checks);
    findings f = { 0 };
    checks_driver_run(&d, "data.txt", text, len, 65536, &f);
    checks_driver_clean_up(&d);
    expect(&f, "yara", FINDING_ERROR, "the scan took longer than checks.yara.timeout");
    findings_clean_up(&f);
    sl_free(text);
    checks_driver_temp_remove(path);
}

/* A rules file as the daemon would load it; the first problem goes to `first`. */
static sl_result attach(const char *path, char *first, size_t first_size)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"s3\": {\"endpoint\": \"http://127.0.0.1:1\"}, \"buckets\": {\"staging\": \"sluice-staging\", "
             "\"quarantine\": \"sluice-quarantine\", \"trusted\": \"sluice-trusted\"}, \"routes\": [{\"name\": \"r\", "
             "\"staging_prefix\": \"in/\", \"trusted_prefix\": \"out/\", \"require_task\": false, "
             "\"checks\": {\"rules\": [\"%s\"]}}], \"audit\": {\"file\": \"/tmp/unused-audit.jsonl\"}}",
             path);
    sl_config *config = NULL;
    sl_config_errors errors = { 0 };
    assert_true(sl_ok(sl_config_load_string(text, "/", &config, &errors)));
    sl_config_errors_clean_up(&errors);
    checks_errors problems = { 0 };
    sl_result r = checks_engine_attach(config, &problems);
    snprintf(first, first_size, "%s", problems.count ? problems.items[0] : "");
    checks_errors_clean_up(&problems);
    sl_config_free(config);
    return r;
}

static void a_bad_rules_file_names_file_and_line(void **state)
{
    (void)state;
    char path[1024], first[1024];
    checks_driver_temp_file("bad.yar", "rule ok { condition: true }\n\n\nrule broken { condition: $nope }\n", path,
                            sizeof(path));
    assert_true(sl_failed(attach(path, first, sizeof(first))));
    sl_error_clear();
    char want[1100];
    snprintf(want, sizeof(want), "%s:4: ", path);
    if (strstr(first, want) == NULL) fail_msg("expected \"%s\" in \"%s\"", want, first);
    checks_driver_temp_remove(path);

    checks_driver_temp_file("inc.yar", "include \"other.yar\"\nrule r { condition: true }\n", path, sizeof(path));
    assert_true(sl_failed(attach(path, first, sizeof(first))));
    sl_error_clear();
    snprintf(want, sizeof(want), "%s:1: ", path);
    if (strstr(first, want) == NULL) fail_msg("includes are off: expected \"%s\" in \"%s\"", want, first);
    checks_driver_temp_remove(path);
}

/* The set version of a route's checks (checks_set_version): what manifests name as
 * checked_with, and what a reload compares to decide on re-checks. */
static void set_version_of(const char *checks, char *out, size_t out_size)
{
    checks_driver d;
    checks_driver_init(&d, checks);
    sl_buf v = { 0 };
    assert_true(sl_ok(checks_set_version(&d.config->routes[0].checks, &v)));
    snprintf(out, out_size, "%s", sl_buf_cstr(&v));
    sl_buf_clean_up(&v);
    checks_driver_clean_up(&d);
}

static void the_set_version_follows_the_rules_bytes(void **state)
{
    (void)state;
    char path[1024], checks[1200], first[512], again[512], changed[512];
    checks_driver_temp_file("set.yar", RULES, path, sizeof(path));
    snprintf(checks, sizeof(checks), "{\"rules\": [\"%s\"]}", path);
    set_version_of(checks, first, sizeof(first));
    set_version_of(checks, again, sizeof(again));
    if (strncmp(first, "yara set.yar@", 13) != 0 || strlen(first) != 13 + 12) fail_msg("set version \"%s\"", first);
    assert_string_equal(first, again); /* the same bytes: the same set, nothing to re-check */
    /* the attestation of a reviewed artifact reads each check's part back */
    assert_true(sl_cursor_eq_cstr(checks_version_in(first, "yara"), first + 5));
    assert_int_equal(checks_version_in(first, "rules").len, 0);
    assert_int_equal(checks_version_in(NULL, "yara").len, 0);
    const char *line = "rules a.json@0123456789ab, b.json@ba9876543210; yara x.yar@00aa; clamav ClamAV 1.4.6/27480/Sat";
    assert_true(sl_cursor_eq_cstr(checks_version_in(line, "rules"), "a.json@0123456789ab, b.json@ba9876543210"));
    assert_true(sl_cursor_eq_cstr(checks_version_in(line, "yara"), "x.yar@00aa"));
    assert_true(sl_cursor_eq_cstr(checks_version_in(line, "clamav"), "ClamAV 1.4.6/27480/Sat"));
    assert_int_equal(checks_version_in(line, "clam").len, 0);
    assert_int_equal(checks_version_in(line, "type").len, 0);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("\nrule later { strings: $l = \"LATER\" condition: $l }\n", f);
    fclose(f);
    set_version_of(checks, changed, sizeof(changed));
    assert_string_not_equal(first, changed); /* a rule more: another set */
    checks_driver_temp_remove(path);
    /* a route with no rules nor signatures: the empty set */
    set_version_of("{\"check_extension\": false}", changed, sizeof(changed));
    assert_string_equal(changed, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_rule_blocks_its_target_and_names_it),
        cmocka_unit_test(a_near_miss_passes),
        cmocka_unit_test(the_whole_object_is_scanned),
        cmocka_unit_test(too_large_is_unscannable),
        cmocka_unit_test(a_scan_past_the_timeout_is_an_error),
        cmocka_unit_test(a_bad_rules_file_names_file_and_line),
        cmocka_unit_test(the_set_version_follows_the_rules_bytes),
    };
    return cmocka_run_group_tests(tests, write_rules, remove_rules);
}
