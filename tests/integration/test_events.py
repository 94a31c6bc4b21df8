"""test_events.py — S3 event notifications pushed to the real daemon by the real radosgw
(docs/events.md), with polling as reconciliation.

scripts/s3-server.sh start made the topic sluice-events (pushing to SLUICE_EVENTS_LISTEN
with the secret of SLUICE_EVENTS_SECRET_FILE as ?token=); this test adds the ObjectCreated
notification of the staging bucket for its own run and takes it away at the end (the rest
of the suite PUTs without it). The daemon here listens on that address,
so radosgw's pushes reach it (together with any events other tests left queued: those
name keys of other prefixes, or gone, and are ignored or found missing).

- push: with a 60 s poll interval, an upload is promoted within seconds, through a hint
  (sluice_event_hints_total{outcome="queued"}), not a listing;
- a forged event (right secret) for a key that does not exist is looked at, found missing,
  and changes nothing; a wrong or missing secret is 401 before the body is read; events
  for another bucket or prefix are ignored and counted; garbage is 400, GET 405, an
  oversized body 413, an SNS message of a topic not configured 403;
- a dropped event (the events section listens elsewhere, so radosgw's push never arrives)
  is picked up by the next listing.
- SNS: a signed notification is hinted (the certificate from a local origin fetched once),
  a tampered one is 403, a subscription is confirmed by a GET of its SubscribeURL, an
  unreachable certificate is 503;
- the secret file: readable by others stops the start; SIGHUP takes a new secret (keeps
  the old one when the new file is refused), moves the listener, removes it.

Usage (ctest passes the binaries): test_events.py SLUICE_MOVER SLUICE_REVIEW
"""

import http.client
import signal
import subprocess
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mover_harness import ENV, MOVER, QUARANTINE, STAGING, TRUSTED, Mover, s3, staging_notification  # noqa: E402

LISTEN = ENV.get("SLUICE_EVENTS_LISTEN", "none")
SECRET_FILE = ENV.get("SLUICE_EVENTS_SECRET_FILE", "")
if LISTEN == "none" or not os.path.exists(SECRET_FILE):
    sys.exit("SLUICE_EVENTS_LISTEN / SLUICE_EVENTS_SECRET_FILE are not set: restart scripts/s3-server.sh "
             "(it makes the events topic) and eval its env")
with open(SECRET_FILE) as f:
    SECRET = f.read().strip()
HOST, PORT = LISTEN.rsplit(":", 1)
PORT = int(PORT)
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "events")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event_doc(bucket, key, name="ObjectCreated:Put"):
    """An S3 event document as radosgw sends it (its key as it is)."""
    return json.dumps({"Records": [{
        "eventVersion": "2.2", "eventSource": "ceph:s3", "awsRegion": "", "eventTime": "2026-12-06T01:00:00.000Z",
        "eventName": name, "userIdentity": {"principalId": "mover"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "sluice",
               "bucket": {"name": bucket, "arn": "arn:aws:s3:::" + bucket},
               "object": {"key": key, "size": 3, "eTag": "0" * 32, "sequencer": "1"}}}]}).encode()


