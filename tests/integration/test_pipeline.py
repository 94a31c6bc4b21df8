"""The mover pipeline end to end, against the local radosgw.

Interpreters are played by boto3 uploading into staging; `sluice-mover run` is the real
daemon binary (its path is argv[1], `sluice-review` argv[2]). Each test runs under its
own route name, staging/trusted prefixes and control prefix, so runs never see each
other's objects. Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
import zipfile
import io

import boto3
from botocore.config import Config

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

MOVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/sluice-mover"
REVIEW = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "build/sluice-review"
STAGING = ENV["SLUICE_BUCKET_STAGING"]
QUARANTINE = ENV["SLUICE_BUCKET_QUARANTINE"]
TRUSTED = ENV["SLUICE_BUCKET_TRUSTED"]

s3 = boto3.client(
    "s3",
    endpoint_url=ENV["SLUICE_S3_ENDPOINT"],
    region_name=ENV["SLUICE_S3_REGION"],
    aws_access_key_id=ENV["SLUICE_MOVER_ACCESS_KEY"],
    aws_secret_access_key=ENV["SLUICE_MOVER_SECRET_KEY"],
    config=Config(max_pool_connections=32, retries={"max_attempts": 5}),
)

# A 1x1 PNG, an ELF binary from the system, a ZIP made here.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def elf_bytes():
    with open("/bin/true", "rb") as f:
        return f.read()


def zip_bytes():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.txt", "x" * 100)
    return out.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def list_keys(bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def put_many(items, threads=16):
    from concurrent.futures import ThreadPoolExecutor

    def one(kv):
        key, body, ctype = kv
        s3.put_object(Bucket=STAGING, Key=key, Body=body, ContentType=ctype)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, items))


def signing_key(folder):
    """The daemon's signing key (attest.signing_key, docs/attestation.md), made once per folder."""
    prefix = os.path.join(folder, "attest")
    if not os.path.exists(prefix + ".key"):
        subprocess.run([MOVER, "keygen", "-o", prefix], check=True, capture_output=True)
    return prefix + ".key"


