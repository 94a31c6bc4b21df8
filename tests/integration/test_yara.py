"""YARA rules end to end: the real daemon with a rules file this test writes, against the
local radosgw; boto3 plays the interpreter.

- A rule blocks its target (plain, and as a member of a zip: the finding names the
  member path) with a "yara" finding naming the rule and its tags; a near miss and a
  clean file are promoted, their attestations naming the YARA files' version (and
  libmagic's) in sluice-checks. The matched bytes never reach a manifest, the audit log or
  the daemon's log.
- A rules file that does not compile: the daemon does not start, and says which file
  and line.
Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import io
import json
import re
import os
import shutil
import subprocess
import sys
import tempfile
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


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
