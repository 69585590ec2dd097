# SPDX-License-Identifier: Apache-2.0
# Sourced by the bench/run-*.sh scripts: one CPU core for every timed program, and the machine's description.

# Sets pin (a command prefix: taskset on the last core, or nothing) and cpu.
bench_pin_last_core() {
    pin=()
    if command -v taskset >/dev/null 2>&1; then
        cpu=$(( $(nproc) - 1 ))
        pin=(taskset -c "$cpu")
    else
        cpu="(not pinned: taskset missing)"
    fi
}

# Prints the "== machine" block: CPU model, cores, the pinned core, Nova's and Python's versions.
bench_print_machine() {
    echo "== machine"
    echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores; benchmark on core $cpu"
    echo "kernel: $(uname -srm)"
    echo "nova: $(/usr/bin/python3 -c 'import nova.version as v; print(v.version_string())' 2>/dev/null || echo unknown), $(/usr/bin/python3 --version)"
}
