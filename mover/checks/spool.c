/*
 * spool.c — unlinked temporary files for the scanners that need an object's bytes
 * whole (checks_impl.h "spooling"): archives that must seek, and YARA, whose
 * conditions read any offset after every byte has been seen. The file lives in TMPDIR
 * (else /tmp), is never visible by name (O_TMPFILE, or unlinked at once), and goes away
 * when its descriptor is closed.
 */
#include "checks/checks_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int checks_spool_open(void)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0') dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT)) return fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/sluice-spool-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

bool checks_write_all(int fd, const uint8_t *d, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, d, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        d += w;
        n -= (size_t)w;
    }
    return true;
}
