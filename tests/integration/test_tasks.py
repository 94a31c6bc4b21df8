"""Upload grants of tasks, used the way an interpreter uses them, against the local radosgw.

A task is opened with the real CLI (`sluice-review task open --json`) through the real
socket API and task registry; until the daemon serves the task API, the registry and API
server run in `task-registry-test serve SOCKET CONTROL_PREFIX` (argv[1]; sluice-review is
argv[2]). The interpreter side uses no AWS SDK and no credentials: curl --upload-file with
the presigned PUT URLs, and Python's urllib with a hand-built multipart body for the
presigned POST form. boto3 (as the mover) only checks what arrived and cleans up.

What is proven, each by a request S3 answers:
  - a PUT URL writes its key once (the second PUT: 412), only with the signed headers,
    only that key, only with PUT, and for a sized key only that many bytes;
  - the POST form writes any name under the task's prefix, nothing outside it (another
    task, another route), nothing over max_bytes (400 EntityTooLarge), and only with the
    acl field as signed;
  - what a grant wrote is readable by the mover (bucket-owner-full-control);
  - after the TTL, S3 refuses both grants;
  - closing a task does not stop S3 from taking uploads (a presigned grant cannot be
    revoked): the mover rejects them instead — the pipeline's part, tested with the daemon.

Needs `eval "$(scripts/s3-server.sh env)"`. When the staging bucket has no policy, the
test installs one that lets the grants identity PUT under reports/ and metrics/, and
removes it afterwards; a policy already there (scripts/s3-server.sh's) is used as it is.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

import boto3
from botocore.exceptions import ClientError

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

SERVER = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/tests/task-registry-test"
REVIEW = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "build/sluice-review"
STAGING = ENV["SLUICE_BUCKET_STAGING"]
CONTROL = ENV["SLUICE_BUCKET_QUARANTINE"]

s3 = boto3.client(
    "s3",
    endpoint_url=ENV["SLUICE_S3_ENDPOINT"],
    region_name=ENV["SLUICE_S3_REGION"],
    aws_access_key_id=ENV["SLUICE_MOVER_ACCESS_KEY"],
    aws_secret_access_key=ENV["SLUICE_MOVER_SECRET_KEY"],
)


def curl_put(url, path, headers):
    """PUT a file with curl; returns (HTTP status, body)."""
    out = tempfile.NamedTemporaryFile(delete=False)
    out.close()
    cmd = ["curl", "-sS", "-o", out.name, "-w", "%{http_code}", "-X", "PUT", "--upload-file", path]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    code = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    with open(out.name, "rb") as f:
        body = f.read().decode("utf-8", "replace")
    os.unlink(out.name)
    return int(code), body


def multipart(fields, file_name, data):
    """A multipart/form-data body: the fields in order, then the file (S3 wants it last)."""
    boundary = "sluice-" + uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def urllib_post(post, key, data, change=None, drop=None):
    """POST a file with the grant's form; returns (HTTP status, body)."""
    fields = [("key", key)]
    for name, value in post["fields"].items():
        if name == drop:
            continue
        fields.append((name, change[1] if change and change[0] == name else value))
    body, content_type = multipart(fields, "upload.bin", data)
    req = urllib.request.Request(post["url"], data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def list_keys(bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def delete_prefix(bucket, prefix):
    keys = list_keys(bucket, prefix)
    for i in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})


class Policy:
    """Lets the grants identity PUT under reports/ and metrics/ when the bucket has no policy."""

    def __init__(self):
        self.installed = False

    def ensure(self):
        try:
            s3.get_bucket_policy(Bucket=STAGING)
            return
        except ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchBucketPolicy":
                raise
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "TaskTestGrantsPut", "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam:::user/grants"]}, "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{STAGING}/reports/*", f"arn:aws:s3:::{STAGING}/metrics/*"]}]}
        s3.put_bucket_policy(Bucket=STAGING, Policy=json.dumps(policy, separators=(",", ":")))
        self.installed = True

    def remove(self):
        if self.installed:
            s3.delete_bucket_policy(Bucket=STAGING)


POLICY = Policy()


