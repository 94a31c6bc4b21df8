/*
 * test_hook.c — unit tests of the review hook runner (mover/pipeline/hook.c) with real
 * processes: /bin/sh scripts written to a temp dir that approve, reject, ask for
 * review, sleep past the timeout, crash, exit non-zero, print garbage or too much, and
 * read their input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/hook.h"

struct outcome {
    bool done;
    hook_decision decision;
    char reason[512];
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
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    char *argv[] = { path, NULL };
    assert_true(sl_ok(hook_run(&loop, argv, "0123456789abcdef0123456789abcdef", "{\"id\":\"x\",\"sha256\":\"abc\"}\n",
                               timeout_ms, on_done, &o)));
    assert_false(o.done);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(o.done);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
    return o;
}

static void approving_hook_approves(void **state)
{
    (void)state;
    struct outcome o = run_script("cat >/dev/null; echo '{\"decision\":\"approve\",\"reason\":\"clean\"}'", 5000);
    assert_int_equal(o.decision, HOOK_APPROVE);
    assert_string_equal(o.reason, "hook: approve: clean");
}

static void rejecting_and_review_hooks(void **state)
{
    (void)state;
    struct outcome o = run_script("echo '{\"decision\":\"reject\",\"reason\":\"has a key\"}'", 5000);
    assert_int_equal(o.decision, HOOK_REJECT);
    o = run_script("echo '{\"decision\":\"review\"}'", 5000);
    assert_int_equal(o.decision, HOOK_REVIEW);
}

static void hook_sees_its_input_and_minimal_environment(void **state)
{
    (void)state;
    /* approve only if stdin has the manifest, SLUICE_ARTIFACT is set and HOME is not */
    struct outcome o = run_script(
        "in=$(cat); case \"$in\" in *'\"sha256\":\"abc\"'*) ;; *) exit 3;; esac;"
        "[ \"$SLUICE_ARTIFACT\" = 0123456789abcdef0123456789abcdef ] || exit 4;"
        "[ -z \"$HOME\" ] || exit 5; [ \"$(pwd)\" = / ] || exit 6;"
        "echo '{\"decision\":\"approve\"}'",
        5000);
    assert_int_equal(o.decision, HOOK_APPROVE);
}

static void failures_mean_review_never_approve(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *why;
    } cases[] = {
        { "sleep 5; echo '{\"decision\":\"approve\"}'", "did not answer in time" },
        { "echo '{\"decision\":\"approve\"}'; kill -SEGV $$", "signal 11" },
        { "echo '{\"decision\":\"approve\"}'; exit 1", "status 1" },
        { "echo 'approve'", "not a JSON object" },
        { "echo '[\"approve\"]'", "not a JSON object" },
        { "echo '{\"decision\":\"APPROVE\"}'", "not approve, reject or review" },
        { "echo '{\"verdict\":\"approve\"}'", "not approve, reject or review" },
        { "echo '{\"decision\":\"approve\"}{\"decision\":\"approve\"}'", "not a JSON object" },
        { "head -c 70000 /dev/zero | tr '\\\\0' ' '; echo '{\"decision\":\"approve\"}'", "more than" },
        { "true", "not a JSON object" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o = run_script(cases[i].body, 300);
        if (o.decision != HOOK_REVIEW || strstr(o.reason, cases[i].why) == NULL)
            fail_msg("case %zu: decision %d, reason \"%s\" (wanted review, \"%s\")", i, o.decision, o.reason,
                     cases[i].why);
    }
}

static void missing_command_is_an_error(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = { 0 };
    char *argv[] = { "/nonexistent/hook", NULL };
    assert_true(sl_failed(hook_run(&loop, argv, "x", "{}", 1000, on_done, &o)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    char *relative[] = { "hook", NULL };
    assert_true(sl_failed(hook_run(&loop, relative, "x", "{}", 1000, on_done, &o)));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(o.done);
    assert_int_equal(uv_loop_close(&loop), 0);
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
        cmocka_unit_test(missing_command_is_an_error),
    };
    return cmocka_run_group_tests_name("hook", tests, setup, teardown);
}
