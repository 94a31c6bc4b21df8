#!/usr/bin/python3
"""bench_report.py — turns the raw result lines of scripts/bench-s3.sh into the
"S3 client" section of docs/benchmarks.md, and prints that section.

Input: --results, one line per run: labels (client=… rep=… [mode=…] [phase=…]) then the
benchmark's own key=value fields (op, concurrency, seconds, ops_per_s, cpu_user_s,
cpu_sys_s, cpu_ms_per_op, errors, [bytes, mb_per_s, sha256], server_cpu_s); --meta,
key=value lines about the machine, the versions and the run.

Output: the section between <!-- bench-s3:begin --> and <!-- bench-s3:end --> of --out
is replaced (the rest of the file is kept); a missing file is created with a title and
the section. Figures are medians over the repetitions with min–max beside them.

The two targets of the client (issue "Asynchronous S3 client"):
  1. throughput: per operation, sluice's best run (over repetitions and concurrencies)
     is at least the best run of the fastest other S3 client (boto3 for 1 KiB
     operations; boto3 and the AWS CLI for the large GET) — other people's work on a
     shared machine only slows runs down, so the best run is the least disturbed; the
     ratio of medians is shown too. wrk and curl are ceilings, not S3 clients.
  2. CPU: at most 1 core per 5,000 ops/s, i.e. at most 0.2 ms of CPU per operation,
     the median at the concurrency where sluice's median is highest (and shown for all).
"""

import argparse
import os
import re
import statistics
import sys

BEGIN = "<!-- bench-s3:begin -->"
END = "<!-- bench-s3:end -->"
OPS = ("put", "get", "copy", "delete")
OP_NAMES = {"put": "PutObject", "get": "GetObject", "copy": "CopyObject", "delete": "DeleteObject"}
CPU_TARGET_MS = 0.2  # 1 core per 5,000 ops/s
LARGE_MODES = [  # (client, mode, description, counts as an S3 client for the target)
    ("sluice", "stream", "sluice, one stream", True),
    ("sluice", "stream+sha256", "sluice, one stream, SHA-256 of the bytes", False),
    ("sluice", "ranges", "sluice, 8 MiB ranges, 8 in flight", True),
    ("boto3", "stream", "boto3, one stream (1 MiB reads)", True),
    ("boto3", "ranges", "boto3, 8 MiB ranges, 8 threads", True),
    ("aws-cli", "cp", "AWS CLI `s3 cp` to /dev/null (10 × 8 MiB parts; whole process)", True),
    ("curl", "stream", "curl, presigned URL, to /dev/null (ceiling)", False),
]


def parse_line(line):
    rec = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            rec[k] = v
    return rec


def num(rec, key):
    return float(rec[key])


def med(values):
    return statistics.median(values)


def fmt_range(values, digits=0):
    f = f"{{:,.{digits}f}}"
    m = f.format(med(values))
    if len(values) == 1:
        return m
    return f"{m} ({f.format(min(values))}–{f.format(max(values))})"


