#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer harness for a number of executions and prints a table.
#
#   scripts/fuzz.sh [-b BUILDDIR] [-o SCRATCH] [-r RUNS] [-t SECONDS] [HARNESS...]
#
# HARNESS: request guard hosts conf domcaps swtpm_caps publish (default: all).
# Each runs RUNS executions (default 1000000) on one core, nice'd, starting
# from its corpus in tests/fuzz/corpus/NAME (copied, never written). What it
# finds is merged into SCRATCH/NAME/new (only inputs with new coverage); crash,
# leak and timeout inputs land in SCRATCH/NAME/artifacts. publish goes through
# PostgreSQL (a few hundred executions a second at best), so it also stops
# after SECONDS (default 600); it runs on a private cluster started here.
#
# The build (default /tmp/b-fuzz) is made when missing:
#   CC=clang meson setup BUILDDIR -Dfuzzers=true -Db_sanitize=address,undefined -Db_lundef=false
# Exit status: 0 when no harness found anything, 1 otherwise, 2 on usage errors.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=/tmp/b-fuzz
scratch=/tmp/b-fuzz-scratch
runs=1000000
seconds=600
all=(request guard hosts conf domcaps swtpm_caps publish)

die() { echo "fuzz: $*" >&2; exit 2; }

while getopts b:o:r:t:h opt; do
    case $opt in
    b) build=$OPTARG ;;
    o) scratch=$OPTARG ;;
    r) runs=$OPTARG ;;
    t) seconds=$OPTARG ;;
    *) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")

# The longest input worth trying: a little over the largest real document.
max_len() {
    case $1 in
    hosts) echo 1024 ;;
    request | guard | swtpm_caps | publish) echo 4096 ;;
    conf) echo 8192 ;;
    domcaps) echo 16384 ;;
    *) die "unknown harness '$1' (expected: ${all[*]})" ;;
    esac
}
for h in "${harnesses[@]}"; do max_len "$h" >/dev/null; done

if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" "$src" -Dfuzzers=true -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null
fi
nice -n 10 ninja -C "$build" >/dev/null

pg_dir=
stop_pg() { [ -z "$pg_dir" ] || "$src/scripts/pg-cluster.sh" stop "$pg_dir" >/dev/null; }
trap stop_pg EXIT

# A cluster with the inventory's migrations, for the publish harness.
start_pg() {
    local dsn
    pg_dir=$scratch/pg
    rm -rf "$pg_dir"
    mkdir -p "$pg_dir"
    dsn=$(VTPM_PG_FAST=1 "$src/scripts/pg-cluster.sh" start "$pg_dir")
    psql -q -d "$dsn" -c 'CREATE DATABASE fuzz' >/dev/null
    dsn=${dsn/dbname=postgres/dbname=fuzz}
    "$build/sql/vtpm-inventory/vtpm-inventory" migrate --dsn "$dsn" \
        --dir "$src/sql/migrations" >/dev/null
    export VTPM_FUZZ_DSN=$dsn
}

# Runs harness $1; appends its row to $table.
fuzz_one() {
    local name=$1 dir=$scratch/$1 exe=$build/tests/fuzz/fuzz_$1 seeds=$src/tests/fuzz/corpus/$1
    local extra=() log stat_runs stat_rate new crashes

    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/new" "$dir/artifacts"
    cp "$seeds"/* "$dir/corpus/"
    if [ "$name" = publish ]; then
        [ -n "$pg_dir" ] || start_pg
        extra=(-max_total_time="$seconds")
    fi
    echo "fuzz: $name: $runs executions..." >&2
    # -jobs=1 runs the fuzzer in one worker process whose log is fuzz-0.log.
    (cd "$dir" && nice -n 10 "$exe" -jobs=1 -workers=1 -runs="$runs" -max_len="$(max_len "$name")" \
        -timeout=25 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "${extra[@]}" \
        corpus >/dev/null 2>&1) || true
    log=$dir/fuzz-0.log
    stat_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    stat_rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    # Only what adds coverage to the committed corpus is worth keeping.
    cp "$seeds"/* "$dir/new/"
    (cd "$dir" && "$exe" -merge=1 -max_len="$(max_len "$name")" new corpus >merge.log 2>&1) || true
    for f in "$seeds"/*; do rm -f "$dir/new/$(basename "$f")"; done
    new=$(find "$dir/new" -type f | wc -l)
    crashes=$(find "$dir/artifacts" -type f | wc -l)
    printf '%-11s %12s %8s %8s %8s\n' "$name" "${stat_runs:-?}" "${stat_rate:-?}" "$new" \
        "$crashes" >>"$table"
    [ "$crashes" -eq 0 ] && [ -n "$stat_runs" ]
}

mkdir -p "$scratch"
table=$scratch/table.txt
printf '%-11s %12s %8s %8s %8s\n' harness executions exec/s new crashes >"$table"
status=0
for h in "${harnesses[@]}"; do
    fuzz_one "$h" || status=1
done
cat "$table"
echo "fuzz: new inputs in $scratch/NAME/new, findings in $scratch/NAME/artifacts" >&2
exit $status
