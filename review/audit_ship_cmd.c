/*
 * audit_ship_cmd.c — `sluice-review audit verify FILE --shipped`: checks a local audit
 * log against the segments the daemon shipped to the control prefix (mover/audit/ship.h).
 *
 * Every segment under <control_prefix>audit/<name>/ is fetched in order; its signed head
 * must verify with a trusted key (the public half of attest.signing_key and
 * attest.trusted_keys of -c FILE, or --key FILE), its lines must be the records its head
 * names, chained to the segment before; and its bytes must be the local file's bytes at
 * the same offsets. The first record that is missing locally or differs is named.
 * The local file itself is also walked whole (audit_verify_file), so an edit in the part
 * not shipped yet is found too. Output: "OK: FILE: N records, chain intact; records
 * 1-M match the K shipped segments" (exit 0), or "FILE: record R …" (exit 1); a check
 * that cannot finish (S3, keys) exits 4.
 */
#include "audit_ship_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "attest/keys.h"
#include "audit/audit.h"
#include "audit/segment.h"
#include "s3_access.h"
#include "util/alloc.h"

enum { EXIT_MATCHES = 0, EXIT_DIFFERS = 1, EXIT_USAGE_ERROR = 2, EXIT_CANNOT_CHECK = 4 };

typedef struct segment_read {
    sl_buf body;
    review_s3_metadata meta;
} segment_read;

static void on_headers(void *user, const s3_object_info *info)
{
    segment_read *r = user;
    review_s3_metadata_keep(&r->meta, info);
}

static void on_chunk(void *user, const uint8_t *data, size_t len)
{
    segment_read *r = user;
    if (r->body.len + len > AUDIT_SEGMENT_MAX_BYTES || sl_failed(sl_buf_append(&r->body, data, len))) r->body.len = SIZE_MAX / 2;
}

static void segment_read_clean_up(segment_read *r)
{
    sl_buf_clean_up(&r->body);
    review_s3_metadata_clean_up(&r->meta);
}

typedef struct shipped_check {
    review_s3 s3;
    attest_keyring *ring;
    const char *bucket;
    char *prefix;
    const char *name;
    const char *path;
    int fd;
    uint64_t size;
    audit_chain_point expect;
    size_t segments;
} shipped_check;

/* Reads up to len bytes of the local file at off (fewer at its end). */
static sl_result read_local(shipped_check *c, uint64_t off, size_t len, sl_buf *out)
{
    sl_buf_reset(out);
    if (off >= c->size) return SL_SUCCESS;
    if (c->size - off < len) len = (size_t)(c->size - off);
    GUARD(sl_buf_reserve(out, len));
    ssize_t n;
    do n = pread(c->fd, out->data, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    ENSURE(n >= 0, SL_ERR_IO, "%s: read: %s", c->path, strerror(errno));
    out->len = (size_t)n;
    return SL_SUCCESS;
}

/* 0 matched, 1 differs (printed), 4 cannot check (printed). */
static int check_segment(shipped_check *c, const char *key)
{
    segment_read r = { 0 };
    sl_buf local = { 0 };
    int status = EXIT_CANNOT_CHECK;
    if (sl_failed(review_s3_get(&c->s3, c->bucket, key, on_headers, on_chunk, &r))) {
        fprintf(stderr, "sluice-review audit: fetching s3://%s/%s: %s\n", c->bucket, key, sl_error_detail());
        goto out;
    }
    status = EXIT_DIFFERS;
    audit_segment_head h;
    uint64_t first = 0, last = 0;
    unsigned int dlen = 0;
    if (r.body.len > AUDIT_SEGMENT_MAX_BYTES) {
        printf("%s: shipped segment %s is larger than %zu bytes\n", c->path, key, AUDIT_SEGMENT_MAX_BYTES);
        goto out;
    }
    if (sl_failed(audit_segment_head_decode(r.meta.pairs, r.meta.count, &h)) ||
        sl_failed(audit_segment_key_parse(sl_cursor_from_cstr(key), c->prefix, &first, &last))) {
        printf("%s: shipped segment %s: %s\n", c->path, key, sl_error_detail());
        goto out;
    }
    if (first != h.first || last != h.last || strcmp(h.log, c->name) != 0 ||
        EVP_Digest(r.body.data, r.body.len, h.digest, &dlen, EVP_sha256(), NULL) != 1) {
        printf("%s: shipped segment %s: its head names other records or another log\n", c->path, key);
        goto out;
    }
    if (sl_failed(audit_segment_verify(c->ring, sl_cursor_from_cstr(key), &h))) {
        printf("%s: shipped segment %s: its signed head does not verify: %s\n", c->path, key, sl_error_detail());
        goto out;
    }
    if (sl_failed(audit_segment_check_bytes(sl_cursor_from_buf(&r.body), &h))) {
        printf("%s: shipped segment %s: %s\n", c->path, key, sl_error_detail());
        goto out;
    }
    if (h.first != c->expect.seq + 1 || h.start != c->expect.offset || CRYPTO_memcmp(h.prev, c->expect.hash, 32) != 0) {
        printf("%s: shipped segment %s does not follow the one before it: records from %" PRIu64
               " are missing or were replaced in the control prefix\n",
               c->path, key, c->expect.seq + 1);
        goto out;
    }
    if (sl_failed(read_local(c, h.start, (size_t)(h.end - h.start), &local))) {
        fprintf(stderr, "sluice-review audit: %s\n", sl_error_detail());
        status = EXIT_CANNOT_CHECK;
        goto out;
    }
    uint64_t record = 0;
    if (sl_failed(audit_segment_compare(sl_cursor_from_buf(&r.body), sl_cursor_from_buf(&local), &h, &record))) {
        printf("%s: %s (shipped in %s)\n", c->path, sl_error_detail(), key);
        goto out;
    }
    c->expect.seq = h.last;
    c->expect.offset = h.end;
    memcpy(c->expect.hash, h.head, 32);
    c->segments++;
    status = EXIT_MATCHES;
out:
    sl_buf_clean_up(&local);
    segment_read_clean_up(&r);
    return status;
}

static int check_all(shipped_check *c)
{
    char *token = sl_strdup("");
    int status = EXIT_MATCHES;
    do {
        char **keys = NULL, *next = NULL;
        size_t count = 0;
        if (sl_failed(review_s3_list_page(&c->s3, c->bucket, c->prefix, NULL, token, 0, &keys, &count, &next))) {
            fprintf(stderr, "sluice-review audit: listing s3://%s/%s: %s\n", c->bucket, c->prefix, sl_error_detail());
            sl_free(token);
            return EXIT_CANNOT_CHECK;
        }
        for (size_t i = 0; i < count && status == EXIT_MATCHES; i++) status = check_segment(c, keys[i]);
        review_s3_free_keys(keys, count);
        sl_free(token);
        token = next;
    } while (status == EXIT_MATCHES && token[0] != '\0');
    sl_free(token);
    return status;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice-review audit verify FILE --shipped -c CONFIG [--key FILE]...\n"
            "\n"
            "Checks the local audit log FILE against the segments the daemon shipped to the\n"
            "control prefix: each segment's signed head, the chain across segments, and the\n"
            "local bytes record by record; names the first record that is missing or differs.\n"
            "The bucket, prefix, log name, endpoint and trusted keys come from CONFIG; the S3\n"
            "credentials from the environment (AWS_ACCESS_KEY_ID, …), else the configuration's.\n"
            "\n"
            "Exit codes: 0 the file matches what was shipped, 1 it does not (or its chain is\n"
            "            broken), 2 usage error, 4 the check could not finish.\n");
}

