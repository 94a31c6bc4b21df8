/*
 * retry_cmd.c — `sluice-review retry` (see retry_cmd.h): parses the arguments, makes the
 * one API call and prints the answer for people (or JSON with --json).
 */
#include "retry_cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_client.h"
#include "state/artifact.h"
#include "util/alloc.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out, "Usage: sluice-review retry ID [--reason TEXT] [--socket PATH | -c FILE] [--json]\n"
                 "\n"
                 "Sends a failed artifact back to quarantined: it is checked again at once. Only\n"
                 "operators (review.operators) may; the retry is recorded with your user name.\n"
                 "\n"
                 "Exit codes: 0 done; 1 refused or failed (the message says why); 2 usage error.\n");
}

int review_retry_command(int argc, char **argv)
{
    static const struct option options[] = {
        { "reason", required_argument, NULL, 'r' }, { "socket", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
    };
    const char *reason = NULL, *socket_opt = NULL, *config = NULL;
    bool as_json = false;
    int opt;
    optind = 0; /* GNU getopt: start afresh, at argv[1] (argv[0] is "retry") */
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'r': reason = optarg; break;
        case 's': socket_opt = optarg; break;
        case 'c': config = optarg; break;
        case 'j': as_json = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "sluice-review retry: give exactly one artifact id\n\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *id = argv[optind];
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(id)))) {
        fprintf(stderr, "sluice-review retry: '%s' is not an artifact id (32 lower-case hex digits)\n", id);
        return EXIT_USAGE;
    }
    char err[2048];
    char *socket_path = api_client_socket_path(socket_opt, config, err, sizeof(err));
    if (socket_path == NULL) {
        fprintf(stderr, "sluice-review retry: %s\n", err);
        return EXIT_FAIL;
    }
    json_t *body = reason ? json_pack("{s:s}", "reason", reason) : json_object();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char path[128];
    snprintf(path, sizeof(path), "/v1/artifacts/%s/retry", id);
    long status = 0;
    json_t *answer = NULL;
    int code = EXIT_FAIL;
    if (text == NULL) {
        fprintf(stderr, "sluice-review retry: the reason is not valid UTF-8\n");
    } else if (sl_failed(api_call(socket_path, "POST", path, text, &status, &answer, err, sizeof(err)))) {
        fprintf(stderr, "sluice-review retry: %s\n", err);
    } else if (status != 200) {
        fprintf(stderr, "sluice-review retry: %s\n", api_client_describe_error(status, answer, err, sizeof(err)));
    } else {
        if (as_json) {
            char *out = json_dumps(answer, JSON_COMPACT);
            if (out) printf("%s\n", out);
            free(out);
        } else {
            printf("%s: %s\n", id, json_string_value(json_object_get(answer, "detail")));
        }
        code = EXIT_OK;
    }
    json_decref(answer);
    free(text);
    sl_free(socket_path);
    return code;
}
