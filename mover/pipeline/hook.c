/*
 * hook.c — spawn, feed, collect, end, judge (see hook.h). Four libuv handles per run:
 * the process, its stdin and stdout pipes, and a timer. When the hook exits, its whole
 * process group is killed, so whatever it left running lets go of stdout; the run is
 * finished — and its callback called — once the process has exited AND stdout is at its
 * end (or, if something outside the group still holds it, a second later), and freed
 * once every handle is closed. The answer is judged strictly against the subject.
 */
#include "pipeline/hook.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/json_read.h"

#define EOF_GRACE_MS 1000 /* after the exit: how long something outside the group may hold stdout */

struct hook_proc {
    uv_process_t process;
    uv_pipe_t in, out;
    uv_timer_t timer;
    uv_write_t write;
    char *input;
    char *artifact, *sha256; /* the subject */
    sl_buf output;
    bool too_much, exited, eof, timed_out, reported;
    int64_t exit_status;
    int term_signal;
    int pid; /* also the id of its process group */
    unsigned open_handles;
    hook_done_fn *done;
    void *user;
};

static void closed(uv_handle_t *h)
{
    struct hook_proc *run = h->data;
    if (--run->open_handles > 0) return;
    sl_buf_clean_up(&run->output);
    sl_free(run->input);
    sl_free(run->artifact);
    sl_free(run->sha256);
    sl_free(run);
}

static void close_all(struct hook_proc *run)
{
    uv_handle_t *handles[] = { (uv_handle_t *)&run->process, (uv_handle_t *)&run->in, (uv_handle_t *)&run->out,
                               (uv_handle_t *)&run->timer };
    for (size_t i = 0; i < 4; i++)
        if (!uv_is_closing(handles[i])) uv_close(handles[i], closed);
}

static hook_decision review_because(char *reason, size_t size, const char *fmt, ...) SL_PRINTF(3, 4);
static hook_decision review_because(char *reason, size_t size, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(reason, size, "%s; a person decides", why);
    return HOOK_REVIEW;
}

/* The answer's members, strictly: only the four, the id and SHA-256 of the subject. */
static hook_decision judge_answer(const struct hook_proc *run, json_t *answer, char *reason, size_t size)
{
    static const char *const members[] = { "artifact", "sha256", "decision", "reason" };
    const char *key;
    json_t *value;
    json_object_foreach(answer, key, value) {
        bool known = false;
        for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) known = known || strcmp(key, members[i]) == 0;
        if (!known) {
            char shown[68];
            sl_json_printable(key, shown);
            return review_because(reason, size, "the hook's answer has an unknown member \"%s\"", shown);
        }
    }
    const char *artifact = json_string_value(json_object_get(answer, "artifact"));
    const char *sha256 = json_string_value(json_object_get(answer, "sha256"));
    const char *decision = json_string_value(json_object_get(answer, "decision"));
    json_t *why = json_object_get(answer, "reason");
    char shown[68];
    if (artifact == NULL || strcmp(artifact, run->artifact) != 0) {
        sl_json_printable(artifact ? artifact : "(none)", shown);
        return review_because(reason, size, "the hook's answer is about artifact %s, not %s", shown, run->artifact);
    }
    if (sha256 == NULL || strcmp(sha256, run->sha256) != 0) {
        sl_json_printable(sha256 ? sha256 : "(none)", shown);
        return review_because(reason, size, "the hook's answer names SHA-256 %s, not the artifact's %s", shown,
                              run->sha256);
    }
    if (why != NULL && !json_is_string(why)) return review_because(reason, size, "the hook's \"reason\" is not a string");
    hook_decision d;
    if (decision != NULL && strcmp(decision, "approve") == 0) d = HOOK_APPROVE;
    else if (decision != NULL && strcmp(decision, "reject") == 0) d = HOOK_REJECT;
    else if (decision != NULL && strcmp(decision, "review") == 0) d = HOOK_REVIEW;
    else return review_because(reason, size, "the hook's \"decision\" is not approve, reject or review");
    const char *text = why ? json_string_value(why) : NULL;
    snprintf(reason, size, "hook: %s%s%.300s", decision, text ? ": " : "", text ? text : "");
    return d;
}

