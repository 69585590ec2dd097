#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fleet benchmark: HOSTS reporters on a timer through PgBouncer, a standby, a cache following.
#
#   bench/run-fleet-bench.sh [HOSTS] [SIMULATED_SECONDS]
#
# Builds bench_fleet, bench_inventory and vtpm-inventory optimised (in
# build-bench-fleet/ of the source tree), starts a PostgreSQL primary with one
# streaming standby (tests/fixtures/pg-standby.sh; durable: fsync on, as in
# production), applies the migrations, makes the shared publishing login,
# starts PgBouncer in transaction pooling in front of the primary
# (tests/fixtures/pgbouncer.sh, the login's SCRAM secret in its auth_file, as
# dist/pgbouncer.ini.example says), and runs bench_fleet:
#
#   HOSTS (100000) hosts, each with its own key, run every PERIOD (60) s after a
#   random delay of up to START_DELAY (30) s; a run whose probe matches the last
#   publish younger than HEARTBEAT (300) s does not connect; a probe finds a
#   changed trait on CHANGE_PER_HOUR (0.01) of the hosts per hour; a publish is
#   a new connection through PgBouncer, one signed vtpm.publish_signed() (and
#   vtpm.flush() after a change), a
#   disconnect, with at most WORKERS (16) at once; a scheduler's cache
#   (libvtpm-inventory, over a multi-host DSN asking for the read-write server)
#   follows. SIMULATED_SECONDS (600) of the fleet, at SCALE (1) simulated
#   seconds per real second.
#
# Then, in the same run, the saturated rates: SATURATE (4000) signed publishes
# per phase, a new connection each, for each number of clients in CLIENTS
# ("4 16"): reports that change nothing (the fleet's heartbeats) and reports
# that change a trait, through PgBouncer, and straight to the primary with the
# first number; and (PLACEMENT=0 skips it) Debian's Placement API doing trait
# PUTs with the same numbers of clients (PLACEMENT_N, 1000, each).
# REPLICATION=sync makes the standby synchronous (default async).
#
# AUTH=trust (the default here) lets the shared login into PgBouncer without a
# password, and the direct phase uses the server's Unix socket (trusted): a SCRAM
# login costs its client about 6 ms of CPU (docs/benchmarks.md, "Pooled
# publishing"), which on a real fleet each compute host pays for itself, but here
# one process plays every host and would measure mostly its own SCRAM. The
# per-host authorization is unchanged: every report is signed with its host's
# key and checked by the database. AUTH=scram measures it with SCRAM.
# Everything is stopped at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
hosts=${1:-100000}
duration=${2:-600}
scale=${SCALE:-1}
workers=${WORKERS:-64}
clients=${CLIENTS:-4 16}
saturate=${SATURATE:-4000}
placement_n=${PLACEMENT_N:-1000}
replication=${REPLICATION:-async}
build=${BUILD:-$root/build-bench-fleet}
work=$(mktemp -d /tmp/vtpm-fleetbench-XXXXXX)
chmod 755 "$work"   # the clusters and PgBouncer run as the postgres user

