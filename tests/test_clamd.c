/*
 * test_clamd.c — the clamd client (mover/checks/clamd.h) and the "clamav" finding of the
 * content checker.
 *
 * What is clamd's behaviour is tested against the real clamd that scripts/clamd.sh
 * starts with the project's test signatures (SLUICE_CLAMD_SOCKET; scripts/test.sh
 * exports it): clean, EICAR split across chunks, the project's own pattern, sessions
 * reused, clamd's own size limit (StreamMaxLength 16M there). Only what a healthy clamd
 * never does — a garbled answer, an answer with the wrong id, silence, a close without
 * an answer, an over-long answer, a session closed while idle — is played by a tiny
 * peer in a thread of this test, on a socket of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "checks/clamd.h"
#include "checks_driver.h"
#include "util/alloc.h"

/* The EICAR test string and the project's test pattern, each from two halves. */
static const char *eicar(void)
{
    static char s[80];
    snprintf(s, sizeof(s), "%s%s", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-", "ANTIVIRUS-TEST-FILE!$H+H*");
    return s;
}

static const char *pattern(void)
{
    static char s[80];
    snprintf(s, sizeof(s), "%s%s", "SLUICE-MALWARE-TEST-", "PATTERN-5f2c9e1a-DO-NOT-PROMOTE");
    return s;
}

static const char *clamd_socket(void)
{
    const char *s = getenv("SLUICE_CLAMD_SOCKET");
    if (s == NULL || s[0] == '\0')
        fail_msg("SLUICE_CLAMD_SOCKET is not set: scripts/clamd.sh start && eval \"$(scripts/clamd.sh env)\"");
    return s;
}

static clamd_pool *pool_at(const char *socket, uint64_t timeout_ms)
{
    clamd_options o = { .socket = socket, .timeout_ms = timeout_ms, .connections = 2 };
    clamd_pool *p = NULL;
    assert_true(sl_ok(clamd_pool_new(&o, &p)));
    return p;
}

/* Scans `data` fed in pieces of `piece` bytes; returns the verdict, the reply in *r. */
static clamd_verdict scan(clamd_pool *p, uint64_t max, const void *data, size_t len, size_t piece, clamd_reply *r)
{
    clamd_scan *s = clamd_scan_new(p, max);
    for (size_t off = 0; off < len; off += piece)
        clamd_scan_feed(s, (const uint8_t *)data + off, len - off < piece ? len - off : piece);
    clamd_scan_finish(s, r);
    clamd_scan_destroy(s);
    return r->verdict;
}

/* ---- the answer reader ---- */

static clamd_verdict parse(const char *text, uint32_t id, clamd_reply *r)
{
    return clamd_reply_parse((const uint8_t *)text, strlen(text), id, r);
}

static void answers_are_read_strictly(void **state)
{
    (void)state;
    clamd_reply r;
    assert_int_equal(parse("1: stream: OK", 1, &r), CLAMD_OK);
    assert_int_equal(parse("stream: OK", 0, &r), CLAMD_OK);
    assert_int_equal(parse("12: stream: Eicar-Test-Signature FOUND", 12, &r), CLAMD_FOUND);
    assert_string_equal(r.text, "Eicar-Test-Signature");
    assert_int_equal(parse("3: INSTREAM size limit exceeded. ERROR", 3, &r), CLAMD_ERROR);
    assert_string_equal(r.text, "INSTREAM size limit exceeded. ERROR");
    /* everything else never passes */
    const char *garbled[] = {
        "2: stream: OK",             /* another command's answer */
        "01: stream: OK",            /* not clamd's number */
        "1:stream: OK",              "1: stream: OK ",  "1: stream:  OK", "1: stream: ok", "1: OK",
        "1: stream: FOUND",          /* no name */
        "1: stream:  FOUND",         "1: stream: two words FOUND", "1: stream: a\tb FOUND",
        "1: stream: OK FOUND OK",    "1: ", "", "1", "1: ERROR", "stream: OK", /* id expected */
        "4294967297: stream: OK",    "1: COMMAND READ TIMED OUT",
    };
    for (size_t i = 0; i < sizeof(garbled) / sizeof(garbled[0]); i++) {
        clamd_verdict v = parse(garbled[i], 1, &r);
        if (v != CLAMD_GARBLED) fail_msg("\"%s\" read as %d", garbled[i], v);
    }
    assert_int_equal(parse("1: stream: OK", 0, &r), CLAMD_GARBLED); /* no id expected */
    /* a NUL inside, a name too long, an answer too long */
    assert_int_equal(clamd_reply_parse((const uint8_t *)"1: stream: OK\0x", 15, 1, &r), CLAMD_GARBLED);
    char name[CLAMD_NAME_MAX + 40];
    memset(name, 0, sizeof(name));
    memcpy(name, "1: stream: ", 11);
    memset(name + 11, 'A', CLAMD_NAME_MAX + 1);
    memcpy(name + 11 + CLAMD_NAME_MAX + 1, " FOUND", 6);
    assert_int_equal(parse(name, 1, &r), CLAMD_GARBLED);
    name[11 + CLAMD_NAME_MAX] = ' ';
    memmove(name + 11 + CLAMD_NAME_MAX, " FOUND", 7);
    assert_int_equal(parse(name, 1, &r), CLAMD_FOUND);
    assert_int_equal(strlen(r.text), CLAMD_NAME_MAX);
    /* what is shown of an answer is printable */
    assert_int_equal(parse("1: \x1b[31m ERROR", 1, &r), CLAMD_ERROR);
    assert_null(strchr(r.text, '\x1b'));
}

/* ---- the real clamd ---- */

static void probe_finds_clamd_and_names_what_is_missing(void **state)
{
    (void)state;
    clamd_pool *p = pool_at(clamd_socket(), 5000);
    char version[256];
    assert_true(sl_ok(clamd_pool_probe(p, version, sizeof(version))));
    assert_non_null(strstr(version, "ClamAV "));
    clamd_pool_destroy(p);

    p = pool_at("/nonexistent/clamd.sock", 1000);
    assert_true(sl_failed(clamd_pool_probe(p, version, sizeof(version))));
    assert_int_equal(sl_error_last(), SL_ERR_CONNECTION);
    assert_non_null(strstr(sl_error_detail(), "/nonexistent/clamd.sock cannot be reached"));
    clamd_reply r;
    assert_int_equal(scan(p, 100, "x", 1, 1, &r), CLAMD_FAILED);
    assert_non_null(strstr(r.text, "cannot be reached"));
    clamd_pool_destroy(p);
}

static void real_clamd_judges_and_sessions_are_reused(void **state)
{
    (void)state;
    clamd_pool *p = pool_at(clamd_socket(), 10000);
    clamd_reply r;
    const char *clean = "a perfectly ordinary report\n";
    assert_int_equal(scan(p, 1 << 20, clean, strlen(clean), 5, &r), CLAMD_OK);
    /* EICAR inside text, split across many chunks */
    char text[256];
    snprintf(text, sizeof(text), "header line\n%s\ntrailer\n", eicar());
    assert_int_equal(scan(p, 1 << 20, text, strlen(text), 7, &r), CLAMD_FOUND);
    assert_non_null(strstr(r.text, "Eicar-Test-Signature"));
    snprintf(text, sizeof(text), "x=%s", pattern());
    assert_int_equal(scan(p, 1 << 20, text, strlen(text), 1, &r), CLAMD_FOUND);
    assert_non_null(strstr(r.text, "Sluice.Test.Pattern"));
    /* an empty object is a scan too */
    assert_int_equal(scan(p, 1 << 20, "", 0, 1, &r), CLAMD_OK);
    clamd_pool_stats st = clamd_pool_get_stats(p);
    assert_int_equal(st.opened, 1); /* one session carried every scan */
    assert_int_equal(st.reused, 3);
    clamd_pool_destroy(p);
}

static void clamd_size_limit_and_ours_never_pass(void **state)
{
    (void)state;
    clamd_pool *p = pool_at(clamd_socket(), 10000);
    size_t len = (size_t)17 * 1024 * 1024; /* above scripts/clamd.sh's StreamMaxLength 16M */
    uint8_t *zeros = sl_calloc(1, 1024 * 1024);
    clamd_scan *s = clamd_scan_new(p, (uint64_t)64 * 1024 * 1024);
    for (size_t off = 0; off < len; off += 1024 * 1024) clamd_scan_feed(s, zeros, 1024 * 1024);
    clamd_reply r;
    clamd_scan_finish(s, &r);
    clamd_scan_destroy(s);
    sl_free(zeros);
    assert_int_not_equal(r.verdict, CLAMD_OK);
    assert_non_null(strstr(r.text, "size limit exceeded"));
    /* ours: more than max_bytes is never sent */
    assert_int_equal(scan(p, 10, "0123456789A", 11, 4, &r), CLAMD_FAILED);
    assert_non_null(strstr(r.text, "clamav.max_bytes"));
    /* the pool still works after both */
    assert_int_equal(scan(p, 100, "fine", 4, 4, &r), CLAMD_OK);
    clamd_pool_destroy(p);
}

/* ---- a misbehaving peer ---- */

enum peer_mode { PEER_GARBLED, PEER_WRONG_ID, PEER_SILENT, PEER_CLOSE, PEER_LONG, PEER_TRAILING, PEER_OK_THEN_CLOSE };

struct peer {
    enum peer_mode mode;
    char path[108];
    int listener;
    pthread_t thread;
    int scans; /* scans answered */
};

static bool read_exact(int fd, void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len > 0) {
        ssize_t n = read(fd, b, len);
        if (n <= 0) return false;
        b += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads a z-command up to its NUL. */
static bool read_command(int fd, char *out, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        if (!read_exact(fd, out + n, 1)) return false;
        if (out[n] == '\0') return true;
        n++;
    }
    return false;
}

/* Reads INSTREAM chunks until the zero-length one. */
static bool read_stream(int fd)
{
    uint8_t buf[4096];
    for (;;) {
        uint32_t be;
        if (!read_exact(fd, &be, 4)) return false;
        uint32_t len = ntohl(be);
        if (len == 0) return true;
        while (len > 0) {
            uint32_t n = len < sizeof(buf) ? len : (uint32_t)sizeof(buf);
            if (!read_exact(fd, buf, n)) return false;
            len -= n;
        }
    }
}

static void answer(int fd, const void *data, size_t len)
{
    if (send(fd, data, len, MSG_NOSIGNAL) != (ssize_t)len) return; /* the client may be gone */
}

static void *peer_main(void *arg)
{
    struct peer *pe = arg;
    for (;;) {
        int fd = accept(pe->listener, NULL, NULL);
        if (fd < 0) return NULL;
        char cmd[64];
        if (!read_command(fd, cmd, sizeof(cmd)) || strcmp(cmd, "zIDSESSION") != 0) {
            close(fd);
            continue;
        }
        uint32_t id = 0;
        while (read_command(fd, cmd, sizeof(cmd)) && strcmp(cmd, "zINSTREAM") == 0 && read_stream(fd)) {
            id++;
            char out[2100];
            switch (pe->mode) {
            case PEER_GARBLED: snprintf(out, sizeof(out), "%u: stream: maybe", id); answer(fd, out, strlen(out) + 1); break;
            case PEER_WRONG_ID: snprintf(out, sizeof(out), "%u: stream: OK", id + 1); answer(fd, out, strlen(out) + 1); break;
            case PEER_SILENT: break;
            case PEER_CLOSE: break;
            case PEER_LONG: memset(out, 'A', 2000); answer(fd, out, 2000); break;
            case PEER_TRAILING: /* one write: an answer and bytes that answer nothing */
                snprintf(out, sizeof(out), "%u: stream: OK", id);
                memcpy(out + strlen(out) + 1, "junk", 4);
                answer(fd, out, strlen(out) + 5);
                break;
            case PEER_OK_THEN_CLOSE: snprintf(out, sizeof(out), "%u: stream: OK", id); answer(fd, out, strlen(out) + 1); break;
            }
            pe->scans++;
            if (pe->mode == PEER_CLOSE || pe->mode == PEER_OK_THEN_CLOSE) break;
            if (pe->mode == PEER_SILENT) { /* wait for the client to give up */
                char c;
                while (read(fd, &c, 1) > 0) {}
                break;
            }
        }
        close(fd);
    }
}

static void peer_start(struct peer *pe, enum peer_mode mode)
{
    memset(pe, 0, sizeof(*pe));
    pe->mode = mode;
    snprintf(pe->path, sizeof(pe->path), "/tmp/sluice-clamd-peer-%d-%d.sock", (int)getpid(), (int)mode);
    unlink(pe->path);
    pe->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(pe->listener >= 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", pe->path);
    assert_int_equal(bind(pe->listener, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(pe->listener, 8), 0);
    assert_int_equal(pthread_create(&pe->thread, NULL, peer_main, pe), 0);
}

static void peer_stop(struct peer *pe)
{
    shutdown(pe->listener, SHUT_RDWR);
    close(pe->listener);
    pthread_join(pe->thread, NULL);
    unlink(pe->path);
}

static clamd_verdict peer_scan(enum peer_mode mode, clamd_reply *r)
{
    struct peer pe;
    peer_start(&pe, mode);
    clamd_pool *p = pool_at(pe.path, 300);
    clamd_verdict v = scan(p, 1 << 20, "some bytes", 10, 3, r);
    clamd_pool_destroy(p); /* closes an idle session: the peer's read ends */
    peer_stop(&pe);
    return v;
}

static void a_misbehaving_clamd_never_passes(void **state)
{
    (void)state;
    clamd_reply r;
    assert_int_equal(peer_scan(PEER_GARBLED, &r), CLAMD_GARBLED);
    assert_non_null(strstr(r.text, "maybe"));
    assert_int_equal(peer_scan(PEER_WRONG_ID, &r), CLAMD_GARBLED);
    assert_int_equal(peer_scan(PEER_SILENT, &r), CLAMD_FAILED);
    assert_non_null(strstr(r.text, "did not answer within 300 ms"));
    assert_int_equal(peer_scan(PEER_CLOSE, &r), CLAMD_FAILED);
    assert_non_null(strstr(r.text, "without an answer"));
    assert_int_equal(peer_scan(PEER_LONG, &r), CLAMD_GARBLED);
    assert_int_equal(peer_scan(PEER_TRAILING, &r), CLAMD_GARBLED);
}

static void a_session_closed_while_idle_is_not_used(void **state)
{
    (void)state;
    struct peer pe;
    peer_start(&pe, PEER_OK_THEN_CLOSE);
    clamd_pool *p = pool_at(pe.path, 2000);
    clamd_reply r;
    assert_int_equal(scan(p, 100, "one", 3, 3, &r), CLAMD_OK);
    for (int i = 0; i < 200 && pe.scans < 1; i++) usleep(1000);
    usleep(20000); /* the peer has closed the idle session */
    assert_int_equal(scan(p, 100, "two", 3, 3, &r), CLAMD_OK);
    clamd_pool_stats st = clamd_pool_get_stats(p);
    assert_int_equal(st.discarded, 1);
    assert_int_equal(st.opened, 2);
    clamd_pool_destroy(p);
    peer_stop(&pe);
}

/* ---- the content checker's "clamav" finding ---- */

static void content_checker_reports_clamav(void **state)
{
    (void)state;
    char sections[512];
    snprintf(sections, sizeof(sections), "\"clamav\": {\"socket\": \"%s\", \"timeout\": \"10s\", \"max_bytes\": \"1MiB\"},",
             clamd_socket());
    checks_driver d;
    checks_driver_init_with(&d, "{\"clamav\": true, \"allow_types\": [\"text/plain\"]}", sections);
    /* before a probe the route has no clamd version; after it, clamd's answer is the
     * "clamav" version (attestations) and part of the set that judges (manifests) */
    assert_string_equal(checks_version_of(&d.config->routes[0].checks, "clamav"), "");
    char version[256];
    assert_true(sl_ok(checks_clamav_probe(d.config, version, sizeof(version))));
    assert_non_null(strstr(version, "ClamAV"));
    assert_string_equal(checks_version_of(&d.config->routes[0].checks, "clamav"), version);
    sl_buf set = { 0 };
    assert_true(sl_ok(checks_set_version(&d.config->routes[0].checks, &set)));
    char want[300];
    snprintf(want, sizeof(want), "clamav %s", version);
    assert_non_null(strstr(sl_buf_cstr(&set), want));
    sl_buf_clean_up(&set);

    findings f = { 0 };
    char text[256];
    snprintf(text, sizeof(text), "notes\n%s\n", eicar());
    checks_driver_run(&d, "notes.txt", text, strlen(text), 16, &f);
    const artifact_finding *x = checks_find(&f, "clamav", "Eicar-Test-Signature");
    assert_non_null(x);
    assert_int_equal(x->verdict, FINDING_FAIL);
    findings_clean_up(&f);

    const char *clean = "plain text, nothing to see\n";
    checks_driver_run(&d, "clean.txt", clean, strlen(clean), 4, &f);
    assert_int_equal(checks_worst_of(&f, "clamav"), FINDING_PASS);
    assert_non_null(checks_find(&f, "clamav", NULL));
    assert_true(findings_all_pass(&f));
    findings_clean_up(&f);

    /* above clamav.max_bytes: unscannable, never a pass */
    size_t big = 1024 * 1024 + 1;
    char *data = sl_calloc(1, big);
    memset(data, 'a', big);
    checks_driver_run(&d, "big.txt", data, big, 65536, &f);
    sl_free(data);
    assert_int_equal(checks_worst_of(&f, "clamav"), FINDING_ERROR);
    assert_non_null(checks_find(&f, "clamav", "clamav.max_bytes"));
    findings_clean_up(&f);
    checks_driver_clean_up(&d);
}

static void a_route_without_clamd_refuses_and_never_passes(void **state)
{
    (void)state;
    checks_driver d;
    checks_driver_init_with(&d, "{\"clamav\": true}",
                            "\"clamav\": {\"socket\": \"/nonexistent/clamd.ctl\", \"timeout\": \"1s\"},");
    char version[256];
    assert_true(sl_failed(checks_clamav_probe(d.config, version, sizeof(version))));
    assert_non_null(strstr(sl_error_detail(), "routes[0] (r) requires ClamAV (checks.clamav) but clamd at "
                                              "/nonexistent/clamd.ctl cannot be reached"));
    findings f = { 0 };
    checks_driver_run(&d, "a.txt", "hello\n", 6, 6, &f);
    assert_int_equal(checks_worst_of(&f, "clamav"), FINDING_ERROR);
    assert_non_null(checks_find(&f, "clamav", "cannot be reached"));
    findings_clean_up(&f);
    checks_driver_clean_up(&d);

    /* a route without checks.clamav has no clamav finding and needs no clamd */
    checks_driver_init_with(&d, "{}", "\"clamav\": {\"socket\": \"/nonexistent/clamd.ctl\"},");
    assert_true(sl_ok(checks_clamav_probe(d.config, version, sizeof(version))));
    assert_string_equal(version, "");
    checks_driver_run(&d, "a.txt", "hello\n", 6, 6, &f);
    assert_null(checks_find(&f, "clamav", NULL));
    findings_clean_up(&f);
    checks_driver_clean_up(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers_are_read_strictly),
        cmocka_unit_test(probe_finds_clamd_and_names_what_is_missing),
        cmocka_unit_test(real_clamd_judges_and_sessions_are_reused),
        cmocka_unit_test(clamd_size_limit_and_ours_never_pass),
        cmocka_unit_test(a_misbehaving_clamd_never_passes),
        cmocka_unit_test(a_session_closed_while_idle_is_not_used),
        cmocka_unit_test(content_checker_reports_clamav),
        cmocka_unit_test(a_route_without_clamd_refuses_and_never_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
