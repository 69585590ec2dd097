#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmarks the PostgreSQL inventory against Debian's Placement API in one run.
#
#   bench/run-inventory-bench.sh [HOSTS] [BIG] [PLACEMENT_N]
#
# Builds bench_inventory and bench_cache optimised (build-bench-inventory/ in the source tree),
# starts a private PostgreSQL cluster for the inventory and Placement (with its
# own cluster, tests/fixtures/placement-api.sh), both with the same cluster
# settings (VTPM_PG_FAST=1: no fsync, the setting the Placement fixture uses),
# and prints the figures of both. Everything is stopped at the end.
# HOSTS (10000): providers for the publish and candidate phases; BIG (100000):
# providers for the second candidate measurement; PLACEMENT_N (2000): PUTs per
# Placement phase (Placement manages about 40 per second).
#
# Environment: CLIENTS (4) concurrent publishers; PUBLISH_N (2000) publishes
# per inventory phase; VTPM_PG_FAST=0 runs the inventory's cluster durable
# (fsync and synchronous commit on, as in production); SYNC_COMMIT=on|off sets
# synchronous_commit for the publishes through libpq's options in their DSN,
# as an operator would (unset: the cluster's setting); PLACEMENT=0 skips
# Placement (inventory figures only, a few minutes).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
hosts=${1:-10000}
big=${2:-100000}
placement_n=${3:-2000}
clients=${CLIENTS:-4}
publish_n=${PUBLISH_N:-2000}
build=${BUILD:-$root/build-bench-inventory}
work=$(mktemp -d /tmp/vtpm-invbench-XXXXXX)
chmod 755 "$work"   # the clusters run as the postgres user

cleanup() {
    "$root/tests/fixtures/placement-api.sh" stop "$work/placement" >/dev/null 2>&1 || true
    "$root/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ ! -d "$build" ]; then
    meson setup "$build" "$root" --buildtype=release -Dbenches=true >/dev/null
else
    meson configure "$build" -Dbenches=true >/dev/null
fi
ninja -C "$build" bench/bench_inventory bench/bench_cache sql/vtpm-inventory/vtpm-inventory >/dev/null

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs; hosts=$hosts big=$big clients=$clients" \
     "placement_n=$placement_n publish_n=$publish_n VTPM_PG_FAST=${VTPM_PG_FAST:-1}" \
     "SYNC_COMMIT=${SYNC_COMMIT:-cluster}"
dsn=$(VTPM_PG_FAST=${VTPM_PG_FAST:-1} "$root/scripts/pg-cluster.sh" start "$work/pg")
psql "$dsn" -qXc "CREATE DATABASE inventory" >/dev/null
dsn=${dsn/dbname=postgres/dbname=inventory}
"$build/sql/vtpm-inventory/vtpm-inventory" --dsn "$dsn" --dir "$root/sql/migrations" migrate >/dev/null
case "${SYNC_COMMIT:-}" in
    '') ;;
    on|off) dsn="$dsn options='-c synchronous_commit=$SYNC_COMMIT'" ;;
    *) echo "SYNC_COMMIT must be on or off" >&2; exit 2 ;;
esac
"$build/bench/bench_inventory" --dsn "$dsn" --hosts "$hosts" --big "$big" --clients "$clients" \
    --publish-n "$publish_n"
# The scheduler's in-memory copy (libvtpm-inventory) at BIG hosts, next to the
# same question in SQL, in a database of its own.
psql "${dsn%% options=*}" -qXc "CREATE DATABASE cache" >/dev/null
cache_dsn=${dsn/dbname=inventory/dbname=cache}
"$build/sql/vtpm-inventory/vtpm-inventory" --dsn "${cache_dsn%% options=*}" --dir "$root/sql/migrations" migrate >/dev/null
echo "== libvtpm-inventory: $big hosts =="
"$build/bench/bench_cache" --dsn "$cache_dsn" --hosts "$big" --runs 50
"$root/scripts/pg-cluster.sh" stop "$work/pg"
[ "${PLACEMENT:-1}" != 0 ] || exit 0

url=$("$root/tests/fixtures/placement-api.sh" start "$work/placement")
"$build/bench/bench_inventory" --placement "$url" --hosts "$hosts" --clients 2 \
    --placement-n "$placement_n" --runs 5
# Placement at BIG providers: the extra providers and their traits go straight
# into its database (creating them through the API would take ~12 minutes).
pgdsn=$("$root/scripts/pg-cluster.sh" dsn "$work/placement/pg")
psql "${pgdsn/dbname=postgres/dbname=placement}" -qX -v ON_ERROR_STOP=1 <<SQL >/dev/null
INSERT INTO resource_providers (uuid, name, generation, created_at)
SELECT 'b0000000-0000-4000-8000-' || lpad(i::text, 12, '0'), 'bench-host-' || lpad(i::text, 6, '0'), 1, now()
  FROM generate_series($hosts, $big - 1) AS i;
UPDATE resource_providers SET root_provider_id = id WHERE root_provider_id IS NULL;
INSERT INTO resource_provider_traits (trait_id, resource_provider_id, created_at)
SELECT t.id, rp.id, now() FROM resource_providers rp
  JOIN traits t ON t.name = CASE WHEN substring(rp.name FROM 12)::int % 2 = 0
                                 THEN 'COMPUTE_SECURITY_TPM_2_0' ELSE 'COMPUTE_SECURITY_TPM_1_2' END
 WHERE rp.name LIKE 'bench-host-%' AND substring(rp.name FROM 12)::int >= $hosts;
ANALYZE;
SQL
"$build/bench/bench_inventory" --placement "$url" --hosts "$big" --runs 3 --placement-get-only
