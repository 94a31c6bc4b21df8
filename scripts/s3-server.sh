#!/usr/bin/env bash
# s3-server.sh — a throw-away, single-node Ceph radosgw as sluice's local S3 server.
#
#   scripts/s3-server.sh start    wipe the data folder, start mon + OSD + radosgw, create
#                                 the identities and buckets (restarts fresh if running)
#   scripts/s3-server.sh stop     stop what start started (by recorded pids); fine if idle
#   scripts/s3-server.sh status   running / not running; exit 0 running, 3 not running,
#                                 1 some daemons dead (LSB style)
#   scripts/s3-server.sh policies (re)write the bucket policies with `sluice-mover policy`
#                                 and apply them to the running server
#   eval "$(scripts/s3-server.sh env)"
#                                 export SLUICE_S3_ENDPOINT, keys, buckets, ... (exit 1 if
#                                 the server is not running)
#
# Settings (environment):
#   SLUICE_S3_DIR            data folder; default <repo>/build/s3-server
#   SLUICE_S3_PORT           radosgw (S3) port on 127.0.0.1; default 7480
#   SLUICE_MON_PORT          monitor port (msgr v2 only, no v1 port); default 3300
#   SLUICE_S3_START_TIMEOUT  seconds for a whole start; default 60
#   SLUICE_S3_RGW_CONF       extra ceph.conf lines (newline separated) for radosgw's
#                            section, e.g. "rgw lc debug interval = 10"
#   SLUICE_S3_TRACE=1        start prints the time of each step
#   SLUICE_EVENTS_PORT       the port on 127.0.0.1 where radosgw pushes S3 event
#                            notifications (the mover's events.listen); default
#                            SLUICE_S3_PORT + 1000
#   SLUICE_EVENTS_NOTIFY     1: also the staging bucket's ObjectCreated notification to the
#                            topic (scripts/up.sh sets it); default off: with it radosgw
#                            pushes every staging PUT to the events port, and a suite of
#                            thousands of PUTs met 30 s stalls while nothing listened there
#                            (the events test adds the notification for its own run)
#   SLUICE_EVENTS_PERSISTENT the topic's persistent attribute; default false: radosgw 16
#                            retries a persistent queue whose endpoint refuses connections
#                            in a tight loop (about a thousand attempts a second) and then stops
#                            delivering until it restarts (docs/events.md)
#   SLUICE_MOVER_BIN         the sluice-mover that writes the bucket policies; default
#                            <repo>/build/sluice-mover
#   SLUICE_S3_POLICIES       auto (default): start applies the policies when
#                            SLUICE_MOVER_BIN exists and has the `policy` command, and
#                            warns otherwise; required: start fails unless they are
#                            applied (scripts/test.sh); off: start applies none
#   SLUICE_S3_POLICY_CONFIG  a sluice configuration with an "identities" section to
#                            write the policies from (its buckets must be the three
#                            below); default <dir>/policy-config.json, which start writes
#                            for the local identities (docs/local-s3-server.md)
#
# The parts, in the order start runs them:
#   1. preflight   stop a running instance; refuse if a port is taken; wipe the data folder
#                  (only if it carries our marker file or is empty).
#   2. ceph.conf   everything (data, logs, admin sockets, run dir, crash dir) inside the
#                  data folder; no /etc/ceph, no /var/lib/ceph. auth none between daemons
#                  with every `ms * mode = crc` (else radosgw loops on auth error -13), fast
#                  paxos (propose interval 0.02 s: each pool radosgw creates costs a few
#                  paxos rounds), pool size 1, memstore OSD capped at 8 GiB, beast on
#                  127.0.0.1 with tcp_nodelay=1. The daemons run as the calling user
#                  (setuser/setgroup default to empty; only systemd units pass "ceph").
#   3. mkfs        monmaptool + ceph-mon --mkfs and ceph-osd --mkfs, the two in parallel.
#   4. daemons     ceph-mon; `ceph osd new` (id 0); ceph-osd; wait until the OSD is
#                  active (its log, or its admin socket); only then radosgw (started
#                  earlier, it idles until its objecter's 5 s tick); wait for HTTP 200.
#                  Each daemon runs in its own session (setsid), output to log/, its pid in
#                  run/<daemon>.pid. Every wait is bounded and watches every daemon: one
#                  that dies is named with the tail of its log, and all is stopped again.
#   5. identities  mover, grants, reviewer, consumer, admin (admin flag + all caps), each
#                  with random keys (openssl rand); written to <dir>/credentials (0600).
#   6. buckets     sluice-staging, sluice-quarantine, sluice-trusted and sluice-reference (a
#                  route's reference data), created with the mover's keys (curl
#                  --aws-sigv4), so mover owns them; versioning is enabled on
#                  sluice-staging (the mover deletes by version id). Steps 5 and 6
#                  overlap: the mover first, then its buckets while the others are made.
#   7. policies    `sluice-mover policy -c <policy config> --output-dir <dir>/policies`,
#                  then PutBucketPolicy of each file with the admin's keys (curl; the
#                  policies deny every other identity, the buckets' owner mover included,
#                  changes to bucket settings): the grants identity may only PUT under
#                  the routes' staging prefixes, the consumer and reviewer only read
#                  trusted (docs/policies.md).
#   8. sts         the STS role tasks' sessions assume (sluice-task, MaxSessionDuration
#                  4h), made through the IAM API with the admin's keys from
#                  `sluice-mover policy --task-role trust|permissions`; radosgw serves STS
#                  on the S3 port (ceph.conf: rgw s3 auth use sts, a random rgw sts key;
#                  rgw crypt require ssl = false, so that SSE-C over plain HTTP reaches
#                  the bucket policies that must refuse it). docs/tasks.md, "STS".
#   9. events      a shared secret (<dir>/events-secret, 0600), the SNS topic sluice-events
#                  (CreateTopic on the S3 port) with the HTTP push endpoint
#                  http://127.0.0.1:<events port>/events?token=<secret> (persistent only
#                  with SLUICE_EVENTS_PERSISTENT=true: radosgw then picks the new queue up
#                  within 30 s), and the ObjectCreated notification of sluice-staging to
#                  it (only with SLUICE_EVENTS_NOTIFY=1), both with the mover's keys
#                  (docs/events.md). Without persistence an
#                  event sent while no mover listens is lost: the mover's listing finds it.
#   stop: radosgw, OSD, mon in turn: SIGTERM, wait, SIGKILL after a timeout. A pid is only
#   signalled if /proc/<pid>/cmdline names this data folder's ceph.conf.
set -euo pipefail

