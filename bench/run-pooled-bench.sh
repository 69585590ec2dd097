#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Signed publishes per second with one new connection per report: through PgBouncer and straight to PostgreSQL.
#
#   bench/run-pooled-bench.sh [HOSTS] [PUBLISHES]
#
# Builds bench_pooled optimised (build-bench-inventory/ in the source tree),
# starts a private PostgreSQL cluster (VTPM_PG_FAST=1 unless set: no fsync,
# as the other inventory benchmarks), applies the migrations, makes the
# shared login and HOSTS (10000) host keys, starts PgBouncer in transaction
# pooling (tests/fixtures/pgbouncer.sh; the shared login's SCRAM secret in
# its auth_file, as dist/pgbouncer.ini.example says), and publishes
# PUBLISHES (4000) signed reports per phase the way `vtpm-reporter run`
# does: connect (TCP, SCRAM), vtpm.publish_signed(), disconnect. Phases:
# CLIENTS (4) and 1 concurrent publishers, through PgBouncer and straight to
# the server. AUTH=trust: no password at all (PgBouncer's trust, the
# server's Unix socket), to measure the publish path without the publishers'
# SCRAM, which a real fleet pays on its own hosts. Everything is stopped at
# the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
hosts=${1:-10000}
n=${2:-4000}
clients=${CLIENTS:-4}
build=${BUILD:-$root/build-bench-inventory}
work=$(mktemp -d /tmp/vtpm-poolbench-XXXXXX)
chmod 755 "$work"   # the cluster and PgBouncer run as the postgres user

cleanup() {
    "$root/tests/fixtures/pgbouncer.sh" stop "$work/pgbouncer" >/dev/null 2>&1 || true
    "$root/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ ! -d "$build" ]; then
    meson setup "$build" "$root" --buildtype=release -Dbenches=true >/dev/null
else
    meson configure "$build" -Dbenches=true >/dev/null
fi
ninja -C "$build" bench/bench_pooled sql/vtpm-inventory/vtpm-inventory >/dev/null

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs; hosts=$hosts publishes=$n clients=$clients" \
     "AUTH=${AUTH:-scram} VTPM_PG_FAST=${VTPM_PG_FAST:-1} $(/usr/sbin/pgbouncer --version | head -n 1)"
dsn=$(VTPM_PG_FAST=${VTPM_PG_FAST:-1} "$root/scripts/pg-cluster.sh" start "$work/pg")
psql "$dsn" -qXc "CREATE DATABASE inventory" >/dev/null
dsn=${dsn/dbname=postgres/dbname=inventory}
"$build/sql/vtpm-inventory/vtpm-inventory" --dsn "$dsn" --dir "$root/sql/migrations" migrate >/dev/null
password=bench-$RANDOM$RANDOM
psql "$dsn" -qXAtc "SELECT vtpm.pool_login('vtpm_pool', '$password')" >/dev/null
psql "$dsn" -qXAt -F ' ' -c "SELECT h, 'vtpmhk1.' || k.key_id || '.' || k.secret
    FROM generate_series(1, $hosts) i, format('bench-%s', i) h, vtpm.host_key_create(h) k" \
    > "$work/hosts"
chmod 600 "$work/hosts"

mkdir -p "$work/pgbouncer"
psql "$dsn" -qXAtc "SELECT format('\"%s\" \"%s\"', rolname, rolpassword) FROM pg_authid
    WHERE rolname = 'vtpm_pool'" > "$work/pgbouncer/userlist.txt"
case "${AUTH:-scram}" in
    scram) direct="host=127.0.0.1 port=$(cat "$work/pg/port") dbname=inventory user=vtpm_pool password=$password" ;;
    trust) direct="host=$work/pg/run port=$(cat "$work/pg/port") dbname=inventory user=vtpm_pool"
           export PGBOUNCER_AUTH_TYPE=trust ;;
    *) echo "AUTH must be scram or trust" >&2; exit 2 ;;
esac
bouncer=$("$root/tests/fixtures/pgbouncer.sh" start "$work/pgbouncer" "$(cat "$work/pg/port")" "$work/pg/run")
pooled="$bouncer dbname=inventory user=vtpm_pool password=$password"

bench() { "$build/bench/bench_pooled" "$@"; }
# Warm both paths (PgBouncer's server connections, the server's caches).
bench "warm-up" "$pooled" "$work/hosts" "$clients" 400 >/dev/null
bench "warm-up" "$direct" "$work/hosts" "$clients" 400 >/dev/null
bench "signed, PgBouncer, new conn" "$pooled" "$work/hosts" "$clients" "$n"
bench "signed, direct, new conn" "$direct" "$work/hosts" "$clients" "$n"
bench "signed, PgBouncer, new conn" "$pooled" "$work/hosts" 1 "$((n / 4))"
bench "signed, direct, new conn" "$direct" "$work/hosts" 1 "$((n / 4))"
