/*
 * task_cmd.c — `sluice-review task open|close|list|show` (task_cmd.h), on api_client.h.
 *
 * Each subcommand builds its request, calls the daemon once, and prints the answer:
 * with --json (--format json) exactly the daemon's JSON on one line (for programs: the
 * grant's URLs, form fields or credentials are all in it); otherwise a summary for
 * people, and for `open` the ready-to-run commands that use the grant — curl PUTs and a
 * POST form for presigned grants, the AWS environment for STS credentials, curl GETs for
 * reference reads. `open --format env` prints only the export lines of the STS
 * credentials (eval them), `--format credentials-file` an AWS shared-credentials profile.
 * `show` prints what became of each object of a task and the task's grants. Every
 * failure is one line on stderr beginning "sluice-review task SUBCOMMAND: ".
 *
 * The socket is --socket PATH, else $SLUICE_SOCKET, else api.socket of -c FILE, else
 * /run/sluice/api.sock (api_client_socket_path).
 */
#include "task_cmd.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_client.h"
#include "config/config.h"
#include "util/alloc.h"
#include "util/buf.h"

enum { EXIT_DONE = 0, EXIT_REFUSED = 1, EXIT_USAGE_ERROR = 2 };

static void task_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-review task open --route ROUTE [--ttl DURATION] [--key NAME]...\n"
            "                               [--sized-key SIZE:NAME]... [--max-objects N]\n"
            "                               [--max-bytes SIZE] [--pattern GLOB] [--no-post]\n"
            "                               [--sts] [--reference KEY]... [--profile NAME]\n"
            "                               [--format text|json|env|credentials-file] [--json]\n"
            "       sluice-review task close ID [--json]\n"
            "       sluice-review task list [--state live|open|closed|expired|all] [--json]\n"
            "       sluice-review task show ID [--json]\n"
            "\n"
            "Open a task for an interpreter and get its upload grants, close it when the\n"
            "interpreter is done (later uploads are rejected), list tasks, or show what became\n"
            "of a task's objects. Only users in review.orchestrators may open, close and list;\n"
            "reviewers may also show.\n"
            "\n"
            "open:\n"
            "  --route ROUTE        the route the uploads go to (required)\n"
            "  --ttl DURATION       how long the task and its grants live, e.g. 30m\n"
            "                       (default grants.default_ttl; at most grants.max_ttl)\n"
            "  --key NAME           a name that gets a presigned PUT URL (written once)\n"
            "  --sized-key SIZE:NAME  the same, signed for exactly SIZE bytes (e.g. 2KiB:plot.png)\n"
            "  --max-objects N      at most N objects are accepted for the task\n"
            "  --max-bytes SIZE     each object at most SIZE, e.g. 10MiB (default: the route's)\n"
            "  --pattern GLOB       also allow names matching GLOB (* ** ? \\); with --key or\n"
            "                       --pattern, no other names are accepted\n"
            "  --no-post            no POST form: PUT URLs for the named keys only\n"
            "  --sts                STS credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
            "                       AWS_SESSION_TOKEN) instead of presigned URLs: PutObject under\n"
            "                       the task's prefix only (the route needs \"sts\": true)\n"
            "  --reference KEY      a reference object the task may read (in the route's\n"
            "                       allowlist): a presigned GET, or GetObject for STS credentials\n"
            "  --format FORMAT      text (default), json (the daemon's answer), env (export lines\n"
            "                       of the STS credentials: eval them), credentials-file (an AWS\n"
            "                       shared-credentials profile); env and credentials-file imply --sts\n"
            "  --profile NAME       the profile of --format credentials-file (default sluice-task)\n"
            "list:\n"
            "  --state STATE        live (open or closed, the default), open, closed, expired, all\n"
            "common:\n"
            "  --json               print the daemon's answer as JSON (one line); = --format json\n"
            "  --socket PATH        the daemon's API socket (default: $SLUICE_SOCKET, else\n"
            "                       api.socket of -c FILE, else /run/sluice/api.sock)\n"
            "  -c, --config FILE    take the socket from this configuration\n"
            "  -h, --help           show this help and exit\n"
            "\n"
            "Exit codes: 0 done, 1 refused or failed (the message says why), 2 usage error.\n");
}

