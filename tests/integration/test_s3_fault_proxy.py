"""The request-aware fault proxy (s3_fault_proxy.py, driven through faults.py) against
the real local radosgw, with boto3 and curl as clients: forwarding is transparent
(SigV4 signatures, presigned URLs, keep-alive, 100-continue, chunked responses), each
action does what it says — seen from the client AND from the server's side —, rules
select the requests they name, the request log counts right, bad rules are refused,
bodies stream through bounded memory, and the proxy goes away with SIGTERM or its
parent. One proxy serves the whole class; every test sets its own rules and works
under its own key prefix. Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import collections
import concurrent.futures
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import boto3
import botocore.exceptions
import urllib3.exceptions
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults  # noqa: E402
from faults import FaultProxy, FaultProxyError  # noqa: E402

ENV = os.environ
if not ENV.get("SLUICE_S3_ENDPOINT"):
    sys.exit('SLUICE_S3_ENDPOINT is not set: run scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"')
BUCKET = ENV["SLUICE_BUCKET_QUARANTINE"]
REGION = ENV["SLUICE_S3_REGION"]
KEYS = (ENV["SLUICE_MOVER_ACCESS_KEY"], ENV["SLUICE_MOVER_SECRET_KEY"])
UNSIGNED = "x-amz-content-sha256: UNSIGNED-PAYLOAD"
FAILED_CALL = (botocore.exceptions.BotoCoreError, urllib3.exceptions.HTTPError)


def client(endpoint, read_timeout=20, **config):
    """A boto3 client that never retries: each call is exactly one request."""
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEYS[0],
        aws_secret_access_key=KEYS[1],
        config=Config(**dict(dict(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout,
                                  max_pool_connections=4), **config)))


def payload(n, seed):
    return random.Random(seed).randbytes(n)


def error_code(e):
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


class FaultProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proxy = FaultProxy(idle_timeout=20).start()
        cls.direct = client(ENV["SLUICE_S3_ENDPOINT"])
        cls.run_prefix = "fault-proxy-test/%s/" % uuid.uuid4().hex[:12]

    @classmethod
    def tearDownClass(cls):
        keys = []
        for page in cls.direct.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=cls.run_prefix):
            keys += [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            cls.direct.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[i:i + 1000]})
        cls.proxy.stop()

    def setUp(self):
        self.prefix = "%s%s/" % (self.run_prefix, self._testMethodName)
        self.proxy.clear_rules()
        self.proxy.release()
        self.proxy.settle()
        self.mark = self.proxy.mark()
        self.s3 = client(self.proxy.endpoint)

    def key(self, name):
        return self.prefix + name

    def url(self, key, query=""):
        return "%s/%s/%s%s" % (self.proxy.endpoint, BUCKET, key, query)

    def curl(self, *args, timeout=30):
        """curl signing with SigV4 for the proxy's Host; (exit code, stdout bytes, stderr text)."""
        p = subprocess.run(["curl", "-sS", "--aws-sigv4", "aws:amz:%s:s3" % REGION, "--user", "%s:%s" % KEYS,
                            "-H", UNSIGNED] + list(args), capture_output=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def logged(self, **match):
        self.proxy.settle()
        return self.proxy.requests(since=self.mark, **match)

    def exists(self, key):
        try:
            return self.direct.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except botocore.exceptions.ClientError as e:
            if error_code(e)[1] == 404:
                return None
            raise

    # ---- forwarding ----

    def test_forwarding_is_transparent_and_the_log_counts_each_request(self):
        data = payload(200_000, 1)
        k = self.key("a")
        self.s3.put_object(Bucket=BUCKET, Key=k, Body=data)
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read(), data)
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key=k, Range="bytes=10-19")["Body"].read(), data[10:20])
        self.assertEqual(self.s3.head_object(Bucket=BUCKET, Key=k)["ContentLength"], len(data))
        self.s3.copy_object(Bucket=BUCKET, Key=self.key("b"), CopySource={"Bucket": BUCKET, "Key": k})
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=self.prefix)["Contents"]
        self.assertEqual([o["Key"] for o in listed], [k, self.key("b")])
        v1 = self.s3.list_objects(Bucket=BUCKET, Prefix=self.prefix)["Contents"]  # a chunked response
        self.assertEqual(len(v1), 2)
        up = self.s3.create_multipart_upload(Bucket=BUCKET, Key=self.key("mp"))["UploadId"]
        p1 = self.s3.upload_part(Bucket=BUCKET, Key=self.key("mp"), UploadId=up, PartNumber=1,
                                 Body=payload(5 << 20, 2))["ETag"]
        p2 = self.s3.upload_part_copy(Bucket=BUCKET, Key=self.key("mp"), UploadId=up, PartNumber=2,
                                      CopySource={"Bucket": BUCKET, "Key": k})["CopyPartResult"]["ETag"]
        self.s3.complete_multipart_upload(Bucket=BUCKET, Key=self.key("mp"), UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]})
        self.assertEqual(self.exists(self.key("mp")), payload(5 << 20, 2) + data)
        self.s3.delete_object(Bucket=BUCKET, Key=self.key("b"))
        self.assertIsNone(self.exists(self.key("b")))

        # curl: a signed PUT with "Expect: 100-continue" (3 MB), a presigned GET
        big = payload(3_000_000, 3)
        with tempfile.NamedTemporaryFile() as f:
            f.write(big)
            f.flush()
            rc, out, err = self.curl("-o", "/dev/null", "-w", "%{http_code}", "-T", f.name, self.url(self.key("c")))
        self.assertEqual((rc, out), (0, b"200"), err)
        signed = client(self.proxy.endpoint, signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": self.key("c")})
        p = subprocess.run(["curl", "-sS", "--fail", signed], capture_output=True, timeout=30)
        self.assertEqual(p.stdout, big, p.stderr)

        log = self.logged()
        ops = [e["op"] for e in log]
        self.assertEqual(ops, ["PutObject", "GetObject", "GetObject", "HeadObject", "CopyObject", "ListObjectsV2",
                               "ListObjects", "CreateMultipartUpload", "UploadPart", "UploadPartCopy",
                               "CompleteMultipartUpload", "DeleteObject", "PutObject", "GetObject"])
        self.assertTrue(all(e["forwarded"] and e["upstream_status"] == e["client_status"] and e["note"] is None
                            and e["rule"] is None for e in log), log)
        self.assertEqual([e["client_status"] for e in log], [200, 200, 206] + [200] * 8 + [204, 200, 200])
        boto = log[:12]
        self.assertEqual({e["conn"] for e in boto}, {boto[0]["conn"]}, "boto3's requests share one keep-alive connection")
        self.assertEqual([e["n"] for e in boto], list(range(1, 13)))
        self.assertEqual(log[0]["req_bytes"], len(data))
        self.assertEqual(log[1]["sent_bytes"], len(data))
        self.assertEqual(log[12]["req_bytes"], len(big))
        self.assertEqual(log[13]["query"].keys() >= {"X-Amz-Signature", "X-Amz-Credential"}, True)
        self.assertEqual(self.proxy.count(since=self.mark, op="GetObject", key=self.key("a")), 2)

    # ---- status ----

    def test_status_503_on_the_second_delete_only_and_the_connection_stays_usable(self):
        keys = [self.key("d%d" % i) for i in range(3)]
        for k in keys:
            self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"x")
        self.proxy.set_rules([faults.status(503, op="DeleteObject", nth=2, id="del2")])
        outcomes = []
        for k in keys:
            try:
                self.s3.delete_object(Bucket=BUCKET, Key=k)
                outcomes.append("ok")
            except botocore.exceptions.ClientError as e:
                outcomes.append(error_code(e))
        self.assertEqual(outcomes, ["ok", ("SlowDown", 503), "ok"])
        self.assertEqual([self.exists(k) for k in keys], [None, b"x", None])
        self.assertEqual(self.proxy.rule("del2"), {"id": "del2", "action": "status", "matched": 3, "hits": 1})
        log = self.logged(op="DeleteObject")
        self.assertEqual([(e["forwarded"], e["client_status"], e["rule"]) for e in log],
                         [(True, 204, None), (False, 503, "del2"), (True, 204, None)])
        self.assertEqual(len({e["conn"] for e in log}), 1, "the 503 kept the connection usable")

    def test_status_reads_the_body_first_and_answers_head_without_one(self):
        self.direct.put_object(Bucket=BUCKET, Key=self.key("h"), Body=b"here")
        self.proxy.set_rules([faults.status(500, op="PutObject", first=1, id="put"),
                              faults.status(404, op="HeadObject", id="head")])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.put_object(Bucket=BUCKET, Key=self.key("p"), Body=payload(2 << 20, 4))
        self.assertEqual(error_code(cm.exception), ("InternalError", 500))
        self.s3.put_object(Bucket=BUCKET, Key=self.key("p"), Body=b"second")  # the same connection
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.s3.head_object(Bucket=BUCKET, Key=self.key("h"))
        self.assertEqual(error_code(cm.exception)[1], 404)
        self.assertEqual(self.exists(self.key("p")), b"second")
        log = self.logged()
        self.assertEqual([(e["op"], e["forwarded"], e["client_status"]) for e in log],
                         [("PutObject", False, 500), ("PutObject", True, 200), ("HeadObject", False, 404)])
        self.assertEqual(log[0]["req_bytes"], 2 << 20)
        self.assertEqual(len({e["conn"] for e in log}), 1)

        # curl with "Expect: 100-continue": the proxy says 100 itself, then 503 with S3's XML
        self.proxy.set_rules([faults.status(503, "SlowDown", op="PutObject", id="slow")])
        with tempfile.NamedTemporaryFile() as f:
            f.write(payload(2_000_000, 5))
            f.flush()
            rc, out, err = self.curl("-w", "\n%{http_code}", "-T", f.name, self.url(self.key("q")))
        self.assertEqual(rc, 0, err)
        self.assertIn(b"<Code>SlowDown</Code>", out)
        self.assertIn(("<Resource>/%s/%s</Resource>" % (BUCKET, self.key("q"))).encode(), out)
        self.assertTrue(out.endswith(b"\n503"), out)
        self.assertIsNone(self.exists(self.key("q")))

    # ---- resets and timeouts ----

    def test_reset_before_forwarding_nothing_reaches_the_server(self):
        self.proxy.set_rules([faults.reset_before(op="PutObject", key=self.key("r"), id="rst")])
        with self.assertRaises(FAILED_CALL):
            self.s3.put_object(Bucket=BUCKET, Key=self.key("r"), Body=b"never")
        self.assertIsNone(self.exists(self.key("r")))
        [e] = self.logged(op="PutObject")
        self.assertEqual((e["forwarded"], e["upstream_status"], e["client_status"], e["rule"]),
                         (False, None, None, "rst"))

    def test_drop_after_the_server_acted_the_object_exists_though_the_client_failed(self):
        self.proxy.set_rules([faults.drop_after(op="PutObject", id="drop")])
        with self.assertRaises(FAILED_CALL):
            self.s3.put_object(Bucket=BUCKET, Key=self.key("d"), Body=b"landed")
        self.assertEqual(self.exists(self.key("d")), b"landed")
        # curl sees the connection reset after its whole upload
        rc, _, err = self.curl("-T", "/etc/hostname", self.url(self.key("e")))
        self.assertNotEqual(rc, 0, err)
        self.assertIsNotNone(self.exists(self.key("e")))
        log = self.logged(op="PutObject")
        self.assertEqual([(e["forwarded"], e["upstream_status"], e["client_status"]) for e in log],
                         [(True, 200, None)] * 2)

    def test_libcurl_resends_on_a_reused_connection_unless_a_status_line_arrived(self):
        k = self.key("twice")
        self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"twice")
        cases = [(faults.drop_after(method="GET", nth=2), 56, 2),
                 (faults.drop_after(method="GET", nth=2, status_line=False), 0, 3),
                 (faults.reset_before(method="GET", nth=2), 0, 3),
                 (faults.reset_before(method="GET", nth=2, status_line=True), 56, 2)]
        for rule, want_rc, want_requests in cases:
            self.proxy.set_rules([rule])
            mark = self.proxy.mark()
            rc, _, err = self.curl("-o", "/dev/null", "-o", "/dev/null", self.url(k), self.url(k))
            self.assertEqual(rc, want_rc, (rule, err))  # 56: CURLE_RECV_ERROR
            self.proxy.settle()
            log = self.proxy.requests(since=mark)
            self.assertEqual(len(log), want_requests, (rule, log))
            self.assertEqual(log[0]["conn"], log[1]["conn"], "the second GET reused the connection")
            if want_requests == 3:
                self.assertNotEqual(log[2]["conn"], log[1]["conn"], "libcurl re-sent it on a new connection")

    def test_timeout_after_the_client_gives_up_and_the_server_acted(self):
        self.proxy.set_rules([faults.timeout_after(5000, op="CopyObject", id="slow")])
        self.direct.put_object(Bucket=BUCKET, Key=self.key("src"), Body=b"source")
        s3 = client(self.proxy.endpoint, read_timeout=0.5)
        started = time.monotonic()
        with self.assertRaises(botocore.exceptions.ReadTimeoutError):
            s3.copy_object(Bucket=BUCKET, Key=self.key("dst"), CopySource={"Bucket": BUCKET, "Key": self.key("src")})
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        self.assertEqual(self.exists(self.key("dst")), b"source")
        [e] = self.logged(op="CopyObject")
        self.assertEqual((e["forwarded"], e["upstream_status"], e["client_status"]), (True, 200, None))
        self.assertEqual(e["note"], "the client gave up during the silence")

    # ---- delay, cut ----

    def test_delay_holds_the_request_then_forwards_it(self):
        self.direct.put_object(Bucket=BUCKET, Key=self.key("g"), Body=b"late")
        self.proxy.set_rules([faults.delay(400, op="GetObject", id="slow")])
        started = time.monotonic()
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key=self.key("g"))["Body"].read(), b"late")
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        [e] = self.logged(op="GetObject")
        self.assertGreaterEqual(e["t_fwd"] - e["t"], 0.39)
        self.assertEqual((e["rule"], e["action"], e["client_status"]), ("slow", "delay>pass", 200))

    def test_cut_gives_the_client_a_short_body(self):
        data = payload(100_000, 6)
        self.direct.put_object(Bucket=BUCKET, Key=self.key("big"), Body=data)
        self.proxy.set_rules([faults.cut(1000, op="GetObject", id="cut")])
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out")
            rc, _, err = self.curl("-o", out, self.url(self.key("big")))
            self.assertEqual(rc, 18, err)  # CURLE_PARTIAL_FILE
            with open(out, "rb") as f:
                self.assertEqual(f.read(), data[:1000])
        body = self.s3.get_object(Bucket=BUCKET, Key=self.key("big"))["Body"]
        with self.assertRaises(FAILED_CALL):
            body.read()
        log = self.logged(op="GetObject")
        self.assertEqual([(e["sent_bytes"], e["note"]) for e in log], [(1000, "cut after 1000 body bytes")] * 2)
        # a chunked response is cut on the wire too; a body shorter than the cut passes
        self.proxy.set_rules([faults.cut(10, op="ListObjects"), faults.cut(10**9, op="GetObject")])
        with self.assertRaises(FAILED_CALL):
            self.s3.list_objects(Bucket=BUCKET, Prefix=self.prefix)
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key=self.key("big"))["Body"].read(), data)

    # ---- hold, stall ----

    def test_hold_until_released_while_the_object_is_replaced(self):
        k = self.key("h")
        self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"v1")
        self.proxy.set_rules([faults.hold(op="DeleteObject", key=k, id="hold")])
        done = []
        t = threading.Thread(target=lambda: done.append(self.s3.delete_object(Bucket=BUCKET, Key=k)))
        t.start()
        [held] = self.proxy.wait_held(rule="hold")
        self.assertEqual((held["op"], held["key"]), ("DeleteObject", k))
        self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"v2")  # lands while the DELETE waits
        self.assertEqual(self.exists(k), b"v2")
        self.assertFalse(done)
        self.assertEqual(self.proxy.release(rule="hold"), 1)
        t.join(30)
        self.assertEqual(len(done), 1)
        self.assertIsNone(self.exists(k))  # the held DELETE reached the server after the replacement
        # hold, then drop the answer; and a hold that is never released expires
        self.proxy.set_rules([faults.hold(op="PutObject", key=k, then=faults.drop_after(), id="h2"),
                              faults.hold(200, op="HeadObject", id="h3")])
        failed = []

        def put():
            try:
                self.s3.put_object(Bucket=BUCKET, Key=k, Body=b"v3")
            except FAILED_CALL as e:
                failed.append(e)
        t = threading.Thread(target=put)
        t.start()
        self.proxy.wait_held(rule="h2")
        self.assertIsNone(self.exists(k))
        self.proxy.release()
        t.join(30)
        self.assertEqual(len(failed), 1)
        self.assertEqual(self.exists(k), b"v3")
        self.assertEqual(self.s3.head_object(Bucket=BUCKET, Key=k)["ContentLength"], 2)
        log = self.logged()
        self.assertEqual([(e["op"], e["action"], e["note"]) for e in log if e["rule"]],
                         [("DeleteObject", "hold>pass", None),
                          ("PutObject", "hold>drop_after", "dropped the response after the server answered"),
                          ("HeadObject", "hold>pass", "hold expired after 200 ms")])

    def test_stall_holds_every_request_arriving_in_the_window_then_releases_them_in_order(self):
        for name in ("a", "b", "c"):
            self.direct.put_object(Bucket=BUCKET, Key=self.key(name), Body=name.encode())
        clients = [client(self.proxy.endpoint) for _ in range(4)]
        # a window that ends by itself
        self.proxy.set_rules([faults.stall(300, op="HeadObject", key=self.key("a"), id="short")])
        self.assertEqual(clients[0].head_object(Bucket=BUCKET, Key=self.key("a"))["ContentLength"], 1)
        [e] = self.logged()
        self.assertGreaterEqual(e["t_fwd"] - e["t"], 0.29)
        # a long window: every request that arrives waits, whatever it is, and goes on in order
        self.mark = self.proxy.mark()
        self.proxy.set_rules([faults.stall(60000, op="HeadObject", key=self.key("a"), id="stall")])
        calls = [lambda: clients[0].head_object(Bucket=BUCKET, Key=self.key("a"))["ContentLength"],
                 lambda: clients[1].get_object(Bucket=BUCKET, Key=self.key("b"))["Body"].read(),
                 lambda: clients[2].put_object(Bucket=BUCKET, Key=self.key("d"), Body=b"d") and "put",
                 lambda: clients[3].get_object(Bucket=BUCKET, Key=self.key("c"))["Body"].read()]
        results = {}
        threads = []
        for i, fn in enumerate(calls):
            threads.append(threading.Thread(target=lambda i=i, fn=fn: results.__setitem__(i, fn())))
            threads[-1].start()
            self.proxy.wait_stalled(i + 1)
        self.assertEqual(self.proxy.status()["stall"]["waiting"], 4)
        self.assertEqual(results, {})
        ended = time.time()
        self.proxy.release(stall=True)
        for t in threads:
            t.join(30)
        self.assertEqual(results, {0: 1, 1: b"b", 2: "put", 3: b"c"})
        log = sorted(self.logged(), key=lambda e: e["seq"])  # logged when finished: in any order
        self.assertEqual([e["op"] for e in log], ["HeadObject", "GetObject", "PutObject", "GetObject"])
        self.assertTrue(all(e["t_fwd"] >= ended - 0.01 for e in log), log)
        self.assertEqual(sorted(log, key=lambda e: e["t_fwd"]), log, "released in arrival order")
        self.assertEqual(len({e["conn"] for e in log}), 4)
        self.assertEqual(self.proxy.rule("stall")["hits"], 1)

    # ---- selection and matching ----

    def test_first_from_and_limit_select_among_the_matches(self):
        k = self.key("s")
        self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"s")
        self.proxy.set_rules([faults.status(500, op="HeadObject", key=k, first=2, id="a"),
                              faults.status(403, op="HeadObject", key=k, from_=5, limit=2, id="b")])
        codes = []
        for _ in range(7):
            try:
                self.s3.head_object(Bucket=BUCKET, Key=k)
                codes.append(200)
            except botocore.exceptions.ClientError as e:
                codes.append(error_code(e)[1])
        self.assertEqual(codes, [500, 500, 200, 200, 403, 403, 200])
        self.assertEqual([(r["matched"], r["hits"]) for r in self.proxy.status()["rules"]], [(7, 2), (7, 2)])

    def test_probability_is_seeded_and_reproducible(self):
        k = self.key("p")
        self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"p")
        expected = [r.random() < 0.5 for r in [random.Random(7)] for _ in range(16)]

        def pattern():
            self.proxy.set_rules([faults.status(503, op="HeadObject", key=k, probability=0.5, seed=7, id="p")])
            hit = []
            for _ in range(16):
                try:
                    self.s3.head_object(Bucket=BUCKET, Key=k)
                    hit.append(False)
                except botocore.exceptions.ClientError:
                    hit.append(True)
            return hit
        self.assertEqual(pattern(), expected)
        self.assertEqual(pattern(), expected)
        self.assertEqual(self.proxy.hits("p"), sum(expected))

    def test_query_header_key_and_method_matching(self):
        k = self.key("m")
        self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"m")
        self.proxy.set_rules([
            faults.status(503, query={"list-type": "2"}, id="v2"),
            faults.status(500, headers={"x-amz-copy-source": True}, id="copy"),
            faults.status(412, query={"versionId": True}, method=["GET", "HEAD"], id="version"),
            faults.status(409, key=r".*/m\.(tmp|part)", query={"uploads": {"regex": ".*"}}, id="mpu"),
        ])

        def code(fn):
            try:
                fn()
                return 200
            except botocore.exceptions.ClientError as e:
                return error_code(e)[1]
        self.assertEqual(code(lambda: self.s3.list_objects_v2(Bucket=BUCKET, Prefix=self.prefix)), 503)
        self.assertEqual(code(lambda: self.s3.list_objects(Bucket=BUCKET, Prefix=self.prefix)), 200)
        self.assertEqual(code(lambda: self.s3.copy_object(Bucket=BUCKET, Key=self.key("n"),
                                                          CopySource={"Bucket": BUCKET, "Key": k})), 500)
        self.assertEqual(code(lambda: self.s3.put_object(Bucket=BUCKET, Key=self.key("n"), Body=b"n")), 200)
        self.assertEqual(code(lambda: self.s3.get_object(Bucket=BUCKET, Key=k, VersionId="null")), 412)
        self.assertEqual(code(lambda: self.s3.get_object(Bucket=BUCKET, Key=k)), 200)
        mpu = self.s3.create_multipart_upload(Bucket=BUCKET, Key=self.key("m.bin"))["UploadId"]
        self.s3.abort_multipart_upload(Bucket=BUCKET, Key=self.key("m.bin"), UploadId=mpu)
        self.assertEqual(code(lambda: self.s3.create_multipart_upload(Bucket=BUCKET, Key=self.key("m.tmp"))), 409)
        self.assertEqual([(r["id"], r["hits"]) for r in self.proxy.status()["rules"]],
                         [("v2", 1), ("copy", 1), ("version", 1), ("mpu", 1)])

    def test_awkward_keys_are_decoded_for_matching_and_the_log(self):
        k = self.key("a b+c%25 ü/=&?x")
        self.proxy.set_rules([faults.status(500, op="PutObject", key=re.escape(k), id="odd")])
        with self.assertRaises(botocore.exceptions.ClientError):
            self.s3.put_object(Bucket=BUCKET, Key=k, Body=b"odd")
        self.s3.put_object(Bucket=BUCKET, Key=k + "2", Body=b"odd")
        self.assertEqual(self.s3.get_object(Bucket=BUCKET, Key=k + "2")["Body"].read(), b"odd")
        self.assertEqual([(e["key"], e["client_status"]) for e in self.logged()],
                         [(k, 500), (k + "2", 200), (k + "2", 200)])

    def test_many_concurrent_connections_are_counted_right(self):
        s3 = client(self.proxy.endpoint, max_pool_connections=32)
        self.proxy.set_rules([faults.status(503, op="HeadObject", key=self.prefix + ".*", probability=0.2, seed=3,
                                            id="flaky")])
        refused = []

        def worker(i):
            k = self.key("c%02d" % i)
            for j in range(4):
                s3.put_object(Bucket=BUCKET, Key=k, Body=b"%d-%d" % (i, j))
                assert s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() == b"%d-%d" % (i, j)
                try:
                    s3.head_object(Bucket=BUCKET, Key=k)
                except botocore.exceptions.ClientError as e:
                    refused.append(error_code(e))
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(worker, range(32)))
        log = self.logged()
        self.assertEqual(len(log), 32 * 4 * 3)
        self.assertEqual(collections.Counter(e["op"] for e in log),
                         {"PutObject": 128, "GetObject": 128, "HeadObject": 128})
        self.assertGreater(len({e["conn"] for e in log}), 8)
        self.assertEqual(set(refused), {("503", 503)})  # boto3 names a HEAD error by its status
        self.assertEqual(self.proxy.hits("flaky"), len(refused))
        self.assertEqual(self.proxy.count(since=self.mark, client_status=503), len(refused))
        self.assertEqual(self.proxy.matched("flaky"), 128)

    def test_bad_rules_are_refused_with_the_reason_and_the_old_rules_stay(self):
        self.proxy.set_rules([faults.passthrough(op="GetObject", id="keep")])
        bad = [
            ({"action": "explode"}, "rules[0] (r1).action"),
            ({"action": "status"}, "action status needs 'code'"),
            ({"action": "status", "code": 99}, "rules[0] (r1).code"),
            ({"action": "delay", "ms": -1}, "rules[0] (r1).ms"),
            ({"action": "cut"}, "needs 'bytes'"),
            ({"action": "pass", "nht": 2}, "unknown field 'nht'"),
            ({"action": "pass", "nth": 0}, "rules[0] (r1).nth"),
            ({"action": "pass", "key": "("}, "rules[0] (r1).key: bad regex"),
            ({"action": "pass", "query": {"versionId": 1}}, "rules[0] (r1).query.versionId"),
            ({"action": "pass", "probability": 2}, ".probability"),
            ({"action": "hold", "then": {"action": "stall", "ms": 5}}, "stall can only open a rule"),
            ({"action": "drop_after", "close": "slam"}, ".close"),
            ({"action": "drop_after", "then": {"action": "pass"}}, "unknown field 'then'"),
        ]
        for rule, why in bad:
            with self.assertRaises(FaultProxyError) as cm:
                self.proxy.set_rules([rule])
            self.assertIn(why, str(cm.exception))
        with self.assertRaises(FaultProxyError) as cm:
            self.proxy.set_rules([faults.passthrough(id="x"), faults.passthrough(id="x")])
        self.assertIn("duplicate id(s) x", str(cm.exception))
        self.assertEqual([r["id"] for r in self.proxy.status()["rules"]], ["keep"])
        self.assertEqual(self.proxy.add_rules([faults.delay(1, then=faults.hold(5, then=faults.cut(0)))]), ["r2"])
        self.assertEqual([r["action"] for r in self.proxy.status()["rules"]], ["pass", "delay>hold>cut"])

    # ---- raw HTTP: chunked request bodies, malformed requests ----

    def raw(self, data, read_until_close=True):
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
            return out

    def test_chunked_request_bodies_are_framed_and_keep_alive_holds(self):
        k = self.key("raw")
        self.direct.put_object(Bucket=BUCKET, Key=k, Body=b"raw body")
        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": k})
        target = url.split(str(self.proxy.port), 1)[1]
        host = "127.0.0.1:%d" % self.proxy.port
        self.proxy.set_rules([faults.status(503, method="PUT", id="put")])
        body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\n"
        chunked = (b"PUT /%s/%s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                   % (BUCKET.encode(), k.encode(), host.encode())) + body
        get = b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target.encode(), host.encode())
        out = self.raw(chunked + get)
        self.assertTrue(out.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), out[:200])
        self.assertEqual(out.count(b"HTTP/1.1 "), 2, out)
        self.assertIn(b"HTTP/1.1 200 OK\r\n", out)
        self.assertTrue(out.endswith(b"raw body"), out[-100:])
        log = self.logged()
        self.assertEqual([(e["op"], e["req_bytes"], e["client_status"], e["n"]) for e in log],
                         [("PutObject", len(body), 503, 1), ("GetObject", 0, 200, 2)])
        # malformed requests get 400 and a closed connection; the proxy carries on
        for bad in (b"NOT HTTP\r\n\r\n", b"PUT /b/k HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                    b"PUT /b/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                    b"GET /b/k HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n"):
            out = self.raw(bad)
            if b"zz" in bad:  # the head was fine: the broken body is met after the answer began
                self.assertEqual(out, b"")
            else:
                self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out[:200])
                self.assertIn(b"<Code>InvalidRequest</Code>", out)
        self.assertEqual(self.s3.head_object(Bucket=BUCKET, Key=k)["ContentLength"], 8)

    # ---- resources and life ----

    def test_big_bodies_stream_through_bounded_memory(self):
        def peak_kib():
            with open("/proc/%d/status" % self.proxy.process.pid) as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        before = peak_kib()
        size = 16 << 20
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, "src"), os.path.join(tmp, "dst")
            with open(src, "wb") as f:
                f.write(payload(size, 8))
            rc, _, err = self.curl("-T", src, self.url(self.key("big")))
            self.assertEqual(rc, 0, err)
            rc, _, err = self.curl("-o", dst, self.url(self.key("big")))
            self.assertEqual(rc, 0, err)
            with open(src, "rb") as a, open(dst, "rb") as b:
                self.assertTrue(a.read() == b.read(), "the object came back unchanged")
        growth = peak_kib() - before
        self.assertLess(growth, 8 * 1024, "the proxy's peak RSS grew by %d KiB while 16 MiB went through "
                        "it each way" % growth)
        log = self.logged()
        self.assertEqual([(e["req_bytes"], e["sent_bytes"]) for e in log], [(size, 0), (0, size)])


