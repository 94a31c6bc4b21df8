"""The artifact protocol under S3 faults: one test per way the promise broke before the
protocol was made a table (issue "The artifact protocol made explicit and proven"), each
with the real daemon talking to the real radosgw through the request-aware fault proxy
(tests/integration/s3_fault_proxy.py), and a kill test with faults on at the same time.

What every test checks in the end is the promise itself: every upload ends in exactly
one place (trusted with its id, a manifest, or deleted-as-rejected with its record), is
judged once (one terminal record per artifact in the audit log), and only the bytes that
were checked reach trusted. Needs `eval "$(scripts/s3-server.sh env)"`; argv[1] and
argv[2] are sluice-mover and sluice-review.
"""

import collections
import json
import random
import sys
import time
import unittest
import uuid

from faults import FaultProxy, cut, delay, hold, status, timeout_after, drop_after
from mover_harness import (ENV, STAGING, TRUSTED, MoverTest, elf_bytes, list_keys, put_many, s3, sha256,
                           zip_bytes)

TERMINAL = ("promoted", "blocked", "rejected", "expired", "purged")

# Faster failures than production: a request's first byte within 1 s, a retry budget of a
# few seconds, so a test sees the budget run out without waiting 30 s.
FAST = {"first_byte_timeout": "1s", "retry_budget": "3s"}


def versions_left(m):
    return s3.list_object_versions(Bucket=STAGING, Prefix=m.prefix).get("Versions", [])


def audit_lines(m):
    with open(m.audit) as f:
        return [json.loads(line) for line in f]


