#!/bin/sh
# Install (as root) or list (otherwise) the Debian packages a make target needs.
# Usage: scripts/deps.sh build|test|demo|bench
# Why a script: `make demo` and `make test` must work on a fresh Debian 12
# machine with nothing installed by hand.
set -eu

build_pkgs="gcc make pkg-config libevent-dev libcurl4-openssl-dev libjansson-dev libsystemd-dev libssl-dev"
# The chaos suite needs wrk (webhook flood), faketime (clock steps) and
# libfiu (I/O faults), strace (kills at a chosen system call); fuzzing needs clang-14 with its libFuzzer runtime.
test_pkgs="openssl python3 curl prometheus prometheus-alertmanager gdb e2fsprogs systemd man-db groff-base debootstrap
           wrk faketime fiu-utils libfiu0 strace procps clang-14 libclang-rt-14-dev"
demo_pkgs="openssl python3 curl prometheus prometheus-alertmanager e2fsprogs"
bench_pkgs="openssl python3 curl wrk nginx-light procps time"

case "${1:-build}" in
    build) want="$build_pkgs" ;;
    test)  want="$build_pkgs $test_pkgs" ;;
    demo)  want="$build_pkgs $demo_pkgs" ;;
    bench) want="$build_pkgs $bench_pkgs" ;;
    *) echo "usage: $0 build|test|demo|bench" >&2; exit 2 ;;
esac

# RATCHET_DEPS_EXTRA adds names (the test suite uses it to check the not-root path).
want="$want ${RATCHET_DEPS_EXTRA:-}"
missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi

echo "deps: these Debian packages are missing. Install them as root with:" >&2
echo "    apt-get install$missing" >&2
exit 1
