/*
 * verify_cmd.c — `sluice-review verify [--all] s3://BUCKET/KEY|PREFIX`.
 *
 * For each object: one streamed GET (s3_access.h) — the SHA-256 of the bytes is
 * computed as they arrive, the answer's user metadata and Content-Type are kept — then
 * attest_verify_object (mover/attest/attest.h) rebuilds the statement with the key the
 * object sits at and checks the signature against the trusted keys (--key FILE, and
 * attest.trusted_keys of -c FILE). Output: one line per object ("verified s3://…: …" or
 * "FAILED s3://…: <reason>: <why>"), a summary for --all, a progress bar on stderr when
 * it is a terminal (over the objects listed so far; "+" while more pages follow); --json prints one JSON object per line instead (and a summary line
 * for --all); --intoto prints each object's DSSE envelope as rebuilt from its metadata.
 * An object that cannot be read never counts as verified.
 *
 * Exit codes: 0 every object verified; 1 at least one did not (or --all found no object);
 * 2 usage error; 4 an object or a key could not be read (and none failed).
 */
#include "verify_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "attest/attest.h"
#include "s3_access.h"
#include "util/alloc.h"
#include "util/buf.h"

enum { EXIT_VERIFIED = 0, EXIT_NOT_VERIFIED = 1, EXIT_USAGE_ERROR = 2, EXIT_CANNOT_CHECK = 4 };

#define MAX_KEYS 64

static void verify_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-review verify [OPTIONS] s3://BUCKET/KEY\n"
            "       sluice-review verify --all [OPTIONS] s3://BUCKET/PREFIX\n"
            "\n"
            "Checks objects in the trusted bucket against their attestations: reads each object\n"
            "(SHA-256 computed while streaming), rebuilds the signed in-toto statement from its\n"
            "metadata and the key it sits at, and checks the Ed25519 signature against the\n"
            "trusted public keys. Uses your own S3 credentials; no daemon is needed.\n"
            "\n"
            "Options:\n"
            "  --key FILE         a trusted public key (PEM); repeat for several (rotation)\n"
            "  -c, --config FILE  trust attest.trusted_keys (and the public half of\n"
            "                     attest.signing_key when readable); take s3.endpoint/region\n"
            "  --all              verify every object under the PREFIX, with a summary\n"
            "  --json             one JSON object per line (and a summary line with --all)\n"
            "  --intoto           print each object's DSSE envelope (rebuilt from its metadata)\n"
            "  --endpoint URL     the S3 endpoint (default: $AWS_ENDPOINT_URL, -c, AWS)\n"
            "  --region REGION    (default: $AWS_REGION, $AWS_DEFAULT_REGION, -c, us-east-1)\n"
            "  --profile NAME     credentials from the shared credentials file (default: the\n"
            "                     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment)\n"
            "  -h, --help         show this help and exit\n"
            "\n"
            "Exit codes: 0 every object verified; 1 at least one did not verify (or --all\n"
            "            found none); 2 usage error; 4 an object or key could not be read.\n");
}

static int usage_error(const char *what, const char *arg)
{
    if (arg) fprintf(stderr, "sluice-review verify: %s '%s'\n", what, arg);
    else fprintf(stderr, "sluice-review verify: %s\n", what);
    fprintf(stderr, "Try: sluice-review verify --key KEY.pub s3://BUCKET/KEY   (sluice-review verify --help)\n");
    return EXIT_USAGE_ERROR;
}

typedef struct verifier {
    review_s3 s3;
    attest_keyring *ring;
    const char *bucket;
    bool json, intoto, progress;
    size_t total, verified, failed, unreadable;
    size_t reasons[ATTEST_CONTENT_CHANGED + 1];
} verifier;

/* What one GET collected. */
typedef struct reading {
    EVP_MD_CTX *md;
    review_s3_metadata meta;
    uint64_t bytes;
} reading;

static void on_headers(void *user, const s3_object_info *info)
{
    reading *r = user;
    review_s3_metadata_keep(&r->meta, info);
}

