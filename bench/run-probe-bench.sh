#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds vtpm-reporter optimised, starts libvirtd, times `probe` warm, cold and --deep against Nova's checks.
set -euo pipefail

usage() {
    cat <<USAGE
Usage: $0 [--builddir DIR] [--runs N] [--deep-runs N]

Builds vtpm-reporter and bench/bench_probe optimised (meson buildtype
release) in DIR (default: build-bench in the source tree), makes sure
libvirtd answers (tests/fixtures/libvirtd.sh: started if needed, stopped
afterwards if it started it), writes a reporter config into a temporary
folder (virt_type kvm when /dev/kvm exists, else qemu; a private capability
cache) and runs bench_probe, which prints the median wall and CPU time of:
  1. \`vtpm-reporter probe\` with libvirtd warm and the capability cache warm
     (target: under 50 ms);
  2. the same with the capability cache removed before each run;
  3. \`vtpm-reporter probe --deep\`;
  4. with /usr/bin/python3 and Debian's python3-nova: Nova's vTPM start-up
     checks (bench/nova_probe_reference.py), as a process and per call.

  --builddir DIR  build directory (created when missing)
  --runs N        runs per figure (default 21)
  --deep-runs N   runs with --deep (default 5)
USAGE
}

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=$src/build-bench
runs=21
deep_runs=5
while [ $# -gt 0 ]; do
    case $1 in
    --builddir) [ $# -ge 2 ] || { usage >&2; exit 2; }; builddir=$2; shift 2 ;;
    --runs) [ $# -ge 2 ] || { usage >&2; exit 2; }; runs=$2; shift 2 ;;
    --deep-runs) [ $# -ge 2 ] || { usage >&2; exit 2; }; deep_runs=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

if [ -d "$builddir" ]; then
    meson configure "$builddir" -Dbuildtype=release -Dbenches=true >/dev/null
else
    meson setup --buildtype=release -Dbenches=true "$builddir" "$src" >/dev/null
fi
ninja -C "$builddir" reporter/cli/vtpm-reporter bench/bench_probe >/dev/null

work=$(mktemp -d /tmp/vtpm-bench-probe-XXXXXX)
chmod 755 "$work"
cleanup() {
    "$src/tests/fixtures/libvirtd.sh" stop "$work/libvirtd.state" || true
    rm -rf "$work"
}
trap cleanup EXIT
"$src/tests/fixtures/libvirtd.sh" start "$work/libvirtd.state" >/dev/null

virt_type=qemu
[ -c /dev/kvm ] && virt_type=kvm
cat > "$work/reporter.yaml" <<CONF
uri: qemu:///system
virt_type: $virt_type
swtpm_enabled: true
cache_dir: $work/cache
key_manager:
  backend: barbican
  url: http://127.0.0.1:9311
  check: false
CONF

nova=()
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import nova' 2>/dev/null; then
    nova=(--nova-script "$src/bench/nova_probe_reference.py")
else
    echo "run-probe-bench: Debian's python3-nova is missing (scripts/setup.sh): figures without Nova" >&2
fi

echo "# $(uname -n), $(nproc) cores, libvirt $(virsh -c qemu:///system version 2>/dev/null \
    | sed -n 's/^Using library: libvirt //p'), virt_type $virt_type, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$builddir/bench/bench_probe" --reporter "$builddir/reporter/cli/vtpm-reporter" \
    --config "$work/reporter.yaml" --cache-file "$work/cache/swtpm-capabilities.json" \
    --runs "$runs" --deep-runs "$deep_runs" "${nova[@]}"
