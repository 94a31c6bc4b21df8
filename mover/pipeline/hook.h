/*
 * hook.h — the review hook: an external command that is told which artifact it judges
 * (its id and SHA-256) and must answer about exactly that artifact. docs/hooks.md is
 * the protocol as hook authors see it, with two example hooks the tests run.
 *
 * Input: the hook is spawned with uv_spawn (no shell) with a minimal environment — only
 * PATH=/usr/local/bin:/usr/bin:/bin, LANG=C.UTF-8, SLUICE_ARTIFACT=<id> and
 * SLUICE_SHA256=<sha256> — its working directory "/", stdin a JSON document (the
 * artifact's manifest, which carries the same id and SHA-256, and a short-lived URL of
 * the bytes), stdout captured (at most HOOK_MAX_OUTPUT bytes), stderr passed through to
 * the daemon's stderr, in a process group of its own.
 *
 * Answer: exactly one JSON object on stdout, with exactly these members —
 *   {"artifact": "<the id it was given>", "sha256": "<the SHA-256 it was given>",
 *    "decision": "approve" | "reject" | "review", "reason": "…" (optional, a string)}
 * An answer is taken only when the hook exited 0 and the object names this artifact's id
 * and SHA-256. Fail closed: a timeout, a crash, a non-zero exit, output that is not
 * exactly one JSON object, an unknown or duplicate member, a missing or different id or
 * SHA-256 (an answer about other bytes), a decision outside the three, or anything else
 * unexpected means "review" — a person decides. A hook can never approve by failing, and
 * never approve one artifact with another's answer.
 *
 * Its processes: once the hook has exited, its whole process group is killed (SIGKILL)
 * — children it left behind do not outlive its answer — and on timeout the group is
 * killed too. (A child that leaves the group with setsid escapes this; run hooks under
 * a service manager's cgroup to bound those too.)
 *
 * The process must ignore SIGPIPE (sluice-mover does): a hook that exits without
 * reading its stdin closes the pipe under the write.
 *
 * Threading: loop thread. The callback always runs asynchronously, exactly once, for
 * every hook_run that succeeded.
 */
#ifndef SLUICE_PIPELINE_HOOK_H
#define SLUICE_PIPELINE_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/error.h"

#define HOOK_MAX_OUTPUT ((size_t)64 * 1024)

typedef enum hook_decision { HOOK_REVIEW = 0, HOOK_APPROVE, HOOK_REJECT } hook_decision;

/* What the hook judges: the artifact's id and the SHA-256 of its quarantined bytes
 * (64 lower-case hex digits). Both are copied. */
typedef struct hook_subject {
    const char *artifact;
    const char *sha256;
} hook_subject;

/* `reason` says what the hook answered ("hook: approve: clean"), or why its answer was
 * not taken; at most a few hundred bytes. */
typedef void hook_done_fn(void *user, hook_decision decision, const char *reason);

/* Runs argv (NULL-terminated; argv[0] an absolute path) for `subject` with `input` on
 * stdin. Errors (no callback): SL_ERR_INVALID_ARGUMENT (no command, a relative path, no
 * artifact id or SHA-256), SL_ERR_IO (spawn failed: the command does not exist or is
 * not executable — the caller treats that as "review" too). */
SL_MUST_CHECK sl_result hook_run(uv_loop_t *loop, char *const *argv, const hook_subject *subject, const char *input,
                                 uint64_t timeout_ms, hook_done_fn *done, void *user);

#endif /* SLUICE_PIPELINE_HOOK_H */
