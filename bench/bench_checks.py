"""The content checks' benchmark harness (scripts/bench-checks.sh runs it).

1. sluice-checks-bench (bench/checks_bench.c): rules-only, embedded-only and SHA-256
   rates on memory (GB per CPU-second), CPU per 1 KiB artifact with rules on and off.
2. A 1 GiB object of CSV-like text through the real daemon on an `auto` route with
   every check (SHA-256, libmagic, the embedded-content scan, the default rules),
   against curl GET of the same object, alternating, in the same run: MB/s of the
   check (audit `check` record to the verdict) and of the GET.

3. ClamAV (--clamd-mib, needs SLUICE_CLAMD_SOCKET with a StreamMaxLength above the
   object): the same kind of object through the daemon on a route whose only content
   scanner beyond SHA-256 and libmagic is clamd (INSTREAM), against curl GET of the same
   object, alternating, in the same run.
4. Archives (--archive-mib): a tar of 4 KiB text files through the daemon on a route
   that inspects archives (every member typed, scanned and ruled), against curl GET.

Prints a Markdown section and writes it into docs/benchmarks.md between
<!-- checks-bench:begin --> and <!-- checks-bench:end --> (and 3-4 between
<!-- checks-bench-scanners:begin --> and <!-- checks-bench-scanners:end -->).
"""

import argparse
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime

import boto3

MIB = 1024 * 1024


def log(msg):
    print(f"bench-checks: {msg}", file=sys.stderr, flush=True)


