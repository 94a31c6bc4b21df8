#!/usr/bin/python3
"""Integration test of the local S3 server that scripts/s3-server.sh starts.

Proves, against the running radosgw, that every sluice identity (mover, grants,
reviewer, consumer, admin) authenticates with its keys, both from the environment and
through its profile in the shared credentials file; that the three buckets exist and
are owned by mover; that a wrong secret key (SignatureDoesNotMatch) and an unknown
access key (InvalidAccessKeyId) are refused with HTTP 403; and that no two
identities share a key.

Run with Debian's python3 (it has boto3), after loading the server's environment:

    scripts/s3-server.sh start
    eval "$(scripts/s3-server.sh env)"
    /usr/bin/python3 tests/integration/test_server.py
"""

import os
import stat
import unittest

IDENTITIES = ("mover", "grants", "reviewer", "consumer", "admin")
BUCKET_VARS = ("SLUICE_BUCKET_STAGING", "SLUICE_BUCKET_QUARANTINE", "SLUICE_BUCKET_TRUSTED")
HINT = ('SLUICE_S3_ENDPOINT is not set: start the server and load its environment first:\n'
        '    scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')

# The tests must depend on nothing but the server's own environment: no ambient AWS
# keys, profile or CA bundle (the endpoint is plain HTTP).
for _var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
             "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as exc:  # a pyenv python3 on PATH has no boto3
    raise SystemExit("test_server.py needs boto3: run it with /usr/bin/python3 "
                     "(Debian's python3-boto3); import failed: %s" % exc)

CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)


def env(name):
    value = os.environ.get(name)
    if not value:
        raise AssertionError("%s is not set; load the server's environment with "
                             'eval "$(scripts/s3-server.sh env)"' % name)
    return value


def keys_of(identity):
    upper = identity.upper()
    return env("SLUICE_%s_ACCESS_KEY" % upper), env("SLUICE_%s_SECRET_KEY" % upper)


def s3_client(access_key=None, secret_key=None, profile=None):
    if profile is not None:
        session = boto3.session.Session(profile_name=profile)
    else:
        session = boto3.session.Session(aws_access_key_id=access_key,
                                        aws_secret_access_key=secret_key)
    return session.client("s3", endpoint_url=os.environ["SLUICE_S3_ENDPOINT"],
                          region_name=env("SLUICE_S3_REGION"), config=CONFIG)


def error_of(call, *args, **kwargs):
    """Runs a call that must fail; returns (HTTP status, S3 error code)."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        return (exc.response["ResponseMetadata"]["HTTPStatusCode"],
                exc.response["Error"]["Code"])
    raise AssertionError("the request succeeded, but it should have been refused")


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.environ.get("SLUICE_S3_ENDPOINT"):
            raise AssertionError(HINT)
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = env("SLUICE_S3_CREDENTIALS")
        cls.buckets = [env(v) for v in BUCKET_VARS]
        cls.mover = s3_client(*keys_of("mover"))
        # The mover's canonical user id, as the server reports it.
        cls.mover_id = cls.mover.list_buckets()["Owner"]["ID"]

    @classmethod
    def tearDownClass(cls):
        cls.mover.close()

    def client(self, *args, **kwargs):
        """An S3 client that is closed when the test ends."""
        client = s3_client(*args, **kwargs)
        self.addCleanup(client.close)
        return client

    def test_environment_is_complete(self):
        self.assertTrue(env("SLUICE_S3_ENDPOINT").startswith("http://127.0.0.1:"))
        self.assertTrue(env("SLUICE_S3_REGION"))
        self.assertTrue(os.path.isdir(env("SLUICE_S3_DIR")))
        self.assertEqual(self.buckets,
                         ["sluice-staging", "sluice-quarantine", "sluice-trusted"])
        for identity in IDENTITIES:
            with self.subTest(identity=identity):
                access_key, secret_key = keys_of(identity)
                self.assertGreaterEqual(len(access_key), 16)
                self.assertGreaterEqual(len(secret_key), 32)

    def test_credentials_file_is_private(self):
        mode = stat.S_IMODE(os.stat(env("SLUICE_S3_CREDENTIALS")).st_mode)
        self.assertEqual(mode, 0o600, "credentials file mode is %o" % mode)

    def test_each_identity_authenticates_with_env_keys(self):
        for identity in IDENTITIES:
            with self.subTest(identity=identity):
                listing = self.client(*keys_of(identity)).list_buckets()
                self.assertEqual(listing["ResponseMetadata"]["HTTPStatusCode"], 200)
                self.assertEqual(listing["Owner"]["ID"], identity)

    def test_each_identity_authenticates_with_profile(self):
        for identity in IDENTITIES:
            with self.subTest(identity=identity):
                session = boto3.session.Session(profile_name=identity)
                creds = session.get_credentials().get_frozen_credentials()
                client = self.client(profile=identity)
                self.assertEqual((creds.access_key, creds.secret_key), keys_of(identity),
                                 "profile [%s] differs from the environment" % identity)
                self.assertEqual(client.list_buckets()["Owner"]["ID"], identity)

    def test_buckets_exist_and_belong_to_mover(self):
        self.assertEqual(self.mover_id, "mover")
        listed = {b["Name"] for b in self.mover.list_buckets()["Buckets"]}
        for bucket in self.buckets:
            with self.subTest(bucket=bucket):
                head = self.mover.head_bucket(Bucket=bucket)
                self.assertEqual(head["ResponseMetadata"]["HTTPStatusCode"], 200)
                self.assertIn(bucket, listed)
                acl = self.mover.get_bucket_acl(Bucket=bucket)
                self.assertEqual(acl["Owner"]["ID"], self.mover_id)

    def test_other_identities_own_no_bucket(self):
        for identity in IDENTITIES:
            if identity == "mover":
                continue
            with self.subTest(identity=identity):
                listed = self.client(*keys_of(identity)).list_buckets()["Buckets"]
                self.assertEqual([b["Name"] for b in listed], [])

    def test_wrong_secret_key_is_refused(self):
        access_key, secret_key = keys_of("mover")
        wrong = secret_key[:-1] + ("A" if secret_key[-1] != "A" else "B")
        client = self.client(access_key, wrong)
        self.assertEqual(error_of(client.list_buckets), (403, "SignatureDoesNotMatch"))
        self.assertEqual(error_of(client.head_bucket, Bucket=self.buckets[0])[0], 403)

    def test_unknown_access_key_is_refused(self):
        client = self.client("SLUICEUNKNOWNKEY0000", "x" * 40)
        self.assertEqual(error_of(client.list_buckets), (403, "InvalidAccessKeyId"))

    def test_keys_differ_between_identities(self):
        pairs = [keys_of(identity) for identity in IDENTITIES]
        access_keys = [a for a, _ in pairs]
        secret_keys = [s for _, s in pairs]
        self.assertEqual(len(set(access_keys)), len(IDENTITIES), access_keys)
        self.assertEqual(len(set(secret_keys)), len(IDENTITIES))
        self.assertTrue(set(access_keys).isdisjoint(secret_keys))


if __name__ == "__main__":
    unittest.main(verbosity=2)
