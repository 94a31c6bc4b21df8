/*
 * test_notify.c — unit tests of mover/service/notify: the datagram arrives whole on a
 * socket of the test's own, under a filesystem path and under an abstract name (the
 * "@" form); $NOTIFY_SOCKET unset or empty sends nothing and succeeds; a vsock or
 * relative address, a name too long and a socket nobody listens on are errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "service/notify.h"

/* A datagram socket bound to `name` (path, or "@abstract"). */
static int listen_on(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@') addr.sun_path[0] = '\0';
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, addr_len), 0);
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char got[256];
    ssize_t n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    got[n] = '\0';
    assert_string_equal(got, want);
}

static void path_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/sluice-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_true(sl_ok(service_notify("READY=1\nSTATUS=serving")));
    expect_datagram(fd, "READY=1\nSTATUS=serving");
    assert_true(sl_ok(service_notify("STOPPING=1")));
    expect_datagram(fd, "STOPPING=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
    rmdir(dir);
}

static void abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@sluice-notify-test-%ld", (long)getpid());
    int fd = listen_on(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_true(sl_ok(service_notify("READY=1")));
    expect_datagram(fd, "READY=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void no_manager(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_true(sl_ok(service_notify("READY=1")));
    setenv("NOTIFY_SOCKET", "", 1);
    assert_true(sl_ok(service_notify("READY=1")));
    unsetenv("NOTIFY_SOCKET");
}

static void refusals(void **state)
{
    (void)state;
    assert_true(sl_failed(service_notify_to("vsock:2:1234", "READY=1")));
    assert_int_equal(sl_error_last(), SL_ERR_UNSUPPORTED);
    assert_true(sl_failed(service_notify_to("relative/path", "READY=1")));
    assert_int_equal(sl_error_last(), SL_ERR_UNSUPPORTED);
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    assert_true(sl_failed(service_notify_to(longname, "READY=1")));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
    assert_true(sl_failed(service_notify_to("/nonexistent-sluice/notify", "READY=1")));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), "/nonexistent-sluice/notify"));
    assert_true(sl_failed(service_notify_to("@x", "")));
    assert_int_equal(sl_error_last(), SL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_socket),
        cmocka_unit_test(abstract_socket),
        cmocka_unit_test(no_manager),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
