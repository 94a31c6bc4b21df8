"""Review end to end: the daemon's socket API, sluice-review run as real OS users, the
human, two-person and hook gates, separation of duties and the API's robustness.

Needs root (it creates the OS users sluice-alice, sluice-bob, sluice-carol and
sluice-mallory if they are missing, and runs the CLI as each with runuser) and the
local S3 server's environment. argv[1] = sluice-mover, argv[2] = sluice-review.
"""

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import boto3

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')
if os.geteuid() != 0:
    sys.exit("test_review.py creates OS users and runs the CLI as each of them: run it as root")

MOVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/sluice-mover"
REVIEW = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "build/sluice-review"
STAGING, QUARANTINE, TRUSTED = (ENV["SLUICE_BUCKET_STAGING"], ENV["SLUICE_BUCKET_QUARANTINE"],
                                ENV["SLUICE_BUCKET_TRUSTED"])
USERS = ["sluice-alice", "sluice-bob", "sluice-carol", "sluice-mallory"]

s3 = boto3.client("s3", endpoint_url=ENV["SLUICE_S3_ENDPOINT"], region_name=ENV["SLUICE_S3_REGION"],
                  aws_access_key_id=ENV["SLUICE_MOVER_ACCESS_KEY"], aws_secret_access_key=ENV["SLUICE_MOVER_SECRET_KEY"])

CSV = b"name,value\nalpha,1\nbeta,2\ngamma,3\ndelta,4\n"


def ensure_users():
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user], check=True)


