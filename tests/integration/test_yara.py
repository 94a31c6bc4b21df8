"""YARA rules end to end: the real daemon with a rules file this test writes, against the
local radosgw; boto3 plays the interpreter.

- A rule blocks its target (plain, and as a member of a zip: the finding names the
  member path) with a "yara" finding naming the rule and its tags; a near miss and a
  clean file are promoted, their attestations naming the YARA files' version (and
  libmagic's) in sluice-checks. The matched bytes never reach a manifest, the audit log or
  the daemon's log.
- A rules file that does not compile: the daemon does not start, and says which file
  and line; on reload it is refused and the old rules still judge; a reload with a new
  rule that compiles judges what arrives next with it.
Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_content  # noqa: E402  (the Daemon of the content checks' test)
from test_content import MOVER, STAGING, s3  # noqa: E402

# Built from halves, so this file's own bytes hold the marker only in the rule.
MARKER = b"SLUICE-YARA-" + b"INTEGRATION-4b7c"
NEAR = b"SLUICE-YARA-" + b"INTEGRATION-4b7d"
RULES = """rule sluice_integration_marker : test demo
{
    strings:
        $m = "%s"
    condition:
        $m
}
""" % MARKER.decode()


def zip_of(members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


class YaraTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-yara-")
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def rules_file(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def checks(self, rules):
        return {"rules": [rules], "on_error": "block", "check_extension": False,
                "embedded": {"archive": "ignore"}, "allow_types": ["text/plain", "application/zip"]}

    def test_a_rule_blocks_its_target_and_a_near_miss_is_promoted(self):
        d = self.daemon = test_content.Daemon(self.tmp, self.checks(self.rules_file("test.yar", RULES)))
        filler = b"words and more words\n" * 50
        uploads = {
            "target.txt": filler + MARKER + b"\n" + filler,
            "near.txt": filler + NEAR + b"\n" + filler,
            "clean.txt": filler,
            "bundle.zip": zip_of([("docs/a.txt", b"fine\n"), ("docs/inner.txt", filler + MARKER)]),
        }
        for name, body in uploads.items():
            s3.put_object(Bucket=STAGING, Key=d.staging_key(name), Body=body)
        d.start()
        d.wait_settled(len(uploads))
        manifests, promoted = d.manifests(), d.promoted()
        self.assertEqual(promoted, {"near.txt", "clean.txt"},
                         json.dumps({n: m["findings"] for n, m in manifests.items()})[-4000:])
        for name, words in (("target.txt", "rule test.yar:sluice_integration_marker [test, demo] matched"),
                            ("bundle.zip", "docs/inner.txt: rule test.yar:sluice_integration_marker")):
            self.assertEqual(manifests[name]["state"], "blocked", name)
            hits = [f for f in manifests[name]["findings"]
                    if f["check"] == "yara" and f["verdict"] == "fail" and words in f["detail"]]
            self.assertTrue(hits, f"{name}: " + json.dumps(manifests[name]["findings"]))
        # the attestation names the YARA files' version that judged it, and libmagic's
        meta = s3.head_object(Bucket=test_content.TRUSTED, Key=d.trusted_key("clean.txt"))["Metadata"]
        checks = meta["sluice-checks"].split(",")
        self.assertTrue(any(re.fullmatch(r"yara=test\.yar@[0-9a-f]{12}", c) for c in checks), checks)
        self.assertTrue([c for c in checks if c.startswith("type=libmagic%20")], checks)
        self.assertEqual(d.stop(), 0, d.log_text()[-3000:])
        # findings never leak: the matched bytes are nowhere the daemon wrote
        with open(d.audit, "rb") as f:
            self.assertNotIn(MARKER, f.read())
        self.assertNotIn(MARKER, json.dumps(manifests).encode())
        self.assertNotIn(MARKER, d.log_text().encode())

    def test_a_rules_file_that_does_not_compile_stops_the_start(self):
        bad = self.rules_file("bad.yar", "rule fine { condition: true }\n\nrule broken { condition: $nope }\n")
        d = self.daemon = test_content.Daemon(self.tmp, self.checks(bad))
        run = subprocess.run([MOVER, "run", "-c", d.config], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(run.returncode, 0)
        out = run.stdout + run.stderr
        self.assertIn(bad + ":3: ", out)
        self.assertIn("$nope", out)
        check = subprocess.run([MOVER, "check-config", "-c", d.config], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(check.returncode, 0)
        self.assertIn(bad + ":3: ", check.stdout + check.stderr)

    def reload(self, d, event):
        """SIGHUP, then until the log has `event` once more than before."""
        before = d.log_text().count(event)
        d.wait_handles(signal.SIGHUP)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 60
        while d.log_text().count(event) == before and time.time() < deadline:
            self.assertIsNone(d.proc.poll(), d.log_text()[-3000:])
            time.sleep(0.1)
        self.assertGreater(d.log_text().count(event), before, d.log_text()[-3000:])

    def test_a_reload_compiles_new_rules_and_keeps_the_old_ones_when_they_do_not_compile(self):
        path = self.rules_file("test.yar", RULES)
        d = self.daemon = test_content.Daemon(self.tmp, self.checks(path))
        second = b"SLUICE-YARA-" + b"SECOND-RULE-91e0"
        d.start()
        deadline = time.time() + 60
        while "pipeline_started" not in d.log_text() and time.time() < deadline:
            self.assertIsNone(d.proc.poll(), d.log_text())
            time.sleep(0.1)
        # a rule that does not compile: refused, the file and line named, the old rules judge
        self.rules_file("test.yar", RULES + "\nrule broken { condition: $nope }\n")
        self.reload(d, "reload_refused")
        self.assertIn(path + ":9: ", d.log_text())
        s3.put_object(Bucket=STAGING, Key=d.staging_key("old.txt"), Body=b"x " + MARKER + b"\n")
        d.wait_settled(1)
        self.assertEqual(d.manifests()["old.txt"]["state"], "blocked")
        # a new rule that compiles judges what arrives after the reload
        self.rules_file("test.yar", RULES + '\nrule second { strings: $s = "%s" condition: $s }\n' % second.decode())
        self.reload(d, "config_reloaded")
        s3.put_object(Bucket=STAGING, Key=d.staging_key("new.txt"), Body=b"y " + second + b"\n")
        d.wait_settled(2)
        found = [f for f in d.manifests()["new.txt"]["findings"] if f["check"] == "yara"]
        self.assertEqual([(f["verdict"], f["detail"]) for f in found], [("fail", "rule test.yar:second matched")])
        self.assertEqual(d.stop(), 0, d.log_text()[-3000:])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
