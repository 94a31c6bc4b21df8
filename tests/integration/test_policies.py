#!/usr/bin/python3
"""The bucket policies of `sluice-mover policy`, proven on the real local radosgw.

Each identity uses its own keys (SLUICE_<NAME>_ACCESS_KEY / _SECRET_KEY from
`scripts/s3-server.sh env`); every denial is asserted as HTTP 403 AccessDenied, every
permission as a success.

Two parts:

* LocalBucketPolicies — the three local buckets with the policies `scripts/s3-server.sh
  start` applied (from SLUICE_S3_POLICY_CONFIG). First: the applied policies are exactly
  what this build's `sluice-mover policy` writes. Then: the grants identity can PUT under
  a route's staging prefix only with `x-amz-acl: bucket-owner-full-control` (also
  through a presigned URL, as interpreters do), never outside the route prefixes, and
  cannot GET, HEAD, LIST or DELETE in staging — not even its own uploads (radosgw's
  uploader rights) —, tag them, change their ACL, or touch the bucket's settings and
  policy; it cannot write or read quarantine, control or trusted. The mover can do every
  step of the pipeline. The consumer can GET and list trusted, and cannot write it nor
  read staging or quarantine. The reviewer cannot write trusted.

* PolicyNotAclDenies — the same denials on scratch buckets whose ACLs grant the other
  identities FULL_CONTROL: each request is shown to succeed without the policy, then to
  be refused with it. This proves the policy is what refuses (the local buckets are
  private, so there an ACL alone would refuse many of them too), including the Deny
  statements that override radosgw's uploader rights and the one that keeps the grants
  identity inside the route prefixes. A variant with identities.vpc_endpoints shows the
  aws:SourceVpce condition in effect (no request here comes through a VPC endpoint, so
  the grants identity and the consumer are refused; the mover is not).

Run with Debian's python3, after `scripts/s3-server.sh start` and
`eval "$(scripts/s3-server.sh env)"`:

    /usr/bin/python3 tests/integration/test_policies.py build/sluice-mover
"""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request
import uuid

MOVER_BIN = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else os.path.abspath("build/sluice-mover")
HINT = ('SLUICE_S3_ENDPOINT is not set: start the server and load its environment first:\n'
        '    scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

# Nothing but the server's own environment: no ambient AWS keys, profile or CA bundle.
for _var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as exc:
    raise SystemExit("test_policies.py needs boto3: run it with /usr/bin/python3 "
                     "(Debian's python3-boto3); import failed: %s" % exc)

CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)
BOFC = "bucket-owner-full-control"
RUN = uuid.uuid4().hex[:10]


def env(name):
    value = os.environ.get(name)
    if not value:
        raise AssertionError("%s is not set; load the server's environment with "
                             'eval "$(scripts/s3-server.sh env)"' % name)
    return value


def drop_expect(request, **kwargs):
    """botocore sends PutObject with `Expect: 100-continue`; when radosgw refuses the
    request at once (403), botocore keeps the connection without sending the body,
    while radosgw still waits for the announced body bytes: the client's next request
    on that connection stalls until the read timeout. Without the header the body goes
    with the request and the connection stays usable. (curl closes the connection
    instead; interpreters using presigned PUTs are not affected.)"""
    request.headers.pop("Expect", None)


def client_of(identity):
    upper = identity.upper()
    session = boto3.session.Session(aws_access_key_id=env("SLUICE_%s_ACCESS_KEY" % upper),
                                    aws_secret_access_key=env("SLUICE_%s_SECRET_KEY" % upper))
    client = session.client("s3", endpoint_url=env("SLUICE_S3_ENDPOINT"),
                            region_name=env("SLUICE_S3_REGION"), config=CONFIG)
    client.meta.events.register("before-send.s3", drop_expect)
    return client


