"""proxy_base.py — what the two fault proxies share (fault_proxy.py, the TCP proxy of
the S3 client's fault test; s3_fault_proxy.py, the request-aware one): the stop flag set
by SIGTERM/SIGINT, one log line per event on stderr, the accept loop that ends with the
parent process or the proxy's lifetime, the wait for connections still being handled,
and the check that the upstream is a loopback address.

Standard library only.
"""

import argparse
import errno
import ipaddress
import os
import select
import signal
import sys
import threading
import time

stop_event = threading.Event()
_name = ["proxy"]


def set_name(name):
    """The name log lines start with."""
    _name[0] = name


def log(fmt, *args):
    try:
        sys.stderr.write("%s[%d] %s: %s\n" % (_name[0], os.getpid(), time.strftime("%H:%M:%S"), fmt % args))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def handle_signals():
    """SIGTERM and SIGINT stop the proxy; a peer that went away is an error, not a signal."""

    def on_signal(signum, frame):
        stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def accept_loop(listener, accept_one, parent, lifetime):
    """Calls accept_one() for each connection waiting on `listener` until stop_event is
    set, the parent process `parent` is gone, or `lifetime` seconds have passed; then sets
    stop_event."""
    started = time.monotonic()
    while not stop_event.is_set():
        if parent > 1 and os.getppid() != parent:
            log("parent process %d is gone: exiting", parent)
            break
        if time.monotonic() - started > lifetime:
            log("lifetime of %.0f s is over: exiting", lifetime)
            break
        try:
            r, _, _ = select.select([listener], [], [], 0.2)
        except InterruptedError:
            continue
        if not r:
            continue
        try:
            accept_one()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):
                log("accept: %s; backing off", e)
                time.sleep(0.1)
            elif e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EINTR):
                log("accept: %s", e)
    stop_event.set()


def wait_handled(lock, active, seconds=2.0, step=0.05):
    """Waits at most `seconds` until active() is false (checked under `lock`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with lock:
            if not active():
                return
        time.sleep(step)


def loopback_upstream(text):
    """argparse type: "host:port" of a loopback address -> (address, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("upstream must be host:port, not %r" % text)
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError("upstream host must be a loopback IP address, not %r" % host)
    if not address.is_loopback:
        raise argparse.ArgumentTypeError("upstream %s is not a loopback address" % host)
    return (str(address), int(port))
