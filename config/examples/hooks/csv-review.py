#!/usr/bin/env python3
"""csv-review.py — a review hook that reads the bytes itself (docs/hooks.md).

Approves a CSV file of at most 1 MiB whose rows all have as many fields as its header,
after downloading it from the short-lived URL on stdin and checking that its SHA-256 is
the one sluice named; asks a person to decide about anything else. The answer always
names the artifact id and SHA-256 from the environment (SLUICE_ARTIFACT, SLUICE_SHA256):
sluice ignores answers about other bytes. Any exception exits non-zero, which sluice also
takes as "a person decides".
"""
import csv
import hashlib
import io
import json
import os
import sys
import urllib.request

MAX_BYTES = 1 << 20
ARTIFACT = os.environ["SLUICE_ARTIFACT"]
SHA256 = os.environ["SLUICE_SHA256"]


def answer(decision, reason):
    print(json.dumps({"artifact": ARTIFACT, "sha256": SHA256, "decision": decision, "reason": reason}))
    sys.exit(0)


doc = json.load(sys.stdin)
manifest = doc["manifest"]
if manifest.get("id") != ARTIFACT or manifest.get("sha256") != SHA256:
    answer("review", "the manifest on stdin is about another artifact")
if manifest.get("size", MAX_BYTES + 1) > MAX_BYTES:
    answer("review", f"larger than {MAX_BYTES} bytes")
with urllib.request.urlopen(doc["content_url"], timeout=20) as response:
    data = response.read(MAX_BYTES + 1)
if hashlib.sha256(data).hexdigest() != SHA256:
    answer("review", "the bytes downloaded are not the bytes sluice checked")
try:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
except (UnicodeDecodeError, csv.Error) as e:
    answer("review", f"not a CSV file: {e}")
if len(rows) < 2 or any(len(row) != len(rows[0]) for row in rows):
    answer("review", "not a CSV file with a header and rows of equal width")
answer("approve", f"CSV, {len(rows) - 1} rows of {len(rows[0])} fields, SHA-256 verified")
