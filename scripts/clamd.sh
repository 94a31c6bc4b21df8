#!/usr/bin/env bash
# clamd.sh — a throw-away ClamAV daemon (clamd) for the tests and scripts/up.sh, with a
# signature database the project writes itself: no freshclam, no internet, no system
# configuration (the packaged clamav-daemon service is not used).
#
#   scripts/clamd.sh start     wipe the folder, write clamd.conf and the signatures, start
#                              clamd and wait until it answers PING (restarts if running)
#   scripts/clamd.sh stop      stop what start started (by recorded pid); fine if idle
#   scripts/clamd.sh status    running / not running; exit 0 running, 3 not running
#   scripts/clamd.sh reload    rewrite the signatures (SLUICE_CLAMD_EXTRA too) and make
#                              clamd reload them (RELOAD); waits until it answers again
#   eval "$(scripts/clamd.sh env)"
#                              export SLUICE_CLAMD_SOCKET (exit 1 if clamd is not running)
#
# Settings (environment):
#   SLUICE_CLAMD_DIR           its folder; default <repo>/build/clamd
#   SLUICE_CLAMD_STREAM_MAX    clamd's StreamMaxLength (INSTREAM size limit); default 16M;
#                              also its MaxFileSize and MaxScanSize, with AlertExceedsMax,
#                              so a stream clamd takes is scanned whole or reported FOUND
#                              (Heuristics.Limits.Exceeded), never skipped and called OK
#   SLUICE_CLAMD_EXTRA         a file of extra .ndb signature lines to load (tests)
#   SLUICE_CLAMD_START_TIMEOUT seconds to wait for the first PONG; default 60
#
# The signatures (<dir>/db/sluice-test.ndb, ClamAV's extended format
# Name:TargetType:Offset:HexSignature):
#   Eicar-Test-Signature   the EICAR anti-virus test string, anywhere in a file
#   Sluice.Test.Pattern    the project's own test pattern (docs/checks.md), anywhere
# Both are written here as hex, so no source file of the project carries either string.
# clamd unpacks what it knows itself (zip, tar, gzip, ...) and applies them inside too.
set -euo pipefail

readonly PROG=clamd
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${SLUICE_CLAMD_DIR:-$REPO/build/clamd}
DIR=$(realpath -m -- "$DIR")
STREAM_MAX=${SLUICE_CLAMD_STREAM_MAX:-16M}
START_TIMEOUT=${SLUICE_CLAMD_START_TIMEOUT:-60}
readonly MARKER=.sluice-clamd
CONF=$DIR/clamd.conf
SOCKET=$DIR/clamd.sock
PIDFILE=$DIR/clamd.pid
CLAMD=${SLUICE_CLAMD_BIN:-/usr/sbin/clamd}

say() { printf '%s: %s\n' "$PROG" "$*"; }
err() { printf '%s: error: %s\n' "$PROG" "$*" >&2; }
die() { err "$*"; exit 1; }

hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# The EICAR test string, assembled from two halves.
eicar() {
  printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-' 'ANTIVIRUS-TEST-FILE!$H+H*'
}

# The project's own test pattern: harmless text no real file carries by accident.
readonly PATTERN_HALVES=('SLUICE-MALWARE-TEST-' 'PATTERN-5f2c9e1a-DO-NOT-PROMOTE')

write_signatures() {
  mkdir -p "$DIR/db"
  {
    printf 'Eicar-Test-Signature:0:*:%s\n' "$(hex "$(eicar)")"
    printf 'Sluice.Test.Pattern:0:*:%s\n' "$(hex "${PATTERN_HALVES[0]}${PATTERN_HALVES[1]}")"
  } >"$DIR/db/sluice-test.ndb.new"
  mv "$DIR/db/sluice-test.ndb.new" "$DIR/db/sluice-test.ndb"
  if [[ -n ${SLUICE_CLAMD_EXTRA:-} ]]; then
    [[ -r $SLUICE_CLAMD_EXTRA ]] || die "SLUICE_CLAMD_EXTRA=$SLUICE_CLAMD_EXTRA is not readable"
    cp "$SLUICE_CLAMD_EXTRA" "$DIR/db/extra.ndb.new"
    mv "$DIR/db/extra.ndb.new" "$DIR/db/extra.ndb"
  else
    rm -f "$DIR/db/extra.ndb"
  fi
}

