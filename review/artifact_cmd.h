/*
 * artifact_cmd.h — `sluice-review list|show|fetch|approve|reject` (see artifact_cmd.c).
 * argv[0] is the command name. Returns the exit code: 0 done, 1 refused or failed,
 * 2 usage error.
 */
#ifndef SLUICE_REVIEW_ARTIFACT_CMD_H
#define SLUICE_REVIEW_ARTIFACT_CMD_H

int review_artifact_command(int argc, char **argv);

#endif /* SLUICE_REVIEW_ARTIFACT_CMD_H */
