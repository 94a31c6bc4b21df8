"""faults.py — drive the request-aware fault proxy (s3_fault_proxy.py) from a Python test.

A test starts one proxy in front of the local S3 server, points the client under test
(sluice-mover's endpoint, boto3's endpoint_url, curl) at `proxy.endpoint`, sets rules,
and reads back what happened to each request:

    from faults import FaultProxy, status, drop_after, hold

    with FaultProxy() as proxy:                      # upstream: $SLUICE_S3_ENDPOINT
        proxy.set_rules([status(503, op="DeleteObject", nth=2, id="del2"),
                         hold(op="CopyObject", key=r"run-1/.*", id="copy")])
        ... start the mover with endpoint proxy.endpoint ...
        proxy.wait_held(rule="copy")                 # the copy is parked at the proxy
        ... replace the staging object directly ...
        proxy.release(rule="copy")
        proxy.wait_hits("del2")
        assert proxy.count(op="DeleteObject") == 3

The API:
  FaultProxy(upstream=None, workdir=None, idle_timeout=60, max_hold_ms=60000,
             lifetime=3600, python=None)
      upstream: "http://127.0.0.1:port" or "127.0.0.1:port" (loopback only; default
      $SLUICE_S3_ENDPOINT); workdir: where the request log and the proxy's stderr go
      (default a fresh temporary folder, removed by stop() unless keep=True is passed
      to stop). start() returns self; stop() ends the proxy (SIGTERM, then SIGKILL);
      both are called by the context manager. The proxy also exits on its own when
      this process dies.
  .endpoint ("http://127.0.0.1:PORT"), .port, .control_port, .log_path, .stderr_path
  .set_rules(rules) -> ids     replace every rule; counters start again at 0
  .add_rules(rules) -> ids     append rules; .clear_rules()
  .status() -> dict            GET /status (see s3_fault_proxy.py)
  .rule(id) -> {"id", "action", "matched", "hits"}; .hits(id); .matched(id)
  .wait_hits(id, n=1, timeout=30) -> hits   wait until a rule acted n times
  .wait_held(n=1, rule=None, timeout=30) -> [hold]   wait until n requests are held
  .wait_stalled(n=1, timeout=30) -> n   wait until n requests wait for a stall to end
  .release(rule=None, hold=None, count=None, stall=None) -> released
                               release held requests (those named, oldest first);
                               stall=True ends a stall window; no argument: all
  .settle(timeout=30)          wait until every request the proxy admitted is logged
                               (a log line is written when its request is finished,
                               which can be just after the client saw the outcome)
  .mark() -> int               requests logged so far (an offset for since=)
  .requests(since=0, **match) -> [entry]   the request log, entries whose fields
                               equal the given values (a callable value is a test;
                               a compiled regex must match the whole field)
  .count(since=0, **match) -> int
  .wait_requests(n, since=0, timeout=30, **match) -> [entry]
Rule builders (each returns the rule's JSON object; match and select fields are passed
through: method, op, bucket, key, query, headers, nth, first, from_ (from), limit,
probability, seed, id):
  passthrough(**m)  status(code, s3code=None, **m)  reset_before(**m)  drop_after(**m)
  timeout_after(ms, **m)  delay(ms, then=None, **m)  cut(nbytes, **m)
  hold(ms=None, then=None, **m)  stall(ms, then=None, **m)
  (`then` is a builder's result without match fields, e.g. then=drop_after()).
  Action parameters go the same way: drop_after(status_line=False, close="fin"),
  status(503, message="...", response_headers={"Retry-After": "1"}, close=True).
libcurl (sluice-mover) silently re-sends a request when a reused connection dies before
a whole status line arrived: drop_after sends the status line first for that reason,
and reset_before(status_line=True) makes a reset before forwarding visible to it.
Errors from the proxy (a refused rule set, a failed start) raise FaultProxyError with
the proxy's own message; waits that run out raise TimeoutError with the proxy's status.

Standard library only.
"""

import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PROXY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "s3_fault_proxy.py")
START_TIMEOUT_S = 10.0


class FaultProxyError(RuntimeError):
    pass


# ---- rule builders ----

def rule(action, **fields):
    """A rule object: the action, its parameters, and match/select fields (from_ -> from)."""
    out = {"action": action}
    for name, value in fields.items():
        if value is None:
            continue
        out[name[:-1] if name.endswith("_") else name] = value
    return out


def passthrough(**m):
    return rule("pass", **m)


def status(code, s3code=None, **m):
    return rule("status", code=code, s3code=s3code, **m)


def reset_before(**m):
    return rule("reset_before", **m)


def drop_after(**m):
    return rule("drop_after", **m)


def timeout_after(ms, **m):
    return rule("timeout_after", ms=ms, **m)


def delay(ms, then=None, **m):
    return rule("delay", ms=ms, then=then, **m)


def cut(nbytes, **m):
    return rule("cut", bytes=nbytes, **m)


def hold(ms=None, then=None, **m):
    return rule("hold", ms=ms, then=then, **m)


def stall(ms, then=None, **m):
    return rule("stall", ms=ms, then=then, **m)


# ---- the proxy process ----

def _matches(entry, match):
    for name, want in match.items():
        have = entry.get(name)
        if callable(want) and not isinstance(want, re.Pattern):
            if not want(have):
                return False
        elif isinstance(want, re.Pattern):
            if not isinstance(have, str) or want.fullmatch(have) is None:
                return False
        elif have != want:
            return False
    return True