static void on_chunk(void *user, const uint8_t *data, size_t len)
{
    reading *r = user;
    if (EVP_DigestUpdate(r->md, data, len) != 1) abort(); /* cannot fail for SHA-256 */
    r->bytes += len;
}

static void reading_clean_up(reading *r)
{
    EVP_MD_CTX_free(r->md);
    review_s3_metadata_clean_up(&r->meta);
}

static void print_json(const verifier *v, const char *key, const attest_verdict *verdict, const char *sha256,
                       const char *error)
{
    json_t *o = json_object();
    char url[4096];
    snprintf(url, sizeof(url), "s3://%s/%s", v->bucket, key);
    json_object_set_new(o, "object", json_string(url));
    json_object_set_new(o, "verified", json_boolean(verdict && verdict->reason == ATTEST_VERIFIED));
    json_object_set_new(o, "reason", json_string(verdict ? attest_reason_name(verdict->reason) : "unreadable"));
    json_object_set_new(o, "detail", json_string(verdict ? verdict->detail : error));
    if (verdict && verdict->key_id[0]) json_object_set_new(o, "key_id", json_string(verdict->key_id));
    if (sha256) json_object_set_new(o, "sha256", json_string(sha256));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) printf("%s\n", text);
    free(text);
    json_decref(o);
}

static void clear_progress(const verifier *v)
{
    if (v->progress) fprintf(stderr, "\r\033[K");
}

static void report(verifier *v, const char *key, const attest_verdict *verdict, const char *sha256,
                   const char *error)
{
    clear_progress(v);
    if (v->intoto && verdict && verdict->envelope.len > 0) printf("%s\n", sl_buf_cstr(&verdict->envelope));
    if (v->json) {
        print_json(v, key, verdict, sha256, error);
    } else if (verdict == NULL) {
        fprintf(v->intoto ? stderr : stdout, "UNREADABLE s3://%s/%s: %s\n", v->bucket, key, error);
    } else if (verdict->reason == ATTEST_VERIFIED) {
        fprintf(v->intoto ? stderr : stdout, "verified s3://%s/%s: %s\n", v->bucket, key, verdict->detail);
    } else {
        fprintf(v->intoto ? stderr : stdout, "FAILED s3://%s/%s: %s: %s\n", v->bucket, key,
                attest_reason_name(verdict->reason), verdict->detail);
    }
    fflush(stdout);
}

static void verify_one(verifier *v, const char *key)
{
    reading r = { .md = EVP_MD_CTX_new() };
    v->total++;
    if (r.md == NULL || EVP_DigestInit_ex(r.md, EVP_sha256(), NULL) != 1) abort();
    if (sl_failed(review_s3_get(&v->s3, v->bucket, key, on_headers, on_chunk, &r))) {
        v->unreadable++;
        report(v, key, NULL, NULL, sl_error_detail());
        reading_clean_up(&r);
        return;
    }
    uint8_t digest[32];
    unsigned int dlen = 0;
    if (EVP_DigestFinal_ex(r.md, digest, &dlen) != 1) abort();
    char hex[65];
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    attest_object o = { .key = sl_cursor_from_cstr(key),
                        .content_type = sl_cursor_from_cstr(r.meta.content_type ? r.meta.content_type : ""),
                        .metadata = r.meta.pairs, .metadata_count = r.meta.count, .sha256 = sl_cursor_from_cstr(hex) };
    attest_verdict verdict;
    if (sl_failed(attest_verify_object(v->ring, &o, &verdict))) {
        v->unreadable++;
        report(v, key, NULL, hex, sl_error_detail());
    } else {
        if (verdict.reason == ATTEST_VERIFIED) v->verified++;
        else v->failed++;
        v->reasons[verdict.reason]++;
        report(v, key, &verdict, hex, NULL);
        attest_verdict_clean_up(&verdict);
    }
    reading_clean_up(&r);
}