def post(body, path="/events", headers=None, method="POST", host=HOST, port=PORT):
    c = http.client.HTTPConnection(host, port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        c.close()


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    finally:
        c.close()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def counter(port, family, outcome):
    return metrics(port).get(f'{family}{{outcome="{outcome}"}}', 0.0)


def exists(bucket, key):
    return s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0


class Events(unittest.TestCase):
    """One daemon on the events address, polling every 60 s."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-events-test-")
        cls.mport = free_port()
        cls.m = Mover(cls.tmp, uuid.uuid4().hex[:10], poll="60s",
                      worker_settings={"poll_idle_max": "60s"},
                      events={"listen": LISTEN, "secret_file": SECRET_FILE},
                      api_settings={"metrics_listen": f"127.0.0.1:{cls.mport}"})
        cls.m.start()
        cls.m.wait_until("the daemon's start", lambda: "started" in cls.m.log_text(), timeout=20)
        # the first listing (at start) is over: what arrives now comes by push or in 60 s
        cls.m.wait_until("the events listener", lambda: post(b"", method="GET")[0] == 405, timeout=10)
        time.sleep(1.5)

    @classmethod
    def tearDownClass(cls):
        rc = cls.m.stop()  # a clean stop (under ASan: no leak in what the tests sent)
        log = cls.m.log_text()
        cls.m.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError(f"sluice-mover exited {rc} at SIGTERM:\n" + log[-3000:])

    def auth(self):
        return {"Authorization": "Bearer " + SECRET}

    def test_push_promotes_without_waiting_for_the_poll(self):
        m = self.m
        before = counter(self.mport, "sluice_event_hints_total", "queued")
        task = uuid.uuid4().hex[:8]
        t0 = time.time()
        s3.put_object(Bucket=STAGING, Key=m.staging_key(task, "pushed.csv"), Body=b"a,b\n1,2\n",
                      ACL="bucket-owner-full-control")
        # radosgw picks a new topic's queue up within 30 s of its creation; then ~0.1 s
        m.wait_until("the pushed upload in trusted", lambda: exists(TRUSTED, m.trusted_key(task, "pushed.csv")),
                     timeout=40)
        took = time.time() - t0
        self.assertLess(took, 55, "promoted only by the next listing, not by the event")
        self.assertGreaterEqual(counter(self.mport, "sluice_event_hints_total", "queued"), before + 1)

    def test_forged_event_for_a_missing_key_changes_nothing(self):
        m = self.m
        key = m.staging_key(uuid.uuid4().hex[:8], "forged.csv")
        missing = counter(self.mport, "sluice_event_hints_total", "missing")
        status, body = post(event_doc(STAGING, key), headers=self.auth())
        self.assertEqual(status, 200, body)
        self.assertEqual(body["hinted"], 1)
        m.wait_until("the hint found missing",
                     lambda: counter(self.mport, "sluice_event_hints_total", "missing") >= missing + 1, timeout=10)
        task = key.split("/")[-2]
        self.assertFalse(exists(TRUSTED, m.trusted_key(task, "forged.csv")))
        self.assertFalse([k for k in m.quarantine_keys() if task in k])
        self.assertNotIn(task, json.dumps(m.manifests()))

    def test_wrong_or_missing_secret_is_401_and_changes_nothing(self):
        m = self.m
        key = m.staging_key(uuid.uuid4().hex[:8], "x.csv")
        doc = event_doc(STAGING, key)
        before = counter(self.mport, "sluice_events_total", "unauthorized")
        hinted = counter(self.mport, "sluice_events_total", "hinted")
        for headers, path in (({}, "/events"), ({"Authorization": "Bearer " + "x" * len(SECRET)}, "/events"),
                              ({}, "/events?token=" + SECRET[:-1] + "0"),
                              ({"Authorization": "Basic " + "dXNlcjp3cm9uZ3dyb25nd3Jvbmd3cm9uZw=="}, "/events")):
            status, body = post(doc, path=path, headers=headers)
            self.assertEqual(status, 401, (headers, path, body))
            self.assertEqual(body["error"], "unauthorized")
            self.assertNotIn(SECRET, json.dumps(body))
        self.assertEqual(counter(self.mport, "sluice_events_total", "unauthorized"), before + 4)
        self.assertEqual(counter(self.mport, "sluice_events_total", "hinted"), hinted)
        self.assertNotIn(SECRET, m.log_text())
        self.assertLessEqual(m.log_text().count("event_unauthorized"), 1)  # one line per 10 s at most

    def test_the_secret_is_taken_in_each_form(self):
        import base64
        doc = json.dumps({"Event": "s3:TestEvent", "Bucket": STAGING}).encode()
        basic = base64.b64encode(b"radosgw:" + SECRET.encode()).decode()
        for headers, path in (({"Authorization": "Bearer " + SECRET}, "/events"),
                              ({"Authorization": "Basic " + basic}, "/events"),
                              ({}, "/events?token=" + SECRET)):
            status, body = post(doc, path=path, headers=headers)
            self.assertEqual(status, 200, (headers, path, body))
            self.assertEqual(body["test_events"], 1)

    def test_other_buckets_and_prefixes_are_ignored_and_counted(self):
        before = counter(self.mport, "sluice_events_total", "unknown")
        for bucket, key in ((QUARANTINE, self.m.staging_key("t", "a.csv")), (STAGING, "no-route-here/a.csv")):
            status, body = post(event_doc(bucket, key), headers=self.auth())
            self.assertEqual(status, 200, body)
            self.assertEqual((body["unknown"], body["hinted"]), (1, 0), (bucket, key))
        status, body = post(event_doc(STAGING, self.m.staging_key("t", "gone.csv"), "ObjectRemoved:Delete"),
                            headers=self.auth())
        self.assertEqual((status, body["not_created"], body["hinted"]), (200, 1, 0))
        self.assertGreaterEqual(counter(self.mport, "sluice_events_total", "unknown"), before + 2)

    def test_garbage_is_400_and_http_is_bounded(self):
        rejected = counter(self.mport, "sluice_events_total", "rejected")
        for garbage in (b"", b"not json", b"[]", b'{"Records": 7}', b'{"Records":[{"eventName":1}]}',
                        b"\xff\xfe{"):
            status, body = post(garbage, headers=self.auth())
            self.assertEqual(status, 400, garbage)
            self.assertEqual(body["error"], "bad_event", garbage)
        self.assertEqual(counter(self.mport, "sluice_events_total", "rejected"), rejected + 6)
        self.assertEqual(post(b"", method="GET")[0], 405)
        self.assertEqual(post(b"{}", path="/other", headers=self.auth())[0], 404)
        # the head announces 600 KiB: answered 413 before any of it is sent
        with socket.create_connection((HOST, PORT), timeout=10) as c:
            c.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode()
                      + b"\r\nContent-Length: " + str(600 << 10).encode() + b"\r\n\r\n")
            self.assertTrue(c.recv(4096).startswith(b"HTTP/1.1 413 "))

    def test_sns_message_of_a_topic_not_configured_is_403(self):
        with open(os.path.join(DATA, "sns_notification.json"), "rb") as f:
            envelope = f.read()
        headers = {**self.auth(), "x-amz-sns-message-type": "Notification", "Content-Type": "text/plain"}
        status, body = post(envelope, headers=headers)
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"], "event_refused")

    def test_setup_command_recreates_the_same_topic_and_notification(self):
        """`sluice-mover events setup` on this server does what scripts/s3-server.sh did:
        run again, the bucket keeps one notification, and events still arrive (the push
        test, whichever order the tests run in)."""
        before = s3.get_bucket_notification_configuration(Bucket=STAGING)["TopicConfigurations"]
        r = subprocess.run([MOVER, "events", "setup", "-c", self.m.config, "--push-endpoint",
                            f"http://{LISTEN}/events"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("arn:aws:sns:default::sluice-events", r.stdout)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        after = s3.get_bucket_notification_configuration(Bucket=STAGING)["TopicConfigurations"]
        self.assertEqual(after, before)
        for bad in (["--push-endpoint", f"http://u:p@{LISTEN}/events"], ["--push-endpoint", f"http://{LISTEN}/e?x=1"],
                    []):
            r = subprocess.run([MOVER, "events", "setup", "-c", self.m.config, *bad], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))


class Reconciliation(unittest.TestCase):
    """A dropped event: radosgw pushes to the events address, but this daemon listens
    elsewhere; the next listing (1 s) finds the upload."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-events-test-")
        self.mport = free_port()
        self.m = Mover(self.tmp, uuid.uuid4().hex[:10], poll="1s", worker_settings={"poll_idle_max": "1s"},
                       events={"listen": f"127.0.0.1:{free_port()}", "secret_file": SECRET_FILE},
                       api_settings={"metrics_listen": f"127.0.0.1:{self.mport}"})

    def tearDown(self):
        self.m.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_a_dropped_event_is_picked_up_by_the_listing(self):
        m = self.m
        m.start()
        m.wait_until("the daemon's start", lambda: "started" in m.log_text(), timeout=20)
        task = uuid.uuid4().hex[:8]
        s3.put_object(Bucket=STAGING, Key=m.staging_key(task, "dropped.csv"), Body=b"a\n1\n",
                      ACL="bucket-owner-full-control")
        m.wait_until("the upload in trusted", lambda: exists(TRUSTED, m.trusted_key(task, "dropped.csv")),
                     timeout=20)
        self.assertEqual(counter(self.mport, "sluice_event_hints_total", "queued"), 0)
        self.assertEqual(counter(self.mport, "sluice_events_total", "hinted"), 0)


