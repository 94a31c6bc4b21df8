/*
 * test_credentials.c — unit tests of mover/s3/credentials: explicit init, the
 * environment, and AWS shared credentials files (written to temporary files): profile
 * selection, comments and spacing, every refusal with the file, line and profile in the
 * detail and never a secret, and clean-up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3/credentials.h"
#include "util/alloc.h"
#include "util/error.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

struct temp_file {
    char path[64];
};

static void write_temp(struct temp_file *t, const char *content, size_t len)
{
    snprintf(t->path, sizeof(t->path), "/tmp/sluice-test-creds-XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, content + done, len - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    close(fd);
}

/* Loads `profile` from a file holding `content`; the file is removed afterwards. */
static sl_result load_from(const char *content, const char *profile, s3_credentials *creds)
{
    struct temp_file t;
    write_temp(&t, content, strlen(content));
    sl_result r = s3_credentials_from_file(creds, t.path, profile);
    unlink(t.path);
    return r;
}

static void assert_detail_has(const char *part)
{
    if (strstr(sl_error_detail(), part) == NULL)
        fail_msg("error detail \"%s\" lacks \"%s\"", sl_error_detail(), part);
}

static void assert_zeroed(const s3_credentials *c)
{
    assert_null(c->access_key_id);
    assert_null(c->secret_access_key);
    assert_null(c->session_token);
}

/* The file must be refused with `code`, a detail holding `part`, no secret in the
 * detail, and the struct zeroed (it starts out holding junk pointers on purpose). */
static void expect_refusal(const char *content, const char *profile, sl_error code, const char *part)
{
    s3_credentials c = { (char *)"junk", (char *)"junk", (char *)"junk" };
    sl_error_clear();
    assert_true(sl_failed(load_from(content, profile, &c)));
    if (sl_error_last() != code)
        fail_msg("expected %s, got %s: %s", sl_error_name(code), sl_error_name(sl_error_last()),
                 sl_error_detail());
    assert_detail_has(part);
    assert_null(strstr(sl_error_detail(), SECRET));
    assert_null(strstr(sl_error_detail(), "AKIA"));
    assert_zeroed(&c);
}

static const char two_profiles[] =
    "[default]\n"
    "aws_access_key_id = AKIADEFAULT\n"
    "aws_secret_access_key = " SECRET "\n"
    "\n"
    "[mover]\n"
    "aws_access_key_id=AKIAMOVER\n"
    "aws_secret_access_key=mover/secret+key=\n"
    "aws_session_token = FwoGZXIvYXdzEJr//////////wEaDM+token==\n"
    "region = eu-west-1\n";

static void file_two_profiles_token_present_and_absent(void **state)
{
    (void)state;
    s3_credentials c;
    assert_true(sl_ok(load_from(two_profiles, "default", &c)));
    assert_string_equal(c.access_key_id, "AKIADEFAULT");
    assert_string_equal(c.secret_access_key, SECRET);
    assert_null(c.session_token);
    s3_credentials_clean_up(&c);
    assert_zeroed(&c);

    assert_true(sl_ok(load_from(two_profiles, "mover", &c)));
    assert_string_equal(c.access_key_id, "AKIAMOVER");
    assert_string_equal(c.secret_access_key, "mover/secret+key=");
    assert_string_equal(c.session_token, "FwoGZXIvYXdzEJr//////////wEaDM+token==");
    s3_credentials_clean_up(&c);
    assert_zeroed(&c);
}

static void file_comments_spaces_and_line_ends(void **state)
{
    (void)state;
    static const char content[] =
        "\xef\xbb\xbf# shared credentials for sluice\r\n"
        "; another comment style\r\n"
        "   \t\r\n"
        "[other]\r\n"
        "aws_access_key_id = AKIAOTHER\r\n"
        "  [ mover ]   # trailing comment after the header\r\n"
        "   # indented comment\r\n"
        "\taws_access_key_id\t=\t  AKIAMOVER  \t\r\n"
        "  aws_secret_access_key= value#with;marks  \r\n"
        "unrelated_key = anything = at all\r\n"
        "[after]\r\n"
        "aws_secret_access_key = not this one";
    s3_credentials c;
    assert_true(sl_ok(load_from(content, "mover", &c)));
    assert_string_equal(c.access_key_id, "AKIAMOVER");
    assert_string_equal(c.secret_access_key, "value#with;marks");
    assert_null(c.session_token);
    s3_credentials_clean_up(&c);
}

static void file_missing_profile(void **state)
{
    (void)state;
    expect_refusal(two_profiles, "grants", SL_ERR_NOT_FOUND, "profile 'grants' not found");
    expect_refusal(two_profiles, "Mover", SL_ERR_NOT_FOUND, "profile 'Mover' not found");
    /* the config-file form does not name the profile in a credentials file */
    expect_refusal("[profile grants]\naws_access_key_id = AKIAX\naws_secret_access_key = " SECRET "\n",
                   "grants", SL_ERR_NOT_FOUND, "a [profile grants] section is the config-file form");
    expect_refusal("", "default", SL_ERR_NOT_FOUND, "profile 'default' not found");
}

