#!/usr/bin/python3
"""s3_fault_proxy.py — a request-aware HTTP proxy in front of the local S3 server that
misbehaves on cue, one S3 request at a time.

Integration tests point a client (sluice-mover, boto3, curl) at this proxy instead of
radosgw. The proxy parses every HTTP/1.1 exchange on every keep-alive connection —
request line, headers and body (Content-Length or chunked), then the response (status
line, headers, interim 1xx answers, Content-Length, chunked or close-delimited bodies;
none for HEAD, 204 and 304) — and forwards the bytes unchanged in both directions, so
SigV4 signatures stay valid: the client signs the Host it sends (127.0.0.1:<proxy
port>), radosgw checks the signature against the Host it receives, which is the same.
Each request is matched against a list of rules; the first rule that selects it decides
what happens to that request only; the connection carries on with the next request.

Rules (JSON, given through the control endpoint or --rules FILE) — one object each:

    {"id": "del2",                        name in status and log (default r1, r2, ...)
     -- what it matches (all given fields must match; absent = any) --
     "method": "DELETE" or [...],         HTTP method(s)
     "op": "DeleteObject" or [...],       S3 operation as classified below
     "bucket": "sluice-staging" or [...], path-style bucket
     "key": "run-1/.*",                   regex, FULL match on the percent-decoded key
                                          ("" matches requests without a key)
     "query": {"versionId": true,         true: present, false: absent,
               "list-type": "2",          a string: exactly this value,
               "prefix": {"regex": "a/.*"}},   {"regex": R}: value full-matches R
     "headers": {"x-amz-copy-source": true, "If-None-Match": "*"}   (same forms)
     -- which of the matching requests it acts on (default: every one) --
     "nth": 2 or [2, 5],                  the 2nd (and 5th) matching request (1-based)
     "first": 3,  "from": 4,              matches 1..3 / matches 4 onwards
     "limit": 2,                          at most 2 hits in all
     "probability": 0.3, "seed": 7,       each match drawn with a seeded random.Random
     -- what it does --
     "action": ...}

Actions (each example is a complete rule):

    {"action": "pass"}                    forward unchanged (counts and logs only)
    {"action": "status", "code": 503, "s3code": "SlowDown"}
                                          answer without forwarding: an S3 <Error> XML
                                          body (Code, Message, Resource, RequestId); the
                                          request body is read first (after our own
                                          "100 Continue" if the client expects one), so
                                          the connection stays usable (code 200..599;
                                          204 and 304 without a body). Optional:
                                          "message", "response_headers" {name: value},
                                          "close": true (Connection: close, then close).
                                          s3code defaults by status (500 InternalError,
                                          503 SlowDown, 404 NoSuchKey, 412
                                          PreconditionFailed, 403 AccessDenied, ...).
    {"action": "reset_before"}            TCP reset after reading the request head;
                                          nothing reaches the server. NOTE: libcurl
                                          silently re-sends a request when a REUSED
                                          connection dies before a whole status line
                                          arrived, so sluice-mover sees no error (only
                                          one more connection) unless "status_line":
                                          true sends "HTTP/1.1 503 ...\r\n" first
    {"action": "drop_after"}              forward, read the server's whole response,
                                          send the client only its status line (e.g.
                                          "HTTP/1.1 200 OK\r\n": enough that libcurl
                                          reports an error instead of re-sending the
                                          request), then reset the connection.
                                          "status_line": false sends nothing at all,
                                          "close": "fin" closes instead of a reset
    {"action": "timeout_after", "ms": 3000}
                                          forward, read the whole response, send the
                                          client nothing for 3 s (it times out), then
                                          reset ("close": "fin" closes instead)
    {"action": "delay", "ms": 2000}       hold the request 2 s, then forward it
    {"action": "cut", "bytes": 100}       forward; the client gets the response head and
                                          the first 100 body bytes as they travel on the
                                          wire (chunk framing included), then the
                                          connection closes ("close": "reset" resets)
    {"action": "hold", "ms": 30000}       hold the request until a /release call names
                                          it (or 30 s pass: then it goes on, logged as
                                          expired; default --max-hold-ms)
    {"action": "stall", "ms": 1500}       from this request on, hold EVERY request that
                                          arrives in the next 1.5 s (whatever rule it
                                          matches), then release them in arrival order
                                          (radosgw paused, without stopping it); a
                                          /release call can end the window early

delay, hold and stall take "then": {"action": ..., params} — what happens after the
wait (default pass), e.g. {"action": "hold", "then": {"action": "drop_after"}}; delay
and hold may nest, stall only opens a rule. Rules are tried in order; every rule counts
the requests its match fields accept ("matched"), the first rule that also selects the
request acts on it ("hits"); a rule after it does not act on that request. A request
that arrives during a stall is still matched at once and acts after the stall.

S3 operations ("op", also in the log) are classified from method, path and query:
GetObject, HeadObject, PutObject, CopyObject, DeleteObject, DeleteObjects, PostObject,
CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, GetObjectTagging/PutObjectTagging/...,
ListObjectsV2, ListObjects, ListObjectVersions, ListMultipartUploads, HeadBucket,
CreateBucket, DeleteBucket, Get/Put/DeleteBucket<Subresource> (BucketPolicy,
BucketVersioning, ...), ListBuckets; otherwise the method name. Only path-style
addressing (http://127.0.0.1:port/bucket/key) is understood.

Control endpoint (HTTP on 127.0.0.1, --control-port, default an ephemeral port):

    GET    /status    {"generation", "requests" (admitted), "finished" (of those, logged),
                       "logged" (lines, with refused malformed requests), "connections",
                       "rules": [{"id", "action", "matched", "hits"}],
                       "held": [{"hold", "rule", "seq", "method", "op", "bucket",
                                 "key", "held_ms"}],
                       "stall": {"remaining_ms", "waiting"}, "log", ...}
    PUT    /rules     body {"rules": [...]}: replace all rules, counters start at 0,
                      a stall window ends (held requests stay held until released);
                      answers {"generation", "ids"}; an invalid rule set is refused
                      with 400 {"error": "rules[1].nth: ..."} and the old one kept
    POST   /rules     body {"rules": [...]}: append rules (counters of the others kept)
    DELETE /rules     no rules: every request passes (a stall window ends too)
    POST   /release   body {"rule": ID}, {"hold": N} and/or {"count": K} (oldest
                      first): release those held requests; {"stall": true}: end the
                      stall window now; {} (or no body): all of it. Answers
                      {"released": number of held requests released}

The request log (--log FILE, JSONL, one line per request when it is finished):
    {"seq", "conn", "n" (request number on its connection), "t" (arrival, epoch s),
     "t_fwd" (when its head went upstream, or null), "ms" (duration), "method", "op",
     "bucket", "key", "query" {name: first value}, "rule" (id or null), "action"
     ("pass", "hold>drop_after", ...), "forwarded" (bool: the head reached the server),
     "upstream_status" (int or null), "client_status" (what the client got, or null),
     "req_bytes" (request body bytes read from the client), "resp_bytes" (response
     body bytes read from the server), "sent_bytes" (response body bytes sent to the
     client), "note" (what the fault did or what went wrong, or null)}

Process: stdout carries exactly one line, "PORT <proxy port> CONTROL <control port>",
once both listen; diagnostics go to stderr. The upstream must be a loopback address.
Bounds: bodies are streamed in 64 KiB steps (a held or delayed request's body stays in
the kernel's socket buffers), request/response heads and chunk lines are limited, at
most --max-connections client connections (more are reset), every wait is bounded
(--idle-timeout for silent peers, --max-hold-ms, 600 s per delay/stall/timeout), and
the proxy exits on SIGTERM/SIGINT, when its parent process dies, or after --lifetime.
Standard library only; run it with /usr/bin/python3.
"""

