/*
 * test_audit.c — unit tests of the audit log (mover/audit/audit.c): the line format,
 * the hash chain and its verifier, group commit on a real libuv loop, reopening,
 * torn-tail repair, refusal of a corrupt tail, file modes, argument checks and write /
 * fsync failures. Every case works in its own temporary folder; the teardown checks
 * that the loop has no handle left (uv_loop_close), so a log that is not freed fails.
 *
 * Hashes are recomputed here with OpenSSL directly, so the chain is checked against
 * an implementation other than the one under test. Failures are provoked honestly:
 * /dev/full is dup2'd onto the log's descriptor (audit_log_fd_for_testing), so write(2)
 * returns ENOSPC and fdatasync(2) EINVAL, as the kernel reports them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uv.h>

#include "audit/audit.h"
#include "audit/line.h"
#include "util/alloc.h"
#include "util/buf.h"

#define ZEROS64 "0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
    uv_loop_t loop;
    char dir[PATH_MAX];
    char path[PATH_MAX + 32]; /* dir/audit.jsonl */
};

static void must(sl_result r)
{
    if (sl_failed(r)) {
        char text[600];
        print_error("unexpected failure: %s (%s)\n", sl_error_describe(text, sizeof(text)), sl_error_location());
    }
    assert_true(sl_ok(r));
}

static int setup(void **state)
{
    struct fixture *f = sl_calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/sluice-audit-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/audit.jsonl", f->dir);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&f->loop); /* UV_EBUSY: a handle of the log was left open */
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    sl_free(f);
    assert_int_equal(closed, 0);
    return 0;
}

/* ---- helpers ---- */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t md[32];
    unsigned md_len = 0;
    assert_int_equal(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static audit_log *open_log(struct fixture *f, uint64_t interval_ms)
{
    audit_log *log = NULL;
    must(audit_log_open(&f->loop, f->path, interval_ms, &log));
    assert_non_null(log);
    return log;
}

static void close_log(struct fixture *f, audit_log *log)
{
    audit_log_close(log);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void append_n(audit_log *log, int n, int first)
{
    for (int i = first; i < first + n; i++) {
        char artifact[32], detail[64];
        snprintf(artifact, sizeof(artifact), "artifact-%04d", i);
        snprintf(detail, sizeof(detail), "{\"i\":%d,\"key\":\"out-%d.csv\"}", i, i);
        audit_record r = { .event = "quarantine", .artifact = artifact, .from = "staged", .to = "quarantined",
                           .actor = "mover", .detail_json = detail };
        must(audit_log_append(log, &r));
    }
}

/* A file as lines (without newlines); the last element is what follows the last '\n'. */
struct lines {
    sl_buf text;
    char **line;
    size_t count; /* complete lines */
};

static void read_lines(const char *path, struct lines *out)
{
    *out = (struct lines){ 0 };
    must(sl_buf_read_file(&out->text, path, 64u << 20));
    out->line = sl_calloc(out->text.len + 2, sizeof(char *));
    char *p = (char *)out->text.data;
    char *end = p + out->text.len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) break;
        *nl = '\0';
        out->line[out->count++] = p;
        p = nl + 1;
    }
    out->line[out->count] = p < end ? p : NULL; /* a torn tail, if any */
}

