#!/usr/bin/python3
"""fault_proxy.py — a TCP proxy in front of the local S3 server that misbehaves on cue.

The S3 client's fault test (tests/integration/s3_fault_test.c) points its client at
this proxy. Each connection the proxy accepts takes the next action of a schedule file
and is handled by that action for its whole life:

    pass        forward both ways, transparently, until both sides are done
    reset       close the client connection at once with a TCP reset (SO_LINGER 0)
    slowdown    read the request head (and its Content-Length body), answer
                503 with an S3 <Error><Code>SlowDown</Code>... body and Connection: close
    delay MS    wait MS milliseconds before forwarding anything, then pass; a client
                that leaves during the wait is not forwarded at all
    cut N       pass, but close the client side once N bytes of the response (status
                line and headers included) have been sent to it

How the parts fit: the main thread accepts on 127.0.0.1 and, for each connection,
re-reads the schedule (--schedule FILE), takes its next action, records its progress
in the status file, and starts one handler thread. When the schedule's content differs
from the last one read, the proxy starts again from its first line, so a test resets
the schedule by rewriting the file (atomically, with a rename). A line
"# generation TOKEN" names the schedule; blank lines and other # lines are ignored.
Once the schedule is used up every connection is `pass`. An unknown line counts as an
error (in the status file) and its connection is reset.

The status file (--status FILE, optional, replaced atomically after every accept) is one
line: "generation=TOKEN accepted=A consumed=C errors=E active=N", where A counts the
connections accepted since the current schedule was read, C how many of them took an
action from the schedule, E the malformed schedule lines met, N the connections being
handled.

Bounds: at most --max-connections handled at once (others are reset), idle connections
dropped after --idle-timeout seconds, and the proxy exits on SIGTERM/SIGINT, when its
parent process goes away, or after --lifetime seconds. It connects only to the given
upstream, which must be a loopback address. Logs go to stderr, one line per event;
stdout carries only the first line "PORT <n>".

Standard library only; run it with /usr/bin/python3.
"""

import argparse
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proxy_base import (accept_loop, handle_signals, log, loopback_upstream, set_name,  # noqa: E402
                        stop_event, wait_handled)

READ_CHUNK = 65536
MAX_HEAD = 64 * 1024          # a request head larger than this is refused
MAX_DELAY_BUFFER = 16 << 20   # bytes buffered from the client during a delay
MAX_DELAY_MS = 600_000
CONNECT_TIMEOUT_S = 5.0

SLOWDOWN_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    "<RequestId>{rid}</RequestId><HostId>fault-proxy</HostId></Error>"
)

set_name("fault_proxy")


# ---- schedule ----

class Action:
    __slots__ = ("kind", "arg", "text")

    def __init__(self, kind, arg=0, text=""):
        self.kind = kind
        self.arg = arg
        self.text = text or kind

    def __str__(self):
        return self.text


PASS = Action("pass")


