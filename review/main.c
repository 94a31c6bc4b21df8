/*
 * main.c — the sluice-review program, the CLI reviewers and orchestrators use. It
 * talks to the daemon's socket API; `verify` (consumers) and `audit verify` read S3 or
 * files directly, without the daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "artifact_cmd.h"
#include "audit_cmd.h"
#include "health_cmd.h"
#include "retry_cmd.h"
#include "task_cmd.h"
#include "verify_cmd.h"
#include "version.h"

enum exit_code { EXIT_OK = 0, EXIT_FAILURE_ = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-review COMMAND [OPTIONS]\n"
            "\n"
            "Review artifacts waiting in sluice's quarantine, and manage interpreter tasks.\n"
            "\n"
            "Commands:\n"
            "  list [--state S] [--route R] [--json]   artifacts, as a table or JSON\n"
            "  show ID [--json]                         manifest, findings, decisions, history\n"
            "  fetch ID [-o FILE] [--force]             download the quarantined bytes (audited),\n"
            "                                           checked against their SHA-256\n"
            "  approve ID [--reason TEXT]               approve an artifact\n"
            "  reject ID --reason TEXT                  reject an artifact\n"
            "  retry ID [--reason TEXT]                 check a failed artifact again (operators)\n"
            "  recheck ID                               check an artifact in review again with the rules in force (operators)\n"
            "  task open|close|list|show                interpreter tasks, their grants and objects\n"
            "  audit verify FILE                        check an audit log's hash chain\n"
            "  verify [--all] s3://BUCKET/KEY           check trusted objects' attestations (no\n"
            "                                           daemon; your own S3 credentials)\n"
            "  health [--socket PATH] [-c FILE]         is the daemon serving its API socket?\n"
            "\n"
            "Options of the commands that talk to the daemon:\n"
            "  --socket PATH    the daemon's API socket (default: $SLUICE_SOCKET, else api.socket\n"
            "                   of -c FILE, else /run/sluice/api.sock)\n"
            "  -c FILE          take the socket from this configuration\n"
            "  --json           print the daemon's answer as JSON\n"
            "\n"
            "Options:\n"
            "  -h, --help       show this help and exit\n"
            "  -V, --version    show the version and exit\n"
            "\n"
            "Exit codes: 0 success; 1 refused or failed (the message says why and what to do);\n"
            "            2 usage error; 4 (verify) an object or key could not be read.\n"
            "See sluice-review(1).\n");
}


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
            printf("sluice-review %s\n", SLUICE_VERSION);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "sluice-review: no command given\n\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[optind];
    if (strcmp(command, "audit") == 0) return review_audit_command(argc - optind, argv + optind);
    if (strcmp(command, "health") == 0) return review_health_command(argc - optind, argv + optind);
    if (strcmp(command, "task") == 0) return review_task_command(argc - optind, argv + optind);
    if (strcmp(command, "verify") == 0) return review_verify_command(argc - optind, argv + optind);
    if (strcmp(command, "retry") == 0 || strcmp(command, "recheck") == 0)
        return review_operator_command(argc - optind, argv + optind);
    static const char *const artifact_commands[] = { "list", "show", "fetch", "approve", "reject" };
    for (size_t i = 0; i < sizeof(artifact_commands) / sizeof(artifact_commands[0]); i++)
        if (strcmp(command, artifact_commands[i]) == 0) return review_artifact_command(argc - optind, argv + optind);
    fprintf(stderr, "sluice-review: unknown command '%s' (see sluice-review --help)\n", command);
    return EXIT_USAGE;
}