def list_keys(bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def hook_script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def signing_key(folder):
    """The daemon's signing key (attest.signing_key, docs/attestation.md), made once per folder."""
    prefix = os.path.join(folder, "attest")
    if not os.path.exists(prefix + ".key"):
        subprocess.run([MOVER, "keygen", "-o", prefix], check=True, capture_output=True)
    return prefix + ".key"


class Daemon:
    def __init__(self, tmp, run):
        self.tmp, self.run = tmp, run
        self.prefix = f"review-test/{run}/"
        self.control = f"sluice-review-test/{run}/"
        self.socket = os.path.join(tmp, "api", "api.sock")
        self.audit = os.path.join(tmp, "audit.jsonl")
        hooks = os.path.join(tmp, "hooks")
        os.makedirs(hooks)
        os.chmod(tmp, 0o711)  # the CLI runs as other users: they need to reach the socket
        self.hooks = {
            "approve": hook_script(os.path.join(hooks, "approve.sh"),
                                   'cat >/dev/null; echo \'{"decision":"approve","reason":"clean"}\''),
            "reject": hook_script(os.path.join(hooks, "reject.sh"),
                                  'cat >/dev/null; echo \'{"decision":"reject","reason":"no"}\''),
            "sleep": hook_script(os.path.join(hooks, "sleep.sh"), 'sleep 30; echo \'{"decision":"approve"}\''),
            "crash": hook_script(os.path.join(hooks, "crash.sh"), 'echo \'{"decision":"approve"}\'; kill -SEGV $$'),
            "garbage": hook_script(os.path.join(hooks, "garbage.sh"), 'echo "approve, definitely"'),
        }
        self.routes = ["human", "twoperson", "expiring", "tasked"] + [f"hook-{k}" for k in self.hooks]
        self.log = open(os.path.join(tmp, "mover.log"), "ab")
        self.procs = []
        # one daemon per hook command (the hook is global in the config): the human and
        # two-person routes go with the first
        self.configs = {}
        for hook in self.hooks:
            cfg = {
                "s3": {"endpoint": ENV["SLUICE_S3_ENDPOINT"], "region": ENV["SLUICE_S3_REGION"],
                       "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"}},
                "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                            "control_prefix": self.control},
                "routes": [],
                "review": {"reviewers": ["sluice-alice", "sluice-bob", "sluice-carol"],
                           "orchestrators": ["sluice-carol", "root"],
                           "hook": {"command": [self.hooks[hook]], "timeout": "2s"}},
                "retention": {"quarantine": "3s"},
                "api": {"socket": self.socket if hook == "approve" else os.path.join(tmp, f"api-{hook}.sock"),
                        "socket_mode": "0666"},
                "attest": {"signing_key": signing_key(tmp)},
                "audit": {"file": self.audit if hook == "approve" else os.path.join(tmp, f"audit-{hook}.jsonl"),
                          "name": f"mover-{hook}"},
                "worker": {"poll_interval": "200ms"},
            }
            names = [f"hook-{hook}"] + (["human", "twoperson", "expiring", "tasked"] if hook == "approve" else [])
            for name in names:
                mode = "hook" if name.startswith("hook-") else ("two-person" if name == "twoperson" else "human")
                route = {"name": f"{name}-{run}".replace("_", "-")[:60], "review": mode,
                         "staging_prefix": f"{self.prefix}{name}/in/", "trusted_prefix": f"{self.prefix}{name}/out/",
                         "require_task": False,  # the test drops objects with the mover's keys
                         "checks": {"allow_types": ["text/csv", "text/plain"]}}
                if name == "expiring":
                    route["review_ttl"] = "2s"
                if name == "tasked":
                    # a real task with a real grant: the grants identity may only write under
                    # the local server's policy prefixes (tests/ is one of them)
                    route["require_task"] = True
                    route["staging_prefix"] = f"tests/review-{run}/in/"
                    route["trusted_prefix"] = f"tests/review-{run}/out/"
                cfg["routes"].append(route)
            cfg["grants"] = {"credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "grants"}}
            path = os.path.join(tmp, f"sluice-{hook}.json")
            with open(path, "w") as f:
                json.dump(cfg, f, indent=2)
            self.configs[hook] = path

    def start(self):
        for hook, path in self.configs.items():
            self.procs.append(subprocess.Popen([MOVER, "run", "-c", path], stdout=self.log, stderr=self.log))
        deadline = time.time() + 20
        while not os.path.exists(self.socket) and time.time() < deadline:
            time.sleep(0.1)

    def stop(self):
        codes = []
        for p in self.procs:
            p.terminate()
            codes.append(p.wait(timeout=30))
        self.procs = []
        self.log.close()
        return codes

    def drop(self, route, task, name, data=CSV):
        key = f"{self.prefix}{route}/in/{task}/{name}"
        s3.put_object(Bucket=STAGING, Key=key, Body=data, ContentType="text/csv")
        return key

    def trusted(self, route):
        return list_keys(TRUSTED, f"{self.prefix}{route}/out/")

    def manifest(self, artifact):
        return json.loads(s3.get_object(Bucket=QUARANTINE, Key=f"{self.control}artifacts/{artifact}.json")["Body"].read())

    def wait(self, what, check, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        with open(os.path.join(self.tmp, "mover.log"), "rb") as f:
            tail = f.read()[-3000:].decode("utf-8", "replace")
        raise AssertionError(f"timed out waiting for {what}; log tail:\n{tail}")

    def cli(self, user, *args, socket_path=None):
        cmd = ["runuser", "-u", user, "--", REVIEW, *args, "--socket", socket_path or self.socket]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=self.tmp + "/work")

    def in_review(self, route, name):
        r = self.cli("sluice-alice", "list", "--state", "in_review", "--json")
        if r.returncode != 0:
            return None
        for a in json.loads(r.stdout)["artifacts"]:
            if a["route"].startswith(route) and a["name"] == name:
                return a
        return None


def http(socket_path, method, path, body=b"", headers=None, timeout=10):
    """One raw HTTP/1.1 request on the Unix socket (as root: the caller's identity)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(socket_path)
    head = f"{method} {path} HTTP/1.1\r\nHost: sluice\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    s.sendall(head.encode() + b"\r\n" + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"null")


# Raw HTTP on the socket as another OS user (runuser): the requests come as JSON on
# stdin ({"socket", "requests": [{"method","path","body"}], "while_status": S}); the
# answers go to stdout as [[status, json], ...]. With while_status, the requests are
# sent in turn only while the answers have that status.
AS_USER_HTTP = r"""
import json, socket, sys
spec = json.load(sys.stdin)
out = []
for req in spec["requests"]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(spec["socket"])
    body = req.get("body", "").encode()
    head = f"{req['method']} {req['path']} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    s.sendall(head.encode() + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    status = int(data.split(b" ", 2)[1])
    out.append([status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"null")])
    if spec.get("while_status") and status != spec["while_status"]:
        break