readonly PROG=s3-server
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${SLUICE_S3_DIR:-$REPO/build/s3-server}
DIR=$(realpath -m -- "$DIR")
S3_PORT=${SLUICE_S3_PORT:-7480}
MON_PORT=${SLUICE_MON_PORT:-3300}
START_TIMEOUT=${SLUICE_S3_START_TIMEOUT:-60}
MOVER_BIN=${SLUICE_MOVER_BIN:-$REPO/build/sluice-mover}
POLICIES=${SLUICE_S3_POLICIES:-auto}

readonly MARKER=.sluice-s3-server
readonly DAEMONS=(rgw osd mon)          # stop order
readonly IDENTITIES=(mover grants reviewer consumer admin)
readonly BUCKETS=(staging quarantine trusted reference)
readonly REGION=us-east-1               # radosgw accepts any region in a SigV4 scope
readonly MEMSTORE_BYTES=$((8 * 1024 * 1024 * 1024))
# radosgw's SigV4 wants x-amz-content-sha256, which curl 7.88 does not add on its own.
readonly UNSIGNED='x-amz-content-sha256: UNSIGNED-PAYLOAD'
EVENTS_PORT=${SLUICE_EVENTS_PORT:-$((S3_PORT + 1000))}
EVENTS_PERSISTENT=${SLUICE_EVENTS_PERSISTENT:-false}
readonly EVENTS_TOPIC=sluice-events

CONF=$DIR/ceph.conf
RUN=$DIR/run
LOGS=$DIR/log
export CEPH_CONF=$CONF                  # for the ceph and radosgw-admin commands

say() { printf '%s: %s\n' "$PROG" "$*"; }
err() { printf '%s: error: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() { err "$*"; exit 1; }
# With SLUICE_S3_TRACE=1, start prints how long each step took (stderr).
trace() {
  if [[ ${SLUICE_S3_TRACE:-0} == 1 ]]; then
    printf '%s: +%ss %s\n' "$PROG" "$(secs_since "$T0" 3)" "$*" >&2
  fi
}

# Microseconds since the epoch, and a duration in seconds with one decimal.
now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
secs_since() {  # secs_since T_US [DECIMALS=1]
  local n=${2:-1} us=$(($(now_us) - $1)) div
  div=$((10 ** (6 - n)))
  printf '%d.%0*d' $((us / 1000000)) "$n" $(((us % 1000000) / div))
}

log_file() {  # the Ceph log file of a daemon
  case $1 in
    mon) echo "$LOGS/mon.a.log" ;;
    osd) echo "$LOGS/osd.0.log" ;;
    rgw) echo "$LOGS/client.rgw.a.log" ;;
  esac
}

daemon_label() {
  case $1 in mon) echo "ceph-mon" ;; osd) echo "ceph-osd" ;; rgw) echo "radosgw" ;; esac
}

# ---------------------------------------------------------------- pids -------------

# Succeeds when pid is a live (not zombie) process started with our ceph.conf.
is_ours() {
  local pid=$1 state cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *" $CONF "* || $cmdline == *" $CONF" ]]
}

# Prints the pid of a daemon of ours that is alive; fails otherwise.
daemon_pid() {
  local pid
  [[ -r $RUN/$1.pid ]] || return 1
  pid=$(<"$RUN/$1.pid")
  is_ours "$pid" || return 1
  echo "$pid"
}

any_running() {
  local d
  for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null && return 0; done
  return 1
}

