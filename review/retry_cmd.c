/*
 * retry_cmd.c — the operators' commands `sluice-review retry` and `sluice-review
 * recheck` (see retry_cmd.h): one table row each (the endpoint, whether a reason is
 * taken, the usage); parses the arguments, makes the one API call and prints the answer
 * for people (or JSON with --json).
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

struct operator_command {
    const char *name;     /* "retry" */
    const char *endpoint; /* POST /v1/artifacts/{id}/<endpoint> */
    bool reason;          /* takes --reason */
    const char *usage;
};

static const struct operator_command commands[] = {
    { "retry", "retry", true,
      "Usage: sluice-review retry ID [--reason TEXT] [--socket PATH | -c FILE] [--json]\n"
      "\n"
      "Sends a failed artifact back to quarantined: it is checked again at once. Only\n"
      "operators (review.operators) may; the retry is recorded with your user name.\n"
      "\n"
      "Exit codes: 0 done; 1 refused or failed (the message says why); 2 usage error.\n" },
    { "recheck", "recheck", false,
      "Usage: sluice-review recheck ID [--socket PATH | -c FILE] [--json]\n"
      "\n"
      "Checks an artifact waiting for a decision again, from its quarantine copy, with the\n"
      "rules and signatures in force: its manifest gains the new findings, and a new\n"
      "failure blocks it. Only operators (review.operators) may; the re-check is recorded\n"
      "with your user name.\n"
      "\n"
      "Exit codes: 0 done; 1 refused or failed (the message says why); 2 usage error.\n" },
};

static void print_answer(const char *id, const json_t *answer)
{
    printf("%s: %s\n", id, json_string_value(json_object_get(answer, "detail")));
    const json_t *added = json_object_get(answer, "findings");
    size_t i;
    const json_t *f;
    json_array_foreach(added, i, f) {
        printf("  %s %s: %s\n", json_string_value(json_object_get(f, "verdict")),
               json_string_value(json_object_get(f, "check")), json_string_value(json_object_get(f, "detail")));
    }
}

int review_operator_command(int argc, char **argv)
{
    const struct operator_command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[0], commands[i].name) == 0) cmd = &commands[i];
    if (cmd == NULL) return EXIT_USAGE;
    static const struct option options[] = {
        { "reason", required_argument, NULL, 'r' }, { "socket", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
    };
    const char *reason = NULL, *socket_opt = NULL, *config = NULL;
    bool as_json = false;
    int opt;
    optind = 0; /* GNU getopt: start afresh, at argv[1] (argv[0] is the command) */
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            if (!cmd->reason) {
                fprintf(stderr, "sluice-review %s: takes no --reason\n\n%s", cmd->name, cmd->usage);
                return EXIT_USAGE;
            }
            reason = optarg;
            break;
        case 's': socket_opt = optarg; break;
        case 'c': config = optarg; break;
        case 'j': as_json = true; break;
        case 'h': fputs(cmd->usage, stdout); return EXIT_OK;
        default: fputs(cmd->usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "sluice-review %s: give exactly one artifact id\n\n%s", cmd->name, cmd->usage);
        return EXIT_USAGE;
    }
    const char *id = argv[optind];
    if (sl_failed(artifact_id_check(sl_cursor_from_cstr(id)))) {
        fprintf(stderr, "sluice-review %s: '%s' is not an artifact id (32 lower-case hex digits)\n", cmd->name, id);
        return EXIT_USAGE;
    }
    char err[2048];
    char *socket_path = api_client_socket_path(socket_opt, config, err, sizeof(err));
    if (socket_path == NULL) {
        fprintf(stderr, "sluice-review %s: %s\n", cmd->name, err);
        return EXIT_FAIL;
    }
    json_t *body = reason ? json_pack("{s:s}", "reason", reason) : json_object();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char path[128];
    snprintf(path, sizeof(path), "/v1/artifacts/%s/%s", id, cmd->endpoint);
    long status = 0;
    json_t *answer = NULL;
    int code = EXIT_FAIL;
    if (text == NULL) {
        fprintf(stderr, "sluice-review %s: the reason is not valid UTF-8\n", cmd->name);
    } else if (sl_failed(api_call(socket_path, "POST", path, text, &status, &answer, err, sizeof(err)))) {
        fprintf(stderr, "sluice-review %s: %s\n", cmd->name, err);
    } else if (status != 200) {
        fprintf(stderr, "sluice-review %s: %s\n", cmd->name, api_client_describe_error(status, answer, err, sizeof(err)));
    } else {
        if (as_json) {
            char *out = json_dumps(answer, JSON_COMPACT);
            if (out) printf("%s\n", out);
            free(out);
        } else {
            print_answer(id, answer);
        }
        code = EXIT_OK;
    }
    json_decref(answer);
    free(text);
    sl_free(socket_path);
    return code;
}
