/*
 * notify.h — the service manager's readiness protocol (sd_notify(3)), spoken directly:
 * one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET, no libsystemd.
 *
 * sluice-mover sends "READY=1" once it serves (the configuration loaded, the audit log
 * open, the API listening, the pipeline started), "RELOADING=1" and then "READY=1"
 * around a SIGHUP reload, and "STOPPING=1" when SIGTERM starts the drain; each with a
 * "STATUS=" line a person can read in `systemctl status`. With Type=notify in the unit
 * (packaging/systemd/sluice-mover.service), systemd counts the service as started only
 * after READY=1.
 *
 * $NOTIFY_SOCKET is a filesystem path ("/run/systemd/notify") or, starting with "@", an
 * abstract socket name (the "@" stands for the leading NUL byte). Other forms (vsock)
 * are refused with SL_ERR_UNSUPPORTED. Unset or empty: not under a service manager,
 * nothing is sent and the call succeeds.
 *
 * Errors: SL_ERR_INVALID_ARGUMENT (no state, a socket name longer than an AF_UNIX
 * address holds), SL_ERR_UNSUPPORTED, SL_ERR_IO (socket or sendto failed, with errno's
 * text). Threading: any thread; no state.
 */
#ifndef SLUICE_SERVICE_NOTIFY_H
#define SLUICE_SERVICE_NOTIFY_H

#include "util/error.h"

/* Sends `state` ("READY=1\nSTATUS=serving") to $NOTIFY_SOCKET, if set. */
SL_MUST_CHECK sl_result service_notify(const char *state);

/* The same to `socket_name` (a path, or "@name" for an abstract socket); for tests and
 * for service_notify. NULL or "": nothing is sent. */
SL_MUST_CHECK sl_result service_notify_to(const char *socket_name, const char *state);

#endif /* SLUICE_SERVICE_NOTIFY_H */
