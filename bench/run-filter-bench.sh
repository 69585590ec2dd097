#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the filter benchmark (release, -O2), runs it and Nova's reference on one core, prints the ratios.
set -euo pipefail

usage() {
    cat <<EOF
Usage: $0 [--builddir DIR] [--seconds S] [--lines N] [--hosts H] [--jsonl-only]

Builds bench/bench_filter optimised (meson buildtype release, -O2) in DIR
(default: build-bench-filter in the source tree), then on one CPU core:
  1. bench_filter: libvtpm-filter decisions (vtpm_filter_required_traits, and
     vtpm_filter_translate with its accessors) and host checks per second;
     it also writes its request mix with its verdicts;
  2. nova_vtpm_reference.py (with /usr/bin/python3 and Debian's python3-nova):
     checks that Nova's get_vtpm_constraint gives the same verdict for every
     request in the mix, then times it;
and prints the ratios against the targets (>= 1000x Nova for translation,
measured with the one call a scheduler makes per request,
vtpm_filter_required_traits; >= 100 million host checks per second);
  3. bench/jsonl_reference.py: N generated requests (default 200000)
     through the whole 'vtpm-filter check --jsonl' process and through
     Nova's own code (json.loads, Flavor and ImageMeta, get_vtpm_constraint,
     json.dumps; Python's start-up left out), wall and CPU time and the
     ratio (target >= 8x); and 'vtpm-filter host --hosts' over H hosts
     (default 100000).

Exit status: 0 when both ran and every verdict agrees (targets met or not,
as printed), 1 when a verdict differs or a step fails, 2 on usage errors.

  --builddir DIR  build directory (created when missing)
  --seconds S     time per phase (default 1.5)
  --lines N       requests for step 3 (default 200000)
  --hosts H       hosts for step 3 (default 100000)
  --jsonl-only    run step 3 only
EOF
}

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=$src/build-bench-filter
seconds=1.5
jsonl_args=()
jsonl_only=false
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) [ $# -ge 2 ] || { usage >&2; exit 2; }; builddir=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] || { usage >&2; exit 2; }; seconds=$2; shift 2 ;;
    --lines|--hosts) [ $# -ge 2 ] || { usage >&2; exit 2; }; jsonl_args+=("$1" "$2"); shift 2 ;;
    --jsonl-only) jsonl_only=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import nova' 2>/dev/null; then
    echo "run-filter-bench: /usr/bin/python3 cannot import nova; install Debian's python3-nova (scripts/setup.sh)" >&2
    exit 1
fi

echo "== build ($builddir: release, -O2)"
if [ -f "$builddir/build.ninja" ]; then
    meson configure "$builddir" -Dbuildtype=release -Doptimization=2 -Dbenches=true >/dev/null
else
    meson setup "$builddir" "$src" --buildtype=release -Doptimization=2 -Dbenches=true >/dev/null
fi
ninja -C "$builddir" bench/bench_filter scheduler/cli/vtpm-filter >/dev/null

# One core, the same one for both programs.
. "$src/bench/pin.sh"
bench_pin_last_core
bench_print_machine
echo "compiler: $(cc --version | head -n 1)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

jsonl_bench() {
    echo "== vtpm-filter check --jsonl against Nova, same input"
    "${pin[@]}" /usr/bin/python3 "$src/bench/jsonl_reference.py" \
        --filter "$builddir/scheduler/cli/vtpm-filter" "${jsonl_args[@]}"
}
if $jsonl_only; then
    jsonl_bench
    exit 0
fi

echo "== libvtpm-filter"
"${pin[@]}" "$builddir/bench/bench_filter" --seconds "$seconds" \
    --mix-out "$tmp/mix.jsonl" | tee "$tmp/c.out"

echo "== Nova get_vtpm_constraint, same mix"
if ! "${pin[@]}" /usr/bin/python3 "$src/bench/nova_vtpm_reference.py" \
        --seconds "$seconds" "$tmp/mix.jsonl" | tee "$tmp/nova.out"; then
    echo "run-filter-bench: FAILED: Nova and libvtpm-filter disagree (see above)" >&2
    exit 1
