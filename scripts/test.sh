#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install what the tests need, build under ASan+UBSan with -Werror, run every test.
# The tests start (and stop) their own PostgreSQL, libvirtd, swtpm, Placement and
# Barbican on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

builddir=${VTPM_BUILDDIR:-build-test}

if [ "$(id -u)" -eq 0 ]; then
    scripts/setup.sh
else
    sudo scripts/setup.sh
fi

# The benchmarks are built too (not run), so they keep compiling.
if [ ! -d "$builddir" ]; then
    meson setup "$builddir" --buildtype=debug -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false -Dbenches=true
else
    meson configure "$builddir" -Dbenches=true
fi
ninja -C "$builddir"
# Here a test that cannot start its daemons (no root, no libvirtd...) fails
# instead of skipping: tests/common/require.h.
export VTPM_TEST_REQUIRE_ALL=1
meson test -C "$builddir" --setup=sanitize --print-errorlogs --num-processes 2 "$@"
