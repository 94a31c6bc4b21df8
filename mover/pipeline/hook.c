/*
 * hook.c — spawn, feed, collect, time out (see hook.h). Four libuv handles per run: the
 * process, its stdin and stdout pipes, and a timer; the run is finished — and its
 * callback called — once the process has exited AND stdout is at its end (or the
 * process was killed), and freed once every handle is closed.
 */
#include "pipeline/hook.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/buf.h"

#define HOOK_MAX_OUTPUT ((size_t)64 * 1024)

struct hook_run {
    uv_process_t process;
    uv_pipe_t in, out;
    uv_timer_t timer;
    uv_write_t write;
    char *input;
    sl_buf output;
    bool too_much, exited, eof, timed_out, reported;
    int64_t exit_status;
    int term_signal;
    unsigned open_handles;
    hook_done_fn *done;
    void *user;
};

static void closed(uv_handle_t *h)
{
    struct hook_run *run = h->data;
    if (--run->open_handles > 0) return;
    sl_buf_clean_up(&run->output);
    sl_free(run->input);
    sl_free(run);
}

static void close_all(struct hook_run *run)
{
    uv_handle_t *handles[] = { (uv_handle_t *)&run->process, (uv_handle_t *)&run->in, (uv_handle_t *)&run->out,
                               (uv_handle_t *)&run->timer };
    for (size_t i = 0; i < 4; i++)
        if (!uv_is_closing(handles[i])) uv_close(handles[i], closed);
}

/* The answer, judged strictly: anything unexpected is "review". */
static hook_decision judge(struct hook_run *run, char *reason, size_t size)
{
    if (run->timed_out) {
        snprintf(reason, size, "the hook did not answer in time and was killed; a person decides");
        return HOOK_REVIEW;
    }
    if (run->term_signal != 0) {
        snprintf(reason, size, "the hook died of signal %d; a person decides", run->term_signal);
        return HOOK_REVIEW;
    }
    if (run->exit_status != 0) {
        snprintf(reason, size, "the hook exited with status %lld; a person decides", (long long)run->exit_status);
        return HOOK_REVIEW;
    }
    if (run->too_much) {
        snprintf(reason, size, "the hook printed more than %zu bytes; a person decides", HOOK_MAX_OUTPUT);
        return HOOK_REVIEW;
    }
    json_error_t error;
    json_t *answer = json_loadb(run->output.data ? (const char *)run->output.data : "", run->output.len,
                                JSON_REJECT_DUPLICATES, &error);
    if (answer == NULL || !json_is_object(answer)) {
        snprintf(reason, size, "the hook's answer is not a JSON object (%s); a person decides",
                 answer ? "another JSON value" : error.text);
        json_decref(answer);
        return HOOK_REVIEW;
    }
    const char *decision = json_string_value(json_object_get(answer, "decision"));
    const char *why = json_string_value(json_object_get(answer, "reason"));
    hook_decision d = HOOK_REVIEW;
    if (decision != NULL && strcmp(decision, "approve") == 0) d = HOOK_APPROVE;
    else if (decision != NULL && strcmp(decision, "reject") == 0) d = HOOK_REJECT;
    if (decision == NULL || (d == HOOK_REVIEW && strcmp(decision, "review") != 0))
        snprintf(reason, size, "the hook's \"decision\" is not approve, reject or review; a person decides");
    else
        snprintf(reason, size, "hook: %s%s%s", decision, why ? ": " : "", why ? why : "");
    json_decref(answer);
    return d;
}

static void maybe_report(struct hook_run *run)
{
    if (run->reported || !run->exited || (!run->eof && !run->timed_out)) return;
    run->reported = true;
    char reason[512];
    hook_decision d = judge(run, reason, sizeof(reason));
    run->done(run->user, d, reason);
    close_all(run);
}

static void on_timeout(uv_timer_t *t);

static void on_exit_(uv_process_t *p, int64_t status, int term_signal)
{
    struct hook_run *run = p->data;
    run->exited = true;
    run->exit_status = status;
    run->term_signal = term_signal;
    uv_timer_stop(&run->timer);
    /* the process is gone: whatever it left in the pipe is all there will be */
    if (run->timed_out) run->eof = true;
    else if (!run->eof) uv_timer_start(&run->timer, on_timeout, 1000, 0); /* a child kept stdout open */
    maybe_report(run);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = sl_malloc(suggested);
    buf->len = suggested;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct hook_run *run = s->data;
    if (n > 0) {
        if (run->output.len + (size_t)n > HOOK_MAX_OUTPUT || sl_failed(sl_buf_append(&run->output, buf->base, (size_t)n)))
            run->too_much = true;
    } else if (n < 0) {
        run->eof = true;
        uv_read_stop(s);
    }
    sl_free(buf->base);
    maybe_report(run);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status; /* a hook that does not read its input answers all the same */
    struct hook_run *run = w->data;
    uv_close((uv_handle_t *)&run->in, closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct hook_run *run = t->data;
    if (run->exited) { /* exited, but something still holds its stdout: stop waiting */
        run->eof = true;
        uv_read_stop((uv_stream_t *)&run->out);
        maybe_report(run);
        return;
    }
    run->timed_out = true;
    kill(-run->process.pid, SIGKILL); /* the whole group: a hook's children die with it */
    uv_process_kill(&run->process, SIGKILL);
}

sl_result hook_run(uv_loop_t *loop, char *const *argv, const char *artifact_id, const char *input, uint64_t timeout_ms,
                   hook_done_fn *done, void *user)
{
    ENSURE(argv != NULL && argv[0] != NULL && argv[0][0] == '/', SL_ERR_INVALID_ARGUMENT,
           "the review hook needs an absolute command path");
    struct hook_run *run = sl_calloc(1, sizeof(*run));
    run->done = done;
    run->user = user;
    run->input = sl_strdup(input);
    uv_pipe_init(loop, &run->in, 0);
    uv_pipe_init(loop, &run->out, 0);
    uv_timer_init(loop, &run->timer);
    run->in.data = run->out.data = run->timer.data = run->process.data = run;
    run->open_handles = 3;

    char artifact_env[96];
    snprintf(artifact_env, sizeof(artifact_env), "SLUICE_ARTIFACT=%s", artifact_id);
    char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", artifact_env, NULL };
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&run->in },
        { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&run->out },
        { .flags = UV_INHERIT_FD, .data.fd = 2 },
    };
    uv_process_options_t options = {
        .exit_cb = on_exit_,
        .file = argv[0],
        .args = (char **)argv,
        .env = env,
        .cwd = "/",
        .stdio_count = 3,
        .stdio = stdio,
        .flags = UV_PROCESS_DETACHED, /* its own process group, so a timeout kills its children too */
    };
    int rc = uv_spawn(loop, &run->process, &options);
    if (rc != 0) {
        /* the process handle needs closing too, once spawn failed */
        run->open_handles++;
        close_all(run);
        RAISE(SL_ERR_IO, "cannot run the review hook %s: %s", argv[0], uv_strerror(rc));
    }
    run->open_handles++;
    uv_buf_t b = uv_buf_init(run->input, (unsigned)strlen(run->input));
    run->write.data = run;
    if (uv_write(&run->write, (uv_stream_t *)&run->in, &b, 1, on_written) != 0) uv_close((uv_handle_t *)&run->in, closed);
    uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read);
    uv_timer_start(&run->timer, on_timeout, timeout_ms, 0);
    return SL_SUCCESS;
}
