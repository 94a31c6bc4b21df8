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

from staller import STALLER, summary as staller_summary

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


EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "examples", "hooks")

# The hook's time: long enough that the example hooks (Python among them) answer under a
# sanitizer build on a loaded machine; the "sleep" hook outlasts it. The test waits for
# the answers it expects, never for a fixed time.
HOOK_TIMEOUT = "8s"

# What the hook route of each name does. One daemon serves every route, so its one hook
# command is a dispatcher that runs the behaviour of the artifact's route: the examples
# of docs/hooks.md as they are (fed the same stdin and environment), or a hostile hook.
HOOKS = {
    "approve": 'exec "$EXAMPLES/approve-checked.sh"',
    "csv": 'exec "$EXAMPLES/csv-review.py"',
    "reject": 'cat >/dev/null; printf \'{"artifact":"%s","sha256":"%s","decision":"reject","reason":"no"}\\n\' '
              '"$SLUICE_ARTIFACT" "$SLUICE_SHA256"',
    "sleep": 'sleep 60; exec "$EXAMPLES/approve-checked.sh"',
    "crash": '"$EXAMPLES/approve-checked.sh"; kill -SEGV $$',
    "garbage": 'cat >/dev/null; echo "approve, definitely"',
    # finding 2: approves with the id and SHA-256 of the artifact it saw before (a real
    # other artifact); the first time it has none to offer and fails
    "other": 'cat >/dev/null; prev=$(cat "$STATE/other" 2>/dev/null); '
             'echo "$SLUICE_ARTIFACT $SLUICE_SHA256" > "$STATE/other"; [ -n "$prev" ] || exit 1; set -- $prev; '
             'printf \'{"artifact":"%s","sha256":"%s","decision":"approve","reason":"looks fine"}\\n\' "$1" "$2"',
    # finding 3: answers through the example while a child it forked holds stdout
    "fork": 'sleep 120 & echo $! > "$STATE/fork.pid"; exec "$EXAMPLES/approve-checked.sh"',
}


def write_dispatcher(path, state, run):
    lines = ["#!/bin/sh", f"EXAMPLES='{os.path.abspath(EXAMPLES)}'", f"STATE='{state}'",
             'in=$(cat)', 'case "$in" in']
    for name, body in HOOKS.items():
        lines.append(f'*\'"route":"hook-{name}-{run}"\'*) printf \'%s\' "$in" | {{ {body}; }} ;;')
    lines += ["*) exit 1 ;;", "esac"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)