def run_cores(r):
    """Cores (CPU seconds per wall second) of the client, the server and everything else
    on the machine during one run."""
    secs = num(r, "seconds")
    client = (num(r, "cpu_user_s") + num(r, "cpu_sys_s")) / secs if "cpu_user_s" in r else 0.0
    server = num(r, "server_cpu_s") / secs
    machine = num(r, "machine_cpu_s") / secs if "machine_cpu_s" in r else client + server
    return {"client": client, "server": server, "others": max(0.0, machine - client - server)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    meta = {}
    with open(a.meta) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    with open(a.results) as f:
        recs = [parse_line(line) for line in f if line.strip()]

    errors = sum(int(r.get("errors", "0")) for r in recs)
    small = {}   # (client, op, c) -> [rec]
    large = {}   # (client, mode) -> [rec]
    stage = None
    for r in recs:
        if r.get("phase") == "stage":
            stage = r
        elif r["op"] == "get-large":
            large.setdefault((r["client"], r["mode"]), []).append(r)
        else:
            small.setdefault((r["client"], r["op"], int(r["concurrency"])), []).append(r)
    concurrencies = sorted({c for (_, _, c) in small})

    def vals(client, op, c, key):
        return [num(r, key) for r in small.get((client, op, c), [])]

    def cores(client, op, c, who):
        return [run_cores(r)[who] for r in small.get((client, op, c), [])]

    others_all = [run_cores(r)["others"] for r in recs
                  if r["client"] in ("sluice", "boto3") and "machine_cpu_s" in r and r.get("phase") != "stage"]

    out = []
    w = out.append
    w(BEGIN)
    w("## S3 client: sluice against boto3, the AWS CLI, curl and wrk (`scripts/bench-s3.sh`)")
    w("")
    w(f"Run {meta.get('date', '?')} on {meta.get('nproc', '?')} × {meta.get('cpu', '?')}, "
      f"{meta.get('mem_gib', '?')} GiB RAM, Linux {meta.get('kernel', '?')}; sluice at "
      f"`{meta.get('git', '?')}` built Release with {meta.get('cc', '?')}. "
      f"Load average {meta.get('load_before', '?')} before, {meta.get('load_after', '?')} after; "
      f"the whole run took {int(meta.get('runtime_s', '0')) // 60} min "
      f"{int(meta.get('runtime_s', '0')) % 60} s.")
    w("")
    w(f"Versions: {meta.get('radosgw', '?')}; {meta.get('curl', '?')} (libcurl "
      f"{meta.get('libcurl', '?')}), libuv {meta.get('libuv', '?')}, OpenSSL {meta.get('openssl', '?')}; "
      f"Python {meta.get('python', '?')}, boto3 {meta.get('boto3', '?')}; {meta.get('aws', '?')}; "
      f"{meta.get('wrk', '?')}.")
    w("")
    w("### Method")
    w("")
    w(f"- Server: a fresh `scripts/s3-server.sh` radosgw (beast, `tcp_nodelay=1`, memstore OSD) on "
      f"127.0.0.1, sharing the machine's {meta.get('nproc', '?')} cores with the clients. "
      "Everything runs as the mover identity on the staging bucket, plain HTTP, keep-alive.")
    w(f"- 1 KiB operations: {meta.get('count', '?')} operations per run at concurrency ≥ 8, "
      f"{meta.get('small_count', '?')} at concurrency 1; each client PUTs new keys, GETs them, "
      "COPYs them to new keys and DELETEs the originals (the copies are deleted afterwards, "
      "untimed). `sluice-s3-bench` (bench/s3_bench.c) keeps exactly C operations in flight on "
      "one libuv loop (HTTP `max_in_flight` = C, default retry policy); `bench/boto3_bench.py` "
      "runs C threads over one shared boto3 client (`max_pool_connections` ≥ C, standard "
      "retries). sluice and boto3 alternate who goes first in each repetition.")
    w("- Times: wall time of the timed part only (client created, connections not yet open); "
      "client CPU = user + system time of the benchmark process over the same span "
      "(getrusage); server CPU = user + system time of radosgw and ceph-osd over the run "
      "(/proc/PID/stat); others = all CPU time the machine was busy (/proc/stat) minus those "
      "two — other people's work on a shared machine. \"cores\" = CPU seconds per wall second.")
    w("- wrk replays one presigned GET of one 1 KiB key for 3 s with C connections: no "
      "signing, no XML, one hot object; it is the server's ceiling for GET, not an S3 client.")
    w(f"- Large GET: one {int(meta.get('large_bytes', '0')) // (1024 * 1024)} MiB object, bytes "
      "discarded (sluice: in its chunk callback). MB = 10⁶ bytes. The AWS CLI is timed as a "
      "whole process, start-up included (about 0.5 s of Python imports).")
    w(f"- {meta.get('reps', '?')} repetitions of the 1 KiB and wrk runs, {meta.get('large_reps', '?')} of "
      "the large GETs; figures are median (min–max). Before each timed run the script waited "
      "until the machine was nearly idle (< 0.4 cores busy in a 0.3 s window; 15 s at most per "
      f"run): {meta.get('quiet_waited_s', '?')} s of waiting in all, "
      f"{meta.get('quiet_gave_up', '?')} runs started without a quiet window.")
    w("")

    # ---- 1 KiB table ----
    w("### 1 KiB operations: ops/s and CPU")
    w("")
    w("| operation | C | sluice ops/s | boto3 ops/s | sluice ÷ boto3 | sluice CPU ms/op | "
      "boto3 CPU ms/op | sluice run: cores client / server / others | boto3 run: cores client / server / others |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for op in OPS:
        for c in concurrencies:
            s_ops, b_ops = vals("sluice", op, c, "ops_per_s"), vals("boto3", op, c, "ops_per_s")
            if not s_ops and not b_ops:
                continue
            ratio = f"{med(s_ops) / med(b_ops):.2f}" if s_ops and b_ops else "–"
            s_cpu, b_cpu = vals("sluice", op, c, "cpu_ms_per_op"), vals("boto3", op, c, "cpu_ms_per_op")

            def pair(client):
                cc, sc, oc = (cores(client, op, c, who) for who in ("client", "server", "others"))
                return f"{med(cc):.2f} / {med(sc):.2f} / {med(oc):.2f}" if cc else "–"
            w(f"| {OP_NAMES[op]} | {c} | {fmt_range(s_ops) if s_ops else '–'} | "
              f"{fmt_range(b_ops) if b_ops else '–'} | {ratio} | "
              f"{fmt_range(s_cpu, 3) if s_cpu else '–'} | {fmt_range(b_cpu, 2) if b_cpu else '–'} | "
              f"{pair('sluice')} | {pair('boto3')} |")
    w("")
    wrk_cs = [c for c in concurrencies if small.get(("wrk", "get", c))]
    if wrk_cs:
        w("Ceiling for GET (wrk, one presigned key): " + "; ".join(
            f"C={c}: {fmt_range(vals('wrk', 'get', c, 'ops_per_s'))} ops/s "
            f"(server {med(cores('wrk', 'get', c, 'server')):.2f} cores)" for c in wrk_cs) + ".")
        w("")

    # ---- large table ----
    big_mib = int(meta.get("large_bytes", "0")) // (1024 * 1024)
    w(f"### GET of a {big_mib} MiB object")
    w("")
    w("| client | MB/s | client CPU s | cores client / server / others |")
    w("|---|--:|--:|--:|")
    for client, mode, desc, _ in LARGE_MODES:
        rs = large.get((client, mode))
        if not rs:
            continue
        mbs = [num(r, "mb_per_s") for r in rs]
        cpu = [num(r, "cpu_user_s") + num(r, "cpu_sys_s") for r in rs]
        cs = [run_cores(r) for r in rs]
        w(f"| {desc} | {fmt_range(mbs)} | {fmt_range(cpu, 2)} | "
          f"{med([x['client'] for x in cs]):.2f} / {med([x['server'] for x in cs]):.2f} / "
          f"{med([x['others'] for x in cs]):.2f} |")
    w("")
    sha_note = ""
    if stage is not None:
        w(f"Staging the object: sluice PUT it in one request at {num(stage, 'mb_per_s'):,.0f} MB/s "
          f"({num(stage, 'seconds'):.1f} s, client CPU "
          f"{num(stage, 'cpu_user_s') + num(stage, 'cpu_sys_s'):.2f} s, mostly the SigV4 payload hash "
          "and copying the body).")
        hashes = {r.get("sha256") for r in large.get(("sluice", "stream+sha256"), [])}
        if hashes and stage.get("sha256"):
            same = hashes == {stage["sha256"]}
            sha_note = (f"The hashed GETs' SHA-256 {'equals' if same else 'DIFFERS from'} the SHA-256 "
                        f"of the bytes PUT (`{stage['sha256'][:16]}…`).")
            w(sha_note)
        w("")

    if others_all:
        w(f"Other processes on the machine used a median {med(others_all):.2f} cores "
          f"(max {max(others_all):.2f}) during the timed runs of sluice and boto3.")
        w("")

    # ---- targets ----
    w("### Targets")
    w("")
    w("Other people's work on a shared machine only ever slows a run down, so throughput is "
      "judged on each client's best run (over repetitions and concurrencies); the ratio of the "
      "medians is shown beside it. CPU is the median at the concurrency where sluice's median "
      "is highest.")
    w("")
    w("| operation | sluice: best run (C) | fastest other S3 client: best run (C) | ratio | "
      "ratio of medians | throughput target | sluice CPU | cores per 5,000 ops/s | CPU target | "
      "CPU ms/op over all C |")
    w("|---|--:|--:|--:|--:|:-:|--:|--:|:-:|--:|")
    verdicts = []
    for op in OPS:
        def best(client, agg):
            cands = [(agg(vals(client, op, c, "ops_per_s")), c) for c in concurrencies
                     if small.get((client, op, c))]
            return max(cands) if cands else None
        sb, ob = best("sluice", max), best("boto3", max)
        sm, om = best("sluice", med), best("boto3", med)
        if sb is None or ob is None:
            continue
        ratio = sb[0] / ob[0]
        t1 = ratio >= 1.0
        cpu = med(vals("sluice", op, sm[1], "cpu_ms_per_op"))
        t2 = cpu <= CPU_TARGET_MS
        all_cpu = [med(vals("sluice", op, c, "cpu_ms_per_op")) for c in concurrencies
                   if small.get(("sluice", op, c))]
        verdicts.append((op, t1, t2))
        w(f"| {OP_NAMES[op]} | {sb[0]:,.0f} ops/s ({sb[1]}) | boto3 {ob[0]:,.0f} ops/s ({ob[1]}) | "
          f"{ratio:.2f} | {sm[0] / om[0]:.2f} | {'met' if t1 else 'MISSED'} | "
          f"{cpu:.3f} ms/op (C={sm[1]}) | {cpu * 5:.2f} | {'met' if t2 else 'MISSED'} | "
          f"{min(all_cpu):.3f}–{max(all_cpu):.3f} |")

    def large_best(pick, agg):
        cands = [(agg([num(r, "mb_per_s") for r in large[(cl, mo)]]), desc)
                 for cl, mo, desc, counts in LARGE_MODES if counts and pick(cl) and (cl, mo) in large]
        return max(cands) if cands else None
    sb, ob = large_best(lambda cl: cl == "sluice", max), large_best(lambda cl: cl != "sluice", max)
    if sb and ob:
        sm, om = large_best(lambda cl: cl == "sluice", med), large_best(lambda cl: cl != "sluice", med)
        t1 = sb[0] >= ob[0]
        verdicts.append(("get-large", t1, True))
        ceiling = large.get(("curl", "stream"))
        ceil_txt = (f"; curl's ceiling {max(num(r, 'mb_per_s') for r in ceiling):,.0f} MB/s"
                    if ceiling else "")
        w(f"| GET {big_mib} MiB | {sb[0]:,.0f} MB/s ({sb[1].removeprefix('sluice, ')}) | "
          f"{ob[0]:,.0f} MB/s ({ob[1]}){ceil_txt} | {sb[0] / ob[0]:.2f} | {sm[0] / om[0]:.2f} | "
          f"{'met' if t1 else 'MISSED'} | – | – | – | – |")
    w("")
    missed = [v for v in verdicts if not (v[1] and v[2])]
    if errors:
        w(f"**{errors} operations failed during the run** (see the script's output); the figures above "
          "count them as completed.")
    elif not missed:
        w("Both targets are met for every operation: sluice is at least as fast as the fastest other "
          "S3 client, and stays under 1 core per 5,000 ops/s at its best concurrency.")
    else:
        w("Missed: " + "; ".join(
            f"{op} ({', '.join(t for t, ok in (('throughput', v1), ('CPU', v2)) if not ok)})"
            for op, v1, v2 in missed) + ". See \"Where the client's time goes\" below.")
    w("")
    w("Reproduce: `scripts/bench-s3.sh` (with `SLUICE_S3_PORT`/`SLUICE_MON_PORT` set when another "
      "local server holds the default ports). Raw lines: `build-bench/bench-s3-results.txt`.")
    w(END)
    section = "\n".join(out) + "\n"

    if os.path.exists(a.out):
        with open(a.out) as f:
            text = f.read()
        if BEGIN in text and END in text:
            text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?",
                          lambda _: section, text, count=1, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + section
    else:
        text = ("# Benchmarks\n\nMeasured figures of sluice's parts. Each section is written by the "
                "script it names; text outside the marked sections is kept when a script rewrites "
                "its own.\n\n" + section)
    with open(a.out, "w") as f:
        f.write(text)
    sys.stdout.write(section)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
