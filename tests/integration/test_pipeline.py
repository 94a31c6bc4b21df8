"""The mover pipeline end to end, against the local radosgw.

Interpreters are played by boto3 uploading into staging; `sluice-mover run` is the real
daemon binary (its path is argv[1], `sluice-review` argv[2]). Each test runs under its
own route name, staging/trusted prefixes and control prefix, so runs never see each
other's objects. Needs `eval "$(scripts/s3-server.sh env)"`.
"""

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

from mover_harness import (ENV, MOVER, REVIEW, PNG, QUARANTINE, STAGING, TRUSTED, Mover, MoverTest, elf_bytes,
                           list_keys, put_many, s3, sha256, zip_bytes)


class PipelineTest(MoverTest):
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
        m.start()
        # uploads that arrive after the route's first whole listing are new to this run:
        # they take the hot path without looks (what a run finds already there is
        # looked at first, since a run before it may have handled it)
        m.wait_until("the first listing", lambda: "first_listing_done" in m.log_text())
        put_many(items)
        m.wait_until("staging to empty", lambda: not list_keys(STAGING, m.prefix))
        m.wait_until("every artifact to settle",
                     lambda: len(list_keys(TRUSTED, m.prefix)) == len(good) and len(m.manifests()) == len(bad))
        self.assertEqual(m.stop(), 0, m.log_text()[-3000:])

        for name, (data, _) in good.items():
            self.assert_promoted(m, task, name, data)
        # every promoted object carries the mover's signed attestation: a consumer with
        # its own credentials verifies it (docs/attestation.md)
        consumer = {**{k: v for k, v in ENV.items() if not k.startswith("AWS_")},
                    "AWS_ACCESS_KEY_ID": ENV["SLUICE_CONSUMER_ACCESS_KEY"],
                    "AWS_SECRET_ACCESS_KEY": ENV["SLUICE_CONSUMER_SECRET_KEY"]}
        r = subprocess.run([REVIEW, "verify", "--all", "--json", "-c", m.config, f"s3://{TRUSTED}/{m.prefix}"],
                           capture_output=True, text=True, env=consumer)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        verdicts = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual(sorted(v["reason"] for v in verdicts if "object" in v),
                         ["verified"] * len(good), verdicts)
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
        # the S3 budget of the hot path, from the client's own request counter: on
        # versioned staging each upload is checked and promoted in place — GET by version,
        # HEAD trusted (radosgw ignores If-None-Match on CopyObject, so the probe keeps
        # the HEAD), copy by version to trusted, delete the version: 4, not 6
        stopped = [l for l in m.log_text().splitlines() if " stopped " in l][-1]
        self.assertIn(f"promoted={len(good)} ", stopped)
        self.assertIn(f"promoted_requests={4 * len(good)}", stopped)
        self.assertIn("mode=in_place", m.log_text())
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)
        # five transitions per promoted artifact, and each blocked one is recorded
        lines = [json.loads(l) for l in open(m.audit)]
        promoted = [l for l in lines if l.get("to") == "promoted"]
        self.assertEqual(len(promoted), len(good))
        self.assertEqual(len([l for l in lines if l.get("to") == "blocked"]), len(bad))

    def test_versions_found_at_start_look_at_trusted_once(self):
        # What is in staging when the mover starts may have been handled by a run before:
        # it is looked at first (manifest GET, trusted HEAD). That HEAD found the trusted
        # key free and nothing was copied to it since, so promote_head does not repeat it:
        # manifest look, trusted look, GET, copy, delete — 5 requests, not 6.
        m = self.new_mover()
        task = "t-" + uuid.uuid4().hex[:6]
        items = [(m.staging_key(task, f"r{i}.csv"), f"id,value\n{i},{i * 3}\n".encode(), "text/csv")
                 for i in range(6)]
        put_many(items)
        m.start()
        m.wait_until("every artifact to be promoted",
                     lambda: len(list_keys(TRUSTED, m.prefix)) == len(items) and not list_keys(STAGING, m.prefix))
        self.assertEqual(m.stop(), 0, m.log_text()[-3000:])
        stopped = [l for l in m.log_text().splitlines() if " stopped " in l][-1]
        self.assertIn(f"promoted={len(items)} ", stopped)
        self.assertIn(f"promoted_requests={5 * len(items)}", stopped)
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)

    def test_versions_of_one_key_found_at_start_promote_exactly_one(self):
        # Every version of one key is looked at before any is promoted: all their intake
        # HEADs find the trusted key free. The first promotion's copy voids those answers,
        # so every other version looks again, finds other bytes and fails: trusted holds
        # exactly one upload and exactly one promoted record exists.
        m = self.new_mover(concurrency=16)
        task, name = "race", "same.csv"
        key = m.staging_key(task, name)
        uploads = [f"id,value\n{i},{i * 11}\n".encode() for i in range(12)]
        for data in uploads:
            s3.put_object(Bucket=STAGING, Key=key, Body=data, ContentType="text/csv")
        m.start()
        m.wait_until("every upload to be accounted for",
                     lambda: len(list_keys(TRUSTED, m.prefix)) + len(m.manifests()) >= len(uploads)
                     and not s3.list_object_versions(Bucket=STAGING, Prefix=m.prefix).get("Versions"))
        self.assertEqual(m.stop(), 0, m.log_text()[-3000:])
        got = s3.get_object(Bucket=TRUSTED, Key=m.trusted_key(task, name))
        body = got["Body"].read()
        self.assertIn(body, uploads)
        self.assertEqual(got["Metadata"]["sluice-sha256"], sha256(body))
        states = [d["state"] for d in m.manifests().values()]
        self.assertEqual(states, ["failed"] * (len(uploads) - 1))
        lines = [json.loads(l) for l in open(m.audit)]
        promoted = [l for l in lines if l.get("to") == "promoted"]
        self.assertEqual(len(promoted), 1, promoted)
        self.assertEqual(got["Metadata"]["sluice-artifact"], promoted[0]["artifact"])
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)

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
        m = self.new_mover(log_format="json", review={"operators": ["root"]})
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
        # an operator who has cleared the trusted key sends the artifact back: it is
        # checked again and promoted; nobody else may, and only a failed one can be
        cfg = json.load(open(m.config))
        cfg["api"]["socket_mode"] = "0666"  # other local users reach it; the roles decide
        with open(m.config, "w") as f:
            json.dump(cfg, f)
        os.chmod(m.tmp, 0o711)
        socket = cfg["api"]["socket"]
        m.start()
        m.wait_until("the API socket", lambda: os.path.exists(socket))  # start() returns before it is bound
        s3.delete_object(Bucket=TRUSTED, Key=m.trusted_key(task, "same.csv"))
        artifact = doc["id"]
        r = subprocess.run(["runuser", "-u", "nobody", "--", REVIEW, "retry", artifact, "--socket", socket],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("403 forbidden", r.stderr)
        self.assertIn("review.operators", r.stderr)
        r = subprocess.run([REVIEW, "retry", artifact, "--reason", "cleared the trusted key", "--socket", socket],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m.wait_until("the promotion", lambda: list(m.manifests().values())[0]["state"] == "promoted")
        self.assertEqual(s3.get_object(Bucket=TRUSTED, Key=m.trusted_key(task, "same.csv"))["Body"].read(),
                         b"a,b\n1,2\n3,4\n")
        r = subprocess.run([REVIEW, "retry", artifact, "--socket", socket], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("409 not_failed", r.stderr)
        self.assertEqual(m.stop(), 0)
        lines = [json.loads(l) for l in open(m.audit)]
        retries = [l for l in lines if l["event"] == "retry"]
        self.assertEqual([(l["actor"], l["from"], l["to"]) for l in retries], [("root", "failed", "quarantined")])
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)

    def test_key_the_layout_cannot_hold_is_rejected_once(self):
        # Finding: a staging key whose quarantine key would pass S3's 1,024 bytes failed
        # again at every poll, with no manifest, finding or audit record. Now: rejected
        # once, with a key finding and a manifest, and the staging version deleted.
        m = self.new_mover(poll="100ms")
        task = "long"
        prefix_len = len(m.staging_key(task, ""))
        name = "n" * (1024 - prefix_len - 4) + ".csv"   # the staging key fits S3's limit ...
        key = m.staging_key(task, name)
        self.assertLessEqual(len(key.encode()), 1024)
        self.assertGreater(len(f"q/{m.route}/{task}/{'0' * 32}/{name}".encode()), 1024)  # ... its quarantine key not
        s3.put_object(Bucket=STAGING, Key=key, Body=b"a,b\n1,2\n", ContentType="text/csv")
        m.start()
        m.wait_until("the rejection", lambda: len(m.manifests()) == 1)
        time.sleep(2)  # twenty more polls: nothing more may happen to it
        self.assertEqual(m.stop(), 0)
        doc = list(m.manifests().values())[0]
        self.assertEqual(doc["state"], "rejected")
        self.assertEqual(doc["staging_key"], key)
        self.assertTrue(any(f["check"] == "key" and f["verdict"] == "fail" and "1024" in f["detail"].replace(",", "")
                            for f in doc["findings"]), doc["findings"])
        self.assertNotIn("quarantine_key", doc)  # nothing of it is kept
        self.assertEqual(list_keys(STAGING, m.prefix), [])
        self.assertEqual(s3.list_object_versions(Bucket=STAGING, Prefix=m.prefix).get("Versions", []), [])
        lines = [json.loads(l) for l in open(m.audit)]
        rejects = [l for l in lines if l.get("to") == "rejected"]
        self.assertEqual(len(rejects), 1, rejects)
        self.assertLess(m.log_text().count(doc["id"]), 10)  # no log line per poll
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)

    def test_unversioned_staging_on_a_server_without_conditional_deletes_is_refused(self):
        # radosgw 16 ignores If-Match on DeleteObject: on an unversioned staging bucket an
        # upload that replaced a key after its quarantine copy would be deleted unseen.
        # The start-up probe finds that out and the daemon refuses to run, naming the fix.
        bucket = "sluice-unversioned-" + uuid.uuid4().hex[:8]
        s3.create_bucket(Bucket=bucket)
        try:
            m = self.new_mover()
            cfg = json.load(open(m.config))
            cfg["buckets"]["staging"] = bucket
            with open(m.config, "w") as f:
                json.dump(cfg, f)
            m.start()
            rc = m.proc.wait(timeout=60)
            m.proc = None
            log = m.log_text()
            self.assertEqual(rc, 1, log[-2000:])
            self.assertIn("conditional_delete=ignored", log)
            self.assertIn("is not versioned and the server ignores If-Match on DeleteObject", log)
            self.assertIn(f"put-bucket-versioning --bucket {bucket}", log)
            # the probe's scratch keys are gone again
            self.assertEqual(list_keys(QUARANTINE, m.control + "probe/"), [])
        finally:
            s3.delete_bucket(Bucket=bucket)

    def test_overwrite_race_on_one_key_promotes_exactly_one_upload(self):
        # 200 writes on one key while the mover works: every write is a version of its
        # own and an artifact of its own; trusted holds exactly one upload's bytes, no
        # executable is ever promoted, and every other upload is accounted for.
        m = self.new_mover(concurrency=16)
        task, name = "race", "same.csv"
        key = m.staging_key(task, name)
        uploads = []
        for i in range(200):
            data = elf_bytes()[:2048] if i % 10 == 3 else f"id,value\n{i},{i * 7}\n".encode()
            uploads.append(data)
        m.start()
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda d: s3.put_object(Bucket=STAGING, Key=key, Body=d, ContentType="text/csv"), uploads))
        def counts():
            return (f"{len(list_keys(TRUSTED, m.prefix))} trusted, {len(m.manifests())} manifests, "
                    f"{len(s3.list_object_versions(Bucket=STAGING, Prefix=m.prefix).get('Versions', []))} versions left")
        m.wait_until("every upload to be accounted for",
                     lambda: len(list_keys(TRUSTED, m.prefix)) + len(m.manifests()) >= 200
                     and not s3.list_object_versions(Bucket=STAGING, Prefix=m.prefix).get("Versions"),
                     timeout=300, describe=counts)
        self.assertEqual(m.stop(), 0)
        self.assertEqual(list_keys(TRUSTED, m.prefix), [m.trusted_key(task, name)])
        got = s3.get_object(Bucket=TRUSTED, Key=m.trusted_key(task, name))
        body = got["Body"].read()
        self.assertIn(body, uploads)
        self.assertFalse(body.startswith(b"\x7fELF"))
        self.assertEqual(got["Metadata"]["sluice-sha256"], sha256(body))
        states = [d["state"] for d in m.manifests().values()]
        self.assertEqual(len(states), 199)
        self.assertEqual(states.count("blocked"), 20)   # the executables
        self.assertEqual(states.count("failed"), 179)   # the trusted key holds another upload: never overwritten
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)
        lines = [json.loads(l) for l in open(m.audit)]
        self.assertEqual(len({l["artifact"] for l in lines if l.get("to") == "promoted"}), 1)

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
