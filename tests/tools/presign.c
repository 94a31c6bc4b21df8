/*
 * presign.c — sluice-presign, a small test tool: prints a presigned S3 URL
 * (path-style: ENDPOINT/BUCKET/KEY) made by mover/s3/sigv4, so scripts can exercise the
 * signer against a real S3 server with curl. Credentials come from the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN); the signing
 * time is now, or --time for reproducible output.
 *
 * Exit codes: 0 printed, 1 signing failed, 2 usage error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3/credentials.h"
#include "s3/sigv4.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define MAX_HEADERS 32

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-presign --endpoint URL --region REGION --bucket BUCKET --key KEY\n"
            "                      [--method GET|PUT] [--expires SECONDS] [--header 'Name: value']...\n"
            "                      [--time UNIX_SECONDS]\n"
            "\n"
            "Prints a presigned URL (SigV4 query-string auth, path-style addressing) for\n"
            "METHOD (default GET) on ENDPOINT/BUCKET/KEY, valid for SECONDS (1-604800,\n"
            "default 900). Each --header is signed too, so the client must send it.\n"
            "KEY is the object key, unencoded (UTF-8). Credentials: AWS_ACCESS_KEY_ID,\n"
            "AWS_SECRET_ACCESS_KEY and optional AWS_SESSION_TOKEN.\n");
}

static int fail(const char *what)
{
    char text[640];
    fprintf(stderr, "sluice-presign: %s: %s\n", what, sl_error_describe(text, sizeof(text)));
    return 1;
}

/* "http://host:port" (an optional trailing "/") → scheme and host. */
static bool split_endpoint(const char *endpoint, sl_cursor *scheme, sl_cursor *host)
{
    const char *sep = strstr(endpoint, "://");
    if (sep == NULL || sep == endpoint) return false;
    *scheme = sl_cursor_from_bytes(endpoint, (size_t)(sep - endpoint));
    const char *h = sep + 3;
    size_t len = strlen(h);
    if (len > 0 && h[len - 1] == '/') len--;
    if (len == 0 || memchr(h, '/', len) != NULL || memchr(h, '?', len) != NULL) return false;
    *host = sl_cursor_from_bytes(h, len);
    return true;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "endpoint", required_argument, NULL, 'e' }, { "region", required_argument, NULL, 'r' },
        { "bucket", required_argument, NULL, 'b' },   { "key", required_argument, NULL, 'k' },
        { "method", required_argument, NULL, 'm' },   { "expires", required_argument, NULL, 'x' },
        { "header", required_argument, NULL, 'H' },   { "time", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
    };
    const char *endpoint = NULL, *region = NULL, *bucket = NULL, *key = NULL, *method = "GET";
    unsigned long long expires = 900;
    time_t now = time(NULL);
    sigv4_pair headers[MAX_HEADERS + 1];
    size_t header_count = 1; /* [0] is Host */
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "e:r:b:k:m:x:H:t:h", options, NULL)) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 'r': region = optarg; break;
        case 'b': bucket = optarg; break;
        case 'k': key = optarg; break;
        case 'm': method = optarg; break;
        case 'x':
            expires = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || optarg[0] == '-' || expires > UINT32_MAX) {
                fprintf(stderr, "sluice-presign: --expires wants a number of seconds\n");
                return 2;
            }
            break;
        case 't': {
            long long t = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0') {
                fprintf(stderr, "sluice-presign: --time wants seconds since the epoch\n");
                return 2;
            }
            now = (time_t)t;
            break;
        }
        case 'H': {
            const char *colon = strchr(optarg, ':');
            if (colon == NULL || header_count > MAX_HEADERS) {
                fprintf(stderr, "sluice-presign: --header wants 'Name: value' (at most %d)\n", MAX_HEADERS);
                return 2;
            }
            headers[header_count++] = (sigv4_pair){ sl_cursor_from_bytes(optarg, (size_t)(colon - optarg)),
                                                    sl_cursor_from_cstr(colon + 1) };
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !endpoint || !region || !bucket || !key) {
        fprintf(stderr, "sluice-presign: --endpoint, --region, --bucket and --key are required\n\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0) {
        fprintf(stderr, "sluice-presign: --method must be GET or PUT\n");
        return 2;
    }
    sl_cursor scheme, host;
    if (!split_endpoint(endpoint, &scheme, &host)) {
        fprintf(stderr, "sluice-presign: --endpoint must look like http://host:port\n");
        return 2;
    }
    if (*bucket == '\0' || strchr(bucket, '/') != NULL || *key == '\0') {
        fprintf(stderr, "sluice-presign: the bucket must be a name without '/' and the key non-empty\n");
        return 2;
    }

    s3_credentials creds = { 0 };
    if (sl_failed(s3_credentials_from_env(&creds))) return fail("credentials");
    int status = 1;
    sl_buf path = { 0 };
    sigv4_signed s = { 0 };
    headers[0] = (sigv4_pair){ sl_cursor_from_cstr("Host"), host };
    if (sl_failed(sl_buf_appendf(&path, "/%s/%s", bucket, key))) {
        status = fail("path");
        goto done;
    }
    sigv4_signing signing = { .credentials = &creds,
                              .region = sl_cursor_from_cstr(region),
                              .service = sl_cursor_from_cstr("s3"),
                              .time = now };
    sigv4_request req = { .method = sl_cursor_from_cstr(method),
                          .path = sl_cursor_from_buf(&path),
                          .uri_mode = SIGV4_URI_S3,
                          .headers = headers,
                          .header_count = header_count,
                          .payload_hash = sl_cursor_from_cstr(SIGV4_UNSIGNED_PAYLOAD),
                          .scheme = scheme };
    if (sl_failed(sigv4_presign(&signing, &req, (uint32_t)expires, &s))) {
        status = fail("presigning");
        goto done;
    }
    printf("%s\n", sl_buf_cstr(&s.url));
    status = 0;
done:
    sigv4_signed_clean_up(&s);
    sl_buf_clean_up(&path);
    s3_credentials_clean_up(&creds);
    return status;
}
