"""Attested promotion against the real radosgw: `sluice-review verify` run as the
consumer (its own keys, no daemon) on objects in the trusted bucket.

ConsumerVerifyTest writes attested objects itself, as the mover identity, with an
independent implementation of the format (tests/vectors/attest/make_vectors.py: Python's
json module and the openssl command), then proves every verdict: a verified object; one
changed byte of the content, one changed metadata field, a changed Content-Type, a copy to
another key, added metadata — each fails with its reason; a key rotated out verifies
while its public key is trusted and fails once removed; --all sums up a prefix; an object
that cannot be read is exit 4, never verified; and the plain-openssl recipe of
docs/attestation.md, extracted from the document and run as it is, verifies a real
object and fails on a tampered one.

AuditShippingTest runs the real daemon: its audit log leaves the host in signed segments
(`sluice-review audit verify --shipped` finds the local file equal to them); a local log
truncated by one record, or with one record edited, is refused at start with the first
differing record named (and `audit verify --shipped` names it too); a torn tail that was
never shipped is still repaired, with its audit_repair record; and the daemon does not
start without a signing key, or with one that others may read.

argv[1] = sluice-mover, argv[2] = sluice-review. Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import hashlib
import json
import signal
import time
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

import boto3

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "vectors", "attest"))
import make_vectors as mv  # noqa: E402  (the independent writer of the format)

MOVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/sluice-mover"
REVIEW = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "build/sluice-review"
TRUSTED = ENV["SLUICE_BUCKET_TRUSTED"]
mover = boto3.client("s3", endpoint_url=ENV["SLUICE_S3_ENDPOINT"], region_name=ENV["SLUICE_S3_REGION"],
                     aws_access_key_id=ENV["SLUICE_MOVER_ACCESS_KEY"],
                     aws_secret_access_key=ENV["SLUICE_MOVER_SECRET_KEY"])

# the consumer's environment: its own keys, the endpoint, nothing else of ours
CONSUMER_ENV = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}
CONSUMER_ENV.update(AWS_ACCESS_KEY_ID=ENV["SLUICE_CONSUMER_ACCESS_KEY"],
                    AWS_SECRET_ACCESS_KEY=ENV["SLUICE_CONSUMER_SECRET_KEY"],
                    AWS_ENDPOINT_URL=ENV["SLUICE_S3_ENDPOINT"], AWS_DEFAULT_REGION=ENV["SLUICE_S3_REGION"],
                    AWS_CONFIG_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")


def sign_with(key_path, pub_path, facts):
    """The metadata of `facts`, signed with key_path (the format's other implementation)."""
    mv.KEY, mv.PUB = key_path, pub_path
    body = mv.statement(facts)
    return dict(mv.metadata(facts, mv.key_id(), mv.sign(mv.pae(body))))


def recipe_from_doc():
    with open(os.path.join(ROOT, "docs", "attestation.md"), encoding="utf-8") as f:
        doc = f.read()
    m = re.search(r"<!-- openssl-recipe:[^>]*-->\n```sh\n(.*?)```", doc, re.S)
    assert m, "docs/attestation.md has no openssl-recipe block"
    return m.group(1)


class ConsumerVerifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-attest-")
        cls.old_key = os.path.join(cls.tmp, "old.key")
        shutil.copy(os.path.join(ROOT, "tests", "vectors", "attest", "signing.key"), cls.old_key)
        os.chmod(cls.old_key, 0o600)
        cls.old_pub = os.path.join(ROOT, "tests", "vectors", "attest", "signing.pub")
        r = subprocess.run([MOVER, "keygen", "-o", os.path.join(cls.tmp, "new")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cls.new_key, cls.new_pub = os.path.join(cls.tmp, "new.key"), os.path.join(cls.tmp, "new.pub")
        cls.prefix = f"tests/attest-{uuid.uuid4().hex[:8]}/"

    @classmethod
    def tearDownClass(cls):
        for page in mover.get_paginator("list_objects_v2").paginate(Bucket=TRUSTED, Prefix=cls.prefix):
            for o in page.get("Contents", []):
                mover.delete_object(Bucket=TRUSTED, Key=o["Key"])
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def put_attested(self, name, body=b"id,value\n1,2\n", key=None, pub=None, reviewers=()):
        key, pub = key or self.new_key, pub or self.new_pub
        trusted_key = f"{self.prefix}out/{name}"
        facts = {
            "trusted_key": trusted_key, "staging_key": f"{self.prefix}in/{name}",
            "sha256": hashlib.sha256(body).hexdigest(), "media_type": "text/csv",
            "artifact": uuid.uuid4().hex, "task": "t-" + name.split("/")[0], "route": "tests",
            "decision": "review" if reviewers else "auto",
            "checks": [{"name": "key"}, {"name": "sha256"}, {"name": "type", "version": "libmagic 5.44"}],
            "findings": 0, "reviewers": list(reviewers),
            "times": {"quarantined": 1764960000123, "checked": 1764960000456, "decided": 1764960000457,
                      "signed": 1764960000789},
        }
        meta = sign_with(key, pub, facts)
        mover.put_object(Bucket=TRUSTED, Key=trusted_key, Body=body, Metadata=meta, ContentType="text/csv")
        return trusted_key, meta

    def verify(self, key, *extra, keys=None):
        args = [REVIEW, "verify", "--json"]
        for k in keys or [self.new_pub]:
            args += ["--key", k]
        r = subprocess.run(args + list(extra) + [f"s3://{TRUSTED}/{key}"], capture_output=True, text=True,
                           env=CONSUMER_ENV)
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        return r.returncode, lines, r.stderr

    def assert_verdict(self, key, reason, rc, keys=None):
        got_rc, lines, err = self.verify(key, keys=keys)
        self.assertEqual((got_rc, lines[0]["reason"] if lines else None), (rc, reason), f"{key}: {lines} {err}")
        return lines[0]

    def test_attested_object_verifies(self):
        key, meta = self.put_attested("a1/ok.csv", reviewers=("alice", "bob"))
        out = self.assert_verdict(key, "verified", 0)
        self.assertEqual(out["key_id"], meta["sluice-keyid"])
        self.assertEqual(out["sha256"], meta["sluice-sha256"])
        # the human form names the reason too
        r = subprocess.run([REVIEW, "verify", "--key", self.new_pub, f"s3://{TRUSTED}/{key}"], capture_output=True,
                           text=True, env=CONSUMER_ENV)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(f"verified s3://{TRUSTED}/{key}: signed by {meta['sluice-keyid']}"))

    def test_one_changed_byte_fails(self):
        key, meta = self.put_attested("a2/bytes.csv")
        mover.put_object(Bucket=TRUSTED, Key=key, Body=b"id,value\n1,3\n", Metadata=meta, ContentType="text/csv")
        out = self.assert_verdict(key, "content_changed", 1)
        self.assertIn(hashlib.sha256(b"id,value\n1,3\n").hexdigest(), out["detail"])

    def test_each_changed_metadata_field_fails(self):
        key, meta = self.put_attested("a3/meta.csv")
        changes = {"sluice-findings": ("1", "bad_signature"), "sluice-decision": ("review", "bad_signature"),
                   "sluice-reviewers": ("mallory", "bad_signature"), "sluice-task": ("t-other", "bad_signature"),
                   "sluice-sha256": ("0" * 64, "bad_signature"), "sluice-checks": ("key", "bad_signature"),
                   "sluice-signature": ("A" + meta["sluice-signature"][1:], "bad_signature"),
                   "sluice-keyid": ("0" * 64, "unknown_key"), "sluice-times": ("x", "malformed")}
        for field, (value, reason) in changes.items():
            with self.subTest(field=field):
                changed = dict(meta, **{field: value})
                mover.copy_object(Bucket=TRUSTED, Key=key, CopySource={"Bucket": TRUSTED, "Key": key},
                                  Metadata=changed, MetadataDirective="REPLACE", ContentType="text/csv")
                self.assert_verdict(key, reason, 1)
        # back to the signed metadata: verifies again; then another Content-Type, added metadata
        mover.copy_object(Bucket=TRUSTED, Key=key, CopySource={"Bucket": TRUSTED, "Key": key}, Metadata=meta,
                          MetadataDirective="REPLACE", ContentType="text/csv")
        self.assert_verdict(key, "verified", 0)
        mover.copy_object(Bucket=TRUSTED, Key=key, CopySource={"Bucket": TRUSTED, "Key": key}, Metadata=meta,
                          MetadataDirective="REPLACE", ContentType="application/octet-stream")
        self.assert_verdict(key, "bad_signature", 1)
        mover.copy_object(Bucket=TRUSTED, Key=key, CopySource={"Bucket": TRUSTED, "Key": key},
                          Metadata=dict(meta, classification="public"), MetadataDirective="REPLACE",
                          ContentType="text/csv")
        self.assert_verdict(key, "uncovered_metadata", 1)

    def test_copy_to_another_key_fails(self):
        key, _ = self.put_attested("a4/orig.csv")
        moved = f"{self.prefix}out/a4/elsewhere.csv"
        mover.copy_object(Bucket=TRUSTED, Key=moved, CopySource={"Bucket": TRUSTED, "Key": key})
        self.assert_verdict(key, "verified", 0)
        self.assert_verdict(moved, "moved", 1)

    def test_rotated_out_key_verifies_while_trusted(self):
        key, _ = self.put_attested("a5/old.csv", key=self.old_key, pub=self.old_pub)
        self.assert_verdict(key, "verified", 0, keys=[self.new_pub, self.old_pub])
        out = self.assert_verdict(key, "unknown_key", 1, keys=[self.new_pub])
        self.assertIn("not among the 1 trusted keys", out["detail"])

    def test_unattested_and_unreadable(self):
        plain = f"{self.prefix}out/a6/plain.csv"
        mover.put_object(Bucket=TRUSTED, Key=plain, Body=b"x")
        self.assert_verdict(plain, "not_attested", 1)
        rc, lines, err = self.verify(f"{self.prefix}out/a6/missing.csv")
        self.assertEqual((rc, lines[0]["reason"]), (4, "unreadable"), err)
        r = subprocess.run([REVIEW, "verify", f"s3://{TRUSTED}/{plain}"], capture_output=True, text=True,
                           env=CONSUMER_ENV)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no trusted key", r.stderr)

    def test_all_sums_up_a_prefix(self):
        sub = "a7/"
        for i in range(3):
            self.put_attested(f"{sub}f{i}.csv")
        bad, meta = self.put_attested(f"{sub}bad.csv")
        mover.put_object(Bucket=TRUSTED, Key=bad, Body=b"changed", Metadata=meta, ContentType="text/csv")
        rc, lines, err = self.verify(f"{self.prefix}out/{sub}", "--all")
        self.assertEqual(rc, 1, err)
        self.assertEqual(lines[-1]["summary"], {"objects": 4, "verified": 3, "failed": 1, "unreadable": 0,
                                                "reasons": {"content_changed": 1}})
        rc, lines, err = self.verify(f"{self.prefix}out/none/", "--all")
        self.assertEqual(rc, 1)
        self.assertIn("no object", err)

    def run_recipe(self, key):
        work = tempfile.mkdtemp(dir=self.tmp)
        env = dict(CONSUMER_ENV, BUCKET=TRUSTED, KEY=key, PUB=self.new_pub,
                   PATH=os.path.dirname(REVIEW) + os.pathsep + ENV.get("PATH", ""))
        return subprocess.run(["bash", "-euo", "pipefail", "-c", recipe_from_doc()], cwd=work, env=env,
                              capture_output=True, text=True)

    def test_openssl_recipe_of_the_docs(self):
        key, meta = self.put_attested("a8/recipe.csv")
        r = self.run_recipe(key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Signature Verified Successfully", r.stdout)
        # the recipe fails when the bytes change ...
        mover.put_object(Bucket=TRUSTED, Key=key, Body=b"other bytes", Metadata=meta, ContentType="text/csv")
        self.assertNotEqual(self.run_recipe(key).returncode, 0)
        # ... and when a metadata field does (openssl refuses the signature)
        mover.put_object(Bucket=TRUSTED, Key=key, Body=b"id,value\n1,2\n", Metadata=dict(meta, **{"sluice-findings": "7"}),
                         ContentType="text/csv")
        r = self.run_recipe(key)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Signature Verification Failure", r.stdout + r.stderr)


STAGING, QUARANTINE = ENV["SLUICE_BUCKET_STAGING"], ENV["SLUICE_BUCKET_QUARANTINE"]


class AuditShippingTest(unittest.TestCase):
    """One daemon configuration; each test restarts the daemon on the same local log."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-ship-")
        cls.run_id = uuid.uuid4().hex[:8]
        cls.prefix = f"tests/ship-{cls.run_id}/"
        cls.control = f"sluice-ship-test/{cls.run_id}/"
        cls.audit = os.path.join(cls.tmp, "audit.jsonl")
        r = subprocess.run([MOVER, "keygen", "-o", os.path.join(cls.tmp, "attest")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cls.cfg = {
            "s3": {"endpoint": ENV["SLUICE_S3_ENDPOINT"], "region": ENV["SLUICE_S3_REGION"],
                   "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"}},
            "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                        "control_prefix": cls.control},
            "routes": [{"name": "ship", "staging_prefix": cls.prefix + "in/", "trusted_prefix": cls.prefix + "out/",
                        "review": "auto", "require_task": False,
                        "checks": {"max_bytes": "1MiB", "allow_types": ["text/csv", "text/plain"]}}],
            "api": {"socket": os.path.join(cls.tmp, "api.sock")},
            "attest": {"signing_key": os.path.join(cls.tmp, "attest.key")},
            "audit": {"file": cls.audit, "ship_interval": "200ms"},
            "worker": {"poll_interval": "200ms"},
        }
        cls.config = cls.write_config("sluice.json", cls.cfg)
        # a first run: three objects flow, their records are shipped
        proc, log = cls.start()
        for i in range(3):
            mover.put_object(Bucket=STAGING, Key=f"{cls.prefix}in/t1/f{i}.csv", Body=b"id,value\n1,2\n")
        deadline = time.time() + 120
        while time.time() < deadline and len(cls.keys(TRUSTED, cls.prefix + "out/")) < 3:
            time.sleep(0.2)
        cls.stop(proc, log)
        assert len(cls.keys(TRUSTED, cls.prefix + "out/")) == 3, open(log).read()[-3000:]

    @classmethod
    def tearDownClass(cls):
        for bucket, prefix in ((STAGING, cls.prefix), (TRUSTED, cls.prefix), (QUARANTINE, cls.control),
                               (QUARANTINE, "q/ship/")):
            for k in cls.keys(bucket, prefix):
                mover.delete_object(Bucket=bucket, Key=k)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def write_config(cls, name, cfg):
        path = os.path.join(cls.tmp, name)
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    @classmethod
    def keys(cls, bucket, prefix):
        out = []
        for page in mover.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    @classmethod
    def start(cls, config=None):
        log = os.path.join(cls.tmp, f"mover-{uuid.uuid4().hex[:6]}.log")
        with open(log, "wb") as out:
            proc = subprocess.Popen([MOVER, "run", "-c", config or cls.config], stdout=out, stderr=subprocess.STDOUT)
        return proc, log

    @classmethod
    def stop(cls, proc, log):
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        with open(log) as f:
            assert rc == 0, f"the daemon exited with {rc}:\n{f.read()[-3000:]}"

    def refused(self, config=None):
        """Starts the daemon and expects it to refuse: its exit status and log."""
        proc, log = self.start(config)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.stop(proc, log)
            with open(log) as f:
                self.fail(f"the daemon started:\n{f.read()[-3000:]}")
        with open(log) as f:
            return rc, f.read()

    def verify_shipped(self):
        env = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}
        r = subprocess.run([REVIEW, "audit", "verify", self.audit, "--shipped", "-c", self.config],
                           capture_output=True, text=True, env=env)
        return r.returncode, r.stdout + r.stderr

    def segments(self):
        return self.keys(QUARANTINE, self.control + "audit/mover/")

    def lines(self):
        with open(self.audit, "rb") as f:
            return f.read().splitlines(keepends=True)

    def test_shipped_segments_match_the_local_log(self):
        self.assertTrue(self.segments())
        head = mover.head_object(Bucket=QUARANTINE, Key=self.segments()[-1])
        self.assertIn("sluice-signature", head["Metadata"])
        rc, out = self.verify_shipped()
        self.assertEqual(rc, 0, out)
        n = len(self.lines())
        self.assertIn(f"records 1-{n} match", out)

    def with_local_log(self, data, check):
        """Runs check() with the local log replaced by `data`, then puts it back."""
        with open(self.audit, "rb") as f:
            original = f.read()
        try:
            with open(self.audit, "wb") as f:
                f.write(data)
            check()
        finally:
            with open(self.audit, "wb") as f:
                f.write(original)

    def test_truncated_log_is_refused_naming_the_record(self):
        lines = self.lines()
        n = len(lines)

        def check():
            rc, log = self.refused()
            self.assertNotEqual(rc, 0)
            self.assertIn(f"record {n} ", log)
            self.assertIn("shorter than what was shipped", log)
            rc, out = self.verify_shipped()
            self.assertEqual(rc, 1, out)
            self.assertIn(f"record {n} ", out)
        self.with_local_log(b"".join(lines[:-1]), check)

    def test_edited_log_is_refused_naming_the_record(self):
        lines = self.lines()
        edited = lines[1].replace(b'"actor":"mover"', b'"actor":"eve!!"')
        self.assertNotEqual(edited, lines[1])

        def check():
            rc, log = self.refused()
            self.assertNotEqual(rc, 0)
            self.assertIn("record 2 ", log)
            self.assertIn("differs from the one shipped", log)
            rc, out = self.verify_shipped()
            self.assertEqual(rc, 1, out)
            self.assertIn("line 3: prev does not match", out)  # its own chain breaks after record 2
        self.with_local_log(b"".join([lines[0], edited] + lines[2:]), check)

    def test_torn_tail_never_shipped_is_repaired(self):
        n = len(self.lines())
        with open(self.audit, "ab") as f:
            f.write(b'{"seq":%d,"time":"2026-' % (n + 1))
        proc, log = self.start()
        deadline = time.time() + 30
        while time.time() < deadline and b"audit_repair" not in b"".join(self.lines()[n:]):
            time.sleep(0.1)
        time.sleep(0.5)  # past the start: SIGTERM is a clean stop
        self.stop(proc, log)
        events = [json.loads(line)["event"] for line in self.lines()]
        self.assertEqual(events[n], "audit_repair")
        rc, out = self.verify_shipped()
        self.assertEqual(rc, 0, out)  # the repair record was shipped too

    def test_daemon_needs_a_private_signing_key(self):
        rc, log = self.refused(self.write_config("nokey.json", dict(self.cfg, attest={})))
        self.assertNotEqual(rc, 0)
        self.assertIn("attest.signing_key is not set", log)
        loose = os.path.join(self.tmp, "loose.key")
        shutil.copy(os.path.join(self.tmp, "attest.key"), loose)
        os.chmod(loose, 0o644)
        rc, log = self.refused(self.write_config("loose.json", dict(self.cfg, attest={"signing_key": loose})))
        self.assertNotEqual(rc, 0)
        self.assertIn("chmod 600", log)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