# stop_daemon NAME TIMEOUT: SIGTERM, wait up to TIMEOUT s, then SIGKILL and wait.
stop_daemon() {
  local name=$1 timeout=$2 pid i
  pid=$(daemon_pid "$name") || { rm -f "$RUN/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 20; i++)); do
    is_ours "$pid" || { rm -f "$RUN/$name.pid"; return 0; }
    sleep 0.05
  done
  err "$(daemon_label "$name") (pid $pid) did not exit within ${timeout}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    is_ours "$pid" || { rm -f "$RUN/$name.pid"; return 0; }
    sleep 0.05
  done
  err "$(daemon_label "$name") (pid $pid) is still there after SIGKILL"
  return 1
}

stop_all() {
  local d rc=0
  # radosgw first (its clients), then the OSD while the mon can still hear that it goes
  # (else it waits osd_mon_shutdown_timeout = 5 s), then the mon.
  for d in "${DAEMONS[@]}"; do stop_daemon "$d" 10 || rc=1; done
  return $rc
}

# ---------------------------------------------------------------- ports ------------

# Succeeds when something listens on TCP port $1 (any address, IPv4 or IPv6).
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
                    END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

check_port() {  # check_port PORT VARIABLE WHAT
  if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > 65535)); then
    die "$2=$1 is not a TCP port number"
  fi
  if port_in_use "$1"; then
    die "port $1 ($3) is already in use on this machine; stop what holds it, or choose" \
        "another port: $2=<port> $0 start"
  fi
}

# ---------------------------------------------------------------- start ------------

STARTED=()      # daemons started by this run, for the failure path
START_OK=0
T0=0
DEADLINE=0

# fail_start DAEMON MESSAGE: print the message and the tail of the daemon's log (DAEMON
# may be "" or a path to a log file), stop all, exit 1.
fail_start() {
  local daemon=$1 file=
  shift
  err "start failed: $*"
  case $daemon in
    mon | osd | rgw) file=$(log_file "$daemon") ;;
    /*) file=$daemon ;;
  esac
  if [[ -n $file && -s $file ]]; then
    printf -- '--- last 30 lines of %s ---\n' "$file" >&2
    tail -n 30 "$file" >&2
    printf -- '--- end of %s ---\n' "${file##*/}" >&2
  fi
  if [[ $daemon == @(mon|osd|rgw) && -s $LOGS/$daemon.out ]]; then
    printf -- '--- its stderr (%s) ---\n' "$LOGS/$daemon.out" >&2
    tail -n 10 "$LOGS/$daemon.out" >&2
  fi
  say "stopping what was started; logs are in $LOGS" >&2
  kill_helpers
  stop_all || true
  START_OK=1    # cleanup done; the EXIT trap has nothing left to do
  exit 1
}

on_start_exit() {
  local rc=$?
  ((START_OK)) && return
  err "start interrupted (exit $rc); stopping what was started; logs are in $LOGS"
  kill_helpers
  stop_all || true
}

