"""Tasks end to end with the real daemon: an orchestrator opens a task through
`sluice-review task open`, an interpreter uploads with the grant (curl with the presigned
PUT URL, curl -F with the presigned POST form — no credentials of its own), and the
objects arrive in trusted; after `task close` an object uploaded before the close is
still processed, one uploaded after it (with a URL that S3 still honours) is rejected
and deleted from staging, and both outcomes are in the audit log; objects of an unknown
task are rejected too.

The route lives under tests/, one of the prefixes the local server's bucket policy lets
the grants identity write (scripts/s3-server.sh). argv[1] = sluice-mover, argv[2] =
sluice-review. Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import boto3

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

MOVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/sluice-mover"
REVIEW = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "build/sluice-review"
STAGING, QUARANTINE, TRUSTED = (ENV["SLUICE_BUCKET_STAGING"], ENV["SLUICE_BUCKET_QUARANTINE"],
                                ENV["SLUICE_BUCKET_TRUSTED"])
s3 = boto3.client("s3", endpoint_url=ENV["SLUICE_S3_ENDPOINT"], region_name=ENV["SLUICE_S3_REGION"],
                  aws_access_key_id=ENV["SLUICE_MOVER_ACCESS_KEY"], aws_secret_access_key=ENV["SLUICE_MOVER_SECRET_KEY"])
CSV = b"id,value\n1,10\n2,20\n3,30\n4,40\n"


def list_keys(bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def signing_key(folder):
    """The daemon's signing key (attest.signing_key, docs/attestation.md), made once per folder."""
    prefix = os.path.join(folder, "attest")
    if not os.path.exists(prefix + ".key"):
        subprocess.run([MOVER, "keygen", "-o", prefix], check=True, capture_output=True)
    return prefix + ".key"


class TaskFlowTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-taskflow-")
        os.chmod(self.tmp, 0o711)  # other users reach the socket (and get a 403, not EACCES)
        self.run_id = uuid.uuid4().hex[:8]
        self.route = f"flow-{self.run_id}"
        self.prefix = f"tests/flow-{self.run_id}/"
        self.control = f"sluice-flow-test/{self.run_id}/"
        self.socket = os.path.join(self.tmp, "api", "api.sock")
        self.audit = os.path.join(self.tmp, "audit.jsonl")
        cfg = {
            "s3": {"endpoint": ENV["SLUICE_S3_ENDPOINT"], "region": ENV["SLUICE_S3_REGION"],
                   "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"}},
            "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                        "control_prefix": self.control},
            "grants": {"credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "grants"},
                       "default_ttl": "10m", "max_ttl": "1h"},
            "routes": [{"name": self.route, "staging_prefix": self.prefix + "in/",
                        "trusted_prefix": self.prefix + "out/", "review": "auto",
                        "checks": {"max_bytes": "1MiB", "allow_types": ["text/csv", "text/plain"]}}],
            "review": {"orchestrators": ["root"]},
            "api": {"socket": self.socket, "socket_mode": "0666"},
            "attest": {"signing_key": signing_key(self.tmp)},
            "audit": {"file": self.audit},
            # slow polls: the test closes a task before the mover has seen its first object
            "worker": {"poll_interval": "3s", "poll_jitter": "0ms"},
        }
        self.config = os.path.join(self.tmp, "sluice.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.tmp, "mover.log"), "ab")
        self.proc = subprocess.Popen([MOVER, "run", "-c", self.config], stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while not os.path.exists(self.socket) and time.time() < deadline:
            time.sleep(0.1)

    def tearDown(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=30)
        self.log.close()
        for bucket, prefix in ((STAGING, self.prefix), (TRUSTED, self.prefix), (QUARANTINE, self.control),
                               (QUARANTINE, f"q/{self.route}/")):
            for k in list_keys(bucket, prefix):
                s3.delete_object(Bucket=bucket, Key=k)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(rc, 0)

    def cli(self, *args):
        r = subprocess.run([REVIEW, *args, "--socket", self.socket], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, f"sluice-review {' '.join(args)}: {r.stderr}")
        return r.stdout

    def put(self, grant, name):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(CSV)
        headers = sum((["-H", f"{k}: {v}"] for k, v in grant["put_headers"].items()), [])
        r = subprocess.run(["curl", "-sS", "--fail", "-X", "PUT", *headers, "--upload-file", path,
                            grant["put_urls"][name]], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def wait(self, what, check, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if check():
                return
            time.sleep(0.2)
        with open(os.path.join(self.tmp, "mover.log"), "rb") as f:
            tail = f.read()[-3000:].decode("utf-8", "replace")
        raise AssertionError(f"timed out waiting for {what}; log tail:\n{tail}")

    def audit_lines(self):
        with open(self.audit) as f:
            return [json.loads(line) for line in f]

    def test_grant_uploads_flow_to_trusted(self):
        grant = json.loads(self.cli("task", "open", "--route", self.route, "--key", "put.csv", "--json"))
        task = grant["task"]
        self.put(grant, "put.csv")
        # a task without named keys: its POST form takes any name under its prefix (a task
        # with named keys admits only those names)
        free = json.loads(self.cli("task", "open", "--route", self.route, "--json"))
        # the POST form, as a browser or curl -F sends it: fields first, the file last
        post = free["post"]
        form = ["-F", f"key={post['key_prefix']}post.csv"]
        for name, value in post["fields"].items():
            form += ["-F", f"{name}={value}"]
        path = os.path.join(self.tmp, "post.csv")
        with open(path, "wb") as f:
            f.write(CSV)
        r = subprocess.run(["curl", "-sS", "--fail-with-body", *form, "-F", f"file=@{path}", post["url"]],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        out = f"{self.prefix}out/"
        self.wait("both uploads in trusted", lambda: len(list_keys(TRUSTED, out)) == 2)
        for t, name in ((task, "put.csv"), (free["task"], "post.csv")):
            obj = s3.get_object(Bucket=TRUSTED, Key=f"{out}{t}/{name}")
            self.assertEqual(obj["Body"].read(), CSV)
            self.assertEqual(obj["Metadata"]["sluice-task"], t)
        self.assertEqual(list_keys(STAGING, self.prefix), [])
        opened = [l for l in self.audit_lines() if l["event"] == "task_open"]
        self.assertEqual([l["actor"] for l in opened], ["root", "root"])

    def test_close_keeps_earlier_uploads_and_rejects_later_ones(self):
        grant = json.loads(self.cli("task", "open", "--route", self.route, "--key", "before.csv",
                                    "--key", "after.csv", "--json"))
        task = grant["task"]
        self.put(grant, "before.csv")
        time.sleep(0.05)
        self.cli("task", "close", task)
        time.sleep(0.05)
        self.put(grant, "after.csv")  # S3 still honours the URL: a presigned grant cannot be revoked
        self.wait("both settled", lambda: not list_keys(STAGING, self.prefix)
                  and len(list_keys(TRUSTED, f"{self.prefix}out/")) == 1
                  and any(l.get("to") == "rejected" for l in self.audit_lines()))
        self.assertEqual(list_keys(TRUSTED, f"{self.prefix}out/"), [f"{self.prefix}out/{task}/before.csv"])
        lines = self.audit_lines()
        promoted = [l for l in lines if l.get("to") == "promoted"]
        rejected = [l for l in lines if l.get("to") == "rejected"]
        self.assertEqual(len(promoted), 1)
        self.assertEqual(len(rejected), 1)
        self.assertIn("after.csv", rejected[0]["detail"]["staging_key"])
        self.assertTrue(any(l["event"] == "task_close" for l in lines))
        manifests = [json.loads(s3.get_object(Bucket=QUARANTINE, Key=k)["Body"].read())
                     for k in list_keys(QUARANTINE, self.control + "artifacts/")]
        self.assertEqual([(m["name"], m["state"]) for m in manifests], [("after.csv", "rejected")])
        self.assertIn("closed", json.dumps(manifests[0]["findings"]))
        r = subprocess.run([REVIEW, "audit", "verify", self.audit], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_unknown_task_is_rejected_and_deleted(self):
        key = f"{self.prefix}in/NoSuchTask0000000000000/x.csv"
        s3.put_object(Bucket=STAGING, Key=key, Body=CSV, ContentType="text/csv")
        self.wait("the rejection", lambda: not list_keys(STAGING, self.prefix))
        self.assertEqual(list_keys(TRUSTED, self.prefix), [])
        rejected = [l for l in self.audit_lines() if l.get("to") == "rejected"]
        self.assertEqual(len(rejected), 1)

    def test_task_api_refuses_bad_requests_and_non_orchestrators(self):
        r = subprocess.run([REVIEW, "task", "open", "--route", "nope", "--socket", self.socket],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown_route", r.stderr)
        r = subprocess.run([REVIEW, "task", "open", "--route", self.route, "--ttl", "9h", "--socket", self.socket],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid_ttl", r.stderr)
        # nothing was written by the refused requests
        self.assertEqual(list_keys(QUARANTINE, self.control + "tasks/"), [])
        r = subprocess.run(["runuser", "-u", "nobody", "--", REVIEW, "task", "list", "--socket", self.socket],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("403", r.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
