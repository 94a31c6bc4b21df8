#!/usr/bin/env bash
# bench-s3.sh — the S3 client benchmark: sluice's asynchronous client against boto3, the
# AWS CLI, curl and wrk, all on a fresh local radosgw in one run; writes the results to
# docs/benchmarks.md (between <!-- bench-s3:begin --> and <!-- bench-s3:end -->, so
# other benchmarks can share the file; the file is created if missing).
#
#   scripts/bench-s3.sh
#
# What it measures:
#   small ops  1 KiB PutObject, GetObject, CopyObject, DeleteObject at concurrency 1, 8,
#              32 and 128, with sluice-s3-bench (bench/s3_bench.c, our client on one
#              libuv loop) and bench/boto3_bench.py (boto3, one shared client, C
#              threads). Per client, concurrency and repetition: PUT N new keys, GET
#              them, COPY them to N new keys, DELETE the N originals (the four timed
#              runs), then DELETE the N copies (not timed). Clients alternate which goes
#              first in each repetition.
#   ceiling    wrk replaying one presigned 1 KiB GET at the same concurrencies (no
#              signing, no parsing: what the server gives a client that costs nothing).
#   large GET  one 1 GiB object (PUT by sluice-s3-bench in one request, timed for
#              information) read by sluice (one stream; one stream hashed with SHA-256;
#              8 MiB ranges, 8 in flight), boto3 (one stream; 8 MiB ranges, 8 in flight),
#              the AWS CLI (`aws s3 cp … /dev/null`, its default 10 × 8 MiB parts, whole
#              process timed), and curl with a presigned URL to /dev/null (the ceiling).
#   Runs are repeated (SLUICE_BENCH_REPS, SLUICE_BENCH_LARGE_REPS). Each run records
#   the client's CPU time (getrusage; for the CLI and curl, the child's times), the
#   server's (radosgw + ceph-osd, from /proc/PID/stat) and everyone else's (/proc/stat
#   busy time minus those two). On a shared machine other people's work only ever slows
#   a run down, so before each timed run the script waits (0.3 s windows, 15 s at most,
#   120 s in all) until the machine is nearly idle. The report gives median and min–max
#   and checks the client's two targets: (1) at its best concurrency it does at least
#   as many ops/s (MB/s for the large GET) as the fastest other S3 client at that
#   client's best concurrency; (2) it uses at most 1 CPU core per 5,000 ops/s (0.2 ms
#   of CPU per operation).
#
# Steps: scripts/install-deps.sh; a Release build of sluice-s3-bench in build-bench/
# (tests off); a fresh server in its own data folder (stopped again on exit, also
# on failure or Ctrl-C); the runs; radosgw-admin gc between phases (memstore is RAM);
# the report (bench/bench_report.py).
#
# Settings (environment):
#   SLUICE_S3_DIR        server data folder; default <repo>/build-bench/s3-server
#   SLUICE_S3_PORT, SLUICE_MON_PORT
#                        server ports (default 7480 / 3300, as scripts/s3-server.sh)
#   SLUICE_BENCH_REPS    repetitions of the 1 KiB and wrk runs (default 3)
#   SLUICE_BENCH_LARGE_REPS  repetitions of the large GETs (default 5; they are short)
#   SLUICE_BENCH_COUNT   operations per run at concurrency >= 8 (default 2000; a quarter
#                        of it, at least 100, at concurrency 1)
#   SLUICE_BENCH_LARGE_MIB  size of the large object in MiB (default 1024)
#   SLUICE_BENCH_OUT     the report file (default <repo>/docs/benchmarks.md)
# Raw result lines are kept in build-bench/bench-s3-results.txt.
set -euo pipefail

