/*
 * test_rules.c — unit tests of the rules engine (mover/checks/rules_*.c) and the
 * default rules (config/rules/default.json): every default rule finds its positive
 * vector and not its near miss, in one chunk and in 7-byte chunks (a secret split
 * across GET chunks); findings are redacted; rules files are validated with JSON paths;
 * patterns that cannot be compiled or bounded are refused with the rule's id.
 *
 * Secrets are assembled at run time from pieces, so this file holds none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "checks/rules.h"
#include "checks_driver.h"
#include "util/alloc.h"

#define ROUTE_CHECKS "{\"max_bytes\": \"1MiB\", \"rules\": [\"config/rules/default.json\"]}"

/* One compiled route for the whole group: compiling the default rules is the slow part
 * (under valgrind most of all). */
static checks_driver shared;

static int setup(void **state)
{
    (void)state;
    checks_driver_init(&shared, ROUTE_CHECKS);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    checks_driver_clean_up(&shared);
    return 0;
}

static char *repeat(const char *unit, int times)
{
    size_t n = strlen(unit);
    char *s = sl_malloc(n * (size_t)times + 1);
    for (int i = 0; i < times; i++) memcpy(s + n * (size_t)i, unit, n);
    s[n * (size_t)times] = '\0';
    return s;
}

static char *join(const char *a, const char *b, const char *c)
{
    sl_buf out = { 0 };
    assert_true(sl_ok(sl_buf_appendf(&out, "%s%s%s", a, b, c ? c : "")));
    return sl_buf_steal(&out);
}

struct vector {
    const char *rule;
    char *positive;
    char *negative;
    const char *secret; /* must not appear in a finding; NULL: the positive's tail */
};

/* A 40-character AWS-style secret and friends, from pieces. */
#define KEY_ID "AKIA" "Q3XT7V2LMN4KPZWR"
#define SECRET40 "wJalrXUtnFEMI/K7MDENG" "/bPxRfiCYzQ8v1Tb3aZ"

/* The long secrets, kept until free_vectors (findings are checked against them). */
static char *b64, *hex, *alnum36;

