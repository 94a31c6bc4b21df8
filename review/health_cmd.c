/*
 * health_cmd.c — `sluice-review health`: GET /v1/health on the daemon's socket
 * (api_client.h), for people and for service checks.
 *
 * The socket is --socket PATH, else $SLUICE_SOCKET, else api.socket of -c FILE, else
 * /run/sluice/api.sock. Output: "ok: sluice-mover VERSION is serving PATH" on stdout
 * (exit 0); a daemon that has stopped making changes answers 503 "degraded", printed as
 * "degraded: REASON" and what to do, on stdout (exit 1); with --json the daemon's answer
 * as it came (exit 0 or 1 as above); every other failure is one line on stderr starting
 * "sluice-review health: " (exit 1); usage errors exit 2.
 */
#include "health_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_client.h"
#include "util/alloc.h"

enum { EXIT_HEALTHY = 0, EXIT_UNHEALTHY = 1, EXIT_USAGE_ERROR = 2 };

static void health_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-review health [--socket PATH] [-c FILE] [--json]\n"
            "\n"
            "Asks the sluice-mover daemon whether it is serving (GET /v1/health).\n"
            "\n"
            "Options:\n"
            "  --socket PATH      the daemon's API socket (default: $SLUICE_SOCKET, else\n"
            "                     api.socket of -c FILE, else /run/sluice/api.sock)\n"
            "  -c, --config FILE  take the socket from this configuration\n"
            "  --json             print the daemon's answer as JSON\n"
            "  -h, --help         show this help and exit\n"
            "\n"
            "A daemon that has stopped making changes (its audit log failed) answers\n"
            "\"degraded\" with the reason, which is printed.\n"
            "\n"
            "Exit codes: 0 the daemon is healthy, 1 it is degraded or cannot be reached,\n"
            "            2 usage error.\n");
}

/* "sluice-review health: WHAT 'ARG'" and a hint, on stderr. */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "sluice-review health: %s '%s'\n", what, arg);
    fprintf(stderr, "Try: sluice-review health [--socket PATH] [-c FILE]   (sluice-review health --help)\n");
    return EXIT_USAGE_ERROR;
}

int review_health_command(int argc, char **argv)
{
    enum { OPT_SOCKET = 1000, OPT_JSON };
    static const struct option options[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *socket_option = NULL, *config = NULL;
    bool as_json = false;
    int opt;
    optind = 0; /* GNU getopt: start afresh, at argv[1] (argv[0] is "health") */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SOCKET:
            socket_option = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case OPT_JSON:
            as_json = true;
            break;
        case 'h':
            health_usage(stdout);
            return EXIT_HEALTHY;
        default:
            return usage_error("unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument", argv[optind]);
    }

    char err[2048];
    char *socket_path = api_client_socket_path(socket_option, config, err, sizeof(err));
    if (socket_path == NULL) {
        fprintf(stderr, "sluice-review health: %s\n", err);
        return EXIT_UNHEALTHY;
    }
    long status = 0;
    json_t *answer = NULL;
    int code = EXIT_UNHEALTHY;
    if (sl_failed(api_call(socket_path, "GET", "/v1/health", NULL, &status, &answer, err, sizeof(err)))) {
        fprintf(stderr, "sluice-review health: %s\n", err);
        goto out;
    }
    const char *state = json_string_value(json_object_get(answer, "status"));
    const char *version = json_string_value(json_object_get(answer, "version"));
    bool degraded = state != NULL && strcmp(state, "degraded") == 0;
    if (as_json && (status == 200 || degraded)) {
        char *dump = json_dumps(answer, JSON_COMPACT);
        printf("%s\n", dump ? dump : "{}");
        free(dump);
        code = degraded ? EXIT_UNHEALTHY : EXIT_HEALTHY;
        goto out;
    }
    if (degraded) {
        const char *reason = json_string_value(json_object_get(answer, "reason"));
        printf("degraded: %s\n", reason ? reason : "(no reason given)");
        printf("  sluice-mover %s at %s is serving its API but has stopped making changes;\n"
               "  fix the cause (its log says more) and restart it\n",
               version ? version : "(version unknown)", socket_path);
        goto out;
    }
    if (status != 200 || state == NULL || strcmp(state, "ok") != 0) {
        char text[1024];
        fprintf(stderr, "sluice-review health: %s: %s\n", socket_path,
                api_client_describe_error(status, answer, text, sizeof(text)));
        goto out;
    }
    printf("ok: sluice-mover %s is serving %s\n", version ? version : "(version unknown)", socket_path);
    code = EXIT_HEALTHY;
out:
    json_decref(answer);
    sl_free(socket_path);
    return code;
}