readonly PROG=bench-s3
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$REPO/build-bench
export SLUICE_S3_DIR=${SLUICE_S3_DIR:-$BUILD/s3-server}
REPS=${SLUICE_BENCH_REPS:-3}
LARGE_REPS=${SLUICE_BENCH_LARGE_REPS:-5}
COUNT=${SLUICE_BENCH_COUNT:-2000}
LARGE_MIB=${SLUICE_BENCH_LARGE_MIB:-1024}
OUT=${SLUICE_BENCH_OUT:-$REPO/docs/benchmarks.md}
CONCURRENCIES=(1 8 32 128)
OPS=(put get copy delete)
PYTHON=/usr/bin/python3   # Debian's, with python3-boto3
AWS=/usr/bin/aws          # Debian's awscli (a pyenv shim may come first on PATH)
SERVER=$REPO/scripts/s3-server.sh
BENCH=$BUILD/bench/sluice-s3-bench
PRESIGN=$REPO/build/tests/sluice-presign   # our signer, when the normal build has it
RESULTS=$BUILD/bench-s3-results.txt

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

for v in REPS LARGE_REPS COUNT LARGE_MIB; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "SLUICE_BENCH_$v=${!v}: a positive whole number, please"
done
SMALL_COUNT=$((COUNT / 4 < 100 ? 100 : COUNT / 4))
LARGE_BYTES=$((LARGE_MIB * 1024 * 1024))
T_START=$SECONDS

# ------------------------------------------------------------------ preparation ----

say "dependencies (scripts/install-deps.sh)"
"$REPO/scripts/install-deps.sh"
for c in "$PYTHON" "$AWS" curl wrk cmake radosgw-admin; do
  command -v "$c" >/dev/null || die "$c not found (scripts/install-deps.sh installs it)"
done

say "Release build in $BUILD"
mkdir -p "$BUILD"
# Without the tests: the benchmark needs none of them (nor cmocka).
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF >"$BUILD/configure.log" 2>&1 ||
  { tail -40 "$BUILD/configure.log" >&2; die "cmake configure failed (see $BUILD/configure.log)"; }