static void file_missing_key_id_or_secret(void **state)
{
    (void)state;
    expect_refusal("[default]\naws_access_key_id = AKIAX\n\n[mover]\naws_access_key_id = AKIAY\n"
                   "aws_secret_access_key = " SECRET "\n",
                   "default", SL_ERR_PARSE, "profile 'default' (line 1) has no aws_secret_access_key");
    expect_refusal("[default]\naws_secret_access_key = " SECRET "\n", "default", SL_ERR_PARSE,
                   "has no aws_access_key_id");
    /* another profile's secret does not fill in, before or after */
    expect_refusal("[a]\naws_secret_access_key = " SECRET "\n[mover]\naws_access_key_id = AKIAY\n"
                   "[b]\naws_secret_access_key = " SECRET "\n",
                   "mover", SL_ERR_PARSE, "profile 'mover' (line 3) has no aws_secret_access_key");
}

static void file_malformed_lines_give_line_numbers(void **state)
{
    (void)state;
    /* the offending line holds a secret: it must not be echoed */
    expect_refusal("[default]\naws_access_key_id = AKIAX\n# ok\n" SECRET "\n", "default", SL_ERR_PARSE,
                   ":4: malformed line");
    expect_refusal("aws_access_key_id = AKIAX\n[default]\n", "default", SL_ERR_PARSE,
                   ":1: 'key = value' line before any [profile] section");
    expect_refusal("[default\naws_access_key_id = AKIAX\n", "default", SL_ERR_PARSE,
                   ":1: section header without ']'");
    expect_refusal("[]\n", "default", SL_ERR_PARSE, ":1: empty profile name");
    expect_refusal("[default] junk\n", "default", SL_ERR_PARSE,
                   ":1: unexpected text after the section header");
    expect_refusal("[default]\n = " SECRET "\n", "default", SL_ERR_PARSE, ":2: malformed line (empty key");
    /* malformed lines in other profiles still make the file invalid */
    expect_refusal("[default]\naws_access_key_id = AKIAX\naws_secret_access_key = " SECRET
                   "\n[other]\nnonsense\n",
                   "default", SL_ERR_PARSE, ":5: malformed line");

    /* the detail names the file */
    s3_credentials c;
    struct temp_file t;
    static const char bad[] = "[default]\nbroken\n";
    write_temp(&t, bad, sizeof(bad) - 1);
    assert_true(sl_failed(s3_credentials_from_file(&c, t.path, "default")));
    char expect[96];
    snprintf(expect, sizeof(expect), "%s:2: malformed line", t.path);
    assert_detail_has(expect);
    unlink(t.path);
}

static void file_empty_values_rejected(void **state)
{
    (void)state;
    expect_refusal("[default]\naws_access_key_id = AKIAX\naws_secret_access_key =   \n", "default",
                   SL_ERR_PARSE, ":3: profile 'default': aws_secret_access_key is empty");
    expect_refusal("[default]\naws_access_key_id =\naws_secret_access_key = " SECRET "\n", "default",
                   SL_ERR_PARSE, ":2: profile 'default': aws_access_key_id is empty");
    expect_refusal("[default]\naws_access_key_id = AKIAX\naws_secret_access_key = " SECRET
                   "\naws_session_token=\n",
                   "default", SL_ERR_PARSE, ":4: profile 'default': aws_session_token is empty");
}

static void file_duplicates_and_case_rejected(void **state)
{
    (void)state;
    expect_refusal("[default]\naws_access_key_id = AKIAX\naws_access_key_id = AKIAY\n", "default",
                   SL_ERR_PARSE, ":3: profile 'default': aws_access_key_id given a second time (first at line 2)");
    expect_refusal("[default]\naws_access_key_id = AKIAX\n[other]\n[default]\n", "default", SL_ERR_PARSE,
                   ":4: profile 'default' appears a second time (first at line 1)");
    expect_refusal("[default]\nAWS_ACCESS_KEY_ID = AKIAX\naws_secret_access_key = " SECRET "\n",
                   "default", SL_ERR_PARSE, ":2: profile 'default': key names are lower-case (write aws_access_key_id)");
    /* duplicates in another profile are that profile's business */
    s3_credentials c;
    assert_true(sl_ok(load_from("[x]\naws_access_key_id = A\naws_access_key_id = B\n[default]\n"
                                "aws_access_key_id = AKIAX\naws_secret_access_key = s\n",
                                "default", &c)));
    assert_string_equal(c.access_key_id, "AKIAX");
    s3_credentials_clean_up(&c);
}

