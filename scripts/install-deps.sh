#!/usr/bin/env bash
# Installs every build, test and server dependency of sluice from Debian packages.
# Idempotent: when everything is already installed it prints nothing and runs no
# apt-get at all; otherwise it runs `apt-get update` once and installs what is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang
  libcurl4-openssl-dev libssl-dev libuv1-dev libjansson-dev libmagic-dev libexpat1-dev
  libhttp-parser-dev libyara-dev libvectorscan-dev libpcre2-dev
  # tests
  libcmocka-dev valgrind python3 python3-boto3 awscli curl file
  # the protocol model (tests/model: spin writes a C verifier that gcc compiles)
  spin
  # local S3 server
  ceph-mon ceph-osd radosgw ceph-common
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
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
