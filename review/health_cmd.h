/*
 * health_cmd.h — `sluice-review health`: is the daemon up and answering on its socket?
 */
#ifndef SLUICE_REVIEW_HEALTH_CMD_H
#define SLUICE_REVIEW_HEALTH_CMD_H

/* Runs `health [--socket PATH] [-c FILE] [--json]`; argv[0] is "health". Returns the
 * exit code: 0 the daemon answered GET /v1/health with status "ok", 1 it did not (or
 * could not be reached), 2 a usage error. */
int review_health_command(int argc, char **argv);

#endif /* SLUICE_REVIEW_HEALTH_CMD_H */
