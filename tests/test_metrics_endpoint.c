/*
 * test_metrics_endpoint.c — GET /metrics on the API server's TCP mode
 * (api_options.tcp_listen, api_respond_bytes, api/metrics_endpoint): the server runs on
 * a libuv loop in a thread, the test talks raw HTTP/1.1 to it over loopback. Cases: the
 * exposition with its Content-Type and Content-Length, counting its own scrapes;
 * keep-alive (two requests on one connection); 404 for any other path; a route that
 * needs a role answers 403 to TCP callers (they have no peer credentials); a listen
 * address that is taken or not an address is refused at start.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "api/metrics_endpoint.h"

struct fixture {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    api_server *server;
    sluice_metrics *metrics;
    api_route routes[2];
    char listen[32];
    int port;
};

static void on_wake(uv_async_t *async)
{
    struct fixture *f = async->data;
    api_server_close(f->server);
    uv_close((uv_handle_t *)&f->wake, NULL);
}

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void reviewer_only(void *user, api_request *request, const api_request_info *info)
{
    (void)user;
    (void)info;
    api_respond(request, 200, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_true(sl_ok(sluice_metrics_new("9.9.9", &f->metrics)));
    f->port = free_port();
    snprintf(f->listen, sizeof(f->listen), "127.0.0.1:%d", f->port);
    f->routes[0] = metrics_endpoint_route(f->metrics);
    f->routes[1] = (api_route){ "GET", "/v1/secret", API_ROLE_REVIEWER, false, reviewer_only, NULL };
    api_options o = { .tcp_listen = f->listen };
    if (sl_failed(api_server_new(&f->loop, &o, f->routes, 2, &f->server))) fail_msg("%s", sl_error_detail());
    uv_async_init(&f->loop, &f->wake, on_wake);
    f->wake.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uv_async_send(&f->wake);
    pthread_join(f->thread, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    sluice_metrics_destroy(f->metrics);
    free(f);
    return 0;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) fail_msg("connect: %s", strerror(errno));
    return fd;
}

/* Sends `request` and reads one whole answer (head and Content-Length bytes). */
static void exchange(int fd, const char *request, char *out, size_t size)
{
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    size_t got = 0;
    for (;;) {
        out[got] = '\0';
        char *end = strstr(out, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strstr(out, "Content-Length: ");
            size_t want = (size_t)(end + 4 - out) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
            if (strstr(request, "HEAD ") == request) want = (size_t)(end + 4 - out);
            if (got >= want) return;
        }
        assert_true(got < size - 1);
        ssize_t n = read(fd, out + got, size - 1 - got);
        if (n <= 0) fail_msg("connection closed after %zu bytes: %s", got, out);
        got += (size_t)n;
    }
}

static void serves_the_exposition(void **state)
{
    struct fixture *f = *state;
    static char answer[65536];
    int fd = connect_to(f->port);
    exchange(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(answer, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(answer, "\nsluice_build_info{version=\"9.9.9\"} 1\n"));
    assert_non_null(strstr(answer, "\nsluice_metrics_scrapes_total 1\n"));
    /* the same connection again: keep-alive, and the scrape counted */
    exchange(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", answer, sizeof(answer));
    assert_non_null(strstr(answer, "\nsluice_metrics_scrapes_total 2\n"));
    close(fd);
}

static void nothing_else(void **state)
{
    struct fixture *f = *state;
    char answer[4096];
    int fd = connect_to(f->port);
    exchange(fd, "GET /v1/artifacts HTTP/1.1\r\nHost: x\r\n\r\n", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 404 "));
    exchange(fd, "GET /v1/secret HTTP/1.1\r\nHost: x\r\n\r\n", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 403 "));
    exchange(fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 405 "));
    close(fd);
}

static void bad_listen_addresses(void **state)
{
    struct fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    api_server *s = NULL;
    char taken[32];
    snprintf(taken, sizeof(taken), "127.0.0.1:%d", f->port);
    static const char *const bad[] = { "", "no-port", "127.0.0.1:", "256.1.1.1:80", "[::1:80" };
    api_options o = { .tcp_listen = taken };
    assert_true(sl_failed(api_server_new(&loop, &o, f->routes, 1, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    assert_non_null(strstr(sl_error_detail(), taken));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.tcp_listen = bad[i];
        if (sl_ok(api_server_new(&loop, &o, f->routes, 1, &s))) fail_msg("listening on \"%s\"", bad[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(serves_the_exposition, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_else, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_listen_addresses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
