/*
 * main.c — the sluice-mover program: parses the command line and hands each command
 * to its module. Commands that later work will add (run, check-config, policy) are
 * recognised already, so a script written against the documented interface gets a
 * clear "not in this version" answer (exit 3) instead of a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "version.h"

enum exit_code { EXIT_OK = 0, EXIT_FAILURE_ = 1, EXIT_USAGE = 2, EXIT_NOT_AVAILABLE = 3 };

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-mover COMMAND [OPTIONS]\n"
            "\n"
            "The sluice daemon: moves artifacts from write-only staging through quarantine,\n"
            "checks and review into the trusted bucket.\n"
            "\n"
            "Commands:\n"
            "  run -c FILE           run the daemon with the configuration FILE\n"
            "  check-config -c FILE  validate FILE and print OK or every error found\n"
            "  policy -c FILE        print the S3 bucket policies for the configuration\n"
            "\n"
            "Options:\n"
            "  -h, --help            show this help and exit\n"
            "  -V, --version         show the version and exit\n"
            "\n"
            "Exit codes: 0 success, 1 failure, 2 usage error,\n"
            "            3 the command is not available in this version.\n");
}

static const char *const planned_commands[] = { "run", "check-config", "policy" };

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("sluice-mover %s\n", SLUICE_VERSION);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "sluice-mover: no command given\n\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[optind];
    for (size_t i = 0; i < sizeof(planned_commands) / sizeof(planned_commands[0]); i++) {
        if (strcmp(command, planned_commands[i]) == 0) {
            fprintf(stderr, "sluice-mover: '%s' is not available in version %s yet\n", command,
                    SLUICE_VERSION);
            return EXIT_NOT_AVAILABLE;
        }
    }
    fprintf(stderr, "sluice-mover: unknown command '%s' (see sluice-mover --help)\n", command);
    return EXIT_USAGE;
}
