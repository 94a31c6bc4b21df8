"""sluice-mover as a service, against the local radosgw: the readiness protocol a
service manager sees (READY=1 once it serves, RELOADING=1 then READY=1 around SIGHUP,
STOPPING=1 on SIGTERM, on a NOTIFY_SOCKET of the test's own: a path and an abstract
name); health that tells the truth (S3 unreachable, the pipeline stalled, seen through
the sluice_healthy metric and the daemon's log, and back); and /metrics as a real
Prometheus server (Debian's `prometheus`, on loopback,
with its own port and data folder) scrapes it while artifacts go through, asked
through Prometheus's HTTP API for the counters they must have moved.

The daemon is the real binary (argv[1]); boto3 plays the interpreter. Each run has its
own route, prefixes, control prefix, API socket and ports. Needs
`eval "$(scripts/s3-server.sh env)"`.
"""
import json
import os
import urllib.parse
import urllib.request
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import uuid

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

MOVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/sluice-mover"
# tests/deny_write_exec.c: runs a program as MemoryDenyWriteExecute=yes does
DENY_WRITE_EXEC = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "build/tests/deny-write-exec"
RULES = os.path.abspath("config/rules/default.json")  # the project's default rules (cwd: the source tree)
STAGING = ENV["SLUICE_BUCKET_STAGING"]
QUARANTINE = ENV["SLUICE_BUCKET_QUARANTINE"]
TRUSTED = ENV["SLUICE_BUCKET_TRUSTED"]
WAIT = 60  # seconds: generous, for sanitizer builds on a loaded machine
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

import boto3  # noqa: E402  (after the environment check)
from botocore.config import Config  # noqa: E402

s3 = boto3.client(
    "s3",
    endpoint_url=ENV["SLUICE_S3_ENDPOINT"],
    region_name=ENV["SLUICE_S3_REGION"],
    aws_access_key_id=ENV["SLUICE_MOVER_ACCESS_KEY"],
    aws_secret_access_key=ENV["SLUICE_MOVER_SECRET_KEY"],
    config=Config(retries={"max_attempts": 5}),
)


