"""mover_harness.py — what the pipeline's integration tests share: the local server's
environment, a boto3 client with the mover's keys (playing the interpreter), test bytes
(a PNG, an ELF, a ZIP), and `Mover`, a sluice-mover process on a configuration of its
own (its own route, prefixes, control prefix, audit log and API socket), optionally
talking to S3 through a fault proxy (`endpoint=`) with its own `s3` settings.

The daemon's binaries come from argv[1] and argv[2] of the test script (ctest passes
them). Needs `eval "$(scripts/s3-server.sh env)"`.
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

import urllib.request

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

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


def staging_notification(on):
    """Turns the staging bucket's ObjectCreated notification to the events topic that
    scripts/s3-server.sh made (sluice-events) on or off: the events test and benchmark add
    it for their own run only (with it radosgw pushes every staging PUT, docs/events.md)."""
    if on:
        config = {"TopicConfigurations": [{"Id": "sluice", "TopicArn": "arn:aws:sns:default::sluice-events",
                                           "Events": ["s3:ObjectCreated:*"]}]}
        s3.put_bucket_notification_configuration(Bucket=STAGING, NotificationConfiguration=config)
        return
    # radosgw refuses an empty configuration (MalformedXML); its own DELETE ?notification
    # removes them all (boto3 has no call for it: signed here with botocore)
    url = f"{ENV['SLUICE_S3_ENDPOINT']}/{STAGING}?notification="
    request = AWSRequest(method="DELETE", url=url)
    creds = Credentials(ENV["SLUICE_MOVER_ACCESS_KEY"], ENV["SLUICE_MOVER_SECRET_KEY"])
    S3SigV4Auth(creds, "s3", ENV["SLUICE_S3_REGION"]).add_auth(request)
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE", headers=dict(request.headers)),
                                timeout=30) as answer:
        if answer.status not in (200, 204):
            raise AssertionError(f"DELETE ?notification answered {answer.status}")


def signing_key(folder):
    """The daemon's signing key (attest.signing_key, docs/attestation.md), made once per folder."""
    prefix = os.path.join(folder, "attest")
    if not os.path.exists(prefix + ".key"):
        subprocess.run([MOVER, "keygen", "-o", prefix], check=True, capture_output=True)
    return prefix + ".key"


class Mover:
    """A sluice-mover process on a config of its own."""

    def __init__(self, tmp, run, retention="1h", poll="200ms", concurrency=32, extra_routes=(), log_format="text",
                 endpoint=None, s3_settings=None, worker_settings=None, review=None, events=None,
                 api_settings=None, route_checks=None, clamav=None):
        self.tmp = tmp
        self.run = run
        self.route = "r" + run
        self.prefix = f"pipeline-test/{run}/"
        self.control = f"sluice-test/{run}/"
        self.audit = os.path.join(tmp, "audit", "audit.jsonl")
        self.log = open(os.path.join(tmp, "mover.log"), "ab")
        cfg = {
            "s3": {
                "endpoint": endpoint or ENV["SLUICE_S3_ENDPOINT"],
                "region": ENV["SLUICE_S3_REGION"],
                "credentials": {"file": ENV["SLUICE_S3_CREDENTIALS"], "profile": "mover"},
                **(s3_settings or {}),
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
                        **(route_checks or {}),
                    },
                }
            ]
            + list(extra_routes),
            "retention": {"quarantine": retention},
            "attest": {"signing_key": signing_key(tmp)},
            "audit": {"file": self.audit},
            # a socket of its own: test runs side by side must not meet on the default one
            "api": {"socket": os.path.join(tmp, "api.sock"), **(api_settings or {})},
            "worker": {"poll_interval": poll, "concurrency": concurrency, **(worker_settings or {})},
            "log": {"level": "info", "format": log_format},
            **({"review": review} if review else {}),
            **({"events": events} if events else {}),
            **({"clamav": clamav} if clamav else {}),
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

    def leases(self):
        """With a `cluster` section: lease name -> the name of the mover holding it ("" when
        released), as the lease objects in S3 say now (docs/scaling.md)."""
        out = {}
        prefix = self.control + "cluster/leases/"
        for key in list_keys(QUARANTINE, prefix):
            try:
                doc = json.loads(s3.get_object(Bucket=QUARANTINE, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                continue
            out[key[len(prefix):]] = doc["mover"] if doc["holder"] else ""
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
        for bucket, prefix in ((TRUSTED, self.prefix), (QUARANTINE, f"q/{self.route}/"), (QUARANTINE, self.control)):
            keys = list_keys(bucket, prefix)
            for i in range(0, len(keys), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
        # staging is versioned: every version and delete marker goes
        versions = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=STAGING, Prefix=self.prefix):
            versions += [{"Key": v["Key"], "VersionId": v["VersionId"]}
                         for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for i in range(0, len(versions), 1000):
            s3.delete_objects(Bucket=STAGING, Delete={"Objects": versions[i:i + 1000]})
        self.log.close()


class MoverTest(unittest.TestCase):
    """A test case with one Mover at a time (self.new_mover), cleaned up after each test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-mover-test-")
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