class Mover:
    """A sluice-mover process on a config of its own."""

    def __init__(self, tmp, run, retention="1h", poll="200ms", concurrency=32, extra_routes=(), log_format="text"):
        self.tmp = tmp
        self.run = run
        self.route = "r" + run
        self.prefix = f"pipeline-test/{run}/"
        self.control = f"sluice-test/{run}/"
        self.audit = os.path.join(tmp, "audit", "audit.jsonl")
        self.log = open(os.path.join(tmp, "mover.log"), "ab")
        cfg = {
            "s3": {
                "endpoint": ENV["SLUICE_S3_ENDPOINT"],
                "region": ENV["SLUICE_S3_REGION"],
                "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"},
            },
            "buckets": {"staging": STAGING, "quarantine": QUARANTINE, "trusted": TRUSTED,
                        "control_prefix": self.control},
            "routes": [
                {
                    "name": self.route,
                    "staging_prefix": self.prefix + "in/",
                    "trusted_prefix": self.prefix + "out/",
                    "review": "auto",
                    "require_task": False,  # boto3 plays the interpreter with the mover's keys
                    "checks": {
                        "max_bytes": "64KiB",
                        "allow_types": ["text/csv", "text/plain", "application/json", "image/png"],
                        "deny_types": ["application/x-executable", "application/x-sharedlib"],
                    },
                }
            ]
            + list(extra_routes),
            "retention": {"quarantine": retention},
            "attest": {"signing_key": signing_key(tmp)},
            "audit": {"file": self.audit},
            "worker": {"poll_interval": poll, "concurrency": concurrency},
            "log": {"level": "info", "format": log_format},
        }
        self.config = os.path.join(tmp, "sluice.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def staging_key(self, task, name):
        return f"{self.prefix}in/{task}/{name}"

    def trusted_key(self, task, name):
        return f"{self.prefix}out/{task}/{name}"

    def start(self):
        """Starts the daemon and returns once it handles SIGTERM (as a supervisor would
        wait for it): before that, the dynamic loader is still at work and a signal kills
        the process by its default action, which says nothing about the daemon."""
        self.proc = subprocess.Popen([MOVER, "run", "-c", self.config], stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline and self.proc.poll() is None and not self.handles_sigterm():
            time.sleep(0.001)

    def handles_sigterm(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
        except OSError:
            pass
        return False

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.tmp, "mover.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def manifests(self):
        out = {}
        for key in list_keys(QUARANTINE, self.control + "artifacts/"):
            doc = json.loads(s3.get_object(Bucket=QUARANTINE, Key=key)["Body"].read())
            out[doc["id"]] = doc
        return out

    def quarantine_keys(self):
        return list_keys(QUARANTINE, f"q/{self.route}/")

    def keep_log(self):
        """Copies the whole daemon log (and the audit log) somewhere that outlives the test."""
        keep = os.path.join(tempfile.gettempdir(), "sluice-test-logs", self.run)
        os.makedirs(keep, exist_ok=True)
        shutil.copy(os.path.join(self.tmp, "mover.log"), keep)
        if os.path.exists(self.audit):
            shutil.copy(self.audit, keep)
        return keep

    def wait_until(self, what, check, timeout=240, describe=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"sluice-mover exited with {self.proc.returncode} while waiting for {what}:\n"
                                     + self.log_text()[-4000:] + f"\n(logs kept in {self.keep_log()})")
            if check():
                return
            time.sleep(0.2)
        now = f" (now: {describe()})" if describe else ""
        raise AssertionError(f"timed out waiting for {what}{now}; mover log tail:\n" + self.log_text()[-3000:]
                             + f"\n(logs kept in {self.keep_log()})")

    def audit_verify(self):
        r = subprocess.run([REVIEW, "audit", "verify", self.audit], capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    def cleanup(self):
        if self.proc is not None:
            self.kill()
        for bucket, prefix in ((STAGING, self.prefix), (TRUSTED, self.prefix), (QUARANTINE, f"q/{self.route}/"),
                               (QUARANTINE, self.control)):
            keys = list_keys(bucket, prefix)
            for i in range(0, len(keys), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
        self.log.close()


class PipelineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-pipeline-")
        self.mover = None

    def tearDown(self):
        if self.mover is not None:
            self.mover.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def new_mover(self, **kw):
        self.mover = Mover(self.tmp, uuid.uuid4().hex[:10], **kw)
        return self.mover

    def assert_promoted(self, m, task, name, data):
        key = m.trusted_key(task, name)
        obj = s3.get_object(Bucket=TRUSTED, Key=key)
        body = obj["Body"].read()
        self.assertEqual(body, data, key)
        meta = obj["Metadata"]
        self.assertEqual(meta.get("sluice-sha256"), sha256(data), key)
        self.assertEqual(meta.get("sluice-task"), task)
        self.assertEqual(len(meta.get("sluice-artifact", "")), 32)
        self.assertEqual(meta.get("sluice-decision"), "auto")
        return meta["sluice-artifact"]

    def test_good_files_promoted_bad_files_blocked_and_accounted_for(self):
        m = self.new_mover()
        task = "task-" + uuid.uuid4().hex[:8]
        good = {
            "report.csv": (b"name,value\nalpha,1\nbeta,2\ngamma,3\n", "text/csv"),
            "pixel.png": (PNG, "image/png"),
            "result.json": (b'{"accuracy": 0.93, "labels": ["a", "b"]}\n', "application/json"),
        }
        bad = {
            "tool.bin": (elf_bytes()[:60000], "application/octet-stream"),  # an executable
            "huge.csv": (b"a,b\n" * 40000, "text/csv"),                      # 160 KB > 64 KiB
            "table.csv": (zip_bytes(), "text/csv"),                          # a ZIP named .csv
            "sub/../escape.csv": (b"a,b\n1,2\n", "text/csv"),                # a ".." segment
        }
        items = [(m.staging_key(task, n), d, t) for n, (d, t) in {**good, **bad}.items()]
        put_many(items)
        m.start()
        m.wait_until("staging to empty", lambda: not list_keys(STAGING, m.prefix))
        m.wait_until("every artifact to settle",
                     lambda: len(list_keys(TRUSTED, m.prefix)) == len(good) and len(m.manifests()) == len(bad))
        self.assertEqual(m.stop(), 0, m.log_text()[-3000:])

        for name, (data, _) in good.items():
            self.assert_promoted(m, task, name, data)
        manifests = m.manifests()
        by_name = {doc["name"]: doc for doc in manifests.values()}
        self.assertEqual(set(by_name), set(bad))
        for name, doc in by_name.items():
            self.assertEqual(doc["state"], "blocked", name)
            self.assertTrue(any(f["verdict"] != "pass" for f in doc["findings"]), name)
        reasons = {name: [f["check"] for f in doc["findings"] if f["verdict"] != "pass"] for name, doc in by_name.items()}
        self.assertIn("type", reasons["tool.bin"])
        self.assertIn("size", reasons["huge.csv"])
        self.assertIn("type", reasons["table.csv"])
        self.assertIn("key", reasons["sub/../escape.csv"])
        # the blocked bytes wait in quarantine for retention; nothing else is left there
        self.assertEqual(len(m.quarantine_keys()), len(bad))
        # the S3 budget of the hot path, from the client's own request counter: copy to
        # quarantine, delete staging, GET, HEAD trusted (radosgw ignores If-None-Match on
        # CopyObject, see docs), copy to trusted, delete quarantine
        stopped = [l for l in m.log_text().splitlines() if " stopped " in l][-1]
        self.assertIn(f"promoted={len(good)} ", stopped)
        self.assertIn(f"promoted_requests={6 * len(good)}", stopped)
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)
        # five transitions per promoted artifact, and each blocked one is recorded
        lines = [json.loads(l) for l in open(m.audit)]
        promoted = [l for l in lines if l.get("to") == "promoted"]
        self.assertEqual(len(promoted), len(good))
        self.assertEqual(len([l for l in lines if l.get("to") == "blocked"]), len(bad))

    def test_thousand_objects_all_accounted_for(self):
        m = self.new_mover(concurrency=64)
        n = 1000
        items = []
        for i in range(n):
            task = f"t{i % 10}"
            if i % 50 == 7:   # every 50th is an executable
                items.append((m.staging_key(task, f"obj-{i}.bin"), elf_bytes()[:4096], "application/octet-stream"))
            else:
                items.append((m.staging_key(task, f"obj-{i}.csv"), f"id,value\n{i},{i * i}\n".encode(), "text/csv"))
        put_many(items, threads=32)
        started = time.time()
        m.start()
        m.wait_until("all 1000 to be accounted for",
                     lambda: len(list_keys(TRUSTED, m.prefix)) + len(m.manifests()) >= n, timeout=300)
        elapsed = time.time() - started
        self.assertEqual(m.stop(), 0)
        promoted = len(list_keys(TRUSTED, m.prefix))
        blocked = len(m.manifests())
        self.assertEqual(promoted + blocked, n)
        self.assertEqual(blocked, len([1 for i in range(n) if i % 50 == 7]))
        self.assertEqual(list_keys(STAGING, m.prefix), [])
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)
        print(f"\n1000 objects: {promoted} promoted, {blocked} blocked in {elapsed:.1f} s "
              f"({n / elapsed:.0f} objects/s, including start-up)", file=sys.stderr)

    def test_kill_nine_at_random_moments_loses_and_duplicates_nothing(self):
        m = self.new_mover(concurrency=16)
        rng = random.Random(int(ENV.get("SLUICE_TEST_SEED", "0")) or None)
        objects = {}
        items = []
        for i in range(200):
            task = f"k{i % 4}"
            name = f"part-{i:03}.csv" if i % 20 else f"bad-{i:03}.csv"
            data = (f"row,{i}\n" * (1 + i % 7)).encode() if i % 20 else zip_bytes()
            objects[(task, name)] = data
            items.append((m.staging_key(task, name), data, "text/csv"))
        put_many(items)
        kills = 0
        while kills < 20:
            m.start()
            time.sleep(rng.uniform(0.05, 0.6))
            m.kill()
            kills += 1
        m.start()
        bad = [k for k in objects if k[1].startswith("bad-")]
        m.wait_until("staging to empty", lambda: not list_keys(STAGING, m.prefix), timeout=300)
        def counts():
            return (f"{len(list_keys(TRUSTED, m.prefix))} trusted of {len(objects) - len(bad)}, "
                    f"{len(m.manifests())} manifests and {len(m.quarantine_keys())} quarantined of {len(bad)}, "
                    f"{len(list_keys(STAGING, m.prefix))} in staging")
        m.wait_until("every artifact to settle",
                     lambda: len(list_keys(TRUSTED, m.prefix)) == len(objects) - len(bad)
                     and len(m.manifests()) == len(bad)
                     and len(m.quarantine_keys()) == len(bad), timeout=300, describe=counts)
        self.assertEqual(m.stop(), 0)
        trusted = set(list_keys(TRUSTED, m.prefix))
        artifacts = set()
        for (task, name), data in objects.items():
            if name.startswith("bad-"):
                self.assertNotIn(m.trusted_key(task, name), trusted)
                continue
            artifact = self.assert_promoted(m, task, name, data)
            self.assertNotIn(artifact, artifacts)  # one trusted object per artifact
            artifacts.add(artifact)
        blocked = {(d["task"], d["name"]) for d in m.manifests().values() if d["state"] == "blocked"}
        self.assertEqual(blocked, set(bad))
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)
        # every promoted artifact has its "promoted" transition in the log
        lines = [json.loads(l) for l in open(m.audit)]
        logged = {l["artifact"] for l in lines if l.get("to") == "promoted"}
        self.assertEqual(logged, artifacts)

    def test_blocked_copies_purged_after_retention(self):
        m = self.new_mover(retention="2s")
        task = "ret"
        s3.put_object(Bucket=STAGING, Key=m.staging_key(task, "evil.csv"), Body=zip_bytes(), ContentType="text/csv")
        m.start()
        m.wait_until("the manifest", lambda: len(m.manifests()) == 1)
        m.wait_until("the purge", lambda: not m.quarantine_keys()
                     and list(m.manifests().values())[0]["state"] == "purged", timeout=180)
        self.assertEqual(m.stop(), 0)
        doc = list(m.manifests().values())[0]
        self.assertEqual([h["to"] for h in doc["history"]][-2:], ["blocked", "purged"])
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)

    def test_trusted_key_with_other_bytes_is_never_overwritten(self):
        m = self.new_mover(log_format="json")
        task = "clash"
        other = b"other,bytes\n1,2\n"
        s3.put_object(Bucket=TRUSTED, Key=m.trusted_key(task, "same.csv"), Body=other)
        s3.put_object(Bucket=STAGING, Key=m.staging_key(task, "same.csv"), Body=b"a,b\n1,2\n3,4\n",
                      ContentType="text/csv")
        m.start()
        m.wait_until("the failed manifest", lambda: len(m.manifests()) == 1)
        self.assertEqual(m.stop(), 0)
        doc = list(m.manifests().values())[0]
        self.assertEqual(doc["state"], "failed")
        self.assertTrue(any("never overwritten" in f["detail"] for f in doc["findings"]), doc["findings"])
        self.assertEqual(s3.get_object(Bucket=TRUSTED, Key=m.trusted_key(task, "same.csv"))["Body"].read(), other)
        self.assertEqual(len(m.quarantine_keys()), 1)  # the artifact's bytes wait in quarantine
        # log lines are JSON objects with the event and its fields
        events = [json.loads(line) for line in m.log_text().splitlines() if line.startswith("{")]
        self.assertIn("failed", [e["event"] for e in events])
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)

    def test_sigterm_during_start_up_stops_cleanly(self):
        # A stop that arrives while the daemon is still starting (libmagic, audit log)
        # is a clean stop, never a death by the default signal action.
        m = self.new_mover()
        for delay in (0.0, 0.002, 0.005, 0.02):
            m.start()
            time.sleep(delay)
            self.assertEqual(m.stop(), 0, f"SIGTERM {delay * 1000:.0f} ms after the handler\n" + m.log_text()[-2000:])

    def test_sighup_reload_keeps_old_config_when_new_one_is_invalid(self):
        m = self.new_mover()
        m.start()
        time.sleep(0.5)
        good = open(m.config).read()
        with open(m.config, "w") as f:
            f.write(good.replace('"routes"', '"rootes"', 1))
        m.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        task = "reload"
        s3.put_object(Bucket=STAGING, Key=m.staging_key(task, "a.csv"), Body=b"a,b\n1,2\n", ContentType="text/csv")
        m.wait_until("promotion under the old config", lambda: len(list_keys(TRUSTED, m.prefix)) == 1)
        self.assertIn("reload_refused", m.log_text())
        self.assertEqual(m.stop(), 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
