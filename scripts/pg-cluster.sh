#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A private PostgreSQL 15 cluster in one folder, on 127.0.0.1 only: start, stop, status.
#
#   scripts/pg-cluster.sh start DIR [PORT]   init (once) and start; prints a libpq DSN
#   scripts/pg-cluster.sh stop DIR           fast shutdown (no error if not running)
#   scripts/pg-cluster.sh status DIR         prints "running DSN" or "stopped"; exit 0/3
#   scripts/pg-cluster.sh dsn DIR            prints the DSN of a started cluster
#
# DIR holds everything: data/ (the cluster), run/ (its Unix socket), postgres.log,
# port. Invoked as root, the cluster runs as the "postgres" OS user and DIR is
# handed to that user. Without PORT a free port is chosen. The superuser is
# "postgres", trusted on the socket (the socket lives in DIR, which only the
# cluster's user and root can enter); TCP on 127.0.0.1 asks for a password
# (scram-sha-256).
#
# Environment: PGBIN (default /usr/lib/postgresql/15/bin); VTPM_PG_FAST=1 turns
# off fsync and synchronous commit (tests only: a crash loses the cluster).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

die() { echo "pg-cluster: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 start DIR [PORT] | stop DIR | status DIR | dsn DIR" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
port_arg=${3:-}

[ -x "$PGBIN/pg_ctl" ] ||
    die "no PostgreSQL 15 in '$PGBIN': run scripts/setup.sh (Debian package postgresql-15)"

if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 ||
        die "no 'postgres' OS user: install PostgreSQL with scripts/setup.sh"
    as_owner() { runuser -u postgres -- "$@"; }
    owner=postgres
else
    as_owner() { "$@"; }
    owner=$(id -un)
fi

data=$dir/data
sock=$dir/run

dsn_of() {
    echo "host=$sock port=$1 user=postgres dbname=postgres"
}

is_running() {
    [ -s "$data/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

. "$(dirname "$0")/lib/ports.sh"

pick_port() {
    vtpm_free_ports 1 || die "no free TCP port found on 127.0.0.1"
}

init_cluster() {
    mkdir -p "$dir"
    # Unix sockets are limited to 107 bytes of path.
    [ ${#sock} -lt 90 ] || die "folder path too long for a Unix socket: '$dir'"
    if [ "$owner" = postgres ]; then
        chown postgres: "$dir"
        # postgres must be able to reach DIR through its parents.
        local p
        p=$(cd "$dir" && pwd)
        while [ "$p" != / ]; do
            p=$(dirname "$p")
            if ! runuser -u postgres -- test -x "$p"; then
                die "the postgres user cannot enter '$p': choose another DIR"
            fi
        done
    fi
    as_owner mkdir -p "$sock"
    if [ ! -s "$data/PG_VERSION" ]; then
        as_owner "$PGBIN/initdb" -D "$data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
            >"$dir/initdb.log" 2>&1 ||
            die "initdb failed, see '$dir/initdb.log'"
    fi
}

start_cluster() {
    local port=$port_arg opts tries
    init_cluster
    if is_running; then
        port=$(cat "$dir/port")
        dsn_of "$port"
        return 0
    fi
    opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$sock"
    opts="$opts -c max_connections=200 -c shared_buffers=128MB"
    if [ "${VTPM_PG_FAST:-0}" = 1 ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    tries=1
    [ -n "$port_arg" ] || tries=5
    for _ in $(seq 1 "$tries"); do
        [ -n "$port_arg" ] || port=$(pick_port)
        if as_owner "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
            -o "$opts -c port=$port" start >/dev/null 2>&1; then
            echo "$port" | as_owner tee "$dir/port" >/dev/null
            dsn_of "$port"
            return 0
        fi
    done
    die "cannot start PostgreSQL in '$dir' (port ${port:-?}), see '$dir/postgres.log'"
}

stop_cluster() {
    if is_running; then
        as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
            die "cannot stop PostgreSQL in '$dir'"
    fi
}

case "$cmd" in
    start) start_cluster ;;
    stop) stop_cluster ;;
    status)
        if is_running; then
            echo "running $(dsn_of "$(cat "$dir/port")")"
        else
            echo stopped
            exit 3
        fi
        ;;
    dsn)
        [ -s "$dir/port" ] || die "no cluster started in '$dir'"
        dsn_of "$(cat "$dir/port")"
        ;;
    *) usage ;;
esac
