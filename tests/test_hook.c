/*
 * test_hook.c — unit tests of the review hook runner (mover/pipeline/hook.c) with real
 * processes: /bin/sh scripts written to a temp dir that approve, reject, ask for
 * review, sleep past the timeout, crash, exit non-zero, print garbage or too much, read
 * their input, answer about other bytes (finding 2 of issue 12), and leave children
 * behind (finding 3); and the two example hooks of docs/hooks.md
 * (config/examples/hooks/), run as they are.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "pipeline/hook.h"
#include "util/alloc.h"
#include "util/buf.h"

#define ID "0123456789abcdef0123456789abcdef"
#define SHA "c150fe3ab6e5ae3e1bbd1a7a49d0b1de9ce02b4dcbc2a4e1c5e5d0a7a3f8b9e0"
#define OTHER_ID "fedcba9876543210fedcba9876543210"
#define OTHER_SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define INPUT "{\"manifest\":{\"id\":\"" ID "\",\"sha256\":\"" SHA "\"}}\n"
/* a well-formed answer about the subject, as a shell command */
#define ANSWER(decision) "echo '{\"artifact\":\"" ID "\",\"sha256\":\"" SHA "\",\"decision\":\"" decision "\"}'"

struct outcome {
    bool done;
    hook_decision decision;
    char reason[512];
    double ms; /* from the spawn to the answer */
};

static void on_done(void *user, hook_decision d, const char *reason)
{
    struct outcome *o = user;
    assert_false(o->done);
    o->done = true;
    o->decision = d;
    snprintf(o->reason, sizeof(o->reason), "%s", reason);
}

static char dir[] = "/tmp/sluice-hook-XXXXXX";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static struct outcome run_command(const char *path, const char *input, uint64_t timeout_ms)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    char *argv[] = { (char *)path, NULL };
    hook_subject subject = { .artifact = ID, .sha256 = SHA };
    double start = now_ms();
    assert_true(sl_ok(hook_run_for(&loop, argv, &subject, input, timeout_ms, on_done, &o)));
    assert_false(o.done);
    uv_run(&loop, UV_RUN_DEFAULT);
    o.ms = now_ms() - start;
    assert_true(o.done);
    assert_int_equal(uv_loop_close(&loop), 0);
    return o;
}

static struct outcome run_script(const char *body, uint64_t timeout_ms)
{
    char path[256];
    static int n;
    snprintf(path, sizeof(path), "%s/hook-%d.sh", dir, n++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0700);
    struct outcome o = run_command(path, INPUT, timeout_ms);
    unlink(path);
    return o;
}

static void approving_hook_approves(void **state)
{
    (void)state;
    struct outcome o = run_script("cat >/dev/null; echo '{\"artifact\":\"" ID "\",\"sha256\":\"" SHA
                                  "\",\"decision\":\"approve\",\"reason\":\"clean\"}'",
                                  5000);
    assert_int_equal(o.decision, HOOK_APPROVE);
    assert_string_equal(o.reason, "hook: approve: clean");
    /* the same answer built from the environment the hook is given */
    o = run_script("printf '{\"artifact\":\"%s\",\"sha256\":\"%s\",\"decision\":\"approve\"}\\n' "
                   "\"$SLUICE_ARTIFACT\" \"$SLUICE_SHA256\"",
                   5000);
    assert_int_equal(o.decision, HOOK_APPROVE);
}

static void rejecting_and_review_hooks(void **state)
{
    (void)state;
    struct outcome o = run_script("echo '{\"artifact\":\"" ID "\",\"sha256\":\"" SHA
                                  "\",\"decision\":\"reject\",\"reason\":\"has a key\"}'",
                                  5000);
    assert_int_equal(o.decision, HOOK_REJECT);
    assert_string_equal(o.reason, "hook: reject: has a key");
    o = run_script(ANSWER("review"), 5000);
    assert_int_equal(o.decision, HOOK_REVIEW);
    assert_string_equal(o.reason, "hook: review");
}

static void hook_sees_its_input_and_minimal_environment(void **state)
{
    (void)state;
    /* approve only if stdin has the manifest, SLUICE_ARTIFACT and SLUICE_SHA256 are set
     * and HOME is not */
    struct outcome o = run_script("in=$(cat); case \"$in\" in *'\"sha256\":\"" SHA "\"'*) ;; *) exit 3;; esac;"
                                  "[ \"$SLUICE_ARTIFACT\" = " ID " ] || exit 4;"
                                  "[ \"$SLUICE_SHA256\" = " SHA " ] || exit 7;"
                                  "[ -z \"$HOME\" ] || exit 5; [ \"$(pwd)\" = / ] || exit 6;" ANSWER("approve"),
                                  5000);
    assert_int_equal(o.decision, HOOK_APPROVE);
}