import argparse
import collections
import http
import json
import os
import random
import re
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy_base  # noqa: E402
from proxy_base import accept_loop, handle_signals, log, set_name, stop_event, wait_handled  # noqa: E402

READ_CHUNK = 65536
MAX_HEAD = 64 * 1024       # request or response head
MAX_LINE = 4096            # chunk-size and trailer lines
MAX_MS = 600_000           # any delay, stall, hold or timeout_after
MAX_RULES = 256
MAX_NESTING = 4            # delay/hold "then" chains
MAX_CONTROL_BODY = 1 << 20
CONNECT_TIMEOUT_S = 5.0
STEP_S = 0.05              # granularity of every wait (stop, client gone, release)

set_name("s3_fault_proxy")


class ProtocolError(Exception):
    """A peer sent something that is not HTTP/1.1 as this proxy understands it."""


class Stopped(Exception):
    """The proxy is shutting down."""


class Timeout(Exception):
    """A peer stayed silent for longer than the idle timeout."""


# ---- HTTP messages ----

class Headers:
    """Header fields of one message: lower-case names, values in arrival order."""

    def __init__(self, pairs):
        self.fields = collections.OrderedDict()
        for name, value in pairs:
            self.fields.setdefault(name, []).append(value)

    def get(self, name, default=None):
        values = self.fields.get(name.lower())
        return default if values is None else ", ".join(values)

    def all(self, name):
        return self.fields.get(name.lower(), [])

    def tokens(self, name):
        return {t.strip().lower() for t in (self.get(name) or "").split(",") if t.strip()}


def parse_head(head, what):
    """(start line, Headers) of a head that ends with CRLF CRLF."""
    lines = head[:-4].split(b"\r\n")
    pairs = []
    for raw in lines[1:]:
        if raw[:1] in (b" ", b"\t"):
            raise ProtocolError("%s: folded header line" % what)
        name, sep, value = raw.partition(b":")
        if not sep or not name or name.strip() != name or b" " in name:
            raise ProtocolError("%s: malformed header line %r" % (what, raw[:80]))
        pairs.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
    return lines[0].decode("latin-1"), Headers(pairs)


def content_length(headers, what):
    values = set()
    for v in headers.all("content-length"):
        values.update(x.strip() for x in v.split(","))
    if not values:
        return None
    if len(values) != 1 or not all(x.isdigit() and len(x) <= 18 for x in values):
        raise ProtocolError("%s: bad Content-Length %r" % (what, headers.get("content-length")))
    return int(values.pop())


def is_chunked(headers, what, request):
    te = headers.get("transfer-encoding")
    if te is None:
        return None
    codings = [t.strip().lower() for t in te.split(",") if t.strip()]
    if codings and codings[-1] == "chunked":
        return True
    if request:
        raise ProtocolError("%s: Transfer-Encoding %r does not end with chunked" % (what, te))
    return False  # a response body delimited by the close


def wants_close(version, headers):
    connection = headers.tokens("connection")
    return "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)


class Chunked:
    """Follows a chunked body through a byte stream, to find where it ends."""

    SIZE, DATA, DATA_END, TRAILER, DONE = range(5)

    def __init__(self):
        self.state = self.SIZE
        self.line = bytearray()
        self.left = 0

    def feed(self, buf):
        """How many bytes at the start of buf belong to the body (all of them until done)."""
        i, n = 0, len(buf)
        while i < n and self.state != self.DONE:
            if self.state == self.DATA:
                k = min(self.left, n - i)
                i += k
                self.left -= k
                if self.left == 0:
                    self.state = self.DATA_END
                continue
            j = buf.find(b"\n", i)
            end = n if j < 0 else j + 1
            self.line += buf[i:end]
            i = end
            if len(self.line) > MAX_LINE:
                raise ProtocolError("chunked body: a line longer than %d bytes" % MAX_LINE)
            if j < 0:
                break
            line = bytes(self.line).rstrip(b"\r\n")
            self.line.clear()
            if self.state == self.DATA_END:
                if line:
                    raise ProtocolError("chunked body: chunk data not followed by CRLF")
                self.state = self.SIZE
            elif self.state == self.SIZE:
                size = line.split(b";", 1)[0].strip()
                if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size):
                    raise ProtocolError("chunked body: bad chunk size line %r" % line[:40])
                self.left = int(size, 16)
                self.state = self.DATA if self.left else self.TRAILER
            elif not line:  # TRAILER: the empty line ends the body
                self.state = self.DONE
        return i

    @property
    def done(self):
        return self.state == self.DONE


class Body:
    """Where one message body ends: kind none / length / chunked / close."""

    def __init__(self, kind, length=0):
        self.kind = kind
        self.left = length
        self.chunked = Chunked() if kind == "chunked" else None
        self.done = kind == "none" or (kind == "length" and length == 0)
        self.bytes = 0

    def take(self, stream):
        """Removes and returns the bytes of this body at the start of stream.buf."""
        buf = stream.buf
        if self.done or not buf:
            return b""
        if self.kind == "length":
            n = min(self.left, len(buf))
            self.left -= n
            self.done = self.left == 0
        elif self.kind == "chunked":
            n = self.chunked.feed(buf)
            self.done = self.chunked.done
        else:
            n = len(buf)
        data = bytes(buf[:n])
        del buf[:n]
        self.bytes += n
        return data

    def peer_closed(self):
        """The sender closed: True when that ends the body (close-delimited)."""
        if self.kind == "close":
            self.done = True
        return self.done


SUBRESOURCES = {
    "acl": "Acl", "policy": "Policy", "versioning": "Versioning", "location": "Location",
    "lifecycle": "LifecycleConfiguration", "notification": "NotificationConfiguration",
    "tagging": "Tagging", "cors": "Cors", "website": "Website", "logging": "Logging",
    "replication": "Replication", "encryption": "Encryption", "object-lock": "ObjectLockConfiguration",
    "retention": "Retention", "legal-hold": "LegalHold", "policyStatus": "PolicyStatus",
    "ownershipControls": "OwnershipControls", "publicAccessBlock": "PublicAccessBlock",
    "requestPayment": "RequestPayment", "accelerate": "AccelerateConfiguration", "attributes": "Attributes",
}