def outcome(call, *args, **kwargs):
    """(HTTP status, S3 error code or "OK") of one request."""
    try:
        response = call(*args, **kwargs)
    except ClientError as exc:
        return (exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"])
    body = response.get("Body")
    if body is not None:
        body.read()
        body.close()
    return (response["ResponseMetadata"]["HTTPStatusCode"], "OK")


def generate_policies(config_path, out_dir):
    """{bucket: policy document} as this build's sluice-mover writes them."""
    done = subprocess.run([MOVER_BIN, "policy", "-c", config_path, "--output-dir", out_dir],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    if done.returncode != 0:
        raise AssertionError("sluice-mover policy -c %s failed (exit %d): %s"
                             % (config_path, done.returncode, done.stderr.strip()))
    policies = {}
    for line in done.stdout.splitlines():
        bucket, path = line.split(" ", 1)
        with open(path) as f:
            text = f.read()
        policies[bucket] = text.rstrip("\n")
    return policies


def route_prefixes(config):
    """(staging prefix, trusted prefix) of the route the tests use: "tests" when the
    policy configuration has it, else its first route."""
    routes = config["routes"]
    route = next((r for r in routes if r["name"] == "tests"), routes[0])
    return route["staging_prefix"], route["trusted_prefix"]


class PolicyCase(unittest.TestCase):
    """Assertions shared by both parts."""

    def assertDenied(self, what, call, *args, **kwargs):
        status, code = outcome(call, *args, **kwargs)
        self.assertEqual(status, 403, "%s: expected 403 AccessDenied, got %s %s" % (what, status, code))
        if call.__name__ not in ("head_object", "head_bucket"):  # a HEAD answer has no body
            self.assertEqual(code, "AccessDenied", what)

    def assertAllowed(self, what, call, *args, **kwargs):
        status, code = outcome(call, *args, **kwargs)
        self.assertIn(status, (200, 204), "%s: expected success, got %s %s" % (what, status, code))

    def assertAbsent(self, mover, bucket, key):
        self.assertEqual(outcome(mover.head_object, Bucket=bucket, Key=key)[0], 404,
                         "s3://%s/%s exists, but the request that would have made it was refused"
                         % (bucket, key))


class LocalBucketPolicies(PolicyCase):
    @classmethod
    def setUpClass(cls):
        if not os.environ.get("SLUICE_S3_ENDPOINT"):
            raise AssertionError(HINT)
        if os.environ.get("SLUICE_S3_POLICIES") != "applied":
            raise AssertionError("the local S3 server runs without bucket policies (SLUICE_S3_POLICIES=%r): build "
                                 "sluice-mover, then `scripts/s3-server.sh policies` (or start the server again) "
                                 "and reload its environment" % os.environ.get("SLUICE_S3_POLICIES"))
        cls.tmp = tempfile.mkdtemp(prefix="sluice-policies-test-")
        cls.config_path = env("SLUICE_S3_POLICY_CONFIG")
        with open(cls.config_path) as f:
            cls.config = json.load(f)
        cls.staging = env("SLUICE_BUCKET_STAGING")
        cls.quarantine = env("SLUICE_BUCKET_QUARANTINE")
        cls.trusted = env("SLUICE_BUCKET_TRUSTED")
        cls.control_prefix = cls.config["buckets"].get("control_prefix", "sluice/")
        staging_prefix, trusted_prefix = route_prefixes(cls.config)
        cls.task = "%spolicy-test-%s/" % (staging_prefix, RUN)          # a task's staging folder
        cls.trusted_task = "%spolicy-test-%s/" % (trusted_prefix, RUN)
        cls.q_prefix = "q/policy-test-%s/" % RUN
        cls.control_key = "%spolicy-test-%s.json" % (cls.control_prefix, RUN)
        cls.mover = client_of("mover")
        cls.grants = client_of("grants")
        cls.consumer = client_of("consumer")
        cls.reviewer = client_of("reviewer")
        # What the others try to read: one object in each place, written by the mover.
        cls.seeds = {
            "staging": (cls.staging, cls.task + "seed.txt"),
            "quarantine": (cls.quarantine, cls.q_prefix + "seed.txt"),
            "control": (cls.quarantine, cls.control_key),
            "trusted": (cls.trusted, cls.trusted_task + "seed.txt"),
        }
        for bucket, key in cls.seeds.values():
            cls.mover.put_object(Bucket=bucket, Key=key, Body=b"seed %s\n" % RUN.encode())

    @classmethod
    def tearDownClass(cls):
        for bucket, prefix in ((cls.staging, cls.task), (cls.quarantine, cls.q_prefix),
                               (cls.quarantine, cls.control_key), (cls.trusted, cls.trusted_task),
                               (cls.staging, "policy-test-outside-%s" % RUN)):
            for page in cls.mover.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    cls.mover.delete_object(Bucket=bucket, Key=obj["Key"])
        for c in (cls.mover, cls.grants, cls.consumer, cls.reviewer):
            c.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def grants_put(self, name, body=b"from an interpreter\n"):
        """An upload through the grants identity, as a grant allows it; returns the key."""
        key = self.task + name
        self.grants.put_object(Bucket=self.staging, Key=key, Body=body, ACL=BOFC)
        return key

    # ---- the policies on the server ----

    def test_applied_policies_are_the_generated_ones(self):
        want = generate_policies(self.config_path, os.path.join(self.tmp, "generated"))
        self.assertEqual(sorted(want), sorted([self.staging, self.quarantine, self.trusted,
                                               env("SLUICE_BUCKET_REFERENCE")]))
        for bucket, text in want.items():
            with self.subTest(bucket=bucket):
                applied = self.mover.get_bucket_policy(Bucket=bucket)["Policy"]
                self.assertEqual(json.loads(applied), json.loads(text))
                self.assertNotIn("NotAction", applied)

    # ---- grants: PutObject under the route prefixes, with bucket-owner-full-control ----

    def test_grants_can_put_under_a_route_prefix_and_the_mover_can_read_it(self):
        body = b"payload %s\n" % RUN.encode()
        key = self.grants_put("allowed/out.csv", body)
        got = self.mover.get_object(Bucket=self.staging, Key=key)
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(self.mover.head_object(Bucket=self.staging, Key=key)["ContentLength"], len(body))

    def test_grants_put_must_give_the_bucket_owner_full_control(self):
        for acl in (None, "private", "public-read", "authenticated-read", "bucket-owner-read"):
            with self.subTest(acl=acl):
                key = "%sacl-%s.txt" % (self.task, acl)
                extra = {} if acl is None else {"ACL": acl}
                self.assertDenied("grants PUT with x-amz-acl %s" % acl, self.grants.put_object,
                                  Bucket=self.staging, Key=key, Body=b"x", **extra)
                self.assertAbsent(self.mover, self.staging, key)

    def test_grants_cannot_put_outside_the_route_prefixes(self):
        prefixes = [r["staging_prefix"] for r in self.config["routes"]]
        keys = ["policy-test-outside-%s/task/out.csv" % RUN,      # no route's prefix
                "policy-test-outside-%s" % RUN,                   # at the top
                prefixes[0].rstrip("/") + "-policy-test-outside-%s/x" % RUN]  # next to a prefix
        for key in keys:
            with self.subTest(key=key):
                self.assertDenied("grants PUT outside the routes", self.grants.put_object,
                                  Bucket=self.staging, Key=key, Body=b"x", ACL=BOFC)
                self.assertAbsent(self.mover, self.staging, key)

    def test_grants_cannot_get_list_or_delete_in_staging_not_even_its_own_uploads(self):
        key = self.grants_put("own/out.csv")
        seed_bucket, seed_key = self.seeds["staging"]
        g = self.grants
        self.assertDenied("grants GET of its own upload", g.get_object, Bucket=self.staging, Key=key)
        self.assertDenied("grants ranged GET of its own upload", g.get_object, Bucket=self.staging, Key=key,
                          Range="bytes=0-3")
        self.assertDenied("grants HEAD of its own upload", g.head_object, Bucket=self.staging, Key=key)
        self.assertDenied("grants GET of another object", g.get_object, Bucket=seed_bucket, Key=seed_key)
        self.assertDenied("grants ListObjectsV2", g.list_objects_v2, Bucket=self.staging)
        self.assertDenied("grants ListObjectsV2 of its task", g.list_objects_v2, Bucket=self.staging,
                          Prefix=self.task)
        self.assertDenied("grants ListObjects (v1)", g.list_objects, Bucket=self.staging)
        self.assertDenied("grants ListObjectVersions", g.list_object_versions, Bucket=self.staging)
        self.assertDenied("grants ListMultipartUploads", g.list_multipart_uploads, Bucket=self.staging)
        self.assertDenied("grants DELETE of its own upload", g.delete_object, Bucket=self.staging, Key=key)
        self.assertDenied("grants DELETE of another object", g.delete_object, Bucket=seed_bucket, Key=seed_key)
        # DeleteObjects: refused as a whole, or key by key — either way nothing goes
        status, code = outcome(g.delete_objects, Bucket=self.staging,
                               Delete={"Objects": [{"Key": key}, {"Key": seed_key}]})
        self.assertTrue(status == 403 or code == "OK", (status, code))
        for k in (key, seed_key):
            self.assertEqual(self.mover.head_object(Bucket=self.staging, Key=k)["ResponseMetadata"]
                             ["HTTPStatusCode"], 200, "%s was deleted by the grants identity" % k)

    def test_grants_cannot_tag_or_change_the_acl_of_its_own_uploads(self):
        key = self.grants_put("own/tagged.csv")
        g = self.grants
        self.assertDenied("grants PutObjectTagging", g.put_object_tagging, Bucket=self.staging, Key=key,
                          Tagging={"TagSet": [{"Key": "cmd", "Value": "rm -rf"}]})
        self.assertDenied("grants GetObjectTagging", g.get_object_tagging, Bucket=self.staging, Key=key)
        self.assertDenied("grants DeleteObjectTagging", g.delete_object_tagging, Bucket=self.staging, Key=key)
        self.assertDenied("grants PutObjectAcl public-read", g.put_object_acl, Bucket=self.staging, Key=key,
                          ACL="public-read")
        self.assertDenied("grants GetObjectAcl", g.get_object_acl, Bucket=self.staging, Key=key)
        self.assertEqual(self.mover.get_object_tagging(Bucket=self.staging, Key=key)["TagSet"], [])

    def test_grants_cannot_change_the_staging_bucket_or_its_policy(self):
        g = self.grants
        before = self.mover.get_bucket_policy(Bucket=self.staging)["Policy"]
        open_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "Open", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/grants"]},
            "Action": ["s3:*"], "Resource": ["arn:aws:s3:::%s" % self.staging,
                                             "arn:aws:s3:::%s/*" % self.staging]}]}, separators=(",", ":"))
        self.assertDenied("grants GetBucketPolicy", g.get_bucket_policy, Bucket=self.staging)
        self.assertDenied("grants PutBucketPolicy", g.put_bucket_policy, Bucket=self.staging, Policy=open_policy)
        self.assertDenied("grants DeleteBucketPolicy", g.delete_bucket_policy, Bucket=self.staging)
        self.assertDenied("grants GetBucketAcl", g.get_bucket_acl, Bucket=self.staging)
        self.assertDenied("grants PutBucketAcl", g.put_bucket_acl, Bucket=self.staging, ACL="public-read-write")
        self.assertDenied("grants PutBucketVersioning", g.put_bucket_versioning, Bucket=self.staging,
                          VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.mover.get_bucket_policy(Bucket=self.staging)["Policy"], before)

    def test_grants_cannot_write_or_read_quarantine_control_or_trusted(self):
        g = self.grants
        for place, bucket, key in (("quarantine", self.quarantine, self.q_prefix + "from-grants.txt"),
                                   ("control", self.quarantine, self.control_prefix + "tasks/forged-%s.json" % RUN),
                                   ("trusted", self.trusted, self.trusted_task + "from-grants.txt")):
            with self.subTest(place=place):
                self.assertDenied("grants PUT into %s" % place, g.put_object, Bucket=bucket, Key=key, Body=b"x",
                                  ACL=BOFC)
                self.assertAbsent(self.mover, bucket, key)
                seed_bucket, seed_key = self.seeds[place]
                self.assertDenied("grants GET from %s" % place, g.get_object, Bucket=seed_bucket, Key=seed_key)
                self.assertDenied("grants DELETE in %s" % place, g.delete_object, Bucket=seed_bucket, Key=seed_key)
                self.assertDenied("grants LIST of %s" % place, g.list_objects_v2, Bucket=bucket)
        self.assertDenied("grants CopyObject into trusted", g.copy_object, Bucket=self.trusted,
                          Key=self.trusted_task + "copied.txt", CopySource={"Bucket": self.staging,
                                                                            "Key": self.seeds["staging"][1]})

    def test_presigned_grant_uploads_only_with_the_signed_acl_header(self):
        """What an interpreter does with a grant: a presigned PUT signed by grants."""
        key = self.task + "presigned/out.json"
        url = self.grants.generate_presigned_url("put_object", Params={"Bucket": self.staging, "Key": key,
                                                                       "ACL": BOFC}, ExpiresIn=300)
        body = b'{"ok": true}\n'
        request = urllib.request.Request(url, data=body, method="PUT", headers={"x-amz-acl": BOFC})
        with urllib.request.urlopen(request, timeout=30) as answer:
            self.assertEqual(answer.status, 200)
        self.assertEqual(self.mover.get_object(Bucket=self.staging, Key=key)["Body"].read(), body)

        # A grant signed without the ACL: the upload is refused by the policy.
        bare = self.task + "presigned/bare.json"
        url = self.grants.generate_presigned_url("put_object", Params={"Bucket": self.staging, "Key": bare},
                                                 ExpiresIn=300)
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(url, data=body, method="PUT"), timeout=30)
        self.assertEqual(caught.exception.code, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", caught.exception.read())
        self.assertAbsent(self.mover, self.staging, bare)

    def post_form(self, key, fields_extra=None, conditions=None):
        """A browser-form POST upload through a POST policy the grants identity signed;
        returns the HTTP status (and the error body on failure)."""
        post = self.grants.generate_presigned_post(self.staging, key, Fields=fields_extra,
                                                   Conditions=conditions, ExpiresIn=300)
        boundary = "sluice-policy-test-" + uuid.uuid4().hex
        body = b""
        for name, value in post["fields"].items():
            body += ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                     % (boundary, name, value)).encode()
        body += ('--%s\r\nContent-Disposition: form-data; name="file"; filename="out.txt"\r\n'
                 'Content-Type: text/plain\r\n\r\n' % boundary).encode() + b"posted\n"
        body += ("\r\n--%s--\r\n" % boundary).encode()
        request = urllib.request.Request(post["url"], data=body, method="POST", headers={
            "Content-Type": "multipart/form-data; boundary=" + boundary})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, b""
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def test_presigned_post_grant_uploads_with_the_acl_field(self):
        """The other form of grant: a POST policy that fixes the acl field."""
        acl = {"acl": BOFC}
        key = self.task + "posted/out.txt"
        status, body = self.post_form(key, acl, [acl])
        self.assertEqual(status, 204, body)
        self.assertEqual(self.mover.get_object(Bucket=self.staging, Key=key)["Body"].read(), b"posted\n")
        # outside the route prefixes, a POST is refused like a PUT
        outside = "policy-test-outside-%s/posted.txt" % RUN
        status, body = self.post_form(outside, acl, [acl])
        self.assertEqual(status, 403, body)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertAbsent(self.mover, self.staging, outside)

    # ---- the mover: every step of the pipeline ----

    def test_mover_can_do_every_step_of_the_pipeline(self):
        m = self.mover
        staged = self.grants_put("pipeline/report.csv", b"a,b\n1,2\n")
        listing = m.list_objects_v2(Bucket=self.staging, Prefix=self.task + "pipeline/")
        self.assertEqual([o["Key"] for o in listing["Contents"]], [staged])
        etag = listing["Contents"][0]["ETag"]
        self.assertEqual(m.head_object(Bucket=self.staging, Key=staged)["ETag"], etag)
        # quarantine: copy (conditional on the listed ETag), then delete the staged key
        qkey = self.q_prefix + "art-1/report.csv"
        m.copy_object(Bucket=self.quarantine, Key=qkey, CopySource={"Bucket": self.staging, "Key": staged},
                      CopySourceIfMatch=etag)
        m.delete_object(Bucket=self.staging, Key=staged)
        self.assertAbsent(m, self.staging, staged)
        # check: one GET of the quarantined copy; tags are readable and writable there
        self.assertEqual(m.get_object(Bucket=self.quarantine, Key=qkey)["Body"].read(), b"a,b\n1,2\n")
        m.put_object_tagging(Bucket=self.quarantine, Key=qkey,
                             Tagging={"TagSet": [{"Key": "sluice-state", "Value": "checking"}]})
        self.assertEqual(len(m.get_object_tagging(Bucket=self.quarantine, Key=qkey)["TagSet"]), 1)
        # control: a manifest, created with If-None-Match semantics and read back
        manifest = self.control_prefix + "artifacts/policy-test-%s.json" % RUN
        m.put_object(Bucket=self.quarantine, Key=manifest, Body=b'{"state":"in_review"}')
        self.assertEqual(m.get_object(Bucket=self.quarantine, Key=manifest)["Body"].read(),
                         b'{"state":"in_review"}')
        # promote: copy with the attestation metadata, read back, delete quarantine
        tkey = self.trusted_task + "report.csv"
        m.copy_object(Bucket=self.trusted, Key=tkey, CopySource={"Bucket": self.quarantine, "Key": qkey},
                      MetadataDirective="REPLACE", Metadata={"sluice-artifact": "art-1", "sluice-sha256": "00"})
        head = m.head_object(Bucket=self.trusted, Key=tkey)
        self.assertEqual(head["Metadata"]["sluice-artifact"], "art-1")
        self.assertIn(tkey, [o["Key"] for o in m.list_objects_v2(Bucket=self.trusted,
                                                                  Prefix=self.trusted_task)["Contents"]])
        self.assertIn(qkey, [o["Key"] for o in m.list_objects_v2(Bucket=self.quarantine,
                                                                  Prefix=self.q_prefix)["Contents"]])
        m.delete_object(Bucket=self.quarantine, Key=qkey)
        m.delete_object(Bucket=self.quarantine, Key=manifest)
        self.assertAbsent(m, self.quarantine, qkey)
        # the consumer can read the promoted object
        self.assertEqual(self.consumer.get_object(Bucket=self.trusted, Key=tkey)["Body"].read(), b"a,b\n1,2\n")

    # ---- consumers: read trusted, nothing else ----

    def test_consumer_can_get_and_list_trusted(self):
        bucket, key = self.seeds["trusted"]
        c = self.consumer
        self.assertEqual(c.get_object(Bucket=bucket, Key=key)["Body"].read(), b"seed %s\n" % RUN.encode())
        self.assertEqual(c.head_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"], 200)
        listed = c.list_objects_v2(Bucket=bucket, Prefix=self.trusted_task)
        self.assertIn(key, [o["Key"] for o in listed["Contents"]])

    def test_consumer_cannot_write_trusted(self):
        bucket, key = self.seeds["trusted"]
        c = self.consumer
        new = self.trusted_task + "from-consumer.txt"
        self.assertDenied("consumer PUT into trusted", c.put_object, Bucket=bucket, Key=new, Body=b"x")
        self.assertAbsent(self.mover, bucket, new)
        self.assertDenied("consumer overwrite in trusted", c.put_object, Bucket=bucket, Key=key, Body=b"x")
        self.assertDenied("consumer DELETE in trusted", c.delete_object, Bucket=bucket, Key=key)
        self.assertDenied("consumer CopyObject within trusted", c.copy_object, Bucket=bucket, Key=new,
                          CopySource={"Bucket": bucket, "Key": key})
        self.assertDenied("consumer PutObjectTagging in trusted", c.put_object_tagging, Bucket=bucket, Key=key,
                          Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
        self.assertDenied("consumer PutObjectAcl in trusted", c.put_object_acl, Bucket=bucket, Key=key,
                          ACL="public-read")
        self.assertDenied("consumer PutBucketPolicy on trusted", c.put_bucket_policy, Bucket=bucket,
                          Policy='{"Version":"2012-10-17","Statement":[]}')
        self.assertEqual(self.mover.get_object(Bucket=bucket, Key=key)["Body"].read(), b"seed %s\n" % RUN.encode())

    def test_consumer_cannot_read_or_write_staging_or_quarantine(self):
        c = self.consumer
        for place in ("staging", "quarantine", "control"):
            bucket, key = self.seeds[place]
            with self.subTest(place=place):
                self.assertDenied("consumer GET in %s" % place, c.get_object, Bucket=bucket, Key=key)
                self.assertDenied("consumer HEAD in %s" % place, c.head_object, Bucket=bucket, Key=key)
                self.assertDenied("consumer LIST of %s" % place, c.list_objects_v2, Bucket=bucket)
                self.assertDenied("consumer PUT into %s" % place, c.put_object, Bucket=bucket,
                                  Key=key + ".consumer", Body=b"x", ACL=BOFC)
                self.assertDenied("consumer DELETE in %s" % place, c.delete_object, Bucket=bucket, Key=key)

    # ---- reviewers: never write trusted ----

    def test_reviewer_cannot_write_trusted(self):
        bucket, key = self.seeds["trusted"]
        r = self.reviewer
        new = self.trusted_task + "approved-by-hand.txt"
        self.assertDenied("reviewer PUT into trusted", r.put_object, Bucket=bucket, Key=new, Body=b"x")
        self.assertAbsent(self.mover, bucket, new)
        self.assertDenied("reviewer overwrite in trusted", r.put_object, Bucket=bucket, Key=key, Body=b"x")
        self.assertDenied("reviewer DELETE in trusted", r.delete_object, Bucket=bucket, Key=key)
        self.assertDenied("reviewer CopyObject from quarantine into trusted", r.copy_object, Bucket=bucket, Key=new,
                          CopySource={"Bucket": self.seeds["quarantine"][0], "Key": self.seeds["quarantine"][1]})
        self.assertDenied("reviewer PutObjectAcl in trusted", r.put_object_acl, Bucket=bucket, Key=key,
                          ACL="public-read")

    def test_reviewer_reads_trusted_but_not_staging_or_quarantine(self):
        bucket, key = self.seeds["trusted"]
        self.assertEqual(self.reviewer.get_object(Bucket=bucket, Key=key)["Body"].read(),
                         b"seed %s\n" % RUN.encode())
        for place in ("staging", "quarantine", "control"):
            b, k = self.seeds[place]
            with self.subTest(place=place):
                self.assertDenied("reviewer GET in %s" % place, self.reviewer.get_object, Bucket=b, Key=k)
                self.assertDenied("reviewer PUT into %s" % place, self.reviewer.put_object, Bucket=b,
                                  Key=k + ".reviewer", Body=b"x")


class PolicyNotAclDenies(PolicyCase):
    """Scratch buckets whose ACLs let every identity do everything: a request the ACL
    allows and the policy refuses is refused by the policy."""

    IDENTITIES = ("grants", "consumer", "reviewer")

    def setUp(self):
        if not os.environ.get("SLUICE_S3_ENDPOINT"):
            raise AssertionError(HINT)
        self.tmp = tempfile.mkdtemp(prefix="sluice-policies-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mover = client_of("mover")
        self.addCleanup(self.mover.close)
        self.admin = client_of("admin")  # the policies deny bucket settings to everyone else
        self.addCleanup(self.admin.close)
        self.c = {name: client_of(name) for name in self.IDENTITIES}
        for c in self.c.values():
            self.addCleanup(c.close)
        tag = uuid.uuid4().hex[:8]
        self.b = {place: "sluice-policy-test-%s-%s" % (tag, place) for place in ("st", "qu", "tr", "ctl")}
        for bucket in self.b.values():
            self.mover.create_bucket(Bucket=bucket)
            self.addCleanup(self.remove_bucket, bucket)
            self.mover.put_bucket_acl(Bucket=bucket,
                                      GrantFullControl="id=mover,id=grants,id=consumer,id=reviewer")
        with open(env("SLUICE_S3_POLICY_CONFIG")) as f:
            base = json.load(f)
        self.staging_prefix, self.trusted_prefix = route_prefixes(base)
        self.config = copy.deepcopy(base)
        self.config["buckets"] = {"staging": self.b["st"], "quarantine": self.b["qu"], "trusted": self.b["tr"],
                                  "control": self.b["ctl"], "control_prefix": "ctl/"}
        for route in self.config["routes"]:
            route.pop("reference", None)  # the reference bucket has tests of its own
        # What the others try to read: mover objects every authenticated user may read.
        self.seeds = {"st": self.staging_prefix + "t/seed.txt", "qu": "q/t/a/seed.txt", "ctl": "ctl/tasks/t.json",
                      "tr": self.trusted_prefix + "t/seed.txt"}
        for place, key in self.seeds.items():
            self.mover.put_object(Bucket=self.b[place], Key=key, Body=b"seed", ACL="authenticated-read")

    def remove_bucket(self, bucket):
        self.admin.delete_bucket_policy(Bucket=bucket)
        for page in self.admin.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for obj in page.get("Versions", []) + page.get("DeleteMarkers", []):
                self.admin.delete_object(Bucket=bucket, Key=obj["Key"], VersionId=obj["VersionId"])
        self.admin.delete_bucket(Bucket=bucket)

    def apply(self, **identities_extra):
        config = copy.deepcopy(self.config)
        config["identities"].update(identities_extra)
        path = os.path.join(self.tmp, "sluice-%d.json" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            json.dump(config, f)
        policies = generate_policies(path, os.path.join(self.tmp, "out-%s" % os.path.basename(path)))
        self.assertEqual(sorted(policies), sorted(self.b.values()))  # a control bucket of its own: four
        for bucket, text in policies.items():
            self.admin.put_bucket_policy(Bucket=bucket, Policy=text)

    def grants_upload(self, key):
        """A staged object of the grants identity's own (allowed with and without the policy)."""
        self.c["grants"].put_object(Bucket=self.b["st"], Key=key, Body=b"own", ACL=BOFC)
        return key

    def denials(self, n):
        """(what, identity, call) for each request the policy must refuse; `n` makes the
        keys of this round distinct. Preparations run here, as the mover or as an
        upload the policy allows."""
        st, qu, tr, ctl = self.b["st"], self.b["qu"], self.b["tr"], self.b["ctl"]
        task = "%st%d/" % (self.staging_prefix, n)
        own = self.grants_upload(task + "own.txt")
        doomed = self.trusted_prefix + "t%d/doomed.txt" % n
        self.mover.put_object(Bucket=tr, Key=doomed, Body=b"x", ACL="authenticated-read")
        g, c, r = self.c["grants"], self.c["consumer"], self.c["reviewer"]

        def put(client, bucket, key, **kw):
            return lambda: client.put_object(Bucket=bucket, Key=key, Body=b"x", **kw)

        return [
            ("grants GET of its own upload", lambda: g.get_object(Bucket=st, Key=own)),
            ("grants PutObjectTagging of its own upload",
             lambda: g.put_object_tagging(Bucket=st, Key=own, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})),
            ("grants GetObjectAcl of its own upload", lambda: g.get_object_acl(Bucket=st, Key=own)),
            ("grants PutObjectAcl of its own upload", lambda: g.put_object_acl(Bucket=st, Key=own, ACL="private")),
            ("grants LIST of staging", lambda: g.list_objects_v2(Bucket=st)),
            ("grants DELETE of its own upload", lambda: g.delete_object(Bucket=st, Key=own)),
            ("grants PUT outside the route prefixes", put(g, st, "outside-%d/x.txt" % n, ACL=BOFC)),
            ("grants PUT without bucket-owner-full-control", put(g, st, task + "no-acl.txt")),
            ("grants PUT into quarantine", put(g, qu, "q/t%d/a/x.txt" % n)),
            ("grants GET from quarantine", lambda: g.get_object(Bucket=qu, Key=self.seeds["qu"])),
            ("grants PUT into control", put(g, ctl, "ctl/tasks/t%d.json" % n)),
            ("grants PUT into trusted", put(g, tr, self.trusted_prefix + "t%d/x.txt" % n)),
            ("grants GET from trusted", lambda: g.get_object(Bucket=tr, Key=self.seeds["tr"])),
            ("consumer PUT into trusted", put(c, tr, self.trusted_prefix + "t%d/c.txt" % n)),
            ("consumer DELETE in trusted", lambda: c.delete_object(Bucket=tr, Key=doomed)),
            ("consumer GET from staging", lambda: c.get_object(Bucket=st, Key=self.seeds["st"])),
            ("consumer LIST of staging", lambda: c.list_objects_v2(Bucket=st)),
            ("consumer GET from quarantine", lambda: c.get_object(Bucket=qu, Key=self.seeds["qu"])),
            ("consumer LIST of quarantine", lambda: c.list_objects_v2(Bucket=qu)),
            ("consumer GET from control", lambda: c.get_object(Bucket=ctl, Key=self.seeds["ctl"])),
            ("reviewer PUT into trusted", put(r, tr, self.trusted_prefix + "t%d/r.txt" % n)),
            ("reviewer GET from staging", lambda: r.get_object(Bucket=st, Key=self.seeds["st"])),
            ("reviewer GET from quarantine", lambda: r.get_object(Bucket=qu, Key=self.seeds["qu"])),
        ]

    def permissions(self, n):
        """(what, call) that the policy must let through."""
        st, tr = self.b["st"], self.b["tr"]
        key = "%st%d/allowed.txt" % (self.staging_prefix, n)
        return [
            ("grants PUT under a route prefix with bucket-owner-full-control",
             lambda: self.c["grants"].put_object(Bucket=st, Key=key, Body=b"ok", ACL=BOFC)),
            ("consumer GET from trusted", lambda: self.c["consumer"].get_object(Bucket=tr, Key=self.seeds["tr"])),
            ("consumer LIST of trusted", lambda: self.c["consumer"].list_objects_v2(Bucket=tr)),
            ("reviewer GET from trusted", lambda: self.c["reviewer"].get_object(Bucket=tr, Key=self.seeds["tr"])),
            ("mover GET of the grants upload", lambda: self.mover.get_object(Bucket=st, Key=key)),
            ("mover DELETE of the grants upload", lambda: self.mover.delete_object(Bucket=st, Key=key)),
        ]

    def test_each_denial_is_the_policys_doing(self):
        for what, call in self.denials(0):  # no policy yet: the ACLs allow all of it
            with self.subTest(phase="without the policy", request=what):
                self.assertAllowed(what + " (ACL only)", call)
        self.apply()
        for what, call in self.denials(1):
            with self.subTest(phase="with the policy", request=what):
                self.assertDenied(what, call)
        for what, call in self.permissions(1):
            with self.subTest(phase="with the policy", request=what):
                self.assertAllowed(what, call)

    def test_without_the_canned_acl_the_mover_cannot_read_an_upload(self):
        """Why the staging policy requires bucket-owner-full-control: on radosgw an
        object belongs to its uploader, and without that canned ACL the bucket's owner
        cannot read it (no policy here; the ACL lets grants write)."""
        st = self.b["st"]
        bare, full = self.staging_prefix + "t/bare.txt", self.staging_prefix + "t/full.txt"
        self.c["grants"].put_object(Bucket=st, Key=bare, Body=b"bare")
        self.c["grants"].put_object(Bucket=st, Key=full, Body=b"full", ACL=BOFC)
        self.assertDenied("mover GET of an upload without the canned ACL", self.mover.get_object, Bucket=st,
                          Key=bare)
        self.assertDenied("mover CopyObject of an upload without the canned ACL", self.mover.copy_object,
                          Bucket=self.b["qu"], Key="q/t/a/bare.txt", CopySource={"Bucket": st, "Key": bare})
        self.assertEqual(self.mover.get_object(Bucket=st, Key=full)["Body"].read(), b"full")

    def test_vpc_endpoints_condition_refuses_requests_from_elsewhere(self):
        self.apply()
        for what, call in self.permissions(0):
            with self.subTest(phase="without endpoints", request=what):
                self.assertAllowed(what, call)
        # No request here comes through a VPC endpoint: grants, consumer and reviewer are
        # refused what they could do a moment ago; the mover is not bound by it.
        self.apply(vpc_endpoints=["vpce-1a2b3c4d"])
        st, tr = self.b["st"], self.b["tr"]
        key = "%st1/allowed.txt" % self.staging_prefix
        self.assertDenied("grants PUT outside any VPC endpoint", self.c["grants"].put_object, Bucket=st, Key=key,
                          Body=b"ok", ACL=BOFC)
        self.assertAbsent(self.mover, st, key)
        self.assertDenied("consumer GET outside any VPC endpoint", self.c["consumer"].get_object, Bucket=tr,
                          Key=self.seeds["tr"])
        self.assertDenied("reviewer GET outside any VPC endpoint", self.c["reviewer"].get_object, Bucket=tr,
                          Key=self.seeds["tr"])
        self.assertAllowed("mover PUT", self.mover.put_object, Bucket=st, Key=key, Body=b"ok")
        self.assertAllowed("mover GET", self.mover.get_object, Bucket=tr, Key=self.seeds["tr"])


def docs_list_gap(key):
    """True when docs/policies.md lists `key` among the conditions the local server does
    not evaluate (its "Gaps on radosgw" section)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "docs", "policies.md")) as f:
        text = f.read()
    section = text.split("## Gaps on radosgw", 1)[-1].split("\n## ", 1)[0] if "## Gaps on radosgw" in text else ""
    return key in section


class RansomwareAndSettings(PolicyNotAclDenies):
    """The denials every bucket carries (customer-provided keys, bucket settings), the
    versions of a versioned staging bucket, and a reference bucket's allowlist — on
    scratch buckets whose ACLs let every identity do everything, so that each refusal is
    shown to be the policy's."""

    IDENTITIES = ("grants", "consumer", "reviewer")
    SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"k" * 32}

    def setUp(self):
        super().setUp()
        tag = uuid.uuid4().hex[:8]
        self.b["rf"] = "sluice-policy-test-%s-rf" % tag
        self.mover.create_bucket(Bucket=self.b["rf"])
        self.addCleanup(self.remove_bucket, self.b["rf"])
        self.mover.put_bucket_acl(Bucket=self.b["rf"], GrantFullControl="id=mover,id=grants,id=consumer,id=reviewer")
        self.reference = {"bucket": self.b["rf"], "keys": ["models/m1.bin"], "prefixes": ["shared/"]}
        route = next(r for r in self.config["routes"] if r["staging_prefix"] == self.staging_prefix)
        route["reference"] = self.reference
        for key in ("models/m1.bin", "models/m2.bin", "shared/a.csv", "private/b.csv"):
            self.mover.put_object(Bucket=self.b["rf"], Key=key, Body=key.encode(), ACL="authenticated-read")

    def apply(self, **identities_extra):
        config = copy.deepcopy(self.config)
        config["identities"].update(identities_extra)
        path = os.path.join(self.tmp, "sluice-%d.json" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            json.dump(config, f)
        policies = generate_policies(path, os.path.join(self.tmp, "out-%s" % os.path.basename(path)))
        self.assertEqual(sorted(policies), sorted(self.b.values()))
        for bucket, text in policies.items():
            self.admin.put_bucket_policy(Bucket=bucket, Policy=text)
        return path

    def test_writes_with_customer_keys_are_refused_or_a_documented_gap(self):
        st, tr = self.b["st"], self.b["tr"]
        key = "%sssec/a.bin" % self.staging_prefix
        g = self.c["grants"]
        self.assertAllowed("grants PUT with SSE-C (no policy)", g.put_object, Bucket=st, Key=key, Body=b"x",
                           ACL=BOFC, **self.SSEC)
        self.apply()
        plain = "%sssec/plain.bin" % self.staging_prefix
        self.assertAllowed("grants PUT without SSE-C", g.put_object, Bucket=st, Key=plain, Body=b"x", ACL=BOFC)
        self.assertAllowed("mover PUT without SSE-C", self.mover.put_object, Bucket=tr,
                           Key=self.trusted_prefix + "t/plain.bin", Body=b"x")
        attempts = [("grants PUT with SSE-C", g.put_object, dict(Bucket=st, Key=key + "2", Body=b"x", ACL=BOFC)),
                    ("mover PUT with SSE-C", self.mover.put_object,
                     dict(Bucket=tr, Key=self.trusted_prefix + "t/ssec.bin", Body=b"x")),
                    ("consumer PUT with SSE-C", self.c["consumer"].put_object,
                     dict(Bucket=tr, Key=self.trusted_prefix + "t/c.bin", Body=b"x"))]
        for what, call, kwargs in attempts:
            with self.subTest(request=what):
                status, code = outcome(call, **kwargs, **self.SSEC)
                if status == 403:
                    continue  # the server evaluates the condition key
                self.assertIn(status, (200, 204), (what, status, code))
                self.assertTrue(docs_list_gap("s3:x-amz-server-side-encryption-customer-algorithm"),
                                "%s was accepted (the server does not evaluate the SSE-C condition key) and "
                                "docs/policies.md does not list that as a gap" % what)

    def settings_changes(self, client, n):
        st, tr = self.b["st"], self.b["tr"]
        policy = self.admin.get_bucket_policy(Bucket=st)["Policy"] if n else '{"Version":"2012-10-17","Statement":[]}'
        rules = {"Rules": [{"ID": "wipe", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]}
        return [
            ("PutBucketPolicy", lambda: client.put_bucket_policy(Bucket=st, Policy=policy)),
            ("DeleteBucketPolicy", lambda: client.delete_bucket_policy(Bucket=tr)),
            ("PutBucketLifecycleConfiguration", lambda: client.put_bucket_lifecycle_configuration(
                Bucket=tr, LifecycleConfiguration=rules)),
            ("PutBucketVersioning", lambda: client.put_bucket_versioning(
                Bucket=st, VersioningConfiguration={"Status": "Suspended"})),
            ("PutObjectLockConfiguration", lambda: client.put_object_lock_configuration(
                Bucket=tr, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})),
            ("PutObjectRetention", lambda: client.put_object_retention(
                Bucket=tr, Key=self.seeds["tr"], Retention={"Mode": "COMPLIANCE",
                                                            "RetainUntilDate": "2099-01-01T00:00:00Z"})),
            ("PutObjectLegalHold", lambda: client.put_object_legal_hold(
                Bucket=tr, Key=self.seeds["tr"], LegalHold={"Status": "ON"})),
        ]

    def test_only_an_administrator_changes_bucket_settings(self):
        # Without the policy the owner may (or the server refuses for its own reasons:
        # object lock on a bucket made without it): never with 403.
        for what, call in self.settings_changes(self.mover, 0):
            with self.subTest(phase="without the policy", request="mover " + what):
                self.assertNotEqual(outcome(call)[0], 403, what)
        self.admin.put_bucket_versioning(Bucket=self.b["st"], VersioningConfiguration={"Status": "Enabled"})
        self.admin.delete_bucket_lifecycle(Bucket=self.b["tr"])
        self.apply()
        for who in ("mover", "grants", "consumer", "reviewer"):
            client = self.mover if who == "mover" else self.c[who]
            for what, call in self.settings_changes(client, 1):
                with self.subTest(phase="with the policy", request="%s %s" % (who, what)):
                    self.assertDenied("%s %s" % (who, what), call)
        self.assertEqual(self.admin.get_bucket_versioning(Bucket=self.b["st"])["Status"], "Enabled")
        self.assertEqual(outcome(self.admin.get_bucket_lifecycle_configuration, Bucket=self.b["tr"])[1],
                         "NoSuchLifecycleConfiguration")
        # the administrator still may (radosgw: a user with the admin flag passes every policy)
        self.assertAllowed("admin PutBucketVersioning", self.admin.put_bucket_versioning, Bucket=self.b["st"],
                           VersioningConfiguration={"Status": "Enabled"})
        policy = self.admin.get_bucket_policy(Bucket=self.b["tr"])["Policy"]
        self.assertAllowed("admin PutBucketPolicy", self.admin.put_bucket_policy, Bucket=self.b["tr"], Policy=policy)

    def test_versions_of_staging_are_the_movers_alone(self):
        st = self.b["st"]
        self.admin.put_bucket_versioning(Bucket=st, VersioningConfiguration={"Status": "Enabled"})
        key = "%sver/out.csv" % self.staging_prefix
        g = self.c["grants"]
        first = g.put_object(Bucket=st, Key=key, Body=b"one", ACL=BOFC)["VersionId"]
        g.put_object(Bucket=st, Key=key, Body=b"two", ACL=BOFC)
        c = self.c["consumer"]

        def attempts(n):
            return [
                ("grants GetObject by version", lambda: g.get_object(Bucket=st, Key=key, VersionId=first)),
                ("grants GetObjectAcl by version", lambda: g.get_object_acl(Bucket=st, Key=key, VersionId=first)),
                ("grants GetObjectTagging by version",
                 lambda: g.get_object_tagging(Bucket=st, Key=key, VersionId=first)),
                ("grants ListObjectVersions", lambda: g.list_object_versions(Bucket=st)),
                ("consumer GetObject by version", lambda: c.get_object(Bucket=st, Key=key, VersionId=first)),
                ("consumer ListObjectVersions", lambda: c.list_object_versions(Bucket=st)),
                ("grants DeleteObject by version", lambda: g.delete_object(Bucket=st, Key=key, VersionId=first)),
            ]
        # without the policy the uploader's rights allow its reads (the delete is not tried: kept)
        for what, call in [a for a in attempts(0) if a[0].startswith("grants") and "Delete" not in a[0]]:
            with self.subTest(phase="without the policy", request=what):
                self.assertAllowed(what, call)
        self.apply()
        for what, call in attempts(1):
            with self.subTest(phase="with the policy", request=what):
                self.assertDenied(what, call)
        self.assertEqual(self.mover.get_object(Bucket=st, Key=key, VersionId=first)["Body"].read(), b"one")
        versions = self.mover.list_object_versions(Bucket=st, Prefix=key)["Versions"]
        self.assertEqual(len(versions), 2)
        self.assertAllowed("mover DeleteObject by version", self.mover.delete_object, Bucket=st, Key=key,
                           VersionId=first)

    def test_shipped_audit_segments_are_never_deleted(self):
        """Audit shipping writes each segment once and never deletes one (mover/audit/ship.c):
        with the policy nobody — the mover, the buckets' owner, included — deletes a segment,
        while the mover still deletes its other control keys (the probe's scratch keys)."""
        ctl = self.b["ctl"]
        segment = "ctl/audit/mover/00000000000000000001-00000000000000000004.jsonl"
        scratch = "ctl/probe/%s/a" % uuid.uuid4().hex[:8]
        self.mover.put_object(Bucket=ctl, Key=segment, Body=b"shipped\n", ACL="authenticated-read")
        self.assertAllowed("mover DeleteObject of a segment (no policy)", self.mover.delete_object, Bucket=ctl,
                           Key=segment)
        self.apply()
        self.mover.put_object(Bucket=ctl, Key=segment, Body=b"shipped\n", ACL="authenticated-read")
        for who in ("mover", "grants", "consumer", "reviewer"):
            client = self.mover if who == "mover" else self.c[who]
            with self.subTest(request="%s DeleteObject of a shipped segment" % who):
                self.assertDenied("%s DeleteObject of a shipped segment" % who, client.delete_object, Bucket=ctl,
                                  Key=segment)
        self.assertEqual(self.mover.get_object(Bucket=ctl, Key=segment)["Body"].read(), b"shipped\n")
        self.assertIn(segment, [o["Key"] for o in self.mover.list_objects_v2(Bucket=ctl, Prefix="ctl/audit/")
                                .get("Contents", [])])
        self.mover.put_object(Bucket=ctl, Key=scratch, Body=b"sluice probe a\n")
        self.assertAllowed("mover DeleteObject of a scratch key", self.mover.delete_object, Bucket=ctl, Key=scratch)
        self.assertAbsent(self.mover, ctl, scratch)

    def test_the_reference_allowlist_is_all_a_task_can_read(self):
        rf = self.b["rf"]
        g = self.c["grants"]
        self.apply()
        self.assertEqual(g.get_object(Bucket=rf, Key="models/m1.bin")["Body"].read(), b"models/m1.bin")
        self.assertEqual(g.get_object(Bucket=rf, Key="shared/a.csv")["Body"].read(), b"shared/a.csv")
        # a presigned GET the grants identity signs, as a task gets it
        url = g.generate_presigned_url("get_object", Params={"Bucket": rf, "Key": "models/m1.bin"}, ExpiresIn=60)
        with urllib.request.urlopen(url, timeout=30) as answer:
            self.assertEqual(answer.read(), b"models/m1.bin")
        for what, call in (
                ("grants GET of a key not in the allowlist", lambda: g.get_object(Bucket=rf, Key="models/m2.bin")),
                ("grants GET outside the allowed prefixes", lambda: g.get_object(Bucket=rf, Key="private/b.csv")),
                ("grants ListObjectsV2", lambda: g.list_objects_v2(Bucket=rf)),
                ("grants ListObjectsV2 of an allowed prefix", lambda: g.list_objects_v2(Bucket=rf, Prefix="shared/")),
                ("grants PUT into the reference bucket",
                 lambda: g.put_object(Bucket=rf, Key="shared/new.csv", Body=b"x", ACL=BOFC)),
                ("grants DELETE of a reference object", lambda: g.delete_object(Bucket=rf, Key="shared/a.csv")),
                ("grants GetObjectTagging of an allowed key",
                 lambda: g.get_object_tagging(Bucket=rf, Key="models/m1.bin")),
                ("grants GetObjectAcl of an allowed key", lambda: g.get_object_acl(Bucket=rf, Key="models/m1.bin"))):
            with self.subTest(request=what):
                self.assertDenied(what, call)
        url = g.generate_presigned_url("get_object", Params={"Bucket": rf, "Key": "private/b.csv"}, ExpiresIn=60)
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=30)
        self.assertEqual(caught.exception.code, 403)

    def run_check(self, config_path):
        done = subprocess.run([MOVER_BIN, "policy", "--check", "-c", config_path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60)
        return done.returncode, done.stdout, done.stderr

    def test_policy_check_finds_a_hand_edited_policy(self):
        st, tr = self.b["st"], self.b["tr"]
        self.config["s3"]["credentials"] = {"file": env("SLUICE_S3_CREDENTIALS"), "profile": "mover"}
        self.admin.put_bucket_versioning(Bucket=st, VersioningConfiguration={"Status": "Enabled"})
        path = self.apply()
        rc, out, err = self.run_check(path)
        self.assertEqual((rc, err), (0, ""), out)
        self.assertIn("OK: the policies of 5 buckets", out)
        # a hand edit: one statement gone, one opened up, one added
        edited = json.loads(self.admin.get_bucket_policy(Bucket=st)["Policy"])
        edited["Statement"] = [s for s in edited["Statement"] if s["Sid"] != "NobodyMayWriteWithCustomerKeys"]
        for s in edited["Statement"]:
            if s["Sid"] == "GrantsMayNotReadListDeleteTagOrChangeAcls":
                s["Action"] = [a for a in s["Action"] if a != "s3:Get*"]
        edited["Statement"].append({"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/grants"]},
                                    "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::%s/*" % st]})
        self.admin.put_bucket_policy(Bucket=st, Policy=json.dumps(edited))
        self.admin.delete_bucket_policy(Bucket=tr)
        self.admin.put_bucket_versioning(Bucket=st, VersioningConfiguration={"Status": "Suspended"})
        rc, out, err = self.run_check(path)
        self.assertEqual(rc, 1, out + err)
        lines = out.splitlines()
        for want in ('%s: statement "NobodyMayWriteWithCustomerKeys" is missing' % st,
                     '%s: statement "GrantsMayNotReadListDeleteTagOrChangeAcls": Action lacks s3:Get*' % st,
                     '%s: an extra statement "Open" (Allow s3:GetObject to AWS arn:aws:iam:::user/grants)' % st,
                     '%s: versioning is Suspended, expected Enabled' % st,
                     '%s: there is no bucket policy' % tr):
            self.assertTrue(any(line.startswith(want) for line in lines), "%r not in:\n%s" % (want, out))
        self.assertEqual(lines[-1], "5 differences in 5 buckets")
        # an identity that may not read the policies: the check fails closed
        self.config["s3"]["credentials"]["profile"] = "consumer"
        path = os.path.join(self.tmp, "as-consumer.json")
        with open(path, "w") as f:
            json.dump(self.config, f)
        rc, out, err = self.run_check(path)
        self.assertEqual(rc, 1)
        self.assertIn("could not be read, so it is not known to match", out)
        self.assertIn("(some could not be read: the check did not finish)", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