class FaultProxy:
    def __init__(self, upstream=None, workdir=None, idle_timeout=60, max_hold_ms=60000, lifetime=3600,
                 python=None):
        self.upstream = upstream or os.environ.get("SLUICE_S3_ENDPOINT")
        if not self.upstream:
            raise FaultProxyError('no upstream: SLUICE_S3_ENDPOINT is not set (eval "$(scripts/s3-server.sh env)")')
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="s3-fault-proxy-")
        self.log_path = os.path.join(self.workdir, "requests.jsonl")
        self.stderr_path = os.path.join(self.workdir, "proxy.stderr")
        self.options = ["--idle-timeout", str(idle_timeout), "--max-hold-ms", str(max_hold_ms),
                        "--lifetime", str(lifetime)]
        self.python = python or sys.executable or "/usr/bin/python3"
        self.process = None
        self.port = self.control_port = None
        self._log_offset = 0
        self._log_entries = []

    # lifecycle
    def start(self):
        if self.process is not None:
            return self
        with open(self.log_path, "w"):
            pass
        self._log_offset, self._log_entries = 0, []
        self._stderr = open(self.stderr_path, "ab")
        self.process = subprocess.Popen(
            [self.python, PROXY_SCRIPT, "--upstream", self.upstream, "--log", self.log_path] + self.options,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr)
        line = b""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            chunk = os.read(self.process.stdout.fileno(), 256) if r else b""
            if not chunk:
                self.stop(keep=True)
                raise FaultProxyError("the proxy did not start: %s" % self.stderr_tail())
            line += chunk
        m = re.fullmatch(rb"PORT (\d+) CONTROL (\d+)\n", line)
        if not m:
            self.stop(keep=True)
            raise FaultProxyError("the proxy said %r: %s" % (line, self.stderr_tail()))
        self.port, self.control_port = int(m.group(1)), int(m.group(2))
        return self

    def stop(self, keep=False):
        """Stops the proxy; removes its temporary folder unless keep (or it was given)."""
        p, self.process = self.process, None
        if p is not None:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            p.stdout.close()
            self._stderr.close()
        if self.own_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(keep=exc[0] is not None)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def stderr_tail(self, lines=20):
        try:
            with open(self.stderr_path, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace").strip() or "(no output)"
        except OSError as e:
            return "(no stderr: %s)" % e

    # control calls
    def _call(self, method, path, body=None):
        if self.process is None:
            raise FaultProxyError("the proxy is not running")
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read() or b"{}")
        except (OSError, ValueError) as e:
            raise FaultProxyError("control %s %s failed: %s; proxy: %s" % (method, path, e, self.stderr_tail()))
        finally:
            conn.close()
        if resp.status != 200:
            raise FaultProxyError("control %s %s: %d %s" % (method, path, resp.status, answer.get("error", answer)))
        return answer

    def set_rules(self, rules):
        return self._call("PUT", "/rules", {"rules": list(rules)})["ids"]

    def add_rules(self, rules):
        return self._call("POST", "/rules", {"rules": list(rules)})["ids"]

    def clear_rules(self):
        self._call("DELETE", "/rules")

    def status(self):
        return self._call("GET", "/status")

    def rule(self, rule_id):
        for r in self.status()["rules"]:
            if r["id"] == rule_id:
                return r
        raise FaultProxyError("no rule %r" % rule_id)

    def hits(self, rule_id):
        return self.rule(rule_id)["hits"]

    def matched(self, rule_id):
        return self.rule(rule_id)["matched"]

    def release(self, rule=None, hold=None, count=None, stall=None):
        body = {k: v for k, v in (("rule", rule), ("hold", hold), ("count", count), ("stall", stall))
                if v is not None}
        return self._call("POST", "/release", body)["released"]

    def _wait(self, what, check, timeout):
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if got is not None:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError("%s within %.0f s; proxy status: %s" % (what, timeout, json.dumps(self.status())))
            time.sleep(0.05)

    def wait_stalled(self, n=1, timeout=30):
        """Wait until n requests wait for a stall window to end."""
        def check():
            waiting = self.status()["stall"]["waiting"]
            return waiting if waiting >= n else None
        return self._wait("%d request(s) stalled" % n, check, timeout)

    def wait_hits(self, rule_id, n=1, timeout=30):
        def check():
            h = self.hits(rule_id)
            return h if h >= n else None
        return self._wait("rule %s acted %d time(s)" % (rule_id, n), check, timeout)

    def wait_held(self, n=1, rule=None, timeout=30):
        def check():
            held = [h for h in self.status()["held"] if rule is None or h["rule"] == rule]
            return held if len(held) >= n else None
        return self._wait("%d request(s) held%s" % (n, "" if rule is None else " by " + rule), check, timeout)

    # the request log
    def settle(self, timeout=30):
        def check():
            s = self.status()
            return s if s["finished"] >= s["requests"] else None
        return self._wait("every admitted request logged", check, timeout)

    def mark(self):
        return len(self._entries())

    def _entries(self):
        """Every complete log line so far, parsed once (the file only grows)."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line being written waits for the next call
        for line in data[:end].splitlines():
            self._log_entries.append(json.loads(line))
        self._log_offset += end
        return self._log_entries

    def requests(self, since=0, **match):
        return [dict(e) for e in self._entries()[since:] if _matches(e, match)]

    def count(self, since=0, **match):
        return len(self.requests(since, **match))

    def wait_requests(self, n, since=0, timeout=30, **match):
        def check():
            got = self.requests(since, **match)
            return got if len(got) >= n else None
        return self._wait("%d logged request(s) matching %r" % (n, match), check, timeout)