# Helper commands still running in the background (mkfs, ceph, radosgw-admin).
kill_helpers() {
  local pids
  mapfile -t pids < <(jobs -p)
  ((${#pids[@]} == 0)) || kill "${pids[@]}" 2>/dev/null || true
}

job_done() { ! kill -0 "$1" 2>/dev/null; }

# A daemon we started that is no longer alive, if any.
dead_daemon() {
  local d
  for d in "${STARTED[@]}"; do daemon_pid "$d" >/dev/null || { echo "$d"; return 0; }; done
  return 1
}

# wait_for BLAME TIMEOUT WHAT CMD...: poll CMD every 50 ms until it succeeds. Fails the
# start when a started daemon dies, after TIMEOUT s, or after the start's deadline.
wait_for() {
  local blame=$1 timeout=$2 what=$3 step_end dead
  shift 3
  step_end=$(($(now_us) + timeout * 1000000))
  ((step_end < DEADLINE)) || step_end=$DEADLINE
  while ! "$@" >/dev/null 2>&1; do
    if dead=$(dead_daemon); then
      fail_start "$dead" "$(daemon_label "$dead") exited while waiting for $what"
    fi
    if (($(now_us) > step_end)); then
      fail_start "$blame" "no $what after $(secs_since "$T0")s" \
                          "(step limit ${timeout}s, start limit ${START_TIMEOUT}s)"
    fi
    sleep 0.05
  done
}

launch() {  # launch NAME CMD...: start a daemon in its own session, record its pid
  local name=$1
  shift
  setsid "$@" -c "$CONF" </dev/null >"$LOGS/$name.out" 2>&1 &
  echo "$!" >"$RUN/$name.pid"
  disown "$!"   # a daemon, not a job: `jobs -p` lists only the helper commands
  STARTED+=("$name")
}

# Only a folder that is ours (marker file) or empty is ever wiped.
check_dir() {
  if [[ -e $DIR && ! -d $DIR ]]; then die "$DIR exists and is not a folder"; fi
  if [[ -d $DIR && ! -e $DIR/$MARKER ]] && [[ -n $(ls -A "$DIR") ]]; then
    die "refusing to wipe $DIR: it is not empty and not a sluice s3-server data folder" \
        "(no $MARKER file); remove it or set SLUICE_S3_DIR to another folder"
  fi
}

prepare_dir() {
  check_dir
  rm -rf "$DIR"
  mkdir -p "$DIR" "$RUN" "$LOGS" "$DIR/mon/a" "$DIR/osd/0" "$DIR/rgw" "$DIR/crash"
  : >"$DIR/$MARKER"
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<EOF
# Written by scripts/s3-server.sh start; rewritten at every start.
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
run dir = $RUN
admin socket = $RUN/\$name.asok
log file = $LOGS/\$name.log
mon cluster log file = $LOGS/cluster.log
crash dir = $DIR/crash
keyring = $DIR/keyring
mon data = $DIR/mon/\$id
osd data = $DIR/osd/\$id
rgw data = $DIR/rgw
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
paxos propose interval = 0.02
paxos min wait = 0.01

[client]
# ceph / radosgw-admin commands: no admin socket (several may run at once)
admin socket =

[client.rgw.a]
admin socket = $RUN/\$name.asok
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT tcp_nodelay=1
# free deleted objects' space (memstore is RAM) within a minute, not after 2 hours
rgw gc obj min wait = 30
rgw gc processor period = 30
$(sts_conf)
${SLUICE_S3_RGW_CONF:-}
EOF
}

# Random keys: a 20-character access key, a 40-character secret (AWS's shapes).
new_access_key() { openssl rand -hex 10 | tr 'a-f' 'A-F'; }
new_secret_key() { openssl rand -base64 30; }

# The OSD is active once it logs so (a free check, every poll), or says so on its admin
# socket (a python command, ~0.15 s: every 10th poll, in case the log line changes).
OSD_POLLS=0
osd_active() {
  grep -q 'state: booting -> active' "$(log_file osd)" && return 0
  ((++OSD_POLLS % 10 == 0)) || return 1
  timeout 5 ceph --admin-daemon "$RUN/osd.0.asok" status 2>/dev/null |
    grep -q '"state": "active"'
}

s3_answers() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$S3_PORT/") \
     == 200 ]]
}

# add_identity NAME: random keys into the credentials file, then radosgw-admin user
# create in the background (pid in USER_PIDS[NAME]). admin gets the admin flag, all caps.
declare -A USER_PIDS=()
add_identity() {
  local name=$1 ak sk extra=()
  local caps="users=*;buckets=*;metadata=*;usage=*;zone=*;bilog=*;mdlog=*;datalog=*"
  caps+=";roles=*;user-policy=*;amz-cache=*;oidc-provider=*"
  ak=$(new_access_key)
  sk=$(new_secret_key)
  printf '[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n' \
         "$name" "$ak" "$sk" >>"$DIR/credentials"
  [[ $name == admin ]] && extra=(--admin --caps "$caps")
  timeout 30 radosgw-admin user create --uid "$name" --display-name "sluice $name" \
    --access-key "$ak" --secret-key "$sk" "${extra[@]}" >"$LOGS/user-$name.out" 2>&1 &
  USER_PIDS[$name]=$!
}

wait_identity() {
  wait "${USER_PIDS[$1]}" ||
    fail_start "$LOGS/user-$1.out" "radosgw-admin user create --uid $1 failed"
}

# Prints "<access key> <secret key>" of a profile in the credentials file.
profile_keys() {
  awk -v want="[$1]" '
    /^\[/ { in_p = ($0 == want) }
    in_p && $1 == "aws_access_key_id" { ak = $3 }
    in_p && $1 == "aws_secret_access_key" { sk = $3 }
    END { if (ak == "" || sk == "") exit 1; print ak, sk }' "$DIR/credentials"
}

create_bucket() {  # create_bucket NAME ACCESS_KEY SECRET_KEY
  local out=$LOGS/bucket-$1.out code
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 20 -X PUT -H "$UNSIGNED" \
              --aws-sigv4 "aws:amz:$REGION:s3" --user "$2:$3" \
              "http://127.0.0.1:$S3_PORT/$1" 2>&1) || true
  [[ $code == 200 ]] || fail_start "$out" "CreateBucket $1 answered HTTP $code"
}

# Versioning on the staging bucket (issue: the artifact protocol): every upload is a
# version of its own, immutable and unreadable to interpreters, so the mover copies,
# checks and deletes exactly the version it listed, and an upload that replaces a key
# meanwhile is a new version that the next poll picks up — never deleted unseen.
enable_versioning() {  # enable_versioning NAME ACCESS_KEY SECRET_KEY
  local out=$LOGS/versioning-$1.out code
  local body='<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>'
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 20 -X PUT -H "$UNSIGNED" \
              --aws-sigv4 "aws:amz:$REGION:s3" --user "$2:$3" --data-binary "$body" \
              "http://127.0.0.1:$S3_PORT/$1?versioning=" 2>&1) || true
  [[ $code == 200 ]] || fail_start "$out" "PutBucketVersioning $1 answered HTTP $code"
}

# The mover first; while its first bucket is created (that creates radosgw's data pools,
# ~0.25 s) the other identities are created alongside.
create_identities_and_buckets() {
  local name ak sk b
  (umask 077 && : >"$DIR/credentials")
  add_identity mover
  wait_identity mover
  trace "identity mover"
  for name in "${IDENTITIES[@]}"; do [[ $name == mover ]] || add_identity "$name"; done
  read -r ak sk < <(profile_keys mover)
  for b in "${BUCKETS[@]}"; do create_bucket "sluice-$b" "$ak" "$sk"; done
  enable_versioning sluice-staging "$ak" "$sk"
  trace "buckets"
  for name in "${IDENTITIES[@]}"; do [[ $name == mover ]] || wait_identity "$name"; done
  trace "identities"
}

# ---------------------------------------------------------------- policies ---------

# The configuration start writes for `sluice-mover policy`: the local buckets, the routes
# of config/examples/local.json plus a "tests" route (staging prefix tests/) for the
# integration tests, and the local identities as radosgw spells principals
# (arn:aws:iam:::user/<uid>: no account, the default tenant). Nothing in it is opened.
write_policy_config() {
  cat >"$DIR/policy-config.json" <<EOF
{
  "s3": { "endpoint": "http://127.0.0.1:$S3_PORT", "region": "$REGION",
          "credentials": { "file": "credentials", "profile": "mover" } },
  "buckets": { "staging": "sluice-staging", "quarantine": "sluice-quarantine",
               "trusted": "sluice-trusted" },
  "grants": { "credentials": { "file": "credentials", "profile": "grants" },
              "sts": { "role_arn": "$STS_ROLE_ARN", "max_session": "4h" } },
  "routes": [
    { "name": "reports", "staging_prefix": "reports/", "trusted_prefix": "reports/" },
    { "name": "metrics", "staging_prefix": "metrics/", "trusted_prefix": "metrics/", "sts": true,
      "reference": { "bucket": "sluice-reference", "prefixes": ["public/"] } },
    { "name": "tests", "staging_prefix": "tests/", "trusted_prefix": "tests/", "sts": true,
      "reference": { "bucket": "sluice-reference", "keys": ["tests/ref/one.csv", "tests/ref/two.csv"],
                     "prefixes": ["tests/shared/"] } }
  ],
  "audit": { "file": "run/audit.jsonl" },
  "identities": {
    "mover": "arn:aws:iam:::user/mover",
    "grants": "arn:aws:iam:::user/grants",
    "consumers": ["arn:aws:iam:::user/consumer"],
    "reviewers": ["arn:aws:iam:::user/reviewer"],
    "administrators": ["arn:aws:iam:::user/admin"]
  }
}
EOF
}

# ---------------------------------------------------------------- events -----------
# radosgw serves SNS CreateTopic on the S3 port. Version 16 refuses a push endpoint with a
# user and password over plain HTTP, so the secret travels as ?token= in the endpoint URL.
setup_events() {
  local ak sk code secret endpoint out=$LOGS/events.out
  read -r ak sk < <(profile_keys mover) || { echo "no [mover] profile in $DIR/credentials"; return 1; }
  secret=$(openssl rand -hex 24)
  (umask 077 && printf '%s\n' "$secret" >"$DIR/events-secret")
  endpoint="http://127.0.0.1:$EVENTS_PORT/events?token=$secret"
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 20 --data-urlencode Action=CreateTopic \
              --data-urlencode "Name=$EVENTS_TOPIC" \
              --data-urlencode Attributes.entry.1.key=push-endpoint \
              --data-urlencode "Attributes.entry.1.value=$endpoint" \
              --data-urlencode Attributes.entry.2.key=persistent \
              --data-urlencode "Attributes.entry.2.value=$EVENTS_PERSISTENT" \
              --aws-sigv4 "aws:amz:$REGION:sns" --user "$ak:$sk" "http://127.0.0.1:$S3_PORT/" 2>&1) || true
  [[ $code == 200 ]] || { echo "CreateTopic answered HTTP $code: $(head -c 300 "$out")"; return 1; }
  set_recorded EVENTS_LISTEN "127.0.0.1:$EVENTS_PORT"
  if [[ ${SLUICE_EVENTS_NOTIFY:-0} != 1 ]]; then
    echo "events: topic $EVENTS_TOPIC pushes to http://127.0.0.1:$EVENTS_PORT/events (no bucket notification: SLUICE_EVENTS_NOTIFY=1 adds it)"
    return 0
  fi
  printf '%s' "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" \
    "<TopicConfiguration><Id>sluice</Id><Topic>arn:aws:sns:default::$EVENTS_TOPIC</Topic>" \
    "<Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>" \
    >"$RUN/notification.xml"
  # "?notification=", not "?notification": as for "?policy=" below.
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 20 -X PUT -H "$UNSIGNED" \
              --data-binary "@$RUN/notification.xml" --aws-sigv4 "aws:amz:$REGION:s3" --user "$ak:$sk" \
              "http://127.0.0.1:$S3_PORT/sluice-staging?notification=" 2>&1) || true
  [[ $code == 200 ]] || { echo "PutBucketNotification answered HTTP $code: $(head -c 300 "$out")"; return 1; }
  echo "events: sluice-staging pushes ObjectCreated to http://127.0.0.1:$EVENTS_PORT/events"
}

