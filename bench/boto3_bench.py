#!/usr/bin/python3
"""boto3_bench.py — the boto3 side of scripts/bench-s3.sh: the same operations as
sluice-s3-bench (bench/s3_bench.c), driven by boto3 with exactly C requests in flight,
and the same result line.

How the parts fit: one boto3 S3 client, shared by C worker threads (boto3 clients are
thread-safe; max_pool_connections = C so every thread has a kept-alive connection).
Each worker takes the next operation index from a shared counter until --count have
been taken, so C operations are outstanding until the tail. Wall time (monotonic) and
CPU time (getrusage of this process, user and system) are taken around the timed part
only — after the client exists and the threads are started, until the last operation
ends — as in sluice-s3-bench.

Operations and keys (KEY(i) = PREFIX + i in 8 zero-padded digits), as in s3_bench.c:
  put        PutObject KEY(i) with a --size byte body
  get        GetObject KEY(i), body read and discarded; a length other than --size is an
             error
  copy       CopyObject KEY(i) -> DST_PREFIX + i (default PREFIX + "copy/")
  delete     DeleteObject KEY(i)
  get-large  GetObject of --key read in 1 MiB chunks and discarded (--sha256 hashes
             them): one stream at concurrency 1, else --part-size byte ranges with C in
             flight. A HEAD first (not timed) learns the size.

Prints: op=… concurrency=… count=… seconds=… ops_per_s=… cpu_user_s=… cpu_sys_s=…
cpu_ms_per_op=… errors=… machine_cpu_s=… (CPU time all processors were busy during the
timed part, from /proc/stat) (get-large adds bytes=… mb_per_s=…, MB = 10^6 bytes, and
sha256=… with --sha256). Exit code 0 when every operation succeeded, 1 otherwise, 2 on
usage errors. Environment: SLUICE_S3_ENDPOINT, SLUICE_S3_REGION,
SLUICE_MOVER_ACCESS_KEY, SLUICE_MOVER_SECRET_KEY; --bucket defaults to
SLUICE_BUCKET_STAGING. Nothing is read from ~/.aws.

Run it with Debian's interpreter (/usr/bin/python3), which has python3-boto3.
"""

import argparse
import hashlib
import itertools
import os
import resource
import sys
import threading
import time

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

OPS = ("put", "get", "copy", "delete", "get-large")
MAX_REPORTED_ERRORS = 5
CHUNK = 1024 * 1024


def env(name):
    value = os.environ.get(name, "")
    if not value:
        sys.stderr.write(
            f"boto3_bench: {name} is not set; start the local S3 server and load its environment:\n"
            '  scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"\n')
        sys.exit(2)
    return value