static int usage_error(const char *sub, const char *what, const char *arg)
{
    fprintf(stderr, "sluice-review task%s%s: %s%s%s%s\n", sub ? " " : "", sub ? sub : "", what, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "");
    fprintf(stderr, "Try 'sluice-review task --help'.\n");
    return EXIT_USAGE_ERROR;
}

/* ---- output helpers ---- */

static const char *jtext(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Appends `s` quoted for a POSIX shell: '…' with each ' written as '\''. */
static sl_result append_quoted(sl_buf *out, const char *s)
{
    GUARD(sl_buf_append_byte(out, '\''));
    for (const char *p = s; *p; p++) {
        if (*p == '\'') GUARD(sl_buf_append_cstr(out, "'\\''"));
        else GUARD(sl_buf_append_byte(out, (uint8_t)*p));
    }
    return sl_buf_append_byte(out, '\'');
}

static void print_quoted(const char *s)
{
    sl_buf b = { 0 };
    if (sl_ok(append_quoted(&b, s))) fputs(sl_buf_cstr(&b), stdout);
    sl_buf_clean_up(&b);
}

static void print_json(const json_t *answer)
{
    char *dump = json_dumps(answer, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", dump ? dump : "{}");
    free(dump);
}

static void print_limits(const json_t *task)
{
    const json_t *limits = json_object_get(task, "limits");
    json_int_t max_objects = json_integer_value(json_object_get(limits, "max_objects"));
    json_int_t max_bytes = json_integer_value(json_object_get(limits, "max_bytes"));
    const json_t *keys = json_object_get(limits, "keys");
    const char *pattern = json_string_value(json_object_get(limits, "name_pattern"));
    printf("  Uploads go to s3://%s/%s", jtext(task, "bucket"), jtext(task, "prefix"));
    if (max_objects > 0) printf(": at most %" JSON_INTEGER_FORMAT " objects,", max_objects);
    printf(" each at most %" JSON_INTEGER_FORMAT " bytes.\n", max_bytes);
    if (json_array_size(keys) > 0 || pattern != NULL) {
        printf("  Accepted names:");
        size_t i;
        const json_t *k;
        json_array_foreach(keys, i, k) printf("%s %s", i ? "," : "", jtext(k, "name"));
        if (pattern) printf("%s names matching %s", json_array_size(keys) ? ", and" : "", pattern);
        printf("; any other name is rejected.\n");
    }
}

static void print_reference(const json_t *task);

/* The summary and the curl commands for a freshly opened task. */
static void print_grant(const json_t *task)
{
    const char *id = jtext(task, "task");
    printf("Task %s is open on route %s.\n", id, jtext(task, "route"));
    printf("  Opened by %s at %s; it expires at %s.\n", jtext(task, "opened_by"), jtext(task, "opened_at"),
           jtext(task, "expires_at"));
    print_limits(task);
    printf("  The grants below stop working at %s. Anything uploaded after the task is\n"
           "  closed is rejected and deleted; nothing can be read back through them.\n",
           jtext(task, "grant_expires_at"));

    const json_t *urls = json_object_get(task, "put_urls");
    const json_t *headers = json_object_get(task, "put_headers");
    if (json_object_size(urls) > 0) {
        printf("\nUpload each named key once (a second PUT of a key gets 412):\n");
        const char *name;
        const json_t *url;
        json_object_foreach((json_t *)urls, name, url) {
            printf("  curl -sS --fail -X PUT");
            const char *h;
            const json_t *v;
            json_object_foreach((json_t *)headers, h, v) {
                char header[256];
                snprintf(header, sizeof(header), "%s: %s", h, json_string_value(v));
                printf(" -H ");
                print_quoted(header);
            }
            printf(" --upload-file ");
            print_quoted(name);
            printf(" ");
            print_quoted(json_string_value(url));
            printf("\n");
        }
    }
    const json_t *post = json_object_get(task, "post");
    if (post != NULL) {
        printf("\nUpload any file under the task's prefix with the POST form (the file's own\n"
               "name becomes the key; replace FILE):\n  curl -sS --fail --form-string ");
        sl_buf key = { 0 };
        if (sl_ok(sl_buf_appendf(&key, "key=%s${filename}", jtext(post, "key_prefix")))) print_quoted(sl_buf_cstr(&key));
        sl_buf_clean_up(&key);
        const char *name;
        const json_t *value;
        json_object_foreach(json_object_get(post, "fields"), name, value) {
            sl_buf field = { 0 };
            if (sl_ok(sl_buf_appendf(&field, "%s=%s", name, json_string_value(value)))) {
                printf(" --form-string ");
                print_quoted(sl_buf_cstr(&field));
            }
            sl_buf_clean_up(&field);
        }
        printf(" -F 'file=@FILE' ");
        print_quoted(jtext(post, "url"));
        printf("\n");
    }
    print_reference(task);
    printf("\nClose the task when the interpreter is done:\n  sluice-review task close %s\n", id);
}

/* The reference reads of a grant: presigned GETs (curl lines) or, for STS, the keys. */
static void print_reference(const json_t *task)
{
    const json_t *ref = json_object_get(task, "reference");
    if (ref == NULL) return;
    const json_t *urls = json_object_get(ref, "get_urls");
    if (urls != NULL) {
        printf("\nRead the reference objects the task asked for (nothing else; no listing):\n");
        const char *name;
        const json_t *url;
        json_object_foreach((json_t *)urls, name, url) {
            printf("  curl -sS --fail -o ");
            const char *base = strrchr(name, '/');
            print_quoted(base ? base + 1 : name);
            printf(" ");
            print_quoted(json_string_value(url));
            printf("\n");
        }
        return;
    }
    printf("\nThe credentials may also GetObject, and nothing else, of s3://%s/:\n", jtext(ref, "bucket"));
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(ref, "keys"), i, k) printf("  %s\n", json_string_value(k));
}

/* The export lines of STS credentials (eval them in the interpreter's environment). */
static void print_env(const json_t *task)
{
    const json_t *c = json_object_get(task, "credentials");
    struct {
        const char *name;
        const char *value;
    } vars[] = {
        { "AWS_ACCESS_KEY_ID", jtext(c, "access_key_id") },
        { "AWS_SECRET_ACCESS_KEY", jtext(c, "secret_access_key") },
        { "AWS_SESSION_TOKEN", jtext(c, "session_token") },
        { "AWS_DEFAULT_REGION", jtext(c, "region") },
        { "AWS_ENDPOINT_URL", jtext(c, "endpoint") },
        { "SLUICE_TASK", jtext(task, "task") },
        { "SLUICE_TASK_BUCKET", jtext(task, "bucket") },
        { "SLUICE_TASK_PREFIX", jtext(task, "prefix") },
        { "SLUICE_TASK_EXPIRES_AT", jtext(c, "expires_at") },
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        printf("export %s=", vars[i].name);
        print_quoted(vars[i].value);
        printf("\n");
    }
    const json_t *ref = json_object_get(task, "reference");
    if (ref != NULL) {
        printf("export SLUICE_REFERENCE_BUCKET=");
        print_quoted(jtext(ref, "bucket"));
        printf("\n");
    }
}

/* An AWS shared-credentials profile (its values cannot hold a newline: checked). */
static int print_credentials_file(const json_t *task, const char *profile)
{
    const json_t *c = json_object_get(task, "credentials");
    const char *values[] = { jtext(c, "access_key_id"), jtext(c, "secret_access_key"), jtext(c, "session_token") };
    for (size_t i = 0; i < 3; i++) {
        if (values[i][0] == '\0' || strpbrk(values[i], "\r\n") != NULL) {
            fprintf(stderr, "sluice-review task open: the daemon's credentials cannot go into a credentials file\n");
            return EXIT_REFUSED;
        }
    }
    printf("# sluice task %s (route %s): PutObject under s3://%s/%s until %s\n", jtext(task, "task"),
           jtext(task, "route"), jtext(task, "bucket"), jtext(task, "prefix"), jtext(c, "expires_at"));
    printf("# endpoint %s, region %s; send x-amz-acl: bucket-owner-full-control with each PUT\n", jtext(c, "endpoint"),
           jtext(c, "region"));
    printf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n", profile, values[0],
           values[1], values[2]);
    return EXIT_DONE;
}