static void lines_clean_up(struct lines *l)
{
    sl_buf_clean_up(&l->text);
    sl_free(l->line);
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void append_text(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Writes `count` lines (each followed by '\n'). */
static void write_lines(const char *path, char *const *line, size_t count)
{
    sl_buf b = { 0 };
    for (size_t i = 0; i < count; i++) {
        must(sl_buf_append_cstr(&b, line[i]));
        must(sl_buf_append_byte(&b, '\n'));
    }
    write_text(path, sl_buf_cstr(&b), b.len);
    sl_buf_clean_up(&b);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Verifies `path` and expects the first bad line and the exact detail. */
static void expect_bad(const char *path, uint64_t bad, const char *detail)
{
    uint64_t lines = 99, bad_line = 99;
    sl_error_clear();
    assert_true(sl_failed(audit_verify_file(path, &lines, &bad_line)));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    assert_int_equal(bad_line, bad);
    assert_int_equal(lines, bad - 1);
    if (strncmp(sl_error_detail(), detail, strlen(detail)) != 0)
        print_error("detail \"%s\" does not start with \"%s\"\n", sl_error_detail(), detail);
    assert_true(strncmp(sl_error_detail(), detail, strlen(detail)) == 0);
}

static void expect_good(const char *path, uint64_t records)
{
    uint64_t lines = 99, bad_line = 99;
    must(audit_verify_file(path, &lines, &bad_line));
    assert_int_equal(lines, records);
    assert_int_equal(bad_line, 0);
}

/* A crafted record: {"seq":SEQ,"time":…,BODY,"prev":"<hash of prev_line or zeros>"}. */
static char *crafted(uint64_t seq, const char *prev_line, const char *body)
{
    char prev[65] = ZEROS64;
    if (prev_line != NULL) sha256_hex(prev_line, strlen(prev_line), prev);
    sl_buf b = { 0 };
    must(sl_buf_appendf(&b, "{\"seq\":%" PRIu64 ",\"time\":\"2026-11-27T20:00:00.123Z\",%s%s\"prev\":\"%s\"}", seq,
                        body, body[0] ? "," : "", prev));
    return sl_buf_steal(&b);
}

struct flush_outcome {
    audit_log *log;
    int calls;
    bool ok;
    sl_error error;
    char detail[256];
    uint64_t fsyncs_seen; /* audit_log_fsyncs when the callback ran */
    int order;            /* completion order among outcomes sharing the counter */
    int *counter;
    sl_error append_error; /* when try_append: what an append from the callback got */
    bool try_append;
    bool close_in_callback;
};

static void on_flushed(void *user, sl_result result)
{
    struct flush_outcome *o = user;
    o->calls++;
    o->ok = sl_ok(result);
    o->error = o->ok ? SL_OK : sl_error_last();
    snprintf(o->detail, sizeof(o->detail), "%s", o->ok ? "" : sl_error_detail());
    o->fsyncs_seen = audit_log_fsyncs(o->log);
    if (o->counter) o->order = ++*o->counter;
    if (o->try_append) {
        audit_record r = { .event = "late", .actor = "mover" };
        sl_error_clear();
        o->append_error = sl_failed(audit_log_append(o->log, &r)) ? sl_error_last() : SL_OK;
    }
    if (o->close_in_callback) audit_log_close(o->log);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the format and the chain ---- */

static void appends_form_a_verified_chain(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 5);
    append_n(log, 48, 1);
    audit_record minimal = { .event = "fetch", .actor = "zo\xc3\xab" }; /* "zoë" */
    must(audit_log_append(log, &minimal));
    audit_record spaced = { .event = "approve", .artifact = "a1", .actor = "alice",
                            .detail_json = " { \"reason\" : \"looks fine\" , \"n\" : [1, 2] } " };
    must(audit_log_append(log, &spaced));
    assert_int_equal(audit_log_records(log), 50);
    close_log(f, log);

    expect_good(f->path, 50);
    struct lines l;
    read_lines(f->path, &l);
    assert_int_equal(l.count, 50);
    assert_null(l.line[50]);

    /* line 1: fixed key order, first prev is zeros, detail is an embedded object */
    const char *first = l.line[0];
    assert_true(strncmp(first, "{\"seq\":1,\"time\":\"", 17) == 0);
    const char *keys[] = { "\"seq\":", "\"time\":", "\"event\":\"quarantine\"", "\"artifact\":\"artifact-0001\"",
                           "\"from\":\"staged\"", "\"to\":\"quarantined\"", "\"actor\":\"mover\"",
                           "\"detail\":{\"i\":1,\"key\":\"out-1.csv\"}", "\"prev\":\"" ZEROS64 "\"}" };
    const char *at = first;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *hit = strstr(at, keys[i]);
        if (hit == NULL) print_error("key %s missing or out of order in %s\n", keys[i], first);
        assert_non_null(hit);
        at = hit + strlen(keys[i]);
    }
    assert_string_equal(at, ""); /* nothing after prev */

    /* every prev is the SHA-256 of the previous line's bytes without its newline */
    for (size_t i = 1; i < l.count; i++) {
        char want[65], field[80];
        sha256_hex(l.line[i - 1], strlen(l.line[i - 1]), want);
        snprintf(field, sizeof(field), ",\"prev\":\"%s\"}", want);
        size_t n = strlen(l.line[i]), m = strlen(field);
        assert_true(n > m);
        assert_string_equal(l.line[i] + n - m, field);
        char seq[32];
        snprintf(seq, sizeof(seq), "{\"seq\":%zu,", i + 1);
        assert_true(strncmp(l.line[i], seq, strlen(seq)) == 0);
    }

    /* absent optional fields are omitted; non-ASCII is escaped; detail is compacted */
    const char *min = l.line[48];
    assert_null(strstr(min, "\"artifact\""));
    assert_null(strstr(min, "\"from\""));
    assert_null(strstr(min, "\"to\""));
    assert_null(strstr(min, "\"detail\""));
    assert_non_null(strstr(min, "\"event\":\"fetch\",\"actor\":\"zo\\u00EB\",\"prev\":"));
    assert_non_null(strstr(l.line[49], "\"actor\":\"alice\",\"detail\":{\"reason\":\"looks fine\",\"n\":[1,2]},"));
    for (size_t i = 0; i < l.text.len; i++) assert_true(l.text.data[i] < 0x80 || l.text.data[i] == 0);
    lines_clean_up(&l);
}

/* Writes a 10-record log and returns its lines. */
static void ten_records(struct fixture *f, struct lines *l)
{
    audit_log *log = open_log(f, 1);
    append_n(log, 10, 1);
    close_log(f, log);
    expect_good(f->path, 10);
    read_lines(f->path, l);
    assert_int_equal(l->count, 10);
}

static void chain_detects_a_changed_byte(void **state)
{
    struct fixture *f = *state;
    struct lines l;
    ten_records(f, &l);
    char *p = strstr(l.line[3], "artifact-0004");
    assert_non_null(p);
    p[12] = '5'; /* still valid JSON, only the bytes differ */
    write_lines(f->path, l.line, l.count);
    expect_bad(f->path, 5, "line 5: prev does not match the SHA-256 of line 4");
    lines_clean_up(&l);
}

static void chain_detects_a_removed_line(void **state)
{
    struct fixture *f = *state;
    struct lines l;
    ten_records(f, &l);
    char *kept[9];
    for (size_t i = 0, k = 0; i < 10; i++)
        if (i != 3) kept[k++] = l.line[i];
    write_lines(f->path, kept, 9);
    expect_bad(f->path, 4, "line 4: seq 5 follows 3");
    /* removing the first line */
    write_lines(f->path, l.line + 1, 9);
    expect_bad(f->path, 1, "line 1: seq 2 where the first record must have seq 1");
    lines_clean_up(&l);
}

static void chain_detects_a_swapped_pair(void **state)
{
    struct fixture *f = *state;
    struct lines l;
    ten_records(f, &l);
    char *tmp = l.line[5];
    l.line[5] = l.line[6];
    l.line[6] = tmp;
    write_lines(f->path, l.line, l.count);
    expect_bad(f->path, 6, "line 6: seq 7 follows 5");
    lines_clean_up(&l);
}

static void chain_detects_an_inserted_line(void **state)
{
    struct fixture *f = *state;
    struct lines l;
    ten_records(f, &l);
    /* a copy of line 3 inserted after it */
    char *with_copy[11];
    for (size_t i = 0, k = 0; i < 10; i++) {
        with_copy[k++] = l.line[i];
        if (i == 2) with_copy[k++] = l.line[2];
    }
    write_lines(f->path, with_copy, 11);
    expect_bad(f->path, 4, "line 4: seq 3 follows 3");

    /* a forged line that links correctly to line 3: the old line 4 no longer does */
    char *forged = crafted(4, l.line[2], "\"event\":\"approve\",\"artifact\":\"evil\",\"actor\":\"mallory\"");
    char *with_forged[11];
    for (size_t i = 0, k = 0; i < 10; i++) {
        with_forged[k++] = l.line[i];
        if (i == 2) with_forged[k++] = forged;
    }
    write_lines(f->path, with_forged, 11);
    expect_bad(f->path, 5, "line 5: seq 4 follows 4");

    /* a forged line with the right seq but a made-up prev */
    char *unlinked = crafted(4, "not line 3", "\"event\":\"approve\",\"actor\":\"mallory\"");
    with_forged[3] = unlinked;
    write_lines(f->path, with_forged, 11);
    expect_bad(f->path, 4, "line 4: prev does not match the SHA-256 of line 3");
    sl_free(forged);
    sl_free(unlinked);
    lines_clean_up(&l);
}

static void chain_detects_a_changed_seq(void **state)
{
    struct fixture *f = *state;
    struct lines l;
    ten_records(f, &l);
    sl_buf changed = { 0 };
    assert_true(strncmp(l.line[5], "{\"seq\":6,", 9) == 0);
    must(sl_buf_appendf(&changed, "{\"seq\":60,%s", l.line[5] + 9));
    l.line[5] = (char *)changed.data;
    write_lines(f->path, l.line, l.count);
    expect_bad(f->path, 6, "line 6: seq 60 follows 5");
    sl_buf_clean_up(&changed);
    lines_clean_up(&l);
}

static void verify_names_malformed_lines(void **state)
{
    struct fixture *f = *state;
    struct lines l;
    ten_records(f, &l);

    /* a torn last line */
    sl_buf torn = { 0 };
    for (size_t i = 0; i < 10; i++) {
        must(sl_buf_append_cstr(&torn, l.line[i]));
        if (i < 9) must(sl_buf_append_byte(&torn, '\n'));
    }
    write_text(f->path, sl_buf_cstr(&torn), torn.len);
    expect_bad(f->path, 10, "line 10: last line has no newline (torn write?)");
    sl_buf_clean_up(&torn);

    /* not JSON, an empty line, CRLF */
    char *saved = l.line[2];
    l.line[2] = "garbage";
    write_lines(f->path, l.line, l.count);
    expect_bad(f->path, 3, "line 3: not JSON: ");
    l.line[2] = "";
    write_lines(f->path, l.line, l.count);
    expect_bad(f->path, 3, "line 3: empty line");
    l.line[2] = saved;
    sl_buf crlf = { 0 };
    must(sl_buf_appendf(&crlf, "%s\r", l.line[0]));
    l.line[0] = (char *)crlf.data;
    write_lines(f->path, l.line, 1);
    expect_bad(f->path, 1, "line 1: bytes around the JSON object");
    sl_buf_clean_up(&crlf);
    lines_clean_up(&l);

    /* crafted chains with one bad field each */
    struct {
        const char *body;
        const char *detail;
    } cases[] = {
        { "\"event\":\"x\"", "line 2: missing \"actor\"" },
        { "\"actor\":\"mover\"", "line 2: missing \"event\"" },
        { "\"event\":\"\",\"actor\":\"mover\"", "line 2: \"event\" is not a non-empty string" },
        { "\"event\":\"x\",\"actor\":7", "line 2: \"actor\" is not a non-empty string" },
        { "\"event\":\"x\",\"actor\":\"m\",\"detail\":[1]", "line 2: \"detail\" is not a JSON object" },
        { "\"event\":\"x\",\"artifact\":1,\"actor\":\"m\"", "line 2: \"artifact\" is not a string" },
        { "\"event\":\"x\",\"actor\":\"m\",\"actor\":\"n\"", "line 2: not JSON: duplicate object key" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *one = crafted(1, NULL, "\"event\":\"open\",\"actor\":\"mover\"");
        char *two = crafted(2, one, cases[i].body);
        char *pair[] = { one, two };
        write_lines(f->path, pair, 2);
        expect_bad(f->path, 2, cases[i].detail);
        sl_free(one);
        sl_free(two);
    }

    /* bad seq, time and prev fields, and a first line that is not first */
    char *first = crafted(1, NULL, "\"event\":\"open\",\"actor\":\"mover\"");
    char *lines_[2] = { first, NULL };
    lines_[1] = "{\"seq\":\"2\",\"time\":\"2026-11-27T20:00:00Z\",\"event\":\"x\",\"actor\":\"m\",\"prev\":\"" ZEROS64 "\"}";
    write_lines(f->path, lines_, 2);
    expect_bad(f->path, 2, "line 2: \"seq\" is not a positive integer");
    lines_[1] = "{\"seq\":2,\"time\":\"yesterday\",\"event\":\"x\",\"actor\":\"m\",\"prev\":\"" ZEROS64 "\"}";
    write_lines(f->path, lines_, 2);
    expect_bad(f->path, 2, "line 2: \"time\" is not an RFC 3339 UTC time");
    lines_[1] = "{\"seq\":2,\"time\":\"2026-11-27T20:00:00Z\",\"event\":\"x\",\"actor\":\"m\",\"prev\":\"ABC\"}";
    write_lines(f->path, lines_, 2);
    expect_bad(f->path, 2, "line 2: \"prev\" is not 64 lower-case hex digits");
    lines_[1] = "[1,2]";
    write_lines(f->path, lines_, 2);
    expect_bad(f->path, 2, "line 2: not a JSON object");
    char *not_first = crafted(1, "something", "\"event\":\"x\",\"actor\":\"m\"");
    write_lines(f->path, &not_first, 1);
    expect_bad(f->path, 1, "line 1: prev of the first record is not 64 zeros");
    sl_free(not_first);
    sl_free(first);

    /* a line longer than 1 MiB is refused before it is parsed */
    char *huge = sl_malloc(AUDIT_MAX_LINE + 2);
    memset(huge, 'x', AUDIT_MAX_LINE + 1);
    huge[AUDIT_MAX_LINE + 1] = '\0';
    write_lines(f->path, &huge, 1);
    expect_bad(f->path, 1, "line 1: longer than 1048576 bytes");
    sl_free(huge);

    /* an empty file is a log of no records; a missing one an I/O error */
    write_text(f->path, "", 0);
    expect_good(f->path, 0);
    uint64_t lines = 9, bad_line = 9;
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/none", f->dir);
    assert_true(sl_failed(audit_verify_file(missing, &lines, &bad_line)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_int_equal(bad_line, 0);
}

/* ---- group commit ---- */

static void many_appends_in_one_turn(struct fixture *f, int count, uint64_t max_fsyncs)
{
    audit_log *log = open_log(f, 5);
    double t0 = now_s();
    append_n(log, count, 1);
    double elapsed = now_s() - t0;
    assert_int_equal(audit_log_fsyncs(log), 0); /* the writes are done, the fsync waits */

    struct flush_outcome o = { .log = log };
    must(audit_log_flush(log, on_flushed, &o));
    assert_int_equal(o.calls, 0); /* never synchronous */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 1);
    assert_true(o.ok);
    assert_true(o.fsyncs_seen >= 1); /* the callback came after a completed fsync */
    uint64_t fsyncs = audit_log_fsyncs(log);
    assert_true(fsyncs >= 1 && fsyncs <= max_fsyncs);
    print_message("    %d appends in one loop turn: %" PRIu64 " fsync(s); %.0f appends/s (write(2) per line)\n",
                  count, fsyncs, (double)count / elapsed);
    close_log(f, log);
    expect_good(f->path, (uint64_t)count);
}

static void group_commit_1000_appends_cost_one_fsync(void **state)
{
    many_appends_in_one_turn(*state, 1000, 1);
}

static void group_commit_10000_appends_cost_one_fsync(void **state)
{
    many_appends_in_one_turn(*state, 10000, 1);
}

struct during_sync {
    audit_log *log;
    struct flush_outcome *second;
    uint64_t fsyncs_when_fired;
};

/* Fires in the same timer pass as the commit timer, just after it: the fsync it
 * started is on the thread pool and cannot have completed yet. */
static void append_while_syncing(uv_timer_t *timer)
{
    struct during_sync *d = timer->data;
    d->fsyncs_when_fired = audit_log_fsyncs(d->log);
    append_n(d->log, 5, 100);
    must(audit_log_flush(d->log, on_flushed, d->second));
    uv_close((uv_handle_t *)timer, NULL);
}

static void appends_during_an_fsync_wait_for_the_next(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 20);
    int counter = 0;
    struct flush_outcome first = { .log = log, .counter = &counter };
    struct flush_outcome second = { .log = log, .counter = &counter };
    append_n(log, 5, 1); /* arms the commit timer: due in 20 ms */
    must(audit_log_flush(log, on_flushed, &first));
    uv_timer_t timer;
    uv_timer_init(&f->loop, &timer);
    struct during_sync d = { .log = log, .second = &second };
    timer.data = &d;
    uv_timer_start(&timer, append_while_syncing, 20, 0); /* same due time, started later */
    uv_run(&f->loop, UV_RUN_DEFAULT);

    assert_int_equal(d.fsyncs_when_fired, 0);
    assert_int_equal(first.calls, 1);
    assert_int_equal(second.calls, 1);
    assert_true(first.ok && second.ok);
    assert_int_equal(first.order, 1);
    assert_int_equal(first.fsyncs_seen, 1);
    assert_int_equal(second.order, 2);
    assert_int_equal(second.fsyncs_seen, 2); /* not completed by the fsync it overlapped */
    assert_int_equal(audit_log_fsyncs(log), 2);
    close_log(f, log);
    expect_good(f->path, 10);
}

static void flush_with_nothing_new_completes_async_without_fsync(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    struct flush_outcome a = { .log = log }, b = { .log = log }, c = { .log = log };
    must(audit_log_flush(log, on_flushed, &a));
    assert_int_equal(a.calls, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(a.calls, 1);
    assert_true(a.ok);
    assert_int_equal(audit_log_fsyncs(log), 0);

    append_n(log, 3, 1);
    must(audit_log_flush(log, on_flushed, &b));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.fsyncs_seen, 1);

    must(audit_log_flush(log, on_flushed, &c));
    assert_int_equal(c.calls, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(c.calls, 1);
    assert_true(c.ok);
    assert_int_equal(audit_log_fsyncs(log), 1);

    assert_true(sl_failed(audit_log_flush(log, NULL, NULL)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);

    /* a flush already due when the log is closed still gets its callback */
    struct flush_outcome d = { .log = log };
    must(audit_log_flush(log, on_flushed, &d));
    close_log(f, log);
    assert_int_equal(d.calls, 1);
    assert_true(d.ok);
}

static void close_syncs_at_once_and_completes_flushes(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, AUDIT_MAX_COMMIT_INTERVAL_MS); /* a minute: close must not wait */
    append_n(log, 3, 1);
    struct flush_outcome o = { .log = log, .try_append = true };
    must(audit_log_flush(log, on_flushed, &o));
    double t0 = now_s();
    audit_log_close(log);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* returns once the log is freed */
    assert_true(now_s() - t0 < 10.0);
    assert_int_equal(o.calls, 1);
    assert_true(o.ok);
    assert_int_equal(o.fsyncs_seen, 1);
    assert_int_equal(o.append_error, SL_ERR_STATE); /* closing: appends are refused */
    expect_good(f->path, 3);
    audit_log_close(NULL);
}

static void a_flush_callback_may_close_the_log(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    append_n(log, 2, 1);
    struct flush_outcome o = { .log = log, .close_in_callback = true };
    must(audit_log_flush(log, on_flushed, &o));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 1);
    assert_true(o.ok);
    expect_good(f->path, 2); /* teardown's uv_loop_close proves the log was freed */
}

/* ---- opening an existing log ---- */

static void reopen_continues_the_chain(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    append_n(log, 5, 1);
    close_log(f, log);

    log = open_log(f, 1);
    assert_int_equal(audit_log_records(log), 0);
    append_n(log, 3, 6);
    assert_int_equal(audit_log_records(log), 3);
    close_log(f, log);
    expect_good(f->path, 8);

    struct lines l;
    read_lines(f->path, &l);
    char want[65];
    sha256_hex(l.line[4], strlen(l.line[4]), want);
    assert_true(strncmp(l.line[5], "{\"seq\":6,", 9) == 0);
    assert_non_null(strstr(l.line[5], want));
    lines_clean_up(&l);

    /* an open with no appends changes nothing */
    off_t before = file_size(f->path);
    log = open_log(f, 1);
    close_log(f, log);
    assert_int_equal(file_size(f->path), before);
    expect_good(f->path, 8);
}

static void torn_tail_is_cut_off_and_recorded(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    append_n(log, 3, 1);
    close_log(f, log);
    off_t intact = file_size(f->path);
    const char fragment[] = "{\"seq\":4,\"time\":\"20"; /* a crash in the middle of a write */
    append_text(f->path, fragment, strlen(fragment));
    expect_bad(f->path, 4, "line 4: last line has no newline (torn write?)");

    log = open_log(f, 1);
    assert_int_equal(audit_log_records(log), 1); /* the repair record */
    append_n(log, 1, 4);
    close_log(f, log);
    expect_good(f->path, 5);

    struct lines l;
    read_lines(f->path, &l);
    assert_int_equal(l.count, 5);
    char want[65], detail[300];
    sha256_hex(fragment, strlen(fragment), want);
    snprintf(detail, sizeof(detail),
             "\"event\":\"audit_repair\",\"actor\":\"mover\",\"detail\":{\"reason\":\"partial last line without a "
             "newline cut off at open\",\"dropped_bytes\":%zu,\"at_byte\":%lld,\"dropped_sha256\":\"%s\"},",
             strlen(fragment), (long long)intact, want);
    assert_true(strncmp(l.line[3], "{\"seq\":4,", 9) == 0);
    if (strstr(l.line[3], detail) == NULL) print_error("%s\nlacks\n%s\n", l.line[3], detail);
    assert_non_null(strstr(l.line[3], detail));
    assert_non_null(strstr(l.line[4], "\"artifact\":\"artifact-0004\""));
    lines_clean_up(&l);
}

static void a_torn_first_line_is_repaired_too(void **state)
{
    struct fixture *f = *state;
    write_text(f->path, "{\"seq\":1,\"ti", 12);
    audit_log *log = open_log(f, 1);
    close_log(f, log);
    expect_good(f->path, 1);
    struct lines l;
    read_lines(f->path, &l);
    assert_true(strncmp(l.line[0], "{\"seq\":1,", 9) == 0);
    assert_non_null(strstr(l.line[0], "\"event\":\"audit_repair\""));
    assert_non_null(strstr(l.line[0], "\"dropped_bytes\":12,\"at_byte\":0,"));
    assert_non_null(strstr(l.line[0], "\"prev\":\"" ZEROS64 "\"}"));
    lines_clean_up(&l);
}

/* Expects audit_log_open to fail with `code` and leave the file as it was. */
static void expect_open_refused(struct fixture *f, sl_error code, const char *detail_part)
{
    sl_buf before = { 0 }, after = { 0 };
    must(sl_buf_read_file(&before, f->path, 8u << 20));
    audit_log *log = NULL;
    sl_error_clear();
    assert_true(sl_failed(audit_log_open(&f->loop, f->path, 1, &log)));
    assert_null(log);
    assert_int_equal(sl_error_last(), code);
    if (strstr(sl_error_detail(), detail_part) == NULL)
        print_error("detail \"%s\" lacks \"%s\"\n", sl_error_detail(), detail_part);
    assert_non_null(strstr(sl_error_detail(), detail_part));
    must(sl_buf_read_file(&after, f->path, 8u << 20));
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    sl_buf_clean_up(&before);
    sl_buf_clean_up(&after);
}

static void a_corrupt_last_line_is_refused(void **state)
{
    struct fixture *f = *state;
    struct lines l;
    ten_records(f, &l);

    append_text(f->path, "garbage\n", 8);
    expect_open_refused(f, SL_ERR_PARSE, "the last line (at byte");
    expect_open_refused(f, SL_ERR_PARSE, "not JSON");

    write_lines(f->path, l.line, l.count);
    append_text(f->path, "{\"time\":\"x\"}\n", 13);
    expect_open_refused(f, SL_ERR_PARSE, "missing \"seq\"");

    write_lines(f->path, l.line, l.count);
    append_text(f->path, "\n", 1); /* ends with an empty line */
    expect_open_refused(f, SL_ERR_PARSE, "empty line");

    /* a well-formed last line that does not follow the one before it */
    char *dup[11];
    memcpy(dup, l.line, 10 * sizeof(char *));
    dup[10] = l.line[9];
    write_lines(f->path, dup, 11);
    expect_open_refused(f, SL_ERR_PARSE, "seq 10 but follows seq 10");
    char *unlinked = crafted(11, "not line 10", "\"event\":\"x\",\"actor\":\"m\"");
    dup[10] = unlinked;
    write_lines(f->path, dup, 11);
    expect_open_refused(f, SL_ERR_PARSE, "prev of the last line does not match");
    sl_free(unlinked);

    /* a single line that is not a first record */
    write_lines(f->path, &l.line[4], 1);
    expect_open_refused(f, SL_ERR_PARSE, "the only line is not a first record");

    /* more than AUDIT_MAX_LINE bytes after the last newline is no torn write */
    write_lines(f->path, l.line, l.count);
    char *junk = sl_malloc(AUDIT_MAX_LINE + 10);
    memset(junk, 'j', AUDIT_MAX_LINE + 10);
    append_text(f->path, junk, AUDIT_MAX_LINE + 10);
    sl_free(junk);
    expect_open_refused(f, SL_ERR_PARSE, "not a torn write");
    lines_clean_up(&l);
}

static void folders_are_created_0700_and_the_file_0600(void **state)
{
    struct fixture *f = *state;
    char deep[PATH_MAX + 32];
    snprintf(deep, sizeof(deep), "%s/a/b/audit.jsonl", f->dir);
    audit_log *log = NULL;
    must(audit_log_open(&f->loop, deep, 1, &log));
    struct stat st;
    char folder[PATH_MAX + 32];
    snprintf(folder, sizeof(folder), "%s/a", f->dir);
    assert_int_equal(stat(folder, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    snprintf(folder, sizeof(folder), "%s/a/b", f->dir);
    assert_int_equal(stat(folder, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(lstat(deep, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 0);
    int fd = audit_log_fd_for_testing(log);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_APPEND);

    /* one writer at a time */
    audit_log *second = NULL;
    assert_true(sl_failed(audit_log_open(&f->loop, deep, 1, &second)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_null(second);
    close_log(f, log);
    must(audit_log_open(&f->loop, deep, 1, &second));
    close_log(f, second);
}

static void a_symlink_or_folder_is_not_a_log(void **state)
{
    struct fixture *f = *state;
    char target[PATH_MAX + 16];
    snprintf(target, sizeof(target), "%s/target", f->dir);
    write_text(target, "", 0);
    assert_int_equal(symlink(target, f->path), 0);
    audit_log *log = NULL;
    assert_true(sl_failed(audit_log_open(&f->loop, f->path, 1, &log)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), "symbolic link"));
    assert_int_equal(file_size(target), 0);
    assert_int_equal(unlink(f->path), 0);
    /* a dangling link is refused as well, and not created through */
    assert_int_equal(unlink(target), 0);
    assert_int_equal(symlink(target, f->path), 0);
    assert_true(sl_failed(audit_log_open(&f->loop, f->path, 1, &log)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_int_equal(access(target, F_OK), -1);
    assert_int_equal(unlink(f->path), 0);

    assert_int_equal(mkdir(f->path, 0700), 0);
    assert_true(sl_failed(audit_log_open(&f->loop, f->path, 1, &log)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_null(log);
}

static void bad_arguments_are_refused(void **state)
{
    struct fixture *f = *state;
    audit_log *log = NULL;
    assert_true(sl_failed(audit_log_open(&f->loop, f->path, AUDIT_MAX_COMMIT_INTERVAL_MS + 1, &log)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(audit_log_open(&f->loop, "", 1, &log)));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(audit_log_open(NULL, f->path, 1, &log)));
    assert_null(log);

    log = open_log(f, 1);
    struct {
        audit_record record;
        sl_error code;
    } cases[] = {
        { { .actor = "mover" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "", .actor = "mover" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x", .actor = "" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x", .actor = "m", .detail_json = "[1]" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x", .actor = "m", .detail_json = "\"text\"" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x", .actor = "m", .detail_json = "not json" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x", .actor = "m", .detail_json = "{\"a\":1} {}" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x", .actor = "m", .detail_json = "{\"a\":1,\"a\":2}" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "\xff\xfe", .actor = "m" }, SL_ERR_INVALID_ARGUMENT },
        { { .event = "x", .artifact = "\xc3", .actor = "m" }, SL_ERR_INVALID_ARGUMENT },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error_clear();
        assert_true(sl_failed(audit_log_append(log, &cases[i].record)));
        assert_int_equal(sl_error_last(), cases[i].code);
    }
    assert_true(sl_failed(audit_log_append(log, NULL)));
    assert_true(sl_failed(audit_log_append(NULL, &cases[0].record)));

    /* the detail as an object: not an array, and not both forms at once */
    json_t *array = json_array(), *object = json_pack("{s:s}", "key", "a/b.csv");
    audit_record as_array = { .event = "x", .actor = "m", .detail = array };
    assert_true(sl_failed(audit_log_append(log, &as_array)));
    audit_record both = { .event = "x", .actor = "m", .detail = object, .detail_json = "{}" };
    assert_true(sl_failed(audit_log_append(log, &both)));

    /* nothing was written and the log is still usable: the next record is seq 1 */
    assert_int_equal(audit_log_records(log), 0);
    assert_int_equal(file_size(f->path), 0);
    audit_record ok = { .event = "x", .actor = "m" };
    must(audit_log_append(log, &ok));
    audit_record with_object = { .event = "y", .actor = "m", .detail = object };
    must(audit_log_append(log, &with_object));
    assert_int_equal(object->refcount, 1); /* borrowed, not taken */
    json_decref(array);
    json_decref(object);
    close_log(f, log);
    expect_good(f->path, 2);
    struct lines l = { 0 };
    read_lines(f->path, &l);
    assert_non_null(strstr(l.line[1], "\"detail\":{\"key\":\"a/b.csv\"}"));
    lines_clean_up(&l);
}

/* ---- failures ---- */

static void replace_fd(audit_log *log, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, audit_log_fd_for_testing(log)), audit_log_fd_for_testing(log));
    close(fd);
}

static void a_failed_write_breaks_the_log(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    append_n(log, 2, 1);
    struct flush_outcome synced = { .log = log };
    must(audit_log_flush(log, on_flushed, &synced));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(synced.ok);

    replace_fd(log, "/dev/full", O_WRONLY); /* write(2) now fails with ENOSPC */
    audit_record r = { .event = "approve", .artifact = "a", .actor = "alice" };
    sl_error_clear();
    assert_true(sl_failed(audit_log_append(log, &r)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), strerror(ENOSPC)));

    /* even with a working file again, the log stays broken */
    replace_fd(log, f->path, O_WRONLY | O_APPEND);
    sl_error_clear();
    assert_true(sl_failed(audit_log_append(log, &r)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), "broken"));
    assert_int_equal(audit_log_records(log), 2);

    /* what was written before the failure is still flushed */
    struct flush_outcome after = { .log = log };
    must(audit_log_flush(log, on_flushed, &after));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(after.calls, 1);
    assert_true(after.ok);
    close_log(f, log);
    expect_good(f->path, 2);
}

/* RLIMIT_FSIZE makes the kernel accept part of a line, then refuse the rest (EFBIG):
 * the partial line must be cut off again and the log broken. */
static void a_short_write_is_cut_off(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    append_n(log, 2, 1);
    off_t intact = file_size(f->path);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = { .rlim_cur = (rlim_t)intact + 10, .rlim_max = saved.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    audit_record r = { .event = "approve", .artifact = "a", .actor = "alice" };
    sl_error_clear();
    sl_result appended = audit_log_append(log, &r);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, saved_handler);

    assert_true(sl_failed(appended));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), "the partial line was cut off"));
    assert_int_equal(file_size(f->path), intact);
    assert_true(sl_failed(audit_log_append(log, &r)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    close_log(f, log);
    expect_good(f->path, 2);
}

/* ---- bounds: no input makes a record unwritable ---- */

/* ~1 MB of CJK text (3 bytes a character in UTF-8, 6 once \u-escaped: the ~2 MB line
 * that used to fail with SL_ERR_LIMIT and stop the daemon). */
static char *cjk_text(size_t bytes)
{
    char *text = sl_malloc(bytes + 1);
    size_t n = 0;
    while (n + 3 <= bytes) {
        memcpy(text + n, "\xe5\xae\xa1", 3); /* U+5BA1 */
        n += 3;
    }
    text[n] = '\0';
    return text;
}

static void long_texts_are_cut_so_every_record_fits(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    char *reason = cjk_text((size_t)1 << 20);
    size_t reason_len = strlen(reason);
    char expected_hash[65];
    sha256_hex(reason, reason_len, expected_hash);

    /* one long string in the detail: cut at a character boundary, marked with its size and hash */
    json_t *detail = json_pack("{s:s,s:s}", "decision", "reject", "reason", reason);
    audit_record r = { .event = "decision_refused", .artifact = "a", .actor = "alice", .detail = detail };
    must(audit_log_append(log, &r));
    assert_non_null(json_object_get(detail, "reason")); /* the caller's object is left as it was */
    assert_int_equal(json_string_length(json_object_get(detail, "reason")), reason_len);

    /* a detail of many strings, each under the bound, too large together: replaced */
    json_t *many = json_array();
    char *piece = cjk_text(AUDIT_MAX_TEXT);
    for (int i = 0; i < 80; i++) json_array_append_new(many, json_string(piece));
    json_t *wide = json_pack("{s:o}", "items", many);
    audit_record r2 = { .event = "x", .actor = "m", .detail = wide };
    must(audit_log_append(log, &r2));

    /* long top-level fields too */
    audit_record r3 = { .event = "x", .artifact = reason, .actor = reason, .detail_json = "{\"k\":1}" };
    must(audit_log_append(log, &r3));
    assert_int_equal(audit_log_records(log), 3);
    assert_null(audit_log_fault(log));
    close_log(f, log);
    expect_good(f->path, 3);

    struct lines l = { 0 };
    read_lines(f->path, &l);
    char marker[128];
    snprintf(marker, sizeof(marker), " [cut: %zu bytes, sha256 %s]", reason_len, expected_hash);
    for (size_t i = 0; i < 3; i++) assert_true(strlen(l.line[i]) <= AUDIT_MAX_LINE);
    json_t *first = json_loads(l.line[0], 0, NULL);
    const char *kept = json_string_value(json_object_get(json_object_get(first, "detail"), "reason"));
    assert_non_null(kept);
    assert_non_null(strstr(kept, marker));
    size_t prefix = (size_t)(strstr(kept, marker) - kept);
    assert_true(prefix <= AUDIT_MAX_TEXT && prefix > AUDIT_MAX_TEXT - 3);
    assert_int_equal(prefix % 3, 0); /* whole characters */
    assert_memory_equal(kept, reason, prefix);
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "detail"), "decision")), "reject");
    json_decref(first);
    json_t *second = json_loads(l.line[1], 0, NULL);
    json_t *stand_in = json_object_get(json_object_get(second, "detail"), "cut");
    assert_non_null(stand_in);
    assert_true(json_integer_value(json_object_get(stand_in, "bytes")) > (json_int_t)(80 * (AUDIT_MAX_TEXT - 3)));
    assert_int_equal(json_string_length(json_object_get(stand_in, "sha256")), 64);
    json_decref(second);
    json_t *third = json_loads(l.line[2], 0, NULL);
    assert_non_null(strstr(json_string_value(json_object_get(third, "actor")), marker));
    assert_non_null(strstr(json_string_value(json_object_get(third, "artifact")), marker));
    json_decref(third);
    lines_clean_up(&l);
    json_decref(detail);
    json_decref(wide);
    sl_free(piece);
    sl_free(reason);
}

/* ---- the line is written straight as text: the bytes jansson wrote before ---- */

#define JANSSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)

/* Appends code point cp as UTF-8. */
static void put_utf8(sl_buf *b, uint32_t cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) u[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800) u[0] = (uint8_t)(0xc0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        u[0] = (uint8_t)(0xe0 | cp >> 12), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
        u[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
    else
        u[0] = (uint8_t)(0xf0 | cp >> 18), u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f)),
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (uint8_t)(0x80 | (cp & 0x3f)), n = 4;
    must(sl_buf_append(b, u, n));
}

/* The text of one code point as jansson writes it, against audit_line_append_text. */
static void same_as_jansson(uint32_t cp)
{
    sl_buf text = { 0 }, mine = { 0 };
    put_utf8(&text, cp == 0 ? 'x' : cp);
    must(sl_buf_append_cstr(&text, "a/\"b"));
    json_t *s = json_string(sl_buf_cstr(&text));
    assert_non_null(s);
    char *theirs = json_dumps(s, JANSSON_FLAGS | JSON_ENCODE_ANY);
    must(audit_line_append_text(&mine, "t", sl_buf_cstr(&text)));
    if (strcmp(theirs, sl_buf_cstr(&mine)) != 0) fail_msg("U+%04X: jansson %s, line.c %s", cp, theirs, sl_buf_cstr(&mine));
    free(theirs);
    json_decref(s);
    sl_buf_clean_up(&text);
    sl_buf_clean_up(&mine);
}

static void texts_are_escaped_as_jansson_escapes_them(void **state)
{
    (void)state;
    for (uint32_t cp = 0; cp < 0x800; cp++) same_as_jansson(cp);
    for (uint32_t cp = 0x800; cp < 0x110000; cp += 97)
        if (cp < 0xd800 || cp > 0xdfff) same_as_jansson(cp);
    same_as_jansson(0xffff);
    same_as_jansson(0x10000);
    same_as_jansson(0x10ffff);
    /* not UTF-8: refused with the field's name, as json_string refuses it */
    const char *bad[] = { "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xff", "\xe2\x82" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_buf out = { 0 };
        assert_null(json_string(bad[i]));
        assert_true(sl_failed(audit_line_append_text(&out, "actor", bad[i])));
        assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(sl_error_detail(), "\"actor\" of an audit record is not valid UTF-8"));
        sl_error_clear();
        sl_buf_clean_up(&out);
    }
}

/* A text of random code points from every class (ASCII with its controls, two-, three-
 * and four-byte sequences), at most `max` of them. */
static char *random_text(unsigned *seed, size_t max)
{
    sl_buf b = { 0 };
    size_t n = (size_t)rand_r(seed) % (max + 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t cp;
        switch (rand_r(seed) % 5) {
        case 0: cp = 1 + (uint32_t)rand_r(seed) % 0x7f; break;
        case 1: cp = (uint32_t)"\"\\/\b\f\n\r\t\x7f"[rand_r(seed) % 9]; break;
        case 2: cp = 0x80 + (uint32_t)rand_r(seed) % (0x800 - 0x80); break;
        case 3: cp = 0x800 + (uint32_t)rand_r(seed) % (0x10000 - 0x800); break;
        default: cp = 0x10000 + (uint32_t)rand_r(seed) % (0x110000 - 0x10000); break;
        }
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        put_utf8(&b, cp);
    }
    must(sl_buf_append_byte(&b, 0));
    char *s = sl_strdup(b.len > 1 ? (const char *)b.data : "x");
    sl_buf_clean_up(&b);
    return s;
}

/* The line as jansson wrote it before: one object of the record's fields (seq, time and
 * prev taken from the line written), dumped compact, in order, ASCII only. */
static char *jansson_line(const char *written, const audit_record *r, json_t *detail)
{
    json_t *got = json_loads(written, 0, NULL);
    assert_non_null(got);
    json_t *o = json_object();
    json_object_set(o, "seq", json_object_get(got, "seq"));
    json_object_set(o, "time", json_object_get(got, "time"));
    json_object_set_new(o, "event", json_string(r->event));
    if (r->artifact) json_object_set_new(o, "artifact", json_string(r->artifact));
    if (r->from) json_object_set_new(o, "from", json_string(r->from));
    if (r->to) json_object_set_new(o, "to", json_string(r->to));
    json_object_set_new(o, "actor", json_string(r->actor));
    if (detail) json_object_set(o, "detail", detail);
    json_object_set(o, "prev", json_object_get(got, "prev"));
    char *line = json_dumps(o, JANSSON_FLAGS);
    json_decref(o);
    json_decref(got);
    return line;
}

static void lines_are_the_bytes_jansson_wrote(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    enum { RECORDS = 300 };
    unsigned seed = 17;
    audit_record records[RECORDS];
    json_t *details[RECORDS];
    char *texts[RECORDS][6];
    for (int i = 0; i < RECORDS; i++) {
        for (int k = 0; k < 6; k++) texts[i][k] = random_text(&seed, 40);
        /* details as callers hand them: an object (nested, numbers, booleans, null), or text */
        details[i] = json_pack("{s:s,s:i,s:b,s:n,s:{s:s,s:[s,f]}}", "k", texts[i][5], "n", i - 150, "b", i % 2,
                               "z", "nested", "inner", texts[i][0], "list", texts[i][1], 0.5 * i);
        assert_non_null(details[i]);
        records[i] = (audit_record){ .event = texts[i][0], .artifact = i % 3 ? texts[i][1] : NULL,
                                     .from = i % 4 ? texts[i][2] : NULL, .to = i % 5 ? texts[i][3] : NULL,
                                     .actor = texts[i][4], .detail = i % 7 ? details[i] : NULL };
        if (i % 11 == 0) {
            records[i].detail = NULL;
            records[i].detail_json = "{\"key\":\"out/\\u00e9t\u00e9.csv\",\"size\":1024,\"x\":[1,2.5,true,null]}";
        }
        must(audit_log_append(log, &records[i]));
    }
    close_log(f, log);
    expect_good(f->path, RECORDS);
    struct lines l = { 0 };
    read_lines(f->path, &l);
    assert_int_equal(l.count, RECORDS);
    for (int i = 0; i < RECORDS; i++) {
        json_t *detail = records[i].detail ? json_incref(records[i].detail)
                         : records[i].detail_json ? json_loads(records[i].detail_json, 0, NULL) : NULL;
        char *want = jansson_line(l.line[i], &records[i], detail);
        if (strcmp(want, l.line[i]) != 0) fail_msg("line %d:\n jansson %s\n written %s", i + 1, want, l.line[i]);
        free(want);
        json_decref(detail);
    }
    lines_clean_up(&l);
    for (int i = 0; i < RECORDS; i++) {
        json_decref(details[i]);
        for (int k = 0; k < 6; k++) sl_free(texts[i][k]);
    }
}

/* A fault of the log is named by audit_log_fault (health reports it). */
static void a_fault_is_named(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    assert_null(audit_log_fault(log));
    replace_fd(log, "/dev/full", O_WRONLY);
    audit_record r = { .event = "x", .actor = "m" };
    assert_true(sl_failed(audit_log_append(log, &r)));
    assert_non_null(audit_log_fault(log));
    assert_non_null(strstr(audit_log_fault(log), strerror(ENOSPC)));
    close_log(f, log);
    assert_null(audit_log_fault(NULL));
}

static void a_failed_fsync_fails_flushes_and_appends(void **state)
{
    struct fixture *f = *state;
    audit_log *log = open_log(f, 1);
    append_n(log, 2, 1);
    replace_fd(log, "/dev/full", O_WRONLY); /* fdatasync(2) now fails with EINVAL */
    struct flush_outcome o = { .log = log };
    must(audit_log_flush(log, on_flushed, &o));
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 1);
    assert_false(o.ok);
    assert_int_equal(o.error, SL_ERR_IO);
    assert_non_null(strstr(o.detail, "fdatasync"));
    assert_int_equal(audit_log_fsyncs(log), 0);

    audit_record r = { .event = "x", .actor = "m" };
    assert_true(sl_failed(audit_log_append(log, &r)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    struct flush_outcome never = { .log = log };
    assert_true(sl_failed(audit_log_flush(log, on_flushed, &never)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    close_log(f, log);
    assert_int_equal(never.calls, 0);
    expect_good(f->path, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(appends_form_a_verified_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_detects_a_changed_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_detects_a_removed_line, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_detects_a_swapped_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_detects_an_inserted_line, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_detects_a_changed_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(verify_names_malformed_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(group_commit_1000_appends_cost_one_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(group_commit_10000_appends_cost_one_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(appends_during_an_fsync_wait_for_the_next, setup, teardown),
        cmocka_unit_test_setup_teardown(flush_with_nothing_new_completes_async_without_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(close_syncs_at_once_and_completes_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_callback_may_close_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_continues_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_tail_is_cut_off_and_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(a_torn_first_line_is_repaired_too, setup, teardown),
        cmocka_unit_test_setup_teardown(a_corrupt_last_line_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(folders_are_created_0700_and_the_file_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(a_symlink_or_folder_is_not_a_log, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_write_breaks_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(a_short_write_is_cut_off, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_fsync_fails_flushes_and_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(long_texts_are_cut_so_every_record_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(a_fault_is_named, setup, teardown),
        cmocka_unit_test(texts_are_escaped_as_jansson_escapes_them),
        cmocka_unit_test_setup_teardown(lines_are_the_bytes_jansson_wrote, setup, teardown),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
