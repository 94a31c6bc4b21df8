/*
 * hook.h — the review hook: an external command that reads an artifact's manifest as
 * JSON on stdin and answers {"decision": "approve"|"reject"|"review", "reason": "…"}
 * on stdout.
 *
 * The hook is spawned with uv_spawn (no shell) with a minimal environment — only
 * PATH=/usr/local/bin:/usr/bin:/bin, LANG=C.UTF-8 and SLUICE_ARTIFACT=<id> — its
 * working directory "/", stdin the JSON document, stdout captured (at most 64 KiB),
 * stderr passed through to the daemon's stderr, in a process group of its own. Fail
 * closed: a timeout (the hook and everything it started are killed with SIGKILL), a crash, a non-zero exit, output that is not exactly one JSON
 * object with a valid "decision", or anything else unexpected means "review" — a
 * person decides. A hook can never approve by failing.
 *
 * The process must ignore SIGPIPE (sluice-mover does): a hook that exits without
 * reading its stdin closes the pipe under the write.
 *
 * Threading: loop thread. The callback always runs asynchronously, exactly once, for
 * every hook_run that succeeded.
 */
#ifndef SLUICE_PIPELINE_HOOK_H
#define SLUICE_PIPELINE_HOOK_H

#include <stdint.h>

#include <uv.h>

#include "util/error.h"

typedef enum hook_decision { HOOK_REVIEW = 0, HOOK_APPROVE, HOOK_REJECT } hook_decision;

/* `reason` says what the hook answered, or why its answer was not taken. */
typedef void hook_done_fn(void *user, hook_decision decision, const char *reason);

/* Runs argv (NULL-terminated; argv[0] an absolute path) with `input` on stdin. Errors:
 * SL_ERR_INVALID_ARGUMENT (no command), SL_ERR_IO (spawn failed: the command does not
 * exist or is not executable — the caller treats that as "review" too). */
SL_MUST_CHECK sl_result hook_run(uv_loop_t *loop, char *const *argv, const char *artifact_id, const char *input,
                                 uint64_t timeout_ms, hook_done_fn *done, void *user);

#endif /* SLUICE_PIPELINE_HOOK_H */
