#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libraries optimised, publishes H hosts to a private inventory, times VTPMFilter next to Nova's filters.
set -euo pipefail

usage() {
    cat <<EOF2
Usage: $0 [--builddir DIR] [--hosts N,M] [--seconds S]

Builds libvtpm-filter, libvtpm-inventory and vtpm-inventory optimised (meson
buildtype release, -O2) in DIR (default: build-bench-nova in the source
tree), starts a private PostgreSQL cluster (scripts/pg-cluster.sh), migrates
it, publishes the largest host count through vtpm.publish(), then on one CPU
core runs bench/nova_filter_bench.py with /usr/bin/python3 and Debian's
python3-nova: VTPMFilter.filter_all, ComputeFilter and ImagePropertiesFilter
on the same HostStates and request, in the same process, per host count
(default 1000,10000), S seconds each (default 1.0). Target: VTPMFilter at
most 200 ns per host.

Exit status: 0 when it ran (target met or not, as printed), 1 when a step
fails or VTPMFilter passes other hosts than the inventory says, 2 on usage
errors.
EOF2
}

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=$src/build-bench-nova
hosts=1000,10000
seconds=1.0
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) [ $# -ge 2 ] || { usage >&2; exit 2; }; builddir=$2; shift 2 ;;
    --hosts) [ $# -ge 2 ] || { usage >&2; exit 2; }; hosts=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] || { usage >&2; exit 2; }; seconds=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
[[ $hosts =~ ^[0-9]+(,[0-9]+)*$ ]] || { usage >&2; exit 2; }

if ! /usr/bin/python3 -c 'import nova' 2>/dev/null; then
    echo "run-nova-filter-bench: /usr/bin/python3 cannot import nova; install Debian's python3-nova (scripts/setup.sh)" >&2
    exit 1
fi

echo "== build ($builddir: release, -O2)"
if [ -f "$builddir/build.ninja" ]; then
    meson configure "$builddir" -Dbuildtype=release -Doptimization=2 >/dev/null
else
    meson setup "$builddir" "$src" --buildtype=release -Doptimization=2 >/dev/null
fi
ninja -C "$builddir" scheduler/filter/libvtpm-filter.so.0.1.0 \
    scheduler/inventory/libvtpm-inventory.so.0.1.0 sql/vtpm-inventory/vtpm-inventory >/dev/null

. "$src/bench/pin.sh"
bench_pin_last_core
bench_print_machine
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

work=$(mktemp -d /tmp/vtpm-novabench-XXXXXX)
chmod 755 "$work"
cleanup() {
    "$src/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== inventory"
admin=$(VTPM_PG_FAST=1 "$src/scripts/pg-cluster.sh" start "$work/pg")
psql -X -q -v ON_ERROR_STOP=1 -d "$admin" -c 'CREATE DATABASE vtpm'
dsn=${admin/dbname=postgres/dbname=vtpm}
"$builddir/sql/vtpm-inventory/vtpm-inventory" --dsn "$dsn" --dir "$src/sql/migrations" migrate >/dev/null
max=$(tr ',' '\n' <<<"$hosts" | sort -n | tail -n 1)
# Host i: uuid5(NAMESPACE_DNS, 'bench-i') (computed by Python, the same as
# the benchmark's), traits of nova_filter_bench.pattern(i).
/usr/bin/python3 - "$max" <<'PY' >"$work/hosts.tsv"
import sys, uuid
for i in range(int(sys.argv[1])):
    print('bench-%d\t%s\t%d' % (i, uuid.uuid5(uuid.NAMESPACE_DNS, 'bench-%d' % i),
                               (0, 1, 2, 3)[i % 4] | (12 if i % 4 else 0)))
PY
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d "$dsn" <<SQL
CREATE TEMP TABLE h (name text, id uuid, bits int);
\copy h FROM '$work/hosts.tsv'
SELECT count(*) FROM h, LATERAL vtpm.publish(h.name, h.id, false, NULL,
  (SELECT jsonb_object_agg(t.name, jsonb_build_object('present', (h.bits >> t.bit) & 1 = 1,
     'code', 'ok', 'reason', 'bench')) FROM vtpm.traits t WHERE t.bit IS NOT NULL), NULL) p;
SQL
echo "published $max hosts"

echo "== VTPMFilter and Nova's filters, same hosts, same request, one process"
"${pin[@]}" env PYTHONPATH="$src/scheduler/nova" /usr/bin/python3 "$src/bench/nova_filter_bench.py" \
    --filter-lib "$builddir/scheduler/filter/libvtpm-filter.so.0" \
    --inventory-lib "$builddir/scheduler/inventory/libvtpm-inventory.so.0" \
    --dsn "$dsn" --hosts "$hosts" --seconds "$seconds" | tee "$work/out"
awk '/^nova_filter_bench .*filter=VTPMFilter/ {
        split($2, h, "="); split($5, c, "="); split($4, w, "=")
        printf "target <= 200 ns/host at %s hosts: %s (CPU %.0f ns, wall %.0f ns)\n", h[2],
               (c[2] <= 200 ? "met" : "MISSED"), c[2], w[2] }' "$work/out"