int review_audit_shipped_command(const char *file, int argc, char **argv)
{
    enum { OPT_KEY = 1000, OPT_SHIPPED };
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "key", required_argument, NULL, OPT_KEY },
        { "shipped", no_argument, NULL, OPT_SHIPPED }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL;
    const char *keys[16];
    size_t key_count = 0;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case OPT_KEY:
            if (key_count < 16) keys[key_count++] = optarg;
            break;
        case OPT_SHIPPED: break;
        case 'h': usage(stdout); return EXIT_MATCHES;
        default:
            fprintf(stderr, "sluice-review audit: unknown option or missing value '%s'\n", argv[optind - 1]);
            return EXIT_USAGE_ERROR;
        }
    }
    if (config_path == NULL) {
        fprintf(stderr, "sluice-review audit: --shipped needs -c CONFIG (where the segments are)\n");
        return EXIT_USAGE_ERROR;
    }
    uint64_t lines = 0, bad_line = 0;
    sl_error_clear();
    if (sl_failed(audit_verify_file(file, &lines, &bad_line))) {
        if (bad_line > 0) {
            printf("%s: %s\n", file, sl_error_detail());
            return EXIT_DIFFERS;
        }
        fprintf(stderr, "sluice-review audit: %s\n", sl_error_detail());
        return EXIT_CANNOT_CHECK;
    }
    shipped_check c = { .path = file, .fd = -1 };
    int status = EXIT_CANNOT_CHECK;
    review_s3_options so = { .config_path = config_path, .config_credentials = true };
    if (sl_failed(review_s3_open(&c.s3, &so)) || sl_failed(attest_keyring_new(&c.ring))) {
        fprintf(stderr, "sluice-review audit: %s\n", sl_error_detail());
        goto out;
    }
    const sl_config *cfg = c.s3.config;
    for (size_t i = 0; i < cfg->attest.trusted_key_count; i++)
        if (sl_failed(attest_keyring_add_file(c.ring, cfg->attest.trusted_keys[i]))) goto key_error;
    if (cfg->attest.signing_key && access(cfg->attest.signing_key, R_OK) == 0 &&
        sl_failed(attest_keyring_add_file(c.ring, cfg->attest.signing_key)))
        goto key_error;
    for (size_t i = 0; i < key_count; i++)
        if (sl_failed(attest_keyring_add_file(c.ring, keys[i]))) goto key_error;
    if (attest_keyring_count(c.ring) == 0) {
        fprintf(stderr, "sluice-review audit: no trusted key (attest.trusted_keys, a readable attest.signing_key, --key)\n");
        goto out;
    }
    c.bucket = cfg->buckets.control;
    c.name = cfg->audit.name;
    sl_buf prefix = { 0 };
    if (sl_failed(sl_buf_appendf(&prefix, "%s" SL_AUDIT_KEY_FOLDER "%s/", cfg->buckets.control_prefix, cfg->audit.name))) goto out;
    c.prefix = sl_buf_steal(&prefix);
    c.fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (c.fd < 0 || fstat(c.fd, &st) != 0) {
        fprintf(stderr, "sluice-review audit: %s: %s\n", file, strerror(errno));
        goto out;
    }
    c.size = (uint64_t)st.st_size;
    status = check_all(&c);
    if (status == EXIT_MATCHES)
        printf("OK: %s: %" PRIu64 " records, chain intact; records 1-%" PRIu64 " match the %zu shipped segments\n", file,
               lines, c.expect.seq, c.segments);
    goto out;
key_error:
    fprintf(stderr, "sluice-review audit: %s\n", sl_error_detail());
out:
    if (c.fd >= 0) close(c.fd);
    sl_free(c.prefix);
    attest_keyring_destroy(c.ring);
    review_s3_close(&c.s3);
    return status;
}
