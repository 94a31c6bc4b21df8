"""The content checks end to end: a hostile corpus (content_corpus.py) through the real
daemon against the local radosgw.

boto3 plays the interpreter; `sluice-mover run` (argv[1]) is the real daemon on an
`auto` route that allows text, CSV, JSON, PDF and PNG — the route an attacker who
knows the checks would aim at. Every hostile artifact must end blocked (or in review,
where the route says so) and every benign one that looks close must be promoted. One
daemon serves the whole corpus. Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import json
import pwd
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import content_corpus  # noqa: E402

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

MOVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/sluice-mover"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGING = ENV["SLUICE_BUCKET_STAGING"]
QUARANTINE = ENV["SLUICE_BUCKET_QUARANTINE"]
TRUSTED = ENV["SLUICE_BUCKET_TRUSTED"]

s3 = boto3.client(
    "s3",
    endpoint_url=ENV["SLUICE_S3_ENDPOINT"],
    region_name=ENV["SLUICE_S3_REGION"],
    aws_access_key_id=ENV["SLUICE_MOVER_ACCESS_KEY"],
    aws_secret_access_key=ENV["SLUICE_MOVER_SECRET_KEY"],
    config=Config(max_pool_connections=16, retries={"max_attempts": 5}),
)


def list_keys(bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


class Daemon:
    """One sluice-mover on a route of its own (prefixes and control prefix per run)."""

    def __init__(self, tmp, checks):
        self.tmp = tmp
        run = uuid.uuid4().hex[:10]
        self.route = "c" + run
        self.prefix = f"content-test/{run}/"
        self.control = f"sluice-content-test/{run}/"
        self.audit = os.path.join(tmp, "audit.jsonl")
        self.log_path = os.path.join(tmp, "mover.log")
        self.log = open(self.log_path, "ab")
        cfg = {
            "s3": {"endpoint": ENV["SLUICE_S3_ENDPOINT"], "region": ENV["SLUICE_S3_REGION"],
                   "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"}},
            "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                        "control_prefix": self.control},
            "routes": [{"name": self.route, "staging_prefix": self.prefix + "in/",
                        "trusted_prefix": self.prefix + "out/", "review": "auto", "require_task": False,
                        "checks": checks}],
            "audit": {"file": self.audit},
            "attest": {"signing_key": self.signing_key()},
            "api": {"socket": os.path.join(tmp, "api.sock")},
            "review": {"reviewers": [pwd.getpwuid(os.getuid()).pw_name]},
            "worker": {"poll_interval": "200ms", "concurrency": 16},
            "log": {"level": "info"},
        }
        self.config = os.path.join(tmp, "sluice.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def signing_key(self):
        """The daemon's signing key (attest.signing_key), made here."""
        prefix = os.path.join(self.tmp, "attest")
        subprocess.run([MOVER, "keygen", "-o", prefix], check=True, capture_output=True)
        return prefix + ".key"

    def staging_key(self, name):
        return f"{self.prefix}in/t1/{name}"

    def trusted_key(self, name):
        return f"{self.prefix}out/t1/{name}"

    def start(self):
        self.proc = subprocess.Popen([MOVER, "run", "-c", self.config], stdout=self.log, stderr=self.log)

    def wait_handles(self, sig, timeout=30):
        """Until the daemon has its handler for `sig` (before that, the signal kills it)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(f"/proc/{self.proc.pid}/status") as f:
                caught = next(int(l.split()[1], 16) for l in f if l.startswith("SigCgt:"))
            if caught & (1 << (sig - 1)):
                return
            time.sleep(0.01)
        raise AssertionError(f"sluice-mover did not handle signal {sig} within {timeout} s")

    def stop(self):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.proc = None
        return rc

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def manifests(self):
        out = {}
        for key in list_keys(QUARANTINE, self.control + "artifacts/"):
            doc = json.loads(s3.get_object(Bucket=QUARANTINE, Key=key)["Body"].read())
            out[doc["name"]] = doc
        return out

    def promoted(self):
        base = f"{self.prefix}out/t1/"
        return {k[len(base):] for k in list_keys(TRUSTED, base)}

    def wait_settled(self, count, timeout=240):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"sluice-mover exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}")
            settled = len(self.promoted()) + len([m for m in self.manifests().values()
                                                  if m["state"] in ("blocked", "in_review", "failed")])
            if settled >= count:
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out: {len(self.promoted())} promoted, manifests "
                             f"{ {n: m['state'] for n, m in self.manifests().items()} }\n{self.log_text()[-3000:]}")

    def api_answers(self, ids):
        """The daemon's answers to a reviewer: the list, then each artifact."""
        sock = os.path.join(self.tmp, "api.sock")
        out = []
        for path in ["/v1/artifacts?limit=500"] + [f"/v1/artifacts/{i}" for i in ids]:
            r = subprocess.run(["curl", "-sS", "--unix-socket", sock, "http://sluice" + path],
                               capture_output=True, text=True, timeout=30)
            out.append(r.stdout + r.stderr)
        return "\n".join(out)

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        for bucket, prefix in ((STAGING, self.prefix), (TRUSTED, self.prefix), (QUARANTINE, f"q/{self.route}/"),
                               (QUARANTINE, self.control)):
            keys = list_keys(bucket, prefix)
            for i in range(0, len(keys), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
        self.log.close()


class ContentTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-content-")
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_hostile_corpus_gets_its_verdicts_and_benign_files_are_promoted(self):
        corpus = content_corpus.build(ROOT, [QUARANTINE, STAGING, TRUSTED])
        d = self.daemon = Daemon(self.tmp, content_corpus.route_checks(ROOT))
        for item in corpus:
            s3.put_object(Bucket=STAGING, Key=d.staging_key(item.name), Body=item.data,
                          ContentType=item.content_type, Metadata=item.metadata)
        d.start()
        d.wait_settled(len(corpus))

        promoted, manifests = d.promoted(), d.manifests()
        wrong = []
        for item in corpus:
            if item.expect == "promoted":
                got = "promoted" if item.name in promoted else manifests.get(item.name, {}).get("state", "missing")
            else:
                got = manifests.get(item.name, {}).get("state", "promoted" if item.name in promoted else "missing")
            if got != item.expect:
                wrong.append(f"{item.name!r} ({item.why}): expected {item.expect}, got {got}: "
                             + json.dumps([f for f in manifests.get(item.name, {}).get("findings", [])
                                           if f["verdict"] != "pass"]))
                continue
            if item.expect != "promoted":
                hits = [f for f in manifests[item.name]["findings"]
                        if f["verdict"] == item.verdict and f["check"] == item.check
                        and all(s in f["detail"] for s in item.detail)]
                if not hits:
                    wrong.append(f"{item.name!r} ({item.why}): no {item.verdict} {item.check} finding with {item.detail}: "
                                 + json.dumps(manifests[item.name]["findings"]))
        self.assertEqual(wrong, [], "\n".join(wrong))

        # what the checks found never appears where people and programs read: the
        # manifests, the audit log, the log lines and the API's answers
        secrets = [s for item in corpus for s in item.secrets]
        self.assertTrue(secrets)
        api = d.api_answers([m["id"] for m in manifests.values()])
        self.assertIn('"findings"', api)
        self.assertEqual(d.stop(), 0, d.log_text()[-3000:])
        if secrets:
            places = {"manifests": json.dumps(manifests), "log": d.log_text(), "API answers": api}
            with open(d.audit) as f:
                places["audit log"] = f.read()
            for place, text in places.items():
                for s in secrets:
                    self.assertNotIn(s, text, f"a secret leaked into the {place}")

    def test_reload_with_rules_that_do_not_compile_keeps_the_old_rules(self):
        d = self.daemon = Daemon(self.tmp, content_corpus.route_checks(ROOT))
        d.start()
        deadline = time.time() + 120  # the rules in use are compiled at start-up
        while "pipeline_started" not in d.log_text() and time.time() < deadline:
            self.assertIsNone(d.proc.poll(), d.log_text())
            time.sleep(0.1)
        broken = os.path.join(self.tmp, "broken.json")
        with open(broken, "w") as f:
            json.dump({"rules": [{"id": "broken", "pattern": "a(b", "severity": "block"}]}, f)
        with open(d.config) as f:
            cfg = json.load(f)
        cfg["routes"][0]["checks"]["rules"] = [broken]
        with open(d.config, "w") as f:
            json.dump(cfg, f)
        d.wait_handles(signal.SIGHUP)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 60
        while "reload_refused" not in d.log_text() and time.time() < deadline:
            time.sleep(0.2)
        log = d.log_text()
        self.assertIn("rule broken: the pattern does not compile", log)
        self.assertIn("kept the configuration and rules in use", log)
        # the old rules still judge: a token is blocked, a clean file promoted
        token = "ghp_" + content_corpus.rand(content_corpus.ALNUM, 36)
        s3.put_object(Bucket=STAGING, Key=d.staging_key("after.txt"), Body=f"t={token}\n".encode())
        s3.put_object(Bucket=STAGING, Key=d.staging_key("fine.csv"), Body=content_corpus.CSV, ContentType="text/csv")
        d.wait_settled(2)
        self.assertEqual(d.manifests()["after.txt"]["state"], "blocked")
        self.assertIn("fine.csv", d.promoted())
        self.assertEqual(d.stop(), 0, d.log_text()[-3000:])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