fi

figure() {
    local v
    v=$(sed -n "s/^$1=//p" "$2")
    if [ -z "$v" ]; then
        echo "run-filter-bench: figure '$1' missing from the output" >&2
        exit 1
    fi
    echo "$v"
}

# Each figure per elapsed second (CLOCK_MONOTONIC: what the targets are
# about) and per second of the thread's CPU time (name_cpu: steadier when
# other work shares the machine).
ratios() {
    local sfx=$1 label=$2
    awk -v label="$label" \
        -v rc="$(figure c_required_traits_current_per_s$sfx "$tmp/c.out")" \
        -v rl="$(figure c_required_traits_legacy_per_s$sfx "$tmp/c.out")" \
        -v frc="$(figure c_fill_required_traits_current_per_s$sfx "$tmp/c.out")" \
        -v frl="$(figure c_fill_required_traits_legacy_per_s$sfx "$tmp/c.out")" \
        -v tc="$(figure c_translate_current_per_s$sfx "$tmp/c.out")" \
        -v tl="$(figure c_translate_legacy_per_s$sfx "$tmp/c.out")" \
        -v fc="$(figure c_fill_translate_current_per_s$sfx "$tmp/c.out")" \
        -v fl="$(figure c_fill_translate_legacy_per_s$sfx "$tmp/c.out")" \
        -v nt="$(figure nova_translate_per_s$sfx "$tmp/nova.out")" \
        -v nb="$(figure nova_build_translate_per_s$sfx "$tmp/nova.out")" \
        -v hb="$(figure c_hosts_filter_per_s$sfx "$tmp/c.out")" \
        -v hi="$(figure c_host_inline_per_s$sfx "$tmp/c.out")" \
        -v sfx="$sfx" '
function verdict(ok) { return ok ? "met" : "MISSED" }
function min(a, b) { return a < b ? a : b }
BEGIN {
    r_rc = rc / nt; r_rl = rl / nt; r_frc = frc / nb; r_frl = frl / nb
    r_tc = tc / nt; r_tl = tl / nt; r_fc = fc / nb; r_fl = fl / nb
    printf "%s\n", label
    printf "  decide prepared request (vtpm_filter_required_traits) / get_vtpm_constraint: current %6.0fx  legacy %6.0fx  (target >= 1000x: %s)\n", r_rc, r_rl, verdict(min(r_rc, r_rl) >= 1000)
    printf "  reset+set+required_traits / build Flavor+ImageMeta + get_vtpm_constraint:    current %6.0fx  legacy %6.0fx\n", r_frc, r_frl
    printf "  for comparison, with vtpm_filter_translate + vtpm_result_accepted + vtpm_result_required_traits:\n"
    printf "    translate prepared request / get_vtpm_constraint:                         current %6.0fx  legacy %6.0fx\n", r_tc, r_tl
    printf "    reset+set+translate / build Flavor+ImageMeta + get_vtpm_constraint:       current %6.0fx  legacy %6.0fx\n", r_fc, r_fl
    printf "  host checks per second, one core: batch %.0f, inline %.0f  (target >= 100000000: %s)\n", hb, hi, verdict(min(hb, hi) >= 1e8)
    printf "ratio_required_traits_current%s=%.0f\nratio_required_traits_legacy%s=%.0f\n", sfx, r_rc, sfx, r_rl
    printf "ratio_fill_required_traits_current%s=%.0f\nratio_fill_required_traits_legacy%s=%.0f\n", sfx, r_frc, sfx, r_frl
    printf "ratio_translate_current%s=%.0f\nratio_translate_legacy%s=%.0f\n", sfx, r_tc, sfx, r_tl
    printf "ratio_fill_translate_current%s=%.0f\nratio_fill_translate_legacy%s=%.0f\n", sfx, r_fc, sfx, r_fl
}'
}

echo "== ratios"
ratios "" "per elapsed second (CLOCK_MONOTONIC):"
ratios _cpu "per CPU second of the benchmarking thread:"
jsonl_bench