static void failures_mean_review_never_approve(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *why;
        uint64_t timeout_ms;
    } cases[] = {
        { "sleep 5; " ANSWER("approve"), "did not answer in time", 300 },
        { ANSWER("approve") "; kill -SEGV $$", "signal 11", 5000 },
        { ANSWER("approve") "; exit 1", "status 1", 5000 },
        { "echo 'approve'", "not exactly one JSON object", 5000 },
        { "echo '[\"approve\"]'", "not exactly one JSON object", 5000 },
        { ANSWER("APPROVE"), "not approve, reject or review", 5000 },
        { "head -c 70000 /dev/zero | tr '\\\\0' ' '; " ANSWER("approve"), "more than", 5000 },
        { "true", "not exactly one JSON object", 5000 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o = run_script(cases[i].body, cases[i].timeout_ms);
        if (o.decision != HOOK_REVIEW || strstr(o.reason, cases[i].why) == NULL)
            fail_msg("case %zu: decision %d, reason \"%s\" (wanted review, \"%s\")", i, o.decision, o.reason,
                     cases[i].why);
    }
}

/* Finding 2: an answer is bound to its artifact. A hook that approves with another
 * artifact's id and SHA-256 (or only one of them, or neither), with members the
 * protocol does not have, or with more than one object, gets "a person decides". */