class ProtocolFaultTest(MoverTest):
    def setUp(self):
        super().setUp()
        self.proxy = FaultProxy().start()

    def tearDown(self):
        super().tearDown()
        self.proxy.stop()

    def faulty_mover(self, s3_settings=None, **kw):
        return self.new_mover(endpoint=self.proxy.endpoint, s3_settings={**FAST, **(s3_settings or {})}, **kw)

    def wait_first_listing(self, m):
        m.wait_until("the first listing", lambda: "first_listing_done" in m.log_text())

    def assert_judged_once(self, m):
        """One terminal record per artifact, never two different final states."""
        finals = collections.defaultdict(list)
        for line in audit_lines(m):
            if line.get("artifact") and line.get("to") in TERMINAL and line.get("to") != "purged":
                finals[line["artifact"]].append(line["to"])
        for artifact, states in finals.items():
            self.assertEqual(len(states), 1, f"{artifact} recorded {states}")
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)
        return finals

    # ---- 1. a copy that timed out may still have happened ----

    def test_a_copy_that_timed_out_but_happened_is_promoted(self):
        # Every copy to trusted reaches the server and takes effect, but its answer never
        # comes back in time (as with radosgw paused): the mover must look, find its own
        # object in trusted and record the promotion — never write a `failed` manifest.
        m = self.faulty_mover()
        self.proxy.set_rules([timeout_after(3000, op="CopyObject", bucket=TRUSTED, limit=40, id="copy")])
        m.start()
        self.wait_first_listing(m)
        task, data = "t1", b"id,value\n1,2\n"
        s3.put_object(Bucket=STAGING, Key=m.staging_key(task, "out.csv"), Body=data, ContentType="text/csv")
        m.wait_until("the promotion", lambda: "promoted artifact=" in m.log_text() and not versions_left(m), timeout=120)
        self.assertEqual(m.stop(), 0)
        self.assertGreaterEqual(self.proxy.hits("copy"), 1)
        self.assertEqual(m.manifests(), {})  # never `failed`
        self.assert_promoted(m, task, "out.csv", data)
        finals = self.assert_judged_once(m)
        self.assertEqual(list(finals.values()), [["promoted"]])

    # ---- 2. the same artifact judged twice ----

    def check_delete_503_after_promotion(self, in_place):
        m = self.faulty_mover(worker_settings={"check_in_place": in_place}, retention="1h")
        # the clean-up after the promotion is refused (503 SlowDown) for longer than the
        # budget: the artifact is promoted; what it left is only cleaned up later
        source_bucket = STAGING if in_place else ENV["SLUICE_BUCKET_QUARANTINE"]
        source_keys = m.prefix + ".*" if in_place else f"q/{m.route}/.*"  # not the probe's scratch keys
        self.proxy.set_rules([status(503, "SlowDown", op="DeleteObject", bucket=source_bucket, key=source_keys,
                                     first=1000, id="del")])
        m.start()
        self.wait_first_listing(m)
        task, data = "t2", b"a,b\n1,2\n"
        s3.put_object(Bucket=STAGING, Key=m.staging_key(task, "x.csv"), Body=data, ContentType="text/csv")
        m.wait_until("the promotion", lambda: "promoted artifact=" in m.log_text(), timeout=120)
        self.proxy.wait_hits("del", n=3)
        self.proxy.clear_rules()
        m.wait_until("the clean-up", lambda: not versions_left(m) and not m.quarantine_keys(), timeout=120)
        time.sleep(1)  # a few more polls and sweeps: nothing may judge it again
        self.assertEqual(m.stop(), 0)
        self.assert_promoted(m, task, "x.csv", data)
        finals = self.assert_judged_once(m)
        self.assertEqual(list(finals.values()), [["promoted"]])
        self.assertEqual(m.manifests(), {})
        cleanups = [l for l in audit_lines(m) if l["event"] == "cleanup"]
        self.assertGreaterEqual(len(cleanups), 1)

    def test_a_refused_clean_up_after_promotion_is_never_judged_again_in_place(self):
        self.check_delete_503_after_promotion(in_place=True)

    def test_a_refused_clean_up_after_promotion_is_never_judged_again_quarantine_first(self):
        self.check_delete_503_after_promotion(in_place=False)

    def test_failing_reads_and_deletes_leave_one_failed_artifact_never_blocked_then_promoted(self):
        # The check GET fails throughout the budget and so does the staging delete: the
        # artifact is `failed` (kept in quarantine, visible) — never `blocked` — and the
        # version found again in staging is only cleaned up, never judged again.
        m = self.faulty_mover()
        task = "t3"
        key = m.staging_key(task, "y.csv")
        self.proxy.set_rules([status(500, "InternalError", op="GetObject", bucket=STAGING, id="get"),
                              status(503, "SlowDown", op="DeleteObject", bucket=STAGING, id="del")])
        m.start()
        self.wait_first_listing(m)
        s3.put_object(Bucket=STAGING, Key=key, Body=b"a,b\n3,4\n", ContentType="text/csv")
        m.wait_until("the failed manifest", lambda: len(m.manifests()) == 1, timeout=120)
        self.proxy.wait_hits("del", n=2)
        self.proxy.clear_rules()
        m.wait_until("the clean-up", lambda: not versions_left(m), timeout=120)
        time.sleep(1)
        self.assertEqual(m.stop(), 0)
        doc = list(m.manifests().values())[0]
        self.assertEqual(doc["state"], "failed")
        self.assertTrue(any(f["check"] == "read" and f["verdict"] == "error" for f in doc["findings"]), doc["findings"])
        self.assertEqual(list_keys(TRUSTED, m.prefix), [])
        self.assertEqual(len(m.quarantine_keys()), 1)  # kept for an operator
        lines = audit_lines(m)
        self.assertEqual([l["to"] for l in lines if l.get("to") in ("blocked", "promoted", "failed")], ["failed"])

    # ---- 3. the staging delete deletes only what was taken in ----

    def check_replacement_while_the_delete_is_held(self, in_place):
        m = self.faulty_mover(worker_settings={"check_in_place": in_place})
        task, name = "t4", "r.csv"
        key = m.staging_key(task, name)
        first, second = b"first,upload\n1,2\n", b"second,upload\n3,4\n"
        self.proxy.set_rules([hold(op="DeleteObject", bucket=STAGING, first=1, id="del")])
        m.start()
        self.wait_first_listing(m)
        s3.put_object(Bucket=STAGING, Key=key, Body=first, ContentType="text/csv")
        self.proxy.wait_held(rule="del", timeout=60)
        # while the mover's delete of the first upload is held, the key is replaced
        s3.put_object(Bucket=STAGING, Key=key, Body=second, ContentType="text/csv")
        self.proxy.release(rule="del")
        m.wait_until("both uploads to be accounted for",
                     lambda: not versions_left(m) and len(list_keys(TRUSTED, m.prefix)) + len(m.manifests()) == 2,
                     timeout=120)
        self.assertEqual(m.stop(), 0)
        # the first is promoted; the second is an artifact of its own, never deleted
        # unseen: it is recorded, and (its trusted key being taken) kept as failed
        self.assert_promoted(m, task, name, first)
        docs = list(m.manifests().values())
        self.assertEqual(len(docs), 1)
        self.assertEqual(docs[0]["state"], "failed")
        self.assertEqual(docs[0]["sha256"], sha256(second))
        self.assert_judged_once(m)

    def test_a_replacement_during_the_delete_is_a_new_artifact_in_place(self):
        self.check_replacement_while_the_delete_is_held(in_place=True)

    def test_a_replacement_during_the_delete_is_a_new_artifact_quarantine_first(self):
        self.check_replacement_while_the_delete_is_held(in_place=False)

    # ---- 4. a cut or failed GET is retried, not judged ----

    def test_cut_reads_are_read_again_not_blocked(self):
        m = self.faulty_mover(s3_settings={"retry_budget": "30s"})
        data = ("id,value\n" + "".join(f"{i},{i * i}\n" for i in range(3000))).encode()  # ~30 KB
        self.proxy.set_rules([cut(2000, op="GetObject", bucket=STAGING, first=3, id="cut")])
        m.start()
        self.wait_first_listing(m)
        s3.put_object(Bucket=STAGING, Key=m.staging_key("t5", "big.csv"), Body=data, ContentType="text/csv")
        m.wait_until("the promotion", lambda: "promoted artifact=" in m.log_text(), timeout=120)
        self.assertEqual(m.stop(), 0)
        self.assertEqual(self.proxy.hits("cut"), 3)
        self.assert_promoted(m, "t5", "big.csv", data)
        self.assertEqual(m.manifests(), {})

    def test_a_slowdown_spell_of_two_seconds_does_not_exhaust_the_budget(self):
        m = self.faulty_mover(s3_settings={"retry_budget": "30s"})
        self.proxy.set_rules([status(503, "SlowDown", op="GetObject", bucket=STAGING, first=8, id="slow")])
        m.start()
        self.wait_first_listing(m)
        started = time.time()
        s3.put_object(Bucket=STAGING, Key=m.staging_key("t6", "s.csv"), Body=b"a,b\n1,2\n", ContentType="text/csv")
        m.wait_until("the promotion", lambda: "promoted artifact=" in m.log_text(), timeout=120)
        spell = time.time() - started
        self.assertEqual(m.stop(), 0)
        self.assertEqual(self.proxy.hits("slow"), 8)
        self.assertGreater(spell, 1.0)  # eight SlowDowns take their time; none of them judged it
        self.assert_promoted(m, "t6", "s.csv", b"a,b\n1,2\n")

    # ---- 6. a stale listing never re-admits a settled key ----

    def test_a_stale_listing_never_readmits_settled_keys(self):
        m = self.faulty_mover(poll="100ms")
        # every listing answer is held back, so it arrives after the artifacts it lists
        # have ended: the guard must not take them in again
        self.proxy.set_rules([delay(800, op="ListObjectVersions", id="list")])
        m.start()
        self.wait_first_listing(m)
        items = [(m.prefix + f"in/notask-{i}.csv", b"a,b\n1,2\n", "text/csv") for i in range(10)]  # no task: rejected
        items += [(m.staging_key("t7", f"ok-{i}.csv"), f"a,b\n{i},2\n".encode(), "text/csv") for i in range(10)]
        put_many(items)
        m.wait_until("all 20 to settle", lambda: not versions_left(m)
                     and len(list_keys(TRUSTED, m.prefix)) == 10 and len(m.manifests()) == 10, timeout=120)
        time.sleep(2.5)  # three more delayed listings
        self.assertEqual(m.stop(), 0)
        finals = self.assert_judged_once(m)
        self.assertEqual(sorted(s for v in finals.values() for s in v), ["promoted"] * 10 + ["rejected"] * 10)
        # nothing listed late was taken in again: each upload was read (GET) once
        self.proxy.settle()
        gets = collections.Counter(r["key"] for r in self.proxy.requests(op="GetObject", bucket=STAGING))
        self.assertTrue(all(n == 1 for n in gets.values()), gets)
        admitted = [l for l in audit_lines(m) if l.get("to") in ("checking", "rejected")]
        self.assertEqual(len(admitted), 20, [l["artifact"] for l in admitted])

    # ---- the kill test, with faults on at the same time ----

    def test_kill_nine_a_hundred_times_with_faults_loses_and_duplicates_nothing(self):
        rng = random.Random(int(ENV.get("SLUICE_TEST_SEED", "0")) or None)
        seed = rng.randrange(1 << 30)
        m = self.faulty_mover(concurrency=16, s3_settings={"retry_budget": "2s"})
        self.proxy.set_rules([
            status(503, "SlowDown", probability=0.04, seed=seed, id="slowdown"),
            drop_after(op="CopyObject", probability=0.05, seed=seed + 1, id="copy-dropped"),
            cut(60, op="GetObject", probability=0.05, seed=seed + 2, id="cut"),
            timeout_after(1500, op="DeleteObject", probability=0.03, seed=seed + 3, id="delete-timeout"),
        ])
        objects, items = {}, []
        for i in range(300):
            task = f"k{i % 5}"
            bad = i % 20 == 0
            name = f"bad-{i:03}.csv" if bad else f"part-{i:03}.csv"
            data = zip_bytes() if bad else (f"row,{i}\n" * (1 + i % 7)).encode()
            objects[(task, name)] = data
            items.append((m.staging_key(task, name), data, "text/csv"))
        put_many(items)
        kills = 0
        while kills < 100:
            m.start()
            time.sleep(rng.uniform(0.05, 0.5))
            m.kill()
            kills += 1
        hits = {r: self.proxy.hits(r) for r in ("slowdown", "copy-dropped", "cut", "delete-timeout")}
        self.proxy.clear_rules()
        m.start()
        bad = {k for k in objects if k[1].startswith("bad-")}

        def counts():
            return (f"{len(list_keys(TRUSTED, m.prefix))} trusted of {len(objects) - len(bad)}, "
                    f"{len(m.manifests())} manifests of {len(bad)}, {len(versions_left(m))} versions in staging")
        m.wait_until("every artifact to settle",
                     lambda: not versions_left(m) and len(list_keys(TRUSTED, m.prefix)) == len(objects) - len(bad)
                     and len(m.manifests()) == len(bad), timeout=600, describe=counts)
        self.assertEqual(m.stop(), 0)
        artifacts = set()
        for (task, name), data in objects.items():
            if name.startswith("bad-"):
                continue
            artifact = self.assert_promoted(m, task, name, data)  # the checked bytes, with their id
            self.assertNotIn(artifact, artifacts)
            artifacts.add(artifact)
        self.assertEqual({(d["task"], d["name"]) for d in m.manifests().values() if d["state"] == "blocked"}, bad)
        finals = self.assert_judged_once(m)
        self.assertEqual({a for a, s in finals.items() if s == ["promoted"]}, artifacts)
        self.assertTrue(all(n > 0 for n in hits.values()), hits)  # every kind of fault happened
        print(f"\n{kills} kills, faults {hits}: {len(artifacts)} promoted, {len(bad)} blocked, "
              f"0 lost, 0 duplicated", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