/* The summary for people of an STS grant. */
static void print_sts(const json_t *task)
{
    const json_t *c = json_object_get(task, "credentials");
    const char *id = jtext(task, "task");
    printf("Task %s is open on route %s, with STS credentials.\n", id, jtext(task, "route"));
    printf("  Opened by %s at %s; it expires at %s.\n", jtext(task, "opened_by"), jtext(task, "opened_at"),
           jtext(task, "expires_at"));
    print_limits(task);
    printf("  The credentials may only PutObject under that prefix, each PUT with\n"
           "  x-amz-acl: bucket-owner-full-control; they stop working at %s (session %s).\n"
           "  Anything uploaded after the task is closed is rejected and deleted.\n",
           jtext(c, "expires_at"), jtext(c, "session"));
    printf("\nThe interpreter's environment (or: sluice-review task open … --format env):\n");
    print_env(task);
    printf("\nFor example:\n  aws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 cp out.csv "
           "\"s3://$SLUICE_TASK_BUCKET/${SLUICE_TASK_PREFIX}out.csv\" --acl bucket-owner-full-control\n");
    print_reference(task);
    printf("\nClose the task when the interpreter is done:\n  sluice-review task close %s\n", id);
}

/* ---- the call ---- */

struct common {
    const char *socket_option;
    const char *config;
    bool as_json;
};