def process_gone(pid):
    """True once `pid` has ended (or is a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


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
        self.state = os.path.join(tmp, "hook-state")
        os.makedirs(self.state)
        os.chmod(tmp, 0o711)  # the CLI runs as other users: they need to reach the socket
        hook = os.path.join(tmp, "hook.sh")
        write_dispatcher(hook, self.state, run)
        self.routes = ["human", "twoperson", "expiring", "tasked"] + [f"hook-{k}" for k in HOOKS]
        self.log = open(os.path.join(tmp, "mover.log"), "ab")
        self.procs = []
        cfg = {
            "s3": {"endpoint": ENV["SLUICE_S3_ENDPOINT"], "region": ENV["SLUICE_S3_REGION"],
                   "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"}},
            "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                        "control_prefix": self.control},
            "routes": [],
            "review": {"reviewers": ["sluice-alice", "sluice-bob", "sluice-carol"],
                       "orchestrators": ["sluice-carol", "root"],
                       "operators": ["sluice-carol"],
                       "hook": {"command": [hook], "timeout": HOOK_TIMEOUT}},
            "retention": {"quarantine": "3s"},
            "api": {"socket": self.socket, "socket_mode": "0666"},
            "audit": {"file": self.audit},
            "worker": {"poll_interval": "200ms"},
            "grants": {"credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "grants"}},
            "attest": {"signing_key": signing_key(tmp)},
        }
        for name in self.routes:
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
        self.config = os.path.join(tmp, "sluice.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)

    def start(self):
        self.procs.append(subprocess.Popen([MOVER, "run", "-c", self.config], stdout=self.log, stderr=self.log))
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

    def audit_lines(self):
        with open(self.audit, encoding="utf-8") as f:
            return f.readlines()

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

    def state_of(self, route, name):
        r = self.d.cli("sluice-alice", "list", "--json")
        states = {(a["route"], a["name"]): a["state"] for a in json.loads(r.stdout)["artifacts"]}
        return states.get((self.route(route), name))

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
        r = subprocess.run([REVIEW, "verify", "--intoto", "-c", d.config,
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
        lines = [json.loads(l) for l in d.audit_lines()]
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
        refused = [json.loads(l) for l in d.audit_lines() if '"decision_refused"' in l]
        self.assertTrue(any(l["actor"] == "sluice-carol" for l in refused))
        self.assertTrue(any(l["actor"] == "sluice-bob" for l in refused))

    def test_hooks_only_an_answer_about_these_bytes_promotes(self):
        d = self.d
        for hook in ("approve", "csv", "reject", "sleep", "crash", "garbage", "fork"):
            d.drop(f"hook-{hook}", "t4", "data.csv")
        # the hostile "other" hook: the first artifact it sees goes to a person (it has no
        # other answer to offer yet), the second gets the first one's id and SHA-256
        d.drop("hook-other", "t4", "first.csv")
        first = self.waiting("hook-other", "first.csv")
        d.drop("hook-other", "t4", "second.csv", data=CSV + b"epsilon,5\n")
        second = self.waiting("hook-other", "second.csv")
        held = {hook: self.waiting(f"hook-{hook}", "data.csv") for hook in ("sleep", "crash", "garbage")}
        d.wait("the approving hooks' promotions",
               lambda: d.trusted("hook-approve") and d.trusted("hook-csv") and d.trusted("hook-fork"), timeout=60)

        def answers(artifact):
            return [json.loads(l)["detail"]["answer"] for l in d.audit_lines()
                    if '"hook_review"' in l and artifact["id"] in l]
        # every hook that does not approve has been answered "a person decides" (the
        # sleeping one once its time is up), and nothing more happens to those artifacts
        d.wait("the other hooks' answers", lambda: all(answers(a) for a in (*held.values(), second)), timeout=60)
        self.assertIn("did not answer in time", answers(held["sleep"])[0])
        self.assertIn("signal 11", answers(held["crash"])[0])
        self.assertIn("not exactly one JSON object", answers(held["garbage"])[0])
        d.wait("the rejecting hook's decision",
               lambda: self.state_of("hook-reject", "data.csv") in ("rejected", "purged"), timeout=60)
        for hook in ("reject", "sleep", "crash", "garbage", "other"):
            self.assertEqual(d.trusted(f"hook-{hook}"), [], hook)
        r = d.cli("sluice-alice", "list", "--json")
        states = {(a["route"], a["name"]): a["state"] for a in json.loads(r.stdout)["artifacts"]}
        # rejected, and perhaps purged already (retention is 3 s here)
        self.assertIn(states.get((self.route("hook-reject"), "data.csv")), ("rejected", "purged"))
        for hook in ("sleep", "crash", "garbage"):
            self.assertEqual(states.get((self.route(f"hook-{hook}"), "data.csv")), "in_review", hook)
        # finding 2: the answer about other bytes approved nothing
        self.assertEqual(states.get((self.route("hook-other"), "second.csv")), "in_review")
        self.assertNotEqual(first["sha256"], second["sha256"])
        self.assertTrue(any(f"about artifact {first['id']}" in a for a in answers(second)), answers(second))
        # the examples' answers as the manifests record them
        promoted = [json.loads(l) for l in d.audit_lines() if '"decision"' in l and '"actor":"hook"' in l]
        reasons = [l["detail"]["reason"] for l in promoted]
        self.assertIn("hook: approve: passed every check", reasons)
        self.assertTrue(any("SHA-256 verified" in r for r in reasons), reasons)
        # finding 3: the child the "fork" hook left holding stdout did not outlive the answer
        with open(os.path.join(d.state, "fork.pid")) as f:
            child = int(f.read())
        d.wait("the fork hook's child to end", lambda: process_gone(child), timeout=5)

    def test_a_user_without_the_role_is_told_who_they_are(self):
        """Finding 6: `sluice-review list` as a user without the role named the user
        correctly (from the daemon) and then printed `you are user '?'`: it read $USER,
        which runuser, cron or a service may not set. Run with USER unset and with a
        USER that lies, it must name the user the daemon sees."""
        d = self.d
        for env in (["env", "-u", "USER"], ["env", "USER=sluice-alice"]):
            cmd = ["runuser", "-u", "sluice-mallory", "--", *env, REVIEW, "list", "--socket", d.socket]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=d.tmp + "/work")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("user 'sluice-mallory' has none of the roles", r.stderr)
            self.assertIn("(you are user 'sluice-mallory';", r.stderr)
            self.assertNotIn("'?'", r.stderr)

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
        audit_before = "".join(d.audit_lines()).count(a["id"])
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
        # an operator's retry is held to its cap (1,024 bytes) before anything else too
        body = json.dumps({"reason": reason}, ensure_ascii=False)
        (status, answer), = http_as("sluice-carol", d.socket,
                                    [{"method": "POST", "path": f"/v1/artifacts/{a['id']}/retry", "body": body}])
        self.assertEqual((status, answer["error"], answer["field"]), (400, "field_too_large", "reason"), answer)
        self.assertEqual("".join(d.audit_lines()).count(a["id"]), audit_before)
        status, answer = http(d.socket, "GET", "/v1/health")
        self.assertEqual((status, answer["status"]), (200, "ok"))
        r = d.cli("sluice-bob", "approve", a["id"], "--reason", "\u5ba1" * 1000)  # 3,000 bytes: under the cap
        self.assertEqual(r.returncode, 0, r.stderr)
        d.wait("promotion", lambda: any(k.endswith("t6/hostile.csv") for k in d.trusted("human")))
        r = subprocess.run([REVIEW, "audit", "verify", d.audit], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_one_user_cannot_lock_the_others_out(self):
        """Finding 4: ~500 connections from one local user that each send half a request
        and stall used to fill the global cap: every fresh client got 503 busy. With
        admission per uid (32 each, a reserve for users holding none, 3 s for a head),
        another uid is answered every time: 50 of 50 health probes get 200, and a
        reviewer's list works, while the stalling user keeps 500 connections going."""
        d = self.d
        staller = subprocess.Popen(["runuser", "-u", "sluice-mallory", "--", "/usr/bin/python3", "-c", STALLER,
                                    d.socket, "500"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(staller.stdout.readline().strip(), "ready")
            latencies, statuses = [], []
            for _ in range(50):
                start = time.perf_counter()
                status, _ = http(d.socket, "GET", "/v1/health")
                latencies.append((time.perf_counter() - start) * 1000)
                statuses.append(status)
            self.assertEqual(statuses, [200] * 50)
            r = d.cli("sluice-alice", "list", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            staller.stdin.close()
            summary = staller.stdout.readline().strip()
            staller.stdout.close()
            staller.wait(timeout=30)
        latencies.sort()
        seen = staller_summary(summary)
        print(f"health under 500 stalled connections: p50 {latencies[24]:.1f} ms, max {latencies[-1]:.1f} ms; "
              f"staller: {seen}", file=sys.stderr)
        # the stalling user was refused (503) beyond its share
        self.assertGreater(seen["statuses"].get("503", 0), 0, seen)

    def test_socket_folder_of_another_user_is_refused(self):
        """Finding 5: in a socket folder another user can write, the socket could be
        swapped under the daemon. It now refuses to start, saying which and how to fix
        it; the socket itself is created with its mode (no chmod by path)."""
        d = self.d
        cases = {
            "world-writable": (0o777, None, "is writable by every user (mode 0777)"),
            "group-writable": (0o770, None, "is writable by its group (mode 0770)"),
            "mallory's": (0o700, "sluice-mallory", "belongs to sluice-mallory"),
        }
        for name, (mode, owner, message) in cases.items():
            folder = os.path.join(d.tmp, f"sock-{name}")
            os.makedirs(folder)
            os.chmod(folder, mode)
            if owner:
                shutil.chown(folder, owner)
            with open(d.config) as f:
                cfg = json.load(f)
            cfg["api"]["socket"] = os.path.join(folder, "api.sock")
            cfg["audit"]["file"] = os.path.join(d.tmp, f"audit-{name}.jsonl")
            cfg["audit"]["name"] = f"sock-{name.replace(' ', '-').replace(chr(39), '')}"  # its own shipped log
            path = os.path.join(d.tmp, f"sluice-{name}.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            r = subprocess.run([MOVER, "run", "-c", path], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, name)
            self.assertIn(message, r.stderr, name)
            self.assertIn(f"`ch{'own' if owner else 'mod'} ", r.stderr, name)
            self.assertFalse(os.path.exists(os.path.join(folder, "api.sock")), name)
        # the daemon's own socket: its configured mode, in a folder of its own
        self.assertEqual(stat.S_IMODE(os.lstat(d.socket).st_mode), 0o666)
        self.assertEqual(os.stat(os.path.dirname(d.socket)).st_uid, 0)

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
        # 100 health requests, 10 at a time (one user holds at most its share of the
        # connections at once: test_one_user_cannot_lock_the_others_out)
        def ten():
            for _ in range(10):
                health()

        threads = [threading.Thread(target=ten) for _ in range(10)]
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
            "attest": {"signing_key": signing_key(cls.tmp)},
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