def mmm(values, digits=1):
    if not values:
        return "—"
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def iso_ms(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def memory_bench(a):
    out = subprocess.run([a.checks_bench, a.rules, str(a.scan_mib), str(a.reps), str(a.artifacts)],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def text_body(size):
    line = b"".join(b"%d,row%d,%d,abcdefghij,%d\n" % (i, i, i * 7, i % 97) for i in range(4096))
    reps = size // len(line) + 1
    return (line * reps)[:size]


def s3_client():
    env = os.environ
    return boto3.client("s3", endpoint_url=env["SLUICE_S3_ENDPOINT"], region_name=env["SLUICE_S3_REGION"],
                        aws_access_key_id=env["SLUICE_MOVER_ACCESS_KEY"],
                        aws_secret_access_key=env["SLUICE_MOVER_SECRET_KEY"])


def tar_body(size):
    """A tar of 4 KiB text files, about `size` bytes."""
    out = io.BytesIO()
    member = text_body(4096)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        i = 0
        while out.tell() < size - 8192:
            info = tarfile.TarInfo(f"d{i // 1000}/f{i}.csv")
            info.size = len(member)
            t.addfile(info, io.BytesIO(member))
            i += 1
    return out.getvalue(), i


def large_bench(a):
    return run_against_curl(a, "large", text_body(a.large_mib * MIB), "blob.csv", "text/csv",
                            {"max_bytes": "2GiB", "allow_types": ["text/csv", "text/plain"],
                             "rules": [os.path.abspath(a.rules)]}, {})


def clamd_bench(a):
    return run_against_curl(a, "clamd", text_body(a.clamd_mib * MIB), "blob.csv", "text/csv",
                            {"max_bytes": "2GiB", "allow_types": ["text/csv", "text/plain"], "clamav": True},
                            {"clamav": {"socket": os.environ["SLUICE_CLAMD_SOCKET"], "timeout": "600s",
                                        "max_bytes": "2GiB"}})


def archive_bench(a):
    body, members = tar_body(a.archive_mib * MIB)
    a.archive_members = members
    return run_against_curl(a, "archive", body, "files.tar", "application/x-tar",
                            {"max_bytes": "2GiB", "allow_types": ["text/csv", "text/plain", "application/x-tar"],
                             "check_extension": False, "embedded": {"archive": "ignore"},
                             "archives": {"max_members": 1000000, "max_bytes": "2GiB"}}, {})


def run_against_curl(a, kind, data, name, ctype, checks, sections):
    s3 = s3_client()
    env = os.environ
    staging, trusted = env["SLUICE_BUCKET_STAGING"], env["SLUICE_BUCKET_TRUSTED"]
    size = len(data)
    src = f"bench-checks/src/{name}"
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
        body = f.name
    del data
    log(f"staging the {size / MIB:.0f} MiB object ({kind})")
    s3.upload_file(body, staging, src, ExtraArgs={"ContentType": ctype})
    os.unlink(body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": staging, "Key": src}, ExpiresIn=3600)
    records = []
    for rep in range(1, a.reps + 1):
        for what in (("curl", "sluice") if rep % 2 else ("sluice", "curl")):
            if what == "curl":
                t0 = time.monotonic()
                subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", url], check=True)
                secs = time.monotonic() - t0
                records.append(dict(kind=kind, tool="curl", rep=rep, mb_s=size / 1e6 / secs))
                log(f"curl GET rep {rep}: {size / 1e6 / secs:.0f} MB/s")
            else:
                records.append(sluice_once(a, s3, staging, trusted, src, size, rep, kind, name, checks, sections))
    s3.delete_object(Bucket=staging, Key=src)
    return records


def signing_key(a, tmp):
    prefix = os.path.join(tmp, "attest")
    subprocess.run([a.mover, "keygen", "-o", prefix], check=True, capture_output=True)
    return prefix + ".key"


def sluice_once(a, s3, staging, trusted, src, size, rep, kind, name, checks, sections):
    env = os.environ
    tmp = tempfile.mkdtemp(prefix="sluice-bench-checks-")
    run = f"bc{rep}{int(time.time()) % 100000}"
    sp, tp = f"bench-checks/{run}/in/", f"bench-checks/{run}/out/"
    s3.copy_object(Bucket=staging, Key=sp + "t1/" + name, CopySource={"Bucket": staging, "Key": src})
    cfg = {
        "s3": {"endpoint": env["SLUICE_S3_ENDPOINT"], "region": env["SLUICE_S3_REGION"],
               "credentials": {"file": env["SLUICE_S3_CREDENTIALS"], "profile": "mover"}},
        "buckets": {"staging": staging, "quarantine": env["SLUICE_BUCKET_QUARANTINE"], "trusted": trusted,
                    "control_prefix": f"bench-checks/{run}/control/"},
        "routes": [{"name": run, "staging_prefix": sp, "trusted_prefix": tp, "review": "auto", "require_task": False,
                    "checks": checks}],
        "audit": {"file": os.path.join(tmp, "audit.jsonl")},
        "attest": {"signing_key": signing_key(a, tmp)},
        "api": {"socket": os.path.join(tmp, "api.sock")},
        "worker": {"poll_interval": "500ms"},
        "log": {"level": "warn"},
        **sections,
    }
    path = os.path.join(tmp, "sluice.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proc = subprocess.Popen([a.mover, "run", "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    audit = os.path.join(tmp, "audit.jsonl")
    deadline = time.time() + 900
    recs = []
    while time.time() < deadline:
        if os.path.exists(audit):
            with open(audit) as f:
                recs = [json.loads(line) for line in f if line.strip()]
            if any(r.get("event") in ("promoted", "blocked") for r in recs):
                break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    check = next(i for i, r in enumerate(recs) if r.get("event") == "check")
    verdict = recs[check + 1]
    secs = iso_ms(verdict["time"]) - iso_ms(recs[check]["time"])
    if verdict.get("to") != "approved":
        sys.exit(f"bench-checks: the benchmark object was not approved: {json.dumps(recs[-3:])}")
    for bucket, prefix in ((trusted, tp), (staging, sp)):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=o["Key"])
    log(f"sluice check ({kind}) rep {rep}: {size / 1e6 / secs:.0f} MB/s")
    return dict(kind=kind, tool="sluice", rep=rep, mb_s=size / 1e6 / secs)


def report(a, mem, large):
    scans = [r for r in mem if r["kind"] == "scan"]
    arts = [r for r in mem if r["kind"] == "artifact"]
    lines = ["<!-- checks-bench:begin -->", "## Content checks (scripts/bench-checks.sh)", ""]
    lines.append(f"Run {datetime.now():%Y-%m-%d} on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.0f} at the "
                 f"end: a shared machine, so absolute MB/s say little; the ratios do); medians of {a.reps} repetitions "
                 f"(min–max). Scan rates are GB per CPU-second of the scanning thread (the machine is shared, so "
                 f"CPU time is the fair measure), over {a.scan_mib} MiB in 256 KiB buffers as the checker gives them.")
    lines += ["", "| scanner | CSV-like text, GB/CPU-s | random bytes, GB/CPU-s |", "|---|---|---|"]
    for name, label in (("rules", f"rules only ({scans[0]['rules'] if scans else '?'} default rules)"),
                        ("embedded", "embedded-content scan only"), ("sha256", "SHA-256 (for scale)")):
        sel = [r for r in scans if r["scanner"] == name]
        lines.append(f"| {label} | {mmm([r['text_gb_s'] for r in sel], 2)} | {mmm([r['random_gb_s'] for r in sel], 2)} |")
    lines += ["", f"CPU per 1 KiB artifact through the whole streaming checker ({a.artifacts} artifacts, 32 in flight): "
              f"rules on {mmm([r['cpu_us_rules_on'] for r in arts])} µs, rules off "
              f"{mmm([r['cpu_us_rules_off'] for r in arts])} µs."]
    if large:
        s = [r["mb_s"] for r in large if r["tool"] == "sluice"]
        c = [r["mb_s"] for r in large if r["tool"] == "curl"]
        ratio = statistics.median(s) / statistics.median(c) if s and c else 0
        lines += ["", f"{a.large_mib} MiB of CSV-like text through the daemon on an `auto` route with every check "
                  f"(SHA-256, libmagic, embedded scan, default rules): {mmm(s, 0)} MB/s; curl GET of the same "
                  f"object in the same run: {mmm(c, 0)} MB/s; ratio of medians {ratio:.2f} (goal ≥ 0.8)."]
    lines += ["", "Reproduce: `scripts/bench-checks.sh` (set `SLUICE_S3_PORT`/`SLUICE_MON_PORT` when another "
              "local server holds the default ports).", "<!-- checks-bench:end -->"]
    return "\n".join(lines) + "\n"


def scanners_report(a, recs):
    lines = ["<!-- checks-bench-scanners:begin -->", "### ClamAV and archives through the daemon (scripts/bench-checks.sh)",
             "", f"Run {datetime.now():%Y-%m-%d} on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.0f} at "
             f"the end: a shared machine); the object goes through the real daemon on an `auto` route (the audit "
             f"log's `check` record to the verdict) and, alternating in the same run, through curl GET of the same "
             f"object from the local radosgw; MB/s, medians of {a.reps} repetitions (min–max).", "",
             "| object | route's content checks | sluice, MB/s | curl GET, MB/s | ratio of medians |", "|---|---|---|---|---|"]
    rows = (("clamd", f"{a.clamd_mib} MiB of CSV-like text", "SHA-256, libmagic, ClamAV (clamd INSTREAM)"),
            ("archive", f"{a.archive_mib} MiB tar of {getattr(a, 'archive_members', 0):,} files of 4 KiB",
             "SHA-256, libmagic, embedded scan, archive members inspected (type, embedded scan)"))
    for kind, obj, what in rows:
        s = [r["mb_s"] for r in recs if r["kind"] == kind and r["tool"] == "sluice"]
        c = [r["mb_s"] for r in recs if r["kind"] == kind and r["tool"] == "curl"]
        if not s:
            continue
        ratio = statistics.median(s) / statistics.median(c) if c else 0
        lines.append(f"| {obj} | {what} | {mmm(s, 0)} | {mmm(c, 0)} | {ratio:.2f} |")
    s = [r["mb_s"] for r in recs if r["kind"] == "archive" and r["tool"] == "sluice"]
    if s:
        per_s = [getattr(a, "archive_members", 0) / (a.archive_mib * MIB / 1e6 / x) for x in s]
        lines += ["", f"Archive members inspected per second: {mmm(per_s, 0)}."]
    lines += ["", "Reproduce: `SLUICE_BENCH_CLAMD_MIB=256 SLUICE_BENCH_ARCHIVE_MIB=100 scripts/bench-checks.sh`.",
              "<!-- checks-bench-scanners:end -->"]
    return "\n".join(lines) + "\n"


def write_section(doc, section, name):
    text = open(doc).read() if os.path.exists(doc) else ""
    pat = re.compile(r"<!-- %s:begin -->.*<!-- %s:end -->\n?" % (name, name), re.S)
    text = pat.sub(lambda m: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
    with open(doc, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--checks-bench", required=True)
    p.add_argument("--mover", required=True)
    p.add_argument("--rules", required=True)
    p.add_argument("--doc", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--scan-mib", type=int, default=256)
    p.add_argument("--artifacts", type=int, default=20000)
    p.add_argument("--large-mib", type=int, default=1024)
    p.add_argument("--clamd-mib", type=int, default=0)
    p.add_argument("--archive-mib", type=int, default=0)
    p.add_argument("--skip-memory", action="store_true", help="only the ClamAV and archive runs")
    a = p.parse_args()
    if not a.skip_memory:
        mem = memory_bench(a)
        large = large_bench(a) if a.large_mib > 0 else []
        section = report(a, mem, large)
        print(section)
        write_section(a.doc, section, "checks-bench")
    recs = (clamd_bench(a) if a.clamd_mib > 0 else []) + (archive_bench(a) if a.archive_mib > 0 else [])
    if recs:
        section = scanners_report(a, recs)
        print(section)
        write_section(a.doc, section, "checks-bench-scanners")


if __name__ == "__main__":
    main()
