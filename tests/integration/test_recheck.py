"""Re-checks end to end: the real daemon (mover_harness.Mover) against the local radosgw,
with a route that waits for a person (review: human) and a YARA rules file this test
writes; boto3 plays the interpreter, sluice-review the operator.

- An object that passes waits in review, its manifest naming the rule set that judged it
  (checked_with). The rules file then gains a rule that matches it and the daemon gets
  SIGHUP: the artifact is checked again from its quarantine copy, its manifest gains the
  "yara" finding and the new set's version, it is blocked (no longer approvable), and
  the audit log has a "recheck" record with the old and new versions and the finding.
  The clean one stays in review; approved, its attestation names the new set.
- A rules change that does not compile: the reload is refused, the old rules stay and
  nothing is checked again.
- `sluice-review recheck ID` checks one artifact again on demand (an operator only):
  a clean one stays in review, one the rules now match is blocked; one not in review is
  refused; one whose quarantine copy is not the bytes checked gets an error finding and
  stays in review (never a pass).
Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import json
import os
import pwd
import signal
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mover_harness as h  # noqa: E402
from mover_harness import REVIEW, STAGING, s3  # noqa: E402

# Built from halves, so this file's own bytes hold the markers only in the rules.
FIRST = "SLUICE-RECHECK-" + "FIRST-3a91"
LATER = "SLUICE-RECHECK-" + "LATER-7c02"
RULE = 'rule %s : test\n{\n    strings:\n        $m = "%s"\n    condition:\n        $m\n}\n'


class RecheckTest(h.MoverTest):
    def start_mover(self):
        """A Mover with a second route of its own: review human, YARA rules from self.rules."""
        self.rules = os.path.join(self.tmp, "recheck.yar")
        self.write_rules(RULE % ("first", FIRST))
        me = pwd.getpwuid(os.getuid()).pw_name
        run = uuid.uuid4().hex[:10]
        self.hroute = "h" + run
        route = {
            "name": self.hroute,
            "staging_prefix": f"pipeline-test/{run}/hin/",
            "trusted_prefix": f"pipeline-test/{run}/hout/",
            "review": "human",
            "require_task": False,
            "checks": {"rules": [self.rules], "allow_types": ["text/plain"], "check_extension": False,
                       "on_error": "review"},
        }
        m = self.mover = h.Mover(self.tmp, run, extra_routes=[route],
                                 review={"reviewers": [me], "operators": [me]})
        m.start()
        m.wait_until("the pipeline", lambda: "pipeline_started" in m.log_text())
        return m

    def tearDown(self):
        if self.mover is not None:  # the second route's quarantine copies too
            keys = h.list_keys(h.QUARANTINE, f"q/{self.hroute}/")
            if keys:
                s3.delete_objects(Bucket=h.QUARANTINE, Delete={"Objects": [{"Key": k} for k in keys]})
        super().tearDown()

    def write_rules(self, text):
        with open(self.rules, "w") as f:
            f.write(text)

    def upload(self, m, name, body):
        s3.put_object(Bucket=STAGING, Key=f"{m.prefix}hin/t1/{name}", Body=body, ContentType="text/plain")

    def manifest_of(self, m, name):
        for doc in m.manifests().values():
            if doc["name"] == name:
                return doc
        return None

    def wait_state(self, m, name, state):
        m.wait_until(f"{name} {state}", lambda: (self.manifest_of(m, name) or {}).get("state") == state,
                     timeout=60, describe=lambda: json.dumps(self.manifest_of(m, name))[-2000:])
        return self.manifest_of(m, name)

    def reload(self, m, event):
        before = m.log_text().count(event)
        m.proc.send_signal(signal.SIGHUP)
        m.wait_until(event, lambda: m.log_text().count(event) > before, timeout=60)

    def audit(self, m):
        with open(m.audit) as f:
            return [json.loads(line) for line in f if line.strip()]

    def recheck_cli(self, m, art_id):
        return subprocess.run([REVIEW, "recheck", art_id, "--socket", os.path.join(m.tmp, "api.sock"), "--json"],
                              capture_output=True, text=True, timeout=60)

    def test_a_reload_with_a_matching_rule_blocks_what_waits(self):
        m = self.start_mover()
        body = ("clean words\n" * 20 + LATER + "\n").encode()
        self.upload(m, "waits.txt", body)
        self.upload(m, "stays.txt", b"nothing to see here\n" * 10)
        before = self.wait_state(m, "waits.txt", "in_review")
        self.wait_state(m, "stays.txt", "in_review")
        self.assertRegex(before.get("checked_with", ""), r"^yara recheck\.yar@[0-9a-f]{12}$", before)
        self.assertFalse([f for f in before["findings"] if f["check"] == "yara" and f["verdict"] != "pass"])

        # a rules change that does not compile: refused, the old rules stay, nothing re-checked
        self.write_rules(RULE % ("first", FIRST) + "\nrule broken { condition: $nope }\n")
        self.reload(m, "reload_refused")
        time.sleep(1)
        self.assertNotIn("recheck_started", m.log_text())
        self.assertEqual(self.manifest_of(m, "waits.txt"), before)

        # a rule that matches the waiting artifact: checked again, blocked
        self.write_rules(RULE % ("first", FIRST) + "\n" + RULE % ("later", LATER))
        self.reload(m, "recheck_done")
        after = self.wait_state(m, "waits.txt", "blocked")
        hits = [f for f in after["findings"] if f["check"] == "yara" and f["verdict"] == "fail"]
        self.assertTrue(hits and "recheck.yar:later" in hits[0]["detail"], after["findings"])
        self.assertNotEqual(after["checked_with"], before["checked_with"])
        self.assertEqual(after["history"][-1]["from"], "in_review")
        self.assertEqual(after["history"][-1]["actor"], "mover")
        stays = self.manifest_of(m, "stays.txt")
        self.assertEqual(stays["state"], "in_review")
        self.assertEqual(stays["checked_with"], after["checked_with"])

        records = [r for r in self.audit(m) if r.get("event") == "recheck" and r.get("artifact") == after["id"]]
        self.assertEqual(len(records), 1, records)
        detail = records[0]["detail"]
        self.assertEqual((detail["old_version"], detail["new_version"], detail["outcome"]),
                         (before["checked_with"], after["checked_with"], "blocked"))
        self.assertEqual([f["check"] for f in detail["findings"]], ["yara"])
        blocks = [r for r in self.audit(m) if r.get("event") == "block" and r.get("artifact") == after["id"]]
        self.assertEqual([(r["from"], r["to"]) for r in blocks], [("in_review", "blocked")])
        # matched bytes never reach the audit log or the manifest
        with open(m.audit, "rb") as f:
            self.assertNotIn(LATER.encode(), f.read())
        self.assertNotIn(LATER, json.dumps(after))

        # a second reload with the same rules checks nothing again
        self.reload(m, "config_reloaded")
        time.sleep(1)
        self.assertEqual(m.log_text().count("recheck_started"), 1)
        # the one still in review is approved: its attestation names the set of its re-check
        r = subprocess.run([REVIEW, "approve", stays["id"], "--socket", os.path.join(m.tmp, "api.sock")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        trusted = f"{m.prefix}hout/t1/stays.txt"
        m.wait_until("the promotion", lambda: trusted in h.list_keys(h.TRUSTED, f"{m.prefix}hout/"), timeout=60)
        checks = s3.head_object(Bucket=h.TRUSTED, Key=trusted)["Metadata"]["sluice-checks"].split(",")
        self.assertIn("yara=" + after["checked_with"][len("yara "):], checks)
        self.assertEqual(m.stop(), 0, m.log_text()[-3000:])
        rc, out = m.audit_verify()
        self.assertEqual(rc, 0, out)

    def test_an_operator_rechecks_one_artifact(self):
        m = self.start_mover()
        self.upload(m, "one.txt", ("fine\n" * 10 + LATER + "\n").encode())
        self.upload(m, "two.txt", b"fine\n" * 10)
        one = self.wait_state(m, "one.txt", "in_review")
        two = self.wait_state(m, "two.txt", "in_review")
        # nothing changed: a re-check adds nothing and it stays in review
        r = self.recheck_cli(m, two["id"])
        self.assertEqual(r.returncode, 0, r.stderr + m.log_text()[-2000:])
        answer = json.loads(r.stdout)
        self.assertEqual((answer["state"], answer["findings"]), ("in_review", []), answer)
        # the rules file changes on disk, no reload: the rules in force still pass it
        self.write_rules(RULE % ("first", FIRST) + "\n" + RULE % ("later", LATER))
        r = self.recheck_cli(m, one["id"])
        self.assertEqual(json.loads(r.stdout)["state"], "in_review", r.stdout)
        # a re-check that cannot finish never passes: the quarantine copy is not the bytes
        # checked (another ETag): an error finding, still in review, the set not taken
        qkey = two["quarantine_key"]
        s3.put_object(Bucket=h.QUARANTINE, Key=qkey, Body=b"other bytes\n", ContentType="text/plain")
        r = self.recheck_cli(m, two["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        answer = json.loads(r.stdout)
        self.assertEqual(answer["state"], "in_review", answer)
        self.assertEqual([(f["check"], f["verdict"]) for f in answer["findings"]], [("recheck", "error")], answer)
        self.assertIn("could not be read", answer["findings"][0]["detail"])
        self.assertEqual(self.manifest_of(m, "two.txt")["checked_with"], two["checked_with"])
        # after a reload (which re-checks by itself too), the operator's re-check of an
        # artifact no longer in review is refused
        self.reload(m, "recheck_done")
        self.wait_state(m, "one.txt", "blocked")
        r = self.recheck_cli(m, one["id"])
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("not_in_review", r.stderr)
        r = self.recheck_cli(m, "0" * 32)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown_artifact", r.stderr)
        audit = [r for r in self.audit(m) if r.get("event") == "recheck"]
        self.assertEqual(sorted((r["artifact"], r["actor"]) for r in audit if r["actor"] != "mover"),
                         sorted([(two["id"], pwd.getpwuid(os.getuid()).pw_name)] * 2
                                + [(one["id"], pwd.getpwuid(os.getuid()).pw_name)]))
        # the reload's batch checked the one with the wrong bytes again: still not a pass
        self.assertEqual(self.manifest_of(m, "two.txt")["state"], "in_review")
        self.assertEqual(m.stop(), 0, m.log_text()[-3000:])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
