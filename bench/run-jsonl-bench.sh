#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds vtpm-filter optimised and times `check --jsonl` against Nova's pipeline on one input, in one run.
set -euo pipefail

usage() {
    cat <<EOF2
Usage: $0 [--builddir DIR] [--lines N] [--hosts H]

Builds vtpm-filter optimised (meson buildtype release, -O2) in DIR (default:
build-bench-filter in the source tree), then on one CPU core runs
bench/jsonl_reference.py with /usr/bin/python3 (Debian's python3-nova): N
generated requests (default 200000) through 'vtpm-filter check --jsonl'
(the whole process) and through Nova's own code (json.loads, Flavor and
ImageMeta, get_vtpm_constraint, json.dumps; Python's start-up left out),
and 'vtpm-filter host --hosts' over H hosts (default 100000). Prints wall
and CPU time of each and the ratio.

Exit status: 0 when both ran and every verdict agrees, 1 otherwise, 2 on
usage errors.
EOF2
}

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=$src/build-bench-filter
args=()
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) [ $# -ge 2 ] || { usage >&2; exit 2; }; builddir=$2; shift 2 ;;
    --lines|--hosts) [ $# -ge 2 ] || { usage >&2; exit 2; }; args+=("$1" "$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import nova' 2>/dev/null; then
    echo "run-jsonl-bench: /usr/bin/python3 cannot import nova; install Debian's python3-nova (scripts/setup.sh)" >&2
    exit 1
fi

echo "== build ($builddir: release, -O2)"
if [ -f "$builddir/build.ninja" ]; then
    meson configure "$builddir" -Dbuildtype=release -Doptimization=2 >/dev/null
else
    meson setup "$builddir" "$src" --buildtype=release -Doptimization=2 >/dev/null
fi
ninja -C "$builddir" scheduler/cli/vtpm-filter >/dev/null

# One core, the same one for both programs.
pin=()
if command -v taskset >/dev/null 2>&1; then
    pin=(taskset -c "$(( $(nproc) - 1 ))")
fi
echo "== machine"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nova: $(/usr/bin/python3 -c 'import nova.version as v; print(v.version_string())' 2>/dev/null || echo unknown), $(/usr/bin/python3 --version)"
echo "== vtpm-filter check --jsonl against Nova, same input"
"${pin[@]}" /usr/bin/python3 "$src/bench/jsonl_reference.py" \
    --filter "$builddir/scheduler/cli/vtpm-filter" "${args[@]}"