class SecretFile(unittest.TestCase):
    """The listener's own address and secret file (no radosgw involved): a secret others
    may read stops the daemon from starting; SIGHUP takes a new secret, and keeps the old
    one when the new file is bad."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-events-test-")
        self.secret = os.path.join(self.tmp, "events-secret")
        self.write_secret("first-secret-0123456789")
        self.port = free_port()
        self.m = Mover(self.tmp, uuid.uuid4().hex[:10], poll="1s",
                       events={"listen": f"127.0.0.1:{self.port}", "secret_file": self.secret})

    def tearDown(self):
        self.m.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_secret(self, text, mode=0o600):
        with open(self.secret + ".new", "w") as f:
            f.write(text + "\n")
        os.chmod(self.secret + ".new", mode)
        os.replace(self.secret + ".new", self.secret)

    def status_with(self, secret):
        doc = json.dumps({"Event": "s3:TestEvent"}).encode()
        return post(doc, headers={"Authorization": "Bearer " + secret}, port=self.port, host="127.0.0.1")[0]

    def test_a_secret_others_may_read_stops_the_start(self):
        os.chmod(self.secret, 0o644)
        self.m.start()
        rc = self.m.proc.wait(timeout=30)
        self.m.proc = None
        self.assertNotEqual(rc, 0)
        self.assertIn("events_failed", self.m.log_text())
        self.assertNotIn("first-secret-0123456789", self.m.log_text())

    def test_sighup_takes_a_new_secret_and_keeps_the_old_on_a_bad_file(self):
        m = self.m
        m.start()
        m.wait_until("the events listener", lambda: "started" in m.log_text(), timeout=20)
        self.assertEqual(self.status_with("first-secret-0123456789"), 200)
        self.write_secret("second-secret-0123456789")
        m.proc.send_signal(signal.SIGHUP)
        m.wait_until("the new secret", lambda: self.status_with("second-secret-0123456789") == 200, timeout=10)
        self.assertEqual(self.status_with("first-secret-0123456789"), 401)
        self.write_secret("short")  # too short: refused, the second secret stays
        m.proc.send_signal(signal.SIGHUP)
        m.wait_until("the refused reload", lambda: "events_reload_partial" in m.log_text(), timeout=10)
        self.assertEqual(self.status_with("second-secret-0123456789"), 200)
        self.assertEqual(self.status_with("short"), 401)

    def test_sighup_moves_the_listener_and_removes_it(self):
        m = self.m
        m.start()
        m.wait_until("the events listener", lambda: "started" in m.log_text(), timeout=20)
        self.assertEqual(self.status_with("first-secret-0123456789"), 200)
        old, new = self.port, free_port()
        with open(m.config) as f:
            cfg = json.load(f)
        cfg["events"]["listen"] = f"127.0.0.1:{new}"
        with open(m.config, "w") as f:
            json.dump(cfg, f)
        m.proc.send_signal(signal.SIGHUP)
        self.port = new
        m.wait_until("the moved listener", lambda: self.try_status() == 200, timeout=10)
        self.port = old
        self.assertIsNone(self.try_status())  # nothing listens there any more
        del cfg["events"]
        with open(m.config, "w") as f:
            json.dump(cfg, f)
        m.proc.send_signal(signal.SIGHUP)
        self.port = new
        m.wait_until("the listener gone", lambda: self.try_status() is None, timeout=10)
        self.assertEqual(m.stop(), 0)

    def try_status(self):
        try:
            return self.status_with("first-secret-0123456789")
        except OSError:
            return None


class Sns(unittest.TestCase):
    """SNS HTTP subscriptions end to end on the daemon's own HTTP engine: the signing
    certificate comes from a local origin (events.sns_origins), is fetched once and cached;
    a good signature is taken, a tampered message is 403, a confirmation GETs its
    SubscribeURL, an unreachable certificate is 503."""

    TOPIC = "arn:aws:sns:us-east-1:123456789012:sluice-events"

    @classmethod
    def setUpClass(cls):
        import datetime
        import http.server
        import threading
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        cls.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(cls.key.public_key())
                .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1)).sign(cls.key, hashes.SHA256()))
        pem = cert.public_bytes(serialization.Encoding.PEM)
        cls.hits = []

        class Origin(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                cls.hits.append(self.path)
                body = pem if self.path == "/cert.pem" else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        cls.origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
        threading.Thread(target=cls.origin.serve_forever, daemon=True).start()
        cls.oport = cls.origin.server_address[1]
        cls.closed = free_port()
        cls.tmp = tempfile.mkdtemp(prefix="sluice-events-test-")
        cls.port = free_port()
        cls.m = Mover(cls.tmp, uuid.uuid4().hex[:10], poll="1s",
                      events={"listen": f"127.0.0.1:{cls.port}", "secret_file": SECRET_FILE,
                              "sns_topics": [cls.TOPIC],
                              "sns_origins": [f"http://127.0.0.1:{cls.oport}", f"http://127.0.0.1:{cls.closed}"]})
        cls.m.start()
        cls.m.wait_until("the daemon's start", lambda: "started" in cls.m.log_text(), timeout=20)

    @classmethod
    def tearDownClass(cls):
        rc = cls.m.stop()
        log = cls.m.log_text()
        cls.m.cleanup()
        cls.origin.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError(f"sluice-mover exited {rc} at SIGTERM:\n" + log[-3000:])

    def envelope(self, kind, message, cert_port=None, tamper=False):
        import base64
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        e = {"Type": kind, "MessageId": str(uuid.uuid4()), "TopicArn": self.TOPIC, "Message": message,
             "Timestamp": "2026-12-06T01:00:00.000Z", "SignatureVersion": "2",
             "SigningCertURL": f"http://127.0.0.1:{cert_port or self.oport}/cert.pem"}
        order = ["Message", "MessageId"]
        if kind == "Notification":
            e["Subject"] = "Amazon S3 Notification"
            order += ["Subject", "Timestamp"]
        else:
            e["Token"] = "t" * 32
            e["SubscribeURL"] = f"http://127.0.0.1:{self.oport}/confirm?Token=" + "t" * 32
            order += ["SubscribeURL", "Timestamp", "Token"]
        text = "".join(f"{k}\n{e[k]}\n" for k in order + ["TopicArn", "Type"])
        e["Signature"] = base64.b64encode(self.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
        if tamper:
            e["Message"] = message.replace("a.csv", "b.csv")
        return json.dumps(e).encode()

    def send(self, body, kind="Notification"):
        headers = {"Authorization": "Bearer " + SECRET, "x-amz-sns-message-type": kind, "Content-Type": "text/plain"}
        return post(body, headers=headers, host="127.0.0.1", port=self.port)

    def test_signed_notifications_are_hinted_and_the_certificate_cached(self):
        doc = event_doc(STAGING, self.m.staging_key("t", "a.csv")).decode()
        for _ in range(2):
            status, body = self.send(self.envelope("Notification", doc))
            self.assertEqual(status, 200, body)
            self.assertEqual(body["hinted"], 1)
        self.assertLessEqual(self.hits.count("/cert.pem"), 1)

    def test_a_tampered_message_is_403(self):
        doc = event_doc(STAGING, self.m.staging_key("t", "a.csv")).decode()
        status, body = self.send(self.envelope("Notification", doc, tamper=True))
        self.assertEqual((status, body["error"]), (403, "event_refused"), body)

    def test_a_subscription_is_confirmed_by_its_url(self):
        status, body = self.send(self.envelope("SubscriptionConfirmation", "confirm"), "SubscriptionConfirmation")
        self.assertEqual(status, 200, body)
        self.assertIn("/confirm?Token=" + "t" * 32, self.hits)

    def test_an_unreachable_certificate_is_503(self):
        doc = event_doc(STAGING, self.m.staging_key("t", "a.csv")).decode()
        status, body = self.send(self.envelope("Notification", doc, cert_port=self.closed))
        self.assertEqual((status, body["error"]), (503, "unavailable"), body)


def setUpModule():
    staging_notification(True)


def tearDownModule():
    staging_notification(False)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