/* Calls the daemon; on a 2xx answer *answer is set and 0 returned, else the failure is
 * printed and EXIT_REFUSED returned. */
static int call(const char *sub, const struct common *c, const char *method, const char *path, const char *body,
                json_t **answer)
{
    char err[2048];
    char *socket_path = api_client_socket_path(c->socket_option, c->config, err, sizeof(err));
    if (socket_path == NULL) {
        fprintf(stderr, "sluice-review task %s: %s\n", sub, err);
        return EXIT_REFUSED;
    }
    long status = 0;
    json_t *json = NULL;
    int code = EXIT_REFUSED;
    if (sl_failed(api_call(socket_path, method, path, body, &status, &json, err, sizeof(err)))) {
        fprintf(stderr, "sluice-review task %s: %s\n", sub, err);
    } else if (status / 100 != 2 || json == NULL) {
        char text[1024];
        fprintf(stderr, "sluice-review task %s: %s\n", sub, api_client_describe_error(status, json, text, sizeof(text)));
    } else {
        *answer = json;
        json = NULL;
        code = EXIT_DONE;
    }
    json_decref(json);
    sl_free(socket_path);
    return code;
}

/* ---- open ---- */

static int task_open(int argc, char **argv, struct common *c)
{
    enum { OPT_ROUTE = 1000, OPT_TTL, OPT_KEY, OPT_SIZED_KEY, OPT_MAX_OBJECTS, OPT_MAX_BYTES, OPT_PATTERN,
           OPT_NO_POST, OPT_JSON, OPT_SOCKET, OPT_STS, OPT_REFERENCE, OPT_FORMAT, OPT_PROFILE };
    static const struct option options[] = {
        { "route", required_argument, NULL, OPT_ROUTE },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "key", required_argument, NULL, OPT_KEY },
        { "sized-key", required_argument, NULL, OPT_SIZED_KEY },
        { "max-objects", required_argument, NULL, OPT_MAX_OBJECTS },
        { "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
        { "pattern", required_argument, NULL, OPT_PATTERN },
        { "no-post", no_argument, NULL, OPT_NO_POST },
        { "sts", no_argument, NULL, OPT_STS },
        { "reference", required_argument, NULL, OPT_REFERENCE },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "json", no_argument, NULL, OPT_JSON },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    json_t *body = json_object(), *keys = json_array(), *refs = json_array();
    int code = EXIT_USAGE_ERROR;
    int opt;
    uint64_t number;
    bool sts = false;
    const char *format = "text", *profile = "sluice-task";
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_ROUTE: json_object_set_new(body, "route", json_string(optarg)); break;
        case OPT_TTL:
            if (!sl_parse_duration_ms(optarg, &number) || number == 0) {
                code = usage_error("open", "--ttl takes a duration such as 30m, not", optarg);
                goto out;
            }
            json_object_set_new(body, "ttl", json_string(optarg));
            break;
        case OPT_KEY: json_array_append_new(keys, json_string(optarg)); break;
        case OPT_SIZED_KEY: {
            const char *colon = strchr(optarg, ':');
            char size_text[32];
            if (colon == NULL || colon == optarg || colon[1] == '\0' || (size_t)(colon - optarg) >= sizeof(size_text)) {
                code = usage_error("open", "--sized-key takes SIZE:NAME (e.g. 2KiB:plot.png), not", optarg);
                goto out;
            }
            memcpy(size_text, optarg, (size_t)(colon - optarg));
            size_text[colon - optarg] = '\0';
            if (!sl_parse_size(size_text, &number)) {
                code = usage_error("open", "--sized-key: not a size", size_text);
                goto out;
            }
            json_array_append_new(keys, json_pack("{s:s, s:I}", "name", colon + 1, "size", (json_int_t)number));
            break;
        }
        case OPT_MAX_OBJECTS: {
            char *end = NULL;
            long long n = strtoll(optarg, &end, 10);
            if (end == optarg || *end != '\0' || n < 1 || n > 10000) {
                code = usage_error("open", "--max-objects takes a number from 1 to 10000, not", optarg);
                goto out;
            }
            json_object_set_new(body, "max_objects", json_integer(n));
            break;
        }
        case OPT_MAX_BYTES:
            if (!sl_parse_size(optarg, &number) || number == 0) {
                code = usage_error("open", "--max-bytes takes a size such as 10MiB, not", optarg);
                goto out;
            }
            json_object_set_new(body, "max_bytes", json_string(optarg));
            break;
        case OPT_PATTERN: json_object_set_new(body, "name_pattern", json_string(optarg)); break;
        case OPT_NO_POST: json_object_set_new(body, "post", json_false()); break;
        case OPT_STS: sts = true; break;
        case OPT_REFERENCE: json_array_append_new(refs, json_string(optarg)); break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0 && strcmp(optarg, "env") != 0 &&
                strcmp(optarg, "credentials-file") != 0) {
                code = usage_error("open", "--format takes text, json, env or credentials-file, not", optarg);
                goto out;
            }
            format = optarg;
            break;
        case OPT_PROFILE:
            if (optarg[0] == '\0' || strpbrk(optarg, "[]\r\n") != NULL) {
                code = usage_error("open", "--profile takes a profile name, not", optarg);
                goto out;
            }
            profile = optarg;
            break;
        case OPT_JSON: format = "json"; break;
        case OPT_SOCKET: c->socket_option = optarg; break;
        case 'c': c->config = optarg; break;
        case 'h':
            task_usage(stdout);
            code = EXIT_DONE;
            goto out;
        default: code = usage_error("open", "unknown or incomplete option", argv[optind - 1]); goto out;
        }
    }
    if (optind < argc) {
        code = usage_error("open", "unexpected argument", argv[optind]);
        goto out;
    }
    if (json_object_get(body, "route") == NULL) {
        code = usage_error("open", "--route is required", NULL);
        goto out;
    }
    if (strcmp(format, "env") == 0 || strcmp(format, "credentials-file") == 0) sts = true;
    if (json_array_size(keys) > 0) json_object_set(body, "keys", keys);
    if (json_array_size(refs) > 0) json_object_set(body, "reference", refs);
    if (sts) json_object_set_new(body, "grant", json_string("sts"));
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_t *answer = NULL;
    code = text ? call("open", c, "POST", "/v1/tasks", text, &answer) : EXIT_REFUSED;
    free(text);
    if (code == EXIT_DONE) {
        bool has_credentials = json_object_get(answer, "credentials") != NULL;
        if (strcmp(format, "json") == 0) print_json(answer);
        else if (strcmp(format, "env") == 0 && has_credentials) print_env(answer);
        else if (strcmp(format, "credentials-file") == 0 && has_credentials) code = print_credentials_file(answer, profile);
        else if (has_credentials) print_sts(answer);
        else print_grant(answer);
    }
    json_decref(answer);