def parse_line(line):
    """An Action for one schedule line; None for blank/comment lines; raises ValueError."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    kind = words[0].lower()
    if kind in ("pass", "reset", "slowdown") and len(words) == 1:
        return Action(kind)
    if kind in ("delay", "cut") and len(words) == 2 and words[1].isdigit():
        n = int(words[1])
        if kind == "delay" and n > MAX_DELAY_MS:
            raise ValueError("delay longer than %d ms" % MAX_DELAY_MS)
        return Action(kind, n, "%s %d" % (kind, n))
    raise ValueError("unknown action %r" % line.strip())


class Schedule:
    """The schedule file, the position in it, and the counters of the status file."""

    def __init__(self, path, status_path):
        self.path = path
        self.status_path = status_path
        self.content = None
        self.entries = []  # Action, or a string (the error) for a malformed line
        self.generation = ""
        self.position = 0
        self.accepted = 0
        self.errors = 0

    def _reload_if_changed(self):
        try:
            with open(self.path, "rb") as f:
                content = f.read(1 << 20)
        except FileNotFoundError:
            content = b""
        except OSError as e:
            log("cannot read schedule %s: %s (keeping the previous one)", self.path, e)
            return
        if content == self.content:
            return
        self.content = content
        self.entries = []
        self.generation = ""
        for number, raw in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
            stripped = raw.strip()
            if stripped.startswith("#"):
                words = stripped[1:].split()
                if len(words) == 2 and words[0] == "generation":
                    self.generation = words[1]
                continue
            try:
                action = parse_line(raw)
            except ValueError as e:
                self.entries.append("line %d: %s" % (number, e))
                continue
            if action is not None:
                self.entries.append(action)
        self.position = 0
        self.accepted = 0
        self.errors = 0
        log("schedule %r loaded: %s", self.generation,
            ", ".join(str(e) for e in self.entries) or "(empty: pass)")

    def next_action(self):
        """The action for a newly accepted connection (None = malformed line: reset)."""
        self._reload_if_changed()
        self.accepted += 1
        if self.position >= len(self.entries):
            return PASS
        entry = self.entries[self.position]
        self.position += 1
        if isinstance(entry, str):
            self.errors += 1
            log("schedule %s", entry)
            return None
        return entry

    def write_status(self, active):
        if not self.status_path:
            return
        line = "generation=%s accepted=%d consumed=%d errors=%d active=%d\n" % (
            self.generation or "-", self.accepted, self.position, self.errors, active)
        tmp = "%s.tmp.%d" % (self.status_path, os.getpid())
        try:
            with open(tmp, "w") as f:
                f.write(line)
            os.replace(tmp, self.status_path)
        except OSError as e:
            log("cannot write status %s: %s", self.status_path, e)


# ---- socket helpers ----

def reset_close(sock):
    """Closes with a TCP reset (SO_LINGER on, timeout 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def quiet_close(sock):
    if sock is None:
        return
    try:
        sock.close()
    except OSError:
        pass


def graceful_close(sock, drain_s=1.0):
    """Sends FIN, drains what the peer still sends (so no reset), then closes."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + drain_s
        while not stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([sock], [], [], min(left, 0.2))
            if r and not sock.recv(READ_CHUNK):
                break
    except OSError:
        pass
    quiet_close(sock)


def send_all(sock, data, idle_timeout):
    """Blocking send of everything with a per-step timeout; False when the peer is gone."""
    view = memoryview(data)
    while view:
        if stop_event.is_set():
            return False
        try:
            _, w, _ = select.select([], [sock], [], min(idle_timeout, 0.5))
            if not w:
                continue
            n = sock.send(view)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return False
        view = view[n:]
    return True


# ---- one connection ----

class Connection:
    def __init__(self, proxy, number, client, peer, action):
        self.proxy = proxy
        self.number = number
        self.client = client
        self.peer = peer
        self.action = action
        self.upstream = None

    def log(self, fmt, *args):
        log("conn %d (%s:%d, %s): " + fmt, self.number, self.peer[0], self.peer[1], self.action, *args)

    def run(self):
        try:
            kind = self.action.kind
            if kind == "reset":
                reset_close(self.client)
                self.client = None
            elif kind == "slowdown":
                self.slowdown()
            elif kind == "delay":
                self.delay(self.action.arg)
            elif kind == "cut":
                self.relay(cut_after=self.action.arg)
            else:
                self.relay(cut_after=None)
        except Exception as e:  # keep the proxy alive whatever one connection does
            self.log("failed: %s: %s", type(e).__name__, e)
        finally:
            quiet_close(self.client)
            quiet_close(self.upstream)
            self.proxy.connection_done(self)

    # -- slowdown --

    def read_request(self):
        """Reads one request head and its body; returns the head or None."""
        data = b""
        deadline = time.monotonic() + self.proxy.idle_timeout
        while b"\r\n\r\n" not in data:
            if len(data) > MAX_HEAD or time.monotonic() > deadline or stop_event.is_set():
                return None
            r, _, _ = select.select([self.client], [], [], 0.2)
            if r:
                chunk = self.client.recv(READ_CHUNK)
                if not chunk:
                    return None
                data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip() or b"0")
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        body = rest
        while (len(body) < length) if not chunked else (b"0\r\n\r\n" not in body):
            if time.monotonic() > deadline or stop_event.is_set():
                return None
            r, _, _ = select.select([self.client], [], [], 0.2)
            if r:
                chunk = self.client.recv(READ_CHUNK)
                if not chunk:
                    return None
                body += chunk
                deadline = time.monotonic() + self.proxy.idle_timeout
        return head

    def slowdown(self):
        head = self.read_request()
        if head is None:
            self.log("no complete request; closing")
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method = request_line.split(" ", 1)[0]
        rid = "fault-proxy-%d-%d" % (os.getpid(), self.number)
        body = SLOWDOWN_BODY.format(rid=rid).encode()
        reply = (
            "HTTP/1.1 503 Slow Down\r\n"
            "Content-Type: application/xml\r\n"
            "Content-Length: %d\r\n"
            "x-amz-request-id: %s\r\n"
            "Connection: close\r\n"
            "\r\n" % (len(body), rid)
        ).encode()
        if method != "HEAD":
            reply += body
        self.log("503 SlowDown for %s", request_line)
        if send_all(self.client, reply, self.proxy.idle_timeout):
            graceful_close(self.client)
        self.client = None

    # -- delay --

    def delay(self, ms):
        buffered = bytearray()
        deadline = time.monotonic() + ms / 1000.0
        while not stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            want = [self.client] if len(buffered) < MAX_DELAY_BUFFER else []
            r, _, _ = select.select(want, [], [], min(left, 0.2))
            if r:
                try:
                    chunk = self.client.recv(READ_CHUNK)
                except OSError as e:
                    self.log("client failed during the delay (%s): not forwarded", e)
                    return
                if not chunk:
                    self.log("client left during the delay: not forwarded (%d bytes dropped)", len(buffered))
                    return
                buffered += chunk
        if stop_event.is_set():
            return
        self.log("delay over, forwarding %d buffered bytes", len(buffered))
        self.relay(cut_after=None, pending=bytes(buffered))

    # -- pass / cut --

    def connect_upstream(self):
        host, port = self.proxy.upstream
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(CONNECT_TIMEOUT_S)
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            raise
        s.settimeout(None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def relay(self, cut_after, pending=b""):
        try:
            self.upstream = self.connect_upstream()
        except OSError as e:
            self.log("cannot reach upstream %s:%d: %s; resetting the client", *self.proxy.upstream, e)
            reset_close(self.client)
            self.client = None
            return
        if pending and not send_all(self.upstream, pending, self.proxy.idle_timeout):
            self.log("upstream refused the buffered request")
            return
        client, upstream = self.client, self.upstream
        client_open = True     # client -> upstream direction still open
        upstream_open = True   # upstream -> client direction still open
        sent_to_client = 0
        last_activity = time.monotonic()
        while (client_open or upstream_open) and not stop_event.is_set():
            watch = ([client] if client_open else []) + ([upstream] if upstream_open else [])
            r, _, _ = select.select(watch, [], [], 0.2)
            if not r:
                if time.monotonic() - last_activity > self.proxy.idle_timeout:
                    self.log("idle for %.0f s: closing", self.proxy.idle_timeout)
                    return
                continue
            last_activity = time.monotonic()
            if client in r:
                try:
                    data = client.recv(READ_CHUNK)
                except OSError as e:
                    self.log("client error: %s; resetting upstream", e)
                    reset_close(upstream)
                    self.upstream = None
                    return
                if data:
                    if not send_all(upstream, data, self.proxy.idle_timeout):
                        self.log("upstream gone while sending; resetting the client")
                        reset_close(client)
                        self.client = None
                        return
                else:
                    client_open = False
                    try:
                        upstream.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
            if upstream in r:
                try:
                    data = upstream.recv(READ_CHUNK)
                except OSError as e:
                    self.log("upstream error: %s; resetting the client", e)
                    reset_close(client)
                    self.client = None
                    return
                if not data:
                    upstream_open = False
                    try:
                        client.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                if cut_after is not None and sent_to_client + len(data) >= cut_after:
                    keep = cut_after - sent_to_client
                    if keep > 0:
                        send_all(client, data[:keep], self.proxy.idle_timeout)
                    sent_to_client += keep
                    self.log("cut after %d response bytes", sent_to_client)
                    try:
                        client.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if not send_all(client, data, self.proxy.idle_timeout):
                    self.log("client gone while sending; resetting upstream")
                    reset_close(upstream)
                    self.upstream = None
                    return
                sent_to_client += len(data)
        self.log("done: %d response bytes", sent_to_client)


# ---- the proxy ----

class Proxy:
    def __init__(self, args):
        self.upstream = args.upstream
        self.idle_timeout = args.idle_timeout
        self.max_connections = args.max_connections
        self.schedule = Schedule(args.schedule, args.status)
        self.lock = threading.Lock()
        self.active = {}
        self.count = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", args.port))
        self.listener.listen(128)

    @property
    def port(self):
        return self.listener.getsockname()[1]

    def connection_done(self, conn):
        with self.lock:
            self.active.pop(conn.number, None)

    def accept_one(self):
        client, peer = self.listener.accept()
        with self.lock:
            self.count += 1
            number = self.count
            action = self.schedule.next_action()
            too_many = len(self.active) >= self.max_connections
            conn = None
            if action is not None and not too_many:
                conn = Connection(self, number, client, peer, action)
                self.active[number] = conn
            self.schedule.write_status(len(self.active))
        if conn is None:
            log("conn %d (%s:%d): %s: reset", number, peer[0], peer[1],
                "malformed schedule line" if action is None else "too many connections")
            reset_close(client)
            return
        log("conn %d (%s:%d): %s", number, peer[0], peer[1], action)
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=conn.run, name="conn-%d" % number, daemon=True).start()
        except (OSError, RuntimeError) as e:
            log("conn %d: cannot be handled (%s): reset", number, e)
            self.connection_done(conn)
            reset_close(client)

    def serve(self, parent, lifetime):
        self.schedule.write_status(0)
        accept_loop(self.listener, self.accept_one, parent, lifetime)
        quiet_close(self.listener)
        wait_handled(self.lock, lambda: self.active)


def main():
    p = argparse.ArgumentParser(description="A misbehaving TCP proxy in front of the local S3 server.")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick one)")
    p.add_argument("--upstream", type=loopback_upstream, required=True, help="loopback host:port to forward to")
    p.add_argument("--schedule", required=True, help="file with one action per line, re-read at each accept")
    p.add_argument("--status", default=None, help="file to write the schedule's progress to")
    p.add_argument("--max-connections", type=int, default=128)
    p.add_argument("--idle-timeout", type=float, default=60.0, help="seconds")
    p.add_argument("--lifetime", type=float, default=1800.0, help="exit after this many seconds")
    args = p.parse_args()

    handle_signals()
    parent = os.getppid()

    proxy = Proxy(args)
    sys.stdout.write("PORT %d\n" % proxy.port)
    sys.stdout.flush()
    log("listening on 127.0.0.1:%d, upstream %s:%d, schedule %s", proxy.port, *args.upstream, args.schedule)
    proxy.serve(parent, args.lifetime)
    log("stopped after %d connections", proxy.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