def classify(method, bucket, key, query, headers):
    """The S3 operation name of a path-style request."""
    sub = next((SUBRESOURCES[q] for q in query if q in SUBRESOURCES), None)
    verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head"}.get(method)
    if not bucket:
        return "ListBuckets" if method == "GET" else method
    if not key:
        if method == "GET":
            if sub:
                return "GetBucket" + sub
            if "versions" in query:
                return "ListObjectVersions"
            if "uploads" in query:
                return "ListMultipartUploads"
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        if method == "POST":
            return "DeleteObjects" if "delete" in query else "PostObject"
        if method == "HEAD":
            return "HeadBucket"
        if verb and sub:
            return verb + "Bucket" + sub
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, method)
    copy = headers.get("x-amz-copy-source") is not None
    if "uploadId" in query:
        if method == "PUT" and "partNumber" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        return {"GET": "ListParts", "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload"}.get(method, method)
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "PostObject"
    if verb and sub and method != "HEAD":
        return verb + "Object" + sub
    if method == "PUT":
        return "CopyObject" if copy else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)


class Request:
    """One request head, parsed."""

    def __init__(self, head):
        start, self.headers = parse_head(head, "request")
        parts = start.split(" ")
        if len(parts) != 3 or not re.fullmatch(r"[A-Z]{1,20}", parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            raise ProtocolError("malformed request line %r" % start[:200])
        self.method, self.target, self.version = parts
        target = self.target
        if target.startswith(("http://", "https://")):
            split = urllib.parse.urlsplit(target)
            target = split.path + ("?" + split.query if split.query else "")
        path, _, qs = target.partition("?")
        self.query = {}
        for name, value in urllib.parse.parse_qsl(qs, keep_blank_values=True):
            self.query.setdefault(name, value)
        bucket, _, key = path.lstrip("/").partition("/")
        self.bucket = urllib.parse.unquote(bucket)
        self.key = urllib.parse.unquote(key)
        chunked = is_chunked(self.headers, "request", True)
        length = content_length(self.headers, "request")
        if chunked:
            self.framing = ("chunked", 0)
        elif length:
            self.framing = ("length", length)
        else:
            self.framing = ("none", 0)
        self.expects_continue = "100-continue" in self.headers.tokens("expect")
        self.close = wants_close(self.version, self.headers)
        self.op = classify(self.method, self.bucket, self.key, self.query, self.headers)

    def summary(self):
        return "%s %s /%s/%s" % (self.op, self.method, self.bucket, self.key)


class Response:
    """Follows the response to one request through the upstream stream."""

    def __init__(self, method):
        self.method = method
        self.status = None
        self.body = None
        self.close = False
        self.done = False

    def feed(self, stream):
        """Events from what stream.buf holds: ("interim", head), ("head", head), ("body", bytes)."""
        events = []
        while not self.done:
            if self.body is None:
                head = split_head(stream, "response")
                if head is None:
                    break
                start, headers = parse_head(head, "response")
                m = re.fullmatch(r"(HTTP/1\.[01]) ([1-5][0-9][0-9])(?: .*)?", start)
                if not m:
                    raise ProtocolError("malformed status line %r" % start[:200])
                status = int(m.group(2))
                if status < 200:
                    if status == 101:
                        raise ProtocolError("protocol upgrades are not supported")
                    events.append(("interim", head))
                    continue
                self.status = status
                self.close = wants_close(m.group(1), headers)
                if self.method == "HEAD" or status in (204, 304):
                    self.body = Body("none")
                elif is_chunked(headers, "response", False):
                    self.body = Body("chunked")
                elif headers.get("transfer-encoding") is None and content_length(headers, "response") is not None:
                    self.body = Body("length", content_length(headers, "response"))
                else:
                    self.body = Body("close")
                    self.close = True
                events.append(("head", head))
                self.done = self.body.done
            else:
                data = self.body.take(stream)
                if data:
                    events.append(("body", data))
                self.done = self.body.done
                if not data:
                    break
        return events


# ---- sockets ----

class Stream:
    """A socket and the bytes read from it that nobody has taken yet."""

    def __init__(self, sock, idle_timeout):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        sock.settimeout(idle_timeout)  # bounds every send
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def fill(self):
        """One recv (after select said readable); False at the end of the stream."""
        try:
            data = self.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError, socket.timeout):
            return True
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def send(self, data):
        """Sends everything; False when the peer is gone."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def gone(self):
        """Whether the peer has closed, without taking any of its bytes."""
        if self.eof:
            return True
        if self.buf:
            return False
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                return False
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError, socket.timeout):
            return False
        except (OSError, ValueError):
            return True

    def reset(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close_gracefully(self, drain_s=0.5):
        """FIN, then drain what the peer still sends (so the kernel sends no reset)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + drain_s
            while time.monotonic() < deadline:
                r, _, _ = select.select([self.sock], [], [], STEP_S)
                if r and not self.sock.recv(READ_CHUNK):
                    break
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def split_head(stream, what):
    """A complete head taken from stream.buf, or None while it is incomplete."""
    buf = stream.buf
    while buf[:2] == b"\r\n":  # empty lines between messages are allowed
        del buf[:2]
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        if len(buf) > MAX_HEAD:
            raise ProtocolError("%s head longer than %d bytes" % (what, MAX_HEAD))
        return None
    if i + 4 > MAX_HEAD:
        raise ProtocolError("%s head longer than %d bytes" % (what, MAX_HEAD))
    head = bytes(buf[:i + 4])
    del buf[:i + 4]
    return head


def wait_readable(streams, deadline):
    """The streams whose sockets are readable (select); raises Stopped or Timeout."""
    while True:
        if stop_event.is_set():
            raise Stopped()
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        try:
            r, _, _ = select.select([s.sock for s in streams], [], [], min(left, STEP_S * 4))
        except InterruptedError:
            continue
        if r:
            return [s for s in streams if s.sock in r]


# ---- rules ----

class RuleError(ValueError):
    pass


ACTION_PARAMS = {
    "pass": {},
    "status": {"code": "int", "s3code": "str", "message": "str", "response_headers": "dict", "close": "bool"},
    "reset_before": {"status_line": "bool"},
    "drop_after": {"close": "closing", "status_line": "bool"},
    "timeout_after": {"ms": "ms", "close": "closing"},
    "delay": {"ms": "ms", "then": "then"},
    "cut": {"bytes": "count", "close": "closing"},
    "hold": {"ms": "ms", "then": "then"},
    "stall": {"ms": "ms", "then": "then"},
}
REQUIRED_PARAMS = {"status": ("code",), "timeout_after": ("ms",), "delay": ("ms",), "cut": ("bytes",),
                   "stall": ("ms",)}
