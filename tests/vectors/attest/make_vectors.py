#!/usr/bin/env python3
"""Writes the attestation test vectors of this folder from each case's facts.json, with
an implementation of its own: Python's json module for the canonical statement (sorted
keys, no white space, UTF-8 — what RFC 8785 gives for these values), percent-encoding
and base64 from the standard library, and the `openssl` command for the Ed25519
signature over the DSSE pre-authentication encoding. The C code (mover/attest/) must
reproduce every file byte for byte (tests/test_attest.c). Run it from anywhere:
    python3 tests/vectors/attest/make_vectors.py
Files of a case: facts.json (input), statement.json, pae.bin, envelope.json,
metadata.txt ("name: value" lines, in the order sluice writes them), metadata-bytes.txt
(what S3 counts against its 2 KiB limit)."""

import base64
import datetime
import hashlib
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = os.path.join(HERE, "signing.key")
PUB = os.path.join(HERE, "signing.pub")
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def pct(text):
    out = []
    for b in text.encode():
        if b < 0x21 or b > 0x7E or b in b"%,=":
            out.append(f"%{b:02X}")
        else:
            out.append(chr(b))
    return "".join(out)


def key_id():
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", PUB, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def statement(f):
    times = {name: rfc3339(f["times"][name]) for name in ("quarantined", "checked", "decided", "signed")
             if f["times"].get(name)}
    predicate = {
        "artifact": f["artifact"], "task": f["task"], "route": f["route"], "stagingKey": f["staging_key"],
        "checks": [({"name": c["name"], "version": c["version"]} if c.get("version") else {"name": c["name"]})
                   for c in f["checks"]],
        "findings": f["findings"], "decision": f["decision"], "reviewers": f["reviewers"], "times": times,
    }
    if f.get("media_type"):
        predicate["mediaType"] = f["media_type"]
    return canonical({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": f["trusted_key"], "digest": {"sha256": f["sha256"]}}],
        "predicateType": "https://sluice.dev/attestation/promotion/v1",
        "predicate": predicate,
    })


def pae(body):
    t = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def sign(message):
    with tempfile.NamedTemporaryFile() as m, tempfile.NamedTemporaryFile() as s:
        m.write(message)
        m.flush()
        subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", KEY, "-rawin", "-in", m.name, "-out", s.name],
                       check=True)
        with open(s.name, "rb") as fh:
            return fh.read()


def common_suffix(a, b):
    n = 0
    while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def metadata(f, kid, sig):
    staging, trusted = f["staging_key"].encode(), f["trusted_key"].encode()
    n = common_suffix(staging, trusted)
    t = f["times"]
    checks = ",".join(pct(c["name"]) + ("=" + pct(c["version"]) if c.get("version") else "") for c in f["checks"])
    return [
        ("sluice-sha256", f["sha256"]),
        ("sluice-artifact", pct(f["artifact"])),
        ("sluice-task", pct(f["task"])),
        ("sluice-route", pct(f["route"])),
        ("sluice-decision", pct(f["decision"])),
        ("sluice-attestation", "1"),
        ("sluice-staging", f"{n}/" + "".join(pct(chr(b)) if b < 0x80 else f"%{b:02X}" for b in staging[:len(staging) - n])),
        ("sluice-checks", checks),
        ("sluice-findings", str(f["findings"])),
        ("sluice-reviewers", ",".join(pct(r) for r in f["reviewers"]) or "-"),
        ("sluice-times", ",".join(str(t[k]) if t.get(k) else "-" for k in ("quarantined", "checked", "decided", "signed"))),
        ("sluice-subject", hashlib.sha256(trusted).hexdigest()[:16]),
        ("sluice-keyid", kid),
        ("sluice-signature", base64.b64encode(sig).decode()),
    ]


def main():
    kid = key_id()
    for case in sorted(os.listdir(HERE)):
        folder = os.path.join(HERE, case)
        if not os.path.isfile(os.path.join(folder, "facts.json")):
            continue
        with open(os.path.join(folder, "facts.json"), encoding="utf-8") as fh:
            f = json.load(fh)
        body = statement(f)
        sig = sign(pae(body))
        envelope = canonical({"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(body).decode(),
                              "signatures": [{"keyid": kid, "sig": base64.b64encode(sig).decode()}]})
        meta = metadata(f, kid, sig)
        files = {"statement.json": body, "pae.bin": pae(body), "envelope.json": envelope,
                 "metadata.txt": "".join(f"{k}: {v}\n" for k, v in meta).encode(),
                 "metadata-bytes.txt": b"%d\n" % sum(len(k) + len(v) for k, v in meta)}
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as out:
                out.write(data)
        print(f"{case}: statement {len(body)} bytes, metadata {sum(len(k) + len(v) for k, v in meta)} bytes")


if __name__ == "__main__":
    main()
