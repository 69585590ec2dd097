# SPDX-License-Identifier: Apache-2.0
# Free TCP ports on 127.0.0.1, for the scripts and test fixtures that start services.
# Source it: . scripts/lib/ports.sh

# True when nobody listens on port $1 (bash's /dev/tcp connect fails on a free port).
vtpm_port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints the first of ${1:-1} consecutive free ports, picked at random from
# 10000 up to the kernel's ephemeral range (32767 by default) so that parallel
# test programs rarely collide; fails after 50 tries. Not in the ephemeral
# range: after many short connections (a benchmark's), a port there may still
# be held by a closed connection in TIME_WAIT, which a server that binds
# without SO_REUSEADDR (uwsgi's HTTP router) cannot take, though nothing
# listens on it.
vtpm_free_ports() {
    local count=${1:-1} p i ok low=32768 span
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
    span=$((low - 10000 - count))
    [ "$span" -ge 1000 ] || span=1000
    for _ in $(seq 1 50); do
        p=$((10000 + RANDOM % span))
        ok=1
        for ((i = 0; i < count; i++)); do
            if ! vtpm_port_is_free $((p + i)); then
                ok=0
                break
            fi
        done
        if [ "$ok" = 1 ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