static void file_io_errors(void **state)
{
    (void)state;
    s3_credentials c = { (char *)"junk", NULL, NULL };
    assert_true(sl_failed(s3_credentials_from_file(&c, "/nonexistent/sluice/credentials", "default")));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_detail_has("/nonexistent/sluice/credentials: No such file or directory");
    assert_zeroed(&c);

    assert_true(sl_failed(s3_credentials_from_file(&c, "/tmp", "default")));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_detail_has("/tmp: is a directory");

    /* larger than 1 MiB: refused before parsing, even if valid */
    size_t big_len = ((size_t)1 << 20) + 1;
    char *big = sl_malloc(big_len);
    memset(big, '#', big_len);
    memcpy(big, "[default]\n", 10);
    big[11] = '\n';
    struct temp_file t;
    write_temp(&t, big, big_len);
    assert_true(sl_failed(s3_credentials_from_file(&c, t.path, "default")));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    assert_detail_has("larger than 1048576 bytes");
    unlink(t.path);
    /* exactly 1 MiB is fine */
    write_temp(&t, big, big_len - 1);
    assert_true(sl_failed(s3_credentials_from_file(&c, t.path, "default")));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE); /* read, parsed: no key id */
    unlink(t.path);
    sl_free(big);

    assert_true(sl_failed(s3_credentials_from_file(&c, "", "default")));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(s3_credentials_from_file(&c, "/tmp/x", "")));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(s3_credentials_from_file(&c, "/tmp/x", NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
}

static void env_loading(void **state)
{
    (void)state;
    s3_credentials c;
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    assert_true(sl_ok(s3_credentials_from_env(&c)));
    assert_string_equal(c.access_key_id, "AKIAENV");
    assert_string_equal(c.secret_access_key, SECRET);
    assert_string_equal(c.session_token, "envtoken");
    s3_credentials_clean_up(&c);

    unsetenv("AWS_SESSION_TOKEN");
    assert_true(sl_ok(s3_credentials_from_env(&c)));
    assert_null(c.session_token);
    s3_credentials_clean_up(&c);

    setenv("AWS_SESSION_TOKEN", "", 1); /* `export AWS_SESSION_TOKEN=` means none */
    assert_true(sl_ok(s3_credentials_from_env(&c)));
    assert_null(c.session_token);
    s3_credentials_clean_up(&c);

    unsetenv("AWS_SECRET_ACCESS_KEY");
    c = (s3_credentials){ (char *)"junk", NULL, NULL };
    assert_true(sl_failed(s3_credentials_from_env(&c)));
    assert_int_equal(sl_error_last(), SL_ERR_NOT_FOUND);
    assert_detail_has("AWS_SECRET_ACCESS_KEY is not set or empty");
    assert_zeroed(&c);

    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    assert_true(sl_failed(s3_credentials_from_env(&c)));
    assert_int_equal(sl_error_last(), SL_ERR_NOT_FOUND);
    assert_detail_has("AWS_ACCESS_KEY_ID is not set or empty");
    assert_null(strstr(sl_error_detail(), SECRET));

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    assert_true(sl_failed(s3_credentials_from_env(&c)));
    assert_detail_has("AWS_ACCESS_KEY_ID");
}

static void init_copies_and_validates(void **state)
{
    (void)state;
    char id[] = "AKIAINIT";
    s3_credentials c;
    assert_true(sl_ok(s3_credentials_init(&c, id, SECRET, NULL)));
    id[0] = 'X'; /* a copy, not the caller's memory */
    assert_string_equal(c.access_key_id, "AKIAINIT");
    assert_null(c.session_token);
    s3_credentials_clean_up(&c);

    assert_true(sl_ok(s3_credentials_init(&c, "A", "S", "T")));
    assert_string_equal(c.session_token, "T");
    s3_credentials_clean_up(&c);

    c = (s3_credentials){ (char *)"junk", (char *)"junk", NULL };
    assert_true(sl_failed(s3_credentials_init(&c, "", SECRET, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_zeroed(&c);
    assert_true(sl_failed(s3_credentials_init(&c, NULL, SECRET, NULL)));
    assert_true(sl_failed(s3_credentials_init(&c, "A", "", NULL)));
    assert_detail_has("empty secret access key");
    assert_true(sl_failed(s3_credentials_init(&c, "A", NULL, NULL)));
    assert_true(sl_failed(s3_credentials_init(&c, "A", "S", "")));
    assert_detail_has("empty session token");
    assert_zeroed(&c);
}

static void clean_up_accepts_zeroed_and_null(void **state)
{
    (void)state;
    s3_credentials zero = { 0 };
    s3_credentials_clean_up(&zero);
    assert_zeroed(&zero);
    s3_credentials_clean_up(NULL);

    s3_credentials c;
    assert_true(sl_ok(s3_credentials_init(&c, "A", "S", "T")));
    s3_credentials_clean_up(&c);
    assert_zeroed(&c);
    s3_credentials_clean_up(&c); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_two_profiles_token_present_and_absent),
        cmocka_unit_test(file_comments_spaces_and_line_ends),
        cmocka_unit_test(file_missing_profile),
        cmocka_unit_test(file_missing_key_id_or_secret),
        cmocka_unit_test(file_malformed_lines_give_line_numbers),
        cmocka_unit_test(file_empty_values_rejected),
        cmocka_unit_test(file_duplicates_and_case_rejected),
        cmocka_unit_test(file_io_errors),
        cmocka_unit_test(env_loading),
        cmocka_unit_test(init_copies_and_validates),
        cmocka_unit_test(clean_up_accepts_zeroed_and_null),
    };
    return cmocka_run_group_tests_name("credentials", tests, NULL, NULL);
}
