#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Trait updates/s through the C Placement publisher next to a Python http.client reference, one run.
#
#   bench/run-placement-bench.sh [N]
#
# Builds bench_placement optimised (build-bench-placement/ in the source tree),
# starts Debian's placement-api (tests/fixtures/placement-api.sh: uwsgi router
# with 2 workers, its own PostgreSQL), creates N providers (default 1000), then
# alternates C and Python over the same providers: each update is a GET of the
# provider's traits and a PUT with its generation; then a no-op round (GET only).
# Everything is stopped at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${1:-1000}
build=${BUILD:-$root/build-bench-placement}
work=$(mktemp -d /tmp/vtpm-plbench-XXXXXX)
chmod 755 "$work"   # PostgreSQL runs as the postgres user

cleanup() {
    "$root/tests/fixtures/placement-api.sh" stop "$work" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ ! -d "$build" ]; then
    meson setup "$build" "$root" --buildtype=release -Dbenches=true >/dev/null
else
    meson configure "$build" -Dbenches=true >/dev/null
fi
ninja -C "$build" bench/bench_placement >/dev/null

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs; n=$n; placement-api $(dpkg-query -W -f='${Version}' placement-api), uwsgi router, 2 workers"
url=$("$root/tests/fixtures/placement-api.sh" start "$work")
c=$build/bench/bench_placement
py=(/usr/bin/python3 "$here/placement_reference.py")
"$c" --url "$url" --n "$n" --create
# Warm-up: every provider gets its first trait (not reported).
"$c" --url "$url" --n "$n" --round 1 >/dev/null
round=2
for clients in 1 2; do
    "$c" --url "$url" --n "$n" --clients "$clients" --round "$round"
    round=$((round + 1))
    "${py[@]}" --url "$url" --n "$n" --clients "$clients" --round "$round"
    round=$((round + 1))
done
round=$((round - 1))
"$c" --url "$url" --n "$n" --clients 1 --round "$round" --noop
"${py[@]}" --url "$url" --n "$n" --clients 1 --round "$round" --noop
