#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install every Debian package vtpm-placement needs to build, test and run. Idempotent.
set -euo pipefail

packages=(
    # build
    build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
    # libraries we link
    libpq-dev libcurl4-openssl-dev libssl-dev libjansson-dev libvirt-dev libyaml-dev libxml2-dev
    libcmocka-dev
    # tests and real components
    valgrind binutils jq bsdextrautils openssl postgresql postgresql-contrib clang-tidy
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-clients qemu-system-x86
    swtpm swtpm-tools
    # tests/lint/function-lengths.sh
    universal-ctags
    # man pages (docs/man/*.scd); promtool checks the metrics and the alert rules
    scdoc man-db prometheus
    # network partitions in a private network namespace (tests/reporter/publish/pg/test_partition.c)
    iptables iproute2
    # pooled publishing through a transaction pool (tests/fixtures/pgbouncer.sh, dist/pgbouncer.ini.example)
    pgbouncer
    # a server whose messages are German (tests/reporter/publish/pg/test_translated.c
    # generates de_DE.UTF-8 with localedef)
    locales
    # Debian packages (debian/, tests/install/test_packages.sh)
    dpkg-dev debhelper dh-python fakeroot lintian scdoc
    # reference implementations used by the benchmarks and integration tests
    python3-nova placement-api python3-psycopg2 uwsgi-core uwsgi-plugin-python3
    # nova-compute's libvirt driver under test (tests/scheduler/nova/test_compute.py)
    python3-libvirt
    barbican-api keystone
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package post-install scripts must not try to start services: there may be no init system.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
