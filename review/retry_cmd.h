/*
 * retry_cmd.h — `sluice-review retry ID [--reason TEXT]`: an operator (review.operators)
 * sends a failed artifact back to be checked again (POST /v1/artifacts/{id}/retry).
 */
#ifndef SLUICE_REVIEW_RETRY_CMD_H
#define SLUICE_REVIEW_RETRY_CMD_H

/* argv[0] is "retry". Exit codes as sluice-review's: 0 done, 1 refused or failed,
 * 2 usage. */
int review_retry_command(int argc, char **argv);

#endif /* SLUICE_REVIEW_RETRY_CMD_H */
