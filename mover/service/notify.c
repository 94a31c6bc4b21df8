/*
 * notify.c — sd_notify(3) without libsystemd (contract: notify.h). The protocol is one
 * datagram of newline-separated VARIABLE=value lines on an AF_UNIX SOCK_DGRAM socket;
 * an abstract address is written with a leading NUL and its exact length (no trailing
 * NUL counted), as unix(7) describes.
 */
#include "service/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

sl_result service_notify(const char *state)
{
    return service_notify_to(getenv("NOTIFY_SOCKET"), state);
}

sl_result service_notify_to(const char *socket_name, const char *state)
{
    ENSURE(state != NULL && state[0] != '\0', SL_ERR_INVALID_ARGUMENT, "notify: no state to send");
    if (socket_name == NULL || socket_name[0] == '\0') return SL_SUCCESS;
    ENSURE(socket_name[0] == '/' || socket_name[0] == '@', SL_ERR_UNSUPPORTED,
           "notify: NOTIFY_SOCKET is neither a path nor an abstract name (\"@...\")");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t len = strlen(socket_name);
    ENSURE(len < sizeof(addr.sun_path), SL_ERR_INVALID_ARGUMENT, "notify: NOTIFY_SOCKET is longer than %zu bytes",
           sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, socket_name, len);
    if (socket_name[0] == '@') addr.sun_path[0] = '\0';
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (socket_name[0] == '/'));

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ENSURE(fd >= 0, SL_ERR_IO, "notify: socket: %s", strerror(errno));
    ssize_t sent;
    do {
        sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&addr, addr_len);
    } while (sent < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    ENSURE(sent >= 0, SL_ERR_IO, "notify: sending to %s: %s", socket_name, strerror(saved));
    ENSURE((size_t)sent == strlen(state), SL_ERR_IO, "notify: %s took %zd of %zu bytes", socket_name, sent,
           strlen(state));
    return SL_SUCCESS;
}
