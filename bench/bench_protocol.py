"""bench_protocol.py — what checking in place on versioned staging saves: the same small
uploads moved by the real daemon with `worker.check_in_place: true` (GET, HEAD trusted,
copy and delete by version: 4 requests on radosgw) and `false` (copy into quarantine,
delete the version, GET, HEAD trusted, copy to trusted, delete the copy: 6), alternating
runs on the same server, medians with min–max. Requests per artifact are the mover's own
count (`promoted_requests` / `promoted` in its `stopped` line); throughput is from the
first upload to the last promotion seen in trusted, uploads made after the route's first
listing (so no look at what was there before is counted).

  /usr/bin/python3 bench/bench_protocol.py build/sluice-mover build/sluice-review [N] [RUNS]

Needs `eval "$(scripts/s3-server.sh env)"` (scripts/bench-protocol.sh starts a server of
its own and runs this). Prints a Markdown table.
"""

import os
import re
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from mover_harness import Mover, TRUSTED, list_keys, put_many  # noqa: E402

N = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
RUNS = int(sys.argv[4]) if len(sys.argv) > 4 else 3


def one_run(in_place):
    tmp = tempfile.mkdtemp(prefix="sluice-bench-protocol-")
    m = Mover(tmp, uuid.uuid4().hex[:10], poll="200ms", concurrency=64, worker_settings={"check_in_place": in_place})
    try:
        m.start()
        deadline = time.time() + 60
        while "first_listing_done" not in m.log_text() and time.time() < deadline:
            time.sleep(0.05)
        items = [(m.staging_key(f"t{i % 10}", f"obj-{i}.csv"), f"id,value\n{i},{i * i}\n".encode(), "text/csv")
                 for i in range(N)]
        started = time.time()
        put_many(items, threads=32)
        while len(list_keys(TRUSTED, m.prefix)) < N:
            if time.time() - started > 600:
                raise RuntimeError("not all promoted within 10 minutes")
            time.sleep(0.1)
        elapsed = time.time() - started
        m.stop()
        stopped = [l for l in m.log_text().splitlines() if " stopped " in l][-1]
        promoted = int(re.search(r"promoted=(\d+)", stopped).group(1))
        requests = int(re.search(r"promoted_requests=(\d+)", stopped).group(1))
        return N / elapsed, requests / max(promoted, 1)
    finally:
        m.cleanup()


def main():
    results = {True: [], False: []}
    for _ in range(RUNS):
        for mode in (True, False):
            results[mode].append(one_run(mode))
    print(f"| staging checked | objects/s, median (min–max) of {RUNS} | requests per promoted artifact |")
    print("|---|---|---|")
    for mode, label in ((True, "in place (`check_in_place: true`)"), (False, "quarantine first (`false`)")):
        rates = [r for r, _ in results[mode]]
        reqs = statistics.median(q for _, q in results[mode])
        print(f"| {label} | {statistics.median(rates):.0f} ({min(rates):.0f}–{max(rates):.0f}) | {reqs:.2f} |")
    ratio = statistics.median(r for r, _ in results[True]) / statistics.median(r for r, _ in results[False])
    print(f"\nin place / quarantine first: {ratio:.2f}× the objects per second, {N} objects of ~20 bytes per run")


if __name__ == "__main__":
    main()