cleanup() {
    for c in $clients; do
        "$root/tests/fixtures/placement-api.sh" stop "$work/placement-$c" >/dev/null 2>&1 || true
    done
    "$root/tests/fixtures/pgbouncer.sh" stop "$work/pgbouncer" >/dev/null 2>&1 || true
    "$root/tests/fixtures/pg-standby.sh" stop "$work/db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ ! -d "$build" ]; then
    meson setup "$build" "$root" --buildtype=release -Dbenches=true >/dev/null
else
    meson configure "$build" -Dbenches=true >/dev/null
fi
ninja -C "$build" bench/bench_fleet bench/bench_inventory sql/vtpm-inventory/vtpm-inventory >/dev/null

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "hosts=$hosts simulated=${duration}s scale=$scale workers=$workers replication=$replication" \
     "AUTH=${AUTH:-trust};" \
     "$(/usr/sbin/pgbouncer --version | head -n 1); PostgreSQL $(psql --version | awk '{print $3}')"

ports=$("$root/tests/fixtures/pg-standby.sh" start "$work/db" "$replication")
primary_port=$(awk '$1 == "primary" {print $2}' <<<"$ports")
standby_port=$(awk '$1 == "standby" {print $2}' <<<"$ports")
admin="host=$work/db/primary/run port=$primary_port user=postgres dbname=postgres"
psql "$admin" -qXc "CREATE DATABASE inventory" >/dev/null
admin=${admin/dbname=postgres/dbname=inventory}
"$build/sql/vtpm-inventory/vtpm-inventory" --dsn "$admin" --dir "$root/sql/migrations" migrate >/dev/null
password=fleet-$RANDOM$RANDOM$RANDOM
psql "$admin" -qXAtc "SELECT vtpm.pool_login('vtpm_pool', '$password')" >/dev/null
psql "$admin" -qXAtc "CREATE ROLE fleet_reader LOGIN PASSWORD '$password' IN ROLE vtpm_reader" >/dev/null

mkdir -p "$work/pgbouncer"
psql "$admin" -qXAtc "SELECT format('\"%s\" \"%s\"', rolname, rolpassword) FROM pg_authid
    WHERE rolname = 'vtpm_pool'" > "$work/pgbouncer/userlist.txt"
case "${AUTH:-trust}" in
    scram) direct="host=127.0.0.1 port=$primary_port dbname=inventory user=vtpm_pool password=$password" ;;
    trust) direct="host=$work/db/primary/run port=$primary_port dbname=inventory user=vtpm_pool"
           export PGBOUNCER_AUTH_TYPE=trust ;;
    *) echo "AUTH must be scram or trust" >&2; exit 2 ;;
esac
bouncer=$("$root/tests/fixtures/pgbouncer.sh" start "$work/pgbouncer" "$primary_port" "$work/db/primary/run")
# No TLS and no GSSAPI probe on loopback: the generator's own per-connection
# work, which real hosts do each for themselves (with TLS, PgBouncer's share of
# each handshake is the database side's; not measured here).
pooled="$bouncer dbname=inventory user=vtpm_pool password=$password sslmode=disable gssencmode=disable"
cache="host=127.0.0.1,127.0.0.1 port=$primary_port,$standby_port dbname=inventory"
cache="$cache user=fleet_reader password=$password target_session_attrs=read-write"

pids=()
for c in primary standby; do
    pids+=(--pid "$(head -n 1 "$work/db/$c/data/postmaster.pid")")
done

"$build/bench/bench_fleet" --admin-dsn "$admin" --publish-dsn "$pooled" --cache-dsn "$cache" \
    --direct-dsn "$direct" "${pids[@]}" \
    --hosts "$hosts" --duration "$duration" --scale "$scale" --workers "$workers" \
    --heartbeat "${HEARTBEAT:-300}" --period "${PERIOD:-60}" --start-delay "${START_DELAY:-30}" \
    --change-per-hour "${CHANGE_PER_HOUR:-0.01}" \
    --saturate "$saturate" $(printf -- '--saturate-workers %s ' $clients)
echo "standby replay: $(psql "host=$work/db/standby/run port=$standby_port user=postgres dbname=inventory" -XAtc \
    "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) || ' bytes behind its receipt'")"
# Placement gets the machine to itself; a failed stop is reported, not fatal.
"$root/tests/fixtures/pgbouncer.sh" stop "$work/pgbouncer" >/dev/null ||
    echo "run-fleet-bench: PgBouncer did not stop cleanly (exit $?)" >&2
"$root/tests/fixtures/pg-standby.sh" stop "$work/db" >/dev/null ||
    echo "run-fleet-bench: the primary and standby did not stop cleanly (exit $?)" >&2
[ "${PLACEMENT:-1}" != 0 ] || exit 0

# A fresh Placement for each number of clients: each run creates its providers.
for c in $clients; do
    url=$("$root/tests/fixtures/placement-api.sh" start "$work/placement-$c")
    "$build/bench/bench_inventory" --placement "$url" --hosts 2000 --clients "$c" \
        --placement-n "$placement_n" --runs 1
    "$root/tests/fixtures/placement-api.sh" stop "$work/placement-$c" >/dev/null
done