out:
    json_decref(keys);
    json_decref(refs);
    json_decref(body);
    return code;
}

/* ---- close ---- */

/* Results of parse_common_only besides an exit code. */
enum { PARSED = -1, SHOWED_HELP = -2 };

static int parse_common_only(const char *sub, int argc, char **argv, struct common *c, const char **state)
{
    enum { OPT_JSON = 1000, OPT_SOCKET, OPT_STATE };
    static const struct option options[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "config", required_argument, NULL, 'c' },
        { "state", required_argument, NULL, OPT_STATE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_JSON: c->as_json = true; break;
        case OPT_SOCKET: c->socket_option = optarg; break;
        case 'c': c->config = optarg; break;
        case OPT_STATE:
            if (state == NULL) return usage_error(sub, "unknown option", "--state");
            *state = optarg;
            break;
        case 'h': task_usage(stdout); return SHOWED_HELP;
        default: return usage_error(sub, "unknown or incomplete option", argv[optind - 1]);
        }
    }
    return PARSED;
}

static int task_close(int argc, char **argv, struct common *c)
{
    int parsed = parse_common_only("close", argc, argv, c, NULL);
    if (parsed == SHOWED_HELP) return EXIT_DONE;
    if (parsed != PARSED) return parsed;
    if (optind >= argc) return usage_error("close", "the task id is missing", NULL);
    if (optind + 1 < argc) return usage_error("close", "unexpected argument", argv[optind + 1]);
    const char *id = argv[optind];
    for (const char *p = id; *p; p++) {
        bool ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                  *p == '-';
        if (!ok || strlen(id) > 128) return usage_error("close", "not a task id", id);
    }
    if (id[0] == '\0') return usage_error("close", "the task id is empty", NULL);
    char path[200];
    snprintf(path, sizeof(path), "/v1/tasks/%s/close", id);
    json_t *answer = NULL;
    int code = call("close", c, "POST", path, NULL, &answer);
    if (code == EXIT_DONE) {
        if (c->as_json) {
            print_json(answer);
        } else {
            printf("Task %s (route %s) is closed, at %s by %s.\n", jtext(answer, "task"), jtext(answer, "route"),
                   jtext(answer, "closed_at"), jtext(answer, "closed_by"));
            printf("  Objects uploaded after the close are rejected; its grants stop working at %s.\n",
                   jtext(answer, "expires_at"));
        }
    }
    json_decref(answer);
    return code;
}