# ---------------------------------------------------------------- sts --------------

# STS for the tasks' credentials (docs/tasks.md, "STS credentials"). radosgw serves the
# STS query API on the S3 port once `rgw s3 auth use sts` is on; session tokens are
# encrypted with `rgw sts key` (exactly 16 characters). The role is made through the IAM
# API (radosgw-admin cannot set MaxSessionDuration) with the admin's keys (caps roles=*).
readonly STS_ROLE=sluice-task
readonly STS_ROLE_ARN=arn:aws:iam:::role/$STS_ROLE
readonly STS_MAX_SESSION=14400          # 4h: grants.max_ttl of the local configurations

sts_conf() {
  printf '%s\n' "# STS for tasks' credentials (scripts/s3-server.sh: sts_conf, setup_sts)" \
    "rgw s3 auth use sts = true" "rgw sts key = $(openssl rand -hex 8)" \
    "# local keys first: with STS first (the default order) radosgw 16 answers every failed" \
    "# authentication AccessDenied, not InvalidAccessKeyId or SignatureDoesNotMatch" \
    "rgw s3 auth order = local, external, sts" \
    "# SSE-C over plain HTTP, so that writes with customer keys reach the bucket policies" \
    "rgw crypt require ssl = false"
}

iam_call() {  # iam_call OUT ACTION NAME=VALUE...: an IAM query API call as the admin
  local out=$1 action=$2 ak sk code args=()
  shift 2
  read -r ak sk < <(profile_keys admin) || { echo "no [admin] profile in $DIR/credentials"; return 1; }
  args=(--data-urlencode "Action=$action" --data-urlencode "Version=2010-05-08")
  while (($#)); do args+=(--data-urlencode "$1"); shift; done
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 20 "${args[@]}" \
              --aws-sigv4 "aws:amz:$REGION:iam" --user "$ak:$sk" "http://127.0.0.1:$S3_PORT/" 2>&1) || true
  [[ $code == 200 ]] && return 0
  echo "IAM $action answered HTTP $code: $(head -c 300 "$out" 2>/dev/null)"
  return 1
}

# setup_sts MODE: the task role from `sluice-mover policy --task-role` of the policy
# configuration. Returns 0 when made; 2 in MODE auto when sluice-mover cannot print the
# role's documents yet (a warning); 1 otherwise.
setup_sts() {
  local mode=$1 config=${SLUICE_S3_POLICY_CONFIG:-$DIR/policy-config.json} trust perms
  set_recorded STS none
  if [[ ! -x $MOVER_BIN ]] ||
     ! trust=$("$MOVER_BIN" policy -c "$config" --task-role trust 2>"$LOGS/sts-role.out") ||
     ! perms=$("$MOVER_BIN" policy -c "$config" --task-role permissions 2>>"$LOGS/sts-role.out"); then
    echo "no STS role made: \`$MOVER_BIN policy --task-role\` is not available ($(tail -n 1 "$LOGS/sts-role.out" \
          2>/dev/null)); then run: $0 start"
    [[ $mode == required ]] && return 1
    return 2
  fi
  iam_call "$LOGS/sts-create-role.out" CreateRole "RoleName=$STS_ROLE" "Path=/" \
    "AssumeRolePolicyDocument=$trust" "MaxSessionDuration=$STS_MAX_SESSION" || return 1
  iam_call "$LOGS/sts-role-policy.out" PutRolePolicy "RoleName=$STS_ROLE" "PolicyName=$STS_ROLE" \
    "PolicyDocument=$perms" || return 1
  set_recorded STS "$STS_ROLE_ARN"
  echo "STS role $STS_ROLE_ARN made (MaxSessionDuration ${STS_MAX_SESSION}s; its policies from $config)"
}

set_recorded() {  # set_recorded KEY VALUE: replace or add KEY=VALUE in server.env
  local file=$DIR/server.env
  { grep -v "^$1=" "$file" 2>/dev/null || true; printf '%s=%s\n' "$1" "$2"; } >"$file.new"
  mv -f "$file.new" "$file"
}

put_bucket_policy() {  # put_bucket_policy BUCKET FILE ACCESS_KEY SECRET_KEY
  local out=$LOGS/policy-$1.out code
  # "?policy=", not "?policy": curl 7.88 signs the bare form differently from radosgw.
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 20 -X PUT -H "$UNSIGNED" \
              -H 'Content-Type: application/json' --data-binary "@$2" \
              --aws-sigv4 "aws:amz:$REGION:s3" --user "$3:$4" \
              "http://127.0.0.1:$S3_PORT/$1?policy=" 2>&1) || true
  [[ $code == 200 || $code == 204 ]] && return 0
  echo "PutBucketPolicy $1 answered HTTP $code: $(head -c 300 "$out" 2>/dev/null)"
  return 1
}

