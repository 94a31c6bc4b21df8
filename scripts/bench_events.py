"""bench_events.py — drop → trusted latency with S3 event push and with polling only, side by
side in one run (scripts/bench-events.sh runs it and writes the table).

For each mode and repetition a fresh sluice-mover (tests/integration/mover_harness.py's
`Mover`, an auto-review route) runs against the local radosgw:
  push     an events section on SLUICE_EVENTS_LISTEN (radosgw's topic pushes there; the
           staging bucket's notification is added for the run), the poll interval 60 s:
           uploads arrive by event;
  polling  no events section, poll_interval 1 s (no idle back-off): uploads are found by
           the listing;
  clamav   push, and the route's objects also scanned by ClamAV (checks.clamav, the clamd of
           SLUICE_CLAMD_SOCKET: scripts/clamd.sh), when that is set: drop → verdict with a
           malware scan, the figure the ClamAV bucket scanners are judged by.
An upload is one PUT of a small CSV (boto3, the interpreter's part); its latency runs from
the PUT's answer (the client's clock) to the daemon's `promoted` log line (its clock, the
same machine's, milliseconds: the copy into trusted has succeeded), with a random pause
of 0–200 ms between uploads so they fall anywhere in the poll cycle. Per
repetition: p50 and p99 of N uploads; the report gives the median of the repetitions and
their min–max.

Usage: bench_events.py SLUICE_MOVER SLUICE_REVIEW REPS UPLOADS (needs the server's env)
"""
import calendar
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from mover_harness import ENV, TRUSTED, STAGING, Mover, s3, staging_notification  # noqa: E402

REPS, UPLOADS = int(sys.argv[3]), int(sys.argv[4])


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def one_run(mode):
    tmp = tempfile.mkdtemp(prefix="sluice-bench-events-")
    kw = {"poll": "1s", "worker_settings": {"poll_idle_max": "1s"}} if mode == "polling" else {
        "poll": "60s", "worker_settings": {"poll_idle_max": "60s"},
        "events": {"listen": ENV["SLUICE_EVENTS_LISTEN"], "secret_file": ENV["SLUICE_EVENTS_SECRET_FILE"]}}
    if mode == "clamav":
        kw.update(route_checks={"clamav": True}, clamav={"socket": ENV["SLUICE_CLAMD_SOCKET"]})
    m = Mover(tmp, uuid.uuid4().hex[:10], **kw)
    try:
        m.start()
        m.wait_until("the daemon's start", lambda: "first_listing_done" in m.log_text(), timeout=30)
        time.sleep(0.5)
        dropped = {}
        for i in range(UPLOADS):
            key = m.staging_key(uuid.uuid4().hex[:8], "b.csv")
            s3.put_object(Bucket=STAGING, Key=key, Body=b"a,b\n%d,2\n" % i, ACL="bucket-owner-full-control")
            dropped[key] = time.time()
            time.sleep(random.uniform(0, 0.2))
        promoted = {}
        m.wait_until("every upload promoted", lambda: len(promoted_at(m, promoted)) == UPLOADS, timeout=60)
        out = [(promoted[k] - t) * 1000 for k, t in dropped.items()]
        return percentile(out, 0.5), percentile(out, 0.99)
    finally:
        m.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def promoted_at(m, into):
    """The daemon's `promoted` log lines: staging key -> when the copy into trusted had
    succeeded (the line's time, ms)."""
    for line in m.log_text().splitlines():
        if " info promoted " in line:
            key = line.split(" key=", 1)[1].split(" ", 1)[0]
            stamp = line.split(" ", 1)[0]
            into[key] = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float(stamp[19:23])
    return into


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


results = {}
staging_notification(True)  # for this run only (docs/events.md)
for rep in range(REPS):
    modes = ("push", "polling", "clamav") if ENV.get("SLUICE_CLAMD_SOCKET") else ("push", "polling")
    for mode in modes:  # alternated, so drift hits each
        p50, p99 = one_run(mode)
        results.setdefault(mode, {"p50": [], "p99": []})
        results[mode]["p50"].append(p50)
        results[mode]["p99"].append(p99)
        print(f"run {rep + 1} {mode}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", file=sys.stderr, flush=True)
staging_notification(False)
print(json.dumps({mode: {k: summary(v) for k, v in r.items()} for mode, r in results.items()}))
