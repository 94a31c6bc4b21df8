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
/* The time a hook that answers at once is given: only a broken hook comes near it, and
 * nothing here depends on it being short (valgrind and a loaded machine slow the
 * daemon's side by seconds). The one test of the timeout makes its hook ready first. */
#define ANSWERS_WITHIN_MS 30000
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
    assert_true(sl_ok(hook_run(&loop, argv, &subject, input, timeout_ms, on_done, &o)));
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
                                  ANSWERS_WITHIN_MS);
    assert_int_equal(o.decision, HOOK_APPROVE);
    assert_string_equal(o.reason, "hook: approve: clean");
    /* the same answer built from the environment the hook is given */
    o = run_script("printf '{\"artifact\":\"%s\",\"sha256\":\"%s\",\"decision\":\"approve\"}\\n' "
                   "\"$SLUICE_ARTIFACT\" \"$SLUICE_SHA256\"",
                   ANSWERS_WITHIN_MS);
    assert_int_equal(o.decision, HOOK_APPROVE);
}

static void rejecting_and_review_hooks(void **state)
{
    (void)state;
    struct outcome o = run_script("echo '{\"artifact\":\"" ID "\",\"sha256\":\"" SHA
                                  "\",\"decision\":\"reject\",\"reason\":\"has a key\"}'",
                                  ANSWERS_WITHIN_MS);
    assert_int_equal(o.decision, HOOK_REJECT);
    assert_string_equal(o.reason, "hook: reject: has a key");
    o = run_script(ANSWER("review"), ANSWERS_WITHIN_MS);
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
                                  ANSWERS_WITHIN_MS);
    assert_int_equal(o.decision, HOOK_APPROVE);
}

static void failures_mean_review_never_approve(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *why;
    } cases[] = {
        { ANSWER("approve") "; kill -SEGV $$", "signal 11" },
        { ANSWER("approve") "; exit 1", "status 1" },
        { "echo 'approve'", "not exactly one JSON object" },
        { "echo '[\"approve\"]'", "not exactly one JSON object" },
        { ANSWER("APPROVE"), "not approve, reject or review" },
        { "head -c 70000 /dev/zero | tr '\\\\0' ' '; " ANSWER("approve"), "more than" },
        { "true", "not exactly one JSON object" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o = run_script(cases[i].body, ANSWERS_WITHIN_MS);
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
        struct outcome o = run_script(body, ANSWERS_WITHIN_MS);
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
    struct outcome o = run_script(body, ANSWERS_WITHIN_MS);
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
    assert_true(o.ms < ANSWERS_WITHIN_MS); /* never the 60 s of the children */
}

/* Waits (at most a minute) until `path` exists. */
static void wait_for_file(const char *path)
{
    for (int tries = 0; tries < 6000; tries++) {
        if (access(path, F_OK) == 0) return;
        usleep(10000);
    }
    fail_msg("%s never appeared", path);
}

static void wait_until_gone(pid_t pid, const char *what)
{
    for (int tries = 0; tries < 3000; tries++) {
        if (process_gone(pid)) return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    fail_msg("%s (%d) is still running", what, (int)pid);
}

/* A hook past its time is killed with everything it started, and means "review" even
 * though it would have approved later. The hook says it is running (a child started,
 * its pid written) before the loop runs, so the timeout always meets a running hook
 * that has not answered, however slow the machine is (valgrind, load): nothing here
 * races the clock. */
static void a_hook_past_its_time_is_killed_with_its_children(void **state)
{
    (void)state;
    char ready[256], child[256], path[256];
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    snprintf(child, sizeof(child), "%s/child.pid", dir);
    snprintf(path, sizeof(path), "%s/slow.sh", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\nsleep 60 &\necho $! > %s\n: > %s\nsleep 60\n%s\n", child, ready, ANSWER("approve"));
    fclose(f);
    chmod(path, 0700);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    char *argv[] = { path, NULL };
    hook_subject subject = { .artifact = ID, .sha256 = SHA };
    double start = now_ms();
    assert_true(sl_ok(hook_run(&loop, argv, &subject, INPUT, 300, on_done, &o)));
    wait_for_file(ready); /* the hook runs; the loop (and so its timer) has not yet */
    uv_run(&loop, UV_RUN_DEFAULT);
    o.ms = now_ms() - start;
    assert_true(o.done);
    assert_int_equal(uv_loop_close(&loop), 0);
    if (o.decision != HOOK_REVIEW || strstr(o.reason, "did not answer in time") == NULL)
        fail_msg("decision %d, reason \"%s\" (wanted review, \"did not answer in time\")", o.decision, o.reason);
    wait_until_gone(read_pid(child), "the timed-out hook's child");
    assert_true(o.ms < ANSWERS_WITHIN_MS); /* never the 60 s of the hook */
    unlink(ready);
    unlink(path);
}

/* Calls that cannot be bound to an artifact, or name no runnable command, run nothing
 * and call nothing back. */
static void bad_calls_run_nothing(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    hook_subject subject = { .artifact = ID, .sha256 = SHA };
    char *argv[] = { "/nonexistent/hook", NULL };
    assert_true(sl_failed(hook_run(&loop, argv, &subject, "{}", 1000, on_done, &o)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    char *relative[] = { "hook", NULL };
    assert_true(sl_failed(hook_run(&loop, relative, &subject, "{}", 1000, on_done, &o)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    char *real[] = { "/bin/true", NULL };
    const hook_subject unbound[] = {
        { .artifact = ID, .sha256 = "abc" },
        { .artifact = ID, .sha256 = NULL },
        { .artifact = "", .sha256 = SHA },
        { .artifact = NULL, .sha256 = SHA },
        { .artifact = ID ID, .sha256 = SHA },
    };
    for (size_t i = 0; i < sizeof(unbound) / sizeof(unbound[0]); i++) {
        assert_true(sl_failed(hook_run(&loop, real, &unbound[i], "{}", 1000, on_done, &o)));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    }
    assert_true(sl_failed(hook_run(&loop, real, NULL, "{}", 1000, on_done, &o)));
    assert_true(sl_failed(hook_run(&loop, real, &subject, NULL, 1000, on_done, &o)));
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
    assert_true(sl_ok(hook_run(&loop, argv, &subject, sl_buf_cstr(&input), ANSWERS_WITHIN_MS, on_done, &o)));
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
    struct outcome o = run_command(SLUICE_SOURCE_DIR "/config/examples/hooks/approve-checked.sh", INPUT,
                                   ANSWERS_WITHIN_MS);
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
        cmocka_unit_test(a_hook_past_its_time_is_killed_with_its_children),
        cmocka_unit_test(bad_calls_run_nothing),
        cmocka_unit_test(example_hooks_answer_as_documented),
    };
    return cmocka_run_group_tests_name("hook", tests, setup, teardown);
}