# apply_policies MODE: has sluice-mover write the policies into <dir>/policies, then
# applies each with the mover's keys; prints what it did or why it did not. Returns 0
# when applied; 2 in MODE auto when sluice-mover is missing or has no `policy` command
# yet (exit 3: "not available", or 2: a usage error — an older sluice-mover does not know
# --output-dir), a warning; 1 on any other failure (and on every failure in MODE
# required).
apply_policies() {
  local mode=$1 config=${SLUICE_S3_POLICY_CONFIG:-$DIR/policy-config.json} rc=0
  local bucket file ak sk applied=()
  config=$(realpath -m -- "$config")
  set_recorded POLICIES none
  if [[ ! -x $MOVER_BIN ]]; then
    echo "no bucket policies applied: $MOVER_BIN is not built (cmake -S . -B build &&" \
         "cmake --build build); then run: $0 policies"
    [[ $mode == required ]] && return 1
    return 2
  fi
  rm -rf "$DIR/policies"
  "$MOVER_BIN" policy -c "$config" --output-dir "$DIR/policies" >"$LOGS/policy.out" 2>&1 || rc=$?
  if ((rc == 2 || rc == 3)) && [[ $mode != required ]]; then
    echo "no bucket policies applied: $MOVER_BIN has no \`policy -c FILE --output-dir DIR\`" \
         "command yet (exit $rc; see $LOGS/policy.out); after building it, run: $0 policies"
    return 2
  fi
  if ((rc != 0)); then
    echo "\`$MOVER_BIN policy -c $config\` failed (exit $rc): $(tail -n 5 "$LOGS/policy.out")"
    return 1
  fi
  # the admin's keys: the policies deny every other identity (the owner too) bucket settings
  read -r ak sk < <(profile_keys admin) || { echo "no [admin] profile in $DIR/credentials"; return 1; }
  while read -r bucket file; do
    put_bucket_policy "$bucket" "$file" "$ak" "$sk" || return 1
    applied+=("$bucket")
  done <"$LOGS/policy.out"
  ((${#applied[@]} > 0)) || { echo "\`$MOVER_BIN policy\` wrote no policy"; return 1; }
  set_recorded POLICIES applied
  set_recorded POLICY_CONFIG "$config"
  echo "bucket policies applied to ${applied[*]} (from $config; docs/policies.md)"
}

cmd_start() {
  local c fsid osd_uuid mkfs_mon mkfs_osd job msg rc
  [[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "SLUICE_S3_START_TIMEOUT=$START_TIMEOUT: seconds"
  [[ $POLICIES == @(auto|required|off) ]] ||
    die "SLUICE_S3_POLICIES=$POLICIES: expected auto, required or off"
  for c in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl openssl setsid; do
    command -v "$c" >/dev/null ||
      die "$c not found; install the dependencies with scripts/install-deps.sh"
  done
  [[ $DIR =~ ^[A-Za-z0-9._/+@:-]+$ ]] ||
    die "SLUICE_S3_DIR=$DIR: use a path of letters, digits and ._/+@:- only (it goes" \
        "into ceph.conf)"
  # Unix socket paths are limited to 107 bytes.
  ((${#RUN} + 20 <= 107)) ||
    die "SLUICE_S3_DIR=$DIR is too long for Ceph's admin sockets; choose a shorter one"

  check_dir
  if any_running; then
    say "already running in $DIR: stopping it to start fresh"
    stop_all || die "could not stop the running instance"
  fi
  T0=$(now_us)
  DEADLINE=$((T0 + START_TIMEOUT * 1000000))
  [[ $S3_PORT != "$MON_PORT" ]] || die "SLUICE_S3_PORT and SLUICE_MON_PORT are both $MON_PORT"
  check_port "$S3_PORT" SLUICE_S3_PORT "radosgw S3 endpoint"
  check_port "$MON_PORT" SLUICE_MON_PORT "ceph-mon"
  prepare_dir

  trap on_start_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  fsid=$(</proc/sys/kernel/random/uuid)
  osd_uuid=$(</proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  printf 'S3_PORT=%s\nMON_PORT=%s\n' "$S3_PORT" "$MON_PORT" >"$DIR/server.env"

  # mkfs of mon and OSD in parallel (the OSD's needs no mon: --no-mon-config).
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$RUN/monmap" \
    >"$LOGS/monmap.out" 2>&1 || fail_start "$LOGS/monmap.out" "monmaptool failed"
  timeout 30 ceph-mon -c "$CONF" --mkfs -i a --monmap "$RUN/monmap" \
    >"$LOGS/mon-mkfs.out" 2>&1 &
  mkfs_mon=$!
  timeout 30 ceph-osd -c "$CONF" --mkfs -i 0 --osd-uuid "$osd_uuid" --no-mon-config \
    >"$LOGS/osd-mkfs.out" 2>&1 &
  mkfs_osd=$!
  wait "$mkfs_mon" || fail_start "$LOGS/mon-mkfs.out" "ceph-mon --mkfs failed"
  wait "$mkfs_osd" || fail_start "$LOGS/osd-mkfs.out" "ceph-osd --mkfs failed"
  trace "mkfs"

  launch mon ceph-mon -f -i a
  # Registers osd.0 (the command waits for the mon's quorum itself).
  timeout 20 ceph --connect-timeout 15 osd new "$osd_uuid" 0 >"$LOGS/osd-new.out" 2>&1 &
  job=$!
  wait_for mon 20 "answer from the monitor to \`ceph osd new\`" job_done "$job"
  wait "$job" || fail_start "$LOGS/osd-new.out" "\`ceph osd new\` failed"
  trace "mon up, osd.0 registered"

  launch osd ceph-osd -f -i 0
  wait_for osd 20 "active OSD" osd_active
  trace "osd active"

  launch rgw radosgw -f -n client.rgw.a
  wait_for rgw 30 "HTTP 200 from radosgw on port $S3_PORT" s3_answers
  trace "radosgw answers"

  create_identities_and_buckets
  msg=$(setup_events) || fail_start "$LOGS/events.out" "$msg"
  say "$msg"
  trace "events"

  write_policy_config
  if [[ $POLICIES == off ]]; then
    set_recorded POLICIES none
  else
    rc=0
    msg=$(apply_policies "$POLICIES") || rc=$?
    case $rc in
      0) say "$msg" ;;
      2) warn "$msg" ;;
      *) fail_start "$LOGS/policy.out" "$msg" ;;
    esac
    trace "policies"
    rc=0
    msg=$(setup_sts "$POLICIES") || rc=$?
    case $rc in
      0) say "$msg" ;;
      2) warn "$msg" ;;
      *) fail_start "$LOGS/sts-role.out" "$msg" ;;
    esac
    trace "sts"
  fi

  START_OK=1
  trap - EXIT INT TERM
  say "ready at http://127.0.0.1:$S3_PORT in $(secs_since "$T0")s (data: $DIR)"
  say "identities: ${IDENTITIES[*]}; buckets: ${BUCKETS[*]/#/sluice-}"
  say "use it: eval \"\$($0 env)\""
}

# ---------------------------------------------------------------- other commands ---

recorded() {  # recorded KEY: a value from server.env
  [[ -r $DIR/server.env ]] || return 1
  awk -F= -v k="$1" '$1 == k { print substr($0, length(k) + 2); f = 1 } END { exit !f }' \
      "$DIR/server.env"
}

cmd_stop() {
  if ! any_running; then
    rm -f "$RUN"/*.pid 2>/dev/null || true
    say "not running (data: $DIR)"
    return 0
  fi
  stop_all || die "could not stop every daemon; see above"
  say "stopped (data: $DIR)"
}

cmd_status() {
  local d pid up=() down=() port
  for d in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$d"); then
      up+=("$(daemon_label "$d") $pid")
    else
      down+=("$(daemon_label "$d")")
    fi
  done
  port=$(recorded S3_PORT) || port=$S3_PORT
  if ((${#down[@]} == 0)); then
    say "running at http://127.0.0.1:$port (pids: $(join "${up[@]}"); data: $DIR;" \
        "bucket policies: $(recorded POLICIES || echo none))"
    return 0
  elif ((${#up[@]} == 0)); then
    say "not running (data: $DIR)"
    return 3
  fi
  say "degraded: running: $(join "${up[@]}"); not running: $(join "${down[@]}");" \
      "logs in $LOGS; restart with: $0 start"
  return 1
}

join() {  # join WORDS...: "a, b, c"
  local out=$1 w
  shift
  for w in "$@"; do out+=", $w"; done
  echo "$out"
}

shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

cmd_env() {
  local d port name ak sk upper
  for d in "${DAEMONS[@]}"; do
    daemon_pid "$d" >/dev/null ||
      die "the local S3 server is not running (data: $DIR); start it with: $0 start"
  done
  port=$(recorded S3_PORT) || die "$DIR/server.env is missing; restart with: $0 start"
  printf 'export SLUICE_S3_ENDPOINT=%s\n' "$(shq "http://127.0.0.1:$port")"
  printf 'export SLUICE_S3_REGION=%s\n' "$(shq "$REGION")"
  printf 'export SLUICE_S3_DIR=%s\n' "$(shq "$DIR")"
  printf 'export SLUICE_S3_CREDENTIALS=%s\n' "$(shq "$DIR/credentials")"
  printf 'export SLUICE_EVENTS_LISTEN=%s\n' "$(shq "$(recorded EVENTS_LISTEN || echo none)")"
  printf 'export SLUICE_EVENTS_SECRET_FILE=%s\n' "$(shq "$DIR/events-secret")"
  printf 'export SLUICE_S3_POLICIES=%s\n' "$(shq "$(recorded POLICIES || echo none)")"
  printf 'export SLUICE_STS_ROLE_ARN=%s\n' "$(shq "$(recorded STS || echo none)")"
  printf 'export SLUICE_S3_POLICY_CONFIG=%s\n' \
         "$(shq "$(recorded POLICY_CONFIG || echo "$DIR/policy-config.json")")"
  for name in "${BUCKETS[@]}"; do
    upper=${name^^}
    printf 'export SLUICE_BUCKET_%s=%s\n' "$upper" "$(shq "sluice-$name")"
  done
  for name in "${IDENTITIES[@]}"; do
    read -r ak sk < <(profile_keys "$name") ||
      die "no profile [$name] in $DIR/credentials; restart with: $0 start"
    upper=${name^^}
    printf 'export SLUICE_%s_ACCESS_KEY=%s\n' "$upper" "$(shq "$ak")"
    printf 'export SLUICE_%s_SECRET_KEY=%s\n' "$upper" "$(shq "$sk")"
  done
}

# Applies the policies again (after a build, or with another SLUICE_S3_POLICY_CONFIG);
# every failure is an error here.
cmd_policies() {
  local d msg
  for d in "${DAEMONS[@]}"; do
    daemon_pid "$d" >/dev/null ||
      die "the local S3 server is not running (data: $DIR); start it with: $0 start"
  done
  S3_PORT=$(recorded S3_PORT) || die "$DIR/server.env is missing; restart with: $0 start"
  # the configuration of the last policies applied, unless another is named
  [[ -n ${SLUICE_S3_POLICY_CONFIG:-} ]] || SLUICE_S3_POLICY_CONFIG=$(recorded POLICY_CONFIG) ||
    SLUICE_S3_POLICY_CONFIG=$DIR/policy-config.json
  msg=$(apply_policies required) || die "$msg"
  say "$msg"
}

usage() {
  cat <<EOF
usage: $0 start|stop|status|env|policies
  start     start a fresh local S3 server (radosgw) in $DIR, with bucket policies
  stop      stop it
  status    is it running? (exit 0 yes, 3 no, 1 partly)
  env       print export lines: eval "\$($0 env)"
  policies  write the bucket policies with sluice-mover and apply them again
settings: SLUICE_S3_DIR, SLUICE_S3_PORT (7480), SLUICE_MON_PORT (3300),
          SLUICE_S3_START_TIMEOUT (60), SLUICE_S3_RGW_CONF, SLUICE_MOVER_BIN,
          SLUICE_S3_POLICIES (auto), SLUICE_S3_POLICY_CONFIG; see docs/local-s3-server.md
EOF
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  policies) cmd_policies ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