/* The run, judged strictly: anything unexpected is "review". */
static hook_decision judge(struct hook_proc *run, char *reason, size_t size)
{
    if (run->timed_out) return review_because(reason, size, "the hook did not answer in time and was killed");
    if (run->term_signal != 0) return review_because(reason, size, "the hook died of signal %d", run->term_signal);
    if (run->exit_status != 0)
        return review_because(reason, size, "the hook exited with status %lld", (long long)run->exit_status);
    if (run->too_much) return review_because(reason, size, "the hook printed more than %zu bytes", HOOK_MAX_OUTPUT);
    json_error_t error;
    json_t *answer = json_loadb(run->output.data ? (const char *)run->output.data : "", run->output.len,
                                JSON_REJECT_DUPLICATES, &error);
    hook_decision d;
    if (answer == NULL || !json_is_object(answer))
        d = review_because(reason, size, "the hook's answer is not exactly one JSON object (%s)",
                           answer ? "another JSON value" : error.text);
    else
        d = judge_answer(run, answer, reason, size);
    json_decref(answer);
    return d;
}

static void maybe_report(struct hook_proc *run)
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
    struct hook_proc *run = p->data;
    run->exited = true;
    run->exit_status = status;
    run->term_signal = term_signal;
    uv_timer_stop(&run->timer);
    /* Its answer is given: end everything it started (children holding stdout, or
     * running on in the background). The group outlives its leader while it has
     * members, so its id still names it here. */
    kill(-run->pid, SIGKILL);
    /* the process is gone: whatever it left in the pipe is all there will be */
    if (run->timed_out) run->eof = true;
    else if (!run->eof) uv_timer_start(&run->timer, on_timeout, EOF_GRACE_MS, 0); /* held outside the group */
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
    struct hook_proc *run = s->data;
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
    struct hook_proc *run = w->data;
    uv_close((uv_handle_t *)&run->in, closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct hook_proc *run = t->data;
    if (run->exited) { /* exited, but something still holds its stdout: stop waiting */
        run->eof = true;
        uv_read_stop((uv_stream_t *)&run->out);
        maybe_report(run);
        return;
    }
    run->timed_out = true;
    kill(-run->pid, SIGKILL); /* the whole group: a hook's children die with it */
    uv_process_kill(&run->process, SIGKILL);
}

sl_result hook_run(uv_loop_t *loop, char *const *argv, const hook_subject *subject, const char *input,
                   uint64_t timeout_ms, hook_done_fn *done, void *user)
{
    ENSURE(argv != NULL && argv[0] != NULL && argv[0][0] == '/', SL_ERR_INVALID_ARGUMENT,
           "the review hook needs an absolute command path");
    ENSURE(subject != NULL && subject->artifact != NULL && subject->artifact[0] != '\0' && subject->sha256 != NULL &&
               strlen(subject->sha256) == 64 && strlen(subject->artifact) < 64,
           SL_ERR_INVALID_ARGUMENT, "the review hook needs the artifact's id and SHA-256");
    ENSURE(input != NULL && done != NULL, SL_ERR_INVALID_ARGUMENT, "the review hook needs its input and a callback");
    struct hook_proc *run = sl_calloc(1, sizeof(*run));
    run->done = done;
    run->user = user;
    run->input = sl_strdup(input);
    run->artifact = sl_strdup(subject->artifact);
    run->sha256 = sl_strdup(subject->sha256);
    uv_pipe_init(loop, &run->in, 0);
    uv_pipe_init(loop, &run->out, 0);
    uv_timer_init(loop, &run->timer);
    run->in.data = run->out.data = run->timer.data = run->process.data = run;
    run->open_handles = 3;

    char artifact_env[96], sha256_env[96];
    snprintf(artifact_env, sizeof(artifact_env), "SLUICE_ARTIFACT=%s", run->artifact);
    snprintf(sha256_env, sizeof(sha256_env), "SLUICE_SHA256=%s", run->sha256);
    char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", artifact_env, sha256_env, NULL };
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
    run->pid = run->process.pid;
    uv_buf_t b = uv_buf_init(run->input, (unsigned)strlen(run->input));
    run->write.data = run;
    if (uv_write(&run->write, (uv_stream_t *)&run->in, &b, 1, on_written) != 0) uv_close((uv_handle_t *)&run->in, closed);
    uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read);
    uv_timer_start(&run->timer, on_timeout, timeout_ms, 0);
    return SL_SUCCESS;
}
