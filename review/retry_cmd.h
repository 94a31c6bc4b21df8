/*
 * retry_cmd.h — the operators' (review.operators) commands: `sluice-review retry ID
 * [--reason TEXT]` sends a failed artifact back to be checked again (POST
 * /v1/artifacts/{id}/retry); `sluice-review recheck ID` checks an artifact in review
 * again with the rules and signatures in force (POST /v1/artifacts/{id}/recheck).
 */
#ifndef SLUICE_REVIEW_RETRY_CMD_H
#define SLUICE_REVIEW_RETRY_CMD_H

/* argv[0] is "retry" or "recheck". Exit codes as sluice-review's: 0 done, 1 refused or
 * failed, 2 usage. */
int review_operator_command(int argc, char **argv);

#endif /* SLUICE_REVIEW_RETRY_CMD_H */
