#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds this source tree with only some of the optional libraries.
#
# pkg-config is given a folder holding only the .pc files of the libraries a
# configuration has (PKG_CONFIG_LIBDIR), so the others are not found:
#   1. jansson and cmocka: vtpm-filter and its tests, no vtpm-inventory, no
#      reporter; the benchmarks that need nothing else;
#   2. also libpq, libcurl and libyaml, no libvirt nor libxml2: vtpm-inventory
#      and libvtpm-inventory, still no reporter;
#   3. the first with -Dreporter=enabled: a configure error naming the library.
# Each build runs its install test (what was left out is not installed) and
# the request fuzz replay. Prints TAP.
set -euo pipefail

src=${VTPM_SOURCE_ROOT:?}
work=$(mktemp -d /tmp/vtpm-configs-XXXXXX)
trap 'rm -rf "$work"' EXIT

# shellcheck source=tap.sh
. "$src/tests/install/tap.sh"

pcdir() {  # pcdir NAME PKG...: a pkg-config folder with only these packages
    local dir=$work/pc-$1
    shift
    mkdir -p "$dir"
    for pkg in "$@"; do
        cp "$(pkg-config --variable=pcfiledir "$pkg")/$pkg.pc" "$dir/"
    done
}

configure() {  # configure NAME OPTION...: plain, fast build, warnings are errors
    local name=$1
    shift
    env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$work/pc-$name" \
        meson setup "$work/build-$name" "$src" --buildtype=plain -Dwerror=true "$@"
}

built() {  # built NAME PATH...
    local b=$work/build-$1
    shift
    for f in "$@"; do [ -e "$b/$f" ] || { echo "missing $f"; return 1; }; done
}

absent() {  # absent NAME PATH...
    local b=$work/build-$1
    shift
    for f in "$@"; do [ ! -e "$b/$f" ] || { echo "unexpected $f"; return 1; }; done
}

subset_tests() {  # the tests that show the subset works, without this one
    meson test -C "$work/build-$1" --no-rebuild --print-errorlogs --num-processes 1 \
        install fuzz-replay-request
}

pcdir core jansson cmocka
cp -r "$work/pc-core" "$work/pc-core-enabled"
check "jansson and cmocka: configures" configure core -Dbenches=true
check "jansson and cmocka: builds" ninja -C "$work/build-core"
check "jansson and cmocka: vtpm-filter, its tests and bench_filter are built" \
    built core scheduler/cli/vtpm-filter tests/fuzz/fuzz_replay_request bench/bench_filter
check "jansson and cmocka: no reporter, no inventory" \
    absent core reporter/cli/vtpm-reporter sql/vtpm-inventory/vtpm-inventory \
    scheduler/inventory/libvtpm-inventory.so
check "jansson and cmocka: install and request replay pass" subset_tests core

pcdir pq jansson cmocka libpq libssl libcrypto libcurl yaml-0.1
check "no libvirt, no libxml2: configures" configure pq
check "no libvirt, no libxml2: builds" ninja -C "$work/build-pq"
check "no libvirt, no libxml2: vtpm-inventory and libvtpm-inventory are built" \
    built pq sql/vtpm-inventory/vtpm-inventory scheduler/inventory/libvtpm-inventory.so
check "no libvirt, no libxml2: no reporter" absent pq reporter/cli/vtpm-reporter
check "no libvirt, no libxml2: install and request replay pass" subset_tests pq

refused() {  # refused NAME LIBRARY OPTION...: configure fails and names LIBRARY
    local name=$1 lib=$2 out
    shift 2
    if out=$(configure "$name" "$@" 2>&1); then
        echo "configured"
        return 1
    fi
    printf '%s\n' "$out" | grep -q "Dependency \"$lib\" not found"
}
check "-Dreporter=enabled without libvirt fails to configure, naming it" \
    refused core-enabled libvirt -Dreporter=enabled
echo "1..$n"
exit "$failed"