print(json.dumps(out))
"""


def http_as(user, socket_path, requests, while_status=None):
    spec = {"socket": socket_path, "requests": requests, "while_status": while_status}
    r = subprocess.run(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", AS_USER_HTTP], input=json.dumps(spec),
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError(f"http as {user}: {r.stderr}")
    return json.loads(r.stdout)


class ReviewTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_users()
        cls.tmp = tempfile.mkdtemp(prefix="sluice-review-")
        cls.d = Daemon(cls.tmp, uuid.uuid4().hex[:8])
        os.makedirs(cls.tmp + "/work", mode=0o777)
        os.chmod(cls.tmp + "/work", 0o777)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        codes = cls.d.stop()
        for bucket, prefix in ((STAGING, cls.d.prefix), (TRUSTED, cls.d.prefix), (QUARANTINE, cls.d.control),
                               (TRUSTED, f"tests/review-{cls.d.run}/")):
            for k in list_keys(bucket, prefix):
                s3.delete_object(Bucket=bucket, Key=k)
        for route in cls.d.routes:
            for k in list_keys(QUARANTINE, f"q/{route}-{cls.d.run}/"):
                s3.delete_object(Bucket=QUARANTINE, Key=k)
        if os.environ.get("SLUICE_TEST_KEEP"):
            print(f"kept {cls.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        assert codes == [0] * len(codes), codes

    def route(self, name):
        return f"{name}-{self.d.run}"

    def waiting(self, route, name):
        return self.d.wait(f"{name} in review", lambda: self.d.in_review(self.route(route), name))

    def test_human_approve_promotes_and_reject_purges(self):
        d = self.d
        d.drop("human", "t1", "good.csv")
        d.drop("human", "t1", "bad.csv")
        good = self.waiting("human", "good.csv")
        bad = self.waiting("human", "bad.csv")
        r = d.cli("sluice-alice", "show", good["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("in_review", r.stdout)
        r = d.cli("sluice-alice", "fetch", good["id"], "-o", f"good-{good['id']}.csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("verified", r.stderr)
        with open(f"{d.tmp}/work/good-{good['id']}.csv", "rb") as f:
            self.assertEqual(f.read(), CSV)
        r = d.cli("sluice-alice", "approve", good["id"], "--reason", "checked")
        self.assertEqual(r.returncode, 0, r.stderr)
        d.wait("promotion", lambda: any(k.endswith("t1/good.csv") for k in d.trusted("human")))
        meta = s3.head_object(Bucket=TRUSTED, Key=f"{d.prefix}human/out/t1/good.csv")["Metadata"]
        self.assertEqual(meta["sluice-decision"], "review")
        # the promotion carries the signed attestation, naming the reviewer who approved
        consumer = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                    "AWS_ACCESS_KEY_ID": os.environ["SLUICE_CONSUMER_ACCESS_KEY"],
                    "AWS_SECRET_ACCESS_KEY": os.environ["SLUICE_CONSUMER_SECRET_KEY"]}
        r = subprocess.run([REVIEW, "verify", "--intoto", "-c", d.configs["approve"],
                            f"s3://{TRUSTED}/{d.prefix}human/out/t1/good.csv"], capture_output=True, text=True,
                           env=consumer)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        envelope = json.loads(r.stdout)
        import base64
        statement = json.loads(base64.b64decode(envelope["payload"]))
        self.assertIn("sluice-alice", json.dumps(statement["predicate"]))
        r = d.cli("sluice-bob", "reject", bad["id"])  # no reason: a usage error
        self.assertEqual(r.returncode, 2)
        r = d.cli("sluice-bob", "reject", bad["id"], "--reason", "not needed")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(f"{d.prefix}human/out/t1/bad.csv", d.trusted("human"))
        d.wait("the purge after retention", lambda: d.manifest(bad["id"])["state"] == "purged", timeout=90)
        self.assertEqual(d.manifest(good["id"])["state"], "promoted")
        lines = [json.loads(l) for l in open(d.audit)]
        self.assertIn(("fetch", "sluice-alice"), [(l["event"], l["actor"]) for l in lines])
        r = subprocess.run([REVIEW, "audit", "verify", d.audit], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_two_person_needs_two_reviewers(self):
        d = self.d
        d.drop("twoperson", "t2", "model.csv")
        a = self.waiting("twoperson", "model.csv")
        r = d.cli("sluice-alice", "approve", a["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(1)
        self.assertEqual(d.trusted("twoperson"), [])
        r = d.cli("sluice-alice", "approve", a["id"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("already_decided", r.stderr)
        r = d.cli("sluice-bob", "approve", a["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        d.wait("promotion", lambda: d.trusted("twoperson"))

    def test_separation_of_duties_and_bound_bytes(self):
        d = self.d
        # sluice-carol (orchestrator and reviewer) opens a task; the "interpreter" uploads
        # with the grant's presigned PUT URL
        r = d.cli("sluice-carol", "task", "open", "--route", self.route("tasked"), "--key", "own.csv", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        grant = json.loads(r.stdout)
        with open(f"{d.tmp}/work/own.csv", "wb") as f:
            f.write(CSV)
        headers = sum((["-H", f"{k}: {v}"] for k, v in grant["put_headers"].items()), [])
        up = subprocess.run(["curl", "-sS", "--fail", "-X", "PUT", *headers, "--upload-file", f"{d.tmp}/work/own.csv",
                             grant["put_urls"]["own.csv"]], capture_output=True, text=True)
        self.assertEqual(up.returncode, 0, up.stderr)
        a = self.waiting("tasked", "own.csv")
        self.assertEqual(a["task"], grant["task"])
        r = d.cli("sluice-carol", "approve", a["id"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("own_task", r.stderr)
        status, body = http(d.socket, "POST", f"/v1/artifacts/{a['id']}/decision",
                            json.dumps({"decision": "approve", "sha256": "0" * 64}).encode())
        # root is no reviewer: 403 before anything else
        self.assertEqual(status, 403, body)
        r = d.cli("sluice-mallory", "list")
        self.assertEqual(r.returncode, 1)
        self.assertIn("403 forbidden", r.stderr)
        self.assertIn("sluice-mallory", r.stderr)
        # a decision for other bytes: through the API as a reviewer (python as sluice-bob)
        script = (f"import socket,json;s=socket.socket(socket.AF_UNIX);s.connect('{d.socket}');"
                  f"b=json.dumps({{'decision':'approve','sha256':'{'0' * 64}'}}).encode();"
                  f"s.sendall(b'POST /v1/artifacts/{a['id']}/decision HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: '"
                  f"+str(len(b)).encode()+b'\\r\\nConnection: close\\r\\n\\r\\n'+b);print(s.recv(65536).decode())")
        r = subprocess.run(["runuser", "-u", "sluice-bob", "--", "/usr/bin/python3", "-c", script],
                           capture_output=True, text=True)
        self.assertIn("409", r.stdout.splitlines()[0])
        self.assertIn("sha256_mismatch", r.stdout)
        r = d.cli("sluice-bob", "approve", a["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        refused = [json.loads(l) for l in open(d.audit) if '"decision_refused"' in l]
        self.assertTrue(any(l["actor"] == "sluice-carol" for l in refused))
        self.assertTrue(any(l["actor"] == "sluice-bob" for l in refused))

    def test_hooks_only_an_approving_hook_promotes(self):
        d = self.d
        for hook in d.hooks:
            d.drop(f"hook-{hook}", "t4", "data.csv")
        d.wait("the approving hook's promotion", lambda: d.trusted("hook-approve"), timeout=30)
        time.sleep(4)  # past the 2 s hook timeout
        for hook in ("reject", "sleep", "crash", "garbage"):
            self.assertEqual(d.trusted(f"hook-{hook}"), [], hook)
        sock = {h: os.path.join(d.tmp, f"api-{h}.sock") for h in d.hooks}
        r = d.cli("sluice-alice", "list", "--json", socket_path=sock["reject"])
        states = {a["route"]: a["state"] for a in json.loads(r.stdout)["artifacts"] if a["name"] == "data.csv"}
        # rejected, and perhaps purged already (retention is 3 s here)
        self.assertIn(states.get(self.route("hook-reject")), ("rejected", "purged"))
        for hook in ("sleep", "crash", "garbage"):
            self.assertEqual(states.get(self.route(f"hook-{hook}")), "in_review", hook)

    def test_review_ttl_expires_and_never_promotes(self):
        d = self.d
        d.drop("expiring", "t5", "late.csv")
        a = self.waiting("expiring", "late.csv")
        d.wait("expiry", lambda: d.manifest(a["id"])["state"] in ("expired", "purged"), timeout=90)
        r = d.cli("sluice-alice", "approve", a["id"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("not_in_review", r.stderr)
        self.assertEqual(d.trusted("expiring"), [])
        history = [h["to"] for h in d.manifest(a["id"])["history"]]
        self.assertIn("expired", history)

    def test_hostile_reason_is_refused_before_anything_is_recorded(self):
        """Finding 1: a decision whose reason is ~1 MB of CJK text (a ~2 MB audit record
        once escaped) used to be refused with 409 while its audit record failed to write,
        which stopped the daemon for good. Now the reason's cap is checked first: 400
        naming the field, nothing recorded, health still ok, the next decision works."""
        d = self.d
        d.drop("human", "t6", "hostile.csv")
        a = self.waiting("human", "hostile.csv")
        audit_before = open(d.audit, "rb").read().count(a["id"].encode())
        reason = "\u5ba1" * 349000  # 1,047,000 bytes of UTF-8: the body stays under 1 MiB
        body = json.dumps({"decision": "reject", "sha256": a["sha256"], "reason": reason}, ensure_ascii=False)
        self.assertLessEqual(len(body.encode()), 1 << 20)
        (status, answer), = http_as("sluice-bob", d.socket,
                                    [{"method": "POST", "path": f"/v1/artifacts/{a['id']}/decision", "body": body}])
        self.assertEqual(status, 400, answer)
        self.assertEqual(answer["error"], "field_too_large")
        self.assertEqual(answer["field"], "reason")
        # the same with a wrong SHA-256 (the refusal that is audited): still refused first
        body = json.dumps({"decision": "reject", "sha256": "0" * 64, "reason": reason}, ensure_ascii=False)
        (status, answer), = http_as("sluice-bob", d.socket,
                                    [{"method": "POST", "path": f"/v1/artifacts/{a['id']}/decision", "body": body}])
        self.assertEqual((status, answer["field"]), (400, "reason"))
        self.assertEqual(open(d.audit, "rb").read().count(a["id"].encode()), audit_before)
        status, answer = http(d.socket, "GET", "/v1/health")
        self.assertEqual((status, answer["status"]), (200, "ok"))
        r = d.cli("sluice-bob", "approve", a["id"], "--reason", "\u5ba1" * 1000)  # 3,000 bytes: under the cap
        self.assertEqual(r.returncode, 0, r.stderr)
        d.wait("promotion", lambda: any(k.endswith("t6/hostile.csv") for k in d.trusted("human")))
        r = subprocess.run([REVIEW, "audit", "verify", d.audit], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_api_keeps_serving_under_abuse(self):
        d = self.d
        results = []

        def health():
            try:
                results.append(http(d.socket, "GET", "/v1/health")[0])
            except OSError as e:
                results.append(str(e))

        # a client that never finishes its request, and one sending 10 MiB
        slow = socket.socket(socket.AF_UNIX)
        slow.connect(d.socket)
        slow.sendall(b"POST /v1/artifacts/x/decision HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        big = socket.socket(socket.AF_UNIX)
        big.connect(d.socket)
        big.settimeout(10)
        try:
            big.sendall(b"POST /v1/artifacts/x/decision HTTP/1.1\r\nContent-Length: 10485760\r\n\r\n" + b"x" * (10 << 20))
        except OSError:
            pass  # the daemon stops reading at its limit
        answer = big.recv(4096)
        self.assertIn(b" 413 ", answer)
        threads = [threading.Thread(target=health) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 100)
        slow.close()
        big.close()


class DegradedTest(unittest.TestCase):
    """A record that cannot be written is a fault of the log (disk, I/O): the daemon stops
    making changes AND says so. The fault is real: the daemon runs under a file size
    limit (RLIMIT_FSIZE, with SIGXFSZ ignored), so once the audit log reaches it write(2)
    fails with EFBIG, as on a full disk."""

    AUDIT_LIMIT = 24 << 10

    @classmethod
    def setUpClass(cls):
        ensure_users()
        cls.tmp = tempfile.mkdtemp(prefix="sluice-degraded-")
        os.chmod(cls.tmp, 0o711)
        cls.run_id = uuid.uuid4().hex[:8]
        cls.prefix = f"review-test/{cls.run_id}/"
        cls.control = f"sluice-review-test/{cls.run_id}/"
        cls.route = f"degraded-{cls.run_id}"
        cls.socket = os.path.join(cls.tmp, "api", "api.sock")
        cls.audit = os.path.join(cls.tmp, "audit.jsonl")
        cfg = {
            "s3": {"endpoint": ENV["SLUICE_S3_ENDPOINT"], "region": ENV["SLUICE_S3_REGION"],
                   "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"}},
            "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                        "control_prefix": cls.control},
            "routes": [{"name": cls.route, "review": "human", "staging_prefix": f"{cls.prefix}in/",
                        "trusted_prefix": f"{cls.prefix}out/", "require_task": False,
                        "checks": {"allow_types": ["text/csv", "text/plain"]}}],
            "review": {"reviewers": ["sluice-alice", "sluice-bob"]},
            "api": {"socket": cls.socket, "socket_mode": "0666"},
            "audit": {"file": cls.audit},
            "worker": {"poll_interval": "200ms"},
        }
        path = os.path.join(cls.tmp, "sluice.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        cls.log = open(os.path.join(cls.tmp, "mover.log"), "ab")

        def limited():
            import resource
            import signal
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write(2) fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (cls.AUDIT_LIMIT, cls.AUDIT_LIMIT))

        # the log goes through a pipe: the limit is for files, and must hit only the audit log
        cls.proc = subprocess.Popen([MOVER, "run", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    preexec_fn=limited)
        cls.pump = threading.Thread(target=lambda: [cls.log.write(b) for b in iter(lambda: cls.proc.stdout.read(4096), b"")],
                                    daemon=True)
        cls.pump.start()
        deadline = time.time() + 20
        while not os.path.exists(cls.socket) and time.time() < deadline:
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        cls.pump.join(timeout=10)
        cls.log.close()
        for bucket, prefix in ((STAGING, cls.prefix), (TRUSTED, cls.prefix), (QUARANTINE, cls.control),
                               (QUARANTINE, f"q/{cls.route}/")):
            for k in list_keys(bucket, prefix):
                s3.delete_object(Bucket=bucket, Key=k)
        if not os.environ.get("SLUICE_TEST_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_a_failed_audit_write_stops_changes_and_health_says_so(self):
        s3.put_object(Bucket=STAGING, Key=f"{self.prefix}in/t1/data.csv", Body=CSV, ContentType="text/csv")
        deadline = time.time() + 120
        artifact = None
        while artifact is None and time.time() < deadline:
            (status, answer), = http_as("sluice-alice", self.socket,
                                        [{"method": "GET", "path": "/v1/artifacts?state=in_review"}])
            artifact = next((a for a in answer.get("artifacts", []) if a["name"] == "data.csv"), None)
            time.sleep(0.2)
        self.assertIsNotNone(artifact, "the artifact never waited for review")
        status, answer = http(self.socket, "GET", "/v1/health")
        self.assertEqual((status, answer["status"]), (200, "ok"))

        # every fetch is audited: fetch until the log is full
        fetch = {"method": "POST", "path": f"/v1/artifacts/{artifact['id']}/fetch"}
        answers = http_as("sluice-alice", self.socket, [fetch] * 400, while_status=200)
        status, answer = answers[-1]
        self.assertEqual((status, answer["error"]), (503, "audit_failed"), answers[-1])
        self.assertLess(len(answers), 400)

        status, answer = http(self.socket, "GET", "/v1/health")
        self.assertEqual(status, 503, answer)
        self.assertEqual((answer["status"], answer["error"]), ("degraded", "degraded"))
        self.assertIn("File too large", answer["reason"])
        self.assertIn("audit_log", [f["check"] for f in answer["faults"]])
        r = subprocess.run(["runuser", "-u", "sluice-bob", "--", REVIEW, "health", "--socket", self.socket],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("degraded: audit_log:", r.stdout)
        self.assertIn("File too large", r.stdout)

        # no more changes: a decision is refused before anything is read or written
        before = s3.get_object(Bucket=QUARANTINE, Key=f"{self.control}artifacts/{artifact['id']}.json")["ETag"]
        (status, answer), = http_as("sluice-bob", self.socket, [{
            "method": "POST", "path": f"/v1/artifacts/{artifact['id']}/decision",
            "body": json.dumps({"decision": "approve", "sha256": artifact["sha256"]})}])
        self.assertEqual((status, answer["error"]), (503, "refused"), answer)
        after = s3.get_object(Bucket=QUARANTINE, Key=f"{self.control}artifacts/{artifact['id']}.json")["ETag"]
        self.assertEqual(before, after)
        self.assertEqual(list_keys(TRUSTED, f"{self.prefix}out/"), [])
        # what was written is intact (the partial line was cut off)
        r = subprocess.run([REVIEW, "audit", "verify", self.audit], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