WAITS = ("delay", "hold", "stall")
MATCH_FIELDS = ("method", "op", "bucket", "key", "query", "headers")
SELECT_FIELDS = ("nth", "first", "from", "limit", "probability", "seed")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Step:
    """One action with its parameters; `then` is the next step (waits only)."""

    def __init__(self, kind, params, then):
        self.kind = kind
        self.params = params
        self.then = then

    def chain(self):
        steps, step = [], self
        while step is not None:
            steps.append(step)
            step = step.then
        if steps[-1].kind in WAITS:
            steps.append(Step("pass", {}, None))
        return steps

    def describe(self):
        return ">".join(s.kind for s in self.chain())


def check_param(kind, name, value, where):
    if kind == "int" and not (is_int(value) and 200 <= value <= 599):
        raise RuleError("%s.%s: an HTTP status code 200..599 is needed, not %r" % (where, name, value))
    if kind == "str" and not (isinstance(value, str) and len(value) <= 1024 and value.isprintable()):
        raise RuleError("%s.%s: a printable string of at most 1024 characters is needed" % (where, name))
    if kind == "bool" and not isinstance(value, bool):
        raise RuleError("%s.%s: true or false is needed, not %r" % (where, name, value))
    if kind == "ms" and not (is_int(value) and 0 <= value <= MAX_MS):
        raise RuleError("%s.%s: milliseconds 0..%d are needed, not %r" % (where, name, MAX_MS, value))
    if kind == "count" and not (is_int(value) and value >= 0):
        raise RuleError("%s.%s: a byte count >= 0 is needed, not %r" % (where, name, value))
    if kind == "closing" and value not in ("reset", "fin"):
        raise RuleError("%s.%s: \"reset\" or \"fin\" is needed, not %r" % (where, name, value))
    if kind == "dict":
        token = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
        if not isinstance(value, dict) or len(value) > 32 or not all(
                isinstance(k, str) and token.fullmatch(k) and isinstance(v, str) and v.isprintable() and len(v) < 1024
                for k, v in value.items()):
            raise RuleError("%s.%s: an object of header names to printable strings is needed" % (where, name))


def compile_step(spec, where, top, depth=0):
    """A Step from a rule (top: match and select fields allowed) or from a "then" object."""
    if not isinstance(spec, dict):
        raise RuleError("%s: an object is needed, not %s" % (where, type(spec).__name__))
    kind = spec.get("action")
    if kind not in ACTION_PARAMS:
        raise RuleError("%s.action: one of %s is needed, not %r" % (where, ", ".join(ACTION_PARAMS), kind))
    if depth >= MAX_NESTING:
        raise RuleError("%s: \"then\" nested more than %d deep" % (where, MAX_NESTING))
    if kind == "stall" and not top:
        raise RuleError("%s: stall can only open a rule, not follow \"then\"" % where)
    allowed = set(ACTION_PARAMS[kind]) | {"action"}
    if top:
        allowed |= set(MATCH_FIELDS) | set(SELECT_FIELDS) | {"id", "comment"}
    for name in spec:
        if name not in allowed:
            raise RuleError("%s: unknown field %r for action %s" % (where, name, kind))
    for name in REQUIRED_PARAMS.get(kind, ()):
        if name not in spec:
            raise RuleError("%s: action %s needs %r" % (where, kind, name))
    params = {}
    then = None
    for name, ptype in ACTION_PARAMS[kind].items():
        if name not in spec:
            continue
        if ptype == "then":
            then = compile_step(spec[name], where + ".then", False, depth + 1)
        else:
            check_param(ptype, name, spec[name], where)
            params[name] = spec[name]
    return Step(kind, params, then)


def compile_value_test(value, where):
    """A predicate on an optional string (query value or header value)."""
    if value is True:
        return lambda v: v is not None
    if value is False:
        return lambda v: v is None
    if isinstance(value, str):
        return lambda v: v == value
    if isinstance(value, dict) and list(value) == ["regex"] and isinstance(value["regex"], str):
        try:
            pattern = re.compile(value["regex"])
        except re.error as e:
            raise RuleError("%s: bad regex: %s" % (where, e))
        return lambda v: v is not None and pattern.fullmatch(v) is not None
    raise RuleError("%s: true, false, a string or {\"regex\": ...} is needed, not %r" % (where, value))


def string_set(value, where, upper=False):
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise RuleError("%s: a non-empty string or list of strings is needed" % where)
    return {v.upper() if upper else v for v in values}


def positive(value, where):
    if not (is_int(value) and value >= 1):
        raise RuleError("%s: an integer >= 1 is needed, not %r" % (where, value))
    return value


