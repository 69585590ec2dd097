#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The rules the layout keeps, checked on the includes and on the built library:
# the reporter's core knows no adapter and no libvirt, libpq or libcurl; the run
# loop reaches publishers only through publish.h; libvtpm-filter links no libpq.
set -uo pipefail
root=${1:?usage: layout.sh SOURCE_ROOT LIBVTPM_FILTER_SO}
filter_so=${2:?usage: layout.sh SOURCE_ROOT LIBVTPM_FILTER_SO}
filter_so=$(realpath "$filter_so")
cd "$root" || exit 1

echo "1..3"
n=0
check() {
    n=$((n + 1))
    if [ -n "$2" ]; then
        printf '%s\n' "$2" | sed 's/^/# /'
        echo "not ok $n - $1"
        failed=1
    else
        echo "ok $n - $1"
    fi
}
failed=0

adapters='libvirt/|libpq-fe\.h|curl/|"(http|publish_pg|placement|placement-priv|keystone|pg|probe[a-z_-]*|virt|command)\.h"'
check "reporter/core includes no adapter and no libvirt, libpq or libcurl header" \
    "$(grep -nE "^#include .*($adapters)" reporter/core/*.[ch])"
check "the run loop and the fan-out reach publishers only through publish.h" \
    "$(grep -nE '^#include .*"(publish_pg|placement|keystone|http|pg)\.h"|libpq-fe\.h|curl/' \
        reporter/publish/run.[ch] reporter/publish/publisher.c reporter/publish/publish.h)"
check "libvtpm-filter links no libpq" \
    "$(readelf -d "$filter_so" 2>&1 | grep -E 'NEEDED.*libpq|No such file')"
exit "$failed"