/* A bar over the objects listed so far ("+": more pages to come), on stderr. */
static void show_progress(const verifier *v, size_t listed, bool more)
{
    if (!v->progress) return;
    enum { WIDTH = 30 };
    size_t filled = listed ? v->total * WIDTH / listed : 0;
    char bar[WIDTH + 1];
    for (size_t i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r\033[K[%s] %zu/%zu%s  %zu verified, %zu failed, %zu unreadable", bar, v->total, listed,
            more ? "+" : "", v->verified, v->failed, v->unreadable);
    fflush(stderr);
}

static int verify_all(verifier *v, const char *prefix)
{
    char *token = sl_strdup("");
    bool more = true;
    size_t listed = 0;
    while (more) {
        char **keys = NULL, *next = NULL;
        size_t count = 0;
        if (sl_failed(review_s3_list_page(&v->s3, v->bucket, prefix, NULL, token, 0, &keys, &count, &next))) {
            clear_progress(v);
            fprintf(stderr, "sluice-review verify: cannot list s3://%s/%s: %s\n", v->bucket, prefix, sl_error_detail());
            sl_free(token);
            return EXIT_CANNOT_CHECK;
        }
        listed += count;
        for (size_t i = 0; i < count; i++) {
            verify_one(v, keys[i]);
            show_progress(v, listed, next[0] != '\0');
        }
        review_s3_free_keys(keys, count);
        sl_free(token);
        token = next;
        more = token[0] != '\0';
    }
    sl_free(token);
    clear_progress(v);
    if (v->json) {
        json_t *s = json_pack("{s:{s:I,s:I,s:I,s:I}}", "summary", "objects", (json_int_t)v->total, "verified",
                              (json_int_t)v->verified, "failed", (json_int_t)v->failed, "unreadable",
                              (json_int_t)v->unreadable);
        json_t *reasons = json_object();
        for (size_t i = 1; i <= ATTEST_CONTENT_CHANGED; i++)
            if (v->reasons[i]) json_object_set_new(reasons, attest_reason_name((attest_reason)i), json_integer((json_int_t)v->reasons[i]));
        json_object_set_new(json_object_get(s, "summary"), "reasons", reasons);
        char *text = json_dumps(s, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text) printf("%s\n", text);
        free(text);
        json_decref(s);
    } else {
        FILE *out = v->intoto ? stderr : stdout;
        fprintf(out, "s3://%s/%s: %zu objects: %zu verified, %zu failed, %zu unreadable", v->bucket, prefix, v->total,
                v->verified, v->failed, v->unreadable);
        const char *sep = " (";
        for (size_t i = 1; i <= ATTEST_CONTENT_CHANGED; i++) {
            if (!v->reasons[i]) continue;
            fprintf(out, "%s%s %zu", sep, attest_reason_name((attest_reason)i), v->reasons[i]);
            sep = ", ";
        }
        fprintf(out, "%s\n", sep[0] == ',' ? ")" : "");
    }
    if (v->total == 0) {
        fprintf(stderr, "sluice-review verify: no object under s3://%s/%s\n", v->bucket, prefix);
        return EXIT_NOT_VERIFIED;
    }
    return EXIT_VERIFIED;
}

static int add_config_keys(attest_keyring *ring, const sl_config *c, const char *path)
{
    for (size_t i = 0; i < c->attest.trusted_key_count; i++) {
        if (sl_failed(attest_keyring_add_file(ring, c->attest.trusted_keys[i]))) {
            fprintf(stderr, "sluice-review verify: %s: attest.trusted_keys[%zu]: %s\n", path, i, sl_error_detail());
            return EXIT_CANNOT_CHECK;
        }
    }
    if (c->attest.signing_key != NULL && access(c->attest.signing_key, R_OK) == 0 &&
        sl_failed(attest_keyring_add_file(ring, c->attest.signing_key))) {
        fprintf(stderr, "sluice-review verify: %s: attest.signing_key: %s\n", path, sl_error_detail());
        return EXIT_CANNOT_CHECK;
    }
    return EXIT_VERIFIED;
}

int review_verify_command(int argc, char **argv)
{
    enum { OPT_KEY = 1000, OPT_ALL, OPT_JSON, OPT_INTOTO, OPT_ENDPOINT, OPT_REGION, OPT_PROFILE };
    static const struct option options[] = {
        { "key", required_argument, NULL, OPT_KEY },       { "config", required_argument, NULL, 'c' },
        { "all", no_argument, NULL, OPT_ALL },             { "json", no_argument, NULL, OPT_JSON },
        { "intoto", no_argument, NULL, OPT_INTOTO },       { "endpoint", required_argument, NULL, OPT_ENDPOINT },
        { "region", required_argument, NULL, OPT_REGION }, { "profile", required_argument, NULL, OPT_PROFILE },
        { "help", no_argument, NULL, 'h' },                { NULL, 0, NULL, 0 },
    };
    const char *keys[MAX_KEYS];
    size_t key_count = 0;
    bool all = false;
    verifier v = { 0 };
    review_s3_options so = { 0 };
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_KEY:
            if (key_count == MAX_KEYS) return usage_error("too many --key options", optarg);
            keys[key_count++] = optarg;
            break;
        case 'c': so.config_path = optarg; break;
        case OPT_ALL: all = true; break;
        case OPT_JSON: v.json = true; break;
        case OPT_INTOTO: v.intoto = true; break;
        case OPT_ENDPOINT: so.endpoint = optarg; break;
        case OPT_REGION: so.region = optarg; break;
        case OPT_PROFILE: so.profile = optarg; break;
        case 'h': verify_usage(stdout); return EXIT_VERIFIED;
        default: return usage_error("unknown option or missing value", argv[optind - 1]);
        }
    }
    if (optind >= argc) return usage_error("which object? give s3://BUCKET/KEY", NULL);
    if (optind + 1 < argc) return usage_error("one s3:// URL at a time; unexpected argument", argv[optind + 1]);
    if (v.json && v.intoto) return usage_error("--json and --intoto both print on stdout; choose one", NULL);
    char *bucket = NULL, *key = NULL;
    if (!review_s3_parse_url(argv[optind], &bucket, &key)) return usage_error("not an s3://BUCKET/KEY URL", argv[optind]);
    int status = EXIT_CANNOT_CHECK;
    if (!all && key[0] == '\0') {
        status = usage_error("no key in the URL (for a whole prefix, give --all)", argv[optind]);
        goto out;
    }
    if (sl_failed(attest_keyring_new(&v.ring))) goto out;
    for (size_t i = 0; i < key_count; i++) {
        if (sl_failed(attest_keyring_add_file(v.ring, keys[i]))) {
            fprintf(stderr, "sluice-review verify: --key %s: %s\n", keys[i], sl_error_detail());
            goto out;
        }
    }
    if (sl_failed(review_s3_open(&v.s3, &so))) {
        fprintf(stderr, "sluice-review verify: %s\n", sl_error_detail());
        goto out;
    }
    if (v.s3.config != NULL && (status = add_config_keys(v.ring, v.s3.config, so.config_path)) != EXIT_VERIFIED) goto out;
    if (attest_keyring_count(v.ring) == 0) {
        status = usage_error("no trusted key: give --key FILE.pub (or -c with attest.trusted_keys)", NULL);
        goto out;
    }
    v.bucket = bucket;
    v.progress = all && !v.json && isatty(STDERR_FILENO);
    status = all ? verify_all(&v, key) : EXIT_VERIFIED;
    if (!all) verify_one(&v, key);
    if (status == EXIT_VERIFIED && v.failed > 0) status = EXIT_NOT_VERIFIED;
    else if (status == EXIT_VERIFIED && v.unreadable > 0) status = EXIT_CANNOT_CHECK;
out:
    review_s3_close(&v.s3);
    attest_keyring_destroy(v.ring);
    sl_free(bucket);
    sl_free(key);
    return status;
}