static size_t make_vectors(struct vector *v)
{
    size_t n = 0;
    b64 = repeat("Ab3+", 60), hex = repeat("9f", 32), alnum36 = repeat("aB3dE5", 6);
    v[n++] = (struct vector){ "aws-access-key-pair", join("user,key_id,secret\nbob,", KEY_ID, "," SECRET40 "\n"),
                              join("user,key_id\nbob,", KEY_ID, ",(rotated)\n"), SECRET40 };
    v[n++] = (struct vector){ "aws-access-key-id", join("id=", KEY_ID, "\n"),
                              join("id=", "AKIA" "Q3XT7V2LMN4KPZW", "\n"), KEY_ID };
    v[n++] = (struct vector){ "aws-secret-access-key", join("aws_secret_access_key = ", SECRET40, "\n"),
                              join("aws_secret_access_key = ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "\n"),
                              SECRET40 };
    v[n++] = (struct vector){ "aws-session-token", join("token: IQoJb3JpZ2luX2Vj", b64, "\n"),
                              join("token: IQoJb3JpZ2luX2Vj", "shortvalue", "\n"), b64 };
    v[n++] = (struct vector){ "s3-presigned-url-sigv4",
                              join("https://s3.example/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x%2F"
                                   "20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=", hex, "\n"),
                              join("append X-Amz-Signature=<signature> to the query", "", "\n"), hex };
    v[n++] = (struct vector){ "s3-presigned-url-sigv2",
                              join("https://b.s3.example/k?AWSAccessKeyId=", KEY_ID,
                                   "&Expires=1700000000&Signature=dGhpc2lzYXNpZ25hdHVyZQ%3D%3Dx\n"),
                              join("https://b.s3.example/k?AWSAccessKeyId=x&Signature=abc", "", "\n"),
                              "dGhpc2lzYXNpZ25hdHVyZQ" };
    v[n++] = (struct vector){ "own-bucket-reference", join("copy it to s3://", "sluice-staging", "/reports/x.csv\n"),
                              join("copy it to s3://", "sluice-staging-archive", "/reports/x.csv\n"), NULL };
    v[n++] = (struct vector){ "pem-private-key", join("-----BEGIN RSA PRIVATE KEY-----\n", b64, "\n"),
                              join("-----BEGIN PUBLIC KEY-----\n", b64, "\n"), b64 };
    v[n++] = (struct vector){ "openssh-private-key",
                              join("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE", b64, "\n"),
                              join("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", b64, " user@host\n"), b64 };
    v[n++] = (struct vector){ "pgp-private-key", join("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n", b64, "\n"),
                              join("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n", b64, "\n"), b64 };
    v[n++] = (struct vector){ "github-token", join("token ghp_", alnum36, "\n"),
                              join("token ghp_", "aB3dE5aB3dE5aB3dE5aB3dE5aB3dE5aB3dE", "\n"), alnum36 };
    v[n++] = (struct vector){ "gitlab-token", join("glpat-", "Xy7_kP2-mN9qR4tV6wZ1", "\n"),
                              join("glpat-", "Xy7_kP2-mN9qR4tV6wZ", "\n"), "Xy7_kP2-mN9qR4tV6wZ1" };
    v[n++] = (struct vector){ "slack-token", join("xoxb-", "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "\n"),
                              join("xoxb-", "abc", "\n"), "AbCdEfGhIjKlMnOpQrStUvWx" };
    v[n++] = (struct vector){ "stripe-key", join("sk_live_", "4eC39HqLyjWDarjtT1zdp7dc", "\n"),
                              join("pk_live_", "4eC39HqLyjWDarjtT1zdp7dc", "\n"), "4eC39HqLyjWDarjtT1zdp7dc" };
    v[n++] = (struct vector){ "google-api-key", join("key=AIza", "SyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "\n"),
                              join("key=AIza", "SyDdI0hCZtE6vySjMm", "\n"), "SyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI" };
    v[n++] = (struct vector){ "jwt",
                              join("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.",
                                   "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "\n"),
                              join("the header eyJhbGciOiJIUzI1NiJ9 alone", "", "\n"),
                              "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U" };
    v[n++] = (struct vector){ "azure-sas-token",
                              join("https://a.blob.example/c?sv=2021-08-06&ss=b&srt=sco&sp=rl&se=2030-01-01&sig=",
                                   "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy%3D", "\n"),
                              join("use sv=2021-08-06&ss=b and a signature", "", "\n"),
                              "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy" };
    v[n++] = (struct vector){ "gcp-service-account",
                              join("{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key\": "
                                   "\"-----BEGIN PRIVATE KEY-----\\n", b64, "\"}\n"),
                              join("{\"type\": \"service_account\", \"project_id\": \"p\"}", "", "\n"), b64 };
    v[n++] = (struct vector){ "generic-secret-assignment", join("password = ", "Tr0ub4dor&3xK9mQ2vL7pZ", "\n"),
                              join("password = ", "changeme_changeme_placeholder", "\n"), "Tr0ub4dor&3xK9mQ2vL7pZ" };
    return n;
}

static void free_vectors(struct vector *v, size_t n)
{
    sl_free(b64);
    sl_free(hex);
    sl_free(alnum36);
    for (size_t i = 0; i < n; i++) {
        sl_free(v[i].positive);
        sl_free(v[i].negative);
    }
}

static void check_vector(checks_driver *d, const struct vector *v, size_t chunk)
{
    findings f = { 0 };
    checks_driver_run(d, "out.txt", v->positive, strlen(v->positive), chunk, &f);
    char words[80];
    snprintf(words, sizeof(words), "%s at offset", v->rule);
    const artifact_finding *hit = checks_find(&f, "rules", words);
    if (hit == NULL) fail_msg("%s: the positive vector was not found (chunk %zu)", v->rule, chunk);
    if (v->secret != NULL && strstr(hit->detail, v->secret) != NULL) fail_msg("%s: the finding leaks the secret", v->rule);
    findings_clean_up(&f);
    checks_driver_run(d, "out.txt", v->negative, strlen(v->negative), chunk, &f);
    if (checks_find(&f, "rules", words) != NULL) fail_msg("%s: the near miss was found (chunk %zu)", v->rule, chunk);
    findings_clean_up(&f);
}

/* Every default rule: its positive vector is found, its near miss is not. */
static void default_rules_find_positives_not_near_misses(void **state)
{
    (void)state;
    checks_driver *d = &shared;
    struct vector v[32];
    size_t n = make_vectors(v);
    assert_int_equal(n, 19); /* one per default rule */
    for (size_t i = 0; i < n; i++) check_vector(d, &v[i], 1 << 20);
    free_vectors(v, n);
}

/* Finding: a secret split across two GET chunks. Fed 7 bytes at a time, every vector
 * straddles chunks, and each is still found. */
static void secrets_split_across_chunks_are_found(void **state)
{
    (void)state;
    checks_driver *d = &shared;
    struct vector v[32];
    size_t n = make_vectors(v);
    for (size_t i = 0; i < n; i++) check_vector(d, &v[i], 7);
    free_vectors(v, n);
}

/* A secret 200 KiB into a file, across the checker's own buffer boundary. */
static void secret_deep_in_a_large_file_is_found(void **state)
{
    (void)state;
    checks_driver *d = &shared;
    size_t len = 600 * 1024;
    char *data = sl_malloc(len + 1);
    for (size_t i = 0; i < len; i++) data[i] = (char)('a' + i % 23);
    for (size_t i = 80; i < len; i += 81) data[i] = '\n';
    const char *secret = "ghp_" "aB3dE5aB3dE5aB3dE5aB3dE5aB3dE5aB3dE5";
    memcpy(data + 256 * 1024 - 10, " ", 1);
    memcpy(data + 256 * 1024 - 9, secret, strlen(secret));
    data[256 * 1024 - 9 + strlen(secret)] = ' ';
    findings f = { 0 };
    checks_driver_run(d, "big.txt", data, len, 65536, &f);
    const artifact_finding *hit = checks_find(&f, "rules", "github-token at offset 262,135");
    if (hit == NULL) fail_msg("not found: %s", f.count ? f.items[f.count - 1].detail : "(no findings)");
    assert_int_equal(hit->verdict, FINDING_FAIL);
    findings_clean_up(&f);
    sl_free(data);
}

static void expect_errors(const char *json, const char *const *expected)
{
    rule_file f;
    rules_errors errors = { 0 };
    assert_true(sl_failed(rules_parse(json, strlen(json), "r.json", &f, &errors)));
    for (size_t i = 0; expected[i] != NULL; i++) {
        bool seen = false;
        for (size_t k = 0; k < errors.count; k++) seen = seen || strstr(errors.items[k], expected[i]) != NULL;
        if (!seen) fail_msg("expected an error with \"%s\"; got %zu: %s", expected[i], errors.count,
                            errors.count ? errors.items[0] : "");
    }
    checks_errors_clean_up(&errors);
}

/* Rules files are data, validated like the config: every error with its JSON path. */
static void rules_files_are_validated_with_json_paths(void **state)
{
    (void)state;
    static const char *const e1[] = { "r.json: rules: missing", NULL };
    expect_errors("{}", e1);
    static const char *const e2[] = { "r.json:1:", NULL };
    expect_errors("{\"rules\": [", e2);
    static const char *const e3[] = { "rules[0].severity (a): expected \"block\" or \"review\"",
                                      "rules[0].colour (a): unknown key", "rules[1].pattern (b): missing",
                                      "rules[2].id (a): the id is already used by rules[0]",
                                      "rules[1].near.within (b): expected a number of bytes",
                                      "rules[2].entropy (a): expected bits per byte",
                                      "rules[2].allowlist.stopwords[0] (a): expected a non-empty string", NULL };
    expect_errors("{\"rules\": [{\"id\": \"a\", \"pattern\": \"x\", \"severity\": \"loud\", \"colour\": 1},"
                  " {\"id\": \"b\", \"severity\": \"block\", \"near\": {\"pattern\": \"y\", \"within\": 0}},"
                  " {\"id\": \"a\", \"pattern\": \"z\", \"severity\": \"review\", \"entropy\": 9,"
                  "  \"allowlist\": {\"stopwords\": [\"\"]}}]}",
                  e3);
    static const char *const e4[] = { "rules[0].id: expected 1 to 64 of a-z", NULL };
    expect_errors("{\"rules\": [{\"id\": \"Bad Id\", \"pattern\": \"x\", \"severity\": \"block\"}]}", e4);
    static const char *const e6[] = { "r.json:1:", NULL }; /* duplicate keys are JSON errors */
    expect_errors("{\"rules\": [{\"id\": \"a\", \"id\": \"b\"}]}", e6);
}

static void expect_compile_error(const char *rule_json, const char *expected)
{
    char doc[1024];
    snprintf(doc, sizeof(doc), "{\"rules\": [%s]}", rule_json);
    rule_file f;
    rules_errors errors = { 0 };
    assert_true(sl_ok(rules_parse(doc, strlen(doc), "r.json", &f, &errors)));
    const rule_file *files[] = { &f };
    rules_db *db = NULL;
    assert_true(sl_failed(rules_db_new(files, 1, NULL, &db, &errors)));
    assert_null(db);
    bool seen = false;
    for (size_t k = 0; k < errors.count; k++) seen = seen || strstr(errors.items[k], expected) != NULL;
    if (!seen) fail_msg("expected \"%s\"; got: %s", expected, errors.count ? errors.items[0] : "(nothing)");
    checks_errors_clean_up(&errors);
    rule_file_clean_up(&f);
}

/* A pattern the engine cannot compile names the rule and the reason. */
static void uncompilable_patterns_name_the_rule(void **state)
{
    (void)state;
    expect_compile_error("{\"id\": \"broken\", \"pattern\": \"a(b\", \"severity\": \"block\"}",
                         "r.json: rule broken: the pattern does not compile: PCRE2: missing closing parenthesis");
    expect_compile_error("{\"id\": \"endless\", \"pattern\": \"key=[a-z]+\", \"severity\": \"block\"}",
                         "r.json: rule endless: the pattern can match more than 4096 bytes (it has no limit)");
    expect_compile_error("{\"id\": \"empty\", \"pattern\": \"x?\", \"severity\": \"block\"}",
                         "rule empty: the pattern can match the empty string");
    expect_compile_error("{\"id\": \"grp\", \"pattern\": \"(a)b\", \"secret_group\": 2, \"severity\": \"block\"}",
                         "rule grp: secret_group 2, but the pattern has 1 capture group");
    expect_compile_error("{\"id\": \"nearbad\", \"pattern\": \"ab\", \"near\": {\"pattern\": \"[\", \"within\": 9},"
                         " \"severity\": \"block\"}",
                         "rule nearbad: near.pattern does not compile");
}

/* The excerpt never gives the secret away. */
static void excerpts_are_redacted(void **state)
{
    (void)state;
    struct {
        const char *secret, *excerpt;
    } cases[] = {
        { KEY_ID, "AKIA\xe2\x80\xa6PZWR" },
        { "short-secret", "sh\xe2\x80\xa6" "et" },
        { "tiny", "\xe2\x80\xa6" },
        { "ab\ncd\x01" "efghijklmnopqrstu", "ab?c\xe2\x80\xa6rstu" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_buf out = { 0 };
        assert_true(sl_ok(redact_excerpt(sl_cursor_from_cstr(cases[i].secret), &out)));
        assert_string_equal(sl_buf_cstr(&out), cases[i].excerpt);
        sl_buf_clean_up(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_rules_find_positives_not_near_misses),
        cmocka_unit_test(secrets_split_across_chunks_are_found),
        cmocka_unit_test(secret_deep_in_a_large_file_is_found),
        cmocka_unit_test(rules_files_are_validated_with_json_paths),
        cmocka_unit_test(uncompilable_patterns_name_the_rule),
        cmocka_unit_test(excerpts_are_redacted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
