#!/usr/bin/env bash
# scripts/package.sh [BUILD_DIR] — builds the Debian package
# sluice_<version>-<revision>_<arch>.deb with CPack (packaging/package.cmake) in
# BUILD_DIR (default build-pkg/), compiled with Debian's hardening flags
# (dpkg-buildflags, hardening=+all: fortify, stack protector, PIE, full RELRO), without
# the tests; then runs lintian on it when lintian is installed (not with
# SLUICE_PACKAGE_LINTIAN=0). Prints the package's path on the last line. docs/packaging.md describes the package.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-pkg}
jobs=$(nproc 2>/dev/null || echo 2)

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags="$(dpkg-buildflags --get LDFLAGS)"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TESTS=OFF \
      -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$build" -j "$jobs" --target sluice-mover sluice-review sluice_package_files >/dev/null
rm -f "$build"/sluice_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/sluice_*.deb)
[ "$(echo "$deb" | wc -l)" -eq 1 ] || { echo "package.sh: expected one package, got: $deb" >&2; exit 1; }

if [ "${SLUICE_PACKAGE_LINTIAN:-1}" = 1 ] && command -v lintian >/dev/null; then
    echo "lintian:" >&2
    lintian --info --display-info --pedantic "$deb" >&2 || true
fi
echo "$deb"
