/*
 * audit_ship_cmd.h — `sluice-review audit verify FILE --shipped -c CONFIG`: the local
 * audit log against the signed segments shipped to the control prefix.
 */
#ifndef SLUICE_REVIEW_AUDIT_SHIP_CMD_H
#define SLUICE_REVIEW_AUDIT_SHIP_CMD_H

/* argv holds the options after FILE (argv[0] is a program name for getopt). Returns the
 * exit status: 0 matches, 1 differs, 2 usage, 4 could not check. */
int review_audit_shipped_command(const char *file, int argc, char **argv);

#endif /* SLUICE_REVIEW_AUDIT_SHIP_CMD_H */