static void answers_about_other_bytes_mean_review(void **state)
{
    (void)state;
    struct {
        const char *answer;
        const char *why;
    } cases[] = {
        { "{\"artifact\":\"" OTHER_ID "\",\"sha256\":\"" OTHER_SHA "\",\"decision\":\"approve\"}",
          "about artifact " OTHER_ID },
        { "{\"artifact\":\"" ID "\",\"sha256\":\"" OTHER_SHA "\",\"decision\":\"approve\"}", "SHA-256 " OTHER_SHA },
        { "{\"artifact\":\"" OTHER_ID "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\"}", "about artifact" },
        { "{\"artifact\":\"" ID "\",\"decision\":\"approve\"}", "SHA-256 (none)" },
        { "{\"sha256\":\"" SHA "\",\"decision\":\"approve\"}", "artifact (none)" },
        { "{\"decision\":\"approve\",\"reason\":\"clean\"}", "artifact (none)" },
        { "{\"artifact\":\"" ID "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\",\"also\":\"" OTHER_ID "\"}",
          "unknown member \"also\"" },
        { "{\"artifact\":\"" ID "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\"}{\"artifact\":\"" ID
          "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\"}",
          "not exactly one JSON object" },
        { "{\"artifact\":\"" ID "\",\"artifact\":\"" ID "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\"}",
          "not exactly one JSON object" },
        { "{\"artifact\":\"" ID "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\",\"reason\":7}", "not a string" },
        { "{\"artifact\":\"" ID "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\"} trailing",
          "not exactly one JSON object" },
        { "{\"artifact\":\"" ID "\",\"sha256\":\"" SHA "\",\"decision\":\"approve\"}\n[]",
          "not exactly one JSON object" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[1024];
        snprintf(body, sizeof(body), "cat >/dev/null; cat <<'EOF'\n%s\nEOF", cases[i].answer);
        struct outcome o = run_script(body, 5000);
        if (o.decision != HOOK_REVIEW || strstr(o.reason, cases[i].why) == NULL ||
            strstr(o.reason, "a person decides") == NULL)
            fail_msg("case %zu: decision %d, reason \"%s\" (wanted review, \"%s\")", i, o.decision, o.reason,
                     cases[i].why);
    }
}

/* Whether process `pid` is gone (or only a zombie waiting for its reaper). */
static bool process_gone(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return true;
    char text[512] = "";
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *end = strrchr(text, ')'); /* "pid (comm) S ..." */
    return end != NULL && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    unlink(path);
    return (pid_t)pid;
}

/* Finding 3: a hook that answers and exits while a child it forked still holds stdout
 * (or runs on in the background with stdout closed): the children are killed with the
 * hook's process group once it has answered, and the answer comes without waiting for
 * them. */
static void children_do_not_outlive_the_answer(void **state)
{
    (void)state;
    char holder[256], background[256], body[1024];
    snprintf(holder, sizeof(holder), "%s/holder.pid", dir);
    snprintf(background, sizeof(background), "%s/background.pid", dir);
    snprintf(body, sizeof(body),
             "cat >/dev/null\n"
             "sleep 60 &\n"                       /* holds stdout */
             "echo $! > %s\n"
             "sleep 60 >/dev/null 2>&1 </dev/null &\n" /* lets go of it, runs on */
             "echo $! > %s\n" ANSWER("approve"),
             holder, background);
    struct outcome o = run_script(body, 10000);
    assert_int_equal(o.decision, HOOK_APPROVE);
    pid_t pids[2] = { read_pid(holder), read_pid(background) };
    for (size_t i = 0; i < 2; i++) {
        bool gone = false;
        for (int tries = 0; tries < 200 && !gone; tries++) {
            gone = process_gone(pids[i]);
            if (!gone) usleep(10000);
        }
        if (!gone) {
            kill(pids[i], SIGKILL);
            fail_msg("the hook's child %d (%s) outlived its answer", (int)pids[i], i == 0 ? "holding stdout" : "in the background");
        }
    }
    assert_true(o.ms < 5000); /* never the 60 s of the children */
}

/* The pipeline's call (until it passes the subject): the SHA-256 is the manifest's. */
static void the_sha256_is_read_from_the_manifest_until_passed(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "%s/legacy.sh", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ncat >/dev/null; %s\n", ANSWER("approve"));
    fclose(f);
    chmod(path, 0700);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    char *argv[] = { path, NULL };
    assert_true(sl_ok(hook_run(&loop, argv, ID, INPUT, 5000, on_done, &o)));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(o.decision, HOOK_APPROVE);
    /* no SHA-256 to bind the answer to: no hook runs */
    assert_true(sl_failed(hook_run(&loop, argv, ID, "{\"manifest\":{}}", 5000, on_done, &o)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    hook_subject short_sha = { .artifact = ID, .sha256 = "abc" };
    assert_true(sl_failed(hook_run_for(&loop, argv, &short_sha, INPUT, 5000, on_done, &o)));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
}

static void missing_command_is_an_error(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    hook_subject subject = { .artifact = ID, .sha256 = SHA };
    char *argv[] = { "/nonexistent/hook", NULL };
    assert_true(sl_failed(hook_run_for(&loop, argv, &subject, "{}", 1000, on_done, &o)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    char *relative[] = { "hook", NULL };
    assert_true(sl_failed(hook_run_for(&loop, relative, &subject, "{}", 1000, on_done, &o)));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(o.done);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the example hooks of docs/hooks.md, as they are ---- */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* Runs the Python example on `content` (served as a file:// URL) described by a
 * manifest naming `sha` as the artifact's SHA-256 (the subject's is always `sha`). */
static struct outcome run_csv_example(const char *content, const char *manifest_sha)
{
    char data_path[256];
    snprintf(data_path, sizeof(data_path), "%s/data.csv", dir);
    FILE *f = fopen(data_path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    char sha[65];
    sha256_hex(content, strlen(content), sha);
    sl_buf input = { 0 };
    assert_true(sl_ok(sl_buf_appendf(&input,
                                     "{\"manifest\":{\"id\":\"%s\",\"sha256\":\"%s\",\"size\":%zu,"
                                     "\"detected_type\":\"text/csv\"},\"content_url\":\"file://%s\","
                                     "\"content_url_expires_in\":600}\n",
                                     ID, manifest_sha ? manifest_sha : sha, strlen(content), data_path)));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    char *argv[] = { SLUICE_SOURCE_DIR "/config/examples/hooks/csv-review.py", NULL };
    hook_subject subject = { .artifact = ID, .sha256 = sha };
    assert_true(sl_ok(hook_run_for(&loop, argv, &subject, sl_buf_cstr(&input), 20000, on_done, &o)));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(o.done);
    assert_int_equal(uv_loop_close(&loop), 0);
    sl_buf_clean_up(&input);
    unlink(data_path);
    return o;
}

static void example_hooks_answer_as_documented(void **state)
{
    (void)state;
    struct outcome o = run_command(SLUICE_SOURCE_DIR "/config/examples/hooks/approve-checked.sh", INPUT, 5000);
    assert_int_equal(o.decision, HOOK_APPROVE);
    assert_string_equal(o.reason, "hook: approve: passed every check");

    o = run_csv_example("name,value\nalpha,1\nbeta,2\n", NULL);
    if (o.decision != HOOK_APPROVE) fail_msg("csv example: %s", o.reason);
    assert_non_null(strstr(o.reason, "2 rows of 2 fields, SHA-256 verified"));
    o = run_csv_example("name,value\nalpha,1,extra\n", NULL);
    assert_int_equal(o.decision, HOOK_REVIEW);
    assert_non_null(strstr(o.reason, "rows of equal width"));
    o = run_csv_example("name,value\n\xff\xfe\n", NULL);
    assert_int_equal(o.decision, HOOK_REVIEW);
    assert_non_null(strstr(o.reason, "not a CSV file"));
    /* a manifest about other bytes than the subject's */
    o = run_csv_example("name,value\nalpha,1\n", OTHER_SHA);
    assert_int_equal(o.decision, HOOK_REVIEW);
    assert_non_null(strstr(o.reason, "another artifact"));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as sluice-mover does: a hook that ignores its stdin closes the pipe */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(approving_hook_approves),
        cmocka_unit_test(rejecting_and_review_hooks),
        cmocka_unit_test(hook_sees_its_input_and_minimal_environment),
        cmocka_unit_test(failures_mean_review_never_approve),
        cmocka_unit_test(answers_about_other_bytes_mean_review),
        cmocka_unit_test(children_do_not_outlive_the_answer),
        cmocka_unit_test(the_sha256_is_read_from_the_manifest_until_passed),
        cmocka_unit_test(missing_command_is_an_error),
        cmocka_unit_test(example_hooks_answer_as_documented),
    };
    return cmocka_run_group_tests_name("hook", tests, setup, teardown);
}