class FaultProxyLifeTest(unittest.TestCase):
    def test_upstream_must_be_loopback(self):
        for upstream in ("http://10.1.2.3:80", "example.com:80"):
            with self.assertRaises(FaultProxyError) as cm:
                FaultProxy(upstream=upstream).start()
            self.assertIn("upstream", str(cm.exception))

    def test_sigterm_ends_the_proxy_with_a_request_held(self):
        with FaultProxy() as proxy:
            proxy.set_rules([faults.hold()])
            s3 = client(proxy.endpoint)
            failed = []

            def call():
                try:
                    s3.list_buckets()
                except FAILED_CALL as e:
                    failed.append(e)
            t = threading.Thread(target=call)
            t.start()
            proxy.wait_held()
            proxy.process.send_signal(15)
            self.assertEqual(proxy.process.wait(10), 0)
            t.join(30)
            self.assertEqual(len(failed), 1)

    def test_the_proxy_exits_when_its_parent_dies(self):
        parent = subprocess.Popen(
            [sys.executable, "-c", "import subprocess, sys, time\n"
             "p = subprocess.Popen([sys.executable, sys.argv[1], '--upstream', sys.argv[2]], stdout=subprocess.PIPE)\n"
             "print(p.pid, p.stdout.readline().decode().strip(), flush=True)\n",
             faults.PROXY_SCRIPT, ENV["SLUICE_S3_ENDPOINT"]], stdout=subprocess.PIPE)
        words = parent.stdout.readline().split()
        parent.wait(10)
        parent.stdout.close()
        pid = int(words[0])
        self.assertEqual(words[1], b"PORT")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except FileNotFoundError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            self.fail("the proxy outlived its parent by 10 s")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")  # boto3 leaves sockets to the GC
