#!/usr/bin/env bash
# Installs every build, test and server dependency of sluice from Debian packages.
# Idempotent: when everything is already installed it prints nothing and runs no
# apt-get at all; otherwise it runs `apt-get update` once and installs what is missing.
# clamav-daemon brings the packaged clamd and freshclam services: sluice's scripts run
# their own clamd (scripts/clamd.sh), so those services are stopped and disabled (on a
# fresh machine the packaged clamd would start without a signature database, and
# freshclam would go to the internet).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang
  libcurl4-openssl-dev libssl-dev libuv1-dev libjansson-dev libmagic-dev libexpat1-dev
  libhttp-parser-dev libyara-dev libvectorscan-dev libpcre2-dev libarchive-dev
  # tests
  libcmocka-dev valgrind python3 python3-boto3 awscli curl file
  # service tests: Prometheus and promtool, systemd-analyze, man pages
  prometheus systemd man-db
  # packaging (scripts/package.sh): dpkg-shlibdeps and dpkg-buildflags, lintian, adduser
  dpkg-dev lintian adduser
  # the protocol model (tests/model: spin writes a C verifier that gcc compiles)
  spin
  # local S3 server
  ceph-mon ceph-osd radosgw ceph-common
  # clamd (scripts/clamd.sh)
  clamav-daemon
  # benchmarks
  wrk rclone
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# While installing, a policy-rc.d (when the machine has none) forbids starting the
# packaged ClamAV services; removed again afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\ncase "$1" in clamav-daemon*|clamav-freshclam*) exit 101 ;; esac\nexit 0\n' |
    $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  own_policy=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
  { [ "$own_policy" = 0 ] || $SUDO rm -f "$policy"; exit 1; }
[ "$own_policy" = 0 ] || $SUDO rm -f "$policy"

# The packaged ClamAV services are not sluice's: stop and disable them where an init
# system runs them (no-ops in a container without one).
for unit in clamav-daemon clamav-freshclam; do
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$unit" ]; then
    $SUDO "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
    $SUDO update-rc.d "$unit" disable >/dev/null 2>&1 || true
  fi
done
