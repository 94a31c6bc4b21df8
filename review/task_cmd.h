/*
 * task_cmd.h — `sluice-review task open|close|list`: interpreter tasks and their upload
 * grants, through the daemon's socket API (POST /v1/tasks, POST /v1/tasks/{id}/close,
 * GET /v1/tasks; docs/tasks.md). Only users listed in review.orchestrators may call them.
 */
#ifndef SLUICE_REVIEW_TASK_CMD_H
#define SLUICE_REVIEW_TASK_CMD_H

/* Runs `task SUBCOMMAND …`; argv[0] is "task". Returns the exit code: 0 done, 1 the
 * daemon refused or could not be reached (one line on stderr says why), 2 usage error. */
int review_task_command(int argc, char **argv);

#endif /* SLUICE_REVIEW_TASK_CMD_H */