/* ---- list ---- */

static int task_list(int argc, char **argv, struct common *c)
{
    const char *state = NULL;
    int parsed = parse_common_only("list", argc, argv, c, &state);
    if (parsed == SHOWED_HELP) return EXIT_DONE;
    if (parsed != PARSED) return parsed;
    if (optind < argc) return usage_error("list", "unexpected argument", argv[optind]);
    static const char *const states[] = { "live", "open", "closed", "expired", "all" };
    bool known = state == NULL;
    for (size_t i = 0; !known && i < sizeof(states) / sizeof(states[0]); i++) known = strcmp(state, states[i]) == 0;
    if (!known) return usage_error("list", "--state takes live, open, closed, expired or all, not", state);
    char path[64];
    snprintf(path, sizeof(path), "/v1/tasks%s%s", state ? "?state=" : "", state ? state : "");
    json_t *answer = NULL;
    int code = call("list", c, "GET", path, NULL, &answer);
    if (code == EXIT_DONE) {
        const json_t *tasks = json_object_get(answer, "tasks");
        if (c->as_json) {
            print_json(answer);
        } else if (json_array_size(tasks) == 0) {
            printf("No tasks (%s).\n", state ? state : "live");
        } else {
            printf("%-24s %-16s %-8s %-16s %-26s %s\n", "TASK", "ROUTE", "STATE", "OPENED BY", "EXPIRES AT",
                   "ACCEPTED");
            size_t i;
            const json_t *t;
            json_array_foreach(tasks, i, t) {
                char accepted[48] = "-";
                const json_t *limits = json_object_get(t, "limits");
                if (json_object_get(t, "accepted") != NULL)
                    snprintf(accepted, sizeof(accepted), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                             json_integer_value(json_object_get(t, "accepted")),
                             json_integer_value(json_object_get(limits, "max_objects")));
                printf("%-24s %-16s %-8s %-16s %-26s %s\n", jtext(t, "task"), jtext(t, "route"), jtext(t, "state"),
                       jtext(t, "opened_by"), jtext(t, "expires_at"), accepted);
            }
        }
    }
    json_decref(answer);
    return code;
}

