/*
 * commands.h — the command-line programs of the content checks room, dispatched from
 * mover/main.c: `check-config` (the configuration and its rules), `rules
 * import-gitleaks` (rules_import_cmd.c) and `rules test` (rules_test_cmd.c). Each
 * takes its own argv (argv[0] is the sub-command's name), writes to out/err and
 * returns the process exit code: 0 success, 1 failure (or, for `rules test`, a file
 * that a rule matched), 2 usage error.
 */
#ifndef SLUICE_CHECKS_COMMANDS_H
#define SLUICE_CHECKS_COMMANDS_H

#include <stdio.h>

/* Validates the configuration (every error) and compiles its rules (every problem). */
int checks_config_command(const char *config_file, FILE *out, FILE *err);

/* rules import-gitleaks FILE.toml -o FILE.json */
int rules_import_gitleaks_command(int argc, char **argv, FILE *out, FILE *err);

/* rules test RULES.json FILE... */
int rules_test_command(int argc, char **argv, FILE *out, FILE *err);

#endif /* SLUICE_CHECKS_COMMANDS_H */
