"""bench_cluster.py — several movers: objects/s with one and two movers on one server, and
the idle CPU of one mover with 100 routes (scripts/bench-cluster.sh runs it; docs/scaling.md
and docs/benchmarks.md hold the figures).

Throughput: the movers start first (with a `cluster` section they wait until S3 shows the
shards split between them), then N × 1 KiB CSV objects are uploaded by boto3 (32 threads)
and the time runs from the first upload to the last `promoted` log line of any mover (the
movers stamp their lines; same clock). Uploading is inside the time for every variant
alike. Variants, interleaved per repetition:
  1 mover           no cluster section
  1 mover, leases   a cluster section (shards 8, lease_ttl 3s): what the leases cost
  2 movers, leases  the same configuration twice, distinct cluster.name
CPU: utime + stime of each mover from /proc/PID/stat over the same span.

Idle: one mover with 100 routes and nothing staged, default worker settings
(poll_interval 2s, no back-off without an events section), CPU over the window after a
warm-up; without a cluster section, with one at its defaults (shards 4, lease_ttl 15s: 400
leases), and with shards 1 (100 leases).

Usage: bench_cluster.py MOVER REVIEW [--objects N] [--reps R] [--idle-seconds S] [--only throughput|idle]
Needs `eval "$(scripts/s3-server.sh env)"`.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

args_p = argparse.ArgumentParser()
args_p.add_argument("mover")
args_p.add_argument("review")
args_p.add_argument("--objects", type=int, default=1000)
args_p.add_argument("--reps", type=int, default=3)
args_p.add_argument("--idle-seconds", type=int, default=30)
args_p.add_argument("--idle-warmup", type=int, default=5)
args_p.add_argument("--only", choices=["throughput", "idle"], help="run one part only")
ARGS = args_p.parse_args()
sys.argv = [sys.argv[0], ARGS.mover, ARGS.review]

from mover_harness import TRUSTED, Mover, list_keys, put_many, s3  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def log_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def events(m):
    return [json.loads(line) for line in m.log_text().splitlines() if line.startswith("{")]


def make(run, name, cluster, **kw):
    tmp = tempfile.mkdtemp(prefix=f"sluice-bench-cluster-{name}-")
    m = Mover(tmp, run, log_format="json", **kw)
    if cluster is not None:
        with open(m.config) as f:
            cfg = json.load(f)
        cfg["cluster"] = dict(cluster, name=name)
        cfg["log"]["level"] = "info"
        with open(m.config, "w") as f:
            json.dump(cfg, f)
    return m


def throughput(variant, n):
    run = uuid.uuid4().hex[:10]
    count = 2 if variant == "2 movers, leases" else 1
    cluster = None if variant == "1 mover" else {"shards": 8, "lease_ttl": "3s"}
    movers = [make(run, f"bench-{i}", cluster, poll="1s", concurrency=32,
                   worker_settings={"poll_jitter": "0ms"}) for i in range(count)]
    try:
        for m in movers:
            m.start()
        if cluster is not None:
            deadline = time.time() + 30
            while time.time() < deadline:
                held = list(movers[0].leases().values())
                if len(held) == 8 and all(held.count(m_name) == 8 // count
                                          for m_name in (f"bench-{i}" for i in range(count))):
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"{variant}: the shards were not split in 30 s")
        else:
            time.sleep(1.5)  # the probe and the first listing
        cpu0 = [cpu_seconds(m.proc.pid) for m in movers]
        items = [(movers[0].staging_key(f"t{i % 40}", f"obj-{i:05}.csv"),
                  (f"id,value\n{i},{i * i}\n" + "x" * 1000)[:1024].encode(), "text/csv") for i in range(n)]
        started = time.time()
        put_many(items, threads=32)
        deadline = time.time() + 600
        while time.time() < deadline:
            done = sum(1 for m in movers for e in events(m) if e["event"] == "promoted")
            if done >= n:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{variant}: only {done} of {n} promoted in time")
        cpu1 = [cpu_seconds(m.proc.pid) for m in movers]
        last = max(log_time(e["time"]) for m in movers for e in events(m) if e["event"] == "promoted")
        per = [sum(1 for e in events(m) if e["event"] == "promoted") for m in movers]
        for m in movers:
            if m.stop() != 0:
                raise SystemExit(f"{variant}: a mover did not stop cleanly")
        trusted = len(list_keys(TRUSTED, movers[0].prefix))
        if trusted != n or sum(per) != n:
            raise SystemExit(f"{variant}: {trusted} in trusted, {sum(per)} promotions logged, {n} uploaded")
        elapsed = last - started
        cpu_ms = 1000 * sum(b - a for a, b in zip(cpu0, cpu1)) / n
        return n / elapsed, cpu_ms, per
    finally:
        movers[0].cleanup()
        for m in movers:
            if m.proc is not None:
                m.kill()
            shutil.rmtree(m.tmp, ignore_errors=True)


def idle(with_cluster, seconds, warmup):
    run = uuid.uuid4().hex[:10]
    extra = [{"name": f"r{run}-{i:03}", "staging_prefix": f"pipeline-test/{run}/in{i:03}/",
              "trusted_prefix": f"pipeline-test/{run}/out{i:03}/", "review": "auto", "require_task": False}
             for i in range(1, 100)]
    m = make(run, "idle", with_cluster, poll="2s", extra_routes=extra)
    with open(m.config) as f:
        cfg = json.load(f)
    cfg["worker"] = {}  # every worker default (poll_interval 2s)
    cfg["log"]["level"] = "warn"
    with open(m.config, "w") as f:
        json.dump(cfg, f)
    try:
        m.start()
        time.sleep(warmup)
        c0, t0 = cpu_seconds(m.proc.pid), time.time()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(m.proc.pid), time.time()
        with open(f"/proc/{m.proc.pid}/status") as f:
            rss = [int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:")][0]
        if m.stop() != 0:
            raise SystemExit("idle: the mover did not stop cleanly")
        return 100 * (c1 - c0) / (t1 - t0), rss
    finally:
        m.cleanup()
        shutil.rmtree(m.tmp, ignore_errors=True)


def fmt(values, digits):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


IDLE_VARIANTS = [
    ("one listing of the staging bucket per interval, no cluster section", None),
    ("the same with a `cluster` section at its defaults (4 shards per route = 400 leases, `lease_ttl` 15s)", {}),
    ("the same with `cluster.shards` 1 (100 leases)", {"shards": 1}),
]


def main():
    variants = ["1 mover", "1 mover, leases", "2 movers, leases"]
    rates = {v: [] for v in variants}
    cpus = {v: [] for v in variants}
    splits = []
    for rep in range(ARGS.reps if ARGS.only != "idle" else 0):
        for v in variants:
            rate, cpu, per = throughput(v, ARGS.objects)
            rates[v].append(rate)
            cpus[v].append(cpu)
            if len(per) == 2:
                splits.append(per)
            print(f"rep {rep + 1} {v}: {rate:.1f} objects/s, {cpu:.3f} CPU ms/object, per mover {per}",
                  file=sys.stderr)
    idles = {name: [] for name, _ in IDLE_VARIANTS}
    rss = {name: [] for name, _ in IDLE_VARIANTS}
    for rep in range(ARGS.reps if ARGS.only != "throughput" else 0):
        for name, cluster in IDLE_VARIANTS:
            pct, r = idle(cluster, ARGS.idle_seconds, ARGS.idle_warmup)
            idles[name].append(pct)
            rss[name].append(r)
            print(f"rep {rep + 1} idle, {name}: {pct:.2f} % of a core, RSS {r:.1f} MiB", file=sys.stderr)
    if ARGS.only != "idle":
        print("| what | objects/s | mover CPU ms/object |")
        print("|---|--:|--:|")
        for v in variants:
            print(f"| {v} ({ARGS.objects} × 1 KiB) | {fmt(rates[v], 1)} | {fmt(cpus[v], 3)} |")
        print()
        print(f"promotions per mover with two: {splits}")
        print()
    if ARGS.only != "throughput":
        print(f"| idle, 100 routes, `poll_interval` 2s, {ARGS.idle_seconds} s | % of a core | RSS MiB |")
        print("|---|--:|--:|")
        for name, _ in IDLE_VARIANTS:
            print(f"| {name} | {fmt(idles[name], 2)} | {fmt(rss[name], 1)} |")


if __name__ == "__main__":
    main()