def wait_until(what, predicate, daemon, timeout=WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if daemon.proc is not None and daemon.proc.poll() is not None:
            raise AssertionError(f"sluice-mover exited while waiting for {what}:\n{daemon.log_text()}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; daemon log:\n{daemon.log_text()}")


PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fault_proxy.py")


class FaultProxy:
    """tests/integration/fault_proxy.py in front of the S3 server, passing everything."""

    def __init__(self, tmp, port=0):
        upstream = urllib.parse.urlparse(ENV["SLUICE_S3_ENDPOINT"]).netloc
        schedule = os.path.join(tmp, "schedule")
        open(schedule, "w").close()
        self.proc = subprocess.Popen(["/usr/bin/python3", PROXY, "--port", str(port), "--upstream", upstream,
                                      "--schedule", schedule], stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(tmp, "proxy.log"), "ab"), text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "PORT", f"fault_proxy said {line}"
        self.port = int(line[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=WAIT)


def metric(url, name):
    """The value of an unlabelled sample in the exposition at url, or None."""
    try:
        _, _, text = http_get(url)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def api_get(socket_path, path):
    """GET over the daemon's API socket: (status, JSON body)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signing_key(folder):
    """The daemon's signing key (attest.signing_key), made once per folder."""
    prefix = os.path.join(folder, "signing")
    if not os.path.exists(prefix + ".key"):
        subprocess.run([MOVER, "keygen", "-o", prefix], check=True, capture_output=True)
    return prefix + ".key"


class Daemon:
    """A sluice-mover on a configuration and sockets of its own."""

    def __init__(self, tmp, extra=None, checks=None):
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
                "checks": {"max_bytes": "64KiB", "allow_types": ["text/csv", "text/plain"], **(checks or {})},
            }],
            "api": {"socket": os.path.join(tmp, "api.sock")},
            "attest": {"signing_key": signing_key(tmp)},
            "audit": {"file": os.path.join(tmp, "audit.jsonl")},
            "worker": {"poll_interval": "200ms"},
        }
        for section, values in (extra or {}).items():
            cfg.setdefault(section, {}).update(values)
        self.config = os.path.join(tmp, "sluice.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def start(self, env=None, wrapper=()):
        self.proc = subprocess.Popen([*wrapper, MOVER, "run", "-c", self.config], stdout=self.log, stderr=self.log,
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
            # it exits by itself (a second SIGTERM from d.stop() could land after its
            # signal handlers are gone and end it with -15: a race of the test's own)
            self.assertEqual(d.proc.wait(timeout=WAIT), 0, d.log_text())
            d.proc = None
        finally:
            notes.close()

    def test_readiness_on_a_path_socket(self):
        self.check_protocol(os.path.join(self.tmp, "notify"))

    def test_readiness_on_an_abstract_socket(self):
        self.check_protocol(f"@sluice-service-test-{uuid.uuid4().hex}")

    def test_health_tells_the_truth(self):
        proxy = FaultProxy(self.tmp)
        self.addCleanup(lambda: proxy.stop())
        mport = free_port()
        d = self.daemon(extra={"s3": {"endpoint": f"http://127.0.0.1:{proxy.port}", "max_attempts": 100},
                               "api": {"metrics_listen": f"127.0.0.1:{mport}"},
                               "worker": {"concurrency": 1, "stall_after": "2s"}})
        d.start()
        url = f"http://127.0.0.1:{mport}/metrics"
        wait_until("healthy", lambda: metric(url, "sluice_healthy") == 1, d)
        for i in range(40):
            s3.put_object(Bucket=STAGING, Key=f"{d.prefix}in/t1/f{i}.csv", Body=b"a,b\n%d,2\n" % i,
                          ContentType="text/csv")
        wait_until("an artifact in flight", lambda: metric(url, "sluice_artifacts_in_flight") == 1, d)

        # S3 goes away with an artifact in flight: the probe fails, the pipeline stalls
        proxy.stop()
        wait_until("unhealthy", lambda: metric(url, "sluice_healthy") == 0, d)
        wait_until("S3 reported unreachable", lambda: "s3_unreachable" in d.log_text(), d)
        wait_until("the stall reported", lambda: "pipeline_stalled" in d.log_text(), d)
        self.assertIn("the pipeline has stopped making changes", d.log_text())
        sock = os.path.join(self.tmp, "api.sock")

        def faults():
            status, body = api_get(sock, "/v1/health")
            return status == 503 and {f["check"]: f["reason"] for f in body.get("faults", [])}

        found = wait_until("/v1/health to name S3 and the stall", lambda: (lambda f: f if f and "s3" in f and
                           "progress" in f else None)(faults()), d)
        self.assertIn("S3", found["s3"])
        self.assertIn("stopped making changes", found["progress"])

        # and comes back: healthy again, the artifacts go through
        proxy = FaultProxy(self.tmp, port=proxy.port)
        wait_until("S3 reported back", lambda: "s3_reachable" in d.log_text(), d)
        wait_until("the pipeline moving again", lambda: "pipeline_moving" in d.log_text(), d, timeout=WAIT * 2)
        wait_until("healthy again", lambda: metric(url, "sluice_healthy") == 1, d, timeout=WAIT * 2)
        status, body = api_get(os.path.join(self.tmp, "api.sock"), "/v1/health")
        self.assertEqual((status, body["status"]), (200, "ok"), body)

    def test_prometheus_scrapes_the_mover(self):
        mport, pport = free_port(), free_port()
        d = self.daemon(extra={"api": {"metrics_listen": f"127.0.0.1:{mport}"}})
        d.start()
        target = f"http://127.0.0.1:{mport}/metrics"
        wait_until("/metrics to answer", lambda: self.answers(target), d)

        # the exposition as served passes Prometheus's own checker
        status, ctype, text = http_get(target)
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # the metrics listener serves nothing else, and no API endpoint
        with self.assertRaises(urllib.error.HTTPError) as e:
            http_get(f"http://127.0.0.1:{mport}/v1/artifacts")
        self.assertEqual(e.exception.code, 404)

        prom = self.prometheus(pport, f"127.0.0.1:{mport}")
        api = f"http://127.0.0.1:{pport}/api/v1/query?query="

        def query(expr):
            try:
                _, _, body = http_get(api + urllib.parse.quote(expr))
            except OSError:
                return None
            result = json.loads(body)["data"]["result"]
            return result

        def value(expr):
            r = query(expr)
            return float(r[0]["value"][1]) if r else None

        wait_until("Prometheus to scrape the mover", lambda: value('up{job="sluice"}') == 1, d)
        good = [(f"{d.prefix}in/t1/data{i}.csv", b"id,value\n%d,%d\n" % (i, i * i)) for i in range(3)]
        bad = (f"{d.prefix}in/t1/tool.csv", open("/bin/true", "rb").read())  # an executable dressed as CSV
        for key, body in good + [bad]:
            s3.put_object(Bucket=STAGING, Key=key, Body=body, ContentType="text/csv")
        wait_until("the artifacts to settle", lambda: value('sluice_artifacts_total{outcome="promoted"}') == 3
                   and value('sluice_artifacts_total{outcome="blocked"}') == 1, d, timeout=WAIT * 2)
        for key, _ in good:
            trusted = key.replace("/in/", "/out/")
            s3.head_object(Bucket=TRUSTED, Key=trusted)
        self.assertEqual(value('sluice_artifacts_total{outcome="started"}'), 4)
        self.assertGreater(value("sluice_s3_attempts_total"), 0)
        self.assertGreater(value("sluice_audit_records_total"), 0)
        self.assertGreater(value("sluice_audit_fsyncs_total"), 0)
        self.assertEqual(value("sluice_artifacts_in_flight"), 0)
        self.assertGreaterEqual(value("sluice_metrics_scrapes_total"), 2)
        build = query("sluice_build_info")
        self.assertEqual(len(build), 1)
        version = subprocess.run([MOVER, "--version"], capture_output=True, text=True).stdout.split()[-1]
        self.assertEqual(build[0]["metric"]["version"], version)
        self.assertGreater(value("sluice_start_time_seconds"), time.time() - 3600)
        prom.terminate()
        prom.wait(timeout=WAIT)

    def answers(self, url):
        try:
            return http_get(url)[0] == 200
        except OSError:
            return False

    def prometheus(self, port, target):
        """A Prometheus server of the test's own: loopback, its own port and data folder,
        scraping `target` every 500 ms."""
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
                    "scrape_configs:\n  - job_name: sluice\n    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        log = open(os.path.join(self.tmp, "prometheus.log"), "ab")
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                 f"--storage.tsdb.path={os.path.join(self.tmp, 'prometheus-data')}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
        self.addCleanup(lambda: (proc.poll() is None and proc.kill(), proc.wait(), log.close()))
        return proc

    def test_rules_under_the_units_memory_protection(self):
        """The unit sets MemoryDenyWriteExecute=yes, which PCRE2's JIT cannot live with
        (it needs memory both writable and executable): the rules engine then matches
        without the JIT. The daemon runs under the same restriction (deny-write-exec,
        which checks that it holds), with the default rules: a clean CSV is promoted, a
        CSV holding an AWS key pair is blocked by the rule that finds it."""
        mport = free_port()
        d = self.daemon(extra={"api": {"metrics_listen": f"127.0.0.1:{mport}"}}, checks={"rules": [RULES]})
        d.start(wrapper=[DENY_WRITE_EXEC])
        url = f"http://127.0.0.1:{mport}/metrics"
        wait_until("/metrics to answer", lambda: metric(url, "sluice_healthy") == 1, d)
        key_id = "AKIAQ3EGRTKL" + "MNOPQRST"
        secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzEXAMPLEKQ"
        leak = b"name,value\naws_access_key_id,%s\naws_secret_access_key,%s\n" % (key_id.encode(), secret.encode())
        s3.put_object(Bucket=STAGING, Key=f"{d.prefix}in/t1/clean.csv", Body=b"id,value\n1,2\n",
                      ContentType="text/csv")
        s3.put_object(Bucket=STAGING, Key=f"{d.prefix}in/t1/leak.csv", Body=leak, ContentType="text/csv")
        wait_until("both artifacts to settle",
                   lambda: metric(url, 'sluice_artifacts_total{outcome="promoted"}') == 1
                   and metric(url, 'sluice_artifacts_total{outcome="blocked"}') == 1, d, timeout=WAIT * 2)
        s3.head_object(Bucket=TRUSTED, Key=f"{d.prefix}out/t1/clean.csv")
        with self.assertRaises(Exception):
            s3.head_object(Bucket=TRUSTED, Key=f"{d.prefix}out/t1/leak.csv")
        with open(os.path.join(self.tmp, "audit.jsonl")) as f:
            blocked = [r["artifact"] for r in map(json.loads, f) if r["event"] == "block"]
        self.assertEqual(len(blocked), 1)
        manifest = s3.get_object(Bucket=QUARANTINE, Key=f"sluice-test/{d.run}/artifacts/{blocked[0]}.json")
        findings = json.loads(manifest["Body"].read())["findings"]
        failed = [f for f in findings if f["verdict"] == "fail"]
        self.assertEqual({f["check"] for f in failed}, {"rules"}, findings)  # the key pair, the secret key
        self.assertIn("aws-access-key-pair", [f["detail"].split()[0] for f in failed], failed)
        self.assertNotIn(secret, json.dumps(findings))
        self.assertEqual(d.stop(), 0, d.log_text())

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