class Rule:
    def __init__(self, spec, index, default_id):
        where = "rules[%d]" % index
        if not isinstance(spec, dict):
            raise RuleError("%s: an object is needed, not %s" % (where, type(spec).__name__))
        self.id = spec.get("id", default_id)
        if not (isinstance(self.id, str) and re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", self.id)):
            raise RuleError("%s.id: 1..64 letters, digits or _.:- are needed, not %r" % (where, self.id))
        where = "rules[%d] (%s)" % (index, self.id)
        self.step = compile_step(spec, where, True)
        self.methods = string_set(spec["method"], where + ".method", True) if "method" in spec else None
        self.ops = string_set(spec["op"], where + ".op") if "op" in spec else None
        self.buckets = string_set(spec["bucket"], where + ".bucket") if "bucket" in spec else None
        self.key = None
        if "key" in spec:
            if not isinstance(spec["key"], str):
                raise RuleError("%s.key: a regex string is needed" % where)
            try:
                self.key = re.compile(spec["key"])
            except re.error as e:
                raise RuleError("%s.key: bad regex: %s" % (where, e))
        self.query = self._tests(spec, "query", where, False)
        self.headers = self._tests(spec, "headers", where, True)
        nth = spec.get("nth")
        if nth is None:
            self.nth = None
        elif isinstance(nth, list) and nth:
            self.nth = {positive(n, where + ".nth") for n in nth}
        else:
            self.nth = {positive(nth, where + ".nth")}
        self.first = positive(spec["first"], where + ".first") if "first" in spec else None
        self.from_ = positive(spec["from"], where + ".from") if "from" in spec else None
        self.limit = positive(spec["limit"], where + ".limit") if "limit" in spec else None
        self.probability = spec.get("probability")
        if self.probability is not None and not (
                isinstance(self.probability, (int, float)) and not isinstance(self.probability, bool)
                and 0 <= self.probability <= 1):
            raise RuleError("%s.probability: a number 0..1 is needed, not %r" % (where, self.probability))
        seed = spec.get("seed", 0)
        if not is_int(seed):
            raise RuleError("%s.seed: an integer is needed, not %r" % (where, seed))
        if "seed" in spec and self.probability is None:
            raise RuleError("%s.seed: only with probability" % where)
        self.rng = random.Random(seed)
        self.matched = 0
        self.hits = 0

    @staticmethod
    def _tests(spec, field, where, lower):
        if field not in spec:
            return []
        value = spec[field]
        if not isinstance(value, dict) or not value:
            raise RuleError("%s.%s: a non-empty object is needed" % (where, field))
        return [((name.lower() if lower else name), compile_value_test(test, "%s.%s.%s" % (where, field, name)))
                for name, test in value.items()]

    def matches(self, req):
        return ((self.methods is None or req.method in self.methods)
                and (self.ops is None or req.op in self.ops)
                and (self.buckets is None or req.bucket in self.buckets)
                and (self.key is None or self.key.fullmatch(req.key) is not None)
                and all(test(req.query.get(name)) for name, test in self.query)
                and all(test(req.headers.get(name)) for name, test in self.headers))

    def consider(self, req):
        """Counts a match; whether this rule selects the request (hits are counted by the caller)."""
        if not self.matches(req):
            return False
        self.matched += 1
        m = self.matched
        selected = ((self.nth is None or m in self.nth)
                    and (self.first is None or m <= self.first)
                    and (self.from_ is None or m >= self.from_))
        if self.probability is not None:
            selected = self.rng.random() < self.probability and selected
        return selected and (self.limit is None or self.hits < self.limit)

    def status(self):
        return {"id": self.id, "action": self.step.describe(), "matched": self.matched, "hits": self.hits}


def compile_rules(specs, first_auto):
    if not isinstance(specs, list):
        raise RuleError("rules: a list is needed")
    if len(specs) > MAX_RULES:
        raise RuleError("rules: at most %d rules" % MAX_RULES)
    rules = [Rule(spec, i, "r%d" % (first_auto + i)) for i, spec in enumerate(specs)]
    return rules


# ---- shared state: rules, holds, stall, counters ----

class Hold:
    def __init__(self, number, rule, seq, req):
        self.number = number
        self.rule = rule
        self.seq = seq
        self.req = req
        self.since = time.monotonic()
        self.released = False

    def status(self):
        return {"hold": self.number, "rule": self.rule, "seq": self.seq, "method": self.req.method,
                "op": self.req.op, "bucket": self.req.bucket, "key": self.req.key,
                "held_ms": int((time.monotonic() - self.since) * 1000)}


class State:
    def __init__(self, log_path):
        self.cv = threading.Condition()
        self.rules = []
        self.generation = 0
        self.auto_ids = 0
        self.holds = collections.OrderedDict()
        self.hold_numbers = 0
        self.stall_until = 0.0
        self.stall_queue = collections.deque()
        self.tickets = 0
        self.seq = 0
        self.finished = 0
        self.logged = 0
        self.connections_total = 0
        self.connections_active = 0
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None

    # rules
    def set_rules(self, specs, append):
        with self.cv:
            first = 1 if not append else self.auto_ids + 1
            rules = compile_rules(specs, first)  # raises RuleError; nothing changed then
            ids = [r.id for r in (self.rules if append else []) + rules]
            duplicates = {i for i in ids if ids.count(i) > 1}
            if duplicates:
                raise RuleError("rules: duplicate id(s) %s" % ", ".join(sorted(duplicates)))
            self.rules = (self.rules if append else []) + rules
            self.auto_ids = (self.auto_ids if append else 0) + len(rules)
            self.generation += 1
            if not append:
                self.stall_until = 0.0  # the stall window was a rule's effect
                self.cv.notify_all()
            log("rules (generation %d): %s", self.generation,
                ", ".join("%s=%s" % (r.id, r.step.describe()) for r in self.rules) or "none")
            return {"generation": self.generation, "ids": [r.id for r in rules]}

    def admit(self, req):
        """Numbers the request, picks its rule, opens a stall; (seq, rule, steps, ticket)."""
        with self.cv:
            self.seq += 1
            chosen = None
            for rule in self.rules:
                if rule.consider(req) and chosen is None:
                    chosen = rule
            now = time.monotonic()
            if chosen is not None:
                chosen.hits += 1
                if chosen.step.kind == "stall":
                    self.stall_until = max(self.stall_until, now + chosen.step.params["ms"] / 1000.0)
            ticket = None
            if now < self.stall_until:
                self.tickets += 1
                ticket = self.tickets
                self.stall_queue.append(ticket)
            steps = chosen.step.chain() if chosen else [Step("pass", {}, None)]
            return self.seq, chosen, steps, ticket

    # stall
    def stall_wait(self, ticket, client):
        """Waits until the stall is over and this ticket is the oldest; False if the client left."""
        with self.cv:
            while True:
                if stop_event.is_set():
                    raise Stopped()
                if time.monotonic() >= self.stall_until and self.stall_queue and self.stall_queue[0] == ticket:
                    return True
                if client.gone():
                    return False
                self.cv.wait(STEP_S)

    def stall_done(self, ticket):
        with self.cv:
            try:
                self.stall_queue.remove(ticket)
            except ValueError:
                return
            self.cv.notify_all()

    # holds
    def hold(self, rule_id, seq, req):
        with self.cv:
            self.hold_numbers += 1
            h = Hold(self.hold_numbers, rule_id, seq, req)
            self.holds[h.number] = h
            self.cv.notify_all()
            return h

    def hold_wait(self, h, deadline, client):
        """"released", "expired" or "client left"."""
        with self.cv:
            try:
                while True:
                    if stop_event.is_set():
                        raise Stopped()
                    if h.released:
                        return "released"
                    if time.monotonic() >= deadline:
                        return "expired"
                    if client.gone():
                        return "client left"
                    self.cv.wait(STEP_S)
            finally:
                self.holds.pop(h.number, None)

    def release(self, rule=None, number=None, count=None, stall=False, holds=True):
        with self.cv:
            released = 0
            if stall:
                self.stall_until = 0.0
            for h in list(self.holds.values()) if holds else []:
                if count is not None and released >= count:
                    break
                if h.released or (rule is not None and h.rule != rule) or (number is not None and h.number != number):
                    continue
                h.released = True
                released += 1
            self.cv.notify_all()
            return released

    # connections, log, status
    def connection(self, delta):
        with self.cv:
            self.connections_active += delta
            if delta > 0:
                self.connections_total += 1
            return self.connections_total

    def write_log(self, entry):
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self.log_lock:
            if self.log_file is not None:
                try:
                    self.log_file.write(line)
                    self.log_file.flush()
                except (OSError, ValueError) as e:
                    log("cannot write the request log: %s", e)
        with self.cv:
            self.logged += 1
            if entry["seq"] is not None:
                self.finished += 1

    def status(self, extra):
        with self.cv:
            now = time.monotonic()
            out = {"generation": self.generation, "requests": self.seq, "finished": self.finished,
                   "logged": self.logged,
                   "connections": {"active": self.connections_active, "total": self.connections_total},
                   "rules": [r.status() for r in self.rules],
                   "held": [h.status() for h in self.holds.values() if not h.released],
                   "stall": {"remaining_ms": max(0, int((self.stall_until - now) * 1000)),
                             "waiting": len(self.stall_queue)},
                   "log": self.log_path}
        out.update(extra)
        return out


# ---- one client connection ----

MADE_UP_STATUS_LINE = b"HTTP/1.1 503 Service Unavailable\r\n"

S3_DEFAULTS = {
    400: ("InvalidRequest", "Invalid Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    409: ("OperationAborted", "A conflicting conditional operation is in progress."),
    412: ("PreconditionFailed", "At least one of the preconditions you specified did not hold."),
    416: ("InvalidRange", "The requested range is not satisfiable"),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    501: ("NotImplemented", "A header you provided implies functionality that is not implemented."),
    503: ("SlowDown", "Please reduce your request rate."),
}


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def reason(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Fault"


class Connection:
    def __init__(self, proxy, number, sock, peer):
        self.proxy = proxy
        self.state = proxy.state
        self.number = number
        self.peer = peer
        self.client = Stream(sock, proxy.idle_timeout)
        self.up = None
        self.ticket = None

    def say(self, fmt, *args):
        log("conn %d: " + fmt, self.number, *args)

    def run(self):
        try:
            n = 0
            while not stop_event.is_set():
                try:
                    head = self.read_client_head()
                except Timeout:
                    break
                except ProtocolError as e:
                    self.refuse(e, n + 1)
                    break
                if head is None:
                    break
                n += 1
                if not self.exchange(head, n):
                    break
        except Stopped:
            pass
        except Exception as e:  # keep the proxy alive whatever one connection does
            self.say("failed: %s: %s", type(e).__name__, e)
        finally:
            if self.ticket is not None:
                self.state.stall_done(self.ticket)
            self.client.close()
            if self.up is not None:
                self.up.close()
            self.proxy.connection_done(self)

    def read_client_head(self):
        deadline = time.monotonic() + self.proxy.idle_timeout
        while True:
            head = split_head(self.client, "request")
            if head is not None:
                return head
            if self.client.eof:
                if self.client.buf:
                    raise ProtocolError("the client closed in the middle of a request head")
                return None
            wait_readable([self.client], deadline)
            self.client.fill()

    # -- one request --

    def new_entry(self, n):
        return {"seq": None, "conn": self.number, "n": n, "t": round(time.time(), 3), "t_fwd": None, "ms": 0,
                "method": None, "op": None, "bucket": None, "key": None, "query": None, "rule": None,
                "action": "pass", "forwarded": False, "upstream_status": None, "client_status": None,
                "req_bytes": 0, "resp_bytes": 0, "sent_bytes": 0, "note": None}

    def refuse(self, error, n):
        """A request that is not HTTP as we know it: 400, logged, and the connection closed."""
        entry = self.new_entry(n)
        entry.update(action="refused", note=str(error))
        self.say("%s: answering 400", error)
        self.send_error(None, 400, "InvalidRequest", str(error), close=True, entry=entry)
        self.client.close()
        self.state.write_log(entry)

    def exchange(self, head, n):
        """Handles one request; True when the connection carries on."""
        started = time.monotonic()
        try:
            req = Request(head)
        except ProtocolError as e:
            self.refuse(e, n)
            return False
        entry = self.new_entry(n)
        keep = False
        try:
            entry.update(method=req.method, op=req.op, bucket=req.bucket, key=req.key, query=req.query)
            seq, rule, steps, self.ticket = self.state.admit(req)
            entry["seq"] = seq
            if rule is not None:
                entry["rule"] = rule.id
                entry["action"] = rule.step.describe()
            if self.ticket is not None and not self.state.stall_wait(self.ticket, self.client):
                entry["note"] = "the client left during the stall"
                return False
            if any(s.kind in ("delay", "hold") for s in steps):
                self.end_stall()
            for step in steps[:-1]:
                if step.kind != "stall" and not self.wait_step(step, rule, seq, req, entry):
                    return False
            keep = self.act(steps[-1], req, head, entry)
            return keep
        except Stopped:
            entry["note"] = "the proxy stopped"
            raise
        except Timeout:
            entry["note"] = "a peer was silent for %.0f s" % self.proxy.idle_timeout
            return False
        except ProtocolError as e:
            entry["note"] = str(e)
            self.say("%s", e)
            return False
        finally:
            self.end_stall()
            entry["ms"] = int((time.monotonic() - started) * 1000)
            if not keep:
                self.client.close()  # after a reset or a graceful close: a no-op
            self.state.write_log(entry)

    def end_stall(self):
        if self.ticket is not None:
            self.state.stall_done(self.ticket)
            self.ticket = None

    def wait_step(self, step, rule, seq, req, entry):
        """delay or hold; False when the client left (the request is not forwarded)."""
        if step.kind == "delay":
            deadline = time.monotonic() + step.params["ms"] / 1000.0
            while True:
                if stop_event.is_set():
                    raise Stopped()
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                if self.client.gone():
                    entry["note"] = "the client left during the delay"
                    return False
                time.sleep(min(left, STEP_S))
        ms = step.params.get("ms", self.proxy.max_hold_ms)
        h = self.state.hold(rule.id if rule else None, seq, req)
        self.say("holding %s (hold %d, at most %d ms)", req.summary(), h.number, ms)
        how = self.state.hold_wait(h, time.monotonic() + ms / 1000.0, self.client)
        if how == "client left":
            entry["note"] = "the client left during the hold"
            return False
        if how == "expired":
            entry["note"] = "hold expired after %d ms" % ms
            self.say("hold %d expired after %d ms", h.number, ms)
        return True

    def act(self, step, req, head, entry):
        kind = step.kind
        if kind in ("reset_before", "status"):
            self.end_stall()
        if kind == "reset_before":
            entry["note"] = "reset before forwarding"
            if step.params.get("status_line", False):
                self.client.send(MADE_UP_STATUS_LINE)
            self.client.reset()
            return False
        if kind == "status":
            return self.answer(step, req, entry)
        return self.forward(step, req, head, entry)

    # -- answering ourselves --

    def send_error(self, req, code, s3code, message, close, entry, extra_headers=None):
        rid = "fault-%d-%d-%d" % (os.getpid(), self.number, entry["n"])
        resource = "/" if req is None else "/%s%s" % (req.bucket, "/" + req.key if req.key else "")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
                "<Resource>%s</Resource><RequestId>%s</RequestId><HostId>s3-fault-proxy</HostId></Error>"
                % (xml_escape(s3code), xml_escape(message), xml_escape(resource), rid)).encode()
        bodyless = code in (204, 304)
        lines = ["HTTP/1.1 %d %s" % (code, reason(code)), "x-amz-request-id: %s" % rid,
                 "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())]
        if not bodyless:
            lines += ["Content-Type: application/xml", "Content-Length: %d" % len(body)]
        for name, value in (extra_headers or {}).items():
            lines.append("%s: %s" % (name, value))
        if close:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not bodyless and (req is None or req.method != "HEAD"):
            data += body
            entry["sent_bytes"] = len(body)
        entry["client_status"] = code
        return self.client.send(data)

    def answer(self, step, req, entry):
        p = step.params
        code = p["code"]
        s3code, message = S3_DEFAULTS.get(code, ("Fault%d" % code, reason(code)))
        if code == 404 and not req.key:
            s3code, message = "NoSuchBucket", "The specified bucket does not exist"
        s3code = p.get("s3code", s3code)
        message = p.get("message", message)
        body = Body(*req.framing)
        if req.expects_continue and not body.done:
            if not self.client.send(b"HTTP/1.1 100 Continue\r\n\r\n"):
                entry["note"] = "the client left"
                return False
        deadline = time.monotonic() + self.proxy.idle_timeout
        while not body.done:
            entry["req_bytes"] += len(body.take(self.client))
            if body.done:
                break
            if self.client.eof:
                entry["note"] = "the client left in the middle of the request body"
                return False
            wait_readable([self.client], deadline)
            if self.client.fill():
                deadline = time.monotonic() + self.proxy.idle_timeout
        close = p.get("close", False) or req.close
        if not self.send_error(req, code, s3code, message, close, entry, p.get("response_headers")):
            entry["note"] = "the client left before the answer"
            return False
        if close:
            self.client.close_gracefully()
        return not close

    # -- forwarding --

    def upstream(self):
        """The upstream connection: the kept one when it is still good, else a new one."""
        if self.up is not None:
            stale = self.up.eof or bool(self.up.buf)
            if not stale:
                try:
                    r, _, _ = select.select([self.up.sock], [], [], 0)
                    stale = bool(r)
                except (OSError, ValueError):
                    stale = True
            if not stale:
                return self.up
            self.up.close()
            self.up = None
        host, port = self.proxy.upstream
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect((host, port))
        except OSError:
            sock.close()
            raise
        self.up = Stream(sock, self.proxy.idle_timeout)
        return self.up

    def forward(self, step, req, head, entry):
        kind = step.kind
        deliver = kind in ("pass", "cut")
        cut_left = step.params.get("bytes") if kind == "cut" else None
        try:
            up = self.upstream()
        except OSError as e:
            entry["note"] = "cannot reach the upstream: %s" % e
            return False
        if not up.send(head):
            entry["note"] = "the upstream refused the request head"
            return False
        entry["forwarded"] = True
        entry["t_fwd"] = round(time.time(), 3)
        self.end_stall()
        body = Body(*req.framing)
        resp = Response(req.method)
        client_left = False
        final_head = b""
        deadline = time.monotonic() + self.proxy.idle_timeout
        while not (resp.done and body.done):
            if resp.done and not body.done:  # answered before the whole body: the connection ends
                break
            moved = False
            if not body.done and self.client.buf:
                data = body.take(self.client)
                entry["req_bytes"] += len(data)
                if data and not up.send(data):
                    entry["note"] = "the upstream closed while the request body was sent"
                    return False
                moved = True
            if not resp.done and up.buf:
                for event, data in resp.feed(up):
                    moved = True
                    if event == "interim":
                        if not client_left and not self.client.send(data):
                            client_left = True
                        continue
                    if event == "head":
                        final_head = data
                        entry["upstream_status"] = resp.status
                        if deliver:
                            if not self.client.send(data):
                                entry["note"] = "the client left before the response"
                                up.reset()
                                self.up = None
                                return False
                            entry["client_status"] = resp.status
                        continue
                    entry["resp_bytes"] += len(data)
                    if kind == "pass":
                        if not self.client.send(data):
                            entry["note"] = "the client left during the response body"
                            up.reset()
                            self.up = None
                            return False
                        entry["sent_bytes"] += len(data)
                    elif kind == "cut":
                        k = min(len(data), cut_left)
                        sent = not k or self.client.send(data[:k])
                        entry["sent_bytes"] += k if sent else 0
                        cut_left -= k
                        if not sent or (cut_left == 0 and (k < len(data) or not resp.done)):
                            entry["note"] = ("cut after %d body bytes" % entry["sent_bytes"] if sent
                                             else "the client left during the response body")
                            self.finish_client(step.params.get("close", "fin"))
                            up.reset()
                            self.up = None
                            return False
            if resp.done and body.done:
                break
            if moved:
                deadline = time.monotonic() + self.proxy.idle_timeout
                continue
            watch = []
            if not client_left and not self.client.eof and (not body.done or len(self.client.buf) < MAX_HEAD):
                watch.append(self.client)
            if not resp.done:
                watch.append(up)
            ready = wait_readable(watch, deadline)
            if self.client in ready and not self.client.fill():
                if not body.done:
                    entry["note"] = "the client left in the middle of the request body"
                    up.reset()
                    self.up = None
                    return False
                client_left = True
                if deliver:
                    entry["note"] = "the client left before the response"
                    up.reset()
                    self.up = None
                    return False
            if up in ready and not up.fill():
                if resp.body is not None and resp.body.peer_closed():
                    resp.done = True
                    continue
                entry["note"] = "the upstream closed in the middle of the response"
                self.up = None
                up.close()
                if deliver and resp.status is not None:
                    self.client.close_gracefully()
                else:
                    self.client.reset()
                return False
        keep = not (req.close or resp.close or not body.done or client_left)
        if not keep and self.up is not None and (resp.close or not body.done):
            self.up.close()
            self.up = None
        if kind == "drop_after":
            entry["note"] = "dropped the response after the server answered"
            if step.params.get("status_line", True) and not client_left:
                self.client.send(final_head[:final_head.find(b"\r\n") + 2])
            self.finish_client(step.params.get("close", "reset"))
            return False
        if kind == "timeout_after":
            return self.silence(step, entry, client_left)
        if kind == "cut":
            entry["note"] = "not cut: the body had %d bytes" % entry["resp_bytes"]
        if not keep:
            self.client.close_gracefully()
        return keep

    def finish_client(self, how):
        if how == "reset":
            self.client.reset()
        else:
            self.client.close_gracefully()

    def silence(self, step, entry, client_left):
        ms = step.params["ms"]
        deadline = time.monotonic() + ms / 1000.0
        while not client_left:
            if stop_event.is_set():
                raise Stopped()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self.client.gone():
                client_left = True
                break
            time.sleep(min(left, STEP_S))
        entry["note"] = ("the client gave up during the silence" if client_left
                          else "silent for %d ms after the server answered" % ms)
        self.finish_client(step.params.get("close", "reset"))
        return False


# ---- control endpoint ----

class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-fault-proxy"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        data = (json.dumps(obj, indent=1) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = self.headers.get("Content-Length")
        if length is None:
            return {}
        if not length.isdigit() or int(length) > MAX_CONTROL_BODY:
            raise RuleError("a JSON body with Content-Length up to %d bytes is needed" % MAX_CONTROL_BODY)
        raw = self.rfile.read(int(length))
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise RuleError("the body is not JSON: %s" % e)

    def handle_one(self, method):
        proxy = self.server.proxy
        path = urllib.parse.urlsplit(self.path).path
        try:
            if method == "GET" and path == "/status":
                return self.reply(200, proxy.status())
            if path == "/rules" and method in ("PUT", "POST"):
                body = self.body()
                if not isinstance(body, dict) or set(body) != {"rules"}:
                    raise RuleError('the body must be {"rules": [...]}')
                return self.reply(200, proxy.state.set_rules(body["rules"], method == "POST"))
            if path == "/rules" and method == "DELETE":
                return self.reply(200, proxy.state.set_rules([], False))
            if path == "/release" and method == "POST":
                body = self.body()
                if not isinstance(body, dict) or not set(body) <= {"rule", "hold", "count", "stall"}:
                    raise RuleError('the body must be an object with "rule", "hold", "count" and/or "stall"')
                for name, ok in (("rule", lambda v: isinstance(v, str)), ("hold", is_int),
                                 ("count", lambda v: is_int(v) and v >= 0), ("stall", lambda v: v is True)):
                    if name in body and not ok(body[name]):
                        raise RuleError("release: bad %r: %r" % (name, body[name]))
                selects = bool(set(body) & {"rule", "hold", "count"})
                released = proxy.state.release(body.get("rule"), body.get("hold"), body.get("count"),
                                               stall=body.get("stall", not selects),
                                               holds=selects or "stall" not in body)
                return self.reply(200, {"released": released})
            self.reply(404, {"error": "no %s %s here (GET /status, PUT|POST|DELETE /rules, POST /release)"
                             % (method, path)})
        except RuleError as e:
            self.reply(400, {"error": str(e)})

    def do_GET(self):
        self.handle_one("GET")

    def do_PUT(self):
        self.handle_one("PUT")

    def do_POST(self):
        self.handle_one("POST")

    def do_DELETE(self):
        self.handle_one("DELETE")


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# ---- the proxy ----

class Proxy:
    def __init__(self, args):
        self.upstream = args.upstream
        self.idle_timeout = args.idle_timeout
        self.max_connections = args.max_connections
        self.max_hold_ms = args.max_hold_ms
        self.state = State(args.log)
        self.lock = threading.Lock()
        self.active = set()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", args.port))
        self.listener.listen(256)
        self.control = ControlServer(("127.0.0.1", args.control_port), ControlHandler)
        self.control.proxy = self

    @property
    def port(self):
        return self.listener.getsockname()[1]

    def status(self):
        return self.state.status({"port": self.port, "control_port": self.control.server_address[1],
                                  "upstream": "%s:%d" % self.upstream})

    def connection_done(self, conn):
        with self.lock:
            self.active.discard(conn)
        self.state.connection(-1)

    def accept_one(self):
        sock, peer = self.listener.accept()
        number = self.state.connection(+1)
        with self.lock:
            full = len(self.active) >= self.max_connections
            conn = None if full else Connection(self, number, sock, peer)
            if conn is not None:
                self.active.add(conn)
        if conn is None:
            log("conn %d: more than %d connections: reset", number, self.max_connections)
            Stream(sock, 1.0).reset()
            self.state.connection(-1)
            return
        try:
            threading.Thread(target=conn.run, name="conn-%d" % number, daemon=True).start()
        except RuntimeError as e:
            log("conn %d: cannot be handled (%s): reset", number, e)
            conn.client.reset()
            self.connection_done(conn)

    def serve(self, parent, lifetime):
        threading.Thread(target=self.control.serve_forever, kwargs={"poll_interval": 0.1},
                         name="control", daemon=True).start()
        accept_loop(self.listener, self.accept_one, parent, lifetime)
        self.listener.close()
        self.control.shutdown()
        self.control.server_close()
        wait_handled(self.lock, lambda: self.active, step=STEP_S)


def loopback_upstream(text):
    """argparse type: host:port or http://host:port of a loopback address."""
    if "://" in text:
        split = urllib.parse.urlsplit(text)
        if split.scheme != "http" or split.path not in ("", "/") or split.query:
            raise argparse.ArgumentTypeError("upstream must be http://host:port or host:port, not %r" % text)
        text = split.netloc
    return proxy_base.loopback_upstream(text)


def main():
    p = argparse.ArgumentParser(description="A request-aware, misbehaving HTTP proxy in front of the local S3 server.")
    p.add_argument("--upstream", type=loopback_upstream, required=True,
                   help="loopback host:port (or http://host:port) of the S3 server")
    p.add_argument("--port", type=int, default=0, help="proxy port on 127.0.0.1 (0: pick one)")
    p.add_argument("--control-port", type=int, default=0, help="control port on 127.0.0.1 (0: pick one)")
    p.add_argument("--rules", help="JSON file with the initial rules ({\"rules\": [...]} or a list)")
    p.add_argument("--log", help="request log file (JSONL, appended)")
    p.add_argument("--max-connections", type=int, default=256)
    p.add_argument("--idle-timeout", type=float, default=60.0, help="seconds a peer may stay silent")
    p.add_argument("--max-hold-ms", type=int, default=60_000, help="longest hold without an explicit ms")
    p.add_argument("--lifetime", type=float, default=3600.0, help="exit after this many seconds")
    args = p.parse_args()
    if not 0 < args.max_hold_ms <= MAX_MS:
        p.error("--max-hold-ms must be 1..%d" % MAX_MS)
    if args.idle_timeout <= 0 or args.max_connections < 1:
        p.error("--idle-timeout and --max-connections must be positive")

    handle_signals()
    parent = os.getppid()
    threading.stack_size(512 * 1024)

    proxy = Proxy(args)
    if args.rules:
        try:
            with open(args.rules, encoding="utf-8") as f:
                spec = json.load(f)
            proxy.state.set_rules(spec["rules"] if isinstance(spec, dict) and "rules" in spec else spec, False)
        except (OSError, ValueError, RuleError) as e:
            sys.stderr.write("s3_fault_proxy: %s: %s\n" % (args.rules, e))
            return 2
    sys.stdout.write("PORT %d CONTROL %d\n" % (proxy.port, proxy.control.server_address[1]))
    sys.stdout.flush()
    log("listening on 127.0.0.1:%d (control %d), upstream %s:%d", proxy.port,
        proxy.control.server_address[1], *args.upstream)
    proxy.serve(parent, args.lifetime)
    log("stopped after %d connections and %d requests", proxy.state.connections_total, proxy.state.seq)
    return 0


if __name__ == "__main__":
    sys.exit(main())
