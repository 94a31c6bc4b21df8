/*
 * artifact_cmd.c — the reviewer's commands of sluice-review, on the daemon's socket API
 * (docs/api.md):
 *
 *   list [--state S] [--route R] [--limit N] [--json]   a table of artifacts
 *   show ID [--json]                                      manifest, findings, decisions, history
 *   fetch ID [-o FILE] [--force]                          download the quarantined bytes
 *   approve ID [--reason TEXT]                            approve (the SHA-256 is filled in)
 *   reject ID --reason TEXT                               reject
 *
 * The socket: --socket PATH, else $SLUICE_SOCKET, else api.socket of -c FILE, else
 * /run/sluice/api.sock. `fetch` asks the daemon for a short-lived URL (the download is
 * audited there), downloads with libcurl (a progress bar on a terminal), checks the
 * bytes against the artifact's SHA-256 and only then keeps the file. `approve` and
 * `reject` read the artifact first and send its SHA-256, so a decision is always about
 * the bytes the reviewer could have fetched.
 *
 * Exit codes: 0 done, 1 refused or failed (the message says what to do next), 2 usage.
 */
#include "artifact_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "api_client.h"
#include "util/alloc.h"

enum { EXIT_DONE = 0, EXIT_REFUSED = 1, EXIT_USAGE_ERROR = 2 };

struct common {
    const char *socket_option, *config;
    bool json;
    const char *state, *route, *output, *reason;
    long limit;
    bool force;
    const char *id;
};

static int usage_error(const char *command, const char *what)
{
    fprintf(stderr, "sluice-review %s: %s (see sluice-review --help)\n", command, what);
    return EXIT_USAGE_ERROR;
}

/* Parses the options every command shares plus its own; the ID is the one operand. */
static int parse(const char *command, int argc, char **argv, bool wants_id, struct common *c)
{
    enum { OPT_SOCKET = 1000, OPT_JSON, OPT_STATE, OPT_ROUTE, OPT_LIMIT, OPT_REASON, OPT_FORCE };
    static const struct option options[] = {
        { "socket", required_argument, NULL, OPT_SOCKET }, { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, OPT_JSON },           { "state", required_argument, NULL, OPT_STATE },
        { "route", required_argument, NULL, OPT_ROUTE },   { "limit", required_argument, NULL, OPT_LIMIT },
        { "reason", required_argument, NULL, OPT_REASON }, { "output", required_argument, NULL, 'o' },
        { "force", no_argument, NULL, OPT_FORCE },         { NULL, 0, NULL, 0 },
    };
    *c = (struct common){ .limit = 100 };
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:o:", options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case OPT_SOCKET: c->socket_option = optarg; break;
        case 'c': c->config = optarg; break;
        case OPT_JSON: c->json = true; break;
        case OPT_STATE: c->state = optarg; break;
        case OPT_ROUTE: c->route = optarg; break;
        case OPT_REASON: c->reason = optarg; break;
        case 'o': c->output = optarg; break;
        case OPT_FORCE: c->force = true; break;
        case OPT_LIMIT:
            c->limit = strtol(optarg, &end, 10);
            if (*end != '\0' || c->limit < 1 || c->limit > 1000) return usage_error(command, "--limit must be 1..1000");
            break;
        default: return usage_error(command, "unknown or incomplete option");
        }
    }
    if (wants_id) {
        if (optind >= argc) return usage_error(command, "which artifact? give its ID (see `sluice-review list`)");
        c->id = argv[optind++];
    }
    if (optind < argc) return usage_error(command, "too many arguments");
    return -1;
}

/* The user the daemon sees: the effective uid's name in the password database (never
 * $USER, which any caller sets as it likes and runuser or cron may not set at all), or
 * the uid's number when it has no entry — as the daemon names it. */
static const char *who_am_i(char *out, size_t size)
{
    uid_t uid = geteuid();
    struct passwd pw, *found = NULL;
    char scratch[4096];
    if (getpwuid_r(uid, &pw, scratch, sizeof(scratch), &found) == 0 && found != NULL)
        snprintf(out, size, "%s", pw.pw_name);
    else
        snprintf(out, size, "%lu", (unsigned long)uid);
    return out;
}

