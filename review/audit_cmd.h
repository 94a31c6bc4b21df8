/*
 * audit_cmd.h — `sluice-review audit …`: commands on the audit log (see docs/audit.md).
 */
#ifndef SLUICE_REVIEW_AUDIT_CMD_H
#define SLUICE_REVIEW_AUDIT_CMD_H

/* Runs `audit SUBCOMMAND ARGS…`; argv[0] is "audit". Returns the exit code: 0 the log
 * verifies, 1 it does not (or cannot be read), 2 a usage error. */
int review_audit_command(int argc, char **argv);

#endif /* SLUICE_REVIEW_AUDIT_CMD_H */