write_conf() {
  cat >"$CONF" <<CONF
# written by scripts/clamd.sh: everything inside $DIR
LocalSocket $SOCKET
LocalSocketMode 660
FixStaleSocket yes
DatabaseDirectory $DIR/db
TemporaryDirectory $DIR/tmp
LogFile $DIR/clamd.log
LogTime yes
PidFile $PIDFILE
Foreground yes
StreamMaxLength $STREAM_MAX
MaxFileSize $STREAM_MAX
MaxScanSize $STREAM_MAX
AlertExceedsMax yes
MaxThreads 4
MaxQueue 64
ReadTimeout 30
CommandReadTimeout 5
IdleTimeout 30
SelfCheck 0
Bytecode no
CONF
}

# Succeeds when pid is a live (not zombie) clamd whose argv has our --config-file.
is_ours() {
  [[ $1 =~ ^[0-9]+$ && -r /proc/$1/cmdline ]] || return 1
  [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == [RSDTtWPI] ]] || return 1
  grep -qzxF -- "--config-file=$CONF" "/proc/$1/cmdline"
}

our_pid() {
  local pid
  [[ -r $DIR/run.pid ]] || return 1
  pid=$(<"$DIR/run.pid")
  is_ours "$pid" || return 1
  echo "$pid"
}

# Sends a z-command to the socket, prints the answer (without its NUL).
ask() {
  python3 - "$SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
    s.sendall(b"z" + sys.argv[2].encode() + b"\0")
    out = b""
    while not out.endswith(b"\0"):
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    print(out.rstrip(b"\0").decode("utf-8", "replace"))
except OSError as e:
    print(f"unreachable: {e}")
    sys.exit(1)
PY
}

# Waits until clamd answers PING with PONG (or dies, or the timeout passes).
wait_pong() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! is_ours "$pid"; then
      err "clamd (pid $pid) exited; the end of its log:"
      tail -n 20 "$DIR/clamd.log" "$DIR/stderr.log" >&2 2>/dev/null || true
      return 1
    fi
    [[ -S $SOCKET && $(ask PING 2>/dev/null) == PONG ]] && return 0
    sleep 0.1
  done
  err "clamd did not answer PING within ${START_TIMEOUT}s; the end of its log:"
  tail -n 20 "$DIR/clamd.log" >&2 2>/dev/null || true
  return 1
}

cmd_stop() {
  local pid i
  pid=$(our_pid) || { rm -f "$DIR/run.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    is_ours "$pid" || { rm -f "$DIR/run.pid" "$SOCKET"; say "stopped"; return 0; }
    sleep 0.05
  done
  err "clamd (pid $pid) did not exit within 10s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$DIR/run.pid" "$SOCKET"
}

cmd_start() {
  [[ -x $CLAMD ]] || die "$CLAMD not found: install clamav-daemon (scripts/install-deps.sh)"
  cmd_stop >/dev/null
  if [[ -d $DIR && ! -e $DIR/$MARKER && -n $(ls -A "$DIR") ]]; then
    die "$DIR exists, is not empty and was not made by this script; choose SLUICE_CLAMD_DIR"
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/tmp"
  touch "$DIR/$MARKER"
  write_conf
  write_signatures
  local t0=$SECONDS
  setsid "$CLAMD" --config-file="$CONF" </dev/null >"$DIR/stderr.log" 2>&1 &
  echo $! >"$DIR/run.pid"
  if ! wait_pong "$!"; then
    cmd_stop >/dev/null
    exit 1
  fi
  say "running (pid $(<"$DIR/run.pid"), socket $SOCKET, $(ask VERSION), up in $((SECONDS - t0))s)"
  say "use it: eval \"\$($0 env)\""
}

cmd_reload() {
  local pid answer
  pid=$(our_pid) || die "clamd is not running (start it: $0 start)"
  write_signatures
  answer=$(ask RELOAD)
  [[ $answer == RELOADING ]] || die "clamd answered RELOAD with: $answer"
  # clamd answers PING again once the new database is in force
  wait_pong "$pid"
  say "reloaded ($(ask VERSION))"
}

cmd_status() {
  local pid
  if pid=$(our_pid); then
    say "running (pid $pid, socket $SOCKET)"
    return 0
  fi
  say "not running"
  return 3
}

cmd_env() {
  our_pid >/dev/null || { err "clamd is not running (start it: $0 start)"; exit 1; }
  printf 'export SLUICE_CLAMD_SOCKET=%q\n' "$SOCKET"
}

usage() {
  cat <<USAGE
usage: $0 start|stop|status|reload|env
  start     wipe $DIR, write the signatures and clamd.conf, start clamd
  stop      stop it (SIGTERM, then SIGKILL after 10s)
  status    exit 0 when running, 3 when not
  reload    rewrite the signatures and make clamd load them
  env       print export lines: eval "\$($0 env)"
USAGE
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reload) cmd_reload ;;
  env) cmd_env ;;
  *) usage >&2; exit 2 ;;
esac