/* Calls the API; on an error answer prints it and returns false. *out owned by caller. */
static bool call(const char *command, const struct common *c, const char *method, const char *path, const char *body,
                 long *status, json_t **out)
{
    char err[512];
    char *socket = api_client_socket_path(c->socket_option, c->config, err, sizeof(err));
    if (socket == NULL) {
        fprintf(stderr, "sluice-review %s: %s\n", command, err);
        return false;
    }
    *out = NULL;
    bool ok = sl_ok(api_call(socket, method, path, body, status, out, err, sizeof(err)));
    sl_free(socket);
    if (!ok) {
        fprintf(stderr, "sluice-review %s: %s\n", command, err);
        return false;
    }
    if (*status >= 300) {
        char line[600];
        fprintf(stderr, "sluice-review %s: %s\n", command, api_client_describe_error(*status, *out, line, sizeof(line)));
        if (*status == 403) {
            char me[64];
            fprintf(stderr, "  (you are user '%s'; roles come from review.reviewers in the config)\n",
                    who_am_i(me, sizeof(me)));
        }
        json_decref(*out);
        *out = NULL;
        return false;
    }
    return true;
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* ---- list ---- */

static int cmd_list(int argc, char **argv)
{
    struct common c;
    int rc = parse("list", argc, argv, false, &c);
    if (rc >= 0) return rc;
    char path[512];
    int n = snprintf(path, sizeof(path), "/v1/artifacts?limit=%ld", c.limit);
    if (c.state) n += snprintf(path + n, sizeof(path) - (size_t)n, "&state=%s", c.state);
    if (c.route) snprintf(path + n, sizeof(path) - (size_t)n, "&route=%s", c.route);
    long status;
    json_t *r;
    if (!call("list", &c, "GET", path, NULL, &status, &r)) return EXIT_REFUSED;
    if (c.json) {
        json_dumpf(r, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(r);
        return EXIT_DONE;
    }
    json_t *items = json_object_get(r, "artifacts");
    printf("%-32s  %-10s  %-12s  %-16s  %10s  %s\n", "ID", "STATE", "ROUTE", "TASK", "BYTES", "NAME");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        printf("%-32s  %-10s  %-12s  %-16s  %10lld  %s\n", str(it, "id"), str(it, "state"), str(it, "route"),
               str(it, "task"), (long long)json_integer_value(json_object_get(it, "size")), str(it, "name"));
    }
    if (json_array_size(items) == 0) printf("(no artifacts%s%s)\n", c.state ? " in state " : "", c.state ? c.state : "");
    if (json_is_true(json_object_get(r, "truncated"))) printf("(more exist: narrow with --state/--route or raise --limit)\n");
    json_decref(r);
    return EXIT_DONE;
}

/* ---- show ---- */

static int cmd_show(int argc, char **argv)
{
    struct common c;
    int rc = parse("show", argc, argv, true, &c);
    if (rc >= 0) return rc;
    char path[128];
    snprintf(path, sizeof(path), "/v1/artifacts/%.64s", c.id);
    long status;
    json_t *m;
    if (!call("show", &c, "GET", path, NULL, &status, &m)) return EXIT_REFUSED;
    if (c.json) {
        json_dumpf(m, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(m);
        return EXIT_DONE;
    }
    printf("artifact  %s\nstate     %s\nroute     %s\ntask      %s\nname      %s\n", str(m, "id"), str(m, "state"),
           str(m, "route"), str(m, "task"), str(m, "name"));
    printf("size      %lld bytes\nsha256    %s\ntype      %s (declared: %s)\n",
           (long long)json_integer_value(json_object_get(m, "size")), str(m, "sha256"), str(m, "detected_type"),
           str(m, "declared_type"));
    printf("\nfindings\n");
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(m, "findings"), i, it)
        printf("  %-7s %-14s %s\n", str(it, "verdict"), str(it, "check"), str(it, "detail"));
    if (json_array_size(json_object_get(m, "decisions")) > 0) printf("\ndecisions\n");
    json_array_foreach(json_object_get(m, "decisions"), i, it)
        printf("  %s  %-8s %-8s %s\n", str(it, "time"), str(it, "reviewer"), str(it, "decision"), str(it, "reason"));
    printf("\nhistory\n");
    json_array_foreach(json_object_get(m, "history"), i, it)
        printf("  %s  %-11s -> %-11s by %-8s %s\n", str(it, "time"), str(it, "from"), str(it, "to"), str(it, "actor"),
               str(it, "detail"));
    json_decref(m);
    return EXIT_DONE;
}

/* ---- fetch ---- */

struct download {
    FILE *out;
    EVP_MD_CTX *sha;
    long long size, got;
    bool tty;
    time_t last;
};

static size_t on_data(char *data, size_t size, size_t count, void *user)
{
    struct download *d = user;
    size_t n = size * count;
    if (fwrite(data, 1, n, d->out) != n || EVP_DigestUpdate(d->sha, data, n) != 1) return 0;
    d->got += (long long)n;
    if (d->tty && d->size > 0) {
        time_t now = time(NULL);
        if (now != d->last || d->got == d->size) {
            int width = 40, done = (int)(d->got * width / d->size);
            fprintf(stderr, "\r[%.*s%*s] %3lld%% %lld/%lld bytes", done, "########################################",
                    width - done, "", d->got * 100 / d->size, d->got, d->size);
            d->last = now;
        }
    }
    return n;
}

static int cmd_fetch(int argc, char **argv)
{
    struct common c;
    int rc = parse("fetch", argc, argv, true, &c);
    if (rc >= 0) return rc;
    char path[128];
    snprintf(path, sizeof(path), "/v1/artifacts/%.64s", c.id);
    long status;
    json_t *m = NULL, *grant = NULL;
    if (!call("fetch", &c, "GET", path, NULL, &status, &m)) return EXIT_REFUSED;
    const char *name = strrchr(str(m, "name"), '/') ? strrchr(str(m, "name"), '/') + 1 : str(m, "name");
    char *target = sl_strdup(c.output ? c.output : name);
    json_decref(m);
    if (strcmp(target, "") == 0 || strcmp(target, ".") == 0 || strcmp(target, "..") == 0) {
        sl_free(target);
        return usage_error("fetch", "the artifact's name is not a usable file name; give -o FILE");
    }
    struct stat st;
    if (strcmp(target, "-") != 0 && !c.force && stat(target, &st) == 0) {
        fprintf(stderr, "sluice-review fetch: %s exists; give another -o FILE or --force\n", target);
        sl_free(target);
        return EXIT_REFUSED;
    }
    snprintf(path, sizeof(path), "/v1/artifacts/%.64s/fetch", c.id);
    if (!call("fetch", &c, "POST", path, NULL, &status, &grant)) {
        sl_free(target);
        return EXIT_REFUSED;
    }
    char partial[4200];
    bool to_stdout = strcmp(target, "-") == 0;
    snprintf(partial, sizeof(partial), "%s.partial", target);
    struct download d = { .size = (long long)json_integer_value(json_object_get(grant, "size")),
                          .tty = isatty(STDERR_FILENO) && !to_stdout };
    d.out = to_stdout ? stdout : fopen(partial, "wb");
    int result = EXIT_REFUSED;
    if (d.out == NULL) {
        fprintf(stderr, "sluice-review fetch: cannot write %s: %s\n", partial, strerror(errno));
        goto done;
    }
    d.sha = EVP_MD_CTX_new();
    CURL *curl = curl_easy_init();
    if (d.sha == NULL || curl == NULL || EVP_DigestInit_ex(d.sha, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "sluice-review fetch: cannot set up the download\n");
        if (curl) curl_easy_cleanup(curl);
        goto done;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, str(grant, "url"));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    CURLcode cc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    if (d.tty) fputc('\n', stderr);
    if (cc != CURLE_OK) {
        fprintf(stderr, "sluice-review fetch: download failed: %s\n", curl_err[0] ? curl_err : curl_easy_strerror(cc));
        goto done;
    }
    unsigned char md[32];
    unsigned int len = 0;
    char hex[65];
    EVP_DigestFinal_ex(d.sha, md, &len);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (strcmp(hex, str(grant, "sha256")) != 0) {
        fprintf(stderr, "sluice-review fetch: the bytes do not match: got SHA-256 %s, the artifact's is %s; "
                        "nothing kept — fetch again or report it\n", hex, str(grant, "sha256"));
        goto done;
    }
    if (!to_stdout) {
        if (fclose(d.out) != 0 || rename(partial, target) != 0) {
            d.out = NULL;
            fprintf(stderr, "sluice-review fetch: cannot keep %s: %s\n", target, strerror(errno));
            goto done;
        }
        d.out = NULL;
        fprintf(stderr, "%s: %lld bytes, SHA-256 %s verified\n", target, d.got, hex);
    }
    result = EXIT_DONE;
done:
    if (d.out != NULL && !to_stdout) fclose(d.out);
    if (result != EXIT_DONE && !to_stdout) unlink(partial);
    EVP_MD_CTX_free(d.sha);
    json_decref(grant);
    sl_free(target);
    return result;
}

/* ---- approve / reject ---- */

static int decide(const char *command, bool approve, int argc, char **argv)
{
    struct common c;
    int rc = parse(command, argc, argv, true, &c);
    if (rc >= 0) return rc;
    if (!approve && (c.reason == NULL || c.reason[0] == '\0'))
        return usage_error(command, "a rejection needs --reason TEXT (it is kept in the manifest and the audit log)");
    char path[128];
    snprintf(path, sizeof(path), "/v1/artifacts/%.64s", c.id);
    long status;
    json_t *m = NULL, *r = NULL;
    if (!call(command, &c, "GET", path, NULL, &status, &m)) return EXIT_REFUSED;
    json_t *body = json_pack("{s:s,s:s}", "decision", approve ? "approve" : "reject", "sha256", str(m, "sha256"));
    if (c.reason) json_object_set_new(body, "reason", json_string(c.reason));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_decref(m);
    snprintf(path, sizeof(path), "/v1/artifacts/%.64s/decision", c.id);
    bool ok = text != NULL && call(command, &c, "POST", path, text, &status, &r);
    free(text);
    if (!ok) return EXIT_REFUSED;
    printf("%s: %s (%s)\n", c.id, str(r, "state"), str(r, "detail"));
    json_decref(r);
    return EXIT_DONE;
}

int review_artifact_command(int argc, char **argv)
{
    const char *command = argv[0];
    if (strcmp(command, "list") == 0) return cmd_list(argc, argv);
    if (strcmp(command, "show") == 0) return cmd_show(argc, argv);
    if (strcmp(command, "fetch") == 0) return cmd_fetch(argc, argv);
    if (strcmp(command, "approve") == 0) return decide("approve", true, argc, argv);
    if (strcmp(command, "reject") == 0) return decide("reject", false, argc, argv);
    return usage_error(command, "not an artifact command");
}
