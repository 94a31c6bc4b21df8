"""sluice-mover as a service, against the local radosgw: the readiness protocol a
service manager sees (READY=1 once it serves, RELOADING=1 then READY=1 around SIGHUP,
STOPPING=1 on SIGTERM, on a NOTIFY_SOCKET of the test's own: a path and an abstract
name).

The daemon is the real binary (argv[1]); boto3 plays the interpreter. Each run has its
own route, prefixes, control prefix, API socket and ports. Needs
`eval "$(scripts/s3-server.sh env)"`.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

MOVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/sluice-mover"
STAGING = ENV["SLUICE_BUCKET_STAGING"]
QUARANTINE = ENV["SLUICE_BUCKET_QUARANTINE"]
TRUSTED = ENV["SLUICE_BUCKET_TRUSTED"]
WAIT = 60  # seconds: generous, for sanitizer builds on a loaded machine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A sluice-mover on a configuration and sockets of its own."""

    def __init__(self, tmp, extra=None):
        self.tmp = tmp
        self.run = uuid.uuid4().hex[:10]
        self.route = "svc" + self.run
        self.prefix = f"service-test/{self.run}/"
        self.log_path = os.path.join(tmp, "mover.log")
        self.log = open(self.log_path, "ab")
        cfg = {
            "s3": {
                "endpoint": ENV["SLUICE_S3_ENDPOINT"],
                "region": ENV["SLUICE_S3_REGION"],
                "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"},
            },
            "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                        "control_prefix": f"sluice-test/{self.run}/"},
            "routes": [{
                "name": self.route,
                "staging_prefix": self.prefix + "in/",
                "trusted_prefix": self.prefix + "out/",
                "review": "auto",
                "require_task": False,  # boto3 plays the interpreter with the mover's keys
                "checks": {"max_bytes": "64KiB", "allow_types": ["text/csv", "text/plain"]},
            }],
            "api": {"socket": os.path.join(tmp, "api.sock")},
            "audit": {"file": os.path.join(tmp, "audit.jsonl")},
            "worker": {"poll_interval": "200ms"},
        }
        for section, values in (extra or {}).items():
            cfg.setdefault(section, {}).update(values)
        self.config = os.path.join(tmp, "sluice.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def start(self, env=None):
        self.proc = subprocess.Popen([MOVER, "run", "-c", self.config], stdout=self.log, stderr=self.log,
                                     env={**ENV, **(env or {})})

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=WAIT):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        return rc

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Notifications:
    """A datagram socket standing in for the service manager's NOTIFY_SOCKET."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name[1:] if name.startswith("@") else name)

    def next(self, daemon, timeout=WAIT):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no notification within %ds; daemon log:\n%s" % (timeout, daemon.log_text()))
        return dict(line.split("=", 1) for line in data.strip().split("\n"))

    def close(self):
        self.sock.close()


class ServiceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-service-")
        self.daemons = []

    def tearDown(self):
        # a failing assertion carries the daemon's log; nothing else is worth keeping
        for d in self.daemons:
            d.stop()
            d.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def daemon(self, **kw):
        d = Daemon(self.tmp, **kw)
        self.daemons.append(d)
        return d

    def check_protocol(self, notify_name):
        notes = Notifications(notify_name)
        try:
            d = self.daemon()
            d.start(env={"NOTIFY_SOCKET": notify_name})
            ready = notes.next(d)
            self.assertEqual(ready.get("READY"), "1", ready)
            self.assertEqual(ready.get("STATUS"), "serving")
            # it serves by then: the API socket answers
            self.assertTrue(os.path.exists(os.path.join(self.tmp, "api.sock")))
            d.signal(signal.SIGHUP)
            reloading = notes.next(d)
            self.assertEqual(reloading.get("RELOADING"), "1", reloading)
            self.assertTrue(int(reloading["MONOTONIC_USEC"]) > 0)
            again = notes.next(d)
            self.assertEqual(again.get("READY"), "1", again)
            d.signal(signal.SIGTERM)
            stopping = notes.next(d)
            self.assertEqual(stopping.get("STOPPING"), "1", stopping)
            self.assertEqual(d.stop(), 0, d.log_text())
        finally:
            notes.close()

    def test_readiness_on_a_path_socket(self):
        self.check_protocol(os.path.join(self.tmp, "notify"))

    def test_readiness_on_an_abstract_socket(self):
        self.check_protocol(f"@sluice-service-test-{uuid.uuid4().hex}")

    def test_no_ready_when_start_up_fails(self):
        notes = Notifications(os.path.join(self.tmp, "notify"))
        try:
            d = self.daemon(extra={"s3": {"credentials": {"file": "/nonexistent/credentials", "profile": "x"}}})
            d.start(env={"NOTIFY_SOCKET": notes.name})
            self.assertEqual(d.proc.wait(timeout=WAIT), 1)
            notes.sock.setblocking(False)
            with self.assertRaises(BlockingIOError):
                notes.sock.recv(4096)
            d.proc = None
        finally:
            notes.close()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