/* ---- show ---- */

static void print_report(const json_t *answer)
{
    const json_t *task = json_object_get(answer, "task");
    printf("Task %s (route %s) is %s: opened by %s at %s, expires at %s.\n", jtext(task, "task"), jtext(task, "route"),
           jtext(task, "state"), jtext(task, "opened_by"), jtext(task, "opened_at"), jtext(task, "expires_at"));
    if (json_object_get(task, "closed_at"))
        printf("  Closed at %s by %s.\n", jtext(task, "closed_at"), jtext(task, "closed_by"));
    printf("\nGrants and changes (audit log):\n");
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(answer, "events"), i, e) {
        const json_t *d = json_object_get(e, "detail");
        printf("  %s  %-21s by %s", jtext(e, "time"), jtext(e, "event"), jtext(e, "actor"));
        if (json_object_get(d, "grant")) printf("; grant %s", jtext(d, "grant"));
        if (json_object_get(d, "session")) printf(", session %s", jtext(d, "session"));
        if (json_object_get(d, "keys") && json_is_array(json_object_get(d, "keys"))) {
            printf("; keys");
            size_t k;
            const json_t *key;
            json_array_foreach(json_object_get(d, "keys"), k, key) printf("%s %s", k ? "," : "", json_string_value(key));
        }
        printf("\n");
    }
    const json_t *objects = json_object_get(answer, "objects");
    printf("\nObjects (%zu):\n", json_array_size(objects));
    const json_t *o;
    json_array_foreach(objects, i, o) {
        const char *state = jtext(o, "state");
        printf("  %-32s %-12s %s", jtext(o, "name"), state, jtext(o, "artifact"));
        if (json_object_get(o, "trusted_key")) printf("  -> %s", jtext(o, "trusted_key"));
        else if (json_object_get(o, "reason")) printf("  (%s)", jtext(o, "reason"));
        printf("\n");
        if (json_object_get(o, "findings")) printf("  %-32s findings: %s\n", "", jtext(o, "findings"));
    }
    if (json_is_true(json_object_get(answer, "truncated"))) printf("  (more left out)\n");
}

static int task_show(int argc, char **argv, struct common *c)
{
    int parsed = parse_common_only("show", argc, argv, c, NULL);
    if (parsed == SHOWED_HELP) return EXIT_DONE;
    if (parsed != PARSED) return parsed;
    if (optind >= argc) return usage_error("show", "the task id is missing", NULL);
    if (optind + 1 < argc) return usage_error("show", "unexpected argument", argv[optind + 1]);
    const char *id = argv[optind];
    if (id[0] == '\0' || strlen(id) > 128 || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                        "0123456789_-") != strlen(id))
        return usage_error("show", "not a task id", id);
    char path[200];
    snprintf(path, sizeof(path), "/v1/tasks/%s", id);
    json_t *answer = NULL;
    int code = call("show", c, "GET", path, NULL, &answer);
    if (code == EXIT_DONE) {
        if (c->as_json) print_json(answer);
        else print_report(answer);
    }
    json_decref(answer);
    return code;
}

int review_task_command(int argc, char **argv)
{
    optind = 0; /* GNU getopt: start afresh */
    opterr = 0;
    if (argc < 2) return usage_error(NULL, "a subcommand is required: open, close, list or show", NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        task_usage(stdout);
        return EXIT_DONE;
    }
    struct common c = { 0 };
    /* the subcommand's own argv: argv[0] is the subcommand */
    if (strcmp(sub, "open") == 0) return task_open(argc - 1, argv + 1, &c);
    if (strcmp(sub, "close") == 0) return task_close(argc - 1, argv + 1, &c);
    if (strcmp(sub, "list") == 0) return task_list(argc - 1, argv + 1, &c);
    if (strcmp(sub, "show") == 0) return task_show(argc - 1, argv + 1, &c);
    return usage_error(NULL, "unknown subcommand (open, close, list, show)", sub);
}