cmake --build "$BUILD" -j "$(nproc)" --target sluice-s3-bench >"$BUILD/build.log" 2>&1 ||
  { tail -40 "$BUILD/build.log" >&2; die "build failed (see $BUILD/build.log)"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-s3.XXXXXX")
SERVER_STARTED=0
cleanup() {
  local rc=$?
  if ((SERVER_STARTED)); then "$SERVER" stop >&2 || rc=1; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "fresh S3 server in $SLUICE_S3_DIR"
SERVER_STARTED=1
"$SERVER" start >&2
eval "$("$SERVER" env)"
BUCKET=$SLUICE_BUCKET_STAGING
CONF=$SLUICE_S3_DIR/ceph.conf

# The AWS CLI and curl: the mover identity, nothing from ~/.aws, no CA bundle (plain HTTP).
cat >"$WORK/aws-config" <<EOF
[default]
region = $SLUICE_S3_REGION
s3 =
    addressing_style = path
EOF
aws_env=(env -u AWS_CA_BUNDLE -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN
         AWS_CONFIG_FILE="$WORK/aws-config" AWS_SHARED_CREDENTIALS_FILE=/dev/null
         AWS_ACCESS_KEY_ID="$SLUICE_MOVER_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SLUICE_MOVER_SECRET_KEY"
         AWS_DEFAULT_REGION="$SLUICE_S3_REGION" AWS_EC2_METADATA_DISABLED=true AWS_PAGER=)

# ------------------------------------------------------------------ measuring ------

CLK_TCK=$(getconf CLK_TCK)
SERVER_PIDS=("$(<"$SLUICE_S3_DIR/run/rgw.pid")" "$(<"$SLUICE_S3_DIR/run/osd.pid")")

# CPU ticks (user + system) used so far by radosgw and the OSD.
server_ticks() {
  local pid total=0 stat f
  for pid in "${SERVER_PIDS[@]}"; do
    stat=$(<"/proc/$pid/stat") || die "server process $pid is gone"
    # fields 14 and 15 (utime, stime), counted from field 3, after the ") " that ends
    # the command name
    read -ra f <<<"${stat##*) }"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# CPU ticks all processors were busy so far (user nice system irq softirq of /proc/stat).
machine_ticks() {
  local u n sy irq sirq
  read -r _ u n sy _ _ irq sirq _ </proc/stat
  echo $((u + n + sy + irq + sirq))
}

# wait_quiet: before a timed run, wait (0.3 s windows) until the machine is almost idle
# (< 0.4 cores busy) — other people's work on a shared machine slows whichever client
# runs at the time. Gives up after 15 s for one run and after QUIET_BUDGET s in all.
QUIET_BUDGET=120
QUIET_WAITED=0      # tenths of a second
QUIET_GAVE_UP=0
wait_quiet() {
  local i m0 m1
  for ((i = 0; i < 50 && QUIET_WAITED < QUIET_BUDGET * 10; i++)); do
    m0=$(machine_ticks)
    sleep 0.3
    m1=$(machine_ticks)
    (((m1 - m0) * 100 < 12 * CLK_TCK)) && return 0
    QUIET_WAITED=$((QUIET_WAITED + 3))
  done
  QUIET_GAVE_UP=$((QUIET_GAVE_UP + 1))
}

ticks_to_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'; }

# record LABELS LINE: appends a result line with its labels and the server CPU time.
record() {
  echo "$1 $2 server_cpu_s=$3" >>"$RESULTS"
}

# run_tool LABELS CMD...: runs a benchmark program that prints one result line.
run_tool() {
  local labels=$1 s0 s1 line
  shift
  wait_quiet
  s0=$(server_ticks)
  line=$("$@") || { printf '%s\n' "$line" >&2; die "failed: $labels: $*"; }
  s1=$(server_ticks)
  [[ $line == op=* ]] || die "$labels: no result line from $*"
  record "$labels" "$line" "$(ticks_to_s $((s1 - s0)))"
  printf '  %-34s %s\n' "$labels" "$(sed -E 's/ (cpu_user_s|cpu_sys_s|requests)=[^ ]*//g' <<<"$line")" >&2
}

sluice() { run_tool "$1" "$BENCH" "${@:2}" --bucket "$BUCKET"; }
boto3() { run_tool "$1" "$PYTHON" "$REPO/bench/boto3_bench.py" "${@:2}" --bucket "$BUCKET"; }

# timed LABELS OP CONCURRENCY BYTES CMD...: times a whole process (wall and its CPU).
timed() {
  local labels=$1 op=$2 conc=$3 bytes=$4 s0 s1 m0 m1 t0 t1 out
  shift 4
  wait_quiet
  s0=$(server_ticks)
  m0=$(machine_ticks)
  t0=$EPOCHREALTIME
  # bash's `times` after the command: the CPU of finished children (cumulative).
  out=$( { "$@" >/dev/null 2>"$WORK/stderr" && times; } ) ||
    { cat "$WORK/stderr" >&2; die "failed: $labels: $*"; }
  t1=$EPOCHREALTIME
  m1=$(machine_ticks)
  s1=$(server_ticks)
  # the second line of `times` is the children's "user sys" as NmN.NNNs
  awk -v t0="$t0" -v t1="$t1" -v op="$op" -v c="$conc" -v b="$bytes" -v st=$((s1 - s0)) -v hz="$CLK_TCK" \
      -v labels="$labels" -v mt=$((m1 - m0)) '
    function secs(s,  m) { m = s; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", s); sub(/s$/, "", s); return m * 60 + s }
    NR == 2 { u = secs($1); y = secs($2) }
    END {
      w = t1 - t0
      printf "%s op=%s concurrency=%s count=1 seconds=%.4f ops_per_s=%.1f cpu_user_s=%.4f cpu_sys_s=%.4f cpu_ms_per_op=%.4f errors=0 machine_cpu_s=%.2f bytes=%d mb_per_s=%.1f server_cpu_s=%.2f\n",
             labels, op, c, w, 1 / w, u, y, (u + y) * 1000, mt / hz, b, b / 1e6 / w, st / hz
    }' <<<"$out" >>"$RESULTS"
  printf '  %-34s %s\n' "$labels" "$(tail -1 "$RESULTS" | grep -oE 'seconds=[^ ]+ .*mb_per_s=[^ ]+' |
                                     sed -E 's/ (cpu_user_s|cpu_sys_s|count|errors|bytes|ops_per_s)=[^ ]*//g')" >&2
}

# presign KEY: a presigned GET URL valid for an hour — by sluice's signer
# (build/tests/sluice-presign) when it is built, else by the AWS CLI's.
presign() {
  if [[ -x $PRESIGN ]]; then
    AWS_ACCESS_KEY_ID=$SLUICE_MOVER_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SLUICE_MOVER_SECRET_KEY \
      "$PRESIGN" --endpoint "$SLUICE_S3_ENDPOINT" --region "$SLUICE_S3_REGION" --bucket "$BUCKET" \
      --key "$1" --expires 3600
  else
    "${aws_env[@]}" "$AWS" --endpoint-url "$SLUICE_S3_ENDPOINT" s3 presign "s3://$BUCKET/$1" --expires-in 3600
  fi
}

gc() { radosgw-admin -c "$CONF" gc process --include-all >/dev/null 2>&1 || say "radosgw-admin gc failed (ignored)"; }

: >"$RESULTS"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "mem_gib=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "radosgw=$(radosgw --version 2>/dev/null | head -1)"
  echo "curl=$(curl --version | head -1 | cut -d' ' -f1-2)"
  echo "libcurl=$(pkg-config --modversion libcurl)"
  echo "libuv=$(pkg-config --modversion libuv)"
  echo "openssl=$(pkg-config --modversion openssl)"
  echo "python=$("$PYTHON" -c 'import platform; print(platform.python_version())')"
  echo "boto3=$("$PYTHON" -c 'import boto3, botocore; print(boto3.__version__, "/ botocore", botocore.__version__)')"
  echo "aws=$("${aws_env[@]}" "$AWS" --version 2>&1 | cut -d' ' -f1)"
  echo "wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "cc=$("$(awk -F= '/^CMAKE_C_COMPILER:/ { print $2 }' "$BUILD/CMakeCache.txt")" --version | head -1)"
  echo "git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- mover/s3 mover/util 2>/dev/null || echo ' + uncommitted changes in mover/s3 or mover/util')"
  if [[ -x $PRESIGN ]]; then echo "presigner=sluice-presign"; else echo "presigner=aws s3 presign"; fi
  echo "reps=$REPS"
  echo "count=$COUNT"
  echo "small_count=$SMALL_COUNT"
  echo "large_bytes=$LARGE_BYTES"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$BUILD/bench-s3-meta.txt"

# ---- small objects ----

say "1 KiB operations: ${REPS} × concurrency ${CONCURRENCIES[*]} × {sluice, boto3}"
for ((rep = 1; rep <= REPS; rep++)); do
  for c in "${CONCURRENCIES[@]}"; do
    n=$COUNT
    ((c > 1)) || n=$SMALL_COUNT
    if ((rep % 2)); then clients=(sluice boto3); else clients=(boto3 sluice); fi
    for client in "${clients[@]}"; do
      p="bench/$client/r$rep/c$c/"
      for op in "${OPS[@]}"; do
        "$client" "client=$client rep=$rep" --op "$op" --concurrency "$c" --count "$n" --size 1024 \
          --prefix "$p"
      done
      # the copies go away untimed
      "$BENCH" --op delete --concurrency 32 --count "$n" --prefix "${p}copy/" --bucket "$BUCKET" >/dev/null ||
        die "could not delete the copies under $p"
    done
  done
done

say "wrk: one presigned 1 KiB GET replayed (the server's ceiling)"
"$BENCH" --op put --count 1 --size 1024 --key bench/wrk-1k --bucket "$BUCKET" >/dev/null
url_1k=$(presign bench/wrk-1k)
for ((rep = 1; rep <= REPS; rep++)); do
  for c in "${CONCURRENCIES[@]}"; do
    wait_quiet
    s0=$(server_ticks)
    m0=$(machine_ticks)
    t0=$EPOCHREALTIME
    out=$(wrk -t "$((c < 2 ? 1 : 2))" -c "$c" -d 3s "$url_1k") || die "wrk failed"
    t1=$EPOCHREALTIME
    m1=$(machine_ticks)
    s1=$(server_ticks)
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then printf '%s\n' "$out" >&2; die "wrk got errors"; fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    record "client=wrk rep=$rep" "op=get concurrency=$c count=$reqs ops_per_s=$rps errors=0 $(
      awk -v a="$t0" -v b="$t1" 'BEGIN { printf "seconds=%.4f", b - a }') machine_cpu_s=$(
      ticks_to_s $((m1 - m0)))" "$(ticks_to_s $((s1 - s0)))"
    printf '  %-34s op=get concurrency=%s ops_per_s=%s\n' "client=wrk rep=$rep" "$c" "$rps" >&2
  done
done
"${aws_env[@]}" "$AWS" --endpoint-url "$SLUICE_S3_ENDPOINT" s3api delete-object --bucket "$BUCKET" \
  --key bench/wrk-1k >/dev/null
gc

# ---- the large object ----

say "large object: $LARGE_MIB MiB"
big=bench/large-${LARGE_MIB}m
sluice "client=sluice rep=1 phase=stage" --op put --count 1 --size "$LARGE_BYTES" --key "$big" --sha256
url_big=$(presign "$big")
for ((rep = 1; rep <= LARGE_REPS; rep++)); do
  sluice "client=sluice rep=$rep mode=stream" --op get-large --concurrency 1 --key "$big"
  sluice "client=sluice rep=$rep mode=stream+sha256" --op get-large --concurrency 1 --key "$big" --sha256
  sluice "client=sluice rep=$rep mode=ranges" --op get-large --concurrency 8 --part-size 8388608 --key "$big"
  boto3 "client=boto3 rep=$rep mode=stream" --op get-large --concurrency 1 --key "$big"
  boto3 "client=boto3 rep=$rep mode=ranges" --op get-large --concurrency 8 --part-size 8388608 --key "$big"
  timed "client=aws-cli rep=$rep mode=cp" get-large 10 "$LARGE_BYTES" \
    "${aws_env[@]}" "$AWS" --endpoint-url "$SLUICE_S3_ENDPOINT" s3 cp "s3://$BUCKET/$big" /dev/null --no-progress
  timed "client=curl rep=$rep mode=stream" get-large 1 "$LARGE_BYTES" \
    curl -sS --fail -o /dev/null "$url_big"
done
"${aws_env[@]}" "$AWS" --endpoint-url "$SLUICE_S3_ENDPOINT" s3api delete-object --bucket "$BUCKET" \
  --key "$big" >/dev/null
gc

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$BUILD/bench-s3-meta.txt"
{
  echo "runtime_s=$((SECONDS - T_START))"
  echo "large_reps=$LARGE_REPS"
  echo "quiet_waited_s=$((QUIET_WAITED / 10))"
  echo "quiet_gave_up=$QUIET_GAVE_UP"
} >>"$BUILD/bench-s3-meta.txt"

# ------------------------------------------------------------------ report ---------

say "report → $OUT"
"$PYTHON" "$REPO/bench/bench_report.py" --results "$RESULTS" --meta "$BUILD/bench-s3-meta.txt" --out "$OUT"
say "done in $((SECONDS - T_START)) s"