def machine_busy_s():
    """CPU seconds all processors spent busy so far (user, nice, system, irq, softirq of
    /proc/stat), or None; as in s3_bench.c."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:8]]
    except (OSError, ValueError):
        return None
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def body_bytes(size):
    """The same xorshift pattern as s3_bench.c (the bytes do not matter, only the size)."""
    x = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    out = bytearray(size)
    for i in range(size):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
        out[i] = x & 0xFF
    return bytes(out)


class Bench:
    def __init__(self, args, client):
        self.args = args
        self.client = client
        self.counter = itertools.count()
        self.lock = threading.Lock()
        self.errors = 0
        self.bytes = 0
        self.body = body_bytes(args.size) if args.op == "put" else b""
        self.sha = hashlib.sha256() if args.sha256 else None
        self.size = args.size
        self.ranges = None

    def key(self, i):
        return f"{self.args.prefix}{i:08d}"

    def note_error(self, what, exc):
        with self.lock:
            self.errors += 1
            n = self.errors
        if n <= MAX_REPORTED_ERRORS:
            sys.stderr.write(f"boto3_bench: {what} failed: {exc}\n")
        elif n == MAX_REPORTED_ERRORS + 1:
            sys.stderr.write("boto3_bench: further errors not shown\n")

    def one(self, i):
        a, c, bucket = self.args, self.client, self.args.bucket
        if a.op == "put":
            c.put_object(Bucket=bucket, Key=self.key(i), Body=self.body)
        elif a.op == "get":
            data = c.get_object(Bucket=bucket, Key=self.key(i))["Body"].read()
            if len(data) != self.size:
                raise RuntimeError(f"got {len(data)} bytes, expected {self.size}")
            with self.lock:
                self.bytes += len(data)
        elif a.op == "copy":
            c.copy_object(Bucket=bucket, Key=f"{a.dst_prefix}{i:08d}",
                          CopySource={"Bucket": bucket, "Key": self.key(i)})
        elif a.op == "delete":
            c.delete_object(Bucket=bucket, Key=self.key(i))
        else:  # get-large
            kwargs = {}
            if self.ranges is not None:
                first, last = self.ranges[i]
                kwargs["Range"] = f"bytes={first}-{last}"
            stream = c.get_object(Bucket=bucket, Key=a.key, **kwargs)["Body"]
            n = 0
            for chunk in stream.iter_chunks(CHUNK):
                n += len(chunk)
                if self.sha is not None:
                    self.sha.update(chunk)
            with self.lock:
                self.bytes += n

    def worker(self):
        while True:
            i = next(self.counter)
            if i >= self.args.count:
                return
            try:
                self.one(i)
            except Exception as exc:  # every failure is counted, none stops the run
                self.note_error(f"{self.args.op} #{i}", exc)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--op", required=True, choices=OPS)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--bucket", default=None)
    p.add_argument("--prefix", default=None)
    p.add_argument("--dst-prefix", default=None)
    p.add_argument("--key", default=None)
    p.add_argument("--part-size", type=int, default=8 * 1024 * 1024)
    p.add_argument("--sha256", action="store_true")
    a = p.parse_args()
    if a.concurrency < 1 or a.size < 0 or a.part_size < 1:
        p.error("--concurrency and --part-size must be >= 1, --size >= 0")
    if a.op == "get-large":
        if a.key is None:
            p.error("--op get-large needs --key")
        if a.sha256 and a.concurrency != 1:
            p.error("--sha256 needs --concurrency 1")
    else:
        if a.count < 1 or a.prefix is None:
            p.error("--count and --prefix are required")
        if a.sha256:
            p.error("--sha256 is for --op get-large")
    a.bucket = a.bucket or env("SLUICE_BUCKET_STAGING")
    if a.op == "copy" and a.dst_prefix is None:
        a.dst_prefix = a.prefix + "copy/"

    session = boto3.session.Session(
        aws_access_key_id=env("SLUICE_MOVER_ACCESS_KEY"),
        aws_secret_access_key=env("SLUICE_MOVER_SECRET_KEY"),
        region_name=env("SLUICE_S3_REGION"))
    client = session.client(
        "s3", endpoint_url=env("SLUICE_S3_ENDPOINT"),
        config=Config(max_pool_connections=max(10, a.concurrency), s3={"addressing_style": "path"},
                      retries={"mode": "standard", "max_attempts": 5}))

    bench = Bench(a, client)
    if a.op == "get-large":
        bench.size = client.head_object(Bucket=a.bucket, Key=a.key)["ContentLength"]
        if a.concurrency == 1:
            a.count = 1
        else:
            a.count = (bench.size + a.part_size - 1) // a.part_size
            bench.ranges = [(i * a.part_size, min((i + 1) * a.part_size, bench.size) - 1)
                            for i in range(a.count)]

    # Threads wait at a barrier so the timed part starts with all of them ready.
    start = threading.Barrier(a.concurrency + 1)

    def run():
        start.wait()
        bench.worker()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    busy0 = machine_busy_s()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    busy1 = machine_busy_s()

    user = ru1.ru_utime - ru0.ru_utime
    system = ru1.ru_stime - ru0.ru_stime
    count = a.count
    line = (f"op={a.op} concurrency={a.concurrency} count={count} seconds={seconds:.4f} "
            f"ops_per_s={count / seconds:.1f} cpu_user_s={user:.4f} cpu_sys_s={system:.4f} "
            f"cpu_ms_per_op={(user + system) * 1000 / count:.4f} errors={bench.errors}")
    if busy0 is not None and busy1 is not None:
        line += f" machine_cpu_s={busy1 - busy0:.2f}"
    if a.op == "get-large":
        line += f" bytes={bench.bytes} mb_per_s={bench.bytes / 1e6 / seconds:.1f}"
        if bench.bytes != bench.size and bench.errors == 0:
            sys.stderr.write(f"boto3_bench: read {bench.bytes} of {bench.size} bytes\n")
            bench.errors += 1
        if bench.sha is not None:
            line += f" sha256={bench.sha.hexdigest()}"
    print(line, flush=True)
    return 0 if bench.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
