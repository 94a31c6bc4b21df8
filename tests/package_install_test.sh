#!/usr/bin/env bash
# package_install_test.sh SOURCE_DIR BUILD_DIR — builds the Debian package with
# scripts/package.sh (into BUILD_DIR), checks it with lintian, installs it on this
# machine with dpkg -i, and checks the installed package: the `sluice` system user,
# `/usr/bin/sluice-mover --version`, `check-config` on the installed example
# /etc/sluice/sluice.json, the manual pages through man, and the installed unit with
# `systemd-analyze verify` (manual pages included). Then purges it and checks that
# nothing is left (files, folders, and the user when the test created it).
#
# Needs root (CI runs as root). It refuses to run when a sluice package is already
# installed (it would replace someone's installation), and holds a lock so that two
# runs on one machine take turns. Everything it installs is run by absolute path and
# checked to belong to the package, never to the build tree.
set -euo pipefail
src=$1
build=$2

[ "$(id -u)" -eq 0 ] || { echo "package_install_test: needs root (dpkg -i)" >&2; exit 1; }
exec 9>/var/lock/sluice-package-test.lock
flock 9

if dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q 'installed'; then
    echo "package_install_test: a sluice package is already installed here; not touching it" >&2
    exit 1
fi
user_existed=0
getent passwd sluice >/dev/null && user_existed=1

installed=0
cleanup() {
    if [ "$installed" -eq 1 ]; then
        dpkg_retry --purge sluice >/dev/null 2>&1 || true
    fi
    if [ "$user_existed" -eq 0 ] && getent passwd sluice >/dev/null; then
        deluser --quiet --system sluice >/dev/null 2>&1 || userdel sluice >/dev/null 2>&1 || true
    fi
    if [ "$user_existed" -eq 0 ] && getent group sluice >/dev/null; then
        delgroup --quiet --system sluice >/dev/null 2>&1 || groupdel sluice >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

# dpkg refuses to run while apt or another dpkg holds its lock: wait for it.
dpkg_retry() {
    local i
    for i in $(seq 1 60); do
        if out=$(dpkg "$@" 2>&1); then
            echo "$out"
            return 0
        fi
        grep -q 'lock' <<<"$out" || { echo "$out" >&2; return 1; }
        sleep 2
    done
    echo "$out" >&2
    return 1
}

echo "== build"
deb=$(SLUICE_PACKAGE_LINTIAN=0 "$src/scripts/package.sh" "$build" 2>"$build.log" | tail -n 1)
[ -f "$deb" ] || { cat "$build.log" >&2; echo "no package built" >&2; exit 1; }
name=$(basename "$deb")
arch=$(dpkg --print-architecture)
version=$(sed -nE 's/^project\(sluice VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
[ "$name" = "sluice_${version}-1_${arch}.deb" ] || { echo "unexpected package name $name" >&2; exit 1; }
echo "built $name"

echo "== lintian"
if command -v lintian >/dev/null; then
    tags=$(lintian -I -E --pedantic "$deb" 2>&1 | grep -v '^running with root privileges' || true)
    if [ -n "$tags" ]; then
        echo "$tags" >&2
        echo "lintian reports tags that are neither fixed nor explained in packaging/debian/lintian-overrides" >&2
        exit 1
    fi
    echo "lintian: clean (pedantic, info and experimental tags included)"
else
    echo "lintian is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
fi

echo "== install"
dpkg_retry -i "$deb" >/dev/null
installed=1
[ "$(dpkg -S /usr/bin/sluice-mover | cut -d: -f1)" = sluice ] || { echo "/usr/bin/sluice-mover is not the package's" >&2; exit 1; }
getent passwd sluice | grep -q ':/var/lib/sluice:' || { echo "no system user sluice with home /var/lib/sluice" >&2; exit 1; }
uid=$(id -u sluice)
[ "$uid" -lt 1000 ] || { echo "sluice is not a system user (uid $uid)" >&2; exit 1; }

got=$(/usr/bin/sluice-mover --version)
[ "$got" = "sluice-mover $version" ] || { echo "sluice-mover --version said: $got" >&2; exit 1; }
/usr/bin/sluice-review --version | grep -qx "sluice-review $version" || { echo "sluice-review --version is wrong" >&2; exit 1; }
echo "sluice-mover --version: $got"
out=$(/usr/bin/sluice-mover check-config -c /etc/sluice/sluice.json)
echo "check-config: $out"
[[ "$out" == "OK: /etc/sluice/sluice.json: "* ]] || exit 1
dpkg-query -W -f='${Conffiles}\n' sluice | grep -q '/etc/sluice/sluice.json' || { echo "sluice.json is no conffile" >&2; exit 1; }
for page in sluice-mover.8 sluice.json.5 sluice-review.1; do
    path=$(man -w "${page%.*}" 2>/dev/null | head -n 1)
    [ "$path" = "/usr/share/man/man${page##*.}/$page.gz" ] || { echo "man -w ${page%.*}: '$path'" >&2; exit 1; }
done
echo "manual pages: installed"
if command -v systemd-analyze >/dev/null; then
    (cd / && systemd-analyze verify /lib/systemd/system/sluice-mover.service)
    echo "systemd-analyze verify (installed unit, manual pages checked): OK"
fi

echo "== purge"
dpkg_retry --purge sluice >/dev/null
installed=0
for path in /usr/bin/sluice-mover /usr/bin/sluice-review /etc/sluice /lib/systemd/system/sluice-mover.service \
            /usr/share/doc/sluice /usr/share/man/man8/sluice-mover.8.gz /var/lib/sluice; do
    [ ! -e "$path" ] || { echo "left behind after purge: $path" >&2; exit 1; }
done
cleanup
trap - EXIT
if [ "$user_existed" -eq 0 ] && getent passwd sluice >/dev/null; then
    echo "the user sluice is left behind" >&2
    exit 1
fi
echo "purged: nothing left"
