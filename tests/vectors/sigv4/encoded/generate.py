#!/usr/bin/python3
"""generate.py — writes the expected files of the encoded-URI SigV4 cases from botocore.

Each case is a request given to sluice's signer already percent-encoded (the query
string, or an S3 path, as written in a URI). What it must sign is what the same request
signs to when given raw: botocore's S3SigV4Auth computes that here from the raw
parameters (a dict, quoted by botocore itself) and the canonically encoded path, at the
fixed time of the S3 API Reference examples. Run with Debian's python3 (python3-botocore):

    /usr/bin/python3 tests/vectors/sigv4/encoded/generate.py
"""
import datetime
import json
import os
import urllib.parse

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "examplebucket.s3.amazonaws.com"
CREDS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
WHEN = datetime.datetime(2013, 5, 24, 0, 0, 0)
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# name: (the request target as given to sluice, encoded; the raw path; the raw
# parameters; what is encoded: "query" or "path")
CASES = {
    "utf8-query": ("/?%E1%88%B4=Value1", "/", [("\u1234", "Value1")], "query"),
    "utf8-query-lower-hex": ("/?%e1%88%b4=Value1", "/", [("\u1234", "Value1")], "query"),
    "unreserved-encoded": ("/?%41%62%7e%2D=%5F%2e", "/", [("Ab~-", "_.")], "query"),
    "reserved-stay-encoded": ("/?prefix=a%2Fb%20c&marker=x%3Dy%26z%25",
                              "/", [("prefix", "a/b c"), ("marker", "x=y&z%")], "query"),
    "no-value-and-empty-value": ("/?acl&versionId=", "/", [("acl", ""), ("versionId", "")], "query"),
    "plus-is-a-plus": ("/?q=a+b%2Bc", "/", [("q", "a+b+c")], "query"),
    "repeated-names-sorted-by-value": ("/?k=%62&k=a&K=c", "/", [("k", "b"), ("k", "a"), ("K", "c")], "query"),
    "s3-path-encoded": ("/my%20photo%E2%9C%93.jpg", "/my photo\u2713.jpg", [], "path"),
    "s3-path-reserved-and-percent": ("/dir%2fa%3Fb%25c%2B.txt", "/dir/a?b%c+.txt", [], "path"),
    "s3-path-and-query-encoded": ("/a%20b?uploadId=VXBs%2Fb2Fk&partNumber=2",
                                  "/a b", [("uploadId", "VXBs/b2Fk"), ("partNumber", "2")], "both"),
}


def canonical_path(raw):
    return urllib.parse.quote(raw, safe="/-_.~")


def sign(raw_path, params, query_mode):
    qs = "&".join(urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~")
                  for k, v in params)
    url = "https://" + HOST + canonical_path(raw_path) + ("?" + qs if qs else "")
    req = AWSRequest(method="GET", url=url, headers={"Host": HOST})
    if query_mode:
        auth = S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=86400)
    else:
        req.headers["X-Amz-Content-SHA256"] = EMPTY
        auth = S3SigV4Auth(CREDS, "s3", "us-east-1")
    req.context["timestamp"] = WHEN.strftime("%Y%m%dT%H%M%SZ")
    auth._get_datetime = lambda: WHEN  # noqa: the examples' fixed time
    canonical = auth.canonical_request(req) if not query_mode else None
    if query_mode:
        auth.add_auth(req)
        return req
    auth._modify_request_before_signing(req)
    canonical = auth.canonical_request(req)
    sts = auth.string_to_sign(req, canonical)
    sig = auth.signature(sts, req)
    return canonical, sts, sig


def write(folder, name, text):
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


def main():
    for name, (target, raw_path, params, what) in CASES.items():
        folder = os.path.join(HERE, name)
        os.makedirs(folder, exist_ok=True)
        ctx = {
            "credentials": {"access_key_id": CREDS.access_key, "secret_access_key": CREDS.secret_key},
            "region": "us-east-1", "service": "s3", "timestamp": "2013-05-24T00:00:00Z",
            "normalize": False, "sign_body": True,
            "query_encoded": what in ("query", "both"), "path_encoded": what in ("path", "both"),
        }
        write(folder, "context.json", json.dumps(ctx, indent=4) + "\n")
        write(folder, "request.txt", f"GET {target} HTTP/1.1\nHost:{HOST}\n")
        canonical, sts, sig = sign(raw_path, params, False)
        write(folder, "header-canonical-request.txt", canonical)
        write(folder, "header-string-to-sign.txt", sts)
        write(folder, "header-signature.txt", sig)
        print(name, sig)


if __name__ == "__main__":
    main()