class TaskServer:
    """The task API on a socket of its own, under a control prefix of its own."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-tasks-")
        self.socket = os.path.join(self.tmp, "api.sock")
        self.control = f"tasks-test/{uuid.uuid4().hex[:12]}/"
        self.errors = open(os.path.join(self.tmp, "server.log"), "wb")
        self.proc = subprocess.Popen([SERVER, "serve", self.socket, self.control], stdout=subprocess.PIPE,
                                     stderr=self.errors)
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the task server did not start: {line!r}\n" + self.log())

    def log(self):
        with open(os.path.join(self.tmp, "server.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def review(self, *args, check=True):
        r = subprocess.run([REVIEW, "task", *args, "--socket", self.socket], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"sluice-review task {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r

    def open(self, *args):
        return json.loads(self.review("open", *args, "--json").stdout)

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.errors.close()
        delete_prefix(CONTROL, self.control)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc


class GrantTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        POLICY.ensure()
        cls.server = TaskServer()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        POLICY.remove()
        if rc != 0:
            raise AssertionError(f"the task server exited with {rc}")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-grant-")
        self.prefixes = []

    def tearDown(self):
        for prefix in self.prefixes:
            delete_prefix(STAGING, prefix)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def file(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def grant(self, *args):
        g = self.server.open(*args)
        self.prefixes.append(g["prefix"])
        self.assertTrue(g["prefix"].endswith(g["task"] + "/"))
        return g

    def read(self, key):
        return s3.get_object(Bucket=STAGING, Key=key)["Body"].read()

    # ---- PUT URLs ----

    def test_put_url_writes_its_key_once(self):
        g = self.grant("--route", "reports", "--ttl", "10m", "--key", "out.csv")
        url, headers = g["put_urls"]["out.csv"], g["put_headers"]
        self.assertEqual(headers, {"If-None-Match": "*", "x-amz-acl": "bucket-owner-full-control"})
        self.assertIn(ENV["SLUICE_GRANTS_ACCESS_KEY"], url)
        self.assertNotIn(ENV["SLUICE_MOVER_ACCESS_KEY"], url)
        path = self.file("out.csv", b"a,b\n1,2\n")
        self.assertEqual(curl_put(url, path, headers)[0], 200)
        self.assertEqual(self.read(g["prefix"] + "out.csv"), b"a,b\n1,2\n")  # the mover can read it
        code, body = curl_put(url, self.file("again.csv", b"other bytes\n"), headers)
        # Nothing is ever overwritten. Staging is versioned (scripts/s3-server.sh): a
        # server that honours If-None-Match there refuses the second PUT (412); radosgw 16
        # ignores it on versioned buckets and keeps the second PUT as a version of its
        # own, which the mover takes as an artifact of its own (docs/tasks.md). Either
        # way the first upload's bytes are still there, unchanged.
        self.assertIn(code, (200, 412), body)
        versions = s3.list_object_versions(Bucket=STAGING, Prefix=g["prefix"] + "out.csv").get("Versions", [])
        first = min(versions, key=lambda v: v["LastModified"])
        got = s3.get_object(Bucket=STAGING, Key=g["prefix"] + "out.csv", VersionId=first["VersionId"])["Body"].read()
        self.assertEqual(got, b"a,b\n1,2\n")
        self.assertEqual(len(versions), 2 if code == 200 else 1)

    def test_put_url_needs_its_headers_key_and_method(self):
        g = self.grant("--route", "reports", "--key", "x.csv")
        url, headers = g["put_urls"]["x.csv"], g["put_headers"]
        path = self.file("x.csv", b"x\n")
        code, body = curl_put(url, path, {})
        self.assertEqual(code, 403, body)  # no If-None-Match / acl: the signature does not match
        code, body = curl_put(url, path, {"If-None-Match": "*"})
        self.assertEqual(code, 403, body)
        other = url.replace("/x.csv?", "/y.csv?")
        self.assertNotEqual(other, url)
        self.assertEqual(curl_put(other, path, headers)[0], 403)  # another key
        outside = url.replace(g["prefix"], "reports/AAAAAAAAAAAAAAAAAAAAAA/")
        self.assertEqual(curl_put(outside, path, headers)[0], 403)  # another task
        # the URL cannot read: GET with it is refused
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=30)
            self.fail("GET with a PUT grant succeeded")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 403)
        self.assertEqual(list_keys(STAGING, g["prefix"]), [])
        self.assertEqual(curl_put(url, path, headers)[0], 200)

    def test_sized_key_takes_exactly_its_size(self):
        g = self.grant("--route", "metrics", "--sized-key", "16:m.json", "--no-post")
        self.assertNotIn("post", g)
        url, headers = g["put_urls"]["m.json"], g["put_headers"]
        self.assertIn("content-length", url)
        self.assertEqual(curl_put(url, self.file("big.json", b"x" * 17), headers)[0], 403)
        self.assertEqual(curl_put(url, self.file("small.json", b"x" * 15), headers)[0], 403)
        self.assertEqual(curl_put(url, self.file("m.json", b"x" * 16), headers)[0], 200)

    # ---- the POST form ----

    def test_post_form_any_name_under_the_prefix(self):
        g = self.grant("--route", "reports", "--max-bytes", "1KiB")
        post = g["post"]
        self.assertEqual(post["key_prefix"], g["prefix"])
        self.assertEqual(post["max_bytes"], 1024)
        self.assertEqual(post["fields"]["acl"], "bucket-owner-full-control")
        code, body = urllib_post(post, g["prefix"] + "free/name.json", b'{"ok": true}')
        self.assertEqual(code, 204, body)
        self.assertEqual(self.read(g["prefix"] + "free/name.json"), b'{"ok": true}')
        code, body = urllib_post(post, g["prefix"] + "edge.bin", b"z" * 1024)  # exactly max_bytes
        self.assertEqual(code, 204, body)

    def test_post_form_refuses_what_it_does_not_grant(self):
        g = self.grant("--route", "reports", "--max-bytes", "1KiB")
        post, prefix = g["post"], g["prefix"]
        other_task = "reports/AAAAAAAAAAAAAAAAAAAAAA/x.json"
        for key in (other_task, "metrics/" + g["task"] + "/x.json", "x.json", prefix[:-1] + "x/y.json"):
            code, body = urllib_post(post, key, b"{}")
            self.assertEqual(code, 403, f"{key}: {body}")
        code, body = urllib_post(post, prefix + "big.bin", b"z" * 1025)
        self.assertEqual(code, 400, body)
        self.assertIn("EntityTooLarge", body)
        code, body = urllib_post(post, prefix + "acl.json", b"{}", change=("acl", "public-read"))
        self.assertEqual(code, 403, body)
        code, body = urllib_post(post, prefix + "acl.json", b"{}", drop="acl")
        self.assertEqual(code, 403, body)
        policy = post["fields"]["policy"]
        tampered = policy[:-4] + ("AAAA" if not policy.endswith("AAAA") else "BBBB")
        code, body = urllib_post(post, prefix + "p.json", b"{}", change=("policy", tampered))
        self.assertEqual(code, 403, body)
        self.assertEqual(list_keys(STAGING, prefix), [])
        self.assertEqual(list_keys(STAGING, other_task), [])

    # ---- expiry and close ----

    def test_grants_die_at_the_ttl(self):
        g = self.grant("--route", "reports", "--ttl", "2s", "--key", "late.csv")
        expires = g["grant_expires_at"]
        self.assertLessEqual(expires, g["expires_at"])
        time.sleep(3.2)
        path = self.file("late.csv", b"late\n")
        code, body = curl_put(g["put_urls"]["late.csv"], path, g["put_headers"])
        self.assertEqual(code, 403, body)
        code, body = urllib_post(g["post"], g["prefix"] + "late.json", b"{}")
        self.assertEqual(code, 403, body)
        self.assertEqual(list_keys(STAGING, g["prefix"]), [])
        r = self.server.review("list", "--state", "expired", "--json")
        self.assertIn(g["task"], [t["task"] for t in json.loads(r.stdout)["tasks"]])

    def test_close_does_not_revoke_at_s3(self):
        """A presigned grant cannot be revoked: after the close, S3 still takes the upload;
        the mover rejects it (uploaded after the close)."""
        g = self.grant("--route", "reports", "--key", "after.csv")
        closed = json.loads(self.server.review("close", g["task"], "--json").stdout)
        self.assertEqual(closed["state"], "closed")
        code, _ = curl_put(g["put_urls"]["after.csv"], self.file("after.csv", b"after\n"), g["put_headers"])
        self.assertEqual(code, 200)
        head = s3.head_object(Bucket=STAGING, Key=g["prefix"] + "after.csv")
        self.assertGreaterEqual(head["LastModified"].isoformat(), closed["closed_at"][:19])
        r = self.server.review("close", g["task"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("409", r.stderr)

    def test_bad_requests(self):
        r = self.server.review("open", "--route", "nosuch", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown_route", r.stderr)
        self.assertIn("routes: reports, metrics", r.stderr)
        r = self.server.review("open", "--route", "reports", "--ttl", "5h", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid_ttl", r.stderr)
        r = self.server.review("open", "--route", "reports", "--key", "../x", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid_request", r.stderr)
        r = self.server.review("close", "ZZZZZZZZZZZZZZZZZZZZZZ", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("404", r.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
